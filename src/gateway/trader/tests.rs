/// A trader on the simulated exchange, signing with a test secret.
fn paper(
    spec: &crate::core::SymbolSpec,
    strategy: &crate::strategy::Strategy,
    opts: &crate::sim::SimOptions,
) -> super::Trader {
    super::Trader::simulated(
        spec,
        strategy,
        crate::venues::binance::sign::Signer::from_secret(b"k"),
        opts,
    )
}

/// A long intent at `entry` with its exits; the walls a tick beyond entry and take
/// profit, the void between them (as the oracle places them).
fn long(entry: i64, take_profit: i64, stop_loss: i64) -> crate::signal::oracle::Intent {
    crate::signal::oracle::Intent {
        side: crate::signal::oracle::Side::Long,
        entry: crate::core::Ticks(entry),
        take_profit: crate::core::Ticks(take_profit),
        stop_loss: crate::core::Ticks(stop_loss),
        support_wall: crate::core::Ticks(entry - 1),
        target_wall: crate::core::Ticks(take_profit + 1),
        void_price: crate::core::Ticks((entry + take_profit) / 2),
        void_width_bins: 10,
        pressure_ppm: 200_000,
    }
}

mod ids {
    use super::super::*;

    #[test]
    fn client_ids_round_trip() {
        assert_eq!(parse_id(&id(42, b't')), Some((42, b't')));
        assert_eq!(parse_id("mnv"), None);
        assert_eq!(parse_id("xyz1e"), None);
    }
}

mod races {
    use super::super::*;
    use crate::core::Market;
    use crate::sim::testkit;

    #[test]
    fn a_fill_that_beats_the_withdrawal_keeps_the_position() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let strategy = Strategy::parse(
            include_str!("../../../strategy_0.toml"),
            &[("volume_window_secs", "1".into())],
        )
        .unwrap();
        // Requests take 500 ms to arrive.
        let opts = SimOptions {
            latency: crate::sim::latency::LatencyModel::parse("order=500ms").unwrap(),
            ..SimOptions::default()
        };
        let mut t = super::paper(&spec, &strategy, &opts);
        t.on_snapshot(&testkit::snapshot(&[(6_000_100, 100)], &[(6_000_200, 100)]));
        t.on_market(&testkit::depth(101, 1_000, &[], &[]));
        let intent = super::long(6_000_000, 6_100_000, 5_900_000);
        assert_eq!(t.on_intent(&intent, 1_000), Outcome::Sent);
        t.on_market(&testkit::depth(102, 1_600, &[], &[])); // the entry rests
        // Past the 1 s window: the cancel leaves at 2.1 s and arrives at 2.6 s…
        t.on_market(&testkit::trade(2_100, 6_000_150, 1, false));
        assert_eq!(t.stats.requests, 2);
        // …but a sell through the entry at 2.2 s fills it first.
        t.on_market(&testkit::trade(2_200, 5_999_000, 1_000, true));
        assert_eq!(t.stats.entries_filled, 1);
        t.on_market(&testkit::trade(2_700, 6_000_150, 1, false)); // cancel arrives: refused
        assert_eq!(t.stats.entries_withdrawn, 0);
        assert_eq!(
            t.open_operations(),
            1,
            "the filled operation is still followed"
        );
        assert!(t.exchange.position().0 > 0);
        let s = t.shutdown();
        assert_eq!(s.open_positions, 1);
    }

    #[test]
    fn recorded_feed_delay_is_local_minus_exchange_time_less_the_offset() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let strategy = Strategy::parse(include_str!("../../../strategy_0.toml"), &[]).unwrap();
        let opts = SimOptions {
            latency: crate::sim::latency::LatencyModel::parse("feed=recorded+1ms").unwrap(),
            ..SimOptions::default()
        };
        let mut t = super::paper(&spec, &strategy, &opts);
        // The local clock runs 1.3 s behind the exchange's; the first event is the
        // fastest seen so far: only the 1 ms floor.
        let mut ev = testkit::trade(10_000, 6_000_000, 1, true);
        ev.recv_ns = 8_700_000_000;
        t.on_market(&ev);
        assert_eq!(t.now_us, 10_001_000);
        // 40 ms slower than that one: seen 41 ms after the exchange published it.
        let mut ev = testkit::trade(11_000, 6_000_000, 1, true);
        ev.recv_ns = 9_740_000_000;
        t.on_market(&ev);
        assert_eq!(t.now_us, 11_041_000);
        // A faster one moves the offset: 0 + 1 ms.
        let mut ev = testkit::trade(12_000, 6_000_000, 1, true);
        ev.recv_ns = 10_690_000_000;
        t.on_market(&ev);
        assert_eq!(t.now_us, 12_001_000);
    }

    /// COIN-M through the trader and the simulated exchange, by hand (as the risk
    /// manager's test): 720 BTCUSD_PERP contracts long at 60,000.0 with 2 BTC, out at the
    /// take profit 60,600.0. Gross 720 × 100 × (1/60,000 − 1/60,600) = 0.01188119 BTC,
    /// maker fees 0.00024 + 0.00023762: +0.01140357 BTC realised, in the coin.
    #[test]
    fn coin_m_operation_closes_with_inverse_pnl() {
        let spec = SymbolSpec::from_tick_lot("BTCUSD_PERP", Market::CoinM, "0.1", "1").unwrap();
        let strategy = Strategy::parse(
            include_str!("../../../strategy_0.toml"),
            &[("market", "BTCUSD_PERP".into()), ("capital", "2".into())],
        )
        .unwrap();
        let mut t = super::paper(&spec, &strategy, &SimOptions::default());
        t.on_snapshot(&testkit::snapshot(
            &[(599_999, 10_000)],
            &[(600_001, 10_000)],
        ));
        t.on_market(&testkit::depth(101, 1_000, &[], &[]));
        let intent = super::long(600_000, 606_000, 594_000);
        assert_eq!(t.on_intent(&intent, 1_000), Outcome::Sent);
        // Sellers trade through the entry, then buyers through the take profit.
        t.on_market(&testkit::trade(2_000, 599_990, 10_000, true));
        assert_eq!(t.stats.entries_filled, 1);
        assert_eq!(t.exchange.position(), Lots(720));
        t.on_market(&testkit::trade(3_000, 606_010, 10_000, false));
        assert_eq!(t.stats.take_profits, 1);
        let r = t.risk_stats();
        assert_eq!(r.fees_e8, 24_000 + 23_762);
        assert_eq!(r.realised_e8, 1_188_119 - 24_000 - 23_762);
    }
}

