//! Looks into a KuCoin frame without decoding it: its topic, its depth sequences, its
//! time, a REST snapshot's sequence. For the recorder's stream column and gap check
//! and the local venue's publisher, where a full decode would cost more than the
//! work. No allocation; never trusted beyond the field looked for (fuzzed with the
//! recorder's other readers, `recorded_lines`).
//!
//! The unified account's pushes (`{"T":"obu.SPOT","t":"delta","d":{"O":…,"C":…,"M":…}}`)
//! are read the same way: [`push_topic`], [`is_push_snapshot`], [`push_ids`].
//!
//! ```text
//! {"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{…,"sequenceStart":14103845,"sequenceEnd":14103846,…,"time":1663747970273}}
//!                           └ topic ────────────────┘                                   └ depth_ids ─────────────────────────────────────┘   └ event_ms ──┘
//! ```

use crate::venues::scan::u64_after;

/// A market message's topic (`"type":"message"`); `None` for control frames and
/// REST answers.
pub fn topic(frame: &[u8]) -> Option<&str> {
    const TYPE: &[u8] = br#""type":"message""#;
    const TOPIC: &[u8] = br#""topic":""#;
    if !frame.windows(TYPE.len()).any(|w| w == TYPE) {
        return None;
    }
    let at = frame.windows(TOPIC.len()).position(|w| w == TOPIC)? + TOPIC.len();
    let end = frame[at..].iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&frame[at..at + end]).ok()
}

/// A unified-account push's channel (`"T"`: `obu.SPOT`, `trade.FUTURES`…); `None`
/// for other frames.
pub fn push_topic(frame: &[u8]) -> Option<&str> {
    const T: &[u8] = br#""T":""#;
    let at = frame.windows(T.len()).position(|w| w == T)? + T.len();
    let end = frame[at..].iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&frame[at..at + end]).ok()
}

/// Whether a push topic carries the book (`obu.*`).
pub fn is_book_push(topic: &str) -> bool {
    topic.starts_with("obu.")
}

/// Whether an `obu` push is the book's snapshot (sent on subscribe).
pub fn is_push_snapshot(frame: &[u8]) -> bool {
    const SNAP: &[u8] = br#""t":"snapshot""#;
    push_topic(frame).is_some_and(is_book_push) && frame.windows(SNAP.len()).any(|w| w == SNAP)
}

