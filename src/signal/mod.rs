//! The signal stage (the oracle): peaks, walls and voids, pressure, entries.

pub mod oracle;
pub mod peak_request;
pub mod peaks;
pub mod profile;
