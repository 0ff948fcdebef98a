//! Latency histograms: recorded on the hot path without allocation, reported as a table
//! (p50, p90, p99, p99.9, p99.99, max, count) and written as HdrHistogram interval logs
//! (`.hlog`, the format HdrHistogram's plotting tools read).

pub mod prometheus;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Longest latency a histogram holds: 60 s in ns. Larger values are clamped and counted.
pub const MAX_NS: u64 = 60_000_000_000;

/// Why a log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// File error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not an HdrHistogram interval log, or a histogram in it is damaged.
    #[error("bad interval log: {0}")]
    Format(String),
}

/// One latency series (a stage's service time, a queueing delay, tick-to-trade, …).
#[derive(Debug, Clone)]
pub struct Latency {
    name: &'static str,
    hist: Histogram<u64>,
    /// Values above [`MAX_NS`], recorded as [`MAX_NS`].
    pub clamped: u64,
    /// Recording switched off (a backtest does not time itself).
    off: bool,
}

impl Latency {
    /// An empty series, allocated now (1 ns to 60 s, 3 significant digits); recording
    /// never allocates.
    pub fn new(name: &'static str) -> Self {
        let mut hist = Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid static bounds");
        hist.auto(false);
        Self {
            name,
            hist,
            clamped: 0,
            off: false,
        }
    }

    /// A series that records nothing and holds no histogram worth the name: a stage
    /// that nobody times (a backtest) should not zero forty 190 KB histograms per run.
    /// [`Self::set_off`]`(false)` gives it its full histogram (cold).
    pub fn off(name: &'static str) -> Self {
        let hist = Histogram::new_with_bounds(1, 2, 0).expect("valid static bounds");
        Self {
            name,
            hist,
            clamped: 0,
            off: true,
        }
    }

    /// Switches recording off, or back on (allocating the full histogram of a series
    /// made by [`Self::off`]: cold, before the hot path starts).
    pub fn set_off(&mut self, off: bool) {
        if !off && self.hist.high() < MAX_NS {
            self.hist = Self::new(self.name).hist;
        }
        self.off = off;
    }

    /// Maps every page of the histogram now (its counts are zeroed in place, which
    /// writes them all), not on the first value recorded in each of its ranges. Cold.
    pub fn prefault(&mut self) {
        if self.hist.is_empty() {
            self.hist.clear();
        }
    }

    /// Records one latency in ns.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        if self.off {
            return;
        }
        let v = if ns > MAX_NS {
            self.clamped += 1;
            MAX_NS
        } else {
            ns.max(1)
        };
        // In bounds by construction, so this cannot fail.
        let _ = self.hist.record(v);
    }

    /// The series' name (the log tag).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Recorded values.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Merges another series into this one.
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.hist.add(&other.hist);
        self.clamped += other.clamped;
    }

    /// Removes an earlier snapshot's counts (what was recorded since). Cold.
    pub fn subtract(&mut self, earlier: &Latency) {
        let _ = self.hist.subtract(&earlier.hist);
        self.clamped = self.clamped.saturating_sub(earlier.clamped);
    }

    /// Empties the series (after an interval was logged).
    pub fn reset(&mut self) {
        self.hist.reset();
        self.clamped = 0;
    }

    /// The underlying histogram.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// Percentiles of the report.
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
];

fn fmt_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// A table of percentiles, one row per histogram.
pub fn table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Histogram<u64>)>) -> String {
    let mut o = String::new();
    let _ = write!(o, "{:<22}", "latency");
    for (p, _) in PERCENTILES {
        let _ = write!(o, "{p:>11}");
    }
    let _ = writeln!(o, "{:>11}{:>12}", "max", "count");
    for (name, h) in rows {
        let _ = write!(o, "{name:<22}");
        for (_, q) in PERCENTILES {
            let v = if h.is_empty() {
                "-".into()
            } else {
                fmt_ns(h.value_at_quantile(q / 100.0))
            };
            let _ = write!(o, "{v:>11}");
        }
        let max = if h.is_empty() {
            "-".into()
        } else {
            fmt_ns(h.max())
        };
        let _ = writeln!(o, "{max:>11}{:>12}", h.len());
    }
    o
}

/// Writes each series as one interval of an HdrHistogram interval log.
///
/// # Errors
/// [`TelemetryError`] when the file cannot be written.
pub fn write_log(
    path: &Path,
    series: &[&Latency],
    start: SystemTime,
    elapsed: Duration,
) -> Result<(), TelemetryError> {
    let mut log = IntervalLog::create(path, start)?;
    log.append(
        series.iter().map(|s| (s.name(), s.histogram())),
        Duration::ZERO,
        elapsed,
    )?;
    log.flush()
}

