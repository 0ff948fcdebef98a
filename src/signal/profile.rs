//! Traded volume per price bin over a recent time window, split by aggressor side,
//! kept incrementally: each trade is added once and subtracted once when it leaves the
//! window, so reading a bin is O(1).
//!
//! Bins are absolute (`floor(price / bin_ticks)`) in an array over a window of
//! [`PROFILE_BINS`] bins; when a trade lands outside it the array is rebuilt around the
//! new price from the trades still in the window (cold, rare: 4096 bins of 10 ticks is
//! ±$200 on BTCUSDT spot, far more than a minute's range).

use crate::core::{Lots, Ticks};
use std::collections::VecDeque;

/// Bins held in the array.
pub const PROFILE_BINS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Fill {
    ms: u64,
    price: Ticks,
    qty: Lots,
    taker_buy: bool,
}

/// Traded volume per bin over the last `window_ms`.
#[derive(Debug, Clone)]
pub struct TradeProfile {
    bin_ticks: i64,
    window_ms: u64,
    base: i64,
    buy: Box<[i64]>,
    sell: Box<[i64]>,
    trades: VecDeque<Fill>,
    /// Trades dropped because the window held more than its capacity.
    pub evicted: u64,
    /// Rebuilds after price left the array.
    pub rebuilds: u64,
}

impl TradeProfile {
    /// A profile of `bin_ticks`-wide bins over `window_ms`, holding up to `capacity`
    /// trades in the window.
    pub fn new(bin_ticks: u32, window_ms: u64, capacity: usize) -> Self {
        Self {
            bin_ticks: bin_ticks.max(1) as i64,
            window_ms,
            base: 0,
            buy: vec![0; PROFILE_BINS].into_boxed_slice(),
            sell: vec![0; PROFILE_BINS].into_boxed_slice(),
            trades: VecDeque::with_capacity(capacity.max(1)),
            evicted: 0,
            rebuilds: 0,
        }
    }

    /// Maps now every page the profile writes while it trades: its bins, and the room
    /// for the window's trades (written in turn until the window first fills; see
    /// [`crate::core::prefault`]). Cold.
    pub fn prefault(&mut self) {
        crate::core::prefault(&mut self.buy);
        crate::core::prefault(&mut self.sell);
        let (len, room) = (
            self.trades.len(),
            self.trades.capacity() - self.trades.len(),
        );
        let blank = Fill {
            ms: 0,
            price: Ticks(0),
            qty: Lots(0),
            taker_buy: false,
        };
        for _ in 0..room {
            self.trades.push_back(blank);
        }
        self.trades.truncate(len);
    }

    /// The absolute bin of a price.
    #[inline]
    pub fn bin_of(&self, p: Ticks) -> i64 {
        p.0.div_euclid(self.bin_ticks)
    }

    #[inline]
    fn slot(&self, bin: i64) -> Option<usize> {
        let off = bin - self.base;
        (0..PROFILE_BINS as i64)
            .contains(&off)
            .then_some(off as usize)
    }

    fn account(&mut self, f: &Fill, sign: i64) {
        if let Some(i) = self.slot(self.bin_of(f.price)) {
            let side = if f.taker_buy {
                &mut self.buy
            } else {
                &mut self.sell
            };
            side[i] += sign * f.qty.0;
        }
    }

