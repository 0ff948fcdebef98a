//! The venue's trading desk: Binance's signed order and account endpoints, matched by
//! the backtest's simulated exchange (one per symbol, fed the replayed market), and
//! the user data stream's execution events.
//!
//! * Every signed request is checked as Binance checks it: `X-MBX-APIKEY` (-2014,
//!   -2015), the HMAC-SHA256 signature over the query string and body concatenated
//!   (-1022), `timestamp` against the server clock and `recvWindow` (-1021, -1131).
//! * Orders go to the [`SimExchange`] of their symbol with no added latency (the
//!   sockets are the latency); its reports become the order's state, the REST answer,
//!   and `executionReport` (spot) / `ORDER_TRADE_UPDATE` (USDⓈ-M) events.
//! * One account: the key pair the venue was started with. Each symbol's wallet
//!   starts with the configured capital (isolated, as the simulator accounts it).
//!
//! Cold path: this is the exchange's side.

use crate::core::decimal::canonical;
use crate::core::{Lots, Market, MarketEvent, SymbolSpec, Ticks, Valuer};
use crate::net::server::{Request, error_body};
use crate::sim::queue::QueueModel;
use crate::sim::{Execution, Method, Report, SimConfig, SimExchange};
use crate::venues::binance::DepthSnapshot;
use crate::venues::binance::keys::ApiKeys;
use crate::venues::binance::sign::{Request as Signed, Signer};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The account and matching the venue offers.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingConfig {
    /// Each symbol's starting wallet, 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Futures leverage until `POST /fapi/v1/leverage` changes it.
    pub leverage: u32,
    /// Maker and taker fee rates, 10⁻⁸ (`None`: Binance's base tier for the market).
    pub fees: Option<(i64, i64)>,
    /// Queue position model of resting orders.
    pub queue: QueueModel,
    /// New orders allowed per 10 s (`None`: Binance's, 100 spot / 300 USDⓈ-M).
    pub orders_per_10s: Option<u32>,
}

impl Default for TradingConfig {
    fn default() -> Self {
        Self {
            capital_e8: 100_000 * 100_000_000,
            leverage: 20,
            fees: None,
            queue: QueueModel::default(),
            orders_per_10s: None,
        }
    }
}

/// Open orders per symbol the matching engine holds at most (Binance's
/// `MAX_NUM_ORDERS` is 200 on spot).
const MAX_OPEN: usize = 200;

/// One symbol's account as the venue holds it (printed at the end of `minerva
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

/// An order as the venue remembers it (for queries, open orders and events).
#[derive(Debug, Clone)]
struct VenueOrder {
    symbol: usize,
    order_id: u64,
    list_id: i64,
    client_id: String,
    buy: bool,
    kind: String,
    tif: String,
    price: String,
    stop: String,
    qty: Lots,
    executed: Lots,
    quote_e8: i64,
    reduce_only: bool,
    status: &'static str,
    time_ms: i64,
    update_ms: i64,
}

impl VenueOrder {
    fn open(&self) -> bool {
        matches!(self.status, "NEW" | "PARTIALLY_FILLED")
    }
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
    sims: Vec<SimExchange>,
    orders: Vec<VenueOrder>,
    by_client: HashMap<(usize, String), usize>,
    next_order_id: u64,
    next_trade_id: u64,
    next_list_id: i64,
    next_cancel_id: u64,
    listen_key: Option<String>,
    rng: fastrand::Rng,
    orders_per_10s: u32,
    /// (Wall-clock 10 s window, new orders in it).
    order_count: (u64, u32),
    /// Events for the user data streams, published once the state lock is released.
    events: Vec<String>,
    /// Fills, for `trades` in FULL answers (the last request's).
    last_fills: Vec<(String, Fill)>,
}

/// A REST answer: status, extra headers and body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn err(status: u16, code: i32, msg: &str) -> Answer {
    (status, Vec::new(), error_body(code, msg))
}

fn ok(body: String) -> Answer {
    (200, Vec::new(), body.into_bytes())
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
    (acc.cost_e8() as i128 * 10i128.pow(qd) / pos.unsigned_abs() as i128) as i64
}

/// Base and quote asset of a symbol (from exchangeInfo when it says, else the name).
fn split_assets(name: &str, info: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(info);
    let needle = format!("\"symbol\":\"{name}\"");
    if let Some(at) = text.find(&needle) {
        let rest = &text[at..];
        let field = |k: &str| {
            let key = format!("\"{k}\":\"");
            let i = rest.find(&key)? + key.len();
            rest[i..].split('"').next().map(str::to_string)
        };
        if let (Some(b), Some(q)) = (field("baseAsset"), field("quoteAsset")) {
            return (b, q);
        }
    }
    let (b, q) = crate::core::split_assets(name);
    (b.to_string(), q.to_string())
}

/// Removes `signature=…` from a parameter string; returns the rest and the signature.
fn strip_signature(s: &str) -> (String, Option<&str>) {
    let mut rest = String::with_capacity(s.len());
    let mut sig = None;
    for kv in s.split('&').filter(|kv| !kv.is_empty()) {
        match kv.strip_prefix("signature=") {
            Some(v) => sig = Some(v),
            None => {
                if !rest.is_empty() {
                    rest.push('&');
                }
                rest.push_str(kv);
            }
        }
    }
    (rest, sig)
}

fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    crate::net::server::query_param(params, key).filter(|v| !v.is_empty())
}

