//! Binance's public archive (data.binance.vision) in: `trades`, `aggTrades` and
//! klines of spot and futures, and futures `bookTicker`, as `.zip` (as downloaded),
//! `.csv` or `.csv.gz`, for one symbol, as one recording session of Binance-format
//! lines merged by time.
//!
//! What the archive holds decides what can run on it, stated: it has **no order book
//! diffs**, so the book-reading strategy cannot be backtested on it (`minerva
//! backtest` refuses a recording without depth, rather than trading nothing);
//! `replay`, `db export` (trades, candles, top of book) and reports of the market
//! read it. Futures `bookDepth` (depth summed by distance from the mid in percent)
//! is not a book either and is refused by name. No receive times: a message is
//! "received" at its exchange time (a kline at its close).
//!
//! The columns are the archive's published ones (github.com/binance/binance-public-
//! data): spot files have no header, futures files do; times are milliseconds, or
//! microseconds in spot files from 2025 (told apart by size). Cold path; streamed.

use super::{NewSession, Sink, StoreError};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trades,
    AggTrades,
    Klines,
    BookTicker,
}

/// One archive file, a row at a time.
struct File {
    path: PathBuf,
    kind: Kind,
    /// Kline interval (`1m`), from the file name.
    interval: String,
    lines: Box<dyn BufRead>,
    line_no: u64,
    next: Option<Vec<String>>,
    /// It began with a header (futures files do).
    header: bool,
}

fn bad(path: &Path, line: u64, why: String) -> StoreError {
    StoreError::Unsupported(format!("{}: line {line}: {why}", path.display()))
}

/// Exchange time in ms from the archive's ms or µs.
fn ms(path: &Path, line: u64, s: &str) -> Result<u64, StoreError> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| bad(path, line, format!("time `{s}` is not a number")))?;
    Ok(if v >= 100_000_000_000_000 {
        v / 1000
    } else {
        v
    })
}

fn flag(path: &Path, line: u64, s: &str) -> Result<bool, StoreError> {
    match s.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(bad(
            path,
            line,
            format!("`{other}`: expected true or false"),
        )),
    }
}

fn decimal(path: &Path, line: u64, s: &str) -> Result<String, StoreError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return Err(bad(path, line, format!("`{s}` is not a decimal")));
    }
    Ok(s.to_string())
}

fn int(path: &Path, line: u64, s: &str) -> Result<i64, StoreError> {
    s.trim()
        .parse()
        .map_err(|_| bad(path, line, format!("`{s}` is not an integer")))
}

