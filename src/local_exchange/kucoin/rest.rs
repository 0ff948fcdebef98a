//! The local KuCoin venue's REST answers, in KuCoin's envelope (`{"code":"200000",
//! "data":…}`; refusals `{"code":…,"msg":…}` with KuCoin's codes, protocol notes §9).

use super::{PING_INTERVAL_MS, PING_TIMEOUT_MS, Shared, lock};
use crate::book::SyncState;
use crate::core::SymbolSpec;
use crate::local_exchange::server::Request;
use crate::venues::kucoin::endpoints::Rest;
use crate::venues::kucoin::sign;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A refusal body.
pub fn refusal(code: &str, msg: &str) -> Vec<u8> {
    sonic_rs::to_vec(&sonic_rs::json!({ "code": code, "msg": msg })).unwrap_or_default()
}

/// A success body around `data`.
pub(super) fn ok<T: Serialize>(data: &T) -> (u16, Vec<u8>) {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        code: &'static str,
        data: &'a T,
    }
    match sonic_rs::to_vec(&Envelope {
        code: "200000",
        data,
    }) {
        Ok(b) => (200, b),
        Err(_) => (500, refusal("500000", "Internal error")),
    }
}

pub(super) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// KuCoin's VIP0 spot request weight per 30 s (protocol notes §9).
pub const SPOT_POOL: u32 = 4_000;
/// The pool's window.
const POOL_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Headers of an answer.
type Headers = Vec<(&'static str, String)>;

/// Answers one request: status, headers and body.
pub fn answer(shared: &Arc<Shared>, req: &Request) -> (u16, Headers, Vec<u8>) {
    let path = req.path.as_str();
    const FUTURES_TRADING: [&str; 7] = [
        "/api/v1/orders",
        "/api/v1/stopOrders",
        "/api/v1/position",
        "/api/v1/positions",
        "/api/v1/account-overview",
        "/api/v2/position/",
        "/api/v2/changeCrossUserLeverage",
    ];
    if req.path.starts_with("/api/v1/hf/orders")
        || path == "/api/v1/accounts"
        || FUTURES_TRADING.iter().any(|p| path.starts_with(p))
    {
        return trading(shared, req);
    }
    let (status, body) = public(shared, req);
    (status, Vec::new(), body)
}

/// Everything but the account's trading requests.
fn public(shared: &Shared, req: &Request) -> (u16, Vec<u8>) {
    let path = req.path.as_str();
    match (req.method.as_str(), path) {
        ("POST", p) if p == Rest::BulletPublic.path() => bullet(shared, false),
        ("POST", p) if p == Rest::BulletPrivate.path() && shared.outage.holds() => (
            503,
            refusal("503000", "Service unavailable: private channels are down"),
        ),
        ("POST", p) if p == Rest::BulletPrivate.path() => match authenticate(shared, req) {
            Ok(()) => bullet(shared, true),
            Err(refused) => refused,
        },
        ("GET", "/api/v1/timestamp") => ok(&shared.server_ms()),
        ("GET", p) if p == Rest::Symbols.path() || p == "/api/v1/symbols" => {
            let spot = shared.specs.iter().filter(|s| !s.market.is_futures());
            ok(&spot.map(describe).collect::<Vec<_>>())
        }
        ("GET", "/api/v3/currencies" | "/api/v1/currencies") => ok(&currencies(&shared.specs)),
        ("GET", "/api/v3/market/orderbook/level2") => match authenticate(shared, req) {
            Ok(()) => depth(shared, req, usize::MAX),
            Err(refused) => refused,
        },
        // The spot account trades through the high-frequency (HF) endpoints, as KuCoin
        // requires of new accounts.
        ("GET", "/api/v1/hf/accounts/opened") => match authenticate(shared, req) {
            Ok(()) => ok(&true),
            Err(refused) => refused,
        },
        ("GET", "/api/v1/market/orderbook/level2_20") => depth(shared, req, 20),
        ("GET", "/api/v1/market/orderbook/level2_100") => depth(shared, req, 100),
        // Futures (KuCoin's futures host; one server here: the paths do not meet).
        ("GET", p) if p == Rest::Contracts.path() => {
            contracts_answer(shared.specs.iter().filter(|s| s.market.is_futures()), true)
        }
        ("GET", p) if p.starts_with("/api/v1/contracts/") => {
            let name = &p["/api/v1/contracts/".len()..];
            let one = shared
                .specs
                .iter()
                .filter(|s| s.market.is_futures() && s.name.as_str() == name);
            contracts_answer(one, false)
        }
        ("GET", "/api/v1/level2/snapshot") => futures_depth(shared, req, usize::MAX),
        ("GET", "/api/v1/level2/depth20") => futures_depth(shared, req, 20),
        ("GET", "/api/v1/level2/depth100") => futures_depth(shared, req, 100),
        _ => (404, refusal("404000", "Url Not Found")),
    }
}

/// A signed trading request: checked, weighed against the account's pool (KuCoin's
/// `gw-ratelimit-*` headers on every answer; 429 `429000` once spent), then through
/// the order faults to the desk.
fn trading(shared: &Arc<Shared>, req: &Request) -> (u16, Headers, Vec<u8>) {
    if let Err((status, body)) = authenticate(shared, req) {
        return (status, Vec::new(), body);
    }
    let (admitted, headers) = weigh(shared, weight(req));
    if !admitted {
        return (429, headers, refusal("429000", "Too Many Requests"));
    }
    let n = shared.signed.fetch_add(1, Ordering::Relaxed) + 1;
    let every = |e: Option<u64>| e.is_some_and(|e| n % e == 0);
    if every(shared.faults.bad_signature_every) {
        return (401, headers, refusal("400005", "Invalid KC-API-SIGN"));
    }
    if let Some((every, ms)) = shared.faults.late_order {
        let placing = req.method == "POST"
            && matches!(req.path.as_str(), "/api/v1/hf/orders" | "/api/v1/orders");
        if placing && (shared.placed.fetch_add(1, Ordering::Relaxed) + 1) % every == 0 {
            // The gateway gives up waiting; the order executes later, if its stamp is
            // still within the window then.
            let (shared, req) = (Arc::clone(shared), req.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                if authenticate(&shared, &req).is_ok() {
                    trade(&shared, &req);
                    shared.publish_private();
                }
            });
            return (
                503,
                headers,
                refusal("503000", "Service unavailable: execution status unknown"),
            );
        }
    }
    let (status, body) = trade(shared, req);
    shared.publish_private();
    if req.method != "GET" && every(shared.faults.unknown_status_every) {
        // Executed, but the answer is lost in the gateway: the client must ask.
        return (
            503,
            headers,
            refusal("503000", "Service unavailable: execution status unknown"),
        );
    }
    (status, headers, body)
}

