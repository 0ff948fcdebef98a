//! Exact decimal text ⇄ scaled integer conversion.
//!
//! Binance sends every price and quantity as a decimal string with a fixed number of
//! places per market (`"61837.63000000"`, `"0.000"`, `"297"`). We parse straight into
//! an `i64` mantissa at a chosen scale: digits beyond the scale must be zeros, otherwise
//! the value is off the grid and we say so instead of rounding.

use thiserror::Error;

/// Why a decimal string could not be turned into a scaled integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// Empty input, a sign, a stray character, a missing digit around `.`.
    #[error("not a plain unsigned decimal number")]
    Syntax,
    /// Non-zero digits beyond the allowed number of decimal places.
    #[error("more than {scale} significant decimal places")]
    TooPrecise {
        /// The number of decimal places the grid allows.
        scale: u8,
    },
    /// The scaled value does not fit an `i64`.
    #[error("value out of range")]
    Overflow,
}

/// Powers of ten that fit an `i64`, indexed by exponent.
pub const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Parses an unsigned decimal (`123`, `123.45`, `0.000`) into a mantissa at `scale` places.
///
/// # Hot path: no allocation.
///
/// # Errors
/// [`DecimalError`] for malformed text, non-zero digits past `scale`, or `i64` overflow.
#[inline]
pub fn parse_scaled(s: &[u8], scale: u8) -> Result<i64, DecimalError> {
    match parse_short(s, scale) {
        Some(m) => Ok(m),
        None => parse_checked(s, scale),
    }
}

/// The common case in one pass without per-digit checks: at most 18 bytes, so at most
/// 18 digits and no overflow before the final scaling. `None` for anything else,
/// errors included; [`parse_checked`] then decides. (Callgrind: 175 → ~60 instructions
/// per Binance price.)
#[inline(always)]
fn parse_short(s: &[u8], scale: u8) -> Option<i64> {
    let n = s.len();
    if n > 18 || scale > 18 {
        return None;
    }
    let mut i = 0;
    let mut m: i64 = 0;
    while i < n {
        let d = s[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m * 10 + d as i64;
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut kept = 0;
    if i < n {
        if s[i] != b'.' || i + 1 == n {
            return None;
        }
        i += 1;
        while i < n && kept < scale {
            let d = s[i].wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            m = m * 10 + d as i64;
            i += 1;
            kept += 1;
        }
        while i < n {
            if s[i] != b'0' {
                return None;
            }
            i += 1;
        }
    }
    m.checked_mul(POW10[(scale - kept) as usize])
}

/// A decimal's digits as a scanner read them on its way to the closing quote, so the
/// text need not be read twice: every digit as one integer and how many of them are
/// decimals (`"0.050"` → 50 and 3, `"297"` → 297 and 0).
///
/// Only plain text of at most 18 bytes is read this way ([`parse_scaled`]'s short
/// path); anything else is [`Digits::UNREAD`] and the text is parsed as usual, which
/// also gives every error. (Before, a level's two strings were read twice: once to
/// find the closing quote, once to parse.) The trailing zeros are dropped when the
/// value is scaled, not while scanning: Binance writes more decimals than the grid has
/// (`"61837.63000000"` on a 0.01 tick), and tracking the last non-zero digit in the
/// scan cost two conditional moves a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    all: u64,
    places: u8,
}

/// For each k: the inverse of 5^k modulo 2^64 (5^k is odd), so that a multiple of 5^k
/// is divided exactly by one multiplication (Granlund and Montgomery, "Division by
/// invariant integers using multiplication", §9); and `u64::MAX / 5^k`, which
/// `x * inverse` (mod 2^64) is at most exactly when `x` is a multiple of 5^k.
const DIV_POW5: [(u64, u64); 19] = {
    let mut t = [(1u64, u64::MAX); 19];
    let mut k = 1;
    let mut p = 1u64;
    while k < 19 {
        p *= 5;
        // Newton's iteration doubles the correct low bits: 3 → 6 → 12 → 24 → 48 → 96.
        let mut inv = p;
        let mut n = 0;
        while n < 5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(p.wrapping_mul(inv)));
            n += 1;
        }
        t[k] = (inv, u64::MAX / p);
        k += 1;
    }
    t
};

impl Digits {
    /// Nothing read: parse the text.
    pub const UNREAD: Digits = Digits {
        all: 0,
        places: u8::MAX,
    };

    /// Digits read from plain text: `all` at most 18 digits, `places` of them decimals.
    #[inline(always)]
    pub(crate) fn new(all: u64, places: u8) -> Self {
        debug_assert!(all < POW10[18] as u64 && places <= 16);
        Digits { all, places }
    }

