//! The live order link: the trader's end of a real exchange (Binance, its testnet, or
//! `minerva exchange`), in place of the simulated one. The trader signs the same
//! request bytes; the link carries them and brings back the same [`Execution`]s.
//!
//! * The gateway thread pushes signed requests into an SPSC ring and wakes the link's
//!   I/O thread; it drains execution reports from a second ring (no allocation, no
//!   blocking on the hot thread).
//! * The I/O thread sends each request on one keep-alive REST connection and keeps an
//!   order state machine per client id (sent → new → partially filled → filled, or
//!   canceled, expired, rejected) fed by the REST answers and by the user data
//!   stream, which a third thread reads (listen key, keep-alive, reconnection).
//! * Fills are counted by cumulative quantity, so one learnt twice (an answer and an
//!   event, or a query after a reconnection) is forwarded once; a fill an answer
//!   shows first waits `fill_wait` for its event (which carries the real fee) before
//!   the link books it itself.
//! * A 5xx or a lost connection leaves an order's fate unknown: the link queries it
//!   by client id and never resends blindly. -1021 (clock) resynchronises the server
//!   time and re-stamps the request once. 429/418 stop new orders until `Retry-After`
//!   (refused locally; cancels wait and go).
//! * On start: server time, stale `mnv…` orders of an earlier session cancelled, the
//!   position read; after a user stream reconnection every open order is queried.
//!
//! Neither key nor secret is ever logged or printed.

use super::keys::{API_KEY_HEADER, ApiKeys};
use super::sign::{Request, Signer};
use crate::core::decimal::parse_scaled;
use crate::core::{Lots, Market, SymbolSpec, Ticks, Valuer, fee_e8};
use crate::net::http::{Client, RestError};
use crate::net::tls::Conn;
use crate::net::ws::{Wire, WireError};
use crate::sim::{ClientId, Execution, Method, Reject, Report, SimStats};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

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
}

/// Link counters.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Server time readings.
    pub time_syncs: AtomicU64,
    /// Requests re-stamped after -1021.
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
}

impl LinkStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    New,
    Oco,
    Cancel,
    CancelAll,
}

#[derive(Clone)]
struct Command {
    kind: Kind,
    req: Request,
    /// Receive time of the frame that caused it (pipeline clock, ns; 0: none).
    tick_ns: u64,
}

struct Shared {
    offset_ms: AtomicI64,
    position: AtomicI64,
    stop: AtomicBool,
    user_live: AtomicBool,
    cancel_all_done: AtomicU64,
    cancelled: AtomicU64,
    stats: Mutex<SimStats>,
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
            stop: AtomicBool::new(stopped),
            user_live: AtomicBool::new(false),
            cancel_all_done: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            stats: Mutex::new(SimStats::default()),
            counters: LinkStats::default(),
            wire: Mutex::new((histogram(), histogram())),
        })
    }
}

/// What the link measured and counted, for the run report.
#[derive(Debug, Clone)]
pub struct LinkReport {
    /// What it found on start.
    pub startup: Startup,
    /// Counters by name.
    pub counters: Vec<(&'static str, u64)>,
    /// Frame received → order bytes written to the socket, ns.
    pub tick_to_wire: Histogram<u64>,
    /// Order request written → its answer read (the REST round trip), ns.
    pub order_rtt: Histogram<u64>,
}

/// The gateway thread's end of the link.
pub struct LiveLink {
    to_io: rtrb::Producer<Command>,
    from_io: rtrb::Consumer<Execution>,
    io: std::thread::Thread,
    handles: Vec<JoinHandle<()>>,
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
        let io_handle = std::thread::Builder::new()
            .name("minerva-orders".into())
            .spawn(move || io.run(cmd_rx))
            .map_err(|e| LinkError::Thread(e.to_string()))?;
        let io_thread = io_handle.thread().clone();
        let user = UserStream {
            cfg: cfg.clone(),
            shared: shared.clone(),
            tx: user_tx,
            wake: io_thread.clone(),
        };
        let user_handle = std::thread::Builder::new()
            .name("minerva-userdata".into())
            .spawn(move || user.run())
            .map_err(|e| LinkError::Thread(e.to_string()))?;
        let link = Self {
            to_io,
            from_io,
            io: io_thread,
            handles: vec![io_handle, user_handle],
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

    /// Link counters.
    pub fn counters(&self) -> &LinkStats {
        &self.shared.counters
    }

    /// Counters and wire latencies, for the run report. Cold.
    pub fn report(&self) -> LinkReport {
        let c = &self.shared.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let w = self.shared.wire.lock().unwrap_or_else(|e| e.into_inner());
        LinkReport {
            startup: self.startup,
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
            ],
            tick_to_wire: w.0.clone(),
            order_rtt: w.1.clone(),
        }
    }

