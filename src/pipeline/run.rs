//! Running the stages: one thread (compact), two (feed | book + oracle + gateway) or three
//! (feed | book + oracle | gateway), wired with rings, pinned on request, stopped in order
//! at the end of the input or on SIGINT/SIGTERM.

use super::clock::now_ns;
use super::pin::{PinPlan, Stage, allowed_cpus};
use super::ring::{Inbox, Outbox, RingStats, ring};
use super::stages::{
    BookStage, FeedMsg, FeedStage, Frame, GatewayStage, IntentMsg, Latencies, Source, Stamped,
    drain,
};
use super::wait::{Wait, Waiter};
use crate::book::BookConfig;
use crate::core::SymbolSpec;
use crate::gateway::sign::Signer;
use crate::strategy::Strategy;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT/SIGTERM: the feed stops taking frames and the pipeline drains.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the SIGINT/SIGTERM handler (once per process).
pub fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe, and has
    // the C signature `signal` expects.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Threads: 1 (compact), 2 or 3.
    pub threads: usize,
    /// Wait strategy of every stage.
    pub wait: Wait,
    /// CPUs per stage.
    pub pin: PinPlan,
    /// Slots per ring (at least one frame's worth of messages: 1024).
    pub ring_capacity: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            wait: Wait::SpinYield,
            pin: PinPlan::default(),
            ring_capacity: 1024,
        }
    }
}

/// Why a run could not start or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// `threads` outside 1..=3.
    #[error("--threads must be 1 (compact), 2 or 3")]
    Threads,
    /// More busy-spinning threads than CPUs this process may use.
    #[error(
        "{threads} busy-spinning threads but only {cpus} CPUs available: use --wait spin-yield or fewer threads"
    )]
    TooManySpinners {
        /// Threads that would spin.
        threads: usize,
        /// CPUs available.
        cpus: usize,
    },
    /// A stage panicked or its neighbour vanished.
    #[error("stage {0} failed; the pipeline stopped")]
    StageFailed(&'static str),
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
    /// Intents the oracle proposed.
    pub intents: u64,
    /// Orders signed.
    pub orders: u64,
    /// Intents the risk manager refused.
    pub refused: u64,
    /// Feed → book ring.
    pub feed_ring: RingStats,
    /// Book → gateway ring.
    pub intent_ring: RingStats,
    /// Book counters.
    pub book: crate::book::BookStats,
    /// Wall time.
    pub secs: f64,
    /// Threads used.
    pub threads: usize,
    /// Stopped by a signal before the end of the input.
    pub interrupted: bool,
}

impl RunReport {
    /// The latency table and counters.
    pub fn to_text(&self) -> String {
        let mut o =
            crate::telemetry::table(self.lat.all().iter().map(|l| (l.name(), l.histogram())));
        use std::fmt::Write;
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
            self.book.applied,
            self.book.gaps,
            self.book.resyncs
        );
        let _ = writeln!(
            o,
            "{} intents, {} orders signed, {} refused; rings: feed→book {} msgs {} stalls, book→gateway {} msgs {} stalls, 0 dropped; {} events with the exchange clock ahead of ours",
            self.intents,
            self.orders,
            self.refused,
            self.feed_ring.messages,
            self.feed_ring.stalls,
            self.intent_ring.messages,
            self.intent_ring.stalls,
            self.clock_behind
        );
        o
    }
}

/// Recorded frames replayed as a socket would deliver them: as fast as possible, or paced
/// by their recorded receive times divided by `speed`.
pub struct ReplaySource {
    frames: Vec<(Vec<u8>, u64)>,
    next: usize,
    speed: Option<f64>,
    start_ns: u64,
    first_recorded: u64,
}

impl ReplaySource {
    /// A source over recorded `(json, recorded ns)` frames; `speed` `None` = max.
    pub fn new(frames: Vec<(Vec<u8>, u64)>, speed: Option<f64>) -> Self {
        let first_recorded = frames.iter().map(|f| f.1).find(|&t| t > 0).unwrap_or(0);
        Self {
            frames,
            next: 0,
            speed,
            start_ns: 0,
            first_recorded,
        }
    }
}

impl Source for ReplaySource {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if STOP.load(Ordering::Relaxed) {
            return None;
        }
        let (bytes, rec) = self.frames.get(self.next)?;
        self.next += 1;
        if self.start_ns == 0 {
            self.start_ns = now_ns();
        }
        if let (Some(speed), true) = (
            self.speed,
            *rec >= self.first_recorded && self.first_recorded > 0,
        ) {
            let due = self.start_ns + ((*rec - self.first_recorded) as f64 / speed) as u64;
            let mut w = Waiter::new(Wait::Park);
            while now_ns() < due && !STOP.load(Ordering::Relaxed) {
                w.idle();
            }
        }
        Some(Frame {
            bytes,
            recv_ns: now_ns(),
            wall_ns: *rec,
        })
    }
}

