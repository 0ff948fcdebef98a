//! [`RawMsg`] → fixed-size [`MarketEvent`]s: field checks and exact decimal conversion.
//!
//! # Hot path: no allocation; levels are converted into the decoder's preallocated
//! buffer first, so a bad level never leaves half an update in the sink.

use super::raw::{RawFrame, RawKline, RawLevel, RawMsg, Val};
use super::{DecodeError, Decoded, SkipReason, SymbolTable};
use crate::core::{
    AggTrade, BookTicker, Dec8, EventBody, Kline, KlineInterval, Level, MarkPrice, MarketEvent,
    SymbolId, SymbolSpec, Trade,
};
use crate::venues::wire::emit_depth;

pub(crate) struct Ctx<'s> {
    pub table: &'s SymbolTable,
    pub raw_levels: &'s [RawLevel],
    pub levels: &'s mut Vec<Level>,
    pub input: &'s [u8],
    pub recv_ns: u64,
}

/// Typed access to a field: absent is `None`, the wrong JSON type an error.
impl<'a> Val<'a> {
    #[inline]
    fn str(self, f: &'static str) -> Result<Option<&'a str>, DecodeError> {
        match self {
            Val::Absent => Ok(None),
            Val::Str(s) => Ok(Some(s)),
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
    fn int(self, f: &'static str) -> Result<Option<i64>, DecodeError> {
        match self {
            Val::Absent => Ok(None),
            Val::Neg(v) => Ok(Some(v)),
            Val::Uint(v) => i64::try_from(v)
                .map(Some)
                .map_err(|_| DecodeError::WrongType(f)),
            _ => Err(DecodeError::WrongType(f)),
        }
    }
    #[inline]
    fn boolean(self, f: &'static str) -> Result<Option<bool>, DecodeError> {
        match self {
            Val::Absent => Ok(None),
            Val::Bool(v) => Ok(Some(v)),
            _ => Err(DecodeError::WrongType(f)),
        }
    }
    #[inline]
    fn req_str(self, f: &'static str) -> Result<&'a str, DecodeError> {
        self.str(f)?.ok_or(DecodeError::MissingField(f))
    }
    #[inline]
    fn req_uint(self, f: &'static str) -> Result<u64, DecodeError> {
        self.uint(f)?.ok_or(DecodeError::MissingField(f))
    }
    #[inline]
    fn req_bool(self, f: &'static str) -> Result<bool, DecodeError> {
        self.boolean(f)?.ok_or(DecodeError::MissingField(f))
    }
}

#[inline]
fn slice(input: &[u8], (off, len): (u32, u32)) -> &[u8] {
    // Offsets come from the parsers, which only record ranges inside `input`.
    &input[off as usize..off as usize + len as usize]
}

pub(crate) fn build<F: FnMut(&MarketEvent)>(
    frame: &RawFrame<'_>,
    cx: &mut Ctx<'_>,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    let msg = if frame.has_data {
        if frame.outer.any {
            return Err(DecodeError::MixedEnvelope);
        }
        &frame.inner
    } else {
        &frame.outer
    };

    enum Kind {
        Depth,
        Trade,
        AggTrade,
        BookTicker,
        Kline,
        MarkPrice,
    }
    let kind = match msg.e {
        Val::Str("depthUpdate") => Kind::Depth,
        Val::Str("trade") => Kind::Trade,
        Val::Str("aggTrade") => Kind::AggTrade,
        Val::Str("bookTicker") => Kind::BookTicker,
        Val::Str("kline") => Kind::Kline,
        Val::Str("markPriceUpdate") => Kind::MarkPrice,
        Val::Absent => {
            if msg.last_update_id != Val::Absent {
                let symbol = symbol_name(msg, frame.stream).and_then(|n| cx.table.lookup(n));
                return Ok(Decoded::Snapshot { symbol });
            }
            // Spot bookTicker has no `e`: recognise it by shape.
            match (msg.u, msg.b, msg.big_b) {
                (Val::Uint(_), Val::Str(_), Val::Str(_)) => Kind::BookTicker,
                _ => return Ok(Decoded::Skipped(SkipReason::UnknownType)),
            }
        }
        _ => return Ok(Decoded::Skipped(SkipReason::UnknownType)),
    };
    let Some(name) = symbol_name(msg, frame.stream) else {
        return Err(DecodeError::MissingField("s"));
    };
    let Some(id) = cx.table.lookup(name) else {
        return Ok(Decoded::Skipped(SkipReason::UnknownSymbol));
    };
    let spec = cx.table.spec(id);
    let event_ms = msg.big_e.uint("E")?.unwrap_or(0);
    let body = match kind {
        Kind::Depth => return depth(msg, spec, id, cx, event_ms, sink),
        Kind::Trade => EventBody::Trade(Trade {
            trade_id: msg.t.req_uint("t")?,
            price: price(spec, msg.p.req_str("p")?, "p")?,
            qty: qty(spec, msg.q.req_str("q")?, "q")?,
            trade_ms: msg.big_t.req_uint("T")?,
            buyer_is_maker: msg.m.req_bool("m")?,
        }),
        Kind::AggTrade => EventBody::AggTrade(AggTrade {
            agg_id: msg.a.req_uint("a")?,
            first_trade_id: msg.f.req_uint("f")?,
            last_trade_id: msg.l.req_uint("l")?,
            price: price(spec, msg.p.req_str("p")?, "p")?,
            qty: qty(spec, msg.q.req_str("q")?, "q")?,
            trade_ms: msg.big_t.req_uint("T")?,
            buyer_is_maker: msg.m.req_bool("m")?,
        }),
        Kind::BookTicker => EventBody::BookTicker(BookTicker {
            update_id: msg.u.req_uint("u")?,
            bid_price: price(spec, msg.b.req_str("b")?, "b")?,
            bid_qty: qty(spec, msg.big_b.req_str("B")?, "B")?,
            ask_price: price(spec, msg.a.req_str("a")?, "a")?,
            ask_qty: qty(spec, msg.big_a.req_str("A")?, "A")?,
            transact_ms: msg.big_t.uint("T")?.unwrap_or(0),
        }),
        Kind::Kline => {
            EventBody::Kline(kline(&msg.k.ok_or(DecodeError::MissingField("k"))?, spec)?)
        }
        Kind::MarkPrice => EventBody::MarkPrice(MarkPrice {
            mark: dec8(msg.p.req_str("p")?, "p")?,
            index: opt_dec8(msg.i.str("i")?, "i")?,
            settle: opt_dec8(msg.big_p.str("P")?, "P")?,
            funding_rate: opt_dec8(msg.r.str("r")?, "r")?,
            next_funding_ms: msg.big_t.uint("T")?.unwrap_or(0),
        }),
    };
    sink(&MarketEvent {
        recv_ns: cx.recv_ns,
        event_ms,
        symbol: id,
        body,
    });
    Ok(Decoded::Events(1))
}

/// `s`, or the symbol part of the stream name (`btcusdt@depth@100ms` → `btcusdt`).
fn symbol_name<'a>(msg: &RawMsg<'a>, stream: Option<&'a str>) -> Option<&'a str> {
    match msg.s {
        Val::Str(s) => Some(s),
        _ => stream.map(|s| s.split('@').next().unwrap_or(s)),
    }
}

#[inline]
fn price(
    spec: &SymbolSpec,
    s: &str,
    field: &'static str,
) -> Result<crate::core::Ticks, DecodeError> {
    spec.price
        .parse(s.as_bytes())
        .map_err(|e| DecodeError::BadValue { field, err: e })
}

#[inline]
fn qty(spec: &SymbolSpec, s: &str, field: &'static str) -> Result<crate::core::Lots, DecodeError> {
    spec.qty
        .parse(s.as_bytes())
        .map_err(|e| DecodeError::BadValue { field, err: e })
}

fn dec8(s: &str, field: &'static str) -> Result<Dec8, DecodeError> {
    Dec8::parse(s.as_bytes()).map_err(|e| DecodeError::BadValue {
        field,
        err: e.into(),
    })
}

/// Optional 8-place decimal; absent or `""` (COIN-M delivery funding rate) reads as 0.
fn opt_dec8(s: Option<&str>, field: &'static str) -> Result<Dec8, DecodeError> {
    match s {
        None | Some("") => Ok(Dec8(0)),
        Some(s) => dec8(s, field),
    }
}

fn kline(k: &RawKline<'_>, spec: &SymbolSpec) -> Result<Kline, DecodeError> {
    Ok(Kline {
        open_ms: k.t.req_uint("k.t")?,
        close_ms: k.big_t.req_uint("k.T")?,
        first_trade_id: k.f.int("k.f")?.unwrap_or(-1),
        last_trade_id: k.big_l.int("k.L")?.unwrap_or(-1),
        open: price(spec, k.o.req_str("k.o")?, "k.o")?,
        high: price(spec, k.h.req_str("k.h")?, "k.h")?,
        low: price(spec, k.l.req_str("k.l")?, "k.l")?,
        close: price(spec, k.c.req_str("k.c")?, "k.c")?,
        volume: qty(spec, k.v.req_str("k.v")?, "k.v")?,
        taker_buy_volume: match k.big_v.str("k.V")? {
            Some(v) => qty(spec, v, "k.V")?,
            None => crate::core::Lots(0),
        },
        quote_volume: opt_dec8(k.q.str("k.q")?, "k.q")?,
        taker_buy_quote_volume: opt_dec8(k.big_q.str("k.Q")?, "k.Q")?,
        trades: k.n.uint("k.n")?.unwrap_or(0),
        interval: KlineInterval::parse(k.i.req_str("k.i")?.as_bytes())
            .ok_or(DecodeError::WrongType("k.i"))?,
        closed: k.x.req_bool("k.x")?,
    })
}

fn levels_of(v: Val<'_>, field: &'static str) -> Result<(u32, u32), DecodeError> {
    match v {
        Val::Levels(s, e) => Ok((s, e)),
        Val::Absent => Err(DecodeError::MissingField(field)),
        _ => Err(DecodeError::WrongType(field)),
    }
}

#[inline]
fn depth<F: FnMut(&MarketEvent)>(
    msg: &RawMsg<'_>,
    spec: &SymbolSpec,
    id: SymbolId,
    cx: &mut Ctx<'_>,
    event_ms: u64,
    sink: &mut F,
) -> Result<Decoded, DecodeError> {
    let first_id = msg.first_u.req_uint("U")?;
    let last_id = msg.u.req_uint("u")?;
    let prev_last_id = msg.pu.uint("pu")?;
    let transact_ms = msg.big_t.uint("T")?.unwrap_or(0);
    let (bs, be) = levels_of(msg.b, "b")?;
    let (as_, ae) = levels_of(msg.a, "a")?;
    // Convert everything before emitting anything.
    cx.levels.clear();
    for r in cx.raw_levels[bs as usize..be as usize]
        .iter()
        .chain(&cx.raw_levels[as_ as usize..ae as usize])
    {
        let price = spec
            .price
            .parse_read(slice(cx.input, r.px), r.px_digits)
            .map_err(|err| DecodeError::BadValue {
                field: "level price",
                err,
            })?;
        let qty = spec
            .qty
            .parse_read(slice(cx.input, r.qty), r.qty_digits)
            .map_err(|err| DecodeError::BadValue {
                field: "level qty",
                err,
            })?;
        // Capacity equals the raw scratch's, so this never reallocates.
        cx.levels.push(Level { price, qty });
    }
    Ok(emit_depth(
        cx.levels,
        (be - bs) as usize,
        (first_id, last_id, prev_last_id, transact_ms),
        (cx.recv_ns, event_ms, id),
        sink,
    ))
}
