//! Tardis.dev CSV files in: `incremental_book_L2` or `book_snapshot_25` (any
//! `book_snapshot_N`), `trades` and `quotes` of one Binance symbol (`binance` spot,
//! `binance-futures` USDⓈ-M, `binance-delivery` COIN-M), gzip or plain, as one
//! recording session of Binance-format lines that replays, backtests and reports as
//! Minerva's own recordings do.
//!
//! How the files become lines (Tardis' published format: docs.tardis.dev,
//! "Downloadable CSV files"):
//!
//! * book rows before the first `is_snapshot=true` row are skipped (Tardis: buffered
//!   updates from before the exchange's snapshot);
//! * a run of snapshot rows becomes a REST snapshot line (`{"lastUpdateId":…}`); a
//!   new run after updates (a reconnect, a new day) becomes a new snapshot, which
//!   resets the book as Tardis says it must;
//! * the other rows, grouped by `local_timestamp` (one exchange message each), become
//!   `depthUpdate`s; `timestamp` is the event time, `local_timestamp` the receive time;
//! * trades become `trade` messages (`side` is the taker's: `sell` → buyer is maker);
//! * `book_snapshot_N` rows (the top N levels a side, columns `asks[i].price`,
//!   `asks[i].amount`, `bids[i].price`, `bids[i].amount`; empty where the book is
//!   shallower): the first becomes a REST snapshot, each next one a `depthUpdate`
//!   of what changed — levels gone from the top N are removed — so after every row
//!   the book is exactly that row's top N;
//! * `quotes` rows (`ask_amount,ask_price,bid_price,bid_amount`) become `bookTicker`
//!   messages (rows with an empty side are skipped).
//!
//! **Limits, stated:** Tardis' rows carry no update ids, so the ids are made up in
//! order: a gap in the exchange's stream cannot be seen (each snapshot resyncs),
//! and the book ticker cross-check has nothing to compare (quotes carry `u` = 0,
//! which it skips). A `book_snapshot_N` book is N levels deep: walls and voids
//! beyond them are not seen, and the book is as fresh as the snapshots (Binance's
//! are taken every 100 ms). One book source per import: incremental or snapshots,
//! not both. Amounts and prices pass
//! through as text, on the symbol's grid. Cold path; files are streamed (merged by
//! `local_timestamp`), not loaded whole.

use super::{NewSession, Sink, StoreError};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Why Tardis files could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum TardisError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not a Tardis CSV this importer reads (the header names the columns expected).
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when a row is.
        why: String,
    },
}

/// A Tardis CSV kind this importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Book,
    Trades,
    /// `book_snapshot_N`: the top N levels a side per row.
    Snapshot(usize),
    Quotes,
}

impl Kind {
    /// Columns a row has.
    fn columns(self) -> usize {
        match self {
            Kind::Snapshot(n) => 4 + 4 * n,
            _ => 8,
        }
    }
}

const BOOK_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";
const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
const QUOTES_HEADER: &str =
    "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount";
/// The most levels a `book_snapshot_N` row may carry (Tardis publishes 5 and 25).
const MAX_SNAPSHOT_LEVELS: usize = 1000;

/// `book_snapshot_N`'s header for `n` levels.
fn snapshot_header(n: usize) -> String {
    let mut h = String::from("exchange,symbol,timestamp,local_timestamp");
    for i in 0..n {
        h.push_str(&format!(
            ",asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount"
        ));
    }
    h
}

/// The kind a header names.
fn kind_of(header: &str) -> Option<Kind> {
    match header {
        BOOK_HEADER => return Some(Kind::Book),
        TRADES_HEADER => return Some(Kind::Trades),
        QUOTES_HEADER => return Some(Kind::Quotes),
        _ => {}
    }
    let cols = header.split(',').count();
    let n = cols.checked_sub(4)? / 4;
    (header.starts_with("exchange,symbol,timestamp,local_timestamp,asks[0].price,")
        && (1..=MAX_SNAPSHOT_LEVELS).contains(&n)
        && header == snapshot_header(n))
    .then_some(Kind::Snapshot(n))
}

