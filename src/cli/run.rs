//! `minerva run`: the pipeline (feed → book → signal → gateway) on recorded data, a
//! live feed or a venue, trading on the simulated exchange or through a live link,
//! with its latency report.

use super::args::{
    DaemonArgs, MarketData, ModelArgs, OVERRIDES_HELP, Speed, StrategyArgs, load_strategy,
    lock_memory, parse_speed, strategy_replay,
};
use anyhow::{Context, Result, bail};
use minerva::core::{Market, SymbolSpec};
use minerva::feed::ReplaySource;
use minerva::pipeline::wait::WaitPlan;
use minerva::pipeline::{PinPlan, Stage, pin::allowed_cpus};
use minerva::pipeline::{RunConfig, RunReport, run_symbols};
use minerva::sim::latency::Delay;
use minerva::strategy::Strategy;
use minerva::venues::binance::endpoints::{self, Environment, Hosts};
use minerva::venues::binance::keys::ApiKeys;
use minerva::venues::binance::link::{LeverageWish, LinkConfig};
use minerva::venues::binance::sign::Signer;
use minerva::venues::binance::stream::LiveConfig;
use minerva::venues::kucoin::sign::Signer as KucoinSigner;
use minerva::venues::{FeedConfig, OrderSigner};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `minerva run`'s flags.
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    /// `replay:FILE[,FILE...]`: recorded data replayed as a socket would deliver it;
    /// `ws://HOST:PORT`: a live feed (minerva exchange) traded on the simulated
    /// exchange (paper); `binance`: the feed and the live gateway of --endpoint;
    /// `kucoin`: KuCoin's feed and its order link at --endpoint (local or live; spot or
    /// futures by --market; keys in MINERVA_KUCOIN_API_KEY/_SECRET/_PASSPHRASE).
    /// --paper trades either venue's feed on the simulated exchange instead.
    #[arg(long)]
    source: String,
    #[command(flatten)]
    access: super::access::Access,
    /// Symbols traded (BTCUSDT or BTCUSDT,ETHUSDT,SOLUSDT; the strategy's `market`
    /// otherwise). Several are read from one source (a combined stream, or a
    /// recording's files merged by time), each with its own book, oracle and trader
    /// (on its own simulated exchange, or link) in the same stages, the strategy's max_concurrent_trades and
    /// max_capital_in_use taken across them, and the latency reported per symbol:
    /// --source replay:…, ws://… (minerva exchange), binance or kucoin (live: a link per
    /// symbol, one order connection and private stream each; KuCoin futures: each
    /// contract's leverage and margin mode its own). The live view draws each
    /// symbol's panels (↓/↑) and a line per symbol, the metrics a series per symbol.
    #[arg(long)]
    symbols: Option<String>,
    /// With a Binance feed: the diff depth stream read (default: the market's fastest,
    /// depth@100ms on spot, depth@0ms on futures); `depth@100ms` reads a recording
    /// made at that speed from minerva exchange.
    #[arg(long, value_name = "STREAM", value_parser = parse_depth_stream)]
    depth_stream: Option<String>,
    /// With --source kucoin: where the book comes from — KuCoin's classic level-2
    /// updates on a REST snapshot (the full book), or the unified account's `obu`
    /// channel (a snapshot on the stream, then 10 ms deltas of the top 500 levels a
    /// side; trades from its `trade` channel; docs/kucoin.md).
    #[arg(long, value_enum, default_value = "level2")]
    kucoin_book: super::args::KucoinBook,
    /// Confirms --endpoint live: real orders with real money.
    #[arg(long)]
    i_mean_it: bool,
    /// With --source binance or kucoin: trade on the simulated exchange (paper) instead.
    #[arg(long)]
    paper: bool,
    /// Record every frame the feed receives into this recording database (a writer
    /// thread off the hot path; a session per symbol with --symbols; docs/recording.md).
    #[arg(long)]
    record: Option<String>,
    /// The audit journal (a SQLite file or `postgres://…`): every decision, order,
    /// exchange report, closed operation, account snapshot and connection event of the
    /// run (docs/observe.md). Default for live runs (--source binance or ws://): beside
    /// --record (`X.db` → `X-journal.db`; a PostgreSQL recording's own database), else
    /// `minerva-journal.db`; replays keep one only when asked.
    #[arg(long, conflicts_with = "no_journal")]
    journal: Option<PathBuf>,
    /// Keep no journal.
    #[arg(long, conflicts_with = "write_fitness")]
    no_journal: bool,
    /// Keep the strategy file's `[results.live]` table up to date with the live
    /// figures (fitness, net PnL, drawdown, trades, win rate, fees) at every closed
    /// operation and at exit; written atomically, comments kept (`[results]`, the
    /// backtest's, untouched). Needs the journal.
    #[arg(long)]
    write_fitness: bool,
    /// The watchdog: `no-data=30s` (a silent feed is reconnected and resynced),
    /// `no-operation=30m` (no operation sent for that long: reconnect, resync, a
    /// journal entry), `drawdown=5%` (realised equity that far below its peak: the
    /// kill switch, --on-kill, exit code 4), `reconnects=10` (that many failed
    /// connection attempts in a row: a clean stop, exit code 3). Any subset.
    #[arg(long, value_parser = minerva::gateway::watchdog::Watchdog::parse)]
    watchdog: Option<minerva::gateway::watchdog::Watchdog>,
    /// What the drawdown kill does with open positions after cancelling every
    /// resting order: flatten them with market orders, or hold them.
    #[arg(long, value_enum, default_value = "flatten")]
    on_kill: OnKill,
    /// A position or open orders Minerva did not place, found on the account at
    /// start: refuse to start (naming them), adopt (trade around them), or flatten
    /// (cancel the orders, close the position with a reduce-only market order).
    #[arg(long, value_enum, default_value = "refuse")]
    on_start: minerva::venues::OnStart,
    /// The live gateway's order I/O thread between requests.
    #[arg(long, value_enum, default_value = "park")]
    orders_wait: OrdersWait,
    #[command(flatten)]
    strategy: StrategyArgs,
    /// Replay speed: `max`, or a multiple of real time (`1`, `10`).
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    /// Threads: 1 (compact: every stage on one thread, the default), 2 (feed + book |
    /// signal + gateway), 3 (feed | book | signal + gateway) or 4 (one per stage).
    #[arg(long)]
    threads: Option<usize>,
    /// Same as --threads 1.
    #[arg(long)]
    compact: bool,
    /// Wait strategy: spin (isolated cores only), spin-yield (default) or park; for every
    /// stage, or per stage (book=spin,signal=park), or both (park,book=spin). With spin
    /// the feed also busy-polls its source (a live feed's sockets, a paced replay's
    /// clock); otherwise it sleeps until bytes arrive.
    #[arg(long, default_value = "spin-yield", value_parser = |v: &str| WaitPlan::parse(v))]
    wait: WaitPlan,
    /// CPU per stage, e.g. feed=2,book=3,signal=4,gateway=5 (stages sharing a thread
    /// must name the same CPU).
    #[arg(long, value_parser = |v: &str| PinPlan::parse(v, &allowed_cpus()))]
    pin: Option<PinPlan>,
    /// Lock all memory (mlockall) so the hot path never page-faults.
    #[arg(long)]
    mlock: bool,
    /// Run the pipeline's threads under SCHED_FIFO (refused when busy threads would
    /// outnumber the CPUs, or without the privilege).
    #[arg(long)]
    realtime: bool,
    /// Do not keep the order path warm: by default the gateway's thread writes and
    /// signs a throwaway entry (never sent) every 50 µs, so a real one finds the
    /// encoder and HMAC in cache, and when the market is slow a compact run also
    /// builds a pressed book's view and runs the oracle's searches on it, results
    /// thrown away (docs/latency.md).
    #[arg(long)]
    no_warm: bool,
    /// Print a latency report every this many seconds (SIGUSR1 prints one any time).
    #[arg(long)]
    report_every: Option<f64>,
    #[command(flatten)]
    model: ModelArgs,
    /// Slots per ring. Small rings keep queues short when the input outruns the stages
    /// (max speed); at least 1024 (one frame's worth of messages).
    #[arg(long, default_value_t = 1024)]
    ring: usize,
    /// Write the latency histograms as an HdrHistogram interval log (an interval per
    /// report, and the last at exit).
    #[arg(long)]
    latency_log: Option<PathBuf>,
    #[command(flatten)]
    data: MarketData,
    /// Watch the run in a live terminal view (book bins with walls and voids,
    /// pressure, trades, operations, account, latency, counters; q quits and stops
    /// the run, p pauses). The seed's `--plot_data 1`.
    #[arg(long)]
    view: bool,
    /// Serve the run's status read-only on this Unix socket (mode 0600) for `minerva
    /// view PATH` from another terminal.
    #[arg(long, value_name = "PATH")]
    status: Option<PathBuf>,
    /// How often the view and the status socket get a snapshot, ms (100 to 10000).
    #[arg(long, default_value_t = 250, value_name = "MS")]
    status_every: u64,
    /// Serve Prometheus metrics on `http://HOST:PORT/metrics`, from the status
    /// snapshots (--status-every): counters, rings, latency per stage, account,
    /// position and PnL (docs/operations.md).
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// `--depth-stream`: one of Binance's diff depth streams.
fn parse_depth_stream(v: &str) -> Result<String, String> {
    match v {
        "depth" | "depth@0ms" | "depth@100ms" | "depth@250ms" | "depth@500ms" | "depth@1000ms" => {
            Ok(v.to_string())
        }
        _ => Err(format!(
            "{v}: a diff depth stream (depth, depth@0ms, depth@100ms, depth@250ms, depth@500ms, depth@1000ms)"
        )),
    }
}

