//! What a running pipeline shows the outside: a [`Status`] snapshot a few times a
//! second, kept on a [`StatusBoard`] and served read-only on a Unix socket as JSON
//! lines (`minerva run --status PATH`), for `minerva view` (docs/visualize.md).
//!
//! Cold path only. The pipeline's threads copy fixed-size parts into preallocated
//! slots when the publisher asks (`pipeline::status`); the publisher thread turns
//! them into a [`Status`] here, off the hot path, and the socket's threads write it.

mod socket;
pub mod watch;

pub use socket::{StatusServer, read_feed, serve};

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Why the status socket could not be served or read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Another process serves this socket.
    #[error("{0}: another process is serving a status socket there")]
    InUse(String),
    /// The socket could not be created or connected.
    #[error("{path}: {source}")]
    Io {
        /// The socket's path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line that is not a status snapshot.
    #[error("{path}: not a Minerva status stream ({reason})")]
    Malformed {
        /// The socket's path.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// One snapshot of a running pipeline. Prices and quantities are decimals for
/// display (the hot path's integers, converted by the symbol's grids).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The symbol.
    pub symbol: String,
    /// Where the market data comes from (`replay`, a ws:// address, a venue).
    pub source: String,
    /// Where orders go: the simulated exchange (paper) or a venue (live).
    pub trading: String,
    /// Wall clock of the snapshot, ms since the epoch.
    pub at_ms: u64,
    /// Seconds since the run started.
    pub uptime_s: f64,
    /// Snapshots published so far (a viewer sees it advance).
    pub seq: u64,
    /// Decimals of the price grid (for display).
    pub price_decimals: u8,
    /// Decimals of the quantity grid.
    pub qty_decimals: u8,
    /// The book: in sync or not, the nearest levels.
    pub book: BookStatus,
    /// The oracle's reading of the book now.
    pub bins: BinsStatus,
    /// The last trades, newest first.
    pub trades: Vec<TradeRow>,
    /// Mid prices at the last snapshots, oldest first (the sparkline).
    pub prices: Vec<f64>,
    /// Operations in flight.
    pub operations: Vec<OperationRow>,
    /// The account as the risk manager keeps it.
    pub account: AccountStatus,
    /// Latency per stage, since the start.
    pub latency: Vec<LatencyRow>,
    /// Counters.
    pub counters: Counters,
    /// The oracle's last proposal.
    pub last_intent: Option<IntentRow>,
    /// A run of several symbols: a line per symbol, in the feed's order (the panels
    /// above show the first; the account sums them all). Empty for one symbol.
    #[serde(default)]
    pub symbols: Vec<SymbolRow>,
    /// A run of several symbols: the other symbols' panels (book, bins, trades,
    /// operations, account, their counters), in the feed's order after the first;
    /// the run's latency and rings are the snapshot's own.
    #[serde(default)]
    pub details: Vec<Status>,
}

/// One symbol of a run of several: its book, oracle and trader at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolRow {
    /// The symbol.
    pub symbol: String,
    /// Its book is in sync with the stream.
    pub live: bool,
    /// Best bid, if any.
    pub bid: Option<f64>,
    /// Best ask, if any.
    pub ask: Option<f64>,
    /// Its oracle's last ask share, 0–1.
    pub pressure: f64,
    /// Oracle evaluations.
    pub evaluations: u64,
    /// Depth events applied, gaps found, resyncs completed.
    pub applied: u64,
    /// Gaps.
    pub gaps: u64,
    /// Resyncs.
    pub resyncs: u64,
    /// Crossed books seen (each resyncs).
    #[serde(default)]
    pub crosses: u64,
    /// Net position, quantity.
    pub position: f64,
    /// Operations in flight.
    pub in_flight: usize,
    /// Operations accepted and refused by its risk manager.
    pub accepted: u64,
    /// Refused.
    pub refused: u64,
    /// Realised PnL net of fees, quote.
    pub realised: f64,
    /// Unrealised PnL at its last trade, quote.
    pub unrealised: f64,
}

/// The book's nearest levels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BookStatus {
    /// In sync with the stream.
    pub live: bool,
    /// Bids from the best down: (price, quantity).
    pub bids: Vec<(f64, f64)>,
    /// Asks from the best up.
    pub asks: Vec<(f64, f64)>,
}

/// The book's bins as the oracle reads them, both sides, with walls and voids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BinsStatus {
    /// Bin width in price.
    pub bin_size: f64,
    /// Ask share of the counted volume, 0–1.
    pub pressure: f64,
    /// The oracle goes long at or below this share…
    pub long_at: f64,
    /// …and short at or above this one.
    pub short_at: f64,
    /// `long`, `short`, or none.
    pub leaning: Option<String>,
    /// Bids, bin by bin from the touch down.
    pub bids: Vec<BinRow>,
    /// Asks, from the touch up.
    pub asks: Vec<BinRow>,
    /// Wall thresholds (bids, asks), quantity.
    pub wall_threshold: (f64, f64),
    /// Void thresholds (bids, asks), quantity.
    pub void_threshold: (f64, f64),
}

/// One price bin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BinRow {
    /// The bin's lowest price.
    pub price: f64,
    /// Resting quantity.
    pub qty: f64,
    /// Traded quantity in the volume window.
    pub traded: f64,
    /// A wall (peak of resting quantity).
    pub wall: bool,
    /// A void (peak of −(resting + traded)).
    pub void: bool,
}

