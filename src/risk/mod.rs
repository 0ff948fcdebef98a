//! The risk manager: sizes the oracle's intents and refuses what breaks a limit.
//!
//! * Margin per trade = `percentage_per_trade` × capital; leverage = the strategy's cap
//!   on futures (live: lowered to what the link set within the symbol's brackets,
//!   [`RiskManager::limit_leverage`]), 1 on spot; position = margin × leverage, rounded
//!   down to the lot step at the entry price.
//! * At most `max_concurrent_trades` open, at most `max_capital_in_use` of capital
//!   committed as margin, no operation on the same side within `similar_entry_ticks`
//!   of an open one (product.md steps 1-2).
//! * Orders under the symbol's minimum quantity or notional are refused.
//! * A realised loss of `daily_loss_limit` × capital in a UTC day stops new operations
//!   until the next day; the kill switch stops them until released.
//! * Fees: position × rate per side (maker for the limit entry and take profit, taker
//!   for the stop); every PnL figure is net of them, and an operation whose take profit
//!   would not cover its fees is refused.
//!
//! Money is fixed point: 10⁻⁸ units (`_e8`) of the margin asset, computed in `i128`:
//! the quote asset (USDT) on spot and USD-M, the coin on COIN-M, where capital, margin,
//! fees and PnL are all in the coin and a contract is `contract_size` USD
//! ([`Valuer`]).

use crate::core::{Lots, Market, SymbolSpec, Ticks, Valuer, fee_e8};
use crate::signal::oracle::{Intent, Side};
use crate::strategy::Strategy;

/// Why a proposal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The kill switch is on.
    KillSwitch,
    /// Today's realised loss reached the daily limit.
    DailyLossLimit {
        /// Realised PnL today (negative), 10⁻⁸ quote.
        pnl_e8: i64,
        /// The limit, 10⁻⁸ quote.
        limit_e8: i64,
    },
    /// An open operation on the same side has an entry within `similar_entry_ticks`.
    Duplicate {
        /// The open operation.
        open_id: u64,
    },
    /// `max_concurrent_trades` already open.
    TooManyOpen {
        /// Operations open.
        open: u32,
    },
    /// The margin would take committed capital over `max_capital_in_use`.
    CapitalInUse {
        /// Margin committed with this one, 10⁻⁸ quote.
        would_be_e8: i64,
        /// The limit, 10⁻⁸ quote.
        limit_e8: i64,
    },
    /// The position rounds to less than the symbol's minimum quantity (or zero).
    BelowMinQty {
        /// The quantity it came to.
        qty: Lots,
    },
    /// The position is under the symbol's minimum notional.
    BelowMinNotional {
        /// Its notional, 10⁻⁸ quote.
        notional_e8: i64,
    },
    /// Reaching the take profit would not cover the fees.
    NoProfitAfterFees {
        /// PnL at the take profit net of fees, 10⁻⁸ quote.
        pnl_at_tp_e8: i64,
    },
    /// Live: the venue's stream of the account's order events (Binance's user data
    /// stream, KuCoin's private session) is down, so a new entry's fills would go
    /// unheard until it is back. Exits and cancels still go.
    OrderEventsDown,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = |v: i64| crate::core::Dec8(v).to_string();
        match self {
            Refusal::KillSwitch => write!(f, "kill switch on"),
            Refusal::DailyLossLimit { pnl_e8, limit_e8 } => {
                write!(
                    f,
                    "daily loss limit: realised {} of -{} allowed",
                    q(*pnl_e8),
                    q(*limit_e8)
                )
            }
            Refusal::Duplicate { open_id } => write!(f, "similar to open operation #{open_id}"),
            Refusal::TooManyOpen { open } => write!(f, "{open} operations already open"),
            Refusal::CapitalInUse {
                would_be_e8,
                limit_e8,
            } => {
                write!(
                    f,
                    "margin in use would be {} over {}",
                    q(*would_be_e8),
                    q(*limit_e8)
                )
            }
            Refusal::BelowMinQty { qty } => {
                write!(f, "size {} lots is under the minimum quantity", qty.0)
            }
            Refusal::BelowMinNotional { notional_e8 } => {
                write!(f, "notional {} is under the minimum", q(*notional_e8))
            }
            Refusal::NoProfitAfterFees { pnl_at_tp_e8 } => {
                write!(f, "take profit would earn {} after fees", q(*pnl_at_tp_e8))
            }
            Refusal::OrderEventsDown => write!(
                f,
                "the venue's order events are not heard (user stream down): entries wait"
            ),
        }
    }
}

