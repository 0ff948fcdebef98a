//! KuCoin's REST level-2 snapshots (protocol notes §3, §4). Cold path: runs once per
//! (re)sync and may allocate.
//!
//! ```text
//! spot    GET /api/v3/market/orderbook/level2?symbol=BTC-USDT (also level2_20, level2_100)
//!         {"code":"200000","data":{"time":1619378326628,"sequence":"1613277183892",
//!          "bids":[["242.649","5"],..],"asks":[..]}}
//! futures GET /api/v1/level2/snapshot?symbol=XBTUSDTM
//!         {"code":"200000","data":{"sequence":1709400450243,"symbol":"XBTUSDTM",
//!          "bids":[[90631.1,12],..],"asks":[..],"ts":1731897467182000000}}
//! ```
//! Spot writes the sequence and levels as strings, futures as JSON numbers: both are
//! read from their exact text, never through a float. Futures sizes are contracts
//! (`super::contracts_to_lots`).
//!
//! The unified account's `obu` channel sends its snapshot on the WebSocket instead
//! (protocol notes §5): `{"T":"obu.SPOT","t":"snapshot","d":{"O":s,"C":s,"M":ns,
//! "b":[["price","size"],..],"a":[..]}}` is read here too, consistent with sequence `C`.

use crate::core::{DepthSnapshot, Level, SpecError, SymbolSpec};
use serde::Deserialize;
use sonic_rs::LazyValue;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not the JSON shape of a KuCoin level-2 snapshot.
    #[error("malformed KuCoin level-2 snapshot: {0}")]
    Json(String),
    /// KuCoin answered with an error code.
    #[error("KuCoin answered code {code}: {msg}")]
    Refused {
        /// Its code.
        code: String,
        /// Its message.
        msg: String,
    },
    /// A level's price or size is off the symbol's grid.
    #[error("{side} level {index} ({price} @ {size}): {err}")]
    BadLevel {
        /// `bids` or `asks`.
        side: &'static str,
        /// Position in that side's array.
        index: usize,
        /// The price text.
        price: String,
        /// The size text.
        size: String,
        /// What was wrong.
        err: SpecError,
    },
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    code: Option<LazyValue<'a>>,
    #[serde(rename = "T", default)]
    push: Option<String>,
    #[serde(rename = "t", default)]
    push_kind: Option<String>,
    #[serde(default, borrow)]
    d: Option<ObuDe<'a>>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default, borrow)]
    data: Option<BookDe<'a>>,
}

#[derive(Deserialize)]
struct BookDe<'a> {
    #[serde(borrow)]
    sequence: LazyValue<'a>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(default)]
    ts: Option<u64>,
    #[serde(borrow)]
    bids: Vec<[LazyValue<'a>; 2]>,
    #[serde(borrow)]
    asks: Vec<[LazyValue<'a>; 2]>,
}

/// An `obu` push's `d`: levels of two strings (three with RPI sizes: the third is the
/// RPI orders' size, left out as a subscription with `rpiFilter: 0` leaves them out).
#[derive(Deserialize)]
struct ObuDe<'a> {
    #[serde(rename = "C", borrow)]
    last: LazyValue<'a>,
    #[serde(rename = "M", default)]
    match_ns: Option<u64>,
    #[serde(borrow)]
    b: Vec<Vec<LazyValue<'a>>>,
    #[serde(borrow)]
    a: Vec<Vec<LazyValue<'a>>>,
}

/// A snapshot as text, before the symbol's grid is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSnapshot<'a> {
    /// The sequence the snapshot is consistent with.
    pub sequence: u64,
    /// Its time, ms (spot `time`, futures `ts` in ns).
    pub time_ms: Option<u64>,
    /// `[price, size]` texts, best first.
    pub bids: Vec<(&'a str, &'a str)>,
    /// `[price, size]` texts, best first.
    pub asks: Vec<(&'a str, &'a str)>,
}

