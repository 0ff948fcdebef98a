//! `minerva worker`: one machine of an evolution's fleet. It claims the jobs that
//! `minerva evolve --fleet` publishes in PostgreSQL, backtests them on the run's tapes
//! (read from the same database) and writes the outcomes back (docs/evolve.md).

use anyhow::{Context, Result, bail};
use minerva::evolve::queue::Worker;
use minerva::store::postgres::redact;
use std::time::Duration;

/// `minerva worker`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The queue: `postgres://user@host:port/db` (password from PGPASSWORD, or in the
    /// URL), as given to `minerva evolve --fleet`.
    #[arg(value_name = "postgres://…")]
    url: String,
    /// Backtests run at once (threads, one connection each). Default and maximum: the
    /// CPUs this process may use.
    #[arg(long)]
    jobs: Option<usize>,
    /// Serve only this run (`minerva evolve --fleet` prints its number); default: every
    /// run of this version.
    #[arg(long)]
    run: Option<i64>,
    /// Exit after this long with no job to take (`30s`, `10m`); default: wait for work
    /// until stopped (Ctrl-C or SIGTERM: the backtests under way finish first).
    #[arg(long, value_parser = parse_idle)]
    idle_exit: Option<Duration>,
    /// This worker's name on the jobs it takes (default: host name and process id).
    #[arg(long)]
    name: Option<String>,
}

/// `--idle-exit`: from 1 s to 1 h.
fn parse_idle(v: &str) -> Result<Duration, String> {
    match minerva::sim::latency::duration_us(v) {
        Ok(us) if us >= 1_000_000 => Ok(Duration::from_micros(us)),
        _ => Err(format!(
            "`{v}`: expected a duration from 1s to 1h (30s, 10m)"
        )),
    }
}

/// `host:pid`, the default name of this process's workers.
pub fn host_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}

/// Runs `minerva worker`.
pub fn run(a: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = a.jobs.unwrap_or(cores);
    if jobs == 0 || jobs > cores {
        bail!("--jobs {jobs}: from 1 to {cores} (the CPUs this process may use)");
    }
    let worker = Worker::connect(&a.url, a.run).context("minerva worker")?;
    minerva::shutdown::install_handlers();
    let name = a.name.clone().unwrap_or_else(host_name);
    println!(
        "worker {name}: {jobs} threads on {}{}",
        redact(&a.url),
        a.run.map_or(String::new(), |r| format!(" (run {r} only)"))
    );
    let stop = || minerva::shutdown::requested();
    let judged: Vec<u64> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..jobs)
            .map(|k| {
                let (worker, name) = (&worker, format!("{name}#{k}"));
                s.spawn(move || {
                    let mut judged = 0;
                    // A lost server is waited for: the job held then is taken again by
                    // another worker when its lease runs out.
                    while !stop() {
                        match worker.work(&name, a.idle_exit, &stop) {
                            Ok(st) => {
                                judged += st.jobs;
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(worker = %name, "{e}; trying again in 2 s");
                                for _ in 0..20 {
                                    if stop() {
                                        break;
                                    }
                                    std::thread::sleep(Duration::from_millis(100));
                                }
                            }
                        }
                    }
                    judged
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or(0)).collect()
    });
    println!("worker {name}: {} jobs judged", judged.iter().sum::<u64>());
    Ok(())
}
