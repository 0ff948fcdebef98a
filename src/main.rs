//! The `minerva` command line.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use minerva::core::{Market, SymbolSpec};
use minerva::replay::{self, ReplayOptions, bench};
use minerva::venues::binance::snapshot::parse_raw_snapshot;
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

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
    Replay(ReplayArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Print the latency table of an HdrHistogram interval log (`--latency-log`).
    LatencyReport {
        /// The `.hlog` file.
        file: PathBuf,
    },
    /// Replay recorded data through book → oracle → risk manager and print every
    /// operation it would place and every proposal the risk manager refused.
    Signal(Box<SignalArgs>),
    /// Run the pipeline (feed → book + oracle → risk + signed orders) on a source and print
    /// the latency report.
    Run(Box<RunArgs>),
    /// Backtest a strategy on recorded data: the pipeline's own stages against the
    /// simulated exchange, then a fitness report (docs/backtest.md).
    Backtest(Box<BacktestArgs>),
    /// Evolve a strategy's parameters with a genetic algorithm whose fitness is the
    /// backtest's, on recorded data, checking the best on a holdout window it never
    /// trained on; writes the best strategy file (docs/evolve.md).
    Evolve(Box<EvolveArgs>),
    /// Serve recorded data as a local Binance-compatible exchange: WebSocket market
    /// streams and REST market data on 127.0.0.1 (docs/exchange.md).
    Exchange(ExchangeArgs),
    /// Recording databases: import recorded files, list what a database holds.
    #[command(subcommand)]
    Db(DbCmd),
    /// Record live market streams into a recording database until stopped (or until
    /// the local exchange's recording ends), with a status line (docs/recording.md).
    Record(RecordArgs),
    /// Peak finder as a filter: JSON lines `{"y":[..],"height":h,"threshold":t,
    /// "distance":d,"prominence":p,"wlen":w}` on stdin (a number is a minimum, `[min,max]`
    /// a range, null or absent = not set) → `{"peaks":[..]}` per line on stdout.
    Peaks,
}

#[derive(Args)]
struct RecordArgs {
    /// Symbols, comma-separated (one session each).
    #[arg(long, required = true)]
    symbols: String,
    /// spot or usdm.
    #[arg(long, default_value = "spot")]
    market: String,
    /// Streams per symbol (default: the diff depth, trade, aggTrade, bookTicker,
    /// kline_1m).
    #[arg(long)]
    streams: Option<String>,
    /// The database (created when absent): a SQLite file, or
    /// `postgres://user@host[:port]/db` (password from the URL or PGPASSWORD).
    #[arg(long, visible_alias = "store")]
    db: String,
    /// A new SQLite file per UTC day (`daily`) or per size (`512MB`, `2GB`):
    /// `market.db` becomes `market-YYYYMMDD-HHMMSS.db`, …, with no gap at the seams.
    #[arg(long)]
    rotate: Option<String>,
    /// local (minerva exchange at --host), testnet or live.
    #[arg(long, default_value = "local")]
    endpoint: String,
    /// The local exchange's address.
    #[arg(long, default_value = "127.0.0.1:9443")]
    host: String,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 1.0)]
    status_every: f64,
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[derive(clap::Subcommand)]
enum DbCmd {
    /// Import recorded files (hftbacktest, cryptofeed, JSON lines; gzip or plain), one
    /// session each, their lines kept byte for byte; `replay`, `backtest`, `signal`,
    /// `exchange` and `run --source replay:` then read the database as the files.
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The database (created when absent): a SQLite file or `postgres://…`.
        #[arg(long, visible_alias = "store")]
        db: String,
    },
    /// Integrity, sessions, symbols, time ranges, lines per stream, events, and the
    /// gaps in each session's depth diffs.
    Info {
        /// The database: a SQLite file or `postgres://…`.
        db: String,
    },
    /// Sessions back out as lines (a file per session, replayable as the database),
    /// or a decoded view (trades, top_of_book, candles_1m, klines) as CSV.
    Export {
        /// The database: a SQLite file or `postgres://…`.
        db: String,
        /// lines or csv.
        #[arg(long, default_value = "lines")]
        format: String,
        /// With csv: trades, top_of_book, candles_1m or klines.
        #[arg(long, default_value = "trades")]
        view: String,
        /// Only these sessions (comma-separated ids; default all).
        #[arg(long)]
        session: Option<String>,
        /// lines: a directory (one file per session; default stdout);
        /// csv: a file (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// Recorded files (hftbacktest `.gz`/plain, cryptofeed captures, JSON lines).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per symbol instead of the summary.
    #[arg(long)]
    json: bool,
    /// spot, usdm or coinm (detected from the data when absent).
    #[arg(long)]
    market: Option<String>,
    /// Only this symbol.
    #[arg(long)]
    symbol: Option<String>,
    /// REST depth snapshot to start from (for plain JSON lines).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Tick size (with --lot), when the data has no exchangeInfo.
    #[arg(long)]
    tick: Option<String>,
    /// Quantity unit (with --tick).
    #[arg(long)]
    lot: Option<String>,
    /// REST exchangeInfo response with the symbols' filters.
    #[arg(long)]
    exchange_info: Option<PathBuf>,
}

#[derive(Args)]
#[command(
    after_help = "Every strategy key can be overridden with the flag of the same name: --capital, --limit-orderbook, --relative-threshold, --short-pressure, --long-pressure, --max-concurrent-trades, --peak-distance-divisor, --stop-loss-price-buffer, --percentage-per-trade, --maker-fee, --taker-fee, --max-leverage, --bin-ticks, --bins, --volume-window-secs, --max-capital-in-use, --daily-loss-limit, --similar-entry-ticks (docs/strategy.md)."
)]
struct RunArgs {
    /// `replay:FILE[,FILE...]`: recorded data replayed as a socket would deliver it;
    /// `ws://HOST:PORT`: a live feed (minerva exchange) traded on the simulated
    /// exchange (paper); `binance`: the feed and the live gateway of --endpoint.
    #[arg(long)]
    source: String,
    /// With --source binance: local (minerva exchange at --host), testnet or live.
    #[arg(long, default_value = "local")]
    endpoint: String,
    /// The local exchange's address (--endpoint local).
    #[arg(long, default_value = "127.0.0.1:9443")]
    host: String,
    /// Symbol traded with --source binance (one; the strategy's `market` otherwise).
    #[arg(long)]
    symbols: Option<String>,
    /// Confirms --endpoint live: real orders with real money.
    #[arg(long)]
    i_mean_it: bool,
    /// With --source binance: trade on the simulated exchange (paper) instead.
    #[arg(long)]
    paper: bool,
    /// Record every frame the feed receives into this recording database (a writer
    /// thread off the hot path; docs/recording.md).
    #[arg(long)]
    record: Option<String>,
    /// The live gateway's order I/O thread between requests: park (sleeps; wakes in
    /// tens of µs) or spin-yield (no wake-up; needs a core of its own).
    #[arg(long, default_value = "park")]
    orders_wait: String,
    /// Strategy file (TOML, see docs/strategy.md).
    #[arg(long)]
    strategy: PathBuf,
    /// Replay speed: `max`, or a multiple of real time (`1`, `10`).
    #[arg(long, default_value = "max")]
    speed: String,
    /// Threads: 1 (compact: every stage on one thread, the default), 2 (feed + book |
    /// signal + gateway), 3 (feed | book | signal + gateway) or 4 (one per stage).
    #[arg(long)]
    threads: Option<usize>,
    /// Same as --threads 1.
    #[arg(long)]
    compact: bool,
    /// Wait strategy: spin (isolated cores only), spin-yield (default) or park; for every
    /// stage, or per stage (book=spin,signal=park), or both (park,book=spin).
    #[arg(long, default_value = "spin-yield")]
    wait: String,
    /// CPU per stage, e.g. feed=2,book=3,signal=4,gateway=5 (stages sharing a thread
    /// must name the same CPU).
    #[arg(long)]
    pin: Option<String>,
    /// Lock all memory (mlockall) so the hot path never page-faults.
    #[arg(long)]
    mlock: bool,
    /// Run the pipeline's threads under SCHED_FIFO (refused when busy threads would
    /// outnumber the CPUs, or without the privilege).
    #[arg(long)]
    realtime: bool,
    /// Print a latency report every this many seconds (SIGUSR1 prints one any time).
    #[arg(long)]
    report_every: Option<f64>,
    #[command(flatten)]
    sim: SimArgs,
    /// Slots per ring. Small rings keep queues short when the input outruns the stages
    /// (max speed); at least 1024 (one frame's worth of messages).
    #[arg(long, default_value_t = 1024)]
    ring: usize,
    /// Write the latency histograms as an HdrHistogram interval log (an interval per
    /// report, and the last at exit).
    #[arg(long)]
    latency_log: Option<PathBuf>,
    /// REST exchangeInfo response with the symbol's filters.
    #[arg(long)]
    exchange_info: Option<PathBuf>,
    /// spot, usdm or coinm, when not detected from the data.
    #[arg(long)]
    data_market: Option<String>,
    #[command(flatten)]
    overrides: StrategyOverrides,
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[derive(Args)]
#[command(
    after_help = "Every strategy key can be overridden with the flag of the same name: --capital, --limit-orderbook, --relative-threshold, --short-pressure, --long-pressure, --max-concurrent-trades, --peak-distance-divisor, --stop-loss-price-buffer, --percentage-per-trade, --maker-fee, --taker-fee, --max-leverage, --bin-ticks, --bins, --volume-window-secs, --max-capital-in-use, --daily-loss-limit, --similar-entry-ticks (docs/strategy.md)."
)]
struct SignalArgs {
    /// Recorded files, as for `minerva replay`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Strategy file (TOML, see docs/strategy.md).
    #[arg(long)]
    strategy: PathBuf,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// spot, usdm or coinm, when not detected from the data.
    #[arg(long)]
    data_market: Option<String>,
    /// REST depth snapshot to start from (for plain JSON lines).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// REST exchangeInfo response with the symbol's filters (tick, lot step, minimums).
    #[arg(long)]
    exchange_info: Option<PathBuf>,
    #[command(flatten)]
    overrides: StrategyOverrides,
}

