//! KuCoin, the second venue (issue "KuCoin"; our protocol notes in
//! `../shared/docs/kucoin-protocol.md`). So far: its keys, its request signing and its symbol grids.
//! Market data, the sequence rule, the live link and the local venue follow, as
//! variants of the boundary in [`crate::venues`].

pub mod keys;
pub mod sign;
pub mod symbols;
