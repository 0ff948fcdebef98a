//! The audit journal's writer (its cold half; the trader's `gateway::audit::Recorder`
//! is the hot one): a thread and its tables. Cold path: it drains the trader's rings
//! and writes batched transactions (every 100 ms, or 1,000 rows), so a crash loses at
//! most the batch in flight and the file always opens cleanly (SQLite, WAL).
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
use crate::gateway::audit::{Entry, Recorder, Verdict};
use crate::signal::oracle::Side;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// The writer thread could not start or died.
    #[error("journal {path}: {reason}")]
    Thread {
        /// The database.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
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
    Attach(rtrb::Consumer<Entry>, Box<SymbolSpec>),
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
    margin TEXT, leverage INTEGER);
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
    maker INTEGER, fee TEXT, leaves TEXT, reason TEXT);
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
    unrealised TEXT, margin TEXT, leverage INTEGER, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal_events(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES journal_runs(id),
    at_ns INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_reports_run ON journal_reports(run, id);
CREATE INDEX IF NOT EXISTS journal_orders_run ON journal_orders(run, id);
";

impl Journal {
    /// Opens (or creates) the journal at `path`, adds the run and starts the writer.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be opened or written.
    pub fn start(path: &Path, info: &RunInfo) -> Result<Self, JournalError> {
        let sql = |reason| JournalError::Sqlite {
            path: path.to_path_buf(),
            reason,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(info.strategy_text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        conn.execute(
            "INSERT INTO journal_runs(started_ns, version, command, strategy_path, strategy_sha256, venue, market, symbols, recording, strategy_text, exchange_info)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                wall_ns(),
                env!("CARGO_PKG_VERSION"),
                info.command,
                info.strategy_path,
                hash,
                info.venue,
                info.market,
                info.symbols.join(","),
                info.recording,
                info.strategy_text,
                info.exchange_info,
            ],
        )
        .map_err(sql)?;
        let run = conn.last_insert_rowid();
        tracing::info!(journal = %path.display(), run, "audit journal opened");
        let (tx, rx) = channel();
        let lost = Arc::new(AtomicU64::new(0));
        let l = lost.clone();
        let p = path.to_path_buf();
        let tid = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let t = tid.clone();
        let last_operation_ns = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let last_op = last_operation_ns.clone();
        let thread = std::thread::Builder::new()
            .name("minerva-journal".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                t.store(unsafe { libc::gettid() }, Ordering::Release);
                write_loop(conn, &p, run, &rx, &l, &last_op)
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
    Entry(usize, Entry),
    Event(i64, &'static str, String),
    Account(i64, Box<crate::venues::AccountSnapshot>),
}

fn write_loop(
    mut conn: Connection,
    path: &Path,
    run: i64,
    rx: &Receiver<Msg>,
    lost: &AtomicU64,
    last_op: &std::sync::atomic::AtomicI64,
) -> Result<Summary, JournalError> {
    let mut rings: Vec<(rtrb::Consumer<Entry>, SymbolSpec)> = Vec::new();
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
                    Ok(e) => {
                        if let Entry::Decision {
                            verdict: Verdict::Sent { .. },
                            ..
                        } = e
                        {
                            last_op.store(wall_ns(), Ordering::Relaxed);
                        }
                        pending.rows.push(Row::Entry(k, e));
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
                Row::Entry(_, Entry::Closed(t)) => Some(*t),
                _ => None,
            }));
            if let Err(e) = commit(&mut conn, path, run, &rings, &mut pending, &mut sum) {
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
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    if sum.lost > 0 {
        conn.execute(
            "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, 'lost', ?3)",
            params![
                run,
                wall_ns(),
                sonic_rs::json!({"entries": sum.lost}).to_string()
            ],
        )
        .map_err(sql)?;
    }
    conn.execute(
        "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, 'stop', '{}')",
        params![run, wall_ns()],
    )
    .map_err(sql)?;
    conn.execute(
        "UPDATE journal_runs SET ended_ns = ?1 WHERE id = ?2",
        params![wall_ns(), run],
    )
    .map_err(sql)?;
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
    conn: &mut Connection,
    path: &Path,
    run: i64,
    rings: &[(rtrb::Consumer<Entry>, SymbolSpec)],
    pending: &mut Pending,
    sum: &mut Summary,
) -> Result<(), JournalError> {
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    let tx = conn.transaction().map_err(sql)?;
    for row in pending.rows.drain(..) {
        match row {
            Row::Account(at, s) => {
                tx.execute(
                    "INSERT INTO journal_account(run, at_ns, exchange_ms, why, asset, wallet, available, position, entry_price, unrealised, margin, leverage, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
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
                        s.detail
                    ],
                )
                .map_err(sql)?;
                sum.accounts += 1;
            }
            Row::Event(at, kind, detail) => {
                tx.execute(
                    "INSERT INTO journal_events(run, at_ns, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                    params![run, at, kind, detail],
                )
                .map_err(sql)?;
                sum.events += 1;
            }
            Row::Entry(k, e) => {
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
                        tx.execute(
                            "INSERT INTO journal_decisions(run, symbol, at_us, side, entry, take_profit, stop_loss, support_wall, target_wall, void_price, void_width_bins, pressure_ppm, verdict, reason, operation, qty, margin, leverage)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                            params![
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
                            ],
                        )
                        .map_err(sql)?;
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
                        tx.execute(
                            "INSERT INTO journal_orders(run, symbol, at_us, action, client_id, side, type, price, qty, reduce_only, take_profit_id, take_profit, stop_id, stop, timestamp_ms, recv_window_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                            params![
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
                        .map_err(sql)?;
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
                        tx.execute(
                            "INSERT INTO journal_reports(run, symbol, exchange_us, seen_us, client_id, report, price, qty, maker, fee, leaves, reason)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                            params![
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
                            ],
                        )
                        .map_err(sql)?;
                        sum.reports += 1;
                        sum.fills += (name == "FILLED") as u64;
                    }
                    Entry::Closed(t) => {
                        tx.execute(
                            "INSERT INTO journal_operations(run, symbol, operation, side, qty, entry_us, exit_us, entry_value, exit_value, fees, funding, pnl, margin, exit, maker_fills, taker_fills)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                            params![
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
                        .map_err(sql)?;
                        sum.operations += 1;
                    }
                }
            }
        }
    }
    tx.commit().map_err(sql)
}

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

fn open_read(path: &Path) -> Result<Option<Connection>, JournalError> {
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql)?;
    let has: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'journal_runs'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    Ok((has > 0).then_some(conn))
}

