//! `--metrics ADDR`: Prometheus' text exposition format (0.0.4) on `GET /metrics`, for
//! `run`, `record` and `exchange`.
//!
//! Cold path: a scrape renders the latest snapshot the process already keeps (the
//! status board's [`Status`], the recorder's [`RecordStatus`]); nothing on the hot path
//! knows a scrape happened (the local exchange's counters are atomics it keeps anyway). Served by the local exchange's HTTP server (hyper, with its
//! limits on slow and hostile clients) on one thread.

use crate::local_exchange::server::{Limits, Server};
use crate::status::Status;
use crate::store::recorder::RecordStatus;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Not `HOST:PORT`.
    #[error("--metrics {0}: expected HOST:PORT, such as 127.0.0.1:9100")]
    Address(String),
    /// The port could not be bound or served.
    #[error("--metrics {addr}: {source}")]
    Io {
        /// The address asked for.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (names end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Quantiles, `_sum` and `_count`.
    Summary,
}

/// A family's name, type and help.
pub type Family<'a> = (&'a str, Kind, &'a str);

/// A family with a sample per item, and how an item gives its value.
type PerItem<T> = (Family<'static>, fn(&T) -> Option<f64>);

/// A page of the text exposition format, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (k, (key, v)) in labels.iter().enumerate() {
                if k > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{key}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = if value.is_nan() {
            writeln!(self.out, " NaN")
        } else if value.is_infinite() {
            writeln!(self.out, " {}Inf", if value > 0.0 { "+" } else { "-" })
        } else {
            writeln!(self.out, " {value}")
        };
    }

    /// A family with a sample per item: labelled `fixed` and `key` = `label(item)`,
    /// valued `value(item)` (an item without a value has no sample).
    pub fn per<T>(
        &mut self,
        (name, kind, help): Family<'_>,
        fixed: &[(&str, &str)],
        key: &str,
        items: &[T],
        label: fn(&T) -> &str,
        value: fn(&T) -> Option<f64>,
    ) {
        self.family(name, kind, help);
        for item in items {
            if let Some(v) = value(item) {
                let mut labels = fixed.to_vec();
                labels.push((key, label(item)));
                self.sample(name, &labels, v);
            }
        }
    }

    /// A family of one sample.
    pub fn one(&mut self, name: &str, kind: Kind, help: &str, labels: &[(&str, &str)], v: f64) {
        self.family(name, kind, help);
        self.sample(name, labels, v);
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

/// What a scrape renders: called on the server's thread at each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A running endpoint; stops when dropped.
pub struct MetricsServer {
    _server: Server,
    /// The address bound (the port chosen when `:0` was asked).
    pub addr: SocketAddr,
}

/// Serves `render`'s page on `GET /metrics` at `addr` (`HOST:PORT`).
///
/// # Errors
/// [`MetricsError`]: a malformed address, a port in use or not allowed.
pub fn serve(addr: &str, render: Render) -> Result<MetricsServer, MetricsError> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|_| MetricsError::Address(addr.to_string()))?;
    let io = |source| MetricsError::Io {
        addr: addr.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(sock).map_err(io)?;
    let bound = listener.local_addr().map_err(io)?;
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let render = render.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        render(),
                    )
                }
            }),
        )
        .route(
            "/",
            get(|| async { "Minerva: metrics at /metrics (Prometheus text format)\n" }),
        );
    let limits = Limits {
        max_connections: 64,
        ..Limits::default()
    };
    let server = Server::start(listener, router, limits, 1).map_err(io)?;
    Ok(MetricsServer {
        _server: server,
        addr: bound,
    })
}

