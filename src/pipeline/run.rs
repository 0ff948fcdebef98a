//! Running the four stages on 1 to 4 threads, wired with rings, pinned and scheduled
//! on request, reporting on demand, and stopped in order at the end of the input or on
//! SIGINT/SIGTERM.
//!
//! | threads | layout |
//! |---|---|
//! | 1 (compact) | feed, book, signal, gateway |
//! | 2 | feed, book \| signal, gateway |
//! | 3 | feed \| book \| signal, gateway |
//! | 4 | feed \| book \| signal \| gateway |

use super::latencies::Latencies;
use super::messages::{FeedMsg, OrderMsg, Relay, SignalMsg, Stamped, View};
use super::pin::{PinPlan, Stage, allowed_cpus};
use super::ring::{Inbox, Outbox, RingStats, ring_filled};
use super::stages::{BookStage, FeedStage, GatewayStage, ShapeError, SignalStage};
use super::status::{Parts, Publisher, Slot};
use super::wait::{Wait, WaitPlan, Waiter};
use crate::book::BookConfig;
use crate::core::SymbolSpec;
use crate::feed::Source;
use crate::gateway::trader::{Shutdown, TraderStats};
use crate::risk::RiskStats;
use crate::sim::{SimOptions, SimStats};
use crate::strategy::Strategy;
use crate::telemetry::IntervalLog;
use crate::venues::OrderSigner;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Bumped when a report is due; each thread posts its histograms when it sees a change.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Bumped when the live view wants a snapshot; each thread of a run with a view posts
/// its stages' parts when it sees a change (a light copy, unlike the histograms, which
/// the view takes once a second).
static VIEW_EPOCH: AtomicU64 = AtomicU64::new(0);

/// How often the view refreshes its latencies (the histograms' merge is the heavy part
/// of a post: measured, it showed in the p99 at every snapshot).
const VIEW_LATENCY_EVERY: Duration = Duration::from_secs(1);

/// Slots of the book → signal view ring: deep enough to absorb a burst of updates,
/// small enough (64 KB) to stay in cache.
const VIEW_SLOTS: usize = 16;

/// How often the gateway's thread warms the entry's way to the wire: often enough that
/// the code and tables stay in the core's caches between market events, seldom enough
/// that it costs ~1 % of the thread at full speed (a warm-up takes ~0.6 µs here) and
/// a frame that arrives meanwhile waits for one about 1 % of the time.
pub const WARM_EVERY_NS: u64 = 50_000;

/// Below this much work since the last warm-up (frames read and messages passed on:
/// about two a frame), the market is slow enough for a decision's code to go cold,
/// and the compact thread warms it too ([`BookStage::warm`], [`SignalStage::warm`]).
/// 32 in 50 µs is ~320,000 frames a second: a replay at full speed never warms it.
const DECISION_WARM_BELOW: usize = 32;

/// Thread layouts by thread count: the stages each thread runs, in pipeline order.
const LAYOUTS: [&[&[Stage]]; 4] = [
    &[&[Stage::Feed, Stage::Book, Stage::Signal, Stage::Gateway]],
    &[
        &[Stage::Feed, Stage::Book],
        &[Stage::Signal, Stage::Gateway],
    ],
    &[
        &[Stage::Feed],
        &[Stage::Book],
        &[Stage::Signal, Stage::Gateway],
    ],
    &[
        &[Stage::Feed],
        &[Stage::Book],
        &[Stage::Signal],
        &[Stage::Gateway],
    ],
];

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The watchdog's drawdown rule: (ppm below the equity peak that kills, flatten
    /// open positions at the kill rather than hold them).
    pub drawdown_kill: Option<(u32, bool)>,
    /// The audit journal's recorder for the trader (`minerva run --journal`).
    pub audit: Option<crate::gateway::audit::AuditHook>,
    /// Threads: 1 (compact) to 4 (a stage each).
    pub threads: usize,
    /// Wait strategy per stage (a thread uses its first stage's).
    pub wait: WaitPlan,
    /// CPUs per stage.
    pub pin: PinPlan,
    /// SCHED_FIFO for the pipeline's threads.
    pub realtime: bool,
    /// The gateway's thread keeps the entry's way to the wire warm
    /// ([`GatewayStage::warm`]) every [`WARM_EVERY_NS`]; a compact thread also the
    /// decision's ([`BookStage::warm`], [`SignalStage::warm`]) when the market is slow.
    pub warm: bool,
    /// Slots per ring (at least 1024: one frame's worth of messages).
    pub ring_capacity: usize,
    /// The simulated exchange: latency, queue model, fees, seed.
    pub sim: SimOptions,
    /// Raised by the book stage when it needs a snapshot (a live source's request).
    pub snapshot_request: Option<std::sync::Arc<AtomicBool>>,
    /// The same, one flag per symbol, for a run of several (in their order); when
    /// empty, `snapshot_request` serves the first symbol.
    pub snapshot_requests: Vec<std::sync::Arc<AtomicBool>>,
    /// Print a report this often (SIGUSR1 prints one any time).
    pub report_every: Option<Duration>,
    /// HdrHistogram interval log: an interval per report, and the last at exit.
    pub latency_log: Option<PathBuf>,
    /// Trade on a real exchange through this link instead of the simulated one.
    pub live: Option<crate::venues::LinkConfig>,
    /// Publish [`crate::status::Status`] snapshots on this board (the live view),
    /// naming the market data's source.
    pub status: Option<(std::sync::Arc<crate::status::StatusBoard>, String)>,
}

