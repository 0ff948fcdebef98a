//! The order book stage: an array-backed L2 book per symbol kept in sync with a venue's
//! diff-depth stream by the documented snapshot-plus-diffs procedure (Binance's and
//! KuCoin's are the same rule for the book: see `venues::sequence`).
//!
//! * [`Book::on_event`] takes [`MarketEvent`]s (depth chunks and bookTickers); before a
//!   snapshot, and while resyncing, depth events wait in a bounded preallocated buffer.
//! * [`Book::apply_snapshot`] (cold) loads a REST snapshot and replays the buffer
//!   through the [`Verdict`]s of the venues' sequence rule (`venues::sequence`).
//! * A gap in the ids, or a crossed book after an update, moves the book to
//!   [`SyncState::Resyncing`]: it asks for a new snapshot ([`Book::needs_snapshot`]).
//!
//! # Hot path: no allocation after [`Book::new`]; every buffer is sized by [`BookConfig`].

mod bins;
mod digest;
mod ladder;
mod spare;
mod ticker_check;
mod view;

use crate::core::DepthSnapshot;
use crate::core::{BookTicker, DepthChunk, EventBody, Level, MarketEvent, SymbolSpec, Ticks};
use ladder::Ladder;
use std::collections::VecDeque;
use ticker_check::{TickerCheck, Top};

use crate::venues::sequence::Sequencer;
pub use crate::venues::sequence::Verdict;
pub use digest::{BookDigest, TopLevels};
pub use ticker_check::TickerCheckStats;
pub use view::{BookView, SideView, VIEW_BINS, ask_share_ppm};

/// Sizes of the book's preallocated buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookConfig {
    /// Ticks covered by the array window (a power of two, at least 4096).
    pub window_ticks: usize,
    /// Levels per side kept outside the window.
    pub outside_levels: usize,
    /// Depth chunks buffered while waiting for a snapshot.
    pub pending_chunks: usize,
    /// Applied tops and waiting bookTickers kept for the cross-check; 0 turns the
    /// cross-check off (a book no one reports on, as the simulated exchange's).
    pub ticker_history: usize,
}

impl Default for BookConfig {
    fn default() -> Self {
        Self {
            window_ticks: 1 << 18,
            outside_levels: 1 << 14,
            pending_chunks: 1 << 13,
            ticker_history: 1 << 10,
        }
    }
}

impl BookConfig {
    /// The default sizes without the bookTicker cross-check: for a book no one reports
    /// on, as a simulated exchange's (the check cost each depth event a history entry).
    pub fn unchecked() -> Self {
        Self {
            ticker_history: 0,
            ..Self::default()
        }
    }
}

/// Where the book stands with respect to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// No snapshot yet: depth events are buffered.
    AwaitingSnapshot,
    /// Snapshot loaded and every event since applied in order.
    Live,
    /// A gap or crossed book was seen: waiting for a new snapshot.
    Resyncing,
}

/// The ids of the last gap, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Book id (`u`) when it happened.
    pub book_id: u64,
    /// The id continuity required.
    pub expected: u64,
    /// The id the event carried.
    pub got: u64,
}

/// Counters of one book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Depth events seen (a split event counts once).
    pub depth_msgs: u64,
    /// Depth events applied.
    pub applied: u64,
    /// Events dropped as covered by a snapshot.
    pub dropped_before_sync: u64,
    /// Level changes applied (deletes of absent levels included).
    pub changes_applied: u64,
    /// Stale events ignored (spot `u <=` book id).
    pub stale: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Crossed books after an update (each also forces a resync).
    pub crosses: u64,
    /// Snapshots loaded.
    pub snapshots: u64,
    /// Snapshots that completed a resync after a gap or cross.
    pub resyncs: u64,
    /// Snapshots ignored because the book was live.
    pub snapshots_ignored: u64,
    /// Buffered chunks evicted because the buffer was full.
    pub pending_evicted: u64,
    /// Window moves.
    pub recenters: u64,
    /// Far levels dropped because the side store was full.
    pub overflow_dropped: u64,
    /// The last gap, if any.
    pub last_gap: Option<Gap>,
    /// `(U, u, pu)` of the first event applied after the latest snapshot.
    pub first_applied: Option<(u64, u64, Option<u64>)>,
}

