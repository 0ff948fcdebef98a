//! `minerva view`: the live terminal view of running pipelines, read from their
//! status sockets (docs/visualize.md).

use anyhow::Result;
use std::path::PathBuf;

/// `minerva view`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Status sockets of running `minerva run --status PATH` processes (one symbol
    /// each; ←/→ or Tab switches between them).
    #[arg(required = true, value_name = "SOCKET")]
    sockets: Vec<PathBuf>,
}

/// Runs `minerva view`.
pub fn run(a: Args) -> Result<()> {
    let feeds = a
        .sockets
        .into_iter()
        .map(minerva::view::Feed::Socket)
        .collect();
    minerva::view::run(feeds, false)?;
    Ok(())
}
