//! `minerva record`: live market streams into a recording database, one session per
//! symbol, with a status line (docs/recording.md).

use super::args::{DaemonArgs, stderr_is_tty};
use anyhow::{Result, bail};
use minerva::core::Market;
use minerva::store::Target;
use minerva::store::recorder::{RecordConfig, RecordSource, Rotate, record};
use minerva::venues::binance::endpoints;
use minerva::venues::binance::stream::LiveConfig;
use minerva::venues::{FeedConfig, Venue};

/// `minerva record`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Symbols, comma-separated (one session each).
    #[arg(long, required = true)]
    symbols: String,
    /// The market (spot or usdm).
    #[arg(long, value_enum, default_value = "spot")]
    market: Market,
    /// The venue: binance, or kucoin (its level-2 updates, matches and tickers, with
    /// its REST snapshots; docs/kucoin.md).
    #[arg(long, value_enum, default_value = "binance")]
    venue: Venue,
    /// With --venue kucoin: record the classic level-2 topics (with REST snapshots), or
    /// the unified account's `obu` book (its snapshot on the stream, then 10 ms
    /// deltas of the top 500 levels) and `trade` pushes.
    #[arg(long, value_enum, default_value = "level2")]
    kucoin_book: super::args::KucoinBook,
    /// Streams per symbol (Binance; default: the diff depth, trade, aggTrade,
    /// bookTicker, kline_1m).
    #[arg(long)]
    streams: Option<String>,
    /// The database (created when absent): a SQLite file, or
    /// `postgres://user@host[:port]/db` (password from the URL or PGPASSWORD).
    #[arg(long, visible_alias = "store")]
    db: String,
    /// A new SQLite file per UTC day (`daily`) or per size (`512MB`, `2GB`):
    /// `market.db` becomes `market-YYYYMMDD-HHMMSS.db`, …, with no gap at the seams.
    #[arg(long, value_parser = str::parse::<Rotate>)]
    rotate: Option<Rotate>,
    #[command(flatten)]
    access: super::access::Access,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 1.0)]
    status_every: f64,
    /// Serve a live view of each symbol read-only on a Unix socket `DIR/SYMBOL.sock`
    /// (mode 0600), for `minerva view DIR/*.sock`: its book, last trades, mid price
    /// and the recorder's counters.
    #[arg(long, value_name = "DIR")]
    status: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics on `http://HOST:PORT/metrics`: lines per stream,
    /// connects, disconnects, snapshots, failures, gaps and lag per symbol, database
    /// size (docs/operations.md).
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    #[command(flatten)]
    daemon: DaemonArgs,
}

