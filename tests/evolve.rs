//! `minerva evolve` on the shipped session: what it reports is what a backtest of the
//! strategy it writes gives, the start is the strategy it was given, and the holdout is
//! the part of the data it never trained on.

mod common;

use minerva::backtest::{self, BacktestConfig, Input, tape::Tape};
use minerva::evolve::{self, Gene, study::Study};
use std::path::Path;
use std::process::Command;

fn minerva(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minerva"));
    c.current_dir(root);
    c
}

/// The shipped spot session and its grids, as arguments.
const SAMPLE: [&str; 4] = [
    "sample/hftbacktest/spot/btcusdt_20240808.gz",
    "sample/hftbacktest/spot/btcusdt_20240809.gz",
    "--exchange-info",
    "sample/exchange_info_spot_btcusdt.json",
];

/// Standard output of a command that must succeed (its output shown if not).
fn succeeded(out: std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The backtests a run's summary says it ran: `evolution: G generations, N backtests`.
fn said_backtests(text: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix("evolution: "))
        .and_then(|l| l.split(" generations, ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in\n{text}"))
}

/// A window as printed (`train    FROM → TO (…)`): `--from FROM --to TO`.
fn printed_window(text: &str, name: &str) -> [String; 4] {
    let l = text.lines().find(|l| l.starts_with(name)).unwrap();
    let w: Vec<&str> = l.split_whitespace().collect();
    ["--from".into(), w[1].into(), "--to".into(), w[3].into()]
}

fn results_fitness(file: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(file).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let get = |k: &str| doc["results"][k].as_float().unwrap();
    (get("fitness"), get("trades"))
}

/// Fitness of `minerva backtest --json` with `args`.
fn backtest_fitness(root: &Path, args: &[&str]) -> f64 {
    let out = minerva(root)
        .args(["backtest"])
        .args(args)
        .args(SAMPLE)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&succeeded(out)).unwrap();
    v["fitness"].as_f64().unwrap()
}

/// The command a user runs: the strategy file it writes backtests (an ordinary
/// `minerva backtest` over the windows it prints) to the fitness it reports on training
/// and on the holdout, and it begins from the given strategy's own backtest.
#[test]
fn the_written_strategy_backtests_to_its_reported_fitness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = common::fresh_dir("evolve");
    let dir = tmp.path();
    let (out_file, log) = (dir.join("best.toml"), dir.join("log.csv"));
    let strategy_file = dir.join("start.toml");
    std::fs::copy(root.join("strategy_0.toml"), &strategy_file).unwrap();
    let out = minerva(root)
        .arg("evolve")
        .args(SAMPLE)
        .arg("--strategy")
        .arg(&strategy_file)
        .args(["--population", "6", "--generations", "3"])
        .args(["--maker-fee", "0", "--taker-fee", "0", "--min-trades", "2"])
        .args(["--long-pressure", "0.35"])
        .arg("--out")
        .arg(&out_file)
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap();
    let text = succeeded(out);
    // The log drawn: fitness per generation and each parameter against it.
    let page = dir.join("evolve.html");
    let said = common::minerva_ok(&[
        "report",
        "--evolve-log",
        log.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(said.contains("evolution: 3 generations, "), "{said}");
    if let Some(c) = common::browser_check(&page) {
        assert_eq!(c["panels"]["generations"], true, "{c}");
        assert_eq!(c["panels"]["genes"], true, "{c}");
    }
    // The strategy evolved from is untouched; the written one carries the fixed
    // overrides (fees 0) and the evolved genes.
    assert_eq!(
        std::fs::read(&strategy_file).unwrap(),
        std::fs::read(root.join("strategy_0.toml")).unwrap()
    );
    let written = minerva::strategy::Strategy::load(&out_file, &[]).unwrap();
    assert_eq!((written.maker_fee_e8, written.taker_fee_e8), (0, 0));
    // A key set on the command line is fixed, not searched.
    assert_eq!(written.long_pressure_ppm, 350_000);
    assert!(!text.contains("  long_pressure "), "{text}");
    let (fitness, trades) = results_fitness(&out_file);
    assert!(trades >= 2.0, "{text}");
    let (train, hold) = (
        printed_window(&text, "train "),
        printed_window(&text, "holdout "),
    );
    let best = out_file.to_str().unwrap();
    let on = |w: &[String; 4], strategy: &str, more: &[&str]| {
        let mut args = vec!["--strategy", strategy];
        args.extend(w.iter().map(String::as_str));
        args.extend(more);
        backtest_fitness(root, &args)
    };
    let again = on(&train, best, &[]);
    assert!(
        (again - fitness).abs() < 1e-9,
        "{again} vs {fitness}\n{text}"
    );
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&out_file).unwrap().parse().unwrap();
    let held = doc["results"]["holdout_fitness"].as_float().unwrap();
    let again = on(&hold, best, &[]);
    assert!((again - held).abs() < 1e-9, "{again} vs {held}\n{text}");
    // The start row is the given strategy's backtest, fees overridden as on the command line.
    let zero_fees = [
        "--maker-fee",
        "0",
        "--taker-fee",
        "0",
        "--long-pressure",
        "0.35",
    ];
    let start = on(&train, "strategy_0.toml", &zero_fees);
    let row = text.lines().find(|l| l.starts_with("start")).unwrap();
    let shown: f64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((shown - start).abs() < 1e-4, "{row} vs {start}");
    // Never worse than the start (it is the first candidate; the best is kept).
    assert!(fitness >= start - 1e-12, "{fitness} < {start}");
    // The log: a row per backtest run, as many as the summary says.
    // (After the fingerprint line and the header.)
    let rows = std::fs::read_to_string(&log).unwrap().lines().count() - 2;
    assert_eq!(rows, said_backtests(&text), "{text}");
}

