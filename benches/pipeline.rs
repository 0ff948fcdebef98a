//! Ring hops: push + pop on one thread (the cost a compact loop pays per message), and a
//! ping-pong round trip between two threads (two hops across cores); the order path (an
//! intent to signed bytes handed to the exchange); and compact-mode steps.

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

use minerva::feed::{Frame, Source};
use minerva::pipeline::Compact;

struct Frames(std::sync::Arc<Vec<(Vec<u8>, u64)>>, usize);

impl Source for Frames {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        let (b, t) = self.0.get(self.1)?;
        self.1 += 1;
        Some(Frame {
            bytes: b,
            recv_ns: minerva::core::clock::now_ns(),
            wall_ns: *t,
            symbol: minerva::core::SymbolId(0),
        })
    }
}

/// The four stages over a copy of the shipped session.
fn compact_over(frames: &std::sync::Arc<Vec<(Vec<u8>, u64)>>) -> Compact<Frames> {
    use minerva::strategy::Strategy;
    use minerva::venues::binance::{keys::ApiKeys, sign::Signer};
    let spec = minerva::core::SymbolSpec::from_tick_lot(
        "BTCUSDT",
        minerva::core::Market::Spot,
        "0.01",
        "0.00000001",
    )
    .unwrap();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    let signer = Signer::new(&ApiKeys::new("k".into(), b"s".to_vec()));
    let sim = minerva::sim::SimOptions::default();
    Compact::new(Frames(frames.clone(), 0), &spec, &strategy, signer, &sim).unwrap()
}

/// One compact-mode step (a recorded frame through feed, book, signal and gateway), on
/// the shipped session after a 2,000-frame warm-up; the session restarts when it runs
/// out (restarts are not timed). Also the whole session as throughput.
fn compact(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample/hftbacktest/spot");
    let files = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"]
        .map(|f| std::path::PathBuf::from(format!("{dir}/{f}")));
    let frames = std::sync::Arc::new(minerva::store::files::recorded_frames(&files).unwrap());
    let fresh = || {
        let mut p = compact_over(&frames);
        for _ in 0..2_000 {
            p.step().unwrap();
        }
        p
    };
    let mut g = c.benchmark_group("compact");
    let mut p = fresh();
    g.bench_function("one_step_all_stages", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let t = std::time::Instant::now();
                let mut n = 0;
                while n < left && p.step().unwrap() {
                    n += 1;
                }
                total += t.elapsed();
                left -= n;
                if left > 0 {
                    p = fresh();
                }
            }
            total
        })
    });
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(frames.len() as u64));
    g.bench_function("spot_session_all_stages", |b| {
        b.iter_batched_ref(
            || compact_over(&frames),
            |p| while p.step().unwrap() {},
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The gateway's part of an entry's tick-to-trade (`intent_to_order`): a trader takes an
/// intent, the risk manager sizes it, the entry is written and HMAC-signed and handed to
/// the simulated exchange. Each timed entry goes to a fresh trader (made untimed), as the
/// risk manager would refuse a second operation at the same price.
fn order_path(c: &mut Criterion) {
    use minerva::core::{DepthSnapshot, Level, Lots, Market, SymbolSpec, Ticks};
    use minerva::gateway::trader::Trader;
    use minerva::signal::oracle::{Intent, Side};
    use minerva::venues::binance::{keys::ApiKeys, sign::Signer};
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let strategy = minerva::strategy::Strategy::parse(
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/strategy_0.toml")),
        &[],
    )
    .unwrap();
    // A 64-byte secret, as Binance issues them.
    let signer = Signer::new(&ApiKeys::new("k".into(), [b's'; 64].to_vec()));
    let level = |p, q| Level {
        price: Ticks(p),
        qty: Lots(q),
    };
    let snapshot = DepthSnapshot {
        last_update_id: 100,
        event_ms: None,
        bids: vec![level(6_000_100, 100)],
        asks: vec![level(6_000_200, 100)],
    };
    let intent = Intent {
        side: Side::Long,
        entry: Ticks(6_000_000),
        take_profit: Ticks(6_100_000),
        stop_loss: Ticks(5_900_000),
        support_wall: Ticks(5_999_999),
        target_wall: Ticks(6_100_001),
        void_price: Ticks(6_050_000),
        void_width_bins: 10,
        pressure_ppm: 200_000,
    };
    let sim = minerva::sim::SimOptions::default();
    let mut g = c.benchmark_group("gateway");
    g.bench_function("intent_to_signed_entry", |b| {
        b.iter_batched_ref(
            || {
                let mut t = Trader::simulated(&spec, &strategy, signer.clone(), &sim);
                t.on_snapshot(&snapshot);
                t
            },
            |t| t.on_intent(black_box(&intent), 1_000),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, hop, order_path, compact);
criterion_main!(benches);
