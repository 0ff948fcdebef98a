//! Persisted tapes (`minerva tape build`): a backtest of the tape prints the same report
//! as the backtest of the files it came from; a tape written, read and written again is
//! the same bytes; a tape of another layout version, another grid, or cut or altered
//! is refused with the reason.

mod common;

use minerva::backtest::tape::{TAPE_VERSION, Tape, TapeFileError};
use std::path::PathBuf;

fn sample() -> Vec<String> {
    [
        "sample/hftbacktest/spot/btcusdt_20240808.gz",
        "sample/hftbacktest/spot/btcusdt_20240809.gz",
    ]
    .iter()
    .map(|f| common::repo(f))
    .collect()
}

/// `<name>.tape` in a directory of its own, removed with the guard (with whatever else
/// the test writes beside the tape).
fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = common::fresh_dir(&format!("tape-{name}"));
    let path = dir.path().join(format!("{name}.tape"));
    (dir, path)
}

/// The sample's tape built by `minerva tape build` into a temporary file named after
/// `name`: (its directory's guard, tape, its exchangeInfo, the sample's files, what the
/// build printed).
fn sample_tape(name: &str) -> (tempfile::TempDir, PathBuf, String, Vec<String>, String) {
    let (dir, tape) = temp(name);
    let info = common::repo("sample/exchange_info_spot_btcusdt.json");
    let files = sample();
    let mut build = vec!["tape", "build"];
    build.extend(files.iter().map(String::as_str));
    build.extend(["--exchange-info", &info, "--out", tape.to_str().unwrap()]);
    let built = common::minerva_ok(&build);
    (dir, tape, info, files, built)
}

#[test]
fn a_tape_backtests_to_the_same_report_as_its_files() {
    let (_dir, tape, info, files, built) = sample_tape("cli");
    assert!(built.contains("tape BTCUSDT (binance spot)"), "{built}");
    let strategy = common::repo("strategy_0.toml");
    let mut from_files = vec!["backtest"];
    from_files.extend(files.iter().map(String::as_str));
    from_files.extend(["--strategy", &strategy, "--exchange-info", &info]);
    let a = common::minerva_ok(&from_files);
    let b = common::minerva_ok(&["backtest", tape.to_str().unwrap(), "--strategy", &strategy]);
    // The first line names the input (frames, or decoded messages); the rest is equal.
    let (a1, a_rest) = a.split_once('\n').unwrap();
    let (b1, b_rest) = b.split_once('\n').unwrap();
    assert_eq!(a_rest, b_rest);
    assert!(a_rest.contains("net PnL"), "{a}");
    let window = |l: &str| l.rsplit_once(" · ").map(|x| x.0.to_string());
    assert_eq!(window(a1), window(b1), "{a1}\n{b1}");
    assert!(b1.contains("decoded messages"), "{b1}");
}

