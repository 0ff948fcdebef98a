//! `minerva run --record`: the tap on the feed's thread (a copy of each frame into a
//! preallocated byte ring) allocates nothing. The pipeline runs compact (every stage
//! on the feed's thread) on the spot session, tapped into a SQLite database; after
//! the warm-up only that thread's allocations count — the recorder's writer thread
//! allocates freely, off the hot path. One test in this file: the count is
//! process-wide.

mod common;

use common::{ALLOCS, ONLY_THREAD, thread_id};
use minerva::feed::{Frame, Source};
use minerva::pipeline::{RunConfig, run};
use minerva::store::{Recorded, SqliteStore, Target};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[global_allocator]
static A: common::Counting = common::Counting;

/// The count when the warm-up ended.
static START: AtomicUsize = AtomicUsize::new(usize::MAX);

const WARM: usize = 2_000;

/// Recorded frames; from the warm-up'th on, only its own thread's allocations count.
struct Marking<'a> {
    frames: &'a [(Vec<u8>, u64)],
    next: usize,
}

impl Source for Marking<'_> {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.next == WARM {
            ONLY_THREAD.store(thread_id(), Relaxed);
            START.store(ALLOCS.load(Relaxed), Relaxed);
        }
        let (bytes, rec) = self.frames.get(self.next)?;
        self.next += 1;
        Some(Frame {
            bytes,
            recv_ns: minerva::core::clock::now_ns(),
            wall_ns: *rec,
            symbol: minerva::core::SymbolId(0),
        })
    }
}

#[test]
fn the_tap_allocates_nothing_on_the_feed_thread() {
    let (frames, spec) = common::spot_session();
    let tmp = common::fresh_dir("tap-alloc");
    let db = tmp.path().join("tap-alloc.db");
    let source = Marking {
        frames: &frames,
        next: 0,
    };
    let (tapped, stats, writer) =
        minerva::store::tap::tap(source, &Target::Sqlite(db.clone()), "tap", &[], 64 << 20)
            .unwrap();
    let cfg = RunConfig {
        threads: 1,
        ..RunConfig::default()
    };
    let r = run(
        tapped,
        &spec,
        &common::loose_strategy(),
        common::test_signer(),
        &cfg,
    )
    .unwrap();
    let allocs = ALLOCS.load(Relaxed) - START.load(Relaxed);
    ONLY_THREAD.store(0, Relaxed);
    writer.join().unwrap().unwrap();
    eprintln!(
        "{} frames, {} entries, {} fills, {} stored: {allocs} allocations on the feed thread after warm-up",
        r.frames,
        r.trader.entries,
        r.exchange.fills,
        stats.stored.load(Relaxed)
    );
    assert_eq!(r.frames, frames.len() as u64);
    assert!(r.trader.entries > 10 && r.exchange.fills > 10);
    assert_eq!(stats.stored.load(Relaxed), frames.len() as u64);
    assert_eq!(allocs, 0, "allocations on the feed thread with the tap");
    let mut store = SqliteStore::open_read(&db).unwrap();
    assert_eq!(store.sessions().unwrap()[0].lines, frames.len() as i64);
}
