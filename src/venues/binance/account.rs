//! Account answers in Binance's shapes (serde): spot `account`, futures `account`,
//! `balance`, `positionRisk`, `leverage`, and the listen key's. The local exchange
//! writes them; the live link reads the position from `positionRisk`
//! ([`super::orders::PositionState`]).

use serde::{Deserialize, Serialize};

/// A spot balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotAssetBalance {
    /// Asset.
    pub asset: String,
    /// Free.
    pub free: String,
    /// Locked.
    pub locked: String,
}

/// `GET /api/v3/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotAccount {
    /// Maker commission, basis points.
    pub maker_commission: u32,
    /// Taker commission, basis points.
    pub taker_commission: u32,
    /// Buyer commission.
    pub buyer_commission: u32,
    /// Seller commission.
    pub seller_commission: u32,
    /// Trading allowed.
    pub can_trade: bool,
    /// Withdrawals allowed.
    pub can_withdraw: bool,
    /// Deposits allowed.
    pub can_deposit: bool,
    /// A broker account.
    pub brokered: bool,
    /// Self-trade prevention required.
    pub require_self_trade_prevention: bool,
    /// Smart order routing prevented.
    pub prevent_sor: bool,
    /// Last update, ms.
    pub update_time: i64,
    /// `SPOT`.
    pub account_type: String,
    /// Balances.
    pub balances: Vec<SpotAssetBalance>,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Account id.
    pub uid: u64,
}

/// An asset of the futures account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesAsset {
    /// Asset.
    pub asset: String,
    /// Wallet balance.
    pub wallet_balance: String,
    /// Unrealised PnL.
    pub unrealized_profit: String,
    /// Margin balance.
    pub margin_balance: String,
    /// Available balance.
    pub available_balance: String,
    /// Most that can be withdrawn.
    pub max_withdraw_amount: String,
    /// Last update, ms.
    pub update_time: i64,
}

/// A futures position (`positionRisk`, and in `account`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesPositionRisk {
    /// Symbol.
    pub symbol: String,
    /// Signed position amount.
    pub position_amt: String,
    /// Average entry price.
    pub entry_price: String,
    /// Break-even price.
    pub break_even_price: String,
    /// Mark price.
    pub mark_price: String,
    /// Unrealised PnL.
    pub un_realized_profit: String,
    /// Liquidation price.
    pub liquidation_price: String,
    /// Leverage.
    pub leverage: String,
    /// Notional cap at this leverage.
    pub max_notional_value: String,
    /// `isolated` or `cross`.
    pub margin_type: String,
    /// Isolated margin.
    pub isolated_margin: String,
    /// Auto add margin.
    pub is_auto_add_margin: String,
    /// `BOTH` (one-way mode).
    pub position_side: String,
    /// Signed notional.
    pub notional: String,
    /// Isolated wallet.
    pub isolated_wallet: String,
    /// Last update, ms.
    pub update_time: i64,
}

/// `GET /fapi/v2/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesAccount {
    /// Initial margin of positions and orders.
    pub total_initial_margin: String,
    /// Maintenance margin.
    pub total_maint_margin: String,
    /// Wallet balance.
    pub total_wallet_balance: String,
    /// Unrealised PnL.
    pub total_unrealized_profit: String,
    /// Margin balance.
    pub total_margin_balance: String,
    /// Available balance.
    pub available_balance: String,
    /// Most that can be withdrawn.
    pub max_withdraw_amount: String,
    /// Trading allowed.
    pub can_trade: bool,
    /// Last update, ms.
    pub update_time: i64,
    /// Assets.
    pub assets: Vec<FuturesAsset>,
    /// Positions.
    pub positions: Vec<FuturesPositionRisk>,
}

/// An entry of `GET /fapi/v2/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesBalanceEntry {
    /// Account alias.
    pub account_alias: String,
    /// Asset.
    pub asset: String,
    /// Balance.
    pub balance: String,
    /// Cross wallet balance.
    pub cross_wallet_balance: String,
    /// Cross unrealised PnL.
    pub cross_un_pnl: String,
    /// Available balance.
    pub available_balance: String,
    /// Most that can be withdrawn.
    pub max_withdraw_amount: String,
    /// Usable as margin.
    pub margin_available: bool,
    /// Last update, ms.
    pub update_time: i64,
}

/// The answer to `POST /fapi/v1/leverage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeverageAnswer {
    /// The leverage now.
    pub leverage: u32,
    /// Notional cap at it.
    pub max_notional_value: String,
    /// Symbol.
    pub symbol: String,
}

/// The answer to `POST` on the listen key endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenKeyAnswer {
    /// The key.
    pub listen_key: String,
}

/// An answer with no fields (`{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Futures `DELETE allOpenOrders`: a code and message (200: done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// 200.
    pub code: i64,
    /// What was done.
    pub msg: String,
}
