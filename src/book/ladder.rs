//! One side of the book: a flat array of quantities indexed by tick over a window, a
//! two-level occupancy bitmap to find the next level in O(window/4096) worst case, and a
//! bounded sorted side store for levels outside the window.
//!
//! Binance books reach far from the mid (spot BTC bids down to 35 % of the mid, futures
//! asks up to 10×), so the window covers where trading happens and the side store keeps
//! the rest exactly; the touch is the better of the two, so it is never wrong, whatever
//! the window's position. If the side store is full, a new far level is dropped and
//! counted (`overflow_dropped`), never silently.

use super::bins::BinIndex;
use super::spare::Spares;
use crate::core::{Level, Lots, Ticks};

/// Bits per bitmap word.
const WORD: usize = 64;
/// Slots covered by one summary word (64 words of 64 bits).
const BLOCK: usize = WORD * WORD;

/// One side of an L2 book. `BID` fixes the direction of "better" at compile time.
pub(crate) struct Ladder<const BID: bool> {
    /// Resting quantity per slot (0 = empty).
    qty: Box<[i64]>,
    /// Bit `i` set ⇔ `qty[i] != 0`.
    bits: Box<[u64]>,
    /// Bit `w` set ⇔ `bits[w] != 0`.
    summary: Box<[u64]>,
    /// Tick of slot 0.
    base: i64,
    /// Slot of the best level inside the window.
    best: Option<usize>,
    /// Levels inside the window.
    in_window: usize,
    /// Levels outside the window, sorted by ascending price; capacity fixed at start-up.
    outside: Vec<Level>,
    /// Far levels dropped because `outside` was full.
    pub overflow_dropped: u64,
    /// Depth per bin of the window's levels, when the signal asked for it.
    pub(crate) bins: Option<BinIndex<BID>>,
    /// The volume of the window's nearest levels, kept level by level once a gated
    /// view asked for it.
    gauge: Gauge,
    /// Views left before the gauge is kept again (see [`Ladder::nearest_within`]).
    gauge_rest: u32,
}

/// Views answered from the bins, without keeping the gauge, after the nearest levels
/// reached past a view's last bin: on books whose nearest levels spread past the
/// bins, keeping the gauge costs every level change and saves no view.
const GAUGE_REST: u32 = 64;

/// The window's nearest `limit` levels (all of them when it holds fewer) and their
/// volume, so that a view needing only the volumes, as the oracle's does when the book
/// is not pressed, does not read a hundred bins a side (callgrind: ~30 % of a
/// backtest's instructions went to those reads, for views 99 % of which were not
/// pressed).
///
/// Kept lazily: between two questions `set` only adds a change at or nearer than
/// `edge` to `count` and `volume` (no search), so `count` drifts from `limit` as levels
/// come and go; [`Ladder::nearest`] then drops or takes in the levels at the edge
/// until `count` is the limit again — a few bitmap steps for the levels that crossed.
#[derive(Debug, Clone, Copy)]
struct Gauge {
    /// Levels counted when settled; 0 when not kept (a move of the window, a clear).
    limit: u32,
    /// Levels at or nearer than `edge`.
    count: i64,
    /// The boundary slot; settled, the farthest counted level's. Asks count slots
    /// `<= edge` (-1: none), bids slots `>= edge` (the window's length: none).
    edge: i64,
    /// Sum of the counted quantities (wide: exact whatever the quantities).
    volume: i128,
}

impl Gauge {
    const OFF: Gauge = Gauge {
        limit: 0,
        count: 0,
        edge: 0,
        volume: 0,
    };
}

/// A ladder's arrays, all zero.
struct Window {
    qty: Box<[i64]>,
    bits: Box<[u64]>,
    summary: Box<[u64]>,
}

/// Zeroed windows of dropped ladders, for the next ladder of the same size: a new book
/// zeroed 2 MB a side (~3 % of a recorded session's backtest), where a dropped ladder
/// zeroes only the slots it used.
static SPARE: Spares<Window> = Spares::new(8);

impl Window {
    /// A spare window of `len` slots, else a new one. Cold.
    fn zeroed(len: usize) -> Self {
        SPARE
            .take(|w| w.qty.len() == len)
            .unwrap_or_else(|| Window {
                qty: vec![0; len].into_boxed_slice(),
                bits: vec![0; len / WORD].into_boxed_slice(),
                summary: vec![0; len / BLOCK].into_boxed_slice(),
            })
    }
}

impl<const BID: bool> Drop for Ladder<BID> {
    /// Zeroes the slots the bitmap marks and keeps the window for the next ladder; a
    /// ladder dropped while panicking, or whose bitmap does not count its levels, is
    /// freed instead.
    fn drop(&mut self) {
        if std::thread::panicking() || self.zero_used() != self.in_window {
            return;
        }
        let window = Window {
            qty: std::mem::take(&mut self.qty),
            bits: std::mem::take(&mut self.bits),
            summary: std::mem::take(&mut self.summary),
        };
        SPARE.give(window);
    }
}

/// Marks slot `i` occupied in a bitmap and its summary.
#[inline(always)]
fn mark(bits: &mut [u64], summary: &mut [u64], i: usize) {
    let w = i / WORD;
    bits[w] |= 1 << (i % WORD);
    summary[w / WORD] |= 1 << (w % WORD);
}

