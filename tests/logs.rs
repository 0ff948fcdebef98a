//! Logs and journal as a log shipper and an auditor read them: `minerva run` against
//! `minerva exchange`, both with a key pair of their own from the environment, at the
//! most verbose level in JSON: every line is a JSON object, the connection and the
//! snapshot are there, and the key and the secret appear nowhere — not in either
//! process's output, not in the journal.

mod common;

use std::process::{Command, Stdio};

const KEY: &str = "logtestKEY0123456789abcdefABCDEFxyzXYZ0123456789abcdefABCDEF77";
const SECRET: &str = "logtestSECRET9876543210zyxwvuZYXWVU9876543210zyxwvuZYXWVU99";

#[test]
fn logs_are_json_lines_and_never_hold_the_keys() {
    let tmp = common::fresh_dir("logs");
    let dir = tmp.path();
    let mut cmd = common::spot_exchange_command("100");
    cmd.args(["--log-level", "trace", "--log-format", "json"])
        .env("MINERVA_BINANCE_API_KEY", KEY)
        .env("MINERVA_BINANCE_API_SECRET", SECRET)
        .stderr(Stdio::piped());
    let exchange = common::spawn_exchange(cmd);
    let addr = exchange.addr.clone();
    let journal = dir.join("j.db");
    let run = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .current_dir(dir)
        .args([
            "run",
            "--source",
            "binance",
            "--endpoint",
            "local",
            "--host",
            &addr,
        ])
        .arg("--strategy")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/strategy_0.toml"))
        .arg("--journal")
        .arg(&journal)
        .args(["--log-level", "trace", "--log-format", "json"])
        .env("MINERVA_BINANCE_API_KEY", KEY)
        .env("MINERVA_BINANCE_API_SECRET", SECRET)
        .output()
        .unwrap();
    let (ex, ex_out) = exchange.finish();
    let ex_err = String::from_utf8_lossy(&ex.stderr).into_owned();
    let run_out = String::from_utf8_lossy(&run.stdout).into_owned();
    let run_err = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{run_out}\n{run_err}");
    // JSON lines: each one an object with a level and a message.
    let events: Vec<serde_json::Value> = run_err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!events.is_empty(), "{run_err}");
    for e in &events {
        assert!(
            e["level"].is_string() && e["fields"]["message"].is_string(),
            "{e}"
        );
    }
    let said = |m: &str| {
        events.iter().any(|e| {
            e["fields"]["message"]
                .as_str()
                .is_some_and(|s| s.contains(m))
        })
    };
    assert!(said("market stream connected"), "{run_err}");
    assert!(said("depth snapshot fetched"), "{run_err}");
    assert!(said("audit journal opened"), "{run_err}");
    // The keys are nowhere.
    let mut all = vec![ex_out, ex_err, run_out, run_err];
    for ext in ["db", "db-wal"] {
        if let Ok(b) = std::fs::read(journal.with_extension(ext)) {
            all.push(String::from_utf8_lossy(&b).into_owned());
        }
    }
    for text in &all {
        assert!(!text.contains(KEY), "the API key leaked");
        assert!(!text.contains(SECRET), "the secret leaked");
    }
}
