//! The paper exchange: takes the gateway's signed request bytes as Binance would (it
//! checks the signature, the symbol, the price and lot grids and the `recvWindow`), lets
//! each request arrive after a configurable latency, and fills resting orders against
//! the market data the pipeline forwards (touch and trades).
//!
//! Time is the exchange's: microseconds from the events' exchange timestamps, so a run
//! gives the same fills at any replay speed.
//!
//! Fill model (deliberately conservative; the backtester's simulator models queues in
//! depth):
//! * A limit order fills whole, at its price, as maker, when a trade prints through it
//!   (a sell below a buy's price) or the opposite touch reaches it.
//! * At its own price it fills once the aggressor volume traded there covers the queue
//!   ahead of it plus its size. The queue ahead is known when the order arrives at the
//!   touch (the touch's size) or inside the spread (none); deeper, it is unknown and
//!   only a trade through fills it.
//! * Post-only orders that would take liquidity on arrival are rejected.
//! * A stop triggers on a trade at or through its price and fills at that trade's
//!   price, as taker. A market order fills at the touch, as taker.
//! * The account is a position (futures or margin style). `reduceOnly` orders are
//!   rejected when there is nothing to reduce and expire when the position closes; the
//!   legs of an OCO list cancel each other.
//!
//! # Hot path: fixed-capacity arrays, no allocation.

use super::sign::{Request, Signer};
use crate::core::{Level, Lots, SymbolSpec, Ticks};
use arrayvec::{ArrayString, ArrayVec};

/// Pushes into a vector preallocated at start-up without ever growing it.
trait Bounded<T> {
    fn try_push(&mut self, v: T) -> Result<(), T>;
    fn remaining_capacity(&self) -> usize;
}

impl<T> Bounded<T> for Vec<T> {
    #[inline]
    fn try_push(&mut self, v: T) -> Result<(), T> {
        if self.len() < self.capacity() {
            self.push(v);
            Ok(())
        } else {
            Err(v)
        }
    }
    fn remaining_capacity(&self) -> usize {
        self.capacity() - self.len()
    }
}

/// A client order id.
pub type ClientId = ArrayString<36>;

/// What a request asks for (the HTTP method and path of the real thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `POST /api/v3/order` or `/fapi/v1/order`.
    NewOrder,
    /// `POST /api/v3/orderList/oco`.
    NewOco,
    /// `DELETE /api/v3/order` or `/fapi/v1/order`.
    Cancel,
}

/// Why the exchange refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The signature does not match the payload (wrong key).
    BadSignature,
    /// A parameter is missing or unreadable.
    Malformed,
    /// Not this exchange's symbol.
    WrongSymbol,
    /// Price or quantity off the symbol's grid, or not positive.
    OffGrid,
    /// `timestamp` outside `recvWindow` at arrival.
    OutsideRecvWindow,
    /// A post-only order would have taken liquidity.
    WouldTakeLiquidity,
    /// Too many open orders.
    TooManyOrders,
    /// Cancel of an order that is not open.
    UnknownOrder,
    /// An order type this exchange does not take.
    Unsupported,
    /// A `reduceOnly` order with nothing to reduce.
    ReduceOnly,
    /// A market order with no liquidity on the other side.
    NoLiquidity,
}

/// An execution report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The order rests on the book.
    Accepted,
    /// The request was refused.
    Rejected(Reject),
    /// The order filled whole.
    Filled {
        /// Fill price.
        price: Ticks,
        /// Filled quantity.
        qty: Lots,
        /// Maker (resting) or taker.
        maker: bool,
    },
    /// Cancelled on request.
    Canceled,
    /// Removed by the exchange (OCO sibling executed, reduce-only with the position closed).
    Expired,
}

/// A report about one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// The order's client id.
    pub client_id: ClientId,
    /// What happened.
    pub report: Report,
    /// Exchange time, µs.
    pub time_us: u64,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaperStats {
    /// Requests received.
    pub requests: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Orders filled.
    pub fills: u64,
    /// Of which as taker.
    pub taker_fills: u64,
    /// Orders cancelled on request (or at shutdown).
    pub canceled: u64,
    /// Orders expired by the exchange.
    pub expired: u64,
    /// Reports lost because nobody drained them (must stay 0).
    pub reports_lost: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Limit { post_only: bool },
    Stop,
    Market,
}