/// The default adapts to any machine: compact (one thread, spinning then yielding)
/// never busy-spins more threads than there are cores, and measured fastest on 2.
impl Default for RunConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            wait: WaitPlan::default(),
            pin: PinPlan::default(),
            realtime: false,
            warm: true,
            ring_capacity: 1024,
            sim: SimOptions::default(),
            snapshot_request: None,
            snapshot_requests: Vec::new(),
            report_every: None,
            latency_log: None,
            live: None,
            audit: None,
            drawdown_kill: None,
            status: None,
        }
    }
}

/// Why a run could not start or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// `threads` outside 1..=4.
    #[error("--threads must be 1 (compact) to 4 (one thread per stage)")]
    Threads,
    /// More busy-spinning threads than CPUs this process may use.
    #[error(
        "{threads} busy-spinning threads but only {cpus} CPUs available: use --wait spin-yield, park, or fewer threads"
    )]
    TooManySpinners {
        /// Threads that would spin.
        threads: usize,
        /// CPUs available.
        cpus: usize,
    },
    /// Two stages share a thread but are pinned to different CPUs.
    #[error(
        "stages {0} and {1} share a thread with --threads {2} but are pinned to different CPUs"
    )]
    PinConflict(&'static str, &'static str, usize),
    /// SCHED_FIFO refused.
    #[error(
        "--realtime: SCHED_FIFO refused ({0}); it needs CAP_SYS_NICE or an rtprio limit (ulimit -r)"
    )]
    Realtime(String),
    /// The strategy does not fit the pipeline's messages.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// The live gateway could not connect (exchange unreachable, keys refused).
    #[error("live gateway: {0}")]
    Gateway(String),
    /// Several contracts with KuCoin futures' live gateway (one per process there), or
    /// more than the pipeline keeps.
    #[error(
        "{0} symbols in one run: from 1 up to {max} are traded together",
        max = super::MAX_SYMBOLS
    )]
    Symbols(usize),
    /// A stage panicked or its neighbour vanished.
    #[error("stage {0} failed; the pipeline stopped")]
    StageFailed(&'static str),
    /// The latency log could not be written.
    #[error("latency log: {0}")]
    Log(String),
}

/// Messages and producer stalls of one ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingReport {
    /// Messages carried.
    pub messages: u64,
    /// Times the producer found it full and waited.
    pub stalls: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Every latency series, merged over stages.
    pub lat: Latencies,
    /// Frames read.
    pub frames: u64,
    /// Malformed frames.
    pub decode_errors: u64,
    /// Events whose exchange time was after our receive time.
    pub clock_behind: u64,
    /// Oracle evaluations.
    pub evaluations: u64,
    /// Warm-ups of the decision's way on a slow market ([`SignalStage::warm`]).
    pub decision_warmups: u64,
    /// Intents the oracle proposed.
    pub intents: u64,
    /// Entries signed and sent.
    pub orders: u64,
    /// Intents the risk manager refused.
    pub refused: u64,
    /// Rings: feed → book, book → signal, signal → gateway.
    pub rings: [RingReport; 3],
    /// Book counters.
    pub book: crate::book::BookStats,
    /// Operations, orders and fills.
    pub trader: TraderStats,
    /// The simulated exchange's counters.
    pub exchange: SimStats,
    /// Risk manager counters (realised PnL and fees).
    pub risk: RiskStats,
    /// What shutdown cancelled and left open.
    pub shutdown: Shutdown,
    /// Wall time.
    pub secs: f64,
    /// Threads used.
    pub threads: usize,
    /// Stopped by a signal before the end of the input.
    pub interrupted: bool,
    /// The live link's counters and wire latencies (a live gateway).
    pub link: Option<crate::venues::LinkReport>,
    /// The watchdog's drawdown rule killed the trading (and asked the run to stop).
    pub killed: bool,
    /// Each symbol's part, in a run of several (empty for one: the figures above are
    /// its own). The figures above are then the totals.
    pub symbols: Vec<SymbolReport>,
}

/// One symbol's part of a run of several.
#[derive(Debug, Clone)]
pub struct SymbolReport {
    /// Its name.
    pub name: String,
    /// Its book's counters.
    pub book: crate::book::BookStats,
    /// Its operations, orders and fills.
    pub trader: TraderStats,
    /// Its simulated exchange's counters.
    pub exchange: SimStats,
    /// Its risk manager's counters.
    pub risk: RiskStats,
    /// Its frame → decision series.
    pub tick_to_decision: crate::telemetry::Latency,
    /// Its frame → order series.
    pub tick_to_trade: crate::telemetry::Latency,
}

fn quote(e8: i64) -> String {
    format!("{:.2}", e8 as f64 / 1e8)
}

