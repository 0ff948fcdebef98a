//! What the book publishes for the signal: the touch and the depth per price bin of
//! each side, as one fixed-size `Copy` message (architecture.md: "publishes what the
//! signal needs as fixed-size views").
//!
//! Per side, bin `k` is `k` bins away from the touch's bin (bins are absolute,
//! `floor(price / bin_ticks)`), over the `limit` levels nearest the touch and at most
//! `bins` bins: the oracle's reading of the book. Built from the book's bin index in
//! O(bins) when the bins lie in the array window, else by walking the levels; both give
//! the same view (tested on recorded sessions).

use super::bins::BinIndex;
use super::ladder::Ladder;
use crate::core::Level;

/// Bins per side in the pipeline's view message.
pub const VIEW_BINS: usize = 128;

/// One side of a [`BookView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideView<const N: usize> {
    /// Absolute bin of the touch (bin 0).
    pub origin: i64,
    /// Bins covered by the counted levels (the last non-empty one + 1).
    pub n: u32,
    /// Resting volume of the counted levels, lots.
    pub volume: i64,
    /// Resting volume per bin (only the counted levels).
    pub qty: [i64; N],
    /// Price of the largest level of each non-empty bin (over the whole bin, ties to the
    /// level nearer the touch); 0 for empty bins.
    pub top: [i64; N],
}

impl<const N: usize> SideView<N> {
    const EMPTY: Self = Self {
        origin: 0,
        n: 0,
        volume: 0,
        qty: [0; N],
        top: [0; N],
    };
}

/// The book as the signal reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookView<const N: usize> {
    /// Best bid.
    pub best_bid: Option<Level>,
    /// Best ask.
    pub best_ask: Option<Level>,
    /// True while the book is in sync with the stream.
    pub live: bool,
    /// The sides' bins (`n`, `qty`, `top`) are filled. A gated view
    /// ([`crate::book::Book::fill_view_gated`]) leaves them out, or only the tops, when
    /// the book shows no pressure, the only time the oracle does not read them; its
    /// touch, origins and volumes are always there.
    pub full: bool,
    /// Bin width, ticks.
    pub bin_ticks: i64,
    /// Bids, binned from the touch down.
    pub bid: SideView<N>,
    /// Asks, binned from the touch up.
    pub ask: SideView<N>,
}

impl<const N: usize> Default for BookView<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> BookView<N> {
    /// A view of an empty book.
    pub const EMPTY: Self = Self {
        best_bid: None,
        best_ask: None,
        live: false,
        full: true,
        bin_ticks: 1,
        bid: SideView::EMPTY,
        ask: SideView::EMPTY,
    };
}

/// Bins one side into `out` (`bins` ≤ N) from the bin index when it covers the range,
/// else by walking.
///
/// # Hot path: no allocation; O(bins) from the index.
///
/// Returns true when the tops were left out and can still be added from the index
/// ([`fill_tops`]); the walk always fills them.
pub(crate) fn fill_side<const BID: bool, const N: usize>(
    l: &mut Ladder<BID>,
    bin_ticks: i64,
    bins: usize,
    limit: u32,
    tops: bool,
    out: &mut SideView<N>,
) -> bool {
    let bins = bins.min(N);
    let limit = limit.max(1);
    let Some(touch) = l.best() else {
        *out = SideView::EMPTY;
        return false;
    };
    let origin = touch.price.0.div_euclid(bin_ticks);
    out.origin = origin;
    let (lo_bin, hi_bin) = bin_span::<BID>(origin, bins);
    let span = span(lo_bin, hi_bin, bin_ticks);
    let indexed = l.bins.as_ref().is_some_and(|b| b.bin_ticks() == bin_ticks)
        && l.window_holds(span.0, span.1);
    if indexed {
        l.keep_bins(lo_bin, hi_bin);
        from_index(l, origin, bins, limit, out);
        if tops {
            index_tops(l, origin, bins, out);
        }
        !tops
    } else {
        walk(l, bin_ticks, origin, bins, limit, out);
        false
    }
}

/// The `bins` bins from `origin` away from the touch, lowest and highest (saturating:
/// absurd prices walk).
#[inline(always)]
fn bin_span<const BID: bool>(origin: i64, bins: usize) -> (i64, i64) {
    if BID {
        (origin.saturating_sub(bins as i64 - 1), origin)
    } else {
        (origin, origin.saturating_add(bins as i64 - 1))
    }
}

/// Ticks bins `lo_bin..=hi_bin` span, lowest and highest (saturating).
#[inline(always)]
fn span(lo_bin: i64, hi_bin: i64, bin_ticks: i64) -> (i64, i64) {
    (
        lo_bin.saturating_mul(bin_ticks),
        hi_bin
            .saturating_mul(bin_ticks)
            .saturating_add(bin_ticks - 1),
    )
}