/// A sized, accepted operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Sequence number.
    pub id: u64,
    /// The oracle's intent.
    pub intent: Intent,
    /// Position size.
    pub qty: Lots,
    /// Position notional at the entry, 10⁻⁸ quote.
    pub notional_e8: i64,
    /// Margin committed, 10⁻⁸ quote.
    pub margin_e8: i64,
    /// Leverage.
    pub leverage: u32,
    /// PnL if the take profit fills, net of both fees, 10⁻⁸ quote.
    pub pnl_at_tp_e8: i64,
    /// PnL if the stop fills, net of both fees, 10⁻⁸ quote.
    pub pnl_at_sl_e8: i64,
    /// Fee of the entry (maker), 10⁻⁸ quote.
    pub entry_fee_e8: i64,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    id: u64,
    side: Side,
    entry: Ticks,
    margin_e8: i64,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskStats {
    /// Operations accepted.
    pub accepted: u64,
    /// Proposals refused.
    pub refused: u64,
    /// Operations closed.
    pub closed: u64,
    /// Realised PnL net of fees over the whole run, 10⁻⁸ quote.
    pub realised_e8: i64,
    /// Fees paid, 10⁻⁸ quote.
    pub fees_e8: i64,
    /// The capital operations are sized from (the strategy's, or the account's
    /// available balance when smaller), 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Highest equity (capital + realised PnL) so far, 10⁻⁸ quote.
    pub peak_e8: i64,
    /// The drawdown limit turned the kill switch on.
    pub killed_by_drawdown: bool,
}

impl RiskStats {
    /// Adds another symbol's counters and money (a run's totals; the capital and
    /// peak are the account's, not summed). Cold.
    pub fn add(&mut self, o: &Self) {
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.closed += o.closed;
        self.realised_e8 += o.realised_e8;
        self.fees_e8 += o.fees_e8;
        self.killed_by_drawdown |= o.killed_by_drawdown;
    }
}

/// Limits and open operations for one symbol.
pub struct RiskManager {
    /// The capital operations are sized from (the limits below follow it).
    capital_e8: i64,
    in_use_ppm: i64,
    daily_ppm: i64,
    per_trade_ppm: i64,
    in_use_limit_e8: i64,
    daily_limit_e8: i64,
    max_open: u32,
    similar_ticks: i64,
    maker_e8: i64,
    taker_e8: i64,
    leverage: u32,
    valuer: Valuer,
    qty_step: i64,
    min_qty: i64,
    /// The venue's largest order (`LOT_SIZE.maxQty`, KuCoin's `maxOrderQty`), lots.
    max_qty: Option<i64>,
    min_notional: Option<i128>,
    open: Vec<Open>,
    in_use_e8: i64,
    day: u64,
    today_e8: i64,
    killed: bool,
    /// Drawdown from the equity peak that turns the kill switch on, ppm of the peak.
    drawdown_limit_ppm: Option<u32>,
    next_id: u64,
    /// What each operation adds to the id (several symbols' traders share an account:
    /// each numbers its own residue).
    id_step: u64,
    stats: RiskStats,
}

