//! The live gateway end to end on loopback: `minerva run`'s pipeline on `minerva
//! exchange`'s streams, its orders sent over REST to the exchange, which matches them
//! against the replayed book and reports fills on the user data stream, back into the
//! trader and the risk manager. Checked against the exchange's own account: every
//! fill the exchange made is booked once (none lost, none twice), with or without
//! faults (answers with unknown status, refused signatures, a clock step).

mod common;

use minerva::gateway::audit::AuditHook;
use minerva::local_exchange::Faults;
use minerva::local_exchange::{LocalExchange as Venue, TradingConfig};
use minerva::pipeline::{RunConfig, RunReport, run};
use minerva::store::journal::{Journal, RunInfo, Summary};
use minerva::venues::binance::keys::ApiKeys;
use minerva::venues::binance::link::LinkConfig;
use minerva::venues::binance::sign::Signer;
use std::sync::Arc;
use std::time::Duration;

const CAPITAL_E8: i64 = 100_000 * 100_000_000;

/// A signed GET on the venue with the paper keys (again when the bad-signature
/// fault hits it).
fn signed_get(venue: &Venue, path: &str, params: &str) -> (u16, String) {
    for _ in 0..3 {
        let r = signed_get_once(venue, path, params);
        if !r.1.contains("-1022") {
            return r;
        }
    }
    panic!("three signatures refused in a row")
}

fn signed_get_once(venue: &Venue, path: &str, params: &str) -> (u16, String) {
    let keys = ApiKeys::paper();
    let signer = Signer::new(&keys);
    let time = if path.starts_with("/fapi") {
        "/fapi/v1/time"
    } else {
        "/api/v3/time"
    };
    let ts = server_time(venue, time);
    let mut q = format!("{params}&timestamp={ts}");
    if q.starts_with('&') {
        q.remove(0);
    }
    let sig = signer.sign(q.as_bytes());
    let full = format!(
        "{path}?{q}&signature={}",
        std::str::from_utf8(&sig).unwrap()
    );
    let mut c =
        minerva::net::http::Client::new(&venue.local_addr().to_string(), Duration::from_secs(5));
    let r = c
        .request("GET", &full, b"", &[("X-MBX-APIKEY", keys.api_key())])
        .unwrap();
    (r.status, String::from_utf8(r.body).unwrap())
}

/// The venue's `time` answer (at `path`, spot's or futures'), ms.
fn server_time(venue: &Venue, path: &str) -> i64 {
    let t = minerva::net::http::get(
        &venue.local_addr().to_string(),
        path,
        Duration::from_secs(5),
    )
    .unwrap();
    let t = String::from_utf8(t).unwrap();
    t.trim_start_matches("{\"serverTime\":")
        .trim_end_matches('}')
        .parse()
        .unwrap()
}

/// The quote asset's free balance on the venue's spot account, 10⁻⁸.
fn usdt_free(venue: &Venue) -> i64 {
    let (status, body) = signed_get(venue, "/api/v3/account", "");
    assert_eq!(status, 200, "{body}");
    let at = body.find("\"asset\":\"USDT\",\"free\":\"").unwrap() + 23;
    let v = body[at..].split('"').next().unwrap();
    minerva::core::decimal::parse_scaled(v.as_bytes(), 8).unwrap()
}

fn trade(faults: Faults) -> (RunReport, Venue) {
    let (_, spec) = common::spot_session();
    let venue = common::spot_exchange(
        Some(100.0),
        faults,
        None,
        TradingConfig {
            fees: Some((0, 0)),
            ..TradingConfig::default()
        },
    );
    let source = common::btc_live(&venue, 5000, None, 5);
    trade_on(venue, source, spec)
}

