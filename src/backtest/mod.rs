//! The backtest: the live pipeline's own stages (feed, book, signal, gateway with the
//! risk manager and trader) stepped over recorded frames on one thread, with the
//! simulated exchange ([`crate::sim`]) where the socket would be. Nothing in the
//! strategy, book or risk code differs from `minerva run`; only the source of frames
//! and the pacing do. Deterministic: the same frames and options give the same report
//! (every random draw is seeded).
//!
//! ```text
//! recorded frames ─▶ Compact { feed ─▶ book ─▶ signal ─▶ gateway ─▶ SimExchange }
//!                                                     journal: trades, equity ─▶ fitness
//! ```

pub mod fitness;
pub mod report;
pub mod tape;

use crate::book::BookStats;
use crate::core::{Market, SymbolSpec};
use crate::feed::RecordedFrames;
use crate::gateway::trader::{ClosedTrade, EquityPoint, TraderStats};
use crate::pipeline::Compact;
use crate::pipeline::ShapeError;
use crate::risk::RiskStats;
use crate::sim::{SimOptions, SimStats};
use crate::strategy::Strategy;
use crate::venues::binance::sign::Signer;
use fitness::{Metrics, Objective};
use std::time::Instant;
use tape::Tape;

/// How a backtest runs (serialisable: `evolve --queue` hands it to workers).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BacktestConfig {
    /// The simulated exchange's models.
    pub sim: SimOptions,
    /// Equity sampling period (per-period returns), µs.
    pub period_us: u64,
    /// Trade only from this recorded time (ns); earlier frames warm the book up.
    pub from_ns: Option<u64>,
    /// Stop after this recorded time (ns).
    pub to_ns: Option<u64>,
    /// The fitness.
    pub objective: Objective,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            sim: SimOptions::default(),
            period_us: 60_000_000,
            from_ns: None,
            to_ns: None,
            objective: Objective::default(),
        }
    }
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The strategy does not fit the pipeline's view.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Nothing to trade in the window.
    #[error("no recorded frame falls between --from and --to")]
    EmptyWindow,
    /// The gateway was not trading on the simulated exchange (cannot happen through
    /// [`run`], which builds it).
    #[error("the backtest's gateway is not on the simulated exchange")]
    NotSimulated,
}

/// Everything a backtest found.
#[derive(Debug, Clone)]
pub struct BacktestReport {
    /// Symbol.
    pub symbol: String,
    /// Market.
    pub market: Market,
    /// Capital, 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Frames (or, from a tape, decoded messages) replayed, warm-up included.
    pub frames: u64,
    /// Read from a tape of decoded messages rather than frames.
    pub tape: bool,
    /// Frames in the trading window.
    pub window_frames: u64,
    /// Frames that could not be decoded (skipped).
    pub decode_errors: u64,
    /// Exchange time of the window's first and last event, ms.
    pub span_ms: (u64, u64),
    /// Wall time of the run, s.
    pub wall_secs: f64,
    /// Closed operations.
    pub trades: Vec<ClosedTrade>,
    /// Equity every period and after every close.
    pub equity: Vec<EquityPoint>,
    /// Oracle evaluations and intents.
    pub evaluations: u64,
    /// Intents proposed.
    pub intents: u64,
    /// Trader counters.
    pub trader: TraderStats,
    /// Exchange counters.
    pub exchange: SimStats,
    /// Risk counters.
    pub risk: RiskStats,
    /// Book counters.
    pub book: BookStats,
    /// Fees the exchange charged, funding it paid, margin it liquidated (10⁻⁸ quote).
    pub account: (i64, i64, i64),
    /// The figures.
    pub metrics: Metrics,
    /// What the fitness is.
    pub objective: Objective,
    /// The fitness.
    pub fitness: f64,
    /// The exchange's models.
    pub sim: SimOptions,
    /// Equity period, µs.
    pub period_us: u64,
}

