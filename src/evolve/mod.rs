//! The genetic algorithm behind `minerva evolve`: it evolves a strategy's parameters
//! (the seed's "genes") with the backtest's fitness as the thing to maximise.
//!
//! Cold path throughout: each candidate is a whole backtest. The algorithm itself knows
//! nothing of backtests: it asks an evaluator for the [`Outcome`] of a set of strategy
//! overrides, so the same loop is tested here on functions with known optima.
//!
//! ```text
//! population ─▶ evaluate (jobs threads, cache) ─▶ rank ─▶ elites + tournament parents
//!      ▲                                                   │ crossover, mutation
//!      └───────────────────────────────────────────────────┘
//! ```
//!
//! A gene is a grid `lo, lo + step, …, hi` and a genome holds grid indices, so equal
//! candidates are equal exactly (the cache never runs one twice) and every value written
//! back has the precision its step names. Deterministic: every draw comes from one seeded
//! generator on the calling thread, and evaluations are pure, so the result does not
//! depend on the number of threads.

pub mod log;
pub mod queue;
pub mod report;
pub mod study;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use thiserror::Error;

/// What is wrong with a gene or the algorithm's settings.
#[derive(Debug, Error, PartialEq)]
pub enum EvolveError {
    /// A `--gene` that does not read as `KEY=LO..HI[:STEP]` or breaks a rule.
    #[error("gene `{spec}`: {why}")]
    Gene {
        /// The gene as written.
        spec: String,
        /// What is wrong.
        why: String,
    },
    /// Nothing left to evolve.
    #[error("no genes to evolve (every one fixed?)")]
    NoGenes,
    /// A setting out of its range.
    #[error("{0}")]
    Config(String),
}

/// One evolvable strategy key: values `lo, lo + step, …` up to `hi`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gene {
    /// The strategy key (`short_pressure`).
    pub key: String,
    /// Lowest value.
    pub lo: f64,
    /// Highest value (the grid's last point may fall short of it by less than a step).
    pub hi: f64,
    /// Grid step.
    pub step: f64,
}

/// Keys that describe the account or the market, not a choice of the strategy.
const NOT_GENES: &[&str] = &["market", "capital", "maker_fee", "taker_fee"];

/// The seed's parameters (its eight flags and its void call's `height` and
/// `prominence`), over ranges a trader would search first (docs/evolve.md).
const DEFAULT_GENES: &[(&str, f64, f64, f64)] = &[
    ("limit_orderbook", 20.0, 1000.0, 10.0),
    ("relative_threshold", 2.0, 50.0, 0.5),
    ("short_pressure", 0.52, 0.95, 0.01),
    ("long_pressure", 0.05, 0.48, 0.01),
    ("max_concurrent_trades", 1.0, 20.0, 1.0),
    ("peak_distance_divisor", 2.0, 50.0, 1.0),
    ("stop_loss_price_buffer", 0.01, 1.0, 0.01),
    ("percentage_per_trade", 0.005, 0.2, 0.005),
    // The seed's void call, in the symbol's quantity units (BTC-sized ranges).
    ("void_height", -5.0, 0.0, 0.05),
    ("void_prominence", 0.0, 10.0, 0.05),
];

impl Gene {
    /// The default genes: the seed's parameters over their usual ranges.
    pub fn defaults() -> Vec<Gene> {
        DEFAULT_GENES
            .iter()
            .map(|&(key, lo, hi, step)| Gene {
                key: key.to_string(),
                lo,
                hi,
                step,
            })
            .collect()
    }

