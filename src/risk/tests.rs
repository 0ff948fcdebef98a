use super::*;
use crate::core::{Market, SymbolSpec};

fn setup(overrides: &[(&str, &str)]) -> (Strategy, SymbolSpec) {
    let o: Vec<(&str, String)> = overrides.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let s = Strategy::parse(include_str!("../../strategy_0.toml"), &o).unwrap();
    let mut spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
    spec.min_qty = Lots(1);
    spec.min_notional = Some(5 * 10i128.pow(4)); // 5 USDT at 1 + 3 places
    (s, spec)
}

fn intent(side: Side, entry: i64) -> Intent {
    let (tp, sl) = if side == Side::Long {
        (entry + 500, entry - 300)
    } else {
        (entry - 500, entry + 300)
    };
    Intent {
        side,
        entry: Ticks(entry),
        take_profit: Ticks(tp),
        stop_loss: Ticks(sl),
        support_wall: Ticks(entry),
        target_wall: Ticks(tp),
        void_price: Ticks(entry),
        void_width_bins: 10,
        pressure_ppm: 100_000,
    }
}

#[test]
fn sizes_margin_at_leverage_and_counts_fees() {
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    // 3 % of 10,000 = 300 margin × 20 = 6,000 notional at 60,000.0 → 0.1 BTC.
    let op = r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!(op.qty, Lots(100));
    assert_eq!(op.notional_e8, 6_000 * 100_000_000);
    assert_eq!(op.margin_e8, 300 * 100_000_000);
    assert_eq!(op.leverage, 20);
    // Entry fee 0.02 % of 6,000 = 1.2; TP at 60,050: +5 - 1.2 - 1.201 = 2.599.
    assert_eq!(op.entry_fee_e8, 120_000_000);
    assert_eq!(op.pnl_at_tp_e8, 500_000_000 - 120_000_000 - 120_100_000);
    // SL at 59,970: -3 - 1.2 - taker 0.05 % of 5,997 (2.9985).
    assert_eq!(op.pnl_at_sl_e8, -300_000_000 - 120_000_000 - 299_850_000);
}

/// An operation larger than the venue's largest order is sized down to it (the
/// venue would refuse it whole).
#[test]
fn sizes_no_larger_than_the_venues_largest_order() {
    let (s, mut spec) = setup(&[]);
    spec.max_qty = Some(Lots(40));
    let mut r = RiskManager::new(&s, &spec);
    let op = r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!(
        op.qty,
        Lots(40),
        "0.1 BTC wanted, 0.04 the most one order takes"
    );
    assert_eq!(op.notional_e8, 2_400 * 100_000_000);
}

#[test]
fn refusals_in_order() {
    let (s, spec) = setup(&[("max_concurrent_trades", "2")]);
    let mut r = RiskManager::new(&s, &spec);
    r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!(
        r.propose(&intent(Side::Long, 600_003), 0),
        Err(Refusal::Duplicate { open_id: 1 })
    );
    r.propose(&intent(Side::Short, 600_100), 0).unwrap();
    assert_eq!(
        r.propose(&intent(Side::Long, 590_000), 0),
        Err(Refusal::TooManyOpen { open: 2 })
    );
    r.cancel(1);
    assert_eq!(r.open_count(), 1);
    r.set_kill_switch(true);
    assert_eq!(
        r.propose(&intent(Side::Long, 590_000), 0),
        Err(Refusal::KillSwitch)
    );
}

#[test]
fn daily_loss_limit_stops_until_the_next_day() {
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    let op = r.propose(&intent(Side::Long, 600_000), 1_000).unwrap();
    // Lose 5 % of 10,000 = 500.
    r.close(op.id, -500 * 100_000_000, 0, 2_000);
    assert!(matches!(
        r.propose(&intent(Side::Long, 600_000), 3_000),
        Err(Refusal::DailyLossLimit { .. })
    ));
    assert!(
        r.propose(&intent(Side::Long, 600_000), 86_400_000 + 1)
            .is_ok()
    );
}

#[test]
fn minimums_and_capital_in_use() {
    let (s, spec) = setup(&[("percentage_per_trade", "0.0001"), ("max_leverage", "1")]);
    let mut r = RiskManager::new(&s, &spec);
    // 1 USDT margin × 1: 0.000016 BTC rounds to 0 lots.
    assert_eq!(
        r.propose(&intent(Side::Long, 600_000), 0),
        Err(Refusal::BelowMinQty { qty: Lots(0) })
    );
    let (s, spec) = setup(&[
        ("percentage_per_trade", "0.5"),
        ("max_leverage", "1"),
        ("max_capital_in_use", "0.9"),
    ]);
    let mut r = RiskManager::new(&s, &spec);
    r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert!(matches!(
        r.propose(&intent(Side::Short, 600_000), 0),
        Err(Refusal::CapitalInUse { .. })
    ));
}

