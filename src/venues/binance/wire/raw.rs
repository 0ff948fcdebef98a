//! The fields of one Binance market-data message as borrowed text and integers.
//!
//! Both parsers (the hand-written fast path and the sonic-rs path) fill a [`RawMsg`];
//! turning it into events ([`super::build`]) is shared code, so the two paths can only
//! differ in how they read JSON — which the differential fuzz target checks.

use crate::core::decimal::Digits;

/// Where a level's price and quantity strings sit in the input frame (byte offsets),
/// and their digits when the parser read them on the way ([`Digits::UNREAD`] if not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawLevel {
    pub px: (u32, u32),
    pub qty: (u32, u32),
    pub px_digits: Digits,
    pub qty_digits: Digits,
}

/// One field's value. Types are checked per message type when events are built, not
/// while reading: the same key means different things in different messages (`b` is
/// the bid levels of a depthUpdate, the best bid of a bookTicker, an order id in a 2023
/// trade; `l` is a trade id in aggTrade and the low price in 24hrTicker), and a message
/// type Minerva does not decode must be skipped, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Val<'a> {
    #[default]
    Absent,
    Str(&'a str),
    Uint(u64),
    /// A negative integer.
    Neg(i64),
    Bool(bool),
    Null,
    /// Levels `start..end` in the decoder's scratch buffer.
    Levels(u32, u32),
    /// Anything else (objects, floats, escaped strings): never a field we read.
    Other,
}

/// Kline body (`k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawKline<'a> {
    pub t: Val<'a>,
    pub big_t: Val<'a>,
    pub s: Val<'a>,
    pub i: Val<'a>,
    pub f: Val<'a>,
    pub big_l: Val<'a>,
    pub o: Val<'a>,
    pub c: Val<'a>,
    pub h: Val<'a>,
    pub l: Val<'a>,
    pub v: Val<'a>,
    pub n: Val<'a>,
    pub x: Val<'a>,
    pub q: Val<'a>,
    pub big_v: Val<'a>,
    pub big_q: Val<'a>,
}

/// Every field Minerva reads from a market-data message (unknown fields are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawMsg<'a> {
    pub e: Val<'a>,
    pub big_e: Val<'a>,
    pub big_t: Val<'a>,
    pub s: Val<'a>,
    pub first_u: Val<'a>,
    pub u: Val<'a>,
    pub pu: Val<'a>,
    pub b: Val<'a>,
    pub a: Val<'a>,
    pub big_b: Val<'a>,
    pub big_a: Val<'a>,
    pub p: Val<'a>,
    pub q: Val<'a>,
    pub t: Val<'a>,
    pub m: Val<'a>,
    pub f: Val<'a>,
    pub l: Val<'a>,
    pub big_p: Val<'a>,
    pub i: Val<'a>,
    pub r: Val<'a>,
    pub last_update_id: Val<'a>,
    /// `k` when it is an object (kline body).
    pub k: Option<RawKline<'a>>,
    /// True once any message field was seen (to tell a bare message from an envelope).
    pub any: bool,
}

/// A combined-stream envelope `{"stream":..,"data":..}` or a bare message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawFrame<'a> {
    pub stream: Option<&'a str>,
    /// Fields found at the top level.
    pub outer: RawMsg<'a>,
    /// Fields inside `data` (meaningful when `has_data`); filled in place, not
    /// moved, because frames are decoded at millions per second.
    pub inner: RawMsg<'a>,
    /// A `data` member was present.
    pub has_data: bool,
}

/// Top-level message keys the parsers recognise; anything else is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    E,
    BigE,
    BigT,
    S,
    FirstU,
    U,
    Pu,
    B,
    A,
    BigB,
    BigA,
    P,
    Q,
    T,
    M,
    F,
    L,
    BigP,
    I,
    R,
    LastUpdateId,
    K,
}

