//! `minerva exchange`: recorded sessions served as a local exchange on 127.0.0.1 in
//! their venue's protocol — Binance's or KuCoin's (market data and trading, spot on
//! KuCoin) — docs/exchange.md, docs/kucoin.md.

use super::args::{MarketData, Speed, parse_fees, parse_speed};
use anyhow::Result;
use minerva::local_exchange::{Config as ExchangeConfig, LocalExchange, TradingConfig};
use minerva::local_exchange::{Faults, StartError};
use minerva::replay::ReplayOptions;
use minerva::sim::queue::QueueModel;
use minerva::venues::Venue;
use minerva::venues::binance::keys::ApiKeys;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `minerva exchange`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Recorded sessions to serve (the formats `minerva replay` reads).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    grids: MarketData,
    /// The protocol served: binance or kucoin (default: the data's venue; a
    /// contradiction is refused).
    #[arg(long, value_enum)]
    venue: Option<Venue>,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 9443)]
    port: u16,
    /// Replay speed: a multiple of real time (`1`, `10`) or `max`.
    #[arg(long, default_value = "1", value_parser = parse_speed)]
    speed: Speed,
    /// Faults to inject: drop=N (close the stream sessions), skip-depth=N (leave out a
    /// depth diff), malformed=N (a truncated message), stall=N:MS (publish nothing for
    /// MS), each every N published messages; bad-signature (=N: refuse every N-th signed
    /// request: -1022, KuCoin 400005), unknown-status=N (execute every N-th order or
    /// cancel, answer 503), user-outage=N:MS (every N published messages end the
    /// account's user data / private sessions and refuse new ones for MS),
    /// late-order=N:MS (answer every N-th new order 503 at once and execute it MS
    /// later, if still within its time window), clock-shift=±MS (step the server
    /// clock at the first signed request).
    #[arg(long, value_parser = Faults::parse)]
    fault: Option<Faults>,
    /// REST request weight allowed per minute (Binance: default 6000 spot / 2400
    /// USD-M; over it, 429 with Retry-After until the next minute), or per 30 s of the
    /// account's signed requests (KuCoin: default 4000, said in gw-ratelimit-*
    /// headers; over it, 429 429000).
    #[arg(long)]
    weight_limit: Option<u32>,
    /// Each symbol's starting wallet, in the quote asset.
    #[arg(long, default_value = "100000", value_parser = parse_capital)]
    capital: i64,
    /// USD-M leverage until a client changes it (POST leverage), 1 to 125.
    #[arg(long, default_value_t = 20)]
    leverage: u32,
    /// Fee rates charged: maker=R,taker=R (default: Binance's base tier, spot
    /// 0.1 %/0.1 %, USD-M 0.02 %/0.05 %).
    #[arg(long, value_parser = parse_fees)]
    fees: Option<(i64, i64)>,
    /// Queue position model of resting orders: through, risk-averse, power:N, log.
    #[arg(long, default_value = "risk-averse", value_parser = QueueModel::parse)]
    queue: QueueModel,
    /// New orders allowed per 10 s (default: Binance's, 100 spot / 300 USD-M).
    #[arg(long)]
    order_limit: Option<u32>,
    /// Seconds REST and the user data streams stay up after the recording has been
    /// served, so clients can cancel and close (Ctrl-C ends sooner).
    #[arg(long, default_value_t = 10.0)]
    linger: f64,
    /// Serve Prometheus metrics on `http://HOST:PORT/metrics`: messages published,
    /// signed requests, sessions, slow sessions dropped, each account's position,
    /// wallet, fills and open orders (docs/operations.md).
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// The server clock: `recorded` (the replay's exchange time; clients that sync
    /// with `time` sign right) or `wall` (this machine's clock, for clients that sign
    /// with their own and never ask; market messages keep their recorded times).
    #[arg(long, default_value = "recorded", value_parser = parse_clock)]
    clock: minerva::local_exchange::Clock,
    /// Connections (REST and WebSocket) open at once; more are closed at accept.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

/// `--clock`: recorded or wall.
fn parse_clock(v: &str) -> Result<minerva::local_exchange::Clock, String> {
    match v {
        "recorded" => Ok(minerva::local_exchange::Clock::Recorded),
        "wall" => Ok(minerva::local_exchange::Clock::Wall),
        _ => Err(format!("`{v}`: recorded or wall")),
    }
}

/// `--capital`: a positive amount, 10⁻⁸ units.
fn parse_capital(v: &str) -> Result<i64, String> {
    minerva::core::decimal::parse_scaled(v.as_bytes(), 8)
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("`{v}`: a positive amount"))
}

