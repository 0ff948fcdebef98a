//! The backtest's steady state allocates nothing per event: the compact stages with the
//! simulated exchange (noisy latency, a probabilistic queue) and the journal, after a
//! warm-up, on a real session, under an allocator that counts. One test in this file:
//! the count is process-wide.

mod common;

use common::ALLOCS;
use minerva::feed::RecordedFrames;
use minerva::pipeline::Compact;
use minerva::sim::SimOptions;
use minerva::sim::latency::LatencyModel;
use minerva::sim::queue::QueueModel;
use std::sync::atomic::Ordering::Relaxed;

#[global_allocator]
static A: common::Counting = common::Counting;

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
    let start = ALLOCS.load(Relaxed);
    std::hint::black_box(vec![0u8; 64]);
    assert_eq!(ALLOCS.load(Relaxed) - start, 1);
    let before = p.gateway.trader().exchange_stats();
    let start = ALLOCS.load(Relaxed);
    let mut n = 0;
    while p.step().unwrap() {
        n += 1;
    }
    let allocs = ALLOCS.load(Relaxed) - start;
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
