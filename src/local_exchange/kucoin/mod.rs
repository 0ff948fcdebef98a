//! The local exchange speaking KuCoin (`minerva exchange` on KuCoin data, or
//! `--venue kucoin`): recorded KuCoin sessions served the way KuCoin serves live ones
//! (protocol notes §1–§3; what KuCoin's protocol says comes from `venues::kucoin`),
//! so Minerva's KuCoin source — or any KuCoin client — connects to it unchanged,
//! without internet or keys. KuCoin has no sandbox any more: this is the only
//! rehearsal.
//!
//! It serves market data:
//! * `POST /api/v1/bullet-public`: a token and this server as the WebSocket
//!   endpoint, with KuCoin's ping interval and timeout;
//! * the WebSocket session (`/endpoint?token=…&connectId=…`): the welcome,
//!   subscriptions acknowledged (or refused with KuCoin's error codes), pongs, and
//!   the recorded messages of each subscribed topic exactly as KuCoin sent them,
//!   paced by their recorded receive times (`--speed`); a client silent longer than
//!   the ping interval and timeout is closed, as KuCoin does;
//! * REST: `timestamp`, the symbol list (`/api/v2/symbols`, from the grids), and
//!   level-2 snapshots taken from the venue's own book, which applies each update
//!   before publishing it — the full book signed (`/api/v3/market/orderbook/level2`,
//!   checked as KuCoin checks: key, passphrase, timestamp within 5 s, signature) and
//!   the public top 20 and 100.
//!
//! It also serves the unified account's public session on `/` (`uta`: the `obu`
//! book at `increment@10ms` and the `trade` channel, computed from the same books).
//!
//! It trades (its desk, `desk`): the signed HF order endpoints (place, cancel, query,
//! active orders) and the account's balances, matched against the replayed market by
//! the backtest's simulated exchange, with each order change on the private topic
//! `/spotMarket/tradeOrdersV2` (and its first version, `/spotMarket/tradeOrders`) of a
//! session opened with a `bullet-private` token.
//!
//! Futures (linear contracts, on the same server: KuCoin's futures paths do not meet
//! its spot ones): the contract list, `GET /api/v1/level2/snapshot` (and depth 20 /
//! 100) from the venue's book, the `/contractMarket/level2`, `execution` and
//! `tickerV2` topics as recorded, and the futures desk (`desk::futures`: orders with
//! leverage, reduce-only, `closeOrder` and stops; positions; the account overview;
//! private order, stop and position topics).
//!
//! Not served (each answered with a clear refusal, never a made-up success): inverse
//! contracts, cross margin, spot stop orders, margin trading.
//!
//! The replay starts when the first subscriber takes its REST snapshot (or a second
//! after it subscribed); the recording up to its own snapshots is applied first, so
//! the books are live before anyone connects. Threads block (no spinning).

pub mod desk;
mod rest;
mod uta;
mod ws;

use super::StartError;
use super::fanout::Fanout;
use super::faults::{self, Faults};
use super::pace::{Pace, StartGate};
use super::server::{BodyError, Limits, Server, json_answer, read_request};
use crate::book::{Book, SyncState};
use crate::core::SymbolSpec;
use crate::replay::{ReplayOptions, symbol_table};
use crate::store::files::{RecordedMessage, recorded_messages};
use crate::venues::kucoin::keys::KucoinKeys;
use crate::venues::kucoin::sign::Signer;
use crate::venues::{MarketDecoder, Venue, parse_depth_snapshot};
use axum::Router;
use axum::extract::State as Ax;
use axum::response::Response;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// Recorded KuCoin sessions (the formats `minerva replay` reads).
    pub files: Vec<PathBuf>,
    /// Grids, as for a replay.
    pub replay: ReplayOptions,
    /// Replay speed: a multiple of real time, `None` = as fast as subscribers read.
    pub speed: Option<f64>,
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Faults to inject into the streams (`drop`, `skip-depth`, `malformed`,
    /// `stall`), the signed trading requests (`bad-signature`: refused 400005
    /// unexecuted; `unknown-status`: executed, answered 503) and the server clock
    /// (`clock-shift`).
    pub faults: Faults,
    /// The one account's keys: signed requests must carry its key and passphrase and
    /// be signed with its secret.
    pub keys: Arc<KucoinKeys>,
    /// What one client may take (connections, timeouts, sizes).
    pub limits: Limits,
    /// The account and the matching (capital, fees, queue model).
    pub trading: super::TradingConfig,
}