/// Sleeps until `until` or a stop request.
fn wait_until(until: Instant) {
    while Instant::now() < until && !minerva::shutdown::requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `minerva exchange` until the recording has been served (and the linger is
/// over) or Ctrl-C.
pub fn run(a: Args) -> Result<()> {
    let files = minerva::store::expand(&a.data)?;
    if a.venue == Some(Venue::Kucoin) {
        return run_kucoin(&a, files);
    }
    // The account's keys: the environment's, or the documented paper pair.
    let (keys, from_env) = ApiKeys::from_env_or_paper();
    let key_note = if from_env {
        "the API key in MINERVA_BINANCE_API_KEY"
    } else {
        "the paper key pair (minerva-paper / minerva-paper-secret)"
    };
    let files_again = files.clone();
    let cfg = ExchangeConfig {
        files,
        replay: ReplayOptions {
            venue: a.venue,
            market: a.grids.data_market,
            exchange_info: a.grids.exchange_info.clone(),
            ..Default::default()
        },
        speed: a.speed.0,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], a.port)),
        weight_limit: a.weight_limit,
        faults: a.fault.unwrap_or_default(),
        keys: std::sync::Arc::new(keys),
        trading: TradingConfig {
            capital_e8: a.capital,
            leverage: a.leverage.clamp(1, 125),
            fees: a.fees,
            queue: a.queue,
            orders_per_10s: a.order_limit,
            ..TradingConfig::default()
        },
        limits: minerva::local_exchange::Limits {
            max_connections: a.max_connections as usize,
            ..Default::default()
        },
        clock: a.clock,
    };
    // Before the banner: a client that reads it may stop us at once (SIGINT), and
    // must get the orderly stop, not the default action.
    minerva::shutdown::install_handlers();
    let venue = match LocalExchange::start(cfg) {
        Ok(v) => v,
        // KuCoin's data and no --venue: serve KuCoin's protocol.
        Err(StartError::OtherVenue { data: "kucoin", .. }) if a.venue.is_none() => {
            return run_kucoin(&a, files_again);
        }
        Err(e) => return Err(e.into()),
    };
    let _metrics = serve_metrics(a.metrics.as_deref(), venue.facts())?;
    println!("minerva exchange: {}", venue.banner());
    println!("trading: signed order and account endpoints and user data streams for {key_note}");
    while !venue.finished() && !minerva::shutdown::requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("served {} stream messages", venue.published());
    if venue.finished() && !minerva::shutdown::requested() && a.linger > 0.0 {
        println!(
            "the recording is over; orders, account and user data streams stay up {} s (Ctrl-C ends)",
            a.linger
        );
        wait_until(Instant::now() + Duration::from_secs_f64(a.linger.min(86_400.0)));
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

/// `--metrics`: the venue's counters on a Prometheus endpoint.
fn serve_metrics(
    addr: Option<&str>,
    facts: impl Fn() -> minerva::telemetry::prometheus::ExchangeFacts + Send + Sync + 'static,
) -> Result<Option<minerva::telemetry::prometheus::MetricsServer>> {
    use minerva::telemetry::prometheus::{render_exchange, serve};
    let Some(addr) = addr else { return Ok(None) };
    let m = serve(addr, std::sync::Arc::new(move || render_exchange(&facts())))?;
    tracing::info!("metrics on http://{}/metrics", m.addr);
    Ok(Some(m))
}

/// Serves KuCoin data as the local KuCoin venue until it has been served (and the
/// linger is over) or Ctrl-C.
fn run_kucoin(a: &Args, files: Vec<PathBuf>) -> Result<()> {
    use minerva::local_exchange::kucoin::{Config, LocalKucoin};
    use minerva::venues::kucoin::keys::KucoinKeys;
    let (keys, from_env) = KucoinKeys::from_env_or_paper();
    let key_note = if from_env {
        "the API key in MINERVA_KUCOIN_API_KEY"
    } else {
        "the paper keys (minerva-paper / minerva-paper-secret / minerva-paper-passphrase)"
    };
    let cfg = Config {
        files,
        replay: ReplayOptions {
            market: a.grids.data_market,
            venue: Some(Venue::Kucoin),
            ..Default::default()
        },
        speed: a.speed.0,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], a.port)),
        faults: a.fault.unwrap_or_default(),
        keys: std::sync::Arc::new(keys),
        limits: minerva::local_exchange::Limits {
            max_connections: a.max_connections as usize,
            ..Default::default()
        },
        trading: TradingConfig {
            capital_e8: a.capital,
            fees: a.fees,
            queue: a.queue,
            weight_per_30s: a.weight_limit,
            ..TradingConfig::default()
        },
    };
    minerva::shutdown::install_handlers();
    let venue = LocalKucoin::start(cfg)?;
    let _metrics = serve_metrics(a.metrics.as_deref(), venue.facts())?;
    println!("minerva exchange: {}", venue.banner());
    println!(
        "signed requests (level-2 snapshots, HF spot orders and balances, futures orders, positions and account, private order channels) for {key_note} (docs/kucoin.md)"
    );
    while !venue.finished() && !minerva::shutdown::requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("served {} stream messages", venue.published());
    if venue.finished() && !minerva::shutdown::requested() && a.linger > 0.0 {
        println!(
            "the recording is over; REST stays up {} s (Ctrl-C ends)",
            a.linger
        );
        wait_until(Instant::now() + Duration::from_secs_f64(a.linger.min(86_400.0)));
    }
    for (symbol, sha) in venue.digests() {
        println!("book {symbol}: sha256 {sha}");
    }
    for (symbol, position, wallet_e8) in venue.accounts() {
        println!(
            "account {symbol}: position {} lots, wallet {:.8}",
            position.0,
            wallet_e8 as f64 / 1e8
        );
    }
    venue.stop();
    Ok(())
}
