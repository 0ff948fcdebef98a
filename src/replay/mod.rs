//! Replaying recorded Binance data through the production decoder and book.
//!
//! Inputs: hftbacktest captures (`<local_ns> <json>` lines, gzip or plain; consecutive
//! day files are one session), cryptofeed captures (`.ws.*`, `.http.*`, `.0` with
//! exchangeInfo) and plain JSON lines with a separate REST snapshot (`--snapshot`).
//! Files are merged by local receive time, so a snapshot fetched mid-stream is applied
//! where it was received and the events before it wait in the book's buffer, as live.

pub mod bench;
mod infer;
pub mod input;
mod report;

use crate::book::{Book, BookConfig};
use crate::core::{EventBody, Market, SymbolSpec};
use crate::feed::binance::snapshot::parse_raw_snapshot;
use crate::feed::binance::{
    DEFAULT_MAX_LEVELS, Decoded, Decoder, SymbolTable, parse_exchange_info,
};
use input::{InputError, LineKind, LineReader, classify};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;
use thiserror::Error;

pub use report::{ReplayReport, SymbolReport};

/// Lines per file looked at to infer symbol grids.
const INFER_LINES: u64 = 5_000;

/// Why a replay could not run.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// Reading the input failed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The input holds no market data Minerva can decode.
    #[error("no decodable market data in the input (no depth, trade or bookTicker messages)")]
    NoData,
    /// `--market` disagrees with the data.
    #[error("{symbol}: --market {given} but the data is {found} ({why})")]
    WrongMarket {
        /// The symbol.
        symbol: String,
        /// The market given.
        given: &'static str,
        /// The market the data shows.
        found: &'static str,
        /// The evidence.
        why: &'static str,
    },
    /// `--symbol` names a symbol not in the input.
    #[error("symbol {0} does not occur in the input")]
    NoSuchSymbol(String),
    /// `--tick`/`--lot`, exchangeInfo or the snapshot file were unusable.
    #[error("{0}")]
    Setup(String),
}

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Market, when not detected from the data (checked against it).
    pub market: Option<Market>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Tick size override (with `lot`).
    pub tick: Option<String>,
    /// Quantity unit override (with `tick`).
    pub lot: Option<String>,
    /// A REST snapshot applied before the first line (for plain JSON lines).
    pub snapshot: Option<PathBuf>,
    /// Book buffer sizes.
    pub book: BookConfig,
    /// Show progress on stderr when it is a terminal.
    pub progress: bool,
}

struct Setup {
    table: SymbolTable,
    /// The single symbol of each file, for snapshots without one.
    file_symbol: Vec<Option<String>>,
}

