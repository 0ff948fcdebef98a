//! The user data stream's events, typed (serde): what the local exchange sends and the
//! live link reads. Sources: SPOT "User Data Streams", UM "Event: Order Update",
//! "Event: Balance and Position Update" (docs/binance-protocol.md §7).
//!
//! ```text
//! {"e":"executionReport","E":1723161444709,"s":"BTCUSDT","c":"mnv1e","S":"BUY","o":"LIMIT_MAKER",
//!  "x":"TRADE","X":"PARTIALLY_FILLED","l":"0.00100","z":"0.00100","L":"61716.40","n":"0.0617",…}
//! ```
//!
//! Reading is strict where it matters: a field the link books from (ids, status,
//! quantities, prices) missing or of the wrong type makes the event malformed — an
//! error the link counts and logs, never a zero. Fields it does not read may be absent
//! (Binance adds fields; an old local exchange omits some), and an event type it does
//! not follow is reported as such, not as damage.

use serde::{Deserialize, Serialize};

/// A spot order's execution event (`executionReport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_ms: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Client order id (a cancel's: the cancel request's own).
    #[serde(rename = "c")]
    pub client_id: String,
    /// `BUY` or `SELL`.
    #[serde(rename = "S")]
    pub side: String,
    /// Order type.
    #[serde(rename = "o", default)]
    pub order_type: String,
    /// Time in force.
    #[serde(rename = "f", default)]
    pub time_in_force: String,
    /// Quantity ordered.
    #[serde(rename = "q", default)]
    pub qty: String,
    /// Limit price.
    #[serde(rename = "p", default)]
    pub price: String,
    /// Stop price.
    #[serde(rename = "P", default)]
    pub stop_price: String,
    /// Iceberg quantity.
    #[serde(rename = "F", default)]
    pub iceberg_qty: String,
    /// OCO list id (-1: none).
    #[serde(rename = "g", default)]
    pub list_id: i64,
    /// The cancelled order's client id (cancels), else empty.
    #[serde(rename = "C", default)]
    pub orig_client_id: String,
    /// Execution type: `NEW`, `CANCELED`, `REPLACED`, `REJECTED`, `TRADE`, `EXPIRED`,
    /// `TRADE_PREVENTION`.
    #[serde(rename = "x")]
    pub execution: String,
    /// Order status.
    #[serde(rename = "X")]
    pub status: String,
    /// Reject reason (`NONE`).
    #[serde(rename = "r", default)]
    pub reject_reason: String,
    /// Exchange order id.
    #[serde(rename = "i", default)]
    pub order_id: u64,
    /// Last executed quantity.
    #[serde(rename = "l")]
    pub last_qty: String,
    /// Cumulative filled quantity.
    #[serde(rename = "z")]
    pub cum_qty: String,
    /// Last executed price.
    #[serde(rename = "L")]
    pub last_price: String,
    /// Commission of the last fill.
    #[serde(rename = "n", default)]
    pub commission: String,
    /// Commission asset (`null` without a fill).
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    /// Transaction time, ms.
    #[serde(rename = "T")]
    pub transaction_ms: i64,
    /// Trade id (-1: none).
    #[serde(rename = "t", default)]
    pub trade_id: i64,
    /// On the book.
    #[serde(rename = "w", default)]
    pub working: bool,
    /// The fill was as maker.
    #[serde(rename = "m")]
    pub maker: bool,
    /// Ignore.
    #[serde(rename = "M", default)]
    pub ignore: bool,
    /// Creation time, ms.
    #[serde(rename = "O", default)]
    pub created_ms: i64,
    /// Cumulative quote value filled.
    #[serde(rename = "Z")]
    pub cum_quote: String,
    /// Last quote value filled.
    #[serde(rename = "Y", default)]
    pub last_quote: String,
    /// Quote order quantity.
    #[serde(rename = "Q", default)]
    pub quote_order_qty: String,
    /// Working time, ms.
    #[serde(rename = "W", default)]
    pub working_ms: i64,
    /// Self-trade prevention mode.
    #[serde(rename = "V", default)]
    pub stp: String,
}