#[derive(Debug, Clone, Copy)]
struct Order {
    id: ClientId,
    buy: bool,
    kind: Kind,
    price: Ticks,
    qty: Lots,
    reduce_only: bool,
    /// The other leg of an OCO list.
    sibling: Option<ClientId>,
    /// Aggressor volume still to trade at our price before we fill (i64::MAX: unknown).
    to_trade: i64,
}

#[derive(Debug, Clone)]
struct InFlight {
    arrive_us: u64,
    method: Method,
    req: Request,
}

/// The paper exchange for one symbol.
pub struct PaperExchange {
    spec: SymbolSpec,
    signer: Signer,
    latency_us: u64,
    in_flight: Vec<InFlight>,
    orders: Vec<Order>,
    reports: Vec<Execution>,
    bid: Option<Level>,
    ask: Option<Level>,
    now_us: u64,
    position: i64,
    /// Counters.
    pub stats: PaperStats,
}

impl PaperExchange {
    /// An exchange for `spec` that accepts requests signed by `signer`'s key, lets each
    /// arrive `latency_us` after it is sent, and keeps up to `max_orders` open orders
    /// (Binance's `MAX_NUM_ORDERS` is 200 on spot).
    pub fn new(spec: &SymbolSpec, signer: Signer, latency_us: u64, max_orders: usize) -> Self {
        let n = max_orders.max(2);
        Self {
            spec: spec.clone(),
            signer,
            latency_us,
            in_flight: Vec::with_capacity(n),
            orders: Vec::with_capacity(n),
            reports: Vec::with_capacity(4 * n),
            bid: None,
            ask: None,
            now_us: 0,
            position: 0,
            stats: PaperStats::default(),
        }
    }

    /// The account's position, lots (negative: short).
    pub fn position(&self) -> Lots {
        Lots(self.position)
    }

    /// Orders resting on the book.
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Exchange time of the last event seen, µs.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Sends a request at exchange time `now_us`; it arrives `latency_us` later.
    ///
    /// # Hot path: no allocation.
    pub fn send(&mut self, method: Method, req: &Request, now_us: u64) {
        self.stats.requests += 1;
        let f = InFlight {
            arrive_us: now_us.max(self.now_us) + self.latency_us,
            method,
            req: req.clone(),
        };
        if self.in_flight.try_push(f).is_err() {
            let id = client_id_of(req).unwrap_or_default();
            self.report(id, Report::Rejected(Reject::TooManyOrders));
        }
    }

    /// The touch after a book update at exchange time `t_us`.
    ///
    /// # Hot path: no allocation.
    pub fn on_touch(&mut self, t_us: u64, bid: Option<Level>, ask: Option<Level>) {
        self.advance(t_us);
        self.bid = bid;
        self.ask = ask;
        let mut k = 0;
        while k < self.orders.len() {
            let o = self.orders[k];
            let reached = match (o.kind, o.buy) {
                (Kind::Limit { .. }, true) => ask.is_some_and(|a| a.price <= o.price),
                (Kind::Limit { .. }, false) => bid.is_some_and(|b| b.price >= o.price),
                _ => false,
            };
            if reached {
                self.fill(k, o.price, true);
            } else {
                k += 1;
            }
        }
    }

    /// A trade at exchange time `t_us` (`taker_buy`: the aggressor bought).
    ///
    /// # Hot path: no allocation.
    pub fn on_trade(&mut self, t_us: u64, price: Ticks, qty: Lots, taker_buy: bool) {
        self.advance(t_us);
        let mut k = 0;
        while k < self.orders.len() {
            let o = &mut self.orders[k];
            let fill = match (o.kind, o.buy) {
                (Kind::Limit { .. }, buy) => {
                    let through = if buy {
                        price < o.price
                    } else {
                        price > o.price
                    };
                    // At our price, only the aggressors hitting our side count.
                    if !through && price == o.price && taker_buy != buy && o.to_trade != i64::MAX {
                        o.to_trade -= qty.0;
                    }
                    (through || o.to_trade <= 0).then_some((o.price, true))
                }
                (Kind::Stop, true) => (price >= o.price).then_some((price, false)),
                (Kind::Stop, false) => (price <= o.price).then_some((price, false)),
                (Kind::Market, _) => None,
            };
            match fill {
                Some((p, maker)) => self.fill(k, p, maker),
                None => k += 1,
            }
        }
    }

