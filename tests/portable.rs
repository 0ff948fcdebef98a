//! The default build runs on any x86-64: the binary this build made backtests the
//! README's sample under `qemu-x86_64 -cpu Nehalem` (SSE4.2, no AVX, no AVX2: a 2008
//! CPU) and prints what it prints natively. A build with `-C target-cpu=x86-64-v3`
//! dies there with an illegal instruction, so the check can fail. Needs qemu-user
//! (`.ci/run` installs it and sets `MINERVA_REQUIRE_QEMU=1`, so CI fails rather than
//! skips without it).

mod common;

use std::process::Command;

#[test]
fn the_default_build_runs_on_a_cpu_without_avx() {
    if Command::new("qemu-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("MINERVA_REQUIRE_QEMU").is_none(),
            "qemu-x86_64 (qemu-user) is required"
        );
        eprintln!("skipped: qemu-x86_64 not installed");
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let args = [
        "backtest",
        &common::repo("sample/hftbacktest/spot/btcusdt_20240808.gz"),
        &common::repo("sample/hftbacktest/spot/btcusdt_20240809.gz"),
        "--strategy",
        &common::repo("strategy_0.toml"),
        "--exchange-info",
        &common::repo("sample/exchange_info_spot_btcusdt.json"),
    ];
    let native = Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(args)
        .output()
        .unwrap();
    assert!(native.status.success());
    let old = Command::new("qemu-x86_64")
        .args(["-cpu", "Nehalem", env!("CARGO_BIN_EXE_minerva")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        old.status.success(),
        "on a CPU without AVX: {:?}\n{}",
        old.status,
        String::from_utf8_lossy(&old.stderr)
    );
    // The same report (its first line names the run's wall time: skipped).
    let report = |o: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(o)
            .lines()
            .filter(|l| !l.contains("frames/s") && !l.contains(" in "))
            .map(str::to_string)
            .collect()
    };
    let (n, q) = (report(&native.stdout), report(&old.stdout));
    assert!(n.iter().any(|l| l.contains("net PnL")), "{n:?}");
    assert_eq!(n, q);
}
