//! The live feed allocates nothing per frame once warm: `minerva run`'s pipeline
//! (compact) reading `minerva exchange`'s WebSocket streams through the live source,
//! trading on the simulated exchange, under an allocator that counts allocations on the
//! pipeline's thread after 2,000 frames. (The exchange's own threads are not counted:
//! they stand for Binance.) One test in this file: the count is process-wide.

mod common;

use common::{ALLOCS, ONLY_THREAD, thread_id};
use minerva::feed::live::{LiveConfig, LiveSource};
use minerva::pipeline::run::{RunConfig, run};
use minerva::pipeline::stages::{Frame, Source};
use minerva::replay::ReplayOptions;
use minerva::venue::{Venue, VenueConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

#[global_allocator]
static A: common::Counting = common::Counting;

/// The count when the warm-up ended, and when the source ended.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);

/// The live source, marking its thread and starting the count after the warm-up.
struct Marking {
    inner: LiveSource,
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
fn no_allocation_per_frame_on_the_live_feed() {
    let d = common::sample_dir().join("spot");
    let info = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample/exchange_info_spot_btcusdt.json");
    let opts = ReplayOptions {
        exchange_info: Some(info),
        ..Default::default()
    };
    let files = vec![d.join("btcusdt_20240808.gz"), d.join("btcusdt_20240809.gz")];
    let spec = minerva::replay::symbol_table(&files, &opts)
        .unwrap()
        .specs()[0]
        .clone();
    let venue = Venue::start(VenueConfig {
        files,
        replay: opts,
        speed: None,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Default::default(),
        weight_limit: None,
    })
    .unwrap();
    let inner = LiveSource::new(
        LiveConfig {
            host: venue.local_addr().to_string(),
            market: spec.market,
            symbol: "BTCUSDT".into(),
            streams: vec!["depth@100ms".into(), "trade".into()],
            snapshot_limit: 5000,
            max_reconnects: Some(0),
            seed: 3,
        },
        Arc::new(AtomicBool::new(false)),
    );
    let cfg = RunConfig {
        snapshot_request: Some(inner.snapshot_request()),
        ..RunConfig::default()
    };
    let r = run(
        Marking { inner, frames: 0 },
        &spec,
        &common::loose_strategy(),
        common::test_signer(),
        &cfg,
    )
    .unwrap();
    let allocs = END.load(Relaxed) - START.load(Relaxed);
    eprintln!(
        "{} frames, {} entries, {} fills, {allocs} allocations after the warm-up",
        r.frames, r.trader.entries, r.exchange.fills
    );
    assert!(r.frames > 20_000);
    assert!(r.exchange.fills > 5, "trading happened");
    assert_eq!((r.book.gaps, r.book.resyncs), (0, 0));
    assert_eq!(allocs, 0);
    venue.stop();
}
