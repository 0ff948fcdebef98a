//! `minerva view`: a live terminal view of running pipelines (ratatui) — the book's
//! bins with walls and voids marked, pressure, last trades, a price sparkline,
//! operations in flight with their PnL, the account, latency per stage, ring and gap
//! counters (docs/visualize.md). The seed's `--plot_data 1`.
//!
//! [`draw`] renders one [`Screen`] (tested on ratatui's test backend); [`run`] is the
//! terminal loop over one or more [`Feed`]s (the in-process board of `minerva run
//! --view`, or status sockets), with keys to switch symbol and pause.

mod terminal;

pub use terminal::{Feed, ViewError, run};

use crate::status::{BinRow, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Gauge, Paragraph, Row, Sparkline, Table};

/// What one frame shows: the feeds' latest snapshots (or why there is none), which
/// one is selected, and whether the picture is frozen.
#[derive(Debug, Clone, Default)]
pub struct Screen {
    /// Per feed: its name, its snapshot, and its state when it has none or stopped.
    pub feeds: Vec<FeedView>,
    /// The feed shown.
    pub selected: usize,
    /// In a run of several symbols, the symbol whose panels are shown (0: the first).
    pub symbol: usize,
    /// Frozen: snapshots keep arriving but the picture does not change.
    pub paused: bool,
}

/// One feed as the screen shows it.
#[derive(Debug, Clone, Default)]
pub struct FeedView {
    /// Its name (the socket's path, or `this run`).
    pub name: String,
    /// Its latest snapshot.
    pub status: Option<std::sync::Arc<Status>>,
    /// `None` while it runs; why it stopped otherwise (`run ended`, an error).
    pub ended: Option<String>,
}

/// Renders `screen` into `f`.
pub fn draw(f: &mut Frame<'_>, screen: &Screen) {
    let area = f.area();
    let feed = screen.feeds.get(screen.selected);
    // A run of several symbols adds its table of symbols (up to 8 rows shown).
    let table = feed
        .and_then(|f| f.status.as_deref())
        .map_or(0, |s| match s.symbols.len() {
            0 => 0,
            n => n.min(8) as u16 + 3,
        });
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(16),
            Constraint::Length(table),
            Constraint::Length(9),
            Constraint::Length(1),
        ])
        .split(area);
    let rows = [rows[0], rows[1], rows[3], rows[4], rows[2]];
    f.render_widget(Paragraph::new(header(screen)), rows[0]);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" quit  "),
            Span::styled("p", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" pause  "),
            Span::styled("←/→ tab", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" feed  "),
            Span::styled("↑/↓", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" symbol"),
            Span::raw(match feed.and_then(|f| f.ended.as_deref()) {
                Some(why) => format!("   ── {why}"),
                None => String::new(),
            }),
        ])),
        rows[3],
    );
    let Some(s) = feed.and_then(|f| f.status.as_deref()) else {
        let why = feed
            .and_then(|f| f.ended.clone())
            .unwrap_or_else(|| "waiting for the first snapshot…".into());
        f.render_widget(
            Paragraph::new(why).block(Block::default().borders(Borders::ALL)),
            rows[1],
        );
        return;
    };
    let shown = shown(s, screen.symbol);
    let s = &*shown;
    let mid = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(62), Constraint::Min(40)])
        .split(rows[1]);
    ladder(f, mid[0], s);
    let right = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(3),
            Constraint::Length(5),
            Constraint::Min(6),
            Constraint::Length(5),
        ])
        .split(mid[1]);
    pressure(f, right[0], s);
    sparkline(f, right[1], s);
    let lists = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(34), Constraint::Min(30)])
        .split(right[2]);
    trades(f, lists[0], s);
    operations(f, lists[1], s);
    account(f, right[3], s);
    if table > 0 {
        symbols(f, rows[4], s);
    }
    let bottom = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(rows[2]);
    latency(f, bottom[0], s);
    counters(f, bottom[1], s);
}

/// The snapshot whose panels are drawn: the run's, or in a run of several symbols
/// symbol `k`'s with the run's latency, rings and table of symbols.
fn shown(s: &Status, k: usize) -> std::borrow::Cow<'_, Status> {
    match k.checked_sub(1).and_then(|i| s.details.get(i)) {
        None => std::borrow::Cow::Borrowed(s),
        Some(d) => {
            let mut v = d.clone();
            v.latency = s.latency.clone();
            v.counters.rings = s.counters.rings.clone();
            v.counters.frames = s.counters.frames;
            v.counters.decode_errors = s.counters.decode_errors;
            v.symbols = s.symbols.clone();
            std::borrow::Cow::Owned(v)
        }
    }
}

