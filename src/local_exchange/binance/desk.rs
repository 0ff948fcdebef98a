//! The local exchange's trading desk in Binance's words: the signed order and account
//! endpoints, matched by the backtest's simulated exchange (one per symbol, fed the
//! replayed market), and the user data stream's events.
//!
//! * Every signed request passes [`authenticate`] (key, signature, parameters,
//!   timestamp), then its parameters are read into a typed order
//!   ([`orders::parse_order`]) and the engine checks the filters.
//! * Orders go to the [`SimExchange`] of their symbol with no added latency (the
//!   sockets are the latency); its reports become the order's state, the REST answer,
//!   and `executionReport` (spot) / `ORDER_TRADE_UPDATE` (USDⓈ-M) events.
//! * Answers and events are written by serde from typed shapes ([`orders`],
//!   [`account`], [`user`]): no input can break their JSON.
//! * One account: the key pair the exchange was started with. Each symbol's wallet
//!   starts with the configured capital (isolated, as the simulator accounts it).
//!
//! Cold path: this is the exchange's side.

use crate::core::decimal::canonical;
use crate::core::{
    ClientId, DepthSnapshot, Execution, Lots, Market, MarketEvent, NewOrder, OrderCmd, OrderKind,
    OrderRequest, Report, SymbolSpec, Ticks, Valuer,
};
use crate::local_exchange::server::Request;
use crate::sim::queue::QueueModel;
use crate::sim::{SimConfig, SimExchange};
use crate::venues::binance::account::{Done, Empty, LeverageAnswer, ListenKeyAnswer};
use crate::venues::binance::endpoints::Rest;
use crate::venues::binance::errors::{self, Code, ErrorBody, UNKNOWN_LISTEN_KEY};
use crate::venues::binance::keys::{API_KEY_HEADER, ApiKeys};
use crate::venues::binance::limits::ORDER_COUNT_HEADER;
use crate::venues::binance::orders::{self, OcoAnswer, OcoLeg, Status};
use crate::venues::binance::params::Params;
use crate::venues::binance::sign::{AuthError, Incoming, Signer, authenticate, check_key};
use crate::venues::binance::validate;
use serde::Serialize;

/// The account and matching the exchange offers.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingConfig {
    /// Each symbol's starting wallet, 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Futures leverage until `POST leverage` changes it.
    pub leverage: u32,
    /// Maker and taker fee rates, 10⁻⁸ (`None`: Binance's base tier for the market).
    pub fees: Option<(i64, i64)>,
    /// Queue position model of resting orders.
    pub queue: QueueModel,
    /// New orders allowed per 10 s (`None`: Binance's, 100 spot / 300 USDⓈ-M).
    pub orders_per_10s: Option<u32>,
    /// A listen key not kept alive this long expires (Binance's 60 minutes).
    pub listen_key_ttl: std::time::Duration,
    /// Closed orders remembered (older ones are forgotten: memory stays flat).
    pub keep_closed_orders: usize,
    /// The local KuCoin venue's request weight per 30 s for the account's signed
    /// requests (`None`: KuCoin's VIP0 spot pool, 4000); said in the
    /// `gw-ratelimit-*` headers, refused 429 `429000` when spent.
    pub weight_per_30s: Option<u32>,
}

impl Default for TradingConfig {
    fn default() -> Self {
        Self {
            capital_e8: 100_000 * 100_000_000,
            leverage: 20,
            fees: None,
            queue: QueueModel::default(),
            orders_per_10s: None,
            listen_key_ttl: LISTEN_KEY_TTL,
            keep_closed_orders: history::KEEP_CLOSED,
            weight_per_30s: None,
        }
    }
}

/// Open orders per symbol the matching engine holds at most (Binance's
/// `MAX_NUM_ORDERS` is 200 on spot).
pub(crate) const MAX_OPEN: usize = 200;

/// New orders allowed per 10 s: the configured count, else Binance's (100 spot, 300
/// USDⓈ-M).
pub(crate) fn orders_per_10s(market: Market, cfg: &TradingConfig) -> u32 {
    cfg.orders_per_10s
        .unwrap_or(if market.is_futures() { 300 } else { 100 })
}

/// The validity window of the engine's requests: the desk checked the client's.
const ENGINE_RECV_WINDOW_MS: u32 = 60_000;

