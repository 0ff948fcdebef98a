//! `minerva latency-report`: the latency table of an HdrHistogram interval log.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// `minerva latency-report`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The `.hlog` file (`minerva run --latency-log`).
    file: PathBuf,
}

/// Runs `minerva latency-report`.
pub fn run(a: Args) -> Result<()> {
    let logs =
        minerva::telemetry::read_log(&a.file).with_context(|| format!("{}", a.file.display()))?;
    if logs.is_empty() {
        bail!("{}: no histograms in the log", a.file.display());
    }
    print!(
        "{}",
        minerva::telemetry::table(logs.iter().map(|(k, h)| (k.as_str(), h)))
    );
    Ok(())
}
