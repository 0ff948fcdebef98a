use super::*;
use crate::core::{Lots, Market, Ticks};

fn spec(market: Market) -> SymbolSpec {
    SymbolSpec::from_tick_lot("BTCUSDT", market, "0.1", "0.001").unwrap()
}

fn cfg() -> BookConfig {
    BookConfig {
        window_ticks: 4096,
        outside_levels: 64,
        pending_chunks: 16,
        ticker_history: 16,
    }
}

fn lv(p: i64, q: i64) -> Level {
    Level {
        price: Ticks(p),
        qty: Lots(q),
    }
}

fn chunk(first: u64, last: u64, pu: Option<u64>, bids: &[Level], asks: &[Level]) -> DepthChunk {
    let mut c = DepthChunk::new(first, last, pu, 0);
    c.flags |= DepthChunk::FIRST | DepthChunk::LAST;
    for (i, l) in bids.iter().chain(asks).enumerate() {
        c.levels[i] = *l;
    }
    c.n_bids = bids.len() as u8;
    c.n_levels = (bids.len() + asks.len()) as u8;
    c
}

fn snap(id: u64) -> DepthSnapshot {
    DepthSnapshot {
        last_update_id: id,
        event_ms: None,
        bids: vec![lv(1000, 5), lv(999, 1)],
        asks: vec![lv(1001, 2), lv(1005, 1)],
    }
}

#[test]
fn buffers_until_snapshot_then_syncs_spot() {
    let mut b = Book::new(&spec(Market::Spot), &cfg());
    b.on_depth(&chunk(95, 100, None, &[lv(1000, 7)], &[])); // covered by snapshot
    b.on_depth(&chunk(101, 103, None, &[lv(1000, 9)], &[]));
    assert_eq!(b.state(), SyncState::AwaitingSnapshot);
    b.apply_snapshot(&snap(100));
    assert_eq!(b.state(), SyncState::Live);
    assert_eq!(b.best_bid(), Some(lv(1000, 9)));
    let s = b.stats();
    assert_eq!((s.depth_msgs, s.applied, s.dropped_before_sync), (2, 1, 1));
    b.on_depth(&chunk(104, 104, None, &[], &[lv(1001, 0)]));
    assert_eq!(b.best_ask(), Some(lv(1005, 1)));
    assert_eq!(b.update_id(), 104);
}

#[test]
fn gap_moves_to_resync_and_new_snapshot_recovers() {
    let mut b = Book::new(&spec(Market::UsdM), &cfg());
    b.apply_snapshot(&snap(100));
    b.on_depth(&chunk(90, 105, Some(80), &[lv(998, 1)], &[]));
    assert_eq!(b.state(), SyncState::Live);
    b.on_depth(&chunk(110, 120, Some(107), &[], &[])); // pu != 105
    assert_eq!(b.state(), SyncState::Resyncing);
    assert!(b.needs_snapshot());
    assert_eq!(
        b.stats().last_gap,
        Some(Gap {
            book_id: 105,
            expected: 105,
            got: 107
        })
    );
    b.on_depth(&chunk(121, 130, Some(120), &[lv(997, 3)], &[]));
    b.apply_snapshot(&snap(115));
    assert_eq!(b.state(), SyncState::Live);
    assert_eq!(b.update_id(), 130);
    assert_eq!(b.stats().resyncs, 1);
}

#[test]
fn live_book_takes_only_a_newer_snapshot() {
    let mut b = Book::new(&spec(Market::Spot), &cfg());
    b.apply_snapshot(&snap(100));
    b.on_depth(&chunk(101, 104, None, &[lv(1000, 9)], &[]));
    b.apply_snapshot(&snap(104)); // no newer: the book keeps its own state
    assert_eq!(
        (b.best_bid(), b.stats().snapshots_ignored),
        (Some(lv(1000, 9)), 1)
    );
    // A reconnected session: its snapshot is past diffs this book never saw.
    b.apply_snapshot(&snap(200));
    assert_eq!(b.state(), SyncState::Live);
    assert_eq!(b.best_bid(), Some(lv(1000, 5)));
    b.on_depth(&chunk(195, 201, None, &[lv(999, 4)], &[]));
    assert_eq!((b.update_id(), b.best_bid()), (201, Some(lv(1000, 5))));
    assert_eq!(b.stats().snapshots, 2);
}

#[test]
fn crossed_book_forces_resync() {
    let mut b = Book::new(&spec(Market::Spot), &cfg());
    b.apply_snapshot(&snap(100));
    b.on_depth(&chunk(101, 101, None, &[lv(1003, 1)], &[]));
    assert_eq!(b.stats().crosses, 1);
    assert_eq!(b.state(), SyncState::Resyncing);
}