/// Looks at the first lines of every file: symbols, grids, markets, exchangeInfo.
fn setup(files: &[PathBuf], opts: &ReplayOptions) -> Result<Setup, ReplayError> {
    let mut samples = infer::Samples::default();
    let mut info: BTreeMap<String, SymbolSpec> = BTreeMap::new();
    let mut file_symbol = Vec::new();
    let mut bare_snapshots: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let mut r = LineReader::open(path)?;
        let mut seen: Vec<String> = Vec::new();
        while r.lines() < INFER_LINES {
            let Some(line) = r.next_line()? else { break };
            let l = classify(line);
            match l.kind {
                LineKind::Frame => {
                    if l.json.starts_with(b"{\"lastUpdateId\"") {
                        bare_snapshots.push((i, l.json.to_vec()));
                    } else if let Some(s) = samples.frame(l.json) {
                        if !seen.contains(&s) {
                            seen.push(s);
                        }
                    }
                }
                LineKind::RestDepth => {
                    if let Some(s) = l.url_symbol {
                        samples.snapshot(s, l.json);
                    }
                }
                LineKind::ExchangeInfo => {
                    let ei = parse_exchange_info(l.json, None)
                        .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
                    info.extend(ei.specs.into_iter().map(|s| (s.name.to_string(), s)));
                }
                _ => {}
            }
        }
        let from_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split(['_', '.']).next())
            .map(str::to_ascii_uppercase);
        file_symbol.push(match seen.as_slice() {
            [one] => Some(one.clone()),
            _ => from_name.filter(|n| seen.contains(n)),
        });
    }
    for (i, json) in &bare_snapshots {
        if let Some(s) = &file_symbol[*i] {
            samples.snapshot(s, json);
        }
    }
    if let Some(s) = opts.snapshot.as_ref() {
        let json =
            std::fs::read(s).map_err(|e| ReplayError::Setup(format!("{}: {e}", s.display())))?;
        if let Some(sym) = opts.symbol.clone().or_else(|| single(&samples)) {
            samples.snapshot(&sym, &json);
        }
    }
    let mut table = SymbolTable::new();
    for (name, sample) in &samples.by_symbol {
        if opts
            .symbol
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let found = sample.market();
        if let Some(given) = opts.market {
            let why = if sample.has_pu && !given.is_futures() {
                Some("depth events carry `pu`")
            } else if sample.depth_without_pu && given.is_futures() {
                Some("depth events have no `pu`")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ReplayError::WrongMarket {
                    symbol: name.clone(),
                    given: given.name(),
                    found: found.name(),
                    why,
                });
            }
        }
        let market = opts.market.unwrap_or(found);
        let spec = match (&opts.tick, &opts.lot, info.get(name)) {
            (Some(t), Some(l), _) => SymbolSpec::from_tick_lot(name, market, t, l)
                .map_err(|e| ReplayError::Setup(format!("--tick/--lot: {e}")))?,
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(ReplayError::Setup("--tick and --lot go together".into()));
            }
            (None, None, Some(spec)) => {
                let mut spec = spec.clone();
                let (p, q) = sample.places();
                spec.refine(p, q)
                    .map_err(|e| ReplayError::Setup(format!("{name}: {e}")))?;
                spec
            }
            (None, None, None) => match sample.spec(name, market) {
                Some(s) => s,
                None => continue,
            },
        };
        table.insert(spec);
    }
    if let Some(s) = &opts.symbol {
        if table.lookup(s).is_none() {
            return Err(ReplayError::NoSuchSymbol(s.to_ascii_uppercase()));
        }
    }
    if table.specs().is_empty() {
        return Err(ReplayError::NoData);
    }
    Ok(Setup { table, file_symbol })
}

/// A spec inferred from a REST snapshot's text (tick from the finest price digit,
/// lot from the quantity width), for inputs without exchangeInfo.
pub fn spec_from_snapshot(name: &str, market: Market, json: &[u8]) -> Option<SymbolSpec> {
    let mut s = infer::Samples::default();
    s.snapshot(name, json);
    s.by_symbol
        .get(&name.to_ascii_uppercase())?
        .spec(name, market)
}

