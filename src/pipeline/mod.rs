//! The pipeline: the four stages (feed → book → signal → gateway) wired with SPSC
//! rings, on one to four threads ([`run`]) or stepped on the caller's thread
//! ([`Compact`]: the backtest, the benchmarks). The stages are plain structs; the
//! rings carry fixed-size `Copy` messages allocated once.
//!
//! The public face: [`run`] with its [`RunConfig`] and [`RunReport`], [`Compact`], the
//! launch plans ([`PinPlan`], [`WaitPlan`]) and the rings themselves ([`ring`]) for
//! benchmarks. Messages and stage wiring stay inside.

mod compact;
mod latencies;
mod messages;
pub mod pin;
mod ring;
mod run;
mod stages;
pub(crate) mod status;
pub mod wait;

pub use compact::Compact;
pub use latencies::Latencies;
pub use messages::FeedMsg;
#[cfg(test)]
pub(crate) use messages::View;
pub use pin::{PinError, PinPlan, Stage, allowed_cpus};
pub use ring::{Abandoned, Inbox, Outbox, RingStats, ring};
pub use run::{RingReport, RunConfig, RunError, RunReport, SymbolReport, run, run_symbols};
pub use stages::{BookStage, FeedStage, GatewayStage, MAX_SYMBOLS, ShapeError, SignalStage};
pub use wait::{Wait, WaitError, WaitPlan};
