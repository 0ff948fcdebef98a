//! Integer money: [`Ticks`] for prices, [`Lots`] for quantities, [`Dec8`] for the few
//! values that live off the symbol's grids (mark/index price, funding rate, quote volume).

/// A price as a whole number of the symbol's ticks (`price = ticks × tickSize`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ticks(pub i64);

/// A quantity as a whole number of the symbol's quantity units (`qty = lots × lot`).
///
/// The unit is the finest quantity the exchange *publishes* for the symbol, which can be
/// finer than the `LOT_SIZE` step orders must respect: spot BTCUSDT books carry
/// `25.42618900` while orders step by `0.00001`. See [`crate::core::QtyGrid`].
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lots(pub i64);

/// A decimal with exactly 8 places (`value = raw × 10⁻⁸`), for values not on a symbol grid.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dec8(pub i64);

impl Dec8 {
    /// Decimal places of the representation.
    pub const SCALE: u8 = 8;

    /// Parses a decimal string with at most 8 significant places, optionally negative
    /// (funding rates are signed).
    ///
    /// # Errors
    /// [`crate::core::decimal::DecimalError`] when malformed, too precise or out of range.
    #[inline]
    pub fn parse(s: &[u8]) -> Result<Self, crate::core::decimal::DecimalError> {
        match s.split_first() {
            Some((b'-', rest)) => {
                crate::core::decimal::parse_scaled(rest, Self::SCALE).map(|m| Dec8(-m))
            }
            _ => crate::core::decimal::parse_scaled(s, Self::SCALE).map(Dec8),
        }
    }

    /// The value as `f64`, for analytics and reports only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e8
    }
}

impl std::fmt::Display for Dec8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::core::decimal::canonical(self.0, Self::SCALE))
    }
}
