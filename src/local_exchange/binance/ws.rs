//! The local exchange's WebSocket sessions, as Binance runs them: raw (`/ws/<stream>`,
//! `/ws`) and combined (`/stream?streams=a/b`) market streams, user data streams on a
//! listen key (raw, or inside a combined session), and the live control protocol
//! (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`)
//! with Binance's answers and error codes 0–3.
//!
//! What no session may do to the others (docs/exchange.md, "Limits"): read too slowly
//! (its outbox fills and it is disconnected, see `fanout`), send frames over
//! [`MAX_FRAME`], send more than Binance's inbound message rate (disconnected), or
//! hold more than [`MAX_STREAMS`] streams. The session task reads the socket between
//! every two messages it sends, so a client's ping is answered promptly whatever the
//! traffic; the server pings as Binance does and drops a client whose pong does not
//! come.

use super::{Shared, lock};
use crate::local_exchange::fanout::{Outbox, send};
use crate::venues::binance::endpoints;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sonic_rs::{JsonContainerTrait, JsonValueTrait};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest frame or message a client may send: control messages with Binance's
/// 1,024 stream names fit with room (bigger ones are refused before they are read).
pub const MAX_FRAME: usize = 64 * 1024;
/// Streams one session may hold (Binance's limit).
pub const MAX_STREAMS: usize = 1024;

/// Binance's per-market session rules: inbound messages per second, server ping
/// interval and how long a pong may take.
struct Rules {
    inbound_per_s: u32,
    ping_every: Duration,
    pong_within: Duration,
}

fn rules(futures: bool) -> Rules {
    if futures {
        Rules {
            inbound_per_s: 10,
            ping_every: Duration::from_secs(180),
            pong_within: Duration::from_secs(600),
        }
    } else {
        Rules {
            inbound_per_s: 5,
            ping_every: Duration::from_secs(20),
            pong_within: Duration::from_secs(60),
        }
    }
}

/// The upgrade of `/ws`, `/ws/<stream>` and `/stream?streams=…`.
pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let (path, query) = (uri.path(), uri.query().unwrap_or(""));
    let (streams, combined) = if path == "/ws" || path == "/ws/" {
        // A raw session with no stream yet: the client subscribes by message.
        (Vec::new(), false)
    } else {
        match endpoints::stream_request(path, query) {
            Some(r) => (r.streams, r.combined),
            None => return error_answer(StatusCode::NOT_FOUND, "Unknown stream path."),
        }
    };
    if streams.len() > MAX_STREAMS {
        return error_answer(StatusCode::BAD_REQUEST, "Too many streams.");
    }
    let key = lock(&shared.state).desk.listen_key().map(str::to_string);
    let market_streams = streams
        .iter()
        .filter(|s| Some(s.as_str()) != key.as_deref())
        .count();
    if market_streams > 0 && shared.done.load(std::sync::atomic::Ordering::Relaxed) {
        // The recording is over: nothing will ever be published on a new market
        // session (410 Gone, so a client can tell this end from an outage).
        return error_answer(StatusCode::GONE, "The data has been served.");
    }
    let ws = ws
        .max_frame_size(MAX_FRAME)
        .max_message_size(MAX_FRAME)
        // Outgoing data waits in the session's outbox, not in tungstenite's buffer.
        .max_write_buffer_size(4 * 1024 * 1024);
    ws.on_upgrade(move |socket| async move {
        if market_streams > 0 {
            shared.on_market_session(&streams);
        }
        let outbox = shared.fanout.subscribe(streams, combined);
        let id = outbox.id;
        shared
            .sessions_open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run(&shared, socket, outbox).await;
        shared.fanout.remove(id);
        shared
            .sessions_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    })
}

