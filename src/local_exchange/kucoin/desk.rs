//! The local KuCoin venue's trading desk in KuCoin's words (protocol notes §7, §8):
//! spot's high-frequency (HF) order endpoints — place, cancel and query by order id
//! or client id, the active orders — and the account balances; futures orders,
//! positions and the futures account (`futures`). Orders are matched by the
//! backtest's simulated exchange (one per symbol, fed the replayed market); each
//! change of an order becomes a private `orderChange` message
//! (`/spotMarket/tradeOrdersV2`; futures `/contractMarket/tradeOrders`). One account:
//! the keys the venue was started with; each symbol's wallet starts with the
//! configured capital in its quote (futures: settlement) asset.
//!
//! KuCoin's ways kept: an order is answered with its ids as soon as it is accepted
//! (its fills come as order changes); a post-only order that would take liquidity is
//! accepted and then cancelled, not refused; a spot sell of more than the account
//! holds is refused `200004`; parameters KuCoin would refuse are refused `400100`
//! with the reason. Cold path: this is the exchange's side.

use crate::core::decimal::canonical;
use crate::core::{
    ClientId, Execution, Lots, MarketEvent, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide,
    Reject, Report, SymbolSpec, Ticks, Valuer,
};
use crate::local_exchange::TradingConfig;
use crate::sim::{SimConfig, SimExchange};
use crate::venues::kucoin::orders::Text;
use serde::{Deserialize, Serialize};

mod futures;

pub use futures::{MAX_LEVERAGE, is_futures_private_topic};

/// Open orders a symbol may hold (KuCoin's HF limit is higher; the engine's own).
const MAX_OPEN: usize = 200;
/// Closed orders remembered for queries (older ones are forgotten: memory stays flat).
const KEEP_CLOSED: usize = 10_000;
/// The private topics of spot order changes: V2, and the first version (without
/// `received`), which ccxt and older clients subscribe to.
pub const ORDERS_TOPICS: [&str; 2] = ["/spotMarket/tradeOrdersV2", "/spotMarket/tradeOrders"];
/// The private topic of spot balance changes.
pub const BALANCE_TOPIC: &str = "/account/balance";

/// Whether `topic` is one of the account's (spot or futures): only a private session
/// may take it.
pub fn is_private_topic(topic: &str) -> bool {
    ORDERS_TOPICS.contains(&topic) || topic == BALANCE_TOPIC || is_futures_private_topic(topic)
}

/// An answer: HTTP status and KuCoin's body.
pub type Answer = (u16, Vec<u8>);

fn refused(code: &str, msg: &str) -> Answer {
    (
        if code == "900001" || code.starts_with("4001") {
            400
        } else {
            200
        },
        super::rest::refusal(code, msg),
    )
}

use super::rest::ok;

/// An order as the desk keeps it.
#[derive(Debug, Clone)]
struct Order {
    id: String,
    client: ClientId,
    symbol: usize,
    side: OrderSide,
    market: bool,
    tif: &'static str,
    post_only: bool,
    price: Ticks,
    size: Lots,
    deal_size: Lots,
    deal_funds_e8: i64,
    fee_e8: i64,
    active: bool,
    cancelled: bool,
    created_ms: i64,
    updated_ms: i64,
    /// What a futures order carries besides (`None` on spot).
    futures: Option<futures::Terms>,
}

/// `POST /api/v1/hf/orders`'s body (and futures' `POST /api/v1/orders`, whose sizes
/// are numbers of contracts).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaceBody {
    #[serde(default)]
    client_oid: Option<String>,
    #[serde(default)]
    side: String,
    symbol: String,
    #[serde(rename = "type", default = "limit")]
    typ: String,
    #[serde(default)]
    price: Option<Text>,
    #[serde(default)]
    size: Option<Text>,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(default)]
    post_only: bool,
    #[serde(default)]
    leverage: Option<Text>,
    #[serde(default)]
    margin_mode: Option<String>,
    #[serde(default)]
    reduce_only: bool,
    #[serde(default)]
    close_order: bool,
    #[serde(default)]
    stop: Option<String>,
    #[serde(default)]
    stop_price: Option<Text>,
    #[serde(default)]
    stop_price_type: Option<String>,
}

