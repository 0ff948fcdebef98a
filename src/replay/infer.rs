//! Symbol specs for recordings that carry no symbol list: the tick is the finest
//! significant price digit seen, the lot the quantity width printed, the market from
//! the depth messages (Binance: `pu` ⇒ futures, `ps` ⇒ COIN-M; KuCoin: a
//! `/contractMarket` topic ⇒ futures, inverse when the contract ends in `USDM`), and
//! the venue from the messages' shape. With a symbol list the places seen refine its
//! grids (quantities finer than the lot step occur in books). Cold path: looks at
//! the first lines of each file.

use crate::core::decimal::{significant_places, written_places};
use crate::core::{Market, PriceGrid, QtyGrid, SymbolSpec};
use crate::venues::Venue;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::collections::BTreeMap;

/// What the first lines of the input said about one symbol.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sample {
    price_places: u8,
    qty_places: u8,
    prices: u64,
    pub has_pu: bool,
    pub has_ps: bool,
    pub depth_without_pu: bool,
    /// KuCoin futures topics (`/contractMarket/…`).
    pub kucoin_futures: bool,
}

impl Sample {
    fn price(&mut self, v: Option<&Value>) {
        if let Some(p) = v.and_then(|v| v.as_str()).and_then(significant_places) {
            self.price_places = self.price_places.max(p);
            self.prices += 1;
        }
    }
    fn qty(&mut self, v: Option<&Value>) {
        if let Some(q) = v.and_then(|v| v.as_str()).and_then(written_places) {
            self.qty_places = self.qty_places.max(q);
        }
    }
    fn levels(&mut self, v: Option<&Value>) {
        for l in v.and_then(|v| v.as_array()).into_iter().flatten() {
            self.price(l.get(0));
            self.qty(l.get(1));
        }
    }

    /// Finest significant price places and widest quantity places seen.
    pub fn places(&self) -> (u8, u8) {
        (self.price_places, self.qty_places)
    }

    /// The market the samples point to.
    pub fn market(&self, name: &str) -> Market {
        if self.kucoin_futures {
            // A contract: linear, or inverse (margined in the coin) by its name.
            return match crate::venues::kucoin::market_of(name) {
                Market::CoinM => Market::CoinM,
                _ => Market::UsdM,
            };
        }
        match (self.has_pu, self.has_ps) {
            (true, true) => Market::CoinM,
            (true, false) => Market::UsdM,
            _ => Market::Spot,
        }
    }

    /// A spec on the sampled grids, if any price was seen.
    pub fn spec(&self, name: &str, market: Market) -> Option<SymbolSpec> {
        if self.prices == 0 {
            return None;
        }
        let tick = format!(
            "{:.*}",
            self.price_places as usize,
            10f64.powi(-(self.price_places as i32))
        );
        let price = PriceGrid::from_tick_size(&tick).ok()?;
        let qty = QtyGrid::new(self.qty_places, None).ok()?;
        SymbolSpec::bare(name, market, price, qty).ok()
    }
}

/// Samples per symbol (upper-case name).
#[derive(Debug, Default)]
pub(crate) struct Samples {
    pub by_symbol: BTreeMap<String, Sample>,
}

