//! `minerva report`: one self-contained HTML file a trader opens offline to look
//! before trusting — price candles with every operation, the book as a heatmap with
//! the trades over it, the volume profile, equity, drawdown and position, the
//! operations table and the backtest's fitness report.
//!
//! Cold path: analytics, floats allowed. The figures are the backtest's own
//! ([`crate::backtest::run_audited`] on the recording; the page embeds its JSON
//! report), and the market pictures come from one more decode of the same frames
//! through the same book. Long sessions are downsampled to a fixed budget of
//! candles, heatmap cells and trade bubbles, and the page says at what resolution.
//!
//! The same page also draws what other commands leave behind: a latency log
//! (`--latency-log`, HdrHistogram) as percentile curves, and an evolve log (`--log`)
//! as fitness per generation and each parameter against fitness (the seed's GA
//! observer).
//!
//! The charts are Apache ECharts (inlined with its licence, `vendor/`): one library
//! that draws candlesticks, heatmaps, bars and lines on linked time axes with zoom
//! and pan, in one canvas each, fast enough for hundreds of thousands of points.

use crate::backtest::{BacktestConfig, BacktestError, BacktestReport, BookInput, Input};
use crate::book::{Book, BookConfig};
use crate::core::{EventBody, SymbolSpec};
use crate::gateway::audit::{Entry, Verdict};
use crate::gateway::journal::ClosedTrade;
use crate::signal::oracle::{Reading, Side};
use crate::strategy::Strategy;
use crate::venues::binance::sign::Signer;
use serde::Serialize;

/// The chart library, inlined into every page.
const ECHARTS: &str = include_str!("vendor/echarts.min.js");
/// Its licence and notice, kept in every page.
const ECHARTS_LICENSE: &str = include_str!("vendor/ECHARTS-LICENSE.txt");
/// The page around the data.
const PAGE: &str = include_str!("page.html");

/// Base candles at most: the page aggregates them to coarser ones.
const MAX_CANDLES: u64 = 20_000;
/// Heatmap columns (time) and rows (price) at most.
const HEAT_COLUMNS: u64 = 480;
const HEAT_ROWS: usize = 120;
/// Volume profile rows.
const PROFILE_ROWS: usize = 160;

/// Candle widths the page offers, seconds.
const CANDLE_STEPS: [u64; 10] = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14_400];

/// One candle: open time ms, open, high, low, close, volume (base units).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Candle(pub u64, pub f64, pub f64, pub f64, pub f64, pub f64);

/// One operation as the page draws it: times ms, prices, amounts in the margin asset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpMark {
    /// Operation id.
    pub id: u64,
    /// `LONG` / `SHORT`.
    pub side: &'static str,
    /// The decision, ms (0: not journaled).
    pub decided_ms: u64,
    /// First entry fill, last exit fill, ms.
    pub entry_ms: u64,
    /// Last exit fill, ms.
    pub exit_ms: u64,
    /// Average entry and exit prices.
    pub entry_price: f64,
    /// Average exit price.
    pub exit_price: f64,
    /// The intent's entry, take profit and stop (0: not journaled).
    pub intent_entry: f64,
    /// Take profit.
    pub take_profit: f64,
    /// Stop loss.
    pub stop_loss: f64,
    /// The walls and the void the oracle read.
    pub support_wall: f64,
    /// Target wall.
    pub target_wall: f64,
    /// Void price.
    pub void_price: f64,
    /// Void width, bins.
    pub void_width_bins: u32,
    /// Book pressure, parts per million.
    pub pressure_ppm: u32,
    /// Quantity, base units (contracts for COIN-M).
    pub qty: f64,
    /// Net PnL, fees, funding.
    pub pnl: f64,
    /// Fees.
    pub fees: f64,
    /// Funding.
    pub funding: f64,
    /// How it ended.
    pub exit: String,
    /// The book's bins as the oracle read them at the decision (none when it could not
    /// be found again, or for a live run's operations).
    pub bins: Option<DecisionBins>,
}

/// The book's bins at a decision, with what the oracle found in them: prices in
/// quote units, quantities in base units.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionBins {
    /// Bin width, price units.
    pub width: f64,
    /// Bids and asks: (bin price, resting quantity), from the touch outwards.
    pub bid: Vec<(f64, f64)>,
    /// Asks.
    pub ask: Vec<(f64, f64)>,
    /// Traded quantity per target bin (the volume window's): (bin price, quantity).
    pub traded: Vec<(f64, f64)>,
    /// Walls on the support and target sides, and the voids: bin prices.
    pub support_walls: Vec<f64>,
    /// Target walls.
    pub target_walls: Vec<f64>,
    /// Voids.
    pub voids: Vec<f64>,
    /// The thresholds a wall stands above its neighbours by (support, target), and a
    /// void below them, quantity units.
    pub thresholds: (f64, f64, f64),
    /// The support side is the bid (a long).
    pub long: bool,
}

