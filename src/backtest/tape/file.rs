//! A tape on disk (`minerva tape build`): a recording decoded once, so backtests,
//! evolutions and signal runs read it without decoding JSON again. Cold path.
//!
//! Layout, little-endian, version 1:
//!
//! ```text
//! header   magic "MNVTAPE\0", version u32, the symbol's spec (its grids and filters:
//!          a tape is read on the grid it was decoded on), counts (frames, decode
//!          errors, dropped, messages, levels), SHA-256 of the payload
//! payload  recorded time of each message (u64 column), each message (a fixed
//!          RECORD-byte record), the depth and snapshot levels (price i64, qty i64)
//! ```
//!
//! A tape of another version, another grid (when the reader names one), a cut or
//! altered file is refused with the reason; nothing is read past a bad checksum.
//! The file is read whole into memory (a session is tens of megabytes; the payload is
//! checked before it is used, which touches every byte anyway).

use super::{Body, Packed, Tape};
use crate::core::{
    AggTrade, Dec8, Level, Lots, MarkPrice, Market, PriceGrid, QtyGrid, SymbolId, SymbolSpec,
    SymbolStatus, Ticks, Trade, Venue,
};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first bytes of every tape file.
pub const MAGIC: &[u8; 8] = b"MNVTAPE\0";
/// The layout written; another one is refused.
pub const VERSION: u32 = 1;
/// Bytes of one message record.
const RECORD: usize = 80;
/// Bytes of the spec in the header.
const SPEC: usize = 24 + 3 + 2 * 17 + 4 * 9 + 17 + 2 + 9;
/// Header bytes.
const HEADER: usize = 8 + 4 + SPEC + 5 * 8 + 32;

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

fn record(p: &Packed, r: &mut [u8; RECORD]) {
    let mut w = 0;
    let mut put = |bytes: &[u8]| {
        r[w..w + bytes.len()].copy_from_slice(bytes);
        w += bytes.len();
    };
    match *p {
        Packed::Event {
            recv_ns,
            event_ms,
            symbol,
            body,
        } => {
            let head = |put: &mut dyn FnMut(&[u8]), tag: u8| {
                put(&[tag]);
                put(&symbol.0.to_le_bytes());
                put(&recv_ns.to_le_bytes());
                put(&event_ms.to_le_bytes());
            };
            match body {
                Body::Depth {
                    first_id,
                    last_id,
                    prev_last_id,
                    transact_ms,
                    flags,
                    n_bids,
                    n_levels,
                    start,
                } => {
                    head(&mut put, 1);
                    for v in [first_id, last_id, prev_last_id, transact_ms] {
                        put(&v.to_le_bytes());
                    }
                    put(&[flags, n_bids, n_levels]);
                    put(&start.to_le_bytes());
                }
                Body::Trade(t) => {
                    head(&mut put, 2);
                    for v in [t.trade_id, t.price.0 as u64, t.qty.0 as u64, t.trade_ms] {
                        put(&v.to_le_bytes());
                    }
                    put(&[u8::from(t.buyer_is_maker)]);
                }
                Body::AggTrade(t) => {
                    head(&mut put, 3);
                    for v in [
                        t.agg_id,
                        t.first_trade_id,
                        t.last_trade_id,
                        t.price.0 as u64,
                        t.qty.0 as u64,
                        t.trade_ms,
                    ] {
                        put(&v.to_le_bytes());
                    }
                    put(&[u8::from(t.buyer_is_maker)]);
                }
                Body::MarkPrice(m) => {
                    head(&mut put, 4);
                    for v in [
                        m.mark.0 as u64,
                        m.index.0 as u64,
                        m.settle.0 as u64,
                        m.funding_rate.0 as u64,
                        m.next_funding_ms,
                    ] {
                        put(&v.to_le_bytes());
                    }
                }
            }
        }
        Packed::SnapshotBegin(id) => {
            put(&[5]);
            put(&id.to_le_bytes());
        }
        Packed::SnapshotLevels { n_bids, n, start } => {
            put(&[6, n_bids, n]);
            put(&start.to_le_bytes());
        }
        Packed::SnapshotEnd => put(&[7]),
    }
}

