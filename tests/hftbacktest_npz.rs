//! hftbacktest's event files in: the shipped spot session written as hftbacktest's
//! published v2 event array (64-byte records ev, exch_ts, local_ts, px, qty, order_id,
//! ival, fval; ev = kind | exchange/local flags | buy/sell side), saved as NumPy does
//! (`.npy` v1 inside an `.npz` under `data`), imported with `minerva db import --from
//! hftbacktest`, replays to the session's own final book and trades.

mod common;

use std::io::Write;
use std::path::PathBuf;

const DEPTH: u64 = 1;
const TRADE: u64 = 2;
const CLEAR: u64 = 3;
const SNAPSHOT: u64 = 4;
const EXCH: u64 = 1 << 31;
const LOCAL: u64 = 1 << 30;
const BUY: u64 = 1 << 29;
const SELL: u64 = 1 << 28;

/// NumPy's `.npy` (format 1.0) of hftbacktest's event records.
fn npy(rows: &[(u64, i64, i64, f64, f64)]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': [('ev', '<u8'), ('exch_ts', '<i8'), ('local_ts', '<i8'), ('px', '<f8'), ('qty', '<f8'), ('order_id', '<u8'), ('ival', '<i8'), ('fval', '<f8')], 'fortran_order': False, 'shape': ({},), }}",
        rows.len()
    );
    // NumPy pads the header with spaces so the data starts 64-byte aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for &(ev, exch, local, px, qty) in rows {
        out.extend(ev.to_le_bytes());
        out.extend(exch.to_le_bytes());
        out.extend(local.to_le_bytes());
        out.extend(px.to_le_bytes());
        out.extend(qty.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend(0i64.to_le_bytes());
        out.extend(0f64.to_le_bytes());
    }
    out
}

#[test]
fn an_hftbacktest_npz_replays_to_the_sessions_book_and_trades() {
    let tmp = common::fresh_dir("npz");
    let dir = tmp.path();
    let s = common::sample_dir().join("spot");
    let files: Vec<PathBuf> = vec![s.join("btcusdt_20240808.gz"), s.join("btcusdt_20240809.gz")];
    let lines = common::capture(&files);
    let snap = lines
        .iter()
        .find(|(_, v)| v.get("lastUpdateId").is_some())
        .unwrap();
    let last_id = snap.1["lastUpdateId"].as_u64().unwrap();
    let num = |v: &serde_json::Value| v.as_str().unwrap().parse::<f64>().unwrap();
    let mut rows: Vec<(u64, i64, i64, f64, f64)> = Vec::new();
    // The book from its snapshot on: clears, then the snapshot's levels, at one time
    // before the first update applied after it.
    let first_update = lines
        .iter()
        .filter_map(|(ns, v)| {
            v.get("data")
                .filter(|d| d["e"] == "depthUpdate")
                .map(|d| (*ns, d))
        })
        .find(|(_, d)| d["u"].as_u64().unwrap() > last_id)
        .map(|(ns, _)| ns)
        .unwrap();
    let snap_ns = (snap.0.min(first_update - 1)) as i64;
    for side in [BUY, SELL] {
        rows.push((CLEAR | EXCH | LOCAL | side, snap_ns, snap_ns, 0.0, 0.0));
    }
    for (side, key) in [(BUY, "bids"), (SELL, "asks")] {
        for l in snap.1[key].as_array().unwrap() {
            rows.push((
                SNAPSHOT | EXCH | LOCAL | side,
                snap_ns,
                snap_ns,
                num(&l[0]),
                num(&l[1]),
            ));
        }
    }
    let mut trades = 0;
    for (ns, v) in &lines {
        let Some(d) = v.get("data") else { continue };
        let local = (*ns as i64).max(snap_ns + 1);
        if d["e"] == "depthUpdate" && d["u"].as_u64().unwrap() > last_id {
            let exch = d["E"].as_i64().unwrap() * 1_000_000;
            for (side, key) in [(BUY, "b"), (SELL, "a")] {
                for l in d[key].as_array().unwrap() {
                    rows.push((
                        DEPTH | EXCH | LOCAL | side,
                        exch,
                        local,
                        num(&l[0]),
                        num(&l[1]),
                    ));
                }
            }
        } else if d["e"] == "trade" {
            // hftbacktest's trade side is the taker's: a buyer who was maker met a seller.
            let side = if d["m"].as_bool().unwrap() { SELL } else { BUY };
            let exch = d["T"].as_i64().unwrap() * 1_000_000;
            rows.push((
                TRADE | EXCH | LOCAL | side,
                exch,
                *ns as i64,
                num(&d["p"]),
                num(&d["q"]),
            ));
            trades += 1;
        }
    }
    rows.sort_by_key(|r| r.2);
    let npz = dir.join("btcusdt_20240808.npz");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&npz).unwrap());
    z.start_file("data.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(&npy(&rows)).unwrap();
    z.finish().unwrap();

    let db = dir.join("npz.db");
    let spot_db = [
        "--symbol",
        "BTCUSDT",
        "--market",
        "spot",
        "--db",
        db.to_str().unwrap(),
    ];
    let (ok, out, err) = common::db_import("hftbacktest", &[npz.to_str().unwrap()], &spot_db);
    assert!(ok, "{out}{err}");
    let info = common::repo("sample/exchange_info_spot_btcusdt.json");
    let replay = |inputs: Vec<&str>| common::replay_json(&inputs, Some(&info), &[]);
    let original = replay(files.iter().map(|f| f.to_str().unwrap()).collect());
    let imported = replay(vec![db.to_str().unwrap()]);
    for key in [
        "final_book_sha256",
        "top10",
        "trades",
        "final_bid_levels",
        "final_ask_levels",
    ] {
        assert_eq!(imported[key], original[key], "{key}");
    }
    assert_eq!(imported["trades"], trades);
    // Refusals: no symbol, another dtype, not an array.
    let (ok, _, err) = common::db_import(
        "hftbacktest",
        &[npz.to_str().unwrap()],
        &["--db", db.to_str().unwrap()],
    );
    assert!(!ok && err.contains("give --symbol and --market"), "{err}");
    let other = dir.join("other.npy");
    let mut bad = npy(&rows[..1]);
    let at = bad.windows(2).position(|w| w == b"ev").unwrap();
    bad[at] = b'x';
    std::fs::write(&other, &bad).unwrap();
    let (ok, _, err) = common::db_import("hftbacktest", &[other.to_str().unwrap()], &spot_db);
    assert!(
        !ok && err.contains("not hftbacktest's event dtype"),
        "{err}"
    );
    let text = dir.join("text.npz");
    std::fs::write(&text, "hello").unwrap();
    let (ok, _, err) = common::db_import("hftbacktest", &[text.to_str().unwrap()], &spot_db);
    assert!(!ok && err.contains("not a NumPy array file"), "{err}");
    assert!(!err.contains("panicked"));
}
