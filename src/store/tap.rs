//! Recording from inside `minerva run`: a [`Tap`] wraps the pipeline's source and
//! copies every frame into a byte ring; a writer thread stores them in a recording
//! database, off the hot path.
//!
//! The feed never waits for the recorder: a frame that does not fit in the ring
//! (the writer is behind by the ring's size) is not recorded and is counted
//! (`dropped`) — the bounded spill policy. The copy is a memcpy into preallocated
//! memory: no allocation on the feed's thread.
//!
//! A run of several symbols records a session per symbol, as `minerva record
//! --symbols` does: a REST snapshot's body does not name its symbol, so one session
//! holding several symbols' snapshots could not be replayed one symbol at a time. The
//! writer sends each stream message to its symbol's session by the stream or topic
//! it names, and each snapshot by the symbol the source asked it for.

use super::{Event, EventKind, NewSession, Row, Sink, StoreError, Target, open_sink, stream_of};
use crate::feed::{Frame, Source};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Record header: frame length (u32 LE), wall-clock receive time (u64 LE), the
/// connection number (u32 LE, 0 for a recorded source) and the frame's symbol index
/// (u32 LE: a snapshot's, as the source gave it).
const HEADER: usize = 20;

/// Counters of a tap.
#[derive(Debug, Default)]
pub struct TapStats {
    /// Frames handed to the writer.
    pub frames: AtomicU64,
    /// Frames not recorded: the ring was full (the writer fell behind).
    pub dropped: AtomicU64,
    /// Lines the writer stored.
    pub stored: AtomicU64,
}

/// A source whose frames are also recorded.
pub struct Tap<S> {
    inner: S,
    ring: rtrb::Producer<u8>,
    stats: Arc<TapStats>,
    /// The live source's counters: its connection number for each frame.
    live: Option<Arc<crate::feed::LiveStats>>,
}

impl<S: Source> Source for Tap<S> {
    /// # Hot path: a copy into the ring; no allocation, no waiting.
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        let Self {
            inner,
            ring,
            stats,
            live,
        } = self;
        let f = inner.next_frame()?;
        let conn = live
            .as_ref()
            .map_or(0, |l| l.connects.load(Ordering::Relaxed) as u32);
        let n = f.bytes.len();
        match u32::try_from(n) {
            Ok(len) if ring.slots() >= HEADER + n => {
                if let Ok(mut chunk) = ring.write_chunk_uninit(HEADER + n) {
                    let mut head = [0u8; HEADER];
                    head[..4].copy_from_slice(&len.to_le_bytes());
                    head[4..12].copy_from_slice(&f.wall_ns.to_le_bytes());
                    head[12..16].copy_from_slice(&conn.to_le_bytes());
                    head[16..].copy_from_slice(&u32::from(f.symbol.0).to_le_bytes());
                    let (a, b) = chunk.as_mut_slices();
                    put(a, b, 0, &head);
                    put(a, b, HEADER, f.bytes);
                    // SAFETY: `put` wrote every one of the HEADER + n slots above.
                    unsafe { chunk.commit_all() };
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(f)
    }

    fn live_stats(&self) -> Option<Arc<crate::feed::LiveStats>> {
        self.inner.live_stats()
    }
}

/// Copies `src` to offset `at` of the slot range `a` then `b` (the ring's two parts).
#[inline]
fn put(a: &mut [MaybeUninit<u8>], b: &mut [MaybeUninit<u8>], at: usize, src: &[u8]) {
    let (la, lb) = (a.len(), b.len());
    let in_a = la.saturating_sub(at).min(src.len());
    let (first, second) = src.split_at(in_a);
    let (ia, ib) = (at.min(la), at.saturating_sub(la).min(lb));
    for (d, s) in [(&mut a[ia..], first), (&mut b[ib..], second)] {
        let k = s.len().min(d.len());
        // SAFETY: `k` bytes fit both `d` and `s`; u8 needs no drop, and the ranges are
        // distinct allocations (the ring's memory and the frame).
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), d.as_mut_ptr().cast::<u8>(), k) };
    }
}

/// The writer thread: it ends, everything stored, when the tapped source is dropped.
pub type Writer = JoinHandle<Result<(), StoreError>>;

/// Wraps `inner` so every frame is recorded into session `source_name` of `db` (a
/// SQLite file or PostgreSQL) by a writer thread with a ring of `ring_bytes`; with
/// several `symbols` (the feed's, in its order), a session per symbol. Returns the
/// source, its counters, and the writer (it ends, having stored everything, when the
/// source is dropped).
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or the thread started.
pub fn tap<S: Source>(
    inner: S,
    db: &Target,
    source_name: &str,
    symbols: &[crate::core::SymbolSpec],
    ring_bytes: usize,
) -> Result<(Tap<S>, Arc<TapStats>, Writer), StoreError> {
    let mut store = open_sink(db)?;
    let sessions = if symbols.len() > 1 {
        let mut ids = Vec::with_capacity(symbols.len());
        for spec in symbols {
            ids.push(store.begin_session(&NewSession {
                source: source_name,
                symbol: &spec.name,
                market: spec.market.name(),
                exchange_info: None,
            })?);
        }
        ids
    } else {
        vec![store.begin_session(&NewSession {
            source: source_name,
            ..NewSession::default()
        })?]
    };
    let router = Router {
        names: symbols.iter().map(|s| s.name.to_lowercase()).collect(),
    };
    let (tx, rx) = rtrb::RingBuffer::<u8>::new(ring_bytes.max(1 << 16));
    let stats = Arc::new(TapStats::default());
    let s = stats.clone();
    let writer = std::thread::Builder::new()
        .name("minerva-recorder".into())
        .spawn(move || write(store, &sessions, &router, rx, &s))
        .map_err(|e| StoreError::Thread(e.to_string()))?;
    Ok((
        Tap {
            live: inner.live_stats(),
            inner,
            ring: tx,
            stats: stats.clone(),
        },
        stats,
        writer,
    ))
}

