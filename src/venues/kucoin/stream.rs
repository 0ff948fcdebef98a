//! The live KuCoin feed source: KuCoin's public WebSocket session (protocol notes §2,
//! §3) feeding the feed stage frame by frame, with the REST level-2 snapshot the book
//! needs injected as a frame, as recordings carry it.
//!
//! * On connect: a token from `POST /api/v1/bullet-public` (a new one every time: a
//!   token lives 24 h), the WebSocket on the server it names with a `connectId`, the
//!   welcome awaited, then the symbol's level-2, match and ticker topics subscribed;
//!   then the snapshot (KuCoin's procedure: the socket buffers updates meanwhile),
//!   handed over first — the full book signed when keys are set, else the public top
//!   100 (the book then knows the levels those and later updates touched).
//! * A ping every ping interval the server stated; a pong not back within its ping
//!   timeout, an error frame for an expired token, a drop or a silent session: the
//!   session is dropped and opened again (new token) with backoff and jitter, and a new
//!   snapshot (the book resyncs through its procedure). A gap the book sees raises the
//!   snapshot request flag: the next frame is a fresh snapshot.
//! * A refused subscription (unknown symbol: 404) ends the source with the reason.
//!
//! Welcome, ack and pong frames stay here; market messages go on as received.

use super::endpoints::{self, Rest};
use super::keys::KucoinKeys;
use super::session::{self, Control, OpenError};
use super::sign::{self, Signer};
use crate::core::{Market, SymbolSpec};
use crate::feed::{Frame, LiveStats, Settled, SnapshotSchedule, Source};
use crate::net::backoff::Backoff;
use crate::net::http as rest;
use crate::net::poll::Quiet;
use crate::net::ws::{Wire, WireError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where and what to read.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// KuCoin's REST server (`https://api.kucoin.com:443`, or the local venue's
    /// `http://127.0.0.1:port`): bullet tokens, the symbol list and snapshots come
    /// from it; the WebSocket server is the one each token names.
    pub rest: String,
    /// Spot or futures (paths and topics differ).
    pub market: Market,
    /// The symbol (`BTC-USDT`).
    pub symbol: String,
    /// More symbols read on the same session (their topics subscribed beside the
    /// first's: level 2, or `obu` and `trade` per symbol), upper case.
    pub more_symbols: Vec<String>,
    /// Keys to sign the full-depth snapshot with; `None`: the public top 100.
    pub keys: Option<Arc<KucoinKeys>>,
    /// Connection attempts allowed after the first (`None`: forever).
    pub max_reconnects: Option<u32>,
    /// Failed connection attempts in a row before the source gives up (`None`: never).
    pub max_failures_in_a_row: Option<u32>,
    /// Seed of the backoff jitter, the WebSocket key and the connection ids.
    pub seed: u64,
    /// A session silent this long is taken for dead (`None`: wait forever).
    pub stale_after: Option<Duration>,
    /// The unified account's public WebSocket to read the book from (`obu`, §5) and
    /// the trades (`trade`), instead of the classic level-2 topics: its URL
    /// (`endpoints::uta_public_url`, or the local venue's `ws://host/`). The book's
    /// snapshot then comes on the stream (the top 500 levels); a gap reopens the
    /// session for a new one. `None`: the classic session.
    pub uta: Option<String>,
}

/// KuCoin's level-2 updates come many times a second on a listed symbol; its
/// tickers every 100 ms: half a minute of silence is a dead session.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

impl FeedConfig {
    /// `symbol` on `rest`, without keys (the public snapshot), reconnecting forever.
    pub fn new(rest: &str, market: Market, symbol: &str) -> Self {
        Self {
            rest: rest.trim_end_matches('/').to_string(),
            market,
            symbol: symbol.to_ascii_uppercase(),
            more_symbols: Vec::new(),
            keys: None,
            max_reconnects: None,
            max_failures_in_a_row: None,
            seed: 0,
            stale_after: Some(STALE_AFTER),
            uta: None,
        }
    }

