//! How a stage waits for work: busy-spin (isolated cores), spin-then-yield (shared
//! machines, CI), or park (idle stages). The shape is crossbeam's `Backoff`: spin with
//! `spin_loop` hints, then yield, then sleep briefly, so a stage on a shared core gives
//! the CPU back instead of burning it.

use std::time::Duration;

/// A wait strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Never give up the CPU. Only on an isolated core of its own.
    Spin,
    /// Spin briefly, then `yield_now`. Safe when threads outnumber cores.
    SpinYield,
    /// Spin briefly, yield, then sleep in short steps: lowest CPU use, highest wake-up latency.
    Park,
}

/// Why a wait strategy could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown wait strategy `{0}` (spin, spin-yield or park, for all stages or as stage=strategy)"
)]
pub struct WaitError(pub String);

impl std::str::FromStr for Wait {
    type Err = WaitError;
    fn from_str(s: &str) -> Result<Self, WaitError> {
        match s {
            "spin" => Ok(Wait::Spin),
            "spin-yield" | "yield" => Ok(Wait::SpinYield),
            "park" => Ok(Wait::Park),
            _ => Err(WaitError(s.to_string())),
        }
    }
}

impl Wait {
    /// True when the strategy keeps a core busy while idle.
    pub fn spins(self) -> bool {
        self == Wait::Spin
    }
}

/// One waiter's state: call [`Waiter::idle`] each time there was no work, [`Waiter::reset`]
/// when there was.
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    wait: Wait,
    step: u32,
}

/// Spins before yielding (~1-2 µs on the reference machine).
const SPIN_STEPS: u32 = 64;
/// Yields before sleeping (park only).
const YIELD_STEPS: u32 = 64;

impl Waiter {
    /// A waiter with strategy `wait`.
    pub fn new(wait: Wait) -> Self {
        Self { wait, step: 0 }
    }

    /// There was work: the next idle period starts spinning again.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// There was no work: wait a little, more the longer nothing comes.
    #[inline]
    pub fn idle(&mut self) {
        match self.wait {
            Wait::Spin => std::hint::spin_loop(),
            Wait::SpinYield => {
                if self.step < SPIN_STEPS {
                    self.step += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            Wait::Park => {
                if self.step < SPIN_STEPS {
                    std::hint::spin_loop();
                } else if self.step < SPIN_STEPS + YIELD_STEPS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
                self.step = self.step.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_backs_off() {
        assert_eq!("spin-yield".parse::<Wait>(), Ok(Wait::SpinYield));
        assert!("fast".parse::<Wait>().is_err());
        let mut w = Waiter::new(Wait::Park);
        let t = std::time::Instant::now();
        for _ in 0..(SPIN_STEPS + YIELD_STEPS + 3) {
            w.idle();
        }
        // Three sleeps of 50 µs at the end.
        assert!(t.elapsed() >= Duration::from_micros(150));
        w.reset();
        assert_eq!(w.step, 0);
    }
}
