//! Reading a signed request as the exchange does: signature first, then the symbol,
//! the timestamp against `recvWindow`, then the order's parameters and the symbol's
//! filters, refusing with Binance's codes and messages.

use super::ClientId;
use crate::core::Lots;
use crate::core::{Market, SymbolSpec, Ticks, Valuer};
use crate::venues::binance::sign::Signer;
use arrayvec::ArrayVec;

/// Why the exchange refused a request (Binance's code and message per market:
/// [`Reject::code`], [`Reject::message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The signature does not match the payload (wrong key).
    BadSignature,
    /// A parameter is missing or unreadable.
    Malformed,
    /// Not this exchange's symbol.
    WrongSymbol,
    /// Price off the tick grid or outside the price filter.
    PriceFilter,
    /// Quantity off the step, not positive, or outside the lot filter.
    LotSize,
    /// Notional under the symbol's minimum.
    MinNotional,
    /// `timestamp` outside `recvWindow` at arrival (or more than 1 s ahead).
    OutsideRecvWindow,
    /// A post-only order would have taken liquidity.
    WouldTakeLiquidity,
    /// A stop that would trigger at once.
    WouldTrigger,
    /// A fill-or-kill order that could not fill whole at once (futures).
    FokUnfilled,
    /// Too many open orders.
    TooManyOrders,
    /// Cancel of an order that is not open.
    UnknownOrder,
    /// An order type or time in force this exchange does not take.
    Unsupported,
    /// A `reduceOnly` order with nothing to reduce.
    ReduceOnly,
    /// Not enough available balance for the order's margin.
    InsufficientMargin,
    /// Refused for the request rate (429: weight or order count), not executed.
    RateLimited,
    /// The exchange could not say whether it executed the request (5xx), and a
    /// query found no such order: it was not placed.
    StatusUnknown,
}

impl Reject {
    /// Every reason, in [`Reject::index`] order.
    pub const ALL: [Reject; 17] = [
        Reject::BadSignature,
        Reject::Malformed,
        Reject::WrongSymbol,
        Reject::PriceFilter,
        Reject::LotSize,
        Reject::MinNotional,
        Reject::OutsideRecvWindow,
        Reject::WouldTakeLiquidity,
        Reject::WouldTrigger,
        Reject::FokUnfilled,
        Reject::TooManyOrders,
        Reject::UnknownOrder,
        Reject::Unsupported,
        Reject::ReduceOnly,
        Reject::InsufficientMargin,
        Reject::RateLimited,
        Reject::StatusUnknown,
    ];

    /// The reason behind a Binance error answer (`code`, `msg`) on `market`: the one
    /// whose code and message both match, else the first with the code (several
    /// reasons share -2010 and -1013 on spot), else [`Reject::Malformed`].
    pub fn from_binance(code: i64, msg: &str, market: Market) -> Reject {
        let same_code = |r: &&Reject| r.code(market) as i64 == code;
        Reject::ALL
            .iter()
            .filter(same_code)
            .find(|r| msg.starts_with(r.message(market)) || r.message(market).starts_with(msg))
            .or_else(|| {
                // `-1013 Filter failure: LOT_SIZE` and the like name their filter.
                Reject::ALL.iter().filter(same_code).find(|r| {
                    r.message(market)
                        .rsplit(' ')
                        .next()
                        .is_some_and(|w| msg.ends_with(w))
                })
            })
            .or_else(|| Reject::ALL.iter().find(same_code))
            .copied()
            .unwrap_or(match code {
                -1003 | -1015 => Reject::RateLimited,
                -2013 | -2011 => Reject::UnknownOrder,
                _ => Reject::Malformed,
            })
    }

