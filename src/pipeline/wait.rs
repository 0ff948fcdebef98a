//! Wait strategies per stage (`--wait spin`, `book=spin,signal=park`): which
//! [`Wait`] each stage's thread uses.

use super::pin::Stage;
pub use crate::core::wait::{Wait, WaitError, Waiter};

/// A wait strategy per stage: `spin` for all, or `book=spin,signal=park` (unnamed
/// stages keep the default, spin-yield), or both (`park,book=spin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPlan {
    default: Wait,
    per: [Option<Wait>; 4],
}

impl Default for WaitPlan {
    fn default() -> Self {
        Self::uniform(Wait::SpinYield)
    }
}

impl WaitPlan {
    /// The same strategy for every stage.
    pub fn uniform(w: Wait) -> Self {
        Self {
            default: w,
            per: [None; 4],
        }
    }

    /// Parses the `--wait` flag.
    ///
    /// # Errors
    /// [`WaitError`] naming the part that is neither a strategy nor `stage=strategy`.
    pub fn parse(flag: &str) -> Result<Self, WaitError> {
        let mut plan = Self::default();
        for part in flag.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                None => plan.default = part.parse()?,
                Some((stage, w)) => {
                    let st = Stage::ALL
                        .into_iter()
                        .find(|s| s.name() == stage.trim())
                        .ok_or_else(|| WaitError(part.to_string()))?;
                    plan.per[st as usize] = Some(w.trim().parse()?);
                }
            }
        }
        Ok(plan)
    }

    /// The strategy of `stage`.
    pub fn of(&self, stage: Stage) -> Wait {
        self.per[stage as usize].unwrap_or(self.default)
    }
}
