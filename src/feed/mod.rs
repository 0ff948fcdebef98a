//! Exchange adapters: wire formats in, fixed-size [`crate::core::MarketEvent`]s out.

pub mod binance;
pub mod live;
