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
use crate::core::{ClientId, Execution, Lots, OrderCmd, SymbolSpec};
use crate::venues::link::{Command, RING, Shared, wall_ms};
pub use crate::venues::link::{LinkError, LinkStats, LiveLink, Startup};
use io::{Io, UserMsg};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};
use user_stream::UserStream;

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

pub use crate::venues::link::LeverageWish;

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
