//! What a replay saw, per symbol: the `--json` object and the human summary.

use crate::book::{Book, SyncState};
use serde::Serialize;
use std::fmt::Write;

/// Message counts per symbol beside the book's own.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct MsgCounts {
    pub trades: u64,
    pub agg_trades: u64,
    pub book_tickers: u64,
    pub klines: u64,
    pub mark_prices: u64,
}

impl MsgCounts {
    /// Counts one decoded event by type.
    pub fn count(&mut self, body: &crate::core::EventBody) {
        use crate::core::EventBody::*;
        match body {
            Trade(_) => self.trades += 1,
            AggTrade(_) => self.agg_trades += 1,
            BookTicker(_) => self.book_tickers += 1,
            Kline(_) => self.klines += 1,
            MarkPrice(_) => self.mark_prices += 1,
            Depth(_) => {}
        }
    }
}

/// `[price, qty]` canonical strings per side, best first.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Top10 {
    /// Bids.
    pub bids: Vec<[String; 2]>,
    /// Asks.
    pub asks: Vec<[String; 2]>,
}

/// One symbol's replay result. Field names are those of the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct SymbolReport {
    /// Exchange symbol.
    pub symbol: String,
    /// binance or kucoin.
    pub venue: &'static str,
    /// spot, usdm or coinm.
    pub market: &'static str,
    /// Lines read (whole input).
    pub lines: u64,
    /// Depth events seen.
    pub depth_msgs: u64,
    /// Depth events applied.
    pub depth_applied: u64,
    /// Depth events dropped as covered by the snapshot.
    pub dropped_before_sync: u64,
    /// Level changes applied (KuCoin's price-0 sequence bumps are not changes).
    pub changes_applied: u64,
    /// Stale depth events ignored.
    pub stale: u64,
    /// Sequence gaps.
    pub gaps: u64,
    /// `[book id, expected id, received id]` of the first gaps (see `book::GAP_LOG`).
    pub gap_log: Vec<[u64; 3]>,
    /// Crossed books after an update.
    pub crosses: u64,
    /// Resyncs completed from a later snapshot.
    pub resyncs: u64,
    /// Snapshots loaded.
    pub snapshots: u64,
    /// `trade` messages.
    pub trades: u64,
    /// `aggTrade` messages.
    pub agg_trades: u64,
    /// bookTicker messages.
    pub book_tickers: u64,
    /// kline messages.
    pub klines: u64,
    /// markPrice messages.
    pub mark_prices: u64,
    /// bookTickers checked against the book at equal update ids.
    pub book_ticker_checks: u64,
    /// Of those, mismatches.
    pub book_ticker_mismatches: u64,
    /// Malformed frames (whole input).
    pub decode_errors: u64,
    /// Sync state at the end.
    pub state: &'static str,
    /// The id of the snapshot loaded last (Binance `lastUpdateId`, KuCoin `sequence`).
    pub snapshot_update_id: u64,
    /// `[U, u, pu]` of the first applied event.
    pub first_applied: Option<(u64, u64, Option<u64>)>,
    /// `u` of the last applied event.
    pub final_update_id: u64,
    /// Bid levels at the end.
    pub final_bid_levels: usize,
    /// Ask levels at the end.
    pub final_ask_levels: usize,
    /// Canonical digest of the whole final book.
    pub final_book_sha256: String,
    /// Best ten levels per side.
    pub top10: Top10,
    /// Far levels dropped because the side store was full.
    pub overflow_dropped: u64,
    /// Window moves.
    pub recenters: u64,
    /// Frames decoded per second of wall time (whole input).
    pub msgs_per_sec: f64,
}

impl SymbolReport {
    pub(crate) fn new(book: &Book, c: &MsgCounts, venue: crate::venues::Venue) -> Self {
        let s = book.stats();
        let t = book.ticker_stats();
        let top = book.top(10);
        let (nb, na) = book.level_counts();
        Self {
            symbol: book.spec().name.to_string(),
            venue: venue.name(),
            market: book.spec().market.name(),
            lines: 0,
            depth_msgs: s.depth_msgs,
            depth_applied: s.applied,
            dropped_before_sync: s.dropped_before_sync,
            changes_applied: s.changes_applied,
            stale: s.stale,
            gaps: s.gaps,
            gap_log: book
                .gap_log()
                .iter()
                .map(|g| [g.book_id, g.expected, g.got])
                .collect(),
            crosses: s.crosses,
            resyncs: s.resyncs,
            snapshots: s.snapshots,
            trades: c.trades,
            agg_trades: c.agg_trades,
            book_tickers: c.book_tickers,
            klines: c.klines,
            mark_prices: c.mark_prices,
            book_ticker_checks: t.checked,
            book_ticker_mismatches: t.mismatches,
            decode_errors: 0,
            state: match book.state() {
                SyncState::AwaitingSnapshot => "awaiting_snapshot",
                SyncState::Live => "live",
                SyncState::Resyncing => "resyncing",
            },
            snapshot_update_id: book.snapshot_id(),
            first_applied: s.first_applied,
            final_update_id: book.update_id(),
            final_bid_levels: nb,
            final_ask_levels: na,
            final_book_sha256: book.digest().sha256,
            top10: Top10 {
                bids: top.bids,
                asks: top.asks,
            },
            overflow_dropped: s.overflow_dropped,
            recenters: s.recenters,
            msgs_per_sec: 0.0,
        }
    }
}

