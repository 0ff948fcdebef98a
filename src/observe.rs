//! `minerva observe`: a live run's real results against its theoretical twin — the
//! backtest of the same strategy on the market data recorded during that run (the
//! seed's `observer_account`: "real fitness vs theoretical fitness").
//!
//! The real side is the run's audit journal (`store::journal`): its closed
//! operations, decisions and the exchange's reports. The theoretical side is
//! [`crate::backtest::run`] on the recording, so it is exactly what `minerva backtest`
//! prints for it. Operations are paired by side and entry time (within the strategy's
//! entry window); an operation on one side only is explained from the journal where
//! it can be (refused by the risk manager live, refused or never filled by the
//! exchange, or not seen live at all). Cold path: analytics, floats allowed.

use crate::backtest::fitness::{self, Metrics};
use crate::backtest::{BacktestConfig, BacktestError, BacktestReport, Input};
use crate::core::{Lots, SymbolSpec};
use crate::gateway::journal::{ClosedTrade, EquityPoint, Exit};
use crate::signal::oracle::Side;
use crate::store::journal::{JournaledOperation, RunJournal};
use crate::strategy::Strategy;
use crate::venues::binance::sign::Signer;
use serde::Serialize;

const E8: f64 = 100_000_000.0;

/// One operation as compared: times µs, prices and amounts in quote units.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpView {
    /// Operation id (the live run's, or the backtest's).
    pub id: i64,
    /// `LONG` / `SHORT`.
    pub side: String,
    /// First entry fill, exchange µs.
    pub entry_us: i64,
    /// Last exit fill, exchange µs.
    pub exit_us: i64,
    /// Average entry price.
    pub entry_price: f64,
    /// Average exit price.
    pub exit_price: f64,
    /// Quantity (base units).
    pub qty: f64,
    /// Net PnL.
    pub pnl: f64,
    /// Fees.
    pub fees: f64,
    /// How it ended.
    pub exit: String,
}

/// A live operation and its theoretical twin.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pair {
    /// The live one.
    pub real: OpView,
    /// The backtest's.
    pub theoretical: OpView,
    /// How much worse the live entry price was, basis points (positive: worse).
    pub entry_slippage_bps: f64,
    /// PnL difference, real − theoretical.
    pub pnl_difference: f64,
    /// What fees made of it: theoretical fees − real fees.
    pub fee_difference: f64,
    /// The rest of it: prices, sizes and funding (`pnl_difference − fee_difference`).
    pub price_difference: f64,
}

/// An operation on one side only, and why, as far as the journal tells.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Single {
    /// The operation.
    pub op: OpView,
    /// Why it has no twin.
    pub why: String,
}

/// One side's totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    /// Closed operations.
    pub operations: usize,
    /// Net PnL.
    pub net_pnl: f64,
    /// Fees.
    pub fees: f64,
    /// Win rate (none without operations).
    pub win_rate: Option<f64>,
    /// Entries sent.
    pub entries_sent: u64,
    /// Entries that filled (whole or in part).
    pub entries_filled: u64,
    /// The fitness, with the backtest's objective.
    pub fitness: f64,
    /// The figures behind it.
    #[serde(skip)]
    pub metrics: Metrics,
}

/// Latencies measured from the journal, µs of the trader's clock (the exchange's time
/// as the trader knows it: the decision's, and when each report was handled).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct JournalLatency {
    /// Decision → the exchange's acknowledgement of the entry: (p50, max, count).
    pub decision_to_ack: (i64, i64, usize),
    /// Decision → the entry's first fill: (p50, max, count).
    pub decision_to_fill: (i64, i64, usize),
}

/// What `minerva observe` found.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// The journal's run id.
    pub run: i64,
    /// The symbol.
    pub symbol: String,
    /// Frames of market data replayed for the theoretical side.
    pub frames: u64,
    /// Operations paired.
    pub pairs: Vec<Pair>,
    /// Live operations with no theoretical twin.
    pub real_only: Vec<Single>,
    /// Theoretical operations with no live twin.
    pub theoretical_only: Vec<Single>,
    /// The live side's totals.
    pub real: Totals,
    /// The theoretical side's totals.
    pub theoretical: Totals,
    /// Theoretical − real net PnL (what live trading cost against the model).
    pub implementation_shortfall: f64,
    /// Latencies the journal shows.
    pub latency: JournalLatency,
    /// The objective the fitness is.
    pub objective: String,
}

/// Why an observation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The backtest of the recording failed.
    #[error(transparent)]
    Backtest(#[from] BacktestError),
}

