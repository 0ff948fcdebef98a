//! Where the recorded data lives for tests: `../shared/data` beside the repository,
//! or the sample shipped in `sample/` when that is absent (a user's clone).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::Relaxed};

/// `../shared/data`, or `None` (with a visible note) when it is absent. With
/// `MINERVA_REQUIRE_SHARED=1` (set by `.ci/run`) absence is a failure instead.
pub fn shared_data() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.join("README.md").exists() {
        return Some(p);
    }
    if std::env::var("MINERVA_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("../shared/data is required (MINERVA_REQUIRE_SHARED=1) but missing");
    }
    eprintln!("NOTE: ../shared/data not found; using the in-repo sample only");
    None
}

/// The sample shipped in the repository (hftbacktest layout, with its `EXPECTED.json`).
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample/hftbacktest")
}

/// The JSON of every line of recorded gzip files, local timestamps stripped.
pub fn json_lines(files: &[PathBuf]) -> Vec<Vec<u8>> {
    minerva::store::files::json_lines(files).unwrap()
}

/// Allocations made by the process so far (counted by [`Counting`] where a test binary
/// installs it as its global allocator), on the threads [`ONLY_THREAD`] and
/// [`SKIP_THREAD`] let through.
pub static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// When set, only this thread's allocations count (0: every thread's).
pub static ONLY_THREAD: AtomicI32 = AtomicI32::new(0);
/// When set, this thread's allocations never count (0: none is left out).
pub static SKIP_THREAD: AtomicI32 = AtomicI32::new(0);
/// A second thread left out (a cold writer beside the pipeline: the journal's).
pub static SKIP_THREAD_2: AtomicI32 = AtomicI32::new(0);

/// The calling thread's id (gettid: a plain syscall, safe inside the allocator).
pub fn thread_id() -> i32 {
    // SAFETY: gettid has no preconditions and never allocates.
    unsafe { libc::gettid() }
}

fn counted() -> bool {
    // Threads the library marks cold (the live view's publisher) allocate by design.
    if minerva::core::is_cold_thread() {
        return false;
    }
    let (only, skip, skip2) = (
        ONLY_THREAD.load(Relaxed),
        SKIP_THREAD.load(Relaxed),
        SKIP_THREAD_2.load(Relaxed),
    );
    if only == 0 && skip == 0 && skip2 == 0 {
        return true;
    }
    let me = thread_id();
    (only == 0 || me == only) && me != skip && me != skip2
}

/// A global allocator that forwards to the system's and counts calls. A test binary
/// that installs it must hold a single test: the count is process-wide.
pub struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, s: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(p, l, s) }
    }
}

/// The shipped spot session's files, and replay options with its exchangeInfo.
pub fn spot_files() -> (Vec<PathBuf>, minerva::replay::ReplayOptions) {
    let d = sample_dir().join("spot");
    let files = ["btcusdt_20240808.gz", "btcusdt_20240809.gz"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let opts = minerva::replay::ReplayOptions {
        exchange_info: Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("sample/exchange_info_spot_btcusdt.json"),
        ),
        ..Default::default()
    };
    (files, opts)
}

/// The shipped spot session as `minerva run --source replay:FILE,FILE`.
pub fn spot_replay_source() -> String {
    let files: Vec<String> = spot_files()
        .0
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    format!("replay:{}", files.join(","))
}

/// The shipped spot session as recorded frames, and its symbol (grids from the shipped
/// exchangeInfo): what the pipeline tests run.
pub fn spot_session() -> (Vec<(Vec<u8>, u64)>, minerva::core::SymbolSpec) {
    let (files, opts) = spot_files();
    let spec = minerva::replay::symbol_table(&files, &opts)
        .unwrap()
        .specs()[0]
        .clone();
    (
        minerva::store::files::recorded_frames(&files).unwrap(),
        spec,
    )
}

/// `minerva exchange` serving the shipped spot session on a free loopback port.
pub fn spot_venue(
    speed: Option<f64>,
    faults: minerva::local_exchange::Faults,
    weight_limit: Option<u32>,
) -> minerva::local_exchange::LocalExchange {
    spot_exchange(speed, faults, weight_limit, Default::default())
}

