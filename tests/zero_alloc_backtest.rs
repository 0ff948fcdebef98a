//! The backtest's steady state allocates nothing per event: the compact stages with the
//! simulated exchange (noisy latency, a probabilistic queue) and the journal, after a
//! warm-up, on a real session, under an allocator that counts. One test in this file:
//! the count is process-wide.

mod common;

use minerva::exchange::SimOptions;
use minerva::exchange::latency::LatencyModel;
use minerva::exchange::queue::QueueModel;
use minerva::pipeline::compact::Compact;
use minerva::pipeline::stages::RecordedFrames;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

struct Counting;

static MEASURING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        if MEASURING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, s: usize) -> *mut u8 {
        if MEASURING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(p, l, s) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn no_allocation_per_event_in_the_backtest() {
    let (frames, spec) = common::spot_session();
    let strategy = common::loose_strategy();
    let sim = SimOptions {
        latency: LatencyModel::parse("order=lognormal:5ms:0.8,response=uniform:1ms..9ms,feed=1ms")
            .unwrap(),
        queue: QueueModel::Power(3),
        ..SimOptions::default()
    };
    let mut p = Compact::new(
        RecordedFrames::new(&frames),
        &spec,
        &strategy,
        common::test_signer(),
        &sim,
    )
    .unwrap();
    p.gateway
        .trader_mut()
        .keep_journal(1_000_000, 1 << 12, 1 << 12);
    for _ in 0..2_000 {
        p.step().unwrap();
    }
    // The counter counts.
    MEASURING.store(true, Relaxed);
    std::hint::black_box(vec![0u8; 64]);
    MEASURING.store(false, Relaxed);
    assert_eq!(ALLOCS.swap(0, Relaxed), 1);
    let before = p.gateway.trader().exchange_stats();
    MEASURING.store(true, Relaxed);
    let mut n = 0;
    while p.step().unwrap() {
        n += 1;
    }
    MEASURING.store(false, Relaxed);
    let allocs = ALLOCS.load(Relaxed);
    let after = p.gateway.trader().exchange_stats();
    let trades = p.gateway.trader().journal().unwrap().trades.len();
    eprintln!(
        "{n} frames, {} requests, {} fills, {trades} trades, {allocs} allocations",
        after.requests - before.requests,
        after.fills - before.fills
    );
    assert!(after.fills - before.fills > 20, "the exchange must be busy");
    assert!(trades > 5);
    assert_eq!(allocs, 0);
}
