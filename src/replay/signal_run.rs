//! `minerva signal`: book → oracle → risk manager on recorded data, with a simple
//! trade-touch tracker so open operations fill, close and free their slots.
//!
//! The tracker is deliberately plain: an entry fills when a trade prints at or through
//! it, an operation closes when a trade prints at or through its take profit or stop
//! (at that price), and an entry not filled within `volume_window_secs` is withdrawn.
//! Queue position, latency and partial fills are `minerva backtest`'s job (its
//! simulated exchange).

use crate::book::Book;
use crate::core::{EventBody, MarketEvent, SymbolSpec, Ticks};
use crate::replay::Observer;
use crate::risk::{Operation, Refusal, RiskManager, RiskStats};
use crate::signal::oracle::{Intent, NoSignal, Oracle, Side};
use crate::signal::profile::TradeProfile;
use crate::strategy::Strategy;

/// Trades kept in the traded-volume window.
const PROFILE_CAPACITY: usize = 1 << 16;

/// What happened, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalRecord {
    /// The risk manager accepted an operation.
    Operation {
        /// Exchange time of the book update it came from (ms).
        time_ms: u64,
        /// The sized operation.
        op: Operation,
    },
    /// The risk manager refused a proposal (repeats of the same refusal are counted,
    /// not listed again).
    Refused {
        /// Exchange time (ms).
        time_ms: u64,
        /// The proposal.
        intent: Intent,
        /// Why.
        reason: Refusal,
    },
    /// An entry filled.
    Filled {
        /// Exchange time (ms).
        time_ms: u64,
        /// Operation id.
        id: u64,
    },
    /// An operation closed at its take profit or stop.
    Closed {
        /// Exchange time (ms).
        time_ms: u64,
        /// Operation id.
        id: u64,
        /// Exit price.
        exit: Ticks,
        /// True at the take profit, false at the stop.
        take_profit: bool,
        /// Realised PnL net of fees, 10⁻⁸ quote.
        pnl_e8: i64,
    },
    /// An entry not filled in time was withdrawn.
    Withdrawn {
        /// Exchange time (ms).
        time_ms: u64,
        /// Operation id.
        id: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    op: Operation,
    since_ms: u64,
    filled: bool,
}

/// Counts of evaluations by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalCounts {
    /// Evaluations run.
    pub evaluations: u64,
    /// Proposals made (accepted or refused).
    pub proposals: u64,
    /// Refusals not listed because they repeated the previous one.
    pub repeated_refusals: u64,
    /// No signal, by reason (index = `NoSignal as usize`).
    pub no_signal: [u64; 9],
}

/// The signal stage driven by a replay.
pub struct SignalRun {
    strategy: Strategy,
    window_ms: u64,
    state: Option<(Oracle, RiskManager, SymbolSpec)>,
    profile: TradeProfile,
    tracked: Vec<Tracked>,
    last_refusal: Option<(Side, Ticks, Refusal)>,
    /// Everything that happened, in order.
    pub records: Vec<SignalRecord>,
    /// Evaluation outcomes.
    pub counts: EvalCounts,
    /// The exchange's time for events that carry none.
    clock: crate::core::ExchangeClock,
}

impl SignalRun {
    /// A run of `strategy` (its `market` is the symbol followed).
    pub fn new(strategy: Strategy) -> Self {
        let profile = TradeProfile::new(
            strategy.bin_ticks,
            strategy.volume_window_secs as u64 * 1000,
            PROFILE_CAPACITY,
        );
        Self {
            window_ms: strategy.volume_window_secs as u64 * 1000,
            tracked: Vec::with_capacity(strategy.max_concurrent_trades as usize),
            strategy,
            state: None,
            profile,
            last_refusal: None,
            records: Vec::new(),
            counts: EvalCounts::default(),
            clock: crate::core::ExchangeClock::default(),
        }
    }

    /// True once the strategy's symbol was seen.
    pub fn saw_symbol(&self) -> bool {
        self.state.is_some()
    }

    /// The symbol's spec, once seen.
    pub fn spec(&self) -> Option<&SymbolSpec> {
        self.state.as_ref().map(|s| &s.2)
    }

    /// Risk counters.
    pub fn risk_stats(&self) -> RiskStats {
        self.state.as_ref().map(|s| s.1.stats()).unwrap_or_default()
    }