impl DecisionBins {
    fn of(r: &Reading, spec: &SymbolSpec) -> Self {
        let long = r.side == Side::Long;
        let q = |l: i64| spec.qty.to_f64(crate::core::Lots(l));
        // Bids count down from their touch, asks up.
        let price = |origin: i64, k: usize, bid: bool| {
            let abs = if bid {
                origin - k as i64
            } else {
                origin + k as i64
            };
            spec.price.to_f64(crate::core::Ticks(abs * r.bin_ticks))
        };
        let (s_bid, t_bid) = (long, !long);
        let side = |(origin, qty, _, _): &(i64, Vec<i64>, Vec<u32>, i64), bid: bool| {
            qty.iter()
                .enumerate()
                .map(|(k, &v)| (price(*origin, k, bid), q(v)))
                .collect::<Vec<_>>()
        };
        let (support, target) = (side(&r.support, s_bid), side(&r.target, t_bid));
        let at = |origin: i64, bins: &[u32], bid: bool| {
            bins.iter()
                .map(|&k| price(origin, k as usize, bid))
                .collect::<Vec<_>>()
        };
        let (bid, ask) = if long {
            (support, target)
        } else {
            (target, support)
        };
        Self {
            width: spec.price.to_f64(crate::core::Ticks(r.bin_ticks)),
            bid,
            ask,
            traded: r
                .traded
                .iter()
                .enumerate()
                .map(|(k, &v)| (price(r.target.0, k, t_bid), q(v)))
                .collect(),
            support_walls: at(r.support.0, &r.support.2, s_bid),
            target_walls: at(r.target.0, &r.target.2, t_bid),
            voids: at(r.target.0, &r.voids.0, t_bid),
            thresholds: (q(r.support.3), q(r.target.3), q(r.voids.1)),
            long,
        }
    }
}

/// The book heatmap: resting quantity per (column, row) cell.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Heatmap {
    /// Column start times, ms.
    pub times: Vec<u64>,
    /// Column width, ms.
    pub column_ms: u64,
    /// Lowest row's price and row height.
    pub price0: f64,
    /// Row height (price units).
    pub row: f64,
    /// Cells: column, row, quantity (base units; the last sample of the column).
    pub cells: Vec<(u32, u32, f64)>,
    /// Trades per cell and aggressor: column, row, quantity, 1 = buyer aggressor.
    pub trades: Vec<(u32, u32, f64, u8)>,
}

/// Traded volume by price.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Profile {
    /// Row prices (lower edge) and height.
    pub price0: f64,
    /// Row height.
    pub row: f64,
    /// Buyer-aggressor volume per row.
    pub buy: Vec<f64>,
    /// Seller-aggressor volume per row.
    pub sell: Vec<f64>,
    /// Point of control: the row with the most volume.
    pub poc: usize,
}

/// Everything the page draws.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    /// Symbol, market, the recording's span (ms).
    pub symbol: String,
    /// `spot`, `usdm`, `coinm`.
    pub market: &'static str,
    /// The asset amounts are in.
    pub money: String,
    /// First and last recorded event, ms.
    pub span_ms: (u64, u64),
    /// The base candle width, s, and the widths the page offers.
    pub candle_s: u64,
    /// Coarser widths offered.
    pub candle_steps: Vec<u64>,
    /// Base candles from the recorded trades.
    pub candles: Vec<Candle>,
    /// Operations.
    pub operations: Vec<OpMark>,
    /// A live run's operations, from its journal (`minerva report --journal`).
    pub real: Vec<OpMark>,
    /// Its equity: capital plus realised PnL at each close.
    pub real_equity: Vec<(u64, f64)>,
    /// The journal's run.
    pub real_run: Option<i64>,
    /// Equity (ms, amount), drawdown from peak (ms, fraction), position (ms, qty).
    pub equity: Vec<(u64, f64)>,
    /// Drawdown.
    pub drawdown: Vec<(u64, f64)>,
    /// Position, a step per entry and exit (long positive).
    pub position: Vec<(u64, f64)>,
    /// The book heatmap with the trades.
    pub heatmap: Heatmap,
    /// The volume profile.
    pub profile: Profile,
    /// The backtest's report as `minerva backtest --json` prints it.
    pub backtest: sonic_rs::Value,
    /// The backtest's report as text.
    pub backtest_text: String,
    /// What the page shows at which resolution.
    pub resolution: String,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The backtest failed.
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    /// The recording holds no trade to draw candles from.
    #[error("the recording holds no trade of {0}: nothing to draw")]
    NoTrades(String),
    /// A saved output that is not what `minerva backtest` writes.
    #[error("saved backtest output: {0}")]
    Saved(String),
}

