//! The order gateway: the trader, which turns the oracle's intents into orders sized
//! and vetted by the risk manager and follows each operation to its end, on the
//! simulated exchange or a venue's live link.

pub mod audit;
pub mod journal;
pub mod link;
pub mod trader;
pub mod watchdog;