/// The order inside a futures `ORDER_TRADE_UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuturesOrderUpdate {
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Client order id (`autoclose-…` for a liquidation).
    #[serde(rename = "c")]
    pub client_id: String,
    /// `BUY` or `SELL`.
    #[serde(rename = "S")]
    pub side: String,
    /// Order type.
    #[serde(rename = "o", default)]
    pub order_type: String,
    /// Time in force.
    #[serde(rename = "f", default)]
    pub time_in_force: String,
    /// Quantity ordered.
    #[serde(rename = "q", default)]
    pub qty: String,
    /// Limit price.
    #[serde(rename = "p", default)]
    pub price: String,
    /// Average price.
    #[serde(rename = "ap", default)]
    pub avg_price: String,
    /// Stop price.
    #[serde(rename = "sp", default)]
    pub stop_price: String,
    /// Execution type (`NEW`, `TRADE`, `CANCELED`, `EXPIRED`, `CALCULATED`: a
    /// liquidation, `AMENDMENT`).
    #[serde(rename = "x")]
    pub execution: String,
    /// Order status.
    #[serde(rename = "X")]
    pub status: String,
    /// Exchange order id.
    #[serde(rename = "i", default)]
    pub order_id: u64,
    /// Last filled quantity.
    #[serde(rename = "l")]
    pub last_qty: String,
    /// Cumulative filled quantity.
    #[serde(rename = "z")]
    pub cum_qty: String,
    /// Last filled price.
    #[serde(rename = "L")]
    pub last_price: String,
    /// Commission asset.
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    /// Commission of the last fill.
    #[serde(rename = "n", default)]
    pub commission: String,
    /// Trade time, ms.
    #[serde(rename = "T")]
    pub trade_ms: i64,
    /// Trade id.
    #[serde(rename = "t", default)]
    pub trade_id: i64,
    /// Bid notional.
    #[serde(rename = "b", default)]
    pub bid_notional: String,
    /// Ask notional.
    #[serde(rename = "a", default)]
    pub ask_notional: String,
    /// The fill was as maker.
    #[serde(rename = "m")]
    pub maker: bool,
    /// Reduce only.
    #[serde(rename = "R", default)]
    pub reduce_only: bool,
    /// Stop price source.
    #[serde(rename = "wt", default)]
    pub working_type: String,
    /// Original order type.
    #[serde(rename = "ot", default)]
    pub orig_type: String,
    /// Position side.
    #[serde(rename = "ps", default)]
    pub position_side: String,
    /// Close-all order.
    #[serde(rename = "cp", default)]
    pub close_position: bool,
    /// Realised profit of the trade.
    #[serde(rename = "rp", default)]
    pub realised: String,
    /// Price protection.
    #[serde(rename = "pP", default)]
    pub price_protect: bool,
    /// Ignore.
    #[serde(rename = "si", default)]
    pub si: i64,
    /// Ignore.
    #[serde(rename = "ss", default)]
    pub ss: i64,
    /// Self-trade prevention mode.
    #[serde(rename = "V", default)]
    pub stp: String,
    /// Price match mode.
    #[serde(rename = "pm", default)]
    pub price_match: String,
    /// Good-till date.
    #[serde(rename = "gtd", default)]
    pub good_till: i64,
}

/// A futures order event (`ORDER_TRADE_UPDATE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTradeUpdate {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_ms: i64,
    /// Transaction time, ms.
    #[serde(rename = "T", default)]
    pub transaction_ms: i64,
    /// The order.
    #[serde(rename = "o")]
    pub order: FuturesOrderUpdate,
}

