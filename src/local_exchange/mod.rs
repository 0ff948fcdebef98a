//! The local exchange (`minerva exchange`): recorded sessions served as a venue serves
//! live ones, trading against the simulated exchange, so clients and the live link are
//! tested without internet or keys. A module per venue it speaks ([`binance`]), on
//! shared machinery: the faults it injects ([`faults`]) and the fan-out of published
//! messages to subscribers, each with its own bounded outbox ([`fanout`]). What a
//! venue's protocol says (paths, message shapes, signing, codes) comes from
//! `venues::<venue>`; nothing here names it.

pub mod binance;
pub mod fanout;
pub mod faults;
pub mod server;

pub use binance::{AccountSummary, Clock, Config, LocalExchange, StartError, TradingConfig};
pub use faults::Faults;
pub use server::Limits;