/// KuCoin's session timing as its bullet answer states it (ms).
pub const PING_INTERVAL_MS: u64 = 18_000;
/// How long past a missed ping KuCoin waits before closing (ms).
pub const PING_TIMEOUT_MS: u64 = 10_000;

/// The venue's books, under one lock.
struct State {
    decoder: MarketDecoder,
    books: Vec<Book>,
    /// The trading desk: orders matched against the replayed market.
    desk: desk::Desk,
    /// Exchange time of the last event applied, ms.
    now_ms: u64,
    /// The unified account's `obu` and `trade` publications.
    uta: uta::Feed,
}

struct Shared {
    specs: Vec<SymbolSpec>,
    state: Mutex<State>,
    fanout: Fanout,
    gate: StartGate,
    stop: AtomicBool,
    done: AtomicBool,
    published: AtomicU64,
    /// `obu` deltas published (the `skip-depth` fault counts them too).
    deltas: AtomicU64,
    sessions_open: AtomicUsize,
    /// Tokens handed out, public or private (the newest [`TOKENS_KEPT`]); a session
    /// must bring one, and only a private one may take the account's topics.
    tokens: Mutex<std::collections::VecDeque<(String, bool)>>,
    rng: Mutex<fastrand::Rng>,
    keys: Arc<KucoinKeys>,
    signer: Signer,
    faults: Faults,
    /// The `user-outage` fault: no private session while it holds.
    outage: faults::Outage,
    /// Signed trading requests so far (the order faults count them).
    signed: AtomicU64,
    /// New orders so far (the late-order fault counts them).
    placed: AtomicU64,
    /// The account's request weight pool: its size per 30 s, and (window start,
    /// weight used).
    pool_size: u32,
    pool: Mutex<(std::time::Instant, u32)>,
    max_body: usize,
    /// The address sessions are told to connect to.
    addr: SocketAddr,
}

/// Tokens remembered: more than any test or client opens at once.
const TOKENS_KEPT: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves consistent data here (books, counters, tokens).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running local KuCoin venue.
pub struct LocalKucoin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    replay: Option<JoinHandle<()>>,
    server: Server,
}