/// Runs `minerva record`.
pub fn run(a: Args) -> Result<()> {
    if a.market == Market::CoinM {
        bail!("--market: spot or usdm");
    }
    let market = a.market;
    let hosts = a.access.binance_hosts(market)?;
    let streams: Vec<String> = match &a.streams {
        Some(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => [
            endpoints::depth_stream(market),
            "trade",
            "aggTrade",
            "bookTicker",
            "kline_1m",
        ]
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
    let mut sources = Vec::with_capacity(symbols.len());
    if a.venue == Venue::Kucoin {
        if a.streams.is_some() {
            bail!(
                "--streams names Binance streams; KuCoin's topics are its level 2, matches and tickers"
            );
        }
        let mut list: Option<Vec<u8>> = None;
        for (k, sym) in symbols.iter().enumerate() {
            let mut c = a.access.kucoin_feed(market, sym, a.kucoin_book)?;
            c.seed = k as u64;
            // The symbol list the recording was made under goes with it.
            if list.is_none() {
                match c.fetch_symbol_list() {
                    Ok(body) => list = Some(body),
                    Err(e) => eprintln!("minerva: warning: the symbol list is not stored: {e:#}"),
                }
            }
            sources.push(RecordSource {
                live: FeedConfig::Kucoin(c),
                exchange_info: list.clone(),
                watch: None,
            });
        }
    }
    // USD-M answers every symbol's exchangeInfo at once: fetched once for all.
    let mut fetched: Option<Vec<u8>> = None;
    for (k, sym) in symbols.iter().enumerate() {
        if a.venue == Venue::Kucoin {
            break;
        }
        let mut live = LiveConfig::new(&hosts, market, sym, streams.clone());
        live.rest = Some(hosts.rest.clone());
        live.seed = k as u64;
        // The grids the recording was made under go with it; a recorder starts
        // without them rather than not at all.
        let exchange_info = match fetched.clone() {
            Some(all) => Some(all),
            None => match live.fetch_exchange_info() {
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
            live: FeedConfig::Binance(live),
            exchange_info,
            watch: None,
        });
    }
    let _daemon = a.daemon.detach("record")?;
    minerva::shutdown::install_handlers();
    // After detaching: the view's threads and sockets belong to the recording process.
    let views = match &a.status {
        Some(dir) => live_views(dir, market, &mut sources)?,
        None => Vec::new(),
    };
    let cfg = RecordConfig {
        target: Target::parse(&a.db),
        sources,
        status_every: std::time::Duration::from_secs_f64(a.status_every),
        rotate: a.rotate,
    };
    // The latest status, rendered at each scrape.
    let latest: std::sync::Arc<std::sync::Mutex<Option<minerva::store::recorder::RecordStatus>>> =
        Default::default();
    let _metrics = match &a.metrics {
        Some(addr) => {
            let l = latest.clone();
            let m = minerva::telemetry::prometheus::serve(
                addr,
                std::sync::Arc::new(move || {
                    let s = l.lock().unwrap_or_else(|p| p.into_inner());
                    minerva::telemetry::prometheus::render_record(s.as_ref())
                }),
            )?;
            tracing::info!("metrics on http://{}/metrics", m.addr);
            Some(m)
        }
        None => None,
    };
    let tty = stderr_is_tty();
    let (st, sessions) = record(&cfg, minerva::shutdown::flag(), |s| {
        if a.metrics.is_some() {
            *latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
        }
        for (sym, facts, ..) in &views {
            if let (Ok(mut f), Some(src)) =
                (facts.lock(), s.sources.iter().find(|x| &x.symbol == sym))
            {
                f.gaps = src.gaps;
                f.lag_ms = src.lag_ms;
            }
        }
        if tty {
            eprint!("\r\x1b[2K{}", s.line());
        } else {
            eprintln!("{}", s.line());
        }
    })?;
    if tty {
        eprintln!();
    }
    // The readers are gone: the views publish their last picture and close.
    drop(cfg);
    for (_, _, watcher, server) in views {
        let _ = watcher.join();
        drop(server);
    }
    println!(
        "{}: sessions {:?}; {}",
        st.files.join(", "),
        sessions,
        st.line()
    );
    Ok(())
}

/// A symbol's live view: its name, the recorder's facts it shows, its thread, its socket.
type LiveView = (
    String,
    std::sync::Arc<std::sync::Mutex<minerva::status::watch::RecorderFacts>>,
    std::thread::JoinHandle<()>,
    minerva::status::StatusServer,
);

/// `--status DIR`: a book watcher and a status socket per symbol whose grids are
/// known (its exchangeInfo); the others are recorded without a view, said so.
fn live_views(
    dir: &std::path::Path,
    market: Market,
    sources: &mut [RecordSource],
) -> Result<Vec<LiveView>> {
    use anyhow::Context;
    use minerva::status::{StatusBoard, serve, watch};
    std::fs::create_dir_all(dir).with_context(|| format!("--status {}", dir.display()))?;
    let mut views = Vec::new();
    for src in sources.iter_mut() {
        let sym = src.live.symbol().to_string();
        let spec = src.exchange_info.as_deref().and_then(|body| {
            minerva::venues::parse_symbol_list(body)
                .ok()?
                .into_iter()
                .find(|s| s.name.as_str() == sym && s.market == market)
        });
        let Some(spec) = spec else {
            eprintln!("minerva: warning: {sym}: no exchangeInfo grids, so no live view");
            continue;
        };
        let board = StatusBoard::new(std::time::Duration::from_millis(250));
        let path = dir.join(format!("{sym}.sock"));
        let server = serve(board.clone(), &path).with_context(|| format!("--status {sym}"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(8192);
        src.watch = Some(tx);
        let facts = std::sync::Arc::new(std::sync::Mutex::new(watch::RecorderFacts::default()));
        let f = facts.clone();
        let w = watch::BookWatch::new(&spec);
        let h = std::thread::Builder::new()
            .name(format!("minerva-view-{}", sym.to_ascii_lowercase()))
            .spawn(move || watch::watch_recording(w, rx, board, f))?;
        eprintln!("{sym}: live view on {} (minerva view {0})", path.display());
        views.push((sym, facts, h, server));
    }
    Ok(views)
}
