//! The PostgreSQL store: the same schema and interface as SQLite's, for a team
//! recording many symbols on several machines into one database. Batches go in by
//! binary COPY inside one transaction each; ids come from sequences, so each
//! writer's lines keep their order within their session.
//!
//! Lines carry no foreign key to their session: a per-row trigger halved COPY's
//! rate (136,000 → 296,000 lines/s here); their primary key is `(session, id)`, the
//! order a session is read in, and `db info`'s integrity check finds lines without a
//! session.
//!
//! Plain TCP (no TLS): run it on a trusted network or through a tunnel.

use super::{
    Event, EventKind, NewSession, Recorded, Row, SCHEMA_VERSION, SessionInfo, Sink, StoreError,
    StoredLine, View, wall_ns,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, NoTls};
use std::path::PathBuf;

/// Schema migrations, in order: migration `k` takes version `k` to `k + 1` (the
/// same versions as SQLite's).
const MIGRATIONS: [&str; 2] = [
    "CREATE TABLE sessions(
         id BIGSERIAL PRIMARY KEY,
         source TEXT NOT NULL,
         started_ns BIGINT NOT NULL,
         ended_ns BIGINT);
     CREATE TABLE lines(
         id BIGSERIAL,
         session BIGINT NOT NULL,
         recv_ns BIGINT NOT NULL,
         stream TEXT NOT NULL,
         line BYTEA NOT NULL,
         PRIMARY KEY (session, id));",
    "ALTER TABLE lines ADD COLUMN conn BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE sessions ADD COLUMN symbol TEXT NOT NULL DEFAULT '',
                          ADD COLUMN market TEXT NOT NULL DEFAULT '',
                          ADD COLUMN exchange_info BYTEA;
     CREATE TABLE events(
         id BIGSERIAL PRIMARY KEY,
         session BIGINT NOT NULL REFERENCES sessions(id),
         at_ns BIGINT NOT NULL,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL);
     CREATE INDEX events_session ON events(session, id);
     CREATE VIEW messages AS
         SELECT id, session, recv_ns, stream,
                CASE WHEN substring(line from 1 for 1) = '\\x7b'::bytea THEN convert_from(line, 'UTF8')
                     ELSE substr(convert_from(line, 'UTF8'), position(' ' in convert_from(line, 'UTF8')) + 1)
                END AS json
         FROM lines;
     CREATE VIEW trades AS
         SELECT session, recv_ns,
                j->'data'->>'s' AS symbol,
                (j->'data'->>'t')::bigint AS trade_id,
                j->'data'->>'p' AS price,
                j->'data'->>'q' AS qty,
                CASE WHEN (j->'data'->>'m')::boolean THEN 1 ELSE 0 END AS buyer_maker,
                (j->'data'->>'T')::bigint AS trade_ms
         FROM (SELECT session, recv_ns, json::jsonb AS j FROM messages WHERE stream ILIKE '%@trade') m;
     CREATE VIEW top_of_book AS
         SELECT session, recv_ns,
                j->'data'->>'s' AS symbol,
                (j->'data'->>'u')::bigint AS update_id,
                j->'data'->>'b' AS bid,
                j->'data'->>'B' AS bid_qty,
                j->'data'->>'a' AS ask,
                j->'data'->>'A' AS ask_qty
         FROM (SELECT session, recv_ns, json::jsonb AS j FROM messages WHERE stream ILIKE '%@bookTicker') m;
     CREATE VIEW candles_1m AS
         SELECT DISTINCT session, symbol, open_ms,
                first_value(price) OVER w AS open,
                max(price::double precision) OVER w AS high,
                min(price::double precision) OVER w AS low,
                last_value(price) OVER w AS close,
                round(sum(qty::numeric) OVER w, 8)::double precision AS volume,
                count(*) OVER w AS trades
         FROM (SELECT session, symbol, trade_id, price, qty, (trade_ms / 60000) * 60000 AS open_ms
               FROM trades) t
         WINDOW w AS (PARTITION BY session, symbol, open_ms ORDER BY trade_id
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);
     CREATE VIEW klines AS
         SELECT session, recv_ns,
                j->'data'->>'s' AS symbol,
                (j->'data'->'k'->>'t')::bigint AS open_ms,
                j->'data'->'k'->>'o' AS open,
                j->'data'->'k'->>'h' AS high,
                j->'data'->'k'->>'l' AS low,
                j->'data'->'k'->>'c' AS close,
                j->'data'->'k'->>'v' AS volume,
                (j->'data'->'k'->>'n')::bigint AS trades,
                CASE WHEN (j->'data'->'k'->>'x')::boolean THEN 1 ELSE 0 END AS closed
         FROM (SELECT session, recv_ns, json::jsonb AS j FROM messages WHERE stream ILIKE '%@kline%') m;",
];

