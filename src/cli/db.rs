//! `minerva db`: recording databases — import recorded files, say what a database
//! holds (with its depth gaps), export sessions back as lines or views as CSV.

use anyhow::{Context, Result, bail};
use minerva::core::utc;
use minerva::store::journal::JournalView;
use minerva::store::{Target, View, export, open_recorded, open_sink, scan};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `minerva db` commands.
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Import recorded files (hftbacktest, cryptofeed, JSON lines; gzip or plain), one
    /// session each, their lines kept byte for byte; `replay`, `backtest`, `signal`,
    /// `exchange` and `run --source replay:` then read the database as the files.
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The database (created when absent): a SQLite file or `postgres://…`.
        #[arg(long, visible_alias = "store", required_unless_present = "tape")]
        db: Option<String>,
        /// A tape to write instead of a database (`backtest`, `evolve`, `signal` and
        /// `report` read it): the
        /// import goes through a scratch SQLite file, then `tape build`'s decoding.
        #[arg(long, conflicts_with = "db")]
        tape: Option<PathBuf>,
        /// With --tape: the symbol's exchangeInfo (its grids), when the data does not
        /// carry it.
        #[arg(long, requires = "tape")]
        exchange_info: Option<PathBuf>,
        /// What the files are: Minerva's and other tools' captures (a session per
        /// file), Tardis.dev CSV (`incremental_book_L2` or `book_snapshot_N`, `trades`
        /// and `quotes` of one Binance symbol, gzip or plain), or Binance's public archive (trades, aggTrades,
        /// klines, futures bookTicker of one symbol; .zip as downloaded): one session
        /// each (docs/recording.md).
        #[arg(long, value_enum, default_value = "captures")]
        from: ImportFrom,
        /// With --from hftbacktest: the symbol (its files do not name it).
        #[arg(long)]
        symbol: Option<String>,
        /// With --from hftbacktest: spot, usdm or coinm (its files do not say).
        #[arg(long)]
        market: Option<String>,
    },
    /// Integrity, sessions, symbols, time ranges, lines per stream, events, and the
    /// gaps in each session's depth diffs.
    Info {
        /// The database: a SQLite file or `postgres://…`.
        db: String,
    },
    /// Sessions back out as lines (a file per session, replayable as the database),
    /// or a decoded view (trades, top_of_book, candles_1m, klines, the book's top
    /// levels at an interval) or a journal table (decisions, orders, reports, fills,
    /// operations, events, account) as CSV or Parquet.
    Export {
        /// The database: a SQLite file or `postgres://…` (recordings and journals).
        db: String,
        /// What to write.
        #[arg(long, value_enum, default_value = "lines")]
        format: Format,
        /// With csv or parquet: the view (a journal table implies --format csv unless
        /// parquet is asked).
        #[arg(long, value_enum, default_value = "trades")]
        view: ViewArg,
        /// Only these sessions (comma-separated ids; default all).
        #[arg(long, value_delimiter = ',')]
        session: Vec<i64>,
        /// Journal views: only these runs (comma-separated ids; default all).
        #[arg(long, value_delimiter = ',')]
        run: Vec<i64>,
        /// With --view book: the interval between samples of the book (1s, 100ms, 1m).
        #[arg(long, default_value = "1s", value_parser = super::args::parse_period)]
        every: super::time::Duration,
        /// With --view book: the levels a side in each sample.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        levels: u16,
        /// lines: a directory (one file per session; default stdout);
        /// csv: a file (default stdout); parquet: a file (required).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A view `db export` writes as CSV: a recording's decoded messages, or a journal's
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewArg {
    /// Recorded `@trade` messages.
    Trades,
    /// Recorded `@bookTicker` messages.
    #[value(name = "top_of_book")]
    TopOfBook,
    /// One-minute candles made from the recorded trades.
    #[value(name = "candles_1m")]
    Candles1m,
    /// Recorded `@kline_1m` messages.
    Klines,
    /// The replayed book's best --levels levels a side every --every (while in
    /// sync): session, at_ns, symbol, bid_price_1, bid_qty_1, ask_price_1, ….
    Book,
    /// Journal: intents and the risk manager's verdicts.
    Decisions,
    /// Journal: order requests.
    Orders,
    /// Journal: every exchange report.
    Reports,
    /// Journal: fills.
    Fills,
    /// Journal: closed operations.
    Operations,
    /// Journal: run events (connections, account, exit).
    Events,
    /// Journal: account snapshots (balances, position, margin) at start, every
    /// minute, on the user stream's account events and at exit.
    Account,
}

impl ViewArg {
    /// The recording view, or the journal table.
    fn split(self) -> Result<View, JournalView> {
        match self {
            Self::Trades => Ok(View::Trades),
            Self::TopOfBook => Ok(View::TopOfBook),
            Self::Candles1m => Ok(View::Candles1m),
            Self::Klines => Ok(View::Klines),
            // Not a stored view: `export_book` replays the sessions (never asked here).
            Self::Book => Ok(View::Trades),
            Self::Decisions => Err(JournalView::Decisions),
            Self::Orders => Err(JournalView::Orders),
            Self::Reports => Err(JournalView::Reports),
            Self::Fills => Err(JournalView::Fills),
            Self::Operations => Err(JournalView::Operations),
            Self::Events => Err(JournalView::Events),
            Self::Account => Err(JournalView::Account),
        }
    }
}

/// What `db import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFrom {
    /// Recorded lines: hftbacktest and cryptofeed captures, JSON lines.
    Captures,
    /// Tardis.dev CSV: incremental_book_L2 or book_snapshot_N, trades, quotes.
    Tardis,
    /// data.binance.vision: trades, aggTrades, klines, futures bookTicker (no book).
    BinanceArchive,
    /// hftbacktest's event files (.npz / .npy), with --symbol and --market.
    Hftbacktest,
}