impl<const BID: bool> Ladder<BID> {
    /// A side over `window` ticks (a power of two, 4096 to 2^30) keeping up to
    /// `outside_cap` levels outside it.
    pub fn new(window: usize, outside_cap: usize) -> Self {
        // At most 2^30: the view sums level counts of runs of bins in `u32`.
        assert!(
            window.is_power_of_two() && (BLOCK..=1 << 30).contains(&window),
            "window must be a power of two from 4096 to 2^30"
        );
        let Window { qty, bits, summary } = Window::zeroed(window);
        Self {
            qty,
            bits,
            summary,
            base: 0,
            best: None,
            in_window: 0,
            outside: Vec::with_capacity(outside_cap),
            overflow_dropped: 0,
            bins: None,
            gauge: Gauge::OFF,
            gauge_rest: 0,
        }
    }

    /// Maps every page the ladder may write while it trades (its window, bitmap,
    /// bin index and room outside the window). Cold.
    pub fn prefault(&mut self) {
        crate::core::prefault(&mut self.qty);
        crate::core::prefault(&mut self.bits);
        crate::core::prefault(&mut self.summary);
        crate::core::prefault_spare(&mut self.outside, Level::default());
        if let Some(b) = self.bins.as_mut() {
            b.prefault();
        }
    }

    #[inline(always)]
    fn window(&self) -> usize {
        self.qty.len()
    }

    /// Ticks covered by the window.
    pub fn window_len(&self) -> usize {
        self.qty.len()
    }

    /// Tick of slot 0.
    pub fn base(&self) -> i64 {
        self.base
    }

    /// Number of non-empty levels.
    pub fn len(&self) -> usize {
        self.in_window + self.outside.len()
    }

    /// Indexes the window's depth in bins of `bin_ticks` ticks from now on (the bins
    /// views read: [`Ladder::keep_bins`]).
    pub fn index_bins(&mut self, bin_ticks: u32) {
        self.bins = Some(BinIndex::new(bin_ticks, self.window()));
    }

    /// Makes the bin index hold bins `lo..=hi` (absolute; the caller has checked that
    /// their ticks lie in the window) and keeps them from now on, with the bins it kept
    /// already when they touch these, as far as the requested width again on either
    /// side (so a touch that moves a bin fills one bin, and the kept range cannot grow
    /// without bound). A bin not kept before is filled from the levels, by the bitmap.
    ///
    /// # Hot path: no allocation; O(1) when the bins are kept already.
    #[inline]
    pub(crate) fn keep_bins(&mut self, lo: i64, hi: i64) {
        let Some(idx) = self.bins.as_mut() else {
            return;
        };
        if lo > hi {
            return;
        }
        let (flo, fhi) = idx.fresh();
        if flo <= lo && hi <= fhi {
            idx.read();
            return;
        }
        self.fill_bins(lo, hi);
    }

    /// [`Ladder::keep_bins`] when some of the bins are not kept.
    #[cold]
    #[inline(never)]
    fn fill_bins(&mut self, lo: i64, hi: i64) {
        let Some(mut idx) = self.bins.take() else {
            return;
        };
        let bt = idx.bin_ticks();
        let (flo, fhi) = idx.fresh();
        let width = hi - lo + 1;
        let touches = flo <= fhi && lo <= fhi.saturating_add(1) && hi.saturating_add(1) >= flo;
        let (mut nlo, mut nhi) = if touches {
            (lo.min(flo), hi.max(fhi))
        } else {
            (lo, hi)
        };
        let last = self.base + self.window() as i64 - 1;
        nlo = nlo
            .max(lo.saturating_sub(width))
            .max(self.base.div_euclid(bt));
        nhi = nhi.min(hi.saturating_add(width)).min(last.div_euclid(bt));
        // What is kept of the old range; the rest of the new one is filled.
        let (olo, ohi) = (flo.max(nlo), fhi.min(nhi));
        if olo > ohi {
            self.fill_range(&mut idx, nlo, nhi);
        } else {
            if nlo < olo {
                self.fill_range(&mut idx, nlo, olo - 1);
            }
            if ohi < nhi {
                self.fill_range(&mut idx, ohi + 1, nhi);
            }
        }
        idx.set_fresh((nlo, nhi), self.kept_slots(bt, nlo, nhi));
        self.bins = Some(idx);
    }

    /// Window slots (first, count) of the ticks of bins `lo..=hi`, within the window.
    #[inline]
    fn kept_slots(&self, bt: i64, lo: i64, hi: i64) -> (usize, usize) {
        let w = self.window() as i64;
        let first = lo.saturating_mul(bt).saturating_sub(self.base).max(0);
        let end = hi
            .saturating_mul(bt)
            .saturating_add(bt)
            .saturating_sub(self.base)
            .min(w);
        if first >= end {
            return (0, 0);
        }
        (first as usize, (end - first) as usize)
    }

    /// Empties bins `lo..=hi` and adds their window levels again, by the bitmap.
    fn fill_range(&self, idx: &mut BinIndex<BID>, lo: i64, hi: i64) {
        for bin in lo..=hi {
            idx.reset(bin);
        }
        let (first, n) = self.kept_slots(idx.bin_ticks(), lo, hi);
        let mut i = if n == 0 { None } else { self.next_set(first) };
        while let Some(s) = i {
            if s >= first + n {
                break;
            }
            idx.on_change(self.base + s as i64, 0, self.qty[s]);
            i = self.next_set(s + 1);
        }
    }

