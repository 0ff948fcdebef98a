//! Just enough HTTP/1.1 for the local exchange: requests read with `httparse` (head,
//! then a `Content-Length` body), answered as JSON, on keep-alive connections (an
//! order client keeps one open; a `Connection: close` request ends it). Cold path;
//! what the requests mean is the venue's (`venues::<venue>::server`).

use std::io::{Read, Write};

/// Request heads larger than this are refused (Binance's limit is far below).
const MAX_HEAD: usize = 16 * 1024;
/// Bodies larger than this are refused (signed form bodies are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// A parsed request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `DELETE`…
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string (after `?`), empty when absent.
    pub query: String,
    /// The body (a form body for signed `POST`s), empty when absent.
    pub body: String,
    /// Every header, names as sent.
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Key` when the request asks to upgrade to a WebSocket.
    pub websocket_key: Option<String>,
    /// The client asked to close the connection after the answer.
    pub close: bool,
}

impl Request {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One connection's unread bytes: what a read brought beyond one request stays for
/// the next (pipelined and keep-alive requests).
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// The next request on `stream`. `None` for a malformed or oversized request, or
    /// a peer that went away.
    pub fn next(&mut self, stream: &mut impl Read) -> Option<Request> {
        let mut chunk = [0u8; 2048];
        let head_len = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return None;
            }
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&self.buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        let length = match header("content-length") {
            Some(v) => v.trim().parse::<usize>().ok().filter(|&n| n <= MAX_BODY)?,
            None => 0,
        };
        let target = req.path?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let mut out = Request {
            method: req.method?.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body: String::new(),
            headers: req
                .headers
                .iter()
                .filter_map(|h| {
                    Some((
                        h.name.to_string(),
                        std::str::from_utf8(h.value).ok()?.to_string(),
                    ))
                })
                .collect(),
            websocket_key: if upgrade {
                header("sec-websocket-key").map(str::to_string)
            } else {
                None
            },
            close: header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
        };
        while self.buf.len() < head_len + length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        out.body = String::from_utf8(self.buf[head_len..head_len + length].to_vec()).ok()?;
        self.buf.drain(..head_len + length);
        Some(out)
    }
}

/// Reads one request from `stream`. `None` for a malformed or oversized request, or
/// a peer that went away.
pub fn read_request(stream: &mut impl Read) -> Option<Request> {
    Reader::default().next(stream)
}

/// Writes a JSON answer and asks the client to close (errors: the peer went away,
/// nothing to do).
pub fn respond(stream: &mut impl Write, status: u16, body: &[u8]) {
    respond_with(stream, status, &[], body, true);
}

/// [`respond`] with extra headers (`name: value` pairs); `close` ends the
/// connection after it, otherwise it stays open for the next request.
pub fn respond_with(
    stream: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    close: bool,
) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if close { "close" } else { "keep-alive" }
    ));
    // One write: a keep-alive client reads the answer as soon as it is whole.
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_requests_with_bodies() {
        let wire = b"POST /v1/order?symbol=BTCUSDT HTTP/1.1\r\nX-Key: k1\r\nContent-Length: 11\r\n\r\nside=BUY&x=GET /v1/ping HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut r = std::io::Cursor::new(&wire[..]);
        let mut reader = Reader::default();
        let a = reader.next(&mut r).unwrap();
        assert_eq!(
            (a.method.as_str(), a.path.as_str(), a.body.as_str()),
            ("POST", "/v1/order", "side=BUY&x=")
        );
        assert_eq!(a.header("x-key"), Some("k1"));
        assert_eq!(a.query, "symbol=BTCUSDT");
        assert!(!a.close);
        let b = reader.next(&mut r).unwrap();
        assert_eq!(b.path, "/v1/ping");
        assert!(b.close);
        assert!(reader.next(&mut r).is_none());
        // A body longer than announced data: the peer went away mid-body.
        let short = b"POST /x HTTP/1.1\r\nContent-Length: 50\r\n\r\nabc";
        assert!(read_request(&mut std::io::Cursor::new(&short[..])).is_none());
    }
}