/// What the watchdog's kill does with open positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnKill {
    /// Close them with market orders.
    Flatten,
    /// Keep them (their exits are cancelled: unprotected).
    Hold,
}

/// How the live gateway's order thread waits between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrdersWait {
    /// Sleeps; wakes in tens of µs.
    Park,
    /// No wake-up on the order path; needs a core of its own.
    SpinYield,
}

/// Everything `minerva run` needs, checked before anything starts.
pub struct Setup {
    /// A live source instead of recorded frames.
    live: Option<FeedConfig>,
    frames: Vec<(Vec<u8>, u64)>,
    /// With several symbols: per frame, the index of the symbol its snapshot is of.
    frame_symbols: Vec<u16>,
    speed: Option<f64>,
    spec: SymbolSpec,
    /// Every symbol traded (`spec` first).
    specs: Vec<SymbolSpec>,
    strategy: Strategy,
    /// Signs the trader's orders as the venue traded on expects (the simulated
    /// exchange reads the typed orders; the signer still says what the venue takes).
    signer: OrderSigner,
    cfg: RunConfig,
}

/// Where the frames come from.
enum From {
    /// Recorded files or databases.
    Replay(Vec<PathBuf>),
    /// A market-data server (paper trading).
    Feed(String),
    /// A venue: its streams, and its order endpoints unless `--paper`.
    Venue(Hosts),
    /// KuCoin at --endpoint: its feed, and its order endpoints unless `--paper`.
    Kucoin,
}

