//! The pipeline on the shipped session: every mode (compact, 2 and 3 threads, pinned or
//! not) sees the same book and proposes and signs the same orders.

mod common;

use minerva::gateway::sign::Signer;
use minerva::pipeline::pin::allowed_cpus;
use minerva::pipeline::run::{ReplaySource, RunConfig, RunError, run};
use minerva::pipeline::{PinPlan, Wait};
use minerva::replay::{ReplayOptions, symbol_table};
use minerva::strategy::Strategy;
use std::path::PathBuf;

fn setup() -> (Vec<(Vec<u8>, u64)>, minerva::core::SymbolSpec, Strategy) {
    let d = common::sample_dir().join("spot");
    let files: Vec<PathBuf> = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let opts = ReplayOptions {
        exchange_info: Some(root.join("sample/exchange_info_spot_btcusdt.json")),
        ..Default::default()
    };
    let spec = symbol_table(&files, &opts).unwrap().specs()[0].clone();
    let strategy = Strategy::parse(include_str!("../strategy_0.toml"), &[]).unwrap();
    (
        minerva::replay::input::recorded_frames(&files).unwrap(),
        spec,
        strategy,
    )
}

#[test]
fn every_mode_gives_the_same_result() {
    let (frames, spec, strategy) = setup();
    let cpus = allowed_cpus();
    let pinned = PinPlan::parse(
        &format!("feed={},book={}", cpus[0], cpus[cpus.len() - 1]),
        &cpus,
    )
    .unwrap();
    let modes = [
        (1, Wait::SpinYield, PinPlan::default()),
        (2, Wait::SpinYield, PinPlan::default()),
        (3, Wait::Park, PinPlan::default()),
        (2, Wait::SpinYield, pinned),
    ];
    let mut seen = Vec::new();
    for (threads, wait, pin) in modes {
        let cfg = RunConfig {
            threads,
            wait,
            pin,
            ring_capacity: 1024,
        };
        let signer = Signer::new(&minerva::gateway::keys::ApiKeys::new(
            "k".into(),
            b"s".to_vec(),
        ));
        let r = run(
            ReplaySource::new(frames.clone(), None),
            &spec,
            &strategy,
            signer,
            &cfg,
        )
        .unwrap();
        assert_eq!(r.frames, 99_574);
        assert_eq!((r.book.applied, r.book.gaps), (6_493, 0));
        assert_eq!(
            r.feed_ring.messages,
            r.lat.book.count(),
            "every message reached the book"
        );
        assert_eq!(r.orders, r.lat.tick_to_trade.count());
        seen.push((r.intents, r.orders, r.refused));
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    // The hand-checked operation of docs/strategy.md is the one order signed.
    assert_eq!(seen[0], (21, 1, 20));
}

#[test]
fn refuses_layouts_this_machine_cannot_run() {
    let (frames, spec, strategy) = setup();
    let signer = Signer::new(&minerva::gateway::keys::ApiKeys::new(
        "k".into(),
        b"s".to_vec(),
    ));
    let bad = RunConfig {
        threads: 4,
        ..Default::default()
    };
    assert_eq!(
        run(
            ReplaySource::new(frames.clone(), None),
            &spec,
            &strategy,
            signer.clone(),
            &bad
        )
        .unwrap_err(),
        RunError::Threads
    );
    let n = allowed_cpus().len();
    if n < 3 {
        let spin = RunConfig {
            threads: 3,
            wait: Wait::Spin,
            ..Default::default()
        };
        assert!(matches!(
            run(
                ReplaySource::new(frames, None),
                &spec,
                &strategy,
                signer,
                &spin
            ),
            Err(RunError::TooManySpinners { .. })
        ));
    }
}
