//! Binance market-data decoding: combined-stream or bare JSON frames in, fixed-size
//! [`MarketEvent`]s out, prices and quantities converted exactly onto each symbol's grid.
//!
//! ```text
//! {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161261311,"s":"BTCUSDT",
//!  "U":50093242275,"u":50093242277,"b":[["57950.00000000","0.01763000"]],"a":[..]}}
//! ```
//! Decoded: depthUpdate (spot `U,u`; USDⓈ-M `U,u,pu`; COIN-M with `ps`), trade, aggTrade,
//! bookTicker (spot form without `e`, futures form with it), kline and markPriceUpdate.
//! A REST snapshot shape (`lastUpdateId`) is reported as [`Decoded::Snapshot`] so the
//! caller can hand it to the cold [`super::snapshot`] parser. Unknown types and symbols are
//! skipped and counted; malformed frames are a [`DecodeError`], counted, never a panic.
//!
//! Reference: Binance "WebSocket Streams" (spot) and "Websocket Market Streams"
//! (USDⓈ-M / COIN-M); our notes in `docs/binance.md`.

mod build;
mod fast;
pub mod peek;
mod raw;
mod sonic;

use crate::core::{Level, MarketEvent, SpecError, SymbolId, SymbolSpec};
use thiserror::Error;

/// Default most levels one frame may carry (REST snapshots allow 5000 per side).
pub const DEFAULT_MAX_LEVELS: usize = 10_000;

/// Why a frame could not be decoded. Small and `Copy`: built on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape (as reported by sonic-rs).
    #[error("malformed JSON at byte {offset}")]
    Json {
        /// Byte offset sonic-rs stopped at.
        offset: usize,
    },
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type for this message type.
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    /// A price or quantity is not on the symbol's grid, or not a decimal.
    #[error("field `{field}`: {err}")]
    BadValue {
        /// Which field.
        field: &'static str,
        /// What was wrong with it.
        err: SpecError,
    },
    /// Both an envelope (`data`) and message fields at the top level.
    #[error("envelope with message fields beside `data`")]
    MixedEnvelope,
}

/// Why a well-formed frame produced no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An event type Minerva does not decode (`24hrTicker`, subscription replies, …).
    UnknownType,
    /// A symbol not in the decoder's table.
    UnknownSymbol,
}

/// What one frame turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// This many events went to the sink (a split depth diff gives several).
    Events(u32),
    /// A REST depth snapshot shape; parse it with [`super::parse_snapshot`].
    Snapshot {
        /// The symbol, when the frame names it (combined stream or `s`).
        symbol: Option<SymbolId>,
    },
    /// Nothing to do, for this reason.
    Skipped(SkipReason),
}

/// Counters kept by the decoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames offered.
    pub frames: u64,
    /// Events emitted.
    pub events: u64,
    /// Frames the fast path read.
    pub fast_path: u64,
    /// Frames that needed sonic-rs.
    pub full_path: u64,
    /// Frames skipped as an unknown type.
    pub unknown_type: u64,
    /// Frames skipped for an unknown symbol.
    pub unknown_symbol: u64,
    /// Snapshot-shaped frames.
    pub snapshots: u64,
    /// Malformed frames.
    pub errors: u64,
}

/// Which JSON reader to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodePath {
    /// The hand-written reader, falling back to sonic-rs when it gives up.
    #[default]
    Auto,
    /// sonic-rs only (the reference; for benches and differential tests).
    Sonic,
    /// The hand-written reader only; frames it gives up on are reported as
    /// `Err(DecodeError::Json { offset: 0 })` (for differential tests).
    FastOnly,
}

