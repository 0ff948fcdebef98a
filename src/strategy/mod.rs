//! Strategy files: the seed's parameters (plus fees, leverage cap and a few of our own)
//! in a versioned TOML file, overridable key by key from the command line, checked with
//! errors that name the key; results written back into a separate `[results]` table
//! without touching the rest of the file (comments and formatting kept).
//!
//! Parsing happens once, on the cold path; everything the hot path needs is converted
//! to integers here (parts per million, 10⁻⁸ units), so no float reaches it.

use crate::core::Dec8;
use std::path::Path;
use thiserror::Error;
use toml_edit::{DocumentMut, Item, Value};

/// The file format version this build reads and writes.
pub const VERSION: i64 = 1;

/// What is wrong with a strategy file or an override.
#[derive(Debug, Error, PartialEq)]
pub enum StrategyError {
    /// The file could not be read or written.
    #[error("{path}: {msg}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        msg: String,
    },
    /// Not TOML.
    #[error("not valid TOML: {0}")]
    Toml(String),
    /// `version` missing or not one this build reads.
    #[error("`version` must be {VERSION} (found {0})")]
    Version(String),
    /// A required key is absent.
    #[error("missing key `{0}` in [strategy]")]
    Missing(&'static str),
    /// A key this build does not know (a typo would otherwise be silently ignored).
    #[error("unknown key `{0}` in [strategy]")]
    Unknown(String),
    /// A key with a value of the wrong type or outside its range.
    #[error("`{key}` = {value}: {why}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
}

/// One parameter: its key, whether the file must set it, and its default.
struct Param {
    key: &'static str,
    required: bool,
    default: &'static str,
}

/// Every key of `[strategy]`, in file order. Required ones are the seed's parameters,
/// fees and the leverage cap; the rest have documented defaults (`docs/strategy.md`).
const PARAMS: &[Param] = &[
    Param {
        key: "market",
        required: true,
        default: "",
    },
    Param {
        key: "capital",
        required: true,
        default: "",
    },
    Param {
        key: "limit_orderbook",
        required: true,
        default: "",
    },
    Param {
        key: "relative_threshold",
        required: true,
        default: "",
    },
    Param {
        key: "short_pressure",
        required: true,
        default: "",
    },
    Param {
        key: "long_pressure",
        required: true,
        default: "",
    },
    Param {
        key: "max_concurrent_trades",
        required: true,
        default: "",
    },
    Param {
        key: "peak_distance_divisor",
        required: true,
        default: "",
    },
    Param {
        key: "stop_loss_price_buffer",
        required: true,
        default: "",
    },
    Param {
        key: "percentage_per_trade",
        required: true,
        default: "",
    },
    Param {
        key: "maker_fee",
        required: true,
        default: "",
    },
    Param {
        key: "taker_fee",
        required: true,
        default: "",
    },
    Param {
        key: "max_leverage",
        required: true,
        default: "",
    },
    Param {
        key: "bin_ticks",
        required: false,
        default: "10",
    },
    Param {
        key: "bins",
        required: false,
        default: "100",
    },
    Param {
        key: "volume_window_secs",
        required: false,
        default: "60",
    },
    Param {
        key: "max_capital_in_use",
        required: false,
        default: "0.9",
    },
    Param {
        key: "daily_loss_limit",
        required: false,
        default: "0.05",
    },
    Param {
        key: "similar_entry_ticks",
        required: false,
        default: "5",
    },
    Param {
        key: "void_height",
        required: false,
        default: "0",
    },
    Param {
        key: "void_prominence",
        required: false,
        default: "5",
    },
];

/// Most bins per side (fixed-size buffers in the oracle).
pub const MAX_BINS: usize = 512;

