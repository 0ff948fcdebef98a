//! Futures leverage brackets (`GET /fapi/v1/leverageBracket`, `/dapi/v2/leverageBracket`):
//! the highest leverage each band of position size allows. The live link reads them at
//! start to choose the leverage it sets (the strategy's cap, lowered until the largest
//! position the strategy may hold fits a bracket allowing it); the local exchange
//! serves a table of its own. Cold path: brackets are JSON numbers, read as `f64`.

use crate::core::Market;
use serde::{Deserialize, Serialize};

/// One band of position size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bracket {
    /// Band number, from 1 (the smallest positions).
    pub bracket: u32,
    /// The highest leverage in this band.
    pub initial_leverage: u32,
    /// USDⓈ-M: upper edge of the position's notional (quote asset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notional_cap: Option<f64>,
    /// USDⓈ-M: lower edge of the notional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notional_floor: Option<f64>,
    /// COIN-M: upper edge of the position's value in the coin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty_cap: Option<f64>,
    /// COIN-M: lower edge (Binance spells it `qtylFloor`).
    #[serde(default, rename = "qtylFloor", skip_serializing_if = "Option::is_none")]
    pub qty_floor: Option<f64>,
    /// Maintenance margin rate in this band.
    pub maint_margin_ratio: f64,
    /// Binance's auxiliary number for the maintenance amount.
    #[serde(default)]
    pub cum: f64,
}

impl Bracket {
    /// The band's upper edge, whichever market's name it has (∞ when absent).
    fn cap(&self) -> f64 {
        self.notional_cap.or(self.qty_cap).unwrap_or(f64::INFINITY)
    }
}

/// A symbol's brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolBrackets {
    /// Symbol.
    pub symbol: String,
    /// The account's multiplier of the default brackets, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notional_coef: Option<f64>,
    /// The bands, smallest positions first.
    pub brackets: Vec<Bracket>,
}

/// Reads a brackets answer: a list, or (USDⓈ-M asked for one symbol) one object.
///
/// # Errors
/// The reader's complaint when it is neither.
pub fn read(body: &[u8]) -> Result<Vec<SymbolBrackets>, String> {
    match sonic_rs::from_slice::<Vec<SymbolBrackets>>(body) {
        Ok(v) => Ok(v),
        Err(list) => sonic_rs::from_slice::<SymbolBrackets>(body)
            .map(|one| vec![one])
            .map_err(|_| list.to_string()),
    }
}

/// The highest leverage up to `max` at which a position of `margin × leverage` (in the
/// margin asset: quote on USDⓈ-M, coin on COIN-M) lies in a band that allows that
/// leverage; 1 when none does.
pub fn choose_leverage(brackets: &[Bracket], max: u32, margin: f64) -> u32 {
    let mut sorted: Vec<&Bracket> = brackets.iter().collect();
    sorted.sort_by(|a, b| a.cap().total_cmp(&b.cap()));
    (1..=max.max(1))
        .rev()
        .find(|&lev| {
            let size = margin * f64::from(lev);
            sorted
                .iter()
                .find(|b| size <= b.cap())
                .is_some_and(|b| b.initial_leverage >= lev)
        })
        .unwrap_or(1)
}