#[test]
fn split_event_applies_as_one() {
    let mut b = Book::new(&spec(Market::Spot), &cfg());
    b.apply_snapshot(&snap(100));
    let mut first = chunk(101, 102, None, &[lv(990, 1)], &[]);
    first.flags = DepthChunk::FIRST;
    let mut last = chunk(101, 102, None, &[], &[lv(1010, 1)]);
    last.flags = DepthChunk::LAST;
    b.on_depth(&first);
    b.on_depth(&last);
    let s = b.stats();
    assert_eq!((s.depth_msgs, s.applied, s.gaps), (1, 1, 0));
    assert_eq!(b.level_counts(), (3, 3));
}

#[test]
fn book_ticker_checked_before_or_after_its_depth_event() {
    let mut b = Book::new(&spec(Market::Spot), &cfg());
    b.apply_snapshot(&snap(100));
    let t = |u, bp, bq, ap, aq| BookTicker {
        update_id: u,
        bid_price: Ticks(bp),
        bid_qty: Lots(bq),
        ask_price: Ticks(ap),
        ask_qty: Lots(aq),
        transact_ms: 0,
    };
    b.on_book_ticker(&t(101, 1000, 6, 1001, 2)); // ahead of the book
    b.on_depth(&chunk(101, 101, None, &[lv(1000, 6)], &[]));
    b.on_book_ticker(&t(101, 1000, 6, 1001, 2)); // after
    b.on_book_ticker(&t(101, 1000, 7, 1001, 2)); // wrong qty
    let s = b.ticker_stats();
    assert_eq!((s.checked, s.mismatches), (3, 1));
}

#[test]
fn a_book_without_the_cross_check_keeps_the_same_levels() {
    let mut c = cfg();
    c.ticker_history = 0;
    let (mut on, mut off) = (
        Book::new(&spec(Market::Spot), &cfg()),
        Book::new(&spec(Market::Spot), &c),
    );
    let ticker = BookTicker {
        update_id: 101,
        bid_price: Ticks(1000),
        bid_qty: Lots(6),
        ask_price: Ticks(1001),
        ask_qty: Lots(3),
        transact_ms: 0,
    };
    for b in [&mut on, &mut off] {
        b.apply_snapshot(&snap(100));
        b.on_book_ticker(&ticker);
        b.on_depth(&chunk(101, 101, None, &[lv(1000, 6)], &[lv(1001, 3)]));
        b.on_book_ticker(&ticker);
    }
    assert_eq!(
        (on.ticker_stats().checked, off.ticker_stats().checked),
        (2, 0)
    );
    assert_eq!(on.stats(), off.stats());
    assert_eq!(
        (on.best_bid(), on.best_ask()),
        (off.best_bid(), off.best_ask())
    );
    assert_eq!(on.level_counts(), off.level_counts());
}

#[test]
fn window_follows_price_and_keeps_far_levels() {
    for outside in [64, 256] {
        let mut c = cfg();
        c.outside_levels = outside;
        walk_up(Book::new(&spec(Market::Spot), &c));
    }
}

fn walk_up(mut b: Book) {
    b.apply_snapshot(&snap(100));
    // Walk the market up 20,000 ticks, far beyond the 4096-tick window: each step
    // adds a bid and moves the single ask up.
    b.on_depth(&chunk(
        101,
        101,
        None,
        &[],
        &[lv(1001, 0), lv(1005, 0), lv(1001, 1)],
    ));
    let mut id = 101;
    for step in 1..=200 {
        id += 1;
        let p = 1000 + step * 100;
        b.on_depth(&chunk(
            id,
            id,
            None,
            &[lv(p, 1)],
            &[lv(p - 99, 0), lv(p + 1, 1)],
        ));
    }
    assert_eq!(b.state(), SyncState::Live);
    assert!(b.stats().recenters > 0);
    assert_eq!(b.best_bid().unwrap().price, Ticks(21_000));
    assert_eq!(b.best_ask().unwrap().price, Ticks(21_001));
    // Every bid placed on the way up is still there, or counted as dropped when the
    // side store is too small.
    let dropped = b.stats().overflow_dropped as usize;
    assert_eq!(b.level_counts().0 + dropped, 2 + 200);
    assert_eq!(dropped > 0, b.level_counts().0 < 202);
}

/// The pressure's 64-bit shortcut answers as the 128-bit division, at its edges too.
#[test]
fn ask_share_matches_the_wide_division() {
    let wide = |bid: i64, ask: i64| {
        let total = bid as i128 + ask as i128;
        if total <= 0 {
            500_000
        } else {
            (ask as i128 * 1_000_000 / total) as u32
        }
    };
    let edges = [
        0,
        1,
        7,
        999_999,
        (1 << 40) - 1,
        1 << 40,
        (1 << 40) + 1,
        i64::MAX,
        -1,
        -(1 << 40),
        i64::MIN,
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let random = (0..10_000).map(|_| rng.i64(-(1 << 42)..1 << 42));
    let values: Vec<i64> = edges.into_iter().chain(random).collect();
    for (i, &bid) in values.iter().enumerate() {
        for &ask in values.iter().skip(i % 97).step_by(97) {
            assert_eq!(ask_share_ppm(bid, ask), wide(bid, ask), "{bid} {ask}");
        }
    }
}
