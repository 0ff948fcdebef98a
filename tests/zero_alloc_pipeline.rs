//! The whole pipeline — feed, book, signal, gateway with its simulated exchange, rings,
//! latency histograms — allocates nothing on its threads once warm, compact and
//! threaded (four threads, pinned to the CPUs this process may use): `minerva run`'s
//! own code on a real session, under a global allocator that counts allocations made
//! off the test's thread (which only starts the run and builds the report) after the
//! warm-up frames. One test in this file: the count is process-wide.

mod common;

use minerva::pipeline::PinPlan;
use minerva::pipeline::pin::allowed_cpus;
use minerva::pipeline::run::{RunConfig, run};
use minerva::pipeline::stages::{Frame, Source};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::Relaxed};

/// Counts allocations made while `MEASURING`, on threads other than `TEST_THREAD`.
struct HotThreads;

static MEASURING: AtomicBool = AtomicBool::new(false);
static TEST_THREAD: AtomicI32 = AtomicI32::new(0);
static HOT_ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    // gettid is a plain syscall: it never allocates, so it is safe inside the allocator.
    if MEASURING.load(Relaxed) && unsafe { libc::gettid() } != TEST_THREAD.load(Relaxed) {
        HOT_ALLOCS.fetch_add(1, Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for HotThreads {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, s: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(p, l, s) }
    }
}

#[global_allocator]
static A: HotThreads = HotThreads;

const WARM: usize = 2_000;

/// Recorded frames; starts the count when it hands out the warm-up'th frame.
struct Marking<'a> {
    frames: &'a [(Vec<u8>, u64)],
    next: usize,
}

impl Source for Marking<'_> {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.next == WARM {
            MEASURING.store(true, Relaxed);
        }
        let (bytes, rec) = self.frames.get(self.next)?;
        self.next += 1;
        Some(Frame {
            bytes,
            recv_ns: minerva::pipeline::clock::now_ns(),
            wall_ns: *rec,
        })
    }
}

#[test]
fn no_allocation_on_pipeline_threads_compact_and_threaded() {
    // SAFETY: gettid has no preconditions.
    TEST_THREAD.store(unsafe { libc::gettid() }, Relaxed);
    // The counter sees an allocation on another thread, and ignores this one's.
    MEASURING.store(true, Relaxed);
    std::hint::black_box(vec![0u8; 64]);
    assert_eq!(HOT_ALLOCS.load(Relaxed), 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            HOT_ALLOCS.store(0, Relaxed);
            std::hint::black_box(vec![0u8; 64]);
            assert!(HOT_ALLOCS.load(Relaxed) > 0, "the counter must count");
        });
    });
    MEASURING.store(false, Relaxed);
    let (frames, spec) = common::spot_session();
    // Loose enough to trade: entries, fills, exits, cancels all run on the hot path.
    let strategy = common::loose_strategy();
    let signer = common::test_signer();
    let cpus = allowed_cpus();
    let pin = |spec: String| PinPlan::parse(&spec, &cpus).unwrap();
    let (a, b) = (cpus[0], cpus[cpus.len() - 1]);
    let modes = [
        ("compact", 1, PinPlan::default()),
        (
            "threaded",
            4,
            pin(format!("feed={a},book={a},signal={b},gateway={b}")),
        ),
    ];
    for (name, threads, pin) in modes {
        MEASURING.store(false, Relaxed);
        HOT_ALLOCS.store(0, Relaxed);
        let cfg = RunConfig {
            threads,
            pin,
            ..RunConfig::default()
        };
        let source = Marking {
            frames: &frames,
            next: 0,
        };
        let r = run(source, &spec, &strategy, signer.clone(), &cfg).unwrap();
        MEASURING.store(false, Relaxed);
        let allocs = HOT_ALLOCS.load(Relaxed);
        eprintln!(
            "{name}: {} frames, {} applied, {} evaluations, {} entries, {} fills, {} requests, {allocs} allocations on pipeline threads after warm-up",
            r.frames,
            r.book.applied,
            r.evaluations,
            r.trader.entries,
            r.exchange.fills,
            r.trader.requests
        );
        assert_eq!(r.frames, frames.len() as u64);
        assert!(r.book.applied > 6_000 && r.trader.entries > 10 && r.exchange.fills > 10);
        assert_eq!(allocs, 0, "{name}: allocations on the hot path");
    }
}
