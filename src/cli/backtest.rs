//! `minerva backtest`: the pipeline's own stages on recorded data against the
//! simulated exchange, then a fitness report (docs/backtest.md).

use super::args::{OVERRIDES_HELP, RecordedData, StrategyArgs, WindowArgs, strategy_replay};
use anyhow::{Context, Result, bail};
use minerva::backtest::{self, Input, tape::Tape};
use minerva::core::SymbolSpec;
use minerva::replay::{self, ReplayOptions};
use minerva::venues::binance::{keys::ApiKeys, sign::Signer};
use std::path::PathBuf;

/// `minerva backtest`'s flags.
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    data: RecordedData,
    #[command(flatten)]
    window: WindowArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the trade list as CSV (as Parquet when the file ends in .parquet).
    #[arg(long)]
    trades: Option<PathBuf>,
    /// Write the equity curve as CSV (as Parquet when the file ends in .parquet).
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
}

/// Recorded frames: `(bytes, recorded ns)` in order.
pub type RecordedFrames = Vec<(Vec<u8>, u64)>;

/// The grid and recorded frames of `opts.symbol` (cold: reads every file). With one
/// symbol every file is its session; with several (`of` > 1), the files that hold it.
pub fn symbol_data(
    files: &[PathBuf],
    of: usize,
    opts: &ReplayOptions,
) -> Result<(SymbolSpec, RecordedFrames)> {
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
    let files = replay::files_of_symbol(&files, opts, &sym).with_context(|| sym.clone())?;
    if files.is_empty() {
        bail!("no file holds {sym}");
    }
    let spec = replay::symbol_table(&files, opts)
        .with_context(|| sym.clone())?
        .specs()[0]
        .clone();
    let frames =
        minerva::store::files::recorded_frames_of(&files, &spec.name).with_context(|| sym)?;
    // Without a book the strategy, which reads it, would trade nothing: refused, not a
    // silent empty result (trades or klines only, such as a Binance archive import).
    let has = |b: &[u8], w: &[u8]| b.windows(w.len()).any(|x| x == w);
    if spec.venue == minerva::core::Venue::Binance
        && !frames
            .iter()
            .any(|(b, _)| has(b, b"depthUpdate") || has(b, b"lastUpdateId"))
    {
        bail!(
            "{}: the data holds no order book (no depth updates or snapshots: trades, klines or tickers only, such as Binance's archive); the strategy reads the book, so it cannot run on it",
            spec.name
        );
    }
    Ok((spec, frames))
}

/// A backtest's input for `strategy.market`: its grid, and the recorded frames when
/// there is no tape (a tape holds the decoded messages; its frames stay empty).
pub fn symbol_input(
    tape: Option<&(Tape, SymbolSpec)>,
    files: &[PathBuf],
    of: usize,
    strategy: &minerva::strategy::Strategy,
    grids: &super::args::MarketData,
) -> Result<(SymbolSpec, RecordedFrames)> {
    match tape {
        Some(t) => Ok((
            super::tape::tape_spec(t, &strategy.market)?.clone(),
            Vec::new(),
        )),
        None => symbol_data(files, of, &strategy_replay(strategy, grids)),
    }
}

/// What the backtest reads: the tape when there is one, else the frames.
pub fn input<'a>(tape: Option<&'a (Tape, SymbolSpec)>, frames: &'a RecordedFrames) -> Input<'a> {
    match tape {
        Some((t, _)) => Input::Tape(t),
        None => Input::Frames(frames),
    }
}

/// The signer of a backtest's requests: the simulated exchange checks signatures
/// like Binance, so any key works, and none is read from the environment.
pub fn backtest_signer() -> Signer {
    Signer::new(&ApiKeys::new(
        "minerva-backtest".into(),
        b"minerva-backtest".to_vec(),
    ))
}

/// A progress bar on stderr while frames are backtested (drawn on a terminal only).
pub fn progress_bar(symbol: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:30}] {percent:>3} % {pos}/{len} frames · {per_sec} · {eta} left",
    ) {
        bar.set_style(style.progress_chars("#."));
    }
    bar.set_prefix(symbol.to_string());
    bar
}

/// Runs `minerva backtest`.
pub fn run(a: Args) -> Result<()> {
    let files = a.data.files()?;
    let strategy = a.strategy.load()?;
    let symbols = super::args::symbol_list(a.symbols.as_deref(), &strategy)?;
    let cfg = a.window.config();
    let signer = backtest_signer();
    let mut reports = Vec::with_capacity(symbols.len());
    let mut specs = Vec::with_capacity(symbols.len());
    // A tape (`minerva tape build`) is read as it was decoded: no JSON again.
    let tape = super::tape::tape_input(&files)?;
    for sym in &symbols {
        let mut strategy = strategy.clone();
        strategy.market = sym.clone();
        let (spec, frames) = symbol_input(
            tape.as_ref(),
            &files,
            symbols.len(),
            &strategy,
            &a.data.grids,
        )?;
        let input = input(tape.as_ref(), &frames);
        let bar = progress_bar(sym);
        let mut progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let r = backtest::run(input, &spec, &strategy, signer.clone(), &cfg, &mut progress)
            .with_context(|| sym.clone())?;
        bar.finish_and_clear();
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
        let each: Vec<_> = reports.iter().zip(&specs).collect();
        write_table(p, &backtest::report::trades_csv(&each))
            .with_context(|| format!("--trades {}", p.display()))?;
    }
    if let Some(p) = &a.equity {
        let csv = match &combined {
            None => reports[0].equity_csv(),
            Some(c) => backtest::report::equity_csv(&c.equity),
        };
        write_table(p, &csv).with_context(|| format!("--equity {}", p.display()))?;
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
        minerva::strategy::write_results(&a.strategy.strategy, &results)
            .with_context(|| format!("--write-fitness {}", a.strategy.strategy.display()))?;
    }
    Ok(())
}

/// A table the backtest writes: CSV, or Parquet when the file ends in `.parquet`.
fn write_table(path: &std::path::Path, csv: &str) -> Result<()> {
    use minerva::store::parquet::{csv_to_parquet, is_parquet};
    if is_parquet(path) {
        csv_to_parquet(csv, path)?;
    } else {
        std::fs::write(path, csv)?;
    }
    Ok(())
}