/// One CSV file, read a row at a time.
struct Csv {
    path: PathBuf,
    kind: Kind,
    lines: Box<dyn BufRead>,
    line_no: u64,
    /// The next row, split.
    next: Option<Vec<String>>,
}

impl Csv {
    /// `path`'s rows, gunzipped when it is gzip.
    fn open(path: &Path) -> Result<Self, TardisError> {
        let io = |e: std::io::Error| TardisError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic).map_err(io)?;
        drop(f);
        let f = std::fs::File::open(path).map_err(io)?;
        let lines: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
        } else {
            Box::new(BufReader::new(f))
        };
        Self::from_reader(path, lines)
    }

    /// The rows `lines` holds; `path` names it in errors.
    fn from_reader(path: &Path, lines: Box<dyn BufRead>) -> Result<Self, TardisError> {
        let mut c = Self {
            path: path.to_path_buf(),
            kind: Kind::Book,
            lines,
            line_no: 0,
            next: None,
        };
        let header = c.read_line()?.unwrap_or_default();
        let Some(kind) = kind_of(header.trim_end()) else {
            let shown: String = header.trim_end().chars().take(120).collect();
            return Err(TardisError::Format {
                path: path.to_path_buf(),
                why: format!(
                    "not a Tardis incremental_book_L2, book_snapshot_N, trades or quotes CSV (header `{shown}`; expected e.g. `{BOOK_HEADER}`)"
                ),
            });
        };
        c.kind = kind;
        c.advance()?;
        Ok(c)
    }

    fn read_line(&mut self) -> Result<Option<String>, TardisError> {
        let mut s = String::new();
        let n = self.lines.read_line(&mut s).map_err(|e| TardisError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        self.line_no += 1;
        Ok((n > 0).then_some(s))
    }

    fn bad(&self, why: String) -> TardisError {
        TardisError::Format {
            path: self.path.clone(),
            why: format!("line {}: {why}", self.line_no),
        }
    }

    /// Reads the next row into `next` (None at the end; blank lines skipped).
    fn advance(&mut self) -> Result<(), TardisError> {
        loop {
            let Some(l) = self.read_line()? else {
                self.next = None;
                return Ok(());
            };
            let l = l.trim_end();
            if l.is_empty() {
                continue;
            }
            let cells: Vec<String> = l.split(',').map(str::to_string).collect();
            if cells.len() != self.kind.columns() {
                return Err(self.bad(format!(
                    "{} columns, expected {}",
                    cells.len(),
                    self.kind.columns()
                )));
            }
            self.next = Some(cells);
            return Ok(());
        }
    }

    /// `local_timestamp` of the next row, µs.
    fn next_local_us(&self) -> Result<Option<u64>, TardisError> {
        match &self.next {
            None => Ok(None),
            Some(r) => r[3]
                .parse()
                .map(Some)
                .map_err(|_| self.bad(format!("local_timestamp `{}` is not microseconds", r[3]))),
        }
    }
}

/// What the files hold: one exchange's one symbol.
struct Subject {
    exchange: String,
    symbol: String,
    market: &'static str,
}

fn market_of(exchange: &str) -> Option<&'static str> {
    match exchange {
        "binance" | "binance-us" => Some("spot"),
        "binance-futures" => Some("usdm"),
        "binance-delivery" => Some("coinm"),
        _ => None,
    }
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'e' || c == b'E')
}

/// Imports the Tardis `files` (one symbol's book and/or trades) into `sink` as one
/// session; returns (session, lines).
///
/// # Errors
/// [`StoreError`]: an unreadable file, a file that is not a Tardis CSV this reads,
/// several symbols or exchanges, a malformed row (with its line), the database.
pub fn import(
    sink: &mut dyn Sink,
    files: &[PathBuf],
    progress: &mut dyn FnMut(u64),
) -> Result<(i64, u64), StoreError> {
    let inputs: Vec<Csv> = files
        .iter()
        .map(|f| Csv::open(f))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Unsupported(e.to_string()))?;
    import_csv(sink, inputs, files, progress)
}

