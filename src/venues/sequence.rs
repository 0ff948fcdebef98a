//! The book's sequence rule, one statement for both venues: a snapshot consistent with
//! id `L`, then diffs covering ids `first..=last`, applied in order, a gap forcing a
//! resync. The venues word it differently and mean the same:
//!
//! Binance spot (SPOT-WS):
//! 4. discard buffered events with `u <= lastUpdateId`;
//! 5. the first applied event must have `U <= lastUpdateId + 1 <= u`;
//! 6. then: `u <` book id → ignore; `U > id + 1` → gap, restart; else apply, id := `u`.
//!
//! Binance USDⓈ-M / COIN-M futures (UM-BOOK, CM-BOOK):
//! 3. drop events with `u < lastUpdateId`;
//! 4. the first applied event must have `U <= lastUpdateId <= u`;
//! 5. each following event's `pu` must equal the previous event's `u`, else re-initialise.
//!
//! KuCoin spot `/market/level2` (protocol notes §3): drop an update whose
//! `sequenceEnd <= seq`; apply it when `sequenceStart <= seq + 1` (a gap otherwise);
//! then `seq = sequenceEnd` — Binance spot's rule with `U`, `u` named `sequenceStart`,
//! `sequenceEnd`. KuCoin futures `/contractMarket/level2` carry one `sequence` per
//! change (`first == last`): drop `<= seq`, then each must be `seq + 1` — the same rule
//! again. KuCoin's events carry no `pu`, so a futures book follows them by the spot
//! branch below.
//!
//! A spot event whose `u` equals the book id changes nothing it has not already set
//! (quantities are absolute), so it is treated as stale like `u <` id; Binance futures
//! follow step 5 to the letter: a repeated event breaks the `pu` chain and forces a
//! resync.

/// What to do with one depth event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it.
    Apply,
    /// Older than the book: ignore (spot step 6).
    Stale,
    /// Covered by the snapshot: drop (spot step 4, futures step 3).
    BeforeSync,
    /// Continuity broken: throw the book away and resync.
    Gap {
        /// The id continuity required (`U` for spot, `pu` for futures).
        expected: u64,
        /// The id the event carried.
        got: u64,
    },
}

/// Sequence-id state of one book.
#[derive(Debug, Clone, Copy)]
pub struct Sequencer {
    futures: bool,
    /// `lastUpdateId` of the snapshot the book was loaded from.
    snapshot: u64,
    /// `u` of the last applied event, `None` until the first one after the snapshot.
    last: Option<u64>,
}

impl Sequencer {
    /// The rules of a futures (`futures`) or spot book. Futures' `pu` continuity
    /// applies only to events that carry `pu`, so a futures sequencer also follows
    /// spot events by spot's rule.
    pub fn new(futures: bool) -> Self {
        Self {
            futures,
            snapshot: 0,
            last: None,
        }
    }

    /// A snapshot with `lastUpdateId = l` was loaded.
    pub fn reset(&mut self, l: u64) {
        self.snapshot = l;
        self.last = None;
    }

    /// `lastUpdateId` of the snapshot loaded last.
    pub fn snapshot_id(&self) -> u64 {
        self.snapshot
    }

    /// `u` of the last applied event, `None` before the first after a snapshot.
    pub fn last_applied(&self) -> Option<u64> {
        self.last
    }

    /// True until the first event after the snapshot is accepted.
    pub fn is_first(&self) -> bool {
        self.last.is_none()
    }

    /// `u` of the last applied event (or the snapshot id before the first).
    pub fn book_id(&self) -> u64 {
        self.last.unwrap_or(self.snapshot)
    }

