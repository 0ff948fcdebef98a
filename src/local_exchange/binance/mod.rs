//! The local exchange speaking Binance (`minerva exchange`): recorded sessions served
//! the way Binance serves live ones, so clients (Minerva's own, or third-party Binance
//! libraries) connect to it unchanged, without internet or keys. What Binance's
//! protocol says — paths, parameters, signing, answers, events, codes, weights — comes
//! from `venues::binance`; this module puts it to work on the recording.
//!
//! It serves market data:
//! * WebSocket market streams, raw and combined (`venues::binance::endpoints::
//!   stream_request`): the recorded messages, exactly as Binance sent them, paced by
//!   their recorded receive times (`--speed`);
//! * REST: `ping`, `time` (the replay's exchange time), `exchangeInfo` (the file
//!   given, or the symbols' grids), and `depth` snapshots taken from the exchange's own
//!   book, which applies each diff before publishing it: a snapshot's `lastUpdateId` is
//!   never behind the stream, so Binance's local-book procedure works against it;
//!
//! and it trades (its desk): Binance's signed order and account endpoints (new,
//! cancel and query orders, open orders, cancel all, spot OCO lists, account,
//! positions, leverage) matched against the replayed book by the backtest's simulated
//! exchange, and the user data stream (a listen key, then a raw stream session on it)
//! with execution events; order counts are limited per 10 s as Binance does.
//!
//! The replay starts when the first stream subscriber takes its REST snapshot (or a
//! second after it subscribed, for one that takes none); the recording up to its own
//! snapshot is applied before, so the book is live and the snapshot served is the
//! recording's state where the replay starts. It runs to the end of the data; at `--speed max` it goes as fast as the slowest subscriber reads.
//! Threads block (no spinning); this is the exchange's side, not the hot path.

mod candles;
pub(crate) mod desk;
mod rest;
pub mod ws;

use crate::book::{Book, SyncState};
use crate::core::{Market, SymbolId, SymbolSpec};
use crate::local_exchange::fanout::Fanout;
use crate::local_exchange::faults;
use crate::local_exchange::pace::{Pace, StartGate};
use crate::local_exchange::server::{BodyError, Limits, Server, json_answer, read_request};
use crate::local_exchange::{Faults, StartError};
use crate::replay::{ReplayOptions, tagged_frames};
use crate::store::files::InputError;
use crate::venues::Venue;
use crate::venues::binance::endpoints;
use crate::venues::binance::errors::{Code, ErrorBody};
use crate::venues::binance::keys::ApiKeys;
use crate::venues::binance::snapshot::parse_snapshot;
use crate::venues::binance::wire::peek;
use crate::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder};
pub use desk::{AccountSummary, TradingConfig};

use axum::Router;
use axum::extract::State as Ax;
use axum::response::Response;
use desk::Desk;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use ws::msg;

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct Config {
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
    /// What one client may take (connections, timeouts, sizes).
    pub limits: Limits,
    /// The server clock: the recording's times, or the wall clock.
    pub clock: Clock,
}

/// The clock the exchange answers `time` with and checks signed requests' timestamps
/// against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The replay's exchange time: the recorded events' times as they are replayed
    /// (before the replay starts, the recording's start). Clients that sync their clock
    /// with `time` (as Binance asks) sign right.
    #[default]
    Recorded,
    /// The machine's wall clock, for clients that sign with their own clock and never
    /// ask `time`; the market messages keep their recorded times.
    Wall,
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
    /// Market-stream and user-data sessions.
    fanout: Fanout,
    /// Signed requests so far (faults count them).
    signed: AtomicU64,
    /// New orders so far (the late-order fault counts them).
    placed: AtomicU64,
    /// The clock shift fault is in effect (from the first signed request on).
    shifted: AtomicBool,
    /// The replay starts at the first stream subscriber's REST snapshot, or a second
    /// after it subscribed.
    gate: StartGate,
    stop: AtomicBool,
    done: AtomicBool,
    published: AtomicU64,
    /// The largest request body read.
    max_body: usize,
    /// WebSocket sessions whose task is running.
    sessions_open: std::sync::atomic::AtomicUsize,
    /// The exchangeInfo file given, served as it is; `None`: described from the
    /// symbols' grids at each request.
    exchange_info: Option<Vec<u8>>,
    /// What exchangeInfo says of the limits.
    info_limits: crate::venues::binance::exchange_info::Limits,
    /// The server clock.
    clock: Clock,
    faults: Faults,
    /// The `user-outage` fault: no listen key while it holds.
    outage: faults::Outage,
    weight_limit: u32,
    /// Request weight per wall-clock minute, 429s and bans.
    weight: Mutex<crate::venues::binance::limits::Weigher>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves consistent data here (plain counters and books).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running local exchange.
