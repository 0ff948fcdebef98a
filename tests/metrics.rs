//! `--metrics HOST:PORT` on `run` and `record`: scraped over HTTP as Prometheus does and
//! parsed with Prometheus' own Python client's text-format parser
//! (`prometheus_client.parser`; `.ci/run` installs it).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_minerva");

/// Starts `cmd` with stderr piped; its lines arrive on the receiver.
fn spawn(mut cmd: Command) -> (Child, Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The address the process logs (`metrics on http://ADDR/metrics`).
fn metrics_addr(rx: &Receiver<String>) -> String {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let l = rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("the metrics address in the log");
        if let Some((_, r)) = l.split_once("metrics on http://") {
            return r.trim_end_matches("/metrics").to_string();
        }
    }
}

/// `GET /metrics` as Prometheus sends it: (content type, body).
fn scrape(addr: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (ctype, body.to_string())
}

/// The families Prometheus' parser reads from `text`: `{name: {type, samples:
/// [[name, labels, value]]}}`; `None` (skipped, said so) without the parser, except
/// under CI.
fn parse(text: &str) -> Option<serde_json::Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;
    let have = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var("MINERVA_REQUIRE_CLIENT_LIBS").is_ok() {
            panic!("prometheus_client is required here (.ci/run installs it)");
        }
        eprintln!("NOTE: python3 prometheus_client missing; the parser check is skipped");
        return None;
    }
    let mut p = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The value of the sample `name` whose labels include `labels`.