/// [`spot_venue`] with its account and matching set by `trading`; it accepts the
/// paper key pair.
pub fn spot_exchange(
    speed: Option<f64>,
    faults: minerva::local_exchange::Faults,
    weight_limit: Option<u32>,
    trading: minerva::local_exchange::TradingConfig,
) -> minerva::local_exchange::LocalExchange {
    let (files, replay) = spot_files();
    minerva::local_exchange::LocalExchange::start(minerva::local_exchange::Config {
        files,
        replay,
        speed,
        addr: "127.0.0.1:0".parse().unwrap(),
        faults,
        weight_limit,
        keys: std::sync::Arc::new(minerva::venues::binance::keys::ApiKeys::paper()),
        trading,
        limits: Default::default(),
        clock: Default::default(),
    })
    .unwrap()
}

/// A live source on `venue`'s BTCUSDT spot streams (depth@100ms, trade).
pub fn btc_live(
    venue: &minerva::local_exchange::LocalExchange,
    snapshot_limit: u32,
    max_reconnects: Option<u32>,
    seed: u64,
) -> minerva::venues::binance::stream::LiveSource {
    minerva::venues::binance::stream::LiveSource::new(
        minerva::venues::binance::stream::LiveConfig {
            host: venue.local_addr().to_string(),
            market: minerva::core::Market::Spot,
            symbol: "BTCUSDT".into(),
            more_symbols: Vec::new(),
            rest: None,
            streams: vec!["depth@100ms".into(), "trade".into()],
            snapshot_limit,
            max_reconnects,
            max_failures_in_a_row: None,
            seed,
            rotate_after: None,
            stale_after: None,
        },
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
}

/// The seed strategy loosened to trade often on the sample (no fees, pressure at
/// 0.6/0.4, 20 operations at once): entries, fills, exits and cancels all happen.
pub fn loose_strategy() -> minerva::strategy::Strategy {
    minerva::strategy::Strategy::parse(
        include_str!("../../strategy_0.toml"),
        &[
            ("maker_fee", "0".into()),
            ("taker_fee", "0".into()),
            ("short_pressure", "0.6".into()),
            ("long_pressure", "0.4".into()),
            ("max_concurrent_trades", "20".into()),
            // Any local minimum of resting + traded volume is a void (the seed's empty,
            // 5-BTC-deep voids are rare on minutes of data).
            ("void_height", "-1000000".into()),
            ("void_prominence", "0".into()),
        ],
    )
    .unwrap()
}

/// A signer with a throwaway key.
pub fn test_signer() -> minerva::venues::binance::sign::Signer {
    minerva::venues::binance::sign::Signer::new(&minerva::venues::binance::keys::ApiKeys::new(
        "k".into(),
        b"s".to_vec(),
    ))
}

/// The count when a [`Marking`] source's warm-up ended, and when it ended.
static MARK_START: AtomicUsize = AtomicUsize::new(0);
static MARK_END: AtomicUsize = AtomicUsize::new(0);

/// A source whose thread is the one counted ([`ONLY_THREAD`]), counting from its
/// 2,000th frame to its end: the live zero-allocation tests' source.
pub struct Marking<S> {
    inner: S,
    frames: u64,
    warm: u64,
}

impl<S> Marking<S> {
    /// Wraps `inner`; the count starts after 2,000 frames.
    pub fn new(inner: S) -> Self {
        Self::after(inner, 2_000)
    }

    /// Wraps `inner`; the count starts after `warm` frames.
    pub fn after(inner: S, warm: u64) -> Self {
        Self {
            inner,
            frames: 0,
            warm,
        }
    }
}

/// Allocations counted between a [`Marking`] source's warm-up and its end.
pub fn marked_allocations() -> usize {
    MARK_END.load(Relaxed) - MARK_START.load(Relaxed)
}

impl<S: minerva::feed::Source> minerva::feed::Source for Marking<S> {
    fn next_frame(&mut self) -> Option<minerva::feed::Frame<'_>> {
        if self.frames == 0 {
            ONLY_THREAD.store(thread_id(), Relaxed);
        }
        if self.frames == self.warm {
            MARK_START.store(ALLOCS.load(Relaxed), Relaxed);
        }
        self.frames += 1;
        let f = self.inner.next_frame();
        if f.is_none() {
            MARK_END.store(ALLOCS.load(Relaxed), Relaxed);
        }
        f
    }
}

