//! The trader: turns the oracle's intents into orders and follows each operation to
//! its end, against the simulated exchange ([`SimLink`]: backtest, paper) or a venue's
//! [`LiveLink`] (Binance, its testnet, `minerva exchange`). The same code runs both;
//! only the [`Link`] differs. Orders are typed ([`OrderRequest`]); the venue's
//! [`OrderSigner`] writes each as the signed bytes it sends.
//!
//! An operation: the risk manager sizes the intent → a post-only entry at the intent's
//! price → once filled, the exits: on spot one OCO list (`LIMIT_MAKER` take profit +
//! `STOP_LOSS` stop), on futures a `reduceOnly` take-profit limit and a `reduceOnly`
//! `STOP_MARKET` → whichever fills closes the operation and the risk manager books its
//! PnL net of fees. Where the venue takes no stop order (KuCoin's HF spot) the take
//! profit is a plain limit and the trader holds the stop itself (`HeldStop`). An entry not filled within `volume_window_secs` is cancelled; an
//! exit the exchange refuses is replaced by a market order that flattens the position.
//!
//! # Hot path: every buffer is sized at start-up; no allocation.

pub use super::journal::{ClosedTrade, EquityPoint, Exit, Journal};
pub use super::link::Link;
use crate::book::Book;
use crate::core::{
    ClientId, DepthSnapshot, EventBody, ExchangeStats, Execution, Lots, MarketEvent, NewOrder,
    OcoOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Reject, Report, SymbolSpec, Ticks,
};
use crate::risk::{Operation, Refusal, RiskManager, RiskStats};
use crate::signal::oracle::{Intent, Side};
use crate::sim::link::SimLink;
use crate::sim::{SimConfig, SimExchange, SimOptions};
use crate::strategy::Strategy;
use crate::venues::{LiveLink, OrderSigner};
use std::fmt::Write;

/// `recvWindow` of every request, ms.
const RECV_WINDOW_MS: u32 = 5_000;

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Entry sent, not (wholly) filled.
    Entry,
    /// Entry cancel sent.
    Withdrawing,
    /// Entry done; exits working for the filled quantity.
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    op: Operation,
    since_us: u64,
    phase: Phase,
    /// Entry lots filled and their value.
    filled: i64,
    entry_value_e8: i64,
    /// Exit lots filled and their value.
    exit_filled: i64,
    exit_value_e8: i64,
    fees_e8: i64,
    funding_e8: i64,
    entry_us: u64,
    maker_fills: u32,
    taker_fills: u32,
    /// Market orders sent to flatten it (one at a time, at most [`FLATTEN_TRIES`]).
    flattens: u8,
    /// Its stop, when the trader holds it (a venue without stop orders).
    stop: HeldStop,
}

/// A stop the trader holds itself, where the venue takes no stop order (KuCoin's HF
/// spot): when a trade reaches its price, the take profit is cancelled and a market
/// order closes what is held. Unlike an exchange's stop it needs this process
/// running: a stopped trader leaves the take profit only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeldStop {
    /// The exchange holds the stop (or there is none yet).
    No,
    /// Waiting for a trade at or through the stop price.
    Armed,
    /// Triggered: the market order is out.
    Fired,
}

/// Market orders an unprotected position gets before the trader gives up on it (and
/// reports it open).
const FLATTEN_TRIES: u8 = 3;

impl Tracked {
    /// Lots held: entry filled minus exit filled.
    fn held(&self) -> i64 {
        self.filled - self.exit_filled
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraderStats {
    /// Signed requests sent (orders, lists and cancels).
    pub requests: u64,
    /// Entries sent.
    pub entries: u64,
    /// Entries filled whole.
    pub entries_filled: u64,
    /// Entries filled in part before they were withdrawn (the part is traded).
    pub entries_partial: u64,
    /// Entries the exchange refused (a post-only that would have taken liquidity…).
    pub entries_rejected: u64,
    /// Entries cancelled unfilled (timeout or shutdown).
    pub entries_withdrawn: u64,
    /// Operations closed at the take profit.
    pub take_profits: u64,
    /// Operations closed at the stop.
    pub stops: u64,
    /// Operations closed by a market order after an exit was refused.
    pub flattened: u64,
    /// Operations closed by a liquidation.
    pub liquidated: u64,
    /// Operations still open at the end of the data (valued at the last trade).
    pub open_at_end: u64,
    /// Requests that could not be encoded (bad symbol text, price overflow).
    pub encode_errors: u64,
    /// Intents the trader had no slot for (more than `max_concurrent_trades` tracked).
    pub no_slot: u64,
    /// Positions left open because the exchange refused every order to flatten them.
    pub flatten_refused: u64,
    /// Intents refused live while the venue's order events were not heard (its
    /// user stream down): an entry's fills would have gone unheard.
    pub held_unheard: u64,
}

impl TraderStats {
    /// Adds another symbol's counters (a run's totals). Cold.
    pub fn add(&mut self, o: &Self) {
        self.requests += o.requests;
        self.entries += o.entries;
        self.entries_filled += o.entries_filled;
        self.entries_partial += o.entries_partial;
        self.entries_rejected += o.entries_rejected;
        self.entries_withdrawn += o.entries_withdrawn;
        self.take_profits += o.take_profits;
        self.stops += o.stops;
        self.flattened += o.flattened;
        self.liquidated += o.liquidated;
        self.open_at_end += o.open_at_end;
        self.encode_errors += o.encode_errors;
        self.no_slot += o.no_slot;
        self.flatten_refused += o.flatten_refused;
        self.held_unheard += o.held_unheard;
    }
}

/// What became of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entry's signed bytes went to the exchange.
    Sent,
    /// The risk manager refused it.
    Refused(Refusal),
    /// Accepted, but the request could not be built or tracked (counted).
    Failed,
}

/// What shutdown left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shutdown {
    /// Resting orders cancelled.
    pub cancelled: usize,
    /// Positions still open (their exits cancelled).
    pub open_positions: usize,
    /// Net position, lots.
    pub position: Lots,
    /// Unrealised PnL of the open positions at the last trade, 10⁻⁸ quote.
    pub unrealised_e8: i64,
}