    /// Every symbol read, the first one first.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.symbol.as_str()).chain(self.more_symbols.iter().map(String::as_str))
    }

    /// Each symbol's grids, in [`Self::symbols`]' order. Cold.
    ///
    /// # Errors
    /// As [`Self::fetch_spec`], for the first symbol that fails.
    pub fn fetch_specs(&self) -> Result<Vec<SymbolSpec>, SpecError> {
        self.symbols()
            .map(|sym| {
                let mut one = self.clone();
                one.symbol = sym.to_string();
                one.more_symbols.clear();
                one.fetch_spec()
            })
            .collect()
    }

    /// The server's symbol list (spot) or contract list (futures), as answered. Cold.
    ///
    /// # Errors
    /// [`rest::RestError`] when the server cannot be reached or refuses.
    pub fn fetch_symbol_list(&self) -> Result<Vec<u8>, rest::RestError> {
        let path = if self.market.is_futures() {
            Rest::Contracts.path()
        } else {
            Rest::Symbols.path()
        };
        rest::get(&self.rest, path, TIMEOUT)
    }

    /// The symbol's grids from the server's symbol list (spot) or contract list
    /// (futures). Cold.
    ///
    /// # Errors
    /// [`SpecError`] when the list cannot be had or does not list the symbol.
    pub fn fetch_spec(&self) -> Result<SymbolSpec, SpecError> {
        let body = self.fetch_symbol_list()?;
        let specs = if self.market.is_futures() {
            super::contracts::parse_contracts(&body)
                .map(|c| c.specs)
                .map_err(|e| SpecError::List(self.rest.clone(), e.to_string()))?
        } else {
            super::symbols::parse_symbols(&body)
                .map(|s| s.specs)
                .map_err(|e| SpecError::List(self.rest.clone(), e.to_string()))?
        };
        let mut spec = specs
            .into_iter()
            .find(|s| s.name.as_str() == self.symbol)
            .ok_or_else(|| SpecError::NotListed(self.symbol.clone(), self.rest.clone()))?;
        if !self.market.is_futures() {
            // KuCoin's books quote sizes finer than the lot (BCHSV-USDT: 11 places, lot
            // 8): the grid is made as fine as the snapshot the book will start from,
            // as a replay infers it from its data. A finer size later is a decode
            // error, counted.
            let mut client = rest::Client::new(&self.rest, TIMEOUT);
            let signer = self.keys.as_deref().map(Signer::new);
            let offset = match &signer {
                Some(_) => clock_offset(&mut client).unwrap_or(0),
                None => 0,
            };
            let answer = self.get_snapshot(&self.symbol, &mut client, signer.as_ref(), offset)?;
            if let Ok(raw) = super::snapshot::parse_raw_snapshot(&answer.body) {
                spec.refine_to_levels(raw.bids.iter().chain(&raw.asks))
                    .map_err(|e| SpecError::List(self.rest.clone(), e.to_string()))?;
            }
        }
        Ok(spec)
    }

    /// `symbol`'s level-2 snapshot answer, signed when `signer` is given (the full
    /// book), else the public top 100 (spot; futures' full snapshot is public).
    fn get_snapshot(
        &self,
        symbol: &str,
        client: &mut rest::Client,
        signer: Option<&Signer>,
        offset_ms: i64,
    ) -> Result<rest::Response, rest::RestError> {
        let path = endpoints::snapshot_path(self.market, symbol, signer.is_some());
        let headers = match (signer, &self.keys) {
            (Some(s), Some(k)) => {
                let ts = wall_ms().saturating_add_signed(offset_ms);
                sign::headers(s, k, ts, "GET", &path, b"").to_vec()
            }
            _ => Vec::new(),
        };
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        client.request("GET", &path, b"", &refs)
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// KuCoin's clock less this machine's, ms (`GET /api/v1/timestamp`, taken at the
/// middle of the round trip): signed requests carry KuCoin's time, since KuCoin
/// refuses one more than 5 s off (400002). `None` when the answer cannot be had.
fn clock_offset(client: &mut rest::Client) -> Option<i64> {
    let before = wall_ms();
    let a = client.request("GET", "/api/v1/timestamp", b"", &[]).ok()?;
    let after = wall_ms();
    let server = super::peek::timestamp_answer(&a.body)?;
    Some(server as i64 - ((before + after) / 2) as i64)
}

/// Why a symbol's grids could not be read from KuCoin.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The request failed.
    #[error(transparent)]
    Rest(#[from] rest::RestError),
    /// The answer is not a symbol or contract list.
    #[error("symbol list from {0}: {1}")]
    List(String, String),
    /// The symbol is not listed.
    #[error("{0} is not listed by {1}")]
    NotListed(String, String),
}

/// How long the source waits on its poll at a time: how often a silent session (the
/// stop flag, the next ping) is looked at.
const QUIET_READ: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_secs(5);

/// The session open now.
struct Session {
    wire: Wire,
    ping_every: Duration,
    pong_within: Duration,
    next_ping: Instant,
    /// A ping sent and not answered yet: when.
    ping_out: Option<Instant>,
}

/// The live KuCoin source.
pub struct KucoinSource {
    cfg: FeedConfig,
    session: Option<Session>,
    signer: Option<Signer>,
    snapshot: Vec<u8>,
    /// Which symbols need a snapshot, and when each may be asked again.
    snapshots: SnapshotSchedule,
    reconnect: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    failures_in_a_row: u32,
    tries: u64,
    backoff: Backoff,
    rng: fastrand::Rng,
    stats: Arc<LiveStats>,
    /// The poll the session is read through, and how long it has been silent.
    quiet: Quiet,
    /// Ids of the requests sent (pings, subscriptions).
    next_id: u64,
    /// KuCoin's clock less ours, ms (read at each connection when signing).
    offset_ms: i64,
    /// Market messages that came before the subscriptions' acks: after the snapshot.
    held: std::collections::VecDeque<Vec<u8>>,
    out: Vec<u8>,
    rest: Option<rest::Client>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl KucoinSource {
    /// Busy-polls the sessions between messages instead of sleeping in the poll
    /// (`--wait feed=spin`): no thread wake-up between a frame's arrival and its
    /// decoding, at the cost of a core. Cold.
    pub fn busy_poll(&mut self, on: bool) {
        self.quiet.set_spin(on);
    }

    /// A source for `cfg`; it connects on the first read. `stop` ends it (SIGINT).
    pub fn new(cfg: FeedConfig, stop: Arc<AtomicBool>) -> Self {
        let seed = cfg.seed;
        let mut snapshots = SnapshotSchedule::new(cfg.symbols().count(), seed);
        snapshots.need_all();
        Self {
            signer: cfg.keys.as_deref().map(Signer::new),
            cfg,
            session: None,
            snapshot: Vec::new(),
            snapshots,
            reconnect: Arc::new(AtomicBool::new(false)),
            stop,
            failures_in_a_row: 0,
            tries: 0,
            backoff: Backoff::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            rng: fastrand::Rng::with_seed(seed),
            stats: Arc::new(LiveStats::default()),
            quiet: Quiet::default(),
            next_id: 1,
            offset_ms: 0,
            held: Default::default(),
            out: Vec::new(),
            rest: None,
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<LiveStats> {
        self.stats.clone()
    }

    /// The flag the book stage raises when it needs a snapshot (after a gap).
    pub fn snapshot_request(&self) -> Arc<AtomicBool> {
        self.snapshots.request(0)
    }

    /// One such flag per symbol, in [`FeedConfig::symbols`]' order.
    pub fn snapshot_requests(&self) -> Vec<Arc<AtomicBool>> {
        self.snapshots.requests()
    }

    /// A flag that, set, makes the source drop its session, reconnect and resync.
    pub fn reconnect_request(&self) -> Arc<AtomicBool> {
        self.reconnect.clone()
    }

    fn rest(&mut self) -> &mut rest::Client {
        let host = self.cfg.rest.clone();
        self.rest
            .get_or_insert_with(|| rest::Client::new(&host, TIMEOUT))
    }

    /// The unified account's session: WebSocket, welcome, the book and trade
    /// subscriptions (the book's snapshot follows on the stream). Cold.
    fn connect_uta(&mut self, url: &str) -> Result<(), OpenError> {
        let market = self.cfg.market;
        let symbols: Vec<String> = self.cfg.symbols().map(str::to_string).collect();
        let mut requests = Vec::with_capacity(2 * symbols.len());
        // A subscription names one symbol (KuCoin refuses a list): two per symbol.
        for symbol in &symbols {
            for (channel, depth) in [
                (endpoints::OBU_CHANNEL, Some(endpoints::OBU_DEPTH)),
                (endpoints::TRADE_CHANNEL, None),
            ] {
                self.next_id += 1;
                requests.push(session::Request {
                    id: self.next_id,
                    what: format!("{channel} {symbol}"),
                    frame: session::uta_subscribe(self.next_id, channel, market, symbol, depth),
                });
            }
        }
        let opened = session::open_uta(url, requests, &mut self.rng)?;
        // The subscription brings a fresh snapshot: a gap seen on the last session's
        // frames asks for nothing more.
        self.snapshots.take_requests();
        self.snapshots.clear();
        self.held = opened.held.into();
        self.quiet
            .watch(opened.wire.stream())
            .map_err(WireError::Io)?;
        bump(&self.stats.connects);
        // Each symbol's subscription brings its book's snapshot.
        self.stats
            .snapshots
            .fetch_add(symbols.len() as u64, Ordering::Relaxed);
        tracing::info!(ws = %opened.host, symbols = %symbols.join(","), "KuCoin unified-account stream connected (obu, trade)");
        self.session = Some(Session {
            wire: opened.wire,
            ping_every: Duration::from_millis(session::PING_INTERVAL_MS),
            pong_within: Duration::from_millis(session::PING_TIMEOUT_MS),
            next_ping: Instant::now() + Duration::from_millis(session::PING_INTERVAL_MS),
            ping_out: None,
        });
        self.snapshots.clear();
        self.quiet.heard();
        Ok(())
    }

    /// Token, WebSocket, welcome, subscriptions. Cold.
    fn connect(&mut self) -> Result<(), OpenError> {
        if let Some(url) = self.cfg.uta.clone() {
            return self.connect_uta(&url);
        }
        let a = self.rest().request(
            "POST",
            Rest::BulletPublic.path(),
            b"",
            &[("Content-Type", "application/json")],
        )?;
        let bullet = session::parse_bullet(&a.body)?;
        if self.signer.is_some() {
            // Cold, once per connection: the signed snapshot carries KuCoin's time.
            if let Some(off) = clock_offset(self.rest()) {
                if off.abs() > 1_000 {
                    tracing::warn!(
                        offset_ms = off,
                        "this machine's clock is off KuCoin's: signing with KuCoin's"
                    );
                }
                self.offset_ms = off;
            }
        }
        let topics: Vec<String> = self
            .cfg
            .symbols()
            .flat_map(|sym| endpoints::topics(self.cfg.market, sym))
            .collect();
        let opened = session::open(
            &bullet,
            topics.iter().map(|t| (t.as_str(), false)),
            &mut self.rng,
            &mut self.next_id,
        )?;
        let (wire, host) = (opened.wire, opened.host);
        // The snapshot comes after the subscriptions are in force (KuCoin's
        // procedure): market messages that arrived meanwhile are delivered after it.
        self.held = opened.held.into();
        self.quiet.watch(wire.stream()).map_err(WireError::Io)?;
        bump(&self.stats.connects);
        tracing::info!(rest = %self.cfg.rest, ws = %host, symbol = %self.cfg.symbol, "KuCoin market stream connected");
        self.session = Some(Session {
            wire,
            ping_every: bullet.ping_interval,
            pong_within: bullet.ping_timeout,
            next_ping: Instant::now() + bullet.ping_interval,
            ping_out: None,
        });
        self.snapshots.need_all();
        self.quiet.heard();
        Ok(())
    }

    fn drop_session(&mut self) {
        self.held.clear();
        if let Some(mut s) = self.session.take() {
            s.wire.close();
        }
    }

    /// The level-2 snapshot, signed when keys are set. A refused signature falls back
    /// to the public top 100 (logged once), so wrong keys cost depth, not the feed.
    fn fetch_snapshot(&mut self, k: usize) -> bool {
        let symbol = self.cfg.symbols().nth(k).unwrap_or_default().to_string();
        let signed = self.signer.is_some();
        let host = self.cfg.rest.clone();
        let client = self
            .rest
            .get_or_insert_with(|| rest::Client::new(&host, TIMEOUT));
        let answer = self
            .cfg
            .get_snapshot(&symbol, client, self.signer.as_ref(), self.offset_ms);
        match answer {
            Ok(a) if a.status == 200 && answered_ok(&a.body) => {
                self.snapshot = a.body;
                bump(&self.stats.snapshots);
                tracing::info!(symbol = %symbol, signed, "KuCoin level-2 snapshot fetched");
                true
            }
            Ok(a) => {
                bump(&self.stats.failures);
                let body = String::from_utf8_lossy(&a.body[..a.body.len().min(300)]).into_owned();
                if signed && (a.status == 401 || body.contains("\"4000")) {
                    tracing::error!(status = a.status, answer = %body, "KuCoin refused the signed snapshot (check MINERVA_KUCOIN_API_KEY/_SECRET/_PASSPHRASE): using the public top 100");
                    self.signer = None;
                    return false;
                }
                // Over the rate limit: KuCoin says when the window resets (ms).
                if a.status == 429 {
                    if let Some(ms) = a
                        .header("gw-ratelimit-reset")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    {
                        self.backoff.at_least(Duration::from_millis(ms));
                        self.snapshots.at_least(k, Duration::from_millis(ms));
                    }
                }
                tracing::warn!(status = a.status, answer = %body, "KuCoin level-2 snapshot refused");
                false
            }
            Err(e) => {
                bump(&self.stats.failures);
                self.rest = None;
                tracing::warn!(error = %e, "KuCoin level-2 snapshot failed");
                false
            }
        }
    }

    /// Pings when due; false when the server stopped answering (the session is
    /// dropped).
    fn keep_alive(&mut self) -> bool {
        let now = Instant::now();
        let id = self.next_id + 1;
        let Some(s) = self.session.as_mut() else {
            return false;
        };
        if let Some(sent) = s.ping_out {
            if now.duration_since(sent) > s.pong_within {
                tracing::warn!(
                    "KuCoin market stream: no pong within the ping timeout; reconnecting"
                );
                bump(&self.stats.drops);
                self.drop_session();
                return false;
            }
        }
        if now >= s.next_ping {
            s.next_ping = now + s.ping_every;
            if s.ping_out.is_none() {
                s.ping_out = Some(now);
            }
            self.next_id = id;
            if s.wire.send_text(session::ping(id).as_bytes()).is_err() {
                bump(&self.stats.drops);
                self.drop_session();
                return false;
            }
        }
        true
    }

    /// A control frame: what it means for the session.
    fn handled(&mut self, frame: &[u8]) -> Handled {
        match session::control(frame) {
            Control::Pong(_) => {
                if let Some(s) = self.session.as_mut() {
                    s.ping_out = None;
                }
                Handled::Kept
            }
            Control::Welcome(_) | Control::Ack(_) => Handled::Kept,
            Control::Error { code, text, .. } if code == 404 => {
                tracing::error!(symbol = %self.cfg.symbol, code, text = %text, "KuCoin refused a subscription: is the symbol listed?");
                Handled::GiveUp
            }
            Control::Error { code, text, .. } => {
                tracing::warn!(code, text = %text, "KuCoin session error: reconnecting");
                Handled::Reconnect
            }
            Control::Other => Handled::Deliver,
        }
    }
}

/// KuCoin answers errors with HTTP 200 too: success is `"code":"200000"` (§9).
fn answered_ok(body: &[u8]) -> bool {
    const OK: &[u8] = br#""code":"200000""#;
    body.windows(OK.len()).any(|w| w == OK)
}

/// Market messages carry `"type":"message"` (classic) or a channel in `"T"` (unified
/// pushes); control frames (welcome, ack, pong, error, a subscription's result) are
/// short and carry neither. KuCoin writes `type` first and `T` first (and recorders
/// that re-serialise, last): fixed-size compares settle almost every frame; only a
/// short frame is searched.
#[inline]
fn is_control(frame: &[u8]) -> bool {
    const HEAD: &[u8] = br#"{"type":"message""#;
    const TAIL: &[u8] = br#""type":"message"}"#;
    const PUSH: &[u8] = br#""T":""#;
    if frame.starts_with(HEAD)
        || frame.ends_with(TAIL)
        || frame.get(1..).is_some_and(|f| f.starts_with(PUSH))
        || frame.len() > 256
    {
        return false;
    }
    // A subscription's result (`{"id","result":false,"message":…}`) is control too.
    let has = |k: &[u8]| frame.windows(k.len()).any(|w| w == k);
    (has(br#""result":"#) || !has(b"\"message\"")) && !has(PUSH)
}

enum Handled {
    Deliver,
    Kept,
    Reconnect,
    GiveUp,
}

impl Source for KucoinSource {
    fn live_stats(&self) -> Option<Arc<LiveStats>> {
        Some(self.stats.clone())
    }

    fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.drop_session();
                return None;
            }
            if self.session.is_none() {
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
                    if let OpenError::Subscription(why) = &e {
                        tracing::error!(symbol = %self.cfg.symbol, "{why}: is the symbol listed?");
                        self.stats.gave_up.store(true, Ordering::Relaxed);
                        self.drop_session();
                        return None;
                    }
                    self.failures_in_a_row += 1;
                    self.rest = None;
                    if self
                        .cfg
                        .max_failures_in_a_row
                        .is_some_and(|m| self.failures_in_a_row > m)
                    {
                        tracing::error!(rest = %self.cfg.rest, failures = self.failures_in_a_row, "KuCoin market stream unreachable: giving up");
                        self.stats.gave_up.store(true, Ordering::Relaxed);
                        return None;
                    }
                    tracing::warn!(rest = %self.cfg.rest, error = %e, backoff_ms = self.backoff.ms(), "KuCoin market stream connection failed");
                    if matches!(&e, OpenError::Wire(WireError::Handshake(line)) if line.starts_with("HTTP/1.1 410"))
                    {
                        // The local venue has served its recording to the end.
                        return None;
                    }
                    if !self.backoff.wait(&self.stop) {
                        return None;
                    }
                    continue;
                }
            }
            self.failures_in_a_row = 0;
            if self.reconnect.swap(false, Ordering::Relaxed) {
                tracing::info!("KuCoin market stream: reconnecting on request (watchdog)");
                self.drop_session();
                continue;
            }
            if self.snapshots.take_requests() && self.cfg.uta.is_some() {
                // The unified session sends a snapshot only on subscribe.
                tracing::info!("KuCoin obu book: a gap; reopening the session for a new snapshot");
                self.drop_session();
                continue;
            }
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
            if let Some(f) = self.held.pop_front() {
                self.out = f;
                return Some(Frame::now(&self.out));
            }
            if !self.keep_alive() {
                continue;
            }
            let s = self.session.as_mut()?;
            match s.wire.read_message() {
                Ok(m) => {
                    self.quiet.heard();
                    self.backoff.reset();
                    if !is_control(m) {
                        break;
                    }
                    if m.windows(6).any(|w| w == b"\"pong\"") {
                        // The answer to our ping, read in place.
                        if let Some(s) = self.session.as_mut() {
                            s.ping_out = None;
                        }
                        continue;
                    }
                    // Other control frames (rare, short): copied to be read.
                    let f = m.to_vec();
                    match self.handled(&f) {
                        Handled::Deliver => break,
                        Handled::Kept => continue,
                        Handled::Reconnect => {
                            bump(&self.stats.drops);
                            self.drop_session();
                            continue;
                        }
                        Handled::GiveUp => {
                            self.stats.gave_up.store(true, Ordering::Relaxed);
                            self.drop_session();
                            return None;
                        }
                    }
                }
                Err(e) if e.is_quiet() => {
                    // Everything the session had is read: wait for more (or a stop, or
                    // the next ping's time).
                    let silent = self.quiet.wait(QUIET_READ);
                    if self.cfg.stale_after.is_some_and(|limit| silent >= limit) {
                        self.quiet.heard();
                        self.drop_session();
                        bump(&self.stats.stale);
                        tracing::warn!(
                            silent_ms = silent.as_millis() as u64,
                            "KuCoin market stream silent: reconnecting and resynchronising"
                        );
                    }
                }
                Err(WireError::Served) => {
                    // The local venue has served its recording to the end.
                    self.session = None;
                    tracing::info!("KuCoin market stream: the venue has served its data");
                    return None;
                }
                Err(e) => {
                    self.session = None;
                    bump(&self.stats.drops);
                    tracing::warn!(error = %e, "KuCoin market stream dropped: reconnecting");
                }
            }
        }
        // The message just read, still in the session's buffer.
        let s = self.session.as_ref()?;
        Some(Frame::now(s.wire.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_are_told_from_market_messages() {
        assert!(is_control(br#"{"id":"1","type":"welcome"}"#));
        assert!(is_control(br#"{"id":"7","type":"pong","timestamp":1}"#));
        assert!(!is_control(
            br#"{"type":"message","topic":"/market/match:A-B","data":{}}"#
        ));
        assert!(!is_control(
            br#"{"data":{},"topic":"/market/match:A-B","type":"message"}"#
        ));
        assert!(!is_control(
            br#"{"topic":"/market/match:A-B","type":"message","data":{}}"#
        ));
        // Unified pushes, whatever their keys' order; their control frames.
        assert!(!is_control(br#"{"T":"trade.SPOT","P":1,"d":{"s":"A-B"}}"#));
        assert!(!is_control(br#"{"P":1,"T":"trade.SPOT","d":{"s":"A-B"}}"#));
        assert!(is_control(br#"{"id":"3","result":true}"#));
        assert!(is_control(
            br#"{"id":"3","result":false,"message":"no such symbol"}"#
        ));
    }

    #[test]
    fn urls_split_into_host_tls_and_path() {
        assert_eq!(
            session::split_url("wss://ws-api-spot.kucoin.com/?token=t&connectId=c"),
            (
                "ws-api-spot.kucoin.com:443".into(),
                true,
                "/?token=t&connectId=c".into()
            )
        );
        assert_eq!(
            session::split_url("ws://127.0.0.1:9555/endpoint?token=t&connectId=c"),
            (
                "127.0.0.1:9555".into(),
                false,
                "/endpoint?token=t&connectId=c".into()
            )
        );
        assert_eq!(
            session::split_url("wss://host?token=t"),
            ("host:443".into(), true, "/?token=t".into())
        );
    }
}
