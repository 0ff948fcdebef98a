//! The local KuCoin venue's unified-account public feed (protocol notes §5), as
//! `wss://x-push-spot.kucoin.com` serves it, on this server's `/`: no token; a welcome;
//! one `{"action":"SUBSCRIBE","channel","tradeType","symbol"}` per channel and symbol,
//! answered `{"id","result":true}` (or `false` with a `reason`); pings answered;
//! every server frame a binary frame holding JSON.
//!
//! * `obu` at depth `increment@10ms`: on subscribe, a snapshot of the top 500 levels
//!   a side; then every 10 ms of the recording, the levels of the top 500 that changed
//!   (a level that left it at size 0), over sequences `O..C` — computed from the
//!   venue's own book, which applies the recorded classic updates;
//! * `trade`: each recorded match as a `trade.SPOT` push.
//!
//! The snapshot a subscriber gets is the book as last published (not as it stands
//! between two publications), so the next delta continues it exactly.

use super::Shared;
use crate::book::Book;
use crate::core::{Level, SymbolSpec, Trade};
use crate::venues::kucoin::endpoints::{OBU_CHANNEL, OBU_DEPTH, OBU_LEVELS, TRADE_CHANNEL};
use sonic_rs::json;
use std::cmp::Ordering as Cmp;

/// The aggregation window of `increment@10ms`, in recorded time.
const WINDOW_NS: u64 = 10_000_000;
/// Topics one session may hold (the probe's 600).
pub const MAX_TOPICS: usize = 600;
/// Client messages allowed per 10 s (the probe's 300).
pub const MAX_INBOUND: u32 = 300;

/// One symbol's book as last published on `obu`.
#[derive(Debug, Default, Clone)]
struct Published {
    /// `C` of the last publication.
    seq: u64,
    /// The top levels, best first.
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// Changed since.
    dirty: bool,
}

/// The `obu` and `trade` publications of every symbol.
#[derive(Debug, Default)]
pub(super) struct Feed {
    books: Vec<Published>,
    /// The recorded time of the message being applied (ns; 0 when the recording has
    /// none).
    now: u64,
    /// The end of the open window (recorded ns): `Some` from the first change after a
    /// publication.
    window_end: Option<u64>,
    /// Trades since the last flush: (symbol index, trade).
    trades: Vec<(usize, Trade)>,
}

/// The internal topic of a channel and symbol (the fan-out's key).
pub(super) fn topic(channel: &str, symbol: &str) -> String {
    format!("uta/{channel}/{symbol}")
}

fn top(book: &Book, bids: bool) -> Vec<Level> {
    let mut v = Vec::with_capacity(OBU_LEVELS);
    let mut take = |l: Level| {
        v.push(l);
        v.len() < OBU_LEVELS
    };
    if bids {
        book.for_each_bid(&mut take);
    } else {
        book.for_each_ask(&mut take);
    }
    v
}

