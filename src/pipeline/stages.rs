//! The pipeline's stages as plain structs with step methods: the same code runs on its
//! own thread, in the compact loop, or (later) under the backtester.
//!
//! ```text
//! source ─frames─▶ [FeedStage] ─FeedMsg─▶ [BookStage: book + oracle] ─Order─▶ [GatewayStage: risk + signer]
//! ```
//! Book and oracle share a stage: the oracle reads up to `limit_orderbook` levels of the
//! book per update, and copying them to another core would cost more than the oracle
//! itself (see `docs/latency.md`).

use super::clock::now_ns;
use super::ring::{Abandoned, Inbox, Outbox};
use crate::book::{Book, BookConfig, SyncState};
use crate::core::{DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, MarketEvent, SymbolSpec};
use crate::feed::binance::snapshot::parse_raw_snapshot;
use crate::feed::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, DepthSnapshot, SymbolTable};
use crate::gateway::sign::{OrderKind, OrderRequest, OrderSide, Signer, signed_order};
use crate::risk::RiskManager;
use crate::signal::oracle::{Intent, Oracle, Side};
use crate::signal::profile::TradeProfile;
use crate::strategy::Strategy;
use crate::telemetry::Latency;

/// A frame as a socket would hand it over.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Receive time on the [`now_ns`] clock.
    pub recv_ns: u64,
    /// Receive time on the wall clock (unix ns): recorded, or read live. 0 = unknown.
    pub wall_ns: u64,
}

/// Where frames come from: a socket, or a recording paced like one.
pub trait Source {
    /// The next frame, or `None` at the end.
    fn next_frame(&mut self) -> Option<Frame<'_>>;
}

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
    /// Book + oracle service time per event.
    pub book: Latency,
    /// Book → gateway queueing delay.
    pub gateway_queue: Latency,
    /// Risk + signing time per intent.
    pub gateway: Latency,
    /// Frame received → the oracle has decided (an intent or none), for every
    /// evaluation: the signal path's latency with thousands of samples, where orders
    /// are few.
    pub tick_to_decision: Latency,
    /// Frame received → signed order bytes ready.
    pub tick_to_trade: Latency,
    /// Exchange event time → frame received (ms resolution on the exchange side).
    pub exchange_to_us: Latency,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            feed: Latency::new("feed_decode"),
            book_queue: Latency::new("book_queue"),
            book: Latency::new("book_oracle"),
            gateway_queue: Latency::new("gateway_queue"),
            gateway: Latency::new("gateway_risk_sign"),
            tick_to_decision: Latency::new("tick_to_decision"),
            tick_to_trade: Latency::new("tick_to_trade"),
            exchange_to_us: Latency::new("exchange_to_us"),
        }
    }
}

impl Latencies {
    /// Every series, in pipeline order.
    pub fn all(&self) -> [&Latency; 8] {
        [
            &self.feed,
            &self.book_queue,
            &self.book,
            &self.gateway_queue,
            &self.gateway,
            &self.tick_to_decision,
            &self.tick_to_trade,
            &self.exchange_to_us,
        ]
    }

    /// Adds another set (from another thread) into this one.
    pub fn merge(&mut self, o: &Latencies) {
        self.feed.merge(&o.feed);
        self.book_queue.merge(&o.book_queue);
        self.book.merge(&o.book);
        self.gateway_queue.merge(&o.gateway_queue);
        self.gateway.merge(&o.gateway);
        self.tick_to_decision.merge(&o.tick_to_decision);
        self.tick_to_trade.merge(&o.tick_to_trade);
        self.exchange_to_us.merge(&o.exchange_to_us);
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
                    pushed_ns: now_ns(),
                }) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let t = now_ns();
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

/// Book and oracle: [`FeedMsg`]s in, intents out.
pub struct BookStage {
    /// The book.
    pub book: Book,
    oracle: Oracle,
    profile: TradeProfile,
    snapshot: Option<DepthSnapshot>,
    /// Latency series this stage records.
    pub lat: Latencies,
    /// Intents proposed.
    pub intents: u64,
}

