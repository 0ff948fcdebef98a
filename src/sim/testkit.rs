//! Market events for unit tests of the exchange and the trader.

use crate::core::{DepthChunk, EventBody, Level, Lots, MarketEvent, SymbolId, Ticks, Trade};
use crate::venues::binance::DepthSnapshot;

fn levels(v: &[(i64, i64)]) -> Vec<Level> {
    v.iter()
        .map(|&(p, q)| Level {
            price: Ticks(p),
            qty: Lots(q),
        })
        .collect()
}

/// A REST snapshot with `lastUpdateId` 100.
pub fn snapshot(bids: &[(i64, i64)], asks: &[(i64, i64)]) -> DepthSnapshot {
    DepthSnapshot {
        last_update_id: 100,
        event_ms: None,
        bids: levels(bids),
        asks: levels(asks),
    }
}

/// An event at `t_ms`.
pub fn event(t_ms: u64, body: EventBody) -> MarketEvent {
    MarketEvent {
        recv_ns: t_ms * 1_000_000,
        event_ms: t_ms,
        symbol: SymbolId(0),
        body,
    }
}

/// A one-chunk depth update with update id `id` (spot: the first after the snapshot
/// is 101).
pub fn depth(id: u64, t_ms: u64, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> MarketEvent {
    let mut c = DepthChunk::new(id, id, None, t_ms);
    for (k, l) in levels(bids).into_iter().chain(levels(asks)).enumerate() {
        c.levels[k] = l;
    }
    c.n_bids = bids.len() as u8;
    c.n_levels = (bids.len() + asks.len()) as u8;
    c.flags |= DepthChunk::FIRST | DepthChunk::LAST;
    event(t_ms, EventBody::Depth(c))
}

/// A trade; `seller` when the aggressor sold (hit the bids).
pub fn trade(t_ms: u64, price: i64, qty: i64, seller: bool) -> MarketEvent {
    event(
        t_ms,
        EventBody::Trade(Trade {
            trade_id: t_ms,
            price: Ticks(price),
            qty: Lots(qty),
            trade_ms: t_ms,
            buyer_is_maker: seller,
        }),
    )
}