    /// Lets every request sent so far arrive, then cancels every resting order
    /// (shutdown). Returns how many were cancelled.
    pub fn cancel_all(&mut self) -> usize {
        let t = self
            .in_flight
            .iter()
            .map(|f| f.arrive_us)
            .max()
            .unwrap_or(self.now_us)
            .max(self.now_us);
        self.advance(t);
        let n = self.orders.len();
        while let Some(o) = self.orders.pop() {
            self.stats.canceled += 1;
            self.report(o.id, Report::Canceled);
        }
        n
    }

    /// Hands every pending report to `f`, oldest first.
    pub fn drain(&mut self, mut f: impl FnMut(&Execution)) {
        for e in &self.reports {
            f(e);
        }
        self.reports.clear();
    }

    /// Requests whose arrival time has come are processed, oldest first.
    fn advance(&mut self, t_us: u64) {
        self.now_us = self.now_us.max(t_us);
        while self
            .in_flight
            .first()
            .is_some_and(|f| f.arrive_us <= self.now_us)
        {
            let f = self.in_flight.remove(0);
            let saved = self.now_us;
            self.now_us = f.arrive_us;
            self.arrive(f.method, &f.req);
            self.now_us = saved;
        }
    }

    fn report(&mut self, client_id: ClientId, report: Report) {
        match report {
            Report::Rejected(_) => self.stats.rejected += 1,
            Report::Expired => self.stats.expired += 1,
            _ => {}
        }
        let e = Execution {
            client_id,
            report,
            time_us: self.now_us,
        };
        if self.reports.try_push(e).is_err() {
            self.stats.reports_lost += 1;
        }
    }

    /// A request reaches the matching engine.
    fn arrive(&mut self, method: Method, req: &Request) {
        let id = client_id_of(req).unwrap_or_default();
        let p = match self.check(req) {
            Ok(p) => p,
            Err(r) => return self.report(id, Report::Rejected(r)),
        };
        match method {
            Method::Cancel => match p.get(b"origClientOrderId").and_then(client_id) {
                Some(id) => match self.orders.iter().position(|o| o.id == id) {
                    Some(k) => {
                        self.orders.remove(k);
                        self.stats.canceled += 1;
                        self.report(id, Report::Canceled);
                    }
                    None => self.report(id, Report::Rejected(Reject::UnknownOrder)),
                },
                None => self.report(id, Report::Rejected(Reject::Malformed)),
            },
            Method::NewOrder => match self.order(&p, b"") {
                Ok(o) => self.place(o),
                Err(r) => self.report(id, Report::Rejected(r)),
            },
            Method::NewOco => {
                let (above, below) = (self.order(&p, b"above"), self.order(&p, b"below"));
                let list = p
                    .get(b"listClientOrderId")
                    .and_then(client_id)
                    .unwrap_or(id);
                match (above, below) {
                    (Ok(a), Ok(b)) if self.would_take(&a) || self.would_take(&b) => {
                        // A LIMIT_MAKER leg through the touch: the whole list is refused.
                        self.report(list, Report::Rejected(Reject::WouldTakeLiquidity))
                    }
                    (Ok(mut a), Ok(mut b)) if self.orders.remaining_capacity() >= 2 => {
                        a.sibling = Some(b.id);
                        b.sibling = Some(a.id);
                        self.place(a);
                        self.place(b);
                    }
                    (Ok(_), Ok(_)) => self.report(list, Report::Rejected(Reject::TooManyOrders)),
                    (Err(r), _) | (_, Err(r)) => self.report(list, Report::Rejected(r)),
                }
            }
        }
    }

