//! `minerva report` as a user runs it on the shipped sample: one self-contained page
//! whose figures are the backtest's, opened in headless Chromium (tools/check_report.py)
//! where every panel must draw, the operation markers be there and no error reach the
//! console. Without Chromium the browser half says it is skipped (under CI, where
//! `.ci/run` installs it, it must run).

mod common;

use common::minerva_ok as minerva;
use common::repo;

#[test]
fn the_report_of_the_sample_is_the_backtest_drawn_offline() {
    let dir = common::fresh_dir("report");
    let out = dir.path().join("report.html");
    let (a, b) = (
        repo("sample/hftbacktest/spot/btcusdt_20240808.gz"),
        repo("sample/hftbacktest/spot/btcusdt_20240809.gz"),
    );
    let (s, x) = (
        repo("strategy_0.toml"),
        repo("sample/exchange_info_spot_btcusdt.json"),
    );
    let inputs = [a.as_str(), &b, "--strategy", &s, "--exchange-info", &x];
    let o = out.display().to_string();
    let said = minerva(&[&["report"][..], &inputs, &["--out", &o]].concat());
    assert!(said.contains("1 operations"), "{said}");
    let page = std::fs::read_to_string(&out).unwrap();
    // Offline: nothing fetched, the library's licence kept.
    assert!(!page.contains("<script src") && !page.contains("<link "));
    assert!(page.contains("Apache License") && page.contains("Version 2.0"));
    // The figures are the backtest's.
    let embedded = common::report_data(&page);
    let data = &embedded["backtest"];
    // The backtest's own outputs, saved (drawn again below without a backtest).
    let tmp = |ext: &str| {
        dir.path()
            .join(format!("saved.{ext}"))
            .display()
            .to_string()
    };
    let (t_csv, e_csv, b_json) = (tmp("trades.csv"), tmp("equity.csv"), tmp("json"));
    let bt_text = minerva(
        &[
            &["backtest"][..],
            &inputs,
            &["--json", "--trades", &t_csv, "--equity", &e_csv],
        ]
        .concat(),
    );
    std::fs::write(&b_json, &bt_text).unwrap();
    let bt: serde_json::Value = serde_json::from_str(&bt_text).unwrap();
    assert_eq!(
        data["backtest"], bt,
        "the page's report is minerva backtest's"
    );
    let ops = data["operations"].as_array().unwrap();
    assert_eq!(ops.len() as u64, bt["metrics"]["trades"].as_u64().unwrap());
    let net: f64 = ops.iter().map(|o| o["pnl"].as_f64().unwrap()).sum();
    assert!((net - bt["metrics"]["net_pnl"].as_f64().unwrap()).abs() < 1e-8);
    // The operation's intent is known: its take profit and stop bracket the entry.
    let o = &ops[0];
    let (tp, sl, e) = (
        o["take_profit"].as_f64().unwrap(),
        o["stop_loss"].as_f64().unwrap(),
        o["entry_price"].as_f64().unwrap(),
    );
    assert!(tp > 0.0 && sl > 0.0 && (tp - e) * (e - sl) > 0.0, "{o}");
    // The bins the oracle read at the decision, found again: the intent's walls and
    // void are among the peaks in them (each a bin's lower edge).
    let bins = &o["bins"];
    let width = bins["width"].as_f64().unwrap();
    let holds = |key: &str, price: f64| {
        bins[key]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| (0.0..width + 1e-9).contains(&(price - b.as_f64().unwrap())))
    };
    assert!(
        holds("support_walls", o["support_wall"].as_f64().unwrap()),
        "{bins}"
    );
    assert!(
        holds("target_walls", o["target_wall"].as_f64().unwrap()),
        "{bins}"
    );
    assert!(holds("voids", o["void_price"].as_f64().unwrap()), "{bins}");
    assert!(bins["thresholds"][0].as_f64().unwrap() > 0.0, "{bins}");
    assert!(!data["heatmap"]["cells"].as_array().unwrap().is_empty());
    assert!(!data["candles"].as_array().unwrap().is_empty());

    // The same figures from the saved outputs, drawn on the same recording without a
    // backtest: the operations, the equity curve and the report.
    let saved_page = tmp("html");
    let said = minerva(
        &[
            &["report"][..],
            &inputs,
            &[
                "--trades",
                &t_csv,
                "--equity",
                &e_csv,
                "--backtest-json",
                &b_json,
                "--out",
                &saved_page,
            ],
        ]
        .concat(),
    );
    assert!(said.contains("1 saved operations drawn"), "{said}");
    let page2 = std::fs::read_to_string(&saved_page).unwrap();
    let saved = common::report_data(&page2);
    let sd = &saved["backtest"];
    assert_eq!(sd["backtest"], bt);
    let sops = sd["operations"].as_array().unwrap();
    assert_eq!(sops.len(), ops.len());
    for (a, b) in sops.iter().zip(ops) {
        for k in ["id", "side", "entry_ms", "exit_ms", "exit"] {
            assert_eq!(a[k], b[k], "{k}: {a} vs {b}");
        }
        for k in ["entry_price", "exit_price", "pnl", "fees", "qty"] {
            let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
            assert!((x - y).abs() < 1e-8, "{k}: {x} vs {y}");
        }
    }
    let (e1, e2) = (
        sd["equity"].as_array().unwrap(),
        data["equity"].as_array().unwrap(),
    );
    assert_eq!(e1.len(), e2.len());
    assert!(
        (e1.last().unwrap()[1].as_f64().unwrap() - e2.last().unwrap()[1].as_f64().unwrap()).abs()
            < 1e-8
    );
    assert_eq!(sd["candles"], data["candles"]);
    // A saved file that is not a backtest's says which line.
    std::fs::write(&t_csv, "symbol,id,side\nBTCUSDT,1,sideways\n").unwrap();
    let e = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(
            [
                &["report"][..],
                &inputs,
                &["--trades", &t_csv, "--out", &saved_page],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(!e.status.success());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        err.contains("saved backtest output") && err.contains("--trades"),
        "{err}"
    );
    // In a browser.
    if let Some(c) = common::browser_check(&out) {
        assert_eq!(c["entry_markers"], 1, "{c}");
        assert_eq!(c["panels"]["heat"], true, "{c}");
        assert_eq!(c["panels"]["bins"], true, "{c}");
    }
}

