//! The exchanges Minerva speaks to, one folder each. Everything a venue's protocol says
//! (hosts, paths, signing, message shapes, error codes, the book's sequence rule)
//! lives in its folder and nowhere else; the rest of Minerva sees only the boundary
//! below.
//!
//! # The venue boundary
//!
//! Enums, one variant per venue, so the hot path dispatches with a `match` (no
//! virtual call, no allocation) and adding a venue is adding a variant the compiler
//! then asks for everywhere it matters:
//!
//! * [`OrderSigner`]: the trader's typed [`OrderRequest`]s written as the venue's
//!   signed request bytes (hot path);
//! * [`LiveLink`]: a venue's live order link — sends those bytes, follows each order
//!   by its answers and the private stream, and brings back [`Execution`](crate::core::Execution)s;
//! * a venue's market data: its decoder fills the same fixed-size `MarketEvent`s
//!   (`venues::binance::wire`, `venues::kucoin::wire`), its live source implements
//!   `feed::Source`, and the book follows its sequence rule (`venues::sequence`: one
//!   statement covers both venues).
//!
//! A second venue (KuCoin) adds a folder beside `binance/` and a variant to each.

pub mod binance;
pub(crate) mod encode;
pub mod feed;
pub mod keys;
pub mod kucoin;
pub mod link;
pub mod recorded;
pub(crate) mod scan;
pub mod sequence;
pub mod wire;

use crate::core::{DepthSnapshot, MarketEvent, OrderRequest, SymbolSpec};
use wire::{DecodeError, DecodePath, DecodeStats, Decoded, SymbolTable};

pub use crate::core::Venue;
pub use feed::{FeedConfig, FeedSource};

/// A symbol list answer, Binance's exchangeInfo or KuCoin's symbols, by its shape.
///
/// # Errors
/// The reader's reason, as text, when the answer is none of them.
pub fn parse_symbol_list(json: &[u8]) -> Result<Vec<SymbolSpec>, String> {
    match Venue::of_answer(json) {
        Venue::Binance => binance::exchange_info::parse_exchange_info(json, None)
            .map(|ei| ei.specs)
            .map_err(|e| e.to_string()),
        // Futures contracts carry a `multiplier`; spot symbols never do.
        Venue::Kucoin if json.windows(12).any(|w| w == b"\"multiplier\"") => {
            kucoin::contracts::parse_contracts(json)
                .map(|c| c.specs)
                .map_err(|e| e.to_string())
        }
        Venue::Kucoin => kucoin::symbols::parse_symbols(json)
            .map(|s| s.specs)
            .map_err(|e| e.to_string()),
    }
}

/// Which venue wrote a recorded message (the venues' shapes, known here only).
impl Venue {
    /// The venue a recorded WebSocket message comes from, by its shape: KuCoin's
    /// classic frames carry `"topic"` and `"type"`, its unified-account pushes a
    /// `"T"` naming the channel (Binance's `"T"` is always a number). Cold.
    pub fn of_frame(json: &[u8]) -> Venue {
        let has = |k: &[u8]| json.windows(k.len()).any(|w| w == k);
        if has(b"\"topic\":\"/")
            || has(b"\"type\":\"welcome\"")
            || has(b"\"T\":\"obu.")
            || has(b"\"T\":\"trade.")
        {
            Venue::Kucoin
        } else {
            Venue::Binance
        }
    }

    /// The venue of a REST answer: KuCoin wraps every answer in
    /// `{"code":"200000","data":…}` — its code a string, where Binance's error answers
    /// carry a number (`{"code":-1121,"msg":…}`). Cold.
    pub fn of_answer(json: &[u8]) -> Venue {
        let start = json.iter().position(|c| !c.is_ascii_whitespace());
        if start.is_some_and(|i| json[i..].starts_with(b"{\"code\":\"")) {
            Venue::Kucoin
        } else {
            Venue::Binance
        }
    }
}

/// A venue's market-data decoder: frames in, the same fixed-size [`MarketEvent`]s out.
pub enum MarketDecoder {
    /// Binance's (`venues::binance::wire`).
    Binance(binance::Decoder),
    /// KuCoin's (`venues::kucoin::wire`).
    Kucoin(kucoin::Decoder),
}