fn error_answer(status: StatusCode, msg: &str) -> Response {
    let body = crate::venues::binance::errors::ErrorBody::json(
        crate::venues::binance::errors::Code::Unknown,
        msg,
    );
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Why a session ended (for the exchange's counters and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Client,
    Slow,
    RateLimited,
    NoPong,
    Closed,
}

async fn run(shared: &Shared, mut socket: WebSocket, mut outbox: Outbox) -> End {
    let rules = rules(shared.market.is_futures());
    let mut ping = tokio::time::interval(rules.ping_every);
    ping.tick().await;
    let mut last_pong = Instant::now();
    let mut window = (Instant::now(), 0u32);
    let kick = outbox.kick.clone();
    let end = loop {
        tokio::select! {
            biased;
            () = kick.notified() => break End::Slow,
            incoming = socket.recv() => {
                let Some(Ok(msg)) = incoming else { break End::Client };
                if window.0.elapsed() >= Duration::from_secs(1) {
                    window = (Instant::now(), 0);
                }
                window.1 += 1;
                if window.1 > rules.inbound_per_s {
                    break End::RateLimited;
                }
                match msg {
                    Message::Text(t) => {
                        let reply = control(shared, outbox.id, t.as_str());
                        if !send(&mut socket, &kick, Message::Text(reply.into())).await {
                            break End::Slow;
                        }
                    }
                    Message::Pong(_) => last_pong = Instant::now(),
                    Message::Close(_) => break End::Client,
                    // Pings are answered by tungstenite on the next read or write.
                    Message::Ping(_) | Message::Binary(_) => {}
                }
            }
            msg = outbox.rx.recv() => match msg {
                Some(m) => {
                    if !send(&mut socket, &kick, Message::Text(m)).await {
                        break End::Slow;
                    }
                }
                None => break End::Closed,
            },
            _ = ping.tick() => {
                if last_pong.elapsed() > rules.pong_within + rules.ping_every {
                    break End::NoPong;
                }
                if !send(&mut socket, &kick, Message::Ping(Default::default())).await {
                    break End::Slow;
                }
            }
        }
    };
    match end {
        End::Slow => tracing::info!(
            session = outbox.id,
            "session disconnected: it did not read fast enough"
        ),
        End::RateLimited => tracing::info!(
            session = outbox.id,
            "session disconnected: over the inbound message rate"
        ),
        End::NoPong => tracing::info!(session = outbox.id, "session disconnected: no pong"),
        End::Client | End::Closed => tracing::debug!(session = outbox.id, ?end, "session ended"),
    }
    if matches!(end, End::Closed | End::RateLimited | End::NoPong) {
        let served = end == End::Closed && shared.done.load(std::sync::atomic::Ordering::Relaxed);
        crate::local_exchange::fanout::close(&mut socket, served).await;
    }
    end
}

/// A control request's `id`: an integer, a string of at most 36 characters, or null.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum Id {
    /// A number.
    Int(i64),
    /// An alphanumeric string.
    Text(String),
    /// Absent or null.
    Null,
}

#[derive(Serialize)]
struct Reply<T: Serialize> {
    result: T,
    id: Id,
}

/// Binance's refusal of a control message.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 0 unknown property, 1 invalid value type, 2 invalid request, 3 invalid JSON.
    pub code: u8,
    /// What was wrong.
    pub msg: String,
    /// The request's id, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
}

fn refusal(code: u8, msg: &str, id: Option<Id>) -> String {
    sonic_rs::to_string(&Refusal {
        code,
        msg: msg.to_string(),
        id,
    })
    .unwrap_or_default()
}

fn reply<T: Serialize>(result: T, id: Id) -> String {
    sonic_rs::to_string(&Reply { result, id }).unwrap_or_default()
}

/// Answers one control message of session `id`, as Binance does.
pub(super) fn control(shared: &Shared, session: u64, text: &str) -> String {
    match parse_control(text) {
        Ok(c) => apply(shared, session, c.method, &c.params, c.id),
        Err(r) => sonic_rs::to_string(&r).unwrap_or_default(),
    }
}

/// A control message's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `SUBSCRIBE`.
    Subscribe,
    /// `UNSUBSCRIBE`.
    Unsubscribe,
    /// `LIST_SUBSCRIPTIONS`.
    List,
    /// `SET_PROPERTY`.
    SetProperty,
    /// `GET_PROPERTY`.
    GetProperty,
}

/// A control message read.
#[derive(Debug, Clone)]
pub struct Control {
    /// What it asks.
    pub method: Method,
    /// Its parameters.
    pub params: Vec<sonic_rs::Value>,
    /// Its id, echoed in the answer.
    pub id: Id,
}

/// Reads a control message, or Binance's refusal of it.
///
/// # Errors
/// [`Refusal`] with code 3 for text that is not JSON, 2 for a request of the wrong
/// shape.
pub fn parse_control(text: &str) -> Result<Control, Refusal> {
    parse_inner(text)
        .map(|(method, params, id)| Control { method, params, id })
        .map_err(|(code, msg, id)| Refusal { code, msg, id })
}

type Parsed = (Method, Vec<sonic_rs::Value>, Id);
type Refused = (u8, String, Option<Id>);