impl LocalKucoin {
    /// Reads the data and starts listening. Cold.
    ///
    /// # Errors
    /// [`StartError`] for unreadable data, another venue's or futures data, or an
    /// address that cannot be bound.
    pub fn start(cfg: Config) -> Result<Self, StartError> {
        let table = symbol_table(&cfg.files, &cfg.replay)?;
        if let Some(s) = table.specs().iter().find(|s| s.venue != Venue::Kucoin) {
            return Err(StartError::OtherVenue {
                data: s.venue.name(),
                serves: Venue::Kucoin.name(),
            });
        }
        if table
            .specs()
            .iter()
            .any(|s| s.market.is_futures() && crate::core::Valuer::new(s).is_inverse())
        {
            return Err(StartError::Unsupported(
                "the local KuCoin venue serves spot and linear futures recordings; inverse (coin-margined) contracts are not served (docs/kucoin.md)",
            ));
        }
        let specs = table.specs().to_vec();
        let messages = recorded_messages(&cfg.files)?;
        let books = specs
            .iter()
            .map(|s| Book::new(s, &cfg.replay.book))
            .collect();
        let listen_error = |e: std::io::Error| StartError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        };
        let listener = TcpListener::bind(cfg.addr).map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let mut state = State {
            decoder: MarketDecoder::new(
                Venue::Kucoin,
                table,
                crate::venues::wire::DEFAULT_MAX_LEVELS,
            ),
            desk: desk::Desk::new(&specs, &cfg.trading),
            books,
            now_ms: 0,
            uta: uta::Feed::default(),
        };
        let first = warm_up(&mut state, &specs, &messages);
        state.uta = uta::Feed::new(&state.books);
        let shared = Arc::new(Shared {
            specs,
            state: Mutex::new(state),
            fanout: Fanout::new(cfg.speed.is_none().then_some(SLOW_READER_GRACE)),
            gate: StartGate::default(),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            published: AtomicU64::new(0),
            deltas: AtomicU64::new(0),
            sessions_open: AtomicUsize::new(0),
            tokens: Mutex::new(Default::default()),
            rng: Mutex::new(fastrand::Rng::new()),
            signer: Signer::new(&cfg.keys),
            keys: cfg.keys,
            faults: cfg.faults,
            outage: Default::default(),
            signed: AtomicU64::new(0),
            placed: AtomicU64::new(0),
            pool_size: cfg.trading.weight_per_30s.unwrap_or(rest::SPOT_POOL),
            pool: Mutex::new((std::time::Instant::now(), 0)),
            max_body: cfg.limits.max_body,
            addr,
        });
        let server =
            Server::start(listener, router(shared.clone()), cfg.limits, 2).map_err(listen_error)?;
        let s1 = shared.clone();
        let speed = cfg.speed;
        let replay = std::thread::Builder::new()
            .name("venue-replay".into())
            .spawn(move || replay(&s1, &messages, first, speed))
            .ok();
        Ok(Self {
            addr,
            shared,
            replay,
            server,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it serves where, for the one starting it.
    pub fn banner(&self) -> String {
        let addr = self.addr;
        let futures = self
            .shared
            .specs
            .iter()
            .filter(|s| s.market.is_futures())
            .count();
        let spot = self.shared.specs.len() - futures;
        format!(
            "listening on {addr} as KuCoin: REST http://{addr}/api/… (bullet-public, symbols or contracts, timestamp, level-2 snapshots), WebSocket ws://{addr}/endpoint?token=… (classic) and ws://{addr}/ (unified account: obu, trade); {spot} spot symbol(s), {futures} futures contract(s) (linear); the replay starts with the first subscriber",
        )
    }

    /// Stream messages published so far.
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// True once the data has been served to the end.
    pub fn finished(&self) -> bool {
        self.shared.done.load(Ordering::Relaxed)
    }

    /// Sessions disconnected so far for reading too slowly.
    pub fn slow_sessions(&self) -> u64 {
        self.shared.fanout.kicked()
    }

    /// What a metrics scrape reads (`--metrics`): a closure over the venue's counters,
    /// for the metrics server's thread.
    pub fn facts(
        &self,
    ) -> impl Fn() -> crate::telemetry::prometheus::ExchangeFacts + Send + Sync + 'static {
        use crate::telemetry::prometheus::{ExchangeAccount, ExchangeFacts};
        let sh = self.shared.clone();
        move || ExchangeFacts {
            venue: "kucoin",
            published: sh.published.load(Ordering::Relaxed),
            signed: sh.signed.load(Ordering::Relaxed),
            sessions: sh.sessions_open.load(Ordering::Relaxed),
            slow_sessions: sh.fanout.kicked(),
            finished: sh.done.load(Ordering::Relaxed),
            accounts: sh
                .accounts()
                .into_iter()
                .map(|(symbol, lots, wallet_e8)| {
                    let spec = sh.specs.iter().find(|s| s.name.as_str() == symbol);
                    ExchangeAccount {
                        position: spec.map_or(f64::NAN, |s| s.qty.to_f64(lots)),
                        wallet: wallet_e8 as f64 / 1e8,
                        fills: None,
                        open_orders: None,
                        symbol,
                    }
                })
                .collect(),
        }
    }

    /// Each symbol's position (base lots) and wallet (quote, 10⁻⁸).
    pub fn accounts(&self) -> Vec<(String, crate::core::Lots, i64)> {
        self.shared.accounts()
    }

    /// The final book of each symbol, in the canonical digest (what a client that
    /// kept up must have).
    pub fn digests(&self) -> Vec<(String, String)> {
        let st = lock(&self.shared.state);
        st.books
            .iter()
            .map(|b| (b.spec().name.to_string(), b.digest().sha256))
            .collect()
    }

    /// Stops the replay and the server and waits for both; open sessions end with a
    /// close frame.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.gate.release();
        if let Some(h) = self.replay.take() {
            let _ = h.join();
        }
        self.shared.fanout.close_all();
        let t = Instant::now();
        while self.shared.sessions_open.load(Ordering::Relaxed) > 0
            && t.elapsed() < Duration::from_millis(500)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.server.stop();
    }
}

