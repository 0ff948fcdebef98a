//! Orders as the trader, the simulated exchange and every venue's link see them:
//! typed, in grid units (ticks and lots), with no venue's wire format in them. A venue
//! turns an [`OrderCmd`] into its signed request bytes (`venues::<venue>::orders`),
//! and its answers and events back into [`Execution`]s.
//!
//! All types are `Copy` and fixed-size: they cross rings on the hot path.

use super::fixed::{Lots, Ticks};
use arrayvec::ArrayString;

/// A client order id: `[.A-Za-z0-9:/_-]{1,36}`, the idempotency key every venue
/// accepts.
pub type ClientId = ArrayString<36>;

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// Order type and time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// A limit order, good till cancelled.
    LimitGtc,
    /// A limit order, immediate or cancel.
    LimitIoc,
    /// A limit order, fill or kill.
    LimitFok,
    /// A limit order refused rather than taking liquidity (post-only).
    PostOnly,
    /// A market order.
    Market,
    /// A stop that sends a market order when a trade reaches its price.
    StopMarket,
}

/// One order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    /// Its client id.
    pub id: ClientId,
    /// Buy or sell.
    pub side: OrderSide,
    /// Type and time in force.
    pub kind: OrderKind,
    /// Limit price, or a stop's trigger price (ignored for market orders).
    pub price: Ticks,
    /// Quantity.
    pub qty: Lots,
    /// Only reduces a position (futures).
    pub reduce_only: bool,
}

/// A one-cancels-the-other exit: a post-only take profit and a stop for the same
/// quantity; when one executes, the other is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcoOrder {
    /// The list's client id.
    pub list_id: ClientId,
    /// The take profit's client id.
    pub take_profit_id: ClientId,
    /// The stop's client id.
    pub stop_id: ClientId,
    /// `Sell` closes a long (take profit above, stop below); `Buy` closes a short.
    pub side: OrderSide,
    /// Quantity of both legs.
    pub qty: Lots,
    /// The take profit's limit price.
    pub take_profit: Ticks,
    /// The stop's trigger price.
    pub stop: Ticks,
}

impl OcoOrder {
    /// The two orders of the list in the order of their legs on the wire, above then
    /// below: a sell's take profit (post-only) is above and its stop below; a buy's
    /// stop is above and its take profit below.
    pub fn legs(&self) -> [NewOrder; 2] {
        let leg = |id, kind, price| NewOrder {
            id,
            side: self.side,
            kind,
            price,
            qty: self.qty,
            reduce_only: false,
        };
        let tp = leg(self.take_profit_id, OrderKind::PostOnly, self.take_profit);
        let stop = leg(self.stop_id, OrderKind::StopMarket, self.stop);
        if self.side == OrderSide::Sell {
            [tp, stop]
        } else {
            [stop, tp]
        }
    }
}

/// What the trader asks of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCmd {
    /// Place an order.
    New(NewOrder),
    /// Place a one-cancels-the-other pair.
    Oco(OcoOrder),
    /// Cancel the order with this client id.
    Cancel(ClientId),
}

impl OrderCmd {
    /// The client id a report about this command names: the order's, the list's, or
    /// the cancelled order's.
    pub fn client_id(&self) -> ClientId {
        match self {
            OrderCmd::New(o) => o.id,
            OrderCmd::Oco(o) => o.list_id,
            OrderCmd::Cancel(id) => *id,
        }
    }
}

/// A command as sent: stamped with the sender's clock, valid for `recv_window_ms`
/// (an exchange refuses it when it arrives later, as Binance's `recvWindow` and
/// KuCoin's timestamp check do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// What is asked.
    pub cmd: OrderCmd,
    /// When it was sent, exchange clock, ms.
    pub timestamp_ms: u64,
    /// How long it stays valid, ms.
    pub recv_window_ms: u32,
}

impl OrderRequest {
    /// The exchange time (ms) after which the exchange refuses it. Until then a
    /// request whose answer was lost (a 5xx, a timeout) may still reach the engine:
    /// Binance checks `recvWindow` again there (-5028), KuCoin refuses a stamp 5 s old.
    pub fn expires_ms(&self) -> i64 {
        (self.timestamp_ms as i64).saturating_add(i64::from(self.recv_window_ms))
    }
}

