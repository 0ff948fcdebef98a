//! `minerva record`: live market streams into a recording database.
//!
//! One reader thread per symbol runs the live source (subscription, REST snapshot,
//! reconnection, the 24 h rotation) and hands every frame, stamped with its
//! wall-clock receive time, to the writer through a bounded channel; the writer (the
//! calling thread) stores them in transactions of at most 20,000 lines or 200 ms.
//! Each reader follows its depth diffs' update ids: a break is stored as a `gap`
//! event and a fresh snapshot asked for (the resync), and the source's connects,
//! drops, snapshots, stale sessions and rotations become events too.
//!
//! A writer that falls behind makes the readers wait (counted) rather than lose a
//! line: the exchange's socket buffers meanwhile, and a session it drops is
//! reconnected and resynchronised like any other. Each symbol is its own session,
//! its lines `<recv_ns> <json>` as hftbacktest records them, so the database replays
//! exactly like such files.
//!
//! With a rotation (`--rotate daily|SIZE`, SQLite) the writer moves to a new file at
//! a batch boundary: every line is in exactly one file, the sessions go on in the
//! new file (a `file_rotated` event in both) and each reader is asked for a fresh
//! snapshot, so the new file also replays on its own.

use super::scan::DepthChain;
use super::{Event, EventKind, NewSession, Row, Sink, StoreError, Target, open_sink, stream_of};
use crate::feed::LiveStats;
use crate::feed::Source;
use crate::venues::{FeedConfig, FeedSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// One symbol to record.
#[derive(Debug, Clone)]
pub struct RecordSource {
    /// Its live source (either venue's).
    pub live: FeedConfig,
    /// The symbol list it trades under (Binance's exchangeInfo, KuCoin's symbols or
    /// contracts), stored with its sessions.
    pub exchange_info: Option<Vec<u8>>,
    /// A copy of every frame for a live view (`minerva record --status`), sent without
    /// waiting: a view that falls behind misses frames, the recording never does.
    pub watch: Option<SyncSender<Vec<u8>>>,
}

/// When to move on to a new database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    /// At each UTC midnight.
    Daily,
    /// When the file (and its WAL) reaches this many bytes.
    Size(u64),
}

impl std::str::FromStr for Rotate {
    type Err = String;

    /// `daily`, or a size: `512MB`, `2GB`, `1000000` (bytes).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "daily" {
            return Ok(Self::Daily);
        }
        let (num, unit) = t
            .find(|c: char| !c.is_ascii_digit())
            .map_or((t.as_str(), ""), |at| t.split_at(at));
        let mult: u64 = match unit {
            "" | "b" => 1,
            "kb" | "k" => 1_000,
            "mb" | "m" => 1_000_000,
            "gb" | "g" => 1_000_000_000,
            _ => return Err(format!("{s}: daily, or a size such as 512MB or 2GB")),
        };
        match num.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Self::Size(n.saturating_mul(mult))),
            _ => Err(format!("{s}: daily, or a size such as 512MB or 2GB")),
        }
    }
}

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The database (created when absent); with `rotate`, the pattern of the files'
    /// names (`market.db` → `market-20261125-000000.db`, …).
    pub target: Target,
    /// One live source per symbol.
    pub sources: Vec<RecordSource>,
    /// How often the status callback runs.
    pub status_every: Duration,
    /// A new file per day or per size (SQLite only).
    pub rotate: Option<Rotate>,
}

/// Lines in flight between the readers and the writer at most.
const CHANNEL: usize = 65_536;
/// Lines per transaction at most.
const BATCH_LINES: usize = 20_000;
/// A transaction at least this often while lines come.
const BATCH_AGE: Duration = Duration::from_millis(200);

/// Per symbol, where a recording stands.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// The symbol.
    pub symbol: String,
    /// (connects, drops, snapshots, failures, stale sessions) of its source.
    pub counts: [u64; 5],
    /// Breaks in its depth diffs (each followed by a resync).
    pub gaps: u64,
    /// Receive time less the exchange's event time of its last message, ms (0 until
    /// a message with an event time).
    pub lag_ms: i64,
}

impl SourceStatus {
    /// The lag, ms, when it is one: a lag of hours is a replayed recording's clock
    /// (`minerva exchange`), not a lag.
    pub fn lag(&self) -> Option<i64> {
        (self.lag_ms.abs() < 3_600_000).then_some(self.lag_ms)
    }
}

/// Where a recording stands.
#[derive(Debug, Clone, Default)]
pub struct RecordStatus {
    /// Lines stored.
    pub lines: u64,
    /// Lines stored per stream.
    pub per_stream: BTreeMap<String, u64>,
    /// Lines per second since the last status.
    pub rate: f64,
    /// Lines per second per stream since the last status.
    pub stream_rates: BTreeMap<String, f64>,
    /// Times a reader waited for the writer.
    pub waits: u64,
    /// Per source.
    pub sources: Vec<SourceStatus>,
    /// The database's size, bytes (the current file with rotation).
    pub db_bytes: u64,
    /// Transactions committed.
    pub batches: u64,
    /// The files written, in order (one without rotation).
    pub files: Vec<String>,
}

