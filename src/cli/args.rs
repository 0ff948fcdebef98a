//! Argument groups several commands share, declared once and flattened where used
//! (`#[command(flatten)]`): the recorded data, the strategy with its overrides, the
//! simulated exchange's models, the backtest window, the daemon's files.

use super::time::{Duration, parse_time_ns};
use anyhow::{Context, Result, bail};
use clap::Args;
use minerva::backtest::BacktestConfig;
use minerva::backtest::fitness::Objective;
use minerva::core::Market;
use minerva::replay::ReplayOptions;
use minerva::sim::SimOptions;
use minerva::sim::latency::LatencyModel;
use minerva::sim::queue::QueueModel;
use minerva::strategy::Strategy;
use std::path::{Path, PathBuf};

/// Every strategy key can be set on the command line; the list for `--help`.
pub const OVERRIDES_HELP: &str = "Every strategy key can be overridden with the flag of the same name: --capital, --limit-orderbook, --relative-threshold, --short-pressure, --long-pressure, --max-concurrent-trades, --peak-distance-divisor, --stop-loss-price-buffer, --percentage-per-trade, --maker-fee, --taker-fee, --max-leverage, --bin-ticks, --bins, --volume-window-secs, --max-capital-in-use, --daily-loss-limit, --similar-entry-ticks (docs/strategy.md).";

/// The grids of recorded data, when the data does not say.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Recorded data")]
pub struct MarketData {
    /// REST exchangeInfo response with the symbols' filters (tick, lot step, minimums).
    #[arg(long)]
    pub exchange_info: Option<PathBuf>,
    /// The market, when not detected from the data.
    #[arg(long, value_enum)]
    pub data_market: Option<Market>,
}

/// Recorded data to run on: files or databases, and their grids when they do not say.
#[derive(Args, Clone, Debug)]
pub struct RecordedData {
    /// Recorded files of one session in order (hftbacktest `.gz`/plain, cryptofeed
    /// captures, JSON lines), or recording databases; with --symbols, the files of
    /// every symbol. `backtest` and `evolve` also take one tape (`minerva tape build`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    pub grids: MarketData,
}

impl RecordedData {
    /// The files, a database standing for its sessions.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        Ok(minerva::store::expand(&self.files)?)
    }
}

/// A strategy file and the command line's overrides of its keys.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Strategy")]
pub struct StrategyArgs {
    /// Strategy file (TOML, see docs/strategy.md).
    #[arg(long)]
    pub strategy: PathBuf,
    #[command(flatten)]
    pub overrides: StrategyOverrides,
}

impl StrategyArgs {
    /// The strategy file with the overrides applied.
    pub fn load(&self) -> Result<Strategy> {
        load_strategy(&self.strategy, &self.overrides)
    }
}

/// A strategy file with `overrides` applied.
pub fn load_strategy(path: &Path, overrides: &StrategyOverrides) -> Result<Strategy> {
    Strategy::load(path, &overrides.pairs()).with_context(|| format!("strategy {}", path.display()))
}

/// Replay options that follow `strategy`'s symbol on `data`'s grids.
pub fn strategy_replay(strategy: &Strategy, data: &MarketData) -> ReplayOptions {
    ReplayOptions {
        market: data.data_market,
        symbol: Some(strategy.market.clone()),
        exchange_info: data.exchange_info.clone(),
        ..Default::default()
    }
}