fn parse_inner(text: &str) -> Result<Parsed, Refused> {
    let v: sonic_rs::Value = sonic_rs::from_str(text).map_err(|e| {
        (
            3,
            format!(
                "Invalid JSON: {}",
                e.to_string().lines().next().unwrap_or("")
            ),
            None,
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err((2, "Invalid request: expected an object".into(), None));
    };
    let id = match obj.get(&"id") {
        None => Id::Null,
        Some(x) if x.is_null() => Id::Null,
        Some(x) => match (x.as_i64(), x.as_str()) {
            (Some(n), _) => Id::Int(n),
            (None, Some(s))
                if !s.is_empty()
                    && s.len() <= 36
                    && s.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Id::Text(s.to_string())
            }
            _ => {
                return Err((
                    2,
                    "Invalid request: request ID must be an unsigned integer".into(),
                    None,
                ));
            }
        },
    };
    let method = match obj.get(&"method").map(|m| m.as_str()) {
        None => {
            return Err((
                2,
                "Invalid request: missing field `method`".into(),
                Some(id),
            ));
        }
        Some(Some("SUBSCRIBE")) => Method::Subscribe,
        Some(Some("UNSUBSCRIBE")) => Method::Unsubscribe,
        Some(Some("LIST_SUBSCRIPTIONS")) => Method::List,
        Some(Some("SET_PROPERTY")) => Method::SetProperty,
        Some(Some("GET_PROPERTY")) => Method::GetProperty,
        Some(other) => {
            return Err((
                2,
                format!(
                    "Invalid request: unknown variant `{}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                    other.unwrap_or("")
                ),
                Some(id),
            ));
        }
    };
    let params = match obj.get(&"params") {
        None => Vec::new(),
        Some(p) => match p.as_array() {
            Some(a) => a.iter().cloned().collect(),
            None => {
                return Err((
                    2,
                    "Invalid request: params must be an array".into(),
                    Some(id),
                ));
            }
        },
    };
    Ok((method, params, id))
}

fn apply(
    shared: &Shared,
    session: u64,
    method: Method,
    params: &[sonic_rs::Value],
    id: Id,
) -> String {
    match method {
        Method::Subscribe | Method::Unsubscribe => {
            let mut names = Vec::with_capacity(params.len());
            for p in params {
                match p.as_str() {
                    Some(s) if valid_stream(s) => names.push(s.to_string()),
                    _ => {
                        return refusal(2, "Invalid request: invalid stream name", Some(id));
                    }
                }
            }
            let add = method == Method::Subscribe;
            let ok = shared.fanout.update(session, |streams, _| {
                if add {
                    let new = names.iter().filter(|n| !streams.contains(n)).count();
                    if streams.len() + new > MAX_STREAMS {
                        return false;
                    }
                    for n in &names {
                        if !streams.contains(n) {
                            streams.push(n.clone());
                        }
                    }
                } else {
                    streams.retain(|s| !names.contains(s));
                }
                true
            });
            match ok {
                Some(true) => {
                    if add {
                        shared.on_market_session(&names);
                    }
                    reply((), id)
                }
                Some(false) => refusal(2, "Invalid request: too many streams", Some(id)),
                None => refusal(2, "Invalid request: session closed", Some(id)),
            }
        }
        Method::List => {
            let streams = shared
                .fanout
                .update(session, |s, _| s.clone())
                .unwrap_or_default();
            reply(streams, id)
        }
        Method::SetProperty => {
            let (Some(name), Some(value)) = (params.first(), params.get(1)) else {
                return refusal(2, "Invalid request: too few parameters", Some(id));
            };
            let Some(name) = name.as_str() else {
                return refusal(
                    2,
                    "Invalid request: property name must be a string",
                    Some(id),
                );
            };
            if name != "combined" {
                return refusal(0, "Unknown property", Some(id));
            }
            let Some(b) = value.as_bool() else {
                return refusal(1, "Invalid value type: expected Boolean", Some(id));
            };
            shared.fanout.update(session, |_, wrapped| *wrapped = b);
            reply((), id)
        }
        Method::GetProperty => {
            let Some(name) = params.first() else {
                return refusal(2, "Invalid request: too few parameters", Some(id));
            };
            let Some(name) = name.as_str() else {
                return refusal(
                    2,
                    "Invalid request: property name must be a string",
                    Some(id),
                );
            };
            if name != "combined" {
                return refusal(0, "Unknown property", Some(id));
            }
            let wrapped = shared.fanout.update(session, |_, w| *w).unwrap_or(false);
            reply(wrapped, id)
        }
    }
}

/// A stream name as Binance spells them: lowercase symbol, `@`, the stream (or a
/// listen key, or `!…` all-market streams).
fn valid_stream(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'!' | b'-' | b'.'))
}

/// A message as the fan-out holds it.
pub(super) fn msg(s: String) -> Utf8Bytes {
    Utf8Bytes::from(s)
}