impl BookStats {
    /// Adds another book's counters (a run of several symbols; the last gap and
    /// first update stay this book's). Cold.
    pub fn add(&mut self, o: &Self) {
        self.depth_msgs += o.depth_msgs;
        self.applied += o.applied;
        self.dropped_before_sync += o.dropped_before_sync;
        self.changes_applied += o.changes_applied;
        self.stale += o.stale;
        self.gaps += o.gaps;
        self.crosses += o.crosses;
        self.snapshots += o.snapshots;
        self.resyncs += o.resyncs;
        self.snapshots_ignored += o.snapshots_ignored;
        self.pending_evicted += o.pending_evicted;
        self.recenters += o.recenters;
        self.overflow_dropped += o.overflow_dropped;
    }
}

/// Verdict on the current depth event, shared by all of its chunks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Current {
    None,
    Applying(u64),
    Skipping(u64),
}

/// An L2 book for one symbol with Binance's sync rules.
pub struct Book {
    spec: SymbolSpec,
    bids: Ladder<true>,
    asks: Ladder<false>,
    seq: Sequencer,
    state: SyncState,
    pending: VecDeque<DepthChunk>,
    current: Current,
    tickers: TickerCheck,
    stats: BookStats,
    gap_log: arrayvec::ArrayVec<Gap, GAP_LOG>,
    resync_pending: bool,
}

/// Gaps whose ids are kept for the report (all are counted in [`BookStats::gaps`]).
pub const GAP_LOG: usize = 32;

impl Book {
    /// An empty book awaiting its first snapshot.
    ///
    /// # Panics
    /// If `cfg.window_ticks` is not a power of two of at least 4096.
    pub fn new(spec: &SymbolSpec, cfg: &BookConfig) -> Self {
        Self {
            spec: spec.clone(),
            bids: Ladder::new(cfg.window_ticks, cfg.outside_levels),
            asks: Ladder::new(cfg.window_ticks, cfg.outside_levels),
            seq: Sequencer::new(spec.market.is_futures()),
            state: SyncState::AwaitingSnapshot,
            pending: VecDeque::with_capacity(cfg.pending_chunks.max(1)),
            current: Current::None,
            tickers: TickerCheck::new(cfg.ticker_history),
            stats: BookStats::default(),
            gap_log: arrayvec::ArrayVec::new(),
            resync_pending: false,
        }
    }

    /// Maps now every page the book writes while it trades, rather than on each
    /// page's first write in a session (a fault of microseconds on the book's thread;
    /// see [`crate::core::prefault`]). Call after [`Book::index_bins`]. Cold.
    pub fn prefault(&mut self) {
        // The diffs buffered before a snapshot are left out: they are written while
        // the book is not live, and a resync reuses the pages the first sync mapped.
        self.bids.prefault();
        self.asks.prefault();
    }

    /// The symbol.
    pub fn spec(&self) -> &SymbolSpec {
        &self.spec
    }

    /// Sync state.
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// True when a (new) snapshot is needed.
    pub fn needs_snapshot(&self) -> bool {
        self.state != SyncState::Live
    }

    /// Counters (book and bookTicker cross-check).
    pub fn stats(&self) -> BookStats {
        let mut s = self.stats;
        s.overflow_dropped = self.bids.overflow_dropped + self.asks.overflow_dropped;
        s
    }

    /// The first [`GAP_LOG`] gaps with their ids, oldest first.
    pub fn gap_log(&self) -> &[Gap] {
        &self.gap_log
    }

    /// bookTicker cross-check counters.
    pub fn ticker_stats(&self) -> TickerCheckStats {
        self.tickers.stats
    }

    /// The id of the snapshot loaded last (Binance's `lastUpdateId`, KuCoin's
    /// `sequence`); 0 before any.
    pub fn snapshot_id(&self) -> u64 {
        self.seq.snapshot_id()
    }

    /// `u` of the last applied event (the snapshot id before the first).
    pub fn update_id(&self) -> u64 {
        self.seq.book_id()
    }

