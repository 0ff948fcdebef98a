//! Hand-written JSON reader for KuCoin market-data frames: the fast path.
//!
//! One forward pass over the shapes KuCoin sends (ASCII strings without escapes,
//! integer sequences, `[price, size, sequence]` string triples), keys in any order,
//! no allocation. Anything else (escapes, floats, duplicate keys, a change that is
//! not three strings) makes it give up and return `None`; the decoder then asks the
//! serde reader (`super::sonic`), which reads it or reports the error. It never
//! claims a frame the reference would read differently: the `kucoin_differential`
//! fuzz target checks that on every input.

use super::raw::{Changes, Key, Levels, RawChange, RawData, RawMsg, Val};
use crate::venues::scan::Cursor;

/// Any value, typed as read (types are checked per message type later).
#[inline(always)]
fn value<'a>(cur: &mut Cursor<'a>) -> Option<Val<'a>> {
    Some(match cur.peek()? {
        b'"' => Val::Str(cur.string()?),
        b'0'..=b'9' => Val::Uint(cur.digits()?),
        b'-' => {
            cur.i64()?;
            Val::Other
        }
        b't' | b'f' | b'n' | b'[' | b'{' => {
            cur.skip(1)?;
            Val::Other
        }
        _ => return None,
    })
}

#[inline(always)]
fn set<'a>(slot: &mut Val<'a>, v: Val<'a>) -> Option<()> {
    if *slot != Val::Absent {
        return None; // duplicate key
    }
    *slot = v;
    Some(())
}

/// Which third string a level array's entries carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Third {
    /// `[price, size, sequence]`: classic level-2 changes.
    Required,
    /// `[price, size]` or `[price, size, rpi size]`: an `obu` side.
    Optional,
}

/// `[["price","size","third"],...]` into `scratch` (the third string's range, or
/// `(0, 0)` when an optional one is absent).
#[inline(always)]
fn string_levels(
    cur: &mut Cursor<'_>,
    scratch: &mut Vec<RawChange>,
    third: Third,
) -> Option<(u32, u32)> {
    cur.eat(b'[')?;
    let start = scratch.len() as u32;
    cur.ws();
    if cur.eat(b']').is_some() {
        return Some((start, start));
    }
    loop {
        cur.ws();
        cur.eat(b'[')?;
        cur.ws();
        let px = cur.string_range()?;
        cur.ws();
        cur.eat(b',')?;
        cur.ws();
        let size = cur.string_range()?;
        cur.ws();
        let seq = if cur.eat(b',').is_some() {
            cur.ws();
            let s = cur.string_range()?;
            cur.ws();
            s
        } else if third == Third::Optional {
            (0, 0)
        } else {
            return None;
        };
        cur.eat(b']')?;
        if scratch.len() == scratch.capacity() {
            return None; // the reference reports it
        }
        scratch.push(RawChange { px, size, seq });
        cur.ws();
        match cur.peek()? {
            b',' => cur.pos += 1,
            b']' => {
                cur.pos += 1;
                return Some((start, scratch.len() as u32));
            }
            _ => return None,
        }
    }
}

/// `{"asks":[..],"bids":[..]}`; a side that is absent is empty.
#[inline(always)]
fn changes(cur: &mut Cursor<'_>, scratch: &mut Vec<RawChange>) -> Option<Changes> {
    cur.eat(b'{')?;
    let (mut bids, mut asks) = (None, None);
    cur.object(|cur, key| {
        let side = match key {
            b"bids" => &mut bids,
            b"asks" => &mut asks,
            _ => return cur.skip(1),
        };
        if side.is_some() {
            return None;
        }
        *side = Some(string_levels(cur, scratch, Third::Required)?);
        Some(())
    })?;
    let end = scratch.len() as u32;
    Some(Changes {
        bids: bids.unwrap_or((end, end)),
        asks: asks.unwrap_or((end, end)),
    })
}

/// `["s","o","c","h","l","v","t"]`: exactly seven strings.
fn candle(cur: &mut Cursor<'_>) -> Option<[(u32, u32); 7]> {
    cur.eat(b'[')?;
    let mut out = [(0, 0); 7];
    for (k, slot) in out.iter_mut().enumerate() {
        cur.ws();
        if k > 0 {
            cur.eat(b',')?;
            cur.ws();
        }
        *slot = cur.string_range()?;
    }
    cur.ws();
    cur.eat(b']')?;
    Some(out)
}

#[inline(always)]
fn data<'a>(cur: &mut Cursor<'a>, scratch: &mut Vec<RawChange>) -> Option<RawData<'a>> {
    cur.eat(b'{')?;
    let mut d = RawData::default();
    cur.object(|cur, key| {
        if key == b"changes" {
            if d.changes.is_some() {
                return None;
            }
            d.changes = Some(changes(cur, scratch)?);
            return Some(());
        }
        if key == b"a" || key == b"b" {
            let slot = if key == b"a" { &mut d.a } else { &mut d.b };
            if *slot != Levels::Absent {
                return None;
            }
            *slot = if cur.peek()? == b'[' {
                let (from, to) = string_levels(cur, scratch, Third::Optional)?;
                Levels::At(from, to)
            } else {
                value(cur)?;
                Levels::Other
            };
            return Some(());
        }
        if key == b"candles" {
            if d.candles.is_some() {
                return None;
            }
            d.candles = Some(candle(cur)?);
            return Some(());
        }
        match Key::of(key) {
            Some(k) => set(d.slot(k), value(cur)?),
            None => cur.skip(1),
        }
    })?;
    Some(d)
}

/// Reads one frame into `msg` (which must be fresh), or `None` when the reference
/// reader must decide.
///
/// # Hot path: no allocation (change offsets go to the preallocated `scratch`).
pub(crate) fn parse<'a>(
    buf: &'a [u8],
    scratch: &mut Vec<RawChange>,
    msg: &mut RawMsg<'a>,
) -> Option<()> {
    if buf.len() > u32::MAX as usize {
        return None;
    }
    let mut cur = Cursor::new(buf);
    cur.ws();
    cur.eat(b'{')?;
    let (mut seen_data, mut seen_d) = (false, false);
    cur.object(|cur, key| match key {
        b"code" => set(&mut msg.code, value(cur)?),
        b"T" => set(&mut msg.push, value(cur)?),
        b"t" => set(&mut msg.push_kind, value(cur)?),
        b"d" => {
            if seen_d {
                return None;
            }
            seen_d = true;
            if cur.peek()? == b'{' {
                msg.d = Some(data(cur, scratch)?);
            } else {
                value(cur)?;
                msg.d_other = true;
            }
            Some(())
        }
        b"type" => set(&mut msg.typ, value(cur)?),
        b"topic" => set(&mut msg.topic, value(cur)?),
        b"subject" => set(&mut msg.subject, value(cur)?),
        b"data" => {
            if seen_data {
                return None;
            }
            seen_data = true;
            if cur.peek()? == b'{' {
                msg.data = Some(data(cur, scratch)?);
            } else {
                value(cur)?;
                msg.data_other = true;
            }
            Some(())
        }
        _ => cur.skip(1),
    })?;
    cur.ws();
    if cur.pos != buf.len() {
        return None;
    }
    Some(())
}