#[derive(Args)]
#[command(
    after_help = "Every strategy key can be overridden with the flag of the same name: --capital, --limit-orderbook, --relative-threshold, --short-pressure, --long-pressure, --max-concurrent-trades, --peak-distance-divisor, --stop-loss-price-buffer, --percentage-per-trade, --maker-fee, --taker-fee, --max-leverage, --bin-ticks, --bins, --volume-window-secs, --max-capital-in-use, --daily-loss-limit, --similar-entry-ticks (docs/strategy.md)."
)]
struct BacktestArgs {
    /// Recorded files of one session, in order (as for `minerva replay`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Strategy file (TOML, see docs/strategy.md).
    #[arg(long)]
    strategy: PathBuf,
    /// REST exchangeInfo response with the symbol's filters.
    #[arg(long)]
    exchange_info: Option<PathBuf>,
    /// spot, usdm or coinm, when not detected from the data.
    #[arg(long)]
    data_market: Option<String>,
    #[command(flatten)]
    run: BacktestRunArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the trade list as CSV.
    #[arg(long)]
    trades: Option<PathBuf>,
    /// Write the equity curve as CSV.
    #[arg(long)]
    equity: Option<PathBuf>,
    /// Write the fitness and the main figures into the strategy file's [results] table.
    #[arg(long)]
    write_fitness: bool,
    /// Several symbols in one run (BTCUSDT,ETHUSDT): each is backtested on the files
    /// that hold it, with the strategy's capital, then the figures are combined.
    /// Default: the strategy's market.
    #[arg(long)]
    symbols: Option<String>,
    #[command(flatten)]
    overrides: StrategyOverrides,
}

/// `--mlock`: all memory locked, so the hot path never page-faults.
fn lock_memory() -> Result<()> {
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

/// `--daemon` and its files (docs/operations.md, "Running as a daemon").
#[derive(Args, Clone, Default)]
struct DaemonArgs {
    /// Detach and run as a daemon: PID file locked (a second instance refuses),
    /// output appended to --log-file, no core dumps, SIGHUP reopens the log.
    #[arg(long)]
    daemon: bool,
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
    fn detach(&self, command: &str) -> Result<Option<minerva::daemon::Daemon>> {
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

/// How each backtest runs: the simulated exchange, the window, the fitness.
#[derive(Args)]
struct BacktestRunArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Trade from this time (recorded time: unix ms or 2024-08-09T00:00:00Z); earlier
    /// data only warms the book up.
    #[arg(long)]
    from: Option<String>,
    /// Stop after this time (same forms as --from).
    #[arg(long)]
    to: Option<String>,
    /// Equity sampling period for per-period returns (e.g. 1s, 1m, 1h).
    #[arg(long, default_value = "1m")]
    period: String,
    /// The fitness: pnl-dd[:LAMBDA] (net PnL − λ × max drawdown, the default), pnl,
    /// return, sharpe, sortino or profit-factor.
    #[arg(long, default_value = "pnl-dd:1")]
    fitness: String,
}

impl BacktestRunArgs {
    fn config(&self) -> Result<minerva::backtest::BacktestConfig> {
        let period_us = match minerva::sim::latency::duration_us(&self.period) {
            Ok(us) if us >= 1_000 => us,
            _ => bail!(
                "--period `{}`: expected a duration from 1ms to 30 days (1s, 1m, 1h)",
                self.period
            ),
        };
        let time = |flag, v: &Option<String>| v.as_deref().map(|v| parse_time_ns(flag, v));
        Ok(minerva::backtest::BacktestConfig {
            sim: self.sim.options()?,
            period_us,
            from_ns: time("--from", &self.from).transpose()?,
            to_ns: time("--to", &self.to).transpose()?,
            objective: minerva::backtest::fitness::Objective::parse(&self.fitness)
                .map_err(|e| anyhow::anyhow!("--fitness: {e}"))?,
        })
    }
}

/// `minerva evolve`'s own flags (docs/evolve.md).
#[derive(Args)]
struct EvolveArgs {
    /// Recorded files, in order (as for `minerva backtest`: one session, or with
    /// --symbols the files of every symbol).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Strategy file to start from (TOML, see docs/strategy.md); it is not changed.
    #[arg(long)]
    strategy: PathBuf,
    /// Where to write the best strategy found (the strategy file with the evolved keys
    /// and a [results] table). Default: `<strategy>.evolved.toml` beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// REST exchangeInfo response with the symbol's filters.
    #[arg(long)]
    exchange_info: Option<PathBuf>,
    /// spot, usdm or coinm, when not detected from the data.
    #[arg(long)]
    data_market: Option<String>,
    #[command(flatten)]
    run: BacktestRunArgs,
    /// A gene to evolve, KEY=LO..HI[:STEP] (repeatable): adds a key or replaces a
    /// default gene's range. Defaults: docs/evolve.md.
    #[arg(long = "gene", value_name = "KEY=LO..HI[:STEP]")]
    genes: Vec<String>,
    /// A default gene to leave as the strategy file has it (repeatable).
    #[arg(long = "fix", value_name = "KEY")]
    fixed: Vec<String>,
    /// Evolve only the --gene keys (no default genes).
    #[arg(long)]
    only_genes: bool,
    /// Share of the window, at its end, kept out of the search and used to check the
    /// best candidates afterwards (0: none).
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Candidates per generation.
    #[arg(long, default_value_t = 24)]
    population: usize,
    /// Generations at most.
    #[arg(long, default_value_t = 10)]
    generations: usize,
    /// Best candidates carried to the next generation unchanged.
    #[arg(long, default_value_t = 2)]
    elite: usize,
    /// Tournament size when picking parents.
    #[arg(long, default_value_t = 3)]
    tournament: usize,
    /// Chance that two parents are crossed.
    #[arg(long, default_value_t = 0.9)]
    crossover: f64,
    /// Chance that each gene of a child mutates.
    #[arg(long, default_value_t = 0.2)]
    mutation: f64,
    /// A mutation's standard deviation, as a share of the gene's range.
    #[arg(long, default_value_t = 0.15)]
    mutation_scale: f64,
    /// Candidates with fewer closed trades rank below all others.
    #[arg(long, default_value_t = 1)]
    min_trades: usize,
    /// Stop after this many generations without a better best (0: never).
    #[arg(long, default_value_t = 0)]
    patience: usize,
    /// Backtests run at once (default and maximum: the CPUs this process may use).
    #[arg(long)]
    jobs: Option<usize>,
    /// Seed of the algorithm's draws (the simulated exchange's is --seed).
    #[arg(long, default_value_t = 1)]
    ga_seed: u64,
    /// Several symbols (BTCUSDT,ETHUSDT): each candidate is backtested on each, with the
    /// strategy's capital, and judged by the combined figures (as `minerva backtest
    /// --symbols` combines them). Default: the strategy's market.
    #[arg(long)]
    symbols: Option<String>,
    /// Candidates checked on the holdout window at the end: the best, then the next
    /// best whose training outcomes differ from those already listed.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Write every candidate evaluated as CSV (generation, genes, fitness, …), a
    /// generation at a time, for watching a long run (`tail -f`).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Go on from an earlier run's --log (same data, strategy, settings and genes):
    /// its candidates are not run again, and new ones are appended to it. With the same
    /// --ga-seed the run retraces the earlier one, then continues (more --generations).
    #[arg(long, conflicts_with = "log")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    overrides: StrategyOverrides,
}

#[derive(Args)]
struct ExchangeArgs {
    /// Recorded sessions to serve (the formats `minerva replay` reads).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 9443)]
    port: u16,
    /// Replay speed: a multiple of real time (`1`, `10`) or `max`.
    #[arg(long, default_value = "1")]
    speed: String,
    /// REST exchangeInfo answer to serve (default: the symbols' grids).
    #[arg(long)]
    exchange_info: Option<PathBuf>,
    /// spot, usdm or coinm, when not detected from the data.
    #[arg(long)]
    data_market: Option<String>,
    /// Faults to inject: drop=N (close the stream sessions), skip-depth=N (leave out a
    /// depth diff), malformed=N (a truncated message), stall=N:MS (publish nothing for
    /// MS), each every N published messages; bad-signature=N (refuse every N-th signed
    /// request -1022), unknown-status=N (execute every N-th order or cancel, answer
    /// 503), clock-shift=±MS (step the server clock at the first signed request).
    #[arg(long)]
    fault: Option<String>,
    /// REST request weight allowed per minute (default: Binance's, 6000 spot / 2400
    /// USD-M); over it, 429 with Retry-After until the next minute.
    #[arg(long)]
    weight_limit: Option<u32>,
    /// Each symbol's starting wallet, in the quote asset.
    #[arg(long, default_value = "100000")]
    capital: String,
    /// USD-M leverage until a client changes it (POST /fapi/v1/leverage).
    #[arg(long, default_value_t = 20)]
    leverage: u32,
    /// Fee rates charged: maker=R,taker=R (default: Binance's base tier, spot
    /// 0.1 %/0.1 %, USD-M 0.02 %/0.05 %).
    #[arg(long)]
    fees: Option<String>,
    /// Queue position model of resting orders: through, risk-averse, power:N, log.
    #[arg(long, default_value = "risk-averse")]
    queue: String,
    /// New orders allowed per 10 s (default: Binance's, 100 spot / 300 USD-M).
    #[arg(long)]
    order_limit: Option<u32>,
    /// Seconds REST and the user data streams stay up after the recording has been
    /// served, so clients can cancel and close (Ctrl-C ends sooner).
    #[arg(long, default_value_t = 10.0)]
    linger: f64,
}

/// `max` or a positive multiple of real time.
fn parse_speed(s: &str) -> Result<Option<f64>> {
    Ok(match s {
        "max" => None,
        s => Some(
            s.parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && v.is_finite())
                .context("--speed must be max or a positive number")?,
        ),
    })
}

fn cmd_exchange(a: ExchangeArgs) -> Result<()> {
    use minerva::local_exchange::{Venue, VenueConfig};
    use minerva::shutdown::{
        install_handlers as install_signal_handlers, requested as stop_requested,
    };
    // The account's keys: the environment's, or the documented paper pair.
    let (keys, from_env) = minerva::venues::binance::keys::ApiKeys::from_env_or_paper();
    let key_note = if from_env {
        "the API key in MINERVA_BINANCE_API_KEY"
    } else {
        "the paper key pair (minerva-paper / minerva-paper-secret)"
    };
    let cfg = VenueConfig {
        files: a.data.clone(),
        replay: ReplayOptions {
            market: a
                .data_market
                .as_deref()
                .map(str::parse::<Market>)
                .transpose()?,
            exchange_info: a.exchange_info.clone(),
            ..Default::default()
        },
        speed: parse_speed(&a.speed)?,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], a.port)),
        weight_limit: a.weight_limit,
        faults: match &a.fault {
            Some(f) => minerva::local_exchange::Faults::parse(f)
                .map_err(|e| anyhow::anyhow!("--fault {e}"))?,
            None => minerva::local_exchange::Faults::default(),
        },
        keys: std::sync::Arc::new(keys),
        trading: minerva::local_exchange::TradingConfig {
            capital_e8: minerva::core::decimal::parse_scaled(a.capital.as_bytes(), 8)
                .ok()
                .filter(|c| *c > 0)
                .context("--capital must be a positive amount")?,
            leverage: a.leverage.clamp(1, 125),
            fees: a.fees.as_deref().map(parse_fees).transpose()?,
            queue: minerva::sim::queue::QueueModel::parse(&a.queue)
                .map_err(|e| anyhow::anyhow!("--queue: {e}"))?,
            orders_per_10s: a.order_limit,
        },
    };
    let venue = Venue::start(cfg)?;
    let addr = venue.local_addr();
    println!(
        "minerva exchange: listening on {addr}: REST http://{addr}/api/v3 (spot) or /fapi/v1 (USD-M), streams ws://{addr}/ws/<stream> and ws://{addr}/stream?streams=<a>/<b>; the replay starts with the first stream subscriber"
    );
    println!("trading: signed order and account endpoints and user data streams for {key_note}");
    install_signal_handlers();
    while !venue.finished() && !stop_requested() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    println!("served {} stream messages", venue.published());
    if venue.finished() && !stop_requested() && a.linger > 0.0 {
        println!(
            "the recording is over; orders, account and user data streams stay up {} s (Ctrl-C ends)",
            a.linger
        );
        let until =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(a.linger.min(86_400.0));
        while std::time::Instant::now() < until && !stop_requested() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    for a in venue.accounts() {
        println!(
            "account {}: position {} lots, wallet {:.8}, {} fills ({} lots), {} orders open",
            a.symbol,
            a.position.0,
            a.wallet_e8 as f64 / 1e8,
            a.fills,
            a.filled_lots,
            a.open_orders
        );
    }
    venue.stop();
    Ok(())
}