impl Args {
    /// The source, checked.
    fn from(&self, market: Market) -> Result<From> {
        if self.source == "binance" {
            if self.access.endpoint == Environment::Live && !self.i_mean_it && !self.paper {
                bail!(
                    "--endpoint live sends real orders with real money: add --i-mean-it to confirm (try --endpoint testnet first; docs/operations.md)"
                );
            }
            return Ok(From::Venue(self.access.binance_hosts(market)?));
        }
        if self.source == "kucoin" {
            if self.access.endpoint == Environment::Live && !self.i_mean_it && !self.paper {
                bail!(
                    "--endpoint live sends real orders with real money: add --i-mean-it to confirm (rehearse on the local KuCoin venue first: --endpoint local; docs/kucoin.md)"
                );
            }
            return Ok(From::Kucoin);
        }
        if self.source.starts_with("ws://") || self.source.starts_with("wss://") {
            return Ok(From::Feed(self.source.trim_end_matches('/').to_string()));
        }
        let Some(list) = self.source.strip_prefix("replay:") else {
            bail!(
                "--source must be replay:FILE[,FILE...], ws://HOST:PORT (minerva exchange, paper trading), binance or kucoin (with --endpoint)"
            );
        };
        let files: Vec<PathBuf> = list
            .split(',')
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect();
        // A recording database stands for its sessions.
        let files = minerva::store::expand(&files)?;
        if files.is_empty() {
            bail!("--source replay: names no file");
        }
        Ok(From::Replay(files))
    }
}

/// The market traded, the strategy and the symbols: `--market spot|usdm|coinm` names
/// the market kind (the spelling), any other value the strategy's `market`
/// key (the symbol); `--symbols` names the symbols traded (the first becomes the
/// strategy's `market`).
fn market_and_strategy(a: &Args) -> Result<(Market, MarketData, Strategy, Vec<String>)> {
    let mut overrides = a.strategy.overrides.clone();
    let mut data = a.data.clone();
    if let Some(m) = overrides.market.as_deref() {
        if let Ok(kind) = m.parse::<Market>() {
            data.data_market = Some(kind);
            overrides.market = None;
        }
    }
    let mut symbols = Vec::new();
    if let Some(sym) = &a.symbols {
        for name in sym.split(',').filter(|s| !s.is_empty()) {
            let name = name.to_ascii_uppercase();
            if symbols.contains(&name) {
                bail!("--symbols: {name} is named twice");
            }
            symbols.push(name);
        }
        if symbols.is_empty() {
            bail!("--symbols: name at least one symbol");
        }
        if symbols.len() > minerva::pipeline::MAX_SYMBOLS {
            bail!(
                "--symbols: {} symbols; one process trades at most {}",
                symbols.len(),
                minerva::pipeline::MAX_SYMBOLS
            );
        }
        overrides.market = Some(symbols[0].clone());
    }
    let strategy = load_strategy(&a.strategy.strategy, &overrides)?;
    if symbols.is_empty() {
        symbols.push(strategy.market.clone());
    }
    Ok((
        data.data_market.unwrap_or(Market::Spot),
        data,
        strategy,
        symbols,
    ))
}

/// The watchdog's feed rules on a live source's configuration.
fn watch_feed(live: &mut FeedConfig, w: Option<minerva::gateway::watchdog::Watchdog>) {
    let Some(w) = w else { return };
    live.watch(w.no_data, w.reconnects);
}

/// The watchdog's no-operation rule: a thread that, when no operation was sent for
/// `period`, asks the source to reconnect and resync and journals it. Ends with the
/// run (`done`).
fn watch_operations(
    period: Duration,
    journal: Arc<minerva::store::journal::Journal>,
    reconnect: Arc<std::sync::atomic::AtomicBool>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering::Relaxed;
    std::thread::spawn(move || {
        let now_ns = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64)
        };
        let mut since = now_ns();
        while !done.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let last = journal.last_operation_ns().max(since);
            if now_ns() - last >= period.as_nanos() as i64 {
                tracing::warn!(
                    period_s = period.as_secs_f64(),
                    "watchdog: no operation for the period; reconnecting and resynchronising"
                );
                journal.event(
                    "watchdog_no_operation",
                    sonic_rs::json!({ "period_s": period.as_secs_f64() }).to_string(),
                );
                reconnect.store(true, Relaxed);
                since = now_ns();
            }
        }
    })
}