/// A decoded trade: ms, price, qty, buyer aggressor.
type Trade = (u64, f64, f64, bool);

/// Runs the backtest of `input` (recorded frames or a tape) and gathers what the
/// page draws.
///
/// # Errors
/// [`ReportError`] when the backtest cannot run or there is nothing to draw.
pub fn build(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &BacktestConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(ReportData, BacktestReport), ReportError> {
    let mut intents = Vec::new();
    let bt =
        crate::backtest::run_audited(input, spec, strategy, signer, cfg, progress, &mut |e| {
            if let Entry::Decision {
                at_us,
                intent,
                verdict: Verdict::Sent { op_id, .. },
            } = e
            {
                intents.push((*op_id, *at_us, *intent));
            }
        })?;
    let (trades, samples, readings) = market(input, spec, strategy, cfg, &intents);
    if trades.is_empty() {
        return Err(ReportError::NoTrades(spec.name.to_string()));
    }
    let operations: Vec<OpMark> = bt
        .trades
        .iter()
        .map(|t| {
            let k = intents.iter().position(|(id, _, _)| *id == t.id);
            let mut m = mark(t, k.map(|k| (intents[k].1, &intents[k].2)), spec);
            m.bins = k
                .and_then(|k| readings[k].as_ref())
                .map(|r| DecisionBins::of(r, spec));
            m
        })
        .collect();
    let equity = bt
        .equity
        .iter()
        .map(|p| (p.time_us / 1000, p.equity_e8 as f64 / 1e8))
        .collect();
    let backtest: sonic_rs::Value = sonic_rs::from_str(&bt.to_json()).unwrap_or_default();
    let data = draw(
        spec,
        &trades,
        &samples,
        operations,
        equity,
        backtest,
        bt.to_text(),
    );
    Ok((data, bt))
}

/// A backtest's saved outputs (`minerva backtest --json --trades T.csv --equity
/// E.csv`), drawn on the market they came from without running the backtest again.
#[derive(Debug, Clone, Default)]
pub struct SavedBacktest {
    /// The trade list CSV.
    pub trades_csv: Option<String>,
    /// The equity curve CSV.
    pub equity_csv: Option<String>,
    /// The `--json` report.
    pub json: Option<String>,
}

/// One row of a saved trade list (the columns `minerva backtest --trades` writes;
/// others are ignored).
#[derive(Debug, serde::Deserialize)]
struct SavedTrade {
    symbol: String,
    id: u64,
    side: String,
    qty: f64,
    entry_time: String,
    exit_time: String,
    entry_price: f64,
    exit_price: f64,
    fees: f64,
    funding: f64,
    pnl: f64,
    exit: String,
}

fn saved_ms(field: &str, v: &str, row: usize) -> Result<u64, ReportError> {
    v.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| u64::try_from(t.as_millisecond()).ok())
        .ok_or_else(|| ReportError::Saved(format!("line {row}: {field} {v:?} is not a UTC time")))
}

