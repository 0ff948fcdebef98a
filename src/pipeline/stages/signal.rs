//! The signal stage: book views and trades in; intents, and the market facts the
//! gateway needs, out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, IntentMsg, OrderMsg, Relay, SignalMsg, Stamped, View};
use super::super::ring::{Abandoned, Inbox, Outbox};
use crate::core::{EventBody, SymbolSpec};
use crate::signal::oracle::Oracle;
use crate::signal::profile::TradeProfile;
use crate::strategy::Strategy;

/// The signal: traded-volume profile and oracle; views and trades in, intents and the
/// exchange's market data out.
pub struct SignalStage {
    /// One oracle and traded-volume profile per symbol (index = the feed's).
    lanes: Vec<SignalLane>,
    /// Record each symbol's tick-to-decision apart (a run of several symbols).
    per_symbol: bool,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
    /// Oracle evaluations.
    pub evaluations: u64,
    /// Intents proposed.
    pub intents: u64,
    /// Warm-ups run ([`SignalStage::warm`]).
    pub warmups: u64,
    /// View markers without a view (a wiring bug; must stay 0).
    pub missing_views: u64,
    /// What it passes on to the gateway besides intents.
    relay: Relay,
    /// Each symbol's last trades and intent for the live view (empty: no view).
    prints: Vec<Prints>,
    /// The side the next warm-up searches ([`SignalStage::warm`]) lean to.
    warm_flip: bool,
}

/// One symbol's signal.
struct SignalLane {
    oracle: Oracle,
    profile: TradeProfile,
    /// The exchange's time for events that carry none.
    clock: crate::core::ExchangeClock,
    /// This symbol's frame → decision (a run of several symbols).
    tick_to_decision: crate::telemetry::Latency,
    /// Intents this symbol's oracle proposed.
    intents: u64,
}

/// The last trades and the last intent (the live view's), in a fixed ring.
#[derive(Debug, Clone)]
pub(crate) struct Prints {
    pub(crate) trades: [crate::pipeline::status::TradePrint; PRINTS],
    /// Trades pushed in all (the ring's next slot is this modulo its size).
    pub(crate) pushed: u64,
    /// Seen a `trade` stream: `aggTrade`s are then the same trades again.
    saw_trade: bool,
    pub(crate) last_intent: Option<crate::signal::oracle::Intent>,
}

/// Trades the live view lists.
pub(crate) const PRINTS: usize = 16;

impl SignalStage {
    /// The oracle of `strategy` for `spec`.
    pub fn new(spec: &SymbolSpec, strategy: &Strategy) -> Self {
        Self::for_symbols(std::slice::from_ref(spec), strategy)
    }

    /// An oracle of `strategy` per symbol of `specs` (the feed's, in its order). Cold.
    pub fn for_symbols(specs: &[SymbolSpec], strategy: &Strategy) -> Self {
        let lanes = specs
            .iter()
            .map(|spec| SignalLane {
                oracle: Oracle::new(strategy, spec),
                profile: TradeProfile::new(
                    strategy.bin_ticks,
                    strategy.volume_window_secs as u64 * 1000,
                    1 << 16,
                ),
                clock: crate::core::ExchangeClock::default(),
                tick_to_decision: crate::telemetry::Latency::off("tick_to_decision"),
                intents: 0,
            })
            .collect();
        Self {
            lanes,
            per_symbol: false,
            lat: Latencies::off(),
            evaluations: 0,
            intents: 0,
            warmups: 0,
            missing_views: 0,
            relay: Relay::Market,
            prints: Vec::new(),
            warm_flip: false,
        }
    }

    /// Runs symbol `k`'s oracle searches on `view` as if the book leaned one way, the
    /// other way at the next call, and forgets the result ([`Oracle::warm`]): a
    /// pressed book's decision then finds its code in cache when market events come
    /// far apart. Nothing a report or a decision reads changes.
    ///
    /// # Hot path: no allocation.
    pub fn warm(&mut self, k: usize, view: &crate::book::BookView<{ crate::book::VIEW_BINS }>) {
        self.warm_flip = !self.warm_flip;
        self.warmups += 1;
        let side = if self.warm_flip {
            crate::signal::oracle::Side::Long
        } else {
            crate::signal::oracle::Side::Short
        };
        if let Some(lane) = self.lanes.get_mut(k) {
            lane.oracle.warm(view, &lane.profile, side);
        }
    }