/// One symbol's account as the exchange holds it (printed at the end of `minerva
/// exchange`, read by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The symbol.
    pub symbol: String,
    /// Position, lots (negative: short).
    pub position: Lots,
    /// Wallet: capital + realised PnL − fees ± funding, 10⁻⁸ quote.
    pub wallet_e8: i64,
    /// Fills made.
    pub fills: u64,
    /// Lots filled, buys and sells.
    pub filled_lots: i64,
    /// Orders still open.
    pub open_orders: usize,
}

/// An order as the exchange remembers it (for queries, open orders and events).
#[derive(Debug, Clone)]
pub(crate) struct VenueOrder {
    symbol: usize,
    order_id: u64,
    list_id: i64,
    client_id: String,
    buy: bool,
    kind: OrderKind,
    /// A liquidation's order (`LIQUIDATION`), not one of ours.
    liquidation: bool,
    price: Ticks,
    qty: Lots,
    executed: Lots,
    quote_e8: i64,
    /// Value filled in the margin asset (differs from `quote_e8` on COIN-M: coin).
    value_e8: i64,
    reduce_only: bool,
    status: Status,
    time_ms: i64,
    update_ms: i64,
}

/// A fill as events and FULL answers show it.
#[derive(Debug, Clone, Copy)]
struct Fill {
    price: Ticks,
    qty: Lots,
    fee_e8: i64,
    maker: bool,
    trade_id: u64,
}

/// The desk: matching engines, orders, listen keys, events to publish.
pub(crate) struct Desk {
    market: Market,
    api_key: String,
    signer: Signer,
    specs: Vec<SymbolSpec>,
    valuers: Vec<Valuer>,
    assets: Vec<(String, String)>,
    /// The asset each symbol's balance, margin, fees and PnL are in: the quote asset,
    /// the coin on COIN-M.
    margin_assets: Vec<String>,
    sims: Vec<SimExchange>,
    orders: History,
    next_order_id: u64,
    next_trade_id: u64,
    next_list_id: i64,
    next_cancel_id: u64,
    listen_key: Option<ListenKey>,
    /// A listen key not kept alive this long expires (Binance: 60 minutes).
    listen_key_ttl: std::time::Duration,
    /// Keys closed since the exchange last looked, with their expiry events.
    closed_keys: Vec<(String, String)>,
    rng: fastrand::Rng,
    orders_per_10s: u32,
    /// (Wall-clock 10 s window, new orders in it).
    order_count: (u64, u32),
    /// Events for the user data streams, published once the state lock is released.
    events: Vec<String>,
    /// Fills, for `fills` in FULL answers (the last request's).
    last_fills: Vec<(String, Fill)>,
}

/// The account's user data stream key.
#[derive(Debug, Clone)]
struct ListenKey {
    key: String,
    /// When it was created or last kept alive.
    kept: std::time::Instant,
}

/// How long a listen key lives without a keepalive (Binance: 60 minutes).
pub const LISTEN_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A REST answer: status, extra headers and body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn err(status: u16, code: Code, msg: &str) -> Answer {
    (status, Vec::new(), ErrorBody::json(code, msg))
}

/// Binance's refusal of an order the balance cannot cover.
fn insufficient() -> Answer {
    err(
        400,
        Code::NewOrderRejected,
        "Account has insufficient balance for requested action.",
    )
}

fn refused(e: AuthError) -> Answer {
    err(e.status, e.code, &e.msg)
}

/// A 200 answer with `body` as JSON.
fn ok<T: Serialize>(body: &T) -> Answer {
    (200, Vec::new(), sonic_rs::to_vec(body).unwrap_or_default())
}

/// `m × 10^-scale` with exactly `scale` decimals, as Binance writes amounts.
fn fixed(m: i64, scale: u8) -> String {
    let mut s = canonical(m, scale);
    if scale > 0 {
        let places = s.split_once('.').map_or(0, |(_, f)| f.len());
        if places == 0 {
            s.push('.');
        }
        for _ in places..scale as usize {
            s.push('0');
        }
    }
    s
}

/// The open position's average entry price, 10⁻⁸ quote (0 when flat).
fn entry_e8(acc: &crate::sim::account::Account, spec: &SymbolSpec) -> i64 {
    let pos = acc.position().0;
    if pos == 0 {
        return 0;
    }
    let qd = spec.qty.decimals() as u32;
    let lots = pos.unsigned_abs() as i128;
    match spec.contract_size {
        // Inverse: cost is contracts × size / entry in the coin, so
        // entry = contracts × size / cost (the harmonic mean of the fills).
        Some(size) if acc.cost_e8() > 0 => (lots * size as i128 * 10_000_000_000_000_000
            / (10i128.pow(qd) * acc.cost_e8() as i128))
            .min(i64::MAX as i128) as i64,
        Some(_) => 0,
        None => (acc.cost_e8() as i128 * 10i128.pow(qd) / lots) as i64,
    }
}

