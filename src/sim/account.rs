//! The simulated account: wallet, one position per symbol with isolated margin, fees,
//! funding and liquidation, all in 10⁻⁸ units of the margin asset (the quote asset; the
//! coin on COIN-M, where a position's value is `contracts × size / price` and PnL
//! follows 1/entry − 1/exit: [`Valuer`]).
//!
//! Futures (one-way mode, isolated): a fill that grows the position adds its value to
//! the cost and `value / leverage` to the margin; one that reduces it realises
//! `±(value − cost share)` and frees its share of the margin. When margin + unrealised
//! PnL at the mark price falls to the maintenance margin (`value × maintenance rate`),
//! the position is liquidated and its whole isolated margin is lost (what an isolated
//! liquidation costs the trader on Binance, whose clearance fee takes what is left).
//! Funding: at each funding time a long pays `value at mark × rate` (a short receives
//! it; negative rates reverse that).
//!
//! Spot is accounted as a 1× margin account without liquidation or funding (the
//! strategy may sell short; `docs/backtest.md` says what that assumes).

use crate::core::{Lots, SymbolSpec, Ticks, Valuer, fee_e8};

/// Wallet and position of one symbol.
#[derive(Debug, Clone)]
pub struct Account {
    futures: bool,
    leverage: i64,
    maintenance_ppm: i64,
    valuer: Valuer,
    /// Wallet balance: capital + realised PnL − fees ± funding.
    pub wallet_e8: i64,
    pos: i64,
    cost_e8: i64,
    margin_e8: i64,
    /// Realised PnL of fills, before fees.
    pub realised_e8: i64,
    /// Fees paid.
    pub fees_e8: i64,
    /// Funding received (negative: paid).
    pub funding_e8: i64,
    /// Isolated margin lost to liquidations.
    pub liquidated_e8: i64,
}

/// A liquidation: the position closed and the margin lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liquidation {
    /// Position closed (signed, lots).
    pub qty: Lots,
    /// The mark price that triggered it.
    pub price: Ticks,
    /// Isolated margin lost.
    pub loss_e8: i64,
}

impl Account {
    /// An account of `capital_e8` for `spec` at `leverage` (forced to 1 on spot) with a
    /// maintenance margin rate of `maintenance_ppm` (futures).
    pub fn new(spec: &SymbolSpec, capital_e8: i64, leverage: u32, maintenance_ppm: u32) -> Self {
        let futures = spec.market.is_futures();
        Self {
            futures,
            leverage: if futures { leverage.max(1) as i64 } else { 1 },
            maintenance_ppm: maintenance_ppm as i64,
            valuer: Valuer::new(spec),
            wallet_e8: capital_e8,
            pos: 0,
            cost_e8: 0,
            margin_e8: 0,
            realised_e8: 0,
            fees_e8: 0,
            funding_e8: 0,
            liquidated_e8: 0,
        }
    }

    /// The position, lots (negative: short).
    pub fn position(&self) -> Lots {
        Lots(self.pos)
    }

    /// Isolated margin held by the position.
    pub fn margin_e8(&self) -> i64 {
        self.margin_e8
    }

    /// Leverage.
    pub fn leverage(&self) -> i64 {
        self.leverage
    }

    /// Changes the leverage while flat (isolated margin is fixed while a position
    /// holds it); false when a position is open. Forced to 1 on spot.
    pub fn set_leverage(&mut self, leverage: u32) -> bool {
        if self.pos != 0 {
            return false;
        }
        self.leverage = if self.futures {
            leverage.max(1) as i64
        } else {
            1
        };
        true
    }

    /// What the open position cost (its value at the entry prices).
    pub fn cost_e8(&self) -> i64 {
        self.cost_e8
    }

    /// Margin that `qty` at `price` needs.
    #[inline]
    pub fn margin_for(&self, price: Ticks, qty: Lots) -> i64 {
        let v = self.valuer.value_e8(price, qty);
        // Values saturate at i64::MAX (an absurd order); so does everything built on them.
        v.saturating_add(self.leverage - 1) / self.leverage
    }

    /// Wallet not held as margin.
    #[inline]
    pub fn available_e8(&self) -> i64 {
        self.wallet_e8.saturating_sub(self.margin_e8)
    }

    /// The part of a `buy` order of `qty` that would grow the position rather than
    /// reduce it.
    #[inline]
    pub fn opening(&self, buy: bool, qty: Lots) -> Lots {
        if self.pos != 0 && (self.pos > 0) != buy {
            Lots((qty.0 - self.pos.abs()).max(0))
        } else {
            qty
        }
    }

