//! KuCoin futures end to end without the internet: the shared spot capture rewritten
//! as a linear contract's futures session (`common::kucoin_futures_recording`, from
//! KuCoin's documented futures shapes) replays to the reference replay's book; the
//! local KuCoin venue serves it (futures topics, snapshot, contracts, the futures
//! desk), and Minerva's order link and pipeline trade it — leverage, reduce-only
//! exits, stops on the exchange — with the journal, the link and the venue's
//! position in agreement.

mod common;

use minerva::local_exchange::kucoin::{Config, LocalKucoin};
use minerva::local_exchange::{Faults, Limits};
use minerva::replay::ReplayOptions;
use minerva::venues::kucoin::keys::KucoinKeys;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

const SYMBOL: &str = "BCHSV-USDT";

/// The futures recording in a file, in a directory removed when the guard drops; its
/// contract's name.
fn recording(tag: &str) -> Option<(tempfile::TempDir, String, PathBuf)> {
    let (contract, text) = common::kucoin_futures_recording(SYMBOL)?;
    let dir = common::fresh_dir(&format!("kucoin-futures-{tag}"));
    let file = dir.path().join("recording.txt");
    std::fs::write(&file, text).unwrap();
    Some((dir, contract, file))
}

fn expected_digest(symbol: &str) -> String {
    let dir = common::shared_data().unwrap().join("kucoin-sample");
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    v["replay"][symbol]["final_book_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The contract's book, rebuilt by KuCoin futures' rule (snapshot, then each
/// message at `last + 1`), ends where the reference's spot replay ends: same grid,
/// same levels.
#[test]
fn the_capture_as_a_futures_contract_replays_to_the_reference_book() {
    let Some((_dir, contract, file)) = recording("replay") else {
        return;
    };
    let out = common::minerva_ok(&["replay", "--json", file.to_str().unwrap()]);
    let r: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(r["symbol"], contract.as_str());
    assert_eq!(r["venue"], "kucoin");
    assert_eq!(r["state"], "live");
    assert_eq!(r["gaps"], 0, "{r}");
    assert_eq!(r["decode_errors"], 0, "{r}");
    assert!(r["trades"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(
        r["final_book_sha256"],
        expected_digest(SYMBOL).as_str(),
        "{r}"
    );
}

fn venue(files: Vec<PathBuf>, speed: Option<f64>) -> LocalKucoin {
    LocalKucoin::start(Config {
        files,
        replay: ReplayOptions::default(),
        speed,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        keys: Arc::new(KucoinKeys::paper()),
        limits: Limits::default(),
        trading: Default::default(),
    })
    .unwrap()
}

/// [`venue`] charging no fees (the pipeline tests' PnL is the prices' alone).
fn fee_free_venue(files: Vec<PathBuf>, speed: Option<f64>) -> LocalKucoin {
    LocalKucoin::start(Config {
        files,
        replay: ReplayOptions::default(),
        speed,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        keys: Arc::new(KucoinKeys::paper()),
        limits: Limits::default(),
        trading: minerva::local_exchange::TradingConfig {
            fees: Some((0, 0)),
            ..Default::default()
        },
    })
    .unwrap()
}

/// The contract's best bid and ask on the venue's public top 20 (futures: numbers).
fn top_of_book(rest: &str, contract: &str, spec: &minerva::core::SymbolSpec) -> (i64, i64) {
    let body = minerva::net::http::get(
        rest.trim_start_matches("http://"),
        &format!("/api/v1/level2/depth20?symbol={contract}"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    if v["code"] != "200000" {
        return (0, 0);
    }
    let px = |side: &str| {
        let p = v["data"][side][0][0].to_string();
        spec.price.parse(p.as_bytes()).map_or(0, |t| t.0)
    };
    (px("bids"), px("asks"))
}

/// Minerva's KuCoin link trading the contract on the local venue, request by request:
/// the leverage settled at start (the strategy's cap within the contract's) is what
/// the orders carry; a buy through the ask fills (heard on
/// `/contractMarket/tradeOrders`); a reduce-only stop rests on the exchange, then is
/// cancelled; with a take profit and a stop resting, a reduce-only market sell closes
/// the position and KuCoin ends both exits; another sell finds nothing to close
/// (300009). The link's position is the venue's throughout.
#[test]
fn the_kucoin_futures_link_follows_each_order_to_its_end() {
    use minerva::core::{
        ClientId, Execution, Lots, Market, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide,
        Reject, Report, Ticks,
    };
    use minerva::venues::OrderSigner;
    use minerva::venues::kucoin::stream::FeedConfig;
    let Some((_dir, contract, file)) = recording("link") else {
        return;
    };
    let v = venue(vec![file.clone()], Some(1.0));
    let rest = format!("http://{}", v.local_addr());
    let spec = FeedConfig::new(&rest, Market::UsdM, &contract)
        .fetch_spec()
        .unwrap();
    assert!(spec.market.is_futures());
    let keys = Arc::new(KucoinKeys::paper());
    let terms = Arc::new(minerva::venues::kucoin::orders::FuturesTerms::default());
    let mut link = minerva::venues::LinkConfig::Kucoin(minerva::venues::kucoin::link::LinkConfig {
        rest: rest.clone(),
        spec: spec.clone(),
        keys: keys.clone(),
        time_sync: std::time::Duration::from_secs(1),
        fees: (20_000, 60_000),
        on_start: Default::default(),
        account: None,
        leverage: Some(minerva::venues::link::LeverageWish {
            max: 500,
            capital_e8: 1_000 * 100_000_000,
            in_use_ppm: 500_000,
        }),
        terms: terms.clone(),
    })
    .start()
    .unwrap();
    // The strategy asked 500: the contract allows 100.
    assert_eq!(link.leverage(), Some(100));
    assert_eq!((terms.leverage(), terms.cross()), (100, false));
    assert_eq!(link.available_e8(), Some(100_000 * 100_000_000));
    let signer: OrderSigner = minerva::venues::kucoin::sign::Signer::new(&keys)
        .with_terms(terms.clone())
        .into();
    let t = std::time::Instant::now();
    let (bid, ask) = loop {
        let (b, a) = top_of_book(&rest, &contract, &spec);
        if b > 0 && a > b {
            break (b, a);
        }
        assert!(t.elapsed().as_secs() < 10, "no book");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let send = |link: &mut minerva::venues::LiveLink, cmd: OrderCmd| {
        let req = OrderRequest {
            cmd,
            timestamp_ms: link.now_us() / 1000,
            recv_window_ms: 5_000,
        };
        let wire = signer.encode(&spec, &req).unwrap();
        link.send(&req, &wire, 0);
    };
    let wait = |link: &mut minerva::venues::LiveLink, done: &dyn Fn(&[Execution]) -> bool| {
        let mut got = Vec::new();
        let t = std::time::Instant::now();
        while !done(&got) {
            assert!(t.elapsed().as_secs() < 5, "reports so far: {got:?}");
            link.drain(|e| got.push(*e));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got
    };
    let id = |s: &str| ClientId::from(s).unwrap();
    let order = |c: &str, side, kind, price, qty, reduce_only| {
        OrderCmd::New(NewOrder {
            id: id(c),
            side,
            kind,
            price: Ticks(price),
            qty: Lots(qty),
            reduce_only,
        })
    };
    let tick = spec.price.step().0;
    // 0.01 BSV: a million contracts of 10⁻⁸.
    let qty = 1_000_000 * spec.qty.step().0;
    let filled = |got: &[Execution], c: &str| -> i64 {
        got.iter()
            .filter(|e| e.client_id.as_str() == c)
            .map(|e| match e.report {
                Report::Filled { qty, .. } => qty.0,
                _ => 0,
            })
            .sum()
    };
    let venue_position = || v.accounts().iter().find(|a| a.0 == contract).unwrap().1;
    // 1. A buy through the ask fills in full, as a taker.
    send(
        &mut link,
        order(
            "mnv1e",
            OrderSide::Buy,
            OrderKind::LimitIoc,
            ask + 50 * tick,
            qty,
            false,
        ),
    );
    let got = wait(&mut link, &|g| filled(g, "mnv1e") >= qty);
    assert_eq!(filled(&got, "mnv1e"), qty, "{got:?}");
    assert!(
        got.iter()
            .any(|e| matches!(e.report, Report::Filled { maker: false, fee_e8, .. } if fee_e8 > 0)),
        "{got:?}"
    );
    assert_eq!(link.position(), Lots(qty));
    assert_eq!(venue_position(), Lots(qty));
    // 2. A reduce-only stop far below rests on the exchange, then is cancelled.
    send(
        &mut link,
        order(
            "mnv1s",
            OrderSide::Sell,
            OrderKind::StopMarket,
            bid - 1_000 * tick,
            qty,
            true,
        ),
    );
    wait(&mut link, &|g| {
        g.iter().any(|e| e.report == Report::Accepted)
    });
    send(&mut link, OrderCmd::Cancel(id("mnv1s")));
    wait(&mut link, &|g| {
        g.iter().any(|e| e.report == Report::Canceled)
    });
    // 3. The exits of an operation: a reduce-only take profit far above and a
    // reduce-only stop far below, both resting; a reduce-only market sell closes the
    // position first, and KuCoin ends both exits (nothing left to reduce): the link
    // learns each end without being asked to cancel.
    send(
        &mut link,
        order(
            "mnv1t",
            OrderSide::Sell,
            OrderKind::LimitGtc,
            ask + 1_000 * tick,
            qty,
            true,
        ),
    );
    send(
        &mut link,
        order(
            "mnv2s",
            OrderSide::Sell,
            OrderKind::StopMarket,
            bid - 1_000 * tick,
            qty,
            true,
        ),
    );
    let accepted = |g: &[Execution], c: &str| {
        g.iter()
            .any(|e| e.client_id.as_str() == c && e.report == Report::Accepted)
    };
    wait(&mut link, &|g| accepted(g, "mnv1t") && accepted(g, "mnv2s"));
    send(
        &mut link,
        order("mnv1m", OrderSide::Sell, OrderKind::Market, 0, qty, true),
    );
    let ended = |g: &[Execution], c: &str| {
        g.iter().any(|e| {
            e.client_id.as_str() == c && matches!(e.report, Report::Canceled | Report::Expired)
        })
    };
    let got = wait(&mut link, &|g| {
        filled(g, "mnv1m") >= qty && ended(g, "mnv1t") && ended(g, "mnv2s")
    });
    assert_eq!(filled(&got, "mnv1m"), qty, "{got:?}");
    assert_eq!(link.position(), Lots(0));
    // 4. Another reduce-only sell finds nothing to close.
    send(
        &mut link,
        order("mnv2m", OrderSide::Sell, OrderKind::Market, 0, qty, true),
    );
    let got = wait(&mut link, &|g| !g.is_empty());
    assert_eq!(
        got[0].report,
        Report::Rejected(Reject::ReduceOnly),
        "{got:?}"
    );
    assert_eq!(venue_position(), Lots(0));
    let report = link.report();
    let count = |k: &str| report.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert_eq!(count("malformed answers or events"), 0);
    assert_eq!(
        count("fills without event"),
        0,
        "every fill heard on the private session"
    );
    drop(link);
    v.stop();
}

/// The pipeline trading the contract through the order link: entries sized at the
/// leverage the link settled, each exit a reduce-only take profit and a reduce-only
/// stop resting on the exchange (no stop held by the trader, as on spot). The
/// journal, the link and the venue agree: every order and fill journaled, none lost,
/// the position the journaled fills make is the venue's, the account read at start
/// and at exit with the position's fields.
#[test]
fn the_pipeline_trades_the_contract_through_the_order_link() {
    use minerva::core::Market;
    use minerva::gateway::audit::AuditHook;
    use minerva::pipeline::{RunConfig, run};
    use minerva::store::journal::{Journal, RunInfo};
    use minerva::venues::kucoin::stream::{FeedConfig, KucoinSource};
    use std::sync::atomic::AtomicBool;
    let Some((_dir, contract, file)) = recording("pipeline") else {
        return;
    };
    let v = fee_free_venue(vec![file.clone()], Some(3.0));
    let rest = format!("http://{}", v.local_addr());
    let feed = FeedConfig::new(&rest, Market::UsdM, &contract);
    let spec = feed.fetch_spec().unwrap();
    let source = KucoinSource::new(feed, Arc::new(AtomicBool::new(false)));
    let strategy = minerva::strategy::Strategy::parse(
        include_str!("../strategy_0.toml"),
        &[
            ("market", contract.clone()),
            ("maker_fee", "0".into()),
            ("taker_fee", "0".into()),
            ("short_pressure", "1".into()),
            ("long_pressure", "0.5".into()),
            ("max_concurrent_trades", "20".into()),
            ("void_height", "-1000000".into()),
            ("void_prominence", "0".into()),
            ("bin_ticks", "100".into()),
            ("max_leverage", "5".into()),
        ],
    )
    .unwrap();
    let tmp = common::fresh_dir("kucoin-futures-journal");
    let path = tmp.path().join("journal.db");
    let journal = Arc::new(
        Journal::start(
            &path,
            &RunInfo {
                venue: "kucoin-local".into(),
                market: "usdm".into(),
                symbols: vec![contract.clone()],
                ..RunInfo::default()
            },
        )
        .unwrap(),
    );
    let hook = {
        let j = journal.clone();
        AuditHook(Arc::new(move |s| j.recorder(s)))
    };
    let keys = Arc::new(KucoinKeys::paper());
    let terms = Arc::new(minerva::venues::kucoin::orders::FuturesTerms::default());
    let cfg = RunConfig {
        audit: Some(hook),
        snapshot_request: Some(source.snapshot_request()),
        live: Some(minerva::venues::LinkConfig::Kucoin(
            minerva::venues::kucoin::link::LinkConfig {
                rest: rest.clone(),
                spec: spec.clone(),
                keys: keys.clone(),
                time_sync: std::time::Duration::from_secs(1),
                fees: (0, 0),
                on_start: Default::default(),
                account: Some(journal.account_sink(std::time::Duration::from_millis(200))),
                leverage: Some(minerva::venues::link::LeverageWish {
                    max: strategy.max_leverage,
                    capital_e8: strategy.capital.0,
                    in_use_ppm: strategy.max_capital_in_use_ppm,
                }),
                terms: terms.clone(),
            },
        )),
        ..RunConfig::default()
    };
    let signer = minerva::venues::kucoin::sign::Signer::new(&keys).with_terms(terms.clone());
    let r = run(source, &spec, &strategy, signer, &cfg).unwrap();
    drop(cfg);
    let sum = Arc::try_unwrap(journal).unwrap().finish().unwrap();
    let text = r.to_text();
    let link = r.link.as_ref().expect("a live link's report");
    let count = |k: &str| link.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert_eq!(
        terms.leverage(),
        5,
        "the strategy's cap, within the contract's"
    );
    assert!(r.trader.entries > 0, "{text}");
    assert_eq!(r.trader.encode_errors, 0, "{text}");
    assert_eq!(count("malformed answers or events"), 0, "{text}");
    assert_eq!(sum.lost, 0, "{sum:?}");
    assert_eq!(sum.orders, r.trader.requests, "{sum:?}\n{text}");
    assert_eq!(sum.fills, r.exchange.fills, "{sum:?}\n{text}");
    let db = rusqlite::Connection::open(&path).unwrap();
    // Exits rest on the exchange: reduce-only take profits and stops were sent.
    let kinds: Vec<String> = db
        .prepare("SELECT DISTINCT upper(type) || '/' || reduce_only FROM journal_orders WHERE type IS NOT NULL")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let net = common::journal_net_position(&db, &spec);
    let venue_position = v.accounts().iter().find(|a| a.0 == contract).unwrap().1;
    assert_eq!(
        net, venue_position.0,
        "journaled fills = the venue's position\n{text}"
    );
    let rows: Vec<(String, Option<String>)> = db
        .prepare("SELECT why, position FROM journal_account ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows.first().map(|r| r.0.as_str()),
        Some("start"),
        "{rows:?}"
    );
    assert_eq!(rows.last().map(|r| r.0.as_str()), Some("exit"), "{rows:?}");
    // The account's channels (`/contractAccount/wallet`, `/contract/position`) were
    // heard between them.
    assert!(rows.iter().any(|r| r.0 == "stream"), "{rows:?}");
    // The exit snapshot's position is the venue's (in the base asset).
    let exit_position = rows.last().and_then(|r| r.1.clone()).unwrap();
    assert_eq!(
        spec.qty
            .parse(exit_position.trim_start_matches('-').as_bytes())
            .unwrap()
            .0
            * if exit_position.starts_with('-') {
                -1
            } else {
                1
            },
        venue_position.0,
        "{rows:?}"
    );
    assert!(
        kinds.iter().any(|k| k == "POST_ONLY/0"),
        "entries rest as post-only orders: {kinds:?}"
    );
    drop(db);
    v.stop();
}

/// Two contracts traded live in one process, a link each (`minerva run --source
/// kucoin --symbols A,B`): each link settles its own contract's leverage, and each
/// contract's journalled fills make the venue's position on it. The second contract
/// is the capture's ANKR-BTC rewritten as a linear USDT contract (numbers as they
/// are), served with BCHSV-USDT's by one local venue.
#[test]
fn two_contracts_trade_live_with_a_link_each() {
    use minerva::venues::kucoin::stream::FeedConfig;
    let (Some((a, first)), Some((_, second))) = (
        common::kucoin_futures_recording("BCHSV-USDT"),
        common::kucoin_futures_recording("ANKR-BTC"),
    ) else {
        return;
    };
    let b = "ANKRUSDTM".to_string();
    let second = String::from_utf8(second).unwrap().replace("ANKRBTCM", &b);
    let first = String::from_utf8(first).unwrap();
    // One recording: both contracts in one list, then every line in time order.
    let (list_a, rest_a) = first.split_once('\n').unwrap();
    let (list_b, rest_b) = second.split_once('\n').unwrap();
    let data = |l: &str| -> Value {
        let json = &l[l.find(": {").unwrap() + 2..];
        serde_json::from_str::<Value>(json).unwrap()["data"].clone()
    };
    let mut both = data(list_a).as_array().unwrap().clone();
    both.extend(data(list_b).as_array().unwrap().iter().cloned());
    let head = &list_a[..list_a.find(": {").unwrap()];
    let list = format!(
        "{head}: {}",
        serde_json::json!({"code": "200000", "data": both})
    );
    let secs = |l: &str| -> f64 {
        let t = l.split_once(" -> ").map_or(l, |(_, r)| r);
        t[..t.find(": ").unwrap()].parse().unwrap()
    };
    let mut lines: Vec<&str> = rest_a.lines().chain(rest_b.lines()).collect();
    lines.sort_by(|x, y| secs(x).total_cmp(&secs(y)));
    let tmp = common::fresh_dir("kucoin-two-contracts");
    let file = tmp.path().join("recording.txt");
    std::fs::write(&file, format!("{list}\n{}\n", lines.join("\n"))).unwrap();
    let v = fee_free_venue(vec![file.clone()], Some(3.0));
    let journal = tmp.path().join("journal.db");
    let out = common::minerva_ok(&[
        "run",
        "--source",
        "kucoin",
        "--endpoint",
        "local",
        "--host",
        &v.local_addr().to_string(),
        "--symbols",
        &format!("{a},{b}"),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--journal",
        journal.to_str().unwrap(),
        "--maker-fee",
        "0",
        "--taker-fee",
        "0",
        "--short-pressure",
        "1",
        "--long-pressure",
        "0.5",
        "--max-concurrent-trades",
        "20",
        "--void-height",
        "-1000000",
        "--void-prominence",
        "0",
        "--bin-ticks",
        "100",
        "--max-leverage",
        "5",
    ]);
    let link = out
        .lines()
        .find(|l| l.starts_with("live link:"))
        .unwrap_or_default();
    assert!(
        link.contains(&format!("{a}: clock offset"))
            && link.contains(&format!("{b}: clock offset")),
        "{out}"
    );
    assert!(link.contains("leverage set to 5×"), "{out}");
    assert_eq!(link.matches("leverage set to 5×").count(), 2, "{out}");
    assert!(link.contains(" 0 malformed answers or events"), "{out}");
    // Each contract's journalled fills make the venue's position on it.
    let db = rusqlite::Connection::open(&journal).unwrap();
    let accounts = v.accounts();
    let rest = format!("http://{}", v.local_addr());
    let mut orders_of = Vec::new();
    for name in [&a, &b] {
        let spec = FeedConfig::new(&rest, minerva::core::Market::UsdM, name)
            .fetch_spec()
            .unwrap();
        let venue_position = accounts.iter().find(|x| &x.0 == name).map_or(0, |x| x.1.0);
        assert_eq!(
            common::journal_net_position(&db, &spec),
            venue_position,
            "{name}\n{out}"
        );
        let orders: i64 = db
            .query_row(
                "SELECT count(*) FROM journal_orders WHERE symbol = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        orders_of.push(orders);
    }
    // BCHSV's book presses the loosened oracle; ANKR's (BTC prices on a USDT contract)
    // need not.
    assert!(orders_of[0] > 0, "{out}");
    drop(db);
    v.stop();
}

/// Writes the futures recording to `$MINERVA_OUT` (to try `minerva exchange` and
/// `minerva run` on a KuCoin contract by hand: docs/kucoin.md).
#[test]
#[ignore = "a tool: writes a file"]
fn write_the_futures_recording() {
    let out = std::env::var("MINERVA_OUT").expect("MINERVA_OUT=path");
    let (contract, text) = common::kucoin_futures_recording(SYMBOL).expect("../shared");
    std::fs::write(&out, text).unwrap();
    eprintln!("{contract} → {out}");
}

/// A position found at start, as `--on-start` says: refused by default (named),
/// adopted, or closed at market with KuCoin's `closeOrder`.
#[test]
fn a_position_found_at_start_is_refused_adopted_or_closed() {
    use minerva::core::{
        ClientId, Lots, Market, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Report,
    };
    use minerva::venues::OnStart;
    use minerva::venues::kucoin::stream::FeedConfig;
    let Some((_dir, contract, file)) = recording("onstart") else {
        return;
    };
    let v = venue(vec![file.clone()], Some(1.0));
    let rest = format!("http://{}", v.local_addr());
    let spec = FeedConfig::new(&rest, Market::UsdM, &contract)
        .fetch_spec()
        .unwrap();
    let keys = Arc::new(KucoinKeys::paper());
    let start = |on_start| {
        let terms = Arc::new(minerva::venues::kucoin::orders::FuturesTerms::default());
        minerva::venues::LinkConfig::Kucoin(minerva::venues::kucoin::link::LinkConfig {
            rest: rest.clone(),
            spec: spec.clone(),
            keys: keys.clone(),
            time_sync: std::time::Duration::from_secs(1),
            fees: (0, 0),
            on_start,
            account: None,
            leverage: None,
            terms: terms.clone(),
        })
        .start()
        .map(|l| (l, terms))
    };
    let venue_position = || v.accounts().iter().find(|a| a.0 == contract).unwrap().1;
    // Wait for a book, then buy with a first link and leave the position.
    let t = std::time::Instant::now();
    while top_of_book(&rest, &contract, &spec).0 == 0 {
        assert!(t.elapsed().as_secs() < 10, "no book");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let qty = 1_000_000 * spec.qty.step().0;
    {
        let (mut link, terms) = start(OnStart::Refuse).unwrap();
        let signer = minerva::venues::kucoin::sign::Signer::new(&keys).with_terms(terms);
        let req = OrderRequest {
            cmd: OrderCmd::New(NewOrder {
                id: ClientId::from("mnv9e").unwrap(),
                side: OrderSide::Buy,
                kind: OrderKind::Market,
                price: minerva::core::Ticks(0),
                qty: Lots(qty),
                reduce_only: false,
            }),
            timestamp_ms: link.now_us() / 1000,
            recv_window_ms: 5_000,
        };
        let wire = minerva::venues::kucoin::orders::encode(&signer, &spec, &req).unwrap();
        link.send(&req, &wire, 0);
        let t = std::time::Instant::now();
        let mut filled = false;
        while !filled {
            assert!(t.elapsed().as_secs() < 5, "no fill");
            link.drain(|e| {
                filled |= matches!(
                    e.report,
                    Report::Filled {
                        leaves: Lots(0),
                        ..
                    }
                )
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    assert_eq!(venue_position(), Lots(qty));
    let refused = start(OnStart::Refuse)
        .err()
        .expect("a position not Minerva's is refused");
    assert!(refused.to_string().contains("position"), "{refused}");
    let (adopted, _) = start(OnStart::Adopt).unwrap();
    assert_eq!(adopted.startup().position, Lots(qty));
    drop(adopted);
    let (flat, _) = start(OnStart::Flatten).unwrap();
    let t = std::time::Instant::now();
    while venue_position() != Lots(0) {
        assert!(t.elapsed().as_secs() < 5, "the position was not closed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(flat);
    v.stop();
}
