//! KuCoin, the second venue (issue "KuCoin"; our protocol notes in
//! `../shared/docs/kucoin-protocol.md`): its keys, its request signing, its symbol
//! grids (spot symbols, futures contracts), its market-data decoder and its REST level-2 snapshots. The book follows
//! KuCoin's sequence rule with the same [`Sequencer`] as Binance's (the rules are one
//! statement: see [`crate::venues::sequence`]); its hosts, paths and topics
//! (`endpoints`) and its WebSocket session's messages (`session`). The live source,
//! the order link and the local venue follow, as variants of the boundary in
//! [`crate::venues`].
//!
//! [`Sequencer`]: crate::venues::sequence::Sequencer

pub mod contracts;
pub mod endpoints;
pub mod keys;
pub mod link;
pub mod orders;
pub mod peek;
pub mod session;
pub mod sign;
pub mod snapshot;
pub mod stream;
pub mod symbols;
pub mod wire;

pub use wire::Decoder;

use crate::core::{Lots, SymbolSpec};

/// Why a KuCoin REST answer (a symbol or contract list) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not the answer expected (what was expected, and sonic-rs's reason).
    #[error("not {0}: {1}")]
    Json(&'static str, String),
    /// KuCoin answered with an error code (`code` other than `200000`).
    #[error("KuCoin answered code {code}: {msg}")]
    Refused {
        /// Its code.
        code: String,
        /// Its message.
        msg: String,
    },
}

/// The market a KuCoin symbol trades on, from its name: spot symbols carry a dash
/// (`BTC-USDT`), contracts none (`XBTUSDTM`); inverse contracts are margined in the
/// coin and end in `USDM` (`XBTUSDM`).
pub fn market_of(symbol: &str) -> crate::core::Market {
    use crate::core::Market;
    if symbol.contains('-') {
        Market::Spot
    } else if symbol.ends_with("USDM") {
        Market::CoinM
    } else {
        Market::UsdM
    }
}

/// KuCoin futures count sizes in contracts of `multiplier` base units (XBTUSDTM:
/// 0.001 BTC) — or, inverse, of 1 USD. Minerva's grid for such a symbol is the base
/// asset (linear) or the contract (inverse) with the contract as its lot step, so `n`
/// contracts are `n` lot steps: the book, the strategy and the account then read
/// quantities as they do for every other symbol. `None` when it overflows.
#[inline]
pub fn contracts_to_lots(spec: &SymbolSpec, n: u64) -> Option<Lots> {
    i64::try_from(n)
        .ok()?
        .checked_mul(spec.qty.step().0)
        .map(Lots)
}
