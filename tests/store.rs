//! Recording databases: files imported into SQLite replay, backtest and serve exactly
//! as the files do (the same lines, the same merge, the same symbol attribution), and
//! a database killed mid-write opens cleanly with every committed batch intact.

mod common;

use minerva::backtest::{self, BacktestConfig, Input};
use minerva::replay::{ReplayOptions, replay};
use minerva::store::{Recorded, SqliteStore, Target, expand, import};
use std::path::PathBuf;

/// `<name>.db` in a directory of its own, removed (with the database's -wal and -shm
/// files, and whatever else the test writes there) when the guard drops.
fn temp_db(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = common::fresh_dir(&format!("store-{name}"));
    let p = dir.path().join(format!("{name}.db"));
    (dir, p)
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
    let frames = minerva::store::files::recorded_frames(files).unwrap();
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
    let (_dir, db) = temp_db("spot");
    let (sessions, lines) = import(&mut SqliteStore::open(&db).unwrap(), &files).unwrap();
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
    let info = SqliteStore::open_read(&db).unwrap().sessions().unwrap();
    assert_eq!(
        info[0]
            .streams
            .iter()
            .find(|s| s.0 == "snapshot")
            .map(|s| s.1),
        Some(1)
    );
    assert_eq!(
        SqliteStore::open_read(&db).unwrap().integrity().unwrap(),
        "ok"
    );
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
    let (_dir, db) = temp_db("usdm");
    import(&mut SqliteStore::open(&db).unwrap(), &files).unwrap();
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
    let (_dir, db) = temp_db("killed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["db", "import"])
        .args(&files)
        .arg("--db")
        .arg(&db)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the first batches are in, then mid-write. A loaded CI machine (the other
    // tests' processes on two cores) can take far longer than an idle one: the
    // deadline only bounds a hung import.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let n = SqliteStore::open_read(&db)
            .ok()
            .and_then(|mut s| s.sessions().ok())
            .map_or(0, |s| s.iter().map(|x| x.lines).sum::<i64>());
        let ended = matches!(child.try_wait(), Ok(Some(_)));
        if n >= 40_000 || ended || std::time::Instant::now() > until {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let mut store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.integrity().unwrap(), "ok");
    let sessions = store.sessions().unwrap();
    assert!(!sessions.is_empty());
    let whole: Vec<i64> = files
        .iter()
        .map(|f| {
            let mut r = minerva::store::files::LineReader::open(f).unwrap();
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
    let (_dir, db) = temp_db("newer");
    SqliteStore::open(&db)
        .unwrap()
        .set_schema_version_for_tests(99)
        .unwrap();
    let e = SqliteStore::open(&db).err().unwrap().to_string();
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
/// session's final book and backtests to the files' report (but for where it starts).
#[test]
fn a_recording_of_the_local_exchange_replays_as_its_files() {
    use minerva::store::recorder::{RecordConfig, RecordSource, record};
    let (files, opts) = common::spot_files();
    let venue = common::spot_venue(None, Default::default(), None);
    let (_dir, db) = temp_db("recorded");
    let host = venue.local_addr().to_string();
    let cfg = RecordConfig {
        target: Target::Sqlite(db.clone()),
        sources: vec![RecordSource {
            watch: None,
            // As `minerva record` does: the exchange's own answer, kept with the session.
            exchange_info: Some(
                minerva::net::http::get(
                    &host,
                    "/api/v3/exchangeInfo?symbol=BTCUSDT",
                    std::time::Duration::from_secs(5),
                )
                .unwrap(),
            ),
            live: minerva::venues::FeedConfig::Binance(
                minerva::venues::binance::stream::LiveConfig {
                    host: host.clone(),
                    rest: None,
                    market: minerva::core::Market::Spot,
                    symbol: "BTCUSDT".into(),
                    more_symbols: Vec::new(),
                    streams: vec!["depth@100ms".into(), "trade".into(), "bookTicker".into()],
                    snapshot_limit: 5000,
                    max_reconnects: Some(0),
                    max_failures_in_a_row: None,
                    seed: 4,
                    rotate_after: None,
                    stale_after: None,
                },
            ),
        }],
        status_every: std::time::Duration::from_millis(200),
        rotate: None,
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
    // The grids come with the recording: no --exchange-info needed to read it right.
    let bare = ReplayOptions {
        exchange_info: None,
        ..opts.clone()
    };
    let spec = |f: &[PathBuf], o: &ReplayOptions| {
        minerva::replay::symbol_table(f, o).unwrap().specs()[0].clone()
    };
    assert_eq!(spec(&from_db, &bare), spec(&files, &opts));
    assert_ne!(
        spec(&files, &bare),
        spec(&files, &opts),
        "inferred grids are not the exchange's"
    );
    // The backtest report: the same, line for line, but its first. A live recording
    // begins at its REST snapshot (subscribe, then snapshot: Binance's procedure; the
    // exchange starts its replay at that snapshot), so it lacks the lines the files
    // hold before their own snapshot (two diffs it covers, tickers, a trade): the
    // first line names 7 frames fewer and a window starting 0.3 s later.
    let want = loose_backtest(&files, &opts).to_text();
    let got = loose_backtest(&from_db, &opts).to_text();
    assert!(want.contains("trades"), "{want}");
    let (want_head, want_rest) = want.split_once('\n').unwrap();
    let (got_head, got_rest) = got.split_once('\n').unwrap();
    assert_eq!(got_rest, want_rest);
    assert!(
        want_head.contains("23:54:15.208Z → 2024-08-09T00:05:05.809Z"),
        "{want_head}"
    );
    assert!(want_head.contains("99574 frames"), "{want_head}");
    assert!(
        got_head.contains("23:54:15.508Z → 2024-08-09T00:05:05.809Z"),
        "{got_head}"
    );
    assert!(got_head.contains("99567 frames"), "{got_head}");
}

/// `minerva run --record`: the pipeline's source tapped into a database by a writer
/// thread; every frame recorded (none dropped with a ring this size), and the
/// database replays to the same final book as the files.
#[test]
fn the_pipeline_records_what_its_feed_receives() {
    use minerva::feed::ReplaySource;
    use minerva::pipeline::{RunConfig, run};
    let (frames, spec) = common::spot_session();
    let n = frames.len() as u64;
    let (_dir, db) = temp_db("tapped");
    let (tapped, stats, writer) = minerva::store::tap::tap(
        ReplaySource::new(frames, None),
        &Target::Sqlite(db.clone()),
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

/// A database written by schema version 1 (sessions and lines only) is migrated
/// when opened: its lines replay as before, and it gains events, session details
/// and the decoded views.
#[test]
fn a_schema_1_database_is_migrated_on_open() {
    use minerva::store::files::{LineReader, classify};
    let (files, opts) = common::spot_files();
    let (_dir, db) = temp_db("v1");
    drop(SqliteStore::open_at(&db, 1).unwrap());
    // Rows as version 1 wrote them.
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO sessions(id, source, started_ns, ended_ns) VALUES (1, ?1, 1, 2)",
        [files[0].display().to_string()],
    )
    .unwrap();
    let mut r = LineReader::open(&files[0]).unwrap();
    while let Some(line) = r.next_line().unwrap() {
        let l = classify(line);
        tx.execute(
            "INSERT INTO lines(session, recv_ns, stream, line) VALUES (1, ?1, ?2, ?3)",
            rusqlite::params![
                l.recv_ns as i64,
                minerva::store::stream_of(l.json),
                line.to_vec()
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(conn);
    let mut store = SqliteStore::open_read(&db).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    let s = store.sessions().unwrap();
    assert_eq!((s.len(), s[0].lines, s[0].ended_ns), (1, 41_249, 2));
    assert!(s[0].events.is_empty() && s[0].symbol.is_empty());
    let mut trades = 0;
    store
        .view(minerva::store::View::Trades, None, &mut |_| {
            trades += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(trades - 1, 9_757, "the header and btcusdt@trade's lines");
    drop(store);
    assert_eq!(
        replay_digest(&expand(std::slice::from_ref(&db)).unwrap(), &opts),
        replay_digest(&files[..1], &opts)
    );
}

/// `minerva db export`: each session back out as its lines, byte for byte the
/// original file's (so the export replays as the database and the files), and the
/// decoded views as CSV: trades and top of book one row per message, one-minute
/// candles equal to candles made by hand from the trades.
#[test]
fn exports_give_back_the_lines_and_the_decoded_views() {
    use minerva::store::files::LineReader;
    use minerva::store::{View, export};
    let (files, opts) = common::spot_files();
    let (tmp, db) = temp_db("export");
    import(&mut SqliteStore::open(&db).unwrap(), &files).unwrap();
    // Not there yet: the export makes it.
    let dir = tmp.path().join("lines");
    let mut store = SqliteStore::open_read(&db).unwrap();
    let out = export::lines_into_dir(&mut store, &[], &dir).unwrap();
    let names: Vec<(String, u64)> = out
        .iter()
        .map(|(p, n)| (p.file_name().unwrap().to_string_lossy().into_owned(), *n))
        .collect();
    assert_eq!(
        names,
        [
            ("1_btcusdt_20240808".to_string(), 41_249),
            ("2_btcusdt_20240809".to_string(), 58_325)
        ]
    );
    for ((path, _), original) in out.iter().zip(&files) {
        let (mut a, mut b) = (
            LineReader::open(path).unwrap(),
            LineReader::open(original).unwrap(),
        );
        loop {
            let x = a.next_line().unwrap().map(<[u8]>::to_vec);
            let y = b.next_line().unwrap().map(<[u8]>::to_vec);
            assert_eq!(x, y, "{}", path.display());
            if x.is_none() {
                break;
            }
        }
    }
    let exported: Vec<PathBuf> = out.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        replay_digest(&exported, &opts),
        replay_digest(&files, &opts)
    );
    // Views as CSV.
    let csv = |store: &mut SqliteStore, view| {
        let mut out = Vec::new();
        export::csv_to(store, view, None, &mut out, std::path::Path::new("mem")).unwrap();
        String::from_utf8(out).unwrap()
    };
    let trades = csv(&mut store, View::Trades);
    let mut lines = trades.lines();
    assert_eq!(
        lines.next(),
        Some("session,recv_ns,symbol,trade_id,price,qty,buyer_maker,trade_ms")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 9_757 + 10_147);
    let tob = csv(&mut store, View::TopOfBook);
    assert_eq!(tob.lines().count() - 1, 28_040 + 45_134);
    // Candles by hand from the trades: (session, minute) → open, high, low, close,
    // volume, count, in trade id order.
    // (trade id, price, quantity) per (session, minute).
    type Minute<'a> = Vec<(i64, &'a str, f64)>;
    let mut by_min: std::collections::BTreeMap<(i64, i64), Minute<'_>> = Default::default();
    for r in &rows {
        let key = (
            r[0].parse().unwrap(),
            r[7].parse::<i64>().unwrap() / 60_000 * 60_000,
        );
        by_min
            .entry(key)
            .or_default()
            .push((r[3].parse().unwrap(), r[4], r[5].parse().unwrap()));
    }
    let candles = csv(&mut store, View::Candles1m);
    let got: Vec<Vec<&str>> = candles
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(got.len(), by_min.len());
    for (c, ((session, open_ms), mut ts)) in got.iter().zip(by_min) {
        ts.sort_by_key(|t| t.0);
        let px = |s: &str| s.parse::<f64>().unwrap();
        let high = ts.iter().map(|t| px(t.1)).fold(f64::MIN, f64::max);
        let low = ts.iter().map(|t| px(t.1)).fold(f64::MAX, f64::min);
        let volume: f64 = ts.iter().map(|t| t.2).sum();
        assert_eq!(c[0].parse::<i64>().unwrap(), session);
        assert_eq!(c[1], "BTCUSDT");
        assert_eq!(c[2].parse::<i64>().unwrap(), open_ms);
        assert_eq!((c[3], c[6]), (ts[0].1, ts[ts.len() - 1].1), "{c:?}");
        assert_eq!((px(c[4]), px(c[5])), (high, low), "{c:?}");
        assert!((px(c[7]) - volume).abs() < 1e-6, "{c:?} {volume}");
        assert_eq!(c[8].parse::<usize>().unwrap(), ts.len());
    }
}

/// A venue config reading the spot sample's BTCUSDT (depth, trades, top of book).
fn btc_source(host: &str, seed: u64) -> minerva::store::recorder::RecordSource {
    minerva::store::recorder::RecordSource {
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

/// Depth diffs left out by the exchange: the recorder stores each break as a `gap`
/// event, asks for a snapshot (stored with its `snapshot` event), and the recording
/// replays to the recorded final book; `db info`'s scan finds the same breaks.
#[test]
fn a_recording_keeps_its_gaps_and_resyncs_as_events() {
    use minerva::store::EventKind;
    use minerva::store::recorder::{RecordConfig, record};
    let (files, opts) = common::spot_files();
    let faults = minerva::local_exchange::Faults {
        skip_depth_every: Some(700),
        ..Default::default()
    };
    let venue = common::spot_venue(None, faults, None);
    let (_dir, db) = temp_db("gaps");
    let cfg = RecordConfig {
        target: Target::Sqlite(db.clone()),
        sources: vec![btc_source(&venue.local_addr().to_string(), 5)],
        status_every: std::time::Duration::from_millis(200),
        rotate: None,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, sessions) = record(&cfg, stop, |_| {}).unwrap();
    venue.stop();
    let gaps = st.sources[0].gaps;
    assert!(gaps >= 3, "{}", st.line());
    let mut store = SqliteStore::open_read(&db).unwrap();
    let events = store.events(sessions[0]).unwrap();
    let count = |k: EventKind| events.iter().filter(|e| e.kind == k).count() as u64;
    assert_eq!(count(EventKind::Gap), gaps);
    assert_eq!(count(EventKind::Connect), 1);
    // The first snapshot, then one per resync (a gap while one is on its way shares it).
    let snapshots = count(EventKind::Snapshot);
    assert!(snapshots >= 2 && snapshots <= gaps + 1, "{events:?}");
    assert_eq!(
        st.per_stream.get("snapshot").copied(),
        Some(snapshots),
        "each snapshot event has its line"
    );
    let info = &store.sessions().unwrap()[0];
    assert_eq!(
        (info.symbol.as_str(), info.market.as_str()),
        ("BTCUSDT", "spot")
    );
    assert!(info.ended_ns > 0);
    assert_eq!(
        store.exchange_info(sessions[0]).unwrap().as_deref(),
        Some(&b"{\"symbols\":[]}"[..])
    );
    let scan = minerva::store::scan::scan(&mut store, sessions[0]).unwrap();
    assert_eq!(scan.breaks.len() as u64, gaps);
    assert_eq!(scan.snapshots, snapshots);
    drop(store);
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    let book = |f: &[PathBuf]| {
        replay(f, &opts).unwrap().symbols[0]
            .final_book_sha256
            .clone()
    };
    assert_eq!(book(&from_db), book(&files));
}

/// `--rotate`: the recording moves to a new file at batch boundaries; every line is
/// in exactly one file, in order; each file after the first has its own snapshot
/// (so the recording replays from any of them on to the final book), and all the
/// files together replay to the same final book as the original files.
#[test]
fn a_rotated_recording_has_no_gap_at_its_seams() {
    use minerva::store::recorder::{RecordConfig, Rotate, record};
    let (files, opts) = common::spot_files();
    // At full speed the venue waits for a slow reader (a snapshot fetched at a seam)
    // instead of cutting it off, as a paced venue does after its outbox fills (that
    // made this test fail about 1 run in 4: a cut session ended the recording early).
    let venue = common::spot_venue(None, Default::default(), None);
    let tmp = common::fresh_dir("rotate");
    let dir = tmp.path();
    // A session cut anyway is reconnected and resynchronised, as it would be live.
    let mut source = btc_source(&venue.local_addr().to_string(), 6);
    if let minerva::venues::FeedConfig::Binance(l) = &mut source.live {
        l.max_reconnects = Some(10);
    }
    let cfg = RecordConfig {
        target: Target::Sqlite(dir.join("market.db")),
        sources: vec![source],
        status_every: std::time::Duration::from_millis(200),
        rotate: Some(Rotate::Size(3_000_000)),
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, _) = record(&cfg, stop, |_| {}).unwrap();
    venue.stop();
    assert!(st.files.len() >= 3, "{:?}", st.files);
    assert!(!dir.join("market.db").exists());
    let mut total = 0;
    let mut last_ns = 0;
    let mut from_snapshot = Vec::new();
    for (k, f) in st.files.iter().enumerate() {
        assert!(f.contains("market-"), "{f}");
        let mut store = SqliteStore::open_read(std::path::Path::new(f)).unwrap();
        let s = store.sessions().unwrap();
        assert_eq!(s.len(), 1);
        total += s[0].lines as u64;
        assert!(
            s[0].first_ns > last_ns,
            "file {k} starts after the one before ends"
        );
        last_ns = s[0].last_ns;
        let rotated = store
            .events(s[0].id)
            .unwrap()
            .iter()
            .filter(|e| e.kind == minerva::store::EventKind::FileRotated)
            .count();
        let want = if k == 0 || k + 1 == st.files.len() {
            1
        } else {
            2
        };
        assert_eq!(rotated, want, "{f}");
        let has_snapshot = s[0].streams.iter().any(|(n, c)| n == "snapshot" && *c >= 1);
        // The snapshot asked for at a seam comes after the lines already read: only a
        // last file that the recording's end cut short may lack one.
        assert!(
            has_snapshot || k == 0 || k + 1 == st.files.len(),
            "{f}: {:?}",
            s[0].streams
        );
        if k > 0 && has_snapshot {
            from_snapshot.push(k);
        }
    }
    assert_eq!(total, st.lines);
    let all: Vec<PathBuf> = st.files.iter().map(PathBuf::from).collect();
    let book = |f: &[PathBuf]| {
        replay(f, &opts).unwrap().symbols[0]
            .final_book_sha256
            .clone()
    };
    let want = book(&files);
    assert_eq!(book(&expand(&all).unwrap()), want);
    // From any later file on, the recording replays on its own to the same book.
    assert!(!from_snapshot.is_empty());
    for k in from_snapshot {
        assert_eq!(book(&expand(&all[k..]).unwrap()), want, "from file {k}");
    }
}

/// Sessions the exchange drops: each line keeps the connection it came on (1, 2, …
/// in order), every connection begins with its own snapshot, each reconnection is a
/// `connect` event after a `drop`, and the recording replays to the final book.
#[test]
fn each_line_keeps_its_connection() {
    use minerva::store::EventKind;
    use minerva::store::recorder::{RecordConfig, record};
    let (files, opts) = common::spot_files();
    let faults = minerva::local_exchange::Faults {
        drop_every: Some(25_000),
        ..Default::default()
    };
    // Paced (100×: 6.6 s): at full speed the exchange would serve the rest of the data
    // to nobody while the recorder reconnects; the last drop leaves 1.6 s of data, for
    // the last connection to sync in even on a slow (debug) build.
    let venue = common::spot_venue(Some(100.0), faults, None);
    let (_dir, db) = temp_db("conns");
    let mut source = btc_source(&venue.local_addr().to_string(), 7);
    if let minerva::venues::FeedConfig::Binance(l) = &mut source.live {
        l.max_reconnects = Some(10);
    }
    let cfg = RecordConfig {
        target: Target::Sqlite(db.clone()),
        sources: vec![source],
        status_every: std::time::Duration::from_millis(200),
        rotate: None,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, sessions) = record(&cfg, stop, |_| {}).unwrap();
    venue.stop();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut q = conn
        .prepare("SELECT conn, stream FROM lines ORDER BY id")
        .unwrap();
    let rows: Vec<(i64, String)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut seen = 0;
    for (c, stream) in &rows {
        assert!(*c == seen || *c == seen + 1, "connection {c} after {seen}");
        if *c == seen + 1 {
            assert_eq!(
                stream, "snapshot",
                "connection {c} begins with its snapshot"
            );
            seen = *c;
        }
    }
    assert!(seen >= 3, "{seen} connections: {}", st.line());
    let mut store = SqliteStore::open_read(&db).unwrap();
    let events = store.events(sessions[0]).unwrap();
    let count = |k: EventKind| events.iter().filter(|e| e.kind == k).count() as i64;
    assert_eq!(count(EventKind::Connect), seen);
    assert!(count(EventKind::Drop) >= seen - 1);
    drop(store);
    let from_db = expand(std::slice::from_ref(&db)).unwrap();
    let book = |f: &[PathBuf]| {
        replay(f, &opts).unwrap().symbols[0]
            .final_book_sha256
            .clone()
    };
    let last = rows.iter().filter(|r| r.0 == seen).count();
    assert_eq!(
        book(&from_db),
        book(&files),
        "{seen} connections, {last} lines in the last: {}",
        st.line()
    );
}

/// `minerva db info` and `db export` as a user runs them.
#[test]
fn db_info_and_export_from_the_command_line() {
    let (files, _) = common::spot_files();
    let (_dir, db) = temp_db("cli");
    let minerva = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let db_s = db.to_str().unwrap();
    let (ok, out, err) = minerva(&[
        "db",
        "import",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
        "--db",
        db_s,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("2 session(s) [1, 2], 99574 lines"), "{out}");
    let (ok, out, err) = minerva(&["db", "info", db_s]);
    assert!(ok, "{err}");
    assert!(out.contains("integrity ok"), "{out}");
    assert!(
        out.contains("depth: 3451 diffs, 1 snapshots, 0 gaps"),
        "{out}"
    );
    assert!(
        out.contains("depth: 3044 diffs, 0 snapshots, 0 gaps"),
        "{out}"
    );
    let (ok, out, err) = minerva(&[
        "db",
        "export",
        db_s,
        "--format",
        "csv",
        "--view",
        "candles_1m",
        "--session",
        "2",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(
        rows[0],
        "session,symbol,open_ms,open,high,low,close,volume,trades"
    );
    // 00:00 to 00:05 of 2024-08-09.
    assert_eq!(rows.len(), 1 + 6, "{out}");
    assert!(
        rows[1].starts_with("2,BTCUSDT,1723161600000,61685.99000000,"),
        "{out}"
    );
    // Parquet is a file (tests/parquet.rs reads them back): not to stdout.
    let (ok, _, err) = minerva(&["db", "export", db_s, "--format", "parquet"]);
    assert!(
        !ok && err.contains("--format parquet: give the file to write with --out"),
        "{err}"
    );
    let (ok, _, err) = minerva(&["db", "export", db_s, "--format", "xml"]);
    assert!(
        !ok && err.contains("invalid value 'xml' for '--format <FORMAT>'"),
        "{err}"
    );
    let (ok, _, err) = minerva(&["db", "info", "Cargo.toml"]);
    assert!(
        !ok && err.contains("Cargo.toml: not a recording database"),
        "{err}"
    );
}

/// A database holding two symbols' sessions, each with its bare REST snapshot (they
/// name no symbol): one symbol's backtest over the whole database reads its own
/// sessions only, so it is the backtest of that symbol's file (and `run --source
/// replay:` of it decides as on the file). Before, the other
/// symbol's snapshot was taken for its book (6,583 evaluations instead of 6,579).
#[test]
fn one_symbols_backtest_over_a_database_of_two_is_its_files() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let u = d.join("hftbacktest-examples/usdm");
    let (btc, eth) = (u.join("btcusdt_20240808.gz"), u.join("ethusdt_20240808.gz"));
    let (_dir, db) = temp_db("two-symbols");
    let import = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(["db", "import"])
        .args([&btc, &eth])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    // ETHUSDT under the loosened strategy (entries within minutes).
    let strategy = common::repo("strategy_0.toml");
    let eth = eth.display().to_string();
    let db_text = db.display().to_string();
    let loose = [
        "--strategy",
        strategy.as_str(),
        "--market",
        "ETHUSDT",
        "--short-pressure",
        "0.6",
        "--long-pressure",
        "0.4",
        "--void-height",
        "-1000000",
        "--void-prominence",
        "0",
    ];
    let backtest = |input: &str| {
        let out = common::minerva_ok(&[&["backtest", input][..], &loose].concat());
        // All but the speed line.
        out.lines()
            .filter(|l| !l.contains("frames/s"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (from_db, from_file) = (backtest(&db_text), backtest(&eth));
    assert!(from_db.contains("6579 evaluations"), "{from_db}");
    assert_eq!(from_db, from_file);
    // The pipeline replaying the database decides as on the file.
    let run = |input: &str| {
        let source = format!("replay:{input}");
        let out = common::minerva_ok(
            &[&["run", "--no-journal", "--source", &source][..], &loose].concat(),
        );
        out.lines()
            .find(|l| l.starts_with("signal:"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    let (from_db, from_file) = (run(&db_text), run(&eth));
    assert!(from_db.starts_with("signal: 6579 evaluations"), "{from_db}");
    assert_eq!(from_db, from_file);
}