    /// Signature, symbol and `recvWindow`: the checks every request passes first.
    fn check<'a>(&self, req: &'a [u8]) -> Result<Params<'a>, Reject> {
        const SIG: &[u8] = b"&signature=";
        let at = req
            .windows(SIG.len())
            .rposition(|w| w == SIG)
            .ok_or(Reject::BadSignature)?;
        if self.signer.sign(&req[..at])[..] != req[at + SIG.len()..] {
            return Err(Reject::BadSignature);
        }
        let p = Params(&req[..at]);
        if p.get(b"symbol") != Some(self.spec.name.as_bytes()) {
            return Err(Reject::WrongSymbol);
        }
        let ts = p
            .get(b"timestamp")
            .and_then(uint)
            .ok_or(Reject::Malformed)?;
        let window = p.get(b"recvWindow").and_then(uint).unwrap_or(5_000);
        let now_ms = self.now_us / 1_000;
        if ts > now_ms + 1_000 || now_ms.saturating_sub(ts) > window {
            return Err(Reject::OutsideRecvWindow);
        }
        Ok(p)
    }

    /// One order from its parameters (`leg` is `above`/`below` in an OCO list).
    fn order(&self, p: &Params<'_>, leg: &[u8]) -> Result<Order, Reject> {
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
        let kind = match (get(b"type"), get(b"timeInForce")) {
            (Some(b"LIMIT"), Some(b"GTC")) => Kind::Limit { post_only: false },
            (Some(b"LIMIT"), Some(b"GTX")) | (Some(b"LIMIT_MAKER"), _) => {
                Kind::Limit { post_only: true }
            }
            (Some(b"STOP_LOSS" | b"STOP_MARKET"), _) => Kind::Stop,
            (Some(b"MARKET"), _) => Kind::Market,
            (Some(_), _) => return Err(Reject::Unsupported),
            (None, _) => return Err(Reject::Malformed),
        };
        let qty = p
            .get(b"quantity")
            .ok_or(Reject::Malformed)
            .and_then(|q| self.spec.qty.parse(q).map_err(|_| Reject::OffGrid))?;
        let text = match kind {
            Kind::Market => None,
            Kind::Stop => Some(get(b"stopPrice").ok_or(Reject::Malformed)?),
            Kind::Limit { .. } => Some(get(b"price").ok_or(Reject::Malformed)?),
        };
        let price = match text {
            None => Ticks(0),
            Some(text) => {
                let t = self.spec.price.parse(text).map_err(|_| Reject::OffGrid)?;
                if t.0 <= 0 || t.0 % self.spec.price.step().0 != 0 {
                    return Err(Reject::OffGrid);
                }
                t
            }
        };
        let step = self.spec.qty.step().0.max(1);
        if qty.0 <= 0 || qty.0 % step != 0 {
            return Err(Reject::OffGrid);
        }
        Ok(Order {
            id,
            buy,
            kind,
            price,
            qty,
            reduce_only: p.get(b"reduceOnly") == Some(b"true"),
            sibling: None,
            to_trade: i64::MAX,
        })
    }

    /// True for a post-only order that would take liquidity now.
    fn would_take(&self, o: &Order) -> bool {
        o.kind == (Kind::Limit { post_only: true }) && self.crosses(o)
    }

    fn crosses(&self, o: &Order) -> bool {
        if o.buy {
            self.ask.is_some_and(|a| a.price <= o.price)
        } else {
            self.bid.is_some_and(|b| b.price >= o.price)
        }
    }

    /// Puts an arrived order on the book (or fills or refuses it).
    fn place(&mut self, mut o: Order) {
        if o.reduce_only && (self.position == 0 || (self.position > 0) == o.buy) {
            return self.report(o.id, Report::Rejected(Reject::ReduceOnly));
        }
        let (bid, ask) = (self.bid, self.ask);
        match o.kind {
            Kind::Market => {
                let Some(l) = (if o.buy { ask } else { bid }) else {
                    return self.report(o.id, Report::Rejected(Reject::NoLiquidity));
                };
                if self.orders.try_push(o).is_err() {
                    return self.report(o.id, Report::Rejected(Reject::TooManyOrders));
                }
                self.fill(self.orders.len() - 1, l.price, false);
            }
            Kind::Limit { post_only } => {
                let crosses = self.crosses(&o);
                if crosses && post_only {
                    return self.report(o.id, Report::Rejected(Reject::WouldTakeLiquidity));
                }
                let same = if o.buy { bid } else { ask };
                o.to_trade = match same {
                    None => o.qty.0,
                    Some(l) if l.price == o.price => l.qty.0.saturating_add(o.qty.0),
                    Some(l) if (l.price < o.price) == o.buy => o.qty.0,
                    Some(_) => i64::MAX,
                };
                if self.orders.try_push(o).is_err() {
                    return self.report(o.id, Report::Rejected(Reject::TooManyOrders));
                }
                if crosses {
                    // A GTC limit through the touch takes liquidity at the touch.
                    let p = if o.buy { ask } else { bid }.map_or(o.price, |l| l.price);
                    self.fill(self.orders.len() - 1, p, false);
                } else {
                    self.report(o.id, Report::Accepted);
                }
            }
            Kind::Stop => {
                if self.orders.try_push(o).is_err() {
                    return self.report(o.id, Report::Rejected(Reject::TooManyOrders));
                }
                self.report(o.id, Report::Accepted);
            }
        }
    }

    /// Order `k` fills whole at `price`.
    fn fill(&mut self, k: usize, price: Ticks, maker: bool) {
        let o = self.orders.remove(k);
        self.stats.fills += 1;
        self.stats.taker_fills += !maker as u64;
        self.position += if o.buy { o.qty.0 } else { -o.qty.0 };
        self.report(
            o.id,
            Report::Filled {
                price,
                qty: o.qty,
                maker,
            },
        );
        if let Some(s) = o.sibling {
            if let Some(j) = self.orders.iter().position(|x| x.id == s) {
                self.orders.remove(j);
                self.report(s, Report::Expired);
            }
        }
        if self.position == 0 {
            while let Some(j) = self.orders.iter().position(|x| x.reduce_only) {
                let x = self.orders.remove(j);
                self.report(x.id, Report::Expired);
            }
        }
    }
}

