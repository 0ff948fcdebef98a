//! KuCoin's live path end to end without the internet: the local KuCoin venue
//! (`minerva exchange` on the shared KuCoin capture) serves bullet tokens, the
//! WebSocket session and signed level-2 snapshots; Minerva's KuCoin source connects
//! as it would to KuCoin, and the book it feeds must end exactly where the
//! independent reference replay ends (`EXPECTED.json`'s final digest) — also when the
//! venue leaves out updates (a gap: resync by snapshot) or drops every session (a
//! reconnect with a new token). Third-party KuCoin clients: `tests/client_libraries.rs`.

mod common;

use minerva::book::{Book, BookConfig};
use minerva::core::Market;
use minerva::feed::Source;
use minerva::local_exchange::kucoin::{Config, LocalKucoin};
use minerva::local_exchange::{Faults, Limits};
use minerva::replay::ReplayOptions;
use minerva::venues::kucoin::keys::KucoinKeys;
use minerva::venues::kucoin::stream::{FeedConfig, KucoinSource};
use minerva::venues::wire::Decoded;
use minerva::venues::{MarketDecoder, Venue, parse_depth_snapshot};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const SYMBOL: &str = "BCHSV-USDT";

fn files() -> Option<Vec<PathBuf>> {
    let dir = common::shared_data()?.join("kucoin-sample");
    Some(
        ["KUCOIN.ws.1.0", "KUCOIN.http.0.0", "KUCOIN.0"]
            .iter()
            .map(|f| dir.join(f))
            .collect(),
    )
}

fn expected_digest(symbol: &str) -> String {
    let dir = common::shared_data().unwrap().join("kucoin-sample");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    v["replay"][symbol]["final_book_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

fn venue(files: Vec<PathBuf>, faults: Faults, speed: Option<f64>) -> LocalKucoin {
    LocalKucoin::start(Config {
        files,
        replay: ReplayOptions::default(),
        speed,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults,
        keys: Arc::new(KucoinKeys::paper()),
        limits: Limits::default(),
        trading: Default::default(),
    })
    .unwrap()
}

/// What a client's book saw, and how the source got there.
struct Followed {
    digest: String,
    trades: u64,
    applied: u64,
    gaps: u64,
    connects: u64,
    snapshots: u64,
    failures: u64,
}

/// Minerva's KuCoin source on `venue`, its frames decoded into a book as the
/// pipeline's feed and book stages do (a gap raises the snapshot request), to the end
/// of the recording.
fn follow(venue: &LocalKucoin) -> Followed {
    follow_book(venue, false)
}

/// [`follow`], the book from the classic level-2 topics or (`obu`) from the unified
/// account's session on the venue's `/`.
fn follow_book(venue: &LocalKucoin, obu: bool) -> Followed {
    let mut cfg = FeedConfig::new(
        &format!("http://{}", venue.local_addr()),
        Market::Spot,
        SYMBOL,
    );
    if obu {
        cfg.uta = Some(format!("ws://{}/", venue.local_addr()));
    }
    cfg.keys = Some(Arc::new(KucoinKeys::paper()));
    cfg.max_reconnects = Some(50);
    let spec = cfg.fetch_spec().unwrap();
    assert_eq!(spec.venue, Venue::Kucoin);
    let stop = Arc::new(AtomicBool::new(false));
    let mut source = KucoinSource::new(cfg, stop);
    let request = source.snapshot_request();
    let stats = source.stats();
    let mut decoder = MarketDecoder::for_symbol(&spec);
    let mut book = Book::new(&spec, &BookConfig::default());
    let mut trades = 0;
    while let Some(f) = source.next_frame() {
        let r = decoder.decode(f.bytes, f.recv_ns, &mut |ev| {
            trades += u64::from(matches!(ev.body, minerva::core::EventBody::Trade(_)));
            book.on_event(ev)
        });
        match r {
            Ok(Decoded::Snapshot { .. }) => {
                let snap = parse_depth_snapshot(Venue::Kucoin, f.bytes, &spec).unwrap();
                book.apply_snapshot(&snap);
            }
            Ok(_) => {}
            Err(e) => panic!("decode error {e}: {}", String::from_utf8_lossy(f.bytes)),
        }
        if book.needs_snapshot() {
            request.store(true, Ordering::Relaxed);
        }
    }
    let st = book.stats();
    Followed {
        digest: book.digest().sha256,
        trades,
        applied: st.applied,
        gaps: st.gaps,
        connects: stats.connects.load(Ordering::Relaxed),
        snapshots: stats.snapshots.load(Ordering::Relaxed),
        failures: stats.failures.load(Ordering::Relaxed),
    }
}

#[test]
fn the_kucoin_source_follows_the_local_venue_to_the_reference_book() {
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(20.0));
    let f = follow(&v);
    assert!(
        v.finished(),
        "the source ends when the venue has served all"
    );
    assert_eq!(f.digest, expected_digest(SYMBOL));
    assert_eq!(f.gaps, 0);
    assert_eq!(f.snapshots, 1);
    // The end is the venue's close (`SERVED`), not a refused reconnection.
    assert_eq!(f.failures, 0, "the end of the data is not a failure");
    assert!(f.applied > 2_000, "{} updates applied", f.applied);
    // The venue's own books end where the reference does, for every symbol.
    for (symbol, sha) in v.digests() {
        assert_eq!(sha, expected_digest(&symbol), "{symbol}");
    }
    v.stop();
}

/// The unified account's `obu` book (a snapshot on the stream, then 10 ms deltas of
/// the top 500 levels computed by the venue from its own book) and its `trade`
/// channel: the client's book ends on the reference's (BCHSV-USDT holds fewer than
/// 500 levels a side, so the top 500 is the whole book).
#[test]
fn the_kucoin_source_over_obu_follows_the_local_venue_to_the_reference_book() {
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(20.0));
    let f = follow_book(&v, true);
    assert!(v.finished());
    assert_eq!(f.digest, expected_digest(SYMBOL));
    assert_eq!(f.gaps, 0);
    assert_eq!(f.snapshots, 1, "one subscription, one snapshot");
    assert!(f.applied > 200, "{} deltas applied", f.applied);
    assert!(f.trades > 0, "trades came on the trade channel");
    v.stop();
}

