//! The reference reader: serde's derived deserialisers on sonic-rs, filling the same
//! [`RawMsg`] as the fast path.
//!
//! Used when the fast path gives up (escapes, unusual shapes, malformed input) and as
//! the independent reading the fast path is checked against. Written with `derive`
//! rather than by hand on purpose: it is the serde decode the issue asks the fast path
//! to agree with. Strings are borrowed; a change's strings are recorded as offsets
//! into the frame. It may allocate (the changes' `Vec`s): it is not the hot path.

use super::raw::{Changes, Levels, RawChange, RawData, RawMsg, Val};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

struct ValVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValVisitor<'a> {
    type Value = Val<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'a>, E> {
        Ok(Val::Str(v))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Val<'a>, E> {
        Ok(Val::Other) // escaped: never a value Minerva reads
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'a>, E> {
        Ok(Val::Uint(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'a>, E> {
        Ok(u64::try_from(v).map_or(Val::Other, Val::Uint))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Val<'a>, E> {
        Ok(Val::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Val<'a>, E> {
        Ok(Val::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val<'a>, E> {
        Ok(Val::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct ChangesDe<'a> {
    #[serde(default, borrow)]
    bids: Vec<[&'a str; 3]>,
    #[serde(default, borrow)]
    asks: Vec<[&'a str; 3]>,
}

/// One `obu` level: `[price, size]`, or `[price, size, rpi size]`.
struct LevelDe<'a>(&'a str, &'a str, Option<&'a str>);

struct LevelVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LevelVisitor<'a> {
    type Value = LevelDe<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[price, size] or [price, size, rpi size] strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LevelDe<'a>, A::Error> {
        let px: &'a str = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let size: &'a str = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let third: Option<&'a str> = seq.next_element()?;
        if third.is_some() && seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(LevelDe(px, size, third))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LevelDe<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(LevelVisitor(std::marker::PhantomData))
    }
}

/// An `obu` side, or another value under the same key (a ticker's best price).
#[derive(Default)]
enum LevelsDe<'a> {
    #[default]
    Absent,
    Levels(Vec<LevelDe<'a>>),
    Other,
}

struct LevelsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LevelsVisitor<'a> {
    type Value = LevelsDe<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an obu side or any value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LevelsDe<'a>, A::Error> {
        let mut v = Vec::new();
        while let Some(l) = seq.next_element::<LevelDe<'a>>()? {
            v.push(l);
        }
        Ok(LevelsDe::Levels(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LevelsDe<'a>, A::Error> {
        ValVisitor(std::marker::PhantomData)
            .visit_map(map)
            .map(|_| LevelsDe::Other)
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<LevelsDe<'a>, E> {
        Ok(LevelsDe::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LevelsDe<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LevelsVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DataDe<'a> {
    #[serde(default, borrow)]
    symbol: Val<'a>,
    #[serde(default, borrow)]
    sequence_start: Val<'a>,
    #[serde(default, borrow)]
    sequence_end: Val<'a>,
    #[serde(default, borrow)]
    sequence: Val<'a>,
    #[serde(default, borrow)]
    time: Val<'a>,
    #[serde(default, borrow)]
    timestamp: Val<'a>,
    #[serde(default, borrow)]
    ts: Val<'a>,
    #[serde(default, borrow)]
    price: Val<'a>,
    #[serde(default, borrow)]
    size: Val<'a>,
    #[serde(default, borrow)]
    side: Val<'a>,
    #[serde(default, borrow)]
    change: Val<'a>,
    #[serde(default, borrow)]
    best_bid: Val<'a>,
    #[serde(default, borrow)]
    best_bid_size: Val<'a>,
    #[serde(default, borrow)]
    best_ask: Val<'a>,
    #[serde(default, borrow)]
    best_ask_size: Val<'a>,
    #[serde(default, borrow)]
    changes: Option<ChangesDe<'a>>,
    #[serde(default, borrow)]
    candles: Option<[&'a str; 7]>,
    #[serde(rename = "O", default, borrow)]
    o: Val<'a>,
    #[serde(rename = "C", default, borrow)]
    c: Val<'a>,
    #[serde(rename = "M", default, borrow)]
    m: Val<'a>,
    #[serde(rename = "s", default, borrow)]
    s: Val<'a>,
    #[serde(rename = "p", default, borrow)]
    p: Val<'a>,
    #[serde(rename = "q", default, borrow)]
    q: Val<'a>,
    #[serde(rename = "S", default, borrow)]
    taker: Val<'a>,
    #[serde(default, borrow)]
    ti: Val<'a>,
    #[serde(default, borrow)]
    a: LevelsDe<'a>,
    #[serde(default, borrow)]
    b: LevelsDe<'a>,
}

/// `data`: an object Minerva reads, or anything else (a welcome's or error's text).
/// Held on the stack for one frame, never moved around: the size difference is
/// harmless, and boxing would allocate.
#[derive(Default)]
#[allow(clippy::large_enum_variant)]
enum DataField<'a> {
    #[default]
    Absent,
    Object(DataDe<'a>),
    Other,
}

struct DataVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for DataVisitor<'a> {
    type Value = DataField<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message's data")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DataField<'a>, A::Error> {
        DataDe::deserialize(de::value::MapAccessDeserializer::new(map)).map(DataField::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<DataField<'a>, A::Error> {
        ValVisitor(std::marker::PhantomData)
            .visit_seq(seq)
            .map(|_| DataField::Other)
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<DataField<'a>, E> {
        Ok(DataField::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for DataField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct EnvelopeDe<'a> {
    #[serde(default, borrow)]
    code: Val<'a>,
    #[serde(rename = "type", default, borrow)]
    typ: Val<'a>,
    #[serde(default, borrow)]
    topic: Val<'a>,
    #[serde(default, borrow)]
    subject: Val<'a>,
    #[serde(default, borrow)]
    data: DataField<'a>,
    #[serde(rename = "T", default, borrow)]
    push: Val<'a>,
    #[serde(rename = "t", default, borrow)]
    push_kind: Val<'a>,
    #[serde(default, borrow)]
    d: DataField<'a>,
}

/// Why the reference reader refused a frame.
#[derive(Debug)]
pub(crate) enum SonicError {
    /// sonic-rs's own error (malformed JSON or a wrong shape).
    Json(sonic_rs::Error),
    /// More changes than the decoder holds.
    TooManyChanges,
    /// The frame is not a JSON object (serde would read an array positionally).
    NotAnObject,
}

/// Reads one frame into `msg` (which must be fresh).
pub(crate) fn parse<'a>(
    buf: &'a [u8],
    scratch: &mut Vec<RawChange>,
    msg: &mut RawMsg<'a>,
) -> Result<(), SonicError> {
    if buf.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'{') {
        return Err(SonicError::NotAnObject);
    }
    let env: EnvelopeDe<'a> = sonic_rs::from_slice(buf).map_err(SonicError::Json)?;
    msg.code = env.code;
    msg.typ = env.typ;
    msg.topic = env.topic;
    msg.subject = env.subject;
    msg.push = env.push;
    msg.push_kind = env.push_kind;
    // The fast path reads the fields in the frame's order; the scratch's ranges only
    // need to be right, not in the same order.
    match env.data {
        DataField::Absent => {}
        DataField::Other => msg.data_other = true,
        DataField::Object(d) => msg.data = Some(raw_data(buf, &d, scratch)?),
    }
    match env.d {
        DataField::Absent => {}
        DataField::Other => msg.d_other = true,
        DataField::Object(d) => msg.d = Some(raw_data(buf, &d, scratch)?),
    }
    Ok(())
}

/// A data object as [`RawData`], its strings as offsets into `buf`.
fn raw_data<'a>(
    buf: &'a [u8],
    d: &DataDe<'a>,
    scratch: &mut Vec<RawChange>,
) -> Result<RawData<'a>, SonicError> {
    let base = buf.as_ptr() as usize;
    // Borrowed strings point into `buf`: their offsets are exact.
    let range = |s: &str| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let mut push = |side: &mut dyn Iterator<Item = (&str, &str, Option<&str>)>| -> Result<(u32, u32), SonicError> {
        let start = scratch.len() as u32;
        for (px, size, seq) in side {
            if scratch.len() == scratch.capacity() {
                return Err(SonicError::TooManyChanges);
            }
            scratch.push(RawChange {
                px: range(px),
                size: range(size),
                seq: seq.map_or((0, 0), range),
            });
        }
        Ok((start, scratch.len() as u32))
    };
    let changes = match &d.changes {
        Some(c) => Some(Changes {
            bids: push(&mut c.bids.iter().map(|[p, s, q]| (*p, *s, Some(*q))))?,
            asks: push(&mut c.asks.iter().map(|[p, s, q]| (*p, *s, Some(*q))))?,
        }),
        None => None,
    };
    let mut side = |l: &LevelsDe<'a>| -> Result<Levels, SonicError> {
        Ok(match l {
            LevelsDe::Absent => Levels::Absent,
            LevelsDe::Other => Levels::Other,
            LevelsDe::Levels(v) => {
                let (from, to) = push(&mut v.iter().map(|l| (l.0, l.1, l.2)))?;
                Levels::At(from, to)
            }
        })
    };
    let (b, a) = (side(&d.b)?, side(&d.a)?);
    Ok(RawData {
        symbol: d.symbol,
        sequence_start: d.sequence_start,
        sequence_end: d.sequence_end,
        sequence: d.sequence,
        time: d.time,
        timestamp: d.timestamp,
        ts: d.ts,
        price: d.price,
        size: d.size,
        side: d.side,
        change: d.change,
        best_bid: d.best_bid,
        best_bid_size: d.best_bid_size,
        best_ask: d.best_ask,
        best_ask_size: d.best_ask_size,
        changes,
        candles: d.candles.map(|c| c.map(range)),
        o: d.o,
        c: d.c,
        m: d.m,
        s: d.s,
        p: d.p,
        q: d.q,
        taker: d.taker,
        ti: d.ti,
        b,
        a,
    })
}