/// What `db export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The sessions' lines as received, replayable.
    Lines,
    /// A decoded view as CSV.
    Csv,
    /// A decoded view or a journal table as Parquet, columns typed (times as UTC
    /// timestamps, integers, numbers, booleans, text); needs --out.
    Parquet,
}

/// Runs a `minerva db` command.
pub fn run(c: Cmd) -> Result<()> {
    // Piped into `head` and the like: end quietly when the reader goes, as
    // Unix tools do.
    // SAFETY: restores the default action of one signal; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match c {
        Cmd::Import {
            files,
            db: None,
            tape: Some(tape),
            from,
            symbol,
            market,
            exchange_info,
        } => {
            // A scratch database beside nothing else, removed whatever happens.
            let scratch = std::env::temp_dir().join(format!(
                "minerva-import-{}-{}.db",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            struct Remove(PathBuf);
            impl Drop for Remove {
                fn drop(&mut self) {
                    for ext in ["", "-wal", "-shm"] {
                        let mut p = self.0.clone().into_os_string();
                        p.push(ext);
                        let _ = std::fs::remove_file(p);
                    }
                }
            }
            let _scratch = Remove(scratch.clone());
            run(Cmd::Import {
                files,
                db: Some(scratch.display().to_string()),
                tape: None,
                from,
                symbol,
                market,
                exchange_info: None,
            })?;
            let opts = minerva::replay::ReplayOptions {
                exchange_info,
                ..Default::default()
            };
            let sessions = minerva::store::expand(std::slice::from_ref(&scratch))?;
            super::tape::build_tape(&sessions, opts, &tape)
        }
        Cmd::Import {
            files,
            db,
            from,
            symbol,
            market,
            ..
        } => match (from, db.unwrap_or_default()) {
            (_, db) if db.is_empty() => bail!("db import: give --db or --tape"),
            (from, _)
                if from != ImportFrom::Hftbacktest && (symbol.is_some() || market.is_some()) =>
            {
                bail!("--symbol and --market are for --from hftbacktest (other files name both)")
            }
            (ImportFrom::Captures, db) => import(&files, &db),
            (ImportFrom::Tardis, db) => import_tardis(&files, &db),
            (ImportFrom::BinanceArchive, db) => import_archive(&files, &db),
            (ImportFrom::Hftbacktest, db) => {
                let (Some(symbol), Some(market)) = (symbol, market) else {
                    bail!(
                        "--from hftbacktest: give --symbol and --market (its files name neither)"
                    );
                };
                let t0 = std::time::Instant::now();
                let target = Target::parse(&db);
                let mut sink = open_sink(&target)?;
                let (session, lines) = minerva::store::hftbacktest_npz::import(
                    sink.as_mut(),
                    &files,
                    &symbol,
                    &market,
                )?;
                println!(
                    "{}: session {session} from hftbacktest events, {lines} lines in {:.2} s (update ids made up: no gap detection)",
                    target.display(),
                    t0.elapsed().as_secs_f64()
                );
                Ok(())
            }
        },
        Cmd::Info { db } => info(&db),
        Cmd::Export {
            db,
            format,
            view,
            session,
            run,
            every,
            levels,
            out,
        } => match (format, view.split()) {
            _ if view == ViewArg::Book => export_book(
                &db,
                format,
                &session,
                every.us * 1000,
                usize::from(levels),
                out.as_deref(),
            ),
            (Format::Parquet, split) => export_parquet(&db, split, &session, &run, out.as_deref()),
            (_, Err(table)) => export_journal(&db, table, &run, out.as_deref()),
            (Format::Lines, Ok(_)) => export_lines(&db, &session, out.as_deref()),
            (Format::Csv, Ok(view)) => export_csv(&db, view, &session, out.as_deref()),
        },
    }
}

fn import(files: &[PathBuf], db: &str) -> Result<()> {
    let t0 = std::time::Instant::now();
    let target = Target::parse(db);
    let mut sink = open_sink(&target)?;
    // Bytes of the files read, rate and time left (on a terminal only).
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "import [{bar:30}] {percent:>3} % {bytes}/{total_bytes} · {bytes_per_sec} · {eta} left",
    ) {
        bar.set_style(style.progress_chars("#."));
    }
    let (sessions, lines) =
        minerva::store::import_with(sink.as_mut(), files, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}: {} session(s) {:?}, {lines} lines in {secs:.2} s ({:.0} lines/s)",
        target.display(),
        sessions.len(),
        sessions,
        lines as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn import_tardis(files: &[PathBuf], db: &str) -> Result<()> {
    let t0 = std::time::Instant::now();
    let target = Target::parse(db);
    let mut sink = open_sink(&target)?;
    let (session, lines) = minerva::store::tardis::import(sink.as_mut(), files, &mut |_| {})?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}: session {session} from Tardis CSV, {lines} lines in {secs:.2} s (update ids made up: no gap detection)",
        target.display(),
    );
    Ok(())
}