impl RunReport {
    /// The latency table and counters.
    pub fn to_text(&self) -> String {
        let mut o = self.lat.table();
        use std::fmt::Write;
        let b = &self.book;
        let _ = writeln!(
            o,
            "\n{} frames in {:.3} s ({:.0}/s) on {} thread(s){}; {} decode errors; book {} applied, {} gaps, {} resyncs",
            self.frames,
            self.secs,
            self.frames as f64 / self.secs.max(1e-9),
            self.threads,
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            },
            self.decode_errors,
            b.applied,
            b.gaps,
            b.resyncs
        );
        let [a, v, c] = self.rings;
        let _ = writeln!(
            o,
            "rings: feed→book {} msgs {} stalls, book→signal {} msgs {} stalls, signal→gateway {} msgs {} stalls; 0 dropped",
            a.messages, a.stalls, v.messages, v.stalls, c.messages, c.stalls
        );
        let t = &self.trader;
        let x = &self.exchange;
        let _ = writeln!(
            o,
            "signal: {} evaluations, {} intents; risk: {} accepted, {} refused{}",
            self.evaluations,
            self.intents,
            self.risk.accepted,
            self.refused,
            if t.held_unheard > 0 {
                format!(
                    " ({} while the venue's order events were not heard)",
                    t.held_unheard
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            o,
            "{}: {} requests, {} rejected, {} fills ({} taker), {} cancelled, {} expired; entries {} sent, {} filled, {} in part, {} refused by the exchange, {} withdrawn",
            if self.link.is_some() {
                "exchange (live)"
            } else {
                "simulated exchange"
            },
            x.requests,
            x.rejected,
            x.fills,
            x.taker_fills,
            x.canceled,
            x.expired,
            t.entries,
            t.entries_filled,
            t.entries_partial,
            t.entries_rejected,
            t.entries_withdrawn
        );
        let s = &self.shutdown;
        let _ = writeln!(
            o,
            "operations closed: {} at take profit, {} at stop, {} flattened; realised {} quote net of {} fees; at exit {} orders cancelled, {} positions open (position {} lots, unrealised {}); {} events with the exchange clock ahead of ours",
            t.take_profits,
            t.stops,
            t.flattened,
            quote(self.risk.realised_e8),
            quote(self.risk.fees_e8),
            s.cancelled,
            s.open_positions,
            s.position.0,
            quote(s.unrealised_e8),
            self.clock_behind
        );
        if !self.symbols.is_empty() {
            let _ = writeln!(o, "\nper symbol:");
            for y in &self.symbols {
                let (t, r, b) = (&y.trader, &y.risk, &y.book);
                let _ = writeln!(
                    o,
                    "  {}: {} evaluations; {} accepted, {} refused; entries {} sent, {} filled; {} at take profit, {} at stop; realised {} net of {} fees; book {} applied, {} gaps, {} resyncs",
                    y.name,
                    y.tick_to_decision.count(),
                    r.accepted,
                    r.refused,
                    t.entries,
                    t.entries_filled,
                    t.take_profits,
                    t.stops,
                    quote(r.realised_e8),
                    quote(r.fees_e8),
                    b.applied,
                    b.gaps,
                    b.resyncs
                );
            }
            let names: Vec<(String, String)> = self
                .symbols
                .iter()
                .map(|y| {
                    (
                        format!("{} tick_to_decision", y.name),
                        format!("{} tick_to_trade", y.name),
                    )
                })
                .collect();
            o.push_str(&crate::telemetry::table(
                self.symbols.iter().zip(&names).flat_map(|(y, (d, t))| {
                    [
                        (d.as_str(), y.tick_to_decision.histogram()),
                        (t.as_str(), y.tick_to_trade.histogram()),
                    ]
                }),
            ));
        }
        if let Some(l) = &self.link {
            let parts: Vec<String> = l.counters.iter().map(|(k, v)| format!("{v} {k}")).collect();
            let _ = writeln!(o, "live link: {}; {}", l.startup, parts.join(", "));
            o.push_str(&crate::telemetry::table([
                ("tick_to_wire", &l.tick_to_wire),
                ("order_rtt", &l.order_rtt),
            ]));
        }
        o
    }
}

/// Where a thread posts its histograms when a report is due (preallocated: posting
/// merges into it without allocating).
struct Mailbox {
    posted: AtomicU64,
    done: AtomicBool,
    lat: Mutex<Latencies>,
    /// The live view's parts (when a view is attached), and the view epoch they are of.
    slot: Option<Mutex<Slot>>,
    view_posted: AtomicU64,
}

impl Mailbox {
    /// A mailbox for a thread of a run of `symbols`, with a view slot if `view`.
    fn new(view: bool, symbols: usize) -> Self {
        Self {
            posted: AtomicU64::new(0),
            done: AtomicBool::new(false),
            lat: Mutex::new(Latencies::default()),
            slot: view.then(|| Mutex::new(Slot::new(symbols))),
            view_posted: AtomicU64::new(0),
        }
    }
}

/// The book stage with its input ring and its two output rings (messages, views).
type BookEnds<'a> = (
    &'a mut BookStage,
    Inbox<Stamped<FeedMsg>>,
    Outbox<Stamped<SignalMsg>>,
    Outbox<View>,
);

/// The signal stage with its input rings (messages, views) and its output ring.
type SignalEnds<'a> = (
    &'a mut SignalStage,
    Inbox<Stamped<SignalMsg>>,
    Outbox<Stamped<OrderMsg>>,
    Inbox<View>,
);