/// A balance in a futures `ACCOUNT_UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuturesBalance {
    /// Asset.
    #[serde(rename = "a")]
    pub asset: String,
    /// Wallet balance.
    #[serde(rename = "wb")]
    pub wallet: String,
    /// Cross wallet balance.
    #[serde(rename = "cw", default)]
    pub cross_wallet: String,
    /// Balance change (other than PnL and commission).
    #[serde(rename = "bc")]
    pub change: String,
}

/// A position in a futures `ACCOUNT_UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuturesPosition {
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Position amount (signed).
    #[serde(rename = "pa")]
    pub amount: String,
    /// Entry price.
    #[serde(rename = "ep", default)]
    pub entry_price: String,
    /// Accumulated realised.
    #[serde(rename = "cr", default)]
    pub realised: String,
    /// Unrealised PnL.
    #[serde(rename = "up", default)]
    pub unrealised: String,
    /// Margin type.
    #[serde(rename = "mt", default)]
    pub margin_type: String,
    /// Isolated wallet.
    #[serde(rename = "iw", default)]
    pub isolated_wallet: String,
    /// Position side.
    #[serde(rename = "ps", default)]
    pub position_side: String,
}

/// What changed in a futures `ACCOUNT_UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    /// Why: `ORDER`, `FUNDING_FEE`, `DEPOSIT`, …
    #[serde(rename = "m")]
    pub reason: String,
    /// Balances.
    #[serde(rename = "B")]
    pub balances: Vec<FuturesBalance>,
    /// Positions.
    #[serde(rename = "P", default)]
    pub positions: Vec<FuturesPosition>,
}

/// A futures balance and position event (`ACCOUNT_UPDATE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUpdate {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_ms: i64,
    /// Transaction time, ms.
    #[serde(rename = "T")]
    pub transaction_ms: i64,
    /// The change.
    #[serde(rename = "a")]
    pub change: AccountChange,
}

/// A spot balance in `outboundAccountPosition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotBalance {
    /// Asset.
    #[serde(rename = "a")]
    pub asset: String,
    /// Free.
    #[serde(rename = "f")]
    pub free: String,
    /// Locked.
    #[serde(rename = "l")]
    pub locked: String,
}

/// A spot account event (`outboundAccountPosition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundAccountPosition {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_ms: i64,
    /// Last update, ms.
    #[serde(rename = "u")]
    pub update_ms: i64,
    /// Balances.
    #[serde(rename = "B")]
    pub balances: Vec<SpotBalance>,
}

/// The listen key expired: the stream ends; a new key is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenKeyExpired {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_ms: i64,
    /// The key.
    #[serde(rename = "listenKey", default)]
    pub listen_key: String,
}

/// A user data stream event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e")]
pub enum UserEvent {
    /// A spot order event.
    #[serde(rename = "executionReport")]
    ExecutionReport(ExecutionReport),
    /// A futures order event.
    #[serde(rename = "ORDER_TRADE_UPDATE")]
    OrderTradeUpdate(OrderTradeUpdate),
    /// A futures balance and position event.
    #[serde(rename = "ACCOUNT_UPDATE")]
    AccountUpdate(AccountUpdate),
    /// A spot account event.
    #[serde(rename = "outboundAccountPosition")]
    OutboundAccountPosition(OutboundAccountPosition),
    /// The listen key expired.
    #[serde(rename = "listenKeyExpired")]
    ListenKeyExpired(ListenKeyExpired),
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or a known event with a field missing or of the wrong type.
    #[error("malformed {kind} event: {why}")]
    Malformed {
        /// The event type, when it could be read.
        kind: String,
        /// The reader's complaint.
        why: String,
    },
    /// A well-formed event of a type the link does not follow (`balanceUpdate`,
    /// `MARGIN_CALL`, …).
    #[error("event type {0} is not followed")]
    Other(String),
}

/// The type of an event, read alone.
#[derive(Deserialize)]
struct Kind {
    e: String,
}

