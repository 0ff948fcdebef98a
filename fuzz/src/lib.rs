//! Bodies of Minerva's fuzz targets, one public function per target.
//!
//! `fuzz/fuzz_targets/<t>.rs` only calls `minerva_fuzz::<t>(data)`. The same file is
//! compiled into the main crate's `tests/fuzz_regressions.rs` (through `#[path]`), so
//! `cargo test` replays `fuzz/regressions/<t>/*` through exactly the code the fuzzer
//! ran, without cargo-fuzz. Keep this file free of anything but `std`, `minerva` and
//! `flate2` (the main crate's own dependency), or that test stops compiling.
//!
//! Every function must never panic on any input; the asserts below are the properties
//! being fuzzed, each with a message saying which one failed.

use minerva::book::{Book, BookConfig};
use minerva::core::decimal;
use minerva::core::{
    DEPTH_CHUNK_LEVELS, Dec8, DepthChunk, EventBody, Level, Lots, Market, MarketEvent, PriceGrid,
    QtyGrid, SymbolSpec, Ticks,
};
use minerva::store::files::{LineKind, LineReader, classify};
use minerva::venues::binance::snapshot::{DepthSnapshot, parse_raw_snapshot, parse_snapshot};
use minerva::venues::binance::{
    DEFAULT_MAX_LEVELS, DecodeError, DecodePath, Decoded, Decoder, SymbolTable, parse_exchange_info,
};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Small book buffers: cheap to build on every input, and small enough that the
/// fuzzer reaches the window edges, the side-store limit and the pending-buffer limit.
pub const BOOK_CFG: BookConfig = BookConfig {
    window_ticks: 4096,
    outside_levels: 256,
    pending_chunks: 64,
    ticker_history: 64,
};

/// Level limit of the differential decoders: small, so inputs reach the
/// "too many levels" boundary and the 32-level chunk split on both paths.
pub const DIFF_MAX_LEVELS: usize = 40;

/// The symbols every decoding target knows: one per market from the hftbacktest
/// captures (spot BTCUSDT, USD-M ETHUSDT) and the cryptofeed captures (spot NKNUSDT,
/// USD-M SUSHIUSDT with integer quantities, COIN-M BCHUSD_PERP), with their real
/// tick sizes, so the seeds decode all the way into events.
pub fn specs() -> Vec<SymbolSpec> {
    [
        ("BTCUSDT", Market::Spot, "0.01", "0.00000001"),
        ("ETHUSDT", Market::UsdM, "0.01", "0.001"),
        ("BCHUSD_PERP", Market::CoinM, "0.01", "1"),
        ("NKNUSDT", Market::Spot, "0.0001", "0.00000001"),
        ("SUSHIUSDT", Market::UsdM, "0.001", "1"),
    ]
    .iter()
    .map(|&(name, market, tick, lot)| {
        SymbolSpec::from_tick_lot(name, market, tick, lot).expect("fixed test spec")
    })
    .collect()
}

fn table(specs: &[SymbolSpec]) -> SymbolTable {
    let mut t = SymbolTable::new();
    for s in specs {
        t.insert(s.clone());
    }
    t
}

// ---------------------------------------------------------------------------------
// decode
// ---------------------------------------------------------------------------------

/// `decode`: the production decoder ([`DecodePath::Auto`]) on the whole input as one
/// frame and, when the input has several lines, on each line in turn (a tiny
/// session). Every event goes into a [`Book`] of its symbol; a snapshot-shaped frame
/// is parsed with `parse_snapshot` and applied to its symbol's book (to every book
/// when the frame names no symbol). Checks: no panic; `Decoded::Events(n)` matches the
/// events the sink saw; an error emits nothing; events are well formed; the books stay
/// consistent (see [`check_book`]).
pub fn decode(data: &[u8]) {
    let specs = specs();
    let mut dec = Decoder::new(table(&specs), DEFAULT_MAX_LEVELS);
    let mut books: Vec<Option<Book>> = specs.iter().map(|_| None).collect();
    let mut recv_ns = 1_000_000_000u64;
    decode_frame(&mut dec, &mut books, &specs, data, &mut recv_ns);
    if data.contains(&b'\n') {
        for line in data.split(|&c| c == b'\n') {
            decode_frame(&mut dec, &mut books, &specs, line, &mut recv_ns);
        }
    }
    for b in books.iter().flatten() {
        check_book(b);
    }
}