impl Samples {
    /// Looks at one WebSocket frame; returns the symbol it names, if any, and the
    /// venue it comes from.
    pub fn frame(&mut self, json: &[u8]) -> Option<(String, Venue)> {
        let v: Value = sonic_rs::from_slice(json).ok()?;
        if let Some(topic) = v.get("topic").and_then(|t| t.as_str()) {
            return self.kucoin_frame(&v, topic).map(|n| (n, Venue::Kucoin));
        }
        if let Some(push) = v.get("T").and_then(|t| t.as_str()) {
            return self.kucoin_push(&v, push).map(|n| (n, Venue::Kucoin));
        }
        let stream = v.get("stream").and_then(|s| s.as_str()).map(str::to_owned);
        let msg = v.get("data").unwrap_or(&v);
        let name = msg
            .get("s")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .or_else(|| stream.map(|s| s.split('@').next().unwrap_or("").to_owned()))?
            .to_ascii_uppercase();
        let s = self.by_symbol.entry(name.clone()).or_default();
        match msg.get("e").and_then(|e| e.as_str()) {
            Some("depthUpdate") => {
                s.levels(msg.get("b"));
                s.levels(msg.get("a"));
                if msg.get("pu").is_some() {
                    s.has_pu = true;
                } else {
                    s.depth_without_pu = true;
                }
                s.has_ps |= msg.get("ps").is_some();
            }
            Some("trade" | "aggTrade") => {
                s.price(msg.get("p"));
                s.qty(msg.get("q"));
            }
            Some("kline") => {
                let k = msg.get("k");
                for f in ["o", "h", "l", "c"] {
                    s.price(k.and_then(|k| k.get(f)));
                }
                s.qty(k.and_then(|k| k.get("v")));
            }
            Some("bookTicker") | None if msg.get("u").is_some() => {
                s.price(msg.get("b"));
                s.price(msg.get("a"));
                s.qty(msg.get("B"));
                s.qty(msg.get("A"));
            }
            _ => {}
        }
        Some((name, Venue::Binance))
    }

    /// A KuCoin classic frame (`{"type":"message","topic","subject","data"}`).
    fn kucoin_frame(&mut self, v: &Value, topic: &str) -> Option<String> {
        let data = v.get("data")?;
        let name = data
            .get("symbol")
            .and_then(|s| s.as_str())
            .or_else(|| topic.split_once(':').map(|(_, s)| s))?
            .to_ascii_uppercase();
        let s = self.by_symbol.entry(name.clone()).or_default();
        match v.get("subject").and_then(|s| s.as_str()) {
            Some("trade.l2update") => {
                let ch = data.get("changes");
                s.levels(ch.and_then(|c| c.get("bids")));
                s.levels(ch.and_then(|c| c.get("asks")));
                s.depth_without_pu = true;
            }
            Some("trade.ticker") => {
                s.price(data.get("bestBid"));
                s.price(data.get("bestAsk"));
                s.qty(data.get("bestBidSize"));
                s.qty(data.get("bestAskSize"));
            }
            Some("trade.l3match") => {
                s.price(data.get("price"));
                s.qty(data.get("size"));
            }
            Some("level2" | "match") if topic.starts_with("/contractMarket/") => {
                s.kucoin_futures = true;
                let change = data.get("change").and_then(|c| c.as_str());
                if let Some(px) = change.and_then(|c| c.split(',').next()) {
                    if let Some(p) = significant_places(px) {
                        s.price_places = s.price_places.max(p);
                        s.prices += 1;
                    }
                }
                s.price(data.get("price"));
            }
            _ => {}
        }
        Some(name)
    }

    /// A KuCoin unified-account push (`{"T":"obu.SPOT","t","d":{"s",…}}`).
    fn kucoin_push(&mut self, v: &Value, push: &str) -> Option<String> {
        let (channel, trade_type) = push.split_once('.')?;
        if channel != "obu" && channel != "trade" {
            return None;
        }
        let d = v.get("d")?;
        let name = d.get("s").and_then(|s| s.as_str())?.to_ascii_uppercase();
        let s = self.by_symbol.entry(name.clone()).or_default();
        if trade_type == "FUTURES" {
            s.kucoin_futures = true;
        } else {
            s.depth_without_pu = true;
        }
        if channel == "obu" {
            s.levels(d.get("b"));
            s.levels(d.get("a"));
        } else {
            s.price(d.get("p"));
            s.qty(d.get("q"));
        }
        Some(name)
    }

    /// Looks at a REST snapshot for `symbol`.
    pub fn snapshot(&mut self, symbol: &str, json: &[u8]) {
        let Ok(v) = sonic_rs::from_slice::<Value>(json) else {
            return;
        };
        let s = self
            .by_symbol
            .entry(symbol.to_ascii_uppercase())
            .or_default();
        // KuCoin wraps its answers: `{"code":"200000","data":{…}}`.
        let book = v.get("data").unwrap_or(&v);
        s.levels(book.get("bids"));
        s.levels(book.get("asks"));
    }
}