impl MarketDecoder {
    /// A decoder of `venue`'s frames for these symbols, accepting up to `max_levels`
    /// levels per frame.
    pub fn new(venue: Venue, table: SymbolTable, max_levels: usize) -> Self {
        match venue {
            Venue::Binance => MarketDecoder::Binance(binance::Decoder::new(table, max_levels)),
            Venue::Kucoin => MarketDecoder::Kucoin(kucoin::Decoder::new(table, max_levels)),
        }
    }

    /// A decoder of `spec`'s venue that knows only `spec` (one symbol's pipeline,
    /// report or view).
    pub fn for_symbol(spec: &SymbolSpec) -> Self {
        let mut table = SymbolTable::new();
        table.insert(spec.clone());
        Self::new(spec.venue, table, wire::DEFAULT_MAX_LEVELS)
    }

    /// Its venue.
    pub fn venue(&self) -> Venue {
        match self {
            MarketDecoder::Binance(_) => Venue::Binance,
            MarketDecoder::Kucoin(_) => Venue::Kucoin,
        }
    }

    /// Decodes one frame, handing each event to `sink`.
    ///
    /// # Hot path: no allocation for well-formed frames.
    ///
    /// # Errors
    /// [`DecodeError`] for a malformed frame; nothing reaches the sink then.
    #[inline]
    pub fn decode<F: FnMut(&MarketEvent)>(
        &mut self,
        frame: &[u8],
        recv_ns: u64,
        sink: &mut F,
    ) -> Result<Decoded, DecodeError> {
        match self {
            MarketDecoder::Binance(d) => d.decode(frame, recv_ns, sink),
            MarketDecoder::Kucoin(d) => d.decode(frame, recv_ns, sink),
        }
    }

    /// Chooses the JSON reader.
    pub fn set_path(&mut self, path: DecodePath) {
        match self {
            MarketDecoder::Binance(d) => d.set_path(path),
            MarketDecoder::Kucoin(d) => d.set_path(path),
        }
    }

