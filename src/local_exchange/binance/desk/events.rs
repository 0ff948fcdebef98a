//! The desk's user data stream events: `executionReport` (spot) and
//! `ORDER_TRADE_UPDATE` (futures) per order change, `outboundAccountPosition` and
//! `ACCOUNT_UPDATE` per account change. Written by serde.

use super::{Desk, Fill, entry_e8, fixed};
use crate::core::decimal::canonical;
use crate::venues::binance::user::{
    AccountChange, AccountUpdate, ExecutionReport, FuturesBalance, FuturesOrderUpdate,
    FuturesPosition, OrderTradeUpdate, OutboundAccountPosition, SpotBalance, UserEvent,
};

impl Desk {
    pub(super) fn emit(&mut self, i: usize, x: &str, fill: Option<Fill>, server_ms: i64) {
        self.emit_with(i, x, fill, 0, server_ms);
    }

    /// An execution event for order `i` (`x`: NEW, TRADE, CANCELED, EXPIRED,
    /// CALCULATED), with the last fill and the realised profit when there is one.
    pub(super) fn emit_with(
        &mut self,
        i: usize,
        x: &str,
        fill: Option<Fill>,
        realised_e8: i64,
        server_ms: i64,
    ) {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let qd = spec.qty.decimals();
        let side = if o.buy { "BUY" } else { "SELL" };
        let quote = &self.assets[o.symbol].1;
        let (ty, tif) = self.names(o);
        let (price, stop) = self.prices(o);
        let (last_px, last_qty, fee, maker, trade_id) = match fill {
            Some(f) => (
                spec.price.format(f.price),
                fixed(f.qty.0, qd),
                fixed(f.fee_e8, 8),
                f.maker,
                f.trade_id as i64,
            ),
            None => ("0".into(), fixed(0, qd), "0".into(), false, -1),
        };
        let event = if self.market.is_futures() {
            UserEvent::OrderTradeUpdate(OrderTradeUpdate {
                event_ms: server_ms,
                transaction_ms: server_ms,
                order: FuturesOrderUpdate {
                    symbol: spec.name.to_string(),
                    client_id: o.client_id.clone(),
                    side: side.into(),
                    order_type: ty.into(),
                    time_in_force: tif.into(),
                    qty: fixed(o.qty.0, qd),
                    price,
                    avg_price: self.avg_price(o),
                    stop_price: stop,
                    execution: x.into(),
                    status: o.status.name().into(),
                    order_id: o.order_id,
                    last_qty,
                    cum_qty: fixed(o.executed.0, qd),
                    last_price: last_px,
                    commission_asset: Some(self.margin_assets[o.symbol].clone()),
                    commission: fee,
                    trade_ms: server_ms,
                    trade_id: trade_id.max(0),
                    bid_notional: "0".into(),
                    ask_notional: "0".into(),
                    maker,
                    reduce_only: o.reduce_only,
                    working_type: "CONTRACT_PRICE".into(),
                    orig_type: ty.into(),
                    position_side: "BOTH".into(),
                    close_position: false,
                    realised: canonical(realised_e8, 8),
                    price_protect: false,
                    si: 0,
                    ss: 0,
                    stp: "NONE".into(),
                    price_match: "NONE".into(),
                    good_till: 0,
                },
            })
        } else {
            // A cancel's event names the cancel request in `c`, the order in `C`.
            let (c, orig) = if x == "CANCELED" {
                let n = self.next_cancel_id;
                self.next_cancel_id += 1;
                (format!("cancel_{n:016}"), o.client_id.clone())
            } else {
                (o.client_id.clone(), String::new())
            };
            UserEvent::ExecutionReport(ExecutionReport {
                event_ms: server_ms,
                symbol: spec.name.to_string(),
                client_id: c,
                side: side.into(),
                order_type: ty.into(),
                time_in_force: tif.into(),
                qty: fixed(o.qty.0, qd),
                price,
                stop_price: stop,
                iceberg_qty: "0.00000000".into(),
                list_id: o.list_id,
                orig_client_id: orig,
                execution: x.into(),
                status: o.status.name().into(),
                reject_reason: "NONE".into(),
                order_id: o.order_id,
                last_qty,
                cum_qty: fixed(o.executed.0, qd),
                last_price: last_px,
                commission: fee,
                commission_asset: fill.map(|_| quote.clone()),
                transaction_ms: server_ms,
                trade_id,
                working: o.status.is_open(),
                maker,
                ignore: false,
                created_ms: o.time_ms,
                cum_quote: fixed(o.quote_e8, 8),
                last_quote: "0".into(),
                quote_order_qty: "0.00000000".into(),
                working_ms: o.time_ms,
                stp: "NONE".into(),
            })
        };
        self.events
            .push(crate::venues::binance::user::write(&event));
    }

    /// The account changed (`m`: ORDER after a fill, FUNDING_FEE).
    pub(super) fn account_event(&mut self, reason: &str, k: usize, change_e8: i64, server_ms: i64) {
        let sim = &self.sims[k];
        let acc = sim.account();
        let (base, quote) = &self.assets[k];
        let spec = &self.specs[k];
        let pos = acc.position();
        let event = if self.market.is_futures() {
            let entry = match entry_e8(acc, spec) {
                0 => "0".to_string(),
                e => fixed(e, 8),
            };
            let up = sim.mark().map_or(0, |m| acc.unrealised_e8(m));
            UserEvent::AccountUpdate(AccountUpdate {
                event_ms: server_ms,
                transaction_ms: server_ms,
                change: AccountChange {
                    reason: reason.into(),
                    balances: vec![FuturesBalance {
                        asset: self.margin_assets[k].clone(),
                        wallet: canonical(acc.wallet_e8, 8),
                        cross_wallet: canonical(acc.available_e8(), 8),
                        change: canonical(change_e8, 8),
                    }],
                    positions: vec![FuturesPosition {
                        symbol: spec.name.to_string(),
                        amount: canonical(pos.0, spec.qty.decimals()),
                        entry_price: entry,
                        realised: canonical(acc.realised_e8, 8),
                        unrealised: canonical(up, 8),
                        margin_type: "isolated".into(),
                        isolated_wallet: canonical(acc.margin_e8(), 8),
                        position_side: "BOTH".into(),
                    }],
                },
            })
        } else {
            UserEvent::OutboundAccountPosition(OutboundAccountPosition {
                event_ms: server_ms,
                update_ms: server_ms,
                balances: vec![
                    SpotBalance {
                        asset: base.clone(),
                        free: fixed(pos.0.max(0), spec.qty.decimals()),
                        locked: "0".into(),
                    },
                    SpotBalance {
                        asset: quote.clone(),
                        free: fixed(acc.available_e8(), 8),
                        locked: fixed(acc.margin_e8(), 8),
                    },
                ],
            })
        };
        self.events
            .push(crate::venues::binance::user::write(&event));
    }
}