mod held_stops {
    use super::super::*;
    use crate::core::Market;
    use crate::sim::testkit;

    /// On a venue without stop orders (KuCoin's HF spot) the take profit rests as a
    /// limit and the trader fires the stop itself: a trade through it cancels the take
    /// profit and a market order closes the operation at the stop.
    #[test]
    fn a_trade_through_the_stop_closes_the_operation_with_a_market_order() {
        let mut spec =
            SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.01", "0.00001").unwrap();
        spec.venue = crate::core::Venue::Kucoin;
        let strategy = Strategy::parse(include_str!("../../../strategy_0.toml"), &[]).unwrap();
        let signer = crate::venues::kucoin::sign::Signer::new(
            &crate::venues::kucoin::keys::KucoinKeys::paper(),
        );
        let mut t = Trader::simulated(&spec, &strategy, signer, &SimOptions::default());
        assert!(t.holds_stops);
        t.on_snapshot(&testkit::snapshot(&[(6_000_100, 100)], &[(6_000_200, 100)]));
        t.on_market(&testkit::depth(101, 1_000, &[], &[]));
        let intent = super::long(6_000_000, 6_100_000, 5_900_000);
        assert_eq!(t.on_intent(&intent, 1_000), Outcome::Sent);
        t.on_market(&testkit::depth(102, 1_100, &[], &[]));
        // A sell through the entry fills it: the take profit goes out, not an OCO.
        t.on_market(&testkit::trade(1_200, 5_999_000, 1_000_000, true));
        t.on_market(&testkit::depth(103, 1_300, &[], &[]));
        assert_eq!(t.stats.entries_filled, 1);
        assert_eq!(t.stats.requests, 2, "entry, take profit");
        assert_eq!(t.tracked[0].stop, HeldStop::Armed);
        // Trades above the stop leave it armed.
        t.on_market(&testkit::trade(1_400, 5_950_000, 1, true));
        assert_eq!(t.stats.requests, 2);
        // One at the stop fires it: the take profit cancelled, a market sell sent
        // (into the bids the book has then).
        t.on_market(&testkit::depth(
            104,
            1_450,
            &[(6_000_100, 0), (5_899_000, 100_000_000)],
            &[],
        ));
        t.on_market(&testkit::trade(1_500, 5_900_000, 1, true));
        assert_eq!(t.stats.requests, 4, "take profit cancel, market close");
        for (id, ms) in [(105, 1_600), (106, 1_700), (107, 2_000)] {
            t.on_market(&testkit::depth(id, ms, &[], &[]));
        }
        assert_eq!(
            t.stats.stops,
            1,
            "closed at the stop: {:?} {:?}",
            t.stats,
            t.exchange.stats()
        );
        assert_eq!(t.open_operations(), 0);
        assert_eq!(t.exchange.position().0, 0);
    }
}

mod kill {
    use super::super::*;
    use crate::core::Market;
    use crate::sim::testkit;

    /// A kill with a position to flatten, on the paper exchange: the flattening market
    /// order fills at shutdown. No market event follows to carry it: waiting for one
    /// left the position open.
    #[test]
    fn a_kill_flattens_the_paper_position_at_shutdown() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let strategy = Strategy::parse(include_str!("../../../strategy_0.toml"), &[]).unwrap();
        let mut t = super::paper(&spec, &strategy, &SimOptions::default());
        // Deep bids, for the market sell to fill.
        t.on_snapshot(&testkit::snapshot(
            &[(6_000_100, 100_000_000)],
            &[(6_000_200, 100_000_000)],
        ));
        t.on_market(&testkit::depth(101, 1_000, &[], &[]));
        let intent = super::long(6_000_000, 6_100_000, 5_900_000);
        assert_eq!(t.on_intent(&intent, 1_000), Outcome::Sent);
        t.on_market(&testkit::depth(102, 1_100, &[], &[]));
        t.on_market(&testkit::trade(1_200, 5_999_000, 100_000_000, true));
        t.on_market(&testkit::depth(103, 1_300, &[], &[]));
        assert_eq!(t.stats.entries_filled, 1, "{:?}", t.stats);
        assert!(t.exchange.position().0 > 0);
        // The watchdog's drawdown rule turned the kill switch on (flatten is the default).
        t.killed = true;
        let s = t.shutdown();
        assert_eq!(t.exchange.position().0, 0, "{:?}", t.exchange.stats());
        assert_eq!(s.open_positions, 0);
        assert_eq!(t.stats.flattened, 1, "{:?}", t.stats);
    }
}