fn decode_frame(
    dec: &mut Decoder,
    books: &mut [Option<Book>],
    specs: &[SymbolSpec],
    frame: &[u8],
    recv_ns: &mut u64,
) {
    *recv_ns += 1_000;
    let mut seen = 0u32;
    let r = dec.decode(frame, *recv_ns, &mut |ev: &MarketEvent| {
        seen += 1;
        let i = ev.symbol.0 as usize;
        assert!(i < specs.len(), "event for symbol id {i} not in the table");
        check_event(ev);
        books[i]
            .get_or_insert_with(|| Book::new(&specs[i], &BOOK_CFG))
            .on_event(ev);
    });
    match r {
        Ok(Decoded::Events(n)) => assert_eq!(n, seen, "Decoded::Events(n) != events emitted"),
        Ok(Decoded::Snapshot { symbol }) => {
            assert_eq!(seen, 0, "a snapshot frame emitted events");
            let ids: Vec<usize> = match symbol {
                Some(id) => vec![id.0 as usize],
                None => (0..specs.len()).collect(),
            };
            for i in ids {
                if let Ok(snap) = parse_snapshot(frame, &specs[i]) {
                    books[i]
                        .get_or_insert_with(|| Book::new(&specs[i], &BOOK_CFG))
                        .apply_snapshot(&snap);
                }
            }
        }
        Ok(Decoded::Skipped(_)) => assert_eq!(seen, 0, "a skipped frame emitted events"),
        Err(e) => {
            assert_eq!(seen, 0, "a frame that failed ({e}) emitted events");
            let _ = e.to_string();
        }
    }
}

fn check_event(ev: &MarketEvent) {
    if let EventBody::Depth(c) = &ev.body {
        assert!(
            c.n_bids <= c.n_levels && c.n_levels as usize <= DEPTH_CHUNK_LEVELS,
            "bad chunk sizes: n_bids {} n_levels {}",
            c.n_bids,
            c.n_levels
        );
        for l in c.bids().iter().chain(c.asks()) {
            assert!(l.price.0 >= 0 && l.qty.0 >= 0, "negative level {l:?}");
        }
    }
}

/// Book invariants: each side iterates best first with strictly monotone prices and
/// no empty level, as many levels as `level_counts` says, starting at `best_*`, and
/// `qty_at` agrees with the touch. Also runs the read-only reports (digest, top, bins).
pub fn check_book(b: &Book) {
    let (nb, na) = b.level_counts();
    for (bid, want) in [(true, nb), (false, na)] {
        let mut prev: Option<Ticks> = None;
        let mut first: Option<Level> = None;
        let mut n = 0usize;
        let mut visit = |l: Level| {
            assert!(l.qty.0 != 0, "empty level {l:?} listed (bid side: {bid})");
            if let Some(p) = prev {
                let ordered = if bid { l.price < p } else { l.price > p };
                assert!(
                    ordered,
                    "levels out of order: {p:?} then {:?} (bid side: {bid})",
                    l.price
                );
            }
            prev = Some(l.price);
            first.get_or_insert(l);
            n += 1;
            true
        };
        if bid {
            b.for_each_bid(&mut visit);
        } else {
            b.for_each_ask(&mut visit);
        }
        assert_eq!(
            n, want,
            "level_counts disagrees with iteration (bid side: {bid})"
        );
        let best = if bid { b.best_bid() } else { b.best_ask() };
        assert_eq!(
            best, first,
            "best level is not the first iterated (bid side: {bid})"
        );
        if let Some(l) = best {
            assert_eq!(
                b.qty_at(bid, l.price),
                l.qty,
                "qty_at(best) disagrees (bid side: {bid})"
            );
        }
    }
    let (mut bins_b, mut bins_a) = ([0i64; 8], [0i64; 8]);
    b.depth_bins(3, &mut bins_b, &mut bins_a);
    let _ = b.top(3);
    let _ = b.digest();
    let _ = (
        b.stats(),
        b.ticker_stats(),
        b.update_id(),
        b.state(),
        b.needs_snapshot(),
    );
}

