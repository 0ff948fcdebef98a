//! `GET /api/v3/exchangeInfo` (spot) and `/fapi/v1/exchangeInfo`, `/dapi/v1/exchangeInfo`
//! (futures) → [`SymbolSpec`]s. Cold path.
//!
//! Filters read: `PRICE_FILTER {minPrice,maxPrice,tickSize}`, `LOT_SIZE
//! {minQty,maxQty,stepSize}`, spot `MIN_NOTIONAL`/`NOTIONAL {minNotional}`, futures
//! `MIN_NOTIONAL {notional}`. A rule whose value is zero is disabled, as Binance documents.

use crate::core::decimal::{parse_scaled, significant_places};
use crate::core::{Lots, Market, PriceGrid, QtyGrid, SpecError, SymbolSpec, SymbolStatus, Ticks};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why exchangeInfo could not be read.
#[derive(Debug, Error)]
pub enum ExchangeInfoError {
    /// Not the JSON shape of exchangeInfo.
    #[error("malformed exchangeInfo: {0}")]
    Json(#[from] sonic_rs::Error),
    /// A symbol's filters are unusable.
    #[error("symbol {symbol}: {err}")]
    Symbol {
        /// The symbol.
        symbol: String,
        /// What was wrong.
        err: SpecError,
    },
    /// A symbol lacks `PRICE_FILTER` or `LOT_SIZE`.
    #[error("symbol {symbol}: missing filter {filter}")]
    MissingFilter {
        /// The symbol.
        symbol: String,
        /// The filter type.
        filter: &'static str,
    },
}

/// exchangeInfo as read and written (the local exchange writes one when given none).
#[derive(Deserialize, Serialize, Default)]
pub(crate) struct Info {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timezone: Option<String>,
    pub(crate) symbols: Vec<Sym>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sym {
    pub(crate) symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contract_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contract_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contract_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_asset_precision: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quote_precision: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) price_precision: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quantity_precision: Option<u8>,
    #[serde(default)]
    pub(crate) filters: Vec<Filter>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filter {
    pub(crate) filter_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tick_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) step_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_notional: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notional: Option<String>,
}

/// The symbols of one exchangeInfo response.
#[derive(Debug, Default)]
pub struct ExchangeInfo {
    /// Symbols with usable filters.
    pub specs: Vec<SymbolSpec>,
    /// Symbols whose filters could not be read, with the reason.
    pub rejected: Vec<ExchangeInfoError>,
}

/// Reads every symbol of an exchangeInfo response. `market` is detected when `None`
/// (futures symbols carry `contractType`; COIN-M ones also `contractSize`). A symbol
/// with unusable filters is listed in `rejected` and does not spoil the others.
///
/// # Errors
/// [`ExchangeInfoError::Json`] when the text is not an exchangeInfo response.
pub fn parse_exchange_info(
    json: &[u8],
    market: Option<Market>,
) -> Result<ExchangeInfo, ExchangeInfoError> {
    let info: Info = sonic_rs::from_slice(json)?;
    let mut out = ExchangeInfo::default();
    for s in &info.symbols {
        match symbol(s, market) {
            Ok(spec) => out.specs.push(spec),
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

/// A price bound in ticks, rounded inward (`up` for a minimum): `price >= min` holds
/// exactly when `ticks >= ceil(min / tick)`, so the bound stays exact off the grid.
fn bound(t: &str, price: &PriceGrid, up: bool) -> Result<Option<Ticks>, SpecError> {
    let d = significant_places(t).ok_or(SpecError::BadGrid("price bound"))?;
    let m = parse_scaled(t.as_bytes(), d)? as i128;
    if m == 0 {
        return Ok(None); // rule disabled
    }
    let overflow = SpecError::Decimal(crate::core::decimal::DecimalError::Overflow);
    let (pd, tm) = (price.decimals() as i32, price.tick_mantissa() as i128);
    let pow = |e: i32| 10i128.checked_pow(e as u32);
    let (num, den) = if d as i32 <= pd {
        let num = pow(pd - d as i32)
            .and_then(|p| m.checked_mul(p))
            .ok_or(overflow)?;
        (num, tm)
    } else {
        match pow(d as i32 - pd).and_then(|p| tm.checked_mul(p)) {
            Some(den) => (m, den),
            // The bound is far below one tick: a minimum rounds up to one tick, a
            // maximum down to zero (nothing tradable).
            None => return Ok(Some(Ticks(if up { 1 } else { 0 }))),
        }
    };
    let q = num / den + i128::from(up && num % den != 0);
    i64::try_from(q)
        .map(|v| Some(Ticks(v)))
        .map_err(|_| overflow)
}

fn symbol(s: &Sym, market: Option<Market>) -> Result<SymbolSpec, ExchangeInfoError> {
    let bad = |err| ExchangeInfoError::Symbol {
        symbol: s.symbol.clone(),
        err,
    };
    let market = market.unwrap_or(match (&s.contract_type, s.contract_size) {
        (Some(_), Some(_)) => Market::CoinM,
        (Some(_), None) => Market::UsdM,
        _ => Market::Spot,
    });
    let find = |t: &'static str| s.filters.iter().find(|f| f.filter_type == t);
    let missing = |filter| ExchangeInfoError::MissingFilter {
        symbol: s.symbol.clone(),
        filter,
    };
    let pf = find("PRICE_FILTER").ok_or_else(|| missing("PRICE_FILTER"))?;
    let lf = find("LOT_SIZE").ok_or_else(|| missing("LOT_SIZE"))?;
    let tick = pf
        .tick_size
        .as_deref()
        .ok_or_else(|| missing("PRICE_FILTER.tickSize"))?;
    let step = lf
        .step_size
        .as_deref()
        .ok_or_else(|| missing("LOT_SIZE.stepSize"))?;
    let price = PriceGrid::from_tick_size(tick).map_err(bad)?;
    // The lot unit must hold the published precision and every filter value.
    let published = if market.is_futures() {
        s.quantity_precision
    } else {
        s.base_asset_precision
    };
    let places = |v: &Option<String>| v.as_deref().and_then(significant_places).unwrap_or(0);
    let qty_dec = published
        .unwrap_or(0)
        .max(places(&lf.step_size))
        .max(places(&lf.min_qty))
        .max(places(&lf.max_qty));
    let qty = QtyGrid::new(qty_dec, Some(step)).map_err(bad)?;
    let px_bound = |v: &Option<String>, up: bool| -> Result<Option<Ticks>, SpecError> {
        match v.as_deref() {
            None => Ok(None),
            Some(t) => bound(t, &price, up),
        }
    };
    let qty_of = |v: &Option<String>| -> Result<Option<Lots>, SpecError> {
        v.as_deref().map(|t| qty.parse(t.as_bytes())).transpose()
    };
    // MIN_NOTIONAL values may be finer than price × qty places; round the minimum up.
    let notional_scale = price.decimals() + qty.decimals();
    let min_notional = ["MIN_NOTIONAL", "NOTIONAL"]
        .iter()
        .filter_map(|t| find(t))
        .find_map(|f| f.min_notional.as_deref().or(f.notional.as_deref()))
        .map(|t| notional(t, notional_scale))
        .transpose()
        .map_err(|e| bad(e.into()))?
        .filter(|&m| m > 0);
    let status = match s.status.as_deref().or(s.contract_status.as_deref()) {
        Some("TRADING") => SymbolStatus::Trading,
        Some(_) => SymbolStatus::Halted,
        None => SymbolStatus::Unknown,
    };
    let mut spec = SymbolSpec::bare(&s.symbol, market, price, qty).map_err(bad)?;
    spec.status = status;
    spec.min_price = px_bound(&pf.min_price, true).map_err(bad)?;
    spec.max_price = px_bound(&pf.max_price, false).map_err(bad)?;
    spec.min_qty = qty_of(&lf.min_qty).map_err(bad)?.unwrap_or(Lots(0));
    spec.max_qty = qty_of(&lf.max_qty).map_err(bad)?.filter(|q| q.0 > 0);
    spec.min_notional = min_notional;
    spec.price_precision = s
        .price_precision
        .or(s.quote_precision)
        .unwrap_or(price.decimals());
    spec.qty_precision = published.unwrap_or(qty.decimals());
    Ok(spec)
}

/// A minimum notional at `scale` places, rounded up when the text is finer.
fn notional(t: &str, scale: u8) -> Result<i128, crate::core::decimal::DecimalError> {
    let d = significant_places(t).unwrap_or(0).max(scale);
    if d > 18 {
        return Err(crate::core::decimal::DecimalError::Overflow);
    }
    let m = parse_scaled(t.as_bytes(), d)? as i128;
    let k = 10i128.pow((d - scale) as u32);
    Ok((m + k - 1) / k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_off_the_grid_round_inward() {
        let g = PriceGrid::from_tick_size("0.01").unwrap();
        assert_eq!(bound("112.38300000", &g, false), Ok(Some(Ticks(11238))));
        assert_eq!(bound("0.00100000", &g, true), Ok(Some(Ticks(1))));
        assert_eq!(bound("0.00000000", &g, true), Ok(None));
        assert_eq!(notional("10.005", 2), Ok(1001));
    }

    /// Found by `fuzz/fuzz_targets/exchange_info.rs` (regressions in fuzz/regressions/):
    /// bounds with 21-39 decimal places overflowed the scaling power of ten.
    #[test]
    fn bounds_far_below_a_tick_do_not_overflow() {
        let g = PriceGrid::from_tick_size("1").unwrap();
        assert_eq!(
            bound("00.000000000000000000000056365033633474015", &g, false),
            Ok(Some(Ticks(0)))
        );
        let huge = PriceGrid::from_tick_size("9223372036854775807").unwrap();
        assert_eq!(
            bound("0.000000000000000000001", &huge, true),
            Ok(Some(Ticks(1)))
        );
        let fine = PriceGrid::from_tick_size("0.000000000000000001").unwrap();
        assert!(bound("92233720368547758070", &fine, false).is_err());
    }
}
