//! `minerva report`: the backtest of recorded data as one self-contained HTML page
//! (docs/visualize.md).

use super::args::{OVERRIDES_HELP, RecordedData, StrategyArgs, WindowArgs, strategy_replay};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// `minerva report`'s flags.
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    data: RecordedData,
    #[command(flatten)]
    window: WindowArgs,
    /// The page to write (one file: charts, data and licences inlined; opens offline).
    #[arg(long, default_value = "minerva-report.html")]
    out: PathBuf,
}

/// Runs `minerva report`.
pub fn run(a: Args) -> Result<()> {
    let files = a.data.files()?;
    let strategy = a.strategy.load()?;
    let cfg = a.window.config();
    let opts = strategy_replay(&strategy, &a.data.grids);
    let (spec, frames) = super::backtest::symbol_data(&files, 1, &opts)?;
    let signer = super::backtest::backtest_signer();
    let bar = super::backtest::progress_bar(&spec.name);
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let (data, bt) = minerva::report::build(&frames, &spec, &strategy, signer, &cfg, &mut progress)
        .with_context(|| spec.name.to_string())?;
    bar.finish_and_clear();
    let page = minerva::report::html(&data);
    std::fs::write(&a.out, &page).with_context(|| format!("--out {}", a.out.display()))?;
    println!(
        "{}: {} operations, net PnL {:.8}, fitness {:.4} ({}) → {} ({:.1} MB; {})",
        spec.name,
        bt.trades.len(),
        bt.metrics.net_pnl,
        bt.fitness,
        bt.objective,
        a.out.display(),
        page.len() as f64 / 1e6,
        data.resolution
    );
    Ok(())
}
