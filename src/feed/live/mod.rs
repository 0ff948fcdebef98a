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
//!
//! Frames are read into one reusable buffer ([`wire::Wire`]). Plain `ws://`/`http://`
//! for now (the local exchange); TLS for Binance's own endpoints is still to come.

pub mod rest;
pub mod tls;
pub mod wire;

use crate::core::Market;
use crate::pipeline::clock::now_ns;
use crate::pipeline::stages::{Frame, Source};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wire::{Wire, WireError};

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
    /// Stream names without the symbol (`depth@100ms`, `trade`).
    pub streams: Vec<String>,
    /// Levels per side of each REST snapshot.
    pub snapshot_limit: u32,
    /// Connection attempts allowed after the first (`None`: forever).
    pub max_reconnects: Option<u32>,
    /// Seed of the backoff jitter and the WebSocket key.
    pub seed: u64,
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
}

impl LiveStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

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

/// The live source.
pub struct LiveSource {
    cfg: LiveConfig,
    wire: Option<Wire>,
    snapshot: Vec<u8>,
    need_snapshot: bool,
    request: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    backoff_ms: u64,
    /// Connection attempts so far.
    tries: u64,
    rng: fastrand::Rng,
    stats: Arc<LiveStats>,
}

const BACKOFF_MIN_MS: u64 = 250;
const BACKOFF_MAX_MS: u64 = 30_000;
const TIMEOUT: Duration = Duration::from_secs(5);

impl LiveSource {
    /// A source for `cfg`; it connects on the first read. `stop` ends it (SIGINT).
    pub fn new(cfg: LiveConfig, stop: Arc<AtomicBool>) -> Self {
        let seed = cfg.seed;
        Self {
            cfg,
            wire: None,
            snapshot: Vec::new(),
            need_snapshot: true,
            request: Arc::new(AtomicBool::new(false)),
            stop,
            backoff_ms: BACKOFF_MIN_MS,
            tries: 0,
            rng: fastrand::Rng::with_seed(seed),
            stats: Arc::new(LiveStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<LiveStats> {
        self.stats.clone()
    }

    /// The flag the book stage raises when it needs a snapshot (after a gap).
    pub fn snapshot_request(&self) -> Arc<AtomicBool> {
        self.request.clone()
    }

    fn path(&self) -> String {
        let sym = self.cfg.symbol.to_ascii_lowercase();
        let streams: Vec<String> = self
            .cfg
            .streams
            .iter()
            .map(|s| format!("{sym}@{s}"))
            .collect();
        format!("/stream?streams={}", streams.join("/"))
    }

    fn connect(&mut self) -> Result<(), WireError> {
        let (host, tls) = rest::endpoint(&self.cfg.host);
        let stream = tls::Conn::connect(host, tls, TIMEOUT)?;
        let seed = self.rng.u64(..);
        let wire = Wire::handshake(stream, host, &self.path(), seed)?;
        // Short reads: a quiet market still lets the source see a stop or a request.
        wire.stream()
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(100)))?;
        self.wire = Some(wire);
        LiveStats::bump(&self.stats.connects);
        self.need_snapshot = true;
        Ok(())
    }

    fn fetch_snapshot(&mut self) -> bool {
        let path = format!(
            "{}depth?symbol={}&limit={}",
            if self.cfg.market.is_futures() {
                "/fapi/v1/"
            } else {
                "/api/v3/"
            },
            self.cfg.symbol,
            self.cfg.snapshot_limit
        );
        let rest_host = self.cfg.rest.as_deref().unwrap_or(&self.cfg.host);
        match rest::get(rest_host, &path, TIMEOUT) {
            Ok(body) => {
                self.snapshot = body;
                LiveStats::bump(&self.stats.snapshots);
                true
            }
            Err(e) => {
                LiveStats::bump(&self.stats.failures);
                // A 429 (or 418) says how long to stay away: never less than that, even
                // after the jitter takes its quarter off.
                if let Some(wait) = e.retry_after() {
                    let ms = wait.as_millis() as u64;
                    self.backoff_ms = self.backoff_ms.max(ms * 4 / 3 + 1);
                }
                false
            }
        }
    }

    /// Waits out the backoff (with ±25 % jitter, so clients do not reconnect in step),
    /// then doubles it; false when stopped meanwhile.
    fn back_off(&mut self) -> bool {
        let jitter = self.backoff_ms / 4;
        let wait = self.backoff_ms - jitter + self.rng.u64(0..=2 * jitter);
        let until = std::time::Instant::now() + Duration::from_millis(wait);
        while std::time::Instant::now() < until {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.backoff_ms = (self.backoff_ms * 2).min(BACKOFF_MAX_MS);
        true
    }

    fn stamp(bytes: &[u8]) -> Frame<'_> {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Frame {
            bytes,
            recv_ns: now_ns(),
            wall_ns,
        }
    }
}

impl Source for LiveSource {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
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
                    LiveStats::bump(&self.stats.failures);
                    if matches!(&e, WireError::Handshake(line) if line.starts_with("HTTP/1.1 410"))
                    {
                        // `minerva exchange` has served its recording to the end.
                        return None;
                    }
                    if !self.back_off() {
                        return None;
                    }
                    continue;
                }
            }
            if self.request.swap(false, Ordering::Relaxed) {
                self.need_snapshot = true;
            }
            if self.need_snapshot {
                if self.fetch_snapshot() {
                    self.need_snapshot = false;
                    return Some(Self::stamp(&self.snapshot));
                }
                if !self.back_off() {
                    return None;
                }
                continue;
            }
            let wire = self.wire.as_mut()?;
            match wire.read_message() {
                Ok(_) => {
                    self.backoff_ms = BACKOFF_MIN_MS;
                    break;
                }
                Err(WireError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    self.wire = None;
                    LiveStats::bump(&self.stats.drops);
                }
            }
        }
        // The message just read, still in the session's buffer.
        let wire = self.wire.as_mut()?;
        Some(Self::stamp(wire.message()))
    }
}