fn unrecord(r: &[u8]) -> Result<Packed, TapeFileError> {
    let bad = TapeFileError::Corrupt("a message does not read");
    let mut c = Cursor { b: r, at: 0 };
    let tag = c.u8()?;
    if tag >= 5 {
        return Ok(match tag {
            5 => Packed::SnapshotBegin(c.u64()?),
            6 => Packed::SnapshotLevels {
                n_bids: c.u8()?,
                n: c.u8()?,
                start: c.u32()?,
            },
            7 => Packed::SnapshotEnd,
            _ => return Err(bad),
        });
    }
    let mut s = [0u8; 2];
    s.copy_from_slice(c.take(2)?);
    let symbol = SymbolId(u16::from_le_bytes(s));
    let (recv_ns, event_ms) = (c.u64()?, c.u64()?);
    let body = match tag {
        1 => Body::Depth {
            first_id: c.u64()?,
            last_id: c.u64()?,
            prev_last_id: c.u64()?,
            transact_ms: c.u64()?,
            flags: c.u8()?,
            n_bids: c.u8()?,
            n_levels: c.u8()?,
            start: c.u32()?,
        },
        2 => Body::Trade(Trade {
            trade_id: c.u64()?,
            price: Ticks(c.i64()?),
            qty: Lots(c.i64()?),
            trade_ms: c.u64()?,
            buyer_is_maker: c.u8()? != 0,
        }),
        3 => Body::AggTrade(AggTrade {
            agg_id: c.u64()?,
            first_trade_id: c.u64()?,
            last_trade_id: c.u64()?,
            price: Ticks(c.i64()?),
            qty: Lots(c.i64()?),
            trade_ms: c.u64()?,
            buyer_is_maker: c.u8()? != 0,
        }),
        4 => Body::MarkPrice(MarkPrice {
            mark: Dec8(c.i64()?),
            index: Dec8(c.i64()?),
            settle: Dec8(c.i64()?),
            funding_rate: Dec8(c.i64()?),
            next_funding_ms: c.u64()?,
        }),
        _ => return Err(bad),
    };
    Ok(Packed::Event {
        recv_ns,
        event_ms,
        symbol,
        body,
    })
}

impl Tape {
    /// The tape, decoded for `spec`, as a tape file's bytes. Cold.
    pub fn to_bytes(&self, spec: &SymbolSpec) -> Vec<u8> {
        let mut payload =
            Vec::with_capacity(self.msgs.len() * (8 + RECORD) + self.levels.len() * 16);
        for &t in &self.at_ns {
            put_u64(&mut payload, t);
        }
        let mut r = [0u8; RECORD];
        for m in &self.msgs {
            r.fill(0);
            record(m, &mut r);
            payload.extend_from_slice(&r);
        }
        for l in &self.levels {
            put_u64(&mut payload, l.price.0 as u64);
            put_u64(&mut payload, l.qty.0 as u64);
        }
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        write_spec(&mut out, spec);
        for v in [
            self.frames,
            self.decode_errors,
            self.dropped,
            self.msgs.len() as u64,
            self.levels.len() as u64,
        ] {
            put_u64(&mut out, v);
        }
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
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
        // Written aside, then renamed: a reader never sees half a tape.
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

    /// Reads a tape and the spec it was decoded for; with `asked`, a tape decoded on
    /// another grid is refused. Cold.
    ///
    /// # Errors
    /// [`TapeFileError`]: unreadable, not a tape, another version, cut or altered,
    /// another grid.
    pub fn load(
        path: &Path,
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        let bytes = std::fs::read(path).map_err(|source| TapeFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, asked)
    }

    /// [`Self::load`] on bytes in memory.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn from_bytes(
        bytes: &[u8],
        asked: Option<&SymbolSpec>,
    ) -> Result<(Tape, SymbolSpec), TapeFileError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(TapeFileError::NotATape);
        }
        let mut c = Cursor { b: bytes, at: 8 };
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
        let sum = c.take(32)?.to_vec();
        let payload = &bytes[c.at..];
        let want = n_msgs
            .checked_mul(8 + RECORD)
            .and_then(|m| n_levels.checked_mul(16).and_then(|l| m.checked_add(l)));
        if want != Some(payload.len()) {
            return Err(TapeFileError::Corrupt(
                "its length is not what its header says",
            ));
        }
        if Sha256::digest(payload).as_slice() != sum.as_slice() {
            return Err(TapeFileError::Corrupt("checksum mismatch"));
        }
        let mut p = Cursor { b: payload, at: 0 };
        let mut tape = Tape {
            frames,
            decode_errors,
            dropped,
            ..Tape::default()
        };
        tape.at_ns.reserve_exact(n_msgs);
        for _ in 0..n_msgs {
            tape.at_ns.push(p.u64()?);
        }
        tape.msgs.reserve_exact(n_msgs);
        for _ in 0..n_msgs {
            tape.msgs.push(unrecord(p.take(RECORD)?)?);
        }
        tape.levels.reserve_exact(n_levels);
        for _ in 0..n_levels {
            let price = Ticks(p.i64()?);
            let qty = Lots(p.i64()?);
            tape.levels.push(Level { price, qty });
        }
        // Every level range a message names lies on the tape.
        for m in &tape.msgs {
            let (start, n) = match *m {
                Packed::Event {
                    body:
                        Body::Depth {
                            start, n_levels, ..
                        },
                    ..
                } => (start, n_levels),
                Packed::SnapshotLevels { start, n, .. } => (start, n),
                _ => continue,
            };
            if start as usize + n as usize > tape.levels.len()
                || n as usize > crate::core::DEPTH_CHUNK_LEVELS
            {
                return Err(TapeFileError::Corrupt(
                    "a message names levels off the tape",
                ));
            }
        }
        Ok((tape, spec))
    }
}
