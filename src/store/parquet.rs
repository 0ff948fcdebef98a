//! Tables out as Parquet (arrow-rs), for pandas, polars, DuckDB and Spark: a
//! recording's views, a journal's tables, a backtest's trades and equity.
//!
//! Columns are typed from their values, over the whole table (a first pass reads every
//! row, a second writes them in row groups, so memory stays bounded whatever the
//! table's length):
//!
//! * a column named `*_ns`, `*_us` or `*_ms` holding integers: a UTC timestamp in that
//!   unit; text in RFC 3339 (`2024-08-08T23:55:01.123Z`): a UTC timestamp, ns;
//! * integers: `int64`; numbers (decimal text included): `double` — analytics, not
//!   money on the hot path; the exact text is in the CSV and lines exports;
//! * `true`/`false`: `bool`; anything else: `string`. Empty cells and NULLs are nulls.
//!
//! Cold path.

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Columns that hold a flag as 0/1 (SQL has no booleans): written as `bool`.
const FLAG_COLUMNS: &[&str] = &["buyer_maker", "closed", "maker", "reduce_only", "post_only"];

/// 2000-01-01 in seconds: a `*_ms` (…) column with smaller values holds durations
/// (`recv_window_ms`), not times.
const Y2000_S: i64 = 946_684_800;

/// Rows per row group (and per batch handed to the writer).
const ROW_GROUP: usize = 65_536;

/// Why a Parquet file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// The file could not be created or written.
    #[error("{path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The writer's message.
        reason: String,
    },
    /// A row with another number of cells than the header.
    #[error("row {row}: {got} cells for {want} columns")]
    Shape {
        /// Row, from 1.
        row: u64,
        /// Cells found.
        got: usize,
        /// Columns.
        want: usize,
    },
}

/// One cell as the source holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Null,
    /// An integer.
    Int(i64),
    /// A number.
    Real(f64),
    /// Text (numbers, booleans and times in text are typed from it).
    Text(&'a str),
}

/// A column's type, decided from all its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Real,
    Bool,
    /// 0/1 in a [`FLAG_COLUMNS`] column.
    Flag,
    /// Integers in this unit since the epoch.
    Epoch(TimeUnit),
    /// RFC 3339 text.
    Rfc3339,
    Text,
}

/// What a column's values allow so far.
#[derive(Debug, Clone, Copy)]
struct Seen {
    int: bool,
    real: bool,
    boolean: bool,
    rfc3339: bool,
    /// Only 0 and 1 so far.
    flag: bool,
    /// The smallest integer seen.
    min: i64,
    any: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            int: true,
            real: true,
            boolean: true,
            rfc3339: true,
            flag: true,
            min: i64::MAX,
            any: false,
        }
    }
}

fn as_int(s: &str) -> Option<i64> {
    s.parse().ok()
}