/// Operations the live view lists (more in flight are counted, not listed).
pub const STATUS_OPS: usize = 16;

/// An operation in flight, as the live view shows it.
#[derive(Debug, Clone, Copy)]
pub struct OpenOp {
    /// The operation (its intent, size, PnL at take profit and stop).
    pub op: Operation,
    /// "entry" (working), "withdrawing" (entry cancel sent) or "open" (exits working).
    pub phase: &'static str,
    /// Lots held (entry filled minus exit filled).
    pub held: Lots,
    /// Unrealised PnL of the held lots at the last trade, 10⁻⁸ quote.
    pub unrealised_e8: i64,
}

/// What the trader holds and has done, copied for the live view without allocating.
#[derive(Debug, Clone, Default)]
pub struct TraderStatus {
    /// Operations in flight, the first [`STATUS_OPS`].
    pub ops: arrayvec::ArrayVec<OpenOp, STATUS_OPS>,
    /// Operations in flight in all.
    pub in_flight: usize,
    /// Counters.
    pub stats: TraderStats,
    /// Risk manager counters (realised PnL, fees, capital, equity peak).
    pub risk: RiskStats,
    /// Net position on the exchange, lots.
    pub position: Lots,
    /// Unrealised PnL of every held operation at the last trade, 10⁻⁸ quote.
    pub unrealised_e8: i64,
    /// The last trade price seen.
    pub last_trade: Option<Ticks>,
    /// The kill switch is on.
    pub killed: bool,
    /// Trading on a venue (not the simulated exchange).
    pub live: bool,
}

/// One trader at a glance: a line of the live view's table of symbols.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraderLine {
    /// Net position on the exchange, lots.
    pub position: Lots,
    /// Operations in flight.
    pub in_flight: usize,
    /// Unrealised PnL of every held operation at the last trade, 10⁻⁸ quote.
    pub unrealised_e8: i64,
    /// Counters.
    pub stats: TraderStats,
    /// Risk manager counters.
    pub risk: RiskStats,
}

/// Risk manager, signer and exchange for one symbol.
pub struct Trader {
    risk: RiskManager,
    signer: OrderSigner,
    /// The venue takes no stop orders here: stops are held ([`HeldStop`]).
    holds_stops: bool,
    exchange: Link,
    spec: SymbolSpec,
    futures: bool,
    capital_e8: i64,
    window_us: u64,
    tracked: Vec<Tracked>,
    reports: Vec<Execution>,
    last_trade: Option<Ticks>,
    now_us: u64,
    journal: Option<Journal>,
    /// The audit journal's recorder (`minerva run --journal`).
    audit: Option<crate::gateway::audit::Recorder>,
    /// Receive time of the frame being handled (pipeline clock, ns), for the live
    /// link's tick-to-wire.
    tick_ns: u64,
    /// Shutting down: cancels only, no new orders.
    closing: bool,
    /// The watchdog's drawdown limit killed the trading (a stop was asked for).
    killed: bool,
    /// After a kill: close open positions with market orders (else hold them).
    flatten_on_kill: bool,
    /// When a live trader next looks at its operations' timers, µs.
    next_timers_us: u64,
    /// Counters.
    pub stats: TraderStats,
}

impl Trader {
    /// A trader for `spec` under `strategy`, signing with `signer`, trading on a
    /// simulated exchange set up by `opts`.
    pub fn simulated(
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        opts: &SimOptions,
    ) -> Self {
        let link = SimLink::new(spec, strategy, opts);
        let max_orders = link.max_orders();
        Self::with(spec, strategy, signer.into(), Link::Sim(link), max_orders)
    }

