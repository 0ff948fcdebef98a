//! The pipeline's stages as plain structs with step methods: the same code runs on its
//! own thread, in the compact loop, or (later) under the backtester.
//!
//! ```text
//! source ─frames─▶ [FeedStage] ─FeedMsg─▶ [BookStage] ─SignalMsg─▶ [SignalStage] ─OrderMsg─▶ [GatewayStage] ─signed bytes─▶ exchange
//! ```
//! The book publishes a fixed-size view per update (touch and depth per bin, kept
//! incrementally), so the oracle can run on another core without reading the book.

use super::ring::{Abandoned, Inbox, Outbox};
use crate::book::{Book, BookConfig, BookView, SyncState, VIEW_BINS};
use crate::core::clock::now_ns;
use crate::core::{DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, MarketEvent, SymbolSpec};
use crate::feed::{Frame, Source};
use crate::gateway::trader::{Outcome, Shutdown, Trader};
use crate::signal::oracle::{Intent, Oracle};
use crate::signal::profile::TradeProfile;
use crate::sim::SimOptions;
use crate::strategy::Strategy;
use crate::telemetry::Latency;
use crate::venues::binance::sign::Signer;
use crate::venues::binance::snapshot::parse_raw_snapshot;
use crate::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, DepthSnapshot, SymbolTable};

/// Feed → book.
#[derive(Debug, Clone, Copy)]
pub enum FeedMsg {
    /// A decoded event; `recv_ns` is the frame's receive time.
    Event(MarketEvent),
    /// A REST snapshot begins (levels follow as chunks, bids then asks).
    SnapshotBegin {
        /// `lastUpdateId`.
        last_update_id: u64,
    },
    /// Up to 32 snapshot levels (`n_bids` of them bids).
    SnapshotLevels(DepthChunk),
    /// The snapshot is complete.
    SnapshotEnd,
}

/// A message with the time its producer pushed it (for queueing delays).
#[derive(Debug, Clone, Copy)]
pub struct Stamped<T> {
    /// The message.
    pub msg: T,
    /// When it was pushed (ns).
    pub pushed_ns: u64,
}

/// Book → gateway: an intent and the receive time of the frame that caused it.
#[derive(Debug, Clone, Copy)]
pub struct IntentMsg {
    /// The oracle's proposal.
    pub intent: Intent,
    /// Receive time of the frame that triggered it (tick-to-trade starts here).
    pub frame_ns: u64,
    /// Exchange time of that event (ms), for the risk manager's day.
    pub event_ms: u64,
}

/// Latency series of the whole pipeline.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Feed: decode time per frame.
    pub feed: Latency,
    /// Feed → book queueing delay.
    pub book_queue: Latency,
    /// Book service time per message (apply, and the view after a depth event).
    pub book: Latency,
    /// Book → signal queueing delay.
    pub signal_queue: Latency,
    /// Signal service time per message (oracle evaluation on views).
    pub signal: Latency,
    /// Book → gateway queueing delay.
    pub gateway_queue: Latency,
    /// Gateway service time per message (risk, signing, the exchange end).
    pub gateway: Latency,
    /// Frame received → the oracle has decided (an intent or none), for every
    /// evaluation: the signal path's latency with thousands of samples, where orders
    /// are few.
    pub tick_to_decision: Latency,
    /// Frame received → signed order bytes ready.
    pub tick_to_trade: Latency,
    /// Exchange event time → frame received (ms resolution on the exchange side).
    pub exchange_to_us: Latency,
    /// Stages read the clock and record; a backtest switches this off.
    timed: bool,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            feed: Latency::new("feed_decode"),
            book_queue: Latency::new("book_queue"),
            book: Latency::new("book"),
            signal_queue: Latency::new("signal_queue"),
            signal: Latency::new("signal"),
            gateway_queue: Latency::new("gateway_queue"),
            gateway: Latency::new("gateway"),
            tick_to_decision: Latency::new("tick_to_decision"),
            tick_to_trade: Latency::new("tick_to_trade"),
            exchange_to_us: Latency::new("exchange_to_us"),
            timed: true,
        }
    }
}