    /// Adds a trade (time in ms, taker side) and expires trades older than the window.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_trade(&mut self, ms: u64, price: Ticks, qty: Lots, taker_buy: bool) {
        self.expire(ms);
        if self.trades.len() == self.trades.capacity() {
            if let Some(old) = self.trades.pop_front() {
                self.account(&old, -1);
                self.evicted += 1;
            }
        }
        let f = Fill {
            ms,
            price,
            qty,
            taker_buy,
        };
        if self.slot(self.bin_of(price)).is_none() {
            self.trades.push_back(f);
            self.rebuild(self.bin_of(price));
            return;
        }
        self.account(&f, 1);
        self.trades.push_back(f);
    }

    /// Drops trades older than `now_ms - window`.
    #[inline]
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(f) = self.trades.front().copied() {
            if f.ms + self.window_ms > now_ms {
                break;
            }
            self.trades.pop_front();
            self.account(&f, -1);
        }
    }

    #[cold]
    fn rebuild(&mut self, centre: i64) {
        self.rebuilds += 1;
        self.base = centre - PROFILE_BINS as i64 / 2;
        self.buy.fill(0);
        self.sell.fill(0);
        for k in 0..self.trades.len() {
            let f = self.trades[k];
            self.account(&f, 1);
        }
    }

    /// Taker-buy and taker-sell volume in the bin holding `price`.
    #[inline]
    pub fn at(&self, price: Ticks) -> (Lots, Lots) {
        match self.slot(self.bin_of(price)) {
            Some(i) => (Lots(self.buy[i]), Lots(self.sell[i])),
            None => (Lots(0), Lots(0)),
        }
    }

    /// Total traded volume in absolute bin `bin` (see [`Self::bin_of`]).
    #[inline]
    pub fn total_in_bin(&self, bin: i64) -> i64 {
        self.slot(bin).map_or(0, |i| self.buy[i] + self.sell[i])
    }

    /// Total traded volume of the bins `origin + k` (`up`) or `origin - k` for `k`
    /// in `0..out.len()`, into `out[k]`: a side's row of the oracle, read in one
    /// pass over the arrays (no bounds check per bin), the same as
    /// [`Self::total_in_bin`] bin by bin.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn totals_into(&self, origin: i64, up: bool, out: &mut [i64]) {
        let (n, bins) = (out.len() as i64, PROFILE_BINS as i64);
        // Bin `k` is slot `first ± k`; the `k` whose slot lies in the array.
        let first = origin.saturating_sub(self.base);
        let (lo, hi) = if up {
            (
                first.saturating_neg().max(0),
                bins.saturating_sub(first).min(n),
            )
        } else {
            (
                first.saturating_sub(bins - 1).max(0),
                first.saturating_add(1).min(n),
            )
        };
        if lo >= hi {
            out.fill(0);
            return;
        }
        let (lo, hi) = (lo as usize, hi as usize);
        out[..lo].fill(0);
        out[hi..].fill(0);
        let row = &mut out[lo..hi];
        if up {
            let s = (first + lo as i64) as usize;
            let (buy, sell) = (&self.buy[s..s + row.len()], &self.sell[s..s + row.len()]);
            for ((o, b), v) in row.iter_mut().zip(buy).zip(sell) {
                *o = b + v;
            }
        } else {
            // Slots from `first - lo` down.
            let top = (first - lo as i64) as usize;
            let bottom = top + 1 - row.len();
            let (buy, sell) = (&self.buy[bottom..=top], &self.sell[bottom..=top]);
            for ((o, b), v) in row.iter_mut().zip(buy.iter().rev()).zip(sell.iter().rev()) {
                *o = b + v;
            }
        }
    }

    /// Total traded volume in the bin holding `price`.
    #[inline]
    pub fn total_at(&self, price: Ticks) -> i64 {
        let (b, s) = self.at(price);
        b.0 + s.0
    }

    /// Trades in the window.
    pub fn len(&self) -> usize {
        self.trades.len()
    }

    /// True when no trade is in the window.
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_splits_and_expires() {
        let mut p = TradeProfile::new(10, 1_000, 16);
        p.on_trade(0, Ticks(1_005), Lots(3), true);
        p.on_trade(100, Ticks(1_009), Lots(2), false);
        p.on_trade(200, Ticks(1_010), Lots(7), true);
        assert_eq!(p.at(Ticks(1_000)), (Lots(3), Lots(2)));
        assert_eq!(p.total_at(Ticks(1_019)), 7);
        p.expire(1_050);
        assert_eq!(p.at(Ticks(1_000)), (Lots(0), Lots(2)));
        p.expire(1_200);
        assert!(p.is_empty());
        assert_eq!(p.total_at(Ticks(1_010)), 0);
    }

    #[test]
    fn a_row_of_totals_is_each_bins_total() {
        let mut p = TradeProfile::new(1, u64::MAX / 2, 1 << 12);
        let mut rng = fastrand::Rng::with_seed(3);
        for ms in 0..3_000 {
            let price = Ticks(50_000 + rng.i64(-300..300));
            p.on_trade(ms, price, Lots(rng.i64(1..50)), rng.bool());
        }
        let base = p.base;
        let mut out = vec![7i64; 100];
        // Rows inside the array, across either end, and wholly outside it.
        for origin in [
            50_000,
            50_250,
            base + 2,
            base + 40,
            base + 4_090,
            base - 5,
            base - 500,
        ]
        .into_iter()
        .chain(base + 4_000..base + 4_200)
        .chain(base - 110..base + 10)
        {
            for up in [true, false] {
                p.totals_into(origin, up, &mut out);
                for (k, &got) in out.iter().enumerate() {
                    let bin = if up {
                        origin + k as i64
                    } else {
                        origin - k as i64
                    };
                    assert_eq!(got, p.total_in_bin(bin), "origin {origin} up {up} k {k}");
                }
            }
        }
        p.totals_into(50_000, false, &mut out);
        assert!(out.iter().any(|&v| v > 0), "trades are there to be read");
    }

    #[test]
    fn far_trades_rebuild_and_capacity_evicts() {
        let mut p = TradeProfile::new(1, 1_000_000, 2);
        p.on_trade(0, Ticks(10), Lots(1), true);
        p.on_trade(1, Ticks(1_000_000), Lots(1), true); // far away: rebuild
        assert_eq!(p.rebuilds, 1);
        p.on_trade(2, Ticks(1_000_001), Lots(5), false); // evicts the first
        assert_eq!(p.evicted, 1);
        assert_eq!(p.total_at(Ticks(10)), 0);
        assert_eq!(p.total_at(Ticks(1_000_001)), 5);
    }
}
