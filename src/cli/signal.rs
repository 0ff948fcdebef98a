//! `minerva signal`: recorded data through book → oracle → risk manager; every
//! operation the strategy would place and every proposal refused, with the reason.

use super::args::{OVERRIDES_HELP, RecordedData, StrategyArgs, strategy_replay};
use anyhow::{Result, bail};
use minerva::replay::signal_run::SignalRun;
use minerva::replay::{self, ReplayOptions, signal_report as report};
use std::path::PathBuf;

/// `minerva signal`'s flags.
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    data: RecordedData,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// REST depth snapshot to start from (for plain JSON lines).
    #[arg(long)]
    snapshot: Option<PathBuf>,
}

/// Runs `minerva signal`.
pub fn run(a: Args) -> Result<()> {
    let files = a.data.files()?;
    let strategy = a.strategy.load()?;
    let opts = ReplayOptions {
        snapshot: a.snapshot,
        progress: !a.json,
        ..strategy_replay(&strategy, &a.data.grids)
    };
    let symbol = strategy.market.clone();
    let mut run = SignalRun::new(strategy);
    // The book's end: its state and gaps, when not live.
    let ended = if let Some(tape) = super::tape::tape_input(&files)? {
        // Decoded once already: its events straight to the book.
        let spec = super::tape::tape_spec(&tape, &symbol)?.clone();
        let book = replay::observe_input(
            minerva::backtest::Input::Tape(&tape.0),
            &spec,
            &opts,
            &mut run,
        );
        (book.state() != minerva::book::SyncState::Live).then(|| {
            (
                format!("{:?}", book.state()).to_lowercase(),
                book.stats().gaps,
            )
        })
    } else {
        let rep = replay::replay_observed(&files, &opts, &mut run)?;
        rep.symbol_reports()
            .first()
            .filter(|s| s.state != "live")
            .map(|s| (s.state.to_string(), s.gaps))
    };
    let Some(spec) = run.spec().cloned() else {
        bail!(
            "the input has no book for {}",
            opts.symbol.unwrap_or_default()
        );
    };
    if let Some((state, gaps)) = ended {
        eprintln!("minerva: warning: the book ended {state} ({gaps} gaps)");
    }
    if a.json {
        print!("{}", report::json_lines(&run, &spec));
    } else {
        print!("{}", report::text(&run, &spec));
    }
    Ok(())
}
