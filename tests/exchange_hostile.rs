//! `minerva exchange` driven as hostile and careless clients drive a venue: every case
//! of the issue that asked for it ("as trustworthy as the venue it imitates"), each
//! answered as Binance answers it, and none harming another client.
//!
//! Raw sockets on purpose: the cases are what a well-behaved client library never
//! sends (smuggled requests, two lengths, slow bytes, huge frames).

mod common;

use minerva::local_exchange::{Clock, Config, Faults, Limits, LocalExchange, TradingConfig};
use minerva::venues::binance::keys::ApiKeys;
use minerva::venues::binance::sign::Signer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn exchange(speed: Option<f64>, tune: impl FnOnce(&mut Config)) -> LocalExchange {
    let (files, replay) = common::spot_files();
    let mut cfg = Config {
        files,
        replay,
        speed,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        weight_limit: None,
        keys: std::sync::Arc::new(ApiKeys::paper()),
        trading: TradingConfig::default(),
        limits: Limits::default(),
        clock: Clock::Recorded,
    };
    tune(&mut cfg);
    LocalExchange::start(cfg).unwrap()
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    version: u8,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Binance's error code, if the body is an error.
    fn code(&self) -> Option<i64> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("code")?.as_i64()
    }
}

/// Every HTTP answer in `bytes`, in order; `head_only` for answers to HEAD (no body
/// whatever Content-Length says).
fn answers(mut bytes: &[u8], head_only: &[bool]) -> Vec<Answer> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = r.parse(bytes) else {
            return out;
        };
        let hs: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let len: usize = hs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let len = if head_only.get(out.len()).copied().unwrap_or(false) {
            0
        } else {
            len
        };
        let (status, version) = (r.code.unwrap_or(0), r.version.unwrap_or(1));
        let body = String::from_utf8_lossy(&bytes[n..(n + len).min(bytes.len())]).into_owned();
        out.push(Answer {
            status,
            version,
            headers: hs,
            body,
        });
        bytes = &bytes[(n + len).min(bytes.len())..];
    }
}

/// Sends `raw` on a new connection and reads until the server closes it (or 3 s of
/// silence).
fn exchange_raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    answers(&exchange_raw(addr, raw.as_bytes()), &[])
        .into_iter()
        .next()
        .expect("an answer")
}

fn server_time(addr: SocketAddr) -> i64 {
    let a = get(addr, "/api/v3/time");
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    v["serverTime"].as_i64().unwrap()
}

/// A signed request with the paper key pair, `params` then a timestamp from the
/// server's clock (or `ts`), signed in the query.
fn signed_at(addr: SocketAddr, method: &str, path: &str, params: &str, ts: Option<i64>) -> Answer {
    let keys = ApiKeys::paper();
    let ts = ts.unwrap_or_else(|| server_time(addr));
    let payload = if params.is_empty() {
        format!("timestamp={ts}")
    } else {
        format!("{params}&timestamp={ts}")
    };
    let sig = Signer::new(&keys).sign(payload.as_bytes());
    let raw = format!(
        "{method} {path}?{payload}&signature={} HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        std::str::from_utf8(&sig).unwrap(),
        keys.api_key()
    );
    answers(&exchange_raw(addr, raw.as_bytes()), &[])
        .into_iter()
        .next()
        .expect("an answer")
}

fn signed(addr: SocketAddr, method: &str, path: &str, params: &str) -> Answer {
    signed_at(addr, method, path, params, None)
}

fn keyed(addr: SocketAddr, method: &str, path: &str) -> Answer {
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ApiKeys::paper().api_key()
    );
    answers(&exchange_raw(addr, raw.as_bytes()), &[])
        .into_iter()
        .next()
        .expect("an answer")
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(s).is_ok()
}

