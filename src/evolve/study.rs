//! Evolution on recorded data: each symbol's data decoded once into a [`Tape`], the
//! window split in time into a training part (the one the algorithm sees) and a holdout
//! part after it (which it never sees), every candidate a whole backtest per symbol
//! (cold path). With several symbols a candidate's figures are the symbols' backtests
//! combined as `minerva backtest --symbols` combines them, over one common window.
//!
//! The holdout answers the question an optimiser always raises: did the search find a
//! strategy, or fit the noise of one recording? The best candidates and the starting
//! strategy are backtested on it once the search has ended.

use super::{Gene, Outcome};
use crate::backtest::{self, BacktestConfig, BacktestReport, Input, tape::Tape};
use crate::core::SymbolSpec;
use crate::strategy::Strategy;
use crate::venues::binance::keys::ApiKeys;
use crate::venues::binance::sign::Signer;

/// A part of the recording, in recorded time (ns): trading from `from`, stopping after
/// `to`. Earlier messages only warm the book up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First recorded time traded, ns.
    pub from_ns: u64,
    /// Last recorded time read, ns.
    pub to_ns: u64,
}

/// Why a study cannot start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StudyError {
    /// The tapes hold nothing for the window (or the symbols' recordings do not
    /// overlap in time).
    #[error("no recorded message falls between --from and --to (for every symbol)")]
    Empty,
    /// No symbol to study.
    #[error("no symbol to evolve on")]
    NoSymbol,
    /// `--holdout` out of range.
    #[error("--holdout {0}: a share of the window from 0 to 0.9")]
    Holdout(f64),
    /// A gene's range leaves the strategy file's rules.
    #[error("gene {key}: {why}")]
    Gene {
        /// The key.
        key: String,
        /// The strategy file's complaint.
        why: String,
    },
}

/// A strategy, its data and the backtest settings: everything a candidate is judged by.
pub struct Study<'a> {
    /// Each symbol's tape and grid.
    markets: Vec<(&'a Tape, &'a SymbolSpec)>,
    /// The strategy file's text.
    text: &'a str,
    /// Command-line overrides, applied under the genes.
    fixed: Vec<(&'a str, String)>,
    backtest: BacktestConfig,
    signer: Signer,
    /// Training window.
    pub train: Window,
    /// Holdout window, when asked for.
    pub holdout: Option<Window>,
    /// The share of the window asked for as holdout.
    holdout_share: f64,
}