    /// The symbol table.
    pub fn table(&self) -> &SymbolTable {
        match self {
            MarketDecoder::Binance(d) => d.table(),
            MarketDecoder::Kucoin(d) => d.table(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        match self {
            MarketDecoder::Binance(d) => d.stats(),
            MarketDecoder::Kucoin(d) => d.stats(),
        }
    }
}

/// Why a venue's REST depth snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Binance's.
    #[error(transparent)]
    Binance(#[from] binance::snapshot::SnapshotError),
    /// KuCoin's.
    #[error(transparent)]
    Kucoin(#[from] kucoin::snapshot::SnapshotError),
}

/// Reads `venue`'s REST depth snapshot onto a symbol's grid. Cold.
///
/// # Errors
/// [`SnapshotError`] for a malformed answer, a refusal or a level off the grid.
pub fn parse_depth_snapshot(
    venue: Venue,
    json: &[u8],
    spec: &SymbolSpec,
) -> Result<DepthSnapshot, SnapshotError> {
    Ok(match venue {
        Venue::Binance => binance::snapshot::parse_snapshot(json, spec)?,
        Venue::Kucoin => kucoin::snapshot::parse_snapshot(json, spec)?,
    })
}

/// Longest signed request a venue's encoder writes.
pub const MAX_WIRE_REQUEST: usize = 512;

/// A signed request's bytes, in a fixed buffer (no allocation on the order path).
pub type WireRequest = arrayvec::ArrayVec<u8, MAX_WIRE_REQUEST>;

/// Why a request could not be written in a venue's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Longer than [`MAX_WIRE_REQUEST`].
    #[error("request longer than {MAX_WIRE_REQUEST} bytes")]
    TooLong,
    /// A symbol or client id with characters the venue does not accept.
    #[error("symbol or client order id has characters the venue does not accept")]
    BadText,
    /// A negative or zero quantity, or a price the grid cannot write.
    #[error("quantity and limit price must be positive and on the grid")]
    BadNumber,
    /// An order type the venue's API used here does not take (KuCoin's HF spot has
    /// no stop and no OCO).
    #[error("an order type this venue does not take")]
    Unsupported,
}

/// A refusal in the venue's words: its code and message (reports name refusals as
/// the venue would answer them). Every market is Binance's until a second venue's
/// symbols carry their venue.
pub fn reject_words(r: crate::core::Reject, market: crate::core::Market) -> (i32, &'static str) {
    (
        binance::errors::code(r, market).number(),
        binance::errors::message(r, market),
    )
}

/// True when the venue takes no stop order for `spec`, so the trader holds an
/// operation's stop itself and sends a market order when a trade reaches it: KuCoin's
/// HF spot orders. Binance holds stops on the exchange (OCO, `STOP_MARKET`). A
/// backtest of the venue's data holds them the same way.
pub fn holds_stops(spec: &SymbolSpec) -> bool {
    spec.venue == Venue::Kucoin && !spec.market.is_futures()
}

/// A venue's order signer.
#[derive(Clone)]
pub enum OrderSigner {
    /// Binance's HMAC-SHA256 query signing.
    Binance(binance::sign::Signer),
    /// KuCoin's signed HF order requests (spot).
    Kucoin(kucoin::sign::Signer),
}

impl OrderSigner {
    /// `req` as the venue's signed request bytes.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`EncodeError`] for text or numbers the venue would refuse.
    #[inline]
    pub fn encode(
        &self,
        spec: &SymbolSpec,
        req: &OrderRequest,
    ) -> Result<WireRequest, EncodeError> {
        match self {
            OrderSigner::Binance(s) => binance::orders::encode(s, spec, req),
            OrderSigner::Kucoin(s) => kucoin::orders::encode(s, spec, req),
        }
    }
}

impl From<kucoin::sign::Signer> for OrderSigner {
    fn from(s: kucoin::sign::Signer) -> Self {
        OrderSigner::Kucoin(s)
    }
}

impl From<binance::sign::Signer> for OrderSigner {
    fn from(s: binance::sign::Signer) -> Self {
        OrderSigner::Binance(s)
    }
}

/// The account as the venue showed it at one moment: balances of the asset the symbol's
/// money is in, and the symbol's position, as the exchange wrote them (the audit
/// journal's account rows). Cold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSnapshot {
    /// `start`, `periodic`, `exit` (read over REST) or `stream` (an account event).
    pub why: &'static str,
    /// The symbol the position is of (a run of several symbols has a link each).
    pub symbol: String,
    /// The exchange's time of it, ms.
    pub exchange_ms: i64,
    /// The asset the balances are in (quote; the coin on COIN-M).
    pub asset: String,
    /// Wallet balance (spot: free + locked).
    pub wallet: Option<String>,
    /// Available for new orders (futures: available or cross wallet; spot: free).
    pub available: Option<String>,
    /// The symbol's position (spot: the base asset's balance).
    pub position: Option<String>,
    /// Its entry price (futures).
    pub entry_price: Option<String>,
    /// Its unrealised PnL (futures).
    pub unrealised: Option<String>,
    /// Its isolated margin (futures); spot: the quote locked in orders.
    pub margin: Option<String>,
    /// Its leverage (futures, REST reads).
    pub leverage: Option<u32>,
    /// What the venue said caused it (an event's reason).
    pub detail: String,
}

/// Where a live link hands its account snapshots (the journal), and how often it
/// reads the account besides start, exit and the stream's events.
#[derive(Clone)]
pub struct AccountSink {
    /// Called on the link's account thread or its order thread; must not block long.
    pub f: std::sync::Arc<dyn Fn(AccountSnapshot) + Send + Sync>,
    /// The period of the REST reads.
    pub every: std::time::Duration,
}

impl std::fmt::Debug for AccountSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountSink(every {:?})", self.every)
    }
}

/// What the live link does with a position or open orders it did not place, found on
/// the account at start (`minerva run --on-start`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnStart {
    /// Refuse to start, naming them (the default: nothing is traded around a position
    /// nobody decided on).
    #[default]
    Refuse,
    /// Trade around them (the risk manager does not count them).
    Adopt,
    /// Cancel the orders and close the position with a reduce-only market order, then
    /// start flat.
    Flatten,
}

/// Where and how a venue's live link trades.
#[derive(Debug, Clone)]
pub enum LinkConfig {
    /// Binance.
    Binance(binance::link::LinkConfig),
    /// KuCoin (spot).
    Kucoin(kucoin::link::LinkConfig),
}

impl LinkConfig {
    /// Connects the link (start-up reconciliation included). Cold.
    ///
    /// # Errors
    /// What the venue refused or the network failed, as text for the run's error.
    pub fn start(self) -> Result<LiveLink, String> {
        match self {
            LinkConfig::Binance(c) => binance::link::LiveLink::start(c).map_err(|e| e.to_string()),
            LinkConfig::Kucoin(c) => kucoin::link::start(c).map_err(|e| e.to_string()),
        }
    }
}

