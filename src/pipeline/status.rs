//! The live view's side of the pipeline: each thread copies fixed-size parts of its
//! stages into a preallocated slot when the publisher asks (the same epoch as the
//! latency reports, a few times a second), and the publisher thread, off the hot path,
//! turns them into a [`Status`] on the run's [`StatusBoard`].
//!
//! The hot path's only costs: one relaxed atomic load per loop (the epoch, already
//! there for reports), a few stores per trade into a fixed ring when a view is
//! attached, and the copy itself at the publisher's pace.

use super::latencies::Latencies;
use super::messages::View;
use super::stages::{MAX_SYMBOLS, Prints};
use crate::book::BookStats;
use crate::core::{Level, Lots, SymbolSpec, Ticks};
use crate::gateway::trader::{TraderLine, TraderStatus};
use crate::signal::oracle::{Intent, Oracle, Side, Survey};
use crate::status::{
    AccountStatus, BinRow, BinsStatus, BookStatus, IntentRow, LatencyRow, OperationRow, RingRow,
    Status, SymbolRow, TradeRow,
};
use crate::strategy::Strategy;
use arrayvec::ArrayVec;

/// Levels per side the view lists.
pub(crate) const LADDER: usize = 20;
/// Sparkline points kept.
const PRICES: usize = 240;
/// Traded-volume bins posted around the last trade.
const TRADED_BINS: usize = 512;

/// A trade, as the signal stage keeps it for the view.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TradePrint {
    pub(crate) ms: u64,
    pub(crate) price: Ticks,
    pub(crate) qty: Lots,
    pub(crate) buy: bool,
}

/// The book stage's part.
pub(crate) struct BookPost {
    pub(crate) stats: BookStats,
    pub(crate) live: bool,
    pub(crate) bids: ArrayVec<Level, LADDER>,
    pub(crate) asks: ArrayVec<Level, LADDER>,
    pub(crate) view: View,
    /// Every symbol's book at a glance (a run of several; empty for one).
    pub(crate) lines: ArrayVec<BookLine, MAX_SYMBOLS>,
}

impl BookPost {
    fn new() -> Self {
        Self {
            stats: BookStats::default(),
            live: false,
            bids: ArrayVec::new(),
            asks: ArrayVec::new(),
            view: View::EMPTY,
            lines: ArrayVec::new(),
        }
    }
}

impl SignalPost {
    fn new() -> Self {
        Self {
            evaluations: 0,
            intents: 0,
            pressure_ppm: 500_000,
            prints: Prints::empty(),
            traded_base: 0,
            traded: [0; TRADED_BINS],
            lines: ArrayVec::new(),
        }
    }
}

/// One symbol's book at a glance.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BookLine {
    pub(crate) live: bool,
    pub(crate) bid: Option<Level>,
    pub(crate) ask: Option<Level>,
    pub(crate) stats: BookStats,
}

/// The signal stage's part.
pub(crate) struct SignalPost {
    pub(crate) evaluations: u64,
    pub(crate) intents: u64,
    pub(crate) pressure_ppm: u32,
    pub(crate) prints: Prints,
    /// Absolute bin of `traded[0]`.
    pub(crate) traded_base: i64,
    pub(crate) traded: [i64; TRADED_BINS],
    /// Every symbol's (evaluations, last ask share in ppm) (a run of several).
    pub(crate) lines: ArrayVec<(u64, u32), MAX_SYMBOLS>,
}

/// The feed stage's part.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FeedPost {
    pub(crate) frames: u64,
    pub(crate) errors: u64,
}

/// What one thread posts: the parts of the stages it runs (others stay `None`),
/// and its rings' counters. Allocated once, before the run.
pub(crate) struct Slot {
    pub(crate) feed: Option<FeedPost>,
    pub(crate) book: Option<Box<BookPost>>,
    pub(crate) signal: Option<Box<SignalPost>>,
    pub(crate) gateway: Option<Box<TraderStatus>>,
    /// The other symbols' parts of a run of several (symbol `k` at `k - 1`).
    pub(crate) book_more: Vec<BookPost>,
    pub(crate) signal_more: Vec<SignalPost>,
    pub(crate) gateway_more: Vec<TraderStatus>,
    /// Every symbol's trader at a glance (a run of several; empty for one).
    pub(crate) traders: Option<Box<ArrayVec<TraderLine, MAX_SYMBOLS>>>,
    /// Messages per ring (inbox side) and stalls (outbox side), where this thread
    /// holds them.
    pub(crate) ring_messages: [Option<u64>; 3],
    pub(crate) ring_stalls: [u64; 3],
}

