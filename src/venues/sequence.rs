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

/// What a recorded message says of the depth chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthIds {
    /// A REST snapshot consistent with this update id (sequence).
    Snapshot(u64),
    /// An update covering `first..=last` (`prev`: Binance futures' previous `u`).
    Diff {
        /// First id.
        first: u64,
        /// Last id.
        last: u64,
        /// The previous update's last id, where the venue sends it.
        prev: Option<u64>,
    },
}

/// Diffs that do not continue the ones before (either venue's: the rule is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Break {
    /// The last update id covered before.
    pub last: u64,
    /// The first update id of the diff that does not follow.
    pub first: u64,
}

/// A recording's depth diffs followed by their update ids with the [`Sequencer`]'s
/// rule, to find where they break (a gap a replay must resync across). Unlike a
/// book it never stops: after a break it goes on from the diff that broke; and a
/// snapshot older than the diffs already seen (they were buffered while it was
/// fetched, as Binance's procedure has it) does not restart it.
#[derive(Debug, Default, Clone, Copy)]
pub struct DepthChain {
    seq: Option<Sequencer>,
}

impl DepthChain {
    /// A REST snapshot with `lastUpdateId` `id`: the chain restarts there, unless
    /// the diffs received before it already reach past it unbroken.
    pub fn snapshot(&mut self, id: u64) {
        // Compared with the chain's end, snapshot or diff: an older snapshot (or a
        // repeated one) never moves the chain back.
        if self.last().is_some_and(|had| had >= id) {
            return;
        }
        self.seq.get_or_insert(Sequencer::new(true)).reset(id);
    }

    /// A diff `U..=u` (`pu`: futures' previous `u`); `Some` when it breaks the chain.
    /// Diffs older than the chain's end are skipped.
    pub fn diff(&mut self, first: u64, last: u64, prev: Option<u64>) -> Option<Break> {
        let Some(seq) = self.seq.as_mut() else {
            let mut seq = Sequencer::new(true);
            seq.accept(last);
            self.seq = Some(seq);
            return None;
        };
        // Checked before the rule: a futures diff repeated from before the chain's
        // end breaks `pu` continuity, but the chain must never run backwards.
        if last <= seq.book_id() {
            return None;
        }
        match seq.check(first, last, prev) {
            Verdict::Apply => {
                seq.accept(last);
                None
            }
            Verdict::Stale | Verdict::BeforeSync => None,
            Verdict::Gap { .. } => {
                let b = Break {
                    last: seq.book_id(),
                    first,
                };
                seq.accept(last);
                Some(b)
            }
        }
    }

    /// The last update id covered so far.
    pub fn last(&self) -> Option<u64> {
        self.seq.map(|s| s.book_id())
    }

    /// Feeds a recorded message of either venue (the JSON of a line of `stream`, as
    /// [`crate::venues::recorded`] reads it); `Some` when a diff breaks the chain.
    pub fn message(&mut self, stream: &str, json: &[u8]) -> Option<Break> {
        match crate::venues::recorded::depth_ids(stream, json)? {
            DepthIds::Snapshot(id) => {
                self.snapshot(id);
                None
            }
            DepthIds::Diff { first, last, prev } => self.diff(first, last, prev),
        }
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

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn spot_chain_follows_and_breaks() {
        let mut c = DepthChain::default();
        assert_eq!(c.diff(10, 12, None), None);
        assert_eq!(c.diff(13, 15, None), None);
        assert_eq!(
            c.diff(17, 18, None),
            Some(Break {
                last: 15,
                first: 17
            })
        );
        // A snapshot at 30: diffs up to it are skipped, the first straddling one joins.
        c.snapshot(30);
        assert_eq!(c.diff(19, 25, None), None);
        assert_eq!(c.diff(26, 33, None), None);
        assert_eq!(c.diff(34, 34, None), None);
        // A snapshot behind the diffs already received (they were buffered while it
        // was fetched, as in the shipped sample): the chain goes on from them.
        let mut c = DepthChain::default();
        assert_eq!(c.diff(208, 224, None), None);
        c.snapshot(218);
        assert_eq!(c.diff(225, 237, None), None);
        assert_eq!(
            c.diff(240, 241, None),
            Some(Break {
                last: 237,
                first: 240
            })
        );
    }

    #[test]
    fn futures_chain_follows_pu() {
        let mut c = DepthChain::default();
        assert_eq!(c.diff(100, 120, Some(99)), None);
        // Futures diffs overlap: pu, not U, carries the chain.
        assert_eq!(c.diff(118, 130, Some(120)), None);
        assert_eq!(
            c.diff(140, 150, Some(135)),
            Some(Break {
                last: 130,
                first: 140
            })
        );
        // A diff repeated from before the chain's end is skipped, whatever its `pu`:
        // the chain never runs backwards (found by the recorded_lines fuzz target).
        assert_eq!(c.diff(118, 130, Some(120)), None);
        assert_eq!(c.last(), Some(150));
        // After a snapshot the first diff must straddle it (U <= L <= u): one that
        // starts after it is a gap, by the book's rule too.
        c.snapshot(200);
        assert_eq!(
            c.diff(201, 210, Some(199)),
            Some(Break {
                last: 200,
                first: 201
            })
        );
    }

    #[test]
    fn an_older_snapshot_never_moves_the_chain_back() {
        // Found by the recorded_lines fuzz target: a truncated lastUpdateId.
        let mut c = DepthChain::default();
        c.snapshot(300);
        c.snapshot(30);
        assert_eq!(c.last(), Some(300));
        assert_eq!(c.diff(290, 310, Some(299)), None);
        c.snapshot(305);
        assert_eq!(c.last(), Some(310));
    }

    #[test]
    fn recorded_messages() {
        let mut c = DepthChain::default();
        c.message("snapshot", br#"{"lastUpdateId":50,"bids":[],"asks":[]}"#);
        let d = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":45,"u":52,"b":[],"a":[]}}"#;
        assert_eq!(c.message("btcusdt@depth@100ms", d), None);
        let d = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":60,"u":61,"b":[],"a":[]}}"#;
        assert_eq!(
            c.message("btcusdt@depth@100ms", d),
            Some(Break {
                last: 52,
                first: 60
            })
        );
    }
}
