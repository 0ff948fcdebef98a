//! Every stage's latency series, owned by the stage (no sharing on the hot path),
//! merged for reports.

use crate::core::clock::now_ns;
use crate::telemetry::Latency;

/// Latency series of the whole pipeline.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Feed: decode time per frame.
    pub feed: Latency,
    /// Feed → book queueing delay.
    pub book_queue: Latency,
    /// Book service time per message (apply, and the view after a depth event).
    pub book: Latency,
    /// Book → signal queueing delay.
    pub signal_queue: Latency,
    /// Signal service time per message (oracle evaluation on views).
    pub signal: Latency,
    /// Book → gateway queueing delay.
    pub gateway_queue: Latency,
    /// Gateway service time per message (risk, signing, the exchange end).
    pub gateway: Latency,
    /// Frame received → the oracle has decided (an intent or none), for every
    /// evaluation: the signal path's latency with thousands of samples, where orders
    /// are few.
    pub tick_to_decision: Latency,
    /// Frame received → signed order bytes ready.
    pub tick_to_trade: Latency,
    /// The gateway's own part of an entry's tick-to-trade: its intent taken → the
    /// entry's signed bytes handed to the exchange (risk, writing, signing). Entries
    /// are rare, so this is the path that finds the caches cold (`--no-warm`).
    pub intent_to_order: Latency,
    /// Exchange event time → frame received (ms resolution on the exchange side).
    pub exchange_to_us: Latency,
    /// Stages read the clock and record; a backtest switches this off.
    timed: bool,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            feed: Latency::new("feed_decode"),
            book_queue: Latency::new("book_queue"),
            book: Latency::new("book"),
            signal_queue: Latency::new("signal_queue"),
            signal: Latency::new("signal"),
            gateway_queue: Latency::new("gateway_queue"),
            gateway: Latency::new("gateway"),
            tick_to_decision: Latency::new("tick_to_decision"),
            tick_to_trade: Latency::new("tick_to_trade"),
            intent_to_order: Latency::new("intent_to_order"),
            exchange_to_us: Latency::new("exchange_to_us"),
            timed: true,
        }
    }
}

impl Latencies {
    /// Series that record nothing and hold no real histogram, until
    /// [`Self::set_timed`]`(true)`: what a stage starts with, so a backtest's stages
    /// (never timed) allocate and zero none of the forty histograms.
    pub fn off() -> Self {
        Self {
            feed: Latency::off("feed_decode"),
            book_queue: Latency::off("book_queue"),
            book: Latency::off("book"),
            signal_queue: Latency::off("signal_queue"),
            signal: Latency::off("signal"),
            gateway_queue: Latency::off("gateway_queue"),
            gateway: Latency::off("gateway"),
            tick_to_decision: Latency::off("tick_to_decision"),
            tick_to_trade: Latency::off("tick_to_trade"),
            intent_to_order: Latency::off("intent_to_order"),
            exchange_to_us: Latency::off("exchange_to_us"),
            timed: false,
        }
    }

    /// The clock for the stage that owns these series: 0 when timing is off.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        if self.timed { now_ns() } else { 0 }
    }

    /// Times and records, or neither: a backtest's stages skip the clock reads and
    /// histogram updates that only `minerva run` reports. Cold (switching on
    /// allocates the histograms of series made by [`Self::off`]).
    pub fn set_timed(&mut self, on: bool) {
        self.timed = on;
        for l in self.all_mut() {
            l.set_off(!on);
        }
    }

    /// Every series, in pipeline order.
    pub fn all(&self) -> [&Latency; 11] {
        [
            &self.feed,
            &self.book_queue,
            &self.book,
            &self.signal_queue,
            &self.signal,
            &self.gateway_queue,
            &self.gateway,
            &self.tick_to_decision,
            &self.tick_to_trade,
            &self.intent_to_order,
            &self.exchange_to_us,
        ]
    }

    /// `(name, histogram)` per series, in pipeline order: what the table and the log take.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &hdrhistogram::Histogram<u64>)> {
        self.all().into_iter().map(|l| (l.name(), l.histogram()))
    }

    /// The latency table.
    pub fn table(&self) -> String {
        crate::telemetry::table(self.rows())
    }

    /// Maps every histogram's pages now ([`crate::telemetry::Latency::prefault`]). Cold.
    pub fn prefault(&mut self) {
        for l in self.all_mut() {
            l.prefault();
        }
    }

    /// Empties every series (no allocation).
    pub fn reset(&mut self) {
        for l in self.all_mut() {
            l.reset();
        }
    }

    /// This set minus an earlier snapshot of it: what was recorded in between (cold).
    pub fn minus(&self, earlier: &Latencies) -> Latencies {
        let mut d = self.clone();
        for (a, b) in d.all_mut().into_iter().zip(earlier.all()) {
            a.subtract(b);
        }
        d
    }

    fn all_mut(&mut self) -> [&mut Latency; 11] {
        [
            &mut self.feed,
            &mut self.book_queue,
            &mut self.book,
            &mut self.signal_queue,
            &mut self.signal,
            &mut self.gateway_queue,
            &mut self.gateway,
            &mut self.tick_to_decision,
            &mut self.tick_to_trade,
            &mut self.intent_to_order,
            &mut self.exchange_to_us,
        ]
    }

    /// Adds another set (from another thread) into this one.
    pub fn merge(&mut self, o: &Latencies) {
        for (a, b) in self.all_mut().into_iter().zip(o.all()) {
            a.merge(b);
        }
    }
}
