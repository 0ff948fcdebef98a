//! The audit journal's writer (its cold half; the trader's `gateway::audit::Recorder`
//! is the hot one): a thread and its tables. Cold path: it drains the trader's rings
//! and writes batched transactions (every 100 ms, or 1,000 rows), so a crash loses at
//! most the batch in flight and the database always opens cleanly. The database is a
//! SQLite file (WAL) or PostgreSQL (`postgres://…`, the same tables; `db.rs`); the
//! readers (`db info`, `db export`, `observe`) are in `read.rs`.
//!
//! Tables (prices and quantities as decimal text on the symbol's grids, amounts with
//! 8 decimals, times in µs of the exchange clock unless named `_ns`, wall clock):
//! * `journal_runs`: one row per run (version, command line, strategy file and its
//!   SHA-256, venue, market, symbols, the recording it wrote, start and stop);
//! * `journal_decisions`: each intent (side, entry, take profit, stop, the walls, the
//!   void and the pressure it came from) and its verdict (sent with size, margin and
//!   leverage; refused with the reason);
//! * `journal_orders`: each request (new, OCO list, cancel) with its parameters;
//! * `journal_reports`: each report (`ACCEPTED`, `REJECTED` with the reason, `FILLED`
//!   with price, quantity, maker flag, fee and what is left, `CANCELED`, `EXPIRED`,
//!   `LIQUIDATED`, `FUNDING`), with the exchange's time and the trader's;
//! * `journal_operations`: each closed operation (entry and exit values, fees,
//!   funding, PnL, how it ended);
//! * `journal_events`: the run's own events (start, connections, account snapshots,
//!   entries lost, stop) with a JSON detail.

use crate::core::decimal::canonical;
use crate::core::{OrderCmd, OrderKind, OrderSide, Report, SymbolSpec};
use crate::gateway::audit::{Entry, Recorder, Stamped, Verdict};
use crate::signal::oracle::Side;
use db::{Db, Val, vals};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod db;
mod read;
pub use read::{
    JournalView, JournaledDecision, JournaledOperation, JournaledReport, RunJournal, RunRow,
    export_csv, export_parquet, load_run, load_run_of, runs,
};

/// Entries a recorder's ring holds before the writer counts losses.
pub const RING: usize = 16 * 1024;
/// Rows per transaction at most.
const BATCH: usize = 1_000;
/// A transaction at least this often while entries come.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// Why the journal could not be written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused (a read-only path, a full disk, a locked file…).
    #[error("journal {path}: {reason}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's reason.
        reason: rusqlite::Error,
    },
    /// PostgreSQL refused or could not be reached.
    #[error("journal {target}: {}", crate::store::postgres::detail(.reason))]
    Postgres {
        /// The database's URL, without its password.
        target: String,
        /// The client's reason.
        reason: postgres::Error,
    },
    /// The writer thread could not start or died.
    #[error("journal {path}: {reason}")]
    Thread {
        /// The database.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// A Parquet export could not be written.
    #[error(transparent)]
    Parquet(#[from] crate::store::parquet::ParquetError),
}

/// What a run is, for its row in `journal_runs`.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The command line as given (keys never are: they come from the environment).
    pub command: String,
    /// The strategy file.
    pub strategy_path: String,
    /// The strategy the run traded, as TOML (the file with the command line's
    /// overrides applied): kept and hashed, so `minerva observe` replays it exactly.
    pub strategy_text: String,
    /// `paper`, `local`, `testnet`, `live`, `replay`.
    pub venue: String,
    /// `spot`, `usdm`, `coinm`.
    pub market: String,
    /// The symbols traded.
    pub symbols: Vec<String>,
    /// The recording database written beside the run (`--record`), if any.
    pub recording: Option<String>,
    /// The symbols' grids the run traded on, as an exchangeInfo answer (observe
    /// backtests the recording on the same grids).
    pub exchange_info: String,
}

