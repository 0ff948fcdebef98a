//! `minerva evolve`: the genetic algorithm over strategy parameters, judged by
//! backtests on recorded data, checked on a holdout window (docs/evolve.md).

use super::args::{OVERRIDES_HELP, RecordedData, StrategyArgs, WindowArgs, strategy_replay};
use super::backtest::symbol_data;
use anyhow::{Context, Result, bail};
use minerva::evolve::log::LogFile;
use minerva::evolve::queue::{Coordinator, Job, QueueError, RunSpec, Worker};
use minerva::evolve::{self, Gene, report, study::Study};
use minerva::evolve::{Outcome, par_map};
use minerva::strategy::Strategy;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `--lease`: from 1 s to 1 h.
fn parse_lease(v: &str) -> Result<Duration, String> {
    match minerva::sim::latency::duration_us(v) {
        Ok(us) if us >= 1_000_000 => Ok(Duration::from_micros(us)),
        _ => Err(format!(
            "`{v}`: expected a duration from 1s to 1h (30s, 5m)"
        )),
    }
}

/// `minerva evolve`'s own flags (docs/evolve.md).
#[derive(clap::Args)]
#[command(after_help = OVERRIDES_HELP)]
pub struct Args {
    /// The strategy to start from (it is not changed) and fixed overrides of its keys.
    #[command(flatten)]
    strategy: StrategyArgs,
    #[command(flatten)]
    data: RecordedData,
    #[command(flatten)]
    window: WindowArgs,
    /// Where to write the best strategy found (the strategy file with the evolved keys
    /// and a [results] table). Default: `<strategy>.evolved.toml` beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A gene to evolve, KEY=LO..HI[:STEP] (repeatable): adds a key or replaces a
    /// default gene's range. Defaults: docs/evolve.md.
    #[arg(long = "gene", value_name = "KEY=LO..HI[:STEP]")]
    genes: Vec<String>,
    /// A default gene to leave as the strategy file has it (repeatable).
    #[arg(long = "fix", value_name = "KEY")]
    fixed: Vec<String>,
    /// Evolve only the --gene keys (no default genes).
    #[arg(long)]
    only_genes: bool,
    /// Share of the window, at its end, kept out of the search and used to check the
    /// best candidates afterwards (0: none).
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Candidates per generation.
    #[arg(long, default_value_t = 24)]
    population: usize,
    /// Generations at most.
    #[arg(long, default_value_t = 10)]
    generations: usize,
    /// Best candidates carried to the next generation unchanged.
    #[arg(long, default_value_t = 2)]
    elite: usize,
    /// Tournament size when picking parents.
    #[arg(long, default_value_t = 3)]
    tournament: usize,
    /// Chance that two parents are crossed.
    #[arg(long, default_value_t = 0.9)]
    crossover: f64,
    /// Chance that each gene of a child mutates.
    #[arg(long, default_value_t = 0.2)]
    mutation: f64,
    /// A mutation's standard deviation, as a share of the gene's range.
    #[arg(long, default_value_t = 0.15)]
    mutation_scale: f64,
    /// Candidates with fewer closed trades rank below all others.
    #[arg(long, default_value_t = 1)]
    min_trades: usize,
    /// Stop after this many generations without a better best (0: never).
    #[arg(long, default_value_t = 0)]
    patience: usize,
    /// Backtests run at once (default and maximum: the CPUs this process may use). With
    /// --fleet: worker threads this process adds to the fleet (default 0).
    #[arg(long)]
    jobs: Option<usize>,
    /// Have the candidates backtested by a fleet: publish them as jobs in this
    /// PostgreSQL database (`postgres://user@host:port/db`, password from PGPASSWORD)
    /// for `minerva worker` processes on any machines to claim; the result is the one
    /// a single machine finds (docs/evolve.md, "On a fleet").
    // Not `--queue`: that is the simulated exchange's queue-position model, as in `backtest`.
    #[arg(long, value_name = "postgres://…")]
    fleet: Option<String>,
    /// With --fleet: how long a worker may hold a job without renewing it before
    /// another worker takes it (a worker that died).
    #[arg(long, default_value = "60s", value_parser = parse_lease, requires = "fleet")]
    lease: Duration,
    /// Seed of the algorithm's draws (the simulated exchange's is --seed).
    #[arg(long, default_value_t = 1)]
    ga_seed: u64,
    /// Several symbols (BTCUSDT,ETHUSDT): each candidate is backtested on each, with the
    /// strategy's capital, and judged by the combined figures (as `minerva backtest
    /// --symbols` combines them). Default: the strategy's market.
    #[arg(long)]
    symbols: Option<String>,
    /// Candidates checked on the holdout window at the end: the best, then the next
    /// best whose training outcomes differ from those already listed.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Write every candidate evaluated as CSV (generation, genes, fitness, …), a
    /// generation at a time, for watching a long run (`tail -f`).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Go on from an earlier run's --log (same data, strategy, settings and genes):
    /// its candidates are not run again, and new ones are appended to it. With the same
    /// --ga-seed the run retraces the earlier one, then continues (more --generations).
    #[arg(long, conflicts_with = "log")]
    resume: Option<PathBuf>,
}