/// A latency log (`--latency-log`) drawn as percentile curves, one per series, whose
/// points are the log's own percentiles.
#[test]
fn a_latency_log_is_drawn_as_percentile_curves() {
    let dir = common::fresh_dir("report-lat");
    let (log, out) = (
        dir.path().join("report.hlog"),
        dir.path().join("report.html"),
    );
    let (ev, snap) = (
        repo("tests/fixtures/synth_events.jsonl"),
        repo("tests/fixtures/synth_snapshot.json"),
    );
    let l = log.display().to_string();
    minerva(&[
        "bench",
        "replay",
        "--events",
        &ev,
        "--snapshot",
        &snap,
        "--repeat",
        "1",
        "--latency-log",
        &l,
    ]);
    let o = out.display().to_string();
    let said = minerva(&["report", "--latency-log", &l, "--out", &o]);
    assert!(said.contains("1 latency series"), "{said}");
    let page = std::fs::read_to_string(&out).unwrap();
    let embedded = common::report_data(&page);
    let curve = &embedded["latency"][0];
    assert_eq!(curve["tag"], "decode_book_per_msg");
    // The median and the maximum as minerva latency-report reads them, in µs.
    let h = &minerva::telemetry::read_log(&log).unwrap()["decode_book_per_msg"];
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points[1][0], 50.0);
    assert_eq!(points[1][1], h.value_at_quantile(0.5) as f64 / 1e3);
    assert_eq!(points.last().unwrap()[1], h.max() as f64 / 1e3);
    assert!(embedded["backtest"].is_null());
    if let Some(c) = common::browser_check(&out) {
        assert_eq!(c["panels"]["latency"], true, "{c}");
    }
    // Nothing to draw is said so.
    let e = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["report", "--out", &o])
        .output()
        .unwrap();
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("nothing to draw"));
}
