//! One message on a tape: a fixed [`RECORD`]-byte little-endian record, written by
//! [`encode`] and read in place by [`Rec`]. The offsets below are the one definition
//! of the layout (the file's version names it).
//!
//! ```text
//! 0      tag (DEPTH, TRADE, AGG_TRADE, MARK_PRICE, SNAPSHOT_BEGIN, _LEVELS, _END)
//! events: 1 symbol u16 · 3 recv_ns u64 · 11 event_ms u64 · 19.. the body
//!   depth      19 first_id · 27 last_id · 35 prev_last_id · 43 transact_ms ·
//!              51 flags u8 · 52 n_bids u8 · 53 n_levels u8 · 54 first level u32
//!   trade      19 trade_id · 27 price · 35 qty · 43 trade_ms · 51 buyer_is_maker u8
//!   aggTrade   19 agg_id · 27 first_trade_id · 35 last_trade_id · 43 price · 51 qty ·
//!              59 trade_ms · 67 buyer_is_maker u8
//!   markPrice  19 mark · 27 index · 35 settle · 43 funding_rate · 51 next_funding_ms
//! snapshot begin: 1 last_update_id u64; levels: 1 n_bids · 2 n · 3 first level u32
//! ```
//!
//! Levels live in their own column, [`LEVEL`] bytes each (price ticks i64, qty lots i64).

use crate::core::{AggTrade, Dec8, EventBody, Level, Lots, MarkPrice, SymbolId, Ticks, Trade};
use crate::pipeline::FeedMsg;

/// Bytes of one message record.
pub const RECORD: usize = 80;
/// Bytes of one level.
pub const LEVEL: usize = 16;

pub const DEPTH: u8 = 1;
pub const TRADE: u8 = 2;
pub const AGG_TRADE: u8 = 3;
pub const MARK_PRICE: u8 = 4;
pub const SNAPSHOT_BEGIN: u8 = 5;
pub const SNAPSHOT_LEVELS: u8 = 6;
pub const SNAPSHOT_END: u8 = 7;

const SYMBOL: usize = 1;
const RECV: usize = 3;
const EVENT: usize = 11;
/// Where an event's body starts.
const BODY: usize = 19;

#[inline]
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn put(r: &mut [u8; RECORD], at: usize, bytes: &[u8]) {
    r[at..at + bytes.len()].copy_from_slice(bytes);
}

fn put_u64s(r: &mut [u8; RECORD], at: usize, vs: &[u64]) {
    for (i, v) in vs.iter().enumerate() {
        put(r, at + 8 * i, &v.to_le_bytes());
    }
}

/// Writes `m` into `r` (zeroed), its levels to be stored from level `start` on; gives
/// the levels to store. `None` for what a tape leaves out (book tickers, candles).
pub fn encode<'m>(
    m: &'m FeedMsg,
    start: u32,
    r: &mut [u8; RECORD],
) -> Option<(&'m [Level], usize)> {
    let mut levels: (&[Level], usize) = (&[], 0);
    match m {
        FeedMsg::Event(ev) => {
            let tag = match &ev.body {
                EventBody::Depth(c) => {
                    put_u64s(
                        r,
                        BODY,
                        &[c.first_id, c.last_id, c.prev_last_id, c.transact_ms],
                    );
                    put(r, BODY + 32, &[c.flags, c.n_bids, c.n_levels]);
                    put(r, BODY + 35, &start.to_le_bytes());
                    levels = (&c.levels[..], c.n_levels as usize);
                    DEPTH
                }
                EventBody::Trade(t) => {
                    put_u64s(
                        r,
                        BODY,
                        &[t.trade_id, t.price.0 as u64, t.qty.0 as u64, t.trade_ms],
                    );
                    put(r, BODY + 32, &[u8::from(t.buyer_is_maker)]);
                    TRADE
                }
                EventBody::AggTrade(t) => {
                    put_u64s(
                        r,
                        BODY,
                        &[
                            t.agg_id,
                            t.first_trade_id,
                            t.last_trade_id,
                            t.price.0 as u64,
                            t.qty.0 as u64,
                            t.trade_ms,
                        ],
                    );
                    put(r, BODY + 48, &[u8::from(t.buyer_is_maker)]);
                    AGG_TRADE
                }
                EventBody::MarkPrice(p) => {
                    put_u64s(
                        r,
                        BODY,
                        &[
                            p.mark.0 as u64,
                            p.index.0 as u64,
                            p.settle.0 as u64,
                            p.funding_rate.0 as u64,
                            p.next_funding_ms,
                        ],
                    );
                    MARK_PRICE
                }
                EventBody::BookTicker(_) | EventBody::Kline(_) => return None,
            };
            r[0] = tag;
            put(r, SYMBOL, &ev.symbol.0.to_le_bytes());
            put_u64s(r, RECV, &[ev.recv_ns, ev.event_ms]);
        }
        FeedMsg::SnapshotBegin { last_update_id, .. } => {
            r[0] = SNAPSHOT_BEGIN;
            put_u64s(r, 1, &[*last_update_id]);
        }
        FeedMsg::SnapshotLevels(c) => {
            r[0] = SNAPSHOT_LEVELS;
            put(r, 1, &[c.n_bids, c.n_levels]);
            put(r, 3, &start.to_le_bytes());
            levels = (&c.levels[..], c.n_levels as usize);
        }
        FeedMsg::SnapshotEnd => r[0] = SNAPSHOT_END,
    }
    Some(levels)
}

