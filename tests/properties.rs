//! Property tests: exact decimal round trips, and the book against a reference map.

use minerva::book::{Book, BookConfig, SyncState};
use minerva::core::decimal::{canonical, parse_scaled};
use minerva::core::{DepthChunk, Level, Lots, Market, PriceGrid, SymbolSpec, Ticks};
use minerva::venues::binance::DepthSnapshot;
use proptest::prelude::*;
use std::collections::BTreeMap;

proptest! {
    #[test]
    fn canonical_text_parses_back_exactly(m in 0i64..=i64::MAX, scale in 0u8..=18) {
        let text = canonical(m, scale);
        prop_assert_eq!(parse_scaled(text.as_bytes(), scale), Ok(m));
        // Padding with zeros (how Binance prints) changes nothing.
        let padded = if text.contains('.') { format!("{text}000") } else { format!("{text}.000") };
        prop_assert_eq!(parse_scaled(padded.as_bytes(), scale), Ok(m));
    }

    #[test]
    fn ticks_round_trip_on_any_grid(ticks in 0i64..1_000_000_000, tick in prop::sample::select(vec!["0.01", "0.1", "0.5", "0.25", "5", "0.00000001", "10"])) {
        let g = PriceGrid::from_tick_size(tick).unwrap();
        let text = g.format(Ticks(ticks));
        prop_assert_eq!(g.parse(text.as_bytes()), Ok(Ticks(ticks)));
    }

    #[test]
    fn off_grid_prices_are_refused_not_rounded(ticks in 0i64..1_000_000, frac in 1i64..5) {
        let g = PriceGrid::from_tick_size("0.5").unwrap();
        let m = ticks * 5 + frac; // at 1 decimal place, not a multiple of 5
        let text = canonical(m, 1);
        prop_assert!(g.parse(text.as_bytes()).is_err());
    }
}

/// One generated level change: (is_bid, price offset, qty).
fn updates() -> impl Strategy<Value = Vec<Vec<(bool, i64, i64)>>> {
    prop::collection::vec(
        prop::collection::vec((any::<bool>(), 0i64..10_000, 0i64..4), 0..12),
        1..200,
    )
}

