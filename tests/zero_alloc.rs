//! Decode, sync, book apply, traded-volume profile, oracle and risk allocate nothing per
//! message once warm, for Binance's sessions and KuCoin's capture (and KuCoin's request
//! signing nothing per request): real sessions are replayed under a counting global
//! allocator. One test in this file, because the count is process-wide and tests run on
//! parallel threads.

mod common;

use minerva::book::{Book, BookConfig, BookView, VIEW_BINS};
use minerva::core::EventBody;
use minerva::core::{Market, SymbolSpec};
use minerva::risk::RiskManager;
use minerva::signal::oracle::Oracle;
use minerva::signal::profile::TradeProfile;
use minerva::strategy::Strategy;
use minerva::venues::wire::{DEFAULT_MAX_LEVELS, DecodePath, Decoded, SymbolTable};
use minerva::venues::{MarketDecoder, Venue, parse_depth_snapshot};
use std::sync::atomic::Ordering::Relaxed;

#[global_allocator]
static A: common::Counting = common::Counting;
use common::ALLOCS;

/// One venue's session: its lines (KuCoin's REST snapshots among them) and grid.
struct Session {
    venue: Venue,
    lines: Vec<Vec<u8>>,
    spec: SymbolSpec,
    /// Lines before the count starts.
    warm: usize,
    /// Depth events the measured part must apply at least.
    min_applied: u64,
}

/// Replays a session through decoder, book, traded-volume profile, oracle and risk
/// manager (the whole per-message hot path); returns allocations counted after the
/// first `warm` lines, the depth events applied and the oracle evaluations run in
/// that part, and the frames the reference reader had to read.
fn run(s: &Session, path: DecodePath) -> (usize, u64, u64, u64) {
    let (lines, spec, warm) = (&s.lines, &s.spec, s.warm);
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = MarketDecoder::new(s.venue, table, DEFAULT_MAX_LEVELS);
    dec.set_path(path);
    let mut book = Book::new(spec, &BookConfig::default());
    let mut view: Box<BookView<VIEW_BINS>> = Box::default();
    let (mut bids, mut asks) = (vec![0i64; 64], vec![0i64; 64]);
    let strategy = Strategy::parse(
        include_str!("../strategy_0.toml"),
        &[("market", spec.name.to_string())],
    )
    .unwrap();
    let mut oracle = Oracle::new(&strategy, spec);
    book.index_bins(strategy.bin_ticks);
    let mut risk = RiskManager::new(&strategy, spec);
    let mut profile = TradeProfile::new(strategy.bin_ticks, 60_000, 1 << 16);
    let (mut evaluations, mut evaluations_before) = (0u64, 0u64);
    let mut touch = 0i64;
    let mut before = 0;
    let mut applied_before = 0;
    for (i, l) in lines.iter().enumerate() {
        if i == warm {
            before = ALLOCS.load(Relaxed);
            applied_before = book.stats().applied;
            evaluations_before = evaluations;
        }
        if s.venue == Venue::Kucoin && common::is_kucoin_answer(l) {
            assert!(i < warm, "snapshot after warm-up");
            book.apply_snapshot(&parse_depth_snapshot(s.venue, l, spec).unwrap());
            continue;
        }
        let r = dec.decode(l, i as u64, &mut |ev| {
            book.on_event(ev);
            match ev.body {
                EventBody::Trade(t) => {
                    profile.on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker)
                }
                EventBody::Depth(c) if c.is_last() => {
                    evaluations += 1;
                    let (bt, bins, limit) = oracle.view_shape();
                    book.fill_view(bt, bins, limit, &mut view);
                    if let Ok(intent) = oracle.evaluate_view(&view, &profile) {
                        let _ = risk.propose(&intent, ev.event_ms);
                    }
                }
                _ => {}
            }
        });
        if let Ok(Decoded::Snapshot { .. }) = r {
            assert!(i < warm, "snapshot after warm-up");
            book.apply_snapshot(&parse_depth_snapshot(s.venue, l, spec).unwrap());
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
        evaluations - evaluations_before,
        dec.stats().full_path,
    )
}

