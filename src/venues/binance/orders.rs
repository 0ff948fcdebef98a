//! Orders in Binance's words, both ways: the trader's typed [`OrderRequest`]s written
//! as signed request bytes (hot path, no allocation), Binance's order parameters read
//! back into typed orders (the local exchange), and the order answers (serde).
//!
//! ```text
//! POST /api/v3/order  symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.00486&price=61716.4
//!                     &newClientOrderId=mnv1e&recvWindow=5000&timestamp=1723161444709&signature=…
//! {"symbol":"BTCUSDT","orderId":1,"clientOrderId":"mnv1e","status":"NEW","executedQty":"0.00000",…}
//! ```

use super::endpoints::Rest;
use super::params::Params;
use super::sign::Signer;
use crate::core::{
    ClientId, Market, NewOrder, OcoOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Reject,
    SymbolSpec, Ticks, client_id,
};
use crate::venues::encode::{checked, put, put_price, put_qty, put_u64};
use crate::venues::{EncodeError, WireRequest as Request};
use serde::{Deserialize, Serialize};

/// The HTTP method and endpoint of a command.
pub fn route(cmd: &OrderCmd) -> (&'static str, Rest) {
    match cmd {
        OrderCmd::New(_) => ("POST", Rest::Order),
        OrderCmd::Oco(_) => ("POST", Rest::Oco),
        OrderCmd::Cancel(_) => ("DELETE", Rest::Order),
    }
}

fn side_text(side: OrderSide) -> &'static [u8] {
    match side {
        OrderSide::Buy => b"BUY",
        OrderSide::Sell => b"SELL",
    }
}

/// `type` and `timeInForce` of an order kind on a market (empty: not sent).
fn type_tif(kind: OrderKind, futures: bool) -> (&'static str, &'static str) {
    match (kind, futures) {
        (OrderKind::LimitGtc, _) => ("LIMIT", "GTC"),
        (OrderKind::LimitIoc, _) => ("LIMIT", "IOC"),
        (OrderKind::LimitFok, _) => ("LIMIT", "FOK"),
        (OrderKind::PostOnly, false) => ("LIMIT_MAKER", ""),
        (OrderKind::PostOnly, true) => ("LIMIT", "GTX"),
        (OrderKind::Market, _) => ("MARKET", ""),
        (OrderKind::StopMarket, false) => ("STOP_LOSS", ""),
        (OrderKind::StopMarket, true) => ("STOP_MARKET", ""),
    }
}

/// Writes a request as its signed parameters (the form body of a `POST`, the query
/// of a `DELETE`): the command's parameters, `recvWindow`, `timestamp`, then the
/// signature over everything before it.
///
/// # Hot path: no allocation.
///
/// # Errors
/// [`EncodeError`] for text Binance would reject, bad numbers, or an over-long request.
pub fn encode(
    signer: &Signer,
    spec: &SymbolSpec,
    req: &OrderRequest,
) -> Result<Request, EncodeError> {
    let mut b = Request::new();
    put(&mut b, b"symbol=")?;
    put(&mut b, checked(&spec.name, 24)?)?;
    let futures = spec.market.is_futures();
    match &req.cmd {
        OrderCmd::New(o) => {
            put(&mut b, b"&side=")?;
            put(&mut b, side_text(o.side))?;
            let (ty, tif) = type_tif(o.kind, futures);
            put(&mut b, b"&type=")?;
            put(&mut b, ty.as_bytes())?;
            if !tif.is_empty() {
                put(&mut b, b"&timeInForce=")?;
                put(&mut b, tif.as_bytes())?;
            }
            put(&mut b, b"&quantity=")?;
            put_qty(&mut b, spec, o.qty)?;
            match o.kind {
                OrderKind::Market => {}
                OrderKind::StopMarket => {
                    put(&mut b, b"&stopPrice=")?;
                    put_price(&mut b, spec, o.price)?;
                }
                _ => {
                    put(&mut b, b"&price=")?;
                    put_price(&mut b, spec, o.price)?;
                }
            }
            put(&mut b, b"&newClientOrderId=")?;
            put(&mut b, checked(&o.id, 36)?)?;
            if futures && o.reduce_only {
                put(&mut b, b"&reduceOnly=true")?;
            }
        }
        OrderCmd::Oco(o) => {
            put(&mut b, b"&listClientOrderId=")?;
            put(&mut b, checked(&o.list_id, 36)?)?;
            put(&mut b, b"&side=")?;
            put(&mut b, side_text(o.side))?;
            put(&mut b, b"&quantity=")?;
            put_qty(&mut b, spec, o.qty)?;
            // SELL: take profit above, stop below. BUY: stop above, take profit below.
            let (tp, sl): (&[u8], &[u8]) = if o.side == OrderSide::Sell {
                (b"above", b"below")
            } else {
                (b"below", b"above")
            };
            put(&mut b, b"&")?;
            put(&mut b, tp)?;
            put(&mut b, b"Type=LIMIT_MAKER&")?;
            put(&mut b, tp)?;
            put(&mut b, b"ClientOrderId=")?;
            put(&mut b, checked(&o.take_profit_id, 36)?)?;
            put(&mut b, b"&")?;
            put(&mut b, tp)?;
            put(&mut b, b"Price=")?;
            put_price(&mut b, spec, o.take_profit)?;
            put(&mut b, b"&")?;
            put(&mut b, sl)?;
            put(&mut b, b"Type=STOP_LOSS&")?;
            put(&mut b, sl)?;
            put(&mut b, b"ClientOrderId=")?;
            put(&mut b, checked(&o.stop_id, 36)?)?;
            put(&mut b, b"&")?;
            put(&mut b, sl)?;
            put(&mut b, b"StopPrice=")?;
            put_price(&mut b, spec, o.stop)?;
        }
        OrderCmd::Cancel(id) => {
            put(&mut b, b"&origClientOrderId=")?;
            put(&mut b, checked(id, 36)?)?;
        }
    }
    put(&mut b, b"&recvWindow=")?;
    put_u64(&mut b, req.recv_window_ms as u64)?;
    put(&mut b, b"&timestamp=")?;
    put_u64(&mut b, req.timestamp_ms)?;
    let sig = signer.sign(&b);
    put(&mut b, b"&signature=")?;
    put(&mut b, &sig)?;
    Ok(b)
}

