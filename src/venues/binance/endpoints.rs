//! Where Binance is: the hosts of each market in each environment, and the REST paths
//! Minerva calls (and the local exchange serves). Nothing outside this folder names a
//! Binance host or path.
//!
//! | market | REST (live) | streams (live) | REST (testnet) | streams (testnet) |
//! |---|---|---|---|---|
//! | spot | `api.binance.com` | `stream.binance.com:9443` | `testnet.binance.vision` | `stream.testnet.binance.vision` |
//! | USDⓈ-M | `fapi.binance.com` | `fstream.binance.com` | `testnet.binancefuture.com` | `stream.binancefuture.com` |
//! | COIN-M | `dapi.binance.com` | `dstream.binance.com` | `testnet.binancefuture.com` | `dstream.binancefuture.com` |
//!
//! Sources: SPOT-REST "General API Information", UM-GEN and CM-GEN "General Info"
//! (docs/binance-protocol.md §1).

use crate::core::Market;

/// Which Binance to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// `minerva exchange` on this machine (plain HTTP and WebSocket).
    Local,
    /// Binance's testnets: real protocol, play money (KuCoin has none).
    Testnet,
    /// The venue itself (Binance, KuCoin): real orders with real money.
    Live,
}

impl Environment {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Testnet => "testnet",
            Environment::Live => "live",
        }
    }

    /// REST and WebSocket servers of `market` here; `local` is the local exchange's
    /// `host:port`. Binance's are TLS (`https://`, `wss://`); the local exchange is plain.
    pub fn hosts(self, market: Market, local: &str) -> Hosts {
        let (rest, ws) = match (self, market) {
            (Environment::Local, _) => return Hosts::same(local),
            (Environment::Testnet, Market::Spot) => (
                "https://testnet.binance.vision:443",
                "wss://stream.testnet.binance.vision:443",
            ),
            (Environment::Testnet, Market::UsdM) => (
                "https://testnet.binancefuture.com:443",
                "wss://stream.binancefuture.com:443",
            ),
            (Environment::Testnet, Market::CoinM) => (
                "https://testnet.binancefuture.com:443",
                "wss://dstream.binancefuture.com:443",
            ),
            (Environment::Live, Market::Spot) => (
                "https://api.binance.com:443",
                "wss://stream.binance.com:9443",
            ),
            (Environment::Live, Market::UsdM) => (
                "https://fapi.binance.com:443",
                "wss://fstream.binance.com:443",
            ),
            (Environment::Live, Market::CoinM) => (
                "https://dapi.binance.com:443",
                "wss://dstream.binance.com:443",
            ),
        };
        Hosts {
            rest: rest.to_string(),
            ws: ws.to_string(),
        }
    }
}

/// A REST server and a WebSocket server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// REST: `https://host:port` or a plain `host:port`.
    pub rest: String,
    /// Streams: `wss://host:port` or a plain `host:port`.
    pub ws: String,
}

impl Hosts {
    /// One server for both (the local exchange).
    pub fn same(host: &str) -> Self {
        Self {
            rest: host.to_string(),
            ws: host.to_string(),
        }
    }
}

/// A REST endpoint Minerva calls or serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// `GET ping`.
    Ping,
    /// `GET time`: the server clock.
    Time,
    /// `GET exchangeInfo`: symbols and their filters.
    ExchangeInfo,
    /// `GET depth`: a book snapshot.
    Depth,
    /// `GET klines`: candles.
    Klines,
    /// `POST`/`DELETE`/`GET order`: place, cancel, query one order.
    Order,
    /// `POST orderList/oco`: a one-cancels-the-other exit pair (spot).
    Oco,
    /// `GET openOrders`.
    OpenOrders,
    /// `DELETE` every open order of a symbol (spot `openOrders`, futures
    /// `allOpenOrders`).
    CancelAll,
    /// `GET account`.
    Account,
    /// `GET balance` (futures).
    Balance,
    /// `GET positionRisk` (futures).
    PositionRisk,
    /// `POST leverage` (futures).
    Leverage,
    /// `GET leverageBracket` (futures; COIN-M's v2, per symbol).
    LeverageBracket,
    /// `POST marginType` (futures: ISOLATED or CROSSED).
    MarginType,
    /// `POST`/`PUT`/`DELETE` the user data stream's listen key.
    ListenKey,
}