#[test]
fn take_profit_must_pay_the_fees() {
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    let mut i = intent(Side::Long, 600_000);
    // 0.1 BTC, +0.2 USDT at the take profit against 2.4 of fees.
    i.take_profit = Ticks(600_002);
    assert!(matches!(
        r.propose(&i, 0),
        Err(Refusal::NoProfitAfterFees { .. })
    ));
}

#[test]
fn a_drawdown_from_the_peak_turns_the_kill_switch_on() {
    // Capital 10,000; limit 2 % of the peak. A win of 100 takes the peak to 10,100;
    // a loss of 150 leaves 9,950: 150 / 10,100 = 1.485 % (on); another 60 makes
    // 210 / 10,100 = 2.079 % (off: the kill switch).
    let (s, spec) = setup(&[("daily_loss_limit", "0.5")]);
    let mut r = RiskManager::new(&s, &spec);
    r.set_drawdown_limit(Some(20_000));
    let e8 = 100_000_000i64;
    let trade = |r: &mut RiskManager, pnl: i64, t: u64| {
        let op = r.propose(&intent(Side::Long, 600_000), t).unwrap();
        r.close(op.id, pnl * e8, 0, t + 1);
    };
    trade(&mut r, 100, 1_000);
    assert_eq!(r.stats().peak_e8, 10_100 * e8);
    trade(&mut r, -150, 2_000);
    assert!(!r.stats().killed_by_drawdown);
    trade(&mut r, -60, 3_000);
    assert!(r.stats().killed_by_drawdown);
    assert_eq!(
        r.propose(&intent(Side::Long, 600_000), 4_000),
        Err(Refusal::KillSwitch)
    );
    // Exactly at the limit counts: 2 % of 10,000 is 200.
    let mut r = RiskManager::new(&s, &spec);
    r.set_drawdown_limit(Some(20_000));
    trade(&mut r, -199, 1_000);
    assert!(!r.stats().killed_by_drawdown);
    trade(&mut r, -1, 2_000);
    assert!(r.stats().killed_by_drawdown);
}

#[test]
fn a_smaller_balance_sizes_the_operations() {
    // Strategy capital 10,000; the account has 5,000: margin 3 % of 5,000 = 150 × 20
    // = 3,000 notional at 60,000.0 → 0.05 BTC (half the size of the full capital's).
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    r.limit_capital(5_000 * 100_000_000);
    assert_eq!(r.capital_e8(), 5_000 * 100_000_000);
    let op = r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!(op.qty, Lots(50));
    assert_eq!(op.margin_e8, 150 * 100_000_000);
    // A larger balance never raises the strategy's capital.
    let mut r = RiskManager::new(&s, &spec);
    r.limit_capital(50_000 * 100_000_000);
    assert_eq!(r.capital_e8(), 10_000 * 100_000_000);
}

/// COIN-M BTCUSD_PERP (100 USD contracts, tick 0.1), capital 2 BTC, 3 % a trade at 20×,
/// by hand: margin 0.06 BTC → 1.2 BTC of contracts at 60,000 = 72,000 USD = 720
/// contracts. At the take profit 60,600 they are worth 72,000 / 60,600 = 1.18811881 BTC,
/// so the long gains 1.2 − 1.18811881 = 0.01188119 BTC (720 × 100 × (1/60,000 −
/// 1/60,600)); fees 0.02 % of 1.2 (0.00024) and of 1.18811881 (0.00023762).
#[test]
fn coin_m_sizes_margins_and_earns_in_the_coin() {
    let s = Strategy::parse(
        include_str!("../../strategy_0.toml"),
        &[("market", "BTCUSD_PERP".into()), ("capital", "2".into())],
    )
    .unwrap();
    let spec = SymbolSpec::from_tick_lot("BTCUSD_PERP", Market::CoinM, "0.1", "1").unwrap();
    let mut r = RiskManager::new(&s, &spec);
    let long = Intent {
        take_profit: Ticks(606_000),
        stop_loss: Ticks(594_000),
        ..intent(Side::Long, 600_000)
    };
    let op = r.propose(&long, 0).unwrap();
    assert_eq!(op.qty, Lots(720));
    assert_eq!(op.notional_e8, 120_000_000, "1.2 BTC");
    assert_eq!(op.margin_e8, 6_000_000, "0.06 BTC");
    assert_eq!(op.entry_fee_e8, 24_000);
    assert_eq!(op.pnl_at_tp_e8, 1_188_119 - 24_000 - 23_762);
    // Stop at 59,400: 72,000 / 59,400 = 1.21212121 BTC, a loss of 0.01212121; taker
    // 0.05 % of 1.21212121 = 0.00060606.
    assert_eq!(op.pnl_at_sl_e8, -1_212_121 - 24_000 - 60_606);
    // The short mirror: entry 60,000, take profit 59,400 gains 0.01212121.
    let short = Intent {
        side: Side::Short,
        take_profit: Ticks(594_000),
        stop_loss: Ticks(606_000),
        ..intent(Side::Short, 600_000)
    };
    let op = r.propose(&short, 0).unwrap();
    assert_eq!(op.qty, Lots(720));
    assert_eq!(op.pnl_at_tp_e8, 1_212_121 - 24_000 - 24_242);
}