// ---------------------------------------------------------------------------------
// decode_differential
// ---------------------------------------------------------------------------------

/// `decode_differential`: the hand-written fast path against sonic-rs. The input goes
/// through [`DecodePath::FastOnly`] and [`DecodePath::Sonic`]; unless the fast path
/// gave up (`Err(Json { offset: 0 })`), result and emitted events must be equal. The
/// production path ([`DecodePath::Auto`]: fast, else sonic) must always equal sonic.
pub fn decode_differential(data: &[u8]) {
    let specs = specs();
    let run = |path: DecodePath| {
        let mut dec = Decoder::new(table(&specs), DIFF_MAX_LEVELS);
        dec.set_path(path);
        let mut events: Vec<MarketEvent> = Vec::new();
        let r = dec.decode(data, 42, &mut |ev: &MarketEvent| events.push(*ev));
        (r, events)
    };
    let (fast_r, fast_ev) = run(DecodePath::FastOnly);
    let (sonic_r, sonic_ev) = run(DecodePath::Sonic);
    if fast_r != Err(DecodeError::Json { offset: 0 }) {
        assert_eq!(fast_r, sonic_r, "FastOnly and Sonic results differ");
        assert_eq!(fast_ev, sonic_ev, "FastOnly and Sonic events differ");
    }
    let (auto_r, auto_ev) = run(DecodePath::Auto);
    assert_eq!(auto_r, sonic_r, "Auto and Sonic results differ");
    assert_eq!(auto_ev, sonic_ev, "Auto and Sonic events differ");
}

// ---------------------------------------------------------------------------------
// decimal
// ---------------------------------------------------------------------------------

/// `decimal`: byte 0 picks the scale (`% 19`), the rest is the text.
///
/// * `parse_scaled(text, scale) == Ok(m)`, `m >= 0` ⇒ `canonical(m, scale)` is in
///   canonical form and parses back to `m`.
/// * `Dec8::parse` (signed) round-trips through its `Display`.
/// * Grids: the text is split at the first space into `spec value`; `spec` is tried as
///   a tick size (`PriceGrid::from_tick_size`) and as a step (`QtyGrid::new`), next to
///   fixed grids; whenever `value` parses onto a grid, `format` parses back to it.
pub fn decimal(data: &[u8]) {
    let Some((&ctl, text)) = data.split_first() else {
        return;
    };
    let scale = ctl % 19;
    if let Ok(m) = decimal::parse_scaled(text, scale) {
        if m >= 0 {
            let c = decimal::canonical(m, scale);
            check_canonical(&c);
            assert_eq!(
                decimal::parse_scaled(c.as_bytes(), scale),
                Ok(m),
                "canonical({m}, {scale}) = {c:?} does not parse back"
            );
        }
    }
    if let Ok(d) = Dec8::parse(text) {
        let s = d.to_string();
        assert_eq!(
            Dec8::parse(s.as_bytes()),
            Ok(d),
            "Dec8 {d:?} displays as {s:?}"
        );
    }

    let (spec, value) = match text.iter().position(|&c| c == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (&b""[..], text),
    };
    let spec = std::str::from_utf8(spec).ok();
    for tick in [
        spec,
        Some("0.01"),
        Some("0.5"),
        Some("0.00010000"),
        Some("10"),
        Some("1"),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(g) = PriceGrid::from_tick_size(tick) {
            if let Ok(t) = g.parse(value) {
                let s = g.format(t);
                assert_eq!(
                    g.parse(s.as_bytes()),
                    Ok(t),
                    "tick {tick:?}: {t:?} formats as {s:?}"
                );
                let _ = g.to_f64(t);
            }
        }
    }
    let qty_grids = [
        QtyGrid::new(ctl % 20, spec),
        QtyGrid::new(scale, None),
        QtyGrid::new(8, Some("0.00001000")),
        QtyGrid::new(0, Some("1")),
    ];
    for q in qty_grids.into_iter().flatten() {
        if let Ok(l) = q.parse(value) {
            let s = q.format(l);
            assert_eq!(
                q.parse(s.as_bytes()),
                Ok(l),
                "qty grid {q:?}: {l:?} formats as {s:?}"
            );
            let _ = q.to_f64(l);
        }
    }
}