pub struct LocalExchange {
    addr: SocketAddr,
    shared: Arc<Shared>,
    replay: Option<JoinHandle<()>>,
    server: Server,
}

impl LocalExchange {
    /// Reads the data and starts listening. Cold.
    ///
    /// # Errors
    /// [`StartError`] for unreadable data or an address that cannot be bound.
    pub fn start(cfg: Config) -> Result<Self, StartError> {
        let (table, frames) = tagged_frames(&cfg.files, &cfg.replay)?;
        if let Some(s) = table.specs().iter().find(|s| s.venue != Venue::Binance) {
            return Err(StartError::OtherVenue {
                data: s.venue.name(),
                serves: Venue::Binance.name(),
            });
        }
        let specs = table.specs().to_vec();
        let market = specs.first().map_or(Market::Spot, |s| s.market);
        let exchange_info = match &cfg.replay.exchange_info {
            Some(p) => Some(std::fs::read(p).map_err(|source| {
                StartError::Input(InputError::Open {
                    path: p.clone(),
                    source,
                })
            })?),
            None => None,
        };
        let weight_limit = cfg
            .weight_limit
            .unwrap_or(crate::venues::binance::limits::default_weight_limit(market));
        let info_limits = crate::venues::binance::exchange_info::Limits {
            weight_per_min: weight_limit,
            orders_per_10s: desk::orders_per_10s(market, &cfg.trading),
            max_open: desk::MAX_OPEN as u32,
        };
        let described;
        let info_bytes: &[u8] = match &exchange_info {
            Some(b) => b,
            None => {
                described =
                    crate::venues::binance::exchange_info::describe(&specs, market, 0, info_limits);
                &described
            }
        };
        let books = specs
            .iter()
            .map(|s| Book::new(s, &cfg.replay.book))
            .collect();
        let desk = Desk::new(market, &specs, &cfg.keys, &cfg.trading, info_bytes);
        let candles = specs.iter().map(candles::Candles::new).collect();
        let listener = TcpListener::bind(cfg.addr).map_err(|e| StartError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        })?;
        let addr = listener.local_addr().map_err(|e| StartError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        })?;
        let mut state = State {
            decoder: Decoder::new(table, DEFAULT_MAX_LEVELS),
            candles,
            books,
            desk,
            synth: Vec::new(),
            want_synth: false,
            now_ms: 0,
        };
        let first = warm_up(&mut state, &specs, &frames);
        let shared = Arc::new(Shared {
            market,
            specs,
            state: Mutex::new(state),
            // At full speed the replay waits for a slow reader, a while.
            fanout: Fanout::new(cfg.speed.is_none().then_some(SLOW_READER_GRACE)),
            signed: AtomicU64::new(0),
            placed: AtomicU64::new(0),
            shifted: AtomicBool::new(false),
            gate: StartGate::default(),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            published: AtomicU64::new(0),
            sessions_open: Default::default(),
            max_body: cfg.limits.max_body,
            exchange_info,
            info_limits,
            clock: cfg.clock,
            faults: cfg.faults,
            outage: Default::default(),
            weight_limit,
            weight: Mutex::new(Default::default()),
        });
        let listen_error = |e: std::io::Error| StartError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        };
        let server =
            Server::start(listener, router(shared.clone()), cfg.limits, 2).map_err(listen_error)?;
        let s1 = shared.clone();
        let speed = cfg.speed;
        let replay = std::thread::Builder::new()
            .name("venue-replay".into())
            .spawn(move || replay(&s1, &frames, first, speed))
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
        format!(
            "listening on {addr}: REST http://{addr}{} ({}), streams ws://{addr}/ws/<stream> and ws://{addr}/stream?streams=<a>/<b>; the replay starts with the first stream subscriber",
            endpoints::Rest::Ping
                .on(self.shared.market)
                .trim_end_matches("/ping"),
            self.shared.market.name()
        )
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

    /// Orders the desk remembers, open and closed (bounded by the closed-order
    /// window).
    pub fn orders_kept(&self) -> usize {
        lock(&self.shared.state).desk.orders_kept()
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
            venue: "binance",
            published: sh.published.load(Ordering::Relaxed),
            signed: sh.signed.load(Ordering::Relaxed),
            sessions: sh.sessions_open.load(Ordering::Relaxed),
            slow_sessions: sh.fanout.kicked(),
            finished: sh.done.load(Ordering::Relaxed),
            accounts: lock(&sh.state)
                .desk
                .accounts()
                .into_iter()
                .map(|a| {
                    let spec = sh.specs.iter().find(|s| s.name.as_str() == a.symbol);
                    ExchangeAccount {
                        position: spec.map_or(f64::NAN, |s| s.qty.to_f64(a.position)),
                        wallet: a.wallet_e8 as f64 / 1e8,
                        fills: Some(a.fills),
                        open_orders: Some(a.open_orders),
                        symbol: a.symbol,
                    }
                })
                .collect(),
        }
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
        // The sessions' close frames go out before the runtime stops.
        let t = Instant::now();
        while self.shared.sessions_open.load(Ordering::Relaxed) > 0
            && t.elapsed() < Duration::from_millis(500)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.server.stop();
    }
}

