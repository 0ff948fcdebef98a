//! The live feed source: a WebSocket session to Binance's market streams (or
//! `minerva exchange`) feeding the feed stage frame by frame, with the REST snapshot
//! the book needs injected as a frame, as recordings carry it.
//!
//! * On connect: subscribe to the combined streams, then fetch a depth snapshot (the
//!   procedure's order: the socket buffers diffs meanwhile) and hand it over first.
//! * When the book loses sync (a gap), the book stage raises the snapshot request flag
//!   and the next frame is a fresh snapshot.
//! * When the session drops: reconnect with exponential backoff and jitter, and a new
//!   snapshot (the book resyncs through its procedure).
//! * Before Binance's 24 h connection limit (`rotate_after`): a second session is
//!   opened beside the first; its messages are held until one of its depth diffs
//!   continues the update ids the first delivered, then the source switches to it
//!   without a gap and without a snapshot (the book never goes stale); trades both
//!   sessions carry are delivered once (by trade id).
//!
//! Frames are read into one reusable buffer ([`Wire`]), over plain TCP or TLS
//! ([`crate::net::tls`]).

use super::endpoints::{self, Hosts, Rest};
use super::limits;
use super::wire::peek;
use crate::core::Market;
use crate::feed::{Frame, LiveStats, Settled, SnapshotSchedule, Source};
use crate::net::backoff::Backoff;
use crate::net::poll::Quiet;
use crate::net::{http as rest, tls};

use crate::net::ws::{Wire, WireError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where and what to read.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The market streams: `wss://host:port` (TLS), `ws://host:port` or a bare
    /// `host:port` (plain; the local exchange).
    pub host: String,
    /// REST for snapshots (`https://…`), when not `host` (Binance serves streams and
    /// REST from different hosts).
    pub rest: Option<String>,
    /// Spot or futures (the REST paths differ).
    pub market: Market,
    /// The symbol, upper case.
    pub symbol: String,
    /// More symbols read on the same connection (one combined stream), upper case:
    /// their frames name them; their snapshots are fetched in turn.
    pub more_symbols: Vec<String>,
    /// Stream names without the symbol (`depth@100ms`, `trade`).
    pub streams: Vec<String>,
    /// Levels per side of each REST snapshot.
    pub snapshot_limit: u32,
    /// Connection attempts allowed after the first (`None`: forever).
    pub max_reconnects: Option<u32>,
    /// Failed connection attempts in a row before the source gives up (the
    /// watchdog's `reconnects=`; `None`: never); a connection that opens resets it.
    pub max_failures_in_a_row: Option<u32>,
    /// Seed of the backoff jitter and the WebSocket key.
    pub seed: u64,
    /// Replace the session by an overlapping one after this long (Binance closes a
    /// connection at 24 h); `None`: never.
    pub rotate_after: Option<Duration>,
    /// A session silent this long is taken for dead: dropped, reconnected, the book
    /// resynchronised (counted in `stale`); `None`: wait forever.
    pub stale_after: Option<Duration>,
}

impl LiveConfig {
    /// `symbol`'s `streams` from `hosts` (snapshots from its REST server), with
    /// Binance's snapshot depth, reconnecting forever, replacing the session before
    /// the 24 h limit and dropping a session silent for [`STALE_AFTER`].
    pub fn new(hosts: &Hosts, market: Market, symbol: &str, streams: Vec<String>) -> Self {
        Self {
            host: hosts.ws.clone(),
            rest: (hosts.rest != hosts.ws).then(|| hosts.rest.clone()),
            market,
            symbol: symbol.to_ascii_uppercase(),
            more_symbols: Vec::new(),
            streams,
            snapshot_limit: endpoints::snapshot_limit(market),
            max_reconnects: None,
            max_failures_in_a_row: None,
            seed: 0,
            rotate_after: Some(ROTATE_AFTER),
            stale_after: Some(STALE_AFTER),
        }
    }

    /// [`Self::new`] for several symbols on one connection (`symbols[0]` first).
    ///
    /// # Panics
    /// When `symbols` is empty or holds more than 64 (the source keeps a bit per
    /// symbol; the pipeline trades at most as many).
    pub fn for_symbols(
        hosts: &Hosts,
        market: Market,
        symbols: &[String],
        streams: Vec<String>,
    ) -> Self {
        assert!(symbols.len() <= 64, "at most 64 symbols on one connection");
        let mut c = Self::new(hosts, market, &symbols[0], streams);
        c.more_symbols = symbols[1..]
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        c
    }

