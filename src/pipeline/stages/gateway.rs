//! The gateway stage: intents and market facts in; orders to the exchange end (the
//! simulated exchange, or a venue's live link) out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, OrderMsg, Relay, SnapshotParts, Stamped};
use crate::core::SymbolSpec;
use crate::gateway::trader::{Outcome, Shutdown, Trader};
use crate::sim::SimOptions;
use crate::strategy::Strategy;
use crate::venues::OrderSigner;

/// The order gateway: risk manager, signer and the exchange end (the simulated
/// exchange, fed the market as the exchange sees it).
pub struct GatewayStage {
    trader: Trader,
    snapshot: SnapshotParts,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
    /// Intents that arrived after shutdown began (not traded).
    pub ignored: u64,
    accepting: bool,
}

impl GatewayStage {
    /// A gateway for `spec` under `strategy`, signing with `signer`, trading on a
    /// simulated exchange set up by `sim`.
    pub fn new(
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        sim: &SimOptions,
    ) -> Self {
        Self::with_trader(Trader::simulated(spec, strategy, signer, sim))
    }

    /// A gateway around `trader` (a live one).
    pub fn with_trader(trader: Trader) -> Self {
        Self {
            trader,
            snapshot: SnapshotParts::default(),
            lat: Latencies::off(),
            ignored: 0,
            accepting: true,
        }
    }

    /// What the signal stage must pass on besides intents: the whole market for the
    /// simulated exchange, only trades for a venue's link.
    pub fn relay(&self) -> Relay {
        if self.trader.is_live() {
            Relay::Trades
        } else {
            Relay::Market
        }
    }

    /// Shutdown began: later intents are not traded (market data still flows to the
    /// exchange end, so resting orders keep their fills until cancelled).
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// Whether intents are traded (a backtest warms the book up before its window).
    pub fn set_accepting(&mut self, on: bool) {
        self.accepting = on;
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation (a snapshot, cold, on resync, allocates).
    pub fn on_msg(&mut self, m: &Stamped<OrderMsg>) {
        let t0 = self.lat.now();
        self.lat
            .gateway_queue
            .record(t0.saturating_sub(m.pushed_ns));
        let (sent, frame_ns) = match &m.msg {
            OrderMsg::Intent(_) if !self.accepting => {
                self.ignored += 1;
                (0, 0)
            }
            OrderMsg::Intent(i) => {
                self.trader.set_tick(i.frame_ns);
                match self.trader.on_intent(&i.intent, i.event_ms) {
                    Outcome::Sent => (1, i.frame_ns),
                    Outcome::Refused(_) | Outcome::Failed => (0, 0),
                }
            }
            OrderMsg::Market {
                msg: FeedMsg::Event(ev),
                frame_ns,
            } => {
                self.trader.set_tick(*frame_ns);
                (self.trader.on_market(ev), *frame_ns)
            }
            OrderMsg::Market { msg, .. } => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    self.trader.on_snapshot(&snap);
                }
                (0, 0)
            }
            OrderMsg::Trade { price, frame_ns } => {
                self.trader.set_tick(*frame_ns);
                (self.trader.on_trade_price(*price), *frame_ns)
            }
        };
        let done = self.lat.now();
        if sent > 0 {
            // Frame received → signed order bytes handed to the exchange.
            self.lat.tick_to_trade.record(done.saturating_sub(frame_ns));
        }
        self.lat.gateway.record(done.saturating_sub(t0));
    }

    /// Reports a live exchange sent while no market message came are handled.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn poll(&mut self) -> bool {
        self.trader.poll()
    }

    /// The trader (risk, exchange and operation counters).
    pub fn trader(&self) -> &Trader {
        &self.trader
    }

    /// The trader, to keep a journal or close at the end (the backtest).
    pub fn trader_mut(&mut self) -> &mut Trader {
        &mut self.trader
    }

    /// Orderly end: cancels resting orders and reports what stays open. Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        self.trader.shutdown()
    }
}
