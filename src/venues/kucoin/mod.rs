//! KuCoin, the second venue (issue "KuCoin"; our protocol notes in
//! `../shared/docs/kucoin-protocol.md`): its keys, its request signing, its symbol
//! grids, its market-data decoder and its REST level-2 snapshots. The book follows
//! KuCoin's sequence rule with the same [`Sequencer`] as Binance's (the rules are one
//! statement: see [`crate::venues::sequence`]). The live link and the local venue
//! follow, as variants of the boundary in [`crate::venues`].
//!
//! [`Sequencer`]: crate::venues::sequence::Sequencer

pub mod keys;
pub mod sign;
pub mod snapshot;
pub mod symbols;
pub mod wire;

pub use wire::Decoder;