fn single(samples: &infer::Samples) -> Option<String> {
    let mut it = samples.by_symbol.keys();
    match (it.next(), it.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Per-symbol message counters beside the book's own.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    trades: u64,
    agg_trades: u64,
    book_tickers: u64,
    klines: u64,
    mark_prices: u64,
}

/// Replays `files` and reports what each symbol's book saw.
///
/// # Errors
/// [`ReplayError`] for unreadable input, input without market data, or options that
/// contradict the data. Malformed lines inside a good file are counted, not fatal.
pub fn replay(files: &[PathBuf], opts: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let Setup { table, file_symbol } = setup(files, opts)?;
    let mut books: Vec<Book> = table
        .specs()
        .iter()
        .map(|s| Book::new(s, &opts.book))
        .collect();
    let mut counts = vec![Counts::default(); books.len()];
    let mut decoder = Decoder::new(table, DEFAULT_MAX_LEVELS);
    let mut rep = ReplayReport::default();
    let start = Instant::now();

    if let Some(path) = &opts.snapshot {
        let json = std::fs::read(path)
            .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
        let id = match &opts.symbol {
            Some(s) => decoder.table().lookup(s),
            None if books.len() == 1 => Some(crate::core::SymbolId(0)),
            None => None,
        }
        .ok_or_else(|| {
            ReplayError::Setup(
                "--snapshot needs --symbol when the input has several symbols".into(),
            )
        })?;
        let snap = parse_raw_snapshot(&json)
            .and_then(|r| r.on_grid(decoder.table().spec(id)))
            .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
        books[id.0 as usize].apply_snapshot(&snap);
    }

    let mut readers = files
        .iter()
        .map(|p| LineReader::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let total_bytes: u64 = readers.iter().map(|r| r.size).sum();
    let consumed: Vec<_> = readers.iter().map(|r| r.consumed.clone()).collect();
    let show = opts.progress && std::io::stderr().is_terminal() && total_bytes > (4 << 20);
    let mut last_show = Instant::now();
    // Next receive time per reader; `None` once exhausted.
    let mut next: Vec<Option<u64>> = Vec::with_capacity(readers.len());
    for r in readers.iter_mut() {
        next.push(r.next_line()?.map(|l| classify(l).recv_ns));
    }
    loop {
        // The reader whose current line was received first (ties: file order).
        let Some(i) = (0..readers.len())
            .filter(|&i| next[i].is_some())
            .min_by_key(|&i| (next[i], i))
        else {
            break;
        };
        {
            let Some(line) = readers[i].current() else {
                break;
            };
            rep.lines += 1;
            let l = classify(line);
            match l.kind {
                LineKind::Frame => {
                    rep.frames += 1;
                    let r = decoder.decode(l.json, l.recv_ns, &mut |ev| {
                        let k = ev.symbol.0 as usize;
                        let c = &mut counts[k];
                        match ev.body {
                            EventBody::Trade(_) => c.trades += 1,
                            EventBody::AggTrade(_) => c.agg_trades += 1,
                            EventBody::BookTicker(_) => c.book_tickers += 1,
                            EventBody::Kline(_) => c.klines += 1,
                            EventBody::MarkPrice(_) => c.mark_prices += 1,
                            EventBody::Depth(_) => {}
                        }
                        books[k].on_event(ev);
                    });
                    match r {
                        Ok(Decoded::Snapshot { symbol }) => {
                            let id = symbol.or_else(|| {
                                file_symbol[i]
                                    .as_deref()
                                    .and_then(|s| decoder.table().lookup(s))
                            });
                            if let Some(id) = id {
                                load_snapshot(
                                    l.json,
                                    id,
                                    &decoder,
                                    &mut books,
                                    &mut rep,
                                    &readers[i],
                                );
                            }
                        }
                        Ok(_) => {}
                        Err(e) => rep.note(&readers[i], e),
                    }
                }
                LineKind::RestDepth => {
                    let id = l.url_symbol.and_then(|s| decoder.table().lookup(s));
                    if let Some(id) = id {
                        load_snapshot(l.json, id, &decoder, &mut books, &mut rep, &readers[i]);
                    }
                }
                LineKind::Garbage => {
                    rep.garbage_lines += 1;
                    rep.note(&readers[i], "not a recorded message line");
                }
                LineKind::ExchangeInfo | LineKind::Ignore => {}
            }
        }
        next[i] = readers[i].next_line()?.map(|l| classify(l).recv_ns);
        if show && rep.lines % 4096 == 0 && last_show.elapsed().as_millis() >= 250 {
            last_show = Instant::now();
            let done: u64 = consumed
                .iter()
                .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            eprint!(
                "\r  replay {:5.1}%  {} lines",
                100.0 * done as f64 / total_bytes as f64,
                rep.lines
            );
        }
    }
    if show {
        eprint!("\r\x1b[K");
    }
    rep.secs = start.elapsed().as_secs_f64();
    let st = *decoder.stats();
    rep.decode_errors = st.errors;
    rep.unknown_type = st.unknown_type;
    rep.unknown_symbol = st.unknown_symbol;
    rep.fast_path = st.fast_path;
    rep.full_path = st.full_path;
    for (k, book) in books.iter().enumerate() {
        rep.symbols
            .push(SymbolReport::new(book, &counts_of(&counts[k])));
    }
    Ok(rep)
}

/// Loads a snapshot line into its symbol's book; a bad one is counted and noted.
fn load_snapshot(
    json: &[u8],
    id: crate::core::SymbolId,
    decoder: &Decoder,
    books: &mut [Book],
    rep: &mut ReplayReport,
    at: &LineReader,
) {
    match parse_raw_snapshot(json).and_then(|r| r.on_grid(decoder.table().spec(id))) {
        Ok(s) => books[id.0 as usize].apply_snapshot(&s),
        Err(e) => {
            rep.snapshot_errors += 1;
            rep.note(at, e);
        }
    }
}

fn counts_of(c: &Counts) -> report::MsgCounts {
    report::MsgCounts {
        trades: c.trades,
        agg_trades: c.agg_trades,
        book_tickers: c.book_tickers,
        klines: c.klines,
        mark_prices: c.mark_prices,
    }
}
