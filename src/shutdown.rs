//! Process-wide stop and report requests: SIGINT/SIGTERM ask every loop to stop in
//! order (rings drained, orders cancelled), SIGUSR1 asks for a report now. Handlers
//! only store to atomics (async-signal-safe); loops poll the flags.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by SIGINT/SIGTERM: the feed stops taking frames and the pipeline drains.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1: print a report now.
static REPORT_NOW: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_usr1(_: libc::c_int) {
    REPORT_NOW.store(true, Ordering::Relaxed);
}

/// Installs the SIGINT/SIGTERM (stop) and SIGUSR1 (report) handlers.
pub fn install_handlers() {
    let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let usr1 = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: both handlers only store to atomics, which is async-signal-safe, and have
    // the C signature `signal` expects.
    unsafe {
        libc::signal(libc::SIGINT, stop);
        libc::signal(libc::SIGTERM, stop);
        libc::signal(libc::SIGUSR1, usr1);
    }
}

/// Asks every loop to stop in order, as SIGTERM does (the watchdog's kill switch).
pub fn request() {
    STOP.store(true, Ordering::Relaxed);
}

/// True once SIGINT or SIGTERM arrived (after [`install_handlers`]).
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// A flag that follows SIGINT/SIGTERM, for a source that waits on a socket: a watcher
/// thread copies the signal flag into it (cold; ends with the process).
pub fn flag() -> std::sync::Arc<AtomicBool> {
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = std::thread::Builder::new()
        .name("minerva-stop".into())
        .spawn(move || {
            while !STOP.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            f.store(true, Ordering::Relaxed);
        });
    flag
}

/// True once, after SIGUSR1 asked for a report (the flag is cleared).
pub fn take_report_request() -> bool {
    REPORT_NOW.swap(false, Ordering::Relaxed)
}
