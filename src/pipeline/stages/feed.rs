//! The feed stage: frames in, decoded [`FeedMsg`]s out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, Stamped};
use super::super::ring::{Abandoned, Outbox};
use crate::core::clock::now_ns;
use crate::core::{DEPTH_CHUNK_LEVELS, DepthChunk, SymbolSpec};
use crate::feed::{Frame, Source};
use crate::venues::wire::Decoded;
use crate::venues::{MarketDecoder, parse_depth_snapshot};

/// Frames in, [`FeedMsg`]s out.
pub struct FeedStage<S: Source> {
    source: S,
    decoder: MarketDecoder,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
    /// Frames read.
    pub frames: u64,
    /// Malformed frames (counted, skipped).
    pub errors: u64,
    /// Events whose exchange time is after our receive time (the local clock is behind:
    /// the 2024 recordings run 1.3 s behind Binance); not put in `exchange_to_us`.
    pub clock_behind: u64,
    /// Raised when a snapshot cannot be read, so a live source sends another: one
    /// flag per symbol.
    resync: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl<S: Source> FeedStage<S> {
    /// A feed for `spec`'s symbol reading `source` (frames of `spec`'s venue).
    pub fn new(source: S, spec: &SymbolSpec) -> Self {
        Self::for_symbols(source, std::slice::from_ref(spec))
    }

    /// A feed for several symbols of one venue on one source (a combined stream):
    /// events carry their symbol's index in `specs`. Cold.
    ///
    /// # Panics
    /// When `specs` is empty.
    pub fn for_symbols(source: S, specs: &[SymbolSpec]) -> Self {
        let mut table = crate::venues::wire::SymbolTable::new();
        for spec in specs {
            table.insert(spec.clone());
        }
        Self {
            source,
            decoder: MarketDecoder::new(
                specs[0].venue,
                table,
                crate::venues::wire::DEFAULT_MAX_LEVELS,
            ),
            lat: Latencies::off(),
            frames: 0,
            errors: 0,
            clock_behind: 0,
            resync: Vec::new(),
        }
    }

    /// Raises `flag` when a snapshot frame cannot be read: the book cannot go live on
    /// it, and a live source answers with another (a REST fetch, or a new subscription
    /// where the snapshot comes on the stream).
    pub fn request_snapshots(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.resync = vec![flag];
    }

    /// [`Self::request_snapshots`] for a feed of several symbols: a flag per symbol,
    /// in the order of the feed's symbols.
    pub fn request_snapshots_of(
        &mut self,
        flags: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) {
        self.resync = flags;
    }

    /// Reads and decodes one frame; returns false at the end of the source.
    ///
    /// # Hot path: no allocation for market-data frames (a snapshot frame, cold, allocates).
    ///
    /// # Errors
    /// [`Abandoned`] when the book stage is gone.
    pub fn step(&mut self, out: &mut Outbox<Stamped<FeedMsg>>) -> Result<bool, Abandoned> {
        let Some(Frame {
            bytes: frame,
            recv_ns,
            wall_ns,
            symbol,
        }) = self.source.next_frame()
        else {
            return Ok(false);
        };
        self.frames += 1;
        let mut failed = None;
        let (lat, behind) = (&mut self.lat, &mut self.clock_behind);
        let r = self.decoder.decode(frame, recv_ns, &mut |ev| {
            if wall_ns > 0 && ev.event_ms > 0 {
                match wall_ns.checked_sub(ev.event_ms * 1_000_000) {
                    Some(d) => lat.exchange_to_us.record(d),
                    None => *behind += 1,
                }
            }
            if failed.is_none() {
                if let Err(e) = out.push(Stamped {
                    msg: FeedMsg::Event(*ev),
                    pushed_ns: lat.now(),
                }) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let t = self.lat.now();
        self.lat.feed.record(t.saturating_sub(recv_ns));
        match r {
            Ok(Decoded::Snapshot { symbol: named }) => {
                // The symbol the snapshot names (KuCoin's `obu` sends each symbol's on
                // one session), else the one its source gave the frame (a REST answer).
                let symbol = named.unwrap_or(symbol);
                let table = self.decoder.table();
                // A snapshot of a symbol this feed does not read (a recording of
                // more symbols than replayed) is skipped.
                let ours = (symbol.0 as usize) < table.specs().len();
                if ours && !snapshot(frame, symbol, table.spec(symbol), out)? {
                    self.errors += 1;
                    if let Some(flag) = self.resync.get(symbol.0 as usize) {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            Ok(_) => {}
            Err(_) => self.errors += 1,
        }
        Ok(true)
    }
}

/// A snapshot frame, cut into fixed-size messages; false when it cannot be read. Cold.
#[cold]
fn snapshot(
    frame: &[u8],
    symbol: crate::core::SymbolId,
    spec: &SymbolSpec,
    out: &mut Outbox<Stamped<FeedMsg>>,
) -> Result<bool, Abandoned> {
    let Ok(snap) = parse_depth_snapshot(spec.venue, frame, spec) else {
        return Ok(false);
    };
    let stamp = |msg| Stamped {
        msg,
        pushed_ns: now_ns(),
    };
    out.push(stamp(FeedMsg::SnapshotBegin {
        symbol,
        last_update_id: snap.last_update_id,
    }))?;
    for (levels, bids) in [(&snap.bids, true), (&snap.asks, false)] {
        for part in levels.chunks(DEPTH_CHUNK_LEVELS) {
            let mut c = DepthChunk::new(0, 0, None, 0);
            c.levels[..part.len()].copy_from_slice(part);
            c.n_levels = part.len() as u8;
            c.n_bids = if bids { part.len() as u8 } else { 0 };
            out.push(stamp(FeedMsg::SnapshotLevels(c)))?;
        }
    }
    out.push(stamp(FeedMsg::SnapshotEnd))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wait::Wait;
    use crate::core::{Market, SymbolSpec, Venue};
    use crate::feed::RecordedFrames;
    use crate::pipeline::ring::ring;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A snapshot the book cannot go live on (a level off the grid) asks the source
    /// for another; a good one does not.
    #[test]
    fn an_unreadable_snapshot_asks_for_another() {
        let mut spec =
            SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.00000001").unwrap();
        spec.venue = Venue::Kucoin;
        let bad = br#"{"T":"obu.SPOT","t":"snapshot","d":{"O":1,"C":1,"s":"BTC-USDT","b":[["1.05","1"]],"a":[]}}"#;
        let good = br#"{"T":"obu.SPOT","t":"snapshot","d":{"O":1,"C":1,"s":"BTC-USDT","b":[["1.5","1"]],"a":[]}}"#;
        for (frame, asked) in [(&bad[..], true), (&good[..], false)] {
            let frames = vec![(frame.to_vec(), 1u64)];
            let mut feed = FeedStage::new(RecordedFrames::new(&frames), &spec);
            let flag = Arc::new(AtomicBool::new(false));
            feed.request_snapshots(flag.clone());
            let (mut tx, _rx) = ring(64, Wait::Spin);
            assert!(feed.step(&mut tx).unwrap());
            assert_eq!(feed.errors, u64::from(asked));
            assert_eq!(flag.load(Ordering::Relaxed), asked);
        }
    }
}
