//! `minerva peaks`: the peak finder as a filter (the seed's SciPy `find_peaks` call),
//! JSON lines in, JSON lines out.

use anyhow::{Context, Result, bail};
use minerva::signal::peak_request;
use minerva::signal::peaks::find_peaks;
use serde::Serialize;
use std::io::{BufRead, Write};

#[derive(Serialize)]
enum Answer {
    #[serde(rename = "peaks")]
    Peaks(Vec<usize>),
    #[serde(rename = "error")]
    Error(String),
}

/// One `minerva peaks` request.
fn peaks_line(line: &str) -> Result<Vec<usize>> {
    let r = peak_request::parse(line)?;
    Ok(find_peaks(&r.y, &r.params)?)
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
