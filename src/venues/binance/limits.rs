//! Binance's request limits: the weight each call costs, the weight allowed per
//! minute, and the budget the server reports in `X-MBX-USED-WEIGHT-1M`, so snapshots
//! and clock readings wait for the next minute rather than earn a 429 (and, after
//! repeated ones, a 418 ban). Source: SPOT-REST and UM-GEN "LIMITS".

use crate::core::Market;
use crate::net::http::Response;
use std::time::Duration;

/// The header with the weight used this minute, as the server counts.
pub const USED_WEIGHT_HEADER: &str = "X-MBX-USED-WEIGHT-1M";

/// The header with the orders placed in the current 10 s window.
pub const ORDER_COUNT_HEADER: &str = "X-MBX-ORDER-COUNT-10S";

/// A request's weight, as Binance counts it: `endpoint` by `method`, with its
/// `limit` and whether it names a `symbol`.
pub fn request_weight(
    market: Market,
    endpoint: super::endpoints::Rest,
    method: &str,
    limit: Option<u32>,
    has_symbol: bool,
) -> u32 {
    use super::endpoints::Rest;
    let futures = market.is_futures();
    let limit = limit.unwrap_or(if futures { 500 } else { 100 });
    match (endpoint, futures) {
        (Rest::Depth, _) => depth_weight(market, limit),
        (Rest::ExchangeInfo, false) => 20,
        (Rest::Klines, false) => 2,
        (Rest::Klines, true) => match limit {
            0..=99 => 1,
            100..=499 => 2,
            500..=1000 => 5,
            _ => 10,
        },
        (Rest::Account, false) => 20,
        (Rest::Account | Rest::PositionRisk | Rest::Balance, true) => 5,
        (Rest::OpenOrders, _) if !has_symbol => {
            if futures {
                40
            } else {
                80
            }
        }
        (Rest::OpenOrders, false) => 6,
        (Rest::Order, false) if method == "GET" => 4,
        // Futures order placing counts against the order limits, not the weight.
        (Rest::Order, true) if method != "GET" => 0,
        _ => 1,
    }
}

/// The weight an answer says this minute used.
pub fn used_weight(r: &Response) -> Option<u32> {
    r.header(USED_WEIGHT_HEADER).and_then(|v| v.parse().ok())
}

/// The weight of `GET depth` with `limit` levels.
pub fn depth_weight(market: Market, limit: u32) -> u32 {
    match (market.is_futures(), limit) {
        (false, 0..=100) => 5,
        (false, 101..=500) => 25,
        (false, 501..=1000) => 50,
        (false, _) => 250,
        (true, 0..=50) => 2,
        (true, 51..=100) => 5,
        (true, 101..=500) => 10,
        (true, _) => 20,
    }
}

/// Request weight allowed per minute by default (Binance's REQUEST_WEIGHT limits:
/// spot 6,000, USDⓈ-M 2,400; exchangeInfo's `rateLimits` has the live values).
pub fn default_weight_limit(market: Market) -> u32 {
    if market.is_futures() { 2_400 } else { 6_000 }
}

/// The weight budget the server reports: how long to wait before spending `cost`
/// more without going over `limit` (zero: go now). Binance counts per wall-clock
/// minute: the wait ends with the minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock minute of the last reading, and the weight used in it.
    reading: Option<(u64, u32)>,
}

impl Budget {
    /// Notes the weight an answer says is used.
    pub fn note_answer(&mut self, r: &Response) {
        self.note(used_weight(r));
    }

    /// Notes a used weight.
    pub fn note(&mut self, used: Option<u32>) {
        if let Some(u) = used {
            self.reading = Some((wall_secs() / 60, u));
        }
    }

    /// The wait before a request of weight `cost`, with at most `limit` a minute.
    pub fn wait(&self, cost: u32, limit: u32) -> Duration {
        let now = wall_secs();
        match self.reading {
            Some((minute, used)) if minute == now / 60 && used.saturating_add(cost) > limit => {
                Duration::from_secs(60 - now % 60)
            }
            _ => Duration::ZERO,
        }
    }
}

fn wall_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_budget_waits_for_the_next_minute() {
        let mut b = Budget::default();
        assert_eq!(b.wait(250, 6_000), Duration::ZERO);
        b.note(Some(5_800));
        let w = b.wait(250, 6_000);
        assert!(w > Duration::ZERO && w <= Duration::from_secs(60), "{w:?}");
        assert_eq!(b.wait(200, 6_000), Duration::ZERO);
        b.note(None);
        assert!(b.wait(250, 6_000) > Duration::ZERO);
    }
}