impl Key {
    /// One byte decides a one-byte key (every key Binance sends but `pu` and
    /// `lastUpdateId`): a `match` on the byte, not on the slice, keeps it a table jump
    /// (callgrind: a call and a compare chain per key before).
    #[inline(always)]
    pub fn of(k: &[u8]) -> Option<Key> {
        match *k {
            [c] => Some(match c {
                b'e' => Key::E,
                b'E' => Key::BigE,
                b'T' => Key::BigT,
                b's' => Key::S,
                b'U' => Key::FirstU,
                b'u' => Key::U,
                b'b' => Key::B,
                b'a' => Key::A,
                b'B' => Key::BigB,
                b'A' => Key::BigA,
                b'p' => Key::P,
                b'q' => Key::Q,
                b't' => Key::T,
                b'm' => Key::M,
                b'f' => Key::F,
                b'l' => Key::L,
                b'P' => Key::BigP,
                b'i' => Key::I,
                b'r' => Key::R,
                b'k' => Key::K,
                _ => return None,
            }),
            [b'p', b'u'] => Some(Key::Pu),
            _ if k == b"lastUpdateId" => Some(Key::LastUpdateId),
            _ => None,
        }
    }
}

/// Kline keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KKey {
    T,
    BigT,
    S,
    I,
    F,
    BigL,
    O,
    C,
    H,
    L,
    V,
    N,
    X,
    Q,
    BigV,
    BigQ,
}

impl KKey {
    #[inline]
    pub fn of(k: &[u8]) -> Option<KKey> {
        Some(match k {
            b"t" => KKey::T,
            b"T" => KKey::BigT,
            b"s" => KKey::S,
            b"i" => KKey::I,
            b"f" => KKey::F,
            b"L" => KKey::BigL,
            b"o" => KKey::O,
            b"c" => KKey::C,
            b"h" => KKey::H,
            b"l" => KKey::L,
            b"v" => KKey::V,
            b"n" => KKey::N,
            b"x" => KKey::X,
            b"q" => KKey::Q,
            b"V" => KKey::BigV,
            b"Q" => KKey::BigQ,
            _ => return None,
        })
    }
}

/// Where a key's value goes. Both parsers fill fields through these, so "duplicate
/// key" means the same thing on both paths.
pub(crate) enum Slot<'m, 'a> {
    Val(&'m mut Val<'a>),
    Kline(&'m mut Option<RawKline<'a>>),
}

impl<'a> RawMsg<'a> {
    /// The slot for a top-level key.
    #[inline]
    pub fn slot(&mut self, k: Key) -> Slot<'_, 'a> {
        self.any = true;
        Slot::Val(match k {
            Key::E => &mut self.e,
            Key::BigE => &mut self.big_e,
            Key::BigT => &mut self.big_t,
            Key::S => &mut self.s,
            Key::FirstU => &mut self.first_u,
            Key::U => &mut self.u,
            Key::Pu => &mut self.pu,
            Key::B => &mut self.b,
            Key::A => &mut self.a,
            Key::BigB => &mut self.big_b,
            Key::BigA => &mut self.big_a,
            Key::P => &mut self.p,
            Key::Q => &mut self.q,
            Key::T => &mut self.t,
            Key::M => &mut self.m,
            Key::F => &mut self.f,
            Key::L => &mut self.l,
            Key::BigP => &mut self.big_p,
            Key::I => &mut self.i,
            Key::R => &mut self.r,
            Key::LastUpdateId => &mut self.last_update_id,
            Key::K => return Slot::Kline(&mut self.k),
        })
    }
}

impl<'a> RawKline<'a> {
    /// The slot for a kline key.
    #[inline]
    pub fn slot(&mut self, k: KKey) -> &mut Val<'a> {
        match k {
            KKey::T => &mut self.t,
            KKey::BigT => &mut self.big_t,
            KKey::S => &mut self.s,
            KKey::I => &mut self.i,
            KKey::F => &mut self.f,
            KKey::BigL => &mut self.big_l,
            KKey::O => &mut self.o,
            KKey::C => &mut self.c,
            KKey::H => &mut self.h,
            KKey::L => &mut self.l,
            KKey::V => &mut self.v,
            KKey::N => &mut self.n,
            KKey::X => &mut self.x,
            KKey::Q => &mut self.q,
            KKey::BigV => &mut self.big_v,
            KKey::BigQ => &mut self.big_q,
        }
    }
}
