//! Recordings in a database: SQLite, embedded (the default store).
//!
//! A database holds sessions; a session holds the lines of one recording exactly as
//! they were received or read (`<recv_ns> <json>` for a live recording, the original
//! line for an imported file), in order, with their receive time and stream. Reading a
//! session gives those lines back byte for byte, so everything that reads recorded
//! files reads a database the same way, with the same results:
//!
//! * `market.db` names every session of the database, each as a path
//!   `market.db/<session>/<original file name>` ([`expand`]), which
//!   [`crate::replay::input::LineReader`] opens as it opens a file; the original name
//!   keeps what replay infers from file names;
//! * the sessions are merged by receive time like files are.
//!
//! The schema is versioned (`meta.schema_version`) and migrated forward on open;
//! writes go in batched transactions under WAL, so a crash loses at most the batch in
//! flight and the database always opens cleanly. Cold path: tools and the recorder,
//! never the pipeline's threads.

pub mod recorder;
pub mod tap;

use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Rows per transaction when writing.
const BATCH: usize = 20_000;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (locked, corrupt, full disk, read-only path…).
    #[error("{path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
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
    Input(#[from] crate::replay::input::InputError),
    /// A recorder thread could not be started.
    #[error("cannot start a recorder thread: {0}")]
    Thread(String),
    /// No such session.
    #[error("{path}: no session {session}")]
    NoSession {
        /// The database.
        path: PathBuf,
        /// The session asked for.
        session: i64,
    },
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
    /// The line as it replays (`<recv_ns> <json>` for a live recording).
    pub line: Vec<u8>,
}

fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Writes `version` as the database's schema version (tests of the refusal of newer
/// databases). Cold.
///
/// # Errors
/// [`StoreError`] when SQLite refuses.
#[doc(hidden)]
pub fn set_schema_version_for_tests(path: &Path, version: i64) -> Result<(), StoreError> {
    let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    })?;
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
        params![version.to_string()],
    )
    .map_err(|source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// The database's schema version (0: new), refused when newer than this build's.
fn schema_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let version: i64 = conn
        .query_row(
            "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='schema_version'), 0)",
            [],
            |r| r.get(0),
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found: version,
        });
    }
    Ok(version)
}

/// True when `path` is a SQLite database (by its header).
pub fn is_database(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"SQLite format 3\0"
}

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its id.
    pub id: i64,
    /// Where it came from (an imported file's path, or a live source).
    pub source: String,
    /// Lines.
    pub lines: i64,
    /// First and last receive time, ns (0 when the lines carry none).
    pub first_ns: i64,
    /// Last receive time, ns.
    pub last_ns: i64,
    /// Streams seen and their line counts.
    pub streams: Vec<(String, i64)>,
}

