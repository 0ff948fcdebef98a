//! Binance's checks of an order request's parameters, before the matching engine sees
//! them, with Binance's codes and messages: a value of the wrong form is -1100
//! ("Illegal characters found in parameter …; legal range is …"), a missing one
//! -1102, an unknown enum value -1100 / -1116 / -1115 as Binance answers each. The
//! local exchange runs it; the live link never sends what it refuses. Cold path.

use super::errors::Code;
use super::params::Params;
use crate::core::Market;

/// Binance's refusal of a parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} ({code:?})")]
pub struct Invalid {
    /// The error code.
    pub code: Code,
    /// Binance's message.
    pub msg: String,
}

/// The pattern Binance documents for client order ids.
pub const CLIENT_ID_RANGE: &str = r"^[\.A-Z\:/a-z0-9_-]{1,36}$";
/// The pattern Binance documents for decimal parameters.
pub const DECIMAL_RANGE: &str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$";
/// The pattern of integer parameters.
pub const INTEGER_RANGE: &str = r"^[0-9]{1,20}$";

fn illegal(name: &str, range: &str) -> Invalid {
    Invalid {
        code: Code::IllegalChars,
        msg: format!("Illegal characters found in parameter '{name}'; legal range is '{range}'."),
    }
}

fn missing(name: &str) -> Invalid {
    Invalid {
        code: Code::MandatoryParamMissing,
        msg: format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    }
}

/// A client order id as Binance takes it: 1 to 36 of `. A-Z : / a-z 0-9 _ -`.
pub fn is_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
}

/// A decimal as Binance takes it: up to 20 digits, optionally a point and up to 20.
pub fn is_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| (1..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

fn is_integer(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
}

/// Checks a present parameter against a form.
fn form(p: &Params, name: &str, ok: fn(&str) -> bool, range: &str) -> Result<(), Invalid> {
    match p.get(name) {
        Some(v) if !ok(v) => Err(illegal(name, range)),
        _ => Ok(()),
    }
}

/// Checks an enum parameter: present and one of `legal`.
fn one_of(p: &Params, name: &str, legal: &[&str], code: Code, msg: &str) -> Result<(), Invalid> {
    match p.get(name) {
        None => Err(missing(name)),
        Some(v) if legal.contains(&v) => Ok(()),
        Some(_) if code == Code::IllegalChars => Err(illegal(name, &legal.join(", "))),
        Some(_) => Err(Invalid {
            code,
            msg: msg.to_string(),
        }),
    }
}

/// The order types of `market`, as exchangeInfo lists them.
pub fn order_types(market: Market) -> &'static [&'static str] {
    if market.is_futures() {
        &[
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ]
    } else {
        &[
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ]
    }
}

/// The time-in-force values of `market`.
pub fn time_in_force(market: Market) -> &'static [&'static str] {
    if market.is_futures() {
        &["GTC", "IOC", "FOK", "GTX", "GTD"]
    } else {
        &["GTC", "IOC", "FOK"]
    }
}

/// A new order's parameters (`leg`: `above`/`below` of an OCO list, empty otherwise).
///
/// # Errors
/// [`Invalid`] with Binance's code and message for the first parameter that fails.
pub fn new_order(p: &Params, market: Market) -> Result<(), Invalid> {
    if p.get("symbol").is_none() {
        return Err(missing("symbol"));
    }
    one_of(p, "side", &["BUY", "SELL"], Code::IllegalChars, "")?;
    one_of(
        p,
        "type",
        order_types(market),
        Code::InvalidOrderType,
        "Invalid orderType.",
    )?;
    form(p, "newClientOrderId", is_client_id, CLIENT_ID_RANGE)?;
    if p.has("newClientOrderId") && p.get("newClientOrderId").is_none() {
        return Err(illegal("newClientOrderId", CLIENT_ID_RANGE));
    }
    for name in [
        "quantity",
        "price",
        "stopPrice",
        "quoteOrderQty",
        "icebergQty",
    ] {
        form(p, name, is_decimal, DECIMAL_RANGE)?;
    }
    if let Some(t) = p.get("timeInForce") {
        if !time_in_force(market).contains(&t) {
            return Err(Invalid {
                code: Code::InvalidTif,
                msg: "Invalid timeInForce.".into(),
            });
        }
    }
    if p.get("type") == Some("LIMIT") {
        for name in ["timeInForce", "price", "quantity"] {
            if p.get(name).is_none() {
                return Err(missing(name));
            }
        }
    }
    if let Some(t) = p.get("newOrderRespType") {
        if !["ACK", "RESULT", "FULL"].contains(&t) {
            return Err(illegal("newOrderRespType", "ACK, RESULT, FULL"));
        }
    }
    if let Some(r) = p.get("reduceOnly") {
        if !["true", "false"].contains(&r) {
            return Err(illegal("reduceOnly", "true, false"));
        }
    }
    Ok(())
}

