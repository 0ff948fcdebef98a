//! Market-data messages and answers in Binance's shapes (serde), as the local exchange
//! writes them: `time`, `depth`, `klines` rows, and the `aggTrade` and `kline` stream
//! events it makes from the recorded trades. (Reading market data is the hot-path
//! decoders' job: [`super::wire`].)

use serde::Serialize;

/// `GET time`'s answer.
#[derive(Serialize)]
pub struct ServerTime {
    /// `serverTime`.
    #[serde(rename = "serverTime")]
    pub server_time: i64,
}

/// `GET depth`'s answer.
#[derive(Serialize)]
pub struct Depth {
    /// `lastUpdateId`.
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// Message time (futures).
    #[serde(rename = "E", skip_serializing_if = "Option::is_none")]
    pub event_ms: Option<u64>,
    /// Transaction time (futures).
    #[serde(rename = "T", skip_serializing_if = "Option::is_none")]
    pub transact_ms: Option<u64>,
    /// `bids`.
    pub bids: Vec<[String; 2]>,
    /// `asks`.
    pub asks: Vec<[String; 2]>,
}

/// An aggregate trade event (`<symbol>@aggTrade`).
#[derive(Serialize)]
pub struct AggTrade<'a> {
    /// `e`.
    pub e: &'static str,
    /// `E`.
    #[serde(rename = "E")]
    pub event_ms: u64,
    /// `s`.
    pub s: &'a str,
    /// `a`.
    pub a: u64,
    /// `p`.
    pub p: String,
    /// `q`.
    pub q: String,
    /// `f`.
    pub f: u64,
    /// `l`.
    pub l: u64,
    /// `T`.
    #[serde(rename = "T")]
    pub trade_ms: u64,
    /// `m`.
    pub m: bool,
    /// Spot only ("ignore", always true).
    #[serde(rename = "M", skip_serializing_if = "Option::is_none")]
    pub best_match: Option<bool>,
}

/// A kline's candle.
#[derive(Serialize)]
pub struct KlineBody<'a> {
    /// `t`.
    pub t: u64,
    /// `T`.
    #[serde(rename = "T")]
    pub close_ms: u64,
    /// `s`.
    pub s: &'a str,
    /// `i`.
    pub i: &'static str,
    /// `f`.
    pub f: u64,
    /// `L`.
    #[serde(rename = "L")]
    pub last_id: u64,
    /// `o`.
    pub o: String,
    /// `c`.
    pub c: String,
    /// `h`.
    pub h: String,
    /// `l`.
    pub l: String,
    /// `v`.
    pub v: String,
    /// `n`.
    pub n: u64,
    /// `x`.
    pub x: bool,
    /// `q`.
    pub q: String,
    /// `V`.
    #[serde(rename = "V")]
    pub taker_buy: String,
    /// `Q`.
    #[serde(rename = "Q")]
    pub taker_buy_quote: String,
    /// `B`.
    #[serde(rename = "B")]
    pub ignore: &'static str,
}

/// A kline event (`<symbol>@kline_1m`).
#[derive(Serialize)]
pub struct Kline<'a> {
    /// `e`.
    pub e: &'static str,
    /// `E`.
    #[serde(rename = "E")]
    pub event_ms: u64,
    /// `s`.
    pub s: &'a str,
    /// `k`.
    pub k: KlineBody<'a>,
}

/// A combined-stream message: the event wrapped with its stream's name.
#[derive(Serialize)]
pub struct Combined<'a, T> {
    /// `stream`.
    pub stream: &'a str,
    /// `data`.
    pub data: &'a T,
}

/// One REST `klines` row: open time, o, h, l, c, volume, close time, quote volume,
/// trades, taker buy volume, taker buy quote volume, ignore.
pub type KlineRow = (
    u64,
    String,
    String,
    String,
    String,
    String,
    u64,
    String,
    u64,
    String,
    String,
    &'static str,
);
