//! Reading recorded market data: hftbacktest captures (`<local_ns> <json>`, gzip or
//! plain), cryptofeed captures (`<unix s>: <json>` WebSocket logs, `<url> -> <s>: <json>`
//! REST logs) and plain JSON lines, merged across files by local receive time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// Why input could not be read.
#[derive(Debug, Error)]
pub enum InputError {
    /// The file could not be opened.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Reading failed part-way (for example a truncated gzip stream).
    #[error("{path}: read failed after {lines} lines: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Lines read before the failure.
        lines: u64,
        /// The error.
        source: io::Error,
    },
}

/// What a line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A WebSocket message (JSON at `json_start..`).
    Frame,
    /// A REST depth snapshot; `symbol` from the URL when the line names it.
    RestDepth,
    /// A REST symbol list: Binance's exchangeInfo, KuCoin's symbols or contracts.
    ExchangeInfo,
    /// A header, configuration or empty line: nothing to do.
    Ignore,
    /// Not a recognised line.
    Garbage,
}

/// One classified line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Local receive time in ns (0 when the line has none).
    pub recv_ns: u64,
    /// Classification.
    pub kind: LineKind,
    /// The JSON text.
    pub json: &'a [u8],
    /// `symbol=` of a REST URL.
    pub url_symbol: Option<&'a str>,
}

