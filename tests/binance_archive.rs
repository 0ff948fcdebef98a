//! Binance's public archive in (data.binance.vision): the shipped spot session's trades
//! written as the archive's spot trades file (zipped, no header, its published columns)
//! and its one-minute klines, and `../shared`'s USD-M trades as a futures file (with its
//! header), imported with `minerva db import --from binance-archive`: the trades and
//! klines replay and export as recorded, and a backtest is refused (no book), not run
//! on nothing.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `@trade` messages of capture files: (id, price, qty, time ms, buyer is maker).
fn trades(files: &[PathBuf]) -> Vec<(u64, String, String, u64, bool)> {
    let mut out = Vec::new();
    for (_, v) in common::capture(files) {
        let Some(t) = v.get("data").filter(|d| d["e"] == "trade") else {
            continue;
        };
        out.push((
            t["t"].as_u64().unwrap(),
            t["p"].as_str().unwrap().to_string(),
            t["q"].as_str().unwrap().to_string(),
            t["T"].as_u64().unwrap(),
            t["m"].as_bool().unwrap(),
        ));
    }
    out.sort_by_key(|t| (t.3, t.0));
    out
}

fn zip_one(path: &Path, inner: &str, body: &[u8]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    z.start_file(inner, zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(body).unwrap();
    z.finish().unwrap();
}

fn replay(db: &Path, info: Option<&str>, market: Option<&str>) -> serde_json::Value {
    let market: Vec<&str> = market.map_or_else(Vec::new, |m| vec!["--market", m]);
    common::replay_json(&[db.to_str().unwrap()], info, &market)
}

#[test]
fn spot_trades_and_klines_import_and_a_backtest_is_refused() {
    let tmp = common::fresh_dir("archive-spot");
    let dir = tmp.path();
    let s = common::sample_dir().join("spot");
    let t = trades(&[s.join("btcusdt_20240808.gz"), s.join("btcusdt_20240809.gz")]);
    assert!(t.len() > 10_000);
    // The archive's spot trades: id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch.
    let mut csv = String::new();
    for (id, p, q, ms, m) in &t {
        let quote = p.parse::<f64>().unwrap() * q.parse::<f64>().unwrap();
        let cap = |b: bool| if b { "True" } else { "False" };
        csv.push_str(&format!("{id},{p},{q},{quote:.8},{ms},{},True\n", cap(*m)));
    }
    let trades_zip = dir.join("BTCUSDT-trades-2024-08-08.zip");
    zip_one(&trades_zip, "BTCUSDT-trades-2024-08-08.csv", csv.as_bytes());
    // One-minute klines from the same trades: the archive's twelve columns.
    let mut minutes: BTreeMap<u64, Vec<(f64, f64, bool)>> = BTreeMap::new();
    for (_, p, q, ms, m) in &t {
        minutes.entry(ms / 60_000 * 60_000).or_default().push((
            p.parse().unwrap(),
            q.parse().unwrap(),
            *m,
        ));
    }
    let mut klines = String::new();
    for (open, v) in &minutes {
        let (hi, lo) = v
            .iter()
            .fold((f64::MIN, f64::MAX), |(h, l), x| (h.max(x.0), l.min(x.0)));
        let vol: f64 = v.iter().map(|x| x.1).sum();
        let quote: f64 = v.iter().map(|x| x.0 * x.1).sum();
        let buy: f64 = v.iter().filter(|x| !x.2).map(|x| x.1).sum();
        let buy_quote: f64 = v.iter().filter(|x| !x.2).map(|x| x.0 * x.1).sum();
        klines.push_str(&format!(
            "{open},{:.8},{hi:.8},{lo:.8},{:.8},{vol:.8},{},{quote:.8},{},{buy:.8},{buy_quote:.8},0\n",
            v[0].0,
            v[v.len() - 1].0,
            open + 59_999,
            v.len()
        ));
    }
    let klines_csv = dir.join("BTCUSDT-1m-2024-08-08.csv");
    std::fs::write(&klines_csv, klines).unwrap();
    let db = dir.join("archive.db");
    let (ok, out, err) = common::db_import(
        "binance-archive",
        &[trades_zip.to_str().unwrap(), klines_csv.to_str().unwrap()],
        &["--db", db.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("no order book"), "{out}");
    let info = common::repo("sample/exchange_info_spot_btcusdt.json");
    let r = replay(&db, Some(&info), None);
    assert_eq!(r["trades"].as_u64().unwrap() as usize, t.len(), "{r}");
    assert_eq!(r["klines"].as_u64().unwrap() as usize, minutes.len(), "{r}");
    assert_eq!(r["market"], "spot");
    // The trades export as recorded: ids, prices, quantities, sides.
    let (ok, out, err) = common::minerva_out(&[
        "db",
        "export",
        db.to_str().unwrap(),
        "--format",
        "csv",
        "--view",
        "trades",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), t.len());
    let first: Vec<&str> = rows[0].split(',').collect();
    let (id, p, q, ms, m) = &t[0];
    assert_eq!(first[3], id.to_string());
    assert_eq!(first[4].parse::<f64>().unwrap(), p.parse::<f64>().unwrap());
    assert_eq!(first[5].parse::<f64>().unwrap(), q.parse::<f64>().unwrap());
    assert_eq!(first[6], if *m { "1" } else { "0" });
    assert_eq!(first[7], ms.to_string());
    // No book: the backtest says so instead of trading nothing.
    let (ok, out, err) = common::minerva_out(&[
        "backtest",
        db.to_str().unwrap(),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--exchange-info",
        &info,
    ]);
    assert!(!ok, "{out}");
    assert!(err.contains("holds no order book"), "{err}");
}

#[test]
fn usdm_trades_with_their_header_import() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let tmp = common::fresh_dir("archive-usdm");
    let dir = tmp.path();
    let t = trades(&[data.join("hftbacktest-examples/usdm/btcusdt_20240808.gz")]);
    // The archive's USD-M trades: a header, id,price,qty,quote_qty,time,is_buyer_maker.
    let mut csv = String::from("id,price,qty,quote_qty,time,is_buyer_maker\n");
    for (id, p, q, ms, m) in &t {
        let quote = p.parse::<f64>().unwrap() * q.parse::<f64>().unwrap();
        csv.push_str(&format!("{id},{p},{q},{quote:.2},{ms},{m}\n"));
    }
    let f = dir.join("BTCUSDT-trades-2024-08-08.zip");
    zip_one(&f, "BTCUSDT-trades-2024-08-08.csv", csv.as_bytes());
    let db = dir.join("usdm.db");
    let (ok, out, err) = common::db_import(
        "binance-archive",
        &[f.to_str().unwrap()],
        &["--db", db.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    // Trades alone cannot say they are futures: the market is told, as for any
    // trades-only data.
    let r = replay(&db, None, Some("usdm"));
    assert_eq!(r["trades"].as_u64().unwrap() as usize, t.len(), "{r}");
    assert_eq!(r["market"], "usdm");
}

#[test]
fn what_the_archive_is_not_is_refused_clearly() {
    let tmp = common::fresh_dir("archive-bad");
    let dir = tmp.path();
    let db = dir.join("x.db");
    common::import_refuses(
        "binance-archive",
        dir,
        &db,
        &[
            (
                "BTCUSDT-bookDepth-2024-08-08.csv",
                "timestamp,percentage,depth,notional\n2024-08-08 00:00:08,-5,1,2\n",
                "not an order book",
            ),
            (
                "BTCUSDT-trades-2024-08-08.csv",
                "1,2,3\n",
                "3 columns: not a Binance archive file",
            ),
            (
                "BTCUSDT-trades-2024-08-09.csv",
                "1,60000.1,0.5,30000.05,1723161254206,True,True\n2,60000.1,0.5,30000.05,soon,True,True\n",
                "line 2: time `soon`",
            ),
            (
                "trades.csv",
                "1,60000.1,0.5,30000.05,1723161254206,True,True\n",
                "not a Binance archive file",
            ),
        ],
    );
}