impl Latencies {
    /// The clock for the stage that owns these series: 0 when timing is off.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        if self.timed { now_ns() } else { 0 }
    }

    /// Times and records (the default), or neither: a backtest's stages skip the
    /// clock reads and histogram updates that only `minerva run` reports.
    pub fn set_timed(&mut self, on: bool) {
        self.timed = on;
        for l in self.all_mut() {
            l.set_off(!on);
        }
    }

    /// Every series, in pipeline order.
    pub fn all(&self) -> [&Latency; 10] {
        [
            &self.feed,
            &self.book_queue,
            &self.book,
            &self.signal_queue,
            &self.signal,
            &self.gateway_queue,
            &self.gateway,
            &self.tick_to_decision,
            &self.tick_to_trade,
            &self.exchange_to_us,
        ]
    }

    /// `(name, histogram)` per series, in pipeline order: what the table and the log take.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &hdrhistogram::Histogram<u64>)> {
        self.all().into_iter().map(|l| (l.name(), l.histogram()))
    }

    /// The latency table.
    pub fn table(&self) -> String {
        crate::telemetry::table(self.rows())
    }

    /// Empties every series (no allocation).
    pub fn reset(&mut self) {
        for l in self.all_mut() {
            l.reset();
        }
    }

    /// This set minus an earlier snapshot of it: what was recorded in between (cold).
    pub fn minus(&self, earlier: &Latencies) -> Latencies {
        let mut d = self.clone();
        for (a, b) in d.all_mut().into_iter().zip(earlier.all()) {
            a.subtract(b);
        }
        d
    }

    fn all_mut(&mut self) -> [&mut Latency; 10] {
        [
            &mut self.feed,
            &mut self.book_queue,
            &mut self.book,
            &mut self.signal_queue,
            &mut self.signal,
            &mut self.gateway_queue,
            &mut self.gateway,
            &mut self.tick_to_decision,
            &mut self.tick_to_trade,
            &mut self.exchange_to_us,
        ]
    }

    /// Adds another set (from another thread) into this one.
    pub fn merge(&mut self, o: &Latencies) {
        for (a, b) in self.all_mut().into_iter().zip(o.all()) {
            a.merge(b);
        }
    }
}

/// Frames in, [`FeedMsg`]s out.
pub struct FeedStage<S: Source> {
    source: S,
    decoder: Decoder,
    /// Latency series this stage records.
    pub lat: Latencies,
    /// Frames read.
    pub frames: u64,
    /// Malformed frames (counted, skipped).
    pub errors: u64,
    /// Events whose exchange time is after our receive time (the local clock is behind:
    /// the 2024 recordings run 1.3 s behind Binance); not put in `exchange_to_us`.
    pub clock_behind: u64,
}

impl<S: Source> FeedStage<S> {
    /// A feed for `spec`'s symbol reading `source`.
    pub fn new(source: S, spec: &SymbolSpec) -> Self {
        let mut table = SymbolTable::new();
        table.insert(spec.clone());
        Self {
            source,
            decoder: Decoder::new(table, DEFAULT_MAX_LEVELS),
            lat: Latencies::default(),
            frames: 0,
            errors: 0,
            clock_behind: 0,
        }
    }

