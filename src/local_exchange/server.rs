//! The local exchange's HTTP/1.1 and WebSocket server: hyper parses and frames every
//! connection (chunked bodies, `HEAD`, HTTP/1.0, keep-alive, one `Content-Length`),
//! axum routes and upgrades, and this module sets the limits a public venue sets, so
//! no client, slow or hostile, holds more than its share:
//!
//! * connections: at most [`Limits::max_connections`] at once (more are closed at
//!   accept);
//! * a request's head must arrive whole within [`Limits::header_timeout`] (a byte
//!   every few seconds holds nothing), and a keep-alive connection idle that long is
//!   closed;
//! * at most [`Limits::max_headers`] headers and [`Limits::max_head_bytes`] of head;
//!   a venue reads a body within [`Limits::max_body`] (chunked or not; 413 in its
//!   own error shape);
//! * a request is read and answered within [`Limits::request_timeout`] (408).
//!
//! Cold path: the trading pipeline's own clients (`net`) are hand-written and
//! measured; this is the exchange's side. Venue-agnostic: a venue gives its router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// What one client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (HTTP and WebSocket).
    pub max_connections: usize,
    /// A request's head must arrive whole within this; an idle keep-alive connection
    /// is closed after it.
    pub header_timeout: Duration,
    /// Reading a request's body and answering it.
    pub request_timeout: Duration,
    /// Headers per request.
    pub max_headers: usize,
    /// Bytes of a request's head (hyper's read buffer; at least 8 KiB).
    pub max_head_bytes: usize,
    /// Bytes of a request's body, after de-chunking.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_head_bytes: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// A running server: its runtime's threads stop with it.
pub struct Server {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<Notify>,
    stopped: Arc<AtomicBool>,
}

impl Server {
    /// Serves `router` on `listener` under `limits`, on a runtime of `threads` worker
    /// threads (they park when idle; no spinning).
    ///
    /// # Errors
    /// The runtime could not start or the listener could not be handed to it.
    pub fn start(
        listener: std::net::TcpListener,
        router: Router,
        limits: Limits,
        threads: usize,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("venue-io")
            .enable_all()
            .build()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _g = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let stop = Arc::new(Notify::new());
        let stopped = Arc::new(AtomicBool::new(false));
        let app = router.layer(axum::middleware::from_fn(
            move |req: HttpRequest<Body>, next: axum::middleware::Next| async move {
                match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
                    Ok(r) => r,
                    Err(_) => (StatusCode::REQUEST_TIMEOUT, "Request timed out.").into_response(),
                }
            },
        ));
        runtime.spawn(accept(listener, app, limits, stop.clone(), stopped.clone()));
        Ok(Self {
            runtime: Some(runtime),
            stop,
            stopped,
        })
    }

    /// A handle on the runtime, to spawn sessions' tasks from other threads.
    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }

    /// Stops accepting and ends every connection.
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.stop.notify_waiters();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    stop: Arc<Notify>,
    stopped: Arc<AtomicBool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    while !stopped.load(Ordering::Relaxed) {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of descriptors and the like: wait, do not spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.notified() => return,
        };
        // Over the cap the connection is closed at once (dropped), as a loaded
        // venue's edge does.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_headers(limits.max_headers)
                .max_buf_size(limits.max_head_bytes.max(8192))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = conn.await;
            drop(permit);
        });
    }
}

/// A request as a venue's handlers read it, body read whole (within the limits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `DELETE`… (`HEAD` is read as `GET`; hyper sends no body).
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string (after `?`), empty when absent.
    pub query: String,
    /// The body (a form body for signed `POST`s), empty when absent.
    pub body: String,
    /// Every header whose value is text.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads an HTTP request's parts and body; `None` for a body that is not UTF-8.
    pub fn read(parts: &axum::http::request::Parts, body: &[u8]) -> Option<Self> {
        let method = if parts.method == axum::http::Method::HEAD {
            "GET".to_string()
        } else {
            parts.method.as_str().to_string()
        };
        Some(Self {
            method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            body: std::str::from_utf8(body).ok()?.to_string(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
        })
    }
}

/// Why a request's body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the venue's body limit (declared or read).
    TooLarge,
    /// Not UTF-8.
    NotText,
}

/// Reads a request whole within `max_body` bytes of body (chunked or not; a larger
/// `Content-Length` is refused before anything is read).
///
/// # Errors
/// [`BodyError`]; each venue answers it in its own error shape.
pub async fn read_request(
    parts: &axum::http::request::Parts,
    body: Body,
    max_body: usize,
) -> Result<Request, BodyError> {
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(BodyError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, max_body)
        .await
        .map_err(|_| BodyError::TooLarge)?;
    Request::read(parts, &bytes).ok_or(BodyError::NotText)
}

/// A JSON answer with extra headers (rate-limit counters and the like).
pub fn json_answer(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> axum::response::Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json;charset=UTF-8",
        )],
        body,
    )
        .into_response();
    for (k, v) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}
