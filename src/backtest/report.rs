//! The backtest's report as text, one JSON object, and CSV files of the trade list and
//! the equity curve (cold path; floats for display only).

use super::fitness::{Metrics, Objective};
use super::{BacktestReport, Combined};
use crate::core::Reject;
use crate::core::{SymbolSpec, utc};
use crate::gateway::trader::EquityPoint;
use crate::gateway::trader::Exit;
use crate::signal::oracle::Side;
use serde::Serialize;
use std::fmt::Write;

const E8: f64 = 1e8;

fn money(v: f64) -> String {
    // `+ 0.0` turns −0.0 (no trade: a negated zero) into 0.0, so nothing prints "-0.0000".
    format!("{:.4}", v + 0.0)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "n/a".into(),
    }
}

fn pct(v: f64) -> String {
    format!("{:+.4} %", v * 100.0 + 0.0)
}

fn duration(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3_600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3_600.0) as u64,
            (s % 3_600.0 / 60.0) as u64
        )
    }
}

fn rate(e8: i64) -> String {
    crate::core::Dec8(e8).to_string()
}

impl BacktestReport {
    /// Frames per second of wall time.
    pub fn frames_per_sec(&self) -> f64 {
        self.frames as f64 / self.wall_secs.max(1e-9)
    }

    /// Entries filled (whole or in part) per entry sent.
    pub fn fill_ratio(&self) -> Option<f64> {
        let t = &self.trader;
        (t.entries > 0).then(|| (t.entries_filled + t.entries_partial) as f64 / t.entries as f64)
    }

    /// Share of the filled volume that was maker.
    pub fn maker_share(&self) -> Option<f64> {
        let x = &self.exchange;
        let all = x.maker_lots + x.taker_lots;
        (all > 0).then(|| x.maker_lots as f64 / all as f64)
    }

