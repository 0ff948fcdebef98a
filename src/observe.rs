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
use crate::core::{Lots, Report, SymbolSpec};
use crate::gateway::audit::{Entry, Verdict};
use crate::gateway::journal::{ClosedTrade, EquityPoint, Exit};
use crate::signal::oracle::Side;
use crate::store::journal::{JournaledDecision, JournaledOperation, JournaledReport, RunJournal};
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
    /// Markouts after 1 s, 10 s and 60 s: how far the market (the last recorded
    /// trade) moved in the operation's favour from its entry price, basis points;
    /// `None` past the end of the recording.
    pub markout_bps: [Option<f64>; 3],
}

/// The markout horizons, ms.
pub const MARKOUTS_MS: [u64; 3] = [1_000, 10_000, 60_000];

/// The recording's trade prices by exchange time, what markouts are read against.
fn trade_prices(frames: &[(Vec<u8>, u64)], spec: &SymbolSpec) -> Vec<(u64, f64)> {
    let mut dec = crate::venues::MarketDecoder::for_symbol(spec);
    let mut out = Vec::new();
    for (bytes, ns) in frames {
        // Frames that do not decode were counted by the backtest; none is a trade.
        let _ = dec.decode(bytes, *ns, &mut |ev| {
            if let crate::core::EventBody::Trade(t) = ev.body {
                out.push((t.trade_ms, spec.price.to_f64(t.price)));
            }
        });
    }
    out.sort_by_key(|p| p.0);
    out
}

/// `op`'s markouts against `prices` (from [`trade_prices`]).
fn markouts(op: &OpView, prices: &[(u64, f64)]) -> [Option<f64>; 3] {
    let sign = if op.side == "LONG" { 1.0 } else { -1.0 };
    let last = prices.last().map_or(0, |p| p.0);
    MARKOUTS_MS.map(|h| {
        let t = (op.entry_us.max(0) as u64) / 1000 + h;
        let k = prices.partition_point(|p| p.0 <= t);
        (op.entry_price > 0.0 && t <= last && k > 0)
            .then(|| sign * (prices[k - 1].1 - op.entry_price) / op.entry_price * 1e4)
    })
}

/// Mean of the markouts that exist, per horizon.
fn mean_markouts<'a>(ops: impl Iterator<Item = &'a OpView>) -> [Option<f64>; 3] {
    let mut sum = [(0.0, 0usize); 3];
    for o in ops {
        for (s, m) in sum.iter_mut().zip(o.markout_bps) {
            if let Some(m) = m {
                s.0 += m;
                s.1 += 1;
            }
        }
    }
    sum.map(|(s, n)| (n > 0).then(|| s / n as f64))
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
    /// Mean markouts after 1 s, 10 s, 60 s, bps (the operations that have one).
    pub markout_bps: [Option<f64>; 3],
    /// The figures behind it.
    #[serde(skip)]
    pub metrics: Metrics,
}

/// A latency's distribution over a run's entries, µs (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Spread {
    /// Entries measured.
    pub count: usize,
    /// Median.
    pub p50_us: i64,
    /// 90th percentile.
    pub p90_us: i64,
    /// 99th percentile.
    pub p99_us: i64,
    /// Largest.
    pub max_us: i64,
}

/// Latencies of one side, µs: from the trader's decision to its handling of the
/// entry's acknowledgement and first fill — measured the same way live (from the
/// journal) and in the backtest (from the entries its trader would journal), so the
/// two sides compare.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct JournalLatency {
    /// `wall` (the live side: real time between the trader recording the decision
    /// and handling the report) or `exchange` (the backtest's simulated clock, which
    /// carries its latency model; a journal without wall-clock stamps).
    pub clock: &'static str,
    /// Decision → the exchange's acknowledgement of the entry.
    pub decision_to_ack: Spread,
    /// Decision → the entry's first fill.
    pub decision_to_fill: Spread,
}

/// The two sides' latencies.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Latencies {
    /// The live run's, from its journal.
    pub real: JournalLatency,
    /// The backtest's, under its latency model.
    pub theoretical: JournalLatency,
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
    /// Decision → ack and decision → fill, both sides.
    pub latency: Latencies,
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

/// A journaled operation as `observe` shows it (no markouts: `--follow` prints them
/// as they close, before any comparison).
pub fn journaled_view(o: &JournaledOperation, spec: &SymbolSpec) -> OpView {
    view(&closed_of(o, spec), spec)
}

/// A journaled operation as the backtest's record of one.
pub fn closed_of(o: &JournaledOperation, spec: &SymbolSpec) -> ClosedTrade {
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
        markout_bps: [None; 3],
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
        markout_bps: [None; 3],
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

fn spread(mut v: Vec<i64>) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    v.sort_unstable();
    let at = |q: usize| v[(v.len() * q).div_ceil(100).max(1) - 1];
    Spread {
        count: v.len(),
        p50_us: at(50),
        p90_us: at(90),
        p99_us: at(99),
        max_us: v[v.len() - 1],
    }
}

/// Decision → ack and decision → first fill of each entry sent, from the decisions
/// and the reports in order: on the wall clock when every one of them carries its
/// stamp (a live journal), else on the exchange's clock as the trader knew it.
fn latency(decisions: &[JournaledDecision], reports: &[JournaledReport]) -> JournalLatency {
    let wall = decisions.iter().all(|d| d.at_ns.is_some())
        && reports.iter().all(|r| r.seen_ns.is_some())
        && !decisions.is_empty();
    let mut ack = Vec::new();
    let mut fill = Vec::new();
    for d in decisions.iter().filter(|d| d.verdict == "SENT") {
        let Some(op) = d.operation else { continue };
        let entry = format!("mnv{op}e");
        // One clock on both ends: the decision and the report's handling.
        let first = |kind: &str| {
            reports
                .iter()
                .find(|r| r.client_id == entry && r.report == kind)
                .map(|r| match (wall, r.seen_ns, d.at_ns) {
                    (true, Some(seen), Some(at)) => (seen - at) / 1000,
                    _ => r.seen_us - d.at_us,
                })
        };
        if let Some(a) = first("ACCEPTED") {
            ack.push(a);
        }
        if let Some(f) = first("FILLED") {
            fill.push(f);
        }
    }
    JournalLatency {
        clock: if wall { "wall" } else { "exchange" },
        decision_to_ack: spread(ack),
        decision_to_fill: spread(fill),
    }
}

