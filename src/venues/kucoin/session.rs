//! KuCoin's WebSocket sessions, the venue's half of them: the classic session
//! (protocol notes §2: the bullet token and the server it names, the welcome,
//! acknowledgements, pongs and errors the server sends, and what the client sends —
//! subscriptions, pings) and the unified account's public session (§5: no token, a
//! fixed host, `{"action":"SUBSCRIBE","channel",…}` answered `{"id","result":true}`).
//! Cold: each runs once per connection or once per ping interval, never per market
//! message.

use super::AnswerError;
use crate::net::tls;
use crate::net::ws::{Wire, WireError};
use serde::Deserialize;
use std::time::Duration;

/// A token and the server to use it on (`POST /api/v1/bullet-public|private`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bullet {
    /// The token (valid 24 h; a new one per connection).
    pub token: String,
    /// The WebSocket server (`wss://ws-api-spot.kucoin.com/`).
    pub endpoint: String,
    /// How often the client must ping.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered.
    pub ping_timeout: Duration,
}

#[derive(Deserialize)]
struct BulletAnswer {
    code: String,
    #[serde(default)]
    msg: Option<String>,
    data: Option<BulletData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulletData {
    token: String,
    instance_servers: Vec<Server>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Server {
    endpoint: String,
    #[serde(default)]
    ping_interval: Option<u64>,
    #[serde(default)]
    ping_timeout: Option<u64>,
}

/// KuCoin's documented defaults when a server omits them (ms); the unified session
/// states none.
pub const PING_INTERVAL_MS: u64 = 18_000;
/// See [`PING_INTERVAL_MS`].
pub const PING_TIMEOUT_MS: u64 = 10_000;

/// Reads a bullet answer: the first instance server is the one to use (§2).
///
/// # Errors
/// [`AnswerError`] when it is not one, KuCoin refused, or it names no server.
pub fn parse_bullet(json: &[u8]) -> Result<Bullet, AnswerError> {
    let a: BulletAnswer = sonic_rs::from_slice(json)
        .map_err(|e| AnswerError::Json("a KuCoin bullet answer", e.to_string()))?;
    if a.code != "200000" {
        return Err(AnswerError::Refused {
            code: a.code,
            msg: a.msg.unwrap_or_default(),
        });
    }
    let d = a
        .data
        .ok_or_else(|| AnswerError::Json("a KuCoin bullet answer", "no data".into()))?;
    let s =
        d.instance_servers.into_iter().next().ok_or_else(|| {
            AnswerError::Json("a KuCoin bullet answer", "no instance server".into())
        })?;
    Ok(Bullet {
        token: d.token,
        endpoint: s.endpoint,
        ping_interval: Duration::from_millis(
            s.ping_interval.unwrap_or(PING_INTERVAL_MS).max(1_000),
        ),
        ping_timeout: Duration::from_millis(s.ping_timeout.unwrap_or(PING_TIMEOUT_MS).max(1_000)),
    })
}

impl Bullet {
    /// The URL to connect to: the server with the token and the client's connection id
    /// (echoed in the welcome).
    pub fn url(&self, connect_id: &str) -> String {
        let sep = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}token={}&connectId={connect_id}",
            self.endpoint, self.token
        )
    }
}

/// What a frame that is not market data says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The session is usable (`id` = the connection id sent).
    Welcome(String),
    /// A subscription (or other request) with this id was accepted.
    Ack(String),
    /// The answer to a ping.
    Pong(String),
    /// A request was refused: its id, KuCoin's code and text (404 unknown topic, 401
    /// expired token, 509 too many subscriptions).
    Error {
        /// The request's id.
        id: String,
        /// KuCoin's code.
        code: i64,
        /// Its text.
        text: String,
    },
    /// Market data (`"type":"message"`), or a frame of another kind.
    Other,
}

#[derive(Deserialize)]
struct ControlDe {
    #[serde(rename = "type", default)]
    typ: String,
    #[serde(default)]
    id: Option<sonic_rs::Value>,
    /// A number, or (as KuCoin's REST codes are) a string of digits: read loosely, so
    /// a refusal is never mistaken for data because of a field's type.
    #[serde(default)]
    code: Option<sonic_rs::Value>,
    #[serde(default)]
    data: Option<sonic_rs::Value>,
    /// The unified session's answer to a subscription (`true`, or `false` with a
    /// `reason`).
    #[serde(default)]
    result: Option<sonic_rs::Value>,
    #[serde(default)]
    message: Option<sonic_rs::Value>,
    #[serde(default)]
    reason: Option<sonic_rs::Value>,
}

