//! An HTTP/1.1 client for one server over one keep-alive connection, plain or TLS:
//! snapshots, exchange metadata and server time (cold), and a live link's signed
//! order requests (the order path: hand-written so a request's head and body go out
//! in one write from a reused buffer, and measured as `order_rtt`). Venue-agnostic:
//! the caller names the headers (keys, signatures) and reads the ones it needs.

use super::tls::Conn;
use std::io::{self, Read, Write};
use std::time::Duration;

/// `https://host:port` → (`host:port`, TLS); `http://` or a bare `host:port` is plain.
pub fn endpoint(url: &str) -> (&str, bool) {
    let url = url.trim_end_matches('/');
    for (scheme, tls) in [
        ("https://", true),
        ("wss://", true),
        ("http://", false),
        ("ws://", false),
    ] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return (rest, tls);
        }
    }
    (url, false)
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server could not be reached, or the connection failed.
    #[error("{host}: {cause}")]
    Io {
        /// The server.
        host: String,
        /// The socket's reason (in the message, not chained: it would print twice).
        cause: io::Error,
    },
    /// The answer was not HTTP.
    #[error("{host}: not an HTTP answer")]
    NotHttp {
        /// The server.
        host: String,
    },
    /// The server answered with an error status (the venue's error JSON in `body`).
    #[error("{host}{path}: HTTP {status}: {body}")]
    Status {
        /// The server.
        host: String,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The body (the venue's error answer).
        body: String,
        /// `Retry-After` (s), sent with 429 and 418 answers.
        retry_after: Option<u64>,
    },
}

impl RestError {
    /// How long the server asked us to wait before the next request (429/418).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RestError::Status {
                retry_after: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(*s)),
            _ => None,
        }
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body (dechunked).
    pub body: Vec<u8>,
    /// `Retry-After` (s), sent with 429 and 418 answers.
    pub retry_after: Option<u64>,
    /// Every header, as sent (names in the server's case).
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 client for one server (the order gateway keeps its
/// connection open: no TCP or TLS handshake per order). Cold path apart from the
/// order requests, whose head and body go out in one write from a reused buffer.
#[derive(Debug)]
pub struct Client {
    host: String,
    tls: bool,
    timeout: Duration,
    conn: Option<Conn>,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// When the last request's bytes were handed to the socket (the pipeline's
    /// clock, ns).
    pub written_ns: u64,
}

impl Client {
    /// A client for `url` (`https://host:port`, `http://host:port` or a bare
    /// `host:port`, plain); it connects on the first request.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let (host, tls) = endpoint(url);
        Self {
            host: host.to_string(),
            tls,
            timeout,
            conn: None,
            out: Vec::with_capacity(1024),
            inbuf: Vec::with_capacity(16 * 1024),
            written_ns: 0,
        }
    }

    /// The server, `host:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn io(&self, cause: io::Error) -> RestError {
        RestError::Io {
            host: self.host.clone(),
            cause,
        }
    }

    fn connect(&mut self) -> Result<(), RestError> {
        let c = Conn::connect(&self.host, self.tls, self.timeout).map_err(|e| self.io(e))?;
        self.conn = Some(c);
        self.inbuf.clear();
        Ok(())
    }

    /// Sends `method path` with `body` (a form body unless `headers` name another
    /// `Content-Type`; empty for none) and `headers`, and reads the answer. A
    /// connection the server closed while idle is reopened once, before anything is
    /// sent on it.
    ///
    /// # Errors
    /// [`RestError::Io`] when the server cannot be reached or the connection fails
    /// (after the request was written, its fate is unknown), [`RestError::NotHttp`]
    /// for an answer that is not HTTP.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Response, RestError> {
        self.out.clear();
        let _ = write!(
            self.out,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: minerva\r\n",
            self.host
        );
        for (k, v) in headers {
            let _ = write!(self.out, "{k}: {v}\r\n");
        }
        if !body.is_empty() || method != "GET" {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                self.out
                    .extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\n");
            }
            let _ = write!(self.out, "Content-Length: {}\r\n", body.len());
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);
        for attempt in 0..2 {
            if self.conn.is_none() {
                self.connect()?;
            }
            let conn = self.conn.as_mut().expect("connected");
            // A keep-alive connection the server closed meanwhile: the first read
            // would say so; look without blocking before sending on it.
            let stale = conn.closed();
            if stale && attempt == 0 {
                self.conn = None;
                continue;
            }
            if let Err(e) = conn.write_all(&self.out).and_then(|()| conn.flush()) {
                self.conn = None;
                return Err(self.io(e));
            }
            self.written_ns = crate::core::clock::now_ns();
            return match self.read_response() {
                Ok(r) => Ok(r),
                Err(e) => {
                    self.conn = None;
                    Err(e)
                }
            };
        }
        Err(self.io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection closed",
        )))
    }

    fn read_response(&mut self) -> Result<Response, RestError> {
        let conn = self.conn.as_mut().expect("connected");
        let (r, keep) = read_answer(conn, &mut self.inbuf, &self.host)?;
        if !keep {
            self.conn = None;
            self.inbuf.clear();
        }
        Ok(r)
    }
}