/// The brackets `minerva exchange` serves for every symbol of `market` — shaped as
/// Binance's BTC tables (USDⓈ-M: notional in USDT; COIN-M: value in the coin), not
/// a copy of any day's: what a client needs to choose a leverage against.
pub fn local_table(market: Market) -> Vec<Bracket> {
    // (leverage, cap, maintenance rate)
    const USDM: [(u32, f64, f64); 10] = [
        (125, 50_000.0, 0.004),
        (100, 600_000.0, 0.005),
        (75, 3_000_000.0, 0.0065),
        (50, 12_000_000.0, 0.01),
        (25, 70_000_000.0, 0.02),
        (20, 100_000_000.0, 0.025),
        (10, 230_000_000.0, 0.05),
        (5, 480_000_000.0, 0.1),
        (2, 1_200_000_000.0, 0.25),
        (1, 1_800_000_000.0, 0.5),
    ];
    const COINM: [(u32, f64, f64); 8] = [
        (125, 5.0, 0.004),
        (100, 10.0, 0.005),
        (50, 20.0, 0.01),
        (20, 50.0, 0.025),
        (10, 100.0, 0.05),
        (5, 200.0, 0.1),
        (2, 1_000.0, 0.25),
        (1, 3_000.0, 0.5),
    ];
    let coin = market == Market::CoinM;
    let table: &[(u32, f64, f64)] = if coin { &COINM } else { &USDM };
    let mut floor = 0.0;
    let mut cum = 0.0;
    let mut prev_rate = 0.0;
    table
        .iter()
        .enumerate()
        .map(|(k, &(lev, cap, rate))| {
            // Binance's `cum`: the maintenance amount carried over from lower bands.
            cum += floor * (rate - prev_rate);
            prev_rate = rate;
            let b = Bracket {
                bracket: k as u32 + 1,
                initial_leverage: lev,
                notional_cap: (!coin).then_some(cap),
                notional_floor: (!coin).then_some(floor),
                qty_cap: coin.then_some(cap),
                qty_floor: coin.then_some(floor),
                maint_margin_ratio: rate,
                cum,
            };
            floor = cap;
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand on the local USDⓈ-M table: 10,000 USDT of margin at 125× is 1.25 M of
    /// notional, over the 125× band's 50,000 and in the 75× band (600,000 – 3 M), so
    /// 125× and 100× (1 M, also in the 75× band) are out and 75× (750,000) fits. With
    /// 300 USDT, 125× is 37,500: in the first band.
    #[test]
    fn leverage_within_the_brackets_by_hand() {
        let t = local_table(Market::UsdM);
        assert_eq!(choose_leverage(&t, 125, 10_000.0), 75);
        assert_eq!(choose_leverage(&t, 125, 300.0), 125);
        assert_eq!(choose_leverage(&t, 20, 10_000.0), 20);
        assert_eq!(choose_leverage(&t, 125, 1e12), 1);
        // COIN-M, in the coin: 0.06 BTC at 20× is 1.2 BTC (125× band); 2 BTC at 20× is
        // 40 BTC, in the 20× band.
        let c = local_table(Market::CoinM);
        assert_eq!(choose_leverage(&c, 20, 0.06), 20);
        assert_eq!(choose_leverage(&c, 50, 2.0), 20);
    }

    #[test]
    fn answers_read_as_binance_writes_them() {
        let one = br#"{"symbol":"ETHUSDT","notionalCoef":1.50,"brackets":[{"bracket":1,"initialLeverage":75,"notionalCap":10000,"notionalFloor":0,"maintMarginRatio":0.0065,"cum":0}]}"#;
        let v = read(one).unwrap();
        assert_eq!(v[0].brackets[0].initial_leverage, 75);
        assert_eq!(v[0].brackets[0].notional_cap, Some(10_000.0));
        let coin = br#"[{"symbol":"BTCUSD_PERP","brackets":[{"bracket":1,"initialLeverage":125,"qtyCap":50,"qtylFloor":0,"maintMarginRatio":0.004,"cum":0.0}]}]"#;
        let v = read(coin).unwrap();
        assert_eq!(v[0].brackets[0].qty_cap, Some(50.0));
        assert!(read(b"{}").is_err());
        // The local table round-trips through the reader.
        let served = sonic_rs::to_string(&vec![SymbolBrackets {
            symbol: "BTCUSDT".into(),
            notional_coef: None,
            brackets: local_table(Market::UsdM),
        }])
        .unwrap();
        assert_eq!(read(served.as_bytes()).unwrap()[0].brackets.len(), 10);
    }
}
