//! The book's bin index gives the same view as walking the levels, after every applied
//! update of recorded sessions: with the default window, and with a small window that
//! re-centres often (the index is rebuilt) and leaves bins outside it (the fallback walk).
//! The oracle's decisions from both views are equal too, and equal with its searches
//! compiled for baseline x86-64 instead of AVX2.

mod common;

use minerva::book::{Book, BookConfig, BookView};
use minerva::core::{EventBody, Market, SymbolSpec};
use minerva::signal::oracle::Oracle;
use minerva::signal::profile::TradeProfile;
use minerva::strategy::{MAX_BINS, Strategy};
use minerva::venues::binance::snapshot::parse_snapshot;
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, SymbolTable};

/// Replays `lines`, comparing indexed and walked views after every applied update for
/// each `(bin_ticks, bins, limit)`; returns the comparisons made and the oracle's
/// decisions that were intents.
fn compare(
    lines: &[Vec<u8>],
    spec: &SymbolSpec,
    cfg: BookConfig,
    shapes: &[(u32, u32, u32)],
) -> (u64, u64) {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = Decoder::new(table, DEFAULT_MAX_LEVELS);
    let mut books: Vec<Book> = shapes
        .iter()
        .map(|&(bt, _, _)| {
            let mut b = Book::new(spec, &cfg);
            b.index_bins(bt);
            b
        })
        .collect();
    let mut oracles: Vec<(Oracle, TradeProfile, Oracle)> = shapes
        .iter()
        .map(|&(bt, bins, limit)| {
            let s = Strategy::parse(
                include_str!("../strategy_0.toml"),
                &[
                    ("market", spec.name.to_string()),
                    ("bin_ticks", bt.to_string()),
                    ("bins", bins.to_string()),
                    ("limit_orderbook", limit.to_string()),
                    ("short_pressure", "0.55".into()),
                    ("long_pressure", "0.45".into()),
                    // Any local minimum is a void, so evaluations reach the last steps.
                    ("void_height", "-1000000".into()),
                    ("void_prominence", "0".into()),
                ],
            )
            .unwrap();
            let mut baseline = Oracle::new(&s, spec);
            baseline.use_avx2(false);
            (
                Oracle::new(&s, spec),
                TradeProfile::new(bt, 60_000, 1 << 16),
                baseline,
            )
        })
        .collect();
    let mut a: Box<BookView<MAX_BINS>> = Box::default();
    let mut b: Box<BookView<MAX_BINS>> = Box::default();
    let mut g: Box<BookView<MAX_BINS>> = Box::default();
    let (mut compared, mut intents, mut gated, mut volumes_only) = (0u64, 0u64, 0u64, 0u64);
    for l in lines {
        let mut last_ms = None;
        let r = dec.decode(l, 0, &mut |ev| {
            for (book, (_, profile, _)) in books.iter_mut().zip(oracles.iter_mut()) {
                book.on_event(ev);
                if let EventBody::Trade(t) = ev.body {
                    profile.on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                }
            }
            if let EventBody::Depth(c) = ev.body {
                if c.is_last() {
                    last_ms = Some(ev.event_ms);
                }
            }
        });
        if let Ok(Decoded::Snapshot { .. }) = r {
            let snap = parse_snapshot(l, spec).unwrap();
            books.iter_mut().for_each(|b| b.apply_snapshot(&snap));
        }
        let Some(ms) = last_ms else { continue };
        for (i, book) in books.iter_mut().enumerate() {
            let (bt, bins, limit) = shapes[i];
            book.fill_view(bt as i64, bins as usize, limit, &mut a);
            book.fill_view_walked(bt as i64, bins as usize, limit, &mut b);
            assert_eq!(
                a,
                b,
                "view {:?} after update {}",
                shapes[i],
                book.update_id()
            );
            compared += 1;
            let (oracle, profile, baseline) = &mut oracles[i];
            profile.expire(ms);
            let x = oracle.evaluate_view(&a, profile);
            assert_eq!(x, oracle.evaluate(book, profile));
            // The searches compiled for AVX2 (when the CPU has it) and for baseline
            // x86-64 decide alike.
            assert_eq!(baseline.evaluate_view(&a, profile), x);
            intents += x.is_ok() as u64;
            // The pipeline's gated view: the same touch, origins and volumes; the
            // bins and tops when pressed (the bins alone when its volumes had to be
            // read from them); and the same decision.
            book.fill_view_gated(bt as i64, bins as usize, limit, (450_000, 550_000), &mut g);
            let k = bins as usize;
            assert_eq!(
                (g.best_bid, g.best_ask, g.live),
                (a.best_bid, a.best_ask, a.live)
            );
            for (x, y) in [(&g.bid, &a.bid), (&g.ask, &a.ask)] {
                assert_eq!(
                    (x.origin, x.volume),
                    (y.origin, y.volume),
                    "after update {}",
                    book.update_id()
                );
                if x.n != 0 || g.full {
                    assert_eq!(x.n, y.n);
                    assert_eq!(x.qty[..k], y.qty[..k]);
                }
                if g.full {
                    assert_eq!(x.top[..k], y.top[..k]);
                }
            }
            gated += !g.full as u64;
            volumes_only += (!g.full && g.bid.n == 0 && a.bid.n != 0) as u64;
            assert_eq!(oracle.evaluate_view(&g, profile), x);
        }
    }
    assert!(gated > 0, "some views must leave their tops out");
    assert!(
        volumes_only > 0,
        "some views must be answered from the kept volumes alone"
    );
    (compared, intents)
}

fn sessions() -> Vec<(Vec<Vec<u8>>, SymbolSpec)> {
    let sample = common::sample_dir().join("spot");
    let mut v = vec![(
        common::json_lines(&[
            sample.join("btcusdt_20240808.gz"),
            sample.join("btcusdt_20240809.gz"),
        ]),
        SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap(),
    )];
    if let Some(d) = common::shared_data() {
        let u = d.join("hftbacktest-examples/usdm");
        v.push((
            common::json_lines(&[u.join("btcusdt_20240718.gz")]),
            SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap(),
        ));
    }
    v
}

#[test]
fn indexed_view_equals_walked_view_on_recorded_sessions() {
    // The last: nearest levels that end within the bins (kept volumes answer).
    let shapes = [
        (10, 100, 500),
        (1, 512, 40),
        (37, 64, 2_000),
        (100, 128, 40),
    ];
    for (lines, spec) in sessions() {
        let (n, intents) = compare(&lines, &spec, BookConfig::default(), &shapes);
        eprintln!("{:?}: {n} views compared, {intents} intents", spec.market);
        assert!(n > 5_000);
        assert!(
            intents > 0,
            "the comparison must reach the oracle's later steps"
        );
    }
}

#[test]
fn small_window_rebuilds_and_falls_back_exactly() {
    let cfg = BookConfig {
        window_ticks: 4096,
        ..BookConfig::default()
    };
    let (lines, spec) = sessions().swap_remove(0);
    let (n, _) = compare(
        &lines,
        &spec,
        cfg,
        &[(10, 100, 500), (50, 200, 5_000), (100, 20, 20)],
    );
    assert!(n > 10_000);
}