/// A running pipeline's metrics, from its latest status snapshot (`None` before the
/// first: only `minerva_up`).
pub fn render_status(s: Option<&Status>) -> String {
    let mut e = Exposition::default();
    e.one(
        "minerva_up",
        Kind::Gauge,
        "1 while the process serves metrics.",
        &[],
        1.0,
    );
    let Some(s) = s else {
        return e.finish();
    };
    // A run of several symbols: the run's series are labelled with all of them
    // (`A,B,C`), and the per-symbol ones take a sample per symbol.
    let several = !s.symbols.is_empty();
    let run_symbols = if several {
        let names: Vec<&str> = s.symbols.iter().map(|y| y.symbol.as_str()).collect();
        names.join(",")
    } else {
        s.symbol.clone()
    };
    let sym = [("symbol", run_symbols.as_str())];
    e.family(
        "minerva_run_info",
        Kind::Gauge,
        "The run: symbol, market data source and where orders go (value 1).",
    );
    e.sample(
        "minerva_run_info",
        &[
            ("symbol", run_symbols.as_str()),
            ("source", s.source.as_str()),
            ("trading", s.trading.as_str()),
        ],
        1.0,
    );
    e.one(
        "minerva_uptime_seconds",
        Kind::Gauge,
        "Seconds since the run started.",
        &sym,
        s.uptime_s,
    );
    let c = &s.counters;
    let a = &s.account;
    // The book, oracle and trader series: a sample per symbol (one symbol's from the
    // run's own panels).
    if several {
        per_symbol(&mut e, &s.symbols);
        e.per(
            (
                "minerva_pressure",
                Kind::Gauge,
                "The oracle's last ask share of the counted depth, 0-1.",
            ),
            &[],
            "symbol",
            &s.symbols,
            |y| y.symbol.as_str(),
            |y| Some(y.pressure),
        );
    } else {
        let one = crate::status::SymbolRow {
            symbol: s.symbol.clone(),
            live: s.book.live,
            bid: s.book.bids.first().map(|b| b.0),
            ask: s.book.asks.first().map(|a| a.0),
            pressure: s.bins.pressure,
            evaluations: c.evaluations,
            applied: c.applied,
            gaps: c.gaps,
            resyncs: c.resyncs,
            crosses: c.crosses,
            position: a.position,
            in_flight: a.in_flight,
            accepted: a.accepted,
            refused: a.refused,
            realised: a.realised,
            unrealised: a.unrealised,
        };
        per_symbol(&mut e, std::slice::from_ref(&one));
    }
    for (name, help, v) in [
        (
            "minerva_frames_total",
            "Frames read from the source.",
            c.frames,
        ),
        (
            "minerva_decode_errors_total",
            "Malformed frames.",
            c.decode_errors,
        ),
        (
            "minerva_intents_total",
            "Operations the oracle proposed.",
            c.intents,
        ),
        ("minerva_orders_total", "Entry orders sent.", c.orders),
        ("minerva_fills_total", "Fills of our orders.", c.fills),
    ] {
        e.one(name, Kind::Counter, help, &sym, v as f64);
    }
    type Ring = crate::status::RingRow;
    let rings: [PerItem<Ring>; 2] = [
        (
            (
                "minerva_ring_messages_total",
                Kind::Counter,
                "Messages carried by each ring between stages.",
            ),
            |r| Some(r.messages as f64),
        ),
        (
            (
                "minerva_ring_stalls_total",
                Kind::Counter,
                "Times a ring's producer found it full.",
            ),
            |r| Some(r.stalls as f64),
        ),
    ];
    for (family, value) in rings {
        e.per(family, &sym, "ring", &c.rings, |r| r.name.as_str(), value);
    }
    e.family(
        "minerva_latency_seconds",
        Kind::Summary,
        "Latency per stage since the start (HdrHistogram; quantile 1 is the maximum).",
    );
    for l in &s.latency {
        let labels = |q| {
            [
                ("symbol", s.symbol.as_str()),
                ("stage", &l.stage),
                ("quantile", q),
            ]
        };
        e.sample(
            "minerva_latency_seconds",
            &labels("0.5"),
            l.p50_ns as f64 / 1e9,
        );
        e.sample(
            "minerva_latency_seconds",
            &labels("0.99"),
            l.p99_ns as f64 / 1e9,
        );
        e.sample(
            "minerva_latency_seconds",
            &labels("1"),
            l.max_ns as f64 / 1e9,
        );
        let lab = [("symbol", s.symbol.as_str()), ("stage", l.stage.as_str())];
        e.sample(
            "minerva_latency_seconds_sum",
            &lab,
            l.mean_ns * l.count as f64 / 1e9,
        );
        e.sample("minerva_latency_seconds_count", &lab, l.count as f64);
    }
    for (name, help, v) in [
        (
            "minerva_equity",
            "Capital + realised + unrealised PnL, quote.",
            a.equity,
        ),
        ("minerva_fees_paid", "Fees paid, quote.", a.fees),
        (
            "minerva_kill_switch",
            "1 when the kill switch is on.",
            f64::from(u8::from(a.killed)),
        ),
    ] {
        e.one(name, Kind::Gauge, help, &sym, v);
    }
    e.one(
        "minerva_operations_closed_total",
        Kind::Counter,
        "Operations closed.",
        &sym,
        a.closed as f64,
    );
    e.finish()
}