/// `POST marginType`: the desk margins every position in isolation, so ISOLATED is
/// already the type (Binance's -4046) and CROSSED is refused as not modelled.
fn margin_type(params: &Params) -> Answer {
    match params.get("marginType") {
        None => refused(AuthError::missing("marginType")),
        Some("ISOLATED") => err(
            400,
            Code::NoNeedToChangeMarginType,
            "No need to change margin type.",
        ),
        Some("CROSSED") => err(
            400,
            Code::Unknown,
            "minerva exchange models isolated margin only.",
        ),
        Some(_) => err(
            400,
            Code::IllegalChars,
            "Illegal characters found in parameter 'marginType'; legal range is '^(ISOLATED|CROSSED)$'.",
        ),
    }
}

/// What exchangeInfo says of a symbol's assets.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolAssets {
    symbol: String,
    base_asset: Option<String>,
    quote_asset: Option<String>,
}

#[derive(serde::Deserialize)]
struct InfoAssets {
    #[serde(default)]
    symbols: Vec<SymbolAssets>,
}

/// Base and quote asset of a symbol (from exchangeInfo when it says, else the name).
fn split_assets(name: &str, market: Market, info: &[u8]) -> (String, String) {
    if let Ok(i) = sonic_rs::from_slice::<InfoAssets>(info) {
        if let Some(s) = i.symbols.iter().find(|s| s.symbol == name) {
            if let (Some(b), Some(q)) = (&s.base_asset, &s.quote_asset) {
                return (b.clone(), q.clone());
            }
        }
    }
    crate::venues::binance::exchange_info::assets_of(name, market)
}

impl Desk {
    pub(crate) fn new(
        market: Market,
        specs: &[SymbolSpec],
        keys: &ApiKeys,
        cfg: &TradingConfig,
        exchange_info: &[u8],
    ) -> Self {
        let futures = market.is_futures();
        let (maker, taker) = cfg.fees.unwrap_or(if futures {
            (20_000, 50_000)
        } else {
            (100_000, 100_000)
        });
        let sim_cfg = SimConfig {
            latency: Default::default(),
            queue: cfg.queue,
            maker_fee_e8: maker,
            taker_fee_e8: taker,
            capital_e8: cfg.capital_e8,
            leverage: cfg.leverage,
            maintenance_ppm: 4_000,
            max_orders: MAX_OPEN,
            seed: 0,
            book: crate::book::BookConfig::unchecked(),
        };
        let assets: Vec<(String, String)> = specs
            .iter()
            .map(|s| split_assets(&s.name, s.market, exchange_info))
            .collect();
        Self {
            market,
            api_key: keys.api_key().to_string(),
            sims: specs
                .iter()
                .map(|s| SimExchange::new(s, &sim_cfg))
                .collect(),
            signer: Signer::new(keys),
            valuers: specs.iter().map(Valuer::new).collect(),
            margin_assets: specs
                .iter()
                .zip(&assets)
                .map(|(s, (b, q))| if s.market == Market::CoinM { b } else { q }.clone())
                .collect(),
            assets,
            specs: specs.to_vec(),
            orders: History::new(cfg.keep_closed_orders),
            next_order_id: 1,
            next_trade_id: 1,
            next_list_id: 1,
            next_cancel_id: 1,
            listen_key: None,
            listen_key_ttl: cfg.listen_key_ttl,
            closed_keys: Vec::new(),
            rng: fastrand::Rng::with_seed(0x6465_736b),
            orders_per_10s: orders_per_10s(market, cfg),
            order_count: (0, 0),
            events: Vec::new(),
            last_fills: Vec::new(),
        }
    }

    /// A market event reaches symbol `k`'s matching engine.
    pub(crate) fn on_event(&mut self, k: usize, ev: &MarketEvent) {
        self.sims[k].on_event(ev);
    }

    /// A recorded snapshot reaches symbol `k`'s matching engine.
    pub(crate) fn on_snapshot(&mut self, k: usize, snap: &DepthSnapshot) {
        self.sims[k].on_snapshot(snap);
    }

    /// Turns what the engines reported since the last call into order states and
    /// events (resting orders filled by the market, stops triggered, liquidations).
    pub(crate) fn absorb_all(&mut self, server_ms: i64) {
        self.orders.trim();
        for k in 0..self.sims.len() {
            self.absorb(k, server_ms);
        }
    }

