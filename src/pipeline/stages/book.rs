//! The book stage: [`FeedMsg`]s in; book views and the market messages the signal
//! reads out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, SignalMsg, SnapshotParts, Stamped, View};
use super::super::ring::{Abandoned, Outbox};
use crate::book::{Book, BookConfig, SyncState, VIEW_BINS};
use crate::core::{EventBody, SymbolSpec};
use crate::strategy::Strategy;

/// The book: [`FeedMsg`]s in, views and trades out.
pub struct BookStage {
    /// The book.
    pub book: Book,
    shape: (i64, usize, u32),
    /// The oracle's pressure thresholds (ppm): views carry their walls' tops only
    /// beyond them.
    gate: (u32, u32),
    snapshot: SnapshotParts,
    /// Raised when the book falls out of sync, for a live source to fetch a snapshot.
    resync: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    was_live: bool,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
}

impl BookStage {
    /// A book for `spec`, publishing views shaped for `strategy`'s oracle.
    ///
    /// # Errors
    /// [`ShapeError`] when the strategy reads more bins than a view carries.
    pub fn new(
        spec: &SymbolSpec,
        strategy: &Strategy,
        cfg: &BookConfig,
    ) -> Result<Self, ShapeError> {
        if strategy.bins as usize > VIEW_BINS {
            return Err(ShapeError {
                bins: strategy.bins,
            });
        }
        let mut book = Book::new(spec, cfg);
        book.index_bins(strategy.bin_ticks);
        Ok(Self {
            book,
            shape: (
                strategy.bin_ticks.max(1) as i64,
                strategy.bins as usize,
                strategy.limit_orderbook,
            ),
            gate: (strategy.long_pressure_ppm, strategy.short_pressure_ppm),
            snapshot: SnapshotParts::default(),
            resync: None,
            was_live: false,
            lat: Latencies::off(),
        })
    }

    /// Raises `flag` whenever the book falls out of sync after having been live (a gap):
    /// a live source answers with a fresh snapshot.
    pub fn request_snapshots(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.resync = Some(flag);
    }

    /// Handles one message.
    ///
    /// # Hot path: no allocation except while assembling a snapshot (cold, on resync).
    ///
    /// # Errors
    /// [`Abandoned`] when the signal stage is gone.
    pub fn on_msg(
        &mut self,
        m: &Stamped<FeedMsg>,
        out: &mut Outbox<Stamped<SignalMsg>>,
        views: &mut Outbox<View>,
    ) -> Result<(), Abandoned> {
        let t0 = self.lat.now();
        self.lat.book_queue.record(t0.saturating_sub(m.pushed_ns));
        let (frame_ns, view, pass) = match &m.msg {
            FeedMsg::Event(ev) => {
                self.book.on_event(ev);
                match &ev.body {
                    EventBody::Depth(c) if c.is_last() && self.book.state() == SyncState::Live => {
                        let (bt, bins, limit) = self.shape;
                        let book = &mut self.book;
                        let gate = self.gate;
                        views.push_in_place(|v| book.fill_view_gated(bt, bins, limit, gate, v))?;
                        (ev.recv_ns, true, true)
                    }
                    // Tickers and candles matter to neither the signal nor the exchange.
                    EventBody::BookTicker(_) | EventBody::Kline(_) => (ev.recv_ns, false, false),
                    _ => (ev.recv_ns, false, true),
                }
            }
            msg => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    self.book.apply_snapshot(&snap);
                }
                (m.pushed_ns, false, true)
            }
        };
        if let Some(flag) = &self.resync {
            let live = self.book.state() == SyncState::Live;
            if self.was_live && !live {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            self.was_live = live;
        }
        if pass {
            // Written over the slot's last message: a depth chunk copies only the
            // levels it holds.
            let pushed_ns = self.lat.now();
            out.push_in_place(|s| {
                m.msg.copy_into(&mut s.msg.msg);
                s.msg.frame_ns = frame_ns;
                s.msg.view = view;
                s.pushed_ns = pushed_ns;
            })?;
        }
        self.lat.book.record(self.lat.now().saturating_sub(t0));
        Ok(())
    }
}

impl BookStage {
    /// Copies what the live view shows: counters, sync state, the nearest levels and
    /// a full view (tops included) of the book now. Cold: the publisher asks a few
    /// times a second; no allocation (the slot is preallocated).
    #[cold]
    pub(crate) fn fill_status(&mut self, out: &mut crate::pipeline::status::BookPost) {
        out.stats = self.book.stats();
        out.live = self.book.state() == SyncState::Live;
        out.bids.clear();
        out.asks.clear();
        self.book.for_each_bid(|l| out.bids.try_push(l).is_ok());
        self.book.for_each_ask(|l| out.asks.try_push(l).is_ok());
        let (bt, bins, limit) = self.shape;
        self.book.fill_view(bt, bins, limit, &mut out.view);
    }
}

/// A strategy reading more bins than the pipeline's view carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the strategy reads {bins} bins a side; the pipeline's book view carries at most {VIEW_BINS}"
)]
pub struct ShapeError {
    /// Bins the strategy asked for.
    pub bins: u32,
}
