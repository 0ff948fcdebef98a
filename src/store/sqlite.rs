//! The SQLite store: one file, WAL, batched transactions, a versioned schema
//! migrated forward on open. The embedded default.

use super::{
    Event, EventKind, NewSession, Recorded, Row, SCHEMA_VERSION, SessionInfo, Sink, StoreError,
    StoredLine, View, wall_ns,
};
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};

/// Schema migrations, in order: migration `k` takes version `k` to `k + 1`.
const MIGRATIONS: [&str; 2] = [
    // 0 → 1: sessions and their lines.
    "CREATE TABLE sessions(
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
     CREATE INDEX lines_session ON lines(session, id);",
    // 1 → 2: the connection of each line, what a session was recorded from, its
    // events, decoded views.
    "ALTER TABLE lines ADD COLUMN conn INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE sessions ADD COLUMN symbol TEXT NOT NULL DEFAULT '';
     ALTER TABLE sessions ADD COLUMN market TEXT NOT NULL DEFAULT '';
     ALTER TABLE sessions ADD COLUMN exchange_info BLOB;
     CREATE TABLE events(
         id INTEGER PRIMARY KEY,
         session INTEGER NOT NULL REFERENCES sessions(id),
         at_ns INTEGER NOT NULL,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL);
     CREATE INDEX events_session ON events(session, id);
     CREATE VIEW messages AS
         SELECT id, session, recv_ns, stream,
                CASE WHEN substr(line, 1, 1) = X'7B' THEN CAST(line AS TEXT)
                     ELSE substr(CAST(line AS TEXT), instr(CAST(line AS TEXT), ' ') + 1) END AS json
         FROM lines;
     CREATE VIEW trades AS
         SELECT session, recv_ns,
                json_extract(json, '$.data.s') AS symbol,
                json_extract(json, '$.data.t') AS trade_id,
                json_extract(json, '$.data.p') AS price,
                json_extract(json, '$.data.q') AS qty,
                json_extract(json, '$.data.m') AS buyer_maker,
                json_extract(json, '$.data.T') AS trade_ms
         FROM messages WHERE stream LIKE '%@trade';
     CREATE VIEW top_of_book AS
         SELECT session, recv_ns,
                json_extract(json, '$.data.s') AS symbol,
                json_extract(json, '$.data.u') AS update_id,
                json_extract(json, '$.data.b') AS bid,
                json_extract(json, '$.data.B') AS bid_qty,
                json_extract(json, '$.data.a') AS ask,
                json_extract(json, '$.data.A') AS ask_qty
         FROM messages WHERE stream LIKE '%@bookTicker';
     CREATE VIEW candles_1m AS
         SELECT DISTINCT session, symbol, open_ms,
                first_value(price) OVER w AS open,
                max(CAST(price AS REAL)) OVER w AS high,
                min(CAST(price AS REAL)) OVER w AS low,
                last_value(price) OVER w AS close,
                round(sum(CAST(qty AS REAL)) OVER w, 8) AS volume,
                count(*) OVER w AS trades
         FROM (SELECT session, symbol, trade_id, price, qty, (trade_ms / 60000) * 60000 AS open_ms
               FROM trades)
         WINDOW w AS (PARTITION BY session, symbol, open_ms ORDER BY trade_id
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);
     CREATE VIEW klines AS
         SELECT session, recv_ns,
                json_extract(json, '$.data.s') AS symbol,
                json_extract(json, '$.data.k.t') AS open_ms,
                json_extract(json, '$.data.k.o') AS open,
                json_extract(json, '$.data.k.h') AS high,
                json_extract(json, '$.data.k.l') AS low,
                json_extract(json, '$.data.k.c') AS close,
                json_extract(json, '$.data.k.v') AS volume,
                json_extract(json, '$.data.k.n') AS trades,
                json_extract(json, '$.data.k.x') AS closed
         FROM messages WHERE stream LIKE '%@kline%';",
];

/// An open SQLite database.
pub struct SqliteStore {
    path: PathBuf,
    conn: Connection,
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
            reason: source,
        })?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found: version,
        });
    }
    Ok(version)
}

impl SqliteStore {
    /// Opens (creating when absent) the database at `path`, migrated to
    /// [`SCHEMA_VERSION`], each migration in its own transaction.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses or the schema is newer than this build's.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_at(path, SCHEMA_VERSION)
    }

    /// Opens the database migrated only up to `version` (tests of migrations).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    #[doc(hidden)]
    pub fn open_at(path: &Path, version: i64) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            reason: source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
             CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(err)?;
        let mut at = schema_version(&conn, path)?;
        while at < version {
            let sql = format!(
                "BEGIN; {} INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '{}'); COMMIT;",
                MIGRATIONS[at as usize],
                at + 1
            );
            conn.execute_batch(&sql).map_err(err)?;
            at += 1;
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
            reason: source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        let version = schema_version(&conn, path)?;
        if version < SCHEMA_VERSION {
            // An older database: migrate it first (a read-only open cannot).
            drop(conn);
            drop(Self::open(path)?);
            return Self::open_read(path);
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Its schema version.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version(&self.conn, &self.path)
    }

    /// Writes `version` as the database's schema version (tests of the refusal of
    /// newer databases).
    ///
    /// # Errors
    /// [`StoreError`] when SQLite refuses.
    #[doc(hidden)]
    pub fn set_schema_version_for_tests(&self, version: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
                params![version.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            reason: source,
        }
    }
}