/// A recording of `obu` pushes (the capture rewritten as KuCoin's unified session
/// would have sent it, `common::kucoin_obu_session`) served by the local venue: its
/// book comes from the snapshot on the stream, and a client over `obu` ends on the
/// reference digest.
#[test]
fn the_local_venue_serves_an_obu_recording() {
    let Some((lines, _)) = common::kucoin_obu_session(SYMBOL) else {
        return;
    };
    let tmp = common::fresh_dir("obu-serve");
    let file = tmp.path().join("obu.txt");
    common::write_timed_lines(&file, &lines);
    let list = files().unwrap().pop().unwrap(); // KUCOIN.0: the grids
    let v = venue(vec![file.clone(), list], Faults::default(), Some(20.0));
    let f = follow_book(&v, true);
    assert_eq!(f.digest, expected_digest(SYMBOL));
    assert_eq!(f.gaps, 0);
    assert!(
        f.applied > 200 && f.trades > 0,
        "{} deltas, {} trades",
        f.applied,
        f.trades
    );
    v.stop();
}

/// A gap in the deltas (the venue leaves some out) reopens the session: the new
/// subscription's snapshot heals the book.
#[test]
fn an_obu_gap_is_healed_by_a_new_subscription() {
    let Some(files) = files() else { return };
    let faults = Faults {
        skip_depth_every: Some(97),
        ..Faults::default()
    };
    let v = venue(files, faults, Some(20.0));
    let f = follow_book(&v, true);
    assert!(f.gaps >= 1, "the left-out deltas are seen as gaps");
    assert!(
        f.connects >= 2 && f.snapshots >= 2,
        "each gap reopens the session"
    );
    assert_eq!(f.digest, expected_digest(SYMBOL));
    v.stop();
}

#[test]
fn a_gap_is_healed_by_a_fresh_snapshot() {
    let Some(files) = files() else { return };
    let faults = Faults {
        skip_depth_every: Some(97),
        ..Faults::default()
    };
    let v = venue(files, faults, Some(20.0));
    let f = follow(&v);
    assert!(f.gaps >= 1, "the left-out updates are seen as gaps");
    assert!(f.snapshots >= 2, "each gap is healed by a snapshot");
    assert_eq!(f.digest, expected_digest(SYMBOL));
    v.stop();
}

#[test]
fn a_dropped_session_is_reopened_with_a_new_token_and_resynchronised() {
    let Some(files) = files() else { return };
    let faults = Faults {
        drop_every: Some(800),
        ..Faults::default()
    };
    let v = venue(files, faults, Some(10.0));
    let f = follow(&v);
    assert!(f.connects >= 2, "{} connections", f.connects);
    assert!(f.snapshots >= 2);
    assert_eq!(f.digest, expected_digest(SYMBOL));
    v.stop();
}

/// A venue whose clock is a minute ahead of ours (KuCoin refuses a signature more
/// than 5 s off): the source reads KuCoin's time at each connection and signs with
/// it, so the signed snapshot is accepted the first time.
#[test]
fn signing_follows_the_venues_clock() {
    let Some(files) = files() else { return };
    let faults = Faults {
        clock_shift_ms: 60_000,
        ..Faults::default()
    };
    let v = venue(files, faults, Some(20.0));
    let f = follow(&v);
    // The data ends with the venue's close (`SERVED`, no failure); a refused signed
    // snapshot would be one.
    assert_eq!(f.failures, 0, "no refused snapshot");
    assert_eq!(f.snapshots, 1);
    assert_eq!(f.digest, expected_digest(SYMBOL));
    v.stop();
}

/// An unknown symbol is refused at the subscription, and the source says so and ends
/// (no endless reconnecting).
#[test]
fn an_unknown_symbol_ends_the_source_with_the_reason() {
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(1.0));
    let mut cfg = FeedConfig::new(
        &format!("http://{}", v.local_addr()),
        Market::Spot,
        "NOPE-USDT",
    );
    assert!(
        cfg.fetch_spec()
            .unwrap_err()
            .to_string()
            .contains("NOPE-USDT is not listed")
    );
    cfg.max_reconnects = Some(3);
    let mut source = KucoinSource::new(cfg, Arc::new(AtomicBool::new(false)));
    let stats = source.stats();
    assert!(source.next_frame().is_none());
    assert!(stats.gave_up.load(Ordering::Relaxed));
    v.stop();
}