/// The live link set 5× within the brackets: operations are sized at 5×, never above
/// the strategy's cap; spot stays at 1×.
#[test]
fn sizes_at_the_leverage_the_account_was_set_to() {
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    r.limit_leverage(5);
    // 300 margin × 5 = 1,500 at 60,000.0 → 0.025 BTC.
    let op = r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!((op.qty, op.leverage), (Lots(25), 5));
    r.limit_leverage(50);
    assert_eq!(r.leverage(), 5, "never raised past what was set");
    let spot = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let mut r = RiskManager::new(&s, &spot);
    r.limit_leverage(5);
    assert_eq!(r.leverage(), 1);
}

/// Live, the risk manager follows the available balance the user data stream shows:
/// what is available plus what its own operations committed, never more than the
/// capital at start (here the strategy's 10,000). By hand at 20×, 3 % a trade, 60,000.0: 10,000 → 300 margin,
/// 0.1 BTC; with 2,000 available and 300 committed → 2,300 → 69 margin → 1,380
/// notional → 0.023 BTC.
#[test]
fn sizing_follows_the_available_balance() {
    let (s, spec) = setup(&[]);
    let mut r = RiskManager::new(&s, &spec);
    r.follow_available(50_000 * 100_000_000);
    assert_eq!(
        r.capital_e8(),
        10_000 * 100_000_000,
        "never above the strategy's"
    );
    let op = r.propose(&intent(Side::Long, 600_000), 0).unwrap();
    assert_eq!((op.qty, op.margin_e8), (Lots(100), 300 * 100_000_000));
    r.follow_available(2_000 * 100_000_000);
    assert_eq!(r.capital_e8(), 2_300 * 100_000_000);
    let op = r.propose(&intent(Side::Short, 610_000), 0).unwrap();
    // 69 × 20 = 1,380 at 61,000.0 → 0.02262 → 0.022 BTC.
    assert_eq!(op.qty, Lots(22));
    // Capital in use follows too: 90 % of 2,300 = 2,070.
    r.follow_available(0);
    assert_eq!(r.capital_e8(), (300 + 67) * 100_000_000 + 10_000_000);
}

/// Traders of several symbols on one account, started a millisecond apart: with ids
/// shared out, no two operations' ids (and client ids) meet, however many each opens.
#[test]
fn traders_sharing_an_account_never_number_alike() {
    let (s, spec) = setup(&[("max_concurrent_trades", "100")]);
    let mut ids = Vec::new();
    for k in 0..3u64 {
        let mut r = RiskManager::new(&s, &spec);
        r.start_ids_at(1_000 + k);
        r.share_ids(k, 3);
        for n in 0..20 {
            let op = r.propose(&intent(Side::Long, 600_000), n).unwrap();
            r.cancel(op.id);
            ids.push(op.id);
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // Without sharing, the first started trader's second id is the second's first.
    let mut a = RiskManager::new(&s, &spec);
    let mut b = RiskManager::new(&s, &spec);
    a.start_ids_at(1_000);
    b.start_ids_at(1_001);
    let a_ids: Vec<u64> = (0..2)
        .map(|n| {
            let op = a.propose(&intent(Side::Long, 600_000), n).unwrap();
            a.cancel(op.id);
            op.id
        })
        .collect();
    assert_eq!(
        a_ids[1],
        b.propose(&intent(Side::Long, 600_000), 0).unwrap().id
    );
}
