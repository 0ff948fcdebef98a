//! KuCoin market data end to end on a real capture (`../shared/data/kucoin-sample`,
//! cryptofeed's recording of KuCoin spot, 2021-04-25): `minerva replay --json`
//! reproduces the independent reference replay in its `EXPECTED.json` for every
//! symbol, with or without the symbol list, tickers cross-checked against the book;
//! gaps injected into the stream are detected and healed by a later snapshot; the same
//! session as the unified account's `obu` channel would send it replays to the same
//! books.

mod common;

use minerva::book::{Book, BookConfig, SyncState};
use minerva::core::{DepthSnapshot, SymbolSpec};
use minerva::venues::kucoin::{Decoder, snapshot::parse_snapshot};
use minerva::venues::wire::{DEFAULT_MAX_LEVELS, SymbolTable};
use serde_json::Value;
use std::path::PathBuf;

fn sample() -> Option<PathBuf> {
    Some(common::shared_data()?.join("kucoin-sample"))
}

fn expected(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap()
}

/// Our report's fields in the reference's words (`EXPECTED.json` uses KuCoin's names
/// for the same quantities: sequence for update id, ticker for bookTicker).
fn in_reference_words(r: &Value) -> Value {
    serde_json::json!({
        "snapshot_sequence": r["snapshot_update_id"],
        "first_applied_start_end": [r["first_applied"][0], r["first_applied"][1]],
        "last_applied_sequence": r["final_update_id"],
        "applied": r["depth_applied"],
        "dropped_before_sync": r["dropped_before_sync"],
        "changes_applied": r["changes_applied"],
        "breaks": r["gaps"],
        "crosses": r["crosses"],
        "ticker_checked": r["book_ticker_checks"],
        "ticker_mismatch": r["book_ticker_mismatches"],
        "final_bid_levels": r["final_bid_levels"],
        "final_ask_levels": r["final_ask_levels"],
        "final_top10_bids": r["top10"]["bids"],
        "final_top10_asks": r["top10"]["asks"],
        "final_book_sha256": r["final_book_sha256"],
    })
}

fn check_replay(args: &[String], want: &Value) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::minerva_ok(&args);
    let mut seen = 0;
    for line in out.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let sym = r["symbol"].as_str().unwrap();
        let w = &want[sym];
        assert!(w.is_object(), "{sym} is not in EXPECTED.json");
        assert_eq!(in_reference_words(&r), *w, "{sym} ({args:?})");
        assert_eq!(r["venue"], "kucoin", "{sym}");
        assert_eq!(r["state"], "live", "{sym}");
        assert_eq!(r["decode_errors"], 0, "{sym}");
        assert_eq!(r["overflow_dropped"], 0, "{sym}");
        seen += 1;
    }
    assert_eq!(
        seen,
        want.as_object().unwrap().len(),
        "every symbol replayed"
    );
}

