//! What a recording holds beyond its line counts: breaks in the depth diffs'
//! update ids (gaps a replay must resync across), snapshots, silences. The same
//! chain check runs in the recorder, live, to ask for a snapshot after a gap.

use super::{Recorded, StoreError};
use crate::venues::binance::stream::number_after;

/// Follows one symbol's depth diffs by their update ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct DepthChain {
    /// The last update id covered (a diff's `u`, a snapshot's `lastUpdateId`).
    last: Option<u64>,
    /// The last thing seen was a snapshot: the next diff need only straddle it.
    after_snapshot: bool,
}

/// Diffs that do not continue the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Break {
    /// The last update id covered before.
    pub last: u64,
    /// The first update id of the diff that does not follow.
    pub first: u64,
}

impl DepthChain {
    /// A REST snapshot with `lastUpdateId` `id`: the chain restarts there, unless
    /// the diffs received before it (which a book buffers and replays over it)
    /// already reach past it unbroken.
    pub fn snapshot(&mut self, id: u64) {
        if self.last.is_some_and(|had| had >= id) {
            return;
        }
        self.last = Some(id);
        self.after_snapshot = true;
    }

    /// A diff `U..=u` (`pu`: futures' previous `u`); `Some` when it breaks the chain.
    /// Diffs wholly before the chain's end (older than a snapshot) are skipped.
    pub fn diff(&mut self, first: u64, last: u64, prev: Option<u64>) -> Option<Break> {
        let Some(had) = self.last else {
            self.last = Some(last);
            return None;
        };
        if last <= had {
            return None;
        }
        let follows = if self.after_snapshot {
            first <= had + 1
        } else {
            match prev {
                Some(pu) => pu == had,
                None => first == had + 1,
            }
        };
        self.last = Some(last);
        self.after_snapshot = false;
        (!follows).then_some(Break { last: had, first })
    }

    /// The last update id covered so far.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Feeds a recorded message (the JSON of a line); `Some` when a diff breaks the
    /// chain.
    pub fn message(&mut self, stream: &str, json: &[u8]) -> Option<Break> {
        if stream == "snapshot" {
            if let Some(id) = number_after(json, b"\"lastUpdateId\":") {
                self.snapshot(id);
            }
            return None;
        }
        if !is_diff_depth(stream) {
            return None;
        }
        let first = number_after(json, b"\"U\":")?;
        let last = number_after(json, b"\"u\":")?;
        self.diff(first, last, number_after(json, b"\"pu\":"))
    }
}

/// A diff depth stream (`sym@depth`, `sym@depth@100ms`), not a partial book
/// (`sym@depth20`).
pub fn is_diff_depth(stream: &str) -> bool {
    stream
        .find("@depth")
        .is_some_and(|at| matches!(stream.as_bytes().get(at + 6), None | Some(b'@')))
}

/// The JSON of a recorded line (`<recv_ns> <json>` or the JSON alone).
pub fn json_of(line: &[u8]) -> &[u8] {
    if line.first() == Some(&b'{') {
        return line;
    }
    line.iter()
        .position(|&c| c == b' ')
        .map_or(line, |at| &line[at + 1..])
}

/// Silences at least this long are listed.
pub const SILENCE: i64 = 10_000_000_000;

/// What [`scan`] found in a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Depth diffs.
    pub diffs: u64,
    /// Snapshots.
    pub snapshots: u64,
    /// Breaks in the diffs' update ids, with the receive time of the diff.
    pub breaks: Vec<(i64, Break)>,
    /// Stretches of at least [`SILENCE`] without a line: (from, to) receive times.
    pub silences: Vec<(i64, i64)>,
    /// The longest stretch without a line, ns.
    pub longest_silence: i64,
}

/// Reads every line of `session` and checks its depth diffs' chain and its
/// silences. Cold: for `db info`.
///
/// # Errors
/// [`StoreError`] when the database refuses.
pub fn scan(db: &mut dyn Recorded, session: i64) -> Result<Scan, StoreError> {
    let mut out = Scan::default();
    let mut chain = DepthChain::default();
    let (mut after, mut prev_ns) = (0i64, 0i64);
    loop {
        let rows = db.lines(session, after, 8_192)?;
        if rows.is_empty() {
            return Ok(out);
        }
        for (id, recv_ns, stream, line) in rows {
            after = id;
            if recv_ns > 0 {
                if prev_ns > 0 {
                    let quiet = recv_ns - prev_ns;
                    out.longest_silence = out.longest_silence.max(quiet);
                    if quiet >= SILENCE {
                        out.silences.push((prev_ns, recv_ns));
                    }
                }
                prev_ns = recv_ns;
            }
            if stream == "snapshot" {
                out.snapshots += 1;
            } else if is_diff_depth(&stream) {
                out.diffs += 1;
            }
            if let Some(b) = chain.message(&stream, json_of(&line)) {
                out.breaks.push((recv_ns, b));
            }
        }
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
    }

    #[test]
    fn messages_and_streams() {
        assert!(is_diff_depth("btcusdt@depth"));
        assert!(is_diff_depth("btcusdt@depth@100ms"));
        assert!(!is_diff_depth("btcusdt@depth20@100ms"));
        assert!(!is_diff_depth("btcusdt@trade"));
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
        assert_eq!(json_of(b"123 {\"a\":1}"), b"{\"a\":1}");
        assert_eq!(json_of(b"{\"a\":1}"), b"{\"a\":1}");
    }
}
