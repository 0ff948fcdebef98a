//! A tape on disk (`minerva tape build`): a recording decoded once, so backtests,
//! evolutions and signal runs read it without decoding JSON again. Cold path.
//!
//! Layout, little-endian, version 2:
//!
//! ```text
//! header   magic "MNVTAPE\0", version u32, the symbol's spec (its grids and filters:
//!          a tape is read on the grid it was decoded on), counts (frames, decode
//!          errors, dropped, messages, levels), XXH3-64 of the payload, zeros up to
//!          byte PAYLOAD_AT (a multiple of 64: the columns start cache-line aligned)
//! payload  recorded time of each message (u64 column), each message (a fixed
//!          RECORD-byte record, `record.rs`), the depth and snapshot levels (price
//!          i64, qty i64)
//! ```
//!
//! A tape of another version, another grid (when the reader names one), a cut or
//! altered file is refused with the reason; nothing is read past a bad checksum.
//! A file is memory-mapped and read in place: the page cache holds it once however
//! many runs read it, and nothing is unpacked. Its checksum is checked before use
//! (XXH3 reads at memory speed; version 1's SHA-256 took as long as a quarter of a
//! backtest), and every record's tag and level range once, so the hot reads trust it.
//! The file must not be changed in place while it is mapped: `save` writes a new file
//! and renames it over the old one, which leaves a mapped old file whole.

use super::record::{self, LEVEL, RECORD};
use super::{Bytes, Tape};
use crate::core::{
    DEPTH_CHUNK_LEVELS, Lots, Market, PriceGrid, QtyGrid, SymbolSpec, SymbolStatus, Ticks, Venue,
};
use std::path::Path;

/// The first bytes of every tape file.
pub const MAGIC: &[u8; 8] = b"MNVTAPE\0";
/// The layout written; another one is refused.
pub const VERSION: u32 = 2;
/// Bytes of the spec in the header.
const SPEC: usize = 24 + 3 + 2 * 17 + 4 * 9 + 17 + 2 + 9;
/// Header bytes before the padding.
const HEADER: usize = 8 + 4 + SPEC + 5 * 8 + 8;
/// Where the payload starts.
const PAYLOAD_AT: usize = HEADER.next_multiple_of(64);

/// Why a tape could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TapeFileError {
    /// The file system's reason.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Its error.
        source: std::io::Error,
    },
    /// Not a tape at all.
    #[error("not a Minerva tape (no MNVTAPE header)")]
    NotATape,
    /// Written by another layout.
    #[error(
        "a tape of layout version {found}; this Minerva reads version {VERSION}: build it again with `minerva tape build`"
    )]
    Version {
        /// The file's version.
        found: u32,
    },
    /// Shorter than its header says, or its payload does not match its checksum.
    #[error("the tape is cut or altered ({0}): build it again")]
    Corrupt(&'static str),
    /// Decoded on another grid than the one asked for.
    #[error("the tape was decoded for {tape}, not for {asked}: build it again on this grid")]
    OtherGrid {
        /// The tape's spec, briefly.
        tape: String,
        /// The spec asked for, briefly.
        asked: String,
    },
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<i64>) {
    out.push(u8::from(v.is_some()));
    put_u64(out, v.unwrap_or(0) as u64);
}

