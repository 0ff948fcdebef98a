//! The fields of one KuCoin market-data message as borrowed text and integers.
//!
//! Both readers (the hand-written fast path and the serde reference on sonic-rs) fill
//! a [`RawMsg`]; turning it into events (`super::build`) is shared, so the two can only
//! differ in how they read JSON — which the differential fuzz target checks.

/// Where one level-2 change's strings sit in the frame (byte offsets and lengths):
/// `[price, size, sequence]` (classic), or `[price, size]` / `[price, size, rpi size]`
/// (the unified account's `obu` levels; `seq` then holds the third string or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawChange {
    pub px: (u32, u32),
    pub size: (u32, u32),
    pub seq: (u32, u32),
}

/// One field's value. Types are checked per message type when events are built: the
/// same key has different types in different topics (`sequence` is a string in spot
/// tickers and matches, a number in futures level 2; `size` a string on spot, a number
/// of lots on futures), and a topic Minerva does not decode must be skipped, not
/// rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Val<'a> {
    #[default]
    Absent,
    /// A string without escapes.
    Str(&'a str),
    /// A non-negative integer.
    Uint(u64),
    /// Anything else (negative or fractional numbers, booleans, null, arrays,
    /// objects): never a value Minerva reads.
    Other,
}

/// The `data` object's fields Minerva reads (others are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawData<'a> {
    pub symbol: Val<'a>,
    pub sequence_start: Val<'a>,
    pub sequence_end: Val<'a>,
    pub sequence: Val<'a>,
    pub time: Val<'a>,
    pub timestamp: Val<'a>,
    pub ts: Val<'a>,
    pub price: Val<'a>,
    pub size: Val<'a>,
    pub side: Val<'a>,
    pub change: Val<'a>,
    pub best_bid: Val<'a>,
    pub best_bid_size: Val<'a>,
    pub best_ask: Val<'a>,
    pub best_ask_size: Val<'a>,
    /// `changes.bids` and `changes.asks`: ranges in the decoder's scratch.
    pub changes: Option<Changes>,
    /// A candle's seven strings (start s, open, close, high, low, volume, turnover),
    /// as offsets into the frame.
    pub candles: Option<[(u32, u32); 7]>,
    /// Unified-account (`obu`, `trade`) keys: `O` first and `C` last sequence of a
    /// book update, `M` match time (ns), `s` symbol, `p` price, `q` size, `S` taker
    /// side, `ti` trade id.
    pub o: Val<'a>,
    pub c: Val<'a>,
    pub m: Val<'a>,
    pub s: Val<'a>,
    pub p: Val<'a>,
    pub q: Val<'a>,
    pub taker: Val<'a>,
    pub ti: Val<'a>,
    /// `obu`'s `b` and `a` level arrays (a ticker's `b`/`a` are best prices: `Other`).
    pub b: Levels,
    pub a: Levels,
}

/// An `obu` side: its levels' range in the decoder's scratch, or something else under
/// the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Levels {
    #[default]
    Absent,
    At(u32, u32),
    Other,
}

/// Ranges of a level-2 update's changes in the decoder's scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Changes {
    pub bids: (u32, u32),
    pub asks: (u32, u32),
}

/// A data key Minerva reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Symbol,
    SequenceStart,
    SequenceEnd,
    Sequence,
    Time,
    Timestamp,
    Ts,
    Price,
    Size,
    Side,
    Change,
    BestBid,
    BestBidSize,
    BestAsk,
    BestAskSize,
    First,
    Last,
    MatchNs,
    S,
    P,
    Q,
    Taker,
    TradeId,
}

impl Key {
    /// The key of a `data` field, `None` for fields Minerva skips (and `changes` and
    /// `candles`, which both readers handle on their own).
    #[inline]
    pub fn of(k: &[u8]) -> Option<Key> {
        Some(match k {
            b"symbol" => Key::Symbol,
            b"sequenceStart" => Key::SequenceStart,
            b"sequenceEnd" => Key::SequenceEnd,
            b"sequence" => Key::Sequence,
            b"time" => Key::Time,
            b"timestamp" => Key::Timestamp,
            b"ts" => Key::Ts,
            b"price" => Key::Price,
            b"size" => Key::Size,
            b"side" => Key::Side,
            b"change" => Key::Change,
            b"bestBid" => Key::BestBid,
            b"bestBidSize" => Key::BestBidSize,
            b"bestAsk" => Key::BestAsk,
            b"bestAskSize" => Key::BestAskSize,
            b"O" => Key::First,
            b"C" => Key::Last,
            b"M" => Key::MatchNs,
            b"s" => Key::S,
            b"p" => Key::P,
            b"q" => Key::Q,
            b"S" => Key::Taker,
            b"ti" => Key::TradeId,
            _ => return None,
        })
    }
}

impl<'a> RawData<'a> {
    /// The slot of a key.
    #[inline]
    pub fn slot(&mut self, k: Key) -> &mut Val<'a> {
        match k {
            Key::Symbol => &mut self.symbol,
            Key::SequenceStart => &mut self.sequence_start,
            Key::SequenceEnd => &mut self.sequence_end,
            Key::Sequence => &mut self.sequence,
            Key::Time => &mut self.time,
            Key::Timestamp => &mut self.timestamp,
            Key::Ts => &mut self.ts,
            Key::Price => &mut self.price,
            Key::Size => &mut self.size,
            Key::Side => &mut self.side,
            Key::Change => &mut self.change,
            Key::BestBid => &mut self.best_bid,
            Key::BestBidSize => &mut self.best_bid_size,
            Key::BestAsk => &mut self.best_ask,
            Key::BestAskSize => &mut self.best_ask_size,
            Key::First => &mut self.o,
            Key::Last => &mut self.c,
            Key::MatchNs => &mut self.m,
            Key::S => &mut self.s,
            Key::P => &mut self.p,
            Key::Q => &mut self.q,
            Key::Taker => &mut self.taker,
            Key::TradeId => &mut self.ti,
        }
    }
}

/// The envelope: `{"type","topic","subject","data"}` (futures add `sn`, skipped), a
/// REST answer's `{"code","data"}`, or a unified-account push `{"T","t","d"}` (`P`
/// and `dp` skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawMsg<'a> {
    /// A REST answer's `code` (a level-2 snapshot recorded among the frames).
    pub code: Val<'a>,
    pub typ: Val<'a>,
    pub topic: Val<'a>,
    pub subject: Val<'a>,
    /// `data` when it is an object (welcome, ack and error frames have none, or a
    /// string there).
    pub data: Option<RawData<'a>>,
    /// `data` was present but not an object.
    pub data_other: bool,
    /// A unified-account push's topic (`obu.SPOT`, `trade.FUTURES`…).
    pub push: Val<'a>,
    /// Its kind (`snapshot`, `delta`).
    pub push_kind: Val<'a>,
    /// Its `d` when an object.
    pub d: Option<RawData<'a>>,
    /// `d` was present but not an object (an all-symbols push's array).
    pub d_other: bool,
}