/// Prints to stdout, and goes on when stdout is gone (`minerva evolve … | head`): the
/// evolution still ends and writes its file.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// [`say!`] with a newline.
macro_rules! sayln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// The genes of this run: the defaults (unless --only-genes), each --gene adding or
/// replacing one, each --fix and each key set on the command line taking one out.
fn genes(a: &Args, fixed: &[(&str, String)]) -> Result<Vec<Gene>> {
    let mut genes = if a.only_genes {
        Vec::new()
    } else {
        Gene::defaults()
    };
    // A key set on the command line is fixed at that value, not searched.
    let overridden: Vec<&str> = fixed.iter().map(|(k, _)| *k).collect();
    genes.retain(|g| !overridden.contains(&g.key.as_str()));
    for spec in &a.genes {
        let g = Gene::parse(spec)?;
        if overridden.contains(&g.key.as_str()) {
            bail!(
                "--gene {spec}: --{} sets that key on the command line; give one or the other",
                g.key.replace('_', "-")
            );
        }
        match genes.iter_mut().find(|x| x.key == g.key) {
            Some(x) => *x = g,
            None => genes.push(g),
        }
    }
    for k in &a.fixed {
        let before = genes.len();
        genes.retain(|g| &g.key != k);
        if genes.len() == before && !overridden.contains(&k.as_str()) {
            bail!("--fix {k}: not a gene of this run");
        }
    }
    Ok(genes)
}

fn same_file(x: &Path, y: &Path) -> bool {
    match (x.canonicalize(), y.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => x == y,
    }
}

