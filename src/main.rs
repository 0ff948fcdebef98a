//! `minerva`: the command line of the Minerva trading system (see `src/cli/`).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minerva: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