/// No sign, no leading zeros, no trailing fractional zeros, no trailing `.`.
fn check_canonical(c: &str) {
    let b = c.as_bytes();
    let ok = !b.is_empty()
        && b.iter().all(|&x| x.is_ascii_digit() || x == b'.')
        && b.iter().filter(|&&x| x == b'.').count() <= 1
        && !(b.len() > 1 && b[0] == b'0' && b[1] != b'.')
        && !(c.contains('.') && (c.ends_with('0') || c.ends_with('.')))
        && !c.starts_with('.');
    assert!(ok, "not canonical: {c:?}");
}

// ---------------------------------------------------------------------------------
// snapshot
// ---------------------------------------------------------------------------------

/// `snapshot`: `parse_raw_snapshot`, then for each test symbol `on_grid` (which must
/// agree with `parse_snapshot`) and `Book::apply_snapshot`; then the snapshot's own
/// levels come back as one diff event with halved quantities (some become deletes),
/// which drives level updates, the crossed-book check and window re-centring from the
/// snapshot's prices, and the snapshot is applied again. Books must stay consistent.
pub fn snapshot(data: &[u8]) {
    let Ok(raw) = parse_raw_snapshot(data) else {
        return;
    };
    for spec in specs() {
        let Ok(snap) = raw.on_grid(&spec) else {
            continue;
        };
        let direct = parse_snapshot(data, &spec).ok();
        assert_eq!(
            direct.as_ref(),
            Some(&snap),
            "parse_snapshot != raw.on_grid"
        );
        let mut book = Book::new(&spec, &BOOK_CFG);
        book.apply_snapshot(&snap);
        check_book(&book);
        replay_as_diff(&mut book, &snap, spec.market.is_futures());
        check_book(&book);
        book.apply_snapshot(&snap);
        check_book(&book);
    }
}

/// The snapshot's levels as one depth event right after it (`U = u = L + 1`,
/// `pu = L` on futures), split into chunks like the decoder does.
fn replay_as_diff(book: &mut Book, snap: &DepthSnapshot, futures: bool) {
    let l = snap.last_update_id;
    let id = l.wrapping_add(1);
    let halve = |v: &Level| Level {
        price: v.price,
        qty: Lots(v.qty.0 / 2),
    };
    let levels: Vec<Level> = snap.bids.iter().chain(&snap.asks).map(halve).collect();
    let n_bids = snap.bids.len();
    let mut chunk = DepthChunk::new(id, id, futures.then_some(l), 0);
    chunk.flags |= DepthChunk::FIRST;
    let mut done = 0;
    loop {
        let take = (levels.len() - done).min(DEPTH_CHUNK_LEVELS);
        chunk.levels[..take].copy_from_slice(&levels[done..done + take]);
        chunk.n_levels = take as u8;
        chunk.n_bids = n_bids.saturating_sub(done).min(take) as u8;
        done += take;
        if done == levels.len() {
            chunk.flags |= DepthChunk::LAST;
        }
        book.on_depth(&chunk);
        if done == levels.len() {
            return;
        }
        chunk.flags &= !DepthChunk::FIRST;
    }
}