    /// Maps now every page the traded-volume profiles and latency series write while
    /// trading (see [`crate::core::prefault`]): `minerva run`'s stages. Cold.
    pub fn prefault(&mut self) {
        for l in &mut self.lanes {
            l.profile.prefault();
            l.tick_to_decision.prefault();
        }
        self.lat.prefault();
    }

    /// Records each symbol's tick-to-decision apart as well (cold: allocates the
    /// histograms); a run of several symbols reports them.
    pub fn time_symbols(&mut self, on: bool) {
        self.per_symbol = on;
        for l in &mut self.lanes {
            l.tick_to_decision.set_off(!on);
        }
    }

    /// Symbol `k`'s tick-to-decision series (recorded after [`Self::time_symbols`]).
    pub fn symbol_latency(&self, k: usize) -> Option<&crate::telemetry::Latency> {
        self.lanes.get(k).map(|l| &l.tick_to_decision)
    }

    /// Keeps each symbol's last trades and intent for the live view (a fixed ring per
    /// symbol, a few stores per trade). Cold: allocates them.
    pub fn keep_prints(&mut self) {
        self.prints = self.lanes.iter().map(|_| Prints::empty()).collect();
    }

    /// Copies what the live view shows: counters, pressure, the last trades and
    /// intent, and the traded volume of the bins around the last trade — of the first
    /// symbol into `out`, of symbol `k` into `more[k - 1]`. Cold; no allocation.
    #[cold]
    pub(crate) fn fill_status(
        &self,
        out: &mut crate::pipeline::status::SignalPost,
        more: &mut [crate::pipeline::status::SignalPost],
    ) {
        self.fill_lane(0, out);
        out.evaluations = self.evaluations;
        out.intents = self.intents;
        out.lines.clear();
        if self.lanes.len() > 1 {
            // Evaluations per symbol are the count of its tick-to-decision series
            // (recorded for a run of several).
            out.lines.extend(self.lanes.iter().map(|l| {
                (
                    l.tick_to_decision.histogram().len(),
                    l.oracle.last_pressure_ppm(),
                )
            }));
        }
        for (k, post) in more.iter_mut().enumerate() {
            self.fill_lane(k + 1, post);
            if let Some(lane) = self.lanes.get(k + 1) {
                post.evaluations = lane.tick_to_decision.histogram().len();
                post.intents = lane.intents;
            }
        }
    }

    /// Symbol `k`'s pressure, last trades and intent, and traded volume. Cold.
    fn fill_lane(&self, k: usize, out: &mut crate::pipeline::status::SignalPost) {
        let Some(lane) = self.lanes.get(k) else {
            return;
        };
        out.pressure_ppm = lane.oracle.last_pressure_ppm();
        if let Some(p) = self.prints.get(k) {
            out.prints = p.clone();
        }
        let last = out
            .prints
            .pushed
            .checked_sub(1)
            .map(|k| out.prints.trades[k as usize % PRINTS]);
        let centre = last.map_or(0, |t| lane.profile.bin_of(t.price));
        let half = out.traded.len() as i64 / 2;
        out.traded_base = centre - half;
        for (k, v) in out.traded.iter_mut().enumerate() {
            *v = lane.profile.total_in_bin(out.traded_base + k as i64);
        }
    }