/// What the writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// The run's id in the journal.
    pub run: i64,
    /// Decisions (intents and verdicts).
    pub decisions: u64,
    /// Order requests.
    pub orders: u64,
    /// Exchange reports.
    pub reports: u64,
    /// Of which fills.
    pub fills: u64,
    /// Closed operations.
    pub operations: u64,
    /// Events.
    pub events: u64,
    /// Account snapshots.
    pub accounts: u64,
    /// Entries lost because a ring was full.
    pub lost: u64,
}

/// Called with each closed operation once it is written (`minerva run
/// --write-fitness` keeps the strategy file's `[results.live]` with it).
pub type OnClosed = Box<dyn FnMut(&crate::gateway::journal::ClosedTrade) + Send>;

enum Msg {
    Attach(rtrb::Consumer<Stamped>, Box<SymbolSpec>),
    OnClosed(OnClosed),
    Event(&'static str, String),
    Account(Box<crate::venues::AccountSnapshot>),
    Watch(Arc<crate::feed::LiveStats>),
    Stop,
}

/// The live feed's counters as last journaled: a change becomes an event.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct FeedSeen {
    connects: u64,
    drops: u64,
    snapshots: u64,
    failures: u64,
    rotations: u64,
    stale: u64,
    budget_waits: u64,
}

impl FeedSeen {
    fn read(s: &crate::feed::LiveStats) -> Self {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Self {
            connects: r(&s.connects),
            drops: r(&s.drops),
            snapshots: r(&s.snapshots),
            failures: r(&s.failures),
            rotations: r(&s.rotations),
            stale: r(&s.stale),
            budget_waits: r(&s.budget_waits),
        }
    }

    /// Events for what changed since `before`: (kind, new total).
    fn changes(&self, before: &Self) -> Vec<(&'static str, u64)> {
        [
            ("connect", self.connects, before.connects),
            ("disconnect", self.drops, before.drops),
            ("snapshot", self.snapshots, before.snapshots),
            ("connect_failed", self.failures, before.failures),
            ("rotation", self.rotations, before.rotations),
            ("stale_resync", self.stale, before.stale),
            ("weight_wait", self.budget_waits, before.budget_waits),
        ]
        .into_iter()
        .filter(|(_, now, then)| now > then)
        .map(|(k, now, _)| (k, now))
        .collect()
    }
}

/// A running journal.
pub struct Journal {
    /// Wall-clock ns of the last operation sent (0: none yet), for the watchdog.
    last_operation_ns: Arc<std::sync::atomic::AtomicI64>,
    /// The writer thread's OS id, once it runs (tests that count allocations per
    /// thread leave it out).
    tid: Arc<std::sync::atomic::AtomicI32>,
    tx: Sender<Msg>,
    thread: Option<JoinHandle<Result<Summary, JournalError>>>,
    lost: Arc<AtomicU64>,
    path: PathBuf,
    run: i64,
}

fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS journal_runs(
    id INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL, ended_ns INTEGER,
    version TEXT NOT NULL, command TEXT NOT NULL, strategy_path TEXT NOT NULL,
    strategy_sha256 TEXT NOT NULL, venue TEXT NOT NULL, market TEXT NOT NULL,
    symbols TEXT NOT NULL, recording TEXT, strategy_text TEXT NOT NULL DEFAULT '',
    exchange_info TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS journal_decisions(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    symbol TEXT NOT NULL, at_us INTEGER NOT NULL, side TEXT NOT NULL,
    entry TEXT NOT NULL, take_profit TEXT NOT NULL, stop_loss TEXT NOT NULL,
    support_wall TEXT NOT NULL, target_wall TEXT NOT NULL, void_price TEXT NOT NULL,
    void_width_bins INTEGER NOT NULL, pressure_ppm INTEGER NOT NULL,
    verdict TEXT NOT NULL, reason TEXT NOT NULL, operation INTEGER, qty TEXT,
    margin TEXT, leverage INTEGER, at_ns INTEGER);
CREATE TABLE IF NOT EXISTS journal_orders(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    symbol TEXT NOT NULL, at_us INTEGER NOT NULL, action TEXT NOT NULL,
    client_id TEXT NOT NULL, side TEXT, type TEXT, price TEXT, qty TEXT,
    reduce_only INTEGER, take_profit_id TEXT, take_profit TEXT, stop_id TEXT,
    stop TEXT, timestamp_ms INTEGER NOT NULL, recv_window_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal_reports(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    symbol TEXT NOT NULL, exchange_us INTEGER NOT NULL, seen_us INTEGER NOT NULL,
    client_id TEXT NOT NULL, report TEXT NOT NULL, price TEXT, qty TEXT,
    maker INTEGER, fee TEXT, leaves TEXT, reason TEXT, seen_ns INTEGER);
CREATE TABLE IF NOT EXISTS journal_operations(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    symbol TEXT NOT NULL, operation INTEGER NOT NULL, side TEXT NOT NULL,
    qty TEXT NOT NULL, entry_us INTEGER NOT NULL, exit_us INTEGER NOT NULL,
    entry_value TEXT NOT NULL, exit_value TEXT NOT NULL, fees TEXT NOT NULL,
    funding TEXT NOT NULL, pnl TEXT NOT NULL, margin TEXT NOT NULL,
    exit TEXT NOT NULL, maker_fills INTEGER NOT NULL, taker_fills INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal_account(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    at_ns INTEGER NOT NULL, exchange_ms INTEGER NOT NULL, why TEXT NOT NULL,
    asset TEXT NOT NULL, wallet TEXT, available TEXT, position TEXT, entry_price TEXT,
    unrealised TEXT, margin TEXT, leverage INTEGER, detail TEXT NOT NULL, symbol TEXT);
CREATE TABLE IF NOT EXISTS journal_events(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    at_ns INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_reports_run ON journal_reports(run, id);
CREATE INDEX IF NOT EXISTS journal_orders_run ON journal_orders(run, id);
";

/// Columns added since the first journals: older databases get them on opening
/// (table, column, type).
const ADDED: &[(&str, &str, &str)] = &[
    ("journal_decisions", "at_ns", "INTEGER"),
    ("journal_reports", "seen_ns", "INTEGER"),
    ("journal_account", "symbol", "TEXT"),
];

impl Journal {
    /// Opens (or creates) the journal at `path`, adds the run and starts the writer.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be opened or written.
    pub fn start(path: &Path, info: &RunInfo) -> Result<Self, JournalError> {
        let mut db = Db::create(path, SCHEMA, ADDED)?;
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(info.strategy_text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let (_, rows) = db.query(
            "INSERT INTO journal_runs(started_ns, version, command, strategy_path, strategy_sha256, venue, market, symbols, recording, strategy_text, exchange_info)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            &vals![
                wall_ns(),
                env!("CARGO_PKG_VERSION"),
                &info.command,
                &info.strategy_path,
                hash,
                &info.venue,
                &info.market,
                info.symbols.join(","),
                info.recording.as_deref(),
                &info.strategy_text,
                &info.exchange_info,
            ],
        )?;
        let run = rows.first().and_then(|r| r.first()).map_or(0, Val::int);
        tracing::info!(journal = %db.name(), run, "audit journal opened");
        let (tx, rx) = channel();
        let lost = Arc::new(AtomicU64::new(0));
        let l = lost.clone();
        let tid = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let t = tid.clone();
        let last_operation_ns = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let last_op = last_operation_ns.clone();
        let thread = std::thread::Builder::new()
            .name("minerva-journal".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                t.store(unsafe { libc::gettid() }, Ordering::Release);
                write_loop(db, run, &rx, &l, &last_op)
            })
            .map_err(|e| JournalError::Thread {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            last_operation_ns,
            tid,
            tx,
            thread: Some(thread),
            lost,
            path: path.to_path_buf(),
            run,
        })
    }

    /// The run's id in the journal.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// When the last operation was sent, wall-clock ns since the epoch (0: none yet;
    /// as the writer has seen it, within its batch period).
    pub fn last_operation_ns(&self) -> i64 {
        self.last_operation_ns.load(Ordering::Relaxed)
    }

    /// The writer thread's OS thread id (0 until it has started): the journal is
    /// written off the pipeline's threads, and tests that count allocations per
    /// thread leave this one out.
    pub fn writer_thread_id(&self) -> i32 {
        self.tid.load(Ordering::Acquire)
    }

    /// A recorder for the trader of `spec` (its ring drained by the writer).
    pub fn recorder(&self, spec: &SymbolSpec) -> Recorder {
        let (tx, rx) = rtrb::RingBuffer::new(RING);
        let _ = self.tx.send(Msg::Attach(rx, Box::new(spec.clone())));
        Recorder::new(tx, self.lost.clone())
    }

    /// Calls `f` on the writer thread with every closed operation, after it is
    /// written.
    pub fn on_closed(&self, f: OnClosed) {
        let _ = self.tx.send(Msg::OnClosed(f));
    }

    /// Journals the live feed's connection events (connects, disconnects, snapshots,
    /// failed attempts, rotations, stale resyncs, weight waits) as they happen.
    pub fn watch_feed(&self, stats: Arc<crate::feed::LiveStats>) {
        let _ = self.tx.send(Msg::Watch(stats));
    }

    /// A run event (`connect`, `account`, …) with its JSON detail. Cold.
    pub fn event(&self, kind: &'static str, detail: String) {
        let _ = self.tx.send(Msg::Event(kind, detail));
    }

    /// Where a live link hands its account snapshots (start, every `every`, the user
    /// data stream's account events, exit): rows of `journal_account`.
    pub fn account_sink(&self, every: Duration) -> crate::venues::AccountSink {
        let tx = self.tx.clone();
        crate::venues::AccountSink {
            f: Arc::new(move |s| {
                let _ = tx.send(Msg::Account(Box::new(s)));
            }),
            every,
        }
    }

    /// Drains what is left, closes the run and waits for the writer.
    ///
    /// # Errors
    /// The writer's [`JournalError`] (the trading was not stopped by it).
    pub fn finish(mut self) -> Result<Summary, JournalError> {
        let _ = self.tx.send(Msg::Stop);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(JournalError::Thread {
                path: self.path.clone(),
                reason: "the journal thread panicked".into(),
            }),
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("run", &self.run)
            .finish()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(Msg::Stop);
            let _ = t.join();
        }
    }
}

/// Rows waiting for the next transaction.
#[derive(Default)]
struct Pending {
    rows: Vec<Row>,
}

enum Row {
    /// The recorder's index, wall-clock ns when the trader recorded it, the entry.
    Entry(usize, i64, Entry),
    Event(i64, &'static str, String),
    Account(i64, Box<crate::venues::AccountSnapshot>),
}

fn write_loop(
    mut db: Db,
    run: i64,
    rx: &Receiver<Msg>,
    lost: &AtomicU64,
    last_op: &std::sync::atomic::AtomicI64,
) -> Result<Summary, JournalError> {
    let mut rings: Vec<(rtrb::Consumer<Stamped>, SymbolSpec)> = Vec::new();
    // The trader stamps entries on the monotonic clock; the journal keeps wall time.
    let wall_offset = wall_ns() - crate::core::clock::now_ns() as i64;
    let _span = tracing::info_span!("journal", run).entered();
    let mut pending = Pending::default();
    let mut sum = Summary {
        run,
        ..Summary::default()
    };
    let mut last_commit = Instant::now();
    let mut stopping = false;
    let mut feed: Option<(Arc<crate::feed::LiveStats>, FeedSeen)> = None;
    let mut on_closed: Vec<OnClosed> = Vec::new();
    let mut closed = Vec::new();
    let mut last_look = Instant::now();
    pending
        .rows
        .push(Row::Event(wall_ns(), "start", "{}".to_string()));
    loop {
        let wait = if stopping {
            Duration::ZERO
        } else {
            Duration::from_millis(5)
        };
        match rx.recv_timeout(wait) {
            Ok(Msg::Attach(c, spec)) => rings.push((c, *spec)),
            Ok(Msg::Event(kind, detail)) => pending.rows.push(Row::Event(wall_ns(), kind, detail)),
            Ok(Msg::Account(s)) => pending.rows.push(Row::Account(wall_ns(), s)),
            Ok(Msg::Watch(st)) => feed = Some((st, FeedSeen::default())),
            Ok(Msg::OnClosed(f)) => on_closed.push(f),
            Ok(Msg::Stop) => stopping = true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => stopping = true,
        }
        if let Some((st, seen)) = feed.as_mut() {
            if stopping || last_look.elapsed() >= Duration::from_millis(100) {
                last_look = Instant::now();
                let now = FeedSeen::read(st);
                for (kind, total) in now.changes(seen) {
                    let detail = sonic_rs::json!({ "total": total }).to_string();
                    pending.rows.push(Row::Event(wall_ns(), kind, detail));
                }
                *seen = now;
            }
        }
        let mut drained = 0;
        for (k, (c, _)) in rings.iter_mut().enumerate() {
            while pending.rows.len() < BATCH {
                match c.pop() {
                    Ok(Stamped { mono_ns, entry: e }) => {
                        if let Entry::Decision {
                            verdict: Verdict::Sent { .. },
                            ..
                        } = e
                        {
                            last_op.store(wall_ns(), Ordering::Relaxed);
                        }
                        pending
                            .rows
                            .push(Row::Entry(k, wall_offset + mono_ns as i64, e));
                        drained += 1;
                    }
                    Err(_) => break,
                }
            }
        }
        let due = pending.rows.len() >= BATCH
            || (!pending.rows.is_empty() && last_commit.elapsed() >= COMMIT_EVERY);
        if due || (stopping && !pending.rows.is_empty()) {
            closed.extend(pending.rows.iter().filter_map(|r| match r {
                Row::Entry(_, _, Entry::Closed(t)) => Some(*t),
                _ => None,
            }));
            if let Err(e) = commit(&mut db, run, &rings, &mut pending, &mut sum) {
                tracing::error!(error = %e, "journal write failed; the journal stops (the trading does not)");
                return Err(e);
            }
            for t in closed.drain(..) {
                for f in on_closed.iter_mut() {
                    f(&t);
                }
            }
            last_commit = Instant::now();
        }
        if stopping && drained == 0 && pending.rows.is_empty() && rx.try_recv().is_err() {
            break;
        }
    }
    sum.lost = lost.load(Ordering::Relaxed);
    if sum.lost > 0 {
        db.exec(
            "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, 'lost', ?3)",
            &vals![
                run,
                wall_ns(),
                sonic_rs::json!({"entries": sum.lost}).to_string()
            ],
        )?;
    }
    db.exec(
        "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, 'stop', '{}')",
        &vals![run, wall_ns()],
    )?;
    db.exec(
        "UPDATE journal_runs SET ended_ns = ?1 WHERE id = ?2",
        &vals![wall_ns(), run],
    )?;
    Ok(sum)
}

fn side_name(s: OrderSide) -> &'static str {
    match s {
        OrderSide::Buy => "BUY",
        OrderSide::Sell => "SELL",
    }
}

/// The order type as the journal names it (Binance's words where they exist).
pub fn kind_name(k: OrderKind) -> &'static str {
    match k {
        OrderKind::LimitGtc => "LIMIT_GTC",
        OrderKind::LimitIoc => "LIMIT_IOC",
        OrderKind::LimitFok => "LIMIT_FOK",
        OrderKind::PostOnly => "POST_ONLY",
        OrderKind::Market => "MARKET",
        OrderKind::StopMarket => "STOP_MARKET",
    }
}

fn e8(v: i64) -> String {
    canonical(v, 8)
}

fn commit(
    db: &mut Db,
    run: i64,
    rings: &[(rtrb::Consumer<Stamped>, SymbolSpec)],
    pending: &mut Pending,
    sum: &mut Summary,
) -> Result<(), JournalError> {
    db.batch("BEGIN")?;
    for row in pending.rows.drain(..) {
        match row {
            Row::Account(at, s) => {
                db.exec(
                    "INSERT INTO journal_account(run, at_ns, exchange_ms, why, asset, wallet, available, position, entry_price, unrealised, margin, leverage, detail, symbol)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    &vals![
                        run,
                        at,
                        s.exchange_ms,
                        s.why,
                        s.asset,
                        s.wallet,
                        s.available,
                        s.position,
                        s.entry_price,
                        s.unrealised,
                        s.margin,
                        s.leverage,
                        s.detail,
                        (!s.symbol.is_empty()).then(|| s.symbol.clone())
                    ],
                )
                ?;
                sum.accounts += 1;
            }
            Row::Event(at, kind, detail) => {
                db.exec(
                    "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                    &vals![run, at, kind, detail],
                )?;
                sum.events += 1;
            }
            Row::Entry(k, wall, e) => {
                let spec = &rings[k].1;
                let sym = spec.name.as_str();
                let px = |t: crate::core::Ticks| spec.price.format(t);
                let qty = |l: crate::core::Lots| spec.qty.format(l);
                match e {
                    Entry::Decision {
                        at_us,
                        intent: i,
                        verdict,
                    } => {
                        let (v, reason, op, q, margin, lev) = match verdict {
                            Verdict::Sent {
                                op_id,
                                qty: n,
                                margin_e8,
                                leverage,
                            } => (
                                "SENT",
                                String::new(),
                                Some(op_id as i64),
                                Some(qty(n)),
                                Some(e8(margin_e8)),
                                Some(leverage),
                            ),
                            Verdict::Refused(r) => {
                                ("REFUSED", r.to_string(), None, None, None, None)
                            }
                            Verdict::Failed => (
                                "FAILED",
                                "not sent (no slot, or not encodable)".to_string(),
                                None,
                                None,
                                None,
                                None,
                            ),
                        };
                        db.exec(
                            "INSERT INTO journal_decisions(run, symbol, at_us, side, entry, take_profit, stop_loss, support_wall, target_wall, void_price, void_width_bins, pressure_ppm, verdict, reason, operation, qty, margin, leverage, at_ns)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                            &vals![
                                run,
                                sym,
                                at_us as i64,
                                if i.side == Side::Long { "LONG" } else { "SHORT" },
                                px(i.entry),
                                px(i.take_profit),
                                px(i.stop_loss),
                                px(i.support_wall),
                                px(i.target_wall),
                                px(i.void_price),
                                i.void_width_bins,
                                i.pressure_ppm,
                                v,
                                reason,
                                op,
                                q,
                                margin,
                                lev,
                                wall,
                            ],
                        )
                        ?;
                        sum.decisions += 1;
                    }
                    Entry::Order { at_us, req } => {
                        let (action, cid) = match req.cmd {
                            OrderCmd::New(_) => ("NEW", req.cmd.client_id()),
                            OrderCmd::Oco(_) => ("OCO", req.cmd.client_id()),
                            OrderCmd::Cancel(id) => ("CANCEL", id),
                        };
                        let (side, kind, price, q, ro, tp_id, tp, st_id, st) = match req.cmd {
                            OrderCmd::New(o) => (
                                Some(side_name(o.side)),
                                Some(kind_name(o.kind)),
                                (o.kind != OrderKind::Market).then(|| px(o.price)),
                                Some(qty(o.qty)),
                                Some(o.reduce_only as i64),
                                None,
                                None,
                                None,
                                None,
                            ),
                            OrderCmd::Oco(o) => (
                                Some(side_name(o.side)),
                                Some("OCO"),
                                None,
                                Some(qty(o.qty)),
                                None,
                                Some(o.take_profit_id.to_string()),
                                Some(px(o.take_profit)),
                                Some(o.stop_id.to_string()),
                                Some(px(o.stop)),
                            ),
                            OrderCmd::Cancel(_) => {
                                (None, None, None, None, None, None, None, None, None)
                            }
                        };
                        db.exec(
                            "INSERT INTO journal_orders(run, symbol, at_us, action, client_id, side, type, price, qty, reduce_only, take_profit_id, take_profit, stop_id, stop, timestamp_ms, recv_window_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                            &vals![
                                run,
                                sym,
                                at_us as i64,
                                action,
                                cid.as_str(),
                                side,
                                kind,
                                price,
                                q,
                                ro,
                                tp_id,
                                tp,
                                st_id,
                                st,
                                req.timestamp_ms as i64,
                                req.recv_window_ms,
                            ],
                        )
                        ?;
                        sum.orders += 1;
                    }
                    Entry::Report { seen_us, exec } => {
                        let (name, price, q, maker, fee, leaves, reason) = match exec.report {
                            Report::Accepted => ("ACCEPTED", None, None, None, None, None, None),
                            Report::Rejected(r) => (
                                "REJECTED",
                                None,
                                None,
                                None,
                                None,
                                None,
                                Some(format!("{r:?}")),
                            ),
                            Report::Filled {
                                price,
                                qty: n,
                                maker,
                                fee_e8,
                                leaves,
                            } => (
                                "FILLED",
                                Some(px(price)),
                                Some(qty(n)),
                                Some(maker as i64),
                                Some(e8(fee_e8)),
                                Some(qty(leaves)),
                                None,
                            ),
                            Report::Canceled => ("CANCELED", None, None, None, None, None, None),
                            Report::Expired => ("EXPIRED", None, None, None, None, None, None),
                            Report::Liquidated {
                                price,
                                qty: n,
                                loss_e8,
                            } => (
                                "LIQUIDATED",
                                Some(px(price)),
                                Some(qty(n)),
                                None,
                                Some(e8(loss_e8)),
                                None,
                                None,
                            ),
                            Report::Funding { amount_e8 } => (
                                "FUNDING",
                                None,
                                None,
                                None,
                                Some(e8(-amount_e8)),
                                None,
                                None,
                            ),
                        };
                        db.exec(
                            "INSERT INTO journal_reports(run, symbol, exchange_us, seen_us, client_id, report, price, qty, maker, fee, leaves, reason, seen_ns)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                            &vals![
                                run,
                                sym,
                                exec.time_us as i64,
                                seen_us as i64,
                                exec.client_id.as_str(),
                                name,
                                price,
                                q,
                                maker,
                                fee,
                                leaves,
                                reason,
                                wall,
                            ],
                        )
                        ?;
                        sum.reports += 1;
                        sum.fills += (name == "FILLED") as u64;
                    }
                    Entry::Closed(t) => {
                        db.exec(
                            "INSERT INTO journal_operations(run, symbol, operation, side, qty, entry_us, exit_us, entry_value, exit_value, fees, funding, pnl, margin, exit, maker_fills, taker_fills)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                            &vals![
                                run,
                                sym,
                                t.id as i64,
                                if t.side == Side::Long { "LONG" } else { "SHORT" },
                                qty(t.qty),
                                t.entry_us as i64,
                                t.exit_us as i64,
                                e8(t.entry_value_e8),
                                e8(t.exit_value_e8),
                                e8(t.fees_e8),
                                e8(t.funding_e8),
                                e8(t.pnl_e8),
                                e8(t.margin_e8),
                                format!("{:?}", t.exit),
                                t.maker_fills,
                                t.taker_fills,
                            ],
                        )
                        ?;
                        sum.operations += 1;
                    }
                }
            }
        }
    }
    db.batch("COMMIT")
}