/// Key of the advisory lock that serialises migrations across machines.
const MIGRATION_LOCK: i64 = 0x006d_696e_6572_7661;

/// What went wrong, in full: the server's message and code, or the client's error
/// and its causes (the client's own text is a bare "db error").
pub fn detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find('@');
    let host_start = rest.find('/').unwrap_or(rest.len());
    match auth_end {
        Some(at) if at < host_start => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// A connection to `url` (`postgres://user[:password]@host[:port]/db`; without a
/// password in the URL, or with the `***` [`redact`] leaves, `PGPASSWORD` gives
/// it), plain TCP, given up after 10 s.
///
/// # Errors
/// The client's error: a bad URL, an unreachable server, a refused login.
pub fn client(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    // A URL as Minerva keeps it (a journal's recording) has its password masked.
    if config.get_password().is_none_or(|p| p == b"***") {
        if let Ok(pw) = std::env::var("PGPASSWORD") {
            config.password(pw);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.connect(NoTls)
}

/// A connection to a PostgreSQL recording database.
pub struct PgStore {
    target: String,
    client: Client,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`; without a
    /// password in the URL, `PGPASSWORD` gives it) and migrates the schema to
    /// [`SCHEMA_VERSION`] under an advisory lock (several recorders may start at
    /// once).
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the server cannot be reached or refuses;
    /// [`StoreError::Newer`] for a newer schema.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let target = redact(url);
        let err = |source| StoreError::Postgres {
            target: target.clone(),
            reason: source,
        };
        let mut client = client(url).map_err(err)?;
        // The lock first: two recorders creating `meta` at once race inside
        // PostgreSQL's catalogue (a unique violation, or "type meta already exists").
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        let created = client
            .batch_execute(
                "SET client_min_messages = warning;
                 CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
            .map_err(err);
        let migrated = created.and_then(|()| Self::migrate(&mut client, &target));
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .map_err(err);
        migrated?;
        unlocked?;
        Ok(Self { target, client })
    }

    fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
        let err = |source| StoreError::Postgres {
            target: target.to_string(),
            reason: source,
        };
        let row = client
            .query_one(
                "SELECT COALESCE((SELECT value::bigint FROM meta WHERE key = 'schema_version'), 0)",
                &[],
            )
            .map_err(err)?;
        let mut at: i64 = row.get(0);
        if at > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: PathBuf::from(target),
                found: at,
            });
        }
        while at < SCHEMA_VERSION {
            let mut tx = client.transaction().map_err(err)?;
            tx.batch_execute(MIGRATIONS[at as usize]).map_err(err)?;
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&(at + 1).to_string()],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
            at += 1;
        }
        Ok(())
    }

    fn err(&self, source: postgres::Error) -> StoreError {
        StoreError::Postgres {
            target: self.target.clone(),
            reason: source,
        }
    }
}

impl Sink for PgStore {
    fn begin_session(&mut self, s: &NewSession<'_>) -> Result<i64, StoreError> {
        let row = self
            .client
            .query_one(
                "INSERT INTO sessions(source, symbol, market, exchange_info, started_ns)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &s.source,
                    &s.symbol,
                    &s.market,
                    &s.exchange_info,
                    &wall_ns(),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn end_session(&mut self, session: i64) -> Result<(), StoreError> {
        self.client
            .execute(
                "UPDATE sessions SET ended_ns = $1 WHERE id = $2",
                &[&wall_ns(), &session],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn append(&mut self, rows: &[Row], events: &[Event]) -> Result<(), StoreError> {
        let target = self.target.clone();
        let err = |source| StoreError::Postgres {
            target: target.clone(),
            reason: source,
        };
        let mut tx = self.client.transaction().map_err(err)?;
        if !rows.is_empty() {
            let w = tx
                .copy_in(
                    "COPY lines(session, recv_ns, stream, conn, line) FROM STDIN (FORMAT binary)",
                )
                .map_err(err)?;
            let mut w = BinaryCopyInWriter::new(
                w,
                &[Type::INT8, Type::INT8, Type::TEXT, Type::INT8, Type::BYTEA],
            );
            for r in rows {
                w.write(&[&r.session, &r.recv_ns, &r.stream, &r.conn, &r.line])
                    .map_err(err)?;
            }
            w.finish().map_err(err)?;
        }
        if !events.is_empty() {
            let st = tx
                .prepare("INSERT INTO events(session, at_ns, kind, detail) VALUES ($1, $2, $3, $4)")
                .map_err(err)?;
            for e in events {
                tx.execute(&st, &[&e.session, &e.at_ns, &e.kind.as_str(), &e.detail])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn bytes(&mut self) -> u64 {
        self.client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .map_or(0, |r| r.get::<_, i64>(0).max(0) as u64)
    }
}

impl Recorded for PgStore {
    fn sources(&mut self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = self
            .client
            .query("SELECT id, source FROM sessions ORDER BY id", &[])
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn sessions(&mut self) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT s.id, s.source, s.symbol, s.market, s.started_ns, COALESCE(s.ended_ns, 0),
                        COUNT(l.id), COALESCE(MIN(NULLIF(l.recv_ns, 0)), 0), COALESCE(MAX(l.recv_ns), 0)
                 FROM sessions s LEFT JOIN lines l ON l.session = s.id GROUP BY s.id ORDER BY s.id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let mut out: Vec<SessionInfo> = rows
            .iter()
            .map(|r| SessionInfo {
                id: r.get(0),
                source: r.get(1),
                symbol: r.get(2),
                market: r.get(3),
                started_ns: r.get(4),
                ended_ns: r.get(5),
                lines: r.get(6),
                first_ns: r.get(7),
                last_ns: r.get(8),
                ..SessionInfo::default()
            })
            .collect();
        let streams = self
            .client
            .query(
                "SELECT session, stream, COUNT(*) FROM lines GROUP BY session, stream ORDER BY session, stream",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let events = self
            .client
            .query(
                "SELECT session, kind, COUNT(*) FROM events GROUP BY session, kind ORDER BY session, kind",
                &[],
            )
            .map_err(|e| self.err(e))?;
        for s in out.iter_mut() {
            for (rows, into) in [(&streams, &mut s.streams), (&events, &mut s.events)] {
                *into = rows
                    .iter()
                    .filter(|r| r.get::<_, i64>(0) == s.id)
                    .map(|r| (r.get(1), r.get(2)))
                    .collect();
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
        let rows = self
            .client
            .query(
                "SELECT id, recv_ns, stream, line FROM lines WHERE session = $1 AND id > $2 ORDER BY id LIMIT $3",
                &[&session, &after, &(limit as i64)],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    fn events(&mut self, session: i64) -> Result<Vec<Event>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT at_ns, kind, detail FROM events WHERE session = $1 ORDER BY id",
                &[&session],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Event {
                    session,
                    at_ns: r.get(0),
                    kind: EventKind::parse(r.get(1))?,
                    detail: r.get(2),
                })
            })
            .collect())
    }

    fn exchange_info(&mut self, session: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT exchange_info FROM sessions WHERE id = $1",
                &[&session],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.first().and_then(|r| r.get(0)))
    }

    fn integrity(&mut self) -> Result<String, StoreError> {
        // The server keeps its own files consistent; what is ours to check is that
        // every line and event belongs to a session.
        let row = self
            .client
            .query_one(
                "SELECT (SELECT COUNT(*) FROM lines l WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = l.session))
                      + (SELECT COUNT(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = e.session))",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let orphans: i64 = row.get(0);
        Ok(if orphans == 0 {
            "ok".into()
        } else {
            format!("{orphans} rows without a session")
        })
    }

    fn view(
        &mut self,
        view: View,
        session: Option<i64>,
        out: &mut dyn FnMut(&[String]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let cols = view.columns();
        out(&cols.iter().map(|c| (*c).to_string()).collect::<Vec<_>>())?;
        let select: Vec<String> = cols.iter().map(|c| format!("{c}::text")).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE $1::bigint IS NULL OR session = $1 ORDER BY {}",
            select.join(", "),
            view.name(),
            view.order()
        );
        let target = self.target.clone();
        let err = |source| StoreError::Postgres {
            target: target.clone(),
            reason: source,
        };
        let mut rows = self
            .client
            .query_raw(&sql, [&session as &(dyn postgres::types::ToSql + Sync)])
            .map_err(err)?;
        let mut cells = vec![String::new(); cols.len()];
        use postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = rows.next().map_err(err)? {
            for (k, c) in cells.iter_mut().enumerate() {
                c.clear();
                if let Some(v) = r.get::<_, Option<&str>>(k) {
                    c.push_str(v);
                }
            }
            out(&cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_shown() {
        assert_eq!(
            redact("postgres://rec:s3cret@db.lan:5432/market"),
            "postgres://rec:***@db.lan:5432/market"
        );
        assert_eq!(
            redact("postgres://rec@db.lan/market"),
            "postgres://rec@db.lan/market"
        );
        assert_eq!(
            redact("postgresql://db.lan/market"),
            "postgresql://db.lan/market"
        );
    }
}
