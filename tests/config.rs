//! `minerva.toml` / `--config F`: defaults for run, record and exchange (the command
//! line wins), key variables per environment (testnet's never live's), `minerva config
//! check` (validation with the file's line, secrets never shown).

mod common;

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_minerva");

/// `text` in a file of its own, removed when the guard drops.
fn write(name: &str, text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .prefix(&format!("minerva-config-{name}-"))
        .suffix(".toml")
        .tempfile()
        .unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

/// The binary run in an empty directory of its own (no `minerva.toml` found there,
/// nothing it writes by default left behind).
fn minerva(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cwd = common::fresh_dir("config-cwd");
    let mut c = Command::new(BIN);
    c.current_dir(cwd.path()).args(args);
    for v in [
        "MINERVA_CONFIG",
        "MINERVA_BINANCE_API_KEY",
        "MINERVA_BINANCE_API_SECRET",
        "BINANCE_API_KEY",
        "BINANCE_API_SECRET",
        "binance_api",
        "binance_secret",
        "MINERVA_KUCOIN_API_KEY",
        "MINERVA_KUCOIN_API_SECRET",
        "MINERVA_KUCOIN_API_PASSPHRASE",
        "kucoin_api",
        "kucoin_secret",
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The `[run]` section running the shipped sample.
fn run_section() -> String {
    let s = common::sample_dir().join("spot");
    format!(
        "[run]\nsource = \"replay:{},{}\"\nstrategy = \"{}\"\nexchange_info = \"{}\"\nspeed = \"max\"\nno_journal = true\n",
        s.join("btcusdt_20240808.gz").display(),
        s.join("btcusdt_20240809.gz").display(),
        common::repo("strategy_0.toml"),
        common::repo("sample/exchange_info_spot_btcusdt.json"),
    )
}

fn decisions(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("signal: ") || l.starts_with("operations closed: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_file_gives_defaults_and_the_command_line_wins() {
    let file = write(
        "run",
        &format!("{}capital = 1\nshort_pressure = 0.9\n", run_section()),
    );
    let f = file.path().to_str().unwrap();
    // The file's values, with the command line's --capital over the file's.
    let o = minerva(&["run", "--config", f, "--capital", "10000"], &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("with the defaults of"), "{err}");
    // The same run spelled out on the command line.
    let s = common::sample_dir().join("spot");
    let source = format!(
        "replay:{},{}",
        s.join("btcusdt_20240808.gz").display(),
        s.join("btcusdt_20240809.gz").display()
    );
    let plain = minerva(
        &[
            "run",
            "--source",
            &source,
            "--strategy",
            &common::repo("strategy_0.toml"),
            "--exchange-info",
            &common::repo("sample/exchange_info_spot_btcusdt.json"),
            "--speed",
            "max",
            "--no-journal",
            "--short-pressure",
            "0.9",
            "--capital",
            "10000",
        ],
        &[],
    );
    let (pout, perr) = text(&plain);
    assert!(plain.status.success(), "{pout}{perr}");
    assert_eq!(decisions(&out), decisions(&pout));
    assert_eq!(decisions(&out).len(), 2, "{out}");
    // MINERVA_CONFIG names the file too.
    let o = minerva(&["run", "--capital", "10000"], &[("MINERVA_CONFIG", f)]);
    let (out2, err2) = text(&o);
    assert!(o.status.success(), "{err2}");
    assert_eq!(decisions(&out2), decisions(&pout));
}

#[test]
fn check_prints_the_effective_lines_and_never_a_secret() {
    let f = write(
        "check",
        &format!(
            "{}\n[record]\nsymbols = [\"BTCUSDT\", \"ETHUSDT\"]\ndb = \"postgres://minerva:hunter2@db.internal/minerva\"\n\n[exchange]\nport = 9555\n\n[keys.binance]\nlive = [\"MY_LIVE_KEY\", \"MY_LIVE_SECRET\"]\ntestnet = [\"MY_TN_KEY\", \"MY_TN_SECRET\"]\n",
            run_section()
        ),
    );
    let o = minerva(
        &["config", "check", "--config", f.path().to_str().unwrap()],
        &[
            ("MY_LIVE_KEY", "live-key-value-123"),
            ("MY_LIVE_SECRET", "live-secret-value-456"),
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("minerva record --symbols BTCUSDT,ETHUSDT --db postgres://minerva:***@db.internal/minerva"), "{out}");
    assert!(out.contains("minerva exchange --port 9555"), "{out}");
    assert!(
        out.contains("keys for binance live: MY_LIVE_KEY (set), MY_LIVE_SECRET (set)"),
        "{out}"
    );
    assert!(
        out.contains("keys for binance testnet: MY_TN_KEY (not set), MY_TN_SECRET (not set)"),
        "{out}"
    );
    for secret in ["hunter2", "live-key-value-123", "live-secret-value-456"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} shown: {out}{err}"
        );
    }
}

#[test]
fn mistakes_are_refused_with_the_files_line() {
    for (body, says) in [
        (
            "[run]\nsource = \"binance\"\n\nendpiont = \"testnet\"\n",
            ":4: [run] endpiont: not a flag of `minerva run`",
        ),
        (
            "# a comment\n[runn]\nx = 1\n",
            ":2: [runn]: the file configures",
        ),
        (
            "[exchange]\nport = true\n",
            ":2: [exchange] port: expected a string or a number",
        ),
        (
            "[run]\nno_journal = \"yes\"\n",
            ":2: [run] no_journal: `--no-journal` takes no value",
        ),
        ("[run]\nsource = \n", "expected"),
        (
            "[keys.binance]\nlive = [\"A_KEY\", \"A_SECRET\"]\ntestnet = [\"A_KEY\", \"B_SECRET\"]\n",
            "[keys.binance] live and [keys.binance] testnet share A_KEY",
        ),
        (
            "[keys.binance]\nlive = [\"not a name\", \"X\"]\n",
            ":2: [keys.binance] live: expected",
        ),
        (
            "[keys.kucoin]\nlive = [\"K\", \"S\"]\n",
            ":2: [keys.kucoin] live: expected [\"KEY_VARIABLE\", \"SECRET_VARIABLE\", \"PASSPHRASE_VARIABLE\"]",
        ),
        (
            "[keys.kucoin]\nlive = [\"K\", \"S\", \"P\"]\n[keys.binance]\nlive = [\"K\", \"S2\"]\n",
            "[keys.kucoin] live and [keys.binance] live share K",
        ),
        (
            "[endpoints.binance.live.spot]\nrest = \"api1.binance.com\"\n",
            ":1: [endpoints.binance.live] spot.rest: `api1.binance.com`: give the scheme",
        ),
        (
            "[endpoints.binance.live]\nspot = { rest = \"https://x\", grpc = \"y\" }\n",
            "spot.grpc: the servers are rest and ws",
        ),
        (
            "[endpoints.binance.local]\nrest = \"http://x:1\"\n",
            "[endpoints.binance.local] rest: the local exchange takes host = \"HOST:PORT\"",
        ),
        (
            "[endpoints.okx.live.spot]\nrest = \"https://x\"\n",
            "[endpoints.okx]: the venues are binance and kucoin",
        ),
        (
            "[endpoints.binance.mainnet.spot]\nrest = \"https://x\"\n",
            "mainnet: the environments are live, testnet and local",
        ),
        (
            "[exchange]\nspeed = \"warp\"\n",
            "[exchange]: error: invalid value 'warp'",
        ),
    ] {
        let f = write("bad", body);
        let o = minerva(
            &["config", "check", "--config", f.path().to_str().unwrap()],
            &[],
        );
        let (out, err) = text(&o);
        assert!(!o.status.success(), "{body}: {out}");
        assert!(err.contains(says), "{body}\n→ {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A broken file stops the commands it configures, not others.
    let f = write("broken", "[run]\nnope = 1\n");
    let o = minerva(
        &[
            "run",
            "--config",
            f.path().to_str().unwrap(),
            "--source",
            "binance",
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(text(&o).1.contains("nope: not a flag"), "{}", text(&o).1);
    let o = minerva(
        &[
            "latency-report",
            "--config",
            f.path().to_str().unwrap(),
            "/nonexistent.hlog",
        ],
        &[],
    );
    assert!(!text(&o).1.contains("nope"), "{}", text(&o).1);
}

#[test]
fn testnet_keys_are_never_live_keys() {
    // Live's variables set, testnet asked: refused, naming testnet's own variables.
    let o = minerva(
        &[
            "run",
            "--source",
            "binance",
            "--endpoint",
            "testnet",
            "--strategy",
            &common::repo("strategy_0.toml"),
        ],
        &[
            ("MINERVA_BINANCE_API_KEY", "live-key"),
            ("MINERVA_BINANCE_API_SECRET", "live-secret"),
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("set MINERVA_BINANCE_TESTNET_API_KEY and MINERVA_BINANCE_TESTNET_API_SECRET"),
        "{err}"
    );
    // The file names testnet's variables: the same refusal names them.
    let f = write(
        "keys",
        "[keys.binance]\ntestnet = [\"MY_TN_KEY\", \"MY_TN_SECRET\"]\n",
    );
    let o = minerva(
        &[
            "run",
            "--config",
            f.path().to_str().unwrap(),
            "--source",
            "binance",
            "--endpoint",
            "testnet",
            "--strategy",
            &common::repo("strategy_0.toml"),
        ],
        &[("MINERVA_BINANCE_API_KEY", "live-key")],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("set MY_TN_KEY and MY_TN_SECRET"), "{err}");
}

#[test]
fn the_files_servers_and_key_variables_reach_the_venue() {
    // "testnet" pointed by the file at a local exchange: the run's feed, snapshots
    // and orders go there, signed with the keys of the variables the file names.
    let exchange = common::spawn_exchange(common::spot_exchange_command("100"));
    let addr = exchange.addr.clone();
    let f = write(
        "servers",
        &format!(
            "[run]\nsource = \"binance\"\nendpoint = \"testnet\"\nstrategy = \"{}\"\nno_journal = true\n\n[endpoints.binance.testnet.spot]\nrest = \"http://{addr}\"\nws = \"ws://{addr}\"\n\n[endpoints.binance.live]\nusdm = {{ rest = \"https://fapi.example.net\" }}\n\n[keys.binance]\ntestnet = [\"CFG_TN_KEY\", \"CFG_TN_SECRET\"]\n",
            common::repo("strategy_0.toml").replace('\\', "/")
        ),
    );
    let o = minerva(
        &["config", "check", "--config", f.path().to_str().unwrap()],
        &[],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("--key-env CFG_TN_KEY --secret-env CFG_TN_SECRET --rest spot=http://{addr} --ws spot=ws://{addr}")),
        "{out}"
    );
    assert!(
        out.contains("servers for binance live: --rest usdm=https://fapi.example.net"),
        "{out}"
    );
    let o = minerva(
        &["run", "--config", f.path().to_str().unwrap()],
        &[
            ("CFG_TN_KEY", "minerva-paper"),
            ("CFG_TN_SECRET", "minerva-paper-secret"),
        ],
    );
    let _ = exchange.finish();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    // Orders went to the venue the file named, on its own link.
    assert!(
        out.contains("exchange (live): ") && out.contains("live link: "),
        "{out}"
    );
    assert!(!decisions(&out).is_empty(), "{out}");
    // Without the variables the file names, testnet refuses (no fallback to others).
    let o = minerva(
        &["run", "--config", f.path().to_str().unwrap()],
        &[
            ("MINERVA_BINANCE_TESTNET_API_KEY", "minerva-paper"),
            ("MINERVA_BINANCE_TESTNET_API_SECRET", "minerva-paper-secret"),
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("set CFG_TN_KEY and CFG_TN_SECRET"), "{err}");
}

#[test]
fn kucoin_key_variables_come_from_the_file_with_no_fallback() {
    // The file names KuCoin's three variables: a missing passphrase is named, and
    // the documented variables are not read in its place.
    let f = write(
        "kucoin-keys",
        &format!(
            "[run]\nsource = \"kucoin\"\nstrategy = \"{}\"\n\n[keys.kucoin]\nlocal = [\"MY_KC_KEY\", \"MY_KC_SECRET\", \"MY_KC_PASS\"]\n",
            common::repo("strategy_0.toml").replace('\\', "/")
        ),
    );
    let o = minerva(
        &[
            "run",
            "--config",
            f.path().to_str().unwrap(),
            "--host",
            "127.0.0.1:9",
        ],
        &[
            ("MY_KC_KEY", "k"),
            ("MY_KC_SECRET", "s"),
            ("MINERVA_KUCOIN_API_PASSPHRASE", "not-this-one"),
        ],
    );
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(err.contains("MY_KC_PASS is not set"), "{err}");
    assert!(
        !err.contains("not-this-one") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn the_seeds_key_variables_are_read_as_fallbacks_and_never_mixed() {
    // "live" pointed at a closed local port: the keys are read (or refused) before
    // anything is sent, and nothing reaches Binance.
    let closed = [
        "--rest",
        "spot=http://127.0.0.1:9",
        "--ws",
        "spot=ws://127.0.0.1:9",
    ];
    let run = |source: &str, env: &[(&str, &str)]| {
        let mut args = vec![
            "run",
            "--source",
            source,
            "--endpoint",
            "live",
            "--i-mean-it",
            "--strategy",
        ];
        let strategy = common::repo("strategy_0.toml");
        args.push(&strategy);
        args.extend(closed);
        let o = minerva(&args, env);
        let (out, err) = text(&o);
        assert!(!o.status.success(), "{out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        for (_, v) in env {
            assert!(
                !out.contains(v) && !err.contains(v),
                "a key shown: {out}{err}"
            );
        }
        err
    };
    // No keys at all: refused, naming the documented variables.
    let err = run("binance", &[]);
    assert!(
        err.contains("set MINERVA_BINANCE_API_KEY and MINERVA_BINANCE_API_SECRET"),
        "{err}"
    );
    // The seed's two spellings are read when the documented ones are not set.
    for (k, s) in [
        ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
        ("binance_api", "binance_secret"),
    ] {
        let err = run("binance", &[(k, "seed-key-0123"), (s, "seed-secret-4567")]);
        assert!(!err.contains("set MINERVA_BINANCE_API_KEY"), "{k}: {err}");
        assert!(err.contains("127.0.0.1:9"), "{k}: {err}");
    }
    // A key is never paired with another family's secret.
    let err = run(
        "binance",
        &[
            ("binance_api", "seed-key-0123"),
            ("BINANCE_API_SECRET", "seed-secret-4567"),
        ],
    );
    assert!(err.contains("binance_secret is not set"), "{err}");
    // KuCoin: the seed's kucoin_api / kucoin_secret (and the documented passphrase)
    // give the signed full-depth snapshot, not the public top 100.
    let public = "no KuCoin keys in the environment";
    let err = run("kucoin", &[]);
    assert!(err.contains(public), "{err}");
    let err = run(
        "kucoin",
        &[
            ("kucoin_api", "seed-key-0123"),
            ("kucoin_secret", "seed-secret-4567"),
            ("MINERVA_KUCOIN_API_PASSPHRASE", "seed-pass-89ab"),
        ],
    );
    assert!(!err.contains(public), "{err}");
}
