//! Streams the recordings do not hold, made from the recorded trades as Binance makes
//! them: `<symbol>@aggTrade`, `<symbol>@kline_1m` (an update at most every 250 ms of
//! exchange time and the closed candle when a minute ends), and REST `klines` for the
//! intervals 1m to 1d (minute candles merged). Cold path: the exchange's side.
//!
//! One aggregate trade per recorded trade: the recordings do not say which fills
//! belong to one taker order, so none are merged (documented in docs/exchange.md).

use crate::core::decimal::canonical;
use crate::core::{Lots, SymbolSpec, Ticks, Trade, Valuer};
use crate::venues::binance::market::{AggTrade, Combined, Kline, KlineBody, KlineRow};
use serde::Serialize;

/// A candle of one minute (or of an interval, merged).
#[derive(Debug, Clone, Copy)]
struct Candle {
    open_ms: u64,
    first_id: u64,
    last_id: u64,
    o: Ticks,
    h: Ticks,
    l: Ticks,
    c: Ticks,
    volume: i64,
    quote_e8: i64,
    trades: u64,
    taker_buy: i64,
    taker_buy_quote_e8: i64,
}

impl Candle {
    fn new(open_ms: u64, t: &Trade, value_e8: i64) -> Self {
        let buy = !t.buyer_is_maker;
        Self {
            open_ms,
            first_id: t.trade_id,
            last_id: t.trade_id,
            o: t.price,
            h: t.price,
            l: t.price,
            c: t.price,
            volume: t.qty.0,
            quote_e8: value_e8,
            trades: 1,
            taker_buy: if buy { t.qty.0 } else { 0 },
            taker_buy_quote_e8: if buy { value_e8 } else { 0 },
        }
    }

    fn add(&mut self, t: &Trade, value_e8: i64) {
        self.last_id = t.trade_id;
        self.h = self.h.max(t.price);
        self.l = self.l.min(t.price);
        self.c = t.price;
        self.volume = self.volume.saturating_add(t.qty.0);
        self.quote_e8 = self.quote_e8.saturating_add(value_e8);
        self.trades += 1;
        if !t.buyer_is_maker {
            self.taker_buy = self.taker_buy.saturating_add(t.qty.0);
            self.taker_buy_quote_e8 = self.taker_buy_quote_e8.saturating_add(value_e8);
        }
    }

    fn merge(&mut self, m: &Candle) {
        self.last_id = m.last_id;
        self.h = self.h.max(m.h);
        self.l = self.l.min(m.l);
        self.c = m.c;
        self.volume = self.volume.saturating_add(m.volume);
        self.quote_e8 = self.quote_e8.saturating_add(m.quote_e8);
        self.trades += m.trades;
        self.taker_buy = self.taker_buy.saturating_add(m.taker_buy);
        self.taker_buy_quote_e8 = self.taker_buy_quote_e8.saturating_add(m.taker_buy_quote_e8);
    }
}

const MINUTE_MS: u64 = 60_000;
/// Binance pushes a kline update every 250 ms at most (USDⓈ-M; spot every second
/// or two): the venue does not push more often than that.
const KLINE_PUSH_MS: u64 = 250;

/// The candles and aggregate trades of one symbol.
pub(super) struct Candles {
    spec: SymbolSpec,
    valuer: Valuer,
    futures: bool,
    stream: String,
    closed: Vec<Candle>,
    current: Option<Candle>,
    last_push_ms: u64,
    next_agg_id: u64,
}

/// A message to publish: its stream, and its JSON wrapped with the stream's name
/// (combined streams) and bare.
pub(super) struct Synth {
    /// `btcusdt@aggTrade`, `btcusdt@kline_1m`.
    pub(super) stream: String,
    /// `{"stream":…,"data":…}`.
    pub(super) wrapped: String,
    /// The event alone.
    pub(super) bare: String,
}

fn synth<T: Serialize>(stream: String, event: &T) -> Synth {
    let wrapped = sonic_rs::to_string(&Combined {
        stream: &stream,
        data: event,
    })
    .unwrap_or_default();
    let bare = sonic_rs::to_string(event).unwrap_or_default();
    Synth {
        stream,
        wrapped,
        bare,
    }
}

