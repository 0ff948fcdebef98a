//! `minerva report`: one self-contained HTML page of a backtest of recorded data, a
//! latency log and an evolve log — any of them (docs/visualize.md).

use super::args::{
    MarketData, OVERRIDES_HELP, StrategyOverrides, WindowArgs, load_strategy, strategy_replay,
};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// `minerva report`'s flags.
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    /// Recorded files of one session in order, or recording databases: backtested with
    /// --strategy and drawn (candles and operations, book heatmap, volume profile,
    /// equity, the operations, the fitness report).
    files: Vec<PathBuf>,
    #[command(flatten)]
    grids: MarketData,
    /// Strategy file (TOML, see docs/strategy.md); needed with recorded data.
    #[arg(long, help_heading = "Strategy")]
    strategy: Option<PathBuf>,
    #[command(flatten)]
    overrides: StrategyOverrides,
    #[command(flatten)]
    window: WindowArgs,
    /// A live run's journal (`minerva run --journal`): the backtest of the market data
    /// recorded during the run, with the run's own strategy and grids, drawn with the
    /// run's real operations beside the theoretical ones (as `minerva observe`
    /// compares them). Instead of recorded data and --strategy.
    #[arg(long, conflicts_with_all = ["files", "strategy"])]
    journal: Option<PathBuf>,
    /// A backtest's saved trade list (`minerva backtest --trades T.csv`), drawn on the
    /// recorded data instead of running the backtest again (the recorded files and
    /// --strategy give the market, the grids and the window).
    #[arg(long, value_name = "T.csv", conflicts_with = "journal")]
    trades: Option<PathBuf>,
    /// With --trades: the saved equity curve (`minerva backtest --equity E.csv`).
    #[arg(long, value_name = "E.csv", requires = "trades")]
    equity: Option<PathBuf>,
    /// With --trades: the saved report (`minerva backtest --json > B.json`).
    #[arg(long, value_name = "B.json", requires = "trades")]
    backtest_json: Option<PathBuf>,
    /// With --journal: the run (default the last).
    #[arg(long, requires = "journal")]
    run: Option<i64>,
    /// With --journal, a run of several symbols: the one drawn.
    #[arg(long = "journal-symbol", requires = "journal")]
    journal_symbol: Option<String>,
    /// An HdrHistogram interval log (`minerva run --latency-log`, `minerva bench …
    /// --latency-log`), drawn as percentile curves.
    #[arg(long)]
    latency_log: Option<PathBuf>,
    /// A `minerva evolve --log` CSV, drawn as fitness per generation and each
    /// parameter against fitness.
    #[arg(long)]
    evolve_log: Option<PathBuf>,
    /// The page to write (one file: charts, data and licences inlined; opens offline).
    #[arg(long, default_value = "minerva-report.html")]
    out: PathBuf,
}

/// What is drawn: recorded frames, or a tape.
enum Data {
    Frames(Vec<(Vec<u8>, u64)>),
    Tape(minerva::backtest::tape::Tape),
}

impl Data {
    fn input(&self) -> minerva::backtest::Input<'_> {
        match self {
            Data::Frames(f) => minerva::backtest::Input::Frames(f),
            Data::Tape(t) => minerva::backtest::Input::Tape(t),
        }
    }
}

