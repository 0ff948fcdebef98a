//! Faults injected into real sessions: a dropped, duplicated or reordered depth diff is
//! detected, the book resyncs from a later snapshot, and the final book still equals the
//! reference digest in `EXPECTED.json`.

mod common;

use minerva::book::{Book, BookConfig, SyncState};
use minerva::core::{Market, SymbolSpec};

use minerva::venues::binance::snapshot::parse_snapshot;
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, Decoded, Decoder, DepthSnapshot, SymbolTable};
use std::path::PathBuf;

enum Item {
    Line(Vec<u8>),
    Snapshot(Box<DepthSnapshot>),
}

struct Session {
    lines: Vec<Vec<u8>>,
    spec: SymbolSpec,
    sha256: &'static str,
}

fn sessions() -> Vec<Session> {
    let s = common::sample_dir().join("spot");
    let mut v = vec![Session {
        lines: common::json_lines(&[s.join("btcusdt_20240808.gz"), s.join("btcusdt_20240809.gz")]),
        spec: SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap(),
        sha256: "c2c66164723289619f1058af2d8a18fcbcca407db02e5b6461b707481f8517eb",
    }];
    if let Some(d) = common::shared_data() {
        let u: PathBuf = d.join("hftbacktest-examples/usdm");
        v.push(Session {
            lines: common::json_lines(&[u.join("btcusdt_20240808.gz")]),
            spec: SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap(),
            sha256: "b15008531fa7",
        });
    }
    v
}

fn is_depth(l: &[u8]) -> bool {
    l.windows(13).any(|w| w == b"\"depthUpdate\"")
}

/// Runs items through a fresh decoder and book.
fn run(items: &[Item], spec: &SymbolSpec) -> Book {
    let mut table = SymbolTable::new();
    table.insert(spec.clone());
    let mut dec = Decoder::new(table, DEFAULT_MAX_LEVELS);
    let mut book = Book::new(spec, &BookConfig::default());
    for it in items {
        match it {
            Item::Line(l) => {
                if let Ok(Decoded::Snapshot { .. }) = dec.decode(l, 0, &mut |ev| book.on_event(ev))
                {
                    book.apply_snapshot(&parse_snapshot(l, spec).unwrap());
                }
            }
            Item::Snapshot(s) => book.apply_snapshot(s),
        }
    }
    book
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Drop,
    Duplicate,
    Reorder,
}

/// Applies `fault` at the 300th depth diff, then a fresh snapshot 400 lines later.
fn inject(s: &Session, fault: Fault) -> (Book, Book) {
    let depth: Vec<usize> = (0..s.lines.len())
        .filter(|&i| is_depth(&s.lines[i]))
        .collect();
    let k = depth[300];
    let resync_at = k + 400;
    let reference = run(
        &s.lines[..resync_at]
            .iter()
            .cloned()
            .map(Item::Line)
            .collect::<Vec<_>>(),
        &s.spec,
    );
    let mut items: Vec<Item> = Vec::new();
    for (i, l) in s.lines.iter().enumerate() {
        if i == resync_at {
            items.push(Item::Snapshot(Box::new(common::snapshot_of(&reference))));
        }
        match fault {
            Fault::Drop if i == k => continue,
            Fault::Duplicate if i == k => {
                items.push(Item::Line(l.clone()));
                items.push(Item::Line(l.clone()));
                continue;
            }
            Fault::Reorder if i == k => continue, // emitted after the next depth diff
            _ => {}
        }
        items.push(Item::Line(l.clone()));
        if matches!(fault, Fault::Reorder) && i == depth[301] {
            items.push(Item::Line(s.lines[k].clone()));
        }
    }
    (run(&items, &s.spec), reference)
}

#[test]
fn injected_faults_are_detected_and_healed_by_resync() {
    for s in sessions() {
        let spot = s.spec.market == Market::Spot;
        for fault in [Fault::Drop, Fault::Duplicate, Fault::Reorder] {
            let what = format!("{:?} {fault:?}", s.spec.market);
            let (book, _) = inject(&s, fault);
            let st = book.stats();
            assert_eq!(book.state(), SyncState::Live, "{what}");
            assert!(
                book.digest().sha256.starts_with(s.sha256),
                "{what}: final book differs"
            );
            match (fault, spot) {
                // Binance spot step 6: an event with u <= book id is stale: ignored, counted.
                (Fault::Duplicate, true) => {
                    assert_eq!((st.gaps, st.stale, st.resyncs), (0, 1, 0), "{what}");
                }
                _ => {
                    assert_eq!((st.gaps, st.resyncs), (1, 1), "{what}");
                    let g = st.last_gap.unwrap();
                    assert_ne!(g.expected, g.got, "{what}: gap ids recorded");
                    assert_eq!(book.gap_log(), &[g], "{what}: gap log");
                }
            }
        }
    }
}

#[test]
fn a_gap_without_a_new_snapshot_leaves_the_book_resyncing() {
    let s = &sessions()[0];
    let depth: Vec<usize> = (0..s.lines.len())
        .filter(|&i| is_depth(&s.lines[i]))
        .collect();
    let items: Vec<Item> = s
        .lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != depth[100])
        .map(|(_, l)| Item::Line(l.clone()))
        .collect();
    let book = run(&items, &s.spec);
    assert_eq!(book.state(), SyncState::Resyncing);
    assert!(book.needs_snapshot());
    let st = book.stats();
    assert_eq!(st.gaps, 1);
    assert!(st.applied < 100, "nothing applied after the gap");
    assert_eq!(st.resyncs, 0);
}
