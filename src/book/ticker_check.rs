//! Cross-check of the local top of book against `bookTicker` at equal update ids.
//!
//! A bookTicker's `u` is on the depth stream's id scale. When it equals the `u` of an
//! applied depth event, the book's best bid/ask after that event must equal the ticker.
//! Tickers are real-time while depth diffs may be batched (spot `@100ms`), so a ticker
//! can arrive before or after its depth event: we keep a short history of applied tops
//! and a short queue of tickers ahead of the book. Both are fixed-size rings.

use crate::core::{BookTicker, Level};

/// Top of book after an applied event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Top {
    pub bid: Option<Level>,
    pub ask: Option<Level>,
}

impl Top {
    fn matches(&self, t: &BookTicker) -> bool {
        self.bid
            .is_some_and(|b| b.price == t.bid_price && b.qty == t.bid_qty)
            && self
                .ask
                .is_some_and(|a| a.price == t.ask_price && a.qty == t.ask_qty)
    }
}

/// A fixed-capacity FIFO (no allocation after `new`). Indices wrap by a compare, not
/// `%`: the capacity is known only at run time, and a division per push cost each
/// applied depth event two hardware divides.
struct Ring<T: Copy> {
    buf: Box<[T]>,
    head: usize,
    len: usize,
}

impl<T: Copy + Default> Ring<T> {
    fn new(cap: usize) -> Self {
        Self {
            buf: vec![T::default(); cap.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }
    /// Slot `i` places after the head (`i` at most the capacity: `push` asks for the
    /// one after the last, `pop` for the one after the head); `head + i < 2 · cap`, so
    /// one subtraction wraps it.
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        let k = self.head + i;
        if k >= self.buf.len() {
            k - self.buf.len()
        } else {
            k
        }
    }
    /// Pushes, evicting the oldest when full (returns true if one was evicted).
    fn push(&mut self, v: T) -> bool {
        let evicted = self.len == self.buf.len();
        if evicted {
            self.pop();
        }
        let k = self.at(self.len);
        self.buf[k] = v;
        self.len += 1;
        evicted
    }
    fn front(&self) -> Option<&T> {
        (self.len > 0).then(|| &self.buf[self.head])
    }
    fn pop(&mut self) {
        if self.len > 0 {
            self.head = self.at(1);
            self.len -= 1;
        }
    }
    fn iter_rev(&self) -> impl Iterator<Item = &T> {
        (0..self.len).rev().map(move |i| &self.buf[self.at(i)])
    }
    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Counters of the cross-check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickerCheckStats {
    /// Tickers whose `u` matched an applied depth event.
    pub checked: u64,
    /// Of those, how many disagreed with the local top of book.
    pub mismatches: u64,
    /// Tickers evicted from the waiting queue before their depth event came.
    pub evicted: u64,
}

pub(crate) struct TickerCheck {
    applied: Ring<(u64, Top)>,
    waiting: Ring<BookTicker>,
    /// False for a capacity of 0: no cross-check.
    on: bool,
    pub stats: TickerCheckStats,
}

impl TickerCheck {
    /// A cross-check keeping `cap` tops and tickers; off when `cap` is 0.
    pub fn new(cap: usize) -> Self {
        Self {
            applied: Ring::new(cap),
            waiting: Ring::new(cap),
            on: cap > 0,
            stats: Default::default(),
        }
    }

    /// Forget applied tops (the book was reloaded from a snapshot).
    pub fn reset_history(&mut self) {
        self.applied.clear();
    }

    fn check(&mut self, t: &BookTicker, top: &Top) {
        self.stats.checked += 1;
        if !top.matches(t) {
            self.stats.mismatches += 1;
        }
    }

    fn find(&self, u: u64) -> Option<Top> {
        for (id, top) in self.applied.iter_rev() {
            if *id == u {
                return Some(*top);
            }
            if *id < u {
                break;
            }
        }
        None
    }

    /// A ticker arrived; `book_id` is the `u` of the last applied event (if live).
    #[inline]
    pub fn on_ticker(&mut self, t: &BookTicker, book_id: Option<u64>) {
        if !self.on {
            return;
        }
        match book_id {
            Some(id) if t.update_id <= id => {
                if let Some(top) = self.find(t.update_id) {
                    self.check(t, &top);
                }
            }
            _ => {
                if self.waiting.push(*t) {
                    self.stats.evicted += 1;
                }
            }
        }
    }

    /// The event ending with `u` was applied and left `top`.
    #[inline]
    pub fn on_applied(&mut self, u: u64, top: Top) {
        if !self.on {
            return;
        }
        self.applied.push((u, top));
        while let Some(t) = self.waiting.front().copied() {
            if t.update_id > u {
                break;
            }
            self.waiting.pop();
            if let Some(top) = self.find(t.update_id) {
                self.check(&t, &top);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;
    use std::collections::VecDeque;

    #[test]
    fn ring_is_a_bounded_fifo() {
        let mut rng = fastrand::Rng::with_seed(3);
        for cap in [1usize, 2, 3, 5, 8] {
            let (mut ring, mut model) = (Ring::<u64>::new(cap), VecDeque::new());
            for v in 0..2000u64 {
                if rng.bool() {
                    let evicted = model.len() == cap;
                    if evicted {
                        model.pop_front();
                    }
                    model.push_back(v);
                    assert_eq!(ring.push(v), evicted);
                } else {
                    ring.pop();
                    model.pop_front();
                }
                assert_eq!(ring.front(), model.front());
                let back: Vec<u64> = ring.iter_rev().copied().collect();
                assert_eq!(back, model.iter().rev().copied().collect::<Vec<_>>());
            }
        }
    }
}