/// A side's origin and volume without its bins, in O(1) from the ladder's nearest
/// levels ([`Ladder::nearest_within`]) when they end within the view's `bins` (`≤ N`)
/// and the window holds those bins: then they are the levels [`fill_side`] counts.
/// `None` when the bins must be read (the levels reach past the last bin, or did a
/// few views ago; the bins leave the window; the side is empty).
///
/// # Hot path: no allocation.
#[inline]
pub(crate) fn volume_side<const BID: bool>(
    l: &mut Ladder<BID>,
    bin_ticks: i64,
    bins: usize,
    limit: u32,
) -> Option<(i64, i64)> {
    let touch = l.best()?;
    let origin = touch.price.0.div_euclid(bin_ticks);
    let (lo_bin, hi_bin) = bin_span::<BID>(origin, bins);
    let (lo, hi) = span(lo_bin, hi_bin, bin_ticks);
    if !l.window_holds(lo, hi) {
        return None;
    }
    let volume = l.nearest_within(limit.max(1), lo, hi)?;
    Some((origin, volume))
}

/// The tops a [`fill_side`] without them left out, on the bins it filled.
pub(crate) fn fill_tops<const BID: bool, const N: usize>(
    l: &mut Ladder<BID>,
    bins: usize,
    out: &mut SideView<N>,
) {
    index_tops(l, out.origin, bins.min(N), out);
}

/// The view from the bin index: bin totals until `limit` levels, the last bin counted
/// level by level.
#[inline]
fn from_index<const BID: bool, const N: usize>(
    l: &mut Ladder<BID>,
    origin: i64,
    bins: usize,
    limit: u32,
    out: &mut SideView<N>,
) {
    let idx = l.bins.as_ref().expect("checked by the caller");
    let bt = idx.bin_ticks();
    let Runs {
        next: first,
        mut counted,
        mut n,
        mut volume,
    } = runs(idx, origin, bins, limit, out);
    for k in first..bins {
        let b = if BID {
            origin - k as i64
        } else {
            origin + k as i64
        };
        let (q, c) = idx.get(b);
        if c == 0 {
            out.qty[k] = 0;
            continue;
        }
        n = k + 1;
        if counted + c <= limit {
            out.qty[k] = q;
            volume = volume.saturating_add(q);
            counted += c;
            if counted == limit {
                break;
            }
        } else {
            // Only the first `limit - counted` levels of this bin, best first.
            let (mut take, mut sum) = (limit - counted, 0i64);
            let lo = b * bt;
            for i in 0..bt {
                let p = if BID { lo + bt - 1 - i } else { lo + i };
                let q = l.qty_at(crate::core::Ticks(p)).0;
                if q != 0 {
                    sum = sum.saturating_add(q);
                    take -= 1;
                    if take == 0 {
                        break;
                    }
                }
            }
            out.qty[k] = sum;
            volume = volume.saturating_add(sum);
            break;
        }
    }
    out.qty[n..bins].fill(0);
    out.n = n as u32;
    out.volume = volume;
}

/// What [`runs`] read: the first bin not read, the levels counted, the counted bins
/// (the last non-empty one + 1) and their volume.
struct Runs {
    next: usize,
    counted: u32,
    n: usize,
    volume: i64,
}

/// Bins read in runs of [`RUN`] from the index's columns, nearest first, while a run
/// lies on consecutive slots and cannot reach `limit` levels. Both sides' bins going
/// away from the touch lie on ascending slots ([`BinIndex::slot`]), so the runs are
/// found by their level counts alone and their quantities then copied and summed in
/// one pass each, with no branch per bin (per-run copies and sums kept a dozen values
/// in registers and spilled them). Gives what it read ([`Runs`]); [`from_index`] reads
/// on bin by bin from there, where the limit is reached or the slots wrap.
#[inline(always)]
fn runs<const BID: bool, const N: usize>(
    idx: &BinIndex<BID>,
    origin: i64,
    bins: usize,
    limit: u32,
    out: &mut SideView<N>,
) -> Runs {
    let (qty, levels) = idx.columns();
    let near = idx.slot(origin);
    // Whole runs on consecutive slots, within the view's bins.
    let end = bins.min(levels.len().saturating_sub(near)) / RUN * RUN;
    let (mut k, mut counted) = (0, 0u32);
    // The last run holding a level: the counted bins end in it.
    let mut last_nonempty = None;
    while k < end {
        // No overflow: the index's levels are the window's, fewer than its 2^30 ticks.
        let run_levels: u32 = levels[near + k..near + k + RUN].iter().sum();
        if u64::from(counted) + u64::from(run_levels) >= u64::from(limit) {
            break;
        }
        if run_levels != 0 {
            last_nonempty = Some(k);
        }
        counted += run_levels;
        k += RUN;
    }
    // An empty bin's quantity is 0: its levels' changes summed back to nothing.
    // Copied, or-ed and summed in one vectorised pass.
    let dst = &mut out.qty[..k];
    let (mut bits, mut sum) = (0u64, 0i64);
    for (d, &x) in dst.iter_mut().zip(&qty[near..near + k]) {
        *d = x;
        bits |= x as u64;
        sum = sum.wrapping_add(x);
    }
    // The sum stands when no quantity is negative or near overflow (at most N < 2^8
    // bins of < 2^55 each cannot overflow; the per-bin saturating adds then give the
    // same); else those adds.
    let volume = if bits < 1 << 55 && N < 1 << 8 {
        sum
    } else {
        dst.iter().fold(0i64, |v, &x| v.saturating_add(x))
    };
    let n = last_nonempty.map_or(0, |r| {
        let c = &levels[near + r..near + r + RUN];
        (0..RUN).rev().find(|&i| c[i] != 0).map_or(0, |i| r + i + 1)
    });
    Runs {
        next: k,
        counted,
        n,
        volume,
    }
}

