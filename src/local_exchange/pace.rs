//! When a local venue's replay starts and how fast it goes, for every venue: the
//! replay waits for its first subscriber's REST snapshot (or a second after the first
//! subscriber came, for one that takes none), then publishes each recorded message at
//! its recorded time divided by the speed (or as fast as subscribers read).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the replay waits, once a subscriber came, for its REST snapshot.
pub const START_WITHOUT_SNAPSHOT: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves a flag or an instant: consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The replay's start: opened by the first subscriber's snapshot.
#[derive(Default)]
pub struct StartGate {
    started: Mutex<bool>,
    first_sub: Mutex<Option<Instant>>,
    start: Condvar,
}

impl StartGate {
    /// A market session subscribed (the first one starts the second's wait).
    pub fn subscribed(&self) {
        lock(&self.first_sub).get_or_insert_with(Instant::now);
    }

    /// A subscriber took a snapshot: a recording made from here holds every message
    /// after it, as the files do, so the replay starts.
    pub fn snapshot_taken(&self) {
        if lock(&self.first_sub).is_some() {
            *lock(&self.started) = true;
            self.start.notify_all();
        }
    }

    /// Wakes a waiting replay (to see a stop).
    pub fn release(&self) {
        self.start.notify_all();
    }

    /// Blocks until the replay may start, or `stop`.
    pub fn wait(&self, stop: &AtomicBool) {
        let mut started = lock(&self.started);
        while !*started && !stop.load(Ordering::Relaxed) {
            started = self
                .start
                .wait_timeout(started, Duration::from_millis(20))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
            // A subscriber that takes no snapshot (trades only) waits a second.
            if lock(&self.first_sub).is_some_and(|t| t.elapsed() >= START_WITHOUT_SNAPSHOT) {
                break;
            }
        }
    }
}

/// The replay's clock: recorded times (ns) mapped onto the wall clock at `speed`.
pub struct Pace {
    t0: Instant,
    rec0: u64,
    speed: Option<f64>,
}

impl Pace {
    /// Starts now, at recorded time `rec0`; `speed: None` never waits.
    pub fn new(rec0: u64, speed: Option<f64>) -> Self {
        Self {
            t0: Instant::now(),
            rec0,
            speed,
        }
    }

    /// Sleeps until the message recorded at `rec` is due.
    pub fn wait(&self, rec: u64) {
        if let Some(speed) = self.speed {
            let due = Duration::from_nanos((rec.saturating_sub(self.rec0) as f64 / speed) as u64);
            if let Some(wait) = due.checked_sub(self.t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}
