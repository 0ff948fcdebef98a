//! Fixed-size market events: what the feed decoder emits and the book consumes.
//!
//! Every event is `Copy`, has no heap data and a size fixed at compile time, so it can
//! travel through an SPSC ring. A depth diff with more levels than one event holds is
//! split into several [`DepthChunk`]s that carry the same update ids; the book applies
//! them as one update (the `FIRST`/`LAST` flags mark the ends).

use super::fixed::{Dec8, Lots, Ticks};

/// Index of a symbol in the decoder's symbol table.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SymbolId(pub u16);

/// One price level: the new absolute quantity at a price (zero deletes the level).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    /// Price in ticks.
    pub price: Ticks,
    /// New resting quantity in lots; `Lots(0)` removes the level.
    pub qty: Lots,
}

/// Levels per [`DepthChunk`]. Binance USDⓈ-M `depth@0ms` diffs rarely exceed a handful;
/// spot `depth@100ms` diffs often carry dozens, and those are split.
pub const DEPTH_CHUNK_LEVELS: usize = 32;

/// Part (or all) of one `depthUpdate`: bids first (`levels[..n_bids]`), then asks.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthChunk {
    /// `U`: first update id in the event.
    pub first_id: u64,
    /// `u`: final update id in the event.
    pub last_id: u64,
    /// `pu`: final update id of the previous event (futures only, else 0).
    pub prev_last_id: u64,
    /// `T`: transaction time in ms (futures only, else 0).
    pub transact_ms: u64,
    /// Number of bid levels at the front of `levels`.
    pub n_bids: u8,
    /// Number of valid levels.
    pub n_levels: u8,
    /// [`DepthChunk::FIRST`] | [`DepthChunk::LAST`] | [`DepthChunk::HAS_PREV`].
    pub flags: u8,
    /// Level changes, bids then asks, in message order.
    pub levels: [Level; DEPTH_CHUNK_LEVELS],
}

impl DepthChunk {
    /// This chunk starts a depth event.
    pub const FIRST: u8 = 1;
    /// This chunk ends a depth event.
    pub const LAST: u8 = 2;
    /// `prev_last_id` is present (futures `pu`).
    pub const HAS_PREV: u8 = 4;

    /// Copies this chunk into `dst` with only its `n_levels` levels (the rest of
    /// `dst.levels` keeps what it held; nobody reads past `n_levels`).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn copy_into(&self, dst: &mut DepthChunk) {
        self.copy_head_into(dst);
        dst.n_bids = self.n_bids;
        dst.n_levels = self.n_levels;
        let n = (self.n_levels as usize).min(DEPTH_CHUNK_LEVELS);
        dst.levels[..n].copy_from_slice(&self.levels[..n]);
    }

    /// Copies this chunk into `dst` without its levels: for a reader whose book has
    /// taken them already (the simulated exchange lent the book stage's book).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn copy_head_into(&self, dst: &mut DepthChunk) {
        dst.first_id = self.first_id;
        dst.last_id = self.last_id;
        dst.prev_last_id = self.prev_last_id;
        dst.transact_ms = self.transact_ms;
        dst.n_bids = 0;
        dst.n_levels = 0;
        dst.flags = self.flags;
    }

    /// An empty chunk with the given ids.
    pub fn new(first_id: u64, last_id: u64, prev_last_id: Option<u64>, transact_ms: u64) -> Self {
        Self {
            first_id,
            last_id,
            prev_last_id: prev_last_id.unwrap_or(0),
            transact_ms,
            n_bids: 0,
            n_levels: 0,
            flags: if prev_last_id.is_some() {
                Self::HAS_PREV
            } else {
                0
            },
            levels: [Level::default(); DEPTH_CHUNK_LEVELS],
        }
    }

    /// `pu`, when the market sends it.
    pub fn prev_last_id(&self) -> Option<u64> {
        (self.flags & Self::HAS_PREV != 0).then_some(self.prev_last_id)
    }

    /// True for the first chunk of an event.
    pub fn is_first(&self) -> bool {
        self.flags & Self::FIRST != 0
    }

    /// True for the last chunk of an event.
    pub fn is_last(&self) -> bool {
        self.flags & Self::LAST != 0
    }

    /// Bid level changes in this chunk.
    pub fn bids(&self) -> &[Level] {
        &self.levels[..self.n_bids as usize]
    }

    /// Ask level changes in this chunk.
    pub fn asks(&self) -> &[Level] {
        &self.levels[self.n_bids as usize..self.n_levels as usize]
    }
}