/// The simulated exchange's models (docs/backtest.md).
#[derive(Args, Clone)]
struct SimArgs {
    /// Latency: `order=…,response=…,feed=…` or one delay for order and response; a
    /// delay is `250us`, `1.5ms`, `uniform:1ms..3ms` or `lognormal:2ms:0.5`.
    #[arg(long, default_value = "5ms")]
    latency: String,
    /// Queue position model: through, risk-averse, power:N or log.
    #[arg(long, default_value = "risk-averse")]
    queue: String,
    /// Fees charged by the exchange, e.g. maker=0.0002,taker=0.0005 (default: the
    /// strategy's).
    #[arg(long)]
    fees: Option<String>,
    /// Futures maintenance margin rate (default 0.004).
    #[arg(long)]
    maintenance_margin: Option<String>,
    /// Seed of the latency draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A rate such as `0.0002` (10⁻⁸ units), between 0 and 0.1.
fn parse_rate(name: &str, v: &str) -> Result<i64> {
    let r = minerva::core::decimal::parse_scaled(v.trim().as_bytes(), 8)
        .map_err(|e| anyhow::anyhow!("{name} `{v}`: {e}"))?;
    if !(0..=10_000_000).contains(&r) {
        bail!("{name} `{v}`: expected a rate between 0 and 0.1");
    }
    Ok(r)
}

/// `maker=R,taker=R` → (maker, taker), 10⁻⁸ units.
fn parse_fees(f: &str) -> Result<(i64, i64)> {
    let (mut maker, mut taker) = (None, None);
    for part in f.split(',') {
        match part.split_once('=') {
            Some(("maker", v)) => maker = Some(parse_rate("--fees maker", v)?),
            Some(("taker", v)) => taker = Some(parse_rate("--fees taker", v)?),
            _ => bail!("--fees `{f}`: expected maker=RATE,taker=RATE"),
        }
    }
    match (maker, taker) {
        (Some(m), Some(t)) => Ok((m, t)),
        _ => bail!("--fees `{f}`: give both maker= and taker="),
    }
}

impl SimArgs {
    fn options(&self) -> Result<minerva::sim::SimOptions> {
        use minerva::sim::latency::LatencyModel;
        use minerva::sim::queue::QueueModel;
        let fees = self.fees.as_deref().map(parse_fees).transpose()?;
        let maintenance_ppm = match &self.maintenance_margin {
            None => None,
            Some(m) => Some((parse_rate("--maintenance-margin", m)? / 100) as u32),
        };
        Ok(minerva::sim::SimOptions {
            latency: LatencyModel::parse(&self.latency)
                .map_err(|e| anyhow::anyhow!("--latency: {e}"))?,
            queue: QueueModel::parse(&self.queue).map_err(|e| anyhow::anyhow!("--queue: {e}"))?,
            fees,
            maintenance_ppm,
            seed: self.seed,
        })
    }
}

/// Every strategy key as a flag of the same name; a flag wins over the file.
#[derive(Args, Default, Clone)]
struct StrategyOverrides {
    /// Symbol traded.
    #[arg(long)]
    market: Option<String>,
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
    #[arg(long, hide = true)]
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
}

impl StrategyOverrides {
    /// `(key, value)` pairs in the strategy file's key names.
    fn pairs(&self) -> Vec<(&'static str, String)> {
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
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect()
    }
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Replay speed: decode + book end to end, and book apply alone.
    Replay(BenchArgs),
    /// The pipeline at max speed (or --speed): tick-to-trade, per-hop percentiles and
    /// throughput, with `minerva run`'s flags; `--repeat N` merges N passes.
    Pipeline(Box<PipelineBenchArgs>),
}

#[derive(Args)]
struct PipelineBenchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Passes over the input; histograms are merged, throughput is the median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Args)]
struct BenchArgs {
    /// JSON lines of depthUpdate and trade/aggTrade messages (gzip or plain).
    #[arg(long)]
    events: PathBuf,
    /// The REST snapshot the events start from.
    #[arg(long)]
    snapshot: PathBuf,
    /// Tick size (inferred from the snapshot when absent).
    #[arg(long)]
    tick: Option<String>,
    /// Quantity unit (inferred from the snapshot when absent).
    #[arg(long)]
    lot: Option<String>,
    /// spot, usdm or coinm.
    #[arg(long, default_value = "usdm")]
    market: String,
    /// Timed passes; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Also time every message (decode + book) and write the histogram as an
    /// HdrHistogram interval log.
    #[arg(long)]
    latency_log: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minerva: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Replay(mut a) => {
            a.files = minerva::store::expand(&a.files)?;
            cmd_replay(a)
        }
        Cmd::Bench(BenchCmd::Replay(a)) => cmd_bench(a),
        Cmd::Bench(BenchCmd::Pipeline(a)) => cmd_bench_pipeline(*a),
        Cmd::Peaks => cmd_peaks(),
        Cmd::LatencyReport { file } => {
            let logs = minerva::telemetry::read_log(&file)
                .with_context(|| format!("{}", file.display()))?;
            if logs.is_empty() {
                bail!("{}: no histograms in the log", file.display());
            }
            print!(
                "{}",
                minerva::telemetry::table(logs.iter().map(|(k, h)| (k.as_str(), h)))
            );
            Ok(())
        }
        Cmd::Signal(mut a) => {
            a.files = minerva::store::expand(&a.files)?;
            cmd_signal(*a)
        }
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Backtest(mut a) => {
            a.files = minerva::store::expand(&a.files)?;
            cmd_backtest(*a)
        }
        Cmd::Evolve(mut a) => {
            a.files = minerva::store::expand(&a.files)?;
            cmd_evolve(*a)
        }
        Cmd::Exchange(mut a) => {
            a.data = minerva::store::expand(&a.data)?;
            cmd_exchange(a)
        }
        Cmd::Db(c) => cmd_db(c),
        Cmd::Record(a) => cmd_record(a),
    }
}