impl RiskManager {
    /// A risk manager for `strategy` on `spec`.
    pub fn new(s: &Strategy, spec: &SymbolSpec) -> Self {
        let cap = s.capital.0;
        Self {
            capital_e8: cap,
            in_use_ppm: s.max_capital_in_use_ppm as i64,
            daily_ppm: s.daily_loss_limit_ppm as i64,
            per_trade_ppm: s.per_trade_ppm as i64,
            in_use_limit_e8: (cap as i128 * s.max_capital_in_use_ppm as i128 / 1_000_000) as i64,
            daily_limit_e8: (cap as i128 * s.daily_loss_limit_ppm as i128 / 1_000_000) as i64,
            max_open: s.max_concurrent_trades,
            similar_ticks: s.similar_entry_ticks as i64,
            maker_e8: s.maker_fee_e8,
            taker_e8: s.taker_fee_e8,
            leverage: if spec.market == Market::Spot {
                1
            } else {
                s.max_leverage
            },
            valuer: Valuer::new(spec),
            qty_step: spec.qty.step().0.max(1),
            min_qty: spec.min_qty.0,
            max_qty: spec.max_qty.map(|q| q.0),
            min_notional: spec.min_notional,
            open: Vec::with_capacity(s.max_concurrent_trades as usize),
            in_use_e8: 0,
            day: 0,
            today_e8: 0,
            killed: false,
            drawdown_limit_ppm: None,
            next_id: 1,
            id_step: 1,
            stats: RiskStats {
                capital_e8: cap,
                peak_e8: cap,
                ..RiskStats::default()
            },
        }
    }

    /// Sizes from at most `available_e8` (the account's real available balance, read at
    /// start) when it is below the strategy's capital: per-trade margin, capital in use
    /// and the daily loss limit all follow. Never more than the strategy's capital.
    pub fn limit_capital(&mut self, available_e8: i64) {
        if available_e8 >= self.capital_e8 || available_e8 < 0 {
            return;
        }
        self.size_from(available_e8);
        self.stats.capital_e8 = available_e8;
        self.stats.peak_e8 = available_e8;
    }

    /// Follows the available balance the user data stream shows: operations are sized
    /// from it plus the margin this risk manager already committed (its own open
    /// operations are not "unavailable"), never from more than the capital at start
    /// (the strategy's, or the smaller balance then). So losses, withdrawals or another
    /// program using the balance shrink the sizes; gains do not grow them past the
    /// start (a spot short commits margin the exchange does not lock, which would
    /// otherwise count twice). Equity and drawdown keep counting from the start.
    ///
    /// # Hot path: integer arithmetic only (called before each proposal when live).
    #[inline]
    pub fn follow_available(&mut self, available_e8: i64) {
        let c = available_e8
            .saturating_add(self.in_use_e8)
            .clamp(0, self.stats.capital_e8);
        if c != self.capital_e8 {
            self.size_from(c);
        }
    }

    /// Sizing capital and the limits that are shares of it.
    fn size_from(&mut self, capital_e8: i64) {
        let share = |ppm: i64| (capital_e8 as i128 * ppm as i128 / 1_000_000) as i64;
        self.in_use_limit_e8 = share(self.in_use_ppm);
        self.daily_limit_e8 = share(self.daily_ppm);
        self.capital_e8 = capital_e8;
    }

    /// Sizes at no more than `leverage` (what the live link set within the symbol's
    /// brackets); spot stays at 1.
    pub fn limit_leverage(&mut self, leverage: u32) {
        self.leverage = self.leverage.min(leverage.max(1));
    }

    /// The leverage operations are sized at.
    pub fn leverage(&self) -> u32 {
        self.leverage
    }

    /// The capital sized from.
    pub fn capital_e8(&self) -> i64 {
        self.capital_e8
    }

    /// Turns the kill switch on when realised equity (capital + realised PnL) falls
    /// `ppm` millionths below its peak (the watchdog's `drawdown=`).
    pub fn set_drawdown_limit(&mut self, ppm: Option<u32>) {
        self.drawdown_limit_ppm = ppm;
    }

    /// Counters.
    pub fn stats(&self) -> RiskStats {
        self.stats
    }

    /// Operations open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Margin committed, 10⁻⁸ quote.
    pub fn in_use_e8(&self) -> i64 {
        self.in_use_e8
    }

