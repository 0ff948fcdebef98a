//! The audit loop as a user runs it, with the binaries: `minerva exchange` serves the
//! shipped session, `minerva run --source binance --record` trades on it (journal on
//! by default for a live run), `minerva db info|export` show the journal, and
//! `minerva observe` puts the run beside the backtest of what it recorded: the
//! theoretical side is `minerva backtest` of that recording, the real side the journal.

mod common;

use common::repo;
use std::process::{Command, Output};

fn minerva(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn observe_puts_a_live_run_beside_the_backtest_of_its_recording() {
    let tmp = common::fresh_dir("observe");
    let dir = tmp.path();
    let info = repo("sample/exchange_info_spot_btcusdt.json");
    let exchange = common::spawn_exchange(common::spot_exchange_command("100"));
    let addr = exchange.addr.clone();
    let rec = dir.join("market.db");
    // A copy of the strategy: --write-fitness keeps its [results.live].
    let strategy = dir.join("strategy.toml");
    std::fs::copy(repo("strategy_0.toml"), &strategy).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .current_dir(dir)
        .args(["run", "--source", "binance", "--endpoint", "local"])
        .args(["--host", &addr, "--write-fitness", "--strategy"])
        .arg(&strategy)
        .arg("--record")
        .arg(&rec)
        .env_remove("MINERVA_BINANCE_API_KEY")
        .env_remove("MINERVA_BINANCE_API_SECRET")
        .output()
        .unwrap();
    let _ = exchange.finish();
    let text = ok(&run);
    let journal = dir.join("market-journal.db");
    assert!(
        journal.exists(),
        "a live run keeps a journal beside --record\n{text}"
    );
    assert!(text.contains("journal run 1:"), "{text}");
    let j = journal.display().to_string();

    // db info and export show it.
    let info_out = ok(&minerva(&["db", "info", &j]));
    assert!(
        info_out.contains("journal run 1 (local spot BTCUSDT)"),
        "{info_out}"
    );
    // The account as the exchange showed it: at start and at exit at least.
    let account = ok(&minerva(&["db", "export", &j, "--view", "account"]));
    assert!(
        account.starts_with("id,run,at_ns,exchange_ms,why,asset,wallet,available")
            && account.contains(",start,USDT,")
            && account.contains(",exit,USDT,"),
        "{account}"
    );
    let snapshots = account.lines().count() - 1;
    assert!(
        info_out.contains(&format!("{snapshots} account snapshots")),
        "{info_out}"
    );
    let fills = ok(&minerva(&["db", "export", &j, "--view", "fills"]));
    let rows: Vec<&str> = fills.lines().skip(1).collect();
    assert!(!rows.is_empty(), "{fills}");
    assert!(fills.starts_with("id,run,symbol,exchange_us,seen_us,client_id,report,price"));
    let ops = ok(&minerva(&["db", "export", &j, "--view", "operations"]));
    let journal_ops = ops.lines().count() - 1;

    // observe: both sides.
    let o = ok(&minerva(&["observe", "--journal", &j, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let real_ops = v["real"]["operations"].as_u64().unwrap() as usize;
    assert_eq!(real_ops, journal_ops, "the real side is the journal's");
    let paired = v["pairs"].as_array().unwrap().len();
    let theo_only = v["theoretical_only"].as_array().unwrap().len();
    // The theoretical side is minerva backtest of the recording on the run's grids.
    let bt = ok(&minerva(&[
        "backtest",
        &rec.display().to_string(),
        "--strategy",
        &repo("strategy_0.toml"),
        "--exchange-info",
        &info,
        "--json",
    ]));
    let b: serde_json::Value = serde_json::from_str(&bt).unwrap();
    assert_eq!(
        v["theoretical"]["operations"].as_u64().unwrap(),
        b["metrics"]["trades"].as_u64().unwrap()
    );
    assert_eq!(
        v["theoretical"]["fitness"].as_f64().unwrap(),
        b["fitness"].as_f64().unwrap()
    );
    assert_eq!(
        v["theoretical"]["net_pnl"].as_f64().unwrap(),
        b["metrics"]["net_pnl"].as_f64().unwrap()
    );
    assert_eq!(
        paired + theo_only,
        b["metrics"]["trades"].as_u64().unwrap() as usize
    );
    // Latencies side by side: the live side on the wall clock (the journal's stamps),
    // the theoretical one on the simulated exchange's clock (its latency model).
    let (lr, lt) = (&v["latency"]["real"], &v["latency"]["theoretical"]);
    assert_eq!(
        (lr["clock"].as_str(), lt["clock"].as_str()),
        (Some("wall"), Some("exchange"))
    );
    let sent = v["real"]["entries_sent"].as_u64().unwrap();
    assert_eq!(lr["decision_to_ack"]["count"].as_u64(), Some(sent), "{lr}");
    let p = |x: &serde_json::Value, k: &str| x["decision_to_ack"][k].as_i64().unwrap();
    assert!(
        p(lr, "p50_us") > 0
            && p(lr, "p50_us") <= p(lr, "p99_us")
            && p(lr, "p99_us") <= p(lr, "max_us"),
        "{lr}"
    );
    assert!(p(lt, "p50_us") > 0, "the model's order latency\n{lt}");
    // Every difference in a pair is attributed: fees and prices add up to it.
    for p in v["pairs"].as_array().unwrap() {
        let d = p["pnl_difference"].as_f64().unwrap();
        let parts = p["fee_difference"].as_f64().unwrap() + p["price_difference"].as_f64().unwrap();
        assert!((d - parts).abs() < 1e-6, "{p}");
    }
    // The live figures written back match the journal's and observe's real side.
    let text = std::fs::read_to_string(&strategy).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let live = &doc["results"]["live"];
    assert_eq!(
        live["trades"].as_float(),
        Some(journal_ops as f64),
        "{text}"
    );
    let net = live["net_pnl"].as_float().unwrap();
    assert!(
        (net - v["real"]["net_pnl"].as_f64().unwrap()).abs() < 1e-9,
        "{text}"
    );
    assert!(live["updated"].as_str().is_some());
    let human = ok(&minerva(&["observe", "--journal", &j]));
    assert!(
        human.contains("real") && human.contains("theoretical"),
        "{human}"
    );
    assert!(human.contains("implementation shortfall"), "{human}");

    // The same run drawn: the backtest's operations and the live ones on one chart.
    let page = dir.join("report.html");
    let said = ok(&minerva(&[
        "report",
        "--journal",
        &j,
        "--out",
        &page.display().to_string(),
    ]));
    assert!(
        said.contains(&format!("journal run 1: {journal_ops} live operations")),
        "{said}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let embedded = common::report_data(&html);
    let b = &embedded["backtest"];
    assert_eq!(b["real"].as_array().unwrap().len(), journal_ops);
    assert_eq!(
        b["operations"].as_array().unwrap().len(),
        paired + theo_only
    );
    assert_eq!(b["backtest"]["fitness"], v["theoretical"]["fitness"]);
    if let Some(c) = common::browser_check(&page) {
        assert_eq!(c["live_markers"], 2 * journal_ops, "{c}");
    }

    // Without a recording: a clear refusal.
    let bare = dir.join("bare.db");
    let o = minerva(&["observe", "--journal", &bare.display().to_string()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no journal"));
}
