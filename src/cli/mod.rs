//! The `minerva` command line: one file per command, the argument groups several
//! commands share in [`args`], dates and times in [`time`]. Each command parses its
//! flags into the library's configuration types and calls the library; what it prints
//! is the library's reports.

mod args;
mod backtest;
mod bench;
mod db;
mod evolve;
mod exchange;
mod latency_report;
mod observe;
mod peaks;
mod record;
mod replay;
mod run;
mod signal;
mod time;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "minerva",
    version,
    about = "Low-latency crypto market data, book and trading pipeline for Binance"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay recorded Binance market data through the decoder and book.
    Replay(replay::Args),
    /// Replay recorded data through book → oracle → risk manager and print every
    /// operation it would place and every proposal the risk manager refused.
    Signal(Box<signal::Args>),
    /// Backtest a strategy on recorded data: the pipeline's own stages against the
    /// simulated exchange, then a fitness report (docs/backtest.md).
    Backtest(Box<backtest::Args>),
    /// Evolve a strategy's parameters with a genetic algorithm whose fitness is the
    /// backtest's, on recorded data, checking the best on a holdout window it never
    /// trained on; writes the best strategy file (docs/evolve.md).
    Evolve(Box<evolve::Args>),
    /// Run the pipeline (feed → book + oracle → risk + signed orders) on a source and print
    /// the latency report.
    Run(Box<run::Args>),
    /// Serve recorded data as a local Binance-compatible exchange: WebSocket market
    /// streams and REST market data on 127.0.0.1 (docs/exchange.md).
    Exchange(Box<exchange::Args>),
    /// Compare a live run's journal with the backtest of the market data recorded
    /// during it: operation by operation, real against theoretical (docs/observe.md).
    Observe(Box<observe::Args>),
    /// Record live market streams into a recording database until stopped (or until
    /// the local exchange's recording ends), with a status line (docs/recording.md).
    Record(record::Args),
    /// Recording databases: import recorded files, list what a database holds.
    #[command(subcommand)]
    Db(db::Cmd),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::Cmd),
    /// Print the latency table of an HdrHistogram interval log (`--latency-log`).
    LatencyReport(latency_report::Args),
    /// Peak finder as a filter: JSON lines `{"y":[..],"height":h,"threshold":t,
    /// "distance":d,"prominence":p,"wlen":w}` on stdin (a number is a minimum, `[min,max]`
    /// a range, null or absent = not set) → `{"peaks":[..]}` per line on stdout.
    Peaks,
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Whatever the command could not do, with its context, for `main` to print.
pub fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Replay(a) => replay::run(a),
        Cmd::Signal(a) => signal::run(*a),
        Cmd::Backtest(a) => backtest::run(*a),
        Cmd::Evolve(a) => evolve::run(*a),
        Cmd::Run(a) => run::run(*a),
        Cmd::Exchange(a) => exchange::run(*a),
        Cmd::Record(a) => record::run(a),
        Cmd::Observe(a) => observe::run(*a),
        Cmd::Db(c) => db::run(c),
        Cmd::Bench(c) => bench::run(c),
        Cmd::LatencyReport(a) => latency_report::run(a),
        Cmd::Peaks => peaks::run(),
    }
}