/// An HdrHistogram interval log written as a run goes: a header once, then a tagged
/// interval per series at every report, so a long run can be plotted over time.
pub struct IntervalLog {
    file: std::io::BufWriter<std::fs::File>,
    ser: V2DeflateSerializer,
}

impl IntervalLog {
    /// Creates `path` and writes the header (start time, legend).
    ///
    /// # Errors
    /// [`TelemetryError`] when the file cannot be written.
    pub fn create(path: &Path, start: SystemTime) -> Result<Self, TelemetryError> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut ser = V2DeflateSerializer::new();
        let w = IntervalLogWriterBuilder::new()
            .add_comment("minerva latency log; values in ns")
            .with_start_time(start)
            .begin_log_with(&mut file, &mut ser)
            .map_err(TelemetryError::Io)?;
        drop(w);
        Ok(Self { file, ser })
    }

    /// Appends one interval (`from` after the start, `len` long) for each series.
    ///
    /// # Errors
    /// [`TelemetryError`] when the file cannot be written.
    pub fn append<'a>(
        &mut self,
        series: impl IntoIterator<Item = (&'a str, &'a Histogram<u64>)>,
        from: Duration,
        len: Duration,
    ) -> Result<(), TelemetryError> {
        // The writer repeats its header; keep only the interval lines it produces.
        let mut buf = Vec::new();
        {
            let mut w = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut buf, &mut self.ser)
                .map_err(TelemetryError::Io)?;
            for (name, h) in series {
                let tag = Tag::new(name)
                    .ok_or_else(|| TelemetryError::Format(format!("bad tag {name}")))?;
                w.write_histogram(h, from, len, Some(tag))
                    .map_err(|e| TelemetryError::Format(e.to_string()))?;
            }
        }
        use std::io::Write;
        for line in buf.split_inclusive(|&c| c == b'\n') {
            if line.starts_with(b"Tag=") {
                self.file.write_all(line)?;
            }
        }
        Ok(())
    }

    /// Flushes to disk.
    ///
    /// # Errors
    /// [`TelemetryError`] when the file cannot be written.
    pub fn flush(&mut self) -> Result<(), TelemetryError> {
        use std::io::Write;
        self.file.flush()?;
        Ok(())
    }
}

/// Reads an interval log and merges the intervals of each tag (untagged: `""`).
///
/// # Errors
/// [`TelemetryError`] for an unreadable file or a damaged log.
pub fn read_log(path: &Path) -> Result<BTreeMap<String, Histogram<u64>>, TelemetryError> {
    let bytes = std::fs::read(path)?;
    let mut out: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| TelemetryError::Format(format!("{e:?}")))?;
        if let LogEntry::Interval(h) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .map_err(|e| TelemetryError::Format(e.to_string()))?;
            let hist: Histogram<u64> = de
                .deserialize(&mut std::io::Cursor::new(raw))
                .map_err(|e| TelemetryError::Format(format!("{e:?}")))?;
            let tag = h.tag().map_or(String::new(), |t| t.as_str().to_string());
            match out.get_mut(&tag) {
                Some(acc) => acc
                    .add(&hist)
                    .map_err(|e| TelemetryError::Format(format!("{e:?}")))?,
                None => {
                    out.insert(tag, hist);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_reports_and_round_trips_a_log() {
        let mut a = Latency::new("decode_book");
        for v in 1..=10_000u64 {
            a.record(v * 100);
        }
        a.record(u64::MAX);
        assert_eq!((a.count(), a.clamped), (10_001, 1));
        let t = table([(a.name(), a.histogram())]);
        assert!(
            t.contains("decode_book") && t.contains("p99.99") && t.contains("10001"),
            "{t}"
        );
        let dir = tempfile::Builder::new()
            .prefix("minerva-hlog-")
            .tempdir()
            .unwrap();
        let p = dir.path().join("latency.hlog");
        write_log(
            &p,
            &[&a],
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_secs(1),
        )
        .unwrap();
        let back = read_log(&p).unwrap();
        let h = &back["decode_book"];
        assert_eq!(h.len(), a.count());
        assert_eq!(
            h.value_at_quantile(0.5),
            a.histogram().value_at_quantile(0.5)
        );
        assert!(read_log(&dir.path().join("no-such-file.hlog")).is_err());
    }

    /// A series made off records nothing; switched on, it holds the full range.
    #[test]
    fn an_off_series_gets_its_histogram_when_switched_on() {
        let mut a = Latency::off("book");
        a.record(5_000);
        assert_eq!(a.count(), 0);
        assert!(a.histogram().high() < MAX_NS);
        a.set_off(false);
        assert!(a.histogram().high() >= MAX_NS);
        a.record(5_000);
        a.record(MAX_NS);
        assert_eq!((a.count(), a.clamped), (2, 0));
        assert!(a.histogram().max() >= MAX_NS);
    }
}
