//! hftbacktest's event files in (`.npz` as its data utilities write them, or a bare
//! `.npy`), for users moving from hftbacktest: one symbol's events as one recording
//! session of Binance-format lines.
//!
//! The format is hftbacktest's published v2 event array: 64-byte records
//! `ev u64, exch_ts i64, local_ts i64, px f64, qty f64, order_id u64, ival i64, fval
//! f64`, where `ev`'s low byte is the kind (1 depth, 2 trade, 3 depth clear, 4 depth
//! snapshot, 5 best bid/offer) and high bits flag the exchange (1<<31) and local
//! (1<<30) processors and the side (buy 1<<29: a bid, or a buying taker; sell 1<<28).
//!
//! What the local side sees is imported (rows flagged local, in `local_ts` order):
//! a run of clears and snapshot rows becomes a REST snapshot (the book reset), depth
//! rows with one `local_ts` one `depthUpdate`, trades `trade` messages. **Limits,
//! stated:** the file names neither symbol nor market (`--symbol`, `--market` say
//! them); prices and quantities are doubles (written back as their shortest decimal,
//! which is the exchange's text for values that came from it); there are no update
//! ids (made up in order: no gap detection); best-bid/offer rows are skipped. Cold.

use super::{NewSession, Sink, StoreError};
use std::io::Read;
use std::path::{Path, PathBuf};

const DEPTH: u64 = 1;
const TRADE: u64 = 2;
const CLEAR: u64 = 3;
const SNAPSHOT: u64 = 4;
const LOCAL: u64 = 1 << 30;
const BUY: u64 = 1 << 29;
const SELL: u64 = 1 << 28;

/// One event as hftbacktest stores it (the fields Minerva reads).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ev {
    ev: u64,
    exch_ts: i64,
    local_ts: i64,
    px: f64,
    qty: f64,
}

fn fail(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unsupported(format!("{}: {why}", path.display()))
}

/// The records of an `.npy` body (hftbacktest's event dtype, C order, 1-D).
fn read_npy(path: &Path, b: &[u8]) -> Result<Vec<Ev>, StoreError> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(fail(path, "not a NumPy array file (.npy)"));
    }
    let (len, at) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(fail(path, format!(".npy version {v}"))),
    };
    let header = b
        .get(at..at + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| fail(path, "the .npy header is cut or not text"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    let want = "'descr':[('ev','<u8'),('exch_ts','<i8'),('local_ts','<i8'),('px','<f8'),('qty','<f8'),('order_id','<u8'),('ival','<i8'),('fval','<f8')]";
    if !compact.contains(want) {
        return Err(fail(
            path,
            "not hftbacktest's event dtype (ev, exch_ts, local_ts, px, qty, order_id, ival, fval; little-endian)",
        ));
    }
    if !compact.contains("'fortran_order':False") {
        return Err(fail(path, "a Fortran-ordered array"));
    }
    let data = &b[at + len..];
    if data.len() % 64 != 0 {
        return Err(fail(
            path,
            format!("{} bytes of records: not whole 64-byte events", data.len()),
        ));
    }
    let f8 = |r: &[u8], k: usize| f64::from_le_bytes(r[k..k + 8].try_into().expect("8 bytes"));
    let i8 = |r: &[u8], k: usize| i64::from_le_bytes(r[k..k + 8].try_into().expect("8 bytes"));
    Ok(data
        .chunks_exact(64)
        .map(|r| Ev {
            ev: i8(r, 0) as u64,
            exch_ts: i8(r, 8),
            local_ts: i8(r, 16),
            px: f8(r, 24),
            qty: f8(r, 32),
        })
        .collect())
}

/// The events of an `.npz` (its `data` array, or its only one) or `.npy` file.
fn read_file(path: &Path) -> Result<Vec<Ev>, StoreError> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| fail(path, e))?;
    if !raw.starts_with(b"PK\x03\x04") {
        return read_npy(path, &raw);
    }
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(raw))
        .map_err(|e| fail(path, format!("not a readable .npz: {e}")))?;
    let names: Vec<String> = z.file_names().map(str::to_string).collect();
    let name = names
        .iter()
        .find(|n| *n == "data.npy")
        .or_else(|| (names.len() == 1).then(|| &names[0]))
        .cloned()
        .ok_or_else(|| {
            fail(
                path,
                format!("arrays {names:?}: expected `data` (np.savez_compressed(f, data=…)) or a single array"),
            )
        })?;
    let mut body = Vec::new();
    z.by_name(&name)
        .map_err(|e| fail(path, e))?
        .read_to_end(&mut body)
        .map_err(|e| fail(path, e))?;
    read_npy(path, &body)
}

