//! The oracle on hand-built books whose operation can be checked by hand.

use minerva::book::{Book, BookConfig};
use minerva::core::{Level, Lots, Market, SymbolSpec, Ticks};
use minerva::signal::oracle::{NoSignal, Oracle, Side};
use minerva::signal::profile::TradeProfile;
use minerva::strategy::Strategy;
use minerva::venues::binance::DepthSnapshot;

fn strategy(extra: &[(&str, String)]) -> Strategy {
    let mut o = vec![("bin_ticks", "1".to_string()), ("bins", "50".to_string())];
    o.extend(extra.iter().cloned());
    Strategy::parse(include_str!("../strategy_0.toml"), &o).unwrap()
}

fn lv(p: i64, q: i64) -> Level {
    Level {
        price: Ticks(p),
        qty: Lots(q),
    }
}

fn book(bids: Vec<Level>, asks: Vec<Level>) -> Book {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "1", "1").unwrap();
    let mut b = Book::new(
        &spec,
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
        bids,
        asks,
    });
    b
}

/// Bids 1000 down to 951, 10 lots each, with a 1000-lot wall at 990. Asks 1001 up to
/// 1040, 3 lots each, nothing at 1010 (the void) and a 30-lot wall at 1020.
fn long_book() -> Book {
    let bids = (951..=1000)
        .rev()
        .map(|p| lv(p, if p == 990 { 1000 } else { 10 }))
        .collect();
    let asks = (1001..=1040)
        .filter(|&p| p != 1010)
        .map(|p| lv(p, if p == 1020 { 30 } else { 3 }))
        .collect();
    book(bids, asks)
}

/// The same book mirrored: prices p → 2001 - p, sides swapped.
fn short_book() -> Book {
    let m = |l: Level| lv(2001 - l.price.0, l.qty.0);
    let b = long_book();
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    b.for_each_ask(|l| {
        bids.push(m(l));
        true
    });
    b.for_each_bid(|l| {
        asks.push(m(l));
        true
    });
    book(bids, asks)
}

#[test]
fn long_entry_fronts_the_bid_wall_and_targets_the_ask_wall() {
    let s = strategy(&[]);
    let mut o = Oracle::new(&s, Ticks(1));
    let p = TradeProfile::new(1, 60_000, 1024);
    let i = o.evaluate(&long_book(), &p).unwrap();
    // Ask share 144 / (1490 + 144) = 8.8 % <= 25 %: buyers fill the book.
    assert_eq!(i.side, Side::Long);
    assert_eq!(i.pressure_ppm, 144 * 1_000_000 / 1_634);
    assert_eq!(i.support_wall, Ticks(990));
    assert_eq!(i.entry, Ticks(991), "one tick in front of the wall");
    assert_eq!(i.target_wall, Ticks(1020));
    assert_eq!(
        i.take_profit,
        Ticks(1019),
        "one tick in front of the next wall up"
    );
    // Buffer 0.2 % of 991 = 1 tick, behind the wall: 990 - 1 - 1.
    assert_eq!(i.stop_loss, Ticks(988));
    assert_eq!((i.void_price, i.void_width_bins), (Ticks(1010), 19));
}

#[test]
fn short_is_the_mirror_image() {
    let s = strategy(&[]);
    let mut o = Oracle::new(&s, Ticks(1));
    let p = TradeProfile::new(1, 60_000, 1024);
    let i = o.evaluate(&short_book(), &p).unwrap();
    assert_eq!(i.side, Side::Short);
    assert_eq!(i.support_wall, Ticks(2001 - 990));
    assert_eq!(i.entry, Ticks(2001 - 991));
    assert_eq!(i.target_wall, Ticks(2001 - 1020));
    assert_eq!(i.take_profit, Ticks(2001 - 1019));
    assert_eq!(i.stop_loss, Ticks(2001 - 990 + 1 + 2));
}

#[test]
fn no_signal_reasons() {
    let p = TradeProfile::new(1, 60_000, 1024);
    // Balanced pressure.
    let mut o = Oracle::new(&strategy(&[("long_pressure", "0.05".into())]), Ticks(1));
    assert_eq!(o.evaluate(&long_book(), &p), Err(NoSignal::NoPressure));
    // A traded-volume wall between the touch and the target cancels the entry.
    let mut o = Oracle::new(&strategy(&[]), Ticks(1));
    let mut traded = TradeProfile::new(1, 60_000, 1024);
    traded.on_trade(0, Ticks(1005), Lots(30), true);
    assert_eq!(
        o.evaluate(&long_book(), &traded),
        Err(NoSignal::TradedWallInTheWay)
    );
    // A book that is not live.
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "1", "1").unwrap();
    let empty = Book::new(&spec, &BookConfig::default());
    assert_eq!(o.evaluate(&empty, &p), Err(NoSignal::BookNotLive));
}