/// A signed query string's parameters (signature excluded).
struct Params<'a>(&'a [u8]);

impl<'a> Params<'a> {
    fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
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

fn client_id(s: &[u8]) -> Option<ClientId> {
    ClientId::from(std::str::from_utf8(s).ok()?).ok()
}

/// The client id a report about this request names.
fn client_id_of(req: &[u8]) -> Option<ClientId> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Market;
    use crate::gateway::sign::{
        OcoRequest, OrderKind, OrderRequest, OrderSide, signed_cancel, signed_oco, signed_order,
    };

    fn spec(market: Market) -> SymbolSpec {
        SymbolSpec::from_tick_lot("BTCUSDT", market, "0.01", "0.001").unwrap()
    }

    fn signer() -> Signer {
        Signer::from_secret(b"paper")
    }

    fn order(id: &str, side: OrderSide, kind: OrderKind, price: i64, reduce: bool) -> Request {
        let o = OrderRequest {
            symbol: "BTCUSDT",
            side,
            kind,
            qty: (1_000, 3),
            price: (price, 2),
            client_id: id,
            reduce_only: reduce,
            recv_window_ms: 5_000,
            timestamp_ms: 1_000,
        };
        signed_order(&signer(), &o, true).unwrap()
    }

    fn lv(p: i64, q: i64) -> Option<Level> {
        Some(Level {
            price: Ticks(p),
            qty: Lots(q),
        })
    }

    fn reports(x: &mut PaperExchange) -> Vec<(String, Report)> {
        let mut v = Vec::new();
        x.drain(|e| v.push((e.client_id.to_string(), e.report)));
        v
    }

    #[test]
    fn wrong_key_bad_symbol_and_stale_requests_are_rejected() {
        let mut x = PaperExchange::new(&spec(Market::UsdM), Signer::from_secret(b"other"), 0, 8);
        x.on_touch(1_000_000, lv(100, 5), lv(101, 5));
        x.send(
            Method::NewOrder,
            &order("a", OrderSide::Buy, OrderKind::PostOnly, 99, false),
            1_000_000,
        );
        x.on_touch(1_000_001, lv(100, 5), lv(101, 5));
        assert_eq!(
            reports(&mut x),
            [("a".into(), Report::Rejected(Reject::BadSignature))]
        );
        let mut x = PaperExchange::new(&spec(Market::UsdM), signer(), 0, 8);
        // Signed at 1 s, arriving 10 s later: outside the 5 s recvWindow.
        x.send(
            Method::NewOrder,
            &order("b", OrderSide::Buy, OrderKind::PostOnly, 99, false),
            11_000_000,
        );
        x.on_touch(11_000_000, lv(100, 5), lv(101, 5));
        assert_eq!(
            reports(&mut x),
            [("b".into(), Report::Rejected(Reject::OutsideRecvWindow))]
        );
        // Tampered bytes no longer match their signature.
        let mut req = order("c", OrderSide::Buy, OrderKind::PostOnly, 99, false);
        req[10] ^= 1;
        x.send(Method::NewOrder, &req, 1_000_000);
        x.on_touch(1_000_000, None, None);
        assert_eq!(reports(&mut x)[0].1, Report::Rejected(Reject::BadSignature));
    }