#[test]
fn replay_json_reproduces_the_reference_for_every_symbol() {
    let Some(dir) = sample() else { return };
    let exp = expected(&dir);
    assert_eq!(exp["venue"], "kucoin");
    let files: Vec<String> = exp["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| dir.join(f.as_str().unwrap()).display().to_string())
        .collect();
    let mut args: Vec<String> = vec!["replay".into(), "--json".into()];
    // The files the reference read: grids from the data alone.
    args.extend(files.iter().cloned());
    check_replay(&args, &exp["replay"]);
    // With the capture's symbol list (`/api/v1/symbols`), and the venue named.
    args.push(dir.join("KUCOIN.0").display().to_string());
    args.extend(["--venue".into(), "kucoin".into()]);
    check_replay(&args, &exp["replay"]);
}

/// The capture rewritten as `obu` pushes (`common::kucoin_obu_session`: the snapshot
/// on the stream, 10 ms deltas, `trade.SPOT` trades) replays to the reference's final
/// books, sequences and level counts; the venue is detected from the pushes.
#[test]
fn the_capture_as_obu_pushes_replays_to_the_reference_books() {
    let Some(dir) = sample() else { return };
    let exp = expected(&dir);
    let want = exp["replay"].as_object().unwrap();
    let mut lines = Vec::new();
    let mut trades = std::collections::HashMap::new();
    let mut deltas = 0;
    for sym in want.keys() {
        let (l, _) = common::kucoin_obu_session(sym).unwrap();
        trades.insert(
            sym.clone(),
            l.iter()
                .filter(|(_, j)| j.windows(11).any(|w| w == b"\"T\":\"trade."))
                .count(),
        );
        deltas += l
            .iter()
            .filter(|(_, j)| j.windows(7).any(|w| w == b"\"delta\""))
            .count();
        lines.extend(l);
    }
    lines.sort_by_key(|l| l.0);
    let tmp = common::fresh_dir("kucoin-obu");
    let file = tmp.path().join("obu.txt");
    common::write_timed_lines(&file, &lines);
    let out = common::minerva_ok(&[
        "replay",
        "--json",
        file.to_str().unwrap(),
        dir.join("KUCOIN.0").to_str().unwrap(),
    ]);
    let mut seen = 0;
    for line in out.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let sym = r["symbol"].as_str().unwrap();
        let w = &want[sym];
        assert_eq!(r["venue"], "kucoin", "{sym}");
        assert_eq!(r["state"], "live", "{sym}");
        assert_eq!(r["decode_errors"], 0, "{sym}");
        assert_eq!((&r["gaps"], &r["crosses"]), (&0.into(), &0.into()), "{sym}");
        assert_eq!(r["snapshot_update_id"], w["snapshot_sequence"], "{sym}");
        assert_eq!(r["final_update_id"], w["last_applied_sequence"], "{sym}");
        assert_eq!(r["final_bid_levels"], w["final_bid_levels"], "{sym}");
        assert_eq!(r["final_ask_levels"], w["final_ask_levels"], "{sym}");
        assert_eq!(r["final_book_sha256"], w["final_book_sha256"], "{sym}");
        assert_eq!(r["trades"], trades[sym], "{sym}");
        seen += 1;
    }
    assert_eq!(seen, want.len(), "every symbol replayed");
    assert!(deltas > 100, "the session has deltas ({deltas})");
}

#[test]
fn a_wrong_venue_is_refused() {
    let Some(dir) = sample() else { return };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["replay", "--venue", "binance"])
        .arg(dir.join("KUCOIN.ws.1.0"))
        .arg(dir.join("KUCOIN.http.0.0"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--venue binance but the data is kucoin's"),
        "{err}"
    );
}

struct Session {
    lines: Vec<(u64, Vec<u8>)>,
    spec: SymbolSpec,
    sha256: String,
}

fn session(symbol: &str) -> Option<Session> {
    let (lines, spec) = common::kucoin_session(symbol)?;
    Some(Session {
        lines,
        spec,
        sha256: expected(&sample()?)["replay"][symbol]["final_book_sha256"]
            .as_str()
            .unwrap()
            .into(),
    })
}

enum Item<'a> {
    Line(&'a (u64, Vec<u8>)),
    Snapshot(Box<DepthSnapshot>),
}

fn run(items: &[Item<'_>], spec: &SymbolSpec) -> Book {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = Decoder::new(table, DEFAULT_MAX_LEVELS);
    let mut book = Book::new(spec, &BookConfig::default());
    for it in items {
        match it {
            Item::Line((_, json)) if common::is_kucoin_answer(json) => {
                book.apply_snapshot(&parse_snapshot(json, spec).unwrap())
            }
            Item::Line((ns, json)) => {
                dec.decode(json, *ns, &mut |ev| book.on_event(ev)).unwrap();
            }
            Item::Snapshot(s) => book.apply_snapshot(s),
        }
    }
    book
}

#[test]
fn injected_gaps_are_detected_and_healed_by_a_later_snapshot() {
    let Some(s) = session("BCHSV-USDT") else {
        return;
    };
    let is_update = |l: &(u64, Vec<u8>)| {
        l.1.windows(16)
            .any(|w| w == b"trade.l2update\"," || w == b"\"trade.l2update\"")
    };
    let updates: Vec<usize> = (0..s.lines.len())
        .filter(|&i| is_update(&s.lines[i]))
        .collect();
    assert!(updates.len() > 2000, "{} updates", updates.len());
    let whole = run(&s.lines.iter().map(Item::Line).collect::<Vec<_>>(), &s.spec);
    assert_eq!(whole.digest().sha256, s.sha256, "the clean run");
    let k = updates[300];
    let resync_at = updates[700];
    let reference = run(
        &s.lines[..resync_at]
            .iter()
            .map(Item::Line)
            .collect::<Vec<_>>(),
        &s.spec,
    );
    for fault in ["drop", "duplicate", "reorder"] {
        let mut items = Vec::new();
        for (i, l) in s.lines.iter().enumerate() {
            if i == resync_at {
                items.push(Item::Snapshot(Box::new(common::snapshot_of(&reference))));
            }
            if i == k {
                match fault {
                    "drop" | "reorder" => continue,
                    _ => items.push(Item::Line(l)),
                }
            }
            items.push(Item::Line(l));
            if fault == "reorder" && i == updates[301] {
                items.push(Item::Line(&s.lines[k]));
            }
        }
        let book = run(&items, &s.spec);
        let st = book.stats();
        assert_eq!(book.state(), SyncState::Live, "{fault}");
        assert_eq!(book.digest().sha256, s.sha256, "{fault}: healed book");
        if fault == "duplicate" {
            // sequenceEnd <= the book's sequence: dropped, no gap.
            assert_eq!((st.gaps, st.stale, st.resyncs), (0, 1, 0), "{fault}");
        } else {
            assert_eq!((st.gaps, st.resyncs), (1, 1), "{fault}");
            let g = st.last_gap.unwrap();
            assert_eq!(
                g.expected,
                g.book_id + 1,
                "{fault}: KuCoin's rule start <= seq+1"
            );
            assert!(g.got > g.expected, "{fault}");
        }
    }
    // Without the later snapshot, the book stays out of sync and says so.
    let items: Vec<Item<'_>> = s
        .lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, l)| Item::Line(l))
        .collect();
    let book = run(&items, &s.spec);
    assert_eq!(book.state(), SyncState::Resyncing);
    assert!(book.needs_snapshot());
}

