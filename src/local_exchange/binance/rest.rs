//! The local exchange's REST side: request weights and 429s, the market-data
//! endpoints (`ping`, `time`, `exchangeInfo`, `depth`, `klines`), and the trading ones
//! through the desk. Answers written by serde.

use super::desk::{self, Desk};
use super::{Shared, candles, lock, server_ms};
use crate::book::SyncState;
use crate::core::Market;
use crate::local_exchange::server::Request;
use crate::venues::binance::account::Empty;
use crate::venues::binance::endpoints::{Rest, route};
use crate::venues::binance::errors::{Code, ErrorBody};
use crate::venues::binance::limits::{USED_WEIGHT_HEADER, Verdict, request_weight};
use crate::venues::binance::market::{Depth, ServerTime};
use crate::venues::binance::params::Params;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A market-data refusal or answer: status and body.
type Refusal = (u16, Vec<u8>);

fn error(status: u16, code: Code, msg: &str) -> Refusal {
    (status, ErrorBody::json(code, msg))
}

fn json<T: Serialize>(body: &T) -> Refusal {
    (200, sonic_rs::to_vec(body).unwrap_or_default())
}

/// One REST request: weight, faults, then the answer.
pub(super) fn answer(shared: &Arc<Shared>, req: &Request) -> desk::Answer {
    // Every request spends its weight, as on Binance, refused or not; a client
    // that keeps sending after 429s is banned (418).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let verdict =
        lock(&shared.weight).weigh(now_ms, weight_of(shared.market, req), shared.weight_limit);
    let mut headers = Vec::new();
    match verdict {
        Verdict::Served { used } => headers.push((USED_WEIGHT_HEADER, used.to_string())),
        Verdict::TooMany {
            used,
            retry_after_s,
        } => {
            headers.push((USED_WEIGHT_HEADER, used.to_string()));
            headers.push(("Retry-After", retry_after_s.to_string()));
            let body = ErrorBody::json(
                Code::TooManyRequests,
                &format!(
                    "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                    shared.weight_limit
                ),
            );
            return (429, headers, body);
        }
        Verdict::Banned {
            until_ms,
            retry_after_s,
        } => {
            tracing::warn!(until_ms, retry_after_s, path = %req.path, "request refused 418: banned for ignoring 429s");
            headers.push(("Retry-After", retry_after_s.to_string()));
            let body = ErrorBody::json(
                Code::TooManyRequests,
                &format!(
                    "Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."
                ),
            );
            return (418, headers, body);
        }
    }
    let (status, mut more, body) = rest(shared, req);
    headers.append(&mut more);
    (status, headers, body)
}

/// A request's weight, as Binance counts it.
fn weight_of(market: Market, req: &Request) -> u32 {
    let Some(endpoint) = route(market, &req.path) else {
        return 1;
    };
    let params = Params::parse(&req.query, "").unwrap_or_default();
    let limit = params.get("limit").and_then(|l| l.parse::<u32>().ok());
    request_weight(
        market,
        endpoint,
        &req.method,
        limit,
        params.get("symbol").is_some(),
    )
}

/// A REST answer.
fn rest(shared: &Arc<Shared>, req: &Request) -> desk::Answer {
    let unknown = || {
        (
            404,
            Vec::new(),
            ErrorBody::json(Code::Unknown, "Unknown path."),
        )
    };
    let Some(endpoint) = route(shared.market, &req.path) else {
        return unknown();
    };
    if Desk::serves(endpoint) {
        return trade(shared, req, endpoint);
    }
    if req.method != "GET" {
        return unknown();
    }
    let params = match Params::parse(&req.query, "") {
        Ok(p) => p,
        Err(e) => {
            return (
                400,
                Vec::new(),
                ErrorBody::json(Code::TooManyParameters, &e.to_string()),
            );
        }
    };
    let now_ms = server_ms(shared, &lock(&shared.state));
    let (status, body) = match endpoint {
        Rest::Ping => json(&Empty {}),
        Rest::Time => json(&ServerTime {
            server_time: now_ms,
        }),
        Rest::ExchangeInfo => {
            use crate::venues::binance::exchange_info::{complete, describe};
            let described = describe(&shared.specs, shared.market, now_ms, shared.info_limits);
            match &shared.exchange_info {
                // The file as given, completed with what it lacks.
                Some(file) => (200, complete(file, &described)),
                None => (200, described),
            }
        }
        Rest::Depth => depth(shared, &params),
        Rest::Klines => klines(shared, &params),
        _ => return unknown(),
    };
    (status, Vec::new(), body)
}

