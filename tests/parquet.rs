//! Parquet exports read back by an independent reader (pyarrow, which `.ci/run`
//! installs) and checked value by value against the CSV exports of the same data: a
//! recording's views, a journal's tables, a backtest's trades and equity.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_minerva");

fn ok(args: &[&str]) -> String {
    let o = Command::new(BIN)
        .current_dir(common::repo(""))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// pyarrow's reading of a file: `{"schema": [[name, type]], "rows": [[..]]}`, times as
/// integers in their unit; `None` (skipped, said so) without pyarrow, except under CI.
fn read_parquet(path: &Path) -> Option<serde_json::Value> {
    const SCRIPT: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
cols = []
for f, c in zip(t.schema, t.columns):
    if pa.types.is_timestamp(f.type):
        c = c.cast(pa.int64())
    cols.append(c.to_pylist())
print(json.dumps({"schema": [[f.name, str(f.type)] for f in t.schema],
                  "rows": [list(r) for r in zip(*cols)] if cols else []}))
"#;
    let have = Command::new("python3")
        .args(["-c", "import pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var("MINERVA_REQUIRE_CLIENT_LIBS").is_ok() {
            panic!("pyarrow is required here (.ci/run installs it)");
        }
        eprintln!("NOTE: pyarrow missing; the Parquet read-back is skipped");
        return None;
    }
    let o = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pyarrow could not read {}",
        path.display()
    );
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let names = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (names, rows)
}

/// The CSV cell as pyarrow must read it, given the column's Parquet type.
fn expected(ty: &str, cell: &str) -> serde_json::Value {
    use serde_json::Value;
    if cell.is_empty() {
        return Value::Null;
    }
    match ty {
        "int64" => cell.parse::<i64>().unwrap().into(),
        "double" => cell.parse::<f64>().unwrap().into(),
        "bool" => match cell {
            "1" | "true" => true.into(),
            "0" | "false" => false.into(),
            _ => panic!("not a flag: {cell}"),
        },
        t if t.starts_with("timestamp[") && cell.contains('T') => {
            let ts: jiff::Timestamp = cell.parse().unwrap();
            (ts.as_nanosecond() as i64).into()
        }
        t if t.starts_with("timestamp[") => cell.parse::<i64>().unwrap().into(),
        "string" => cell.into(),
        other => panic!("unexpected type {other}"),
    }
}

/// Every row and cell of the Parquet file equals the CSV file's, typed.
fn same_table(csv: &Path, parquet: &Path, types: &[(&str, &str)]) {
    let Some(p) = read_parquet(parquet) else {
        return;
    };
    let (names, rows) = csv_rows(csv);
    let schema: Vec<(String, String)> = p["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().into(), f[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        schema.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        names,
        "{}",
        parquet.display()
    );
    for (name, ty) in types {
        let got = schema
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str());
        assert_eq!(got, Some(*ty), "{name} in {}", parquet.display());
    }
    let prow = p["rows"].as_array().unwrap();
    assert_eq!(prow.len(), rows.len(), "{}", parquet.display());
    assert!(!rows.is_empty(), "{}: no rows to compare", csv.display());
    for (k, (c, q)) in rows.iter().zip(prow).enumerate() {
        for (j, (cell, (name, ty))) in c.iter().zip(&schema).enumerate() {
            // CSV writes a null and an empty text alike.
            if ty == "string" && cell.is_empty() && q[j].as_str() == Some("") {
                continue;
            }
            assert_eq!(
                q[j],
                expected(ty, cell),
                "{} row {k} column {name}",
                parquet.display()
            );
        }
    }
}

