//! The desk's futures side, in KuCoin's futures words (protocol notes §7, §8): orders
//! on `POST /api/v1/orders` (whole contracts, leverage, margin mode, post-only,
//! IOC, reduce-only, `closeOrder`, stop-market orders on the last trade price), the
//! active and stop order lists, positions, the futures account overview and the
//! margin mode; order changes on `/contractMarket/tradeOrders`, stop orders on
//! `/contractMarket/advancedOrders`, positions on `/contract/position:{symbol}`.
//!
//! Modelled as the simulated exchange accounts it: isolated margin only (a switch to
//! cross is refused with the reason), linear contracts only (the venue refuses
//! inverse recordings at start), one leverage per position (a flat symbol takes the
//! order's). KuCoin writes the futures account's amounts as JSON numbers: so does the
//! desk.

use super::{Answer, By, Desk, Event, PlaceBody, limit_price, refused, side_of};
use crate::core::decimal::canonical;
use crate::core::{Lots, OrderKind, OrderSide, SymbolSpec, Ticks};
use crate::local_exchange::kucoin::rest::ok;

/// Order changes (also `…:{symbol}`).
pub const ORDERS_TOPIC: &str = "/contractMarket/tradeOrders";
/// Stop orders' lives (placed, triggered, cancelled).
pub const STOPS_TOPIC: &str = "/contractMarket/advancedOrders";
/// A position's changes (`…:{symbol}` only).
pub const POSITION_TOPIC: &str = "/contract/position";
/// The futures account's changes.
pub const WALLET_TOPIC: &str = "/contractAccount/wallet";
/// The highest leverage taken (KuCoin's contracts list their own; 100 is the most any
/// offers).
pub const MAX_LEVERAGE: u32 = 100;

/// True for the account's futures topics (a private session's only).
pub fn is_futures_private_topic(topic: &str) -> bool {
    [ORDERS_TOPIC, STOPS_TOPIC, POSITION_TOPIC, WALLET_TOPIC]
        .iter()
        .any(|t| topic == *t || topic.strip_prefix(t).is_some_and(|r| r.starts_with(':')))
}

/// What a futures order carries besides a spot one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Terms {
    pub leverage: u32,
    pub reduce_only: bool,
    pub close_order: bool,
    /// The trigger price of a stop (`down` for a sell, `up` for a buy).
    pub stop: Option<Ticks>,
    pub triggered: bool,
}

/// `lots` of `spec` as KuCoin's whole contracts.
pub(super) fn contracts(spec: &SymbolSpec, lots: Lots) -> i64 {
    lots.0 / spec.qty.step().0.max(1)
}

/// The currency a linear contract settles in.
fn settle(spec: &SymbolSpec) -> &'static str {
    if spec.name.ends_with("USDCM") {
        "USDC"
    } else {
        "USDT"
    }
}