/// Applies one recorded frame to the venue's books and matching engines.
/// A recorded frame as served (with the symbol of a snapshot that names none).
type Served = crate::replay::TaggedFrame;

fn apply(st: &mut State, specs: &[SymbolSpec], frame: &[u8], of: Option<SymbolId>) {
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
        // A bare snapshot names no symbol: the recording says which (its URL or its
        // file), or it is the session's only one.
        let id = symbol
            .or(of)
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

/// At `--speed max`, how long the replay waits for a slow reader before disconnecting
/// it.
const SLOW_READER_GRACE: Duration = Duration::from_secs(5);

/// Applies the recording up to its snapshot and the first diff after it, unpublished,
/// so the books are live (and `time` is the recording's) before anyone connects; the
/// index of the first frame to publish.
fn warm_up(st: &mut State, specs: &[SymbolSpec], frames: &[Served]) -> usize {
    let live = |st: &State, b: usize| {
        st.books[b].state() == SyncState::Live && st.books[b].update_id() > 0
    };
    let mut k = 0;
    // When the first book went live: a symbol whose snapshot comes much later (or
    // never) must not make the recording a warm-up; its book goes live during the
    // replay.
    let mut first_live_ns: Option<u64> = None;
    while k < frames.len() && !(0..st.books.len()).all(|b| live(st, b)) {
        if first_live_ns.is_some_and(|t| frames[k].1 > t + WARM_UP_WAIT_NS) {
            break;
        }
        apply(st, specs, &frames[k].0, frames[k].2);
        if first_live_ns.is_none() && (0..st.books.len()).any(|b| live(st, b)) {
            first_live_ns = Some(frames[k].1);
        }
        k += 1;
    }
    k
}

/// How long (recorded time) the warm-up waits, after the first book is live, for the
/// other symbols' books.
const WARM_UP_WAIT_NS: u64 = 60_000_000_000;

fn replay(shared: &Shared, frames: &[Served], k: usize, speed: Option<f64>) {
    shared.gate.wait(&shared.stop);
    let pace = Pace::new(frames.get(k).map_or(0, |f| f.1), speed);
    for (bytes, rec, of) in &frames[k.min(frames.len())..] {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        pace.wait(*rec);
        // Applied before it is published, and the lock released before publishing
        // (a blocked subscriber must not block snapshots): a snapshot may be ahead of
        // the diffs sent so far, never behind them, which is the case Binance's
        // procedure expects (diffs the snapshot covers are dropped).
        let synth = {
            let mut st = lock(&shared.state);
            apply(&mut st, &shared.specs, bytes, *of);
            let now = server_ms(shared, &st);
            st.desk.absorb_all(now);
            st.desk.expire_listen_key(now);
            std::mem::take(&mut st.synth)
        };
        publish_account(shared);
        publish_synth(shared, synth);
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Some((name, data)) = peek::split_envelope(text) else {
            continue;
        };
        let n = shared.published.fetch_add(1, Ordering::Relaxed) + 1;
        let fault = shared.faults.at(n, name.contains("@depth"));
        if fault.skip {
            continue;
        }
        if let Some(ms) = fault.stall_ms {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if fault.drop {
            // Every market session ends (its outbox closed).
            close_market_sessions(shared);
        }
        if let Some(ms) = fault.user_outage_ms {
            shared.outage.begin(ms);
            close_user_sessions(shared);
        }
        if fault.malformed {
            shared.fanout.broadcast(&msg(faults::half(text)));
        }
        shared
            .fanout
            .publish(name, &msg(text.to_string()), &msg(data.to_string()));
    }
    shared.done.store(true, Ordering::Relaxed);
    // Closing the outboxes ends every market session with a close frame; user data
    // sessions stay (the account can still trade and query).
    close_market_sessions(shared);
}

/// Ends every session but those on the account's listen key alone. The key is read
/// first: the session list is never held while the state is locked.
fn close_market_sessions(shared: &Shared) {
    let key = lock(&shared.state).desk.listen_key().map(str::to_string);
    shared
        .fanout
        .close_where(|s| s.is_empty() || !s.iter().all(|n| Some(n.as_str()) == key.as_deref()));
}

/// Ends the sessions on the account's listen key (the `user-outage` fault).
fn close_user_sessions(shared: &Shared) {
    let Some(key) = lock(&shared.state).desk.listen_key().map(str::to_string) else {
        return;
    };
    shared
        .fanout
        .close_where(|s| !s.is_empty() && s.iter().all(|n| *n == key));
}

/// The server clock: the replay's exchange time, shifted by the clock fault once the
/// first signed request came (a step the client cannot have synchronised to).
fn server_ms(shared: &Shared, st: &State) -> i64 {
    let shift = if shared.shifted.load(Ordering::Relaxed) {
        shared.faults.clock_shift_ms
    } else {
        0
    };
    let now = match shared.clock {
        Clock::Recorded => st.now_ms as i64,
        Clock::Wall => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    now.saturating_add(shift)
}

/// Publishes made-up market messages (aggregate trades, klines) to their subscribers.
fn publish_synth(shared: &Shared, synth: Vec<candles::Synth>) {
    for m in synth {
        shared
            .fanout
            .publish(&m.stream, &msg(m.wrapped), &msg(m.bare));
    }
}

/// The desk's user data events to the sessions on the account's listen key (raw
/// sessions take them bare, combined ones wrapped with the key as the stream name);
/// then the sessions of keys closed or expired end, after their `listenKeyExpired`.
fn publish_account(shared: &Shared) {
    let (key, events, closed) = {
        let mut st = lock(&shared.state);
        (
            st.desk.listen_key().map(str::to_string),
            st.desk.take_events(),
            st.desk.take_closed_keys(),
        )
    };
    let user = crate::venues::binance::user::wrap;
    if let Some(key) = key {
        for e in events {
            shared.fanout.publish(&key, &msg(user(&key, &e)), &msg(e));
        }
    }
    for (key, e) in closed {
        shared.fanout.publish(&key, &msg(user(&key, &e)), &msg(e));
        shared.fanout.end_stream(&key);
    }
}

/// Everything the exchange serves, on one router: the stream upgrades, then REST.
fn router(shared: Arc<Shared>) -> Router {
    use axum::routing::any;
    Router::new()
        .route("/ws", any(ws::upgrade))
        .route("/ws/", any(ws::upgrade))
        .route("/ws/{*stream}", any(ws::upgrade))
        .route("/stream", any(ws::upgrade))
        .fallback(rest_request)
        .with_state(shared)
}

/// A REST request: read whole (the server's limits apply), answered by the venue.
async fn rest_request(
    Ax(shared): Ax<Arc<Shared>>,
    parts: axum::http::request::Parts,
    body: axum::body::Body,
) -> Response {
    let req = match read_request(&parts, body, shared.max_body).await {
        Ok(r) => r,
        Err(BodyError::TooLarge) => {
            return json_answer(
                413,
                Vec::new(),
                ErrorBody::json(Code::Unknown, "Request body too large."),
            );
        }
        Err(BodyError::NotText) => {
            return json_answer(
                400,
                Vec::new(),
                ErrorBody::json(
                    Code::IllegalChars,
                    "Illegal characters found in the request body.",
                ),
            );
        }
    };
    let (status, headers, body) = rest::answer(&shared, &req);
    json_answer(status, headers, body)
}

impl Shared {
    /// A session asked for market streams: the made-up ones are made from now on,
    /// and the first one starts the replay's clock for its snapshot.
    fn on_market_session(&self, streams: &[String]) {
        let key = lock(&self.state).desk.listen_key().map(str::to_string);
        let market: Vec<&String> = streams
            .iter()
            .filter(|s| Some(s.as_str()) != key.as_deref())
            .collect();
        if market.is_empty() {
            return;
        }
        if market
            .iter()
            .any(|s| s.ends_with("@aggTrade") || s.ends_with("@kline_1m"))
        {
            lock(&self.state).want_synth = true;
        }
        self.gate.subscribed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        let f = r#"{"stream":"btcusdt@trade","data":{"e":"trade","p":"1"}}"#;
        assert_eq!(
            peek::split_envelope(f),
            Some(("btcusdt@trade", r#"{"e":"trade","p":"1"}"#))
        );
        assert_eq!(peek::split_envelope(r#"{"lastUpdateId":1}"#), None);
    }
}
