//! The replayed book sampled at a fixed interval: its best N levels a side as one
//! row per interval (`minerva db export --view book`), for analysis in pandas,
//! polars or DuckDB. Cold path: the replay is the one `minerva replay` runs.
//!
//! A row stamped `t` holds the book after every event received at or before `t`
//! (the interval's boundary), so rows are exact, not "the next event's book". Rows
//! are written only while the book is in sync (no snapshot yet, or a gap waiting for
//! one: no row).

use super::{Observer, ReplayError, ReplayOptions, replay_observed};
use crate::book::{Book, SyncState};
use crate::core::{Level, MarketEvent, SymbolSpec};
use std::path::PathBuf;

/// A symbol's sampling state: the next boundary and the book's best levels after the
/// last event (kept as integers; formatted only when a row is written).
#[derive(Default)]
struct Sampled {
    next_ns: Option<u64>,
    in_sync: bool,
    bids: Vec<Level>,
    asks: Vec<Level>,
    spec: Option<SymbolSpec>,
}

/// Writes rows as the replay goes.
struct Sampler<'o> {
    every_ns: u64,
    levels: usize,
    symbols: Vec<Sampled>,
    prefix: Vec<String>,
    out: &'o mut dyn FnMut(&[String]) -> Result<(), String>,
    failed: Option<String>,
    rows: u64,
}

/// The column names of a sample of `levels` levels after the `prefix` columns:
/// `at_ns, symbol, bid_price_1, bid_qty_1, ask_price_1, ask_qty_1, …`.
pub fn book_columns(prefix: &[&str], levels: usize) -> Vec<String> {
    let mut cols: Vec<String> = prefix.iter().map(|c| (*c).to_string()).collect();
    cols.extend(["at_ns".to_string(), "symbol".to_string()]);
    for i in 1..=levels {
        for c in ["bid_price", "bid_qty", "ask_price", "ask_qty"] {
            cols.push(format!("{c}_{i}"));
        }
    }
    cols
}

impl Sampler<'_> {
    fn emit(&mut self, at_ns: u64, s_idx: usize) {
        if self.failed.is_some() {
            return;
        }
        let s = &self.symbols[s_idx];
        let Some(spec) = &s.spec else { return };
        let mut row = self.prefix.clone();
        row.push(at_ns.to_string());
        row.push(spec.name.to_string());
        for i in 0..self.levels {
            for side in [&s.bids, &s.asks] {
                match side.get(i) {
                    Some(l) => {
                        row.push(spec.price.format(l.price));
                        row.push(spec.qty.format(l.qty));
                    }
                    None => row.extend([String::new(), String::new()]),
                }
            }
        }
        self.rows += 1;
        if let Err(e) = (self.out)(&row) {
            self.failed = Some(e);
        }
    }
}

impl Observer for Sampler<'_> {
    fn on_event(&mut self, ev: &MarketEvent, book: &Book) {
        let k = ev.symbol.0 as usize;
        if self.symbols.len() <= k {
            self.symbols.resize_with(k + 1, Sampled::default);
        }
        let every = self.every_ns;
        let next = *self.symbols[k]
            .next_ns
            .get_or_insert((ev.recv_ns / every + 1) * every);
        // Every boundary this event is past shows the book before it.
        let mut at = next;
        while ev.recv_ns > at {
            if self.symbols[k].in_sync {
                self.emit(at, k);
            }
            at += every;
        }
        let levels = self.levels;
        let s = &mut self.symbols[k];
        s.next_ns = Some(at);
        s.in_sync = book.state() == SyncState::Live;
        if s.spec.is_none() {
            s.spec = Some(book.spec().clone());
        }
        s.bids.clear();
        s.asks.clear();
        if s.in_sync {
            book.for_each_bid(|l| {
                s.bids.push(l);
                s.bids.len() < levels
            });
            book.for_each_ask(|l| {
                s.asks.push(l);
                s.asks.len() < levels
            });
        }
    }
}

/// Replays each of `sessions` (`(prefix cells, files)`: a session's id and its
/// path) and hands `out` a row of every symbol's best `levels` levels every
/// `every_ns` while its book is in sync; returns the rows written.
///
/// # Errors
/// [`ReplayError`] when a session cannot be replayed, or `out` fails (its message).
pub fn book_rows(
    sessions: &[(Vec<String>, Vec<PathBuf>)],
    opts: &ReplayOptions,
    every_ns: u64,
    levels: usize,
    out: &mut dyn FnMut(&[String]) -> Result<(), String>,
) -> Result<u64, ReplayError> {
    let mut rows = 0;
    for (prefix, files) in sessions {
        let mut s = Sampler {
            every_ns: every_ns.max(1),
            levels: levels.max(1),
            symbols: Vec::new(),
            prefix: prefix.clone(),
            out,
            failed: None,
            rows: 0,
        };
        replay_observed(files, opts, &mut s)?;
        if let Some(e) = s.failed {
            return Err(ReplayError::Setup(e));
        }
        rows += s.rows;
    }
    Ok(rows)
}