impl Desk {
    /// `POST /api/v1/orders` (futures host).
    pub fn place_futures(&mut self, body: &str, now_ms: i64) -> Answer {
        let b: PlaceBody = match sonic_rs::from_str(body) {
            Ok(b) => b,
            Err(e) => return refused("400100", &format!("the order is not KuCoin's JSON: {e}")),
        };
        let Some(k) = self.symbol(&b.symbol) else {
            return refused("900001", "contract does not exist");
        };
        let spec = self.specs[k].clone();
        if !spec.market.is_futures() {
            return refused(
                "400100",
                "a spot symbol: its orders go to POST /api/v1/hf/orders",
            );
        }
        if b.client_oid.as_deref().is_none_or(str::is_empty) {
            return refused("400100", "clientOid is required");
        }
        if b.margin_mode
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case("ISOLATED"))
        {
            return refused(
                "330005",
                "the order's margin mode does not match the symbol's (ISOLATED)",
            );
        }
        let client = match self.client_of(b.client_oid.as_deref()) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let position = self.sims[k].position();
        let (side, size, reduce_only) = if b.close_order {
            // KuCoin sizes a close itself: the whole position, the other way.
            if position.0 == 0 {
                return refused("300009", "No open positions to close.");
            }
            let side = if position.0 > 0 {
                OrderSide::Sell
            } else {
                OrderSide::Buy
            };
            (side, Lots(position.0.saturating_abs()), true)
        } else {
            let side = match side_of(&b.side) {
                Ok(s) => s,
                Err(a) => return a,
            };
            let n = b.size.as_ref().and_then(|t| t.0.trim().parse::<u64>().ok());
            let size = match n.and_then(|n| crate::venues::kucoin::contracts_to_lots(&spec, n)) {
                Some(l) if l.0 > 0 => l,
                _ => {
                    return refused(
                        "400100",
                        "size must be a positive whole number of contracts",
                    );
                }
            };
            (side, size, b.reduce_only)
        };
        let leverage = if b.close_order {
            self.sims[k].account().leverage().max(1) as u32
        } else {
            match b.leverage.as_ref().map(|t| t.0.trim().parse::<u32>()) {
                Some(Ok(l)) if (1..=MAX_LEVERAGE).contains(&l) => l,
                Some(_) => {
                    return refused(
                        "400100",
                        &format!("leverage must be a whole number, 1 to {MAX_LEVERAGE}"),
                    );
                }
                None => return refused("400100", "leverage is required (isolated margin)"),
            }
        };
        let market = b.typ == "market" || b.close_order;
        let stop = match (b.stop.as_deref(), b.stop_price.as_ref()) {
            (None | Some(""), _) => None,
            (Some(dir), Some(p)) => {
                if !market {
                    return refused(
                        "400100",
                        "stop-limit orders are not taken here (stop-market only)",
                    );
                }
                if b.stop_price_type.as_deref().is_some_and(|t| t != "TP") {
                    return refused(
                        "400100",
                        "stopPriceType: only TP (the last trade price) is modelled here",
                    );
                }
                let want = if side == OrderSide::Sell {
                    "down"
                } else {
                    "up"
                };
                if dir != want {
                    return refused(
                        "400100",
                        "a stop here is a stop loss: down for a sell, up for a buy",
                    );
                }
                match spec.price.parse(p.0.as_bytes()) {
                    Ok(t) if t.0 > 0 => Some(t),
                    _ => return refused("400100", "Price increment invalid."),
                }
            }
            (Some(_), None) => return refused("400100", "stopPrice is required with stop"),
        };
        let (kind, tif) = match (
            market,
            stop.is_some(),
            b.time_in_force.as_deref().unwrap_or("GTC"),
        ) {
            (true, true, _) => (OrderKind::StopMarket, "GTC"),
            (true, false, _) => (OrderKind::Market, "IOC"),
            (false, _, _) if b.post_only => (OrderKind::PostOnly, "GTC"),
            (false, _, "GTC") => (OrderKind::LimitGtc, "GTC"),
            (false, _, "IOC") => (OrderKind::LimitIoc, "IOC"),
            (false, _, _) => return refused("400100", "timeInForce must be GTC or IOC"),
        };
        if !market && b.typ != "limit" {
            return refused("400100", "type must be limit or market");
        }
        let price = match (stop, market) {
            (Some(t), _) => t,
            (None, true) => Ticks(0),
            (None, false) => match limit_price(&spec, b.price.as_ref()) {
                Ok(p) => p,
                Err(a) => return a,
            },
        };
        let mut order = self.order(
            k,
            client,
            side,
            (market, tif, b.post_only),
            price,
            size,
            now_ms,
        );
        order.futures = Some(Terms {
            leverage,
            reduce_only,
            close_order: b.close_order,
            stop,
            triggered: false,
        });
        self.submit(order, kind, now_ms)
    }

    /// `GET /api/v1/orders?status=active` (`stops` false) or `GET /api/v1/stopOrders`
    /// (untriggered stops): one page of KuCoin's futures order list.
    pub fn futures_list(&self, symbol: Option<&str>, stops: bool) -> Answer {
        let items: Vec<sonic_rs::Value> = (0..self.orders.len())
            .filter(|&i| {
                let o = &self.orders[i];
                o.active
                    && o.futures
                        .is_some_and(|f| (f.stop.is_some() && !f.triggered) == stops)
                    && symbol.is_none_or(|s| self.specs[o.symbol].name.as_str() == s)
            })
            .map(|i| self.futures_view(i))
            .collect();
        ok(&sonic_rs::json!({
            "currentPage": 1,
            "pageSize": items.len().max(50),
            "totalNum": items.len(),
            "totalPage": 1,
            "items": items,
        }))
    }

    /// A futures order as `GET /api/v1/orders/{id}` describes it: sizes as numbers
    /// of contracts, values as text.
    pub(super) fn futures_view(&self, i: usize) -> sonic_rs::Value {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let f = o.futures.unwrap_or(Terms {
            leverage: 1,
            reduce_only: false,
            close_order: false,
            stop: None,
            triggered: false,
        });
        let value = self.valuers[o.symbol].quote_e8(o.price, o.size);
        sonic_rs::json!({
            "id": o.id,
            "symbol": spec.name.as_str(),
            "type": if o.market { "market" } else { "limit" },
            "side": if o.side == OrderSide::Buy { "buy" } else { "sell" },
            "price": if o.market { String::new() } else { spec.price.format(o.price) },
            "size": contracts(spec, o.size),
            "value": canonical(value, 8),
            "dealValue": canonical(o.deal_funds_e8, 8),
            "dealSize": contracts(spec, o.deal_size),
            "filledSize": contracts(spec, o.deal_size),
            "filledValue": canonical(o.deal_funds_e8, 8),
            "stp": "",
            "stop": match f.stop { None => "", Some(_) if o.side == OrderSide::Sell => "down", Some(_) => "up" },
            "stopPriceType": if f.stop.is_some() { "TP" } else { "" },
            "stopTriggered": f.triggered,
            "stopPrice": f.stop.map(|t| spec.price.format(t)),
            "timeInForce": o.tif,
            "postOnly": o.post_only,
            "hidden": false,
            "iceberg": false,
            "leverage": f.leverage.to_string(),
            "forceHold": false,
            "closeOrder": f.close_order,
            "reduceOnly": f.reduce_only,
            "clientOid": o.client.as_str(),
            "isActive": o.active,
            "cancelExist": o.cancelled,
            "createdAt": o.created_ms,
            "updatedAt": o.updated_ms,
            "orderTime": o.created_ms * 1_000_000,
            "settleCurrency": settle(spec),
            "marginMode": "ISOLATED",
            "status": if o.active { "open" } else { "done" },
        })
    }

    /// `GET /api/v1/orders/{id}` or `…/byClientOid?clientOid=`.
    pub fn futures_query(&self, by: By<'_>) -> Answer {
        match self
            .find(None, by)
            .filter(|&i| self.orders[i].futures.is_some())
        {
            Some(i) => ok(&self.futures_view(i)),
            None => refused("400100", "order not exist"),
        }
    }

    /// `symbol`'s position as KuCoin's `GET /api/v1/position` writes it (numbers).
    fn position_text(&self, k: usize, now_ms: i64, reason: &str) -> String {
        let spec = &self.specs[k];
        let sim = &self.sims[k];
        let acc = sim.account();
        let pos = acc.position();
        let qty = contracts(spec, Lots(pos.0.saturating_abs())) * pos.0.signum();
        let entry_e8 = if pos.0 == 0 {
            0
        } else {
            // Linear: cost (quote, 10⁻⁸) over the base held.
            let base_units = i128::from(pos.0).abs();
            (i128::from(acc.cost_e8()).abs()
                * i128::from(crate::core::decimal::POW10[spec.qty.decimals() as usize])
                / base_units) as i64
        };
        let mark = sim.mark().unwrap_or(Ticks(0));
        let unrealised = if pos.0 == 0 {
            0
        } else {
            acc.unrealised_e8(mark)
        };
        format!(
            r#"{{"id":"{name}-pos","symbol":"{name}","autoDeposit":false,"crossMode":false,"marginMode":"ISOLATED","delevPercentage":0,"openingTimestamp":{now_ms},"currentTimestamp":{now_ms},"currentQty":{qty},"currentCost":{cost},"avgEntryPrice":{entry},"markPrice":{mark},"unrealisedPnl":{unrealised},"posMargin":{margin},"realLeverage":{leverage},"isOpen":{open},"settleCurrency":"{currency}","changeReason":"{reason}"}}"#,
            name = spec.name,
            cost = canonical(acc.cost_e8(), 8),
            entry = canonical(entry_e8, 8),
            mark = if mark.0 > 0 {
                spec.price.format(mark)
            } else {
                "0".into()
            },
            unrealised = canonical(unrealised, 8),
            margin = canonical(acc.margin_e8(), 8),
            leverage = acc.leverage(),
            open = pos.0 != 0,
            currency = settle(spec),
        )
    }

    /// `GET /api/v1/position?symbol=`.
    pub fn position(&self, symbol: &str, now_ms: i64) -> Answer {
        match self
            .symbol(symbol)
            .filter(|&k| self.specs[k].market.is_futures())
        {
            Some(k) => raw_ok(&self.position_text(k, now_ms, "")),
            None => refused("900001", "contract does not exist"),
        }
    }

    /// `GET /api/v1/positions`: every futures symbol's.
    pub fn positions(&self, now_ms: i64) -> Answer {
        let list: Vec<String> = (0..self.specs.len())
            .filter(|&k| self.specs[k].market.is_futures())
            .map(|k| self.position_text(k, now_ms, ""))
            .collect();
        raw_ok(&format!("[{}]", list.join(",")))
    }

    /// `GET /api/v1/account-overview?currency=`: the futures symbols settling in it,
    /// each with its own wallet as the simulator accounts it, summed.
    pub fn overview(&self, currency: Option<&str>) -> Answer {
        let currency = currency.unwrap_or("XBT");
        let (mut wallet, mut unrealised, mut margin, mut orders, mut available) =
            (0i64, 0i64, 0i64, 0i64, 0i64);
        for (k, spec) in self.specs.iter().enumerate() {
            if !spec.market.is_futures() || settle(spec) != currency {
                continue;
            }
            let sim = &self.sims[k];
            let acc = sim.account();
            wallet = wallet.saturating_add(acc.wallet_e8);
            if acc.position().0 != 0 {
                unrealised =
                    unrealised.saturating_add(acc.unrealised_e8(sim.mark().unwrap_or(Ticks(0))));
            }
            margin = margin.saturating_add(acc.margin_e8());
            let held: i64 = self
                .orders
                .iter()
                .filter(|o| o.active && o.symbol == k && !o.market)
                .filter(|o| o.futures.is_some_and(|f| !f.reduce_only))
                .map(|o| {
                    let lev = o.futures.map_or(1, |f| i64::from(f.leverage.max(1)));
                    self.valuers[k].quote_e8(o.price, Lots(o.size.0 - o.deal_size.0)) / lev
                })
                .fold(0i64, i64::saturating_add);
            orders = orders.saturating_add(held);
            available = available.saturating_add(acc.available_e8().saturating_sub(held));
        }
        raw_ok(&format!(
            r#"{{"accountEquity":{},"unrealisedPNL":{},"marginBalance":{},"positionMargin":{},"orderMargin":{},"frozenFunds":0,"availableBalance":{},"currency":"{currency}"}}"#,
            canonical(wallet.saturating_add(unrealised), 8),
            canonical(unrealised, 8),
            canonical(wallet, 8),
            canonical(margin, 8),
            canonical(orders, 8),
            canonical(available.max(0), 8),
        ))
    }

    /// `GET /api/v2/position/getMarginMode?symbol=`: isolated, the only mode modelled.
    pub fn margin_mode(&self, symbol: &str) -> Answer {
        match self
            .symbol(symbol)
            .filter(|&k| self.specs[k].market.is_futures())
        {
            Some(_) => ok(&sonic_rs::json!({"symbol": symbol, "marginMode": "ISOLATED"})),
            None => refused("900001", "contract does not exist"),
        }
    }

    /// `POST /api/v2/position/changeMarginMode`: isolated kept; cross refused (not
    /// modelled by the simulated exchange).
    pub fn change_margin_mode(&self, body: &str) -> Answer {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Change {
            symbol: String,
            margin_mode: String,
        }
        let Ok(c) = sonic_rs::from_str::<Change>(body) else {
            return refused("400100", "symbol and marginMode are required");
        };
        if c.margin_mode.eq_ignore_ascii_case("ISOLATED") {
            return self.margin_mode(&c.symbol);
        }
        refused(
            "400100",
            "cross margin is not modelled by the local KuCoin venue: ISOLATED only",
        )
    }

    /// A stop order's life on `/contractMarket/advancedOrders` (`typ` open,
    /// triggered, cancel).
    pub(super) fn stop_event(&mut self, i: usize, typ: &'static str, now_ms: i64) {
        let o = &self.orders[i];
        let spec = &self.specs[o.symbol];
        let Some(stop) = o.futures.and_then(|f| f.stop) else {
            return;
        };
        let data = sonic_rs::json!({
            "orderId": o.id,
            "symbol": spec.name.as_str(),
            "type": typ,
            "orderType": "stop",
            "side": if o.side == OrderSide::Buy { "buy" } else { "sell" },
            "size": contracts(spec, o.size).to_string(),
            "stop": if o.side == OrderSide::Sell { "down" } else { "up" },
            "stopPrice": spec.price.format(stop),
            "stopPriceType": "TP",
            "triggerSuccess": true,
            "createdAt": o.created_ms,
            "ts": now_ms * 1_000_000,
        });
        let symbol = o.symbol;
        self.events.push(Event::Topic {
            symbol,
            topic: STOPS_TOPIC,
            subject: "stopOrder",
            data,
        });
    }

    /// The account's changes since the last messages: for each symbol whose account
    /// moved, its balances on `/account/balance` (spot: base and quote,
    /// `account.balance`) or its position (`position.change`) and wallet
    /// (`walletBalance.change` on `/contractAccount/wallet`).
    pub(super) fn account_events(&mut self) {
        for k in 0..self.specs.len() {
            if !std::mem::take(&mut self.moved[k]) {
                continue;
            }
            let now_ms = (self.sims[k].now_us() / 1000) as i64;
            if !self.specs[k].market.is_futures() {
                for [currency, total, available, hold] in self.spot_balances(k) {
                    let data = sonic_rs::json!({
                        "accountId": format!("{}-{currency}", self.specs[k].name),
                        "currency": currency,
                        "total": total,
                        "available": available,
                        "hold": hold,
                        "relationEvent": "trade.setted",
                        "relationContext": {"symbol": self.specs[k].name.as_str()},
                        "time": now_ms.to_string(),
                    });
                    self.events.push(Event::Topic {
                        symbol: k,
                        topic: super::BALANCE_TOPIC,
                        subject: "account.balance",
                        data,
                    });
                }
                continue;
            }
            let text = self.position_text(k, now_ms, "positionChange");
            if let Ok(data) = sonic_rs::from_str::<sonic_rs::Value>(&text) {
                self.events.push(Event::Topic {
                    symbol: k,
                    topic: POSITION_TOPIC,
                    subject: "position.change",
                    data,
                });
            }
            let acc = self.sims[k].account();
            let currency = settle(&self.specs[k]);
            let wallet = format!(
                r#"{{"currency":"{currency}","walletBalance":"{}","availableBalance":"{}","holdBalance":"{}","isolatedPosMargin":"{}","timestamp":{now_ms}}}"#,
                canonical(acc.wallet_e8, 8),
                canonical(acc.available_e8().max(0), 8),
                canonical(acc.margin_e8(), 8),
                canonical(acc.margin_e8(), 8),
            );
            if let Ok(data) = sonic_rs::from_str::<sonic_rs::Value>(&wallet) {
                self.events.push(Event::Topic {
                    symbol: k,
                    topic: WALLET_TOPIC,
                    subject: "walletBalance.change",
                    data,
                });
            }
        }
    }
}

