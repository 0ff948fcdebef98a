//! Which symbols of a live source need a REST snapshot, and when each may be asked
//! for again: every venue's live source keeps one.
//!
//! A source of one symbol fetches its snapshot before reading on (the book cannot go
//! live without it). A source of several reads on while one symbol's snapshot is
//! refused (not yet available, a 429, a book it cannot go live on): that symbol is
//! asked again after its own backoff, and the other books trade on. A snapshot
//! fetched is followed by that symbol's backoff too, so a snapshot the book cannot
//! use — it asks again at once — never turns into a loop of requests.

use crate::net::backoff::Backoff;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Symbols one live source reads at most (a bit each).
pub const MAX_SOURCE_SYMBOLS: usize = 64;

/// A symbol quiet this long starts again from the shortest backoff.
const QUIET: Duration = Duration::from_secs(60);

/// The snapshot needs of a live source's symbols.
pub struct SnapshotSchedule {
    /// Raised by the book stage, one per symbol (in the source's order).
    requests: Vec<Arc<AtomicBool>>,
    /// Bit `k`: symbol `k` needs a snapshot.
    need: u64,
    /// Per symbol: its backoff, and when it may be asked again.
    retry: Vec<(Backoff, Option<Instant>)>,
}

impl SnapshotSchedule {
    /// For `symbols` symbols (1 to [`MAX_SOURCE_SYMBOLS`]); `seed` makes the backoffs'
    /// jitter reproducible. Nothing is needed until [`Self::need_all`].
    ///
    /// # Panics
    /// When `symbols` is 0 or over [`MAX_SOURCE_SYMBOLS`].
    pub fn new(symbols: usize, seed: u64) -> Self {
        assert!((1..=MAX_SOURCE_SYMBOLS).contains(&symbols));
        Self {
            requests: (0..symbols)
                .map(|_| Arc::new(AtomicBool::new(false)))
                .collect(),
            need: 0,
            retry: (0..symbols)
                .map(|k| (Backoff::new(seed ^ 0x5851_f42d_4c95_7f2d ^ k as u64), None))
                .collect(),
        }
    }

    /// Symbol `k`'s request flag, for its book.
    pub fn request(&self, k: usize) -> Arc<AtomicBool> {
        self.requests[k].clone()
    }

    /// Every symbol's request flag, in the source's order.
    pub fn requests(&self) -> Vec<Arc<AtomicBool>> {
        self.requests.clone()
    }

    /// More than one symbol: snapshots are fetched while the stream is read.
    pub fn several(&self) -> bool {
        self.requests.len() > 1
    }

    /// A new session: every book needs a snapshot.
    pub fn need_all(&mut self) {
        self.need = if self.requests.len() == MAX_SOURCE_SYMBOLS {
            u64::MAX
        } else {
            (1u64 << self.requests.len()) - 1
        };
    }

    /// None needed (the snapshot comes on the stream).
    pub fn clear(&mut self) {
        self.need = 0;
    }

    /// Some symbol needs a snapshot.
    pub fn pending(&self) -> bool {
        self.need != 0
    }

    /// Takes the books' requests into the needs; true when one was raised.
    pub fn take_requests(&mut self) -> bool {
        let mut any = false;
        for (k, r) in self.requests.iter().enumerate() {
            if r.swap(false, Ordering::Relaxed) {
                self.need |= 1 << k;
                any = true;
            }
        }
        any
    }

    /// The first symbol whose snapshot is needed and may be asked for `now`.
    pub fn due(&self, now: Instant) -> Option<usize> {
        self.retry
            .iter()
            .enumerate()
            .position(|(k, (_, at))| self.need & (1 << k) != 0 && at.is_none_or(|t| now >= t))
    }

    /// Symbol `k`'s snapshot was fetched `now`: not needed; the next one waits its
    /// backoff.
    pub fn fetched(&mut self, k: usize, now: Instant) {
        self.need &= !(1 << k);
        let (b, at) = &mut self.retry[k];
        if at.is_none_or(|t| now.saturating_duration_since(t) > QUIET) {
            b.reset();
        }
        *at = Some(b.deadline());
    }

    /// Symbol `k`'s snapshot could not be had: asked again after its backoff.
    pub fn failed(&mut self, k: usize) {
        let (b, at) = &mut self.retry[k];
        *at = Some(b.deadline());
    }

