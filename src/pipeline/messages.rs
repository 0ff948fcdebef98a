//! The fixed-size messages the stages pass over their rings, and the one cold helper
//! that puts a snapshot back together from its parts.

use crate::book::{BookView, VIEW_BINS};
use crate::core::{DepthChunk, DepthSnapshot, EventBody, MarketEvent, SymbolId};
use crate::signal::oracle::Intent;

/// Feed → book.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedMsg {
    /// A decoded event; `recv_ns` is the frame's receive time.
    Event(MarketEvent),
    /// A REST snapshot begins (levels follow as chunks, bids then asks, then
    /// [`FeedMsg::SnapshotEnd`]: the feed pushes a snapshot's parts together).
    SnapshotBegin {
        /// The symbol it is of (index in the feed's symbol table).
        symbol: SymbolId,
        /// `lastUpdateId`.
        last_update_id: u64,
    },
    /// Up to 32 snapshot levels (`n_bids` of them bids).
    SnapshotLevels(DepthChunk),
    /// The snapshot is complete.
    SnapshotEnd,
}

impl FeedMsg {
    /// Writes `self` into `dst` (a ring slot that holds an earlier message): a depth
    /// chunk over a depth chunk copies only the levels in use. A chunk has room for 32
    /// levels (~600 bytes) and most diffs carry a handful; consumers read a chunk's
    /// first `n_levels` levels only.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn copy_into(&self, dst: &mut FeedMsg) {
        self.copy_with(dst, true);
    }

    /// [`Self::copy_into`], a depth chunk without its levels (see
    /// [`DepthChunk::copy_head_into`]).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn copy_head_into(&self, dst: &mut FeedMsg) {
        self.copy_with(dst, false);
    }

    #[inline]
    fn copy_with(&self, dst: &mut FeedMsg, levels: bool) {
        match (self, &mut *dst) {
            (FeedMsg::Event(s), FeedMsg::Event(d)) => {
                if let (EventBody::Depth(sc), EventBody::Depth(dc)) = (&s.body, &mut d.body) {
                    d.recv_ns = s.recv_ns;
                    d.event_ms = s.event_ms;
                    d.symbol = s.symbol;
                    if levels {
                        sc.copy_into(dc);
                    } else {
                        sc.copy_head_into(dc);
                    }
                    return;
                }
            }
            (FeedMsg::SnapshotLevels(sc), FeedMsg::SnapshotLevels(dc)) => {
                sc.copy_into(dc);
                return;
            }
            _ => {}
        }
        *dst = *self;
    }
}

/// A message with the time its producer pushed it (for queueing delays).
#[derive(Debug, Clone, Copy)]
pub struct Stamped<T> {
    /// The message.
    pub msg: T,
    /// When it was pushed (ns).
    pub pushed_ns: u64,
}

impl Stamped<FeedMsg> {
    /// What a filled ring's slots first hold.
    pub const EMPTY: Self = Stamped {
        msg: FeedMsg::SnapshotEnd,
        pushed_ns: 0,
    };
}

impl Stamped<SignalMsg> {
    /// What a filled ring's slots first hold.
    pub const EMPTY: Self = Stamped {
        msg: SignalMsg {
            msg: FeedMsg::SnapshotEnd,
            frame_ns: 0,
            view: false,
        },
        pushed_ns: 0,
    };
}

impl Stamped<OrderMsg> {
    /// What a filled ring's slots first hold.
    pub const EMPTY: Self = Stamped {
        msg: OrderMsg::Market {
            msg: FeedMsg::SnapshotEnd,
            frame_ns: 0,
        },
        pushed_ns: 0,
    };
}

/// Book → gateway: an intent and the receive time of the frame that caused it.
#[derive(Debug, Clone, Copy)]
pub struct IntentMsg {
    /// The oracle's proposal.
    pub intent: Intent,
    /// Receive time of the frame that triggered it (tick-to-trade starts here).
    pub frame_ns: u64,
    /// Exchange time of that event (ms), for the risk manager's day.
    pub event_ms: u64,
    /// The symbol traded (index in the feed's symbol table).
    pub symbol: SymbolId,
}

/// The book's view as it travels to the signal: a ring of its own, a few slots deep,
/// so 4 KB views stay in cache and small messages stay small.
pub type View = BookView<VIEW_BINS>;

/// Book → signal: a market message the book handled, passed on for the signal and for
/// the exchange end (a depth chunk with its levels only when the exchange's matching
/// engine keeps its own book from them: [`Relay::Market`]).
#[derive(Debug, Clone, Copy)]
pub struct SignalMsg {
    /// The message (an event, or part of a snapshot).
    pub msg: FeedMsg,
    /// Receive time of its frame.
    pub frame_ns: u64,
    /// The book published a view after it (next in the view ring).
    pub view: bool,
}

/// Signal → gateway: intents, and the market facts the gateway needs — every market
/// message when it trades on the simulated exchange (whose matching engine keeps its
/// own book from the same data, or reads the book stage's: [`Relay`]), only the trades
/// when it trades on a venue.
///
/// Variants differ in size on purpose: a ring slot is fixed-size, and boxing the market
/// message would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum OrderMsg {
    /// An intent to trade.
    Intent(IntentMsg),
    /// A market message, in feed order (the simulated exchange's market).
    Market {
        /// The message.
        msg: FeedMsg,
        /// Receive time of its frame.
        frame_ns: u64,
    },
    /// A trade (a venue's gateway: the last price, for the open operations' value).
    Trade {
        /// Its symbol.
        symbol: SymbolId,
        /// Its price.
        price: crate::core::Ticks,
        /// Receive time of its frame.
        frame_ns: u64,
    },
}

/// What the signal stage passes on to the gateway besides intents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Every market message the book handled (the simulated exchange's feed).
    Market,
    /// Only trades (a venue's gateway reads the market from the venue itself).
    Trades,
    /// Every market message, depth chunks without their levels: the simulated
    /// exchange reads the book stage's book, lent to it on one thread (a backtest).
    Lent,
}

/// Builds a REST snapshot back from its fixed-size parts. Cold: allocates, on resync.
#[derive(Debug, Default)]
pub struct SnapshotParts(Option<DepthSnapshot>, SymbolId);

impl SnapshotParts {
    /// The symbol of the snapshot being built, or last built.
    pub fn symbol(&self) -> SymbolId {
        self.1
    }

    /// Takes one part; returns the snapshot when it is complete.
    pub fn on_msg(&mut self, m: &FeedMsg) -> Option<DepthSnapshot> {
        match m {
            FeedMsg::SnapshotBegin {
                symbol,
                last_update_id,
            } => {
                self.1 = *symbol;
                self.0 = Some(DepthSnapshot {
                    last_update_id: *last_update_id,
                    event_ms: None,
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
                None
            }
            FeedMsg::SnapshotLevels(c) => {
                if let Some(s) = self.0.as_mut() {
                    s.bids.extend_from_slice(c.bids());
                    s.asks.extend_from_slice(c.asks());
                }
                None
            }
            FeedMsg::SnapshotEnd => self.0.take(),
            FeedMsg::Event(_) => None,
        }
    }
}
