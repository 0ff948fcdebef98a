//! Orders in KuCoin's words (protocol notes §6, §7, §9), both ways: the trader's
//! typed [`OrderRequest`]s written as signed requests (hot path, no allocation) — spot
//! high-frequency (HF) orders, and futures orders with their leverage, margin mode,
//! reduce-only and stop — and KuCoin's answers and `orderChange` messages read back
//! (serde, on the link's own thread).
//!
//! ```text
//! POST /api/v1/hf/orders                                   (spot)
//! {"clientOid":"mnv1e","side":"buy","symbol":"BTC-USDT","type":"limit","price":"61716.4","size":"0.00486","timeInForce":"GTC","postOnly":true}
//! DELETE /api/v1/hf/orders/client-order/mnv1e?symbol=BTC-USDT
//! POST /api/v1/orders                                      (futures host)
//! {"clientOid":"mnv1s","side":"sell","symbol":"XBTUSDTM","leverage":5,"marginMode":"ISOLATED","type":"market","stop":"down","stopPriceType":"TP","stopPrice":"60000","size":3,"reduceOnly":true}
//! DELETE /api/v1/orders/client-order/mnv1s?symbol=XBTUSDTM
//! GET /api/v1/orders/byClientOid?clientOid=mnv1s
//! ```
//!
//! A request's wire bytes are `TIMESTAMP SIGNATURE BODY`: the ms timestamp's digits
//! and a space, the 44-byte `KC-API-SIGN` over timestamp, method, path and body, then
//! the body (empty for a cancel). The method and path follow from the command ([`route`]);
//! [`Signed`] reads the bytes back into headers. KuCoin's HF spot has no OCO and no
//! stop order: the trader holds a spot operation's stop itself on this venue
//! ([`crate::venues::holds_stops`]); futures take a stop (`stop`, `stopPrice`, on the
//! last trade price), which the trader sends reduce-only beside its take profit.
//! Futures sizes are whole contracts: a quantity off the contract grid is refused.

use super::sign::Signer;
use crate::core::{Lots, OrderCmd, OrderKind, OrderRequest, OrderSide, Reject, SymbolSpec};
use crate::venues::encode::{checked, put, put_price, put_qty, put_u64};
use crate::venues::{EncodeError, WireRequest};
use arrayvec::ArrayString;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Where HF spot orders are placed.
pub const PLACE_PATH: &str = "/api/v1/hf/orders";
/// Where futures orders are placed (the futures host).
pub const FUTURES_PLACE_PATH: &str = "/api/v1/orders";
/// Signature bytes after the timestamp and its space.
const SIG_LEN: usize = 44;
/// KuCoin's longest client id (`clientOid`, letters, digits, `_` and `-`).
const MAX_CLIENT_OID: usize = 40;

/// A path with its query, written without allocation.
pub type Path = ArrayString<160>;

fn path_of(parts: &[&str]) -> Path {
    let mut p = Path::new();
    for s in parts {
        // Ids and symbols are checked short: the path always fits.
        let _ = p.try_push_str(s);
    }
    p
}

/// The path that cancels one order by client id (`DELETE`).
pub fn cancel_path(spec: &SymbolSpec, client_oid: &str) -> Path {
    if spec.market.is_futures() {
        path_of(&[
            "/api/v1/orders/client-order/",
            client_oid,
            "?symbol=",
            &spec.name,
        ])
    } else {
        path_of(&[
            "/api/v1/hf/orders/client-order/",
            client_oid,
            "?symbol=",
            &spec.name,
        ])
    }
}

/// The path that asks about one order by client id (`GET`).
pub fn query_path(spec: &SymbolSpec, client_oid: &str) -> Path {
    if spec.market.is_futures() {
        path_of(&["/api/v1/orders/byClientOid?clientOid=", client_oid])
    } else {
        cancel_path(spec, client_oid)
    }
}