impl Slot {
    /// Copies the parts of the stages given (`feed`: its frames and errors) into the
    /// slot: what a pipeline thread posts each view epoch, and the run's last picture.
    pub(crate) fn fill(
        &mut self,
        feed: Option<(u64, u64)>,
        book: Option<&mut super::stages::BookStage>,
        signal: Option<&super::stages::SignalStage>,
        traders: Option<&[crate::gateway::trader::Trader]>,
    ) {
        if let (Some((frames, errors)), Some(p)) = (feed, self.feed.as_mut()) {
            p.frames = frames;
            p.errors = errors;
        }
        if let (Some(b), Some(p)) = (book, self.book.as_deref_mut()) {
            b.fill_status(p, &mut self.book_more);
        }
        if let (Some(g), Some(p)) = (signal, self.signal.as_deref_mut()) {
            g.fill_status(p, &mut self.signal_more);
        }
        if let (Some(t), Some(p)) = (traders.and_then(|t| t.first()), self.gateway.as_deref_mut()) {
            t.fill_status(p);
        }
        for (t, p) in traders
            .unwrap_or_default()
            .iter()
            .skip(1)
            .zip(self.gateway_more.iter_mut())
        {
            t.fill_status(p);
        }
        if let (Some(all), Some(p)) = (traders, self.traders.as_deref_mut()) {
            p.clear();
            if all.len() > 1 {
                p.extend(all.iter().map(crate::gateway::trader::Trader::line));
            }
        }
    }

    /// Room for every stage's part of each of `symbols` (whichever stages this
    /// thread turns out to run).
    pub(crate) fn new(symbols: usize) -> Self {
        let more = symbols.saturating_sub(1);
        Self {
            feed: Some(FeedPost::default()),
            book: Some(Box::new(BookPost::new())),
            signal: Some(Box::new(SignalPost::new())),
            gateway: Some(Box::new(TraderStatus::default())),
            book_more: (0..more).map(|_| BookPost::new()).collect(),
            signal_more: (0..more).map(|_| SignalPost::new()).collect(),
            gateway_more: (0..more).map(|_| TraderStatus::default()).collect(),
            traders: Some(Box::new(ArrayVec::new())),
            ring_messages: [None; 3],
            ring_stalls: [0; 3],
        }
    }
}

/// What the publisher needs beside the posts: names, grids, each symbol's oracle
/// rules and sparkline history.
pub(crate) struct Publisher {
    /// Every symbol's spec, in the feed's order.
    specs: Vec<SymbolSpec>,
    /// Each symbol's oracle (for the survey of its book).
    oracles: Vec<Oracle>,
    long_at: f64,
    short_at: f64,
    source: String,
    trading: String,
    /// Each symbol's mid prices at the last snapshots.
    prices: Vec<std::collections::VecDeque<f64>>,
    seq: u64,
}

/// Parts of one snapshot, gathered from the threads' slots (each stage's from the
/// thread that runs it).
#[derive(Default)]
pub(crate) struct Parts<'a> {
    pub(crate) feed: Option<&'a FeedPost>,
    pub(crate) book: Option<&'a BookPost>,
    pub(crate) signal: Option<&'a SignalPost>,
    pub(crate) gateway: Option<&'a TraderStatus>,
    pub(crate) traders: Option<&'a [TraderLine]>,
    /// The other symbols' parts (symbol `k` at `k - 1`).
    pub(crate) book_more: &'a [BookPost],
    pub(crate) signal_more: &'a [SignalPost],
    pub(crate) gateway_more: &'a [TraderStatus],
    pub(crate) ring_messages: [u64; 3],
    pub(crate) ring_stalls: [u64; 3],
}

