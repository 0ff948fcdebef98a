//! Binance: spot, USDⓈ-M and COIN-M futures.

pub mod account;
pub mod brackets;
pub mod endpoints;
pub mod errors;
pub mod exchange_info;
pub mod keys;
pub mod limits;
pub mod link;
pub mod market;
pub mod orders;
pub mod params;
pub mod sign;
pub mod snapshot;
pub mod stream;
pub mod user;
pub mod validate;
pub mod wire;

pub use exchange_info::parse_exchange_info;
pub use snapshot::{DepthSnapshot, parse_snapshot};
pub use wire::{
    DEFAULT_MAX_LEVELS, DecodeError, DecodePath, DecodeStats, Decoded, Decoder, SkipReason,
    SymbolTable,
};
