//! Monotonic nanoseconds on one process-wide epoch, so stamps taken on different threads
//! compare. On x86-64 with an invariant TSC (`constant_tsc` and `nonstop_tsc`, the same
//! on every core) a stamp is one `rdtsc` and a multiply (~7 ns here), calibrated once
//! against `CLOCK_MONOTONIC`; elsewhere it is `CLOCK_MONOTONIC` (~25 ns here).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How stamps are taken.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// `ns = (tsc - base) * mult >> 32`.
    Tsc {
        /// TSC at the epoch.
        base: u64,
        /// Nanoseconds per tick, 32.32 fixed point.
        mult: u64,
    },
    /// `CLOCK_MONOTONIC` since the epoch.
    Monotonic(Instant),
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

/// The process's clock, calibrating it on first use (cold: ~20 ms with a TSC). Call it
/// at start-up so no hot thread pays for the calibration.
pub fn clock() -> Clock {
    *CLOCK.get_or_init(calibrate)
}

fn invariant_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
            c.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|l| l.contains(" constant_tsc") && l.contains(" nonstop_tsc"))
        })
}

#[inline(always)]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` has no preconditions; every x86-64 CPU has it.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

fn calibrate() -> Clock {
    if std::env::var_os("MINERVA_CLOCK").is_some_and(|v| v == "monotonic") || !invariant_tsc() {
        return Clock::Monotonic(Instant::now());
    }
    let (t0, c0) = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(20));
    let (t1, c1) = (Instant::now(), rdtsc());
    let ticks = c1.wrapping_sub(c0);
    let ns = (t1 - t0).as_nanos() as u64;
    if ticks == 0 || ns == 0 {
        return Clock::Monotonic(t0);
    }
    Clock::Tsc {
        base: c0,
        mult: ((ns as u128) << 32).div_ceil(ticks as u128) as u64,
    }
}

/// Nanoseconds since the process's clock epoch.
///
/// # Hot path: no allocation, no syscall (after [`clock`] has run).
#[inline]
pub fn now_ns() -> u64 {
    match clock() {
        Clock::Tsc { base, mult } => {
            ((rdtsc().saturating_sub(base) as u128 * mult as u128) >> 32) as u64
        }
        Clock::Monotonic(epoch) => epoch.elapsed().as_nanos() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_monotonic_clock() {
        let (a, t) = (now_ns(), Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let (b, e) = (now_ns(), t.elapsed().as_nanos() as u64);
        assert!(b > a);
        // Within 5 % of CLOCK_MONOTONIC over 30 ms.
        let d = (b - a) as i64 - e as i64;
        assert!(d.unsigned_abs() < e / 20, "clock drift {d} ns over {e} ns");
    }
}