/// The whole replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Lines read.
    pub lines: u64,
    /// Lines holding a WebSocket message.
    pub frames: u64,
    /// Lines that are not recorded messages.
    pub garbage_lines: u64,
    /// Malformed frames.
    pub decode_errors: u64,
    /// Snapshots that could not be read.
    pub snapshot_errors: u64,
    /// Frames of types Minerva does not decode.
    pub unknown_type: u64,
    /// Frames for symbols outside the selection.
    pub unknown_symbol: u64,
    /// Frames read by the fast path.
    pub fast_path: u64,
    /// Frames read by sonic-rs.
    pub full_path: u64,
    /// Wall time.
    pub secs: f64,
    /// The first problem met, with file and line.
    pub first_error: Option<String>,
    /// Per symbol.
    pub symbols: Vec<SymbolReport>,
}

impl ReplayReport {
    /// Remembers the first problem, with file and line.
    pub(crate) fn note(
        &mut self,
        at: &crate::store::files::LineReader,
        what: impl std::fmt::Display,
    ) {
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}:{}: {what}", at.path().display(), at.lines()));
        }
    }

    /// Frames per second of wall time.
    pub fn msgs_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.frames as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Per-symbol reports with the whole-input fields filled in.
    pub fn symbol_reports(&self) -> Vec<SymbolReport> {
        self.symbols
            .iter()
            .cloned()
            .map(|mut s| {
                s.lines = self.lines;
                s.decode_errors = self.decode_errors + self.garbage_lines + self.snapshot_errors;
                s.msgs_per_sec = (self.msgs_per_sec() * 10.0).round() / 10.0;
                s
            })
            .collect()
    }

    /// One JSON object per symbol, one per line.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for s in self.symbol_reports() {
            out.push_str(&sonic_rs::to_string(&s).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// A readable summary.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "read {} lines ({} messages) in {:.3} s: {:.0} msgs/s; fast path {}, sonic-rs {}",
            self.lines,
            self.frames,
            self.secs,
            self.msgs_per_sec(),
            self.fast_path,
            self.full_path
        );
        let _ = writeln!(
            o,
            "skipped: {} unknown types, {} other symbols; errors: {} malformed messages, {} bad lines, {} bad snapshots",
            self.unknown_type,
            self.unknown_symbol,
            self.decode_errors,
            self.garbage_lines,
            self.snapshot_errors
        );
        if let Some(e) = &self.first_error {
            let _ = writeln!(o, "first problem: {e}");
        }
        for s in self.symbol_reports() {
            let _ = writeln!(o, "\n{} ({}) — book {}", s.symbol, s.market, s.state);
            match s.state {
                "awaiting_snapshot" => {
                    let _ = writeln!(
                        o,
                        "  no depth snapshot for this symbol in the input: the book never synced (pass the file holding it, or --snapshot)"
                    );
                }
                "resyncing" => {
                    let _ = writeln!(
                        o,
                        "  a gap was not followed by a new snapshot: the book below is as it stood at the gap"
                    );
                }
                _ => {}
            }
            let _ = writeln!(
                o,
                "  depth: {} msgs, {} applied ({} level changes), {} dropped before sync, {} stale, {} gaps, {} crosses, {} resyncs, {} snapshots",
                s.depth_msgs,
                s.depth_applied,
                s.changes_applied,
                s.dropped_before_sync,
                s.stale,
                s.gaps,
                s.crosses,
                s.resyncs,
                s.snapshots
            );
            for g in &s.gap_log {
                let _ = writeln!(
                    o,
                    "  gap at book id {}: expected {}, got {}",
                    g[0], g[1], g[2]
                );
            }
            let _ = writeln!(
                o,
                "  trades {}, aggTrades {}, bookTickers {} ({} checked, {} mismatched), klines {}, markPrices {}",
                s.trades,
                s.agg_trades,
                s.book_tickers,
                s.book_ticker_checks,
                s.book_ticker_mismatches,
                s.klines,
                s.mark_prices
            );
            let _ = writeln!(
                o,
                "  snapshot id {}, final update id {}, {} bid / {} ask levels, sha256 {}",
                s.snapshot_update_id,
                s.final_update_id,
                s.final_bid_levels,
                s.final_ask_levels,
                s.final_book_sha256
            );
            let _ = writeln!(
                o,
                "  {:>22} {:>16} | {:<16} {:<22}",
                "bid qty", "bid", "ask", "ask qty"
            );
            for k in 0..s.top10.bids.len().max(s.top10.asks.len()) {
                let b = s.top10.bids.get(k);
                let a = s.top10.asks.get(k);
                let _ = writeln!(
                    o,
                    "  {:>22} {:>16} | {:<16} {:<22}",
                    b.map_or("", |l| &l[1]),
                    b.map_or("", |l| &l[0]),
                    a.map_or("", |l| &l[0]),
                    a.map_or("", |l| &l[1]),
                );
            }
        }
        o
    }
}
