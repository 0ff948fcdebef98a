//! `minerva peaks`: the peak finder as a filter (the seed's SciPy `find_peaks` call),
//! JSON lines in, JSON lines out.

use anyhow::{Context, Result, bail};
use minerva::signal::peaks::{Interval, PeakParams, find_peaks};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// A bound as SciPy takes it: a number is a minimum, `[min, max]` a range with either
/// end `null`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Bound {
    Min(f64),
    Range([Option<f64>; 2]),
}

impl Bound {
    fn interval(self) -> Interval<f64> {
        match self {
            Bound::Min(m) => Interval::at_least(m),
            Bound::Range([min, max]) => Interval { min, max },
        }
    }

    fn finite(&self) -> bool {
        match self {
            Bound::Min(m) => m.is_finite(),
            Bound::Range(r) => r.iter().flatten().all(|v| v.is_finite()),
        }
    }
}

/// One request line: `{"y":[..],"height":h,"threshold":t,"distance":d,"prominence":p,"wlen":w}`.
#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    y: Vec<f64>,
    height: Option<Bound>,
    threshold: Option<Bound>,
    distance: Option<f64>,
    prominence: Option<Bound>,
    wlen: Option<f64>,
}

#[derive(Serialize)]
enum Answer {
    #[serde(rename = "peaks")]
    Peaks(Vec<usize>),
    #[serde(rename = "error")]
    Error(String),
}

/// One `minerva peaks` request.
fn peaks_line(line: &str) -> Result<Vec<usize>> {
    let r: Request = sonic_rs::from_str(line).context("not a request object")?;
    if !r.y.iter().all(|v| v.is_finite()) {
        bail!("`y` must hold finite numbers");
    }
    for (k, b) in [
        ("height", &r.height),
        ("threshold", &r.threshold),
        ("prominence", &r.prominence),
    ] {
        if b.as_ref().is_some_and(|b| !b.finite()) {
            bail!("`{k}` must hold finite numbers");
        }
    }
    for (k, v) in [("distance", r.distance), ("wlen", r.wlen)] {
        if v.is_some_and(|v| !v.is_finite()) {
            bail!("`{k}` must be a finite number");
        }
    }
    let p = PeakParams {
        height: r.height.map(Bound::interval),
        threshold: r.threshold.map(Bound::interval),
        distance: r.distance,
        prominence: r.prominence.map(Bound::interval),
        wlen: r.wlen,
    };
    Ok(find_peaks(&r.y, &p)?)
}

/// Runs `minerva peaks`: every line answered, a bad one with `{"error":…}`; the exit
/// status says whether any line could not be read.
pub fn run() -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match peaks_line(&line) {
            Ok(p) => Answer::Peaks(p),
            Err(e) => {
                failed += 1;
                Answer::Error(format!("line {}: {e:#}", i + 1))
            }
        };
        writeln!(out, "{}", sonic_rs::to_string(&answer)?)?;
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} input line(s) could not be read");
    }
    Ok(())
}
