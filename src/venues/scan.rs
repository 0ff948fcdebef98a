//! A forward-only JSON cursor over one frame: the pieces every venue's hand-written
//! fast path reads with (whitespace, punctuation, strings without escapes, integers,
//! skipping values, objects key by key). No allocation, no panics; anything outside
//! the plain shapes exchanges send (escapes, non-ASCII, floats, deep nesting) makes a
//! method return `None`, and the venue's decoder hands the frame to its reference
//! reader. Each venue adds its own shapes (Binance's level pairs, KuCoin's change
//! triples) in an `impl Cursor` beside its decoder.

use crate::core::decimal::{Digits, POW10, read_quoted};

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

/// The eight bytes of `buf` from `at` as one little-endian word, if there are eight:
/// one load (the bytes gathered one by one were loaded one by one, callgrind).
#[inline(always)]
fn word_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*buf.get(at..)?.first_chunk()?))
}

/// The eight bytes of `w` (little-endian: the first byte lowest) with every ASCII
/// digit made zero and every other byte not (the SWAR test simdjson uses). A byte of
/// 0xFA or more carries into the byte after it, so only the bytes up to the first
/// non-digit are exact, which is all either reader below looks at.
#[inline(always)]
fn non_digits(w: u64) -> u64 {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    ((w & HIGH) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4)) ^ 0x3333_3333_3333_3333
}

/// True when the eight bytes of `w` are all ASCII digits.
#[inline(always)]
fn eight_digits(w: u64) -> bool {
    non_digits(w) == 0
}

/// The value of eight ASCII digits (checked by [`eight_digits`]), the first byte the
/// most significant digit: pairs, then quads, then the eight, in three multiplies.
#[inline(always)]
fn parse_eight_digits(w: u64) -> u64 {
    combine_eight(w.wrapping_sub(0x3030_3030_3030_3030))
}