/// The stages and ring ends one thread runs.
struct Lane<'a, S: Source> {
    stages: &'static [Stage],
    wait: Wait,
    cpu: Option<usize>,
    feed: Option<(&'a mut FeedStage<S>, Outbox<Stamped<FeedMsg>>)>,
    book: Option<BookEnds<'a>>,
    signal: Option<SignalEnds<'a>>,
    gateway: Option<(&'a mut GatewayStage, Inbox<Stamped<OrderMsg>>)>,
    /// Every stage on this thread and the simulated exchange reading the book stage's
    /// book: each message goes all the way through before the next
    /// ([`super::compact::pass_lent`]).
    lend: bool,
    /// Warm the gateway's order path ([`RunConfig::warm`]).
    warm: bool,
}

/// Ring counters a thread hands back: inbox messages and outbox stalls per ring.
#[derive(Debug, Default)]
struct LaneRings {
    inbox: [Option<RingStats>; 3],
    stalls: [u64; 3],
}

impl<S: Source> Lane<'_, S> {
    /// Runs until its first stage's input ends and everything it holds is handed on.
    fn run(mut self, mailbox: &Mailbox, realtime: bool) -> Result<LaneRings, RunError> {
        if let Some(id) = self.cpu {
            core_affinity::set_for_current(core_affinity::CoreId { id });
        }
        if realtime {
            set_fifo().map_err(RunError::Realtime)?;
        }
        let mut w = Waiter::new(self.wait);
        let mut feeding = self.feed.is_some();
        let mut seen = EPOCH.load(Ordering::Relaxed);
        let mut view_seen = VIEW_EPOCH.load(Ordering::Relaxed);
        let view = mailbox.slot.is_some();
        let mut accepting = true;
        let mut warmed_ns = 0;
        // Work done since the last warm-up.
        let mut handled = 0usize;
        loop {
            let mut work = 0usize;
            if feeding {
                let (f, tx) = self.feed.as_mut().expect("feeding");
                match f.step(tx) {
                    Ok(true) => work += 1,
                    Ok(false) => feeding = false,
                    Err(_) => return Err(RunError::StageFailed("book")),
                }
            }
            if self.lend
                && let (Some((b, a_rx, b_tx, v_tx)), Some((s, b_rx, c_tx, v_rx)), Some((g, c_rx))) = (
                    self.book.as_mut(),
                    self.signal.as_mut(),
                    self.gateway.as_mut(),
                )
            {
                if accepting && crate::shutdown::requested() {
                    accepting = false;
                    g.stop_accepting();
                }
                let mut failed = false;
                while let Some(r) = a_rx.with_next(|m| {
                    super::compact::pass_lent(
                        m,
                        (&mut **b, &mut *b_tx, &mut *v_tx),
                        (&mut **s, &mut *b_rx, &mut *c_tx, &mut *v_rx),
                        (&mut **g, &mut *c_rx),
                    )
                }) {
                    work += 1;
                    failed |= r.is_err();
                }
                if failed {
                    return Err(RunError::StageFailed("gateway"));
                }
                work += g.poll() as usize;
            } else {
                self.step_stages(&mut work, &mut accepting)?;
            }
            handled += work;
            if self.warm {
                // Between market events (a live feed's are micro- to milliseconds
                // apart) the next entry's way to the wire would go cold; a frame that
                // comes during the warm-up waits for it.
                let now = crate::core::clock::now_ns();
                if now.saturating_sub(warmed_ns) >= WARM_EVERY_NS {
                    if let Some((g, _)) = self.gateway.as_mut() {
                        g.warm();
                    }
                    // The decision's way as well, when book and signal share this
                    // thread and the market came slowly enough for it to go cold. At
                    // full speed it is hot, and a view with bins every 50 µs would
                    // keep the book's bin index up when no decision reads it.
                    if handled < DECISION_WARM_BELOW
                        && let (Some((b, ..)), Some((s, ..))) =
                            (self.book.as_mut(), self.signal.as_mut())
                    {
                        let (k, view) = b.warm();
                        s.warm(k, view);
                    }
                    warmed_ns = now;
                    handled = 0;
                }
            }
            let e = EPOCH.load(Ordering::Relaxed);
            if e != seen {
                seen = e;
                self.post(mailbox, e);
            }
            if view {
                let v = VIEW_EPOCH.load(Ordering::Relaxed);
                if v != view_seen {
                    view_seen = v;
                    self.post_view(mailbox, v);
                }
            }
            if work > 0 {
                w.reset();
                continue;
            }
            let input_done = match self.stages[0] {
                Stage::Feed => !feeding,
                Stage::Book => self.book.as_ref().is_some_and(|b| b.1.is_finished()),
                Stage::Signal => self.signal.as_ref().is_some_and(|s| s.1.is_finished()),
                Stage::Gateway => self.gateway.as_ref().is_some_and(|g| g.1.is_finished()),
            };
            if input_done {
                break;
            }
            w.idle();
        }
        mailbox.done.store(true, Ordering::Release);
        Ok(self.rings())
    }

    /// Book, signal and gateway each take what their inbox holds (a lane whose stages
    /// keep their own state: the exchange has its own book, or another thread runs
    /// the book).
    ///
    /// # Hot path: no allocation (a snapshot, cold, allocates).
    #[inline]
    fn step_stages(&mut self, work: &mut usize, accepting: &mut bool) -> Result<(), RunError> {
        if let Some((b, rx, tx, vx)) = self.book.as_mut() {
            let mut failed = false;
            *work += rx.drain(|m| failed |= b.on_msg(m, tx, vx).is_err());
            if failed {
                return Err(RunError::StageFailed("signal"));
            }
        }
        if let Some((s, rx, tx, vx)) = self.signal.as_mut() {
            let mut failed = false;
            *work += rx.drain(|m| failed |= s.on_msg(m, tx, vx).is_err());
            if failed {
                return Err(RunError::StageFailed("gateway"));
            }
        }
        if let Some((g, rx)) = self.gateway.as_mut() {
            if *accepting && crate::shutdown::requested() {
                // Shutting down: intents still in the rings are not traded.
                *accepting = false;
                g.stop_accepting();
            }
            *work += rx.drain(|m| g.on_msg(m));
            // A live exchange's reports arrive whether or not the market moves.
            *work += g.poll() as usize;
        }
        Ok(())
    }

    /// The rings this thread holds: messages taken from its inboxes, stalls of its
    /// outboxes.
    fn rings(&self) -> LaneRings {
        let mut r = LaneRings::default();
        if let Some((_, tx)) = &self.feed {
            r.stalls[0] = tx.stats.stalls;
        }
        if let Some((_, rx, tx, vx)) = &self.book {
            r.inbox[0] = Some(rx.stats);
            r.stalls[1] = tx.stats.stalls + vx.stats.stalls;
        }
        if let Some((_, rx, tx, _)) = &self.signal {
            r.inbox[1] = Some(rx.stats);
            r.stalls[2] = tx.stats.stalls;
        }
        if let Some((_, rx)) = &self.gateway {
            r.inbox[2] = Some(rx.stats);
        }
        r
    }

    /// Copies the live view's parts of this thread's stages into its mailbox (no
    /// allocation: the slot was made before the run).
    #[cold]
    fn post_view(&mut self, mailbox: &Mailbox, epoch: u64) {
        if let Some(slot) = &mailbox.slot {
            // The publisher holds it only to copy it out; if it does now, this epoch's
            // parts are skipped rather than waited for.
            if let Ok(mut s) = slot.try_lock() {
                self.post_status(&mut s);
            }
        }
        mailbox.view_posted.store(epoch, Ordering::Release);
    }

    /// Copies this thread's histograms into its mailbox (no allocation).
    #[cold]
    fn post(&self, mailbox: &Mailbox, epoch: u64) {
        if let Ok(mut m) = mailbox.lat.lock() {
            let mine = [
                self.feed.as_ref().map(|f| &f.0.lat),
                self.book.as_ref().map(|b| &b.0.lat),
                self.signal.as_ref().map(|s| &s.0.lat),
                self.gateway.as_ref().map(|g| &g.0.lat),
            ];
            m.reset();
            for l in mine.into_iter().flatten() {
                m.merge(l);
            }
        }
        mailbox.posted.store(epoch, Ordering::Release);
    }

    /// Fills this thread's stages' parts of the live view.
    #[cold]
    fn post_status(&mut self, s: &mut Slot) {
        let rings = self.rings();
        s.fill(
            self.feed.as_ref().map(|(f, _)| (f.frames, f.errors)),
            self.book.as_mut().map(|(b, ..)| &mut **b),
            self.signal.as_ref().map(|(g, ..)| &**g),
            self.gateway.as_ref().map(|(g, _)| g.traders()),
        );
        for k in 0..3 {
            s.ring_messages[k] = rings.inbox[k].map(|r| r.messages);
            s.ring_stalls[k] = rings.stalls[k];
        }
    }
}

