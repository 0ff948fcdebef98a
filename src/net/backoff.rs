//! Reconnection backoff for live sessions, every venue's: exponential from
//! [`MIN_MS`] to [`MAX_MS`], with ±25 % jitter so clients do not reconnect in step,
//! and never shorter than what a server asked for (a 429's wait).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first wait.
pub const MIN_MS: u64 = 250;
/// The longest wait.
pub const MAX_MS: u64 = 30_000;

/// The next wait and the jitter's generator.
pub struct Backoff {
    ms: u64,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Starts at [`MIN_MS`]; `seed` makes the jitter reproducible.
    pub fn new(seed: u64) -> Self {
        Self {
            ms: MIN_MS,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// A session worked: the next failure waits [`MIN_MS`] again.
    pub fn reset(&mut self) {
        self.ms = MIN_MS;
    }

    /// The next wait (before jitter).
    pub fn ms(&self) -> u64 {
        self.ms
    }

    /// A server asked to stay away `wait`: never less, even after the jitter takes
    /// its quarter off.
    pub fn at_least(&mut self, wait: Duration) {
        let ms = wait.as_millis() as u64;
        self.ms = self.ms.max(ms * 4 / 3 + 1);
    }

    /// When the backoff (jittered) is over, for a caller that does other work
    /// meanwhile; doubles it.
    pub fn deadline(&mut self) -> Instant {
        let until = Instant::now() + self.jittered();
        self.ms = (self.ms * 2).min(MAX_MS);
        until
    }

    fn jittered(&mut self) -> Duration {
        let jitter = self.ms / 4;
        Duration::from_millis(self.ms - jitter + self.rng.u64(0..=2 * jitter))
    }

    /// Waits out the backoff (jittered), then doubles it; false when `stop` was set
    /// meanwhile.
    pub fn wait(&mut self, stop: &AtomicBool) -> bool {
        let until = Instant::now() + self.jittered();
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.ms = (self.ms * 2).min(MAX_MS);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_honours_a_servers_wait() {
        let mut b = Backoff::new(1);
        b.at_least(Duration::from_millis(3_000));
        assert_eq!(b.ms(), 4_001);
        b.reset();
        assert_eq!(b.ms(), MIN_MS);
        let stop = AtomicBool::new(true);
        assert!(!b.wait(&stop), "a stop ends the wait");
        b.reset();
        let before = Instant::now();
        let until = b.deadline();
        let waited = until - before;
        assert!(
            waited >= Duration::from_millis(MIN_MS * 3 / 4),
            "{waited:?}"
        );
        assert!(
            waited <= Duration::from_millis(MIN_MS * 5 / 4 + 5),
            "{waited:?}"
        );
        assert_eq!(b.ms(), 2 * MIN_MS, "doubled for the next");
    }
}