/// A success body around JSON written here (numbers kept as written).
fn raw_ok(data: &str) -> Answer {
    (
        200,
        format!(r#"{{"code":"200000","data":{data}}}"#).into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Market, Venue};
    use sonic_rs::{JsonContainerTrait, JsonValueTrait};

    fn desk() -> Desk {
        let spec = SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001")
            .unwrap()
            .on_venue(Venue::Kucoin);
        let mut d = Desk::new(std::slice::from_ref(&spec), &Default::default());
        let snap = crate::venues::kucoin::snapshot::parse_snapshot(
            br#"{"code":"200000","data":{"sequence":10,"symbol":"XBTUSDTM","bids":[[100.0,1000],[99.9,2000]],"asks":[[100.1,1000],[100.2,3000]],"ts":1}}"#,
            &spec,
        )
        .unwrap();
        d.on_snapshot(0, &snap);
        d
    }

    fn code(a: &Answer) -> String {
        let v: sonic_rs::Value = sonic_rs::from_slice(&a.1).unwrap();
        v["code"].as_str().unwrap().to_string()
    }

    #[test]
    fn futures_orders_keep_kucoins_rules() {
        let mut d = desk();
        let o = |rest: &str| {
            format!(r#"{{"clientOid":"c1","side":"buy","symbol":"XBTUSDTM","size":3{rest}}}"#)
        };
        let refusals = [
            (o(r#","type":"limit","price":"99""#), "400100"), // no leverage
            (o(r#","leverage":5,"marginMode":"CROSS","type":"limit","price":"99""#), "330005"),
            (o(r#","leverage":500,"type":"limit","price":"99""#), "400100"),
            (o(r#","leverage":5,"type":"limit","price":"99","timeInForce":"FOK""#), "400100"),
            (o(r#","leverage":5,"type":"limit","price":"99","stop":"up","stopPrice":"101""#), "400100"),
            (o(r#","leverage":5,"type":"market","stop":"up","stopPrice":"101","stopPriceType":"MP""#), "400100"),
            (o(r#","leverage":5,"type":"market","stop":"down","stopPrice":"99""#), "400100"),
            (o(r#","leverage":5,"type":"market","reduceOnly":true"#), "300009"),
            (r#"{"clientOid":"c1","symbol":"XBTUSDTM","closeOrder":true,"type":"market"}"#.into(), "300009"),
            (r#"{"clientOid":"c1","side":"buy","symbol":"XBTUSDTM","size":1.5,"leverage":5,"type":"market"}"#.into(), "400100"),
            (r#"{"side":"buy","symbol":"XBTUSDTM","size":1,"leverage":5,"type":"market"}"#.into(), "400100"),
            (r#"{"clientOid":"c1","side":"buy","symbol":"NOPEUSDTM","size":1,"leverage":5}"#.into(), "900001"),
        ];
        for (body, want) in &refusals {
            assert_eq!(&code(&d.place_futures(body, 1)), want, "{body}");
        }
        // A resting limit and a stop: each in its own list.
        assert_eq!(
            code(&d.place_futures(&o(r#","leverage":5,"type":"limit","price":"99""#), 1)),
            "200000"
        );
        let stop = r#"{"clientOid":"c2","side":"buy","symbol":"XBTUSDTM","size":2,"leverage":5,"type":"market","stop":"up","stopPrice":"105","stopPriceType":"TP"}"#;
        assert_eq!(code(&d.place_futures(stop, 1)), "200000");
        let items = |a: Answer| -> Vec<String> {
            let v: sonic_rs::Value = sonic_rs::from_slice(&a.1).unwrap();
            let list = v["data"]["items"].as_array().unwrap();
            list.iter()
                .map(|i| i["clientOid"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(items(d.futures_list(Some("XBTUSDTM"), false)), vec!["c1"]);
        assert_eq!(items(d.futures_list(Some("XBTUSDTM"), true)), vec!["c2"]);
        // A market buy fills: the position and the account read as KuCoin writes them.
        let buy = r#"{"clientOid":"c3","side":"buy","symbol":"XBTUSDTM","size":1,"leverage":5,"type":"market"}"#;
        assert_eq!(code(&d.place_futures(buy, 2)), "200000");
        let p: sonic_rs::Value = sonic_rs::from_slice(&d.position("XBTUSDTM", 2).1).unwrap();
        assert_eq!(p["data"]["currentQty"].as_i64(), Some(1), "{p}");
        assert_eq!(p["data"]["realLeverage"].as_i64(), Some(5), "{p}");
        let a: sonic_rs::Value = sonic_rs::from_slice(&d.overview(Some("USDT")).1).unwrap();
        assert!(a["data"]["availableBalance"].as_f64().unwrap() > 0.0, "{a}");
        // Each change went to the order topics, the position to its own.
        let topics: Vec<String> = d.take_events().into_iter().map(|(t, _)| t).collect();
        for t in [
            "/contractMarket/tradeOrders:XBTUSDTM",
            "/contractMarket/advancedOrders",
            "/contract/position:XBTUSDTM",
        ] {
            assert!(topics.iter().any(|x| x == t), "{t}: {topics:?}");
        }
        assert_eq!(
            code(&d.change_margin_mode(r#"{"symbol":"XBTUSDTM","marginMode":"CROSS"}"#)),
            "400100"
        );
        assert!(is_futures_private_topic("/contract/position:XBTUSDTM"));
        assert!(!is_futures_private_topic("/contractMarket/level2:XBTUSDTM"));
    }
}