/// The decisions and reports among a backtest's audit entries, as the journal
/// would hold them (what [`latency`] reads).
fn journaled(entries: &[Entry]) -> (Vec<JournaledDecision>, Vec<JournaledReport>) {
    let mut decisions = Vec::new();
    let mut reports = Vec::new();
    for e in entries {
        match e {
            Entry::Decision {
                at_us,
                intent,
                verdict,
            } => decisions.push(JournaledDecision {
                at_us: *at_us as i64,
                side: side_name(intent.side).to_string(),
                entry: String::new(),
                verdict: match verdict {
                    Verdict::Sent { .. } => "SENT",
                    Verdict::Refused(_) => "REFUSED",
                    Verdict::Failed => "FAILED",
                }
                .to_string(),
                reason: String::new(),
                operation: match verdict {
                    Verdict::Sent { op_id, .. } => Some(*op_id as i64),
                    _ => None,
                },
                // The backtest's time is the simulated exchange's.
                at_ns: None,
            }),
            Entry::Report { seen_us, exec } => reports.push(JournaledReport {
                exchange_us: exec.time_us as i64,
                seen_us: *seen_us as i64,
                client_id: exec.client_id.as_str().to_string(),
                report: match exec.report {
                    Report::Accepted => "ACCEPTED",
                    Report::Filled { .. } => "FILLED",
                    _ => "OTHER",
                }
                .to_string(),
                reason: None,
                seen_ns: None,
            }),
            Entry::Order { .. } | Entry::Closed(_) => {}
        }
    }
    (decisions, reports)
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
    let mut entries = Vec::new();
    let theo = crate::backtest::run_audited(
        Input::Frames(frames),
        spec,
        strategy,
        signer,
        cfg,
        &mut |_, _| {},
        &mut |e| {
            if matches!(e, Entry::Decision { .. } | Entry::Report { .. }) {
                entries.push(*e);
            }
        },
    )?;
    let (theo_decisions, theo_reports) = journaled(&entries);
    let real: Vec<ClosedTrade> = j.operations.iter().map(|o| closed_of(o, spec)).collect();
    let prices = trade_prices(frames, spec);
    let view = |t: &ClosedTrade, spec: &SymbolSpec| {
        let mut v = view(t, spec);
        v.markout_bps = markouts(&v, &prices);
        v
    };
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
    let theoretical_only: Vec<Single> = theo
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
    let mut real_totals = real_totals;
    let mut theo_totals = theo_totals;
    real_totals.markout_bps = mean_markouts(
        pairs
            .iter()
            .map(|p| &p.real)
            .chain(real_only.iter().map(|s| &s.op)),
    );
    theo_totals.markout_bps = mean_markouts(
        pairs
            .iter()
            .map(|p| &p.theoretical)
            .chain(theoretical_only.iter().map(|s| &s.op)),
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
        latency: Latencies {
            real: latency(&j.decisions, &j.reports),
            theoretical: latency(&theo_decisions, &theo_reports),
        },
        objective: cfg.objective.to_string(),
    };
    Ok((obs, theo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = spread((1..=200).rev().collect());
        assert_eq!(
            (s.count, s.p50_us, s.p90_us, s.p99_us, s.max_us),
            (200, 100, 180, 198, 200)
        );
        let s = spread(vec![5, 1, 3]);
        assert_eq!((s.p50_us, s.p90_us, s.p99_us, s.max_us), (3, 5, 5, 5));
        assert_eq!(spread(Vec::new()), Spread::default());
    }

    /// By hand: a long entered at 100.0 at t = 1 s; the last trade at or before 2 s is
    /// 100.5 (+50 bps), before 11 s 101.0 (+100 bps), before 61 s still 101.0 (the
    /// recording goes on to 70 s). A short the other way; past the data, none.
    #[test]
    fn markouts_by_hand() {
        let prices = [
            (500, 99.0),
            (1_900, 100.5),
            (10_999, 99.0),
            (11_000, 101.0),
            (70_000, 102.0),
        ];
        let mut op = OpView {
            id: 1,
            side: "LONG".into(),
            entry_us: 1_000_000,
            exit_us: 0,
            entry_price: 100.0,
            exit_price: 0.0,
            qty: 1.0,
            pnl: 0.0,
            fees: 0.0,
            exit: String::new(),
            markout_bps: [None; 3],
        };
        let m = markouts(&op, &prices);
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(
            close(m[0], 50.0) && close(m[1], 100.0) && close(m[2], 100.0),
            "{m:?}"
        );
        op.side = "SHORT".into();
        assert!(close(markouts(&op, &prices)[0], -50.0));
        op.entry_us = 20_000_000;
        // Entered at 20 s: at 21 s and 30 s the last trade is 101.0 (a short loses
        // 100 bps); 80 s is past the recording.
        assert_eq!(markouts(&op, &prices)[2], None);
        op.markout_bps = markouts(&op, &prices);
        let mean = mean_markouts([op.clone(), op].iter());
        assert!(close(mean[0], -100.0) && mean[2].is_none(), "{mean:?}");
    }
}
