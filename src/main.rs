//! `minerva`: the command line of the Minerva trading system (see `src/cli/`).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<cli::Exit>() {
                eprintln!("minerva: {exit}");
                return ExitCode::from(exit.code);
            }
            eprintln!("minerva: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