/// The book, oracle and trader series, a sample per symbol.
fn per_symbol(e: &mut Exposition, rows: &[crate::status::SymbolRow]) {
    type Row = crate::status::SymbolRow;
    let families: [PerItem<Row>; 14] = [
        (
            (
                "minerva_book_in_sync",
                Kind::Gauge,
                "1 when the book is in sync with the stream.",
            ),
            |y| Some(f64::from(u8::from(y.live))),
        ),
        (("minerva_best_bid", Kind::Gauge, "Best bid price."), |y| {
            y.bid
        }),
        (("minerva_best_ask", Kind::Gauge, "Best ask price."), |y| {
            y.ask
        }),
        (
            (
                "minerva_depth_applied_total",
                Kind::Counter,
                "Depth events applied to the book.",
            ),
            |y| Some(y.applied as f64),
        ),
        (
            (
                "minerva_gaps_total",
                Kind::Counter,
                "Sequence gaps found in the depth stream.",
            ),
            |y| Some(y.gaps as f64),
        ),
        (
            (
                "minerva_resyncs_total",
                Kind::Counter,
                "Book resyncs completed.",
            ),
            |y| Some(y.resyncs as f64),
        ),
        (
            (
                "minerva_crossed_books_total",
                Kind::Counter,
                "Crossed books seen (each resyncs).",
            ),
            |y| Some(y.crosses as f64),
        ),
        (
            (
                "minerva_evaluations_total",
                Kind::Counter,
                "Oracle evaluations.",
            ),
            |y| Some(y.evaluations as f64),
        ),
        (
            ("minerva_position", Kind::Gauge, "Net position, quantity."),
            |y| Some(y.position),
        ),
        (
            (
                "minerva_realised_pnl",
                Kind::Gauge,
                "Realised PnL net of fees, quote.",
            ),
            |y| Some(y.realised),
        ),
        (
            (
                "minerva_unrealised_pnl",
                Kind::Gauge,
                "Unrealised PnL of open positions, quote.",
            ),
            |y| Some(y.unrealised),
        ),
        (
            (
                "minerva_operations_in_flight",
                Kind::Gauge,
                "Operations in flight.",
            ),
            |y| Some(y.in_flight as f64),
        ),
        (
            (
                "minerva_operations_accepted_total",
                Kind::Counter,
                "Operations the risk manager accepted.",
            ),
            |y| Some(y.accepted as f64),
        ),
        (
            (
                "minerva_operations_refused_total",
                Kind::Counter,
                "Operations the risk manager refused.",
            ),
            |y| Some(y.refused as f64),
        ),
    ];
    for (family, value) in families {
        e.per(family, &[], "symbol", rows, |y| y.symbol.as_str(), value);
    }
}

