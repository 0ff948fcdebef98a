//! [`RawMsg`] → fixed-size [`MarketEvent`]s: which topic it is, field checks, exact
//! decimal conversion onto the symbol's grid.
//!
//! # Hot path: no allocation; changes are converted into the decoder's preallocated
//! buffer first, so a bad change never leaves half an update in the sink.

use super::raw::{Levels, RawChange, RawData, RawMsg, Val};
use crate::core::{
    BookTicker, Dec8, EventBody, Kline, KlineInterval, Level, Lots, MarketEvent, SymbolSpec, Ticks,
    Trade,
};
use crate::venues::wire::{DecodeError, Decoded, SkipReason, SymbolTable, emit_depth};

pub(crate) struct Ctx<'s> {
    pub table: &'s SymbolTable,
    pub changes: &'s [RawChange],
    pub levels: &'s mut Vec<Level>,
    pub input: &'s [u8],
    pub recv_ns: u64,
}

impl<'a> Val<'a> {
    #[inline]
    fn req_str(self, f: &'static str) -> Result<&'a str, DecodeError> {
        match self {
            Val::Str(s) => Ok(s),
            Val::Absent => Err(DecodeError::MissingField(f)),
            _ => Err(DecodeError::WrongType(f)),
        }
    }
    #[inline]
    fn uint(self, f: &'static str) -> Result<Option<u64>, DecodeError> {
        match self {
            Val::Absent => Ok(None),
            Val::Uint(v) => Ok(Some(v)),
            _ => Err(DecodeError::WrongType(f)),
        }
    }
    #[inline]
    fn req_uint(self, f: &'static str) -> Result<u64, DecodeError> {
        self.uint(f)?.ok_or(DecodeError::MissingField(f))
    }
    /// An integer KuCoin writes as a JSON number or as a string of digits (spot
    /// tickers' and matches' `sequence`, matches' `time` in ns).
    #[inline]
    fn req_id(self, f: &'static str) -> Result<u64, DecodeError> {
        match self {
            Val::Uint(v) => Ok(v),
            Val::Str(s) => digits(s.as_bytes()).ok_or(DecodeError::WrongType(f)),
            Val::Absent => Err(DecodeError::MissingField(f)),
            Val::Other => Err(DecodeError::WrongType(f)),
        }
    }
}

/// A string of 1–19 ASCII digits as an integer.
#[inline]
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

#[inline]
fn slice(input: &[u8], (off, len): (u32, u32)) -> &[u8] {
    // Offsets come from the readers, which only record ranges inside `input`.
    &input[off as usize..off as usize + len as usize]
}

#[inline]
fn price(spec: &SymbolSpec, s: &[u8], field: &'static str) -> Result<Ticks, DecodeError> {
    spec.price
        .parse(s)
        .map_err(|err| DecodeError::BadValue { field, err })
}

#[inline]
fn qty(spec: &SymbolSpec, s: &[u8], field: &'static str) -> Result<Lots, DecodeError> {
    spec.qty
        .parse(s)
        .map_err(|err| DecodeError::BadValue { field, err })
}

/// A futures size: a whole number of contracts (`multiplier` base units each, the
/// spec's lot step), written as a JSON number or as digits.
#[inline]
fn contracts(spec: &SymbolSpec, v: Val<'_>, field: &'static str) -> Result<Lots, DecodeError> {
    match v {
        Val::Uint(n) => lots_of(spec, n, field),
        Val::Str(s) => whole_contracts(spec, s.as_bytes(), field),
        Val::Absent => Err(DecodeError::MissingField(field)),
        Val::Other => Err(DecodeError::WrongType(field)),
    }
}

/// Contracts written as digits.
#[inline]
fn whole_contracts(spec: &SymbolSpec, s: &[u8], field: &'static str) -> Result<Lots, DecodeError> {
    lots_of(spec, digits(s).ok_or(DecodeError::WrongType(field))?, field)
}

#[inline]
fn lots_of(spec: &SymbolSpec, n: u64, field: &'static str) -> Result<Lots, DecodeError> {
    crate::venues::kucoin::contracts_to_lots(spec, n).ok_or(DecodeError::BadValue {
        field,
        err: crate::core::SpecError::BadGrid("size overflows the grid"),
    })
}

/// A trade's size: contracts on futures, a decimal string of the base asset on spot.
#[inline]
fn size(spec: &SymbolSpec, v: Val<'_>, field: &'static str) -> Result<Lots, DecodeError> {
    match v {
        _ if spec.market.is_futures() => contracts(spec, v, field),
        Val::Str(s) => qty(spec, s.as_bytes(), field),
        Val::Absent => Err(DecodeError::MissingField(field)),
        _ => Err(DecodeError::WrongType(field)),
    }
}

/// The symbol: `data.symbol`, else the part of the topic after `:`.
#[inline]
fn symbol_name<'a>(d: &RawData<'a>, topic: &'a str) -> Result<&'a str, DecodeError> {
    match d.symbol {
        Val::Str(s) => Ok(s),
        Val::Absent => topic
            .split_once(':')
            .map(|(_, s)| s)
            .ok_or(DecodeError::MissingField("symbol")),
        _ => Err(DecodeError::WrongType("symbol")),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// `/market/level2` `trade.l2update`.
    SpotDepth,
    /// `/contractMarket/level2` `level2`.
    FuturesDepth,
    /// `/market/ticker` `trade.ticker`.
    Ticker,
    /// `/market/match` `trade.l3match`, `/contractMarket/execution` `match`.
    Match,
    /// `/market/candles:{sym}_{interval}` `trade.candles.update` / `.add`.
    Candle,
}

/// KuCoin's candle intervals (the topic's suffix), and their length in ms.
fn interval(name: &str) -> Option<(KlineInterval, u64)> {
    use KlineInterval::*;
    const MIN: u64 = 60_000;
    Some(match name {
        "1min" => (M1, MIN),
        "3min" => (M3, 3 * MIN),
        "5min" => (M5, 5 * MIN),
        "15min" => (M15, 15 * MIN),
        "30min" => (M30, 30 * MIN),
        "1hour" => (H1, 60 * MIN),
        "2hour" => (H2, 120 * MIN),
        "4hour" => (H4, 240 * MIN),
        "6hour" => (H6, 360 * MIN),
        "8hour" => (H8, 480 * MIN),
        "12hour" => (H12, 720 * MIN),
        "1day" => (D1, 1_440 * MIN),
        "1week" => (W1, 10_080 * MIN),
        _ => return None,
    })
}

pub(crate) fn build<F: FnMut(&MarketEvent)>(
    msg: &RawMsg<'_>,
    cx: &mut Ctx<'_>,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    // A REST level-2 snapshot recorded among the frames (`{"code":"200000","data":
    // {"sequence",…}}`): the caller reads it with the cold snapshot reader.
    if msg.typ == Val::Absent && msg.code != Val::Absent {
        if let Some(d) = msg.data.as_ref().filter(|d| d.sequence != Val::Absent) {
            let symbol = match d.symbol {
                Val::Str(s) => cx.table.lookup(s),
                _ => None,
            };
            return Ok(Decoded::Snapshot { symbol });
        }
        return Ok(Decoded::Skipped(SkipReason::UnknownType));
    }
    // A unified-account push (`obu`, `trade`): its own envelope.
    if msg.push != Val::Absent {
        return push(msg, cx, sink);
    }
    // Welcome, ack, pong and error frames carry no market data.
    if msg.typ != Val::Str("message") {
        return Ok(Decoded::Skipped(SkipReason::UnknownType));
    }
    let topic = msg.topic.req_str("topic")?;
    let kind = match (msg.subject, topic.split_once(':').map_or(topic, |(t, _)| t)) {
        (Val::Str("trade.l2update"), _) => Kind::SpotDepth,
        (Val::Str("level2"), "/contractMarket/level2") => Kind::FuturesDepth,
        (Val::Str("trade.ticker"), _) => Kind::Ticker,
        (Val::Str("trade.l3match"), _) | (Val::Str("match"), "/contractMarket/execution") => {
            Kind::Match
        }
        (Val::Str("trade.candles.update" | "trade.candles.add"), "/market/candles") => Kind::Candle,
        _ => return Ok(Decoded::Skipped(SkipReason::UnknownType)),
    };
    let Some(d) = &msg.data else {
        return Err(if msg.data_other {
            DecodeError::WrongType("data")
        } else {
            DecodeError::MissingField("data")
        });
    };
    // A candle topic names `{symbol}_{interval}`.
    let (topic_symbol, candle_interval) = match kind {
        Kind::Candle => match topic.rsplit_once('_') {
            Some((t, i)) => (t, Some(i)),
            None => return Err(DecodeError::WrongType("topic")),
        },
        _ => (topic, None),
    };
    let name = symbol_name(d, topic_symbol)?;
    let Some(id) = cx.table.lookup(name) else {
        return Ok(Decoded::Skipped(SkipReason::UnknownSymbol));
    };
    let spec = cx.table.spec(id);
    let (event_ms, body) = match kind {
        Kind::SpotDepth => return spot_depth(d, spec, id, cx, sink),
        Kind::FuturesDepth => return futures_depth(d, spec, id, cx, sink),
        Kind::Ticker => (
            d.time.uint("time")?.unwrap_or(0),
            EventBody::BookTicker(BookTicker {
                update_id: d.sequence.req_id("sequence")?,
                bid_price: price(spec, d.best_bid.req_str("bestBid")?.as_bytes(), "bestBid")?,
                bid_qty: qty(
                    spec,
                    d.best_bid_size.req_str("bestBidSize")?.as_bytes(),
                    "bestBidSize",
                )?,
                ask_price: price(spec, d.best_ask.req_str("bestAsk")?.as_bytes(), "bestAsk")?,
                ask_qty: qty(
                    spec,
                    d.best_ask_size.req_str("bestAskSize")?.as_bytes(),
                    "bestAskSize",
                )?,
                transact_ms: 0,
            }),
        ),
        Kind::Candle => {
            let Some(c) = d.candles else {
                return Err(DecodeError::MissingField("candles"));
            };
            let (interval, len_ms) = candle_interval
                .and_then(interval)
                .ok_or(DecodeError::WrongType("topic"))?;
            let text = |k: usize| slice(cx.input, c[k]);
            let open_s = digits(text(0)).ok_or(DecodeError::WrongType("candles"))?;
            let open_ms = open_s
                .checked_mul(1_000)
                .ok_or(DecodeError::WrongType("candles"))?;
            let px = |k| price(spec, text(k), "candles");
            // The turnover (quote volume, an analytics figure) comes with up to 14
            // places; a kline keeps 8 (`Dec8`), the rest cut off.
            let t = text(6);
            let t = match t.iter().position(|&c| c == b'.') {
                Some(dot) => &t[..t.len().min(dot + 9)],
                None => t,
            };
            let turnover = Dec8::parse(t).map_err(|e| DecodeError::BadValue {
                field: "candles",
                err: e.into(),
            })?;
            (
                // `time` is ns.
                d.time.uint("time")?.map_or(0, |ns| ns / 1_000_000),
                EventBody::Kline(Kline {
                    open_ms,
                    close_ms: open_ms.saturating_add(len_ms - 1),
                    first_trade_id: -1,
                    last_trade_id: -1,
                    open: px(1)?,
                    close: px(2)?,
                    high: px(3)?,
                    low: px(4)?,
                    volume: qty(spec, text(5), "candles")?,
                    taker_buy_volume: Lots(0),
                    quote_volume: turnover,
                    taker_buy_quote_volume: Dec8(0),
                    trades: 0,
                    interval,
                    // KuCoin marks no close: `trade.candles.add` opens the next one.
                    closed: false,
                }),
            )
        }
        Kind::Match => {
            // Spot writes the trade time in ns as a string (`time`), futures as a
            // number (`ts`).
            let ns = match (d.time, d.ts) {
                (Val::Absent, ts) => ts.req_id("ts")?,
                (time, _) => time.req_id("time")?,
            };
            let trade_ms = ns / 1_000_000;
            let buyer_is_maker = match d.side.req_str("side")? {
                // `side` is the taker's: a taker sell hits a resting (maker) buy.
                "sell" => true,
                "buy" => false,
                _ => return Err(DecodeError::WrongType("side")),
            };
            (
                trade_ms,
                EventBody::Trade(Trade {
                    // KuCoin's `tradeId` is a 96-bit hex id; the match's sequence is
                    // its unique, increasing number in the book's sequence space.
                    trade_id: d.sequence.req_id("sequence")?,
                    price: price(spec, d.price.req_str("price")?.as_bytes(), "price")?,
                    qty: size(spec, d.size, "size")?,
                    trade_ms,
                    buyer_is_maker,
                }),
            )
        }
    };
    sink(&MarketEvent {
        recv_ns: cx.recv_ns,
        event_ms,
        symbol: id,
        body,
    });
    Ok(Decoded::Events(1))
}

/// A spot level-2 update: bids then asks, each change's price and size onto the grid;
/// `["0","0",seq]` entries (KuCoin's internal sequence bumps) carry no level and are
/// left out, the update still advances the book's sequence.
///
/// Each change also carries its own sequence (the last change of that price inside
/// `sequenceStart..=sequenceEnd`). KuCoin's example skips changes at or below the
/// snapshot's sequence in the one update that straddles it; applying them instead
/// gives the same book, because a price's change is the last one in the range and the
/// snapshot already holds that size. So the sequence is checked (a well-formed
/// integer) and not carried into the event.
#[inline]
fn spot_depth<F: FnMut(&MarketEvent)>(
    d: &RawData<'_>,
    spec: &SymbolSpec,
    id: crate::core::SymbolId,
    cx: &mut Ctx<'_>,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    let first_id = d.sequence_start.req_uint("sequenceStart")?;
    let last_id = d.sequence_end.req_uint("sequenceEnd")?;
    let event_ms = d.time.uint("time")?.unwrap_or(0);
    let Some(ch) = d.changes else {
        return Err(DecodeError::MissingField("changes"));
    };
    depth_update(
        cx,
        [Ok(ch.bids), Ok(ch.asks)],
        (first_id, last_id, event_ms, id),
        sink,
        |input, c| {
            digits(slice(input, c.seq)).ok_or(DecodeError::WrongType("change sequence"))?;
            let p = price(spec, slice(input, c.px), "change price")?;
            if p.0 == 0 {
                return Ok(None);
            }
            let q = qty(spec, slice(input, c.size), "change size")?;
            Ok(Some(Level { price: p, qty: q }))
        },
    )
}

/// One depth update over `first..=last`: the raw changes of each side (bids, then
/// asks; a side's error is reported when its turn comes) made levels by `level`
/// (`None`: a change that carries no level), emitted in 32-level chunks.
///
/// # Hot path: no allocation (`cx.levels` has the raw scratch's capacity).
#[inline(always)]
fn depth_update<F: FnMut(&MarketEvent)>(
    cx: &mut Ctx<'_>,
    sides: [Result<(u32, u32), DecodeError>; 2],
    (first_id, last_id, event_ms, id): (u64, u64, u64, crate::core::SymbolId),
    sink: &mut F,
    mut level: impl FnMut(&[u8], &RawChange) -> Result<Option<Level>, DecodeError>,
) -> Result<Decoded, DecodeError> {
    let (changes, input) = (cx.changes, cx.input);
    cx.levels.clear();
    let mut n_bids = 0;
    for (k, side) in sides.into_iter().enumerate() {
        let (from, to) = side?;
        for c in &changes[from as usize..to as usize] {
            if let Some(l) = level(input, c)? {
                cx.levels.push(l);
            }
        }
        if k == 0 {
            n_bids = cx.levels.len();
        }
    }
    Ok(emit_depth(
        cx.levels,
        n_bids,
        (first_id, last_id, None, 0),
        (cx.recv_ns, event_ms, id),
        sink,
    ))
}

/// A futures level-2 message: one change `"price,side,size"` at one sequence, the size
/// in contracts.
#[inline]
fn futures_depth<F: FnMut(&MarketEvent)>(
    d: &RawData<'_>,
    spec: &SymbolSpec,
    id: crate::core::SymbolId,
    cx: &mut Ctx<'_>,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    let seq = d.sequence.req_uint("sequence")?;
    let event_ms = d.timestamp.uint("timestamp")?.unwrap_or(0);
    let change = d.change.req_str("change")?;
    let mut parts = change.split(',');
    let (Some(px), Some(side), Some(sz), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DecodeError::WrongType("change"));
    };
    let level = Level {
        price: price(spec, px.as_bytes(), "change price")?,
        qty: contracts(spec, Val::Str(sz), "change size")?,
    };
    let bid = match side {
        "buy" => true,
        "sell" => false,
        _ => return Err(DecodeError::WrongType("change side")),
    };
    cx.levels.clear();
    cx.levels.push(level);
    Ok(emit_depth(
        cx.levels,
        usize::from(bid),
        (seq, seq, None, 0),
        (cx.recv_ns, event_ms, id),
        sink,
    ))
}

/// A unified-account push (protocol notes §5): `obu.SPOT` / `obu.FUTURES` book
/// snapshots (read cold, like a REST snapshot) and deltas, `trade.SPOT` /
/// `trade.FUTURES` trades. Other channels are skipped.
#[inline]
fn push<F: FnMut(&MarketEvent)>(
    msg: &RawMsg<'_>,
    cx: &mut Ctx<'_>,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    let topic = msg.push.req_str("T")?;
    let (channel, trade_type) = topic.split_once('.').unwrap_or((topic, ""));
    let book = match channel {
        "obu" => true,
        "trade" => false,
        _ => return Ok(Decoded::Skipped(SkipReason::UnknownType)),
    };
    let Some(d) = &msg.d else {
        return Err(if msg.d_other {
            DecodeError::WrongType("d")
        } else {
            DecodeError::MissingField("d")
        });
    };
    let Some(id) = cx.table.lookup(d.s.req_str("s")?) else {
        return Ok(Decoded::Skipped(SkipReason::UnknownSymbol));
    };
    let spec = cx.table.spec(id);
    let futures = match trade_type {
        "SPOT" => false,
        "FUTURES" => true,
        _ => return Err(DecodeError::WrongType("T")),
    };
    if futures != spec.market.is_futures() {
        return Err(DecodeError::WrongType("T"));
    }
    // `M` is the matching engine's time in ns.
    let event_ms = d.m.uint("M")?.map_or(0, |ns| ns / 1_000_000);
    if !book {
        let buyer_is_maker = match d.taker.req_str("S")? {
            // `S` is the taker's side: a taker sell hits a resting (maker) buy.
            "sell" | "SELL" => true,
            "buy" | "BUY" => false,
            _ => return Err(DecodeError::WrongType("S")),
        };
        sink(&MarketEvent {
            recv_ns: cx.recv_ns,
            event_ms,
            symbol: id,
            body: EventBody::Trade(Trade {
                // A string on spot, a string or a number on futures.
                trade_id: d.ti.req_id("ti")?,
                price: price(spec, d.p.req_str("p")?.as_bytes(), "p")?,
                qty: size(spec, d.q, "q")?,
                trade_ms: event_ms,
                buyer_is_maker,
            }),
        });
        return Ok(Decoded::Events(1));
    }
    match msg.push_kind.req_str("t")? {
        "snapshot" => return Ok(Decoded::Snapshot { symbol: Some(id) }),
        "delta" => {}
        _ => return Err(DecodeError::WrongType("t")),
    }
    let first_id = d.o.req_uint("O")?;
    let last_id = d.c.req_uint("C")?;
    if first_id > last_id {
        return Err(DecodeError::WrongType("O"));
    }
    let range = |side: Levels, name| match side {
        Levels::At(from, to) => Ok((from, to)),
        Levels::Absent => Err(DecodeError::MissingField(name)),
        Levels::Other => Err(DecodeError::WrongType(name)),
    };
    depth_update(
        cx,
        [range(d.b, "b"), range(d.a, "a")],
        (first_id, last_id, event_ms, id),
        sink,
        |input, c| {
            let p = price(spec, slice(input, c.px), "level price")?;
            let q = if futures {
                whole_contracts(spec, slice(input, c.size), "level size")?
            } else {
                qty(spec, slice(input, c.size), "level size")?
            };
            Ok(Some(Level { price: p, qty: q }))
        },
    )
}