    /// Turns the kill switch on or off.
    pub fn set_kill_switch(&mut self, on: bool) {
        self.killed = on;
    }

    /// Value of `qty` at `price` in the margin asset, 10⁻⁸ units (truncated).
    #[inline]
    pub fn value_e8(&self, price: Ticks, qty: Lots) -> i64 {
        self.valuer.value_e8(price, qty)
    }

    /// Gross PnL of a position that cost `cost_e8` and is worth `value_e8`
    /// ([`Valuer::gain_e8`]: reversed on inverse contracts).
    #[inline]
    pub fn gain_e8(&self, long: bool, cost_e8: i64, value_e8: i64) -> i64 {
        self.valuer.gain_e8(long, cost_e8, value_e8)
    }

    #[inline]
    fn fee(notional_e8: i64, rate_e8: i64) -> i64 {
        fee_e8(notional_e8, rate_e8)
    }

    fn roll_day(&mut self, now_ms: u64) {
        let day = now_ms / 86_400_000;
        if day != self.day {
            self.day = day;
            self.today_e8 = 0;
        }
    }

    /// Counts a refusal decided outside (a limit across symbols).
    pub fn note_refusal(&mut self) {
        self.stats.refused += 1;
    }

    /// Sizes and vets an intent.
    ///
    /// # Hot path: no allocation (`open` holds `max_concurrent_trades`).
    ///
    /// # Errors
    /// The [`Refusal`] that applies first, in the order of the checks above.
    pub fn propose(&mut self, intent: &Intent, now_ms: u64) -> Result<Operation, Refusal> {
        let r = self.check(intent, now_ms);
        match &r {
            Ok(op) => {
                self.stats.accepted += 1;
                self.in_use_e8 += op.margin_e8;
                self.open.push(Open {
                    id: op.id,
                    side: intent.side,
                    entry: intent.entry,
                    margin_e8: op.margin_e8,
                });
            }
            Err(_) => self.stats.refused += 1,
        }
        r
    }

    fn check(&mut self, i: &Intent, now_ms: u64) -> Result<Operation, Refusal> {
        self.roll_day(now_ms);
        if self.killed {
            return Err(Refusal::KillSwitch);
        }
        if self.daily_limit_e8 > 0 && self.today_e8 <= -self.daily_limit_e8 {
            return Err(Refusal::DailyLossLimit {
                pnl_e8: self.today_e8,
                limit_e8: self.daily_limit_e8,
            });
        }
        if let Some(o) = self
            .open
            .iter()
            .find(|o| o.side == i.side && (o.entry.0 - i.entry.0).abs() <= self.similar_ticks)
        {
            return Err(Refusal::Duplicate { open_id: o.id });
        }
        if self.open.len() as u32 >= self.max_open {
            return Err(Refusal::TooManyOpen {
                open: self.open.len() as u32,
            });
        }
        let margin_target =
            (self.capital_e8 as i128 * self.per_trade_ppm as i128 / 1_000_000) as i64;
        let notional_target = margin_target as i128 * self.leverage as i128;
        // lots = notional / (price × tm / 10^(pd+qd)), in 10⁻⁸ quote.
        let lots = self.valuer.lots_for(notional_target, i.entry);
        // The venue refuses an order over its largest: the operation is sized down to
        // it (its margin then under the target).
        let lots = lots.min(i128::from(self.max_qty.unwrap_or(i64::MAX)));
        let lots = (lots.min(i64::MAX as i128) as i64 / self.qty_step) * self.qty_step;
        if lots <= 0 || lots < self.min_qty {
            return Err(Refusal::BelowMinQty { qty: Lots(lots) });
        }
        let qty = Lots(lots);
        let notional_e8 = self.value_e8(i.entry, qty);
        if let Some(min) = self.min_notional {
            if self.valuer.raw(i.entry, qty) < min {
                return Err(Refusal::BelowMinNotional { notional_e8 });
            }
        }
        let lev = self.leverage.max(1) as i64;
        let margin_e8 = (notional_e8 + lev - 1) / lev;
        if self.in_use_e8 + margin_e8 > self.in_use_limit_e8 {
            return Err(Refusal::CapitalInUse {
                would_be_e8: self.in_use_e8 + margin_e8,
                limit_e8: self.in_use_limit_e8,
            });
        }
        let long = i.side == Side::Long;
        let entry_fee_e8 = Self::fee(notional_e8, self.maker_e8);
        let at = |p: Ticks| self.value_e8(p, qty);
        let tp_value = at(i.take_profit);
        let sl_value = at(i.stop_loss);
        let pnl_at_tp_e8 = self.gain_e8(long, notional_e8, tp_value)
            - entry_fee_e8
            - Self::fee(tp_value, self.maker_e8);
        let pnl_at_sl_e8 = self.gain_e8(long, notional_e8, sl_value)
            - entry_fee_e8
            - Self::fee(sl_value, self.taker_e8);
        if pnl_at_tp_e8 <= 0 {
            return Err(Refusal::NoProfitAfterFees { pnl_at_tp_e8 });
        }
        let id = self.next_id;
        self.next_id += self.id_step;
        Ok(Operation {
            id,
            intent: *i,
            qty,
            notional_e8,
            margin_e8,
            leverage: self.leverage,
            pnl_at_tp_e8,
            pnl_at_sl_e8,
            entry_fee_e8,
        })
    }

