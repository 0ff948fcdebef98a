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
use crate::core::decimal::read_quoted;
use crate::venues::scan::Cursor;

impl<'a> Cursor<'a> {
    /// `[["p","q"],...]` into `scratch`.
    ///
    /// Out of line: inlined into the frame's reader, the levels' loop shared its
    /// registers with the keys' and reloaded the keys' values on every branch out of a
    /// number (callgrind).
    #[inline(never)]
    fn levels(&mut self, scratch: &mut Vec<RawLevel>) -> Option<(u32, u32)> {
        self.eat(b'[')?;
        let start = scratch.len() as u32;
        self.ws();
        if self.eat(b']').is_some() {
            return Some((start, start));
        }
        loop {
            if scratch.len() == scratch.capacity() {
                return None; // the full parser reports TooManyLevels
            }
            match self.tight_level() {
                Some((level, next)) => {
                    scratch.push(level);
                    // The byte after the level, from the level's window.
                    if next == b',' {
                        self.pos += 1;
                        continue;
                    }
                }
                None => scratch.push(self.spaced_level()?),
            }
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

    /// `["p","q"]` as Binance writes it, without spaces: the punctuation tested as
    /// bytes at known places. `None` (nothing consumed) for any other form; with the
    /// level, the byte after it (zero past the frame's end).
    ///
    /// Read from a window of [`LEVEL_WINDOW`] bytes (the frame's own, or its last
    /// bytes copied behind zeros), so that no byte is bounds-checked against the frame:
    /// each number is at most 18 bytes, and every place read lies inside the window.
    #[inline(always)]
    fn tight_level(&mut self) -> Option<(RawLevel, u8)> {
        let at = self.pos;
        let rest = self.buf.get(at..)?;
        let padded;
        let w: &[u8; LEVEL_WINDOW] = match rest.first_chunk() {
            Some(w) => w,
            None => {
                padded = padded_window(rest);
                &padded
            }
        };
        if w[..2] != *b"[\"" {
            return None;
        }
        // `read_quoted` stops only on a closing quote: the bytes after it are tested.
        let (px_end, px_digits) = read_quoted(w, 2)?;
        if w.get(px_end + 1..px_end + 3)? != b",\"" {
            return None;
        }
        let qty_at = px_end + 3;
        let (qty_end, qty_digits) = read_quoted(w, qty_at)?;
        if *w.get(qty_end + 1)? != b']' {
            return None;
        }
        let next = *w.get(qty_end + 2)?;
        self.pos = at + qty_end + 2;
        let range = |from: usize, to: usize| ((at + from) as u32, (to - from) as u32);
        let level = RawLevel {
            px: range(2, px_end),
            qty: range(qty_at, qty_end),
            px_digits,
            qty_digits,
        };
        Some((level, next))
    }

    /// A level in any JSON form (spaces, strings that are not plain decimals).
    #[inline(always)]
    fn spaced_level(&mut self) -> Option<RawLevel> {
        self.ws();
        self.eat(b'[')?;
        self.ws();
        let (px, px_digits) = self.decimal_string()?;
        self.ws();
        self.eat(b',')?;
        self.ws();
        let (qty, qty_digits) = self.decimal_string()?;
        self.ws();
        self.eat(b']')?;
        Some(RawLevel {
            px,
            qty,
            px_digits,
            qty_digits,
        })
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
                self.object_short_keys(|cur, key| match KKey::of(key) {
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
        self.object_short_keys(|cur, key| match Key::of(key) {
            Some(k) => cur.fill(msg.slot(k), scratch),
            None => cur.skip(1),
        })
    }
}

/// Bytes a tight level is read from: a level is at most 45 bytes (`["`, 18, `","`,
/// 18, `"]`).
const LEVEL_WINDOW: usize = 64;

/// The last bytes of a frame (fewer than [`LEVEL_WINDOW`]) followed by zeros, which
/// no level reads as part of it: a level cut by the frame's end fails as it would.
/// Marked cold to keep it off the level loop's straight path, though a frame's last
/// two or three levels (about one in five) come here.
#[cold]
#[inline(never)]
fn padded_window(rest: &[u8]) -> [u8; LEVEL_WINDOW] {
    let mut w = [0; LEVEL_WINDOW];
    let n = rest.len().min(LEVEL_WINDOW);
    w[..n].copy_from_slice(&rest[..n]);
    w
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
    let mut cur = Cursor::new(buf);
    cur.ws();
    cur.eat(b'{')?;
    cur.object_short_keys(|cur, key| match key {
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