    /// Every symbol read, the first one first.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.symbol.as_str()).chain(self.more_symbols.iter().map(String::as_str))
    }

    /// Each symbol's grids from the server's exchangeInfo, in [`Self::symbols`]'
    /// order. Cold.
    ///
    /// # Errors
    /// As [`Self::fetch_spec`], for the first symbol that fails.
    pub fn fetch_specs(&self) -> Result<Vec<crate::core::SymbolSpec>, SpecFetchError> {
        self.symbols()
            .map(|sym| {
                let mut one = self.clone();
                one.symbol = sym.to_string();
                one.more_symbols.clear();
                one.fetch_spec()
            })
            .collect()
    }

    /// The REST server snapshots and exchangeInfo come from.
    pub fn rest_host(&self) -> &str {
        self.rest.as_deref().unwrap_or(&self.host)
    }

    /// The server's exchangeInfo answer covering the symbol (spot: the symbol's; futures:
    /// every symbol's, the only form they serve). Cold.
    ///
    /// # Errors
    /// [`rest::RestError`] when the server cannot be reached or refuses.
    pub fn fetch_exchange_info(&self) -> Result<Vec<u8>, rest::RestError> {
        let path = if self.market.is_futures() {
            Rest::ExchangeInfo.on(self.market).to_string()
        } else {
            format!(
                "{}?symbol={}",
                Rest::ExchangeInfo.on(self.market),
                self.symbol
            )
        };
        rest::get(self.rest_host(), &path, Duration::from_secs(5))
    }

    /// The symbol's grids from the server's exchangeInfo. Cold.
    ///
    /// # Errors
    /// [`SpecFetchError`] when the answer cannot be had or does not list the symbol.
    pub fn fetch_spec(&self) -> Result<crate::core::SymbolSpec, SpecFetchError> {
        let body = self.fetch_exchange_info()?;
        let info = super::exchange_info::parse_exchange_info(&body, Some(self.market))
            .map_err(|e| SpecFetchError::Info(self.host.clone(), e.to_string()))?;
        let mut spec = info
            .specs
            .into_iter()
            .find(|s| s.name.as_str() == self.symbol)
            .ok_or_else(|| SpecFetchError::NotListed(self.symbol.clone(), self.host.clone()))?;
        // The book as it is now: levels left off today's tick by a tick change
        // (USD-M CTKUSDT) must not keep the book from going live, so the grid is made
        // as fine as they are written (as the replay does from recorded data). A
        // snapshot that cannot be had leaves the grid as listed.
        let path = format!(
            "{}?symbol={}&limit={}",
            Rest::Depth.on(self.market),
            self.symbol,
            self.snapshot_limit
        );
        if let Ok(snap) = rest::get(self.rest_host(), &path, Duration::from_secs(5)) {
            if let Ok(raw) = super::snapshot::parse_raw_snapshot(&snap) {
                spec.refine_to_levels(raw.bids.iter().chain(&raw.asks))
                    .map_err(|e| SpecFetchError::Info(self.host.clone(), e.to_string()))?;
            }
        }
        Ok(spec)
    }
}

/// Why a symbol's grids could not be read from a server.
#[derive(Debug, thiserror::Error)]
pub enum SpecFetchError {
    /// The request failed.
    #[error(transparent)]
    Rest(#[from] rest::RestError),
    /// The answer is not an exchangeInfo.
    #[error("exchangeInfo from {0}: {1}")]
    Info(String, String),
    /// The symbol is not listed.
    #[error("{0} is not listed by {1}")]
    NotListed(String, String),
}

/// Binance's depth streams speak every 100 ms to 1 s on any listed symbol: half a
/// minute of silence is a dead session, not a quiet market.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// How long the source waits on its sessions' poll at a time: how often a silent
/// session (and the stop flag) is looked at.
const QUIET_READ: Duration = Duration::from_millis(100);

/// Binance closes WebSocket connections after 24 h: switch well before.
pub const ROTATE_AFTER: Duration = Duration::from_secs(23 * 3600 + 30 * 60);

/// A second session opened before the limit, and what it said so far.
struct Rotation {
    wire: Wire,
    held: VecDeque<Vec<u8>>,
    began: Instant,
}

/// A rotation that cannot join the first session in this long is given up (and
/// tried again a minute later).
const ROTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What a combined-stream frame is, for joining two sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A depth diff and its first and last update ids.
    Depth(u64, u64),
    /// A trade and its id.
    Trade(u64),
    Other,
}