/// One record, read in place.
#[derive(Clone, Copy)]
pub struct Rec<'a>(pub &'a [u8]);

impl Rec<'_> {
    #[inline]
    pub fn tag(self) -> u8 {
        self.0[0]
    }
    #[inline]
    fn u64(self, at: usize) -> u64 {
        u64_at(self.0, at)
    }
    #[inline]
    fn i64(self, at: usize) -> i64 {
        self.u64(at) as i64
    }
    #[inline]
    pub fn symbol(self) -> SymbolId {
        SymbolId(u16::from_le_bytes([self.0[SYMBOL], self.0[SYMBOL + 1]]))
    }
    #[inline]
    pub fn recv_ns(self) -> u64 {
        self.u64(RECV)
    }
    #[inline]
    pub fn event_ms(self) -> u64 {
        self.u64(EVENT)
    }
    #[inline]
    pub fn first_id(self) -> u64 {
        self.u64(BODY)
    }
    #[inline]
    pub fn last_id(self) -> u64 {
        self.u64(BODY + 8)
    }
    #[inline]
    pub fn prev_last_id(self) -> u64 {
        self.u64(BODY + 16)
    }
    #[inline]
    pub fn transact_ms(self) -> u64 {
        self.u64(BODY + 24)
    }
    #[inline]
    pub fn flags(self) -> u8 {
        self.0[BODY + 32]
    }
    /// A depth record's (bids, levels, first level).
    #[inline]
    pub fn depth_levels(self) -> (u8, u8, u32) {
        (
            self.0[BODY + 33],
            self.0[BODY + 34],
            u32_at(self.0, BODY + 35),
        )
    }
    #[inline]
    pub fn snapshot_id(self) -> u64 {
        self.u64(1)
    }
    /// A snapshot levels record's (bids, levels, first level).
    #[inline]
    pub fn snapshot_levels(self) -> (u8, u8, u32) {
        (self.0[1], self.0[2], u32_at(self.0, 3))
    }

    /// The levels this record names, `(first, count, bids)`, if any.
    pub fn level_range(self) -> Option<(u32, u8, u8)> {
        match self.tag() {
            DEPTH => {
                let (b, n, s) = self.depth_levels();
                Some((s, n, b))
            }
            SNAPSHOT_LEVELS => {
                let (b, n, s) = self.snapshot_levels();
                Some((s, n, b))
            }
            _ => None,
        }
    }

    /// A trade's, aggregated trade's or mark price's body; `None` for other tags.
    #[inline]
    pub fn small_body(self) -> Option<EventBody> {
        let b = BODY;
        Some(match self.tag() {
            TRADE => EventBody::Trade(Trade {
                trade_id: self.u64(b),
                price: Ticks(self.i64(b + 8)),
                qty: Lots(self.i64(b + 16)),
                trade_ms: self.u64(b + 24),
                buyer_is_maker: self.0[b + 32] != 0,
            }),
            AGG_TRADE => EventBody::AggTrade(AggTrade {
                agg_id: self.u64(b),
                first_trade_id: self.u64(b + 8),
                last_trade_id: self.u64(b + 16),
                price: Ticks(self.i64(b + 24)),
                qty: Lots(self.i64(b + 32)),
                trade_ms: self.u64(b + 40),
                buyer_is_maker: self.0[b + 48] != 0,
            }),
            MARK_PRICE => EventBody::MarkPrice(MarkPrice {
                mark: Dec8(self.i64(b)),
                index: Dec8(self.i64(b + 8)),
                settle: Dec8(self.i64(b + 16)),
                funding_rate: Dec8(self.i64(b + 24)),
                next_funding_ms: self.u64(b + 32),
            }),
            _ => return None,
        })
    }
}
