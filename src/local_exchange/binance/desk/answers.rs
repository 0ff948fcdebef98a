//! The desk's answers in Binance's shapes: orders (spot and futures), account,
//! balance, positions. Built from the desk's state, written by serde.

use super::{Answer, Desk, VenueOrder, entry_e8, fixed, ok};
use crate::core::decimal::canonical;
use crate::core::{Lots, OrderKind, Ticks};
use crate::venues::binance::account::{
    FuturesAccount, FuturesAsset, FuturesBalanceEntry, FuturesPositionRisk, SpotAccount,
    SpotAssetBalance,
};
use crate::venues::binance::orders::{self, FuturesOrder, SpotFill, SpotOrder};

impl Desk {
    /// `type` and `timeInForce` as Binance shows them.
    pub(super) fn names(&self, o: &VenueOrder) -> (&'static str, &'static str) {
        if o.liquidation {
            return ("LIQUIDATION", "IOC");
        }
        orders::kind_names(o.kind, self.market)
    }

    /// The limit and stop prices as Binance shows them (`0` where none).
    pub(super) fn prices(&self, o: &VenueOrder) -> (String, String) {
        let spec = &self.specs[o.symbol];
        let text = |t: Ticks| {
            spec.price
                .mantissa(t)
                .map_or_else(|| "0".into(), |m| fixed(m, spec.price.decimals()))
        };
        match o.kind {
            OrderKind::StopMarket => ("0".into(), text(o.price)),
            OrderKind::Market if !o.liquidation => ("0".into(), "0".into()),
            _ => (text(o.price), "0".into()),
        }
    }

    /// Average fill price, 8 decimals (exact: integer arithmetic).
    pub(super) fn avg_price(&self, o: &VenueOrder) -> String {
        if o.executed.0 == 0 {
            return "0".into();
        }
        let qd = self.specs[o.symbol].qty.decimals() as u32;
        let avg = o.quote_e8 as i128 * 10i128.pow(qd) / o.executed.0 as i128;
        fixed(avg.clamp(0, i64::MAX as i128) as i64, 8)
    }

    pub(super) fn spot_order(&self, i: usize, full: bool, server_ms: i64) -> SpotOrder {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let qd = spec.qty.decimals();
        let (ty, tif) = self.names(o);
        let (price, stop) = self.prices(o);
        let fills = full.then(|| {
            let quote = &self.assets[o.symbol].1;
            self.last_fills
                .iter()
                .filter(|(cid, _)| *cid == o.client_id)
                .map(|(_, f)| SpotFill {
                    price: spec.price.format(f.price),
                    qty: fixed(f.qty.0, qd),
                    commission: fixed(f.fee_e8, 8),
                    commission_asset: quote.clone(),
                    trade_id: f.trade_id,
                })
                .collect()
        });
        SpotOrder {
            symbol: spec.name.to_string(),
            order_id: o.order_id,
            order_list_id: o.list_id,
            client_order_id: o.client_id.clone(),
            transact_time: server_ms,
            price,
            orig_qty: fixed(o.qty.0, qd),
            executed_qty: fixed(o.executed.0, qd),
            cummulative_quote_qty: fixed(o.quote_e8, 8),
            status: o.status.name().into(),
            time_in_force: tif.into(),
            kind: ty.into(),
            side: if o.buy { "BUY" } else { "SELL" }.into(),
            stop_price: stop,
            time: o.time_ms,
            update_time: o.update_ms.max(o.time_ms),
            is_working: o.kind != OrderKind::StopMarket,
            working_time: o.time_ms,
            orig_quote_order_qty: "0.00000000".into(),
            self_trade_prevention_mode: "NONE".into(),
            fills,
        }
    }

    pub(super) fn futures_order(&self, i: usize) -> FuturesOrder {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let qd = spec.qty.decimals();
        let (ty, tif) = self.names(o);
        let (price, stop) = self.prices(o);
        FuturesOrder {
            order_id: o.order_id,
            symbol: spec.name.to_string(),
            status: o.status.name().into(),
            client_order_id: o.client_id.clone(),
            price,
            avg_price: self.avg_price(o),
            orig_qty: fixed(o.qty.0, qd),
            executed_qty: fixed(o.executed.0, qd),
            cum_qty: fixed(o.executed.0, qd),
            cum_quote: spec.contract_size.is_none().then(|| fixed(o.quote_e8, 8)),
            cum_base: spec.contract_size.map(|_| fixed(o.value_e8, 8)),
            time_in_force: tif.into(),
            kind: ty.into(),
            orig_type: ty.into(),
            reduce_only: o.reduce_only,
            close_position: false,
            side: if o.buy { "BUY" } else { "SELL" }.into(),
            position_side: "BOTH".into(),
            stop_price: stop,
            working_type: "CONTRACT_PRICE".into(),
            price_protect: false,
            price_match: "NONE".into(),
            self_trade_prevention_mode: "NONE".into(),
            good_till_date: 0,
            time: o.time_ms,
            update_time: o.update_ms.max(o.time_ms),
        }
    }

    /// One order's answer (`full`: spot `FULL` with the last request's fills).
    pub(super) fn order_answer(&self, i: usize, full: bool, server_ms: i64) -> Answer {
        if self.market.is_futures() {
            ok(&self.futures_order(i))
        } else {
            ok(&self.spot_order(i, full, server_ms))
        }
    }

    /// A list of orders' answers.
    pub(super) fn orders_answer(&self, list: &[usize], server_ms: i64) -> Answer {
        if self.market.is_futures() {
            let v: Vec<FuturesOrder> = list.iter().map(|&i| self.futures_order(i)).collect();
            ok(&v)
        } else {
            let v: Vec<SpotOrder> = list
                .iter()
                .map(|&i| self.spot_order(i, false, server_ms))
                .collect();
            ok(&v)
        }
    }

