//! The KuCoin link's I/O thread: REST requests, each order followed to its end, the
//! reports back to the gateway. Cold relative to the pipeline (its own thread);
//! allocates freely.

use super::LinkConfig;
use super::private::PrivateMsg;
use crate::core::decimal::parse_scaled;
use crate::core::{ClientId, Lots, OrderCmd, OrderRequest, Reject, Report, SymbolSpec, client_id};
use crate::net::http::{Client, RestError};
use crate::venues::kucoin::keys::KucoinKeys;
use crate::venues::kucoin::orders::{
    self, Answer, FuturesTerms, OrderChange, OrderInfo, Page, Placed, PrivateMessage, Refusal,
    Signed, Text, cancel_by_id_path, cancel_path, query_path, read_size, reject_of,
};
use crate::venues::kucoin::sign::{self, KEY_VERSION, Signer};
use crate::venues::link::{
    Command, Follow, Found, Ledger, LeverageWish, LinkError, LinkStats, REACH_MARGIN_MS, Shared,
    Startup, log_malformed, wall_ms,
};
use crate::venues::{AccountSink, AccountSnapshot, OnStart, WireRequest};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// `GET /api/v1/accounts`'s entries.
#[derive(serde::Deserialize)]
struct Balance {
    currency: String,
    balance: String,
    available: String,
    holds: String,
}

/// `GET /api/v1/account-overview` (futures): amounts are JSON numbers.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Overview {
    #[serde(default)]
    margin_balance: Option<Text>,
    #[serde(default)]
    available_balance: Option<Text>,
}

/// A futures position (`GET /api/v1/position`, and `position.change` messages).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Position {
    #[serde(default)]
    current_qty: Option<Text>,
    #[serde(default)]
    avg_entry_price: Option<Text>,
    #[serde(default)]
    unrealised_pnl: Option<Text>,
    #[serde(default)]
    pos_margin: Option<Text>,
    #[serde(default)]
    change_reason: Option<String>,
}

/// A balance change: spot `account.balance` (`total`, `available`, `hold`), futures
/// `walletBalance.change` / `availableBalance.change` (`walletBalance`,
/// `availableBalance`, `holdBalance`); amounts as text or numbers.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceChange {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    total: Option<Text>,
    #[serde(default)]
    available: Option<Text>,
    #[serde(default)]
    hold: Option<Text>,
    #[serde(default)]
    wallet_balance: Option<Text>,
    #[serde(default)]
    available_balance: Option<Text>,
    #[serde(default)]
    hold_balance: Option<Text>,
    #[serde(default)]
    relation_event: Option<String>,
}

/// `GET /api/v2/position/getMarginMode`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarginMode {
    margin_mode: String,
}

/// `GET /api/v1/contracts/{symbol}`: only its leverage cap is read here.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContractCap {
    #[serde(default)]
    max_leverage: Option<Text>,
}

/// The currency a KuCoin futures contract is margined in: the quote of a linear one
/// (`XBTUSDTM` → USDT, `…USDCM` → USDC), the coin of an inverse one (`XBTUSDM` → XBT).
fn settle_currency(symbol: &str) -> String {
    for (suffix, quote) in [("USDTM", "USDT"), ("USDCM", "USDC")] {
        if symbol.ends_with(suffix) {
            return quote.to_string();
        }
    }
    symbol.strip_suffix("USDM").unwrap_or(symbol).to_string()
}

/// How long a cancelled order's end may take to come as an event before it is asked.
const CANCEL_EVENT_WAIT: Duration = Duration::from_millis(500);

/// The I/O thread.
pub(super) struct Io {
    rest: Client,
    spec: SymbolSpec,
    signer: Signer,
    keys: Arc<KucoinKeys>,
    time_sync: Duration,
    fees: (i64, i64),
    shared: Arc<Shared>,
    ledger: Ledger,
    private: Receiver<PrivateMsg>,
    next_sync: Instant,
    next_requery: Instant,
    paused_until: Option<Instant>,
    on_start: OnStart,
    account: Option<AccountSink>,
    next_account: Instant,
    base: String,
    quote: String,
    futures: bool,
    wish: Option<LeverageWish>,
    terms: Arc<FuturesTerms>,
}

impl Io {
    pub(super) fn new(
        cfg: &LinkConfig,
        shared: Arc<Shared>,
        out: rtrb::Producer<crate::core::Execution>,
        private: Receiver<PrivateMsg>,
    ) -> Self {
        let futures = cfg.spec.market.is_futures();
        let settle = settle_currency(&cfg.spec.name);
        let (base, quote) = if futures {
            ("", settle.as_str())
        } else {
            cfg.spec
                .name
                .split_once('-')
                .unwrap_or((cfg.spec.name.as_str(), ""))
        };
        Self {
            rest: Client::new(&cfg.rest, Duration::from_secs(5)),
            spec: cfg.spec.clone(),
            // Re-signed orders (a refused timestamp, a retried cancel) carry the same
            // leverage and margin mode as the trader's.
            signer: Signer::new(&cfg.keys).with_terms(cfg.terms.clone()),
            keys: cfg.keys.clone(),
            time_sync: cfg.time_sync,
            fees: cfg.fees,
            ledger: Ledger::new(out, shared.clone(), &cfg.spec),
            shared,
            private,
            next_sync: Instant::now() + cfg.time_sync,
            next_requery: Instant::now(),
            paused_until: None,
            on_start: cfg.on_start,
            next_account: Instant::now()
                + cfg
                    .account
                    .as_ref()
                    .map_or(Duration::from_secs(3600), |a| a.every),
            account: cfg.account.clone(),
            base: base.to_string(),
            quote: quote.to_string(),
            futures,
            wish: cfg.leverage,
            terms: cfg.terms.clone(),
        }
    }

