//! `minerva run --daemon` as an operator starts it: detached and well-behaved (no
//! terminal, not a session leader, umask, no core dumps, inherited descriptors closed),
//! its PID file locked against a second instance, SIGHUP reopening its log, SIGTERM
//! stopping it cleanly and removing the PID file.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `minerva run … --daemon` from a shell that leaves descriptor 9 open (not close-on-exec).
fn start(dir: &Path) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = common::spot_replay_source();
    Command::new("bash")
        .arg("-c")
        .arg(r#"exec 9>/dev/null; exec "$@""#)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_minerva"))
        .args([
            "run",
            "--source",
            &source,
            "--speed",
            "1",
            "--report-every",
            "1",
        ])
        .arg("--strategy")
        .arg(root.join("strategy_0.toml"))
        .arg("--exchange-info")
        .arg(root.join("sample/exchange_info_spot_btcusdt.json"))
        .args(["--daemon", "--workdir"])
        .arg(dir)
        .output()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    // Gone, or a zombie waiting for init to reap it: either way, stopped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_daemon_detaches_locks_its_pid_file_reopens_its_log_and_stops_cleanly() {
    let tmp = common::fresh_dir("daemon");
    let dir = tmp.path();
    let (pid_file, log) = (dir.join("minerva-run.pid"), dir.join("minerva-run.log"));
    let out = start(dir);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The starting process returned once the daemon was set up: the PID file is there.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(said.contains(&format!("pid {pid}")), "{said}");
    assert!(alive(pid));

    // Detached: not a session leader (cannot regain a terminal), no controlling terminal.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let (session, tty): (i32, i32) = (f[3].parse().unwrap(), f[4].parse().unwrap());
    assert_ne!(session, pid, "a session leader");
    assert_eq!(tty, 0, "has a controlling terminal");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Umask:\t0027"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    // Descriptors: 0-2 and the PID file's lock, not the shell's 9 (a non-dumpable
    // process's descriptors are readable by root only).
    match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(d) => {
            let fds: Vec<String> = d
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            assert!(!fds.contains(&"9".to_string()), "{fds:?}");
            let stdout = std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap();
            assert_eq!(stdout, log);
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
            assert_eq!(cwd, dir.canonicalize().unwrap());
        }
        Err(e) => eprintln!("NOTE: /proc/{pid}/fd not readable ({e}): descriptors not checked"),
    }

    // A second instance with the same PID file refuses, naming the first.
    let again = start(dir);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "{err}");
    assert!(
        err.contains("already running") && err.contains(&pid.to_string()),
        "{err}"
    );
    assert!(alive(pid));

    // SIGHUP after the log was moved away (logrotate): a new log fills up.
    wait_until("a first report in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("latency report"))
    });
    let rotated = dir.join("minerva-run.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    // SAFETY: kill only sends a signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_until("a report in the reopened log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("latency report"))
    });

    // SIGTERM: the run stops as on Ctrl-C, reports, and removes its PID file.
    // SAFETY: kill only sends a signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_until("the daemon to stop", || !alive(pid));
    assert!(!pid_file.exists());
    let last = std::fs::read_to_string(&log).unwrap();
    assert!(last.contains("stopped by signal"), "{last}");
    let first = std::fs::read_to_string(&rotated).unwrap();
    assert!(first.contains("daemon started"), "{first}");
}

/// Bad daemon flags are refused before anything detaches.
#[test]
fn daemon_flags_are_checked_before_detaching() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_minerva"))
            .current_dir(root)
            .args([
                "run",
                "--source",
                "replay:sample/hftbacktest/spot/btcusdt_20240808.gz",
            ])
            .args(["--strategy", "strategy_0.toml"])
            .args(["--exchange-info", "sample/exchange_info_spot_btcusdt.json"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["--pid-file", "x.pid"][..], "go with --daemon"),
        (&["--daemon", "--workdir", "/nonexistent/dir"], "--workdir"),
        (&["--daemon", "--log-file", "/proc/nope/log"], "--log-file"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}