impl Candles {
    pub(super) fn new(spec: &SymbolSpec) -> Self {
        Self {
            spec: spec.clone(),
            valuer: Valuer::new(spec),
            futures: spec.market.is_futures(),
            stream: spec.name.to_ascii_lowercase(),
            closed: Vec::new(),
            current: None,
            last_push_ms: 0,
            next_agg_id: 1,
        }
    }

    fn qty(&self, q: i64) -> String {
        self.spec.qty.format(Lots(q))
    }

    fn quote(&self, e8: i64) -> String {
        canonical(e8, 8)
    }

    /// A recorded trade: the candle grows; `out` gets the aggregate trade and kline
    /// events when `publish` (someone listens).
    pub(super) fn on_trade(
        &mut self,
        t: &Trade,
        event_ms: u64,
        publish: bool,
        out: &mut Vec<Synth>,
    ) {
        let value = self.valuer.value_e8(t.price, t.qty);
        let minute = t.trade_ms / MINUTE_MS * MINUTE_MS;
        if publish {
            let event = AggTrade {
                e: "aggTrade",
                event_ms,
                s: &self.spec.name,
                a: self.next_agg_id,
                p: self.spec.price.format(t.price),
                q: self.qty(t.qty.0),
                f: t.trade_id,
                l: t.trade_id,
                trade_ms: t.trade_ms,
                m: t.buyer_is_maker,
                best_match: (!self.futures).then_some(true),
            };
            out.push(synth(format!("{}@aggTrade", self.stream), &event));
        }
        self.next_agg_id += 1;
        match self.current.as_mut() {
            Some(c) if c.open_ms == minute => c.add(t, value),
            _ => {
                if let Some(done) = self.current.take() {
                    if publish {
                        out.push(self.kline(&done, event_ms, true));
                    }
                    self.closed.push(done);
                }
                self.current = Some(Candle::new(minute, t, value));
                self.last_push_ms = 0;
            }
        }
        if publish && event_ms >= self.last_push_ms + KLINE_PUSH_MS {
            self.last_push_ms = event_ms;
            if let Some(c) = self.current {
                out.push(self.kline(&c, event_ms, false));
            }
        }
    }

    fn kline(&self, c: &Candle, event_ms: u64, closed: bool) -> Synth {
        let p = |t: Ticks| self.spec.price.format(t);
        let event = Kline {
            e: "kline",
            event_ms,
            s: &self.spec.name,
            k: KlineBody {
                t: c.open_ms,
                close_ms: c.open_ms + MINUTE_MS - 1,
                s: &self.spec.name,
                i: "1m",
                f: c.first_id,
                last_id: c.last_id,
                o: p(c.o),
                c: p(c.c),
                h: p(c.h),
                l: p(c.l),
                v: self.qty(c.volume),
                n: c.trades,
                x: closed,
                q: self.quote(c.quote_e8),
                taker_buy: self.qty(c.taker_buy),
                taker_buy_quote: self.quote(c.taker_buy_quote_e8),
                ignore: "0",
            },
        };
        synth(format!("{}@kline_1m", self.stream), &event)
    }

    /// REST `klines`: candles of `interval_ms` (a multiple of a minute) opening in
    /// [`start`, `end`], the last `limit` of them (the current one included).
    pub(super) fn klines(
        &self,
        interval_ms: u64,
        start: Option<u64>,
        end: Option<u64>,
        limit: usize,
    ) -> Vec<KlineRow> {
        let mut merged: Vec<Candle> = Vec::new();
        for m in self.closed.iter().chain(self.current.iter()) {
            let open = m.open_ms / interval_ms * interval_ms;
            match merged.last_mut() {
                Some(c) if c.open_ms == open => c.merge(m),
                _ => {
                    let mut c = *m;
                    c.open_ms = open;
                    merged.push(c);
                }
            }
        }
        let within: Vec<&Candle> = merged
            .iter()
            .filter(|c| start.is_none_or(|s| c.open_ms >= s) && end.is_none_or(|e| c.open_ms <= e))
            .collect();
        let from = if start.is_some() {
            0
        } else {
            within.len().saturating_sub(limit)
        };
        let p = |t: Ticks| self.spec.price.format(t);
        within[from..]
            .iter()
            .take(limit)
            .map(|c| {
                (
                    c.open_ms,
                    p(c.o),
                    p(c.h),
                    p(c.l),
                    p(c.c),
                    self.qty(c.volume),
                    c.open_ms + interval_ms - 1,
                    self.quote(c.quote_e8),
                    c.trades,
                    self.qty(c.taker_buy),
                    self.quote(c.taker_buy_quote_e8),
                    "0",
                )
            })
            .collect()
    }
}

