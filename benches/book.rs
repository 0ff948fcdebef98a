//! Book apply: Minerva's array ladder against a `BTreeMap` book, on the depth diffs of
//! the synthetic USD-M fixture (decoded before the clock), reading the touch after each.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minerva::book::{Book, BookConfig};
use minerva::core::{DepthChunk, EventBody, Market, SymbolSpec};
use minerva::venues::binance::snapshot::parse_snapshot;
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, Decoder, SymbolTable};
use std::collections::BTreeMap;
use std::hint::black_box;

fn fixture() -> (
    SymbolSpec,
    minerva::venues::binance::DepthSnapshot,
    Vec<DepthChunk>,
) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
    let snap = parse_snapshot(
        &std::fs::read(format!("{dir}/synth_snapshot.json")).unwrap(),
        &spec,
    )
    .unwrap();
    let mut t = SymbolTable::new();
    t.insert(spec.clone());
    let mut d = Decoder::new(t, DEFAULT_MAX_LEVELS);
    let mut chunks = Vec::new();
    for l in std::fs::read(format!("{dir}/synth_events.jsonl"))
        .unwrap()
        .split(|&c| c == b'\n')
    {
        let _ = d.decode(l, 0, &mut |ev| {
            if let EventBody::Depth(c) = ev.body {
                chunks.push(c)
            }
        });
    }
    (spec, snap, chunks)
}

/// A depth message's header and where its levels start.
struct Head {
    first_id: u64,
    last_id: u64,
    prev_last_id: u64,
    n_bids: u8,
    n_levels: u8,
    flags: u8,
    start: usize,
}

fn book_apply(c: &mut Criterion) {
    let (spec, snap, chunks) = fixture();
    // Headers and levels packed apart, as a tape holds them.
    let mut levels = Vec::new();
    let packed: Vec<Head> = chunks
        .iter()
        .map(|c| {
            let start = levels.len();
            levels.extend_from_slice(&c.levels[..c.n_levels as usize]);
            Head {
                first_id: c.first_id,
                last_id: c.last_id,
                prev_last_id: c.prev_last_id,
                n_bids: c.n_bids,
                n_levels: c.n_levels,
                flags: c.flags,
                start,
            }
        })
        .collect();
    let mut g = c.benchmark_group("book_apply");
    g.throughput(Throughput::Elements(chunks.len() as u64));
    g.bench_function("minerva_ladder", |b| {
        b.iter_batched_ref(
            || {
                let mut book = Book::new(&spec, &BookConfig::default());
                book.apply_snapshot(&snap);
                book
            },
            |book| {
                let mut s = 0i64;
                // Each message written into one chunk slot (header and its levels), as
                // the decoder writes a ring slot: iterating whole 550-byte chunks would
                // time the memory bus, not the book.
                let mut slot = DepthChunk::new(0, 0, None, 0);
                for h in &packed {
                    slot.first_id = h.first_id;
                    slot.last_id = h.last_id;
                    slot.prev_last_id = h.prev_last_id;
                    slot.n_bids = h.n_bids;
                    slot.n_levels = h.n_levels;
                    slot.flags = h.flags;
                    let n = h.n_levels as usize;
                    slot.levels[..n].copy_from_slice(&levels[h.start..h.start + n]);
                    book.on_depth(&slot);
                    s += book.best_bid().map_or(0, |l| l.price.0)
                        + book.best_ask().map_or(0, |l| l.price.0);
                }
                black_box(s)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("naive_btreemap", |b| {
        b.iter_batched_ref(
            || {
                let bids: BTreeMap<i64, i64> =
                    snap.bids.iter().map(|l| (l.price.0, l.qty.0)).collect();
                let asks: BTreeMap<i64, i64> =
                    snap.asks.iter().map(|l| (l.price.0, l.qty.0)).collect();
                (bids, asks)
            },
            |(bids, asks)| {
                let mut s = 0i64;
                for c in &chunks {
                    for (side, levels) in [(&mut *bids, c.bids()), (&mut *asks, c.asks())] {
                        for l in levels {
                            if l.qty.0 == 0 {
                                side.remove(&l.price.0);
                            } else {
                                side.insert(l.price.0, l.qty.0);
                            }
                        }
                    }
                    s += bids.keys().next_back().copied().unwrap_or(0)
                        + asks.keys().next().copied().unwrap_or(0);
                }
                black_box(s)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, book_apply);
criterion_main!(benches);