/// An OCO leg's parameter: `above` + `Price` → `abovePrice`.
fn leg_param(leg: &str, name: &str) -> String {
    if leg.is_empty() {
        return name.to_string();
    }
    let mut key = leg.to_string();
    key.push_str(&name[..1].to_ascii_uppercase());
    key.push_str(&name[1..]);
    key
}

/// One order from Binance's parameters (`leg` is `above`/`below` in an OCO list, empty
/// otherwise), its prices and quantity read onto `spec`'s grids. The filters (steps,
/// minimums, notional) are the matching engine's to check.
///
/// # Errors
/// The [`Reject`] Binance answers: a missing or unreadable parameter, a type this
/// exchange does not take, a price or quantity off the grid.
pub fn parse_order(params: &Params, spec: &SymbolSpec, leg: &str) -> Result<NewOrder, Reject> {
    let get = |name: &str| params.get(&leg_param(leg, name));
    let id_key = if leg.is_empty() {
        "newClientOrderId"
    } else {
        "clientOrderId"
    };
    let id = get(id_key).and_then(client_id).ok_or(Reject::Malformed)?;
    let side = match params.get("side") {
        Some("BUY") => OrderSide::Buy,
        Some("SELL") => OrderSide::Sell,
        _ => return Err(Reject::Malformed),
    };
    let futures = spec.market.is_futures();
    let kind = match (get("type"), get("timeInForce")) {
        (Some("LIMIT"), Some("GTC")) => OrderKind::LimitGtc,
        (Some("LIMIT"), Some("IOC")) => OrderKind::LimitIoc,
        (Some("LIMIT"), Some("FOK")) => OrderKind::LimitFok,
        (Some("LIMIT"), Some("GTX")) if futures => OrderKind::PostOnly,
        (Some("LIMIT_MAKER"), _) if !futures => OrderKind::PostOnly,
        (Some("LIMIT"), None) => return Err(Reject::Malformed),
        (Some("STOP_LOSS"), _) if !futures => OrderKind::StopMarket,
        (Some("STOP_MARKET"), _) if futures => OrderKind::StopMarket,
        (Some("MARKET"), _) => OrderKind::Market,
        (Some(_), _) => return Err(Reject::Unsupported),
        (None, _) => return Err(Reject::Malformed),
    };
    let qty = params
        .get("quantity")
        .ok_or(Reject::Malformed)
        .and_then(|q| spec.qty.parse(q.as_bytes()).map_err(|_| Reject::LotSize))?;
    let text = match kind {
        OrderKind::Market => None,
        OrderKind::StopMarket => Some(get("stopPrice").ok_or(Reject::Malformed)?),
        _ => Some(get("price").ok_or(Reject::Malformed)?),
    };
    let price = match text {
        None => Ticks(0),
        Some(t) => spec
            .price
            .parse(t.as_bytes())
            .map_err(|_| Reject::PriceFilter)?,
    };
    Ok(NewOrder {
        id,
        side,
        kind,
        price,
        qty,
        reduce_only: params.get("reduceOnly") == Some("true"),
    })
}