    /// The server asked to stay away `wait` (a 429, the weight budget).
    pub fn at_least(&mut self, k: usize, wait: Duration) {
        self.retry[k].0.at_least(wait);
    }

    /// The symbol whose snapshot the source fetches now, before reading on: one
    /// symbol's as soon as it is needed, else the first due.
    pub fn next(&self, now: Instant) -> Option<usize> {
        if self.several() {
            self.due(now)
        } else {
            self.pending().then_some(0)
        }
    }

    /// Symbol `k`'s fetch (from [`Self::next`]) succeeded (`ok`) or not, `now`: what
    /// the source does next.
    pub fn settle(&mut self, k: usize, ok: bool, now: Instant) -> Settled {
        if ok {
            self.fetched(k, now);
            Settled::Fetched
        } else if self.several() {
            // Read the stream meanwhile: the other symbols' books go on.
            self.failed(k);
            Settled::ReadOn
        } else {
            Settled::BackOff
        }
    }
}

/// What a live source does after a snapshot fetch ([`SnapshotSchedule::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Hand the snapshot on (as the symbol's frame).
    Fetched,
    /// It failed; the stream is read meanwhile (several symbols).
    ReadOn,
    /// It failed; the only book cannot go live without it: wait the source's backoff
    /// and try again.
    BackOff,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symbol whose snapshots keep failing waits longer each time while the others
    /// are fetched; a symbol fetched waits its backoff before the next fetch; a
    /// book's request makes its symbol needed again.
    #[test]
    fn each_symbol_waits_its_own_backoff() {
        // Backoffs start at 250 ms ± 25 % and double.
        let ms = Duration::from_millis;
        let mut s = SnapshotSchedule::new(3, 7);
        assert!(s.several() && !s.pending());
        s.need_all();
        let t0 = Instant::now();
        assert_eq!(s.due(t0), Some(0));
        s.failed(0);
        assert_eq!(s.due(t0), Some(1), "the others are not held up");
        s.fetched(1, t0);
        assert_eq!(s.due(t0), Some(2));
        s.fetched(2, t0);
        assert_eq!(s.due(t0), None, "symbol 0 waits its backoff");
        assert!(s.pending());
        assert_eq!(s.due(t0 + ms(350)), Some(0));
        s.failed(0);
        assert_eq!(s.due(t0 + ms(350)), None, "the second wait is longer");
        assert_eq!(s.due(t0 + ms(700)), Some(0));

        // A book asks again right after a fetch: not before the backoff.
        let mut s = SnapshotSchedule::new(2, 7);
        s.need_all();
        let t0 = Instant::now();
        s.fetched(0, t0);
        s.fetched(1, t0);
        assert!(!s.pending());
        s.request(1).store(true, Ordering::Relaxed);
        assert!(s.take_requests());
        assert!(!s.take_requests(), "taken once");
        assert_eq!(s.due(t0 + ms(1)), None);
        assert_eq!(s.due(t0 + ms(350)), Some(1));
    }

    /// One symbol's source fetches at once and backs off on a failure; a source of
    /// several reads on after one symbol's failure and fetches the next one due.
    #[test]
    fn next_and_settle_say_what_the_source_does() {
        let now = Instant::now();
        let mut one = SnapshotSchedule::new(1, 7);
        assert_eq!(one.next(now), None);
        one.need_all();
        assert_eq!(one.next(now), Some(0));
        assert_eq!(one.settle(0, false, now), Settled::BackOff);
        assert_eq!(
            one.next(now),
            Some(0),
            "still needed: asked again after the wait"
        );
        assert_eq!(one.settle(0, true, now), Settled::Fetched);
        assert_eq!(one.next(now), None);
        let mut two = SnapshotSchedule::new(2, 7);
        two.need_all();
        assert_eq!(two.next(now), Some(0));
        assert_eq!(two.settle(0, false, now), Settled::ReadOn);
        assert_eq!(
            two.next(now),
            Some(1),
            "the other symbol, while 0 waits its backoff"
        );
        assert_eq!(two.settle(1, true, now), Settled::Fetched);
        assert_eq!(two.next(now), None);
        assert_eq!(two.next(now + Duration::from_secs(60)), Some(0));
    }
}
