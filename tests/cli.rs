//! The `minerva` binary as a user runs it: the quick start, `--json`, the bench, and
//! bad input (clear message, non-zero exit, never a panic).

mod common;

use common::repo;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn minerva(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(args)
        .output()
        .unwrap()
}

fn sample() -> [String; 2] {
    let d = common::sample_dir().join("spot");
    ["btcusdt_20240808.gz", "btcusdt_20240809.gz"].map(|f| d.join(f).display().to_string())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "panic: {e}");
    assert_ne!(o.status.code(), Some(101), "panic exit code: {e}");
}

/// `name` in a directory of its own, removed when the guard drops.
fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = common::fresh_dir("cli");
    let p = d.path().join(name);
    (d, p)
}

#[test]
fn quick_start_replay_prints_the_final_book() {
    let [a, b] = sample();
    let o = minerva(&["replay", &a, &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("BTCUSDT (spot)"), "{out}");
    assert!(
        out.contains("c2c66164723289619f1058af2d8a18fcbcca407db02e5b6461b707481f8517eb"),
        "{out}"
    );
    assert!(out.contains("61602.01"), "{out}");
}

#[test]
fn replay_json_has_every_documented_field() {
    let [a, b] = sample();
    let o = minerva(&["replay", "--json", &a, &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in [
        "symbol",
        "market",
        "lines",
        "depth_msgs",
        "depth_applied",
        "dropped_before_sync",
        "gaps",
        "resyncs",
        "trades",
        "book_ticker_checks",
        "book_ticker_mismatches",
        "decode_errors",
        "final_update_id",
        "final_book_sha256",
        "top10",
        "msgs_per_sec",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["symbol"], "BTCUSDT");
    assert_eq!(v["market"], "spot");
    assert_eq!(v["lines"], 99_574);
    assert_eq!(v["depth_msgs"], 6_495);
    assert_eq!(v["depth_applied"], 6_493);
    assert_eq!(v["dropped_before_sync"], 2);
    assert_eq!(v["trades"], 19_904);
    assert_eq!(v["book_ticker_checks"], 1_072);
    assert_eq!(v["final_update_id"], 50_093_696_318u64);
    assert_eq!(
        v["top10"]["bids"][0],
        serde_json::json!(["61602.01", "1.67177"])
    );
    assert_eq!(v["top10"]["asks"].as_array().unwrap().len(), 10);
    assert!(v["msgs_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn plain_json_lines_with_snapshot_and_bench() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (ev, snap) = (f.join("synth_events.jsonl"), f.join("synth_snapshot.json"));
    let (ev, snap) = (ev.to_str().unwrap(), snap.to_str().unwrap());
    let o = minerva(&["replay", "--json", ev, "--snapshot", snap]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            v["market"].as_str(),
            v["gaps"].as_u64(),
            v["depth_applied"].as_u64()
        ),
        (Some("usdm"), Some(0), Some(347))
    );
    assert_eq!(v["agg_trades"], 153);
    let o = minerva(&[
        "bench",
        "replay",
        "--events",
        ev,
        "--snapshot",
        snap,
        "--tick",
        "0.1",
        "--lot",
        "0.001",
        "--repeat",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("RESULT peer=minerva-e2e msgs=500 rows=3821 "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("RESULT peer=minerva-book msgs=500 rows=3821 "),
        "{out}"
    );
    let sum = |l: &str| l.rsplit("checksum=").next().unwrap().to_string();
    assert_eq!(sum(lines[0]), sum(lines[1]));
    // Per-message latency, as a table and an HdrHistogram log that reads back.
    let (_dir, log) = tmp("bench.hlog");
    let o = minerva(&[
        "bench",
        "replay",
        "--events",
        ev,
        "--snapshot",
        snap,
        "--repeat",
        "1",
        "--latency-log",
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("decode_book_per_msg"));
    let o = minerva(&["latency-report", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains("p99.9")
            && table.contains("decode_book_per_msg")
            && table.contains(" 500\n"),
        "{table}"
    );
    let o = minerva(&["latency-report", "/nonexistent.hlog"]);
    no_panic(&o);
    assert!(!o.status.success());
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = minerva(&["replay", "/nonexistent/file.gz"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/file.gz"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn truncated_gzip_is_a_clear_error() {
    let [a, _] = sample();
    let bytes = std::fs::read(&a).unwrap();
    let (_dir, p) = tmp("truncated.gz");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let o = minerva(&["replay", p.to_str().unwrap()]);
    no_panic(&o);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("truncated.gz") && e.contains("read failed"),
        "{e}"
    );
}

#[test]
fn garbage_lines_inside_a_good_file_are_counted_and_skipped() {
    let [a, b] = sample();
    let mut text = Vec::new();
    for f in [&a, &b] {
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(std::fs::File::open(f).unwrap())
            .read_to_end(&mut text)
            .unwrap();
    }
    let (_dir, p) = tmp("garbage.txt");
    let mut f = std::fs::File::create(&p).unwrap();
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        f.write_all(line).unwrap();
        f.write_all(b"\n").unwrap();
        if i == 5000 {
            f.write_all(b"this is not a message\n1723161260039716662 {\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\n\x00\xff\xfe\n").unwrap();
        }
    }
    drop(f);
    let o = minerva(&["replay", "--json", p.to_str().unwrap()]);
    no_panic(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decode_errors"], 3);
    assert_eq!(
        v["final_book_sha256"],
        "c2c66164723289619f1058af2d8a18fcbcca407db02e5b6461b707481f8517eb"
    );
}

#[test]
fn wrong_market_is_refused() {
    let [a, b] = sample();
    let o = minerva(&["replay", "--market", "usdm", &a, &b]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--market usdm but the data is spot"),
        "{}",
        stderr(&o)
    );
    let o = minerva(&["replay", "--market", "mars", &a]);
    no_panic(&o);
    assert!(!o.status.success());
}

#[test]
fn input_without_market_data_is_refused() {
    let (_dir, p) = tmp("empty.txt");
    std::fs::write(&p, "hello\nworld\n").unwrap();
    let o = minerva(&["replay", p.to_str().unwrap()]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no decodable market data"),
        "{}",
        stderr(&o)
    );
    let [a, _] = sample();
    let o = minerva(&["replay", "--symbol", "ETHUSDT", &a]);
    no_panic(&o);
    assert!(
        stderr(&o).contains("ETHUSDT does not occur"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn peaks_filter_answers_each_line_and_flags_bad_ones() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .arg("peaks")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"y\":[0,1,0,2,0],\"height\":1.5}\n{\"y\":[0,3,1,2,1,4,0],\"prominence\":[1.5,null],\"distance\":2}\n{\"y\":[0,2,2,0],\"threshold\":null}\nnot json\n{\"y\":[1,2,1],\"distance\":0.2}\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    no_panic(&o);
    assert!(!o.status.success(), "bad lines make the exit non-zero");
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["{\"peaks\":[3]}", "{\"peaks\":[1,5]}", "{\"peaks\":[1]}"]
    );
    assert!(lines[3].starts_with("{\"error\":\"line 4"), "{out}");
    assert!(lines[4].contains("distance"), "{out}");
}

#[test]
fn signal_on_the_sample_places_the_hand_checked_operation() {
    let [a, b] = sample();
    let (strategy, info) = (
        repo("strategy_0.toml"),
        repo("sample/exchange_info_spot_btcusdt.json"),
    );
    let o = minerva(&[
        "signal",
        &a,
        &b,
        "--strategy",
        &strategy,
        "--exchange-info",
        &info,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let ops: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "operation")
        .collect();
    // The operation docs/strategy.md checks by hand.
    let op = &ops[0];
    assert_eq!(op["side"], "LONG");
    assert_eq!(
        (op["entry"].as_str(), op["support_wall"].as_str()),
        (Some("61704.2"), Some("61704.19"))
    );
    assert_eq!(
        (op["take_profit"].as_str(), op["target_wall"].as_str()),
        (Some("61731.05"), Some("61731.06"))
    );
    assert_eq!(op["stop_loss"], "61580.78");
    assert_eq!(
        (op["size"].as_str(), op["notional"].as_str()),
        (Some("0.00486"), Some("299.882412"))
    );
    assert_eq!(op["pnl_at_take_profit"], "0.01051194");
    // Refusals carry their reason; every line is one of the documented types.
    assert!(out.contains("\"type\":\"refused\"") && out.contains("after fees"));
    assert!(out.lines().all(|l| {
        ["operation", "refused", "filled", "closed", "withdrawn"]
            .iter()
            .any(|t| l.contains(&format!("\"type\":\"{t}\"")))
    }));
    // A flag overrides the file: a cap of one open operation and no fees changes the run.
    let o2 = minerva(&[
        "signal",
        &a,
        &b,
        "--strategy",
        &strategy,
        "--exchange-info",
        &info,
        "--json",
        "--maker-fee",
        "0",
        "--taker-fee",
        "0",
    ]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    assert_ne!(o2.stdout, out.as_bytes());
}

#[test]
fn signal_reports_strategy_errors_by_key() {
    let [a, _] = sample();
    let (_dir, bad) = tmp("bad_strategy.toml");
    let text = std::fs::read_to_string(repo("strategy_0.toml"))
        .unwrap()
        .replace("long_pressure = 0.25", "long_presure = 0.25");
    std::fs::write(&bad, text).unwrap();
    let o = minerva(&["signal", &a, "--strategy", bad.to_str().unwrap()]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown key `long_presure`"),
        "{}",
        stderr(&o)
    );
    let o = minerva(&[
        "signal",
        &a,
        "--strategy",
        &repo("strategy_0.toml"),
        "--short-pressure",
        "2",
    ]);
    no_panic(&o);
    assert!(
        stderr(&o).contains("`short_pressure` = 2"),
        "{}",
        stderr(&o)
    );
    let o = minerva(&[
        "signal",
        &a,
        "--strategy",
        &repo("strategy_0.toml"),
        "--market",
        "ETHUSDT",
    ]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ETHUSDT"), "{}", stderr(&o));
}

/// `minerva run` on the shipped sample with the seed strategy.
fn run_on_sample() -> Vec<String> {
    [
        "run".to_string(),
        "--source".into(),
        common::spot_replay_source(),
        "--strategy".into(),
        repo("strategy_0.toml"),
        "--exchange-info".into(),
        repo("sample/exchange_info_spot_btcusdt.json"),
    ]
    .into()
}

#[test]
fn run_reports_on_sigusr1_and_stops_in_order_on_sigint() {
    let (_dir, log) = tmp("run.hlog");
    let cpu = minerva::pipeline::pin::allowed_cpus()[0];
    let child = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(run_on_sample())
        .args([
            "--speed",
            "1",
            "--pin",
            &format!("feed={cpu}"),
            "--report-every",
            "0.5",
            "--latency-log",
            log.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    no_panic(&o);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(err.matches("latency report at").count() >= 2, "{err}");
    assert!(err.contains("stopped by signal"), "{err}");
    assert!(
        out.contains("tick_to_decision") && out.contains("interrupted"),
        "{out}"
    );
    // The log holds an interval per report and a last one; latency-report reads it back.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.matches("Tag=feed_decode,").count() >= 3, "{text}");
    let r = minerva(&["latency-report", log.to_str().unwrap()]);
    assert!(r.status.success() && String::from_utf8_lossy(&r.stdout).contains("book_queue"));
}

#[test]
fn run_refuses_bad_launch_flags_clearly() {
    let base = run_on_sample();
    let base: Vec<&str> = base.iter().map(String::as_str).collect();
    for (extra, msg) in [
        (&["--pin", "feed=4096"][..], "not available"),
        (&["--pin", "fed=0"][..], "unknown stage"),
        (&["--wait", "book=fast"][..], "unknown wait strategy"),
        (&["--threads", "9"][..], "--threads"),
        (&["--threads", "4", "--wait", "spin"][..], "busy-spinning"),
        (&["--bins", "400"][..], "at most 128"),
        (&["--report-every", "0"][..], "--report-every"),
        (&["--latency", "feed=recorded"][..], "for minerva backtest"),
        (&["--queue", "lifo"][..], "--queue"),
        (&["--watchdog", "drawdown=5"][..], "percentage"),
        // An unreachable journal server: said so, its password masked.
        (
            &["--journal", "postgres://u:s3cret@127.0.0.1:1/db"][..],
            "--journal postgres://u:***@127.0.0.1:1/db",
        ),
        (
            &["--no-journal", "--write-fitness"][..],
            "cannot be used with",
        ),
    ] {
        if extra.contains(&"spin") && minerva::pipeline::pin::allowed_cpus().len() >= 4 {
            continue; // enough CPUs for four spinning threads
        }
        let o = minerva(&[&base[..], extra].concat());
        no_panic(&o);
        assert!(!o.status.success(), "{extra:?}");
        assert!(stderr(&o).contains(msg), "{extra:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("s3cret"), "{}", stderr(&o));
    }
}

/// `minerva backtest` on the shipped sample with the seed strategy loosened to trade.
fn backtest_on_sample(extra: &[&str]) -> Output {
    let [a, b] = sample();
    let (s, x) = (
        repo("strategy_0.toml"),
        repo("sample/exchange_info_spot_btcusdt.json"),
    );
    let base = [
        "backtest",
        &a,
        &b,
        "--strategy",
        &s,
        "--exchange-info",
        &x,
        "--short-pressure",
        "0.6",
        "--long-pressure",
        "0.4",
        "--max-concurrent-trades",
        "20",
    ];
    minerva(&[&base[..], extra].concat())
}

#[test]
fn backtest_prints_a_report_json_and_csv_files() {
    let dir = common::fresh_dir("cli");
    let (trades, equity) = (dir.path().join("trades.csv"), dir.path().join("equity.csv"));
    let (t, e) = (trades.display().to_string(), equity.display().to_string());
    let o = backtest_on_sample(&["--trades", &t, "--equity", &e]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    for k in [
        "backtest BTCUSDT spot",
        "net PnL",
        "return on capital",
        "max drawdown",
        "Sharpe / Sortino per trade",
        "Sharpe / Sortino per period",
        "win rate",
        "profit factor",
        "avg holding time",
        "fill ratio",
        "maker share of volume",
        "fitness",
        "queue risk-averse",
    ] {
        assert!(out.contains(k), "{k}: {out}");
    }
    let csv = std::fs::read_to_string(&trades).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("symbol,id,side,qty,entry_time"));
    assert!(rows[1].starts_with("BTCUSDT,"));
    let n = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("trades  "))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap();
    assert!(n > 0);
    assert_eq!(rows.len(), n + 1, "one row per trade");
    assert!(
        std::fs::read_to_string(&equity)
            .unwrap()
            .starts_with("time,equity\n")
    );
    // The same as JSON; identical runs print identical bytes.
    let j = backtest_on_sample(&["--json", "--queue", "power:2", "--seed", "3"]);
    assert!(j.status.success(), "{}", stderr(&j));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    for k in [
        "fitness",
        "metrics",
        "fill_ratio",
        "maker_share",
        "queue",
        "latency",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["queue"], "power:2");
    let again = backtest_on_sample(&["--json", "--queue", "power:2", "--seed", "3"]);
    assert_eq!(j.stdout, again.stdout);
}

#[test]
fn backtest_writes_the_fitness_into_the_strategy_file() {
    let (_dir, path) = tmp("strategy_fit.toml");
    let original = std::fs::read_to_string(repo("strategy_0.toml")).unwrap();
    std::fs::write(&path, &original).unwrap();
    let [a, b] = sample();
    let x = repo("sample/exchange_info_spot_btcusdt.json");
    let p = path.display().to_string();
    let o = minerva(&[
        "backtest",
        &a,
        &b,
        "--strategy",
        &p,
        "--exchange-info",
        &x,
        "--write-fitness",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with(&original), "the file is kept as it was");
    let results = &written[original.len()..];
    assert!(results.contains("[results]"), "{results}");
    assert!(results.contains("fitness = "), "{results}");
    assert!(results.contains("net_pnl = "), "{results}");
}

#[test]
fn backtest_refuses_bad_options_clearly() {
    for (extra, msg) in [
        (&["--queue", "fifo"][..], "--queue"),
        (&["--latency", "fast"][..], "--latency"),
        (&["--latency", "wire=1ms"][..], "latency part `wire`"),
        (&["--fees", "maker=0.0002"][..], "give both"),
        (&["--fees", "maker=abc,taker=0.1"][..], "--fees maker"),
        (&["--from", "yesterday"][..], "--from"),
        (&["--from", "2030-01-01T00:00:00Z"][..], "no recorded frame"),
        (&["--period", "0"][..], "--period"),
        (&["--fitness", "alpha"][..], "--fitness"),
    ] {
        let o = backtest_on_sample(extra);
        no_panic(&o);
        assert!(!o.status.success(), "{extra:?}");
        assert!(stderr(&o).contains(msg), "{extra:?}: {}", stderr(&o));
    }
}

#[test]
fn backtest_runs_several_symbols_and_combines_them() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let u = d.join("hftbacktest-examples/usdm");
    let (btc, eth) = (
        u.join("btcusdt_20240808.gz").display().to_string(),
        u.join("ethusdt_20240808.gz").display().to_string(),
    );
    let s = repo("strategy_0.toml");
    let args = [
        "backtest",
        &btc,
        &eth,
        "--strategy",
        &s,
        "--symbols",
        "btcusdt,ETHUSDT",
        "--short-pressure",
        "0.6",
        "--long-pressure",
        "0.4",
    ];
    let o = minerva(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("backtest BTCUSDT usdm"), "{out}");
    assert!(out.contains("backtest ETHUSDT usdm"), "{out}");
    assert!(out.contains("combined BTCUSDT, ETHUSDT (2 runs"), "{out}");
    let j = minerva(&[&args[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let per: Vec<f64> = v["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["metrics"]["net_pnl"].as_f64().unwrap())
        .collect();
    assert_eq!(per.len(), 2);
    let total = v["combined"]["metrics"]["net_pnl"].as_f64().unwrap();
    assert!((total - per.iter().sum::<f64>()).abs() < 1e-6);
    let none = minerva(&[&args[..5], &["--symbols", "XRPUSDT"]].concat());
    no_panic(&none);
    assert!(!none.status.success());
    assert!(stderr(&none).contains("XRPUSDT"), "{}", stderr(&none));
}

/// The README's quick start prints exactly the report the README shows.
#[test]
fn readme_quick_start_prints_the_report_it_shows() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let cmd = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -- "))
        .expect("a quick-start command");
    let args: Vec<&str> = cmd["cargo run --release -- ".len()..]
        .split_whitespace()
        .collect();
    let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let after = &readme[readme.find(cmd).unwrap()..];
    let shown = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the report block after the command");
    assert_eq!(out, shown, "README quick start output changed");
}

#[test]
fn exchange_serves_rest_and_stops_on_sigint() {
    use std::io::Read;
    let [a, b] = sample();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minerva"));
    cmd.args([
        "exchange", "--data", &a, &b, "--port", "0", "--speed", "max",
    ])
    .stderr(std::process::Stdio::piped());
    let ex = common::spawn_exchange(cmd);
    let addr = ex.addr.clone();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("{}"), "{resp}");
    // SAFETY: kill only sends a signal to our child.
    unsafe { libc::kill(ex.child.id() as i32, libc::SIGINT) };
    let (o, rest) = ex.finish();
    assert!(o.status.success());
    assert!(rest.contains("served 0 stream messages"), "{rest}");
    // Bad input: a clear error, no panic.
    let o = minerva(&["exchange", "--data", "/nonexistent.gz", "--port", "0"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nonexistent"), "{}", stderr(&o));
}

/// The seed's own command line (its notes' two examples) runs as today's `minerva run`
/// with the same strategy keys set: the same decisions as the spelled-out command.
#[test]
fn the_seeds_command_line_runs_as_written() {
    let source = format!("replay:{}", sample().join(","));
    let tail = [
        "--source",
        source.as_str(),
        "--exchange-info",
        &repo("sample/exchange_info_spot_btcusdt.json"),
        "--speed",
        "max",
        "--no-journal",
    ]
    .map(str::to_string);
    let run = |args: Vec<String>| {
        let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
            .current_dir(repo(""))
            .args(&args)
            .args(&tail)
            .output()
            .unwrap();
        no_panic(&o);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{args:?}: {out}{}", stderr(&o));
        let decisions: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("signal: ") || l.starts_with("operations closed: "))
            .map(str::to_string)
            .collect();
        assert_eq!(decisions.len(), 2, "{out}");
        (decisions, stderr(&o))
    };
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    for (seed, today) in [
        (
            "--plot_data 0 --capital 10000 --limit_orderbook 500 --relative_THRESHOLD 10 --short_pressure 0.75 --long_pressure 0.25 --max_concurrent_trades 5 --peak_distance_divisor 10 --stop_loss_price_buffer 0.2 --precentage_per_trade 0.18 --market BTCUSDT",
            "run --strategy strategy_0.toml --capital 10000 --limit-orderbook 500 --relative-threshold 10 --short-pressure 0.75 --long-pressure 0.25 --max-concurrent-trades 5 --peak-distance-divisor 10 --stop-loss-price-buffer 0.2 --percentage-per-trade 0.18 --market BTCUSDT",
        ),
        (
            "-plt False -cap 5000 -lo 500 -rt 10 -sp 0.75 -lp 0.25 -maxt 5 -pkd 10 -pf 1 --market BTCUSDT",
            "run --strategy strategy_0.toml --capital 5000 --limit-orderbook 500 --relative-threshold 10 --short-pressure 0.75 --long-pressure 0.25 --max-concurrent-trades 5 --peak-distance-divisor 10 --percentage-per-trade 1 --market BTCUSDT",
        ),
    ] {
        let (a, note) = run(words(seed));
        let (b, _) = run(words(today));
        assert_eq!(a, b, "{seed}");
        assert!(
            note.contains("the seed's command line, run as: minerva run"),
            "{note}"
        );
    }
    // The seed's plot flag is the live view: here, without a terminal, refused clearly.
    let o = minerva(&["-plt", "True", "-cap", "5000", "--market", "BTCUSDT"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--view needs a terminal"),
        "{}",
        stderr(&o)
    );
    let o = minerva(&["-plt", "maybe"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("expected 0, 1, True or False"),
        "{}",
        stderr(&o)
    );
}