/// A spot OCO list from its parameters: the take profit and the stop, whichever leg
/// (above or below) each is.
///
/// # Errors
/// As [`parse_order`], for either leg; [`Reject::Unsupported`] for a pair that is not
/// a `LIMIT_MAKER` take profit and a stop.
pub fn parse_oco(params: &Params, spec: &SymbolSpec) -> Result<OcoOrder, Reject> {
    let list_id = params
        .get("listClientOrderId")
        .and_then(client_id)
        .ok_or(Reject::Malformed)?;
    let above = parse_order(params, spec, "above")?;
    let below = parse_order(params, spec, "below")?;
    let (tp, stop) = match (above.kind, below.kind) {
        (OrderKind::PostOnly, OrderKind::StopMarket) => (above, below),
        (OrderKind::StopMarket, OrderKind::PostOnly) => (below, above),
        _ => return Err(Reject::Unsupported),
    };
    Ok(OcoOrder {
        list_id,
        take_profit_id: tp.id,
        stop_id: stop.id,
        side: tp.side,
        qty: tp.qty,
        take_profit: tp.price,
        stop: stop.price,
    })
}

/// A fill in a spot `FULL` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotFill {
    /// Fill price.
    pub price: String,
    /// Filled quantity.
    pub qty: String,
    /// Commission.
    pub commission: String,
    /// Commission asset.
    pub commission_asset: String,
    /// Trade id.
    pub trade_id: u64,
}

/// A spot order as `POST/GET/DELETE order` and `openOrders` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotOrder {
    /// Symbol.
    pub symbol: String,
    /// Exchange order id.
    pub order_id: u64,
    /// The OCO list it belongs to (-1: none).
    pub order_list_id: i64,
    /// Client order id.
    pub client_order_id: String,
    /// Time of the answer, ms.
    pub transact_time: i64,
    /// Limit price.
    pub price: String,
    /// Quantity ordered.
    pub orig_qty: String,
    /// Quantity filled.
    pub executed_qty: String,
    /// Quote value filled (Binance's spelling).
    pub cummulative_quote_qty: String,
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`, `REJECTED`.
    pub status: String,
    /// Time in force.
    pub time_in_force: String,
    /// Order type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// Stop price.
    pub stop_price: String,
    /// Creation time, ms.
    pub time: i64,
    /// Last update, ms.
    pub update_time: i64,
    /// On the book.
    pub is_working: bool,
    /// When it started working, ms.
    pub working_time: i64,
    /// Quote quantity ordered.
    pub orig_quote_order_qty: String,
    /// Self-trade prevention.
    pub self_trade_prevention_mode: String,
    /// Fills (`FULL` answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fills: Option<Vec<SpotFill>>,
}

/// A futures order as `order` and `openOrders` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesOrder {
    /// Exchange order id.
    pub order_id: u64,
    /// Symbol.
    pub symbol: String,
    /// Status.
    pub status: String,
    /// Client order id.
    pub client_order_id: String,
    /// Limit price.
    pub price: String,
    /// Average fill price.
    pub avg_price: String,
    /// Quantity ordered.
    pub orig_qty: String,
    /// Quantity filled.
    pub executed_qty: String,
    /// Quantity filled.
    pub cum_qty: String,
    /// Quote value filled (USD-M).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cum_quote: Option<String>,
    /// Coin value filled (COIN-M answers `cumBase` instead of `cumQuote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cum_base: Option<String>,
    /// Time in force.
    pub time_in_force: String,
    /// Order type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Order type as placed.
    pub orig_type: String,
    /// Reduce only.
    pub reduce_only: bool,
    /// Close-position order.
    pub close_position: bool,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `BOTH` (one-way mode).
    pub position_side: String,
    /// Stop price.
    pub stop_price: String,
    /// Stop trigger price source.
    pub working_type: String,
    /// Price protection.
    pub price_protect: bool,
    /// Price match mode.
    pub price_match: String,
    /// Self-trade prevention.
    pub self_trade_prevention_mode: String,
    /// Good-till date (0: none).
    pub good_till_date: i64,
    /// Creation time, ms.
    pub time: i64,
    /// Last update, ms.
    pub update_time: i64,
}