/// A recorder's metrics, from its latest status (`None` before the first).
pub fn render_record(r: Option<&RecordStatus>) -> String {
    let mut e = Exposition::default();
    e.one(
        "minerva_up",
        Kind::Gauge,
        "1 while the process serves metrics.",
        &[],
        1.0,
    );
    let Some(r) = r else {
        return e.finish();
    };
    let streams: Vec<(&String, &u64)> = r.per_stream.iter().collect();
    e.per(
        (
            "minerva_record_lines_total",
            Kind::Counter,
            "Lines stored, per stream.",
        ),
        &[],
        "stream",
        &streams,
        |(stream, _)| stream.as_str(),
        |(_, n)| Some(**n as f64),
    );
    e.one(
        "minerva_record_waits_total",
        Kind::Counter,
        "Times a reader waited for the database writer.",
        &[],
        r.waits as f64,
    );
    e.one(
        "minerva_record_batches_total",
        Kind::Counter,
        "Transactions committed.",
        &[],
        r.batches as f64,
    );
    e.one(
        "minerva_record_database_bytes",
        Kind::Gauge,
        "Size of the recording database (the current file with rotation).",
        &[],
        r.db_bytes as f64,
    );
    type Source = crate::store::recorder::SourceStatus;
    let per_source: [PerItem<Source>; 7] = [
        (
            (
                "minerva_record_connects_total",
                Kind::Counter,
                "Connections made.",
            ),
            |s| Some(s.counts[0] as f64),
        ),
        (
            (
                "minerva_record_disconnects_total",
                Kind::Counter,
                "Connections lost (each reconnects).",
            ),
            |s| Some(s.counts[1] as f64),
        ),
        (
            (
                "minerva_record_snapshots_total",
                Kind::Counter,
                "REST snapshots taken.",
            ),
            |s| Some(s.counts[2] as f64),
        ),
        (
            (
                "minerva_record_failures_total",
                Kind::Counter,
                "Connection or snapshot failures.",
            ),
            |s| Some(s.counts[3] as f64),
        ),
        (
            (
                "minerva_record_stale_sessions_total",
                Kind::Counter,
                "Sessions closed for silence.",
            ),
            |s| Some(s.counts[4] as f64),
        ),
        (
            (
                "minerva_record_gaps_total",
                Kind::Counter,
                "Breaks in the depth diffs (each followed by a resync).",
            ),
            |s| Some(s.gaps as f64),
        ),
        (
            (
                "minerva_record_lag_seconds",
                Kind::Gauge,
                "Receive time less the exchange's event time of the last message (absent when the exchange's clock is elsewhere: a replayed recording).",
            ),
            |s| s.lag().map(|ms| ms as f64 / 1e3),
        ),
    ];
    for (family, value) in per_source {
        e.per(
            family,
            &[],
            "symbol",
            &r.sources,
            |s| s.symbol.as_str(),
            value,
        );
    }
    e.finish()
}

/// What `minerva exchange` shows a scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeFacts {
    /// The protocol served (`binance`, `kucoin`).
    pub venue: &'static str,
    /// Stream messages published.
    pub published: u64,
    /// Signed requests answered.
    pub signed: u64,
    /// WebSocket sessions open.
    pub sessions: usize,
    /// Sessions disconnected for reading too slowly.
    pub slow_sessions: u64,
    /// The recording has been served to the end.
    pub finished: bool,
    /// Each symbol's account.
    pub accounts: Vec<ExchangeAccount>,
}

/// One symbol's account on the local exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeAccount {
    /// The symbol.
    pub symbol: String,
    /// Position, quantity (negative: short).
    pub position: f64,
    /// Wallet, quote.
    pub wallet: f64,
    /// Fills made, when the venue counts them.
    pub fills: Option<u64>,
    /// Orders open, when the venue counts them.
    pub open_orders: Option<usize>,
}