    /// Position in [`Reject::ALL`] (for counting by reason).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Binance's error code.
    pub fn code(self, market: Market) -> i32 {
        let futures = market.is_futures();
        match self {
            Reject::BadSignature => -1022,
            Reject::Malformed => -1102,
            Reject::WrongSymbol => -1121,
            Reject::PriceFilter if futures => -4014,
            Reject::LotSize if futures => -4023,
            Reject::MinNotional if futures => -4164,
            Reject::PriceFilter | Reject::LotSize | Reject::MinNotional => -1013,
            Reject::OutsideRecvWindow => -1021,
            Reject::WouldTakeLiquidity if futures => -5022,
            Reject::WouldTrigger if futures => -2021,
            Reject::FokUnfilled => -5021,
            Reject::TooManyOrders if futures => -4045,
            Reject::UnknownOrder => -2011,
            Reject::Unsupported => -1116,
            Reject::ReduceOnly => -2022,
            Reject::InsufficientMargin if futures => -2019,
            Reject::RateLimited => -1015,
            Reject::StatusUnknown => -1007,
            Reject::WouldTakeLiquidity
            | Reject::WouldTrigger
            | Reject::TooManyOrders
            | Reject::InsufficientMargin => -2010,
        }
    }

    /// Binance's message.
    pub fn message(self, market: Market) -> &'static str {
        let futures = market.is_futures();
        match self {
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
}

/// What an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A limit order.
    Limit,
    /// A market order.
    Market,
    /// A stop that sends a market order when a trade reaches `price`
    /// (`STOP_LOSS` on spot, `STOP_MARKET` on futures).
    Stop,
}

/// Time in force of a limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tif {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Post only (`GTX`, `LIMIT_MAKER`).
    Gtx,
}

/// An order as the matching engine holds it.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub(super) id: ClientId,
    pub(super) buy: bool,
    pub(super) kind: Kind,
    pub(super) tif: Tif,
    /// Limit price, or the stop's trigger price.
    pub(super) price: Ticks,
    pub(super) qty: Lots,
    pub(super) filled: Lots,
    pub(super) reduce_only: bool,
    /// The other leg of an OCO list.
    pub(super) sibling: Option<ClientId>,
    /// Lots ahead in the level's queue (`i64::MAX`: fills only when traded through).
    pub(super) ahead: i64,
    /// The level's size when last seen (trades at the price already taken off).
    pub(super) level: i64,
}

impl Order {
    /// Lots still to fill.
    #[inline]
    pub(super) fn leaves(&self) -> i64 {
        self.qty.0 - self.filled.0
    }
}

/// A signed query string's parameters (signature excluded).
pub(super) struct Params<'a>(pub(super) &'a [u8]);

impl<'a> Params<'a> {
    pub(super) fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.0.split(|&c| c == b'&').find_map(|kv| {
            let eq = kv.iter().position(|&c| c == b'=')?;
            (&kv[..eq] == key).then_some(&kv[eq + 1..])
        })
    }
}

fn uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |a, &d| a * 10 + (d - b'0') as u64))
}

pub(super) fn client_id(s: &[u8]) -> Option<ClientId> {
    ClientId::from(std::str::from_utf8(s).ok()?).ok()
}

/// The client id a report about this request names.
pub(super) fn client_id_of(req: &[u8]) -> Option<ClientId> {
    let p = Params(req);
    [
        b"newClientOrderId".as_slice(),
        b"listClientOrderId",
        b"origClientOrderId",
    ]
    .iter()
    .find_map(|k| p.get(k))
    .and_then(client_id)
}

/// Signature, symbol and `recvWindow`: the checks every request passes first.
pub(super) fn check<'a>(
    signer: &Signer,
    spec: &SymbolSpec,
    req: &'a [u8],
    now_us: u64,
) -> Result<Params<'a>, Reject> {
    const SIG: &[u8] = b"&signature=";
    let at = req
        .windows(SIG.len())
        .rposition(|w| w == SIG)
        .ok_or(Reject::BadSignature)?;
    if signer.sign(&req[..at])[..] != req[at + SIG.len()..] {
        return Err(Reject::BadSignature);
    }
    let p = Params(&req[..at]);
    if p.get(b"symbol") != Some(spec.name.as_bytes()) {
        return Err(Reject::WrongSymbol);
    }
    let ts = p
        .get(b"timestamp")
        .and_then(uint)
        .ok_or(Reject::Malformed)?;
    let window = p.get(b"recvWindow").and_then(uint).unwrap_or(5_000);
    let now_ms = now_us / 1_000;
    if ts > now_ms + 1_000 || now_ms.saturating_sub(ts) > window {
        return Err(Reject::OutsideRecvWindow);
    }
    Ok(p)
}

