//! What a recording holds beyond its line counts: breaks in the depth diffs'
//! update ids (gaps a replay must resync across, by the venue's one sequence rule,
//! [`DepthChain`]), snapshots, silences. The same chain check runs in the recorder,
//! live, to ask for a snapshot after a gap.

use super::{Recorded, StoreError};
use crate::venues::recorded::is_depth_stream;
pub use crate::venues::sequence::{Break, DepthChain};

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
            } else if is_depth_stream(&stream) {
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
    fn json_of_a_line() {
        assert_eq!(json_of(b"123 {\"a\":1}"), b"{\"a\":1}");
        assert_eq!(json_of(b"{\"a\":1}"), b"{\"a\":1}");
    }
}
