//! Decode + sync + book apply allocate nothing per message once warm: a real session is
//! replayed under a counting global allocator. One test in this file, because the count
//! is process-wide and `cargo test` runs tests on parallel threads.

mod common;

use minerva::book::{Book, BookConfig};
use minerva::core::{Market, SymbolSpec};
use minerva::feed::binance::snapshot::parse_snapshot;
use minerva::feed::binance::{DEFAULT_MAX_LEVELS, DecodePath, Decoded, Decoder, SymbolTable};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, s: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, s) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Replays `lines`; returns allocations counted after the first `warm` lines and the
/// number of depth events applied in that part.
fn run(lines: &[Vec<u8>], spec: &SymbolSpec, path: DecodePath, warm: usize) -> (usize, u64) {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = Decoder::new(table, DEFAULT_MAX_LEVELS);
    dec.set_path(path);
    let mut book = Book::new(spec, &BookConfig::default());
    let (mut bids, mut asks) = (vec![0i64; 64], vec![0i64; 64]);
    let mut touch = 0i64;
    let mut before = 0;
    let mut applied_before = 0;
    for (i, l) in lines.iter().enumerate() {
        if i == warm {
            before = ALLOCS.load(Relaxed);
            applied_before = book.stats().applied;
        }
        let r = dec.decode(l, i as u64, &mut |ev| book.on_event(ev));
        if let Ok(Decoded::Snapshot { .. }) = r {
            assert!(i < warm, "snapshot after warm-up");
            book.apply_snapshot(&parse_snapshot(l, spec).unwrap());
        }
        assert!(r.is_ok(), "line {i}: {r:?}");
        // What the signal stage reads after every message.
        touch +=
            book.best_bid().map_or(0, |l| l.price.0) + book.best_ask().map_or(0, |l| l.price.0);
        book.depth_bins(10, &mut bids, &mut asks);
    }
    std::hint::black_box(touch);
    (
        ALLOCS.load(Relaxed) - before,
        book.stats().applied - applied_before,
    )
}

#[test]
fn no_allocation_per_message_after_warm_up() {
    let mut sessions: Vec<(Vec<Vec<u8>>, SymbolSpec)> = Vec::new();
    let sample = common::sample_dir().join("spot");
    sessions.push((
        common::json_lines(&[
            sample.join("btcusdt_20240808.gz"),
            sample.join("btcusdt_20240809.gz"),
        ]),
        SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap(),
    ));
    if let Some(d) = common::shared_data() {
        let u = d.join("hftbacktest-examples/usdm");
        sessions.push((
            common::json_lines(&[u.join("btcusdt_20240718.gz"), u.join("btcusdt_20240719.gz")]),
            SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap(),
        ));
    }
    for (lines, spec) in &sessions {
        for path in [DecodePath::Auto, DecodePath::Sonic] {
            let (allocs, applied) = run(lines, spec, path, 2_000);
            eprintln!(
                "{:?} {:?}: {} messages, {applied} depth events applied, {allocs} allocations",
                spec.market,
                path,
                lines.len() - 2_000
            );
            assert!(applied > 1_000, "the measured part must apply depth events");
            assert_eq!(
                allocs, 0,
                "{:?} {path:?}: allocations on the hot path",
                spec.market
            );
        }
    }
}