    /// Hands a signed request to the I/O thread; `tick_ns` is the receive time of the
    /// frame that caused it (for tick-to-wire).
    ///
    /// # Hot path: no allocation; a futex wake when the I/O thread sleeps.
    pub fn send(&mut self, method: Method, req: &Request, tick_ns: u64) {
        let kind = match method {
            Method::NewOrder => Kind::New,
            Method::NewOco => Kind::Oco,
            Method::Cancel => Kind::Cancel,
        };
        let cmd = Command {
            kind,
            req: req.clone(),
            tick_ns,
        };
        if self.to_io.push(cmd).is_err() {
            let client_id = crate::sim::client_id_of(req).unwrap_or_default();
            let _ = self.local.try_push(Execution {
                client_id,
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
            kind: Kind::CancelAll,
            req: Request::new(),
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

    /// Counters in the simulated exchange's terms (requests, refusals by reason,
    /// fills, cancels).
    pub fn stats(&self) -> SimStats {
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
    }
}

/// Runs user data stream events through the link's order states with no exchange
/// behind it: `orders` are (client id, buy, quantity) as if sent; returns the reports
/// the gateway would get. The link's own code, offline (tests, fuzzing). Cold.
pub fn replay_user_events(
    spec: &SymbolSpec,
    orders: &[(&str, bool, Lots)],
    events: &[&[u8]],
) -> Vec<Execution> {
    let shared = Shared::new(true);
    let (tx, mut rx) = rtrb::RingBuffer::<Execution>::new(RING);
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
    };
    let mut io = Io::new(&cfg, shared, tx, user_rx);
    for &(c, buy, qty) in orders {
        io.track(cid(c), buy, qty);
    }
    let mut out = Vec::new();
    for e in events {
        io.on_event(&String::from_utf8_lossy(e));
        while let Ok(x) = rx.pop() {
            out.push(x);
        }
    }
    out
}

/// From the user stream thread to the I/O thread.
enum UserMsg {
    /// A session opened (after the first: reconcile).
    Connected,
    /// An event.
    Event(Vec<u8>),
}

/// An order as the link follows it.
#[derive(Debug, Clone)]
struct Track {
    buy: bool,
    qty: Lots,
    cum: Lots,
    quote_e8: i64,
    acked: bool,
    done: bool,
    done_at: Option<Instant>,
    /// Status and cumulative fill an answer or query showed ahead of the events.
    pending: Option<Pending>,
    /// Its fate is unknown (5xx, lost connection): query again.
    unknown: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    deadline: Instant,
    status: Status,
    cum: Lots,
    quote_e8: i64,
    taker: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

impl Status {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NEW" | "PENDING_NEW" => Status::New,
            "PARTIALLY_FILLED" => Status::PartiallyFilled,
            "FILLED" => Status::Filled,
            "CANCELED" | "PENDING_CANCEL" => Status::Canceled,
            "EXPIRED" | "EXPIRED_IN_MATCH" => Status::Expired,
            "REJECTED" => Status::Rejected,
            _ => return None,
        })
    }
}

/// The raw value of `"key":` in a flat JSON object (string content or number text).
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat_len = key.len() + 3;
    let mut from = 0;
    while let Some(at) = json[from..].find(key).map(|i| i + from) {
        from = at + key.len();
        let before = at.checked_sub(1).map(|i| json.as_bytes()[i]);
        if before != Some(b'"') || !json[at + key.len()..].starts_with("\":") {
            continue;
        }
        let rest = &json[at - 1 + pat_len..];
        return Some(if let Some(r) = rest.strip_prefix('"') {
            r.split('"').next().unwrap_or("")
        } else {
            rest.split([',', '}', ']']).next().unwrap_or("").trim()
        });
    }
    None
}

/// The JSON objects of the array `"key":[…]` (flat objects), as text.
fn objects<'a>(json: &'a str, key: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let pat = format!("\"{key}\":[");
    let Some(at) = json.find(&pat) else {
        return out;
    };
    let body = &json[at + pat.len()..];
    let (mut depth, mut start) = (0usize, None);
    for (i, c) in body.char_indices() {
        match c {
            '{' => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some(s) = start.take() {
                        out.push(&body[s..=i]);
                    }
                }
            }
            ']' if depth == 0 => break,
            _ => {}
        }
    }
    out
}