/// Checks every flag and reads the data before anything starts.
pub fn setup(a: &Args) -> Result<Setup> {
    let (mut market, data, strategy, symbols) = market_and_strategy(a)?;
    if a.source == "kucoin" && data.data_market.is_none() {
        // KuCoin names its contracts apart (XBTUSDTM; spot symbols have a dash).
        market = minerva::venues::kucoin::market_of(&strategy.market);
    }
    let from = a.from(market)?;
    if a.depth_stream.is_some() && !matches!(from, From::Feed(_) | From::Venue(_)) {
        bail!("--depth-stream names a Binance stream: for --source ws://… or binance");
    }
    let threads = if a.compact { 1 } else { a.threads.unwrap_or(1) };
    let report_every = match a.report_every {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(_) => bail!("--report-every must be a positive number of seconds"),
        None => None,
    };
    if a.mlock {
        lock_memory()?;
    }
    // Each symbol's link has its order thread: checked before anything connects.
    let orders_spin = match a.orders_wait {
        OrdersWait::Park => false,
        OrdersWait::SpinYield => {
            let cpus = allowed_cpus().len();
            let orders = symbols.len();
            if matches!(from, From::Venue(_)) && !a.paper && threads + orders > cpus {
                bail!(
                    "--orders-wait spin-yield: {threads} pipeline thread(s) and {orders} order thread(s) would spin on {cpus} CPU(s); use park, or fewer threads or symbols"
                );
            }
            true
        }
    };
    let families = a.access.binance_key_families();
    let (keys, from_env) = ApiKeys::from_vars_or_paper(&families);
    let gateway = match &from {
        From::Venue(hosts) if !a.paper => Some(hosts.clone()),
        _ => None,
    };
    if gateway.is_some() && !from_env && a.access.endpoint != Environment::Local {
        // Which variable is missing or malformed (a seed's key without its own secret
        // names that secret), never a value.
        let why = ApiKeys::from_vars(&families)
            .err()
            .map_or_else(String::new, |e| format!("{e}; "));
        bail!(
            "--endpoint {}: {why}set {} and {} (keys are read from the environment only)",
            a.access.endpoint.name(),
            families[0].0,
            families[0].1
        );
    }
    if !from_env {
        eprintln!(
            "signing with the documented paper key pair (no keys in the environment): {}",
            if gateway.is_some() {
                "the local exchange accepts it"
            } else {
                "paper mode"
            }
        );
    }
    let depth = a
        .depth_stream
        .clone()
        .unwrap_or_else(|| endpoints::depth_stream(market).to_string());
    let streams = || vec![depth.clone(), "trade".into()];
    // KuCoin's REST server and keys, when its orders are traded.
    let mut kucoin = None;
    // Several symbols replayed: their frames with each snapshot's symbol.
    let mut several = None;
    let (specs, live, files) = match from {
        From::Replay(files) if symbols.len() > 1 => {
            let opts = minerva::replay::ReplayOptions {
                symbol: None,
                ..strategy_replay(&strategy, &data)
            };
            let (table, tagged) = minerva::replay::tagged_frames(&files, &opts)?;
            let mut specs = Vec::with_capacity(symbols.len());
            for name in &symbols {
                let Some(id) = table.lookup(name) else {
                    let held: Vec<&str> = table.specs().iter().map(|s| s.name.as_str()).collect();
                    bail!(
                        "--symbols: {name} is not in the recording (it holds {})",
                        held.join(", ")
                    );
                };
                specs.push(table.spec(id).clone());
            }
            let index = |of: Option<minerva::core::SymbolId>| {
                of.and_then(|id| {
                    symbols
                        .iter()
                        .position(|n| *n == table.spec(id).name.as_str())
                })
                .map_or(u16::MAX, |k| k as u16)
            };
            let (frames, tags) = tagged
                .into_iter()
                .map(|(bytes, at, of)| ((bytes, at), index(of)))
                .unzip();
            several = Some((frames, tags));
            (specs, None, Vec::new())
        }
        From::Replay(files) => {
            // One symbol's files (a database's sessions of other symbols left out).
            let opts = strategy_replay(&strategy, &data);
            let files = minerva::replay::files_of_symbol(&files, &opts, &strategy.market)?;
            let table = minerva::replay::symbol_table(&files, &opts)?;
            (vec![table.specs()[0].clone()], None, files)
        }
        From::Feed(host) => {
            let mut live = FeedConfig::Binance(LiveConfig::for_symbols(
                &Hosts::same(&host),
                market,
                &symbols,
                streams(),
            ));
            watch_feed(&mut live, a.watchdog);
            (live.fetch_specs()?, Some(live), Vec::new())
        }
        From::Venue(hosts) => {
            let mut c = LiveConfig::for_symbols(&hosts, market, &symbols, streams());
            c.rest = Some(hosts.rest.clone());
            let mut live = FeedConfig::Binance(c);
            watch_feed(&mut live, a.watchdog);
            (live.fetch_specs()?, Some(live), Vec::new())
        }
        From::Kucoin => {
            let mut feed = a
                .access
                .kucoin_feed(market, &strategy.market, a.kucoin_book)?;
            feed.more_symbols = symbols[1..].to_vec();
            let keys = feed.keys.clone();
            let rest = feed.rest.clone();
            let mut live = FeedConfig::Kucoin(feed);
            watch_feed(&mut live, a.watchdog);
            let specs = live.fetch_specs()?;
            if !a.paper {
                let Some(keys) = keys else {
                    bail!(
                        "--source kucoin --endpoint live: set MINERVA_KUCOIN_API_KEY, MINERVA_KUCOIN_API_SECRET and MINERVA_KUCOIN_API_PASSPHRASE (keys are read from the environment only)"
                    );
                };
                kucoin = Some((rest, keys));
            }
            (specs, Some(live), Vec::new())
        }
    };
    let spec = specs[0].clone();
    let keys = Arc::new(keys);
    // The simulated exchange reads typed orders: any signer does for paper runs.
    // KuCoin futures orders carry the leverage and margin mode the link settles at
    // start: the encoder reads them from these terms.
    let terms = Arc::new(minerva::venues::kucoin::orders::FuturesTerms::default());
    let wish = market.is_futures().then_some(LeverageWish {
        max: strategy.max_leverage,
        capital_e8: strategy.capital.0,
        in_use_ppm: strategy.max_capital_in_use_ppm,
    });
    let signer: OrderSigner = match &kucoin {
        Some((_, k)) => KucoinSigner::new(k).with_terms(terms.clone()).into(),
        None => Signer::new(&keys).into(),
    };
    let kucoin_link = kucoin.map(|(rest, keys)| {
        minerva::venues::LinkConfig::Kucoin(minerva::venues::kucoin::link::LinkConfig {
            rest,
            spec: spec.clone(),
            keys,
            time_sync: Duration::from_secs(if a.access.endpoint == Environment::Local {
                1
            } else {
                30
            }),
            fees: (strategy.maker_fee_e8, strategy.taker_fee_e8),
            on_start: a.on_start,
            account: None,
            leverage: wish,
            terms,
        })
    });
    let live_link = match gateway {
        Some(hosts) => Some(minerva::venues::LinkConfig::Binance(LinkConfig {
            rest: hosts.rest,
            ws: hosts.ws,
            spec: spec.clone(),
            keys: keys.clone(),
            time_sync: Duration::from_secs(if a.access.endpoint == Environment::Local {
                1
            } else {
                30
            }),
            fees: (strategy.maker_fee_e8, strategy.taker_fee_e8),
            fill_wait: Duration::from_millis(200),
            spin: orders_spin,
            on_start: a.on_start,
            account: None,
            leverage: wish,
        })),
        None => kucoin_link,
    };
    let (frames, frame_symbols) = match several {
        Some(f) => f,
        None => (
            minerva::store::files::recorded_frames_of(&files, &strategy.market)?,
            Vec::new(),
        ),
    };
    let sim = a.model.options();
    if matches!(sim.latency.feed, Delay::Recorded { .. }) {
        bail!("--latency feed=recorded reads the recording's clocks: it is for minerva backtest");
    }
    let cfg = RunConfig {
        threads,
        wait: a.wait,
        pin: a.pin.clone().unwrap_or_default(),
        realtime: a.realtime,
        warm: !a.no_warm,
        ring_capacity: a.ring,
        sim,
        snapshot_request: None,
        snapshot_requests: Vec::new(),
        report_every,
        latency_log: a.latency_log.clone(),
        live: live_link,
        audit: None,
        drawdown_kill: a
            .watchdog
            .and_then(|w| w.drawdown_ppm)
            .map(|ppm| (ppm, a.on_kill == OnKill::Flatten)),
        status: None,
    };
    if a.watchdog.is_some_and(|w| w.no_operation.is_some()) && a.no_journal {
        bail!("--watchdog no-operation=… reads the journal: drop --no-journal");
    }
    Ok(Setup {
        live,
        frames,
        frame_symbols,
        speed: a.speed.0,
        spec,
        specs,
        strategy,
        signer,
        cfg,
    })
}