// ---------------------------------------------------------------------------------
// exchange_info
// ---------------------------------------------------------------------------------

/// `exchange_info`: `parse_exchange_info` with the market detected and forced to each
/// market. For every accepted spec: bounds format and parse back on its grid (when
/// the mantissa fits), `refine` to finer grids keeps them exact, and a book can be
/// built for it. Rejections must render as text.
pub fn exchange_info(data: &[u8]) {
    for market in [
        None,
        Some(Market::Spot),
        Some(Market::UsdM),
        Some(Market::CoinM),
    ] {
        let info = match parse_exchange_info(data, market) {
            Ok(info) => info,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        };
        for e in &info.rejected {
            let _ = e.to_string();
        }
        for spec in &info.specs {
            check_spec(spec);
            let mut finer = spec.clone();
            let (pd, qd) = (spec.price.decimals(), spec.qty.decimals());
            if finer
                .refine(pd.saturating_add(2), qd.saturating_add(1))
                .is_ok()
            {
                check_spec(&finer);
                for (a, b) in [
                    (spec.min_price, finer.min_price),
                    (spec.max_price, finer.max_price),
                ] {
                    if let (Some(a), Some(b)) = (a, b) {
                        if let (Some(ma), Some(mb)) =
                            (spec.price.mantissa(a), finer.price.mantissa(b))
                        {
                            let (sa, sb) = (
                                decimal::canonical(ma, spec.price.decimals()),
                                decimal::canonical(mb, finer.price.decimals()),
                            );
                            assert_eq!(sa, sb, "refine changed a price bound");
                        }
                    }
                }
            }
        }
        if let Some(spec) = info.specs.first() {
            check_book(&Book::new(spec, &BOOK_CFG));
        }
    }
}

fn check_spec(spec: &SymbolSpec) {
    let g = &spec.price;
    for t in [spec.min_price, spec.max_price, Some(g.step())]
        .into_iter()
        .flatten()
    {
        if g.mantissa(t).is_some() {
            let s = g.format(t);
            assert_eq!(
                g.parse(s.as_bytes()),
                Ok(t),
                "{}: bound {t:?} formats as {s:?}",
                spec.name
            );
        }
    }
    let q = &spec.qty;
    for l in [Some(spec.min_qty), spec.max_qty, Some(q.step())]
        .into_iter()
        .flatten()
    {
        let s = q.format(l);
        assert_eq!(
            q.parse(s.as_bytes()),
            Ok(l),
            "{}: qty {l:?} formats as {s:?}",
            spec.name
        );
    }
}

// ---------------------------------------------------------------------------------
// replay_line
// ---------------------------------------------------------------------------------

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// `replay_line`: `classify` on the input and on each of its lines (the JSON it
/// reports must be part of the line and start with `{` for frames); then the input is
/// written to a temp file as-is and gzip-compressed, and read back through
/// `LineReader`. Errors are fine; when the file is plain text (or gzip we wrote), the
/// lines read must be exactly the input's `\n`-separated lines.
pub fn replay_line(data: &[u8]) {
    check_classify(data);
    let expected = split_lines(data);
    for line in &expected {
        check_classify(line);
    }

    let dir = std::env::temp_dir();
    let stem = format!(
        "minerva-fuzz-{}-{}",
        std::process::id(),
        FILE_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let plain = dir.join(format!("{stem}.txt"));
    let gz = dir.join(format!("{stem}.gz"));

    std::fs::write(&plain, data).expect("write temp file");
    let got = read_lines(&plain);
    let _ = std::fs::remove_file(&plain);
    if !data.starts_with(&[0x1f, 0x8b]) {
        let got = got.expect("reading a plain file failed");
        assert_eq!(
            got, expected,
            "LineReader lines differ from the plain file's lines"
        );
    }

    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write temp file");
    let got = read_lines(&gz);
    let _ = std::fs::remove_file(&gz);
    let got = got.expect("reading a gzip file failed");
    assert_eq!(
        got, expected,
        "LineReader lines differ from the gzip file's lines"
    );
}

fn check_classify(line: &[u8]) {
    let l = classify(line);
    if !l.json.is_empty() {
        let (lo, hi) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
        let j = l.json.as_ptr() as usize;
        assert!(
            j >= lo && j + l.json.len() <= hi,
            "classify's json is not part of the line"
        );
    }
    if l.kind == LineKind::Frame {
        assert_eq!(
            l.json.first(),
            Some(&b'{'),
            "a Frame whose json does not start with '{{'"
        );
    }
    if let Some(s) = l.url_symbol {
        let _ = s.len();
    }
}

/// What `read_until(b'\n')` yields: every `\n`-terminated piece without its `\n`, plus
/// a last unterminated piece when it is not empty.
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = data.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
    if out.last().is_some_and(Vec::is_empty) {
        out.pop();
    }
    out
}

fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut r = LineReader::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    loop {
        match r.next_line() {
            Ok(Some(line)) => {
                check_classify(line);
                out.push(line.to_vec());
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    assert_eq!(r.lines(), out.len() as u64, "LineReader::lines() miscounts");
    Ok(out)
}

/// A Binance order request read as the local exchange reads it — parameters
/// (percent-decoded, each once), authenticated when the second byte is odd (signed
/// with the exchange's key, so reading goes past the signature check), then a new
/// order, an OCO list or a cancel (first byte) — and the typed order matched by the
/// simulated exchange while market events drawn from the rest (depth updates and
/// trades) move the book through it. Never a panic, no fill of nothing, and no report
/// is lost.
pub fn paper_request(data: &[u8]) {
    use minerva::core::{
        DepthChunk, DepthSnapshot, EventBody, Level, Lots, MarketEvent, OrderCmd, OrderRequest,
        Report, SymbolId, Ticks, Trade, client_id,
    };
    use minerva::sim::latency::{Delay, LatencyModel};
    use minerva::sim::queue::QueueModel;
    use minerva::sim::{SimConfig, SimExchange};
    use minerva::venues::binance::keys::ApiKeys;
    use minerva::venues::binance::orders::{parse_oco, parse_order};
    use minerva::venues::binance::params::Params;
    use minerva::venues::binance::sign::{Incoming, Signer, authenticate};
    let [m, s, rest @ ..] = data else {
        return;
    };
    let signer = Signer::new(&ApiKeys::new("k".into(), b"fuzz".to_vec()));
    let cut = rest.len().min(400);
    let (payload, market) = rest.split_at(cut);
    let text = String::from_utf8_lossy(payload);
    let params = if s & 1 == 1 {
        let signed = signer.sign_query(&text, 5_000, 1_000);
        let incoming = Incoming {
            api_key: Some("k"),
            query: &signed,
            body: "",
        };
        authenticate(&signer, "k", &incoming, 1_000).ok()
    } else {
        Params::parse(&text, "").ok()
    };
    let level = |p: i64, q: i64| Level {
        price: Ticks(p),
        qty: Lots(q),
    };
    let ev = |t_ms: u64, body| MarketEvent {
        recv_ns: 0,
        event_ms: t_ms,
        symbol: SymbolId(0),
        body,
    };
    for spec in specs() {
        let cfg = SimConfig {
            latency: LatencyModel {
                order: Delay::Const((*s as u64) * 100),
                ..LatencyModel::default()
            },
            queue: [
                QueueModel::RiskAverse,
                QueueModel::Power(2),
                QueueModel::Through,
            ][*m as usize % 3],
            maker_fee_e8: 20_000,
            taker_fee_e8: 50_000,
            capital_e8: 1_000_000_000_000,
            leverage: 1 + (*s as u32 % 125),
            maintenance_ppm: 4_000,
            max_orders: 4,
            seed: *s as u64,
            // Small buffers: a fresh exchange per input stays cheap.
            book: minerva::book::BookConfig {
                window_ticks: 4096,
                outside_levels: 64,
                pending_chunks: 16,
                ticker_history: 16,
            },
        };
        let mut x = SimExchange::new(&spec, &cfg);
        x.on_snapshot(&DepthSnapshot {
            last_update_id: 100,
            event_ms: None,
            bids: vec![level(100, 7), level(99, 9)],
            asks: vec![level(101, 7), level(102, 9)],
        });
        let cmd = params.as_ref().and_then(|p| match m % 3 {
            0 => parse_order(p, &spec, "").ok().map(OrderCmd::New),
            1 => parse_oco(p, &spec).ok().map(OrderCmd::Oco),
            _ => p
                .get("origClientOrderId")
                .and_then(client_id)
                .map(OrderCmd::Cancel),
        });
        if let Some(cmd) = cmd {
            let req = OrderRequest {
                cmd,
                timestamp_ms: 1_000,
                recv_window_ms: 5_000,
            };
            x.send(&req, payload, 1_000_000);
            x.send(&req, payload, 1_000_000);
        }
        let mut t = 1_000u64;
        let mut id = 101;
        for c in market.chunks(3) {
            let p = 90 + (c[0] % 20) as i64;
            t += 1;
            match c.len() {
                3 => x.on_event(&ev(
                    t,
                    EventBody::Trade(Trade {
                        trade_id: t,
                        price: Ticks(p),
                        qty: Lots(1 + c[1] as i64),
                        trade_ms: t,
                        buyer_is_maker: c[2] & 1 == 1,
                    }),
                )),
                _ => {
                    let mut d = DepthChunk::new(id, id, None, t);
                    id += 1;
                    d.levels[0] = level(p, c[c.len() - 1] as i64 % 9);
                    d.levels[1] = level(p + 1 + c[c.len() - 1] as i64 % 3, 5);
                    d.n_bids = 1;
                    d.n_levels = 2;
                    d.flags |= DepthChunk::FIRST | DepthChunk::LAST;
                    x.on_event(&ev(t, EventBody::Depth(d)));
                }
            }
            x.drain_due(u64::MAX, |e| {
                if let Report::Filled { qty, .. } = e.report {
                    assert!(qty.0 > 0, "a fill of nothing");
                }
            });
        }
        x.cancel_all();
        x.drain_due(u64::MAX, |_| {});
        assert_eq!(x.open_orders(), 0);
        assert_eq!(x.stats.reports_lost, 0);
    }
}

/// The live feed's WebSocket frame reader on arbitrary server bytes: messages are read
/// until an error; never a panic, never a message over the limit, and what it writes
/// back (pongs, a close) is well-framed and masked.
pub fn ws_frames(data: &[u8]) {
    use minerva::net::ws::{MAX_MESSAGE, Wire};
    use std::io::{Cursor, Read, Write};
    struct Duplex(Cursor<Vec<u8>>, Vec<u8>);
    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Wire::over(Duplex(Cursor::new(data.to_vec()), Vec::new()), 1);
    for _ in 0..1_000 {
        match w.read_message() {
            Ok(m) => assert!(m.len() <= MAX_MESSAGE),
            Err(_) => break,
        }
    }
}

/// The local exchange's HTTP request reader on arbitrary bytes, as a keep-alive
/// connection reads them (requests with bodies, one after another): requests or
/// `None`, never a panic; a parsed path never holds the query; every body is what its
/// `Content-Length` said and comes from the input.
pub fn http_head(data: &[u8]) {
    let mut r = std::io::Cursor::new(data);
    let mut reader = minerva::net::server::Reader::default();
    let mut bodies = 0usize;
    for _ in 0..64 {
        let Some(req) = reader.next(&mut r) else {
            break;
        };
        assert!(!req.path.contains('?'));
        if let Ok(p) = minerva::venues::binance::params::Params::parse(&req.query, &req.body) {
            let _ = p.get("symbol");
        }
        let _ = minerva::venues::binance::params::split_signature(&req.body);
        bodies += req.body.len();
        assert!(bodies <= data.len());
    }
}

/// The live link's user data stream reader on arbitrary events (one per line) about
/// two orders it follows: never a panic; no order is filled beyond its quantity, and
/// what a fill leaves is what is left of it.
pub fn user_events(data: &[u8]) {
    use minerva::core::Report;
    use minerva::core::{Lots, Market, SymbolSpec};
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").unwrap();
    let events: Vec<&[u8]> = data.split(|&b| b == b'\n').take(256).collect();
    let orders = [("mnv1e", true, Lots(1_000)), ("mnv1t", false, Lots(1_000))];
    let (out, _) = minerva::venues::binance::link::replay_user_events(&spec, &orders, &events);
    for (id, _, qty) in orders {
        let mut filled = 0i64;
        for e in out.iter().filter(|e| e.client_id.as_str() == id) {
            if let Report::Filled { qty: q, leaves, .. } = e.report {
                assert!(q.0 > 0);
                filled += q.0;
                assert!(
                    filled <= qty.0 || leaves.0 == 0,
                    "{id}: {filled} of {}",
                    qty.0
                );
                assert_eq!(leaves.0, (qty.0 - filled).max(0));
            }
        }
    }
}

/// Recorded lines as the store reads them (`db info`'s scan, the recorder's gap
/// check): any bytes, split into lines, through `json_of`, `stream_of` and the depth
/// chain (once with the stream the line names, once taken as a diff depth stream);
/// the chain's covered id never goes back. Also the store's flag and URL readers.
pub fn recorded_lines(data: &[u8]) {
    use minerva::store::scan::{DepthChain, json_of};
    let (mut named, mut forced) = (DepthChain::default(), DepthChain::default());
    for line in data.split(|&b| b == b'\n').take(512) {
        let json = json_of(line);
        let stream = minerva::store::stream_of(json);
        for (chain, s) in [
            (&mut named, stream.as_str()),
            (&mut forced, "btcusdt@depth@100ms"),
        ] {
            let before = chain.last();
            if let Some(b) = chain.message(s, json) {
                assert_eq!(Some(b.last), before);
            }
            assert!(chain.last() >= before, "{before:?} → {:?}", chain.last());
        }
        let text = String::from_utf8_lossy(line);
        let _ = text.parse::<minerva::store::recorder::Rotate>();
        let _ = minerva::store::Target::parse(&text).display();
        let shown = minerva::store::postgres::redact(&text);
        assert!(shown.len() <= text.len() + 3);
    }
}

/// `minerva evolve`'s readers of user input (`fuzz_targets/evolve_inputs.rs`): each line
/// as a `--gene` spec, and the bytes as the rows of a `--resume` log under a valid
/// fingerprint and header (and once as a whole log). Never a panic; a gene read has a
/// grid of at least one point whose ends read back in range; a row read back lies on
/// the genes' grids.
pub fn evolve_inputs(data: &[u8]) {
    use minerva::evolve::{Gene, log as report};
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        if let Ok(g) = Gene::parse(line) {
            let n = g.points();
            assert!(n >= 1);
            let (lo, hi): (f64, f64) = (g.text(0).parse().unwrap(), g.text(n - 1).parse().unwrap());
            assert!(lo <= hi + g.step, "{line}: {lo} > {hi}");
        }
    }
    let genes = Gene::defaults();
    let log = report::csv_fingerprint("f") + &report::csv_head(&genes) + &text;
    for input in [log.as_str(), &text] {
        if let Ok(rows) = report::read_log(input, &genes, "f") {
            for c in rows {
                assert_eq!(c.genome.len(), genes.len());
                for (g, k) in genes.iter().zip(&c.genome) {
                    assert!(*k < g.points());
                }
            }
        }
    }
}