fn header(screen: &Screen) -> Line<'static> {
    let n = screen.feeds.len();
    let feed = screen.feeds.get(screen.selected);
    let mut spans = vec![Span::styled(
        " minerva view ",
        Style::new().fg(Color::Black).bg(Color::Cyan),
    )];
    match feed.and_then(|f| f.status.as_deref()) {
        Some(s) => {
            let n = s.symbols.len();
            let k = screen.symbol.min(n.saturating_sub(1));
            let name = shown(s, screen.symbol).symbol.clone();
            spans.push(Span::raw(format!(
                " {name}{} · {} · {} · up {:.1} s · snapshot {} ",
                if n > 1 {
                    format!(" ({}/{n})", k + 1)
                } else {
                    String::new()
                },
                s.source,
                s.trading,
                s.uptime_s,
                s.seq
            )));
        }
        None => spans.push(Span::raw(format!(
            " {} ",
            feed.map_or("no feed", |f| f.name.as_str())
        ))),
    }
    if n > 1 {
        spans.push(Span::raw(format!("[{}/{}] ", screen.selected + 1, n)));
    }
    if screen.paused {
        spans.push(Span::styled(
            " PAUSED ",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

fn price(s: &Status, p: f64) -> String {
    format!("{:.*}", usize::from(s.price_decimals), p)
}

fn qty(s: &Status, q: f64) -> String {
    format!("{:.*}", usize::from(s.qty_decimals.min(8)), q)
}

/// A quantity, or a dot for none (most bins of a fine grid are empty).
fn blank_zero(s: &Status, q: f64) -> String {
    if q == 0.0 { "·".into() } else { qty(s, q) }
}

/// The book's bins, asks above (far to near), bids below (near to far), each with its
/// bar, traded volume and marks.
fn ladder(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let b = &s.bins;
    // As many bins a side as the height holds (borders, header and the touch row).
    let per_side = (area.height.saturating_sub(5) / 2).max(2) as usize;
    // The nearest bins, then (after a gap row) the marked bins beyond them, so walls
    // and voids further out stay on screen.
    let shown = |v: &[BinRow]| -> Vec<Option<BinRow>> {
        let marked = |from: usize| v.iter().skip(from).filter(|r| r.wall || r.void);
        let hidden = marked(per_side.min(v.len())).count();
        if hidden == 0 {
            return v.iter().take(per_side).cloned().map(Some).collect();
        }
        // Room for the gap row and up to half the side's rows of marked bins.
        let listed = hidden.min((per_side / 2).saturating_sub(1).max(1));
        let near = per_side.saturating_sub(listed + 1);
        let mut out: Vec<Option<BinRow>> = v[..near].iter().cloned().map(Some).collect();
        out.push(None);
        out.extend(marked(near).take(listed).cloned().map(Some));
        out
    };
    // Without the oracle's bins (a recorder has no strategy): the levels themselves.
    let by_level = b.asks.is_empty() && b.bids.is_empty();
    let levels = |v: &[(f64, f64)]| -> Vec<BinRow> {
        v.iter()
            .map(|&(price, qty)| BinRow {
                price,
                qty,
                ..BinRow::default()
            })
            .collect()
    };
    let (asks, bids) = if by_level {
        (shown(&levels(&s.book.asks)), shown(&levels(&s.book.bids)))
    } else {
        (shown(&b.asks), shown(&b.bids))
    };
    let max = asks
        .iter()
        .chain(&bids)
        .flatten()
        .map(|r| r.qty)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    const BAR: usize = 16;
    let row = |r: &Option<BinRow>, ask: bool| {
        let Some(r) = r else {
            return Row::new(["   ⋮", "", "", "", ""].map(Cell::from))
                .style(Style::new().fg(Color::DarkGray));
        };
        let n = ((r.qty / max) * BAR as f64).round() as usize;
        let colour = if ask { Color::Red } else { Color::Green };
        let mark = match (r.wall, r.void) {
            (true, _) => Span::styled(
                "WALL",
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ),
            (false, true) => Span::styled("void", Style::new().fg(Color::Magenta)),
            _ => Span::raw(""),
        };
        Row::new(vec![
            Cell::from(price(s, r.price)).style(Style::new().fg(colour)),
            Cell::from(blank_zero(s, r.qty)),
            Cell::from("█".repeat(n.min(BAR))).style(Style::new().fg(colour)),
            Cell::from(blank_zero(s, r.traded)).style(Style::new().fg(Color::DarkGray)),
            Cell::from(Line::from(mark)),
        ])
    };
    let mut rows: Vec<Row<'_>> = asks.iter().rev().map(|r| row(r, true)).collect();
    let touch = match (s.book.bids.first(), s.book.asks.first()) {
        (Some(bid), Some(ask)) => format!(
            " bid {} × {} │ ask {} × {} ",
            price(s, bid.0),
            qty(s, bid.1),
            price(s, ask.0),
            qty(s, ask.1),
        ),
        _ => " book empty ".into(),
    };
    // The touch between the sides.
    rows.push(
        Row::new(["── asks ▲", "", "", "", ""].map(Cell::from))
            .style(Style::new().fg(Color::DarkGray)),
    );
    rows.push(
        Row::new(["── bids ▼", "", "", "", ""].map(Cell::from))
            .style(Style::new().fg(Color::DarkGray)),
    );
    rows.extend(bids.iter().map(|r| row(r, false)));
    let sync = if s.book.live { "" } else { " OUT OF SYNC" };
    let title = if by_level {
        format!(" book levels{sync} ")
    } else {
        format!(
            " book bins ({} each){sync} — walls above {} / {} ",
            price(s, b.bin_size),
            qty(s, b.wall_threshold.0),
            qty(s, b.wall_threshold.1),
        )
    };
    let t = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(BAR as u16),
            Constraint::Length(10),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(vec!["price", "resting", "", "traded", ""])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(title)
            .title_bottom(touch),
    );
    f.render_widget(t, area);
}

fn pressure(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let b = &s.bins;
    let lean = match b.leaning.as_deref() {
        Some("long") => Color::Green,
        Some("short") => Color::Red,
        _ => Color::Gray,
    };
    let g = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(format!(
            " pressure: ask share {:.1} % (long ≤ {:.0} %, short ≥ {:.0} %){} ",
            b.pressure * 100.0,
            b.long_at * 100.0,
            b.short_at * 100.0,
            b.leaning
                .as_deref()
                .map_or(String::new(), |l| format!(" → {l}"))
        )))
        .gauge_style(Style::new().fg(lean))
        .ratio(b.pressure.clamp(0.0, 1.0));
    f.render_widget(g, area);
}

fn sparkline(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let (lo, hi) = s
        .prices
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let width = area.width.saturating_sub(2) as usize;
    let data: Vec<u64> = s.prices[s.prices.len().saturating_sub(width)..]
        .iter()
        .map(|p| 1 + ((p - lo) / span * 99.0) as u64)
        .collect();
    let title = match s.prices.last() {
        Some(last) => format!(
            " mid {} (range {} – {}) ",
            price(s, *last),
            price(s, lo),
            price(s, hi)
        ),
        None => " mid — ".into(),
    };
    f.render_widget(
        Sparkline::default()
            .block(Block::default().borders(Borders::ALL).title(title))
            .data(&data)
            .style(Style::new().fg(Color::Cyan)),
        area,
    );
}

fn trades(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let rows = s.trades.iter().map(|t| {
        let c = if t.buy { Color::Green } else { Color::Red };
        Row::new(vec![
            Cell::from(if t.buy { "buy" } else { "sell" }).style(Style::new().fg(c)),
            Cell::from(price(s, t.price)),
            Cell::from(qty(s, t.qty)),
        ])
    });
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(5),
                Constraint::Length(12),
                Constraint::Length(12),
            ],
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" last trades "),
        ),
        area,
    );
}

