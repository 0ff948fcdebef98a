//! The trader: turns the oracle's intents into orders and follows each operation to
//! its end, against an exchange that speaks Binance's signed requests (the paper
//! exchange here; the local and live exchanges later).
//!
//! An operation: the risk manager sizes the intent → a post-only entry at the intent's
//! price → once filled, the exits: on spot one OCO list (`LIMIT_MAKER` take profit +
//! `STOP_LOSS` stop), on futures a `reduceOnly` take-profit limit and a `reduceOnly`
//! `STOP_MARKET` → whichever fills closes the operation and the risk manager books its
//! PnL net of fees. An entry not filled within `volume_window_secs` is cancelled; an
//! exit the exchange refuses is replaced by a market order that flattens the position.
//!
//! # Hot path: every buffer is sized at start-up; no allocation.

use super::paper::{ClientId, Execution, Method, PaperExchange, PaperStats, Report};
use super::sign::{
    EncodeError, OcoRequest, OrderKind, OrderRequest, OrderSide, Request, Signer, signed_cancel,
    signed_oco, signed_order,
};
use crate::core::{Level, Lots, SymbolSpec, Ticks};
use crate::risk::{Operation, Refusal, RiskManager, RiskStats};
use crate::signal::oracle::{Intent, Side};
use crate::strategy::Strategy;
use std::fmt::Write;

/// `recvWindow` of every request, ms.
const RECV_WINDOW_MS: u32 = 5_000;

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Entry sent, not filled.
    Entry,
    /// Entry cancel sent.
    Withdrawing,
    /// Entry filled at `price`; exits working.
    Open { price: Ticks, fee_e8: i64 },
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    op: Operation,
    since_ms: u64,
    phase: Phase,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraderStats {
    /// Signed requests sent (orders, lists and cancels).
    pub requests: u64,
    /// Entries sent.
    pub entries: u64,
    /// Entries filled.
    pub entries_filled: u64,
    /// Entries the exchange refused (a post-only that would have taken liquidity…).
    pub entries_rejected: u64,
    /// Entries cancelled unfilled (timeout or shutdown).
    pub entries_withdrawn: u64,
    /// Operations closed at the take profit.
    pub take_profits: u64,
    /// Operations closed at the stop.
    pub stops: u64,
    /// Operations closed by a market order after an exit was refused.
    pub flattened: u64,
    /// Requests that could not be encoded (bad symbol text, price overflow).
    pub encode_errors: u64,
    /// Intents the trader had no slot for (more than `max_concurrent_trades` tracked).
    pub no_slot: u64,
}

/// What became of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entry's signed bytes went to the exchange.
    Sent,
    /// The risk manager refused it.
    Refused(Refusal),
    /// Accepted, but the request could not be built or tracked (counted).
    Failed,
}

/// What shutdown left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shutdown {
    /// Resting orders cancelled.
    pub cancelled: usize,
    /// Positions still open (their exits cancelled).
    pub open_positions: usize,
    /// Net position, lots.
    pub position: Lots,
    /// Unrealised PnL of the open positions at the last trade, 10⁻⁸ quote.
    pub unrealised_e8: i64,
}

/// Risk manager, signer and exchange for one symbol.
pub struct Trader {
    risk: RiskManager,
    signer: Signer,
    exchange: PaperExchange,
    spec: SymbolSpec,
    futures: bool,
    window_ms: u64,
    tracked: Vec<Tracked>,
    reports: Vec<Execution>,
    last_trade: Option<Ticks>,
    now_ms: u64,
    /// Counters.
    pub stats: TraderStats,
}

impl Trader {
    /// A trader for `spec` under `strategy`, signing with `signer`, trading on a paper
    /// exchange that accepts the same key and delays each request by `latency_us`.
    pub fn paper(spec: &SymbolSpec, strategy: &Strategy, signer: Signer, latency_us: u64) -> Self {
        let slots = strategy.max_concurrent_trades.max(1) as usize;
        // Entry, or two exits and a flattening order, per operation.
        let max_orders = 3 * slots;
        Self {
            risk: RiskManager::new(strategy, spec),
            exchange: PaperExchange::new(spec, signer.clone(), latency_us, max_orders),
            signer,
            spec: spec.clone(),
            futures: spec.market.is_futures(),
            window_ms: strategy.volume_window_secs as u64 * 1000,
            tracked: Vec::with_capacity(slots),
            reports: Vec::with_capacity(8 * max_orders),
            last_trade: None,
            now_ms: 0,
            stats: TraderStats::default(),
        }
    }