/// Reads a control frame, of either session. KuCoin writes ids as strings or numbers;
/// both are kept as text.
pub fn control(frame: &[u8]) -> Control {
    use sonic_rs::JsonValueTrait;
    let Ok(c) = sonic_rs::from_slice::<ControlDe>(frame) else {
        return Control::Other;
    };
    let text = |v: &Option<sonic_rs::Value>| match v {
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        None => String::new(),
    };
    let id = text(&c.id);
    let code = c
        .code
        .as_ref()
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    if let Some(r) = &c.result {
        return if r.as_bool() == Some(true) || r.as_str() == Some("true") {
            Control::Ack(id)
        } else {
            let why = match (&c.reason, &c.message) {
                (Some(_), _) => &c.reason,
                (None, Some(_)) => &c.message,
                _ => &c.data,
            };
            Control::Error {
                id,
                code,
                text: text(why),
            }
        };
    }
    if c.typ.is_empty() && c.message.as_ref().and_then(|m| m.as_str()) == Some("welcome") {
        return Control::Welcome(id);
    }
    match c.typ.as_str() {
        "welcome" => Control::Welcome(id),
        "ack" => Control::Ack(id),
        "pong" => Control::Pong(id),
        "error" => Control::Error {
            id,
            code,
            text: text(&c.data),
        },
        _ => Control::Other,
    }
}

/// A subscription to `topic` (several symbols may be joined with `,`), asking for an
/// acknowledgement.
pub fn subscribe(id: u64, topic: &str, private: bool) -> String {
    format!(
        r#"{{"id":"{id}","type":"subscribe","topic":"{topic}","privateChannel":{private},"response":true}}"#
    )
}

/// A unified-account subscription: one `channel` of one `symbol` (KuCoin refuses a
/// list), `depth` for `obu`.
pub fn uta_subscribe(
    id: u64,
    channel: &str,
    market: crate::core::Market,
    symbol: &str,
    depth: Option<&str>,
) -> String {
    let trade_type = if market.is_futures() {
        "FUTURES"
    } else {
        "SPOT"
    };
    let mut v = sonic_rs::json!({"id": id.to_string(), "action": "SUBSCRIBE",
        "channel": channel, "tradeType": trade_type, "symbol": symbol});
    if let Some(d) = depth {
        use sonic_rs::JsonValueMutTrait;
        if let Some(o) = v.as_object_mut() {
            o.insert("depth", d);
            // Orders for retail price improvement left out (KuCoin's default).
            o.insert("rpiFilter", 0);
        }
    }
    sonic_rs::to_string(&v).unwrap_or_default()
}