/// Runs the pipeline over `source` until it ends (or a signal stops it).
///
/// # Errors
/// [`RunError`] for a layout this machine cannot run, or a stage that failed.
pub fn run<S: Source + Send>(
    source: S,
    spec: &SymbolSpec,
    strategy: &Strategy,
    signer: Signer,
    cfg: &RunConfig,
) -> Result<RunReport, RunError> {
    if !(1..=3).contains(&cfg.threads) {
        return Err(RunError::Threads);
    }
    let cpus = allowed_cpus().len().max(1);
    if cfg.wait.spins() && cfg.threads > cpus {
        return Err(RunError::TooManySpinners {
            threads: cfg.threads,
            cpus,
        });
    }
    let cap = cfg.ring_capacity.max(1024);
    let (mut a_tx, mut a_rx) = ring::<Stamped<FeedMsg>>(cap, cfg.wait);
    let (mut c_tx, mut c_rx) = ring::<Stamped<IntentMsg>>(cap, cfg.wait);
    let mut feed = FeedStage::new(source, spec);
    let mut book = BookStage::new(spec, strategy, &BookConfig::default());
    let mut gateway = GatewayStage::new(spec, strategy, signer);
    let t0 = std::time::Instant::now();
    let wait = cfg.wait;
    match cfg.threads {
        1 => {
            cfg.pin.apply(Stage::Feed);
            loop {
                let more = feed
                    .step(&mut a_tx)
                    .map_err(|_| RunError::StageFailed("feed"))?;
                book_drain(&mut book, &mut a_rx, &mut c_tx)?;
                drain(&mut c_rx, |m| gateway.on_intent(m));
                if !more {
                    break;
                }
            }
            drop(a_tx);
            drop(c_tx);
        }
        n => std::thread::scope(|sc| -> Result<(), RunError> {
            let pin = &cfg.pin;
            let feed_thread = sc.spawn(|| {
                pin.apply(Stage::Feed);
                while feed
                    .step(&mut a_tx)
                    .map_err(|_| RunError::StageFailed("feed"))?
                {}
                drop(a_tx);
                Ok::<(), RunError>(())
            });
            let gateway_loop =
                |gateway: &mut GatewayStage, c_rx: &mut Inbox<Stamped<IntentMsg>>| {
                    let mut w = Waiter::new(wait);
                    loop {
                        if drain(c_rx, |m| gateway.on_intent(m)) > 0 {
                            w.reset();
                        } else if c_rx.is_finished() {
                            break;
                        } else {
                            w.idle();
                        }
                    }
                };
            if n == 2 {
                pin.apply(Stage::Book);
                book_loop(&mut book, &mut a_rx, &mut c_tx, wait, || {
                    drain(&mut c_rx, |m| gateway.on_intent(m));
                })?;
                drop(c_tx);
                drain(&mut c_rx, |m| gateway.on_intent(m));
            } else {
                let book_thread = sc.spawn(|| {
                    pin.apply(Stage::Book);
                    book_loop(&mut book, &mut a_rx, &mut c_tx, wait, || {})?;
                    drop(c_tx);
                    Ok::<(), RunError>(())
                });
                pin.apply(Stage::Gateway);
                gateway_loop(&mut gateway, &mut c_rx);
                book_thread
                    .join()
                    .map_err(|_| RunError::StageFailed("book"))??;
            }
            feed_thread
                .join()
                .map_err(|_| RunError::StageFailed("feed"))??;
            Ok(())
        })?,
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut lat = Latencies::default();
    lat.merge(&feed.lat);
    lat.merge(&book.lat);
    lat.merge(&gateway.lat);
    let rs = gateway.risk_stats();
    Ok(RunReport {
        lat,
        frames: feed.frames,
        decode_errors: feed.errors,
        clock_behind: feed.clock_behind,
        intents: book.intents,
        orders: gateway.orders,
        refused: rs.refused,
        feed_ring: a_rx.stats,
        intent_ring: c_rx.stats,
        book: book.book.stats(),
        secs,
        threads: cfg.threads,
        interrupted: STOP.load(Ordering::Relaxed),
    })
}

/// The book stage's thread until its input ends; `also` runs after each drain (the
/// gateway, when it shares the thread).
fn book_loop(
    book: &mut BookStage,
    inbox: &mut Inbox<Stamped<FeedMsg>>,
    out: &mut Outbox<Stamped<IntentMsg>>,
    wait: Wait,
    mut also: impl FnMut(),
) -> Result<(), RunError> {
    let mut w = Waiter::new(wait);
    loop {
        let got = book_drain(book, inbox, out)?;
        also();
        if got > 0 {
            w.reset();
        } else if inbox.is_finished() {
            return Ok(());
        } else {
            w.idle();
        }
    }
}

/// Everything waiting for the book stage.
#[inline]
fn book_drain(
    book: &mut BookStage,
    inbox: &mut Inbox<Stamped<FeedMsg>>,
    out: &mut Outbox<Stamped<IntentMsg>>,
) -> Result<usize, RunError> {
    let mut failed = false;
    let n = drain(inbox, |m| {
        if book.on_msg(m, out).is_err() {
            failed = true;
        }
    });
    if failed {
        return Err(RunError::StageFailed("gateway"));
    }
    Ok(n)
}
