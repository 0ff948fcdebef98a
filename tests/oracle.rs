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

/// The grid of the hand-built books: one tick and one lot are 1.
fn unit() -> SymbolSpec {
    SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "1", "1").unwrap()
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
/// 1040, 6 lots each, nothing at 1010 (the void: its prominence is 6 lots, above the
/// seed's 5) and a 30-lot wall at 1020.
fn long_book() -> Book {
    long_book_with_void(0)
}

/// [`long_book`] with `void_qty` lots resting at 1010.
fn long_book_with_void(void_qty: i64) -> Book {
    let bids = (951..=1000)
        .rev()
        .map(|p| lv(p, if p == 990 { 1000 } else { 10 }))
        .collect();
    let asks = (1001..=1040)
        .filter(|&p| p != 1010 || void_qty > 0)
        .map(|p| {
            lv(
                p,
                match p {
                    1010 => void_qty,
                    1020 => 30,
                    _ => 6,
                },
            )
        })
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
    let mut o = Oracle::new(&s, &unit());
    let p = TradeProfile::new(1, 60_000, 1024);
    let i = o.evaluate(&long_book(), &p).unwrap();
    // Ask share 258 / (1490 + 258) = 14.8 % <= 25 %: buyers fill the book.
    assert_eq!(i.side, Side::Long);
    assert_eq!(i.pressure_ppm, 258 * 1_000_000 / 1_748);
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
    let mut o = Oracle::new(&s, &unit());
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
    let mut o = Oracle::new(&strategy(&[("long_pressure", "0.05".into())]), &unit());
    assert_eq!(o.evaluate(&long_book(), &p), Err(NoSignal::NoPressure));
    // A traded-volume wall between the touch and the target cancels the entry.
    let mut o = Oracle::new(&strategy(&[]), &unit());
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

/// The seed's void conditions, `find_peaks(-y, height=0, threshold=…, prominence=5)`:
/// the void's bin must be empty (height 0) and stand 5 below the lower of its two sides'
/// highest bins (prominence), in the symbol's quantity units.
#[test]
fn voids_need_the_seeds_height_and_prominence() {
    let p = TradeProfile::new(1, 60_000, 1024);
    let void = |book: &Book, extra: &[(&str, String)], spec: &SymbolSpec| {
        Oracle::new(&strategy(extra), spec)
            .evaluate(book, &p)
            .map(|i| i.void_price)
    };
    // The empty bin at 1010 between 6-lot bins: prominence 6.
    assert_eq!(void(&long_book(), &[], &unit()), Ok(Ticks(1010)));
    assert_eq!(
        void(&long_book(), &[("void_prominence", "7".into())], &unit()),
        Err(NoSignal::NoVoid)
    );
    // One lot resting there: −1 is below height 0 (its prominence is still 5).
    let one_lot = long_book_with_void(1);
    assert_eq!(void(&one_lot, &[], &unit()), Err(NoSignal::NoVoid));
    assert_eq!(
        void(&one_lot, &[("void_height", "-1".into())], &unit()),
        Ok(Ticks(1010))
    );
    // In quantity units: with lots of 0.001, prominence 0.006 is 6 lots and 0.0061
    // rounds up to 7 (quantities are whole lots).
    let milli = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "1", "0.001").unwrap();
    assert_eq!(
        void(&long_book(), &[("void_prominence", "0.006".into())], &milli),
        Ok(Ticks(1010))
    );
    assert_eq!(
        void(
            &long_book(),
            &[("void_prominence", "0.0061".into())],
            &milli
        ),
        Err(NoSignal::NoVoid)
    );
    // A positive height can never hold: refused with the key's name.
    let err = Strategy::parse(
        include_str!("../strategy_0.toml"),
        &[("void_height", "1".into())],
    )
    .unwrap_err();
    assert!(err.to_string().contains("void_height"), "{err}");
}