    #[test]
    fn post_only_queue_and_trade_through() {
        let mut x = PaperExchange::new(&spec(Market::UsdM), signer(), 2_000, 8);
        x.on_touch(1_000_000, lv(100, 5_000), lv(101, 5_000));
        // Crossing post-only: rejected on arrival (after the 2 ms latency).
        x.send(
            Method::NewOrder,
            &order("x", OrderSide::Buy, OrderKind::PostOnly, 101, false),
            1_000_000,
        );
        // Joins the bid of 5 lots: 5 + 1 lots must trade at 1.00 before it fills.
        x.send(
            Method::NewOrder,
            &order("q", OrderSide::Buy, OrderKind::PostOnly, 100, false),
            1_000_000,
        );
        x.on_touch(1_001_000, lv(100, 5_000), lv(101, 5_000));
        assert!(reports(&mut x).is_empty(), "not arrived yet");
        x.on_touch(1_002_000, lv(100, 5_000), lv(101, 5_000));
        assert_eq!(
            reports(&mut x),
            [
                ("x".into(), Report::Rejected(Reject::WouldTakeLiquidity)),
                ("q".into(), Report::Accepted)
            ]
        );
        x.on_trade(1_003_000, Ticks(100), Lots(5_000), false);
        x.on_trade(1_003_000, Ticks(100), Lots(500), true); // a buyer: not our side
        assert!(reports(&mut x).is_empty());
        x.on_trade(1_004_000, Ticks(100), Lots(1_000), false);
        let fill = Report::Filled {
            price: Ticks(100),
            qty: Lots(1_000),
            maker: true,
        };
        assert_eq!(reports(&mut x), [("q".into(), fill)]);
        assert_eq!(x.position(), Lots(1_000));
    }

    #[test]
    fn reduce_only_exits_expire_with_the_position_and_oco_legs_cancel_each_other() {
        // Futures: two reduce-only exits; the take profit fills, the stop expires.
        let mut x = PaperExchange::new(&spec(Market::UsdM), signer(), 0, 8);
        x.on_touch(1_000_000, lv(100, 5), lv(101, 5));
        x.send(
            Method::NewOrder,
            &order("s0", OrderSide::Sell, OrderKind::StopMarket, 90, true),
            1_000_000,
        );
        x.on_touch(1_000_000, lv(100, 5), lv(101, 5));
        assert_eq!(reports(&mut x)[0].1, Report::Rejected(Reject::ReduceOnly));
        x.send(
            Method::NewOrder,
            &order("e", OrderSide::Buy, OrderKind::PostOnly, 100, false),
            1_000_000,
        );
        x.on_trade(1_000_000, Ticks(99), Lots(1), false); // through: fills
        x.send(
            Method::NewOrder,
            &order("t", OrderSide::Sell, OrderKind::LimitGtc, 110, true),
            1_000_000,
        );
        x.send(
            Method::NewOrder,
            &order("s", OrderSide::Sell, OrderKind::StopMarket, 90, true),
            1_000_000,
        );
        x.on_trade(1_000_000, Ticks(111), Lots(1), true);
        let r = reports(&mut x);
        assert_eq!(r.last().unwrap(), &("s".into(), Report::Expired), "{r:?}");
        assert_eq!(x.position(), Lots(0));
        assert_eq!(x.open_orders(), 0);
        // Spot: one OCO list; the stop triggers at the trade price, the limit leg expires.
        let mut x = PaperExchange::new(&spec(Market::Spot), signer(), 0, 8);
        x.on_touch(1_000_000, lv(100, 5), lv(101, 5));
        let oco = OcoRequest {
            symbol: "BTCUSDT",
            side: OrderSide::Sell,
            qty: (1_000, 3),
            take_profit: (110, 2),
            stop: (90, 2),
            ids: ["l", "t", "s"],
            recv_window_ms: 5_000,
            timestamp_ms: 1_000,
        };
        x.send(
            Method::NewOco,
            &signed_oco(&signer(), &oco).unwrap(),
            1_000_000,
        );
        x.on_trade(1_000_000, Ticks(89), Lots(1), false);
        let r = reports(&mut x);
        assert_eq!(
            r[2..],
            [
                (
                    "s".into(),
                    Report::Filled {
                        price: Ticks(89),
                        qty: Lots(1_000),
                        maker: false
                    }
                ),
                ("t".into(), Report::Expired)
            ],
            "{r:?}"
        );
        // Cancelling what is gone is refused, not a panic.
        let c = signed_cancel(&signer(), "BTCUSDT", "t", 5_000, 1_000).unwrap();
        x.send(Method::Cancel, &c, 1_000_000);
        x.on_touch(1_000_000, None, None);
        assert_eq!(reports(&mut x)[0].1, Report::Rejected(Reject::UnknownOrder));
    }
}
