//! End to end: decode + sync + book apply over the shipped spot session (99,574 real
//! messages), the work `minerva replay` does per line once the file is in memory.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minerva::book::{Book, BookConfig};
use minerva::core::{Market, SymbolSpec};
use minerva::venues::binance::snapshot::parse_snapshot;
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, SymbolTable};
use std::hint::black_box;

fn session() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample/hftbacktest/spot");
    let files = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"].map(|f| format!("{dir}/{f}"));
    minerva::store::files::json_lines(&files).unwrap()
}

fn e2e(c: &mut Criterion) {
    let lines = session();
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap();
    let mut g = c.benchmark_group("replay_e2e");
    g.sample_size(20);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("spot_btcusdt_session", |b| {
        b.iter_batched_ref(
            || {
                let mut t = SymbolTable::new();
                t.insert(spec.clone());
                (
                    Decoder::new(t, DEFAULT_MAX_LEVELS),
                    Book::new(&spec, &BookConfig::default()),
                )
            },
            |(dec, book)| {
                let mut s = 0i64;
                for l in &lines {
                    if let Ok(Decoded::Snapshot { .. }) =
                        dec.decode(l, 0, &mut |ev| book.on_event(ev))
                    {
                        book.apply_snapshot(&parse_snapshot(l, &spec).unwrap());
                    }
                    s += book.best_bid().map_or(0, |l| l.price.0);
                }
                black_box(s)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, e2e);
criterion_main!(benches);