fn kind(frame: &[u8]) -> Kind {
    let head = &frame[..frame.len().min(64)];
    let has = |s: &[u8]| head.windows(s.len()).any(|w| w == s);
    if has(b"@depth") {
        match (
            peek::u64_after(frame, b"\"U\":"),
            peek::u64_after(frame, b"\"u\":"),
        ) {
            (Some(a), Some(b)) => Kind::Depth(a, b),
            _ => Kind::Other,
        }
    } else if has(b"@trade") || has(b"@aggTrade") {
        peek::u64_after(frame, b"\"t\":")
            .or_else(|| peek::u64_after(frame, b"\"a\":"))
            .map_or(Kind::Other, Kind::Trade)
    } else {
        Kind::Other
    }
}

/// The live source.
pub struct LiveSource {
    cfg: LiveConfig,
    wire: Option<Wire>,
    snapshot: Vec<u8>,
    /// Which symbols need a snapshot, and when each may be asked again.
    snapshots: SnapshotSchedule,
    /// Set by a watchdog: drop the session, reconnect and resync.
    reconnect: Arc<AtomicBool>,
    /// Failed connection attempts since the last that opened.
    failures_in_a_row: u32,
    stop: Arc<AtomicBool>,
    backoff: Backoff,
    /// Connection attempts so far.
    tries: u64,
    rng: fastrand::Rng,
    stats: Arc<LiveStats>,
    session_start: Instant,
    /// Frames since the session's age was last looked at.
    since_check: u32,
    rotation: Option<Rotation>,
    /// Frames of the new session to deliver after a switch.
    queued: VecDeque<Vec<u8>>,
    out: Vec<u8>,
    /// Last depth update id and trade id delivered (followed while rotating).
    last_depth: u64,
    last_trade: u64,
    /// The poll the sessions are read through, and how long they have been silent.
    quiet: Quiet,
    /// REST for snapshots, kept alive, and the weight the server says is used.
    rest: Option<rest::Client>,
    budget: limits::Budget,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl LiveSource {
    /// Busy-polls the sessions between messages instead of sleeping in the poll
    /// (`--wait feed=spin`): no thread wake-up between a frame's arrival and its
    /// decoding, at the cost of a core. Cold.
    pub fn busy_poll(&mut self, on: bool) {
        self.quiet.set_spin(on);
    }

    /// A source for `cfg`; it connects on the first read. `stop` ends it (SIGINT).
    pub fn new(cfg: LiveConfig, stop: Arc<AtomicBool>) -> Self {
        let seed = cfg.seed;
        let snapshots = SnapshotSchedule::new(cfg.symbols().count(), seed);
        Self {
            cfg,
            wire: None,
            snapshot: Vec::new(),
            snapshots,
            reconnect: Arc::new(AtomicBool::new(false)),
            failures_in_a_row: 0,
            stop,
            backoff: Backoff::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            tries: 0,
            rng: fastrand::Rng::with_seed(seed),
            stats: Arc::new(LiveStats::default()),
            session_start: Instant::now(),
            since_check: 0,
            rotation: None,
            queued: VecDeque::new(),
            out: Vec::new(),
            last_depth: 0,
            last_trade: 0,
            quiet: Quiet::default(),
            rest: None,
            budget: limits::Budget::default(),
        }
    }

    /// Changes when the session is replaced by an overlapping one (tests: seconds
    /// instead of Binance's 24 h).
    pub fn set_rotate_after(&mut self, after: Option<Duration>) {
        self.cfg.rotate_after = after;
    }

    /// Changes how long a silent session is waited for.
    pub fn set_stale_after(&mut self, after: Option<Duration>) {
        self.cfg.stale_after = after;
    }

    /// The counters.
    pub fn stats(&self) -> Arc<LiveStats> {
        self.stats.clone()
    }

    /// The flag the book stage raises when it needs a snapshot (after a gap).
    pub fn snapshot_request(&self) -> Arc<AtomicBool> {
        self.snapshots.request(0)
    }

    /// One such flag per symbol, in [`LiveConfig::symbols`]' order.
    pub fn snapshot_requests(&self) -> Vec<Arc<AtomicBool>> {
        self.snapshots.requests()
    }

    /// A flag that, set, makes the source drop its session, reconnect and resync (the
    /// watchdog's no-operation rule).
    pub fn reconnect_request(&self) -> Arc<AtomicBool> {
        self.reconnect.clone()
    }

    fn path(&self) -> String {
        let one: Vec<String> = self
            .cfg
            .symbols()
            .map(|sym| endpoints::combined_streams(sym, &self.cfg.streams))
            .collect();
        // `/stream?streams=a@x/a@y` per symbol, joined into one list.
        let mut path = one[0].clone();
        for p in &one[1..] {
            path.push('/');
            path.push_str(p.trim_start_matches("/stream?streams="));
        }
        path
    }

    /// A session's wire, handshaken (blocking) and then watched by the poll
    /// (non-blocking from here on). Cold.
    fn open_session(&mut self) -> Result<Wire, WireError> {
        let (host, tls) = rest::endpoint(&self.cfg.host);
        let stream = tls::Conn::connect(host, tls, TIMEOUT)?;
        let seed = self.rng.u64(..);
        let wire = Wire::handshake(stream, host, &self.path(), seed)?;
        self.quiet.watch(wire.stream())?;
        Ok(wire)
    }

    fn connect(&mut self) -> Result<(), WireError> {
        let wire = self.open_session()?;
        self.wire = Some(wire);
        self.quiet.heard();
        bump(&self.stats.connects);
        tracing::info!(host = %self.cfg.host, path = %self.path(), "market stream connected");
        self.snapshots.need_all();
        self.session_start = Instant::now();
        self.rotation = None;
        self.queued.clear();
        Ok(())
    }

    /// Opens a second session beside the first. Cold.
    fn open_rotation(&mut self) -> Result<Rotation, WireError> {
        // Read between the first session's messages, through the same poll.
        let wire = self.open_session()?;
        bump(&self.stats.connects);
        Ok(Rotation {
            wire,
            held: VecDeque::new(),
            began: Instant::now(),
        })
    }

    /// Reads what the second session has, and switches to it when one of its depth
    /// diffs continues the ones delivered. Cold (once a day).
    fn rotate(&mut self) {
        let Some(r) = self.rotation.as_mut() else {
            return;
        };
        for _ in 0..256 {
            match r.wire.read_message() {
                Ok(m) => r.held.push_back(m.to_vec()),
                Err(e) if e.is_quiet() => {
                    break;
                }
                Err(_) => {
                    // The new session failed: keep the old, try again later.
                    self.rotation = None;
                    self.session_start += Duration::from_secs(60);
                    return;
                }
            }
        }
        // The first session delivers the stream in order, so what it delivered of
        // the second's messages is a prefix of them. Switch once that prefix is not
        // empty and the second session has said something after it that the first has
        // not delivered yet: then everything after the prefix is new (nothing published
        // before it subscribed is missing), and its first diff continues the ids.
        // Switching on a prefix alone would deliver again what the first session
        // delivered after the second's last message read so far.
        let (last, last_trade) = (self.last_depth, self.last_trade);
        let mut end = 0;
        let mut news = false;
        for (k, f) in r.held.iter().enumerate() {
            match kind(f) {
                Kind::Depth(_, u) if u <= last => end = k + 1,
                Kind::Trade(t) if t <= last_trade => end = k + 1,
                Kind::Other => {}
                _ => {
                    news = true;
                    break;
                }
            }
        }
        let continues = r.held.iter().skip(end).find_map(|f| match kind(f) {
            Kind::Depth(first, _) => Some(first <= last + 1),
            _ => None,
        });
        if end > 0 && news && last > 0 && continues != Some(false) {
            let r = self.rotation.take().expect("rotating");
            self.queued = r.held.into_iter().skip(end).collect();
            let wire = r.wire;
            if let Some(mut old) = self.wire.replace(wire) {
                old.close();
            }
            self.session_start = Instant::now();
            self.quiet.heard();
            bump(&self.stats.rotations);
            tracing::info!(host = %self.cfg.host, "market stream rotated to a new session without a gap");
        } else if r.began.elapsed() > ROTATION_TIMEOUT {
            let mut r = self.rotation.take().expect("rotating");
            r.wire.close();
            self.session_start += Duration::from_secs(60);
        }
    }

    /// Follows the ids a delivered frame carries (while rotating), and drops a trade
    /// the other session delivered already.
    fn deliverable(&mut self, frame: &[u8]) -> bool {
        match kind(frame) {
            Kind::Depth(_, u) => {
                self.last_depth = self.last_depth.max(u);
                true
            }
            Kind::Trade(t) if t <= self.last_trade => false,
            Kind::Trade(t) => {
                self.last_trade = t;
                true
            }
            Kind::Other => true,
        }
    }

    /// Fetches the snapshot of symbol `k` (in [`LiveConfig::symbols`]' order).
    fn fetch_snapshot(&mut self, k: usize) -> bool {
        let symbol = self.cfg.symbols().nth(k).unwrap_or_default().to_string();
        let path = format!(
            "{}?symbol={}&limit={}",
            Rest::Depth.on(self.cfg.market),
            symbol,
            self.cfg.snapshot_limit
        );
        // Spend the snapshot's weight only if the minute's budget has room: waiting for
        // the next minute beats a 429 (and a ban after repeated ones).
        let cost = limits::depth_weight(self.cfg.market, self.cfg.snapshot_limit);
        let wait = self
            .budget
            .wait(cost, limits::default_weight_limit(self.cfg.market));
        if wait > Duration::ZERO {
            bump(&self.stats.budget_waits);
            tracing::warn!(
                wait_ms = wait.as_millis() as u64,
                "depth snapshot put off: the minute's request weight is spent"
            );
            self.backoff.at_least(wait);
            self.snapshots.at_least(k, wait);
            return false;
        }
        let rest_host = self.cfg.rest_host().to_string();
        let r = self
            .rest
            .get_or_insert_with(|| rest::Client::new(&rest_host, TIMEOUT));
        let answer = r.request("GET", &path, b"", &[]);
        if let Ok(a) = &answer {
            self.budget.note_answer(a);
        }
        let result = answer.and_then(|a| {
            if a.status == 200 {
                Ok(a.body)
            } else {
                Err(rest::RestError::Status {
                    host: rest_host.clone(),
                    path: path.clone(),
                    status: a.status,
                    body: String::from_utf8_lossy(&a.body).into_owned(),
                    retry_after: a.retry_after,
                })
            }
        });
        match result {
            Ok(body) => {
                self.snapshot = body;
                bump(&self.stats.snapshots);
                tracing::info!(symbol = %symbol, limit = self.cfg.snapshot_limit, "depth snapshot fetched");
                true
            }
            Err(e) => {
                bump(&self.stats.failures);
                tracing::warn!(error = %e, "depth snapshot failed");
                // A 429 (or 418) says how long to stay away: never less than that, even
                // after the jitter takes its quarter off.
                if let Some(wait) = e.retry_after() {
                    self.backoff.at_least(wait);
                    self.snapshots.at_least(k, wait);
                }
                false
            }
        }
    }
}

impl Source for LiveSource {
    fn live_stats(&self) -> Option<Arc<LiveStats>> {
        Some(self.stats.clone())
    }

    fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            if let Some(f) = self.queued.pop_front() {
                // After a rotation: what the new session said while joining.
                if !self.deliverable(&f) {
                    continue;
                }
                self.out = f;
                return Some(Frame::now(&self.out));
            }
            if self.stop.load(Ordering::Relaxed) {
                if let Some(w) = self.wire.as_mut() {
                    w.close();
                }
                return None;
            }
            if self.wire.is_none() {
                // Every attempt after the first counts, failed or not.
                let allowed = self
                    .cfg
                    .max_reconnects
                    .is_none_or(|m| self.tries <= m as u64);
                if !allowed {
                    return None;
                }
                self.tries += 1;
                if let Err(e) = self.connect() {
                    bump(&self.stats.failures);
                    self.failures_in_a_row += 1;
                    if self
                        .cfg
                        .max_failures_in_a_row
                        .is_some_and(|m| self.failures_in_a_row > m)
                    {
                        tracing::error!(
                            host = %self.cfg.host,
                            failures = self.failures_in_a_row,
                            "market stream unreachable: giving up"
                        );
                        self.stats.gave_up.store(true, Ordering::Relaxed);
                        return None;
                    }
                    tracing::warn!(host = %self.cfg.host, error = %e, backoff_ms = self.backoff.ms(), "market stream connection failed");
                    if matches!(&e, WireError::Handshake(line) if line.starts_with("HTTP/1.1 410"))
                    {
                        // `minerva exchange` has served its recording to the end.
                        return None;
                    }
                    if !self.backoff.wait(&self.stop) {
                        return None;
                    }
                    continue;
                }
            }
            // Connected: the failures in a row are over.
            self.failures_in_a_row = 0;
            if self.reconnect.swap(false, Ordering::Relaxed) {
                tracing::info!(host = %self.cfg.host, "reconnecting on request (watchdog)");
                if let Some(mut w) = self.wire.take() {
                    w.close();
                }
                continue;
            }
            self.snapshots.take_requests();
            if let Some(k) = self.snapshots.next(Instant::now()) {
                let ok = self.fetch_snapshot(k);
                match self.snapshots.settle(k, ok, Instant::now()) {
                    Settled::Fetched => return Some(Frame::now(&self.snapshot).of_symbol(k)),
                    Settled::ReadOn => {}
                    Settled::BackOff => {
                        if !self.backoff.wait(&self.stop) {
                            return None;
                        }
                        continue;
                    }
                }
            }
            // The session's age, every few thousand frames (a clock read each).
            if let Some(limit) = self.cfg.rotate_after {
                self.since_check += 1;
                if self.rotation.is_none()
                    && self.since_check >= 1024
                    && self.session_start.elapsed() >= limit
                {
                    self.since_check = 0;
                    if !self.cfg.more_symbols.is_empty() {
                        // Joining two sessions follows one symbol's update ids: with
                        // several, the session is replaced and every book resynced.
                        if let Some(mut w) = self.wire.take() {
                            w.close();
                        }
                        tracing::info!(host = %self.cfg.host, "market stream replaced before the 24 h limit; books resync");
                        continue;
                    }
                    match self.open_rotation() {
                        Ok(r) => {
                            self.rotation = Some(r);
                            self.last_depth = 0;
                            self.last_trade = 0;
                        }
                        Err(_) => {
                            bump(&self.stats.failures);
                            self.session_start += Duration::from_secs(60);
                        }
                    }
                }
            }
            if self.rotation.is_some() {
                self.rotate();
                if !self.queued.is_empty() {
                    continue;
                }
            }
            let rotating = self.rotation.is_some();
            let wire = self.wire.as_mut()?;
            match wire.read_message() {
                Ok(m) => {
                    self.backoff.reset();
                    self.quiet.heard();
                    if rotating {
                        let m = m.to_vec();
                        if !self.deliverable(&m) {
                            continue;
                        }
                    }
                    break;
                }
                Err(e) if e.is_quiet() => {
                    // Everything the sessions had is read: wait for more (or a stop).
                    let silent = self.quiet.wait(QUIET_READ);
                    if self.cfg.stale_after.is_some_and(|limit| silent >= limit) {
                        // Connected but silent: the book is going stale. Start over.
                        self.quiet.heard();
                        if let Some(mut w) = self.wire.take() {
                            w.close();
                        }
                        bump(&self.stats.stale);
                        tracing::warn!(
                            silent_ms = silent.as_millis() as u64,
                            "market stream silent: reconnecting and resynchronising"
                        );
                    }
                }
                Err(WireError::Served) => {
                    // `minerva exchange` has served its recording to the end.
                    self.wire = None;
                    tracing::info!("market stream: the venue has served its data");
                    return None;
                }
                Err(e) => {
                    self.wire = None;
                    bump(&self.stats.drops);
                    tracing::warn!(error = %e, "market stream dropped: reconnecting");
                }
            }
        }
        // The message just read, still in the session's buffer.
        let wire = self.wire.as_mut()?;
        Some(Frame::now(wire.message()))
    }
}