#[test]
fn http_framing_cannot_be_abused() {
    let venue = exchange(None, |c| {
        c.limits.header_timeout = Duration::from_secs(1);
        c.limits.request_timeout = Duration::from_secs(1);
        c.limits.max_connections = 8;
    });
    let addr = venue.local_addr();

    // A chunked body holding a request: one request, one answer; the "inner" GET is
    // body, never executed.
    let smuggled = "GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let raw = format!(
        "POST /api/v3/order HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
        smuggled.len()
    );
    let got = answers(&exchange_raw(addr, raw.as_bytes()), &[]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_ne!(got[0].status, 200);

    // Two different Content-Length headers: refused (400), nothing served after.
    let raw = "POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /api/v3/ping HTTP/1.1\r\n\r\n";
    let got = answers(&exchange_raw(addr, raw.as_bytes()), &[]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 400);

    // HTTP/1.0: answered as 1.0 and closed (no 1.1 keep-alive).
    let t = Instant::now();
    let got = answers(
        &exchange_raw(addr, b"GET /api/v3/ping HTTP/1.0\r\n\r\n"),
        &[],
    );
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].status, got[0].version), (200, 0));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "closed, not kept alive"
    );

    // HEAD: no body, and the connection stays in step for the next request.
    let raw = "HEAD /api/v3/time HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v3/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let got = answers(&exchange_raw(addr, raw.as_bytes()), &[true, false]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].status, got[0].body.as_str()), (200, ""));
    assert_eq!((got[1].status, got[1].body.as_str()), (200, "{}"));

    // Forty ordinary headers are fine.
    let mut raw = String::from("GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        raw.push_str(&format!("X-Custom-{i}: {i}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    assert_eq!(
        answers(&exchange_raw(addr, raw.as_bytes()), &[])[0].status,
        200
    );

    // A body over the limit: 413, not buffered.
    let raw = format!(
        "POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        1 << 20
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let _ = s.write_all(&[b'a'; 1024]);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(answers(&out, &[])[0].status, 413);

    // A body that never comes whole: 408 after the request timeout.
    let t = Instant::now();
    let raw = "POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nsymbol=";
    let got = answers(&exchange_raw(addr, raw.as_bytes()), &[]);
    assert_eq!(got.first().map(|a| a.status), Some(408), "{got:?}");
    assert!(t.elapsed() < Duration::from_secs(3));

    // A byte at a time, slower than the header timeout: closed, the slot freed.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut closed = false;
    for b in b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n" {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if t.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        closed || !rest.starts_with(b"HTTP/1.1 200"),
        "a slow head is not served"
    );
    assert!(t.elapsed() < Duration::from_secs(6));

    // An idle keep-alive connection is closed after the header timeout.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut all = Vec::new();
    let _ = idle.read_to_end(&mut all);
    assert!(all.starts_with(b"HTTP/1.1 200"));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    // Connections over the cap are closed at once; the others are served.
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = TcpStream::connect(addr).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = over.write_all(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = Vec::new();
    let _ = over.read_to_end(&mut got);
    assert!(got.is_empty(), "over the cap: closed without an answer");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(addr, "/api/v3/ping").status, 200, "slots come back");
    venue.stop();
}

