//! The live feed allocates nothing per frame once warm: `minerva run`'s pipeline
//! (compact) reading `minerva exchange`'s WebSocket streams through the live source,
//! trading on the simulated exchange, under an allocator that counts allocations on the
//! pipeline's thread after 2,000 frames. (The exchange's own threads are not counted:
//! they stand for Binance.) One test in this file: the count is process-wide.

mod common;

use minerva::feed::live::{LiveConfig, LiveSource};
use minerva::pipeline::run::{RunConfig, run};
use minerva::pipeline::stages::{Frame, Source};
use minerva::replay::ReplayOptions;
use minerva::venue::{Venue, VenueConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::Relaxed};

struct OnePipelineThread;

static MEASURING: AtomicBool = AtomicBool::new(false);
static HOT_THREAD: AtomicI32 = AtomicI32::new(0);
static HOT_ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    // gettid is a plain syscall: it never allocates, so it is safe inside the allocator.
    if MEASURING.load(Relaxed) && unsafe { libc::gettid() } == HOT_THREAD.load(Relaxed) {
        HOT_ALLOCS.fetch_add(1, Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for OnePipelineThread {
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
static A: OnePipelineThread = OnePipelineThread;

/// The live source, marking its thread and starting the count after the warm-up.
struct Marking {
    inner: LiveSource,
    frames: u64,
}

impl Source for Marking {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.frames == 0 {
            // SAFETY: gettid has no preconditions.
            HOT_THREAD.store(unsafe { libc::gettid() }, Relaxed);
        }
        if self.frames == 2_000 {
            MEASURING.store(true, Relaxed);
        }
        self.frames += 1;
        let f = self.inner.next_frame();
        if f.is_none() {
            MEASURING.store(false, Relaxed);
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
    let allocs = HOT_ALLOCS.load(Relaxed);
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
