//! `minerva tape`: a recording decoded once into a tape file, which `backtest` reads
//! without decoding JSON again (`src/backtest/tape/file.rs`).

use super::args::RecordedData;
use super::backtest::symbol_data;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use minerva::backtest::tape::Tape;
use minerva::replay::{self, ReplayOptions};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Cmd {
    /// Decode recorded data once into a tape file (versioned, checksummed, on the
    /// symbol's grid), for `minerva backtest T.tape`.
    Build(BuildArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    data: RecordedData,
    /// The symbol to decode (needed when the data holds several).
    #[arg(long)]
    symbol: Option<String>,
    /// The tape file to write.
    #[arg(long)]
    out: PathBuf,
}

/// A tape given as the input (one file that is a tape), read with its spec; `None`
/// for recorded files. Several files mixing a tape are refused.
///
/// # Errors
/// An unreadable or refused tape, or a tape among other files.
pub fn tape_input(files: &[PathBuf]) -> Result<Option<(Tape, minerva::core::SymbolSpec)>> {
    match files {
        [one] if Tape::is_tape_file(one) => Ok(Some(
            Tape::load(one, None).with_context(|| one.display().to_string())?,
        )),
        many if many.iter().any(|f| Tape::is_tape_file(f)) => {
            bail!("a tape is read alone: give one tape, or the recorded files")
        }
        _ => Ok(None),
    }
}

/// The tape's spec when it holds `symbol`; a clear refusal when it holds another.
///
/// # Errors
/// The tape holds another symbol.
pub fn tape_spec<'a>(
    tape: &'a (Tape, minerva::core::SymbolSpec),
    symbol: &str,
) -> Result<&'a minerva::core::SymbolSpec> {
    if tape.1.name.as_str() != symbol {
        bail!("the tape holds {}, not {symbol}", tape.1.name)
    }
    Ok(&tape.1)
}

/// Runs `minerva tape`.
pub fn run(c: Cmd) -> Result<()> {
    match c {
        Cmd::Build(a) => build(a),
    }
}

fn build(a: BuildArgs) -> Result<()> {
    let files = a.data.files()?;
    if files.iter().any(|f| Tape::is_tape_file(f)) {
        bail!("the input is a tape already: give the recorded files it came from");
    }
    let opts = ReplayOptions {
        market: a.data.grids.data_market,
        exchange_info: a.data.grids.exchange_info.clone(),
        symbol: a.symbol.clone(),
        ..Default::default()
    };
    build_tape(&files, opts, &a.out)
}

/// Decodes `files` (recorded files, or a database's sessions) once into the tape
/// `out`: `tape build`, and `db import --tape`.
///
/// # Errors
/// Several symbols and none named, data that does not decode, a file not written.
pub fn build_tape(files: &[PathBuf], mut opts: ReplayOptions, out: &std::path::Path) -> Result<()> {
    if opts.symbol.is_none() {
        let table = replay::symbol_table(files, &opts)?;
        match table.specs() {
            [one] => opts.symbol = Some(one.name.to_string()),
            many => bail!(
                "the data holds {} symbols ({}): name one with --symbol",
                many.len(),
                many.iter()
                    .map(|s| s.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let (spec, frames) = symbol_data(files, 1, &opts)?;
    let started = std::time::Instant::now();
    let tape = Tape::record(&frames, &spec);
    tape.save(&spec, out)
        .with_context(|| format!("writing {}", out.display()))?;
    let bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    println!(
        "tape {} ({} {}): {} messages from {} frames ({} undecodable, {} tickers and candles left out), {:.1} MB, in {:.3} s → {}",
        spec.name,
        spec.venue.name(),
        spec.market.name(),
        tape.len(),
        tape.frames,
        tape.decode_errors,
        tape.dropped,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
