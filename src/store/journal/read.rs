//! The journal's readers: the runs a database holds (`minerva db info`), a table as
//! CSV (`minerva db export --view`), one run in full (`minerva observe`). SQLite
//! files and PostgreSQL databases alike (`db.rs`).

use super::JournalError;
use super::db::{Db, Val, vals};
use std::path::{Path, PathBuf};

/// A run as `minerva db info` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Its id.
    pub id: i64,
    /// Start and end, wall clock ns (end 0: still running, or stopped hard).
    pub started_ns: i64,
    /// End, ns.
    pub ended_ns: i64,
    /// Venue (`paper`, `local`, `testnet`, `live`, `replay`).
    pub venue: String,
    /// Market and symbols.
    pub market: String,
    /// Symbols, comma-separated.
    pub symbols: String,
    /// The strategy file and its SHA-256.
    pub strategy: String,
    /// SHA-256 of the strategy file.
    pub strategy_sha256: String,
    /// The recording written beside it.
    pub recording: Option<String>,
    /// Rows: decisions, orders, reports, fills, operations, events, account snapshots.
    pub counts: [i64; 7],
}

/// The journal tables one can export (`minerva db export --view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalView {
    /// `journal_decisions`.
    Decisions,
    /// `journal_orders`.
    Orders,
    /// `journal_reports`.
    Reports,
    /// `journal_reports` that are fills.
    Fills,
    /// `journal_operations`.
    Operations,
    /// `journal_events`.
    Events,
    /// `journal_account`: account snapshots.
    Account,
}

impl JournalView {
    fn query(self) -> &'static str {
        match self {
            Self::Decisions => "SELECT * FROM journal_decisions",
            Self::Orders => "SELECT * FROM journal_orders",
            Self::Reports => "SELECT * FROM journal_reports",
            Self::Fills => "SELECT * FROM journal_reports WHERE report = 'FILLED'",
            Self::Operations => "SELECT * FROM journal_operations",
            Self::Events => "SELECT * FROM journal_events",
            Self::Account => "SELECT * FROM journal_account",
        }
    }
}

fn absent(path: &Path, what: String) -> JournalError {
    JournalError::Thread {
        path: PathBuf::from(crate::store::Target::of_path(path).display()),
        reason: what,
    }
}

/// The runs a journal database holds (none when it has no journal).
///
/// # Errors
/// [`JournalError`] when the database cannot be read.
pub fn runs(path: &Path) -> Result<Vec<RunRow>, JournalError> {
    let Some(mut db) = Db::open_read(path)? else {
        return Ok(Vec::new());
    };
    runs_of(&mut db)
}

fn runs_of(db: &mut Db) -> Result<Vec<RunRow>, JournalError> {
    // Journals written before account snapshots have no such table.
    let accounts = if db.has_table("journal_account")? {
        "(SELECT count(*) FROM journal_account a WHERE a.run = r.id)"
    } else {
        "0"
    };
    let (_, rows) = db.query(
        &format!(
            "SELECT id, started_ns, coalesce(ended_ns, 0), venue, market, symbols, strategy_path, strategy_sha256, recording,
                (SELECT count(*) FROM journal_decisions d WHERE d.run = r.id),
                (SELECT count(*) FROM journal_orders o WHERE o.run = r.id),
                (SELECT count(*) FROM journal_reports p WHERE p.run = r.id),
                (SELECT count(*) FROM journal_reports p WHERE p.run = r.id AND p.report = 'FILLED'),
                (SELECT count(*) FROM journal_operations o WHERE o.run = r.id),
                (SELECT count(*) FROM journal_events e WHERE e.run = r.id),
                {accounts}
             FROM journal_runs r ORDER BY id"
        ),
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| RunRow {
            id: r[0].int(),
            started_ns: r[1].int(),
            ended_ns: r[2].int(),
            venue: r[3].text(),
            market: r[4].text(),
            symbols: r[5].text(),
            strategy: r[6].text(),
            strategy_sha256: r[7].text(),
            recording: r[8].opt_text(),
            counts: std::array::from_fn(|k| r[9 + k].int()),
        })
        .collect())
}

