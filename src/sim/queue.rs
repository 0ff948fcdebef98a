//! Queue position models: where a resting order stands in its price level's queue.
//!
//! The order joins the back of the level. Aggressor volume traded at its price
//! consumes the queue from the front; size cancelled from the level may have been ahead
//! of it or behind it, and the recorded depth cannot say which. The models differ only
//! in that guess (after Rigtorp, "Estimating order queue position", and the queue
//! models hftbacktest documents):
//!
//! * `through`: only a trade through the price fills; the queue never advances.
//! * `risk-averse`: cancellations are all behind us; the queue ahead only shrinks by
//!   trades (and never exceeds the level's size).
//! * `power:N`, `log`: a cancellation is behind us with probability
//!   `f(back) / (f(back) + f(front))`, `f(x) = x^N` or `ln(1 + x)`: the larger part of
//!   the queue takes most of the cancellations; `power:1` spreads them evenly.
//!
//! The probability only splits a quantity; the result is rounded to whole lots.

use std::fmt;

/// How the queue ahead of a resting order advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum QueueModel {
    /// Fill only when the price trades through.
    Through,
    /// Cancellations never advance the queue.
    #[default]
    RiskAverse,
    /// Cancellations split by `x^N`.
    Power(u8),
    /// Cancellations split by `ln(1 + x)`.
    Log,
}

impl QueueModel {
    /// The queue ahead of an order arriving at a level of `level` lots.
    #[inline]
    pub fn on_arrival(&self, level: i64) -> i64 {
        match self {
            QueueModel::Through => i64::MAX,
            _ => level.max(0),
        }
    }

    /// `traded` lots of aggressor volume at our price against our side: the queue
    /// ahead afterwards and the lots that reach us.
    #[inline]
    pub fn on_trade(&self, ahead: i64, traded: i64) -> (i64, i64) {
        match self {
            QueueModel::Through => (ahead, 0),
            _ if traded <= ahead => (ahead - traded, 0),
            _ => (0, traded - ahead.max(0)),
        }
    }

    /// The level shrank from `before` to `after` lots beyond what traded there
    /// (cancellations): the queue ahead afterwards.
    #[inline]
    pub fn on_cancel(&self, ahead: i64, before: i64, after: i64) -> i64 {
        let after = after.max(0);
        let f = |x: f64| match self {
            QueueModel::Power(n) => x.powi(*n as i32),
            _ => x.ln_1p(),
        };
        match self {
            QueueModel::Through => ahead,
            QueueModel::RiskAverse => ahead.min(after),
            QueueModel::Power(_) | QueueModel::Log => {
                let chg = (before - after).max(0) as f64;
                let front = ahead.max(0) as f64;
                let back = (before - ahead).max(0) as f64;
                let (fb, ff) = (f(back), f(front));
                let p_back = if fb + ff > 0.0 { fb / (fb + ff) } else { 0.5 };
                // The share behind us cannot exceed what is behind us: the rest was ahead.
                let est = front - (1.0 - p_back) * chg + (back - p_back * chg).min(0.0);
                (est.round() as i64).clamp(0, ahead.min(after))
            }
        }
    }

    /// Parses `through`, `risk-averse`, `power:N` (N in 1..=10) or `log`.
    ///
    /// # Errors
    /// A message listing the models.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "through" => Ok(QueueModel::Through),
            "risk-averse" => Ok(QueueModel::RiskAverse),
            "log" => Ok(QueueModel::Log),
            p => match p.strip_prefix("power:").map(str::parse::<u8>) {
                Some(Ok(n)) if (1..=10).contains(&n) => Ok(QueueModel::Power(n)),
                _ => Err(format!(
                    "queue model `{s}`: expected through, risk-averse, power:N (1-10) or log"
                )),
            },
        }
    }
}

impl fmt::Display for QueueModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueModel::Through => write!(f, "through"),
            QueueModel::RiskAverse => write!(f, "risk-averse"),
            QueueModel::Power(n) => write!(f, "power:{n}"),
            QueueModel::Log => write!(f, "log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_consume_the_front() {
        let m = QueueModel::RiskAverse;
        assert_eq!(m.on_trade(10, 4), (6, 0));
        assert_eq!(m.on_trade(6, 9), (0, 3));
        assert_eq!(QueueModel::Through.on_trade(0, 9), (0, 0));
    }

    #[test]
    fn cancellations_by_model() {
        // 10 ahead, 30 behind, 20 cancelled.
        assert_eq!(QueueModel::RiskAverse.on_cancel(10, 40, 20), 10);
        assert_eq!(QueueModel::RiskAverse.on_cancel(10, 40, 6), 6);
        assert_eq!(QueueModel::Through.on_cancel(10, 40, 6), 10);
        // Uniform: a quarter of the queue is ahead, so a quarter of the cancels: 10 - 5.
        assert_eq!(QueueModel::Power(1).on_cancel(10, 40, 20), 5);
        // x²: p_back = 900/1000, 10 - 0.1 × 20 = 8.
        assert_eq!(QueueModel::Power(2).on_cancel(10, 40, 20), 8);
        // All of the back cancelled and more: the rest came from the front.
        assert_eq!(QueueModel::Power(2).on_cancel(10, 40, 5), 5);
        let log = QueueModel::Log.on_cancel(10, 40, 20);
        assert_eq!(
            log, 2,
            "p_back = ln 31 / (ln 31 + ln 11) = 0.589: 10 - 0.411 × 20"
        );
        for m in ["through", "risk-averse", "power:3", "log"] {
            assert_eq!(QueueModel::parse(m).unwrap().to_string(), m);
        }
        assert!(QueueModel::parse("power:0").is_err());
        assert!(QueueModel::parse("fifo").is_err());
    }
}