fn value(f: &serde_json::Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    f[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family}: {f}"))
        .iter()
        .find(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .and_then(|s| s[2].as_f64())
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {}", f[family]))
}

fn stop(child: &mut Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// Scrapes until `ready` says the page has what the test reads.
fn scrape_until(addr: &str, ready: impl Fn(&str) -> bool) -> (String, String) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let got = scrape(addr);
        if ready(&got.1) {
            return got;
        }
        assert!(Instant::now() < until, "never ready:\n{}", got.1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_pipeline_is_scraped_and_parsed_as_prometheus_reads_it() {
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--source", &common::spot_replay_source()])
        .args(["--strategy", &common::repo("strategy_0.toml")])
        .args([
            "--exchange-info",
            &common::repo("sample/exchange_info_spot_btcusdt.json"),
        ])
        .args(["--speed", "5", "--status-every", "100"])
        .args(["--metrics", "127.0.0.1:0", "--no-journal"]);
    let (mut child, rx) = spawn(cmd);
    let addr = metrics_addr(&rx);
    let (ctype, first) = scrape_until(&addr, |t| {
        t.contains("minerva_latency_seconds_count")
            && !t.contains("minerva_frames_total{symbol=\"BTCUSDT\"} 0\n")
    });
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    std::thread::sleep(Duration::from_millis(500));
    let (_, second) = scrape(&addr);
    stop(&mut child);
    let Some(a) = parse(&first) else { return };
    let b = parse(&second).unwrap();
    for (family, kind) in [
        ("minerva_up", "gauge"),
        ("minerva_frames", "counter"),
        ("minerva_ring_messages", "counter"),
        ("minerva_latency_seconds", "summary"),
        ("minerva_equity", "gauge"),
        ("minerva_position", "gauge"),
        ("minerva_orders", "counter"),
        ("minerva_fills", "counter"),
        ("minerva_gaps", "counter"),
        ("minerva_run_info", "gauge"),
    ] {
        assert_eq!(a[family]["type"], kind, "{family}: {}", a[family]);
    }
    let sym = [("symbol", "BTCUSDT")];
    assert_eq!(value(&a, "minerva_up", "minerva_up", &[]), 1.0);
    assert_eq!(
        value(
            &a,
            "minerva_run_info",
            "minerva_run_info",
            &[("source", "replay")]
        ),
        1.0
    );
    // Counters only go up between scrapes, and the run moved on.
    let frames = |f: &serde_json::Value| value(f, "minerva_frames", "minerva_frames_total", &sym);
    assert!(frames(&a) > 0.0);
    assert!(
        frames(&b) >= frames(&a),
        "{} then {}",
        frames(&a),
        frames(&b)
    );
    let ring = [("symbol", "BTCUSDT"), ("ring", "feed→book")];
    assert!(
        value(
            &a,
            "minerva_ring_messages",
            "minerva_ring_messages_total",
            &ring
        ) > 0.0
    );
    // A summary: quantiles in order, a count, a sum.
    let tick = [("symbol", "BTCUSDT"), ("stage", "tick_to_decision")];
    let q = |x: &str| {
        value(
            &a,
            "minerva_latency_seconds",
            "minerva_latency_seconds",
            &[tick[0], tick[1], ("quantile", x)],
        )
    };
    assert!(0.0 < q("0.5") && q("0.5") <= q("0.99") && q("0.99") <= q("1"));
    let count = value(
        &a,
        "minerva_latency_seconds",
        "minerva_latency_seconds_count",
        &tick,
    );
    let sum = value(
        &a,
        "minerva_latency_seconds",
        "minerva_latency_seconds_sum",
        &tick,
    );
    assert!(
        count > 0.0 && sum > 0.0 && sum / count <= q("1"),
        "{sum} / {count}"
    );
    assert_eq!(
        value(&a, "minerva_book_in_sync", "minerva_book_in_sync", &sym),
        1.0
    );
    assert!(value(&a, "minerva_equity", "minerva_equity", &sym) > 0.0);
}

/// A run of several symbols: each symbol's book, oracle and trader series carry its
/// own label, the run's series carry all of them, and Prometheus' parser reads the
/// page (no series twice).
#[test]
fn a_run_of_several_symbols_is_scraped_per_symbol() {
    let Some(d) = common::shared_data().map(|d| d.join("kucoin-sample")) else {
        return;
    };
    let files: Vec<String> = ["KUCOIN.0", "KUCOIN.ws.1.0", "KUCOIN.http.0.0"]
        .iter()
        .map(|f| d.join(f).display().to_string())
        .collect();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--source", &format!("replay:{}", files.join(","))])
        .args(["--symbols", "BCHSV-USDT,ANKR-BTC"])
        .args(["--strategy", &common::repo("strategy_0.toml")])
        .args(["--speed", "2", "--status-every", "100"])
        .args(["--metrics", "127.0.0.1:0", "--no-journal"]);
    let (mut child, rx) = spawn(cmd);
    let addr = metrics_addr(&rx);
    let (_, page) = scrape_until(&addr, |t| {
        t.contains("minerva_book_in_sync{symbol=\"BCHSV-USDT\"} 1")
            && t.contains("minerva_book_in_sync{symbol=\"ANKR-BTC\"} 1")
            && !t.contains("minerva_evaluations_total{symbol=\"ANKR-BTC\"} 0\n")
    });
    stop(&mut child);
    assert!(
        page.contains("minerva_frames_total{symbol=\"BCHSV-USDT,ANKR-BTC\"}"),
        "{page}"
    );
    let Some(f) = parse(&page) else { return };
    for sym in ["BCHSV-USDT", "ANKR-BTC"] {
        let s = [("symbol", sym)];
        assert!(value(&f, "minerva_best_bid", "minerva_best_bid", &s) > 0.0);
        assert!(
            value(&f, "minerva_best_ask", "minerva_best_ask", &s)
                > value(&f, "minerva_best_bid", "minerva_best_bid", &s)
        );
        assert!(value(&f, "minerva_evaluations", "minerva_evaluations_total", &s) > 0.0);
        let p = value(&f, "minerva_pressure", "minerva_pressure", &s);
        assert!((0.0..=1.0).contains(&p), "{p}");
        value(&f, "minerva_position", "minerva_position", &s);
    }
    let run = [("symbol", "BCHSV-USDT,ANKR-BTC")];
    assert!(value(&f, "minerva_equity", "minerva_equity", &run) > 0.0);
}

/// A free port on the loopback (for a process whose log the test does not read).
fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn a_recorder_and_its_exchange_are_scraped_and_parsed_as_prometheus_reads_them() {
    let venue_metrics = free_port();
    let mut cmd = common::spot_exchange_command("20");
    cmd.args(["--metrics", &venue_metrics]);
    let mut venue = common::spawn_exchange(cmd);
    let tmp = common::fresh_dir("metrics");
    let db = tmp.path().join("market.db");
    let mut cmd = Command::new(BIN);
    cmd.args(["record", "--symbols", "BTCUSDT", "--endpoint", "local"])
        .args(["--host", &venue.addr, "--streams", "depth@100ms,trade"])
        .args(["--status-every", "0.2", "--metrics", "127.0.0.1:0"])
        .arg("--db")
        .arg(&db);
    let (mut child, rx) = spawn(cmd);
    let addr = metrics_addr(&rx);
    let (_, page) = scrape_until(&addr, |t| {
        t.contains("minerva_record_lines_total{stream=\"btcusdt@depth@100ms\"}")
            && t.contains("minerva_record_lines_total{stream=\"btcusdt@trade\"}")
    });
    // The exchange serves the recorder: messages published, one session at least.
    let (_, venue_page) = scrape_until(&venue_metrics, |t| {
        t.contains("minerva_exchange_sessions{venue=\"binance\"} ")
            && !t.contains("minerva_exchange_sessions{venue=\"binance\"} 0\n")
    });
    stop(&mut child);
    let _ = venue.child.kill();
    let _ = venue.finish();
    let Some(f) = parse(&page) else { return };
    let x = parse(&venue_page).unwrap();
    let binance = [("venue", "binance")];
    assert!(
        value(
            &x,
            "minerva_exchange_published",
            "minerva_exchange_published_total",
            &binance
        ) > 0.0
    );
    assert!(
        value(
            &x,
            "minerva_exchange_sessions",
            "minerva_exchange_sessions",
            &binance
        ) >= 1.0
    );
    assert_eq!(x["minerva_exchange_slow_sessions"]["type"], "counter");
    let acct = [("venue", "binance"), ("symbol", "BTCUSDT")];
    assert_eq!(
        value(
            &x,
            "minerva_exchange_position",
            "minerva_exchange_position",
            &acct
        ),
        0.0
    );
    assert!(
        value(
            &x,
            "minerva_exchange_wallet",
            "minerva_exchange_wallet",
            &acct
        ) > 0.0
    );
    assert_eq!(
        value(
            &x,
            "minerva_exchange_open_orders",
            "minerva_exchange_open_orders",
            &acct
        ),
        0.0
    );
    assert_eq!(f["minerva_record_lines"]["type"], "counter");
    let lines = value(
        &f,
        "minerva_record_lines",
        "minerva_record_lines_total",
        &[("stream", "btcusdt@depth@100ms")],
    );
    assert!(lines > 0.0);
    let sym = [("symbol", "BTCUSDT")];
    assert!(
        value(
            &f,
            "minerva_record_connects",
            "minerva_record_connects_total",
            &sym
        ) >= 1.0
    );
    assert_eq!(
        value(&f, "minerva_record_gaps", "minerva_record_gaps_total", &sym),
        0.0
    );
    // The exchange replays 2024's clock: no lag sample, as the status line says n/a.
    assert_eq!(f["minerva_record_lag_seconds"]["type"], "gauge");
    assert!(!page.contains("minerva_record_lag_seconds{"), "{page}");
    assert!(
        value(
            &f,
            "minerva_record_database_bytes",
            "minerva_record_database_bytes",
            &[]
        ) > 0.0
    );
}

#[test]
fn a_bad_metrics_address_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    for (addr, says) in [
        ("nonsense", "expected HOST:PORT"),
        (port.as_str(), "in use"),
    ] {
        let out = Command::new(BIN)
            .args(["run", "--source", &common::spot_replay_source()])
            .args(["--strategy", &common::repo("strategy_0.toml")])
            .args(["--speed", "max", "--no-journal", "--metrics", addr])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{addr}");
        assert!(
            err.contains(says) && err.contains("--metrics"),
            "{addr}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The Grafana dashboard queries only metrics Minerva serves (a renamed metric would
/// leave a panel empty without a word).
#[test]
fn the_grafana_dashboard_queries_served_metrics() {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo("tools/grafana-minerva.json")).unwrap(),
    )
    .unwrap();
    let served = include_str!("../src/telemetry/prometheus.rs");
    let mut names = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            let mut rest = e;
            while let Some(k) = rest.find("minerva_") {
                let name: String = rest[k..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[k + name.len()..];
                names.push(name);
            }
        }
    }
    assert!(names.len() > 20, "{names:?}");
    for n in names {
        let family = n
            .strip_suffix("_sum")
            .or_else(|| n.strip_suffix("_count"))
            .unwrap_or(&n);
        assert!(
            served.contains(&format!("\"{family}\"")),
            "{n} is not served"
        );
    }
}
