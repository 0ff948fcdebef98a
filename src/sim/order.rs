//! An order as the matching engine holds it, and the symbol's filters every new order
//! passes first (lot step and bounds, tick and price bounds, minimum notional).

use crate::core::{
    ClientId, Lots, NewOrder, OrderKind, OrderSide, Reject, SymbolSpec, Ticks, Valuer,
};

/// What an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A limit order.
    Limit,
    /// A market order.
    Market,
    /// A stop that sends a market order when a trade reaches `price`.
    Stop,
}

/// Time in force of a limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tif {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Post only.
    Gtx,
}

/// An order as the matching engine holds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Order {
    pub(super) id: ClientId,
    pub(super) buy: bool,
    pub(super) kind: Kind,
    pub(super) tif: Tif,
    /// Limit price, or the stop's trigger price.
    pub(super) price: Ticks,
    pub(super) qty: Lots,
    pub(super) filled: Lots,
    pub(super) reduce_only: bool,
    /// The other leg of an OCO list.
    pub(super) sibling: Option<ClientId>,
    /// Lots ahead in the level's queue (`i64::MAX`: fills only when traded through).
    pub(super) ahead: i64,
    /// The level's size when last seen (trades at the price already taken off).
    pub(super) level: i64,
}

impl Order {
    /// Lots still to fill.
    #[inline]
    pub(super) fn leaves(&self) -> i64 {
        self.qty.0 - self.filled.0
    }
}

/// An order checked against the symbol's filters, as the engine holds it.
pub(super) fn checked(spec: &SymbolSpec, valuer: &Valuer, o: &NewOrder) -> Result<Order, Reject> {
    let (kind, tif) = match o.kind {
        OrderKind::LimitGtc => (Kind::Limit, Tif::Gtc),
        OrderKind::LimitIoc => (Kind::Limit, Tif::Ioc),
        OrderKind::LimitFok => (Kind::Limit, Tif::Fok),
        OrderKind::PostOnly => (Kind::Limit, Tif::Gtx),
        OrderKind::Market => (Kind::Market, Tif::Ioc),
        OrderKind::StopMarket => (Kind::Stop, Tif::Gtc),
    };
    let qty = o.qty;
    let step = spec.qty.step().0.max(1);
    if qty.0 <= 0
        || qty.0 % step != 0
        || qty.0 < spec.min_qty.0
        || spec.max_qty.is_some_and(|m| qty.0 > m.0)
    {
        return Err(Reject::LotSize);
    }
    let price = if kind == Kind::Market {
        Ticks(0)
    } else {
        let t = o.price;
        if t.0 <= 0
            || t.0 % spec.price.step().0.max(1) != 0
            || spec.min_price.is_some_and(|m| t.0 < m.0)
            || spec.max_price.is_some_and(|m| t.0 > m.0)
        {
            return Err(Reject::PriceFilter);
        }
        t
    };
    // Futures waive the minimum notional for reduce-only orders; market orders are
    // checked at the touch when they arrive.
    if let Some(min) = spec.min_notional {
        let waived = o.reduce_only && spec.market.is_futures();
        if kind != Kind::Market && !waived && valuer.raw(price, qty) < min {
            return Err(Reject::MinNotional);
        }
    }
    Ok(Order {
        id: o.id,
        buy: o.side == OrderSide::Buy,
        kind,
        tif,
        price,
        qty,
        filled: Lots(0),
        reduce_only: o.reduce_only,
        sibling: None,
        ahead: 0,
        level: 0,
    })
}
