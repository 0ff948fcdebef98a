//! The pipeline on the shipped session: every mode (compact, 2, 3 and 4 threads, pinned
//! or not, any wait strategy) sees the same book, proposes the same intents and trades
//! the same operations on the simulated exchange.

mod common;

use minerva::feed::ReplaySource;
use minerva::pipeline::pin::allowed_cpus;
use minerva::pipeline::wait::WaitPlan;
use minerva::pipeline::{PinPlan, Wait};
use minerva::pipeline::{RunConfig, RunError, run};
use minerva::sim::SimOptions;
use minerva::sim::latency::{Delay, LatencyModel};
use minerva::strategy::Strategy;

fn setup() -> (Vec<(Vec<u8>, u64)>, minerva::core::SymbolSpec, Strategy) {
    let (frames, spec) = common::spot_session();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    (frames, spec, strategy)
}

use common::test_signer as signer;

/// One run over the shipped session's `frames`, as a socket would deliver them.
fn replay(
    frames: &[(Vec<u8>, u64)],
    spec: &minerva::core::SymbolSpec,
    strategy: &Strategy,
    cfg: &RunConfig,
) -> Result<minerva::pipeline::RunReport, RunError> {
    run(
        ReplaySource::new(frames.to_vec(), None),
        spec,
        strategy,
        signer(),
        cfg,
    )
}