/// Every strategy key as a flag of the same name; a flag wins over the file.
#[derive(Args, Default, Clone, Debug)]
#[command(next_help_heading = "Strategy")]
pub struct StrategyOverrides {
    /// Symbol traded (the strategy's `market` key).
    #[arg(long)]
    pub market: Option<String>,
    #[arg(long, hide = true)]
    capital: Option<String>,
    #[arg(long, hide = true)]
    limit_orderbook: Option<String>,
    #[arg(long, hide = true)]
    relative_threshold: Option<String>,
    #[arg(long, hide = true)]
    short_pressure: Option<String>,
    #[arg(long, hide = true)]
    long_pressure: Option<String>,
    #[arg(long, hide = true)]
    max_concurrent_trades: Option<String>,
    #[arg(long, hide = true)]
    peak_distance_divisor: Option<String>,
    #[arg(long, hide = true)]
    stop_loss_price_buffer: Option<String>,
    #[arg(long, hide = true)]
    percentage_per_trade: Option<String>,
    #[arg(long, hide = true, allow_negative_numbers = true)]
    maker_fee: Option<String>,
    #[arg(long, hide = true)]
    taker_fee: Option<String>,
    #[arg(long, hide = true)]
    max_leverage: Option<String>,
    #[arg(long, hide = true)]
    bin_ticks: Option<String>,
    #[arg(long, hide = true)]
    bins: Option<String>,
    #[arg(long, hide = true)]
    volume_window_secs: Option<String>,
    #[arg(long, hide = true)]
    max_capital_in_use: Option<String>,
    #[arg(long, hide = true)]
    daily_loss_limit: Option<String>,
    #[arg(long, hide = true)]
    similar_entry_ticks: Option<String>,
    #[arg(long, hide = true, allow_negative_numbers = true)]
    void_height: Option<String>,
    #[arg(long, hide = true)]
    void_prominence: Option<String>,
}

impl StrategyOverrides {
    /// `(key, value)` pairs in the strategy file's key names.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let all = [
            ("market", &self.market),
            ("capital", &self.capital),
            ("limit_orderbook", &self.limit_orderbook),
            ("relative_threshold", &self.relative_threshold),
            ("short_pressure", &self.short_pressure),
            ("long_pressure", &self.long_pressure),
            ("max_concurrent_trades", &self.max_concurrent_trades),
            ("peak_distance_divisor", &self.peak_distance_divisor),
            ("stop_loss_price_buffer", &self.stop_loss_price_buffer),
            ("percentage_per_trade", &self.percentage_per_trade),
            ("maker_fee", &self.maker_fee),
            ("taker_fee", &self.taker_fee),
            ("max_leverage", &self.max_leverage),
            ("bin_ticks", &self.bin_ticks),
            ("bins", &self.bins),
            ("volume_window_secs", &self.volume_window_secs),
            ("max_capital_in_use", &self.max_capital_in_use),
            ("daily_loss_limit", &self.daily_loss_limit),
            ("similar_entry_ticks", &self.similar_entry_ticks),
            ("void_height", &self.void_height),
            ("void_prominence", &self.void_prominence),
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect()
    }
}

/// The simulated exchange's models (docs/backtest.md).
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Simulated exchange (docs/backtest.md)")]
pub struct ModelArgs {
    /// Latency: `order=…,response=…,feed=…` or one delay for order and response; a
    /// delay is `250us`, `1.5ms`, `uniform:1ms..3ms` or `lognormal:2ms:0.5`.
    #[arg(long, default_value = "5ms", value_parser = LatencyModel::parse)]
    pub latency: LatencyModel,
    /// Queue position model: through, risk-averse, power:N or log.
    #[arg(long, default_value = "risk-averse", value_parser = QueueModel::parse)]
    pub queue: QueueModel,
    /// Fees charged by the exchange, e.g. maker=0.0002,taker=0.0005 (default: the
    /// strategy's).
    #[arg(long, value_parser = parse_fees)]
    pub fees: Option<(i64, i64)>,
    /// Futures maintenance margin rate (default 0.004).
    #[arg(long, value_parser = |v: &str| parse_rate("--maintenance-margin", v))]
    pub maintenance_margin: Option<i64>,
    /// Seed of the latency draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ModelArgs {
    /// The simulated exchange's options.
    pub fn options(&self) -> SimOptions {
        SimOptions {
            latency: self.latency,
            queue: self.queue,
            fees: self.fees,
            maintenance_ppm: self.maintenance_margin.map(|m| (m / 100) as u32),
            seed: self.seed,
        }
    }
}

