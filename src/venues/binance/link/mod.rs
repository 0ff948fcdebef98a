//! The live order link to Binance (or its testnet, or `minerva exchange`): the
//! trader's end of a real exchange, in place of the simulated one. The trader hands it
//! typed requests and their signed bytes; it brings back the same [`Execution`]s.
//!
//! * The gateway thread pushes requests into an SPSC ring and wakes the link's I/O
//!   thread (`io`); it drains execution reports from a second ring (no allocation,
//!   no blocking on the hot thread).
//! * The I/O thread sends each request on one keep-alive REST connection and keeps an
//!   order state machine per client id (sent → new → partially filled → filled, or
//!   canceled, expired, rejected) fed by the REST answers and by the user data
//!   stream, which a third thread reads (`user_stream`: listen key, keep-alive,
//!   reconnection).
//! * Fills are counted by cumulative quantity, so one learnt twice (an answer and an
//!   event, or a query after a reconnection) is forwarded once; a fill an answer
//!   shows first waits `fill_wait` for its event (which carries the real fee) before
//!   the link books it itself.
//! * A 5xx or a lost connection leaves an order's fate unknown: the link queries it
//!   by client id and never resends blindly. -1021 (clock) resynchronises the server
//!   time and re-signs the request once with a fresh timestamp. 429/418 stop new
//!   orders until `Retry-After` (refused locally; cancels wait and go).
//! * On start: server time, stale `mnv…` orders of an earlier session cancelled, the
//!   position read; after a user stream reconnection every open order is queried.
//! * Answers and events are read as typed messages ([`super::orders`],
//!   [`super::user`]); one that does not read is counted and logged, never taken as
//!   zeros.
//!
//! Neither key nor secret is ever logged or printed.

mod account;
mod io;
mod user_stream;

use super::keys::ApiKeys;
use crate::core::{
    ClientId, ExchangeStats, Execution, Lots, OrderCmd, OrderRequest, Reject, Report, SymbolSpec,
};
use crate::net::http::RestError;
use crate::venues::{LinkReport, WireRequest};
use hdrhistogram::Histogram;
use io::{Io, UserMsg};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use user_stream::UserStream;

fn histogram() -> Histogram<u64> {
    // 1 ns to 100 s at 3 significant digits, as the pipeline's own series.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}

/// Where and as whom the link trades.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// REST: `https://host:port` (TLS) or `host:port` (plain; the local exchange).
    pub rest: String,
    /// The user data stream's WebSocket server: `wss://host:port` or `host:port`.
    pub ws: String,
    /// The symbol traded.
    pub spec: SymbolSpec,
    /// The account's keys.
    pub keys: Arc<ApiKeys>,
    /// How often the server clock is read again.
    pub time_sync: Duration,
    /// Maker and taker fee rates (10⁻⁸) for fills the link books without their
    /// event (the event's commission is used whenever it comes).
    pub fees: (i64, i64),
    /// How long a fill an answer showed first waits for its event.
    pub fill_wait: Duration,
    /// The I/O thread yields between requests instead of sleeping: no wake-up on the
    /// order path (tens of µs on a VM), for a core of its own (bare metal).
    pub spin: bool,
    /// What to do with a position or orders found on the account at start.
    pub on_start: crate::venues::OnStart,
    /// Futures: set the symbol's margin type to isolated and its leverage at start,
    /// chosen within its brackets; `None` leaves the account's as they are.
    pub leverage: Option<LeverageWish>,
    /// Where account snapshots go (start, periodic, stream events, exit); `None`:
    /// nowhere.
    pub account: Option<crate::venues::AccountSink>,
}

/// The leverage a strategy wants on a futures symbol, and what bounds its largest
/// position: at start the link sets the highest leverage up to `max` at which the most
/// margin it commits (capital — the account's available balance when lower — ×
/// `max_capital_in_use`) × leverage fits a bracket allowing it
/// (`brackets::choose_leverage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeverageWish {
    /// The strategy's cap (`max_leverage`).
    pub max: u32,
    /// The strategy's capital, 10⁻⁸ of the margin asset.
    pub capital_e8: i64,
    /// `max_capital_in_use`, ppm.
    pub in_use_ppm: u32,
}

