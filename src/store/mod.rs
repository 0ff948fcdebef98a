//! Recordings in a database: SQLite embedded (the default) or PostgreSQL (one
//! database for several recording machines), behind one interface.
//!
//! A database holds sessions; a session holds the lines of one recording exactly as
//! they were received or read (`<recv_ns> <json>` for a live recording, the original
//! line for an imported file), in order, with their receive time and stream, and the
//! session's events (connections, drops, snapshots, gaps, resyncs) as rows. Reading a
//! session gives its lines back byte for byte, so everything that reads recorded
//! files reads a database the same way, with the same results:
//!
//! * `market.db` (or `postgres://…`) names every session of the database, each as a
//!   path `<db>/<session>/<original file name>` ([`expand`]), which
//!   [`crate::store::files::LineReader`] opens as it opens a file; the original name
//!   keeps what replay infers from file names;
//! * the sessions are merged by receive time like files are.
//!
//! Writers ([`Sink`]) commit whole batches: a crash loses at most the batch in flight
//! and the database always opens cleanly. Readers ([`Recorded`]) page through a
//! session's lines. Cold path: tools and the recorder, never the pipeline's threads.

pub mod binance_archive;
pub mod export;
pub mod files;
pub mod hftbacktest_npz;
pub mod journal;
mod made_up;
pub mod parquet;
pub mod postgres;
pub mod recorder;
pub mod scan;
pub mod sqlite;
pub mod tap;
pub mod tardis;

pub use sqlite::SqliteStore;

use std::path::{Path, PathBuf};

/// The schema this build writes and reads (both backends).
pub const SCHEMA_VERSION: i64 = 2;

/// Rows per transaction when writing.
pub const BATCH: usize = 20_000;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (locked, corrupt, full disk, read-only path…).
    #[error("{path}: {reason}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's reason.
        reason: rusqlite::Error,
    },
    /// PostgreSQL refused or could not be reached.
    #[error("{target}: {}", postgres::detail(.reason))]
    Postgres {
        /// The database (its URL without the password).
        target: String,
        /// The server's or the client's reason.
        reason: ::postgres::Error,
    },
    /// A database written by a newer Minerva.
    #[error("{path}: schema version {found} is newer than this build's ({SCHEMA_VERSION})")]
    Newer {
        /// The database.
        path: PathBuf,
        /// Its version.
        found: i64,
    },
    /// A recorded file could not be read.
    #[error(transparent)]
    Input(#[from] crate::store::files::InputError),
    /// A recorder thread could not be started.
    #[error("cannot start a recorder thread: {0}")]
    Thread(String),
    /// A request this store cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A Parquet export could not be written.
    #[error(transparent)]
    Parquet(#[from] crate::store::parquet::ParquetError),
    /// No such session.
    #[error("{path}: no session {session}")]
    NoSession {
        /// The database.
        path: PathBuf,
        /// The session asked for.
        session: i64,
    },
    /// Not a recording database.
    #[error("{0}: not a recording database (SQLite file or postgres:// URL)")]
    NotDatabase(PathBuf),
    /// Writing an export failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file written.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
}

/// Where recordings are stored: a SQLite file or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host[:port]/db`).
    Postgres(String),
}

impl Target {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; anything else a SQLite file.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Self::Postgres(s.to_string())
        } else {
            Self::Sqlite(PathBuf::from(s))
        }
    }

    /// The same for a path given on a command line.
    pub fn of_path(p: &Path) -> Self {
        match p.to_str() {
            Some(s) => Self::parse(s),
            None => Self::Sqlite(p.to_path_buf()),
        }
    }

    /// For messages: the file, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres(url) => postgres::redact(url),
        }
    }
}

/// One recorded line to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its session.
    pub session: i64,
    /// Receive time, ns (0 when unknown).
    pub recv_ns: i64,
    /// The stream it came on (`btcusdt@trade`, `snapshot`, empty).
    pub stream: String,
    /// The connection it came on: the live source's WebSocket session number (1 for
    /// the first, counting reconnections and rotations); 0 when not known (imports,
    /// recorded sources).
    pub conn: i64,
    /// The line as it replays (`<recv_ns> <json>` for a live recording).
    pub line: Vec<u8>,
}

