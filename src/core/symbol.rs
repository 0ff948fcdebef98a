//! Symbols and their grids, built from Binance `exchangeInfo` filters (or inferred from
//! recorded data when no exchangeInfo was recorded).

use super::decimal::{self, DecimalError};
use super::fixed::{Lots, Ticks};
use arrayvec::ArrayString;
use thiserror::Error;

/// Which market a symbol trades on: spot, or futures margined in the quote (USDⓈ-M,
/// linear) or in the base coin (COIN-M, inverse). The book-sync rules differ by market
/// (see `venues::sequence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Market {
    /// Spot.
    Spot,
    /// USDⓈ-M futures (linear: margined and settled in the quote asset).
    #[value(name = "usdm", alias = "um", alias = "futures")]
    UsdM,
    /// COIN-M futures (inverse: margined and settled in the base coin).
    #[value(name = "coinm", alias = "cm", alias = "delivery")]
    CoinM,
}

impl Market {
    /// The lowercase name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
            Market::CoinM => "coinm",
        }
    }

    /// True for futures markets (USDⓈ-M and COIN-M).
    pub fn is_futures(self) -> bool {
        !matches!(self, Market::Spot)
    }
}

impl std::str::FromStr for Market {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s.to_ascii_lowercase().as_str() {
            "spot" => Ok(Market::Spot),
            "usdm" | "um" | "futures" => Ok(Market::UsdM),
            "coinm" | "cm" | "delivery" => Ok(Market::CoinM),
            _ => Err(SpecError::UnknownMarket),
        }
    }
}

/// Trading status from exchangeInfo (`TRADING`, `BREAK`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolStatus {
    /// Open for trading.
    Trading,
    /// Any other status (`BREAK`, `HALT`, `SETTLING`, `PENDING_TRADING`, …): no orders.
    Halted,
    /// Unknown: the spec was inferred from market data, not exchangeInfo.
    Unknown,
}

/// What went wrong building a spec or converting a value onto its grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The text is not a decimal that fits the grid's scale.
    #[error("bad decimal: {0}")]
    Decimal(#[from] DecimalError),
    /// The value is a valid decimal but not a multiple of the tick size.
    #[error("price is not a multiple of the tick size")]
    OffGrid,
    /// A tick or step of zero, or more than 18 decimal places.
    #[error("invalid grid: {0}")]
    BadGrid(&'static str),
    /// Symbol names are at most 24 ASCII characters.
    #[error("symbol name too long or not ASCII")]
    BadName,
    /// `--market` must be spot, usdm or coinm.
    #[error("unknown market (expected spot, usdm or coinm)")]
    UnknownMarket,
}

/// The price grid: a price is `ticks × tick`, `tick = tick_mantissa × 10^-decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceGrid {
    decimals: u8,
    tick_mantissa: i64,
    /// Order tick size (`PRICE_FILTER.tickSize`) in grid ticks; 1 unless the book
    /// needed a finer grid than the order tick (see [`SymbolSpec::refine`]).
    step: i64,
}

impl PriceGrid {
    /// Builds the grid from a tick size string such as `"0.01000000"` or `"0.5"`.
    ///
    /// # Errors
    /// [`SpecError::BadGrid`] for a zero tick; [`SpecError::Decimal`] for bad text.
    pub fn from_tick_size(tick: &str) -> Result<Self, SpecError> {
        let decimals = decimal::significant_places(tick).ok_or(SpecError::BadGrid("tick"))?;
        if decimals > 18 {
            return Err(SpecError::BadGrid("tick has more than 18 places"));
        }
        let tick_mantissa = decimal::parse_scaled(tick.as_bytes(), decimals)?;
        if tick_mantissa <= 0 {
            return Err(SpecError::BadGrid("tick size must be positive"));
        }
        Ok(Self {
            decimals,
            tick_mantissa,
            step: 1,
        })
    }

