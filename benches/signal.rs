//! The signal stage: one full oracle evaluation on a real book (the shipped spot session
//! replayed to its end: ~2,000 levels a side, of which `limit_orderbook` = 500 are read)
//! at the seed's defaults, and the peak finder alone against a naive baseline.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use minerva::book::{Book, BookConfig, BookView, VIEW_BINS};
use minerva::core::{EventBody, Market, SymbolSpec};
use minerva::signal::oracle::Oracle;
use minerva::signal::peaks::{Interval, PeakParams, PeakScratch, find_peaks_into};
use minerva::signal::profile::TradeProfile;
use minerva::strategy::Strategy;
use minerva::venues::binance::snapshot::parse_snapshot;
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, SymbolTable};
use std::hint::black_box;

fn replayed() -> (Book, TradeProfile, Strategy, SymbolSpec) {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    let mut t = SymbolTable::new();
    t.insert(spec.clone());
    let mut dec = Decoder::new(t, DEFAULT_MAX_LEVELS);
    let mut book = Book::new(&spec, &BookConfig::default());
    let mut profile = TradeProfile::new(strategy.bin_ticks, 60_000, 1 << 16);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample/hftbacktest/spot");
    let files = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"].map(|f| format!("{dir}/{f}"));
    for j in minerva::store::files::json_lines(&files).unwrap() {
        let r = dec.decode(&j, 0, &mut |ev| {
            book.on_event(ev);
            if let EventBody::Trade(t) = ev.body {
                profile.on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
            }
        });
        if let Ok(Decoded::Snapshot { .. }) = r {
            book.apply_snapshot(&parse_snapshot(&j, &spec).unwrap());
        }
    }
    (book, profile, strategy, spec)
}

fn oracle(c: &mut Criterion) {
    let (mut book, profile, strategy, spec) = replayed();
    let mut g = c.benchmark_group("oracle");
    for bins in [100u32, 500] {
        let mut s = strategy.clone();
        s.bins = bins;
        let mut o = Oracle::new(&s, &spec);
        // Walks the book for its view, then evaluates (the `minerva signal` path).
        g.bench_function(
            BenchmarkId::new("evaluate_500_levels", format!("{bins}_bins")),
            |b| b.iter(|| black_box(o.evaluate(black_box(&book), &profile))),
        );
    }
    // The pipeline's split: the book builds a view from its bin index, the signal
    // evaluates the view. The sample's final book is balanced (no pressure), so the
    // evaluation is also timed with the pressure thresholds opened to reach the peaks.
    book.index_bins(strategy.bin_ticks);
    let mut view: Box<BookView<VIEW_BINS>> = Box::default();
    let o = Oracle::new(&strategy, &spec);
    let (bt, bins, limit) = o.view_shape();
    g.bench_function("fill_view_indexed_100_bins", |b| {
        b.iter(|| book.fill_view(bt, bins, limit, black_box(&mut view)))
    });
    g.bench_function("fill_view_walked_100_bins", |b| {
        b.iter(|| book.fill_view_walked(bt, bins, limit, black_box(&mut view)))
    });
    book.fill_view(bt, bins, limit, &mut view);
    for (name, short, long) in [
        ("as_configured", "0.75", "0.25"),
        ("pressed", "0.5", "0.499999"),
    ] {
        let s = Strategy::parse(
            include_str!("../strategy_0.toml"),
            &[
                ("short_pressure", short.into()),
                ("long_pressure", long.into()),
            ],
        )
        .unwrap();
        let mut o = Oracle::new(&s, &spec);
        g.bench_function(BenchmarkId::new("evaluate_view", name), |b| {
            b.iter(|| black_box(o.evaluate_view(black_box(&view), &profile)))
        });
    }
    g.finish();
}

fn peaks(c: &mut Criterion) {
    let mut g = c.benchmark_group("peaks");
    let mut x: u64 = 7;
    let y: Vec<i64> = (0..512)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as i64
        })
        .collect();
    let p = PeakParams {
        height: None,
        threshold: Some(Interval::at_least(100)),
        distance: Some(10.0),
        prominence: Some(Interval::at_least(50)),
        wlen: None,
    };
    let mut scratch = PeakScratch::new(512);
    let mut out = vec![0u32; 257];
    for n in [100usize, 512] {
        g.bench_function(BenchmarkId::new("minerva", n), |b| {
            b.iter(|| find_peaks_into(black_box(&y[..n]), &p, &mut scratch, &mut out).unwrap())
        });
        // Baseline: local maxima then a quadratic distance filter, allocating per call.
        g.bench_function(BenchmarkId::new("naive_quadratic", n), |b| {
            b.iter(|| {
                let y = black_box(&y[..n]);
                let mut pk: Vec<usize> = (1..n - 1)
                    .filter(|&i| y[i - 1] < y[i] && y[i] > y[i + 1])
                    .collect();
                pk.retain(|&i| y[i] - y[i - 1] >= 100 && y[i] - y[i + 1] >= 100);
                let keep: Vec<usize> = pk
                    .iter()
                    .copied()
                    .filter(|&i| {
                        !pk.iter()
                            .any(|&j| j != i && (j as i64 - i as i64).abs() < 10 && y[j] > y[i])
                    })
                    .collect();
                keep
            })
        });
    }
    g.finish();
}

criterion_group!(benches, oracle, peaks);
criterion_main!(benches);
