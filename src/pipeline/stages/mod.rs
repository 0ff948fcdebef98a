//! The pipeline's stages as plain structs with step methods: the same code runs on its
//! own thread, in the compact loop, or under the backtester.
//!
//! ```text
//! source ─frames─▶ [FeedStage] ─FeedMsg─▶ [BookStage] ─SignalMsg─▶ [SignalStage] ─OrderMsg─▶ [GatewayStage] ─signed bytes─▶ exchange
//!                                              └───────View────────▶┘
//! ```
//! The book publishes a fixed-size view per update (touch and depth per bin, kept
//! incrementally), so the oracle can run on another core without reading the book.

mod book;
mod feed;
mod gateway;
mod signal;

pub use book::{BookStage, MAX_SYMBOLS, ShapeError};
pub use feed::FeedStage;
pub use gateway::GatewayStage;
pub(crate) use signal::Prints;
pub use signal::SignalStage;
