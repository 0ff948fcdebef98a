//! Looks into a frame without decoding it: its stream's name, its envelope, one
//! unsigned field. For the places that route or check frames by the thousand per
//! second — the recorder's stream column and gap check, the live source's session
//! switch, the local exchange's publisher — where a full decode would cost more than
//! the work. Part of the hand-written hot-path decoders: no allocation, fuzzed with
//! them (`recorded_lines`), never trusted beyond the field they look for.
//!
//! ```text
//! {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161261311,…,"U":50093242275,"u":50093242277,…}}
//!            └ stream_name ──────┘        └ data: split_envelope ──────────────────── u64_after(b"\"U\":") ┘
//! ```

pub use crate::venues::scan::u64_after;

/// What a recorded or live message is, for the recorder's `stream` column: the
/// combined stream's name, `snapshot` for a REST depth snapshot, else empty.
pub fn stream_name(json: &[u8]) -> &str {
    if let Some(rest) = json.strip_prefix(b"{\"stream\":\"") {
        if let Some(end) = rest.iter().position(|&c| c == b'"') {
            return std::str::from_utf8(&rest[..end]).unwrap_or("");
        }
    }
    if json.starts_with(b"{\"lastUpdateId\"") {
        return "snapshot";
    }
    ""
}

/// A combined-stream frame `{"stream":"<name>","data":<data>}` → (name, data).
pub fn split_envelope(frame: &str) -> Option<(&str, &str)> {
    let rest = frame.strip_prefix("{\"stream\":\"")?;
    let (name, rest) = rest.split_once('"')?;
    let data = rest.strip_prefix(",\"data\":")?.strip_suffix('}')?;
    Some((name, data))
}

/// A depth diff's update ids: `U`, `u`, and futures' `pu`.
pub fn depth_ids(frame: &[u8]) -> Option<(u64, u64, Option<u64>)> {
    Some((
        u64_after(frame, b"\"U\":")?,
        u64_after(frame, b"\"u\":")?,
        u64_after(frame, b"\"pu\":"),
    ))
}

/// A diff depth stream (`sym@depth`, `sym@depth@100ms`), not a partial book
/// (`sym@depth20`).
pub fn is_diff_depth(stream: &str) -> bool {
    stream
        .find("@depth")
        .is_some_and(|at| matches!(stream.as_bytes().get(at + 6), None | Some(b'@')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks() {
        let f =
            br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":7,"u":9,"pu":6}}"#;
        assert_eq!(stream_name(f), "btcusdt@depth@100ms");
        assert_eq!(depth_ids(f), Some((7, 9, Some(6))));
        assert_eq!(stream_name(br#"{"lastUpdateId":1}"#), "snapshot");
        assert_eq!(stream_name(b"garbage"), "");
        assert_eq!(u64_after(b"\"U\":99999999999999999999", b"\"U\":"), None);
        let text = std::str::from_utf8(f).unwrap();
        let (name, data) = split_envelope(text).unwrap();
        assert_eq!(name, "btcusdt@depth@100ms");
        assert!(data.starts_with("{\"e\"") && data.ends_with('}'));
        assert!(is_diff_depth("btcusdt@depth") && is_diff_depth("btcusdt@depth@100ms"));
        assert!(!is_diff_depth("btcusdt@depth20"));
    }
}
