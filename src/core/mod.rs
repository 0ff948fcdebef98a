//! Core types every stage shares: fixed-point money, symbols, market events.
//!
//! Prices are integer [`Ticks`] and quantities integer [`Lots`] on grids taken from the
//! exchange's filters ([`SymbolSpec`]); text becomes integers only at the edges, through
//! checked conversions that refuse to round ([`decimal`]).

pub mod decimal;
mod event;
mod fixed;
mod symbol;

pub use event::{
    AggTrade, BookTicker, DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, Kline, KlineInterval, Level,
    MarkPrice, MarketEvent, SymbolId, Trade,
};
pub use fixed::{Dec8, Lots, Ticks};
pub use symbol::{Market, PriceGrid, QtyGrid, SpecError, SymbolSpec, SymbolStatus, Valuer, fee_e8};