    /// A trader for `spec` under `strategy` on a venue through `link` (signing with
    /// the same keys the link was started with). Operations are numbered from the
    /// start time in ms, so client ids never repeat a previous session's.
    pub fn live(
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        link: LiveLink,
    ) -> Self {
        let max_orders = SimConfig::for_strategy(strategy).max_orders;
        let start_ms = link.now_us() / 1000;
        let available = link.available_e8();
        let leverage = link.leverage();
        let mut t = Self::with(spec, strategy, signer.into(), Link::Live(link), max_orders);
        t.risk.start_ids_at(start_ms);
        // Size from the account's real balance when it is below the strategy's capital.
        if let Some(a) = available {
            t.risk.limit_capital(a);
            t.capital_e8 = t.risk.capital_e8();
        }
        // Size at the leverage the account was set to, within the symbol's brackets.
        if let Some(l) = leverage {
            t.risk.limit_leverage(l);
        }
        t
    }

    fn with(
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: OrderSigner,
        exchange: Link,
        max_orders: usize,
    ) -> Self {
        let slots = strategy.max_concurrent_trades.max(1) as usize;
        Self {
            risk: RiskManager::new(strategy, spec),
            exchange,
            holds_stops: crate::venues::holds_stops(spec),
            signer,
            spec: spec.clone(),
            futures: spec.market.is_futures(),
            capital_e8: strategy.capital.0,
            window_us: strategy.volume_window_secs as u64 * 1_000_000,
            tracked: Vec::with_capacity(slots),
            // A sweep reports a fill per level: room for every order's worth.
            reports: Vec::with_capacity(16 * max_orders.max(2) + 64),
            last_trade: None,
            now_us: 0,
            journal: None,
            audit: None,
            tick_ns: 0,
            closing: false,
            killed: false,
            flatten_on_kill: true,
            next_timers_us: 0,
            stats: TraderStats::default(),
        }
    }

    /// Keeps closed operations and equity every `period_us` (the backtest), with room
    /// for `trades` operations and `points` samples before anything grows.
    pub fn keep_journal(&mut self, period_us: u64, trades: usize, points: usize) {
        self.journal = Some(Journal {
            trades: Vec::with_capacity(trades),
            equity: Vec::with_capacity(points),
            period_us: period_us.max(1),
            next_us: 0,
        });
    }

    /// The watchdog's drawdown rule: the kill switch goes on when realised equity falls
    /// `ppm` below its peak; the run is then asked to stop, and shutdown flattens open
    /// positions (`flatten`) or holds them.
    pub fn set_drawdown_kill(&mut self, ppm: Option<u32>, flatten: bool) {
        self.risk.set_drawdown_limit(ppm);
        self.flatten_on_kill = flatten;
    }

    /// True once the drawdown rule killed the trading.
    pub fn killed(&self) -> bool {
        self.killed
    }

    /// Records every decision, request, report and closed operation into an audit
    /// journal (`minerva run --journal`).
    pub fn keep_audit(&mut self, r: crate::gateway::audit::Recorder) {
        self.audit = Some(r);
    }

    /// Records `e` in the audit journal, if kept.
    ///
    /// # Hot path: a copy into a ring.
    #[inline]
    fn audit(&mut self, e: crate::gateway::audit::Entry) {
        if let Some(a) = self.audit.as_mut() {
            a.record(e);
        }
    }

    /// The journal, if kept.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Risk manager counters.
    pub fn risk_stats(&self) -> RiskStats {
        self.risk.stats()
    }

    /// Numbers this trader's operations as trader `k` of `n` sharing one account (a
    /// live run of several symbols), after [`Trader::live`] started them at its start
    /// time. Cold.
    pub fn share_ids(&mut self, k: u64, n: u64) {
        self.risk.share_ids(k, n);
    }

    /// The capital sized from (10⁻⁸ of the margin asset): the strategy's, or the
    /// account's available balance at start when lower (live).
    pub fn capital_e8(&self) -> i64 {
        self.capital_e8
    }

    /// Margin committed by the operations open (10⁻⁸ of the margin asset).
    pub fn committed_e8(&self) -> i64 {
        self.risk.in_use_e8()
    }

    /// An intent refused by a limit across symbols (the gateway's, in a run of
    /// several): journalled and counted as this symbol's risk refusal.
    ///
    /// # Hot path: no allocation.
    pub fn refuse(&mut self, intent: &Intent, event_ms: u64, r: Refusal) -> Outcome {
        use crate::gateway::audit::{Entry, Verdict};
        self.now_us = self.now_us.max(event_ms * 1000);
        self.risk.note_refusal();
        self.audit(Entry::Decision {
            at_us: self.now_us,
            intent: *intent,
            verdict: Verdict::Refused(r),
        });
        Outcome::Refused(r)
    }

    /// Exchange counters.
    pub fn exchange_stats(&self) -> ExchangeStats {
        self.exchange.stats()
    }

    /// Makes a simulated exchange's own book now and maps its pages, for a run that
    /// lends it none (see [`crate::core::prefault`]). Cold.
    pub fn prefault_exchange(&mut self) {
        self.exchange.prefault();
    }

    /// The simulated exchange (its account and book), when trading on one.
    pub fn simulated_exchange(&self) -> Option<&SimExchange> {
        match &self.exchange {
            Link::Sim(x) => Some(x.exchange()),
            Link::Live(_) => None,
        }
    }

    /// The live link, when trading on a real exchange.
    pub fn live_link(&self) -> Option<&LiveLink> {
        match &self.exchange {
            Link::Live(l) => Some(l),
            Link::Sim(_) => None,
        }
    }

