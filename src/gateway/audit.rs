//! The audit journal of a run, its hot half (`minerva run --journal DB`): every decision that became
//! an intent and the risk manager's verdict on it, every order request (its typed
//! parameters; never the signed bytes, the signature or the keys), every report the
//! exchange sent (acks, refusals with their reason, fills with price, quantity, fee,
//! maker flag and exchange time), every closed operation, and the run's own events
//! (start, connections, account at start and exit, records lost).
//!
//! Two halves, as the recorder's tap:
//! * [`Recorder`] (hot, here): the trader hands fixed-size [`Entry`] values to an
//!   SPSC ring; a full ring loses the entry and counts it, the trader never waits or
//!   allocates;
//! * `store::journal::Journal` (cold): a thread that drains every recorder's ring and
//!   writes batched transactions into the journal tables of a SQLite database (WAL).

use crate::core::{Execution, OrderRequest};
use crate::gateway::journal::ClosedTrade;
use crate::risk::Refusal;
use crate::signal::oracle::Intent;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the risk manager (and the trader) made of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sized and sent: the operation, its size, margin and leverage.
    Sent {
        /// Operation id.
        op_id: u64,
        /// Lots.
        qty: crate::core::Lots,
        /// Margin committed, 10⁻⁸ quote.
        margin_e8: i64,
        /// Leverage.
        leverage: u32,
    },
    /// Refused by the risk manager.
    Refused(Refusal),
    /// Accepted but not sent (no slot, or the request could not be written).
    Failed,
}

/// One record of the journal: fixed size, copied into the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// An intent and its verdict, at the trader's exchange time (µs).
    Decision {
        /// Exchange time, µs.
        at_us: u64,
        /// The oracle's intent.
        intent: Intent,
        /// What became of it.
        verdict: Verdict,
    },
    /// An order request as sent (typed; the signed bytes are not kept).
    Order {
        /// Exchange time it was sent, µs.
        at_us: u64,
        /// The request.
        req: OrderRequest,
    },
    /// A report from the exchange, seen by the trader at `seen_us` (exchange clock).
    Report {
        /// When the trader handled it, µs.
        seen_us: u64,
        /// The report.
        exec: Execution,
    },
    /// An operation closed.
    Closed(ClosedTrade),
}

/// An entry and when it was recorded on the process's monotonic clock
/// ([`crate::core::clock::now_ns`]): the journal turns it into wall-clock time, so a
/// live run's decision → ack → fill latencies are measured in real time, not only in
/// the exchange's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamped {
    /// Monotonic ns when the trader recorded it.
    pub mono_ns: u64,
    /// The entry.
    pub entry: Entry,
}

/// The trader's end of a journal: entries into a ring, never waiting.
pub struct Recorder {
    tx: rtrb::Producer<Stamped>,
    lost: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder writing into `tx`, counting losses in `lost` (the journal's).
    pub fn new(tx: rtrb::Producer<Stamped>, lost: Arc<AtomicU64>) -> Self {
        Self { tx, lost }
    }

    /// Records `e`, stamped; when the journal thread is a ring behind, the entry is
    /// lost and counted (the journal says how many).
    ///
    /// # Hot path: a clock read and a copy into the ring; no allocation, no waiting.
    #[inline]
    pub fn record(&mut self, e: Entry) {
        let s = Stamped {
            mono_ns: crate::core::clock::now_ns(),
            entry: e,
        };
        if self.tx.push(s).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where a pipeline gets its trader's recorder from (the journal, started by the
/// command that owns it): one call per symbol traded.
#[derive(Clone)]
pub struct AuditHook(pub Arc<dyn Fn(&crate::core::SymbolSpec) -> Recorder + Send + Sync>);

impl std::fmt::Debug for AuditHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditHook")
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("slots", &self.tx.slots())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_small_enough_to_copy() {
        // A ring of 16k entries stays a few MB.
        assert!(
            std::mem::size_of::<Entry>() <= 256,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }
}