impl Setup {
    /// One pass over the recorded frames (the benchmark's).
    pub fn replay_once(&self) -> Result<RunReport> {
        if self.live.is_some() {
            bail!("bench pipeline replays recordings: give --source replay:FILE[,FILE]");
        }
        Ok(run_symbols(
            self.replay_source(),
            &self.specs,
            &self.strategy,
            self.signer.clone(),
            &self.cfg,
        )?)
    }

    /// The recorded frames as a source, paced by `--speed` and waited for as the
    /// feed's `--wait` says.
    fn replay_source(&self) -> ReplaySource {
        ReplaySource::new(self.frames.clone(), self.speed)
            .with_symbols(self.frame_symbols.clone())
            .with_wait(self.cfg.wait.of(Stage::Feed))
    }

    /// Threads the pipeline runs on.
    pub fn threads(&self) -> usize {
        self.cfg.threads
    }
}

/// What the recorder did beside a run: the database, its counters, its result.
type Recorded = (
    String,
    Arc<minerva::store::tap::TapStats>,
    Result<(), anyhow::Error>,
);

/// Runs the pipeline over `source`, tapped into `--record`'s database when asked.
fn go<S: minerva::feed::Source + Send + 'static>(
    s: &Setup,
    record: Option<&str>,
    source: S,
    cfg: &RunConfig,
    name: &str,
    recorded: &mut Option<Recorded>,
) -> Result<RunReport> {
    let signer = s.signer.clone();
    let Some(db) = record else {
        return Ok(run_symbols(source, &s.specs, &s.strategy, signer, cfg)?);
    };
    let target = minerva::store::Target::parse(db);
    let (tapped, stats, writer) =
        minerva::store::tap::tap(source, &target, name, &s.specs, 256 << 20)?;
    let r = run_symbols(tapped, &s.specs, &s.strategy, signer, cfg)?;
    // A recorder that failed (disk full…) did not stop the trading: its error comes
    // after the run's report.
    let stored = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the recorder thread panicked"))
        .and_then(|r| r.map_err(anyhow::Error::from));
    *recorded = Some((target.display(), stats, stored));
    Ok(r)
}