/// How each backtest runs: the simulated exchange, the window, the fitness.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Window and fitness")]
pub struct WindowArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Trade from this time (recorded time: unix ms, or a date and time such as
    /// 2024-08-09T00:00:00Z, 2024-08-09 02:00+02:00 or 2024-08-09T02:00[Europe/Rome];
    /// without a zone, UTC); earlier data only warms the book up.
    #[arg(long, value_parser = parse_time_ns)]
    pub from: Option<u64>,
    /// Stop after this time (same forms as --from).
    #[arg(long, value_parser = parse_time_ns)]
    pub to: Option<u64>,
    /// Equity sampling period for per-period returns (e.g. 1s, 1m, 1h).
    #[arg(long, default_value = "1m", value_parser = parse_period)]
    pub period: Duration,
    /// The fitness: pnl-dd[:LAMBDA] (net PnL − λ × max drawdown, the default), pnl,
    /// return, sharpe, sortino or profit-factor.
    #[arg(long, default_value = "pnl-dd:1", value_parser = Objective::parse)]
    pub fitness: Objective,
}

impl WindowArgs {
    /// The backtest's configuration.
    pub fn config(&self) -> BacktestConfig {
        BacktestConfig {
            sim: self.model.options(),
            period_us: self.period.us,
            from_ns: self.from,
            to_ns: self.to,
            objective: self.fitness,
        }
    }
}

/// `--period`: a duration from 1 ms to 30 days.
pub fn parse_period(v: &str) -> Result<Duration, String> {
    match minerva::sim::latency::duration_us(v) {
        Ok(us) if us >= 1_000 => Ok(Duration { us }),
        _ => Err(format!(
            "`{v}`: expected a duration from 1ms to 30 days (1s, 1m, 1h)"
        )),
    }
}

/// A rate such as `0.0002` (10⁻⁸ units), between 0 and 0.1.
pub fn parse_rate(name: &str, v: &str) -> Result<i64, String> {
    let r = minerva::core::decimal::parse_scaled(v.trim().as_bytes(), 8)
        .map_err(|e| format!("{name} `{v}`: {e}"))?;
    if !(0..=10_000_000).contains(&r) {
        return Err(format!("{name} `{v}`: expected a rate between 0 and 0.1"));
    }
    Ok(r)
}

/// `maker=R,taker=R` → (maker, taker), 10⁻⁸ units.
pub fn parse_fees(f: &str) -> Result<(i64, i64), String> {
    let (mut maker, mut taker) = (None, None);
    for part in f.split(',') {
        match part.split_once('=') {
            Some(("maker", v)) => maker = Some(parse_rate("--fees maker", v)?),
            Some(("taker", v)) => taker = Some(parse_rate("--fees taker", v)?),
            _ => return Err(format!("`{f}`: expected maker=RATE,taker=RATE")),
        }
    }
    match (maker, taker) {
        (Some(m), Some(t)) => Ok((m, t)),
        _ => Err(format!("`{f}`: give both maker= and taker=")),
    }
}

/// A replay's pace: as fast as possible, or a multiple of real time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub Option<f64>);

/// `max` or a positive multiple of real time.
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    match s {
        "max" => Ok(Speed(None)),
        s => s
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && v.is_finite())
            .map(|v| Speed(Some(v)))
            .ok_or_else(|| format!("`{s}`: max or a positive number")),
    }
}

/// `A,B,…` upper-cased; the strategy's market when absent.
pub fn symbol_list(list: Option<&str>, strategy: &Strategy) -> Result<Vec<String>> {
    let symbols: Vec<String> = match list {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
        None => vec![strategy.market.clone()],
    };
    if symbols.is_empty() {
        bail!("--symbols: name at least one symbol");
    }
    Ok(symbols)
}

