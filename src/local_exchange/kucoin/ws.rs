//! The local KuCoin venue's WebSocket sessions, as KuCoin runs them (protocol notes
//! §2): a token from the bullet call is required; the session opens with a welcome
//! carrying the client's `connectId`; the client subscribes (`subscribe`,
//! `unsubscribe`, several symbols joined by `,`), pings and is answered; KuCoin's
//! limits hold — at most [`MAX_TOPICS`] topics a session and 100 symbols a
//! subscription (error 509), [`MAX_INBOUND`] client messages per 10 s, and a client
//! silent longer than the ping interval and timeout is closed. What no session may
//! do to the others is the fan-out's rule (a slow reader is disconnected).

use super::{PING_INTERVAL_MS, PING_TIMEOUT_MS, Shared};
use crate::local_exchange::fanout::{Outbox, send};
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Topics one session may hold (KuCoin's documented 300).
pub const MAX_TOPICS: usize = 300;
/// Symbols one subscription may name (KuCoin's documented 100).
pub const MAX_SYMBOLS_PER_TOPIC: usize = 100;
/// Client messages allowed per 10 s (KuCoin's documented 100).
pub const MAX_INBOUND: u32 = 100;
/// Largest frame a client may send.
const MAX_FRAME: usize = 64 * 1024;

/// A message as the fan-out holds it.
pub(super) fn msg(s: String) -> Utf8Bytes {
    Utf8Bytes::from(s)
}

fn refuse(status: StatusCode, code: &str, text: &str) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::rest::refusal(code, text),
    )
        .into_response()
}

/// The upgrade of `/endpoint?token=…&connectId=…`.
pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let query = uri.query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let Some(private) = param("token").and_then(|t| shared.token_known(&t)) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "401",
            "token is invalid: take one from POST /api/v1/bullet-public",
        );
    };
    if shared.done.load(Ordering::Relaxed) {
        // Nothing will ever be published again (410 Gone: an end, not an outage).
        return refuse(StatusCode::GONE, "410", "The data has been served.");
    }
    // KuCoin echoes the client's id; one is made up when the client sent none.
    let connect_id = param("connectId")
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| format!("{:x}", fastrand::u64(..)));
    serve(
        shared,
        ws,
        Dialect::Classic {
            connect_id,
            private,
        },
    )
}

/// The upgrade of `/`: the unified account's public session (`super::uta`), no token.
pub(super) async fn upgrade_uta(
    State(shared): State<Arc<Shared>>,
    ws: WebSocketUpgrade,
) -> Response {
    if shared.done.load(Ordering::Relaxed) {
        return refuse(StatusCode::GONE, "410", "The data has been served.");
    }
    let connect_id = format!("{:x}", fastrand::u64(..));
    serve(shared, ws, Dialect::Uta { connect_id })
}

/// Which session a socket runs.
enum Dialect {
    /// The classic session: its connection id, and whether its token is private.
    Classic { connect_id: String, private: bool },
    /// The unified account's public session (binary frames).
    Uta { connect_id: String },
}

