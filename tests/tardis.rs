//! Tardis.dev CSV in: the shipped spot session written as Tardis' `incremental_book_L2`
//! (gzip) and `trades` files, following Tardis' published column schemas
//! (docs.tardis.dev, "Downloadable CSV files": microseconds since epoch, the book
//! file starting with its snapshot, amounts not deltas, the taker's side), imported with
//! `minerva db import --from tardis`, replays to the same final book and trades as the
//! session itself, and backtests.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

fn sample() -> Vec<PathBuf> {
    let s = common::sample_dir().join("spot");
    vec![s.join("btcusdt_20240808.gz"), s.join("btcusdt_20240809.gz")]
}

/// A recorded session and how Tardis names it.
struct Session {
    files: Vec<PathBuf>,
    /// Tardis' exchange id.
    exchange: &'static str,
    futures: bool,
    exchange_info: Option<String>,
}

/// Writes the session as Tardis' two files: (book, trades).
fn write_tardis(dir: &Path, s: &Session) -> (PathBuf, PathBuf) {
    let lines = common::capture(&s.files);
    let x = s.exchange;
    let snap = lines
        .iter()
        .find(|(_, v)| v.get("lastUpdateId").is_some())
        .expect("the session's REST snapshot");
    let last_id = snap.1["lastUpdateId"].as_u64().unwrap();
    let depth = |v: &serde_json::Value| v.get("data").filter(|d| d["e"] == "depthUpdate").cloned();
    // The updates the book applies after the snapshot, in order (Binance: spot drops
    // u ≤ lastUpdateId, futures u < lastUpdateId).
    let updates: Vec<(u64, serde_json::Value)> = lines
        .iter()
        .filter_map(|(ns, v)| depth(v).map(|d| (*ns, d)))
        .filter(|(_, d)| {
            let u = d["u"].as_u64().unwrap();
            if s.futures { u >= last_id } else { u > last_id }
        })
        .collect();
    // The file starts with its snapshot: before the first update it is followed by.
    let first_us = updates.first().map_or(snap.0 / 1000, |(ns, _)| ns / 1000);
    let snap_us = (snap.0 / 1000).min(first_us.saturating_sub(1));
    let mut book = Vec::new();
    writeln!(
        book,
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
    )
    .unwrap();
    for (side, key) in [("bid", "bids"), ("ask", "asks")] {
        for l in snap.1[key].as_array().unwrap() {
            writeln!(
                book,
                "{x},BTCUSDT,{snap_us},{snap_us},true,{side},{},{}",
                l[0].as_str().unwrap(),
                l[1].as_str().unwrap()
            )
            .unwrap();
        }
    }
    for (ns, d) in &updates {
        let (local, exch) = (
            (ns / 1000).max(snap_us + 1),
            d["E"].as_u64().unwrap() * 1000,
        );
        for (side, key) in [("bid", "b"), ("ask", "a")] {
            for l in d[key].as_array().unwrap() {
                writeln!(
                    book,
                    "{x},BTCUSDT,{exch},{local},false,{side},{},{}",
                    l[0].as_str().unwrap(),
                    l[1].as_str().unwrap()
                )
                .unwrap();
            }
        }
    }
    let mut trades =
        String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    for (ns, v) in &lines {
        let Some(t) = v.get("data").filter(|d| d["e"] == "trade") else {
            continue;
        };
        // Tardis gives the taker's side: a buyer who was the maker met a selling taker.
        let side = if t["m"].as_bool().unwrap() {
            "sell"
        } else {
            "buy"
        };
        trades.push_str(&format!(
            "{x},BTCUSDT,{},{},{},{side},{},{}\n",
            t["T"].as_u64().unwrap() * 1000,
            ns / 1000,
            t["t"].as_u64().unwrap(),
            t["p"].as_str().unwrap(),
            t["q"].as_str().unwrap()
        ));
    }
    let book_path = dir.join(format!("{x}_incremental_book_L2_BTCUSDT.csv.gz"));
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&book_path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&book).unwrap();
    gz.finish().unwrap();
    let trades_path = dir.join(format!("{x}_trades_BTCUSDT.csv"));
    std::fs::write(&trades_path, trades).unwrap();
    (book_path, trades_path)
}

