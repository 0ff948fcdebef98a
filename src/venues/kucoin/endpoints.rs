//! Where KuCoin is (protocol notes §1–§4): the REST hosts, the paths Minerva calls, the
//! WebSocket topics of a symbol. Nothing outside this folder names a KuCoin host,
//! path or topic. The WebSocket host is never fixed: it comes with each bullet token
//! (`super::session::Bullet`).

use crate::core::Market;

/// Spot REST (classic API).
pub const SPOT_REST: &str = "https://api.kucoin.com:443";
/// Futures REST.
pub const FUTURES_REST: &str = "https://api-futures.kucoin.com:443";

/// The REST host of `market` (spot and futures tokens "cannot be mixed", §1).
pub fn rest_host(market: Market) -> &'static str {
    if market.is_futures() {
        FUTURES_REST
    } else {
        SPOT_REST
    }
}

/// The unified account's public WebSocket of `market` (§1, §5): a fixed host, no
/// token.
pub fn uta_public_url(market: Market) -> &'static str {
    if market.is_futures() {
        "wss://x-push-futures.kucoin.com/"
    } else {
        "wss://x-push-spot.kucoin.com/"
    }
}

/// The unified account's book channel, and the depth Minerva takes of it: a snapshot
/// on subscribe, then 10 ms deltas of the top 500 levels (§5).
pub const OBU_CHANNEL: &str = "obu";
/// See [`OBU_CHANNEL`].
pub const OBU_DEPTH: &str = "increment@10ms";
/// Levels per side the `increment@10ms` book carries.
pub const OBU_LEVELS: usize = 500;
/// The unified account's trade channel.
pub const TRADE_CHANNEL: &str = "trade";

/// A REST path Minerva calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// `POST`, no auth: a token for the public WebSocket.
    BulletPublic,
    /// `POST`, signed: a token for the private WebSocket.
    BulletPrivate,
    /// Spot symbols and their grids.
    Symbols,
    /// Futures contracts and their grids.
    Contracts,
}

impl Rest {
    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            Rest::BulletPublic => "/api/v1/bullet-public",
            Rest::BulletPrivate => "/api/v1/bullet-private",
            Rest::Symbols => "/api/v2/symbols",
            Rest::Contracts => "/api/v1/contracts/active",
        }
    }
}

/// The level-2 snapshot of `symbol` (path and query): spot's full book is signed
/// (`/api/v3/market/orderbook/level2`, General permission); without keys the public
/// top 100 (`level2_100`) is what a client can have — a book synced from it knows
/// only the levels those 100 and the updates since touched. Futures' full snapshot is
/// public.
pub fn snapshot_path(market: Market, symbol: &str, signed: bool) -> String {
    match (market.is_futures(), signed) {
        (true, _) => format!("/api/v1/level2/snapshot?symbol={symbol}"),
        (false, true) => format!("/api/v3/market/orderbook/level2?symbol={symbol}"),
        (false, false) => format!("/api/v1/market/orderbook/level2_100?symbol={symbol}"),
    }
}

/// The public topics Minerva follows for `symbol`: its level-2 updates, its trades
/// and its best bid and offer.
pub fn topics(market: Market, symbol: &str) -> [String; 3] {
    if market.is_futures() {
        [
            format!("/contractMarket/level2:{symbol}"),
            format!("/contractMarket/execution:{symbol}"),
            format!("/contractMarket/tickerV2:{symbol}"),
        ]
    } else {
        [
            format!("/market/level2:{symbol}"),
            format!("/market/match:{symbol}"),
            format!("/market/ticker:{symbol}"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_topics() {
        assert_eq!(rest_host(Market::UsdM), FUTURES_REST);
        assert_eq!(
            snapshot_path(Market::Spot, "BTC-USDT", true),
            "/api/v3/market/orderbook/level2?symbol=BTC-USDT"
        );
        assert_eq!(
            snapshot_path(Market::Spot, "BTC-USDT", false),
            "/api/v1/market/orderbook/level2_100?symbol=BTC-USDT"
        );
        assert_eq!(
            snapshot_path(Market::UsdM, "XBTUSDTM", false),
            "/api/v1/level2/snapshot?symbol=XBTUSDTM"
        );
        assert_eq!(
            topics(Market::Spot, "BTC-USDT")[0],
            "/market/level2:BTC-USDT"
        );
        assert_eq!(
            topics(Market::CoinM, "XBTUSDM")[1],
            "/contractMarket/execution:XBTUSDM"
        );
    }
}