    /// Books a fill; returns the PnL it realised (before the fee).
    ///
    /// # Hot path: integer arithmetic only.
    pub fn fill(&mut self, buy: bool, price: Ticks, qty: Lots, fee_e8: i64) -> i64 {
        self.fees_e8 = self.fees_e8.saturating_add(fee_e8);
        self.wallet_e8 = self.wallet_e8.saturating_sub(fee_e8);
        let sign = if buy { 1 } else { -1 };
        let mut rest = qty.0;
        let mut realised = 0;
        if self.pos != 0 && (self.pos > 0) != buy {
            let held = self.pos.abs();
            let closed = rest.min(held);
            let share = |v: i64| (v as i128 * closed as i128 / held as i128) as i64;
            let (cost, margin) = (share(self.cost_e8), share(self.margin_e8));
            let v = self.valuer.value_e8(price, Lots(closed));
            realised = self.valuer.gain_e8(self.pos > 0, cost, v);
            self.cost_e8 -= cost;
            self.margin_e8 -= margin;
            self.pos += sign * closed;
            rest -= closed;
            self.wallet_e8 = self.wallet_e8.saturating_add(realised);
            self.realised_e8 = self.realised_e8.saturating_add(realised);
        }
        if rest > 0 {
            self.cost_e8 = self
                .cost_e8
                .saturating_add(self.valuer.value_e8(price, Lots(rest)));
            self.margin_e8 = self
                .margin_e8
                .saturating_add(self.margin_for(price, Lots(rest)));
            self.pos = self.pos.saturating_add(sign * rest);
        }
        realised
    }

    /// Unrealised PnL at `mark`.
    pub fn unrealised_e8(&self, mark: Ticks) -> i64 {
        let v = self.valuer.value_e8(mark, Lots(self.pos.abs()));
        self.valuer.gain_e8(self.pos >= 0, self.cost_e8, v)
    }

    /// Pays or receives funding at `mark` and `rate_e8` (10⁻⁸: 0.0001 is 10,000);
    /// returns what was received (negative: paid). Futures only.
    pub fn fund(&mut self, mark: Ticks, rate_e8: i64) -> i64 {
        if !self.futures || self.pos == 0 {
            return 0;
        }
        let pay = fee_e8(self.valuer.value_e8(mark, Lots(self.pos.abs())), rate_e8);
        let got = if self.pos > 0 { -pay } else { pay };
        self.wallet_e8 = self.wallet_e8.saturating_add(got);
        self.funding_e8 = self.funding_e8.saturating_add(got);
        got
    }