fn cmd_record(a: RecordArgs) -> Result<()> {
    use minerva::shutdown::{flag as stop_flag, install_handlers as install_signal_handlers};
    use minerva::store::recorder::{RecordConfig, RecordSource, record};
    let market: Market = a.market.parse()?;
    if market == Market::CoinM {
        bail!("--market: spot or usdm");
    }
    let (rest, ws) = endpoint_urls(&a.endpoint, &a.host, market)?;
    let depth = if market.is_futures() {
        "depth@0ms"
    } else {
        "depth@100ms"
    };
    let streams: Vec<String> = match &a.streams {
        Some(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => [depth, "trade", "aggTrade", "bookTicker", "kline_1m"]
            .map(str::to_string)
            .to_vec(),
    };
    if streams.is_empty() {
        bail!("--streams names no stream");
    }
    let symbols: Vec<String> = a
        .symbols
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if symbols.is_empty() {
        bail!("--symbols names no symbol");
    }
    if !(a.status_every.is_finite() && a.status_every > 0.0) {
        bail!("--status-every must be a positive number of seconds");
    }
    let rotate = a
        .rotate
        .as_deref()
        .map(str::parse::<minerva::store::recorder::Rotate>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--rotate {e}"))?;
    let target = minerva::store::Target::parse(&a.db);
    let mut sources = Vec::with_capacity(symbols.len());
    // USD-M answers every symbol's exchangeInfo at once: fetched once for all.
    let mut fetched: Option<Vec<u8>> = None;
    for (k, sym) in symbols.iter().enumerate() {
        let live = minerva::venues::binance::stream::LiveConfig {
            host: ws.clone(),
            rest: Some(rest.clone()),
            market,
            symbol: sym.clone(),
            streams: streams.clone(),
            snapshot_limit: if market.is_futures() { 1000 } else { 5000 },
            max_reconnects: None,
            seed: k as u64,
            rotate_after: Some(minerva::venues::binance::stream::ROTATE_AFTER),
            stale_after: Some(minerva::venues::binance::stream::STALE_AFTER),
        };
        // The grids the recording was made under go with it; a recorder starts
        // without them rather than not at all.
        let exchange_info = match fetched.clone() {
            Some(all) => Some(all),
            None => match live_exchange_info(&live) {
                Ok(body) => {
                    if market.is_futures() {
                        fetched = Some(body.clone());
                    }
                    Some(body)
                }
                Err(e) => {
                    eprintln!("minerva: warning: {sym}: exchangeInfo not stored: {e:#}");
                    None
                }
            },
        };
        sources.push(RecordSource {
            live,
            exchange_info,
        });
    }
    let _daemon = a.daemon.detach("record")?;
    install_signal_handlers();
    let cfg = RecordConfig {
        target,
        sources,
        status_every: std::time::Duration::from_secs_f64(a.status_every),
        rotate,
    };
    // SAFETY: isatty only inspects a file descriptor.
    let tty = unsafe { libc::isatty(2) } == 1;
    let (st, sessions) = record(&cfg, stop_flag(), |s| {
        if tty {
            eprint!("\r\x1b[2K{}", s.line());
        } else {
            eprintln!("{}", s.line());
        }
    })?;
    if tty {
        eprintln!();
    }
    println!(
        "{}: sessions {:?}; {}",
        st.files.join(", "),
        sessions,
        st.line()
    );
    Ok(())
}

fn cmd_db(c: DbCmd) -> Result<()> {
    use minerva::store::{Target, View, export, open_recorded, open_sink, scan};
    // Piped into `head` and the like: end quietly when the reader goes, as
    // Unix tools do.
    // SAFETY: restores the default action of one signal; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match c {
        DbCmd::Import { files, db } => {
            let t0 = std::time::Instant::now();
            let target = Target::parse(&db);
            let mut sink = open_sink(&target)?;
            let (sessions, lines) = minerva::store::import(sink.as_mut(), &files)?;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "{}: {} session(s) {:?}, {lines} lines in {secs:.2} s ({:.0} lines/s)",
                target.display(),
                sessions.len(),
                sessions,
                lines as f64 / secs.max(1e-9)
            );
        }
        DbCmd::Info { db } => {
            let target = Target::parse(&db);
            let mut store = open_recorded(&target)?;
            println!("{}: integrity {}", target.display(), store.integrity()?);
            let time = |ns: i64| minerva::core::utc((ns.max(0) / 1_000_000) as u64);
            for s in store.sessions()? {
                let what = if s.symbol.is_empty() {
                    String::new()
                } else {
                    format!(" ({} {})", s.symbol, s.market)
                };
                let closed = if s.ended_ns > 0 {
                    String::new()
                } else {
                    " · not closed (recording, or the recorder was stopped hard)".into()
                };
                println!(
                    "session {} from {}{what}: {} lines, {} → {}{closed}",
                    s.id,
                    s.source,
                    s.lines,
                    time(s.first_ns),
                    time(s.last_ns)
                );
                for (stream, n) in &s.streams {
                    let name = if stream.is_empty() { "(other)" } else { stream };
                    println!("  {name:<28} {n}");
                }
                if !s.events.is_empty() {
                    let ev: Vec<String> =
                        s.events.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    println!("  events: {}", ev.join(", "));
                }
                let sc = scan::scan(store.as_mut(), s.id)?;
                println!(
                    "  depth: {} diffs, {} snapshots, {} gaps; longest silence {:.1} s{}",
                    sc.diffs,
                    sc.snapshots,
                    sc.breaks.len(),
                    sc.longest_silence as f64 / 1e9,
                    if sc.silences.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", {} of {} s or more",
                            sc.silences.len(),
                            scan::SILENCE / 1_000_000_000
                        )
                    }
                );
                for (at, b) in sc.breaks.iter().take(10) {
                    println!(
                        "    gap at {}: after update {} came {} ({} ids missing)",
                        time(*at),
                        b.last,
                        b.first,
                        b.first.saturating_sub(b.last + 1)
                    );
                }
                if sc.breaks.len() > 10 {
                    println!("    … {} more", sc.breaks.len() - 10);
                }
                for (from, to) in sc.silences.iter().take(5) {
                    println!(
                        "    silent {} → {} ({:.1} s)",
                        time(*from),
                        time(*to),
                        (to - from) as f64 / 1e9
                    );
                }
            }
        }
        DbCmd::Export {
            db,
            format,
            view,
            session,
            out,
        } => {
            let target = Target::parse(&db);
            let mut store = open_recorded(&target)?;
            let sessions: Vec<i64> = match &session {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(|x| x.trim().parse::<i64>())
                    .collect::<Result<_, _>>()
                    .context("--session: comma-separated session ids")?,
            };
            let stdout = std::io::stdout();
            match format.as_str() {
                "lines" => match &out {
                    Some(dir) => {
                        for (path, n) in export::lines_into_dir(store.as_mut(), &sessions, dir)? {
                            eprintln!("{}: {n} lines", path.display());
                        }
                    }
                    None => {
                        let ids: Vec<i64> = if sessions.is_empty() {
                            store.sources()?.iter().map(|s| s.0).collect()
                        } else {
                            sessions
                        };
                        let mut w = std::io::BufWriter::new(stdout.lock());
                        for id in ids {
                            export::lines_to(
                                store.as_mut(),
                                id,
                                &mut w,
                                std::path::Path::new("stdout"),
                            )?;
                        }
                        std::io::Write::flush(&mut w)?;
                    }
                },
                "csv" => {
                    let view = View::parse(&view).with_context(|| {
                        format!("--view {view}: trades, top_of_book, candles_1m or klines")
                    })?;
                    if sessions.len() > 1 {
                        bail!("--format csv: one --session, or none for all");
                    }
                    let one = sessions.first().copied();
                    let n = match &out {
                        Some(path) => {
                            let f = std::fs::File::create(path)
                                .with_context(|| format!("{}", path.display()))?;
                            let mut w = std::io::BufWriter::new(f);
                            let n = export::csv_to(store.as_mut(), view, one, &mut w, path)?;
                            std::io::Write::flush(&mut w)?;
                            n
                        }
                        None => {
                            let mut w = std::io::BufWriter::new(stdout.lock());
                            let n = export::csv_to(
                                store.as_mut(),
                                view,
                                one,
                                &mut w,
                                std::path::Path::new("stdout"),
                            )?;
                            std::io::Write::flush(&mut w)?;
                            n
                        }
                    };
                    eprintln!("{}: {n} rows", view.name());
                }
                other => bail!("--format {other}: lines or csv"),
            }
        }
    }
    Ok(())
}

fn cmd_replay(a: ReplayArgs) -> Result<()> {
    let market = a.market.as_deref().map(str::parse::<Market>).transpose()?;
    let opts = ReplayOptions {
        market,
        symbol: a.symbol,
        tick: a.tick,
        lot: a.lot,
        snapshot: a.snapshot,
        exchange_info: a.exchange_info,
        progress: !a.json,
        ..Default::default()
    };
    let rep = replay::replay(&a.files, &opts)?;
    if a.json {
        print!("{}", rep.to_json_lines());
    } else {
        print!("{}", rep.to_text());
    }
    Ok(())
}

fn read_all(path: &PathBuf) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("{}", path.display()))?
        .read_to_end(&mut raw)
        .with_context(|| format!("{}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: bad gzip", path.display()))?;
        return Ok(out);
    }
    Ok(raw)
}