    /// Risk manager counters.
    pub fn risk_stats(&self) -> RiskStats {
        self.risk.stats()
    }

    /// Exchange counters.
    pub fn exchange_stats(&self) -> PaperStats {
        self.exchange.stats
    }

    /// Operations in flight (entry working or position open).
    pub fn open_operations(&self) -> usize {
        self.tracked.len()
    }

    /// Sizes, vets and sends an intent from an event at `event_ms`.
    ///
    /// # Hot path: no allocation.
    pub fn on_intent(&mut self, intent: &Intent, event_ms: u64) -> Outcome {
        self.now_ms = self.now_ms.max(event_ms);
        let op = match self.risk.propose(intent, event_ms) {
            Ok(op) => op,
            Err(r) => return Outcome::Refused(r),
        };
        if self.tracked.len() == self.tracked.capacity() {
            self.risk.cancel(op.id);
            self.stats.no_slot += 1;
            return Outcome::Failed;
        }
        let side = order_side(intent.side, false);
        match self.order(
            op.id,
            b'e',
            side,
            OrderKind::PostOnly,
            op.qty,
            intent.entry,
            false,
        ) {
            Some(req) => {
                self.exchange.send(Method::NewOrder, &req, event_ms * 1000);
                self.stats.entries += 1;
                self.tracked.push(Tracked {
                    op,
                    since_ms: event_ms,
                    phase: Phase::Entry,
                });
                Outcome::Sent
            }
            None => {
                self.risk.cancel(op.id);
                Outcome::Failed
            }
        }
    }

    /// The touch after a book update at `event_ms`; returns the requests it caused.
    ///
    /// # Hot path: no allocation.
    pub fn on_touch(&mut self, event_ms: u64, bid: Option<Level>, ask: Option<Level>) -> u64 {
        let before = self.stats.requests;
        self.now_ms = self.now_ms.max(event_ms);
        self.exchange.on_touch(event_ms * 1000, bid, ask);
        self.after_market();
        self.stats.requests - before
    }

    /// A trade at `trade_ms`; returns the requests it caused.
    ///
    /// # Hot path: no allocation.
    pub fn on_trade(&mut self, trade_ms: u64, price: Ticks, qty: Lots, taker_buy: bool) -> u64 {
        let before = self.stats.requests;
        self.now_ms = self.now_ms.max(trade_ms);
        self.last_trade = Some(price);
        self.exchange
            .on_trade(trade_ms * 1000, price, qty, taker_buy);
        self.after_market();
        self.stats.requests - before
    }