    /// Best bid. Valid for trading only while [`SyncState::Live`].
    #[inline]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// Best ask. Valid for trading only while [`SyncState::Live`].
    #[inline]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// Number of bid and ask levels.
    pub fn level_counts(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Quantity resting at a bid (`bid = true`) or ask price; zero when empty.
    pub fn qty_at(&self, bid: bool, price: Ticks) -> crate::core::Lots {
        if bid {
            self.bids.qty_at(price)
        } else {
            self.asks.qty_at(price)
        }
    }

    /// Visits bid levels best first until `f` returns false. No allocation.
    pub fn for_each_bid(&self, f: impl FnMut(Level) -> bool) {
        self.bids.for_each(f)
    }

    /// Visits ask levels best first until `f` returns false. No allocation.
    pub fn for_each_ask(&self, f: impl FnMut(Level) -> bool) {
        self.asks.for_each(f)
    }

    /// Resting quantity per bin of `bin_ticks` ticks, bin 0 at the touch, for each side
    /// (`bids[k]`: bids within `[best_bid - (k+1)·bin + 1, best_bid - k·bin]`).
    /// No allocation: the caller owns the output.
    pub fn depth_bins(&self, bin_ticks: i64, bids: &mut [i64], asks: &mut [i64]) {
        match self.bids.best() {
            Some(b) => self.bids.sum_bins(b.price, bin_ticks, bids),
            None => bids.fill(0),
        }
        match self.asks.best() {
            Some(a) => self.asks.sum_bins(a.price, bin_ticks, asks),
            None => asks.fill(0),
        }
    }

    /// From now on, keeps the depth per bin of `bin_ticks` ticks up to date, so
    /// [`Book::fill_view`] costs O(bins) (cold: allocates the index).
    pub fn index_bins(&mut self, bin_ticks: u32) {
        self.bids.index_bins(bin_ticks);
        self.asks.index_bins(bin_ticks);
    }

    /// The signal's view: touch, and per side the volume per bin of `bin_ticks` ticks
    /// over the `limit` nearest levels and at most `bins` (≤ N) bins, with each bin's
    /// largest level. From the bin index when [`Book::index_bins`] was called with the
    /// same width, else by walking levels.
    ///
    /// # Hot path: no allocation.
    pub fn fill_view<const N: usize>(
        &mut self,
        bin_ticks: i64,
        bins: usize,
        limit: u32,
        out: &mut BookView<N>,
    ) {
        self.view_head(bin_ticks, out);
        let bt = out.bin_ticks;
        let _ = view::fill_side(&mut self.bids, bt, bins, limit, true, &mut out.bid);
        let _ = view::fill_side(&mut self.asks, bt, bins, limit, true, &mut out.ask);
        out.full = true;
    }

    /// [`Book::fill_view`], but the bins only when the ask share is at or beyond
    /// `long_ppm`/`short_ppm`: when the book is not pressed the oracle stops at the
    /// volumes, which each side keeps level by level (O(1) here, where reading the
    /// bins is O(bins)); the walls' largest levels (`top`) are added only then too.
    /// When a side's nearest levels reach past its bins the bins are read, and the
    /// tops left out unless pressed. [`BookView::full`] says which.
    ///
    /// # Hot path: no allocation.
    pub fn fill_view_gated<const N: usize>(
        &mut self,
        bin_ticks: i64,
        bins: usize,
        limit: u32,
        (long_ppm, short_ppm): (u32, u32),
        out: &mut BookView<N>,
    ) {
        self.view_head(bin_ticks, out);
        let bt = out.bin_ticks;
        let pressed = |bid: i64, ask: i64| {
            let share = view::ask_share_ppm(bid, ask);
            share <= long_ppm || share >= short_ppm
        };
        let n = bins.min(N);
        if let (Some((bid_origin, bid)), Some((ask_origin, ask))) = (
            view::volume_side(&mut self.bids, bt, n, limit),
            view::volume_side(&mut self.asks, bt, n, limit),
        ) && !pressed(bid, ask)
        {
            for (side, origin, volume) in [
                (&mut out.bid, bid_origin, bid),
                (&mut out.ask, ask_origin, ask),
            ] {
                side.origin = origin;
                side.volume = volume;
                side.n = 0;
            }
            out.full = false;
            self.bids.bins_idle();
            self.asks.bins_idle();
            return;
        }
        let bid_pending = view::fill_side(&mut self.bids, bt, bins, limit, false, &mut out.bid);
        let ask_pending = view::fill_side(&mut self.asks, bt, bins, limit, false, &mut out.ask);
        out.full = pressed(out.bid.volume, out.ask.volume);
        // Pressed: add the tops to the bins just filled (the walk filled its own).
        if out.full && bid_pending {
            view::fill_tops(&mut self.bids, bins, &mut out.bid);
        }
        if out.full && ask_pending {
            view::fill_tops(&mut self.asks, bins, &mut out.ask);
        }
    }

    /// [`Book::fill_view`] by walking levels, whatever the index: the reference.
    pub fn fill_view_walked<const N: usize>(
        &self,
        bin_ticks: i64,
        bins: usize,
        limit: u32,
        out: &mut BookView<N>,
    ) {
        self.view_head(bin_ticks, out);
        let bt = out.bin_ticks;
        view::walk_side(&self.bids, bt, bins, limit, &mut out.bid);
        view::walk_side(&self.asks, bt, bins, limit, &mut out.ask);
        out.full = true;
    }

    #[inline]
    fn view_head<const N: usize>(&self, bin_ticks: i64, out: &mut BookView<N>) {
        out.best_bid = self.bids.best();
        out.best_ask = self.asks.best();
        out.live = self.state == SyncState::Live;
        out.bin_ticks = bin_ticks.max(1);
    }

    /// Feeds one event; only depth chunks and bookTickers concern the book.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_event(&mut self, ev: &MarketEvent) {
        match &ev.body {
            EventBody::Depth(c) => self.on_depth(c),
            EventBody::BookTicker(t) => self.on_book_ticker(t),
            _ => {}
        }
    }