/// Imports `s` written as Tardis files and checks it replays as `s` itself: the
/// database, in the directory the guard removes.
fn same_as_the_session(name: &str, s: &Session) -> (tempfile::TempDir, PathBuf) {
    let tmp = common::fresh_dir(&format!("tardis-{name}"));
    let dir = tmp.path();
    let (book, trades) = write_tardis(dir, s);
    let db = dir.join("tardis.db");
    let (ok, out, err) = common::db_import(
        "tardis",
        &[book.to_str().unwrap(), trades.to_str().unwrap()],
        &["--db", db.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("no gap detection"), "{out}");
    let files: Vec<String> = s.files.iter().map(|p| p.display().to_string()).collect();
    let info = s.exchange_info.as_deref();
    let original = common::replay_json(
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
        info,
        &[],
    );
    let imported = common::replay_json(&[db.to_str().unwrap()], info, &[]);
    for key in [
        "final_book_sha256",
        "top10",
        "trades",
        "final_bid_levels",
        "final_ask_levels",
        "market",
    ] {
        assert_eq!(imported[key], original[key], "{name}: {key}");
    }
    assert!(original["trades"].as_u64().unwrap() > 1000, "{original}");
    assert_eq!(imported["gaps"], 0);
    assert_eq!(imported["symbol"], "BTCUSDT");
    (tmp, db)
}

#[test]
fn a_tardis_spot_import_replays_to_the_sessions_book_and_trades_and_backtests() {
    let (_tmp, db) = same_as_the_session(
        "spot",
        &Session {
            files: sample(),
            exchange: "binance",
            futures: false,
            exchange_info: Some(common::repo("sample/exchange_info_spot_btcusdt.json")),
        },
    );
    // The database backtests as any recording does.
    let (ok, out, err) = common::minerva_out(&[
        "backtest",
        db.to_str().unwrap(),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--exchange-info",
        &common::repo("sample/exchange_info_spot_btcusdt.json"),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("fitness"), "{out}");
    // Imported straight into a tape: the same backtest. The import's temporary
    // directory is one of the test's own, so what it leaves there is its alone.
    let dir = db.parent().unwrap();
    let tape = dir.join("tardis.tape");
    let (book, trades) = (
        dir.join("binance_incremental_book_L2_BTCUSDT.csv.gz"),
        dir.join("binance_trades_BTCUSDT.csv"),
    );
    let import_tmp = dir.join("import-tmp");
    std::fs::create_dir(&import_tmp).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["db", "import", "--from", "tardis"])
        .arg(&book)
        .arg(&trades)
        .arg("--tape")
        .arg(&tape)
        .arg("--exchange-info")
        .arg(common::repo("sample/exchange_info_spot_btcusdt.json"))
        .env("TMPDIR", &import_tmp)
        .output()
        .unwrap();
    let (ok, tout, err) = (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(ok, "{tout}{err}");
    assert!(tout.contains("tape BTCUSDT"), "{tout}");
    let (ok, tape_out, err) = common::minerva_out(&[
        "backtest",
        tape.to_str().unwrap(),
        "--strategy",
        &common::repo("strategy_0.toml"),
    ]);
    assert!(ok, "{tape_out}{err}");
    let results = |o: &str| -> Vec<String> {
        o.lines()
            .filter(|l| l.contains("fitness") || l.contains("operations") || l.contains("PnL"))
            .map(str::to_string)
            .collect()
    };
    assert!(!results(&out).is_empty(), "{out}");
    assert_eq!(results(&tape_out), results(&out));
    let scratch = || -> Vec<std::ffi::OsString> {
        std::fs::read_dir(&import_tmp)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with("minerva-import-"))
            .collect()
    };
    let leftovers = scratch();
    assert!(leftovers.is_empty(), "the scratch database is removed");
}

#[test]
fn a_tardis_usdm_import_replays_to_the_sessions_book_and_trades() {
    let Some(data) = common::shared_data() else {
        return;
    };
    // The guard removes the import's directory when the test ends.
    let _tmp = same_as_the_session(
        "usdm",
        &Session {
            files: vec![data.join("hftbacktest-examples/usdm/btcusdt_20240808.gz")],
            exchange: "binance-futures",
            futures: true,
            exchange_info: None,
        },
    );
}

#[test]
fn what_is_not_a_tardis_file_is_refused_clearly() {
    let tmp = common::fresh_dir("tardis-bad");
    let dir = tmp.path();
    let db = dir.join("x.db");
    common::import_refuses(
        "tardis",
        dir,
        &db,
        &[
            (
                "header.csv",
                "a,b,c\n1,2,3\n",
                "not a Tardis incremental_book_L2, book_snapshot_N, trades or quotes CSV",
            ),
            (
                "exchange.csv",
                "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nderibit,BTC-PERPETUAL,1,1,1,buy,1,1\n",
                "Minerva imports Binance's",
            ),
            (
                "row.csv",
                "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\nbinance,BTCUSDT,1,1,true,bid,1\n",
                "line 2: 7 columns, expected 8",
            ),
            (
                "snap.csv",
                "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\nbinance,BTCUSDT,1,1,x,1,2,3\n",
                "line 2: level 0: price `x`",
            ),
            (
                "quotes.csv",
                "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\nbinance,BTCUSDT,1,1,1,2,3\n",
                "line 2: 7 columns, expected 8",
            ),
            (
                "side.csv",
                "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nbinance,BTCUSDT,1,1,1,up,1,1\n",
                "line 2: side `up`",
            ),
        ],
    );
}

/// Writes the session's book as Tardis' `book_snapshot_25` (the top 25 levels a side
/// after each depth update, as a book kept by the test from the session's own
/// messages) and its bookTickers as `quotes`: (snapshots, quotes, bookTickers).
fn write_tardis_snapshots(dir: &Path, files: &[PathBuf]) -> (PathBuf, PathBuf, usize) {
    let lines = common::capture(files);
    let mut book = common::PlainBook::default();
    let mut header = String::from("exchange,symbol,timestamp,local_timestamp");
    for i in 0..25 {
        header.push_str(&format!(
            ",asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount"
        ));
    }
    let mut snaps = header + "\n";
    let mut quotes = String::from(
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n",
    );
    let mut tickers = 0;
    for (ns, v) in &lines {
        let us = ns / 1000;
        if book.on(v) {
            let exch = v
                .get("data")
                .and_then(|d| d["E"].as_u64())
                .map_or(us, |ms| ms * 1000);
            let mut row = format!("binance,BTCUSDT,{exch},{us}");
            let (bids, asks) = book.top(25);
            for i in 0..25 {
                for side in [asks.get(i), bids.get(i)] {
                    match side {
                        Some((p, q)) => row.push_str(&format!(",{p},{q}")),
                        None => row.push_str(",,"),
                    }
                }
            }
            snaps.push_str(&row);
            snaps.push('\n');
            continue;
        }
        let Some(d) = v.get("data") else { continue };
        if d.get("e").is_none() && d.get("u").is_some() && d.get("b").is_some() {
            // A spot bookTicker.
            quotes.push_str(&format!(
                "binance,BTCUSDT,{us},{us},{},{},{},{}\n",
                d["A"].as_str().unwrap(),
                d["a"].as_str().unwrap(),
                d["b"].as_str().unwrap(),
                d["B"].as_str().unwrap()
            ));
            tickers += 1;
        }
    }
    let snaps_path = dir.join("binance_book_snapshot_25_BTCUSDT.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&snaps_path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(snaps.as_bytes()).unwrap();
    gz.finish().unwrap();
    let quotes_path = dir.join("binance_quotes_BTCUSDT.csv");
    std::fs::write(&quotes_path, quotes).unwrap();
    (snaps_path, quotes_path, tickers)
}

#[test]
fn tardis_book_snapshots_and_quotes_import_as_a_top_25_book_and_its_tickers() {
    let tmp = common::fresh_dir("tardis-snapshots");
    let dir = tmp.path();
    let session = Session {
        files: sample(),
        exchange: "binance",
        futures: false,
        exchange_info: None,
    };
    let (snaps, quotes, tickers) = write_tardis_snapshots(dir, &session.files);
    let (_, trades) = write_tardis(dir, &session);
    let db = dir.join("snapshots.db");
    let (ok, out, err) = common::db_import(
        "tardis",
        &[
            snaps.to_str().unwrap(),
            quotes.to_str().unwrap(),
            trades.to_str().unwrap(),
        ],
        &["--db", db.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let info = common::repo("sample/exchange_info_spot_btcusdt.json");
    let files: Vec<String> = session
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let original = common::replay_json(
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
        Some(&info),
        &[],
    );
    let imported = common::replay_json(&[db.to_str().unwrap()], Some(&info), &[]);
    // The book is the top 25: its best ten levels and the trades are the session's.
    assert_eq!(imported["top10"], original["top10"]);
    assert_eq!(imported["trades"], original["trades"]);
    assert_eq!(imported["final_bid_levels"], 25, "{imported}");
    assert_eq!(imported["final_ask_levels"], 25, "{imported}");
    assert_eq!(imported["gaps"], 0);
    // Every quote is a bookTicker: the top of book exports as the session's, but
    // for the update ids Tardis does not carry.
    let top = |db: &str| -> Vec<String> {
        let (ok, out, err) = common::minerva_out(&[
            "db",
            "export",
            db,
            "--format",
            "csv",
            "--view",
            "top_of_book",
        ]);
        assert!(ok, "{err}");
        let mut lines = out.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let cols: Vec<usize> = ["recv_ns", "bid", "bid_qty", "ask", "ask_qty"]
            .iter()
            .map(|c| {
                head.iter()
                    .position(|h| h == c)
                    .unwrap_or_else(|| panic!("{c} in {head:?}"))
            })
            .collect();
        lines
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                // Tardis keeps microseconds: so does the comparison.
                let mut row: Vec<String> = cols.iter().map(|&k| cells[k].to_string()).collect();
                row[0] = (row[0].parse::<u64>().unwrap() / 1000).to_string();
                row.join(",")
            })
            .collect()
    };
    let recorded = dir.join("recorded.db");
    let mut args = vec!["db", "import"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--db", recorded.to_str().unwrap()]);
    let (ok, _, err) = common::minerva_out(&args);
    assert!(ok, "{err}");
    let (a, b) = (top(db.to_str().unwrap()), top(recorded.to_str().unwrap()));
    assert_eq!(a.len(), tickers);
    assert!(tickers > 1000, "{tickers}");
    assert_eq!(a, b);
    // A backtest reads it as any recording.
    let (ok, out, err) = common::minerva_out(&[
        "backtest",
        db.to_str().unwrap(),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--exchange-info",
        &info,
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("fitness"), "{out}");
    // One book source at a time.
    let (book, _) = write_tardis(dir, &session);
    let (ok, _, err) = common::db_import(
        "tardis",
        &[book.to_str().unwrap(), snaps.to_str().unwrap()],
        &["--db", dir.join("mixed.db").to_str().unwrap()],
    );
    assert!(!ok && err.contains("import one book source"), "{err}");
}