/// A trading or account request, through the desk (and the faults).
fn trade(shared: &Arc<Shared>, req: &Request, endpoint: Rest) -> desk::Answer {
    let f = shared.faults;
    let signed = endpoint != Rest::ListenKey;
    let n = if signed {
        shared.shifted.store(true, Ordering::Relaxed);
        shared.signed.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        0
    };
    let every = |e: Option<u64>| signed && e.is_some_and(|e| n % e == 0);
    if every(f.bad_signature_every) {
        return (
            400,
            Vec::new(),
            ErrorBody::json(
                Code::InvalidSignature,
                "Signature for this request is not valid.",
            ),
        );
    }
    if !signed && req.method == "POST" && shared.outage.holds() {
        return (
            503,
            Vec::new(),
            ErrorBody::json(
                Code::Unknown,
                "Service unavailable: user data streams are down.",
            ),
        );
    }
    if let Some((every, ms)) = f.late_order {
        let placing = req.method == "POST" && matches!(endpoint, Rest::Order | Rest::Oco);
        if placing && (shared.placed.fetch_add(1, Ordering::Relaxed) + 1) % every == 0 {
            // The backend has it; the gateway gives up waiting. It executes later,
            // its recvWindow checked against the clock then.
            let (shared, req) = (Arc::clone(shared), req.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                {
                    let mut st = lock(&shared.state);
                    let now = server_ms(&shared, &st);
                    st.desk.handle(&req, endpoint, now);
                }
                super::publish_account(&shared);
            });
            return unknown_status();
        }
    }
    let answer = {
        let mut st = lock(&shared.state);
        let now = server_ms(shared, &st);
        st.desk.handle(req, endpoint, now)
    };
    super::publish_account(shared);
    if req.method != "GET" && every(f.unknown_status_every) {
        return unknown_status();
    }
    answer
}

/// Binance's 503 -1007: the request may have executed, or may yet.
fn unknown_status() -> desk::Answer {
    (
        503,
        Vec::new(),
        ErrorBody::json(
            Code::Timeout,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
    )
}

/// The index of the query's `symbol` among the exchange's (-1102 absent, -1121
/// unknown).
fn symbol_param(shared: &Shared, params: &Params) -> Result<usize, Refusal> {
    let symbol = required(params, "symbol")?;
    shared
        .specs
        .iter()
        .position(|s| s.name.as_str() == symbol)
        .ok_or_else(|| error(400, Code::InvalidSymbol, "Invalid symbol."))
}

/// A parameter Binance requires (-1102 when absent).
fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Refusal> {
    params.get(name).ok_or_else(|| {
        error(
            400,
            Code::MandatoryParamMissing,
            &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    })
}

/// `limit`: `default` when absent, 1..=`max` (-1100 otherwise).
fn limit_param(params: &Params, default: usize, max: usize) -> Result<usize, Refusal> {
    match params.get("limit").map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(error(
            400,
            Code::IllegalChars,
            "Illegal characters found in parameter 'limit'.",
        )),
    }
}

fn klines(shared: &Shared, params: &Params) -> Refusal {
    let checked = || -> Result<(usize, u64, usize), Refusal> {
        let k = symbol_param(shared, params)?;
        let iv = candles::interval_ms(required(params, "interval")?)
            .ok_or_else(|| error(400, Code::InvalidInterval, "Invalid interval."))?;
        let max = if shared.market.is_futures() {
            1500
        } else {
            1000
        };
        Ok((k, iv, limit_param(params, 500, max)?))
    };
    let (k, iv, limit) = match checked() {
        Ok(v) => v,
        Err(r) => return r,
    };
    let time = |name: &str| params.get(name).and_then(|v| v.parse::<u64>().ok());
    let st = lock(&shared.state);
    let rows = st.candles[k].klines(iv, time("startTime"), time("endTime"), limit);
    json(&rows)
}

fn depth(shared: &Shared, params: &Params) -> Refusal {
    let (default, max) = if shared.market.is_futures() {
        (500, 1000)
    } else {
        (100, 5000)
    };
    let (k, limit) = match symbol_param(shared, params)
        .and_then(|k| Ok((k, limit_param(params, default, max)?)))
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let st = lock(&shared.state);
    let book = &st.books[k];
    if book.state() != SyncState::Live {
        return error(503, Code::TooManyRequests, "The book is not available yet.");
    }
    let top = book.top(limit);
    let futures = shared.market.is_futures();
    let answer = Depth {
        last_update_id: book.update_id(),
        event_ms: futures.then_some(st.now_ms),
        transact_ms: futures.then_some(st.now_ms),
        bids: top.bids,
        asks: top.asks,
    };
    drop(st);
    // The first snapshot a subscriber takes starts the replay: a recording made from
    // here holds every message after it, as the files do.
    shared.gate.snapshot_taken();
    json(&answer)
}