    /// The value at `scale` places when that is exact, which is then what
    /// [`parse_scaled`] gives for the text; `None` when the text must decide (unread,
    /// too precise, out of range).
    ///
    /// # Hot path: no allocation, no division.
    #[inline(always)]
    pub fn scaled(self, scale: u8) -> Option<i64> {
        if scale > 18 || self.places > 18 {
            return None;
        }
        if self.places <= scale {
            return (self.all as i64).checked_mul(POW10[(scale - self.places) as usize]);
        }
        // More decimals written than the grid has: exact only when the extra ones are
        // zeros, i.e. `all` is a multiple of 10^k = 2^k * 5^k.
        let k = (self.places - scale) as usize;
        if self.all & ((1u64 << k) - 1) != 0 {
            return None;
        }
        let (inverse, most) = DIV_POW5[k];
        let q = (self.all >> k).wrapping_mul(inverse);
        if q > most {
            return None;
        }
        Some(q as i64)
    }
}

/// Reads `"digits[.digits]"` (the opening quote already consumed, `at` just after it)
/// up to the closing quote: the closing quote's index and the text's [`Digits`].
/// `None` for anything else (no digit before or after a `.`, any other byte, more
/// than 18 bytes): the caller then scans it as an ordinary string.
///
/// A byte at a time: reading a word at a time (a SWAR digit test, the point and the
/// quote found by bit tricks, two eight-digit conversions) took fewer branches but
/// measured slower end to end (docs/decoding.md).
///
/// # Hot path: no allocation.
#[inline(always)]
pub fn read_quoted(buf: &[u8], at: usize) -> Option<(usize, Digits)> {
    // At most 18 bytes are read, so at most 18 digits: nothing below overflows, and a
    // longer number stops on a byte that is not its closing quote.
    let end = buf.len().min(at.saturating_add(18));
    let mut i = at;
    let mut all: u64 = 0;
    while i < end {
        let d = buf[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        all = all * 10 + d as u64;
        i += 1;
    }
    if i == at {
        return None;
    }
    let mut places = 0;
    if i < end && buf[i] == b'.' {
        i += 1;
        let first = i;
        while i < end {
            let d = buf[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            all = all * 10 + d as u64;
            i += 1;
        }
        if i == first {
            return None;
        }
        places = i - first;
    }
    if buf.get(i) != Some(&b'"') {
        return None;
    }
    Some((i, Digits::new(all, places as u8)))
}

/// Any length, every error exact.
#[cold]
fn parse_checked(s: &[u8], scale: u8) -> Result<i64, DecimalError> {
    let n = s.len();
    let mut int_end = 0;
    while int_end < n && s[int_end].is_ascii_digit() {
        int_end += 1;
    }
    if int_end == 0 {
        return Err(DecimalError::Syntax);
    }
    let frac: &[u8] = if int_end < n {
        if s[int_end] != b'.' || int_end + 1 == n {
            return Err(DecimalError::Syntax);
        }
        &s[int_end + 1..]
    } else {
        &[]
    };
    let kept = frac.len().min(scale as usize);
    for (k, &c) in frac.iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(DecimalError::Syntax);
        }
        if k >= kept && c != b'0' {
            return Err(DecimalError::TooPrecise { scale });
        }
    }
    let mut m: i64 = 0;
    for &c in s[..int_end].iter().chain(&frac[..kept]) {
        m = m
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as i64))
            .ok_or(DecimalError::Overflow)?;
    }
    let k = scale as usize - kept;
    if k >= POW10.len() {
        return if m == 0 {
            Ok(0)
        } else {
            Err(DecimalError::Overflow)
        };
    }
    m.checked_mul(POW10[k]).ok_or(DecimalError::Overflow)
}

/// Number of decimal places written in `s` (`"0.01000"` → 5), or `None` if not a decimal.
pub fn written_places(s: &str) -> Option<u8> {
    match s.split_once('.') {
        Some((_, f)) => u8::try_from(f.len()).ok(),
        None => Some(0),
    }
}

/// Number of decimal places up to the last non-zero digit (`"0.01000"` → 2, `"10"` → 0).
pub fn significant_places(s: &str) -> Option<u8> {
    match s.split_once('.') {
        Some((_, f)) => u8::try_from(f.trim_end_matches('0').len()).ok(),
        None => Some(0),
    }
}