impl Dialect {
    fn welcome(&self) -> String {
        match self {
            Dialect::Classic { connect_id, .. } => {
                format!(r#"{{"id":"{connect_id}","type":"welcome"}}"#)
            }
            Dialect::Uta { connect_id } => super::uta::welcome(connect_id),
        }
    }

    /// A server frame: text on the classic session, binary on the unified one.
    fn frame(&self, m: Utf8Bytes) -> Message {
        match self {
            Dialect::Classic { .. } => Message::Text(m),
            Dialect::Uta { .. } => Message::Binary(axum::body::Bytes::from(m.as_str().to_owned())),
        }
    }

    fn max_inbound(&self) -> u32 {
        match self {
            Dialect::Classic { .. } => MAX_INBOUND,
            Dialect::Uta { .. } => super::uta::MAX_INBOUND,
        }
    }

    /// The answers to a client's message.
    fn answer(&self, shared: &Shared, session: u64, text: &str) -> Vec<String> {
        match self {
            Dialect::Classic { private, .. } => control(shared, session, text, *private)
                .into_iter()
                .collect(),
            Dialect::Uta { .. } => super::uta::control(shared, session, text),
        }
    }
}

fn serve(shared: Arc<Shared>, ws: WebSocketUpgrade, dialect: Dialect) -> Response {
    let ws = ws
        .max_frame_size(MAX_FRAME)
        .max_message_size(MAX_FRAME)
        .max_write_buffer_size(4 * 1024 * 1024);
    ws.on_upgrade(move |socket| async move {
        let outbox = shared.fanout.subscribe(Vec::new(), false);
        let id = outbox.id;
        shared.sessions_open.fetch_add(1, Ordering::Relaxed);
        run(&shared, socket, outbox, &dialect).await;
        shared.fanout.remove(id);
        shared.sessions_open.fetch_sub(1, Ordering::Relaxed);
    })
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Client,
    Slow,
    RateLimited,
    Silent,
    Closed,
}

async fn run(shared: &Shared, mut socket: WebSocket, mut outbox: Outbox, dialect: &Dialect) -> End {
    let kick = outbox.kick.clone();
    if !send(&mut socket, &kick, dialect.frame(dialect.welcome().into())).await {
        return End::Slow;
    }
    let silent_limit = Duration::from_millis(PING_INTERVAL_MS + PING_TIMEOUT_MS);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = Instant::now();
    let mut window = (Instant::now(), 0u32);
    let end = loop {
        tokio::select! {
            biased;
            () = kick.notified() => break End::Slow,
            incoming = socket.recv() => {
                let Some(Ok(m)) = incoming else { break End::Client };
                last_heard = Instant::now();
                if window.0.elapsed() >= Duration::from_secs(10) {
                    window = (Instant::now(), 0);
                }
                window.1 += 1;
                if window.1 > dialect.max_inbound() {
                    break End::RateLimited;
                }
                let text = match &m {
                    Message::Text(t) => Some(t.as_str()),
                    // The unified session's clients may send binary JSON too.
                    Message::Binary(b) if matches!(dialect, Dialect::Uta { .. }) => {
                        std::str::from_utf8(b).ok()
                    }
                    Message::Close(_) => break End::Client,
                    _ => None,
                };
                let mut slow = false;
                for r in text.map(|t| dialect.answer(shared, outbox.id, t)).unwrap_or_default() {
                    if !send(&mut socket, &kick, dialect.frame(r.into())).await {
                        slow = true;
                        break;
                    }
                }
                if slow {
                    break End::Slow;
                }
            }
            m = outbox.rx.recv() => match m {
                Some(m) => {
                    if !send(&mut socket, &kick, dialect.frame(m)).await {
                        break End::Slow;
                    }
                }
                None => break End::Closed,
            },
            _ = check.tick() => {
                if last_heard.elapsed() > silent_limit {
                    break End::Silent;
                }
            }
        }
    };
    match end {
        End::Slow => tracing::info!(
            session = outbox.id,
            "KuCoin session disconnected: it did not read fast enough"
        ),
        End::RateLimited => tracing::info!(
            session = outbox.id,
            "KuCoin session disconnected: over its client messages per 10 s"
        ),
        End::Silent => tracing::info!(
            session = outbox.id,
            "KuCoin session disconnected: no ping within the ping interval and timeout"
        ),
        End::Client | End::Closed => {
            tracing::debug!(session = outbox.id, ?end, "KuCoin session ended")
        }
    }
    if matches!(end, End::Closed | End::RateLimited | End::Silent) {
        let served = end == End::Closed && shared.done.load(std::sync::atomic::Ordering::Relaxed);
        crate::local_exchange::fanout::close(&mut socket, served).await;
    }
    end
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    id: Option<sonic_rs::Value>,
    #[serde(rename = "type", default)]
    typ: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(rename = "privateChannel", default)]
    private: bool,
    #[serde(default = "yes")]
    response: bool,
}

