//! The gateway stage: intents and market facts in; orders to the exchange end (the
//! simulated exchange, or a venue's live link) out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, OrderMsg, Relay, SnapshotParts, Stamped};
use crate::book::Book;
use crate::core::{MarketEvent, SymbolSpec};
use crate::gateway::trader::{Outcome, Shutdown, Trader};
use crate::sim::SimOptions;
use crate::strategy::Strategy;
use crate::venues::OrderSigner;

/// The order gateway: risk manager, signer and the exchange end (the simulated
/// exchange, fed the market as the exchange sees it).
pub struct GatewayStage {
    /// One trader per symbol (index = the feed's): its risk manager, signer and
    /// exchange end.
    traders: Vec<Trader>,
    /// Limits across the symbols of a run of several.
    portfolio: Option<Portfolio>,
    /// Each symbol's frame → order (a run of several symbols).
    tick_to_trade: Vec<crate::telemetry::Latency>,
    snapshot: SnapshotParts,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
    /// Intents that arrived after shutdown began (not traded).
    pub ignored: u64,
    accepting: bool,
    /// The trader [`Self::warm`] warms next.
    warm_next: usize,
}

impl Portfolio {
    /// The limit a new operation would break across the symbols, if any.
    ///
    /// # Hot path: no allocation.
    #[inline]
    fn refusal(&self, traders: &[Trader]) -> Option<crate::risk::Refusal> {
        let open: usize = traders.iter().map(Trader::open_operations).sum();
        if open >= self.max_open {
            return Some(crate::risk::Refusal::TooManyOpen { open: open as u32 });
        }
        let committed: i64 = traders.iter().map(Trader::committed_e8).sum();
        if committed + self.per_trade_e8 > self.in_use_limit_e8 {
            return Some(crate::risk::Refusal::CapitalInUse {
                would_be_e8: committed + self.per_trade_e8,
                limit_e8: self.in_use_limit_e8,
            });
        }
        None
    }
}

/// The strategy's limits taken across every symbol of a run: operations open at
/// once, and margin committed (the seed's 90 % of capital in parallel). Each
/// symbol's risk manager sizes from the whole capital, as it would alone.
#[derive(Debug, Clone, Copy)]
struct Portfolio {
    max_open: usize,
    in_use_limit_e8: i64,
    /// Margin an operation is sized to take (at most; lots round down).
    per_trade_e8: i64,
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

    /// A gateway for several symbols (`specs`, the feed's, in its order), each traded
    /// on a simulated exchange of its own, under `strategy`'s limits taken across all
    /// of them. Cold.
    pub fn for_symbols(
        specs: &[SymbolSpec],
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        sim: &SimOptions,
    ) -> Self {
        let signer = signer.into();
        let traders: Vec<Trader> = specs
            .iter()
            .map(|spec| Trader::simulated(spec, strategy, signer.clone(), sim))
            .collect();
        Self::across(traders, strategy)
    }

    /// A gateway around a trader per symbol (the feed's order; live ones each on
    /// its own link to the venue), under `strategy`'s limits on open operations and
    /// capital in use taken across all of them. Cold.
    pub fn across(traders: Vec<Trader>, strategy: &Strategy) -> Self {
        let mut g = Self::with_traders(traders);
        if g.traders.len() > 1 {
            // The capital they share: the strategy's, or the account's balance when
            // a live link found less.
            let cap = g
                .traders
                .iter()
                .map(Trader::capital_e8)
                .min()
                .unwrap_or(strategy.capital.0) as i128;
            g.portfolio = Some(Portfolio {
                max_open: strategy.max_concurrent_trades as usize,
                in_use_limit_e8: (cap * strategy.max_capital_in_use_ppm as i128 / 1_000_000) as i64,
                per_trade_e8: (cap * strategy.per_trade_ppm as i128 / 1_000_000) as i64,
            });
        }
        g
    }

    /// A gateway around `trader` (a live one).
    pub fn with_trader(trader: Trader) -> Self {
        Self::with_traders(vec![trader])
    }

