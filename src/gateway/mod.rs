//! The order gateway: turns risk-checked operations into signed Binance order requests.
//!
//! This first part holds what every gateway mode shares: API keys from the environment
//! ([`keys`]) and the request encoder and HMAC-SHA256 signer ([`sign`]), which build the
//! exact bytes of a `POST /api/v3/order` or `/fapi/v1/order` request into a fixed buffer.

pub mod keys;
pub mod live;
pub mod sign;
pub mod trader;