/// A checked strategy. Ratios are parts per million, money 10⁻⁸ quote units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strategy {
    /// Symbol traded (`BTCUSDT`).
    pub market: String,
    /// Account capital in quote currency.
    pub capital: Dec8,
    /// Book levels per side the oracle reads (`limit_orderbook`).
    pub limit_orderbook: u32,
    /// Peaks must stand `range / relative_threshold` above both neighbours; ×1000.
    pub relative_threshold_milli: u32,
    /// Ask share at or above which the side is SHORT, ppm.
    pub short_pressure_ppm: u32,
    /// Ask share at or below which the side is LONG, ppm.
    pub long_pressure_ppm: u32,
    /// Most operations open at once.
    pub max_concurrent_trades: u32,
    /// Peak distance = bins / peak_distance_divisor; ×1000.
    pub peak_distance_divisor_milli: u32,
    /// Stop distance beyond the opposite wall, ppm of the entry price.
    pub stop_loss_buffer_ppm: u32,
    /// Margin per trade as a share of capital, ppm.
    pub per_trade_ppm: u32,
    /// Maker fee rate, 10⁻⁸.
    pub maker_fee_e8: i64,
    /// Taker fee rate, 10⁻⁸.
    pub taker_fee_e8: i64,
    /// Leverage cap (the symbol's own maximum may be lower).
    pub max_leverage: u32,
    /// Price bin width in ticks.
    pub bin_ticks: u32,
    /// Bins per side.
    pub bins: u32,
    /// Traded-volume window, seconds.
    pub volume_window_secs: u32,
    /// Most capital committed as margin across open operations, ppm.
    pub max_capital_in_use_ppm: u32,
    /// Realised loss in a UTC day that stops new operations, ppm of capital.
    pub daily_loss_limit_ppm: u32,
    /// Entries closer than this many ticks on the same side count as the same operation.
    pub similar_entry_ticks: u32,
    /// The seed's `height` for voids: a void's `−(resting + traded)` is at least this,
    /// so its bin holds at most `−void_height`; 10⁻⁸ units of the symbol's quantity.
    pub void_height_e8: i64,
    /// The seed's `prominence` for voids, 10⁻⁸ units of the symbol's quantity.
    pub void_prominence_e8: i64,
}

fn invalid(key: &'static str, value: &str, why: &'static str) -> StrategyError {
    StrategyError::Invalid {
        key,
        value: value.to_string(),
        why,
    }
}

/// A decimal in `[lo, hi]` as an integer of `unit` parts (1e6 = ppm).
fn fraction(key: &'static str, v: &str, lo: f64, hi: f64, unit: f64) -> Result<i64, StrategyError> {
    let f: f64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, v, "not a number"))?;
    if !f.is_finite() || f < lo || f > hi {
        return Err(invalid(key, v, "out of range (see docs/strategy.md)"));
    }
    Ok((f * unit).round() as i64)
}

fn integer(key: &'static str, v: &str, lo: i64, hi: i64) -> Result<i64, StrategyError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, v, "not a whole number"))?;
    if n < lo || n > hi {
        return Err(invalid(key, v, "out of range (see docs/strategy.md)"));
    }
    Ok(n)
}

