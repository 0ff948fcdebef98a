//! Binance-format lines for imported data (Tardis, hftbacktest, Binance's archive):
//! one shape of snapshot, depth update and trade for every importer, update ids made
//! up in order so the book's sequencer accepts them as Binance's, and one writer of
//! the session they go into.
//!
//! Binance's sync rules hold by construction: the first update after a snapshot N
//! spans N..N+1 (spot: U ≤ N+1 ≤ u; futures: U ≤ N ≤ u) and each later one follows
//! on (spot U = previous u + 1; futures `pu` = previous u).

use super::{NewSession, Row, Sink, StoreError, stream_of};

/// An imported session being written: `<recv_ns> <json>` capture lines, committed a
/// batch at a time, then the session ended.
pub(crate) struct Session<'s> {
    sink: &'s mut dyn Sink,
    id: i64,
    batch: Vec<Row>,
    total: u64,
}

impl<'s> Session<'s> {
    /// Begins `new` in `sink`.
    pub(crate) fn begin(sink: &'s mut dyn Sink, new: &NewSession<'_>) -> Result<Self, StoreError> {
        let id = sink.begin_session(new)?;
        Ok(Self {
            sink,
            id,
            batch: Vec::with_capacity(super::BATCH),
            total: 0,
        })
    }

    /// Adds a line received at `recv_ns`; the lines committed so far when a batch
    /// has just gone in (for a progress report).
    pub(crate) fn push(&mut self, recv_ns: u64, json: &str) -> Result<Option<u64>, StoreError> {
        self.batch.push(Row {
            session: self.id,
            recv_ns: recv_ns as i64,
            stream: stream_of(json.as_bytes()),
            conn: 0,
            line: format!("{recv_ns} {json}").into_bytes(),
        });
        if self.batch.len() < super::BATCH {
            return Ok(None);
        }
        self.flush()?;
        Ok(Some(self.total))
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            self.sink.append(&self.batch, &[])?;
            self.total += self.batch.len() as u64;
            self.batch.clear();
        }
        Ok(())
    }

    /// Commits the rest and ends the session: (session, lines).
    pub(crate) fn end(mut self) -> Result<(i64, u64), StoreError> {
        self.flush()?;
        self.sink.end_session(self.id)?;
        Ok((self.id, self.total))
    }
}

/// The ids given so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    /// The last id given.
    id: u64,
    /// No update since the last snapshot.
    fresh: bool,
    /// A snapshot has been given.
    synced: bool,
}

impl Ids {
    pub(crate) fn new() -> Self {
        Self {
            id: 1_000_000,
            fresh: false,
            synced: false,
        }
    }

    /// True once a snapshot was made: updates before it cannot be applied.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    /// A REST snapshot (futures' carries event and transaction times).
    pub(crate) fn snapshot(
        &mut self,
        bids: &[String],
        asks: &[String],
        ms: u64,
        futures: bool,
    ) -> String {
        self.synced = true;
        self.fresh = true;
        self.id += 1;
        let times = if futures {
            format!("\"E\":{ms},\"T\":{ms},")
        } else {
            String::new()
        };
        format!(
            "{{\"lastUpdateId\":{},{times}\"bids\":[{}],\"asks\":[{}]}}",
            self.id,
            bids.join(","),
            asks.join(",")
        )
    }

    /// A `depthUpdate` on `<symbol>@depth@100ms`.
    pub(crate) fn update(
        &mut self,
        symbol: &str,
        bids: &[String],
        asks: &[String],
        ms: u64,
        futures: bool,
    ) -> String {
        let prev = self.id;
        // (first id, last id, the previous event's last id: futures' `pu`)
        let (first, last, prev_last) = if self.fresh {
            (prev, prev + 1, prev.saturating_sub(1))
        } else {
            (prev + 1, prev + 1, prev)
        };
        self.fresh = false;
        self.id = last;
        let pu = if futures {
            format!(",\"pu\":{prev_last}")
        } else {
            String::new()
        };
        format!(
            "{{\"stream\":\"{}@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{ms},\"T\":{ms},\"s\":\"{symbol}\",\"U\":{first},\"u\":{last}{pu},\"b\":[{}],\"a\":[{}]}}}}",
            symbol.to_ascii_lowercase(),
            bids.join(","),
            asks.join(",")
        )
    }
}

/// One level, `["price","qty"]`.
pub(crate) fn level(px: &str, qty: &str) -> String {
    format!("[\"{px}\",\"{qty}\"]")
}

/// A `trade` on `<symbol>@trade`, in spot's shape (`M`) or futures' (`X`).
pub(crate) fn trade(
    symbol: &str,
    id: u64,
    (px, qty): (&str, &str),
    ms: u64,
    buyer_maker: bool,
    futures: bool,
) -> String {
    let tail = if futures {
        ",\"X\":\"MARKET\""
    } else {
        ",\"M\":true"
    };
    format!(
        "{{\"stream\":\"{}@trade\",\"data\":{{\"e\":\"trade\",\"E\":{ms},\"s\":\"{symbol}\",\"t\":{id},\"p\":\"{px}\",\"q\":\"{qty}\",\"T\":{ms},\"m\":{buyer_maker}{tail}}}}}",
        symbol.to_ascii_lowercase()
    )
}

/// A `bookTicker` on `<symbol>@bookTicker`: spot's shape, or futures' (with `e`, `T`,
/// `E`). `u` is on the depth stream's id scale; 0 when the source has none (the
/// book's cross-check skips it).
pub(crate) fn book_ticker(
    symbol: &str,
    u: u64,
    (bid, bid_qty): (&str, &str),
    (ask, ask_qty): (&str, &str),
    (tx_ms, event_ms): (u64, u64),
    futures: bool,
) -> String {
    let lower = symbol.to_ascii_lowercase();
    if futures {
        format!(
            "{{\"stream\":\"{lower}@bookTicker\",\"data\":{{\"e\":\"bookTicker\",\"u\":{u},\"s\":\"{symbol}\",\"b\":\"{bid}\",\"B\":\"{bid_qty}\",\"a\":\"{ask}\",\"A\":\"{ask_qty}\",\"T\":{tx_ms},\"E\":{event_ms}}}}}"
        )
    } else {
        format!(
            "{{\"stream\":\"{lower}@bookTicker\",\"data\":{{\"u\":{u},\"s\":\"{symbol}\",\"b\":\"{bid}\",\"B\":\"{bid_qty}\",\"a\":\"{ask}\",\"A\":\"{ask_qty}\"}}}}"
        )
    }
}