/// Draws a backtest's saved outputs on the recorded market `frames` (the book
/// heatmap, candles and volume profile from the recording; the operations, equity and
/// report from the files). The decision panel's bins are not in the outputs.
///
/// # Errors
/// [`ReportError::Saved`] for a file that is not what `minerva backtest` writes (with
/// the line), [`ReportError::NoTrades`] for a recording without trades.
pub fn build_saved(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    cfg: &BacktestConfig,
    saved: &SavedBacktest,
) -> Result<ReportData, ReportError> {
    let mut operations = Vec::new();
    if let Some(text) = &saved.trades_csv {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for (k, row) in r.deserialize::<SavedTrade>().enumerate() {
            let line = k + 2;
            let t = row.map_err(|e| ReportError::Saved(format!("trades: {e}")))?;
            if t.symbol != spec.name.as_str() {
                continue;
            }
            let side = match t.side.as_str() {
                "long" => "LONG",
                "short" => "SHORT",
                other => {
                    return Err(ReportError::Saved(format!(
                        "trades line {line}: side {other:?} (long or short)"
                    )));
                }
            };
            operations.push(OpMark {
                id: t.id,
                side,
                decided_ms: 0,
                entry_ms: saved_ms("entry_time", &t.entry_time, line)?,
                exit_ms: saved_ms("exit_time", &t.exit_time, line)?,
                entry_price: t.entry_price,
                exit_price: t.exit_price,
                intent_entry: 0.0,
                take_profit: 0.0,
                stop_loss: 0.0,
                support_wall: 0.0,
                target_wall: 0.0,
                void_price: 0.0,
                void_width_bins: 0,
                pressure_ppm: 0,
                qty: t.qty,
                pnl: t.pnl,
                fees: t.fees,
                funding: t.funding,
                exit: t.exit,
                bins: None,
            });
        }
    }
    let mut equity = Vec::new();
    if let Some(text) = &saved.equity_csv {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for (k, row) in r.records().enumerate() {
            let line = k + 2;
            let row = row.map_err(|e| ReportError::Saved(format!("equity: {e}")))?;
            let (Some(time), Some(value)) = (row.get(0), row.get(1)) else {
                return Err(ReportError::Saved(format!(
                    "equity line {line}: two columns (time, equity) expected"
                )));
            };
            let v: f64 = value.parse().map_err(|_| {
                ReportError::Saved(format!("equity line {line}: {value:?} is not a number"))
            })?;
            equity.push((saved_ms("time", time, line)?, v));
        }
    }
    let (backtest, text) = match &saved.json {
        Some(j) => {
            let v: sonic_rs::Value = sonic_rs::from_str(j)
                .map_err(|e| ReportError::Saved(format!("--backtest-json: {e}")))?;
            let text = sonic_rs::to_string_pretty(&v).unwrap_or_default();
            (v, format!("minerva backtest --json, as saved:\n{text}"))
        }
        None => (
            sonic_rs::Value::default(),
            "no report saved with these outputs (minerva backtest --json > B.json, then --backtest-json B.json)".into(),
        ),
    };
    let (trades, samples, _) = market(input, spec, strategy, cfg, &[]);
    if trades.is_empty() {
        return Err(ReportError::NoTrades(spec.name.to_string()));
    }
    Ok(draw(
        spec, &trades, &samples, operations, equity, backtest, text,
    ))
}

/// The page's data from the recorded market (`trades`, book `samples`) and the
/// operations and equity (ms, amount) to draw on it.
fn draw(
    spec: &SymbolSpec,
    trades: &[Trade],
    samples: &[Sample],
    operations: Vec<OpMark>,
    equity_points: Vec<(u64, f64)>,
    backtest: sonic_rs::Value,
    backtest_text: String,
) -> ReportData {
    let span_ms = (trades[0].0, trades[trades.len() - 1].0);
    let (candle_s, candles) = candles(trades, span_ms);
    let mut position = vec![(span_ms.0, 0.0)];
    for o in &operations {
        let q = if o.side == "LONG" { o.qty } else { -o.qty };
        position.push((o.entry_ms, q));
        position.push((o.exit_ms, 0.0));
    }
    position.sort_by_key(|p| p.0);
    let mut peak = f64::MIN;
    let mut equity = Vec::with_capacity(equity_points.len());
    let mut drawdown = Vec::with_capacity(equity_points.len());
    for (ms, v) in equity_points {
        peak = peak.max(v);
        equity.push((ms, v));
        drawdown.push((ms, if peak > 0.0 { v / peak - 1.0 } else { 0.0 }));
    }
    let (heatmap, profile) = pictures(trades, samples, span_ms);
    let resolution = format!(
        "candles of {} (base {} s, {} candles); book heatmap {} columns of {} ms × {} rows of {:.4}; {} trade bubbles; volume profile {} rows",
        human_s(candle_s),
        candle_s,
        candles.len(),
        heatmap.times.len(),
        heatmap.column_ms,
        HEAT_ROWS,
        heatmap.row,
        heatmap.trades.len(),
        PROFILE_ROWS
    );
    ReportData {
        symbol: spec.name.to_string(),
        market: spec.market.name(),
        money: if spec.contract_size.is_some() {
            "the coin (COIN-M: margin, PnL and fees in the base coin)".into()
        } else {
            "the quote asset".into()
        },
        span_ms,
        candle_s,
        candle_steps: CANDLE_STEPS
            .iter()
            .copied()
            .filter(|s| *s >= candle_s)
            .collect(),
        candles,
        operations,
        real: Vec::new(),
        real_equity: Vec::new(),
        real_run: None,
        equity,
        drawdown,
        position,
        heatmap,
        profile,
        backtest,
        backtest_text,
        resolution,
    }
}