    /// Reads `KEY=LO..HI[:STEP]`. Whole-number keys step by 1 unless told; others by a
    /// hundredth of the range.
    ///
    /// # Errors
    /// [`EvolveError::Gene`] naming the rule broken.
    pub fn parse(spec: &str) -> Result<Gene, EvolveError> {
        let bad = |why: &str| EvolveError::Gene {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let (key, range) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=LO..HI[:STEP]"))?;
        let key = key.trim();
        if !crate::strategy::Strategy::keys().any(|k| k == key) {
            return Err(bad("not a strategy key (docs/strategy.md)"));
        }
        if NOT_GENES.contains(&key) {
            return Err(bad(
                "describes the account or market, not the strategy: set it in the file",
            ));
        }
        let (range, step) = match range.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (range, None),
        };
        let (lo, hi) = range
            .split_once("..")
            .ok_or_else(|| bad("expected KEY=LO..HI[:STEP]"))?;
        let num = |v: &str| -> Result<f64, EvolveError> {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad("not a number"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo >= hi {
            return Err(bad("LO must be below HI"));
        }
        let integer = crate::strategy::Strategy::is_integer_key(key);
        let step = match step {
            Some(s) => num(s)?,
            None if integer => 1.0,
            None => (hi - lo) / 100.0,
        };
        if step <= 0.0 || step > hi - lo {
            return Err(bad("STEP must be positive and at most HI - LO"));
        }
        if integer && [lo, hi, step].iter().any(|v| v.fract() != 0.0) {
            return Err(bad("a whole-number key takes whole LO, HI and STEP"));
        }
        let g = Gene {
            key: key.to_string(),
            lo,
            hi,
            step,
        };
        if g.points() > 1_000_000 {
            return Err(bad("more than 1,000,000 values: take a larger STEP"));
        }
        Ok(g)
    }

    /// Grid points.
    pub fn points(&self) -> u32 {
        // The small epsilon keeps `0.05..0.48:0.01` at 44 points despite binary fractions.
        (((self.hi - self.lo) / self.step + 1e-9).floor() as u32).saturating_add(1)
    }

    /// The value at grid index `k`.
    pub fn value(&self, k: u32) -> f64 {
        self.lo + f64::from(k) * self.step
    }

    /// The grid index nearest `v` (clamped into the range).
    pub fn index_of(&self, v: f64) -> u32 {
        let k = ((v - self.lo) / self.step).round();
        k.clamp(0.0, f64::from(self.points() - 1)) as u32
    }

    /// The value at index `k` as the strategy file would hold it: at most eight
    /// decimals, no float noise (`0.13`, not `0.13000000000000003`).
    pub fn text(&self, k: u32) -> String {
        let s = format!("{:.8}", self.value(k));
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.into() }
    }
}

/// A candidate's grid indices, one per gene.
pub type Genome = Vec<u32>;

/// What the evaluator found for one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The fitness (higher is better).
    pub fitness: f64,
    /// Operations closed.
    pub trades: usize,
    /// Net PnL, quote.
    pub net_pnl: f64,
    /// Max drawdown, quote.
    pub max_drawdown: f64,
}

/// A candidate and what became of it: an outcome, or why it could not run (a strategy
/// the file's rules refuse, such as `long_pressure` above `short_pressure`).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its genes.
    pub genome: Genome,
    /// Its evaluation.
    pub outcome: Result<Outcome, String>,
    /// The generation it was first evaluated in.
    pub born: usize,
}

impl Candidate {
    /// Ranking: candidates that ran with at least `min_trades` trades by fitness, then
    /// those with fewer (a strategy that never trades must not win by losing nothing),
    /// then those that could not run.
    fn rank(&self, min_trades: usize) -> (u8, f64) {
        match &self.outcome {
            Ok(o) if o.trades >= min_trades => (2, o.fitness),
            Ok(o) => (1, o.fitness),
            Err(_) => (0, f64::NEG_INFINITY),
        }
    }

    /// Whether it ran with at least `min_trades` trades.
    pub fn qualifies(&self, min_trades: usize) -> bool {
        self.rank(min_trades).0 == 2
    }

    /// The fitness, when it ran.
    pub fn fitness(&self) -> Option<f64> {
        self.outcome.as_ref().ok().map(|o| o.fitness)
    }
}

fn better(a: &Candidate, b: &Candidate, min_trades: usize) -> std::cmp::Ordering {
    let (ra, fa) = a.rank(min_trades);
    let (rb, fb) = b.rank(min_trades);
    ra.cmp(&rb).then(fa.total_cmp(&fb))
}

/// How the algorithm runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Candidates per generation.
    pub population: usize,
    /// Generations at most (the first, random one included).
    pub generations: usize,
    /// Best candidates carried over unchanged.
    pub elite: usize,
    /// Tournament size for parent selection.
    pub tournament: usize,
    /// Chance that two parents are crossed (else the child copies one).
    pub crossover: f64,
    /// Chance that each gene of a child mutates.
    pub mutation: f64,
    /// Mutation's standard deviation as a share of the gene's range.
    pub mutation_scale: f64,
    /// Candidates with fewer trades rank below every candidate with enough.
    pub min_trades: usize,
    /// Stop after this many generations without a better best (0: never).
    pub patience: usize,
    /// Evaluation threads.
    pub jobs: usize,
    /// Seed of every draw.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            population: 24,
            generations: 10,
            elite: 2,
            tournament: 3,
            crossover: 0.9,
            mutation: 0.2,
            mutation_scale: 0.15,
            min_trades: 1,
            patience: 0,
            jobs: 1,
            seed: 1,
        }
    }
}