fn cmd_bench(a: BenchArgs) -> Result<()> {
    let market: Market = a.market.parse()?;
    let events = read_all(&a.events)?;
    let snap_json = read_all(&a.snapshot)?;
    let raw =
        parse_raw_snapshot(&snap_json).with_context(|| format!("{}", a.snapshot.display()))?;
    // The symbol the events name (`s` of the first message that has one).
    let symbol = events
        .split(|&c| c == b'\n')
        .take(100)
        .find_map(|l| {
            let l = &l[l.iter().position(|&c| c == b'{')?..];
            let v: sonic_rs::Value = sonic_rs::from_slice(l).ok()?;
            let m = v.get("data").unwrap_or(&v);
            m.get("s")?.as_str().map(str::to_owned)
        })
        .context("no message with a symbol (`s`) in the first 100 lines of --events")?;
    let spec = match (&a.tick, &a.lot) {
        (Some(t), Some(l)) => SymbolSpec::from_tick_lot(&symbol, market, t, l)?,
        (None, None) => replay::spec_from_snapshot(&symbol, market, &snap_json)
            .context("cannot infer tick and lot from the snapshot; pass --tick and --lot")?,
        _ => bail!("--tick and --lot go together"),
    };
    let snap = raw.on_grid(&spec)?;
    let lines: Vec<&[u8]> = events
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            // Accept recorded `<ts> <json>` lines too.
            match l.iter().position(|&c| c == b'{') {
                Some(i) => &l[i..],
                None => l,
            }
        })
        .collect();

    let repeat = a.repeat.max(1);
    let e2e = bench::median(
        (0..repeat)
            .map(|_| bench::e2e(&lines, &spec, &snap))
            .collect(),
    );
    println!("{}", e2e.line("minerva-e2e"));
    let pre = bench::predecode(&lines, &spec);
    let book = bench::median(
        (0..repeat)
            .map(|_| bench::book_only(&pre, &spec, &snap))
            .collect(),
    );
    println!("{}", book.line("minerva-book"));
    if let Some(path) = &a.latency_log {
        let start = std::time::SystemTime::now();
        let t0 = std::time::Instant::now();
        let mut lat = minerva::telemetry::Latency::new("decode_book_per_msg");
        bench::per_message(&lines, &spec, &snap, &mut lat);
        print!(
            "{}",
            minerva::telemetry::table([(lat.name(), lat.histogram())])
        );
        minerva::telemetry::write_log(path, &[&lat], start, t0.elapsed())
            .with_context(|| format!("{}", path.display()))?;
    }
    if e2e.checksum != book.checksum {
        bail!(
            "checksums differ between the two runs: {} vs {}",
            e2e.checksum,
            book.checksum
        );
    }
    Ok(())
}

/// One `minerva peaks` request.
fn peaks_line(line: &str) -> Result<Vec<usize>> {
    use minerva::signal::peaks::{Interval, PeakParams, find_peaks};
    let v: sonic_rs::Value = sonic_rs::from_str(line).context("not a JSON object")?;
    let number = |k: &str, x: &sonic_rs::Value| -> Result<f64> {
        x.as_f64()
            .filter(|f| f.is_finite())
            .with_context(|| format!("`{k}` must hold numbers"))
    };
    let interval = |k: &str| -> Result<Option<Interval<f64>>> {
        let Some(x) = v.get(k) else { return Ok(None) };
        if x.is_null() {
            return Ok(None);
        }
        if let Some(a) = x.as_array() {
            if a.len() != 2 {
                bail!("`{k}` as a range must be [min, max]");
            }
            let end = |e: &sonic_rs::Value| -> Result<Option<f64>> {
                if e.is_null() {
                    Ok(None)
                } else {
                    number(k, e).map(Some)
                }
            };
            return Ok(Some(Interval {
                min: end(&a[0])?,
                max: end(&a[1])?,
            }));
        }
        Ok(Some(Interval::at_least(number(k, x)?)))
    };
    let scalar = |k: &str| -> Result<Option<f64>> {
        match v.get(k) {
            None => Ok(None),
            Some(x) if x.is_null() => Ok(None),
            Some(x) => number(k, x).map(Some),
        }
    };
    let y: Vec<f64> = match v.get("y") {
        None => Vec::new(),
        Some(a) => a
            .as_array()
            .context("`y` must be an array of numbers")?
            .iter()
            .map(|x| number("y", x))
            .collect::<Result<_>>()?,
    };
    let p = PeakParams {
        height: interval("height")?,
        threshold: interval("threshold")?,
        distance: scalar("distance")?,
        prominence: interval("prominence")?,
        wlen: scalar("wlen")?,
    };
    Ok(find_peaks(&y, &p)?)
}

fn cmd_peaks() -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match peaks_line(&line) {
            Ok(p) => writeln!(out, "{{\"peaks\":{}}}", sonic_rs::to_string(&p)?)?,
            Err(e) => {
                failed += 1;
                let msg = format!("line {}: {e:#}", i + 1);
                writeln!(out, "{{\"error\":{}}}", sonic_rs::to_string(&msg)?)?;
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} input line(s) could not be read");
    }
    Ok(())
}

/// A strategy file with the command line's overrides.
fn load_strategy(
    path: &std::path::Path,
    overrides: &StrategyOverrides,
) -> Result<minerva::strategy::Strategy> {
    minerva::strategy::Strategy::load(path, &overrides.pairs())
        .with_context(|| format!("strategy {}", path.display()))
}

/// Replay options that follow a strategy's symbol.
fn strategy_replay(
    strategy: &minerva::strategy::Strategy,
    data_market: Option<&str>,
    exchange_info: Option<PathBuf>,
) -> Result<ReplayOptions> {
    Ok(ReplayOptions {
        market: data_market.map(str::parse::<Market>).transpose()?,
        symbol: Some(strategy.market.clone()),
        exchange_info,
        ..Default::default()
    })
}

fn cmd_signal(a: SignalArgs) -> Result<()> {
    use minerva::replay::{signal_report as report, signal_run::SignalRun};
    let strategy = load_strategy(&a.strategy, &a.overrides)?;
    let opts = ReplayOptions {
        snapshot: a.snapshot,
        progress: !a.json,
        ..strategy_replay(&strategy, a.data_market.as_deref(), a.exchange_info)?
    };
    let mut run = SignalRun::new(strategy);
    let rep = replay::replay_observed(&a.files, &opts, &mut run)?;
    let Some(spec) = run.spec().cloned() else {
        bail!(
            "the input has no book for {}",
            opts.symbol.unwrap_or_default()
        );
    };
    if let Some(s) = rep.symbol_reports().first() {
        if s.state != "live" {
            eprintln!(
                "minerva: warning: the book ended {} ({} gaps)",
                s.state, s.gaps
            );
        }
    }
    if a.json {
        print!("{}", report::json_lines(&run, &spec));
    } else {
        print!("{}", report::text(&run, &spec));
    }
    Ok(())
}

/// Everything `minerva run` needs, checked before anything starts.
struct RunSetup {
    /// A live source instead of recorded frames.
    live: Option<minerva::venues::binance::stream::LiveConfig>,
    frames: Vec<(Vec<u8>, u64)>,
    speed: Option<f64>,
    spec: minerva::core::SymbolSpec,
    strategy: minerva::strategy::Strategy,
    keys: std::sync::Arc<minerva::venues::binance::keys::ApiKeys>,
    cfg: minerva::pipeline::run::RunConfig,
}

/// Where `--source binance --endpoint E` goes for `market`: (REST URL, WebSocket
/// URL). Binance's are TLS; the local exchange is plain.
fn endpoint_urls(endpoint: &str, local: &str, market: Market) -> Result<(String, String)> {
    let (rest, ws) = match (endpoint, market.is_futures()) {
        ("local", _) => return Ok((local.to_string(), local.to_string())),
        ("testnet", false) => (
            "https://testnet.binance.vision:443",
            "wss://stream.testnet.binance.vision:443",
        ),
        ("testnet", true) => (
            "https://testnet.binancefuture.com:443",
            "wss://stream.binancefuture.com:443",
        ),
        ("live", false) => (
            "https://api.binance.com:443",
            "wss://stream.binance.com:9443",
        ),
        ("live", true) => (
            "https://fapi.binance.com:443",
            "wss://fstream.binance.com:443",
        ),
        (e, _) => bail!("--endpoint `{e}`: expected local, testnet or live"),
    };
    Ok((rest.to_string(), ws.to_string()))
}

