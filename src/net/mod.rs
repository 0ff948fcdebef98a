//! The network, venue-agnostic: a WebSocket client over one reusable buffer
//! ([`ws`]), a keep-alive HTTP/1.1 client ([`http`]) and TLS or plain TCP ([`tls`]).
//! The local exchange's server side is `local_exchange::server` (hyper and axum).
//!
//! What a venue says over these (paths, headers, signatures, message shapes) lives in
//! `venues/<venue>/`; nothing here knows an exchange.

pub mod backoff;
pub mod http;
pub mod tls;
pub mod ws;
