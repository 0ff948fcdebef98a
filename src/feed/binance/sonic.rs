//! The full JSON path: sonic-rs reading into the same [`RawFrame`] as the fast path.
//!
//! Used when the fast path gives up (escapes, unusual shapes, malformed input) and as
//! the reference the fast path is fuzzed against. Strings are borrowed from the input;
//! level strings are recorded as offsets into it, so nothing is allocated on success.

use super::raw::{Flex, KKey, Key, RawFrame, RawKline, RawLevel, RawMsg, Slot};
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
        use serde::Deserialize;
        match self.slot {
            Slot::Str(v) => put(v, BorrowedStr.deserialize(d)?),
            Slot::U64(v) => put(v, u64::deserialize(d)?),
            Slot::I64(v) => put(v, i64::deserialize(d)?),
            Slot::Bool(v) => put(v, bool::deserialize(d)?),
            Slot::Flex(v) => {
                if *v != Flex::Absent {
                    return Err(de::Error::custom("duplicate field"));
                }
                *v = d.deserialize_any(FlexVisitor {
                    scratch: self.scratch,
                    base: self.base,
                })?;
                Ok(())
            }
            Slot::Kline(v) => {
                if v.is_some() {
                    return Err(de::Error::custom("duplicate field"));
                }
                let mut k = RawKline::default();
                d.deserialize_map(KlineVisitor { k: &mut k })?;
                *v = Some(k);
                Ok(())
            }
        }
    }
}

struct KlineVisitor<'s, 'a> {
    k: &'s mut RawKline<'a>,
}

impl<'de> Visitor<'de> for KlineVisitor<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a kline object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let mut none = Vec::new();
        while let Some(key) = map.next_key_seed(KlineKeySeed)? {
            match key {
                Some(k) => map.next_value_seed(SlotSeed {
                    slot: self.k.slot(k),
                    scratch: &mut none,
                    base: &[],
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct FlexVisitor<'s, 'a> {
    scratch: &'s mut Vec<RawLevel>,
    base: &'a [u8],
}

impl<'de> Visitor<'de> for FlexVisitor<'_, 'de> {
    type Value = Flex<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, an id or an array of [price, qty] levels")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Flex<'de>, E> {
        Ok(Flex::Str(s))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flex<'de>, E> {
        Ok(Flex::Int(v))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Flex<'de>, S::Error> {
        let start = self.scratch.len() as u32;
        while let Some(level) = seq.next_element_seed(LevelSeed { base: self.base })? {
            if self.scratch.len() == self.scratch.capacity() {
                return Err(de::Error::custom("too many levels"));
            }
            self.scratch.push(level);
        }
        Ok(Flex::Levels(start, self.scratch.len() as u32))
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
