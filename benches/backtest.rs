//! Backtest throughput: `minerva backtest`'s whole work per recorded frame (decode, book,
//! view, oracle, risk, orders, the simulated exchange with its own book, the journal)
//! on the longest shipped session (spot BTCUSDT, 99,574 frames, in the repository), on
//! a USD-M session from `../shared/data` when present, and on the 1M-message synthetic
//! USD-M file (`../shared/tools/gen_binance_synth.py`, generated into `target/synth` on
//! first use when Python is there). Throughput is frames per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minerva::backtest::tape::Tape;
use minerva::backtest::{self, BacktestConfig, Input};
use minerva::core::{Market, SymbolSpec};

use minerva::strategy::Strategy;
use minerva::venues::binance::{keys::ApiKeys, sign::Signer};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seed strategy loosened to trade (as the tests do): orders and fills happen.
fn strategy() -> Strategy {
    Strategy::parse(
        include_str!("../strategy_0.toml"),
        &[
            ("short_pressure", "0.6".into()),
            ("long_pressure", "0.4".into()),
            ("max_concurrent_trades", "20".into()),
        ],
    )
    .unwrap()
}

/// The 1M-message synthetic file as frames (snapshot first), generated if missing.
fn synth() -> Option<Vec<(Vec<u8>, u64)>> {
    let dir = root().join("target/synth");
    let (ev, snap) = (dir.join("events_1m.jsonl"), dir.join("snapshot_1m.json"));
    if !ev.exists() {
        let script = root().join("../shared/tools/gen_binance_synth.py");
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("python3")
            .arg(&script)
            .args(["--events", "1000000", "--seed", "42", "--out"])
            .arg(&ev)
            .arg("--snapshot")
            .arg(&snap)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "NOTE: no synthetic file (python3 or {} missing)",
                script.display()
            );
            return None;
        }
    }
    let mut frames = vec![(std::fs::read(&snap).ok()?, 0u64)];
    for l in std::fs::read(&ev).ok()?.split(|&c| c == b'\n') {
        if !l.is_empty() {
            frames.push((l.to_vec(), 0));
        }
    }
    Some(frames)
}

fn recorded(files: &[PathBuf]) -> Vec<(Vec<u8>, u64)> {
    minerva::store::files::recorded_frames(files).unwrap()
}

fn bench(c: &mut Criterion) {
    let signer = Signer::new(&ApiKeys::new("k".into(), b"s".to_vec()));
    let strategy = strategy();
    let d = root().join("sample/hftbacktest/spot");
    let spot_files = [d.join("btcusdt_20240808.gz"), d.join("btcusdt_20240809.gz")];
    let opts = minerva::replay::ReplayOptions {
        exchange_info: Some(root().join("sample/exchange_info_spot_btcusdt.json")),
        ..Default::default()
    };
    let spot = minerva::replay::symbol_table(&spot_files, &opts)
        .unwrap()
        .specs()[0]
        .clone();
    let usdm = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
    let mut sets = vec![("spot_btcusdt_session", recorded(&spot_files), spot)];
    let u = root().join("../shared/data/hftbacktest-examples/usdm");
    if Path::new(&u).exists() {
        sets.push((
            "usdm_btcusdt_20240808",
            recorded(&[u.join("btcusdt_20240808.gz")]),
            usdm.clone(),
        ));
    }
    let only = std::env::var("BACKTEST_ONLY").unwrap_or_default();
    if only.is_empty() || only.starts_with("synth") {
        if let Some(f) = synth() {
            sets.push(("synth_usdm_1m", f, usdm));
        }
    }
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10);
    let cfg = BacktestConfig::default();
    for (name, frames, spec) in &sets {
        let tape = Tape::record(frames, spec);
        for (label, input) in [
            (name.to_string(), Input::Frames(frames)),
            (format!("{name}_tape"), Input::Tape(&tape)),
        ] {
            // `BACKTEST_ONLY=name` runs (and prepares) one input alone, for profiling.
            if std::env::var("BACKTEST_ONLY").is_ok_and(|o| o != label) {
                continue;
            }
            let go = || {
                backtest::run(input, spec, &strategy, signer.clone(), &cfg, &mut |_, _| {}).unwrap()
            };
            let r = go();
            eprintln!(
                "{label}: {} units ({} frames), {} intents, {} refused, {} entries, {} fills, {} trades, digest {:x}",
                r.frames,
                frames.len(),
                r.intents,
                r.risk.refused,
                r.trader.entries,
                r.exchange.fills,
                r.trades.len(),
                r.exchange.requests_digest
            );
            // Frames per second either way: the tape holds the same recording.
            g.throughput(Throughput::Elements(frames.len() as u64));
            g.bench_function(label.as_str(), |b| b.iter(|| go().frames));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