/// Writes `view` of the runs `runs` (all when empty) as CSV into `out`, a header
/// then a row per record in order; the number of rows.
///
/// # Errors
/// [`JournalError`] when the database has no journal or cannot be read; writing
/// errors as `Thread` (the CSV writer's reason).
pub fn export_csv(
    path: &Path,
    view: JournalView,
    runs: &[i64],
    out: impl std::io::Write,
) -> Result<u64, JournalError> {
    let io = |e: csv::Error| absent(path, e.to_string());
    let Some(mut db) = Db::open_read(path)? else {
        return Err(absent(
            path,
            "no journal in this database (minerva run --journal writes one)".into(),
        ));
    };
    let (names, rows) = table(&mut db, view, runs)?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&names).map_err(io)?;
    for r in &rows {
        w.write_record(r.iter().map(Val::text)).map_err(io)?;
    }
    w.flush().map_err(|e| io(e.into()))?;
    Ok(rows.len() as u64)
}

/// Writes `view` of the runs `runs` (all when empty) as a Parquet file (columns typed:
/// `docs/observe.md`); the number of rows.
///
/// # Errors
/// As [`export_csv`], and [`JournalError::Parquet`] when the file cannot be written.
pub fn export_parquet(
    path: &Path,
    view: JournalView,
    runs: &[i64],
    out: &Path,
) -> Result<u64, JournalError> {
    use crate::store::parquet::{Cell, write_table};
    let Some(mut db) = Db::open_read(path)? else {
        return Err(absent(
            path,
            "no journal in this database (minerva run --journal writes one)".into(),
        ));
    };
    let (names, rows) = table(&mut db, view, runs)?;
    write_table::<JournalError>(out, Some(&names), &mut |push| {
        for r in &rows {
            let cells: Vec<Cell<'_>> = r
                .iter()
                .map(|v| match v {
                    Val::Null => Cell::Null,
                    Val::Int(i) => Cell::Int(*i),
                    Val::Text(t) => Cell::Text(t),
                })
                .collect();
            push(&cells)?;
        }
        Ok(())
    })
}

/// A journal view's column names and rows, for the runs `runs` (all when empty).
fn table(
    db: &mut Db,
    view: JournalView,
    runs: &[i64],
) -> Result<(Vec<String>, Vec<Vec<Val>>), JournalError> {
    let filter = if runs.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = runs.iter().map(i64::to_string).collect();
        let join = if view == JournalView::Fills {
            "AND"
        } else {
            "WHERE"
        };
        format!(" {join} run IN ({})", ids.join(","))
    };
    db.query(&format!("{}{filter} ORDER BY id", view.query()), &[])
}

/// A closed operation as the journal holds it (amounts 10⁻⁸ quote).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournaledOperation {
    /// Operation id.
    pub operation: i64,
    /// `LONG` or `SHORT`.
    pub side: String,
    /// Lots, as text on the symbol's grid.
    pub qty: String,
    /// First entry fill, last exit fill, µs (exchange clock).
    pub entry_us: i64,
    /// Last exit fill, µs.
    pub exit_us: i64,
    /// Values of the entry and exit fills, 10⁻⁸ quote.
    pub entry_value_e8: i64,
    /// Exit value, 10⁻⁸ quote.
    pub exit_value_e8: i64,
    /// Fees, 10⁻⁸ quote.
    pub fees_e8: i64,
    /// Funding, 10⁻⁸ quote.
    pub funding_e8: i64,
    /// Net PnL, 10⁻⁸ quote.
    pub pnl_e8: i64,
    /// Margin held, 10⁻⁸ quote.
    pub margin_e8: i64,
    /// How it ended.
    pub exit: String,
}

/// A decision as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournaledDecision {
    /// Exchange time, µs.
    pub at_us: i64,
    /// `LONG` or `SHORT`.
    pub side: String,
    /// Entry price text.
    pub entry: String,
    /// `SENT`, `REFUSED`, `FAILED`.
    pub verdict: String,
    /// Why (refusals).
    pub reason: String,
    /// The operation, when sent.
    pub operation: Option<i64>,
    /// Wall-clock ns when the trader recorded it (older journals: none).
    pub at_ns: Option<i64>,
}