/// The number eight digit values (0-9, one a byte, the first byte the most
/// significant) make.
#[inline(always)]
fn combine_eight(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    ((v & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

/// How many of the eight bytes of `w`, from the first, are ASCII digits (0-8).
#[inline(always)]
fn leading_digits(w: u64) -> usize {
    (non_digits(w).trailing_zeros() / 8) as usize
}

/// The value of the first `m` (1-7) bytes of `w`, known to be digits: their values
/// moved to the top of the word, behind zeros, and combined as eight digits.
#[inline(always)]
fn parse_leading_digits(w: u64, m: usize) -> u64 {
    let v = w.wrapping_sub(0x3030_3030_3030_3030) & ((1u64 << (8 * m)) - 1);
    combine_eight(v << (8 * (8 - m)))
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
        // Not `word_at`: the one load saved Binance 1.4 % but made this loop cost
        // KuCoin's reader 4.3 % more (callgrind, docs/decoding.md).
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
        self.plain_to_quote(start, i)
    }

    /// The string begun at `start` read on from `i` a byte at a time to its closing
    /// quote; escapes, control characters and non-ASCII go to the full parser.
    #[inline(always)]
    fn plain_to_quote(&mut self, start: usize, mut i: usize) -> Option<(usize, usize)> {
        loop {
            let c = *self.buf.get(i)?;
            if c == b'"' {
                self.pos = i + 1;
                return Some((start, i));
            }
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

    /// A quoted price or quantity: its range and, for plain decimal text, its digits
    /// read on the way to the closing quote ([`read_quoted`]); any other string is
    /// scanned as usual and left [`Digits::UNREAD`] for the grid to parse (and refuse).
    #[inline(always)]
    pub fn decimal_string(&mut self) -> Option<((u32, u32), Digits)> {
        self.eat(b'"')?;
        let start = self.pos;
        if let Some((end, d)) = read_quoted(self.buf, start) {
            self.pos = end + 1;
            return Some(((start as u32, (end - start) as u32), d));
        }
        let (s, e) = self.str_body()?;
        Some(((s as u32, (e - s) as u32), Digits::UNREAD))
    }

    /// Digits of a JSON integer without sign; refuses leading zeros, fractions and
    /// exponents (left to the full parser).
    #[inline(always)]
    pub fn digits(&mut self) -> Option<u64> {
        let first = self.peek()?.wrapping_sub(b'0');
        if first > 9 {
            return None;
        }
        let mut v = 0u64;
        let mut n = 0;
        if first == 0 {
            self.pos += 1;
            if let Some(b'0'..=b'9') = self.peek() {
                return None;
            }
        } else {
            // Eight digits at a time (ids and times are 10-19 digits: perf showed the
            // digit loop at ~12 % of the depth decoder); 16 digits cannot overflow.
            while n < 16 {
                let Some(w) = word_at(self.buf, self.pos) else {
                    break;
                };
                if !eight_digits(w) {
                    break;
                }
                v = v * 100_000_000 + parse_eight_digits(w);
                self.pos += 8;
                n += 8;
            }
            // Fewer than eight digits left (ids and times have 13): read them from one
            // word as well (callgrind: five trips round the byte loop a time before).
            if n < 16 {
                if let Some(w) = word_at(self.buf, self.pos) {
                    let m = leading_digits(w);
                    if (1..8).contains(&m) {
                        v = v * POW10[m] as u64 + parse_leading_digits(w, m);
                        self.pos += m;
                        n += m;
                    }
                }
            }
            // Up to 19 digits cannot overflow a u64; only a 20th needs checking.
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
    pub fn object(&mut self, field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.object_keyed::<false>(field)
    }

    /// [`Self::object`] for a venue whose keys are a byte or two (Binance's `e`, `E`,
    /// `pu`, …): a key is read by [`Self::short_key`], not the eight-byte string scan,
    /// whose set-up cost more than it saved on such keys (callgrind: −8 % on Binance's
    /// reader; the byte loop on KuCoin's longer keys, `sequenceStart`, was +23 %).
    #[inline(always)]
    pub fn object_short_keys(
        &mut self,
        field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.object_keyed::<true>(field)
    }

    /// A key and its colon. `"k":` with `k` a letter, the form Binance writes nearly
    /// all its keys in, is tested as one four-byte word (callgrind: ~83 → ~68
    /// instructions a key, and no byte loop); any other key is read a byte at a time,
    /// spaces allowed before the colon.
    #[inline(always)]
    fn short_key(&mut self) -> Option<(usize, usize)> {
        let at = self.pos;
        if let Some(w) = self.buf.get(at..).and_then(|rest| rest.first_chunk()) {
            let w = u32::from_le_bytes(*w);
            let letter = (w >> 8) as u8 | 0x20;
            if w & 0xFFFF_00FF == u32::from_le_bytes([b'"', 0, b'"', b':'])
                && letter.wrapping_sub(b'a') < 26
            {
                self.pos = at + 4;
                return Some((at + 1, at + 2));
            }
        }
        self.eat(b'"')?;
        let (s, e) = self.plain_to_quote(self.pos, self.pos)?;
        self.ws();
        self.eat(b':')?;
        Some((s, e))
    }

    #[inline(always)]
    fn object_keyed<const SHORT_KEYS: bool>(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (s, e) = if SHORT_KEYS {
                self.short_key()?
            } else {
                self.eat(b'"')?;
                self.str_body()?
            };
            let key = &self.buf[s..e];
            if !SHORT_KEYS {
                self.ws();
                self.eat(b':')?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `digits` must give: the plain reading of a JSON integer (no leading
    /// zero, no fraction or exponent after it, within u64).
    fn reference(s: &[u8]) -> Option<(u64, usize)> {
        let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || (s[0] == b'0' && n > 1) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = s.get(n) {
            return None;
        }
        let v = std::str::from_utf8(&s[..n]).ok()?.parse::<u64>().ok()?;
        Some((v, n))
    }

    /// Every text of `1..=max_len` bytes from `alphabet` (and the empty one).
    fn texts_over(alphabet: &[u8], max_len: usize) -> Vec<Vec<u8>> {
        let mut texts: Vec<Vec<u8>> = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..max_len {
            last = last
                .iter()
                .flat_map(|t: &Vec<u8>| {
                    alphabet.iter().map(move |&c| [t.as_slice(), &[c]].concat())
                })
                .collect();
            texts.extend(last.iter().cloned());
        }
        texts
    }

    /// The four-byte key test takes only what the byte-at-a-time reading would take,
    /// to the same keys and positions: every object opening of up to five bytes from
    /// an alphabet of the bytes that matter (quotes, colons, letters, spaces, escapes,
    /// control and non-ASCII bytes), each followed by a value and more.
    #[test]
    fn short_keys_read_as_strings() {
        let alphabet = [
            b'"', b'a', b'Z', b'@', b':', b' ', b'\\', b'1', b'}', 0x1f, 0x80,
        ];
        let texts = texts_over(&alphabet, 5);
        let read = |buf: &[u8], short: bool| {
            let mut cur = Cursor::new(buf);
            let mut keys = Vec::new();
            let mut field = |cur: &mut Cursor<'_>, key: &[u8]| {
                keys.push((key.to_vec(), cur.pos));
                cur.skip(1)
            };
            let done = if short {
                cur.object_short_keys(&mut field)
            } else {
                cur.object(&mut field)
            };
            (done, keys, cur.pos)
        };
        let mut taken = 0;
        for t in &texts {
            for tail in [&b""[..], b"1}", b"1,\"b\":2}", b" : 1 }"] {
                let buf = [t.as_slice(), tail].concat();
                let short = read(&buf, true);
                assert_eq!(
                    short,
                    read(&buf, false),
                    "{:?}",
                    String::from_utf8_lossy(&buf)
                );
                taken += usize::from(short.0.is_some());
            }
        }
        assert!(
            taken > 1000,
            "only {taken} objects read: the test reads too little"
        );
    }

    /// A short key is read as a string would be: every text of up to four bytes from
    /// an alphabet of the bytes that matter (the quote, the backslash, a control byte,
    /// a byte past ASCII), followed by more, ends at the same place either way.
    #[test]
    fn keys_read_as_strings() {
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x80, b'Z', b':'];
        for t in &texts_over(&alphabet, 4) {
            for tail in [&b""[..], b"\":1", b"bcdefghij\":1}"] {
                let buf = [t.as_slice(), tail].concat();
                let (mut k, mut s) = (Cursor::new(&buf), Cursor::new(&buf));
                assert_eq!(
                    k.plain_to_quote(0, 0).map(|r| (r, k.pos)),
                    s.str_body().map(|r| (r, s.pos)),
                    "{buf:?}"
                );
            }
        }
    }

    #[test]
    fn eight_digit_steps_read_as_one_at_a_time() {
        let mut cases: Vec<String> = vec![
            "0".into(),
            "00".into(),
            "7".into(),
            "12345678".into(),
            "1234567890123".into(),
            "5000000000014,".into(),
            "18446744073709551615".into(),
            "18446744073709551616".into(),
            "99999999999999999999".into(),
            "1234567890123456789}".into(),
            "12345678.5".into(),
            "123456789e3".into(),
            "1234567/".into(),
            "12345678:".into(),
            "1234567\u{7f}8".into(),
        ];
        // Every length 1..=21, with each byte of the first 16 made a non-digit once.
        let mut r = 0x2545_f491_4f6c_dd1du64;
        for len in 1..=21 {
            let mut d: Vec<u8> = (0..len)
                .map(|_| {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    b'0' + (r % 10) as u8
                })
                .collect();
            d[0] = b'1' + (r % 9) as u8;
            cases.push(String::from_utf8(d.clone()).unwrap());
            for k in 0..len.min(16) {
                for bad in [b'/', b':', b'.', b' ', 0xb0, 0xff, b'0' + 0x40] {
                    let mut e = d.clone();
                    e[k] = bad;
                    cases.push(String::from_utf8_lossy(&e).into_owned());
                    let mut raw = d.clone();
                    raw[k] = bad;
                    let mut cur = Cursor::new(&raw);
                    let got = cur.digits().map(|v| (v, cur.pos));
                    assert_eq!(got, reference(&raw), "{raw:?}");
                }
            }
        }
        for c in &cases {
            let mut cur = Cursor::new(c.as_bytes());
            let got = cur.digits().map(|v| (v, cur.pos));
            assert_eq!(got, reference(c.as_bytes()), "{c:?}");
        }
    }
}