/// Wrong keys cost depth, not the feed: the signed snapshot is refused (KuCoin's
/// 400005), the source falls back to the public top 100 and the book syncs.
#[test]
fn wrong_keys_fall_back_to_the_public_snapshot() {
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(20.0));
    let mut cfg = FeedConfig::new(&format!("http://{}", v.local_addr()), Market::Spot, SYMBOL);
    cfg.keys = Some(Arc::new(KucoinKeys::new(
        "minerva-paper".into(),
        b"a-wrong-secret".to_vec(),
        b"minerva-paper-passphrase".to_vec(),
    )));
    cfg.max_reconnects = Some(5);
    let spec = cfg.fetch_spec().unwrap();
    let mut source = KucoinSource::new(cfg, Arc::new(AtomicBool::new(false)));
    let stats = source.stats();
    let mut decoder = MarketDecoder::for_symbol(&spec);
    let mut book = Book::new(&spec, &BookConfig::default());
    let mut frames = 0;
    while let Some(f) = source.next_frame() {
        if let Ok(Decoded::Snapshot { .. }) =
            decoder.decode(f.bytes, f.recv_ns, &mut |ev| book.on_event(ev))
        {
            book.apply_snapshot(&parse_depth_snapshot(Venue::Kucoin, f.bytes, &spec).unwrap());
        }
        frames += 1;
        if frames > 300 {
            break;
        }
    }
    assert_eq!(stats.failures.load(Ordering::Relaxed), 1, "one refusal");
    assert_eq!(stats.snapshots.load(Ordering::Relaxed), 1);
    assert!(book.stats().applied > 100);
    v.stop();
}

/// `minerva exchange` on KuCoin data serves KuCoin's protocol (detected), and `minerva
/// run --source kucoin --endpoint local` trades on it as a user runs it: KuCoin's feed,
/// orders through the KuCoin link, the run journaled.
#[test]
fn minerva_run_trades_on_the_local_kucoin_venue() {
    let Some(files) = files() else { return };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut exchange = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["exchange", "--speed", "10", "--linger", "0", "--port"])
        .arg(port.to_string())
        .arg("--data")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the banner's port to answer.
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed().as_secs() < 30, "the venue did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tmp = common::fresh_dir("kucoin-run");
    let journal = tmp.path().join("journal.db");
    let out = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["run", "--source", "kucoin", "--endpoint", "local"])
        .args(["--host", &format!("127.0.0.1:{port}"), "--journal"])
        .arg(&journal)
        .args(["--strategy", &common::repo("strategy_0.toml")])
        .args([
            "--market",
            SYMBOL,
            "--short-pressure",
            "1",
            "--long-pressure",
            "0.5",
        ])
        .args([
            "--void-height",
            "-1000000",
            "--void-prominence",
            "0",
            "--bin-ticks",
            "100",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" 0 decode errors"), "{text}");
    assert!(text.contains(", 0 gaps"), "{text}");
    let evaluations: u64 = text
        .split("signal: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(evaluations > 1_000, "{text}");
    // Orders went through the KuCoin link: sent, answered, journaled as KuCoin's.
    assert!(text.contains("exchange (live)"), "{text}");
    assert!(text.contains("live link: clock offset"), "{text}");
    assert!(text.contains(" 0 malformed answers or events"), "{text}");
    let db = rusqlite::Connection::open(&journal).unwrap();
    let (venue, orders): (String, i64) = db
        .query_row(
            "SELECT venue, (SELECT count(*) FROM journal_orders) FROM journal_runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(venue, "kucoin-local");
    assert!(orders > 0, "{text}");
    drop(db);
    let _ = exchange.wait();
    let served = String::from_utf8_lossy(&{
        let mut s = Vec::new();
        use std::io::Read;
        exchange.stdout.take().unwrap().read_to_end(&mut s).unwrap();
        s
    })
    .into_owned();
    assert!(
        served.contains("as KuCoin: ") && served.contains("spot symbol(s), 0 futures contract(s)"),
        "{served}"
    );
    assert!(
        served.contains(&format!(
            "book {SYMBOL}: sha256 {}",
            expected_digest(SYMBOL)
        )),
        "{served}"
    );
}

/// `minerva run --source kucoin` refuses live orders unconfirmed and a sandbox
/// KuCoin does not have, clearly.
#[test]
fn kucoin_orders_and_testnet_are_refused_with_the_reason() {
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_minerva"))
            .args(["run", "--source", "kucoin", "--strategy"])
            .arg(common::repo("strategy_0.toml"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(&["--endpoint", "live"]).contains("--i-mean-it"));
    assert!(run(&["--paper", "--endpoint", "testnet"]).contains("KuCoin has no sandbox"));
}

/// Starts `minerva exchange` on the capture with `extra` flags; its port.
fn exchange_process(files: &[PathBuf], extra: &[&str]) -> (std::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["exchange", "--linger", "0", "--port"])
        .arg(port.to_string())
        .args(extra)
        .arg("--data")
        .args(files)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed().as_secs() < 30, "the venue did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, port)
}

/// `minerva record --venue kucoin` into a database, then `minerva replay` of it: both
/// symbols' books end at the reference digests — from the classic level-2 topics or
/// the unified account's `obu` pushes, also when the venue leaves out updates (the
/// recorder sees the gap, stores it and asks for a snapshot, so the recording replays
/// through it).
#[test]
fn a_kucoin_recording_replays_to_the_reference_books() {
    let Some(files) = files() else { return };
    let cases = [
        ("level2", None),
        ("level2", Some("skip-depth=97")),
        ("obu", None),
        ("obu", Some("skip-depth=97")),
    ];
    for (book, fault) in cases {
        let mut extra = vec!["--speed", "10"];
        if let Some(f) = fault {
            extra.extend(["--fault", f]);
        }
        let (mut exchange, port) = exchange_process(&files, &extra);
        let tmp = common::fresh_dir(&format!("kucoin-record-{book}-{}", fault.is_some()));
        let db = tmp.path().join("kucoin.db");
        let out = Command::new(env!("CARGO_BIN_EXE_minerva"))
            .args([
                "record",
                "--venue",
                "kucoin",
                "--symbols",
                "BCHSV-USDT,ANKR-BTC",
                "--kucoin-book",
                book,
            ])
            .args(["--host", &format!("127.0.0.1:{port}"), "--db"])
            .arg(&db)
            .output()
            .unwrap();
        let _ = exchange.wait();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("sessions [1, 2]"), "{text}");
        let replay = Command::new(env!("CARGO_BIN_EXE_minerva"))
            .arg("replay")
            .arg(&db)
            .arg("--json")
            .output()
            .unwrap();
        assert!(replay.status.success());
        let mut seen = 0;
        for line in String::from_utf8_lossy(&replay.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let sym = v["symbol"].as_str().unwrap();
            assert_eq!(
                v["final_book_sha256"].as_str().unwrap(),
                expected_digest(sym),
                "{sym} from {book} with fault {fault:?}"
            );
            assert_eq!(v["venue"], "kucoin");
            if fault.is_some() && sym == SYMBOL {
                assert!(v["gaps"].as_u64().unwrap() >= 1, "{v}");
                assert!(v["snapshots"].as_u64().unwrap() >= 2, "{v}");
            }
            seen += 1;
        }
        assert_eq!(seen, 2);
    }
}

