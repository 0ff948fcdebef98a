//! `minerva report` as a user runs it on the shipped sample: one self-contained page
//! whose figures are the backtest's, opened in headless Chromium (tools/check_report.py)
//! where every panel must draw, the operation markers be there and no error reach the
//! console. Without Chromium the browser half says it is skipped (under CI, where
//! `.ci/run` installs it, it must run).

mod common;

use common::minerva_ok as minerva;
use common::repo;
use std::process::Command;

#[test]
fn the_report_of_the_sample_is_the_backtest_drawn_offline() {
    let out = std::env::temp_dir().join(format!("minerva-report-{}.html", std::process::id()));
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
    let start = page
        .find(r#"<script type="application/json" id="minerva-data">"#)
        .unwrap();
    let json = &page[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let bt: serde_json::Value = serde_json::from_str(&minerva(
        &[&["backtest"][..], &inputs, &["--json"]].concat(),
    ))
    .unwrap();
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
    assert!(!data["heatmap"]["cells"].as_array().unwrap().is_empty());
    assert!(!data["candles"].as_array().unwrap().is_empty());

    // In a browser.
    let check = Command::new("python3")
        .arg(repo("tools/check_report.py"))
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    match check.status.code() {
        Some(2) if std::env::var("MINERVA_REQUIRE_CHROMIUM").is_err() => {
            eprintln!("NOTE: chromium not found; the report's browser check is skipped");
        }
        Some(0) => {
            let c: serde_json::Value = serde_json::from_str(&said).unwrap();
            assert_eq!(c["entry_markers"], 1, "{said}");
        }
        _ => panic!(
            "the report failed in Chromium:\n{said}\n{}",
            String::from_utf8_lossy(&check.stderr)
        ),
    }
    let _ = std::fs::remove_file(&out);
}