    /// The order tick size in grid ticks.
    pub fn step(&self) -> Ticks {
        Ticks(self.step)
    }

    /// The grid as [`Self::parts`] gave it (a persisted tape's header); `None` for
    /// parts no grid has. Cold.
    pub fn from_parts(decimals: u8, tick_mantissa: i64, step: i64) -> Option<Self> {
        (decimals <= 18 && tick_mantissa > 0 && step > 0).then_some(Self {
            decimals,
            tick_mantissa,
            step,
        })
    }

    /// `(decimals, tick_mantissa, step)`: everything the grid is.
    pub fn parts(&self) -> (u8, i64, i64) {
        (self.decimals, self.tick_mantissa, self.step)
    }

    /// Decimal places needed to write any price on this grid.
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// The tick size as a mantissa at [`Self::decimals`].
    pub fn tick_mantissa(&self) -> i64 {
        self.tick_mantissa
    }

    /// Parses a price string into ticks, exactly.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`SpecError::Decimal`] for malformed or too precise text, [`SpecError::OffGrid`]
    /// when the value is not a whole number of ticks.
    #[inline]
    pub fn parse(&self, s: &[u8]) -> Result<Ticks, SpecError> {
        self.on_grid(decimal::parse_scaled(s, self.decimals)?)
    }

    /// [`Self::parse`] of `s` whose digits a scanner already read (`d`): the same
    /// answer, the text read again only when `d` cannot give it.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn parse_read(&self, s: &[u8], d: decimal::Digits) -> Result<Ticks, SpecError> {
        match d.scaled(self.decimals) {
            Some(m) => self.on_grid(m),
            None => self.parse(s),
        }
    }

    #[inline(always)]
    fn on_grid(&self, m: i64) -> Result<Ticks, SpecError> {
        if self.tick_mantissa == 1 {
            return Ok(Ticks(m));
        }
        if m % self.tick_mantissa != 0 {
            return Err(SpecError::OffGrid);
        }
        Ok(Ticks(m / self.tick_mantissa))
    }

    /// The price as a mantissa at [`Self::decimals`] places (`None` on overflow).
    pub fn mantissa(&self, t: Ticks) -> Option<i64> {
        t.0.checked_mul(self.tick_mantissa)
    }

    /// Canonical decimal text of a price (cold path).
    pub fn format(&self, t: Ticks) -> String {
        match self.mantissa(t) {
            Some(m) => decimal::canonical(m, self.decimals),
            None => format!("{}e-{}x{}", t.0, self.decimals, self.tick_mantissa),
        }
    }

    /// The price as `f64`, for analytics and reports only.
    pub fn to_f64(&self, t: Ticks) -> f64 {
        t.0 as f64 * self.tick_mantissa as f64 / 10f64.powi(self.decimals as i32)
    }
}

/// The quantity grid: a quantity is `lots × 10^-decimals`; orders also respect `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QtyGrid {
    decimals: u8,
    /// Order step size (`LOT_SIZE.stepSize`) in lots; 1 when unknown.
    step: Lots,
}

impl QtyGrid {
    /// A grid whose unit is `10^-decimals` and whose order step is `step_size` (if known).
    ///
    /// # Errors
    /// [`SpecError`] when `decimals > 18`, or `step_size` is malformed, zero, or finer
    /// than the unit.
    pub fn new(decimals: u8, step_size: Option<&str>) -> Result<Self, SpecError> {
        if decimals > 18 {
            return Err(SpecError::BadGrid("quantity has more than 18 places"));
        }
        let step = match step_size {
            Some(s) => Lots(decimal::parse_scaled(s.as_bytes(), decimals)?),
            None => Lots(1),
        };
        if step.0 <= 0 {
            return Err(SpecError::BadGrid("step size must be positive"));
        }
        Ok(Self { decimals, step })
    }

    /// Decimal places of one lot.
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// The order step size in lots.
    pub fn step(&self) -> Lots {
        self.step
    }

