//! KuCoin's futures contract list (`GET /api/v1/contracts/active` on the futures host;
//! protocol notes §4) read into each contract's grids. Cold path.
//!
//! Sizes are whole contracts: a linear contract (XBTUSDTM) is `multiplier` base units
//! (0.001 BTC), an inverse one (XBTUSDM) 1 USD. Minerva's grid for a linear contract is
//! the base asset with the contract (`multiplier × lotSize`) as its lot step; for an
//! inverse one the contract itself, with `contract_size` USD per contract as on
//! Binance COIN-M — so `super::contracts_to_lots` turns a count into lots, and the
//! account's contract math (`core::Valuer`) applies unchanged. The numbers are JSON
//! numbers, read from their text (exponents included), never through a float.

use crate::core::{Lots, Market, SpecError, SymbolSpec, SymbolStatus, Venue};
use serde::Deserialize;
use sonic_rs::LazyValue;

/// Why a contract list could not be read.
pub type ContractsError = super::AnswerError;

#[derive(Deserialize)]
struct Answer<'a> {
    code: String,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default, borrow)]
    data: Vec<ContractDe<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContractDe<'a> {
    symbol: String,
    #[serde(borrow)]
    multiplier: LazyValue<'a>,
    #[serde(borrow)]
    tick_size: LazyValue<'a>,
    #[serde(default, borrow)]
    lot_size: Option<LazyValue<'a>>,
    #[serde(default, borrow)]
    max_order_qty: Option<LazyValue<'a>>,
    #[serde(default)]
    is_inverse: bool,
    #[serde(default)]
    status: Option<String>,
}

/// The contracts read, and those whose grids could not be used (named, with why).
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    /// Usable contracts.
    pub specs: Vec<SymbolSpec>,
    /// Contracts left out.
    pub rejected: Vec<(String, SpecError)>,
}

/// Reads a contract list answer.
///
/// # Errors
/// [`ContractsError`] when the text is not one or KuCoin refused; one contract with
/// unusable numbers is listed in [`Contracts::rejected`].
pub fn parse_contracts(json: &[u8]) -> Result<Contracts, ContractsError> {
    // sonic-rs panics on invalid UTF-8 inside a lazy value (found by the kucoin_rest
    // fuzz target on snapshots): the text is checked first.
    std::str::from_utf8(json)
        .map_err(|e| ContractsError::Json("a KuCoin contract list", e.to_string()))?;
    let a: Answer<'_> = sonic_rs::from_slice(json)
        .map_err(|e| ContractsError::Json("a KuCoin contract list", e.to_string()))?;
    if a.code != "200000" {
        return Err(ContractsError::Refused {
            code: a.code,
            msg: a.msg.unwrap_or_default(),
        });
    }
    let mut out = Contracts::default();
    for c in &a.data {
        match spec(c) {
            Ok(s) => out.specs.push(s),
            Err(e) => out.rejected.push((c.symbol.clone(), e)),
        }
    }
    Ok(out)
}

/// A JSON number's text as a plain decimal (`1.0E-4` → `0.0001`, `25` → `25`); `None`
/// for anything that is not a finite number.
pub(crate) fn plain_decimal(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    let (neg, body) = match raw.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, raw),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        || exp.abs() > 40
    {
        return None;
    }
    // All digits, and where the point falls in them.
    let digits: String = format!("{int}{frac}");
    let point = int.len() as i32 + exp;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    // Canonical: no leading zeros in the integer part, no trailing fraction zeros.
    let (i, f) = text.split_once('.').unwrap_or((&text, ""));
    let i = i.trim_start_matches('0');
    let f = f.trim_end_matches('0');
    let i = if i.is_empty() { "0" } else { i };
    let sign = if neg { "-" } else { "" };
    Some(if f.is_empty() {
        format!("{sign}{i}")
    } else {
        format!("{sign}{i}.{f}")
    })
}

fn number(v: &LazyValue<'_>, what: &'static str) -> Result<String, SpecError> {
    plain_decimal(v.as_raw_str()).ok_or(SpecError::BadGrid(what))
}