/// The local exchange's metrics.
pub fn render_exchange(x: &ExchangeFacts) -> String {
    let mut e = Exposition::default();
    e.one(
        "minerva_up",
        Kind::Gauge,
        "1 while the process serves metrics.",
        &[],
        1.0,
    );
    let v = [("venue", x.venue)];
    e.one(
        "minerva_exchange_published_total",
        Kind::Counter,
        "Stream messages published to subscribers.",
        &v,
        x.published as f64,
    );
    e.one(
        "minerva_exchange_signed_requests_total",
        Kind::Counter,
        "Signed requests answered (orders, account, listen keys).",
        &v,
        x.signed as f64,
    );
    e.one(
        "minerva_exchange_sessions",
        Kind::Gauge,
        "WebSocket sessions open.",
        &v,
        x.sessions as f64,
    );
    e.one(
        "minerva_exchange_slow_sessions_total",
        Kind::Counter,
        "Sessions disconnected for reading too slowly.",
        &v,
        x.slow_sessions as f64,
    );
    e.one(
        "minerva_exchange_finished",
        Kind::Gauge,
        "1 once the recording has been served to the end.",
        &v,
        f64::from(u8::from(x.finished)),
    );
    let accounts: [PerItem<ExchangeAccount>; 4] = [
        (
            (
                "minerva_exchange_position",
                Kind::Gauge,
                "The account's position per symbol, quantity.",
            ),
            |a| Some(a.position),
        ),
        (
            (
                "minerva_exchange_wallet",
                Kind::Gauge,
                "The account's wallet per symbol, quote.",
            ),
            |a| Some(a.wallet),
        ),
        (
            (
                "minerva_exchange_fills_total",
                Kind::Counter,
                "Fills made per symbol.",
            ),
            |a| a.fills.map(|f| f as f64),
        ),
        (
            (
                "minerva_exchange_open_orders",
                Kind::Gauge,
                "Orders open per symbol.",
            ),
            |a| a.open_orders.map(|n| n as f64),
        ),
    ];
    for (family, value) in accounts {
        e.per(
            family,
            &v,
            "symbol",
            &x.accounts,
            |a| a.symbol.as_str(),
            value,
        );
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_written_as_the_format_says() {
        let mut e = Exposition::default();
        e.family("m", Kind::Gauge, "a\nb");
        e.sample("m", &[("a", "x\"y\\z\nw")], f64::NAN);
        e.sample("m", &[], f64::INFINITY);
        e.sample("m", &[("k", "v"), ("l", "u")], 2.5);
        assert_eq!(
            e.finish(),
            "# HELP m a\\nb\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\"} NaN\nm +Inf\nm{k=\"v\",l=\"u\"} 2.5\n"
        );
    }

    #[test]
    fn before_the_first_snapshot_only_up_is_served() {
        assert_eq!(
            render_status(None),
            "# HELP minerva_up 1 while the process serves metrics.\n# TYPE minerva_up gauge\nminerva_up 1\n"
        );
    }

    /// Every sample line's name and labels, checked to be unique (a family written
    /// twice, or a series repeated, is refused by Prometheus).
    fn series(page: &str) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut families = std::collections::HashSet::new();
        let mut out = Vec::new();
        for l in page.lines() {
            if let Some(f) = l.strip_prefix("# TYPE ") {
                let name = f.split(' ').next().unwrap().to_string();
                assert!(families.insert(name), "family typed twice: {l}\n{page}");
            } else if !l.starts_with('#') {
                let key = l.rsplit_once(' ').unwrap().0.to_string();
                assert!(seen.insert(key.clone()), "series twice: {key}\n{page}");
                out.push(l.to_string());
            }
        }
        out
    }

    #[test]
    fn a_run_of_several_symbols_has_a_series_per_symbol_and_the_runs_once() {
        let row = |symbol: &str, position: f64| crate::status::SymbolRow {
            symbol: symbol.into(),
            live: true,
            bid: Some(10.0),
            ask: Some(11.0),
            position,
            accepted: 2,
            ..Default::default()
        };
        let s = Status {
            symbol: "BTCUSDT".into(),
            symbols: vec![row("BTCUSDT", 0.5), row("ETHUSDT", -3.0)],
            ..Status::default()
        };
        let lines = series(&render_status(Some(&s)));
        let has = |l: &str| lines.iter().any(|x| x == l);
        assert!(
            has("minerva_position{symbol=\"BTCUSDT\"} 0.5"),
            "{lines:#?}"
        );
        assert!(has("minerva_position{symbol=\"ETHUSDT\"} -3"), "{lines:#?}");
        assert!(
            has("minerva_operations_accepted_total{symbol=\"ETHUSDT\"} 2"),
            "{lines:#?}"
        );
        assert!(
            has("minerva_uptime_seconds{symbol=\"BTCUSDT,ETHUSDT\"} 0"),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("minerva_equity{symbol=\"BTCUSDT,ETHUSDT\"}"))
        );
        // One symbol: the series as before, labelled with it.
        let one = Status {
            symbol: "BTCUSDT".into(),
            ..Status::default()
        };
        let lines = series(&render_status(Some(&one)));
        assert!(
            lines
                .iter()
                .any(|l| l == "minerva_position{symbol=\"BTCUSDT\"} 0")
        );
        assert!(!lines.iter().any(|l| l.starts_with("minerva_pressure")));
    }
}
