//! `minerva exchange`: a local venue that serves recorded sessions the way Binance
//! serves live ones, so clients (Minerva's own, or third-party Binance libraries)
//! connect to it unchanged, without internet or keys.
//!
//! This part serves market data:
//! * WebSocket market streams, raw (`/ws/<stream>`) and combined
//!   (`/stream?streams=<a>/<b>`): the recorded messages, exactly as Binance sent
//!   them, paced by their recorded receive times (`--speed`);
//! * REST (`/api/v3/…` for spot data, `/fapi/v1/…` for USDⓈ-M): `ping`, `time` (the
//!   replay's exchange time), `exchangeInfo` (the file given, or the symbols' grids),
//!   and `depth` snapshots taken from the venue's own book, which applies each diff
//!   before publishing it: a snapshot's `lastUpdateId` is never behind the stream, so
//!   Binance's local-book procedure works against it.
//!
//! and it trades ([`desk`]): Binance's signed order and account endpoints (new,
//! cancel and query orders, open orders, cancel all, spot OCO lists, account,
//! positions, leverage) matched against the replayed book by the backtest's simulated
//! exchange, and the user data stream (listen key, `/ws/<listenKey>`) with execution
//! events; order counts are limited per 10 s as Binance does.
//!
//! The replay starts when the first stream subscriber takes its REST snapshot (or a
//! second after it subscribed, for one that takes none); the recording up to its own
//! snapshot is applied before, so the book is live and the snapshot served is the
//! recording's state where the replay starts. It runs to the end of the data; at `--speed max` it goes as fast as the slowest subscriber reads.
//! Threads block (no spinning); this is the exchange's side, not the hot path.

mod candles;

use crate::book::{Book, SyncState};
use crate::core::{Market, SymbolSpec};
use crate::replay::{ReplayError, ReplayOptions, symbol_table};
use crate::store::files::{InputError, recorded_frames};
use crate::venues::binance::snapshot::parse_snapshot;
use crate::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder};
pub use desk::{AccountSummary, TradingConfig};

use crate::net::server::{Request, error_body, query_param, respond};
use crate::venues::binance::desk::{self, Desk};
use crate::venues::binance::keys::ApiKeys;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct VenueConfig {
    /// Recorded sessions (the formats `minerva replay` reads).
    pub files: Vec<PathBuf>,
    /// Market, grids and exchangeInfo, as for a replay.
    pub replay: ReplayOptions,
    /// Replay speed: a multiple of real time, `None` = as fast as subscribers read.
    pub speed: Option<f64>,
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Faults to inject into the streams (tests of clients' recovery).
    pub faults: Faults,
    /// REST request weight allowed per minute (default Binance's: 6,000 on spot,
    /// 2,400 on USDⓈ-M); over it, requests are answered 429 until the next minute.
    pub weight_limit: Option<u32>,
    /// The one account's key pair: signed requests must carry this key and be signed
    /// with its secret.
    pub keys: Arc<ApiKeys>,
    /// The account and the matching.
    pub trading: TradingConfig,
}

/// Faults the venue injects into its streams, each every N published messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Close every stream session (clients must reconnect and resync).
    pub drop_every: Option<u64>,
    /// Leave out a depth diff (an update id gap: clients must resync).
    pub skip_depth_every: Option<u64>,
    /// Send a truncated JSON message before the real one.
    pub malformed_every: Option<u64>,
    /// Every N published messages, stop publishing for the given ms (the streams go
    /// silent while the sessions stay open).
    pub stall: Option<(u64, u64)>,
    /// Answer a signed request -1022 (bad signature) without executing it.
    pub bad_signature_every: Option<u64>,
    /// Execute an order or cancel request, then answer 503 "execution status unknown"
    /// (clients must query, not resend blindly).
    pub unknown_status_every: Option<u64>,
    /// Shift the server clock (`time`, signed requests' checks, user events) by this
    /// many ms (negative: behind), from the first signed request on.
    pub clock_shift_ms: i64,
}