/// One leg of an OCO answer's `orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OcoLeg {
    /// Symbol.
    pub symbol: String,
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
}

/// The answer to `POST orderList/oco`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OcoAnswer {
    /// List id.
    pub order_list_id: i64,
    /// `OCO`.
    pub contingency_type: String,
    /// `EXEC_STARTED`.
    pub list_status_type: String,
    /// `EXECUTING`.
    pub list_order_status: String,
    /// The list's client id.
    pub list_client_order_id: String,
    /// Time of the answer, ms.
    pub transaction_time: i64,
    /// Symbol.
    pub symbol: String,
    /// The legs.
    pub orders: Vec<OcoLeg>,
    /// The legs in full.
    pub order_reports: Vec<SpotOrder>,
}

/// What the live link reads of any order answer (placing, query, cancel, open
/// orders; spot or futures): only what decides an order's state. The rest of an
/// answer is not read, so Binance adding fields changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderState {
    /// Client order id (a cancel answer's: the cancel request's own on spot).
    pub client_order_id: String,
    /// The cancelled order's client id (spot cancel answers).
    #[serde(default)]
    pub orig_client_order_id: Option<String>,
    /// Status (absent in `ACK` answers).
    #[serde(default)]
    pub status: Option<String>,
    /// Quantity filled.
    #[serde(default)]
    pub executed_qty: Option<String>,
    /// Quote value filled (spot).
    #[serde(default)]
    pub cummulative_quote_qty: Option<String>,
    /// Quote value filled (USD-M).
    #[serde(default)]
    pub cum_quote: Option<String>,
    /// Average fill price (futures; COIN-M has no quote value, only `cumBase`).
    #[serde(default)]
    pub avg_price: Option<String>,
    /// Symbol.
    #[serde(default)]
    pub symbol: Option<String>,
}

impl OrderState {
    /// The order this answer is about: a cancel's original id, else its own.
    pub fn order_id(&self) -> &str {
        self.orig_client_order_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(&self.client_order_id)
    }

    /// The quote value filled, whichever market's name it has (`None` on COIN-M: the
    /// caller takes `avg_price` × `executed_qty`).
    pub fn quote_filled(&self) -> Option<&str> {
        self.cummulative_quote_qty
            .as_deref()
            .or(self.cum_quote.as_deref())
    }
}

/// What the live link reads of an OCO answer: its legs' states.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OcoState {
    /// The legs.
    pub order_reports: Vec<OrderState>,
}

/// What the live link reads of a futures position (`positionRisk`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionState {
    /// Symbol.
    pub symbol: String,
    /// Signed position amount.
    pub position_amt: String,
}

/// An order's status as Binance names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `NEW` or `PENDING_NEW`: working.
    New,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled,
    /// `FILLED`.
    Filled,
    /// `CANCELED` or `PENDING_CANCEL`.
    Canceled,
    /// `EXPIRED` or `EXPIRED_IN_MATCH`.
    Expired,
    /// `REJECTED`.
    Rejected,
}

impl Status {
    /// The status named `s`; `None` for one Binance does not document.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NEW" | "PENDING_NEW" => Status::New,
            "PARTIALLY_FILLED" => Status::PartiallyFilled,
            "FILLED" => Status::Filled,
            "CANCELED" | "PENDING_CANCEL" => Status::Canceled,
            "EXPIRED" | "EXPIRED_IN_MATCH" => Status::Expired,
            "REJECTED" => Status::Rejected,
            _ => return None,
        })
    }

    /// The name Binance writes.
    pub fn name(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
            Status::Rejected => "REJECTED",
        }
    }

    /// Still working on the book.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }
}

/// The `type` and `timeInForce` Binance shows for an order of `kind` on `market`.
pub fn kind_names(kind: OrderKind, market: Market) -> (&'static str, &'static str) {
    let (ty, tif) = type_tif(kind, market.is_futures());
    (ty, if tif.is_empty() { "GTC" } else { tif })
}

