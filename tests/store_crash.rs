//! The recorder stopped hard or cleanly, and a disk that fills or refuses writes:
//! `minerva record` killed with SIGKILL mid-recording leaves a database that opens,
//! passes its integrity check and holds every line its status said was stored;
//! SIGTERM flushes and closes; a full disk stops the recording with a clear error
//! and the trading goes on to the same result; a read-only path is refused clearly.

mod common;

use minerva::store::{Recorded, SqliteStore, expand};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn stored_lines(db: &Path) -> i64 {
    SqliteStore::open_read(db)
        .ok()
        .and_then(|mut s| s.sessions().ok())
        .map_or(0, |s| s.iter().map(|x| x.lines).sum())
}

/// `minerva record` of the local exchange's BTCUSDT into `db`, status every 0.1 s.
fn recorder(host: &str, db: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["record", "--symbols", "BTCUSDT", "--endpoint", "local"])
        .args(["--host", host, "--streams", "depth@100ms,trade,bookTicker"])
        .args(["--status-every", "0.1", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `db` holds at least `n` lines.
fn wait_for_lines(db: &Path, n: i64) {
    let until = Instant::now() + Duration::from_secs(30);
    while stored_lines(db) < n {
        assert!(Instant::now() < until, "no {n} lines in {}", db.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The line counts the status lines reported, in order.
fn reported(stderr: &str) -> Vec<i64> {
    stderr
        .lines()
        .filter_map(|l| {
            let head = l.split_once(" lines (")?.0;
            head.rsplit(' ').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn a_live_recorder_killed_or_stopped_keeps_what_it_committed() {
    let (files, opts) = common::spot_files();
    // 30×: the sample's eleven minutes take about 22 s, far longer than this test.
    let venue = common::spot_venue(Some(30.0), Default::default(), None);
    let host = venue.local_addr().to_string();
    let tmp = common::fresh_dir("crash");
    let dir = tmp.path();

    // SIGKILL mid-recording.
    let killed = dir.join("killed.db");
    let child = recorder(&host, &killed);
    wait_for_lines(&killed, 3_000);
    std::thread::sleep(Duration::from_millis(150));
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = reported(&stderr);
    assert!(!said.is_empty(), "{stderr}");
    let mut store = SqliteStore::open(&killed).unwrap();
    assert_eq!(store.integrity().unwrap(), "ok");
    let s = store.sessions().unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].ended_ns, 0, "killed: never closed");
    // Every line the recorder said it had stored is there.
    assert!(
        s[0].lines >= *said.last().unwrap(),
        "{} lines kept, {said:?} reported",
        s[0].lines
    );
    // Whole lines, each `<recv_ns> <json>`, its depth diffs unbroken.
    let rows = store.lines(s[0].id, 0, 1 << 20).unwrap();
    assert_eq!(rows.len() as i64, s[0].lines);
    for (_, ns, _, line) in &rows {
        let text = std::str::from_utf8(line).unwrap();
        let (stamp, json) = text.split_once(' ').unwrap();
        assert_eq!(stamp.parse::<i64>().unwrap(), *ns);
        assert!(json.starts_with('{') && json.ends_with('}'), "{text}");
    }
    let scan = minerva::store::scan::scan(&mut store, s[0].id).unwrap();
    assert!(scan.breaks.is_empty(), "{:?}", scan.breaks);
    assert_eq!(scan.snapshots, 1);
    drop(store);
    let r =
        minerva::replay::replay(&expand(std::slice::from_ref(&killed)).unwrap(), &opts).unwrap();
    assert_eq!((r.decode_errors, r.symbols[0].gaps), (0, 0));

    // SIGTERM: flushed and closed, exactly what it says it stored.
    let stopped = dir.join("stopped.db");
    let mut child = recorder(&host, &stopped);
    wait_for_lines(&stopped, 3_000);
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "SIGTERM did not stop the recorder");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sessions [1]"), "{stdout}");
    let mut store = SqliteStore::open_read(&stopped).unwrap();
    let s = store.sessions().unwrap();
    assert!(s[0].ended_ns > 0, "closed");
    assert_eq!(reported(&stdout), vec![s[0].lines], "{stdout}");
    drop(store);
    venue.stop();
    let _ = files;
}

/// A small filesystem mounted for the test (root only: CI runs as root), on a
/// directory removed when it drops (unmounted first), or at once when it cannot mount.
struct Mount(tempfile::TempDir);

impl Mount {
    fn tmpfs(name: &str, opts: &str) -> Option<Self> {
        let dir = common::fresh_dir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").is_ok() {
                panic!("CI runs as root and must be able to mount a tmpfs");
            }
            eprintln!("NOTE: cannot mount a tmpfs (not root): disk-full test skipped");
            return None;
        }
        Some(Self(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Mount {
    // The directory itself goes when the TempDir field drops, after this.
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// The trading lines of a `minerva run` report (no timings).
fn trading(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("signal:")
                || l.starts_with("simulated exchange:")
                || l.starts_with("operations closed:")
        })
        .map(|l| l.split("; at exit").next().unwrap_or(l).to_string())
        .collect()
}

#[test]
fn a_full_disk_stops_the_recording_not_the_trading() {
    let Some(full) = Mount::tmpfs("full", "size=16m") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = common::spot_replay_source();
    let run = |record: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_minerva"));
        c.current_dir(root)
            .args(["run", "--source", &source, "--strategy", "strategy_0.toml"])
            .args(["--exchange-info", "sample/exchange_info_spot_btcusdt.json"]);
        if let Some(db) = record {
            c.arg("--record").arg(db);
        }
        c.output().unwrap()
    };
    let plain = run(None);
    assert!(plain.status.success());
    let recorded = run(Some(&full.path().join("market.db")));
    let (out, err) = (
        String::from_utf8_lossy(&recorded.stdout),
        String::from_utf8_lossy(&recorded.stderr),
    );
    assert!(!recorded.status.success(), "{out}");
    assert!(err.contains("database or disk is full"), "{err}");
    assert!(
        err.contains("the recording stopped (the trading did not)"),
        "{err}"
    );
    let want = trading(&String::from_utf8_lossy(&plain.stdout));
    assert_eq!(want.len(), 3);
    assert_eq!(trading(&out), want, "the same trading, recorder or not");
    assert!(out.contains("not recorded"), "{out}");
    // What was committed before the disk filled is there and sound.
    let mut store = SqliteStore::open_read(&full.path().join("market.db")).unwrap();
    assert_eq!(store.integrity().unwrap(), "ok");
    // Whole batches (20,000 lines or 200 ms, whichever first): some, not all; every
    // line whole, the depth chain unbroken up to where the disk filled.
    let s = store.sessions().unwrap();
    let kept = s[0].lines;
    assert!(kept > 0 && kept < 99_574, "{kept}");
    let rows = store.lines(s[0].id, 0, 1 << 20).unwrap();
    assert_eq!(rows.len() as i64, kept);
    for (_, _, _, line) in &rows {
        let text = std::str::from_utf8(line).unwrap();
        assert!(text.ends_with('}'), "{text}");
    }
    let scan = minerva::store::scan::scan(&mut store, s[0].id).unwrap();
    assert!(scan.breaks.is_empty(), "{:?}", scan.breaks);
}

#[test]
fn a_read_only_path_is_refused_clearly() {
    let Some(ro) = Mount::tmpfs("ro", "ro,size=1m") else {
        return;
    };
    let db = ro.path().join("market.db");
    let out = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args([
            "record",
            "--symbols",
            "BTCUSDT",
            "--host",
            "127.0.0.1:1",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "error: {}: unable to open database file",
            db.display()
        )),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args([
            "db",
            "import",
            "sample/hftbacktest/spot/btcusdt_20240808.gz",
            "--db",
        ])
        .arg(&db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unable to open database file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