/// Why an exchange refused a request. Each venue maps these to its own codes and
/// messages (`venues::binance::errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The signature does not match the payload (wrong key).
    BadSignature,
    /// A parameter is missing or unreadable.
    Malformed,
    /// Not this exchange's symbol.
    WrongSymbol,
    /// Price off the tick grid or outside the price filter.
    PriceFilter,
    /// Quantity off the step, not positive, or outside the lot filter.
    LotSize,
    /// Notional under the symbol's minimum.
    MinNotional,
    /// The request arrived after its validity window (or more than 1 s ahead).
    OutsideRecvWindow,
    /// A post-only order would have taken liquidity.
    WouldTakeLiquidity,
    /// A stop that would trigger at once.
    WouldTrigger,
    /// A fill-or-kill order that could not fill whole at once (futures).
    FokUnfilled,
    /// Too many open orders.
    TooManyOrders,
    /// Cancel of an order that is not open.
    UnknownOrder,
    /// An order type or time in force this exchange does not take.
    Unsupported,
    /// A reduce-only order with nothing to reduce.
    ReduceOnly,
    /// Not enough available balance for the order's margin.
    InsufficientMargin,
    /// Refused for the request rate, not executed.
    RateLimited,
    /// The exchange could not say whether it executed the request, and a query
    /// found no such order: it was not placed.
    StatusUnknown,
}

impl Reject {
    /// Every reason, in [`Reject::index`] order.
    pub const ALL: [Reject; 17] = [
        Reject::BadSignature,
        Reject::Malformed,
        Reject::WrongSymbol,
        Reject::PriceFilter,
        Reject::LotSize,
        Reject::MinNotional,
        Reject::OutsideRecvWindow,
        Reject::WouldTakeLiquidity,
        Reject::WouldTrigger,
        Reject::FokUnfilled,
        Reject::TooManyOrders,
        Reject::UnknownOrder,
        Reject::Unsupported,
        Reject::ReduceOnly,
        Reject::InsufficientMargin,
        Reject::RateLimited,
        Reject::StatusUnknown,
    ];

    /// Position in [`Reject::ALL`] (for counting by reason).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The order rests on the book.
    Accepted,
    /// The request was refused.
    Rejected(Reject),
    /// A fill (one per level taken, or per trade that reached a resting order).
    Filled {
        /// Fill price.
        price: Ticks,
        /// Filled quantity.
        qty: Lots,
        /// Maker (resting) or taker.
        maker: bool,
        /// Commission, 10⁻⁸ quote.
        fee_e8: i64,
        /// Quantity still open after this fill (0: the order is done).
        leaves: Lots,
    },
    /// Cancelled on request.
    Canceled,
    /// Removed by the exchange: IOC/FOK/market remainder, OCO sibling executed,
    /// reduce-only with the position closed.
    Expired,
    /// The position was liquidated (client id `autoclose`).
    Liquidated {
        /// Mark price that triggered it.
        price: Ticks,
        /// Position closed, lots (negative: a short).
        qty: Lots,
        /// Isolated margin lost, 10⁻⁸ quote.
        loss_e8: i64,
    },
    /// Funding received (negative: paid) at a funding time (client id empty).
    Funding {
        /// Amount, 10⁻⁸ quote.
        amount_e8: i64,
    },
}

/// A report about one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// The order's client id.
    pub client_id: ClientId,
    /// What happened.
    pub report: Report,
    /// Exchange time it happened, µs.
    pub time_us: u64,
    /// When the report reaches the trader, µs (the simulated exchange's response
    /// latency; 0 from a live venue: it has arrived).
    pub deliver_us: u64,
}

/// Counters of an exchange end, the same for the simulated exchange and a venue's
/// live link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Requests received.
    pub requests: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Of which by reason ([`Reject::ALL`] order).
    pub rejects: [u64; Reject::ALL.len()],
    /// Fills.
    pub fills: u64,
    /// Of which as maker.
    pub maker_fills: u64,
    /// Of which as taker.
    pub taker_fills: u64,
    /// Lots filled as maker.
    pub maker_lots: i64,
    /// Lots filled as taker.
    pub taker_lots: i64,
    /// Orders cancelled on request (or at shutdown).
    pub canceled: u64,
    /// Orders expired by the exchange.
    pub expired: u64,
    /// Liquidations.
    pub liquidations: u64,
    /// Funding settlements.
    pub fundings: u64,
    /// Reports lost because nobody drained them (must stay 0).
    pub reports_lost: u64,
    /// A multiplicative digest of every request's wire bytes, in sending order: two runs that
    /// sent the same orders, cancels and lists (same prices, sizes, ids and
    /// timestamps) agree.
    pub requests_digest: u64,
}

impl ExchangeStats {
    /// Adds another exchange end's counters (a run of several symbols; the request
    /// digests are folded, in symbol order). Cold.
    pub fn add(&mut self, o: &Self) {
        self.requests += o.requests;
        self.rejected += o.rejected;
        for (a, b) in self.rejects.iter_mut().zip(o.rejects) {
            *a += b;
        }
        self.fills += o.fills;
        self.maker_fills += o.maker_fills;
        self.taker_fills += o.taker_fills;
        self.maker_lots += o.maker_lots;
        self.taker_lots += o.taker_lots;
        self.canceled += o.canceled;
        self.expired += o.expired;
        self.liquidations += o.liquidations;
        self.fundings += o.fundings;
        self.reports_lost += o.reports_lost;
        self.requests_digest = self.requests_digest.rotate_left(5) ^ o.requests_digest;
    }
}