/// SCHED_FIFO at a middle priority for the calling thread.
fn set_fifo() -> Result<(), String> {
    // SAFETY: plain syscalls on the calling thread with a valid, initialised parameter.
    unsafe {
        let p = libc::sched_param {
            sched_priority: (libc::sched_get_priority_max(libc::SCHED_FIFO) / 2).max(1),
        };
        if libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
    }
    Ok(())
}

/// Tries SCHED_FIFO on the calling thread and puts it back: a refusal is reported
/// before any stage starts.
fn probe_fifo() -> Result<(), RunError> {
    set_fifo().map_err(RunError::Realtime)?;
    // SAFETY: as in `set_fifo`; SCHED_OTHER takes priority 0.
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &p);
    }
    Ok(())
}

/// Checks a layout against the machine before anything starts.
fn validate(cfg: &RunConfig) -> Result<&'static [&'static [Stage]], RunError> {
    if !(1..=4).contains(&cfg.threads) {
        return Err(RunError::Threads);
    }
    let layout = LAYOUTS[cfg.threads - 1];
    let cpus = allowed_cpus().len().max(1);
    // Under SCHED_FIFO a yielding thread only yields to its own priority: it spins too.
    let busy = |w: Wait| w.spins() || (cfg.realtime && w != Wait::Park);
    let spinners = layout.iter().filter(|l| busy(cfg.wait.of(l[0]))).count();
    if spinners > cpus {
        return Err(RunError::TooManySpinners {
            threads: spinners,
            cpus,
        });
    }
    for lane in layout {
        for pair in lane.windows(2) {
            if let (Some(a), Some(b)) = (cfg.pin.cpu(pair[0]), cfg.pin.cpu(pair[1])) {
                if a != b {
                    return Err(RunError::PinConflict(
                        pair[0].name(),
                        pair[1].name(),
                        cfg.threads,
                    ));
                }
            }
        }
    }
    if cfg.realtime {
        probe_fifo()?;
    }
    Ok(layout)
}

/// Reports while the pipeline runs: every `every`, and on SIGUSR1. Sleeps between
/// checks (it never spins). Returns the last cumulative histograms and their time, so
/// the final interval of the log starts there.
fn reporter(
    mailboxes: &[Mailbox],
    every: Option<Duration>,
    log: &mut Option<IntervalLog>,
    finished: &AtomicBool,
    t0: Instant,
) -> (Option<Latencies>, Duration) {
    // Allocated at the first report, not before: an idle reporter allocates nothing.
    let mut prev: Option<Latencies> = None;
    let mut prev_t = Duration::ZERO;
    let mut next = every.map(|e| t0 + e);
    while !finished.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
        let due = next.is_some_and(|n| Instant::now() >= n);
        if !(due || crate::shutdown::take_report_request()) {
            continue;
        }
        if let (Some(n), Some(e)) = (next.as_mut(), every) {
            while *n <= Instant::now() {
                *n += e;
            }
        }
        let epoch = EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && !mailboxes.iter().all(|m| {
                m.posted.load(Ordering::Acquire) >= epoch || m.done.load(Ordering::Acquire)
            })
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut now = Latencies::default();
        for m in mailboxes {
            if let Ok(l) = m.lat.lock() {
                now.merge(&l);
            }
        }
        let t = t0.elapsed();
        eprintln!(
            "── latency report at +{:.1} s (cumulative) ──\n{}",
            t.as_secs_f64(),
            now.table()
        );
        if let Some(log) = log.as_mut() {
            // A failed write here is reported by the final one, which returns its error.
            let _ = log_interval(log, &now, prev.as_ref(), prev_t, t);
        }
        prev = Some(now);
        prev_t = t;
    }
    (prev, prev_t)
}