/// An operation as the page draws it, with the intent it came from when known
/// (decision time µs, intent).
fn mark(
    t: &ClosedTrade,
    intent: Option<(u64, &crate::signal::oracle::Intent)>,
    spec: &SymbolSpec,
) -> OpMark {
    let px = |f: fn(&crate::signal::oracle::Intent) -> crate::core::Ticks| {
        intent.map_or(0.0, |(_, i)| spec.price.to_f64(f(i)))
    };
    let e8 = |v: i64| v as f64 / 1e8;
    OpMark {
        id: t.id,
        side: if t.side == Side::Long {
            "LONG"
        } else {
            "SHORT"
        },
        decided_ms: intent.map_or(0, |(at_us, _)| at_us / 1000),
        entry_ms: t.entry_us / 1000,
        exit_ms: t.exit_us / 1000,
        entry_price: spec.avg_price(t.entry_value_e8, t.qty),
        exit_price: spec.avg_price(t.exit_value_e8, t.qty),
        intent_entry: px(|i| i.entry),
        take_profit: px(|i| i.take_profit),
        stop_loss: px(|i| i.stop_loss),
        support_wall: px(|i| i.support_wall),
        target_wall: px(|i| i.target_wall),
        void_price: px(|i| i.void_price),
        void_width_bins: intent.map_or(0, |(_, i)| i.void_width_bins),
        pressure_ppm: intent.map_or(0, |(_, i)| i.pressure_ppm),
        qty: spec.qty.to_f64(t.qty),
        pnl: e8(t.pnl_e8),
        fees: e8(t.fees_e8),
        funding: e8(t.funding_e8),
        // The name the CSV and JSON outputs give it (snake case).
        exit: sonic_rs::to_string(&t.exit)
            .map(|q| q.trim_matches('"').to_string())
            .unwrap_or_default(),
        bins: None,
    }
}

impl ReportData {
    /// Adds a live run's operations (from its journal) beside the backtest's:
    /// markers of their own on the price chart, a row each in the table, their
    /// equity (capital plus realised PnL at each close) beside the backtest's.
    pub fn add_real(
        &mut self,
        run: i64,
        trades: &[ClosedTrade],
        spec: &SymbolSpec,
        capital_e8: i64,
    ) {
        self.real = trades.iter().map(|t| mark(t, None, spec)).collect();
        let mut equity = capital_e8;
        self.real_equity = std::iter::once((self.span_ms.0, capital_e8 as f64 / 1e8))
            .chain(trades.iter().map(|t| {
                equity += t.pnl_e8;
                (t.exit_us / 1000, equity as f64 / 1e8)
            }))
            .collect();
        self.real_run = Some(run);
    }
}

