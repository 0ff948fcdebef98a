//! The watchdog's rules as a supervisor meets them, with the binaries: a drawdown over
//! the limit kills the trading (exit code 4, the kill journaled, positions flattened);
//! no operation for the period reconnects and resyncs the feed (journaled); a feed
//! that cannot be reached the allowed times in a row stops the run cleanly (exit 3)
//! instead of retrying for ever.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `name` in a directory of its own, removed when the guard drops.
fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = common::fresh_dir("watchdog");
    let p = d.path().join(name);
    (d, p)
}

fn events(journal: &Path, kind: &str) -> i64 {
    let db = rusqlite::Connection::open(journal).unwrap();
    db.query_row(
        "SELECT count(*) FROM journal_events WHERE kind = ?1",
        [kind],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_drawdown_over_the_limit_kills_the_trading_with_exit_code_4() {
    let (_dir, journal) = tmp("kill.db");
    let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["run", "--source", &common::spot_replay_source()])
        .args(["--strategy", &repo("strategy_0.toml")])
        .args([
            "--exchange-info",
            &repo("sample/exchange_info_spot_btcusdt.json"),
        ])
        // The loose strategy of the pipeline tests: it trades, and loses some.
        .args([
            "--maker-fee",
            "0",
            "--taker-fee",
            "0",
            "--short-pressure",
            "0.6",
        ])
        .args(["--long-pressure", "0.4", "--max-concurrent-trades", "20"])
        .args(["--watchdog", "drawdown=0.001%", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}\n{err}");
    assert!(err.contains("kill switch"), "{err}");
    assert!(err.contains("flattened"), "{err}");
    assert_eq!(events(&journal, "watchdog_stop"), 1);
    // Stopped in order: nothing left open.
    assert!(out.contains("0 positions open"), "{out}");
    // Without the rule, the same run trades on to the end and exits 0.
    let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["run", "--source", &common::spot_replay_source()])
        .args(["--strategy", &repo("strategy_0.toml")])
        .args([
            "--exchange-info",
            &repo("sample/exchange_info_spot_btcusdt.json"),
        ])
        .args([
            "--maker-fee",
            "0",
            "--taker-fee",
            "0",
            "--short-pressure",
            "0.6",
        ])
        .args(["--long-pressure", "0.4", "--max-concurrent-trades", "20"])
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn no_operation_for_the_period_reconnects_and_is_journaled() {
    let mut ex = common::spawn_exchange(common::spot_exchange_command("20"));
    let addr = ex.addr.clone();
    let (_dir, journal) = tmp("idle.db");
    let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args([
            "run",
            "--source",
            "binance",
            "--endpoint",
            "local",
            "--host",
            &addr,
        ])
        .args(["--strategy", &repo("strategy_0.toml")])
        // Pressures no book reaches: no operation at all.
        .args(["--long-pressure", "0.0001", "--short-pressure", "0.9999"])
        .args(["--watchdog", "no-operation=2s", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let _ = ex.child.kill();
    let _ = ex.finish();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let resets = events(&journal, "watchdog_no_operation");
    assert!(resets >= 2, "{resets} resets\n{err}");
    // Each reset is a new session and a new snapshot.
    let db = rusqlite::Connection::open(&journal).unwrap();
    let connects: i64 = db
        .query_row(
            "SELECT max(CAST(json_extract(detail, '$.total') AS INTEGER)) FROM journal_events WHERE kind = 'connect'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        connects > resets / 2,
        "{connects} connects for {resets} resets"
    );
    assert!(err.contains("no operation for the period"), "{err}");
}

#[test]
fn an_unreachable_feed_stops_the_run_cleanly_with_exit_code_3() {
    let mut ex = common::spawn_exchange(common::spot_exchange_command("1"));
    let addr = ex.addr.clone();
    let mut run = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args([
            "run",
            "--source",
            "binance",
            "--endpoint",
            "local",
            "--host",
            &addr,
        ])
        .args(["--strategy", &repo("strategy_0.toml"), "--no-journal"])
        .args(["--watchdog", "reconnects=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // The exchange dies: every attempt from now on fails.
    let _ = ex.child.kill();
    let _ = ex.finish();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the run kept retrying"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("could not be reached"), "{err}");
}