fn missing(name: &str) -> Answer {
    err(
        400,
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

impl Desk {
    pub(crate) fn new(
        market: Market,
        specs: &[SymbolSpec],
        keys: &ApiKeys,
        cfg: &TradingConfig,
        exchange_info: &[u8],
    ) -> Self {
        let signer = Signer::new(keys);
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
            book: Default::default(),
        };
        Self {
            market,
            api_key: keys.api_key().to_string(),
            sims: specs
                .iter()
                .map(|s| SimExchange::new(s, signer.clone(), &sim_cfg))
                .collect(),
            signer,
            valuers: specs.iter().map(Valuer::new).collect(),
            assets: specs
                .iter()
                .map(|s| split_assets(&s.name, exchange_info))
                .collect(),
            specs: specs.to_vec(),
            orders: Vec::new(),
            by_client: HashMap::new(),
            next_order_id: 1,
            next_trade_id: 1,
            next_list_id: 1,
            next_cancel_id: 1,
            listen_key: None,
            rng: fastrand::Rng::with_seed(0x6465_736b),
            orders_per_10s: cfg
                .orders_per_10s
                .unwrap_or(if futures { 300 } else { 100 }),
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
                let st = self.sims[k].stats;
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

    /// True for a listen key this venue handed out.
    pub(crate) fn is_listen_key(&self, key: &str) -> bool {
        self.listen_key.as_deref() == Some(key)
    }

    /// True when `endpoint` (after the market's prefix) is one the desk answers.
    pub(crate) fn serves(futures: bool, version: &str, endpoint: &str) -> bool {
        match (futures, version, endpoint) {
            (false, "v3", e) => matches!(
                e,
                "order" | "openOrders" | "orderList/oco" | "account" | "userDataStream"
            ),
            (true, "v1", e) => matches!(
                e,
                "order" | "openOrders" | "allOpenOrders" | "leverage" | "listenKey"
            ),
            (true, "v2" | "v3", e) => matches!(e, "account" | "positionRisk" | "balance"),
            _ => false,
        }
    }

    /// Answers a trading or account request.
    pub(crate) fn handle(&mut self, req: &Request, endpoint: &str, server_ms: i64) -> Answer {
        let futures = self.market.is_futures();
        if matches!(endpoint, "userDataStream" | "listenKey") {
            return self.listen_key_request(req);
        }
        let params = match self.authenticate(req, server_ms) {
            Ok(p) => p,
            Err(a) => return a,
        };
        let symbol = param(&params, "symbol");
        let k = match symbol {
            Some(s) => match self.specs.iter().position(|x| x.name.as_str() == s) {
                Some(k) => Some(k),
                None => return err(400, -1121, "Invalid symbol."),
            },
            None => None,
        };
        let need_symbol = || missing("symbol");
        let answer = match (req.method.as_str(), endpoint) {
            ("POST", "order") => match k {
                Some(k) => self.new_order(k, &params, server_ms),
                None => need_symbol(),
            },
            ("POST", "orderList/oco") if !futures => match k {
                Some(k) => self.new_oco(k, &params, server_ms),
                None => need_symbol(),
            },
            ("DELETE", "order") => match k {
                Some(k) => self.cancel(k, &params, server_ms),
                None => need_symbol(),
            },
            ("GET", "order") => match k {
                Some(k) => match self.find(k, &params) {
                    Some(i) => ok(self.order_json(i, false, server_ms)),
                    None => err(400, -2013, "Order does not exist."),
                },
                None => need_symbol(),
            },
            ("GET", "openOrders") => {
                let list: Vec<String> = (0..self.orders.len())
                    .filter(|&i| {
                        self.orders[i].open() && k.is_none_or(|k| self.orders[i].symbol == k)
                    })
                    .map(|i| self.order_json(i, false, server_ms))
                    .collect();
                ok(format!("[{}]", list.join(",")))
            }
            ("DELETE", "openOrders" | "allOpenOrders") => match k {
                Some(k) => self.cancel_all(k, server_ms),
                None => need_symbol(),
            },
            ("GET", "account") => ok(self.account_json(server_ms)),
            ("GET", "balance") if futures => ok(self.balance_json(server_ms)),
            ("GET", "positionRisk") if futures => ok(self.positions_json(k, server_ms)),
            ("POST", "leverage") if futures => match k {
                Some(k) => self.leverage(k, &params),
                None => need_symbol(),
            },
            _ => err(404, -1000, "Unknown path."),
        };
        self.absorb_all(server_ms);
        answer
    }

    /// Key, signature, timestamp: the checks of every signed request. Returns the
    /// parameters (query then body, signature removed).
    fn authenticate(&self, req: &Request, server_ms: i64) -> Result<String, Answer> {
        let Some(key) = req.api_key.as_deref() else {
            return Err(err(401, -2014, "API-key format invalid."));
        };
        if key != self.api_key {
            return Err(err(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        let (q, q_sig) = strip_signature(&req.query);
        let (b, b_sig) = strip_signature(&req.body);
        let Some(sig) = b_sig.or(q_sig) else {
            return Err(missing("signature"));
        };
        // Binance signs the query string and the body concatenated as they are.
        let mut payload = q.clone();
        payload.push_str(&b);
        let good = self.signer.sign(payload.as_bytes());
        if !sig.as_bytes().eq_ignore_ascii_case(&good) {
            return Err(err(400, -1022, "Signature for this request is not valid."));
        }
        let params = match (q.is_empty(), b.is_empty()) {
            (false, false) => format!("{q}&{b}"),
            (true, _) => b,
            (_, true) => q,
        };
        let Some(ts) = param(&params, "timestamp").and_then(|t| t.parse::<i64>().ok()) else {
            return Err(missing("timestamp"));
        };
        let window = match param(&params, "recvWindow").map(str::parse::<i64>) {
            None => 5_000,
            Some(Ok(w)) if (0..=60_000).contains(&w) => w,
            Some(_) => return Err(err(400, -1131, "recvWindow must be less than 60000")),
        };
        if ts > server_ms + 1_000 {
            return Err(err(
                400,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
            ));
        }
        if server_ms - ts > window {
            return Err(err(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ));
        }
        Ok(params)
    }

    /// `params` without `timestamp`/`recvWindow`, restamped at the engine's clock and
    /// signed for it (the venue checked the client's clock already).
    fn engine_request(&self, k: usize, params: &str, extra: &str) -> Option<Signed> {
        let mut s = String::with_capacity(params.len() + 96);
        for kv in params.split('&') {
            if kv.starts_with("timestamp=") || kv.starts_with("recvWindow=") || kv.is_empty() {
                continue;
            }
            if !s.is_empty() {
                s.push('&');
            }
            s.push_str(kv);
        }
        s.push_str(extra);
        let _ = write!(
            s,
            "&recvWindow=60000&timestamp={}",
            self.sims[k].now_us() / 1000
        );
        let sig = self.signer.sign(s.as_bytes());
        let mut out = Signed::new();
        out.try_extend_from_slice(s.as_bytes()).ok()?;
        out.try_extend_from_slice(b"&signature=").ok()?;
        out.try_extend_from_slice(&sig).ok()?;
        Some(out)
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
        let headers = vec![("X-MBX-ORDER-COUNT-10S", n.to_string())];
        if n > self.orders_per_10s {
            let mut a = err(
                429,
                -1015,
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

    fn new_order(&mut self, k: usize, params: &str, server_ms: i64) -> Answer {
        let mut extra = String::new();
        let cid = match param(params, "newClientOrderId") {
            Some(c) => c.to_string(),
            None => {
                let c = self.generated_id();
                extra = format!("&newClientOrderId={c}");
                c
            }
        };
        if self
            .by_client
            .get(&(k, cid.clone()))
            .is_some_and(|&i| self.orders[i].open())
        {
            return if self.market.is_futures() {
                err(400, -4116, "ClientOrderId is duplicated.")
            } else {
                err(400, -2010, "Duplicate order sent.")
            };
        }
        let headers = match self.count_order() {
            Ok(h) => h,
            Err(a) => return a,
        };
        let Some(req) = self.engine_request(k, params, &extra) else {
            return err(400, -1100, "Illegal characters found in a parameter.");
        };
        let reports = self.run(k, Method::NewOrder, &req);
        if let Some(r) = self.refusal(&reports, &[&cid]) {
            self.apply(k, &reports, server_ms);
            return r;
        }
        let i = self.remember(k, &cid, params, "", -1, server_ms);
        self.emit(i, "NEW", None, server_ms);
        self.last_fills.clear();
        self.apply(k, &reports, server_ms);
        let full = match param(params, "newOrderRespType") {
            Some(t) => t == "FULL",
            // Spot's default is FULL for LIMIT and MARKET orders.
            None => {
                !self.market.is_futures()
                    && matches!(param(params, "type"), Some("LIMIT" | "MARKET"))
            }
        };
        let mut a = ok(self.order_json(i, full, server_ms));
        a.1 = headers;
        a
    }

    fn new_oco(&mut self, k: usize, params: &str, server_ms: i64) -> Answer {
        let (Some(list), Some(above), Some(below)) = (
            param(params, "listClientOrderId"),
            param(params, "aboveClientOrderId"),
            param(params, "belowClientOrderId"),
        ) else {
            return missing("listClientOrderId");
        };
        let (list, above, below) = (list.to_string(), above.to_string(), below.to_string());
        let headers = match self.count_order() {
            Ok(h) => h,
            Err(a) => return a,
        };
        let Some(req) = self.engine_request(k, params, "") else {
            return err(400, -1100, "Illegal characters found in a parameter.");
        };
        let reports = self.run(k, Method::NewOco, &req);
        if let Some(r) = self.refusal(&reports, &[&list, &above, &below]) {
            self.apply(k, &reports, server_ms);
            return r;
        }
        let list_id = self.next_list_id;
        self.next_list_id += 1;
        let a = self.remember(k, &above, params, "above", list_id, server_ms);
        let b = self.remember(k, &below, params, "below", list_id, server_ms);
        self.emit(a, "NEW", None, server_ms);
        self.emit(b, "NEW", None, server_ms);
        self.apply(k, &reports, server_ms);
        let legs = [a, b].map(|i| {
            format!(
                "{{\"symbol\":\"{}\",\"orderId\":{},\"clientOrderId\":\"{}\"}}",
                self.specs[k].name, self.orders[i].order_id, self.orders[i].client_id
            )
        });
        let reports = [a, b].map(|i| self.order_json(i, false, server_ms));
        let mut out = ok(format!(
            "{{\"orderListId\":{list_id},\"contingencyType\":\"OCO\",\"listStatusType\":\"EXEC_STARTED\",\"listOrderStatus\":\"EXECUTING\",\"listClientOrderId\":\"{list}\",\"transactionTime\":{server_ms},\"symbol\":\"{}\",\"orders\":[{}],\"orderReports\":[{}]}}",
            self.specs[k].name,
            legs.join(","),
            reports.join(",")
        ));
        out.1 = headers;
        out
    }

    fn cancel(&mut self, k: usize, params: &str, server_ms: i64) -> Answer {
        let Some(i) = self.find(k, params).filter(|&i| self.orders[i].open()) else {
            return err(400, -2011, "Unknown order sent.");
        };
        self.cancel_one(k, i, server_ms);
        ok(self.order_json(i, false, server_ms))
    }

    fn cancel_one(&mut self, k: usize, i: usize, server_ms: i64) {
        let extra = format!("&origClientOrderId={}", self.orders[i].client_id);
        let base = format!("symbol={}", self.specs[k].name);
        if let Some(req) = self.engine_request(k, &base, &extra) {
            let reports = self.run(k, Method::Cancel, &req);
            self.apply(k, &reports, server_ms);
        }
    }

    fn cancel_all(&mut self, k: usize, server_ms: i64) -> Answer {
        let open: Vec<usize> = (0..self.orders.len())
            .filter(|&i| self.orders[i].symbol == k && self.orders[i].open())
            .collect();
        for &i in &open {
            self.cancel_one(k, i, server_ms);
        }
        if self.market.is_futures() {
            return ok(
                "{\"code\":200,\"msg\":\"The operation of cancel all open order is done.\"}".into(),
            );
        }
        if open.is_empty() {
            return err(400, -2011, "Unknown order sent.");
        }
        let list: Vec<String> = open
            .iter()
            .map(|&i| self.order_json(i, false, server_ms))
            .collect();
        ok(format!("[{}]", list.join(",")))
    }

    fn leverage(&mut self, k: usize, params: &str) -> Answer {
        let Some(n) = param(params, "leverage").and_then(|l| l.parse::<u32>().ok()) else {
            return missing("leverage");
        };
        if !(1..=125).contains(&n) {
            return err(400, -4028, &format!("Leverage {n} is not valid"));
        }
        if !self.sims[k].account_mut().set_leverage(n) {
            return err(
                400,
                -4161,
                "Leverage reduction is not supported in Isolated Margin Mode with open positions.",
            );
        }
        ok(format!(
            "{{\"leverage\":{n},\"maxNotionalValue\":\"1000000000\",\"symbol\":\"{}\"}}",
            self.specs[k].name
        ))
    }

    fn listen_key_request(&mut self, req: &Request) -> Answer {
        match req.api_key.as_deref() {
            None => return err(401, -2014, "API-key format invalid."),
            Some(k) if k != self.api_key => {
                return err(
                    401,
                    -2015,
                    "Invalid API-key, IP, or permissions for action.",
                );
            }
            Some(_) => {}
        }
        match req.method.as_str() {
            // One account: its active key is returned again (and kept alive).
            "POST" => {
                let key = match &self.listen_key {
                    Some(k) => k.clone(),
                    None => {
                        let k: String = (0..60).map(|_| self.rng.alphanumeric()).collect();
                        self.listen_key = Some(k.clone());
                        k
                    }
                };
                ok(format!("{{\"listenKey\":\"{key}\"}}"))
            }
            "PUT" => match &self.listen_key {
                Some(_) => ok("{}".into()),
                None => err(400, -1125, "This listenKey does not exist."),
            },
            "DELETE" => {
                self.listen_key = None;
                ok("{}".into())
            }
            _ => err(404, -1000, "Unknown path."),
        }
    }

    /// Sends a request to symbol `k`'s engine and collects every report it caused.
    fn run(&mut self, k: usize, method: Method, req: &Signed) -> Vec<Execution> {
        let sim = &mut self.sims[k];
        let now = sim.now_us();
        sim.send(method, req, now);
        sim.settle();
        let mut out = Vec::new();
        sim.drain_due(u64::MAX, |e| out.push(*e));
        out
    }

    /// The engine refused the request for one of `ids`: Binance's error answer.
    fn refusal(&self, reports: &[Execution], ids: &[&str]) -> Option<Answer> {
        reports.iter().find_map(|e| match e.report {
            Report::Rejected(r) if ids.contains(&e.client_id.as_str()) => {
                Some(err(400, r.code(self.market), r.message(self.market)))
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
                Report::Rejected(_) => {}
                report => {
                    let Some(&i) = self.by_client.get(&(k, cid.to_string())) else {
                        continue;
                    };
                    match report {
                        Report::Accepted => {}
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
                                .saturating_add(self.valuers[k].value_e8(price, qty));
                            o.status = if leaves.0 == 0 {
                                "FILLED"
                            } else {
                                "PARTIALLY_FILLED"
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
                            self.account_event("ORDER", k, 0, server_ms);
                        }
                        Report::Canceled | Report::Expired => {
                            let (status, x) = if report == Report::Canceled {
                                ("CANCELED", "CANCELED")
                            } else {
                                ("EXPIRED", "EXPIRED")
                            };
                            self.orders[i].status = status;
                            self.orders[i].update_ms = server_ms;
                            self.emit(i, x, None, server_ms);
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
        let i = self.orders.len();
        self.orders.push(VenueOrder {
            symbol: k,
            order_id: self.next_order_id,
            list_id: -1,
            client_id: cid.clone(),
            buy: qty.0 < 0,
            kind: "LIQUIDATION".into(),
            tif: "IOC".into(),
            price: self.specs[k].price.format(price),
            stop: "0".into(),
            qty: Lots(qty.0.abs()),
            executed: Lots(qty.0.abs()),
            quote_e8: self.valuers[k].value_e8(price, Lots(qty.0.abs())),
            reduce_only: true,
            status: "FILLED",
            time_ms: server_ms,
            update_ms: server_ms,
        });
        self.next_order_id += 1;
        self.by_client.insert((k, cid), i);
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

    fn generated_id(&mut self) -> String {
        let n = self.next_cancel_id;
        self.next_cancel_id += 1;
        format!("web_{n:016}")
    }

    /// Remembers an order the engine took (`leg`: `above`/`below` in an OCO list).
    fn remember(
        &mut self,
        k: usize,
        cid: &str,
        params: &str,
        leg: &str,
        list_id: i64,
        server_ms: i64,
    ) -> usize {
        let get = |name: &str| -> Option<&str> {
            if leg.is_empty() {
                param(params, name)
            } else {
                let mut key = leg.to_string();
                key.push_str(&name[..1].to_ascii_uppercase());
                key.push_str(&name[1..]);
                param(params, &key).or_else(|| param(params, name))
            }
        };
        let spec = &self.specs[k];
        let kind = get("type").unwrap_or("LIMIT").to_string();
        let tif = match (kind.as_str(), get("timeInForce")) {
            (_, Some(t)) => t.to_string(),
            _ => "GTC".to_string(),
        };
        let price = get("price").map_or("0".into(), str::to_string);
        let stop = get("stopPrice").map_or("0".into(), str::to_string);
        let qty = param(params, "quantity")
            .and_then(|q| spec.qty.parse(q.as_bytes()).ok())
            .unwrap_or(Lots(0));
        let o = VenueOrder {
            symbol: k,
            order_id: self.next_order_id,
            list_id,
            client_id: cid.to_string(),
            buy: param(params, "side") == Some("BUY"),
            kind,
            tif,
            price,
            stop,
            qty,
            executed: Lots(0),
            quote_e8: 0,
            reduce_only: param(params, "reduceOnly") == Some("true"),
            status: "NEW",
            time_ms: server_ms,
            update_ms: server_ms,
        };
        self.next_order_id += 1;
        let i = self.orders.len();
        self.orders.push(o);
        self.by_client.insert((k, cid.to_string()), i);
        i
    }

    /// The order a query names (`origClientOrderId` or `orderId`).
    fn find(&self, k: usize, params: &str) -> Option<usize> {
        if let Some(c) = param(params, "origClientOrderId") {
            return self.by_client.get(&(k, c.to_string())).copied();
        }
        let id: u64 = param(params, "orderId")?.parse().ok()?;
        self.orders
            .iter()
            .position(|o| o.symbol == k && o.order_id == id)
    }

    fn quote_decimals(&self) -> u8 {
        8
    }

    /// Average fill price, 8 decimals (exact: integer arithmetic).
    fn avg_price(&self, o: &VenueOrder) -> String {
        if o.executed.0 == 0 {
            return "0".into();
        }
        let qd = self.specs[o.symbol].qty.decimals() as u32;
        let avg = o.quote_e8 as i128 * 10i128.pow(qd) / o.executed.0 as i128;
        fixed(avg.clamp(0, i64::MAX as i128) as i64, 8)
    }

    fn order_json(&self, i: usize, full: bool, server_ms: i64) -> String {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let qd = spec.qty.decimals();
        let side = if o.buy { "BUY" } else { "SELL" };
        let mut s = String::with_capacity(512);
        if self.market.is_futures() {
            let _ = write!(
                s,
                "{{\"orderId\":{},\"symbol\":\"{}\",\"status\":\"{}\",\"clientOrderId\":\"{}\",\"price\":\"{}\",\"avgPrice\":\"{}\",\"origQty\":\"{}\",\"executedQty\":\"{}\",\"cumQty\":\"{}\",\"cumQuote\":\"{}\",\"timeInForce\":\"{}\",\"type\":\"{}\",\"origType\":\"{}\",\"reduceOnly\":{},\"closePosition\":false,\"side\":\"{side}\",\"positionSide\":\"BOTH\",\"stopPrice\":\"{}\",\"workingType\":\"CONTRACT_PRICE\",\"priceProtect\":false,\"priceMatch\":\"NONE\",\"selfTradePreventionMode\":\"NONE\",\"goodTillDate\":0,\"time\":{},\"updateTime\":{}}}",
                o.order_id,
                spec.name,
                o.status,
                o.client_id,
                o.price,
                self.avg_price(o),
                fixed(o.qty.0, qd),
                fixed(o.executed.0, qd),
                fixed(o.executed.0, qd),
                fixed(o.quote_e8, self.quote_decimals()),
                o.tif,
                o.kind,
                o.kind,
                o.reduce_only,
                o.stop,
                o.time_ms,
                o.update_ms.max(o.time_ms),
            );
            return s;
        }
        let _ = write!(
            s,
            "{{\"symbol\":\"{}\",\"orderId\":{},\"orderListId\":{},\"clientOrderId\":\"{}\",\"transactTime\":{server_ms},\"price\":\"{}\",\"origQty\":\"{}\",\"executedQty\":\"{}\",\"cummulativeQuoteQty\":\"{}\",\"status\":\"{}\",\"timeInForce\":\"{}\",\"type\":\"{}\",\"side\":\"{side}\",\"stopPrice\":\"{}\",\"time\":{},\"updateTime\":{},\"isWorking\":{},\"workingTime\":{},\"origQuoteOrderQty\":\"0.00000000\",\"selfTradePreventionMode\":\"NONE\"",
            spec.name,
            o.order_id,
            o.list_id,
            o.client_id,
            o.price,
            fixed(o.qty.0, qd),
            fixed(o.executed.0, qd),
            fixed(o.quote_e8, self.quote_decimals()),
            o.status,
            o.tif,
            o.kind,
            o.stop,
            o.time_ms,
            o.update_ms.max(o.time_ms),
            o.kind != "STOP_LOSS",
            o.time_ms,
        );
        if full {
            s.push_str(",\"fills\":[");
            let quote = &self.assets[o.symbol].1;
            let mut first = true;
            for (cid, f) in &self.last_fills {
                if *cid != o.client_id {
                    continue;
                }
                if !first {
                    s.push(',');
                }
                first = false;
                let _ = write!(
                    s,
                    "{{\"price\":\"{}\",\"qty\":\"{}\",\"commission\":\"{}\",\"commissionAsset\":\"{quote}\",\"tradeId\":{}}}",
                    spec.price.format(f.price),
                    fixed(f.qty.0, qd),
                    fixed(f.fee_e8, 8),
                    f.trade_id
                );
            }
            s.push(']');
        }
        s.push('}');
        s
    }

    fn emit(&mut self, i: usize, x: &str, fill: Option<Fill>, server_ms: i64) {
        self.emit_with(i, x, fill, 0, server_ms);
    }

    /// An execution event for order `i` (`x`: NEW, TRADE, CANCELED, EXPIRED,
    /// CALCULATED), with the last fill and the realised profit when there is one.
    fn emit_with(
        &mut self,
        i: usize,
        x: &str,
        fill: Option<Fill>,
        realised_e8: i64,
        server_ms: i64,
    ) {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let qd = spec.qty.decimals();
        let side = if o.buy { "BUY" } else { "SELL" };
        let quote = &self.assets[o.symbol].1;
        let (last_px, last_qty, fee, maker, trade_id) = match fill {
            Some(f) => (
                spec.price.format(f.price),
                fixed(f.qty.0, qd),
                fixed(f.fee_e8, 8),
                f.maker,
                f.trade_id as i64,
            ),
            None => ("0".into(), fixed(0, qd), "0".into(), false, -1),
        };
        let mut s = String::with_capacity(512);
        if self.market.is_futures() {
            let _ = write!(
                s,
                "{{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":{server_ms},\"T\":{server_ms},\"o\":{{\"s\":\"{}\",\"c\":\"{}\",\"S\":\"{side}\",\"o\":\"{}\",\"f\":\"{}\",\"q\":\"{}\",\"p\":\"{}\",\"ap\":\"{}\",\"sp\":\"{}\",\"x\":\"{x}\",\"X\":\"{}\",\"i\":{},\"l\":\"{last_qty}\",\"z\":\"{}\",\"L\":\"{last_px}\",\"N\":\"{quote}\",\"n\":\"{fee}\",\"T\":{server_ms},\"t\":{},\"b\":\"0\",\"a\":\"0\",\"m\":{maker},\"R\":{},\"wt\":\"CONTRACT_PRICE\",\"ot\":\"{}\",\"ps\":\"BOTH\",\"cp\":false,\"rp\":\"{}\",\"pP\":false,\"si\":0,\"ss\":0,\"V\":\"NONE\",\"pm\":\"NONE\",\"gtd\":0}}}}",
                spec.name,
                o.client_id,
                o.kind,
                o.tif,
                fixed(o.qty.0, qd),
                o.price,
                self.avg_price(o),
                o.stop,
                o.status,
                o.order_id,
                fixed(o.executed.0, qd),
                trade_id.max(0),
                o.reduce_only,
                o.kind,
                canonical(realised_e8, 8),
            );
        } else {
            // A cancel's event names the cancel request in `c`, the order in `C`.
            let (c, orig) = if x == "CANCELED" {
                let n = self.next_cancel_id;
                self.next_cancel_id += 1;
                (format!("cancel_{n:016}"), o.client_id.clone())
            } else {
                (o.client_id.clone(), String::new())
            };
            let _ = write!(
                s,
                "{{\"e\":\"executionReport\",\"E\":{server_ms},\"s\":\"{}\",\"c\":\"{c}\",\"S\":\"{side}\",\"o\":\"{}\",\"f\":\"{}\",\"q\":\"{}\",\"p\":\"{}\",\"P\":\"{}\",\"F\":\"0.00000000\",\"g\":{},\"C\":\"{orig}\",\"x\":\"{x}\",\"X\":\"{}\",\"r\":\"NONE\",\"i\":{},\"l\":\"{last_qty}\",\"z\":\"{}\",\"L\":\"{last_px}\",\"n\":\"{fee}\",\"N\":{},\"T\":{server_ms},\"t\":{trade_id},\"w\":{},\"m\":{maker},\"M\":false,\"O\":{},\"Z\":\"{}\",\"Y\":\"0\",\"Q\":\"0.00000000\",\"W\":{},\"V\":\"NONE\"}}",
                spec.name,
                o.kind,
                o.tif,
                fixed(o.qty.0, qd),
                o.price,
                o.stop,
                o.list_id,
                o.status,
                o.order_id,
                fixed(o.executed.0, qd),
                if fill.is_some() {
                    format!("\"{quote}\"")
                } else {
                    "null".into()
                },
                o.open(),
                o.time_ms,
                fixed(o.quote_e8, 8),
                o.time_ms,
            );
        }
        self.events.push(s);
    }

    /// The account changed (`m`: ORDER after a fill, FUNDING_FEE).
    fn account_event(&mut self, reason: &str, k: usize, change_e8: i64, server_ms: i64) {
        let sim = &self.sims[k];
        let acc = sim.account();
        let (base, quote) = &self.assets[k];
        let spec = &self.specs[k];
        let pos = acc.position();
        let s = if self.market.is_futures() {
            let entry = match entry_e8(acc, spec) {
                0 => "0".to_string(),
                e => fixed(e, 8),
            };
            let up = sim.mark().map_or(0, |m| acc.unrealised_e8(m));
            format!(
                "{{\"e\":\"ACCOUNT_UPDATE\",\"E\":{server_ms},\"T\":{server_ms},\"a\":{{\"m\":\"{reason}\",\"B\":[{{\"a\":\"{quote}\",\"wb\":\"{}\",\"cw\":\"{}\",\"bc\":\"{}\"}}],\"P\":[{{\"s\":\"{}\",\"pa\":\"{}\",\"ep\":\"{entry}\",\"cr\":\"{}\",\"up\":\"{}\",\"mt\":\"isolated\",\"iw\":\"{}\",\"ps\":\"BOTH\"}}]}}}}",
                canonical(acc.wallet_e8, 8),
                canonical(acc.available_e8(), 8),
                canonical(change_e8, 8),
                spec.name,
                canonical(pos.0, spec.qty.decimals()),
                canonical(acc.realised_e8, 8),
                canonical(up, 8),
                canonical(acc.margin_e8(), 8),
            )
        } else {
            format!(
                "{{\"e\":\"outboundAccountPosition\",\"E\":{server_ms},\"u\":{server_ms},\"B\":[{{\"a\":\"{base}\",\"f\":\"{}\",\"l\":\"0\"}},{{\"a\":\"{quote}\",\"f\":\"{}\",\"l\":\"{}\"}}]}}",
                fixed(pos.0.max(0), spec.qty.decimals()),
                fixed(acc.available_e8(), 8),
                fixed(acc.margin_e8(), 8),
            )
        };
        self.events.push(s);
    }

    fn account_json(&self, server_ms: i64) -> String {
        if !self.market.is_futures() {
            let mut b = Vec::new();
            for (k, sim) in self.sims.iter().enumerate() {
                let acc = sim.account();
                let (base, quote) = &self.assets[k];
                let qd = self.specs[k].qty.decimals();
                b.push(format!(
                    "{{\"asset\":\"{base}\",\"free\":\"{}\",\"locked\":\"0\"}}",
                    fixed(acc.position().0.max(0), qd)
                ));
                b.push(format!(
                    "{{\"asset\":\"{quote}\",\"free\":\"{}\",\"locked\":\"{}\"}}",
                    fixed(acc.available_e8(), 8),
                    fixed(acc.margin_e8(), 8)
                ));
            }
            return format!(
                "{{\"makerCommission\":10,\"takerCommission\":10,\"buyerCommission\":0,\"sellerCommission\":0,\"canTrade\":true,\"canWithdraw\":false,\"canDeposit\":false,\"brokered\":false,\"requireSelfTradePrevention\":false,\"preventSor\":false,\"updateTime\":{server_ms},\"accountType\":\"SPOT\",\"balances\":[{}],\"permissions\":[\"SPOT\"],\"uid\":1}}",
                b.join(",")
            );
        }
        let (mut wallet, mut avail, mut upnl) = (0i64, 0i64, 0i64);
        for sim in &self.sims {
            let acc = sim.account();
            wallet = wallet.saturating_add(acc.wallet_e8);
            avail = avail.saturating_add(acc.available_e8());
            upnl = upnl.saturating_add(sim.mark().map_or(0, |m| acc.unrealised_e8(m)));
        }
        let quote = self.assets.first().map_or("USDT", |a| a.1.as_str());
        format!(
            "{{\"totalInitialMargin\":\"0\",\"totalMaintMargin\":\"0\",\"totalWalletBalance\":\"{w}\",\"totalUnrealizedProfit\":\"{u}\",\"totalMarginBalance\":\"{m}\",\"availableBalance\":\"{a}\",\"maxWithdrawAmount\":\"{a}\",\"canTrade\":true,\"updateTime\":{server_ms},\"assets\":[{{\"asset\":\"{quote}\",\"walletBalance\":\"{w}\",\"unrealizedProfit\":\"{u}\",\"marginBalance\":\"{m}\",\"availableBalance\":\"{a}\",\"maxWithdrawAmount\":\"{a}\",\"updateTime\":{server_ms}}}],\"positions\":{}}}",
            self.positions_json(None, server_ms),
            w = canonical(wallet, 8),
            u = canonical(upnl, 8),
            m = canonical(wallet.saturating_add(upnl), 8),
            a = canonical(avail, 8),
        )
    }

    fn balance_json(&self, server_ms: i64) -> String {
        let quote = self.assets.first().map_or("USDT", |a| a.1.as_str());
        let wallet: i64 = self.sims.iter().map(|s| s.account().wallet_e8).sum();
        let avail: i64 = self.sims.iter().map(|s| s.account().available_e8()).sum();
        format!(
            "[{{\"accountAlias\":\"minerva\",\"asset\":\"{quote}\",\"balance\":\"{}\",\"crossWalletBalance\":\"{}\",\"crossUnPnl\":\"0\",\"availableBalance\":\"{}\",\"maxWithdrawAmount\":\"{}\",\"marginAvailable\":true,\"updateTime\":{server_ms}}}]",
            canonical(wallet, 8),
            canonical(wallet, 8),
            canonical(avail, 8),
            canonical(avail, 8),
        )
    }

    fn positions_json(&self, only: Option<usize>, server_ms: i64) -> String {
        let mut list = Vec::new();
        for (k, sim) in self.sims.iter().enumerate() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let acc = sim.account();
            let spec = &self.specs[k];
            let pos = acc.position();
            let entry = entry_e8(acc, spec);
            let mark = sim.mark();
            let up = mark.map_or(0, |m| acc.unrealised_e8(m));
            let notional = mark.map_or(0, |m| self.valuers[k].value_e8(m, Lots(pos.0.abs())));
            list.push(format!(
                "{{\"symbol\":\"{}\",\"positionAmt\":\"{}\",\"entryPrice\":\"{}\",\"breakEvenPrice\":\"{}\",\"markPrice\":\"{}\",\"unRealizedProfit\":\"{}\",\"liquidationPrice\":\"0\",\"leverage\":\"{}\",\"maxNotionalValue\":\"1000000000\",\"marginType\":\"isolated\",\"isolatedMargin\":\"{}\",\"isAutoAddMargin\":\"false\",\"positionSide\":\"BOTH\",\"notional\":\"{}\",\"isolatedWallet\":\"{}\",\"updateTime\":{server_ms}}}",
                spec.name,
                canonical(pos.0, spec.qty.decimals()),
                canonical(entry, 8),
                canonical(entry, 8),
                mark.map_or("0".into(), |m| spec.price.format(m)),
                canonical(up, 8),
                acc.leverage(),
                canonical(acc.margin_e8(), 8),
                canonical(if pos.0 < 0 { -notional } else { notional }, 8),
                canonical(acc.margin_e8(), 8),
            ));
        }
        format!("[{}]", list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's published spot example key pair (docs/binance-protocol.md §9).
    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const TS: i64 = 1_499_827_319_559;

    fn desk(orders_per_10s: Option<u32>) -> Desk {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let keys = ApiKeys::new(KEY.into(), SECRET.to_vec());
        let mut d = Desk::new(
            Market::Spot,
            std::slice::from_ref(&spec),
            &keys,
            &TradingConfig {
                orders_per_10s,
                ..TradingConfig::default()
            },
            b"",
        );
        let snap = crate::venues::binance::snapshot::parse_snapshot(
            br#"{"lastUpdateId":10,"bids":[["100.00","5"]],"asks":[["100.02","5"]]}"#,
            &spec,
        )
        .unwrap();
        d.on_snapshot(0, &snap);
        d
    }

    fn post(key: Option<&str>, query: &str, body: &str) -> Request {
        Request {
            method: "POST".into(),
            path: "/api/v3/order".into(),
            query: query.into(),
            body: body.into(),
            api_key: key.map(str::to_string),
            ..Request::default()
        }
    }

    fn code(a: &Answer) -> (u16, i64) {
        let body = String::from_utf8_lossy(&a.2);
        let code = body
            .split("\"code\":")
            .nth(1)
            .and_then(|c| c.split([',', '}']).next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (a.0, code)
    }

    #[test]
    fn signed_requests_are_checked_as_binance_checks_them() {
        let mut d = desk(None);
        // The published request and signature: accepted as signed, then refused for
        // its symbol (this venue lists BTCUSDT only).
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let published = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        let body = format!("{payload}&signature={published}");
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &body), "order", TS)),
            (400, -1121)
        );
        // Upper-case hex is the same signature.
        let upper = format!("{payload}&signature={}", published.to_ascii_uppercase());
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &upper), "order", TS)),
            (400, -1121)
        );
        // Query string and body signed as their concatenation.
        let (q, b) = payload.split_at(payload.find("quantity").unwrap());
        let q = q.trim_end_matches('&');
        let sig = Signer::new(&ApiKeys::new(KEY.into(), SECRET.to_vec()))
            .sign(format!("{q}{b}").as_bytes());
        let mixed = format!("{b}&signature={}", std::str::from_utf8(&sig).unwrap());
        assert_eq!(
            code(&d.handle(&post(Some(KEY), q, &mixed), "order", TS)),
            (400, -1121)
        );
        // Tampered, missing signature, wrong key, no key, stale, early.
        let tampered = body.replace("price=0.1", "price=0.2");
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &tampered), "order", TS)),
            (400, -1022)
        );
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", payload), "order", TS)),
            (400, -1102)
        );
        assert_eq!(
            code(&d.handle(&post(Some("other"), "", &body), "order", TS)),
            (401, -2015)
        );
        assert_eq!(
            code(&d.handle(&post(None, "", &body), "order", TS)),
            (401, -2014)
        );
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &body), "order", TS + 5_001)),
            (400, -1021)
        );
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &body), "order", TS - 1_001)),
            (400, -1021)
        );
        assert_eq!(
            code(&d.handle(&post(Some(KEY), "", &body), "order", TS + 5_000)),
            (400, -1121)
        );
    }

    fn order(d: &mut Desk, cid: &str, price: &str) -> Answer {
        let signer = Signer::new(&ApiKeys::new(KEY.into(), SECRET.to_vec()));
        let p = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price={price}&newClientOrderId={cid}&timestamp={TS}"
        );
        let sig = signer.sign(p.as_bytes());
        let body = format!("{p}&signature={}", std::str::from_utf8(&sig).unwrap());
        d.handle(&post(Some(KEY), "", &body), "order", TS)
    }

    #[test]
    fn orders_rest_fill_and_answer_with_binance_shapes_and_limits() {
        let mut d = desk(None);
        let a = order(&mut d, "a1", "99.00");
        assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));
        let text = String::from_utf8_lossy(&a.2).into_owned();
        assert!(
            text.contains("\"status\":\"NEW\"") && text.contains("\"clientOrderId\":\"a1\""),
            "{text}"
        );
        assert!(
            a.1.iter()
                .any(|(k, v)| *k == "X-MBX-ORDER-COUNT-10S" && v == "1")
        );
        // The same id while it is open: a duplicate.
        assert_eq!(code(&order(&mut d, "a1", "99.00")), (400, -2010));
        // Crossing: fills at the ask, as taker, with a NEW then a TRADE event.
        let b = order(&mut d, "b1", "100.02");
        let text = String::from_utf8_lossy(&b.2).into_owned();
        assert!(
            text.contains("\"status\":\"FILLED\"")
                && text.contains("\"fills\":[{\"price\":\"100.02\""),
            "{text}"
        );
        let events = d.take_events();
        assert!(
            events.iter().any(|e| e.contains("\"c\":\"b1\"")
                && e.contains("\"x\":\"TRADE\"")
                && e.contains("\"m\":false")),
            "{events:?}"
        );
        // Off the tick grid: Binance's filter refusal.
        assert_eq!(code(&order(&mut d, "c1", "99.001")), (400, -1013));
        assert_eq!(d.accounts()[0].position, Lots(10_000));
        // Over the order count: 429 -1015 with Retry-After (the window is wall-clock
        // 10 s; within a handful of orders the limit of 2 is crossed).
        let mut d = desk(Some(2));
        let refused = (0..6)
            .map(|i| order(&mut d, &format!("o{i}"), "99.00"))
            .find(|a| a.0 == 429);
        let r = refused.expect("a 429 within 6 orders at 2 per 10 s");
        assert_eq!(code(&r), (429, -1015));
        assert!(r.1.iter().any(|(k, _)| *k == "Retry-After"));
    }

    #[test]
    fn amounts_and_assets() {
        assert_eq!(fixed(150_000_000, 8), "1.50000000");
        assert_eq!(fixed(0, 3), "0.000");
        assert_eq!(fixed(12, 0), "12");
        assert_eq!(split_assets("BTCUSDT", b""), ("BTC".into(), "USDT".into()));
        assert_eq!(
            split_assets(
                "XYZ",
                br#"{"symbols":[{"symbol":"XYZ","baseAsset":"X","quoteAsset":"YZ"}]}"#
            ),
            ("X".into(), "YZ".into())
        );
        let (rest, sig) = strip_signature("a=1&signature=ff&b=2");
        assert_eq!((rest.as_str(), sig), ("a=1&b=2", Some("ff")));
    }
}