/// At `--speed max`, how long the replay waits for a slow reader before disconnecting
/// it.
const SLOW_READER_GRACE: Duration = Duration::from_secs(5);

/// Applies one recorded message to the venue's books: a frame through the decoder, a
/// REST snapshot into its symbol's book.
fn apply(st: &mut State, specs: &[SymbolSpec], m: &RecordedMessage) {
    let State {
        decoder,
        books,
        desk,
        now_ms,
        uta,
    } = st;
    if let Some(sym) = &m.snapshot_of {
        let Some(id) = decoder.table().lookup(sym) else {
            return;
        };
        let k = id.0 as usize;
        uta.at(m.recv_ns);
        if let Ok(snap) = parse_depth_snapshot(Venue::Kucoin, &m.json, &specs[k]) {
            books[k].apply_snapshot(&snap);
            desk.on_snapshot(k, &snap);
            uta.on_depth(k);
        }
        return;
    }
    uta.at(m.recv_ns);
    let r = decoder.decode(&m.json, 0, &mut |ev| {
        let k = ev.symbol.0 as usize;
        books[k].on_event(ev);
        desk.on_event(k, ev);
        match ev.body {
            crate::core::EventBody::Depth(_) => uta.on_depth(k),
            crate::core::EventBody::Trade(t) => uta.on_trade(k, t),
            _ => {}
        }
        *now_ms = (*now_ms).max(ev.event_ms);
    });
    // A snapshot carried on the stream (a recording of the unified account's `obu`).
    if let Ok(crate::venues::wire::Decoded::Snapshot { symbol: Some(id) }) = r {
        let k = id.0 as usize;
        if let Ok(snap) = parse_depth_snapshot(Venue::Kucoin, &m.json, &specs[k]) {
            books[k].apply_snapshot(&snap);
            desk.on_snapshot(k, &snap);
            uta.on_depth(k);
        }
    }
}

/// Applies the recording until every book is live, unpublished; the index of the
/// first message to publish.
fn warm_up(st: &mut State, specs: &[SymbolSpec], messages: &[RecordedMessage]) -> usize {
    let mut k = 0;
    while k < messages.len()
        && !st
            .books
            .iter()
            .all(|b| b.state() == SyncState::Live && b.update_id() > 0)
    {
        apply(st, specs, &messages[k]);
        k += 1;
    }
    k
}

fn replay(shared: &Shared, messages: &[RecordedMessage], k: usize, speed: Option<f64>) {
    shared.gate.wait(&shared.stop);
    let pace = Pace::new(messages.get(k).map_or(0, |m| m.recv_ns), speed);
    for m in &messages[k.min(messages.len())..] {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        // The unified account's deltas when their window ends, not with the next
        // message: a quiet stretch does not hold them back.
        let due = lock(&shared.state).uta.due(m.recv_ns);
        if let Some(end) = due {
            pace.wait(end);
            shared.publish(shared.take_deltas());
        }
        pace.wait(m.recv_ns);
        // Applied before it is published, the lock released before publishing: a
        // snapshot may be ahead of the updates sent so far, never behind them (the
        // procedure drops the updates a snapshot covers).
        let (events, pushes) = {
            let mut st = lock(&shared.state);
            let now_ns = rest::wall_ms().saturating_mul(1_000_000);
            apply(&mut st, &shared.specs, m);
            let pushes = st.uta.take_trades(&shared.specs, now_ns);
            st.desk.absorb_all(shared.server_ms() as i64);
            (st.desk.take_events(), pushes)
        };
        shared.publish(events);
        shared.publish(pushes);
        if m.snapshot_of.is_some() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&m.json) else {
            continue;
        };
        let Some(topic) = crate::venues::kucoin::peek::topic(&m.json) else {
            continue;
        };
        let n = shared.published.fetch_add(1, Ordering::Relaxed) + 1;
        let fault = shared.faults.at(n, topic.contains("level2"));
        if fault.skip {
            continue;
        }
        if let Some(ms) = fault.stall_ms {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if fault.drop {
            shared.fanout.close_all();
        }
        if let Some(ms) = fault.user_outage_ms {
            shared.outage.begin(ms);
            shared
                .fanout
                .close_where(|s| s.iter().any(|t| desk::is_private_topic(t)));
        }
        if fault.malformed {
            shared.fanout.broadcast(&ws::msg(faults::half(text)));
        }
        let msg = ws::msg(text.to_string());
        shared.fanout.publish(topic, &msg, &msg);
    }
    // The last window's deltas.
    shared.publish(shared.take_deltas());
    shared.done.store(true, Ordering::Relaxed);
    shared.fanout.close_all();
}

