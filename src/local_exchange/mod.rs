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
pub mod kucoin;
pub mod pace;
pub mod server;

pub use binance::{AccountSummary, Clock, Config, LocalExchange, TradingConfig};
pub use faults::Faults;
pub use server::Limits;

use crate::replay::ReplayError;
use crate::store::files::InputError;
use std::net::SocketAddr;

/// Why a local venue could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data could not be read or understood.
    #[error(transparent)]
    Data(#[from] ReplayError),
    /// A file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The data is another venue's.
    #[error(
        "the data is {data}'s: this venue serves {serves}'s protocol (minerva exchange --venue chooses; docs/exchange.md)"
    )]
    OtherVenue {
        /// The data's venue.
        data: &'static str,
        /// The protocol asked for.
        serves: &'static str,
    },
    /// What this venue does not serve yet (said, not guessed).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The address is taken or not allowed.
    #[error("cannot listen on {addr}: {msg}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        msg: String,
    },
}
