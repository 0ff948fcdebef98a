//! Binance's depth-sequence rule as a recording sees it: [`DepthChain`] finds which
//! recorded diffs break the chain (the recorder and `minerva db info`). The rule itself
//! is the book's, stated once for both venues in [`crate::venues::sequence`].

use super::wire::peek;
pub use crate::venues::sequence::{Sequencer, Verdict};

/// Diffs that do not continue the ones before.
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

    /// Feeds a recorded message (the JSON of a line of `stream`); `Some` when a diff
    /// breaks the chain.
    pub fn message(&mut self, stream: &str, json: &[u8]) -> Option<Break> {
        if stream == "snapshot" {
            if let Some(id) = peek::u64_after(json, b"\"lastUpdateId\":") {
                self.snapshot(id);
            }
            return None;
        }
        if !peek::is_diff_depth(stream) {
            return None;
        }
        let (first, last, prev) = peek::depth_ids(json)?;
        self.diff(first, last, prev)
    }
}

#[cfg(test)]
mod tests {
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