fn operations(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let rows = s.operations.iter().map(|o| {
        let c = if o.pnl >= 0.0 {
            Color::Green
        } else {
            Color::Red
        };
        Row::new(vec![
            Cell::from(format!("#{}", o.id)),
            Cell::from(o.side.clone()),
            Cell::from(o.phase.clone()),
            Cell::from(price(s, o.entry)),
            Cell::from(price(s, o.take_profit)),
            Cell::from(price(s, o.stop_loss)),
            Cell::from(qty(s, o.held)),
            Cell::from(format!("{:+.2}", o.pnl)).style(Style::new().fg(c)),
        ])
    });
    let title = match &s.last_intent {
        Some(i) => format!(
            " operations ({}) — last intent {} @ {} tp {} sl {} ",
            s.operations.len(),
            i.side,
            price(s, i.entry),
            price(s, i.take_profit),
            price(s, i.stop_loss)
        ),
        None => format!(" operations ({}) ", s.operations.len()),
    };
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(5),
                Constraint::Length(6),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(9),
                Constraint::Length(9),
            ],
        )
        .header(
            Row::new(vec![
                "id", "side", "phase", "entry", "tp", "sl", "held", "pnl",
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// A run of several symbols: a line per symbol (the panels above show the first).
fn symbols(f: &mut Frame<'_>, area: Rect, s: &Status) {
    // Each symbol has its own grid: prices as the shortest decimal that reads back.
    let px = |p: Option<f64>| p.map_or_else(|| "—".to_string(), |p| p.to_string());
    let rows =
        s.symbols.iter().map(|y| {
            let pnl = y.realised + y.unrealised;
            Row::new(vec![
                Cell::from(y.symbol.clone()),
                Cell::from(if y.live { "live" } else { "sync…" })
                    .style(Style::new().fg(if y.live { Color::Green } else { Color::Yellow })),
                Cell::from(px(y.bid)),
                Cell::from(px(y.ask)),
                Cell::from(format!("{:.2}", y.pressure)),
                Cell::from(y.evaluations.to_string()),
                Cell::from(format!("{}/{}", y.accepted, y.refused)),
                Cell::from(y.in_flight.to_string()),
                Cell::from(format!("{}", y.position)),
                Cell::from(format!("{pnl:+.2}")).style(Style::new().fg(if pnl >= 0.0 {
                    Color::Green
                } else {
                    Color::Red
                })),
                Cell::from(format!("{}/{}", y.gaps, y.resyncs)),
            ])
        });
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(14),
                Constraint::Length(6),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(5),
                Constraint::Length(12),
                Constraint::Length(10),
                Constraint::Length(8),
            ],
        )
        .header(
            Row::new(vec![
                "symbol", "book", "bid", "ask", "ask %", "evals", "acc/ref", "ops", "position",
                "pnl", "gap/rsy",
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL).title(format!(
            " symbols ({}; the panels above show {}) ",
            s.symbols.len(),
            s.symbol
        ))),
        area,
    );
}

fn account(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let a = &s.account;
    let lines = vec![
        Line::from(format!(
            "equity {:.2}  capital {:.2}  realised {:+.2}  unrealised {:+.2}  fees {:.2}",
            a.equity, a.capital, a.realised, a.unrealised, a.fees
        )),
        Line::from(format!(
            "position {}  in flight {}  accepted {}  refused {}  closed {}{}",
            qty(s, a.position),
            a.in_flight,
            a.accepted,
            a.refused,
            a.closed,
            if a.killed { "  KILL SWITCH ON" } else { "" }
        )),
        Line::from(format!("trading: {}", s.trading)),
    ];
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" account ")),
        area,
    );
}