/// A trading request's weight (KuCoin's: an HF order or cancel 1, a query 2, the
/// active list 2, the accounts 5).
fn weight(req: &Request) -> u32 {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/accounts") => 5,
        // Futures: an order 2, a cancel 1, queries and the account 2–5.
        ("POST", "/api/v1/orders") => 2,
        ("GET", "/api/v1/account-overview") => 5,
        ("GET", _) => 2,
        _ => 1,
    }
}

/// Takes `w` from the pool's window; whether it fitted, and the headers that say
/// what is left.
fn weigh(shared: &Shared, w: u32) -> (bool, Headers) {
    let mut pool = lock(&shared.pool);
    let now = std::time::Instant::now();
    if now.duration_since(pool.0) >= POOL_WINDOW {
        *pool = (now, 0);
    }
    let fits = pool.1 + w <= shared.pool_size;
    if fits {
        pool.1 += w;
    }
    let reset = POOL_WINDOW.saturating_sub(now.duration_since(pool.0));
    let headers = vec![
        ("gw-ratelimit-limit", shared.pool_size.to_string()),
        (
            "gw-ratelimit-remaining",
            shared.pool_size.saturating_sub(pool.1).to_string(),
        ),
        ("gw-ratelimit-reset", reset.as_millis().to_string()),
    ];
    (fits, headers)
}

