//! The live gateway allocates nothing on the pipeline's thread once warm: `minerva
//! run`'s pipeline (compact) reading `minerva exchange`'s streams and trading on it
//! through the live link (signed requests into the link's ring, reports out of it),
//! under an allocator that counts allocations on the pipeline's thread after 2,000
//! frames. The link's I/O threads (REST, user data stream) and the exchange's are not
//! counted: they do the socket work the hot thread hands off. One test in this file:
//! the count is process-wide.

mod common;

use common::{ALLOCS, ONLY_THREAD, thread_id};
use minerva::pipeline::run::{RunConfig, run};
use minerva::pipeline::stages::{Frame, Source};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[global_allocator]
static A: common::Counting = common::Counting;

/// The count when the warm-up ended, and when the source ended.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);

/// The live source, marking its thread and starting the count after the warm-up.
struct Marking {
    inner: minerva::feed::live::LiveSource,
    frames: u64,
}

impl Source for Marking {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.frames == 0 {
            ONLY_THREAD.store(thread_id(), Relaxed);
        }
        if self.frames == 2_000 {
            START.store(ALLOCS.load(Relaxed), Relaxed);
        }
        self.frames += 1;
        let f = self.inner.next_frame();
        if f.is_none() {
            END.store(ALLOCS.load(Relaxed), Relaxed);
        }
        f
    }
}

#[test]
fn no_allocation_per_frame_with_the_live_gateway() {
    let (_, spec) = common::spot_session();
    let venue = common::spot_venue(Some(100.0), Default::default(), None);
    let inner = common::btc_live(&venue, 5000, Some(0), 3);
    let addr = venue.local_addr().to_string();
    let keys = std::sync::Arc::new(minerva::gateway::keys::ApiKeys::paper());
    let cfg = RunConfig {
        snapshot_request: Some(inner.snapshot_request()),
        live: Some(minerva::gateway::live::LinkConfig {
            rest: addr.clone(),
            ws: addr,
            spec: spec.clone(),
            keys: keys.clone(),
            time_sync: std::time::Duration::from_secs(1),
            fees: (0, 0),
            fill_wait: std::time::Duration::from_millis(200),
            spin: false,
        }),
        ..RunConfig::default()
    };
    let r = run(
        Marking { inner, frames: 0 },
        &spec,
        &common::loose_strategy(),
        minerva::gateway::sign::Signer::new(&keys),
        &cfg,
    )
    .unwrap();
    let allocs = END.load(Relaxed) - START.load(Relaxed);
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
