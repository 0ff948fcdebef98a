//! Recording databases: files imported into SQLite replay, backtest and serve exactly
//! as the files do (the same lines, the same merge, the same symbol attribution), and
//! a database killed mid-write opens cleanly with every committed batch intact.

mod common;

use minerva::backtest::{self, BacktestConfig, Input};
use minerva::replay::{ReplayOptions, replay};
use minerva::store::{Store, expand};
use std::path::PathBuf;

fn temp_db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("minerva-{}-{name}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

/// The replay's per-symbol results, timing left out.
fn replay_digest(files: &[PathBuf], opts: &ReplayOptions) -> String {
    let r = replay(files, opts).unwrap();
    let mut out = format!(
        "{} lines {} frames {} errors\n",
        r.lines, r.frames, r.decode_errors
    );
    for s in &r.symbols {
        out.push_str(&format!("{s:?}\n"));
    }
    out
}

/// The loosened strategy backtested on recorded `files` (or database sessions).
fn loose_backtest(files: &[PathBuf], opts: &ReplayOptions) -> backtest::BacktestReport {
    let spec = minerva::replay::symbol_table(files, opts).unwrap().specs()[0].clone();
    let frames = minerva::replay::input::recorded_frames(files).unwrap();
    backtest::run(
        Input::Frames(&frames),
        &spec,
        &common::loose_strategy(),
        common::test_signer(),
        &BacktestConfig::default(),
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn an_imported_session_replays_and_backtests_as_its_files() {
    let (files, opts) = common::spot_files();
    let db = temp_db("spot");
    let (sessions, lines) = Store::open(&db).unwrap().import(&files).unwrap();
    assert_eq!((sessions.len(), lines), (2, 99_574));
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    assert_eq!(from_db.len(), 2);
    assert!(from_db[0].ends_with("1/btcusdt_20240808.gz"), "{from_db:?}");
    assert_eq!(replay_digest(&from_db, &opts), replay_digest(&files, &opts));
    // The backtest report, byte for byte.
    let run = |f: &[PathBuf]| loose_backtest(f, &opts).to_text();
    let (a, b) = (run(&files), run(&from_db));
    assert!(a.contains("trades"), "{a}");
    assert_eq!(a, b);
    let info = Store::open_read(&db).unwrap().sessions().unwrap();
    assert_eq!(
        info[0]
            .streams
            .iter()
            .find(|s| s.0 == "snapshot")
            .map(|s| s.1),
        Some(1)
    );
    assert_eq!(Store::open_read(&db).unwrap().integrity().unwrap(), "ok");
}

/// Two symbols in separate files, interleaved by receive time on replay; their bare
/// snapshots are attributed by the original file names kept in the database.
#[test]
fn several_symbols_merge_as_their_files() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let u = d.join("hftbacktest-examples/usdm");
    let files = vec![u.join("btcusdt_20240718.gz"), u.join("ethusdt_20240718.gz")];
    let db = temp_db("usdm");
    Store::open(&db).unwrap().import(&files).unwrap();
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    let opts = ReplayOptions::default();
    let want = replay_digest(&files, &opts);
    assert!(
        want.contains("ETHUSDT") && want.contains("BTCUSDT"),
        "{want}"
    );
    assert_eq!(replay_digest(&from_db, &opts), want);
}

/// `minerva db import` killed with SIGKILL while writing: the database opens, SQLite's
/// integrity check passes, and every session holds whole batches (or all its lines).
#[test]
fn a_database_killed_mid_write_opens_with_its_committed_batches() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let u = d.join("hftbacktest-examples/usdm");
    let files: Vec<PathBuf> = [
        "btcusdt_20240808.gz",
        "ethusdt_20240808.gz",
        "btcusdt_20240719.gz",
    ]
    .iter()
    .map(|f| u.join(f))
    .collect();
    let db = temp_db("killed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["db", "import"])
        .args(&files)
        .arg("--db")
        .arg(&db)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the first batches are in, then mid-write.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = Store::open_read(&db)
            .ok()
            .and_then(|s| s.sessions().ok())
            .map_or(0, |s| s.iter().map(|x| x.lines).sum::<i64>());
        if n >= 40_000 || std::time::Instant::now() > until {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let store = Store::open(&db).unwrap();
    assert_eq!(store.integrity().unwrap(), "ok");
    let sessions = store.sessions().unwrap();
    assert!(!sessions.is_empty());
    let whole: Vec<i64> = files
        .iter()
        .map(|f| {
            let mut r = minerva::replay::input::LineReader::open(f).unwrap();
            while r.next_line().unwrap().is_some() {}
            r.lines() as i64
        })
        .collect();
    for (s, all) in sessions.iter().zip(&whole) {
        assert!(
            s.lines % 20_000 == 0 || s.lines == *all,
            "session {}: {} lines of {all}",
            s.id,
            s.lines
        );
    }
    let kept: i64 = sessions.iter().map(|s| s.lines).sum();
    assert!(kept >= 40_000, "{kept}");
    assert!(
        kept < whole.iter().sum::<i64>(),
        "killed mid-write, not after"
    );
}

/// A database from a newer Minerva, or a file that is not a database: clear errors.
#[test]
fn a_newer_schema_and_a_non_database_are_refused_clearly() {
    let db = temp_db("newer");
    drop(Store::open(&db).unwrap());
    minerva::store::set_schema_version_for_tests(&db, 99).unwrap();
    let e = Store::open(&db).err().unwrap().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
    assert!(!minerva::store::is_database(std::path::Path::new(
        "Cargo.toml"
    )));
    assert_eq!(
        expand(&[PathBuf::from("Cargo.toml")]).unwrap(),
        vec![PathBuf::from("Cargo.toml")]
    );
}

/// `minerva record` from `minerva exchange`: the recording replays to the recorded
/// session's final book, and backtests to the same operations as the files once the
/// start (where its book syncs) is behind.
#[test]
fn a_recording_of_the_local_exchange_replays_as_its_files() {
    use minerva::store::recorder::{RecordConfig, record};
    let (files, opts) = common::spot_files();
    let venue = common::spot_venue(None, Default::default(), None);
    let db = temp_db("recorded");
    let host = venue.local_addr().to_string();
    let cfg = RecordConfig {
        db: db.clone(),
        sources: vec![minerva::feed::live::LiveConfig {
            host: host.clone(),
            rest: None,
            market: minerva::core::Market::Spot,
            symbol: "BTCUSDT".into(),
            streams: vec!["depth@100ms".into(), "trade".into(), "bookTicker".into()],
            snapshot_limit: 5000,
            max_reconnects: Some(0),
            seed: 4,
            rotate_after: None,
            stale_after: None,
        }],
        status_every: std::time::Duration::from_millis(200),
    };
    let mut statuses = 0;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, sessions) = record(&cfg, stop, |_| statuses += 1).unwrap();
    venue.stop();
    assert_eq!(sessions.len(), 1);
    assert!(statuses >= 1);
    assert!(st.lines > 99_000, "{}", st.line());
    assert_eq!(st.per_stream.get("snapshot"), Some(&1));
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    let book = |f: &[PathBuf]| {
        let r = replay(f, &opts).unwrap();
        (r.symbols[0].final_book_sha256.clone(), r.symbols[0].gaps)
    };
    assert_eq!(book(&from_db), book(&files));
    let trades = |f: &[PathBuf]| {
        loose_backtest(f, &opts)
            .trades
            .iter()
            .map(|t| (t.entry_us, t.exit_us, t.pnl_e8))
            .collect::<Vec<_>>()
    };
    // A live recording starts where its book syncs (its REST snapshot, taken after
    // subscribing, as Binance's procedure wants; at --speed max the exchange has run
    // ahead by then), so its first operations differ; once those are closed, the
    // recorded session trades exactly as the files: the last ten operations, the
    // second half of the session, are the same.
    let want = trades(&files);
    let got = trades(&from_db);
    assert!(got.len() >= 10 && want.len() >= 10, "{got:?}");
    assert_eq!(got[got.len() - 10..], want[want.len() - 10..]);
}

/// `minerva run --record`: the pipeline's source tapped into a database by a writer
/// thread; every frame recorded (none dropped with a ring this size), and the
/// database replays to the same final book as the files.
#[test]
fn the_pipeline_records_what_its_feed_receives() {
    use minerva::pipeline::run::{ReplaySource, RunConfig, run};
    let (frames, spec) = common::spot_session();
    let n = frames.len() as u64;
    let db = temp_db("tapped");
    let (tapped, stats, writer) = minerva::store::tap::tap(
        ReplaySource::new(frames, None),
        db.clone(),
        "test",
        64 << 20,
    )
    .unwrap();
    let r = run(
        tapped,
        &spec,
        &common::loose_strategy(),
        common::test_signer(),
        &RunConfig::default(),
    )
    .unwrap();
    writer.join().unwrap().unwrap();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(r.frames, n);
    assert_eq!(
        (stats.frames.load(Relaxed), stats.dropped.load(Relaxed)),
        (n, 0)
    );
    assert_eq!(stats.stored.load(Relaxed), n);
    let (files, opts) = common::spot_files();
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    let book = |f: &[PathBuf]| {
        replay(f, &opts).unwrap().symbols[0]
            .final_book_sha256
            .clone()
    };
    assert_eq!(book(&from_db), book(&files));
}
