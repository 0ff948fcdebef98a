//! `minerva record`: live market streams into a recording database.
//!
//! One reader thread per symbol runs the live source (subscription, REST snapshot,
//! resync after gaps, reconnection, the 24 h rotation) and hands every frame, stamped
//! with its wall-clock receive time, to the writer through a bounded channel; the
//! writer (the calling thread) stores them in transactions of at most 20,000 lines or
//! 200 ms. A writer that falls behind makes the readers wait (counted) rather than
//! lose a line: the exchange's socket buffers meanwhile, and a session it drops is
//! reconnected and resynchronised like any other. Each symbol is its own session, its
//! lines `<recv_ns> <json>` as hftbacktest records them, so the database replays
//! exactly like such files.

use super::{Row, Store, StoreError, stream_of};
use crate::feed::live::{LiveConfig, LiveSource, LiveStats};
use crate::pipeline::stages::Source;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The database (created when absent).
    pub db: PathBuf,
    /// One live source per symbol.
    pub sources: Vec<LiveConfig>,
    /// How often the status callback runs.
    pub status_every: Duration,
}

/// Lines in flight between the readers and the writer at most.
const CHANNEL: usize = 65_536;
/// Lines per transaction at most.
const BATCH_LINES: usize = 20_000;
/// A transaction at least this often while lines come.
const BATCH_AGE: Duration = Duration::from_millis(200);

/// Where a recording stands.
#[derive(Debug, Clone, Default)]
pub struct RecordStatus {
    /// Lines stored.
    pub lines: u64,
    /// Lines stored per stream.
    pub per_stream: BTreeMap<String, u64>,
    /// Lines per second since the last status.
    pub rate: f64,
    /// Times a reader waited for the writer.
    pub waits: u64,
    /// Per source: (connects, drops, snapshots, failures, stale sessions).
    pub sources: Vec<(String, [u64; 5])>,
    /// The database's size on disk, bytes.
    pub db_bytes: u64,
    /// Transactions committed.
    pub batches: u64,
}

impl RecordStatus {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        let streams: Vec<String> = self
            .per_stream
            .iter()
            .map(|(k, v)| format!("{} {v}", if k.is_empty() { "(other)" } else { k }))
            .collect();
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|(s, c)| {
                format!(
                    "{s}: {} sessions, {} drops, {} snapshots, {} stale",
                    c[0], c[1], c[2], c[4]
                )
            })
            .collect();
        format!(
            "{} lines ({:.0}/s) · {} · {} · db {:.1} MB · {} batches · writer waits {}",
            self.lines,
            self.rate,
            streams.join(", "),
            sources.join("; "),
            self.db_bytes as f64 / 1e6,
            self.batches,
            self.waits
        )
    }
}

/// Records until every source ends or `stop` is raised; `status` gets the status
/// every `status_every`. Returns the final status and the sessions written.
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or written (disk full,
/// read-only): the sources are stopped, and what was committed stays.
pub fn record(
    cfg: &RecordConfig,
    stop: Arc<AtomicBool>,
    mut status: impl FnMut(&RecordStatus),
) -> Result<(RecordStatus, Vec<i64>), StoreError> {
    let mut store = Store::open(&cfg.db)?;
    let (tx, rx) = sync_channel::<Row>(CHANNEL);
    let waits = Arc::new(AtomicU64::new(0));
    let mut sessions = Vec::new();
    let mut stats: Vec<(String, Arc<LiveStats>)> = Vec::new();
    let mut readers = Vec::new();
    for src in &cfg.sources {
        let name = format!("{}/{}", src.host, src.symbol);
        let session = store.begin_session(&name)?;
        sessions.push(session);
        let source = LiveSource::new(src.clone(), stop.clone());
        stats.push((src.symbol.clone(), source.stats()));
        let (tx, waits) = (tx.clone(), waits.clone());
        let h = std::thread::Builder::new()
            .name(format!(
                "minerva-record-{}",
                src.symbol.to_ascii_lowercase()
            ))
            .spawn(move || read(source, session, tx, &waits))
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        readers.push(h);
    }
    drop(tx);
    let mut st = RecordStatus::default();
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_LINES);
    let mut oldest = Instant::now();
    let (mut next_status, mut last_lines, mut last_t) =
        (Instant::now() + cfg.status_every, 0u64, Instant::now());
    let mut result = Ok(());
    loop {
        let got = rx.recv_timeout(Duration::from_millis(50));
        let ended = matches!(got, Err(RecvTimeoutError::Disconnected));
        if let Ok(row) = got {
            if batch.is_empty() {
                oldest = Instant::now();
            }
            batch.push(row);
            while batch.len() < BATCH_LINES {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        if !batch.is_empty()
            && (batch.len() >= BATCH_LINES || oldest.elapsed() >= BATCH_AGE || ended)
        {
            if let Err(e) = store.append(&batch) {
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
        }
        if Instant::now() >= next_status || ended {
            let secs = last_t.elapsed().as_secs_f64().max(1e-9);
            st.rate = (st.lines - last_lines) as f64 / secs;
            (last_lines, last_t) = (st.lines, Instant::now());
            st.waits = waits.load(Ordering::Relaxed);
            st.sources = stats
                .iter()
                .map(|(s, l)| {
                    let (c, d, n, f) = l.read();
                    (s.clone(), [c, d, n, f, l.stale.load(Ordering::Relaxed)])
                })
                .collect();
            st.db_bytes = ["", "-wal"]
                .iter()
                .filter_map(|x| std::fs::metadata(format!("{}{x}", cfg.db.display())).ok())
                .map(|m| m.len())
                .sum();
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
    for s in &sessions {
        store.end_session(*s)?;
    }
    result.map(|()| (st, sessions))
}

/// A reader: frames of one source into the channel, each `<wall ns> <json>`.
fn read(
    mut source: LiveSource,
    session: i64,
    tx: std::sync::mpsc::SyncSender<Row>,
    waits: &AtomicU64,
) {
    while let Some(f) = source.next_frame() {
        let mut line = Vec::with_capacity(f.bytes.len() + 21);
        line.extend_from_slice(f.wall_ns.to_string().as_bytes());
        line.push(b' ');
        line.extend_from_slice(f.bytes);
        let row = Row {
            session,
            recv_ns: f.wall_ns as i64,
            stream: stream_of(f.bytes),
            line,
        };
        match tx.try_send(row) {
            Ok(()) => {}
            Err(TrySendError::Full(row)) => {
                waits.fetch_add(1, Ordering::Relaxed);
                if tx.send(row).is_err() {
                    return;
                }
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}
