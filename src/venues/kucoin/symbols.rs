//! KuCoin's spot symbol list (`GET /api/v2/symbols`, or `/api/v1/symbols` as older
//! captures hold it; protocol notes §3) read into each symbol's grids: the tick
//! (`priceIncrement`), the lot (`baseIncrement`), the size bounds
//! (`baseMinSize`/`baseMaxSize`), the minimum order value (`minFunds`, or v1's
//! `quoteMinSize`) and whether it trades (`enableTrading`). Cold path.

use crate::core::{Lots, Market, SpecError, SymbolSpec, SymbolStatus};
use serde::Deserialize;

/// Why a symbol list could not be read.
pub type SymbolsError = super::AnswerError;

#[derive(Deserialize)]
struct Answer {
    code: String,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Vec<Symbol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Symbol {
    symbol: String,
    base_min_size: String,
    #[serde(default)]
    base_max_size: Option<String>,
    base_increment: String,
    price_increment: String,
    #[serde(default)]
    min_funds: Option<String>,
    #[serde(default)]
    quote_min_size: Option<String>,
    #[serde(default)]
    enable_trading: bool,
}

/// The symbols read, and those whose grids could not be used (named, with why).
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Usable symbols.
    pub specs: Vec<SymbolSpec>,
    /// Symbols left out.
    pub rejected: Vec<(String, SpecError)>,
}

/// Reads a symbol list answer.
///
/// # Errors
/// [`SymbolsError`] when the text is not one or KuCoin refused the request; one
/// symbol with unusable grids is listed in [`Symbols::rejected`] and does not spoil
/// the others.
pub fn parse_symbols(json: &[u8]) -> Result<Symbols, SymbolsError> {
    let a: Answer = sonic_rs::from_slice(json)
        .map_err(|e| SymbolsError::Json("a KuCoin symbol list", e.to_string()))?;
    if a.code != "200000" {
        return Err(SymbolsError::Refused {
            code: a.code,
            msg: a.msg.unwrap_or_default(),
        });
    }
    let mut out = Symbols::default();
    for s in a.data {
        match spec(&s) {
            Ok(spec) => out.specs.push(spec),
            Err(e) => out.rejected.push((s.symbol, e)),
        }
    }
    Ok(out)
}

fn spec(s: &Symbol) -> Result<SymbolSpec, SpecError> {
    let mut spec = SymbolSpec::from_tick_lot(
        &s.symbol,
        Market::Spot,
        &s.price_increment,
        &s.base_increment,
    )?
    .on_venue(crate::core::Venue::Kucoin);
    spec.status = if s.enable_trading {
        SymbolStatus::Trading
    } else {
        SymbolStatus::Halted
    };
    spec.min_qty = spec.qty.parse(s.base_min_size.as_bytes())?;
    spec.max_qty = s
        .base_max_size
        .as_deref()
        .map(|t| spec.qty.parse(t.as_bytes()))
        .transpose()?
        .filter(|q: &Lots| q.0 > 0);
    let scale = spec.price.decimals() + spec.qty.decimals();
    spec.min_notional = s
        .min_funds
        .as_deref()
        .or(s.quote_min_size.as_deref())
        .map(|t| crate::core::decimal::ceil_scaled(t, scale))
        .transpose()?
        .filter(|&m| m > 0);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ticks;

    /// Two entries of the kucoin-sample capture's `/api/v1/symbols` answer, as
    /// recorded (cryptofeed licence), and one with a grid that cannot be used.
    const ANSWER: &str = r#"{"code":"200000","data":[
{"symbol":"BCHSV-USDT","name":"BSV-USDT","baseCurrency":"BSV","quoteCurrency":"USDT","feeCurrency":"USDT","market":"USDS","baseMinSize":"0.001","quoteMinSize":"0.05","baseMaxSize":"10000000000","quoteMaxSize":"99999999","baseIncrement":"0.00000001","quoteIncrement":"0.000001","priceIncrement":"0.001","priceLimitRate":"0.1","isMarginEnabled":true,"enableTrading":true},
{"symbol":"ANKR-BTC","name":"ANKR-BTC","baseCurrency":"ANKR","quoteCurrency":"BTC","feeCurrency":"BTC","market":"BTC","baseMinSize":"10","quoteMinSize":"0.00001","baseMaxSize":"10000000000","quoteMaxSize":"99999999","baseIncrement":"0.0001","quoteIncrement":"0.00000001","priceIncrement":"0.0000000001","priceLimitRate":"0.1","isMarginEnabled":false,"enableTrading":true},
{"symbol":"BAD-GRID","baseMinSize":"1","baseIncrement":"abc","priceIncrement":"0.1","enableTrading":false}]}"#;

    #[test]
    fn grids_bounds_and_status_come_from_the_list() {
        let s = parse_symbols(ANSWER.as_bytes()).unwrap();
        assert_eq!(s.specs.len(), 2);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].0, "BAD-GRID");
        let bsv = &s.specs[0];
        assert_eq!(bsv.name.as_str(), "BCHSV-USDT");
        assert_eq!(bsv.status, SymbolStatus::Trading);
        assert_eq!(bsv.price.format(Ticks(242_649)), "242.649");
        assert_eq!(bsv.qty.format(bsv.min_qty), "0.001");
        // 0.05 USDT at price × qty places (3 + 8).
        assert_eq!(bsv.min_notional, Some(5_000_000_000));
        let ankr = &s.specs[1];
        assert_eq!(ankr.price.format(Ticks(26_019)), "0.0000026019");
        assert_eq!(ankr.qty.format(ankr.min_qty), "10");
    }

    #[test]
    fn refusals_and_junk_are_errors_not_panics() {
        let e = parse_symbols(br#"{"code":"400100","msg":"Parameter error"}"#).unwrap_err();
        assert_eq!(
            e,
            SymbolsError::Refused {
                code: "400100".into(),
                msg: "Parameter error".into()
            }
        );
        assert!(matches!(
            parse_symbols(b"<html>"),
            Err(SymbolsError::Json(..))
        ));
        assert!(matches!(parse_symbols(b""), Err(SymbolsError::Json(..))));
    }
}