/// Why the link could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The REST server could not be reached.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// The exchange refused a start-up request (keys, permissions).
    #[error("{what}: HTTP {status}: {body}")]
    Refused {
        /// Which request.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// Binance's error body.
        body: String,
    },
    /// A start-up answer did not read.
    #[error("{what}: unreadable answer: {why}")]
    Unreadable {
        /// Which request.
        what: &'static str,
        /// The reader's complaint.
        why: String,
    },
    /// A position or orders were found at start and `--on-start refuse` (the default).
    #[error(
        "found on the account at start: {0}; --on-start adopt trades around them, --on-start flatten cancels the orders and closes the position"
    )]
    FoundAtStart(String),
    /// `--on-start flatten` could not close what it found.
    #[error("--on-start flatten: {0}")]
    Flatten(String),
    /// The user data stream could not be opened.
    #[error("user data stream: {0}")]
    UserStream(String),
    /// A thread could not be started.
    #[error("cannot start the link's threads: {0}")]
    Thread(String),
}

/// What the link found on start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Startup {
    /// Server time − local time, ms.
    pub offset_ms: i64,
    /// Orders of an earlier session (`mnv…`) found open and cancelled.
    pub stale_cancelled: u32,
    /// Open orders placed by something else, left alone.
    pub foreign_open: u32,
    /// Position held on the symbol (futures), lots.
    pub position: Lots,
    /// The account's available balance in the asset operations are margined in (spot:
    /// the quote asset's free balance; USDⓈ-M: the quote's available balance; COIN-M:
    /// the coin's), 10⁻⁸; `None` when the account could not be read.
    pub available_e8: Option<i64>,
    /// The leverage set on the symbol at start (futures, when asked).
    pub leverage: Option<u32>,
}

/// Link counters.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Server time readings.
    pub time_syncs: AtomicU64,
    /// Requests re-signed after -1021.
    pub restamped: AtomicU64,
    /// Answers with unknown execution status (5xx, lost connection).
    pub unknown_status: AtomicU64,
    /// Order queries (reconciliation).
    pub queries: AtomicU64,
    /// 429/418 answers.
    pub rate_limited: AtomicU64,
    /// User data stream sessions opened.
    pub user_connects: AtomicU64,
    /// User data stream sessions lost.
    pub user_drops: AtomicU64,
    /// Fills learnt twice (answer and event), forwarded once.
    pub duplicate_fills: AtomicU64,
    /// Fills booked from an answer or query because their event did not come.
    pub fills_without_event: AtomicU64,
    /// Events about orders this session did not place.
    pub foreign_events: AtomicU64,
    /// Cancels the exchange kept refusing (the order stayed open).
    pub cancel_failures: AtomicU64,
    /// Answers and events that did not read (a field missing or malformed).
    pub malformed: AtomicU64,
    /// Events of types the link does not follow.
    pub other_events: AtomicU64,
}

impl LinkStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request on its way to the I/O thread.
#[derive(Clone)]
struct Command {
    /// What to do; `None`: cancel every open order (shutdown).
    req: Option<OrderRequest>,
    /// Its signed bytes.
    wire: WireRequest,
    /// Receive time of the frame that caused it (pipeline clock, ns; 0: none).
    tick_ns: u64,
}

