//! Binance's error codes and messages, and how they map onto the venue-agnostic
//! [`Reject`] reasons: the local exchange answers with them, the live link reads them
//! back. Source: SPOT "Error Codes", UM and CM "Error Code" pages
//! (docs/binance-protocol.md §8).
//!
//! ```text
//! {"code":-1013,"msg":"Filter failure: LOT_SIZE"}
//! ```

use crate::core::{Market, Reject};
use serde::{Deserialize, Serialize};

/// The codes Minerva sends or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// An unknown error, or an unknown path.
    Unknown = -1000,
    /// Too much request weight used.
    TooManyRequests = -1003,
    /// Execution status unknown (timeout waiting for the backend).
    Timeout = -1007,
    /// A filter failed (spot: price, lot size, notional).
    FilterFailure = -1013,
    /// Too many new orders.
    TooManyOrders = -1015,
    /// The timestamp is outside the recvWindow, or ahead of the server.
    InvalidTimestamp = -1021,
    /// The signature is not valid.
    InvalidSignature = -1022,
    /// Illegal characters in a parameter.
    IllegalChars = -1100,
    /// A parameter was sent twice, or too many were sent.
    TooManyParameters = -1101,
    /// A mandatory parameter is missing, empty or malformed.
    MandatoryParamMissing = -1102,
    /// A time-in-force this market does not know.
    InvalidTif = -1115,
    /// An order type this exchange does not take.
    InvalidOrderType = -1116,
    /// An interval this exchange does not know.
    InvalidInterval = -1120,
    /// Not a symbol of this exchange.
    InvalidSymbol = -1121,
    /// The listen key does not exist.
    InvalidListenKey = -1125,
    /// recvWindow is over 60,000 ms.
    BadRecvWindow = -1131,
    /// The order was refused (spot: several reasons).
    NewOrderRejected = -2010,
    /// The cancel was refused: the order is not open.
    CancelRejected = -2011,
    /// The order does not exist.
    NoSuchOrder = -2013,
    /// The API key format is invalid (or none was sent).
    BadApiKeyFormat = -2014,
    /// The API key is invalid, or not allowed this action.
    RejectedMbxKey = -2015,
    /// Margin is insufficient (futures).
    MarginInsufficient = -2019,
    /// The order would trigger at once (futures).
    OrderWouldTrigger = -2021,
    /// A reduce-only order is refused (futures).
    ReduceOnlyReject = -2022,
    /// The price is not a multiple of the tick size (futures).
    PriceFilter = -4014,
    /// The quantity is not a multiple of the step size (futures).
    LotSize = -4023,
    /// The leverage is not valid (futures).
    InvalidLeverage = -4028,
    /// Too many open orders (futures).
    MaxOpenOrders = -4045,
    /// The margin type asked for is the symbol's already (futures).
    NoNeedToChangeMarginType = -4046,
    /// The client order id is a duplicate (futures).
    DuplicateClientId = -4116,
    /// Leverage reduction is not supported with an open position (futures).
    LeverageReduction = -4161,
    /// The notional is under the minimum (futures).
    MinNotional = -4164,
    /// A fill-or-kill order could not fill at once (futures).
    FokRejected = -5021,
    /// A post-only order would have taken liquidity (futures).
    PostOnlyRejected = -5022,
}

impl Code {
    /// Its number.
    pub fn number(self) -> i32 {
        self as i32
    }
}

/// Binance's message for a listen key it does not know (-1125).
pub const UNKNOWN_LISTEN_KEY: &str = "This listenKey does not exist.";

/// Binance's error answer, `{"code":…,"msg":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The code.
    pub code: i64,
    /// The message.
    pub msg: String,
}

impl ErrorBody {
    /// An answer with `code` and `msg`, as JSON bytes.
    pub fn json(code: Code, msg: &str) -> Vec<u8> {
        let body = ErrorBody {
            code: code.number() as i64,
            msg: msg.to_string(),
        };
        sonic_rs::to_vec(&body).unwrap_or_default()
    }

    /// An error answer read back; `None` when the body is not one.
    pub fn read(body: &[u8]) -> Option<Self> {
        sonic_rs::from_slice(body).ok()
    }
}

/// Binance's code for `r` on `market`.
pub fn code(r: Reject, market: Market) -> Code {
    let futures = market.is_futures();
    match r {
        Reject::BadSignature => Code::InvalidSignature,
        Reject::Malformed => Code::MandatoryParamMissing,
        Reject::WrongSymbol => Code::InvalidSymbol,
        Reject::PriceFilter if futures => Code::PriceFilter,
        Reject::LotSize if futures => Code::LotSize,
        Reject::MinNotional if futures => Code::MinNotional,
        Reject::PriceFilter | Reject::LotSize | Reject::MinNotional => Code::FilterFailure,
        Reject::OutsideRecvWindow => Code::InvalidTimestamp,
        Reject::WouldTakeLiquidity if futures => Code::PostOnlyRejected,
        Reject::WouldTrigger if futures => Code::OrderWouldTrigger,
        Reject::FokUnfilled => Code::FokRejected,
        Reject::TooManyOrders if futures => Code::MaxOpenOrders,
        Reject::UnknownOrder => Code::CancelRejected,
        Reject::Unsupported => Code::InvalidOrderType,
        Reject::ReduceOnly => Code::ReduceOnlyReject,
        Reject::InsufficientMargin if futures => Code::MarginInsufficient,
        Reject::RateLimited => Code::TooManyOrders,
        Reject::StatusUnknown => Code::Timeout,
        Reject::WouldTakeLiquidity
        | Reject::WouldTrigger
        | Reject::TooManyOrders
        | Reject::InsufficientMargin => Code::NewOrderRejected,
    }
}