    /// The frame being handled was received at `ns` (pipeline clock).
    #[inline]
    pub fn set_tick(&mut self, ns: u64) {
        self.tick_ns = ns;
    }

    /// Keeps the entry's way to the wire in cache while the market is quiet: writes
    /// and signs a post-only order for one lot at the last trade price, as an entry
    /// would be, into a scratch buffer that is never sent. A real entry, when it
    /// comes, then finds the encoder, the HMAC and their tables warm. Changes no state.
    ///
    /// # Hot path: no allocation.
    #[inline(never)]
    pub fn warm(&self) {
        let Some(price) = self.last_trade else {
            return;
        };
        let req = OrderRequest {
            cmd: self.new_order(
                0,
                b'w',
                OrderSide::Buy,
                OrderKind::PostOnly,
                Lots(1),
                price,
                false,
            ),
            timestamp_ms: self.now_us / 1000,
            recv_window_ms: RECV_WINDOW_MS,
        };
        let _ = std::hint::black_box(self.signer.encode(&self.spec, std::hint::black_box(&req)));
    }

    /// Exchange time now (the simulator's, or the server clock as estimated), µs.
    pub fn exchange_now_us(&self) -> u64 {
        self.exchange.now_us()
    }

    /// Trading on a venue's live link (not the simulated exchange).
    pub fn is_live(&self) -> bool {
        matches!(self.exchange, Link::Live(_))
    }

    /// A live exchange's reports are handled now, and the operations' timers looked
    /// at every millisecond (the market reaches a live gateway as trades only, so
    /// quiet markets must not hold an entry past its time). Returns true if there was
    /// anything to do.
    ///
    /// # Hot path: no allocation; a vDSO clock read.
    #[inline]
    pub fn poll(&mut self) -> bool {
        let Link::Live(l) = &self.exchange else {
            return false;
        };
        let now = l.now_us();
        let due = l.has_reports() || now >= self.next_timers_us;
        if due {
            self.next_timers_us = now + 1_000;
            self.now_us = self.now_us.max(now);
            self.after_market();
        }
        due
    }

    /// A trade's price reaches a live gateway (its market, when it trades on a
    /// venue). Returns the requests it caused.
    ///
    /// # Hot path: no allocation.
    pub fn on_trade_price(&mut self, price: Ticks) -> u64 {
        let before = self.stats.requests;
        self.last_trade = Some(price);
        self.now_us = self.now_us.max(self.exchange.now_us());
        self.after_market();
        self.stats.requests - before
    }

    /// Copies what the live view shows into `out` (no allocation: a fixed-size copy,
    /// taken by the gateway's thread when the view's publisher asks).
    pub fn fill_status(&self, out: &mut TraderStatus) {
        out.ops.clear();
        out.unrealised_e8 = 0;
        for t in &self.tracked {
            let unrealised_e8 = self.last_trade.map_or(0, |p| self.gross_at(t, p));
            out.unrealised_e8 += unrealised_e8;
            let phase = match t.phase {
                Phase::Entry => "entry",
                Phase::Withdrawing => "withdrawing",
                Phase::Open => "open",
            };
            let _ = out.ops.try_push(OpenOp {
                op: t.op,
                phase,
                held: Lots(t.held()),
                unrealised_e8,
            });
        }
        out.in_flight = self.tracked.len();
        out.stats = self.stats;
        out.risk = self.risk.stats();
        out.position = self.exchange.position();
        out.last_trade = self.last_trade;
        out.killed = self.killed;
        out.live = self.is_live();
    }

    /// This trader at a glance (the live view of a run of several). Cold.
    pub fn line(&self) -> TraderLine {
        TraderLine {
            position: self.exchange.position(),
            in_flight: self.tracked.len(),
            unrealised_e8: self
                .tracked
                .iter()
                .map(|t| self.last_trade.map_or(0, |p| self.gross_at(t, p)))
                .sum(),
            stats: self.stats,
            risk: self.risk.stats(),
        }
    }

    /// Operations in flight (entry working or position open).
    pub fn open_operations(&self) -> usize {
        self.tracked.len()
    }

