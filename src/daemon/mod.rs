//! `--daemon`: a long-running command (`minerva run`, `minerva record`) detaches
//! itself the way the seed's list asks of a well-behaved Unix daemon (product.md,
//! "Daemons"), instead of `nohup … &`:
//!
//! * a PID file held with an advisory lock (`flock`), so a second instance with the same
//!   file refuses to start and names the running one's pid; removed on a clean exit;
//! * double fork with `setsid` between: no controlling terminal, never a session leader
//!   (cannot get one back), reparented to init, the intermediate child reaped (no zombie);
//! * no core dumps (`RLIMIT_CORE` 0 and not dumpable: a core would hold API secrets);
//! * working directory and umask (027) set; standard input from `/dev/null`, standard
//!   output and error appended to a log file; every other inherited descriptor closed;
//! * SIGHUP reopens the log (for logrotate); SIGTERM/SIGINT stay the command's own clean
//!   stop (drain, cancel resting orders, flush the recorder);
//! * the starting process waits until the daemon has done all this, then prints its pid
//!   and exits 0 — or prints why it could not and exits non-zero.
//!
//! Cold path only. It must run before the process starts any thread: `fork` copies only
//! the calling thread (checked: it refuses when other threads exist).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// Another process holds the PID file's lock.
    #[error("already running: {path} is locked by pid {pid}")]
    AlreadyRunning {
        /// The PID file.
        path: String,
        /// The pid it holds (`?` when unreadable).
        pid: String,
    },
    /// A file or directory could not be opened.
    #[error("{what} {path}: {source}")]
    Io {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Threads were started before daemonizing (a bug: fork would lose them).
    #[error("--daemon must start before any thread ({0} running)")]
    Threads(usize),
    /// The daemon reported a failure while setting itself up.
    #[error("the daemon did not start: {0}")]
    Child(String),
}

/// Where the daemon keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The PID file (locked while the daemon runs).
    pub pid_file: PathBuf,
    /// The log file standard output and error are appended to.
    pub log_file: PathBuf,
    /// The working directory.
    pub workdir: PathBuf,
}

/// Which side of the fork this is.
pub enum Role {
    /// The starting process: the daemon is up with this pid; exit now.
    Parent(i32),
    /// The daemon itself: go on with the command's work.
    Daemon(Daemon),
}

/// The running daemon: holds the PID file's lock; removes the file when dropped.
pub struct Daemon {
    pid_file: PathBuf,
    /// Kept open: the lock lives as long as this descriptor.
    _lock: File,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Still holding the lock, so no other instance can have taken the file over.
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// Set by SIGHUP: reopen the log.
static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    HUP.store(true, Ordering::Relaxed);
}

fn sys(call: &'static str) -> DaemonError {
    DaemonError::Sys {
        call,
        source: std::io::Error::last_os_error(),
    }
}

fn absolute(what: &'static str, p: &Path) -> Result<PathBuf, DaemonError> {
    std::path::absolute(p).map_err(|source| DaemonError::Io {
        what,
        path: p.display().to_string(),
        source,
    })
}

