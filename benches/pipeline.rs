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

/// The compact loop over the shipped session: feed step, book + oracle, gateway, per
/// frame (criterion reports the whole session; divide by 99,574 frames).
fn compact(c: &mut Criterion) {
    use minerva::book::BookConfig;
    use minerva::gateway::{keys::ApiKeys, sign::Signer};
    use minerva::pipeline::stages::{
        BookStage, FeedMsg, FeedStage, Frame, GatewayStage, IntentMsg, Source, Stamped, drain,
    };
    use minerva::strategy::Strategy;
    struct Frames(Vec<(Vec<u8>, u64)>, usize);
    impl Source for Frames {
        fn next_frame(&mut self) -> Option<Frame<'_>> {
            let (b, t) = self.0.get(self.1)?;
            self.1 += 1;
            Some(Frame {
                bytes: b,
                recv_ns: minerva::pipeline::clock::now_ns(),
                wall_ns: *t,
            })
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample/hftbacktest/spot");
    let files = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"]
        .map(|f| std::path::PathBuf::from(format!("{dir}/{f}")));
    let frames = minerva::replay::input::recorded_frames(&files).unwrap();
    let spec = minerva::core::SymbolSpec::from_tick_lot(
        "BTCUSDT",
        minerva::core::Market::Spot,
        "0.01",
        "0.00000001",
    )
    .unwrap();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    let signer = Signer::new(&ApiKeys::new("k".into(), b"s".to_vec()));
    let mut g = c.benchmark_group("compact");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(frames.len() as u64));
    g.bench_function("spot_session_all_stages", |b| {
        b.iter_batched_ref(
            || {
                let (a_tx, a_rx) = ring::<Stamped<FeedMsg>>(1024, Wait::Spin);
                let (c_tx, c_rx) = ring::<Stamped<IntentMsg>>(1024, Wait::Spin);
                let feed = FeedStage::new(Frames(frames.clone(), 0), &spec);
                let book = BookStage::new(&spec, &strategy, &BookConfig::default());
                let gw = GatewayStage::new(&spec, &strategy, signer.clone());
                (feed, book, gw, a_tx, a_rx, c_tx, c_rx)
            },
            |(feed, book, gw, a_tx, a_rx, c_tx, c_rx)| {
                while feed.step(a_tx).unwrap() {
                    drain(a_rx, |m| book.on_msg(m, c_tx).unwrap());
                    drain(c_rx, |m| gw.on_intent(m));
                }
                gw.orders
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hop, compact);
criterion_main!(benches);