fn limit() -> String {
    "limit".into()
}

/// An order as KuCoin describes it (`GET /api/v1/hf/orders/{orderId}`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    id: String,
    client_oid: String,
    symbol: String,
    op_type: &'static str,
    #[serde(rename = "type")]
    typ: &'static str,
    side: &'static str,
    price: String,
    size: String,
    deal_size: String,
    deal_funds: String,
    fee: String,
    fee_currency: String,
    time_in_force: &'static str,
    post_only: bool,
    active: bool,
    cancel_exist: bool,
    in_order_book: bool,
    created_at: i64,
    last_updated_at: i64,
}

/// The trading desk.
pub struct Desk {
    specs: Vec<SymbolSpec>,
    sims: Vec<SimExchange>,
    valuers: Vec<Valuer>,
    orders: Vec<Order>,
    next_id: u64,
    next_trade: u64,
    /// Messages waiting for the account's sessions.
    events: Vec<Event>,
    /// Each symbol's account changed (a fill, an order placed or ended) since the last
    /// messages: its balance (spot) or position and wallet (futures) are published.
    moved: Vec<bool>,
}

/// A private message waiting: a spot order change (its `type`, its data: it goes to
/// both versions of the channel) or a message on one topic (without the symbol for
/// the futures order and position channels, which add it).
enum Event {
    Spot(&'static str, sonic_rs::Value),
    Topic {
        symbol: usize,
        topic: &'static str,
        subject: &'static str,
        data: sonic_rs::Value,
    },
}

impl Desk {
    /// A desk for `specs` under `cfg` (fees default to KuCoin's base spot tier,
    /// 0.1 % maker and taker).
    pub fn new(specs: &[SymbolSpec], cfg: &TradingConfig) -> Self {
        let sim_of = |spec: &SymbolSpec| {
            // KuCoin's base tiers: spot 0.1 % both ways, futures 0.02 % maker and
            // 0.06 % taker.
            let base = if spec.market.is_futures() {
                (20_000, 60_000)
            } else {
                (100_000, 100_000)
            };
            let (maker, taker) = cfg.fees.unwrap_or(base);
            SimExchange::new(
                spec,
                &SimConfig {
                    latency: Default::default(),
                    queue: cfg.queue,
                    maker_fee_e8: maker,
                    taker_fee_e8: taker,
                    capital_e8: cfg.capital_e8,
                    leverage: 1,
                    maintenance_ppm: 4_000,
                    max_orders: MAX_OPEN,
                    seed: 0,
                    book: crate::book::BookConfig::unchecked(),
                },
            )
        };
        Self {
            specs: specs.to_vec(),
            sims: specs.iter().map(sim_of).collect(),
            valuers: specs.iter().map(Valuer::new).collect(),
            orders: Vec::new(),
            next_id: 1,
            next_trade: 1,
            events: Vec::new(),
            moved: vec![false; specs.len()],
        }
    }

    /// A market event reaches symbol `k`'s matching engine.
    pub fn on_event(&mut self, k: usize, ev: &MarketEvent) {
        self.sims[k].on_event(ev);
    }

    /// A recorded snapshot reaches symbol `k`'s matching engine.
    pub fn on_snapshot(&mut self, k: usize, snap: &crate::core::DepthSnapshot) {
        self.sims[k].on_snapshot(snap);
    }

