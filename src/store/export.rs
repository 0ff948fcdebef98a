//! `minerva db export`: a database's sessions back out as the lines they hold (a
//! file per session that replays exactly as the database), or a decoded view as CSV.

use super::{Recorded, StoreError, View};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name a session's lines are exported under in a directory:
/// `<session>_<original name>`, without a `.gz` the export does not compress.
pub fn session_file(id: i64, source: &str) -> String {
    let name = Path::new(source)
        .file_name()
        .map_or_else(|| "session".into(), |n| n.to_string_lossy().into_owned());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    format!("{id}_{name}")
}

/// Writes the lines of `session` to `out`, each followed by `\n`. Returns the lines
/// written.
///
/// # Errors
/// [`StoreError`] when the database refuses or `out` cannot be written.
pub fn lines_to(
    db: &mut dyn Recorded,
    session: i64,
    out: &mut dyn Write,
    out_name: &Path,
) -> Result<u64, StoreError> {
    let io = |source| StoreError::Io {
        path: out_name.to_path_buf(),
        reason: source,
    };
    let (mut after, mut n) = (0i64, 0u64);
    loop {
        let rows = db.lines(session, after, 8_192)?;
        if rows.is_empty() {
            return Ok(n);
        }
        for (id, _, _, line) in rows {
            after = id;
            out.write_all(&line).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            n += 1;
        }
    }
}

/// Exports each of `sessions` (all when empty) into `dir` as
/// [`session_file`]; returns (file, lines) for each.
///
/// # Errors
/// [`StoreError`] when the database refuses, a session is missing, or a file
/// cannot be written.
pub fn lines_into_dir(
    db: &mut dyn Recorded,
    sessions: &[i64],
    dir: &Path,
) -> Result<Vec<(PathBuf, u64)>, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        reason: source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let all = db.sources()?;
    let mut out = Vec::new();
    for (id, source) in &all {
        if !sessions.is_empty() && !sessions.contains(id) {
            continue;
        }
        let path = dir.join(session_file(*id, source));
        let f = std::fs::File::create(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            reason: source,
        })?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let n = lines_to(db, *id, &mut w, &path)?;
        w.flush().map_err(|source| StoreError::Io {
            path: path.clone(),
            reason: source,
        })?;
        out.push((path, n));
    }
    if let Some(&missing) = sessions.iter().find(|id| !all.iter().any(|s| s.0 == **id)) {
        return Err(StoreError::NoSession {
            path: dir.to_path_buf(),
            session: missing,
        });
    }
    Ok(out)
}

/// Writes `view` of `session` (every session when `None`) as CSV with a header;
/// returns the records written (header excluded).
///
/// # Errors
/// [`StoreError`] when the database refuses or `out` cannot be written.
pub fn csv_to(
    db: &mut dyn Recorded,
    view: View,
    session: Option<i64>,
    out: &mut dyn Write,
    out_name: &Path,
) -> Result<u64, StoreError> {
    let mut n = 0u64;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    let io = |e: std::io::Error| StoreError::Io {
        path: out_name.to_path_buf(),
        reason: e,
    };
    db.view(view, session, &mut |cells| {
        n += 1;
        w.write_record(cells).map_err(|e| io(e.into()))
    })?;
    w.flush().map_err(io)?;
    Ok(n.saturating_sub(1))
}

/// Writes `view` of `session` (every session when `None`) as a Parquet file, columns
/// typed from their values (`store::parquet`); returns the rows written.
///
/// # Errors
/// [`StoreError`] when the database refuses or the file cannot be written.
pub fn parquet_to(
    db: &mut dyn Recorded,
    view: View,
    session: Option<i64>,
    path: &Path,
) -> Result<u64, StoreError> {
    use super::parquet::{Cell, write_table};
    write_table::<StoreError>(path, None, &mut |push| {
        db.view(view, session, &mut |cells| {
            let cells: Vec<Cell<'_>> = cells.iter().map(|s| Cell::Text(s)).collect();
            push(&cells)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_file_names() {
        assert_eq!(
            session_file(3, "../shared/data/btcusdt_20240808.gz"),
            "3_btcusdt_20240808"
        );
        assert_eq!(session_file(4, "127.0.0.1:9443/BTCUSDT"), "4_BTCUSDT");
    }
}