/// An order query's or cancel's parameters: `orderId` an integer, client ids legal,
/// one of the two present.
///
/// # Errors
/// [`Invalid`] as Binance answers.
pub fn order_ref(p: &Params) -> Result<(), Invalid> {
    form(p, "orderId", is_integer, INTEGER_RANGE)?;
    form(p, "origClientOrderId", is_client_id, CLIENT_ID_RANGE)?;
    form(p, "newClientOrderId", is_client_id, CLIENT_ID_RANGE)?;
    if p.get("orderId").is_none() && p.get("origClientOrderId").is_none() {
        return Err(Invalid {
            code: Code::MandatoryParamMissing,
            msg: "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
                .into(),
        });
    }
    Ok(())
}

/// An OCO list's parameters: the list's and legs' client ids, the legs' numbers.
///
/// # Errors
/// [`Invalid`] as Binance answers.
pub fn oco(p: &Params) -> Result<(), Invalid> {
    if p.get("symbol").is_none() {
        return Err(missing("symbol"));
    }
    one_of(p, "side", &["BUY", "SELL"], Code::IllegalChars, "")?;
    for name in [
        "listClientOrderId",
        "aboveClientOrderId",
        "belowClientOrderId",
    ] {
        form(p, name, is_client_id, CLIENT_ID_RANGE)?;
    }
    for name in [
        "quantity",
        "abovePrice",
        "aboveStopPrice",
        "belowPrice",
        "belowStopPrice",
    ] {
        form(p, name, is_decimal, DECIMAL_RANGE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Params {
        Params::parse(q, "").unwrap()
    }

    #[test]
    fn client_ids_follow_binances_pattern() {
        assert!(is_client_id("my:id/1.a_b-c"));
        assert!(is_client_id(&"a".repeat(36)));
        assert!(!is_client_id(&"a".repeat(37)));
        assert!(!is_client_id(""));
        assert!(!is_client_id("a\"b"));
        assert!(!is_client_id("a\\b"));
        assert!(!is_client_id("a b"));
        assert!(!is_client_id("é"));
    }

    #[test]
    fn decimals_follow_binances_pattern() {
        for ok in [
            "0",
            "1.5",
            "00.10",
            "12345678901234567890.12345678901234567890",
        ] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e5",
            "1.2.3",
            "NaN",
            "+1",
            "1,5",
            &"9".repeat(21),
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn orders_are_refused_with_binances_codes() {
        let base = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=1";
        assert_eq!(new_order(&p(base), Market::Spot), Ok(()));
        let long = format!("{base}&newClientOrderId={}", "a".repeat(37));
        let e = new_order(&p(&long), Market::Spot).unwrap_err();
        assert_eq!(e.code, Code::IllegalChars);
        assert!(e.msg.contains("newClientOrderId"), "{}", e.msg);
        let quoted = format!("{base}&newClientOrderId=a%22b");
        assert_eq!(
            new_order(&p(&quoted), Market::Spot).unwrap_err().code,
            Code::IllegalChars
        );
        let decoded = format!("{base}&newClientOrderId=my%3Aid");
        assert_eq!(new_order(&p(&decoded), Market::Spot), Ok(()));
        let side = base.replace("side=BUY", "side=HOLD");
        let e = new_order(&p(&side), Market::Spot).unwrap_err();
        assert_eq!(e.code, Code::IllegalChars);
        assert!(e.msg.contains("'side'"));
        let kind = base.replace("type=LIMIT", "type=ICEBERG");
        assert_eq!(
            new_order(&p(&kind), Market::Spot).unwrap_err().code,
            Code::InvalidOrderType
        );
        let tif = base.replace("GTC", "GTX");
        assert_eq!(
            new_order(&p(&tif), Market::Spot).unwrap_err().code,
            Code::InvalidTif
        );
        assert_eq!(new_order(&p(&tif), Market::UsdM), Ok(()));
        let qty = base.replace("quantity=1", "quantity=1e3");
        let e = new_order(&p(&qty), Market::Spot).unwrap_err();
        assert!(e.msg.contains("'quantity'"));
        let no_price = base.replace("&price=1", "");
        assert_eq!(
            new_order(&p(&no_price), Market::Spot).unwrap_err().code,
            Code::MandatoryParamMissing
        );
    }

    #[test]
    fn order_references_need_an_id() {
        assert!(order_ref(&p("symbol=X&orderId=5")).is_ok());
        assert!(order_ref(&p("symbol=X&origClientOrderId=a")).is_ok());
        assert_eq!(
            order_ref(&p("symbol=X")).unwrap_err().code,
            Code::MandatoryParamMissing
        );
        assert_eq!(
            order_ref(&p("symbol=X&orderId=-1")).unwrap_err().code,
            Code::IllegalChars
        );
    }
}