    /// A view read no bins (the index stops being kept after a run of those).
    #[inline]
    pub(crate) fn bins_idle(&mut self) {
        if let Some(b) = self.bins.as_mut() {
            b.idle();
        }
    }

    /// Forgets the kept bins (the window moved: they are filled again when read).
    fn forget_bins(&mut self) {
        if let Some(b) = self.bins.as_mut() {
            b.clear();
        }
    }

    /// Price of the largest level of absolute bin `bin` (which must lie in the window).
    #[inline]
    pub(crate) fn bin_top(&mut self, bin: i64) -> i64 {
        let (qty, base) = (&self.qty, self.base);
        match self.bins.as_mut() {
            Some(idx) => idx.top(bin, |p| qty[(p - base) as usize]),
            None => 0,
        }
    }

    /// True when every tick of `[lo, hi]` lies in the array window.
    #[inline]
    pub fn window_holds(&self, lo: i64, hi: i64) -> bool {
        lo >= self.base && hi < self.base.saturating_add(self.window() as i64) && lo <= hi
    }

    /// Removes every level (keeps the window's position). Cold: a snapshot's resync.
    pub fn clear(&mut self) {
        if self.in_window > 0 {
            if self.zero_used() != self.in_window {
                // The bitmap lost count (a bug elsewhere): zero the lot.
                self.qty.fill(0);
            }
            if let Some(b) = self.bins.as_mut() {
                b.clear();
            }
        }
        self.in_window = 0;
        self.best = None;
        self.outside.clear();
        self.gauge = Gauge::OFF;
    }

    /// Zeroes the slots the bitmap marks, then the bitmap, and says how many it zeroed:
    /// a book holds a few thousand levels of a window of 262,144 slots a side, so
    /// filling the window (2 MB) would cost a hundred times more.
    fn zero_used(&mut self) -> usize {
        let mut zeroed = 0;
        for sw in 0..self.summary.len() {
            let mut words = std::mem::take(&mut self.summary[sw]);
            while words != 0 {
                let w = sw * WORD + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut bits = std::mem::take(&mut self.bits[w]);
                while bits != 0 {
                    self.qty[w * WORD + bits.trailing_zeros() as usize] = 0;
                    bits &= bits - 1;
                    zeroed += 1;
                }
            }
        }
        zeroed
    }

    /// True when `a` is a better slot than `b` for this side.
    #[inline(always)]
    fn better(a: usize, b: usize) -> bool {
        if BID { a > b } else { a < b }
    }

    /// Sets the level at `price` to `qty` (0 deletes; deleting an absent level is a no-op).
    ///
    /// # Hot path: no allocation.
    #[inline(always)]
    pub fn set(&mut self, price: Ticks, qty: Lots) {
        let off = price.0.wrapping_sub(self.base);
        if (off as u64) < self.window() as u64 {
            self.set_slot(off as usize, qty.0);
        } else {
            self.set_outside(price, qty);
        }
    }

    #[inline(always)]
    fn set_slot(&mut self, i: usize, q: i64) {
        let old = std::mem::replace(&mut self.qty[i], q);
        if let Some(b) = self.bins.as_mut() {
            if old != q && b.keeps(i) {
                b.on_change(self.base + i as i64, old, q);
            }
        }
        if q == 0 {
            if old != 0 {
                self.clear_bit(i);
                self.in_window -= 1;
                if self.best == Some(i) {
                    self.best = if BID {
                        self.prev_set(i)
                    } else {
                        self.next_set(i)
                    };
                }
            }
        } else if old == 0 {
            self.set_bit(i);
            self.in_window += 1;
            match self.best {
                Some(b) if !Self::better(i, b) => {}
                _ => self.best = Some(i),
            }
        }
        let g = &mut self.gauge;
        if g.limit != 0
            && (if BID {
                i as i64 >= g.edge
            } else {
                i as i64 <= g.edge
            })
        {
            g.count += i64::from(q != 0) - i64::from(old != 0);
            g.volume += q as i128 - old as i128;
        }
    }

    /// The nearest occupied slot farther from the touch than slot `e` (which may be
    /// one past either end of the window).
    #[inline(always)]
    fn level_beyond(&self, e: i64) -> Option<usize> {
        if BID {
            (e >= 1).then(|| self.prev_set(e as usize - 1)).flatten()
        } else {
            self.next_set((e + 1).max(0) as usize)
        }
    }

    /// The farthest occupied slot at or nearer the touch than slot `e`.
    #[inline(always)]
    fn level_within(&self, e: i64) -> Option<usize> {
        if BID {
            (e < self.window() as i64)
                .then(|| self.next_set(e.max(0) as usize))
                .flatten()
        } else {
            (e >= 0).then(|| self.prev_set(e as usize)).flatten()
        }
    }

    /// The window's nearest `limit` levels (all when it holds fewer): how many, the
    /// price of the farthest, and their volume (saturated to `i64`). From the
    /// [`Gauge`] when it is kept for `limit` (settled in a few bitmap steps); else
    /// counted by the bitmap, O(limit), and kept from then on. `None` for a `limit`
    /// of 0.
    ///
    /// # Hot path: no allocation; O(levels that crossed the edge) when kept.
    #[inline]
    pub(crate) fn nearest(&mut self, limit: u32) -> Option<(u32, i64, i64)> {
        if limit == 0 {
            return None;
        }
        if self.gauge.limit != limit || !self.settle() {
            self.count_nearest(limit);
        }
        let g = self.gauge;
        let volume = g.volume.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        Some((g.count as u32, self.base + g.edge, volume))
    }

