//! The gateway thread's end of a venue's live order link, the same for every venue:
//! the requests go to the link's I/O thread through an SPSC ring (a futex wake when
//! it sleeps), the execution reports come back through a second; the state the
//! venue's threads share with it (clock offset, position, balance, counters, wire
//! latencies). A venue's link (`binance::link`, `kucoin::link`) starts its threads
//! and hands them this end; what crosses the wire is the venue's business.

use crate::core::{ExchangeStats, Execution, Lots, OrderRequest, Reject, Report};
use crate::net::http::RestError;
use crate::venues::{LinkReport, WireRequest};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod follow;
pub(crate) use follow::{Follow, Found, Ledger, REACH_MARGIN_MS};

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 ns to 100 s at 3 significant digits, as the pipeline's own series.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
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
    /// What the venue's link does not trade yet.
    #[error("{0}")]
    Unsupported(&'static str),
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

/// The leverage a strategy wants on a futures symbol, and what bounds its largest
/// position: at start the link sets the highest leverage up to `max` at which the most
/// margin it commits (capital — the account's available balance when lower — ×
/// `max_capital_in_use`) × leverage fits a bracket allowing it
/// (Binance: `brackets::choose_leverage`; KuCoin: the contract's
/// `maxLeverage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeverageWish {
    /// The strategy's cap (`max_leverage`).
    pub max: u32,
    /// The strategy's capital, 10⁻⁸ of the margin asset.
    pub capital_e8: i64,
    /// `max_capital_in_use`, ppm.
    pub in_use_ppm: u32,
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
    /// Rate limits met: 429/418 answers (KuCoin: also a request weight pool its
    /// headers showed spent).
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
    /// Orders whose fate was still unknown when the link stopped (not open, not
    /// ended, as far as it could learn): the account must be checked by hand.
    pub unknown_at_exit: AtomicU64,
    /// Fills of orders already reported refused to the trader, which holds no
    /// operation for them: the position must be checked by hand.
    pub fills_after_refusal: AtomicU64,
}

impl LinkStats {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request on its way to the I/O thread.
#[derive(Clone)]
pub(crate) struct Command {
    /// What to do; `None`: cancel every open order (shutdown).
    pub(crate) req: Option<OrderRequest>,
    /// Its signed bytes.
    pub(crate) wire: WireRequest,
    /// Receive time of the frame that caused it (pipeline clock, ns; 0: none).
    pub(crate) tick_ns: u64,
}

pub(crate) struct Shared {
    pub(crate) offset_ms: AtomicI64,
    pub(crate) position: AtomicI64,
    /// The available balance the user data stream last showed (spot: the quote's
    /// free; futures: the margin asset's cross wallet), 10⁻⁸; `i64::MIN`: none yet.
    pub(crate) available_e8: AtomicI64,
    pub(crate) stop: AtomicBool,
    /// The order and user stream threads have ended: the account reader takes its
    /// exit snapshot after the last stream event, so the exit one is the last.
    pub(crate) io_stopped: AtomicBool,
    pub(crate) user_live: AtomicBool,
    pub(crate) cancel_all_done: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) stats: Mutex<ExchangeStats>,
    pub(crate) counters: LinkStats,
    /// Frame received → order bytes written to the socket, and request written →
    /// answer read, ns.
    pub(crate) wire: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

impl Shared {
    /// The venue's clock read: it said `server_ms` to a request sent at `sent_ms` and
    /// answered at `answered_ms` (our wall clock), so the offset is the server's time
    /// less the request's midpoint.
    pub(crate) fn clock_read(&self, server_ms: i64, sent_ms: i64, answered_ms: i64) {
        let offset = server_ms - (sent_ms + answered_ms) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        LinkStats::bump(&self.counters.time_syncs);
    }

    pub(crate) fn new(stopped: bool) -> Arc<Self> {
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
    pub(crate) to_io: rtrb::Producer<Command>,
    pub(crate) from_io: rtrb::Consumer<Execution>,
    pub(crate) io: std::thread::Thread,
    pub(crate) handles: Vec<JoinHandle<()>>,
    /// The account reader, stopped after the I/O threads.
    pub(crate) account: Option<JoinHandle<()>>,
    pub(crate) shared: Arc<Shared>,
    /// Reports made here (a full command ring).
    pub(crate) local: arrayvec::ArrayVec<Execution, 64>,
    pub(crate) startup: Startup,
}

/// Records how many orders' fate stayed unknown as the I/O thread stops, and says
/// so: nothing the link could learn tells whether they are open, filled or gone.
/// Cold.
pub(crate) fn note_unknown_at_exit(shared: &Shared, n: usize) {
    shared
        .counters
        .unknown_at_exit
        .store(n as u64, Ordering::Relaxed);
    if n > 0 {
        tracing::warn!(
            orders = n,
            "live link stopped with orders of unknown fate: check the account's open orders and position"
        );
    }
}

/// Ring slots each way.
pub(crate) const RING: usize = 1024;

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl LiveLink {
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

    /// Whether the venue's stream of the account's order events (user data stream,
    /// private session) is up: while it is down, fills are learnt only by polling.
    /// An atomic load: the trader reads it before each entry.
    #[inline]
    pub fn hears_order_events(&self) -> bool {
        self.shared.user_live.load(Ordering::Acquire)
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
                ("orders of unknown fate at exit", r(&c.unknown_at_exit)),
                (
                    "fills of orders reported refused",
                    r(&c.fills_after_refusal),
                ),
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

    /// The account's available balance read at start, 10⁻⁸ (what operations are
    /// sized from when it is below the strategy's capital).
    pub fn available_e8(&self) -> Option<i64> {
        self.startup.available_e8
    }

    /// The leverage the link set on the symbol at start (futures).
    pub fn leverage(&self) -> Option<u32> {
        self.startup.leverage
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

/// Hands a report to the gateway through `out`, counted in the exchange's terms;
/// waits while the ring is full (the gateway drains it on every pass) unless the
/// link is stopping, when it is counted lost.
pub(crate) fn push(
    shared: &Shared,
    out: &mut rtrb::Producer<Execution>,
    client_id: crate::core::ClientId,
    report: Report,
    time_ms: i64,
) {
    {
        let mut st = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        st.count(&report);
    }
    if report == Report::Canceled {
        shared.cancelled.fetch_add(1, Ordering::AcqRel);
    }
    let mut e = Execution {
        client_id,
        report,
        time_us: (time_ms.max(0) as u64).saturating_mul(1000),
        deliver_us: 0,
    };
    loop {
        match out.push(e) {
            Ok(()) => return,
            Err(rtrb::PushError::Full(back)) => {
                e = back;
                if shared.stop.load(Ordering::Acquire) {
                    let mut st = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
                    st.reports_lost += 1;
                    return;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// Logs an answer or event that did not read (the first few, then every 1,000th: a
/// venue sending garbage must not flood the log).
pub(crate) fn log_malformed(shared: &Shared, what: &str, why: &str) {
    let n = shared.counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= 5 || n % 1_000 == 0 {
        tracing::warn!(
            what,
            count = n,
            why,
            "live link: an answer or event did not read"
        );
    }
}
