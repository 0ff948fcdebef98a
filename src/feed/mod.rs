//! Where frames come from: a venue's live session or a recording, behind one
//! [`Source`] trait, so the pipeline's feed stage reads both the same way.
//!
//! Venue-agnostic: each venue's live source (`venues::binance::stream`) implements
//! [`Source`]; the replayed and recorded sources here serve recordings.

pub mod snapshots;

pub use snapshots::{Settled, SnapshotSchedule};

use crate::core::SymbolId;
use crate::core::clock::now_ns;
use crate::core::wait::{Wait, Waiter};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A frame as a socket would hand it over.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Receive time on the [`now_ns`] clock.
    pub recv_ns: u64,
    /// Receive time on the wall clock (unix ns): recorded, or read live. 0 = unknown.
    pub wall_ns: u64,
    /// The symbol a REST depth snapshot is of (its body does not say): the index in
    /// the feed's symbol table of the symbol the source asked for. Stream frames name
    /// their symbol; a one-symbol source leaves this 0.
    pub symbol: SymbolId,
}

impl<'a> Frame<'a> {
    /// `bytes` received now (a live source): both clocks read.
    pub fn now(bytes: &'a [u8]) -> Self {
        let wall_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            bytes,
            recv_ns: now_ns(),
            wall_ns,
            symbol: SymbolId(0),
        }
    }

    /// This frame as a snapshot of the symbol at `index` in the feed's table.
    pub fn of_symbol(self, index: usize) -> Self {
        Self {
            symbol: SymbolId(index as u16),
            ..self
        }
    }
}

/// Where frames come from: a socket, or a recording paced like one.
pub trait Source {
    /// The next frame, or `None` at the end.
    fn next_frame(&mut self) -> Option<Frame<'_>>;

    /// A live source's counters (its connection number is `connects`), for a
    /// recorder that stores which connection each frame came on. Cold.
    fn live_stats(&self) -> Option<std::sync::Arc<crate::feed::LiveStats>> {
        None
    }
}

/// Recorded frames handed over in place, each with its recorded time as receive time:
/// the backtest's source (no pacing, no copy, deterministic).
pub struct RecordedFrames<'a> {
    frames: &'a [(Vec<u8>, u64)],
    next: usize,
}

impl<'a> RecordedFrames<'a> {
    /// A source over `(bytes, recorded ns)` frames.
    pub fn new(frames: &'a [(Vec<u8>, u64)]) -> Self {
        Self { frames, next: 0 }
    }
}

impl Source for RecordedFrames<'_> {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        let (bytes, t) = self.frames.get(self.next)?;
        self.next += 1;
        Some(Frame {
            bytes,
            recv_ns: *t,
            wall_ns: *t,
            symbol: SymbolId(0),
        })
    }
}

/// Counters, shared so they can be read while (and after) a pipeline owns the source.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Sessions opened.
    pub connects: AtomicU64,
    /// Sessions lost (server close, socket error).
    pub drops: AtomicU64,
    /// Snapshots fetched.
    pub snapshots: AtomicU64,
    /// Failed connection or snapshot attempts.
    pub failures: AtomicU64,
    /// Sessions replaced by an overlapping one before the connection limit.
    pub rotations: AtomicU64,
    /// Sessions dropped because no message came for `stale_after` (the book would
    /// have gone stale): reconnected and resynchronised.
    pub stale: AtomicU64,
    /// Snapshots put off to the next minute: the weight budget had no room.
    pub budget_waits: AtomicU64,
    /// The source gave up: the server could not be reached too many times in a row.
    pub gave_up: AtomicBool,
}

impl LiveStats {
    /// `(connects, drops, snapshots, failures)` now.
    pub fn read(&self) -> (u64, u64, u64, u64) {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            r(&self.connects),
            r(&self.drops),
            r(&self.snapshots),
            r(&self.failures),
        )
    }
}

/// Recorded frames replayed as a socket would deliver them: as fast as possible, or paced
/// by their recorded receive times divided by `speed`.
pub struct ReplaySource {
    frames: Vec<(Vec<u8>, u64)>,
    /// Per frame, the symbol a snapshot in it is of (index in the feed's table;
    /// `u16::MAX`: a symbol not replayed). Empty: one symbol.
    symbols: Vec<u16>,
    /// The receive buffer: each frame is copied in before it is stamped, as a socket
    /// read copies from the kernel (so the copy is not part of the measured latency,
    /// and the bytes are as warm as a socket's).
    buf: Vec<u8>,
    next: usize,
    speed: Option<f64>,
    start_ns: u64,
    first_recorded: u64,
    /// How a paced replay waits for a frame's time: sleeping (the default, as a socket
    /// read blocks), or spinning (`--wait feed=spin`, as a busy-polling feed does).
    wait: Wait,
}

impl ReplaySource {
    /// A source over recorded `(json, recorded ns)` frames; `speed` `None` = max.
    pub fn new(frames: Vec<(Vec<u8>, u64)>, speed: Option<f64>) -> Self {
        let first_recorded = frames.iter().map(|f| f.1).find(|&t| t > 0).unwrap_or(0);
        let longest = frames.iter().map(|f| f.0.len()).max().unwrap_or(0);
        Self {
            buf: Vec::with_capacity(longest),
            frames,
            symbols: Vec::new(),
            next: 0,
            speed,
            start_ns: 0,
            first_recorded,
            wait: Wait::Park,
        }
    }

    /// Waits for a paced frame's time with `wait` (spin busy-polls the clock; the
    /// others sleep, as a blocked socket read would).
    pub fn with_wait(mut self, wait: Wait) -> Self {
        self.wait = match wait {
            Wait::Spin => Wait::Spin,
            Wait::SpinYield | Wait::Park => Wait::Park,
        };
        self
    }
}

impl ReplaySource {
    /// Frames of several symbols: `symbols[k]` is the index (in the feed's table) of
    /// the symbol frame `k`'s snapshot is of, `u16::MAX` for a symbol not replayed.
    pub fn with_symbols(mut self, symbols: Vec<u16>) -> Self {
        self.symbols = symbols;
        self
    }
}

impl Source for ReplaySource {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if crate::shutdown::requested() {
            return None;
        }
        let (bytes, rec) = self.frames.get(self.next)?;
        let symbol = SymbolId(self.symbols.get(self.next).copied().unwrap_or(0));
        self.next += 1;
        if self.start_ns == 0 {
            self.start_ns = now_ns();
        }
        if let (Some(speed), true) = (
            self.speed,
            *rec >= self.first_recorded && self.first_recorded > 0,
        ) {
            let due = self.start_ns + ((*rec - self.first_recorded) as f64 / speed) as u64;
            let mut w = Waiter::new(self.wait);
            while now_ns() < due && !crate::shutdown::requested() {
                w.idle();
            }
        }
        self.buf.clear();
        self.buf.extend_from_slice(bytes); // within capacity: no allocation
        Some(Frame {
            bytes: &self.buf,
            recv_ns: now_ns(),
            wall_ns: *rec,
            symbol,
        })
    }
}