/// The runs a SQLite file's journal holds (none when it has no journal).
///
/// # Errors
/// [`JournalError`] when the file cannot be read.
pub fn runs(path: &Path) -> Result<Vec<RunRow>, JournalError> {
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    let Some(conn) = open_read(path)? else {
        return Ok(Vec::new());
    };
    // Journals written before account snapshots have no such table.
    let has_account: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'journal_account'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let accounts = if has_account {
        "(SELECT count(*) FROM journal_account a WHERE a.run = r.id)"
    } else {
        "0"
    };
    let mut st = conn
        .prepare(&format!(
            "SELECT id, started_ns, coalesce(ended_ns, 0), venue, market, symbols, strategy_path, strategy_sha256, recording,
                (SELECT count(*) FROM journal_decisions d WHERE d.run = r.id),
                (SELECT count(*) FROM journal_orders o WHERE o.run = r.id),
                (SELECT count(*) FROM journal_reports p WHERE p.run = r.id),
                (SELECT count(*) FROM journal_reports p WHERE p.run = r.id AND p.report = 'FILLED'),
                (SELECT count(*) FROM journal_operations o WHERE o.run = r.id),
                (SELECT count(*) FROM journal_events e WHERE e.run = r.id),
                {accounts}
             FROM journal_runs r ORDER BY id"
        ))
        .map_err(sql)?;
    let rows = st
        .query_map([], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                started_ns: r.get(1)?,
                ended_ns: r.get(2)?,
                venue: r.get(3)?,
                market: r.get(4)?,
                symbols: r.get(5)?,
                strategy: r.get(6)?,
                strategy_sha256: r.get(7)?,
                recording: r.get(8)?,
                counts: [
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                    r.get(15)?,
                ],
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Writes `view` of the runs `runs` (all when empty) as CSV into `out`, a header
/// then a row per record in order; the number of rows.
///
/// # Errors
/// [`JournalError`] when the file has no journal or cannot be read; writing errors
/// as `Thread` (the CSV writer's reason).
pub fn export_csv(
    path: &Path,
    view: JournalView,
    runs: &[i64],
    out: impl std::io::Write,
) -> Result<u64, JournalError> {
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    let io = |e: csv::Error| JournalError::Thread {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let Some(conn) = open_read(path)? else {
        return Err(JournalError::Thread {
            path: path.to_path_buf(),
            reason: "no journal in this database (minerva run --journal writes one)".into(),
        });
    };
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
    let q = format!("{}{filter} ORDER BY id", view.query());
    let mut st = conn.prepare(&q).map_err(sql)?;
    let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&names).map_err(io)?;
    let mut rows = st.query([]).map_err(sql)?;
    let mut n = 0;
    while let Some(r) = rows.next().map_err(sql)? {
        let mut rec = Vec::with_capacity(names.len());
        for k in 0..names.len() {
            let v: rusqlite::types::Value = r.get(k).map_err(sql)?;
            rec.push(match v {
                rusqlite::types::Value::Null => String::new(),
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
            });
        }
        w.write_record(&rec).map_err(io)?;
        n += 1;
    }
    w.flush().map_err(|e| io(e.into()))?;
    Ok(n)
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

/// An amount written by [`e8`] (`canonical`, signed) back in 10⁻⁸ units.
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
/// [`JournalError`] when the file has no journal, no such run, or cannot be read.
pub fn load_run(path: &Path, run: Option<i64>) -> Result<RunJournal, JournalError> {
    let sql = |reason| JournalError::Sqlite {
        path: path.to_path_buf(),
        reason,
    };
    let missing = |what: String| JournalError::Thread {
        path: path.to_path_buf(),
        reason: what,
    };
    let all = runs(path)?;
    let row = match run {
        Some(id) => all.into_iter().find(|r| r.id == id),
        None => all.into_iter().last(),
    }
    .ok_or_else(|| {
        missing(format!(
            "no journal run {}",
            run.map_or("at all".into(), |r| r.to_string())
        ))
    })?;
    let conn = open_read(path)?.ok_or_else(|| missing("no journal".into()))?;
    let (strategy_text, exchange_info): (String, String) = conn
        .query_row(
            "SELECT strategy_text, exchange_info FROM journal_runs WHERE id = ?1",
            [row.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    let mut st = conn
        .prepare(
            "SELECT operation, side, qty, entry_us, exit_us, entry_value, exit_value, fees, funding, pnl, margin, exit
             FROM journal_operations WHERE run = ?1 ORDER BY id",
        )
        .map_err(sql)?;
    let operations = st
        .query_map([row.id], |r| {
            Ok(JournaledOperation {
                operation: r.get(0)?,
                side: r.get(1)?,
                qty: r.get(2)?,
                entry_us: r.get(3)?,
                exit_us: r.get(4)?,
                entry_value_e8: amount(&r.get::<_, String>(5)?),
                exit_value_e8: amount(&r.get::<_, String>(6)?),
                fees_e8: amount(&r.get::<_, String>(7)?),
                funding_e8: amount(&r.get::<_, String>(8)?),
                pnl_e8: amount(&r.get::<_, String>(9)?),
                margin_e8: amount(&r.get::<_, String>(10)?),
                exit: r.get(11)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut st = conn
        .prepare(
            "SELECT at_us, side, entry, verdict, reason, operation FROM journal_decisions WHERE run = ?1 ORDER BY id",
        )
        .map_err(sql)?;
    let decisions = st
        .query_map([row.id], |r| {
            Ok(JournaledDecision {
                at_us: r.get(0)?,
                side: r.get(1)?,
                entry: r.get(2)?,
                verdict: r.get(3)?,
                reason: r.get(4)?,
                operation: r.get(5)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut st = conn
        .prepare(
            "SELECT exchange_us, seen_us, client_id, report, reason FROM journal_reports WHERE run = ?1 ORDER BY id",
        )
        .map_err(sql)?;
    let reports = st
        .query_map([row.id], |r| {
            Ok(JournaledReport {
                exchange_us: r.get(0)?,
                seen_us: r.get(1)?,
                client_id: r.get(2)?,
                report: r.get(3)?,
                reason: r.get(4)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut st = conn
        .prepare("SELECT at_us, action, client_id FROM journal_orders WHERE run = ?1 ORDER BY id")
        .map_err(sql)?;
    let orders = st
        .query_map([row.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
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

    /// A journal written before account snapshots (no `journal_account` table) still
    /// lists its runs, with none.
    #[test]
    fn older_journals_still_list_their_runs() {
        let path =
            std::env::temp_dir().join(format!("minerva-old-journal-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&SCHEMA.replace("journal_account", "journal_gone"))
            .unwrap();
        conn.execute_batch("DROP TABLE journal_gone").unwrap();
        conn.execute(
            "INSERT INTO journal_runs(started_ns, version, command, strategy_path, strategy_sha256, venue, market, symbols)
             VALUES (1, '0', 'run', 's.toml', 'ab', 'local', 'spot', 'BTCUSDT')",
            [],
        )
        .unwrap();
        drop(conn);
        let r = runs(&path).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].counts[6], 0);
        let _ = std::fs::remove_file(&path);
    }
}