    /// Passes on to the gateway what its exchange end needs: every market message
    /// (the simulated exchange, the default), the same without depth levels (the
    /// simulated exchange lent the book stage's book) or only trades (a venue's link).
    pub fn set_relay(&mut self, relay: Relay) {
        self.relay = relay;
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`Abandoned`] when the gateway stage is gone.
    pub fn on_msg(
        &mut self,
        m: &Stamped<SignalMsg>,
        out: &mut Outbox<Stamped<OrderMsg>>,
        views: &mut Inbox<View>,
    ) -> Result<(), Abandoned> {
        let t0 = self.lat.now();
        self.lat.signal_queue.record(t0.saturating_sub(m.pushed_ns));
        let SignalMsg {
            ref msg,
            frame_ns,
            view,
        } = m.msg;
        let mut decided = None;
        if let FeedMsg::Event(ev) = msg {
            let Some(lane) = self.lanes.get_mut(ev.symbol.0 as usize) else {
                // Not a symbol of this run (a wiring error): nothing to read it.
                return Ok(());
            };
            let event_ms = lane.clock.on_event(ev);
            // The live view lists each symbol's last trades.
            let prints = self.prints.get_mut(ev.symbol.0 as usize);
            match &ev.body {
                EventBody::Trade(t) => {
                    lane.profile
                        .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                    if let Some(p) = prints {
                        p.saw_trade = true;
                        p.push(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                    }
                }
                EventBody::AggTrade(t) => {
                    lane.profile
                        .on_trade(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                    if let Some(p) = prints.filter(|p| !p.saw_trade) {
                        p.push(t.trade_ms, t.price, t.qty, !t.buyer_is_maker);
                    }
                }
                _ => {}
            }
            if view {
                lane.profile.expire(event_ms);
                let (oracle, profile) = (&mut lane.oracle, &lane.profile);
                // The book pushed the view before this message: it is there.
                match views.with_next(|v| oracle.evaluate_view(v, profile)) {
                    Some(decision) => {
                        self.evaluations += 1;
                        let waited = self.lat.now().saturating_sub(frame_ns);
                        self.lat.tick_to_decision.record(waited);
                        if self.per_symbol {
                            lane.tick_to_decision.record(waited);
                        }
                        decided = decision.ok().map(|intent| (intent, event_ms, ev.symbol));
                    }
                    None => self.missing_views += 1,
                }
            }
        }
        // Decided first, passed on after: the exchange end sees the market before any
        // order it causes, and the copy is not on the way to the decision.
        let relayed = match (self.relay, msg) {
            (Relay::Market | Relay::Lent, _) => {
                // Written over the slot's last message (a depth chunk copies only
                // the levels it holds, or none when the exchange is lent the book).
                let levels = self.relay == Relay::Market;
                let pushed_ns = self.lat.now();
                out.push_in_place(|s| {
                    s.pushed_ns = pushed_ns;
                    match &mut s.msg {
                        OrderMsg::Market {
                            msg: to,
                            frame_ns: at,
                        } => {
                            if levels {
                                msg.copy_into(to);
                            } else {
                                msg.copy_head_into(to);
                            }
                            *at = frame_ns;
                        }
                        other => {
                            *other = OrderMsg::Market {
                                msg: *msg,
                                frame_ns,
                            }
                        }
                    }
                })?;
                None
            }
            (Relay::Trades, FeedMsg::Event(ev)) => match &ev.body {
                EventBody::Trade(t) => Some(OrderMsg::Trade {
                    symbol: ev.symbol,
                    price: t.price,
                    frame_ns,
                }),
                EventBody::AggTrade(t) => Some(OrderMsg::Trade {
                    symbol: ev.symbol,
                    price: t.price,
                    frame_ns,
                }),
                _ => None,
            },
            (Relay::Trades, _) => None,
        };
        if let Some(msg) = relayed {
            out.push(Stamped {
                msg,
                pushed_ns: self.lat.now(),
            })?;
        }
        if let Some((intent, event_ms, symbol)) = decided {
            self.intents += 1;
            if let Some(lane) = self.lanes.get_mut(symbol.0 as usize) {
                lane.intents += 1;
            }
            if let Some(p) = self.prints.get_mut(symbol.0 as usize) {
                p.last_intent = Some(intent);
            }
            out.push(Stamped {
                msg: OrderMsg::Intent(IntentMsg {
                    intent,
                    frame_ns,
                    event_ms,
                    symbol,
                }),
                pushed_ns: self.lat.now(),
            })?;
        }
        self.lat.signal.record(self.lat.now().saturating_sub(t0));
        Ok(())
    }
}

impl Prints {
    /// An empty ring (the publisher's slot before the first post).
    pub(crate) fn empty() -> Self {
        Self {
            trades: [crate::pipeline::status::TradePrint::default(); PRINTS],
            pushed: 0,
            saw_trade: false,
            last_intent: None,
        }
    }

    #[inline]
    fn push(&mut self, ms: u64, price: crate::core::Ticks, qty: crate::core::Lots, buy: bool) {
        self.trades[self.pushed as usize % PRINTS] = crate::pipeline::status::TradePrint {
            ms,
            price,
            qty,
            buy,
        };
        self.pushed += 1;
    }
}