/// The capture's files and the strategy overrides under which the oracle trades on
/// its 17 seconds (the shipped strategy asks for more pressure than they show).
fn kucoin_run_args(cmd: &str, dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = vec![cmd.into()];
    for f in ["KUCOIN.ws.1.0", "KUCOIN.http.0.0", "KUCOIN.0"] {
        v.push(dir.join(f).display().to_string());
    }
    for a in [
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--market",
        "BCHSV-USDT",
        "--short-pressure",
        "0.6",
        "--long-pressure",
        "0.4",
        "--void-height",
        "-1000000",
        "--void-prominence",
        "0",
        "--bin-ticks",
        "100",
    ] {
        v.push(a.into());
    }
    v
}

#[test]
fn signal_backtest_and_report_run_on_kucoin_data() {
    let Some(dir) = sample() else { return };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        common::minerva_ok(&a)
    };
    // The oracle's decisions are timed by the exchange: the capture's level-2 updates
    // carry no time, the tickers and matches around them do.
    let out = run(kucoin_run_args("signal", &dir));
    assert!(out.contains("evaluations"), "{out}");
    let decisions: Vec<&str> = out.lines().filter(|l| l.contains(" entry ")).collect();
    assert!(!decisions.is_empty(), "{out}");
    for l in &decisions {
        assert!(
            l.starts_with("2021-04-25T19:1"),
            "timed by the exchange: {l}"
        );
    }
    let evaluations: u64 = out
        .lines()
        .find_map(|l| l.split(" evaluations").next()?.trim().parse().ok())
        .expect("an evaluations line");
    assert!(evaluations > 2_000, "{out}");

    let mut args = kucoin_run_args("backtest", &dir);
    args.push("--json".into());
    let bt: Value = serde_json::from_str(&run(args.clone())).unwrap();
    assert_eq!(bt["symbol"], "BCHSV-USDT", "{bt}");
    assert_eq!(bt["decode_errors"], 0, "{bt}");
    assert!(bt["frames"].as_u64().unwrap() > 3_000, "{bt}");
    // Deterministic: the same data and strategy give the same report.
    assert_eq!(serde_json::from_str::<Value>(&run(args)).unwrap(), bt);

    let tmp = common::fresh_dir("kucoin");
    let page = tmp.path().join("report.html");
    let mut args = kucoin_run_args("report", &dir);
    args.extend(["--out".into(), page.display().to_string()]);
    run(args);
    let html = std::fs::read_to_string(&page).unwrap();
    let data = common::report_data(&html);
    assert!(html.contains("BCHSV-USDT"));
    assert!(
        data.to_string().contains("242."),
        "the page draws BCHSV-USDT's prices"
    );
}

#[test]
fn the_local_binance_exchange_refuses_kucoin_data() {
    let Some(dir) = sample() else { return };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["exchange", "--venue", "binance", "--port", "0", "--data"])
        .arg(dir.join("KUCOIN.ws.1.0"))
        .arg(dir.join("KUCOIN.http.0.0"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the data is kucoin's"), "{err}");
}