fn spec() -> SymbolSpec {
    SymbolSpec::from_tick_lot("X", Market::UsdM, "1", "1").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bids live in [0, 10000), asks in [10000, 20000): never crossed. The window is
    /// only 4096 ticks, so levels move between the array and the side store.
    #[test]
    fn book_matches_reference_map(events in updates()) {
        let cfg = BookConfig { window_ticks: 4096, outside_levels: 20_000, pending_chunks: 16, ticker_history: 16 };
        let mut book = Book::new(&spec(), &cfg);
        let mut bids: BTreeMap<i64, i64> = (9_990..10_000).map(|p| (p, 1)).collect();
        let mut asks: BTreeMap<i64, i64> = (10_000..10_010).map(|p| (p, 1)).collect();
        let lv = |(p, q): (&i64, &i64)| Level { price: Ticks(*p), qty: Lots(*q) };
        book.apply_snapshot(&DepthSnapshot {
            last_update_id: 10,
            event_ms: None,
            bids: bids.iter().rev().map(lv).collect(),
            asks: asks.iter().map(lv).collect(),
        });
        for (k, ev) in events.iter().enumerate() {
            let id = 11 + k as u64;
            // Futures sync: the first event straddles the snapshot id (U <= L <= u).
            let first = if k == 0 { 10 } else { id };
            let mut c = DepthChunk::new(first, id, Some(id - 1), 0);
            c.flags |= DepthChunk::FIRST | DepthChunk::LAST;
            let mut n = 0;
            for &(_, off, q) in ev.iter().filter(|e| e.0) {
                c.levels[n] = Level { price: Ticks(off), qty: Lots(q) };
                n += 1;

                if q == 0 { bids.remove(&off); } else { bids.insert(off, q); }
            }
            c.n_bids = n as u8;
            for &(_, off, q) in ev.iter().filter(|e| !e.0) {
                let p = 10_000 + off;
                c.levels[n] = Level { price: Ticks(p), qty: Lots(q) };
                n += 1;
                if q == 0 { asks.remove(&p); } else { asks.insert(p, q); }
            }
            c.n_levels = n as u8;
            book.on_depth(&c);
            prop_assert_eq!(book.state(), SyncState::Live);
            prop_assert_eq!(book.best_bid(), bids.iter().next_back().map(lv));
            prop_assert_eq!(book.best_ask(), asks.iter().next().map(lv));
            if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                prop_assert!(b.price < a.price);
            }
        }
        prop_assert_eq!(book.level_counts(), (bids.len(), asks.len()));
        let mut all = Vec::new();
        book.for_each_bid(|l| { all.push(l); true });
        prop_assert_eq!(all, bids.iter().rev().map(lv).collect::<Vec<_>>());
    }

    /// An update that crosses the book is never left standing: the book resyncs.
    #[test]
    fn crossing_update_forces_resync(p in 10_000i64..10_100) {
        let mut book = Book::new(&spec(), &BookConfig { window_ticks: 4096, outside_levels: 64, pending_chunks: 16, ticker_history: 16 });
        book.apply_snapshot(&DepthSnapshot {
            last_update_id: 1,
            event_ms: None,
            bids: vec![Level { price: Ticks(9_999), qty: Lots(1) }],
            asks: vec![Level { price: Ticks(10_000), qty: Lots(1) }],
        });
        let mut c = DepthChunk::new(1, 2, Some(0), 0);
        c.flags |= DepthChunk::FIRST | DepthChunk::LAST;
        c.levels[0] = Level { price: Ticks(p), qty: Lots(1) };
        c.n_bids = 1;
        c.n_levels = 1;
        book.on_depth(&c);
        prop_assert_eq!(book.state(), SyncState::Resyncing);
        prop_assert_eq!(book.stats().crosses, 1);
    }
}

mod peaks {
    use minerva::signal::peaks::{Interval, PeakParams, find_peaks, prominence};
    use proptest::prelude::*;

    proptest! {
        /// Every reported peak is a local maximum (plateau middle) that passes each
        /// condition, peaks are at least `distance` apart, and adding conditions only
        /// removes peaks.
        #[test]
        fn peaks_satisfy_their_conditions(
            y in prop::collection::vec(0i64..8, 0..80),
            h in prop::option::of(0i64..8),
            t in prop::option::of(0i64..3),
            d in prop::option::of(1.0f64..6.0),
            pr in prop::option::of(0i64..5),
        ) {
            let all = find_peaks(&y, &PeakParams::default()).unwrap();
            let p = PeakParams {
                height: h.map(Interval::at_least),
                threshold: t.map(Interval::at_least),
                distance: d,
                prominence: pr.map(Interval::at_least),
                wlen: None,
            };
            let got = find_peaks(&y, &p).unwrap();
            for w in got.windows(2) {
                prop_assert!(w[0] < w[1]);
                if let Some(d) = d {
                    prop_assert!((w[1] - w[0]) as f64 >= d.ceil());
                }
            }
            for &k in &got {
                prop_assert!(all.contains(&k));
                prop_assert!(y[k - 1] <= y[k] && y[k + 1] <= y[k]);
                if let Some(h) = h { prop_assert!(y[k] >= h); }
                if let Some(t) = t { prop_assert!(y[k] - y[k - 1] >= t && y[k] - y[k + 1] >= t); }
                if let Some(pr) = pr { prop_assert!(prominence(&y, k, None) >= pr); }
            }
            // The highest peak survives the distance filter when nothing else applies.
            if h.is_none() && t.is_none() && pr.is_none() && !all.is_empty() {
                let top = all.iter().map(|&k| y[k]).max().unwrap();
                prop_assert!(got.iter().any(|&k| y[k] == top));
            }
        }
    }
}