/// What happened to a session's connection or data, kept as a row beside its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A WebSocket session opened.
    Connect,
    /// A session lost (server close, socket error).
    Drop,
    /// A REST depth snapshot fetched (its line is in the session).
    Snapshot,
    /// Depth diffs that do not continue the ones before (the recorder asked for a
    /// snapshot to resync).
    Gap,
    /// A session silent too long, replaced.
    Stale,
    /// The 24 h connection rotation switched sessions.
    Rotation,
    /// A failed connection or snapshot attempt.
    Failure,
    /// The recording moved on to a new database file (daily or size rotation).
    FileRotated,
    /// Frames not recorded: the recorder fell behind (`minerva run --record`).
    NotRecorded,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::Connect,
        Self::Drop,
        Self::Snapshot,
        Self::Gap,
        Self::Stale,
        Self::Rotation,
        Self::Failure,
        Self::FileRotated,
        Self::NotRecorded,
    ];

    /// Its name in the `events` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Drop => "drop",
            Self::Snapshot => "snapshot",
            Self::Gap => "gap",
            Self::Stale => "stale",
            Self::Rotation => "rotation",
            Self::Failure => "failure",
            Self::FileRotated => "file_rotated",
            Self::NotRecorded => "not_recorded",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its session.
    pub session: i64,
    /// Wall-clock time, ns.
    pub at_ns: i64,
    /// What happened.
    pub kind: EventKind,
    /// Details (the update ids around a gap, a count…).
    pub detail: String,
}

/// A session to begin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewSession<'a> {
    /// Where it comes from (an imported file's path, `host/SYMBOL` for a live source).
    pub source: &'a str,
    /// Its symbol, when one.
    pub symbol: &'a str,
    /// spot, usdm…, when known.
    pub market: &'a str,
    /// The exchangeInfo body the recording was made under, when fetched.
    pub exchange_info: Option<&'a [u8]>,
}

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionInfo {
    /// Its id.
    pub id: i64,
    /// Where it came from (an imported file's path, or a live source).
    pub source: String,
    /// Its symbol (empty when not known: an import).
    pub symbol: String,
    /// Its market (empty when not known).
    pub market: String,
    /// When it began and ended, wall clock ns (`ended_ns` 0: not closed — still
    /// recording, or the recorder was killed).
    pub started_ns: i64,
    /// When it ended.
    pub ended_ns: i64,
    /// Lines.
    pub lines: i64,
    /// First receive time, ns (0 when the lines carry none).
    pub first_ns: i64,
    /// Last receive time, ns.
    pub last_ns: i64,
    /// Streams seen and their line counts.
    pub streams: Vec<(String, i64)>,
    /// Events by kind.
    pub events: Vec<(String, i64)>,
}

/// Where recordings are written. Every call commits or fails whole.
pub trait Sink: Send {
    /// Begins a session; returns its id.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn begin_session(&mut self, s: &NewSession<'_>) -> Result<i64, StoreError>;

    /// Appends lines and events in one transaction: all of them, or none after a
    /// crash.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses (disk full, read-only, server gone):
    /// nothing of the batch is kept.
    fn append(&mut self, rows: &[Row], events: &[Event]) -> Result<(), StoreError>;

    /// Ends a session (its end time).
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn end_session(&mut self, session: i64) -> Result<(), StoreError>;

    /// The database's size, bytes (file and WAL; PostgreSQL's database size).
    fn bytes(&mut self) -> u64;
}

/// A stored line as read back: (id, receive time ns, stream, line).
pub type StoredLine = (i64, i64, String, Vec<u8>);

/// Where recordings are read from.
pub trait Recorded: Send {
    /// Every session's id and source, oldest first: what opening a database as
    /// files needs, without counting its lines.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn sources(&mut self) -> Result<Vec<(i64, String)>, StoreError>;

    /// Every session with its counts (a pass over its lines), oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn sessions(&mut self) -> Result<Vec<SessionInfo>, StoreError>;