/// The symbols a decoder knows, by exchange name; ids are table indices.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    specs: Vec<SymbolSpec>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a symbol and returns its id. Cold path.
    pub fn insert(&mut self, spec: SymbolSpec) -> SymbolId {
        if let Some(id) = self.lookup(&spec.name) {
            self.specs[id.0 as usize] = spec;
            return id;
        }
        self.specs.push(spec);
        SymbolId((self.specs.len() - 1) as u16)
    }

    /// Finds a symbol by name, ignoring ASCII case (stream names are lower case).
    #[inline]
    pub fn lookup(&self, name: &str) -> Option<SymbolId> {
        self.specs
            .iter()
            .position(|s| s.name.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|i| SymbolId(i as u16))
    }

    /// The spec of a symbol.
    ///
    /// # Panics
    /// If `id` did not come from this table.
    #[inline]
    pub fn spec(&self, id: SymbolId) -> &SymbolSpec {
        &self.specs[id.0 as usize]
    }

    /// All specs, in id order.
    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }
}

/// Decodes Binance frames into [`MarketEvent`]s. All buffers are sized in [`Decoder::new`].
pub struct Decoder {
    table: SymbolTable,
    raw_levels: Vec<raw::RawLevel>,
    levels: Vec<Level>,
    stats: DecodeStats,
    path: DecodePath,
}

impl Decoder {
    /// A decoder for these symbols accepting frames with up to `max_levels` levels.
    pub fn new(table: SymbolTable, max_levels: usize) -> Self {
        Self {
            table,
            raw_levels: Vec::with_capacity(max_levels),
            levels: Vec::with_capacity(max_levels),
            stats: DecodeStats::default(),
            path: DecodePath::Auto,
        }
    }

    /// Chooses the JSON reader (default [`DecodePath::Auto`]).
    pub fn set_path(&mut self, path: DecodePath) {
        self.path = path;
    }

    /// The symbol table.
    pub fn table(&self) -> &SymbolTable {
        &self.table
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Decodes one frame, handing each event to `sink`.
    ///
    /// # Hot path: no allocation for well-formed frames (errors from sonic-rs allocate).
    ///
    /// # Errors
    /// [`DecodeError`] for a malformed frame; nothing reaches the sink then.
    pub fn decode<F: FnMut(&MarketEvent)>(
        &mut self,
        frame: &[u8],
        recv_ns: u64,
        sink: &mut F,
    ) -> Result<Decoded, DecodeError> {
        self.stats.frames += 1;
        let r = self.decode_inner(frame, recv_ns, sink);
        let st = &mut self.stats;
        match r {
            Ok(Decoded::Events(n)) => st.events += n as u64,
            Ok(Decoded::Snapshot { .. }) => st.snapshots += 1,
            Ok(Decoded::Skipped(SkipReason::UnknownType)) => st.unknown_type += 1,
            Ok(Decoded::Skipped(SkipReason::UnknownSymbol)) => st.unknown_symbol += 1,
            Err(_) => st.errors += 1,
        }
        r
    }

    #[inline]
    fn decode_inner<F: FnMut(&MarketEvent)>(
        &mut self,
        frame: &[u8],
        recv_ns: u64,
        sink: &mut F,
    ) -> Result<Decoded, DecodeError> {
        self.raw_levels.clear();
        let mut raw = raw::RawFrame::default();
        let fast = match self.path {
            DecodePath::Sonic => None,
            _ => fast::parse(frame, &mut self.raw_levels, &mut raw),
        };
        match fast {
            Some(()) => self.stats.fast_path += 1,
            None if self.path == DecodePath::FastOnly => {
                return Err(DecodeError::Json { offset: 0 });
            }
            None => {
                self.stats.full_path += 1;
                self.raw_levels.clear();
                raw = raw::RawFrame::default();
                sonic::parse(frame, &mut self.raw_levels, &mut raw)
                    .map_err(|e| DecodeError::Json { offset: e.column() })?;
            }
        }

        let mut cx = build::Ctx {
            table: &self.table,
            raw_levels: &self.raw_levels,
            levels: &mut self.levels,
            input: frame,
            recv_ns,
        };
        build::build(&raw, &mut cx, sink)
    }
}

#[cfg(test)]
mod tests;