impl File {
    fn open(path: &Path) -> Result<(Self, String), StoreError> {
        let io = |e: String| StoreError::Unsupported(format!("{}: {e}", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut raw = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(|e| io(e.to_string()))?;
        let bytes = if raw.starts_with(b"PK\x03\x04") {
            // As downloaded: a zip holding one CSV.
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(raw))
                .map_err(|e| io(format!("not a readable zip: {e}")))?;
            if z.len() != 1 {
                return Err(io(format!(
                    "{} files in the zip: the archive's hold one CSV",
                    z.len()
                )));
            }
            let mut out = Vec::new();
            z.by_index(0)
                .and_then(|mut f| f.read_to_end(&mut out).map_err(Into::into))
                .map_err(|e| io(format!("the zip's CSV: {e}")))?;
            out
        } else if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| io(format!("bad gzip: {e}")))?;
            out
        } else {
            raw
        };
        // `BTCUSDT-trades-2024-08-08.zip`, `BTCUSDT-aggTrades-…`, `BTCUSDT-1m-…`,
        // `BTCUSDT-bookTicker-…`.
        let mut parts = name.split('-');
        let symbol = parts.next().unwrap_or_default().to_string();
        let what = parts.next().unwrap_or_default().to_string();
        let mut f = Self {
            path: path.to_path_buf(),
            kind: Kind::Trades,
            interval: String::new(),
            lines: Box::new(BufReader::new(std::io::Cursor::new(bytes))),
            line_no: 0,
            next: None,
            header: false,
        };
        f.advance()?;
        let header = f.next.as_ref().is_some_and(|r| {
            r.first()
                .is_some_and(|c| c.starts_with(|ch: char| ch.is_ascii_alphabetic()))
        });
        let first = f.next.clone().unwrap_or_default();
        f.header = header;
        f.kind = if header {
            let h = first.join(",");
            let kind = match h.as_str() {
                "id,price,qty,quote_qty,time,is_buyer_maker"
                | "id,price,qty,base_qty,time,is_buyer_maker" => Kind::Trades,
                "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker" => {
                    Kind::AggTrades
                }
                "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore" => {
                    Kind::Klines
                }
                "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time" => {
                    Kind::BookTicker
                }
                "timestamp,percentage,depth,notional" => {
                    return Err(io("bookDepth is depth summed by distance from the mid, not an order book: not imported".into()));
                }
                _ => {
                    return Err(io(format!(
                        "header `{h}`: not a Binance archive trades, aggTrades, klines or bookTicker file"
                    )));
                }
            };
            f.advance()?;
            kind
        } else {
            match (what.as_str(), first.len()) {
                ("trades", 6 | 7) => Kind::Trades,
                ("aggTrades", 7 | 8) => Kind::AggTrades,
                (_, 12) if what.ends_with(['m', 'h', 'd', 'w']) || what == "1mo" => Kind::Klines,
                ("bookTicker", 7) => Kind::BookTicker,
                _ => {
                    return Err(io(format!(
                        "name `{name}` with {} columns: not a Binance archive file (SYMBOL-trades-…, SYMBOL-aggTrades-…, SYMBOL-1m-…, SYMBOL-bookTicker-…)",
                        first.len()
                    )));
                }
            }
        };
        if f.kind == Kind::Klines {
            f.interval = if what.is_empty() { "1m".into() } else { what };
        }
        Ok((f, symbol))
    }

    fn advance(&mut self) -> Result<(), StoreError> {
        loop {
            let mut s = String::new();
            let n = self
                .lines
                .read_line(&mut s)
                .map_err(|e| StoreError::Unsupported(format!("{}: {e}", self.path.display())))?;
            self.line_no += 1;
            if n == 0 {
                self.next = None;
                return Ok(());
            }
            let s = s.trim_end();
            if s.is_empty() {
                continue;
            }
            self.next = Some(s.split(',').map(str::to_string).collect());
            return Ok(());
        }
    }

    /// The next row's time (ms): what the merge orders by.
    fn time_ms(&self) -> Result<Option<u64>, StoreError> {
        let Some(r) = &self.next else { return Ok(None) };
        let col = match self.kind {
            Kind::Trades => 4,
            Kind::AggTrades => 5,
            // A kline is known at its close.
            Kind::Klines => 6,
            Kind::BookTicker => 6,
        };
        let Some(v) = r.get(col) else {
            return Err(bad(
                &self.path,
                self.line_no,
                format!("{} columns", r.len()),
            ));
        };
        ms(&self.path, self.line_no, v).map(Some)
    }

    /// The next row as a Binance stream message (a trade in spot's shape, or futures'
    /// with `X`).
    fn message(&self, symbol: &str, lower: &str, futures: bool) -> Result<String, StoreError> {
        let r = self.next.as_ref().expect("a row");
        let (p, l) = (&self.path, self.line_no);
        let want = match self.kind {
            Kind::Trades => 6,
            Kind::AggTrades => 7,
            Kind::Klines => 12,
            Kind::BookTicker => 7,
        };
        if r.len() < want {
            return Err(bad(p, l, format!("{} columns, expected {want}", r.len())));
        }
        Ok(match self.kind {
            Kind::Trades => super::made_up::trade(
                symbol,
                u64::try_from(int(p, l, &r[0])?)
                    .map_err(|_| bad(p, l, format!("trade id `{}`", r[0])))?,
                (&decimal(p, l, &r[1])?, &decimal(p, l, &r[2])?),
                ms(p, l, &r[4])?,
                flag(p, l, &r[5])?,
                futures,
            ),
            Kind::AggTrades => {
                let t = ms(p, l, &r[5])?;
                format!(
                    "{{\"stream\":\"{lower}@aggTrade\",\"data\":{{\"e\":\"aggTrade\",\"E\":{t},\"s\":\"{symbol}\",\"a\":{},\"p\":\"{}\",\"q\":\"{}\",\"f\":{},\"l\":{},\"T\":{t},\"m\":{}}}}}",
                    int(p, l, &r[0])?,
                    decimal(p, l, &r[1])?,
                    decimal(p, l, &r[2])?,
                    int(p, l, &r[3])?,
                    int(p, l, &r[4])?,
                    flag(p, l, &r[6])?
                )
            }
            Kind::Klines => {
                let (open, close) = (ms(p, l, &r[0])?, ms(p, l, &r[6])?);
                let i = &self.interval;
                format!(
                    "{{\"stream\":\"{lower}@kline_{i}\",\"data\":{{\"e\":\"kline\",\"E\":{close},\"s\":\"{symbol}\",\"k\":{{\"t\":{open},\"T\":{close},\"s\":\"{symbol}\",\"i\":\"{i}\",\"f\":-1,\"L\":-1,\"o\":\"{}\",\"c\":\"{}\",\"h\":\"{}\",\"l\":\"{}\",\"v\":\"{}\",\"n\":{},\"x\":true,\"q\":\"{}\",\"V\":\"{}\",\"Q\":\"{}\",\"B\":\"0\"}}}}}}",
                    decimal(p, l, &r[1])?,
                    decimal(p, l, &r[4])?,
                    decimal(p, l, &r[2])?,
                    decimal(p, l, &r[3])?,
                    decimal(p, l, &r[5])?,
                    int(p, l, &r[8])?,
                    decimal(p, l, &r[7])?,
                    decimal(p, l, &r[9])?,
                    decimal(p, l, &r[10])?
                )
            }
            Kind::BookTicker => super::made_up::book_ticker(
                symbol,
                int(p, l, &r[0])?.max(0) as u64,
                (&decimal(p, l, &r[1])?, &decimal(p, l, &r[2])?),
                (&decimal(p, l, &r[3])?, &decimal(p, l, &r[4])?),
                (ms(p, l, &r[5])?, ms(p, l, &r[6])?),
                true,
            ),
        })
    }
}

