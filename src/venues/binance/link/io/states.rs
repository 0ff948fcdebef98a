//! An order's state as answers, queries and events show it: status changes, fills
//! booked once by cumulative quantity (a fill an answer shows first waits for its
//! event), and the order's end reported once.

use super::{Io, LinkStats, Pending, log_malformed};
use crate::core::decimal::parse_scaled;
use crate::core::{ClientId, Lots, Reject, Report, Ticks, fee_e8};
use crate::venues::binance::orders::{OrderState, Status};
use crate::venues::link::Follow;
use std::time::Instant;

impl Io {
    /// An order's status and cumulative fill from an answer or a query. Fills it
    /// shows beyond what the events brought wait `fill_wait` for their events.
    pub(super) fn reconcile(&mut self, c: &ClientId, order: &OrderState, placing: bool) {
        // An `ACK` answer says nothing of the order's state: the events will.
        let Some(text) = order.status.as_deref() else {
            return;
        };
        let Some(status) = Status::parse(text) else {
            return log_malformed(&self.shared, "an order's status", text);
        };
        let cum = match order.executed_qty.as_deref() {
            None => Lots(0),
            Some(q) => match self.spec.qty.parse(q.as_bytes()) {
                Ok(q) => q,
                Err(_) => return log_malformed(&self.shared, "an order's executedQty", q),
            },
        };
        let quote_e8 = match (order.quote_filled(), order.avg_price.as_deref()) {
            (Some(q), _) => match parse_scaled(q.as_bytes(), 8) {
                Ok(v) => v,
                Err(_) => return log_malformed(&self.shared, "an order's quote filled", q),
            },
            // COIN-M answers no quote value: the average price × the quantity is it.
            (None, Some(ap)) => match self.parse_price(ap) {
                Some(p) => self.valuer.quote_e8(p, cum),
                None => return log_malformed(&self.shared, "an order's avgPrice", ap),
            },
            (None, None) => 0,
        };
        let Some(t) = self.ledger.orders.get(c) else {
            return;
        };
        if cum.0 > t.cum.0 {
            let p = Pending {
                deadline: Instant::now() + self.fill_wait,
                status,
                cum,
                quote_e8,
                taker: placing,
            };
            self.pending.insert(*c, p);
            return;
        }
        self.status(c, status);
    }

    /// The part of a pending reconciliation the events did not bring, booked now.
    pub(super) fn settle_pending(&mut self, c: &ClientId) {
        let Some(p) = self.pending.remove(c) else {
            return;
        };
        let Some(t) = self.ledger.orders.get(c) else {
            return;
        };
        if p.cum.0 > t.cum.0 {
            let qty = Lots(p.cum.0.saturating_sub(t.cum.0));
            let quote = p.quote_e8.saturating_sub(t.quote_e8).max(0);
            let price = self.price_of(quote, qty);
            let rate = if p.taker { self.fees.1 } else { self.fees.0 };
            // The fee is on the value in the margin asset (the coin on COIN-M).
            let value = if self.valuer.is_inverse() {
                self.valuer.value_e8(price, qty)
            } else {
                quote
            };
            let fee = fee_e8(value, rate);
            LinkStats::bump(&self.shared.counters.fills_without_event);
            self.fill(c, price, qty, fee, !p.taker, self.server_ms());
        }
        self.status(c, p.status);
    }

    /// The tick price of `quote_e8` for `qty` (an average, rounded to the grid).
    pub(super) fn price_of(&self, quote_e8: i64, qty: Lots) -> Ticks {
        self.ledger.price_of(quote_e8, qty)
    }

    /// A status with no new fill.
    pub(super) fn status(&mut self, c: &ClientId, s: Status) {
        match s {
            Status::New => {
                let at = self.server_ms();
                self.ledger.accepted(c, at);
            }
            Status::PartiallyFilled | Status::Filled => {}
            Status::Canceled => self.terminal(c, Report::Canceled),
            Status::Expired => self.terminal(c, Report::Expired),
            Status::Rejected => self.terminal(c, Report::Rejected(Reject::Unsupported)),
        }
    }

    /// The order's end, reported once.
    pub(super) fn terminal(&mut self, c: &ClientId, r: Report) {
        let at = self.server_ms();
        self.ledger.terminal(c, r, at);
    }

    /// A fill, forwarded once (cumulative quantity decides); a reconciliation still
    /// pending is dropped when nothing is left to fill.
    pub(super) fn fill(
        &mut self,
        c: &ClientId,
        price: Ticks,
        qty: Lots,
        fee: i64,
        maker: bool,
        time_ms: i64,
    ) {
        if self.ledger.fill(c, price, qty, fee, maker, time_ms) == Some(Lots(0)) {
            self.pending.remove(c);
        }
    }
}
