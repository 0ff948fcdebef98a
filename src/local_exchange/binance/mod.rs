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

use crate::book::{Book, SyncState};
use crate::core::{Market, SymbolSpec};
use crate::local_exchange::Faults;
use crate::local_exchange::fanout::{Fanout, Subscriber, publish_to};
use crate::net::server::{Request, respond};
use crate::replay::{ReplayError, ReplayOptions, symbol_table};
use crate::store::files::{InputError, recorded_frames};
use crate::venues::binance::endpoints::{self, StreamRequest};
use crate::venues::binance::errors::{Code, ErrorBody};
use crate::venues::binance::keys::ApiKeys;
use crate::venues::binance::snapshot::parse_snapshot;
use crate::venues::binance::wire::peek;
use crate::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder};
pub use desk::{AccountSummary, TradingConfig};

use desk::Desk;
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
}

/// Why the local exchange could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
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

/// A running local exchange.
pub struct LocalExchange {
    addr: SocketAddr,
    shared: Arc<Shared>,
    replay: Option<JoinHandle<()>>,
    accept: Option<JoinHandle<()>>,
}

impl LocalExchange {
    /// Reads the data and starts listening. Cold.
    ///
    /// # Errors
    /// [`StartError`] for unreadable data or an address that cannot be bound.
    pub fn start(cfg: Config) -> Result<Self, StartError> {
        let table = symbol_table(&cfg.files, &cfg.replay)?;
        let specs = table.specs().to_vec();
        let market = specs.first().map_or(Market::Spot, |s| s.market);
        let frames = recorded_frames(&cfg.files)?;
        let exchange_info = match &cfg.replay.exchange_info {
            Some(p) => std::fs::read(p).map_err(|source| {
                StartError::Input(InputError::Open {
                    path: p.clone(),
                    source,
                })
            })?,
            None => rest::synth_exchange_info(&specs),
        };
        let books = specs
            .iter()
            .map(|s| Book::new(s, &cfg.replay.book))
            .collect();
        let desk = Desk::new(market, &specs, &cfg.keys, &cfg.trading, &exchange_info);
        let candles = specs.iter().map(candles::Candles::new).collect();
        let listener = TcpListener::bind(cfg.addr).map_err(|e| StartError::Listen {
            addr: cfg.addr,
            msg: e.to_string(),
        })?;
        let addr = listener.local_addr().map_err(|e| StartError::Listen {
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
            fanout: Fanout::default(),
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
            weight_limit: cfg
                .weight_limit
                .unwrap_or(crate::venues::binance::limits::default_weight_limit(market)),
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

    /// Stops the replay and the listener and waits for both.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.start.notify_all();
        self.shared.fanout.close_all();
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
        shared.fanout.publish_user(events);
        publish_synth(shared, synth);
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Some((name, data)) = peek::split_envelope(text) else {
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
        let mut subs = shared.fanout.sessions();
        if every(f.drop_every) {
            // Dropping the outboxes closes the sessions.
            subs.clear();
        }
        if every(f.malformed_every) {
            let bad: Arc<str> = Arc::from(&text[..text.len() / 2]);
            subs.retain(|s| s.tx.send(bad.clone()).is_ok());
        }
        publish_to(&mut subs, name, Arc::from(text), Arc::from(data));
    }
    shared.done.store(true, Ordering::Relaxed);
    // Dropping the outboxes ends every session with a close frame.
    shared.fanout.close_streams();
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

/// Publishes made-up market messages (aggregate trades, klines) to their subscribers.
fn publish_synth(shared: &Shared, synth: Vec<candles::Synth>) {
    for m in synth {
        shared
            .fanout
            .publish(&m.stream, Arc::from(m.wrapped), Arc::from(m.bare));
    }
}

/// A refusal before any route: Binance's error answer.
fn refuse(stream: &mut TcpStream, status: u16, code: Code, msg: &str) {
    respond(stream, status, &ErrorBody::json(code, msg));
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
                refuse(&mut stream, 400, Code::IllegalChars, "Illegal request.");
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
        let (status, headers, body) = rest::answer(shared, &req);
        crate::net::server::respond_with(&mut stream, status, &headers, &body, close);
        if close {
            return;
        }
    }
}

fn session(shared: &Shared, mut stream: TcpStream, req: &Request, key: &str) {
    use std::io::Write;
    let Some(StreamRequest { streams, combined }) =
        endpoints::stream_request(&req.path, &req.query)
    else {
        return refuse(&mut stream, 404, Code::Unknown, "Unknown stream path.");
    };
    let user = !combined && lock(&shared.state).desk.is_listen_key(&streams[0]);
    if !user && shared.done.load(Ordering::Relaxed) {
        // The recording is over: nothing will ever be published on a new session
        // (410 Gone, so a client can tell this end from an outage).
        return refuse(&mut stream, 410, Code::Unknown, "The data has been served.");
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
        shared.fanout.add_user(tx);
    } else {
        if streams
            .iter()
            .any(|s| s.ends_with("@aggTrade") || s.ends_with("@kline_1m"))
        {
            lock(&shared.state).want_synth = true;
        }
        shared.fanout.subscribe(Subscriber {
            streams,
            wrapped: combined,
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