    /// Lines of `session` with id above `after`, at most `limit`: (id, recv_ns,
    /// stream, line).
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn lines(
        &mut self,
        session: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredLine>, StoreError>;

    /// The session's events, in order.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn events(&mut self, session: i64) -> Result<Vec<Event>, StoreError>;

    /// The exchangeInfo body stored with the session.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn exchange_info(&mut self, session: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The database's own consistency check: "ok" when sound.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn integrity(&mut self) -> Result<String, StoreError>;

    /// Rows of a decoded view (`trades`, `top_of_book`, `candles_1m`, `klines`) of
    /// `session` (all when `None`), as text cells, with the column names first.
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    fn view(
        &mut self,
        view: View,
        session: Option<i64>,
        out: &mut dyn FnMut(&[String]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// The decoded views a database offers for queries and CSV export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// `@trade` messages: session, recv_ns, symbol, trade_id, price, qty,
    /// buyer_maker, trade_ms.
    Trades,
    /// `@bookTicker` messages: session, recv_ns, symbol, update_id, bid, bid_qty,
    /// ask, ask_qty.
    #[value(name = "top_of_book")]
    TopOfBook,
    /// One-minute candles made from the trades: session, symbol, open_ms, open,
    /// high, low, close, volume, trades.
    #[value(name = "candles_1m")]
    Candles1m,
    /// The exchange's own `@kline_1m` messages: session, recv_ns, symbol, open_ms,
    /// open, high, low, close, volume, trades, closed.
    Klines,
}

impl View {
    /// Every view.
    pub const ALL: [Self; 4] = [Self::Trades, Self::TopOfBook, Self::Candles1m, Self::Klines];

    /// Its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::TopOfBook => "top_of_book",
            Self::Candles1m => "candles_1m",
            Self::Klines => "klines",
        }
    }

    /// The view named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }

    /// Its columns, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Trades => &[
                "session",
                "recv_ns",
                "symbol",
                "trade_id",
                "price",
                "qty",
                "buyer_maker",
                "trade_ms",
            ],
            Self::TopOfBook => &[
                "session",
                "recv_ns",
                "symbol",
                "update_id",
                "bid",
                "bid_qty",
                "ask",
                "ask_qty",
            ],
            Self::Candles1m => &[
                "session", "symbol", "open_ms", "open", "high", "low", "close", "volume", "trades",
            ],
            Self::Klines => &[
                "session", "recv_ns", "symbol", "open_ms", "open", "high", "low", "close",
                "volume", "trades", "closed",
            ],
        }
    }

    /// The order its rows come in.
    pub fn order(self) -> &'static str {
        match self {
            Self::Candles1m => "session, symbol, open_ms",
            _ => "session, recv_ns",
        }
    }
}

/// Opens (creating when absent) a database to write to.
///
/// # Errors
/// [`StoreError`] when it cannot be opened or created, or is newer than this build.
pub fn open_sink(t: &Target) -> Result<Box<dyn Sink>, StoreError> {
    Ok(match t {
        Target::Sqlite(p) => Box::new(SqliteStore::open(p)?),
        Target::Postgres(url) => Box::new(postgres::PgStore::connect(url)?),
    })
}

/// Opens an existing database to read.
///
/// # Errors
/// [`StoreError`] when it cannot be opened, is not a database, or is newer than this
/// build.
pub fn open_recorded(t: &Target) -> Result<Box<dyn Recorded>, StoreError> {
    Ok(match t {
        Target::Sqlite(p) => {
            if !is_database(p) {
                return Err(StoreError::NotDatabase(p.clone()));
            }
            Box::new(SqliteStore::open_read(p)?)
        }
        Target::Postgres(url) => Box::new(postgres::PgStore::connect(url)?),
    })
}

/// Imports recorded files, one session each, their lines verbatim, in batched
/// transactions. Returns the sessions made and the lines written.
///
/// # Errors
/// [`StoreError`] when a file cannot be read or the database refuses (what was
/// committed before stays).
pub fn import(sink: &mut dyn Sink, files: &[PathBuf]) -> Result<(Vec<i64>, u64), StoreError> {
    import_with(sink, files, &mut |_, _| {})
}