fn human_s(s: u64) -> String {
    match s {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// One book sample: ms, and (price, quantity) of the levels near the touch.
struct Sample {
    ms: u64,
    levels: Vec<(f64, f64)>,
}

/// The recording's trades, and the book sampled on a fixed grid of columns.
/// The backtest's decisions that became operations: (operation, decision µs, intent).
type Decisions = [(u64, u64, crate::signal::oracle::Intent)];

/// The recording's trades, the book sampled on a fixed grid of columns, and what the
/// oracle read at each of `decisions` (found again by running the same oracle on the
/// same views: the evaluation that gave the same intent at the decision's time).
fn market(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    cfg: &BacktestConfig,
    decisions: &Decisions,
) -> (Vec<Trade>, Vec<Sample>, Vec<Option<Reading>>) {
    let mut oracle = crate::signal::oracle::Oracle::new(strategy, spec);
    let (bin_ticks, bins, limit) = oracle.view_shape();
    let mut profile = crate::signal::profile::TradeProfile::new(
        strategy.bin_ticks,
        strategy.volume_window_secs as u64 * 1000,
        1 << 16,
    );
    let mut view = Box::new(crate::book::BookView::<{ crate::strategy::MAX_BINS }>::EMPTY);
    let mut readings: Vec<Option<Reading>> = vec![None; decisions.len()];
    let mut book = Book::new(spec, &BookConfig::default());
    let (first, last) = input.span_ns();
    let (first, last) = (first / 1_000_000, last / 1_000_000);
    let column_ms = (last.saturating_sub(first) / HEAT_COLUMNS).max(100);
    let mut trades = Vec::new();
    let mut samples = Vec::new();
    let mut next = 0u64;
    let px = |t| spec.price.to_f64(t);
    let qty = |l| spec.qty.to_f64(l);
    // Latest event time of the frame being read (samples are taken at frame ends).
    let mut now = 0;
    input.for_each_book_input(spec, &mut |recorded_ns, item| {
        // The backtest's window is in recorded time; the book warms up before it.
        let inside = cfg.from_ns.is_none_or(|f| recorded_ns >= f)
            && cfg.to_ns.is_none_or(|t| recorded_ns <= t);
        match item {
            BookInput::Snapshot(snap) => {
                book.apply_snapshot(snap);
                return;
            }
            BookInput::Event(ev) => {
                if let EventBody::Trade(t) = ev.body {
                    profile.on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                    if inside {
                        trades.push((t.trade_ms, px(t.price), qty(t.qty), !t.buyer_is_maker));
                        now = now.max(t.trade_ms);
                    }
                }
                now = now.max(ev.event_ms);
                book.on_event(ev);
                // The signal stage's evaluation, where the book stage makes a view.
                if let EventBody::Depth(c) = &ev.body {
                    if c.is_last() && book.state() == crate::book::SyncState::Live {
                        profile.expire(ev.event_ms);
                        book.fill_view_walked(bin_ticks, bins, limit, &mut view);
                        if let Ok(intent) = oracle.evaluate_view(&view, &profile) {
                            let at = ev.event_ms * 1000;
                            for (k, (_, decided_us, i)) in decisions.iter().enumerate() {
                                if *i == intent && *decided_us >= at && *decided_us - at < 1_000_000
                                {
                                    readings[k] = Some(oracle.reading(&view, intent.side));
                                }
                            }
                        }
                    }
                }
                return;
            }
            BookInput::FrameEnd => {}
        }
        let frame_now = std::mem::take(&mut now);
        if !inside || frame_now < next {
            return;
        }
        let now = frame_now;
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        next = (now / column_ms + 1) * column_ms;
        // Levels within 0.5 % of the touch: what a trader looks at around the price.
        let mid = (px(bid.price) + px(ask.price)) / 2.0;
        let (lo, hi) = (mid * 0.995, mid * 1.005);
        let mut levels = Vec::with_capacity(256);
        book.for_each_bid(|l| {
            let p = px(l.price);
            levels.push((p, qty(l.qty)));
            p >= lo
        });
        book.for_each_ask(|l| {
            let p = px(l.price);
            levels.push((p, qty(l.qty)));
            p <= hi
        });
        samples.push(Sample { ms: now, levels });
    });
    trades.sort_by_key(|t| t.0);
    (trades, samples, readings)
}

/// Base candles: the smallest offered width that keeps at most [`MAX_CANDLES`].
fn candles(trades: &[Trade], span_ms: (u64, u64)) -> (u64, Vec<Candle>) {
    let span_s = (span_ms.1 - span_ms.0) / 1000 + 1;
    let step = CANDLE_STEPS
        .iter()
        .copied()
        .find(|s| span_s / s <= MAX_CANDLES)
        .unwrap_or(CANDLE_STEPS[CANDLE_STEPS.len() - 1]);
    let mut out: Vec<Candle> = Vec::new();
    for &(ms, p, q, _) in trades {
        let open = ms / (step * 1000) * step * 1000;
        match out.last_mut() {
            Some(c) if c.0 == open => {
                c.2 = c.2.max(p);
                c.3 = c.3.min(p);
                c.4 = p;
                c.5 += q;
            }
            _ => out.push(Candle(open, p, p, p, p, q)),
        }
    }
    (step, out)
}

/// The heatmap (book samples and trades on one grid) and the volume profile.
fn pictures(trades: &[Trade], samples: &[Sample], span_ms: (u64, u64)) -> (Heatmap, Profile) {
    let (mut lo, mut hi) = trades
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(t.1), h.max(t.1)));
    // The book's rows cover the traded range and a margin either side.
    let pad = ((hi - lo) * 0.1).max(hi * 0.0005);
    lo -= pad;
    hi += pad;
    let row = (hi - lo) / HEAT_ROWS as f64;
    let column_ms = ((span_ms.1 - span_ms.0) / HEAT_COLUMNS).max(100);
    let columns = ((span_ms.1 - span_ms.0) / column_ms + 1) as usize;
    let col = |ms: u64| ((ms.saturating_sub(span_ms.0)) / column_ms).min(columns as u64 - 1) as u32;
    let row_of = |p: f64| ((p - lo) / row).floor();
    let mut grid: std::collections::BTreeMap<(u32, u32), f64> = Default::default();
    let mut seen_col = vec![false; columns];
    for s in samples.iter().rev() {
        // The last sample of each column stands for it.
        let c = col(s.ms);
        if std::mem::replace(&mut seen_col[c as usize], true) {
            continue;
        }
        for &(p, q) in &s.levels {
            let r = row_of(p);
            if r >= 0.0 && (r as usize) < HEAT_ROWS {
                *grid.entry((c, r as u32)).or_default() += q;
            }
        }
    }
    let mut bubbles: std::collections::BTreeMap<(u32, u32, u8), f64> = Default::default();
    for &(ms, p, q, buy) in trades {
        let r = row_of(p).clamp(0.0, (HEAT_ROWS - 1) as f64) as u32;
        *bubbles.entry((col(ms), r, buy as u8)).or_default() += q;
    }
    let heat = Heatmap {
        times: (0..columns as u64)
            .map(|k| span_ms.0 + k * column_ms)
            .collect(),
        column_ms,
        price0: lo,
        row,
        cells: grid.into_iter().map(|((c, r), q)| (c, r, q)).collect(),
        trades: bubbles
            .into_iter()
            .map(|((c, r, b), q)| (c, r, q, b))
            .collect(),
    };
    let (tlo, thi) = trades
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(t.1), h.max(t.1)));
    let prow = ((thi - tlo) / PROFILE_ROWS as f64).max(f64::MIN_POSITIVE);
    let mut buy = vec![0.0; PROFILE_ROWS];
    let mut sell = vec![0.0; PROFILE_ROWS];
    for &(_, p, q, b) in trades {
        let r = (((p - tlo) / prow) as usize).min(PROFILE_ROWS - 1);
        if b {
            buy[r] += q;
        } else {
            sell[r] += q;
        }
    }
    let poc = (0..PROFILE_ROWS)
        .max_by(|a, b| (buy[*a] + sell[*a]).total_cmp(&(buy[*b] + sell[*b])))
        .unwrap_or(0);
    (
        heat,
        Profile {
            price0: tlo,
            row: prow,
            buy,
            sell,
            poc,
        },
    )
}

