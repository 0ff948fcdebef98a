//! Replaying recorded market data through the production decoder and book.
//!
//! Inputs: hftbacktest captures (`<local_ns> <json>` lines, gzip or plain; consecutive
//! day files are one session), cryptofeed captures of Binance or KuCoin (`.ws.*`,
//! `.http.*`, `.0` with the symbol list), Minerva's recordings, and plain JSON lines
//! with a separate REST snapshot (`--snapshot`). The venue is read from the data (or
//! given, and checked).
//! Files are merged by local receive time, so a snapshot fetched mid-stream is applied
//! where it was received and the events before it wait in the book's buffer, as live.

pub mod bench;
pub mod book_rows;
mod infer;
mod report;
pub mod signal_report;
pub mod signal_run;

use crate::book::{Book, BookConfig};
use crate::core::{Market, MarketEvent, SymbolId, SymbolSpec};
use crate::store::files::{InputError, LineKind, LineReader, classify};
use crate::venues::wire::{DEFAULT_MAX_LEVELS, Decoded, SymbolTable};
use crate::venues::{MarketDecoder, Venue, parse_depth_snapshot};
use report::MsgCounts;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Venue, when not detected from the data (checked against it).
    pub venue: Option<Venue>,
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
    /// A REST exchangeInfo response with the symbols' filters (tick, lot step,
    /// minimums), for recordings that carry none.
    pub exchange_info: Option<PathBuf>,
    /// Book buffer sizes.
    pub book: BookConfig,
    /// Show progress on stderr when it is a terminal.
    pub progress: bool,
}

struct Setup {
    venue: Venue,
    table: SymbolTable,
    /// The single symbol of each file, for snapshots without one.
    file_symbol: Vec<Option<String>>,
}

/// The venue the input shows, refusing a mix.
#[derive(Default)]
struct SeenVenue(Option<Venue>);

impl SeenVenue {
    fn saw(&mut self, v: Venue) -> Result<(), ReplayError> {
        match self.0 {
            Some(had) if had != v => Err(ReplayError::Setup(format!(
                "the input mixes {} and {} data: replay one venue at a time",
                had.name(),
                v.name()
            ))),
            _ => {
                self.0 = Some(v);
                Ok(())
            }
        }
    }
}