/// What a backtest reads.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Recorded frames (`(bytes, recorded ns)`, in order): decoded as `minerva run`
    /// decodes a socket's.
    Frames(&'a [(Vec<u8>, u64)]),
    /// A tape of already decoded messages.
    Tape(&'a Tape),
}

/// What reaches a book, one item at a time (for cold readers of an [`Input`]: the
/// report's pictures, `signal`): an event, or a REST snapshot whole.
#[derive(Debug, Clone, Copy)]
pub enum BookInput<'a> {
    /// A decoded event.
    Event(&'a crate::core::MarketEvent),
    /// A REST snapshot.
    Snapshot(&'a crate::core::DepthSnapshot),
    /// The end of a recorded frame: every event it held was handed out (a depth
    /// event of many levels comes in several chunks; the book is whole only here).
    FrameEnd,
}

impl Input<'_> {
    /// Recorded time of the first and the last message, ns (0 when empty).
    pub fn span_ns(&self) -> (u64, u64) {
        match self {
            Input::Frames(f) => (f.first().map_or(0, |x| x.1), f.last().map_or(0, |x| x.1)),
            Input::Tape(t) => (
                t.time_ns(0).unwrap_or(0),
                t.time_ns(t.len().saturating_sub(1)).unwrap_or(0),
            ),
        }
    }

    /// Hands `f` every event and snapshot of the input in order, with the recorded
    /// time of its frame (ns): frames decoded for `spec` as the feed stage decodes
    /// them, or a tape's messages (its snapshots gathered whole). Cold: it builds
    /// each snapshot.
    pub fn for_each_book_input(&self, spec: &SymbolSpec, f: &mut dyn FnMut(u64, BookInput<'_>)) {
        use crate::core::DepthSnapshot;
        use crate::pipeline::FeedMsg;
        match self {
            Input::Frames(frames) => {
                let mut dec = crate::venues::MarketDecoder::for_symbol(spec);
                for (bytes, at) in frames.iter() {
                    let r = dec.decode(bytes, *at, &mut |ev| f(*at, BookInput::Event(ev)));
                    if let Ok(crate::venues::wire::Decoded::Snapshot { .. }) = r {
                        if let Ok(snap) =
                            crate::venues::parse_depth_snapshot(spec.venue, bytes, spec)
                        {
                            f(*at, BookInput::Snapshot(&snap));
                        }
                    }
                    f(*at, BookInput::FrameEnd);
                }
            }
            Input::Tape(tape) => {
                let mut msg = FeedMsg::SnapshotEnd;
                let mut snap: Option<DepthSnapshot> = None;
                for k in 0..tape.len() {
                    let at = tape.time_ns(k).unwrap_or(0);
                    tape.read(k, &mut msg);
                    match &msg {
                        FeedMsg::Event(ev) => {
                            f(at, BookInput::Event(ev));
                            let more = matches!(&ev.body, crate::core::EventBody::Depth(c) if !c.is_last());
                            if !more {
                                f(at, BookInput::FrameEnd);
                            }
                        }
                        FeedMsg::SnapshotBegin { last_update_id, .. } => {
                            snap = Some(DepthSnapshot {
                                last_update_id: *last_update_id,
                                event_ms: None,
                                bids: Vec::new(),
                                asks: Vec::new(),
                            });
                        }
                        FeedMsg::SnapshotLevels(c) => {
                            if let Some(s) = snap.as_mut() {
                                s.bids.extend_from_slice(c.bids());
                                s.asks.extend_from_slice(c.asks());
                            }
                        }
                        FeedMsg::SnapshotEnd => {
                            if let Some(s) = snap.take() {
                                f(at, BookInput::Snapshot(&s));
                            }
                            f(at, BookInput::FrameEnd);
                        }
                    }
                }
            }
        }
    }
}

/// Operations and equity samples reserved up front, so the journal does not allocate
/// while the backtest runs (it grows past them, amortised, on very long runs).
const TRADES_RESERVED: usize = 1 << 14;

/// Runs `strategy` over `input` for `spec`, with requests signed by `signer`.
/// `progress(done, total)` is called every few thousand frames or messages.
///
/// # Errors
/// [`BacktestError`] when the strategy does not fit or the window is empty.
pub fn run(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &BacktestConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BacktestReport, BacktestError> {
    run_with(input, spec, strategy, signer, cfg, progress, None)
}

/// [`run`], handing `audit` every entry the trader would journal live (decisions and
/// verdicts, requests, the simulated exchange's reports, closed operations) as it
/// happens: `minerva observe` measures the theoretical side's latencies from them
/// exactly as the live side's are measured from the journal.
///
/// # Errors
/// As [`run`].
pub fn run_audited(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &BacktestConfig,
    progress: &mut dyn FnMut(u64, u64),
    audit: &mut dyn FnMut(&crate::gateway::audit::Entry),
) -> Result<BacktestReport, BacktestError> {
    run_with(input, spec, strategy, signer, cfg, progress, Some(audit))
}

fn run_with(
    input: Input<'_>,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &BacktestConfig,
    progress: &mut dyn FnMut(u64, u64),
    mut audit: Option<&mut dyn FnMut(&crate::gateway::audit::Entry)>,
) -> Result<BacktestReport, BacktestError> {
    let (n, first_ns, last_ns) = match input {
        Input::Frames(f) => (f.len(), f.first().map(|x| x.1), f.last().map(|x| x.1)),
        Input::Tape(t) => (
            t.len(),
            t.time_ns(0),
            t.len().checked_sub(1).and_then(|k| t.time_ns(k)),
        ),
    };
    let index_at = |t: u64| match input {
        Input::Frames(f) => f.partition_point(|x| x.1 < t),
        Input::Tape(tape) => tape.index_at(t),
    };
    let index_after = |t: u64| match input {
        Input::Frames(f) => f.partition_point(|x| x.1 <= t),
        Input::Tape(tape) => tape.index_after(t),
    };
    let start = cfg.from_ns.map_or(0, index_at);
    let end = cfg.to_ns.map_or(n, index_after);
    if start >= end {
        return Err(BacktestError::EmptyWindow);
    }
    let wall = Instant::now();
    let frames: &[(Vec<u8>, u64)] = match input {
        Input::Frames(f) => &f[..end],
        Input::Tape(_) => &[],
    };
    // Nobody reads a backtest's latencies: no clock reads, no histograms.
    let mut p = Compact::untimed(
        RecordedFrames::new(frames),
        spec,
        strategy,
        signer,
        &cfg.sim,
    )?;
    let span = last_ns.unwrap_or(0).saturating_sub(first_ns.unwrap_or(0)) / 1000;
    let points = (span / cfg.period_us.max(1)) as usize + TRADES_RESERVED;
    p.gateway
        .trader_mut()
        .keep_journal(cfg.period_us, TRADES_RESERVED, points);
    p.gateway.set_accepting(start == 0);
    // Drained after every step: a frame yields a handful of entries at most.
    let mut entries = audit.is_some().then(|| {
        let (tx, rx) = rtrb::RingBuffer::new(4096);
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        p.gateway
            .trader_mut()
            .keep_audit(crate::gateway::audit::Recorder::new(tx, lost));
        rx
    });
    let mut drain = |rx: &mut Option<rtrb::Consumer<crate::gateway::audit::Stamped>>| {
        if let (Some(rx), Some(f)) = (rx.as_mut(), audit.as_mut()) {
            while let Ok(s) = rx.pop() {
                f(&s.entry);
            }
        }
    };
    let total = end as u64;
    let mut done = 0u64;
    let mut first_ms = None;
    loop {
        let more = match input {
            // One frame per step; a single thread never abandons a ring.
            Input::Frames(_) => p.step().unwrap_or(false),
            Input::Tape(t) => {
                let k = done as usize;
                k < end && p.feed_msg(|m| t.read(k, m)).is_ok()
            }
        };
        drain(&mut entries);
        if !more {
            break;
        }
        done += 1;
        if done == start as u64 {
            p.gateway.set_accepting(true);
        }
        // The window starts at the first event with an exchange time (a REST snapshot
        // or a spot bookTicker has none).
        let now_us = p.gateway.trader().exchange_now_us();
        if first_ms.is_none() && done > start as u64 && now_us > 0 {
            first_ms = Some(now_us / 1000);
        }
        if done % 8192 == 0 {
            progress(done, total);
        }
    }
    progress(done, total);
    let last_ms = p.gateway.trader().exchange_now_us() / 1000;
    p.shutdown();
    p.gateway.trader_mut().close_at_end();
    drain(&mut entries);
    let t = p.gateway.trader();
    let journal = t.journal().cloned().unwrap_or_default();
    let metrics = fitness::metrics(
        &journal.trades,
        &journal.equity,
        strategy.capital.0,
        cfg.period_us,
    );
    let Some(x) = t.simulated_exchange() else {
        return Err(BacktestError::NotSimulated);
    };
    let a = x.account();
    Ok(BacktestReport {
        symbol: spec.name.to_string(),
        market: spec.market,
        capital_e8: strategy.capital.0,
        frames: done,
        window_frames: (end - start) as u64,
        decode_errors: match input {
            Input::Frames(_) => p.feed.errors,
            Input::Tape(t) => t.decode_errors,
        },
        tape: matches!(input, Input::Tape(_)),
        span_ms: (first_ms.unwrap_or(last_ms), last_ms),
        wall_secs: wall.elapsed().as_secs_f64(),
        evaluations: p.signal.evaluations,
        intents: p.signal.intents,
        trader: t.stats,
        exchange: t.exchange_stats(),
        risk: t.risk_stats(),
        book: p.book.book.stats(),
        account: (a.fees_e8, a.funding_e8, a.liquidated_e8),
        fitness: cfg.objective.of(&metrics),
        metrics,
        objective: cfg.objective,
        sim: cfg.sim,
        period_us: cfg.period_us,
        trades: journal.trades,
        equity: journal.equity,
    })
}

/// Several symbols' backtests seen as one book of trades: every symbol ran with the
/// strategy's capital, so the combined capital is their sum and the combined equity is
/// the sum of their curves (each held at its last value between its points).
#[derive(Debug, Clone)]
pub struct Combined {
    /// Symbols, in run order.
    pub symbols: Vec<String>,
    /// Capital of all runs, 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Every closed operation, by closing time.
    pub trades: Vec<ClosedTrade>,
    /// The summed equity curve.
    pub equity: Vec<EquityPoint>,
    /// The figures.
    pub metrics: Metrics,
    /// The fitness.
    pub fitness: f64,
}

/// Combines per-symbol reports (cold).
pub fn combine(reports: &[BacktestReport], objective: Objective, period_us: u64) -> Combined {
    let capital_e8: i64 = reports.iter().map(|r| r.capital_e8).sum();
    let mut trades: Vec<ClosedTrade> = reports.iter().flat_map(|r| r.trades.clone()).collect();
    trades.sort_by_key(|t| t.exit_us);
    let mut points: Vec<(u64, usize, i64)> = reports
        .iter()
        .enumerate()
        .flat_map(|(k, r)| r.equity.iter().map(move |p| (p.time_us, k, p.equity_e8)))
        .collect();
    points.sort_by_key(|&(t, k, _)| (t, k));
    let mut last: Vec<i64> = reports.iter().map(|r| r.capital_e8).collect();
    let equity = points
        .into_iter()
        .map(|(t, k, e)| {
            last[k] = e;
            EquityPoint {
                time_us: t,
                equity_e8: last.iter().sum(),
            }
        })
        .collect::<Vec<_>>();
    let metrics = fitness::metrics(&trades, &equity, capital_e8, period_us);
    Combined {
        symbols: reports.iter().map(|r| r.symbol.clone()).collect(),
        capital_e8,
        fitness: objective.of(&metrics),
        trades,
        equity,
        metrics,
    }
}
