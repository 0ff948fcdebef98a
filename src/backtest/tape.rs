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

mod file;

pub use file::{TapeFileError, VERSION as TAPE_VERSION};

use crate::core::{
    AggTrade, DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, Level, MarkPrice, MarketEvent, SymbolId,
    SymbolSpec, Trade,
};
use crate::feed::RecordedFrames;
use crate::pipeline::ring;
use crate::pipeline::wait::Wait;
use crate::pipeline::{FeedMsg, FeedStage};

#[derive(Debug, Clone, Copy)]
enum Body {
    Depth {
        first_id: u64,
        last_id: u64,
        prev_last_id: u64,
        transact_ms: u64,
        flags: u8,
        n_bids: u8,
        n_levels: u8,
        start: u32,
    },
    Trade(Trade),
    AggTrade(AggTrade),
    MarkPrice(MarkPrice),
}

#[derive(Debug, Clone, Copy)]
enum Packed {
    Event {
        recv_ns: u64,
        event_ms: u64,
        symbol: SymbolId,
        body: Body,
    },
    SnapshotBegin(u64),
    SnapshotLevels {
        n_bids: u8,
        n: u8,
        start: u32,
    },
    SnapshotEnd,
}

/// Decoded messages of a recording, in order.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    msgs: Vec<Packed>,
    /// Recorded time of the frame each message came from, ns.
    at_ns: Vec<u64>,
    levels: Vec<Level>,
    /// Frames read.
    pub frames: u64,
    /// Frames that could not be decoded (skipped, as the feed stage skips them).
    pub decode_errors: u64,
    /// Book tickers and candles left out.
    pub dropped: u64,
}

impl Tape {
    /// Decodes `frames` (`(bytes, recorded ns)`) for `spec` with the feed stage. Cold.
    pub fn record(frames: &[(Vec<u8>, u64)], spec: &SymbolSpec) -> Self {
        let mut feed = FeedStage::new(RecordedFrames::new(frames), spec);
        let (mut tx, mut rx) = ring(4096, Wait::Spin);
        let mut tape = Tape::default();
        let mut k = 0;
        // One frame's messages fit in the ring; the consumer is this thread.
        while feed.step(&mut tx).unwrap_or(false) {
            let at = frames[k].1;
            k += 1;
            rx.drain(|m| tape.push(&m.msg, at));
        }
        tape.frames = feed.frames;
        tape.decode_errors = feed.errors;
        tape
    }

    fn push(&mut self, m: &FeedMsg, at_ns: u64) {
        let start = self.levels.len() as u32;
        let packed = match m {
            FeedMsg::Event(ev) => {
                let body = match &ev.body {
                    EventBody::Depth(c) => {
                        self.levels
                            .extend_from_slice(&c.levels[..c.n_levels as usize]);
                        Body::Depth {
                            first_id: c.first_id,
                            last_id: c.last_id,
                            prev_last_id: c.prev_last_id,
                            transact_ms: c.transact_ms,
                            flags: c.flags,
                            n_bids: c.n_bids,
                            n_levels: c.n_levels,
                            start,
                        }
                    }
                    EventBody::Trade(t) => Body::Trade(*t),
                    EventBody::AggTrade(t) => Body::AggTrade(*t),
                    EventBody::MarkPrice(p) => Body::MarkPrice(*p),
                    EventBody::BookTicker(_) | EventBody::Kline(_) => {
                        self.dropped += 1;
                        return;
                    }
                };
                Packed::Event {
                    recv_ns: ev.recv_ns,
                    event_ms: ev.event_ms,
                    symbol: ev.symbol,
                    body,
                }
            }
            FeedMsg::SnapshotBegin { last_update_id } => Packed::SnapshotBegin(*last_update_id),
            FeedMsg::SnapshotLevels(c) => {
                self.levels
                    .extend_from_slice(&c.levels[..c.n_levels as usize]);
                Packed::SnapshotLevels {
                    n_bids: c.n_bids,
                    n: c.n_levels,
                    start,
                }
            }
            FeedMsg::SnapshotEnd => Packed::SnapshotEnd,
        };
        self.msgs.push(packed);
        self.at_ns.push(at_ns);
    }

    /// Messages on the tape.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// True when nothing was decoded.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Recorded time of message `k`'s frame, ns.
    pub fn time_ns(&self, k: usize) -> Option<u64> {
        self.at_ns.get(k).copied()
    }

    /// The first message recorded at or after `t_ns`.
    pub fn index_at(&self, t_ns: u64) -> usize {
        self.at_ns.partition_point(|&t| t < t_ns)
    }

    /// The first message recorded after `t_ns`.
    pub fn index_after(&self, t_ns: u64) -> usize {
        self.at_ns.partition_point(|&t| t <= t_ns)
    }

    /// Writes message `k` into `out` as the feed stage produced it.
    ///
    /// # Hot path: no allocation. A depth chunk is filled in place when the slot holds
    /// one already (consumers read only its first `n_levels` levels): no 600-byte
    /// value is built, zeroed and copied over.
    #[inline]
    pub fn read(&self, k: usize, out: &mut FeedMsg) {
        match self.msgs[k] {
            Packed::Event {
                recv_ns,
                event_ms,
                symbol,
                body:
                    Body::Depth {
                        first_id,
                        last_id,
                        prev_last_id,
                        transact_ms,
                        flags,
                        n_bids,
                        n_levels,
                        start,
                    },
            } => {
                let c = depth_slot(out);
                c.first_id = first_id;
                c.last_id = last_id;
                c.prev_last_id = prev_last_id;
                c.transact_ms = transact_ms;
                c.flags = flags;
                self.fill_levels(c, n_bids, n_levels, start);
                if let FeedMsg::Event(ev) = out {
                    ev.recv_ns = recv_ns;
                    ev.event_ms = event_ms;
                    ev.symbol = symbol;
                }
            }
            Packed::Event {
                recv_ns,
                event_ms,
                symbol,
                body,
            } => {
                let body = match body {
                    Body::Trade(t) => EventBody::Trade(t),
                    Body::AggTrade(t) => EventBody::AggTrade(t),
                    Body::MarkPrice(p) => EventBody::MarkPrice(p),
                    // Matched above.
                    Body::Depth { .. } => return,
                };
                *out = FeedMsg::Event(MarketEvent {
                    recv_ns,
                    event_ms,
                    symbol,
                    body,
                });
            }
            Packed::SnapshotBegin(id) => *out = FeedMsg::SnapshotBegin { last_update_id: id },
            Packed::SnapshotLevels { n_bids, n, start } => {
                *out = FeedMsg::SnapshotLevels(DepthChunk::new(0, 0, None, 0));
                if let FeedMsg::SnapshotLevels(c) = out {
                    self.fill_levels(c, n_bids, n, start);
                }
            }
            Packed::SnapshotEnd => *out = FeedMsg::SnapshotEnd,
        }
    }

    #[inline]
    fn fill_levels(&self, c: &mut DepthChunk, n_bids: u8, n_levels: u8, start: u32) {
        c.n_bids = n_bids;
        c.n_levels = n_levels;
        let (n, at) = ((n_levels as usize).min(DEPTH_CHUNK_LEVELS), start as usize);
        c.levels[..n].copy_from_slice(&self.levels[at..at + n]);
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
