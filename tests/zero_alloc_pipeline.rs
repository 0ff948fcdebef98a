//! The whole pipeline — feed, book, signal, gateway with its simulated exchange, rings,
//! latency histograms — allocates nothing on its threads once warm, compact and
//! threaded (four threads, pinned to the CPUs this process may use): `minerva run`'s
//! own code on a real session, under a global allocator that counts allocations made
//! off the test's thread (which only starts the run and builds the report) after the
//! warm-up frames. The audit journal is on (`minerva run --journal`): the trader's
//! recorder copies into a ring; only the journal's own writer thread, left out of the
//! count, allocates. A third run has the live view attached (`minerva run --view`):
//! the threads copy their parts into preallocated slots a few times a second and only
//! the publisher (a thread the library marks cold) allocates. One test in this file:
//! the count is process-wide.

mod common;

use common::{ALLOCS, SKIP_THREAD, thread_id};
use minerva::feed::{Frame, Source};
use minerva::pipeline::PinPlan;
use minerva::pipeline::pin::allowed_cpus;
use minerva::pipeline::{RunConfig, run};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[global_allocator]
static A: common::Counting = common::Counting;

/// The count when the warm-up ended.
static START: AtomicUsize = AtomicUsize::new(usize::MAX);

const WARM: usize = 2_000;

/// Recorded frames; starts the count when it hands out the warm-up'th frame.
struct Marking<'a> {
    frames: &'a [(Vec<u8>, u64)],
    /// Per frame, the symbol its snapshot is of (several symbols); empty: one.
    tags: &'a [u16],
    next: usize,
    /// Pause 20 ms every 400 frames after the warm-up (the view's run: long enough
    /// for several snapshots to be taken while the market moves).
    slow: bool,
    /// Sleep ~60 µs every 8 frames of the 20,000 after the warm-up: a market slow
    /// enough for the compact thread to warm the decision's way between frames.
    trickle: bool,
}

impl Source for Marking<'_> {
    fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.next == WARM {
            START.store(ALLOCS.load(Relaxed), Relaxed);
        }
        if self.slow && self.next > WARM && self.next % 400 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if self.trickle && (WARM..WARM + 20_000).contains(&self.next) && self.next % 8 == 0 {
            std::thread::sleep(std::time::Duration::from_micros(60));
        }
        let (bytes, rec) = self.frames.get(self.next)?;
        let symbol = minerva::core::SymbolId(self.tags.get(self.next).copied().unwrap_or(0));
        self.next += 1;
        Some(Frame {
            bytes,
            recv_ns: minerva::core::clock::now_ns(),
            wall_ns: *rec,
            symbol,
        })
    }
}

#[test]
fn no_allocation_on_pipeline_threads_compact_and_threaded() {
    // Allocations on this thread (it only starts the run and builds the report) are
    // left out; the counter sees one on another thread, and ignores this one's.
    SKIP_THREAD.store(thread_id(), Relaxed);
    let before = ALLOCS.load(Relaxed);
    std::hint::black_box(vec![0u8; 64]);
    assert_eq!(ALLOCS.load(Relaxed), before);
    std::thread::scope(|s| {
        s.spawn(|| {
            let before = ALLOCS.load(Relaxed);
            std::hint::black_box(vec![0u8; 64]);
            assert!(ALLOCS.load(Relaxed) > before, "the counter must count");
        });
    });
    let (frames, spec) = common::spot_session();
    // Loose enough to trade: entries, fills, exits, cancels all run on the hot path.
    let strategy = common::loose_strategy();
    let signer = common::test_signer();
    let cpus = allowed_cpus();
    let pin = |spec: String| PinPlan::parse(&spec, &cpus).unwrap();
    let (a, b) = (cpus[0], cpus[cpus.len() - 1]);
    let modes = [
        ("compact", 1, PinPlan::default(), false),
        (
            "threaded",
            4,
            pin(format!("feed={a},book={a},signal={b},gateway={b}")),
            false,
        ),
        ("threaded with the live view", 2, PinPlan::default(), true),
    ];
    let tmp = common::fresh_dir("zero-alloc-journal");
    let dir = tmp.path();
    for (name, threads, pin, view) in modes {
        START.store(usize::MAX, Relaxed);
        let path = dir.join(format!("{name}.db"));
        let journal = std::sync::Arc::new(
            minerva::store::journal::Journal::start(&path, &Default::default()).unwrap(),
        );
        while journal.writer_thread_id() == 0 {
            std::thread::yield_now();
        }
        common::SKIP_THREAD_2.store(journal.writer_thread_id(), Relaxed);
        let hook = {
            let j = journal.clone();
            minerva::gateway::audit::AuditHook(std::sync::Arc::new(move |s| j.recorder(s)))
        };
        let board =
            view.then(|| minerva::status::StatusBoard::new(std::time::Duration::from_millis(100)));
        let cfg = RunConfig {
            threads,
            pin,
            audit: Some(hook),
            status: board.clone().map(|b| (b, "replay".to_string())),
            ..RunConfig::default()
        };
        // A reader of the board, as the view is (cold: it allocates what it shows).
        let reader = board.clone().map(|b| {
            std::thread::spawn(move || {
                minerva::core::mark_cold_thread();
                let (mut seen, mut during) = (0, Vec::new());
                while let Ok(got) = b.wait_newer(seen, std::time::Duration::from_secs(5)) {
                    if let Some((v, s)) = got {
                        seen = v;
                        during.push((s.counters.frames, s.book.live, s.bins.bids.len()));
                    }
                }
                during
            })
        });
        let source = Marking {
            frames: &frames,
            tags: &[],
            next: 0,
            slow: view,
            trickle: threads == 1,
        };
        let r = run(source, &spec, &strategy, signer.clone(), &cfg).unwrap();
        let allocs = ALLOCS.load(Relaxed) - START.load(Relaxed);
        if let Some(reader) = reader {
            let seen = reader.join().unwrap();
            eprintln!("{name}: {} snapshots: {seen:?}", seen.len());
            // Snapshots while the market moved (frames advancing, a live book with
            // bins), and the last one at the end of the run.
            assert!(seen.len() >= 4, "{seen:?}");
            let live: Vec<_> = seen.iter().filter(|s| s.1 && s.2 > 0).collect();
            assert!(live.len() >= 3, "{seen:?}");
            assert!(live.windows(2).any(|w| w[1].0 > w[0].0), "{seen:?}");
            assert_eq!(seen.last().unwrap().0, frames.len() as u64);
        }
        eprintln!(
            "{name}: {} frames, {} applied, {} evaluations, {} entries, {} fills, {} requests, {allocs} allocations on pipeline threads after warm-up",
            r.frames,
            r.book.applied,
            r.evaluations,
            r.trader.entries,
            r.exchange.fills,
            r.trader.requests
        );
        assert_eq!(r.frames, frames.len() as u64);
        assert!(r.book.applied > 6_000 && r.trader.entries > 10 && r.exchange.fills > 10);
        if threads == 1 {
            // The decision's warm-ups ran inside the count.
            assert!(r.decision_warmups > 100, "{} warm-ups", r.decision_warmups);
        }
        assert_eq!(allocs, 0, "{name}: allocations on the hot path");
        drop(cfg);
        let sum = std::sync::Arc::try_unwrap(journal)
            .unwrap()
            .finish()
            .unwrap();
        // Everything the trader did is in the journal.
        assert_eq!(
            (sum.orders, sum.fills, sum.lost),
            (r.trader.requests, r.exchange.fills, 0)
        );
    }
    several_symbols(&strategy);
}