/// Seconds with an optional fraction (`1633998512.564785`) → ns.
fn seconds_to_ns(s: &[u8]) -> Option<u64> {
    let (int, frac) = match s.iter().position(|&c| c == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let secs: u64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    let mut ns: u64 = 0;
    for i in 0..9 {
        ns = ns * 10 + frac.get(i).map_or(0, |c| (c - b'0') as u64);
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// An integer timestamp of unknown unit → ns, by its number of digits
/// (19 ns, 16 µs, 13 ms, 10 s), as hftbacktest's collector writes ns or µs.
fn int_ts_to_ns(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    match s.len() {
        17..=19 => Some(v),
        14..=16 => v.checked_mul(1_000),
        11..=13 => v.checked_mul(1_000_000),
        1..=10 => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// Classifies one line (without its newline).
pub fn classify(line: &[u8]) -> Line<'_> {
    let line = trim(line);
    let none = |kind| Line {
        recv_ns: 0,
        kind,
        json: &[],
        url_symbol: None,
    };
    match line.first() {
        None => none(LineKind::Ignore),
        Some(b'{') => Line {
            recv_ns: 0,
            kind: LineKind::Frame,
            json: line,
            url_symbol: None,
        },
        Some(b'0'..=b'9') => {
            // `<ts> <json>` (hftbacktest) or `<ts>: <json>` (cryptofeed).
            let Some(sp) = line.iter().position(|&c| c == b' ') else {
                return none(LineKind::Garbage);
            };
            let (ts, json) = (&line[..sp], trim(&line[sp + 1..]));
            let recv_ns = match ts.strip_suffix(b":") {
                Some(secs) => seconds_to_ns(secs),
                None => int_ts_to_ns(ts),
            };
            match (recv_ns, json.first()) {
                (Some(recv_ns), Some(b'{')) => Line {
                    recv_ns,
                    kind: LineKind::Frame,
                    json,
                    url_symbol: None,
                },
                _ => none(LineKind::Garbage),
            }
        }
        _ => rest_line(line).unwrap_or_else(|| {
            // Headers, and what the client sent (`<url> <- <ts>: <json>`: subscriptions).
            if line.starts_with(b"configuration:")
                || find(line, b" <-> ").is_some()
                || find(line, b" <- ").is_some()
            {
                none(LineKind::Ignore)
            } else {
                none(LineKind::Garbage)
            }
        }),
    }
}

/// `<url> -> <seconds>: <json>` (cryptofeed's REST log).
fn rest_line(line: &[u8]) -> Option<Line<'_>> {
    let arrow = find(line, b" -> ")?;
    let (url, rest) = (&line[..arrow], &line[arrow + 4..]);
    let colon = find(rest, b": ")?;
    let recv_ns = seconds_to_ns(&rest[..colon])?;
    let json = trim(&rest[colon + 2..]);
    let url = std::str::from_utf8(url).ok()?;
    // Binance's exchangeInfo and depth; KuCoin's symbol and contract lists and level-2
    // snapshots (spot `/market/orderbook/level2`, futures `/level2/snapshot`).
    let kind = if url.contains("exchangeInfo")
        || url.contains("/symbols")
        || url.contains("/contracts/active")
    {
        LineKind::ExchangeInfo
    } else if url.contains("/depth")
        || url.contains("/orderbook/level2")
        || url.contains("/level2/snapshot")
    {
        LineKind::RestDepth
    } else {
        LineKind::Ignore
    };
    let url_symbol = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("symbol="));
    Some(Line {
        recv_ns,
        kind,
        json,
        url_symbol,
    })
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn trim(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let Some((c, r)) = s.split_last() {
        if c.is_ascii_whitespace() {
            s = r
        } else {
            break;
        }
    }
    while let Some((c, r)) = s.split_first() {
        if c.is_ascii_whitespace() {
            s = r
        } else {
            break;
        }
    }
    s
}

/// Counts compressed bytes read, for progress.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Lines of one file (gzip detected by magic bytes), read into a reused buffer.
pub struct LineReader {
    path: PathBuf,
    inner: Box<dyn BufRead>,
    buf: Vec<u8>,
    lines: u64,
    /// Bytes of the file consumed so far (shared with a progress display).
    pub consumed: Arc<AtomicU64>,
    /// Size of the file on disk.
    pub size: u64,
}

impl LineReader {
    /// Opens a file.
    ///
    /// # Errors
    /// [`InputError::Open`] when the file cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let open_err = |source| InputError::Open {
            path: path.to_path_buf(),
            source,
        };
        // A session of a recording database (`market.db/<session>/<name>`): its lines.
        if let Some((db, session)) = crate::store::session_path(path) {
            let reader = crate::store::SessionReader::open(&db, session)
                .map_err(|e| open_err(io::Error::other(e)))?;
            let size = match &db {
                crate::store::Target::Sqlite(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
                crate::store::Target::Postgres(_) => 0,
            };
            let consumed = Arc::new(AtomicU64::new(0));
            let counted = Counting {
                inner: reader,
                n: consumed.clone(),
            };
            return Ok(Self {
                path: path.to_path_buf(),
                inner: Box::new(BufReader::with_capacity(1 << 16, counted)),
                buf: Vec::with_capacity(1 << 16),
                lines: 0,
                consumed,
                size,
            });
        }
        let mut f = File::open(path).map_err(open_err)?;
        let size = f.metadata().map_err(open_err)?.len();
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic).map_err(open_err)?;
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = Counting {
            inner: f,
            n: consumed.clone(),
        };
        let head = io::Cursor::new(magic[..n].to_vec());
        let raw = head.chain(counted);
        let inner: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(BufReader::with_capacity(
                1 << 16,
                flate2::read::MultiGzDecoder::new(raw),
            ))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, raw))
        };
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            buf: Vec::with_capacity(1 << 16),
            lines: 0,
            consumed,
            size,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The line last returned by [`Self::next_line`].
    pub fn current(&self) -> Option<&[u8]> {
        (self.lines > 0).then_some(&self.buf[..])
    }

    /// The next line (without `\n`), or `None` at the end.
    ///
    /// # Errors
    /// [`InputError::Read`] on an I/O or decompression error.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, InputError> {
        self.buf.clear();
        match self.inner.read_until(b'\n', &mut self.buf) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.lines += 1;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                Ok(Some(&self.buf))
            }
            Err(source) => Err(InputError::Read {
                path: self.path.clone(),
                lines: self.lines,
                source,
            }),
        }
    }
}

/// The JSON of every message line of recorded files (gzip or plain, any of the formats
/// above), with its recorded receive time (ns, 0 when the format has none), in file
/// order. Cold path: for the pipeline's replay source, benches, tests and tools.
///
/// # Errors
/// [`InputError`] when a file cannot be opened or read.
pub fn recorded_frames<P: AsRef<Path>>(files: &[P]) -> Result<Vec<(Vec<u8>, u64)>, InputError> {
    let mut out = Vec::new();
    for f in files {
        let mut r = LineReader::open(f.as_ref())?;
        while let Some(line) = r.next_line()? {
            let l = classify(line);
            if l.kind == LineKind::Frame {
                out.push((l.json.to_vec(), l.recv_ns));
            }
        }
    }
    Ok(out)
}

/// A recorded message: a frame, or a REST depth snapshot a capture logged with the
/// symbol only its URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// The message.
    pub json: Vec<u8>,
    /// When it was received, ns.
    pub recv_ns: u64,
    /// A REST snapshot's symbol; `None` for a stream frame.
    pub snapshot_of: Option<String>,
}

