//! Bodies of Minerva's fuzz targets, one public function per target.
//!
//! `fuzz/fuzz_targets/<t>.rs` only calls `minerva_fuzz::<t>(data)`. The same file is
//! compiled into the main crate's `tests/fuzz_regressions.rs` (through `#[path]`), so
//! `cargo test` replays `fuzz/regressions/<t>/*` through exactly the code the fuzzer
//! ran, without cargo-fuzz. Keep this file free of anything but `std`, `minerva` and
//! the main crate's own dependencies (`flate2`, `sonic-rs`, `serde`, `form_urlencoded`),
//! or that test stops compiling.
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
    // The properties are the asserts; the result itself is not needed here.
    let _ = differential(minerva::venues::Venue::Binance, &specs(), data);
}

/// The differential properties, for either venue's decoder: returns the production
/// path's result and events.
fn differential(
    venue: minerva::venues::Venue,
    specs: &[SymbolSpec],
    data: &[u8],
) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let run = |path: DecodePath| {
        let mut dec = minerva::venues::MarketDecoder::new(venue, table(specs), DIFF_MAX_LEVELS);
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
    (auto_r, auto_ev)
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
/// * `read_quoted` (the digits the decoders read on the way to a closing quote) stops
///   at the first quote, reads every plain decimal of at most 18 bytes, and its digits
///   scale to what the text parses to (`parse_scaled`, `parse_read` = `parse` on grids).
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
    // The digits the fast decoders read on the way to a closing quote give what the
    // text parses to, on every grid; the text up to the first quote is the value.
    let quote = text.iter().position(|&c| c == b'"');
    match decimal::read_quoted(text, 0) {
        Some((end, digits)) => {
            assert_eq!(Some(end), quote, "read_quoted stopped off the quote");
            let value = &text[..end];
            for s in 0..=18 {
                assert_eq!(
                    digits.scaled(s),
                    decimal::parse_scaled(value, s).ok(),
                    "{value:?} at {s}"
                );
            }
            for tick in ["0.01", "0.5", "0.00010000", "10", "1"] {
                let g = PriceGrid::from_tick_size(tick).expect("a valid tick");
                assert_eq!(
                    g.parse_read(value, digits),
                    g.parse(value),
                    "{value:?} tick {tick}"
                );
            }
            let q = QtyGrid::new(scale, None).expect("a valid grid");
            assert_eq!(q.parse_read(value, digits), q.parse(value), "{value:?} qty");
        }
        // Not read: the text must not be a plain decimal of at most 18 bytes.
        None => {
            if let Some(end) = quote {
                let value = &text[..end];
                let plain = |t: &[u8]| !t.is_empty() && t.iter().all(u8::is_ascii_digit);
                let ok = match value.iter().position(|&c| c == b'.') {
                    Some(p) => plain(&value[..p]) && plain(&value[p + 1..]),
                    None => plain(value),
                };
                assert!(!(ok && value.len() <= 18), "{value:?} left unread");
            }
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

/// A scratch file or directory in the temp dir, removed when this drops: also when a
/// property fails, since tests/fuzz_regressions.rs catches the panic and goes on.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

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
    let _scratch = (Scratch(plain.clone()), Scratch(gz.clone()));

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
        assert_eq!(x.stats().reports_lost, 0);
    }
}

/// The live feed's WebSocket frame reader on arbitrary server bytes: messages are read
/// until an error; never a panic, never a message over the limit, and what it writes
/// back (pongs, a close) is well-framed and masked. The same bytes handed over in
/// pieces, with "nothing yet" between them (a non-blocking socket read from a poll),
/// read the same messages, end the same way and write the same bytes back.
pub fn ws_frames(data: &[u8]) {
    use minerva::net::ws::{MAX_MESSAGE, Scripted, Wire, transcript};
    let mut whole = Wire::over(Scripted::whole(data), 1);
    let (said, end) = transcript(&mut whole, 1_000);
    assert!(said.iter().all(|m| m.len() <= MAX_MESSAGE));
    let seed = data.iter().fold(7u64, |h, &b| h.rotate_left(5) ^ b as u64);
    let mut pieces = Wire::over(Scripted::in_pieces(data, seed, 64), 1);
    let (said_in_pieces, end_in_pieces) = transcript(&mut pieces, 1_000);
    assert!(said_in_pieces == said, "the pieces read other messages");
    assert_eq!(end_in_pieces, end);
    assert!(
        pieces.stream().output == whole.stream().output,
        "other bytes written back"
    );
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
/// chain (once with the stream the line names, once taken as each venue's depth stream:
/// Binance's diffs, KuCoin's spot and futures level 2 and unified `obu` pushes) and the
/// venues' time, topic and push peeks and KuCoin's control-frame reader; the chain's
/// covered id never goes back. Also the store's flag and URL readers.
pub fn recorded_lines(data: &[u8]) {
    use minerva::store::scan::{DepthChain, json_of};
    let (mut named, mut forced) = (DepthChain::default(), DepthChain::default());
    let (mut spot, mut futures) = (DepthChain::default(), DepthChain::default());
    let mut obu = DepthChain::default();
    for line in data.split(|&b| b == b'\n').take(512) {
        let json = json_of(line);
        let stream = minerva::store::stream_of(json);
        let _ = minerva::venues::recorded::event_ms(json);
        let _ = minerva::venues::kucoin::peek::topic(json);
        let _ = minerva::venues::kucoin::peek::push_topic(json);
        let _ = minerva::venues::kucoin::peek::is_push_snapshot(json);
        let _ = minerva::venues::kucoin::session::control(json);
        for (chain, s) in [
            (&mut named, stream.as_str()),
            (&mut forced, "btcusdt@depth@100ms"),
            (&mut spot, "/market/level2:BTC-USDT"),
            (&mut futures, "/contractMarket/level2:XBTUSDTM"),
            (&mut obu, "obu.SPOT"),
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

// ---------------------------------------------------------------------------------
// venue_request
// ---------------------------------------------------------------------------------

/// An error answer `(code, msg)` as the local exchange writes it must read back as the
/// same code and message (whatever the message holds: quotes, controls, U+FFFD).
fn check_error_body(code: minerva::venues::binance::errors::Code, msg: &str) {
    use minerva::venues::binance::errors::ErrorBody;
    let json = ErrorBody::json(code, msg);
    let back = ErrorBody::read(&json).unwrap_or_else(|| {
        panic!(
            "error answer {:?} does not read back",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(back.code, code.number() as i64, "code of {msg:?}");
    assert_eq!(back.msg, msg, "message changed in the error answer");
}

/// The local exchange's reading of a Binance order request (`fuzz_targets/venue_request.rs`):
/// the input split at its first 0x00 into query and form body (lossy UTF-8), read by
/// `Params::parse`, then validated as a new order, an order reference and an OCO list
/// on spot and USD-M, and read into a typed order on a spot and a USD-M symbol.
///
/// * `Params::parse` never accepts a name given twice (names decoded as
///   `form_urlencoded` does, across query and body), and every name it accepts reads
///   back its value (empty counts as absent); a refusal names a repeated name.
/// * `validate::new_order` Ok with `newClientOrderId` sent ⇒ the id is legal
///   (`is_client_id`); with `parse_order` Ok too, the order's id is that parameter,
///   its side is `side`, its quantity (and price) format and parse back on the grid.
/// * Every refusal (a duplicate, each `Invalid`, each `parse_order` reason with its
///   Binance code and message) written by `ErrorBody::json` reads back the same, and a
///   `parse_order` reason reads back from its code and message (`reject_of`).
/// * `split_signature` keeps the rest as sent minus the signature.
pub fn venue_request(data: &[u8]) {
    use minerva::core::OrderSide;
    use minerva::venues::binance::errors::{self, Code};
    use minerva::venues::binance::orders::parse_order;
    use minerva::venues::binance::params::{ParamError, Params, split_signature};
    use minerva::venues::binance::validate;
    use std::collections::HashMap;

    let (q, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (query, body) = (String::from_utf8_lossy(q), String::from_utf8_lossy(b));
    for text in [&query, &body] {
        let (rest, sig) = split_signature(text);
        assert!(rest.len() <= text.len());
        assert!(
            !rest.split('&').any(|kv| kv.starts_with("signature=")),
            "a signature left in {rest:?}"
        );
        if let Some(s) = sig {
            assert!(text.contains(&format!("signature={s}")));
        }
    }
    let mut sent: HashMap<String, (usize, String)> = HashMap::new();
    for part in [&query, &body] {
        for (k, v) in form_urlencoded::parse(part.as_bytes()) {
            let e = sent.entry(k.into_owned()).or_insert((0, v.into_owned()));
            e.0 += 1;
        }
    }
    let params = match Params::parse(&query, &body) {
        Ok(p) => p,
        Err(e) => {
            let ParamError::Duplicate(name) = &e;
            assert!(
                sent.get(name).is_some_and(|(n, _)| *n >= 2),
                "refused {name:?} as a duplicate"
            );
            check_error_body(Code::TooManyParameters, &e.to_string());
            return;
        }
    };
    for (name, (n, value)) in &sent {
        assert_eq!(*n, 1, "{name:?} accepted {n} times");
        assert!(params.has(name));
        let want = Some(value.as_str()).filter(|v| !v.is_empty());
        assert_eq!(params.get(name), want, "value of {name:?}");
    }

    let specs = [
        SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").expect("spec"),
        SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.1", "0.001").expect("spec"),
    ];
    for spec in &specs {
        let market = spec.market;
        let checked = validate::new_order(&params, market);
        match &checked {
            Ok(()) => {
                if params.has("newClientOrderId") {
                    let id = params
                        .get("newClientOrderId")
                        .expect("an empty client id passed validation");
                    assert!(validate::is_client_id(id), "{id:?} passed validation");
                }
                assert!(matches!(params.get("side"), Some("BUY" | "SELL")));
                assert!(
                    validate::order_types(market).contains(&params.get("type").unwrap_or("")),
                    "type {:?} passed validation on {market:?}",
                    params.get("type")
                );
            }
            Err(inv) => {
                assert!(!inv.msg.is_empty());
                check_error_body(inv.code, &inv.msg);
            }
        }
        for r in [validate::order_ref(&params), validate::oco(&params)] {
            if let Err(inv) = r {
                assert!(!inv.msg.is_empty());
                check_error_body(inv.code, &inv.msg);
            }
        }
        match parse_order(&params, spec, "") {
            Ok(o) => {
                if checked.is_ok() {
                    let id = params
                        .get("newClientOrderId")
                        .expect("parsed without an id");
                    assert_eq!(o.id.as_str(), id, "the order's client id");
                }
                let side = match o.side {
                    OrderSide::Buy => "BUY",
                    OrderSide::Sell => "SELL",
                };
                assert_eq!(params.get("side"), Some(side));
                assert_eq!(o.reduce_only, params.get("reduceOnly") == Some("true"));
                let q = spec.qty.format(o.qty);
                assert_eq!(spec.qty.parse(q.as_bytes()), Ok(o.qty), "qty {q:?}");
                if o.price.0 != 0 {
                    let p = spec.price.format(o.price);
                    assert_eq!(spec.price.parse(p.as_bytes()), Ok(o.price), "price {p:?}");
                }
            }
            Err(r) => {
                let (code, msg) = (errors::code(r, market), errors::message(r, market));
                check_error_body(code, msg);
                assert_eq!(errors::reject_of(code.number() as i64, msg, market), r);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// ws_control
// ---------------------------------------------------------------------------------

/// The local exchange's WebSocket control messages (`parse_control`) on any text
/// (lossy UTF-8): a refusal has a code in 0..=3 and serialises to JSON that reads back
/// with the same code, message and id; a message read has an id that is an integer,
/// null or 1 to 36 ASCII alphanumerics, and was a JSON object naming its method.
pub fn ws_control(data: &[u8]) {
    use minerva::local_exchange::binance::ws::{Id, Method, parse_control};
    use sonic_rs::{JsonContainerTrait, JsonValueTrait};
    let text = String::from_utf8_lossy(data);
    let check_id = |id: &Id| {
        if let Id::Text(s) = id {
            assert!(
                (1..=36).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()),
                "id {s:?}"
            );
        }
    };
    match parse_control(&text) {
        Err(r) => {
            assert!(r.code <= 3, "refusal code {}", r.code);
            if let Some(id) = &r.id {
                check_id(id);
            }
            let json = sonic_rs::to_string(&r).expect("a refusal serialises");
            let v: sonic_rs::Value = sonic_rs::from_str(&json)
                .unwrap_or_else(|e| panic!("refusal {json:?} is not JSON: {e}"));
            assert_eq!(v.get("code").and_then(|c| c.as_u64()), Some(r.code as u64));
            assert_eq!(v.get("msg").and_then(|m| m.as_str()), Some(r.msg.as_str()));
            match &r.id {
                None => assert!(v.get("id").is_none()),
                Some(Id::Null) => assert!(v.get("id").is_some_and(|x| x.is_null())),
                Some(Id::Int(n)) => assert_eq!(v.get("id").and_then(|x| x.as_i64()), Some(*n)),
                Some(Id::Text(s)) => {
                    assert_eq!(v.get("id").and_then(|x| x.as_str()), Some(s.as_str()))
                }
            }
        }
        Ok(c) => {
            check_id(&c.id);
            let v: sonic_rs::Value = sonic_rs::from_str(&text).expect("accepted text is JSON");
            let obj = v.as_object().expect("accepted JSON is an object");
            let name = match c.method {
                Method::Subscribe => "SUBSCRIBE",
                Method::Unsubscribe => "UNSUBSCRIBE",
                Method::List => "LIST_SUBSCRIPTIONS",
                Method::SetProperty => "SET_PROPERTY",
                Method::GetProperty => "GET_PROPERTY",
            };
            assert_eq!(obj.get(&"method").and_then(|m| m.as_str()), Some(name));
            match &c.id {
                Id::Int(n) => assert_eq!(obj.get(&"id").and_then(|x| x.as_i64()), Some(*n)),
                Id::Text(s) => {
                    assert_eq!(obj.get(&"id").and_then(|x| x.as_str()), Some(s.as_str()))
                }
                Id::Null => assert!(obj.get(&"id").is_none_or(|x| x.is_null())),
            }
            let n = obj.get(&"params").map_or(0, |p| {
                p.as_array().expect("params read from an array").len()
            });
            assert_eq!(c.params.len(), n);
        }
    }
}

// ---------------------------------------------------------------------------------
// strategy_toml
// ---------------------------------------------------------------------------------

/// The strategy file reader (`Strategy::parse`) on any text, with `key=value`
/// overrides from the lines after the input's first 0x00. Never a panic. A strategy
/// read has every value inside the range `docs/strategy.md` documents; its values
/// given back as overrides (`Strategy::value`, the capital as its decimal, the market)
/// give the same strategy; and the file rewritten with them by `with_values` (what
/// `minerva evolve` writes) reads back as the same strategy, with no override.
pub fn strategy_toml(data: &[u8]) {
    use minerva::strategy::{MAX_BINS, Strategy, with_values};
    let (t, o) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let text = String::from_utf8_lossy(t);
    let over_text = String::from_utf8_lossy(o);
    let overrides: Vec<(&str, String)> = over_text
        .lines()
        .take(32)
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    let Ok(s) = Strategy::parse(&text, &overrides) else {
        return;
    };
    let within = |v: i64, lo: i64, hi: i64, what: &str| {
        assert!((lo..=hi).contains(&v), "{what} = {v} outside {lo}..={hi}");
    };
    assert!(
        (1..=24).contains(&s.market.len())
            && s.market
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'),
        "market {:?}",
        s.market
    );
    assert!(s.capital.0 > 0, "capital {:?}", s.capital);
    within(s.limit_orderbook.into(), 1, 5000, "limit_orderbook");
    within(
        s.relative_threshold_milli.into(),
        1_000,
        1_000_000_000,
        "relative_threshold",
    );
    within(
        s.short_pressure_ppm.into(),
        500_000,
        1_000_000,
        "short_pressure",
    );
    within(s.long_pressure_ppm.into(), 0, 500_000, "long_pressure");
    assert!(s.long_pressure_ppm < s.short_pressure_ppm);
    within(
        s.max_concurrent_trades.into(),
        1,
        1000,
        "max_concurrent_trades",
    );
    within(
        s.peak_distance_divisor_milli.into(),
        1_000,
        10_000_000,
        "peak_distance_divisor",
    );
    within(
        s.stop_loss_buffer_ppm.into(),
        0,
        500_000,
        "stop_loss_price_buffer",
    );
    within(
        s.per_trade_ppm.into(),
        100,
        1_000_000,
        "percentage_per_trade",
    );
    within(s.maker_fee_e8, -100_000, 1_000_000, "maker_fee");
    within(s.taker_fee_e8, 0, 1_000_000, "taker_fee");
    within(s.max_leverage.into(), 1, 125, "max_leverage");
    within(s.bin_ticks.into(), 1, 1_000_000, "bin_ticks");
    within(s.bins.into(), 4, MAX_BINS as i64, "bins");
    within(s.volume_window_secs.into(), 1, 86_400, "volume_window_secs");
    within(
        s.max_capital_in_use_ppm.into(),
        10_000,
        1_000_000,
        "max_capital_in_use",
    );
    within(
        s.daily_loss_limit_ppm.into(),
        0,
        1_000_000,
        "daily_loss_limit",
    );
    within(
        s.similar_entry_ticks.into(),
        0,
        1_000_000,
        "similar_entry_ticks",
    );

    let mut values: Vec<(&str, String)> = Strategy::keys()
        .filter(|k| !matches!(*k, "market" | "capital"))
        .map(|k| {
            let v = s.value(k).expect("a numeric key");
            assert!(v.is_finite(), "{k} = {v}");
            (k, v.to_string())
        })
        .collect();
    values.push(("capital", s.capital.to_string()));
    values.push(("market", s.market.clone()));
    assert_eq!(
        Strategy::parse(&text, &values).as_ref(),
        Ok(&s),
        "values given back as overrides: {values:?}"
    );
    let out = with_values(&text, &values).expect("with_values on a file that reads");
    let back = Strategy::parse(&out, &[])
        .unwrap_or_else(|e| panic!("with_values wrote a file that does not read ({e}):\n{out}"));
    assert_eq!(back, s, "with_values wrote:\n{out}");
}

// ---------------------------------------------------------------------------------
// rest_answer
// ---------------------------------------------------------------------------------

/// A server's side of a connection, handed out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(buf.len()).min(self.step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Our REST client's HTTP/1.1 answer reader (`net::http::read_answer`) on any bytes
/// from the server (byte 0 sets how many bytes each read gets), answers read one after
/// another as on a keep-alive connection: never a panic, the bodies together never
/// longer than the input. Then a well-formed chunked answer built from the input (its
/// chunk sizes from the input too, hex in either case, some with extensions) and one
/// with `Content-Length` after it on the same connection must give back exactly the
/// input as their bodies.
pub fn rest_answer(data: &[u8]) {
    use minerva::net::http::read_answer;
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let step = [1, 2, 3, 7, 64, 1024, 8192, usize::MAX][(ctl & 7) as usize];
    let mut conn = Trickle { data: rest, step };
    let mut inbuf = Vec::new();
    let mut bodies = 0usize;
    for _ in 0..16 {
        match read_answer(&mut conn, &mut inbuf, "fuzz") {
            Ok((r, keep)) => {
                bodies += r.body.len();
                assert!(
                    bodies <= rest.len(),
                    "{bodies} body bytes from {}",
                    rest.len()
                );
                let _ = r.header("content-type");
                if !keep {
                    break;
                }
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }

    let mut wire: Vec<u8> = Vec::with_capacity(rest.len() * 2 + 128);
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
    wire.extend_from_slice(if ctl & 8 == 0 {
        b"Transfer-Encoding: chunked\r\n\r\n"
    } else {
        b"transfer-encoding: Chunked\r\n\r\n"
    });
    let mut at = 0;
    let mut k = 0usize;
    while at < rest.len() {
        // Chunk sizes from the data itself: 1 to 256 bytes.
        let size = (1 + rest[(at + k) % rest.len()] as usize).min(rest.len() - at);
        k += 1;
        let hex = if ctl & 16 == 0 {
            format!("{size:x}")
        } else {
            format!("{size:X}")
        };
        wire.extend_from_slice(hex.as_bytes());
        if ctl & 32 != 0 && k & 1 == 0 {
            wire.extend_from_slice(b";name=value");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&rest[at..at + size]);
        wire.extend_from_slice(b"\r\n");
        at += size;
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut conn = Trickle { data: &wire, step };
    let mut inbuf = Vec::new();
    let (r, _) = read_answer(&mut conn, &mut inbuf, "fuzz").expect("a well-formed chunked answer");
    assert_eq!(r.status, 200);
    assert!(r.body == rest, "chunked body differs from the data");

    let mut wire =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len()).into_bytes();
    wire.extend_from_slice(rest);
    wire.extend_from_slice(b"HTTP/1.0 404 Not Found\r\ncontent-length: 2\r\n\r\n{}");
    let mut conn = Trickle { data: &wire, step };
    let mut inbuf = Vec::new();
    let (r, keep) = read_answer(&mut conn, &mut inbuf, "fuzz").expect("a sized answer");
    assert!(
        keep && r.status == 200 && r.body == rest,
        "sized body differs"
    );
    let (r, _) = read_answer(&mut conn, &mut inbuf, "fuzz").expect("the next answer");
    assert!(r.status == 404 && r.body == b"{}", "the next answer");
}

// ---------------------------------------------------------------------------------
// order_answer
// ---------------------------------------------------------------------------------

/// `v` written (sonic-rs, as the local exchange answers) and read again is `v`; the text.
fn serde_round_trip<T>(v: &T, what: &str) -> String
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = sonic_rs::to_string(v).unwrap_or_else(|e| panic!("{what} does not write: {e}"));
    let back: T = sonic_rs::from_str(&text)
        .unwrap_or_else(|e| panic!("{what} written as {text:?} does not read: {e}"));
    assert_eq!(&back, v, "{what} written as {text:?} reads back different");
    text
}

/// What the link reads of a spot order answer (`OrderState`) agrees with the answer.
fn check_spot_state(
    o: &minerva::venues::binance::orders::SpotOrder,
    s: &minerva::venues::binance::orders::OrderState,
) {
    assert_eq!(s.client_order_id, o.client_order_id);
    assert_eq!(s.status.as_deref(), Some(o.status.as_str()));
    assert_eq!(s.executed_qty.as_deref(), Some(o.executed_qty.as_str()));
    assert_eq!(s.quote_filled(), Some(o.cummulative_quote_qty.as_str()));
    assert_eq!(s.symbol.as_deref(), Some(o.symbol.as_str()));
}

/// The readers of Binance order answers (`venues::binance::orders`), on any bytes:
///
/// * the whole input as each typed answer (`SpotOrder`, `FuturesOrder`, `OcoAnswer`,
///   `ErrorBody`): one that reads, written back, reads again the same; what the live
///   link reads of it (`OrderState`, `OcoState`) from our written text agrees with it
///   field by field, and from the input too whenever both read. `OrderState`,
///   `Vec<OrderState>` (cancel-all), `PositionState`, `Status` never panic (a status
///   read names itself back).
/// * each line as a 200 answer to a command (its first byte picks: placing `mnv1e`
///   (buy 1000 lots), cancelling it, an OCO list (`mnv1t`/`mnv1s`, sell 500 lots), or
///   cancelling its take profit) through the link's own answer handling
///   (`link::replay_answers`, fills settled at once): reports only name orders the link
///   follows; fills are positive, never beyond the quantity (unless they leave 0),
///   leaves are what is left; at most one end (cancelled, expired, rejected) and one
///   acceptance per order.
/// - Leverage brackets (`brackets::read`): the leverage chosen is within 1..=max, and
///   what reads writes back.
pub fn order_answer(data: &[u8]) {
    use minerva::core::{
        ClientId, Lots, NewOrder, OcoOrder, OrderCmd, OrderKind, OrderSide, Report, Ticks,
    };
    use minerva::venues::binance::errors::ErrorBody;
    use minerva::venues::binance::link::replay_answers;
    use minerva::venues::binance::orders::{
        FuturesOrder, OcoAnswer, OcoState, OrderState, PositionState, SpotOrder, Status,
    };

    // Leverage brackets (the live link reads them at start): never a panic, any
    // answer's choice within 1..=max, and what reads writes back the same.
    if let Ok(list) = minerva::venues::binance::brackets::read(data) {
        for b in &list {
            for max in [1, 20, 125] {
                let l = minerva::venues::binance::brackets::choose_leverage(&b.brackets, max, 1e4);
                assert!((1..=max).contains(&l), "{l} of {max}");
            }
        }
        // Numbers past f64 read as infinities, which JSON cannot write back.
        if let Ok(text) = sonic_rs::to_string(&list) {
            let again =
                minerva::venues::binance::brackets::read(text.as_bytes()).expect("read back");
            assert_eq!(again.len(), list.len());
        }
    }
    let state = sonic_rs::from_slice::<OrderState>(data).ok();
    if let Some(s) = &state {
        let _ = (s.order_id(), s.quote_filled());
    }
    if let Ok(o) = sonic_rs::from_slice::<SpotOrder>(data) {
        let text = serde_round_trip(&o, "a spot order");
        let s: OrderState = sonic_rs::from_str(&text).expect("the link reads a spot order");
        check_spot_state(&o, &s);
        assert_eq!(s.order_id(), o.client_order_id);
        if let Some(s) = &state {
            check_spot_state(&o, s);
        }
    }
    if let Ok(o) = sonic_rs::from_slice::<FuturesOrder>(data) {
        let text = serde_round_trip(&o, "a futures order");
        let s: OrderState = sonic_rs::from_str(&text).expect("the link reads a futures order");
        for s in [Some(&s), state.as_ref()].into_iter().flatten() {
            assert_eq!(s.client_order_id, o.client_order_id);
            assert_eq!(s.status.as_deref(), Some(o.status.as_str()));
            assert_eq!(s.executed_qty.as_deref(), Some(o.executed_qty.as_str()));
            assert_eq!(s.symbol.as_deref(), Some(o.symbol.as_str()));
            assert_eq!(s.cum_quote.as_deref(), o.cum_quote.as_deref());
            assert_eq!(s.avg_price.as_deref(), Some(o.avg_price.as_str()));
        }
        // A COIN-M answer has `cumBase` and no quote value.
        assert_eq!(s.quote_filled(), o.cum_quote.as_deref());
    }
    if let Ok(a) = sonic_rs::from_slice::<OcoAnswer>(data) {
        let text = serde_round_trip(&a, "an OCO answer");
        let s: OcoState = sonic_rs::from_str(&text).expect("the link reads an OCO answer");
        let from_input = sonic_rs::from_slice::<OcoState>(data).ok();
        for s in [Some(&s), from_input.as_ref()].into_iter().flatten() {
            assert_eq!(s.order_reports.len(), a.order_reports.len());
            for (o, st) in a.order_reports.iter().zip(&s.order_reports) {
                check_spot_state(o, st);
            }
        }
    }
    if let Some(e) = ErrorBody::read(data) {
        serde_round_trip(&e, "an error answer");
    }
    if let Ok(list) = sonic_rs::from_slice::<Vec<OrderState>>(data) {
        for o in &list {
            let _ = (o.order_id(), o.quote_filled());
        }
    }
    let _ = sonic_rs::from_slice::<PositionState>(data);
    if let Some(st) = Status::parse(&String::from_utf8_lossy(data)) {
        assert_eq!(Status::parse(st.name()), Some(st));
    }

    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").expect("spec");
    let id = |s: &str| ClientId::from(s).expect("id");
    let new = OrderCmd::New(NewOrder {
        id: id("mnv1e"),
        side: OrderSide::Buy,
        kind: OrderKind::LimitGtc,
        price: Ticks(6_000_000),
        qty: Lots(1_000),
        reduce_only: false,
    });
    let oco = OrderCmd::Oco(OcoOrder {
        list_id: id("mnv1x"),
        take_profit_id: id("mnv1t"),
        stop_id: id("mnv1s"),
        side: OrderSide::Sell,
        qty: Lots(500),
        take_profit: Ticks(6_100_000),
        stop: Ticks(5_900_000),
    });
    let cmds = [
        new,
        OrderCmd::Cancel(id("mnv1e")),
        oco,
        OrderCmd::Cancel(id("mnv1t")),
    ];
    let answers: Vec<(OrderCmd, &[u8])> = data
        .split(|&b| b == b'\n')
        .take(64)
        .filter_map(|l| l.split_first())
        .map(|(&c, body)| (cmds[(c % 4) as usize], body))
        .collect();
    let (out, _) = replay_answers(&spec, &answers);
    for (name, qty) in [("mnv1e", 1_000i64), ("mnv1t", 500), ("mnv1s", 500)] {
        let (mut filled, mut ends, mut accepted) = (0i64, 0, 0);
        for e in out.iter().filter(|e| e.client_id.as_str() == name) {
            match e.report {
                Report::Filled { qty: q, leaves, .. } => {
                    assert!(q.0 > 0, "{name}: a fill of {q:?}");
                    filled += q.0;
                    assert!(filled <= qty || leaves.0 == 0, "{name}: {filled} of {qty}");
                    assert_eq!(leaves.0, (qty - filled).max(0), "{name}: leaves");
                }
                Report::Canceled | Report::Expired | Report::Rejected(_) => ends += 1,
                Report::Accepted => accepted += 1,
                Report::Liquidated { .. } | Report::Funding { .. } => {
                    panic!("{name}: {:?} from an order answer", e.report)
                }
            }
        }
        assert!(ends <= 1, "{name}: {ends} ends");
        assert!(accepted <= 1, "{name}: accepted {accepted} times");
    }
    for e in &out {
        assert!(
            ["mnv1e", "mnv1t", "mnv1s"].contains(&e.client_id.as_str()),
            "a report for {:?}",
            e.client_id
        );
    }
}

// ---------------------------------------------------------------------------------
// user_event
// ---------------------------------------------------------------------------------

/// The user data stream's event reader (`venues::binance::user::read`) on any bytes:
/// an event read, written (`user::write`), reads back equal; wrapped for a combined
/// session (`user::wrap`) under the key `k` and under a key taken from the input, it
/// is JSON whose `stream` is the key and whose `data` reads back equal. A listen key
/// expiry is recognised alone (`is_listen_key_expired`) exactly when it reads as one.
/// An event refused as not followed names a type other than the five followed.
pub fn user_event(data: &[u8]) {
    use minerva::venues::binance::user::{self, EventError, UserEvent};
    use sonic_rs::JsonValueTrait;
    const FOLLOWED: [&str; 5] = [
        "executionReport",
        "ORDER_TRADE_UPDATE",
        "ACCOUNT_UPDATE",
        "outboundAccountPosition",
        "listenKeyExpired",
    ];
    match user::read(data) {
        Ok(e) => {
            let expired = matches!(e, UserEvent::ListenKeyExpired(_));
            assert_eq!(
                user::is_listen_key_expired(data),
                expired,
                "expiry seen alone"
            );
            let w = user::write(&e);
            assert!(!w.is_empty(), "{e:?} does not write");
            assert_eq!(user::read(w.as_bytes()).as_ref(), Ok(&e), "written as {w}");
            assert_eq!(user::is_listen_key_expired(w.as_bytes()), expired);
            let key = String::from_utf8_lossy(&data[..data.len().min(40)]);
            for key in ["k", key.as_ref()] {
                let wrapped = user::wrap(key, &w);
                let v: sonic_rs::Value = sonic_rs::from_str(&wrapped)
                    .unwrap_or_else(|err| panic!("wrapped {wrapped:?} is not JSON: {err}"));
                assert_eq!(v.get("stream").and_then(|s| s.as_str()), Some(key));
                let inner = sonic_rs::to_string(v.get("data").expect("data")).expect("data");
                assert_eq!(
                    user::read(inner.as_bytes()).as_ref(),
                    Ok(&e),
                    "data of {wrapped}"
                );
            }
        }
        Err(EventError::Other(k)) => {
            assert!(
                !FOLLOWED.contains(&k.as_str()),
                "{k} refused as not followed"
            );
            assert!(!user::is_listen_key_expired(data));
        }
        Err(e @ EventError::Malformed { .. }) => {
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------
// peaks_input
// ---------------------------------------------------------------------------------

/// Local maxima as SciPy defines them, found independently of the library: the middle
/// (rounding down) of each run of equal samples higher than both its neighbours.
fn plateau_peaks<T: Copy + PartialOrd>(y: &[T]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 1;
    while i + 1 < y.len() {
        let mut end = i;
        while end + 1 < y.len() && y[end + 1] == y[i] {
            end += 1;
        }
        if y[i - 1] < y[i] && end + 1 < y.len() && y[end + 1] < y[i] {
            out.push((i + end) / 2);
        }
        i = end + 1;
    }
    out
}

/// `minerva peaks`' input reader and the peak finder it calls, line by line on any
/// bytes (JSON request lines, read with the CLI's rules: finite numbers only). Never a
/// panic. Peaks found are strictly increasing indices inside `y`, never at an edge,
/// each a local maximum of the unfiltered search (which must equal
/// [`plateau_peaks`]); each meets `height` and `threshold` (against the samples next to
/// it), is at least `ceil(distance)` from the next, and its prominence (within `wlen`)
/// is in range. On integer-valued signals the `i64` instance (the hot path's volumes)
/// finds the same peaks as the `f64` one.
pub fn peaks_input(data: &[u8]) {
    use minerva::signal::peaks::{Interval, PeakParams, find_peaks, prominence};
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(16) {
        // The command's own reader (finite numbers only).
        let Ok(r) = minerva::signal::peak_request::parse(line) else {
            continue;
        };
        let p = r.params;
        let y = &r.y;
        let all = find_peaks(y, &PeakParams::default()).expect("no conditions");
        assert_eq!(all, plateau_peaks(y), "local maxima of {y:?}");
        let Ok(peaks) = find_peaks(y, &p) else {
            assert!(
                p.distance.is_some_and(|d| d < 1.0) || p.wlen.is_some_and(|w| w <= 1.0),
                "refused a valid request"
            );
            continue;
        };
        assert!(peaks.windows(2).all(|w| w[0] < w[1]), "peaks out of order");
        let wlen = p.wlen.map(|w| w.ceil() as usize);
        for &pk in &peaks {
            assert!(
                pk >= 1 && pk + 1 < y.len(),
                "peak {pk} of {} samples",
                y.len()
            );
            assert!(all.binary_search(&pk).is_ok(), "{pk} is no local maximum");
            if let Some(h) = &p.height {
                assert!(h.min.is_none_or(|m| m <= y[pk]) && h.max.is_none_or(|m| y[pk] <= m));
            }
            if let Some(t) = &p.threshold {
                let (l, rr) = (y[pk] - y[pk - 1], y[pk] - y[pk + 1]);
                assert!(
                    t.min.is_none_or(|m| m <= l.min(rr)) && t.max.is_none_or(|m| l.max(rr) <= m)
                );
            }
            if let Some(pr) = &p.prominence {
                let v = prominence(y, pk, wlen);
                assert!(v >= 0.0, "prominence {v}");
                assert!(pr.min.is_none_or(|m| m <= v) && pr.max.is_none_or(|m| v <= m));
            }
        }
        if let Some(d) = p.distance {
            let d = d.ceil();
            assert!(
                peaks.windows(2).all(|w| (w[1] - w[0]) as f64 >= d),
                "closer than {d}"
            );
        }

        // The same search on integers: `i64` and `f64` must agree.
        let int = |v: f64| v.round().clamp(-1e15, 1e15);
        let yf: Vec<f64> = y.iter().map(|&v| int(v)).collect();
        let yi: Vec<i64> = yf.iter().map(|&v| v as i64).collect();
        let fi = |i: &Interval<f64>| Interval {
            min: i.min.map(int),
            max: i.max.map(int),
        };
        let pf = PeakParams {
            height: p.height.as_ref().map(fi),
            threshold: p.threshold.as_ref().map(fi),
            prominence: p.prominence.as_ref().map(fi),
            ..p
        };
        let to_i = |i: Interval<f64>| Interval {
            min: i.min.map(|v| v as i64),
            max: i.max.map(|v| v as i64),
        };
        let pi = PeakParams {
            height: pf.height.map(to_i),
            threshold: pf.threshold.map(to_i),
            prominence: pf.prominence.map(to_i),
            distance: pf.distance,
            wlen: pf.wlen,
        };
        assert_eq!(
            find_peaks(&yf, &pf),
            find_peaks(&yi, &pi),
            "f64 and i64 differ"
        );
    }
}

// ---------------------------------------------------------------------------------
// kucoin_differential, kucoin_rest
// ---------------------------------------------------------------------------------

/// The KuCoin symbols the KuCoin targets know: two spot symbols of the shipped capture
/// (`kucoin-sample`: BCHSV-USDT with 11-place sizes, ANKR-BTC with a 10-place tick) and
/// a linear perpetual (whole lots), so the seeds decode all the way into events.
pub fn kucoin_specs() -> Vec<SymbolSpec> {
    [
        ("BCHSV-USDT", Market::Spot, "0.001", "0.00000000001"),
        ("ANKR-BTC", Market::Spot, "0.0000000001", "0.0001"),
        ("XBTUSDTM", Market::UsdM, "0.1", "0.001"),
    ]
    .iter()
    .map(|&(name, market, tick, lot)| {
        SymbolSpec::from_tick_lot(name, market, tick, lot).expect("fixed test spec")
    })
    .collect()
}

/// `kucoin_differential`: KuCoin's hand-written fast path against its serde reference
/// (the same properties as `decode_differential`): unless the fast path gave up, both
/// return the same result and events; the production path always equals the reference.
/// Every depth event then goes into a book of its symbol, which must not panic.
pub fn kucoin_differential(data: &[u8]) {
    let specs = kucoin_specs();
    let (auto_r, auto_ev) = differential(minerva::venues::Venue::Kucoin, &specs, data);
    if let Ok(Decoded::Events(n)) = auto_r {
        assert_eq!(n as usize, auto_ev.len(), "Events(n) counts the events");
    }
    let mut books: Vec<Book> = specs.iter().map(|s| Book::new(s, &BOOK_CFG)).collect();
    for ev in &auto_ev {
        books[ev.symbol.0 as usize].on_event(ev);
    }
}

/// `kucoin_rest`: KuCoin's REST answers read cold — a symbol list
/// (`/api/v1|v2/symbols`), a futures contract list (`/api/v1/contracts/active`) and a
/// level-2 snapshot (spot strings or futures numbers).
/// Never a panic; every usable symbol's grids format and parse back; a snapshot that
/// reads onto a grid loads into a book whose digest can be taken.
pub fn kucoin_rest(data: &[u8]) {
    use minerva::venues::kucoin::{contracts, snapshot, symbols};
    let mut specs = symbols::parse_symbols(data)
        .map(|l| l.specs)
        .unwrap_or_default();
    specs.extend(
        contracts::parse_contracts(data)
            .map(|l| l.specs)
            .unwrap_or_default(),
    );
    for spec in &specs {
        {
            let one_tick = spec.price.step();
            let text = spec.price.format(one_tick);
            assert_eq!(
                spec.price.parse(text.as_bytes()),
                Ok(one_tick),
                "{}: the tick {text} does not parse back",
                spec.name
            );
            let text = spec.qty.format(spec.qty.step());
            assert_eq!(
                spec.qty.parse(text.as_bytes()),
                Ok(spec.qty.step()),
                "{}: the lot {text} does not parse back",
                spec.name
            );
        }
    }
    if let Ok(raw) = snapshot::parse_raw_snapshot(data) {
        for spec in kucoin_specs() {
            if let Ok(snap) = raw.on_grid(&spec) {
                assert_eq!(snap.last_update_id, raw.sequence, "the sequence is kept");
                let mut book = Book::new(&spec, &BOOK_CFG);
                book.apply_snapshot(&snap);
                let _ = book.digest();
            }
        }
    }
}

/// `kucoin_venue_request`: what a KuCoin client sends the local KuCoin venue's desk —
/// each line as a `POST /api/v1/hf/orders` body and as a futures `POST /api/v1/orders`
/// body, then a cancel and a query by the id and client id it named, the lists, the
/// position, the futures account and a margin-mode change — on a spot symbol and a
/// linear contract whose books a snapshot filled.
/// Never a panic; every answer is KuCoin's JSON with a `code`, and `200000` exactly
/// when it carries `data`; an order answered `200000` can be queried by its order id
/// and its client id; the balances always read.
pub fn kucoin_venue_request(data: &[u8]) {
    use minerva::core::{Market, SymbolSpec, Venue};
    use minerva::local_exchange::kucoin::desk::{By, Desk};
    let spec = SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.00001")
        .unwrap()
        .on_venue(Venue::Kucoin);
    let contract = SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001")
        .unwrap()
        .on_venue(Venue::Kucoin);
    let mut desk = Desk::new(&[spec.clone(), contract.clone()], &Default::default());
    let snap = minerva::venues::kucoin::snapshot::parse_snapshot(
        br#"{"code":"200000","data":{"time":1,"sequence":"10","bids":[["100.0","1"],["99.9","2"]],"asks":[["100.1","1"],["100.2","3"]]}}"#,
        &spec,
    )
    .unwrap();
    desk.on_snapshot(0, &snap);
    let futures_snap = minerva::venues::kucoin::snapshot::parse_snapshot(
        br#"{"code":"200000","data":{"sequence":10,"symbol":"XBTUSDTM","bids":[[100.0,1000],[99.9,2000]],"asks":[[100.1,1000],[100.2,3000]],"ts":1}}"#,
        &contract,
    )
    .unwrap();
    desk.on_snapshot(1, &futures_snap);
    let read = |(status, body): (u16, Vec<u8>)| -> sonic_rs::Value {
        use sonic_rs::JsonValueTrait;
        let v: sonic_rs::Value = sonic_rs::from_slice(&body).expect("the desk writes JSON");
        let code = v
            .get("code")
            .and_then(|c| c.as_str())
            .expect("a code")
            .to_string();
        assert_eq!(code == "200000", v.get("data").is_some(), "{status} {v}");
        v
    };
    let text = String::from_utf8_lossy(data);
    for (n, line) in text.lines().take(32).enumerate() {
        let placed = read(desk.place(line, n as i64));
        use sonic_rs::JsonValueTrait;
        let ids = placed.get("data").map(|d| {
            (
                d.get("orderId")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                d.get("clientOid")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        });
        if let Some((id, cid)) = ids {
            let q = read(desk.query(Some("BTC-USDT"), By::Id(&id)));
            assert!(q.get("data").is_some(), "an accepted order is found: {q}");
            let q = read(desk.query(None, By::Client(&cid)));
            assert!(q.get("data").is_some(), "found by its client id: {q}");
            read(desk.cancel(Some("BTC-USDT"), By::Client(&cid), n as i64));
        }
        read(desk.cancel(None, By::Id(line), n as i64));
        read(desk.active("BTC-USDT"));
        read(desk.balances(Some(line)));
        let placed = read(desk.place_futures(line, n as i64));
        let cid = placed
            .get("data")
            .and_then(|d| d.get("clientOid"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if let Some(cid) = cid {
            let q = read(desk.futures_query(By::Client(&cid)));
            assert!(q.get("data").is_some(), "a futures order is found: {q}");
            read(desk.cancel(Some("XBTUSDTM"), By::Client(&cid), n as i64));
        }
        read(desk.futures_list(Some("XBTUSDTM"), false));
        read(desk.futures_list(None, true));
        read(desk.position("XBTUSDTM", n as i64));
        read(desk.positions(n as i64));
        read(desk.overview(Some("USDT")));
        read(desk.change_margin_mode(line));
        desk.absorb_all(n as i64);
        for (_, m) in desk.take_events() {
            let _: sonic_rs::Value = sonic_rs::from_str(&m).expect("private messages are JSON");
        }
    }
}

/// The KuCoin link's private-message reader on arbitrary messages (one per line)
/// about two orders it follows: never a panic; no order is filled beyond its size,
/// every fill is positive, and what a fill leaves is what is left of it.
pub fn kucoin_order_changes(data: &[u8]) {
    use minerva::core::{Lots, Market, Report, SymbolSpec};
    // The same messages as a spot symbol's and as a contract's (sizes in contracts).
    let specs = [
        SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.001").unwrap(),
        SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001").unwrap(),
    ];
    let messages: Vec<&[u8]> = data.split(|&b| b == b'\n').take(256).collect();
    let orders = [("mnv1e", true, Lots(1_000)), ("mnv1t", false, Lots(1_000))];
    for spec in &specs {
        let (out, _) =
            minerva::venues::kucoin::link::replay_private_messages(spec, &orders, &messages);
        for (id, _, qty) in orders {
            let mut filled = 0i64;
            for e in out.iter().filter(|e| e.client_id.as_str() == id) {
                if let Report::Filled { qty: q, leaves, .. } = e.report {
                    assert!(q.0 > 0);
                    filled += q.0;
                    assert_eq!(leaves.0, (qty.0 - filled).max(0), "{id}");
                }
            }
        }
    }
}

/// `tape_file`: a tape file's reader on arbitrary bytes (a tape is a file a user
/// hands `minerva backtest`). Never a panic; a tape it accepts reads every message
/// back, and written again it reads as the same tape (same messages, same spec).
pub fn tape_file(data: &[u8]) {
    use minerva::backtest::tape::Tape;
    use minerva::pipeline::FeedMsg;
    // Tapes are checksummed: the fuzzer finds valid ones through the seeds and by
    // fixing the checksum itself, so the bytes after the header are also tried with
    // their checksum recomputed.
    // Layout version 2: the XXH3-64 of the payload after the counts, the payload from
    // byte 192 (src/backtest/tape/file.rs).
    let mut fixed = data.to_vec();
    const SUM_AT: usize = 8 + 4 + 125 + 40;
    const PAYLOAD_AT: usize = 192;
    if fixed.len() >= PAYLOAD_AT {
        let sum = twox_hash::XxHash3_64::oneshot(&fixed[PAYLOAD_AT..]);
        fixed[SUM_AT..SUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
    }
    for bytes in [data, &fixed[..]] {
        let Ok((tape, spec)) = Tape::from_bytes(bytes, None) else {
            continue;
        };
        let mut out = FeedMsg::SnapshotEnd;
        for k in 0..tape.len() {
            tape.read(k, &mut out);
        }
        let again = tape.to_bytes(&spec);
        let (back, back_spec) =
            Tape::from_bytes(&again, Some(&spec)).expect("a tape written reads");
        assert_eq!(back_spec, spec);
        assert_eq!(back.len(), tape.len());
        assert_eq!(back.to_bytes(&spec), again, "written twice, the same bytes");
    }
}

/// A recording database in memory, for the importers' targets.
#[derive(Default)]
struct MemorySink {
    rows: Vec<minerva::store::Row>,
    began: u32,
    ended: u32,
}

impl minerva::store::Sink for MemorySink {
    fn begin_session(
        &mut self,
        _: &minerva::store::NewSession<'_>,
    ) -> Result<i64, minerva::store::StoreError> {
        self.began += 1;
        Ok(i64::from(self.began))
    }
    fn append(
        &mut self,
        rows: &[minerva::store::Row],
        _: &[minerva::store::Event],
    ) -> Result<(), minerva::store::StoreError> {
        self.rows.extend_from_slice(rows);
        Ok(())
    }
    fn end_session(&mut self, _: i64) -> Result<(), minerva::store::StoreError> {
        self.ended += 1;
        Ok(())
    }
    fn bytes(&mut self) -> u64 {
        0
    }
}

impl MemorySink {
    /// What every import must leave: one session begun and ended, every line
    /// `<ns> <JSON that parses>`.
    fn check(&self, lines: u64) {
        assert_eq!(lines as usize, self.rows.len());
        assert_eq!((self.began, self.ended), (1, 1));
        for r in &self.rows {
            let sp = r
                .line
                .iter()
                .position(|&b| b == b' ')
                .expect("`<ns> <json>`");
            assert!(r.line[..sp].iter().all(u8::is_ascii_digit));
            let json = &r.line[sp + 1..];
            assert!(
                sonic_rs::from_slice::<sonic_rs::Value>(json).is_ok(),
                "not JSON: {}",
                String::from_utf8_lossy(json)
            );
        }
    }
}

/// `tardis_csv`: the Tardis CSV importer on arbitrary bytes (files a user hands `db
/// import --from tardis`), split at the first NUL into two files. Never a panic; every
/// line it imports is `<ns> <JSON>` with JSON that parses, and the session is ended.
pub fn tardis_csv(data: &[u8]) {
    let parts: Vec<&[u8]> = data.splitn(2, |&b| b == 0).collect();
    let readers: Vec<(std::path::PathBuf, Box<dyn std::io::BufRead>)> = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            (
                std::path::PathBuf::from(format!("part{k}.csv")),
                Box::new(std::io::Cursor::new(p.to_vec())) as Box<dyn std::io::BufRead>,
            )
        })
        .collect();
    let mut sink = MemorySink::default();
    if let Ok((_, lines)) = minerva::store::tardis::import_readers(&mut sink, readers, &mut |_| {})
    {
        sink.check(lines);
    }
}

/// `archive_files`: the Binance archive and hftbacktest importers on arbitrary bytes
/// (files a user hands `db import --from binance-archive|hftbacktest`), the first byte
/// choosing the file's name (trades, aggTrades, klines, bookTicker; an .npz). Never a
/// panic; what is imported is `<ns> <JSON that parses>`, the session ended.
pub fn archive_files(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = match pick % 6 {
        0 => "BTCUSDT-trades-2024-08-08.csv",
        1 => "BTCUSDT-aggTrades-2024-08-08.csv",
        2 => "BTCUSDT-1m-2024-08-08.csv",
        3 => "BTCUSDT-bookTicker-2024-08-08.csv",
        4 => "BTCUSDT-trades-2024-08-08.zip",
        _ => "btcusdt.npz",
    };
    let dir = std::env::temp_dir().join(format!("minerva-fuzz-archive-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _scratch = Scratch(dir.clone());
    let path = dir.join(name);
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let mut sink = MemorySink::default();
    let got = if name.ends_with(".npz") {
        minerva::store::hftbacktest_npz::import(&mut sink, &[path], "BTCUSDT", "usdm")
    } else {
        minerva::store::binance_archive::import(&mut sink, &[path])
    };
    if let Ok((_, lines)) = got {
        sink.check(lines);
    }
}
