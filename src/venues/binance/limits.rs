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

/// Requests a client may send after a 429, before its `Retry-After`, without being
/// banned (Binance states no number: "repeatedly").
pub const TOLERATED_AFTER_429: u32 = 3;
/// The first ban's length; each further ban doubles it, up to [`MAX_BAN_MS`]
/// (Binance: "scaling from 2 minutes to 3 days").
pub const FIRST_BAN_MS: u64 = 2 * 60 * 1000;
/// The longest ban.
pub const MAX_BAN_MS: u64 = 3 * 24 * 60 * 60 * 1000;

/// The server's verdict on one request's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Served; the weight used in this minute so far.
    Served {
        /// Weight used this minute.
        used: u32,
    },
    /// 429: over the minute's weight; come back in `retry_after_s`.
    TooMany {
        /// Weight used this minute.
        used: u32,
        /// Seconds to the minute's end.
        retry_after_s: u64,
    },
    /// 418: the client kept sending after 429s; banned until `until_ms`.
    Banned {
        /// End of the ban, ms since the epoch.
        until_ms: u64,
        /// Seconds to its end.
        retry_after_s: u64,
    },
}

/// Binance's request-weight rule on wall-clock minutes, with the 429 → 418
/// escalation: a client that keeps sending after being told to wait is banned, for
/// longer each time.
#[derive(Debug, Clone, Default)]
pub struct Weigher {
    minute: u64,
    used: u32,
    after_429: u32,
    banned_until_ms: u64,
    bans: u32,
}

impl Weigher {
    /// Counts a request of `weight` at `now_ms` against `limit` per minute.
    pub fn weigh(&mut self, now_ms: u64, weight: u32, limit: u32) -> Verdict {
        if now_ms < self.banned_until_ms {
            return Verdict::Banned {
                until_ms: self.banned_until_ms,
                retry_after_s: (self.banned_until_ms - now_ms).div_ceil(1000),
            };
        }
        let minute = now_ms / 60_000;
        if minute != self.minute {
            self.minute = minute;
            self.used = 0;
            self.after_429 = 0;
        }
        self.used = self.used.saturating_add(weight);
        if self.used <= limit {
            return Verdict::Served { used: self.used };
        }
        let retry_after_s = (60_000 - now_ms % 60_000).div_ceil(1000);
        if self.after_429 < TOLERATED_AFTER_429 {
            self.after_429 += 1;
            return Verdict::TooMany {
                used: self.used,
                retry_after_s,
            };
        }
        let len = FIRST_BAN_MS
            .saturating_mul(1u64 << self.bans.min(20))
            .min(MAX_BAN_MS);
        self.bans = self.bans.saturating_add(1);
        self.banned_until_ms = now_ms.saturating_add(len);
        self.after_429 = 0;
        Verdict::Banned {
            until_ms: self.banned_until_ms,
            retry_after_s: len / 1000,
        }
    }
}

#[cfg(test)]
mod weigher_tests {
    use super::*;

    #[test]
    fn requests_after_429s_are_banned_for_longer_each_time() {
        let mut w = Weigher::default();
        let t0 = 1_700_000_000_000u64 - 1_700_000_000_000 % 60_000;
        assert_eq!(w.weigh(t0, 5, 10), Verdict::Served { used: 5 });
        assert_eq!(w.weigh(t0, 5, 10), Verdict::Served { used: 10 });
        for _ in 0..TOLERATED_AFTER_429 {
            assert!(matches!(
                w.weigh(t0 + 1_000, 1, 10),
                Verdict::TooMany {
                    retry_after_s: 59,
                    ..
                }
            ));
        }
        let first = w.weigh(t0 + 2_000, 1, 10);
        assert_eq!(
            first,
            Verdict::Banned {
                until_ms: t0 + 2_000 + FIRST_BAN_MS,
                retry_after_s: 120
            }
        );
        // Banned requests stay 418 with the time left, and are not counted.
        assert!(matches!(
            w.weigh(t0 + 62_000, 1, 10),
            Verdict::Banned {
                retry_after_s: 60,
                ..
            }
        ));
        // After the ban a new minute serves again; a second ban is twice as long.
        let after = t0 + 2_000 + FIRST_BAN_MS;
        assert!(matches!(w.weigh(after, 10, 10), Verdict::Served { .. }));
        for _ in 0..TOLERATED_AFTER_429 {
            w.weigh(after, 1, 10);
        }
        assert!(matches!(
            w.weigh(after, 1, 10),
            Verdict::Banned {
                retry_after_s: 240,
                ..
            }
        ));
    }
}