/// The pipeline (compact) paper-trading the loosened strategy on a live source,
/// the book's snapshot requests wired to it.
pub fn paper_run(
    source: minerva::venues::binance::stream::LiveSource,
    spec: &minerva::core::SymbolSpec,
) -> minerva::pipeline::RunReport {
    let cfg = minerva::pipeline::RunConfig {
        snapshot_request: Some(source.snapshot_request()),
        ..Default::default()
    };
    minerva::pipeline::run(source, spec, &loose_strategy(), test_signer(), &cfg).unwrap()
}

/// A running `minerva exchange` (the binary), its address read from its banner; the
/// rest of its standard output is read on a thread, so it never blocks on a full pipe.
pub struct ExchangeProcess {
    /// The process (signals, kill).
    pub child: std::process::Child,
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: String,
    banner: String,
    rest: std::thread::JoinHandle<String>,
}

/// The shipped spot session, with its exchangeInfo, served by the binary on a free
/// port at `speed` and for a second after it ends; more flags or environment can be
/// added before [`spawn_exchange`].
pub fn spot_exchange_command(speed: &str) -> std::process::Command {
    let (files, opts) = spot_files();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"));
    c.arg("exchange")
        .arg("--data")
        .args(&files)
        .arg("--exchange-info")
        .arg(opts.exchange_info.expect("the sample's exchangeInfo"))
        .args(["--port", "0", "--speed", speed, "--linger", "1"])
        .stderr(std::process::Stdio::null());
    c
}

/// Starts `cmd` (a `minerva exchange` command) and reads where it listens from its
/// banner ("minerva exchange: listening on 127.0.0.1:PORT: REST …").
pub fn spawn_exchange(mut cmd: std::process::Command) -> ExchangeProcess {
    use std::io::{BufRead, Read};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("minerva exchange starts");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut banner = String::new();
    out.read_line(&mut banner).expect("the banner");
    let addr = banner
        .split_once("listening on ")
        .and_then(|(_, r)| r.split_once(": "))
        .map(|(a, _)| a.to_string())
        .unwrap_or_else(|| panic!("no address in the banner: {banner}"));
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    ExchangeProcess {
        child,
        addr,
        banner,
        rest,
    }
}

impl ExchangeProcess {
    /// Waits for the process to end: its exit and standard error (when piped), and
    /// everything it printed on standard output, banner included.
    pub fn finish(self) -> (std::process::Output, String) {
        let o = self
            .child
            .wait_with_output()
            .expect("minerva exchange ends");
        let mut out = self.banner;
        out.push_str(&self.rest.join().unwrap_or_default());
        (o, out)
    }
}

