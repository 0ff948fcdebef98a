//! The live feed allocates nothing per frame once warm: `minerva run`'s pipeline
//! (compact) reading `minerva exchange`'s WebSocket streams through the live source,
//! trading on the simulated exchange, under an allocator that counts allocations on the
//! pipeline's thread after 2,000 frames. (The exchange's own threads are not counted:
//! they stand for Binance.) One test in this file: the count is process-wide.

mod common;

use common::Marking;
use minerva::pipeline::{RunConfig, run};

#[global_allocator]
static A: common::Counting = common::Counting;

#[test]
fn no_allocation_per_frame_on_the_live_feed() {
    let (_, spec) = common::spot_session();
    let venue = common::spot_venue(None, Default::default(), None);
    let inner = common::btc_live(&venue, 5000, Some(0), 3);
    let cfg = RunConfig {
        snapshot_request: Some(inner.snapshot_request()),
        ..RunConfig::default()
    };
    let r = run(
        Marking::new(inner),
        &spec,
        &common::loose_strategy(),
        common::test_signer(),
        &cfg,
    )
    .unwrap();
    let allocs = common::marked_allocations();
    eprintln!(
        "{} frames, {} entries, {} fills, {allocs} allocations after the warm-up",
        r.frames, r.trader.entries, r.exchange.fills
    );
    assert!(r.frames > 20_000);
    assert!(r.exchange.fills > 5, "trading happened");
    assert_eq!((r.book.gaps, r.book.resyncs), (0, 0));
    assert_eq!(allocs, 0);
    venue.stop();
}