    /// The events waiting for the user data streams.
    pub(crate) fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
    }

    /// Every symbol's account.
    pub(crate) fn accounts(&self) -> Vec<AccountSummary> {
        (0..self.sims.len())
            .map(|k| {
                let st = self.sims[k].stats();
                AccountSummary {
                    symbol: self.specs[k].name.to_string(),
                    position: self.sims[k].position(),
                    wallet_e8: self.sims[k].account().wallet_e8,
                    fills: st.fills,
                    filled_lots: st.maker_lots + st.taker_lots,
                    open_orders: self.sims[k].open_orders(),
                }
            })
            .collect()
    }

    /// True for a listen key this exchange handed out.
    /// Orders remembered, open and closed (bounded: tests of memory).
    pub(crate) fn orders_kept(&self) -> usize {
        self.orders.len()
    }

    /// The account's listen key, while it is open.
    pub(crate) fn listen_key(&self) -> Option<&str> {
        self.listen_key.as_ref().map(|k| k.key.as_str())
    }

    /// Listen keys closed or expired since the last call, each with its
    /// `listenKeyExpired` event: the event goes to the key's sessions, then they end.
    pub(crate) fn take_closed_keys(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.closed_keys)
    }

    /// Expires the listen key if it was not kept alive for [`LISTEN_KEY_TTL`] (wall
    /// clock: it is the client's keepalive being tested, not the recording's).
    pub(crate) fn expire_listen_key(&mut self, server_ms: i64) {
        if self
            .listen_key
            .as_ref()
            .is_some_and(|k| k.kept.elapsed() >= self.listen_key_ttl)
        {
            self.close_listen_key(server_ms);
        }
    }

    fn close_listen_key(&mut self, server_ms: i64) {
        let Some(k) = self.listen_key.take() else {
            return;
        };
        let event = crate::venues::binance::user::write(
            &crate::venues::binance::user::UserEvent::ListenKeyExpired(
                crate::venues::binance::user::ListenKeyExpired {
                    event_ms: server_ms,
                    listen_key: k.key.clone(),
                },
            ),
        );
        self.closed_keys.push((k.key, event));
    }

    /// True for the endpoints the desk answers (trading, account, listen key).
    pub(crate) fn serves(endpoint: Rest) -> bool {
        matches!(
            endpoint,
            Rest::Order
                | Rest::Oco
                | Rest::OpenOrders
                | Rest::CancelAll
                | Rest::Account
                | Rest::Balance
                | Rest::PositionRisk
                | Rest::Leverage
                | Rest::LeverageBracket
                | Rest::MarginType
                | Rest::ListenKey
        )
    }

    /// Answers a trading or account request.
    pub(crate) fn handle(&mut self, req: &Request, endpoint: Rest, server_ms: i64) -> Answer {
        self.orders.trim();
        let futures = self.market.is_futures();
        let incoming = Incoming {
            api_key: req.header(API_KEY_HEADER),
            query: &req.query,
            body: &req.body,
        };
        if endpoint == Rest::ListenKey {
            return self.listen_key_request(req, &incoming, server_ms);
        }
        let params = match authenticate(&self.signer, &self.api_key, &incoming, server_ms) {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
        let k = match params.get("symbol") {
            Some(s) => match self.specs.iter().position(|x| x.name.as_str() == s) {
                Some(k) => Some(k),
                None => return err(400, Code::InvalidSymbol, "Invalid symbol."),
            },
            None => None,
        };
        let need_symbol = || refused(AuthError::missing("symbol"));
        // A query or cancel names its order as Binance checks it.
        if endpoint == Rest::Order && matches!(req.method.as_str(), "DELETE" | "GET") {
            if let Err(e) = validate::order_ref(&params) {
                return err(400, e.code, &e.msg);
            }
        }
        let answer = match (req.method.as_str(), endpoint) {
            ("POST", Rest::Order) => match k {
                Some(k) => self.new_order(k, &params, server_ms),
                None => need_symbol(),
            },
            ("POST", Rest::Oco) if !futures => match k {
                Some(k) => self.new_oco(k, &params, server_ms),
                None => need_symbol(),
            },
            ("DELETE", Rest::Order) => match k {
                Some(k) => self.cancel(k, &params, server_ms),
                None => need_symbol(),
            },
            ("GET", Rest::Order) => match k {
                Some(k) => match self.find(k, &params) {
                    Some(i) => self.order_answer(i, false, server_ms),
                    None => err(400, Code::NoSuchOrder, "Order does not exist."),
                },
                None => need_symbol(),
            },
            ("GET", Rest::OpenOrders) => {
                let open: Vec<usize> = self
                    .orders
                    .open()
                    .filter(|&i| k.is_none_or(|k| self.orders[i].symbol == k))
                    .collect();
                self.orders_answer(&open, server_ms)
            }
            ("DELETE", Rest::OpenOrders | Rest::CancelAll) => match k {
                Some(k) => self.cancel_all(k, server_ms),
                None => need_symbol(),
            },
            ("GET", Rest::Account) if futures => ok(&self.futures_account(server_ms)),
            ("GET", Rest::Account) => ok(&self.spot_account(server_ms)),
            ("GET", Rest::Balance) if futures => ok(&self.balance(server_ms)),
            ("GET", Rest::PositionRisk) if futures => ok(&self.positions(k, server_ms)),
            ("POST", Rest::Leverage) if futures => match k {
                Some(k) => self.leverage(k, &params),
                None => need_symbol(),
            },
            ("GET", Rest::LeverageBracket) if futures => self.brackets(k),
            ("POST", Rest::MarginType) if futures => match k {
                Some(_) => margin_type(&params),
                None => need_symbol(),
            },
            _ => err(404, Code::Unknown, "Unknown path."),
        };
        self.absorb_all(server_ms);
        answer
    }

    /// Counts a new order against the 10 s limit; the answer's headers, or a 429.
    fn count_order(&mut self) -> Result<Vec<(&'static str, String)>, Answer> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.order_count.0 != secs / 10 {
            self.order_count = (secs / 10, 0);
        }
        self.order_count.1 += 1;
        let n = self.order_count.1;
        let headers = vec![(ORDER_COUNT_HEADER, n.to_string())];
        if n > self.orders_per_10s {
            let mut a = err(
                429,
                Code::TooManyOrders,
                &format!(
                    "Too many new orders; current limit is {} orders per 10 SECOND.",
                    self.orders_per_10s
                ),
            );
            a.1 = headers;
            a.1.push(("Retry-After", (10 - secs % 10).to_string()));
            return Err(a);
        }
        Ok(headers)
    }

    /// The engine's refusal of a request, in Binance's words.
    /// A spot sell of more base asset than the account holds free (held, less what
    /// open sells lock): Binance refuses it (-2010); the simulator, made for futures
    /// and backtests, would open a short.
    fn short_sale(&self, k: usize, side: crate::core::OrderSide, qty: i64) -> bool {
        if self.market.is_futures() || side != crate::core::OrderSide::Sell {
            return false;
        }
        let held = self.sims[k].position().0.max(0);
        let locked: i64 = self
            .orders
            .open()
            .map(|i| &self.orders[i])
            .filter(|o| o.symbol == k && !o.buy)
            // An OCO list's two legs lock the quantity once.
            .filter(|o| o.list_id < 0 || o.kind == OrderKind::PostOnly)
            .map(|o| o.qty.0 - o.executed.0)
            .sum();
        qty > held - locked
    }

    fn engine_refusal(&self, r: crate::core::Reject) -> Answer {
        err(
            400,
            errors::code(r, self.market),
            errors::message(r, self.market),
        )
    }

    fn new_order(&mut self, k: usize, params: &Params, server_ms: i64) -> Answer {
        if let Err(e) = validate::new_order(params, self.market) {
            return err(400, e.code, &e.msg);
        }
        let parsed = if params.has("newClientOrderId") {
            orders::parse_order(params, &self.specs[k], "")
        } else {
            // Binance makes up an id for an order that came without one.
            let id = orders::generated_id(self.next_cancel_id);
            self.next_cancel_id += 1;
            orders::parse_order(&params.with("newClientOrderId", &id), &self.specs[k], "")
        };
        let order = match parsed {
            Ok(o) => o,
            Err(r) => return self.engine_refusal(r),
        };
        if self.short_sale(k, order.side, order.qty.0) {
            return insufficient();
        }
        let cid = order.id.to_string();
        if self
            .orders
            .by_client(k, &cid)
            .is_some_and(|i| self.orders[i].status.is_open())
        {
            return if self.market.is_futures() {
                err(400, Code::DuplicateClientId, "ClientOrderId is duplicated.")
            } else {
                err(400, Code::NewOrderRejected, "Duplicate order sent.")
            };
        }
        let headers = match self.count_order() {
            Ok(h) => h,
            Err(a) => return a,
        };
        let reports = self.run(k, OrderCmd::New(order));
        if let Some(r) = self.refusal(&reports, &[&cid]) {
            self.apply(k, &reports, server_ms);
            return r;
        }
        let i = self.remember(k, &order, -1, server_ms);
        self.emit(i, "NEW", None, server_ms);
        self.last_fills.clear();
        self.apply(k, &reports, server_ms);
        let full = match params.get("newOrderRespType") {
            Some(t) => t == "FULL",
            // Spot's default is FULL for LIMIT and MARKET orders.
            None => {
                !self.market.is_futures() && matches!(params.get("type"), Some("LIMIT" | "MARKET"))
            }
        };
        let mut a = self.order_answer(i, full, server_ms);
        a.1 = headers;
        a
    }

    fn new_oco(&mut self, k: usize, params: &Params, server_ms: i64) -> Answer {
        if let Err(e) = validate::oco(params) {
            return err(400, e.code, &e.msg);
        }
        let oco = match orders::parse_oco(params, &self.specs[k]) {
            Ok(o) => o,
            Err(r) => return self.engine_refusal(r),
        };
        if self.short_sale(k, oco.side, oco.qty.0) {
            return insufficient();
        }
        let headers = match self.count_order() {
            Ok(h) => h,
            Err(a) => return a,
        };
        let (list, tp, stop) = (
            oco.list_id.to_string(),
            oco.take_profit_id.to_string(),
            oco.stop_id.to_string(),
        );
        let reports = self.run(k, OrderCmd::Oco(oco));
        if let Some(r) = self.refusal(&reports, &[&list, &tp, &stop]) {
            self.apply(k, &reports, server_ms);
            return r;
        }
        let list_id = self.next_list_id;
        self.next_list_id += 1;
        // Listed above then below, as Binance lists a list's legs.
        let [above, below] = oco.legs();
        let a = self.remember(k, &above, list_id, server_ms);
        let b = self.remember(k, &below, list_id, server_ms);
        self.emit(a, "NEW", None, server_ms);
        self.emit(b, "NEW", None, server_ms);
        self.apply(k, &reports, server_ms);
        let answer = OcoAnswer {
            order_list_id: list_id,
            contingency_type: "OCO".into(),
            list_status_type: "EXEC_STARTED".into(),
            list_order_status: "EXECUTING".into(),
            list_client_order_id: list,
            transaction_time: server_ms,
            symbol: self.specs[k].name.to_string(),
            orders: [a, b]
                .map(|i| OcoLeg {
                    symbol: self.specs[k].name.to_string(),
                    order_id: self.orders[i].order_id,
                    client_order_id: self.orders[i].client_id.clone(),
                })
                .to_vec(),
            order_reports: [a, b]
                .map(|i| self.spot_order(i, false, server_ms))
                .to_vec(),
        };
        let mut out = ok(&answer);
        out.1 = headers;
        out
    }

    fn cancel(&mut self, k: usize, params: &Params, server_ms: i64) -> Answer {
        let Some(i) = self
            .find(k, params)
            .filter(|&i| self.orders[i].status.is_open())
        else {
            return err(400, Code::CancelRejected, "Unknown order sent.");
        };
        self.cancel_one(k, i, server_ms);
        self.order_answer(i, false, server_ms)
    }

    fn cancel_one(&mut self, k: usize, i: usize, server_ms: i64) {
        let Some(id) = ClientId::from(self.orders[i].client_id.as_str()).ok() else {
            return;
        };
        let reports = self.run(k, OrderCmd::Cancel(id));
        self.apply(k, &reports, server_ms);
    }

    fn cancel_all(&mut self, k: usize, server_ms: i64) -> Answer {
        let open: Vec<usize> = self
            .orders
            .open()
            .filter(|&i| self.orders[i].symbol == k)
            .collect();
        for &i in &open {
            self.cancel_one(k, i, server_ms);
        }
        if self.market.is_futures() {
            return ok(&Done {
                code: 200,
                msg: "The operation of cancel all open order is done.".into(),
            });
        }
        if open.is_empty() {
            return err(400, Code::CancelRejected, "Unknown order sent.");
        }
        self.orders_answer(&open, server_ms)
    }

    fn leverage(&mut self, k: usize, params: &Params) -> Answer {
        let Some(n) = params.get("leverage").and_then(|l| l.parse::<u32>().ok()) else {
            return refused(AuthError::missing("leverage"));
        };
        if !(1..=125).contains(&n) {
            return err(
                400,
                Code::InvalidLeverage,
                &format!("Leverage {n} is not valid"),
            );
        }
        if !self.sims[k].account_mut().set_leverage(n) {
            return err(
                400,
                Code::LeverageReduction,
                "Leverage reduction is not supported in Isolated Margin Mode with open positions.",
            );
        }
        ok(&LeverageAnswer {
            leverage: n,
            max_notional_value: "1000000000".into(),
            symbol: self.specs[k].name.to_string(),
        })
    }

    /// The local bracket table (`brackets::local_table`) for one symbol or all: USDⓈ-M
    /// answers one symbol as an object, COIN-M always a list, as Binance does.
    fn brackets(&self, k: Option<usize>) -> Answer {
        use crate::venues::binance::brackets::{SymbolBrackets, local_table};
        let of = |s: &SymbolSpec| SymbolBrackets {
            symbol: s.name.to_string(),
            notional_coef: None,
            brackets: local_table(self.market),
        };
        match k {
            Some(k) if self.market == Market::UsdM => ok(&of(&self.specs[k])),
            Some(k) => ok(&vec![of(&self.specs[k])]),
            None => ok(&self.specs.iter().map(of).collect::<Vec<_>>()),
        }
    }

    fn listen_key_request(
        &mut self,
        req: &Request,
        incoming: &Incoming<'_>,
        server_ms: i64,
    ) -> Answer {
        if let Err(e) = check_key(incoming, &self.api_key) {
            return refused(e);
        }
        self.expire_listen_key(server_ms);
        // Spot's PUT and DELETE name the key (query or body) and Binance refuses an
        // unknown one; USDⓈ-M's name none: they act on the account's key, if any.
        let named = Params::parse(incoming.query, incoming.body)
            .ok()
            .and_then(|p| p.get("listenKey").map(str::to_string));
        let futures = self.market.is_futures();
        let known = |d: &Self| match (&d.listen_key, &named) {
            (Some(k), Some(n)) => &k.key == n,
            (Some(_), None) => futures,
            (None, _) => false,
        };
        match req.method.as_str() {
            // One account: its active key is returned again (and kept alive).
            "POST" => {
                let key = match &mut self.listen_key {
                    Some(k) => {
                        k.kept = std::time::Instant::now();
                        k.key.clone()
                    }
                    None => {
                        let k: String = (0..60).map(|_| self.rng.alphanumeric()).collect();
                        self.listen_key = Some(ListenKey {
                            key: k.clone(),
                            kept: std::time::Instant::now(),
                        });
                        k
                    }
                };
                ok(&ListenKeyAnswer { listen_key: key })
            }
            "PUT" if known(self) => {
                if let Some(k) = &mut self.listen_key {
                    k.kept = std::time::Instant::now();
                }
                ok(&Empty {})
            }
            "DELETE" if known(self) => {
                self.close_listen_key(server_ms);
                ok(&Empty {})
            }
            "PUT" | "DELETE" if named.is_none() && !futures => {
                refused(AuthError::missing("listenKey"))
            }
            "PUT" | "DELETE" => err(400, Code::InvalidListenKey, UNKNOWN_LISTEN_KEY),
            _ => err(404, Code::Unknown, "Unknown path."),
        }
    }

    fn run(&mut self, k: usize, cmd: OrderCmd) -> Vec<Execution> {
        let sim = &mut self.sims[k];
        let now = sim.now_us();
        let req = OrderRequest {
            cmd,
            timestamp_ms: now / 1000,
            recv_window_ms: ENGINE_RECV_WINDOW_MS,
        };
        sim.send(&req, &[], now);
        sim.settle();
        let mut out = Vec::new();
        sim.drain_due(u64::MAX, |e| out.push(*e));
        out
    }

    /// The engine refused the request for one of `ids`: Binance's error answer.
    fn refusal(&self, reports: &[Execution], ids: &[&str]) -> Option<Answer> {
        reports.iter().find_map(|e| match e.report {
            Report::Rejected(r) if ids.contains(&e.client_id.as_str()) => {
                Some(self.engine_refusal(r))
            }
            _ => None,
        })
    }

    fn absorb(&mut self, k: usize, server_ms: i64) {
        let mut out = Vec::new();
        self.sims[k].drain_due(u64::MAX, |e| out.push(*e));
        if !out.is_empty() {
            self.apply(k, &out, server_ms);
        }
    }

    /// Reports become order states and events.
    fn apply(&mut self, k: usize, reports: &[Execution], server_ms: i64) {
        for e in reports {
            let cid = e.client_id.as_str();
            match e.report {
                Report::Funding { amount_e8 } => {
                    self.account_event("FUNDING_FEE", k, amount_e8, server_ms)
                }
                Report::Liquidated {
                    price,
                    qty,
                    loss_e8,
                } => self.liquidation(k, price, qty, loss_e8, server_ms),
                Report::Rejected(_) | Report::Accepted => {}
                report => {
                    let Some(i) = self.orders.by_client(k, cid) else {
                        continue;
                    };
                    match report {
                        Report::Filled {
                            price,
                            qty,
                            maker,
                            fee_e8,
                            leaves,
                        } => {
                            let o = &mut self.orders[i];
                            o.executed = Lots(o.executed.0 + qty.0);
                            o.quote_e8 = o
                                .quote_e8
                                .saturating_add(self.valuers[k].quote_e8(price, qty));
                            o.value_e8 = o
                                .value_e8
                                .saturating_add(self.valuers[k].value_e8(price, qty));
                            o.status = if leaves.0 == 0 {
                                Status::Filled
                            } else {
                                Status::PartiallyFilled
                            };
                            o.update_ms = server_ms;
                            let fill = Fill {
                                price,
                                qty,
                                fee_e8,
                                maker,
                                trade_id: self.next_trade_id,
                            };
                            self.next_trade_id += 1;
                            self.last_fills.push((o.client_id.clone(), fill));
                            self.emit(i, "TRADE", Some(fill), server_ms);
                            self.orders.settle(i);
                            self.account_event("ORDER", k, 0, server_ms);
                        }
                        Report::Canceled | Report::Expired => {
                            let status = if report == Report::Canceled {
                                Status::Canceled
                            } else {
                                Status::Expired
                            };
                            self.orders[i].status = status;
                            self.orders[i].update_ms = server_ms;
                            self.orders.settle(i);
                            self.emit(i, status.name(), None, server_ms);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// A liquidation: an `autoclose` order that closed the position at `price`.
    fn liquidation(&mut self, k: usize, price: Ticks, qty: Lots, loss_e8: i64, server_ms: i64) {
        let cid = format!("autoclose-{server_ms}");
        let i = self.orders.push(VenueOrder {
            symbol: k,
            order_id: self.next_order_id,
            list_id: -1,
            client_id: cid.clone(),
            buy: qty.0 < 0,
            kind: OrderKind::Market,
            liquidation: true,
            price,
            qty: Lots(qty.0.abs()),
            executed: Lots(qty.0.abs()),
            quote_e8: self.valuers[k].quote_e8(price, Lots(qty.0.abs())),
            value_e8: self.valuers[k].value_e8(price, Lots(qty.0.abs())),
            reduce_only: true,
            status: Status::Filled,
            time_ms: server_ms,
            update_ms: server_ms,
        });
        self.next_order_id += 1;
        let fill = Fill {
            price,
            qty: Lots(qty.0.abs()),
            fee_e8: 0,
            maker: false,
            trade_id: self.next_trade_id,
        };
        self.next_trade_id += 1;
        self.emit_with(i, "CALCULATED", Some(fill), -loss_e8, server_ms);
        self.account_event("ORDER", k, 0, server_ms);
    }

    /// Remembers an order the engine took.
    fn remember(&mut self, k: usize, o: &NewOrder, list_id: i64, server_ms: i64) -> usize {
        let v = VenueOrder {
            symbol: k,
            order_id: self.next_order_id,
            list_id,
            client_id: o.id.to_string(),
            buy: o.side == crate::core::OrderSide::Buy,
            kind: o.kind,
            liquidation: false,
            price: o.price,
            qty: o.qty,
            executed: Lots(0),
            quote_e8: 0,
            value_e8: 0,
            reduce_only: o.reduce_only,
            status: Status::New,
            time_ms: server_ms,
            update_ms: server_ms,
        };
        self.next_order_id += 1;
        self.orders.push(v)
    }

    /// The order a query names (`origClientOrderId` or `orderId`).
    fn find(&self, k: usize, params: &Params) -> Option<usize> {
        if let Some(c) = params.get("origClientOrderId") {
            return self.orders.by_client(k, c);
        }
        let id: u64 = params.get("orderId")?.parse().ok()?;
        self.orders.by_order_id(k, id)
    }
}

mod answers;
mod events;
mod history;
use history::History;

#[cfg(test)]
mod tests;
