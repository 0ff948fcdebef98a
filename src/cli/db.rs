//! `minerva db`: recording databases — import recorded files, say what a database
//! holds (with its depth gaps), export sessions back as lines or views as CSV.

use anyhow::{Context, Result, bail};
use minerva::core::utc;
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
        #[arg(long, visible_alias = "store")]
        db: String,
    },
    /// Integrity, sessions, symbols, time ranges, lines per stream, events, and the
    /// gaps in each session's depth diffs.
    Info {
        /// The database: a SQLite file or `postgres://…`.
        db: String,
    },
    /// Sessions back out as lines (a file per session, replayable as the database),
    /// or a decoded view (trades, top_of_book, candles_1m, klines) as CSV.
    Export {
        /// The database: a SQLite file or `postgres://…`.
        db: String,
        /// What to write.
        #[arg(long, value_enum, default_value = "lines")]
        format: Format,
        /// With csv: the view.
        #[arg(long, value_enum, default_value = "trades")]
        view: View,
        /// Only these sessions (comma-separated ids; default all).
        #[arg(long, value_delimiter = ',')]
        session: Vec<i64>,
        /// lines: a directory (one file per session; default stdout);
        /// csv: a file (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What `db export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The sessions' lines as received, replayable.
    Lines,
    /// A decoded view as CSV.
    Csv,
}

/// Runs a `minerva db` command.
pub fn run(c: Cmd) -> Result<()> {
    // Piped into `head` and the like: end quietly when the reader goes, as
    // Unix tools do.
    // SAFETY: restores the default action of one signal; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match c {
        Cmd::Import { files, db } => import(&files, &db),
        Cmd::Info { db } => info(&db),
        Cmd::Export {
            db,
            format,
            view,
            session,
            out,
        } => match format {
            Format::Lines => export_lines(&db, &session, out.as_deref()),
            Format::Csv => export_csv(&db, view, &session, out.as_deref()),
        },
    }
}

fn import(files: &[PathBuf], db: &str) -> Result<()> {
    let t0 = std::time::Instant::now();
    let target = Target::parse(db);
    let mut sink = open_sink(&target)?;
    let (sessions, lines) = minerva::store::import(sink.as_mut(), files)?;
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

fn info(db: &str) -> Result<()> {
    let target = Target::parse(db);
    let mut store = open_recorded(&target)?;
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
