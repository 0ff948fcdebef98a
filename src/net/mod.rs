//! The network, venue-agnostic: a WebSocket client over one reusable buffer
//! ([`ws`]), a keep-alive HTTP/1.1 client ([`http`]), TLS or plain TCP ([`tls`]), and
//! the local exchange's HTTP/WebSocket server side ([`server`]).
//!
//! What a venue says over these (paths, headers, signatures, message shapes) lives in
//! `venues/<venue>/`; nothing here knows an exchange.

pub mod http;
pub mod server;
pub mod tls;
pub mod ws;
