//! KuCoin market data end to end on a real capture (`../shared/data/kucoin-sample`,
//! cryptofeed's recording of KuCoin spot, 2021-04-25): `minerva replay --json`
//! reproduces the independent reference replay in its `EXPECTED.json` for every
//! symbol, with or without the symbol list, tickers cross-checked against the book;
//! gaps injected into the stream are detected and healed by a later snapshot.

mod common;

use minerva::book::{Book, BookConfig, SyncState};
use minerva::core::{DepthSnapshot, SymbolSpec};
use minerva::replay::{ReplayOptions, symbol_table};
use minerva::store::files::{LineKind, classify};
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

/// One symbol's part of the capture: its frames and its snapshot, in receive order.
struct Session {
    lines: Vec<(u64, Vec<u8>, LineKind)>,
    spec: SymbolSpec,
    sha256: String,
}

fn session(symbol: &str) -> Option<Session> {
    let dir = sample()?;
    let files = [dir.join("KUCOIN.http.0.0"), dir.join("KUCOIN.ws.1.0")];
    let opts = ReplayOptions {
        symbol: Some(symbol.into()),
        ..Default::default()
    };
    let table = symbol_table(&files, &opts).unwrap();
    let mut lines = Vec::new();
    for f in &files {
        for l in std::fs::read(f).unwrap().split(|&c| c == b'\n') {
            let c = classify(l);
            let ours = match c.kind {
                LineKind::RestDepth => c.url_symbol == Some(symbol),
                LineKind::Frame => l.windows(symbol.len()).any(|w| w == symbol.as_bytes()),
                _ => false,
            };
            if ours {
                lines.push((c.recv_ns, c.json.to_vec(), c.kind));
            }
        }
    }
    lines.sort_by_key(|l| l.0); // stable: the order a live client received them
    Some(Session {
        lines,
        spec: table.specs()[0].clone(),
        sha256: expected(&dir)["replay"][symbol]["final_book_sha256"]
            .as_str()
            .unwrap()
            .into(),
    })
}

enum Item<'a> {
    Line(&'a (u64, Vec<u8>, LineKind)),
    Snapshot(Box<DepthSnapshot>),
}

fn run(items: &[Item<'_>], spec: &SymbolSpec) -> Book {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = Decoder::new(table, DEFAULT_MAX_LEVELS);
    let mut book = Book::new(spec, &BookConfig::default());
    for it in items {
        match it {
            Item::Line((ns, json, LineKind::Frame)) => {
                dec.decode(json, *ns, &mut |ev| book.on_event(ev)).unwrap();
            }
            Item::Line((_, json, _)) => book.apply_snapshot(&parse_snapshot(json, spec).unwrap()),
            Item::Snapshot(s) => book.apply_snapshot(s),
        }
    }
    book
}

fn snapshot_of(book: &Book) -> DepthSnapshot {
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    book.for_each_bid(|l| {
        bids.push(l);
        true
    });
    book.for_each_ask(|l| {
        asks.push(l);
        true
    });
    DepthSnapshot {
        last_update_id: book.update_id(),
        event_ms: None,
        bids,
        asks,
    }
}

#[test]
fn injected_gaps_are_detected_and_healed_by_a_later_snapshot() {
    let Some(s) = session("BCHSV-USDT") else {
        return;
    };
    let is_update = |l: &(u64, Vec<u8>, LineKind)| {
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
                items.push(Item::Snapshot(Box::new(snapshot_of(&reference))));
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