#[test]
fn a_tape_round_trips_and_refuses_what_is_not_its_own() {
    let files: Vec<PathBuf> = sample().into_iter().map(PathBuf::from).collect();
    let opts = minerva::replay::ReplayOptions {
        exchange_info: Some(common::repo("sample/exchange_info_spot_btcusdt.json").into()),
        ..Default::default()
    };
    let spec = minerva::replay::symbol_table(&files, &opts)
        .unwrap()
        .specs()[0]
        .clone();
    let frames = minerva::store::files::recorded_frames_of(&files, &spec.name).unwrap();
    let tape = Tape::record(&frames, &spec);
    let (_dir, path) = temp("lib");
    tape.save(&spec, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (loaded, loaded_spec) = Tape::load(&path, Some(&spec)).unwrap();
    assert_eq!(loaded_spec, spec);
    assert_eq!((loaded.len(), loaded.frames), (tape.len(), tape.frames));
    // Written again: the same bytes.
    loaded.save(&spec, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    let refused = |b: &[u8], asked| Tape::from_bytes(b, asked).err().map(|e| e.to_string());
    // Another layout version.
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&(TAPE_VERSION + 1).to_le_bytes());
    assert!(matches!(
        Tape::from_bytes(&other, None),
        Err(TapeFileError::Version { .. })
    ));
    // One byte of the payload changed, or the file cut.
    let mut altered = bytes.clone();
    let last = altered.len() - 3;
    altered[last] ^= 0x40;
    assert!(refused(&altered, None).unwrap().contains("checksum"));
    assert!(
        refused(&bytes[..bytes.len() - 100], None)
            .unwrap()
            .contains("cut or altered")
    );
    // Not a tape.
    assert!(matches!(
        Tape::from_bytes(b"{\"e\":\"depthUpdate\"}", None),
        Err(TapeFileError::NotATape)
    ));
    // Another grid than the one asked for.
    let mut finer = spec.clone();
    finer.qty = minerva::core::QtyGrid::new(spec.qty.decimals() + 1, None).unwrap();
    let e = refused(&bytes, Some(&finer)).unwrap();
    assert!(e.contains("decoded for BTCUSDT"), "{e}");
}

/// `minerva evolve` on a tape writes the same strategy and prints the same as on the
/// files it came from (same seed).
#[test]
fn evolve_reads_a_tape_as_it_reads_the_files() {
    let (_dir, tape, info, files, _) = sample_tape("evolve");
    let strategy = common::repo("strategy_0.toml");
    let (out_a, out_b) = (tape.with_extension("a.toml"), tape.with_extension("b.toml"));
    let small = ["--population", "4", "--generations", "2", "--seed", "7"];
    let mut a = vec!["evolve"];
    a.extend(files.iter().map(String::as_str));
    a.extend([
        "--exchange-info",
        &info,
        "--strategy",
        &strategy,
        "--out",
        out_a.to_str().unwrap(),
    ]);
    a.extend(small);
    let mut b = vec!["evolve", tape.to_str().unwrap(), "--strategy", &strategy];
    b.extend(["--out", out_b.to_str().unwrap()]);
    b.extend(small);
    let (pa, pb) = (common::minerva_ok(&a), common::minerva_ok(&b));
    let written = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
    let (sa, sb) = (written(&out_a), written(&out_b));
    let strip = |t: &str, p: &PathBuf| t.replace(p.to_str().unwrap(), "OUT");
    // Each generation's row ends with its wall time: left out.
    let untimed = |t: String| -> Vec<String> {
        t.lines()
            .map(|l| match l.rsplit_once(' ') {
                Some((head, last))
                    if last.ends_with('s') && last[..last.len() - 1].parse::<f64>().is_ok() =>
                {
                    head.to_string()
                }
                _ => l.to_string(),
            })
            .collect()
    };
    assert_eq!(untimed(strip(&pa, &out_a)), untimed(strip(&pb, &out_b)));
    assert_eq!(strip(&sa, &out_a), strip(&sb, &out_b));
}

/// `minerva signal` and `minerva report` read a tape as they read the files it came
/// from: the same operations and refusals, the same page data.
#[test]
fn signal_and_report_read_a_tape_as_they_read_the_files() {
    let (_dir, tape, info, files, _) = sample_tape("signal-report");
    let strategy = common::repo("strategy_0.toml");
    // A loosened strategy, so operations are proposed and sized.
    let loose = [
        "--maker-fee",
        "0",
        "--taker-fee",
        "0",
        "--short-pressure",
        "0.6",
        "--long-pressure",
        "0.4",
        "--max-concurrent-trades",
        "20",
        "--void-height",
        "-1000000",
        "--void-prominence",
        "0",
    ];
    let mut a = vec!["signal", "--json"];
    a.extend(files.iter().map(String::as_str));
    a.extend(["--exchange-info", &info, "--strategy", &strategy]);
    a.extend(loose);
    let mut b = vec![
        "signal",
        "--json",
        tape.to_str().unwrap(),
        "--strategy",
        &strategy,
    ];
    b.extend(loose);
    let (sa, sb) = (common::minerva_ok(&a), common::minerva_ok(&b));
    assert!(
        sa.lines().filter(|l| l.contains("\"operation\"")).count() > 2,
        "{sa}"
    );
    assert_eq!(sa, sb);
    // The report: the backtest, the operations and the pictures' data.
    let (pa, pb) = (tape.with_extension("a.html"), tape.with_extension("b.html"));
    let mut a = vec!["report"];
    a.extend(files.iter().map(String::as_str));
    a.extend(["--exchange-info", &info, "--strategy", &strategy]);
    a.extend(loose);
    a.extend(["--out", pa.to_str().unwrap()]);
    let mut b = vec!["report", tape.to_str().unwrap(), "--strategy", &strategy];
    b.extend(loose);
    b.extend(["--out", pb.to_str().unwrap()]);
    common::minerva_ok(&a);
    common::minerva_ok(&b);
    let page = |p: &PathBuf| common::report_data(&std::fs::read_to_string(p).unwrap());
    let (da, db) = (page(&pa), page(&pb));
    assert!(
        da["backtest"]["operations"]
            .as_array()
            .is_some_and(|o| !o.is_empty()),
        "{da}"
    );
    let (mut da, mut db) = (da, db);
    for d in [&mut da, &mut db] {
        strip_input_line(d);
    }
    assert_eq!(da, db);
}

/// Takes out what names the input (frames, or decoded messages) from the page data:
/// the backtest text's first line and its frame counts.
fn strip_input_line(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        for k in ["frames", "window_frames"] {
            o.remove(k);
        }
    }
    match v {
        serde_json::Value::String(s) if s.starts_with("backtest ") => {
            if let Some((_, rest)) = s.split_once('\n') {
                *s = rest.to_string();
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_input_line),
        serde_json::Value::Object(o) => o.values_mut().for_each(strip_input_line),
        _ => {}
    }
}

/// `minerva bench backtest` times a backtest's passes on a tape or on the files, and
/// names what it ran: the tape's messages or the files' frames, every pass.
#[test]
fn bench_backtest_times_passes_on_a_tape_and_on_files() {
    let (_dir, tape, info, files, _) = sample_tape("bench");
    let strategy = common::repo("strategy_0.toml");
    let field = |line: &str, key: &str| -> String {
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            .to_string()
    };
    let t = common::minerva_ok(&[
        "bench",
        "backtest",
        tape.to_str().unwrap(),
        "--strategy",
        &strategy,
        "--repeat",
        "2",
        "--name",
        "sample",
    ]);
    let mut from_files = vec!["bench", "backtest"];
    from_files.extend(files.iter().map(String::as_str));
    from_files.extend([
        "--strategy",
        &strategy,
        "--exchange-info",
        &info,
        "--repeat",
        "2",
    ]);
    let f = common::minerva_ok(&from_files);
    let (t, f) = (t.trim(), f.trim());
    assert!(
        t.starts_with("RESULT peer=minerva-backtest data=sample input=tape"),
        "{t}"
    );
    assert!(
        f.starts_with("RESULT peer=minerva-backtest data=data input=frames"),
        "{f}"
    );
    // The tape's decoded messages; the recording's frames.
    assert_eq!(field(t, "units"), "32671");
    assert_eq!(field(f, "units"), "99574");
    for line in [t, f] {
        assert_eq!(field(line, "passes"), "2");
        let passes: Vec<f64> = field(line, "passes_secs")
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(passes.len(), 2);
        assert!(passes.iter().all(|&s| s > 0.0), "{line}");
    }
    // The same backtest either way.
    for key in ["intents", "fills", "trades"] {
        assert_eq!(field(t, key), field(f, key), "{key}");
    }
}
