//! REST depth snapshots (`GET /api/v3/depth`, `/fapi/v1/depth`, `/dapi/v1/depth`).
//! Cold path: runs once per (re)sync and may allocate.
//!
//! ```text
//! {"lastUpdateId":5123107852948,"E":1723161256501,"T":1723161256493,
//!  "bids":[["61800.20","2.909"],..],"asks":[..]}
//! ```
//! Spot has no `E`/`T`.

use crate::core::{Level, SpecError, SymbolSpec};
use serde::Deserialize;
use thiserror::Error;

/// Why a snapshot could not be read.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// Not the JSON shape of a depth snapshot.
    #[error("malformed depth snapshot: {0}")]
    Json(#[from] sonic_rs::Error),
    /// A level's price or quantity is off the symbol's grid.
    #[error("{side} level {index} ({price} @ {qty}): {err}")]
    BadLevel {
        /// `bids` or `asks`.
        side: &'static str,
        /// Position in that side's array.
        index: usize,
        /// The price text.
        price: String,
        /// The quantity text.
        qty: String,
        /// What was wrong.
        err: SpecError,
    },
}

/// A snapshot as text, before the symbol's grid is applied.
#[derive(Debug, Deserialize)]
pub struct RawSnapshot<'a> {
    /// Update id the snapshot is consistent with.
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// Message time (futures).
    #[serde(rename = "E", default)]
    pub event_ms: Option<u64>,
    /// Engine time (futures).
    #[serde(rename = "T", default)]
    pub transact_ms: Option<u64>,
    /// `[price, qty]` text pairs, best first.
    #[serde(borrow)]
    pub bids: Vec<(&'a str, &'a str)>,
    /// `[price, qty]` text pairs, best first.
    #[serde(borrow)]
    pub asks: Vec<(&'a str, &'a str)>,
}

pub use crate::core::DepthSnapshot;

/// Reads the text form of a snapshot.
///
/// # Errors
/// [`SnapshotError::Json`] when the text is not a depth snapshot.
pub fn parse_raw_snapshot(json: &[u8]) -> Result<RawSnapshot<'_>, SnapshotError> {
    Ok(sonic_rs::from_slice(json)?)
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
                .map(|(index, (p, q))| {
                    let bad = |err| SnapshotError::BadLevel {
                        side: name,
                        index,
                        price: p.to_string(),
                        qty: q.to_string(),
                        err,
                    };
                    Ok(Level {
                        price: spec.price.parse(p.as_bytes()).map_err(bad)?,
                        qty: spec.qty.parse(q.as_bytes()).map_err(bad)?,
                    })
                })
                .collect::<Result<Vec<_>, SnapshotError>>()
        };
        Ok(DepthSnapshot {
            last_update_id: self.last_update_id,
            event_ms: self.event_ms,
            bids: side("bids", &self.bids)?,
            asks: side("asks", &self.asks)?,
        })
    }
}

/// Reads a snapshot straight onto a symbol's grid.
///
/// # Errors
/// [`SnapshotError`] for malformed JSON or a level off the grid.
pub fn parse_snapshot(json: &[u8], spec: &SymbolSpec) -> Result<DepthSnapshot, SnapshotError> {
    parse_raw_snapshot(json)?.on_grid(spec)
}