impl RecordStatus {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        let streams: Vec<String> = self
            .per_stream
            .iter()
            .map(|(k, v)| {
                let rate = self.stream_rates.get(k).copied().unwrap_or(0.0);
                let k = if k.is_empty() { "(other)" } else { k };
                format!("{k} {v} ({rate:.0}/s)")
            })
            .collect();
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                let lag = if let Some(ms) = s.lag() {
                    format!("lag {ms} ms")
                } else {
                    "lag n/a (exchange clock elsewhere)".into()
                };
                format!(
                    "{}: {lag}, {} sessions, {} drops, {} snapshots, {} gaps, {} stale",
                    s.symbol, s.counts[0], s.counts[1], s.counts[2], s.gaps, s.counts[4]
                )
            })
            .collect();
        format!(
            "{} lines ({:.0}/s) · {} · {} · {} {:.1} MB · {} batches · writer waits {}",
            self.lines,
            self.rate,
            streams.join(", "),
            sources.join("; "),
            self.files.last().map_or("db", String::as_str),
            self.db_bytes as f64 / 1e6,
            self.batches,
            self.waits
        )
    }
}

/// What a reader hands the writer: `usize` is the reader's index.
enum Item {
    Line(usize, Row),
    Event(usize, Event),
}

/// Shared between a reader and the writer.
#[derive(Default)]
struct ReaderState {
    gaps: AtomicU64,
    lag_ms: AtomicI64,
}

/// The file a rotated recording writes from `start_ms` on: `market.db` →
/// `market-20261125-000000.db` (`-2`, `-3`… when taken).
pub fn rotated_name(base: &Path, start_ms: u64) -> PathBuf {
    let stamp: String = crate::core::utc(start_ms)
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let (date, time) = stamp.split_at(8.min(stamp.len()));
    let stem = base
        .file_stem()
        .map_or_else(|| "market".into(), |s| s.to_string_lossy().into_owned());
    let ext = base
        .extension()
        .map_or_else(|| "db".into(), |s| s.to_string_lossy().into_owned());
    let dir = base.parent().unwrap_or(Path::new(""));
    let mut name = dir.join(format!("{stem}-{date}-{time}.{ext}"));
    let mut k = 2;
    while name.exists() {
        name = dir.join(format!("{stem}-{date}-{time}-{k}.{ext}"));
        k += 1;
    }
    name
}

fn day_of(ns: i64) -> i64 {
    ns.div_euclid(86_400_000_000_000)
}

/// The open file and its sessions, one per source.
struct Open {
    sink: Box<dyn Sink>,
    name: String,
    sessions: Vec<i64>,
    day: i64,
}

fn open_file(cfg: &RecordConfig, now_ns: i64) -> Result<Open, StoreError> {
    let target = match (&cfg.target, cfg.rotate) {
        (Target::Sqlite(p), Some(_)) => {
            Target::Sqlite(rotated_name(p, (now_ns / 1_000_000) as u64))
        }
        (t, _) => t.clone(),
    };
    let mut sink = open_sink(&target)?;
    let mut sessions = Vec::with_capacity(cfg.sources.len());
    for s in &cfg.sources {
        let source = s.live.name();
        let market = s.live.market().name();
        sessions.push(sink.begin_session(&NewSession {
            source: &source,
            symbol: s.live.symbol(),
            market,
            exchange_info: s.exchange_info.as_deref(),
        })?);
    }
    Ok(Open {
        sink,
        name: target.display(),
        sessions,
        day: day_of(now_ns),
    })
}

