//! Pipeline plumbing shared by the threaded and compact modes: SPSC rings that count
//! stalls instead of dropping, wait strategies, and the launch flags that pin stages to
//! CPUs. (The stage wiring and `minerva run` build on these.)

pub mod compact;
pub mod pin;
pub mod ring;
pub mod run;
pub mod stages;
pub mod wait;

pub use pin::{PinError, PinPlan, Stage};
pub use ring::{Inbox, Outbox, RingStats, ring};
pub use wait::{Wait, WaitError};