impl Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`EvolveError::Config`] naming the setting.
    pub fn check(&self) -> Result<(), EvolveError> {
        let bad = |s: &str| Err(EvolveError::Config(s.to_string()));
        if !(2..=100_000).contains(&self.population) {
            return bad("--population: from 2 to 100,000");
        }
        if self.generations == 0 {
            return bad("--generations: at least 1");
        }
        if self.elite >= self.population {
            return bad("--elite: fewer than --population");
        }
        if self.tournament == 0 || self.tournament > self.population {
            return bad("--tournament: from 1 to --population");
        }
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !unit(self.crossover) || !unit(self.mutation) {
            return bad("--crossover and --mutation: probabilities from 0 to 1");
        }
        if !(self.mutation_scale > 0.0 && self.mutation_scale <= 1.0) {
            return bad("--mutation-scale: above 0, at most 1");
        }
        if self.jobs == 0 {
            return bad("--jobs: at least 1");
        }
        Ok(())
    }
}

/// One generation, as the observer sees it.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Index, from 0.
    pub index: usize,
    /// The best candidate so far (all generations).
    pub best: Candidate,
    /// The fitness of this generation's best candidate (ranked as the best overall
    /// is), and the mean and median over its candidates that ran.
    pub fitness: Option<(f64, f64, f64)>,
    /// Candidates evaluated for the first time (in population order).
    pub new: Vec<Candidate>,
    /// Candidates this generation took from the cache.
    pub cached: usize,
    /// Candidates that could not run.
    pub invalid: usize,
    /// Candidates with fewer than `min_trades` trades.
    pub few_trades: usize,
    /// Wall time of the generation, s.
    pub wall_secs: f64,
}

/// Why the evolution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// All generations ran.
    Generations,
    /// `patience` generations without a better best.
    Patience,
    /// The observer asked to stop (Ctrl-C).
    Stopped,
}

/// What an evolution found.
#[derive(Debug, Clone)]
pub struct Evolution {
    /// The best candidate.
    pub best: Candidate,
    /// Every distinct candidate evaluated, best first.
    pub ranked: Vec<Candidate>,
    /// Generations run.
    pub generations: usize,
    /// Backtests run (distinct candidates).
    pub evaluations: usize,
    /// Candidates served from the cache.
    pub cache_hits: usize,
    /// Candidates read from an earlier run's log (counted in `evaluations`).
    pub known: usize,
    /// Why it ended.
    pub ending: Ending,
}

/// Backtests one candidate, given as strategy overrides (`key`, value text); an `Err`
/// says why the candidate cannot run. Called from several threads at once.
pub type Evaluator<'a> = dyn Fn(&[(&str, String)]) -> Result<Outcome, String> + Sync + 'a;

/// Backtests a generation's new candidates (each as [`Evaluator`] takes it), outcomes in
/// their order: on this machine's threads ([`par_map`]) or on a fleet of workers
/// (`queue`). The algorithm does not care where, only that outcomes are pure.
pub type BatchEvaluator<'a> =
    dyn FnMut(&[Vec<(&str, String)>]) -> Vec<Result<Outcome, String>> + 'a;

/// The overrides a genome stands for: `(key, value text)` per gene.
pub fn overrides<'g>(genes: &'g [Gene], genome: &[u32]) -> Vec<(&'g str, String)> {
    genes
        .iter()
        .zip(genome)
        .map(|(g, &k)| (g.key.as_str(), g.text(k)))
        .collect()
}