mod risk {
    use minerva::core::{Lots, Market, SymbolSpec, Ticks};
    use minerva::risk::RiskManager;
    use minerva::signal::oracle::{Intent, Side};
    use minerva::strategy::Strategy as StrategyFile;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Propose(bool, i64),
        Close(usize, i64),
        Cancel(usize),
        Kill(bool),
        NextDay,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (any::<bool>(), 550_000i64..650_000).prop_map(|(l, e)| Step::Propose(l, e)),
            2 => (0usize..8, -80_000_000_000i64..20_000_000_000).prop_map(|(k, p)| Step::Close(k, p)),
            1 => (0usize..8).prop_map(Step::Cancel),
            1 => any::<bool>().prop_map(Step::Kill),
            1 => Just(Step::NextDay),
        ]
    }

    proptest! {
        /// Whatever the sequence of proposals, fills and cancels, no accepted operation
        /// breaks a limit.
        #[test]
        fn no_accepted_operation_breaks_a_limit(
            steps in prop::collection::vec(step(), 1..120),
            max_open in 1u32..6,
            per_trade in prop::sample::select(vec!["0.01", "0.03", "0.2", "0.5"]),
            leverage in 1u32..30,
        ) {
            let s = StrategyFile::parse(include_str!("../strategy_0.toml"), &[
                ("max_concurrent_trades", max_open.to_string()),
                ("percentage_per_trade", per_trade.to_string()),
                ("max_leverage", leverage.to_string()),
            ]).unwrap();
            let mut spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
            spec.min_qty = Lots(1);
            spec.min_notional = Some(5 * 10i128.pow(4));
            let mut r = RiskManager::new(&s, &spec);
            let limit_in_use = s.capital.0 as i128 * s.max_capital_in_use_ppm as i128 / 1_000_000;
            let daily_limit = s.capital.0 as i128 * s.daily_loss_limit_ppm as i128 / 1_000_000;
            let (mut now, mut open, mut killed, mut today) = (0u64, Vec::<(u64, Side, i64)>::new(), false, 0i128);
            for st in steps {
                match st {
                    Step::Propose(long, e) => {
                        let side = if long { Side::Long } else { Side::Short };
                        let (tp, sl) = if long { (e + 400, e - 200) } else { (e - 400, e + 200) };
                        let i = Intent { side, entry: Ticks(e), take_profit: Ticks(tp), stop_loss: Ticks(sl),
                            support_wall: Ticks(e), target_wall: Ticks(tp), void_price: Ticks(e), void_width_bins: 1, pressure_ppm: 0 };
                        if let Ok(op) = r.propose(&i, now) {
                            prop_assert!(!killed, "accepted with the kill switch on");
                            prop_assert!(today > -daily_limit, "accepted past the daily loss limit");
                            prop_assert!(op.qty.0 >= 1 && op.qty.0 % spec.qty.step().0 == 0);
                            prop_assert!(e as i128 * op.qty.0 as i128 >= 5 * 10i128.pow(4), "under min notional");
                            prop_assert!(open.iter().all(|&(_, sd, en)| sd != side || (en - e).abs() > s.similar_entry_ticks as i64));
                            prop_assert!(op.leverage <= s.max_leverage);
                            open.push((op.id, side, e));
                        }
                    }
                    Step::Close(k, pnl) => if !open.is_empty() {
                        let (id, _, _) = open.remove(k % open.len());
                        r.close(id, pnl, 0, now);
                        today += pnl as i128;
                    },
                    Step::Cancel(k) => if !open.is_empty() {
                        let (id, _, _) = open.remove(k % open.len());
                        r.cancel(id);
                    },
                    Step::Kill(on) => { r.set_kill_switch(on); killed = on; }
                    Step::NextDay => { now += 86_400_000; today = 0; }
                }
                prop_assert!(r.open_count() <= max_open as usize);
                prop_assert_eq!(r.open_count(), open.len());
                prop_assert!(r.in_use_e8() as i128 <= limit_in_use);
                prop_assert!(r.in_use_e8() >= 0);
            }
        }
    }
}
