//! The user data stream's events run through the order states: fills booked once by
//! cumulative quantity, statuses, liquidations, funding. An event that does not read
//! is counted and logged, never booked as zeros.

use super::{Io, LinkStats, log_malformed};
use crate::core::decimal::parse_scaled;
use crate::core::{ClientId, Lots, Report, Ticks, client_id, fee_e8};
use crate::venues::binance::orders::Status;
use crate::venues::binance::user::{self, EventError, UserEvent};
use std::sync::atomic::Ordering;

impl Io {
    pub(super) fn parse_price(&self, s: &str) -> Option<Ticks> {
        if let Ok(t) = self.spec.price.parse(s.as_bytes()) {
            return Some(t);
        }
        // Off the grid (an average): to the nearest tick.
        let m = parse_scaled(s.as_bytes(), self.spec.price.decimals()).ok()?;
        let tick = self.spec.price.tick_mantissa().max(1);
        Some(Ticks((m + tick / 2) / tick))
    }

    /// A commission in the quote asset, 10⁻⁸ (a base-asset commission at the fill
    /// price; any other asset, such as BNB, is not converted and counts as 0).
    fn commission(&self, n: &str, asset: Option<&str>, price: Ticks) -> Option<i64> {
        if n.is_empty() {
            return Some(0);
        }
        match asset {
            // Fees in the margin asset as they are (the coin on COIN-M).
            Some(a) if a == self.margin_asset => parse_scaled(n.as_bytes(), 8).ok(),
            Some(a) if a == self.base => Some(
                self.spec
                    .qty
                    .parse(n.as_bytes())
                    .map_or(0, |q| self.valuer.value_e8(price, q)),
            ),
            Some(a) if a != self.quote => Some(0),
            _ => parse_scaled(n.as_bytes(), 8).ok(),
        }
    }

    /// The available balance an account event shows, for the risk manager.
    fn note_available(&self, text: &str) {
        match crate::core::Dec8::parse(text.as_bytes()) {
            Ok(v) => self.shared.available_e8.store(v.0, Ordering::Relaxed),
            Err(_) => log_malformed(&self.shared, "an account event's balance", text),
        }
    }

    /// Hands an account event's snapshot to the journal, if one is kept (built only
    /// then).
    fn account_event(&self, snap: impl FnOnce() -> Option<crate::venues::AccountSnapshot>) {
        if let Some(sink) = &self.account {
            if let Some(s) = snap() {
                (sink.f)(s);
            }
        }
    }

    /// A user data stream message.
    pub(in crate::venues::binance::link) fn on_event(&mut self, text: &[u8]) {
        match user::read(text) {
            // The stream is the account's: another symbol's orders (another process's,
            // or another link's in a run of several symbols) are not this link's, even
            // when their client ids look like ours.
            Ok(UserEvent::ExecutionReport(r)) if r.symbol != self.spec.name.as_str() => {
                LinkStats::bump(&self.shared.counters.foreign_events)
            }
            Ok(UserEvent::OrderTradeUpdate(u)) if u.order.symbol != self.spec.name.as_str() => {
                LinkStats::bump(&self.shared.counters.foreign_events)
            }
            Ok(UserEvent::ExecutionReport(r)) => {
                // A spot cancel's event names the cancel request in `c`, the order in `C`.
                let c = if r.execution == "CANCELED" && !r.orig_client_id.is_empty() {
                    r.orig_client_id.clone()
                } else {
                    r.client_id.clone()
                };
                let time_ms = if r.transaction_ms > 0 {
                    r.transaction_ms
                } else {
                    r.event_ms
                };
                self.on_order_event(OrderEvent {
                    client_id: &c,
                    side_sell: r.side == "SELL",
                    execution: &r.execution,
                    status: &r.status,
                    last_qty: &r.last_qty,
                    cum_qty: &r.cum_qty,
                    last_price: &r.last_price,
                    commission: &r.commission,
                    commission_asset: r.commission_asset.as_deref(),
                    maker: r.maker,
                    cum_quote: Some(&r.cum_quote),
                    avg_price: None,
                    realised: "0",
                    time_ms,
                });
            }
            Ok(UserEvent::OrderTradeUpdate(u)) => {
                let o = &u.order;
                self.on_order_event(OrderEvent {
                    client_id: &o.client_id,
                    side_sell: o.side == "SELL",
                    execution: &o.execution,
                    status: &o.status,
                    last_qty: &o.last_qty,
                    cum_qty: &o.cum_qty,
                    last_price: &o.last_price,
                    commission: &o.commission,
                    commission_asset: o.commission_asset.as_deref(),
                    maker: o.maker,
                    cum_quote: None,
                    avg_price: Some(&o.avg_price),
                    realised: if o.realised.is_empty() {
                        "0"
                    } else {
                        &o.realised
                    },
                    time_ms: if o.trade_ms > 0 {
                        o.trade_ms
                    } else {
                        u.event_ms
                    },
                });
            }
            // Positions follow from the fills; funding is booked here. Every account
            // event is the journal's, and its available balance the risk manager's to
            // size from.
            Ok(UserEvent::AccountUpdate(a)) => {
                let mine = a
                    .change
                    .balances
                    .iter()
                    .find(|b| b.asset == self.margin_asset);
                if let (Some(b), "FUNDING_FEE") = (mine, a.change.reason.as_str()) {
                    let Some(amount_e8) = signed_e8(&b.change) else {
                        return log_malformed(&self.shared, "a funding balance change", &b.change);
                    };
                    if amount_e8 != 0 {
                        self.ledger.push(
                            ClientId::new(),
                            Report::Funding { amount_e8 },
                            a.transaction_ms,
                        );
                    }
                }
                if let Some(b) = mine {
                    self.note_available(&b.cross_wallet);
                }
                self.account_event(|| self.subject.futures_event_snapshot(&a));
            }
            Ok(UserEvent::OutboundAccountPosition(o)) => {
                if let Some(b) = o.balances.iter().find(|b| b.asset == self.margin_asset) {
                    self.note_available(&b.free);
                }
                self.account_event(|| self.subject.spot_event_snapshot(&o));
            }
            // A new session after an expired key is the stream thread's; orders are
            // queried then.
            Ok(UserEvent::ListenKeyExpired(_)) => {}
            Err(EventError::Other(_)) => LinkStats::bump(&self.shared.counters.other_events),
            Err(e) => log_malformed(&self.shared, "a user data event", &e.to_string()),
        }
    }