/// The levels of `new` that differ from `old` (absent: size 0), both best first;
/// `better` orders prices best first.
fn diff(old: &[Level], new: &[Level], better: impl Fn(i64, i64) -> Cmp) -> Vec<Level> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        let ord = match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) => better(o.price.0, n.price.0),
            (Some(_), None) => Cmp::Less,
            _ => Cmp::Greater,
        };
        match ord {
            Cmp::Less => {
                out.push(Level {
                    price: old[i].price,
                    qty: crate::core::Lots(0),
                });
                i += 1;
            }
            Cmp::Greater => {
                out.push(new[j]);
                j += 1;
            }
            Cmp::Equal => {
                if old[i].qty != new[j].qty {
                    out.push(new[j]);
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn levels(spec: &SymbolSpec, v: &[Level]) -> Vec<[String; 2]> {
    v.iter()
        .map(|l| [spec.price.format(l.price), spec.qty.format(l.qty)])
        .collect()
}

fn push_frame(v: &sonic_rs::Value) -> String {
    sonic_rs::to_string(v).unwrap_or_default()
}

impl Feed {
    /// The books as they stand (after the warm-up) become the published state.
    pub fn new(books: &[Book]) -> Self {
        Self {
            books: books
                .iter()
                .map(|b| Published {
                    seq: b.update_id(),
                    bids: top(b, true),
                    asks: top(b, false),
                    dirty: false,
                })
                .collect(),
            now: 0,
            window_end: None,
            trades: Vec::new(),
        }
    }

    /// The message about to be applied was recorded at `recv_ns`.
    pub fn at(&mut self, recv_ns: u64) {
        self.now = recv_ns;
    }

    /// A depth event was applied to book `k`: a window opens if none is.
    pub fn on_depth(&mut self, k: usize) {
        if let Some(p) = self.books.get_mut(k) {
            p.dirty = true;
            if self.window_end.is_none() {
                self.window_end = Some(self.now.saturating_add(WINDOW_NS));
            }
        }
    }

    /// A trade of book `k`.
    pub fn on_trade(&mut self, k: usize, t: Trade) {
        self.trades.push((k, t));
    }

    /// When the deltas are due, if before a message recorded at `recv_ns`: the end of
    /// the open window (the replay waits until then and publishes). A recording
    /// without times has its deltas published after every message.
    pub fn due(&self, recv_ns: u64) -> Option<u64> {
        let end = self.window_end?;
        (recv_ns == 0 || recv_ns >= end).then_some(end)
    }

    /// The trades since the last call, as `trade.SPOT` pushes: (topic, frame).
    pub fn take_trades(&mut self, specs: &[SymbolSpec], now_ns: u64) -> Vec<(String, String)> {
        self.trades
            .drain(..)
            .map(|(k, t)| {
                let spec = &specs[k];
                let side = if t.buyer_is_maker { "sell" } else { "buy" };
                let frame = json!({"T": "trade.SPOT", "P": now_ns, "d": {
                    "E": t.trade_id, "M": t.trade_ms.saturating_mul(1_000_000), "S": side,
                    "p": spec.price.format(t.price), "q": spec.qty.format(t.qty),
                    "s": spec.name.as_str(), "ti": t.trade_id.to_string()}});
                (topic(TRADE_CHANNEL, &spec.name), push_frame(&frame))
            })
            .collect()
    }

    /// The deltas of the books changed since the last publication: (topic, frame).
    pub fn take_deltas(
        &mut self,
        books: &[Book],
        now_ms: u64,
        now_ns: u64,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (p, book) in self.books.iter_mut().zip(books) {
            if !p.dirty {
                continue;
            }
            p.dirty = false;
            let seq = book.update_id();
            if seq <= p.seq {
                continue;
            }
            let (bids, asks) = (top(book, true), top(book, false));
            let b = diff(&p.bids, &bids, |x, y| y.cmp(&x));
            let a = diff(&p.asks, &asks, |x, y| x.cmp(&y));
            let spec = book.spec();
            let frame = json!({"T": "obu.SPOT", "dp": OBU_DEPTH, "t": "delta", "P": now_ns,
                "d": {"O": p.seq + 1, "C": seq, "M": now_ms.saturating_mul(1_000_000),
                "s": spec.name.as_str(), "b": levels(spec, &b), "a": levels(spec, &a)}});
            out.push((topic(OBU_CHANNEL, &spec.name), push_frame(&frame)));
            *p = Published {
                seq,
                bids,
                asks,
                dirty: false,
            };
        }
        out
    }

    /// Book `k` as last published: the snapshot a new subscriber starts from.
    pub fn snapshot(&self, k: usize, spec: &SymbolSpec, now_ms: u64, now_ns: u64) -> String {
        let p = &self.books[k];
        push_frame(
            &json!({"T": "obu.SPOT", "dp": OBU_DEPTH, "t": "snapshot", "P": now_ns,
            "d": {"O": p.seq, "C": p.seq, "M": now_ms.saturating_mul(1_000_000),
            "s": spec.name.as_str(), "b": levels(spec, &p.bids), "a": levels(spec, &p.asks)}}),
        )
    }
}

#[derive(serde::Deserialize)]
struct Request {
    #[serde(default)]
    id: Option<sonic_rs::Value>,
    #[serde(rename = "type", default)]
    typ: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    channel: String,
    #[serde(rename = "tradeType", default)]
    trade_type: String,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    symbols: Option<sonic_rs::Value>,
    #[serde(default)]
    depth: Option<String>,
}

fn answer(id: &str, ok: bool, message: &str) -> String {
    if ok {
        push_frame(&json!({"id": id, "result": true}))
    } else {
        push_frame(&json!({"id": id, "result": false, "reason": message}))
    }
}

/// The welcome a session opens with.
pub(super) fn welcome(connect_id: &str) -> String {
    push_frame(
        &json!({"id": connect_id, "type": "welcome", "message": "welcome",
        "pingInterval": super::PING_INTERVAL_MS, "pingTimeout": super::PING_TIMEOUT_MS}),
    )
}

/// A client message answered: a pong; a subscription's result, then (for `obu`) the
/// book's snapshot. Nothing for a frame that asks nothing.
pub(super) fn control(shared: &Shared, session: u64, text: &str) -> Vec<String> {
    use sonic_rs::JsonValueTrait;
    let Ok(req) = sonic_rs::from_str::<Request>(text) else {
        return vec![answer("", false, "the message is not a KuCoin request")];
    };
    let id = match &req.id {
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        None => String::new(),
    };
    if req.typ == "ping" {
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        return vec![push_frame(
            &json!({"id": id, "type": "pong", "timestamp": us}),
        )];
    }
    let adding = match req.action.to_ascii_uppercase().as_str() {
        "SUBSCRIBE" => true,
        "UNSUBSCRIBE" => false,
        _ => return vec![answer(&id, false, "unknown action")],
    };
    if req.symbols.is_some() {
        return vec![answer(&id, false, "one symbol per subscription")];
    }
    let Some(symbol) = req.symbol.as_deref() else {
        return vec![answer(&id, false, "symbol is required")];
    };
    if req.trade_type != "SPOT" {
        return vec![answer(
            &id,
            false,
            "the local KuCoin venue serves spot (tradeType SPOT)",
        )];
    }
    let book = match req.channel.as_str() {
        c if c == OBU_CHANNEL => true,
        c if c == TRADE_CHANNEL => false,
        _ => return vec![answer(&id, false, "channel not served (obu, trade)")],
    };
    if book && adding && req.depth.as_deref() != Some(OBU_DEPTH) {
        return vec![answer(
            &id,
            false,
            "depth not served by the local venue (increment@10ms)",
        )];
    }
    let Some(k) = shared.specs.iter().position(|s| s.name.as_str() == symbol) else {
        return vec![answer(&id, false, "symbol not served")];
    };
    let name = topic(&req.channel, symbol);
    // Under the venue's lock: the snapshot and the subscription go together, so the
    // first delta the session gets continues the snapshot (or is older: dropped).
    let st = super::lock(&shared.state);
    let over = shared.fanout.update(session, |streams, _| {
        if !adding {
            streams.retain(|s| *s != name);
            return false;
        }
        if !streams.contains(&name) {
            streams.push(name.clone());
        }
        streams.len() > MAX_TOPICS
    });
    if over == Some(true) {
        shared
            .fanout
            .update(session, |streams, _| streams.retain(|s| *s != name));
        return vec![answer(
            &id,
            false,
            "too many topics on this connection (600)",
        )];
    }
    let mut out = vec![answer(&id, true, "")];
    if adding {
        shared.gate.subscribed();
        if book {
            let now_ns = super::rest::wall_ms().saturating_mul(1_000_000);
            out.push(st.uta.snapshot(k, &shared.specs[k], st.now_ms, now_ns));
            shared.gate.snapshot_taken();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Lots, Ticks};

    fn l(p: i64, q: i64) -> Level {
        Level {
            price: Ticks(p),
            qty: Lots(q),
        }
    }

    #[test]
    fn a_delta_names_each_changed_level_and_each_that_left() {
        let old = [l(10, 1), l(9, 2), l(7, 3)];
        let new = [l(11, 5), l(10, 1), l(9, 4), l(8, 1)];
        // Bids, best (highest) first.
        let d = diff(&old, &new, |x, y| y.cmp(&x));
        assert_eq!(d, vec![l(11, 5), l(9, 4), l(8, 1), l(7, 0)]);
        assert!(diff(&new, &new, |x, y| y.cmp(&x)).is_empty());
        // Asks, best (lowest) first.
        let d = diff(&[l(1, 1), l(3, 1)], &[l(2, 2), l(3, 1)], |x, y| x.cmp(&y));
        assert_eq!(d, vec![l(1, 0), l(2, 2)]);
    }
}
