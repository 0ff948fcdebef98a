//! Every recorded session with a reference result in `EXPECTED.json` replays through
//! the production decoder and book to exactly that result.

mod common;

use minerva::replay::{ReplayOptions, SymbolReport, replay};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn check(report: &SymbolReport, want: &Value, what: &str) {
    let w = |k: &str| want[k].clone();
    let top = |v: &Vec<[String; 2]>| serde_json::to_value(v).unwrap();
    assert_eq!(
        report.final_book_sha256,
        w("final_book_sha256").as_str().unwrap(),
        "{what}: sha256"
    );
    assert_eq!(
        report.depth_applied,
        w("applied").as_u64().unwrap(),
        "{what}: applied"
    );
    assert_eq!(
        report.dropped_before_sync,
        w("dropped_before_sync").as_u64().unwrap(),
        "{what}: dropped"
    );
    assert_eq!(report.gaps, w("breaks").as_u64().unwrap(), "{what}: gaps");
    assert_eq!(
        report.crosses,
        w("crosses").as_u64().unwrap(),
        "{what}: crosses"
    );
    assert_eq!(
        report.book_ticker_checks,
        w("bt_checked").as_u64().unwrap(),
        "{what}: bt_checked"
    );
    assert_eq!(
        report.book_ticker_mismatches,
        w("bt_mismatch").as_u64().unwrap(),
        "{what}: bt_mismatch"
    );
    assert_eq!(
        report.final_bid_levels as u64,
        w("final_bid_levels").as_u64().unwrap(),
        "{what}: bids"
    );
    assert_eq!(
        report.final_ask_levels as u64,
        w("final_ask_levels").as_u64().unwrap(),
        "{what}: asks"
    );
    assert_eq!(
        report.final_update_id,
        w("last_applied_u").as_u64().unwrap(),
        "{what}: last u"
    );
    assert_eq!(
        top(&report.top10.bids),
        w("final_top10_bids"),
        "{what}: top bids"
    );
    assert_eq!(
        top(&report.top10.asks),
        w("final_top10_asks"),
        "{what}: top asks"
    );
    let f = w("first_applied_U_u_pu");
    let (u0, u1, pu) = report.first_applied.expect("an event was applied");
    assert_eq!(
        (u0, u1, pu),
        (
            f[0].as_u64().unwrap(),
            f[1].as_u64().unwrap(),
            f[2].as_u64()
        ),
        "{what}: first"
    );
    assert_eq!(
        report.snapshot_update_id,
        w("snapshot_lastUpdateId").as_u64().unwrap(),
        "{what}: snapshot id"
    );
    assert_eq!(report.state, "live", "{what}: state");
    assert_eq!(report.overflow_dropped, 0, "{what}: overflow");
    assert_eq!(report.decode_errors, 0, "{what}: decode errors");
}

/// Runs every entry of one `EXPECTED.json` whose files are all present.
fn run_expected(dir: &Path) -> usize {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    let mut sessions = 0;
    for entry in expected.as_array().unwrap() {
        let Some(want) = entry.get("replay") else {
            continue;
        };
        let files: Vec<PathBuf> = entry["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| dir.join(f.as_str().unwrap()))
            .collect();
        if !files.iter().all(|f| f.exists()) {
            eprintln!("skip {:?}: files missing", entry["files"]);
            continue;
        }
        let rep =
            replay(&files, &ReplayOptions::default()).unwrap_or_else(|e| panic!("{files:?}: {e}"));
        let reports = rep.symbol_reports();
        if want.get("final_book_sha256").is_some() {
            // One session, one symbol.
            let sym = entry["symbol"].as_str().unwrap();
            let r = reports
                .iter()
                .find(|r| r.symbol == sym)
                .unwrap_or_else(|| panic!("{sym} missing"));
            check(r, want, &format!("{:?}", entry["files"]));
        } else {
            // symbol → result (cryptofeed captures).
            for (sym, w) in want.as_object().unwrap() {
                let r = reports
                    .iter()
                    .find(|r| &r.symbol == sym)
                    .unwrap_or_else(|| panic!("{sym} missing"));
                check(r, w, &format!("{:?} {sym}", entry["files"]));
            }
        }
        sessions += 1;
    }
    sessions
}

#[test]
fn hftbacktest_sessions_match_expected() {
    let n = match common::shared_data() {
        Some(d) => run_expected(&d.join("hftbacktest-examples")),
        None => run_expected(&common::sample_dir()),
    };
    assert!(n >= 1, "no session was replayed");
    eprintln!("{n} sessions matched");
}

#[test]
fn cryptofeed_captures_match_expected() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let n = run_expected(&d.join("cryptofeed-sample"));
    assert_eq!(n, 4, "all four captures replayed");
}