    /// Parses a quantity string into lots, exactly.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`SpecError::Decimal`] for malformed, too precise or out-of-range text.
    #[inline]
    pub fn parse(&self, s: &[u8]) -> Result<Lots, SpecError> {
        Ok(Lots(decimal::parse_scaled(s, self.decimals)?))
    }

    /// [`Self::parse`] of `s` whose digits a scanner already read (`d`).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn parse_read(&self, s: &[u8], d: decimal::Digits) -> Result<Lots, SpecError> {
        match d.scaled(self.decimals) {
            Some(m) => Ok(Lots(m)),
            None => self.parse(s),
        }
    }

    /// Canonical decimal text of a quantity (cold path).
    pub fn format(&self, q: Lots) -> String {
        decimal::canonical(q.0, self.decimals)
    }

    /// The quantity as `f64`, for analytics and reports only.
    pub fn to_f64(&self, q: Lots) -> f64 {
        q.0 as f64 / 10f64.powi(self.decimals as i32)
    }
}

/// The exchange a symbol trades on (and a recording, a feed or an order link speaks
/// to). Its protocol lives in `venues::<venue>`; here it is only a name, so a symbol
/// carries it wherever the symbol goes (decoder, book, backtest, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Venue {
    /// Binance (spot, USDⓈ-M, COIN-M).
    #[default]
    Binance,
    /// KuCoin (spot, futures).
    Kucoin,
}

impl Venue {
    /// The lowercase name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Kucoin => "kucoin",
        }
    }
}

/// Everything Minerva needs to know about one tradable symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Exchange symbol as the venue writes it (`BTCUSDT`, `BTCUSD_PERP`, `BTC-USDT`).
    pub name: ArrayString<24>,
    /// The venue it trades on.
    pub venue: Venue,
    /// Market the symbol trades on.
    pub market: Market,
    /// Trading status.
    pub status: SymbolStatus,
    /// Price grid (`PRICE_FILTER.tickSize`).
    pub price: PriceGrid,
    /// Quantity grid (publication precision and `LOT_SIZE.stepSize`).
    pub qty: QtyGrid,
    /// `PRICE_FILTER` bounds in ticks (`None` = rule disabled).
    pub min_price: Option<Ticks>,
    /// Upper price bound in ticks (`None` = rule disabled).
    pub max_price: Option<Ticks>,
    /// `LOT_SIZE.minQty` in lots.
    pub min_qty: Lots,
    /// `LOT_SIZE.maxQty` in lots (`None` = no limit known).
    pub max_qty: Option<Lots>,
    /// Minimum order notional (`MIN_NOTIONAL`/`NOTIONAL` `minNotional`, or futures
    /// `notional`), as a mantissa at `price.decimals() + qty.decimals()` places.
    pub min_notional: Option<i128>,
    /// Price precision the exchange quotes (`pricePrecision` / `quotePrecision`).
    pub price_precision: u8,
    /// Quantity precision (`quantityPrecision` / `baseAssetPrecision`).
    pub qty_precision: u8,
    /// COIN-M: the USD value of one contract (`contractSize`); `None` for linear
    /// symbols (spot, USD-M), whose quantity is the base asset.
    pub contract_size: Option<i64>,
}

impl SymbolSpec {
    /// A spec from a tick size and a quantity unit, for data recorded without
    /// exchangeInfo (`--tick 0.1 --lot 0.001`).
    ///
    /// # Errors
    /// [`SpecError`] for a bad name, tick or lot.
    pub fn from_tick_lot(
        name: &str,
        market: Market,
        tick: &str,
        lot: &str,
    ) -> Result<Self, SpecError> {
        let price = PriceGrid::from_tick_size(tick)?;
        let qty_dec = decimal::significant_places(lot).ok_or(SpecError::BadGrid("lot"))?;
        let qty = QtyGrid::new(qty_dec, Some(lot))?;
        Self::bare(name, market, price, qty)
    }

