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

#[cfg(test)]
use crate::core::SymbolSpec;
use crate::core::{Level, MarketEvent};
pub use crate::venues::wire::{
    DEFAULT_MAX_LEVELS, DecodeError, DecodePath, DecodeStats, Decoded, SkipReason, SymbolTable,
};

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
        let r = self.decode_inner(frame, recv_ns, sink);
        self.stats.count(&r);
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