    /// Cancels every resting order (entries and exits), lets the cancels arrive and
    /// reports what is left open. Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        let now_us = self.now_ms * 1000;
        for k in 0..self.tracked.len() {
            let t = self.tracked[k];
            let roles: &[u8] = match t.phase {
                Phase::Entry => b"e",
                Phase::Withdrawing => b"",
                Phase::Open { .. } => b"ts",
            };
            for &r in roles {
                if let Some(req) = self.cancel(t.op.id, r) {
                    self.exchange.send(Method::Cancel, &req, now_us);
                }
            }
        }
        let before = self.exchange.stats.canceled;
        self.exchange.cancel_all();
        self.handle_reports();
        let mut out = Shutdown {
            cancelled: (self.exchange.stats.canceled - before) as usize,
            position: self.exchange.position(),
            ..Shutdown::default()
        };
        for t in &self.tracked {
            if let (Phase::Open { price, .. }, Some(last)) = (t.phase, self.last_trade) {
                out.open_positions += 1;
                let v = self.risk.value_e8(last, t.op.qty) - self.risk.value_e8(price, t.op.qty);
                out.unrealised_e8 += if t.op.intent.side == Side::Long {
                    v
                } else {
                    -v
                };
            }
        }
        out
    }

    /// Executions after a market event, and entries past their time.
    #[inline]
    fn after_market(&mut self) {
        self.handle_reports();
        let now = self.now_ms;
        for k in 0..self.tracked.len() {
            let t = self.tracked[k];
            if t.phase == Phase::Entry && now.saturating_sub(t.since_ms) > self.window_ms {
                if let Some(req) = self.cancel(t.op.id, b'e') {
                    self.exchange.send(Method::Cancel, &req, now * 1000);
                    self.tracked[k].phase = Phase::Withdrawing;
                }
            }
        }
    }

    fn handle_reports(&mut self) {
        let reports = &mut self.reports;
        reports.clear();
        // Preallocated at 8 reports per open order: never grows.
        self.exchange.drain(|e| {
            if reports.len() < reports.capacity() {
                reports.push(*e)
            }
        });
        for i in 0..self.reports.len() {
            let e = self.reports[i];
            self.on_execution(&e);
        }
    }

    fn on_execution(&mut self, e: &Execution) {
        let Some((id, role)) = parse_id(&e.client_id) else {
            return;
        };
        let Some(k) = self.tracked.iter().position(|t| t.op.id == id) else {
            return;
        };
        let t = self.tracked[k];
        let now_ms = e.time_us / 1000;
        match (role, e.report) {
            (b'e', Report::Filled { price, qty, maker })
                if !matches!(t.phase, Phase::Open { .. }) =>
            {
                self.stats.entries_filled += 1;
                let fee_e8 = self.risk.fill_fee_e8(price, qty, maker);
                self.tracked[k].phase = Phase::Open { price, fee_e8 };
                self.send_exits(&t.op, e.time_us);
            }
            // A cancel that crossed the fill on the way is refused: the position stands.
            (b'e', Report::Rejected(_) | Report::Expired | Report::Canceled)
                if !matches!(t.phase, Phase::Open { .. }) =>
            {
                if matches!(e.report, Report::Rejected(_) | Report::Expired) {
                    self.stats.entries_rejected += 1;
                } else {
                    self.stats.entries_withdrawn += 1;
                }
                self.risk.cancel(id);
                self.tracked.swap_remove(k);
            }
            (b't' | b's' | b'm', Report::Filled { price, qty, maker }) => {
                let Phase::Open {
                    price: entry,
                    fee_e8,
                } = t.phase
                else {
                    return;
                };
                let fees = fee_e8 + self.risk.fill_fee_e8(price, qty, maker);
                let v = self.risk.value_e8(price, qty) - self.risk.value_e8(entry, qty);
                let gross = if t.op.intent.side == Side::Long {
                    v
                } else {
                    -v
                };
                self.risk.close(id, gross - fees, fees, now_ms);
                match role {
                    b't' => self.stats.take_profits += 1,
                    b's' => self.stats.stops += 1,
                    _ => self.stats.flattened += 1,
                }
                self.tracked.swap_remove(k);
            }
            (b't' | b's' | b'x', Report::Rejected(_)) => {
                // The position must not stay unprotected: flatten it.
                let side = order_side(t.op.intent.side, true);
                if let Some(req) = self.order(
                    id,
                    b'm',
                    side,
                    OrderKind::Market,
                    t.op.qty,
                    Ticks(1),
                    self.futures,
                ) {
                    self.exchange.send(Method::NewOrder, &req, e.time_us);
                }
            }
            _ => {}
        }
    }

    /// The take profit and the stop of an operation whose entry filled.
    fn send_exits(&mut self, op: &Operation, now_us: u64) {
        let side = order_side(op.intent.side, true);
        let ts = now_us / 1000;
        if self.futures {
            for (role, kind, price) in [
                (b't', OrderKind::LimitGtc, op.intent.take_profit),
                (b's', OrderKind::StopMarket, op.intent.stop_loss),
            ] {
                if let Some(req) = self.order(op.id, role, side, kind, op.qty, price, true) {
                    self.exchange.send(Method::NewOrder, &req, now_us);
                }
            }
            return;
        }
        let ids = [id(op.id, b'x'), id(op.id, b't'), id(op.id, b's')];
        let (Some(tp), Some(sl)) = (
            self.spec.price.mantissa(op.intent.take_profit),
            self.spec.price.mantissa(op.intent.stop_loss),
        ) else {
            self.stats.encode_errors += 1;
            return;
        };
        let (pd, qd) = (self.spec.price.decimals(), self.spec.qty.decimals());
        let req = OcoRequest {
            symbol: &self.spec.name,
            side,
            qty: (op.qty.0, qd),
            take_profit: (tp, pd),
            stop: (sl, pd),
            ids: [&ids[0], &ids[1], &ids[2]],
            recv_window_ms: RECV_WINDOW_MS,
            timestamp_ms: ts,
        };
        let signed = signed_oco(&self.signer, &req);
        if let Some(req) = self.counted(signed) {
            self.exchange.send(Method::NewOco, &req, now_us);
        }
    }

    /// A signed order for operation `op_id` in `role` (`e`ntry, `t`ake profit,
    /// `s`top, `m`arket flattening).
    #[allow(clippy::too_many_arguments)]
    fn order(
        &mut self,
        op_id: u64,
        role: u8,
        side: OrderSide,
        kind: OrderKind,
        qty: Lots,
        price: Ticks,
        reduce_only: bool,
    ) -> Option<Request> {
        let cid = id(op_id, role);
        let req = OrderRequest {
            symbol: &self.spec.name,
            side,
            kind,
            qty: (qty.0, self.spec.qty.decimals()),
            price: (
                self.spec.price.mantissa(price).unwrap_or(0),
                self.spec.price.decimals(),
            ),
            client_id: &cid,
            reduce_only,
            recv_window_ms: RECV_WINDOW_MS,
            timestamp_ms: self.now_ms,
        };
        let signed = signed_order(&self.signer, &req, self.futures);
        self.counted(signed)
    }

    fn cancel(&mut self, op_id: u64, role: u8) -> Option<Request> {
        let cid = id(op_id, role);
        let signed = signed_cancel(
            &self.signer,
            &self.spec.name,
            &cid,
            RECV_WINDOW_MS,
            self.now_ms,
        );
        self.counted(signed)
    }

    /// A signed request counted as sent, or an encoding failure counted.
    fn counted(&mut self, signed: Result<Request, EncodeError>) -> Option<Request> {
        match signed {
            Ok(r) => {
                self.stats.requests += 1;
                Some(r)
            }
            Err(_) => {
                self.stats.encode_errors += 1;
                None
            }
        }
    }
}

