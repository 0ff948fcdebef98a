//! Ring hops: push + pop on one thread (the cost a compact loop pays per message), and a
//! ping-pong round trip between two threads (two hops across cores).

use criterion::{Criterion, criterion_group, criterion_main};
use minerva::core::MarketEvent;
use minerva::pipeline::{Wait, ring};
use std::hint::black_box;

fn hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    let (mut tx, mut rx) = ring::<u64>(1024, Wait::Spin);
    g.bench_function("push_pop_u64_same_thread", |b| {
        b.iter(|| {
            tx.push(black_box(7)).unwrap();
            rx.pop()
        })
    });
    let (mut tx, mut rx) = ring::<MarketEvent>(1024, Wait::Spin);
    let ev: MarketEvent = depth_event();
    g.bench_function("push_pop_market_event_same_thread", |b| {
        b.iter(|| {
            tx.push(black_box(ev)).unwrap();
            rx.pop()
        })
    });
    // Round trip between two threads, spin-then-yield so it behaves on 2 vCPUs.
    let (mut ping_tx, mut ping_rx) = ring::<u64>(16, Wait::SpinYield);
    let (mut pong_tx, mut pong_rx) = ring::<u64>(16, Wait::SpinYield);
    let echo = std::thread::spawn(move || {
        loop {
            match ping_rx.pop() {
                Some(u64::MAX) => break,
                Some(v) => pong_tx.push(v).unwrap(),
                None => std::hint::spin_loop(),
            }
        }
    });
    g.bench_function("round_trip_two_threads", |b| {
        b.iter(|| {
            ping_tx.push(1).unwrap();
            loop {
                if let Some(v) = pong_rx.pop() {
                    break v;
                }
                std::hint::spin_loop();
            }
        })
    });
    ping_tx.push(u64::MAX).unwrap();
    echo.join().unwrap();
    g.finish();
}

/// A depth event as the decoder would emit it.
fn depth_event() -> MarketEvent {
    use minerva::core::{DepthChunk, EventBody, SymbolId};
    MarketEvent {
        recv_ns: 1,
        event_ms: 2,
        symbol: SymbolId(0),
        body: EventBody::Depth(DepthChunk::new(1, 2, Some(0), 3)),
    }
}

criterion_group!(benches, hop);
criterion_main!(benches);