/// A single trade (`<symbol>@trade`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// `t`: trade id.
    pub trade_id: u64,
    /// `p`.
    pub price: Ticks,
    /// `q`.
    pub qty: Lots,
    /// `T`: trade time (ms).
    pub trade_ms: u64,
    /// `m`: the buyer was the maker, so the aggressor sold.
    pub buyer_is_maker: bool,
}

/// An aggregated trade (`<symbol>@aggTrade`): the fills of one taker order at one price.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggTrade {
    /// `a`: aggregate trade id.
    pub agg_id: u64,
    /// `f`: first trade id.
    pub first_trade_id: u64,
    /// `l`: last trade id.
    pub last_trade_id: u64,
    /// `p`.
    pub price: Ticks,
    /// `q`.
    pub qty: Lots,
    /// `T`: trade time (ms).
    pub trade_ms: u64,
    /// `m`: the buyer was the maker, so the aggressor sold.
    pub buyer_is_maker: bool,
}

/// Best bid and ask (`<symbol>@bookTicker`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookTicker {
    /// `u`: order-book update id (same scale as depth ids).
    pub update_id: u64,
    /// `b`.
    pub bid_price: Ticks,
    /// `B`.
    pub bid_qty: Lots,
    /// `a`.
    pub ask_price: Ticks,
    /// `A`.
    pub ask_qty: Lots,
    /// `T` (futures only, else 0).
    pub transact_ms: u64,
}

/// Kline interval (`k.i`).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlineInterval {
    /// `1s`
    S1,
    /// `1m`
    M1,
    /// `3m`
    M3,
    /// `5m`
    M5,
    /// `15m`
    M15,
    /// `30m`
    M30,
    /// `1h`
    H1,
    /// `2h`
    H2,
    /// `4h`
    H4,
    /// `6h`
    H6,
    /// `8h`
    H8,
    /// `12h`
    H12,
    /// `1d`
    D1,
    /// `3d`
    D3,
    /// `1w`
    W1,
    /// `1M`
    Mo1,
}

impl KlineInterval {
    /// Parses Binance's interval names.
    pub fn parse(s: &[u8]) -> Option<Self> {
        use KlineInterval::*;
        Some(match s {
            b"1s" => S1,
            b"1m" => M1,
            b"3m" => M3,
            b"5m" => M5,
            b"15m" => M15,
            b"30m" => M30,
            b"1h" => H1,
            b"2h" => H2,
            b"4h" => H4,
            b"6h" => H6,
            b"8h" => H8,
            b"12h" => H12,
            b"1d" => D1,
            b"3d" => D3,
            b"1w" => W1,
            b"1M" => Mo1,
            _ => return None,
        })
    }
}

/// A candlestick update (`<symbol>@kline_<interval>`); final when `closed`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kline {
    /// `t`: open time (ms).
    pub open_ms: u64,
    /// `T`: close time (ms).
    pub close_ms: u64,
    /// `f`: first trade id (-1 when no trade).
    pub first_trade_id: i64,
    /// `L`: last trade id (-1 when no trade).
    pub last_trade_id: i64,
    /// `o`.
    pub open: Ticks,
    /// `h`.
    pub high: Ticks,
    /// `l`.
    pub low: Ticks,
    /// `c`.
    pub close: Ticks,
    /// `v`: base volume.
    pub volume: Lots,
    /// `V`: taker buy base volume (the makers' sells).
    pub taker_buy_volume: Lots,
    /// `q`: quote volume.
    pub quote_volume: Dec8,
    /// `Q`: taker buy quote volume.
    pub taker_buy_quote_volume: Dec8,
    /// `n`: number of trades.
    pub trades: u64,
    /// `i`.
    pub interval: KlineInterval,
    /// `x`: the candle is closed.
    pub closed: bool,
}