/// Where the journal goes: `--journal`, else for a live run (or `--write-fitness`)
/// beside `--record` or `minerva-journal.db`; none for a replay unless asked, or with
/// `--no-journal`.
fn journal_path(a: &Args, live: bool) -> Option<PathBuf> {
    if a.no_journal {
        return None;
    }
    if let Some(p) = &a.journal {
        return Some(p.clone());
    }
    if !live && !a.write_fitness {
        return None;
    }
    match a.record.as_deref().map(minerva::store::Target::parse) {
        Some(minerva::store::Target::Sqlite(p)) => {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("minerva");
            Some(p.with_file_name(format!("{stem}-journal.db")))
        }
        // A PostgreSQL recording keeps the journal in the same database.
        Some(minerva::store::Target::Postgres(url)) => Some(PathBuf::from(url)),
        None => Some(PathBuf::from("minerva-journal.db")),
    }
}

/// Starts the journal of this run, if one is kept.
fn start_journal(a: &Args, s: &Setup) -> Result<Option<Arc<minerva::store::journal::Journal>>> {
    let Some(path) = journal_path(a, s.live.is_some()) else {
        return Ok(None);
    };
    let venue = if a.source == "binance" || a.source == "kucoin" {
        if a.paper {
            "paper".to_string()
        } else if a.source == "kucoin" {
            format!("kucoin-{}", a.access.endpoint.name())
        } else {
            a.access.endpoint.name().to_string()
        }
    } else if s.live.is_some() {
        "paper".to_string()
    } else {
        "replay".to_string()
    };
    let info = minerva::store::journal::RunInfo {
        // Database URLs without their passwords.
        command: std::env::args()
            .map(|x| minerva::store::Target::parse(&x).display())
            .collect::<Vec<_>>()
            .join(" "),
        strategy_path: a.strategy.strategy.display().to_string(),
        strategy_text: effective_strategy(a),
        venue,
        market: s.spec.market.name().to_string(),
        symbols: s.specs.iter().map(|x| x.name.to_string()).collect(),
        recording: a
            .record
            .as_deref()
            .map(|r| minerva::store::Target::parse(r).display()),
        exchange_info: String::from_utf8(minerva::venues::binance::exchange_info::describe(
            &s.specs,
            s.spec.market,
            0,
            minerva::venues::binance::exchange_info::Limits {
                weight_per_min: 0,
                orders_per_10s: 0,
                max_open: 0,
            },
        ))
        .unwrap_or_default(),
    };
    let j = minerva::store::journal::Journal::start(&path, &info).with_context(|| {
        format!(
            "--journal {}",
            minerva::store::Target::of_path(&path).display()
        )
    })?;
    if a.write_fitness {
        j.on_closed(live_fitness(a, &s.strategy));
    }
    Ok(Some(Arc::new(j)))
}

/// `--write-fitness`: the live figures into the strategy file's `[results.live]`
/// after every closed operation (the journal's thread calls it; a failed write is
/// logged, the trading goes on).
fn live_fitness(a: &Args, strategy: &Strategy) -> minerva::store::journal::OnClosed {
    use minerva::backtest::fitness;
    use minerva::gateway::journal::EquityPoint;
    let path = a.strategy.strategy.clone();
    let capital = strategy.capital.0;
    let objective = fitness::Objective::default();
    let mut trades = Vec::new();
    let mut equity = Vec::new();
    Box::new(move |t| {
        trades.push(*t);
        let last = equity.last().map_or(capital, |p: &EquityPoint| p.equity_e8);
        equity.push(EquityPoint {
            time_us: t.exit_us,
            equity_e8: last + t.pnl_e8,
        });
        let m = fitness::metrics(&trades, &equity, capital, 60_000_000);
        let results = [
            ("fitness", objective.of(&m)),
            ("net_pnl", m.net_pnl),
            ("max_drawdown", m.max_drawdown),
            ("return_on_capital", m.return_on_capital),
            ("trades", m.trades as f64),
            ("win_rate", m.win_rate.unwrap_or(0.0)),
            ("fees", m.fees),
        ];
        let updated = minerva::core::utc(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        );
        let texts = [("updated", updated), ("objective", objective.to_string())];
        if let Err(e) = minerva::strategy::write_live_results(&path, &results, &texts) {
            tracing::error!(strategy = %path.display(), error = %e, "--write-fitness: cannot write [results.live]");
        }
    })
}

