//! The fields of one Binance market-data message as borrowed text and integers.
//!
//! Both parsers (the hand-written fast path and the sonic-rs path) fill a [`RawMsg`];
//! turning it into events ([`super::build`]) is shared code, so the two paths can only
//! differ in how they read JSON — which the differential fuzz target checks.

/// Where a level's price and quantity strings sit in the input frame (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawLevel {
    pub px: (u32, u32),
    pub qty: (u32, u32),
}

/// A field that means different things per message type: `b` is the bid levels of a
/// depthUpdate, the best bid price of a bookTicker, or the buyer order id of an old trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Flex<'a> {
    #[default]
    Absent,
    Str(&'a str),
    Int(u64),
    /// Levels `start..end` in the decoder's scratch buffer.
    Levels(u32, u32),
}

/// Kline body (`k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawKline<'a> {
    pub t: Option<u64>,
    pub big_t: Option<u64>,
    pub s: Option<&'a str>,
    pub i: Option<&'a str>,
    pub f: Option<i64>,
    pub big_l: Option<i64>,
    pub o: Option<&'a str>,
    pub c: Option<&'a str>,
    pub h: Option<&'a str>,
    pub l: Option<&'a str>,
    pub v: Option<&'a str>,
    pub n: Option<u64>,
    pub x: Option<bool>,
    pub q: Option<&'a str>,
    pub big_v: Option<&'a str>,
    pub big_q: Option<&'a str>,
}

/// Every field Minerva reads from a market-data message (unknown fields are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawMsg<'a> {
    pub e: Option<&'a str>,
    pub big_e: Option<u64>,
    pub big_t: Option<u64>,
    pub s: Option<&'a str>,
    pub first_u: Option<u64>,
    pub u: Option<u64>,
    pub pu: Option<u64>,
    pub b: Flex<'a>,
    pub a: Flex<'a>,
    pub big_b: Option<&'a str>,
    pub big_a: Option<&'a str>,
    pub p: Option<&'a str>,
    pub q: Option<&'a str>,
    pub t: Option<u64>,
    pub m: Option<bool>,
    pub f: Option<u64>,
    pub l: Option<u64>,
    pub big_p: Option<&'a str>,
    pub i: Option<&'a str>,
    pub r: Option<&'a str>,
    pub last_update_id: Option<u64>,
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
    #[inline]
    pub fn of(k: &[u8]) -> Option<Key> {
        Some(match k {
            b"e" => Key::E,
            b"E" => Key::BigE,
            b"T" => Key::BigT,
            b"s" => Key::S,
            b"U" => Key::FirstU,
            b"u" => Key::U,
            b"pu" => Key::Pu,
            b"b" => Key::B,
            b"a" => Key::A,
            b"B" => Key::BigB,
            b"A" => Key::BigA,
            b"p" => Key::P,
            b"q" => Key::Q,
            b"t" => Key::T,
            b"m" => Key::M,
            b"f" => Key::F,
            b"l" => Key::L,
            b"P" => Key::BigP,
            b"i" => Key::I,
            b"r" => Key::R,
            b"lastUpdateId" => Key::LastUpdateId,
            b"k" => Key::K,
            _ => return None,
        })
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

/// A typed value slot: what a key expects. Both parsers fill fields through these
/// setters, so "duplicate key" and "wrong type" mean the same thing on both paths.
pub(crate) enum Slot<'m, 'a> {
    Str(&'m mut Option<&'a str>),
    U64(&'m mut Option<u64>),
    I64(&'m mut Option<i64>),
    Bool(&'m mut Option<bool>),
    Flex(&'m mut Flex<'a>),
    Kline(&'m mut Option<RawKline<'a>>),
}

impl<'a> RawMsg<'a> {
    /// The slot for a top-level key.
    #[inline]
    pub fn slot(&mut self, k: Key) -> Slot<'_, 'a> {
        self.any = true;
        match k {
            Key::E => Slot::Str(&mut self.e),
            Key::BigE => Slot::U64(&mut self.big_e),
            Key::BigT => Slot::U64(&mut self.big_t),
            Key::S => Slot::Str(&mut self.s),
            Key::FirstU => Slot::U64(&mut self.first_u),
            Key::U => Slot::U64(&mut self.u),
            Key::Pu => Slot::U64(&mut self.pu),
            Key::B => Slot::Flex(&mut self.b),
            Key::A => Slot::Flex(&mut self.a),
            Key::BigB => Slot::Str(&mut self.big_b),
            Key::BigA => Slot::Str(&mut self.big_a),
            Key::P => Slot::Str(&mut self.p),
            Key::Q => Slot::Str(&mut self.q),
            Key::T => Slot::U64(&mut self.t),
            Key::M => Slot::Bool(&mut self.m),
            Key::F => Slot::U64(&mut self.f),
            Key::L => Slot::U64(&mut self.l),
            Key::BigP => Slot::Str(&mut self.big_p),
            Key::I => Slot::Str(&mut self.i),
            Key::R => Slot::Str(&mut self.r),
            Key::LastUpdateId => Slot::U64(&mut self.last_update_id),
            Key::K => Slot::Kline(&mut self.k),
        }
    }
}

impl<'a> RawKline<'a> {
    /// The slot for a kline key.
    #[inline]
    pub fn slot(&mut self, k: KKey) -> Slot<'_, 'a> {
        match k {
            KKey::T => Slot::U64(&mut self.t),
            KKey::BigT => Slot::U64(&mut self.big_t),
            KKey::S => Slot::Str(&mut self.s),
            KKey::I => Slot::Str(&mut self.i),
            KKey::F => Slot::I64(&mut self.f),
            KKey::BigL => Slot::I64(&mut self.big_l),
            KKey::O => Slot::Str(&mut self.o),
            KKey::C => Slot::Str(&mut self.c),
            KKey::H => Slot::Str(&mut self.h),
            KKey::L => Slot::Str(&mut self.l),
            KKey::V => Slot::Str(&mut self.v),
            KKey::N => Slot::U64(&mut self.n),
            KKey::X => Slot::Bool(&mut self.x),
            KKey::Q => Slot::Str(&mut self.q),
            KKey::BigV => Slot::Str(&mut self.big_v),
            KKey::BigQ => Slot::Str(&mut self.big_q),
        }
    }
}