/// A client id the local exchange makes up for an order that came without one.
pub fn generated_id(n: u64) -> ClientId {
    let mut s = ClientId::new();
    let _ = std::fmt::Write::write_fmt(&mut s, format_args!("web_{n:016}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Lots;

    fn spec(market: Market) -> SymbolSpec {
        SymbolSpec::from_tick_lot("LTCBTC", market, "0.01", "0.00000001").unwrap()
    }

    fn id(s: &str) -> ClientId {
        ClientId::from(s).unwrap()
    }

    #[test]
    fn encodes_and_signs_an_order_and_reads_it_back() {
        let s = Signer::from_secret(
            b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        );
        let o = NewOrder {
            id: id("mnv-1"),
            side: OrderSide::Buy,
            kind: OrderKind::LimitGtc,
            price: Ticks(10),
            qty: Lots(100_000_000),
            reduce_only: false,
        };
        let req = OrderRequest {
            cmd: OrderCmd::New(o),
            timestamp_ms: 1_499_827_319_559,
            recv_window_ms: 5000,
        };
        let bytes = encode(&s, &spec(Market::Spot), &req).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (payload, sig) = text.split_once("&signature=").unwrap();
        assert_eq!(
            payload,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&newClientOrderId=mnv-1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(sig.as_bytes(), &s.sign(payload.as_bytes()));
        let back = parse_order(
            &Params::parse(payload, "").unwrap(),
            &spec(Market::Spot),
            "",
        );
        assert_eq!(back, Ok(o));
        let post_only = OrderRequest {
            cmd: OrderCmd::New(NewOrder {
                kind: OrderKind::PostOnly,
                reduce_only: true,
                ..o
            }),
            ..req
        };
        let f = encode(&s, &spec(Market::UsdM), &post_only).unwrap();
        assert!(std::str::from_utf8(&f).unwrap().contains(
            "&type=LIMIT&timeInForce=GTX&quantity=1&price=0.1&newClientOrderId=mnv-1&reduceOnly=true"
        ));
        let zero = OrderRequest {
            cmd: OrderCmd::New(NewOrder { qty: Lots(0), ..o }),
            ..req
        };
        assert_eq!(
            encode(&s, &spec(Market::Spot), &zero),
            Err(EncodeError::BadNumber)
        );
    }

    #[test]
    fn an_oco_reads_back_as_its_take_profit_and_stop() {
        let s = Signer::from_secret(b"k");
        for side in [OrderSide::Sell, OrderSide::Buy] {
            let oco = OcoOrder {
                list_id: id("mnv1x"),
                take_profit_id: id("mnv1t"),
                stop_id: id("mnv1s"),
                side,
                qty: Lots(5),
                take_profit: Ticks(120),
                stop: Ticks(80),
            };
            let req = OrderRequest {
                cmd: OrderCmd::Oco(oco),
                timestamp_ms: 1,
                recv_window_ms: 5000,
            };
            let bytes = encode(&s, &spec(Market::Spot), &req).unwrap();
            let text = std::str::from_utf8(&bytes).unwrap();
            let p = Params::parse(text, "").unwrap();
            assert_eq!(parse_oco(&p, &spec(Market::Spot)), Ok(oco));
        }
    }

    #[test]
    fn bad_parameters_get_binances_reasons() {
        let sp = spec(Market::Spot);
        let p = |q: &str| parse_order(&Params::parse(q, "").unwrap(), &sp, "");
        let base = "side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1";
        assert_eq!(p(base), Err(Reject::Malformed), "no client id");
        assert_eq!(
            p(&format!("{base}&newClientOrderId=a%22b")),
            Err(Reject::Malformed),
            "a quote in the id"
        );
        assert_eq!(
            p("newClientOrderId=a&side=BUY&type=OCO&quantity=1"),
            Err(Reject::Unsupported)
        );
        assert_eq!(
            p("newClientOrderId=a&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.123"),
            Err(Reject::PriceFilter)
        );
    }

    #[test]
    fn order_answers_read_what_decides_the_state() {
        let a: OrderState = sonic_rs::from_str(
            r#"{"symbol":"BTCUSDT","clientOrderId":"cancel_1","origClientOrderId":"mnv1e","status":"CANCELED","executedQty":"0.1","cummulativeQuoteQty":"10.0","extra":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(a.order_id(), "mnv1e");
        assert_eq!(a.quote_filled(), Some("10.0"));
        assert!(sonic_rs::from_str::<OrderState>(r#"{"status":"NEW"}"#).is_err());
        assert_eq!(Status::parse("EXPIRED_IN_MATCH"), Some(Status::Expired));
        assert_eq!(Status::parse("WEIRD"), None);
    }
}
