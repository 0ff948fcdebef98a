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
        .map(|t| crate::core::decimal::ceil_scaled(t, notional_scale))
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
    if market == Market::CoinM {
        if let Some(size) = s.contract_size.filter(|&c| c > 0 && c <= 1_000_000_000) {
            spec.contract_size = Some(size as i64);
        }
    }
    Ok(spec)
}

/// A minimum notional at `scale` places, rounded up when the text is finer.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_off_the_grid_round_inward() {
        let g = PriceGrid::from_tick_size("0.01").unwrap();
        assert_eq!(bound("112.38300000", &g, false), Ok(Some(Ticks(11238))));
        assert_eq!(bound("0.00100000", &g, true), Ok(Some(Ticks(1))));
        assert_eq!(bound("0.00000000", &g, true), Ok(None));
        assert_eq!(crate::core::decimal::ceil_scaled("10.005", 2), Ok(1001));
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

/// What exchangeInfo says of the venue's limits (the local exchange's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// REQUEST_WEIGHT per minute.
    pub weight_per_min: u32,
    /// ORDERS per 10 s.
    pub orders_per_10s: u32,
    /// Open orders per symbol (MAX_NUM_ORDERS).
    pub max_open: u32,
}

/// A rate limit as exchangeInfo lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    rate_limit_type: &'static str,
    interval: &'static str,
    interval_num: u32,
    limit: u32,
}

/// A filter as exchangeInfo writes it: its type and its fields in Binance's names.
type FilterOut = sonic_rs::Value;