fn spec(c: &ContractDe<'_>) -> Result<SymbolSpec, SpecError> {
    let tick = number(&c.tick_size, "tickSize")?;
    let multiplier = number(&c.multiplier, "multiplier")?;
    let lot_size: u64 = match &c.lot_size {
        Some(v) => number(v, "lotSize")?
            .parse()
            .map_err(|_| SpecError::BadGrid("lotSize is not a whole number of contracts"))?,
        None => 1,
    };
    if lot_size == 0 {
        return Err(SpecError::BadGrid("lotSize"));
    }
    let mut spec = if c.is_inverse {
        // A contract is `|multiplier|` USD (KuCoin writes -1 for XBTUSDM).
        let usd: i64 = multiplier
            .trim_start_matches('-')
            .parse()
            .map_err(|_| SpecError::BadGrid("inverse multiplier is not whole USD"))?;
        let mut s = SymbolSpec::from_tick_lot(&c.symbol, Market::CoinM, &tick, "1")?;
        s.contract_size = Some(usd.max(1));
        s
    } else {
        if multiplier.starts_with('-') {
            return Err(SpecError::BadGrid(
                "negative multiplier on a linear contract",
            ));
        }
        SymbolSpec::from_tick_lot(&c.symbol, Market::UsdM, &tick, &multiplier)?
    };
    spec = spec.on_venue(Venue::Kucoin);
    // The order step: `lotSize` contracts.
    let step = super::contracts_to_lots(&spec, lot_size).ok_or(SpecError::BadGrid("lotSize"))?;
    spec.min_qty = step;
    spec.max_qty = match &c.max_order_qty {
        Some(v) => number(v, "maxOrderQty")?
            .parse::<u64>()
            .ok()
            .and_then(|n| super::contracts_to_lots(&spec, n)),
        None => None,
    }
    .filter(|q: &Lots| q.0 > 0);
    spec.status = match c.status.as_deref() {
        Some("Open") => SymbolStatus::Trading,
        Some(_) => SymbolStatus::Halted,
        None => SymbolStatus::Unknown,
    };
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries shaped as KuCoin's universal SDK specifies `/api/v1/contracts/active`
    /// (numbers as JSON numbers; Jackson writes small ones with an exponent).
    const ANSWER: &str = r#"{"code":"200000","data":[
{"symbol":"XBTUSDTM","rootSymbol":"USDT","type":"FFWCSX","baseCurrency":"XBT","quoteCurrency":"USDT","settleCurrency":"USDT","maxOrderQty":1000000,"maxPrice":1000000.0,"lotSize":1,"tickSize":0.1,"indexPriceTickSize":0.01,"multiplier":0.001,"isInverse":false,"status":"Open","maxLeverage":125},
{"symbol":"XBTUSDM","rootSymbol":"XBT","type":"FFWCSX","baseCurrency":"XBT","quoteCurrency":"USD","settleCurrency":"XBT","maxOrderQty":10000000,"lotSize":1,"tickSize":0.1,"multiplier":-1,"isInverse":true,"status":"Open","maxLeverage":100},
{"symbol":"SHIBUSDTM","rootSymbol":"USDT","type":"FFWCSX","maxOrderQty":1000000,"lotSize":1,"tickSize":1.0E-9,"multiplier":10,"isInverse":false,"status":"Paused"},
{"symbol":"BADUSDTM","maxOrderQty":1,"lotSize":1,"tickSize":"x","multiplier":1,"isInverse":false}
]}"#;

    #[test]
    fn linear_and_inverse_grids() {
        let c = parse_contracts(ANSWER.as_bytes()).unwrap();
        assert_eq!(c.specs.len(), 3);
        assert_eq!(c.rejected.len(), 1);
        let x = &c.specs[0];
        assert_eq!(
            (x.name.as_str(), x.market, x.venue),
            ("XBTUSDTM", Market::UsdM, Venue::Kucoin)
        );
        assert_eq!(
            x.price.format(x.price.parse(b"90631.2").unwrap()),
            "90631.2"
        );
        assert_eq!(
            x.qty.format(super::super::contracts_to_lots(x, 2).unwrap()),
            "0.002"
        );
        assert_eq!(x.qty.format(x.max_qty.unwrap()), "1000");
        assert_eq!(x.status, SymbolStatus::Trading);
        let inv = &c.specs[1];
        assert_eq!((inv.market, inv.contract_size), (Market::CoinM, Some(1)));
        assert_eq!(
            inv.qty
                .format(super::super::contracts_to_lots(inv, 7).unwrap()),
            "7"
        );
        let shib = &c.specs[2];
        assert_eq!(shib.price.format(shib.price.step()), "0.000000001");
        assert_eq!(
            shib.qty
                .format(super::super::contracts_to_lots(shib, 3).unwrap()),
            "30"
        );
        assert_eq!(shib.status, SymbolStatus::Halted);
    }

    #[test]
    fn numbers_read_from_their_text() {
        for (raw, want) in [
            ("0.1", "0.1"),
            ("1.0E-4", "0.0001"),
            ("1e-9", "0.000000001"),
            ("25", "25"),
            ("2.5E2", "250"),
            ("1.0E3", "1000"),
            ("-1", "-1"),
            ("0.00100", "0.001"),
            ("\"0.5\"", "0.5"),
        ] {
            assert_eq!(plain_decimal(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["", "x", "1e", "1.2.3", "--1", "1e999", "."] {
            assert_eq!(plain_decimal(bad), None, "{bad}");
        }
        assert!(matches!(
            parse_contracts(br#"{"code":"400100","msg":"no"}"#),
            Err(ContractsError::Refused { .. })
        ));
        assert!(parse_contracts(b"[]").is_err());
    }
}