/// [`import`] on readers already open (plain CSV), each named by its path in errors:
/// the fuzz target's way in.
///
/// # Errors
/// As [`import`].
pub fn import_readers(
    sink: &mut dyn Sink,
    readers: Vec<(PathBuf, Box<dyn BufRead>)>,
    progress: &mut dyn FnMut(u64),
) -> Result<(i64, u64), StoreError> {
    let files: Vec<PathBuf> = readers.iter().map(|(p, _)| p.clone()).collect();
    let inputs: Vec<Csv> = readers
        .into_iter()
        .map(|(p, r)| Csv::from_reader(&p, r))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Unsupported(e.to_string()))?;
    import_csv(sink, inputs, &files, progress)
}

fn import_csv(
    sink: &mut dyn Sink,
    mut inputs: Vec<Csv>,
    files: &[PathBuf],
    progress: &mut dyn FnMut(u64),
) -> Result<(i64, u64), StoreError> {
    let tardis = |e: TardisError| StoreError::Unsupported(e.to_string());
    // The subject, from the first row of each file: all the same.
    let mut subject: Option<Subject> = None;
    for c in &inputs {
        let Some(r) = &c.next else { continue };
        let Some(market) = market_of(&r[0]) else {
            return Err(tardis(c.bad(format!(
                "exchange `{}`: Minerva imports Binance's (binance, binance-futures, binance-delivery)",
                r[0]
            ))));
        };
        if r[1].is_empty()
            || !r[1]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(tardis(
                c.bad(format!("symbol `{}`: not a Binance symbol", r[1])),
            ));
        }
        match &subject {
            None => {
                subject = Some(Subject {
                    exchange: r[0].clone(),
                    symbol: r[1].clone(),
                    market,
                })
            }
            Some(s) if s.exchange == r[0] && s.symbol == r[1] => {}
            Some(s) => {
                return Err(tardis(c.bad(format!(
                    "{} {} while other files hold {} {}: import one symbol at a time",
                    r[0], r[1], s.exchange, s.symbol
                ))));
            }
        }
    }
    let has = |f: fn(Kind) -> bool| inputs.iter().any(|c| f(c.kind));
    if has(|k| k == Kind::Book) && has(|k| matches!(k, Kind::Snapshot(_))) {
        return Err(tardis(TardisError::Format {
            path: files.first().cloned().unwrap_or_default(),
            why: "incremental_book_L2 and book_snapshot_N files together: import one book source (the incremental one is the whole book)".into(),
        }));
    }
    let Some(subject) = subject else {
        return Err(tardis(TardisError::Format {
            path: files.first().cloned().unwrap_or_default(),
            why: "no rows".into(),
        }));
    };
    let source = format!(
        "tardis:{}:{} ({})",
        subject.exchange,
        subject.symbol,
        files
            .iter()
            .map(|f| f
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut out = super::made_up::Session::begin(
        sink,
        &NewSession {
            source: &source,
            symbol: &subject.symbol,
            market: subject.market,
            exchange_info: None,
        },
    )?;
    let futures = subject.market != "spot";
    let mut st = State {
        ids: super::made_up::Ids::new(),
        trade_id: 0,
        top: None,
    };
    loop {
        // The input whose next row is earliest (ties: the book first).
        let mut pick: Option<(usize, u64)> = None;
        for (k, c) in inputs.iter().enumerate() {
            if let Some(t) = c.next_local_us().map_err(tardis)? {
                if pick.is_none_or(|(_, best)| t < best) {
                    pick = Some((k, t));
                }
            }
        }
        let Some((k, local_us)) = pick else { break };
        let c = &mut inputs[k];
        let recv_ns = local_us.saturating_mul(1000);
        let line = match c.kind {
            Kind::Book => book_message(c, &subject, futures, &mut st).map_err(tardis)?,
            Kind::Trades => Some(trade_message(c, &subject, futures, &mut st).map_err(tardis)?),
            Kind::Snapshot(n) => {
                snapshot_message(c, n, &subject, futures, &mut st).map_err(tardis)?
            }
            Kind::Quotes => quote_message(c, &subject, futures).map_err(tardis)?,
        };
        let Some(line) = line else { continue };
        if let Some(done) = out.push(recv_ns, &line)? {
            progress(done);
        }
    }
    let (session, total) = out.end()?;
    progress(total);
    Ok((session, total))
}

/// Made-up ids, in order.
struct State {
    /// Update ids.
    ids: super::made_up::Ids,
    /// The last trade id made up (for rows without one).
    trade_id: u64,
    /// The last `book_snapshot_N` row's levels: (bids, asks).
    top: Option<(Vec<Level>, Vec<Level>)>,
}

/// A level of a snapshot row: its price as written, the price's canonical text (no
/// trailing zeros: `1.50` and `1.5` are one level), its amount.
#[derive(Debug, Clone)]
struct Level {
    px: String,
    key: String,
    qty: String,
}

/// A decimal's canonical text: trailing fractional zeros and a bare point dropped.
fn canonical(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn level(cells: &[String]) -> String {
    super::made_up::level(&cells[6], &cells[7])
}

/// The rows of one message (same `local_timestamp`, same `is_snapshot`) as one line;
/// `None` for rows before the first snapshot.
fn book_message(
    c: &mut Csv,
    s: &Subject,
    futures: bool,
    st: &mut State,
) -> Result<Option<String>, TardisError> {
    let first = c.next.clone().expect("a row");
    let (local, snapshot) = (first[3].clone(), first[4].clone());
    let snap = match snapshot.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(c.bad(format!("is_snapshot `{other}`: expected true or false"))),
    };
    let exchange_us: u64 = first[2]
        .parse()
        .map_err(|_| c.bad(format!("timestamp `{}` is not microseconds", first[2])))?;
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    while let Some(r) = &c.next {
        if r[3] != local || r[4] != snapshot {
            break;
        }
        if r[0] != s.exchange || r[1] != s.symbol {
            return Err(c.bad(format!(
                "{} {} among {} {} rows",
                r[0], r[1], s.exchange, s.symbol
            )));
        }
        if !is_decimal(&r[6]) || !is_decimal(&r[7]) {
            return Err(c.bad(format!(
                "price `{}` / amount `{}` are not numbers",
                r[6], r[7]
            )));
        }
        match r[5].as_str() {
            "bid" => bids.push(level(r)),
            "ask" => asks.push(level(r)),
            other => return Err(c.bad(format!("side `{other}`: expected bid or ask"))),
        }
        c.advance()?;
    }
    if !snap && !st.ids.synced() {
        return Ok(None);
    }
    let ms = exchange_us / 1000;
    Ok(Some(if snap {
        // A snapshot: the book is this (a new one resets it).
        st.ids.snapshot(&bids, &asks, ms, futures)
    } else {
        st.ids.update(&s.symbol, &bids, &asks, ms, futures)
    }))
}

/// Checks a row is of the import's exchange and symbol; its exchange time in µs.
fn row_time(c: &Csv, r: &[String], s: &Subject) -> Result<u64, TardisError> {
    if r[0] != s.exchange || r[1] != s.symbol {
        return Err(c.bad(format!(
            "{} {} among {} {} rows",
            r[0], r[1], s.exchange, s.symbol
        )));
    }
    r[2].parse()
        .map_err(|_| c.bad(format!("timestamp `{}` is not microseconds", r[2])))
}

/// One `book_snapshot_N` row: the first as a REST snapshot, later ones as the
/// `depthUpdate` that turns the previous row's book into this one (`None` when
/// nothing changed).
fn snapshot_message(
    c: &mut Csv,
    n: usize,
    s: &Subject,
    futures: bool,
    st: &mut State,
) -> Result<Option<String>, TardisError> {
    let r = c.next.clone().expect("a row");
    let exchange_us = row_time(c, &r, s)?;
    let (mut bids, mut asks) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let at = 4 + 4 * i;
        for (side, px, qty) in [
            (&mut asks, &r[at], &r[at + 1]),
            (&mut bids, &r[at + 2], &r[at + 3]),
        ] {
            if px.is_empty() && qty.is_empty() {
                continue;
            }
            if !is_decimal(px) || !is_decimal(qty) {
                return Err(c.bad(format!(
                    "level {i}: price `{px}` / amount `{qty}` are not numbers"
                )));
            }
            side.push(Level {
                px: px.clone(),
                key: canonical(px).to_string(),
                qty: qty.clone(),
            });
        }
    }
    c.advance()?;
    let ms = exchange_us / 1000;
    let all = |v: &[Level]| -> Vec<String> {
        v.iter()
            .map(|l| super::made_up::level(&l.px, &l.qty))
            .collect()
    };
    let line = match &st.top {
        None => Some(st.ids.snapshot(&all(&bids), &all(&asks), ms, futures)),
        Some((old_bids, old_asks)) => {
            let b = changes(old_bids, &bids);
            let a = changes(old_asks, &asks);
            (!b.is_empty() || !a.is_empty()).then(|| st.ids.update(&s.symbol, &b, &a, ms, futures))
        }
    };
    st.top = Some((bids, asks));
    Ok(line)
}