#[test]
fn every_mode_gives_the_same_result() {
    let (frames, spec, strategy) = setup();
    let cpus = allowed_cpus();
    let (first, last) = (cpus[0], cpus[cpus.len() - 1]);
    let pinned = PinPlan::parse(
        &format!("feed={first},book={first},signal={last},gateway={last}"),
        &cpus,
    )
    .unwrap();
    let modes = [
        (1, WaitPlan::default(), PinPlan::default()),
        (2, WaitPlan::default(), pinned),
        (
            3,
            WaitPlan::parse("park,book=spin-yield").unwrap(),
            PinPlan::default(),
        ),
        (4, WaitPlan::uniform(Wait::SpinYield), PinPlan::default()),
    ];
    let mut seen = Vec::new();
    for (threads, wait, pin) in modes {
        let cfg = RunConfig {
            threads,
            wait,
            pin,
            ..RunConfig::default()
        };
        let r = replay(&frames, &spec, &strategy, &cfg).unwrap();
        assert_eq!(r.frames, 99_574);
        assert_eq!((r.book.applied, r.book.gaps), (6_493, 0));
        let [a, v, c] = r.rings;
        assert_eq!(
            a.messages,
            r.lat.book.count(),
            "every message reached the book"
        );
        assert_eq!(v.messages, r.lat.signal.count(), "…and the signal");
        assert_eq!(c.messages, r.lat.gateway.count(), "…and the gateway");
        assert_eq!(
            r.evaluations,
            r.book.applied - 1,
            "a view after every live update"
        );
        assert_eq!(r.evaluations, r.lat.tick_to_decision.count());
        // Every request the trader signed reached the simulated exchange.
        assert_eq!(r.trader.requests, r.exchange.requests);
        assert_eq!(r.exchange.reports_lost, 0);
        seen.push((
            r.intents, r.orders, r.refused, r.trader, r.exchange, r.risk, r.shutdown,
        ));
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:#?}");
    let (intents, orders, refused, trader, exchange, risk, shutdown) = seen[0];
    // The hand-checked operation of docs/strategy.md is the one entry: it fills as
    // maker and closes at its take profit; the OCO's stop leg expires with it.
    assert_eq!((intents, orders, refused), (12, 1, 11));
    assert_eq!(
        (trader.entries_filled, trader.take_profits, trader.stops),
        (1, 1, 0)
    );
    assert_eq!(
        (exchange.fills, exchange.taker_fills, exchange.expired),
        (2, 0, 1)
    );
    assert_eq!(risk.closed, 1);
    assert!(risk.realised_e8 > 0 && risk.fees_e8 > 0, "{risk:?}");
    assert_eq!(shutdown.open_positions, 0);
}

#[test]
fn more_latency_means_fewer_fills_never_different_books() {
    let (frames, spec) = common::spot_session();
    // A looser strategy trades more often; a slow link keeps its entries from the touch.
    let strategy = common::loose_strategy();
    let mut fills = Vec::new();
    for latency_us in [0, 5_000, 2_000_000] {
        let cfg = RunConfig {
            sim: SimOptions {
                latency: LatencyModel {
                    order: Delay::Const(latency_us),
                    ..LatencyModel::default()
                },
                ..SimOptions::default()
            },
            ..RunConfig::default()
        };
        let r = replay(&frames, &spec, &strategy, &cfg).unwrap();
        assert_eq!(r.book.applied, 6_493);
        let t = r.trader;
        assert_eq!(
            t.entries,
            t.entries_filled + t.entries_rejected + t.entries_withdrawn,
            "every entry ends filled, refused, or withdrawn (at the latest at exit): {t:?}"
        );
        assert_eq!(
            t.entries_filled,
            t.take_profits + t.stops + t.flattened + r.shutdown.open_positions as u64,
            "every filled entry is closed or reported open: {t:?}"
        );
        eprintln!("latency {latency_us} µs: {t:?} {:?}", r.exchange);
        fills.push(r.exchange.fills);
    }
    assert!(fills[0] > 2, "the looser strategy trades: {fills:?}");
    assert!(fills[0] >= fills[2], "{fills:?}");
}

#[test]
fn refuses_layouts_this_machine_cannot_run() {
    let (frames, spec, strategy) = setup();
    let bad = RunConfig {
        threads: 5,
        ..Default::default()
    };
    assert_eq!(
        replay(&frames, &spec, &strategy, &bad).unwrap_err(),
        RunError::Threads
    );
    let n = allowed_cpus().len();
    if n < 4 {
        let spin = RunConfig {
            threads: 4,
            wait: WaitPlan::uniform(Wait::Spin),
            ..Default::default()
        };
        assert!(matches!(
            replay(&frames, &spec, &strategy, &spin),
            Err(RunError::TooManySpinners { .. })
        ));
    }
    let cpus = allowed_cpus();
    if cpus.len() >= 2 {
        let split = RunConfig {
            threads: 2,
            pin: PinPlan::parse(&format!("feed={},book={}", cpus[0], cpus[1]), &cpus).unwrap(),
            ..Default::default()
        };
        assert_eq!(
            replay(&frames, &spec, &strategy, &split).unwrap_err(),
            RunError::PinConflict("feed", "book", 2)
        );
    }
    let wide = Strategy {
        bins: 300,
        ..strategy
    };
    assert!(matches!(
        replay(&frames, &spec, &wide, &RunConfig::default()),
        Err(RunError::Shape(_))
    ));
}

/// The shipped strategy loosened so that the spot session trades (the flags of
/// `tests/several_symbols.rs`).
fn loose_strategy() -> Strategy {
    let loose: Vec<(&str, String)> = [
        ("short_pressure", "0.6"),
        ("long_pressure", "0.4"),
        ("void_height", "-1000000"),
        ("void_prominence", "0"),
        ("maker_fee", "0"),
        ("taker_fee", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    Strategy::parse(include_str!("../strategy_0.toml"), &loose).unwrap()
}

/// A compact run lends the book stage's book to the simulated exchange (one thread:
/// each message through book, signal and gateway before the next); two threads give
/// the exchange its own book. With the loosened strategy (dozens of entries, fills,
/// withdrawals and exits) both trade exactly the same, with the order path warmed or
/// not.
#[test]
fn the_lent_book_trades_as_the_exchanges_own() {
    let (frames, spec, _) = setup();
    let strategy = loose_strategy();
    let mut seen = Vec::new();
    // The warm-up of the order path signs throwaway entries: it changes nothing.
    for (threads, warm) in [(1, true), (2, true), (1, false)] {
        let cfg = RunConfig {
            threads,
            warm,
            ..RunConfig::default()
        };
        let r = replay(&frames, &spec, &strategy, &cfg).unwrap();
        assert_eq!(r.trader.requests, r.exchange.requests);
        seen.push((r.intents, r.trader, r.exchange, r.risk, r.shutdown));
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:#?}");
    let (_, trader, exchange, risk, _) = seen[0];
    assert!(trader.entries >= 20, "{trader:?}");
    assert!(
        exchange.fills >= 30 && exchange.canceled > 0,
        "{exchange:?}"
    );
    assert!(risk.closed >= 10, "{risk:?}");
}

/// The compact thread's warm-ups of the view and the oracle's searches on a slow market
/// change no evaluation, intent, order, fill or operation.
#[test]
fn warming_the_decision_on_a_slow_market_changes_no_decision() {
    // Paced ×1000, the session's frames come ~7 µs apart: few enough per 50 µs for
    // the compact thread to warm the view and the oracle's searches between them.
    let (frames, spec, _) = setup();
    let strategy = loose_strategy();
    let mut seen = Vec::new();
    for warm in [true, false] {
        let cfg = RunConfig {
            warm,
            ..RunConfig::default()
        };
        let source = ReplaySource::new(frames.clone(), Some(1000.0));
        let r = run(source, &spec, &strategy, signer(), &cfg).unwrap();
        if warm {
            assert!(r.decision_warmups > 100, "{} warm-ups", r.decision_warmups);
        } else {
            assert_eq!(r.decision_warmups, 0);
        }
        seen.push((r.evaluations, r.intents, r.trader, r.exchange, r.risk));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].1 >= 20, "{} intents", seen[0].1);
}
