//! `minerva`: the command line of the Minerva trading system (see `src/cli/`).

mod cli;

use std::process::ExitCode;

/// Keeps freed heap memory in the process instead of handing it back to the kernel
/// at once. The backtest's books, rings and exchange hold a few large buffers
/// (ladder windows of 2 MB a side), allocated per run: glibc's defaults give blocks
/// of that size back on free and the next run (the genetic algorithm's thousands, a
/// bench's passes) faulted ~3,800 fresh zeroed pages each (10-15 % of a USD-M
/// session's backtest). Blocks up to 32 MB now come from the heap, and up to 64 MB of
/// free heap stays mapped.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
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