fn open_log(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Points standard output and error at the log file `path` (reopened: a rotated log is
/// left to its rotator, a new one created).
fn redirect_output(path: &Path) -> std::io::Result<()> {
    let log = open_log(path)?;
    for fd in [1, 2] {
        // SAFETY: dup2 on two valid descriptors; the log stays open until the end of
        // this function, the duplicates after it.
        if unsafe { libc::dup2(log.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Opens and locks the PID file. A daemon removes its file as it exits, so the file
/// locked here may be one just unlinked (its owner exiting): then the lock guards
/// nothing, and the file at the path is opened again.
fn lock_pid_file(path: &Path) -> Result<File, DaemonError> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| DaemonError::Io {
        what: "--pid-file",
        path: path.display().to_string(),
        source,
    };
    for _ in 0..16 {
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = lock.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(DaemonError::AlreadyRunning {
                path: path.display().to_string(),
                pid: if pid.is_empty() {
                    "?".into()
                } else {
                    pid.into()
                },
            });
        }
        let held = lock.metadata().map_err(io)?;
        match std::fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => return Ok(lock),
            _ => continue,
        }
    }
    Err(io(std::io::Error::other("the file keeps being replaced")))
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count())
}

/// Detaches the process as a daemon (see the module doc). In the starting process it
/// returns [`Role::Parent`] once the daemon reported itself ready; in the daemon,
/// [`Role::Daemon`].
///
/// # Errors
/// [`DaemonError`]: the PID file is locked by another instance, a file cannot be opened,
/// threads already run, or the daemon failed to set itself up.
pub fn daemonize(cfg: &DaemonConfig) -> Result<Role, DaemonError> {
    let workdir = absolute("--workdir", &cfg.workdir)?;
    std::fs::read_dir(&workdir).map_err(|source| DaemonError::Io {
        what: "--workdir",
        path: workdir.display().to_string(),
        source,
    })?;
    let pid_path = absolute("--pid-file", &workdir.join(&cfg.pid_file))?;
    let log_path = absolute("--log-file", &workdir.join(&cfg.log_file))?;
    // Opened here so that the user sees a bad path at once, not in a log.
    let log = open_log(&log_path).map_err(|source| DaemonError::Io {
        what: "--log-file",
        path: log_path.display().to_string(),
        source,
    })?;
    let mut lock = lock_pid_file(&pid_path)?;
    let n = threads();
    if n > 1 {
        return Err(DaemonError::Threads(n));
    }
    // The lock lives in the open file description, which the forks below share: it
    // passes to the daemon as the starting process exits.
    let mut ends = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys("pipe2"));
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (mut ready_rx, ready_tx) =
        unsafe { (File::from_raw_fd(ends[0]), File::from_raw_fd(ends[1])) };
    // Buffered output would otherwise be written twice, once per process.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the process has one thread (checked above), so the child is a whole copy.
    match unsafe { libc::fork() } {
        -1 => Err(sys("fork")),
        0 => {
            drop(ready_rx);
            // In the daemon: report the outcome of its own setup through the pipe.
            match become_daemon(&workdir, &log, &pid_path, &mut lock, &ready_tx) {
                Ok(()) => {
                    drop(log);
                    let mut tx = ready_tx;
                    let _ = writeln!(tx, "ok {}", std::process::id());
                    Ok(Role::Daemon(Daemon {
                        pid_file: pid_path,
                        _lock: lock,
                    }))
                }
                Err(e) => {
                    let mut tx = ready_tx;
                    let _ = write!(tx, "{e}");
                    // SAFETY: ends this process without running the parent's
                    // destructors or atexit handlers a second time.
                    unsafe { libc::_exit(1) }
                }
            }
        }
        child => {
            drop(ready_tx);
            drop(lock);
            let mut status = 0;
            // SAFETY: reaps the intermediate child, which exits at once (no zombie).
            unsafe { libc::waitpid(child, &mut status, 0) };
            let mut said = String::new();
            let _ = ready_rx.read_to_string(&mut said);
            match said.trim().strip_prefix("ok ").map(str::parse::<i32>) {
                Some(Ok(pid)) => Ok(Role::Parent(pid)),
                _ if said.trim().is_empty() => Err(DaemonError::Child(
                    "it exited before reporting (see the log)".into(),
                )),
                _ => Err(DaemonError::Child(said.trim().to_string())),
            }
        }
    }
}

/// The daemon side: new session, second fork, limits, directory, descriptors, PID file.
fn become_daemon(
    workdir: &Path,
    log: &File,
    pid_path: &Path,
    lock: &mut File,
    ready: &File,
) -> Result<(), DaemonError> {
    // SAFETY: setsid and fork take no pointers; one thread (see daemonize).
    unsafe {
        if libc::setsid() < 0 {
            return Err(sys("setsid"));
        }
        match libc::fork() {
            -1 => return Err(sys("fork")),
            0 => {}
            // The session leader leaves at once; the grandchild can never regain a
            // terminal.
            _ => libc::_exit(0),
        }
    }
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct given; prctl and umask take plain integers.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
            return Err(sys("setrlimit(RLIMIT_CORE)"));
        }
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            return Err(sys("prctl(PR_SET_DUMPABLE)"));
        }
        libc::umask(0o027);
    }
    std::env::set_current_dir(workdir).map_err(|source| DaemonError::Io {
        what: "--workdir",
        path: workdir.display().to_string(),
        source,
    })?;
    let null = std::fs::File::open("/dev/null").map_err(|source| DaemonError::Io {
        what: "stdin",
        path: "/dev/null".into(),
        source,
    })?;
    // SAFETY: dup2 between valid descriptors owned here.
    unsafe {
        if libc::dup2(null.as_raw_fd(), 0) < 0
            || libc::dup2(log.as_raw_fd(), 1) < 0
            || libc::dup2(log.as_raw_fd(), 2) < 0
        {
            return Err(sys("dup2"));
        }
    }
    drop(null);
    // Every other descriptor the process inherited goes, but the lock, the pipe to the
    // starting process and the log (closed by the caller).
    let keep = [lock.as_raw_fd(), ready.as_raw_fd(), log.as_raw_fd()];
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|source| DaemonError::Io {
            what: "descriptors",
            path: "/proc/self/fd".into(),
            source,
        })?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: closes a descriptor nothing in this process uses any more (the
        // directory listing's own is already closed: EBADF, ignored).
        unsafe { libc::close(fd) };
    }
    lock.set_len(0).map_err(|source| DaemonError::Io {
        what: "--pid-file",
        path: pid_path.display().to_string(),
        source,
    })?;
    writeln!(lock, "{}", std::process::id())
        .and_then(|()| lock.sync_all())
        .map_err(|source| DaemonError::Io {
            what: "--pid-file",
            path: pid_path.display().to_string(),
            source,
        })?;
    let hup = on_hup as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic and has the C signature expected.
    unsafe { libc::signal(libc::SIGHUP, hup) };
    Ok(())
}

impl Daemon {
    /// Starts the thread that reopens the log on SIGHUP (it sleeps between checks; cold).
    pub fn reopen_log_on_hup(&self, log_file: &Path) {
        let path = log_file.to_path_buf();
        let _ = std::thread::Builder::new()
            .name("minerva-log".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    if HUP.swap(false, Ordering::Relaxed) {
                        if let Err(e) = redirect_output(&path) {
                            // Still the old log (or nothing): say so where it goes.
                            tracing::error!(log = %path.display(), error = %e, "SIGHUP: cannot reopen the log");
                        }
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_pid_file_refuses_a_second_instance() {
        let tmp = tempfile::Builder::new()
            .prefix("minerva-daemon-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let pid = dir.join("m.pid");
        std::fs::write(&pid, "4242\n").unwrap();
        let held = File::open(&pid).unwrap();
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
        let cfg = DaemonConfig {
            pid_file: pid.clone(),
            log_file: dir.join("m.log"),
            workdir: dir.to_path_buf(),
        };
        match daemonize(&cfg) {
            Err(DaemonError::AlreadyRunning { pid, .. }) => assert_eq!(pid, "4242"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("daemonized inside the test harness"),
        }
        // Free, the file is taken — but the test harness runs threads, which a fork
        // would lose: refused before any fork.
        drop(held);
        match daemonize(&cfg) {
            Err(DaemonError::Threads(n)) => assert!(n > 1),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("daemonized inside the test harness"),
        }
    }
}