fn yes() -> bool {
    true
}

fn error(id: &str, code: u32, text: &str) -> String {
    sonic_rs::to_string(&sonic_rs::json!({"id": id, "type": "error", "code": code, "data": text}))
        .unwrap_or_default()
}

/// A client message answered: a pong, an ack (when asked for), or an error. `None`:
/// nothing to send.
fn control(shared: &Shared, session: u64, text: &str, private_session: bool) -> Option<String> {
    use sonic_rs::JsonValueTrait;
    let Ok(req) = sonic_rs::from_str::<Request>(text) else {
        return Some(error("", 400, "the message is not a KuCoin request"));
    };
    let id = match &req.id {
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        None => String::new(),
    };
    match req.typ.as_str() {
        "ping" => {
            let us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            Some(
                sonic_rs::to_string(&sonic_rs::json!({"id": id, "type": "pong", "timestamp": us}))
                    .unwrap_or_default(),
            )
        }
        "subscribe" | "unsubscribe" => {
            let adding = req.typ == "subscribe";
            let topic = req.topic.as_deref().unwrap_or("");
            let private_topic = super::desk::is_private_topic(topic);
            if private_topic && !(req.private && private_session) {
                return Some(error(
                    &id,
                    401,
                    "private topics need privateChannel and a bullet-private token",
                ));
            }
            let expanded = if private_topic {
                Ok(vec![topic.to_string()])
            } else {
                expand(shared, topic)
            };
            let topics = match expanded {
                Ok(t) => t,
                Err((code, why)) => return Some(error(&id, code, &why)),
            };
            let over = shared.fanout.update(session, |streams, _| {
                if adding {
                    for t in &topics {
                        if !streams.contains(t) {
                            streams.push(t.clone());
                        }
                    }
                    if streams.len() > MAX_TOPICS {
                        streams.retain(|s| !topics.contains(s));
                        return true;
                    }
                } else {
                    streams.retain(|s| !topics.contains(s));
                }
                false
            });
            if over == Some(true) {
                return Some(error(
                    &id,
                    509,
                    "exceed max subscription count limitation of 300 per session",
                ));
            }
            if adding && !private_topic {
                shared.gate.subscribed();
            }
            req.response.then(|| {
                sonic_rs::to_string(&sonic_rs::json!({"id": id, "type": "ack"})).unwrap_or_default()
            })
        }
        _ => Some(error(&id, 404, "unknown request type")),
    }
}

/// `/market/level2:A,B` → one topic per symbol, each checked: a known channel, a
/// served symbol (candles: `SYMBOL_1min`).
fn expand(shared: &Shared, topic: &str) -> Result<Vec<String>, (u32, String)> {
    const CHANNELS: [&str; 7] = [
        "/market/level2",
        "/market/match",
        "/market/ticker",
        "/market/candles",
        "/contractMarket/level2",
        "/contractMarket/execution",
        "/contractMarket/tickerV2",
    ];
    let unknown = || (404, format!("topic {topic} does not exist"));
    let (channel, list) = topic.split_once(':').ok_or_else(unknown)?;
    if !CHANNELS.contains(&channel) {
        return Err(unknown());
    }
    let symbols: Vec<&str> = list.split(',').filter(|s| !s.is_empty()).collect();
    if symbols.is_empty() {
        return Err(unknown());
    }
    if symbols.len() > MAX_SYMBOLS_PER_TOPIC {
        return Err((509, "exceed max symbols of 100 per subscription".into()));
    }
    let mut out = Vec::with_capacity(symbols.len());
    for s in symbols {
        let name = if channel == "/market/candles" {
            s.rsplit_once('_').map_or(s, |(n, _)| n)
        } else {
            s
        };
        if !shared.specs.iter().any(|spec| spec.name.as_str() == name) {
            return Err(unknown());
        }
        out.push(format!("{channel}:{s}"));
    }
    Ok(out)
}