/// Runs `minerva evolve`.
pub fn run(a: Args) -> Result<()> {
    let files = a.data.files()?;
    let path = &a.strategy.strategy;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("strategy {}", path.display()))?;
    let strategy = a.strategy.load()?;
    let fixed = a.strategy.overrides.pairs();
    let genes = genes(&a, &fixed)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // With a queue the fleet backtests; this process adds workers only when asked.
    let jobs = a.jobs.unwrap_or(if a.fleet.is_some() { 0 } else { cores });
    let least = usize::from(a.fleet.is_none());
    if jobs < least || jobs > cores {
        bail!("--jobs {jobs}: from {least} to {cores} (the CPUs this process may use)");
    }
    let cfg = evolve::Config {
        population: a.population,
        generations: a.generations,
        elite: a.elite,
        tournament: a.tournament,
        crossover: a.crossover,
        mutation: a.mutation,
        mutation_scale: a.mutation_scale,
        min_trades: a.min_trades,
        patience: a.patience,
        jobs: jobs.max(1),
        seed: a.ga_seed,
    };
    cfg.check()?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| path.with_extension("evolved.toml"));
    if same_file(&out, path) {
        bail!("--out: give another file than the strategy evolved from");
    }
    let backtest = a.window.config();
    let objective = backtest.objective;
    let symbols = super::args::symbol_list(a.symbols.as_deref(), &strategy)?;
    let mut markets = Vec::with_capacity(symbols.len());
    // A tape file (`minerva tape build`) is the decoded data already.
    let mut given = super::tape::tape_input(&files)?;
    if given.is_some() && symbols.len() > 1 {
        bail!("a tape holds one symbol: evolve several symbols from their recorded files");
    }
    for sym in &symbols {
        if let Some(t) = given.take() {
            super::tape::tape_spec(&t, sym)?;
            markets.push(t);
            continue;
        }
        let strategy = Strategy {
            market: sym.clone(),
            ..strategy.clone()
        };
        let opts = strategy_replay(&strategy, &a.data.grids);
        let (spec, frames) = symbol_data(&files, symbols.len(), &opts)?;
        // Decoded once; the frames are not needed again.
        let tape = minerva::backtest::tape::Tape::record(&frames, &spec);
        markets.push((tape, spec));
    }
    let study = Study::new(
        markets.iter().map(|(t, s)| (t, s)).collect(),
        &text,
        fixed,
        backtest,
        a.holdout,
    )?;
    study.check(&genes)?;
    let start = study.start(&genes).map_err(anyhow::Error::msg)?;
    let fingerprint = study.fingerprint();
    let mut known = Vec::new();
    let mut log = match (&a.log, &a.resume) {
        (Some(p), _) => Some(
            LogFile::create(p, &fingerprint, &genes)
                .with_context(|| format!("--log {}", p.display()))?,
        ),
        (None, Some(p)) => {
            let r = LogFile::resume(p, &genes, &fingerprint)
                .with_context(|| format!("--resume {}", p.display()))?;
            if r.cut_row_dropped {
                sayln!("note: {}: its last row was cut short; dropped", p.display());
            }
            known = r.known;
            Some(r.log)
        }
        (None, None) => None,
    };
    for (tape, spec) in &markets {
        sayln!(
            "evolve {} {} · {} messages on tape ({} frames, {} undecodable)",
            spec.name,
            spec.market.name(),
            tape.len(),
            tape.frames,
            tape.decode_errors
        );
    }
    if markets.len() > 1 {
        sayln!(
            "figures: the {} symbols' backtests combined, each with the strategy's capital",
            markets.len()
        );
    }
    sayln!("train    {}", report::window(study.train));
    if let Some(h) = study.holdout {
        sayln!("holdout  {}", report::window(h));
    }
    // The queue: the run published (its tapes and settings) before the first job.
    let mut coordinator = match &a.fleet {
        Some(url) => {
            let spec = RunSpec {
                text: text.clone(),
                fixed: a
                    .strategy
                    .overrides
                    .pairs()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                backtest: a.window.config(),
                holdout: a.holdout,
                tapes: Vec::new(),
            };
            let tapes: Vec<Vec<u8>> = markets.iter().map(|(t, s)| t.to_bytes(s)).collect();
            let spec = RunSpec {
                tapes: tapes
                    .iter()
                    .map(|b| minerva::evolve::queue::sha256_hex(b))
                    .collect(),
                ..spec
            };
            Some(Coordinator::publish(
                url,
                &spec,
                &tapes,
                &fingerprint,
                a.lease,
            )?)
        }
        None => None,
    };
    let fleet = match (&coordinator, &a.fleet) {
        (Some(c), Some(url)) => format!(
            "fleet {} run {} · lease {}s · {jobs} local workers",
            minerva::store::postgres::redact(url),
            c.run(),
            a.lease.as_secs()
        ),
        _ => format!("{jobs} jobs"),
    };
    sayln!(
        "population {} · generations {} · elite {} · tournament {} · crossover {} · mutation {} × {} · min trades {} · fitness {objective} · seed {} · {fleet}",
        cfg.population,
        cfg.generations,
        cfg.elite,
        cfg.tournament,
        cfg.crossover,
        cfg.mutation,
        cfg.mutation_scale,
        cfg.min_trades,
        cfg.seed
    );
    say!("genes:\n{}", report::genes(&genes));
    sayln!("{}", report::GENERATION_HEAD);
    minerva::shutdown::install_handlers();
    // Candidates backtested, rate and time left (on a terminal only; the bar is the
    // upper bound: an early stop ends sooner).
    let bar = indicatif::ProgressBar::new((cfg.population * cfg.generations) as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "evolve [{bar:30}] {pos}/{len} backtests · {per_sec} · {eta} left",
    ) {
        bar.set_style(style.progress_chars("#."));
    }
    if !known.is_empty() {
        sayln!(
            "resuming: {} candidates from {}",
            known.len(),
            a.resume.as_deref().unwrap_or(Path::new("")).display()
        );
    }
    // With --fleet and --jobs N, this process's own workers serve the run until it ends.
    let over = AtomicBool::new(false);
    let failed = std::cell::Cell::new(false);
    let local_workers = match (&coordinator, &a.fleet) {
        (Some(c), Some(url)) if jobs > 0 => Some(Worker::connect(url, Some(c.run()))?),
        _ => None,
    };
    let searched = std::thread::scope(|s| {
        if let Some(w) = &local_workers {
            for k in 0..jobs {
                let (w, over) = (w, &over);
                s.spawn(move || {
                    let name = format!("{}#{k}", super::worker::host_name());
                    while !over.load(Ordering::Relaxed) {
                        if let Err(e) = w.work(&name, None, &|| over.load(Ordering::Relaxed)) {
                            tracing::warn!("local worker: {e}; trying again in 2 s");
                            std::thread::sleep(Duration::from_secs(2));
                        }
                    }
                });
            }
        }
        let mut judge = Judge {
            study: &study,
            jobs,
            coordinator: coordinator.as_mut(),
            error: None,
            failed: &failed,
            bar: &bar,
            said_waiting: false,
        };
        let r = search(&a, &genes, &start, &cfg, known, &mut judge, log.as_mut());
        over.store(true, Ordering::Relaxed);
        match judge.error {
            Some(err) => Err(anyhow::Error::new(err)
                .context("--fleet: the evolution stopped (its jobs stay in the database)")),
            None => r,
        }
    });
    let (e, best, start_checked, log_error) = searched?;
    if let Some(c) = &mut coordinator {
        c.finish(minerva::shutdown::requested())?;
    }
    let start_genome = evolve::start_genome(&genes, &start);
    for (g, (&v, &k)) in genes.iter().zip(start.iter().zip(&start_genome)) {
        if v.is_finite() && (g.value(k) - v).abs() > 1e-9 {
            sayln!(
                "note: the strategy's {} = {v} is off the gene's grid; the search began from {}",
                g.key,
                g.text(k)
            );
        }
    }
    say!("{}", report::summary(&genes, &e, &start_checked, &best));
    write_best(&a, &out, &text, &genes, &e, &best)?;
    sayln!("wrote {}", out.display());
    if let Some(err) = log_error {
        bail!("--log: {err}");
    }
    Ok(())
}