/// `--daemon` and its files (docs/operations.md, "Running as a daemon").
#[derive(Args, Clone, Default, Debug)]
#[command(next_help_heading = "Daemon (docs/operations.md)")]
pub struct DaemonArgs {
    /// Detach and run as a daemon: PID file locked (a second instance refuses),
    /// output appended to --log-file, no core dumps, SIGHUP reopens the log.
    #[arg(long)]
    pub daemon: bool,
    /// With --daemon: the PID file (default `minerva-<command>.pid`, in --workdir).
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// With --daemon: the log file (default `minerva-<command>.log`, in --workdir).
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// With --daemon: the working directory (default: the current one); relative paths
    /// opened after starting (--record, --db) are read from it.
    #[arg(long)]
    workdir: Option<PathBuf>,
}

impl DaemonArgs {
    /// Detaches when --daemon is given. The starting process prints the daemon's pid
    /// and exits here; the daemon gets its handle back (keep it: it holds the PID file).
    pub fn detach(&self, command: &str) -> Result<Option<minerva::daemon::Daemon>> {
        use minerva::daemon::{DaemonConfig, Role, daemonize};
        if !self.daemon {
            if self.pid_file.is_some() || self.log_file.is_some() || self.workdir.is_some() {
                bail!("--pid-file, --log-file and --workdir go with --daemon");
            }
            return Ok(None);
        }
        let cfg = DaemonConfig {
            pid_file: self
                .pid_file
                .clone()
                .unwrap_or_else(|| format!("minerva-{command}.pid").into()),
            log_file: self
                .log_file
                .clone()
                .unwrap_or_else(|| format!("minerva-{command}.log").into()),
            workdir: self.workdir.clone().unwrap_or_else(|| ".".into()),
        };
        match daemonize(&cfg)? {
            Role::Parent(pid) => {
                let dir = std::path::absolute(&cfg.workdir)?;
                println!(
                    "minerva {command}: running as a daemon, pid {pid}; log {}, pid file {}",
                    dir.join(&cfg.log_file).display(),
                    dir.join(&cfg.pid_file).display()
                );
                let _ = std::io::Write::flush(&mut std::io::stdout());
                std::process::exit(0)
            }
            Role::Daemon(d) => {
                d.reopen_log_on_hup(&cfg.log_file);
                eprintln!(
                    "minerva {command}: daemon started, pid {}",
                    std::process::id()
                );
                Ok(Some(d))
            }
        }
    }
}

/// `--mlock`: all memory locked, so the hot path never page-faults.
pub fn lock_memory() -> Result<()> {
    // SAFETY: mlockall has no memory-safety preconditions; it only changes paging.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        bail!(
            "--mlock: mlockall failed ({}); raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// True when standard error is a terminal (progress lines redraw in place).
pub fn stderr_is_tty() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Where a KuCoin book comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KucoinBook {
    /// The classic `/market/level2` updates on a REST snapshot (the full book).
    Level2,
    /// The unified account's `obu` channel: a snapshot on the stream, then 10 ms
    /// deltas of the top 500 levels a side (trades from its `trade` channel).
    Obu,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_rates_and_speeds() {
        assert_eq!(
            parse_fees("maker=0.0002,taker=0.0005"),
            Ok((20_000, 50_000))
        );
        assert!(
            parse_fees("maker=0.0002")
                .unwrap_err()
                .contains("give both")
        );
        assert!(
            parse_fees("maker=abc,taker=0.1")
                .unwrap_err()
                .contains("--fees maker")
        );
        assert!(parse_rate("--x", "0.2").is_err());
        assert_eq!(parse_speed("max"), Ok(Speed(None)));
        assert_eq!(parse_speed("10"), Ok(Speed(Some(10.0))));
        assert!(parse_speed("0").is_err() && parse_speed("inf").is_err());
        assert!(parse_period("0").is_err());
        assert_eq!(parse_period("1m"), Ok(Duration { us: 60_000_000 }));
    }
}