/// [`import`], telling `progress` the bytes of the files read so far and their total
/// size on disk after every batch (a progress bar's position and length).
///
/// # Errors
/// As [`import`].
pub fn import_with(
    sink: &mut dyn Sink,
    files: &[PathBuf],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Vec<i64>, u64), StoreError> {
    use crate::store::files::{LineReader, classify};
    let mut sessions = Vec::new();
    let mut total = 0u64;
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let mut done_bytes = 0u64;
    for f in files {
        let mut r = LineReader::open(f)?;
        let source = f.display().to_string();
        let session = sink.begin_session(&NewSession {
            source: &source,
            ..NewSession::default()
        })?;
        while let Some(line) = r.next_line()? {
            let l = classify(line);
            batch.push(Row {
                session,
                recv_ns: l.recv_ns as i64,
                stream: stream_of(l.json),
                conn: 0,
                line: line.to_vec(),
            });
            if batch.len() == BATCH {
                sink.append(&batch, &[])?;
                total += batch.len() as u64;
                batch.clear();
                progress(
                    done_bytes + r.consumed.load(std::sync::atomic::Ordering::Relaxed),
                    bytes,
                );
            }
        }
        done_bytes += r.size;
        progress(done_bytes, bytes);
        if !batch.is_empty() {
            sink.append(&batch, &[])?;
            total += batch.len() as u64;
            batch.clear();
        }
        sink.end_session(session)?;
        sessions.push(session);
    }
    Ok((sessions, total))
}

pub(crate) fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// True when `path` is a SQLite database (by its header).
pub fn is_database(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"SQLite format 3\0"
}

/// True when `path` names a recording database: a SQLite file or a PostgreSQL URL.
pub fn is_recording(path: &Path) -> bool {
    matches!(Target::of_path(path), Target::Postgres(_)) || is_database(path)
}

/// The stream a recorded line's JSON names (`btcusdt@trade`), `snapshot` for a REST
/// depth snapshot, empty otherwise.
pub fn stream_of(json: &[u8]) -> String {
    crate::venues::recorded::stream_name(json).to_string()
}

/// Files as given, with every database replaced by its sessions, each as the path
/// `<db>/<session>/<original file name>` that [`crate::store::files::LineReader`]
/// opens.
///
/// # Errors
/// [`StoreError`] when a database cannot be read.
pub fn expand(files: &[PathBuf]) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if !is_recording(f) {
            out.push(f.clone());
            continue;
        }
        for (id, source) in open_recorded(&Target::of_path(f))?.sources()? {
            let name = Path::new(&source).file_name().map_or_else(
                || format!("session{id}"),
                |n| n.to_string_lossy().into_owned(),
            );
            out.push(f.join(id.to_string()).join(name));
        }
    }
    Ok(out)
}

/// A session path made by [`expand`]: (database, session).
pub fn session_path(path: &Path) -> Option<(Target, i64)> {
    let session_dir = path.parent()?;
    let db = session_dir.parent()?;
    let id: i64 = session_dir.file_name()?.to_str()?.parse().ok()?;
    is_recording(db).then(|| (Target::of_path(db), id))
}

/// A session's lines as a byte stream (`line\n` each), read in chunks.
pub struct SessionReader {
    store: Box<dyn Recorded>,
    session: i64,
    after: i64,
    buf: Vec<u8>,
    at: usize,
    done: bool,
}

impl SessionReader {
    /// Opens session `session` of the database `db`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read or has no such session.
    pub fn open(db: &Target, session: i64) -> Result<Self, StoreError> {
        let mut store = open_recorded(db)?;
        if !store.sources()?.iter().any(|s| s.0 == session) {
            return Err(StoreError::NoSession {
                path: PathBuf::from(db.display()),
                session,
            });
        }
        Ok(Self {
            store,
            session,
            after: 0,
            buf: Vec::new(),
            at: 0,
            done: false,
        })
    }
}

impl std::io::Read for SessionReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.buf.clear();
            self.at = 0;
            let rows = self
                .store
                .lines(self.session, self.after, 4_096)
                .map_err(std::io::Error::other)?;
            if rows.is_empty() {
                self.done = true;
                return Ok(0);
            }
            for (id, _, _, line) in rows {
                self.after = id;
                self.buf.extend_from_slice(&line);
                self.buf.push(b'\n');
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
