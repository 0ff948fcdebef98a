//! Core types every stage shares: fixed-point money, symbols, market events, orders,
//! and the process's clock and wait strategies.
//!
//! Prices are integer [`Ticks`] and quantities integer [`Lots`] on grids taken from the
//! exchange's filters ([`SymbolSpec`]); text becomes integers only at the edges, through
//! checked conversions that refuse to round ([`decimal`]).

pub mod clock;
mod cold;
pub mod decimal;
mod event;
mod fixed;
mod order;
mod prefault;
mod symbol;
pub mod wait;

pub use cold::{is_cold_thread, mark_cold_thread};
pub use event::{
    AggTrade, BookTicker, DEPTH_CHUNK_LEVELS, DepthChunk, DepthSnapshot, EventBody, ExchangeClock,
    Kline, KlineInterval, Level, MarkPrice, MarketEvent, SymbolId, Trade,
};
pub use fixed::{Dec8, Lots, Ticks};
pub use order::{
    ClientId, ExchangeStats, Execution, NewOrder, OcoOrder, OrderCmd, OrderKind, OrderRequest,
    OrderSide, Reject, Report, client_id,
};
pub use prefault::{prefault, prefault_spare};
pub use symbol::{
    Market, PriceGrid, QtyGrid, SpecError, SymbolSpec, SymbolStatus, Valuer, Venue, fee_e8,
};

/// Base and quote asset of a symbol named `<base><quote>` (the common quote assets;
/// anything else is taken as a USDT pair). Cold.
pub fn split_assets(name: &str) -> (&str, &str) {
    for quote in [
        "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
    ] {
        if let Some(base) = name.strip_suffix(quote).filter(|b| !b.is_empty()) {
            return (base, quote);
        }
    }
    (name, "USDT")
}

/// UTC time of a Unix time in ms, ISO 8601 with ms (`2024-08-09T00:00:01.234Z`). Cold.
pub fn utc(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        // Beyond year 9999: no calendar date to give.
        Err(_) => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_has_milliseconds() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(1_723_161_601_234), "2024-08-09T00:00:01.234Z");
    }
}
