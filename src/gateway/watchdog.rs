//! The watchdog's rules (`minerva run --watchdog no-data=30s,no-operation=30m,
//! drawdown=5%,reconnects=10`), the seed's "refresh and reset if no operation each 30
//! min" and what a supervisor needs: silence → reconnect and resync; no operation for
//! a period → reconnect, resync and a journal entry; a drawdown over the limit → the
//! kill switch (cancel all, then flatten or hold) and an exit code that says why; too
//! many failed reconnects in a row → a clean stop with a non-zero exit, never an
//! endless loop. Cold: the rules are set at start; the drawdown is checked by the
//! risk manager at each close.

use std::time::Duration;

/// The watchdog's rules; `None` = not watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watchdog {
    /// A live feed silent this long is reconnected and resynchronised.
    pub no_data: Option<Duration>,
    /// No operation sent for this long: reconnect, resync, journal entry.
    pub no_operation: Option<Duration>,
    /// Drawdown from the realised equity's peak that kills, ppm.
    pub drawdown_ppm: Option<u32>,
    /// Failed connection attempts in a row before a clean stop.
    pub reconnects: Option<u32>,
}

/// Why a run stopped on its own, as an exit code a supervisor can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The live feed could not be reached `reconnects` times in a row (exit 3).
    Unreachable,
    /// The drawdown limit turned the kill switch on (exit 4).
    Killed,
}

impl Stop {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            Stop::Unreachable => 3,
            Stop::Killed => 4,
        }
    }
}

fn duration(v: &str) -> Option<Duration> {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = n.parse().ok().filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl Watchdog {
    /// Parses `no-data=30s,no-operation=30m,drawdown=5%,reconnects=10` (any subset;
    /// durations in ms, s, m or h).
    ///
    /// # Errors
    /// A message naming the part that could not be read.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut w = Watchdog::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("watchdog `{part}`: expected RULE=VALUE"))?;
            let bad = |what: &str| format!("watchdog `{part}`: expected {what}");
            match k {
                "no-data" => w.no_data = Some(duration(v).ok_or_else(|| bad("a duration (30s)"))?),
                "no-operation" => {
                    w.no_operation = Some(duration(v).ok_or_else(|| bad("a duration (30m)"))?)
                }
                "drawdown" => {
                    let pct: f64 = v
                        .strip_suffix('%')
                        .and_then(|p| p.parse().ok())
                        .filter(|p: &f64| *p > 0.0 && *p <= 100.0)
                        .ok_or_else(|| bad("a percentage of the peak (5%)"))?;
                    w.drawdown_ppm = Some((pct * 10_000.0).round() as u32);
                }
                "reconnects" => {
                    w.reconnects = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| bad("a positive count"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "watchdog `{k}`: expected no-data, no-operation, drawdown or reconnects"
                    ));
                }
            }
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_written() {
        let w = Watchdog::parse("no-data=30s,no-operation=30m,drawdown=5%,reconnects=10").unwrap();
        assert_eq!(w.no_data, Some(Duration::from_secs(30)));
        assert_eq!(w.no_operation, Some(Duration::from_secs(1800)));
        assert_eq!(w.drawdown_ppm, Some(50_000));
        assert_eq!(w.reconnects, Some(10));
        assert_eq!(
            Watchdog::parse("drawdown=0.5%").unwrap().drawdown_ppm,
            Some(5_000)
        );
        assert_eq!(Watchdog::parse("").unwrap(), Watchdog::default());
        for bad in [
            "drawdown=5",
            "drawdown=0%",
            "no-data=10",
            "reconnects=0",
            "silence=1s",
            "x",
        ] {
            assert!(Watchdog::parse(bad).is_err(), "{bad}");
        }
    }
}
