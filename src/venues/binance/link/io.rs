//! The link's I/O thread: REST requests, each order's state, the reports back to the
//! gateway. Cold relative to the pipeline (its own thread); allocates freely.

use super::{Command, LinkConfig, LinkError, LinkStats, Shared, Startup, orders_of, wall_ms};
use crate::core::decimal::parse_scaled;
use crate::core::{
    ClientId, Execution, Lots, Market, OrderCmd, OrderRequest, Reject, Report, SymbolSpec, Valuer,
    client_id,
};
use crate::net::http::{Client, RestError};
use crate::venues::OnStart;
use crate::venues::binance::endpoints::Rest;
use crate::venues::binance::errors::{self, Code, ErrorBody};
use crate::venues::binance::keys::{API_KEY_HEADER, ApiKeys};
use crate::venues::binance::limits;
use crate::venues::binance::orders::{self, OcoState, OrderState, PositionState, Status};
use crate::venues::binance::sign::{DEFAULT_RECV_WINDOW_MS, Signer};
use crate::venues::link::{Follow, Found, Ledger, REACH_MARGIN_MS, log_malformed};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// From the user stream thread to the I/O thread.
pub(super) enum UserMsg {
    /// A session opened (after the first: reconcile).
    Connected,
    /// The session was lost: until the next one, fills are not heard.
    Disconnected,
    /// An event.
    Event(Vec<u8>),
}

/// Status and cumulative fill an answer or query showed of an order ahead of its
/// events: booked when the events have not brought it by `deadline`.
#[derive(Debug, Clone, Copy)]
struct Pending {
    deadline: Instant,
    status: Status,
    cum: Lots,
    quote_e8: i64,
    taker: bool,
}

/// `GET time`'s answer.
#[derive(serde::Deserialize)]
struct ServerTime {
    #[serde(rename = "serverTime")]
    server_time: i64,
}

/// The I/O thread: REST, the order states, the reports.
pub(super) struct Io {
    rest: Client,
    spec: SymbolSpec,
    valuer: Valuer,
    market: Market,
    signer: Signer,
    keys: Arc<ApiKeys>,
    time_sync: Duration,
    fees: (i64, i64),
    fill_wait: Duration,
    shared: Arc<Shared>,
    user: Receiver<UserMsg>,
    /// The orders followed, and whether the user stream is up.
    ledger: Ledger,
    /// Fills answers or queries showed ahead of their events, by order.
    pending: HashMap<ClientId, Pending>,
    lists: HashMap<ClientId, [ClientId; 2]>,
    next_sync: Instant,
    next_requery: Instant,
    /// Until when (wall ms) nothing but cancels is sent: Binance counts weight and
    /// bans per IP, so every link of this process to one server shares it (a run of
    /// several symbols: one link's 429 pauses all; sending on would earn a 418 ban).
    paused_until: Arc<AtomicU64>,
    /// The request weight the server says this minute used.
    budget: limits::Budget,
    weight_limit: u32,
    spin: bool,
    on_start: OnStart,
    /// The leverage to set at start (futures).
    wish: Option<super::LeverageWish>,
    /// Where account events' snapshots go.
    pub(super) account: Option<crate::venues::AccountSink>,
    /// The symbol and asset snapshots are about.
    pub(super) subject: super::account::Subject,
    quote: String,
    base: String,
    /// The asset balances, fees and PnL are in: the quote asset, the coin on COIN-M.
    margin_asset: String,
}

/// How long the pause `p` still holds, if it does.
pub(super) fn paused_left(p: &AtomicU64) -> Option<Duration> {
    let now = wall_ms().max(0) as u64;
    let until = p.load(Ordering::Relaxed);
    (until > now).then(|| Duration::from_millis(until - now))
}

/// Extends the pause `p` to `wait` from now (a 429's or 418's `Retry-After`).
pub(super) fn pause(p: &AtomicU64, wait: Duration) {
    let until = (wall_ms().max(0) as u64).saturating_add(wait.as_millis() as u64);
    p.fetch_max(until, Ordering::Relaxed);
}