    /// Makes the grids at least `price_decimals` / `qty_decimals` fine, keeping every
    /// bound exact. Recorded books can hold prices off today's tick (levels resting
    /// since a tick-size change: USD-M CTKUSDT bids at `0.50579` with tick `0.001`), so
    /// the book's grid is the finest the data uses and the order tick becomes a step.
    ///
    /// # Errors
    /// [`SpecError::BadGrid`] when more than 18 places would be needed, or a bound
    /// would overflow.
    pub fn refine(&mut self, price_decimals: u8, qty_decimals: u8) -> Result<(), SpecError> {
        let overflow = SpecError::BadGrid("refined grid overflows");
        if price_decimals > self.price.decimals {
            if price_decimals > 18 {
                return Err(SpecError::BadGrid("more than 18 price places"));
            }
            let f = 10i64.pow((price_decimals - self.price.decimals) as u32);
            let k = self.price.tick_mantissa.checked_mul(f).ok_or(overflow)?;
            let scale = |t: Option<Ticks>| {
                t.map(|t| t.0.checked_mul(k).map(Ticks).ok_or(overflow))
                    .transpose()
            };
            self.min_price = scale(self.min_price)?;
            // An upper bound past what the finer grid can count bounds nothing a
            // book or an order can hold: dropped rather than refused.
            self.max_price = scale(self.max_price).unwrap_or(None);
            self.min_notional = self.min_notional.map(|n| n * f as i128);
            self.price = PriceGrid {
                decimals: price_decimals,
                tick_mantissa: 1,
                step: self.price.step.checked_mul(k).ok_or(overflow)?,
            };
        }
        if qty_decimals > self.qty.decimals {
            if qty_decimals > 18 {
                return Err(SpecError::BadGrid("more than 18 quantity places"));
            }
            let f = 10i64.pow((qty_decimals - self.qty.decimals) as u32);
            let scale = |q: Lots| q.0.checked_mul(f).map(Lots).ok_or(overflow);
            self.min_qty = scale(self.min_qty)?;
            // As for the price: KuCoin's `baseMaxSize` of 10^10 does not fit 11 places
            // (BCHSV-USDT's book quotes sizes to 11 places, its lot is 8).
            self.max_qty = self.max_qty.and_then(|q| scale(q).ok());
            self.min_notional = self.min_notional.map(|n| n * f as i128);
            self.qty = QtyGrid {
                decimals: qty_decimals,
                step: scale(self.qty.step)?,
            };
        }
        Ok(())
    }

    /// [`Self::refine`] to the finest price and quantity a book's `(price, qty)`
    /// text pairs are written with (a venue's snapshot read at start: levels resting
    /// since a tick change are off today's tick, and a live feed must go live on them).
    ///
    /// # Errors
    /// As [`Self::refine`].
    pub fn refine_to_levels<'a>(
        &mut self,
        levels: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
    ) -> Result<(), SpecError> {
        use crate::core::decimal::{significant_places, written_places};
        let (mut p, mut q) = (self.price.decimals, self.qty.decimals);
        for (price, qty) in levels {
            p = p.max(significant_places(price).unwrap_or(0));
            q = q.max(written_places(qty).unwrap_or(0));
        }
        self.refine(p, q)
    }

    /// The same symbol on `venue`.
    pub fn on_venue(mut self, venue: Venue) -> Self {
        self.venue = venue;
        self
    }

    /// A spec with only grids known: no bounds, status unknown (Binance's unless
    /// [`SymbolSpec::on_venue`] says otherwise).
    ///
    /// # Errors
    /// [`SpecError::BadName`] for a name over 24 bytes or not ASCII.
    pub fn bare(
        name: &str,
        market: Market,
        price: PriceGrid,
        qty: QtyGrid,
    ) -> Result<Self, SpecError> {
        Ok(Self {
            name: symbol_name(name)?,
            venue: Venue::Binance,
            market,
            status: SymbolStatus::Unknown,
            price,
            qty,
            min_price: None,
            max_price: None,
            min_qty: Lots(0),
            max_qty: None,
            min_notional: None,
            price_precision: price.decimals(),
            qty_precision: qty.decimals(),
            contract_size: (market == Market::CoinM).then(|| default_contract_size(name)),
        })
    }

    /// An average price from a value in the margin asset and a quantity (reports):
    /// `value / qty` for linear symbols, `contracts × size / value` for COIN-M (the
    /// harmonic mean, which is the entry price of an inverse position). 0 for no qty.
    pub fn avg_price(&self, value_e8: i64, qty: Lots) -> f64 {
        let q = self.qty.to_f64(qty);
        let v = value_e8 as f64 / 1e8;
        match self.contract_size {
            _ if q <= 0.0 => 0.0,
            Some(size) if v > 0.0 => q * size as f64 / v,
            Some(_) => 0.0,
            None => v / q,
        }
    }
}