    /// Liquidates the position if margin + unrealised PnL at `mark` is at or under the
    /// maintenance margin. Futures only.
    pub fn check_liquidation(&mut self, mark: Ticks) -> Option<Liquidation> {
        if !self.futures || self.pos == 0 {
            return None;
        }
        let v = self.valuer.value_e8(mark, Lots(self.pos.abs()));
        let maintenance = (v as i128 * self.maintenance_ppm as i128 / 1_000_000) as i64;
        if self.margin_e8.saturating_add(self.unrealised_e8(mark)) > maintenance {
            return None;
        }
        let out = Liquidation {
            qty: Lots(self.pos),
            price: mark,
            loss_e8: self.margin_e8,
        };
        self.wallet_e8 = self.wallet_e8.saturating_sub(self.margin_e8);
        self.realised_e8 = self.realised_e8.saturating_sub(self.margin_e8);
        self.liquidated_e8 = self.liquidated_e8.saturating_add(self.margin_e8);
        self.pos = 0;
        self.cost_e8 = 0;
        self.margin_e8 = 0;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Market;

    fn usdm() -> SymbolSpec {
        // Price 0.1, qty 0.001: 60,000.0 is 600,000 ticks; 1 BTC is 1,000 lots.
        SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap()
    }
    const E8: i64 = 100_000_000;

    #[test]
    fn leverage_margin_realised_pnl_and_fees_by_hand() {
        // 10,000 USDT at 20×: buy 1 BTC at 60,000 → margin 3,000, fee 0.02 % = 12.
        let mut a = Account::new(&usdm(), 10_000 * E8, 20, 4_000);
        assert_eq!(a.fill(true, Ticks(600_000), Lots(1_000), 12 * E8), 0);
        assert_eq!(a.margin_e8(), 3_000 * E8);
        assert_eq!(a.available_e8(), (10_000 - 12 - 3_000) * E8);
        // Sell half at 61,000: realises +500, frees 1,500 of margin; fee 0.05 % of 30,500.
        let fee = fee_e8(30_500 * E8, 50_000);
        assert_eq!(fee, 1_525 * E8 / 100);
        assert_eq!(a.fill(false, Ticks(610_000), Lots(500), fee), 500 * E8);
        assert_eq!(a.position(), Lots(500));
        assert_eq!(a.margin_e8(), 1_500 * E8);
        assert_eq!(a.wallet_e8, 10_000 * E8 - 12 * E8 + 500 * E8 - fee);
        // Sell 1 BTC at 59,000: closes 0.5 (−500) and opens 0.5 short at 59,000.
        assert_eq!(a.fill(false, Ticks(590_000), Lots(1_000), 0), -500 * E8);
        assert_eq!(a.position(), Lots(-500));
        assert_eq!(a.margin_e8(), 29_500 * E8 / 20);
        assert_eq!(a.unrealised_e8(Ticks(580_000)), 500 * E8);
    }

    #[test]
    fn liquidation_and_funding_by_hand() {
        // 1 BTC long at 60,000, 20×: margin 3,000; maintenance 0.4 %.
        let mut a = Account::new(&usdm(), 10_000 * E8, 20, 4_000);
        a.fill(true, Ticks(600_000), Lots(1_000), 0);
        // Funding +0.01 % at mark 60,000: the long pays 6.
        assert_eq!(a.fund(Ticks(600_000), 10_000), -6 * E8);
        assert_eq!(a.funding_e8, -6 * E8);
        // Liquidated when 3,000 + (m − 60,000) ≤ 0.004 m, i.e. m ≤ 57,228.92.
        // At 57,300: 300 left > 229.2 maintenance. At 57,229: 229 > 228.916.
        assert_eq!(a.check_liquidation(Ticks(573_000)), None);
        // At 57,228: 228 ≤ 228.912: liquidated, the 3,000 margin lost.
        assert_eq!(a.check_liquidation(Ticks(572_290)), None);
        let l = a.check_liquidation(Ticks(572_280)).expect("liquidated");
        assert_eq!(l.qty, Lots(1_000));
        assert_eq!(l.loss_e8, 3_000 * E8);
        assert_eq!(a.position(), Lots(0));
        assert_eq!(a.wallet_e8, (10_000 - 6 - 3_000) * E8);
        // Spot: no leverage, no liquidation, no funding.
        let spot = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let mut s = Account::new(&spot, 10_000 * E8, 20, 4_000);
        s.fill(true, Ticks(6_000_000), Lots(10_000), 0);
        assert_eq!(s.margin_e8(), 6_000 * E8);
        assert_eq!(s.fund(Ticks(6_000_000), 10_000), 0);
        assert_eq!(s.check_liquidation(Ticks(1)), None);
    }

    /// COIN-M BTCUSD_PERP, all in BTC: 720 contracts of 100 USD long at 60,000 cost
    /// 72,000 / 60,000 = 1.2 BTC, margin 0.06 BTC at 20×. Selling half at 60,600
    /// realises 360 × 100 × (1/60,000 − 1/60,600) = 0.00594060 BTC. Liquidation
    /// (maintenance 0.4 % of the value): 0.06 + 1.2 − 72,000/m ≤ 0.004 × 72,000/m, i.e.
    /// m ≤ 72,288 / 1.26 = 57,371.43.
    #[test]
    fn inverse_contracts_by_hand() {
        let spec = SymbolSpec::from_tick_lot("BTCUSD_PERP", Market::CoinM, "0.1", "1").unwrap();
        let mut a = Account::new(&spec, 2 * E8, 20, 4_000);
        assert_eq!(a.fill(true, Ticks(600_000), Lots(720), 0), 0);
        assert_eq!(a.cost_e8(), 120_000_000);
        assert_eq!(a.margin_e8(), 6_000_000);
        // Funding +0.01 % of 1.2 BTC: the long pays 0.00012 BTC.
        assert_eq!(a.fund(Ticks(600_000), 10_000), -12_000);
        // Up 1 % in price, the coin value of the position falls and the long gains.
        assert_eq!(a.unrealised_e8(Ticks(606_000)), 120_000_000 - 118_811_881);
        let mut half = a.clone();
        assert_eq!(half.fill(false, Ticks(606_000), Lots(360), 0), 594_060);
        assert_eq!(half.margin_e8(), 3_000_000);
        assert_eq!(a.check_liquidation(Ticks(573_715)), None);
        let l = a.check_liquidation(Ticks(573_714)).expect("liquidated");
        assert_eq!(l.loss_e8, 6_000_000);
        assert_eq!(a.wallet_e8, 2 * E8 - 12_000 - 6_000_000);
    }
}