fn ns(v: u64) -> String {
    match v {
        0..1_000 => format!("{v} ns"),
        1_000..1_000_000 => format!("{:.1} µs", v as f64 / 1e3),
        _ => format!("{:.1} ms", v as f64 / 1e6),
    }
}

fn latency(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let rows = s
        .latency
        .iter()
        .filter(|l| l.count > 0 && !l.stage.ends_with("_queue"))
        .map(|l| {
            Row::new(vec![
                l.stage.clone(),
                l.count.to_string(),
                ns(l.p50_ns),
                ns(l.p99_ns),
                ns(l.max_ns),
            ])
        });
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(17),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(9),
            ],
        )
        .header(
            Row::new(vec!["latency", "count", "p50", "p99", "max"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" latency per stage "),
        ),
        area,
    );
}

fn counters(f: &mut Frame<'_>, area: Rect, s: &Status) {
    let c = &s.counters;
    let mut lines = vec![
        Line::from(format!(
            "frames {}  decode errors {}  applied {}",
            c.frames, c.decode_errors, c.applied
        )),
        Line::from(Span::styled(
            format!(
                "gaps {}  resyncs {}  crossed {}",
                c.gaps, c.resyncs, c.crosses
            ),
            if c.gaps > 0 {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            },
        )),
        Line::from(format!(
            "evaluations {}  intents {}  orders {}  fills {}",
            c.evaluations, c.intents, c.orders, c.fills
        )),
    ];
    lines.extend(c.rings.iter().map(|r| {
        Line::from(format!(
            "ring {} {} msgs {} stalls",
            r.name, r.messages, r.stalls
        ))
    }));
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" counters ")),
        area,
    );
}

#[cfg(test)]
mod tests;