/// Binance's COIN-M contract size when no exchangeInfo says it: 100 USD for BTC
/// contracts, 10 USD for every other coin.
fn default_contract_size(name: &str) -> i64 {
    if name.to_ascii_uppercase().starts_with("BTCUSD") {
        100
    } else {
        10
    }
}

/// Money of one symbol in 10⁻⁸ units of its **margin asset**: one place for the risk
/// manager, the simulated exchange, the trader and the accounts to agree on it.
///
/// Linear symbols (spot, USD-M): a position's value is `price × qty` in the quote asset.
/// COIN-M (inverse): a quantity is contracts of `contract_size` USD, and its value is
/// `contracts × size / price` in the coin; a long gains when that value *falls*
/// (PnL = contracts × size × (1/entry − 1/exit)), which [`Valuer::gain_e8`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Valuer {
    /// Quote value of one tick × one lot is `tm / 10^(pd + qd)`.
    tm: i128,
    scale: i128,
    /// `10^pd` and `10^qd`, for the inverse value.
    pd: i128,
    qd: i128,
    /// USD per contract (COIN-M); 0 for linear symbols.
    contract: i128,
}

impl Valuer {
    /// The valuer of `spec`'s grids.
    pub fn new(spec: &SymbolSpec) -> Self {
        Self {
            tm: spec.price.tick_mantissa() as i128,
            scale: 10i128.pow(spec.price.decimals() as u32 + spec.qty.decimals() as u32),
            pd: 10i128.pow(spec.price.decimals() as u32),
            qd: 10i128.pow(spec.qty.decimals() as u32),
            contract: spec.contract_size.unwrap_or(0).max(0) as i128,
        }
    }

    /// Whether values are in the coin of an inverse (COIN-M) contract.
    #[inline]
    pub fn is_inverse(&self) -> bool {
        self.contract > 0
    }

    /// Value of `qty` at `price` in the margin asset, 10⁻⁸ units, truncated toward
    /// zero: `price × qty` (linear) or `contracts × size / price` (inverse; 0 for a
    /// price ≤ 0).
    #[inline]
    pub fn value_e8(&self, price: Ticks, qty: Lots) -> i64 {
        if self.contract == 0 {
            return self.quote_e8(price, qty);
        }
        let den = self.qd * price.0 as i128 * self.tm;
        if den <= 0 {
            return 0;
        }
        // Saturates as the linear value does (an absurd order fails every limit).
        let num = (qty.0 as i128)
            .checked_mul(self.contract * self.pd)
            .and_then(|v| v.checked_mul(100_000_000));
        match num {
            Some(n) => (n / den).clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            None if qty.0 < 0 => i64::MIN,
            None => i64::MAX,
        }
    }