/// The local venue's desk keeps KuCoin's rules: a post-only order that would take is
/// accepted and then cancelled (not refused); a clientOid still open is refused; an
/// unknown symbol is `900001`; an unsigned order is `400001`; GTT is refused with the
/// reason; a filled market buy shows in the order and the balances.
#[test]
fn the_local_venues_desk_keeps_kucoins_order_rules() {
    use minerva::net::http::Client;
    use minerva::venues::kucoin::sign::{Signer, headers};
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(1.0));
    let keys = KucoinKeys::paper();
    let signer = Signer::new(&keys);
    let mut c = Client::new(
        &format!("http://{}", v.local_addr()),
        std::time::Duration::from_secs(5),
    );
    let mut call = |method: &str, path: &str, body: &str| -> serde_json::Value {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let h = headers(&signer, &keys, ts, method, path, body.as_bytes());
        let mut refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        refs.push(("Content-Type", "application/json"));
        let a = c.request(method, path, body.as_bytes(), &refs).unwrap();
        serde_json::from_slice(&a.body).unwrap()
    };
    // The replay starts with a subscriber's snapshot: take one.
    let book = call(
        "GET",
        &format!("/api/v3/market/orderbook/level2?symbol={SYMBOL}"),
        "",
    );
    let ask: f64 = book["data"]["asks"][0][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let place = |side: &str, extra: &str| {
        format!(
            r#"{{"clientOid":"t-{side}-{extra_len}","side":"{side}","symbol":"{SYMBOL}","type":"limit","price":"{:.3}","size":"0.5"{extra}}}"#,
            ask * 1.05,
            extra_len = extra.len()
        )
    };
    let taking = call(
        "POST",
        "/api/v1/hf/orders",
        &place("buy", r#","postOnly":true"#),
    );
    assert_eq!(taking["code"], "200000", "{taking}");
    let id = taking["data"]["orderId"].as_str().unwrap().to_string();
    let got = call(
        "GET",
        &format!("/api/v1/hf/orders/{id}?symbol={SYMBOL}"),
        "",
    );
    assert_eq!(got["data"]["active"], false, "{got}");
    assert_eq!(
        got["data"]["cancelExist"], true,
        "post-only that would take: cancelled"
    );
    assert_eq!(got["data"]["dealSize"], "0");
    // A resting order, then the same clientOid again.
    let rest = format!(
        r#"{{"clientOid":"rest-1","side":"buy","symbol":"{SYMBOL}","type":"limit","price":"{:.3}","size":"0.5","postOnly":true}}"#,
        ask * 0.8
    );
    assert_eq!(call("POST", "/api/v1/hf/orders", &rest)["code"], "200000");
    let dup = call("POST", "/api/v1/hf/orders", &rest);
    assert_eq!(dup["code"], "400100", "{dup}");
    let unknown = call(
        "POST",
        "/api/v1/hf/orders",
        &rest.replace(SYMBOL, "NOPE-USDT"),
    );
    assert_eq!(unknown["code"], "900001");
    let gtt = call(
        "POST",
        "/api/v1/hf/orders",
        &rest
            .replace("rest-1", "gtt")
            .replace(r#","postOnly":true"#, r#","timeInForce":"GTT""#),
    );
    assert_eq!(gtt["code"], "400100");
    assert!(gtt["msg"].as_str().unwrap().contains("GTT"), "{gtt}");
    let cancelled = call(
        "DELETE",
        &format!("/api/v1/hf/orders/client-order/rest-1?symbol={SYMBOL}"),
        "",
    );
    assert_eq!(cancelled["data"]["clientOid"], "rest-1", "{cancelled}");
    // A market buy fills, and the balances show it.
    let buy = format!(
        r#"{{"clientOid":"mkt-1","side":"buy","symbol":"{SYMBOL}","type":"market","size":"0.3"}}"#
    );
    assert_eq!(call("POST", "/api/v1/hf/orders", &buy)["code"], "200000");
    let got = call(
        "GET",
        &format!("/api/v1/hf/orders/client-order/mkt-1?symbol={SYMBOL}"),
        "",
    );
    assert_eq!(got["data"]["dealSize"], "0.3", "{got}");
    let balances = call("GET", "/api/v1/accounts?type=trade_hf", "");
    let bsv = balances["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "BCHSV")
        .unwrap();
    assert_eq!(bsv["balance"], "0.3");
    // Unsigned: refused.
    let a = c
        .request(
            "POST",
            "/api/v1/hf/orders",
            buy.as_bytes(),
            &[("Content-Type", "application/json")],
        )
        .unwrap();
    assert_eq!(a.status, 401);
    assert!(String::from_utf8_lossy(&a.body).contains("400001"));
    v.stop();
}

/// The pipeline trades on the local KuCoin venue through Minerva's KuCoin order link:
/// HF orders signed on the gateway thread as KuCoin checks them, fills heard on the
/// private session (`orderChange`), stops held by the trader. The journal, the link
/// and the venue's account agree: every order and fill journaled, none lost, the
/// position the fills make is the venue's, the account read at start and at exit.
#[test]
fn the_pipeline_trades_on_the_local_kucoin_venue_through_the_order_link() {
    use minerva::gateway::audit::AuditHook;
    use minerva::pipeline::{RunConfig, run};
    use minerva::store::journal::{Journal, RunInfo};
    let Some(files) = files() else { return };
    let v = LocalKucoin::start(Config {
        files,
        replay: ReplayOptions::default(),
        speed: Some(3.0),
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        keys: Arc::new(KucoinKeys::paper()),
        limits: Limits::default(),
        trading: minerva::local_exchange::TradingConfig {
            fees: Some((0, 0)),
            ..Default::default()
        },
    })
    .unwrap();
    let rest = format!("http://{}", v.local_addr());
    let mut feed = FeedConfig::new(&rest, Market::Spot, SYMBOL);
    feed.keys = Some(Arc::new(KucoinKeys::paper()));
    let spec = feed.fetch_spec().unwrap();
    let source = KucoinSource::new(feed, Arc::new(AtomicBool::new(false)));
    let strategy = minerva::strategy::Strategy::parse(
        include_str!("../strategy_0.toml"),
        &[
            ("market", SYMBOL.into()),
            ("maker_fee", "0".into()),
            ("taker_fee", "0".into()),
            ("short_pressure", "1".into()),
            ("long_pressure", "0.5".into()),
            ("max_concurrent_trades", "20".into()),
            ("void_height", "-1000000".into()),
            ("void_prominence", "0".into()),
            ("bin_ticks", "100".into()),
        ],
    )
    .unwrap();
    let tmp = common::fresh_dir("kucoin-journal");
    let path = tmp.path().join("journal.db");
    let journal = Arc::new(
        Journal::start(
            &path,
            &RunInfo {
                venue: "kucoin-local".into(),
                market: "spot".into(),
                symbols: vec![SYMBOL.into()],
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
                leverage: None,
                terms: Default::default(),
            },
        )),
        ..RunConfig::default()
    };
    let signer = minerva::venues::kucoin::sign::Signer::new(&keys);
    let r = run(source, &spec, &strategy, signer, &cfg).unwrap();
    drop(cfg);
    let sum = Arc::try_unwrap(journal).unwrap().finish().unwrap();
    let text = r.to_text();
    let link = r.link.as_ref().expect("a live link's report");
    let count = |k: &str| link.counters.iter().find(|c| c.0 == k).unwrap().1;
    assert!(r.trader.entries > 0, "{text}");
    assert!(
        r.trader.requests > r.trader.entries,
        "entries and their cancels: {text}"
    );
    assert_eq!(r.trader.encode_errors, 0, "{text}");
    assert_eq!(count("malformed answers or events"), 0, "{text}");
    assert!(count("user stream sessions") >= 1, "{text}");
    assert_eq!(sum.lost, 0, "{sum:?}");
    assert_eq!(sum.orders, r.trader.requests, "{sum:?}\n{text}");
    assert_eq!(sum.fills, r.exchange.fills, "{sum:?}\n{text}");
    // The position the journaled fills make is the venue's.
    let db = rusqlite::Connection::open(&path).unwrap();
    let net = common::journal_net_position(&db, &spec);
    let accounts = v.accounts();
    let venue_position = accounts.iter().find(|a| a.0 == SYMBOL).unwrap().1;
    assert_eq!(
        net, venue_position.0,
        "journaled fills = the venue's position\n{text}"
    );
    let whys: Vec<String> = db
        .prepare("SELECT why FROM journal_account ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(whys.first().map(String::as_str), Some("start"), "{whys:?}");
    assert_eq!(whys.last().map(String::as_str), Some("exit"), "{whys:?}");
    // Balance changes heard on `/account/balance` between them.
    assert!(whys.iter().any(|w| w == "stream"), "{whys:?}");
    drop(db);
    v.stop();
}

/// The best bid and ask the venue shows now (its public top 20).
fn top_of_book(rest: &str, spec: &minerva::core::SymbolSpec) -> (i64, i64) {
    let body = minerva::net::http::get(
        rest.trim_start_matches("http://"),
        &format!("/api/v1/market/orderbook/level2_20?symbol={SYMBOL}"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let px = |side: &str| {
        let p = v["data"][side][0][0].as_str().unwrap();
        spec.price.parse(p.as_bytes()).unwrap().0
    };
    (px("bids"), px("asks"))
}

/// Minerva's KuCoin spot order link on the venue at `rest` (0.1 % fees each way),
/// its clock synced every `time_sync_s` seconds.
fn spot_link(
    rest: &str,
    spec: &minerva::core::SymbolSpec,
    keys: &Arc<KucoinKeys>,
    time_sync_s: u64,
) -> minerva::venues::LiveLink {
    minerva::venues::LinkConfig::Kucoin(minerva::venues::kucoin::link::LinkConfig {
        rest: rest.to_string(),
        spec: spec.clone(),
        keys: keys.clone(),
        time_sync: std::time::Duration::from_secs(time_sync_s),
        fees: (100_000, 100_000),
        on_start: Default::default(),
        account: None,
        leverage: None,
        terms: Default::default(),
    })
    .start()
    .unwrap()
}

/// Minerva's KuCoin order link against the local venue, request by request: a
/// marketable limit fills (heard on the private session), a resting post-only order
/// is accepted then cancelled, a market sell closes the position, a second one is
/// refused as KuCoin refuses an oversell (200004) — and the link's position is the
/// venue's at every step.
#[test]
fn the_kucoin_order_link_follows_each_order_to_its_end() {
    use minerva::core::{
        ClientId, Execution, Lots, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Reject,
        Report, Ticks,
    };
    use minerva::venues::OrderSigner;
    let Some(files) = files() else { return };
    let v = venue(files, Faults::default(), Some(1.0));
    let rest = format!("http://{}", v.local_addr());
    let mut feed = FeedConfig::new(&rest, Market::Spot, SYMBOL);
    feed.keys = Some(Arc::new(KucoinKeys::paper()));
    let spec = feed.fetch_spec().unwrap();
    let keys = Arc::new(KucoinKeys::paper());
    let mut link = spot_link(&rest, &spec, &keys, 1);
    assert_eq!(link.available_e8(), Some(100_000 * 100_000_000));
    let signer: OrderSigner = minerva::venues::kucoin::sign::Signer::new(&keys).into();
    // Wait for the replay to have a book on both sides.
    let t = std::time::Instant::now();
    let (bid, ask) = loop {
        let (b, a) = top_of_book(&rest, &spec);
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
    // Reports until `done` says the last one came (5 s at most).
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
    let order = |c: &str, side, kind, price, qty| {
        OrderCmd::New(NewOrder {
            id: id(c),
            side,
            kind,
            price: Ticks(price),
            qty: Lots(qty),
            reduce_only: false,
        })
    };
    // Prices and sizes on KuCoin's increments (the book's grid may be finer).
    let tick = spec.price.step().0;
    let lot = spec.qty.step().0;
    let qty = (2 * spec.min_qty.0 / lot.max(1) + 1) * lot.max(1);
    let filled = |got: &[Execution], c: &str| -> i64 {
        got.iter()
            .filter(|e| e.client_id.as_str() == c)
            .map(|e| match e.report {
                Report::Filled { qty, .. } => qty.0,
                _ => 0,
            })
            .sum()
    };
    // 1. A buy through the ask fills in full.
    send(
        &mut link,
        order(
            "mnv1e",
            OrderSide::Buy,
            OrderKind::LimitIoc,
            ask + 50 * tick,
            qty,
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
    // 2. A post-only buy far below rests, then is cancelled.
    send(
        &mut link,
        order(
            "mnv2e",
            OrderSide::Buy,
            OrderKind::PostOnly,
            bid - 1_000 * tick,
            qty,
        ),
    );
    wait(&mut link, &|g| {
        g.iter().any(|e| e.report == Report::Accepted)
    });
    send(&mut link, OrderCmd::Cancel(id("mnv2e")));
    wait(&mut link, &|g| {
        g.iter().any(|e| e.report == Report::Canceled)
    });
    // 3. A market sell closes the position; 4. a second one is an oversell.
    send(
        &mut link,
        order("mnv3m", OrderSide::Sell, OrderKind::Market, 0, qty),
    );
    let got = wait(&mut link, &|g| filled(g, "mnv3m") >= qty);
    assert_eq!(filled(&got, "mnv3m"), qty, "{got:?}");
    assert_eq!(link.position(), Lots(0));
    send(
        &mut link,
        order("mnv4m", OrderSide::Sell, OrderKind::Market, 0, qty),
    );
    let got = wait(&mut link, &|g| !g.is_empty());
    assert_eq!(
        got[0].report,
        Report::Rejected(Reject::InsufficientMargin),
        "{got:?}"
    );
    let venue_position = v.accounts().iter().find(|a| a.0 == SYMBOL).unwrap().1;
    assert_eq!(venue_position, link.position());
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

/// No fill lost or booked twice when KuCoin misbehaves: orders executed but answered
/// 503 (the link queries, never resends), orders answered 503 and executed later
/// (the link asks until their window closes, not calling them refused), requests
/// refused 400005 unexecuted, the
/// venue's clock stepped 7 s ahead (400002 until the link re-reads it), and the
/// weight pool spent (429000: orders wait for the window). Whatever happened, the
/// fills the link forwarded make exactly the venue's position, and no order is
/// filled beyond its size.
#[test]
fn no_kucoin_fill_is_lost_or_booked_twice_under_faults() {
    use minerva::core::{
        ClientId, Lots, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Report, Ticks,
    };
    use minerva::venues::OrderSigner;
    let Some(files) = files() else { return };
    let v = LocalKucoin::start(Config {
        files,
        replay: ReplayOptions::default(),
        speed: Some(1.0),
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults {
            unknown_status_every: Some(3),
            bad_signature_every: Some(7),
            clock_shift_ms: 7_000,
            // Answered 503 before it executes, 60 ms later (inside the 5 s window).
            late_order: Some((5, 60)),
            ..Faults::default()
        },
        keys: Arc::new(KucoinKeys::paper()),
        limits: Limits::default(),
        trading: minerva::local_exchange::TradingConfig {
            weight_per_30s: Some(60),
            ..Default::default()
        },
    })
    .unwrap();
    let rest = format!("http://{}", v.local_addr());
    let mut feed = FeedConfig::new(&rest, Market::Spot, SYMBOL);
    feed.keys = Some(Arc::new(KucoinKeys::paper()));
    let spec = feed.fetch_spec().unwrap();
    let keys = Arc::new(KucoinKeys::paper());
    let mut link = spot_link(&rest, &spec, &keys, 60);
    let signer: OrderSigner = minerva::venues::kucoin::sign::Signer::new(&keys).into();
    let (tick, lot) = (spec.price.step().0, spec.qty.step().0.max(1));
    let qty = (2 * spec.min_qty.0 / lot + 1) * lot;
    let mut sizes = std::collections::HashMap::new();
    let mut got = Vec::new();
    let t = std::time::Instant::now();
    let mut k = 0;
    // Buys through the ask and sells at market, alternately, for a while.
    while t.elapsed() < std::time::Duration::from_secs(6) {
        let (_, ask) = top_of_book(&rest, &spec);
        k += 1;
        let buy = k % 2 == 1;
        let c = format!("mnv{k}{}", if buy { 'e' } else { 'm' });
        let req = OrderRequest {
            cmd: OrderCmd::New(NewOrder {
                id: ClientId::from(&c).unwrap(),
                side: if buy { OrderSide::Buy } else { OrderSide::Sell },
                kind: if buy {
                    OrderKind::LimitIoc
                } else {
                    OrderKind::Market
                },
                price: Ticks(if buy { ask + 50 * tick } else { 0 }),
                qty: Lots(qty),
                reduce_only: false,
            }),
            // Our own clock: the venue's is 7 s ahead.
            timestamp_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            recv_window_ms: 5_000,
        };
        sizes.insert(c, qty);
        link.send(&req, &signer.encode(&spec, &req).unwrap(), 0);
        std::thread::sleep(std::time::Duration::from_millis(40));
        link.drain(|e| got.push(*e));
    }
    // Let the queries settle the unknown ones.
    std::thread::sleep(std::time::Duration::from_secs(2));
    link.drain(|e| got.push(*e));
    let mut net = 0;
    let mut per_order: std::collections::HashMap<String, i64> = Default::default();
    for e in &got {
        if let Report::Filled { qty, .. } = e.report {
            let c = e.client_id.to_string();
            net += if c.ends_with('e') { qty.0 } else { -qty.0 };
            *per_order.entry(c).or_default() += qty.0;
        }
    }
    for (c, f) in &per_order {
        assert!(*f <= sizes[c], "{c} filled {f} of {}", sizes[c]);
    }
    let venue_position = v.accounts().iter().find(|a| a.0 == SYMBOL).unwrap().1;
    assert_eq!(
        net, venue_position.0,
        "forwarded fills = the venue's position"
    );
    assert_eq!(link.position(), venue_position);
    let report = link.report();
    let count = |n: &str| report.counters.iter().find(|c| c.0 == n).unwrap().1;
    let text = format!("{:?}", report.counters);
    assert!(count("unknown status") > 0, "{text}");
    assert!(count("queries") > 0, "{text}");
    assert!(count("re-stamped") > 0, "{text}");
    assert!(count("rate limited") > 0, "{text}");
    assert!(
        got.iter()
            .any(|e| e.report == Report::Rejected(minerva::core::Reject::RateLimited)),
        "orders refused while the pool was spent"
    );
    assert!(!per_order.is_empty(), "{text}");
    assert_eq!(count("malformed answers or events"), 0, "{text}");
    // An order that reached the engine after its 503 was not called refused first.
    assert_eq!(count("fills of orders reported refused"), 0, "{text}");
    let refused: std::collections::HashSet<String> = got
        .iter()
        .filter(|e| matches!(e.report, Report::Rejected(_)))
        .map(|e| e.client_id.to_string())
        .collect();
    for c in per_order.keys() {
        assert!(!refused.contains(c), "{c} refused, then filled: {text}");
    }
    drop(link);
    v.stop();
}

/// While the private session is down (the venue's `user-outage` fault ends it and
/// refuses a new token) the link says it does not hear the account (the
/// trader holds new entries on that), and an order sent meanwhile is polled: its
/// fill is forwarded once, the position is the venue's, and the session comes back.
/// (The venue ends the session every 1,000 messages, about 5 s here, for 3 s.)
#[test]
fn a_fill_made_while_the_private_session_is_down_is_learnt_by_polling() {
    use minerva::core::{ClientId, NewOrder, OrderCmd, OrderKind, OrderRequest, OrderSide, Report};
    use minerva::core::{Lots, Ticks};
    use minerva::venues::OrderSigner;
    let Some(files) = files() else { return };
    let faults = Faults {
        user_outage: Some((1_000, 3_000)),
        ..Faults::default()
    };
    let v = venue(files, faults, Some(1.0));
    let rest = format!("http://{}", v.local_addr());
    let mut feed = FeedConfig::new(&rest, Market::Spot, SYMBOL);
    feed.keys = Some(Arc::new(KucoinKeys::paper()));
    let spec = feed.fetch_spec().unwrap();
    let keys = Arc::new(KucoinKeys::paper());
    let mut link = spot_link(&rest, &spec, &keys, 60);
    assert!(link.hears_order_events());
    // A market subscriber starts the replay (and its published messages' count).
    let market_stop = Arc::new(AtomicBool::new(false));
    let market = std::thread::spawn({
        let (rest, stop) = (rest.clone(), market_stop.clone());
        move || {
            let mut source = KucoinSource::new(FeedConfig::new(&rest, Market::Spot, SYMBOL), stop);
            while source.next_frame().is_some() {}
        }
    });
    let t = std::time::Instant::now();
    while link.hears_order_events() {
        assert!(
            t.elapsed().as_secs() < 60,
            "the private session never went down"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, ask) = top_of_book(&rest, &spec);
    let (tick, lot) = (spec.price.step().0, spec.qty.step().0.max(1));
    let qty = (2 * spec.min_qty.0 / lot + 1) * lot;
    let req = OrderRequest {
        cmd: OrderCmd::New(NewOrder {
            id: ClientId::from("mnv1e").unwrap(),
            side: OrderSide::Buy,
            kind: OrderKind::LimitIoc,
            price: Ticks(ask + 50 * tick),
            qty: Lots(qty),
            reduce_only: false,
        }),
        timestamp_ms: link.now_us() / 1000,
        recv_window_ms: 5_000,
    };
    let signer: OrderSigner = minerva::venues::kucoin::sign::Signer::new(&keys).into();
    link.send(&req, &signer.encode(&spec, &req).unwrap(), 0);
    let mut filled = 0;
    let mut heard_while_down = false;
    let t = std::time::Instant::now();
    while filled < qty {
        assert!(t.elapsed().as_secs() < 10, "the fill was not learnt");
        let down = !link.hears_order_events();
        link.drain(|e| {
            if let Report::Filled { qty, .. } = e.report {
                filled += qty.0;
                heard_while_down |= down;
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(filled, qty);
    assert!(
        heard_while_down,
        "learnt by polling while the session was down"
    );
    let t = std::time::Instant::now();
    while !link.hears_order_events() {
        assert!(
            t.elapsed().as_secs() < 30,
            "the private session did not come back"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    link.drain(|e| {
        if let Report::Filled { qty, .. } = e.report {
            filled += qty.0;
        }
    });
    assert_eq!(
        filled, qty,
        "the fill's event after the session came back is not booked twice"
    );
    let venue_position = v.accounts().iter().find(|a| a.0 == SYMBOL).unwrap().1;
    assert_eq!(link.position(), venue_position);
    assert_eq!(venue_position, Lots(qty));
    let report = link.report();
    let count = |n: &str| report.counters.iter().find(|c| c.0 == n).unwrap().1;
    assert!(count("user stream drops") >= 1);
    assert!(count("user stream sessions") >= 2);
    assert!(count("fills without event") >= 1);
    drop(link);
    market_stop.store(true, Ordering::Relaxed);
    v.stop();
    let _ = market.join();
}
