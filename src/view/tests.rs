//! The view drawn on ratatui's test backend for a known book: the ladder's bins with
//! the walls and the void the oracle finds, the pressure, the counters.

use super::*;
use crate::book::{Book, BookConfig};
use crate::core::{DepthSnapshot, Level, Lots, Market, SymbolSpec, Ticks};
use crate::pipeline::status::{BookPost, Parts, Publisher};
use crate::strategy::Strategy;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn lv(p: i64, q: i64) -> Level {
    Level {
        price: Ticks(p),
        qty: Lots(q),
    }
}

/// Bids 1000 down to 951, 10 lots each, a 1000-lot wall at 990; asks 1001 up to 1040,
/// 6 lots each, nothing at 1010 (a void) and a 30-lot wall at 1020 (tests/oracle.rs's
/// long book).
fn book(spec: &SymbolSpec) -> Book {
    let mut b = Book::new(
        spec,
        &BookConfig {
            window_ticks: 4096,
            outside_levels: 64,
            pending_chunks: 16,
            ticker_history: 16,
        },
    );
    b.apply_snapshot(&DepthSnapshot {
        last_update_id: 1,
        event_ms: None,
        bids: (951..=1000)
            .rev()
            .map(|p| lv(p, if p == 990 { 1000 } else { 10 }))
            .collect(),
        asks: (1001..=1040)
            .filter(|&p| p != 1010)
            .map(|p| lv(p, if p == 1020 { 30 } else { 6 }))
            .collect(),
    });
    b
}

fn rendered(screen: &Screen, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, screen)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

#[test]
fn the_ladder_shows_the_walls_the_void_and_the_counters_of_a_known_book() {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "1", "1").unwrap();
    let strategy = Strategy::parse(
        include_str!("../../strategy_0.toml"),
        &[("bin_ticks", "1".into()), ("bins", "50".into())],
    )
    .unwrap();
    let mut b = book(&spec);
    let mut post = BookPost {
        stats: b.stats(),
        live: true,
        bids: Default::default(),
        asks: Default::default(),
        view: crate::pipeline::View::EMPTY,
        lines: Default::default(),
    };
    b.for_each_bid(|l| post.bids.try_push(l).is_ok());
    b.for_each_ask(|l| post.asks.try_push(l).is_ok());
    b.fill_view(1, 50, strategy.limit_orderbook, &mut post.view);
    let mut p = Publisher::new(
        std::slice::from_ref(&spec),
        &strategy,
        "replay",
        "paper (simulated exchange)",
    );
    let parts = Parts {
        book: Some(&post),
        ring_messages: [7, 5, 3],
        ..Parts::default()
    };
    let status = p.compose(&parts, &Default::default(), 1.5);
    // The survey found what the oracle's evaluation reads: a bid wall 10 bins down,
    // an ask wall 19 bins up, and the empty ask bin 9 as a void.
    let bins = &status.bins;
    assert!(
        bins.bids[10].wall && bins.bids[10].price == 990.0,
        "{:?}",
        bins.bids[10]
    );
    assert!(bins.asks[19].wall && bins.asks[19].price == 1020.0);
    assert!(bins.asks[9].void && bins.asks[9].qty == 0.0);
    assert_eq!(bins.leaning.as_deref(), Some("long"));
    let screen = Screen {
        feeds: vec![FeedView {
            name: "this run".into(),
            status: Some(std::sync::Arc::new(status)),
            ended: None,
        }],
        paused: true,
        ..Screen::default()
    };
    let lines = rendered(&screen, 140, 60);
    let text = lines.join("\n");
    let row_of = |price: &str| {
        lines
            .iter()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(price))
            .unwrap_or_else(|| panic!("no ladder row for {price}:\n{text}"))
    };
    assert!(row_of("990 ").contains("WALL"), "{text}");
    assert!(row_of("1020 ").contains("WALL"), "{text}");
    assert!(row_of("1010 ").contains("void"), "{text}");
    assert!(!row_of("995 ").contains("WALL"), "{text}");
    // Asks above bids: the far ask first, the touch row between the sides.
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(at("1020 ") < at("── asks ▲") && at("── bids ▼") < at("990 "));
    assert!(text.contains("bid 1000 × 10 │ ask 1001 × 6"), "{text}");
    assert!(text.contains("ask share 14.8 %"), "{text}");
    assert!(text.contains("→ long"), "{text}");
    assert!(text.contains("ring feed→book 7 msgs"), "{text}");
    assert!(text.contains("gaps 0"), "{text}");
    assert!(text.contains("PAUSED"), "{text}");
    assert!(text.contains("BTCUSDT · replay"), "{text}");
}