impl Faults {
    /// Parses `drop=N,skip-depth=N,malformed=N,stall=N:MS,bad-signature=N,
    /// unknown-status=N,clock-shift=±MS` (any subset).
    ///
    /// # Errors
    /// A message naming the part that could not be read.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut f = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault `{part}`: expected NAME=N"))?;
            if k == "stall" {
                let parsed = v
                    .split_once(':')
                    .and_then(|(n, ms)| Some((n.parse::<u64>().ok()?, ms.parse::<u64>().ok()?)));
                match parsed {
                    Some((n, ms)) if n > 0 => f.stall = Some((n, ms)),
                    _ => return Err(format!("fault `{part}`: expected stall=N:MS")),
                }
                continue;
            }
            if k == "clock-shift" {
                f.clock_shift_ms = v
                    .parse()
                    .map_err(|_| format!("fault `{part}`: expected a shift in ms (±N)"))?;
                continue;
            }
            let n: u64 = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("fault `{part}`: N must be a positive count"))?;
            match k {
                "drop" => f.drop_every = Some(n),
                "skip-depth" => f.skip_depth_every = Some(n),
                "malformed" => f.malformed_every = Some(n),
                "bad-signature" => f.bad_signature_every = Some(n),
                "unknown-status" => f.unknown_status_every = Some(n),
                _ => {
                    return Err(format!(
                        "fault `{k}`: expected drop, skip-depth, malformed, stall, bad-signature, unknown-status or clock-shift"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// Why the venue could not start.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// The data could not be read or understood.
    #[error(transparent)]
    Data(#[from] ReplayError),
    /// A file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The address is taken or not allowed.
    #[error("cannot listen on {addr}: {msg}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        msg: String,
    },
}

/// A stream subscriber: the stream names it asked for and its outbox.
struct Sub {
    streams: Vec<String>,
    combined: bool,
    tx: SyncSender<Arc<str>>,
}

/// The venue's books and desk, under one lock.
struct State {
    decoder: Decoder,
    books: Vec<Book>,
    desk: Desk,
    /// Candles and aggregate trades made from the recorded trades, per symbol.
    candles: Vec<candles::Candles>,
    /// Made-up messages of the last frame, to publish after it.
    synth: Vec<candles::Synth>,
    /// Someone subscribed to a made-up stream (`@aggTrade`, `@kline_1m`).
    want_synth: bool,
    /// Exchange time of the last event applied, ms.
    now_ms: u64,
}

struct Shared {
    market: Market,
    specs: Vec<SymbolSpec>,
    state: Mutex<State>,
    subs: Mutex<Vec<Sub>>,
    /// User data stream sessions' outboxes.
    users: Mutex<Vec<SyncSender<Arc<str>>>>,
    /// Signed requests so far (faults count them).
    signed: AtomicU64,
    /// The clock shift fault is in effect (from the first signed request on).
    shifted: AtomicBool,
    started: Mutex<bool>,
    /// When the first stream subscriber came: the replay starts at its first REST
    /// snapshot, or a second after it subscribed.
    first_sub: Mutex<Option<Instant>>,
    start: Condvar,
    stop: AtomicBool,
    done: AtomicBool,
    published: AtomicU64,
    exchange_info: Vec<u8>,
    faults: Faults,
    weight_limit: u32,
    /// (Wall-clock minute, weight used in it).
    weight: Mutex<(u64, u32)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves consistent data here (plain counters and books).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running venue.
pub struct Venue {
    addr: SocketAddr,
    shared: Arc<Shared>,
    replay: Option<JoinHandle<()>>,
    accept: Option<JoinHandle<()>>,
}

impl Venue {
    /// Reads the data and starts listening. Cold.
    ///
    /// # Errors
    /// [`VenueError`] for unreadable data or an address that cannot be bound.
    pub fn start(cfg: VenueConfig) -> Result<Self, VenueError> {
        let table = symbol_table(&cfg.files, &cfg.replay)?;
        let specs = table.specs().to_vec();
        let market = specs.first().map_or(Market::Spot, |s| s.market);
        let frames = recorded_frames(&cfg.files)?;
        let exchange_info = match &cfg.replay.exchange_info {
            Some(p) => std::fs::read(p).map_err(|source| {
                VenueError::Input(InputError::Open {
                    path: p.clone(),
                    source,
                })
            })?,
            None => synth_exchange_info(&specs),
        };
        let books = specs
            .iter()
            .map(|s| Book::new(s, &cfg.replay.book))
            .collect();
        let desk = Desk::new(market, &specs, &cfg.keys, &cfg.trading, &exchange_info);
        let candles = specs.iter().map(candles::Candles::new).collect();
        let listener = TcpListener::bind(cfg.addr).map_err(|e| VenueError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        })?;
        let addr = listener.local_addr().map_err(|e| VenueError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            market,
            specs,
            state: Mutex::new(State {
                decoder: Decoder::new(table, DEFAULT_MAX_LEVELS),
                candles,
                books,
                desk,
                synth: Vec::new(),
                want_synth: false,
                now_ms: 0,
            }),
            subs: Mutex::new(Vec::new()),
            users: Mutex::new(Vec::new()),
            signed: AtomicU64::new(0),
            shifted: AtomicBool::new(false),
            started: Mutex::new(false),
            first_sub: Mutex::new(None),
            start: Condvar::new(),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            published: AtomicU64::new(0),
            exchange_info,
            faults: cfg.faults,
            weight_limit: cfg.weight_limit.unwrap_or(if market.is_futures() {
                2_400
            } else {
                6_000
            }),
            weight: Mutex::new((0, 0)),
        });
        let (s1, s2) = (shared.clone(), shared.clone());
        let speed = cfg.speed;
        let replay = std::thread::Builder::new()
            .name("venue-replay".into())
            .spawn(move || replay(&s1, &frames, speed))
            .ok();
        let accept = std::thread::Builder::new()
            .name("venue-accept".into())
            .spawn(move || accept(&s2, listener))
            .ok();
        Ok(Self {
            addr,
            shared,
            replay,
            accept,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stream messages published so far.
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// The account of every symbol (position, wallet, fills).
    pub fn accounts(&self) -> Vec<AccountSummary> {
        lock(&self.shared.state).desk.accounts()
    }

    /// True once the data has been served to the end.
    pub fn finished(&self) -> bool {
        self.shared.done.load(Ordering::Relaxed)
    }

    /// Stops the replay and the listener and waits for both.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.start.notify_all();
        lock(&self.shared.users).clear();
        for h in [self.replay.take(), self.accept.take()]
            .into_iter()
            .flatten()
        {
            let _ = h.join();
        }
    }
}

/// Applies one recorded frame to the venue's books and matching engines.
fn apply(st: &mut State, specs: &[SymbolSpec], frame: &[u8]) {
    let State {
        decoder,
        books,
        desk,
        candles,
        synth,
        want_synth,
        now_ms,
    } = st;
    let r = decoder.decode(frame, 0, &mut |ev| {
        let k = ev.symbol.0 as usize;
        books[k].on_event(ev);
        desk.on_event(k, ev);
        if let crate::core::EventBody::Trade(t) = &ev.body {
            candles[k].on_trade(t, ev.event_ms, *want_synth, synth);
        }
        *now_ms = (*now_ms).max(ev.event_ms);
    });
    if let Ok(Decoded::Snapshot { symbol }) = r {
        // A bare snapshot names no symbol: it is the session's only one.
        let id = symbol
            .map(|s| s.0 as usize)
            .or((specs.len() == 1).then_some(0));
        if let Some(k) = id {
            if let Ok(snap) = parse_snapshot(frame, &specs[k]) {
                books[k].apply_snapshot(&snap);
                desk.on_snapshot(k, &snap);
            }
        }
    }
}

/// `{"stream":"<name>","data":<data>}` → (name, data).
fn envelope(frame: &str) -> Option<(&str, &str)> {
    let rest = frame.strip_prefix("{\"stream\":\"")?;
    let (name, rest) = rest.split_once('"')?;
    let data = rest.strip_prefix(",\"data\":")?.strip_suffix('}')?;
    Some((name, data))
}

/// How long the replay waits, once a subscriber came, for its REST snapshot.
const START_WITHOUT_SNAPSHOT: Duration = Duration::from_secs(1);

fn replay(shared: &Shared, frames: &[(Vec<u8>, u64)], speed: Option<f64>) {
    let mut k = 0;
    {
        // Up to the recorded snapshot and the first diff after it, unpublished: the
        // books are live when the first subscriber arrives.
        let mut st = lock(&shared.state);
        while k < frames.len()
            && !st
                .books
                .iter()
                .all(|b| b.state() == SyncState::Live && b.update_id() > 0)
        {
            apply(&mut st, &shared.specs, &frames[k].0);
            k += 1;
        }
    }
    {
        let mut started = lock(&shared.started);
        while !*started && !shared.stop.load(Ordering::Relaxed) {
            started = shared
                .start
                .wait_timeout(started, Duration::from_millis(20))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
            // A subscriber that takes no snapshot (trades only) waits a second.
            if lock(&shared.first_sub).is_some_and(|t| t.elapsed() >= START_WITHOUT_SNAPSHOT) {
                break;
            }
        }
    }
    let t0 = Instant::now();
    let rec0 = frames.get(k).map_or(0, |f| f.1);
    for (bytes, rec) in &frames[k.min(frames.len())..] {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(speed) = speed {
            let due = Duration::from_nanos((rec.saturating_sub(rec0) as f64 / speed) as u64);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        // Applied before it is published, and the lock released before publishing
        // (a blocked subscriber must not block snapshots): a snapshot may be ahead of
        // the diffs sent so far, never behind them, which is the case Binance's
        // procedure expects (diffs the snapshot covers are dropped).
        let (events, synth) = {
            let mut st = lock(&shared.state);
            apply(&mut st, &shared.specs, bytes);
            let now = server_ms(shared, &st);
            st.desk.absorb_all(now);
            (st.desk.take_events(), std::mem::take(&mut st.synth))
        };
        publish_user(shared, events);
        publish_synth(shared, synth);
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Some((name, data)) = envelope(text) else {
            continue;
        };
        let n = shared.published.fetch_add(1, Ordering::Relaxed) + 1;
        let f = shared.faults;
        let every = |e: Option<u64>| e.is_some_and(|e| n % e == 0);
        if name.contains("@depth") && every(f.skip_depth_every) {
            continue;
        }
        if let Some((n_every, ms)) = f.stall {
            if n % n_every == 0 {
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        let mut subs = lock(&shared.subs);
        if every(f.drop_every) {
            // Dropping the outboxes closes the sessions.
            subs.clear();
        }
        if every(f.malformed_every) {
            let bad: Arc<str> = Arc::from(&text[..text.len() / 2]);
            subs.retain(|s| s.tx.send(bad.clone()).is_ok());
        }
        send(&mut subs, name, Arc::from(text), Arc::from(data));
    }
    shared.done.store(true, Ordering::Relaxed);
    // Dropping the outboxes ends every session with a close frame.
    lock(&shared.subs).clear();
}

fn accept(shared: &Arc<Shared>, listener: TcpListener) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let s = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("venue-conn".into())
                    .spawn(move || connection(&s, stream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The server clock: the replay's exchange time, shifted by the clock fault once the
/// first signed request came (a step the client cannot have synchronised to).
fn server_ms(shared: &Shared, st: &State) -> i64 {
    let shift = if shared.shifted.load(Ordering::Relaxed) {
        shared.faults.clock_shift_ms
    } else {
        0
    };
    st.now_ms as i64 + shift
}

/// A message of stream `name` to its subscribers, combined (`whole`) or raw
/// (`data`); a subscriber gone is forgotten.
fn send(subs: &mut Vec<Sub>, name: &str, whole: Arc<str>, data: Arc<str>) {
    subs.retain(|s| {
        if !s.streams.iter().any(|n| n == name) {
            return true;
        }
        let msg = if s.combined { &whole } else { &data };
        // Blocking: at --speed max the replay goes as fast as its slowest reader.
        s.tx.send(msg.clone()).is_ok()
    });
}

/// Publishes made-up market messages (aggregate trades, klines) to their subscribers.
fn publish_synth(shared: &Shared, synth: Vec<candles::Synth>) {
    if synth.is_empty() {
        return;
    }
    let mut subs = lock(&shared.subs);
    for (name, data) in synth {
        let whole = format!("{{\"stream\":\"{name}\",\"data\":{data}}}");
        send(&mut subs, &name, Arc::from(whole), Arc::from(data));
    }
}

/// Hands user data events to every user stream session; a session whose outbox is
/// full is closed (as Binance drops a client too slow to read), and reconciles.
fn publish_user(shared: &Shared, events: Vec<String>) {
    if events.is_empty() {
        return;
    }
    let mut users = lock(&shared.users);
    for e in events {
        let msg: Arc<str> = Arc::from(e);
        users.retain(|tx| tx.try_send(msg.clone()).is_ok());
    }
}

fn connection(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let mut reader = crate::net::server::Reader::default();
    let mut first = true;
    // Keep-alive: requests are answered in turn until the client closes.
    loop {
        let Some(req) = reader.next(&mut stream) else {
            if first {
                respond(&mut stream, 400, &error_body(-1100, "Illegal request."));
            }
            return;
        };
        if let Some(key) = &req.websocket_key {
            if first {
                session(shared, stream, &req, key);
            }
            return;
        }
        first = false;
        let close = req.close || shared.stop.load(Ordering::Relaxed);
        let (status, headers, body) = answer(shared, &req);
        crate::net::server::respond_with(&mut stream, status, &headers, &body, close);
        if close {
            return;
        }
    }
}

/// One REST request: weight, faults, then the answer.
fn answer(shared: &Shared, req: &Request) -> desk::Answer {
    // Every request spends its weight, as on Binance, refused or not.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let used = {
        let mut w = lock(&shared.weight);
        if w.0 != secs / 60 {
            *w = (secs / 60, 0);
        }
        w.1 = w.1.saturating_add(weight_of(shared.market, req));
        w.1
    };
    let mut headers = vec![("X-MBX-USED-WEIGHT-1M", used.to_string())];
    if used > shared.weight_limit {
        headers.push(("Retry-After", (60 - secs % 60).to_string()));
        let body = error_body(
            -1003,
            &format!(
                "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                shared.weight_limit
            ),
        );
        return (429, headers, body);
    }
    let (status, mut more, body) = rest(shared, req);
    headers.append(&mut more);
    (status, headers, body)
}

/// The streams a WebSocket path asks for, and whether they come combined.
fn streams_of(req: &Request) -> Option<(Vec<String>, bool)> {
    if let Some(one) = req.path.strip_prefix("/ws/") {
        return (!one.is_empty()).then(|| (vec![one.to_string()], false));
    }
    if req.path == "/stream" {
        let list = query_param(&req.query, "streams")?;
        let v: Vec<String> = list
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return (!v.is_empty()).then_some((v, true));
    }
    None
}

fn session(shared: &Shared, mut stream: TcpStream, req: &Request, key: &str) {
    use std::io::Write;
    let Some((streams, combined)) = streams_of(req) else {
        return respond(&mut stream, 404, &error_body(-1000, "Unknown stream path."));
    };
    let user = !combined && lock(&shared.state).desk.is_listen_key(&streams[0]);
    if !user && shared.done.load(Ordering::Relaxed) {
        // The recording is over: nothing will ever be published on a new session
        // (410 Gone, so a client can tell this end from an outage).
        return respond(
            &mut stream,
            410,
            &error_body(-1000, "The data has been served."),
        );
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    // Short reads between messages let the session answer pings and see a close.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(2)));
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
    let (tx, rx): (SyncSender<Arc<str>>, Receiver<Arc<str>>) = sync_channel(4096);
    if user {
        // A user data stream: execution and account events, not market data.
        lock(&shared.users).push(tx);
    } else {
        if streams
            .iter()
            .any(|s| s.ends_with("@aggTrade") || s.ends_with("@kline_1m"))
        {
            lock(&shared.state).want_synth = true;
        }
        lock(&shared.subs).push(Sub {
            streams,
            combined,
            tx,
        });
        lock(&shared.first_sub).get_or_insert_with(Instant::now);
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(msg) => {
                if ws.send(Message::Text(msg.to_string())).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => match ws.read() {
                Ok(Message::Close(_)) => return,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            },
            Err(RecvTimeoutError::Disconnected) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                return;
            }
        }
    }
}

/// A request's weight, as Binance counts it (depth by `limit`).
fn weight_of(market: Market, req: &Request) -> u32 {
    let endpoint = req.path.rsplit('/').next().unwrap_or("");
    let limit = query_param(&req.query, "limit")
        .and_then(|l| l.parse::<u32>().ok())
        .unwrap_or(if market.is_futures() { 500 } else { 100 });
    match (endpoint, market.is_futures()) {
        ("depth", false) => match limit {
            0..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        },
        ("depth", true) => match limit {
            0..=50 => 2,
            51..=100 => 5,
            101..=500 => 10,
            _ => 20,
        },
        ("exchangeInfo", false) => 20,
        ("klines", false) => 2,
        ("klines", true) => match limit {
            0..=99 => 1,
            100..=499 => 2,
            500..=1000 => 5,
            _ => 10,
        },
        ("account", false) => 20,
        ("account" | "positionRisk" | "balance", true) => 5,
        ("openOrders", _) if query_param(&req.query, "symbol").is_none() => {
            if market.is_futures() {
                40
            } else {
                80
            }
        }
        ("openOrders", false) => 6,
        ("order", false) if req.method == "GET" => 4,
        // Futures order placing counts against the order limits, not the weight.
        ("order", true) if req.method != "GET" => 0,
        _ => 1,
    }
}

/// `/api/v3/<endpoint>` or `/fapi/v<n>/<endpoint>` → (version, endpoint).
fn route(futures: bool, path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(if futures { "/fapi/" } else { "/api/" })?;
    rest.split_once('/')
}

/// A REST answer.
fn rest(shared: &Shared, req: &Request) -> desk::Answer {
    let futures = shared.market.is_futures();
    let unknown = || (404, Vec::new(), error_body(-1000, "Unknown path."));
    let Some((version, endpoint)) = route(futures, &req.path) else {
        return unknown();
    };
    if Desk::serves(futures, version, endpoint) {
        return trade(shared, req, endpoint);
    }
    let data_version = if futures { "v1" } else { "v3" };
    if req.method != "GET" || version != data_version {
        return unknown();
    }
    let now_ms = server_ms(shared, &lock(&shared.state));
    let (status, body) = match endpoint {
        "ping" => (200, b"{}".to_vec()),
        "time" => (200, format!("{{\"serverTime\":{now_ms}}}").into_bytes()),
        "exchangeInfo" => (200, shared.exchange_info.clone()),
        "depth" => depth(shared, &req.query),
        "klines" => klines(shared, &req.query),
        _ => return unknown(),
    };
    (status, Vec::new(), body)
}

/// A trading or account request, through the desk (and the faults).
fn trade(shared: &Shared, req: &Request, endpoint: &str) -> desk::Answer {
    let f = shared.faults;
    let signed = !matches!(endpoint, "userDataStream" | "listenKey");
    let n = if signed {
        shared.shifted.store(true, Ordering::Relaxed);
        shared.signed.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        0
    };
    let every = |e: Option<u64>| signed && e.is_some_and(|e| n % e == 0);
    if every(f.bad_signature_every) {
        return (
            400,
            Vec::new(),
            error_body(-1022, "Signature for this request is not valid."),
        );
    }
    let (answer, events) = {
        let mut st = lock(&shared.state);
        let now = server_ms(shared, &st);
        let a = st.desk.handle(req, endpoint, now);
        (a, st.desk.take_events())
    };
    publish_user(shared, events);
    if req.method != "GET" && every(f.unknown_status_every) {
        return (
            503,
            Vec::new(),
            error_body(
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            ),
        );
    }
    answer
}

/// A market-data refusal: status and Binance's error body.
type Refusal = (u16, Vec<u8>);

/// The index of the query's `symbol` among the venue's (-1102 absent, -1121 unknown).
fn symbol_param(shared: &Shared, query: &str) -> Result<usize, Refusal> {
    let symbol = required(query, "symbol")?;
    shared
        .specs
        .iter()
        .position(|s| s.name.as_str() == symbol)
        .ok_or_else(|| (400, error_body(-1121, "Invalid symbol.")))
}

/// A parameter Binance requires (-1102 when absent).
fn required<'a>(query: &'a str, name: &str) -> Result<&'a str, Refusal> {
    query_param(query, name).ok_or_else(|| {
        (
            400,
            error_body(
                -1102,
                &format!(
                    "Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
                ),
            ),
        )
    })
}

/// `limit`: `default` when absent, 1..=`max` (-1100 otherwise).
fn limit_param(query: &str, default: usize, max: usize) -> Result<usize, Refusal> {
    match query_param(query, "limit").map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err((
            400,
            error_body(-1100, "Illegal characters found in parameter 'limit'."),
        )),
    }
}

fn klines(shared: &Shared, query: &str) -> Refusal {
    let checked = || -> Result<(usize, u64, usize), Refusal> {
        let k = symbol_param(shared, query)?;
        let iv = candles::interval_ms(required(query, "interval")?)
            .ok_or_else(|| (400, error_body(-1120, "Invalid interval.")))?;
        let max = if shared.market.is_futures() {
            1500
        } else {
            1000
        };
        Ok((k, iv, limit_param(query, 500, max)?))
    };
    let (k, iv, limit) = match checked() {
        Ok(v) => v,
        Err(r) => return r,
    };
    let time = |name: &str| query_param(query, name).and_then(|v| v.parse::<u64>().ok());
    let st = lock(&shared.state);
    let body = st.candles[k].klines(iv, time("startTime"), time("endTime"), limit);
    (200, body.into_bytes())
}

fn depth(shared: &Shared, query: &str) -> (u16, Vec<u8>) {
    let (default, max) = if shared.market.is_futures() {
        (500, 1000)
    } else {
        (100, 5000)
    };
    let (k, limit) = match symbol_param(shared, query)
        .and_then(|k| Ok((k, limit_param(query, default, max)?)))
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let st = lock(&shared.state);
    let book = &st.books[k];
    if book.state() != SyncState::Live {
        return (503, error_body(-1003, "The book is not available yet."));
    }
    let spec = &shared.specs[k];
    let mut o = format!("{{\"lastUpdateId\":{}", book.update_id());
    if shared.market.is_futures() {
        let _ = write!(o, ",\"E\":{0},\"T\":{0}", st.now_ms);
    }
    for (name, bids) in [("bids", true), ("asks", false)] {
        let _ = write!(o, ",\"{name}\":[");
        let mut n = 0;
        let mut level = |l: crate::core::Level| {
            if n > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "[\"{}\",\"{}\"]",
                spec.price.format(l.price),
                spec.qty.format(l.qty)
            );
            n += 1;
            n < limit
        };
        if bids {
            book.for_each_bid(&mut level);
        } else {
            book.for_each_ask(&mut level);
        }
        o.push(']');
    }
    o.push('}');
    drop(st);
    // The first snapshot a subscriber takes starts the replay: a recording made from
    // here holds every message after it, as the files do.
    if lock(&shared.first_sub).is_some() {
        *lock(&shared.started) = true;
        shared.start.notify_all();
    }
    (200, o.into_bytes())
}

/// The symbols' grids as an exchangeInfo answer, when no file was given.
fn synth_exchange_info(specs: &[SymbolSpec]) -> Vec<u8> {
    let mut o = String::from("{\"timezone\":\"UTC\",\"symbols\":[");
    for (k, s) in specs.iter().enumerate() {
        if k > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"symbol\":\"{}\",\"status\":\"TRADING\",\"filters\":[{{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"0\",\"maxPrice\":\"0\",\"tickSize\":\"{}\"}},{{\"filterType\":\"LOT_SIZE\",\"minQty\":\"{}\",\"maxQty\":\"0\",\"stepSize\":\"{}\"}}]}}",
            s.name,
            s.price.format(s.price.step()),
            s.qty.format(s.min_qty),
            s.qty.format(s.qty.step())
        );
    }
    o.push_str("]}");
    o.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_stream_paths() {
        let f = r#"{"stream":"btcusdt@trade","data":{"e":"trade","p":"1"}}"#;
        assert_eq!(
            envelope(f),
            Some(("btcusdt@trade", r#"{"e":"trade","p":"1"}"#))
        );
        assert_eq!(envelope(r#"{"lastUpdateId":1}"#), None);
        let req = |path: &str, query: &str| Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            websocket_key: Some("k".into()),
            ..Request::default()
        };
        assert_eq!(
            streams_of(&req("/ws/btcusdt@trade", "")),
            Some((vec!["btcusdt@trade".into()], false))
        );
        assert_eq!(
            streams_of(&req("/stream", "streams=a@trade/b@depth")),
            Some((vec!["a@trade".into(), "b@depth".into()], true))
        );
        assert_eq!(streams_of(&req("/stream", "")), None);
        assert_eq!(streams_of(&req("/other", "")), None);
    }
}