fn as_real(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn as_bool(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn as_rfc3339(s: &str) -> Option<i64> {
    let t: jiff::Timestamp = s.parse().ok()?;
    i64::try_from(t.as_nanosecond()).ok()
}

impl Seen {
    fn see(&mut self, c: Cell<'_>) {
        match c {
            Cell::Null | Cell::Text("") => {}
            Cell::Int(v) => {
                self.any = true;
                self.min = self.min.min(v);
                self.flag = self.flag && (v == 0 || v == 1);
                self.boolean = false;
                self.rfc3339 = false;
            }
            Cell::Real(_) => {
                self.any = true;
                self.flag = false;
                self.int = false;
                self.boolean = false;
                self.rfc3339 = false;
            }
            Cell::Text(s) => {
                self.any = true;
                self.int = self.int && as_int(s).is_some();
                if let Some(v) = as_int(s) {
                    self.min = self.min.min(v);
                }
                self.flag = self.flag && (s == "0" || s == "1");
                self.real = self.real && as_real(s).is_some();
                self.boolean = self.boolean && as_bool(s).is_some();
                self.rfc3339 = self.rfc3339 && as_rfc3339(s).is_some();
            }
        }
    }

    fn ty(&self, name: &str) -> Ty {
        if !self.any {
            return Ty::Text;
        }
        if self.int && self.flag && FLAG_COLUMNS.contains(&name) {
            return Ty::Flag;
        }
        if self.int {
            for (suffix, unit, per_s) in [
                ("_ns", TimeUnit::Nanosecond, 1_000_000_000),
                ("_us", TimeUnit::Microsecond, 1_000_000),
                ("_ms", TimeUnit::Millisecond, 1_000),
            ] {
                if name.ends_with(suffix) && self.min >= Y2000_S * per_s {
                    return Ty::Epoch(unit);
                }
            }
            return Ty::Int;
        }
        if self.real {
            Ty::Real
        } else if self.boolean {
            Ty::Bool
        } else if self.rfc3339 {
            Ty::Rfc3339
        } else {
            Ty::Text
        }
    }
}

fn data_type(t: Ty) -> DataType {
    let utc = || Some(Arc::from("UTC"));
    match t {
        Ty::Int => DataType::Int64,
        Ty::Real => DataType::Float64,
        Ty::Bool | Ty::Flag => DataType::Boolean,
        Ty::Epoch(u) => DataType::Timestamp(u, utc()),
        Ty::Rfc3339 => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
        Ty::Text => DataType::Utf8,
    }
}

/// One column being filled.
enum Col {
    Int(Int64Builder),
    Real(Float64Builder),
    Bool(BooleanBuilder),
    Ns(TimestampNanosecondBuilder),
    Us(TimestampMicrosecondBuilder),
    Ms(TimestampMillisecondBuilder),
    /// RFC 3339 text stored as ns.
    Rfc(TimestampNanosecondBuilder),
    Text(StringBuilder),
}

impl Col {
    fn new(t: Ty) -> Self {
        match t {
            Ty::Int => Col::Int(Int64Builder::new()),
            Ty::Real => Col::Real(Float64Builder::new()),
            Ty::Bool | Ty::Flag => Col::Bool(BooleanBuilder::new()),
            Ty::Epoch(TimeUnit::Nanosecond) => Col::Ns(TimestampNanosecondBuilder::new()),
            Ty::Epoch(TimeUnit::Microsecond) => Col::Us(TimestampMicrosecondBuilder::new()),
            Ty::Epoch(_) => Col::Ms(TimestampMillisecondBuilder::new()),
            Ty::Rfc3339 => Col::Rfc(TimestampNanosecondBuilder::new()),
            Ty::Text => Col::Text(StringBuilder::new()),
        }
    }

    /// Appends `c` (already known to fit the column's type).
    fn push(&mut self, c: Cell<'_>) {
        let int = |c: Cell<'_>| match c {
            Cell::Int(v) => Some(v),
            Cell::Text(s) => as_int(s),
            _ => None,
        };
        match self {
            Col::Int(b) => b.append_option(int(c)),
            Col::Ns(b) => b.append_option(int(c)),
            Col::Us(b) => b.append_option(int(c)),
            Col::Ms(b) => b.append_option(int(c)),
            Col::Real(b) => b.append_option(match c {
                Cell::Int(v) => Some(v as f64),
                Cell::Real(v) => Some(v),
                Cell::Text(s) => as_real(s),
                Cell::Null => None,
            }),
            Col::Bool(b) => b.append_option(match c {
                Cell::Text("1") | Cell::Int(1) => Some(true),
                Cell::Text("0") | Cell::Int(0) => Some(false),
                Cell::Text(s) => as_bool(s),
                _ => None,
            }),
            Col::Rfc(b) => b.append_option(match c {
                Cell::Text(s) => as_rfc3339(s),
                _ => None,
            }),
            Col::Text(b) => match c {
                Cell::Null => b.append_null(),
                Cell::Int(v) => b.append_value(v.to_string()),
                Cell::Real(v) => b.append_value(v.to_string()),
                Cell::Text(s) => b.append_value(s),
            },
        }
    }

    fn finish(&mut self) -> ArrayRef {
        let utc = "UTC";
        match self {
            Col::Int(b) => Arc::new(b.finish()),
            Col::Real(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::Ns(b) | Col::Rfc(b) => Arc::new(b.finish().with_timezone(utc)),
            Col::Us(b) => Arc::new(b.finish().with_timezone(utc)),
            Col::Ms(b) => Arc::new(b.finish().with_timezone(utc)),
            Col::Text(b) => Arc::new(b.finish()),
        }
    }
}

/// The rows of a table, handed to the callback it is given (called twice: once to
/// type the columns, once to write them).
pub type Rows<'r, E> =
    dyn FnMut(&mut dyn FnMut(&[Cell<'_>]) -> Result<(), E>) -> Result<(), E> + 'r;

fn header_of(cells: &[Cell<'_>]) -> Vec<String> {
    cells
        .iter()
        .map(|c| match c {
            Cell::Text(s) => (*s).to_string(),
            Cell::Int(v) => v.to_string(),
            Cell::Real(v) => v.to_string(),
            Cell::Null => String::new(),
        })
        .collect()
}

/// Writes a table to `path`: its column `names`, or with `None` the first row `rows`
/// hands out each time is the header. Returns the rows written.
///
/// # Errors
/// [`ParquetError`] when the file cannot be written or a row has the wrong width;
/// `E` when the source fails (converted by `From`).
pub fn write_table<E: From<ParquetError>>(
    path: &Path,
    names: Option<&[String]>,
    rows: &mut Rows<'_, E>,
) -> Result<u64, E> {
    // First pass: the header (when in the rows) and what each column's values allow.
    let mut names: Option<Vec<String>> = names.map(<[String]>::to_vec);
    let header_in_rows = names.is_none();
    let mut seen: Vec<Seen> = Vec::new();
    let mut n = 0u64;
    rows(&mut |cells| {
        let Some(names) = names.as_ref() else {
            names = Some(header_of(cells));
            return Ok(());
        };
        if seen.is_empty() {
            seen = vec![Seen::default(); names.len()];
        }
        n += 1;
        if cells.len() != names.len() {
            return Err(ParquetError::Shape {
                row: n,
                got: cells.len(),
                want: names.len(),
            }
            .into());
        }
        for (s, c) in seen.iter_mut().zip(cells) {
            s.see(*c);
        }
        Ok(())
    })?;
    let names = names.unwrap_or_default();
    seen.resize(names.len(), Seen::default());
    let types: Vec<Ty> = seen.iter().zip(&names).map(|(s, n)| s.ty(n)).collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .zip(&types)
            .map(|(n, &t)| Field::new(n, data_type(t), true))
            .collect::<Vec<_>>(),
    ));
    let bad = |reason: String| ParquetError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|e| bad(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP)
        .set_created_by(format!("minerva {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| bad(e.to_string()))?;
    let mut cols: Vec<Col> = types.iter().map(|&t| Col::new(t)).collect();
    let flush = |cols: &mut Vec<Col>, writer: &mut ArrowWriter<std::fs::File>| {
        let arrays: Vec<ArrayRef> = cols.iter_mut().map(Col::finish).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| bad(e.to_string()))?;
        writer.write(&batch).map_err(|e| bad(e.to_string()))
    };
    // Second pass: the values, a row group at a time.
    let (mut pending, mut written) = (0usize, 0u64);
    let mut skip_header = header_in_rows;
    rows(&mut |cells| {
        if skip_header {
            skip_header = false;
            return Ok(());
        }
        if cells.len() != cols.len() {
            return Err(ParquetError::Shape {
                row: written + 1,
                got: cells.len(),
                want: cols.len(),
            }
            .into());
        }
        for (col, c) in cols.iter_mut().zip(cells) {
            col.push(*c);
        }
        pending += 1;
        written += 1;
        if pending == ROW_GROUP {
            pending = 0;
            flush(&mut cols, &mut writer)?;
        }
        Ok(())
    })?;
    if pending > 0 || written == 0 {
        flush(&mut cols, &mut writer)?;
    }
    writer.close().map_err(|e| bad(e.to_string()))?;
    Ok(written)
}

/// CSV text (a header, then rows) as a Parquet file; the rows written.
///
/// # Errors
/// [`ParquetError`]: unreadable CSV, a row of the wrong width, a file not written.
pub fn csv_to_parquet(csv_text: &str, path: &Path) -> Result<u64, ParquetError> {
    let bad = |e: csv::Error| ParquetError::Write {
        path: path.to_path_buf(),
        reason: format!("the CSV: {e}"),
    };
    let mut r = csv::ReaderBuilder::new().from_reader(csv_text.as_bytes());
    let names: Vec<String> = r
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_string)
        .collect();
    let records: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().map_err(bad)?;
    write_table(path, Some(&names), &mut |push| {
        for rec in &records {
            let cells: Vec<Cell<'_>> = rec.iter().map(Cell::Text).collect();
            push(&cells)?;
        }
        Ok(())
    })
}

/// True when `path` names a Parquet file (by its extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_from_all_their_values() {
        let seen = |name: &str, cells: &[Cell<'_>]| {
            let mut s = Seen::default();
            for c in cells {
                s.see(*c);
            }
            s.ty(name)
        };
        use Cell::*;
        assert_eq!(
            seen("recv_ns", &[Int(1_723_161_313_937_085_768), Null]),
            Ty::Epoch(TimeUnit::Nanosecond)
        );
        assert_eq!(
            seen("trade_ms", &[Text("1723161313937"), Text("")]),
            Ty::Epoch(TimeUnit::Millisecond)
        );
        // Small values in a `_ms` column are a duration.
        assert_eq!(seen("recv_window_ms", &[Int(5000)]), Ty::Int);
        assert_eq!(seen("id", &[Text("17"), Text("18")]), Ty::Int);
        assert_eq!(seen("price", &[Text("17"), Text("60000.10")]), Ty::Real);
        assert_eq!(seen("m", &[Text("true"), Text("false")]), Ty::Bool);
        assert_eq!(seen("buyer_maker", &[Text("1"), Text("0")]), Ty::Flag);
        assert_eq!(seen("buyer_maker", &[Text("2")]), Ty::Int);
        assert_eq!(seen("other", &[Text("1"), Text("0")]), Ty::Int);
        assert_eq!(
            seen("entry_time", &[Text("2024-08-08T23:55:01.123Z")]),
            Ty::Rfc3339
        );
        assert_eq!(seen("side", &[Text("long"), Text("17")]), Ty::Text);
        // A name that says time but holds text stays text.
        assert_eq!(seen("x_ns", &[Text("soon")]), Ty::Text);
        assert_eq!(seen("empty", &[Null, Text("")]), Ty::Text);
    }
}