    /// Reads and decodes one frame; returns false at the end of the source.
    ///
    /// # Hot path: no allocation for market-data frames (a snapshot frame, cold, allocates).
    ///
    /// # Errors
    /// [`Abandoned`] when the book stage is gone.
    pub fn step(&mut self, out: &mut Outbox<Stamped<FeedMsg>>) -> Result<bool, Abandoned> {
        let Some(Frame {
            bytes: frame,
            recv_ns,
            wall_ns,
        }) = self.source.next_frame()
        else {
            return Ok(false);
        };
        self.frames += 1;
        let mut failed = None;
        let (lat, behind) = (&mut self.lat, &mut self.clock_behind);
        let r = self.decoder.decode(frame, recv_ns, &mut |ev| {
            if wall_ns > 0 && ev.event_ms > 0 {
                match wall_ns.checked_sub(ev.event_ms * 1_000_000) {
                    Some(d) => lat.exchange_to_us.record(d),
                    None => *behind += 1,
                }
            }
            if failed.is_none() {
                if let Err(e) = out.push(Stamped {
                    msg: FeedMsg::Event(*ev),
                    pushed_ns: lat.now(),
                }) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let t = self.lat.now();
        self.lat.feed.record(t.saturating_sub(recv_ns));
        match r {
            Ok(Decoded::Snapshot { .. }) => {
                if !snapshot(
                    frame,
                    self.decoder.table().spec(crate::core::SymbolId(0)),
                    out,
                )? {
                    self.errors += 1;
                }
            }
            Ok(_) => {}
            Err(_) => self.errors += 1,
        }
        Ok(true)
    }
}

/// A snapshot frame, cut into fixed-size messages; false when it cannot be read. Cold.
#[cold]
fn snapshot(
    frame: &[u8],
    spec: &SymbolSpec,
    out: &mut Outbox<Stamped<FeedMsg>>,
) -> Result<bool, Abandoned> {
    let Ok(snap) = parse_raw_snapshot(frame).and_then(|r| r.on_grid(spec)) else {
        return Ok(false);
    };
    let stamp = |msg| Stamped {
        msg,
        pushed_ns: now_ns(),
    };
    out.push(stamp(FeedMsg::SnapshotBegin {
        last_update_id: snap.last_update_id,
    }))?;
    for (levels, bids) in [(&snap.bids, true), (&snap.asks, false)] {
        for part in levels.chunks(DEPTH_CHUNK_LEVELS) {
            let mut c = DepthChunk::new(0, 0, None, 0);
            c.levels[..part.len()].copy_from_slice(part);
            c.n_levels = part.len() as u8;
            c.n_bids = if bids { part.len() as u8 } else { 0 };
            out.push(stamp(FeedMsg::SnapshotLevels(c)))?;
        }
    }
    out.push(stamp(FeedMsg::SnapshotEnd))?;
    Ok(true)
}

/// The book's view as it travels to the signal: a ring of its own, a few slots deep,
/// so 4 KB views stay in cache and small messages stay small.
pub type View = BookView<VIEW_BINS>;

/// Book → signal: a market message the book handled, passed on for the signal and for
/// the exchange end (whose matching engine keeps its own book from the same data).
#[derive(Debug, Clone, Copy)]
pub struct SignalMsg {
    /// The message (an event, or part of a snapshot).
    pub msg: FeedMsg,
    /// Receive time of its frame.
    pub frame_ns: u64,
    /// The book published a view after it (next in the view ring).
    pub view: bool,
}

/// Signal → gateway: intents, and the market data the exchange end needs.
///
/// Variants differ in size on purpose: a ring slot is fixed-size, and boxing the market
/// message would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum OrderMsg {
    /// An intent to trade.
    Intent(IntentMsg),
    /// A market message, in feed order.
    Market {
        /// The message.
        msg: FeedMsg,
        /// Receive time of its frame.
        frame_ns: u64,
    },
}

/// Builds a REST snapshot back from its fixed-size parts. Cold: allocates, on resync.
#[derive(Debug, Default)]
pub struct SnapshotParts(Option<DepthSnapshot>);

impl SnapshotParts {
    /// Takes one part; returns the snapshot when it is complete.
    pub fn on_msg(&mut self, m: &FeedMsg) -> Option<DepthSnapshot> {
        match m {
            FeedMsg::SnapshotBegin { last_update_id } => {
                self.0 = Some(DepthSnapshot {
                    last_update_id: *last_update_id,
                    event_ms: None,
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
                None
            }
            FeedMsg::SnapshotLevels(c) => {
                if let Some(s) = self.0.as_mut() {
                    s.bids.extend_from_slice(c.bids());
                    s.asks.extend_from_slice(c.asks());
                }
                None
            }
            FeedMsg::SnapshotEnd => self.0.take(),
            FeedMsg::Event(_) => None,
        }
    }
}

/// The book: [`FeedMsg`]s in, views and trades out.
pub struct BookStage {
    /// The book.
    pub book: Book,
    shape: (i64, usize, u32),
    /// The oracle's pressure thresholds (ppm): views carry their walls' tops only
    /// beyond them.
    gate: (u32, u32),
    snapshot: SnapshotParts,
    /// Raised when the book falls out of sync, for a live source to fetch a snapshot.
    resync: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    was_live: bool,
    /// Latency series this stage records.
    pub lat: Latencies,
}

impl BookStage {
    /// A book for `spec`, publishing views shaped for `strategy`'s oracle.
    ///
    /// # Errors
    /// [`ShapeError`] when the strategy reads more bins than a view carries.
    pub fn new(
        spec: &SymbolSpec,
        strategy: &Strategy,
        cfg: &BookConfig,
    ) -> Result<Self, ShapeError> {
        if strategy.bins as usize > VIEW_BINS {
            return Err(ShapeError {
                bins: strategy.bins,
            });
        }
        let mut book = Book::new(spec, cfg);
        book.index_bins(strategy.bin_ticks);
        Ok(Self {
            book,
            shape: (
                strategy.bin_ticks.max(1) as i64,
                strategy.bins as usize,
                strategy.limit_orderbook,
            ),
            gate: (strategy.long_pressure_ppm, strategy.short_pressure_ppm),
            snapshot: SnapshotParts::default(),
            resync: None,
            was_live: false,
            lat: Latencies::default(),
        })
    }

    /// Raises `flag` whenever the book falls out of sync after having been live (a gap):
    /// a live source answers with a fresh snapshot.
    pub fn request_snapshots(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.resync = Some(flag);
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation except while assembling a snapshot (cold, on resync).
    ///
    /// # Errors
    /// [`Abandoned`] when the signal stage is gone.
    pub fn on_msg(
        &mut self,
        m: &Stamped<FeedMsg>,
        out: &mut Outbox<Stamped<SignalMsg>>,
        views: &mut Outbox<View>,
    ) -> Result<(), Abandoned> {
        let t0 = self.lat.now();
        self.lat.book_queue.record(t0.saturating_sub(m.pushed_ns));
        let (frame_ns, view, pass) = match &m.msg {
            FeedMsg::Event(ev) => {
                self.book.on_event(ev);
                match &ev.body {
                    EventBody::Depth(c) if c.is_last() && self.book.state() == SyncState::Live => {
                        let (bt, bins, limit) = self.shape;
                        let book = &mut self.book;
                        let gate = self.gate;
                        views.push_in_place(|v| book.fill_view_gated(bt, bins, limit, gate, v))?;
                        (ev.recv_ns, true, true)
                    }
                    // Tickers and candles matter to neither the signal nor the exchange.
                    EventBody::BookTicker(_) | EventBody::Kline(_) => (ev.recv_ns, false, false),
                    _ => (ev.recv_ns, false, true),
                }
            }
            msg => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    self.book.apply_snapshot(&snap);
                }
                (m.pushed_ns, false, true)
            }
        };
        if let Some(flag) = &self.resync {
            let live = self.book.state() == SyncState::Live;
            if self.was_live && !live {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            self.was_live = live;
        }
        if pass {
            out.push(Stamped {
                msg: SignalMsg {
                    msg: m.msg,
                    frame_ns,
                    view,
                },
                pushed_ns: self.lat.now(),
            })?;
        }
        self.lat.book.record(self.lat.now().saturating_sub(t0));
        Ok(())
    }
}

/// A strategy reading more bins than the pipeline's view carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the strategy reads {bins} bins a side; the pipeline's book view carries at most {VIEW_BINS}"
)]
pub struct ShapeError {
    /// Bins the strategy asked for.
    pub bins: u32,
}

/// The signal: traded-volume profile and oracle; views and trades in, intents and the
/// exchange's market data out.
pub struct SignalStage {
    oracle: Oracle,
    profile: TradeProfile,
    /// Latency series this stage records.
    pub lat: Latencies,
    /// Oracle evaluations.
    pub evaluations: u64,
    /// Intents proposed.
    pub intents: u64,
    /// View markers without a view (a wiring bug; must stay 0).
    pub missing_views: u64,
}

impl SignalStage {
    /// The oracle of `strategy` for `spec`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy) -> Self {
        Self {
            oracle: Oracle::new(strategy, spec.price.step()),
            profile: TradeProfile::new(
                strategy.bin_ticks,
                strategy.volume_window_secs as u64 * 1000,
                1 << 16,
            ),
            lat: Latencies::default(),
            evaluations: 0,
            intents: 0,
            missing_views: 0,
        }
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`Abandoned`] when the gateway stage is gone.
    pub fn on_msg(
        &mut self,
        m: &Stamped<SignalMsg>,
        out: &mut Outbox<Stamped<OrderMsg>>,
        views: &mut Inbox<View>,
    ) -> Result<(), Abandoned> {
        let t0 = self.lat.now();
        self.lat.signal_queue.record(t0.saturating_sub(m.pushed_ns));
        let SignalMsg {
            ref msg,
            frame_ns,
            view,
        } = m.msg;
        let mut decided = None;
        if let FeedMsg::Event(ev) = msg {
            match &ev.body {
                EventBody::Trade(t) => {
                    self.profile
                        .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker)
                }
                EventBody::AggTrade(t) => {
                    self.profile
                        .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker)
                }
                _ => {}
            }
            if view {
                self.profile.expire(ev.event_ms);
                let (oracle, profile) = (&mut self.oracle, &self.profile);
                // The book pushed the view before this message: it is there.
                match views.with_next(|v| oracle.evaluate_view(v, profile)) {
                    Some(decision) => {
                        self.evaluations += 1;
                        self.lat
                            .tick_to_decision
                            .record(self.lat.now().saturating_sub(frame_ns));
                        decided = decision.ok().map(|intent| (intent, ev.event_ms));
                    }
                    None => self.missing_views += 1,
                }
            }
        }
        // Decided first, passed on after: the exchange end sees the market before any
        // order it causes, and the copy is not on the way to the decision.
        out.push(Stamped {
            msg: OrderMsg::Market {
                msg: *msg,
                frame_ns,
            },
            pushed_ns: self.lat.now(),
        })?;
        if let Some((intent, event_ms)) = decided {
            self.intents += 1;
            out.push(Stamped {
                msg: OrderMsg::Intent(IntentMsg {
                    intent,
                    frame_ns,
                    event_ms,
                }),
                pushed_ns: self.lat.now(),
            })?;
        }
        self.lat.signal.record(self.lat.now().saturating_sub(t0));
        Ok(())
    }
}