    /// Judges an event with ids `U`, `u` and (futures) `pu`.
    #[inline]
    pub fn check(&self, first: u64, last: u64, prev: Option<u64>) -> Verdict {
        let l = self.snapshot;
        match (self.last, self.futures, prev) {
            // First event after the snapshot.
            (None, false, _) | (None, true, None) => {
                if last <= l {
                    Verdict::BeforeSync
                } else if first <= l + 1 {
                    Verdict::Apply
                } else {
                    Verdict::Gap {
                        expected: l + 1,
                        got: first,
                    }
                }
            }
            (None, true, Some(_)) => {
                if last < l {
                    Verdict::BeforeSync
                } else if first <= l {
                    Verdict::Apply
                } else {
                    Verdict::Gap {
                        expected: l,
                        got: first,
                    }
                }
            }
            // Continuity.
            (Some(id), true, Some(pu)) => {
                if pu == id {
                    Verdict::Apply
                } else {
                    Verdict::Gap {
                        expected: id,
                        got: pu,
                    }
                }
            }
            (Some(id), _, _) => {
                if last <= id {
                    Verdict::Stale
                } else if first > id + 1 {
                    Verdict::Gap {
                        expected: id + 1,
                        got: first,
                    }
                } else {
                    Verdict::Apply
                }
            }
        }
    }

    /// The event ending with `u = last` was applied.
    #[inline]
    pub fn accept(&mut self, last: u64) {
        self.last = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_steps() {
        let mut s = Sequencer::new(false);
        s.reset(100);
        // TC0 step 4: u <= L dropped.
        assert_eq!(s.check(90, 100, None), Verdict::BeforeSync);
        // TC1 step 5: U == L+1 applies (spot ETH's first event in the data).
        assert_eq!(s.check(101, 101, None), Verdict::Apply);
        // TC2 step 5: an event starting after L+1 means the snapshot is too old.
        assert_eq!(
            s.check(102, 105, None),
            Verdict::Gap {
                expected: 101,
                got: 102
            }
        );
        // TC3 step 5: straddling applies.
        assert_eq!(s.check(95, 105, None), Verdict::Apply);
        s.accept(105);
        // TC4 step 6: continuity, stale, gap.
        assert_eq!(s.check(106, 110, None), Verdict::Apply);
        assert_eq!(s.check(104, 105, None), Verdict::Stale);
        assert_eq!(
            s.check(108, 110, None),
            Verdict::Gap {
                expected: 106,
                got: 108
            }
        );
    }

    #[test]
    fn futures_steps() {
        let mut s = Sequencer::new(true);
        s.reset(100);
        // TC0 step 3: u < L dropped, u == L is not.
        assert_eq!(s.check(90, 99, Some(80)), Verdict::BeforeSync);
        // TC1 step 4: u == L applies (USD-M ETH's first event in the data).
        assert_eq!(s.check(95, 100, Some(90)), Verdict::Apply);
        // TC2 step 4: U > L is a gap (the spot rule would accept U == L+1).
        assert_eq!(
            s.check(101, 105, Some(100)),
            Verdict::Gap {
                expected: 100,
                got: 101
            }
        );
        s.accept(100);
        // TC3 step 5: pu chain; U may jump (ids are shared across symbols).
        assert_eq!(s.check(250, 260, Some(100)), Verdict::Apply);
        assert_eq!(
            s.check(250, 260, Some(99)),
            Verdict::Gap {
                expected: 100,
                got: 99
            }
        );
    }

    #[test]
    fn kucoin_steps() {
        // KuCoin's documented example: snapshot sequence 16; updates 15..16 (covered),
        // 17..17 (applies), then 19..19 after 17 (18 missing: a gap).
        let mut s = Sequencer::new(false);
        s.reset(16);
        assert_eq!(s.check(15, 16, None), Verdict::BeforeSync);
        assert_eq!(s.check(17, 17, None), Verdict::Apply);
        s.accept(17);
        assert_eq!(s.check(17, 17, None), Verdict::Stale);
        assert_eq!(
            s.check(19, 19, None),
            Verdict::Gap {
                expected: 18,
                got: 19
            }
        );
        // An update straddling the snapshot applies (its changes at or below 16 set
        // what the snapshot already holds).
        s.reset(16);
        assert_eq!(s.check(14, 18, None), Verdict::Apply);
        // Futures: one sequence per change, on a futures book (no `pu`).
        let mut f = Sequencer::new(true);
        f.reset(100);
        assert_eq!(f.check(100, 100, None), Verdict::BeforeSync);
        assert_eq!(f.check(101, 101, None), Verdict::Apply);
        f.accept(101);
        assert_eq!(
            f.check(103, 103, None),
            Verdict::Gap {
                expected: 102,
                got: 103
            }
        );
    }
}