fn trade_on(
    venue: Venue,
    source: minerva::venues::binance::stream::LiveSource,
    spec: minerva::core::SymbolSpec,
) -> (RunReport, Venue) {
    let addr = venue.local_addr().to_string();
    let keys = Arc::new(ApiKeys::paper());
    // The run's audit journal, checked against the exchange below.
    let tmp = common::fresh_dir("live-journal");
    let path = tmp.path().join("journal.db");
    let journal = Arc::new(
        Journal::start(
            &path,
            &RunInfo {
                venue: "local".into(),
                market: spec.market.name().into(),
                symbols: vec![spec.name.to_string()],
                ..RunInfo::default()
            },
        )
        .unwrap(),
    );
    let hook = {
        let j = journal.clone();
        AuditHook(Arc::new(move |s| j.recorder(s)))
    };
    journal.watch_feed(source.stats());
    let cfg = RunConfig {
        audit: Some(hook),
        snapshot_request: Some(source.snapshot_request()),
        live: Some(minerva::venues::LinkConfig::Binance(LinkConfig {
            rest: addr.clone(),
            ws: addr,
            spec: spec.clone(),
            keys: keys.clone(),
            time_sync: Duration::from_secs(1),
            fees: (0, 0),
            fill_wait: Duration::from_millis(200),
            spin: false,
            on_start: Default::default(),
            leverage: None,
            account: Some(journal.account_sink(Duration::from_millis(100))),
        })),
        ..RunConfig::default()
    };
    let r = run(
        source,
        &spec,
        &common::loose_strategy(),
        Signer::new(&keys),
        &cfg,
    )
    .unwrap();
    drop(cfg);
    let sum = Arc::try_unwrap(journal).unwrap().finish().unwrap();
    check_journal(&path, &sum, &r, &venue, &spec);
    (r, venue)
}