    /// The volume of the window's nearest `limit` levels when the farthest of them
    /// lies within `[lo, hi]` (the caller checked the touch is the window's), from
    /// [`Ladder::nearest`]; `None` otherwise, and then the gauge rests for
    /// [`GAUGE_REST`] views.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub(crate) fn nearest_within(&mut self, limit: u32, lo: i64, hi: i64) -> Option<i64> {
        if self.gauge_rest > 0 {
            self.gauge_rest -= 1;
            return None;
        }
        let (_, edge, volume) = self.nearest(limit)?;
        if (lo..=hi).contains(&edge) {
            return Some(volume);
        }
        self.gauge = Gauge::OFF;
        self.gauge_rest = GAUGE_REST;
        None
    }

    /// Brings the count back to the limit: drops the farthest counted levels while
    /// over it, takes in the levels beyond while under it, and leaves `edge` on the
    /// farthest counted level. False when the count and the bitmap disagree (a bug):
    /// then the caller counts afresh.
    #[inline]
    fn settle(&mut self) -> bool {
        let mut g = self.gauge;
        let limit = i64::from(g.limit);
        // Settled already: as many counted as asked, the farthest still there (what
        // the loops below would find, without their bitmap search).
        if g.count == limit
            && usize::try_from(g.edge).is_ok_and(|e| self.qty.get(e).is_some_and(|&q| q != 0))
        {
            return true;
        }
        let toward_touch = if BID { 1 } else { -1 };
        while g.count > 0 {
            let Some(s) = self.level_within(g.edge) else {
                return false;
            };
            if g.count <= limit {
                g.edge = s as i64;
                break;
            }
            g.count -= 1;
            g.volume -= self.qty[s] as i128;
            g.edge = s as i64 + toward_touch;
        }
        while g.count < limit {
            let Some(s) = self.level_beyond(g.edge) else {
                break;
            };
            g.count += 1;
            g.volume += self.qty[s] as i128;
            g.edge = s as i64;
        }
        self.gauge = g;
        true
    }

    /// Counts the [`Gauge`] afresh. Cold: once per window move or resync.
    #[cold]
    fn count_nearest(&mut self, limit: u32) {
        // No level counted yet: the edge one past the window's near end.
        let none = if BID { self.window() as i64 } else { -1 };
        self.gauge = Gauge {
            limit,
            count: 0,
            edge: none,
            volume: 0,
        };
        // From nothing counted, settling takes in the nearest levels one by one; with
        // a count of 0 it has nothing to disagree with the bitmap about.
        let settled = self.settle();
        debug_assert!(settled);
    }

    /// Far levels: a sorted insert/remove in the bounded store. Rare, off the touch.
    #[cold]
    fn set_outside(&mut self, price: Ticks, qty: Lots) {
        match self.outside.binary_search_by_key(&price, |l| l.price) {
            Ok(k) if qty.0 == 0 => {
                self.outside.remove(k);
            }
            Ok(k) => self.outside[k].qty = qty,
            Err(_) if qty.0 == 0 => {}
            Err(k) => {
                if self.outside.len() == self.outside.capacity() {
                    self.overflow_dropped += 1;
                } else {
                    self.outside.insert(k, Level { price, qty });
                }
            }
        }
    }

    #[inline(always)]
    fn set_bit(&mut self, i: usize) {
        mark(&mut self.bits, &mut self.summary, i);
    }

    #[inline(always)]
    fn clear_bit(&mut self, i: usize) {
        let w = i / WORD;
        self.bits[w] &= !(1 << (i % WORD));
        if self.bits[w] == 0 {
            self.summary[w / WORD] &= !(1 << (w % WORD));
        }
    }

    /// Lowest occupied slot `>= from`.
    fn next_set(&self, from: usize) -> Option<usize> {
        if from >= self.window() {
            return None;
        }
        let w = from / WORD;
        let m = self.bits[w] & (!0u64 << (from % WORD));
        if m != 0 {
            return Some(w * WORD + m.trailing_zeros() as usize);
        }
        // Next non-empty word via the summary.
        let nw = w + 1;
        if nw >= self.bits.len() {
            return None;
        }
        let mut sw = nw / WORD;
        let mut sm = self.summary[sw] & (!0u64 << (nw % WORD));
        loop {
            if sm != 0 {
                let word = sw * WORD + sm.trailing_zeros() as usize;
                return Some(word * WORD + self.bits[word].trailing_zeros() as usize);
            }
            sw += 1;
            if sw >= self.summary.len() {
                return None;
            }
            sm = self.summary[sw];
        }
    }

    /// Highest occupied slot `<= from`.
    fn prev_set(&self, from: usize) -> Option<usize> {
        let from = from.min(self.window() - 1);
        let w = from / WORD;
        let m = self.bits[w] & (!0u64 >> (WORD - 1 - from % WORD));
        if m != 0 {
            return Some(w * WORD + (WORD - 1 - m.leading_zeros() as usize));
        }
        if w == 0 {
            return None;
        }
        let pw = w - 1; // last word to consider
        let mut sw = pw / WORD;
        let mut sm = self.summary[sw] & (!0u64 >> (WORD - 1 - pw % WORD));
        loop {
            if sm != 0 {
                let word = sw * WORD + (WORD - 1 - sm.leading_zeros() as usize);
                return Some(word * WORD + (WORD - 1 - self.bits[word].leading_zeros() as usize));
            }
            if sw == 0 {
                return None;
            }
            sw -= 1;
            sm = self.summary[sw];
        }
    }

    /// The best level of this side (highest bid / lowest ask), window or side store.
    ///
    /// # Hot path: O(1).
    #[inline]
    pub fn best(&self) -> Option<Level> {
        let inside = self.best.map(|i| Level {
            price: Ticks(self.base + i as i64),
            qty: Lots(self.qty[i]),
        });
        let outside = if BID {
            self.outside.last()
        } else {
            self.outside.first()
        }
        .copied();
        match (inside, outside) {
            (Some(a), Some(b)) => Some(if (a.price > b.price) == BID { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Quantity resting at `price` (0 when empty).
    pub fn qty_at(&self, price: Ticks) -> Lots {
        let off = price.0.wrapping_sub(self.base);
        if (off as u64) < self.window() as u64 {
            Lots(self.qty[off as usize])
        } else {
            match self.outside.binary_search_by_key(&price, |l| l.price) {
                Ok(k) => self.outside[k].qty,
                Err(_) => Lots(0),
            }
        }
    }

    /// Visits levels best first until `f` returns false. No allocation.
    pub fn for_each(&self, mut f: impl FnMut(Level) -> bool) {
        let top = self.base.saturating_add(self.window() as i64);
        // Side-store levels beyond the window on the better side come first.
        if BID {
            for l in self.outside.iter().rev().take_while(|l| l.price.0 >= top) {
                if !f(*l) {
                    return;
                }
            }
            let mut cur = self.best;
            while let Some(i) = cur {
                if !f(Level {
                    price: Ticks(self.base + i as i64),
                    qty: Lots(self.qty[i]),
                }) {
                    return;
                }
                cur = if i == 0 { None } else { self.prev_set(i - 1) };
            }
            for l in self.outside.iter().rev().filter(|l| l.price.0 < self.base) {
                if !f(*l) {
                    return;
                }
            }
        } else {
            for l in self.outside.iter().take_while(|l| l.price.0 < self.base) {
                if !f(*l) {
                    return;
                }
            }
            let mut cur = self.best;
            while let Some(i) = cur {
                if !f(Level {
                    price: Ticks(self.base + i as i64),
                    qty: Lots(self.qty[i]),
                }) {
                    return;
                }
                cur = self.next_set(i + 1);
            }
            for l in self.outside.iter().filter(|l| l.price.0 >= top) {
                if !f(*l) {
                    return;
                }
            }
        }
    }

    /// Moves the window so slot 0 is tick `new_base`, migrating levels between the
    /// array and the side store. Cold: O(levels + window / 4096), runs when price
    /// drifts far.
    #[cold]
    pub fn rebase(&mut self, new_base: i64) {
        let w = self.window() as i64;
        // Keep `base + slot` representable for every slot, however absurd the prices.
        let new_base = new_base.clamp(i64::MIN / 2, i64::MAX - w);
        if new_base == self.base {
            return;
        }
        self.gauge = Gauge::OFF; // slots move: counted again when next asked
        if self.in_window == 0 && self.outside.is_empty() {
            // Empty (a new book, or one cleared for a snapshot): the arrays are zeros
            // already, so only the base moves. Shifting and rescanning them would
            // touch every page of a window nothing is in (a backtest's first
            // snapshot paid that for all four ladders).
            self.base = new_base;
            self.best = None;
            if let Some(b) = self.bins.as_mut() {
                b.clear();
            }
            return;
        }
        // 1. Each window level moves to its new slot, or to the side store when it
        //    leaves the window, one by one by the bitmap: in the direction of the
        //    shift, so no level lands on one not moved yet. (Shifting the whole array
        //    and rescanning it for the bitmap touched 2 MB a side for a few thousand
        //    levels.)
        let shift = self.base as i128 - new_base as i128; // slot s goes to s + shift
        let old_base = self.base;
        let mut cur = if shift > 0 {
            self.prev_set(self.window() - 1)
        } else {
            self.next_set(0)
        };
        while let Some(s) = cur {
            let q = std::mem::take(&mut self.qty[s]);
            self.clear_bit(s);
            let to = s as i128 + shift;
            if (0..w as i128).contains(&to) {
                self.qty[to as usize] = q;
                self.set_bit(to as usize);
            } else {
                self.in_window -= 1;
                self.set_outside(Ticks(old_base + s as i64), Lots(q));
            }
            cur = if shift > 0 {
                s.checked_sub(1).and_then(|s| self.prev_set(s))
            } else {
                self.next_set(s + 1)
            };
        }
        self.base = new_base;
        // 2. Side-store levels now inside the window move into the array.
        let (qty, bits, summary) = (&mut self.qty, &mut self.bits, &mut self.summary);
        let mut moved_in = 0;
        self.outside.retain(|l| {
            let off = l.price.0 as i128 - new_base as i128;
            if off >= 0 && off < w as i128 {
                qty[off as usize] = l.qty.0;
                mark(bits, summary, off as usize);
                moved_in += 1;
                false
            } else {
                true
            }
        });
        self.in_window += moved_in;
        self.best = if BID {
            self.prev_set(self.window() - 1)
        } else {
            self.next_set(0)
        };
        self.forget_bins();
    }

    /// Sums resting quantity into `out[k]` for bins of `bin_ticks` ticks going away from
    /// `from` (bin 0 holds `from` and the `bin_ticks - 1` ticks behind it). No allocation.
    pub fn sum_bins(&self, from: Ticks, bin_ticks: i64, out: &mut [i64]) {
        out.fill(0);
        if bin_ticks <= 0 {
            return;
        }
        let n = out.len() as i64;
        self.for_each(|l| {
            let dist = if BID {
                from.0 - l.price.0
            } else {
                l.price.0 - from.0
            };
            if dist < 0 {
                return true; // better than `from`: not binned
            }
            let k = dist / bin_ticks;
            if k >= n {
                return false;
            }
            out[k as usize] = out[k as usize].saturating_add(l.qty.0);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn lv(p: i64, q: i64) -> (Ticks, Lots) {
        (Ticks(p), Lots(q))
    }

    #[test]
    fn touch_tracks_inserts_and_deletes() {
        let mut b = Ladder::<true>::new(4096, 16);
        for (p, q) in [lv(100, 1), lv(105, 2), lv(103, 3)] {
            b.set(p, q);
        }
        assert_eq!(b.best().unwrap().price, Ticks(105));
        b.set(Ticks(105), Lots(0));
        assert_eq!(b.best().unwrap().price, Ticks(103));
        b.set(Ticks(103), Lots(0));
        b.set(Ticks(100), Lots(0));
        assert_eq!(b.best(), None);
        let mut a = Ladder::<false>::new(4096, 16);
        a.set(Ticks(4000), Lots(1));
        a.set(Ticks(10), Lots(1));
        a.set(Ticks(10), Lots(0));
        assert_eq!(a.best().unwrap().price, Ticks(4000));
    }

    #[test]
    fn far_levels_live_in_side_store_and_count_when_full() {
        let mut b = Ladder::<true>::new(4096, 2);
        b.set(Ticks(-5), Lots(1));
        b.set(Ticks(5000), Lots(2)); // above window: it is the touch
        assert_eq!(
            b.best().unwrap(),
            Level {
                price: Ticks(5000),
                qty: Lots(2)
            }
        );
        b.set(Ticks(6000), Lots(3));
        assert_eq!(b.overflow_dropped, 1);
        b.set(Ticks(5000), Lots(0));
        assert_eq!(b.best().unwrap().price, Ticks(-5));
    }

    #[test]
    fn bitmap_search_across_blocks_matches_a_map() {
        let mut b = Ladder::<true>::new(1 << 14, 64);
        let mut a = Ladder::<false>::new(1 << 14, 64);
        let mut reference = BTreeMap::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = (x % (1 << 14)) as i64;
            let q = if x % 3 == 0 { 0 } else { (x % 100) as i64 + 1 };
            b.set(Ticks(p), Lots(q));
            a.set(Ticks(p), Lots(q));
            if q == 0 {
                reference.remove(&p);
            } else {
                reference.insert(p, q);
            }
            assert_eq!(
                b.best().map(|l| l.price.0),
                reference.keys().next_back().copied()
            );
            assert_eq!(
                a.best().map(|l| l.price.0),
                reference.keys().next().copied()
            );
        }
        let seen: Vec<i64> = levels(&b).iter().map(|l| l.price.0).collect();
        assert_eq!(seen, reference.keys().rev().copied().collect::<Vec<_>>());
    }

    #[test]
    fn rebase_keeps_every_level() {
        let mut b = Ladder::<true>::new(4096, 1024);
        for p in (0..4096).step_by(7) {
            b.set(Ticks(p), Lots(p + 1));
        }
        let before = levels(&b);
        for nb in [1000, -3000, 10_000, 0] {
            b.rebase(nb);
            assert_eq!(levels(&b), before, "base {nb}");
        }
    }

    /// Every level, best first.
    fn levels<const B: bool>(l: &Ladder<B>) -> Vec<Level> {
        let mut v = Vec::new();
        l.for_each(|lv| {
            v.push(lv);
            true
        });
        v
    }

    /// The bitmap marks exactly the non-empty slots and the count agrees.
    fn assert_consistent<const B: bool>(l: &Ladder<B>, at: &str) {
        let mut n = 0;
        for (i, &q) in l.qty.iter().enumerate() {
            let bit = l.bits[i / WORD] >> (i % WORD) & 1 == 1;
            assert_eq!(bit, q != 0, "{at}: slot {i}");
            n += usize::from(q != 0);
        }
        for (w, &word) in l.bits.iter().enumerate() {
            let bit = l.summary[w / WORD] >> (w % WORD) & 1 == 1;
            assert_eq!(bit, word != 0, "{at}: word {w}");
        }
        assert_eq!(n, l.in_window, "{at}");
    }

    /// Random books moved by random shifts, both sides, both directions, small and
    /// past the window: every level kept (in the array or the side store), the touch
    /// right, the bitmap exact.
    #[test]
    fn rebases_keep_levels_touch_and_bitmap() {
        fn run<const B: bool>(seed: u64) {
            let mut rng = fastrand::Rng::with_seed(seed);
            // Room for every level (a full side store drops far ones, on purpose).
            let mut l = Ladder::<B>::new(8192, 20_000);
            let mut reference = BTreeMap::new();
            for round in 0..60 {
                for _ in 0..rng.usize(0..300) {
                    let p = l.base() + rng.i64(-2000..10_000);
                    let q = if rng.u8(0..4) == 0 { 0 } else { rng.i64(1..50) };
                    l.set(Ticks(p), Lots(q));
                    if q == 0 {
                        reference.remove(&p);
                    } else {
                        reference.insert(p, q);
                    }
                }
                let nb = match rng.u8(0..4) {
                    0 => l.base() + rng.i64(-9000..9000),
                    1 => l.base() + rng.i64(-64..64),
                    2 => l.base() + rng.i64(-100_000..100_000),
                    _ => l.base(),
                };
                l.rebase(nb);
                let at = format!("seed {seed} round {round} base {nb}");
                assert_consistent(&l, &at);
                let seen: Vec<(i64, i64)> =
                    levels(&l).iter().map(|lv| (lv.price.0, lv.qty.0)).collect();
                let mut want: Vec<(i64, i64)> = reference.iter().map(|(&p, &q)| (p, q)).collect();
                if B {
                    want.reverse();
                }
                assert_eq!(l.overflow_dropped, 0, "{at}");
                let first_diff = seen.iter().zip(&want).position(|(a, b)| a != b);
                assert_eq!((seen.len(), first_diff), (want.len(), None), "{at}");
                assert_eq!(
                    l.best().map(|lv| lv.price.0),
                    want.first().map(|w| w.0),
                    "{at}"
                );
            }
        }
        for seed in 0..6 {
            run::<true>(seed);
            run::<false>(seed);
        }
    }

    /// The kept nearest levels (`nearest`) are what counting the window's levels best
    /// first gives, after every change of random books of both sides: inserts,
    /// deletes and changes near the touch, at the edge and far, the touch itself
    /// taken away, window moves and clears between, several limits, asked at random
    /// moments (so that many changes pass between two answers).
    #[test]
    fn kept_nearest_levels_match_a_count() {
        fn count<const B: bool>(l: &Ladder<B>, limit: u32) -> (u32, i64, i64) {
            let (mut n, mut edge, mut volume) = (0u32, l.base(), 0i64);
            l.for_each(|lv| {
                if !l.window_holds(lv.price.0, lv.price.0) {
                    return true; // side-store levels are not the gauge's
                }
                if n == limit {
                    return false;
                }
                n += 1;
                edge = lv.price.0;
                volume += lv.qty.0;
                true
            });
            (n, edge, volume)
        }
        fn run<const B: bool>(seed: u64) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut l = Ladder::<B>::new(4096, 20_000);
            let mut asked = 0;
            for round in 0..4000 {
                let limit = [1, 2, 7, 40][(round / 1000) as usize];
                let touch = l.best().map_or(l.base() + 2048, |lv| lv.price.0);
                let p = match rng.u8(0..8) {
                    0 => touch,
                    1..=4 => touch + if B { -1 } else { 1 } * rng.i64(-3..60),
                    5 => l.base() + rng.i64(0..4096),
                    6 => l.base() + rng.i64(-500..5000),
                    _ => {
                        let (_, edge, _) = count(&l, limit);
                        edge + rng.i64(-2..3)
                    }
                };
                l.set(Ticks(p), random_qty(&mut rng));
                match rng.u16(0..400) {
                    0 => l.rebase(l.base() + rng.i64(-300..300)),
                    1 => l.clear(),
                    _ => {}
                }
                if rng.u8(0..4) == 0 {
                    let want = count(&l, limit);
                    let got = l
                        .nearest(limit)
                        .map(|(n, e, v)| (n, if n == 0 { l.base() } else { e }, v));
                    assert_eq!(got, Some(want), "seed {seed} round {round} limit {limit}");
                    asked += 1;
                }
            }
            assert!(asked > 500);
        }
        for seed in 0..8 {
            run::<true>(seed);
            run::<false>(seed);
        }
    }

    /// A level quantity for the randomised tests: a delete one time in three.
    fn random_qty(rng: &mut fastrand::Rng) -> Lots {
        Lots(if rng.u8(0..3) == 0 {
            0
        } else {
            rng.i64(1..1000)
        })
    }

    /// The bins a view reads hold what the levels hold, whatever was kept before:
    /// random level changes (at the touch, near it, anywhere in the window and past
    /// it), views over random bins near and far from the last (inside, overlapping,
    /// adjoining and apart from the kept range, so it grows, is clipped and starts
    /// again), runs of views that read no bins (the index stops being kept), window
    /// moves and clears. Each read bin is compared with a sum over the levels, and its
    /// largest level with a scan of its ticks. A change not indexed inside the kept
    /// bins (even at their last slot), a bin not filled when it is first kept, or one
    /// filled over its stale figures, shows up as a bin that differs (each was checked
    /// by breaking it).
    #[test]
    fn kept_bins_match_the_levels() {
        const BT: i64 = 7;
        fn run<const B: bool>(seed: u64) -> usize {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut l = Ladder::<B>::new(4096, 20_000);
            l.index_bins(BT as u32);
            let mut read = 0;
            let mut at = l.base() + 2048;
            for round in 0..6000 {
                let p = match rng.u8(0..6) {
                    0 => l.best().map_or(at, |lv| lv.price.0),
                    1..=3 => at + rng.i64(-80..80),
                    4 => l.base() + rng.i64(0..4096),
                    _ => l.base() + rng.i64(-500..5000),
                };
                l.set(Ticks(p), random_qty(&mut rng));
                match rng.u16(0..800) {
                    0 => l.rebase(l.base() + rng.i64(-300..300)),
                    1 => l.clear(),
                    2 => {
                        for _ in 0..rng.u32(1..130) {
                            l.bins_idle();
                        }
                    }
                    _ => {}
                }
                if rng.u8(0..3) != 0 {
                    continue;
                }
                // A view's bins: mostly near the last, sometimes anywhere.
                at = if rng.u8(0..10) == 0 {
                    l.base() + rng.i64(0..4096)
                } else {
                    at + rng.i64(-3 * BT..3 * BT)
                };
                let width = rng.i64(1..25);
                let lo = at.div_euclid(BT) - rng.i64(0..width);
                let hi = lo + width - 1;
                if !l.window_holds(lo * BT, hi * BT + BT - 1) {
                    at = l.base() + 2048;
                    continue;
                }
                l.keep_bins(lo, hi);
                let (base, qty) = (l.base(), l.qty.clone());
                for bin in lo..=hi {
                    let (mut want_q, mut want_n) = (0i64, 0u32);
                    let mut top = (if B { bin * BT + BT - 1 } else { bin * BT }, -1i64);
                    for p in bin * BT..bin * BT + BT {
                        let q = qty[(p - base) as usize];
                        if q != 0 {
                            want_q += q;
                            want_n += 1;
                        }
                        let nearer = if B { p > top.0 } else { p < top.0 };
                        if q > top.1 || (q == top.1 && nearer) {
                            top = (p, q);
                        }
                    }
                    let got = l.bins.as_ref().unwrap().get(bin);
                    assert_eq!(got, (want_q, want_n), "seed {seed} round {round} bin {bin}");
                    assert_eq!(l.bin_top(bin), top.0, "seed {seed} round {round} top {bin}");
                }
                read += 1;
            }
            read
        }
        for seed in 0..6 {
            assert!(run::<true>(seed) > 1000);
            assert!(run::<false>(seed) > 1000);
        }
    }

    /// The bin index holds what the levels hold after levels come and go, the window
    /// moves, the book empties and the window moves again (an index left as it was, or
    /// cleared when it had changed, would show up as a bin that differs).
    #[test]
    fn bin_index_follows_rebases() {
        const BT: i64 = 10;
        let check = |b: &mut Ladder<true>, at: &str| {
            // Every bin of the window kept (filled the first time, then kept level by
            // level until the window moves).
            let (lo, hi) = (
                b.base().div_euclid(BT),
                (b.base() + b.window_len() as i64 - 1).div_euclid(BT),
            );
            b.keep_bins(lo, hi);
            let idx = b.bins.as_ref().unwrap();
            let mut want = std::collections::BTreeMap::<i64, (i64, u32)>::new();
            b.for_each(|l| {
                if b.window_holds(l.price.0, l.price.0) {
                    let e = want.entry(l.price.0.div_euclid(BT)).or_default();
                    e.0 += l.qty.0;
                    e.1 += 1;
                }
                true
            });
            let lo = b.base().div_euclid(BT);
            for bin in lo..lo + (b.window_len() as i64 / BT) {
                let got = idx.get(bin);
                assert_eq!(
                    got,
                    want.get(&bin).copied().unwrap_or((0, 0)),
                    "{at}: bin {bin}"
                );
            }
        };
        let mut b = Ladder::<true>::new(4096, 1024);
        b.index_bins(BT as u32);
        for p in (0..4096).step_by(7) {
            b.set(Ticks(p), Lots(p % 13 + 1));
        }
        check(&mut b, "filled");
        for nb in [1000, -3000, 10_000, 0] {
            b.rebase(nb);
            check(&mut b, "rebased");
        }
        b.clear();
        check(&mut b, "cleared");
        b.rebase(20_000);
        b.set(Ticks(20_005), Lots(3));
        check(&mut b, "empty, rebased, one level");
        b.set(Ticks(20_005), Lots(0));
        b.rebase(40_000);
        check(&mut b, "emptied level by level, rebased");
        b.set(Ticks(40_001), Lots(2));
        check(&mut b, "one level after");
    }

    /// A ladder made after others were dropped (their windows kept for reuse) starts
    /// empty, whatever those held, moved or cleared.
    #[test]
    fn ladders_start_empty_after_others_dropped() {
        for round in 0..4 {
            let mut b = Ladder::<true>::new(8192, 16);
            for p in (0..8192).step_by(3 + round) {
                b.set(Ticks(p), Lots(p + 1));
            }
            if round == 1 {
                b.rebase(1000); // levels shifted, some moved outside
            }
            if round == 2 {
                b.set(Ticks(9), Lots(0));
                b.clear();
            }
            drop(b);
            let fresh = Ladder::<false>::new(8192, 16);
            assert!(fresh.qty.iter().all(|&q| q == 0), "round {round}");
            assert!(
                fresh
                    .bits
                    .iter()
                    .chain(fresh.summary.iter())
                    .all(|&w| w == 0)
            );
            assert_eq!((fresh.len(), fresh.best()), (0, None));
        }
    }

    #[test]
    fn bins_sum_away_from_touch() {
        let mut a = Ladder::<false>::new(4096, 16);
        for (p, q) in [lv(100, 1), lv(101, 2), lv(103, 4), lv(110, 8)] {
            a.set(p, q);
        }
        let mut out = [0; 3];
        a.sum_bins(Ticks(100), 2, &mut out);
        assert_eq!(out, [3, 4, 0]);
    }
}
