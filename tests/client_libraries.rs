//! Third-party Binance client libraries (binance-connector, ccxt, websocket-client,
//! websockets; `tests/clients/binance_libraries.py`) trade and stream on the local
//! exchange, pointed at it as at Binance's spot testnet; third-party KuCoin clients
//! (ccxt's and ccxt.pro's kucoin, a bare `websockets` session;
//! `tests/clients/kucoin_libraries.py`) stream and sign on the local KuCoin venue. Our
//! own client passing is not enough: these are what users bring.
//!
//! Needs python3 with those packages (`.ci/run` installs them and sets
//! `MINERVA_REQUIRE_CLIENT_LIBS=1`, so CI fails rather than skips without them).

mod common;

use minerva::local_exchange::{Clock, Config, Faults, Limits, LocalExchange, TradingConfig};
use minerva::venues::binance::keys::ApiKeys;
use std::process::Command;

fn libraries_present() -> bool {
    Command::new("python3")
        .args(["-c", "import binance.spot, ccxt, websocket, websockets"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn binance_client_libraries_work_against_the_local_exchange() {
    if !libraries_present() {
        assert!(
            std::env::var_os("MINERVA_REQUIRE_CLIENT_LIBS").is_none(),
            "python3 with binance-connector, ccxt, websocket-client and websockets is required"
        );
        eprintln!("skipped: python3 client libraries not installed");
        return;
    }
    let (files, replay) = common::spot_files();
    let venue = LocalExchange::start(Config {
        files,
        replay,
        speed: Some(1.0),
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        weight_limit: None,
        keys: std::sync::Arc::new(ApiKeys::paper()),
        trading: TradingConfig::default(),
        limits: Limits::default(),
        // The libraries sign with the machine's clock.
        clock: Clock::Wall,
    })
    .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/binance_libraries.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(venue.local_addr().to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("all client library checks passed"), "{text}");
    venue.stop();
}

/// The local KuCoin venue on `files`, and a client script (`tests/clients/`) run
/// against it with `extra` arguments after its address, until it prints `done`.
fn kucoin_script(files: Vec<std::path::PathBuf>, script: &str, extra: &[&str], done: &str) {
    use minerva::local_exchange::kucoin::{Config as KucoinConfig, LocalKucoin};
    let venue = LocalKucoin::start(KucoinConfig {
        files,
        replay: Default::default(),
        // The whole script within the 30 s recording, with room.
        speed: Some(1.5),
        addr: "127.0.0.1:0".parse().unwrap(),
        faults: Faults::default(),
        keys: std::sync::Arc::new(minerva::venues::kucoin::keys::KucoinKeys::paper()),
        limits: Limits::default(),
        trading: Default::default(),
    })
    .unwrap();
    let out = Command::new("python3")
        .arg(format!(
            "{}/tests/clients/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(venue.local_addr().to_string())
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(done), "{text}");
    venue.stop();
}

#[test]
fn kucoin_clients_work_against_the_local_kucoin_venue() {
    if !libraries_present() {
        assert!(
            std::env::var_os("MINERVA_REQUIRE_CLIENT_LIBS").is_none(),
            "python3 with ccxt and websockets is required"
        );
        eprintln!("skipped: python3 client libraries not installed");
        return;
    }
    let Some(data) = common::shared_data() else {
        return;
    };
    let dir = data.join("kucoin-sample");
    kucoin_script(
        ["KUCOIN.ws.1.0", "KUCOIN.http.0.0", "KUCOIN.0"]
            .iter()
            .map(|f| dir.join(f))
            .collect(),
        "kucoin_libraries.py",
        &[],
        "all kucoin client checks passed",
    );
}

/// ccxt's kucoinfutures and ccxt.pro's kucoinfutures on the local venue serving the
/// capture as a linear contract (`common::kucoin_futures_recording`).
#[test]
fn kucoin_futures_clients_work_against_the_local_kucoin_venue() {
    if !libraries_present() {
        assert!(
            std::env::var_os("MINERVA_REQUIRE_CLIENT_LIBS").is_none(),
            "python3 with ccxt and websockets is required"
        );
        eprintln!("skipped: python3 client libraries not installed");
        return;
    }
    let Some((contract, text)) = common::kucoin_futures_recording("BCHSV-USDT") else {
        return;
    };
    let tmp = common::fresh_dir("kucoin-futures-clients");
    let file = tmp.path().join("recording.txt");
    std::fs::write(&file, text).unwrap();
    kucoin_script(
        vec![file.clone()],
        "kucoin_futures_libraries.py",
        &[&contract],
        "all kucoin futures client checks passed",
    );
}