    /// Sizes, vets and sends an intent from an event at `event_ms`.
    ///
    /// # Hot path: no allocation.
    pub fn on_intent(&mut self, intent: &Intent, event_ms: u64) -> Outcome {
        use crate::gateway::audit::{Entry, Verdict};
        self.now_us = self.now_us.max(event_ms * 1000);
        let at_us = self.now_us;
        let decision = |verdict| Entry::Decision {
            at_us,
            intent: *intent,
            verdict,
        };
        if let Link::Live(l) = &self.exchange {
            // No entry whose fills could not be heard: it waits for the stream.
            if !l.hears_order_events() {
                self.stats.held_unheard += 1;
                self.risk.note_refusal();
                let r = Refusal::OrderEventsDown;
                self.audit(decision(Verdict::Refused(r)));
                return Outcome::Refused(r);
            }
            // Size from the balance the account shows now.
            if let Some(a) = l.available_now_e8() {
                self.risk.follow_available(a);
            }
        }
        let op = match self.risk.propose(intent, self.now_us / 1000) {
            Ok(op) => op,
            Err(r) => {
                self.audit(decision(Verdict::Refused(r)));
                return Outcome::Refused(r);
            }
        };
        if self.tracked.len() == self.tracked.capacity() {
            self.risk.cancel(op.id);
            self.stats.no_slot += 1;
            self.audit(decision(Verdict::Failed));
            return Outcome::Failed;
        }
        // The verdict goes in before the entry's request, as it happened.
        self.audit(decision(Verdict::Sent {
            op_id: op.id,
            qty: op.qty,
            margin_e8: op.margin_e8,
            leverage: op.leverage,
        }));
        let side = order_side(intent.side, false);
        let now = self.now_us;
        let entry = self.new_order(
            op.id,
            b'e',
            side,
            OrderKind::PostOnly,
            op.qty,
            intent.entry,
            false,
        );
        if self.send(entry, now) {
            self.stats.entries += 1;
            self.tracked.push(Tracked {
                op,
                since_us: now,
                phase: Phase::Entry,
                filled: 0,
                entry_value_e8: 0,
                exit_filled: 0,
                exit_value_e8: 0,
                fees_e8: 0,
                funding_e8: 0,
                entry_us: 0,
                maker_fills: 0,
                taker_fills: 0,
                flattens: 0,
                stop: HeldStop::No,
            });
            Outcome::Sent
        } else {
            self.risk.cancel(op.id);
            Outcome::Failed
        }
    }

    /// A market event: the exchange sees it at its exchange time, the trader after the
    /// feed delay. Returns the requests it caused.
    ///
    /// # Hot path: no allocation.
    pub fn on_market(&mut self, ev: &MarketEvent) -> u64 {
        self.on_market_in(ev, None)
    }