/// Everything the venue serves, on one router: the WebSocket endpoint, then REST.
fn router(shared: Arc<Shared>) -> Router {
    use axum::routing::any;
    Router::new()
        .route("/", any(ws::upgrade_uta))
        .route("/endpoint", any(ws::upgrade))
        .route("/endpoint/", any(ws::upgrade))
        .fallback(rest_request)
        .with_state(shared)
}

/// A REST request: read whole (the server's limits apply), answered by the venue.
async fn rest_request(
    Ax(shared): Ax<Arc<Shared>>,
    parts: axum::http::request::Parts,
    body: axum::body::Body,
) -> Response {
    match read_request(&parts, body, shared.max_body).await {
        Ok(req) => {
            let (status, headers, body) = rest::answer(&shared, &req);
            json_answer(status, headers, body)
        }
        Err(BodyError::TooLarge) => json_answer(
            413,
            Vec::new(),
            rest::refusal("413000", "Request body too large"),
        ),
        Err(BodyError::NotText) => json_answer(
            400,
            Vec::new(),
            rest::refusal("400100", "The body is not UTF-8"),
        ),
    }
}

impl Shared {
    /// The desk's order changes to the sessions on the private topic (the lock is
    /// released before publishing).
    fn publish_private(&self) {
        let events = lock(&self.state).desk.take_events();
        self.publish(events);
    }

    /// The unified account's `obu` deltas due, less those the `skip-depth` fault
    /// leaves out (they count as published: the client sees the gap).
    fn take_deltas(&self) -> Vec<(String, String)> {
        let mut st = lock(&self.state);
        let now_ns = rest::wall_ms().saturating_mul(1_000_000);
        let State {
            uta, books, now_ms, ..
        } = &mut *st;
        let mut pushes = uta.take_deltas(books, *now_ms, now_ns);
        pushes.retain(|_| {
            let n = self.deltas.fetch_add(1, Ordering::Relaxed) + 1;
            !self.faults.skips_depth(n)
        });
        pushes
    }

    /// Messages to their topics' sessions: the desk's order changes, the unified
    /// account's pushes.
    fn publish<T: AsRef<str>>(&self, messages: Vec<(T, String)>) {
        for (topic, e) in messages {
            let m = ws::msg(e);
            self.fanout.publish(topic.as_ref(), &m, &m);
        }
    }

    /// The server clock: this machine's, shifted by the clock fault
    /// (`--fault clock-shift=±MS`: clients must sync to `GET /api/v1/timestamp`).
    fn server_ms(&self) -> u64 {
        rest::wall_ms().saturating_add_signed(self.faults.clock_shift_ms)
    }

    /// A new token, remembered; `private` ones may subscribe to the account's topics.
    fn issue_token(&self, private: bool) -> String {
        let token: String = {
            let mut rng = lock(&self.rng);
            (0..48).map(|_| rng.alphanumeric()).collect()
        };
        let mut t = lock(&self.tokens);
        if t.len() >= TOKENS_KEPT {
            t.pop_front();
        }
        t.push_back((token.clone(), private));
        token
    }

    /// `Some(private)` for a token handed out.
    fn token_known(&self, token: &str) -> Option<bool> {
        lock(&self.tokens)
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, private)| *private)
    }

    /// The account's positions and wallets (tests, the exit summary).
    fn accounts(&self) -> Vec<(String, crate::core::Lots, i64)> {
        lock(&self.state).desk.accounts()
    }
}
