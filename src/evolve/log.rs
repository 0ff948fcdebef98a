//! The CSV log of every candidate `minerva evolve` evaluated (`--log`), and reading
//! it back to go on from it (`--resume`). Written and read with the `csv` crate.
//!
//! ```text
//! # minerva evolve log; data and settings 088fb7b33f298cd0
//! generation,short_pressure,…,fitness,trades,net_pnl,max_drawdown,error
//! 0,0.75,…,0.0030216,13,0.2378568,0.2348351,
//! 2,0.8,…,,,,,"refused: `short_pressure` = 2"
//! ```

use super::{Candidate, Gene, Generation, Outcome, overrides};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The log's first line: what its outcomes depend on (`--resume` refuses a log made
/// with other data or settings).
pub fn csv_fingerprint(fingerprint: &str) -> String {
    format!("# minerva evolve log; data and settings {fingerprint}\n")
}

/// The outcome columns after the genes'.
const OUTCOME_COLUMNS: [&str; 5] = ["fitness", "trades", "net_pnl", "max_drawdown", "error"];

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new())
}

fn text(w: csv::Writer<Vec<u8>>) -> String {
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The log's header for `genes` (after [`csv_fingerprint`]).
pub fn csv_head(genes: &[Gene]) -> String {
    let mut w = writer();
    let cells = std::iter::once("generation")
        .chain(genes.iter().map(|g| g.key.as_str()))
        .chain(OUTCOME_COLUMNS);
    // Writing into memory cannot fail.
    let _ = w.write_record(cells);
    text(w)
}

/// The rows of the candidates a generation evaluated first.
pub fn csv_rows(genes: &[Gene], g: &Generation) -> String {
    let mut w = writer();
    for c in &g.new {
        let mut row = vec![c.born.to_string()];
        row.extend(overrides(genes, &c.genome).into_iter().map(|(_, v)| v));
        match &c.outcome {
            Ok(r) => row.extend([
                r.fitness.to_string(),
                r.trades.to_string(),
                r.net_pnl.to_string(),
                r.max_drawdown.to_string(),
                String::new(),
            ]),
            Err(e) => row.extend(
                ["", "", "", ""]
                    .map(String::from)
                    .into_iter()
                    .chain([e.clone()]),
            ),
        }
        let _ = w.write_record(&row);
    }
    text(w)
}

/// Why a log cannot be resumed from.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResumeError {
    /// Made with other data, strategy or backtest settings.
    #[error("the log was made with other data or settings (its fingerprint {0})")]
    Fingerprint(String),
    /// Other genes, or not a log of `minerva evolve`.
    #[error("the log's columns are not this run's genes: {0}")]
    Columns(String),
    /// A row that does not read.
    #[error("line {line}: {why}")]
    Row {
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// The candidates an earlier run logged (`--resume`): every evaluated row, in order;
/// rows of candidates skipped on Ctrl-C (`not run: …`) are left out, to be run now.
///
/// # Errors
/// [`ResumeError`] for another fingerprint, other genes or a row that does not read.
pub fn read_log(
    text: &str,
    genes: &[Gene],
    fingerprint: &str,
) -> Result<Vec<Candidate>, ResumeError> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if format!("{first}\n") != csv_fingerprint(fingerprint) {
        return Err(ResumeError::Fingerprint(
            first.rsplit(' ').next().unwrap_or_default().to_string(),
        ));
    }
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(rest.as_bytes());
    let mut records = rows.records();
    let head = records.next().and_then(Result::ok).unwrap_or_default();
    let want: Vec<&str> = std::iter::once("generation")
        .chain(genes.iter().map(|g| g.key.as_str()))
        .chain(OUTCOME_COLUMNS)
        .collect();
    if head.iter().ne(want.iter().copied()) {
        return Err(ResumeError::Columns(
            head.iter().collect::<Vec<_>>().join(","),
        ));
    }
    let mut out = Vec::new();
    for record in records {
        let (line, cells) = match record {
            Ok(r) => (r.position().map_or(0, |p| p.line() as usize + 1), r),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize + 1);
                return Err(ResumeError::Row {
                    line,
                    why: e.to_string(),
                });
            }
        };
        let bad = |why: &str| ResumeError::Row {
            line,
            why: why.to_string(),
        };
        if cells.len() != want.len() {
            return Err(bad("wrong number of columns"));
        }
        let born = cells[0].parse().map_err(|_| bad("generation"))?;
        let mut genome = Vec::with_capacity(genes.len());
        for (g, v) in genes.iter().zip(cells.iter().skip(1)) {
            let x: f64 = v.parse().map_err(|_| bad(&format!("{} `{v}`", g.key)))?;
            let k = g.index_of(x);
            // Off this run's grid: a log of other ranges.
            if g.text(k) != v {
                return Err(bad(&format!("{} = {v} is off the gene's grid", g.key)));
            }
            genome.push(k);
        }
        let n = genes.len() + 1;
        let error = &cells[n + 4];
        let outcome = if error.is_empty() {
            let num = |i: usize, what: &str| -> Result<f64, ResumeError> {
                cells[n + i].parse().map_err(|_| bad(what))
            };
            Ok(Outcome {
                fitness: num(0, "fitness")?,
                trades: cells[n + 1].parse().map_err(|_| bad("trades"))?,
                net_pnl: num(2, "net_pnl")?,
                max_drawdown: num(3, "max_drawdown")?,
            })
        } else {
            if error.starts_with("not run") {
                continue;
            }
            Err(error.to_string())
        };
        out.push(Candidate {
            genome,
            outcome,
            born,
        });
    }
    Ok(out)
}

/// The log file of a run: created with its fingerprint and header, or an earlier
/// run's, read back and appended to.
pub struct LogFile {
    file: File,
}

/// An earlier run's log, opened to go on from it.
pub struct Resumed {
    /// The file, positioned to append.
    pub log: LogFile,
    /// The candidates it holds.
    pub known: Vec<Candidate>,
    /// Its last row was cut short (the run was killed mid-write) and was dropped.
    pub cut_row_dropped: bool,
}

/// Why a log file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Its contents do not fit this run.
    #[error(transparent)]
    Resume(#[from] ResumeError),
}

impl LogFile {
    /// A new log at `path` for `genes`.
    ///
    /// # Errors
    /// [`LogError::Io`] when the file cannot be written.
    pub fn create(path: &Path, fingerprint: &str, genes: &[Gene]) -> Result<Self, LogError> {
        let mut file = File::create(path)?;
        file.write_all(csv_fingerprint(fingerprint).as_bytes())?;
        file.write_all(csv_head(genes).as_bytes())?;
        Ok(Self { file })
    }

    /// An earlier run's log at `path`: its candidates, and the file to append to. A
    /// last row cut short is dropped from the file, so that candidate runs again and
    /// new rows do not join onto the stump.
    ///
    /// # Errors
    /// [`LogError`] when the file cannot be read or is not a log of this run.
    pub fn resume(path: &Path, genes: &[Gene], fingerprint: &str) -> Result<Resumed, LogError> {
        let mut text = std::fs::read_to_string(path)?;
        let cut = !text.is_empty() && !text.ends_with('\n');
        if cut {
            text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(text.len() as u64)?;
        }
        let known = read_log(&text, genes, fingerprint)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Resumed {
            log: Self { file },
            known,
            cut_row_dropped: cut,
        })
    }

    /// Appends a generation's new candidates.
    ///
    /// # Errors
    /// The write's error.
    pub fn append(&mut self, genes: &[Gene], g: &Generation) -> std::io::Result<()> {
        self.file.write_all(csv_rows(genes, g).as_bytes())
    }
}