/// The journal holds every order the trader sent and every fill the exchange made,
/// with the same quantities, and never the keys.
fn check_journal(
    path: &std::path::Path,
    sum: &Summary,
    r: &RunReport,
    venue: &Venue,
    spec: &minerva::core::SymbolSpec,
) {
    assert_eq!(sum.lost, 0, "{sum:?}");
    assert_eq!(sum.orders, r.trader.requests, "{sum:?}\n{}", r.to_text());
    assert_eq!(sum.fills, r.exchange.fills, "{sum:?}\n{}", r.to_text());
    assert_eq!(
        sum.decisions,
        r.risk.accepted + r.risk.refused,
        "{sum:?}\n{}",
        r.to_text()
    );
    let closed = r.trader.take_profits + r.trader.stops + r.trader.flattened + r.trader.liquidated;
    assert_eq!(sum.operations, closed, "{sum:?}");
    let db = rusqlite::Connection::open(path).unwrap();
    let mut st = db
        .prepare("SELECT qty, price FROM journal_reports WHERE report = 'FILLED'")
        .unwrap();
    let fills: Vec<(String, String)> = st
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let lots: i64 = fills
        .iter()
        .map(|(q, p)| {
            spec.price
                .parse(p.as_bytes())
                .expect("a fill price on the grid");
            spec.qty.parse(q.as_bytes()).unwrap().0
        })
        .sum();
    assert_eq!(
        lots,
        venue.accounts()[0].filled_lots,
        "journaled lots = the exchange's"
    );
    let connects: i64 = db
        .query_row(
            "SELECT count(*) FROM journal_events WHERE kind = 'connect'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(connects >= 1, "connections are journaled");
    // Account snapshots: at start, every 100 ms, on the user stream's account events,
    // and at exit, where the wallet is the exchange's.
    let whys: Vec<(String, Option<String>)> = db
        .prepare("SELECT why, wallet FROM journal_account ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        whys.first().map(|w| w.0.as_str()),
        Some("start"),
        "{whys:?}"
    );
    let (last, wallet) = whys.last().unwrap();
    assert_eq!(last, "exit", "{whys:?}");
    assert!(whys.iter().any(|w| w.0 == "periodic"), "{whys:?}");
    if r.exchange.fills > 0 {
        assert!(whys.iter().any(|w| w.0 == "stream"), "{whys:?}");
    }
    let wallet = minerva::core::Dec8::parse(wallet.as_deref().unwrap().as_bytes()).unwrap();
    assert_eq!(wallet.0, venue.accounts()[0].wallet_e8, "the exit's wallet");
    // Every operation was sized from the capital the run had: the strategy's, or the
    // account's available balance when smaller (3 % per trade, the loose strategy's).
    let margins: Vec<String> = db
        .prepare("SELECT margin FROM journal_decisions WHERE verdict = 'SENT'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let per_trade = r.risk.capital_e8 as i128 * 30_000 / 1_000_000;
    for m in &margins {
        let m = minerva::core::decimal::parse_scaled(m.as_bytes(), 8).unwrap() as i128;
        assert!(
            m <= per_trade,
            "margin {m} over 3 % of {}",
            r.risk.capital_e8
        );
    }
    drop(st);
    drop(db);
    let keys = ApiKeys::paper();
    for p in [path.to_path_buf(), path.with_extension("db-wal")] {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("minerva-paper-secret"),
            "the secret is in {}",
            p.display()
        );
        assert!(
            !text.contains(keys.api_key()),
            "the API key is in {}",
            p.display()
        );
    }
}

/// Every entry ended one way or another, nothing rests on the exchange, and every
/// lot the exchange filled was booked once: same lots, same position. Spot: also
/// through the REST endpoints.
fn check_books(r: &RunReport, venue: &Venue) {
    check_fills(r, venue, 5);
    let (status, open) = signed_get(venue, "/api/v3/openOrders", "symbol=BTCUSDT");
    assert_eq!((status, open.as_str()), (200, "[]"), "{}", r.to_text());
    // The account endpoint agrees with the engine (spot shows a long as base asset).
    let free = usdt_free(venue);
    assert!(free > 0 && free <= CAPITAL_E8 + 1_000_000_000_000, "{free}");
}

/// More than `min` entries and fills, each entry ended (filled, in part, refused or
/// withdrawn), no order open on the exchange, the lots it filled booked once and the
/// positions equal.
fn check_fills(r: &RunReport, venue: &Venue, min: u64) {
    let t = &r.trader;
    assert!(t.entries > min, "{}", r.to_text());
    assert!(r.exchange.fills > min, "{}", r.to_text());
    assert_eq!(
        t.entries,
        t.entries_filled + t.entries_partial + t.entries_rejected + t.entries_withdrawn,
        "{}",
        r.to_text()
    );
    let a = &venue.accounts()[0];
    assert_eq!(a.open_orders, 0, "{}", r.to_text());
    assert_eq!(
        a.filled_lots,
        r.exchange.maker_lots + r.exchange.taker_lots,
        "{a:?}\n{}",
        r.to_text()
    );
    assert_eq!(a.position, r.shutdown.position, "{a:?}\n{}", r.to_text());
}

#[test]
fn orders_fill_on_the_local_exchange_and_come_back_on_the_user_stream() {
    let (r, venue) = trade(Faults::default());
    let l = r.link.as_ref().unwrap();
    let count = |k: &str| l.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert_eq!(count("unknown status"), 0);
    assert_eq!(count("fills without event"), 0, "{}", r.to_text());
    assert!(count("user stream sessions") >= 1);
    assert!(count("time syncs") >= 1);
    assert!(!l.tick_to_wire.is_empty() && !l.order_rtt.is_empty());
    check_books(&r, &venue);
    venue.stop();
}

#[test]
fn new_entries_wait_while_the_user_stream_is_down_and_fills_are_polled() {
    // Every 30,000 published messages (1.5–2.5 s here) the user data stream ends and
    // no listen key is given for 0.6 s (the market streams go on): entries must wait,
    // orders resting meanwhile are polled, no fill is lost or booked twice. (The
    // link's backoff brings the stream back 0.75 s after the drop, before the next.)
    let faults = Faults {
        user_outage: Some((30_000, 600)),
        ..Faults::default()
    };
    let (r, venue) = trade(faults);
    let l = r.link.as_ref().unwrap();
    let count = |k: &str| l.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert!(count("user stream drops") >= 1, "{}", r.to_text());
    assert!(count("user stream sessions") >= 2, "{}", r.to_text());
    assert!(r.trader.held_unheard > 0, "{}", r.to_text());
    assert!(r.refused >= r.trader.held_unheard, "{}", r.to_text());
    assert!(count("queries") > 0, "{}", r.to_text());
    assert_eq!(
        count("orders of unknown fate at exit"),
        0,
        "{}",
        r.to_text()
    );
    check_books(&r, &venue);
    venue.stop();
}

#[test]
fn operations_are_sized_from_a_smaller_account_balance() {
    // The account holds 5,000 USDT; the strategy says 10,000: the run sizes from 5,000.
    let (_, spec) = common::spot_session();
    let venue = common::spot_exchange(
        Some(100.0),
        Faults::default(),
        None,
        TradingConfig {
            capital_e8: 5_000 * 100_000_000,
            fees: Some((0, 0)),
            ..TradingConfig::default()
        },
    );
    let source = common::btc_live(&venue, 5000, None, 5);
    let (r, venue) = trade_on(venue, source, spec);
    assert_eq!(r.risk.capital_e8, 5_000 * 100_000_000, "{}", r.to_text());
    let startup = &r.link.as_ref().unwrap().startup;
    assert!(startup.contains("available balance 5000"), "{startup}");
    assert!(r.trader.entries > 0, "{}", r.to_text());
    check_fills(&r, &venue, 0);
    venue.stop();
}

#[test]
fn no_fill_is_lost_or_booked_twice_under_faults() {
    let faults = Faults {
        // Executed but answered 503: the link must query, not resend.
        unknown_status_every: Some(5),
        // Refused before execution: entries are refused, cancels sent again.
        bad_signature_every: Some(11),
        // The server clock steps 7 s ahead at the first order: -1021 until resynced.
        clock_shift_ms: 7_000,
        // Every market session is closed every 20,000 messages: the feed reconnects
        // and takes a new snapshot while orders rest and fill.
        drop_every: Some(20_000),
        ..Faults::default()
    };
    let (r, venue) = trade(faults);
    let l = r.link.as_ref().unwrap();
    let count = |k: &str| l.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert!(count("unknown status") > 0, "{}", r.to_text());
    assert!(count("queries") > 0, "{}", r.to_text());
    assert!(count("re-stamped") > 0, "{}", r.to_text());
    assert!(r.exchange.rejected > 0, "{}", r.to_text());
    assert!(
        r.book.snapshots > 1,
        "the dropped sessions were reconnected and resynced: {}",
        r.to_text()
    );
    check_books(&r, &venue);
    venue.stop();
}

/// A new order answered 503 may reach the engine after the link's first query found
/// nothing (on Binance, until its `recvWindow` closes). Here every third new order
/// executes 40 ms after its 503: 4 s of the venue's clock at 100×, inside the 5 s
/// window. The link must keep asking until the window closes, not report the order
/// refused, so every lot the exchange filled is booked and the positions agree.
#[test]
fn an_order_reaching_the_engine_after_its_503_is_not_taken_for_refused() {
    let (r, venue) = trade(Faults {
        late_order: Some((3, 40)),
        ..Faults::default()
    });
    let l = r.link.as_ref().unwrap();
    let count = |k: &str| l.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert!(count("unknown status") > 0, "{}", r.to_text());
    assert_eq!(
        count("orders of unknown fate at exit"),
        0,
        "{}",
        r.to_text()
    );
    assert_eq!(
        count("fills of orders reported refused"),
        0,
        "{}",
        r.to_text()
    );
    // Every lot held belongs to an operation the trader follows.
    assert!(
        r.shutdown.open_positions > 0 || r.shutdown.position.0 == 0,
        "{}",
        r.to_text()
    );
    check_books(&r, &venue);
    venue.stop();
}

/// The recorded USD-M session served by a local exchange at `speed` with `faults` and
/// `trading`, and its symbol (`None` without ../shared).
fn usdm_venue(
    speed: f64,
    faults: Faults,
    trading: TradingConfig,
) -> Option<(Venue, minerva::core::SymbolSpec)> {
    let d = common::shared_data()?;
    let u = d.join("hftbacktest-examples/usdm");
    let files = vec![u.join("btcusdt_20240718.gz"), u.join("btcusdt_20240719.gz")];
    let replay = minerva::replay::ReplayOptions::default();
    let spec = minerva::replay::symbol_table(&files, &replay)
        .unwrap()
        .specs()[0]
        .clone();
    assert!(spec.market.is_futures());
    let venue = Venue::start(minerva::local_exchange::Config {
        files,
        replay,
        speed: Some(speed),
        addr: "127.0.0.1:0".parse().unwrap(),
        faults,
        weight_limit: None,
        keys: Arc::new(ApiKeys::paper()),
        trading,
        limits: Default::default(),
        clock: Default::default(),
    })
    .unwrap();
    Some((venue, spec))
}

/// USD-M: one-way futures with leverage, `reduceOnly` take-profit and `STOP_MARKET`
/// exits, `ORDER_TRADE_UPDATE` events, the position read from `positionRisk` at the
/// start and checked against it at the end. At 50×: the venue's clock runs at the
/// replay's speed, so Binance's 5 s `recvWindow` is 100 ms of wall time here, and the
/// market moves half as far while an order travels; at 100× (50 ms) a loaded CI
/// machine once had all five of its entries re-stamped after a -1021 and then refused,
/// leaving too few fills to check.
#[test]
fn usdm_orders_fill_with_reduce_only_exits() {
    let Some((venue, spec)) = usdm_venue(
        50.0,
        Faults {
            unknown_status_every: Some(7),
            ..Faults::default()
        },
        TradingConfig {
            fees: Some((0, 0)),
            ..TradingConfig::default()
        },
    ) else {
        return;
    };
    let source = minerva::venues::binance::stream::LiveSource::new(
        minerva::venues::binance::stream::LiveConfig {
            host: venue.local_addr().to_string(),
            rest: None,
            market: minerva::core::Market::UsdM,
            symbol: "BTCUSDT".into(),
            more_symbols: Vec::new(),
            streams: vec!["depth@0ms".into(), "trade".into()],
            snapshot_limit: 1000,
            max_reconnects: None,
            max_failures_in_a_row: None,
            seed: 9,
            rotate_after: None,
            stale_after: None,
        },
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let (r, venue) = trade_on(venue, source, spec);
    let t = &r.trader;
    check_fills(&r, &venue, 3);
    assert!(
        t.take_profits + t.stops + t.flattened > 0,
        "{}",
        r.to_text()
    );
    let a = &venue.accounts()[0];
    let (status, risk) = signed_get(&venue, "/fapi/v2/positionRisk", "symbol=BTCUSDT");
    assert_eq!(status, 200, "{risk}");
    let qd = 3;
    let amt = minerva::core::decimal::canonical(a.position.0, qd);
    assert!(
        risk.contains(&format!("\"positionAmt\":\"{amt}\"")),
        "{risk}"
    );
    assert!(risk.contains("\"leverage\":\"20\""), "{risk}");
    venue.stop();
}

/// A signed POST on the venue with the paper keys (query-signed, as Binance takes it).
fn signed_post(venue: &Venue, path: &str, params: &str) -> (u16, String) {
    let keys = ApiKeys::paper();
    let ts = server_time(venue, "/fapi/v1/time");
    let q = format!("{params}&timestamp={ts}");
    let sig = Signer::new(&keys).sign(q.as_bytes());
    let body = format!("{q}&signature={}", std::str::from_utf8(&sig).unwrap());
    let mut c =
        minerva::net::http::Client::new(&venue.local_addr().to_string(), Duration::from_secs(5));
    let r = c
        .request(
            "POST",
            path,
            body.as_bytes(),
            &[("X-MBX-APIKEY", keys.api_key())],
        )
        .unwrap();
    (r.status, String::from_utf8(r.body).unwrap())
}

/// A link to the venue at `addr` with the paper keys, `on_start`, and (futures) the
/// leverage to set for a strategy of 10,000 USDT all committable, capped at `max`.
fn start_link(
    addr: &str,
    spec: &minerva::core::SymbolSpec,
    on_start: minerva::venues::OnStart,
    max: Option<u32>,
) -> Result<minerva::venues::binance::link::LiveLink, minerva::venues::binance::link::LinkError> {
    minerva::venues::binance::link::LiveLink::start(LinkConfig {
        rest: addr.to_string(),
        ws: addr.to_string(),
        spec: spec.clone(),
        keys: Arc::new(ApiKeys::paper()),
        time_sync: Duration::from_secs(1),
        fees: (0, 0),
        fill_wait: Duration::from_millis(200),
        spin: false,
        on_start,
        leverage: max.map(|max| minerva::venues::binance::link::LeverageWish {
            max,
            capital_e8: 10_000 * 100_000_000,
            in_use_ppm: 1_000_000,
        }),
        account: None,
    })
}

/// `--on-start`: a position the run did not open is refused (named), adopted, or
/// closed before trading starts.
#[test]
fn a_position_found_at_start_is_refused_adopted_or_flattened() {
    use minerva::venues::OnStart;
    let Some((venue, spec)) = usdm_venue(1.0, Faults::default(), TradingConfig::default()) else {
        return;
    };
    // Someone else's position: a market buy of 0.010.
    let (st, body) = signed_post(
        &venue,
        "/fapi/v1/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=manual1",
    );
    assert_eq!(st, 200, "{body}");
    let held = venue.accounts()[0].position;
    assert!(held.0 > 0);
    // And someone else's resting order.
    let (st, body) = signed_post(
        &venue,
        "/fapi/v1/order",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=20000&newClientOrderId=manual2",
    );
    assert_eq!(st, 200, "{body}");
    let addr = venue.local_addr().to_string();
    let link = |on_start| start_link(&addr, &spec, on_start, None);
    let refused = link(OnStart::Refuse).err().expect("refused").to_string();
    assert!(
        refused.contains(&format!("position {} lots", held.0))
            && refused.contains("manual2")
            && refused.contains("--on-start"),
        "{refused}"
    );
    let adopted = link(OnStart::Adopt).unwrap();
    assert_eq!(adopted.startup().position, held);
    drop(adopted);
    assert_eq!(venue.accounts()[0].position, held, "adopt leaves it");
    let flat = link(OnStart::Flatten).unwrap();
    assert_eq!(flat.startup().position.0, 0);
    drop(flat);
    assert_eq!(venue.accounts()[0].position.0, 0, "flatten closed it");
    assert_eq!(
        venue.accounts()[0].open_orders,
        0,
        "and cancelled the order"
    );
    venue.stop();
}

/// At start a futures link sets isolated margin and the highest leverage up to the
/// strategy's at which its largest position fits the symbol's brackets (the local
/// exchange serves `brackets::local_table`). By hand: 10,000 USDT committed at most
/// (capital 10,000 × `max_capital_in_use` 1) at 125× is 1.25 M of notional, in the
/// 75× band (600,000 – 3 M); at 75× it is 750,000, still there: 75×. With a cap of 20×,
/// 200,000 fits the 100× band: 20×.
#[test]
fn leverage_is_set_within_the_brackets_at_start() {
    let Some((venue, spec)) = usdm_venue(1.0, Faults::default(), TradingConfig::default()) else {
        return;
    };
    let addr = venue.local_addr().to_string();
    let link = |max| start_link(&addr, &spec, Default::default(), Some(max)).unwrap();
    for (max, set) in [(125, 75), (20, 20)] {
        let l = link(max);
        assert_eq!(l.startup().leverage, Some(set));
        assert!(
            l.report()
                .startup
                .contains(&format!("leverage set to {set}×"))
        );
        drop(l);
        let (status, risk) = signed_get(&venue, "/fapi/v2/positionRisk", "symbol=BTCUSDT");
        assert_eq!(status, 200, "{risk}");
        assert!(risk.contains(&format!("\"leverage\":\"{set}\"")), "{risk}");
    }
    // With a position open (adopted), the exchange keeps the account's leverage
    // (-4161): the link starts and sizes at the one it chose.
    let (st, body) = signed_post(
        &venue,
        "/fapi/v1/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=held1",
    );
    assert_eq!(st, 200, "{body}");
    let held = start_link(&addr, &spec, minerva::venues::OnStart::Adopt, Some(5)).unwrap();
    assert_eq!(held.startup().leverage, Some(5));
    drop(held);
    // What the venue answers a client asking for itself: the brackets, and -4046 for
    // a margin type that is already isolated.
    let (status, brackets) = signed_get(&venue, "/fapi/v1/leverageBracket", "symbol=BTCUSDT");
    assert_eq!(status, 200, "{brackets}");
    assert!(
        brackets.starts_with("{\"symbol\":\"BTCUSDT\""),
        "{brackets}"
    );
    let (status, body) = signed_post(
        &venue,
        "/fapi/v1/marginType",
        "symbol=BTCUSDT&marginType=ISOLATED",
    );
    assert_eq!((status, body.contains("-4046")), (400, true), "{body}");
    venue.stop();
}