/// A report as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournaledReport {
    /// Exchange time, µs.
    pub exchange_us: i64,
    /// When the trader handled it, µs (the trader's clock, as decisions are).
    pub seen_us: i64,
    /// Client id.
    pub client_id: String,
    /// `ACCEPTED`, `FILLED`, …
    pub report: String,
    /// Why (refusals).
    pub reason: Option<String>,
    /// Wall-clock ns when the trader handled it (older journals: none).
    pub seen_ns: Option<i64>,
}

/// One run's journal, for `minerva observe`.
#[derive(Debug, Clone)]
pub struct RunJournal {
    /// The run.
    pub run: RunRow,
    /// The strategy it traded (TOML).
    pub strategy_text: String,
    /// The grids it traded on (an exchangeInfo answer; empty when not kept).
    pub exchange_info: String,
    /// Closed operations, in closing order.
    pub operations: Vec<JournaledOperation>,
    /// Decisions, in order.
    pub decisions: Vec<JournaledDecision>,
    /// Reports, in order.
    pub reports: Vec<JournaledReport>,
    /// Order requests sent: (µs, action, client id).
    pub orders: Vec<(i64, String, String)>,
}

/// An amount as the writer writes it (`canonical`, 8 decimals, signed) back in 10⁻⁸
/// units.
fn amount(s: &str) -> i64 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = crate::core::decimal::parse_scaled(digits.as_bytes(), 8).unwrap_or(0);
    if neg { -v } else { v }
}

/// Reads run `run` (the last one when `None`) of the journal at `path`.
///
/// # Errors
/// [`JournalError`] when the database has no journal, no such run, or cannot be read.
pub fn load_run(path: &Path, run: Option<i64>) -> Result<RunJournal, JournalError> {
    load_run_of(path, run, None)
}

