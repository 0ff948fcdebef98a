//! The `minerva` command line.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use minerva::core::{Market, SymbolSpec};
use minerva::feed::binance::snapshot::parse_raw_snapshot;
use minerva::replay::{self, ReplayOptions, bench};
use sonic_rs::JsonValueTrait as _;
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
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Replay speed: decode + book end to end, and book apply alone.
    Replay(BenchArgs),
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
        Cmd::Replay(a) => cmd_replay(a),
        Cmd::Bench(BenchCmd::Replay(a)) => cmd_bench(a),
    }
}

fn cmd_replay(a: ReplayArgs) -> Result<()> {
    let market = a.market.as_deref().map(str::parse::<Market>).transpose()?;
    let opts = ReplayOptions {
        market,
        symbol: a.symbol,
        tick: a.tick,
        lot: a.lot,
        snapshot: a.snapshot,
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
    if e2e.checksum != book.checksum {
        bail!(
            "checksums differ between the two runs: {} vs {}",
            e2e.checksum,
            book.checksum
        );
    }
    Ok(())
}
