//! The full JSON path: sonic-rs reading into the same [`RawFrame`] as the fast path.
//!
//! Used when the fast path gives up (escapes, unusual shapes, malformed input) and as
//! the reference the fast path is fuzzed against. Strings are borrowed from the input;
//! level strings are recorded as offsets into it, so nothing is allocated on success.

use super::raw::{KKey, Key, RawFrame, RawKline, RawLevel, RawMsg, Slot, Val};
use crate::core::decimal::Digits;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Reads one frame with sonic-rs into `frame` (which must be fresh).
pub(crate) fn parse<'a>(
    buf: &'a [u8],
    scratch: &mut Vec<RawLevel>,
    frame: &mut RawFrame<'a>,
) -> Result<(), sonic_rs::Error> {
    let mut de = sonic_rs::Deserializer::from_slice(buf);
    FrameSeed {
        frame,
        scratch,
        base: buf,
    }
    .deserialize(&mut de)?;
    de.end()
}

struct FrameSeed<'s, 'a> {
    frame: &'s mut RawFrame<'a>,
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Binance message object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                TopKey::Stream => {
                    let s = map.next_value_seed(BorrowedStr)?;
                    put(&mut self.frame.stream, s)?;
                }
                TopKey::Data => {
                    if self.frame.has_data {
                        return Err(de::Error::duplicate_field("data"));
                    }
                    self.frame.has_data = true;
                    map.next_value_seed(MsgSeed {
                        msg: &mut self.frame.inner,
                        scratch: self.scratch,
                        base: self.base,
                    })?;
                }

                TopKey::Msg(k) => {
                    map.next_value_seed(SlotSeed {
                        slot: self.frame.outer.slot(k),
                        scratch: self.scratch,
                        base: self.base,
                    })?;
                }
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

fn put<T, E: de::Error>(slot: &mut Option<T>, v: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("duplicate field"));
    }
    *slot = Some(v);
    Ok(())
}

enum TopKey {
    Stream,
    Data,
    Msg(Key),
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = TopKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TopKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = TopKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<TopKey, E> {
        Ok(match k {
            "stream" => TopKey::Stream,
            "data" => TopKey::Data,
            _ => Key::of(k.as_bytes()).map_or(TopKey::Other, TopKey::Msg),
        })
    }
}

struct MsgKeySeed;

impl<'de> DeserializeSeed<'de> for MsgKeySeed {
    type Value = Option<Key>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Key>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for MsgKeySeed {
    type Value = Option<Key>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Option<Key>, E> {
        Ok(Key::of(k.as_bytes()))
    }
}

struct KlineKeySeed;

impl<'de> DeserializeSeed<'de> for KlineKeySeed {
    type Value = Option<KKey>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<KKey>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KlineKeySeed {
    type Value = Option<KKey>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Option<KKey>, E> {
        Ok(KKey::of(k.as_bytes()))
    }
}

/// A string borrowed from the input; escaped strings are refused (Binance never sends
/// them in market data, and a borrowed `&str` cannot hold the unescaped text).
struct BorrowedStr;

impl<'de> DeserializeSeed<'de> for BorrowedStr {
    type Value = &'de str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'de str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for BorrowedStr {
    type Value = &'de str;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string without escapes")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<&'de str, E> {
        Ok(s)
    }
}

struct MsgSeed<'s, 'a> {
    msg: &'s mut RawMsg<'a>,
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> DeserializeSeed<'de> for MsgSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MsgSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Binance event object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(MsgKeySeed)? {
            match key {
                Some(k) => map.next_value_seed(SlotSeed {
                    slot: self.msg.slot(k),
                    scratch: self.scratch,
                    base: self.base,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct SlotSeed<'s, 'm, 'a> {
    slot: Slot<'m, 'a>,
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> DeserializeSeed<'de> for SlotSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.slot {
            Slot::Val(v) => {
                if *v != Val::Absent {
                    return Err(de::Error::custom("duplicate field"));
                }
                *v = d.deserialize_any(ValVisitor {
                    scratch: self.scratch,
                    base: self.base,
                })?;
                Ok(())
            }
            Slot::Kline(v) => {
                if v.is_some() {
                    return Err(de::Error::custom("duplicate field"));
                }
                *v = d.deserialize_any(KlineVisitor)?;
                Ok(())
            }
        }
    }
}

/// `k`: a kline body when it is an object, ignored otherwise.
struct KlineVisitor;

impl<'de> Visitor<'de> for KlineVisitor {
    type Value = Option<RawKline<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a kline object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut k = RawKline::default();
        let mut no_levels = Vec::new();
        while let Some(key) = map.next_key_seed(KlineKeySeed)? {
            match key {
                Some(kk) => {
                    let slot = k.slot(kk);
                    if *slot != Val::Absent {
                        return Err(de::Error::custom("duplicate field"));
                    }
                    *slot = map.next_value_seed(ValSeed {
                        scratch: &mut no_levels,
                        base: &[],
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(k))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct ValSeed<'s, 'a> {
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_, 'de> {
    type Value = Val<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(ValVisitor {
            scratch: self.scratch,
            base: self.base,
        })
    }
}

/// Any value, typed as read; arrays must be `[price, qty]` level lists.
struct ValVisitor<'s, 'a> {
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> Visitor<'de> for ValVisitor<'_, 'de> {
    type Value = Val<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or an array of [price, qty] levels")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(s))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Val<'de>, E> {
        Ok(Val::Other) // escaped: never a field Binance sends with escapes
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::Uint(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(if v >= 0 {
            Val::Uint(v as u64)
        } else {
            Val::Neg(v)
        })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Val<'de>, E> {
        Ok(Val::Other)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Val<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Other)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Val<'de>, S::Error> {
        let start = self.scratch.len() as u32;
        while let Some(level) = seq.next_element_seed(LevelSeed { base: self.base })? {
            if self.scratch.len() == self.scratch.capacity() {
                return Err(de::Error::custom("too many levels"));
            }
            self.scratch.push(level);
        }
        Ok(Val::Levels(start, self.scratch.len() as u32))
    }
}

struct LevelSeed<'a> {
    base: &'a [u8],
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'de> {
    type Value = RawLevel;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawLevel, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'de> {
    type Value = RawLevel;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [price, qty] pair of strings")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<RawLevel, S::Error> {
        let px = seq
            .next_element_seed(BorrowedStr)?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let qty = seq
            .next_element_seed(BorrowedStr)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(RawLevel {
            px: offset(self.base, px)?,
            qty: offset(self.base, qty)?,
            px_digits: Digits::UNREAD,
            qty_digits: Digits::UNREAD,
        })
    }
}

/// Where a borrowed string sits in the input.
fn offset<E: de::Error>(base: &[u8], s: &str) -> Result<(u32, u32), E> {
    let start = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    if start > base.len() || s.len() > base.len() - start {
        return Err(E::custom("string not borrowed from the input"));
    }
    Ok((start as u32, s.len() as u32))
}
