//! A recorder's live view: the frames a `minerva record` reader stores, copied to a
//! cold thread that keeps a book and the last trades of the symbol and publishes
//! [`Status`] snapshots (book levels, trades, mid price, recorder counters). What the
//! watcher does never touches what is recorded: frames it cannot take in time are
//! dropped from the view, not from the database.

use super::{BookStatus, Counters, LatencyRow, Status, StatusBoard, TradeRow};
use crate::book::{Book, BookConfig, SyncState};
use crate::core::{EventBody, SymbolSpec};
use crate::venues::MarketDecoder;
use crate::venues::wire::Decoded;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Levels a side, trades and mid prices the snapshot keeps.
const LEVELS: usize = 20;
const TRADES: usize = 16;
const PRICES: usize = 240;

/// What the recorder knows of a symbol beside its frames (its status callback's).
#[derive(Debug, Clone, Default)]
pub struct RecorderFacts {
    /// Breaks found in this symbol's depth diffs.
    pub gaps: u64,
    /// Receive time less event time of its last message, ms.
    pub lag_ms: i64,
}

/// A book and the last trades of one symbol, from recorded frames.
pub struct BookWatch {
    spec: SymbolSpec,
    dec: MarketDecoder,
    book: Book,
    trades: VecDeque<TradeRow>,
    prices: VecDeque<f64>,
    frames: u64,
    errors: u64,
    seq: u64,
    started: Instant,
}

impl BookWatch {
    /// A watcher of `spec`'s frames.
    pub fn new(spec: &SymbolSpec) -> Self {
        Self {
            spec: spec.clone(),
            dec: MarketDecoder::for_symbol(spec),
            book: Book::new(spec, &BookConfig::default()),
            trades: VecDeque::with_capacity(TRADES),
            prices: VecDeque::with_capacity(PRICES),
            frames: 0,
            errors: 0,
            seq: 0,
            started: Instant::now(),
        }
    }

    /// Takes one frame (a stream message or a REST snapshot) as recorded.
    pub fn on_frame(&mut self, bytes: &[u8]) {
        self.frames += 1;
        let (book, trades, spec) = (&mut self.book, &mut self.trades, &self.spec);
        let r = self.dec.decode(bytes, 0, &mut |ev| {
            if let EventBody::Trade(t) = ev.body {
                if trades.len() == TRADES {
                    trades.pop_back();
                }
                trades.push_front(TradeRow {
                    ms: t.trade_ms,
                    price: spec.price.to_f64(t.price),
                    qty: spec.qty.to_f64(t.qty),
                    buy: !t.buyer_is_maker,
                });
            }
            book.on_event(ev);
        });
        match r {
            Ok(Decoded::Snapshot { .. }) => {
                match crate::venues::parse_depth_snapshot(spec.venue, bytes, spec) {
                    Ok(snap) => book.apply_snapshot(&snap),
                    Err(_) => self.errors += 1,
                }
            }
            Ok(_) => {}
            Err(_) => self.errors += 1,
        }
    }

    /// A snapshot of what it holds now, with the recorder's counters.
    pub fn status(&mut self, facts: &RecorderFacts) -> Status {
        let (px, qty) = (|t| self.spec.price.to_f64(t), |l| self.spec.qty.to_f64(l));
        let mut book = BookStatus {
            live: self.book.state() == SyncState::Live,
            ..BookStatus::default()
        };
        self.book.for_each_bid(|l| {
            book.bids.push((px(l.price), qty(l.qty)));
            book.bids.len() < LEVELS
        });
        self.book.for_each_ask(|l| {
            book.asks.push((px(l.price), qty(l.qty)));
            book.asks.len() < LEVELS
        });
        if let (Some(b), Some(a)) = (book.bids.first(), book.asks.first()) {
            if self.prices.len() == PRICES {
                self.prices.pop_front();
            }
            self.prices.push_back((b.0 + a.0) / 2.0);
        }
        let stats = self.book.stats();
        self.seq += 1;
        Status {
            symbol: self.spec.name.to_string(),
            source: "minerva record".into(),
            trading: "recording (no trading)".into(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            uptime_s: self.started.elapsed().as_secs_f64(),
            seq: self.seq,
            price_decimals: self.spec.price.decimals(),
            qty_decimals: self.spec.qty.decimals(),
            book,
            trades: self.trades.iter().cloned().collect(),
            prices: self.prices.iter().copied().collect(),
            latency: vec![LatencyRow {
                stage: "recorder_lag_ms".into(),
                count: 1,
                p50_ns: facts.lag_ms.max(0) as u64 * 1_000_000,
                p99_ns: facts.lag_ms.max(0) as u64 * 1_000_000,
                max_ns: facts.lag_ms.max(0) as u64 * 1_000_000,
                mean_ns: facts.lag_ms.max(0) as f64 * 1e6,
            }],
            counters: Counters {
                frames: self.frames,
                decode_errors: self.errors,
                applied: stats.applied,
                gaps: facts.gaps.max(stats.gaps),
                resyncs: stats.resyncs,
                crosses: stats.crosses,
                ..Counters::default()
            },
            ..Status::default()
        }
    }
}

/// Feeds `watch` from `frames` and publishes on `board` every board period, until
/// the recorder hangs up (then the board is closed). Run it on its own thread.
pub fn watch_recording(
    mut watch: BookWatch,
    frames: Receiver<Vec<u8>>,
    board: Arc<StatusBoard>,
    facts: Arc<Mutex<RecorderFacts>>,
) {
    crate::core::mark_cold_thread();
    let period = board.period();
    let mut next = Instant::now() + Duration::from_millis(100);
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match frames.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(f) => watch.on_frame(&f),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next {
            next = Instant::now() + period;
            let f = facts.lock().map(|f| f.clone()).unwrap_or_default();
            board.publish(watch.status(&f));
        }
    }
    let f = facts.lock().map(|f| f.clone()).unwrap_or_default();
    board.publish(watch.status(&f));
    board.close();
}