/// `view` of `db` exported as CSV and as Parquet into `dir`: (csv, parquet).
fn export_both(db: &Path, view: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let csv = dir.join(format!("{view}.csv"));
    let pq = dir.join(format!("{view}.parquet"));
    for (format, out) in [("csv", &csv), ("parquet", &pq)] {
        ok(&[
            "db",
            "export",
            db.to_str().unwrap(),
            "--format",
            format,
            "--view",
            view,
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    (csv, pq)
}

#[test]
fn a_recordings_views_read_back_as_their_csv() {
    let tmp = common::fresh_dir("parquet-views");
    let dir = tmp.path();
    let db = dir.join("rec.db");
    let s = common::sample_dir().join("spot");
    ok(&[
        "db",
        "import",
        s.join("btcusdt_20240808.gz").to_str().unwrap(),
        s.join("btcusdt_20240809.gz").to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    for (view, types) in [
        (
            "trades",
            &[
                ("recv_ns", "timestamp[ns, tz=UTC]"),
                ("trade_id", "int64"),
                ("price", "double"),
                ("qty", "double"),
                ("buyer_maker", "bool"),
                ("trade_ms", "timestamp[ms, tz=UTC]"),
                ("symbol", "string"),
            ][..],
        ),
        (
            "top_of_book",
            &[
                ("recv_ns", "timestamp[ns, tz=UTC]"),
                ("bid", "double"),
                ("ask_qty", "double"),
            ][..],
        ),
        (
            "candles_1m",
            &[
                ("open_ms", "timestamp[ms, tz=UTC]"),
                ("high", "double"),
                ("trades", "int64"),
            ][..],
        ),
        (
            "book",
            &[
                ("session", "int64"),
                ("at_ns", "timestamp[ns, tz=UTC]"),
                ("symbol", "string"),
                ("bid_price_1", "double"),
                ("ask_qty_10", "double"),
            ][..],
        ),
    ] {
        let (csv, pq) = export_both(&db, view, dir);
        same_table(&csv, &pq, types);
    }
}

#[test]
fn a_journals_tables_and_a_backtests_outputs_read_back_as_their_csv() {
    let tmp = common::fresh_dir("parquet-journal");
    let dir = tmp.path();
    let journal = dir.join("j.db");
    let s = common::sample_dir().join("spot");
    let source = format!(
        "replay:{},{}",
        s.join("btcusdt_20240808.gz").display(),
        s.join("btcusdt_20240809.gz").display()
    );
    let info = common::repo("sample/exchange_info_spot_btcusdt.json");
    ok(&[
        "run",
        "--source",
        &source,
        "--strategy",
        "strategy_0.toml",
        "--exchange-info",
        &info,
        "--speed",
        "max",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    for (view, types) in [
        (
            "decisions",
            &[
                ("at_us", "timestamp[us, tz=UTC]"),
                ("entry", "double"),
                ("verdict", "string"),
            ][..],
        ),
        (
            "orders",
            &[
                ("price", "double"),
                ("reduce_only", "bool"),
                ("recv_window_ms", "int64"),
            ][..],
        ),
        (
            "fills",
            &[
                ("exchange_us", "timestamp[us, tz=UTC]"),
                ("maker", "bool"),
                ("qty", "double"),
            ][..],
        ),
        (
            "operations",
            &[("pnl", "double"), ("entry_us", "timestamp[us, tz=UTC]")][..],
        ),
    ] {
        let (csv, pq) = export_both(&journal, view, dir);
        same_table(&csv, &pq, types);
    }
    // A backtest's trades and equity: by the file's extension.
    let run = |trades: &Path, equity: &Path| {
        ok(&[
            "backtest",
            s.join("btcusdt_20240808.gz").to_str().unwrap(),
            s.join("btcusdt_20240809.gz").to_str().unwrap(),
            "--strategy",
            "strategy_0.toml",
            "--exchange-info",
            &info,
            "--maker-fee",
            "0",
            "--taker-fee",
            "0",
            "--trades",
            trades.to_str().unwrap(),
            "--equity",
            equity.to_str().unwrap(),
        ])
    };
    let (tc, ec) = (dir.join("trades.csv"), dir.join("equity.csv"));
    let (tp, ep) = (dir.join("trades.parquet"), dir.join("equity.parquet"));
    run(&tc, &ec);
    run(&tp, &ep);
    same_table(
        &tc,
        &tp,
        &[
            ("entry_time", "timestamp[ns, tz=UTC]"),
            ("pnl", "double"),
            ("side", "string"),
        ],
    );
    same_table(
        &ec,
        &ep,
        &[("time", "timestamp[ns, tz=UTC]"), ("equity", "double")],
    );
}

#[test]
fn parquet_needs_a_file_and_says_so() {
    let o = Command::new(BIN)
        .args(["db", "export", "x.db", "--format", "parquet"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--out"), "{err}");
    // A file that cannot be created: a clear error, no panic.
    let tmp = common::fresh_dir("parquet-bad");
    let dir = tmp.path();
    let db = dir.join("rec.db");
    let s = common::sample_dir().join("spot");
    ok(&[
        "db",
        "import",
        s.join("btcusdt_20240808.gz").to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let o = Command::new(BIN)
        .args(["db", "export", db.to_str().unwrap(), "--format", "parquet"])
        .args(["--out", "/nonexistent-dir/x.parquet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("/nonexistent-dir/x.parquet"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::io::stderr().flush();
}

#[test]
fn book_samples_are_the_book_at_each_interval() {
    // Session 1 of the sample sampled every second, 5 levels a side: each row is the
    // book a plain sorted-map book holds after every message received by then.
    let tmp = common::fresh_dir("parquet-book");
    let dir = tmp.path();
    let db = dir.join("rec.db");
    let file = common::sample_dir()
        .join("spot")
        .join("btcusdt_20240808.gz");
    ok(&[
        "db",
        "import",
        file.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let csv = dir.join("book.csv");
    ok(&[
        "db",
        "export",
        db.to_str().unwrap(),
        "--view",
        "book",
        "--every",
        "1s",
        "--levels",
        "5",
        "--session",
        "1",
        "--out",
        csv.to_str().unwrap(),
    ]);
    let (names, rows) = csv_rows(&csv);
    assert_eq!(names[..3], ["session", "at_ns", "symbol"]);
    assert_eq!(names.len(), 3 + 5 * 4);
    let every: u64 = 1_000_000_000;
    let mut book = common::PlainBook::default();
    let mut want: Vec<(u64, Vec<String>)> = Vec::new();
    let mut next: Option<u64> = None;
    for (ns, v) in common::capture(&[file]) {
        let at = next.get_or_insert((ns / every + 1) * every);
        while ns > *at {
            if book.synced() {
                let (b, a) = book.top(5);
                let mut cells = Vec::new();
                for i in 0..5 {
                    for side in [&b, &a] {
                        let (p, q) = side.get(i).cloned().unwrap_or_default();
                        cells.extend([p, q]);
                    }
                }
                want.push((*at, cells));
            }
            *at += every;
        }
        book.on(&v);
    }
    assert!(want.len() > 200, "{}", want.len());
    assert_eq!(rows.len(), want.len());
    let num = |s: &str| {
        if s.is_empty() {
            None
        } else {
            Some(s.parse::<f64>().unwrap())
        }
    };
    for (row, (at, cells)) in rows.iter().zip(&want) {
        assert_eq!(row[0], "1");
        assert_eq!(row[1], at.to_string());
        assert_eq!(row[2], "BTCUSDT");
        let got: Vec<Option<f64>> = row[3..].iter().map(|c| num(c)).collect();
        let exp: Vec<Option<f64>> = cells.iter().map(|c| num(c)).collect();
        assert_eq!(got, exp, "at {at}");
    }
    // Not a view of lines: --format lines is read as CSV; a session it lacks is said.
    let (okd, _, err) = common::minerva_out(&[
        "db",
        "export",
        db.to_str().unwrap(),
        "--view",
        "book",
        "--session",
        "9",
    ]);
    assert!(
        !okd && err.contains("no session to sample among --session"),
        "{err}"
    );
}
