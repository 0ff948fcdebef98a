//! Depth per price bin, kept up to date as levels change, so the signal's view of the
//! book costs O(bins) instead of a walk over hundreds of levels on every update.
//!
//! Bins are absolute (`floor(price / bin_ticks)`), the same axis as the traded-volume
//! profile. Only levels inside the ladder's array window are indexed: a window holds at
//! most `window / bin_ticks + 1` bins, so a power-of-two ring of bins at least that long
//! never has two live bins on one slot. The view falls back to walking levels when it
//! reaches past the window.
//!
//! Only a range of bins is kept: the bins views read lately (see
//! [`crate::book::ladder`]'s `keep_bins`). A level change outside it costs one compare
//! instead of a division and four writes: most views of a book that is not pressed read
//! no bins at all (they take the volumes kept level by level), and the index is filled
//! again, for the bins asked, when a view next reads it. Forgetting the range is O(1),
//! so the window's moves and snapshots no longer clear or rebuild the whole index.
//!
//! Per bin: resting quantity, level count, and the largest level (price and size) with
//! a dirty flag: a change that can only lower the maximum marks the bin dirty and the
//! next reader rescans its `bin_ticks` slots. Ties go to the level nearer the touch.

/// The largest level of one bin, with the flag that says it must be found again.
#[derive(Debug, Clone, Copy)]
struct Top {
    px: i64,
    qty: i64,
    dirty: bool,
}

const NO_TOP: Top = Top {
    px: 0,
    qty: 0,
    dirty: true,
};

/// The bin index of one side. Quantities and level counts are kept apart from the
/// tops: a view reads only those two, 12 bytes a bin in runs of consecutive slots,
/// where one 32-byte record per bin made it read the tops' bytes too.
pub(crate) struct BinIndex<const BID: bool> {
    bin_ticks: i64,
    mask: usize,
    qty: Box<[i64]>,
    levels: Box<[u32]>,
    tops: Box<[Top]>,
    /// The bins kept up to date, absolute, `lo..=hi` (empty when `lo > hi`); the other
    /// slots hold stale figures that no one reads.
    fresh: (i64, i64),
    /// The same bins as window slots of the ladder (first slot, count): a level change
    /// is indexed when its slot lies there, one compare on the hot path.
    keep: (usize, usize),
    /// Views since one last read the bins (see [`BinIndex::idle`]).
    idle: u32,
}

/// Views that read no bins after which the index stops being kept: a book that is not
/// pressed then pays one compare a level change, and the next view that reads bins
/// fills the ones it reads (O(levels there)).
const IDLE_VIEWS: u32 = 64;

impl<const BID: bool> BinIndex<BID> {
    /// An index of `bin_ticks`-wide bins for a window of `window` ticks.
    pub fn new(bin_ticks: u32, window: usize) -> Self {
        let bin_ticks = bin_ticks.max(1) as i64;
        let n = (window / bin_ticks as usize + 2).next_power_of_two();
        let (qty, levels, tops) = SPARE.take(|b| b.0.len() == n).unwrap_or_else(|| {
            (
                vec![0; n].into_boxed_slice(),
                vec![0; n].into_boxed_slice(),
                vec![NO_TOP; n].into_boxed_slice(),
            )
        });
        Self {
            bin_ticks,
            mask: n - 1,
            qty,
            levels,
            tops,
            fresh: EMPTY_RANGE,
            keep: (0, 0),
            idle: 0,
        }
    }

    #[inline(always)]
    pub fn bin_ticks(&self) -> i64 {
        self.bin_ticks
    }

    /// Absolute bin of a price.
    #[inline(always)]
    pub fn bin_of(&self, price: i64) -> i64 {
        price.div_euclid(self.bin_ticks)
    }

    /// The slot of absolute bin `bin` (slots wrap: a power-of-two ring). Bids' bins are
    /// laid out from the top down, so on both sides the bins going away from the touch
    /// lie on ascending slots and a view copies them forward.
    #[inline(always)]
    pub fn slot(&self, bin: i64) -> usize {
        (if BID { bin.wrapping_neg() } else { bin }) as usize & self.mask
    }

    /// Every slot's resting quantity and level count, for reading runs of bins (away
    /// from the touch on ascending slots, see [`Self::slot`]).
    #[inline(always)]
    pub fn columns(&self) -> (&[i64], &[u32]) {
        (&self.qty, &self.levels)
    }

    /// True when `a` is nearer the touch than `b` (ties between equal sizes).
    #[inline(always)]
    fn nearer(a: i64, b: i64) -> bool {
        if BID { a > b } else { a < b }
    }

    /// True when a change at window slot `i` must be indexed (its bin is kept).
    #[inline(always)]
    pub fn keeps(&self, i: usize) -> bool {
        i.wrapping_sub(self.keep.0) < self.keep.1
    }