/// The live view's publisher: every board period it asks the threads for their
/// parts (the reports' epoch), composes a [`crate::status::Status`] from them and
/// publishes it. Sleeps between rounds; everything it allocates is on its own thread.
fn publish_status(
    board: &crate::status::StatusBoard,
    publisher: &mut Publisher,
    mailboxes: &[Mailbox],
    layout: &[&[Stage]],
    finished: &AtomicBool,
    t0: Instant,
) {
    let period = board.period();
    // The first snapshot soon after the start, then one per period; the histograms
    // once a second.
    let mut next = Instant::now() + Duration::from_millis(100);
    let mut next_latency = Instant::now();
    while !finished.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(10));
        if Instant::now() < next {
            continue;
        }
        while next <= Instant::now() {
            next += period;
        }
        let view_epoch = VIEW_EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
        let epoch = if Instant::now() >= next_latency {
            next_latency = Instant::now() + VIEW_LATENCY_EVERY;
            Some(EPOCH.fetch_add(1, Ordering::AcqRel) + 1)
        } else {
            None
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline
            && !mailboxes.iter().all(|m| {
                let done = m.done.load(Ordering::Acquire);
                let view = m.view_posted.load(Ordering::Acquire) >= view_epoch;
                let lat = epoch.is_none_or(|e| m.posted.load(Ordering::Acquire) >= e);
                done || (view && lat)
            })
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut lat = Latencies::default();
        for m in mailboxes {
            if let Ok(l) = m.lat.lock() {
                lat.merge(&l);
            }
        }
        let guards: Vec<_> = mailboxes
            .iter()
            .filter_map(|m| m.slot.as_ref())
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let mut parts = Parts::default();
        for (g, stages) in guards.iter().zip(layout) {
            g.gather(&mut parts, stages);
        }
        let status = publisher.compose(&parts, &lat, t0.elapsed().as_secs_f64());
        drop(guards);
        board.publish(status);
    }
}

/// Closes the live view's board however the run ends, so its readers stop waiting.
struct CloseOnDrop<'a>(Option<&'a crate::status::StatusBoard>);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.0 {
            b.close();
        }
    }
}

/// Appends what was recorded between `from` (the `earlier` snapshot, or the start) and
/// `to` (`now`) to the interval log, and flushes it. Cold.
fn log_interval(
    log: &mut IntervalLog,
    now: &Latencies,
    earlier: Option<&Latencies>,
    from: Duration,
    to: Duration,
) -> Result<(), crate::telemetry::TelemetryError> {
    let interval = match earlier {
        Some(e) => now.minus(e),
        None => now.clone(),
    };
    log.append(interval.rows(), from, to - from)?;
    log.flush()
}

/// Runs the pipeline over `source` until it ends (or a signal stops it), then cancels
/// resting orders and reports.
///
/// # Errors
/// [`RunError`] for a layout this machine cannot run, or a stage that failed.
pub fn run<S: Source + Send>(
    source: S,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: impl Into<OrderSigner>,
    cfg: &RunConfig,
) -> Result<RunReport, RunError> {
    run_symbols(source, std::slice::from_ref(spec), strategy, signer, cfg)
}