/// Records until every source ends or `stop` is raised; `status` gets the status
/// every `status_every`. Returns the final status and the sessions written (of the
/// last file with rotation).
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or written (disk full,
/// read-only, server gone): the sources are stopped, and what was committed stays.
pub fn record(
    cfg: &RecordConfig,
    stop: Arc<AtomicBool>,
    mut status: impl FnMut(&RecordStatus),
) -> Result<(RecordStatus, Vec<i64>), StoreError> {
    if cfg.rotate.is_some() && matches!(cfg.target, Target::Postgres(_)) {
        return Err(StoreError::Unsupported(
            "--rotate applies to SQLite files; PostgreSQL keeps one database".into(),
        ));
    }
    let mut file = open_file(cfg, super::wall_ns())?;
    let (tx, rx) = sync_channel::<Item>(CHANNEL);
    let waits = Arc::new(AtomicU64::new(0));
    let mut stats: Vec<(String, Arc<LiveStats>, Arc<ReaderState>)> = Vec::new();
    let mut requests = Vec::new();
    let mut readers = Vec::new();
    for (idx, src) in cfg.sources.iter().enumerate() {
        let source = src.live.clone().source(stop.clone());
        let state = Arc::new(ReaderState::default());
        stats.push((src.live.symbol().to_string(), source.stats(), state.clone()));
        requests.push(source.snapshot_request());
        let (tx, waits, watch) = (tx.clone(), waits.clone(), src.watch.clone());
        let h = std::thread::Builder::new()
            .name(format!(
                "minerva-record-{}",
                src.live.symbol().to_ascii_lowercase()
            ))
            .spawn(move || read(source, idx, &tx, &waits, &state, watch.as_ref()))
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        readers.push(h);
    }
    drop(tx);
    let mut st = RecordStatus {
        files: vec![file.name.clone()],
        ..RecordStatus::default()
    };
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_LINES);
    let mut events: Vec<Event> = Vec::new();
    let mut oldest = Instant::now();
    let (mut next_status, mut last_lines, mut last_t) =
        (Instant::now() + cfg.status_every, 0u64, Instant::now());
    let mut last_streams: BTreeMap<String, u64> = BTreeMap::new();
    let mut result = Ok(());
    loop {
        let got = rx.recv_timeout(Duration::from_millis(50));
        let ended = matches!(got, Err(RecvTimeoutError::Disconnected));
        let take = |item: Item, batch: &mut Vec<Row>, events: &mut Vec<Event>| match item {
            Item::Line(k, mut row) => {
                row.session = file.sessions[k];
                batch.push(row);
            }
            Item::Event(k, mut e) => {
                e.session = file.sessions[k];
                events.push(e);
            }
        };
        if let Ok(item) = got {
            if batch.is_empty() && events.is_empty() {
                oldest = Instant::now();
            }
            take(item, &mut batch, &mut events);
            while batch.len() < BATCH_LINES {
                match rx.try_recv() {
                    Ok(item) => take(item, &mut batch, &mut events),
                    Err(_) => break,
                }
            }
        }
        let due = batch.len() >= BATCH_LINES || oldest.elapsed() >= BATCH_AGE || ended;
        if (!batch.is_empty() || !events.is_empty()) && due {
            if let Err(e) = file.sink.append(&batch, &events) {
                // Trading is not this thread's: stop recording, keep what is stored.
                stop.store(true, Ordering::Relaxed);
                result = Err(e);
                break;
            }
            st.batches += 1;
            st.lines += batch.len() as u64;
            for r in &batch {
                *st.per_stream.entry(r.stream.clone()).or_default() += 1;
            }
            batch.clear();
            events.clear();
            // A batch boundary: the place to move to a new file.
            let now = super::wall_ns();
            let rotate = match cfg.rotate {
                Some(Rotate::Daily) => day_of(now) != file.day,
                Some(Rotate::Size(limit)) => file.sink.bytes() >= limit,
                None => false,
            };
            if rotate && !ended {
                match rotate_file(cfg, &mut file, now, &requests) {
                    Ok(()) => st.files.push(file.name.clone()),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        if Instant::now() >= next_status || ended {
            let secs = last_t.elapsed().as_secs_f64().max(1e-9);
            st.rate = (st.lines - last_lines) as f64 / secs;
            st.stream_rates = st
                .per_stream
                .iter()
                .map(|(k, v)| {
                    let before = last_streams.get(k).copied().unwrap_or(0);
                    (k.clone(), (v - before) as f64 / secs)
                })
                .collect();
            last_streams.clone_from(&st.per_stream);
            (last_lines, last_t) = (st.lines, Instant::now());
            st.waits = waits.load(Ordering::Relaxed);
            st.sources = stats
                .iter()
                .map(|(s, l, r)| {
                    let (c, d, n, f) = l.read();
                    SourceStatus {
                        symbol: s.clone(),
                        counts: [c, d, n, f, l.stale.load(Ordering::Relaxed)],
                        gaps: r.gaps.load(Ordering::Relaxed),
                        lag_ms: r.lag_ms.load(Ordering::Relaxed),
                    }
                })
                .collect();
            st.db_bytes = file.sink.bytes();
            status(&st);
            next_status = Instant::now() + cfg.status_every;
        }
        if ended {
            break;
        }
    }
    drop(rx);
    for h in readers {
        let _ = h.join();
    }
    for s in &file.sessions {
        file.sink.end_session(*s)?;
    }
    result.map(|()| (st, file.sessions))
}

/// Closes the file's sessions and goes on in a new file; asks every reader for a
/// snapshot so the new file replays on its own.
fn rotate_file(
    cfg: &RecordConfig,
    file: &mut Open,
    now: i64,
    requests: &[Arc<AtomicBool>],
) -> Result<(), StoreError> {
    let mut next = open_file(cfg, now)?;
    let mark = |sessions: &[i64], detail: String| -> Vec<Event> {
        sessions
            .iter()
            .map(|&session| Event {
                session,
                at_ns: now,
                kind: EventKind::FileRotated,
                detail: detail.clone(),
            })
            .collect()
    };
    file.sink.append(
        &[],
        &mark(&file.sessions, format!("continues in {}", next.name)),
    )?;
    for s in &file.sessions {
        file.sink.end_session(*s)?;
    }
    next.sink.append(
        &[],
        &mark(&next.sessions, format!("continues {}", file.name)),
    )?;
    for r in requests {
        r.store(true, Ordering::Relaxed);
    }
    *file = next;
    Ok(())
}

/// A reader: frames of one source into the channel, each `<wall ns> <json>`, and
/// what happened to the source as events.
fn read(
    mut source: FeedSource,
    idx: usize,
    tx: &SyncSender<Item>,
    waits: &AtomicU64,
    state: &ReaderState,
    watch: Option<&SyncSender<Vec<u8>>>,
) {
    let stats = source.stats();
    let request = source.snapshot_request();
    let mut chain = DepthChain::default();
    let mut seen = [0u64; 6];
    let send = |item: Item| match tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Full(item)) => {
            waits.fetch_add(1, Ordering::Relaxed);
            tx.send(item).is_ok()
        }
        Err(TrySendError::Disconnected(_)) => false,
    };
    while let Some(f) = source.next_frame() {
        let wall = f.wall_ns as i64;
        // What the source did since the last frame, as events.
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = [
            r(&stats.connects),
            r(&stats.drops),
            r(&stats.snapshots),
            r(&stats.failures),
            r(&stats.stale),
            r(&stats.rotations),
        ];
        for (k, kind) in [
            EventKind::Connect,
            EventKind::Drop,
            EventKind::Snapshot,
            EventKind::Failure,
            EventKind::Stale,
            EventKind::Rotation,
        ]
        .into_iter()
        .enumerate()
        {
            if now[k] > seen[k] {
                let e = Event {
                    session: 0,
                    at_ns: wall,
                    kind,
                    detail: format!("{} so far", now[k]),
                };
                if !send(Item::Event(idx, e)) {
                    return;
                }
            }
        }
        seen = now;
        if let Some(w) = watch {
            let _ = w.try_send(f.bytes.to_vec());
        }
        let stream = stream_of(f.bytes);
        if let Some(b) = chain.message(&stream, f.bytes) {
            state.gaps.fetch_add(1, Ordering::Relaxed);
            request.store(true, Ordering::Relaxed);
            let e = Event {
                session: 0,
                at_ns: wall,
                kind: EventKind::Gap,
                detail: format!("after update {} came {}; resync asked", b.last, b.first),
            };
            if !send(Item::Event(idx, e)) {
                return;
            }
        }
        if let Some(e_ms) = crate::venues::recorded::event_ms(f.bytes) {
            state
                .lag_ms
                .store(wall / 1_000_000 - e_ms as i64, Ordering::Relaxed);
        }
        let mut line = Vec::with_capacity(f.bytes.len() + 21);
        line.extend_from_slice(f.wall_ns.to_string().as_bytes());
        line.push(b' ');
        line.extend_from_slice(f.bytes);
        let row = Row {
            session: 0,
            recv_ns: wall,
            stream,
            conn: now[0] as i64,
            line,
        };
        if !send(Item::Line(idx, row)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_flags_and_names() {
        assert_eq!("daily".parse::<Rotate>(), Ok(Rotate::Daily));
        assert_eq!("512MB".parse::<Rotate>(), Ok(Rotate::Size(512_000_000)));
        assert_eq!("2gb".parse::<Rotate>(), Ok(Rotate::Size(2_000_000_000)));
        assert_eq!("4096".parse::<Rotate>(), Ok(Rotate::Size(4096)));
        assert!("0".parse::<Rotate>().is_err());
        assert!("weekly".parse::<Rotate>().is_err());
        assert!("5XB".parse::<Rotate>().is_err());
        let tmp = tempfile::Builder::new()
            .prefix("minerva-rot-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let base = dir.join("market.db");
        // 2024-08-09T00:00:01.234Z
        let a = rotated_name(&base, 1_723_161_601_234);
        assert_eq!(a, dir.join("market-20240809-000001.db"));
        std::fs::write(&a, b"").unwrap();
        assert_eq!(
            rotated_name(&base, 1_723_161_601_234),
            dir.join("market-20240809-000001-2.db")
        );
        assert_eq!(
            day_of(1_723_161_601_234_000_000),
            day_of(1_723_247_999_000_000_000)
        );
        assert_ne!(
            day_of(1_723_161_601_234_000_000),
            day_of(1_723_248_000_000_000_000)
        );
    }
}