/// A trade.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TradeRow {
    /// Exchange time, ms.
    pub ms: u64,
    /// Price.
    pub price: f64,
    /// Quantity.
    pub qty: f64,
    /// The buyer took liquidity.
    pub buy: bool,
}

/// An operation in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationRow {
    /// Its id.
    pub id: u64,
    /// `long` or `short`.
    pub side: String,
    /// `entry`, `withdrawing` or `open`.
    pub phase: String,
    /// Entry price.
    pub entry: f64,
    /// Take profit.
    pub take_profit: f64,
    /// Stop loss.
    pub stop_loss: f64,
    /// Size.
    pub qty: f64,
    /// Held now.
    pub held: f64,
    /// Unrealised PnL at the last trade, quote.
    pub pnl: f64,
    /// PnL at the take profit, net of fees.
    pub pnl_at_tp: f64,
    /// PnL at the stop, net of fees.
    pub pnl_at_sl: f64,
}

/// The account as the risk manager keeps it, quote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// Capital operations are sized from.
    pub capital: f64,
    /// Realised PnL net of fees.
    pub realised: f64,
    /// Fees paid.
    pub fees: f64,
    /// Unrealised PnL of the open positions.
    pub unrealised: f64,
    /// Capital + realised + unrealised.
    pub equity: f64,
    /// Net position, quantity.
    pub position: f64,
    /// Operations in flight.
    pub in_flight: usize,
    /// Operations accepted, refused and closed by the risk manager.
    pub accepted: u64,
    /// Refused.
    pub refused: u64,
    /// Closed.
    pub closed: u64,
    /// The kill switch is on.
    pub killed: bool,
}

/// One latency series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Its name (`feed_decode`, `book`, `tick_to_trade`, …).
    pub stage: String,
    /// Samples.
    pub count: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Maximum, ns.
    pub max_ns: u64,
    /// Mean, ns (a Prometheus summary's sum is mean × count).
    #[serde(default)]
    pub mean_ns: f64,
}

/// One ring's traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RingRow {
    /// `feed→book`, `book→signal`, `signal→gateway`.
    pub name: String,
    /// Messages carried.
    pub messages: u64,
    /// Times the producer found it full.
    pub stalls: u64,
}

/// The run's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// Malformed frames.
    pub decode_errors: u64,
    /// Depth events applied.
    pub applied: u64,
    /// Sequence gaps found.
    pub gaps: u64,
    /// Resyncs completed.
    pub resyncs: u64,
    /// Crossed books.
    pub crosses: u64,
    /// Oracle evaluations.
    pub evaluations: u64,
    /// Intents proposed.
    pub intents: u64,
    /// Entries sent.
    pub orders: u64,
    /// Fills of our orders.
    pub fills: u64,
    /// The rings.
    pub rings: Vec<RingRow>,
}

/// The oracle's last proposal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentRow {
    /// `long` or `short`.
    pub side: String,
    /// Entry.
    pub entry: f64,
    /// Take profit.
    pub take_profit: f64,
    /// Stop loss.
    pub stop_loss: f64,
    /// The wall it leans on.
    pub support_wall: f64,
    /// The wall it targets.
    pub target_wall: f64,
    /// The void's price.
    pub void_price: f64,
    /// Ask share at the decision, 0–1.
    pub pressure: f64,
}

/// The latest [`Status`] of a run, for any number of readers (the in-process view,
/// the socket's clients). Readers wait for a newer one; nothing here is on the hot
/// path.
#[derive(Debug)]
pub struct StatusBoard {
    period: Duration,
    state: Mutex<Board>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Board {
    version: u64,
    latest: Option<Arc<Status>>,
    closed: bool,
}

impl StatusBoard {
    /// A board refreshed every `period` (clamped to 100 ms – 10 s: "a few times a
    /// second" at most).
    pub fn new(period: Duration) -> Arc<Self> {
        Arc::new(Self {
            period: period.clamp(Duration::from_millis(100), Duration::from_secs(10)),
            state: Mutex::new(Board::default()),
            changed: Condvar::new(),
        })
    }

    /// How often the publisher refreshes it.
    pub fn period(&self) -> Duration {
        self.period
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        // A reader that panicked holding the lock left a valid board behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a snapshot and wakes the readers.
    pub fn publish(&self, s: Status) {
        let mut b = self.lock();
        b.version += 1;
        b.latest = Some(Arc::new(s));
        self.changed.notify_all();
    }

    /// The run ended: readers get what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// The run ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The latest snapshot and its version.
    pub fn latest(&self) -> Option<(u64, Arc<Status>)> {
        let b = self.lock();
        b.latest.clone().map(|s| (b.version, s))
    }

    /// Waits up to `timeout` for a snapshot newer than version `seen`. `Err(())` once
    /// the board is closed and nothing newer is left.
    #[allow(clippy::result_unit_err)]
    pub fn wait_newer(
        &self,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<(u64, Arc<Status>)>, ()> {
        let mut b = self.lock();
        let until = std::time::Instant::now() + timeout;
        loop {
            if b.version > seen {
                return Ok(b.latest.clone().map(|s| (b.version, s)));
            }
            if b.closed {
                return Err(());
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            b = self
                .changed
                .wait_timeout(b, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
