//! What `minerva evolve` prints: a line per generation as it runs (the seed's
//! "observer" of the genetic algorithm), a summary at the end, and a CSV log of every
//! candidate evaluated ([`super::log`]) (cold path).

use super::study::Window;
use super::{Candidate, Ending, Evolution, Gene, Generation, Outcome, overrides};
use crate::core::utc;
use std::fmt::Write;

fn fit(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "n/a".into(),
    }
}

/// A recorded time to the nanosecond, as `--from` and `--to` read it.
fn utc_ns(ns: u64) -> String {
    let ms = utc(ns / 1_000_000);
    format!("{}{:06}Z", ms.trim_end_matches('Z'), ns % 1_000_000)
}

/// `2024-08-08T23:54:15.208000123Z → 2024-08-09T00:02:21.000000000Z (8m 06s)`: exact,
/// so `minerva backtest --from … --to …` runs the same window.
pub fn window(w: Window) -> String {
    let secs = (w.to_ns - w.from_ns) / 1_000_000_000;
    format!(
        "{} → {} ({}m {:02}s)",
        utc_ns(w.from_ns),
        utc_ns(w.to_ns),
        secs / 60,
        secs % 60
    )
}

/// The genes as `key lo..hi:step`, one per line.
pub fn genes(genes: &[Gene]) -> String {
    let mut o = String::new();
    for g in genes {
        let _ = writeln!(
            o,
            "  {:<24} {} .. {} step {} ({} values)",
            g.key,
            g.text(0),
            g.text(g.points() - 1),
            Gene {
                lo: 0.0,
                ..g.clone()
            }
            .text(1),
            g.points()
        );
    }
    o
}

/// The column heads of [`generation`].
pub const GENERATION_HEAD: &str =
    "  gen       best   gen best       mean     median  new cached invalid few-trades    time";

/// One generation as a line under [`GENERATION_HEAD`].
pub fn generation(g: &Generation) -> String {
    let (top, mean, median) = match g.fitness {
        Some((t, m, d)) => (Some(t), Some(m), Some(d)),
        None => (None, None, None),
    };
    format!(
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>4} {:>6} {:>7} {:>10} {:>6.1}s",
        g.index,
        fit(g.best.fitness()),
        fit(top),
        fit(mean),
        fit(median),
        g.new.len(),
        g.cached,
        g.invalid,
        g.few_trades,
        g.wall_secs
    )
}

/// A candidate checked on the holdout window.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The candidate (its training outcome inside).
    pub candidate: Candidate,
    /// Its outcome on the holdout window, when there is one.
    pub holdout: Option<Result<Outcome, String>>,
}

fn outcome_cells(o: &Result<Outcome, String>) -> String {
    match o {
        Ok(r) => format!(
            "{:>10} {:>6} {:>10.4} {:>10.4}",
            fit(Some(r.fitness)),
            r.trades,
            r.net_pnl,
            r.max_drawdown
        ),
        Err(_) => format!("{:>10} {:>6} {:>10} {:>10}", "refused", "", "", ""),
    }
}

/// The end: why it stopped, the best candidate's genes, and a table of the start and
/// the best candidates (`best[0]` the best; the rest, the next best with outcomes of
/// their own) on the training and holdout windows.
pub fn summary(genes: &[Gene], e: &Evolution, start: &Checked, best: &[Checked]) -> String {
    let mut o = String::new();
    let why = match e.ending {
        Ending::Generations => "all generations run",
        Ending::Patience => "no better candidate for --patience generations",
        Ending::Stopped => "stopped (signal)",
    };
    let _ = writeln!(
        o,
        "evolution: {} generations, {} backtests, {} from the cache · {why}",
        e.generations,
        e.evaluations.saturating_sub(e.known),
        e.cache_hits
    );
    if e.known > 0 {
        let _ = writeln!(o, "resumed: {} backtests read from the log", e.known);
    }
    let _ = writeln!(o, "best (generation {}):", e.best.born);
    for (k, v) in overrides(genes, &e.best.genome) {
        let _ = writeln!(o, "  {k:<24} {v}");
    }
    let _ = writeln!(
        o,
        "{:<10} {:>10} {:>6} {:>10} {:>10}  | {:>10} {:>6} {:>10} {:>10}",
        "",
        "train fit",
        "trades",
        "net PnL",
        "drawdown",
        "hold fit",
        "trades",
        "net PnL",
        "drawdown"
    );
    let row = |o: &mut String, name: &str, c: &Checked| {
        let hold = match &c.holdout {
            Some(h) => outcome_cells(h),
            None => format!("{:>10} {:>6} {:>10} {:>10}", "-", "", "", ""),
        };
        let _ = writeln!(
            o,
            "{name:<10} {}  | {hold}",
            outcome_cells(&c.candidate.outcome)
        );
    };
    row(&mut o, "start", start);
    for (k, c) in best.iter().enumerate() {
        row(&mut o, &format!("#{}", k + 1), c);
    }
    o
}
