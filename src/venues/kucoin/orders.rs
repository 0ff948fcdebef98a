//! Spot orders in KuCoin's words (protocol notes §6, §7, §9), both ways: the trader's
//! typed [`OrderRequest`]s written as signed high-frequency (HF) order requests (hot
//! path, no allocation), and KuCoin's answers and `orderChange` messages read back
//! (serde, on the link's own thread).
//!
//! ```text
//! POST /api/v1/hf/orders
//! {"clientOid":"mnv1e","side":"buy","symbol":"BTC-USDT","type":"limit","price":"61716.4","size":"0.00486","timeInForce":"GTC","postOnly":true}
//! DELETE /api/v1/hf/orders/client-order/mnv1e?symbol=BTC-USDT
//! ```
//!
//! A request's wire bytes are `TIMESTAMP SIGNATURE BODY`: the ms timestamp's digits
//! and a space, the 44-byte `KC-API-SIGN` over timestamp, method, path and body, then
//! the body (empty for a cancel). The method and path follow from the command ([`route`]);
//! [`Signed`] reads the bytes back into headers. KuCoin's HF spot has no OCO and no
//! stop order: the trader holds a spot operation's stop itself on this venue
//! ([`crate::venues::OrderSigner::holds_stops`]).

use super::sign::Signer;
use crate::core::{OrderCmd, OrderKind, OrderRequest, OrderSide, Reject, SymbolSpec};
use crate::venues::encode::{checked, put, put_price, put_qty};
use crate::venues::{EncodeError, WireRequest};
use arrayvec::ArrayString;
use serde::Deserialize;

/// Where HF spot orders are placed.
pub const PLACE_PATH: &str = "/api/v1/hf/orders";
/// Signature bytes after the timestamp and its space.
const SIG_LEN: usize = 44;
/// KuCoin's longest client id (`clientOid`, letters, digits, `_` and `-`).
const MAX_CLIENT_OID: usize = 40;

/// A path with its query, written without allocation.
pub type Path = ArrayString<160>;

/// The path naming one order by client id (cancel: `DELETE`, query: `GET`).
pub fn client_order_path(symbol: &str, client_oid: &str) -> Path {
    let mut p = Path::new();
    for s in [
        "/api/v1/hf/orders/client-order/",
        client_oid,
        "?symbol=",
        symbol,
    ] {
        // Ids and symbols are checked short: the path always fits.
        let _ = p.try_push_str(s);
    }
    p
}

/// The method and path of a command.
pub fn route(spec: &SymbolSpec, cmd: &OrderCmd) -> (&'static str, Path) {
    match cmd {
        OrderCmd::Cancel(id) => ("DELETE", client_order_path(&spec.name, id)),
        _ => ("POST", Path::from(PLACE_PATH).unwrap_or_default()),
    }
}