    fn on_trade(&mut self, ms: u64, price: Ticks, qty: crate::core::Lots, buyer_is_maker: bool) {
        self.profile.on_trade(ms, price, qty, !buyer_is_maker);
        let Some((_, risk, _)) = self.state.as_mut() else {
            return;
        };
        let mut k = 0;
        while k < self.tracked.len() {
            let t = &mut self.tracked[k];
            let i = t.op.intent;
            let long = i.side == Side::Long;
            if !t.filled {
                let through = if long {
                    price <= i.entry
                } else {
                    price >= i.entry
                };
                if through {
                    t.filled = true;
                    self.records.push(SignalRecord::Filled {
                        time_ms: ms,
                        id: t.op.id,
                    });
                } else if ms >= t.since_ms + self.window_ms {
                    risk.cancel(t.op.id);
                    self.records.push(SignalRecord::Withdrawn {
                        time_ms: ms,
                        id: t.op.id,
                    });
                    self.tracked.swap_remove(k);
                    continue;
                }
            } else {
                let tp = if long {
                    price >= i.take_profit
                } else {
                    price <= i.take_profit
                };
                let sl = if long {
                    price <= i.stop_loss
                } else {
                    price >= i.stop_loss
                };
                if tp || sl {
                    let exit = if tp { i.take_profit } else { i.stop_loss };
                    let exit_value = risk.value_e8(exit, t.op.qty);
                    let exit_fee = risk.fill_fee_e8(exit, t.op.qty, tp);
                    let fees = t.op.entry_fee_e8 + exit_fee;
                    let pnl = risk.gain_e8(long, t.op.notional_e8, exit_value) - fees;
                    risk.close(t.op.id, pnl, fees, ms);
                    self.records.push(SignalRecord::Closed {
                        time_ms: ms,
                        id: t.op.id,
                        exit,
                        take_profit: tp,
                        pnl_e8: pnl,
                    });
                    self.tracked.swap_remove(k);
                    continue;
                }
            }
            k += 1;
        }
    }

    fn evaluate(&mut self, ms: u64, book: &Book) {
        let Some((oracle, risk, _)) = self.state.as_mut() else {
            return;
        };
        self.counts.evaluations += 1;
        self.profile.expire(ms);
        match oracle.evaluate(book, &self.profile) {
            Err(why) => self.counts.no_signal[no_signal_index(why)] += 1,
            Ok(intent) => {
                self.counts.proposals += 1;
                match risk.propose(&intent, ms) {
                    Ok(op) => {
                        self.last_refusal = None;
                        self.tracked.push(Tracked {
                            op,
                            since_ms: ms,
                            filled: false,
                        });
                        self.records
                            .push(SignalRecord::Operation { time_ms: ms, op });
                    }
                    Err(reason) => {
                        let key = (intent.side, intent.entry, reason);
                        if self.last_refusal == Some(key) {
                            self.counts.repeated_refusals += 1;
                        } else {
                            self.last_refusal = Some(key);
                            self.records.push(SignalRecord::Refused {
                                time_ms: ms,
                                intent,
                                reason,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Position of a reason in [`EvalCounts::no_signal`].
pub fn no_signal_index(n: NoSignal) -> usize {
    match n {
        NoSignal::BookNotLive => 0,
        NoSignal::EmptySide => 1,
        NoSignal::NoPressure => 2,
        NoSignal::NoSupportWall => 3,
        NoSignal::NoTargetWall => 4,
        NoSignal::NoVoid => 5,
        NoSignal::TradedWallInTheWay => 6,
        NoSignal::OutOfEntryRange => 7,
        NoSignal::BadPrices => 8,
    }
}

/// Names of [`EvalCounts::no_signal`]'s entries.
pub const NO_SIGNAL_NAMES: [&str; 9] = [
    "book_not_live",
    "empty_side",
    "no_pressure",
    "no_support_wall",
    "no_target_wall",
    "no_void",
    "traded_wall_in_the_way",
    "out_of_entry_range",
    "bad_prices",
];

impl Observer for SignalRun {
    fn on_event(&mut self, ev: &MarketEvent, book: &Book) {
        if !book.spec().name.eq_ignore_ascii_case(&self.strategy.market) {
            return;
        }
        if self.state.is_none() {
            let spec = book.spec().clone();
            let oracle = Oracle::new(&self.strategy, &spec);
            let risk = RiskManager::new(&self.strategy, &spec);
            self.state = Some((oracle, risk, spec));
        }
        let event_ms = self.clock.on_event(ev);
        match ev.body {
            EventBody::Trade(t) => self.on_trade(t.trade_ms, t.price, t.qty, t.buyer_is_maker),
            EventBody::AggTrade(t) => self.on_trade(t.trade_ms, t.price, t.qty, t.buyer_is_maker),
            EventBody::Depth(c) if c.is_last() => self.evaluate(event_ms, book),
            _ => {}
        }
    }
}