#[test]
fn a_feed_without_a_snapshot_says_why() {
    let screen = Screen {
        feeds: vec![FeedView {
            name: "/tmp/x.sock".into(),
            status: None,
            ended: Some("/tmp/x.sock: No such file or directory".into()),
        }],
        ..Screen::default()
    };
    let text = rendered(&screen, 100, 30).join("\n");
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn walls_beyond_the_nearest_bins_stay_on_a_small_screen() {
    let row = |price: f64, wall: bool| BinRow {
        price,
        qty: if wall { 50.0 } else { 1.0 },
        traded: 0.0,
        wall,
        void: false,
    };
    let mut s = Status::default();
    s.book.live = true;
    s.bins.asks = (0..60).map(|k| row(1000.0 + k as f64, k == 45)).collect();
    s.bins.bids = (0..60).map(|k| row(999.0 - k as f64, k == 50)).collect();
    let screen = Screen {
        feeds: vec![FeedView {
            name: "x".into(),
            status: Some(std::sync::Arc::new(s)),
            ended: None,
        }],
        ..Screen::default()
    };
    let lines = rendered(&screen, 120, 34);
    let text = lines.join("\n");
    let wall_rows: Vec<_> = lines.iter().filter(|l| l.contains("WALL")).collect();
    assert_eq!(wall_rows.len(), 2, "{text}");
    assert!(
        wall_rows[0].contains("1045") && wall_rows[1].contains("949"),
        "{text}"
    );
    assert!(text.contains("⋮"), "{text}");
}

/// A run of several symbols: the publisher makes a line per symbol from each stage's
/// lines (each on its own grid), the account sums the traders, and the view draws the
/// table under the first symbol's panels.
#[test]
fn a_run_of_several_symbols_shows_a_line_per_symbol() {
    use crate::gateway::trader::TraderLine;
    use crate::pipeline::status::BookLine;
    let btc = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
    let eth = SymbolSpec::from_tick_lot("ETHUSDT", Market::UsdM, "0.01", "0.001").unwrap();
    let strategy = Strategy::parse(include_str!("../../strategy_0.toml"), &[]).unwrap();
    let mut p = Publisher::new(&[btc.clone(), eth.clone()], &strategy, "ws://x", "paper");
    let mut book = BookPost {
        stats: Default::default(),
        live: true,
        bids: Default::default(),
        asks: Default::default(),
        view: crate::pipeline::View::EMPTY,
        lines: Default::default(),
    };
    book.lines.push(BookLine {
        live: true,
        bid: Some(lv(600_000, 5)),
        ask: Some(lv(600_001, 7)),
        stats: Default::default(),
    });
    book.lines.push(BookLine {
        live: false,
        bid: Some(lv(260_012, 1)),
        ask: None,
        stats: crate::book::BookStats {
            gaps: 2,
            resyncs: 1,
            ..Default::default()
        },
    });
    let mut slot = crate::pipeline::status::Slot::new(2);
    // ETHUSDT's own panels: its ladder.
    slot.book_more[0].live = true;
    slot.book_more[0].bids.push(lv(260_012, 1));
    let signal = slot.signal.as_deref_mut().unwrap();
    signal.lines.push((120, 250_000));
    signal.lines.push((80, 900_000));
    let line = |position: i64, realised: f64, in_flight: usize| {
        let mut t = TraderLine {
            position: Lots(position),
            in_flight,
            ..TraderLine::default()
        };
        t.risk.realised_e8 = (realised * 1e8) as i64;
        t.risk.accepted = 3;
        t.risk.refused = 1;
        t
    };
    let traders = [line(15, 1.5, 1), line(-2_000, -0.25, 2)];
    let parts = Parts {
        book: Some(&book),
        signal: slot.signal.as_deref(),
        traders: Some(&traders),
        book_more: &slot.book_more,
        signal_more: &slot.signal_more,
        ..Parts::default()
    };
    let status = p.compose(&parts, &Default::default(), 2.0);
    let y = &status.symbols;
    assert_eq!(y.len(), 2);
    assert_eq!(
        (y[0].symbol.as_str(), y[0].bid, y[0].ask),
        ("BTCUSDT", Some(60000.0), Some(60000.1))
    );
    assert_eq!(
        (y[1].symbol.as_str(), y[1].live, y[1].bid, y[1].ask),
        ("ETHUSDT", false, Some(2600.12), None)
    );
    assert_eq!((y[0].evaluations, y[1].pressure), (120, 0.9));
    assert_eq!((y[0].position, y[1].position), (0.015, -2.0));
    assert_eq!((y[1].gaps, y[1].resyncs, y[1].in_flight), (2, 1, 2));
    // The account is the run's: both symbols' realised PnL and operations.
    assert_eq!(status.account.realised, 1.25);
    assert_eq!(status.account.in_flight, 3);
    assert_eq!(status.account.accepted, 6);
    // The second symbol's panels, on its own grid.
    assert_eq!(status.details.len(), 1);
    let eth = &status.details[0];
    assert_eq!(eth.symbol, "ETHUSDT");
    assert_eq!(eth.book.bids, vec![(2600.12, 0.001)]);
    let mut screen = Screen {
        feeds: vec![FeedView {
            name: "run".into(),
            status: Some(std::sync::Arc::new(status)),
            ended: None,
        }],
        ..Screen::default()
    };
    let lines = rendered(&screen, 140, 50);
    let text = lines.join("\n");
    assert!(
        text.contains("symbols (2; the panels above show BTCUSDT)"),
        "{text}"
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains(name) && l.contains("0."))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
    };
    assert!(
        row("ETHUSDT").contains("2600.12") && row("ETHUSDT").contains("sync"),
        "{text}"
    );
    assert!(
        row("ETHUSDT").contains("-0.25") && row("ETHUSDT").contains("2/1"),
        "{text}"
    );
    assert!(
        row("BTCUSDT").contains("60000.1") && row("BTCUSDT").contains("+1.50"),
        "{text}"
    );
    // ↓: the second symbol's panels, the table of symbols still under them.
    screen.symbol = 1;
    let text = rendered(&screen, 140, 50).join("\n");
    assert!(text.contains("ETHUSDT (2/2)"), "{text}");
    assert!(text.contains("the panels above show ETHUSDT"), "{text}");
    assert!(text.contains("2600.12"), "{text}");
}
