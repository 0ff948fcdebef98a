//! `minerva view` and `minerva run --view` as a user runs them: in a pseudo-terminal
//! (the view draws with ratatui on crossterm), reading a running pipeline's status
//! socket or its own run, answering keys; and the status socket against clients that
//! misbehave.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_minerva");

/// A `minerva` process on a pseudo-terminal of 160 × 50, everything it writes kept.
struct Pty {
    master: std::fs::File,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(args: &[&str]) -> Self {
        let (mut m, mut s) = (0, 0);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 160,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: valid out-pointers; no name, default terminal settings.
        let rc =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty returned two open descriptors we now own.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session
        // whose controlling terminal is the pty, as a shell would give it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut r, o) = (master.try_clone().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self { master, child, out }
    }

    /// The screen as a terminal shows it now (a VT100 emulator replays the output).
    fn screen(&self) -> String {
        let mut p = vt100::Parser::new(50, 160, 0);
        p.process(&self.out.lock().unwrap());
        p.screen().contents()
    }

    /// Everything written, escapes stripped (what scrolled past, after the view).
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until everything in `needles` is on the screen at once.
    fn wait_for(&self, needles: &[&str], secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            let t = self.screen();
            if needles.iter().all(|n| t.contains(n)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let t = self.screen();
        let missing: Vec<_> = needles.iter().filter(|n| !t.contains(**n)).collect();
        panic!("never drawn: {missing:?}\n--- screen ---\n{t}");
    }

    fn key(&mut self, k: &str) {
        self.master.write_all(k.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("did not exit in {secs} s:\n{}", self.text());
    }
}

/// A socket path in a directory of its own, removed with the guard.
fn sock(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = common::fresh_dir(&format!("view-{name}"));
    let path = dir.path().join("status.sock");
    (dir, path)
}

fn run_args(speed: &str) -> Vec<String> {
    [
        "run",
        "--source",
        &common::spot_replay_source(),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--exchange-info",
        &common::repo("sample/exchange_info_spot_btcusdt.json"),
        "--speed",
        speed,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn wait_for_socket(p: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while UnixStream::connect(p).is_err() {
        assert!(
            Instant::now() < until,
            "no status socket at {}",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `n` snapshots from the socket and returns their sequence numbers and frames.
fn snapshots(p: &Path, n: usize) -> Vec<(u64, u64)> {
    let s = UnixStream::connect(p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["counters"]["frames"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn view_attaches_to_a_running_pipeline_through_its_status_socket() {
    let (_dir, path) = sock("attach");
    let mut args = run_args("5");
    args.extend(["--status".to_string(), path.display().to_string()]);
    let run = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_socket(&path);
    // Only this user may connect.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // Clients that misbehave: one never reads, one writes junk and hangs up. The
    // socket is read-only: neither disturbs the run nor the other readers.
    let idle = UnixStream::connect(&path).unwrap();
    let mut junk = UnixStream::connect(&path).unwrap();
    let _ = junk.write_all(b"{\"order\": \"BUY 100 BTC\"}\n\0\xff garbage");
    drop(junk);
    let got = snapshots(&path, 4);
    assert!(
        got.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1),
        "{got:?}"
    );
    assert!(got.last().unwrap().1 > 0, "the feed moved: {got:?}");

    let p = path.display().to_string();
    let mut view = Pty::spawn(&["view", &p, "/nonexistent/minerva.sock"]);
    view.wait_for(
        &[
            "BTCUSDT · replay · paper (simulated exchange)",
            "book bins",
            "pressure: ask share",
            "last trades",
            "latency per stage",
            "ring feed→book",
            "[1/2]",
        ],
        60,
    );
    view.key("p");
    view.wait_for(&["PAUSED"], 10);
    // The second feed cannot connect: switching to it says why.
    view.key("\t");
    view.wait_for(&["No such file or directory"], 10);
    view.key("q");
    assert!(view.wait_exit(10).success(), "{}", view.text());
    drop(idle);

    // SIGTERM stops the run cleanly; the socket goes with it.
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!path.exists(), "the socket file is removed at exit");
}

#[test]
fn run_view_shows_its_own_run_then_prints_the_report() {
    let args = run_args("max");
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--view");
    let mut pty = Pty::spawn(&args);
    // A replay at full speed ends within seconds; the last picture stays until q.
    pty.wait_for(
        &[
            "book bins",
            "latency per stage",
            "the run ended",
            "tick_to_decision",
        ],
        120,
    );
    pty.key("q");
    assert!(pty.wait_exit(20).success(), "{}", pty.text());
    // The run's own report follows the view, and the log lines kept during it.
    let after = pty.text();
    for needle in ["frames in", "signing with the documented paper key pair"] {
        assert!(after.contains(needle), "{needle}: {after}");
    }
}

#[test]
fn view_and_run_view_refuse_without_a_terminal_and_a_socket_in_use() {
    let out = Command::new(BIN)
        .args(["view", "/tmp/none.sock"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = run_args("max");
    args.push("--view".into());
    let out = Command::new(BIN).args(&args).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--view needs a terminal"), "{err}");
    // A file that is not a socket is never replaced.
    let (_dir, path) = sock("not-a-socket");
    std::fs::write(&path, "keep me").unwrap();
    let mut args = run_args("max");
    args.extend(["--status".to_string(), path.display().to_string()]);
    let out = Command::new(BIN).args(&args).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn view_watches_a_recorder_through_its_status_sockets() {
    // The local exchange serves the shipped spot session at 20×; the recorder
    // records it and serves a live view per symbol.
    let mut venue = common::spawn_exchange(common::spot_exchange_command("20"));
    let tmp = common::fresh_dir("view-record");
    // The recorder makes the status directory itself.
    let (dir, db) = (tmp.path().join("status"), tmp.path().join("market.db"));
    let rec = Command::new(BIN)
        .args(["record", "--symbols", "BTCUSDT", "--endpoint", "local"])
        .args([
            "--host",
            &venue.addr,
            "--streams",
            "depth@100ms,trade,bookTicker",
        ])
        .arg("--db")
        .arg(&db)
        .arg("--status")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.join("BTCUSDT.sock");
    wait_for_socket(&sock);
    // The snapshots come from the recorded frames: a live book and trades.
    let s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut lines = BufReader::new(s).lines();
    let until = Instant::now() + Duration::from_secs(60);
    let live = loop {
        let v: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["book"]["live"] == true && !v["trades"].as_array().unwrap().is_empty() {
            break v;
        }
        assert!(Instant::now() < until, "never a live book with trades: {v}");
    };
    assert_eq!(live["trading"], "recording (no trading)");
    let (bid, ask) = (
        live["book"]["bids"][0][0].as_f64().unwrap(),
        live["book"]["asks"][0][0].as_f64().unwrap(),
    );
    assert!(bid > 0.0 && bid < ask, "{live}");
    assert!(live["counters"]["frames"].as_u64().unwrap() > 0);

    let p = sock.display().to_string();
    let mut view = Pty::spawn(&["view", &p]);
    view.wait_for(
        &[
            "BTCUSDT · minerva record",
            "book levels",
            "last trades",
            "frames ",
        ],
        60,
    );
    view.key("q");
    assert!(view.wait_exit(10).success(), "{}", view.screen());
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(rec.id() as i32, libc::SIGTERM) };
    let out = rec.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!sock.exists(), "the socket file is removed at exit");
    let _ = venue.child.kill();
    let _ = venue.child.wait();
}