impl LinkConfig {
    /// The same link for `spec` (a run of several symbols starts one per symbol: its
    /// own order connection and user data stream, events of other symbols ignored).
    /// A KuCoin futures link gets terms of its own: each contract's leverage and
    /// margin mode are settled at its start (the trader writes with
    /// [`Self::signer_of`]).
    pub fn for_symbol(&self, spec: &SymbolSpec) -> Self {
        let mut c = self.clone();
        match &mut c {
            LinkConfig::Binance(b) => b.spec = spec.clone(),
            LinkConfig::Kucoin(k) => {
                if k.spec.name != spec.name {
                    k.terms = Default::default();
                }
                k.spec = spec.clone();
            }
        }
        c
    }

    /// The signer a trader on this link writes its orders with: `signer`, and for
    /// KuCoin the futures terms this link settles (leverage, margin mode).
    pub fn signer_of(&self, signer: &OrderSigner) -> OrderSigner {
        match (self, signer) {
            (LinkConfig::Kucoin(k), OrderSigner::Kucoin(s)) => {
                OrderSigner::Kucoin(s.clone().with_terms(k.terms.clone()))
            }
            _ => signer.clone(),
        }
    }
}

impl From<binance::link::LinkConfig> for LinkConfig {
    fn from(c: binance::link::LinkConfig) -> Self {
        LinkConfig::Binance(c)
    }
}

pub use link::LiveLink;

/// What a live link measured and counted, for the run report.
#[derive(Debug, Clone)]
pub struct LinkReport {
    /// Clock offset and what start-up found, as text.
    pub startup: String,
    /// Counters by name.
    pub counters: Vec<(&'static str, u64)>,
    /// Frame received → order bytes written to the socket, ns.
    pub tick_to_wire: hdrhistogram::Histogram<u64>,
    /// Order request written → its answer read (the REST round trip), ns.
    pub order_rtt: hdrhistogram::Histogram<u64>,
}

impl LinkReport {
    /// The links of a run of several symbols as one report: counters summed,
    /// latencies merged, each start-up named by its symbol. Cold.
    pub fn merged(links: impl IntoIterator<Item = (String, LinkReport)>) -> Option<LinkReport> {
        let mut all: Option<LinkReport> = None;
        for (name, r) in links {
            match all.as_mut() {
                None => {
                    all = Some(LinkReport {
                        startup: format!("{name}: {}", r.startup),
                        ..r
                    })
                }
                Some(a) => {
                    a.startup = format!("{}; {name}: {}", a.startup, r.startup);
                    for (k, v) in r.counters {
                        match a.counters.iter_mut().find(|(n, _)| *n == k) {
                            Some((_, total)) => *total += v,
                            None => a.counters.push((k, v)),
                        }
                    }
                    // Same bounds on every link: adding cannot fail.
                    let _ = a.tick_to_wire.add(&r.tick_to_wire);
                    let _ = a.order_rtt.add(&r.order_rtt);
                }
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_says_which_venue_wrote_it() {
        let binance = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":1,"u":2,"b":[],"a":[]}}"#;
        let kucoin = br#"{"data":{"sequenceStart":1,"sequenceEnd":1,"symbol":"BTC-USDT","changes":{"asks":[],"bids":[]}},"subject":"trade.l2update","topic":"/market/level2:BTC-USDT","type":"message"}"#;
        assert_eq!(Venue::of_frame(binance), Venue::Binance);
        assert_eq!(Venue::of_frame(kucoin), Venue::Kucoin);
        assert_eq!(
            Venue::of_frame(br#"{"id":"x","type":"welcome"}"#),
            Venue::Kucoin
        );
        assert_eq!(
            Venue::of_answer(br#" {"code":"200000","data":[]}"#),
            Venue::Kucoin
        );
        assert_eq!(
            Venue::of_answer(br#"{"lastUpdateId":1,"bids":[],"asks":[]}"#),
            Venue::Binance
        );
        // Binance's error answers start with a numeric `code`.
        assert_eq!(
            Venue::of_answer(br#"{"code":-1121,"msg":"Invalid symbol."}"#),
            Venue::Binance
        );
        assert_eq!(
            Venue::of_answer(br#"{"code":"400100","msg":"bad"}"#),
            Venue::Kucoin
        );
    }
}