/// A price or quantity as decimal text: the shortest that reads back as the double.
fn text(path: &Path, v: f64) -> Result<String, StoreError> {
    if !v.is_finite() || v < 0.0 {
        return Err(fail(path, format!("price or quantity {v}")));
    }
    // Rust writes a double's shortest round-trip form, never with an exponent.
    Ok(format!("{v}"))
}

/// The rows from `*i` on at its local time whose kinds are `kinds`, past which `*i`
/// moves; those of kind `keep` as (bid, ask) levels.
fn group<'p>(
    events: &[(usize, Ev)],
    i: &mut usize,
    kinds: &[u64],
    keep: u64,
    path: &dyn Fn(usize) -> &'p Path,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let local_ts = events[*i].1.local_ts;
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    while let Some(&(k, r)) = events.get(*i) {
        if r.local_ts != local_ts || !kinds.contains(&(r.ev & 0xff)) {
            break;
        }
        if r.ev & 0xff == keep {
            let l = super::made_up::level(&text(path(k), r.px)?, &text(path(k), r.qty)?);
            if r.ev & BUY != 0 {
                bids.push(l);
            } else {
                asks.push(l);
            }
        }
        *i += 1;
    }
    Ok((bids, asks))
}

/// Imports hftbacktest event `files` of `symbol` on `market` (spot, usdm, coinm)
/// into `sink` as one session; returns (session, lines).
///
/// # Errors
/// [`StoreError`]: unreadable or foreign files (the dtype is checked), a bad symbol
/// or market, the database.
pub fn import(
    sink: &mut dyn Sink,
    files: &[PathBuf],
    symbol: &str,
    market: &str,
) -> Result<(i64, u64), StoreError> {
    if symbol.is_empty()
        || !symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Unsupported(format!(
            "--symbol `{symbol}`: hftbacktest files do not name their symbol; give it as Binance writes it (BTCUSDT)"
        )));
    }
    if !["spot", "usdm", "coinm"].contains(&market) {
        return Err(StoreError::Unsupported(format!(
            "--market `{market}`: spot, usdm or coinm (hftbacktest files do not say)"
        )));
    }
    let mut events: Vec<(usize, Ev)> = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let evs = read_file(f)?;
        events.extend(
            evs.into_iter()
                .filter(|e| e.ev & LOCAL != 0)
                .map(|e| (k, e)),
        );
    }
    // Local order (stable: the file's own order among equal times).
    events.sort_by_key(|(k, e)| (e.local_ts, *k));
    let futures = market != "spot";
    let source = format!("hftbacktest:{market}:{symbol}");
    let mut out = super::made_up::Session::begin(
        sink,
        &NewSession {
            source: &source,
            symbol,
            market,
            exchange_info: None,
        },
    )?;
    let path = |k: usize| files[k].as_path();
    let mut ids = super::made_up::Ids::new();
    let mut i = 0;
    while i < events.len() {
        let (k, e) = events[i];
        let kind = e.ev & 0xff;
        let local_ns = e.local_ts.max(0) as u64;
        let ms = (e.exch_ts.max(0) as u64) / 1_000_000;
        let line = match kind {
            CLEAR | SNAPSHOT => {
                // Clears and the snapshot rows after them, at one local time: the book.
                let (bids, asks) = group(&events, &mut i, &[CLEAR, SNAPSHOT], SNAPSHOT, &path)?;
                if bids.is_empty() && asks.is_empty() {
                    continue; // a clear alone: the next snapshot resets the book anyway
                }
                Some(ids.snapshot(&bids, &asks, ms, futures))
            }
            DEPTH => {
                let (bids, asks) = group(&events, &mut i, &[DEPTH], DEPTH, &path)?;
                if !ids.synced() {
                    continue; // before the first snapshot the book cannot be built
                }
                Some(ids.update(symbol, &bids, &asks, ms, futures))
            }
            TRADE => {
                i += 1;
                // A selling taker hit a buyer who was the maker; no trade ids: the row's.
                let (px, qty) = (text(path(k), e.px)?, text(path(k), e.qty)?);
                let buyer_maker = e.ev & SELL != 0;
                Some(super::made_up::trade(
                    symbol,
                    i as u64,
                    (&px, &qty),
                    ms,
                    buyer_maker,
                    futures,
                ))
            }
            _ => {
                i += 1;
                None // best bid/offer and order-level rows: not imported
            }
        };
        let Some(line) = line else { continue };
        out.push(local_ns, &line)?;
    }
    out.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_come_back_as_written() {
        let p = Path::new("x");
        assert_eq!(text(p, "61837.63".parse().unwrap()).unwrap(), "61837.63");
        assert_eq!(text(p, "0.00105".parse().unwrap()).unwrap(), "0.00105");
        assert_eq!(text(p, 0.0).unwrap(), "0");
        assert!(text(p, f64::NAN).is_err());
    }
}