impl Publisher {
    /// A publisher for the symbols `specs` (the feed's, in its order; not empty).
    pub(crate) fn new(
        specs: &[SymbolSpec],
        strategy: &Strategy,
        source: &str,
        trading: &str,
    ) -> Self {
        Self {
            specs: specs.to_vec(),
            oracles: specs.iter().map(|s| Oracle::new(strategy, s)).collect(),
            long_at: strategy.long_pressure_ppm as f64 / 1e6,
            short_at: strategy.short_pressure_ppm as f64 / 1e6,
            source: source.to_string(),
            trading: trading.to_string(),
            prices: specs
                .iter()
                .map(|_| std::collections::VecDeque::with_capacity(PRICES))
                .collect(),
            seq: 0,
        }
    }

    /// One snapshot from the parts and the merged latencies. Cold: allocates.
    pub(crate) fn compose(&mut self, parts: &Parts<'_>, lat: &Latencies, uptime_s: f64) -> Status {
        self.seq += 1;
        let mut s = self.symbol_status(0, parts.book, parts.signal, parts.gateway, uptime_s);
        if let Some(f) = parts.feed {
            s.counters.frames = f.frames;
            s.counters.decode_errors = f.errors;
        }
        s.details = (1..self.specs.len())
            .map(|k| {
                self.symbol_status(
                    k,
                    parts.book_more.get(k - 1),
                    parts.signal_more.get(k - 1),
                    parts.gateway_more.get(k - 1),
                    uptime_s,
                )
            })
            .collect();
        let e8 = |v: i64| v as f64 / 1e8;
        s.symbols = self.symbol_rows(parts);
        if let Some(ts) = parts.traders.filter(|t| t.len() > 1) {
            // The account is the run's: money and operations over every symbol.
            let a = &mut s.account;
            a.realised = e8(ts.iter().map(|t| t.risk.realised_e8).sum());
            a.fees = e8(ts.iter().map(|t| t.risk.fees_e8).sum());
            a.unrealised = e8(ts.iter().map(|t| t.unrealised_e8).sum());
            a.equity = a.capital + a.realised + a.unrealised;
            a.in_flight = ts.iter().map(|t| t.in_flight).sum();
            a.accepted = ts.iter().map(|t| t.risk.accepted).sum();
            a.refused = ts.iter().map(|t| t.risk.refused).sum();
            a.closed = ts.iter().map(|t| t.risk.closed).sum();
            s.counters.orders = ts.iter().map(|t| t.stats.entries).sum();
            s.counters.fills = ts
                .iter()
                .map(|t| t.stats.entries_filled + t.stats.entries_partial)
                .sum();
        }
        s.counters.rings = ["feed→book", "book→signal", "signal→gateway"]
            .iter()
            .enumerate()
            .map(|(k, name)| RingRow {
                name: (*name).into(),
                messages: parts.ring_messages[k],
                stalls: parts.ring_stalls[k],
            })
            .collect();
        s.latency = lat
            .all()
            .iter()
            .map(|l| {
                let h = l.histogram();
                LatencyRow {
                    stage: l.name().into(),
                    count: h.len(),
                    p50_ns: h.value_at_quantile(0.5),
                    p99_ns: h.value_at_quantile(0.99),
                    max_ns: h.max(),
                    mean_ns: h.mean(),
                }
            })
            .collect();
        s
    }

