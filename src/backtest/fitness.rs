//! The figures a trader reads from a backtest, and the one number the genetic algorithm
//! maximises (product.md "Fitness"). Computed from the trade list and the equity curve;
//! floats are fine here (analytics, not money on the hot path).

use crate::gateway::trader::{ClosedTrade, EquityPoint, Exit};
use std::fmt;

const E8: f64 = 1e8;
const YEAR_SECS: f64 = 365.0 * 86_400.0;

/// What the fitness is.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Objective {
    /// Net PnL − λ × max drawdown (quote): the default, λ = 1.
    PnlDrawdown(f64),
    /// Net PnL after fees and funding (quote).
    NetPnl,
    /// Return on capital.
    Return,
    /// Annualised Sharpe ratio of per-period returns.
    Sharpe,
    /// Annualised Sortino ratio of per-period returns.
    Sortino,
    /// Gross profit / gross loss.
    ProfitFactor,
}

impl Default for Objective {
    fn default() -> Self {
        Objective::PnlDrawdown(1.0)
    }
}

impl Objective {
    /// Parses `pnl-dd[:λ]`, `pnl`, `return`, `sharpe`, `sortino` or `profit-factor`.
    ///
    /// # Errors
    /// A message listing the objectives.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "fitness `{s}`: expected pnl-dd[:LAMBDA], pnl, return, sharpe, sortino or profit-factor"
            )
        };
        match s.trim() {
            "pnl-dd" => Ok(Objective::PnlDrawdown(1.0)),
            "pnl" => Ok(Objective::NetPnl),
            "return" => Ok(Objective::Return),
            "sharpe" => Ok(Objective::Sharpe),
            "sortino" => Ok(Objective::Sortino),
            "profit-factor" => Ok(Objective::ProfitFactor),
            p => match p.strip_prefix("pnl-dd:").map(str::parse::<f64>) {
                Some(Ok(l)) if l.is_finite() && l >= 0.0 => Ok(Objective::PnlDrawdown(l)),
                _ => Err(bad()),
            },
        }
    }

    /// The fitness of `m`: higher is better; a ratio that is undefined (no trades, no
    /// variance, no loss) counts as 0.
    pub fn of(&self, m: &Metrics) -> f64 {
        match *self {
            Objective::PnlDrawdown(l) => m.net_pnl - l * m.max_drawdown,
            Objective::NetPnl => m.net_pnl,
            Objective::Return => m.return_on_capital,
            Objective::Sharpe => m.sharpe_period.unwrap_or(0.0),
            Objective::Sortino => m.sortino_period.unwrap_or(0.0),
            Objective::ProfitFactor => m.profit_factor.unwrap_or(0.0),
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Objective::PnlDrawdown(l) => write!(f, "pnl-dd:{l}"),
            Objective::NetPnl => write!(f, "pnl"),
            Objective::Return => write!(f, "return"),
            Objective::Sharpe => write!(f, "sharpe"),
            Objective::Sortino => write!(f, "sortino"),
            Objective::ProfitFactor => write!(f, "profit-factor"),
        }
    }
}

/// The figures of one backtest (quote currency units).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Operations closed.
    pub trades: usize,
    /// Of which with a positive net PnL.
    pub wins: usize,
    /// Of which with a negative net PnL.
    pub losses: usize,
    /// Net PnL: gross − fees + funding.
    pub net_pnl: f64,
    /// Gross PnL (price moves only).
    pub gross_pnl: f64,
    /// Fees paid.
    pub fees: f64,
    /// Funding received (negative: paid).
    pub funding: f64,
    /// Net PnL / capital.
    pub return_on_capital: f64,
    /// Largest fall of equity from a peak (quote).
    pub max_drawdown: f64,
    /// That fall as a share of the peak.
    pub max_drawdown_pct: f64,
    /// Wins / trades.
    pub win_rate: Option<f64>,
    /// Sum of winning PnL / −sum of losing PnL.
    pub profit_factor: Option<f64>,
    /// Mean net PnL per trade.
    pub avg_trade: Option<f64>,
    /// Best trade.
    pub best_trade: Option<f64>,
    /// Worst trade.
    pub worst_trade: Option<f64>,
    /// Mean time from the first entry fill to the last exit fill, seconds.
    pub avg_holding_secs: Option<f64>,
    /// Mean / standard deviation of per-trade returns on margin (not annualised).
    pub sharpe_trade: Option<f64>,
    /// Mean / downside deviation of per-trade returns on margin.
    pub sortino_trade: Option<f64>,
    /// Annualised Sharpe ratio of per-period equity returns.
    pub sharpe_period: Option<f64>,
    /// Annualised Sortino ratio of per-period equity returns.
    pub sortino_period: Option<f64>,
    /// Periods the ratios were computed over.
    pub periods: usize,
    /// Closed at the take profit, stop, by flattening, by liquidation, at the data's end.
    pub exits: [usize; 5],
}