/// The levels that turn side `old` into side `new`: those gone (amount 0), new or
/// changed.
fn changes(old: &[Level], new: &[Level]) -> Vec<String> {
    let mut out = Vec::new();
    for o in old {
        if !new.iter().any(|l| l.key == o.key) {
            out.push(super::made_up::level(&o.px, "0"));
        }
    }
    for l in new {
        let same = old
            .iter()
            .any(|o| o.key == l.key && canonical(&o.qty) == canonical(&l.qty));
        if !same {
            out.push(super::made_up::level(&l.px, &l.qty));
        }
    }
    out
}

/// One `quotes` row as a `bookTicker` (`None` when a side is empty).
fn quote_message(c: &mut Csv, s: &Subject, futures: bool) -> Result<Option<String>, TardisError> {
    let r = c.next.clone().expect("a row");
    let exchange_us = row_time(c, &r, s)?;
    // ask_amount, ask_price, bid_price, bid_amount
    let empty = r[4..8].iter().any(String::is_empty);
    if !empty && !r[4..8].iter().all(|v| is_decimal(v)) {
        return Err(c.bad(format!(
            "quote `{},{},{},{}`: not numbers",
            r[4], r[5], r[6], r[7]
        )));
    }
    c.advance()?;
    if empty {
        return Ok(None);
    }
    let ms = exchange_us / 1000;
    Ok(Some(super::made_up::book_ticker(
        &s.symbol,
        0,
        (&r[6], &r[7]),
        (&r[5], &r[4]),
        (ms, ms),
        futures,
    )))
}

/// One trade row as a `trade` message.
fn trade_message(
    c: &mut Csv,
    s: &Subject,
    futures: bool,
    st: &mut State,
) -> Result<String, TardisError> {
    let r = c.next.clone().expect("a row");
    let exchange_us = row_time(c, &r, s)?;
    if !is_decimal(&r[6]) || !is_decimal(&r[7]) {
        return Err(c.bad(format!(
            "price `{}` / amount `{}` are not numbers",
            r[6], r[7]
        )));
    }
    let id = match r[4].parse::<u64>() {
        Ok(id) => id,
        Err(_) => {
            st.trade_id += 1;
            st.trade_id
        }
    };
    // Tardis gives the taker's side; Binance says whether the buyer was the maker.
    let buyer_maker = match r[5].as_str() {
        "sell" => true,
        "buy" | "unknown" => false,
        other => return Err(c.bad(format!("side `{other}`: expected buy, sell or unknown"))),
    };
    let ms = exchange_us / 1000;
    let line = super::made_up::trade(&s.symbol, id, (&r[6], &r[7]), ms, buyer_maker, futures);
    c.advance()?;
    Ok(line)
}