    /// Numbers operations from `first` on (a live session starts at its start time in
    /// ms, so client order ids never repeat a previous session's).
    pub fn start_ids_at(&mut self, first: u64) {
        self.next_id = first.max(1);
    }

    /// Numbers operations as trader `k` of `n` on one account (a run of several
    /// symbols): ids `first·n + k`, stepping by `n`, so no two traders' client ids
    /// meet (KuCoin refuses a duplicate `clientOid` across symbols) and, as with one
    /// trader, a later session's ids start above an earlier one's.
    pub fn share_ids(&mut self, k: u64, n: u64) {
        let n = n.max(1);
        self.next_id = self.next_id.saturating_mul(n).saturating_add(k % n);
        self.id_step = n;
    }

    /// An operation's entry was never filled and is withdrawn: its margin is free again.
    pub fn cancel(&mut self, id: u64) {
        if let Some(k) = self.open.iter().position(|o| o.id == id) {
            self.in_use_e8 -= self.open[k].margin_e8;
            self.open.swap_remove(k);
        }
    }

    /// An operation closed with realised `pnl_e8` (net of fees) and `fees_e8` paid.
    pub fn close(&mut self, id: u64, pnl_e8: i64, fees_e8: i64, now_ms: u64) {
        if let Some(k) = self.open.iter().position(|o| o.id == id) {
            self.roll_day(now_ms);
            self.in_use_e8 -= self.open[k].margin_e8;
            self.open.swap_remove(k);
            self.today_e8 += pnl_e8;
            self.stats.closed += 1;
            self.stats.realised_e8 += pnl_e8;
            self.stats.fees_e8 += fees_e8;
            let equity = self.stats.capital_e8.saturating_add(self.stats.realised_e8);
            self.stats.peak_e8 = self.stats.peak_e8.max(equity);
            if let Some(limit) = self.drawdown_limit_ppm {
                let peak = self.stats.peak_e8 as i128;
                let down = peak - equity as i128;
                if peak > 0 && down * 1_000_000 >= limit as i128 * peak && !self.killed {
                    self.killed = true;
                    self.stats.killed_by_drawdown = true;
                }
            }
        }
    }

    /// Fee for a fill of `qty` at `price` (maker or taker), 10⁻⁸ quote.
    pub fn fill_fee_e8(&self, price: Ticks, qty: Lots, maker: bool) -> i64 {
        Self::fee(
            self.value_e8(price, qty),
            if maker { self.maker_e8 } else { self.taker_e8 },
        )
    }
}

#[cfg(test)]
mod tests;