/// Writes `m × 10^-scale` in canonical form: no sign, no leading zeros, no trailing
/// fractional zeros, no trailing `.` (`6160200, 2` → `61602`; `9122, 5` → `0.09122`).
///
/// This is the form of `final_book_sha256` and `top10` in `EXPECTED.json`. Cold path.
pub fn write_canonical(out: &mut String, m: i64, scale: u8) {
    use std::fmt::Write;
    let neg = m < 0;
    let u = m.unsigned_abs();
    if neg {
        out.push('-');
    }
    if scale == 0 {
        let _ = write!(out, "{u}");
        return;
    }
    let p = 10u64.pow(scale as u32);
    let (int, frac) = (u / p, u % p);
    let _ = write!(out, "{int}");
    if frac != 0 {
        let mut digits = [0u8; 20];
        let mut f = frac;
        let mut k = scale as usize;
        while k > 0 {
            digits[k - 1] = b'0' + (f % 10) as u8;
            f /= 10;
            k -= 1;
        }
        let mut end = scale as usize;
        while digits[end - 1] == b'0' {
            end -= 1;
        }
        out.push('.');
        for &d in &digits[..end] {
            out.push(d as char);
        }
    }
}

/// [`write_canonical`] into a fresh `String`. Cold path.
pub fn canonical(m: i64, scale: u8) -> String {
    let mut s = String::new();
    write_canonical(&mut s, m, scale);
    s
}