/// [`run`] for several symbols of one venue read from one source (a combined
/// stream): a book, an oracle and a trader (with its simulated exchange) per symbol in
/// the same stages, the strategy's limits on open operations and capital in use
/// taken across them, and each symbol's tick-to-decision and tick-to-trade reported
/// apart as well as merged.
///
/// # Errors
/// As [`run`]; [`RunError::Symbols`] for none, or more than [`super::MAX_SYMBOLS`].
pub fn run_symbols<S: Source + Send>(
    source: S,
    specs: &[SymbolSpec],
    strategy: &Strategy,
    signer: impl Into<OrderSigner>,
    cfg: &RunConfig,
) -> Result<RunReport, RunError> {
    let several = specs.len() > 1;
    if specs.is_empty() || specs.len() > super::MAX_SYMBOLS {
        return Err(RunError::Symbols(specs.len()));
    }
    let layout = validate(cfg)?;
    crate::core::clock::clock(); // calibrate now, not on a hot thread
    let mut log = match &cfg.latency_log {
        Some(p) => Some(
            IntervalLog::create(p, SystemTime::now()).map_err(|e| RunError::Log(e.to_string()))?,
        ),
        None => None,
    };
    let cap = cfg.ring_capacity.max(1024);
    let producer_wait = |s: Stage| cfg.wait.of(s);
    // Every ring is filled at setup, so its pages are mapped before the first frame; the
    // book and the signal also write market messages over their slots' last ones.
    let (a_tx, a_rx) = ring_filled(cap, producer_wait(Stage::Feed), Stamped::<FeedMsg>::EMPTY);
    let (b_tx, b_rx) = ring_filled(cap, producer_wait(Stage::Book), Stamped::<SignalMsg>::EMPTY);
    let (c_tx, c_rx) = ring_filled(
        cap,
        producer_wait(Stage::Signal),
        Stamped::<OrderMsg>::EMPTY,
    );
    let (v_tx, v_rx) = ring_filled::<View>(VIEW_SLOTS, producer_wait(Stage::Book), View::EMPTY);
    let mut feed = FeedStage::for_symbols(source, specs);
    let mut book = BookStage::for_symbols(specs, strategy, &BookConfig::default())?;
    if !cfg.snapshot_requests.is_empty() {
        feed.request_snapshots_of(cfg.snapshot_requests.clone());
        book.request_snapshots_of(cfg.snapshot_requests.clone());
    } else if let Some(flag) = &cfg.snapshot_request {
        feed.request_snapshots(flag.clone());
        book.request_snapshots(flag.clone());
    }
    let mut signal = SignalStage::for_symbols(specs, strategy);
    let mut gateway = match &cfg.live {
        None => GatewayStage::for_symbols(specs, strategy, signer, &cfg.sim),
        Some(link) => {
            // A link per symbol, started one after the other (each reconciles its
            // symbol's orders and position at start).
            let signer: OrderSigner = signer.into();
            let mut traders = Vec::with_capacity(specs.len());
            for (k, spec) in specs.iter().enumerate() {
                let link = link.for_symbol(spec);
                let signer = link.signer_of(&signer);
                let started = link.start().map_err(|e| {
                    RunError::Gateway(if several {
                        format!("{}: {e}", spec.name)
                    } else {
                        e
                    })
                })?;
                let mut t = crate::gateway::trader::Trader::live(spec, strategy, signer, started);
                if several {
                    // One account: no two symbols' client ids alike.
                    t.share_ids(k as u64, specs.len() as u64);
                }
                traders.push(t);
            }
            GatewayStage::across(traders, strategy)
        }
    };
    for (trader, spec) in gateway.traders_mut().iter_mut().zip(specs) {
        if let Some(hook) = &cfg.audit {
            trader.keep_audit((hook.0)(spec));
        }
        if let Some((ppm, flatten)) = cfg.drawdown_kill {
            trader.set_drawdown_kill(Some(ppm), flatten);
        }
    }
    if several {
        signal.time_symbols(true);
        gateway.time_symbols(true);
    }
    // Every stage is timed: `minerva run` reports where the time goes.
    for lat in [
        &mut feed.lat,
        &mut book.lat,
        &mut signal.lat,
        &mut gateway.lat,
    ] {
        lat.set_timed(true);
    }
    // The gateway reads only what its exchange end needs from the market. On one
    // thread the simulated exchange reads the book stage's book instead of keeping its
    // own (as the backtest's): no depth event applied twice.
    let lend = layout.len() == 1 && gateway.relay() == Relay::Market;
    let relay = if lend { Relay::Lent } else { gateway.relay() };
    signal.set_relay(relay);
    book.set_relay(relay);
    // What the stages write while trading is mapped now: a page's first write is a
    // fault of microseconds on a hot thread, at a moment the market chooses.
    book.prefault();
    signal.prefault();
    feed.lat.prefault();
    gateway.prefault(relay == Relay::Market);
    let view = cfg.status.is_some();
    let _close = CloseOnDrop(cfg.status.as_ref().map(|(b, _)| &**b));
    if view {
        signal.keep_prints();
    }
    let trading = if cfg.live.is_some() {
        "live (venue)"
    } else {
        "paper (simulated exchange)"
    };
    let mut publisher = cfg
        .status
        .as_ref()
        .map(|(_, source)| Publisher::new(specs, strategy, source, trading));
    let mailboxes: Vec<Mailbox> = layout
        .iter()
        .map(|_| Mailbox::new(view, specs.len()))
        .collect();
    let finished = AtomicBool::new(false);
    let t0 = Instant::now();
    let mut lanes: Vec<Lane<'_, S>> = layout
        .iter()
        .map(|stages| Lane {
            stages,
            wait: cfg.wait.of(stages[0]),
            cpu: stages.iter().find_map(|&s| cfg.pin.cpu(s)),
            feed: None,
            book: None,
            signal: None,
            gateway: None,
            lend,
            warm: cfg.warm,
        })
        .collect();
    let lane_of = |s: Stage| {
        layout
            .iter()
            .position(|l| l.contains(&s))
            .expect("every stage")
    };
    lanes[lane_of(Stage::Feed)].feed = Some((&mut feed, a_tx));
    lanes[lane_of(Stage::Book)].book = Some((&mut book, a_rx, b_tx, v_tx));
    lanes[lane_of(Stage::Signal)].signal = Some((&mut signal, b_rx, c_tx, v_rx));
    lanes[lane_of(Stage::Gateway)].gateway = Some((&mut gateway, c_rx));
    let realtime = cfg.realtime;
    // Every lane gets its own thread (this one only waits), so the hot-path threads
    // are exactly the lanes.
    let (results, ran, (prev, prev_t)) = std::thread::scope(|sc| {
        let rep = sc.spawn(|| reporter(&mailboxes, cfg.report_every, &mut log, &finished, t0));
        if let (Some((board, _)), Some(p)) = (&cfg.status, publisher.as_mut()) {
            let (mailboxes, finished) = (&mailboxes, &finished);
            sc.spawn(move || {
                crate::core::mark_cold_thread();
                publish_status(board, p, mailboxes, layout, finished, t0)
            });
        }
        let mut handles = Vec::with_capacity(lanes.len());
        for (lane, mb) in lanes.into_iter().zip(&mailboxes) {
            let name = lane.stages[0].name();
            let h = std::thread::Builder::new()
                .name(format!("minerva-{name}"))
                .spawn_scoped(sc, move || {
                    // One span per stage thread: its events (none on the hot path) say
                    // where they came from.
                    let _span = tracing::info_span!("stage", lane = name).entered();
                    tracing::debug!("stage thread started");
                    lane.run(mb, realtime)
                });
            match h {
                Ok(h) => handles.push((name, Some(h))),
                Err(_) => handles.push((name, None)),
            }
        }
        let results: Vec<_> = handles
            .into_iter()
            .map(|(name, h)| {
                let r = h
                    .map(|h| h.join().unwrap_or(Err(RunError::StageFailed(name))))
                    .unwrap_or(Err(RunError::StageFailed(name)));
                (name, r)
            })
            .collect();
        // The run's time ends with its last stage, not with the reporter's next
        // wake-up (up to 20 ms later, which a short run's rate would count).
        let ran = t0.elapsed();
        finished.store(true, Ordering::Release);
        let prev = rep.join().unwrap_or_default();
        (results, ran, prev)
    });
    let mut rings = [RingReport::default(); 3];
    for r in results.iter().filter_map(|(_, r)| r.as_ref().ok()) {
        for (k, ring) in rings.iter_mut().enumerate() {
            if let Some(s) = r.inbox[k] {
                ring.messages = s.messages;
            }
            ring.stalls += r.stalls[k];
        }
    }
    if let Some((_, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
        return Err(e.clone());
    }
    let shutdown = if lend {
        gateway.shutdown_in(|k| book.book_of(k))
    } else {
        gateway.shutdown()
    };
    let secs = ran.as_secs_f64();
    if let (Some((board, _)), Some(p)) = (&cfg.status, publisher.as_mut()) {
        // The last snapshot: the stages as the run left them.
        let mut slot = Slot::new(specs.len());
        slot.fill(
            Some((feed.frames, feed.errors)),
            Some(&mut book),
            Some(&signal),
            Some(gateway.traders()),
        );
        let mut parts = Parts::default();
        slot.gather(&mut parts, &[]);
        parts.feed = slot.feed.as_ref();
        parts.book = slot.book.as_deref();
        parts.signal = slot.signal.as_deref();
        parts.gateway = slot.gateway.as_deref();
        parts.traders = slot.traders.as_deref().map(|t| t.as_slice());
        parts.book_more = &slot.book_more;
        parts.signal_more = &slot.signal_more;
        parts.gateway_more = &slot.gateway_more;
        for (k, r) in rings.iter().enumerate() {
            parts.ring_messages[k] = r.messages;
            parts.ring_stalls[k] = r.stalls;
        }
        let mut all = Latencies::default();
        for l in [&feed.lat, &book.lat, &signal.lat, &gateway.lat] {
            all.merge(l);
        }
        board.publish(p.compose(&parts, &all, secs));
    }
    let mut lat = Latencies::default();
    for l in [&feed.lat, &book.lat, &signal.lat, &gateway.lat] {
        lat.merge(l);
    }
    if let Some(log) = log.as_mut() {
        log_interval(log, &lat, prev.as_ref(), prev_t, t0.elapsed())
            .map_err(|e| RunError::Log(e.to_string()))?;
    }
    let traders = gateway.traders();
    let trader = &traders[0];
    // Several live links: one report, each start-up named.
    let link = if several {
        crate::venues::LinkReport::merged(
            traders
                .iter()
                .zip(specs)
                .filter_map(|(t, spec)| t.live_link().map(|l| (spec.name.to_string(), l.report()))),
        )
    } else {
        trader.live_link().map(|l| l.report())
    };
    let mut report = RunReport {
        lat,
        frames: feed.frames,
        decode_errors: feed.errors,
        clock_behind: feed.clock_behind,
        evaluations: signal.evaluations,
        decision_warmups: signal.warmups,
        intents: signal.intents,
        orders: trader.stats.entries,
        refused: trader.risk_stats().refused,
        rings,
        book: book.book.stats(),
        trader: trader.stats,
        exchange: trader.exchange_stats(),
        risk: trader.risk_stats(),
        shutdown,
        secs,
        threads: cfg.threads,
        interrupted: crate::shutdown::requested(),
        killed: traders.iter().any(|t| t.killed()),
        link,
        symbols: Vec::new(),
    };
    if several {
        for (k, (t, spec)) in traders.iter().zip(specs).enumerate() {
            let y = SymbolReport {
                name: spec.name.to_string(),
                book: book.book_of(k).map(|b| b.stats()).unwrap_or_default(),
                trader: t.stats,
                exchange: t.exchange_stats(),
                risk: t.risk_stats(),
                tick_to_decision: signal
                    .symbol_latency(k)
                    .cloned()
                    .unwrap_or_else(|| crate::telemetry::Latency::new("tick_to_decision")),
                tick_to_trade: gateway
                    .symbol_latency(k)
                    .cloned()
                    .unwrap_or_else(|| crate::telemetry::Latency::new("tick_to_trade")),
            };
            if k > 0 {
                report.book.add(&y.book);
                report.trader.add(&y.trader);
                report.exchange.add(&y.exchange);
                report.risk.add(&y.risk);
            }
            report.symbols.push(y);
        }
        report.orders = report.trader.entries;
        report.refused = report.risk.refused;
    }
    Ok(report)
}
