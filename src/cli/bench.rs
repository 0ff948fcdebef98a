//! `minerva bench`: replay throughput (decode + book, book alone) and the pipeline's
//! latencies at full speed, with `RESULT` lines for comparison harnesses.

use super::run::{Args as RunArgs, setup};
use anyhow::{Context, Result, bail};
use minerva::core::{Market, SymbolSpec};
use minerva::replay::{self, bench};
use minerva::venues::binance::snapshot::parse_raw_snapshot;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `minerva bench` commands.
#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Replay speed: decode + book end to end, and book apply alone.
    Replay(ReplayArgs),
    /// The pipeline at max speed (or --speed): tick-to-trade, per-hop percentiles and
    /// throughput, with `minerva run`'s flags; `--repeat N` merges N passes.
    Pipeline(Box<PipelineArgs>),
    /// A backtest's speed: `minerva backtest`'s input (recorded files or a tape) and
    /// flags, `--repeat` passes in one process; prints the median pass (the loop only,
    /// as `tools/hftbacktest_compare.py` times hftbacktest's) and the load time.
    Backtest(Box<BacktestArgs>),
}

/// `minerva bench backtest`'s flags: `minerva backtest`'s input, strategy and models.
#[derive(clap::Args)]
#[command(after_help = super::args::OVERRIDES_HELP)]
pub struct BacktestArgs {
    #[command(flatten)]
    strategy: super::args::StrategyArgs,
    #[command(flatten)]
    data: super::args::RecordedData,
    #[command(flatten)]
    window: super::args::WindowArgs,
    /// Passes over the input; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// The name on the RESULT line.
    #[arg(long, default_value = "data")]
    name: String,
}

/// `minerva bench pipeline`'s flags: `minerva run`'s, and the passes.
#[derive(clap::Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Passes over the input; histograms are merged, throughput is the median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// `minerva bench replay`'s flags.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// JSON lines of depthUpdate and trade/aggTrade messages (gzip or plain).
    #[arg(long)]
    events: PathBuf,
    /// The REST snapshot the events start from.
    #[arg(long)]
    snapshot: PathBuf,
    /// Tick size (inferred from the snapshot when absent).
    #[arg(long, requires = "lot")]
    tick: Option<String>,
    /// Quantity unit (inferred from the snapshot when absent).
    #[arg(long, requires = "tick")]
    lot: Option<String>,
    /// The market.
    #[arg(long, value_enum, default_value = "usdm")]
    market: Market,
    /// Timed passes; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Also time every message (decode + book) and write the histogram as an
    /// HdrHistogram interval log.
    #[arg(long)]
    latency_log: Option<PathBuf>,
}

/// Runs a `minerva bench` command.
pub fn run(c: Cmd) -> Result<()> {
    match c {
        Cmd::Replay(a) => replay_bench(a),
        Cmd::Pipeline(a) => pipeline(*a),
        Cmd::Backtest(a) => backtest_bench(*a),
    }
}

/// A file's bytes, gunzipped when it is gzip.
fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
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

/// The symbol the events name (`s` of the first message that has one).
fn first_symbol(events: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        s: Option<String>,
        data: Option<Box<Named>>,
    }
    events.split(|&c| c == b'\n').take(100).find_map(|l| {
        let l = &l[l.iter().position(|&c| c == b'{')?..];
        let m: Named = sonic_rs::from_slice(l).ok()?;
        m.data.and_then(|d| d.s).or(m.s)
    })
}

fn replay_bench(a: ReplayArgs) -> Result<()> {
    let events = read_all(&a.events)?;
    let snap_json = read_all(&a.snapshot)?;
    let raw =
        parse_raw_snapshot(&snap_json).with_context(|| format!("{}", a.snapshot.display()))?;
    let symbol = first_symbol(&events)
        .context("no message with a symbol (`s`) in the first 100 lines of --events")?;
    let spec = match (&a.tick, &a.lot) {
        (Some(t), Some(l)) => SymbolSpec::from_tick_lot(&symbol, a.market, t, l)?,
        _ => replay::spec_from_snapshot(&symbol, a.market, &snap_json)
            .context("cannot infer tick and lot from the snapshot; pass --tick and --lot")?,
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

fn pipeline(a: PipelineArgs) -> Result<()> {
    if a.run.daemon.daemon {
        bail!("bench pipeline runs in the foreground: no --daemon");
    }
    let s = setup(&a.run)?;
    minerva::shutdown::install_handlers();
    let mut merged: Option<minerva::pipeline::RunReport> = None;
    let mut rates = Vec::new();
    for _ in 0..a.repeat.max(1) {
        let r = s.replay_once()?;
        rates.push(r.frames as f64 / r.secs.max(1e-9));
        match merged.as_mut() {
            Some(m) => m.lat.merge(&r.lat),
            None => merged = Some(r),
        }
    }
    let m = merged.context("at least one pass")?;
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
        ("intent_to_order", &m.lat.intent_to_order),
    ] {
        println!(
            "RESULT peer=minerva-pipeline series={name} threads={} passes={} frames={} frames_per_sec={rate:.0} p50_ns={} p99_ns={} p999_ns={} max_ns={} count={}",
            s.threads(),
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

fn backtest_bench(a: BacktestArgs) -> Result<()> {
    use minerva::backtest;
    let files = a.data.files()?;
    let strategy = a.strategy.load()?;
    let cfg = a.window.config();
    let t0 = std::time::Instant::now();
    let tape = super::tape::tape_input(&files)?;
    let (spec, frames) =
        super::backtest::symbol_input(tape.as_ref(), &files, 1, &strategy, &a.data.grids)?;
    let load_secs = t0.elapsed().as_secs_f64();
    let input = super::backtest::input(tape.as_ref(), &frames);
    let mut secs = Vec::new();
    let mut first: Option<backtest::BacktestReport> = None;
    for _ in 0..a.repeat.max(1) {
        let r = backtest::run(
            input,
            &spec,
            &strategy,
            super::backtest::backtest_signer(),
            &cfg,
            &mut |_, _| {},
        )?;
        secs.push(r.wall_secs);
        // Every pass is the same backtest: the same requests to the exchange.
        match &first {
            Some(f) if f.exchange.requests_digest != r.exchange.requests_digest => {
                bail!("two passes sent different requests: the backtest is not deterministic")
            }
            Some(_) => {}
            None => first = Some(r),
        }
    }
    let r = first.context("at least one pass")?;
    let each: Vec<String> = secs.iter().map(|s| format!("{s:.4}")).collect();
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    println!(
        "RESULT peer=minerva-backtest data={} input={} units={} passes={} load_secs={load_secs:.4} secs={median:.4} min_secs={:.4} units_per_s={:.0} intents={} fills={} trades={} passes_secs={}",
        a.name,
        if tape.is_some() { "tape" } else { "frames" },
        r.frames,
        secs.len(),
        secs[0],
        r.frames as f64 / median.max(1e-9),
        r.intents,
        r.exchange.fills,
        r.trades.len(),
        each.join(",")
    );
    Ok(())
}