    /// Symbol `k`'s panels: its book, bins, sparkline, trades, operations, account
    /// and counters, from its stages' parts. Cold: allocates.
    fn symbol_status(
        &mut self,
        k: usize,
        book: Option<&BookPost>,
        signal: Option<&SignalPost>,
        gateway: Option<&TraderStatus>,
        uptime_s: f64,
    ) -> Status {
        let spec = &self.specs[k];
        let px = |t: Ticks| spec.price.to_f64(t);
        let qty = |l: Lots| spec.qty.to_f64(l);
        let e8 = |v: i64| v as f64 / 1e8;
        let mut s = Status {
            symbol: spec.name.to_string(),
            source: self.source.clone(),
            trading: self.trading.clone(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            uptime_s,
            seq: self.seq,
            price_decimals: spec.price.decimals(),
            qty_decimals: spec.qty.decimals(),
            ..Status::default()
        };
        if let Some(b) = book {
            s.book = BookStatus {
                live: b.live,
                bids: b.bids.iter().map(|l| (px(l.price), qty(l.qty))).collect(),
                asks: b.asks.iter().map(|l| (px(l.price), qty(l.qty))).collect(),
            };
            let c = &mut s.counters;
            c.applied = b.stats.applied;
            c.gaps = b.stats.gaps;
            c.resyncs = b.stats.resyncs;
            c.crosses = b.stats.crosses;
            if let (Some(bid), Some(ask)) = (b.view.best_bid, b.view.best_ask) {
                let prices = &mut self.prices[k];
                if prices.len() == PRICES {
                    prices.pop_front();
                }
                prices.push_back((px(bid.price) + px(ask.price)) / 2.0);
            }
            let traded = |bin: i64| {
                signal.map_or(0, |sg| {
                    usize::try_from(bin - sg.traded_base)
                        .ok()
                        .and_then(|k| sg.traded.get(k).copied())
                        .unwrap_or(0)
                })
            };
            if b.live {
                let survey = self.oracles[k].survey(&b.view, traded);
                s.bins = self.bins(k, &survey);
            } else {
                s.bins.long_at = self.long_at;
                s.bins.short_at = self.short_at;
            }
        }
        s.prices = self.prices[k].iter().copied().collect();
        if let Some(sg) = signal {
            s.counters.evaluations = sg.evaluations;
            s.counters.intents = sg.intents;
            let p = &sg.prints;
            let n = (p.pushed as usize).min(p.trades.len());
            s.trades = (0..n)
                .map(|j| p.trades[(p.pushed as usize - 1 - j) % p.trades.len()])
                .map(|t| TradeRow {
                    ms: t.ms,
                    price: px(t.price),
                    qty: qty(t.qty),
                    buy: t.buy,
                })
                .collect();
            s.last_intent = p.last_intent.map(|i| self.intent_row(k, &i));
            if s.bins.bids.is_empty() {
                s.bins.pressure = sg.pressure_ppm as f64 / 1e6;
            }
        }
        if let Some(g) = gateway {
            s.counters.orders = g.stats.entries;
            s.counters.fills = g.stats.entries_filled + g.stats.entries_partial;
            s.operations = g
                .ops
                .iter()
                .map(|o| OperationRow {
                    id: o.op.id,
                    side: side_name(o.op.intent.side).into(),
                    phase: o.phase.into(),
                    entry: px(o.op.intent.entry),
                    take_profit: px(o.op.intent.take_profit),
                    stop_loss: px(o.op.intent.stop_loss),
                    qty: qty(o.op.qty),
                    held: qty(o.held),
                    pnl: e8(o.unrealised_e8),
                    pnl_at_tp: e8(o.op.pnl_at_tp_e8),
                    pnl_at_sl: e8(o.op.pnl_at_sl_e8),
                })
                .collect();
            let r = &g.risk;
            s.account = AccountStatus {
                capital: e8(r.capital_e8),
                realised: e8(r.realised_e8),
                fees: e8(r.fees_e8),
                unrealised: e8(g.unrealised_e8),
                equity: e8(r.capital_e8 + r.realised_e8 + g.unrealised_e8),
                position: qty(g.position),
                in_flight: g.in_flight,
                accepted: r.accepted,
                refused: r.refused,
                closed: r.closed,
                killed: g.killed || r.killed_by_drawdown,
            };
        }
        s
    }

    /// A line per symbol of a run of several, from the stages' lines (a stage
    /// another thread has not posted yet leaves its columns at zero).
    fn symbol_rows(&self, parts: &Parts<'_>) -> Vec<SymbolRow> {
        if self.specs.len() < 2 {
            return Vec::new();
        }
        self.specs
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let px = |l: Option<Level>| l.map(|l| spec.price.to_f64(l.price));
                let mut row = SymbolRow {
                    symbol: spec.name.to_string(),
                    pressure: 0.5,
                    ..SymbolRow::default()
                };
                if let Some(b) = parts.book.and_then(|b| b.lines.get(k)) {
                    row.live = b.live;
                    row.bid = px(b.bid);
                    row.ask = px(b.ask);
                    row.applied = b.stats.applied;
                    row.gaps = b.stats.gaps;
                    row.resyncs = b.stats.resyncs;
                    row.crosses = b.stats.crosses;
                }
                if let Some(&(evaluations, ppm)) = parts.signal.and_then(|g| g.lines.get(k)) {
                    row.evaluations = evaluations;
                    row.pressure = ppm as f64 / 1e6;
                }
                if let Some(t) = parts.traders.and_then(|t| t.get(k)) {
                    row.position = spec.qty.to_f64(t.position);
                    row.in_flight = t.in_flight;
                    row.accepted = t.risk.accepted;
                    row.refused = t.risk.refused;
                    row.realised = t.risk.realised_e8 as f64 / 1e8;
                    row.unrealised = t.unrealised_e8 as f64 / 1e8;
                }
                row
            })
            .collect()
    }

    fn bins(&self, k: usize, v: &Survey) -> BinsStatus {
        let spec = &self.specs[k];
        let bin_ticks = v.bin_ticks.max(1);
        let q = |l: i64| spec.qty.to_f64(Lots(l));
        let side = |sv: &crate::signal::oracle::SideSurvey, up: bool| -> Vec<BinRow> {
            (0..sv.qty.len())
                .map(|k| {
                    let abs = if up {
                        sv.origin + k as i64
                    } else {
                        sv.origin - k as i64
                    };
                    BinRow {
                        price: spec.price.to_f64(Ticks(abs * bin_ticks)),
                        qty: q(sv.qty[k]),
                        traded: q(sv.traded[k]),
                        wall: sv.walls.contains(&(k as u32)),
                        void: sv.voids.contains(&(k as u32)),
                    }
                })
                .collect()
        };
        BinsStatus {
            bin_size: spec.price.to_f64(Ticks(bin_ticks)),
            pressure: v.pressure_ppm as f64 / 1e6,
            long_at: self.long_at,
            short_at: self.short_at,
            leaning: v.leaning.map(|s| side_name(s).into()),
            bids: side(&v.bid, false),
            asks: side(&v.ask, true),
            wall_threshold: (q(v.bid.wall_threshold), q(v.ask.wall_threshold)),
            void_threshold: (q(v.bid.void_threshold), q(v.ask.void_threshold)),
        }
    }

    fn intent_row(&self, k: usize, i: &Intent) -> IntentRow {
        let px = |t: Ticks| self.specs[k].price.to_f64(t);
        IntentRow {
            side: side_name(i.side).into(),
            entry: px(i.entry),
            take_profit: px(i.take_profit),
            stop_loss: px(i.stop_loss),
            support_wall: px(i.support_wall),
            target_wall: px(i.target_wall),
            void_price: px(i.void_price),
            pressure: i.pressure_ppm as f64 / 1e6,
        }
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Long => "long",
        Side::Short => "short",
    }
}

impl Slot {
    /// This slot's parts and ring counters, merged into `parts` (each stage is posted
    /// by exactly one thread, the one that runs it).
    pub(crate) fn gather<'a>(&'a self, parts: &mut Parts<'a>, runs: &[super::pin::Stage]) {
        use super::pin::Stage;
        for st in runs {
            match st {
                Stage::Feed => parts.feed = self.feed.as_ref(),
                Stage::Book => {
                    parts.book = self.book.as_deref();
                    parts.book_more = &self.book_more;
                }
                Stage::Signal => {
                    parts.signal = self.signal.as_deref();
                    parts.signal_more = &self.signal_more;
                }
                Stage::Gateway => {
                    parts.gateway = self.gateway.as_deref();
                    parts.traders = self.traders.as_deref().map(|t| t.as_slice());
                    parts.gateway_more = &self.gateway_more;
                }
            }
        }
        for k in 0..3 {
            if let Some(m) = self.ring_messages[k] {
                parts.ring_messages[k] = m;
            }
            parts.ring_stalls[k] += self.ring_stalls[k];
        }
    }
}