impl Strategy {
    /// Builds a strategy from `key → text` pairs (file values and overrides alike).
    fn from_values(get: impl Fn(&'static str) -> Option<String>) -> Result<Self, StrategyError> {
        let val = |key: &'static str| -> Result<String, StrategyError> {
            let p = PARAMS.iter().find(|p| p.key == key).expect("known key");
            match get(key) {
                Some(v) => Ok(v),
                None if p.required => Err(StrategyError::Missing(key)),
                None => Ok(p.default.to_string()),
            }
        };
        let market = val("market")?;
        if market.is_empty()
            || market.len() > 24
            || !market
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            return Err(invalid(
                "market",
                &market,
                "a venue's symbol such as BTCUSDT, BTCUSD_PERP or BTC-USDT",
            ));
        }
        let capital = {
            let v = val("capital")?;
            let c = Dec8::parse(v.trim().as_bytes())
                .map_err(|_| invalid("capital", &v, "a positive decimal amount"))?;
            if c.0 <= 0 {
                return Err(invalid("capital", &v, "must be positive"));
            }
            c
        };
        // Each key is read once, by name, so an error always names it.
        let frac = |key, lo, hi, unit| -> Result<i64, StrategyError> {
            fraction(key, &val(key)?, lo, hi, unit)
        };
        let ppm =
            |key, lo, hi| -> Result<u32, StrategyError> { Ok(frac(key, lo, hi, 1e6)? as u32) };
        let int = |key, lo, hi| -> Result<i64, StrategyError> { integer(key, &val(key)?, lo, hi) };
        let s = Strategy {
            market: market.to_ascii_uppercase(),
            capital,
            limit_orderbook: int("limit_orderbook", 1, 5000)? as u32,
            relative_threshold_milli: frac("relative_threshold", 1.0, 1e6, 1e3)? as u32,
            short_pressure_ppm: ppm("short_pressure", 0.5, 1.0)?,
            long_pressure_ppm: ppm("long_pressure", 0.0, 0.5)?,
            max_concurrent_trades: int("max_concurrent_trades", 1, 1000)? as u32,
            peak_distance_divisor_milli: frac("peak_distance_divisor", 1.0, 1e4, 1e3)? as u32,
            // A percent of the entry price: 0.2 → 2,000 ppm.
            stop_loss_buffer_ppm: (frac("stop_loss_price_buffer", 0.0, 50.0, 1e6)? / 100) as u32,
            per_trade_ppm: ppm("percentage_per_trade", 0.0001, 1.0)?,
            maker_fee_e8: frac("maker_fee", -0.001, 0.01, 1e8)?,
            taker_fee_e8: frac("taker_fee", 0.0, 0.01, 1e8)?,
            max_leverage: int("max_leverage", 1, 125)? as u32,
            bin_ticks: int("bin_ticks", 1, 1_000_000)? as u32,
            bins: int("bins", 4, MAX_BINS as i64)? as u32,
            volume_window_secs: int("volume_window_secs", 1, 86_400)? as u32,
            max_capital_in_use_ppm: ppm("max_capital_in_use", 0.01, 1.0)?,
            daily_loss_limit_ppm: ppm("daily_loss_limit", 0.0, 1.0)?,
            similar_entry_ticks: int("similar_entry_ticks", 0, 1_000_000)? as u32,
            // −(resting + traded) is never above 0, so a positive height finds nothing.
            void_height_e8: frac("void_height", -1e9, 0.0, 1e8)?,
            void_prominence_e8: frac("void_prominence", 0.0, 1e9, 1e8)?,
        };
        if s.long_pressure_ppm >= s.short_pressure_ppm {
            return Err(invalid(
                "long_pressure",
                &val("long_pressure")?,
                "must be below short_pressure",
            ));
        }
        Ok(s)
    }

    /// Reads a strategy from TOML text, then applies `overrides` (`key`, `value`), which
    /// take precedence over the file.
    ///
    /// # Errors
    /// [`StrategyError`] naming the first missing, unknown or invalid key.
    pub fn parse(text: &str, overrides: &[(&str, String)]) -> Result<Self, StrategyError> {
        let doc: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| StrategyError::Toml(e.to_string()))?;
        match doc.get("version").and_then(Item::as_integer) {
            Some(VERSION) => {}
            other => {
                return Err(StrategyError::Version(
                    other.map_or("nothing".into(), |v| v.to_string()),
                ));
            }
        }
        let table = doc
            .get("strategy")
            .and_then(Item::as_table)
            .ok_or(StrategyError::Missing("[strategy]"))?;
        for (k, _) in table.iter() {
            if !PARAMS.iter().any(|p| p.key == k) {
                return Err(StrategyError::Unknown(k.to_string()));
            }
        }
        for (k, _) in overrides {
            if !PARAMS.iter().any(|p| p.key == *k) {
                return Err(StrategyError::Unknown(k.to_string()));
            }
        }
        Self::from_values(|key| {
            if let Some((_, v)) = overrides.iter().rev().find(|(k, _)| *k == key) {
                return Some(v.clone());
            }
            table.get(key).and_then(Item::as_value).map(|v| match v {
                Value::String(s) => s.value().clone(),
                Value::Integer(i) => i.value().to_string(),
                Value::Float(f) => f.value().to_string(),
                Value::Boolean(b) => b.value().to_string(),
                other => other.clone().decorated("", "").to_string(),
            })
        })
    }

    /// Reads a strategy file with overrides.
    ///
    /// # Errors
    /// [`StrategyError`] for an unreadable file or any invalid key.
    pub fn load(path: &Path, overrides: &[(&str, String)]) -> Result<Self, StrategyError> {
        let text = std::fs::read_to_string(path).map_err(|e| StrategyError::Io {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        Self::parse(&text, overrides)
    }

    /// Every key this build reads, in file order.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        PARAMS.iter().map(|p| p.key)
    }

    /// A numeric key's value in the file's units (`short_pressure` → 0.75,
    /// `stop_loss_price_buffer` → 0.2 percent); `None` for `market` or an unknown key.
    /// Cold path: for reports and the genetic algorithm's starting point.
    pub fn value(&self, key: &str) -> Option<f64> {
        let ppm = |v: u32| f64::from(v) / 1e6;
        let milli = |v: u32| f64::from(v) / 1e3;
        Some(match key {
            "capital" => self.capital.0 as f64 / 1e8,
            "limit_orderbook" => f64::from(self.limit_orderbook),
            "relative_threshold" => milli(self.relative_threshold_milli),
            "short_pressure" => ppm(self.short_pressure_ppm),
            "long_pressure" => ppm(self.long_pressure_ppm),
            "max_concurrent_trades" => f64::from(self.max_concurrent_trades),
            "peak_distance_divisor" => milli(self.peak_distance_divisor_milli),
            // Stored as ppm of the entry price, written as a percent.
            "stop_loss_price_buffer" => f64::from(self.stop_loss_buffer_ppm) / 1e4,
            "percentage_per_trade" => ppm(self.per_trade_ppm),
            "maker_fee" => self.maker_fee_e8 as f64 / 1e8,
            "taker_fee" => self.taker_fee_e8 as f64 / 1e8,
            "max_leverage" => f64::from(self.max_leverage),
            "bin_ticks" => f64::from(self.bin_ticks),
            "bins" => f64::from(self.bins),
            "volume_window_secs" => f64::from(self.volume_window_secs),
            "max_capital_in_use" => ppm(self.max_capital_in_use_ppm),
            "daily_loss_limit" => ppm(self.daily_loss_limit_ppm),
            "similar_entry_ticks" => f64::from(self.similar_entry_ticks),
            "void_height" => self.void_height_e8 as f64 / 1e8,
            "void_prominence" => self.void_prominence_e8 as f64 / 1e8,
            _ => return None,
        })
    }

    /// Whether a key takes whole numbers only.
    pub fn is_integer_key(key: &str) -> bool {
        matches!(
            key,
            "limit_orderbook"
                | "max_concurrent_trades"
                | "max_leverage"
                | "bin_ticks"
                | "bins"
                | "volume_window_secs"
                | "similar_entry_ticks"
        )
    }
}

