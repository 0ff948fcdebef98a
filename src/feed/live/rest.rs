//! A REST client for the cold path (snapshots, exchangeInfo, server time): one
//! request per connection, plain HTTP (TLS for the live endpoints is to come).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server could not be reached, or the connection failed.
    #[error("{host}: {source}")]
    Io {
        /// The server.
        host: String,
        /// The socket's reason.
        source: io::Error,
    },
    /// The answer was not HTTP.
    #[error("{host}: not an HTTP answer")]
    NotHttp {
        /// The server.
        host: String,
    },
    /// The server answered with an error status (Binance's error JSON in `body`).
    #[error("{host}{path}: HTTP {status}: {body}")]
    Status {
        /// The server.
        host: String,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The body (Binance's `{"code":…,"msg":…}`).
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

/// `GET http://host/path`, with `timeout` for connecting and for each read. Cold.
///
/// # Errors
/// [`RestError`] when the server cannot be reached or answers with an error status.
pub fn get(host: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, RestError> {
    let io = |source| RestError::Io {
        host: host.to_string(),
        source,
    };
    let addr = host
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: minerva\r\n\r\n"
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(io)?;
    let not_http = || RestError::NotHttp {
        host: host.to_string(),
    };
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(not_http)?;
    let head = String::from_utf8_lossy(&raw[..at]).to_string();
    let status: u16 = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(not_http)?;
    let mut body = raw[at + 4..].to_vec();
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        body = dechunk(&body).ok_or_else(not_http)?;
    }
    if status != 200 {
        let retry_after = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("retry-after")
                .then(|| v.trim().parse().ok())?
        });
        return Err(RestError::Status {
            host: host.to_string(),
            path: path.to_string(),
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after,
        });
    }
    Ok(body)
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
    fn unreachable_server_is_a_clear_error() {
        // Port 9 (discard) on loopback is closed here: connection refused, no panic.
        let e = get("127.0.0.1:9", "/api/v3/ping", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().starts_with("127.0.0.1:9:"), "{e}");
    }
}