fn import_archive(files: &[PathBuf], db: &str) -> Result<()> {
    let t0 = std::time::Instant::now();
    let target = Target::parse(db);
    let mut sink = open_sink(&target)?;
    let (session, lines) = minerva::store::binance_archive::import(sink.as_mut(), files)?;
    println!(
        "{}: session {session} from Binance's archive, {lines} lines in {:.2} s (no order book: replay and exports read it; backtests need depth)",
        target.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The journal runs a database holds, one line each with its row counts; true when
/// there were any.
fn journal_info(path: &Path) -> Result<bool> {
    let runs = minerva::store::journal::runs(path)?;
    let time = |ns: i64| utc((ns.max(0) / 1_000_000) as u64);
    for r in &runs {
        let end = if r.ended_ns > 0 {
            time(r.ended_ns)
        } else {
            "not closed (running, or stopped hard)".to_string()
        };
        let [d, o, rep, f, op, ev, acc] = r.counts;
        println!(
            "journal run {} ({} {} {}): {} → {end}; strategy {} (sha256 {}…){}",
            r.id,
            r.venue,
            r.market,
            r.symbols,
            time(r.started_ns),
            r.strategy,
            &r.strategy_sha256[..r.strategy_sha256.len().min(12)],
            r.recording
                .as_deref()
                .map(|x| format!("; market data recorded into {x}"))
                .unwrap_or_default()
        );
        println!(
            "  {d} decisions, {o} orders, {rep} reports ({f} fills), {op} operations closed, {ev} events, {acc} account snapshots"
        );
    }
    Ok(!runs.is_empty())
}

fn info(db: &str) -> Result<()> {
    let target = Target::parse(db);
    let journal = match &target {
        // Not a SQLite file at all: the recording store's refusal below says so.
        Target::Sqlite(p) if p.exists() => journal_info(p).unwrap_or(false),
        Target::Sqlite(_) => false,
        Target::Postgres(_) => journal_info(Path::new(db))?,
    };
    let mut store = match open_recorded(&target) {
        Ok(s) => s,
        // A journal of its own (no recording in it) is fully described above.
        Err(_) if journal => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    println!("{}: integrity {}", target.display(), store.integrity()?);
    let time = |ns: i64| utc((ns.max(0) / 1_000_000) as u64);
    for s in store.sessions()? {
        let what = if s.symbol.is_empty() {
            String::new()
        } else {
            format!(" ({} {})", s.symbol, s.market)
        };
        let closed = if s.ended_ns > 0 {
            ""
        } else {
            " · not closed (recording, or the recorder was stopped hard)"
        };
        println!(
            "session {} from {}{what}: {} lines, {} → {}{closed}",
            s.id,
            s.source,
            s.lines,
            time(s.first_ns),
            time(s.last_ns)
        );
        for (stream, n) in &s.streams {
            let name = if stream.is_empty() { "(other)" } else { stream };
            println!("  {name:<28} {n}");
        }
        if !s.events.is_empty() {
            let ev: Vec<String> = s.events.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("  events: {}", ev.join(", "));
        }
        let sc = scan::scan(store.as_mut(), s.id)?;
        let silences = if sc.silences.is_empty() {
            String::new()
        } else {
            format!(
                ", {} of {} s or more",
                sc.silences.len(),
                scan::SILENCE / 1_000_000_000
            )
        };
        println!(
            "  depth: {} diffs, {} snapshots, {} gaps; longest silence {:.1} s{silences}",
            sc.diffs,
            sc.snapshots,
            sc.breaks.len(),
            sc.longest_silence as f64 / 1e9,
        );
        for (at, b) in sc.breaks.iter().take(10) {
            println!(
                "    gap at {}: after update {} came {} ({} ids missing)",
                time(*at),
                b.last,
                b.first,
                b.first.saturating_sub(b.last + 1)
            );
        }
        if sc.breaks.len() > 10 {
            println!("    … {} more", sc.breaks.len() - 10);
        }
        for (from, to) in sc.silences.iter().take(5) {
            println!(
                "    silent {} → {} ({:.1} s)",
                time(*from),
                time(*to),
                (to - from) as f64 / 1e9
            );
        }
    }
    Ok(())
}

fn export_lines(db: &str, sessions: &[i64], out: Option<&Path>) -> Result<()> {
    let mut store = open_recorded(&Target::parse(db))?;
    if let Some(dir) = out {
        for (path, n) in export::lines_into_dir(store.as_mut(), sessions, dir)? {
            eprintln!("{}: {n} lines", path.display());
        }
        return Ok(());
    }
    let ids: Vec<i64> = if sessions.is_empty() {
        store.sources()?.iter().map(|s| s.0).collect()
    } else {
        sessions.to_vec()
    };
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    for id in ids {
        export::lines_to(store.as_mut(), id, &mut w, Path::new("stdout"))?;
    }
    w.flush()?;
    Ok(())
}

fn export_journal(db: &str, table: JournalView, runs: &[i64], out: Option<&Path>) -> Result<()> {
    let path = Path::new(db);
    let n = match out {
        Some(o) => {
            let f = std::fs::File::create(o).with_context(|| format!("{}", o.display()))?;
            minerva::store::journal::export_csv(path, table, runs, std::io::BufWriter::new(f))?
        }
        None => minerva::store::journal::export_csv(
            path,
            table,
            runs,
            std::io::BufWriter::new(std::io::stdout().lock()),
        )?,
    };
    eprintln!("{table:?}: {n} rows");
    Ok(())
}

fn export_parquet(
    db: &str,
    what: std::result::Result<View, JournalView>,
    sessions: &[i64],
    runs: &[i64],
    out: Option<&Path>,
) -> Result<()> {
    let Some(out) = out else {
        bail!("--format parquet: give the file to write with --out");
    };
    let n = match what {
        Ok(view) => {
            let mut store = open_recorded(&Target::parse(db))?;
            if sessions.len() > 1 {
                bail!("--format parquet: one --session, or none for all");
            }
            export::parquet_to(store.as_mut(), view, sessions.first().copied(), out)?
        }
        Err(table) => minerva::store::journal::export_parquet(Path::new(db), table, runs, out)?,
    };
    eprintln!("{}: {n} rows", out.display());
    Ok(())
}

/// `--view book`: the sessions replayed, the book sampled (`replay::book_rows`), as
/// CSV or Parquet. Parquet types its columns in a first pass: the sessions are
/// replayed twice.
fn export_book(
    db: &str,
    format: Format,
    sessions: &[i64],
    every_ns: u64,
    levels: usize,
    out: Option<&Path>,
) -> Result<()> {
    use minerva::replay::book_rows::{book_columns, book_rows};
    let target = Target::parse(db);
    let wanted: Vec<(Vec<String>, Vec<PathBuf>)> = minerva::store::expand(&[PathBuf::from(db)])?
        .into_iter()
        .filter_map(|p| {
            let (_, id) = minerva::store::session_path(&p)?;
            (sessions.is_empty() || sessions.contains(&id)).then(|| (vec![id.to_string()], vec![p]))
        })
        .collect();
    if wanted.is_empty() {
        bail!(
            "{}: no session to sample{}",
            target.display(),
            if sessions.is_empty() {
                ""
            } else {
                " among --session"
            }
        );
    }
    let opts = minerva::replay::ReplayOptions::default();
    let names = book_columns(&["session"], levels);
    let n = match format {
        Format::Parquet => {
            let Some(out) = out else {
                bail!("--format parquet: give the file to write with --out");
            };
            use minerva::store::parquet::{Cell, write_table};
            let mut rows = 0;
            write_table::<anyhow::Error>(out, Some(&names), &mut |push| {
                rows = book_rows(&wanted, &opts, every_ns, levels, &mut |cells| {
                    // Empty text is a null in a typed column, as in the views' export.
                    let cells: Vec<Cell<'_>> = cells.iter().map(|c| Cell::Text(c)).collect();
                    push(&cells).map_err(|e| format!("{e:#}"))
                })?;
                Ok(())
            })?;
            rows
        }
        // The book has no lines of its own: CSV unless Parquet is asked.
        Format::Csv | Format::Lines => {
            let sink: Box<dyn Write> = match out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut w = csv::WriterBuilder::new().from_writer(sink);
            w.write_record(&names)?;
            let n = book_rows(&wanted, &opts, every_ns, levels, &mut |cells| {
                w.write_record(cells).map_err(|e| e.to_string())
            })?;
            w.flush()?;
            n
        }
    };
    eprintln!(
        "book: {n} rows ({levels} levels a side every {} ms)",
        every_ns / 1_000_000
    );
    Ok(())
}

fn export_csv(db: &str, view: View, sessions: &[i64], out: Option<&Path>) -> Result<()> {
    let mut store = open_recorded(&Target::parse(db))?;
    if sessions.len() > 1 {
        bail!("--format csv: one --session, or none for all");
    }
    let one = sessions.first().copied();
    let n = match out {
        Some(path) => {
            let f = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let n = export::csv_to(store.as_mut(), view, one, &mut w, path)?;
            w.flush()?;
            n
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let n = export::csv_to(store.as_mut(), view, one, &mut w, Path::new("stdout"))?;
            w.flush()?;
            n
        }
    };
    eprintln!("{}: {n} rows", view.name());
    Ok(())
}