/// The text of a string or a number as written in `json` (a borrowed lazy value's
/// text lies inside it).
fn text<'a>(json: &'a [u8], v: &LazyValue<'_>) -> Result<&'a str, SnapshotError> {
    let r = v.as_raw_str();
    let raw = (r.as_ptr() as usize)
        .checked_sub(json.as_ptr() as usize)
        .and_then(|off| json.get(off..off + r.len()))
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| SnapshotError::Json("value outside the answer".into()))?;
    let t = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => inner,
        Some(_) => return Err(SnapshotError::Json(format!("escaped text {raw}"))),
        None if raw.starts_with(|c: char| c.is_ascii_digit()) => raw,
        None => {
            return Err(SnapshotError::Json(format!(
                "not a number or string: {raw}"
            )));
        }
    };
    Ok(t)
}

/// Reads the text form of a snapshot answer.
///
/// # Errors
/// [`SnapshotError`] when the text is not a level-2 snapshot or KuCoin refused.
pub fn parse_raw_snapshot(json: &[u8]) -> Result<RawSnapshot<'_>, SnapshotError> {
    // sonic-rs panics on invalid UTF-8 inside a lazy value (found by the kucoin_rest
    // fuzz target): the text is checked first.
    std::str::from_utf8(json).map_err(|e| SnapshotError::Json(e.to_string()))?;
    let a: Answer<'_> =
        sonic_rs::from_slice(json).map_err(|e| SnapshotError::Json(e.to_string()))?;
    if let Some(topic) = &a.push {
        return obu_snapshot(json, topic, a.push_kind.as_deref(), a.d);
    }
    let code = text(
        json,
        a.code
            .as_ref()
            .ok_or_else(|| SnapshotError::Json("no `code`".into()))?,
    )?;
    if code != "200000" {
        return Err(SnapshotError::Refused {
            code: code.to_string(),
            msg: a.msg.unwrap_or_default(),
        });
    }
    let d = a
        .data
        .ok_or_else(|| SnapshotError::Json("no `data`".into()))?;
    let sequence = sequence_of(text(json, &d.sequence)?)?;
    let side = |v: &[[LazyValue<'_>; 2]]| -> Result<Vec<(&str, &str)>, SnapshotError> {
        v.iter()
            .map(|[p, s]| Ok((text(json, p)?, text(json, s)?)))
            .collect()
    };
    Ok(RawSnapshot {
        sequence,
        time_ms: d.time.or(d.ts.map(|ns| ns / 1_000_000)),
        bids: side(&d.bids)?,
        asks: side(&d.asks)?,
    })
}

/// The `sequence` text as an integer.
fn sequence_of(seq: &str) -> Result<u64, SnapshotError> {
    seq.parse::<u64>()
        .map_err(|_| SnapshotError::Json(format!("sequence {seq} is not an integer")))
}

/// An `obu` snapshot push.
fn obu_snapshot<'a>(
    json: &'a [u8],
    topic: &str,
    kind: Option<&str>,
    d: Option<ObuDe<'_>>,
) -> Result<RawSnapshot<'a>, SnapshotError> {
    if !topic.starts_with("obu.") || kind != Some("snapshot") {
        return Err(SnapshotError::Json(format!(
            "{topic} {} is not a book snapshot",
            kind.unwrap_or("(no kind)")
        )));
    }
    let d = d.ok_or_else(|| SnapshotError::Json("no `d`".into()))?;
    let side = |v: &[Vec<LazyValue<'_>>]| -> Result<Vec<(&'a str, &'a str)>, SnapshotError> {
        v.iter()
            .map(|l| match l.as_slice() {
                [p, s] | [p, s, _] => Ok((text(json, p)?, text(json, s)?)),
                _ => Err(SnapshotError::Json(format!(
                    "a level of {} values, not 2 or 3",
                    l.len()
                ))),
            })
            .collect()
    };
    Ok(RawSnapshot {
        sequence: sequence_of(text(json, &d.last)?)?,
        time_ms: d.match_ns.map(|ns| ns / 1_000_000),
        bids: side(&d.b)?,
        asks: side(&d.a)?,
    })
}