    /// ` (n code message; …)` for the refusals, by reason.
    fn reject_reasons(&self) -> String {
        let parts: Vec<String> = Reject::ALL
            .iter()
            .zip(self.exchange.rejects)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| {
                let (code, msg) = crate::venues::reject_words(*r, self.market);
                format!("{n} × {code} {msg}")
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }

    /// The report a trader reads.
    pub fn to_text(&self) -> String {
        let m = &self.metrics;
        let t = &self.trader;
        let x = &self.exchange;
        let mut o = String::new();
        let (a, b) = self.span_ms;
        let _ = writeln!(
            o,
            "backtest {} {} · {} → {} ({}) · {} {} ({} traded, {} undecodable)",
            self.symbol,
            self.market.name(),
            utc(a),
            utc(b),
            duration(b.saturating_sub(a) as f64 / 1e3),
            self.frames,
            if self.tape {
                "decoded messages"
            } else {
                "frames"
            },
            self.window_frames,
            self.decode_errors
        );
        let fees = match self.sim.fees {
            Some((mk, tk)) => format!("maker {} taker {}", rate(mk), rate(tk)),
            None => "the strategy's".into(),
        };
        let _ = writeln!(
            o,
            "models: latency {} · queue {} · fees {} · seed {}",
            self.sim.latency, self.sim.queue, fees, self.sim.seed
        );
        let capital = self.capital_e8 as f64 / E8;
        let mut rows = figure_rows(m, capital, self.period_us);
        rows.extend([
            (
                "entries",
                format!(
                    "{} sent: {} filled, {} in part, {} refused by the exchange, {} withdrawn; fill ratio {}",
                    t.entries,
                    t.entries_filled,
                    t.entries_partial,
                    t.entries_rejected,
                    t.entries_withdrawn,
                    self.fill_ratio()
                        .map_or("n/a".into(), |r| format!("{:.1} %", r * 100.0))
                ),
            ),
            (
                "fills",
                format!(
                    "{} maker / {} taker; maker share of volume {}",
                    x.maker_fills,
                    x.taker_fills,
                    self.maker_share()
                        .map_or("n/a".into(), |r| format!("{:.1} %", r * 100.0))
                ),
            ),
            (
                "signal and risk",
                format!(
                    "{} evaluations, {} intents, {} accepted, {} refused",
                    self.evaluations, self.intents, self.risk.accepted, self.risk.refused
                ),
            ),
            (
                "exchange",
                format!(
                    "{} requests, {} rejected{}, {} cancelled, {} expired, {} liquidations",
                    x.requests,
                    x.rejected,
                    self.reject_reasons(),
                    x.canceled,
                    x.expired,
                    x.liquidations
                ),
            ),
        ]);
        for (k, v) in rows {
            let _ = writeln!(o, "{k:>28}  {v}");
        }
        let _ = writeln!(
            o,
            "{:>28}  {:.4} ({})",
            "fitness", self.fitness, self.objective
        );
        o
    }

    /// The same as one JSON object (like the text, free of wall-clock figures, so the
    /// same inputs give the same bytes).
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            symbol: &'a str,
            market: &'a str,
            from: String,
            to: String,
            frames: u64,
            window_frames: u64,
            decode_errors: u64,
            latency: String,
            queue: String,
            seed: u64,
            capital: f64,
            metrics: &'a super::fitness::Metrics,
            fitness: f64,
            objective: String,
            entries: u64,
            entries_filled: u64,
            entries_partial: u64,
            entries_rejected: u64,
            entries_withdrawn: u64,
            fill_ratio: Option<f64>,
            maker_fills: u64,
            taker_fills: u64,
            maker_share: Option<f64>,
            evaluations: u64,
            intents: u64,
            risk_accepted: u64,
            risk_refused: u64,
            requests: u64,
            rejected: u64,
            liquidations: u64,
        }
        let out = Out {
            symbol: &self.symbol,
            market: self.market.name(),
            from: utc(self.span_ms.0),
            to: utc(self.span_ms.1),
            frames: self.frames,
            window_frames: self.window_frames,
            decode_errors: self.decode_errors,
            latency: self.sim.latency.to_string(),
            queue: self.sim.queue.to_string(),
            seed: self.sim.seed,
            capital: self.capital_e8 as f64 / E8,
            metrics: &self.metrics,
            fitness: self.fitness,
            objective: self.objective.to_string(),
            entries: self.trader.entries,
            entries_filled: self.trader.entries_filled,
            entries_partial: self.trader.entries_partial,
            entries_rejected: self.trader.entries_rejected,
            entries_withdrawn: self.trader.entries_withdrawn,
            fill_ratio: self.fill_ratio(),
            maker_fills: self.exchange.maker_fills,
            taker_fills: self.exchange.taker_fills,
            maker_share: self.maker_share(),
            evaluations: self.evaluations,
            intents: self.intents,
            risk_accepted: self.risk.accepted,
            risk_refused: self.risk.refused,
            requests: self.exchange.requests,
            rejected: self.exchange.rejected,
            liquidations: self.exchange.liquidations,
        };
        sonic_rs::to_string(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The trade list as CSV (average fill prices on the symbol's grid units).
    pub fn trades_csv(&self, spec: &SymbolSpec) -> String {
        trades_csv(&[(self, spec)])
    }

    /// The equity curve as CSV.
    pub fn equity_csv(&self) -> String {
        equity_csv(&self.equity)
    }
}

/// One row of the trade list.
#[derive(Serialize)]
struct TradeRow<'a> {
    symbol: &'a str,
    id: u64,
    side: &'static str,
    qty: String,
    entry_time: String,
    exit_time: String,
    entry_price: String,
    exit_price: String,
    fees: String,
    funding: String,
    pnl: String,
    margin: String,
    exit: Exit,
    maker_fills: u32,
    taker_fills: u32,
}

/// Columns of the trade list.
const TRADE_COLUMNS: [&str; 15] = [
    "symbol",
    "id",
    "side",
    "qty",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "fees",
    "funding",
    "pnl",
    "margin",
    "exit",
    "maker_fills",
    "taker_fills",
];

/// A quote amount with 8 decimals, as the CSV files write them.
fn e8(v: f64) -> String {
    format!("{v:.8}")
}

/// The trades of several backtests (one per symbol) as one CSV file, a header first.
pub fn trades_csv(reports: &[(&BacktestReport, &SymbolSpec)]) -> String {
    let mut w = csv_writer(&TRADE_COLUMNS);
    for (r, spec) in reports {
        for t in &r.trades {
            let avg = |v: i64| spec.avg_price(v, t.qty);
            let row = TradeRow {
                symbol: &r.symbol,
                id: t.id,
                side: if t.side == Side::Long {
                    "long"
                } else {
                    "short"
                },
                qty: spec.qty.format(t.qty),
                entry_time: utc(t.entry_us / 1000),
                exit_time: utc(t.exit_us / 1000),
                entry_price: e8(avg(t.entry_value_e8)),
                exit_price: e8(avg(t.exit_value_e8)),
                fees: e8(t.fees_e8 as f64 / E8),
                funding: e8(t.funding_e8 as f64 / E8),
                pnl: e8(t.pnl_e8 as f64 / E8),
                margin: e8(t.margin_e8 as f64 / E8),
                exit: t.exit,
                maker_fills: t.maker_fills,
                taker_fills: t.taker_fills,
            };
            // Writing into memory cannot fail.
            let _ = w.serialize(row);
        }
    }
    csv_text(w)
}

/// An equity curve as CSV.
pub fn equity_csv(equity: &[EquityPoint]) -> String {
    let mut w = csv_writer(&["time", "equity"]);
    for p in equity {
        let _ = w.write_record([utc(p.time_us / 1000), e8(p.equity_e8 as f64 / E8)]);
    }
    csv_text(w)
}

/// A CSV writer into memory with its header written.
fn csv_writer(columns: &[&str]) -> csv::Writer<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(columns);
    w
}