/// Which symbol's session a frame goes to. Cold (the writer's thread).
struct Router {
    /// The symbols, lowercase, in the feed's order.
    names: Vec<String>,
}

impl Router {
    /// The index of the symbol `json` names (a Binance combined stream's
    /// `"stream":"btcusdt@…"`, a KuCoin `"topic":"/market/…:BTC-USDT"`), else `hint`
    /// (the symbol a REST snapshot was asked for).
    fn of(&self, json: &[u8], hint: usize) -> usize {
        if self.names.len() < 2 {
            return 0;
        }
        let named = |key: &[u8]| -> Option<&[u8]> {
            let at = json.windows(key.len()).position(|w| w == key)? + key.len();
            let rest = &json[at..];
            Some(&rest[..rest.iter().position(|&c| c == b'"')?])
        };
        let symbol = named(b"\"stream\":\"")
            .map(|s| s.split(|&c| c == b'@').next().unwrap_or(s))
            .or_else(|| named(b"\"topic\":\"").and_then(|t| t.rsplit(|&c| c == b':').next()))
            .or_else(|| named(b"\"s\":\""));
        symbol
            .and_then(|s| {
                self.names
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(s))
            })
            .unwrap_or(hint.min(self.names.len() - 1))
    }
}

/// The writer: records out of the ring, `<recv_ns> <json>` lines, each in its
/// symbol's session, in transactions of at most 20,000 lines or 200 ms; at the end,
/// the frames not recorded as an event of every session.
fn write(
    mut store: Box<dyn Sink>,
    sessions: &[i64],
    router: &Router,
    mut rx: rtrb::Consumer<u8>,
    stats: &TapStats,
) -> Result<(), StoreError> {
    let mut batch: Vec<Row> = Vec::with_capacity(20_000);
    let mut oldest = Instant::now();
    loop {
        let mut got = false;
        while rx.slots() >= HEADER {
            let mut head = [0u8; HEADER];
            {
                let Ok(chunk) = rx.read_chunk(HEADER) else {
                    break;
                };
                let (a, b) = chunk.as_slices();
                for (d, s) in head.iter_mut().zip(a.iter().chain(b.iter())) {
                    *d = *s;
                }
                // Peeked only: dropping the chunk without committing keeps it.
            }
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let wall = u64::from_le_bytes(head[4..12].try_into().unwrap_or([0; 8]));
            let conn = u32::from_le_bytes(head[12..16].try_into().unwrap_or([0; 4]));
            let hint = u32::from_le_bytes(head[16..].try_into().unwrap_or([0; 4])) as usize;
            let Ok(chunk) = rx.read_chunk(HEADER + len) else {
                break;
            };
            let (a, b) = chunk.as_slices();
            let mut json = Vec::with_capacity(len);
            json.extend(a.iter().chain(b.iter()).skip(HEADER).copied());
            chunk.commit_all();
            let mut line = wall.to_string().into_bytes();
            line.push(b' ');
            line.extend_from_slice(&json);
            if batch.is_empty() {
                oldest = Instant::now();
            }
            batch.push(Row {
                session: sessions[router.of(&json, hint)],
                recv_ns: wall as i64,
                stream: stream_of(&json),
                conn: i64::from(conn),
                line,
            });
            got = true;
            if batch.len() == 20_000 {
                break;
            }
        }
        let done = rx.is_abandoned() && rx.slots() == 0;
        if !batch.is_empty()
            && (batch.len() == 20_000 || oldest.elapsed() >= Duration::from_millis(200) || done)
        {
            store.append(&batch, &[])?;
            stats
                .stored
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
        if done {
            let dropped = stats.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                // Which symbols' frames they were is not known: every session says so.
                let events: Vec<Event> = sessions
                    .iter()
                    .map(|&session| Event {
                        session,
                        at_ns: super::wall_ns(),
                        kind: EventKind::NotRecorded,
                        detail: format!("{dropped} frames: the recorder fell behind"),
                    })
                    .collect();
                store.append(&[], &events)?;
            }
            for &session in sessions {
                store.end_session(session)?;
            }
            return Ok(());
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Router;

    #[test]
    fn frames_go_to_the_session_of_the_symbol_they_name() {
        let r = Router {
            names: vec!["btcusdt".into(), "ethusdt".into(), "bchsv-usdt".into()],
        };
        let binance = br#"{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","s":"ETHUSDT"}}"#;
        assert_eq!(r.of(binance, 0), 1);
        let kucoin = br#"{"type":"message","topic":"/market/level2:BCHSV-USDT","data":{}}"#;
        assert_eq!(r.of(kucoin, 0), 2);
        let raw = br#"{"e":"trade","s":"BTCUSDT","p":"1"}"#;
        assert_eq!(r.of(raw, 2), 0);
        // A REST snapshot names no symbol: the one the source asked it for.
        let snapshot = br#"{"lastUpdateId":1,"bids":[],"asks":[]}"#;
        assert_eq!(r.of(snapshot, 1), 1);
        assert_eq!(
            r.of(snapshot, 9),
            2,
            "an index past the symbols is the last"
        );
        let one = Router {
            names: vec!["btcusdt".into()],
        };
        assert_eq!(one.of(binance, 5), 0);
    }
}
