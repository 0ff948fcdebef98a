//! The network, venue-agnostic: a WebSocket client over one reusable buffer
//! ([`ws`]), a keep-alive HTTP/1.1 client ([`http`]), TLS or plain TCP ([`tls`]), and
//! the `mio` poll a feed waits on for any of its sessions to speak ([`poll`]).
//! The local exchange's server side is `local_exchange::server` (hyper and axum).
//!
//! What a venue says over these (paths, headers, signatures, message shapes) lives in
//! `venues/<venue>/`; nothing here knows an exchange.

pub mod backoff;
pub mod http;
pub mod poll;
pub mod tls;
pub mod ws;