/// The path that cancels one order by KuCoin's id (`DELETE`).
pub fn cancel_by_id_path(spec: &SymbolSpec, order_id: &str) -> Path {
    if spec.market.is_futures() {
        path_of(&["/api/v1/orders/", order_id])
    } else {
        path_of(&["/api/v1/hf/orders/", order_id, "?symbol=", &spec.name])
    }
}

/// The method and path of a command.
pub fn route(spec: &SymbolSpec, cmd: &OrderCmd) -> (&'static str, Path) {
    match cmd {
        OrderCmd::Cancel(id) => ("DELETE", cancel_path(spec, id)),
        _ if spec.market.is_futures() => ("POST", path_of(&[FUTURES_PLACE_PATH])),
        _ => ("POST", path_of(&[PLACE_PATH])),
    }
}

/// What a futures order carries besides its own fields: the leverage and margin mode
/// the link settled on at start. The link writes them once (cold); the trader's
/// encoder reads them for every order (atomics: no lock on the hot path).
#[derive(Debug)]
pub struct FuturesTerms {
    leverage: AtomicU32,
    cross: AtomicBool,
}

impl Default for FuturesTerms {
    fn default() -> Self {
        Self {
            leverage: AtomicU32::new(1),
            cross: AtomicBool::new(false),
        }
    }
}

impl FuturesTerms {
    /// Sets the leverage (at least 1) and the margin mode (`cross` false: isolated).
    pub fn set(&self, leverage: u32, cross: bool) {
        self.leverage.store(leverage.max(1), Ordering::Relaxed);
        self.cross.store(cross, Ordering::Relaxed);
    }

    /// The leverage orders carry.
    pub fn leverage(&self) -> u32 {
        self.leverage.load(Ordering::Relaxed).max(1)
    }

    /// True under cross margin.
    pub fn cross(&self) -> bool {
        self.cross.load(Ordering::Relaxed)
    }
}

/// `q` as whole contracts of `spec` (futures); `None` when it is not a positive
/// whole number of them.
#[inline]
pub fn contracts(spec: &SymbolSpec, q: Lots) -> Option<u64> {
    let step = spec.qty.step().0;
    (q.0 > 0 && step > 0 && q.0 % step == 0).then(|| (q.0 / step) as u64)
}