impl Sink for SqliteStore {
    fn begin_session(&mut self, s: &NewSession<'_>) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO sessions(source, symbol, market, exchange_info, started_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.source, s.symbol, s.market, s.exchange_info, wall_ns()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    fn end_session(&mut self, session: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sessions SET ended_ns = ?1 WHERE id = ?2",
                params![wall_ns(), session],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn append(&mut self, rows: &[Row], events: &[Event]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            reason: source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO lines(session, recv_ns, stream, conn, line) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for r in rows {
                st.execute(params![r.session, r.recv_ns, r.stream, r.conn, r.line])
                    .map_err(err)?;
            }
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO events(session, at_ns, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for e in events {
                st.execute(params![e.session, e.at_ns, e.kind.as_str(), e.detail])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn bytes(&mut self) -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|x| std::fs::metadata(format!("{}{x}", self.path.display())).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Recorded for SqliteStore {
    fn sources(&mut self) -> Result<Vec<(i64, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, source FROM sessions ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn sessions(&mut self) -> Result<Vec<SessionInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.id, s.source, s.symbol, s.market, s.started_ns, COALESCE(s.ended_ns, 0),
                        COUNT(l.id), COALESCE(MIN(NULLIF(l.recv_ns, 0)), 0), COALESCE(MAX(l.recv_ns), 0)
                 FROM sessions s LEFT JOIN lines l ON l.session = s.id GROUP BY s.id ORDER BY s.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(SessionInfo {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    symbol: r.get(2)?,
                    market: r.get(3)?,
                    started_ns: r.get(4)?,
                    ended_ns: r.get(5)?,
                    lines: r.get(6)?,
                    first_ns: r.get(7)?,
                    last_ns: r.get(8)?,
                    ..SessionInfo::default()
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        for (sql, events) in [
            (
                "SELECT stream, COUNT(*) FROM lines WHERE session = ?1 GROUP BY stream ORDER BY stream",
                false,
            ),
            (
                "SELECT kind, COUNT(*) FROM events WHERE session = ?1 GROUP BY kind ORDER BY kind",
                true,
            ),
        ] {
            let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
            for s in out.iter_mut() {
                let rows = st
                    .query_map([s.id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(|e| self.err(e))?;
                let got = rows
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                if events {
                    s.events = got;
                } else {
                    s.streams = got;
                }
            }
        }
        Ok(out)
    }

    fn lines(
        &mut self,
        session: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredLine>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, recv_ns, stream, line FROM lines WHERE session = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![session, after, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn events(&mut self, session: i64) -> Result<Vec<Event>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT at_ns, kind, detail FROM events WHERE session = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([session], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let (at_ns, kind, detail) = r.map_err(|e| self.err(e))?;
            if let Some(kind) = EventKind::parse(&kind) {
                out.push(Event {
                    session,
                    at_ns,
                    kind,
                    detail,
                });
            }
        }
        Ok(out)
    }

    fn exchange_info(&mut self, session: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT exchange_info FROM sessions WHERE id = ?1",
                [session],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    fn integrity(&mut self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn view(
        &mut self,
        view: View,
        session: Option<i64>,
        out: &mut dyn FnMut(&[String]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use rusqlite::types::ValueRef;
        let cols = view.columns();
        out(&cols.iter().map(|c| (*c).to_string()).collect::<Vec<_>>())?;
        let sql = format!(
            "SELECT {} FROM {} WHERE ?1 IS NULL OR session = ?1 ORDER BY {}",
            cols.join(", "),
            view.name(),
            view.order()
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = st.query([session]).map_err(|e| self.err(e))?;
        let mut cells = vec![String::new(); cols.len()];
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            for (k, c) in cells.iter_mut().enumerate() {
                c.clear();
                match r.get_ref(k).map_err(|e| self.err(e))? {
                    ValueRef::Null => {}
                    ValueRef::Integer(i) => c.push_str(&i.to_string()),
                    ValueRef::Real(f) => c.push_str(&f.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        c.push_str(&String::from_utf8_lossy(t));
                    }
                }
            }
            out(&cells)?;
        }
        Ok(())
    }
}