fn run_setup(a: &RunArgs) -> Result<RunSetup> {
    use minerva::pipeline::PinPlan;
    use minerva::pipeline::run::RunConfig;
    use minerva::pipeline::wait::WaitPlan;
    use minerva::venues::binance::keys::ApiKeys;
    let binance = a.source == "binance";
    // `--market spot|usdm|coinm` names the market kind (the spelling); any
    // other value is the strategy's `market` key, the symbol.
    let mut overrides = a.overrides.clone();
    let mut data_market = a.data_market.clone();
    if let Some(m) = overrides.market.as_deref() {
        if m.parse::<Market>().is_ok() {
            data_market = Some(m.to_string());
            overrides.market = None;
        }
    }
    if let Some(sym) = &a.symbols {
        let list: Vec<&str> = sym.split(',').filter(|s| !s.is_empty()).collect();
        if list.len() != 1 {
            bail!(
                "--symbols: the pipeline trades one symbol per process; give one (run one minerva per symbol)"
            );
        }
        overrides.market = Some(list[0].to_ascii_uppercase());
    }
    let market_kind = data_market
        .as_deref()
        .map(str::parse::<Market>)
        .transpose()?
        .unwrap_or(Market::Spot);
    let mut gateway_hosts = None;
    let live_host: Option<String> = if binance {
        let (rest, ws) = endpoint_urls(&a.endpoint, &a.host, market_kind)?;
        if a.endpoint == "live" && !a.i_mean_it && !a.paper {
            bail!(
                "--endpoint live sends real orders with real money: add --i-mean-it to confirm (try --endpoint testnet first; docs/operations.md)"
            );
        }
        gateway_hosts = Some((rest, ws.clone()));
        Some(ws)
    } else if a.source.starts_with("ws://") || a.source.starts_with("wss://") {
        Some(a.source.trim_end_matches('/').to_string())
    } else {
        None
    };
    let live_host = live_host.as_deref();
    let files: Vec<PathBuf> = match (a.source.strip_prefix("replay:"), live_host) {
        (Some(list), _) => list
            .split(',')
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect(),
        (None, Some(_)) => Vec::new(),
        (None, None) => bail!(
            "--source must be replay:FILE[,FILE...], ws://HOST:PORT (minerva exchange, paper trading) or binance (with --endpoint)"
        ),
    };
    // A recording database stands for its sessions.
    let files = minerva::store::expand(&files)?;
    if files.is_empty() && live_host.is_none() {
        bail!("--source replay: names no file");
    }
    let strategy = load_strategy(&a.strategy, &overrides)?;
    let speed = parse_speed(&a.speed)?;
    let wait = WaitPlan::parse(&a.wait)?;
    let threads = if a.compact { 1 } else { a.threads.unwrap_or(1) };
    let pin = match &a.pin {
        Some(p) => PinPlan::parse(p, &minerva::pipeline::pin::allowed_cpus())?,
        None => PinPlan::default(),
    };
    let report_every = match a.report_every {
        Some(s) if s.is_finite() && s > 0.0 => Some(std::time::Duration::from_secs_f64(s)),
        Some(_) => bail!("--report-every must be a positive number of seconds"),
        None => None,
    };
    if a.mlock {
        lock_memory()?;
    }
    let (keys, from_env) = ApiKeys::from_env_or_paper();
    let live_gateway = gateway_hosts.is_some() && !a.paper;
    if live_gateway && !from_env && a.endpoint != "local" {
        bail!(
            "--endpoint {}: set MINERVA_BINANCE_API_KEY and MINERVA_BINANCE_API_SECRET (keys are read from the environment only)",
            a.endpoint
        );
    }
    if !from_env {
        eprintln!(
            "signing with the documented paper key pair (no keys in the environment): {}",
            if live_gateway {
                "the local exchange accepts it"
            } else {
                "paper mode"
            }
        );
    }
    let (spec, live) = match live_host {
        None => {
            let opts = strategy_replay(&strategy, data_market.as_deref(), a.exchange_info.clone())?;
            let table = replay::symbol_table(&files, &opts)?;
            (table.specs()[0].clone(), None)
        }
        Some(host) => {
            let mut live = live_config(host, &strategy, data_market.as_deref())?;
            live.rest = gateway_hosts.as_ref().map(|(rest, _)| rest.clone());
            (live_spec(&live)?, Some(live))
        }
    };
    let keys = std::sync::Arc::new(keys);
    let live_link = match (&gateway_hosts, live_gateway) {
        (Some((rest, ws)), true) => Some(minerva::venues::binance::link::LinkConfig {
            rest: rest.clone(),
            ws: ws.clone(),
            spec: spec.clone(),
            keys: keys.clone(),
            time_sync: std::time::Duration::from_secs(if a.endpoint == "local" { 1 } else { 30 }),
            fees: (strategy.maker_fee_e8, strategy.taker_fee_e8),
            fill_wait: std::time::Duration::from_millis(200),
            spin: match a.orders_wait.as_str() {
                "park" => false,
                "spin-yield" => {
                    let cpus = minerva::pipeline::pin::allowed_cpus().len();
                    if threads + 1 > cpus {
                        bail!(
                            "--orders-wait spin-yield: {threads} pipeline thread(s) and the order thread would spin on {cpus} CPU(s); use park, or fewer threads"
                        );
                    }
                    true
                }
                w => bail!("--orders-wait `{w}`: expected park or spin-yield"),
            },
        }),
        _ => None,
    };
    let frames = minerva::store::files::recorded_frames(&files)?;
    let cfg = RunConfig {
        threads,
        wait,
        pin,
        realtime: a.realtime,
        ring_capacity: a.ring,
        sim: {
            let sim = a.sim.options()?;
            if matches!(
                sim.latency.feed,
                minerva::sim::latency::Delay::Recorded { .. }
            ) {
                bail!(
                    "--latency feed=recorded reads the recording's clocks: it is for minerva backtest"
                );
            }
            sim
        },
        snapshot_request: None,
        report_every,
        latency_log: a.latency_log.clone(),
        live: live_link,
    };
    Ok(RunSetup {
        live,
        frames,
        speed,
        spec,
        strategy,
        keys,
        cfg,
    })
}

/// A live source's settings for `ws://host` under `strategy`.
fn live_config(
    host: &str,
    strategy: &minerva::strategy::Strategy,
    market: Option<&str>,
) -> Result<minerva::venues::binance::stream::LiveConfig> {
    let market = market
        .map(str::parse::<Market>)
        .transpose()?
        .unwrap_or(Market::Spot);
    // The streams the shipped recordings hold (and Binance serves).
    let depth = if market.is_futures() {
        "depth@0ms"
    } else {
        "depth@100ms"
    };
    Ok(minerva::venues::binance::stream::LiveConfig {
        host: host.to_string(),
        market,
        symbol: strategy.market.to_ascii_uppercase(),
        rest: None,
        streams: vec![depth.into(), "trade".into()],
        snapshot_limit: if market.is_futures() { 1000 } else { 5000 },
        max_reconnects: None,
        seed: 0,
        rotate_after: Some(minerva::venues::binance::stream::ROTATE_AFTER),
        stale_after: Some(minerva::venues::binance::stream::STALE_AFTER),
    })
}

/// The server's exchangeInfo body for the source's symbol. Cold.
fn live_exchange_info(live: &minerva::venues::binance::stream::LiveConfig) -> Result<Vec<u8>> {
    let path = if live.market.is_futures() {
        "/fapi/v1/exchangeInfo".to_string()
    } else {
        format!("/api/v3/exchangeInfo?symbol={}", live.symbol)
    };
    Ok(minerva::net::http::get(
        live.rest.as_deref().unwrap_or(&live.host),
        &path,
        std::time::Duration::from_secs(5),
    )?)
}

/// The symbol's grids from the server's exchangeInfo. Cold.
fn live_spec(live: &minerva::venues::binance::stream::LiveConfig) -> Result<SymbolSpec> {
    let body = live_exchange_info(live)?;
    let info =
        minerva::venues::binance::exchange_info::parse_exchange_info(&body, Some(live.market))
            .with_context(|| format!("exchangeInfo from {}", live.host))?;
    info.specs
        .into_iter()
        .find(|s| s.name.as_str() == live.symbol)
        .with_context(|| format!("{} is not listed by {}", live.symbol, live.host))
}

fn cmd_run(a: RunArgs) -> Result<()> {
    use minerva::feed::ReplaySource;
    use minerva::pipeline::run::run;
    use minerva::shutdown::{flag as stop_flag, install_handlers as install_signal_handlers};
    use minerva::venues::binance::sign::Signer;
    let s = run_setup(&a)?;
    let _daemon = a.daemon.detach("run")?;
    if _daemon.is_some() && a.mlock {
        // Memory locks are not inherited across fork: the daemon takes its own (the
        // starting process checked that it can).
        lock_memory()?;
    }
    install_signal_handlers();
    let signer = || Signer::new(&s.keys);
    let mut recorded = None;
    // The feed's frames into a recording database, when asked: the same source,
    // tapped.
    macro_rules! go {
        ($source:expr, $cfg:expr, $name:expr) => {
            match &a.record {
                None => run($source, &s.spec, &s.strategy, signer(), $cfg)?,
                Some(db) => {
                    let target = minerva::store::Target::parse(db);
                    let (tapped, stats, writer) =
                        minerva::store::tap::tap($source, &target, $name, 256 << 20)?;
                    let r = run(tapped, &s.spec, &s.strategy, signer(), $cfg)?;
                    // A recorder that failed (disk full…) did not stop the trading: its
                    // error comes after the run's report.
                    let stored = writer
                        .join()
                        .map_err(|_| anyhow::anyhow!("the recorder thread panicked"))
                        .and_then(|r| r.map_err(anyhow::Error::from));
                    recorded = Some((target.display(), stats, stored));
                    r
                }
            }
        };
    }
    let report = match s.live.clone() {
        None => go!(
            ReplaySource::new(s.frames, s.speed),
            &s.cfg,
            "minerva run (replay)"
        ),
        Some(live) => {
            let name = format!("{}/{}", live.host, live.symbol);
            let source = minerva::venues::binance::stream::LiveSource::new(live, stop_flag());
            let cfg = minerva::pipeline::run::RunConfig {
                snapshot_request: Some(source.snapshot_request()),
                ..s.cfg.clone()
            };
            go!(source, &cfg, &name)
        }
    };
    print!("{}", report.to_text());
    if report.interrupted {
        eprintln!("stopped by signal: rings drained, resting orders cancelled");
    }
    if let Some((db, st, stored)) = recorded {
        use std::sync::atomic::Ordering::Relaxed;
        println!(
            "recorded into {db}: {} frames stored, {} not recorded (the recorder fell behind or stopped)",
            st.stored.load(Relaxed),
            st.dropped.load(Relaxed)
        );
        stored.context("the recording stopped (the trading did not)")?;
    }
    Ok(())
}