/// The pause shared by every link of this process to the REST server `rest`. Cold.
pub(super) fn paused_until_of(rest: &str) -> Arc<AtomicU64> {
    static PAUSES: std::sync::Mutex<Vec<(String, Arc<AtomicU64>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut all = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = all.iter().find(|(r, _)| r == rest) {
        return p.clone();
    }
    let p = Arc::new(AtomicU64::new(0));
    all.push((rest.to_string(), p.clone()));
    p
}

impl Io {
    pub(super) fn new(
        cfg: &LinkConfig,
        shared: Arc<Shared>,
        out: rtrb::Producer<Execution>,
        user: Receiver<UserMsg>,
    ) -> Self {
        let (base, quote) = crate::core::split_assets(&cfg.spec.name);
        Self {
            rest: Client::new(&cfg.rest, Duration::from_secs(5)),
            valuer: Valuer::new(&cfg.spec),
            market: cfg.spec.market,
            spec: cfg.spec.clone(),
            signer: Signer::new(&cfg.keys),
            keys: cfg.keys.clone(),
            time_sync: cfg.time_sync,
            fees: cfg.fees,
            fill_wait: cfg.fill_wait,
            ledger: Ledger::new(out, shared.clone(), &cfg.spec),
            shared,
            user,
            pending: HashMap::new(),
            lists: HashMap::new(),
            next_sync: Instant::now(),
            next_requery: Instant::now(),
            paused_until: paused_until_of(&cfg.rest),
            budget: Default::default(),
            weight_limit: limits::default_weight_limit(cfg.spec.market),
            spin: cfg.spin,
            on_start: cfg.on_start,
            wish: cfg.leverage,
            account: cfg.account.clone(),
            subject: super::account::Subject::of(&cfg.spec),
            margin_asset: if cfg.spec.market == Market::CoinM {
                crate::venues::binance::exchange_info::assets_of(&cfg.spec.name, Market::CoinM).0
            } else {
                quote.to_string()
            },
            quote: quote.to_string(),
            base: base.to_string(),
        }
    }

    fn futures(&self) -> bool {
        self.market.is_futures()
    }

    /// Whether a 429 or 418 (this link's or another's to the same server) still holds.
    fn paused(&self) -> bool {
        paused_left(&self.paused_until).is_some()
    }

    /// Holds every link to this server for `wait` (a 429's or 418's `Retry-After`).
    fn pause(&self, wait: Duration) {
        pause(&self.paused_until, wait);
    }

    fn path(&self, e: Rest) -> &'static str {
        e.on(self.market)
    }

    /// A signed request of the link's own (queries, start-up); a clock refusal
    /// (-1021) resynchronises the server time and tries once more.
    fn call(
        &mut self,
        method: &str,
        path: &str,
        params: &str,
    ) -> Result<(u16, Vec<u8>), RestError> {
        let key = self.keys.api_key().to_string();
        for attempt in 0..2 {
            let signed = self
                .signer
                .sign_query(params, DEFAULT_RECV_WINDOW_MS, self.server_ms());
            let headers = [(API_KEY_HEADER, key.as_str())];
            let r = if method == "POST" || method == "PUT" {
                self.rest
                    .request(method, path, signed.as_bytes(), &headers)?
            } else {
                let p = format!("{path}?{signed}");
                self.rest.request(method, &p, b"", &headers)?
            };
            self.budget.note_answer(&r);
            if matches!(r.status, 429 | 418) {
                LinkStats::bump(&self.shared.counters.rate_limited);
                self.pause(Duration::from_secs(r.retry_after.unwrap_or(1).max(1)));
            }
            if attempt == 0
                && r.status == 400
                && ErrorBody::read(&r.body).is_some_and(|e| e.code == Code::InvalidTimestamp as i64)
            {
                self.sync_time()?;
                LinkStats::bump(&self.shared.counters.restamped);
                continue;
            }
            return Ok((r.status, r.body));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// A signed `GET` of start-up, its answer read as `T`.
    fn start_get<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &'static str,
        endpoint: Rest,
        params: &str,
    ) -> Result<T, LinkError> {
        let (status, body) = self.call("GET", self.path(endpoint), params)?;
        if status != 200 {
            return Err(LinkError::Refused {
                what,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        sonic_rs::from_slice(&body).map_err(|e| LinkError::Unreadable {
            what,
            why: e.to_string(),
        })
    }

    /// Start-up: clock, stale orders, foreign orders and position (refused, adopted or
    /// flattened as `on_start` says), available balance.
    pub(super) fn start(&mut self) -> Result<Startup, LinkError> {
        self.sync_time()?;
        let sym = format!("symbol={}", self.spec.name);
        let open: Vec<OrderState> = self.start_get("open orders", Rest::OpenOrders, &sym)?;
        let mut s = Startup::default();
        let mut foreign = Vec::new();
        for o in open {
            let c = &o.client_order_id;
            if c.starts_with("mnv") {
                let p = format!("{sym}&origClientOrderId={c}");
                let (st, _) = self.call("DELETE", self.path(Rest::Order), &p)?;
                if st == 200 {
                    s.stale_cancelled += 1;
                }
            } else {
                foreign.push(c.clone());
            }
        }
        s.foreign_open = foreign.len() as u32;
        if self.futures() {
            s.position = Lots(self.read_position(&sym)?);
        }
        let found = s.position.0 != 0 || !foreign.is_empty();
        match self.on_start {
            OnStart::Refuse if found => {
                let ids: Vec<&str> = foreign.iter().map(String::as_str).collect();
                return Err(LinkError::FoundAtStart(format!(
                    "position {} lots on {}, {} open order(s) not Minerva's{}",
                    s.position.0,
                    self.spec.name,
                    foreign.len(),
                    if ids.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", ids.join(", "))
                    }
                )));
            }
            OnStart::Flatten if found => {
                for c in &foreign {
                    let p = format!("{sym}&origClientOrderId={c}");
                    let (st, body) = self.call("DELETE", self.path(Rest::Order), &p)?;
                    if st != 200 {
                        return Err(LinkError::Flatten(format!(
                            "cancel of {c}: HTTP {st}: {}",
                            String::from_utf8_lossy(&body)
                        )));
                    }
                }
                s.foreign_open = 0;
                if s.position.0 != 0 {
                    let side = if s.position.0 > 0 { "SELL" } else { "BUY" };
                    let qty = self.spec.qty.format(Lots(s.position.0.abs()));
                    let p = format!(
                        "{sym}&side={side}&type=MARKET&quantity={qty}&reduceOnly=true&newClientOrderId=mnvflatten{}",
                        wall_ms()
                    );
                    let (st, body) = self.call("POST", self.path(Rest::Order), &p)?;
                    if st != 200 {
                        return Err(LinkError::Flatten(format!(
                            "market order closing {} lots: HTTP {st}: {}",
                            s.position.0,
                            String::from_utf8_lossy(&body)
                        )));
                    }
                    let left = self.read_position(&sym)?;
                    if left != 0 {
                        return Err(LinkError::Flatten(format!(
                            "{left} lots still open after the market order"
                        )));
                    }
                    tracing::warn!(
                        lots = s.position.0,
                        "live link: position found at start closed (--on-start flatten)"
                    );
                    s.position = Lots(0);
                }
            }
            _ => {}
        }
        self.shared.position.store(s.position.0, Ordering::Relaxed);
        s.available_e8 = self.available_balance();
        if let (true, Some(wish)) = (self.futures(), self.wish) {
            s.leverage = Some(self.set_leverage(&sym, wish, s.available_e8)?);
        }
        tracing::info!(
            symbol = %self.spec.name,
            position_lots = s.position.0,
            available = ?s.available_e8.map(crate::core::Dec8),
            stale_cancelled = s.stale_cancelled,
            foreign_open = s.foreign_open,
            "live link: account read at start"
        );
        s.offset_ms = self.shared.offset_ms.load(Ordering::Relaxed);
        Ok(s)
    }

    /// The available balance operations are margined in (spot: the quote asset's
    /// free balance; futures: the margin asset's available balance), 10⁻⁸; `None` (and
    /// logged) when the account cannot be read: sizing then follows the strategy.
    fn available_balance(&mut self) -> Option<i64> {
        use crate::venues::binance::account::{FuturesBalanceEntry, SpotAccount};
        let (base, quote) =
            crate::venues::binance::exchange_info::assets_of(&self.spec.name, self.market);
        let asset = if self.market == Market::CoinM {
            base
        } else {
            quote
        };
        let text = if self.futures() {
            match self.start_get::<Vec<FuturesBalanceEntry>>("balance", Rest::Balance, "") {
                Ok(b) => b
                    .into_iter()
                    .find(|e| e.asset == asset)
                    .map(|e| e.available_balance),
                Err(e) => {
                    tracing::warn!(error = %e, "live link: the balance could not be read; sizing from the strategy's capital");
                    return None;
                }
            }
        } else {
            match self.start_get::<SpotAccount>("account", Rest::Account, "") {
                Ok(a) => a
                    .balances
                    .into_iter()
                    .find(|b| b.asset == asset)
                    .map(|b| b.free),
                Err(e) => {
                    tracing::warn!(error = %e, "live link: the account could not be read; sizing from the strategy's capital");
                    return None;
                }
            }
        };
        // No entry for the asset: nothing available.
        let text = text.unwrap_or_else(|| "0".into());
        // Binance writes 8 places; anything finer is cut, not refused.
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let cut = format!("{int}.{}", &frac[..frac.len().min(8)]);
        let v = parse_scaled(cut.trim_end_matches('.').as_bytes(), 8).ok();
        if v.is_none() {
            tracing::warn!(balance = %text, "live link: the balance did not read");
        }
        v
    }

    /// Futures start-up: isolated margin, and the highest leverage up to the strategy's
    /// at which its largest position fits a bracket allowing it (brackets that do not
    /// read leave the strategy's cap, which the exchange then checks). Returns the
    /// leverage set.
    fn set_leverage(
        &mut self,
        sym: &str,
        wish: super::LeverageWish,
        available_e8: Option<i64>,
    ) -> Result<u32, LinkError> {
        let capital = available_e8.map_or(wish.capital_e8, |a| a.min(wish.capital_e8));
        let margin_e8 = (capital as i128 * wish.in_use_ppm as i128 / 1_000_000) as i64;
        let chosen = match self.call("GET", self.path(Rest::LeverageBracket), sym) {
            Ok((200, body)) => match crate::venues::binance::brackets::read(&body) {
                Ok(list) => list
                    .iter()
                    .find(|b| b.symbol == self.spec.name.as_str())
                    .or(list.first())
                    .map_or(wish.max, |b| {
                        crate::venues::binance::brackets::choose_leverage(
                            &b.brackets,
                            wish.max,
                            margin_e8 as f64 / 1e8,
                        )
                    }),
                Err(why) => {
                    tracing::warn!(%why, "live link: leverage brackets did not read; asking for the strategy's leverage");
                    wish.max
                }
            },
            Ok((status, body)) => {
                tracing::warn!(status, body = %String::from_utf8_lossy(&body), "live link: leverage brackets refused; asking for the strategy's leverage");
                wish.max
            }
            Err(e) => return Err(e.into()),
        };
        let (status, body) = self.call(
            "POST",
            self.path(Rest::MarginType),
            &format!("{sym}&marginType=ISOLATED"),
        )?;
        let code = ErrorBody::read(&body).map(|e| e.code);
        // -4046: isolated already. Anything else (an open position blocks the change)
        // is said, and the account's margin type stays.
        if status != 200 && code != Some(Code::NoNeedToChangeMarginType as i64) {
            tracing::warn!(status, body = %String::from_utf8_lossy(&body), "live link: the margin type could not be set to isolated");
        }
        let (status, body) = self.call(
            "POST",
            self.path(Rest::Leverage),
            &format!("{sym}&leverage={chosen}"),
        )?;
        let code = ErrorBody::read(&body).map(|e| e.code);
        if status != 200 && code == Some(Code::LeverageReduction as i64) {
            // An adopted isolated position keeps the account's (higher) leverage until
            // it closes; sizing at the lower one commits less notional per margin.
            tracing::warn!(
                leverage = chosen,
                "live link: the leverage cannot be lowered while a position is open; sizing at it anyway"
            );
            return Ok(chosen);
        }
        if status != 200 {
            return Err(LinkError::Refused {
                what: "leverage",
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        tracing::info!(
            symbol = %self.spec.name,
            leverage = chosen,
            cap = wish.max,
            "live link: leverage set within the symbol's brackets"
        );
        Ok(chosen)
    }

    /// The position on the symbol (futures), lots.
    fn read_position(&mut self, sym: &str) -> Result<i64, LinkError> {
        let positions: Vec<PositionState> = self.start_get("positions", Rest::PositionRisk, sym)?;
        match positions
            .iter()
            .find(|p| p.symbol == self.spec.name.as_str())
        {
            None => Ok(0),
            Some(p) => self
                .signed_qty(&p.position_amt)
                .ok_or_else(|| LinkError::Unreadable {
                    what: "positions",
                    why: format!("positionAmt `{}`", p.position_amt),
                }),
        }
    }

    /// A signed decimal quantity in lots.
    fn signed_qty(&self, a: &str) -> Option<i64> {
        let v = parse_scaled(
            a.trim_start_matches('-').as_bytes(),
            self.spec.qty.decimals(),
        )
        .ok()?;
        Some(if a.starts_with('-') { -v } else { v })
    }

    pub(super) fn run(mut self, mut cmds: rtrb::Consumer<Command>) {
        loop {
            let mut work = false;
            while let Ok(c) = cmds.pop() {
                work = true;
                self.command(c);
            }
            work |= self.drain_user();
            self.timers();
            if self.shared.stop.load(Ordering::Acquire) && cmds.is_empty() {
                let shared = self.shared.clone();
                self.note_unknown_at_exit(&shared);
                return;
            }
            if !work {
                if self.spin {
                    std::thread::yield_now();
                } else {
                    std::thread::park_timeout(Duration::from_millis(5));
                }
            }
        }
    }

    /// Handles every user stream message received so far; true if there was one.
    fn drain_user(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.user.try_recv() {
                Ok(UserMsg::Event(e)) => {
                    any = true;
                    self.on_event(&e);
                }
                Ok(UserMsg::Disconnected) => {
                    any = true;
                    // Fills may happen unheard: poll the open orders until it is back.
                    self.ledger.session_lost();
                    self.next_requery = Instant::now();
                }
                Ok(UserMsg::Connected) => {
                    any = true;
                    if self.ledger.session_opened() {
                        // Events may have been missed while the session was down.
                        self.next_requery = Instant::now();
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return any,
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if now >= self.next_sync {
            // The clock can wait for the next minute's weight, or a rate limit's
            // end; orders cannot.
            if self.budget.wait(1, self.weight_limit).is_zero() && !self.paused() {
                let _ = self.sync_time();
            }
            self.next_sync = now + self.time_sync;
        }
        let due: Vec<ClientId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in due {
            self.settle_pending(&c);
        }
        // A 429/418's pause holds the queries too (they spend the IP's weight).
        if now >= self.next_requery && !self.paused() {
            self.next_requery = now + Duration::from_secs(1);
            self.poll_unknown();
            self.pending
                .retain(|c, _| self.ledger.orders.contains_key(c));
        }
    }

    /// Starts following an order just sent (polled if the user stream is down).
    pub(super) fn track(&mut self, c: ClientId, buy: bool, qty: Lots) {
        self.ledger.track(c, buy, qty);
    }

    fn command(&mut self, c: Command) {
        let Some(req) = c.req else {
            self.cancel_all();
            self.shared.cancel_all_done.fetch_add(1, Ordering::AcqRel);
            return;
        };
        {
            let mut st = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.requests += 1;
        }
        let (id, legs) = orders_of(&req.cmd);
        for &(leg, buy, qty) in &legs {
            self.track(leg, buy, qty);
        }
        if let OrderCmd::Oco(o) = &req.cmd {
            self.lists.insert(o.list_id, [o.take_profit_id, o.stop_id]);
        }
        if !matches!(req.cmd, OrderCmd::Cancel(_)) && self.paused() {
            return self.reject(&req.cmd, &id, Reject::RateLimited);
        }
        self.deliver(req, c.wire, c.tick_ns, id, 0);
    }

    /// `req` signed again with the server clock now (after -1021, a wait, or a retry).
    fn restamp(&self, req: &OrderRequest) -> Option<(OrderRequest, crate::venues::WireRequest)> {
        let fresh = OrderRequest {
            timestamp_ms: self.server_ms().max(0) as u64,
            ..*req
        };
        let wire = orders::encode(&self.signer, &self.spec, &fresh).ok()?;
        Some((fresh, wire))
    }

    /// Sends a request; resolves clock refusals, rate limits and unknown fates.
    fn deliver(
        &mut self,
        mut req: OrderRequest,
        mut wire: crate::venues::WireRequest,
        tick_ns: u64,
        id: ClientId,
        first_attempt: u32,
    ) {
        let (method, endpoint) = orders::route(&req.cmd);
        let path = self.path(endpoint);
        let cancel = matches!(req.cmd, OrderCmd::Cancel(_));
        let key = self.keys.api_key().to_string();
        for attempt in first_attempt..3 {
            let headers = [(API_KEY_HEADER, key.as_str())];
            let r = if cancel {
                let text = String::from_utf8_lossy(&wire);
                self.rest
                    .request(method, &format!("{path}?{text}"), b"", &headers)
            } else {
                self.rest.request(method, path, &wire, &headers)
            };
            let resp = match r {
                Ok(resp) => resp,
                Err(e) => {
                    // Written or not, its fate is unknown: ask, never resend blindly.
                    LinkStats::bump(&self.shared.counters.unknown_status);
                    tracing::warn!(order = %id, error = %e, "live link: request failed, status unknown: querying");
                    return self.resolve_unknown(req, id, attempt);
                }
            };
            {
                let done = crate::core::clock::now_ns();
                let written = self.rest.written_ns;
                let mut w = self.shared.wire.lock().unwrap_or_else(|e| e.into_inner());
                if tick_ns > 0 && attempt == 0 && written > tick_ns {
                    let _ = w.0.record(written - tick_ns);
                }
                let _ = w.1.record(done.saturating_sub(written).max(1));
            }
            self.budget.note_answer(&resp);
            match resp.status {
                200 => return self.answered(&req.cmd, &id, &resp.body),
                429 | 418 => {
                    LinkStats::bump(&self.shared.counters.rate_limited);
                    let wait = Duration::from_secs(resp.retry_after.unwrap_or(1).max(1));
                    tracing::warn!(
                        order = %id,
                        status = resp.status,
                        retry_after_s = wait.as_secs(),
                        "live link: rate limited; pausing orders"
                    );
                    self.pause(wait);
                    if cancel && attempt < 2 {
                        // A cancel must go: wait it out, then send it again.
                        std::thread::sleep(wait.min(Duration::from_secs(10)));
                        if let Some((r, w)) = self.restamp(&req) {
                            (req, wire) = (r, w);
                        }
                        continue;
                    }
                    return self.reject(&req.cmd, &id, Reject::RateLimited);
                }
                s if s >= 500 => {
                    LinkStats::bump(&self.shared.counters.unknown_status);
                    tracing::warn!(order = %id, status = s, "live link: execution status unknown: querying");
                    return self.resolve_unknown(req, id, attempt);
                }
                _ => {
                    let (code, msg) = match ErrorBody::read(&resp.body) {
                        Some(e) => (e.code, e.msg),
                        None => {
                            log_malformed(
                                &self.shared,
                                "an error answer",
                                &String::from_utf8_lossy(&resp.body),
                            );
                            (0, String::new())
                        }
                    };
                    tracing::info!(order = %id, status = resp.status, code, msg = %msg, "live link: request refused");
                    if code == Code::InvalidTimestamp as i64 && attempt == 0 {
                        // Our clock estimate is off: read it again and re-sign.
                        let _ = self.sync_time();
                        if let Some((r, w)) = self.restamp(&req) {
                            (req, wire) = (r, w);
                        }
                        LinkStats::bump(&self.shared.counters.restamped);
                        continue;
                    }
                    let gone =
                        code == Code::CancelRejected as i64 || code == Code::NoSuchOrder as i64;
                    if cancel && gone {
                        // Already done (filled, perhaps): learn how, and book it,
                        // before the refusal (the trader must see the fill first).
                        self.drain_user();
                        self.query(&id);
                        self.settle_pending(&id);
                        return self.cancel_found_nothing(req, id);
                    }
                    if cancel {
                        // The order is still open: a refused cancel is not the order's
                        // end. Try again with a fresh stamp; after that it stays open
                        // (cancelled at shutdown) and the trader keeps waiting for it.
                        if attempt < 2 {
                            if let Some((r, w)) = self.restamp(&req) {
                                (req, wire) = (r, w);
                            }
                            continue;
                        }
                        LinkStats::bump(&self.shared.counters.cancel_failures);
                        tracing::warn!(order = %id, code, "live link: cancel refused three times; the order stays open");
                        return;
                    }
                    let r = errors::reject_of(code, &msg, self.market);
                    return self.reject(&req.cmd, &id, r);
                }
            }
        }
    }

    /// A 5xx or a lost connection: query the order; a cancel still open is sent again.
    fn resolve_unknown(&mut self, req: OrderRequest, id: ClientId, attempt: u32) {
        let ids: Vec<ClientId> = match &req.cmd {
            OrderCmd::Oco(o) => self
                .lists
                .get(&o.list_id)
                .map(|l| l.to_vec())
                .unwrap_or_default(),
            _ => vec![id],
        };
        let cancel = matches!(req.cmd, OrderCmd::Cancel(_));
        let reach = req.expires_ms().saturating_add(REACH_MARGIN_MS);
        let mut missing = 0;
        for c in &ids {
            let mut found = None;
            for k in 0..3u64 {
                std::thread::sleep(Duration::from_millis(20 * (k + 1)));
                found = self.query(c);
                if found.is_some() {
                    break;
                }
            }
            match found {
                Some(Found::Missing) => missing += 1,
                Some(Found::Open) if cancel && attempt < 2 => {
                    if let Some((r, w)) = self.restamp(&req) {
                        return self.deliver(r, w, 0, id, attempt + 1);
                    }
                }
                Some(_) => {}
                None => self.ledger.mark_unknown(c, (!cancel).then_some(reach)),
            }
        }
        if missing == ids.len() && !ids.is_empty() {
            if cancel {
                return self.cancel_found_nothing(req, id);
            }
            if !self.within_reach(reach) {
                return self.reject(&req.cmd, &id, Reject::StatusUnknown);
            }
            // Not there yet, but it may still reach the engine: ask until its window
            // closes rather than tell the trader it was refused.
            for c in &ids {
                self.ledger.mark_unknown(c, Some(reach));
            }
        }
    }

    fn reject(&mut self, cmd: &OrderCmd, id: &ClientId, r: Reject) {
        match cmd {
            OrderCmd::Oco(_) => {
                if let Some(legs) = self.lists.get(id).copied() {
                    for l in legs {
                        self.ledger.end_quietly(&l);
                    }
                }
                let at = self.server_ms();
                self.ledger.push(*id, Report::Rejected(r), at)
            }
            OrderCmd::Cancel(_) => {
                let at = self.server_ms();
                self.ledger.push(*id, Report::Rejected(r), at)
            }
            OrderCmd::New(_) => self.terminal(id, Report::Rejected(r)),
        }
    }

    /// A 200 answer to a request.
    fn answered(&mut self, cmd: &OrderCmd, id: &ClientId, body: &[u8]) {
        match cmd {
            OrderCmd::Oco(_) => match sonic_rs::from_slice::<OcoState>(body) {
                Ok(list) => {
                    for o in &list.order_reports {
                        if let Some(c) = client_id(&o.client_order_id) {
                            self.reconcile(&c, o, true);
                        }
                    }
                }
                Err(e) => log_malformed(&self.shared, "an OCO answer", &e.to_string()),
            },
            OrderCmd::New(_) | OrderCmd::Cancel(_) => {
                match sonic_rs::from_slice::<OrderState>(body) {
                    Ok(o) => {
                        let c = client_id(o.order_id()).unwrap_or(*id);
                        let placing = matches!(cmd, OrderCmd::New(_));
                        self.reconcile(if placing { id } else { &c }, &o, placing);
                    }
                    Err(e) => log_malformed(&self.shared, "an order answer", &e.to_string()),
                }
            }
        }
    }

    /// `body` as a 200 answer to `cmd`, the orders `cmd` places tracked if new to the
    /// link; a fill it shows ahead of the events is booked at once. Offline replays
    /// ([`super::replay_answers`]).
    pub(super) fn replay_answer(&mut self, cmd: &OrderCmd, body: &[u8]) {
        let (id, legs) = orders_of(cmd);
        for &(leg, buy, qty) in &legs {
            if !self.ledger.orders.contains_key(&leg) {
                self.track(leg, buy, qty);
            }
        }
        if let OrderCmd::Oco(o) = cmd {
            self.lists.insert(o.list_id, [o.take_profit_id, o.stop_id]);
        }
        self.answered(cmd, &id, body);
        self.settle_all_pending();
    }

    /// Cancels every open order of the symbol (shutdown).
    fn cancel_all(&mut self) {
        // Shutdown must learn how every order ended: a 429/418 pause is waited out
        // (up to 8 s; the gateway waits 10 for this) rather than leaving fates unknown.
        let mut budget = Duration::from_secs(8);
        if let Some(left) = paused_left(&self.paused_until) {
            let wait = left.min(budget);
            std::thread::sleep(wait);
            budget -= wait;
        }
        // An order whose request may still reach the engine: its window closes first,
        // so the cancel and the queries below see it if it came.
        self.wait_out_reach(budget);
        let sym = format!("symbol={}", self.spec.name);
        let open = self.ledger.open();
        if let Ok((200, body)) = self.call("DELETE", self.path(Rest::CancelAll), &sym) {
            if !self.futures() {
                match sonic_rs::from_slice::<Vec<OrderState>>(&body) {
                    Ok(list) => {
                        for o in &list {
                            if let Some(c) = client_id(o.order_id()) {
                                self.reconcile(&c, o, false);
                            }
                        }
                    }
                    Err(e) => log_malformed(&self.shared, "a cancel-all answer", &e.to_string()),
                }
            }
        }
        // Whatever the answer said, ask each order we know is open how it ended.
        self.ask_each(open);
        self.settle_all_pending();
    }

    /// Books every pending reconciliation now (offline replays, shutdown).
    fn settle_all_pending(&mut self) {
        let pending: Vec<ClientId> = self.pending.keys().copied().collect();
        for c in pending {
            self.settle_pending(&c);
        }
    }
}

impl Follow for Io {
    fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Reads the server clock: offset = server − the request's midpoint.
    fn sync_time(&mut self) -> Result<(), RestError> {
        let t0 = wall_ms();
        let r = self.rest.request("GET", self.path(Rest::Time), b"", &[])?;
        let t1 = wall_ms();
        self.budget.note_answer(&r);
        if matches!(r.status, 429 | 418) {
            LinkStats::bump(&self.shared.counters.rate_limited);
            self.pause(Duration::from_secs(r.retry_after.unwrap_or(1).max(1)));
            self.next_sync = Instant::now() + self.time_sync;
            return Ok(());
        }
        match sonic_rs::from_slice::<ServerTime>(&r.body) {
            Ok(t) => {
                self.shared.clock_read(t.server_time, t0, t1);
            }
            Err(e) => log_malformed(&self.shared, "the server time", &e.to_string()),
        }
        self.next_sync = Instant::now() + self.time_sync;
        Ok(())
    }

    /// Asks the exchange about an order and reconciles; `None` when it could not be
    /// asked.
    fn query(&mut self, c: &ClientId) -> Option<Found> {
        LinkStats::bump(&self.shared.counters.queries);
        let p = format!("symbol={}&origClientOrderId={c}", self.spec.name);
        let (status, body) = self.call("GET", self.path(Rest::Order), &p).ok()?;
        match status {
            200 => match sonic_rs::from_slice::<OrderState>(&body) {
                Ok(o) => {
                    let open = o
                        .status
                        .as_deref()
                        .and_then(Status::parse)
                        .is_some_and(Status::is_open);
                    self.reconcile(c, &o, false);
                    Some(if open { Found::Open } else { Found::Done })
                }
                Err(e) => {
                    log_malformed(&self.shared, "an order query's answer", &e.to_string());
                    None
                }
            },
            400 if ErrorBody::read(&body).is_some_and(|e| e.code == Code::NoSuchOrder as i64) => {
                Some(Found::Missing)
            }
            _ => None,
        }
    }

    fn resend(&mut self, req: &OrderRequest, id: ClientId) {
        if let Some((r, wire)) = self.restamp(req) {
            self.deliver(r, wire, 0, id, 0);
        }
    }
}

mod events;
mod states;
