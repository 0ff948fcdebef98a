//! Minerva: a low-latency crypto trading system — market data, an array-backed order
//! book, the oracle and its risk manager, the order gateway, a backtest on the same
//! stages, a genetic algorithm over strategy parameters, recording databases, and a
//! local exchange for tests without internet or keys.
//!
//! The modules, from the bottom up (each depends only on those above it in this list;
//! `docs/architecture.md` draws the map and follows one depth update from the socket
//! to an order):
//!
//! * [`core`] — fixed-point money (ticks, lots), symbols and their grids, market
//!   events, typed orders and reports, the clock, wait strategies.
//! * [`net`] — WebSocket, HTTP/1.1, TLS: the network, knowing no exchange.
//! * [`feed`] — where frames come from: the [`feed::Source`] trait, recorded and
//!   paced sources.
//! * [`venues`] — each exchange's protocol in its own folder ([`venues::binance`]:
//!   decoders, sequence rule, signing, parameters, endpoints, orders, user events,
//!   error codes, the live market source and order link), behind the venue boundary.
//! * [`book`] — the L2 book in preallocated arrays, synced by the venue's rule.
//! * [`strategy`], [`signal`], [`risk`] — the strategy file, the oracle (peaks, walls,
//!   voids, pressure → an intent), the risk manager (sizing and limits).
//! * [`sim`] — the simulated exchange: matching, queue position, latency, account.
//! * [`gateway`] — the trader: intents to orders, followed to their end, on the
//!   simulated exchange or a venue's live link.
//! * [`pipeline`] — the stages on rings and threads ([`pipeline::run`]) or stepped on
//!   one thread ([`pipeline::Compact`]).
//! * [`telemetry`] — latency histograms, tables, HdrHistogram logs.
//! * [`store`] — recordings: files and databases (SQLite, PostgreSQL), the recorder,
//!   and the audit journal's writer.
//! * [`replay`] — recorded data through the decoder and book, and the signal tool.
//! * [`backtest`], [`evolve`] — the backtest and its fitness; the genetic algorithm.
//! * [`observe`] — a live run's journal against the backtest of its recorded market
//!   data (real against theoretical).
//! * [`local_exchange`] — `minerva exchange`, speaking a venue's protocol over the
//!   recording.
//! * [`daemon`], [`shutdown`] — running detached; stop and report requests.
//!
//! Hot path and cold path are apart: the hot path (decoders, book, oracle, risk,
//! trader, rings) allocates nothing per message and says so in its docs (`# Hot path`);
//! everything else (REST, recording, reports, the local exchange) is cold.
//!
//! ```
//! use minerva::book::{Book, BookConfig};
//! use minerva::core::{Market, SymbolSpec};
//! use minerva::venues::binance::{Decoder, SymbolTable, parse_snapshot};
//!
//! // BTCUSDT spot: prices in cents, quantities in 10⁻⁵ BTC.
//! let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001")?;
//! let mut book = Book::new(&spec, &BookConfig::default());
//! let snap = parse_snapshot(
//!     br#"{"lastUpdateId":100,"bids":[["100.00","1"]],"asks":[["100.02","2"]]}"#,
//!     &spec,
//! )?;
//! book.apply_snapshot(&snap);
//! let mut table = SymbolTable::new();
//! table.insert(spec.clone());
//! let mut decoder = Decoder::new(table, 64);
//! let frame = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":101,"b":[["100.01","3"]],"a":[]}}"#;
//! decoder.decode(frame, 0, &mut |ev| book.on_event(ev))?;
//! let best = book.best_bid().expect("a bid");
//! assert_eq!(best.price, spec.price.parse(b"100.01")?);
//! assert_eq!(best.qty, spec.qty.parse(b"3")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
pub mod observe;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod risk;
pub mod shutdown;
pub mod signal;
pub mod sim;
pub mod status;
pub mod store;
pub mod strategy;
pub mod telemetry;
pub mod venues;
pub mod view;