fn csv_text(w: csv::Writer<Vec<u8>>) -> String {
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The rows of figures every report prints, from `m` (label, value).
fn figure_rows(m: &Metrics, capital: f64, period_us: u64) -> Vec<(&'static str, String)> {
    vec![
        (
            "net PnL",
            format!(
                "{} (return on capital {} of {})",
                money(m.net_pnl),
                pct(m.return_on_capital),
                money(capital)
            ),
        ),
        (
            "gross PnL",
            format!(
                "{} · fees {} · funding {}",
                money(m.gross_pnl),
                money(m.fees),
                money(m.funding)
            ),
        ),
        (
            "max drawdown",
            format!(
                "{} ({:.3} % of the peak)",
                money(m.max_drawdown),
                m.max_drawdown_pct * 100.0
            ),
        ),
        (
            "trades",
            format!(
                "{} ({} won, {} lost; win rate {})",
                m.trades,
                m.wins,
                m.losses,
                m.win_rate
                    .map_or("n/a".into(), |w| format!("{:.1} %", w * 100.0))
            ),
        ),
        ("profit factor", opt(m.profit_factor, 3)),
        (
            "avg / best / worst trade",
            format!(
                "{} / {} / {}",
                opt(m.avg_trade, 4),
                opt(m.best_trade, 4),
                opt(m.worst_trade, 4)
            ),
        ),
        (
            "avg holding time",
            m.avg_holding_secs.map_or("n/a".into(), duration),
        ),
        (
            "Sharpe / Sortino per trade",
            format!("{} / {}", opt(m.sharpe_trade, 3), opt(m.sortino_trade, 3)),
        ),
        (
            "Sharpe / Sortino per period",
            format!(
                "{} / {} (annualised, {} periods of {})",
                opt(m.sharpe_period, 3),
                opt(m.sortino_period, 3),
                m.periods,
                duration(period_us as f64 / 1e6)
            ),
        ),
        (
            "exits",
            format!(
                "take profit {}, stop {}, flattened {}, liquidated {}, open at the end {}",
                m.exits[0], m.exits[1], m.exits[2], m.exits[3], m.exits[4]
            ),
        ),
    ]
}

impl Combined {
    /// The combined figures after the per-symbol reports.
    pub fn to_text(&self, objective: Objective, period_us: u64) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "combined {} ({} runs, capital summed)",
            self.symbols.join(", "),
            self.symbols.len()
        );
        for (k, v) in figure_rows(&self.metrics, self.capital_e8 as f64 / E8, period_us) {
            let _ = writeln!(o, "{k:>28}  {v}");
        }
        let _ = writeln!(o, "{:>28}  {:.4} ({})", "fitness", self.fitness, objective);
        o
    }

    /// The per-symbol reports and the combined figures as one JSON object.
    pub fn to_json(&self, reports: &[BacktestReport], objective: Objective) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            symbols: Vec<sonic_rs::Value>,
            combined: Comb<'a>,
        }
        #[derive(serde::Serialize)]
        struct Comb<'a> {
            symbols: &'a [String],
            capital: f64,
            metrics: &'a Metrics,
            fitness: f64,
            objective: String,
        }
        let out = Out {
            symbols: reports
                .iter()
                .filter_map(|r| sonic_rs::from_str(&r.to_json()).ok())
                .collect(),
            combined: Comb {
                symbols: &self.symbols,
                capital: self.capital_e8 as f64 / E8,
                metrics: &self.metrics,
                fitness: self.fitness,
                objective: objective.to_string(),
            },
        };
        sonic_rs::to_string(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
