//! The book stage: [`FeedMsg`]s in; book views and the market messages the signal
//! reads out.

use super::super::latencies::Latencies;
use super::super::messages::{FeedMsg, Relay, SignalMsg, SnapshotParts, Stamped, View};
use super::super::ring::{Abandoned, Outbox};
use crate::book::{Book, BookConfig, BookView, SyncState, VIEW_BINS};
use crate::core::{EventBody, SymbolId, SymbolSpec};
use crate::strategy::Strategy;

/// The book: [`FeedMsg`]s in, views and trades out.
pub struct BookStage {
    /// The book (of the first symbol, the only one in most runs).
    pub book: Book,
    /// The books of the other symbols of a run of several (symbol `k` at `k - 1`):
    /// apart, so one symbol's book is reached without an indirection.
    others: Vec<Book>,
    shape: (i64, usize, u32),
    /// The oracle's pressure thresholds (ppm): views carry their walls' tops only
    /// beyond them.
    gate: (u32, u32),
    snapshot: SnapshotParts,
    /// Raised when a book falls out of sync, for a live source to fetch a snapshot:
    /// one flag per symbol.
    resync: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Bit `k`: symbol `k`'s book was live after its last message.
    was_live: u64,
    /// Depth chunks are passed on with their levels: only a simulated exchange with a
    /// book of its own reads them ([`Relay::Market`]); the signal stage does not.
    levels: bool,
    /// Latency series this stage records: off until its runner times it
    /// (`Latencies::set_timed`), so backtests pay for no histograms.
    pub lat: Latencies,
    /// Where [`BookStage::warm`] builds its views, and the symbol it builds next.
    warm_view: Box<BookView<VIEW_BINS>>,
    warm_next: usize,
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
        Self::for_symbols(std::slice::from_ref(spec), strategy, cfg)
    }

    /// A book per symbol of `specs` (the feed's symbols, in its order), each publishing
    /// views shaped for `strategy`'s oracle. Cold: allocates the books.
    ///
    /// # Errors
    /// As [`Self::new`].
    ///
    /// # Panics
    /// When `specs` is empty or holds more than [`MAX_SYMBOLS`].
    pub fn for_symbols(
        specs: &[SymbolSpec],
        strategy: &Strategy,
        cfg: &BookConfig,
    ) -> Result<Self, ShapeError> {
        if strategy.bins as usize > VIEW_BINS {
            return Err(ShapeError {
                bins: strategy.bins,
            });
        }
        assert!(!specs.is_empty() && specs.len() <= MAX_SYMBOLS);
        let mut books = specs.iter().map(|spec| {
            let mut book = Book::new(spec, cfg);
            book.index_bins(strategy.bin_ticks);
            book
        });
        let book = books.next().expect("one symbol");
        Ok(Self {
            book,
            others: books.collect(),
            shape: (
                strategy.bin_ticks.max(1) as i64,
                strategy.bins as usize,
                strategy.limit_orderbook,
            ),
            gate: (strategy.long_pressure_ppm, strategy.short_pressure_ppm),
            snapshot: SnapshotParts::default(),
            resync: Vec::new(),
            was_live: 0,
            levels: true,
            lat: Latencies::off(),
            warm_view: Box::new(BookView::EMPTY),
            warm_next: 0,
        })
    }

    /// Builds a full view (bins and tops, as when the book is pressed) of one
    /// symbol's book into a scratch buffer, the next symbol's at the next call, and
    /// gives it with the symbol: keeps a view's code and the book's bin index in
    /// cache when market events come far apart, and gives the signal stage a view to
    /// warm its searches on ([`super::signal::SignalStage::warm`]). The book does not
    /// change (its index keeps the bins it reads, a cache with the same answers).
    ///
    /// # Hot path: no allocation.
    pub fn warm(&mut self) -> (usize, &BookView<VIEW_BINS>) {
        let k = self.warm_next;
        self.warm_next = (k + 1) % (self.others.len() + 1);
        let (bt, bins, limit) = self.shape;
        if let Some(book) = Self::nth_book(&mut self.book, &mut self.others, k) {
            book.fill_view(bt, bins, limit, &mut self.warm_view);
        }
        (k, &self.warm_view)
    }

    /// Maps now every page the books and latency series write while trading
    /// ([`Book::prefault`]): `minerva run`'s stages, not a backtest's. Cold.
    pub fn prefault(&mut self) {
        self.book.prefault();
        for b in &mut self.others {
            b.prefault();
        }
        self.lat.prefault();
    }

    /// Passes on depth chunks with their levels only when the gateway's exchange end
    /// reads them (`relay`: what the signal stage relays to it).
    pub fn set_relay(&mut self, relay: Relay) {
        self.levels = relay == Relay::Market;
    }

    /// Raises `flag` whenever the book falls out of sync after having been live (a gap):
    /// a live source answers with a fresh snapshot.
    pub fn request_snapshots(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.resync = vec![flag];
    }

    /// [`Self::request_snapshots`] with a flag per symbol, in the feed's order.
    pub fn request_snapshots_of(
        &mut self,
        flags: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) {
        self.resync = flags;
    }

    /// The book of symbol `k` (in the feed's order).
    pub fn book_of(&self, k: usize) -> Option<&Book> {
        match k {
            0 => Some(&self.book),
            k => self.others.get(k - 1),
        }
    }

    #[inline(always)]
    fn book_mut(&mut self, symbol: SymbolId) -> Option<&mut Book> {
        Self::nth_book(&mut self.book, &mut self.others, symbol.0 as usize)
    }

    /// Symbol `k`'s book among the first and the others (borrowing only those two
    /// fields, so a caller can write another field beside it).
    #[inline(always)]
    fn nth_book<'a>(book: &'a mut Book, others: &'a mut [Book], k: usize) -> Option<&'a mut Book> {
        match k {
            0 => Some(book),
            k => others.get_mut(k - 1),
        }
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
        let (frame_ns, view, pass, symbol) = match &m.msg {
            FeedMsg::Event(ev) => {
                let (shape, gate) = (self.shape, self.gate);
                let Some(book) = self.book_mut(ev.symbol) else {
                    // Not a symbol of this run (a wiring error): nothing reads it.
                    return Ok(());
                };
                book.on_event(ev);
                match &ev.body {
                    EventBody::Depth(c) if c.is_last() && book.state() == SyncState::Live => {
                        let (bt, bins, limit) = shape;
                        views.push_in_place(|v| book.fill_view_gated(bt, bins, limit, gate, v))?;
                        (ev.recv_ns, true, true, ev.symbol)
                    }
                    // Tickers and candles matter to neither the signal nor the exchange.
                    EventBody::BookTicker(_) | EventBody::Kline(_) => {
                        (ev.recv_ns, false, false, ev.symbol)
                    }
                    _ => (ev.recv_ns, false, true, ev.symbol),
                }
            }
            msg => {
                if let Some(snap) = self.snapshot.on_msg(msg) {
                    let symbol = self.snapshot.symbol();
                    if let Some(book) = self.book_mut(symbol) {
                        book.apply_snapshot(&snap);
                    }
                }
                (m.pushed_ns, false, true, self.snapshot.symbol())
            }
        };
        if let Some(flag) = self.resync.get(symbol.0 as usize) {
            let live = self
                .book_of(symbol.0 as usize)
                .is_some_and(|b| b.state() == SyncState::Live);
            let bit = 1u64 << (symbol.0 as u32 % 64);
            if self.was_live & bit != 0 && !live {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if live {
                self.was_live |= bit;
            } else {
                self.was_live &= !bit;
            }
        }
        if pass {
            // Written over the slot's last message: a depth chunk copies only the
            // levels it holds, or none when nobody downstream reads them.
            let (levels, pushed_ns) = (self.levels, self.lat.now());
            out.push_in_place(|s| {
                if levels {
                    m.msg.copy_into(&mut s.msg.msg);
                } else {
                    m.msg.copy_head_into(&mut s.msg.msg);
                }
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
    /// a full view (tops included) of the book now — the first symbol's into `out`,
    /// symbol `k`'s into `more[k - 1]`. Cold: the publisher asks a few times a second;
    /// no allocation (the slots are preallocated).
    #[cold]
    pub(crate) fn fill_status(
        &mut self,
        out: &mut crate::pipeline::status::BookPost,
        more: &mut [crate::pipeline::status::BookPost],
    ) {
        let shape = self.shape;
        fill_post(&mut self.book, shape, out);
        for (b, post) in self.others.iter_mut().zip(more.iter_mut()) {
            fill_post(b, shape, post);
        }
        out.lines.clear();
        if !self.others.is_empty() {
            let line = |b: &Book| crate::pipeline::status::BookLine {
                live: b.state() == SyncState::Live,
                bid: b.best_bid(),
                ask: b.best_ask(),
                stats: b.stats(),
            };
            out.lines.push(line(&self.book));
            out.lines.extend(self.others.iter().map(line));
        }
    }
}

/// One book's part of the live view. Cold; no allocation.
fn fill_post(
    book: &mut Book,
    (bt, bins, limit): (i64, usize, u32),
    out: &mut crate::pipeline::status::BookPost,
) {
    out.stats = book.stats();
    out.live = book.state() == SyncState::Live;
    out.bids.clear();
    out.asks.clear();
    book.for_each_bid(|l| out.bids.try_push(l).is_ok());
    book.for_each_ask(|l| out.asks.try_push(l).is_ok());
    book.fill_view(bt, bins, limit, &mut out.view);
}

/// Symbols one pipeline trades at most (the book stage's live flags are one 64-bit
/// word).
pub const MAX_SYMBOLS: usize = 64;

/// A strategy reading more bins than the pipeline's view carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the strategy reads {bins} bins a side; the pipeline's book view carries at most {VIEW_BINS}"
)]
pub struct ShapeError {
    /// Bins the strategy asked for.
    pub bins: u32,
}