/// One tag's latency distribution: (percentile, µs) points.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyCurve {
    /// The series (`tick_to_trade`, `order_rtt`, …).
    pub tag: String,
    /// Samples.
    pub count: u64,
    /// (percentile, µs), from the median to the maximum.
    pub points: Vec<(f64, f64)>,
}

/// The percentiles a latency curve is drawn at (then the maximum, as 100).
const CURVE_PERCENTILES: [f64; 12] = [
    0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999,
];

/// The curves of an HdrHistogram interval log (intervals of a tag merged).
///
/// # Errors
/// [`crate::telemetry::TelemetryError`] for an unreadable or damaged log.
pub fn latency_curves(
    path: &std::path::Path,
) -> Result<Vec<LatencyCurve>, crate::telemetry::TelemetryError> {
    Ok(crate::telemetry::read_log(path)?
        .into_iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(tag, h)| LatencyCurve {
            tag: if tag.is_empty() {
                "latency".into()
            } else {
                tag
            },
            count: h.len(),
            points: CURVE_PERCENTILES
                .iter()
                .map(|&q| (q, h.value_at_quantile(q / 100.0) as f64 / 1e3))
                .chain(std::iter::once((100.0, h.max() as f64 / 1e3)))
                .collect(),
        })
        .collect())
}

/// An evolve log as the page draws it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvolveView {
    /// The genes' keys, in the log's order.
    pub genes: Vec<String>,
    /// Per generation: generation, best, mean, median fitness, candidates scored.
    pub generations: Vec<(u32, f64, f64, f64, usize)>,
    /// Every scored candidate: generation, its genes' values, fitness, trades.
    pub candidates: Vec<(u32, Vec<f64>, f64, f64)>,
    /// Candidates refused or failed (no fitness).
    pub refused: usize,
}

/// Why an evolve log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvolveLogError {
    /// Not a CSV the way `minerva evolve --log` writes it.
    #[error("{0}")]
    Csv(#[from] csv::Error),
    /// A column is missing.
    #[error("no `{0}` column: not a minerva evolve log")]
    Missing(&'static str),
    /// Nothing scored in it.
    #[error("no candidate with a fitness in the log")]
    Empty,
}

/// Reads a `minerva evolve --log` CSV.
///
/// # Errors
/// [`EvolveLogError`] when it is not one or holds no scored candidate.
pub fn evolve_view(text: &str) -> Result<EvolveView, EvolveLogError> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let head = r.headers()?.clone();
    let col = |name: &'static str| {
        head.iter()
            .position(|h| h == name)
            .ok_or(EvolveLogError::Missing(name))
    };
    let (generation, fitness, trades) = (col("generation")?, col("fitness")?, col("trades")?);
    let genes: Vec<(usize, String)> = (generation + 1..fitness)
        .map(|k| (k, head[k].to_string()))
        .collect();
    let mut candidates = Vec::new();
    let mut refused = 0;
    for row in r.records() {
        let row = row?;
        let num = |k: usize| row.get(k).and_then(|v| v.parse::<f64>().ok());
        let (Some(g), Some(f)) = (num(generation), num(fitness)) else {
            refused += 1;
            continue;
        };
        let values = genes
            .iter()
            .map(|(k, _)| num(*k).unwrap_or(f64::NAN))
            .collect();
        candidates.push((g as u32, values, f, num(trades).unwrap_or(0.0)));
    }
    if candidates.is_empty() {
        return Err(EvolveLogError::Empty);
    }
    let mut generations = Vec::new();
    let mut gens: Vec<u32> = candidates.iter().map(|c| c.0).collect();
    gens.sort_unstable();
    gens.dedup();
    for g in gens {
        let mut f: Vec<f64> = candidates
            .iter()
            .filter(|c| c.0 == g)
            .map(|c| c.2)
            .collect();
        f.sort_by(f64::total_cmp);
        let n = f.len();
        let median = if n % 2 == 1 {
            f[n / 2]
        } else {
            (f[n / 2 - 1] + f[n / 2]) / 2.0
        };
        generations.push((g, f[n - 1], f.iter().sum::<f64>() / n as f64, median, n));
    }
    Ok(EvolveView {
        genes: genes.into_iter().map(|(_, k)| k).collect(),
        generations,
        candidates,
        refused,
    })
}