impl BookStage {
    /// A book and oracle for `spec` under `strategy`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy, cfg: &BookConfig) -> Self {
        Self {
            book: Book::new(spec, cfg),
            oracle: Oracle::new(strategy, spec.price.step()),
            profile: TradeProfile::new(
                strategy.bin_ticks,
                strategy.volume_window_secs as u64 * 1000,
                1 << 16,
            ),
            snapshot: None,
            lat: Latencies::default(),
            intents: 0,
        }
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation except while assembling a snapshot (cold, on resync).
    ///
    /// # Errors
    /// [`Abandoned`] when the gateway stage is gone.
    pub fn on_msg(
        &mut self,
        m: &Stamped<FeedMsg>,
        out: &mut Outbox<Stamped<IntentMsg>>,
    ) -> Result<(), Abandoned> {
        let t0 = now_ns();
        self.lat.book_queue.record(t0.saturating_sub(m.pushed_ns));
        match m.msg {
            FeedMsg::Event(ev) => {
                self.book.on_event(&ev);
                match ev.body {
                    EventBody::Trade(t) => {
                        self.profile
                            .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker)
                    }
                    EventBody::AggTrade(t) => {
                        self.profile
                            .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker)
                    }
                    EventBody::Depth(c) if c.is_last() && self.book.state() == SyncState::Live => {
                        self.profile.expire(ev.event_ms);
                        let decision = self.oracle.evaluate(&self.book, &self.profile);
                        self.lat
                            .tick_to_decision
                            .record(now_ns().saturating_sub(ev.recv_ns));
                        if let Ok(intent) = decision {
                            self.intents += 1;
                            let msg = IntentMsg {
                                intent,
                                frame_ns: ev.recv_ns,
                                event_ms: ev.event_ms,
                            };
                            out.push(Stamped {
                                msg,
                                pushed_ns: now_ns(),
                            })?;
                        }
                    }
                    _ => {}
                }
            }
            FeedMsg::SnapshotBegin { last_update_id } => {
                self.snapshot = Some(DepthSnapshot {
                    last_update_id,
                    event_ms: None,
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
            }
            FeedMsg::SnapshotLevels(c) => {
                if let Some(s) = self.snapshot.as_mut() {
                    s.bids.extend_from_slice(c.bids());
                    s.asks.extend_from_slice(c.asks());
                }
            }
            FeedMsg::SnapshotEnd => {
                if let Some(s) = self.snapshot.take() {
                    self.book.apply_snapshot(&s);
                }
            }
        }
        self.lat.book.record(now_ns().saturating_sub(t0));
        Ok(())
    }
}

/// Risk manager and signer: intents in, signed order bytes out.
pub struct GatewayStage {
    risk: RiskManager,
    signer: Signer,
    symbol: crate::core::SymbolSpec,
    futures: bool,
    /// Latency series this stage records.
    pub lat: Latencies,
    /// Orders signed.
    pub orders: u64,
    /// Intents refused.
    pub refused: u64,
    /// Bytes of the last signed request (a paper exchange or a socket takes them).
    pub last_request: arrayvec::ArrayVec<u8, { crate::gateway::sign::MAX_REQUEST }>,
    client_seq: u64,
}

impl GatewayStage {
    /// A gateway for `spec` under `strategy`, signing with `signer`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy, signer: Signer) -> Self {
        Self {
            risk: RiskManager::new(strategy, spec),
            signer,
            symbol: spec.clone(),
            futures: spec.market.is_futures(),
            lat: Latencies::default(),
            orders: 0,
            refused: 0,
            last_request: arrayvec::ArrayVec::new(),
            client_seq: 0,
        }
    }

    /// Vets, sizes and signs one intent.
    ///
    /// # Hot path: no allocation.
    pub fn on_intent(&mut self, m: &Stamped<IntentMsg>) {
        let t0 = now_ns();
        self.lat
            .gateway_queue
            .record(t0.saturating_sub(m.pushed_ns));
        let i = &m.msg.intent;
        match self.risk.propose(i, m.msg.event_ms) {
            Ok(op) => {
                self.client_seq += 1;
                let mut id = arrayvec::ArrayString::<36>::new();
                let _ =
                    std::fmt::Write::write_fmt(&mut id, format_args!("mnv-{}", self.client_seq));
                let price = self.symbol.price.mantissa(i.entry).unwrap_or(0);
                let req = OrderRequest {
                    symbol: &self.symbol.name,
                    side: if i.side == Side::Long {
                        OrderSide::Buy
                    } else {
                        OrderSide::Sell
                    },
                    kind: OrderKind::PostOnly,
                    qty: (op.qty.0, self.symbol.qty.decimals()),
                    price: (price, self.symbol.price.decimals()),
                    client_id: &id,
                    reduce_only: false,
                    recv_window_ms: 5_000,
                    timestamp_ms: m.msg.event_ms,
                };
                if let Ok(bytes) = signed_order(&self.signer, &req, self.futures) {
                    self.last_request = bytes;
                    self.orders += 1;
                    let done = now_ns();
                    self.lat
                        .tick_to_trade
                        .record(done.saturating_sub(m.msg.frame_ns));
                }
            }
            Err(_) => self.refused += 1,
        }
        self.lat.gateway.record(now_ns().saturating_sub(t0));
    }

    /// Risk counters.
    pub fn risk_stats(&self) -> crate::risk::RiskStats {
        self.risk.stats()
    }
}

/// Drains everything waiting in `inbox` through `f`; returns how many it handled.
#[inline]
pub fn drain<T: Copy>(inbox: &mut Inbox<T>, mut f: impl FnMut(&T)) -> usize {
    let mut n = 0;
    while let Some(m) = inbox.pop() {
        f(&m);
        n += 1;
    }
    n
}
