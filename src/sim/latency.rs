//! Latency models: how late the strategy sees the market, how long an order takes to
//! reach the matching engine, and how long its report takes to come back.
//!
//! Every delay is in exchange microseconds and drawn from a seeded generator, so a run
//! is reproducible (`--seed`).

use std::fmt;

/// One delay: constant or drawn from a distribution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Delay {
    /// Always `µs`.
    Const(u64),
    /// Uniform in `[lo, hi]` µs.
    Uniform {
        /// Lower bound, µs.
        lo: u64,
        /// Upper bound, µs.
        hi: u64,
    },
    /// Log-normal with this median (µs) and shape σ: the long right tail that network
    /// and matching-engine delays show.
    LogNormal {
        /// Median, µs.
        median: u64,
        /// σ of the underlying normal.
        sigma: f64,
    },
    /// The feed delay the recording shows (backtests only): each event's local receive
    /// time minus its exchange time, less the smallest such difference seen so far (the
    /// two clocks' offset, taking the fastest message as instant), plus `base` µs.
    Recorded {
        /// Added to every delay, µs (the path's floor the offset estimate removes).
        base: u64,
    },
}

impl Default for Delay {
    fn default() -> Self {
        Delay::Const(0)
    }
}

impl Delay {
    /// One draw, µs.
    #[inline]
    pub fn sample(&self, rng: &mut fastrand::Rng) -> u64 {
        match *self {
            Delay::Const(us) => us,
            Delay::Uniform { lo, hi } => rng.u64(lo..=hi),
            Delay::LogNormal { median, sigma } => {
                // Box-Muller: one standard normal from two uniforms in (0, 1].
                let u1 = 1.0 - rng.f64();
                let u2 = rng.f64();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (median as f64 * (sigma * z).exp()).min(3.6e9) as u64
            }
            // Without an event to read it from, only the floor is known.
            Delay::Recorded { base } => base,
        }
    }

    /// Parses `250us`, `1.5ms`, `2s`, `uniform:1ms..3ms`, `lognormal:2ms:0.5`,
    /// `recorded` or `recorded+1ms`.
    ///
    /// # Errors
    /// A message naming what could not be read.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "recorded" {
            return Ok(Delay::Recorded { base: 0 });
        }
        if let Some(b) = s.strip_prefix("recorded+") {
            return Ok(Delay::Recorded { base: delay_us(b)? });
        }
        if let Some(r) = s.strip_prefix("uniform:") {
            let (lo, hi) = r
                .split_once("..")
                .ok_or_else(|| format!("`{s}`: expected uniform:LO..HI"))?;
            let (lo, hi) = (delay_us(lo)?, delay_us(hi)?);
            if lo > hi {
                return Err(format!("`{s}`: the lower bound is above the upper one"));
            }
            return Ok(Delay::Uniform { lo, hi });
        }
        if let Some(r) = s.strip_prefix("lognormal:") {
            let (m, sigma) = r
                .split_once(':')
                .ok_or_else(|| format!("`{s}`: expected lognormal:MEDIAN:SIGMA"))?;
            let sigma: f64 = sigma
                .parse()
                .map_err(|_| format!("`{s}`: σ `{sigma}` is not a number"))?;
            if !(0.0..=5.0).contains(&sigma) {
                return Err(format!("`{s}`: σ must be in 0..=5"));
            }
            return Ok(Delay::LogNormal {
                median: delay_us(m)?,
                sigma,
            });
        }
        delay_us(s).map(Delay::Const)
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::Const(us) => write!(f, "{us}us"),
            Delay::Uniform { lo, hi } => write!(f, "uniform:{lo}us..{hi}us"),
            Delay::LogNormal { median, sigma } => write!(f, "lognormal:{median}us:{sigma}"),
            Delay::Recorded { base } => write!(f, "recorded+{base}us"),
        }
    }
}

/// A duration with its unit (`us`, `ms`, `s`, `m`, `h`; a bare number is µs), in µs,
/// up to 30 days.
///
/// # Errors
/// A message naming the text that is not a duration.
pub fn duration_us(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600e6)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 250us, 1.5ms, 2s, 1m)"))?;
    if !(0.0..=2.592e12).contains(&(v * scale)) {
        return Err(format!("`{s}`: a duration must be between 0 and 30 days"));
    }
    Ok((v * scale).round() as u64)
}

/// A delay's duration: at most an hour.
fn delay_us(s: &str) -> Result<u64, String> {
    let us = duration_us(s)?;
    if us > 3_600_000_000 {
        return Err(format!("`{s}`: a delay must be at most 1 hour"));
    }
    Ok(us)
}

/// The three delays of a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct LatencyModel {
    /// Exchange event → the strategy sees it.
    pub feed: Delay,
    /// Order sent → it reaches the matching engine.
    pub order: Delay,
    /// The engine reports → the strategy hears of it.
    pub response: Delay,
}

impl LatencyModel {
    /// Parses `order=1ms,response=1ms,feed=500us`; a bare delay (`2ms`) sets order and
    /// response alike. Unnamed parts stay 0.
    ///
    /// # Errors
    /// A message naming the part that could not be read.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut m = LatencyModel::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("feed", v)) => m.feed = Delay::parse(v)?,
                Some(("order", v)) => m.order = Delay::parse(v)?,
                Some(("response", v)) => m.response = Delay::parse(v)?,
                Some((k, _)) => {
                    return Err(format!(
                        "latency part `{k}`: expected feed, order or response"
                    ));
                }
                None => {
                    let d = Delay::parse(part)?;
                    m.order = d;
                    m.response = d;
                }
            }
        }
        Ok(m)
    }
}

impl fmt::Display for LatencyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feed={},order={},response={}",
            self.feed, self.order, self.response
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_draws_reproducibly() {
        let m = LatencyModel::parse("order=1.5ms,response=uniform:100us..300us,feed=2").unwrap();
        assert_eq!(m.order, Delay::Const(1_500));
        assert_eq!(m.feed, Delay::Const(2));
        let mut a = fastrand::Rng::with_seed(7);
        let mut b = fastrand::Rng::with_seed(7);
        for _ in 0..1000 {
            let x = m.response.sample(&mut a);
            assert!((100..=300).contains(&x));
            assert_eq!(x, m.response.sample(&mut b));
        }
        let ln = Delay::parse("lognormal:2ms:0.5").unwrap();
        let mut v: Vec<u64> = (0..10_001).map(|_| ln.sample(&mut a)).collect();
        v.sort_unstable();
        let median = v[5_000] as f64;
        assert!((1_850.0..2_150.0).contains(&median), "{median}");
        assert_eq!(
            LatencyModel::parse("3ms").unwrap().response,
            Delay::Const(3_000)
        );
        assert!(LatencyModel::parse("order=fast").is_err());
        assert!(LatencyModel::parse("wire=1ms").is_err());
        assert!(Delay::parse("uniform:3ms..1ms").is_err());
        assert!(Delay::parse("-1ms").is_err());
        assert_eq!(
            Delay::parse("recorded").unwrap(),
            Delay::Recorded { base: 0 }
        );
        assert_eq!(
            Delay::parse("recorded+2ms").unwrap().to_string(),
            "recorded+2000us"
        );
    }
}