/// An interval's length: `1m` … `1d`.
pub(super) fn interval_ms(s: &str) -> Option<u64> {
    Some(
        match s {
            "1m" => 1,
            "3m" => 3,
            "5m" => 5,
            "15m" => 15,
            "30m" => 30,
            "1h" => 60,
            "2h" => 120,
            "4h" => 240,
            "6h" => 360,
            "8h" => 480,
            "12h" => 720,
            "1d" => 1440,
            _ => return None,
        } * MINUTE_MS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Market;

    fn trade(id: u64, price: i64, qty: i64, ms: u64, sell: bool) -> Trade {
        Trade {
            trade_id: id,
            price: Ticks(price),
            qty: Lots(qty),
            trade_ms: ms,
            buyer_is_maker: sell,
        }
    }

    #[test]
    fn candles_from_trades_by_hand() {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.001").unwrap();
        let mut c = Candles::new(&spec);
        let mut out = Vec::new();
        // Minute 0: 100.00 ×1, 101.00 ×2 (taker buy), 99.50 ×1; minute 1: 100.50 ×1.
        c.on_trade(&trade(1, 10_000, 1_000, 1_000, true), 1_000, true, &mut out);
        c.on_trade(
            &trade(2, 10_100, 2_000, 30_000, false),
            30_000,
            true,
            &mut out,
        );
        c.on_trade(
            &trade(3, 9_950, 1_000, 59_999, true),
            59_999,
            true,
            &mut out,
        );
        c.on_trade(
            &trade(4, 10_050, 1_000, 61_000, false),
            61_000,
            true,
            &mut out,
        );
        let aggs = out
            .iter()
            .filter(|m| m.stream == "btcusdt@aggTrade")
            .count();
        assert_eq!(aggs, 4);
        let closed: Vec<&Synth> = out
            .iter()
            .filter(|m| m.bare.contains("\"x\":true"))
            .collect();
        assert_eq!(closed.len(), 1);
        assert!(
            closed[0]
                .wrapped
                .starts_with("{\"stream\":\"btcusdt@kline_1m\",\"data\":{")
        );
        let k = &closed[0].bare;
        for part in [
            "\"t\":0,\"T\":59999",
            "\"f\":1,\"L\":3",
            "\"o\":\"100\",\"c\":\"99.5\",\"h\":\"101\",\"l\":\"99.5\",\"v\":\"4\",\"n\":3",
            "\"q\":\"401.5\",\"V\":\"2\",\"Q\":\"202\"",
        ] {
            assert!(k.contains(part), "{part} in {k}");
        }
        let text = |rows: Vec<KlineRow>| sonic_rs::to_string(&rows).unwrap();
        let rest = text(c.klines(interval_ms("1m").unwrap(), None, None, 500));
        assert!(rest.starts_with("[[0,\"100\",\"101\",\"99.5\",\"99.5\",\"4\",59999,\"401.5\",3,\"2\",\"202\",\"0\"],[60000,"), "{rest}");
        let hour = text(c.klines(interval_ms("1h").unwrap(), None, None, 500));
        assert!(
            hour.starts_with("[[0,\"100\",\"101\",\"99.5\",\"100.5\",\"5\",3599999,\"502\",4,"),
            "{hour}"
        );
        assert_eq!(c.klines(60_000, None, None, 1).len(), 1);
        assert_eq!(interval_ms("7m"), None);
    }
}
