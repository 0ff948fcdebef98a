//! `minerva evolve`'s rate: one generation of 8 candidates (the start and 7 random ones,
//! the default genes, the seed strategy) on the shipped spot session's tape, training on
//! its first 75 %, with one and with two evaluation threads. Throughput is backtests per
//! second; the two-thread figure shows how far the candidates run in parallel.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minerva::backtest::{BacktestConfig, tape::Tape};
use minerva::evolve::{self, Gene, study::Study};
use std::path::PathBuf;

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let d = root.join("sample/hftbacktest/spot");
    let files = [d.join("btcusdt_20240808.gz"), d.join("btcusdt_20240809.gz")];
    let opts = minerva::replay::ReplayOptions {
        exchange_info: Some(root.join("sample/exchange_info_spot_btcusdt.json")),
        ..Default::default()
    };
    let spec = minerva::replay::symbol_table(&files, &opts)
        .unwrap()
        .specs()[0]
        .clone();
    let frames = minerva::store::files::recorded_frames(&files).unwrap();
    let tape = Tape::record(&frames, &spec);
    let text = include_str!("../strategy_0.toml");
    let study = Study::new(
        vec![(&tape, &spec)],
        text,
        Vec::new(),
        BacktestConfig::default(),
        0.25,
    )
    .unwrap();
    let genes = Gene::defaults();
    let start = study.start(&genes).unwrap();
    let evaluate = |o: &[(&str, String)]| study.evaluate(o, study.train);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("evolve");
    g.sample_size(10);
    g.throughput(Throughput::Elements(8));
    for jobs in [1, 2].into_iter().filter(|&j| j <= cores) {
        let cfg = evolve::Config {
            population: 8,
            generations: 1,
            jobs,
            ..Default::default()
        };
        g.bench_function(format!("generation_of_8_jobs_{jobs}"), |b| {
            b.iter(|| {
                evolve::evolve(&genes, &start, &cfg, &evaluate, &mut |_| true)
                    .unwrap()
                    .evaluations
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