impl Rest {
    /// Every endpoint.
    pub const ALL: [Rest; 16] = [
        Rest::Ping,
        Rest::Time,
        Rest::ExchangeInfo,
        Rest::Depth,
        Rest::Klines,
        Rest::Order,
        Rest::Oco,
        Rest::OpenOrders,
        Rest::CancelAll,
        Rest::Account,
        Rest::Balance,
        Rest::PositionRisk,
        Rest::Leverage,
        Rest::LeverageBracket,
        Rest::MarginType,
        Rest::ListenKey,
    ];

    /// The path on `market`, or `None` where that market has no such endpoint.
    pub fn path(self, market: Market) -> Option<&'static str> {
        use Market::{CoinM, Spot, UsdM};
        Some(match (self, market) {
            (Rest::Ping, Spot) => "/api/v3/ping",
            (Rest::Ping, UsdM) => "/fapi/v1/ping",
            (Rest::Ping, CoinM) => "/dapi/v1/ping",
            (Rest::Time, Spot) => "/api/v3/time",
            (Rest::Time, UsdM) => "/fapi/v1/time",
            (Rest::Time, CoinM) => "/dapi/v1/time",
            (Rest::ExchangeInfo, Spot) => "/api/v3/exchangeInfo",
            (Rest::ExchangeInfo, UsdM) => "/fapi/v1/exchangeInfo",
            (Rest::ExchangeInfo, CoinM) => "/dapi/v1/exchangeInfo",
            (Rest::Depth, Spot) => "/api/v3/depth",
            (Rest::Depth, UsdM) => "/fapi/v1/depth",
            (Rest::Depth, CoinM) => "/dapi/v1/depth",
            (Rest::Klines, Spot) => "/api/v3/klines",
            (Rest::Klines, UsdM) => "/fapi/v1/klines",
            (Rest::Klines, CoinM) => "/dapi/v1/klines",
            (Rest::Order, Spot) => "/api/v3/order",
            (Rest::Order, UsdM) => "/fapi/v1/order",
            (Rest::Order, CoinM) => "/dapi/v1/order",
            (Rest::Oco, Spot) => "/api/v3/orderList/oco",
            (Rest::Oco, _) => return None,
            (Rest::OpenOrders, Spot) => "/api/v3/openOrders",
            (Rest::OpenOrders, UsdM) => "/fapi/v1/openOrders",
            (Rest::OpenOrders, CoinM) => "/dapi/v1/openOrders",
            (Rest::CancelAll, Spot) => "/api/v3/openOrders",
            (Rest::CancelAll, UsdM) => "/fapi/v1/allOpenOrders",
            (Rest::CancelAll, CoinM) => "/dapi/v1/allOpenOrders",
            (Rest::Account, Spot) => "/api/v3/account",
            (Rest::Account, UsdM) => "/fapi/v2/account",
            (Rest::Account, CoinM) => "/dapi/v1/account",
            (Rest::Balance, Spot) => return None,
            (Rest::Balance, UsdM) => "/fapi/v2/balance",
            (Rest::Balance, CoinM) => "/dapi/v1/balance",
            (Rest::PositionRisk, Spot) => return None,
            (Rest::PositionRisk, UsdM) => "/fapi/v2/positionRisk",
            (Rest::PositionRisk, CoinM) => "/dapi/v1/positionRisk",
            (Rest::Leverage, Spot) => return None,
            (Rest::Leverage, UsdM) => "/fapi/v1/leverage",
            (Rest::Leverage, CoinM) => "/dapi/v1/leverage",
            (Rest::LeverageBracket, Spot) => return None,
            (Rest::LeverageBracket, UsdM) => "/fapi/v1/leverageBracket",
            (Rest::LeverageBracket, CoinM) => "/dapi/v2/leverageBracket",
            (Rest::MarginType, Spot) => return None,
            (Rest::MarginType, UsdM) => "/fapi/v1/marginType",
            (Rest::MarginType, CoinM) => "/dapi/v1/marginType",
            (Rest::ListenKey, Spot) => "/api/v3/userDataStream",
            (Rest::ListenKey, UsdM) => "/fapi/v1/listenKey",
            (Rest::ListenKey, CoinM) => "/dapi/v1/listenKey",
        })
    }

    /// The path on `market`, for endpoints every market has (`/` otherwise, which
    /// Binance answers 404).
    pub fn on(self, market: Market) -> &'static str {
        self.path(market).unwrap_or("/")
    }
}