#[test]
fn parameters_are_validated_as_binance_validates_them() {
    let venue = exchange(None, |_| {});
    let addr = venue.local_addr();
    let order = "/api/v3/order";
    let limit = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000";

    // A 37-character id: -1100, and no phantom order.
    let long = format!("{limit}&newClientOrderId={}", "a".repeat(37));
    let a = signed(addr, "POST", order, &long);
    assert_eq!((a.status, a.code()), (400, Some(-1100)), "{}", a.body);
    // Quotes and backslashes: -1100, never echoed into broken JSON.
    for id in ["a%22b", "a%5Cb"] {
        let a = signed(
            addr,
            "POST",
            order,
            &format!("{limit}&newClientOrderId={id}"),
        );
        assert_eq!(a.code(), Some(-1100), "{}", a.body);
        assert!(is_json(&a.body));
    }
    let open = signed(addr, "GET", "/api/v3/openOrders", "symbol=BTCUSDT");
    assert_eq!(open.status, 200);
    assert_eq!(open.body, "[]", "refused orders are not open");
    // Percent-decoded values.
    let a = signed(
        addr,
        "POST",
        order,
        &format!("{limit}&newClientOrderId=my%3Aid"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["clientOrderId"], "my:id");
    // Duplicates: -1101.
    let a = signed(addr, "POST", order, &format!("{limit}&side=SELL"));
    assert_eq!(a.code(), Some(-1101), "{}", a.body);
    // A timestamp that overflows any arithmetic: -1021, never accepted.
    let a = signed_at(addr, "POST", order, limit, Some(i64::MIN));
    assert_eq!(a.code(), Some(-1021), "{}", a.body);
    let a = signed_at(addr, "POST", order, limit, Some(i64::MAX));
    assert_eq!(a.code(), Some(-1021), "{}", a.body);
    // Spot: no selling what the account does not hold.
    let a = signed(
        addr,
        "POST",
        order,
        "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.001",
    );
    assert_eq!((a.status, a.code()), (400, Some(-2010)), "{}", a.body);
    // Bad enums and numbers.
    let a = signed(addr, "POST", order, &limit.replace("side=BUY", "side=UP"));
    assert_eq!(a.code(), Some(-1100));
    let a = signed(
        addr,
        "POST",
        order,
        &limit.replace("type=LIMIT", "type=MOON"),
    );
    assert_eq!(a.code(), Some(-1116));
    let a = signed(
        addr,
        "POST",
        order,
        &limit.replace("price=50000", "price=1e9"),
    );
    assert_eq!(a.code(), Some(-1100));
    venue.stop();
}

#[test]
fn rate_limits_escalate_from_429_to_418() {
    let venue = exchange(None, |c| c.weight_limit = Some(3));
    let addr = venue.local_addr();
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..12 {
        let a = get(addr, "/api/v3/ping");
        if a.status == 418 {
            retry = a.header("Retry-After").map(str::to_string);
            assert_eq!(a.code(), Some(-1003));
        }
        statuses.push(a.status);
        if a.status == 418 {
            break;
        }
    }
    // A minute may turn between requests: look for 429s followed by a 418.
    let first_429 = statuses.iter().position(|&s| s == 429).expect("a 429");
    assert!(statuses[first_429..].contains(&418), "{statuses:?}");
    let secs: u64 = retry.unwrap().parse().unwrap();
    assert!((60..=120).contains(&secs), "{secs}");
    // Banned: every request is 418 until the ban ends.
    assert_eq!(get(addr, "/api/v3/time").status, 418);
    venue.stop();
}

#[test]
fn exchange_info_is_complete_without_a_file_and_time_is_never_zero() {
    let (files, _) = common::spot_files();
    let venue = LocalExchange::start(Config {
        files,
        replay: minerva::replay::ReplayOptions {
            tick: Some("0.01".into()),
            lot: Some("0.00001".into()),
            ..Default::default()
        },
        speed: None,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        weight_limit: None,
        keys: std::sync::Arc::new(ApiKeys::paper()),
        trading: TradingConfig::default(),
        limits: Limits::default(),
        clock: Clock::Recorded,
    })
    .unwrap();
    let addr = venue.local_addr();
    let a = get(addr, "/api/v3/exchangeInfo");
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let s = &v["symbols"][0];
    assert_eq!(s["symbol"], "BTCUSDT");
    assert_eq!(s["baseAsset"], "BTC");
    assert_eq!(s["quoteAsset"], "USDT");
    assert!(s["baseAssetPrecision"].is_u64() && s["quotePrecision"].is_u64());
    assert!(
        s["orderTypes"]
            .as_array()
            .unwrap()
            .contains(&"LIMIT".into())
    );
    assert_eq!(s["permissions"][0], "SPOT");
    assert_eq!(s["isSpotTradingAllowed"], true);
    let filters: Vec<&str> = s["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filterType"].as_str().unwrap())
        .collect();
    for f in ["PRICE_FILTER", "LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS"] {
        assert!(filters.contains(&f), "{filters:?}");
    }
    assert_eq!(v["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    // Read back by Minerva's own reader: the same grids.
    let info = minerva::venues::binance::parse_exchange_info(a.body.as_bytes(), None).unwrap();
    assert_eq!(
        info.specs[0].price.format(info.specs[0].price.step()),
        "0.01"
    );
    // Before any subscriber: the recording's time, not 0.
    let t = server_time(addr);
    assert!(t > 1_700_000_000_000, "{t}");
    venue.stop();

    // --clock wall: this machine's clock.
    let venue = exchange(None, |c| c.clock = Clock::Wall);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t = server_time(venue.local_addr());
    assert!((t - now).abs() < 5_000, "{t} vs {now}");
    // A client signing with its own clock is served.
    let a = signed_at(
        venue.local_addr(),
        "GET",
        "/api/v3/openOrders",
        "symbol=BTCUSDT",
        Some(now),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    venue.stop();
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn ws(addr: SocketAddr, path: &str) -> Ws {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ws, _) = tungstenite::client(format!("ws://{addr}{path}"), s).unwrap();
    ws
}

/// The next text message (pings answered by tungstenite meanwhile).
fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => return Some(t),
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The next answer to a control request (market messages skipped).
fn control_answer(ws: &mut Ws) -> serde_json::Value {
    loop {
        let t = next_text(ws).expect("an answer");
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v.get("result").is_some() || v.get("code").is_some() {
            return v;
        }
    }
}

fn send(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::Text(text.into())).unwrap();
}

#[test]
fn the_websocket_control_protocol_answers_as_binance_does() {
    let venue = exchange(Some(20.0), |_| {});
    let addr = venue.local_addr();
    let mut w = ws(addr, "/ws");
    send(
        &mut w,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}"#,
    );
    assert_eq!(
        control_answer(&mut w),
        serde_json::json!({"result":null,"id":1})
    );
    send(&mut w, r#"{"method":"LIST_SUBSCRIPTIONS","id":"a7"}"#);
    assert_eq!(
        control_answer(&mut w),
        serde_json::json!({"result":["btcusdt@trade","btcusdt@depth@100ms"],"id":"a7"})
    );
    std::thread::sleep(Duration::from_millis(1_100)); // the inbound limit: 5 a second
    // Subscribed: market messages arrive, bare (a raw session).
    let m = next_text(&mut w).unwrap();
    assert!(m.starts_with("{\"e\":"), "{m}");
    send(
        &mut w,
        r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":2}"#,
    );
    assert_eq!(control_answer(&mut w)["id"], 2);
    send(
        &mut w,
        r#"{"method":"SET_PROPERTY","params":["combined",true],"id":3}"#,
    );
    assert_eq!(
        control_answer(&mut w),
        serde_json::json!({"result":null,"id":3})
    );
    send(
        &mut w,
        r#"{"method":"GET_PROPERTY","params":["combined"],"id":4}"#,
    );
    assert_eq!(
        control_answer(&mut w),
        serde_json::json!({"result":true,"id":4})
    );
    std::thread::sleep(Duration::from_millis(1_100));
    // Now wrapped, and only trades.
    for _ in 0..5 {
        let m = next_text(&mut w).unwrap();
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        if v.get("id").is_some() {
            continue;
        }
        assert_eq!(v["stream"], "btcusdt@trade", "{m}");
    }
    // Errors: invalid JSON (3), unknown property (0), wrong type (1), bad request (2).
    send(&mut w, r#"{"method":"SUBSCRIBE","params":["#);
    assert_eq!(control_answer(&mut w)["code"], 3);
    send(
        &mut w,
        r#"{"method":"SET_PROPERTY","params":["colour",true],"id":5}"#,
    );
    assert_eq!(control_answer(&mut w)["code"], 0);
    send(
        &mut w,
        r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":6}"#,
    );
    assert_eq!(control_answer(&mut w)["code"], 1);
    std::thread::sleep(Duration::from_millis(1_100));
    send(
        &mut w,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":{}}"#,
    );
    assert_eq!(control_answer(&mut w)["code"], 2);
    send(&mut w, r#"{"method":"FLY","id":7}"#);
    assert_eq!(control_answer(&mut w)["code"], 2);
    venue.stop();
}

#[test]
fn pings_are_answered_promptly_on_a_busy_session_and_floods_are_cut() {
    let venue = exchange(None, |_| {});
    let addr = venue.local_addr();
    let mut w = ws(addr, "/stream?streams=btcusdt@depth@100ms/btcusdt@trade");
    // Start the replay (the session takes its snapshot) and let it run at full speed.
    let _ = get(addr, "/api/v3/depth?symbol=BTCUSDT&limit=10");
    assert!(next_text(&mut w).is_some());
    let t = Instant::now();
    w.send(tungstenite::Message::Ping(b"p1".to_vec())).unwrap();
    let mut messages = 0;
    loop {
        match w.read().unwrap() {
            tungstenite::Message::Pong(p) => {
                assert_eq!(&p[..], b"p1");
                break;
            }
            _ => messages += 1,
        }
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "pong after {:?} and {messages} messages",
        t.elapsed()
    );
    drop(w);

    // A 16 MB frame: the session is closed before the frame is read.
    let mut big = ws(addr, "/ws/btcusdt@trade");
    let huge = "x".repeat(16 << 20);
    let _ = big.send(tungstenite::Message::Text(huge));
    let mut ended = false;
    for _ in 0..100_000 {
        match big.read() {
            Ok(tungstenite::Message::Close(_)) | Err(_) => {
                ended = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(ended, "a frame over the limit ends the session");

    // More than 5 messages a second (Binance's spot limit): disconnected.
    let mut flood = ws(addr, "/ws/btcusdt@trade");
    for i in 0..10 {
        let _ = flood.send(tungstenite::Message::Text(format!(
            r#"{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}"#
        )));
    }
    let mut answered = 0;
    let mut ended = false;
    for _ in 0..100_000 {
        match flood.read() {
            Ok(tungstenite::Message::Text(t)) if t.contains("\"result\"") => answered += 1,
            Ok(tungstenite::Message::Close(_)) | Err(_) => {
                ended = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(ended && answered <= 5, "{answered} answers, ended {ended}");
    venue.stop();
}

#[test]
fn a_slow_subscriber_harms_no_one() {
    let venue = exchange(Some(20.0), |_| {});
    let addr = venue.local_addr();
    // The slow one subscribes to everything and never reads.
    let slow = TcpStream::connect(addr).unwrap();
    let slow_fd = {
        use std::os::fd::AsRawFd;
        slow.as_raw_fd()
    };
    // A small receive window: its buffers fill sooner.
    let small: libc::c_int = 4096;
    unsafe {
        libc::setsockopt(
            slow_fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let (_slow_ws, _) = tungstenite::client(
        format!("ws://{addr}/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@aggTrade"),
        slow,
    )
    .unwrap();
    // The reader: the same streams, reading.
    let mut fast = ws(addr, "/stream?streams=btcusdt@depth@100ms/btcusdt@trade");
    let _ = get(addr, "/api/v3/depth?symbol=BTCUSDT&limit=10");
    let t0 = server_time(addr);
    let start = Instant::now();
    let mut got = 0u64;
    let mut gaps = Duration::ZERO;
    let mut last = Instant::now();
    while start.elapsed() < Duration::from_secs(25) && venue.slow_sessions() == 0 {
        if next_text(&mut fast).is_none() {
            panic!("the reading session was closed after {got} messages");
        }
        got += 1;
        gaps = gaps.max(last.elapsed());
        last = Instant::now();
    }
    // Keep reading a little after the slow one is gone.
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(2) {
        assert!(next_text(&mut fast).is_some());
        got += 1;
        gaps = gaps.max(last.elapsed());
        last = Instant::now();
    }
    assert_eq!(venue.slow_sessions(), 1, "the slow session is disconnected");
    assert!(got > 1_000, "{got} messages");
    assert!(gaps < Duration::from_secs(2), "the reader waited {gaps:?}");
    // The exchange's clock moved on with the replay.
    assert!(server_time(addr) > t0);
    venue.stop();
}

#[test]
fn listen_keys_are_validated_and_expire_with_an_event() {
    let venue = exchange(Some(20.0), |_| {});
    let addr = venue.local_addr();
    let path = "/api/v3/userDataStream";
    // Unknown keys: -1125; the real key survives.
    let a = keyed(addr, "POST", path);
    let key = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["listenKey"]
        .as_str()
        .unwrap()
        .to_string();
    let a = keyed(addr, "PUT", &format!("{path}?listenKey=nope"));
    assert_eq!((a.status, a.code()), (400, Some(-1125)));
    let a = keyed(addr, "DELETE", &format!("{path}?listenKey=nope"));
    assert_eq!((a.status, a.code()), (400, Some(-1125)));
    assert_eq!(
        keyed(addr, "PUT", &format!("{path}?listenKey={key}")).status,
        200
    );
    // A combined session on the key with a market stream: events wrapped with the key.
    let mut user = ws(addr, &format!("/stream?streams={key}"));
    let mut raw = ws(addr, &format!("/ws/{key}"));
    std::thread::sleep(Duration::from_millis(300));
    let a = signed(
        addr,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=40000&newClientOrderId=u1",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let m = next_text(&mut user).unwrap();
    let v: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(v["stream"], key.as_str());
    assert_eq!(v["data"]["e"], "executionReport");
    assert_eq!(v["data"]["c"], "u1");
    let m = next_text(&mut raw).unwrap();
    assert!(m.contains("\"executionReport\""), "{m}");
    // DELETE: listenKeyExpired, then the sessions end; nothing more arrives.
    assert_eq!(
        keyed(addr, "DELETE", &format!("{path}?listenKey={key}")).status,
        200
    );
    let m = next_text(&mut raw).unwrap();
    assert!(m.contains("\"listenKeyExpired\""), "{m}");
    assert_eq!(next_text(&mut raw), None, "the session ends");
    let m = next_text(&mut user).unwrap();
    assert!(m.contains("listenKeyExpired"), "{m}");
    assert_eq!(next_text(&mut user), None);
    let a = keyed(addr, "PUT", &format!("{path}?listenKey={key}"));
    assert_eq!(a.code(), Some(-1125), "a closed key is unknown");
    venue.stop();
}
