//! Launch flags for a bare-metal box: which CPU each stage's thread runs on.
//!
//! `--pin feed=2,book=3,signal=4,gateway=5` names a CPU per stage; a CPU the process may
//! not use (outside its affinity mask, e.g. under `taskset` or a cgroup) or a stage name
//! that does not exist is refused with a clear error before any thread starts.

use std::collections::BTreeMap;

/// A pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Frames in, decoded events out.
    Feed,
    /// The order book.
    Book,
    /// The oracle.
    Signal,
    /// Risk manager and order gateway.
    Gateway,
}

impl Stage {
    /// All stages, in pipeline order.
    pub const ALL: [Stage; 4] = [Stage::Feed, Stage::Book, Stage::Signal, Stage::Gateway];

    /// The name used in flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Feed => "feed",
            Stage::Book => "book",
            Stage::Signal => "signal",
            Stage::Gateway => "gateway",
        }
    }
}

/// What is wrong with a `--pin` flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not `stage=cpu[,stage=cpu...]`.
    #[error("--pin expects stage=cpu pairs such as feed=2,book=3 (got `{0}`)")]
    Syntax(String),
    /// A stage name that does not exist.
    #[error("unknown stage `{0}` in --pin (feed, book, signal, gateway)")]
    UnknownStage(String),
    /// A stage named twice.
    #[error("stage `{0}` pinned twice")]
    Twice(&'static str),
    /// A CPU this process may not run on.
    #[error("CPU {cpu} is not available to this process (allowed: {allowed})")]
    Unavailable {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs the process may use.
        allowed: String,
    },
}

/// The CPU of each pinned stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinPlan {
    cpus: BTreeMap<Stage, usize>,
}

/// CPUs this process may run on (its affinity mask).
pub fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

impl PinPlan {
    /// Parses `feed=2,book=3,...` and checks every CPU against `allowed`.
    ///
    /// # Errors
    /// [`PinError`] for bad syntax, an unknown or repeated stage, or an unavailable CPU.
    pub fn parse(flag: &str, allowed: &[usize]) -> Result<Self, PinError> {
        let mut cpus = BTreeMap::new();
        for part in flag.split(',').filter(|p| !p.trim().is_empty()) {
            let (stage, cpu) = part
                .split_once('=')
                .ok_or_else(|| PinError::Syntax(flag.to_string()))?;
            let stage = match stage.trim() {
                "feed" => Stage::Feed,
                "book" => Stage::Book,
                "signal" => Stage::Signal,
                "gateway" => Stage::Gateway,
                other => return Err(PinError::UnknownStage(other.to_string())),
            };
            let cpu: usize = cpu
                .trim()
                .parse()
                .map_err(|_| PinError::Syntax(flag.to_string()))?;
            if !allowed.contains(&cpu) {
                let list: Vec<String> = allowed.iter().map(|c| c.to_string()).collect();
                return Err(PinError::Unavailable {
                    cpu,
                    allowed: list.join(","),
                });
            }
            if cpus.insert(stage, cpu).is_some() {
                return Err(PinError::Twice(stage.name()));
            }
        }
        Ok(Self { cpus })
    }

    /// The CPU of `stage`, if pinned.
    pub fn cpu(&self, stage: Stage) -> Option<usize> {
        self.cpus.get(&stage).copied()
    }

    /// Pins the calling thread to `stage`'s CPU, if it has one; returns whether it did.
    pub fn apply(&self, stage: Stage) -> bool {
        match self.cpu(stage) {
            Some(id) => core_affinity::set_for_current(core_affinity::CoreId { id }),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_pins() {
        let p = PinPlan::parse("feed=0, book=1", &[0, 1]).unwrap();
        assert_eq!(
            (p.cpu(Stage::Feed), p.cpu(Stage::Book), p.cpu(Stage::Signal)),
            (Some(0), Some(1), None)
        );
        assert_eq!(
            PinPlan::parse("feed=7", &[0, 1]),
            Err(PinError::Unavailable {
                cpu: 7,
                allowed: "0,1".into()
            })
        );
        assert_eq!(
            PinPlan::parse("fed=0", &[0]),
            Err(PinError::UnknownStage("fed".into()))
        );
        assert_eq!(
            PinPlan::parse("feed=0,feed=1", &[0, 1]),
            Err(PinError::Twice("feed"))
        );
        assert!(matches!(
            PinPlan::parse("feed", &[0]),
            Err(PinError::Syntax(_))
        ));
        // Pinning a thread to a CPU the process may use works (on any machine running this).
        let allowed = allowed_cpus();
        let first = *allowed.first().expect("at least one CPU");
        let plan = PinPlan::parse(&format!("gateway={first}"), &allowed).unwrap();
        let ok = std::thread::spawn(move || plan.apply(Stage::Gateway))
            .join()
            .unwrap();
        assert!(ok);
    }
}
