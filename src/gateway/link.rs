//! The exchange end of a trader: the simulated exchange (with its latencies) or a
//! venue's live link, behind one enum so the trader's code is the same for both.

use crate::book::Book;
use crate::core::{DepthSnapshot, ExchangeStats, Execution, Lots, MarketEvent, OrderRequest};
use crate::sim::link::SimLink;
use crate::venues::{LiveLink, WireRequest};

/// The exchange end of a trader.
#[allow(clippy::large_enum_variant)]
pub enum Link {
    /// The simulated exchange, fed the market as the exchange sees it.
    Sim(SimLink),
    /// A venue's live link.
    Live(LiveLink),
}

impl Link {
    #[inline]
    pub(super) fn send(
        &mut self,
        req: &OrderRequest,
        wire: &WireRequest,
        sent_us: u64,
        tick_ns: u64,
    ) {
        match self {
            Link::Sim(x) => x.send(req, wire, sent_us),
            Link::Live(l) => l.send(req, wire, tick_ns),
        }
    }

    /// A market event; returns when the trader sees it, µs (the simulation's feed
    /// delay after the exchange; the venue's clock live).
    #[inline]
    pub(super) fn on_market(&mut self, ev: &MarketEvent, lent: Option<&Book>) -> u64 {
        match self {
            Link::Sim(x) => x.on_market(ev, lent),
            Link::Live(l) => l.now_us(),
        }
    }

    /// The simulated exchange's requests due by `ev`'s time arrive against `book`,
    /// before it takes `ev` (a book lent to the exchange; nothing for a venue).
    #[inline]
    pub(super) fn arrive_before(&mut self, ev: &MarketEvent, book: &Book) {
        if let Link::Sim(x) = self {
            x.arrive_before(ev, book);
        }
    }

    pub(super) fn on_snapshot(&mut self, snap: &DepthSnapshot, lent: Option<&Book>) {
        if let Link::Sim(x) = self {
            x.on_snapshot(snap, lent);
        }
    }

    /// Maps the simulated exchange's own book now (nothing for a venue). Cold.
    pub(super) fn prefault(&mut self) {
        if let Link::Sim(x) = self {
            x.prefault();
        }
    }

    /// Exchange time: the simulator's, or the server clock as estimated.
    #[inline]
    pub(super) fn now_us(&self) -> u64 {
        match self {
            Link::Sim(x) => x.now_us(),
            Link::Live(l) => l.now_us(),
        }
    }

    #[inline]
    pub(super) fn drain_due(&mut self, now_us: u64, f: impl FnMut(&Execution)) {
        match self {
            Link::Sim(x) => x.drain_due(now_us, f),
            Link::Live(l) => l.drain(f),
        }
    }

    pub(super) fn cancel_all(&mut self, lent: Option<&Book>) -> usize {
        match self {
            Link::Sim(x) => x.cancel_all(lent),
            Link::Live(l) => l.cancel_all(),
        }
    }

    /// The simulated exchange lets every request sent so far arrive; a venue's come
    /// over its sockets.
    pub(super) fn settle(&mut self, lent: Option<&Book>) {
        if let Link::Sim(x) = self {
            x.settle(lent);
        }
    }

    pub(super) fn position(&self) -> Lots {
        match self {
            Link::Sim(x) => x.position(),
            Link::Live(l) => l.position(),
        }
    }

    pub(super) fn stats(&self) -> ExchangeStats {
        match self {
            Link::Sim(x) => x.stats(),
            Link::Live(l) => l.stats(),
        }
    }
}