impl RawSnapshot<'_> {
    /// Applies a symbol's grid.
    ///
    /// # Errors
    /// [`SnapshotError::BadLevel`] naming the first level off the grid.
    pub fn on_grid(&self, spec: &SymbolSpec) -> Result<DepthSnapshot, SnapshotError> {
        let side = |name: &'static str, v: &[(&str, &str)]| {
            v.iter()
                .enumerate()
                .map(|(index, (p, s))| {
                    let bad = |err| SnapshotError::BadLevel {
                        side: name,
                        index,
                        price: p.to_string(),
                        size: s.to_string(),
                        err,
                    };
                    let qty = if spec.market.is_futures() {
                        // Futures sizes are whole contracts (`super::contracts_to_lots`).
                        s.parse::<u64>()
                            .ok()
                            .and_then(|n| super::contracts_to_lots(spec, n))
                            .ok_or(SpecError::BadGrid("not a whole number of contracts"))
                            .map_err(bad)?
                    } else {
                        spec.qty.parse(s.as_bytes()).map_err(bad)?
                    };
                    Ok(Level {
                        price: spec.price.parse(p.as_bytes()).map_err(bad)?,
                        qty,
                    })
                })
                .collect::<Result<Vec<_>, SnapshotError>>()
        };
        Ok(DepthSnapshot {
            last_update_id: self.sequence,
            event_ms: self.time_ms,
            bids: side("bids", &self.bids)?,
            asks: side("asks", &self.asks)?,
        })
    }
}

/// Reads a snapshot straight onto a symbol's grid.
///
/// # Errors
/// [`SnapshotError`] for a malformed answer, a refusal or a level off the grid.
pub fn parse_snapshot(json: &[u8], spec: &SymbolSpec) -> Result<DepthSnapshot, SnapshotError> {
    parse_raw_snapshot(json)?.on_grid(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Market;

    #[test]
    fn spot_strings_and_futures_numbers() {
        let spot = br#"{"code":"200000","data":{"time":1619378326628,"sequence":"1613277183892","bids":[["242.649","5"],["242.646","0.68148185"]],"asks":[["242.951","4.51280965"]]}}"#;
        let spec =
            SymbolSpec::from_tick_lot("BCHSV-USDT", Market::Spot, "0.001", "0.00000001").unwrap();
        let s = parse_snapshot(spot, &spec).unwrap();
        assert_eq!(s.last_update_id, 1613277183892);
        assert_eq!(s.event_ms, Some(1619378326628));
        assert_eq!((s.bids[1].price.0, s.bids[1].qty.0), (242646, 68148185));
        assert_eq!(s.asks.len(), 1);

        let fut = br#"{"code":"200000","data":{"sequence":1709400450243,"symbol":"XBTUSDTM","bids":[[90631.1,12],[90631,3]],"asks":[[90631.2,2]],"ts":1731897467182000000}}"#;
        // Sizes are contracts of 0.001 BTC.
        let spec = SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001").unwrap();
        let s = parse_snapshot(fut, &spec).unwrap();
        assert_eq!(spec.qty.format(s.bids[0].qty), "0.012");
        assert_eq!(s.last_update_id, 1709400450243);
        assert_eq!(s.event_ms, Some(1731897467182));
        assert_eq!((s.bids[0].price.0, s.bids[0].qty.0), (906311, 12));
        assert_eq!(s.bids[1].price.0, 906310);
    }

    #[test]
    fn refusals_and_bad_shapes_are_errors() {
        let refused = br#"{"code":"400003","msg":"KC-API-KEY not exists"}"#;
        assert!(matches!(
            parse_raw_snapshot(refused),
            Err(SnapshotError::Refused { .. })
        ));
        for bad in [
            &br#"{"code":"200000","data":{"sequence":"12x","bids":[],"asks":[]}}"#[..],
            br#"{"code":"200000","data":{"sequence":"1","bids":[["1"]],"asks":[]}}"#,
            br#"{"code":"200000","data":{"sequence":"1","bids":[[true,"1"]],"asks":[]}}"#,
            br#"{"code":"200000"}"#,
            br#"not json"#,
        ] {
            assert!(parse_raw_snapshot(bad).is_err());
        }
        let spec = SymbolSpec::from_tick_lot("X-Y", Market::Spot, "0.1", "1").unwrap();
        let off = br#"{"code":"200000","data":{"sequence":"1","bids":[["1.05","1"]],"asks":[]}}"#;
        assert!(matches!(
            parse_snapshot(off, &spec),
            Err(SnapshotError::BadLevel { side: "bids", .. })
        ));
    }
}