/// The strategy file `text` with `values` (`key`, value as text) set in its
/// `[strategy]` table, every other line and comment kept: how `minerva evolve` writes
/// the strategy it found. A number is written as a TOML number when it reads back as the
/// same text, anything else as a string (a capital with more digits than an `f64` holds,
/// a symbol such as `1E5`), so the file reads back with exactly `values`. A `[results]`
/// table is dropped: its figures were the old values'.
///
/// # Errors
/// [`StrategyError`] when `text` is not TOML or a key is unknown.
pub fn with_values(text: &str, values: &[(&str, String)]) -> Result<String, StrategyError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| StrategyError::Toml(e.to_string()))?;
    if doc.get("strategy").and_then(Item::as_table).is_none() {
        return Err(StrategyError::Missing("[strategy]"));
    }
    doc.remove("results");
    for (k, v) in values {
        if !PARAMS.iter().any(|p| p.key == *k) {
            return Err(StrategyError::Unknown(k.to_string()));
        }
        let t = v.trim();
        let new = if let Some(i) = t.parse::<i64>().ok().filter(|i| i.to_string() == t) {
            Value::from(i)
        } else if let Some(f) = t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.to_string() == t)
        {
            Value::from(f)
        } else {
            Value::from(v.as_str())
        };
        let table = doc["strategy"].as_table_mut().expect("checked above");
        match table.get_mut(k).and_then(Item::as_value_mut) {
            // Keep the key's own comment and spacing.
            Some(old) => {
                let decor = old.decor().clone();
                *old = new;
                *old.decor_mut() = decor;
            }
            None => {
                table.insert(k, toml_edit::value(new));
            }
        }
    }
    Ok(doc.to_string())
}

/// Writes `results` into the `[results]` table of the strategy file at `path`, keeping
/// every other line, comment and format as it was.
///
/// # Errors
/// [`StrategyError`] when the file cannot be read, parsed or written.
pub fn write_results(path: &Path, results: &[(&str, f64)]) -> Result<(), StrategyError> {
    write_results_in(path, None, results, &[])
}

/// Writes a live run's figures into `[results.live]` (numbers, and `texts` such as the
/// time of the update), leaving `[results]` (the backtest's) and everything else as it
/// was. Atomic: a temporary file renamed over the strategy file.
///
/// # Errors
/// [`StrategyError`] when the file cannot be read, parsed or written.
pub fn write_live_results(
    path: &Path,
    results: &[(&str, f64)],
    texts: &[(&str, String)],
) -> Result<(), StrategyError> {
    write_results_in(path, Some("live"), results, texts)
}

fn write_results_in(
    path: &Path,
    sub: Option<&str>,
    results: &[(&str, f64)],
    texts: &[(&str, String)],
) -> Result<(), StrategyError> {
    let io = |e: std::io::Error| StrategyError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| StrategyError::Toml(e.to_string()))?;
    if doc.get("results").is_none() {
        doc["results"] = toml_edit::table();
    }
    let table = match sub {
        None => &mut doc["results"],
        Some(name) => {
            if doc["results"].get(name).is_none() {
                doc["results"][name] = toml_edit::table();
            }
            &mut doc["results"][name]
        }
    };
    for (k, v) in results {
        table[*k] = toml_edit::value(*v);
    }
    for (k, v) in texts {
        table[*k] = toml_edit::value(v.as_str());
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests;