/// Runs `f` on every item on `jobs` threads (scoped; at most one per item), results in
/// item order.
pub fn par_map<T: Sync, R: Send>(jobs: usize, items: &[T], f: &(dyn Fn(&T) -> R + Sync)) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let threads = jobs.clamp(1, items.len().max(1));
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(k) else { break };
                        done.push((k, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for (k, r) in parts.into_iter().flatten() {
        out[k] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every item evaluated"))
        .collect()
}

/// The genome nearest the values `start` (a gene without a value starts mid-range):
/// the evolution's first candidate.
pub fn start_genome(genes: &[Gene], start: &[f64]) -> Genome {
    genes
        .iter()
        .zip(start.iter().chain(std::iter::repeat(&f64::NAN)))
        .map(|(g, &v)| {
            if v.is_finite() {
                g.index_of(v)
            } else {
                g.points() / 2
            }
        })
        .collect()
}

/// A normal draw (Box–Muller) from the seeded generator.
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Evolves `genes` from `start` (the strategy's own values: the first candidate, so the
/// result is never worse than where it began on the data it is judged on).
/// `evaluate` backtests one candidate's overrides; `observe` sees every generation and
/// returns `false` to stop after it.
///
/// # Errors
/// [`EvolveError`] for settings out of range or no genes.
pub fn evolve(
    genes: &[Gene],
    start: &[f64],
    cfg: &Config,
    evaluate: &Evaluator<'_>,
    observe: &mut dyn FnMut(&Generation) -> bool,
) -> Result<Evolution, EvolveError> {
    let mut batch = |b: &[Vec<(&str, String)>]| par_map(cfg.jobs, b, &|o| evaluate(o));
    evolve_from(genes, start, cfg, Vec::new(), &mut batch, observe)
}

/// [`evolve`] with candidates already evaluated (`known`, from an earlier run's log):
/// they are taken as if from the cache. With the same settings and seed the run takes
/// the same path as the earlier one — re-running only what the log lacks — and goes on
/// from where it stopped.
///
/// # Errors
/// As [`evolve`].
pub fn evolve_from(
    genes: &[Gene],
    start: &[f64],
    cfg: &Config,
    known: Vec<Candidate>,
    evaluate: &mut BatchEvaluator<'_>,
    observe: &mut dyn FnMut(&Generation) -> bool,
) -> Result<Evolution, EvolveError> {
    cfg.check()?;
    if genes.is_empty() {
        return Err(EvolveError::NoGenes);
    }
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let random = |rng: &mut fastrand::Rng| -> Genome {
        genes.iter().map(|g| rng.u32(0..g.points())).collect()
    };
    let mut population = vec![start_genome(genes, start)];
    while population.len() < cfg.population {
        population.push(random(&mut rng));
    }
    let known_count = known.len();
    let mut cache: HashMap<Genome, Candidate> =
        known.into_iter().map(|c| (c.genome.clone(), c)).collect();
    let mut best: Option<Candidate> = None;
    let (mut hits, mut since_better, mut ending) = (0, 0, Ending::Generations);
    let mut generation = 0;
    while generation < cfg.generations {
        let wall = Instant::now();
        // Evaluate what the cache has not seen, each distinct genome once.
        let mut todo: Vec<Genome> = Vec::new();
        for g in &population {
            if !cache.contains_key(g) && !todo.contains(g) {
                todo.push(g.clone());
            }
        }
        let cached = population.len() - todo.len();
        hits += cached;
        let batch: Vec<_> = todo.iter().map(|g| overrides(genes, g)).collect();
        let results = evaluate(&batch);
        if results.len() != todo.len() {
            return Err(EvolveError::Config(format!(
                "the evaluator answered {} of {} candidates",
                results.len(),
                todo.len()
            )));
        }
        let mut new = Vec::with_capacity(todo.len());
        for (genome, outcome) in todo.into_iter().zip(results) {
            let c = Candidate {
                genome: genome.clone(),
                outcome,
                born: generation,
            };
            cache.insert(genome, c.clone());
            new.push(c);
        }
        let mut ranked: Vec<&Candidate> = population.iter().map(|g| &cache[g]).collect();
        ranked.sort_by(|a, b| better(b, a, cfg.min_trades));
        let top = ranked[0].clone();
        let improved = match &best {
            None => true,
            Some(b) => better(&top, b, cfg.min_trades).is_gt(),
        };
        if improved {
            best = Some(top);
            since_better = 0;
        } else {
            since_better += 1;
        }
        let mut ran: Vec<f64> = ranked.iter().filter_map(|c| c.fitness()).collect();
        ran.sort_by(f64::total_cmp);
        let report = Generation {
            index: generation,
            best: best.clone().expect("set above"),
            fitness: (!ran.is_empty()).then(|| {
                let mean = ran.iter().sum::<f64>() / ran.len() as f64;
                let mid = ran.len() / 2;
                let median = if ran.len() % 2 == 1 {
                    ran[mid]
                } else {
                    (ran[mid - 1] + ran[mid]) / 2.0
                };
                (ranked[0].fitness().unwrap_or(f64::NAN), mean, median)
            }),
            new,
            cached,
            invalid: ranked.iter().filter(|c| c.outcome.is_err()).count(),
            few_trades: ranked
                .iter()
                .filter(|c| c.outcome.is_ok() && !c.qualifies(cfg.min_trades))
                .count(),
            wall_secs: wall.elapsed().as_secs_f64(),
        };
        generation += 1;
        if !observe(&report) {
            ending = Ending::Stopped;
            break;
        }
        if cfg.patience > 0 && since_better >= cfg.patience {
            ending = Ending::Patience;
            break;
        }
        if generation == cfg.generations {
            break;
        }
        population = breed(genes, cfg, &ranked, &mut rng);
    }
    let mut ranked: Vec<Candidate> = cache.into_values().collect();
    ranked.sort_by(|a, b| better(b, a, cfg.min_trades).then(a.genome.cmp(&b.genome)));
    Ok(Evolution {
        best: best.expect("at least one generation"),
        evaluations: ranked.len(),
        ranked,
        generations: generation,
        cache_hits: hits,
        known: known_count,
        ending,
    })
}

/// The next population: the elites unchanged, then children of tournament winners,
/// crossed (a blend of the parents' indices, per gene) and mutated (a normal step of
/// `mutation_scale` of the range). A child equal to one already in the population is
/// mutated again (a few tries), so the search does not collapse onto copies.
fn breed(
    genes: &[Gene],
    cfg: &Config,
    ranked: &[&Candidate],
    rng: &mut fastrand::Rng,
) -> Vec<Genome> {
    let mut next: Vec<Genome> = Vec::with_capacity(cfg.population);
    for c in ranked {
        if next.len() == cfg.elite {
            break;
        }
        if !next.contains(&c.genome) {
            next.push(c.genome.clone());
        }
    }
    let pick = |rng: &mut fastrand::Rng| -> &Genome {
        // `ranked` is best first: the smallest index drawn wins the tournament.
        let k = (0..cfg.tournament)
            .map(|_| rng.usize(0..ranked.len()))
            .min()
            .unwrap_or(0);
        &ranked[k].genome
    };
    while next.len() < cfg.population {
        let (a, b) = (pick(rng), pick(rng));
        let mut child: Genome = if rng.f64() < cfg.crossover {
            genes
                .iter()
                .zip(a.iter().zip(b))
                .map(|(g, (&x, &y))| {
                    // BLX-0.5: anywhere from half the gap below the lower parent to half
                    // above the higher one.
                    let (lo, hi) = (f64::from(x.min(y)), f64::from(x.max(y)));
                    let d = (hi - lo) * 0.5;
                    let v = lo - d + rng.f64() * (hi - lo + 2.0 * d);
                    (v.round().max(0.0) as u32).min(g.points() - 1)
                })
                .collect()
        } else {
            a.clone()
        };
        for attempt in 0..8 {
            let force = attempt > 0;
            mutate(genes, cfg, &mut child, rng, force);
            if !next.contains(&child) {
                break;
            }
        }
        next.push(child);
    }
    next
}

/// Mutates each gene with probability `mutation` (or one gene at least when `force`).
fn mutate(genes: &[Gene], cfg: &Config, child: &mut Genome, rng: &mut fastrand::Rng, force: bool) {
    let forced = force.then(|| rng.usize(0..genes.len()));
    for (i, (g, k)) in genes.iter().zip(child.iter_mut()).enumerate() {
        if forced == Some(i) || rng.f64() < cfg.mutation {
            let n = f64::from(g.points() - 1);
            let step = (normal(rng) * cfg.mutation_scale * n).round();
            // At least one grid step, so a mutation always changes something.
            let step = if step == 0.0 {
                if rng.bool() { 1.0 } else { -1.0 }
            } else {
                step
            };
            *k = (f64::from(*k) + step).clamp(0.0, n) as u32;
        }
    }
}

#[cfg(test)]
mod tests;
