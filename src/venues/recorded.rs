//! What a recorded message is, whichever venue sent it, for the store: the recorder's
//! `stream` column, its gap check and lag, and `minerva db info`'s scan. Each venue's
//! own peeks (`binance::wire::peek`, `kucoin::peek`) read the fields; this module
//! tells the venues apart by shape (Binance's combined frames and bare snapshots,
//! KuCoin's topics and `{"code":"200000"…}` answers), as `Venue::of_frame` does.

use super::binance::wire::peek as binance;
use super::kucoin::peek as kucoin;
use super::sequence::DepthIds;

/// The stream a message belongs to: Binance's combined stream name, KuCoin's topic or
/// unified push channel (`obu.SPOT`), `snapshot` for a depth snapshot of either (a
/// REST answer, or the `obu` snapshot push); empty when none.
pub fn stream_name(json: &[u8]) -> &str {
    let b = binance::stream_name(json);
    if !b.is_empty() {
        return b;
    }
    if kucoin::is_snapshot(json) || kucoin::is_push_snapshot(json) {
        return "snapshot";
    }
    kucoin::topic(json)
        .or_else(|| kucoin::push_topic(json))
        .unwrap_or("")
}

/// Whether a stored stream carries incremental depth updates.
pub fn is_depth_stream(stream: &str) -> bool {
    binance::is_diff_depth(stream) || kucoin::is_depth_topic(stream) || kucoin::is_book_push(stream)
}

/// The depth ids a message of `stream` carries for the chain check.
pub fn depth_ids(stream: &str, json: &[u8]) -> Option<DepthIds> {
    if stream == "snapshot" {
        if kucoin::is_push_snapshot(json) {
            return kucoin::push_ids(json).map(|(_, c)| DepthIds::Snapshot(c));
        }
        let id = binance::u64_after(json, b"\"lastUpdateId\":")
            .or_else(|| kucoin::snapshot_sequence(json))?;
        return Some(DepthIds::Snapshot(id));
    }
    if kucoin::is_book_push(stream) {
        let (first, last) = kucoin::push_ids(json)?;
        return Some(DepthIds::Diff {
            first,
            last,
            prev: None,
        });
    }
    if binance::is_diff_depth(stream) {
        let (first, last, prev) = binance::depth_ids(json)?;
        return Some(DepthIds::Diff { first, last, prev });
    }
    if kucoin::is_depth_topic(stream) {
        let (first, last) = kucoin::depth_ids(stream, json)?;
        return Some(DepthIds::Diff {
            first,
            last,
            prev: None,
        });
    }
    None
}

/// The exchange's time of a message, ms (Binance's `E`, KuCoin's `time`/`ts`, a
/// unified push's `M`).
pub fn event_ms(json: &[u8]) -> Option<u64> {
    if kucoin::push_topic(json).is_some() {
        // A push's `E` is a sequence, not a time.
        return kucoin::push_event_ms(json);
    }
    binance::u64_after(json, b"\"E\":").or_else(|| {
        if kucoin::topic(json).is_some() {
            kucoin::event_ms(json)
        } else {
            None
        }
    })
}
