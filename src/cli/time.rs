//! Dates and times on the command line, read by a time library (jiff): unix
//! milliseconds, or an ISO 8601 / RFC 3339 date and time with an offset (`Z`,
//! `+02:00`) or a time zone (`[Europe/Rome]`); without either, UTC. Impossible dates
//! (2024-02-31) are refused.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A duration in µs (`--period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Microseconds.
    pub us: u64,
}

/// A time as unix ns: unix ms (digits only), or a date and time.
pub fn parse_time_ns(v: &str) -> Result<u64, String> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        let ms: u64 = v.parse().map_err(|_| format!("`{v}` is too large"))?;
        return ms
            .checked_mul(1_000_000)
            .ok_or_else(|| format!("`{v}` is too large"));
    }
    let ts = if v.ends_with(']') {
        v.parse::<Zoned>().map(|z| z.timestamp())
    } else {
        v.parse::<Timestamp>().or_else(|_| {
            v.parse::<DateTime>()
                .and_then(|d| d.to_zoned(TimeZone::UTC))
                .map(|z| z.timestamp())
        })
    }
    .map_err(|e| {
        format!("`{v}`: expected unix ms or a date and time such as 2024-08-09T00:00:00Z ({e})")
    })?;
    u64::try_from(ts.as_nanosecond()).map_err(|_| format!("`{v}` is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets_zones_or_none() {
        let t = 1_723_161_600_000_000_000; // 2024-08-09T00:00:00Z
        assert_eq!(parse_time_ns("1723161600000"), Ok(t));
        assert_eq!(parse_time_ns("2024-08-09T00:00:00Z"), Ok(t));
        assert_eq!(parse_time_ns("2024-08-09 00:00"), Ok(t));
        assert_eq!(parse_time_ns("2024-08-09T00:00:00"), Ok(t));
        assert_eq!(parse_time_ns("2024-08-09T02:00:00+02:00"), Ok(t));
        assert_eq!(parse_time_ns("2024-08-09T02:00[Europe/Rome]"), Ok(t));
        assert_eq!(
            parse_time_ns("2024-08-09T00:00:00.25Z"),
            Ok(t + 250_000_000)
        );
        for bad in [
            "2024-02-31T00:00:00Z",
            "2024-08-09T25:00Z",
            "yesterday",
            "",
            "1969-12-31T00:00:00Z",
        ] {
            assert!(parse_time_ns(bad).is_err(), "{bad}");
        }
    }
}