    pub(super) fn spot_account(&self, server_ms: i64) -> SpotAccount {
        let mut balances = Vec::new();
        for (k, sim) in self.sims.iter().enumerate() {
            let acc = sim.account();
            let (base, quote) = &self.assets[k];
            let qd = self.specs[k].qty.decimals();
            balances.push(SpotAssetBalance {
                asset: base.clone(),
                free: fixed(acc.position().0.max(0), qd),
                locked: "0".into(),
            });
            balances.push(SpotAssetBalance {
                asset: quote.clone(),
                free: fixed(acc.available_e8(), 8),
                locked: fixed(acc.margin_e8(), 8),
            });
        }
        SpotAccount {
            maker_commission: 10,
            taker_commission: 10,
            buyer_commission: 0,
            seller_commission: 0,
            can_trade: true,
            can_withdraw: false,
            can_deposit: false,
            brokered: false,
            require_self_trade_prevention: false,
            prevent_sor: false,
            update_time: server_ms,
            account_type: "SPOT".into(),
            balances,
            permissions: vec!["SPOT".into()],
            uid: 1,
        }
    }

    /// Wallet, available balance and unrealised PnL per margin asset, in the order the
    /// symbols were given (one asset on USD-M; one per coin on COIN-M).
    fn margin_totals(&self) -> Vec<(&str, i64, i64, i64)> {
        let mut out: Vec<(&str, i64, i64, i64)> = Vec::new();
        for (k, sim) in self.sims.iter().enumerate() {
            let acc = sim.account();
            let asset = self.margin_assets[k].as_str();
            let k = match out.iter().position(|t| t.0 == asset) {
                Some(k) => k,
                None => {
                    out.push((asset, 0, 0, 0));
                    out.len() - 1
                }
            };
            let t = &mut out[k];
            t.1 = t.1.saturating_add(acc.wallet_e8);
            t.2 = t.2.saturating_add(acc.available_e8());
            t.3 =
                t.3.saturating_add(sim.mark().map_or(0, |m| acc.unrealised_e8(m)));
        }
        out
    }

    pub(super) fn futures_account(&self, server_ms: i64) -> FuturesAccount {
        let totals = self.margin_totals();
        // Totals of the first asset (USD-M has one; COIN-M lists each coin in `assets`).
        let (_, wallet, avail, upnl) = totals.first().copied().unwrap_or(("USDT", 0, 0, 0));
        let (w, u, m, a) = (
            canonical(wallet, 8),
            canonical(upnl, 8),
            canonical(wallet.saturating_add(upnl), 8),
            canonical(avail, 8),
        );
        FuturesAccount {
            total_initial_margin: "0".into(),
            total_maint_margin: "0".into(),
            total_wallet_balance: w,
            total_unrealized_profit: u,
            total_margin_balance: m,
            available_balance: a.clone(),
            max_withdraw_amount: a,
            can_trade: true,
            update_time: server_ms,
            assets: totals
                .iter()
                .map(|&(asset, wallet, avail, upnl)| FuturesAsset {
                    asset: asset.into(),
                    wallet_balance: canonical(wallet, 8),
                    unrealized_profit: canonical(upnl, 8),
                    margin_balance: canonical(wallet.saturating_add(upnl), 8),
                    available_balance: canonical(avail, 8),
                    max_withdraw_amount: canonical(avail, 8),
                    update_time: server_ms,
                })
                .collect(),
            positions: self.positions(None, server_ms),
        }
    }

    pub(super) fn balance(&self, server_ms: i64) -> Vec<FuturesBalanceEntry> {
        self.margin_totals()
            .into_iter()
            .map(|(asset, wallet, avail, _)| FuturesBalanceEntry {
                account_alias: "minerva".into(),
                asset: asset.into(),
                balance: canonical(wallet, 8),
                cross_wallet_balance: canonical(wallet, 8),
                cross_un_pnl: "0".into(),
                available_balance: canonical(avail, 8),
                max_withdraw_amount: canonical(avail, 8),
                margin_available: true,
                update_time: server_ms,
            })
            .collect()
    }

    pub(super) fn positions(
        &self,
        only: Option<usize>,
        server_ms: i64,
    ) -> Vec<FuturesPositionRisk> {
        let mut list = Vec::new();
        for (k, sim) in self.sims.iter().enumerate() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let acc = sim.account();
            let spec = &self.specs[k];
            let pos = acc.position();
            let entry = entry_e8(acc, spec);
            let mark = sim.mark();
            let up = mark.map_or(0, |m| acc.unrealised_e8(m));
            let notional = mark.map_or(0, |m| self.valuers[k].value_e8(m, Lots(pos.0.abs())));
            list.push(FuturesPositionRisk {
                symbol: spec.name.to_string(),
                position_amt: canonical(pos.0, spec.qty.decimals()),
                entry_price: canonical(entry, 8),
                break_even_price: canonical(entry, 8),
                mark_price: mark.map_or("0".into(), |m| spec.price.format(m)),
                un_realized_profit: canonical(up, 8),
                liquidation_price: "0".into(),
                leverage: acc.leverage().to_string(),
                max_notional_value: "1000000000".into(),
                margin_type: "isolated".into(),
                isolated_margin: canonical(acc.margin_e8(), 8),
                is_auto_add_margin: "false".into(),
                position_side: "BOTH".into(),
                notional: canonical(if pos.0 < 0 { -notional } else { notional }, 8),
                isolated_wallet: canonical(acc.margin_e8(), 8),
                update_time: server_ms,
            });
        }
        list
    }
}