/// Mark price and funding (`<symbol>@markPrice`), futures only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkPrice {
    /// `p`: mark price (not on the tick grid).
    pub mark: Dec8,
    /// `i`: index price.
    pub index: Dec8,
    /// `P`: estimated settle price.
    pub settle: Dec8,
    /// `r`: funding rate (signed; COIN-M delivery contracts send `""`, read as 0).
    pub funding_rate: Dec8,
    /// `T`: next funding time (ms).
    pub next_funding_ms: u64,
}

/// The payload of a [`MarketEvent`].
///
/// Variants differ in size on purpose: every event occupies one fixed-size ring slot,
/// and boxing the large one would put an allocation on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventBody {
    /// Part or all of a diff-depth update.
    Depth(DepthChunk),
    /// A trade.
    Trade(Trade),
    /// An aggregated trade.
    AggTrade(AggTrade),
    /// Best bid/ask.
    BookTicker(BookTicker),
    /// A candle update.
    Kline(Kline),
    /// Mark price and funding.
    MarkPrice(MarkPrice),
}

/// One decoded market-data event for one symbol.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketEvent {
    /// Local receive time (ns; monotonic live, recorded time in replay).
    pub recv_ns: u64,
    /// `E`: exchange event time (ms), 0 when the message has none (spot bookTicker).
    pub event_ms: u64,
    /// Symbol index in the decoder's table.
    pub symbol: SymbolId,
    /// The payload.
    pub body: EventBody,
}

/// The exchange's time as a stream shows it: an event's own time, or, for an event
/// that carries none (KuCoin's level-2 updates recorded before KuCoin added `time`,
/// Binance spot bookTickers), the latest time an event of the stream carried. What the
/// strategy's windows and decisions are timed by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeClock {
    last_ms: u64,
}

impl ExchangeClock {
    /// `ev`'s exchange time, ms (0 until any event carried one).
    #[inline]
    pub fn on_event(&mut self, ev: &MarketEvent) -> u64 {
        let own = match ev.body {
            EventBody::Trade(t) if ev.event_ms == 0 => t.trade_ms,
            EventBody::AggTrade(t) if ev.event_ms == 0 => t.trade_ms,
            _ => ev.event_ms,
        };
        if own > 0 {
            self.last_ms = self.last_ms.max(own);
            own
        } else {
            self.last_ms
        }
    }
}

// Pinned so a ring slot's size never changes by accident.
const _: () = assert!(std::mem::size_of::<MarketEvent>() <= 600);
const _: () = assert!(std::mem::size_of::<Level>() == 16);

/// A depth snapshot on a symbol's grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthSnapshot {
    /// Update id the snapshot is consistent with (`L` in Binance's procedure; KuCoin's `sequence`).
    pub last_update_id: u64,
    /// Message time (futures), ms.
    pub event_ms: Option<u64>,
    /// Bid levels as sent (best first).
    pub bids: Vec<Level>,
    /// Ask levels as sent (best first).
    pub asks: Vec<Level>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event_ms: u64, body: EventBody) -> MarketEvent {
        MarketEvent {
            recv_ns: 0,
            event_ms,
            symbol: SymbolId(0),
            body,
        }
    }

    #[test]
    fn events_without_a_time_take_the_latest_seen() {
        let depth = EventBody::Depth(DepthChunk::new(1, 1, None, 0));
        let trade = EventBody::Trade(Trade {
            trade_id: 1,
            price: Ticks(1),
            qty: Lots(1),
            trade_ms: 2_000,
            buyer_is_maker: false,
        });
        let mut c = ExchangeClock::default();
        assert_eq!(c.on_event(&ev(0, depth)), 0, "nothing seen yet");
        assert_eq!(c.on_event(&ev(0, trade)), 2_000, "a trade's own time");
        assert_eq!(c.on_event(&ev(0, depth)), 2_000);
        // An event's own time wins even when it runs behind (Binance's `E` is not
        // monotone across streams), and never moves the clock back.
        assert_eq!(c.on_event(&ev(1_500, depth)), 1_500);
        assert_eq!(c.on_event(&ev(0, depth)), 2_000);
        assert_eq!(c.on_event(&ev(3_000, depth)), 3_000);
        assert_eq!(c.on_event(&ev(0, depth)), 3_000);
    }
}
