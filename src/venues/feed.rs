//! A venue's live market-data feed behind one face: its configuration
//! ([`FeedConfig`]) and the source it opens ([`FeedSource`], a `feed::Source`),
//! one variant per venue, dispatched with a `match` per frame (no virtual call).

use super::binance::stream::{LiveConfig, LiveSource, SpecFetchError};
use super::kucoin::stream::{FeedConfig as KucoinFeed, KucoinSource, SpecError};
use crate::core::SymbolSpec;
use crate::feed::{Frame, LiveStats, Source};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Where and what a live feed reads.
#[derive(Debug, Clone)]
pub enum FeedConfig {
    /// Binance's combined streams (or `minerva exchange` speaking Binance).
    Binance(LiveConfig),
    /// KuCoin's public WebSocket (or the local KuCoin venue).
    Kucoin(KucoinFeed),
}

/// Why a feed's symbol grids could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedSpecError {
    /// From Binance's exchangeInfo.
    #[error(transparent)]
    Binance(#[from] SpecFetchError),
    /// From KuCoin's symbol or contract list.
    #[error(transparent)]
    Kucoin(#[from] SpecError),
}

impl FeedConfig {
    /// `server/symbol`, for logs and the status board.
    pub fn name(&self) -> String {
        match self {
            FeedConfig::Binance(c) => format!("{}/{}", c.host, c.symbol),
            FeedConfig::Kucoin(c) => format!("{}/{}", c.rest, c.symbol),
        }
    }

    /// The symbol read.
    pub fn symbol(&self) -> &str {
        match self {
            FeedConfig::Binance(c) => &c.symbol,
            FeedConfig::Kucoin(c) => &c.symbol,
        }
    }

    /// Spot or futures.
    pub fn market(&self) -> crate::core::Market {
        match self {
            FeedConfig::Binance(c) => c.market,
            FeedConfig::Kucoin(c) => c.market,
        }
    }

    /// The symbol's grids from the venue. Cold.
    ///
    /// # Errors
    /// [`FeedSpecError`] when the venue cannot be asked or does not list the symbol.
    pub fn fetch_spec(&self) -> Result<SymbolSpec, FeedSpecError> {
        Ok(match self {
            FeedConfig::Binance(c) => c.fetch_spec()?,
            FeedConfig::Kucoin(c) => c.fetch_spec()?,
        })
    }

    /// Every symbol's grids, in the order the source reads them. Cold.
    ///
    /// # Errors
    /// As [`Self::fetch_spec`].
    pub fn fetch_specs(&self) -> Result<Vec<SymbolSpec>, FeedSpecError> {
        Ok(match self {
            FeedConfig::Binance(c) => c.fetch_specs()?,
            FeedConfig::Kucoin(c) => c.fetch_specs()?,
        })
    }

    /// The watchdog's rules: a session silent `stale_after` is reconnected; that
    /// many failed connection attempts in a row end the source.
    pub fn watch(&mut self, stale_after: Option<Duration>, max_failures_in_a_row: Option<u32>) {
        let (stale, failures) = match self {
            FeedConfig::Binance(c) => (&mut c.stale_after, &mut c.max_failures_in_a_row),
            FeedConfig::Kucoin(c) => (&mut c.stale_after, &mut c.max_failures_in_a_row),
        };
        if let Some(d) = stale_after {
            *stale = Some(d);
        }
        *failures = max_failures_in_a_row;
    }

    /// Opens the source (it connects on its first read); `stop` ends it.
    pub fn source(self, stop: Arc<AtomicBool>) -> FeedSource {
        match self {
            FeedConfig::Binance(c) => FeedSource::Binance(LiveSource::new(c, stop)),
            FeedConfig::Kucoin(c) => FeedSource::Kucoin(KucoinSource::new(c, stop)),
        }
    }
}

/// A venue's live source.
pub enum FeedSource {
    /// Binance's.
    Binance(LiveSource),
    /// KuCoin's.
    Kucoin(KucoinSource),
}

impl FeedSource {
    /// Busy-polls the sessions between messages instead of sleeping (`--wait
    /// feed=spin`). Cold.
    pub fn busy_poll(mut self, on: bool) -> Self {
        match &mut self {
            FeedSource::Binance(s) => s.busy_poll(on),
            FeedSource::Kucoin(s) => s.busy_poll(on),
        }
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<LiveStats> {
        match self {
            FeedSource::Binance(s) => s.stats(),
            FeedSource::Kucoin(s) => s.stats(),
        }
    }

    /// The flag the book stage raises when it needs a snapshot.
    pub fn snapshot_request(&self) -> Arc<AtomicBool> {
        match self {
            FeedSource::Binance(s) => s.snapshot_request(),
            FeedSource::Kucoin(s) => s.snapshot_request(),
        }
    }

    /// One snapshot flag per symbol the source reads, in its order.
    pub fn snapshot_requests(&self) -> Vec<Arc<AtomicBool>> {
        match self {
            FeedSource::Binance(s) => s.snapshot_requests(),
            FeedSource::Kucoin(s) => s.snapshot_requests(),
        }
    }

    /// The flag that makes the source reconnect and resync.
    pub fn reconnect_request(&self) -> Arc<AtomicBool> {
        match self {
            FeedSource::Binance(s) => s.reconnect_request(),
            FeedSource::Kucoin(s) => s.reconnect_request(),
        }
    }
}

impl Source for FeedSource {
    #[inline]
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        match self {
            FeedSource::Binance(s) => s.next_frame(),
            FeedSource::Kucoin(s) => s.next_frame(),
        }
    }

    fn live_stats(&self) -> Option<Arc<LiveStats>> {
        Some(self.stats())
    }
}
