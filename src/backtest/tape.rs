//! A decoded recording: the feed stage's output for a session, packed, so backtests
//! after the first skip JSON decoding (the genetic algorithm runs thousands of them on
//! the same data; hftbacktest converts its input to event arrays for the same reason).
//!
//! The tape keeps what reaches the book, the signal and the exchange: depth updates,
//! trades, aggregated trades, mark prices and REST snapshots. Book tickers and candles
//! are dropped: the book only cross-checks tickers (it reports, never trades on them),
//! and the signal and the exchange never see either. A backtest on a tape sends the
//! same orders as one on the frames it came from (tests/backtest.rs). `minerva tape
//! build` persists a tape (`file`: a versioned, checksummed file on the grid it was
//! decoded for) so later runs skip decoding altogether (tests/tape.rs).
//!
//! In memory a tape *is* its file's payload: three columns of little-endian bytes
//! (each message's recorded time, fixed-size message records, the levels), owned when
//! just decoded or sent by a queue, memory-mapped when read from a file. A file is
//! thus read in place, never unpacked into a second copy (`record` is the one layout).

mod file;
mod record;

pub use file::{TapeFileError, VERSION as TAPE_VERSION};

use crate::core::{DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, Lots, MarketEvent, SymbolId, Ticks};
use crate::feed::RecordedFrames;
use crate::pipeline::ring;
use crate::pipeline::wait::Wait;
use crate::pipeline::{FeedMsg, FeedStage};
use record::{LEVEL, RECORD, Rec};
use std::sync::Arc;

/// The bytes a tape reads: its own, or a tape file mapped into memory.
#[derive(Debug)]
enum Bytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// Decoded messages of a recording, in order.
#[derive(Debug, Clone)]
pub struct Tape {
    bytes: Arc<Bytes>,
    /// Where the columns start in `bytes`: recorded times, records, levels.
    at_col: usize,
    rec_col: usize,
    level_col: usize,
    n_msgs: usize,
    n_levels: usize,
    /// Frames read.
    pub frames: u64,
    /// Frames that could not be decoded (skipped, as the feed stage skips them).
    pub decode_errors: u64,
    /// Book tickers and candles left out.
    pub dropped: u64,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::from_payload(Bytes::Owned(Vec::new()), 0, 0, 0)
    }
}

/// The three columns while a tape is decoded.
#[derive(Default)]
struct Writer {
    at: Vec<u8>,
    recs: Vec<u8>,
    levels: Vec<u8>,
    n_levels: usize,
    dropped: u64,
}

impl Writer {
    fn push(&mut self, m: &FeedMsg, at_ns: u64) {
        let mut r = [0u8; RECORD];
        let (levels, n) = match record::encode(m, self.n_levels as u32, &mut r) {
            Some(x) => x,
            None => {
                self.dropped += 1;
                return;
            }
        };
        for l in levels.iter().take(n) {
            self.levels.extend_from_slice(&l.price.0.to_le_bytes());
            self.levels.extend_from_slice(&l.qty.0.to_le_bytes());
        }
        self.n_levels += n;
        self.recs.extend_from_slice(&r);
        self.at.extend_from_slice(&at_ns.to_le_bytes());
    }
}

impl Tape {
    /// Decodes `frames` (`(bytes, recorded ns)`) for `spec` with the feed stage. Cold.
    pub fn record(frames: &[(Vec<u8>, u64)], spec: &crate::core::SymbolSpec) -> Self {
        let mut feed = FeedStage::new(RecordedFrames::new(frames), spec);
        let (mut tx, mut rx) = ring(4096, Wait::Spin);
        let mut w = Writer::default();
        let mut k = 0;
        // One frame's messages fit in the ring; the consumer is this thread.
        while feed.step(&mut tx).unwrap_or(false) {
            let at = frames[k].1;
            k += 1;
            rx.drain(|m| w.push(&m.msg, at));
        }
        let n_msgs = w.at.len() / 8;
        let mut payload = w.at;
        payload.extend_from_slice(&w.recs);
        payload.extend_from_slice(&w.levels);
        let mut tape = Tape::from_payload(Bytes::Owned(payload), 0, n_msgs, w.n_levels);
        tape.frames = feed.frames;
        tape.decode_errors = feed.errors;
        tape.dropped = w.dropped;
        tape
    }

