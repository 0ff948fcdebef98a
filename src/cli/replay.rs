//! `minerva replay`: recorded data through the production decoder and book.

use anyhow::Result;
use minerva::core::Market;
use minerva::replay::{self, ReplayOptions};
use minerva::venues::Venue;
use std::path::PathBuf;

/// `minerva replay`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Recorded files (hftbacktest `.gz`/plain, cryptofeed captures of Binance or
    /// KuCoin, JSON lines) or recording databases.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per symbol instead of the summary.
    #[arg(long)]
    json: bool,
    /// The venue (detected from the data when absent; checked against it).
    #[arg(long, value_enum)]
    venue: Option<Venue>,
    /// The market (detected from the data when absent).
    #[arg(long, value_enum)]
    market: Option<Market>,
    /// Only this symbol.
    #[arg(long)]
    symbol: Option<String>,
    /// REST depth snapshot to start from (for plain JSON lines).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Tick size (with --lot), when the data has no exchangeInfo.
    #[arg(long, requires = "lot")]
    tick: Option<String>,
    /// Quantity unit (with --tick).
    #[arg(long, requires = "tick")]
    lot: Option<String>,
    /// REST symbol list with the symbols' grids: Binance's exchangeInfo or KuCoin's
    /// `/api/v2/symbols` answer.
    #[arg(long)]
    exchange_info: Option<PathBuf>,
}

/// Runs `minerva replay`.
pub fn run(a: Args) -> Result<()> {
    let files = minerva::store::expand(&a.files)?;
    let opts = ReplayOptions {
        venue: a.venue,
        market: a.market,
        symbol: a.symbol,
        tick: a.tick,
        lot: a.lot,
        snapshot: a.snapshot,
        exchange_info: a.exchange_info,
        progress: !a.json,
        ..Default::default()
    };
    let rep = replay::replay(&files, &opts)?;
    if a.json {
        print!("{}", rep.to_json_lines());
    } else {
        print!("{}", rep.to_text());
    }
    Ok(())
}
