//! `minerva bench replay`: replay speed on any input, in the line format shared with
//! other systems' harnesses:
//! `RESULT peer=<name> msgs=N rows=N secs=S msgs_per_sec=X rows_per_sec=Y checksum=C`.
//!
//! msgs = depthUpdate + trade/aggTrade messages; rows = level changes + trades;
//! checksum = Σ over messages of (best bid ticks + best ask ticks) after the message.
//! The input is read into memory first; every pass starts from a fresh book loaded
//! with the snapshot, outside the clock.

use crate::book::{Book, BookConfig};
use crate::core::{DepthChunk, EventBody, Level, MarketEvent, SymbolSpec};
use crate::venues::binance::{DEFAULT_MAX_LEVELS, Decoder, DepthSnapshot, SymbolTable};
use std::time::Instant;

/// One timed pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult {
    /// Messages (depth + trades).
    pub msgs: u64,
    /// Level changes + trades.
    pub rows: u64,
    /// Seconds on the clock.
    pub secs: f64,
    /// Σ (best bid + best ask) in ticks after each message.
    pub checksum: i128,
}

impl BenchResult {
    /// The `RESULT` line.
    pub fn line(&self, peer: &str) -> String {
        format!(
            "RESULT peer={peer} msgs={} rows={} secs={:.6} msgs_per_sec={:.0} rows_per_sec={:.0} checksum={}",
            self.msgs,
            self.rows,
            self.secs,
            self.msgs as f64 / self.secs,
            self.rows as f64 / self.secs,
            self.checksum
        )
    }
}

#[inline(always)]
fn touch(book: &Book) -> i128 {
    book.best_bid().map_or(0, |l| l.price.0 as i128)
        + book.best_ask().map_or(0, |l| l.price.0 as i128)
}

/// A decoder knowing only `spec`'s symbol.
fn decoder_for(spec: &SymbolSpec) -> Decoder {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    Decoder::new(table, DEFAULT_MAX_LEVELS)
}

fn fresh(spec: &SymbolSpec, snap: &DepthSnapshot) -> Book {
    let mut b = Book::new(spec, &BookConfig::default());
    b.apply_snapshot(snap);
    b
}

/// Decode + book apply, end to end, over `lines`.
pub fn e2e(lines: &[&[u8]], spec: &SymbolSpec, snap: &DepthSnapshot) -> BenchResult {
    let mut decoder = decoder_for(spec);
    let mut book = fresh(spec, snap);
    let (mut msgs, mut rows, mut checksum) = (0u64, 0u64, 0i128);
    let t0 = Instant::now();
    for line in lines {
        let mut counted = false;
        let _ = decoder.decode(line, 0, &mut |ev: &MarketEvent| {
            match &ev.body {
                EventBody::Depth(c) => {
                    rows += c.n_levels as u64;
                    counted |= c.is_first();
                }
                EventBody::Trade(_) | EventBody::AggTrade(_) => {
                    rows += 1;
                    counted = true;
                }
                _ => {}
            }
            book.on_event(ev);
        });
        if counted {
            msgs += 1;
            checksum += touch(&book);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    std::hint::black_box(&book);
    BenchResult {
        msgs,
        rows,
        secs,
        checksum,
    }
}

/// A depth message's header, ahead of the clock: its ids, flags and where its levels
/// are in [`Predecoded::levels`].
#[derive(Clone, Copy)]
struct Head {
    first_id: u64,
    last_id: u64,
    prev_last_id: u64,
    transact_ms: u64,
    n_bids: u8,
    n_levels: u8,
    flags: u8,
    start: u32,
}

/// Messages decoded ahead of the clock, in a compact form (40-byte headers and the
/// levels packed, as a tape holds them: streaming full 600-byte chunks would time the
/// memory bus, not the book).
pub struct Predecoded {
    /// Per message: `Some(header)` for depth, `None` for a trade.
    msgs: Vec<Option<Head>>,
    levels: Vec<Level>,
}

/// Decodes `lines` for [`book_only`].
pub fn predecode(lines: &[&[u8]], spec: &SymbolSpec) -> Predecoded {
    let mut decoder = decoder_for(spec);
    let mut p = Predecoded {
        msgs: Vec::with_capacity(lines.len()),
        levels: Vec::new(),
    };
    for line in lines {
        let _ = decoder.decode(line, 0, &mut |ev: &MarketEvent| match &ev.body {
            EventBody::Depth(c) => {
                let start = p.levels.len() as u32;
                p.levels.extend_from_slice(&c.levels[..c.n_levels as usize]);
                p.msgs.push(Some(Head {
                    first_id: c.first_id,
                    last_id: c.last_id,
                    prev_last_id: c.prev_last_id,
                    transact_ms: c.transact_ms,
                    n_bids: c.n_bids,
                    n_levels: c.n_levels,
                    flags: c.flags,
                    start,
                }));
            }
            EventBody::Trade(_) | EventBody::AggTrade(_) => p.msgs.push(None),
            _ => {}
        });
    }
    p
}

/// Book apply alone over predecoded messages: each depth message written into one
/// chunk slot (header and its levels only), as the decoder writes a ring slot, then
/// applied.
pub fn book_only(p: &Predecoded, spec: &SymbolSpec, snap: &DepthSnapshot) -> BenchResult {
    let mut book = fresh(spec, snap);
    let (mut msgs, mut rows, mut checksum) = (0u64, 0u64, 0i128);
    let mut c = DepthChunk::new(0, 0, None, 0);
    let t0 = Instant::now();
    for m in &p.msgs {
        match m {
            Some(h) => {
                c.first_id = h.first_id;
                c.last_id = h.last_id;
                c.prev_last_id = h.prev_last_id;
                c.transact_ms = h.transact_ms;
                c.n_bids = h.n_bids;
                c.n_levels = h.n_levels;
                c.flags = h.flags;
                let n = h.n_levels as usize;
                let s = h.start as usize;
                c.levels[..n].copy_from_slice(&p.levels[s..s + n]);
                book.on_depth(&c);
                rows += n as u64;
                if c.is_first() {
                    msgs += 1;
                    checksum += touch(&book);
                }
            }
            None => {
                rows += 1;
                msgs += 1;
                checksum += touch(&book);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    std::hint::black_box(&book);
    BenchResult {
        msgs,
        rows,
        secs,
        checksum,
    }
}

/// Decode + book apply timed message by message into `lat` (a separate pass: the clock
/// reads cost about 50 ns a message, which the throughput passes must not pay).
pub fn per_message(
    lines: &[&[u8]],
    spec: &SymbolSpec,
    snap: &DepthSnapshot,
    lat: &mut crate::telemetry::Latency,
) {
    let mut decoder = decoder_for(spec);
    let mut book = fresh(spec, snap);
    for line in lines {
        let t0 = Instant::now();
        let _ = decoder.decode(line, 0, &mut |ev: &MarketEvent| book.on_event(ev));
        std::hint::black_box(touch(&book));
        lat.record(t0.elapsed().as_nanos() as u64);
    }
}

/// The median pass by time.
pub fn median(mut v: Vec<BenchResult>) -> BenchResult {
    v.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    v[v.len() / 2]
}