/// The market a symbol's archive files are from: COIN-M symbols carry an underscore
/// (`BTCUSD_PERP`), futures files a header, spot files none.
fn market_of(symbol: &str, header: bool) -> &'static str {
    if symbol.contains('_') {
        "coinm"
    } else if header {
        "usdm"
    } else {
        "spot"
    }
}

/// Imports Binance archive `files` (one symbol) into `sink` as one session; returns
/// (session, lines).
///
/// # Errors
/// [`StoreError`]: an unreadable file or zip, a file that is not one of the archive's
/// kinds (`bookDepth` named), several symbols, a malformed row (file and line).
pub fn import(sink: &mut dyn Sink, files: &[PathBuf]) -> Result<(i64, u64), StoreError> {
    let mut inputs = Vec::new();
    let mut symbol: Option<String> = None;
    let mut header = false;
    for f in files {
        let (file, sym) = File::open(f)?;
        let valid = !sym.is_empty()
            && sym
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(StoreError::Unsupported(format!(
                "{}: the file name does not start with a Binance symbol (BTCUSDT-trades-2024-08-08.zip)",
                f.display()
            )));
        }
        match &symbol {
            None => symbol = Some(sym),
            Some(s) if *s == sym => {}
            Some(s) => {
                return Err(StoreError::Unsupported(format!(
                    "{}: {sym} while other files hold {s}: import one symbol at a time",
                    f.display()
                )));
            }
        }
        // Futures files start with a header; only futures have a bookTicker file.
        header |= file.header || file.kind == Kind::BookTicker;
        inputs.push(file);
    }
    let Some(symbol) = symbol else {
        return Err(StoreError::Unsupported("no files".into()));
    };
    let market = market_of(&symbol, header);
    let lower = symbol.to_ascii_lowercase();
    let source = format!("binance-archive:{market}:{symbol}");
    let mut out = super::made_up::Session::begin(
        sink,
        &NewSession {
            source: &source,
            symbol: &symbol,
            market,
            exchange_info: None,
        },
    )?;
    loop {
        let mut pick: Option<(usize, u64)> = None;
        for (k, f) in inputs.iter().enumerate() {
            if let Some(t) = f.time_ms()? {
                if pick.is_none_or(|(_, best)| t < best) {
                    pick = Some((k, t));
                }
            }
        }
        let Some((k, t)) = pick else { break };
        let f = &mut inputs[k];
        let line = f.message(&symbol, &lower, market != "spot")?;
        f.advance()?;
        out.push(t.saturating_mul(1_000_000), &line)?;
    }
    out.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_ms_or_us_and_markets_from_names() {
        let p = Path::new("x");
        assert_eq!(ms(p, 1, "1723161254206").unwrap(), 1_723_161_254_206);
        assert_eq!(ms(p, 1, "1735689600123456").unwrap(), 1_735_689_600_123);
        assert_eq!(market_of("BTCUSD_PERP", true), "coinm");
        assert_eq!(market_of("BTCUSDT", true), "usdm");
        assert_eq!(market_of("BTCUSDT", false), "spot");
        assert!(flag(p, 1, "True").unwrap());
        assert!(flag(p, 1, "maybe").is_err());
    }
}