/// Where the candidates are backtested: this process's threads, or the fleet behind
/// the queue.
struct Judge<'a, 's> {
    study: &'a Study<'s>,
    /// Threads (local), or this process's own workers (queue: they serve from the
    /// database like any other).
    jobs: usize,
    coordinator: Option<&'a mut Coordinator>,
    /// The queue's failure: every later candidate reads "not run" and the run stops.
    error: Option<QueueError>,
    failed: &'a std::cell::Cell<bool>,
    bar: &'a indicatif::ProgressBar,
    said_waiting: bool,
}

impl Judge<'_, '_> {
    /// Outcomes of `jobs`, in order. `tag` is the generation, or -1 for the checks
    /// after the search (which Ctrl-C does not skip).
    fn batch(&mut self, tag: i32, jobs: &[Job<'_>]) -> Vec<Result<Outcome, String>> {
        let search = tag >= 0;
        let (study, bar) = (self.study, self.bar);
        let Some(c) = self.coordinator.as_deref_mut() else {
            return par_map(self.jobs, jobs, &|(o, w)| {
                if search && minerva::shutdown::requested() {
                    return Err("not run: stopped".to_string());
                }
                let r = study.evaluate(o, *w);
                if search {
                    bar.inc(1);
                }
                r
            });
        };
        let failed = || vec![Err("not run: the queue failed".to_string()); jobs.len()];
        if self.error.is_some() {
            return failed();
        }
        let (run, said) = (c.run(), &mut self.said_waiting);
        let mut shown = 0;
        let answered = c.evaluate(tag, jobs, &mut |p| {
            if search {
                bar.inc((p.done - shown) as u64);
                shown = p.done;
            }
            if p.running == 0 && p.idle_secs >= 10 && !*said {
                *said = true;
                bar.suspend(|| {
                    sayln!(
                        "waiting: no worker has taken a job for 10 s; start `minerva worker postgres://…` (every run, or --run {run}) on the fleet's machines"
                    )
                });
            }
            // After Ctrl-C the search stops at once; the checks after it wait while
            // a worker answers, and give up after 30 s with none at work.
            let stop = minerva::shutdown::requested();
            !(stop && (search || (p.running == 0 && p.idle_secs >= 30)))
        });
        match answered {
            Ok(v) => {
                if search {
                    bar.inc((jobs.len() - shown) as u64);
                }
                v
            }
            Err(e) => {
                self.error = Some(e);
                self.failed.set(true);
                failed()
            }
        }
    }
}

/// What the search found: the evolution, the best candidates and the start checked on
/// the holdout, and a failure of the --log file (reported after the file is written).
type Searched = (
    evolve::Evolution,
    Vec<report::Checked>,
    report::Checked,
    Option<std::io::Error>,
);

/// The genetic search, then the checks of its best candidates and of the start.
fn search(
    a: &Args,
    genes: &[Gene],
    start: &[f64],
    cfg: &evolve::Config,
    known: Vec<evolve::Candidate>,
    judge: &mut Judge<'_, '_>,
    mut log: Option<&mut LogFile>,
) -> Result<Searched> {
    let (train, holdout, bar, failed) = (
        judge.study.train,
        judge.study.holdout,
        judge.bar,
        judge.failed,
    );
    let mut log_error = None;
    let mut generation = 0;
    let mut batch = |b: &[Vec<(&str, String)>]| {
        let jobs: Vec<Job<'_>> = b.iter().map(|o| (o.clone(), train)).collect();
        let r = judge.batch(generation, &jobs);
        generation += 1;
        r
    };
    let e = evolve::evolve_from(genes, start, cfg, known, &mut batch, &mut |g| {
        bar.suspend(|| sayln!("{}", report::generation(g)));
        if let Some(f) = &mut log {
            // A failing log is reported at the end; the evolution goes on.
            if let Err(err) = f.append(genes, g) {
                log_error.get_or_insert(err);
            }
        }
        !minerva::shutdown::requested() && !failed.get()
    })?;
    bar.finish_and_clear();
    if failed.get() {
        bail!("the queue failed"); // the caller reports its error
    }
    if let Err(why) = &e.best.outcome {
        bail!("no candidate could run (the best: {why}); nothing written");
    }
    // The best, then the next best that ran and behaved differently (many candidates
    // place the same orders: the same outcome says nothing new about the holdout).
    let mut check = vec![e.best.clone()];
    for c in e.ranked.iter().filter(|c| c.outcome.is_ok()) {
        if check.len() >= a.top.max(1) {
            break;
        }
        if !check.iter().any(|x| x.outcome == c.outcome) {
            check.push(c.clone());
        }
    }
    // Each row's overrides, and its training outcome when the search has it. The start
    // row is the strategy as given, its values exactly (the search began from the
    // nearest grid point): backtested here, with the holdout checks.
    let mut rows: Vec<_> = check
        .into_iter()
        .map(|c| (evolve::overrides(genes, &c.genome), Some(c)))
        .collect();
    rows.push((Vec::new(), None));
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (o, c) in &rows {
        if c.is_none() {
            jobs.push((o.clone(), train));
        }
        if let Some(w) = holdout {
            jobs.push((o.clone(), w));
        }
    }
    let mut answers = judge.batch(-1, &jobs).into_iter();
    if failed.get() {
        bail!("the queue failed");
    }
    let start_genome = evolve::start_genome(genes, start);
    let mut checked: Vec<report::Checked> = rows
        .into_iter()
        .map(|(_, c)| report::Checked {
            candidate: c.unwrap_or_else(|| evolve::Candidate {
                genome: start_genome.clone(),
                outcome: answers.next().expect("one answer per job"),
                born: 0,
            }),
            holdout: holdout.map(|_| answers.next().expect("one answer per job")),
        })
        .collect();
    let start_checked = checked.pop().context("the start row")?;
    Ok((e, checked, start_checked, log_error))
}

/// The best strategy file: the original with the fixed overrides and evolved genes
/// set, and what it scored in a `[results]` table.
fn write_best(
    a: &Args,
    out: &Path,
    text: &str,
    genes: &[Gene],
    e: &evolve::Evolution,
    best: &[report::Checked],
) -> Result<()> {
    let mut values = a.strategy.overrides.pairs();
    values.extend(evolve::overrides(genes, &e.best.genome));
    let evolved = minerva::strategy::with_values(text, &values)?;
    let tmp = out.with_extension("toml.tmp");
    std::fs::write(&tmp, evolved)
        .and_then(|()| std::fs::rename(&tmp, out))
        .with_context(|| format!("--out {}", out.display()))?;
    let train = e.best.outcome.as_ref().ok();
    let hold = best
        .first()
        .and_then(|c| c.holdout.as_ref())
        .and_then(|h| h.as_ref().ok());
    let mut results = vec![
        ("fitness", train.map_or(f64::NAN, |o| o.fitness)),
        ("trades", train.map_or(0.0, |o| o.trades as f64)),
        ("net_pnl", train.map_or(f64::NAN, |o| o.net_pnl)),
        ("max_drawdown", train.map_or(f64::NAN, |o| o.max_drawdown)),
    ];
    if let Some(h) = hold {
        results.extend([
            ("holdout_fitness", h.fitness),
            ("holdout_trades", h.trades as f64),
            ("holdout_net_pnl", h.net_pnl),
        ]);
    }
    results.extend([
        ("generations", e.generations as f64),
        ("backtests", e.evaluations as f64),
    ]);
    results.retain(|(_, v)| v.is_finite());
    minerva::strategy::write_results(out, &results)
        .with_context(|| format!("--out {}", out.display()))?;
    Ok(())
}
