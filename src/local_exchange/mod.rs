//! The machinery of a local exchange (`minerva exchange`), whatever venue it imitates:
//! the faults it injects ([`faults`]) and the fan-out of published messages to
//! subscribers, each with its own bounded outbox ([`fanout`]). A venue's face — its
//! paths, message shapes, signing and error codes — is in `venues::<venue>::server`
//! (Binance's: `venues::binance::server`), built on these.

pub mod fanout;
pub mod faults;

pub use faults::Faults;