/// [`load_run`] with only `symbol`'s operations, decisions, reports and orders (a
/// run of several symbols; `None`: all of them).
///
/// # Errors
/// As [`load_run`].
pub fn load_run_of(
    path: &Path,
    run: Option<i64>,
    symbol: Option<&str>,
) -> Result<RunJournal, JournalError> {
    let mut db = Db::open_read(path)?.ok_or_else(|| absent(path, "no journal".into()))?;
    let all = runs_of(&mut db)?;
    let row = match run {
        Some(id) => all.into_iter().find(|r| r.id == id),
        None => all.into_iter().last(),
    }
    .ok_or_else(|| {
        absent(
            path,
            format!(
                "no journal run {}",
                run.map_or("at all".into(), |r| r.to_string())
            ),
        )
    })?;
    let (_, texts) = db.query(
        "SELECT strategy_text, exchange_info FROM journal_runs WHERE id = ?1",
        &vals![row.id],
    )?;
    // The run's rows, or one symbol's.
    let (id, of_symbol): (Vec<Val>, &str) = match symbol {
        Some(s) => (vals![row.id, s].into(), " AND symbol = ?2"),
        None => (vals![row.id].into(), ""),
    };
    let text = |k: usize| texts.first().map_or_else(String::new, |r| r[k].text());
    let (strategy_text, exchange_info) = (text(0), text(1));
    let (_, rows) = db.query(
        &format!(
            "SELECT operation, side, qty, entry_us, exit_us, entry_value, exit_value, fees, funding, pnl, margin, exit
             FROM journal_operations WHERE run = ?1{of_symbol} ORDER BY id"
        ),
        &id,
    )?;
    let operations = rows
        .iter()
        .map(|r| JournaledOperation {
            operation: r[0].int(),
            side: r[1].text(),
            qty: r[2].text(),
            entry_us: r[3].int(),
            exit_us: r[4].int(),
            entry_value_e8: amount(&r[5].text()),
            exit_value_e8: amount(&r[6].text()),
            fees_e8: amount(&r[7].text()),
            funding_e8: amount(&r[8].text()),
            pnl_e8: amount(&r[9].text()),
            margin_e8: amount(&r[10].text()),
            exit: r[11].text(),
        })
        .collect();
    // Journals from before wall-clock stamps lack these columns.
    let or_null = |present: bool, column: &'static str| if present { column } else { "NULL" };
    let at_ns = or_null(db.has_column("journal_decisions", "at_ns")?, "at_ns");
    let (_, rows) = db.query(
        &format!(
            "SELECT at_us, side, entry, verdict, reason, operation, {at_ns} FROM journal_decisions WHERE run = ?1{of_symbol} ORDER BY id"
        ),
        &id,
    )?;
    let decisions = rows
        .iter()
        .map(|r| JournaledDecision {
            at_us: r[0].int(),
            side: r[1].text(),
            entry: r[2].text(),
            verdict: r[3].text(),
            reason: r[4].text(),
            operation: r[5].opt_int(),
            at_ns: r[6].opt_int(),
        })
        .collect();
    let seen_ns = or_null(db.has_column("journal_reports", "seen_ns")?, "seen_ns");
    let (_, rows) = db.query(
        &format!(
            "SELECT exchange_us, seen_us, client_id, report, reason, {seen_ns} FROM journal_reports WHERE run = ?1{of_symbol} ORDER BY id"
        ),
        &id,
    )?;
    let reports = rows
        .iter()
        .map(|r| JournaledReport {
            exchange_us: r[0].int(),
            seen_us: r[1].int(),
            client_id: r[2].text(),
            report: r[3].text(),
            reason: r[4].opt_text(),
            seen_ns: r[5].opt_int(),
        })
        .collect();
    let (_, rows) = db.query(
        &format!(
            "SELECT at_us, action, client_id FROM journal_orders WHERE run = ?1{of_symbol} ORDER BY id"
        ),
        &id,
    )?;
    let orders = rows
        .iter()
        .map(|r| (r[0].int(), r[1].text(), r[2].text()))
        .collect();
    Ok(RunJournal {
        run: row,
        strategy_text,
        exchange_info,
        operations,
        decisions,
        reports,
        orders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// A journal written before account snapshots and wall-clock stamps (no
    /// `journal_account` table, no `at_ns` / `seen_ns` columns) still lists and
    /// loads its runs, and a new run added to it gets the columns.
    #[test]
    fn older_journals_still_list_their_runs() {
        let dir = tempfile::Builder::new()
            .prefix("minerva-old-journal-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("journal.db");
        let conn = Connection::open(&path).unwrap();
        let old = super::super::SCHEMA
            .replace("journal_account", "journal_gone")
            .replace(", at_ns INTEGER);", ");")
            .replace(", seen_ns INTEGER);", ");");
        conn.execute_batch(&old).unwrap();
        conn.execute_batch("DROP TABLE journal_gone").unwrap();
        conn.execute(
            "INSERT INTO journal_runs(started_ns, version, command, strategy_path, strategy_sha256, venue, market, symbols)
             VALUES (1, '0', 'run', 's.toml', 'ab', 'local', 'spot', 'BTCUSDT')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO journal_decisions(run, symbol, at_us, side, entry, take_profit, stop_loss, support_wall, target_wall, void_price, void_width_bins, pressure_ppm, verdict, reason)
             VALUES (1, 'BTCUSDT', 5, 'LONG', '1', '2', '0.5', '0.9', '2.1', '1.5', 3, 800000, 'REFUSED', 'size 0 lots')",
            [],
        )
        .unwrap();
        drop(conn);
        let r = runs(&path).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].counts[6], 0);
        let j = load_run(&path, Some(1)).unwrap();
        assert_eq!(j.decisions.len(), 1);
        assert_eq!(j.decisions[0].at_ns, None);
        // A new run on the old file: the columns are added, its stamps kept.
        let info = super::super::RunInfo {
            command: "run".into(),
            ..Default::default()
        };
        let journal = super::super::Journal::start(&path, &info).unwrap();
        assert_eq!(journal.run(), 2);
        journal.finish().unwrap();
        let conn = Connection::open(&path).unwrap();
        let cols: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('journal_decisions') WHERE name = 'at_ns'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(cols, 1);
        assert_eq!(runs(&path).unwrap().len(), 2);
        assert_eq!(load_run(&path, Some(1)).unwrap().decisions[0].at_ns, None);
    }
}