/// An `obu` push's first and last sequence (`O`, `C`; equal in a snapshot).
pub fn push_ids(frame: &[u8]) -> Option<(u64, u64)> {
    Some((u64_after(frame, br#""O":"#)?, u64_after(frame, br#""C":"#)?))
}

/// A push's matching-engine time (`M`, ns), ms.
pub fn push_event_ms(frame: &[u8]) -> Option<u64> {
    u64_after(frame, br#""M":"#).map(|ns| ns / 1_000_000)
}

/// A successful REST answer carrying a `sequence`: a level-2 snapshot.
pub fn is_snapshot(frame: &[u8]) -> bool {
    frame.starts_with(br#"{"code":"200000""#) && snapshot_sequence(frame).is_some()
}

/// A snapshot's `sequence` (spot writes it as a string, futures as a number).
pub fn snapshot_sequence(frame: &[u8]) -> Option<u64> {
    u64_after(frame, br#""sequence":""#).or_else(|| u64_after(frame, br#""sequence":"#))
}

/// The server time of a `GET /api/v1/timestamp` answer (`{"code":"200000","data":ms}`).
pub fn timestamp_answer(body: &[u8]) -> Option<u64> {
    if !body.starts_with(br#"{"code":"200000""#) {
        return None;
    }
    u64_after(body, br#""data":"#)
}

/// Whether a topic carries incremental level-2 updates (spot or futures).
pub fn is_depth_topic(topic: &str) -> bool {
    topic.starts_with("/market/level2:") || topic.starts_with("/contractMarket/level2:")
}

/// A level-2 update's first and last sequence: spot's `sequenceStart..sequenceEnd`,
/// futures' one `sequence`.
pub fn depth_ids(topic: &str, frame: &[u8]) -> Option<(u64, u64)> {
    if topic.starts_with("/contractMarket/") {
        let s = u64_after(frame, br#""sequence":"#)?;
        return Some((s, s));
    }
    Some((
        u64_after(frame, br#""sequenceStart":"#)?,
        u64_after(frame, br#""sequenceEnd":"#)?,
    ))
}

/// The exchange's time of a market message, ms: spot's `time` (ms; a match's is in
/// ns), futures' `timestamp` (ms) or `ts` (ns).
pub fn event_ms(frame: &[u8]) -> Option<u64> {
    let t = u64_after(frame, br#""time":"#)
        .or_else(|| u64_after(frame, br#""time":""#))
        .or_else(|| u64_after(frame, br#""timestamp":"#))
        .or_else(|| u64_after(frame, br#""ts":"#))?;
    // Nanoseconds (19 digits) and microseconds (16) come down to ms.
    Some(match t {
        t if t >= 1_000_000_000_000_000_000 => t / 1_000_000,
        t if t >= 1_000_000_000_000_000 => t / 1_000,
        t => t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kucoins_documented_messages() {
        let spot = br#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"changes":{"asks":[["18906","0.00331","14103845"]],"bids":[]},"sequenceEnd":14103846,"sequenceStart":14103845,"symbol":"BTC-USDT","time":1663747970273}}"#;
        assert_eq!(topic(spot), Some("/market/level2:BTC-USDT"));
        assert!(is_depth_topic("/market/level2:BTC-USDT"));
        assert_eq!(
            depth_ids("/market/level2:BTC-USDT", spot),
            Some((14103845, 14103846))
        );
        assert_eq!(event_ms(spot), Some(1663747970273));
        let fut = br#"{"topic":"/contractMarket/level2:XBTUSDTM","type":"message","subject":"level2","sn":1709400450243,"data":{"sequence":1709400450243,"change":"90631.2,sell,2","timestamp":1731897467182}}"#;
        assert_eq!(
            depth_ids("/contractMarket/level2:XBTUSDTM", fut),
            Some((1709400450243, 1709400450243))
        );
        let snap = br#"{"code":"200000","data":{"time":1619378326628,"sequence":"1613277183892","bids":[],"asks":[]}}"#;
        assert!(is_snapshot(snap));
        assert_eq!(snapshot_sequence(snap), Some(1613277183892));
        assert_eq!(topic(br#"{"id":"1","type":"welcome"}"#), None);
        assert_eq!(
            timestamp_answer(br#"{"code":"200000","data":1546837113087}"#),
            Some(1546837113087)
        );
        assert_eq!(timestamp_answer(br#"{"code":"400100","data":1}"#), None);
        assert!(!is_snapshot(br#"{"code":"400100","msg":"no"}"#));
        let m = br#"{"type":"message","topic":"/market/match:A-B","data":{"time":"1619378336629585200"}}"#;
        assert_eq!(event_ms(m), Some(1619378336629));
    }

    #[test]
    fn reads_unified_pushes() {
        let delta = br#"{"T":"obu.SPOT","dp":"increment@10ms","t":"delta","P":1781672136338555550,"d":{"C":33629695393,"M":1781672136333000000,"O":33629695388,"a":[],"b":[["65947","0.06185847"]],"s":"BTC-USDT"}}"#;
        assert_eq!(push_topic(delta), Some("obu.SPOT"));
        assert!(is_book_push("obu.SPOT") && !is_book_push("trade.SPOT"));
        assert!(!is_push_snapshot(delta));
        assert_eq!(push_ids(delta), Some((33629695388, 33629695393)));
        assert_eq!(push_event_ms(delta), Some(1781672136333));
        let snap = br#"{"t":"snapshot","T":"obu.SPOT","d":{"O":5,"C":5,"b":[],"a":[],"s":"X"}}"#;
        assert!(is_push_snapshot(snap));
        assert_eq!(push_ids(snap), Some((5, 5)));
        assert_eq!(push_topic(br#"{"type":"welcome"}"#), None);
    }
}
