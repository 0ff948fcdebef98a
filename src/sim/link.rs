//! The trader's end of the simulated exchange: requests go in with the order latency,
//! reports come back with the response latency, and the market reaches the trader
//! after the feed latency ([`super::latency::LatencyModel`]). Everything the simulation adds in time
//! lives here; the trader only asks when it sees an event.
//!
//! # Hot path: no allocation.

use super::latency::Delay;
use super::{SimConfig, SimExchange, SimOptions, SimStats};
use crate::book::Book;
use crate::core::{DepthSnapshot, Execution, Lots, MarketEvent, OrderRequest, SymbolSpec};
use crate::strategy::Strategy;

/// The simulated exchange and the latencies between it and the trader.
pub struct SimLink {
    exchange: SimExchange,
    /// The feed's delay: exchange time → the trader sees the event.
    feed: Delay,
    /// Smallest `local − exchange` time seen (ns): the recording's clock offset.
    min_offset_ns: i128,
    rng: fastrand::Rng,
    /// Buffers sized at start-up, for the trader to size its own.
    max_orders: usize,
}

impl SimLink {
    /// A simulated exchange for `spec` under `strategy`, set up by `opts`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy, opts: &SimOptions) -> Self {
        let cfg = opts.config(strategy);
        Self::with(spec, &cfg, opts.latency.feed)
    }

    /// A simulated exchange set up by `cfg`, the market reaching the trader after
    /// `feed`.
    pub fn with(spec: &SymbolSpec, cfg: &SimConfig, feed: Delay) -> Self {
        Self {
            exchange: SimExchange::new(spec, cfg),
            feed,
            min_offset_ns: i128::MAX,
            rng: fastrand::Rng::with_seed(cfg.seed ^ 0x6665_6564),
            max_orders: cfg.max_orders,
        }
    }

    /// The exchange (its account and book).
    pub fn exchange(&self) -> &SimExchange {
        &self.exchange
    }

    /// [`SimExchange::prefault`]. Cold.
    pub fn prefault(&mut self) {
        self.exchange.prefault();
    }

    /// Open orders the exchange holds at most.
    pub fn max_orders(&self) -> usize {
        self.max_orders
    }

    /// Sends a request at the trader's `sent_us`; `wire` is its venue bytes.
    #[inline]
    pub fn send(&mut self, req: &OrderRequest, wire: &[u8], sent_us: u64) {
        self.exchange.send(req, wire, sent_us);
    }

    /// A market event reaches the exchange at its exchange time; returns when the
    /// trader sees it (exchange time + the feed's delay), µs. With a `lent` book the
    /// exchange reads that, which has taken `ev` already ([`SimExchange::on_event_in`]).
    #[inline]
    pub fn on_market(&mut self, ev: &MarketEvent, lent: Option<&Book>) -> u64 {
        self.exchange.on_event_in(ev, lent);
        let delay = match self.feed {
            Delay::Recorded { base } if ev.event_ms > 0 => {
                // Local receive time − exchange time, less the clocks' offset estimated
                // as the smallest difference so far.
                let raw = ev.recv_ns as i128 - ev.event_ms as i128 * 1_000_000;
                self.min_offset_ns = self.min_offset_ns.min(raw);
                ((raw - self.min_offset_ns) / 1_000) as u64 + base
            }
            d => d.sample(&mut self.rng),
        };
        self.exchange.now_us() + delay
    }

    /// The requests due by `ev`'s time arrive against `book`, before it takes `ev`
    /// ([`SimExchange::arrive_before`]).
    #[inline]
    pub fn arrive_before(&mut self, ev: &MarketEvent, book: &Book) {
        self.exchange.arrive_before(ev, book);
    }

    /// A REST snapshot reached the exchange's book, or the `lent` one (a resync). Cold.
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot, lent: Option<&Book>) {
        self.exchange.on_snapshot_in(snap, lent);
    }

    /// Exchange time, µs.
    #[inline]
    pub fn now_us(&self) -> u64 {
        self.exchange.now_us()
    }

    /// Reports due by `now_us` (the trader's clock), oldest first.
    #[inline]
    pub fn drain_due(&mut self, now_us: u64, f: impl FnMut(&Execution)) {
        self.exchange.drain_due(now_us, f);
    }

    /// Lets every request sent so far arrive now (after a kill, the flattening market
    /// orders: no market event will come to carry them).
    pub fn settle(&mut self, lent: Option<&Book>) {
        self.exchange.settle_in(lent);
    }

    /// Lets every request arrive and cancels every resting order (shutdown).
    pub fn cancel_all(&mut self, lent: Option<&Book>) -> usize {
        self.exchange.cancel_all_in(lent)
    }

    /// The account's position.
    pub fn position(&self) -> Lots {
        self.exchange.position()
    }

    /// The exchange's counters.
    pub fn stats(&self) -> SimStats {
        self.exchange.stats()
    }
}