/// KuCoin's checks of a signed request against the account's keys and this
/// machine's clock; a refusal is HTTP 401 with KuCoin's code.
fn authenticate(shared: &Shared, req: &Request) -> Result<(), (u16, Vec<u8>)> {
    let endpoint = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    sign::verify(
        &shared.signer,
        shared.keys.api_key(),
        |h| req.header(h),
        &req.method,
        &endpoint,
        req.body.as_bytes(),
        shared.server_ms(),
    )
    .map_err(|r| (401, refusal(r.code, r.msg)))
}

/// The signed trading endpoints, on the desk.
fn trade(shared: &Shared, req: &Request) -> (u16, Vec<u8>) {
    use super::desk::By;
    let symbol = query_param(&req.query, "symbol");
    let now = shared.server_ms() as i64;
    let mut st = lock(&shared.state);
    let desk = &mut st.desk;
    let path = req.path.as_str();
    let q = |name| query_param(&req.query, name);
    if let Some(rest) = path.strip_prefix("/api/v1/hf/orders") {
        return match (req.method.as_str(), rest) {
            ("POST", "") => desk.place(&req.body, now),
            ("GET", "/active") => desk.active(symbol.unwrap_or("")),
            ("DELETE", r) | ("GET", r) if r.starts_with('/') => {
                let by = match r.strip_prefix("/client-order/") {
                    Some(c) => By::Client(c),
                    None => By::Id(&r[1..]),
                };
                if req.method == "DELETE" {
                    desk.cancel(symbol, by, now)
                } else {
                    desk.query(symbol, by)
                }
            }
            _ => (404, refusal("404000", "Url Not Found")),
        };
    }
    match (req.method.as_str(), path) {
        ("GET", "/api/v1/accounts") => desk.balances(q("type")),
        // Futures.
        ("POST", "/api/v1/orders") => desk.place_futures(&req.body, now),
        ("GET", "/api/v1/orders") => match q("status") {
            Some("active") | None => desk.futures_list(symbol, false),
            // Closed orders are kept for queries by id; the list of them is not served.
            Some(_) => refusal_answer(
                "400100",
                "status=done is not listed here: query orders by id",
            ),
        },
        ("GET", "/api/v1/stopOrders") => desk.futures_list(symbol, true),
        ("GET", "/api/v1/orders/byClientOid") => {
            desk.futures_query(By::Client(q("clientOid").unwrap_or("")))
        }
        ("DELETE", p) if p.starts_with("/api/v1/orders/client-order/") => desk.cancel(
            symbol,
            By::Client(&p["/api/v1/orders/client-order/".len()..]),
            now,
        ),
        ("DELETE", p) if p.starts_with("/api/v1/orders/") => {
            desk.cancel(None, By::Id(&p["/api/v1/orders/".len()..]), now)
        }
        ("GET", p) if p.starts_with("/api/v1/orders/") => {
            desk.futures_query(By::Id(&p["/api/v1/orders/".len()..]))
        }
        ("GET", "/api/v1/position") => desk.position(symbol.unwrap_or(""), now),
        ("GET", "/api/v1/positions") => desk.positions(now),
        ("GET", "/api/v1/account-overview") => desk.overview(q("currency")),
        ("GET", "/api/v2/position/getMarginMode") => desk.margin_mode(symbol.unwrap_or("")),
        ("POST", "/api/v2/position/changeMarginMode") => desk.change_margin_mode(&req.body),
        ("POST", "/api/v2/changeCrossUserLeverage") => refusal_answer(
            "400100",
            "cross margin is not modelled by the local KuCoin venue: ISOLATED only",
        ),
        _ => (404, refusal("404000", "Url Not Found")),
    }
}