/// The strategy the run trades, as TOML: the file with the command line's overrides
/// (and `--symbols`) applied.
fn effective_strategy(a: &Args) -> String {
    let text = std::fs::read_to_string(&a.strategy.strategy).unwrap_or_default();
    let mut pairs = a.strategy.overrides.pairs();
    if let Some(sym) = &a.symbols {
        pairs.retain(|(k, _)| *k != "market");
        pairs.push(("market", sym.to_ascii_uppercase()));
    }
    if let Some(m) = a.strategy.overrides.market.as_deref() {
        // `--market spot|usdm|coinm` names the market kind, not the symbol.
        if m.parse::<Market>().is_ok() {
            pairs.retain(|(k, _)| *k != "market");
        }
    }
    minerva::strategy::with_values(&text, &pairs).unwrap_or(text)
}

/// The hook the pipeline takes its trader's recorder from.
fn audit_hook(j: &Arc<minerva::store::journal::Journal>) -> minerva::gateway::audit::AuditHook {
    let j = j.clone();
    minerva::gateway::audit::AuditHook(Arc::new(move |spec| j.recorder(spec)))
}

/// Journals the run's end: what the trader, the risk manager and the exchange end
/// counted, and what shutdown left; then closes the journal and says what it holds.
fn finish_journal(a: &Args, j: Arc<minerva::store::journal::Journal>, r: &RunReport) -> Result<()> {
    let link = r.link.as_ref();
    j.event(
        "exit",
        sonic_rs::json!({
            "frames": r.frames,
            "entries_sent": r.trader.entries,
            "entries_filled": r.trader.entries_filled,
            "entries_rejected": r.trader.entries_rejected,
            "entries_withdrawn": r.trader.entries_withdrawn,
            "take_profits": r.trader.take_profits,
            "stops": r.trader.stops,
            "flattened": r.trader.flattened,
            "requests": r.trader.requests,
            "fills": r.exchange.fills,
            "rejected": r.exchange.rejected,
            "refused_by_risk": r.risk.refused,
            "realised": minerva::core::decimal::canonical(r.risk.realised_e8, 8),
            "fees": minerva::core::decimal::canonical(r.risk.fees_e8, 8),
            "cancelled_at_exit": r.shutdown.cancelled,
            "open_positions": r.shutdown.open_positions,
            "position_lots": r.shutdown.position.0,
            "interrupted": r.interrupted,
            "link_startup": link.map(|l| l.startup.clone()),
            "link": link.map(|l| l.counters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()),
        })
        .to_string(),
    );
    let j =
        Arc::try_unwrap(j).map_err(|_| anyhow::anyhow!("the journal is still in use at exit"))?;
    let sum = j.finish()?;
    if a.write_fitness && sum.operations == 0 {
        // Nothing closed: the table still says the run happened and traded nothing.
        minerva::strategy::write_live_results(
            &a.strategy.strategy,
            &[("trades", 0.0), ("net_pnl", 0.0), ("fitness", 0.0)],
            &[(
                "updated",
                minerva::core::utc(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                ),
            )],
        )
        .context("--write-fitness")?;
    }
    println!(
        "journal run {}: {} decisions, {} orders, {} reports ({} fills), {} operations closed, {} events, {} account snapshots, {} entries lost",
        sum.run,
        sum.decisions,
        sum.orders,
        sum.reports,
        sum.fills,
        sum.operations,
        sum.events,
        sum.accounts,
        sum.lost
    );
    Ok(())
}