struct Shared {
    offset_ms: AtomicI64,
    position: AtomicI64,
    /// The available balance the user data stream last showed (spot: the quote's
    /// free; futures: the margin asset's cross wallet), 10⁻⁸; `i64::MIN`: none yet.
    available_e8: AtomicI64,
    stop: AtomicBool,
    /// The order and user stream threads have ended: the account reader takes its
    /// exit snapshot after the last stream event, so the exit one is the last.
    io_stopped: AtomicBool,
    user_live: AtomicBool,
    cancel_all_done: AtomicU64,
    cancelled: AtomicU64,
    stats: Mutex<ExchangeStats>,
    counters: LinkStats,
    /// Frame received → order bytes written to the socket, and request written →
    /// answer read, ns.
    wire: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

impl Shared {
    fn new(stopped: bool) -> Arc<Self> {
        Arc::new(Shared {
            offset_ms: AtomicI64::new(0),
            position: AtomicI64::new(0),
            available_e8: AtomicI64::new(i64::MIN),
            stop: AtomicBool::new(stopped),
            io_stopped: AtomicBool::new(stopped),
            user_live: AtomicBool::new(false),
            cancel_all_done: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            stats: Mutex::new(ExchangeStats::default()),
            counters: LinkStats::default(),
            wire: Mutex::new((histogram(), histogram())),
        })
    }
}

/// The gateway thread's end of the link.
pub struct LiveLink {
    to_io: rtrb::Producer<Command>,
    from_io: rtrb::Consumer<Execution>,
    io: std::thread::Thread,
    handles: Vec<JoinHandle<()>>,
    /// The account reader, stopped after the I/O threads.
    account: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Reports made here (a full command ring).
    local: arrayvec::ArrayVec<Execution, 64>,
    startup: Startup,
}

/// Ring slots each way.
const RING: usize = 1024;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl LiveLink {
    /// Connects: server time, stale orders, position, the user data stream; then the
    /// I/O threads run until the link is dropped. Cold.
    ///
    /// # Errors
    /// [`LinkError`] when the exchange cannot be reached, refuses the keys, or the
    /// user data stream cannot be opened.
    pub fn start(cfg: LinkConfig) -> Result<Self, LinkError> {
        let shared = Shared::new(false);
        let (to_io, cmd_rx) = rtrb::RingBuffer::<Command>::new(RING);
        let (exec_tx, from_io) = rtrb::RingBuffer::<Execution>::new(RING);
        let (user_tx, user_rx) = channel::<UserMsg>();
        let mut io = Io::new(&cfg, shared.clone(), exec_tx, user_rx);
        let startup = io.start()?;
        if let Some(a) = startup.available_e8 {
            shared.available_e8.store(a, Ordering::Relaxed);
        }
        let mut account = cfg.account.clone().map(|sink| {
            let every = sink.every;
            let r = account::AccountReader::new(
                &cfg.rest,
                cfg.keys.clone(),
                &cfg.spec,
                shared.clone(),
                sink,
            );
            (r, every)
        });
        if let Some((r, _)) = account.as_mut() {
            r.take("start");
        }
        let io_handle = std::thread::Builder::new()
            .name("minerva-orders".into())
            .spawn(move || io.run(cmd_rx))
            .map_err(|e| LinkError::Thread(e.to_string()))?;
        let io_thread = io_handle.thread().clone();
        let user = UserStream::new(cfg.clone(), shared.clone(), user_tx, io_thread.clone());
        let user_handle = std::thread::Builder::new()
            .name("minerva-userdata".into())
            .spawn(move || user.run())
            .map_err(|e| LinkError::Thread(e.to_string()))?;
        let handles = vec![io_handle, user_handle];
        let account = match account {
            Some((r, every)) => Some(
                std::thread::Builder::new()
                    .name("minerva-account".into())
                    .spawn(move || r.run(every))
                    .map_err(|e| LinkError::Thread(e.to_string()))?,
            ),
            None => None,
        };
        let link = Self {
            to_io,
            from_io,
            io: io_thread,
            handles,
            account,
            shared,
            local: arrayvec::ArrayVec::new(),
            startup,
        };
        // Trading starts only once fills can be heard.
        let until = Instant::now() + Duration::from_secs(10);
        while !link.shared.user_live.load(Ordering::Acquire) {
            if Instant::now() > until {
                return Err(LinkError::UserStream(
                    "no session within 10 s (listen key or WebSocket refused)".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(link)
    }

    /// What the link found on start.
    pub fn startup(&self) -> Startup {
        self.startup
    }

    /// The available balance as the user data stream last showed it (else as read at
    /// start), 10⁻⁸. An atomic load: the trader reads it before sizing.
    #[inline]
    pub fn available_now_e8(&self) -> Option<i64> {
        match self.shared.available_e8.load(Ordering::Relaxed) {
            i64::MIN => None,
            a => Some(a),
        }
    }

    /// Link counters.
    pub fn counters(&self) -> &LinkStats {
        &self.shared.counters
    }

    /// Counters and wire latencies, for the run report. Cold.
    pub fn report(&self) -> LinkReport {
        let c = &self.shared.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let w = self.shared.wire.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.startup;
        LinkReport {
            startup: format!(
                "clock offset {} ms, {} stale orders cancelled and {} foreign left at start, start position {} lots, available balance {}",
                s.offset_ms,
                s.stale_cancelled,
                s.foreign_open,
                s.position.0,
                s.available_e8
                    .map_or("not read".to_string(), |a| crate::core::Dec8(a).to_string())
            ) + &s
                .leverage
                .map_or(String::new(), |l| format!(", leverage set to {l}×")),
            counters: vec![
                ("time syncs", r(&c.time_syncs)),
                ("re-stamped", r(&c.restamped)),
                ("unknown status", r(&c.unknown_status)),
                ("queries", r(&c.queries)),
                ("rate limited", r(&c.rate_limited)),
                ("user stream sessions", r(&c.user_connects)),
                ("user stream drops", r(&c.user_drops)),
                ("fills heard twice", r(&c.duplicate_fills)),
                ("fills without event", r(&c.fills_without_event)),
                ("foreign events", r(&c.foreign_events)),
                ("cancels refused", r(&c.cancel_failures)),
                ("malformed answers or events", r(&c.malformed)),
                ("events not followed", r(&c.other_events)),
            ],
            tick_to_wire: w.0.clone(),
            order_rtt: w.1.clone(),
        }
    }

    /// Hands a request and its signed bytes to the I/O thread; `tick_ns` is the
    /// receive time of the frame that caused it (for tick-to-wire).
    ///
    /// # Hot path: no allocation; a futex wake when the I/O thread sleeps.
    pub fn send(&mut self, req: &OrderRequest, wire: &WireRequest, tick_ns: u64) {
        let cmd = Command {
            req: Some(*req),
            wire: wire.clone(),
            tick_ns,
        };
        if self.to_io.push(cmd).is_err() {
            let _ = self.local.try_push(Execution {
                client_id: req.cmd.client_id(),
                report: Report::Rejected(Reject::TooManyOrders),
                time_us: self.now_us(),
                deliver_us: 0,
            });
            return;
        }
        self.io.unpark();
    }

    /// The server clock as this side estimates it, µs.
    ///
    /// # Hot path: a vDSO clock read.
    #[inline]
    pub fn now_us(&self) -> u64 {
        wall_us()
            .saturating_add(
                self.shared
                    .offset_ms
                    .load(Ordering::Relaxed)
                    .saturating_mul(1000),
            )
            .max(0) as u64
    }

    /// True when reports are waiting.
    #[inline]
    pub fn has_reports(&self) -> bool {
        !self.local.is_empty() || !self.from_io.is_empty()
    }

    /// Hands every report received to `f`, oldest first.
    ///
    /// # Hot path: no allocation.
    pub fn drain(&mut self, mut f: impl FnMut(&Execution)) {
        for e in self.local.drain(..) {
            f(&e);
        }
        while let Ok(e) = self.from_io.pop() {
            f(&e);
        }
    }

    /// Cancels every open order of the symbol and waits (up to 10 s) until the
    /// exchange answered. Returns how many were cancelled. Cold.
    pub fn cancel_all(&mut self) -> usize {
        let before = self.shared.cancelled.load(Ordering::Acquire);
        let done = self.shared.cancel_all_done.load(Ordering::Acquire);
        let cmd = Command {
            req: None,
            wire: WireRequest::new(),
            tick_ns: 0,
        };
        let until = Instant::now() + Duration::from_secs(10);
        let mut pushed = self.to_io.push(cmd.clone()).is_ok();
        self.io.unpark();
        while Instant::now() < until {
            if !pushed {
                pushed = self.to_io.push(cmd.clone()).is_ok();
                self.io.unpark();
            } else if self.shared.cancel_all_done.load(Ordering::Acquire) != done {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // Events of the last cancels may still be on their way.
        std::thread::sleep(Duration::from_millis(50));
        (self.shared.cancelled.load(Ordering::Acquire) - before) as usize
    }

    /// The position as the link's fills (and the start-up reading) make it, lots.
    pub fn position(&self) -> Lots {
        Lots(self.shared.position.load(Ordering::Relaxed))
    }

    /// Counters in the exchange's terms (requests, refusals by reason, fills,
    /// cancels).
    pub fn stats(&self) -> ExchangeStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for LiveLink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.io.unpark();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        self.shared.io_stopped.store(true, Ordering::Release);
        if let Some(h) = self.account.take() {
            let _ = h.join();
        }
    }
}

/// The link's I/O state with no exchange behind it (nothing is sent: the REST address
/// is unreachable and no thread runs), its reports' consumer and its shared state.
fn offline_io(spec: &SymbolSpec) -> (Io, rtrb::Consumer<Execution>, Arc<Shared>) {
    let shared = Shared::new(true);
    let (tx, rx) = rtrb::RingBuffer::<Execution>::new(RING);
    // The user stream's end is dropped: offline there is none.
    let (_user_tx, user_rx) = channel::<UserMsg>();
    let cfg = LinkConfig {
        rest: "127.0.0.1:1".into(),
        ws: "127.0.0.1:1".into(),
        spec: spec.clone(),
        keys: Arc::new(ApiKeys::paper()),
        time_sync: Duration::from_secs(3600),
        fees: (0, 0),
        fill_wait: Duration::ZERO,
        spin: false,
        on_start: Default::default(),
        leverage: None,
        account: None,
    };
    (Io::new(&cfg, shared.clone(), tx, user_rx), rx, shared)
}

/// Runs user data stream events through the link's order states with no exchange
/// behind it: `orders` are (client id, buy, quantity) as if sent; returns the reports
/// the gateway would get, and how many messages did not read. The link's own code,
/// offline (tests, fuzzing). Cold.
pub fn replay_user_events(
    spec: &SymbolSpec,
    orders: &[(&str, bool, Lots)],
    events: &[&[u8]],
) -> (Vec<Execution>, u64) {
    let (mut io, mut rx, shared) = offline_io(spec);
    for &(c, buy, qty) in orders {
        io.track(ClientId::from(c).unwrap_or_default(), buy, qty);
    }
    let mut out = Vec::new();
    for e in events {
        io.on_event(e);
        while let Ok(x) = rx.pop() {
            out.push(x);
        }
    }
    (out, shared.counters.malformed.load(Ordering::Relaxed))
}

/// Runs order answers through the link's order states with no exchange behind it: each
/// is the body of a 200 answer to its command (placing, OCO list or cancel), read as
/// the link reads answers. The orders a command places are tracked when first seen; a
/// fill an answer shows ahead of the events is booked at once (as after `fill_wait`).
/// Returns the reports the gateway would get, and how many answers (or fields of
/// them) did not read. The link's own code, offline (tests, fuzzing). Cold.
pub fn replay_answers(spec: &SymbolSpec, answers: &[(OrderCmd, &[u8])]) -> (Vec<Execution>, u64) {
    let (mut io, mut rx, shared) = offline_io(spec);
    let mut out = Vec::new();
    for (cmd, body) in answers {
        io.replay_answer(cmd, body);
        while let Ok(x) = rx.pop() {
            out.push(x);
        }
    }
    (out, shared.counters.malformed.load(Ordering::Relaxed))
}

/// The client id a command's report names, and the sides and quantities of the
/// orders it places: `(id, [(leg id, buy, qty)])`.
fn orders_of(cmd: &OrderCmd) -> (ClientId, arrayvec::ArrayVec<(ClientId, bool, Lots), 2>) {
    let mut legs = arrayvec::ArrayVec::new();
    match cmd {
        OrderCmd::New(o) => legs.push((o.id, o.side == crate::core::OrderSide::Buy, o.qty)),
        OrderCmd::Oco(o) => {
            let buy = o.side == crate::core::OrderSide::Buy;
            legs.push((o.take_profit_id, buy, o.qty));
            legs.push((o.stop_id, buy, o.qty));
        }
        OrderCmd::Cancel(_) => {}
    }
    (cmd.client_id(), legs)
}

#[cfg(test)]
mod tests;
