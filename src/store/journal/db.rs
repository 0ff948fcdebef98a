//! The journal's two databases behind one face: a SQLite file (the embedded
//! default, WAL) or a PostgreSQL database (`postgres://…`, a desk's shared server,
//! beside its recordings). Cold path only: the writer thread and the readers
//! (`db info`, `db export`, `observe`).
//!
//! One text of each statement serves both: SQL is written with SQLite's `?N`
//! parameters and becomes `$N` for PostgreSQL; the schema's `INTEGER` columns become
//! `BIGINT` there (times in ns do not fit 32 bits) and its row ids identities.

use super::JournalError;
use crate::store::Target;
use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// One value bound to or read from a statement: the three kinds the journal uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    /// The integer (0 for null or text).
    pub(super) fn int(&self) -> i64 {
        match self {
            Self::Int(i) => *i,
            _ => 0,
        }
    }

    /// The integer, or none for null.
    pub(super) fn opt_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text (empty for null; an integer as its digits).
    pub(super) fn text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Int(i) => i.to_string(),
            Self::Text(t) => t.clone(),
        }
    }

    /// The text, or none for null.
    pub(super) fn opt_text(&self) -> Option<String> {
        match self {
            Self::Null => None,
            v => Some(v.text()),
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<u64> for Val {
    fn from(v: u64) -> Self {
        Self::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// The values of a statement's parameters, in order.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { [$($crate::store::journal::db::Val::from($v)),*] };
}
pub(super) use vals;

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Self::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Self::Int(i) if *ty == Type::TEXT || *ty == Type::VARCHAR => {
                i.to_string().to_sql(ty, out)
            }
            Self::Int(i) => i.to_sql(ty, out),
            Self::Text(t) => t.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [Type::INT8, Type::INT4, Type::TEXT, Type::VARCHAR].contains(ty)
    }

    to_sql_checked!();
}

/// Serialises concurrent journal schema creation across writers of one database.
const SCHEMA_LOCK: i64 = 0x006a_6f75_726e_616c;

/// A PostgreSQL connection and the statements it has prepared (the writer inserts
/// the same few statements all run long).
struct Pg {
    client: postgres::Client,
    prepared: HashMap<String, postgres::Statement>,
}

/// An open journal database.
pub(super) struct Db {
    target: Target,
    conn: Conn,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(Box<Pg>),
}

/// `?N` parameters as PostgreSQL's `$N`.
fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut it = sql.chars().peekable();
    while let Some(c) = it.next() {
        if c == '?' && it.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl Db {
    /// Opens the journal at `path` (a file or a `postgres://` URL) to write,
    /// creating its tables from `schema` (SQLite's text) when absent and adding the
    /// columns `added` (table, column, type) that an older journal lacks.
    pub(super) fn create(
        path: &Path,
        schema: &str,
        added: &[(&str, &str, &str)],
    ) -> Result<Self, JournalError> {
        let target = Target::of_path(path);
        let mut db = match &target {
            Target::Sqlite(p) => {
                let sql = |reason| JournalError::Sqlite {
                    path: p.clone(),
                    reason,
                };
                let c = rusqlite::Connection::open(p).map_err(sql)?;
                c.execute_batch(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                )
                .map_err(sql)?;
                c.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
                Self {
                    conn: Conn::Sqlite(c),
                    target,
                }
            }
            Target::Postgres(url) => Self::connect(&target, url)?,
        };
        if let Conn::Sqlite(_) = db.conn {
            db.batch(schema)?;
            db.add_columns(added)?;
            return Ok(db);
        }
        // Several runs may start at once against one server.
        db.batch(&format!(
            "SET client_min_messages = warning; SELECT pg_advisory_lock({SCHEMA_LOCK});"
        ))?;
        let made = db
            .batch(&pg_schema(schema))
            .and_then(|()| db.add_columns(added));
        let unlocked = db.batch(&format!("SELECT pg_advisory_unlock({SCHEMA_LOCK})"));
        made?;
        unlocked?;
        Ok(db)
    }

    fn add_columns(&mut self, added: &[(&str, &str, &str)]) -> Result<(), JournalError> {
        for (table, column, kind) in added {
            if !self.has_column(table, column)? {
                let kind = match (&self.conn, *kind) {
                    (Conn::Sqlite(_), "INTEGER") => "INTEGER",
                    (Conn::Pg(_), "INTEGER") => "BIGINT",
                    (_, k) => k,
                };
                self.batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            }
        }
        Ok(())
    }

    /// Opens the journal at `path` to read: none when the database holds no journal.
    pub(super) fn open_read(path: &Path) -> Result<Option<Self>, JournalError> {
        let target = Target::of_path(path);
        let mut db = match &target {
            Target::Sqlite(p) => {
                let c = rusqlite::Connection::open_with_flags(
                    p,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|reason| JournalError::Sqlite {
                    path: p.clone(),
                    reason,
                })?;
                Self {
                    target,
                    conn: Conn::Sqlite(c),
                }
            }
            Target::Postgres(url) => Self::connect(&target, url)?,
        };
        Ok(db.has_table("journal_runs")?.then_some(db))
    }

    fn connect(target: &Target, url: &str) -> Result<Self, JournalError> {
        let client =
            crate::store::postgres::client(url).map_err(|reason| pg_err(target, reason))?;
        Ok(Self {
            target: target.clone(),
            conn: Conn::Pg(Box::new(Pg {
                client,
                prepared: HashMap::new(),
            })),
        })
    }

    /// The database, for messages (a URL without its password).
    pub(super) fn name(&self) -> String {
        self.target.display()
    }

    /// Statements without parameters or results.
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), JournalError> {
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| lite(&self.target, e)),
            Conn::Pg(pg) => pg
                .client
                .batch_execute(sql)
                .map_err(|e| pg_err(&self.target, e)),
        }
    }

    /// Runs `sql` (an insert or an update) with `params`.
    pub(super) fn exec(&mut self, sql: &str, params: &[Val]) -> Result<(), JournalError> {
        match &mut self.conn {
            Conn::Sqlite(c) => c
                .prepare_cached(sql)
                .and_then(|mut st| st.execute(rusqlite::params_from_iter(params)))
                .map(drop)
                .map_err(|e| lite(&self.target, e)),
            Conn::Pg(pg) => {
                let st = pg.statement(sql).map_err(|e| pg_err(&self.target, e))?;
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                pg.client
                    .execute(&st, &refs)
                    .map(drop)
                    .map_err(|e| pg_err(&self.target, e))
            }
        }
    }

    /// Runs `sql` with `params`: its column names and rows.
    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> Result<(Vec<String>, Vec<Vec<Val>>), JournalError> {
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let read = || -> rusqlite::Result<(Vec<String>, Vec<Vec<Val>>)> {
                    let mut st = c.prepare(sql)?;
                    let names: Vec<String> =
                        st.column_names().iter().map(|s| s.to_string()).collect();
                    let n = names.len();
                    let mut rows = st.query(rusqlite::params_from_iter(params))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        let mut row = Vec::with_capacity(n);
                        for k in 0..n {
                            use rusqlite::types::Value as V;
                            row.push(match r.get::<_, V>(k)? {
                                V::Null => Val::Null,
                                V::Integer(i) => Val::Int(i),
                                V::Real(f) => Val::Text(f.to_string()),
                                V::Text(t) => Val::Text(t),
                                V::Blob(b) => Val::Text(String::from_utf8_lossy(&b).into_owned()),
                            });
                        }
                        out.push(row);
                    }
                    Ok((names, out))
                };
                read().map_err(|e| lite(&self.target, e))
            }
            Conn::Pg(pg) => {
                let target = &self.target;
                let st = pg.statement(sql).map_err(|e| pg_err(target, e))?;
                let names = st.columns().iter().map(|c| c.name().to_string()).collect();
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                let rows = pg.client.query(&st, &refs).map_err(|e| pg_err(target, e))?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut row = Vec::with_capacity(r.len());
                    for (k, c) in r.columns().iter().enumerate() {
                        let v = match *c.type_() {
                            Type::INT8 => r.try_get::<_, Option<i64>>(k).map(|v| v.map(Val::Int)),
                            Type::INT4 => r
                                .try_get::<_, Option<i32>>(k)
                                .map(|v| v.map(|i| Val::Int(i64::from(i)))),
                            Type::BOOL => r
                                .try_get::<_, Option<bool>>(k)
                                .map(|v| v.map(|b| Val::Int(i64::from(b)))),
                            _ => r.try_get::<_, Option<String>>(k).map(|v| v.map(Val::Text)),
                        }
                        .map_err(|e| pg_err(target, e))?;
                        row.push(v.unwrap_or(Val::Null));
                    }
                    out.push(row);
                }
                Ok((names, out))
            }
        }
    }

    /// Whether `table` has `column` (older journals lack the newer ones).
    pub(super) fn has_column(&mut self, table: &str, column: &str) -> Result<bool, JournalError> {
        let sql = match self.conn {
            Conn::Sqlite(_) => "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
            Conn::Pg(_) => {
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name::text = ?1 AND column_name::text = ?2"
            }
        };
        let (_, rows) = self.query(sql, &vals![table, column])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .is_some_and(|v| v.int() > 0))
    }

    /// Whether the database has table `name`.
    pub(super) fn has_table(&mut self, name: &str) -> Result<bool, JournalError> {
        let sql = match self.conn {
            Conn::Sqlite(_) => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
            }
            Conn::Pg(_) => {
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name::text = ?1"
            }
        };
        let (_, rows) = self.query(sql, &[Val::from(name)])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .is_some_and(|v| v.int() > 0))
    }
}

impl Pg {
    /// `sql` prepared once per connection.
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(&dollars(sql))?;
        self.prepared.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

fn lite(target: &Target, reason: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: target.display().into(),
        reason,
    }
}

fn pg_err(target: &Target, reason: postgres::Error) -> JournalError {
    JournalError::Postgres {
        target: target.display(),
        reason,
    }
}

/// SQLite's schema text as PostgreSQL's: identities for row ids, 64-bit integers.
fn pg_schema(schema: &str) -> String {
    schema
        .replace(
            "id INTEGER PRIMARY KEY",
            "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        .replace("INTEGER", "BIGINT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_schema_translate_for_postgres() {
        assert_eq!(
            dollars("INSERT INTO t(a, b) VALUES (?1, ?12) -- why?"),
            "INSERT INTO t(a, b) VALUES ($1, $12) -- why?"
        );
        let s = pg_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, x TEXT);");
        assert_eq!(
            s,
            "CREATE TABLE t(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, run BIGINT NOT NULL, x TEXT);"
        );
    }
}