/// Looks at the first lines of every file: venue, symbols, grids, markets, symbol lists.
fn setup(files: &[PathBuf], opts: &ReplayOptions) -> Result<Setup, ReplayError> {
    let mut samples = infer::Samples::default();
    let mut venue = SeenVenue::default();
    let mut info: BTreeMap<String, SymbolSpec> = BTreeMap::new();
    let mut file_symbol = Vec::new();
    let mut bare_snapshots: Vec<(usize, Vec<u8>)> = Vec::new();
    if let Some(path) = &opts.exchange_info {
        let json = std::fs::read(path)
            .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
        let specs = crate::venues::parse_symbol_list(&json)
            .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
        info.extend(specs.into_iter().map(|s| (s.name.to_string(), s)));
    }
    for (i, path) in files.iter().enumerate() {
        // A recorded session's own exchangeInfo, where nothing given says otherwise.
        if let Some((db, session)) = crate::store::session_path(path) {
            let stored = crate::store::open_recorded(&db)
                .and_then(|mut s| s.exchange_info(session))
                .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
            if let Some(json) = stored {
                let specs = crate::venues::parse_symbol_list(&json).map_err(|e| {
                    ReplayError::Setup(format!("{}: stored symbol list: {e}", path.display()))
                })?;
                for spec in specs {
                    info.entry(spec.name.to_string()).or_insert(spec);
                }
            }
        }
        let mut r = LineReader::open(path)?;
        let mut seen: Vec<String> = Vec::new();
        while r.lines() < INFER_LINES {
            let Some(line) = r.next_line()? else { break };
            let l = classify(line);
            match l.kind {
                LineKind::Frame => {
                    if l.json.starts_with(b"{\"lastUpdateId\"") {
                        venue.saw(Venue::Binance)?;
                        bare_snapshots.push((i, l.json.to_vec()));
                    } else if crate::venues::kucoin::peek::is_snapshot(l.json) {
                        // A KuCoin REST snapshot a live source stored among the frames
                        // (`minerva record --venue kucoin`): its levels refine the grid.
                        venue.saw(Venue::Kucoin)?;
                        bare_snapshots.push((i, l.json.to_vec()));
                    } else if let Some((s, v)) = samples.frame(l.json) {
                        venue.saw(v)?;
                        if !seen.contains(&s) {
                            seen.push(s);
                        }
                    }
                }
                LineKind::RestDepth => {
                    venue.saw(Venue::of_answer(l.json))?;
                    if let Some(s) = l.url_symbol {
                        samples.snapshot(s, l.json);
                    }
                }
                LineKind::ExchangeInfo => {
                    venue.saw(Venue::of_answer(l.json))?;
                    let specs = crate::venues::parse_symbol_list(l.json)
                        .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display())))?;
                    info.extend(specs.into_iter().map(|s| (s.name.to_string(), s)));
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
    let found_venue = venue.0.unwrap_or_default();
    if let Some(given) = opts.venue {
        if venue.0.is_some_and(|v| v != given) {
            return Err(ReplayError::Setup(format!(
                "--venue {} but the data is {}'s",
                given.name(),
                found_venue.name()
            )));
        }
    }
    let venue = opts.venue.unwrap_or(found_venue);
    let mut table = SymbolTable::new();
    for (name, sample) in &samples.by_symbol {
        if opts
            .symbol
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let found = sample.market(name);
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
        table.insert(spec.on_venue(venue));
    }
    if let Some(s) = &opts.symbol {
        if table.lookup(s).is_none() {
            return Err(ReplayError::NoSuchSymbol(s.to_ascii_uppercase()));
        }
    }
    if table.specs().is_empty() {
        return Err(ReplayError::NoData);
    }
    Ok(Setup {
        venue,
        table,
        file_symbol,
    })
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

/// The symbols of `files` with their grids, as the replay would use them (detected from
/// the data, exchangeInfo, `--tick/--lot`), without replaying.
///
/// # Errors
/// As [`replay`].
pub fn symbol_table(files: &[PathBuf], opts: &ReplayOptions) -> Result<SymbolTable, ReplayError> {
    Ok(setup(files, opts)?.table)
}

/// `files` without those that hold another symbol only: a recording database's
/// sessions each hold one symbol and their REST snapshots are bare (they name none),
/// so one symbol's replay over every session would take another symbol's snapshot
/// for its own book. Files of several symbols, or of none seen, are kept.
///
/// # Errors
/// As [`replay`].
pub fn files_of_symbol(
    files: &[PathBuf],
    opts: &ReplayOptions,
    symbol: &str,
) -> Result<Vec<PathBuf>, ReplayError> {
    if files.len() < 2 || symbol.is_empty() {
        return Ok(files.to_vec());
    }
    let Setup { file_symbol, .. } = setup(files, opts)?;
    Ok(files
        .iter()
        .zip(&file_symbol)
        .filter(|(_, of)| of.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(symbol)))
        .map(|(f, _)| f.clone())
        .collect())
}

fn single(samples: &infer::Samples) -> Option<String> {
    let mut it = samples.by_symbol.keys();
    match (it.next(), it.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Sees every decoded event right after its symbol's book has taken it: the hook the
/// signal stage (and later the backtester) uses to run on recorded data.
pub trait Observer {
    /// One event, and the book of its symbol after applying it.
    fn on_event(&mut self, ev: &MarketEvent, book: &Book);
}

/// Observes nothing.
struct NoObserver;

impl Observer for NoObserver {
    fn on_event(&mut self, _: &MarketEvent, _: &Book) {}
}

/// The decoder and one book per symbol, fed line by line.
struct Replayer {
    decoder: MarketDecoder,
    books: Vec<Book>,
    counts: Vec<MsgCounts>,
    rep: ReplayReport,
}

impl Replayer {
    /// Handles one recorded line of `at`; `file_symbol` names the symbol of a bare
    /// snapshot in a single-symbol file.
    fn line<O: Observer>(
        &mut self,
        line: &[u8],
        at: &LineReader,
        file_symbol: Option<&str>,
        obs: &mut O,
    ) {
        self.rep.lines += 1;
        let l = classify(line);
        match l.kind {
            LineKind::Frame => {
                self.rep.frames += 1;
                let (books, counts) = (&mut self.books, &mut self.counts);
                let r = self.decoder.decode(l.json, l.recv_ns, &mut |ev| {
                    let k = ev.symbol.0 as usize;
                    counts[k].count(&ev.body);
                    books[k].on_event(ev);
                    obs.on_event(ev, &books[k]);
                });
                match r {
                    Ok(Decoded::Snapshot { symbol }) => {
                        let id = symbol
                            .or_else(|| file_symbol.and_then(|s| self.decoder.table().lookup(s)));
                        if let Some(id) = id {
                            self.load_snapshot(l.json, id, at);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => self.rep.note(at, e),
                }
            }
            LineKind::RestDepth => {
                if let Some(id) = l.url_symbol.and_then(|s| self.decoder.table().lookup(s)) {
                    self.load_snapshot(l.json, id, at);
                }
            }
            LineKind::Garbage => {
                self.rep.garbage_lines += 1;
                self.rep.note(at, "not a recorded message line");
            }
            LineKind::ExchangeInfo | LineKind::Ignore => {}
        }
    }

    /// Loads a snapshot into its symbol's book; a bad one is counted and noted.
    fn load_snapshot(&mut self, json: &[u8], id: SymbolId, at: &LineReader) {
        let spec = self.decoder.table().spec(id);
        match parse_depth_snapshot(self.decoder.venue(), json, spec) {
            Ok(s) => self.books[id.0 as usize].apply_snapshot(&s),
            Err(e) => {
                self.rep.snapshot_errors += 1;
                self.rep.note(at, e);
            }
        }
    }

    fn finish(mut self, secs: f64) -> ReplayReport {
        self.rep.secs = secs;
        let st = *self.decoder.stats();
        self.rep.decode_errors = st.errors;
        self.rep.unknown_type = st.unknown_type;
        self.rep.unknown_symbol = st.unknown_symbol;
        self.rep.fast_path = st.fast_path;
        self.rep.full_path = st.full_path;
        let venue = self.decoder.venue();
        for (book, c) in self.books.iter().zip(&self.counts) {
            self.rep.symbols.push(SymbolReport::new(book, c, venue));
        }
        self.rep
    }
}

/// Progress on stderr for long inputs: indicatif's bar with the rate and the time
/// left, drawn only on a terminal.
struct Progress {
    consumed: Vec<Arc<AtomicU64>>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(readers: &[LineReader], enabled: bool) -> Option<Self> {
        let total: u64 = readers.iter().map(|r| r.size).sum();
        (enabled && total > (4 << 20)).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "  replay [{bar:30}] {percent:>3} % {bytes}/{total_bytes} {bytes_per_sec} · {eta} left",
            ) {
                bar.set_style(style.progress_chars("#."));
            }
            Self {
                consumed: readers.iter().map(|r| r.consumed.clone()).collect(),
                bar,
            }
        })
    }

    fn tick(&mut self, lines: u64) {
        if lines % 4096 != 0 {
            return;
        }
        let done: u64 = self
            .consumed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        self.bar.set_position(done);
    }

    fn done(self) {
        self.bar.finish_and_clear();
    }
}

/// Hands `obs` every event of already decoded `input` (a tape; frames work too) and
/// its symbol's book after it, as [`replay_observed`] does for recorded files;
/// returns the book at the end (its state says whether it ended in sync).
pub fn observe_input<O: Observer>(
    input: crate::backtest::Input<'_>,
    spec: &SymbolSpec,
    opts: &ReplayOptions,
    obs: &mut O,
) -> Book {
    use crate::backtest::BookInput;
    let mut book = Book::new(spec, &opts.book);
    input.for_each_book_input(spec, &mut |_, item| match item {
        BookInput::Event(ev) => {
            book.on_event(ev);
            obs.on_event(ev, &book);
        }
        BookInput::Snapshot(s) => book.apply_snapshot(s),
        BookInput::FrameEnd => {}
    });
    book
}

/// Replays `files` and reports what each symbol's book saw.
///
/// # Errors
/// [`ReplayError`] for unreadable input, input without market data, or options that
/// contradict the data. Malformed lines inside a good file are counted, not fatal.
pub fn replay(files: &[PathBuf], opts: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    replay_observed(files, opts, &mut NoObserver)
}

/// [`replay`], handing every event and its book to `obs` as it goes.
///
/// # Errors
/// As [`replay`].
pub fn replay_observed<O: Observer>(
    files: &[PathBuf],
    opts: &ReplayOptions,
    obs: &mut O,
) -> Result<ReplayReport, ReplayError> {
    let Setup {
        venue,
        table,
        file_symbol,
    } = setup(files, opts)?;
    let books: Vec<Book> = table
        .specs()
        .iter()
        .map(|s| Book::new(s, &opts.book))
        .collect();
    let mut r = Replayer {
        counts: vec![MsgCounts::default(); books.len()],
        books,
        decoder: MarketDecoder::new(venue, table, DEFAULT_MAX_LEVELS),
        rep: ReplayReport::default(),
    };
    let start = Instant::now();
    if let Some(path) = &opts.snapshot {
        let setup_err =
            |e: &dyn std::fmt::Display| ReplayError::Setup(format!("{}: {e}", path.display()));
        let json = std::fs::read(path).map_err(|e| setup_err(&e))?;
        let id = match &opts.symbol {
            Some(s) => r.decoder.table().lookup(s),
            None if r.books.len() == 1 => Some(SymbolId(0)),
            None => None,
        }
        .ok_or_else(|| {
            ReplayError::Setup(
                "--snapshot needs --symbol when the input has several symbols".into(),
            )
        })?;
        let snap = parse_depth_snapshot(venue, &json, r.decoder.table().spec(id))
            .map_err(|e| setup_err(&e))?;
        r.books[id.0 as usize].apply_snapshot(&snap);
    }
    let mut readers = files
        .iter()
        .map(|p| LineReader::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut progress = Progress::new(&readers, opts.progress);
    merge_lines(&mut readers, |i, line, reader| {
        r.line(line, reader, file_symbol[i].as_deref(), obs);
        if let Some(p) = progress.as_mut() {
            p.tick(r.rep.lines);
        }
    })?;
    if let Some(p) = progress {
        p.done();
    }
    Ok(r.finish(start.elapsed().as_secs_f64()))
}

/// Hands `f` every line of `readers` (with its reader's index), always the line
/// received first (ties: file order), as a live feed would deliver them.
fn merge_lines(
    readers: &mut [LineReader],
    mut f: impl FnMut(usize, &[u8], &LineReader),
) -> Result<(), InputError> {
    // Receive time of each reader's current line; `None` once exhausted.
    let mut next = Vec::with_capacity(readers.len());
    for rd in readers.iter_mut() {
        next.push(rd.next_line()?.map(|l| classify(l).recv_ns));
    }
    while let Some(i) = (0..readers.len())
        .filter(|&i| next[i].is_some())
        .min_by_key(|&i| (next[i], i))
    {
        if let Some(line) = readers[i].current() {
            f(i, line, &readers[i]);
        }
        next[i] = readers[i].next_line()?.map(|l| classify(l).recv_ns);
    }
    Ok(())
}

/// A recorded frame or REST snapshot as a live source would deliver it: its bytes,
/// its receive time (ns), and the symbol a snapshot in it is of when its body names
/// none (the REST log's URL, or the one symbol of its file).
pub type TaggedFrame = (Vec<u8>, u64, Option<SymbolId>);

/// The symbols of `files` (as [`symbol_table`]) and every frame and REST depth
/// snapshot of the files in the replay's order (the line received first across
/// files), each tagged with the symbol of a snapshot that does not name it: what
/// `minerva exchange` serves, and what a pipeline of several symbols replays. Cold.
///
/// # Errors
/// As [`replay`].
pub fn tagged_frames(
    files: &[PathBuf],
    opts: &ReplayOptions,
) -> Result<(SymbolTable, Vec<TaggedFrame>), ReplayError> {
    let Setup {
        table, file_symbol, ..
    } = setup(files, opts)?;
    let mut readers = files
        .iter()
        .map(|p| LineReader::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    merge_lines(&mut readers, |i, line, _| {
        let l = classify(line);
        let of = match l.kind {
            LineKind::Frame => file_symbol[i].as_deref(),
            LineKind::RestDepth => l.url_symbol,
            _ => return,
        };
        out.push((l.json.to_vec(), l.recv_ns, of.and_then(|s| table.lookup(s))));
    })?;
    Ok((table, out))
}