    /// A tape over `bytes` whose payload (checked by the caller) starts at `at`.
    fn from_payload(bytes: Bytes, at: usize, n_msgs: usize, n_levels: usize) -> Self {
        Tape {
            bytes: Arc::new(bytes),
            at_col: at,
            rec_col: at + 8 * n_msgs,
            level_col: at + (8 + RECORD) * n_msgs,
            n_msgs,
            n_levels,
            frames: 0,
            decode_errors: 0,
            dropped: 0,
        }
    }

    /// The payload: the three columns, as a tape file holds them.
    fn payload(&self) -> &[u8] {
        &self.bytes[self.at_col..self.level_col + LEVEL * self.n_levels]
    }

    /// Messages on the tape.
    pub fn len(&self) -> usize {
        self.n_msgs
    }

    /// True when nothing was decoded.
    pub fn is_empty(&self) -> bool {
        self.n_msgs == 0
    }

    /// Recorded time of message `k`'s frame, ns.
    #[inline]
    pub fn time_ns(&self, k: usize) -> Option<u64> {
        (k < self.n_msgs).then(|| record::u64_at(&self.bytes, self.at_col + 8 * k))
    }

    /// The first message recorded at or after `t_ns`.
    pub fn index_at(&self, t_ns: u64) -> usize {
        self.partition_point(|t| t < t_ns)
    }

    /// The first message recorded after `t_ns`.
    pub fn index_after(&self, t_ns: u64) -> usize {
        self.partition_point(|t| t <= t_ns)
    }

    /// The first message whose recorded time fails `before` (times never decrease).
    fn partition_point(&self, before: impl Fn(u64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.n_msgs);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.time_ns(mid).is_some_and(&before) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    #[inline]
    fn rec(&self, k: usize) -> Rec<'_> {
        debug_assert!(k < self.n_msgs, "message {k} of {}", self.n_msgs);
        let at = self.rec_col + RECORD * k;
        Rec(&self.bytes[at..at + RECORD])
    }

    /// Writes message `k` into `out` as the feed stage produced it.
    ///
    /// # Hot path: no allocation. A depth chunk is filled in place when the slot holds
    /// one already (consumers read only its first `n_levels` levels): no 600-byte
    /// value is built, zeroed and copied over.
    #[inline]
    pub fn read(&self, k: usize, out: &mut FeedMsg) {
        let r = self.rec(k);
        match r.tag() {
            record::DEPTH => {
                let c = depth_slot(out);
                c.first_id = r.first_id();
                c.last_id = r.last_id();
                c.prev_last_id = r.prev_last_id();
                c.transact_ms = r.transact_ms();
                c.flags = r.flags();
                let (n_bids, n, start) = r.depth_levels();
                self.fill_levels(c, n_bids, n, start);
                if let FeedMsg::Event(ev) = out {
                    ev.recv_ns = r.recv_ns();
                    ev.event_ms = r.event_ms();
                    ev.symbol = r.symbol();
                }
            }
            record::SNAPSHOT_BEGIN => {
                // A tape holds one symbol.
                *out = FeedMsg::SnapshotBegin {
                    symbol: crate::core::SymbolId(0),
                    last_update_id: r.snapshot_id(),
                }
            }
            record::SNAPSHOT_LEVELS => {
                *out = FeedMsg::SnapshotLevels(DepthChunk::new(0, 0, None, 0));
                if let FeedMsg::SnapshotLevels(c) = out {
                    let (n_bids, n, start) = r.snapshot_levels();
                    self.fill_levels(c, n_bids, n, start);
                }
            }
            record::SNAPSHOT_END => *out = FeedMsg::SnapshotEnd,
            // Trades, aggregated trades, mark prices (every tag was checked on load).
            _ => {
                if let Some(body) = r.small_body() {
                    *out = FeedMsg::Event(MarketEvent {
                        recv_ns: r.recv_ns(),
                        event_ms: r.event_ms(),
                        symbol: r.symbol(),
                        body,
                    });
                }
            }
        }
    }