/// A reader over bytes whose length was checked first.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TapeFileError> {
        let b: &'a [u8] = self.b;
        let s = b
            .get(self.at..self.at + n)
            .ok_or(TapeFileError::Corrupt("shorter than its header"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TapeFileError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, TapeFileError> {
        let mut a = [0; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, TapeFileError> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, TapeFileError> {
        self.u64().map(|v| v as i64)
    }
    fn opt(&mut self) -> Result<Option<i64>, TapeFileError> {
        let some = self.u8()? != 0;
        let v = self.i64()?;
        Ok(some.then_some(v))
    }
}

fn write_spec(out: &mut Vec<u8>, s: &SymbolSpec) {
    let mut name = [0u8; 24];
    name[..s.name.len()].copy_from_slice(s.name.as_bytes());
    out.extend_from_slice(&name);
    out.push(match s.venue {
        Venue::Binance => 0,
        Venue::Kucoin => 1,
    });
    out.push(match s.market {
        Market::Spot => 0,
        Market::UsdM => 1,
        Market::CoinM => 2,
    });
    out.push(match s.status {
        SymbolStatus::Trading => 0,
        SymbolStatus::Halted => 1,
        SymbolStatus::Unknown => 2,
    });
    let (pd, tick, pstep) = s.price.parts();
    out.push(pd);
    put_u64(out, tick as u64);
    put_u64(out, pstep as u64);
    out.push(s.qty.decimals());
    put_u64(out, s.qty.step().0 as u64);
    put_u64(out, 0); // reserved
    put_opt(out, s.min_price.map(|t| t.0));
    put_opt(out, s.max_price.map(|t| t.0));
    put_opt(out, Some(s.min_qty.0));
    put_opt(out, s.max_qty.map(|q| q.0));
    out.push(u8::from(s.min_notional.is_some()));
    out.extend_from_slice(&s.min_notional.unwrap_or(0).to_le_bytes());
    out.push(s.price_precision);
    out.push(s.qty_precision);
    put_opt(out, s.contract_size);
}

fn read_spec(c: &mut Cursor<'_>) -> Result<SymbolSpec, TapeFileError> {
    let bad = || TapeFileError::Corrupt("its spec does not read");
    let raw = c.take(24)?;
    let len = raw.iter().position(|&b| b == 0).unwrap_or(24);
    let name = std::str::from_utf8(&raw[..len]).map_err(|_| bad())?;
    let venue = match c.u8()? {
        0 => Venue::Binance,
        1 => Venue::Kucoin,
        _ => return Err(bad()),
    };
    let market = match c.u8()? {
        0 => Market::Spot,
        1 => Market::UsdM,
        2 => Market::CoinM,
        _ => return Err(bad()),
    };
    let status = match c.u8()? {
        0 => SymbolStatus::Trading,
        1 => SymbolStatus::Halted,
        _ => SymbolStatus::Unknown,
    };
    let pd = c.u8()?;
    let (tick, pstep) = (c.i64()?, c.i64()?);
    let price = PriceGrid::from_parts(pd, tick, pstep).ok_or_else(bad)?;
    let qd = c.u8()?;
    let qstep = c.i64()?;
    let _reserved = c.u64()?;
    if qd > 18 || qstep <= 0 {
        return Err(bad());
    }
    let lot = crate::core::decimal::canonical(qstep, qd);
    let qty = QtyGrid::new(qd, Some(&lot)).map_err(|_| bad())?;
    let mut spec = SymbolSpec::bare(name, market, price, qty).map_err(|_| bad())?;
    spec.venue = venue;
    spec.status = status;
    spec.min_price = c.opt()?.map(Ticks);
    spec.max_price = c.opt()?.map(Ticks);
    spec.min_qty = Lots(c.opt()?.unwrap_or(0));
    spec.max_qty = c.opt()?.map(Lots);
    let has_notional = c.u8()? != 0;
    let mut n = [0u8; 16];
    n.copy_from_slice(c.take(16)?);
    spec.min_notional = has_notional.then(|| i128::from_le_bytes(n));
    spec.price_precision = c.u8()?;
    spec.qty_precision = c.u8()?;
    spec.contract_size = c.opt()?;
    Ok(spec)
}

/// A spec in a line, for refusals.
fn brief(s: &SymbolSpec) -> String {
    format!(
        "{} {} (tick {}, lot {})",
        s.name,
        s.market.name(),
        s.price.format(s.price.step()),
        s.qty.format(s.qty.step())
    )
}

/// XXH3-64 of a payload.
fn checksum(payload: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(payload)
}

impl Tape {
    /// The tape, decoded for `spec`, as a tape file's bytes. Cold.
    pub fn to_bytes(&self, spec: &SymbolSpec) -> Vec<u8> {
        let payload = self.payload();
        let mut out = Vec::with_capacity(PAYLOAD_AT + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        write_spec(&mut out, spec);
        for v in [
            self.frames,
            self.decode_errors,
            self.dropped,
            self.n_msgs as u64,
            self.n_levels as u64,
        ] {
            put_u64(&mut out, v);
        }
        put_u64(&mut out, checksum(payload));
        out.resize(PAYLOAD_AT, 0);
        out.extend_from_slice(payload);
        out
    }

    /// Writes the tape, decoded for `spec`, to `path`. Cold.
    ///
    /// # Errors
    /// [`TapeFileError::Io`] when the file cannot be written.
    pub fn save(&self, spec: &SymbolSpec, path: &Path) -> Result<(), TapeFileError> {
        let out = self.to_bytes(spec);
        let io = |source| TapeFileError::Io {
            path: path.display().to_string(),
            source,
        };
        // Written aside, then renamed: a reader never sees half a tape, and a tape
        // mapped by a running backtest keeps its old file.
        let tmp = path.with_extension("tape.part");
        std::fs::write(&tmp, &out).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// True when `path` starts like a tape (the CLI tells tapes from recordings).
    pub fn is_tape_file(path: &Path) -> bool {
        use std::io::Read;
        let mut head = [0u8; 8];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| &head == MAGIC)
    }

    /// Maps a tape file into memory and checks it; with `asked`, a tape decoded on
    /// another grid is refused. Cold.
    ///
    /// # Errors
    /// [`TapeFileError`]: unreadable, not a tape, another version, cut or altered,
    /// another grid.
    pub fn load(
        path: &Path,
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        let io = |source| TapeFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < PAYLOAD_AT as u64 {
            // Too short to map usefully (or empty, which cannot be mapped): refused
            // by the same checks as any other bytes.
            return Self::from_vec(std::fs::read(path).map_err(io)?, asked);
        }
        // SAFETY: the mapping is read-only and private, and lives as long as the
        // tape (behind its `Arc`). A tape file is only ever replaced by a rename
        // (`save`), which leaves this mapping's file whole; changing it in place
        // while it is read is outside what Minerva supports (docs/backtest.md).
        // `populate` reads the file in once: the checksum touches every page anyway.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io)?;
        Self::parse(Bytes::Mapped(map), asked)
    }

    /// [`Self::load`] on bytes in memory (copied: see [`Self::from_vec`]).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn from_bytes(
        bytes: &[u8],
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        Self::from_vec(bytes.to_vec(), asked)
    }

    /// [`Self::load`] on a tape file's bytes, which the tape keeps and reads in place.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn from_vec(
        bytes: Vec<u8>,
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        Self::parse(Bytes::Owned(bytes), asked)
    }

    fn parse(
        bytes: Bytes,
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(TapeFileError::NotATape);
        }
        let mut c = Cursor {
            b: &bytes[..],
            at: 8,
        };
        let version = c.u32()?;
        if version != VERSION {
            return Err(TapeFileError::Version { found: version });
        }
        let spec = read_spec(&mut c)?;
        if let Some(a) = asked {
            if a != &spec {
                return Err(TapeFileError::OtherGrid {
                    tape: brief(&spec),
                    asked: brief(a),
                });
            }
        }
        let (frames, decode_errors, dropped) = (c.u64()?, c.u64()?, c.u64()?);
        let (n_msgs, n_levels) = (c.u64()? as usize, c.u64()? as usize);
        let sum = c.u64()?;
        let payload = bytes
            .get(PAYLOAD_AT..)
            .ok_or(TapeFileError::Corrupt("shorter than its header"))?;
        let want = n_msgs
            .checked_mul(8 + RECORD)
            .and_then(|m| n_levels.checked_mul(LEVEL).and_then(|l| m.checked_add(l)));
        if want != Some(payload.len()) {
            return Err(TapeFileError::Corrupt(
                "its length is not what its header says",
            ));
        }
        if checksum(payload) != sum {
            return Err(TapeFileError::Corrupt("checksum mismatch"));
        }
        let mut tape = Tape::from_payload(bytes, PAYLOAD_AT, n_msgs, n_levels);
        tape.frames = frames;
        tape.decode_errors = decode_errors;
        tape.dropped = dropped;
        // Every record reads, and every level range it names lies on the tape: the
        // hot reads index without checking again.
        for k in 0..n_msgs {
            let r = tape.rec(k);
            if !(record::DEPTH..=record::SNAPSHOT_END).contains(&r.tag()) {
                return Err(TapeFileError::Corrupt("a message does not read"));
            }
            if let Some((start, n, bids)) = r.level_range() {
                if start as usize + n as usize > n_levels
                    || n as usize > DEPTH_CHUNK_LEVELS
                    || bids > n
                {
                    return Err(TapeFileError::Corrupt(
                        "a message names levels off the tape",
                    ));
                }
            }
        }
        Ok((tape, spec))
    }
}
