//! A forward-only JSON cursor over one frame: the pieces every venue's hand-written
//! fast path reads with (whitespace, punctuation, strings without escapes, integers,
//! skipping values, objects key by key). No allocation, no panics; anything outside
//! the plain shapes exchanges send (escapes, non-ASCII, floats, deep nesting) makes a
//! method return `None`, and the venue's decoder hands the frame to its reference
//! reader. Each venue adds its own shapes (Binance's level pairs, KuCoin's change
//! triples) in an `impl Cursor` beside its decoder.

/// The unsigned integer after `key` (e.g. `"U":`) in `frame`: the first occurrence,
/// at most 19 digits.
#[inline]
pub fn u64_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = frame[at..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || digits > 19 {
        return None;
    }
    Some(frame[at..at + digits].iter().fold(0u64, |a, &d| {
        a.wrapping_mul(10).wrapping_add((d - b'0') as u64)
    }))
}

/// Nesting depth up to which unknown values are skipped.
pub(crate) const MAX_SKIP_DEPTH: u32 = 16;

pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    #[inline(always)]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline(always)]
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string's content range (after the opening quote was consumed).
    #[inline(always)]
    pub fn str_body(&mut self) -> Option<(usize, usize)> {
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
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let (s, e) = self.str_body()?;
        let bytes = &self.buf[s..e];
        debug_assert!(bytes.iter().all(|c| (0x20..0x80).contains(c)));
        // SAFETY: `str_body` returns only ranges of printable ASCII (0x20..0x80), which
        // is valid UTF-8; checking again cost 3 % of decode time (perf).
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    #[inline(always)]
    pub fn string_range(&mut self) -> Option<(u32, u32)> {
        self.eat(b'"')?;
        let (s, e) = self.str_body()?;
        Some((s as u32, (e - s) as u32))
    }

    /// Digits of a JSON integer without sign; refuses leading zeros, fractions and
    /// exponents (left to the full parser).
    #[inline(always)]
    pub fn digits(&mut self) -> Option<u64> {
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

    pub fn i64(&mut self) -> Option<i64> {
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

    pub fn bool(&mut self) -> Option<bool> {
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
    pub fn skip(&mut self, depth: u32) -> Option<()> {
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
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
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
}
