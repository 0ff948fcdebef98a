//! How a stage waits for work: busy-spin (isolated cores), spin-then-yield (shared
//! machines, CI), or park (idle stages). The shape is crossbeam's `Backoff`: spin with
//! `spin_loop` hints, then yield, then sleep briefly, so a stage on a shared core gives
//! the CPU back instead of burning it.

use super::pin::Stage;
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

/// A wait strategy per stage: `spin` for all, or `book=spin,signal=park` (unnamed
/// stages keep the default, spin-yield), or both (`park,book=spin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPlan {
    default: Wait,
    per: [Option<Wait>; 4],
}

impl Default for WaitPlan {
    fn default() -> Self {
        Self::uniform(Wait::SpinYield)
    }
}

impl WaitPlan {
    /// The same strategy for every stage.
    pub fn uniform(w: Wait) -> Self {
        Self {
            default: w,
            per: [None; 4],
        }
    }

    /// Parses the `--wait` flag.
    ///
    /// # Errors
    /// [`WaitError`] naming the part that is neither a strategy nor `stage=strategy`.
    pub fn parse(flag: &str) -> Result<Self, WaitError> {
        let mut plan = Self::default();
        for part in flag.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                None => plan.default = part.parse()?,
                Some((stage, w)) => {
                    let st = Stage::ALL
                        .into_iter()
                        .find(|s| s.name() == stage.trim())
                        .ok_or_else(|| WaitError(part.to_string()))?;
                    plan.per[st as usize] = Some(w.trim().parse()?);
                }
            }
        }
        Ok(plan)
    }

    /// The strategy of `stage`.
    pub fn of(&self, stage: Stage) -> Wait {
        self.per[stage as usize].unwrap_or(self.default)
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