    /// `price × qty` in quote units (10⁻⁸), whatever the contract: what an order's
    /// average price is kept as (`cumQuote`), not money on an inverse contract.
    #[inline]
    pub fn quote_e8(&self, price: Ticks, qty: Lots) -> i64 {
        let v = self.raw(price, qty) * 100_000_000 / self.scale;
        // Saturate rather than wrap: a value past ±92 billion units is absurd, and a
        // saturated one fails every limit check instead of passing as a wrapped negative.
        v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// What a position bought (long) or sold (short) for `cost_e8` gains when it is
    /// worth `value_e8` (both from [`Valuer::value_e8`]): `±(value − cost)`, the other
    /// way round on an inverse contract.
    #[inline]
    pub fn gain_e8(&self, long: bool, cost_e8: i64, value_e8: i64) -> i64 {
        let up = value_e8.saturating_sub(cost_e8);
        if long != self.is_inverse() {
            up
        } else {
            up.saturating_neg()
        }
    }

    /// `price × qty` at `10^-(pd + qd)`: the unit [`SymbolSpec::min_notional`] is kept in.
    #[inline]
    pub fn raw(&self, price: Ticks, qty: Lots) -> i128 {
        price.0 as i128 * self.tm * qty.0 as i128
    }

    /// Lots whose value at `price` is `notional_e8` (margin asset), rounded down (0 for
    /// a price ≤ 0).
    #[inline]
    pub fn lots_for(&self, notional_e8: i128, price: Ticks) -> i128 {
        if price.0 <= 0 {
            return 0;
        }
        if self.contract > 0 {
            // contracts = value × price / size (0 past i128: nothing is sized).
            return notional_e8
                .checked_mul(self.qd)
                .and_then(|v| v.checked_mul(price.0 as i128 * self.tm))
                .map_or(0, |v| v / (self.contract * self.pd * 100_000_000));
        }
        let per_lot = price.0 as i128 * self.tm * 100_000_000;
        notional_e8 * self.scale / per_lot
    }

    /// Ticks per 10⁻⁸ quote of price, rounded down: converts an off-grid price such as
    /// the mark price (`Dec8`) onto the grid.
    #[inline]
    pub fn ticks_of(&self, price_e8: i64, price_decimals: u8) -> Ticks {
        // price = ticks × tm / 10^pd  ⇒  ticks = price_e8 × 10^pd / (tm × 10^8).
        let num = price_e8 as i128 * 10i128.pow(price_decimals as u32);
        Ticks((num / (self.tm * 100_000_000)).clamp(0, i64::MAX as i128) as i64)
    }
}

/// Fee on `notional_e8` at `rate_e8` (10⁻⁸ units: 0.0002 is 20,000), 10⁻⁸ quote.
#[inline]
pub fn fee_e8(notional_e8: i64, rate_e8: i64) -> i64 {
    (notional_e8 as i128 * rate_e8 as i128 / 100_000_000) as i64
}

/// Upper-cases and checks a symbol name.
///
/// # Errors
/// [`SpecError::BadName`] when over 24 bytes, empty or not ASCII.
pub fn symbol_name(name: &str) -> Result<ArrayString<24>, SpecError> {
    if name.is_empty() || !name.is_ascii() {
        return Err(SpecError::BadName);
    }
    let mut s = ArrayString::<24>::new();
    for c in name.chars() {
        s.try_push(c.to_ascii_uppercase())
            .map_err(|_| SpecError::BadName)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_grid_round_trips() {
        let g = PriceGrid::from_tick_size("0.10000000").unwrap();
        assert_eq!(g.decimals(), 1);
        assert_eq!(g.parse(b"63947.40").unwrap(), Ticks(639_474));
        assert_eq!(g.format(Ticks(639_474)), "63947.4");
        let half = PriceGrid::from_tick_size("0.5").unwrap();
        assert_eq!(half.parse(b"10.5").unwrap(), Ticks(21));
        assert_eq!(half.parse(b"10.3"), Err(SpecError::OffGrid));
        assert_eq!(half.format(Ticks(21)), "10.5");
        assert!(PriceGrid::from_tick_size("0").is_err());
        assert!(PriceGrid::from_tick_size("abc").is_err());
    }

    #[test]
    fn qty_grid_keeps_published_precision() {
        let q = QtyGrid::new(8, Some("0.00001000")).unwrap();
        assert_eq!(q.step(), Lots(1000));
        assert_eq!(q.parse(b"25.42618900").unwrap(), Lots(2_542_618_900));
        assert_eq!(q.format(Lots(2_542_618_900)), "25.426189");
        assert!(QtyGrid::new(2, Some("0.001")).is_err());
    }

    /// BTCUSD_PERP: 100 USD contracts, tick 0.1. Hand-computed: 10 contracts at
    /// 50,000 are 1,000 USD = 0.02 BTC; at 60,000, 0.01666666 BTC.
    #[test]
    fn inverse_values_are_in_the_coin() {
        let s = SymbolSpec::from_tick_lot("BTCUSD_PERP", Market::CoinM, "0.1", "1").unwrap();
        assert_eq!(s.contract_size, Some(100));
        let v = Valuer::new(&s);
        assert!(v.is_inverse());
        let (at50, at60) = (Ticks(500_000), Ticks(600_000));
        assert_eq!(v.value_e8(at50, Lots(10)), 2_000_000);
        assert_eq!(v.value_e8(at60, Lots(10)), 1_666_666);
        // Long 10 contracts 50,000 → 60,000: 10 × 100 × (1/50,000 − 1/60,000) BTC.
        let (cost, now) = (v.value_e8(at50, Lots(10)), v.value_e8(at60, Lots(10)));
        assert_eq!(v.gain_e8(true, cost, now), 333_334);
        assert_eq!(v.gain_e8(false, cost, now), -333_334);
        // 0.02 BTC buys 10 contracts at 50,000; the quote view stays price × qty.
        assert_eq!(v.lots_for(2_000_000, at50), 10);
        assert_eq!(v.quote_e8(at50, Lots(10)), 500_000 * 100_000_000);
        assert_eq!(s.avg_price(cost, Lots(10)), 50_000.0);
        // Absurd sizes saturate (value) or size nothing (lots), never wrap.
        assert_eq!(v.value_e8(Ticks(1), Lots(i64::MAX)), i64::MAX);
        assert_eq!(v.lots_for(i128::MAX / 2, at50), 0);
        // Other coins: 10 USD contracts; linear symbols have none.
        let eth = SymbolSpec::from_tick_lot("ETHUSD_PERP", Market::CoinM, "0.01", "1").unwrap();
        assert_eq!(eth.contract_size, Some(10));
        let lin = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
        assert_eq!(lin.contract_size, None);
        let l = Valuer::new(&lin);
        assert_eq!(l.gain_e8(true, 100, 150), 50);
        assert_eq!(l.gain_e8(false, 100, 150), -50);
        assert_eq!(lin.avg_price(60_000 * 100_000_000, Lots(1_000)), 60_000.0);
    }

    #[test]
    fn refine_keeps_bounds_exact() {
        let mut s = SymbolSpec::from_tick_lot("CTKUSDT", Market::UsdM, "0.001", "1").unwrap();
        s.min_price = Some(Ticks(26));
        s.min_qty = Lots(1);
        s.min_notional = Some(5_000);
        s.refine(5, 3).unwrap();
        assert_eq!(s.price.parse(b"0.50579").unwrap(), Ticks(50_579));
        assert_eq!(s.price.step(), Ticks(100));
        assert_eq!(s.min_price, Some(Ticks(2_600)));
        assert_eq!(s.min_qty, Lots(1_000));
        assert_eq!(s.qty.step(), Lots(1_000));
        assert_eq!(s.min_notional, Some(5_000 * 100 * 1_000));
    }
}