/// Running sums of a series of returns: enough for its Sharpe and Sortino ratios.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    n: u64,
    sum: f64,
    sum_sq: f64,
    down_sq: f64,
}

impl Moments {
    fn push(&mut self, r: f64) {
        self.n += 1;
        self.sum += r;
        self.sum_sq += r * r;
        self.down_sq += r.min(0.0).powi(2);
    }

    fn push_zeros(&mut self, n: u64) {
        self.n += n;
    }

    fn push_return(&mut self, before: f64, after: f64) {
        if before > 0.0 {
            self.push(after / before - 1.0);
        }
    }

    /// Sharpe (mean / sample standard deviation) and Sortino (mean / downside
    /// deviation over all returns), scaled by `scale` (√periods per year).
    fn ratios(&self, scale: f64) -> (Option<f64>, Option<f64>) {
        if self.n < 2 {
            return (None, None);
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
        let sd = var.sqrt();
        let sharpe = (sd > 1e-15).then(|| mean / sd * scale);
        let down = (self.down_sq / n).sqrt();
        let sortino = (down > 0.0).then(|| mean / down * scale);
        (sharpe, sortino)
    }
}

/// Sharpe and Sortino of a series of returns, scaled by `scale` (√periods per year).
fn ratios(r: &[f64], scale: f64) -> (Option<f64>, Option<f64>) {
    let mut m = Moments::default();
    r.iter().for_each(|&x| m.push(x));
    m.ratios(scale)
}

/// The figures of `trades` and `equity` on `capital_e8`, with per-period returns over
/// periods of `period_us`.
pub fn metrics(
    trades: &[ClosedTrade],
    equity: &[EquityPoint],
    capital_e8: i64,
    period_us: u64,
) -> Metrics {
    let capital = capital_e8 as f64 / E8;
    let pnl: Vec<f64> = trades.iter().map(|t| t.pnl_e8 as f64 / E8).collect();
    let mut m = Metrics {
        trades: trades.len(),
        wins: pnl.iter().filter(|&&p| p > 0.0).count(),
        losses: pnl.iter().filter(|&&p| p < 0.0).count(),
        net_pnl: pnl.iter().sum(),
        fees: trades.iter().map(|t| t.fees_e8 as f64 / E8).sum(),
        funding: trades.iter().map(|t| t.funding_e8 as f64 / E8).sum(),
        ..Metrics::default()
    };
    m.gross_pnl = m.net_pnl + m.fees - m.funding;
    m.return_on_capital = if capital > 0.0 {
        m.net_pnl / capital
    } else {
        0.0
    };
    if !trades.is_empty() {
        let n = trades.len() as f64;
        m.win_rate = Some(m.wins as f64 / n);
        m.avg_trade = Some(m.net_pnl / n);
        m.best_trade = pnl.iter().copied().reduce(f64::max);
        m.worst_trade = pnl.iter().copied().reduce(f64::min);
        let held: f64 = trades
            .iter()
            .map(|t| t.exit_us.saturating_sub(t.entry_us) as f64 / 1e6)
            .sum();
        m.avg_holding_secs = Some(held / n);
    }
    let won: f64 = pnl.iter().filter(|&&p| p > 0.0).sum();
    let lost: f64 = -pnl.iter().filter(|&&p| p < 0.0).sum::<f64>();
    m.profit_factor = (lost > 0.0).then(|| won / lost);
    let per_trade: Vec<f64> = trades
        .iter()
        .filter(|t| t.margin_e8 > 0)
        .map(|t| t.pnl_e8 as f64 / t.margin_e8 as f64)
        .collect();
    (m.sharpe_trade, m.sortino_trade) = ratios(&per_trade, 1.0);
    for t in trades {
        let k = match t.exit {
            Exit::TakeProfit => 0,
            Exit::Stop => 1,
            Exit::Flattened => 2,
            Exit::Liquidated => 3,
            Exit::EndOfData => 4,
        };
        m.exits[k] += 1;
    }
    // Drawdown over every equity point, from the starting capital.
    let (mut peak, mut dd, mut dd_pct) = (capital, 0.0f64, 0.0f64);
    for p in equity {
        let e = p.equity_e8 as f64 / E8;
        peak = peak.max(e);
        dd = dd.max(peak - e);
        if peak > 0.0 {
            dd_pct = dd_pct.max((peak - e) / peak);
        }
    }
    m.max_drawdown = dd;
    m.max_drawdown_pct = dd_pct;
    // Per-period returns: the last equity of each period against the one before; a
    // period without a point carries the last equity (a 0 return). Summed as they
    // come, so a long run at a short period needs no array of periods.
    if let (Some(first), Some(last)) = (equity.first(), equity.last()) {
        let period = period_us.max(1);
        let (p0, p1) = (first.time_us / period, last.time_us / period);
        let mut acc = Moments::default();
        let (mut before, mut close, mut at) = (capital, capital, p0);
        for p in equity {
            let k = p.time_us / period;
            if k != at {
                // Period `at` closed at `close`; the ones after it up to `k` are flat.
                acc.push_return(before, close);
                acc.push_zeros(k - at - 1);
                before = close;
                at = k;
            }
            close = p.equity_e8 as f64 / E8;
        }
        acc.push_return(before, close);
        m.periods = (p1 - p0 + 1) as usize;
        let scale = (YEAR_SECS / (period as f64 / 1e6)).sqrt();
        (m.sharpe_period, m.sortino_period) = acc.ratios(scale);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Lots;
    use crate::signal::oracle::Side;

    fn trade(pnl: f64, fees: f64, margin: f64, held_s: u64, exit: Exit) -> ClosedTrade {
        ClosedTrade {
            id: 1,
            side: Side::Long,
            qty: Lots(1),
            entry_us: 1_000_000,
            exit_us: 1_000_000 + held_s * 1_000_000,
            entry_value_e8: 0,
            exit_value_e8: 0,
            fees_e8: (fees * E8) as i64,
            funding_e8: 0,
            pnl_e8: (pnl * E8) as i64,
            margin_e8: (margin * E8) as i64,
            exit,
            maker_fills: 2,
            taker_fills: 0,
        }
    }

    fn point(t_s: u64, equity: f64) -> EquityPoint {
        EquityPoint {
            time_us: t_s * 1_000_000,
            equity_e8: (equity * E8) as i64,
        }
    }

    #[test]
    fn hand_computed_example() {
        // Capital 1,000. Trades: +30 (fees 2), −10 (fees 1), +20 (fees 2) on margin 100.
        let trades = [
            trade(30.0, 2.0, 100.0, 10, Exit::TakeProfit),
            trade(-10.0, 1.0, 100.0, 20, Exit::Stop),
            trade(20.0, 2.0, 100.0, 30, Exit::TakeProfit),
        ];
        // Equity every 60 s: 1,000 → 1,030 → 1,020 → 1,040.
        let equity = [
            point(0, 1_000.0),
            point(60, 1_030.0),
            point(120, 1_020.0),
            point(180, 1_040.0),
        ];
        let m = metrics(&trades, &equity, 1_000 * 100_000_000, 60_000_000);
        assert_eq!((m.trades, m.wins, m.losses), (3, 2, 1));
        assert!((m.net_pnl - 40.0).abs() < 1e-9);
        assert!((m.fees - 5.0).abs() < 1e-9);
        assert!((m.gross_pnl - 45.0).abs() < 1e-9);
        assert!((m.return_on_capital - 0.04).abs() < 1e-12);
        // Peak 1,030, trough 1,020.
        assert!((m.max_drawdown - 10.0).abs() < 1e-9);
        assert!((m.max_drawdown_pct - 10.0 / 1_030.0).abs() < 1e-12);
        assert!((m.win_rate.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.profit_factor.unwrap() - 5.0).abs() < 1e-12);
        assert!((m.avg_holding_secs.unwrap() - 20.0).abs() < 1e-9);
        // Per-trade returns 0.3, −0.1, 0.2: mean 0.1333…, sd 0.2082 → 0.6405;
        // downside √(0.01 / 3) = 0.05774 → 2.3094.
        assert!((m.sharpe_trade.unwrap() - 0.640_512_6).abs() < 1e-6);
        assert!((m.sortino_trade.unwrap() - 2.309_401_1).abs() < 1e-6);
        // Periods: 1,000 (from 1,000: 0), 1,030 (+3 %), 1,020 (−0.971 %), 1,040 (+1.961 %).
        assert_eq!(m.periods, 4);
        let r = [0.0, 0.03, 1_020.0 / 1_030.0 - 1.0, 1_040.0 / 1_020.0 - 1.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        let scale = (YEAR_SECS / 60.0).sqrt();
        assert!((m.sharpe_period.unwrap() - mean / sd * scale).abs() < 1e-6);
        assert_eq!(m.exits, [2, 1, 0, 0, 0]);
        // The default fitness: 40 − 1 × 10.
        assert!((Objective::default().of(&m) - 30.0).abs() < 1e-9);
        assert!((Objective::parse("pnl-dd:2").unwrap().of(&m) - 20.0).abs() < 1e-9);
        assert!((Objective::ProfitFactor.of(&m) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn no_trades_and_no_losses_are_not_errors() {
        let m = metrics(&[], &[], 1_000 * 100_000_000, 60_000_000);
        assert_eq!(m.trades, 0);
        assert_eq!(m.win_rate, None);
        assert_eq!(Objective::Sharpe.of(&m), 0.0);
        assert_eq!(Objective::default().of(&m), 0.0);
        let m = metrics(
            &[trade(5.0, 1.0, 50.0, 1, Exit::TakeProfit)],
            &[point(0, 1_005.0)],
            1_000 * 100_000_000,
            60_000_000,
        );
        assert_eq!(m.profit_factor, None, "no losing trade");
        assert_eq!(m.sharpe_trade, None, "one trade has no spread");
        // Flat periods between points are 0 returns, counted without an array of them:
        // 30 days at 1 ms periods.
        let m = metrics(
            &[],
            &[point(0, 1_000.0), point(30 * 86_400, 1_010.0)],
            1_000 * 100_000_000,
            1_000,
        );
        assert_eq!(m.periods, 30 * 86_400_000 + 1);
        assert!(m.sharpe_period.unwrap() > 0.0);
        let r = [0.0, 0.0, 0.0, 0.01];
        let (sharpe, _) = ratios(&r, 1.0);
        let m = metrics(
            &[],
            &[point(0, 1_000.0), point(180, 1_010.0)],
            1_000 * 100_000_000,
            60_000_000,
        );
        assert!(
            (m.sharpe_period.unwrap() / (YEAR_SECS / 60.0).sqrt() - sharpe.unwrap()).abs() < 1e-9
        );
        assert!(Objective::parse("pnl-dd:-1").is_err());
        assert!(Objective::parse("alpha").is_err());
        for o in [
            "pnl-dd:1",
            "pnl",
            "return",
            "sharpe",
            "sortino",
            "profit-factor",
        ] {
            assert_eq!(Objective::parse(o).unwrap().to_string(), o);
        }
    }
}