/// Bins per run in [`runs`].
const RUN: usize = 8;

/// The largest level of every bin that could be a wall (a local maximum), from the
/// index: the part of a view only a pressed oracle reads.
#[inline]
fn index_tops<const BID: bool, const N: usize>(
    l: &mut Ladder<BID>,
    origin: i64,
    bins: usize,
    out: &mut SideView<N>,
) {
    let n = out.n as usize;
    out.top[..bins].fill(0);
    for k in 1..n.saturating_sub(1) {
        if could_be_wall(&out.qty, k) {
            let b = if BID {
                origin - k as i64
            } else {
                origin + k as i64
            };
            out.top[k] = l.bin_top(b);
        }
    }
}

/// Bin `k` is a local maximum of depth (`qty[k]` ≥ both neighbours, non-empty): every
/// peak the oracle can find (SciPy's plateau midpoints included) is one.
#[inline(always)]
fn could_be_wall(qty: &[i64], k: usize) -> bool {
    qty[k] > 0 && qty[k] >= qty[k - 1] && qty[k] >= qty[k + 1]
}

/// Bins one side by walking its levels best first: the reference.
pub(crate) fn walk_side<const BID: bool, const N: usize>(
    l: &Ladder<BID>,
    bin_ticks: i64,
    bins: usize,
    limit: u32,
    out: &mut SideView<N>,
) {
    let Some(touch) = l.best() else {
        *out = SideView::EMPTY;
        return;
    };
    let origin = touch.price.0.div_euclid(bin_ticks);
    out.origin = origin;
    walk(l, bin_ticks, origin, bins.min(N), limit.max(1), out);
}

/// The view by walking levels best first (the reference, and the fallback when the bins
/// reach outside the window).
fn walk<const BID: bool, const N: usize>(
    l: &Ladder<BID>,
    bt: i64,
    origin: i64,
    bins: usize,
    limit: u32,
    out: &mut SideView<N>,
) {
    out.qty[..bins].fill(0);
    out.top[..bins].fill(0);
    let mut top_q = 0i64;
    let (mut levels, mut n, mut volume) = (0u32, 0usize, 0i64);
    let (qty, top) = (&mut out.qty, &mut out.top);
    l.for_each(|lv| {
        let abs = lv.price.0.div_euclid(bt);
        let k = if BID {
            origin.saturating_sub(abs)
        } else {
            abs.saturating_sub(origin)
        } as usize;
        if k >= bins {
            return false;
        }
        if k + 1 != n {
            top_q = 0; // a new bin
        }
        qty[k] = qty[k].saturating_add(lv.qty.0);
        // Best first: on equal sizes the first seen is nearer the touch.
        if lv.qty.0 > top_q {
            top_q = lv.qty.0;
            top[k] = lv.price.0;
        }
        volume = volume.saturating_add(lv.qty.0);
        n = k + 1;
        levels += 1;
        levels < limit
    });
    out.n = n as u32;
    out.volume = volume;
    // Tops only where a wall can stand (as from the index). The last bin, which may hold
    // levels past `limit` the walk did not see, is never one: a peak needs a bin after it.
    for k in 0..n {
        if k == 0 || k + 1 >= n || !could_be_wall(&out.qty, k) {
            out.top[k] = 0;
        }
    }
}

/// `ask / (bid + ask)` in ppm (500,000 when both are empty): the book's pressure, as
/// the oracle reads it and as a gated view decides whether to fill its tops.
#[inline]
pub fn ask_share_ppm(bid: i64, ask: i64) -> u32 {
    let total = bid as i128 + ask as i128;
    if total <= 0 {
        return 500_000;
    }
    // A 64-bit division when the product fits (any real book): the 128-bit one is a
    // library call of ~60 instructions on every view.
    if (0..1 << 40).contains(&ask) && total < 1 << 40 {
        return (ask as u64 * 1_000_000 / total as u64) as u32;
    }
    (ask as i128 * 1_000_000 / total) as u32
}