impl ExchangeStats {
    /// Counts a report as the exchange made it.
    pub fn count(&mut self, report: &Report) {
        match *report {
            Report::Rejected(r) => {
                self.rejected += 1;
                self.rejects[r.index()] += 1;
            }
            Report::Canceled => self.canceled += 1,
            Report::Expired => self.expired += 1,
            Report::Filled { qty, maker, .. } => {
                self.fills += 1;
                if maker {
                    self.maker_fills += 1;
                    self.maker_lots = self.maker_lots.saturating_add(qty.0);
                } else {
                    self.taker_fills += 1;
                    self.taker_lots = self.taker_lots.saturating_add(qty.0);
                }
            }
            Report::Liquidated { .. } => self.liquidations += 1,
            Report::Funding { .. } => self.fundings += 1,
            Report::Accepted => {}
        }
    }

    /// Folds a request's wire bytes into [`ExchangeStats::requests_digest`].
    ///
    /// Eight bytes a step, not one: the steps are a chain of multiplies, and a
    /// byte-wise chain over a 200-byte request cost ~200 ns of the simulated exchange's
    /// `send`, inside every order's tick-to-trade. Each step is a bijection of the
    /// running value for a given word, so any one changed word changes the digest; the
    /// length is folded last, so zero bytes added at the end do too.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn digest(&mut self, kind: u64, wire: &[u8]) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let step = |h: u64, w: u64| (h ^ w).wrapping_mul(PRIME).rotate_left(31);
        let mut h = self.requests_digest ^ kind;
        let words = wire.chunks_exact(8);
        let tail = words.remainder();
        for w in words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = step(h, u64::from_le_bytes(b));
        }
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            h = step(h, u64::from_le_bytes(last));
        }
        self.requests_digest = step(h, wire.len() as u64);
    }
}

/// A client id from text, if it is one.
pub fn client_id(s: &str) -> Option<ClientId> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'));
    if ok { ClientId::from(s).ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(requests: &[(u64, &[u8])]) -> u64 {
        let mut s = ExchangeStats::default();
        for &(kind, wire) in requests {
            s.digest(kind, wire);
        }
        s.requests_digest
    }

    /// Two runs agree only if they sent the same bytes, of the same kinds, in the same
    /// order: any byte changed, a zero byte added, or two requests swapped shows.
    #[test]
    fn the_requests_digest_sees_every_byte_kind_and_order() {
        let wire: Vec<u8> = (0..203u32).map(|i| (i * 7 + 3) as u8).collect();
        let base = digest_of(&[(0, &wire)]);
        assert_eq!(base, digest_of(&[(0, &wire)]));
        let mut seen = std::collections::HashSet::new();
        for at in 0..wire.len() {
            for bit in [0x01u8, 0x80] {
                let mut w = wire.clone();
                w[at] ^= bit;
                let d = digest_of(&[(0, &w)]);
                assert_ne!(d, base, "byte {at} bit {bit:#x}");
                assert!(seen.insert(d), "byte {at} bit {bit:#x} collides");
            }
        }
        let mut longer = wire.clone();
        longer.push(0);
        assert_ne!(digest_of(&[(0, &longer)]), base);
        assert_ne!(
            digest_of(&[(0, &wire[..200])]),
            digest_of(&[(0, &wire[..201])])
        );
        assert_ne!(digest_of(&[(1, &wire)]), base);
        let (a, b): (&[u8], &[u8]) = (b"symbol=BTCUSDT&side=BUY", b"symbol=BTCUSDT&side=SELL");
        assert_ne!(digest_of(&[(0, a), (0, b)]), digest_of(&[(0, b), (0, a)]));
        assert_ne!(digest_of(&[(0, a)]), digest_of(&[(0, a), (0, b"")]));
    }

    #[test]
    fn client_ids_and_counts() {
        assert!(client_id("mnv12e").is_some());
        assert!(client_id("with space").is_none());
        assert!(client_id(&"x".repeat(37)).is_none());
        let mut s = ExchangeStats::default();
        s.count(&Report::Rejected(Reject::LotSize));
        s.count(&Report::Filled {
            price: Ticks(1),
            qty: Lots(5),
            maker: true,
            fee_e8: 0,
            leaves: Lots(0),
        });
        assert_eq!((s.rejected, s.rejects[Reject::LotSize.index()]), (1, 1));
        assert_eq!((s.fills, s.maker_lots), (1, 5));
    }
}