/// A ping, written on the stack (sent every ping interval: no allocation).
pub fn ping(id: u64) -> arrayvec::ArrayString<64> {
    let mut out = arrayvec::ArrayString::new();
    // At most 20 digits and 24 bytes of text: it fits.
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!(r#"{{"id":"{id}","type":"ping"}}"#));
    out
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The token request failed.
    #[error("bullet token: {0}")]
    Rest(#[from] crate::net::http::RestError),
    /// The token answer was a refusal or did not read.
    #[error("bullet token: {0}")]
    Bullet(#[from] super::AnswerError),
    /// The WebSocket failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The server refused the session (an error frame before the welcome).
    #[error("{0}")]
    Refused(String),
    /// A topic refused (an unknown symbol): trying again will not help.
    #[error("{0}")]
    Subscription(String),
}

/// A session opened: its WebSocket, the server's `host:port`, and the messages that
/// came before the subscriptions' acks (in order).
pub struct Opened {
    /// The WebSocket, welcomed and subscribed; its read timeout is [`OPEN_TIMEOUT`].
    pub wire: Wire,
    /// The server it is on.
    pub host: String,
    /// Messages received while the acks were awaited.
    pub held: Vec<Vec<u8>>,
}

/// How long each step of opening a session may take.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a session on the server `bullet` names (a fresh `connectId`), waits for the
/// welcome (§2: the session is usable only after it), subscribes to `topics`
/// (`(topic, private)`) and waits for each ack. `next_id` numbers the requests. Cold.
///
/// # Errors
/// [`OpenError`]: the connection, the server's refusal, a refused topic.
pub fn open<'a>(
    bullet: &Bullet,
    topics: impl IntoIterator<Item = (&'a str, bool)>,
    rng: &mut fastrand::Rng,
    next_id: &mut u64,
) -> Result<Opened, OpenError> {
    let connect_id = format!("mnv{:016x}", rng.u64(..));
    let requests: Vec<Request> = topics
        .into_iter()
        .map(|(topic, private)| {
            *next_id += 1;
            Request {
                id: *next_id,
                what: topic.to_string(),
                frame: subscribe(*next_id, topic, private),
            }
        })
        .collect();
    open_at(&bullet.url(&connect_id), requests, rng)
}

/// A request sent when a session opens, answered by its id.
pub struct Request {
    /// Its id.
    pub id: u64,
    /// What it asks for (in errors).
    pub what: String,
    /// The frame.
    pub frame: String,
}

/// Opens a unified-account public session at `url` (no token), waits for the
/// welcome, sends `requests` ([`uta_subscribe`] frames) and waits for each answer.
/// Cold.
///
/// # Errors
/// [`OpenError`]: the connection, the server's refusal, a refused subscription.
pub fn open_uta(
    url: &str,
    requests: Vec<Request>,
    rng: &mut fastrand::Rng,
) -> Result<Opened, OpenError> {
    open_at(url, requests, rng)
}

/// The session at `url`: the welcome, then `requests`, each answered.
fn open_at(
    url: &str,
    requests: Vec<Request>,
    rng: &mut fastrand::Rng,
) -> Result<Opened, OpenError> {
    let (host, tls, path) = split_url(url);
    let stream = tls::Conn::connect(&host, tls, OPEN_TIMEOUT).map_err(WireError::Io)?;
    let mut wire = Wire::handshake(stream, &host, &path, rng.u64(..))?;
    wire.stream()
        .tcp()
        .set_read_timeout(Some(OPEN_TIMEOUT))
        .map_err(WireError::Io)?;
    loop {
        let m = wire.read_message()?;
        match control(m) {
            Control::Welcome(_) => break,
            Control::Error { code, text, .. } => {
                return Err(OpenError::Refused(format!(
                    "KuCoin refused the session: {code} {text}"
                )));
            }
            _ => {}
        }
    }
    let mut waiting = Vec::new();
    for r in requests {
        wire.send_text(r.frame.as_bytes())?;
        waiting.push((r.id.to_string(), r.what));
    }
    let mut held = Vec::new();
    while !waiting.is_empty() {
        let m = wire.read_message()?;
        match control(m) {
            Control::Ack(id) => waiting.retain(|(w, _)| *w != id),
            Control::Error { id, code, text } => {
                let topic = waiting
                    .iter()
                    .find(|(w, _)| *w == id)
                    .map_or("", |(_, t)| t.as_str());
                return Err(OpenError::Subscription(format!(
                    "KuCoin refused the subscription to {topic}: {code} {text}"
                )));
            }
            Control::Welcome(_) | Control::Pong(_) => {}
            Control::Other => held.push(m.to_vec()),
        }
    }
    Ok(Opened { wire, host, held })
}

/// `wss://host/path?query` → (`host:port`, TLS, `/path?query`); the port from the
/// scheme when absent.
pub(crate) fn split_url(url: &str) -> (String, bool, String) {
    let (rest, tls) = crate::net::http::endpoint(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:{}", if tls { 443 } else { 80 })
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    (host, tls, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_answers_and_welcome() {
        assert_eq!(
            control(br#"{"id":"4","type":"welcome","message":"welcome","pingInterval":18000}"#),
            Control::Welcome("4".into())
        );
        assert_eq!(
            control(br#"{"id":"c","message":"welcome"}"#),
            Control::Welcome("c".into())
        );
        assert_eq!(
            control(br#"{"id":"5","result":true}"#),
            Control::Ack("5".into())
        );
        // ccxt's shape (`reason`), a `message`, a code as a string: refusals all.
        assert_eq!(
            control(br#"{"id":"6","result":false,"reason":"symbol not served"}"#),
            Control::Error {
                id: "6".into(),
                code: 0,
                text: "symbol not served".into()
            }
        );
        assert_eq!(
            control(br#"{"id":7,"result":"false","code":"400100","message":"bad"}"#),
            Control::Error {
                id: "7".into(),
                code: 400100,
                text: "bad".into()
            }
        );
        let s = uta_subscribe(
            9,
            "obu",
            crate::core::Market::Spot,
            "BTC-USDT",
            Some("increment@10ms"),
        );
        let v: sonic_rs::Value = sonic_rs::from_str(&s).unwrap();
        use sonic_rs::JsonValueTrait;
        assert_eq!(v["id"].as_str(), Some("9"));
        assert_eq!(v["tradeType"].as_str(), Some("SPOT"));
        assert_eq!(v["depth"].as_str(), Some("increment@10ms"));
        assert_eq!(v["rpiFilter"].as_i64(), Some(0));
    }

    #[test]
    fn bullet_answers() {
        // The shape KuCoin documents for POST /api/v1/bullet-public.
        let a = br#"{"code":"200000","data":{"token":"2neAiuYvAU61ZDXANAGAsiL4-iAExhsBXZxftpOeh_55i3Ysy2q2LEsEWU64mdzUOPusi34M_wGoSf7iNyEWJ4aBZXpWhrmY9jKtqkdWoFa75w3istPvPtiYB9J6i9GjsxUuhPw3BlrzazF6ghq4L2ls_Ixv_6qQ8ZRhwt_6WmM=.ianWlE3VQZ8-o-9A2vn53Q==","instanceServers":[{"endpoint":"wss://ws-api-spot.kucoin.com/","encrypt":true,"protocol":"websocket","pingInterval":18000,"pingTimeout":10000}]}}"#;
        let b = parse_bullet(a).unwrap();
        assert_eq!(b.endpoint, "wss://ws-api-spot.kucoin.com/");
        assert_eq!(b.ping_interval, Duration::from_secs(18));
        assert_eq!(b.ping_timeout, Duration::from_secs(10));
        assert!(
            b.url("c1")
                .starts_with("wss://ws-api-spot.kucoin.com/?token=2neAiuYv")
        );
        assert!(b.url("c1").ends_with("&connectId=c1"));
        assert!(matches!(
            parse_bullet(br#"{"code":"429000","msg":"Too Many Requests"}"#),
            Err(AnswerError::Refused { .. })
        ));
        for bad in [
            &br#"{"code":"200000","data":{"token":"t","instanceServers":[]}}"#[..],
            br#"{"code":"200000"}"#,
            b"<html>502</html>",
        ] {
            assert!(parse_bullet(bad).is_err());
        }
    }

    #[test]
    fn control_frames() {
        assert_eq!(
            control(br#"{"id":"hQvf8jkno","type":"welcome"}"#),
            Control::Welcome("hQvf8jkno".into())
        );
        assert_eq!(
            control(br#"{"id":1,"type":"ack"}"#),
            Control::Ack("1".into())
        );
        assert_eq!(
            control(br#"{"id":"7","type":"pong","timestamp":1764000000000000}"#),
            Control::Pong("7".into())
        );
        assert_eq!(
            control(br#"{"id":"2","type":"error","code":401,"data":"token is expired"}"#),
            Control::Error {
                id: "2".into(),
                code: 401,
                text: "token is expired".into()
            }
        );
        assert_eq!(
            control(br#"{"type":"message","topic":"/market/ticker:BTC-USDT","data":{}}"#),
            Control::Other
        );
        assert_eq!(control(b"not json"), Control::Other);
    }

    #[test]
    fn what_the_client_sends() {
        assert_eq!(
            subscribe(3, "/market/level2:BTC-USDT", false),
            r#"{"id":"3","type":"subscribe","topic":"/market/level2:BTC-USDT","privateChannel":false,"response":true}"#
        );
        assert_eq!(ping(9).as_str(), r#"{"id":"9","type":"ping"}"#);
    }
}