/// Three symbols of the KuCoin capture in one compact pipeline (`minerva run --symbols`)
/// with the live view: their books, oracles, traders, the limits across them and each
/// symbol's posts to the view allocate nothing either.
fn several_symbols(strategy: &minerva::strategy::Strategy) {
    let Some(data) = common::shared_data() else {
        return;
    };
    let d = data.join("kucoin-sample");
    let files: Vec<_> = ["KUCOIN.0", "KUCOIN.ws.1.0", "KUCOIN.http.0.0"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let (table, tagged) = minerva::replay::tagged_frames(&files, &Default::default()).unwrap();
    let names = ["BCHSV-USDT", "ANKR-BTC", "FET-BTC"];
    let specs: Vec<_> = names
        .iter()
        .map(|n| table.spec(table.lookup(n).unwrap()).clone())
        .collect();
    let tags: Vec<u16> = tagged
        .iter()
        .map(|t| {
            t.2.and_then(|id| {
                names
                    .iter()
                    .position(|n| *n == table.spec(id).name.as_str())
            })
            .map_or(u16::MAX, |k| k as u16)
        })
        .collect();
    let frames: Vec<(Vec<u8>, u64)> = tagged.into_iter().map(|t| (t.0, t.1)).collect();
    assert!(frames.len() > WARM + 1_000);
    START.store(usize::MAX, Relaxed);
    let source = Marking {
        frames: &frames,
        tags: &tags,
        next: 0,
        slow: true,
        trickle: true,
    };
    let board = minerva::status::StatusBoard::new(std::time::Duration::from_millis(100));
    let reader = {
        let b = board.clone();
        std::thread::spawn(move || {
            minerva::core::mark_cold_thread();
            let (mut seen, mut most) = (0, 0);
            while let Ok(got) = b.wait_newer(seen, std::time::Duration::from_secs(5)) {
                if let Some((v, s)) = got {
                    seen = v;
                    let live = s.symbols.iter().filter(|y| y.live).count()
                        + s.details.iter().filter(|d| !d.book.bids.is_empty()).count();
                    most = most.max(live);
                }
            }
            most
        })
    };
    let cfg = RunConfig {
        status: Some((board.clone(), "replay".to_string())),
        ..RunConfig::default()
    };
    let r = minerva::pipeline::run_symbols(source, &specs, strategy, common::test_signer(), &cfg)
        .unwrap();
    let allocs = ALLOCS.load(Relaxed) - START.load(Relaxed);
    drop(cfg);
    board.close();
    // The view saw every symbol live and the other two symbols' own ladders.
    assert_eq!(reader.join().unwrap(), 3 + 2);
    eprintln!(
        "three symbols: {} frames, {} applied, {} evaluations, {} entries, {allocs} allocations on pipeline threads after warm-up",
        r.frames, r.book.applied, r.evaluations, r.trader.entries
    );
    assert_eq!(r.symbols.len(), 3);
    assert!(r.symbols.iter().all(|y| y.tick_to_decision.count() > 40));
    assert!(r.trader.entries >= 2);
    assert!(r.decision_warmups > 10, "{} warm-ups", r.decision_warmups);
    assert_eq!(allocs, 0, "three symbols: allocations on the hot path");
}
