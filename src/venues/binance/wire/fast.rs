//! Hand-written JSON reader for Binance market-data frames: the fast path.
//!
//! It reads exactly the shapes Binance sends — ASCII strings without escapes, integer
//! ids, `[["price","qty"],..]` level arrays — in one forward pass with no allocation.
//! Anything else (escapes, non-ASCII, floats, deep nesting, duplicate keys, a level
//! that is not a pair of strings) makes it give up and return `None`, and the decoder
//! falls back to sonic-rs, which either reads it or reports the error. It never claims
//! a frame sonic-rs would read differently: `fuzz/fuzz_targets/decode_differential.rs`
//! checks that on every input.

use super::raw::{KKey, Key, RawFrame, RawKline, RawLevel, RawMsg, Slot, Val};

/// Nesting depth up to which unknown values are skipped.
const MAX_SKIP_DEPTH: u32 = 16;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string's content range (after the opening quote was consumed).
    #[inline(always)]
    fn str_body(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        let buf = self.buf;
        let mut i = start;
        // Eight bytes at a time to the first byte that is not plain printable ASCII
        // (a quote, a backslash, a control byte or a byte >= 0x80). Prices are 6-16
        // bytes, so this is most of the per-level scan (perf: 31 % in `fill`).
        while let Some(w) = buf.get(i..i + 8) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGH: u64 = 0x8080_8080_8080_8080;
            let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
            let special = zero_byte(w ^ (ONES * b'"' as u64))
                | zero_byte(w ^ (ONES * b'\\' as u64))
                | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
                | (w & HIGH);
            if special != 0 {
                // The lowest flagged byte is exact; the scalar loop below decides it.
                i += (special.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        loop {
            let c = *buf.get(i)?;
            if c == b'"' {
                self.pos = i + 1;
                return Some((start, i));
            }
            // Escapes, control characters and non-ASCII go to the full parser.
            if c == b'\\' || !(0x20..0x80).contains(&c) {
                return None;
            }
            i += 1;
        }
    }

    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let (s, e) = self.str_body()?;
        let bytes = &self.buf[s..e];
        debug_assert!(bytes.iter().all(|c| (0x20..0x80).contains(c)));
        // SAFETY: `str_body` returns only ranges of printable ASCII (0x20..0x80), which
        // is valid UTF-8; checking again cost 3 % of decode time (perf).
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    #[inline(always)]
    fn string_range(&mut self) -> Option<(u32, u32)> {
        self.eat(b'"')?;
        let (s, e) = self.str_body()?;
        Some((s as u32, (e - s) as u32))
    }

    /// Digits of a JSON integer without sign; refuses leading zeros, fractions and
    /// exponents (left to the full parser).
    #[inline(always)]
    fn digits(&mut self) -> Option<u64> {
        let first = self.peek()?.wrapping_sub(b'0');
        if first > 9 {
            return None;
        }
        self.pos += 1;
        let mut v = first as u64;
        if first == 0 {
            if let Some(b'0'..=b'9') = self.peek() {
                return None;
            }
        } else {
            // Up to 19 digits cannot overflow a u64; only a 20th needs checking.
            let mut n = 1;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                v = if n < 19 {
                    v * 10 + (c - b'0') as u64
                } else {
                    v.checked_mul(10)?.checked_add((c - b'0') as u64)?
                };
                n += 1;
                self.pos += 1;
            }
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(v),
        }
    }

    fn i64(&mut self) -> Option<i64> {
        if self.eat(b'-').is_some() {
            let v = self.digits()?;
            if v == 0 || v > i64::MAX as u64 {
                return None;
            }
            Some(-(v as i64))
        } else {
            i64::try_from(self.digits()?).ok()
        }
    }

    fn bool(&mut self) -> Option<bool> {
        let rest = &self.buf[self.pos..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Skips any value this reader understands.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_SKIP_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'-' => self.i64().map(|_| ()),
            b'0'..=b'9' => self.digits().map(|_| ()),
            b't' | b'f' => self.bool().map(|_| ()),
            b'n' => {
                if self.buf[self.pos..].starts_with(b"null") {
                    self.pos += 4;
                    Some(())
                } else {
                    None
                }
            }
            b'[' => {
                self.pos += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                self.object(|cur, _key| cur.skip(depth + 1))
            }
            _ => None,
        }
    }

    /// Reads `{ "key": value, ... }` (the `{` already consumed), calling `field` for
    /// each key with the cursor on the value.
    #[inline(always)]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            self.eat(b'"')?;
            let (s, e) = self.str_body()?;
            let key = &self.buf[s..e];
            self.ws();
            self.eat(b':')?;
            self.ws();
            field(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[["p","q"],...]` into `scratch`.
    #[inline(always)]
    fn levels(&mut self, scratch: &mut Vec<RawLevel>) -> Option<(u32, u32)> {
        self.eat(b'[')?;
        let start = scratch.len() as u32;
        self.ws();
        if self.eat(b']').is_some() {
            return Some((start, start));
        }
        loop {
            self.ws();
            self.eat(b'[')?;
            self.ws();
            let px = self.string_range()?;
            self.ws();
            self.eat(b',')?;
            self.ws();
            let qty = self.string_range()?;
            self.ws();
            self.eat(b']')?;
            if scratch.len() == scratch.capacity() {
                return None; // the full parser reports TooManyLevels
            }
            scratch.push(RawLevel { px, qty });
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some((start, scratch.len() as u32));
                }
                _ => return None,
            }
        }
    }

    /// Any value, typed as read (types are checked per message type later).
    #[inline(always)]
    fn value(&mut self, scratch: &mut Vec<RawLevel>) -> Option<Val<'a>> {
        Some(match self.peek()? {
            b'"' => Val::Str(self.string()?),
            b'0'..=b'9' => Val::Uint(self.digits()?),
            b'-' => Val::Neg(self.i64()?),
            b't' | b'f' => Val::Bool(self.bool()?),
            b'n' => {
                self.skip(1)?;
                Val::Null
            }
            b'[' => {
                let (s, e) = self.levels(scratch)?;
                Val::Levels(s, e)
            }
            b'{' => {
                self.skip(1)?;
                Val::Other
            }
            _ => return None,
        })
    }

    #[inline(always)]
    fn fill(&mut self, slot: Slot<'_, 'a>, scratch: &mut Vec<RawLevel>) -> Option<()> {
        match slot {
            Slot::Val(v) => set(v, self.value(scratch)?),
            Slot::Kline(v) => {
                if v.is_some() || self.peek()? != b'{' {
                    return None;
                }
                self.pos += 1;
                let mut k = RawKline::default();
                let mut no_levels = Vec::new();
                self.object(|cur, key| match KKey::of(key) {
                    Some(kk) => set(k.slot(kk), cur.value(&mut no_levels)?),
                    None => cur.skip(1),
                })?;
                *v = Some(k);
                Some(())
            }
        }
    }

    fn message(&mut self, msg: &mut RawMsg<'a>, scratch: &mut Vec<RawLevel>) -> Option<()> {
        self.eat(b'{')?;
        self.object(|cur, key| match Key::of(key) {
            Some(k) => cur.fill(msg.slot(k), scratch),
            None => cur.skip(1),
        })
    }
}

#[inline(always)]
fn set<'a>(slot: &mut Val<'a>, v: Val<'a>) -> Option<()> {
    if *slot != Val::Absent {
        return None; // duplicate key
    }
    *slot = v;
    Some(())
}

/// Reads one frame into `frame` (which must be fresh), or `None` when the full parser
/// must decide.
///
/// # Hot path: no allocation (level offsets go to the preallocated `scratch`).
pub(crate) fn parse<'a>(
    buf: &'a [u8],
    scratch: &mut Vec<RawLevel>,
    frame: &mut RawFrame<'a>,
) -> Option<()> {
    if buf.len() > u32::MAX as usize {
        return None;
    }
    let mut cur = Cursor { buf, pos: 0 };
    cur.ws();
    cur.eat(b'{')?;
    cur.object(|cur, key| match key {
        b"stream" => {
            if frame.stream.is_some() {
                return None;
            }
            frame.stream = Some(cur.string()?);
            Some(())
        }
        b"data" => {
            if frame.has_data {
                return None;
            }
            frame.has_data = true;
            cur.message(&mut frame.inner, scratch)
        }
        _ => match Key::of(key) {
            Some(k) => cur.fill(frame.outer.slot(k), scratch),
            None => cur.skip(1),
        },
    })?;
    cur.ws();
    if cur.pos != buf.len() {
        return None;
    }
    Some(())
}