/// Runs `minerva run`.
pub fn run(a: Args) -> Result<()> {
    if a.view {
        use std::io::IsTerminal;
        if a.daemon.daemon {
            bail!(
                "--view draws on this terminal: it does not go with --daemon (use --status PATH and minerva view PATH)"
            );
        }
        if !std::io::stdout().is_terminal() {
            bail!(
                "--view needs a terminal: standard output is not one (use --status PATH and minerva view PATH from one)"
            );
        }
    }
    let s = setup(&a)?;
    let daemon = a.daemon.detach("run")?;
    if daemon.is_some() && a.mlock {
        // Memory locks are not inherited across fork: the daemon takes its own (the
        // starting process checked that it can).
        lock_memory()?;
    }
    minerva::shutdown::install_handlers();
    // After detaching: the journal's thread belongs to the process that trades.
    let journal = start_journal(&a, &s)?;
    let watcher_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut feed_stats: Option<Arc<minerva::feed::LiveStats>> = None;
    let mut recorded = None;
    let record = a.record.as_deref();
    let source_name = match &s.live {
        None => "replay".to_string(),
        Some(l) => l.name(),
    };
    let board = (a.view || a.status.is_some() || a.metrics.is_some()).then(|| {
        minerva::status::StatusBoard::new(std::time::Duration::from_millis(a.status_every))
    });
    let status = board.as_ref().map(|b| (b.clone(), source_name));
    let _server = match (&board, &a.status) {
        (Some(b), Some(path)) => Some(minerva::status::serve(b.clone(), path).context("--status")?),
        _ => None,
    };
    let _metrics = match (&board, &a.metrics) {
        (Some(b), Some(addr)) => {
            let b = b.clone();
            let m = minerva::telemetry::prometheus::serve(
                addr,
                Arc::new(move || {
                    let latest = b.latest();
                    minerva::telemetry::prometheus::render_status(
                        latest.as_ref().map(|(_, s)| &**s),
                    )
                }),
            )?;
            tracing::info!("metrics on http://{}/metrics", m.addr);
            Some(m)
        }
        _ => None,
    };
    let viewer = match (&board, a.view) {
        (Some(b), true) => {
            let feeds = vec![minerva::view::Feed::Board(b.clone())];
            Some(
                std::thread::Builder::new()
                    .name("minerva-view".into())
                    .spawn(move || minerva::view::run(feeds, true))?,
            )
        }
        _ => None,
    };
    let report = match s.live.clone() {
        None => {
            let cfg = RunConfig {
                audit: journal.as_ref().map(audit_hook),
                status: status.clone(),
                ..s.cfg.clone()
            };
            go(
                &s,
                record,
                s.replay_source(),
                &cfg,
                "minerva run (replay)",
                &mut recorded,
            )
        }
        Some(live) => {
            let name = live.name();
            let source = live
                .source(minerva::shutdown::flag())
                .busy_poll(s.cfg.wait.of(Stage::Feed) == minerva::pipeline::Wait::Spin);
            feed_stats = Some(source.stats());
            if let Some(j) = &journal {
                j.watch_feed(source.stats());
            }
            let watcher = match (a.watchdog.and_then(|w| w.no_operation), &journal) {
                (Some(period), Some(j)) => Some(watch_operations(
                    period,
                    j.clone(),
                    source.reconnect_request(),
                    watcher_done.clone(),
                )),
                _ => None,
            };
            let mut cfg = RunConfig {
                snapshot_request: Some(source.snapshot_request()),
                snapshot_requests: if s.specs.len() > 1 {
                    source.snapshot_requests()
                } else {
                    Vec::new()
                },
                audit: journal.as_ref().map(audit_hook),
                status: status.clone(),
                ..s.cfg.clone()
            };
            // Account snapshots into the journal: start, every minute, the user
            // stream's account events, exit.
            if let Some(j) = &journal {
                let sink = Some(j.account_sink(std::time::Duration::from_secs(60)));
                match cfg.live.as_mut() {
                    Some(minerva::venues::LinkConfig::Binance(l)) => l.account = sink,
                    Some(minerva::venues::LinkConfig::Kucoin(l)) => l.account = sink,
                    None => {}
                }
            }
            let r = go(&s, record, source, &cfg, &name, &mut recorded);
            watcher_done.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(w) = watcher {
                let _ = w.join();
            }
            r
        }
    };
    // The view keeps the last picture until the user quits; the report follows it. A
    // run that failed ends the view at once, so its error is seen.
    if viewer.is_some() && report.is_err() {
        minerva::shutdown::request();
    }
    if let Some(v) = viewer {
        match v.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("--view: {e}"),
            Err(_) => eprintln!("--view: the view panicked"),
        }
    }
    let report = report?;
    print!("{}", report.to_text());
    use minerva::gateway::watchdog::Stop;
    let unreachable = feed_stats
        .as_ref()
        .is_some_and(|st| st.gave_up.load(std::sync::atomic::Ordering::Relaxed));
    let stop = if report.killed {
        Some(Stop::Killed)
    } else if unreachable {
        Some(Stop::Unreachable)
    } else {
        None
    };
    if let (Some(stop), Some(j)) = (stop, &journal) {
        j.event(
            "watchdog_stop",
            sonic_rs::json!({ "exit_code": stop.code(), "why": format!("{stop:?}") }).to_string(),
        );
    }
    if let Some(j) = journal {
        finish_journal(&a, j, &report)?;
    }
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
    match stop {
        Some(Stop::Killed) => Err(super::Exit {
            code: Stop::Killed.code(),
            msg: format!(
                "watchdog: the drawdown limit turned the kill switch on (realised equity peaked at {}, ended at {}); resting orders cancelled, positions {}",
                minerva::core::Dec8(report.risk.peak_e8),
                minerva::core::Dec8(s.strategy.capital.0 + report.risk.realised_e8),
                if a.on_kill == OnKill::Flatten { "flattened" } else { "held" }
            ),
        }
        .into()),
        Some(Stop::Unreachable) => Err(super::Exit {
            code: Stop::Unreachable.code(),
            msg: "watchdog: the market stream could not be reached the allowed times in a row; stopped cleanly".into(),
        }
        .into()),
        None => Ok(()),
    }
}