    fn on_order_event(&mut self, ev: OrderEvent<'_>) {
        let Some(c) = client_id(ev.client_id) else {
            LinkStats::bump(&self.shared.counters.foreign_events);
            return;
        };
        if ev.execution == "CALCULATED" || c.starts_with("autoclose") {
            // A liquidation: the exchange closed the position.
            let (Ok(qty), Some(realised)) = (
                self.spec.qty.parse(ev.cum_qty.as_bytes()),
                signed_e8(ev.realised),
            ) else {
                return log_malformed(&self.shared, "a liquidation event", ev.cum_qty);
            };
            let long = ev.side_sell;
            let signed = if long { qty.0 } else { qty.0.saturating_neg() };
            self.shared.position.fetch_sub(signed, Ordering::Relaxed);
            return self.ledger.push(
                c,
                Report::Liquidated {
                    price: self.parse_price(ev.last_price).unwrap_or(Ticks(0)),
                    qty: Lots(signed),
                    loss_e8: -realised,
                },
                ev.time_ms,
            );
        }
        let Some(t) = self.ledger.orders.get(&c) else {
            LinkStats::bump(&self.shared.counters.foreign_events);
            return;
        };
        let known = t.cum;
        let known_quote = t.quote_e8;
        let Ok(cum) = self.spec.qty.parse(ev.cum_qty.as_bytes()) else {
            return log_malformed(
                &self.shared,
                "an order event's cumulative quantity",
                ev.cum_qty,
            );
        };
        if cum.0 > known.0 {
            let Ok(last) = self.spec.qty.parse(ev.last_qty.as_bytes()) else {
                return log_malformed(&self.shared, "an order event's last quantity", ev.last_qty);
            };
            let qty = Lots(cum.0.saturating_sub(known.0));
            let last_px = self.parse_price(ev.last_price);
            let price = match last_px {
                Some(p) if p.0 > 0 && last.0 == qty.0 => p,
                // Fills were missed: book them at the order's average so far.
                _ => {
                    let quote = match (ev.cum_quote, ev.avg_price) {
                        (Some(z), _) => parse_scaled(z.as_bytes(), 8).ok(),
                        (None, Some(ap)) => {
                            self.parse_price(ap).map(|p| self.valuer.quote_e8(p, cum))
                        }
                        (None, None) => None,
                    };
                    let Some(quote) = quote else {
                        return log_malformed(&self.shared, "an order event's quote filled", "");
                    };
                    self.price_of(quote.saturating_sub(known_quote).max(0), qty)
                }
            };
            let fee = if last.0 == qty.0 {
                match self.commission(ev.commission, ev.commission_asset, price) {
                    Some(f) => f,
                    None => {
                        return log_malformed(
                            &self.shared,
                            "an order event's commission",
                            ev.commission,
                        );
                    }
                }
            } else {
                fee_e8(self.valuer.value_e8(price, qty), self.fees.0)
            };
            self.fill(&c, price, qty, fee, ev.maker, ev.time_ms);
            // The events brought what an answer showed ahead of them: its status
            // stands now.
            let booked = self.ledger.orders.get(&c).map(|t| t.cum);
            if let Some(p) = self.pending.get(&c).copied() {
                if booked.is_some_and(|b| p.cum.0 <= b.0) {
                    self.pending.remove(&c);
                    self.status(&c, p.status);
                }
            }
        } else if ev.execution == "TRADE" {
            LinkStats::bump(&self.shared.counters.duplicate_fills);
        }
        match (ev.execution, Status::parse(ev.status)) {
            ("NEW", _) => self.status(&c, Status::New),
            (_, Some(s @ (Status::Canceled | Status::Expired | Status::Rejected))) => {
                self.status(&c, s)
            }
            (_, None) => log_malformed(&self.shared, "an order event's status", ev.status),
            _ => {}
        }
    }
}

/// An order event of either market, as the state machine needs it.
struct OrderEvent<'a> {
    client_id: &'a str,
    side_sell: bool,
    execution: &'a str,
    status: &'a str,
    last_qty: &'a str,
    cum_qty: &'a str,
    last_price: &'a str,
    commission: &'a str,
    commission_asset: Option<&'a str>,
    maker: bool,
    /// Cumulative quote value (spot `Z`).
    cum_quote: Option<&'a str>,
    /// Average price (futures `ap`).
    avg_price: Option<&'a str>,
    /// Realised profit (futures `rp`).
    realised: &'a str,
    time_ms: i64,
}

/// A signed decimal in 10⁻⁸ units.
fn signed_e8(s: &str) -> Option<i64> {
    let v = parse_scaled(s.trim_start_matches('-').as_bytes(), 8).ok()?;
    Some(if s.starts_with('-') { -v } else { v })
}