/// Writes `req` as KuCoin's signed request bytes (`TIMESTAMP SIGNATURE BODY`).
///
/// # Hot path: no allocation.
///
/// # Errors
/// [`EncodeError`]: a stop or an OCO (not HF spot orders), text or numbers KuCoin
/// would refuse, an over-long request.
pub fn encode(
    signer: &Signer,
    spec: &SymbolSpec,
    req: &OrderRequest,
) -> Result<WireRequest, EncodeError> {
    let mut b = WireRequest::new();
    let mut digits = [0u8; 20];
    put(
        &mut b,
        crate::core::decimal::u64_digits(req.timestamp_ms, &mut digits),
    )?;
    put(&mut b, b" ")?;
    let sig_at = b.len();
    put(&mut b, &[b' '; SIG_LEN])?;
    let symbol = checked(&spec.name, 24)?;
    match &req.cmd {
        OrderCmd::New(o) => {
            put(&mut b, br#"{"clientOid":""#)?;
            put(&mut b, checked(&o.id, MAX_CLIENT_OID)?)?;
            put(&mut b, br#"","side":""#)?;
            put(
                &mut b,
                match o.side {
                    OrderSide::Buy => b"buy",
                    OrderSide::Sell => b"sell",
                },
            )?;
            put(&mut b, br#"","symbol":""#)?;
            put(&mut b, symbol)?;
            let tif: &[u8] = match o.kind {
                OrderKind::Market => b"",
                OrderKind::LimitGtc | OrderKind::PostOnly => b"GTC",
                OrderKind::LimitIoc => b"IOC",
                OrderKind::LimitFok => b"FOK",
                OrderKind::StopMarket => return Err(EncodeError::Unsupported),
            };
            if tif.is_empty() {
                put(&mut b, br#"","type":"market","size":""#)?;
                put_qty(&mut b, spec, o.qty)?;
                put(&mut b, b"\"}")?;
            } else {
                put(&mut b, br#"","type":"limit","price":""#)?;
                put_price(&mut b, spec, o.price)?;
                put(&mut b, br#"","size":""#)?;
                put_qty(&mut b, spec, o.qty)?;
                put(&mut b, br#"","timeInForce":""#)?;
                put(&mut b, tif)?;
                put(&mut b, b"\"")?;
                if o.kind == OrderKind::PostOnly {
                    put(&mut b, br#","postOnly":true"#)?;
                }
                put(&mut b, b"}")?;
            }
        }
        OrderCmd::Cancel(id) => {
            checked(id, MAX_CLIENT_OID)?;
        }
        OrderCmd::Oco(_) => return Err(EncodeError::Unsupported),
    }
    let (method, path) = route(spec, &req.cmd);
    let sig = signer.sign(req.timestamp_ms, method, &path, &b[sig_at + SIG_LEN..]);
    b[sig_at..sig_at + SIG_LEN].copy_from_slice(&sig);
    Ok(b)
}

/// A request's wire bytes read back: what the headers and the body carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// `KC-API-TIMESTAMP`.
    pub timestamp: &'a str,
    /// `KC-API-SIGN`.
    pub signature: &'a str,
    /// The body (empty for a cancel).
    pub body: &'a [u8],
}

impl<'a> Signed<'a> {
    /// `wire` as [`encode`] wrote it; `None` for other bytes.
    pub fn read(wire: &'a [u8]) -> Option<Self> {
        let space = wire.iter().position(|&c| c == b' ')?;
        let sig = wire.get(space + 1..space + 1 + SIG_LEN)?;
        Some(Self {
            timestamp: std::str::from_utf8(&wire[..space]).ok()?,
            signature: std::str::from_utf8(sig).ok()?,
            body: &wire[space + 1 + SIG_LEN..],
        })
    }
}

/// KuCoin's answer envelope: `code` `"200000"` is success, whatever the HTTP status
/// (§9: refusals come with 200 too).
#[derive(Debug, Deserialize)]
pub struct Answer<T> {
    /// `200000`, or the refusal's code.
    pub code: String,
    /// The refusal's reason.
    #[serde(default)]
    pub msg: Option<String>,
    /// What was asked for.
    #[serde(default = "none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Answer<T> {
    /// True for success.
    pub fn ok(&self) -> bool {
        self.code == OK
    }
}

/// The code of success.
pub const OK: &str = "200000";

/// A refusal read for its code only (any `data`).
#[derive(Debug, Deserialize)]
pub struct Refusal {
    /// The code.
    pub code: String,
    /// The reason.
    #[serde(default)]
    pub msg: Option<String>,
}

/// What `POST /api/v1/hf/orders` answers: the ids, at once (fills come as events).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    /// KuCoin's order id.
    pub order_id: String,
}

/// An order as `GET /api/v1/hf/orders/client-order/{clientOid}` (and the active
/// list) describe it; decimals as KuCoin writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInfo {
    /// KuCoin's id.
    pub id: String,
    /// The client's id.
    #[serde(default)]
    pub client_oid: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Ordered size.
    pub size: String,
    /// Filled size.
    pub deal_size: String,
    /// Filled value (quote).
    pub deal_funds: String,
    /// Still working.
    pub active: bool,
    /// Cancelled (in whole or in part).
    #[serde(default)]
    pub cancel_exist: bool,
}

/// A `/spotMarket/tradeOrdersV2` `orderChange` message's data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderChange {
    /// The symbol.
    pub symbol: String,
    /// KuCoin's id.
    #[serde(default)]
    pub order_id: String,
    /// The client's id.
    #[serde(default)]
    pub client_oid: String,
    /// `received`, `open`, `match`, `update`, `filled` or `canceled`.
    #[serde(rename = "type")]
    pub typ: String,
    /// Ordered size.
    #[serde(default)]
    pub size: Option<String>,
    /// Filled so far (cumulative).
    #[serde(default)]
    pub filled_size: Option<String>,
    /// This fill's price (`match`).
    #[serde(default)]
    pub match_price: Option<String>,
    /// This fill's size (`match`).
    #[serde(default)]
    pub match_size: Option<String>,
    /// `maker` or `taker` (`match`).
    #[serde(default)]
    pub liquidity: Option<String>,
    /// When, ns.
    #[serde(default)]
    pub ts: Option<u64>,
}

/// A private message: its `subject` and data, read only when it is an order change.
#[derive(Debug, Deserialize)]
pub struct PrivateMessage {
    /// `orderChange`, `account.balance`, …
    #[serde(default)]
    pub subject: String,
    /// The payload.
    #[serde(default)]
    pub data: Option<sonic_rs::Value>,
}

/// KuCoin's refusal of an order request as the trader's [`Reject`] (§9).
pub fn reject_of(code: &str, msg: &str) -> Reject {
    match code {
        "200004" => Reject::InsufficientMargin,
        "400001" | "400003" | "400004" | "400005" | "400006" | "400007" | "411100" => {
            Reject::BadSignature
        }
        "400002" => Reject::OutsideRecvWindow,
        "429000" | "200002" | "1015" => Reject::RateLimited,
        "900001" => Reject::WrongSymbol,
        _ if msg.contains("not exist") => Reject::UnknownOrder,
        _ if msg.to_ascii_lowercase().contains("increment") => Reject::LotSize,
        _ => Reject::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ClientId, Lots, Market, NewOrder, Ticks};
    use crate::venues::kucoin::keys::KucoinKeys;

    fn spec() -> SymbolSpec {
        SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.00001").unwrap()
    }

    fn new(kind: OrderKind) -> OrderRequest {
        OrderRequest {
            cmd: OrderCmd::New(NewOrder {
                id: ClientId::from("mnv7e").unwrap(),
                side: OrderSide::Buy,
                kind,
                price: Ticks(617_164),
                qty: Lots(486),
                reduce_only: false,
            }),
            timestamp_ms: 1_723_161_444_709,
            recv_window_ms: 5_000,
        }
    }

    #[test]
    fn orders_are_kucoins_json_signed_as_kucoin_checks() {
        let keys = KucoinKeys::paper();
        let signer = Signer::new(&keys);
        let spec = spec();
        let wire = encode(&signer, &spec, &new(OrderKind::PostOnly)).unwrap();
        let s = Signed::read(&wire).unwrap();
        assert_eq!(s.timestamp, "1723161444709");
        assert_eq!(
            std::str::from_utf8(s.body).unwrap(),
            r#"{"clientOid":"mnv7e","side":"buy","symbol":"BTC-USDT","type":"limit","price":"61716.4","size":"0.00486","timeInForce":"GTC","postOnly":true}"#
        );
        // The body is JSON any reader takes.
        let v: sonic_rs::Value = sonic_rs::from_slice(s.body).unwrap();
        assert!(sonic_rs::JsonValueTrait::get(&v, "size").is_some());
        let expect = signer.sign(1_723_161_444_709, "POST", PLACE_PATH, s.body);
        assert_eq!(s.signature.as_bytes(), &expect);
        let m = encode(&signer, &spec, &new(OrderKind::Market)).unwrap();
        assert!(
            Signed::read(&m)
                .unwrap()
                .body
                .ends_with(br#""type":"market","size":"0.00486"}"#)
        );
        let ioc = encode(&signer, &spec, &new(OrderKind::LimitIoc)).unwrap();
        assert!(
            Signed::read(&ioc)
                .unwrap()
                .body
                .ends_with(br#""timeInForce":"IOC"}"#)
        );
        let cancel = OrderRequest {
            cmd: OrderCmd::Cancel(ClientId::from("mnv7e").unwrap()),
            ..new(OrderKind::LimitGtc)
        };
        let c = encode(&signer, &spec, &cancel).unwrap();
        let cs = Signed::read(&c).unwrap();
        assert!(cs.body.is_empty());
        let (method, path) = route(&spec, &cancel.cmd);
        assert_eq!(
            (method, path.as_str()),
            (
                "DELETE",
                "/api/v1/hf/orders/client-order/mnv7e?symbol=BTC-USDT"
            )
        );
        assert_eq!(
            cs.signature.as_bytes(),
            &signer.sign(1_723_161_444_709, "DELETE", &path, b"")
        );
    }

    #[test]
    fn what_hf_spot_does_not_take_is_refused_before_it_is_sent() {
        let signer = Signer::new(&KucoinKeys::paper());
        assert_eq!(
            encode(&signer, &spec(), &new(OrderKind::StopMarket)),
            Err(EncodeError::Unsupported)
        );
        let mut bad = new(OrderKind::LimitGtc);
        if let OrderCmd::New(o) = &mut bad.cmd {
            o.id = ClientId::from("mnv\"7").unwrap();
        }
        assert_eq!(encode(&signer, &spec(), &bad), Err(EncodeError::BadText));
        let mut zero = new(OrderKind::LimitGtc);
        if let OrderCmd::New(o) = &mut zero.cmd {
            o.qty = Lots(0);
        }
        assert_eq!(encode(&signer, &spec(), &zero), Err(EncodeError::BadNumber));
    }

    #[test]
    fn answers_and_order_changes_read() {
        let a: Answer<Placed> = sonic_rs::from_slice(
            br#"{"code":"200000","data":{"orderId":"670fd33bf9406e0007ab3945","clientOid":"mnv7e"}}"#,
        )
        .unwrap();
        assert!(a.ok());
        assert_eq!(a.data.unwrap().order_id, "670fd33bf9406e0007ab3945");
        let r: Answer<Placed> =
            sonic_rs::from_slice(br#"{"code":"200004","msg":"Balance insufficient!"}"#).unwrap();
        assert!(!r.ok() && r.data.is_none());
        assert_eq!(
            reject_of(&r.code, r.msg.as_deref().unwrap_or("")),
            Reject::InsufficientMargin
        );
        assert_eq!(
            reject_of("400100", "order not exist or not allow to cancel"),
            Reject::UnknownOrder
        );
        let m: PrivateMessage = sonic_rs::from_slice(br#"{"type":"message","topic":"/spotMarket/tradeOrdersV2","subject":"orderChange","channelType":"private","data":{"symbol":"BTC-USDT","orderType":"limit","side":"buy","orderId":"6","type":"match","orderTime":1,"size":"0.1","filledSize":"0.04","price":"100","matchPrice":"100","matchSize":"0.04","tradeId":"9","clientOid":"mnv1e","remainSize":"0.06","status":"match","liquidity":"maker","ts":1729176273859000000}}"#).unwrap();
        assert_eq!(m.subject, "orderChange");
        let c: OrderChange = sonic_rs::from_value(&m.data.unwrap()).unwrap();
        assert_eq!(
            (c.typ.as_str(), c.filled_size.as_deref(), c.ts),
            ("match", Some("0.04"), Some(1_729_176_273_859_000_000))
        );
    }
}
