//! Minerva: a low-latency market-data, book, signal and order pipeline for Binance.
//!
//! Stages are modules with one small public face each: [`core`] (money, symbols,
//! events), [`feed`] (Binance decoding), [`book`] (the array-backed L2 book with
//! Binance's sync and resync rules) and [`replay`] (recorded-data sources).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod backtest;
pub mod book;
pub mod core;
pub mod daemon;
pub mod evolve;
pub mod feed;
pub mod gateway;
pub mod local_exchange;
pub mod net;
pub mod pipeline;
pub mod replay;
pub mod risk;
pub mod shutdown;
pub mod signal;
pub mod sim;
pub mod store;
pub mod strategy;
pub mod telemetry;
pub mod venues;
