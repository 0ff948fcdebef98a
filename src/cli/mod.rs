//! The `minerva` command line: one file per command, the argument groups several
//! commands share in [`args`], dates and times in [`time`]. Each command parses its
//! flags into the library's configuration types and calls the library; what it prints
//! is the library's reports.

mod access;
mod args;
mod backtest;
mod bench;
mod config;
mod db;
mod evolve;
mod exchange;
mod latency_report;
mod observe;
mod peaks;
mod record;
mod replay;
mod report;
mod run;
mod seed;
mod signal;
mod tape;
mod time;
mod view;
mod worker;

use anyhow::{Result, bail};
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
    /// Log level of the cold paths' events (connections, snapshots, orders' answers,
    /// the exchange's sessions): error, warn, info, debug or trace; `MINERVA_LOG`
    /// (a tracing filter such as `minerva=debug`) overrides it.
    #[arg(long, global = true, default_value = "info")]
    log_level: tracing::Level,
    /// Log lines on stderr (the daemon's log file under --daemon): `text` for people,
    /// `json` (one object per line) for log shippers.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Defaults for run, record and exchange, and the key variables per environment
    /// (default: MINERVA_CONFIG, else ./minerva.toml when present); flags given here
    /// win over the file's. `minerva config check` checks one (docs/operations.md).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

/// A command that ended on purpose with an exit code of its own (the watchdog's
/// stops: 3 unreachable, 4 killed), for a supervisor to act on.
#[derive(Debug)]
pub struct Exit {
    /// The process's exit code.
    pub code: u8,
    /// Why, for the operator.
    pub msg: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Exit {}

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the log subscriber: events to stderr, filtered by `MINERVA_LOG` or the
/// level. Secrets never reach it: keys are read from the environment and logged by
/// no one (tests/logs.rs greps a run's logs for them).
fn init_logs(level: tracing::Level, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("MINERVA_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(level.as_str().to_ascii_lowercase()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
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
    /// One machine of an evolution's fleet: claims the candidates `minerva evolve
    /// --fleet postgres://…` publishes, backtests them, writes the outcomes back
    /// (docs/evolve.md, "On a fleet").
    Worker(worker::Args),
    /// Backtest recorded data and write one self-contained HTML page to look at it:
    /// candles with every operation, the book heatmap with the trades, the volume
    /// profile, equity, drawdown and position, the operations and the fitness report
    /// (docs/visualize.md).
    Report(Box<report::Args>),
    /// Watch running pipelines live in the terminal: the book's bins with walls and
    /// voids, pressure, last trades, price, operations with PnL, account, latency per
    /// stage, ring and gap counters; from `minerva run --status PATH` sockets
    /// (`minerva run --view` shows its own run).
    View(view::Args),
    /// Run the pipeline (feed → book + oracle → risk + signed orders) on a source and print
    /// the latency report.
    Run(Box<run::Args>),
    /// Serve recorded data as a local exchange on 127.0.0.1 in its venue's protocol:
    /// Binance's (market streams, REST, signed orders, user data) or KuCoin's (bullet
    /// tokens, WebSocket topics, level-2 snapshots, HF orders, the private order
    /// channel) — docs/exchange.md, docs/kucoin.md.
    Exchange(Box<exchange::Args>),
    /// Compare a live run's journal with the backtest of the market data recorded
    /// during it: operation by operation, real against theoretical (docs/observe.md).
    Observe(Box<observe::Args>),
    /// Record live market streams (Binance's, or KuCoin's with --venue kucoin) into a
    /// recording database until stopped (or until the local exchange's recording
    /// ends), with a status line (docs/recording.md).
    Record(Box<record::Args>),
    /// Recording databases: import recorded files, list what a database holds.
    #[command(subcommand)]
    Db(db::Cmd),
    /// Tapes: recorded data decoded once, for backtests that skip decoding.
    #[command(subcommand)]
    Tape(tape::Cmd),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::Cmd),
    /// Configuration files: `minerva config check` validates one and prints the command
    /// lines it gives (secrets never shown).
    #[command(subcommand)]
    Config(ConfigCmd),
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
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let file = config::find(&mut argv)?;
    let argv = match seed::translate(&argv) {
        Some(Ok(mapped)) => {
            let shown: Vec<String> = mapped[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            eprintln!(
                "minerva: the seed's command line, run as: minerva {}",
                shown.join(" ")
            );
            mapped
        }
        Some(Err(e)) => bail!("the seed's command line: {}", e.0),
        None => argv,
    };
    // The file is read for the commands it configures only: a broken one does not
    // stop `minerva backtest`.
    let argv = match (&file, config::Config::command_of(&argv)) {
        (Some(f), Some(cmd)) => {
            let c = config::load(f)?;
            let applied = c.apply(argv);
            eprintln!(
                "minerva: {cmd} with the defaults of {} (minerva config check shows them)",
                f.display()
            );
            applied
        }
        _ => argv,
    };
    let cli = Cli::parse_from(argv);
    init_logs(cli.log_level, cli.log_format);
    match cli.cmd {
        Cmd::Replay(a) => replay::run(a),
        Cmd::Signal(a) => signal::run(*a),
        Cmd::Backtest(a) => backtest::run(*a),
        Cmd::Evolve(a) => evolve::run(*a),
        Cmd::Worker(a) => worker::run(a),
        Cmd::Report(a) => report::run(*a),
        Cmd::View(a) => view::run(a),
        Cmd::Run(a) => run::run(*a),
        Cmd::Exchange(a) => exchange::run(*a),
        Cmd::Record(a) => record::run(*a),
        Cmd::Observe(a) => observe::run(*a),
        Cmd::Db(c) => db::run(c),
        Cmd::Tape(c) => tape::run(c),
        Cmd::Bench(c) => bench::run(c),
        Cmd::Config(ConfigCmd::Check) => check_config(file.as_deref()),
        Cmd::LatencyReport(a) => latency_report::run(a),
        Cmd::Peaks => peaks::run(),
    }
}

/// `minerva config …`.
#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a configuration file (--config F, MINERVA_CONFIG or ./minerva.toml)
    /// and print the command lines it gives and which key variables are set (never a
    /// value).
    Check,
}

fn check_config(file: Option<&std::path::Path>) -> Result<()> {
    let Some(path) = file else {
        bail!("no configuration file: give --config FILE (or MINERVA_CONFIG, or ./minerva.toml)");
    };
    let c = config::load(path)?;
    c.check()?;
    print!("{}", c.describe());
    Ok(())
}