/// Bad settings are refused, each naming its flag, never a panic.
#[test]
fn bad_settings_are_refused_clearly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (args, says) in [
        (&["--gene", "capital=1..2"][..], "account or market"),
        (&["--gene", "bins=10..2000"], "gene bins"),
        (&["--fix", "bins"], "--fix bins"),
        (&["--population", "1"], "--population"),
        (&["--jobs", "999"], "--jobs 999"),
        (&["--holdout", "0.95"], "--holdout"),
        (&["--out", "strategy_0.toml"], "--out"),
        (
            &["--gene", "bins=10..200", "--bins", "50"],
            "--bins sets that key",
        ),
    ] {
        let out = minerva(root)
            .args(["evolve", "sample/hftbacktest/spot/btcusdt_20240808.gz"])
            .args(["--strategy", "strategy_0.toml"])
            .args(["--exchange-info", "sample/exchange_info_spot_btcusdt.json"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// In the library: the fitness the evolution ranks by is the backtest's on the training
/// window from the recorded frames (not only from the tape), and the holdout window
/// begins where training ends.
#[test]
fn training_and_holdout_are_the_backtests_windows() {
    let (frames, spec) = common::spot_session();
    let tape = Tape::record(&frames, &spec);
    let text = include_str!("../strategy_0.toml");
    let fixed = vec![("maker_fee", "0".to_string()), ("taker_fee", "0".into())];
    let study = Study::new(
        vec![(&tape, &spec)],
        text,
        fixed,
        BacktestConfig::default(),
        0.3,
    )
    .unwrap();
    let (train, hold) = (study.train, study.holdout.unwrap());
    assert_eq!(hold.from_ns, train.to_ns + 1);
    assert_eq!(train.from_ns, frames[0].1);
    assert_eq!(hold.to_ns, frames.last().unwrap().1);
    let genes = vec![
        Gene::parse("short_pressure=0.55..0.8:0.05").unwrap(),
        Gene::parse("long_pressure=0.2..0.45:0.05").unwrap(),
    ];
    study.check(&genes).unwrap();
    let start = study.start(&genes).unwrap();
    assert_eq!(start, vec![0.75, 0.25]);
    let cfg = evolve::Config {
        population: 6,
        generations: 2,
        jobs: 2,
        ..Default::default()
    };
    let evaluate = |o: &[(&str, String)]| study.evaluate(o, study.train);
    let e = evolve::evolve(&genes, &start, &cfg, &evaluate, &mut |_| true).unwrap();
    let best = evolve::overrides(&genes, &e.best.genome);
    let strategy = study.strategy(&best).unwrap();
    for (window, outcome) in [
        (train, e.best.outcome.clone().unwrap()),
        (hold, study.evaluate(&best, hold).unwrap()),
    ] {
        let cfg = BacktestConfig {
            from_ns: Some(window.from_ns),
            to_ns: Some(window.to_ns),
            ..Default::default()
        };
        let r = backtest::run(
            Input::Frames(&frames),
            &spec,
            &strategy,
            common::test_signer(),
            &cfg,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(
            (r.fitness + 0.0, r.metrics.trades),
            (outcome.fitness, outcome.trades)
        );
    }
    // A gene whose range the strategy file refuses is named.
    let bad = [Gene::parse("percentage_per_trade=0.5..2").unwrap()];
    assert!(
        study
            .check(&bad)
            .unwrap_err()
            .to_string()
            .contains("percentage_per_trade")
    );
}

/// Ctrl-C (SIGINT) ends the evolution after the generation under way: the best found so
/// far is reported and written, and the exit is clean.
#[test]
fn an_interrupted_evolution_keeps_its_best() {
    use std::io::{BufRead, BufReader};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = common::fresh_dir("evolve-int");
    let dir = tmp.path();
    let out_file = dir.join("best.toml");
    let mut child = minerva(root)
        .arg("evolve")
        .args(SAMPLE)
        .args(["--strategy", "strategy_0.toml", "--population", "4"])
        .args(["--generations", "100000", "--jobs", "1"])
        .arg("--out")
        .arg(&out_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        let first_generation = l.trim_start().starts_with("0 ");
        seen.push(l);
        if first_generation {
            break;
        }
    }
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    seen.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let text = seen.join("\n");
    assert!(status.success(), "{text}");
    assert!(text.contains("· stopped (signal)"), "{text}");
    let generations: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("evolution: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!((1..100_000).contains(&generations), "{text}");
    assert!(results_fitness(&out_file).0.is_finite());
}

/// Two symbols (`../shared/data`'s spot BTCUSDT and ETHUSDT): each candidate is judged
/// by the two backtests combined, over the window both recordings cover, and
/// `minerva backtest --symbols` over the printed windows gives the same figures.
#[test]
fn several_symbols_are_judged_combined() {
    let Some(shared) = common::shared_data() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = shared.join("hftbacktest-examples/spot");
    let files: Vec<String> = ["btcusdt_20240808", "btcusdt_20240809", "ethusdt_20240808"]
        .iter()
        .chain(&["ethusdt_20240809"])
        .map(|f| d.join(format!("{f}.gz")).display().to_string())
        .collect();
    let tmp = common::fresh_dir("evolve-sym");
    let dir = tmp.path();
    let out_file = dir.join("best.toml");
    let out = minerva(root)
        .arg("evolve")
        .args(&files)
        .args([
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--strategy",
            "strategy_0.toml",
        ])
        .args([
            "--population",
            "4",
            "--generations",
            "2",
            "--min-trades",
            "2",
        ])
        .args(["--maker-fee", "0", "--taker-fee", "0"])
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    let text = succeeded(out);
    assert!(text.contains("evolve ETHUSDT spot"), "{text}");
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&out_file).unwrap().parse().unwrap();
    for (name, key) in [("train ", "fitness"), ("holdout ", "holdout_fitness")] {
        let b = minerva(root)
            .arg("backtest")
            .args(&files)
            .args(["--symbols", "BTCUSDT,ETHUSDT", "--json", "--strategy"])
            .arg(&out_file)
            .args(printed_window(&text, name))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&succeeded(b)).unwrap();
        let want = doc["results"][key].as_float().unwrap();
        let got = v["combined"]["fitness"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}\n{text}");
    }
}

/// `--resume` goes on from a log: with the same seed it retraces the earlier run without
/// running its backtests again, then continues — the same log rows and the same file as
/// one uninterrupted run; a log made with other settings is refused.
#[test]
fn a_resumed_evolution_equals_an_uninterrupted_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = common::fresh_dir("evolve-res");
    let dir = tmp.path();
    let run = |generations: &str, log: (&str, &Path), out: &Path, more: &[&str]| {
        let o = minerva(root)
            .arg("evolve")
            .args(SAMPLE)
            .args(["--strategy", "strategy_0.toml", "--population", "4"])
            .args(["--generations", generations])
            .arg(log.0)
            .arg(log.1)
            .arg("--out")
            .arg(out)
            .args(more)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (log, whole_log) = (dir.join("part.csv"), dir.join("whole.csv"));
    let (part, resumed, whole) = (dir.join("a.toml"), dir.join("b.toml"), dir.join("c.toml"));
    let (ok, a) = run("2", ("--log", &log), &part, &[]);
    assert!(ok, "{a}");
    // Killed mid-write: a last row cut short is dropped, not read or joined onto.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"2,370,9.5,0.7").unwrap();
    drop(f);
    let (ok, b) = run("4", ("--resume", &log), &resumed, &[]);
    assert!(b.contains("cut short"), "{b}");
    assert!(ok, "{b}");
    let (ok, c) = run("4", ("--log", &whole_log), &whole, &[]);
    assert!(ok, "{c}");
    assert_eq!(
        said_backtests(&a) + said_backtests(&b),
        said_backtests(&c),
        "{a}\n{b}\n{c}"
    );
    assert!(b.contains("resumed: "), "{b}");
    let sorted = |p: &Path| {
        let mut l: Vec<String> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&log), sorted(&whole_log));
    assert_eq!(
        std::fs::read_to_string(&resumed).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
    // Other settings (fees) would give other outcomes: the log is refused.
    let (ok, d) = run("4", ("--resume", &log), &resumed, &["--maker-fee", "0"]);
    assert!(!ok && d.contains("other data or settings"), "{d}");
}