fn side_of(s: &str) -> Side {
    if s == "SHORT" {
        Side::Short
    } else {
        Side::Long
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Long => "LONG",
        Side::Short => "SHORT",
    }
}

fn exit_of(s: &str) -> Exit {
    match s {
        "TakeProfit" => Exit::TakeProfit,
        "Stop" => Exit::Stop,
        "Flattened" => Exit::Flattened,
        "Liquidated" => Exit::Liquidated,
        _ => Exit::EndOfData,
    }
}

/// A journaled operation as the backtest's record of one.
fn closed_of(o: &JournaledOperation, spec: &SymbolSpec) -> ClosedTrade {
    ClosedTrade {
        id: o.operation as u64,
        side: side_of(&o.side),
        qty: spec.qty.parse(o.qty.as_bytes()).unwrap_or(Lots(0)),
        entry_us: o.entry_us as u64,
        exit_us: o.exit_us as u64,
        entry_value_e8: o.entry_value_e8,
        exit_value_e8: o.exit_value_e8,
        fees_e8: o.fees_e8,
        funding_e8: o.funding_e8,
        pnl_e8: o.pnl_e8,
        margin_e8: o.margin_e8,
        exit: exit_of(&o.exit),
        maker_fills: 0,
        taker_fills: 0,
    }
}

fn view(t: &ClosedTrade, spec: &SymbolSpec) -> OpView {
    let qty = spec.qty.to_f64(t.qty);
    let price = |v: i64| spec.avg_price(v, t.qty);
    OpView {
        id: t.id as i64,
        side: side_name(t.side).to_string(),
        entry_us: t.entry_us as i64,
        exit_us: t.exit_us as i64,
        entry_price: price(t.entry_value_e8),
        exit_price: price(t.exit_value_e8),
        qty,
        pnl: t.pnl_e8 as f64 / E8,
        fees: t.fees_e8 as f64 / E8,
        exit: format!("{:?}", t.exit),
    }
}

/// Net PnL, fees and the fitness of `trades` on `capital_e8`.
fn totals(
    trades: &[ClosedTrade],
    equity: &[EquityPoint],
    capital_e8: i64,
    cfg: &BacktestConfig,
    sent: u64,
    filled: u64,
) -> Totals {
    let m = fitness::metrics(trades, equity, capital_e8, cfg.period_us);
    Totals {
        operations: trades.len(),
        net_pnl: m.net_pnl,
        fees: m.fees,
        win_rate: m.win_rate,
        entries_sent: sent,
        entries_filled: filled,
        fitness: cfg.objective.of(&m),
        metrics: m,
    }
}

/// The equity curve of closed operations: capital plus their PnL at each close.
fn equity_of(trades: &[ClosedTrade], capital_e8: i64) -> Vec<EquityPoint> {
    let mut eq = capital_e8;
    trades
        .iter()
        .map(|t| {
            eq += t.pnl_e8;
            EquityPoint {
                time_us: t.exit_us,
                equity_e8: eq,
            }
        })
        .collect()
}

fn p50_max(mut v: Vec<i64>) -> (i64, i64, usize) {
    if v.is_empty() {
        return (0, 0, 0);
    }
    v.sort_unstable();
    (v[v.len() / 2], v[v.len() - 1], v.len())
}

/// Decision → ack and decision → first fill of each entry the journal shows.
fn latency(j: &RunJournal) -> JournalLatency {
    let mut ack = Vec::new();
    let mut fill = Vec::new();
    for d in j.decisions.iter().filter(|d| d.verdict == "SENT") {
        let Some(op) = d.operation else { continue };
        let entry = format!("mnv{op}e");
        // The trader's clock on both ends: the decision and the report's handling.
        let first = |kind: &str| {
            j.reports
                .iter()
                .find(|r| r.client_id == entry && r.report == kind)
                .map(|r| r.seen_us - d.at_us)
        };
        if let Some(a) = first("ACCEPTED") {
            ack.push(a);
        }
        if let Some(f) = first("FILLED") {
            fill.push(f);
        }
    }
    JournalLatency {
        decision_to_ack: p50_max(ack),
        decision_to_fill: p50_max(fill),
    }
}