/// Binance's message for `r` on `market`.
pub fn message(r: Reject, market: Market) -> &'static str {
    let futures = market.is_futures();
    match r {
        Reject::BadSignature => "Signature for this request is not valid.",
        Reject::Malformed => "Mandatory parameter was not sent, was empty/null, or malformed.",
        Reject::WrongSymbol => "Invalid symbol.",
        Reject::PriceFilter if futures => "Price not increased by tick size.",
        Reject::PriceFilter => "Filter failure: PRICE_FILTER",
        Reject::LotSize if futures => "Quantity not increased by step size.",
        Reject::LotSize => "Filter failure: LOT_SIZE",
        Reject::MinNotional if futures => {
            "Order's notional must be no smaller than the minimum (unless you choose reduce only)."
        }
        Reject::MinNotional => "Filter failure: NOTIONAL",
        Reject::OutsideRecvWindow => "Timestamp for this request is outside of the recvWindow.",
        Reject::WouldTakeLiquidity if futures => {
            "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history"
        }
        Reject::WouldTakeLiquidity => "Order would immediately match and take.",
        Reject::WouldTrigger if futures => "Order would immediately trigger.",
        Reject::WouldTrigger => "Stop price would trigger immediately.",
        Reject::FokUnfilled => {
            "Due to the order could not be filled immediately, the FOK order has been rejected. The order will not be recorded in the order history"
        }
        Reject::TooManyOrders if futures => "Reach max open order limit.",
        Reject::TooManyOrders => "Account has too many open orders.",
        Reject::UnknownOrder => "Unknown order sent.",
        Reject::Unsupported => "Invalid orderType.",
        Reject::ReduceOnly => "ReduceOnly Order is rejected.",
        Reject::InsufficientMargin if futures => "Margin is insufficient.",
        Reject::InsufficientMargin => "Account has insufficient balance for requested action.",
        Reject::RateLimited => "Too many new orders.",
        Reject::StatusUnknown => {
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
        }
    }
}

/// The reason behind a Binance error answer (`code`, `msg`) on `market`: the one
/// whose code and message both match, else the first with the code (several reasons
/// share -2010 and -1013 on spot), else [`Reject::Malformed`].
pub fn reject_of(code_number: i64, msg: &str, market: Market) -> Reject {
    let same_code = |r: &&Reject| code(**r, market).number() as i64 == code_number;
    Reject::ALL
        .iter()
        .filter(same_code)
        .find(|r| {
            let m = message(**r, market);
            msg.starts_with(m) || m.starts_with(msg)
        })
        .or_else(|| {
            // `-1013 Filter failure: LOT_SIZE` and the like name their filter.
            Reject::ALL.iter().filter(same_code).find(|r| {
                message(**r, market)
                    .rsplit(' ')
                    .next()
                    .is_some_and(|w| msg.ends_with(w))
            })
        })
        .or_else(|| Reject::ALL.iter().find(same_code))
        .copied()
        .unwrap_or(match code_number {
            -1003 | -1015 => Reject::RateLimited,
            -2013 | -2011 => Reject::UnknownOrder,
            _ => Reject::Malformed,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_code_and_a_message_and_reads_back() {
        for m in [Market::Spot, Market::UsdM] {
            for r in Reject::ALL {
                assert!(code(r, m).number() < 0);
                assert!(!message(r, m).is_empty());
                assert_eq!(
                    reject_of(code(r, m).number() as i64, message(r, m), m),
                    r,
                    "{m:?} {r:?}"
                );
            }
        }
        assert_eq!(code(Reject::BadSignature, Market::UsdM).number(), -1022);
        assert_eq!(
            code(Reject::WouldTakeLiquidity, Market::Spot).number(),
            -2010
        );
        assert_eq!(
            code(Reject::WouldTakeLiquidity, Market::UsdM).number(),
            -5022
        );
        assert_eq!(
            reject_of(-1003, "Too much request weight used", Market::Spot),
            Reject::RateLimited
        );
        assert_eq!(reject_of(-9999, "?", Market::Spot), Reject::Malformed);
    }

    #[test]
    fn error_bodies_round_trip_whatever_the_message() {
        let b = ErrorBody::json(Code::InvalidSymbol, "a \"quoted\" \\ name");
        let back = ErrorBody::read(&b).unwrap();
        assert_eq!(
            (back.code, back.msg.as_str()),
            (-1121, "a \"quoted\" \\ name")
        );
        assert!(ErrorBody::read(b"{}").is_none());
    }
}