#[test]
fn no_allocation_per_message_after_warm_up() {
    let mut sessions: Vec<Session> = Vec::new();
    let sample = common::sample_dir().join("spot");
    sessions.push(Session {
        venue: Venue::Binance,
        lines: common::json_lines(&[
            sample.join("btcusdt_20240808.gz"),
            sample.join("btcusdt_20240809.gz"),
        ]),
        spec: SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap(),
        warm: 2_000,
        min_applied: 1_000,
    });
    if let Some(d) = common::shared_data() {
        let u = d.join("hftbacktest-examples/usdm");
        sessions.push(Session {
            venue: Venue::Binance,
            lines: common::json_lines(&[
                u.join("btcusdt_20240718.gz"),
                u.join("btcusdt_20240719.gz"),
            ]),
            spec: SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap(),
            warm: 2_000,
            min_applied: 1_000,
        });
    }
    if let Some((lines, spec)) = common::kucoin_session("BCHSV-USDT") {
        sessions.push(Session {
            venue: Venue::Kucoin,
            lines: lines.into_iter().map(|(_, l)| l).collect(),
            spec,
            warm: 500,
            min_applied: 1_000,
        });
    }
    // The same capture as the unified account's `obu` pushes (10 ms deltas: fewer).
    if let Some((lines, spec)) = common::kucoin_obu_session("BCHSV-USDT") {
        sessions.push(Session {
            venue: Venue::Kucoin,
            lines: lines.into_iter().map(|(_, l)| l).collect(),
            spec,
            warm: 100,
            min_applied: 200,
        });
    }
    for s in &sessions {
        // KuCoin's reference reader is serde's derive (it collects a frame's changes in
        // `Vec`s): it runs only where the fast path gives up, which no frame of the
        // capture makes it do (checked below), so only the production path is counted.
        let paths: &[DecodePath] = match s.venue {
            Venue::Binance => &[DecodePath::Auto, DecodePath::Sonic],
            Venue::Kucoin => &[DecodePath::Auto],
        };
        for &path in paths {
            let (allocs, applied, evaluations, full_path) = run(s, path);
            let what = format!("{} {:?} {path:?}", s.venue.name(), s.spec.market);
            eprintln!(
                "{what}: {} messages, {applied} depth events applied, {evaluations} oracle evaluations, {allocs} allocations",
                s.lines.len() - s.warm
            );
            assert!(
                applied > s.min_applied,
                "{what}: the measured part must apply depth events"
            );
            assert_eq!(
                evaluations, applied,
                "{what}: the oracle runs after every applied event"
            );
            assert_eq!(allocs, 0, "{what}: allocations on the hot path");
            if s.venue == Venue::Kucoin {
                assert_eq!(full_path, 0, "{what}: every frame on the fast path");
            }
        }
    }
    assert_eq!(
        kucoin_signing_allocations(),
        0,
        "KuCoin order writing allocates"
    );
}

/// KuCoin's order path: allocations while writing and signing 1,000 requests once
/// warm — spot HF orders, and futures stops carrying the link's leverage and margin
/// mode (read from the shared terms).
fn kucoin_signing_allocations() -> usize {
    use minerva::core::{
        ClientId, Lots, Market, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, SymbolSpec,
        Ticks,
    };
    use minerva::venues::kucoin::{keys::KucoinKeys, orders, sign::Signer};
    let keys = KucoinKeys::new("k".into(), b"secret".to_vec(), b"phrase".to_vec());
    let terms = std::sync::Arc::new(orders::FuturesTerms::default());
    terms.set(20, false);
    let s = Signer::new(&keys).with_terms(terms);
    let spot = SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.001").unwrap();
    let futures = SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001").unwrap();
    let req = |ts: u64, kind, reduce_only| OrderRequest {
        cmd: OrderCmd::New(NewOrder {
            id: ClientId::from("mnv12s").unwrap(),
            side: OrderSide::Sell,
            kind,
            price: Ticks(600_000),
            qty: Lots(7),
            reduce_only,
        }),
        timestamp_ms: 1_700_000_000_000 + ts,
        recv_window_ms: 5_000,
    };
    let write = |ts: u64| {
        std::hint::black_box(
            orders::encode(&s, &spot, &req(ts, OrderKind::PostOnly, false)).unwrap(),
        );
        std::hint::black_box(
            orders::encode(&s, &futures, &req(ts, OrderKind::StopMarket, true)).unwrap(),
        );
    };
    write(0);
    let before = common::ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
    for ts in 0..500u64 {
        write(ts);
    }
    common::ALLOCS.load(std::sync::atomic::Ordering::Relaxed) - before
}