/// Runs `minerva report`.
pub fn run(a: Args) -> Result<()> {
    if a.files.is_empty()
        && a.journal.is_none()
        && a.latency_log.is_none()
        && a.evolve_log.is_none()
    {
        bail!(
            "nothing to draw: give recorded data with --strategy, --journal, --latency-log or --evolve-log"
        );
    }
    let mut page = minerva::report::Page::default();
    let mut said = Vec::new();
    // What is backtested: recorded data with a strategy, or a journal run's recording
    // with its own strategy (and its real side).
    let input = if let Some(journal) = &a.journal {
        let r = super::observe::journal_run(journal, a.run, None, a.journal_symbol.as_deref())?;
        let real: Vec<_> =
            r.j.operations
                .iter()
                .map(|o| minerva::observe::closed_of(o, &r.spec))
                .collect();
        Some((
            r.strategy,
            r.spec,
            Data::Frames(r.frames),
            Some((r.j.run.id, real)),
        ))
    } else if !a.files.is_empty() {
        let Some(path) = &a.strategy else {
            bail!("recorded data is backtested: give --strategy");
        };
        let strategy = load_strategy(path, &a.overrides)?;
        let files = minerva::store::expand(&a.files)?;
        if let Some(tape) = super::tape::tape_input(&files)? {
            // A tape: decoded once already (its symbol and grid inside).
            let spec = super::tape::tape_spec(&tape, &strategy.market)?.clone();
            Some((strategy, spec, Data::Tape(tape.0), None))
        } else {
            let opts = strategy_replay(&strategy, &a.grids);
            let (spec, frames) = super::backtest::symbol_data(&files, 1, &opts)?;
            Some((strategy, spec, Data::Frames(frames), None))
        }
    } else {
        None
    };
    if let (Some(trades), Some((strategy, spec, frames, _))) = (&a.trades, &input) {
        let read =
            |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("{}", p.display()));
        let saved = minerva::report::SavedBacktest {
            trades_csv: Some(read(trades)?),
            equity_csv: a.equity.as_ref().map(read).transpose()?,
            json: a.backtest_json.as_ref().map(read).transpose()?,
        };
        let data = minerva::report::build_saved(
            frames.input(),
            spec,
            strategy,
            &a.window.config(),
            &saved,
        )
        .with_context(|| format!("--trades {}", trades.display()))?;
        said.push(format!(
            "{}: {} saved operations drawn; shown: {}",
            spec.name,
            data.operations.len(),
            data.resolution
        ));
        page.title = format!("Minerva report · {} · saved backtest", spec.name);
        page.backtest = Some(data);
    } else if a.trades.is_some() {
        bail!("--trades is drawn on the recorded data it came from: give the files and --strategy");
    } else if let Some((strategy, spec, frames, real)) = input {
        let bar = super::backtest::progress_bar(&spec.name);
        let mut progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let (mut data, bt) = minerva::report::build(
            frames.input(),
            &spec,
            &strategy,
            super::backtest::backtest_signer(),
            &a.window.config(),
            &mut progress,
        )
        .with_context(|| spec.name.to_string())?;
        bar.finish_and_clear();
        said.push(format!(
            "{}: {} operations, net PnL {:.8}, fitness {:.4} ({}); shown: {}",
            spec.name,
            bt.trades.len(),
            bt.metrics.net_pnl,
            bt.fitness,
            bt.objective,
            data.resolution
        ));
        page.title = format!("Minerva report · {}", spec.name);
        if let Some((run, trades)) = real {
            said.push(format!(
                "journal run {run}: {} live operations beside them",
                trades.len()
            ));
            data.add_real(run, &trades, &spec, strategy.capital.0);
            page.title = format!("Minerva report · {} · journal run {run}", spec.name);
        }
        page.backtest = Some(data);
    }
    if let Some(p) = &a.latency_log {
        page.latency = minerva::report::latency_curves(p)
            .with_context(|| format!("--latency-log {}", p.display()))?;
        if page.latency.is_empty() {
            bail!("--latency-log {}: no histogram in it", p.display());
        }
        said.push(format!("{} latency series", page.latency.len()));
    }
    if let Some(p) = &a.evolve_log {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("--evolve-log {}", p.display()))?;
        let v = minerva::report::evolve_view(&text)
            .with_context(|| format!("--evolve-log {}", p.display()))?;
        said.push(format!(
            "evolution: {} generations, {} candidates scored",
            v.generations.len(),
            v.candidates.len()
        ));
        page.evolve = Some(v);
    }
    if page.title.is_empty() {
        page.title = "Minerva report".into();
    }
    let html = minerva::report::html(&page);
    std::fs::write(&a.out, &html).with_context(|| format!("--out {}", a.out.display()))?;
    println!(
        "{} ({:.1} MB): {}",
        a.out.display(),
        html.len() as f64 / 1e6,
        said.join("; ")
    );
    Ok(())
}
