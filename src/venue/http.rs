//! Just enough HTTP/1.1 for a local venue: one request per connection, read with
//! `httparse`, answered as JSON, then closed. Cold path.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Request heads larger than this are refused (Binance's limit is far below).
const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `DELETE`…
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string (after `?`), empty when absent.
    pub query: String,
    /// `Sec-WebSocket-Key` when the request asks to upgrade to a WebSocket.
    pub websocket_key: Option<String>,
}

/// Reads one request head from `stream`. `None` for a malformed or oversized head,
/// or a peer that went away.
pub fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let target = req.path?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    Some(Request {
        method: req.method?.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        websocket_key: if upgrade {
            header("sec-websocket-key").map(str::to_string)
        } else {
            None
        },
    })
}

/// The value of `key` in a query string.
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Writes a JSON answer and closes (errors: the peer went away, nothing to do).
pub fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) {
    respond_with(stream, status, &[], body);
}

/// [`respond`] with extra headers (`name: value` pairs).
pub fn respond_with(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// A Binance-shaped error body.
pub fn error_body(code: i32, msg: &str) -> Vec<u8> {
    format!("{{\"code\":{code},\"msg\":\"{msg}\"}}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(query_param("symbol=BTCUSDT&limit=5", "limit"), Some("5"));
        assert_eq!(query_param("symbol=BTCUSDT", "limit"), None);
        assert_eq!(query_param("", "x"), None);
    }
}