/// An open database.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens (creating when absent) the database at `path`, migrated to
    /// [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses or the schema is newer than this build's.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
             CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(err)?;
        let version = schema_version(&conn, path)?;
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE sessions(
                     id INTEGER PRIMARY KEY,
                     source TEXT NOT NULL,
                     started_ns INTEGER NOT NULL,
                     ended_ns INTEGER);
                 CREATE TABLE lines(
                     id INTEGER PRIMARY KEY,
                     session INTEGER NOT NULL REFERENCES sessions(id),
                     recv_ns INTEGER NOT NULL,
                     stream TEXT NOT NULL,
                     line BLOB NOT NULL);
                 CREATE INDEX lines_session ON lines(session, id);
                 INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '1');
                 COMMIT;",
            )
            .map_err(err)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Opens an existing database read-only (replays never write).
    ///
    /// # Errors
    /// [`StoreError`] when it cannot be opened or is newer than this build.
    pub fn open_read(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        schema_version(&conn, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Starts a session recorded from `source`; returns its id.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn begin_session(&mut self, source: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO sessions(source, started_ns) VALUES (?1, ?2)",
                params![source, wall_ns()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a session (its end time).
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn end_session(&mut self, session: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sessions SET ended_ns = ?1 WHERE id = ?2",
                params![wall_ns(), session],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Appends lines in one transaction: all of them, or none after a crash.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses (disk full, read-only): nothing of the
    /// batch is kept.
    pub fn append(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO lines(session, recv_ns, stream, line) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for r in rows {
                st.execute(params![r.session, r.recv_ns, r.stream, r.line])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Imports recorded files, one session each, their lines verbatim, in batched
    /// transactions. Returns the sessions made and the lines written.
    ///
    /// # Errors
    /// [`StoreError`] when a file cannot be read or SQLite refuses (what was
    /// committed before stays).
    pub fn import(&mut self, files: &[PathBuf]) -> Result<(Vec<i64>, u64), StoreError> {
        use crate::replay::input::{LineReader, classify};
        let mut sessions = Vec::new();
        let mut total = 0u64;
        let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
        for f in files {
            let mut r = LineReader::open(f)?;
            let session = self.begin_session(&f.display().to_string())?;
            while let Some(line) = r.next_line()? {
                let l = classify(line);
                batch.push(Row {
                    session,
                    recv_ns: l.recv_ns as i64,
                    stream: stream_of(l.json),
                    line: line.to_vec(),
                });
                if batch.len() == BATCH {
                    self.append(&batch)?;
                    total += batch.len() as u64;
                    batch.clear();
                }
            }
            if !batch.is_empty() {
                self.append(&batch)?;
                total += batch.len() as u64;
                batch.clear();
            }
            self.end_session(session)?;
            sessions.push(session);
        }
        Ok((sessions, total))
    }

    /// Every session, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.id, s.source, COUNT(l.id), COALESCE(MIN(NULLIF(l.recv_ns, 0)), 0), COALESCE(MAX(l.recv_ns), 0)
                 FROM sessions s LEFT JOIN lines l ON l.session = s.id GROUP BY s.id ORDER BY s.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(SessionInfo {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    lines: r.get(2)?,
                    first_ns: r.get(3)?,
                    last_ns: r.get(4)?,
                    streams: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT stream, COUNT(*) FROM lines WHERE session = ?1 GROUP BY stream ORDER BY stream",
            )
            .map_err(|e| self.err(e))?;
        for s in out.iter_mut() {
            let rows = st
                .query_map([s.id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(|e| self.err(e))?;
            s.streams = rows
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Lines of `session` with id above `after`, at most `limit`: (id, line).
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn lines(
        &self,
        session: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, line FROM lines WHERE session = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![session, after, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`): "ok" when sound.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn integrity(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

/// The stream a recorded line's JSON names (`btcusdt@trade`), `snapshot` for a REST
/// depth snapshot, empty otherwise.
pub fn stream_of(json: &[u8]) -> String {
    if let Some(rest) = json.strip_prefix(b"{\"stream\":\"") {
        if let Some(end) = rest.iter().position(|&c| c == b'"') {
            return String::from_utf8_lossy(&rest[..end]).into_owned();
        }
    }
    if json.starts_with(b"{\"lastUpdateId\"") {
        return "snapshot".into();
    }
    String::new()
}

/// Files as given, with every database replaced by its sessions, each as the path
/// `<db>/<session>/<original file name>` that [`crate::replay::input::LineReader`]
/// opens.
///
/// # Errors
/// [`StoreError`] when a database cannot be read.
pub fn expand(files: &[PathBuf]) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if !is_database(f) {
            out.push(f.clone());
            continue;
        }
        for s in Store::open_read(f)?.sessions()? {
            let name = Path::new(&s.source).file_name().map_or_else(
                || format!("session{}", s.id),
                |n| n.to_string_lossy().into_owned(),
            );
            out.push(f.join(s.id.to_string()).join(name));
        }
    }
    Ok(out)
}

/// A session path made by [`expand`]: (database, session).
pub fn session_path(path: &Path) -> Option<(PathBuf, i64)> {
    let session_dir = path.parent()?;
    let db = session_dir.parent()?;
    let id: i64 = session_dir.file_name()?.to_str()?.parse().ok()?;
    is_database(db).then(|| (db.to_path_buf(), id))
}

/// A session's lines as a byte stream (`line\n` each), read in chunks.
pub struct SessionReader {
    store: Store,
    session: i64,
    after: i64,
    buf: Vec<u8>,
    at: usize,
    done: bool,
}

impl SessionReader {
    /// Opens session `session` of the database at `db`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read or has no such session.
    pub fn open(db: &Path, session: i64) -> Result<Self, StoreError> {
        let store = Store::open_read(db)?;
        if !store.sessions()?.iter().any(|s| s.id == session) {
            return Err(StoreError::NoSession {
                path: db.to_path_buf(),
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
            for (id, line) in rows {
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