/// The order gateway: risk manager, signer and the exchange end (the simulated
/// exchange, fed the market as the exchange sees it).
pub struct GatewayStage {
    trader: Trader,
    snapshot: SnapshotParts,
    /// Latency series this stage records.
    pub lat: Latencies,
    /// Intents that arrived after shutdown began (not traded).
    pub ignored: u64,
    accepting: bool,
}

impl GatewayStage {
    /// A gateway for `spec` under `strategy`, signing with `signer`, trading on a
    /// simulated exchange set up by `sim`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy, signer: Signer, sim: &SimOptions) -> Self {
        Self::with_trader(Trader::simulated(spec, strategy, signer, sim))
    }

    /// A gateway around `trader` (a live one).
    pub fn with_trader(trader: Trader) -> Self {
        Self {
            trader,
            snapshot: SnapshotParts::default(),
            lat: Latencies::default(),
            ignored: 0,
            accepting: true,
        }
    }

    /// Shutdown began: later intents are not traded (market data still flows to the
    /// exchange end, so resting orders keep their fills until cancelled).
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// Whether intents are traded (a backtest warms the book up before its window).
    pub fn set_accepting(&mut self, on: bool) {
        self.accepting = on;
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation (a snapshot, cold, on resync, allocates).
    pub fn on_msg(&mut self, m: &Stamped<OrderMsg>) {
        let t0 = self.lat.now();
        self.lat
            .gateway_queue
            .record(t0.saturating_sub(m.pushed_ns));
        let (sent, frame_ns) = match &m.msg {
            OrderMsg::Intent(_) if !self.accepting => {
                self.ignored += 1;
                (0, 0)
            }
            OrderMsg::Intent(i) => {
                self.trader.set_tick(i.frame_ns);
                match self.trader.on_intent(&i.intent, i.event_ms) {
                    Outcome::Sent => (1, i.frame_ns),
                    Outcome::Refused(_) | Outcome::Failed => (0, 0),
                }
            }
            OrderMsg::Market {
                msg: FeedMsg::Event(ev),
                frame_ns,
            } => {
                self.trader.set_tick(*frame_ns);
                (self.trader.on_market(ev), *frame_ns)
            }
            OrderMsg::Market { msg, .. } => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    self.trader.on_snapshot(&snap);
                }
                (0, 0)
            }
        };
        let done = self.lat.now();
        if sent > 0 {
            // Frame received → signed order bytes handed to the exchange.
            self.lat.tick_to_trade.record(done.saturating_sub(frame_ns));
        }
        self.lat.gateway.record(done.saturating_sub(t0));
    }

    /// Reports a live exchange sent while no market message came are handled.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn poll(&mut self) -> bool {
        self.trader.poll()
    }

    /// The trader (risk, exchange and operation counters).
    pub fn trader(&self) -> &Trader {
        &self.trader
    }

    /// The trader, to keep a journal or close at the end (the backtest).
    pub fn trader_mut(&mut self) -> &mut Trader {
        &mut self.trader
    }

    /// Orderly end: cancels resting orders and reports what stays open. Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        self.trader.shutdown()
    }
}

/// Drains everything waiting in `inbox` through `f` (in place); returns how many it
/// handled.
#[inline]
pub fn drain<T: Copy>(inbox: &mut Inbox<T>, f: impl FnMut(&T)) -> usize {
    inbox.drain(f)
}