    /// The bins kept up to date, `lo..=hi` (empty when `lo > hi`).
    #[inline(always)]
    pub fn fresh(&self) -> (i64, i64) {
        self.fresh
    }

    /// Keeps bins `lo..=hi` from now on, which lie on window slots `keep` (first,
    /// count); the caller has filled every bin of the range it did not keep before
    /// ([`BinIndex::reset`], then [`BinIndex::on_change`] per level).
    pub fn set_fresh(&mut self, (lo, hi): (i64, i64), keep: (usize, usize)) {
        self.fresh = (lo, hi);
        self.keep = keep;
        self.idle = 0;
    }

    /// A view reads the kept bins.
    #[inline(always)]
    pub fn read(&mut self) {
        self.idle = 0;
    }

    /// Empties bin `bin` before its levels are added again.
    #[inline]
    pub fn reset(&mut self, bin: i64) {
        let s = self.slot(bin);
        self.qty[s] = 0;
        self.levels[s] = 0;
        self.tops[s] = NO_TOP;
    }

    /// A view did not read the bins; after [`IDLE_VIEWS`] of them in a row the index
    /// stops being kept.
    #[inline]
    pub fn idle(&mut self) {
        self.idle += 1;
        if self.idle >= IDLE_VIEWS {
            self.clear();
        }
    }

    /// A level at `price` changed from `old` to `new` (lots). The caller indexes only
    /// kept slots ([`BinIndex::keeps`]).
    ///
    /// # Hot path: O(1), no allocation.
    #[inline(always)]
    pub fn on_change(&mut self, price: i64, old: i64, new: i64) {
        let s = self.slot(self.bin_of(price));
        self.qty[s] = self.qty[s].wrapping_add(new.wrapping_sub(old));
        match (old == 0, new == 0) {
            (true, false) => self.levels[s] += 1,
            (false, true) => self.levels[s] -= 1,
            _ => {}
        }
        let b = &mut self.tops[s];
        if b.dirty {
            return;
        }
        if new > b.qty || (new == b.qty && Self::nearer(price, b.px)) {
            b.px = price;
            b.qty = new;
        } else if price == b.px {
            // The largest level shrank: another may be larger now.
            b.dirty = true;
        }
    }

    /// Resting quantity and level count of absolute bin `bin`.
    #[inline(always)]
    pub fn get(&self, bin: i64) -> (i64, u32) {
        let s = self.slot(bin);
        (self.qty[s], self.levels[s])
    }

    /// Price of the largest level in `bin`, rescanning it with `qty_at` when dirty.
    /// Matches a scan of every tick of the bin from the touch outward, ties to the
    /// nearer tick (an empty bin answers its tick nearest the touch).
    #[inline]
    pub fn top(&mut self, bin: i64, qty_at: impl Fn(i64) -> i64) -> i64 {
        let bt = self.bin_ticks;
        let s = self.slot(bin);
        let b = &mut self.tops[s];
        if b.dirty {
            let lo = bin * bt;
            let mut best = (if BID { lo + bt - 1 } else { lo }, -1i64);
            for p in lo..lo + bt {
                let q = qty_at(p);
                if q > best.1 || (q == best.1 && Self::nearer(p, best.0)) {
                    best = (p, q);
                }
            }
            b.px = best.0;
            b.qty = best.1.max(0);
            b.dirty = false;
        }
        b.px
    }

    /// Maps every page of the index now (see [`crate::core::prefault`]). Cold.
    pub fn prefault(&mut self) {
        crate::core::prefault(&mut self.qty);
        crate::core::prefault(&mut self.levels);
        crate::core::prefault(&mut self.tops);
    }

    /// Keeps no bin (O(1): the next view that reads bins fills the ones it reads).
    pub fn clear(&mut self) {
        self.fresh = EMPTY_RANGE;
        self.keep = (0, 0);
        self.idle = 0;
    }
}

/// No bin kept.
const EMPTY_RANGE: (i64, i64) = (0, -1);

/// A dropped index's arrays, as they were.
type Arrays = (Box<[i64]>, Box<[u32]>, Box<[Top]>);

/// The arrays of dropped indexes, for the next index of the same size: nothing reads a
/// bin that is not kept, and a bin is reset before it is kept again, so they need no
/// clearing (a new book zeroed ~1 MB otherwise).
static SPARE: super::spare::Spares<Arrays> = super::spare::Spares::new(8);

impl<const BID: bool> Drop for BinIndex<BID> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let arrays = (
            std::mem::take(&mut self.qty),
            std::mem::take(&mut self.levels),
            std::mem::take(&mut self.tops),
        );
        SPARE.give(arrays);
    }
}