fn cmd_bench_pipeline(a: PipelineBenchArgs) -> Result<()> {
    use minerva::feed::ReplaySource;
    use minerva::pipeline::run::run;
    use minerva::shutdown::install_handlers as install_signal_handlers;
    use minerva::venues::binance::sign::Signer;
    if a.run.daemon.daemon {
        bail!("bench pipeline runs in the foreground: no --daemon");
    }
    let s = run_setup(&a.run)?;
    if s.live.is_some() {
        bail!("bench pipeline replays recordings: give --source replay:FILE[,FILE]");
    }
    install_signal_handlers();
    let mut merged: Option<minerva::pipeline::run::RunReport> = None;
    let mut rates = Vec::new();
    for _ in 0..a.repeat.max(1) {
        let r = run(
            ReplaySource::new(s.frames.clone(), s.speed),
            &s.spec,
            &s.strategy,
            Signer::new(&s.keys),
            &s.cfg,
        )?;
        rates.push(r.frames as f64 / r.secs.max(1e-9));
        match merged.as_mut() {
            Some(m) => m.lat.merge(&r.lat),
            None => merged = Some(r),
        }
    }
    let m = merged.expect("at least one pass");
    rates.sort_by(f64::total_cmp);
    let rate = rates[rates.len() / 2];
    println!("{}", m.lat.table());
    let q = |l: &minerva::telemetry::Latency, p: f64| {
        let h = l.histogram();
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    for (name, l) in [
        ("tick_to_trade", &m.lat.tick_to_trade),
        ("tick_to_decision", &m.lat.tick_to_decision),
    ] {
        println!(
            "RESULT peer=minerva-pipeline series={name} threads={} passes={} frames={} frames_per_sec={rate:.0} p50_ns={} p99_ns={} p999_ns={} max_ns={} count={}",
            s.cfg.threads,
            rates.len(),
            m.frames,
            q(l, 0.5),
            q(l, 0.99),
            q(l, 0.999),
            l.histogram().max(),
            l.count()
        );
    }
    Ok(())
}

/// A time given as unix ms or `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z]` (UTC), in unix ns.
fn parse_time_ns(flag: &str, v: &str) -> Result<u64> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        let ms: u64 = v.parse().with_context(|| format!("{flag} `{v}`"))?;
        return ms
            .checked_mul(1_000_000)
            .with_context(|| format!("{flag} `{v}` is too large"));
    }
    let bad = || anyhow::anyhow!("{flag} `{v}`: expected unix ms or 2024-08-09T00:00:00Z");
    let t = v.strip_suffix('Z').unwrap_or(v);
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [y, m, day] = d[..] else {
        return Err(bad());
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let h: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (hh, mm, ss) = match h[..] {
        [hh, mm] => (hh, mm, 0),
        [hh, mm, ss] => (hh, mm, ss),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    let ns_frac: i64 = if frac.is_empty() {
        0
    } else if frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()) {
        frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32)
    } else {
        return Err(bad());
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    if secs < 0 {
        return Err(bad());
    }
    Ok(secs as u64 * 1_000_000_000 + ns_frac as u64)
}

/// Prints to stdout, and goes on when stdout is gone (`minerva evolve … | head`): the
/// evolution still ends and writes its file.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// [`say!`] with a newline.
macro_rules! sayln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