/// The decimal digits of `v`, written at the end of `buf` (an integer into a request
/// without allocating).
///
/// # Hot path: no allocation.
#[inline]
pub fn u64_digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// `t` as a mantissa at `scale` places, rounded up when it is finer (a minimum, such
/// as a minimum notional, must not be lowered by the grid).
///
/// # Errors
/// [`DecimalError`] when `t` is not a decimal or needs more than 18 places.
pub fn ceil_scaled(t: &str, scale: u8) -> Result<i128, DecimalError> {
    let d = significant_places(t).unwrap_or(0).max(scale);
    if d > 18 {
        return Err(DecimalError::Overflow);
    }
    let m = parse_scaled(t.as_bytes(), d)? as i128;
    let k = 10i128.pow((d - scale) as u32);
    Ok((m + k - 1) / k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_quoted` of the text up to the next quote: its digits when the text is a
    /// plain decimal of at most 18 bytes, nothing otherwise.
    fn check_quoted(buf: &[u8], at: usize) -> bool {
        let got = read_quoted(buf, at);
        let Some(quote) = buf[at..].iter().position(|&c| c == b'"').map(|q| at + q) else {
            assert_eq!(got, None);
            return false;
        };
        let text = &buf[at..quote];
        let (int, frac) = match text.iter().position(|&c| c == b'.') {
            Some(p) => (&text[..p], Some(&text[p + 1..])),
            None => (text, None),
        };
        let digits = |t: &[u8]| !t.is_empty() && t.iter().all(u8::is_ascii_digit);
        let plain = text.len() <= 18 && digits(int) && frac.is_none_or(digits);
        let shown = String::from_utf8_lossy(text);
        if !plain {
            assert_eq!(got, None, "{shown}");
            return false;
        }
        let (end, d) = got.unwrap_or_else(|| panic!("{shown} not read"));
        assert_eq!(end, quote, "{shown}");
        for scale in 0..=18 {
            assert_eq!(
                d.scaled(scale),
                parse_scaled(text, scale).ok(),
                "{shown} at {scale}"
            );
        }
        // Past 18 places the text decides.
        assert_eq!(d.scaled(19), None);
        true
    }

    /// The digits read on the way to the quote give what `parse_scaled` gives for the
    /// text at every scale, and anything but a plain decimal is left to the text:
    /// random bytes (points first, last or twice, bytes ≥ 0x80, no quote, long text,
    /// the frame's end) and decimals as exchanges write them (zeros common).
    #[test]
    fn quoted_digits_read_like_the_text_parses() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"0000123456789..\"\"x/:\xfa\xff";
        let mut plain = 0;
        for case in 0..300_000 {
            let mut buf: Vec<u8> = (0..rng.usize(0..3)).map(|_| b'"').collect();
            let at = buf.len();
            for _ in 0..rng.usize(0..24) {
                // Mostly digits, so that plain decimals of every length come up.
                let c = if rng.u8(..) < 200 {
                    b'0' + rng.u8(0..10)
                } else {
                    alphabet[rng.usize(..alphabet.len())]
                };
                buf.push(c);
            }
            if case % 3 != 0 {
                buf.push(b'"');
            }
            for _ in 0..rng.usize(0..20) {
                buf.push(alphabet[rng.usize(..alphabet.len())]);
            }
            plain += check_quoted(&buf, at) as u32;
        }
        assert!(plain > 30_000, "only {plain} plain decimals generated");
        for _ in 0..200_000 {
            let digit = |rng: &mut fastrand::Rng| {
                if rng.bool() {
                    b'0'
                } else {
                    b'0' + rng.u8(0..10)
                }
            };
            let mut buf: Vec<u8> = (0..rng.usize(1..12)).map(|_| digit(&mut rng)).collect();
            if rng.u8(..) < 220 {
                buf.push(b'.');
                for _ in 0..rng.usize(0..11) {
                    buf.push(digit(&mut rng));
                }
            }
            buf.push(b'"');
            buf.extend_from_slice(&b"]],\"a\":[]}"[..rng.usize(0..11)]);
            check_quoted(&buf, 0);
        }
        // The shapes Binance sends, by name.
        for (text, sig, places) in [
            ("59961.00", 5996100, 2),
            ("0.000", 0, 3),
            ("0.050", 50, 3),
            ("297", 297, 0),
            ("61837.63000000", 6183763000000, 8),
            ("0.00012345", 12345, 8),
            ("100", 100, 0),
        ] {
            let quoted = format!("{text}\"]]}}");
            let (end, d) = read_quoted(quoted.as_bytes(), 0).unwrap();
            assert_eq!((end, d), (text.len(), Digits::new(sig, places)), "{text}");
        }
    }

    /// The tables behind the division-free scaling: each inverse is one, and the
    /// bound splits multiples of 5^k from the rest.
    #[test]
    fn inverse_powers_of_five_divide_exactly() {
        let mut p = 1u64;
        for (k, &(inverse, most)) in DIV_POW5.iter().enumerate().skip(1) {
            p *= 5;
            assert_eq!(p.wrapping_mul(inverse), 1, "5^{k}");
            for x in [
                0,
                1,
                2,
                p - 1,
                p,
                p + 1,
                7 * p,
                7 * p + 3,
                (u64::MAX / p) * p,
            ] {
                let q = x.wrapping_mul(inverse);
                assert_eq!(q <= most, x % p == 0, "{x} / 5^{k}");
                if x % p == 0 {
                    assert_eq!(q, x / p);
                }
            }
        }
    }

    #[test]
    fn parses_binance_shapes() {
        // (text, scale, expected)
        let cases: &[(&str, u8, Result<i64, DecimalError>)] = &[
            ("61837.63000000", 2, Ok(6_183_763)),
            ("63947.40", 1, Ok(639_474)),
            ("0.01763000", 8, Ok(1_763_000)),
            ("0.000", 3, Ok(0)),
            ("297", 0, Ok(297)),
            ("297", 3, Ok(297_000)),
            ("0.001", 2, Err(DecimalError::TooPrecise { scale: 2 })),
            ("", 2, Err(DecimalError::Syntax)),
            (".5", 2, Err(DecimalError::Syntax)),
            ("5.", 2, Err(DecimalError::Syntax)),
            ("-1", 2, Err(DecimalError::Syntax)),
            ("1e5", 2, Err(DecimalError::Syntax)),
            ("1.2.3", 2, Err(DecimalError::Syntax)),
            ("99999999999999999999", 0, Err(DecimalError::Overflow)),
            ("92233720368547758.07", 2, Ok(i64::MAX)),
            ("92233720368547758.08", 2, Err(DecimalError::Overflow)),
        ];
        for (i, (s, scale, want)) in cases.iter().enumerate() {
            assert_eq!(parse_scaled(s.as_bytes(), *scale), *want, "case {i}: {s}");
        }
    }

    #[test]
    fn short_and_checked_paths_agree() {
        let inputs = [
            "0",
            "1",
            "1.5",
            "61837.63000000",
            "0.000",
            "9.99",
            "1.2x",
            "12.",
            "x",
            "0.00000001",
        ];
        for s in inputs {
            for scale in [0u8, 1, 2, 8, 18] {
                if let Some(v) = parse_short(s.as_bytes(), scale) {
                    assert_eq!(Ok(v), parse_checked(s.as_bytes(), scale), "{s} @ {scale}");
                }
            }
        }
    }

    #[test]
    fn canonical_matches_digest_rule() {
        let cases: &[(i64, u8, &str)] = &[
            (6_160_200_000_000, 8, "61602"),
            (9_122_000, 8, "0.09122"),
            (100_000, 2, "1000"),
            (297, 0, "297"),
            (5, 3, "0.005"),
            (0, 3, "0"),
        ];
        for (m, s, want) in cases {
            assert_eq!(canonical(*m, *s), *want);
        }
    }

    #[test]
    fn places() {
        assert_eq!(written_places("0.01000"), Some(5));
        assert_eq!(significant_places("0.01000"), Some(2));
        assert_eq!(significant_places("61800.20"), Some(1));
        assert_eq!(significant_places("297"), Some(0));
    }
}