    /// Notes KuCoin's rate-limit headers: none left in the window → new orders wait
    /// for its reset.
    fn note_limits(&mut self, r: &crate::net::http::Response) {
        let remaining = r
            .header("gw-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<i64>().ok());
        let reset_ms = r
            .header("gw-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if r.status == 429 || remaining.is_some_and(|n| n <= 0) {
            let wait = Duration::from_millis(reset_ms.unwrap_or(1_000).clamp(1, 30_000));
            if self.paused_until.is_none() {
                LinkStats::bump(&self.shared.counters.rate_limited);
                tracing::warn!(
                    wait_ms = wait.as_millis() as u64,
                    "KuCoin link: request weight spent; new orders wait for the window"
                );
            }
            self.paused_until = Some(Instant::now() + wait);
        }
    }

    /// A signed request of the link's own (queries, start-up, cancels by id); a
    /// timestamp refusal (400002) re-reads the clock and signs once more.
    fn call(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), RestError> {
        for attempt in 0..2 {
            let ts = self.server_ms().max(0) as u64;
            let headers = sign::headers(&self.signer, &self.keys, ts, method, path, body);
            let mut refs: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            refs.push(("Content-Type", "application/json"));
            let r = self.rest.request(method, path, body, &refs)?;
            self.note_limits(&r);
            if attempt == 0 && refusal(&r.body).is_some_and(|(c, _)| c == "400002") {
                self.sync_time()?;
                LinkStats::bump(&self.shared.counters.restamped);
                continue;
            }
            return Ok((r.status, r.body));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// A signed `GET` of start-up, its `data` read as `T`.
    fn start_get<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &'static str,
        path: &str,
    ) -> Result<T, LinkError> {
        let (status, body) = self.call("GET", path, b"")?;
        let refused = || LinkError::Refused {
            what,
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let a: Answer<T> = sonic_rs::from_slice(&body).map_err(|e| {
            if status == 200 {
                LinkError::Unreadable {
                    what,
                    why: e.to_string(),
                }
            } else {
                refused()
            }
        })?;
        if !a.ok() {
            return Err(refused());
        }
        a.data.ok_or_else(|| LinkError::Unreadable {
            what,
            why: "no data".into(),
        })
    }

    /// Start-up: clock, stale and foreign orders (refused, adopted or cancelled as
    /// `on_start` says), the available balance, the first account snapshot.
    pub(super) fn start(&mut self) -> Result<Startup, LinkError> {
        self.sync_time()?;
        let active: Vec<OrderInfo> = if self.futures {
            let name = self.spec.name;
            let mut list = self
                .start_get::<Page<OrderInfo>>(
                    "open orders",
                    &format!("/api/v1/orders?status=active&symbol={name}"),
                )?
                .items;
            list.extend(
                self.start_get::<Page<OrderInfo>>(
                    "open stop orders",
                    &format!("/api/v1/stopOrders?symbol={name}"),
                )?
                .items,
            );
            list
        } else {
            self.start_get(
                "open orders",
                &format!("/api/v1/hf/orders/active?symbol={}", self.spec.name),
            )?
        };
        let mut s = Startup::default();
        let mut foreign = Vec::new();
        for o in active {
            if o.client_oid.starts_with("mnv") {
                if self.cancel_at_start(&o)? {
                    s.stale_cancelled += 1;
                }
            } else {
                foreign.push(o);
            }
        }
        s.foreign_open = foreign.len() as u32;
        match self.on_start {
            OnStart::Refuse if !foreign.is_empty() => {
                let ids: Vec<String> = foreign
                    .iter()
                    .map(|o| {
                        if o.client_oid.is_empty() {
                            o.id.clone()
                        } else {
                            o.client_oid.clone()
                        }
                    })
                    .collect();
                return Err(LinkError::FoundAtStart(format!(
                    "{} open order(s) on {} not Minerva's ({})",
                    foreign.len(),
                    self.spec.name,
                    ids.join(", ")
                )));
            }
            OnStart::Flatten => {
                for o in &foreign {
                    if !self.cancel_at_start(o)? {
                        return Err(LinkError::Flatten(format!(
                            "cancel of order {}: refused",
                            o.id
                        )));
                    }
                }
                s.foreign_open = 0;
            }
            _ => {}
        }
        if self.futures {
            self.futures_start(&mut s)?;
        }
        s.available_e8 = self.available_balance();
        s.offset_ms = self.shared.offset_ms.load(Ordering::Relaxed);
        tracing::info!(
            symbol = %self.spec.name,
            available = ?s.available_e8.map(crate::core::Dec8),
            stale_cancelled = s.stale_cancelled,
            foreign_open = s.foreign_open,
            offset_ms = s.offset_ms,
            leverage = ?s.leverage,
            cross = self.terms.cross(),
            "KuCoin link: account read at start"
        );
        self.snapshot("start");
        Ok(s)
    }

    /// Futures at start: the position found (`on_start`), the symbol's margin mode,
    /// the leverage (the strategy's cap within the contract's; cross margin sets it on
    /// the symbol, isolated orders carry it), written to the encoder's terms.
    fn futures_start(&mut self, s: &mut Startup) -> Result<(), LinkError> {
        let name = self.spec.name;
        // Orders carry the symbol's margin mode (KuCoin refuses the other, 330005): it
        // must be known before any order, the start-up's close included.
        let cross = self
            .start_get::<MarginMode>(
                "margin mode",
                &format!("/api/v2/position/getMarginMode?symbol={name}"),
            )?
            .margin_mode
            .eq_ignore_ascii_case("CROSS");
        self.terms.set(self.terms.leverage(), cross);
        let held = self.held_position()?;
        if held.0 != 0 {
            match self.on_start {
                OnStart::Refuse => {
                    return Err(LinkError::FoundAtStart(format!(
                        "a position of {} on {name} not Minerva's",
                        self.spec.qty.format(held)
                    )));
                }
                OnStart::Adopt => s.position = held,
                OnStart::Flatten => self.close_position()?,
            }
        }
        let mut leverage = 1;
        if let Some(w) = self.wish {
            let cap = self
                .start_get::<ContractCap>("contract", &format!("/api/v1/contracts/{name}"))
                .ok()
                .and_then(|c| c.max_leverage)
                .and_then(|t| t.0.split('.').next().and_then(|i| i.parse::<u32>().ok()))
                .unwrap_or(w.max);
            leverage = w.max.min(cap).max(1);
            if cross {
                let body = format!(r#"{{"symbol":"{name}","leverage":"{leverage}"}}"#);
                let (status, answer) =
                    self.call("POST", "/api/v2/changeCrossUserLeverage", body.as_bytes())?;
                if refusal(&answer).is_none_or(|(c, _)| c != orders::OK) {
                    return Err(LinkError::Refused {
                        what: "cross leverage",
                        status,
                        body: String::from_utf8_lossy(&answer).into_owned(),
                    });
                }
            }
            s.leverage = Some(leverage);
        }
        self.terms.set(leverage, cross);
        Ok(())
    }

    /// The symbol's position as KuCoin shows it now, signed lots.
    fn held_position(&mut self) -> Result<Lots, LinkError> {
        let name = self.spec.name;
        let pos: Position =
            self.start_get("position", &format!("/api/v1/position?symbol={name}"))?;
        // A flat symbol may answer without `currentQty`.
        let flat = Text("0".into());
        self.position_lots(pos.current_qty.as_ref().unwrap_or(&flat))
            .ok_or_else(|| LinkError::Unreadable {
                what: "position",
                why: "currentQty is not a whole number of contracts".into(),
            })
    }

    /// A position's size (`currentQty` contracts) as signed lots.
    fn position_lots(&self, qty: &Text) -> Option<Lots> {
        let text = qty.0.as_str();
        let (neg, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text),
        };
        let n = read_size(&self.spec, digits)?;
        Some(Lots(if neg { -n.0 } else { n.0 }))
    }

    /// Closes the symbol's position at market (`closeOrder`, reduce-only by KuCoin's
    /// rule: it sizes the order itself). Start-up, `--on-start flatten`.
    fn close_position(&mut self) -> Result<(), LinkError> {
        let body = format!(
            r#"{{"clientOid":"mnvflat{}","symbol":"{}","type":"market","closeOrder":true,"marginMode":"{}"}}"#,
            self.server_ms().max(0),
            self.spec.name,
            if self.terms.cross() {
                "CROSS"
            } else {
                "ISOLATED"
            },
        );
        let (status, answer) = self.call("POST", orders::FUTURES_PLACE_PATH, body.as_bytes())?;
        if refusal(&answer).is_none_or(|(c, _)| c != orders::OK) {
            return Err(LinkError::Flatten(format!(
                "closing the position: HTTP {status} {}",
                String::from_utf8_lossy(&answer)
            )));
        }
        // Accepted is not done: the position must read flat (2 s at most).
        for _ in 0..20 {
            if self.held_position()?.0 == 0 {
                tracing::info!(symbol = %self.spec.name, "KuCoin link: the position found at start is closed at market");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LinkError::Flatten(
            "the close order was accepted but the position is still open after 2 s".into(),
        ))
    }

    /// Cancels an order found open at start, by KuCoin's id; true when done.
    fn cancel_at_start(&mut self, o: &OrderInfo) -> Result<bool, LinkError> {
        let path = cancel_by_id_path(&self.spec, &o.id);
        let (_, body) = self.call("DELETE", &path, b"")?;
        Ok(refusal(&body).is_some_and(|(c, _)| c == orders::OK))
    }

    /// The balances of the symbol's two currencies in the HF trading account.
    fn balances(&mut self) -> Option<(Option<Balance>, Option<Balance>)> {
        let list: Vec<Balance> = match self.start_get("balances", "/api/v1/accounts?type=trade_hf")
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "KuCoin link: the account could not be read");
                return None;
            }
        };
        let mut base = None;
        let mut quote = None;
        for b in list {
            if b.currency == self.quote && quote.is_none() {
                quote = Some(b);
            } else if b.currency == self.base && base.is_none() {
                base = Some(b);
            }
        }
        Some((base, quote))
    }

    /// The futures account in the contract's settlement currency.
    fn overview(&mut self) -> Option<Overview> {
        let path = format!("/api/v1/account-overview?currency={}", self.quote);
        match self.start_get("futures account", &path) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(error = %e, "KuCoin link: the futures account could not be read");
                None
            }
        }
    }

    /// The quote's (futures: the settlement currency's) available balance, 10⁻⁸
    /// (finer places are cut); `None` when the account cannot be read: sizing then
    /// follows the strategy.
    fn available_balance(&mut self) -> Option<i64> {
        let text = if self.futures {
            self.overview()?
                .available_balance
                .map_or_else(|| "0".to_string(), |t| t.0)
        } else {
            let (_, quote) = self.balances()?;
            quote.map_or_else(|| "0".to_string(), |b| b.available)
        };
        let v = e8(&text);
        if v.is_none() {
            tracing::warn!(balance = %text, "KuCoin link: the balance did not read");
        }
        v
    }

    /// Reads the account and hands the snapshot over (`why`: start, periodic, exit).
    fn snapshot(&mut self, why: &'static str) {
        if self.account.is_none() {
            return;
        }
        let snap = if self.futures {
            let Some(o) = self.overview() else { return };
            let name = self.spec.name;
            let pos: Option<Position> = self
                .start_get("position", &format!("/api/v1/position?symbol={name}"))
                .ok();
            let mut snap = AccountSnapshot {
                why,
                symbol: self.spec.name.to_string(),
                exchange_ms: self.server_ms(),
                asset: self.quote.clone(),
                wallet: o.margin_balance.map(|t| t.0),
                available: o.available_balance.map(|t| t.0),
                leverage: Some(self.terms.leverage()),
                ..AccountSnapshot::default()
            };
            if let Some(p) = pos {
                self.position_into(&p, &mut snap);
            }
            snap
        } else {
            let Some((base, quote)) = self.balances() else {
                return;
            };
            AccountSnapshot {
                why,
                symbol: self.spec.name.to_string(),
                exchange_ms: self.server_ms(),
                asset: self.quote.clone(),
                wallet: quote.as_ref().map(|b| b.balance.clone()),
                available: quote.as_ref().map(|b| b.available.clone()),
                margin: quote.as_ref().map(|b| b.holds.clone()),
                position: Some(base.map_or_else(|| "0".to_string(), |b| b.balance)),
                ..AccountSnapshot::default()
            }
        };
        if let Some(sink) = &self.account {
            (sink.f)(snap);
        }
    }

    /// A futures position's fields into a snapshot (the size in the base asset).
    fn position_into(&self, p: &Position, snap: &mut AccountSnapshot) {
        // Fields the message leaves out stay unknown (a mark-price change has no size).
        snap.position = p
            .current_qty
            .as_ref()
            .and_then(|q| self.position_lots(q))
            .map(|l| self.spec.qty.format(l));
        snap.entry_price = p.avg_entry_price.as_ref().map(|t| t.0.clone());
        snap.unrealised = p.unrealised_pnl.as_ref().map(|t| t.0.clone());
        snap.margin = p.pos_margin.as_ref().map(|t| t.0.clone());
        if let Some(r) = &p.change_reason {
            snap.detail = r.clone();
        }
    }

    /// Follows an order as if just sent (offline replays).
    pub(super) fn track(&mut self, c: ClientId, buy: bool, qty: Lots) {
        self.ledger.track(c, buy, qty);
    }

    pub(super) fn run(mut self, mut cmds: rtrb::Consumer<Command>) {
        loop {
            let mut work = false;
            while let Ok(c) = cmds.pop() {
                work = true;
                self.command(c);
            }
            work |= self.drain_private();
            self.timers();
            if self.shared.stop.load(Ordering::Acquire) && cmds.is_empty() {
                self.drain_private();
                self.snapshot("exit");
                let shared = self.shared.clone();
                self.note_unknown_at_exit(&shared);
                return;
            }
            if !work {
                std::thread::park_timeout(Duration::from_millis(5));
            }
        }
    }

    /// Every private message received so far; true if there was one.
    fn drain_private(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.private.try_recv() {
                Ok(PrivateMsg::Message(m)) => {
                    any = true;
                    self.on_message(&m);
                }
                Ok(PrivateMsg::Disconnected) => {
                    any = true;
                    // Fills may happen unheard: poll the open orders until it is back.
                    self.ledger.session_lost();
                    self.next_requery = Instant::now();
                }
                Ok(PrivateMsg::Connected) => {
                    any = true;
                    if self.ledger.session_opened() {
                        // Messages may have been missed while the session was down.
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
            let _ = self.sync_time();
        }
        if self.account.is_some() && now >= self.next_account {
            self.snapshot("periodic");
            let every = self.account.as_ref().map_or(Duration::MAX, |a| a.every);
            self.next_account = Instant::now() + every;
        }
        // A cancel answered whose end has not come: ask.
        let late: Vec<ClientId> = self
            .ledger
            .orders
            .iter()
            .filter(|(_, t)| {
                !t.done
                    && t.cancel_at
                        .is_some_and(|at| now.duration_since(at) > CANCEL_EVENT_WAIT)
            })
            .map(|(c, _)| *c)
            .collect();
        for c in late {
            if let Some(t) = self.ledger.orders.get_mut(&c) {
                t.cancel_at = None;
            }
            self.query(&c);
        }
        // A rate limit's pause holds the queries too.
        let paused = self.paused_until.is_some_and(|u| now < u);
        if now >= self.next_requery && !paused {
            self.next_requery = now + Duration::from_secs(1);
            self.poll_unknown();
        }
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
        let id = req.cmd.client_id();
        if let OrderCmd::New(o) = &req.cmd {
            // Sent while the session is down, it is polled.
            self.ledger
                .track(o.id, o.side == crate::core::OrderSide::Buy, o.qty);
            if let Some(until) = self.paused_until {
                if Instant::now() < until {
                    return self.refuse(&req.cmd, &id, Reject::RateLimited);
                }
                self.paused_until = None;
            }
        }
        self.deliver(req, c.wire, c.tick_ns, id, 0);
    }

    /// `req` signed again with KuCoin's clock now (after 400002, a wait, a retry).
    fn restamp(&self, req: &OrderRequest) -> Option<(OrderRequest, WireRequest)> {
        let fresh = OrderRequest {
            timestamp_ms: self.server_ms().max(0) as u64,
            ..*req
        };
        let wire = orders::encode(&self.signer, &self.spec, &fresh).ok()?;
        Some((fresh, wire))
    }

    /// Sends one signed request as written; the answer's status and body.
    fn send_wire(&mut self, req: &OrderRequest, wire: &[u8]) -> Result<(u16, Vec<u8>), RestError> {
        let Some(signed) = Signed::read(wire) else {
            return Ok((
                400,
                br#"{"code":"400100","msg":"unreadable request"}"#.to_vec(),
            ));
        };
        let (method, path) = orders::route(&self.spec, &req.cmd);
        let headers = [
            ("KC-API-KEY", self.keys.api_key()),
            ("KC-API-SIGN", signed.signature),
            ("KC-API-TIMESTAMP", signed.timestamp),
            ("KC-API-PASSPHRASE", self.signer.passphrase()),
            ("KC-API-KEY-VERSION", KEY_VERSION),
            ("Content-Type", "application/json"),
        ];
        let r = self.rest.request(method, &path, signed.body, &headers)?;
        self.note_limits(&r);
        Ok((r.status, r.body))
    }

    /// Sends a request; resolves clock refusals, rate limits and unknown fates.
    fn deliver(
        &mut self,
        mut req: OrderRequest,
        mut wire: WireRequest,
        tick_ns: u64,
        id: ClientId,
        first_attempt: u32,
    ) {
        let cancel = matches!(req.cmd, OrderCmd::Cancel(_));
        for attempt in first_attempt..3 {
            let (status, body) = match self.send_wire(&req, &wire) {
                Ok(a) => a,
                Err(e) => {
                    // Written or not, its fate is unknown: ask, never resend blindly.
                    LinkStats::bump(&self.shared.counters.unknown_status);
                    tracing::warn!(order = %id, error = %e, "KuCoin link: request failed, status unknown: querying");
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
            let code = refusal(&body);
            if status >= 500 || (code.is_none() && status != 200) {
                LinkStats::bump(&self.shared.counters.unknown_status);
                tracing::warn!(order = %id, status, "KuCoin link: execution status unknown: querying");
                return self.resolve_unknown(req, id, attempt);
            }
            let Some((code, msg)) = code else {
                log_malformed(
                    &self.shared,
                    "an order answer",
                    &String::from_utf8_lossy(&body),
                );
                return self.resolve_unknown(req, id, attempt);
            };
            if code == orders::OK {
                return self.answered(&req.cmd, &id, &body);
            }
            if status == 429 || code == "429000" {
                let wait = self.paused_until.map_or(Duration::from_secs(1), |u| {
                    u.saturating_duration_since(Instant::now())
                });
                tracing::warn!(order = %id, wait_ms = wait.as_millis() as u64, "KuCoin link: rate limited; pausing orders");
                if self.paused_until.is_none() {
                    self.paused_until = Some(Instant::now() + wait);
                }
                if cancel && attempt < 2 {
                    // A cancel must go: wait it out, then send it again.
                    std::thread::sleep(wait.min(Duration::from_secs(10)));
                    if let Some((r, w)) = self.restamp(&req) {
                        (req, wire) = (r, w);
                    }
                    continue;
                }
                return self.refuse(&req.cmd, &id, Reject::RateLimited);
            }
            tracing::info!(order = %id, status, code = %code, msg = %msg, "KuCoin link: request refused");
            if code == "400002" && attempt == 0 {
                // Our clock estimate is off: read it again and sign again.
                let _ = self.sync_time();
                if let Some((r, w)) = self.restamp(&req) {
                    (req, wire) = (r, w);
                }
                LinkStats::bump(&self.shared.counters.restamped);
                continue;
            }
            if cancel {
                if reject_of(&code, &msg) == Reject::UnknownOrder {
                    // Already done (filled, perhaps): learn how and book it before
                    // the refusal (the trader must see the fill first).
                    self.drain_private();
                    self.query(&id);
                    return self.cancel_found_nothing(req, id);
                }
                // Still open: a refused cancel is not the order's end. Try again with
                // a fresh stamp; after that it stays open (cancelled at shutdown).
                if attempt < 2 {
                    if let Some((r, w)) = self.restamp(&req) {
                        (req, wire) = (r, w);
                    }
                    continue;
                }
                LinkStats::bump(&self.shared.counters.cancel_failures);
                tracing::warn!(order = %id, code = %code, "KuCoin link: cancel refused three times; the order stays open");
                return;
            }
            return self.refuse(&req.cmd, &id, reject_of(&code, &msg));
        }
    }

    /// A 5xx or a lost connection: query the order; a cancel still open is sent again.
    fn resolve_unknown(&mut self, req: OrderRequest, id: ClientId, attempt: u32) {
        let cancel = matches!(req.cmd, OrderCmd::Cancel(_));
        let reach = req.expires_ms().saturating_add(REACH_MARGIN_MS);
        let mut found = None;
        for k in 0..3u64 {
            std::thread::sleep(Duration::from_millis(20 * (k + 1)));
            self.drain_private();
            found = self.query(&id);
            if found.is_some() {
                break;
            }
        }
        match found {
            Some(Found::Missing) if cancel => self.cancel_found_nothing(req, id),
            Some(Found::Missing) if !self.within_reach(reach) => {
                self.refuse(&req.cmd, &id, Reject::StatusUnknown)
            }
            Some(Found::Open) if cancel && attempt < 2 => {
                if let Some((r, w)) = self.restamp(&req) {
                    self.deliver(r, w, 0, id, attempt + 1);
                }
            }
            // Not there yet, but it may still reach the engine (Missing), or it could
            // not be asked: ask until its window closes rather than call it refused.
            Some(Found::Missing) | None => {
                self.ledger.mark_unknown(&id, (!cancel).then_some(reach))
            }
            Some(_) => {}
        }
    }

    fn refuse(&mut self, cmd: &OrderCmd, id: &ClientId, r: Reject) {
        let at = self.server_ms();
        match cmd {
            OrderCmd::New(_) => self.ledger.terminal(id, Report::Rejected(r), at),
            _ => self.ledger.push(*id, Report::Rejected(r), at),
        }
    }

    /// A `200000` answer: a placement is accepted (its fills come as messages); a
    /// cancel is done when its message (or a query) says how the order ended.
    fn answered(&mut self, cmd: &OrderCmd, id: &ClientId, body: &[u8]) {
        match cmd {
            OrderCmd::New(_) => match sonic_rs::from_slice::<Answer<Placed>>(body) {
                Ok(a) if a.data.is_some() => {
                    let at = self.server_ms();
                    self.ledger.accepted(id, at);
                }
                Ok(_) => log_malformed(&self.shared, "an order answer", "no order id"),
                Err(e) => log_malformed(&self.shared, "an order answer", &e.to_string()),
            },
            OrderCmd::Cancel(c) => {
                if let Some(t) = self.ledger.orders.get_mut(c) {
                    t.cancel_at = Some(Instant::now());
                }
            }
            OrderCmd::Oco(_) => {}
        }
    }

    /// What a query shows: fills beyond those booked (at their average price), and
    /// the order's end.
    fn reconcile(&mut self, c: &ClientId, o: &OrderInfo) {
        let Some(cum) = read_size(&self.spec, &o.deal_size) else {
            return log_malformed(&self.shared, "an order's dealSize", &o.deal_size);
        };
        let Some(funds) = e8(&o.deal_funds) else {
            return log_malformed(&self.shared, "an order's dealFunds", &o.deal_funds);
        };
        let at = self.server_ms();
        // Which side of the book a fill learnt this way took is unknown: a resting
        // order (acked) is booked as the maker it most likely was.
        let maker = self.ledger.orders.get(c).is_some_and(|t| t.acked);
        let rate = if maker { self.fees.0 } else { self.fees.1 };
        if self.ledger.fill_to(c, cum, funds, (maker, rate), at) > 0 {
            LinkStats::bump(&self.shared.counters.fills_without_event);
        }
        if !o.active {
            if o.cancel_exist {
                self.ledger.terminal(c, Report::Canceled, at);
            } else {
                // Filled in full: the last fill ended it (or it ended with nothing
                // filled, which only a cancel does).
                self.ledger.terminal(c, Report::Expired, at);
            }
        } else {
            self.ledger.accepted(c, at);
        }
    }

    /// A private message: order changes are followed; the rest counted.
    pub(super) fn on_message(&mut self, m: &[u8]) {
        let msg: PrivateMessage = match sonic_rs::from_slice(m) {
            Ok(v) => v,
            Err(e) => return log_malformed(&self.shared, "a private message", &e.to_string()),
        };
        if msg.subject == "position.change" {
            return self.on_position(msg.data.as_ref());
        }
        if matches!(
            msg.subject.as_str(),
            "account.balance" | "walletBalance.change" | "availableBalance.change"
        ) {
            return self.on_balance(msg.data.as_ref());
        }
        if msg.subject == "stopOrder" {
            // A stop's end without an order change (cancelled by KuCoin, e.g. a
            // reduce-only stop once the position is closed) names no client id: the
            // open orders are asked how they stand.
            // The topic is the account's: another contract's stop is not ours.
            let field = |k: &str| {
                msg.data.as_ref().and_then(|d| {
                    sonic_rs::JsonValueTrait::get(d, k)
                        .and_then(|t| sonic_rs::JsonValueTrait::as_str(t).map(str::to_string))
                })
            };
            if field("symbol").is_some_and(|s| s != self.spec.name.as_str()) {
                LinkStats::bump(&self.shared.counters.foreign_events);
                return;
            }
            LinkStats::bump(&self.shared.counters.other_events);
            let cancelled = field("type").as_deref() == Some("cancel");
            if cancelled {
                for o in self.ledger.orders.values_mut().filter(|t| !t.done) {
                    o.unknown = true;
                }
            }
            return;
        }
        if msg.subject != "orderChange" {
            LinkStats::bump(&self.shared.counters.other_events);
            return;
        }
        let change: OrderChange = match msg.data.as_ref().map(sonic_rs::from_value) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                return log_malformed(&self.shared, "an orderChange", &e.to_string());
            }
            None => return log_malformed(&self.shared, "an orderChange", "no data"),
        };
        let tracked = client_id(&change.client_oid).filter(|c| {
            change.symbol == self.spec.name.as_str() && self.ledger.orders.contains_key(c)
        });
        let Some(c) = tracked else {
            LinkStats::bump(&self.shared.counters.foreign_events);
            return;
        };
        let at = change
            .ts
            .map_or_else(|| self.server_ms(), |ns| (ns / 1_000_000) as i64);
        let filled = change
            .filled_size
            .as_deref()
            .map(|f| read_size(&self.spec, f).ok_or(()));
        match change.typ.as_str() {
            "open" => self.ledger.accepted(&c, at),
            "match" => {
                let (Some(p), Some(q)) =
                    (change.match_price.as_deref(), change.match_size.as_deref())
                else {
                    return log_malformed(
                        &self.shared,
                        "an orderChange match",
                        "no matchPrice or matchSize",
                    );
                };
                let (Ok(price), Some(size)) = (
                    self.spec.price.parse(p.as_bytes()),
                    read_size(&self.spec, q),
                ) else {
                    return log_malformed(&self.shared, "an orderChange match", p);
                };
                let booked = self.ledger.orders.get(&c).map_or(Lots(0), |t| t.cum);
                // The cumulative size decides what is new (a match heard twice, or
                // after a query booked it, is not booked again).
                let cum = match filled {
                    Some(Ok(f)) => f,
                    _ => Lots(booked.0 + size.0),
                };
                if cum.0 <= booked.0 {
                    LinkStats::bump(&self.shared.counters.duplicate_fills);
                    return;
                }
                let qty = Lots(cum.0 - booked.0);
                let maker = change.liquidity.as_deref() == Some("maker");
                let value = crate::core::Valuer::new(&self.spec).quote_e8(price, qty);
                let fee = crate::core::fee_e8(value, if maker { self.fees.0 } else { self.fees.1 });
                self.ledger.accepted(&c, at);
                self.ledger.fill(&c, price, qty, fee, maker, at);
            }
            "filled" => {
                let booked = self.ledger.orders.get(&c).map_or(Lots(0), |t| t.cum);
                if matches!(filled, Some(Ok(f)) if f.0 > booked.0) {
                    // A match was missed: its price is in the order's funds.
                    self.query(&c);
                }
            }
            "canceled" => {
                let booked = self.ledger.orders.get(&c).map_or(Lots(0), |t| t.cum);
                if matches!(filled, Some(Ok(f)) if f.0 > booked.0) {
                    self.query(&c);
                }
                self.ledger.terminal(&c, Report::Canceled, at);
            }
            _ => {}
        }
    }

    /// A futures `position.change`: an account snapshot (`stream`) for the journal.
    fn on_position(&mut self, data: Option<&sonic_rs::Value>) {
        LinkStats::bump(&self.shared.counters.other_events);
        if self.account.is_none() {
            return;
        }
        let p: Position = match data.map(sonic_rs::from_value) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                return log_malformed(&self.shared, "a position.change", &e.to_string());
            }
            None => return log_malformed(&self.shared, "a position.change", "no data"),
        };
        if p.current_qty.is_none() {
            // A mark-price change: the position itself did not move.
            return;
        }
        let mut snap = AccountSnapshot {
            why: "stream",
            symbol: self.spec.name.to_string(),
            exchange_ms: self.server_ms(),
            asset: self.quote.clone(),
            leverage: Some(self.terms.leverage()),
            ..AccountSnapshot::default()
        };
        self.position_into(&p, &mut snap);
        if let Some(sink) = &self.account {
            (sink.f)(snap);
        }
    }

    /// A balance change (spot `account.balance`, futures `walletBalance.change` or
    /// `availableBalance.change`) of the symbol's currencies: an account snapshot
    /// (`stream`) for the journal; the quote's available balance is kept as the
    /// link's latest.
    fn on_balance(&mut self, data: Option<&sonic_rs::Value>) {
        LinkStats::bump(&self.shared.counters.other_events);
        let b: BalanceChange = match data.map(sonic_rs::from_value) {
            Some(Ok(b)) => b,
            Some(Err(e)) => return log_malformed(&self.shared, "a balance change", &e.to_string()),
            None => return log_malformed(&self.shared, "a balance change", "no data"),
        };
        let quote = b.currency == self.quote;
        if !quote && (self.futures || b.currency != self.base) {
            return; // another currency of the account (futures: margin in one only)
        }
        let event = b.relation_event.as_deref().unwrap_or("");
        if ["main.", "margin.", "isolated", "contract."]
            .iter()
            .any(|p| event.starts_with(p))
        {
            return; // another of the account's accounts (funding, margin, futures)
        }
        let available = b.available.or(b.available_balance).map(|t| t.0);
        if quote {
            if let Some(a) = available.as_deref().and_then(e8) {
                self.shared.available_e8.store(a, Ordering::Relaxed);
            }
        }
        if self.account.is_none() {
            return;
        }
        let mut snap = AccountSnapshot {
            why: "stream",
            symbol: self.spec.name.to_string(),
            exchange_ms: self.server_ms(),
            asset: self.quote.clone(),
            detail: b.relation_event.unwrap_or_default(),
            ..AccountSnapshot::default()
        };
        let total = b.total.or(b.wallet_balance).map(|t| t.0);
        if quote {
            snap.wallet = total;
            snap.available = available;
            snap.margin = b.hold.or(b.hold_balance).map(|t| t.0);
            if self.futures {
                snap.leverage = Some(self.terms.leverage());
            }
        } else {
            // The base asset held is a spot symbol's position.
            snap.position = total;
        }
        if let Some(sink) = &self.account {
            (sink.f)(snap);
        }
    }

    /// Cancels every open order the link placed (shutdown), then asks each how it
    /// ended.
    fn cancel_all(&mut self) {
        // Shutdown must learn how every order ended: a rate limit's pause is waited
        // out (up to 8 s; the gateway waits 10 for this) rather than leaving fates
        // unknown.
        let mut budget = Duration::from_secs(8);
        if let Some(until) = self.paused_until {
            let wait = until.saturating_duration_since(Instant::now()).min(budget);
            std::thread::sleep(wait);
            budget -= wait;
        }
        // An order whose request may still reach the engine: its window closes first,
        // so the cancels and the queries below see it if it came.
        self.wait_out_reach(budget);
        let open = self.ledger.open();
        for c in &open {
            let path = cancel_path(&self.spec, c);
            let _ = self.call("DELETE", &path, b"");
        }
        std::thread::sleep(Duration::from_millis(50));
        self.drain_private();
        self.ask_each(open);
    }
}

