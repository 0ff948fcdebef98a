//! Core types every stage shares: fixed-point money, symbols, market events.
//!
//! Prices are integer [`Ticks`] and quantities integer [`Lots`] on grids taken from the
//! exchange's filters ([`SymbolSpec`]); text becomes integers only at the edges, through
//! checked conversions that refuse to round ([`decimal`]).

pub mod clock;
pub mod decimal;
mod event;
mod fixed;
mod symbol;
pub mod wait;

pub use event::{
    AggTrade, BookTicker, DEPTH_CHUNK_LEVELS, DepthChunk, EventBody, Kline, KlineInterval, Level,
    MarkPrice, MarketEvent, SymbolId, Trade,
};
pub use fixed::{Dec8, Lots, Ticks};
pub use symbol::{Market, PriceGrid, QtyGrid, SpecError, SymbolSpec, SymbolStatus, Valuer, fee_e8};

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
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}
