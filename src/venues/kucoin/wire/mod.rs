//! KuCoin market-data decoding: classic WebSocket frames in, the same fixed-size
//! [`MarketEvent`]s as Binance's decoder out, prices and sizes converted exactly onto
//! each symbol's grid.
//!
//! ```text
//! {"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update",
//!  "data":{"sequenceStart":1545896669105,"sequenceEnd":1545896669106,"symbol":"BTC-USDT",
//!          "changes":{"asks":[["6","1","1545896669105"]],"bids":[["4","1","1545896669106"]]}}}
//! ```
//! Decoded (protocol notes §3, §4): spot `/market/level2` updates (one [`DepthChunk`]
//! stream per update, ids `sequenceStart..sequenceEnd`), futures `/contractMarket/level2`
//! (one change per sequence), spot `/market/ticker` (as a `BookTicker` whose update id
//! is the ticker's `sequence`, so the book checks it like Binance's), spot
//! `/market/match` and futures `/contractMarket/execution` trades, spot
//! `/market/candles` (as `Kline`s, never marked closed: KuCoin opens the next candle
//! instead). Welcome, ack, pong and error frames and other topics are skipped and
//! counted; malformed frames are a
//! [`DecodeError`], never a panic. Keys may come in any order (recorders re-serialise).
//!
//! [`DepthChunk`]: crate::core::DepthChunk

mod build;
mod fast;
mod raw;
mod sonic;

use crate::core::{Level, MarketEvent};
use crate::venues::wire::{DecodeError, DecodePath, DecodeStats, Decoded, SymbolTable};

/// Decodes KuCoin frames into [`MarketEvent`]s. All buffers are sized in
/// [`Decoder::new`].
pub struct Decoder {
    table: SymbolTable,
    changes: Vec<raw::RawChange>,
    levels: Vec<Level>,
    stats: DecodeStats,
    path: DecodePath,
}

impl Decoder {
    /// A decoder for these symbols accepting updates of up to `max_levels` changes.
    pub fn new(table: SymbolTable, max_levels: usize) -> Self {
        Self {
            table,
            changes: Vec::with_capacity(max_levels.max(1)),
            levels: Vec::with_capacity(max_levels.max(1)),
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
    /// # Hot path: no allocation for frames the fast path reads.
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
        self.changes.clear();
        let mut msg = raw::RawMsg::default();
        let fast = match self.path {
            DecodePath::Sonic => None,
            _ => fast::parse(frame, &mut self.changes, &mut msg),
        };
        match fast {
            Some(()) => self.stats.fast_path += 1,
            None if self.path == DecodePath::FastOnly => {
                return Err(DecodeError::Json { offset: 0 });
            }
            None => {
                self.stats.full_path += 1;
                self.changes.clear();
                msg = raw::RawMsg::default();
                sonic::parse(frame, &mut self.changes, &mut msg).map_err(|e| match e {
                    sonic::SonicError::Json(e) => DecodeError::Json { offset: e.column() },
                    sonic::SonicError::TooManyChanges => DecodeError::TooManyLevels,
                    sonic::SonicError::NotAnObject => DecodeError::Json { offset: 0 },
                })?;
            }
        }
        let mut cx = build::Ctx {
            table: &self.table,
            changes: &self.changes,
            levels: &mut self.levels,
            input: frame,
            recv_ns,
        };
        build::build(&msg, &mut cx, sink)
    }
}

#[cfg(test)]
mod tests;