/// The nested object `"key":{…}` (the futures event's order), as text.
fn object<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":{{");
    let at = json.find(&pat)? + pat.len() - 1;
    let mut depth = 0usize;
    for (i, c) in json[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&json[at..=at + i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn code_of(body: &str) -> (i64, String) {
    (
        field(body, "code")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        field(body, "msg").unwrap_or("").to_string(),
    )
}

/// A request's parameter.
fn req_param<'a>(req: &'a [u8], key: &str) -> Option<&'a str> {
    std::str::from_utf8(req).ok()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn cid(s: &str) -> ClientId {
    ClientId::from(s).unwrap_or_default()
}

/// The I/O thread: REST, the order states, the reports.
struct Io {
    rest: Client,
    spec: SymbolSpec,
    valuer: Valuer,
    market: Market,
    signer: Signer,
    keys: Arc<ApiKeys>,
    time_sync: Duration,
    fees: (i64, i64),
    fill_wait: Duration,
    shared: Arc<Shared>,
    out: rtrb::Producer<Execution>,
    user: Receiver<UserMsg>,
    orders: HashMap<ClientId, Track>,
    lists: HashMap<ClientId, [ClientId; 2]>,
    next_sync: Instant,
    next_requery: Instant,
    paused_until: Option<Instant>,
    /// The request weight the server says this minute used.
    budget: super::limits::Budget,
    weight_limit: u32,
    user_sessions: u64,
    spin: bool,
    quote: String,
    base: String,
}

impl Io {
    fn new(
        cfg: &LinkConfig,
        shared: Arc<Shared>,
        out: rtrb::Producer<Execution>,
        user: Receiver<UserMsg>,
    ) -> Self {
        let (base, quote) = crate::core::split_assets(&cfg.spec.name);
        Self {
            rest: Client::new(&cfg.rest, Duration::from_secs(5)),
            valuer: Valuer::new(&cfg.spec),
            market: cfg.spec.market,
            spec: cfg.spec.clone(),
            signer: Signer::new(&cfg.keys),
            keys: cfg.keys.clone(),
            time_sync: cfg.time_sync,
            fees: cfg.fees,
            fill_wait: cfg.fill_wait,
            shared,
            out,
            user,
            orders: HashMap::with_capacity(256),
            lists: HashMap::new(),
            next_sync: Instant::now(),
            next_requery: Instant::now(),
            paused_until: None,
            budget: Default::default(),
            weight_limit: super::limits::default_weight_limit(cfg.spec.market),
            user_sessions: 0,
            spin: cfg.spin,
            quote: quote.to_string(),
            base: base.to_string(),
        }
    }

    fn futures(&self) -> bool {
        self.market.is_futures()
    }

    fn path(&self, what: &str) -> &'static str {
        match (self.futures(), what) {
            (false, "order") => "/api/v3/order",
            (false, "oco") => "/api/v3/orderList/oco",
            (false, "openOrders") => "/api/v3/openOrders",
            (false, "cancelAll") => "/api/v3/openOrders",
            (false, "time") => "/api/v3/time",
            (true, "order") => "/fapi/v1/order",
            (true, "openOrders") => "/fapi/v1/openOrders",
            (true, "cancelAll") => "/fapi/v1/allOpenOrders",
            (true, "time") => "/fapi/v1/time",
            (true, "positionRisk") => "/fapi/v2/positionRisk",
            _ => "/",
        }
    }

    fn server_ms(&self) -> i64 {
        wall_ms().saturating_add(self.shared.offset_ms.load(Ordering::Relaxed))
    }

    /// `params` with `recvWindow`, `timestamp` and the signature.
    fn signed(&self, params: &str) -> String {
        let mut s = format!("{params}&recvWindow=5000&timestamp={}", self.server_ms());
        let sig = self.signer.sign(s.as_bytes());
        s.push_str("&signature=");
        s.push_str(std::str::from_utf8(&sig).unwrap_or(""));
        s
    }

    /// The trader's request with a fresh timestamp and signature.
    fn restamp(&self, req: &Request) -> Request {
        let text = std::str::from_utf8(req).unwrap_or("");
        let Some(at) = text.find("&timestamp=") else {
            return req.clone();
        };
        let mut s = text[..at].to_string();
        s.push_str(&format!("&timestamp={}", self.server_ms()));
        let sig = self.signer.sign(s.as_bytes());
        let mut out = Request::new();
        let _ = out.try_extend_from_slice(s.as_bytes());
        let _ = out.try_extend_from_slice(b"&signature=");
        let _ = out.try_extend_from_slice(&sig);
        out
    }

    /// Reads the server clock: offset = server − the request's midpoint.
    fn sync_time(&mut self) -> Result<(), RestError> {
        let t0 = wall_ms();
        let r = self.rest.request("GET", self.path("time"), b"", &[])?;
        let t1 = wall_ms();
        self.budget.note_answer(&r);
        if let Some(st) = std::str::from_utf8(&r.body)
            .ok()
            .and_then(|b| field(b, "serverTime"))
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.shared
                .offset_ms
                .store(st - (t0 + t1) / 2, Ordering::Relaxed);
            LinkStats::bump(&self.shared.counters.time_syncs);
        }
        self.next_sync = Instant::now() + self.time_sync;
        Ok(())
    }

    /// A signed request of the link's own (queries, start-up); a clock refusal
    /// (-1021) resynchronises the server time and tries once more.
    fn call(&mut self, method: &str, path: &str, params: &str) -> Result<(u16, String), RestError> {
        let key = self.keys.api_key().to_string();
        for attempt in 0..2 {
            let signed = self.signed(params);
            let r = if method == "POST" || method == "PUT" {
                self.rest
                    .request(method, path, signed.as_bytes(), &[(API_KEY_HEADER, &key)])?
            } else {
                let p = format!("{path}?{signed}");
                self.rest
                    .request(method, &p, b"", &[(API_KEY_HEADER, &key)])?
            };
            self.budget.note_answer(&r);
            let body = String::from_utf8_lossy(&r.body).into_owned();
            if attempt == 0 && r.status == 400 && code_of(&body).0 == -1021 {
                self.sync_time()?;
                LinkStats::bump(&self.shared.counters.restamped);
                continue;
            }
            return Ok((r.status, body));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Start-up: clock, stale orders, position.
    fn start(&mut self) -> Result<Startup, LinkError> {
        self.sync_time()?;
        let sym = format!("symbol={}", self.spec.name);
        let (status, body) = self.call("GET", self.path("openOrders"), &sym)?;
        if status != 200 {
            return Err(LinkError::Refused {
                what: "open orders",
                status,
                body,
            });
        }
        let mut s = Startup::default();
        for o in objects(&format!("{{\"o\":{body}}}"), "o") {
            let Some(c) = field(o, "clientOrderId") else {
                continue;
            };
            if c.starts_with("mnv") {
                let p = format!("{sym}&origClientOrderId={c}");
                let (st, _) = self.call("DELETE", self.path("order"), &p)?;
                if st == 200 {
                    s.stale_cancelled += 1;
                }
            } else {
                s.foreign_open += 1;
            }
        }
        if self.futures() {
            let (status, body) = self.call("GET", self.path("positionRisk"), &sym)?;
            if status != 200 {
                return Err(LinkError::Refused {
                    what: "positions",
                    status,
                    body,
                });
            }
            let amt = objects(&format!("{{\"o\":{body}}}"), "o")
                .iter()
                .find(|o| field(o, "symbol") == Some(self.spec.name.as_str()))
                .and_then(|o| field(o, "positionAmt"))
                .and_then(|a| {
                    parse_scaled(
                        a.trim_start_matches('-').as_bytes(),
                        self.spec.qty.decimals(),
                    )
                    .ok()
                    .map(|v| if a.starts_with('-') { -v } else { v })
                })
                .unwrap_or(0);
            s.position = Lots(amt);
            self.shared.position.store(amt, Ordering::Relaxed);
        }
        s.offset_ms = self.shared.offset_ms.load(Ordering::Relaxed);
        Ok(s)
    }

    fn run(mut self, mut cmds: rtrb::Consumer<Command>) {
        loop {
            let mut work = false;
            while let Ok(c) = cmds.pop() {
                work = true;
                self.command(c);
            }
            work |= self.drain_user();
            self.timers();
            if self.shared.stop.load(Ordering::Acquire) && cmds.is_empty() {
                return;
            }
            if !work {
                if self.spin {
                    std::thread::yield_now();
                } else {
                    std::thread::park_timeout(Duration::from_millis(5));
                }
            }
        }
    }

    /// Handles every user stream message received so far; true if there was one.
    fn drain_user(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.user.try_recv() {
                Ok(UserMsg::Event(e)) => {
                    any = true;
                    self.on_event(&String::from_utf8_lossy(&e));
                }
                Ok(UserMsg::Connected) => {
                    any = true;
                    self.user_sessions += 1;
                    if self.user_sessions > 1 {
                        // Events may have been missed while the session was down.
                        for o in self.orders.values_mut().filter(|t| !t.done) {
                            o.unknown = true;
                        }
                        self.next_requery = Instant::now();
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return any,
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if now >= self.next_sync {
            // The clock can wait for the next minute's weight; orders cannot.
            if self.budget.wait(1, self.weight_limit).is_zero() {
                let _ = self.sync_time();
            }
            self.next_sync = now + self.time_sync;
        }
        let due: Vec<ClientId> = self
            .orders
            .iter()
            .filter(|(_, t)| t.pending.is_some_and(|p| p.deadline <= now))
            .map(|(c, _)| *c)
            .collect();
        for c in due {
            self.settle_pending(&c);
        }
        if now >= self.next_requery {
            self.next_requery = now + Duration::from_secs(1);
            let unknown: Vec<ClientId> = self
                .orders
                .iter()
                .filter(|(_, t)| t.unknown && !t.done)
                .map(|(c, _)| *c)
                .collect();
            for c in unknown {
                if let Some(found) = self.query(&c) {
                    if let Some(t) = self.orders.get_mut(&c) {
                        t.unknown = false;
                    }
                    if found == Found::Missing {
                        self.terminal(&c, Report::Rejected(Reject::StatusUnknown));
                    }
                }
            }
            // Finished orders are forgotten after a minute.
            self.orders.retain(|_, t| {
                t.done_at
                    .is_none_or(|d| now.duration_since(d) < Duration::from_secs(60))
            });
        }
    }

    fn push(&mut self, client_id: ClientId, report: Report, time_ms: i64) {
        let mut st = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        match report {
            Report::Rejected(r) => {
                st.rejected += 1;
                st.rejects[r.index()] += 1;
            }
            Report::Canceled => {
                st.canceled += 1;
                self.shared.cancelled.fetch_add(1, Ordering::AcqRel);
            }
            Report::Expired => st.expired += 1,
            Report::Filled { qty, maker, .. } => {
                st.fills += 1;
                if maker {
                    st.maker_fills += 1;
                    st.maker_lots = st.maker_lots.saturating_add(qty.0);
                } else {
                    st.taker_fills += 1;
                    st.taker_lots = st.taker_lots.saturating_add(qty.0);
                }
            }
            Report::Liquidated { .. } => st.liquidations += 1,
            Report::Funding { .. } => st.fundings += 1,
            Report::Accepted => {}
        }
        drop(st);
        let e = Execution {
            client_id,
            report,
            time_us: (time_ms.max(0) as u64).saturating_mul(1000),
            deliver_us: 0,
        };
        // The gateway drains this ring on every pass; wait rather than lose a report.
        let mut e = e;
        loop {
            match self.out.push(e) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => {
                    e = back;
                    if self.shared.stop.load(Ordering::Acquire) {
                        let mut st = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
                        st.reports_lost += 1;
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    fn track(&mut self, c: ClientId, buy: bool, qty: Lots) {
        self.orders.insert(
            c,
            Track {
                buy,
                qty,
                cum: Lots(0),
                quote_e8: 0,
                acked: false,
                done: false,
                done_at: None,
                pending: None,
                unknown: false,
            },
        );
    }

    fn command(&mut self, c: Command) {
        {
            let mut st = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            if c.kind != Kind::CancelAll {
                st.requests += 1;
            }
        }
        let buy = req_param(&c.req, "side") == Some("BUY");
        let qty = req_param(&c.req, "quantity")
            .and_then(|q| self.spec.qty.parse(q.as_bytes()).ok())
            .unwrap_or(Lots(0));
        let id = match c.kind {
            Kind::New => {
                let id = cid(req_param(&c.req, "newClientOrderId").unwrap_or(""));
                self.track(id, buy, qty);
                id
            }
            Kind::Oco => {
                let list = cid(req_param(&c.req, "listClientOrderId").unwrap_or(""));
                let legs = [
                    cid(req_param(&c.req, "aboveClientOrderId").unwrap_or("")),
                    cid(req_param(&c.req, "belowClientOrderId").unwrap_or("")),
                ];
                for l in legs {
                    self.track(l, buy, qty);
                }
                self.lists.insert(list, legs);
                list
            }
            Kind::Cancel => cid(req_param(&c.req, "origClientOrderId").unwrap_or("")),
            Kind::CancelAll => {
                self.cancel_all();
                self.shared.cancel_all_done.fetch_add(1, Ordering::AcqRel);
                return;
            }
        };
        if c.kind != Kind::Cancel {
            if let Some(until) = self.paused_until {
                if Instant::now() < until {
                    return self.reject(c.kind, &id, Reject::RateLimited);
                }
                self.paused_until = None;
            }
        }
        self.deliver(c, id, 0);
    }

    /// Sends a request; resolves clock refusals, rate limits and unknown fates.
    fn deliver(&mut self, c: Command, id: ClientId, first_attempt: u32) {
        let path = match c.kind {
            Kind::Oco => self.path("oco"),
            _ => self.path("order"),
        };
        let key = self.keys.api_key().to_string();
        let mut req = c.req.clone();
        for attempt in first_attempt..3 {
            let text = std::str::from_utf8(&req).unwrap_or("").to_string();
            let r = if c.kind == Kind::Cancel {
                self.rest.request(
                    "DELETE",
                    &format!("{path}?{text}"),
                    b"",
                    &[(API_KEY_HEADER, &key)],
                )
            } else {
                self.rest
                    .request("POST", path, &req, &[(API_KEY_HEADER, &key)])
            };
            let resp = match r {
                Ok(resp) => resp,
                Err(_) => {
                    // Written or not, its fate is unknown: ask, never resend blindly.
                    LinkStats::bump(&self.shared.counters.unknown_status);
                    return self.resolve_unknown(c.kind, &id, &mut req, attempt);
                }
            };
            {
                let done = crate::core::clock::now_ns();
                let written = self.rest.written_ns;
                let mut w = self.shared.wire.lock().unwrap_or_else(|e| e.into_inner());
                if c.tick_ns > 0 && attempt == 0 && written > c.tick_ns {
                    let _ = w.0.record(written - c.tick_ns);
                }
                let _ = w.1.record(done.saturating_sub(written).max(1));
            }
            self.budget.note_answer(&resp);
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            match resp.status {
                200 => return self.answered(c.kind, &id, &body),
                429 | 418 => {
                    LinkStats::bump(&self.shared.counters.rate_limited);
                    let wait = Duration::from_secs(resp.retry_after.unwrap_or(1).max(1));
                    self.paused_until = Some(Instant::now() + wait);
                    if c.kind == Kind::Cancel && attempt < 2 {
                        // A cancel must go: wait it out, then send it again.
                        std::thread::sleep(wait.min(Duration::from_secs(10)));
                        req = self.restamp(&req);
                        continue;
                    }
                    return self.reject(c.kind, &id, Reject::RateLimited);
                }
                s if s >= 500 => {
                    LinkStats::bump(&self.shared.counters.unknown_status);
                    return self.resolve_unknown(c.kind, &id, &mut req, attempt);
                }
                _ => {
                    let (code, msg) = code_of(&body);
                    if code == -1021 && attempt == 0 {
                        // Our clock estimate is off: read it again and re-stamp.
                        let _ = self.sync_time();
                        req = self.restamp(&req);
                        LinkStats::bump(&self.shared.counters.restamped);
                        continue;
                    }
                    if c.kind == Kind::Cancel && matches!(code, -2011 | -2013) {
                        // Already done (filled, perhaps): learn how, and book it,
                        // before the refusal (the trader must see the fill first).
                        self.drain_user();
                        self.query(&id);
                        self.settle_pending(&id);
                        return self.push(
                            id,
                            Report::Rejected(Reject::UnknownOrder),
                            self.server_ms(),
                        );
                    }
                    if c.kind == Kind::Cancel {
                        // The order is still open: a refused cancel is not the order's
                        // end. Try again with a fresh stamp; after that it stays open
                        // (cancelled at shutdown) and the trader keeps waiting for it.
                        if attempt < 2 {
                            req = self.restamp(&req);
                            continue;
                        }
                        LinkStats::bump(&self.shared.counters.cancel_failures);
                        return;
                    }
                    let r = Reject::from_binance(code, &msg, self.market);
                    return self.reject(c.kind, &id, r);
                }
            }
        }
    }

    /// A 5xx or a lost connection: query the order; a cancel still open is sent again.
    fn resolve_unknown(&mut self, kind: Kind, id: &ClientId, req: &mut Request, attempt: u32) {
        let ids: Vec<ClientId> = match kind {
            Kind::Oco => self.lists.get(id).map(|l| l.to_vec()).unwrap_or_default(),
            _ => vec![*id],
        };
        let mut missing = 0;
        for c in &ids {
            let mut found = None;
            for k in 0..3u64 {
                std::thread::sleep(Duration::from_millis(20 * (k + 1)));
                found = self.query(c);
                if found.is_some() {
                    break;
                }
            }
            match found {
                Some(Found::Missing) => missing += 1,
                Some(Found::Open) if kind == Kind::Cancel && attempt < 2 => {
                    *req = self.restamp(req);
                    return self.deliver(
                        Command {
                            kind,
                            req: req.clone(),
                            tick_ns: 0,
                        },
                        *id,
                        attempt + 1,
                    );
                }
                Some(_) => {}
                None => {
                    if let Some(t) = self.orders.get_mut(c) {
                        t.unknown = true;
                    }
                }
            }
        }
        if missing == ids.len() && !ids.is_empty() {
            match kind {
                Kind::Cancel => self.push(
                    *id,
                    Report::Rejected(Reject::UnknownOrder),
                    self.server_ms(),
                ),
                _ => self.reject(kind, id, Reject::StatusUnknown),
            }
        }
    }

    /// Asks the exchange about an order and reconciles; `None` when it could not be
    /// asked.
    fn query(&mut self, c: &ClientId) -> Option<Found> {
        LinkStats::bump(&self.shared.counters.queries);
        let p = format!("symbol={}&origClientOrderId={c}", self.spec.name);
        let (status, body) = self.call("GET", self.path("order"), &p).ok()?;
        match status {
            200 => {
                let open = matches!(
                    field(&body, "status").and_then(Status::parse),
                    Some(Status::New | Status::PartiallyFilled)
                );
                self.reconcile(c, &body, false);
                Some(if open { Found::Open } else { Found::Done })
            }
            400 if code_of(&body).0 == -2013 => Some(Found::Missing),
            _ => None,
        }
    }

    fn reject(&mut self, kind: Kind, id: &ClientId, r: Reject) {
        if kind == Kind::Oco {
            if let Some(legs) = self.lists.get(id).copied() {
                for l in legs {
                    if let Some(t) = self.orders.get_mut(&l) {
                        t.done = true;
                        t.done_at = Some(Instant::now());
                    }
                }
            }
            return self.push(*id, Report::Rejected(r), self.server_ms());
        }
        if kind == Kind::Cancel {
            return self.push(*id, Report::Rejected(r), self.server_ms());
        }
        self.terminal(id, Report::Rejected(r));
    }

    /// A 200 answer to a request.
    fn answered(&mut self, kind: Kind, id: &ClientId, body: &str) {
        match kind {
            Kind::Oco => {
                for o in objects(body, "orderReports") {
                    if let Some(c) = field(o, "clientOrderId").map(cid) {
                        self.reconcile(&c, o, true);
                    }
                }
            }
            Kind::New => self.reconcile(id, body, true),
            Kind::Cancel => {
                let c = field(body, "origClientOrderId").map_or(*id, cid);
                self.reconcile(&c, body, false);
            }
            Kind::CancelAll => {}
        }
    }

    /// An order's status and cumulative fill from an answer or a query. Fills it
    /// shows beyond what the events brought wait `fill_wait` for their events.
    fn reconcile(&mut self, c: &ClientId, order: &str, placing: bool) {
        let Some(status) = field(order, "status").and_then(Status::parse) else {
            return;
        };
        let cum = field(order, "executedQty")
            .and_then(|q| self.spec.qty.parse(q.as_bytes()).ok())
            .unwrap_or(Lots(0));
        let quote_e8 = field(order, "cummulativeQuoteQty")
            .or_else(|| field(order, "cumQuote"))
            .and_then(|q| parse_scaled(q.as_bytes(), 8).ok())
            .unwrap_or(0);
        let wait = self.fill_wait;
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if cum.0 > t.cum.0 {
            t.pending = Some(Pending {
                deadline: Instant::now() + wait,
                status,
                cum,
                quote_e8,
                taker: placing,
            });
            return;
        }
        self.status(c, status);
    }

    /// The part of a pending reconciliation the events did not bring, booked now.
    fn settle_pending(&mut self, c: &ClientId) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        let Some(p) = t.pending.take() else {
            return;
        };
        if p.cum.0 > t.cum.0 {
            let qty = Lots(p.cum.0.saturating_sub(t.cum.0));
            let quote = p.quote_e8.saturating_sub(t.quote_e8).max(0);
            let price = self.price_of(quote, qty);
            let rate = if p.taker { self.fees.1 } else { self.fees.0 };
            let fee = fee_e8(quote, rate);
            LinkStats::bump(&self.shared.counters.fills_without_event);
            self.fill(c, price, qty, fee, !p.taker, self.server_ms());
        }
        self.status(c, p.status);
    }

    /// The tick price of `quote_e8` for `qty` (an average, rounded to the grid).
    fn price_of(&self, quote_e8: i64, qty: Lots) -> Ticks {
        let one = self.valuer.value_e8(Ticks(1), qty).max(1);
        Ticks(((quote_e8 as i128 + one as i128 / 2) / one as i128) as i64)
    }

    /// A status with no new fill.
    fn status(&mut self, c: &ClientId, s: Status) {
        match s {
            Status::New => {
                if let Some(t) = self.orders.get_mut(c) {
                    if !t.acked {
                        t.acked = true;
                        self.push(*c, Report::Accepted, self.server_ms());
                    }
                }
            }
            Status::PartiallyFilled | Status::Filled => {}
            Status::Canceled => self.terminal(c, Report::Canceled),
            Status::Expired => self.terminal(c, Report::Expired),
            Status::Rejected => self.terminal(c, Report::Rejected(Reject::Unsupported)),
        }
    }

    /// The order's end, reported once.
    fn terminal(&mut self, c: &ClientId, r: Report) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if t.done {
            return;
        }
        t.done = true;
        t.done_at = Some(Instant::now());
        self.push(*c, r, self.server_ms());
    }

    /// A fill, forwarded once (cumulative quantity decides).
    fn fill(&mut self, c: &ClientId, price: Ticks, qty: Lots, fee: i64, maker: bool, time_ms: i64) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        t.cum = Lots(t.cum.0.saturating_add(qty.0));
        t.quote_e8 = t.quote_e8.saturating_add(self.valuer.value_e8(price, qty));
        let leaves = Lots(t.qty.0.saturating_sub(t.cum.0).max(0));
        if leaves.0 == 0 {
            t.done = true;
            t.done_at = Some(Instant::now());
            t.pending = None;
        }
        let signed = if t.buy { qty.0 } else { qty.0.saturating_neg() };
        self.shared.position.fetch_add(signed, Ordering::Relaxed);
        self.push(
            *c,
            Report::Filled {
                price,
                qty,
                maker,
                fee_e8: fee,
                leaves,
            },
            time_ms,
        );
    }

    fn parse_price(&self, s: &str) -> Option<Ticks> {
        if let Ok(t) = self.spec.price.parse(s.as_bytes()) {
            return Some(t);
        }
        // Off the grid (an average): to the nearest tick.
        let m = parse_scaled(s.as_bytes(), self.spec.price.decimals()).ok()?;
        let tick = self.spec.price.tick_mantissa().max(1);
        Some(Ticks((m + tick / 2) / tick))
    }

    /// A commission in the quote asset, 10⁻⁸ (a base-asset commission at the fill
    /// price; any other asset, such as BNB, is not converted and counts as 0).
    fn commission(&self, n: &str, asset: Option<&str>, price: Ticks) -> i64 {
        match asset {
            Some(a) if a == self.base => self
                .spec
                .qty
                .parse(n.as_bytes())
                .map_or(0, |q| self.valuer.value_e8(price, q)),
            Some(a) if a != self.quote => 0,
            _ => parse_scaled(n.as_bytes(), 8).unwrap_or(0),
        }
    }

    /// A user data stream event.
    fn on_event(&mut self, text: &str) {
        match field(text, "e") {
            Some("executionReport") => self.on_order_event(text, text, false),
            Some("ORDER_TRADE_UPDATE") => {
                if let Some(o) = object(text, "o") {
                    self.on_order_event(text, o, true);
                }
            }
            Some("ACCOUNT_UPDATE") => {
                let Some(a) = object(text, "a") else {
                    return;
                };
                if field(a, "m") == Some("FUNDING_FEE") {
                    let t = field(text, "T").and_then(|v| v.parse().ok()).unwrap_or(0);
                    for b in objects(a, "B") {
                        if field(b, "a") == Some(self.quote.as_str()) {
                            let bc = field(b, "bc").unwrap_or("0");
                            let neg = bc.starts_with('-');
                            let v =
                                parse_scaled(bc.trim_start_matches('-').as_bytes(), 8).unwrap_or(0);
                            let amount_e8 = if neg { -v } else { v };
                            if amount_e8 != 0 {
                                self.push(ClientId::new(), Report::Funding { amount_e8 }, t);
                            }
                        }
                    }
                }
            }
            Some("listenKeyExpired") => {
                // The reader thread opens a new session; orders get queried then.
            }
            _ => {}
        }
    }

    fn on_order_event(&mut self, top: &str, o: &str, futures: bool) {
        let x = field(o, "x").unwrap_or("");
        let orig = field(o, "C").filter(|c| !c.is_empty());
        let c = match (x, orig, futures) {
            ("CANCELED", Some(orig), false) => cid(orig),
            _ => cid(field(o, "c").unwrap_or("")),
        };
        let time_ms: i64 = field(o, "T")
            .or_else(|| field(top, "E"))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| self.server_ms());
        let last_px = field(o, "L").and_then(|p| self.parse_price(p));
        if x == "CALCULATED" || c.starts_with("autoclose") {
            // A liquidation: the exchange closed the position.
            let qty = field(o, "z")
                .and_then(|q| self.spec.qty.parse(q.as_bytes()).ok())
                .unwrap_or(Lots(0));
            let long = field(o, "S") == Some("SELL");
            let rp = field(o, "rp").unwrap_or("0");
            let v = parse_scaled(rp.trim_start_matches('-').as_bytes(), 8).unwrap_or(0);
            let realised = if rp.starts_with('-') { -v } else { v };
            let signed = if long { qty.0 } else { qty.0.saturating_neg() };
            self.shared.position.fetch_sub(signed, Ordering::Relaxed);
            return self.push(
                c,
                Report::Liquidated {
                    price: last_px.unwrap_or(Ticks(0)),
                    qty: Lots(signed),
                    loss_e8: -realised,
                },
                time_ms,
            );
        }
        let Some(t) = self.orders.get(&c) else {
            LinkStats::bump(&self.shared.counters.foreign_events);
            return;
        };
        let known = t.cum;
        let cum = field(o, "z")
            .and_then(|q| self.spec.qty.parse(q.as_bytes()).ok())
            .unwrap_or(known);
        if cum.0 > known.0 {
            let last = field(o, "l")
                .and_then(|q| self.spec.qty.parse(q.as_bytes()).ok())
                .unwrap_or(Lots(0));
            let qty = Lots(cum.0.saturating_sub(known.0));
            let price = match last_px {
                Some(p) if p.0 > 0 && last.0 == qty.0 => p,
                // Fills were missed: book them at the order's average so far.
                _ => {
                    let quote = field(o, "Z")
                        .and_then(|z| parse_scaled(z.as_bytes(), 8).ok())
                        .or_else(|| {
                            let ap = field(o, "ap")?;
                            let p = self.parse_price(ap)?;
                            Some(self.valuer.value_e8(p, cum))
                        })
                        .unwrap_or(0);
                    self.price_of(quote.saturating_sub(t.quote_e8).max(0), qty)
                }
            };
            let fee = if last.0 == qty.0 {
                self.commission(field(o, "n").unwrap_or("0"), field(o, "N"), price)
            } else {
                fee_e8(self.valuer.value_e8(price, qty), self.fees.0)
            };
            let maker = field(o, "m") == Some("true");
            self.fill(&c, price, qty, fee, maker, time_ms);
            if let Some(t) = self.orders.get_mut(&c) {
                if t.pending.is_some_and(|p| p.cum.0 <= t.cum.0) {
                    let p = t.pending.take().expect("checked");
                    self.status(&c, p.status);
                }
            }
        } else if x == "TRADE" {
            LinkStats::bump(&self.shared.counters.duplicate_fills);
        }
        let status = field(o, "X").and_then(Status::parse);
        match (x, status) {
            ("NEW", _) => self.status(&c, Status::New),
            (_, Some(s @ (Status::Canceled | Status::Expired | Status::Rejected))) => {
                self.status(&c, s)
            }
            _ => {}
        }
    }

    /// Cancels every open order of the symbol (shutdown).
    fn cancel_all(&mut self) {
        let sym = format!("symbol={}", self.spec.name);
        let open: Vec<ClientId> = self
            .orders
            .iter()
            .filter(|(_, t)| !t.done)
            .map(|(c, _)| *c)
            .collect();
        match self.call("DELETE", self.path("cancelAll"), &sym) {
            Ok((200, body)) if !self.futures() => {
                for o in objects(&format!("{{\"o\":{body}}}"), "o") {
                    if let Some(c) =
                        field(o, "origClientOrderId").or_else(|| field(o, "clientOrderId"))
                    {
                        self.reconcile(&cid(c), o, false);
                    }
                }
            }
            _ => {}
        }
        // Whatever the answer said, ask each order we know is open how it ended.
        for c in open {
            if self.orders.get(&c).is_some_and(|t| !t.done) {
                self.query(&c);
            }
        }
        let pending: Vec<ClientId> = self
            .orders
            .iter()
            .filter(|(_, t)| t.pending.is_some())
            .map(|(c, _)| *c)
            .collect();
        for c in pending {
            self.settle_pending(&c);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Open,
    Done,
    Missing,
}

/// The user data stream reader: listen key, session, keep-alive, reconnection.
struct UserStream {
    cfg: LinkConfig,
    shared: Arc<Shared>,
    tx: Sender<UserMsg>,
    wake: std::thread::Thread,
}

impl UserStream {
    fn listen_path(&self) -> &'static str {
        if self.cfg.spec.market.is_futures() {
            "/fapi/v1/listenKey"
        } else {
            "/api/v3/userDataStream"
        }
    }

    fn listen_key(&self, rest: &mut Client) -> Option<String> {
        let r = rest
            .request(
                "POST",
                self.listen_path(),
                b"",
                &[(API_KEY_HEADER, self.cfg.keys.api_key())],
            )
            .ok()?;
        if r.status != 200 {
            return None;
        }
        let body = String::from_utf8_lossy(&r.body).into_owned();
        field(&body, "listenKey").map(str::to_string)
    }

    fn connect(&self, key: &str, seed: u64) -> Result<Wire, WireError> {
        let (host, tls) = crate::net::http::endpoint(&self.cfg.ws);
        let stream = Conn::connect(host, tls, Duration::from_secs(5))?;
        let wire = Wire::handshake(stream, host, &format!("/ws/{key}"), seed)?;
        wire.stream()
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(wire)
    }

    fn run(self) {
        let mut rest = Client::new(&self.cfg.rest, Duration::from_secs(5));
        let mut rng = fastrand::Rng::with_seed(wall_us() as u64);
        let mut backoff = 250u64;
        while !self.shared.stop.load(Ordering::Acquire) {
            let session = self
                .listen_key(&mut rest)
                .and_then(|k| self.connect(&k, rng.u64(..)).ok().map(|w| (k, w)));
            let Some((key, mut wire)) = session else {
                let wait = backoff - backoff / 4 + rng.u64(0..=backoff / 2);
                let until = Instant::now() + Duration::from_millis(wait);
                while Instant::now() < until && !self.shared.stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                backoff = (backoff * 2).min(30_000);
                continue;
            };
            backoff = 250;
            LinkStats::bump(&self.shared.counters.user_connects);
            let _ = self.tx.send(UserMsg::Connected);
            self.shared.user_live.store(true, Ordering::Release);
            self.wake.unpark();
            // Binance keeps a listen key 60 min after its last keep-alive.
            let mut keepalive = Instant::now() + Duration::from_secs(30 * 60);
            loop {
                if self.shared.stop.load(Ordering::Acquire) {
                    wire.close();
                    return;
                }
                if Instant::now() >= keepalive {
                    let _ = rest.request(
                        "PUT",
                        &format!("{}?listenKey={key}", self.listen_path()),
                        b"",
                        &[(API_KEY_HEADER, self.cfg.keys.api_key())],
                    );
                    keepalive = Instant::now() + Duration::from_secs(30 * 60);
                }
                match wire.read_message() {
                    Ok(m) => {
                        let expired = m.windows(17).any(|w| w == b"listenKeyExpired\"");
                        let _ = self.tx.send(UserMsg::Event(m.to_vec()));
                        self.wake.unpark();
                        if expired {
                            break;
                        }
                    }
                    Err(WireError::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            LinkStats::bump(&self.shared.counters.user_drops);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_arrays_and_nested_objects() {
        let ev = r#"{"e":"ORDER_TRADE_UPDATE","E":5,"T":6,"o":{"s":"BTCUSDT","c":"mnv1e","x":"TRADE","X":"FILLED","l":"0.010","z":"0.010","L":"100.5","T":7}}"#;
        assert_eq!(field(ev, "e"), Some("ORDER_TRADE_UPDATE"));
        assert_eq!(field(ev, "T"), Some("6"));
        let o = object(ev, "o").unwrap();
        assert_eq!(field(o, "T"), Some("7"));
        assert_eq!(field(o, "c"), Some("mnv1e"));
        assert_eq!(field(o, "X"), Some("FILLED"));
        assert_eq!(field(o, "missing"), None);
        let list = r#"{"orderReports":[{"clientOrderId":"a","status":"NEW"},{"clientOrderId":"b","status":"NEW"}],"x":1}"#;
        let objs = objects(list, "orderReports");
        assert_eq!(objs.len(), 2);
        assert_eq!(field(objs[1], "clientOrderId"), Some("b"));
        assert_eq!(
            code_of(r#"{"code":-2013,"msg":"Order does not exist."}"#).0,
            -2013
        );
        assert_eq!(
            req_param(b"symbol=X&side=BUY&quantity=1", "side"),
            Some("BUY")
        );
        assert_eq!(Status::parse("EXPIRED_IN_MATCH"), Some(Status::Expired));
    }

    #[test]
    fn events_are_booked_once_by_cumulative_quantity() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let ev = |x: &str, st: &str, l: &str, z: &str, extra: &str| {
            format!(
                r#"{{"e":"executionReport","E":1,"s":"BTCUSDT","c":"mnv1e","S":"BUY","o":"LIMIT","q":"0.30000","p":"100.00","x":"{x}","X":"{st}","l":"{l}","z":"{z}","L":"100.00","n":"0.01","N":"USDT","T":5,"m":true,"Z":"{extra}"}}"#
            )
        };
        let a = ev("NEW", "NEW", "0", "0", "0");
        let b = ev("TRADE", "PARTIALLY_FILLED", "0.10000", "0.10000", "10");
        let dup = b.clone();
        // The second fill's event was lost; the third says 0.3 in all.
        let c = ev("TRADE", "FILLED", "0.10000", "0.30000", "30");
        let cancel = r#"{"e":"executionReport","E":1,"s":"BTCUSDT","c":"cancel_1","C":"mnv1e","x":"CANCELED","X":"CANCELED","z":"0.30000"}"#;
        let foreign = ev("TRADE", "FILLED", "0.1", "0.1", "10").replace("mnv1e", "other");
        let got = replay_user_events(
            &spec,
            &[("mnv1e", true, Lots(30_000))],
            &[
                a.as_bytes(),
                b.as_bytes(),
                dup.as_bytes(),
                c.as_bytes(),
                cancel.as_bytes(),
                foreign.as_bytes(),
                b"not json",
            ],
        );
        let reports: Vec<Report> = got.iter().map(|e| e.report).collect();
        assert_eq!(reports.len(), 3, "{reports:?}");
        assert_eq!(reports[0], Report::Accepted);
        assert!(matches!(
            reports[1],
            Report::Filled {
                qty: Lots(10_000),
                fee_e8: 1_000_000,
                maker: true,
                leaves: Lots(20_000),
                ..
            }
        ));
        // The missed fill and the last come as one, at the average price, with the
        // maker fee estimated (0 here): the whole order, once.
        assert!(
            matches!(
                reports[2],
                Report::Filled {
                    qty: Lots(20_000),
                    price: Ticks(10_000),
                    leaves: Lots(0),
                    ..
                }
            ),
            "{reports:?}"
        );
        // The order is done: its cancel event adds nothing.
    }
}