/// Everything one page shows: a backtest, a latency log, an evolve log — any of
/// them, at least one.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Page {
    /// The page's title.
    pub title: String,
    /// A backtest of recorded data, drawn.
    pub backtest: Option<ReportData>,
    /// Latency curves.
    pub latency: Vec<LatencyCurve>,
    /// An evolve log.
    pub evolve: Option<EvolveView>,
}

/// The page: the data as JSON (with `</` escaped so it cannot close its script),
/// the chart library and its licence inlined.
pub fn html(page: &Page) -> String {
    let json = sonic_rs::to_string(page)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    PAGE.replace("{{TITLE}}", &page.title)
        .replace("{{LICENSE}}", &ECHARTS_LICENSE.replace("--", "- -"))
        .replace("{{ECHARTS}}", ECHARTS)
        .replace("{{DATA}}", &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candles_take_the_smallest_width_within_budget() {
        let t = [
            (1_000, 10.0, 1.0, true),
            (1_400, 12.0, 2.0, false),
            (1_900, 9.0, 1.0, true),
            (2_100, 11.0, 0.5, true),
        ];
        let (step, c) = candles(&t, (1_000, 2_100));
        assert_eq!(step, 1);
        assert_eq!(
            c,
            vec![
                Candle(1_000, 10.0, 12.0, 9.0, 9.0, 4.0),
                Candle(2_000, 11.0, 11.0, 11.0, 11.0, 0.5)
            ]
        );
        // A 34-hour session: 122,400 s → 15 s candles (8,160).
        let long = [(0, 1.0, 1.0, true), (122_400_000, 1.0, 1.0, true)];
        assert_eq!(candles(&long, (0, 122_400_000)).0, 15);
    }

    #[test]
    fn an_evolve_log_reads_into_generations() {
        let log = "# minerva evolve log; data and settings 088f\n\
            generation,short_pressure,long_pressure,fitness,trades,net_pnl,max_drawdown,error\n\
            0,0.75,0.3,1.0,13,0.2,0.1,\n\
            0,0.8,0.35,3.0,10,0.2,0.1,\n\
            0,0.7,0.4,2.0,4,0.2,0.1,\n\
            1,2,0.4,,,,,\"refused: `short_pressure` = 2\"\n\
            1,0.9,0.4,5.0,7,0.2,0.1,\n";
        let v = evolve_view(log).unwrap();
        assert_eq!(v.genes, ["short_pressure", "long_pressure"]);
        assert_eq!(v.refused, 1);
        assert_eq!(
            v.generations,
            vec![(0, 3.0, 2.0, 2.0, 3), (1, 5.0, 5.0, 5.0, 1)]
        );
        assert_eq!(v.candidates[1], (0, vec![0.8, 0.35], 3.0, 10.0));
        assert!(matches!(
            evolve_view("a,b\n1,2\n"),
            Err(EvolveLogError::Missing("generation"))
        ));
    }

    #[test]
    fn the_profile_finds_its_point_of_control() {
        let t = [
            (0, 100.0, 1.0, true),
            (1, 101.0, 5.0, false),
            (2, 101.0, 1.0, true),
            (3, 102.0, 1.0, false),
        ];
        let (heat, p) = pictures(&t, &[], (0, 3));
        let row = ((101.0 - 100.0) / p.row) as usize;
        assert_eq!(p.poc, row);
        assert_eq!((p.buy[row], p.sell[row]), (1.0, 5.0));
        assert_eq!(heat.trades.iter().map(|x| x.2).sum::<f64>(), 8.0);
    }
}