    /// What the engines did since the last call (resting orders filled by the market)
    /// becomes order states and private messages.
    pub fn absorb_all(&mut self, now_ms: i64) {
        for k in 0..self.sims.len() {
            let mut out = Vec::new();
            self.sims[k].drain_due(u64::MAX, |e| out.push(*e));
            self.apply(k, &out, now_ms);
        }
        // Closed orders beyond the window are forgotten, oldest first.
        let closed = self.orders.iter().filter(|o| !o.active).count();
        if closed > KEEP_CLOSED {
            let mut drop = closed - KEEP_CLOSED;
            self.orders.retain(|o| {
                if drop > 0 && !o.active {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// The private messages waiting, each with its topic (a spot change goes to both
    /// versions of the channel, `received` only to V2; a futures one to the channel
    /// of all symbols and to the symbol's).
    pub fn take_events(&mut self) -> Vec<(String, String)> {
        self.account_events();
        let mut out = Vec::new();
        for e in std::mem::take(&mut self.events) {
            match e {
                Event::Spot(typ, data) => {
                    for topic in ORDERS_TOPICS {
                        if typ == "received" && topic == ORDERS_TOPICS[1] {
                            continue;
                        }
                        out.push((topic.to_string(), message(topic, "orderChange", &data)));
                    }
                }
                Event::Topic {
                    symbol,
                    topic,
                    subject,
                    data,
                } => {
                    // Order changes go to the channel of all symbols and to the
                    // symbol's; a position only to the symbol's; the account's
                    // channels name no symbol.
                    if topic != futures::POSITION_TOPIC {
                        out.push((topic.to_string(), message(topic, subject, &data)));
                    }
                    if topic == futures::ORDERS_TOPIC || topic == futures::POSITION_TOPIC {
                        let named = format!("{topic}:{}", self.specs[symbol].name);
                        let m = message(&named, subject, &data);
                        out.push((named, m));
                    }
                }
            }
        }
        out
    }

    /// Each symbol's position (base lots) and wallet (quote, 10⁻⁸).
    pub fn accounts(&self) -> Vec<(String, Lots, i64)> {
        self.sims
            .iter()
            .zip(&self.specs)
            .map(|(s, spec)| (spec.name.to_string(), s.position(), s.account().wallet_e8))
            .collect()
    }

    fn symbol(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name.as_str() == name)
    }

    fn run(&mut self, k: usize, cmd: OrderCmd) -> Vec<Execution> {
        let sim = &mut self.sims[k];
        let now = sim.now_us();
        let req = OrderRequest {
            cmd,
            timestamp_ms: now / 1000,
            recv_window_ms: 60_000,
        };
        sim.send(&req, &[], now);
        sim.settle();
        let mut out = Vec::new();
        sim.drain_due(u64::MAX, |e| out.push(*e));
        out
    }

    /// `POST /api/v1/hf/orders`.
    pub fn place(&mut self, body: &str, now_ms: i64) -> Answer {
        let b: PlaceBody = match sonic_rs::from_str(body) {
            Ok(b) => b,
            Err(e) => return refused("400100", &format!("the order is not KuCoin's JSON: {e}")),
        };
        let Some(k) = self.symbol(&b.symbol) else {
            return refused("900001", "symbol not exists");
        };
        if self.specs[k].market.is_futures() {
            return refused(
                "400100",
                "a futures contract: its orders go to POST /api/v1/orders (the futures host)",
            );
        }
        let spec = &self.specs[k];
        let side = match side_of(&b.side) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let client = match self.client_of(b.client_oid.as_deref()) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let Some(size) = b.size.as_ref() else {
            // `funds` (a market order's quote amount) is not taken: sizes only.
            return refused(
                "400100",
                "size is required (funds orders are not taken here)",
            );
        };
        let Ok(size) = spec.qty.parse(size.0.as_bytes()) else {
            return refused("400100", "Size increment invalid.");
        };
        if size.0 <= 0 {
            return refused("400100", "size must be positive");
        }
        let (market, kind, tif) =
            match (b.typ.as_str(), b.time_in_force.as_deref().unwrap_or("GTC")) {
                ("market", _) => (true, OrderKind::Market, "GTC"),
                ("limit", _) if b.post_only => (false, OrderKind::PostOnly, "GTC"),
                ("limit", "GTC") => (false, OrderKind::LimitGtc, "GTC"),
                ("limit", "IOC") => (false, OrderKind::LimitIoc, "IOC"),
                ("limit", "FOK") => (false, OrderKind::LimitFok, "FOK"),
                ("limit", "GTT") => {
                    return refused(
                        "400100",
                        "timeInForce GTT is not taken here (GTC, IOC, FOK)",
                    );
                }
                ("limit", _) => {
                    return refused("400100", "timeInForce must be GTC, GTT, IOC or FOK");
                }
                _ => return refused("400100", "type must be limit or market"),
            };
        let price = if market {
            Ticks(0)
        } else {
            match limit_price(spec, b.price.as_ref()) {
                Ok(p) => p,
                Err(a) => return a,
            }
        };
        if side == OrderSide::Sell && size.0 > self.free_base(k) {
            return refused("200004", "Balance insufficient!");
        }
        let order = self.order(
            k,
            client,
            side,
            (market, tif, b.post_only),
            price,
            size,
            now_ms,
        );
        self.submit(order, kind, now_ms)
    }

    /// A new order's record (not yet matched).
    #[allow(clippy::too_many_arguments)]
    fn order(
        &mut self,
        k: usize,
        client: ClientId,
        side: OrderSide,
        (market, tif, post_only): (bool, &'static str, bool),
        price: Ticks,
        size: Lots,
        now_ms: i64,
    ) -> Order {
        let id = format!(
            "{:024x}",
            0x6d6e_7600_0000_0000_0000_0000u128 + self.next_id as u128
        );
        self.next_id += 1;
        Order {
            id,
            client,
            symbol: k,
            side,
            market,
            tif,
            post_only,
            price,
            size,
            deal_size: Lots(0),
            deal_funds_e8: 0,
            fee_e8: 0,
            active: true,
            cancelled: false,
            created_ms: now_ms,
            updated_ms: now_ms,
            futures: None,
        }
    }

    /// A client id KuCoin would take and no working order has (one is made when none
    /// is given).
    fn client_of(&self, oid: Option<&str>) -> Result<ClientId, Answer> {
        let client = match oid {
            None | Some("") => ClientId::from(&format!("kc{}", self.next_id)).unwrap_or_default(),
            Some(c)
                if c.len() <= 36
                    && c.bytes()
                        .all(|x| x.is_ascii_alphanumeric() || x == b'_' || x == b'-') =>
            {
                ClientId::from(c).unwrap_or_default()
            }
            Some(_) => {
                return Err(refused(
                    "400100",
                    "clientOid: letters, digits, _ and -, at most 36 characters here (KuCoin takes 40)",
                ));
            }
        };
        if self.orders.iter().any(|o| o.active && o.client == client) {
            return Err(refused("400100", "clientOid is duplicated"));
        }
        Ok(client)
    }

    /// Matches a checked order; KuCoin's answer (its ids), or the refusal.
    fn submit(&mut self, order: Order, kind: OrderKind, now_ms: i64) -> Answer {
        let (k, client, futures) = (order.symbol, order.client, order.futures);
        let new = NewOrder {
            id: client,
            side: order.side,
            kind,
            price: order.price,
            qty: order.size,
            reduce_only: futures.is_some_and(|f| f.reduce_only),
        };
        let leverage_before = self.sims[k].account().leverage().max(1) as u32;
        if let Some(f) = futures {
            // Isolated margin: a flat symbol takes the order's leverage.
            self.sims[k].account_mut().set_leverage(f.leverage);
        }
        let reports = self.run(k, OrderCmd::New(new));
        let refusal = reports.iter().find_map(|e| match e.report {
            Report::Rejected(r) if e.client_id == client => Some(r),
            _ => None,
        });
        if refusal.is_some_and(|r| r != Reject::WouldTakeLiquidity) {
            // A refused order changes nothing, its leverage included.
            self.sims[k].account_mut().set_leverage(leverage_before);
        }
        let balance = if futures.is_some() {
            (
                "300003",
                "Balance insufficient. The order would cost more than the available balance.",
            )
        } else {
            ("200004", "Balance insufficient!")
        };
        match refusal {
            None | Some(Reject::WouldTakeLiquidity) => {}
            Some(Reject::InsufficientMargin) => return refused(balance.0, balance.1),
            Some(Reject::TooManyOrders) => {
                return refused("400100", "too many open orders on this symbol");
            }
            Some(Reject::MinNotional) => {
                return refused("400100", "the order's funds are under the minimum");
            }
            Some(Reject::WouldTrigger) => {
                return refused("400100", "the stop price would trigger at once");
            }
            Some(Reject::ReduceOnly) => {
                return refused("300009", "No open positions to close.");
            }
            Some(r) => return refused("400100", &format!("the order is refused: {r:?}")),
        }
        let id = order.id.clone();
        self.orders.push(order);
        self.moved[k] = true;
        let i = self.orders.len() - 1;
        if futures.is_none() {
            self.emit(i, "received", None, now_ms);
        }
        if refusal == Some(Reject::WouldTakeLiquidity) {
            // KuCoin accepts a post-only order that would take, then cancels it.
            self.close(i, true, now_ms);
        } else {
            if futures.is_some_and(|f| f.stop.is_some()) {
                self.stop_event(i, "open", now_ms);
            } else {
                self.emit(i, "open", None, now_ms);
            }
            self.apply(k, &reports, now_ms);
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Placed {
            order_id: String,
            client_oid: String,
        }
        ok(&Placed {
            order_id: id,
            client_oid: client.to_string(),
        })
    }

    /// Spot symbol `k`'s two balances, base then quote: currency, total, available and
    /// held, as KuCoin writes them. Each symbol has its own wallet, as the simulator
    /// accounts it.
    fn spot_balances(&self, k: usize) -> [[String; 4]; 2] {
        let spec = &self.specs[k];
        let (base, quote) = spec.name.split_once('-').unwrap_or((&spec.name, "USDT"));
        let acc = self.sims[k].account();
        let qd = spec.qty.decimals();
        let held = acc.position().0.max(0);
        let free = self.free_base(k).max(0);
        // Spot at leverage 1: the position's cost is held as its margin, so the quote
        // in hand is the wallet less it; open buys hold their value.
        let cash = acc.available_e8();
        let held_by_buys: i64 = self
            .orders
            .iter()
            .filter(|o| o.active && o.symbol == k && o.side == OrderSide::Buy && !o.market)
            .map(|o| self.valuers[k].quote_e8(o.price, Lots(o.size.0 - o.deal_size.0)))
            .fold(0i64, i64::saturating_add);
        [
            [
                base.to_string(),
                canonical(held, qd),
                canonical(free, qd),
                canonical(held - free, qd),
            ],
            [
                quote.to_string(),
                canonical(cash, 8),
                canonical(cash.saturating_sub(held_by_buys), 8),
                canonical(held_by_buys, 8),
            ],
        ]
    }

    /// Base the account holds free: its position less what open sells lock.
    fn free_base(&self, k: usize) -> i64 {
        let held = self.sims[k].position().0.max(0);
        let locked: i64 = self
            .orders
            .iter()
            .filter(|o| o.active && o.symbol == k && o.side == OrderSide::Sell)
            .map(|o| o.size.0 - o.deal_size.0)
            .sum();
        held - locked
    }

    fn find(&self, symbol: Option<&str>, by: By<'_>) -> Option<usize> {
        self.orders.iter().rposition(|o| {
            symbol.is_none_or(|s| self.specs[o.symbol].name.as_str() == s)
                && match by {
                    By::Id(id) => o.id == id,
                    By::Client(c) => o.client.as_str() == c,
                }
        })
    }

    /// `DELETE /api/v1/hf/orders/{orderId}` or `…/client-order/{clientOid}`.
    pub fn cancel(&mut self, symbol: Option<&str>, by: By<'_>, now_ms: i64) -> Answer {
        let Some(i) = self.find(symbol, by).filter(|&i| self.orders[i].active) else {
            return refused("400100", "order not exist or not allow to cancel");
        };
        let (k, client) = (self.orders[i].symbol, self.orders[i].client);
        let reports = self.run(k, OrderCmd::Cancel(client));
        self.apply(k, &reports, now_ms);
        let o = &self.orders[i];
        match by {
            // KuCoin futures answer a cancel by id with the list of what it cancelled.
            By::Id(_) if o.futures.is_some() => {
                ok(&sonic_rs::json!({ "cancelledOrderIds": [o.id.as_str()] }))
            }
            By::Id(_) => ok(&sonic_rs::json!({ "orderId": o.id })),
            By::Client(_) => ok(&sonic_rs::json!({ "clientOid": o.client.as_str() })),
        }
    }

    /// `GET /api/v1/hf/orders/{orderId}` or `…/client-order/{clientOid}`.
    pub fn query(&self, symbol: Option<&str>, by: By<'_>) -> Answer {
        match self.find(symbol, by) {
            Some(i) => ok(&self.view(i)),
            None => refused("400100", "order not exist"),
        }
    }

    /// `GET /api/v1/hf/orders/active?symbol=`.
    pub fn active(&self, symbol: &str) -> Answer {
        let Some(k) = self.symbol(symbol) else {
            return refused("900001", "symbol not exists");
        };
        let list: Vec<OrderView> = (0..self.orders.len())
            .filter(|&i| self.orders[i].active && self.orders[i].symbol == k)
            .map(|i| self.view(i))
            .collect();
        ok(&list)
    }

    /// `GET /api/v1/accounts[?type=…]`: each symbol's base and quote as high-frequency
    /// trading accounts (`trade_hf`, where HF orders trade; `trade` answers the same
    /// balances, other types hold nothing). Each symbol has its own wallet, as the
    /// simulator accounts it: a quote asset shared by two symbols is listed twice.
    pub fn balances(&self, typ: Option<&str>) -> Answer {
        let typ: &'static str = match typ {
            None | Some("trade_hf") => "trade_hf",
            Some("trade") => "trade",
            Some(_) => return ok(&Vec::<()>::new()),
        };
        #[derive(Serialize)]
        struct Balance {
            id: String,
            currency: String,
            #[serde(rename = "type")]
            typ: &'static str,
            balance: String,
            available: String,
            holds: String,
        }
        let mut out = Vec::new();
        for k in 0..self.specs.len() {
            if self.specs[k].market.is_futures() {
                continue; // the futures account is apart (`account-overview`)
            }
            let name = &self.specs[k].name;
            for (side, [currency, total, available, holds]) in
                ["base", "quote"].into_iter().zip(self.spot_balances(k))
            {
                out.push(Balance {
                    id: format!("{name}-{side}"),
                    currency,
                    typ,
                    balance: total,
                    available,
                    holds,
                });
            }
        }
        ok(&out)
    }

    fn view(&self, i: usize) -> OrderView {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let quote = spec.name.split_once('-').map_or("USDT", |(_, q)| q);
        OrderView {
            id: o.id.clone(),
            client_oid: o.client.to_string(),
            symbol: spec.name.to_string(),
            op_type: "DEAL",
            typ: if o.market { "market" } else { "limit" },
            side: if o.side == OrderSide::Buy {
                "buy"
            } else {
                "sell"
            },
            price: if o.market {
                "0".into()
            } else {
                spec.price.format(o.price)
            },
            size: spec.qty.format(o.size),
            deal_size: spec.qty.format(o.deal_size),
            deal_funds: canonical(o.deal_funds_e8, 8),
            fee: canonical(o.fee_e8, 8),
            fee_currency: quote.to_string(),
            time_in_force: o.tif,
            post_only: o.post_only,
            active: o.active,
            cancel_exist: o.cancelled,
            in_order_book: o.active && !o.market,
            created_at: o.created_ms,
            last_updated_at: o.updated_ms,
        }
    }

    /// Engine reports become order states and private messages.
    fn apply(&mut self, k: usize, reports: &[Execution], now_ms: i64) {
        for e in reports {
            let Some(i) = self
                .orders
                .iter()
                .rposition(|o| o.symbol == k && o.active && o.client == e.client_id)
            else {
                continue;
            };
            match e.report {
                Report::Filled {
                    price,
                    qty,
                    fee_e8,
                    leaves,
                    maker,
                } => {
                    let value = self.valuers[k].quote_e8(price, qty);
                    if let Some(f) = self.orders[i].futures.as_mut()
                        && f.stop.is_some()
                        && !f.triggered
                    {
                        // A stop reached its price: it is a market order from now.
                        f.triggered = true;
                        self.stop_event(i, "triggered", now_ms);
                        self.emit(i, "open", None, now_ms);
                    }
                    self.moved[k] = true;
                    let o = &mut self.orders[i];
                    o.deal_size = Lots(o.deal_size.0 + qty.0);
                    o.deal_funds_e8 = o.deal_funds_e8.saturating_add(value);
                    o.fee_e8 = o.fee_e8.saturating_add(fee_e8);
                    o.updated_ms = now_ms;
                    let trade = self.next_trade;
                    self.next_trade += 1;
                    self.emit(i, "match", Some((price, qty, maker, trade)), now_ms);
                    if leaves.0 == 0 {
                        self.close(i, false, now_ms);
                    }
                }
                Report::Canceled | Report::Expired => self.close(i, true, now_ms),
                _ => {}
            }
        }
    }

    fn close(&mut self, i: usize, cancelled: bool, now_ms: i64) {
        self.moved[self.orders[i].symbol] = true;
        let o = &mut self.orders[i];
        o.active = false;
        o.cancelled = cancelled;
        o.updated_ms = now_ms;
        if o.futures.is_some_and(|f| f.stop.is_some() && !f.triggered) {
            return self.stop_event(i, "cancel", now_ms);
        }
        self.emit(
            i,
            if cancelled { "canceled" } else { "filled" },
            None,
            now_ms,
        );
    }

    /// An `orderChange` message: `typ` received, open, match, filled or canceled —
    /// spot's on both versions of its channel, a futures order's (no `received`;
    /// sizes in contracts, its margin mode) on the futures order topics.
    fn emit(
        &mut self,
        i: usize,
        typ: &'static str,
        fill: Option<(Ticks, Lots, bool, u64)>,
        now_ms: i64,
    ) {
        let o = &self.orders[i];
        let futures = o.futures.is_some();
        if futures && typ == "received" {
            return;
        }
        let spec = &self.specs[o.symbol];
        // A size as KuCoin writes it: the base asset on spot, contracts on futures.
        let size = |q: Lots| {
            if futures {
                futures::contracts(spec, q).to_string()
            } else {
                spec.qty.format(q)
            }
        };
        let left = |yes: bool| size(Lots(if yes { o.size.0 - o.deal_size.0 } else { 0 }));
        let status = match typ {
            "received" => "new",
            "open" => "open",
            "match" => "match",
            _ => "done",
        };
        let market_price = if futures { "" } else { "0" };
        let mut data = sonic_rs::json!({
            "symbol": spec.name.as_str(),
            "orderType": if o.market { "market" } else { "limit" },
            "side": if o.side == OrderSide::Buy { "buy" } else { "sell" },
            "orderId": o.id,
            "clientOid": o.client.as_str(),
            "type": typ,
            "status": status,
            "orderTime": o.created_ms * 1_000_000,
            "price": if o.market { market_price.to_string() } else { spec.price.format(o.price) },
            "size": size(o.size),
            "filledSize": size(o.deal_size),
            "remainSize": left(o.active),
            "canceledSize": left(o.cancelled),
            "ts": now_ms * 1_000_000,
        });
        {
            use sonic_rs::JsonValueMutTrait;
            if let Some(d) = data.as_object_mut() {
                if futures {
                    d.insert("marginMode", "ISOLATED");
                }
                if let Some((price, qty, maker, trade)) = fill {
                    d.insert("matchPrice", spec.price.format(price).as_str());
                    d.insert("matchSize", size(qty).as_str());
                    d.insert("tradeId", trade.to_string().as_str());
                    d.insert("liquidity", if maker { "maker" } else { "taker" });
                }
            }
        }
        let symbol = o.symbol;
        self.events.push(if futures {
            Event::Topic {
                symbol,
                topic: futures::ORDERS_TOPIC,
                subject: "orderChange",
                data,
            }
        } else {
            Event::Spot(typ, data)
        });
    }
}

/// `buy` or `sell`.
fn side_of(text: &str) -> Result<OrderSide, Answer> {
    match text {
        "buy" => Ok(OrderSide::Buy),
        "sell" => Ok(OrderSide::Sell),
        _ => Err(refused("400100", "side must be buy or sell")),
    }
}

/// A limit order's price on the grid.
fn limit_price(spec: &SymbolSpec, price: Option<&Text>) -> Result<Ticks, Answer> {
    match price.map(|p| spec.price.parse(p.0.as_bytes())) {
        Some(Ok(p)) if p.0 > 0 => Ok(p),
        Some(_) => Err(refused("400100", "Price increment invalid.")),
        None => Err(refused("400100", "price is required for a limit order")),
    }
}

/// A private message's text.
fn message(topic: &str, subject: &str, data: &sonic_rs::Value) -> String {
    sonic_rs::json!({
        "type": "message",
        "topic": topic,
        "subject": subject,
        "channelType": "private",
        "data": data.clone(),
    })
    .to_string()
}

/// How a request names an order.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// KuCoin's order id.
    Id(&'a str),
    /// The client's id.
    Client(&'a str),
}