    #[inline]
    fn fill_levels(&self, c: &mut DepthChunk, n_bids: u8, n_levels: u8, start: u32) {
        c.n_bids = n_bids;
        c.n_levels = n_levels;
        let n = (n_levels as usize).min(DEPTH_CHUNK_LEVELS);
        let at = self.level_col + LEVEL * start as usize;
        let src = &self.bytes[at..at + LEVEL * n];
        for (l, b) in c.levels[..n].iter_mut().zip(src.chunks_exact(LEVEL)) {
            l.price = Ticks(record::u64_at(b, 0) as i64);
            l.qty = Lots(record::u64_at(b, 8) as i64);
        }
    }
}

/// The depth chunk in `out`, made one first if `out` holds something else.
#[inline]
fn depth_slot(out: &mut FeedMsg) -> &mut DepthChunk {
    if !matches!(
        out,
        FeedMsg::Event(MarketEvent {
            body: EventBody::Depth(_),
            ..
        })
    ) {
        *out = FeedMsg::Event(MarketEvent {
            recv_ns: 0,
            event_ms: 0,
            symbol: SymbolId(0),
            body: EventBody::Depth(DepthChunk::new(0, 0, None, 0)),
        });
    }
    match out {
        FeedMsg::Event(MarketEvent {
            body: EventBody::Depth(c),
            ..
        }) => c,
        // Made a depth event just above.
        _ => unreachable!("depth_slot holds a depth event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DEPTH_CHUNK_LEVELS;

    /// A message with the levels past its count cleared: a tape fills a depth slot in
    /// place, and nobody reads past `n_levels`.
    fn canon(mut m: FeedMsg) -> FeedMsg {
        let c = match &mut m {
            FeedMsg::Event(MarketEvent {
                body: EventBody::Depth(c),
                ..
            })
            | FeedMsg::SnapshotLevels(c) => c,
            _ => return m,
        };
        let n = (c.n_levels as usize).min(DEPTH_CHUNK_LEVELS);
        c.levels[n..].fill(Default::default());
        m
    }

    /// Every message read from a tape — just decoded, and mapped from its file — is
    /// the feed stage's message, in order, but for the book tickers and candles left out.
    #[test]
    fn a_tape_reads_back_what_the_feed_stage_decoded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = [
            root.join("sample/hftbacktest/spot/btcusdt_20240808.gz"),
            root.join("sample/hftbacktest/spot/btcusdt_20240809.gz"),
        ];
        let opts = crate::replay::ReplayOptions {
            exchange_info: Some(root.join("sample/exchange_info_spot_btcusdt.json")),
            ..Default::default()
        };
        let spec = crate::replay::symbol_table(&files, &opts).unwrap().specs()[0].clone();
        let frames = crate::store::files::recorded_frames_of(&files, &spec.name).unwrap();

        let mut feed = FeedStage::new(RecordedFrames::new(&frames), &spec);
        let (mut tx, mut rx) = ring(4096, Wait::Spin);
        let mut want = Vec::new();
        let mut left_out = 0;
        while feed.step(&mut tx).unwrap() {
            rx.drain(|m| match m.msg {
                FeedMsg::Event(MarketEvent {
                    body: EventBody::BookTicker(_) | EventBody::Kline(_),
                    ..
                }) => left_out += 1,
                msg => want.push(canon(msg)),
            });
        }
        assert!(want.len() > 30_000 && left_out > 70_000);

        let tape = Tape::record(&frames, &spec);
        let dir = tempfile::Builder::new()
            .prefix("minerva-tape-unit-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("unit.tape");
        tape.save(&spec, &path).unwrap();
        let (mapped, _) = Tape::load(&path, Some(&spec)).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(matches!(*mapped.bytes, Bytes::Mapped(_)));
        for t in [&tape, &mapped] {
            assert_eq!((t.len(), t.dropped), (want.len(), left_out));
            let mut out = FeedMsg::SnapshotEnd;
            for (k, w) in want.iter().enumerate() {
                t.read(k, &mut out);
                assert_eq!(&canon(out), w, "message {k}");
            }
        }
        // Recorded times: every message's frame time, searchable.
        let last = tape.time_ns(tape.len() - 1).unwrap();
        assert_eq!(tape.index_after(last), tape.len());
        assert_eq!(
            mapped.index_at(tape.time_ns(1000).unwrap()),
            tape.index_at(tape.time_ns(1000).unwrap())
        );
        assert!(tape.index_at(tape.time_ns(1000).unwrap()) <= 1000);
    }
}