/// Reads one answer from `conn`, the server side of a connection to `host` (named in
/// errors). `inbuf` holds what was read past the previous answer and keeps what is
/// read past this one. Also returns whether the connection can carry the next request
/// (false: the server closes it, or the body ran to its end). Cold; the client's
/// reader, apart so it can be driven by any byte source (tests, fuzzing).
///
/// # Errors
/// [`RestError::Io`] when reading fails or the connection ends before the head,
/// [`RestError::NotHttp`] for an answer that is not HTTP or is cut short.
pub fn read_answer<R: Read>(
    conn: &mut R,
    inbuf: &mut Vec<u8>,
    host: &str,
) -> Result<(Response, bool), RestError> {
    let not_http = || RestError::NotHttp {
        host: host.to_string(),
    };
    let io_error = |cause| RestError::Io {
        host: host.to_string(),
        cause,
    };
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = inbuf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = conn.read(&mut chunk).map_err(io_error)?;
        if n == 0 {
            return Err(io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed mid-answer",
            )));
        }
        inbuf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&inbuf[..head_end]).to_string();
    let status: u16 = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(not_http)?;
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let retry_after = header("retry-after").and_then(|v| v.parse().ok());
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let body = if let Some(len) = length {
        // A length near usize::MAX ends past any buffer: not an answer we can read.
        let end = head_end.checked_add(len).ok_or_else(not_http)?;
        while inbuf.len() < end {
            let n = conn.read(&mut chunk).map_err(io_error)?;
            if n == 0 {
                return Err(not_http());
            }
            inbuf.extend_from_slice(&chunk[..n]);
        }
        let b = inbuf[head_end..end].to_vec();
        inbuf.drain(..end);
        b
    } else {
        // Chunked or to the end of the connection: read until the peer closes
        // or the last chunk arrives.
        loop {
            if chunked {
                if let Some(b) = dechunk(&inbuf[head_end..]) {
                    break b;
                }
            }
            let n = conn.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                let rest = &inbuf[head_end..];
                break if chunked {
                    dechunk(rest).ok_or_else(not_http)?
                } else {
                    rest.to_vec()
                };
            }
            inbuf.extend_from_slice(&chunk[..n]);
        }
    };
    let keep = !(close || length.is_none());
    Ok((
        Response {
            status,
            body,
            retry_after,
            headers,
        },
        keep,
    ))
}

/// `GET http://host/path`, with `timeout` for connecting and for each read. Cold.
///
/// # Errors
/// [`RestError`] when the server cannot be reached or answers with an error status.
pub fn get(host: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, RestError> {
    let r = Client::new(host, timeout).request("GET", path, b"", &[])?;
    if r.status != 200 {
        return Err(RestError::Status {
            host: host.to_string(),
            path: path.to_string(),
            status: r.status,
            body: String::from_utf8_lossy(&r.body).into_owned(),
            retry_after: r.retry_after,
        });
    }
    Ok(r.body)
}

/// A chunked body's bytes.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"zz\r\n").is_none());
    }

    #[test]
    fn answers_read_one_after_another_and_absurd_lengths_are_refused() {
        let mut conn: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}\
            HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n\
            1\r\n[\r\n1;x=y\r\n]\r\n0\r\n\r\n";
        let mut inbuf = Vec::new();
        let (r, keep) = read_answer(&mut conn, &mut inbuf, "h").unwrap();
        assert_eq!((r.status, r.body.as_slice(), keep), (200, &b"{}"[..], true));
        let (r, keep) = read_answer(&mut conn, &mut inbuf, "h").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (429, &b"[]"[..]));
        assert_eq!((r.retry_after, keep), (Some(7), false));
        // fuzz/regressions/rest_answer/content-length-overflow: the end of the body
        // overflowed (a panic; wrapped in a release build, then a slice panic).
        let mut conn: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n{}";
        let e = read_answer(&mut conn, &mut Vec::new(), "h").unwrap_err();
        assert!(matches!(e, RestError::NotHttp { .. }), "{e}");
    }

    #[test]
    fn unreachable_server_is_a_clear_error() {
        // Port 9 (discard) on loopback is closed here: connection refused, no panic.
        let e = get("127.0.0.1:9", "/ping", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().starts_with("127.0.0.1:9:"), "{e}");
    }
}