/// Runs the `minerva` binary with `args` and returns its stdout, failing the test
/// with both outputs when it does not succeed.
pub fn minerva_ok(args: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A path inside the repository, as text (for command lines).
pub fn repo(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

/// The data a `minerva report` page embeds (its `minerva-data` script), as JSON.
pub fn report_data(page: &str) -> serde_json::Value {
    let tag = r#"id="minerva-data">"#;
    let start = page.find(tag).expect("the page embeds its data") + tag.len();
    let end = start
        + page[start..]
            .find("</script>")
            .expect("the data script ends");
    serde_json::from_str(&page[start..end]).expect("the embedded data is JSON")
}

/// Opens a `minerva report` page in headless Chromium (tools/check_report.py) and
/// returns its self-check, which must say ok; `None` (said so) without Chromium,
/// except under CI (`MINERVA_REQUIRE_CHROMIUM`, set by `.ci/run`).
pub fn browser_check(page: &std::path::Path) -> Option<serde_json::Value> {
    let check = std::process::Command::new("python3")
        .arg(repo("tools/check_report.py"))
        .arg(page)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    match check.status.code() {
        Some(2) if std::env::var("MINERVA_REQUIRE_CHROMIUM").is_err() => {
            eprintln!("NOTE: chromium not found; the report's browser check is skipped");
            None
        }
        Some(0) => Some(serde_json::from_str(&said).unwrap()),
        _ => panic!(
            "the report failed in Chromium:\n{said}\n{}",
            String::from_utf8_lossy(&check.stderr)
        ),
    }
}

/// Recorded `(receive ns, JSON)` lines.
pub type TimedLines = Vec<(u64, Vec<u8>)>;

/// One symbol's part of the shared KuCoin capture (`kucoin-sample`): its frames and its
/// REST snapshot (`{"code":…}`) as `(receive ns, JSON)` in the order a live client
/// received them, and its grid as the replay reads it. `None` without `../shared`.
pub fn kucoin_session(symbol: &str) -> Option<(TimedLines, minerva::core::SymbolSpec)> {
    use minerva::store::files::{LineKind, classify};
    let dir = shared_data()?.join("kucoin-sample");
    let files = [dir.join("KUCOIN.http.0.0"), dir.join("KUCOIN.ws.1.0")];
    let opts = minerva::replay::ReplayOptions {
        symbol: Some(symbol.into()),
        ..Default::default()
    };
    let table = minerva::replay::symbol_table(&files, &opts).unwrap();
    let mut lines = Vec::new();
    for f in &files {
        for l in std::fs::read(f).unwrap().split(|&c| c == b'\n') {
            let c = classify(l);
            let ours = match c.kind {
                LineKind::RestDepth => c.url_symbol == Some(symbol),
                LineKind::Frame => l.windows(symbol.len()).any(|w| w == symbol.as_bytes()),
                _ => false,
            };
            if ours {
                lines.push((c.recv_ns, c.json.to_vec()));
            }
        }
    }
    lines.sort_by_key(|l| l.0); // stable
    Some((lines, table.specs()[0].clone()))
}

/// True for a KuCoin REST answer (a level-2 snapshot in [`kucoin_session`]).
pub fn is_kucoin_answer(json: &[u8]) -> bool {
    minerva::venues::Venue::of_answer(json) == minerva::venues::Venue::Kucoin
}

/// The whole book as a snapshot, as a REST call at that moment would return it
/// (what the fault-injection tests resync from).
pub fn snapshot_of(book: &minerva::book::Book) -> minerva::core::DepthSnapshot {
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    book.for_each_bid(|l| {
        bids.push(l);
        true
    });
    book.for_each_ask(|l| {
        asks.push(l);
        true
    });
    minerva::core::DepthSnapshot {
        last_update_id: book.update_id(),
        event_ms: None,
        bids,
        asks,
    }
}

/// Writes `lines` as a recording `minerva replay` and `minerva exchange` read: one
/// `<receive ns> <json>` line each.
pub fn write_timed_lines(path: &std::path::Path, lines: &TimedLines) {
    let mut text = Vec::new();
    for (ns, json) in lines {
        text.extend_from_slice(format!("{ns} ").as_bytes());
        text.extend_from_slice(json);
        text.push(b'\n');
    }
    std::fs::write(path, text).unwrap();
}

/// A KuCoin spot capture's session as the unified account's WebSocket would have sent
/// it (protocol notes §5), written here from KuCoin's documented shapes with
/// serde_json, independently of Minerva's decoder: the REST snapshot becomes the `obu`
/// snapshot push (`O = C =` its sequence); the level-2 updates after it are gathered
/// in 10 ms windows into `obu` deltas (`O` the window's first `sequenceStart`, `C` its
/// last `sequenceEnd`, each price's last size; KuCoin's `"0"` price bumps carry no
/// level); matches become `trade.SPOT` pushes. Updates before the snapshot, tickers
/// and candles have no counterpart and are left out. `None` without `../shared`.
pub fn kucoin_obu_session(symbol: &str) -> Option<(TimedLines, minerva::core::SymbolSpec)> {
    use serde_json::{Value, json};
    let (lines, spec) = kucoin_session(symbol)?;
    struct Window {
        start_ns: u64,
        last_ns: u64,
        first: u64,
        last: u64,
        bids: Vec<(String, String)>,
        asks: Vec<(String, String)>,
    }
    fn flush(w: Option<Window>, symbol: &str, out: &mut TimedLines) {
        let Some(w) = w else { return };
        let side = |v: &[(String, String)]| -> Vec<Value> {
            v.iter().map(|(p, q)| json!([p, q])).collect()
        };
        let frame = json!({"T": "obu.SPOT", "dp": "increment@10ms", "t": "delta",
            "P": w.last_ns, "d": {"O": w.first, "C": w.last, "M": w.last_ns, "s": symbol,
            "b": side(&w.bids), "a": side(&w.asks)}});
        out.push((w.last_ns, serde_json::to_vec(&frame).unwrap()));
    }
    let mut out: TimedLines = Vec::new();
    let mut snapshot: Option<u64> = None;
    let mut win: Option<Window> = None;
    for (ns, line) in lines {
        let v: Value = serde_json::from_slice(&line).unwrap();
        if v["code"] == "200000" {
            let d = &v["data"];
            let seq: u64 = d["sequence"].as_str().unwrap().parse().unwrap();
            let frame = json!({"T": "obu.SPOT", "dp": "increment@10ms", "t": "snapshot",
                "P": ns, "d": {"O": seq, "C": seq, "M": d["time"].as_u64().unwrap() * 1_000_000,
                "s": symbol, "b": d["bids"], "a": d["asks"]}});
            flush(win.take(), symbol, &mut out);
            out.push((ns, serde_json::to_vec(&frame).unwrap()));
            snapshot = Some(seq);
            continue;
        }
        let d = &v["data"];
        match v["subject"].as_str() {
            Some("trade.l2update") => {
                let Some(snap) = snapshot else { continue };
                let end = d["sequenceEnd"].as_u64().unwrap();
                if end <= snap {
                    continue; // covered by the snapshot: obu never sends it
                }
                if win.as_ref().is_some_and(|w| ns >= w.start_ns + 10_000_000) {
                    flush(win.take(), symbol, &mut out);
                }
                let w = win.get_or_insert_with(|| Window {
                    start_ns: ns,
                    last_ns: ns,
                    first: d["sequenceStart"].as_u64().unwrap(),
                    last: end,
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
                w.last_ns = ns;
                w.last = end;
                for (key, levels) in [("bids", &mut w.bids), ("asks", &mut w.asks)] {
                    for c in d["changes"][key].as_array().unwrap() {
                        let (p, q) = (c[0].as_str().unwrap(), c[1].as_str().unwrap());
                        if p == "0" {
                            continue;
                        }
                        match levels.iter_mut().find(|(lp, _)| lp == p) {
                            Some(l) => l.1 = q.to_string(),
                            None => levels.push((p.to_string(), q.to_string())),
                        }
                    }
                }
            }
            Some("trade.l3match") => {
                flush(win.take(), symbol, &mut out);
                let seq = d["sequence"].as_str().unwrap();
                let frame = json!({"T": "trade.SPOT", "P": ns, "d": {"E": seq.parse::<u64>().unwrap(),
                    "M": d["time"].as_str().unwrap().parse::<u64>().unwrap(), "S": d["side"],
                    "p": d["price"], "q": d["size"], "s": symbol, "ti": seq}});
                out.push((ns, serde_json::to_vec(&frame).unwrap()));
            }
            _ => {}
        }
    }
    flush(win.take(), symbol, &mut out);
    Some((out, spec))
}

/// The spot capture's session of `symbol` as KuCoin's futures feed would have sent it
/// for a linear contract on the same grid (protocol notes §4), written here from
/// KuCoin's documented futures shapes with serde_json and text, independently of
/// Minerva's decoder: a contract list (`multiplier` = the spot lot, `tickSize` = the
/// spot tick, so quantities in the base asset are unchanged), the REST snapshot as
/// `/api/v1/level2/snapshot` (numbers, sizes in contracts), each level change as one
/// `/contractMarket/level2` message (`"price,side,size"`; price-0 entries left out;
/// sequences renumbered to KuCoin futures' strict +1 around the snapshot's), matches
/// as `/contractMarket/execution`. Returns the contract's name and the recording in
/// cryptofeed's line format. `None` without `../shared`.
pub fn kucoin_futures_recording(symbol: &str) -> Option<(String, Vec<u8>)> {
    use serde_json::{Value, json};
    let (lines, spec) = kucoin_session(symbol)?;
    let contract = format!("{}M", symbol.replace('-', ""));
    let qd = spec.qty.decimals() as usize;
    // A decimal size as whole contracts of 10^-qd.
    let contracts = |q: &str| -> u64 {
        let (int, frac) = q.split_once('.').unwrap_or((q, ""));
        assert!(frac.len() <= qd, "{q}");
        format!("{int}{frac:0<qd$}").parse().unwrap()
    };
    let secs = |ns: u64| format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    let snap_seq: u64 = lines
        .iter()
        .find_map(|(_, l)| {
            let v: Value = serde_json::from_slice(l).ok()?;
            (v["code"] == "200000").then(|| v["data"]["sequence"].as_str()?.parse().ok())?
        })
        .unwrap();
    // Every level change with its spot sequence, in sequence order: the futures
    // sequence is its rank, the snapshot's sequence kept.
    let mut changes = Vec::new();
    for (ns, l) in &lines {
        let v: Value = serde_json::from_slice(l).unwrap();
        if v["subject"] != "trade.l2update" {
            continue;
        }
        for (key, side) in [("bids", "buy"), ("asks", "sell")] {
            for c in v["data"]["changes"][key].as_array().unwrap() {
                let (p, q, s) = (
                    c[0].as_str().unwrap(),
                    c[1].as_str().unwrap(),
                    c[2].as_str().unwrap(),
                );
                if p != "0" {
                    changes.push((
                        s.parse::<u64>().unwrap(),
                        *ns,
                        p.to_string(),
                        side,
                        contracts(q),
                    ));
                }
            }
        }
    }
    changes.sort_by_key(|c| c.0);
    let covered = changes.iter().filter(|c| c.0 <= snap_seq).count() as u64;
    let mut out: Vec<(u64, String)> = Vec::new();
    for (i, (_, ns, p, side, n)) in changes.iter().enumerate() {
        let seq = snap_seq - covered + 1 + i as u64;
        let m = json!({"type": "message", "topic": format!("/contractMarket/level2:{contract}"),
            "subject": "level2", "sn": seq, "data": {"sequence": seq,
            "change": format!("{p},{side},{n}"), "timestamp": ns / 1_000_000}});
        out.push((*ns, format!("{}: {m}", secs(*ns))));
    }
    let mut trade_seq = 0u64;
    for (ns, l) in &lines {
        let v: Value = serde_json::from_slice(l).unwrap();
        if v["code"] == "200000" {
            let d = &v["data"];
            let side = |k: &str| -> String {
                d[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        format!(
                            "[{},{}]",
                            x[0].as_str().unwrap(),
                            contracts(x[1].as_str().unwrap())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let body = format!(
                r#"{{"code":"200000","data":{{"sequence":{snap_seq},"symbol":"{contract}","bids":[{}],"asks":[{}],"ts":{}}}}}"#,
                side("bids"),
                side("asks"),
                d["time"].as_u64().unwrap() * 1_000_000
            );
            out.push((*ns, format!(
                "https://api-futures.kucoin.com/api/v1/level2/snapshot?symbol={contract} -> {}: {body}",
                secs(*ns)
            )));
        } else if v["subject"] == "trade.l3match" {
            let d = &v["data"];
            trade_seq += 1;
            let m = json!({"type": "message", "topic": format!("/contractMarket/execution:{contract}"),
                "subject": "match", "sn": trade_seq, "data": {"symbol": contract, "sequence": trade_seq,
                "side": d["side"], "size": contracts(d["size"].as_str().unwrap()), "price": d["price"],
                "takerOrderId": d["takerOrderId"], "makerOrderId": d["makerOrderId"],
                "tradeId": d["tradeId"], "ts": d["time"].as_str().unwrap().parse::<u64>().unwrap()}});
            out.push((*ns, format!("{}: {m}", secs(*ns))));
        }
    }
    out.sort_by_key(|l| l.0);
    let first = out.first().map_or(0, |l| l.0);
    let list = format!(
        r#"https://api-futures.kucoin.com/api/v1/contracts/active -> {}: {{"code":"200000","data":[{{"symbol":"{contract}","rootSymbol":"USDT","type":"FFWCSX","baseCurrency":"{base}","quoteCurrency":"USDT","settleCurrency":"USDT","multiplier":{mult},"lotSize":1,"tickSize":{tick},"maxOrderQty":1000000000,"isInverse":false,"status":"Open","maxLeverage":50}}]}}"#,
        secs(first.saturating_sub(1_000_000)),
        base = symbol.split('-').next().unwrap(),
        mult = spec.qty.format(spec.qty.step()),
        tick = spec.price.format(spec.price.step()),
    );
    let mut text = list.into_bytes();
    text.push(b'\n');
    for (_, l) in out {
        text.extend_from_slice(l.as_bytes());
        text.push(b'\n');
    }
    Some((contract, text))
}

/// The position a run's journal says its fills made on `spec`'s symbol, signed lots:
/// each `FILLED` report's size, bought or sold as its order was journaled (a fill of
/// no journaled order fails the test).
pub fn journal_net_position(db: &rusqlite::Connection, spec: &minerva::core::SymbolSpec) -> i64 {
    let fills: Vec<(String, String)> = db
        .prepare(
            "SELECT client_id, qty FROM journal_reports WHERE report = 'FILLED' AND symbol = ?1",
        )
        .unwrap()
        .query_map([spec.name.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let sides: std::collections::HashMap<String, String> = db
        .prepare("SELECT client_id, upper(side) FROM journal_orders WHERE side IS NOT NULL")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    fills
        .iter()
        .map(|(c, q)| {
            let lots = spec.qty.parse(q.as_bytes()).unwrap().0;
            match sides.get(c).map(String::as_str) {
                Some("BUY") => lots,
                Some("SELL") => -lots,
                other => panic!("fill of {c}: no order journaled ({other:?})"),
            }
        })
        .sum()
}

/// A fresh database on the test server, named after the test; `None` (skipped, said
/// so) without a server, except under CI where the server is required.
pub fn fresh_postgres_db(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("MINERVA_TEST_POSTGRES") else {
        if std::env::var("CI").is_ok() || std::env::var("MINERVA_REQUIRE_SHARED").is_ok() {
            panic!("MINERVA_TEST_POSTGRES is required under CI (.ci/postgres starts a server)");
        }
        eprintln!("NOTE: MINERVA_TEST_POSTGRES not set; PostgreSQL tests skipped");
        return None;
    };
    let db = format!("minerva_t{}_{name}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // One statement each: neither may run inside a transaction block.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("{base}/{db}"))
}

/// An empty directory for one test, `<tmp>/minerva-<name>-<random>`, removed with all
/// it holds when the guard drops (the test's end, passed or panicked): keep the guard
/// alive until every process writing there has exited.
pub fn fresh_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("minerva-{name}-"))
        .tempdir()
        .unwrap()
}

/// Runs the `minerva` binary: (success, stdout, stderr).
pub fn minerva_out(args: &[&str]) -> (bool, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_minerva"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every line of gzip'd `<local_ns> <json>` captures as (receive ns, JSON), in
/// receive order (for tests that write the session in another tool's format).
pub fn capture(files: &[PathBuf]) -> Vec<(u64, serde_json::Value)> {
    use std::io::Read;
    let mut out = Vec::new();
    for f in files {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(f).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for l in text.lines().filter(|l| !l.is_empty()) {
            let (ns, json) = l.split_once(' ').unwrap();
            out.push((ns.parse().unwrap(), serde_json::from_str(json).unwrap()));
        }
    }
    out.sort_by_key(|(ns, _)| *ns);
    out
}

/// A level's (price, qty) as the exchange wrote them.
pub type PlainLevel = (String, String);

/// A spot book kept the plain way — a sorted map a side, updates received before
/// the REST snapshot held for it, those it already holds dropped — from a session's
/// recorded messages, to check what the library's book gives (imports, exports).
#[derive(Default)]
pub struct PlainBook {
    /// price in 1e-8 steps → (price text, qty text).
    pub bids: std::collections::BTreeMap<i64, PlainLevel>,
    /// As `bids`.
    pub asks: std::collections::BTreeMap<i64, PlainLevel>,
    last_id: Option<u64>,
    pending: Vec<serde_json::Value>,
}

impl PlainBook {
    fn set(side: &mut std::collections::BTreeMap<i64, PlainLevel>, l: &serde_json::Value) {
        let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
        let key = (p.parse::<f64>().unwrap() * 1e8).round() as i64;
        if q.parse::<f64>().unwrap() == 0.0 {
            side.remove(&key);
        } else {
            side.insert(key, (p.to_string(), q.to_string()));
        }
    }

    fn apply(&mut self, d: &serde_json::Value) {
        for l in d["b"].as_array().unwrap() {
            Self::set(&mut self.bids, l);
        }
        for l in d["a"].as_array().unwrap() {
            Self::set(&mut self.asks, l);
        }
    }

    /// True once a snapshot was loaded.
    pub fn synced(&self) -> bool {
        self.last_id.is_some()
    }

    /// One recorded message; true when the book changed (a snapshot, or a depth
    /// update applied).
    pub fn on(&mut self, v: &serde_json::Value) -> bool {
        if let Some(id) = v.get("lastUpdateId").and_then(|x| x.as_u64()) {
            self.bids.clear();
            self.asks.clear();
            for l in v["bids"].as_array().unwrap() {
                Self::set(&mut self.bids, l);
            }
            for l in v["asks"].as_array().unwrap() {
                Self::set(&mut self.asks, l);
            }
            self.last_id = Some(id);
            for d in std::mem::take(&mut self.pending) {
                if d["u"].as_u64().unwrap() > id {
                    self.apply(&d);
                }
            }
            return true;
        }
        let Some(d) = v.get("data").filter(|d| d["e"] == "depthUpdate") else {
            return false;
        };
        match self.last_id {
            None => {
                self.pending.push(d.clone());
                false
            }
            // Spot: updates with u ≤ the snapshot's id are already in it.
            Some(id) if d["u"].as_u64().unwrap() > id => {
                self.apply(d);
                true
            }
            Some(_) => false,
        }
    }

    /// The best `n` levels a side as (price, qty) text: (bids, asks).
    pub fn top(&self, n: usize) -> (Vec<PlainLevel>, Vec<PlainLevel>) {
        (
            self.bids.values().rev().take(n).cloned().collect(),
            self.asks.values().take(n).cloned().collect(),
        )
    }
}

/// `minerva db import --from FROM FILES… ARGS…` (ARGS: `--db DB` or `--tape T`, and
/// the format's own flags): (success, stdout, stderr).
pub fn db_import(from: &str, files: &[&str], args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["db", "import", "--from", from];
    all.extend_from_slice(files);
    all.extend_from_slice(args);
    minerva_out(&all)
}

/// Each `(file name, body, message)` written into `dir` and imported `--from FROM`
/// into `db`: refused, saying the message, never a panic.
pub fn import_refuses(
    from: &str,
    dir: &std::path::Path,
    db: &std::path::Path,
    cases: &[(&str, &str, &str)],
) {
    for (name, body, says) in cases {
        let f = dir.join(name);
        std::fs::write(&f, body).unwrap();
        let (ok, out, err) = db_import(
            from,
            &[f.to_str().unwrap()],
            &["--db", db.to_str().unwrap()],
        );
        assert!(!ok, "{name}: {out}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `minerva replay INPUTS [--exchange-info F] ARGS --json`: its first JSON line (the
/// first symbol's report), the run required to succeed.
pub fn replay_json(inputs: &[&str], info: Option<&str>, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["replay"];
    all.extend_from_slice(inputs);
    if let Some(info) = info {
        all.extend(["--exchange-info", info]);
    }
    all.extend_from_slice(args);
    all.push("--json");
    let (ok, out, err) = minerva_out(&all);
    assert!(ok, "{err}");
    serde_json::from_str(out.lines().next().unwrap()).unwrap()
}