impl<'a> Study<'a> {
    /// Sets a study up: the window is `backtest.from_ns..=to_ns` (default: the time all
    /// the tapes cover); its last `holdout` share is kept out of training.
    ///
    /// # Errors
    /// [`StudyError`] for no symbol, an empty window or a holdout out of range.
    pub fn new(
        markets: Vec<(&'a Tape, &'a SymbolSpec)>,
        text: &'a str,
        fixed: Vec<(&'a str, String)>,
        backtest: BacktestConfig,
        holdout: f64,
    ) -> Result<Self, StudyError> {
        if !(0.0..=0.9).contains(&holdout) {
            return Err(StudyError::Holdout(holdout));
        }
        if markets.is_empty() {
            return Err(StudyError::NoSymbol);
        }
        let (mut first, mut last) = (0, u64::MAX);
        for (tape, _) in &markets {
            let a = tape.time_ns(0).ok_or(StudyError::Empty)?;
            let b = tape.time_ns(tape.len() - 1).ok_or(StudyError::Empty)?;
            first = first.max(a);
            last = last.min(b);
        }
        let from_ns = backtest.from_ns.unwrap_or(first).max(first);
        let to_ns = backtest.to_ns.unwrap_or(last).min(last);
        if from_ns >= to_ns {
            return Err(StudyError::Empty);
        }
        let split = from_ns + ((to_ns - from_ns) as f64 * (1.0 - holdout)) as u64;
        // The simulated exchange checks signatures like Binance: any key works.
        let signer = Signer::new(&ApiKeys::new(
            "minerva-evolve".into(),
            b"minerva-evolve".to_vec(),
        ));
        Ok(Self {
            markets,
            text,
            fixed,
            backtest,
            signer,
            train: Window {
                from_ns,
                to_ns: split,
            },
            // A holdout too small to hold a nanosecond is none.
            holdout: (holdout > 0.0 && split < to_ns).then_some(Window {
                from_ns: split + 1,
                to_ns,
            }),
            holdout_share: holdout,
        })
    }

    /// What every outcome depends on (the data, the strategy file, the fixed
    /// overrides, the backtest settings, the holdout), hashed: `--resume` checks a log
    /// against it.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (tape, spec) in &self.markets {
            h.update(format!(
                "{spec:?} {} {} {:?} {:?}\n",
                tape.len(),
                tape.frames,
                tape.time_ns(0),
                tape.time_ns(tape.len().saturating_sub(1))
            ));
        }
        h.update(self.text);
        h.update(format!(
            "{:?} {:?} {}",
            self.fixed, self.backtest, self.holdout_share
        ));
        format!("{:x}", h.finalize())[..16].to_string()
    }

    /// The strategy a candidate stands for: the file, the fixed overrides, its genes.
    ///
    /// # Errors
    /// The strategy file's complaint, naming the key.
    pub fn strategy(&self, genes: &[(&str, String)]) -> Result<Strategy, String> {
        let mut pairs = self.fixed.clone();
        pairs.extend(genes.iter().cloned());
        Strategy::parse(self.text, &pairs).map_err(|e| e.to_string())
    }

    /// Checks that each gene's lowest and highest values are strategies the file's
    /// rules accept (with the other keys as they are).
    ///
    /// # Errors
    /// [`StudyError::Gene`] naming the key and the rule.
    pub fn check(&self, genes: &[Gene]) -> Result<(), StudyError> {
        for g in genes {
            for k in [0, g.points() - 1] {
                self.strategy(&[(g.key.as_str(), g.text(k))])
                    .map_err(|why| StudyError::Gene {
                        key: g.key.clone(),
                        why,
                    })?;
            }
        }
        Ok(())
    }

    /// The candidate's backtest of each symbol on `window`.
    ///
    /// # Errors
    /// The strategy file's complaint, or why a backtest could not run.
    pub fn reports(
        &self,
        genes: &[(&str, String)],
        window: Window,
    ) -> Result<Vec<BacktestReport>, String> {
        let strategy = self.strategy(genes)?;
        let cfg = BacktestConfig {
            from_ns: Some(window.from_ns),
            to_ns: Some(window.to_ns),
            ..self.backtest.clone()
        };
        self.markets
            .iter()
            .map(|&(tape, spec)| {
                let strategy = Strategy {
                    market: spec.name.to_string(),
                    ..strategy.clone()
                };
                backtest::run(
                    Input::Tape(tape),
                    spec,
                    &strategy,
                    self.signer.clone(),
                    &cfg,
                    &mut |_, _| {},
                )
                .map_err(|e| format!("{}: {e}", spec.name))
            })
            .collect()
    }

    /// The candidate's outcome on `window`: one symbol's backtest, or several combined.
    ///
    /// # Errors
    /// As [`Study::reports`].
    pub fn evaluate(&self, genes: &[(&str, String)], window: Window) -> Result<Outcome, String> {
        let reports = self.reports(genes, window)?;
        let (fitness, m) = match &reports[..] {
            [one] => (one.fitness, one.metrics.clone()),
            _ => {
                let c =
                    backtest::combine(&reports, self.backtest.objective, self.backtest.period_us);
                (c.fitness, c.metrics)
            }
        };
        // `+ 0.0` turns a "no trade" −0 into 0, for reports and files.
        Ok(Outcome {
            fitness: fitness + 0.0,
            trades: m.trades,
            net_pnl: m.net_pnl + 0.0,
            max_drawdown: m.max_drawdown + 0.0,
        })
    }

    /// The starting point: the strategy's own value of each gene.
    ///
    /// # Errors
    /// The strategy file's complaint.
    pub fn start(&self, genes: &[Gene]) -> Result<Vec<f64>, String> {
        let s = self.strategy(&[])?;
        Ok(genes
            .iter()
            .map(|g| s.value(&g.key).unwrap_or(f64::NAN))
            .collect())
    }
}
