//! The desk's orders: every open order, and closed ones for a bounded window (the
//! newest [`History::keep_closed`]), so a client placing millions of orders holds
//! memory flat. Binance too forgets old closed orders (queries of them answer -2013).
//! Indexed by position (stable for an order's life), client id and order id.

use super::VenueOrder;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Closed orders kept by default (queries and events of older ones: "Order does not
/// exist.").
pub const KEEP_CLOSED: usize = 10_000;

pub(crate) struct History {
    orders: HashMap<usize, VenueOrder>,
    next: usize,
    open: BTreeSet<usize>,
    closed: VecDeque<usize>,
    by_client: HashMap<(usize, String), usize>,
    by_id: HashMap<u64, usize>,
    keep_closed: usize,
}

impl History {
    pub(crate) fn new(keep_closed: usize) -> Self {
        Self {
            orders: HashMap::new(),
            next: 0,
            open: BTreeSet::new(),
            closed: VecDeque::new(),
            by_client: HashMap::new(),
            by_id: HashMap::new(),
            keep_closed: keep_closed.max(1),
        }
    }

    /// Remembers an order; its index.
    pub(crate) fn push(&mut self, o: VenueOrder) -> usize {
        let i = self.next;
        self.next += 1;
        self.by_client.insert((o.symbol, o.client_id.clone()), i);
        self.by_id.insert(o.order_id, i);
        if o.status.is_open() {
            self.open.insert(i);
        } else {
            self.closed.push_back(i);
        }
        self.orders.insert(i, o);
        i
    }

    /// The order of client id `cid` on symbol `k`.
    pub(crate) fn by_client(&self, k: usize, cid: &str) -> Option<usize> {
        self.by_client.get(&(k, cid.to_string())).copied()
    }

    /// The order of exchange id `id` on symbol `k`.
    pub(crate) fn by_order_id(&self, k: usize, id: u64) -> Option<usize> {
        self.by_id
            .get(&id)
            .copied()
            .filter(|i| self.orders.get(i).is_some_and(|o| o.symbol == k))
    }

    /// Open orders, oldest first.
    pub(crate) fn open(&self) -> impl Iterator<Item = usize> + '_ {
        self.open.iter().copied()
    }

    /// Order `i` changed status: a closed order joins the window of closed ones.
    pub(crate) fn settle(&mut self, i: usize) {
        if self.orders.get(&i).is_some_and(|o| !o.status.is_open()) && self.open.remove(&i) {
            self.closed.push_back(i);
        }
    }

    /// Forgets the oldest closed orders beyond the window. Called between requests,
    /// never while a request holds indices.
    pub(crate) fn trim(&mut self) {
        while self.closed.len() > self.keep_closed {
            let Some(i) = self.closed.pop_front() else {
                break;
            };
            let Some(o) = self.orders.remove(&i) else {
                continue;
            };
            let key = (o.symbol, o.client_id);
            if self.by_client.get(&key) == Some(&i) {
                self.by_client.remove(&key);
            }
            if self.by_id.get(&o.order_id) == Some(&i) {
                self.by_id.remove(&o.order_id);
            }
        }
    }

    /// Orders kept (open and closed).
    pub(crate) fn len(&self) -> usize {
        self.orders.len()
    }
}

impl std::ops::Index<usize> for History {
    type Output = VenueOrder;
    fn index(&self, i: usize) -> &VenueOrder {
        &self.orders[&i]
    }
}

impl std::ops::IndexMut<usize> for History {
    fn index_mut(&mut self, i: usize) -> &mut VenueOrder {
        self.orders
            .get_mut(&i)
            .expect("an order held by a request is kept")
    }
}