/// A size as KuCoin writes it for `spec` — spot a decimal of the base asset, futures
/// a whole number of contracts (a JSON number or its text) — as lots.
pub fn read_size(spec: &SymbolSpec, text: &str) -> Option<Lots> {
    if spec.market.is_futures() {
        let t = text.trim();
        let t = t.strip_suffix(".0").unwrap_or(t);
        super::contracts_to_lots(spec, t.parse::<u64>().ok()?)
    } else {
        spec.qty.parse(text.as_bytes()).ok()
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
        OrderCmd::New(o) if spec.market.is_futures() => {
            put_futures(&mut b, signer, spec, symbol, o)?;
        }
        OrderCmd::New(o) => {
            put(&mut b, br#"{"clientOid":""#)?;
            put(&mut b, checked(&o.id, MAX_CLIENT_OID)?)?;
            put(&mut b, br#"","side":""#)?;
            put(&mut b, side_text(o.side))?;
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

fn side_text(side: OrderSide) -> &'static [u8] {
    match side {
        OrderSide::Buy => b"buy",
        OrderSide::Sell => b"sell",
    }
}

/// A futures order's body: size in whole contracts, the terms' leverage and margin
/// mode; a stop is a market order triggered by the last trade price (`down` for a
/// sell, `up` for a buy: a stop loss). KuCoin futures take GTC and IOC only.
///
/// # Hot path: no allocation.
fn put_futures(
    b: &mut WireRequest,
    signer: &Signer,
    spec: &SymbolSpec,
    symbol: &[u8],
    o: &crate::core::NewOrder,
) -> Result<(), EncodeError> {
    let n = contracts(spec, o.qty).ok_or(EncodeError::BadNumber)?;
    let terms = signer.terms();
    put(b, br#"{"clientOid":""#)?;
    put(b, checked(&o.id, MAX_CLIENT_OID)?)?;
    put(b, br#"","side":""#)?;
    put(b, side_text(o.side))?;
    put(b, br#"","symbol":""#)?;
    put(b, symbol)?;
    put(b, br#"","leverage":"#)?;
    put_u64(b, u64::from(terms.leverage()))?;
    put(
        b,
        if terms.cross() {
            br#","marginMode":"CROSS""#
        } else {
            br#","marginMode":"ISOLATED""#
        },
    )?;
    match o.kind {
        OrderKind::Market => put(b, br#","type":"market""#)?,
        OrderKind::StopMarket => {
            put(b, br#","type":"market","stop":""#)?;
            put(
                b,
                match o.side {
                    OrderSide::Sell => b"down",
                    OrderSide::Buy => b"up",
                },
            )?;
            put(b, br#"","stopPriceType":"TP","stopPrice":""#)?;
            put_price(b, spec, o.price)?;
            put(b, b"\"")?;
        }
        OrderKind::LimitGtc | OrderKind::PostOnly | OrderKind::LimitIoc => {
            put(b, br#","type":"limit","price":""#)?;
            put_price(b, spec, o.price)?;
            put(b, b"\"")?;
        }
        OrderKind::LimitFok => return Err(EncodeError::Unsupported),
    }
    put(b, br#","size":"#)?;
    put_u64(b, n)?;
    match o.kind {
        OrderKind::LimitGtc => put(b, br#","timeInForce":"GTC""#)?,
        OrderKind::PostOnly => put(b, br#","timeInForce":"GTC","postOnly":true"#)?,
        OrderKind::LimitIoc => put(b, br#","timeInForce":"IOC""#)?,
        _ => {}
    }
    if o.reduce_only {
        put(b, br#","reduceOnly":true"#)?;
    }
    put(b, b"}")
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

/// An order as KuCoin's queries and active lists describe it — spot
/// (`GET /api/v1/hf/orders/client-order/{clientOid}`) or futures
/// (`GET /api/v1/orders/byClientOid`, where sizes are numbers of contracts, the
/// filled value is `dealValue` and the state `isActive`); amounts as KuCoin writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInfo {
    /// KuCoin's id.
    pub id: String,
    /// The client's id.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub client_oid: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Ordered size.
    #[serde(deserialize_with = "text")]
    pub size: String,
    /// Filled size (absent from an untriggered stop: 0).
    #[serde(default = "zero", deserialize_with = "text")]
    pub deal_size: String,
    /// Filled value (quote; futures: `dealValue`).
    #[serde(default = "zero", alias = "dealValue", deserialize_with = "text")]
    pub deal_funds: String,
    /// Still working (futures: `isActive`).
    #[serde(alias = "isActive")]
    pub active: bool,
    /// Cancelled (in whole or in part).
    #[serde(default)]
    pub cancel_exist: bool,
}

/// A futures list answer's page (`GET /api/v1/orders?status=active`, `/stopOrders`).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// This page's entries.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

/// A `/spotMarket/tradeOrdersV2` or futures `/contractMarket/tradeOrders`
/// `orderChange` message's data (futures sizes are whole contracts).
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
    #[serde(default, deserialize_with = "opt_text")]
    pub size: Option<String>,
    /// Filled so far (cumulative).
    #[serde(default, deserialize_with = "opt_text")]
    pub filled_size: Option<String>,
    /// This fill's price (`match`).
    #[serde(default, deserialize_with = "opt_text")]
    pub match_price: Option<String>,
    /// This fill's size (`match`).
    #[serde(default, deserialize_with = "opt_text")]
    pub match_size: Option<String>,
    /// `maker` or `taker` (`match`).
    #[serde(default)]
    pub liquidity: Option<String>,
    /// When, ns.
    #[serde(default)]
    pub ts: Option<u64>,
}

/// A value KuCoin writes as a string on spot and as a JSON number on futures, as
/// text (a number's shortest exact form).
#[derive(Debug, Clone)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or its text")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
            fn visit_none<E>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
                Text::deserialize(d)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                if v.is_finite() {
                    // Display writes the shortest text that reads back exactly.
                    Ok(Text(format!("{v}")))
                } else {
                    Err(E::custom("not a finite number"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An amount: a `null` one (futures write it for an order that never traded) is 0.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(|t| if t.0.is_empty() { "0".into() } else { t.0 })
}

fn zero() -> String {
    "0".into()
}

/// A text that may be `null` (an order placed without a client id).
fn text_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(|t| t.0)
}

fn opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Text>::deserialize(d).map(|t| t.map(|t| t.0))
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
        // Futures: 300003 balance, 330008 the margin and leverage's open limit,
        // 300009 "No open positions to close." (a reduce-only order with nothing to
        // reduce).
        "200004" | "300003" | "330008" => Reject::InsufficientMargin,
        "300009" => Reject::ReduceOnly,
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

    fn contract() -> SymbolSpec {
        // XBTUSDTM: 0.1 USDT ticks, contracts of 0.001 BTC.
        SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001").unwrap()
    }

    #[test]
    fn futures_orders_carry_contracts_leverage_margin_mode_and_stops() {
        let terms = std::sync::Arc::new(FuturesTerms::default());
        terms.set(5, false);
        let signer = Signer::new(&KucoinKeys::paper()).with_terms(terms.clone());
        let spec = contract();
        let body = |req: &OrderRequest| {
            let w = encode(&signer, &spec, req).unwrap();
            String::from_utf8(Signed::read(&w).unwrap().body.to_vec()).unwrap()
        };
        let mut post = new(OrderKind::PostOnly);
        if let OrderCmd::New(o) = &mut post.cmd {
            o.qty = Lots(3);
        }
        assert_eq!(
            body(&post),
            r#"{"clientOid":"mnv7e","side":"buy","symbol":"XBTUSDTM","leverage":5,"marginMode":"ISOLATED","type":"limit","price":"61716.4","size":3,"timeInForce":"GTC","postOnly":true}"#
        );
        let mut stop = new(OrderKind::StopMarket);
        if let OrderCmd::New(o) = &mut stop.cmd {
            o.qty = Lots(3);
            o.side = OrderSide::Sell;
            o.reduce_only = true;
        }
        terms.set(20, true);
        assert_eq!(
            body(&stop),
            r#"{"clientOid":"mnv7e","side":"sell","symbol":"XBTUSDTM","leverage":20,"marginMode":"CROSS","type":"market","stop":"down","stopPriceType":"TP","stopPrice":"61716.4","size":3,"reduceOnly":true}"#
        );
        // Every body is JSON, signed over the futures path.
        let w = encode(&signer, &spec, &stop).unwrap();
        let s = Signed::read(&w).unwrap();
        let _: sonic_rs::Value = sonic_rs::from_slice(s.body).unwrap();
        assert_eq!(
            s.signature.as_bytes(),
            &signer.sign(1_723_161_444_709, "POST", FUTURES_PLACE_PATH, s.body)
        );
        // Off the contract grid (0.0035 BTC is 3.5 contracts), and FOK: refused.
        let mut half = new(OrderKind::LimitGtc);
        if let OrderCmd::New(o) = &mut half.cmd {
            o.qty = Lots(3); // fine
        }
        assert!(encode(&signer, &spec, &half).is_ok());
        let mut fine = contract();
        // A grid of 0.0001 whose contract is 0.001: lot steps of 10.
        fine.qty = crate::core::QtyGrid::new(4, Some("0.001")).unwrap();
        let mut odd = new(OrderKind::LimitGtc);
        if let OrderCmd::New(o) = &mut odd.cmd {
            o.qty = Lots(35);
        }
        assert_eq!(encode(&signer, &fine, &odd), Err(EncodeError::BadNumber));
        assert_eq!(
            encode(&signer, &spec, &new(OrderKind::LimitFok)),
            Err(EncodeError::Unsupported)
        );
        let cancel = OrderRequest {
            cmd: OrderCmd::Cancel(ClientId::from("mnv7e").unwrap()),
            ..new(OrderKind::LimitGtc)
        };
        assert_eq!(
            route(&spec, &cancel.cmd).1.as_str(),
            "/api/v1/orders/client-order/mnv7e?symbol=XBTUSDTM"
        );
        assert_eq!(
            query_path(&spec, "mnv7e").as_str(),
            "/api/v1/orders/byClientOid?clientOid=mnv7e"
        );
        assert_eq!(read_size(&spec, "7"), Some(Lots(7)));
        assert_eq!(read_size(&spec, "1.5"), None);
    }

    /// KuCoin's futures order detail (its documented example's shape: numbers for
    /// sizes, `dealValue`, `isActive`) and futures `orderChange` read.
    #[test]
    fn futures_answers_and_order_changes_read() {
        let a: Answer<OrderInfo> = sonic_rs::from_slice(br#"{"code":"200000","data":{"id":"236317213710184449","symbol":"XBTUSDTM","type":"limit","side":"buy","price":"3600","size":20000,"value":"56.68197","dealValue":"28.34","dealSize":10000,"stp":"","stop":"","stopPriceType":"","stopTriggered":false,"stopPrice":null,"timeInForce":"GTC","postOnly":false,"hidden":false,"iceberg":false,"leverage":"20","forceHold":false,"closeOrder":false,"visibleSize":null,"clientOid":"mnv7e","remark":null,"tags":null,"isActive":true,"cancelExist":false,"createdAt":1558167872000,"updatedAt":1558167872000,"endAt":1558167872000,"orderTime":1558167872000000000,"settleCurrency":"USDT","status":"open","filledValue":"0","filledSize":0,"reduceOnly":false,"marginMode":"ISOLATED"}}"#).unwrap();
        let o = a.data.unwrap();
        assert_eq!(
            (
                o.size.as_str(),
                o.deal_size.as_str(),
                o.deal_funds.as_str(),
                o.active
            ),
            ("20000", "10000", "28.34", true)
        );
        let m: PrivateMessage = sonic_rs::from_slice(br#"{"type":"message","topic":"/contractMarket/tradeOrders:XBTUSDTM","subject":"orderChange","channelType":"private","data":{"orderId":"5cdfc138b21023a909e5ad55","symbol":"XBTUSDTM","type":"match","status":"open","matchSize":"1","matchPrice":"3600","orderType":"limit","side":"buy","price":"3600","size":"2","remainSize":"1","filledSize":"1","canceledSize":"0","tradeId":"5ce24c16b210233c36eexxxx","clientOid":"mnv7e","orderTime":1545914149935808589,"liquidity":"maker","marginMode":"ISOLATED","ts":1545914149935808589}}"#).unwrap();
        let c: OrderChange = sonic_rs::from_value(&m.data.unwrap()).unwrap();
        assert_eq!(
            (c.match_size.as_deref(), c.filled_size.as_deref()),
            (Some("1"), Some("1"))
        );
        assert_eq!(
            reject_of("300003", "Balance insufficient"),
            Reject::InsufficientMargin
        );
        // A stop order in the stop list: no fills yet, nulls where KuCoin writes them.
        let stop: OrderInfo = sonic_rs::from_slice(br#"{"id":"1","clientOid":null,"side":"sell","size":3,"dealSize":null,"isActive":true,"stop":"down","stopPrice":"99"}"#).unwrap();
        assert_eq!(
            (
                stop.client_oid.as_str(),
                stop.deal_size.as_str(),
                stop.deal_funds.as_str()
            ),
            ("", "0", "0")
        );
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