impl Follow for Io {
    fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Reads KuCoin's clock: offset = server − the request's midpoint.
    fn sync_time(&mut self) -> Result<(), RestError> {
        let t0 = wall_ms();
        let r = self.rest.request("GET", "/api/v1/timestamp", b"", &[])?;
        let t1 = wall_ms();
        match crate::venues::kucoin::peek::timestamp_answer(&r.body) {
            Some(server) => {
                self.shared.clock_read(server as i64, t0, t1);
            }
            None => log_malformed(
                &self.shared,
                "KuCoin's time",
                &String::from_utf8_lossy(&r.body),
            ),
        }
        self.next_sync = Instant::now() + self.time_sync;
        Ok(())
    }

    /// Asks KuCoin about an order by client id and books what it shows; `None` when
    /// it could not be asked.
    fn query(&mut self, c: &ClientId) -> Option<Found> {
        LinkStats::bump(&self.shared.counters.queries);
        let path = query_path(&self.spec, c);
        let (status, body) = self.call("GET", &path, b"").ok()?;
        if status >= 500 {
            return None;
        }
        match sonic_rs::from_slice::<Answer<OrderInfo>>(&body) {
            // Futures answer an order they do not know with no data.
            Ok(a) if a.ok() && a.data.is_none() && self.futures => Some(Found::Missing),
            Ok(a) if a.ok() => match a.data {
                Some(o) => {
                    self.reconcile(c, &o);
                    Some(if o.active { Found::Open } else { Found::Done })
                }
                None => None,
            },
            Ok(a) if reject_of(&a.code, a.msg.as_deref().unwrap_or("")) == Reject::UnknownOrder => {
                Some(Found::Missing)
            }
            Ok(_) => None,
            Err(e) => {
                log_malformed(&self.shared, "an order query's answer", &e.to_string());
                None
            }
        }
    }

    fn resend(&mut self, req: &OrderRequest, id: ClientId) {
        if let Some((r, wire)) = self.restamp(req) {
            self.deliver(r, wire, 0, id, 0);
        }
    }
}

/// A KuCoin answer's `code` and `msg`, when it has them.
fn refusal(body: &[u8]) -> Option<(String, String)> {
    let r: Refusal = sonic_rs::from_slice(body).ok()?;
    Some((r.code, r.msg.unwrap_or_default()))
}

/// A decimal amount in 10⁻⁸ (finer places cut, as KuCoin may write more).
fn e8(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let cut = format!("{int}.{}", &frac[..frac.len().min(8)]);
    parse_scaled(cut.trim_end_matches('.').as_bytes(), 8).ok()
}
