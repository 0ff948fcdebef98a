//! The whole pipeline (feed, book + oracle, risk + signer, rings, latency histograms)
//! allocates nothing per message once warm, compact and threaded: a real session under
//! a counting global allocator. One test in this file (the count is process-wide).

mod common;

use minerva::book::BookConfig;
use minerva::gateway::keys::ApiKeys;
use minerva::gateway::sign::Signer;
use minerva::pipeline::stages::{
    BookStage, FeedMsg, FeedStage, Frame, GatewayStage, IntentMsg, Source, Stamped, drain,
};
use minerva::pipeline::{Wait, ring};
use minerva::replay::{ReplayOptions, symbol_table};
use minerva::strategy::Strategy;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[global_allocator]
static A: common::Counting = common::Counting;
use common::ALLOCS;

/// The count when the source handed out its warm-up'th frame.
static MARK: AtomicUsize = AtomicUsize::new(usize::MAX);

const WARM: usize = 2_000;

struct Marking<'a> {
    frames: &'a [(Vec<u8>, u64)],
    next: usize,
}

impl Source for Marking<'_> {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.next == WARM {
            MARK.store(ALLOCS.load(Relaxed), Relaxed);
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
fn no_allocation_per_message_compact_and_threaded() {
    let d = common::sample_dir().join("spot");
    let files: Vec<PathBuf> = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let opts = ReplayOptions {
        exchange_info: Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("sample/exchange_info_spot_btcusdt.json"),
        ),
        ..Default::default()
    };
    let spec = symbol_table(&files, &opts).unwrap().specs()[0].clone();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    let frames = minerva::replay::input::recorded_frames(&files).unwrap();
    let signer = Signer::new(&ApiKeys::new("k".into(), b"s".to_vec()));

    for threaded in [false, true] {
        MARK.store(usize::MAX, Relaxed);
        let (mut a_tx, mut a_rx) = ring::<Stamped<FeedMsg>>(1024, Wait::SpinYield);
        let (mut c_tx, mut c_rx) = ring::<Stamped<IntentMsg>>(1024, Wait::SpinYield);
        let mut feed = FeedStage::new(
            Marking {
                frames: &frames,
                next: 0,
            },
            &spec,
        );
        let mut book = BookStage::new(&spec, &strategy, &BookConfig::default());
        let mut gateway = GatewayStage::new(&spec, &strategy, signer.clone());
        if threaded {
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    while feed.step(&mut a_tx).unwrap() {}
                    drop(a_tx);
                });
                loop {
                    let got = drain(&mut a_rx, |m| book.on_msg(m, &mut c_tx).unwrap());
                    drain(&mut c_rx, |m| gateway.on_intent(m));
                    if got == 0 && a_rx.is_finished() {
                        break;
                    }
                    if got == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        } else {
            while feed.step(&mut a_tx).unwrap() {
                drain(&mut a_rx, |m| book.on_msg(m, &mut c_tx).unwrap());
                drain(&mut c_rx, |m| gateway.on_intent(m));
            }
        }
        let allocs = ALLOCS.load(Relaxed) - MARK.load(Relaxed);
        let st = book.book.stats();
        eprintln!(
            "threaded={threaded}: {} frames, {} applied, {} intents, {} orders, {allocs} allocations after warm-up",
            feed.frames, st.applied, book.intents, gateway.orders
        );
        assert_eq!(feed.frames, frames.len() as u64);
        assert!(st.applied > 6_000 && book.intents > 10 && gateway.orders >= 1);
        assert_eq!(
            allocs, 0,
            "threaded={threaded}: allocations on the hot path"
        );
    }
}
