//! What the trader keeps of a backtest: each closed operation and the equity curve.

use crate::core::Lots;
use crate::signal::oracle::Side;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// The take profit filled.
    TakeProfit,
    /// The stop filled.
    Stop,
    /// A market order flattened it after an exit was refused.
    Flattened,
    /// The exchange liquidated the position.
    Liquidated,
    /// Still open when the data ended: valued at the last trade, as a taker exit.
    EndOfData,
}

/// A closed operation, for the trade list and the fitness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedTrade {
    /// Operation id.
    pub id: u64,
    /// Long or short.
    pub side: Side,
    /// Lots traded (the entry's filled quantity).
    pub qty: Lots,
    /// First entry fill, exchange µs.
    pub entry_us: u64,
    /// Last exit fill, exchange µs.
    pub exit_us: u64,
    /// Value of the entry fills, 10⁻⁸ quote.
    pub entry_value_e8: i64,
    /// Value of the exit fills, 10⁻⁸ quote.
    pub exit_value_e8: i64,
    /// Fees paid (entry and exit; a liquidation's lost margin beyond the price move).
    pub fees_e8: i64,
    /// Funding received (negative: paid).
    pub funding_e8: i64,
    /// Net PnL: gross − fees + funding.
    pub pnl_e8: i64,
    /// Margin the operation held.
    pub margin_e8: i64,
    /// How it ended.
    pub exit: Exit,
    /// Fills as maker.
    pub maker_fills: u32,
    /// Fills as taker.
    pub taker_fills: u32,
}

/// The account's equity at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EquityPoint {
    /// Exchange time, µs.
    pub time_us: u64,
    /// Capital + realised PnL + open operations valued at the last trade, 10⁻⁸ quote.
    pub equity_e8: i64,
}

/// The backtest's record: closed operations and the equity curve. Its buffers are
/// reserved up front so recording does not allocate per event.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    /// Closed operations, in closing order.
    pub trades: Vec<ClosedTrade>,
    /// Equity sampled every period.
    pub equity: Vec<EquityPoint>,
    pub(super) period_us: u64,
    pub(super) next_us: u64,
}
