//! Recording into PostgreSQL: the same interface and results as SQLite. Needs a
//! server: `MINERVA_TEST_POSTGRES=postgres://user@127.0.0.1:PORT/db` (`.ci/run`
//! starts one; see `.ci/postgres`). Each test makes its own database.

mod common;

use minerva::feed::ReplaySource;
use minerva::pipeline::{RunConfig, run};
use minerva::replay::replay;
use minerva::store::postgres::PgStore;
use minerva::store::recorder::{RecordConfig, RecordSource, record};
use minerva::store::{
    EventKind, Recorded, Sink, SqliteStore, StoreError, Target, View, expand, export, import,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn live_btc(host: &str, seed: u64) -> RecordSource {
    RecordSource {
        watch: None,
        exchange_info: Some(b"{\"symbols\":[]}".to_vec()),
        live: minerva::venues::FeedConfig::Binance(minerva::venues::binance::stream::LiveConfig {
            host: host.to_string(),
            rest: None,
            market: minerva::core::Market::Spot,
            symbol: "BTCUSDT".into(),
            more_symbols: Vec::new(),
            streams: vec!["depth@100ms".into(), "trade".into(), "bookTicker".into()],
            snapshot_limit: 5000,
            max_reconnects: Some(0),
            max_failures_in_a_row: None,
            seed,
            rotate_after: None,
            stale_after: None,
        }),
    }
}

fn final_book(files: &[PathBuf]) -> String {
    let (_, opts) = common::spot_files();
    replay(files, &opts).unwrap().symbols[0]
        .final_book_sha256
        .clone()
}

/// Imported into PostgreSQL, the spot sample replays and backtests exactly as its
/// files, and every decoded view gives the same CSV as SQLite's.
#[test]
fn an_import_into_postgres_replays_and_queries_as_sqlite() {
    let Some(url) = common::fresh_postgres_db("import") else {
        return;
    };
    let (files, opts) = common::spot_files();
    let (sessions, lines) = import(&mut PgStore::connect(&url).unwrap(), &files).unwrap();
    assert_eq!((sessions, lines), (vec![1, 2], 99_574));
    let from_pg = expand(&[PathBuf::from(&url)]).unwrap();
    assert_eq!(from_pg.len(), 2);
    let digest = |f: &[PathBuf]| {
        let r = replay(f, &opts).unwrap();
        format!("{} {} {:?}", r.lines, r.frames, r.symbols)
    };
    assert_eq!(digest(&from_pg), digest(&files));
    let backtest = |f: &[PathBuf]| {
        let spec = minerva::replay::symbol_table(f, &opts).unwrap().specs()[0].clone();
        let frames = minerva::store::files::recorded_frames(f).unwrap();
        minerva::backtest::run(
            minerva::backtest::Input::Frames(&frames),
            &spec,
            &common::loose_strategy(),
            common::test_signer(),
            &Default::default(),
            &mut |_, _| {},
        )
        .unwrap()
        .to_text()
    };
    assert_eq!(backtest(&from_pg), backtest(&files));
    let tmp = common::fresh_dir("pgcmp");
    let sqlite = tmp.path().join("pgcmp.db");
    import(&mut SqliteStore::open(&sqlite).unwrap(), &files).unwrap();
    let mut pg = PgStore::connect(&url).unwrap();
    let mut lite = SqliteStore::open_read(&sqlite).unwrap();
    assert_eq!(pg.integrity().unwrap(), "ok");
    for view in View::ALL {
        let csv = |db: &mut dyn Recorded| {
            let mut out = Vec::new();
            export::csv_to(db, view, None, &mut out, std::path::Path::new("mem")).unwrap();
            String::from_utf8(out).unwrap()
        };
        let (a, b) = (csv(&mut pg), csv(&mut lite));
        assert!(a.lines().count() > 1 || view == View::Klines, "{view:?}");
        assert_eq!(a, b, "{view:?}");
    }
    let strip = |mut s: Vec<minerva::store::SessionInfo>| {
        for x in &mut s {
            (x.started_ns, x.ended_ns) = (0, 0);
        }
        s
    };
    assert_eq!(
        strip(pg.sessions().unwrap()),
        strip(lite.sessions().unwrap())
    );
}

/// Two recorders on two "machines" (threads, each its own connection, migrating a
/// fresh database at the same moment) record the local exchange into one database:
/// two sessions, each replaying to the recorded final book, with their events.
#[test]
fn two_recorders_share_one_postgres_database() {
    let Some(url) = common::fresh_postgres_db("two") else {
        return;
    };
    let (files, _) = common::spot_files();
    let venue = common::spot_venue(None, Default::default(), None);
    let host = venue.local_addr().to_string();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let recorders: Vec<_> = (0..2)
        .map(|k| {
            let (url, host, barrier) = (url.clone(), host.clone(), barrier.clone());
            std::thread::spawn(move || {
                let cfg = RecordConfig {
                    target: Target::parse(&url),
                    sources: vec![live_btc(&host, 10 + k)],
                    status_every: std::time::Duration::from_millis(200),
                    rotate: None,
                };
                barrier.wait();
                record(&cfg, Arc::new(AtomicBool::new(false)), |_| {}).unwrap()
            })
        })
        .collect();
    let done: Vec<_> = recorders.into_iter().map(|h| h.join().unwrap()).collect();
    venue.stop();
    let mut ids: Vec<i64> = done.iter().flat_map(|(_, s)| s.clone()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
    let want = final_book(&files);
    let mut pg = PgStore::connect(&url).unwrap();
    for s in pg.sessions().unwrap() {
        let one = vec![PathBuf::from(&url).join(s.id.to_string()).join("BTCUSDT")];
        assert_eq!(final_book(&one), want, "session {}", s.id);
        assert!(s.ended_ns > 0 && s.lines > 90_000, "{s:?}");
        let ev = pg.events(s.id).unwrap();
        assert!(ev.iter().any(|e| e.kind == EventKind::Connect), "{ev:?}");
        assert!(ev.iter().any(|e| e.kind == EventKind::Snapshot), "{ev:?}");
        assert!(pg.exchange_info(s.id).unwrap().is_some());
    }
}

/// `minerva run --record postgres://…`: every frame the feed receives is stored.
#[test]
fn the_pipeline_records_into_postgres() {
    let Some(url) = common::fresh_postgres_db("tap") else {
        return;
    };
    let (frames, spec) = common::spot_session();
    let n = frames.len() as u64;
    let (tapped, stats, writer) = minerva::store::tap::tap(
        ReplaySource::new(frames, None),
        &Target::parse(&url),
        "test",
        &[],
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
        (stats.stored.load(Relaxed), stats.dropped.load(Relaxed)),
        (n, 0)
    );
    let (files, _) = common::spot_files();
    assert_eq!(
        final_book(&expand(&[PathBuf::from(&url)]).unwrap()),
        final_book(&files)
    );
}

/// A server that is not there, a newer schema, a refused login: clear errors with
/// the password never shown.
#[test]
fn postgres_errors_are_clear() {
    let e = match PgStore::connect("postgres://rec:s3cret@127.0.0.1:1/market") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(e.contains("postgres://rec:***@127.0.0.1:1/market"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let Some(url) = common::fresh_postgres_db("newer") else {
        return;
    };
    let mut s = PgStore::connect(&url).unwrap();
    s.begin_session(&minerva::store::NewSession::default())
        .unwrap();
    assert_eq!(s.integrity().unwrap(), "ok");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // Lines carry no foreign key (for COPY's rate): the integrity check finds orphans.
    c.batch_execute("INSERT INTO lines(session, recv_ns, stream, line) VALUES (99, 0, '', 'x')")
        .unwrap();
    assert_eq!(s.integrity().unwrap(), "1 rows without a session");
    drop(s);
    c.batch_execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    match PgStore::connect(&url) {
        Err(e @ StoreError::Newer { .. }) => {
            assert!(e.to_string().contains("schema version 99 is newer"), "{e}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

/// A role that must give a password: `PGPASSWORD` gives it when the URL does not,
/// and a wrong one is refused with the server's reason, the password never shown.
#[test]
fn the_password_comes_from_the_environment() {
    let Some(url) = common::fresh_postgres_db("pw") else {
        return;
    };
    let admin = std::env::var("MINERVA_TEST_POSTGRES").unwrap();
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'minerva_pw') THEN
                 CREATE ROLE minerva_pw LOGIN PASSWORD 'from-the-env';
             END IF;
         END $$;",
    )
    .unwrap();
    let db = url.rsplit_once('/').unwrap().1;
    c.batch_execute(&format!(
        "GRANT ALL ON DATABASE {db} TO minerva_pw; ALTER DATABASE {db} OWNER TO minerva_pw"
    ))
    .unwrap();
    let host = admin.split_once('@').unwrap().1.split_once('/').unwrap().0;
    let as_role = format!("postgres://minerva_pw@{host}/{db}");
    let info = |password: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"));
        cmd.args(["db", "info", &as_role]).env_remove("PGPASSWORD");
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = info(Some("from-the-env"));
    assert!(ok, "{err}");
    assert!(out.contains("integrity ok"), "{out}");
    let (ok, _, err) = info(Some("wrong"));
    assert!(
        !ok && err.contains("password authentication failed"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "{err}");
    let (ok, _, err) = info(None);
    assert!(!ok, "{err}");
}

/// A live run recording into PostgreSQL keeps its journal in the same database:
/// `db info` lists the run, `db export` gives its tables with the SQLite journal's
/// columns, and `observe` reads both the journal and the recording from there.
#[test]
fn a_live_run_journals_into_postgres_and_observe_reads_it() {
    let Some(url) = common::fresh_postgres_db("journal") else {
        return;
    };
    let minerva = common::minerva_ok;
    let exchange = common::spawn_exchange(common::spot_exchange_command("100"));
    let strategy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("strategy_0.toml");
    // A password in the URL (the test server trusts the loopback and ignores it): it
    // must reach neither the output nor the journal.
    let with_password = url.replacen("://postgres@", "://postgres:pw-s3cret@", 1);
    assert_ne!(with_password, url);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["run", "--source", "binance", "--endpoint", "local"])
        .args(["--host", &exchange.addr, "--record", &with_password])
        .arg("--strategy")
        .arg(&strategy)
        .output()
        .unwrap();
    let _ = exchange.finish();
    let text = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{text}\n{err}");
    assert!(text.contains("journal run 1:"), "{text}");
    assert!(!text.contains("pw-s3cret") && !err.contains("pw-s3cret"));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = c
        .query_one(
            "SELECT command, recording FROM journal_runs WHERE id = 1",
            &[],
        )
        .unwrap();
    let (command, recording): (String, String) = (row.get(0), row.get(1));
    assert!(
        command.contains("--record postgres://postgres:***@") && !command.contains("pw-s3cret"),
        "{command}"
    );
    assert!(recording.contains(":***@"), "{recording}");

    let info = minerva(&["db", "info", &url]);
    assert!(
        info.contains("journal run 1 (local spot BTCUSDT)"),
        "{info}"
    );
    assert!(
        info.contains("session 1"),
        "the recording beside it\n{info}"
    );
    let fills = minerva(&["db", "export", &url, "--view", "fills"]);
    assert!(
        fills.starts_with(
            "id,run,symbol,exchange_us,seen_us,client_id,report,price,qty,maker,fee,leaves,reason,seen_ns\n"
        ),
        "{fills}"
    );
    let fill_rows = fills.lines().count() - 1;
    assert!(fill_rows > 0, "{fills}");
    assert!(info.contains(&format!("({fill_rows} fills)")), "{info}");
    let ops = minerva(&["db", "export", &url, "--view", "operations"]);
    let v: serde_json::Value =
        serde_json::from_str(&minerva(&["observe", "--journal", &url, "--json"])).unwrap();
    assert_eq!(
        v["real"]["operations"].as_u64().unwrap() as usize,
        ops.lines().count() - 1
    );
    // The theoretical side is the backtest of what the run recorded into PostgreSQL.
    let bt: serde_json::Value = serde_json::from_str(&minerva(&[
        "backtest",
        &url,
        "--strategy",
        &strategy.display().to_string(),
        "--exchange-info",
        &format!(
            "{}/sample/exchange_info_spot_btcusdt.json",
            env!("CARGO_MANIFEST_DIR")
        ),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        v["theoretical"]["operations"].as_u64(),
        bt["metrics"]["trades"].as_u64()
    );
    assert_eq!(v["theoretical"]["fitness"], bt["fitness"]);
}

/// KuCoin into PostgreSQL: the local KuCoin venue's BCHSV-USDT recorded through
/// KuCoin's live source, then replayed from the database to the reference digest.
#[test]
fn a_kucoin_recording_in_postgres_replays_to_the_reference_book() {
    let Some(url) = common::fresh_postgres_db("kucoin") else {
        return;
    };
    let Some(data) = common::shared_data() else {
        return;
    };
    let dir = data.join("kucoin-sample");
    let venue = minerva::local_exchange::kucoin::LocalKucoin::start(
        minerva::local_exchange::kucoin::Config {
            files: ["KUCOIN.ws.1.0", "KUCOIN.http.0.0", "KUCOIN.0"]
                .iter()
                .map(|f| dir.join(f))
                .collect(),
            replay: Default::default(),
            speed: Some(20.0),
            addr: "127.0.0.1:0".parse().unwrap(),
            faults: Default::default(),
            keys: Arc::new(minerva::venues::kucoin::keys::KucoinKeys::paper()),
            limits: Default::default(),
            trading: Default::default(),
        },
    )
    .unwrap();
    let mut feed = minerva::venues::kucoin::stream::FeedConfig::new(
        &format!("http://{}", venue.local_addr()),
        minerva::core::Market::Spot,
        "BCHSV-USDT",
    );
    feed.keys = Some(Arc::new(minerva::venues::kucoin::keys::KucoinKeys::paper()));
    feed.max_reconnects = Some(0);
    let list = feed.fetch_symbol_list().unwrap();
    let cfg = RecordConfig {
        target: Target::Postgres(url.clone()),
        sources: vec![RecordSource {
            live: minerva::venues::FeedConfig::Kucoin(feed),
            exchange_info: Some(list),
            watch: None,
        }],
        status_every: std::time::Duration::from_secs(1),
        rotate: None,
    };
    let (st, sessions) = record(&cfg, Arc::new(AtomicBool::new(false)), |_| {}).unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(st.lines > 2_000, "{} lines", st.lines);
    venue.stop();
    let files = expand(&[PathBuf::from(&url)]).unwrap();
    let r = replay(&files, &Default::default()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    assert_eq!(r.symbols.len(), 1);
    assert_eq!(
        r.symbols[0].final_book_sha256,
        expected["replay"]["BCHSV-USDT"]["final_book_sha256"]
            .as_str()
            .unwrap()
    );
}
