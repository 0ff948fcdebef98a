//! An order's state as answers, queries and events show it: status changes, fills
//! booked once by cumulative quantity (a fill an answer shows first waits for its
//! event), and the order's end reported once.

use super::{Io, LinkStats, Pending, log_malformed};
use crate::core::decimal::parse_scaled;
use crate::core::{ClientId, Lots, Reject, Report, Ticks, fee_e8};
use crate::venues::binance::orders::{OrderState, Status};
use std::sync::atomic::Ordering;
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
        let wait = self.fill_wait;
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if cum.0 > t.cum.0 {
            t.pending = Some(Pending {
                deadline: Instant::now() + wait,
                status,
                cum,
                quote_e8,
                taker: placing,
            });
            return;
        }
        self.status(c, status);
    }

    /// The part of a pending reconciliation the events did not bring, booked now.
    pub(super) fn settle_pending(&mut self, c: &ClientId) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        let Some(p) = t.pending.take() else {
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
        let one = self.valuer.quote_e8(Ticks(1), qty).max(1);
        Ticks(((quote_e8 as i128 + one as i128 / 2) / one as i128) as i64)
    }

    /// A status with no new fill.
    pub(super) fn status(&mut self, c: &ClientId, s: Status) {
        match s {
            Status::New => {
                if let Some(t) = self.orders.get_mut(c) {
                    if !t.acked {
                        t.acked = true;
                        self.push(*c, Report::Accepted, self.server_ms());
                    }
                }
            }
            Status::PartiallyFilled | Status::Filled => {}
            Status::Canceled => self.terminal(c, Report::Canceled),
            Status::Expired => self.terminal(c, Report::Expired),
            Status::Rejected => self.terminal(c, Report::Rejected(Reject::Unsupported)),
        }
    }

    /// The order's end, reported once.
    pub(super) fn terminal(&mut self, c: &ClientId, r: Report) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if t.done {
            return;
        }
        t.done = true;
        t.done_at = Some(Instant::now());
        t.refused = matches!(r, Report::Rejected(_));
        self.push(*c, r, self.server_ms());
    }

    /// A fill, forwarded once (cumulative quantity decides).
    pub(super) fn fill(
        &mut self,
        c: &ClientId,
        price: Ticks,
        qty: Lots,
        fee: i64,
        maker: bool,
        time_ms: i64,
    ) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if t.refused {
            crate::venues::link::note_fill_after_refusal(&self.shared, c, qty);
        }
        t.cum = Lots(t.cum.0.saturating_add(qty.0));
        t.quote_e8 = t.quote_e8.saturating_add(self.valuer.quote_e8(price, qty));
        let leaves = Lots(t.qty.0.saturating_sub(t.cum.0).max(0));
        if leaves.0 == 0 {
            t.done = true;
            t.done_at = Some(Instant::now());
            t.pending = None;
        }
        let signed = if t.buy { qty.0 } else { qty.0.saturating_neg() };
        self.shared.position.fetch_add(signed, Ordering::Relaxed);
        self.push(
            *c,
            Report::Filled {
                price,
                qty,
                maker,
                fee_e8: fee,
                leaves,
            },
            time_ms,
        );
    }
}