fn refusal_answer(code: &str, msg: &str) -> (u16, Vec<u8>) {
    (400, refusal(code, msg))
}

/// Contracts as `GET /api/v1/contracts/active` lists them (a list), or one as
/// `/api/v1/contracts/{symbol}` describes it; numbers as KuCoin writes them.
fn contracts_answer<'a>(specs: impl Iterator<Item = &'a SymbolSpec>, list: bool) -> (u16, Vec<u8>) {
    let rows: Vec<String> = specs
        .map(|s| {
            let (base, quote) = assets(s);
            format!(
                r#"{{"symbol":"{name}","rootSymbol":"{quote}","type":"FFWCSX","baseCurrency":"{base}","quoteCurrency":"{quote}","settleCurrency":"{quote}","multiplier":{mult},"lotSize":1,"tickSize":{tick},"maxOrderQty":1000000000,"maxPrice":1000000000,"isInverse":false,"isQuanto":false,"status":"Open","maxLeverage":{lev},"makerFeeRate":0.0002,"takerFeeRate":0.0006,"expireDate":null,"fundingFeeRate":0,"nextFundingRateTime":{next}}}"#,
                name = s.name,
                mult = s.qty.format(s.qty.step()),
                tick = s.price.format(s.price.step()),
                lev = super::desk::MAX_LEVERAGE,
                // A perpetual: ms to the next 8-hour funding time (the venue charges
                // no funding; its rate says so).
                next = 8 * 3_600_000 - wall_ms() % (8 * 3_600_000),
            )
        })
        .collect();
    match (list, rows.len()) {
        (true, _) => (
            200,
            format!(r#"{{"code":"200000","data":[{}]}}"#, rows.join(",")).into_bytes(),
        ),
        (false, 1) => (
            200,
            format!(r#"{{"code":"200000","data":{}}}"#, rows[0]).into_bytes(),
        ),
        (false, _) => (400, refusal("900001", "contract does not exist")),
    }
}

/// A futures contract's book as `GET /api/v1/level2/snapshot` writes it: numbers,
/// sizes in contracts, the sequence of the last update applied, time in ns.
fn futures_depth(shared: &Shared, req: &Request, limit: usize) -> (u16, Vec<u8>) {
    let symbol = query_param(&req.query, "symbol").unwrap_or("");
    let Some(k) = shared
        .specs
        .iter()
        .position(|s| s.market.is_futures() && s.name.as_str() == symbol)
    else {
        return (400, refusal("900001", "contract does not exist"));
    };
    let spec = &shared.specs[k];
    let text = {
        let st = lock(&shared.state);
        let book = &st.books[k];
        if book.state() != SyncState::Live {
            return (503, refusal("503000", "The book is not available yet"));
        }
        let side = |levels: &[[String; 2]]| -> String {
            let v: Vec<String> = levels
                .iter()
                .map(|[p, q]| {
                    let n = spec
                        .qty
                        .parse(q.as_bytes())
                        .map_or(0, |l| l.0 / spec.qty.step().0.max(1));
                    format!("[{p},{n}]")
                })
                .collect();
            v.join(",")
        };
        let top = book.top(limit);
        format!(
            r#"{{"code":"200000","data":{{"sequence":{},"symbol":"{symbol}","bids":[{}],"asks":[{}],"ts":{}}}}}"#,
            book.update_id(),
            side(&top.bids),
            side(&top.asks),
            st.now_ms.saturating_mul(1_000_000),
        )
    };
    shared.gate.snapshot_taken();
    (200, text.into_bytes())
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// A token, and this venue as the WebSocket server.
fn bullet(shared: &Shared, private: bool) -> (u16, Vec<u8>) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Server {
        endpoint: String,
        encrypt: bool,
        protocol: &'static str,
        ping_interval: u64,
        ping_timeout: u64,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Bullet {
        token: String,
        instance_servers: [Server; 1],
    }
    ok(&Bullet {
        token: shared.issue_token(private),
        instance_servers: [Server {
            endpoint: format!("ws://{}/endpoint", shared.addr),
            encrypt: false,
            protocol: "websocket",
            ping_interval: PING_INTERVAL_MS,
            ping_timeout: PING_TIMEOUT_MS,
        }],
    })
}

/// A symbol as `/api/v2/symbols` lists it, from its grids.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SymbolRow {
    symbol: String,
    name: String,
    base_currency: String,
    quote_currency: String,
    base_min_size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_max_size: Option<String>,
    base_increment: String,
    price_increment: String,
    enable_trading: bool,
}

fn describe(s: &SymbolSpec) -> SymbolRow {
    let (base, quote) = s.name.split_once('-').unwrap_or((&s.name, ""));
    SymbolRow {
        symbol: s.name.to_string(),
        name: s.name.to_string(),
        base_currency: base.to_string(),
        quote_currency: quote.to_string(),
        base_min_size: s.qty.format(s.min_qty.max(s.qty.step())),
        base_max_size: s.max_qty.map(|q| s.qty.format(q)),
        base_increment: s.qty.format(s.qty.step()),
        price_increment: s.price.format(s.price.step()),
        enable_trading: true,
    }
}

/// A symbol's base and quote assets: `BTC-USDT`'s; a linear contract's `XBTUSDTM` →
/// XBT and USDT (USDC for `…USDCM`).
fn assets(s: &SymbolSpec) -> (&str, &str) {
    if s.market.is_futures() {
        match s.name.strip_suffix("USDCM") {
            Some(base) => (base, "USDC"),
            None => (s.name.strip_suffix("USDTM").unwrap_or(&s.name), "USDT"),
        }
    } else {
        s.name.split_once('-').unwrap_or((&s.name, ""))
    }
}

/// A currency as `/api/v3/currencies` lists it: the base and quote assets of the
/// symbols served (no chains: the venue moves no funds).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CurrencyRow {
    currency: String,
    name: String,
    full_name: String,
    precision: u8,
    is_margin_enabled: bool,
    is_debit_enabled: bool,
    chains: [(); 0],
}

fn currencies(specs: &[SymbolSpec]) -> Vec<CurrencyRow> {
    let mut out: Vec<CurrencyRow> = Vec::new();
    for s in specs {
        let (base, quote) = assets(s);
        for (c, precision) in [(base, s.qty.decimals()), (quote, 8)] {
            if c.is_empty() || out.iter().any(|r| r.currency == c) {
                continue;
            }
            out.push(CurrencyRow {
                currency: c.to_string(),
                name: c.to_string(),
                full_name: c.to_string(),
                precision,
                is_margin_enabled: false,
                is_debit_enabled: false,
                chains: [],
            });
        }
    }
    out
}

/// `symbol`'s book: its `limit` best levels a side, at the sequence of the last update
/// applied.
fn depth(shared: &Shared, req: &Request, limit: usize) -> (u16, Vec<u8>) {
    let symbol = query_param(&req.query, "symbol").unwrap_or("");
    let Some(k) = shared.specs.iter().position(|s| s.name.as_str() == symbol) else {
        return (400, refusal("900001", "symbol not exists"));
    };
    #[derive(Serialize)]
    struct Depth {
        time: u64,
        sequence: String,
        bids: Vec<[String; 2]>,
        asks: Vec<[String; 2]>,
    }
    let answer = {
        let st = lock(&shared.state);
        let book = &st.books[k];
        if book.state() != SyncState::Live {
            return (503, refusal("503000", "The book is not available yet"));
        }
        let top = book.top(limit);
        Depth {
            time: st.now_ms,
            sequence: book.update_id().to_string(),
            bids: top.bids,
            asks: top.asks,
        }
    };
    // The first snapshot a subscriber takes starts the replay.
    shared.gate.snapshot_taken();
    ok(&answer)
}