/// One order from its parameters (`leg` is `above`/`below` in an OCO list), checked
/// against the symbol's filters.
pub(super) fn order(
    spec: &SymbolSpec,
    valuer: &Valuer,
    p: &Params<'_>,
    leg: &[u8],
) -> Result<Order, Reject> {
    let get = |name: &[u8]| -> Option<&[u8]> {
        let mut key = ArrayVec::<u8, 32>::new();
        key.try_extend_from_slice(leg).ok()?;
        let cap = if leg.is_empty() {
            name
        } else {
            // `above` + `Price` etc.: the leg prefix then the capitalised name.
            key.push(name[0].to_ascii_uppercase());
            &name[1..]
        };
        key.try_extend_from_slice(cap).ok()?;
        p.get(&key)
    };
    let id_key: &[u8] = if leg.is_empty() {
        b"newClientOrderId"
    } else {
        b"clientOrderId"
    };
    let id = get(id_key).and_then(client_id).ok_or(Reject::Malformed)?;
    let buy = match p.get(b"side") {
        Some(b"BUY") => true,
        Some(b"SELL") => false,
        _ => return Err(Reject::Malformed),
    };
    let (kind, tif) = match (get(b"type"), get(b"timeInForce")) {
        (Some(b"LIMIT"), Some(b"GTC")) => (Kind::Limit, Tif::Gtc),
        (Some(b"LIMIT"), Some(b"IOC")) => (Kind::Limit, Tif::Ioc),
        (Some(b"LIMIT"), Some(b"FOK")) => (Kind::Limit, Tif::Fok),
        (Some(b"LIMIT"), Some(b"GTX")) if spec.market.is_futures() => (Kind::Limit, Tif::Gtx),
        (Some(b"LIMIT_MAKER"), _) if !spec.market.is_futures() => (Kind::Limit, Tif::Gtx),
        (Some(b"LIMIT"), None) => return Err(Reject::Malformed),
        (Some(b"STOP_LOSS"), _) if !spec.market.is_futures() => (Kind::Stop, Tif::Gtc),
        (Some(b"STOP_MARKET"), _) if spec.market.is_futures() => (Kind::Stop, Tif::Gtc),
        (Some(b"MARKET"), _) => (Kind::Market, Tif::Ioc),
        (Some(_), _) => return Err(Reject::Unsupported),
        (None, _) => return Err(Reject::Malformed),
    };
    let qty = p
        .get(b"quantity")
        .ok_or(Reject::Malformed)
        .and_then(|q| spec.qty.parse(q).map_err(|_| Reject::LotSize))?;
    let step = spec.qty.step().0.max(1);
    if qty.0 <= 0
        || qty.0 % step != 0
        || qty.0 < spec.min_qty.0
        || spec.max_qty.is_some_and(|m| qty.0 > m.0)
    {
        return Err(Reject::LotSize);
    }
    let text = match kind {
        Kind::Market => None,
        Kind::Stop => Some(get(b"stopPrice").ok_or(Reject::Malformed)?),
        Kind::Limit => Some(get(b"price").ok_or(Reject::Malformed)?),
    };
    let price = match text {
        None => Ticks(0),
        Some(text) => {
            let t = spec.price.parse(text).map_err(|_| Reject::PriceFilter)?;
            if t.0 <= 0
                || t.0 % spec.price.step().0 != 0
                || spec.min_price.is_some_and(|m| t.0 < m.0)
                || spec.max_price.is_some_and(|m| t.0 > m.0)
            {
                return Err(Reject::PriceFilter);
            }
            t
        }
    };
    let reduce_only = p.get(b"reduceOnly") == Some(b"true");
    // Futures waive the minimum notional for reduce-only orders; market orders are
    // checked at the touch when they arrive.
    if let Some(min) = spec.min_notional {
        let waived = reduce_only && spec.market.is_futures();
        if kind != Kind::Market && !waived && valuer.raw(price, qty) < min {
            return Err(Reject::MinNotional);
        }
    }
    Ok(Order {
        id,
        buy,
        kind,
        tif,
        price,
        qty,
        filled: Lots(0),
        reduce_only,
        sibling: None,
        ahead: 0,
        level: 0,
    })
}