    /// Cross-checks a bookTicker against the book.
    #[inline]
    pub fn on_book_ticker(&mut self, t: &BookTicker) {
        // Before the first event after a snapshot nothing is checkable yet: a ticker
        // with `u == lastUpdateId` waits for the futures event ending at that id.
        let applied = if self.state == SyncState::Live {
            self.seq.last_applied()
        } else {
            None
        };
        self.tickers.on_ticker(t, applied);
    }

    /// Feeds one depth chunk.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_depth(&mut self, c: &DepthChunk) {
        if c.is_first() {
            self.stats.depth_msgs += 1;
        }
        if self.state == SyncState::Live {
            self.sequence(c);
        } else {
            self.buffer(c);
        }
    }

    fn buffer(&mut self, c: &DepthChunk) {
        if self.pending.len() == self.pending.capacity() {
            self.pending.pop_front();
            self.stats.pending_evicted += 1;
        }
        self.pending.push_back(*c);
    }

    /// Runs one chunk through the sequencer and applies it if it belongs.
    #[inline]
    fn sequence(&mut self, c: &DepthChunk) {
        if !c.is_first() {
            // A continuation follows its first chunk's verdict.
            match self.current {
                Current::Applying(u) if u == c.last_id => self.apply(c),
                // Skipped event, or an orphan whose first chunk was evicted
                // from the buffer (counted there): nothing to apply.
                _ => {}
            }
            return;
        }
        match self.seq.check(c.first_id, c.last_id, c.prev_last_id()) {
            Verdict::Apply => {
                self.stats.applied += 1;
                if self.seq.is_first() {
                    self.stats.first_applied = Some((c.first_id, c.last_id, c.prev_last_id()));
                }
                self.current = Current::Applying(c.last_id);
                self.seq.accept(c.last_id);
                self.apply(c);
            }
            Verdict::Stale => {
                self.stats.stale += 1;
                self.current = Current::Skipping(c.last_id);
            }
            Verdict::BeforeSync => {
                self.stats.dropped_before_sync += 1;
                self.current = Current::Skipping(c.last_id);
            }
            Verdict::Gap { expected, got } => {
                self.gap(expected, got);
                self.buffer(c);
            }
        }
    }

    #[inline]
    fn apply(&mut self, c: &DepthChunk) {
        self.stats.changes_applied += c.n_levels as u64;
        for l in c.bids() {
            self.bids.set(l.price, l.qty);
        }
        for l in c.asks() {
            self.asks.set(l.price, l.qty);
        }
        if c.is_last() {
            self.current = Current::None;
            self.after_update(c.last_id);
        }
    }

    /// End of an applied event: crossed-book check, window drift, ticker cross-check.
    #[inline]
    fn after_update(&mut self, u: u64) {
        let top = Top {
            bid: self.bids.best(),
            ask: self.asks.best(),
        };
        if let (Some(b), Some(a)) = (top.bid, top.ask) {
            if b.price >= a.price {
                self.stats.crosses += 1;
                self.gap(u, u);
                return;
            }
        }
        self.keep_window_on_touch(&top);
        self.tickers.on_applied(u, top);
    }

    fn gap(&mut self, expected: u64, got: u64) {
        self.stats.gaps += 1;
        let gap = Gap {
            book_id: self.seq.book_id(),
            expected,
            got,
        };
        self.stats.last_gap = Some(gap);
        // The first GAP_LOG gaps keep their ids; later ones are counted only.
        let _ = self.gap_log.try_push(gap);
        self.state = SyncState::Resyncing;
        self.current = Current::None;
        self.resync_pending = true;
    }

    /// Re-centres the window (both sides share one window) when the touch comes within
    /// 1/16 of an edge, unless the spread is too wide for any window to hold both sides.
    #[inline]
    fn keep_window_on_touch(&mut self, top: &Top) {
        let w = self.bids.window_len() as i64;
        let base = self.bids.base();
        let (lo, hi) = (base.saturating_add(w / 16), base.saturating_add(w - w / 16));
        let inside = |l: Option<Level>| l.is_none_or(|l| l.price.0 >= lo && l.price.0 < hi);
        if inside(top.bid) && inside(top.ask) {
            return;
        }
        self.recenter(top);
    }

    #[cold]
    fn recenter(&mut self, top: &Top) {
        let w = self.bids.window_len() as i64;
        let mid = match (top.bid, top.ask) {
            (Some(b), Some(a)) if a.price.0.saturating_sub(b.price.0) < w - w / 8 => {
                midpoint(b.price.0, a.price.0)
            }
            (Some(_), Some(_)) => return, // too wide: leave it, the side store holds the rest
            (Some(l), None) | (None, Some(l)) => l.price.0,
            (None, None) => return,
        };
        let base = mid.saturating_sub(w / 2);
        self.bids.rebase(base);
        self.asks.rebase(base);
        self.stats.recenters += 1;
    }

    /// Loads a REST snapshot and replays buffered events (cold path).
    ///
    /// A live book ignores (and counts) a snapshot no newer than itself. A newer one
    /// replaces it: it is the whole book at its id, and the diffs after it chain from
    /// there — the case of a session reconnected after a drop, whose snapshot comes
    /// before the diffs that would show the gap (a recording of it replays right).
    pub fn apply_snapshot(&mut self, snap: &DepthSnapshot) {
        if self.state == SyncState::Live && snap.last_update_id <= self.update_id() {
            self.stats.snapshots_ignored += 1;
            return;
        }
        self.stats.snapshots += 1;
        if self.resync_pending {
            self.stats.resyncs += 1;
            self.resync_pending = false;
        }
        self.bids.clear();
        self.asks.clear();
        let w = self.bids.window_len() as i64;
        let anchor = match (snap.bids.first(), snap.asks.first()) {
            (Some(b), Some(a)) => Some(midpoint(b.price.0, a.price.0)),
            (Some(l), None) | (None, Some(l)) => Some(l.price.0),
            (None, None) => None,
        };
        if let Some(mid) = anchor {
            self.bids.rebase(mid.saturating_sub(w / 2));
            self.asks.rebase(mid.saturating_sub(w / 2));
        }
        for l in &snap.bids {
            self.bids.set(l.price, l.qty);
        }
        for l in &snap.asks {
            self.asks.set(l.price, l.qty);
        }
        self.seq.reset(snap.last_update_id);
        self.tickers.reset_history();
        self.state = SyncState::Live;
        self.current = Current::None;
        // Replay what waited; chunks that come back to the buffer (a new gap) stay there.
        let n = self.pending.len();
        for _ in 0..n {
            let Some(c) = self.pending.pop_front() else {
                break;
            };
            if self.state == SyncState::Live {
                self.sequence(&c);
            } else {
                self.buffer(&c);
            }
        }
    }

    /// Price of a level as canonical text.
    pub fn format_price(&self, p: Ticks) -> String {
        self.spec.price.format(p)
    }
}

/// The middle of two prices without overflow, however far apart.
fn midpoint(a: i64, b: i64) -> i64 {
    ((a as i128 + b as i128) / 2) as i64
}

#[cfg(test)]
mod tests;