/// Reads one user data stream message.
///
/// # Errors
/// [`EventError::Other`] for an event type not followed, [`EventError::Malformed`] for
/// one that does not read.
pub fn read(text: &[u8]) -> Result<UserEvent, EventError> {
    match sonic_rs::from_slice::<UserEvent>(text) {
        Ok(e) => Ok(e),
        Err(err) => match sonic_rs::from_slice::<Kind>(text) {
            Ok(k)
                if !matches!(
                    k.e.as_str(),
                    "executionReport"
                        | "ORDER_TRADE_UPDATE"
                        | "ACCOUNT_UPDATE"
                        | "outboundAccountPosition"
                        | "listenKeyExpired"
                ) =>
            {
                Err(EventError::Other(k.e))
            }
            Ok(k) => Err(EventError::Malformed {
                kind: k.e,
                why: err.to_string(),
            }),
            Err(_) => Err(EventError::Malformed {
                kind: "unknown".into(),
                why: err.to_string(),
            }),
        },
    }
}

/// True for the listen key's expiry (the stream's end), read from the event type
/// alone.
pub fn is_listen_key_expired(text: &[u8]) -> bool {
    sonic_rs::from_slice::<Kind>(text).is_ok_and(|k| k.e == "listenKeyExpired")
}

/// Writes an event as the stream sends it.
pub fn write(e: &UserEvent) -> String {
    sonic_rs::to_string(e).unwrap_or_default()
}

/// An event written by [`write()`] as a combined session sends it,
/// `{"stream":<listen key>,"data":<event>}` (by the serializer: the event is kept as
/// it is, the key escaped).
pub fn wrap(listen_key: &str, event: &str) -> String {
    match sonic_rs::from_str::<sonic_rs::LazyValue<'_>>(event) {
        Ok(data) => sonic_rs::to_string(&super::market::Combined {
            stream: listen_key,
            data: &data,
        })
        .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_typed_and_bad_ones_are_errors() {
        let ev = br#"{"e":"ORDER_TRADE_UPDATE","E":5,"T":6,"o":{"s":"BTCUSDT","c":"mnv1e","S":"BUY","x":"TRADE","X":"FILLED","l":"0.010","z":"0.010","L":"100.5","T":7,"m":false,"new":1}}"#;
        match read(ev).unwrap() {
            UserEvent::OrderTradeUpdate(u) => {
                assert_eq!((u.event_ms, u.order.trade_ms), (5, 7));
                assert_eq!(u.order.client_id, "mnv1e");
                assert_eq!(u.order.status, "FILLED");
            }
            e => panic!("{e:?}"),
        }
        // `z` missing: malformed, not zero.
        let bad = br#"{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"s":"BTCUSDT","c":"mnv1e","S":"BUY","x":"TRADE","X":"FILLED","l":"0.010","L":"100.5","T":7,"m":false}}"#;
        assert!(matches!(read(bad), Err(EventError::Malformed { .. })));
        assert!(matches!(
            read(br#"{"e":"balanceUpdate","E":1}"#),
            Err(EventError::Other(k)) if k == "balanceUpdate"
        ));
        assert!(matches!(
            read(b"not json"),
            Err(EventError::Malformed { .. })
        ));
        let expired = br#"{"e":"listenKeyExpired","E":1,"listenKey":"k"}"#;
        assert!(matches!(read(expired), Ok(UserEvent::ListenKeyExpired(_))));
    }

    #[test]
    fn written_events_read_back() {
        let e = UserEvent::OutboundAccountPosition(OutboundAccountPosition {
            event_ms: 1,
            update_ms: 1,
            balances: vec![SpotBalance {
                asset: "U\"SDT".into(),
                free: "1.0".into(),
                locked: "0".into(),
            }],
        });
        let text = write(&e);
        assert!(
            text.starts_with(r#"{"e":"outboundAccountPosition""#),
            "{text}"
        );
        assert_eq!(read(text.as_bytes()).unwrap(), e);
    }
}