/// Buy or sell for an operation's entry (`exit` false) or exit.
fn order_side(side: Side, exit: bool) -> OrderSide {
    match (side == Side::Long) != exit {
        true => OrderSide::Buy,
        false => OrderSide::Sell,
    }
}

/// `mnv<operation><role>`: the client id names the operation and the order's role.
fn id(op_id: u64, role: u8) -> ClientId {
    let mut s = ClientId::new();
    let _ = write!(s, "mnv{op_id}{}", role as char);
    s
}

fn parse_id(s: &str) -> Option<(u64, u8)> {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"mnv")?;
    let (&role, digits) = digits.split_last()?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((
        digits.iter().fold(0, |a, &d| a * 10 + (d - b'0') as u64),
        role,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_round_trip() {
        assert_eq!(parse_id(&id(42, b't')), Some((42, b't')));
        assert_eq!(parse_id("mnv"), None);
        assert_eq!(parse_id("xyz1e"), None);
    }
}

#[cfg(test)]
mod race_tests {
    use super::*;
    use crate::core::Market;

    #[test]
    fn a_fill_that_beats_the_withdrawal_keeps_the_position() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let strategy = Strategy::parse(
            include_str!("../../strategy_0.toml"),
            &[("volume_window_secs", "1".into())],
        )
        .unwrap();
        // Requests take 500 ms to arrive.
        let mut t = Trader::paper(&spec, &strategy, Signer::from_secret(b"k"), 500_000);
        let lv = |p: i64| {
            Some(Level {
                price: Ticks(p),
                qty: Lots(100),
            })
        };
        t.on_touch(1_000, lv(6_000_100), lv(6_000_200));
        let intent = Intent {
            side: Side::Long,
            entry: Ticks(6_000_000),
            take_profit: Ticks(6_100_000),
            stop_loss: Ticks(5_900_000),
            support_wall: Ticks(5_999_999),
            target_wall: Ticks(6_100_001),
            void_price: Ticks(6_050_000),
            void_width_bins: 10,
            pressure_ppm: 200_000,
        };
        assert_eq!(t.on_intent(&intent, 1_000), Outcome::Sent);
        t.on_touch(1_600, lv(6_000_100), lv(6_000_200)); // the entry rests
        // Past the 1 s window: the cancel leaves at 2.1 s and arrives at 2.6 s…
        t.on_trade(2_100, Ticks(6_000_150), Lots(1), true);
        assert_eq!(t.stats.requests, 2);
        // …but a sell through the entry at 2.2 s fills it first.
        t.on_trade(2_200, Ticks(5_999_000), Lots(1_000), false);
        assert_eq!(t.stats.entries_filled, 1);
        t.on_trade(2_700, Ticks(6_000_150), Lots(1), true); // cancel arrives: refused
        assert_eq!(t.stats.entries_withdrawn, 0);
        assert_eq!(
            t.open_operations(),
            1,
            "the filled operation is still followed"
        );
        assert!(t.exchange.position().0 > 0);
        let s = t.shutdown();
        assert_eq!(s.open_positions, 1);
    }
}
