//! The live gateway allocates nothing on the pipeline's thread once warm: `minerva
//! run`'s pipeline (compact) reading `minerva exchange`'s streams and trading on it
//! through the live link (signed requests into the link's ring, reports out of it),
//! under an allocator that counts allocations on the pipeline's thread after 2,000
//! frames. The link's I/O threads (REST, user data stream) and the exchange's are not
//! counted: they do the socket work the hot thread hands off. One test in this file:
//! the count is process-wide.

mod common;

use common::Marking;
use minerva::pipeline::{RunConfig, run};

#[global_allocator]
static A: common::Counting = common::Counting;

#[test]
fn no_allocation_per_frame_with_the_live_gateway() {
    let (_, spec) = common::spot_session();
    let venue = common::spot_venue(Some(100.0), Default::default(), None);
    let inner = common::btc_live(&venue, 5000, Some(0), 3);
    let addr = venue.local_addr().to_string();
    let keys = std::sync::Arc::new(minerva::venues::binance::keys::ApiKeys::paper());
    let cfg = RunConfig {
        snapshot_request: Some(inner.snapshot_request()),
        live: Some(minerva::venues::LinkConfig::Binance(
            minerva::venues::binance::link::LinkConfig {
                rest: addr.clone(),
                ws: addr,
                spec: spec.clone(),
                keys: keys.clone(),
                time_sync: std::time::Duration::from_secs(1),
                fees: (0, 0),
                fill_wait: std::time::Duration::from_millis(200),
                spin: false,
                on_start: Default::default(),
                leverage: None,
                account: None,
            },
        )),
        ..RunConfig::default()
    };
    let r = run(
        Marking::new(inner),
        &spec,
        &common::loose_strategy(),
        minerva::venues::binance::sign::Signer::new(&keys),
        &cfg,
    )
    .unwrap();
    let allocs = common::marked_allocations();
    eprintln!(
        "{} frames, {} entries, {} fills, {allocs} allocations after the warm-up",
        r.frames, r.trader.entries, r.exchange.fills
    );
    assert!(r.frames > 20_000);
    assert!(r.exchange.fills > 5, "trading happened: {}", r.to_text());
    assert!(r.link.is_some(), "on the live gateway");
    assert_eq!((r.book.gaps, r.book.resyncs), (0, 0));
    assert_eq!(allocs, 0);
    venue.stop();
}