/// One symbol of a complete exchangeInfo (spot or futures fields; absent ones left
/// out).
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct SymOut {
    symbol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pair: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract_status: Option<&'static str>,
    status: &'static str,
    base_asset: String,
    quote_asset: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    margin_asset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price_precision: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity_precision: Option<u8>,
    base_asset_precision: u8,
    quote_precision: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    quote_asset_precision: Option<u8>,
    order_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_in_force: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iceberg_allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oco_allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quote_order_qty_market_allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_spot_trading_allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_margin_trading_allowed: Option<bool>,
    filters: Vec<FilterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permission_sets: Option<Vec<Vec<&'static str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_self_trade_prevention_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_self_trade_prevention_modes: Option<Vec<&'static str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetOut {
    asset: String,
    margin_available: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InfoOut {
    timezone: &'static str,
    server_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    futures_type: Option<&'static str>,
    rate_limits: Vec<RateLimit>,
    exchange_filters: Vec<FilterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assets: Option<Vec<AssetOut>>,
    symbols: Vec<SymOut>,
}

/// A symbol's base and quote asset from its name (`BTCUSDT` → BTC, USDT; COIN-M
/// `BTCUSD_PERP` → BTC, USD).
pub fn assets_of(name: &str, market: Market) -> (String, String) {
    if market == Market::CoinM {
        let pair = name.split('_').next().unwrap_or(name);
        let base = pair
            .strip_suffix("USD")
            .filter(|b| !b.is_empty())
            .unwrap_or(pair);
        return (base.to_string(), "USD".to_string());
    }
    let (b, q) = crate::core::split_assets(name);
    (b.to_string(), q.to_string())
}

fn filter(fields: &[(&str, String)], kind: &str) -> FilterOut {
    let mut v = sonic_rs::Object::new();
    v.insert(&"filterType", sonic_rs::Value::from(kind));
    for (k, x) in fields {
        v.insert(k, sonic_rs::Value::from(x.as_str()));
    }
    v.into_value()
}

/// The order types the local exchange takes on `market` (what its desk matches).
pub fn served_order_types(market: Market) -> Vec<&'static str> {
    if market.is_futures() {
        vec!["LIMIT", "MARKET", "STOP_MARKET"]
    } else {
        vec!["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS"]
    }
}

/// A complete exchangeInfo for `specs` on `market`, as Binance writes it: assets
/// (from each symbol's name), precisions (from the grids), filters (price, lot,
/// market lot, notional, open orders), order types and time in force the desk takes,
/// permissions and the rate limits in force. Client libraries that look a market up
/// by its assets or precisions find it.
pub fn describe(specs: &[SymbolSpec], market: Market, server_ms: i64, limits: Limits) -> Vec<u8> {
    let futures = market.is_futures();
    let mut assets: Vec<String> = Vec::new();
    let symbols = specs
        .iter()
        .map(|s| {
            let (base, quote) = assets_of(&s.name, market);
            let margin = match market {
                Market::CoinM => Some(base.clone()),
                Market::UsdM => Some(quote.clone()),
                Market::Spot => None,
            };
            for a in [Some(&base), Some(&quote), margin.as_ref()]
                .into_iter()
                .flatten()
            {
                if !assets.contains(a) {
                    assets.push(a.clone());
                }
            }
            let price_dec = s.price.decimals();
            let qty_dec = s.qty.decimals();
            let tick = s.price.format(s.price.step());
            let step = s.qty.format(s.qty.step());
            let min_price = s.min_price.map_or("0".into(), |p| s.price.format(p));
            let max_price = s.max_price.map_or("0".into(), |p| s.price.format(p));
            let min_qty = s.qty.format(s.min_qty);
            let max_qty = s.max_qty.map_or("9000000".into(), |q| s.qty.format(q));
            let notional = s.min_notional.map_or("0".to_string(), |m| {
                crate::core::decimal::canonical(
                    i64::try_from(m).unwrap_or(i64::MAX),
                    price_dec + qty_dec,
                )
            });
            let mut filters = vec![
                filter(
                    &[
                        ("minPrice", min_price),
                        ("maxPrice", max_price),
                        ("tickSize", tick),
                    ],
                    "PRICE_FILTER",
                ),
                filter(
                    &[
                        ("minQty", min_qty.clone()),
                        ("maxQty", max_qty.clone()),
                        ("stepSize", step.clone()),
                    ],
                    "LOT_SIZE",
                ),
                filter(
                    &[("minQty", min_qty), ("maxQty", max_qty), ("stepSize", step)],
                    "MARKET_LOT_SIZE",
                ),
            ];
            if futures {
                filters.push(filter(&[("notional", notional)], "MIN_NOTIONAL"));
                filters.push(filter(
                    &[("limit", limits.max_open.to_string())],
                    "MAX_NUM_ORDERS",
                ));
            } else {
                filters.push(filter(
                    &[
                        ("minNotional", notional),
                        ("applyMinToMarket", "true".into()),
                        ("maxNotional", "9000000.00000000".into()),
                        ("applyMaxToMarket", "false".into()),
                        ("avgPriceMins", "5".into()),
                    ],
                    "NOTIONAL",
                ));
                filters.push(filter(
                    &[("maxNumOrders", limits.max_open.to_string())],
                    "MAX_NUM_ORDERS",
                ));
            }
            let mut out = SymOut {
                symbol: s.name.to_string(),
                status: "TRADING",
                base_asset: base.clone(),
                quote_asset: quote,
                margin_asset: margin,
                base_asset_precision: qty_dec.max(8),
                quote_precision: price_dec.max(8),
                order_types: served_order_types(market),
                filters,
                ..SymOut::default()
            };
            if futures {
                out.pair = Some(s.name.split('_').next().unwrap_or(&s.name).to_string());
                out.contract_type = Some("PERPETUAL");
                out.price_precision = Some(price_dec);
                out.quantity_precision = Some(qty_dec);
                out.time_in_force = Some(vec!["GTC", "IOC", "FOK", "GTX"]);
                if market == Market::CoinM {
                    out.contract_size = s.contract_size.map(|c| c.max(1) as u64);
                    out.contract_status = Some("TRADING");
                }
            } else {
                out.quote_asset_precision = Some(8);
                out.iceberg_allowed = Some(false);
                out.oco_allowed = Some(true);
                out.quote_order_qty_market_allowed = Some(false);
                out.is_spot_trading_allowed = Some(true);
                out.is_margin_trading_allowed = Some(false);
                out.permissions = Some(vec!["SPOT"]);
                out.permission_sets = Some(vec![vec!["SPOT"]]);
                out.default_self_trade_prevention_mode = Some("NONE");
                out.allowed_self_trade_prevention_modes = Some(vec!["NONE"]);
            }
            out
        })
        .collect();
    let mut rate_limits = vec![RateLimit {
        rate_limit_type: "REQUEST_WEIGHT",
        interval: "MINUTE",
        interval_num: 1,
        limit: limits.weight_per_min,
    }];
    rate_limits.push(RateLimit {
        rate_limit_type: "ORDERS",
        interval: "SECOND",
        interval_num: 10,
        limit: limits.orders_per_10s,
    });
    let info = InfoOut {
        timezone: "UTC",
        server_time: server_ms,
        futures_type: (market == Market::UsdM).then_some("U_MARGINED"),
        rate_limits,
        exchange_filters: Vec::new(),
        assets: futures.then(|| {
            assets
                .into_iter()
                .map(|asset| AssetOut {
                    asset,
                    margin_available: true,
                })
                .collect()
        }),
        symbols,
    };
    sonic_rs::to_vec(&info).unwrap_or_default()
}

/// `file` (an exchangeInfo a user gave) with what it lacks taken from `described`
/// ([`describe`]'s answer): top-level fields (`rateLimits`, `serverTime`…) and, per
/// symbol of the same name, fields such as `baseAsset`, `orderTypes`, `permissions`.
/// What the file says is kept (an empty list counts as unsaid); a file that is not
/// JSON is served as it is.
pub fn complete(file: &[u8], described: &[u8]) -> Vec<u8> {
    use sonic_rs::{JsonContainerTrait, JsonValueMutTrait, JsonValueTrait};
    let empty = |v: &sonic_rs::Value| v.as_array().is_some_and(|a| a.is_empty());
    let (Ok(mut f), Ok(d)) = (
        sonic_rs::from_slice::<sonic_rs::Value>(file),
        sonic_rs::from_slice::<sonic_rs::Value>(described),
    ) else {
        return file.to_vec();
    };
    let (Some(fo), Some(dobj)) = (f.as_object_mut(), d.as_object()) else {
        return file.to_vec();
    };
    for (k, v) in dobj.iter() {
        if k == "symbols" {
            continue;
        }
        if fo.get(&k).is_none_or(empty) {
            fo.insert(&k, v.clone());
        }
    }
    let described_syms = dobj.get(&"symbols").and_then(|s| s.as_array());
    if let (Some(syms), Some(dsyms)) = (
        fo.get_mut(&"symbols").and_then(|s| s.as_array_mut()),
        described_syms,
    ) {
        for s in syms.iter_mut() {
            let name = s.get("symbol").and_then(|n| n.as_str()).map(str::to_string);
            let Some(name) = name else { continue };
            let Some(ds) = dsyms
                .iter()
                .find(|x| x.get("symbol").and_then(|n| n.as_str()) == Some(name.as_str()))
                .and_then(|x| x.as_object())
            else {
                continue;
            };
            let Some(so) = s.as_object_mut() else {
                continue;
            };
            for (k, v) in ds.iter() {
                if so.get(&k).is_none_or(empty) {
                    so.insert(&k, v.clone());
                }
            }
        }
    }
    sonic_rs::to_vec(&f).unwrap_or_else(|_| file.to_vec())
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            weight_per_min: 6000,
            orders_per_10s: 100,
            max_open: 200,
        }
    }

    #[test]
    fn a_described_exchange_info_reads_back_to_the_same_grids() {
        for (market, name, tick, lot) in [
            (Market::Spot, "ETHBTC", "0.00001", "0.0001"),
            (Market::UsdM, "BTCUSDT", "0.1", "0.001"),
            (Market::CoinM, "BTCUSD_PERP", "0.1", "1"),
        ] {
            let spec = SymbolSpec::from_tick_lot(name, market, tick, lot).unwrap();
            let text = describe(std::slice::from_ref(&spec), market, 5, limits());
            let back = parse_exchange_info(&text, Some(market)).unwrap();
            assert!(back.rejected.is_empty(), "{:?}", back.rejected);
            let b = &back.specs[0];
            // The same grids (spot quantities are read at baseAssetPrecision places).
            let steps = |s: &SymbolSpec| {
                (
                    s.price.format(s.price.step()),
                    s.qty.format(s.qty.step()),
                    s.qty.format(s.min_qty),
                )
            };
            assert_eq!(steps(b), steps(&spec));
            let v: sonic_rs::Value = sonic_rs::from_slice(&text).unwrap();
            use sonic_rs::{JsonContainerTrait, JsonValueTrait};
            let s = &v["symbols"][0];
            let (base, quote) = assets_of(name, market);
            assert_eq!(s["baseAsset"].as_str(), Some(base.as_str()));
            assert_eq!(s["quoteAsset"].as_str(), Some(quote.as_str()));
            assert!(!s["orderTypes"].as_array().unwrap().is_empty());
            assert_eq!(v["rateLimits"][0]["limit"].as_u64(), Some(6000));
        }
        assert_eq!(
            assets_of("BTCUSD_PERP", Market::CoinM),
            ("BTC".into(), "USD".into())
        );
    }

    #[test]
    fn a_given_file_is_completed_not_overwritten() {
        let file =
            br#"{"rateLimits":[],"symbols":[{"symbol":"BTCUSDT","status":"BREAK","filters":[]}]}"#;
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let described = describe(&[spec], Market::Spot, 5, limits());
        let out: sonic_rs::Value = sonic_rs::from_slice(&complete(file, &described)).unwrap();
        use sonic_rs::{JsonContainerTrait, JsonValueTrait};
        assert_eq!(out["symbols"][0]["status"].as_str(), Some("BREAK"), "kept");
        assert_eq!(
            out["symbols"][0]["baseAsset"].as_str(),
            Some("BTC"),
            "added"
        );
        assert!(
            !out["rateLimits"].as_array().unwrap().is_empty(),
            "empty = unsaid"
        );
        assert!(!out["symbols"][0]["filters"].as_array().unwrap().is_empty());
        assert_eq!(complete(b"not json", &described), b"not json");
    }
}