/// Why the backtest took operation `t` and the live run did not, from the journal.
fn why_not_live(t: &ClosedTrade, j: &RunJournal, window_us: i64) -> String {
    let side = side_name(t.side);
    let near = j.decisions.iter().filter(|d| {
        d.side == side && d.at_us <= t.entry_us as i64 && t.entry_us as i64 - d.at_us <= window_us
    });
    let mut refused = None;
    for d in near {
        match (d.verdict.as_str(), d.operation) {
            ("SENT", Some(op)) => {
                let entry = format!("mnv{op}e");
                let reports: Vec<_> = j.reports.iter().filter(|r| r.client_id == entry).collect();
                if let Some(r) = reports.iter().find(|r| r.report == "REJECTED") {
                    return format!(
                        "live entry {entry} refused by the exchange ({})",
                        r.reason.as_deref().unwrap_or("no reason")
                    );
                }
                if !reports.iter().any(|r| r.report == "FILLED") {
                    return format!("live entry {entry} sent, never filled (withdrawn or expired)");
                }
            }
            ("REFUSED", _) => refused = Some(d.reason.clone()),
            ("FAILED", _) => return "live decision not sent (no slot)".into(),
            _ => {}
        }
    }
    match refused {
        Some(r) => format!("refused live by the risk manager: {r}"),
        None => "no live decision near it (the live book or the timing differed)".into(),
    }
}

/// Compares the run in `j` with the backtest of `frames` (the market data recorded
/// during it) under `strategy` and `cfg`.
///
/// # Errors
/// [`ObserveError`] when the backtest cannot run on the recording.
pub fn observe(
    j: &RunJournal,
    frames: &[(Vec<u8>, u64)],
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &BacktestConfig,
) -> Result<(Observation, BacktestReport), ObserveError> {
    let theo = crate::backtest::run(
        Input::Frames(frames),
        spec,
        strategy,
        signer,
        cfg,
        &mut |_, _| {},
    )?;
    let real: Vec<ClosedTrade> = j.operations.iter().map(|o| closed_of(o, spec)).collect();
    let window_us = strategy.volume_window_secs as i64 * 1_000_000;
    let mut used = vec![false; theo.trades.len()];
    let mut pairs = Vec::new();
    let mut real_only = Vec::new();
    for r in &real {
        let twin = theo.trades.iter().enumerate().find(|(k, t)| {
            !used[*k]
                && t.side == r.side
                && (t.entry_us as i64 - r.entry_us as i64).abs() <= window_us.max(1_000_000)
        });
        match twin {
            Some((k, t)) => {
                used[k] = true;
                let (rv, tv) = (view(r, spec), view(t, spec));
                let sign = if r.side == Side::Long { 1.0 } else { -1.0 };
                let slip = if tv.entry_price > 0.0 {
                    sign * (rv.entry_price - tv.entry_price) / tv.entry_price * 1e4
                } else {
                    0.0
                };
                // Amounts are whole 10⁻⁸ units: round away float noise (and -0).
                let e8 = |x: f64| (x * E8).round() / E8 + 0.0;
                let fee_difference = e8(tv.fees - rv.fees);
                pairs.push(Pair {
                    pnl_difference: e8(rv.pnl - tv.pnl),
                    fee_difference,
                    price_difference: e8(rv.pnl - tv.pnl - fee_difference),
                    entry_slippage_bps: slip,
                    real: rv,
                    theoretical: tv,
                });
            }
            None => real_only.push(Single {
                op: view(r, spec),
                why: "the backtest took no such operation (its book, queue or timing differed)"
                    .into(),
            }),
        }
    }
    let theoretical_only = theo
        .trades
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(t, _)| Single {
            op: view(t, spec),
            why: why_not_live(t, j, window_us),
        })
        .collect();
    let sent = j.decisions.iter().filter(|d| d.verdict == "SENT").count() as u64;
    let filled = j
        .decisions
        .iter()
        .filter_map(|d| d.operation)
        .filter(|op| {
            let entry = format!("mnv{op}e");
            j.reports
                .iter()
                .any(|r| r.client_id == entry && r.report == "FILLED")
        })
        .count() as u64;
    let real_totals = totals(
        &real,
        &equity_of(&real, strategy.capital.0),
        strategy.capital.0,
        cfg,
        sent,
        filled,
    );
    let t = &theo.trader;
    let theo_totals = totals(
        &theo.trades,
        &theo.equity,
        strategy.capital.0,
        cfg,
        t.entries,
        t.entries_filled + t.entries_partial,
    );
    let obs = Observation {
        run: j.run.id,
        symbol: spec.name.to_string(),
        frames: theo.frames,
        implementation_shortfall: theo_totals.net_pnl - real_totals.net_pnl,
        pairs,
        real_only,
        theoretical_only,
        real: real_totals,
        theoretical: theo_totals,
        latency: latency(j),
        objective: cfg.objective.to_string(),
    };
    Ok((obs, theo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_max() {
        assert_eq!(p50_max(vec![5, 1, 3]), (3, 5, 3));
        assert_eq!(p50_max(Vec::new()), (0, 0, 0));
    }
}