    /// [`Self::on_market`] with the simulated exchange reading a `lent` book, when
    /// given, which has taken `ev` already ([`Self::arrive_before`] ran before it did).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_market_in(&mut self, ev: &MarketEvent, lent: Option<&Book>) -> u64 {
        let before = self.stats.requests;
        let seen = self.exchange.on_market(ev, lent);
        if let EventBody::Trade(t) = &ev.body {
            self.last_trade = Some(t.price);
        } else if let EventBody::AggTrade(t) = &ev.body {
            self.last_trade = Some(t.price);
        }
        self.now_us = self.now_us.max(seen);
        self.after_market();
        self.stats.requests - before
    }

    /// The simulated exchange's requests due by `ev`'s time arrive against `book`,
    /// which lends itself to the exchange and has not taken `ev` yet.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn arrive_before(&mut self, ev: &MarketEvent, book: &Book) {
        self.exchange.arrive_before(ev, book);
    }

    /// A REST depth snapshot reached the exchange's book (a resync). Cold.
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot) {
        self.on_snapshot_in(snap, None);
    }

    /// [`Self::on_snapshot`] on a `lent` book, when given, which has taken it. Cold.
    pub fn on_snapshot_in(&mut self, snap: &DepthSnapshot, lent: Option<&Book>) {
        self.exchange.on_snapshot(snap, lent);
        self.after_market();
    }

    /// Cancels every resting order (entries and exits), lets the cancels arrive and
    /// reports what is left open. Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        self.shutdown_in(None)
    }

    /// [`Self::shutdown`] with the simulated exchange reading a `lent` book, when
    /// given. Cold.
    pub fn shutdown_in(&mut self, lent: Option<&Book>) -> Shutdown {
        self.closing = true;
        let now_us = self.now_us;
        for k in 0..self.tracked.len() {
            let t = self.tracked[k];
            let roles: &[u8] = match t.phase {
                Phase::Entry => b"e",
                Phase::Withdrawing => b"",
                Phase::Open if t.stop != HeldStop::No => b"t",
                Phase::Open => b"ts",
            };
            for &r in roles {
                self.send(OrderCmd::Cancel(id(t.op.id, r)), now_us);
            }
        }
        let before = self.exchange.stats().canceled;
        self.exchange.cancel_all(lent);
        self.handle_reports(u64::MAX);
        if self.killed && self.flatten_on_kill {
            self.flatten_all(now_us, lent);
        }
        let mut out = Shutdown {
            cancelled: (self.exchange.stats().canceled - before) as usize,
            position: self.exchange.position(),
            ..Shutdown::default()
        };
        if let Some(last) = self.last_trade {
            for t in self.tracked.iter().filter(|t| t.held() > 0) {
                out.open_positions += 1;
                out.unrealised_e8 += self.gross_at(t, last);
            }
        }
        out
    }

    /// After a kill: a market order for each operation's open lots, then its fills
    /// waited for (a few seconds at most on a live link; the simulated exchange lets
    /// them arrive at once, as no market event will come to carry them). Cold.
    fn flatten_all(&mut self, now_us: u64, lent: Option<&Book>) {
        for k in 0..self.tracked.len() {
            let t = self.tracked[k];
            if t.held() > 0 {
                let side = order_side(t.op.intent.side, true);
                let m = self.new_order(
                    t.op.id,
                    b'm',
                    side,
                    OrderKind::Market,
                    Lots(t.held()),
                    Ticks(1),
                    self.futures,
                );
                self.send(m, now_us);
            }
        }
        if !self.is_live() {
            self.exchange.settle(lent);
            return self.handle_reports(u64::MAX);
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.tracked.iter().any(|t| t.held() > 0) && std::time::Instant::now() < until {
            self.handle_reports(u64::MAX);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Books every operation still holding a position at the last trade price, as if a
    /// market order had closed it (the backtest's end). Cold.
    pub fn close_at_end(&mut self) {
        let Some(last) = self.last_trade else {
            return;
        };
        let now = self.exchange.now_us();
        while let Some(k) = self.tracked.iter().position(|t| t.held() > 0) {
            let held = Lots(self.tracked[k].held());
            let t = &mut self.tracked[k];
            t.exit_value_e8 += self.risk.value_e8(last, held);
            t.fees_e8 += self.risk.fill_fee_e8(last, held, false);
            t.exit_filled = t.filled;
            t.taker_fills += 1;
            self.close(k, Exit::EndOfData, now);
        }
        self.sample_equity(now, true);
    }

    /// Gross PnL of an operation's open lots at `price`.
    fn gross_at(&self, t: &Tracked, price: Ticks) -> i64 {
        let held = t.held();
        if held <= 0 || t.filled == 0 {
            return 0;
        }
        let cost = (t.entry_value_e8 as i128 * held as i128 / t.filled as i128) as i64;
        let value = self.risk.value_e8(price, Lots(held));
        self.risk
            .gain_e8(t.op.intent.side == Side::Long, cost, value)
    }

    /// Executions due by now, entries past their time, equity.
    #[inline]
    fn after_market(&mut self) {
        self.handle_reports(self.now_us);
        let now = self.now_us;
        for k in 0..self.tracked.len() {
            let t = self.tracked[k];
            if t.phase == Phase::Entry
                && now.saturating_sub(t.since_us) > self.window_us
                && self.send(OrderCmd::Cancel(id(t.op.id, b'e')), now)
            {
                self.tracked[k].phase = Phase::Withdrawing;
            }
            if t.stop == HeldStop::Armed {
                self.check_held_stop(k, now);
            }
        }
        self.sample_equity(self.exchange.now_us(), false);
    }

    fn sample_equity(&mut self, now_us: u64, force: bool) {
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        // Before the first exchange event there is no time to put the point at.
        if now_us == 0 || (!force && now_us < j.next_us) {
            return;
        }
        let open: i64 = match self.last_trade {
            Some(p) => self
                .tracked
                .iter()
                .map(|t| self.gross_at(t, p) - t.fees_e8 + t.funding_e8)
                .sum(),
            None => 0,
        };
        let equity_e8 = self.capital_e8 + self.risk.stats().realised_e8 + open;
        let j = self.journal.as_mut().expect("checked");
        if !force {
            j.next_us = (now_us / j.period_us + 1) * j.period_us;
        }
        j.equity.push(EquityPoint {
            time_us: now_us,
            equity_e8,
        });
    }

    fn handle_reports(&mut self, now_us: u64) {
        let reports = &mut self.reports;
        reports.clear();
        self.exchange.drain_due(now_us, |e| {
            if reports.len() < reports.capacity() {
                reports.push(*e)
            }
        });
        for i in 0..self.reports.len() {
            let e = self.reports[i];
            let seen_us = self.now_us;
            self.audit(crate::gateway::audit::Entry::Report { seen_us, exec: e });
            self.on_execution(&e);
        }
    }

    fn on_execution(&mut self, e: &Execution) {
        let at = e.deliver_us.min(self.now_us).max(e.time_us);
        match e.report {
            Report::Liquidated { price, loss_e8, .. } => {
                return self.on_liquidation(price, loss_e8, e.time_us);
            }
            Report::Funding { amount_e8 } => return self.on_funding(amount_e8),
            _ => {}
        }
        let Some((id, role)) = parse_id(&e.client_id) else {
            return;
        };
        let Some(k) = self.tracked.iter().position(|t| t.op.id == id) else {
            return;
        };
        let t = self.tracked[k];
        let open = t.phase == Phase::Open;
        match (role, e.report) {
            (
                b'e',
                Report::Filled {
                    price,
                    qty,
                    maker,
                    fee_e8,
                    leaves,
                },
            ) if !open => {
                let value = self.risk.value_e8(price, qty);
                let t = &mut self.tracked[k];
                t.filled += qty.0;
                t.entry_value_e8 = t.entry_value_e8.saturating_add(value);
                t.fees_e8 = t.fees_e8.saturating_add(fee_e8);
                t.maker_fills += maker as u32;
                t.taker_fills += !maker as u32;
                if t.entry_us == 0 {
                    t.entry_us = e.time_us;
                }
                if leaves.0 == 0 {
                    self.stats.entries_filled += 1;
                    self.open(k, at);
                }
            }
            // A cancel that crossed the fill on the way is refused: the position stands.
            (b'e', Report::Rejected(_) | Report::Expired | Report::Canceled) if !open => {
                if t.filled > 0 {
                    // Withdrawn or cut short after a partial fill: trade what filled.
                    self.stats.entries_partial += 1;
                    return self.open(k, at);
                }
                if matches!(e.report, Report::Rejected(_) | Report::Expired) {
                    self.stats.entries_rejected += 1;
                } else {
                    self.stats.entries_withdrawn += 1;
                }
                self.risk.cancel(id);
                self.tracked.swap_remove(k);
            }
            (
                b't' | b's' | b'm',
                Report::Filled {
                    price,
                    qty,
                    maker,
                    fee_e8,
                    ..
                },
            ) if open => {
                let value = self.risk.value_e8(price, qty);
                let t = &mut self.tracked[k];
                t.exit_filled = (t.exit_filled + qty.0).min(t.filled);
                t.exit_value_e8 = t.exit_value_e8.saturating_add(value);
                t.fees_e8 = t.fees_e8.saturating_add(fee_e8);
                t.maker_fills += maker as u32;
                t.taker_fills += !maker as u32;
                if t.held() == 0 {
                    let exit = match role {
                        b't' => Exit::TakeProfit,
                        b's' => Exit::Stop,
                        _ => Exit::Flattened,
                    };
                    self.close(k, exit, e.time_us);
                }
            }
            // A refused exit leaves the position unprotected: flatten it, with one
            // market order at a time (a refused one is sent again, up to
            // FLATTEN_TRIES). A refused cancel (unknown order) is not a refused exit,
            // and shutdown cancels, it does not trade.
            (b't' | b's' | b'x' | b'm', Report::Rejected(r))
                if open
                    && t.held() > 0
                    && r != Reject::UnknownOrder
                    && !self.closing
                    && (role == b'm' || t.flattens == 0) =>
            {
                if t.flattens >= FLATTEN_TRIES {
                    self.stats.flatten_refused += 1;
                    return;
                }
                self.tracked[k].flattens += 1;
                let side = order_side(t.op.intent.side, true);
                let flatten = self.new_order(
                    id,
                    b'm',
                    side,
                    OrderKind::Market,
                    Lots(t.held()),
                    Ticks(1),
                    self.futures,
                );
                self.send(flatten, at);
            }
            _ => {}
        }
    }

    /// The entry is done (whole, or in part and withdrawn): protect what filled.
    fn open(&mut self, k: usize, at_us: u64) {
        self.tracked[k].phase = Phase::Open;
        let t = self.tracked[k];
        self.send_exits(&t.op, Lots(t.filled), at_us);
        if self.holds_stops {
            self.tracked[k].stop = HeldStop::Armed;
            // A market already through the stop fires it now.
            self.check_held_stop(k, at_us);
        }
    }

    /// A held stop fires when the last trade is at or through its price: the take
    /// profit is cancelled and a market order closes what is held.
    fn check_held_stop(&mut self, k: usize, now_us: u64) {
        let (Some(last), t) = (self.last_trade, self.tracked[k]) else {
            return;
        };
        let long = t.op.intent.side == Side::Long;
        let stop = t.op.intent.stop_loss;
        if t.held() <= 0 || (long && last > stop) || (!long && last < stop) {
            return;
        }
        self.tracked[k].stop = HeldStop::Fired;
        self.send(OrderCmd::Cancel(id(t.op.id, b't')), now_us);
        let side = order_side(t.op.intent.side, true);
        let close = self.new_order(
            t.op.id,
            b's',
            side,
            OrderKind::Market,
            Lots(t.held()),
            Ticks(1),
            self.futures,
        );
        self.send(close, now_us);
    }

    /// Books operation `k` as closed and forgets it.
    fn close(&mut self, k: usize, exit: Exit, now_us: u64) {
        let t = self.tracked.swap_remove(k);
        let gross = self.risk.gain_e8(
            t.op.intent.side == Side::Long,
            t.entry_value_e8,
            t.exit_value_e8,
        );
        let pnl_e8 = gross - t.fees_e8 + t.funding_e8;
        self.risk.close(t.op.id, pnl_e8, t.fees_e8, now_us / 1000);
        if self.risk.stats().killed_by_drawdown && !self.killed {
            // The watchdog's kill switch: no new operation; the run stops in order.
            self.killed = true;
            crate::shutdown::request();
        }
        match exit {
            Exit::TakeProfit => self.stats.take_profits += 1,
            Exit::Stop => self.stats.stops += 1,
            Exit::Flattened => self.stats.flattened += 1,
            Exit::Liquidated => self.stats.liquidated += 1,
            Exit::EndOfData => self.stats.open_at_end += 1,
        }
        let closed = ClosedTrade {
            id: t.op.id,
            side: t.op.intent.side,
            qty: Lots(t.filled),
            entry_us: t.entry_us,
            exit_us: now_us,
            entry_value_e8: t.entry_value_e8,
            exit_value_e8: t.exit_value_e8,
            fees_e8: t.fees_e8,
            funding_e8: t.funding_e8,
            pnl_e8,
            margin_e8: t.op.margin_e8,
            exit,
            maker_fills: t.maker_fills,
            taker_fills: t.taker_fills,
        };
        if let Some(j) = self.journal.as_mut() {
            j.trades.push(closed);
        }
        self.audit(crate::gateway::audit::Entry::Closed(closed));
        // Equity right after every close too: drawdowns between samples are not missed.
        self.sample_equity(now_us, true);
    }

    /// The exchange closed the whole position at `price` and kept `loss_e8` of margin:
    /// every operation holding lots closes there; what the margin lost beyond the price
    /// move is charged to them by size.
    fn on_liquidation(&mut self, price: Ticks, loss_e8: i64, now_us: u64) {
        let held: i64 = self.tracked.iter().map(Tracked::held).sum();
        if held <= 0 {
            return;
        }
        let gross: i64 = self.tracked.iter().map(|t| self.gross_at(t, price)).sum();
        let extra = (-loss_e8 - gross).min(0);
        while let Some(k) = self.tracked.iter().position(|t| t.held() > 0) {
            let h = self.tracked[k].held();
            let share = (extra as i128 * h as i128 / held as i128) as i64;
            let value = self.risk.value_e8(price, Lots(h));
            let t = &mut self.tracked[k];
            t.exit_value_e8 = t.exit_value_e8.saturating_add(value);
            t.exit_filled = t.filled;
            t.fees_e8 -= share;
            self.close(k, Exit::Liquidated, now_us);
        }
    }

    /// Funding on the position, shared among the operations holding it by size.
    fn on_funding(&mut self, amount_e8: i64) {
        let held: i64 = self.tracked.iter().map(Tracked::held).sum();
        if held <= 0 {
            return;
        }
        for t in self.tracked.iter_mut() {
            t.funding_e8 += (amount_e8 as i128 * t.held() as i128 / held as i128) as i64;
        }
    }

    /// The take profit and the stop for `qty` of an operation whose entry filled.
    fn send_exits(&mut self, op: &Operation, qty: Lots, now_us: u64) {
        let side = order_side(op.intent.side, true);
        if self.holds_stops {
            // The take profit rests on the venue; the stop is held here.
            let tp = self.new_order(
                op.id,
                b't',
                side,
                OrderKind::LimitGtc,
                qty,
                op.intent.take_profit,
                false,
            );
            self.send(tp, now_us);
            return;
        }
        if self.futures {
            for (role, kind, price) in [
                (b't', OrderKind::LimitGtc, op.intent.take_profit),
                (b's', OrderKind::StopMarket, op.intent.stop_loss),
            ] {
                let exit = self.new_order(op.id, role, side, kind, qty, price, true);
                self.send(exit, now_us);
            }
            return;
        }
        let oco = OcoOrder {
            list_id: id(op.id, b'x'),
            take_profit_id: id(op.id, b't'),
            stop_id: id(op.id, b's'),
            side,
            qty,
            take_profit: op.intent.take_profit,
            stop: op.intent.stop_loss,
        };
        self.send(OrderCmd::Oco(oco), now_us);
    }

    /// An order for operation `op_id` in `role` (`e`ntry, `t`ake profit, `s`top,
    /// `m`arket flattening).
    #[allow(clippy::too_many_arguments)]
    fn new_order(
        &self,
        op_id: u64,
        role: u8,
        side: OrderSide,
        kind: OrderKind,
        qty: Lots,
        price: Ticks,
        reduce_only: bool,
    ) -> OrderCmd {
        OrderCmd::New(NewOrder {
            id: id(op_id, role),
            side,
            kind,
            price,
            qty,
            reduce_only,
        })
    }

    /// Signs `cmd`, timestamped `now_us`, and hands it to the exchange; false (and an
    /// encoding failure counted) when the venue could not write it.
    ///
    /// # Hot path: no allocation.
    fn send(&mut self, cmd: OrderCmd, now_us: u64) -> bool {
        let req = OrderRequest {
            cmd,
            timestamp_ms: now_us / 1000,
            recv_window_ms: RECV_WINDOW_MS,
        };
        match self.signer.encode(&self.spec, &req) {
            Ok(wire) => {
                self.stats.requests += 1;
                self.audit(crate::gateway::audit::Entry::Order { at_us: now_us, req });
                self.exchange.send(&req, &wire, now_us, self.tick_ns);
                true
            }
            Err(_) => {
                self.stats.encode_errors += 1;
                false
            }
        }
    }
}

/// Buy or sell for an operation's entry (`exit` false) or exit.
fn order_side(side: Side, exit: bool) -> OrderSide {
    match (side == Side::Long) != exit {
        true => OrderSide::Buy,
        false => OrderSide::Sell,
    }
}

/// `mnv<operation><role>`: the client id names the operation and the order's role.
fn id(op_id: u64, role: u8) -> ClientId {
    let mut s = ClientId::new();
    let _ = write!(s, "mnv{op_id}{}", role as char);
    s
}

fn parse_id(s: &str) -> Option<(u64, u8)> {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"mnv")?;
    let (&role, digits) = digits.split_last()?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((
        digits.iter().fold(0, |a, &d| a * 10 + (d - b'0') as u64),
        role,
    ))
}

#[cfg(test)]
mod tests;