    fn with_traders(traders: Vec<Trader>) -> Self {
        let n = traders.len();
        Self {
            traders,
            portfolio: None,
            tick_to_trade: (0..n)
                .map(|_| crate::telemetry::Latency::off("tick_to_trade"))
                .collect(),
            snapshot: SnapshotParts::default(),
            lat: Latencies::off(),
            ignored: 0,
            accepting: true,
            warm_next: 0,
        }
    }

    /// What the signal stage must pass on besides intents: the whole market for the
    /// simulated exchange, only trades for a venue's link.
    pub fn relay(&self) -> Relay {
        if self.traders[0].is_live() {
            Relay::Trades
        } else {
            Relay::Market
        }
    }

    /// The depth event `ev` is about to change `book`, which lends itself to the
    /// simulated exchange of `ev`'s symbol: the exchange's requests due by then arrive
    /// first, against the book before `ev` (as the exchange's own book would have it).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn arrive_before(&mut self, ev: &MarketEvent, book: &Book) {
        if let Some(t) = self.traders.get_mut(ev.symbol.0 as usize) {
            t.arrive_before(ev, book);
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
    #[inline]
    pub fn on_msg(&mut self, m: &Stamped<OrderMsg>) {
        self.on_msg_in(m, |_| None);
    }

    /// [`Self::on_msg`], the simulated exchange of symbol `k` reading the book `lent(k)`
    /// lends it (the book stage's, on the same thread: a backtest), which has taken
    /// the message already; [`Self::arrive_before`] ran before it did. The signal
    /// stage relays [`Relay::Lent`] then.
    ///
    /// # Hot path: no allocation (a snapshot, cold, on resync, allocates).
    pub fn on_msg_in<'b>(
        &mut self,
        m: &Stamped<OrderMsg>,
        lent: impl Fn(usize) -> Option<&'b Book>,
    ) {
        let t0 = self.lat.now();
        self.lat
            .gateway_queue
            .record(t0.saturating_sub(m.pushed_ns));
        let (sent, frame_ns, symbol) = match &m.msg {
            OrderMsg::Intent(_) if !self.accepting => {
                self.ignored += 1;
                (0, 0, 0)
            }
            OrderMsg::Intent(i) => {
                let k = i.symbol.0 as usize;
                let refusal = self.portfolio.and_then(|p| p.refusal(&self.traders));
                match self.traders.get_mut(k) {
                    Some(t) => {
                        t.set_tick(i.frame_ns);
                        let outcome = match refusal {
                            Some(r) => t.refuse(&i.intent, i.event_ms, r),
                            None => t.on_intent(&i.intent, i.event_ms),
                        };
                        match outcome {
                            Outcome::Sent => (1, i.frame_ns, k),
                            Outcome::Refused(_) | Outcome::Failed => (0, 0, k),
                        }
                    }
                    None => (0, 0, 0),
                }
            }
            OrderMsg::Market {
                msg: FeedMsg::Event(ev),
                frame_ns,
            } => match self.traders.get_mut(ev.symbol.0 as usize) {
                Some(t) => {
                    t.set_tick(*frame_ns);
                    let k = ev.symbol.0 as usize;
                    (t.on_market_in(ev, lent(k)), *frame_ns, k)
                }
                None => (0, 0, 0),
            },
            OrderMsg::Market { msg, .. } => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    let k = self.snapshot.symbol().0 as usize;
                    if let Some(t) = self.traders.get_mut(k) {
                        t.on_snapshot_in(&snap, lent(k));
                    }
                }
                (0, 0, 0)
            }
            OrderMsg::Trade {
                symbol,
                price,
                frame_ns,
            } => match self.traders.get_mut(symbol.0 as usize) {
                Some(t) => {
                    t.set_tick(*frame_ns);
                    (t.on_trade_price(*price), *frame_ns, symbol.0 as usize)
                }
                None => (0, 0, 0),
            },
        };
        let done = self.lat.now();
        if sent > 0 {
            // Frame received → signed order bytes handed to the exchange.
            let waited = done.saturating_sub(frame_ns);
            self.lat.tick_to_trade.record(waited);
            if let OrderMsg::Intent(_) = m.msg {
                self.lat.intent_to_order.record(done.saturating_sub(t0));
            }
            if self.portfolio.is_some() {
                self.tick_to_trade[symbol].record(waited);
            }
        }
        self.lat.gateway.record(done.saturating_sub(t0));
    }

    /// Maps now the pages this stage writes while trading: its latency series, and
    /// with `own_books` each simulated exchange's own book (a run that lends it none).
    /// Cold.
    pub fn prefault(&mut self, own_books: bool) {
        if own_books {
            for t in &mut self.traders {
                t.prefault_exchange();
            }
        }
        self.lat.prefault();
        for l in &mut self.tick_to_trade {
            l.prefault();
        }
    }

    /// One trader keeps its entry's way to the wire warm ([`Trader::warm`]), the next
    /// one at the next call: with many symbols a call still costs one warm-up. The
    /// code and tables warmed are the same for every symbol of a venue.
    ///
    /// # Hot path: no allocation.
    pub fn warm(&mut self) {
        if let Some(t) = self.traders.get(self.warm_next) {
            t.warm();
        }
        self.warm_next = (self.warm_next + 1) % self.traders.len().max(1);
    }

    /// Reports a live exchange sent while no market message came are handled.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        for t in &mut self.traders {
            any |= t.poll();
        }
        any
    }

    /// The trader (of the first symbol; the only one in most runs).
    pub fn trader(&self) -> &Trader {
        &self.traders[0]
    }

    /// The trader, to keep a journal or close at the end (the backtest).
    pub fn trader_mut(&mut self) -> &mut Trader {
        &mut self.traders[0]
    }

    /// Every symbol's trader, in the feed's order.
    pub fn traders(&self) -> &[Trader] {
        &self.traders
    }

    /// Every symbol's trader, to keep journals.
    pub fn traders_mut(&mut self) -> &mut [Trader] {
        &mut self.traders
    }

    /// Records each symbol's tick-to-trade apart as well (a run of several symbols;
    /// cold: allocates the histograms).
    pub fn time_symbols(&mut self, on: bool) {
        for l in &mut self.tick_to_trade {
            l.set_off(!on);
        }
    }

    /// Symbol `k`'s tick-to-trade series (recorded in a run of several symbols after
    /// [`Self::time_symbols`]).
    pub fn symbol_latency(&self, k: usize) -> Option<&crate::telemetry::Latency> {
        self.tick_to_trade.get(k)
    }

    /// Orderly end: cancels every symbol's resting orders and reports what stays
    /// open (positions and unrealised PnL summed; the net position is the first
    /// symbol's when there are several, in lots of different sizes). Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        self.shutdown_in(|_| None)
    }

    /// [`Self::shutdown`] with each simulated exchange reading the book `lent(k)` lends
    /// it (see [`Self::on_msg_in`]). Cold.
    pub fn shutdown_in<'b>(&mut self, lent: impl Fn(usize) -> Option<&'b Book>) -> Shutdown {
        let mut all = Shutdown::default();
        for (k, t) in self.traders.iter_mut().enumerate() {
            let s = t.shutdown_in(lent(k));
            all.cancelled += s.cancelled;
            all.open_positions += s.open_positions;
            all.unrealised_e8 += s.unrealised_e8;
            if k == 0 {
                all.position = s.position;
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Market, SymbolId, Ticks};
    use crate::pipeline::messages::IntentMsg;
    use crate::signal::oracle::{Intent, Side};
    use crate::sim::testkit;

    fn stamped(msg: OrderMsg) -> Stamped<OrderMsg> {
        Stamped { msg, pushed_ns: 0 }
    }

    fn intent(symbol: u16, entry: i64) -> Stamped<OrderMsg> {
        stamped(OrderMsg::Intent(IntentMsg {
            intent: Intent {
                side: Side::Long,
                entry: Ticks(entry),
                take_profit: Ticks(entry + 100_000),
                stop_loss: Ticks(entry - 100_000),
                support_wall: Ticks(entry - 1),
                target_wall: Ticks(entry + 100_001),
                void_price: Ticks(entry + 50_000),
                void_width_bins: 10,
                pressure_ppm: 200_000,
            },
            frame_ns: 1,
            event_ms: 1_000,
            symbol: SymbolId(symbol),
        }))
    }

    /// Two symbols' gateway, each symbol's book a level either side of 6,000,100.
    fn two_symbols(limits: &[(&str, String)]) -> GatewayStage {
        let specs = ["BTCUSDT", "ETHUSDT"]
            .map(|s| SymbolSpec::from_tick_lot(s, Market::Spot, "0.01", "0.00001").unwrap());
        let strategy = Strategy::parse(include_str!("../../../strategy_0.toml"), limits).unwrap();
        let mut g = GatewayStage::for_symbols(
            &specs,
            &strategy,
            crate::venues::binance::sign::Signer::from_secret(b"k"),
            &SimOptions::default(),
        );
        for k in 0..2u16 {
            let snap = testkit::snapshot(&[(6_000_100, 100)], &[(6_000_200, 100)]);
            g.on_msg(&stamped(OrderMsg::Market {
                msg: FeedMsg::SnapshotBegin {
                    symbol: SymbolId(k),
                    last_update_id: snap.last_update_id,
                },
                frame_ns: 0,
            }));
            let mut c = crate::core::DepthChunk::new(0, 0, None, 0);
            let levels: Vec<_> = snap.bids.iter().chain(&snap.asks).copied().collect();
            c.levels[..levels.len()].copy_from_slice(&levels);
            c.n_levels = levels.len() as u8;
            c.n_bids = snap.bids.len() as u8;
            for msg in [FeedMsg::SnapshotLevels(c), FeedMsg::SnapshotEnd] {
                g.on_msg(&stamped(OrderMsg::Market { msg, frame_ns: 0 }));
            }
        }
        g
    }

    /// `max_concurrent_trades` counts the operations open on every symbol: with one
    /// allowed, the second symbol's intent is refused (and journalled as its
    /// refusal), though its own risk manager has room.
    #[test]
    fn open_operations_are_limited_across_symbols() {
        let mut g = two_symbols(&[("max_concurrent_trades", "1".into())]);
        g.on_msg(&intent(0, 6_000_000));
        g.on_msg(&intent(1, 6_000_000));
        let [a, b] = [&g.traders()[0], &g.traders()[1]];
        assert_eq!((a.stats.entries, a.risk_stats().accepted), (1, 1));
        assert_eq!((b.stats.entries, b.risk_stats().refused), (0, 1));
        // Each symbol's trader saw only its own market: both books were loaded.
        for t in g.traders() {
            assert_eq!(t.exchange_stats().requests, t.stats.entries);
        }
    }

    /// `max_capital_in_use` is taken across symbols: two operations of 30 % each
    /// fit under 60 %, a third (on either symbol) does not.
    #[test]
    fn capital_in_use_is_limited_across_symbols() {
        let mut g = two_symbols(&[
            ("max_concurrent_trades", "10".into()),
            ("percentage_per_trade", "0.3".into()),
            ("max_capital_in_use", "0.6".into()),
        ]);
        g.on_msg(&intent(0, 6_000_000));
        g.on_msg(&intent(1, 6_000_000));
        g.on_msg(&intent(1, 5_000_000));
        let [a, b] = [&g.traders()[0], &g.traders()[1]];
        assert_eq!(a.stats.entries + b.stats.entries, 2);
        assert_eq!(b.risk_stats().refused, 1, "the third is over 60 % in use");
        // Alone, a symbol would have taken it: its own risk manager had room.
        assert!(b.committed_e8() > 0 && a.committed_e8() > 0);
    }
}