fn cmd_evolve(a: EvolveArgs) -> Result<()> {
    use minerva::evolve::{self, Gene, report, study::Study};
    use std::io::Write;
    let text = std::fs::read_to_string(&a.strategy)
        .with_context(|| format!("strategy {}", a.strategy.display()))?;
    let strategy = load_strategy(&a.strategy, &a.overrides)?;
    let fixed = a.overrides.pairs();
    // Genes: the defaults (unless --only-genes), each --gene adding or replacing one,
    // each --fix taking one out.
    let mut genes = if a.only_genes {
        Vec::new()
    } else {
        Gene::defaults()
    };
    // A key set on the command line is fixed at that value, not searched.
    let overridden: Vec<&str> = fixed.iter().map(|(k, _)| *k).collect();
    genes.retain(|g| !overridden.contains(&g.key.as_str()));
    for spec in &a.genes {
        let g = Gene::parse(spec)?;
        if overridden.contains(&g.key.as_str()) {
            bail!(
                "--gene {spec}: --{} sets that key on the command line; give one or the other",
                g.key.replace('_', "-")
            );
        }
        match genes.iter_mut().find(|x| x.key == g.key) {
            Some(x) => *x = g,
            None => genes.push(g),
        }
    }
    for k in &a.fixed {
        let before = genes.len();
        genes.retain(|g| &g.key != k);
        if genes.len() == before && !overridden.contains(&k.as_str()) {
            bail!("--fix {k}: not a gene of this run");
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = a.jobs.unwrap_or(cores);
    if jobs == 0 || jobs > cores {
        bail!("--jobs {jobs}: from 1 to {cores} (the CPUs this process may use)");
    }
    let cfg = evolve::Config {
        population: a.population,
        generations: a.generations,
        elite: a.elite,
        tournament: a.tournament,
        crossover: a.crossover,
        mutation: a.mutation,
        mutation_scale: a.mutation_scale,
        min_trades: a.min_trades,
        patience: a.patience,
        jobs,
        seed: a.ga_seed,
    };
    cfg.check()?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.strategy.with_extension("evolved.toml"));
    let same = |x: &std::path::Path, y: &std::path::Path| match (x.canonicalize(), y.canonicalize())
    {
        (Ok(x), Ok(y)) => x == y,
        _ => x == y,
    };
    if same(&out, &a.strategy) {
        bail!("--out: give another file than the strategy evolved from");
    }
    let backtest = a.run.config()?;
    let objective = backtest.objective;
    let symbols = symbol_list(a.symbols.as_deref(), &strategy)?;
    let mut markets = Vec::with_capacity(symbols.len());
    for sym in &symbols {
        let strategy = minerva::strategy::Strategy {
            market: sym.clone(),
            ..strategy.clone()
        };
        let opts = strategy_replay(&strategy, a.data_market.as_deref(), a.exchange_info.clone())?;
        let (spec, frames) = symbol_data(&a.files, symbols.len(), &opts)?;
        // Decoded once; the frames are not needed again.
        let tape = minerva::backtest::tape::Tape::record(&frames, &spec);
        markets.push((tape, spec));
    }
    // What every outcome depends on, for --resume to check a log against.
    let fingerprint = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (tape, spec) in &markets {
            h.update(format!(
                "{spec:?} {} {} {:?} {:?}\n",
                tape.len(),
                tape.frames,
                tape.time_ns(0),
                tape.time_ns(tape.len().saturating_sub(1))
            ));
        }
        h.update(&text);
        h.update(format!("{fixed:?} {backtest:?} {}", a.holdout));
        format!("{:x}", h.finalize())[..16].to_string()
    };
    let study = Study::new(
        markets.iter().map(|(t, s)| (t, s)).collect(),
        &text,
        fixed,
        backtest,
        a.holdout,
    )?;
    study.check(&genes)?;
    let start = study.start(&genes).map_err(anyhow::Error::msg)?;
    let mut known = Vec::new();
    let mut log = match (&a.log, &a.resume) {
        (Some(p), _) => {
            let mut f =
                std::fs::File::create(p).with_context(|| format!("--log {}", p.display()))?;
            f.write_all(report::csv_fingerprint(&fingerprint).as_bytes())?;
            f.write_all(report::csv_head(&genes).as_bytes())?;
            Some(f)
        }
        (None, Some(p)) => {
            let mut text =
                std::fs::read_to_string(p).with_context(|| format!("--resume {}", p.display()))?;
            // A last row cut short (the run was killed mid-write) is dropped: that
            // candidate runs again, and new rows do not join onto the stump.
            if !text.is_empty() && !text.ends_with('\n') {
                text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .and_then(|f| f.set_len(text.len() as u64))
                    .with_context(|| format!("--resume {}", p.display()))?;
                sayln!("note: {}: its last row was cut short; dropped", p.display());
            }
            known = report::read_log(&text, &genes, &fingerprint)
                .with_context(|| format!("--resume {}", p.display()))?;
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .with_context(|| format!("--resume {}", p.display()))?;
            Some(f)
        }
        (None, None) => None,
    };
    for (tape, spec) in &markets {
        sayln!(
            "evolve {} {} · {} messages on tape ({} frames, {} undecodable)",
            spec.name,
            spec.market.name(),
            tape.len(),
            tape.frames,
            tape.decode_errors
        );
    }
    if markets.len() > 1 {
        sayln!(
            "figures: the {} symbols' backtests combined, each with the strategy's capital",
            markets.len()
        );
    }
    sayln!("train    {}", report::window(study.train));
    if let Some(h) = study.holdout {
        sayln!("holdout  {}", report::window(h));
    }
    sayln!(
        "population {} · generations {} · elite {} · tournament {} · crossover {} · mutation {} × {} · min trades {} · fitness {objective} · seed {} · {jobs} jobs",
        cfg.population,
        cfg.generations,
        cfg.elite,
        cfg.tournament,
        cfg.crossover,
        cfg.mutation,
        cfg.mutation_scale,
        cfg.min_trades,
        cfg.seed
    );
    say!("genes:\n{}", report::genes(&genes));
    sayln!("{}", report::GENERATION_HEAD);
    minerva::shutdown::install_handlers();
    let mut log_error = None;
    // After Ctrl-C the backtests under way finish and the rest of the generation is
    // skipped (listed as not run), so a long generation does not hold the exit up.
    let evaluate = |o: &[(&str, String)]| {
        if minerva::shutdown::requested() {
            return Err("not run: stopped".to_string());
        }
        study.evaluate(o, study.train)
    };
    if !known.is_empty() {
        sayln!(
            "resuming: {} candidates from {}",
            known.len(),
            a.resume
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
    }
    let e = evolve::evolve_from(&genes, &start, &cfg, known, &evaluate, &mut |g| {
        sayln!("{}", report::generation(g));
        if let Some(f) = &mut log {
            // A failing log is reported at the end; the evolution goes on.
            if let Err(err) = f.write_all(report::csv_rows(&genes, g).as_bytes()) {
                log_error.get_or_insert(err);
            }
        }
        !minerva::shutdown::requested()
    })?;
    if let Err(why) = &e.best.outcome {
        bail!("no candidate could run (the best: {why}); nothing written");
    }
    // The best, then the next best that ran and behaved differently (many candidates
    // place the same orders: the same outcome says nothing new about the holdout).
    let mut check = vec![e.best.clone()];
    for c in e.ranked.iter().filter(|c| c.outcome.is_ok()) {
        if check.len() >= a.top.max(1) {
            break;
        }
        if !check.iter().any(|x| x.outcome == c.outcome) {
            check.push(c.clone());
        }
    }
    // Each row's overrides, and its training outcome when the search has it. The start
    // row is the strategy as given, its values exactly (the search began from the
    // nearest grid point): backtested here, with the holdout checks.
    let start_genome = evolve::start_genome(&genes, &start);
    let mut rows: Vec<_> = check
        .into_iter()
        .map(|c| (evolve::overrides(&genes, &c.genome), Some(c)))
        .collect();
    rows.push((Vec::new(), None));
    let holdout = study.holdout;
    let mut checked: Vec<report::Checked> =
        evolve::par_map(jobs, &rows, &|(o, c)| report::Checked {
            candidate: c.clone().unwrap_or_else(|| evolve::Candidate {
                genome: start_genome.clone(),
                outcome: study.evaluate(o, study.train),
                born: 0,
            }),
            holdout: holdout.map(|w| study.evaluate(o, w)),
        });
    let start_checked = checked.pop().expect("the start row");
    let best = checked;
    for (g, (&v, &k)) in genes.iter().zip(start.iter().zip(&start_genome)) {
        if v.is_finite() && (g.value(k) - v).abs() > 1e-9 {
            sayln!(
                "note: the strategy's {} = {v} is off the gene's grid; the search began from {}",
                g.key,
                g.text(k)
            );
        }
    }
    say!("{}", report::summary(&genes, &e, &start_checked, &best));
    // The best strategy file: the original with the fixed overrides and evolved genes
    // set, and what it scored.
    let mut values = a.overrides.pairs();
    values.extend(evolve::overrides(&genes, &e.best.genome));
    let evolved = minerva::strategy::with_values(&text, &values)?;
    let tmp = out.with_extension("toml.tmp");
    std::fs::write(&tmp, evolved)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .with_context(|| format!("--out {}", out.display()))?;
    let train = e.best.outcome.as_ref().ok();
    let hold = best
        .first()
        .and_then(|c| c.holdout.as_ref())
        .and_then(|h| h.as_ref().ok());
    let mut results = vec![
        ("fitness", train.map_or(f64::NAN, |o| o.fitness)),
        ("trades", train.map_or(0.0, |o| o.trades as f64)),
        ("net_pnl", train.map_or(f64::NAN, |o| o.net_pnl)),
        ("max_drawdown", train.map_or(f64::NAN, |o| o.max_drawdown)),
    ];
    if let Some(h) = hold {
        results.extend([
            ("holdout_fitness", h.fitness),
            ("holdout_trades", h.trades as f64),
            ("holdout_net_pnl", h.net_pnl),
        ]);
    }
    results.extend([
        ("generations", e.generations as f64),
        ("backtests", e.evaluations as f64),
    ]);
    results.retain(|(_, v)| v.is_finite());
    minerva::strategy::write_results(&out, &results)
        .with_context(|| format!("--out {}", out.display()))?;
    sayln!("wrote {}", out.display());
    if let Some(err) = log_error {
        bail!("--log: {err}");
    }
    Ok(())
}

/// Recorded frames: `(bytes, recorded ns)` in order.
type RecordedFrames = Vec<(Vec<u8>, u64)>;

/// `--symbols A,B` as a list; the strategy's market when absent.
fn symbol_list(list: Option<&str>, strategy: &minerva::strategy::Strategy) -> Result<Vec<String>> {
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

/// The grid and recorded frames of `opts.symbol` (cold: reads every file). With one
/// symbol every file is its session; with several (`of` > 1), the files that hold it.
fn symbol_data(
    files: &[PathBuf],
    of: usize,
    opts: &ReplayOptions,
) -> Result<(minerva::core::SymbolSpec, RecordedFrames)> {
    let sym = opts.symbol.clone().unwrap_or_default();
    let files: Vec<PathBuf> = if of == 1 {
        files.to_vec()
    } else {
        files
            .iter()
            .filter(|f| replay::symbol_table(std::slice::from_ref(*f), opts).is_ok())
            .cloned()
            .collect()
    };
    if files.is_empty() {
        bail!("no file holds {sym}");
    }
    let spec = replay::symbol_table(&files, opts)
        .with_context(|| sym.clone())?
        .specs()[0]
        .clone();
    let frames = minerva::store::files::recorded_frames(&files).with_context(|| sym)?;
    Ok((spec, frames))
}

fn cmd_backtest(a: BacktestArgs) -> Result<()> {
    use minerva::backtest::{self, Input};
    use minerva::venues::binance::{keys::ApiKeys, sign::Signer};
    let strategy = load_strategy(&a.strategy, &a.overrides)?;
    let symbols = symbol_list(a.symbols.as_deref(), &strategy)?;
    let cfg = a.run.config()?;
    // The simulated exchange checks signatures like Binance: any key works, none is read.
    let signer = Signer::new(&ApiKeys::new(
        "minerva-backtest".into(),
        b"minerva-backtest".to_vec(),
    ));
    // SAFETY: isatty only inspects a file descriptor.
    let tty = unsafe { libc::isatty(2) } == 1;
    let mut reports = Vec::with_capacity(symbols.len());
    let mut specs = Vec::with_capacity(symbols.len());
    for sym in &symbols {
        let mut strategy = strategy.clone();
        strategy.market = sym.clone();
        let opts = strategy_replay(&strategy, a.data_market.as_deref(), a.exchange_info.clone())?;
        let (spec, frames) = symbol_data(&a.files, symbols.len(), &opts)?;
        let mut progress = |done: u64, total: u64| {
            if tty {
                let w = 30;
                let filled = (done * w / total.max(1)) as usize;
                eprint!(
                    "\r{sym} [{}{}] {:>3} % {done}/{total} frames",
                    "#".repeat(filled),
                    ".".repeat(w as usize - filled),
                    done * 100 / total.max(1)
                );
                if done >= total {
                    eprintln!();
                }
            }
        };
        let r = backtest::run(
            Input::Frames(&frames),
            &spec,
            &strategy,
            signer.clone(),
            &cfg,
            &mut progress,
        )
        .with_context(|| sym.clone())?;
        // Wall-clock figures go to stderr: the report itself is the same on every run.
        eprintln!(
            "{sym}: {} frames in {:.3} s: {:.0} frames/s",
            r.frames,
            r.wall_secs,
            r.frames_per_sec()
        );
        reports.push(r);
        specs.push(spec);
    }
    let combined =
        (reports.len() > 1).then(|| backtest::combine(&reports, cfg.objective, cfg.period_us));
    if a.json {
        match &combined {
            None => println!("{}", reports[0].to_json()),
            Some(c) => println!("{}", c.to_json(&reports, cfg.objective)),
        }
    } else {
        for r in &reports {
            print!("{}", r.to_text());
        }
        if let Some(c) = &combined {
            print!("{}", c.to_text(cfg.objective, cfg.period_us));
        }
    }
    if let Some(p) = &a.trades {
        let mut csv = String::new();
        for (k, (r, spec)) in reports.iter().zip(&specs).enumerate() {
            let t = r.trades_csv(spec);
            csv.push_str(if k == 0 {
                &t
            } else {
                t.split_once('\n').map_or("", |x| x.1)
            });
        }
        std::fs::write(p, csv).with_context(|| format!("--trades {}", p.display()))?;
    }
    if let Some(p) = &a.equity {
        let csv = match &combined {
            None => reports[0].equity_csv(),
            Some(c) => minerva::backtest::report::equity_csv(&c.equity),
        };
        std::fs::write(p, csv).with_context(|| format!("--equity {}", p.display()))?;
    }
    if a.write_fitness {
        let (fitness, m) = match &combined {
            None => (reports[0].fitness, &reports[0].metrics),
            Some(c) => (c.fitness, &c.metrics),
        };
        let results = [
            ("fitness", fitness),
            ("net_pnl", m.net_pnl),
            ("max_drawdown", m.max_drawdown),
            ("return_on_capital", m.return_on_capital),
            ("trades", m.trades as f64),
            ("win_rate", m.win_rate.unwrap_or(0.0)),
            ("fees", m.fees),
        ];
        minerva::strategy::write_results(&a.strategy, &results)
            .with_context(|| format!("--write-fitness {}", a.strategy.display()))?;
    }
    Ok(())
}