/// Every frame and REST depth snapshot of `files`, in time order (a capture's REST log
/// is its own file: merged with the WebSocket log by receive time, a stable sort;
/// captures without one keep their order byte for byte).
///
/// # Errors
/// [`InputError`] when a file cannot be opened or read.
pub fn recorded_messages<P: AsRef<Path>>(files: &[P]) -> Result<Vec<RecordedMessage>, InputError> {
    let mut out = Vec::new();
    for f in files {
        let mut r = LineReader::open(f.as_ref())?;
        while let Some(line) = r.next_line()? {
            let l = classify(line);
            let snapshot_of = match (l.kind, l.url_symbol) {
                (LineKind::RestDepth, Some(s)) => Some(s.to_string()),
                (LineKind::Frame, _) => None,
                _ => continue,
            };
            out.push(RecordedMessage {
                json: l.json.to_vec(),
                recv_ns: l.recv_ns,
                snapshot_of,
            });
        }
    }
    if out.iter().any(|m| m.snapshot_of.is_some()) {
        out.sort_by_key(|m| m.recv_ns);
    }
    Ok(out)
}

/// [`recorded_frames`] for one symbol's pipeline: also the REST depth snapshots a
/// capture logged for `symbol`, in their place in time, so the book can sync.
///
/// # Errors
/// [`InputError`] when a file cannot be opened or read.
pub fn recorded_frames_of<P: AsRef<Path>>(
    files: &[P],
    symbol: &str,
) -> Result<Vec<(Vec<u8>, u64)>, InputError> {
    Ok(recorded_messages(files)?
        .into_iter()
        .filter(|m| {
            m.snapshot_of
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case(symbol))
        })
        .map(|m| (m.json, m.recv_ns))
        .collect())
}

/// [`recorded_frames`] without the receive times.
///
/// # Errors
/// [`InputError`] when a file cannot be opened or read.
pub fn json_lines<P: AsRef<Path>>(files: &[P]) -> Result<Vec<Vec<u8>>, InputError> {
    Ok(recorded_frames(files)?
        .into_iter()
        .map(|(j, _)| j)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_recorded_shape() {
        let l = classify(b"1723161260039716662 {\"stream\":\"x\"}");
        assert_eq!((l.kind, l.recv_ns), (LineKind::Frame, 1723161260039716662));
        let l = classify(b"1680652800004107 {\"a\":1}");
        assert_eq!(l.recv_ns, 1680652800004107000);
        let l = classify(b"1633998512.5647: {\"a\":1}");
        assert_eq!((l.kind, l.recv_ns), (LineKind::Frame, 1633998512564700000));
        let l = classify(b"https://fapi.binance.com/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000 -> 1626992741.301402: {\"lastUpdateId\":1}");
        assert_eq!(
            (l.kind, l.url_symbol),
            (LineKind::RestDepth, Some("SUSHIUSDT"))
        );
        let l = classify(b"https://api.binance.com/api/v3/exchangeInfo -> 1633998511.132921: {}");
        assert_eq!(l.kind, LineKind::ExchangeInfo);
        assert_eq!(
            classify(b"wss://stream.binance.com:9443/stream <-> 1633998511").kind,
            LineKind::Ignore
        );
        assert_eq!(classify(b"configuration: {}").kind, LineKind::Ignore);
        // KuCoin in cryptofeed's capture: the client's subscriptions, the level-2
        // snapshot and the symbol list.
        assert_eq!(
            classify(b"wss://push-private.kucoin.com/endpoint?token=TOKEN <- 1619378326.125891: {\"id\":1,\"type\":\"subscribe\"}").kind,
            LineKind::Ignore
        );
        let l = classify(b"https://api.kucoin.com/api/v3/market/orderbook/level2?symbol=ANKR-BTC -> 1619378327.295553: {\"code\":\"200000\"}");
        assert_eq!(
            (l.kind, l.url_symbol),
            (LineKind::RestDepth, Some("ANKR-BTC"))
        );
        let l = classify(
            b"https://api.kucoin.com/api/v1/symbols -> 1619378325.0931761: {\"code\":\"200000\"}",
        );
        assert_eq!(l.kind, LineKind::ExchangeInfo);
        assert_eq!(classify(b"").kind, LineKind::Ignore);
        assert_eq!(classify(b"{\"e\":1}").kind, LineKind::Frame);
        assert_eq!(classify(b"garbage here").kind, LineKind::Garbage);
        assert_eq!(classify(b"12345").kind, LineKind::Garbage);
        assert_eq!(classify(b"1.2.3: {}").kind, LineKind::Garbage);
    }
}