/// The endpoint at `path` on `market`, as the local exchange routes requests: its own
/// path, or for the futures account endpoints the other documented version (v2 and
/// v3 answer alike here). Spot's `openOrders` path is also its cancel-all
/// ([`Rest::OpenOrders`]; the method tells them apart).
pub fn route(market: Market, path: &str) -> Option<Rest> {
    if let Some(r) = Rest::ALL.into_iter().find(|r| r.path(market) == Some(path)) {
        return Some(r);
    }
    if market.is_futures() {
        let other = path.replacen("/v3/", "/v2/", 1);
        return [Rest::Account, Rest::Balance, Rest::PositionRisk]
            .into_iter()
            .find(|r| r.path(market) == Some(other.as_str()));
    }
    None
}

/// What a WebSocket request asks for: the streams, combined (`/stream?streams=a/b`,
/// each message wrapped with its stream's name) or raw (`/ws/<stream>`, which is also
/// how a user data stream is opened, by its listen key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// Stream names (or the one listen key).
    pub streams: Vec<String>,
    /// Combined (wrapped) messages.
    pub combined: bool,
}

/// The streams a WebSocket `path` and `query` ask for; `None` for another path.
pub fn stream_request(path: &str, query: &str) -> Option<StreamRequest> {
    if let Some(one) = path.strip_prefix("/ws/") {
        return (!one.is_empty()).then(|| StreamRequest {
            streams: vec![one.to_string()],
            combined: false,
        });
    }
    if path == "/stream" {
        let params = super::params::Params::parse(query, "").ok()?;
        let v: Vec<String> = params
            .get("streams")?
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return (!v.is_empty()).then_some(StreamRequest {
            streams: v,
            combined: true,
        });
    }
    None
}

/// The market-stream path of a combined-streams session for `symbol`
/// (`/stream?streams=btcusdt@depth@100ms/btcusdt@trade`).
pub fn combined_streams(symbol: &str, streams: &[String]) -> String {
    let sym = symbol.to_ascii_lowercase();
    let names: Vec<String> = streams.iter().map(|s| format!("{sym}@{s}")).collect();
    format!("/stream?streams={}", names.join("/"))
}

/// The user data stream of a listen key (`/ws/<listenKey>`).
pub fn user_stream(listen_key: &str) -> String {
    format!("/ws/{listen_key}")
}

/// The streams recorded and traded by default: the diff depth at the market's
/// fastest public speed (spot 100 ms, futures every change), then trades.
pub fn depth_stream(market: Market) -> &'static str {
    if market.is_futures() {
        "depth@0ms"
    } else {
        "depth@100ms"
    }
}

/// Levels per side of a REST snapshot: the most each market gives in one call.
pub fn snapshot_limit(market: Market) -> u32 {
    if market.is_futures() { 1000 } else { 5000 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_m_goes_to_coin_m_hosts_and_paths() {
        let h = Environment::Live.hosts(Market::CoinM, "x");
        assert!(h.rest.contains("dapi.binance.com") && h.ws.contains("dstream"));
        assert_eq!(Rest::Order.on(Market::CoinM), "/dapi/v1/order");
        assert_eq!(Rest::Oco.path(Market::UsdM), None);
        assert_eq!(
            Environment::Local.hosts(Market::UsdM, "127.0.0.1:9").rest,
            "127.0.0.1:9"
        );
        assert_eq!(
            combined_streams("BTCUSDT", &["depth@100ms".into(), "trade".into()]),
            "/stream?streams=btcusdt@depth@100ms/btcusdt@trade"
        );
        for r in Rest::ALL {
            assert!(r.path(Market::UsdM).is_none_or(|p| p.starts_with("/fapi/")));
            for m in [Market::Spot, Market::UsdM, Market::CoinM] {
                if let Some(p) = r.path(m) {
                    let got = route(m, p).unwrap();
                    assert_eq!(got.path(m), Some(p), "{r:?} {m:?}");
                }
            }
        }
        assert_eq!(route(Market::UsdM, "/fapi/v3/account"), Some(Rest::Account));
        assert_eq!(route(Market::Spot, "/fapi/v1/order"), None);
        let s = stream_request("/stream", "streams=a@trade/b@depth").unwrap();
        assert_eq!((s.streams.len(), s.combined), (2, true));
        assert!(!stream_request("/ws/abc", "").unwrap().combined);
        assert_eq!(stream_request("/stream", ""), None);
        assert_eq!(stream_request("/other", ""), None);
    }
}
