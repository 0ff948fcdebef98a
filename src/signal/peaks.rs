//! A peak finder with the results of `scipy.signal.find_peaks` for `height`,
//! `threshold`, `distance`, `prominence` (and `wlen`), each condition a minimum and an
//! optional maximum as SciPy allows.
//!
//! The steps and their order are SciPy's (`_peak_finding.py`, `_peak_finding_utils.pyx`):
//! 1. local maxima, flat plateaus reported at their middle (rounding down);
//! 2. `height` on the peak's value;
//! 3. `threshold` on the vertical distance to both neighbouring samples (the smaller
//!    must reach the minimum, the larger must not pass the maximum);
//! 4. `distance`: peaks taken by decreasing height, each removing the not yet removed
//!    peaks closer than `ceil(distance)` samples;
//! 5. `prominence` with SciPy's base search (walk out from the peak while samples stay
//!    at or below it, within `wlen` when given).
//!
//! One deliberate difference: SciPy orders step 4 with `np.argsort(heights)`, numpy's
//! *unstable* default sort, so among equal heights the winner depends on numpy's build
//! and CPU (an AVX-512 numpy differs from others even for four peaks). We order equal
//! heights by position, as a stable sort does: of two equal peaks too close together the
//! right one is taken first. `tools/gen_peak_vectors.py` marks the vectors where this
//! matters (31 of 3000) and `tests/peaks_scipy.rs` checks those against a stable-order
//! SciPy run and all others against SciPy itself.
//!
//! # Hot path: [`find_peaks_into`] writes into caller buffers and allocates nothing.

use std::ops::Sub;

/// A value the peak finder can compare and subtract: `f64` for analysis, `i64` for
/// volumes in lots on the hot path.
pub trait Sample: Copy + PartialOrd + Sub<Output = Self> {
    /// Zero.
    const ZERO: Self;

    /// An unsigned integer in the same order as the values, when there is one: the
    /// distance step then sorts plain integers instead of comparing samples through
    /// the peaks' indices.
    #[inline]
    fn order_key(self) -> Option<u64> {
        None
    }
}
impl Sample for f64 {
    const ZERO: Self = 0.0;
}
impl Sample for i64 {
    const ZERO: Self = 0;

    #[inline]
    fn order_key(self) -> Option<u64> {
        Some((self as u64) ^ (1 << 63))
    }
}

/// `[min, max]` condition; either end may be absent (SciPy's `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval<T> {
    /// Lower bound (inclusive).
    pub min: Option<T>,
    /// Upper bound (inclusive).
    pub max: Option<T>,
}

impl<T: Sample> Interval<T> {
    /// A minimum only, like passing a number to SciPy.
    pub fn at_least(min: T) -> Self {
        Self {
            min: Some(min),
            max: None,
        }
    }

    #[inline]
    fn contains(&self, v: T) -> bool {
        self.min.is_none_or(|m| m <= v) && self.max.is_none_or(|m| v <= m)
    }
}

/// The conditions of one search; `None` = not applied.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PeakParams<T> {
    /// Required height of the peak.
    pub height: Option<Interval<T>>,
    /// Required vertical distance to the neighbouring samples.
    pub threshold: Option<Interval<T>>,
    /// Minimal horizontal distance between peaks in samples (>= 1).
    pub distance: Option<f64>,
    /// Required prominence.
    pub prominence: Option<Interval<T>>,
    /// Window length for the prominence's base search (> 1), as SciPy's `wlen`.
    pub wlen: Option<f64>,
}

/// Why a search could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeakError {
    /// `distance` below 1 (SciPy raises the same).
    #[error("`distance` must be greater or equal to 1")]
    Distance,
    /// `wlen` of 1 or less.
    #[error("`wlen` must be larger than 1")]
    Wlen,
    /// The caller's buffers are shorter than `x.len() / 2 + 1`.
    #[error("peak buffers too small for {0} samples")]
    Buffers(usize),
}

/// Work space for [`find_peaks_into`], sized once for the longest signal.
#[derive(Debug, Clone)]
pub struct PeakScratch {
    order: Vec<u32>,
    /// Height key and index of each peak (integer samples).
    keys: Vec<u128>,
    keep: Vec<bool>,
}

impl PeakScratch {
    /// Space for signals of up to `max_len` samples.
    pub fn new(max_len: usize) -> Self {
        let n = max_len / 2 + 1;
        Self {
            order: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            keep: Vec::with_capacity(n),
        }
    }
}

/// Finds peaks of `x` into `out` (which needs `x.len() / 2 + 1` slots) and returns how
/// many there are. No allocation as long as `scratch` was made for at least `x.len()`.
///
/// # Errors
/// [`PeakError`] for a bad `distance` or `wlen`, or buffers too small.
pub fn find_peaks_into<T: Sample>(
    x: &[T],
    p: &PeakParams<T>,
    scratch: &mut PeakScratch,
    out: &mut [u32],
) -> Result<usize, PeakError> {
    if p.distance.is_some_and(|d| d.is_nan() || d < 1.0) {
        return Err(PeakError::Distance);
    }
    let wlen = match p.wlen {
        None => None,
        Some(w) if w > 1.0 => Some(w.ceil() as usize),
        Some(_) => return Err(PeakError::Wlen),
    };
    let cap = x.len() / 2 + 1;
    if out.len() < cap || scratch.order.capacity() < cap || scratch.keys.capacity() < cap {
        return Err(PeakError::Buffers(x.len()));
    }
    let threshold = |pk: usize, t: &Interval<T>| {
        let (l, r) = (x[pk] - x[pk - 1], x[pk] - x[pk + 1]);
        let (lo, hi) = if l < r { (l, r) } else { (r, l) };
        t.min.is_none_or(|m| m <= lo) && t.max.is_none_or(|m| hi <= m)
    };
    let mut n = 0;
    if let Some(t) = p.threshold.filter(|t| t.min.is_some_and(|m| m > T::ZERO)) {
        // Steps 1-3 in one pass. A positive minimum threshold keeps only peaks
        // standing strictly above both neighbours, and a plateau's middle has an equal
        // neighbour, so the peaks that pass are exactly the strict local maxima that
        // pass (the wall searches' case: most of the time of a pressed evaluation).
        for (k, w) in x.windows(3).enumerate() {
            if w[0] < w[1]
                && w[2] < w[1]
                && p.height.is_none_or(|h| h.contains(w[1]))
                && threshold(k + 1, &t)
            {
                out[n] = (k + 1) as u32;
                n += 1;
            }
        }
    } else {
        // 1. Local maxima (SciPy's `_local_maxima_1d`).
        let mut i = 1;
        let i_max = x.len().saturating_sub(1);
        while i < i_max {
            if x[i - 1] < x[i] {
                let mut ahead = i + 1;
                while ahead < i_max && x[ahead] == x[i] {
                    ahead += 1;
                }
                if x[ahead] < x[i] {
                    out[n] = ((i + ahead - 1) / 2) as u32;
                    n += 1;
                    i = ahead;
                }
            }
            i += 1;
        }
        // 2. Height.
        if let Some(h) = &p.height {
            n = retain(out, n, |pk| h.contains(x[pk]));
        }
        // 3. Threshold.
        if let Some(t) = &p.threshold {
            n = retain(out, n, |pk| threshold(pk, t));
        }
    }
    // 4. Distance, by decreasing height; equal heights by position (see module doc).
    if let Some(d) = p.distance {
        let d = d.ceil() as usize;
        let keep = &mut scratch.keep;
        keep.clear();
        keep.resize(n, true);
        // Peak `j` (by position) kept removes the peaks closer than `d`, unless it was
        // removed itself by one taken before.
        let mut take = |j: usize| {
            if !keep[j] {
                return;
            }
            let pj = out[j] as usize;
            let mut k = j;
            while k > 0 && pj - (out[k - 1] as usize) < d {
                keep[k - 1] = false;
                k -= 1;
            }
            let mut k = j + 1;
            while k < n && (out[k] as usize) - pj < d {
                keep[k] = false;
                k += 1;
            }
        };
        if n > 0 && x[out[0] as usize].order_key().is_some() {
            // Height then position as one integer: the same order, cheaper to sort.
            let keys = &mut scratch.keys;
            keys.clear();
            keys.extend((0..n).map(|j| {
                let h = x[out[j] as usize].order_key().unwrap_or(0);
                (h as u128) << 32 | j as u128
            }));
            keys.sort_unstable();
            for &k in keys.iter().rev() {
                take(k as u32 as usize);
            }
        } else {
            let order = &mut scratch.order;
            order.clear();
            order.extend(0..n as u32);
            order.sort_unstable_by(|&a, &b| {
                let (ha, hb) = (x[out[a as usize] as usize], x[out[b as usize] as usize]);
                ha.partial_cmp(&hb)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(&b))
            });
            for &j in order.iter().rev() {
                take(j as usize);
            }
        }
        let keep = &scratch.keep;
        let mut w = 0;
        for r in 0..n {
            if keep[r] {
                out[w] = out[r];
                w += 1;
            }
        }
        n = w;
    }
    // 5. Prominence.
    if let Some(pr) = &p.prominence {
        n = retain(out, n, |pk| pr.contains(prominence(x, pk, wlen)));
    }
    Ok(n)
}

/// Keeps the peaks of `out[..n]` that pass `f`, in order; returns the new count.
#[inline]
fn retain(out: &mut [u32], n: usize, mut f: impl FnMut(usize) -> bool) -> usize {
    let mut w = 0;
    for r in 0..n {
        if f(out[r] as usize) {
            out[w] = out[r];
            w += 1;
        }
    }
    w
}

/// SciPy's prominence of the peak at `peak`: the height above the higher of the lowest
/// points reached walking left and right while samples stay at or below the peak.
pub fn prominence<T: Sample>(x: &[T], peak: usize, wlen: Option<usize>) -> T {
    let (mut i_min, mut i_max) = (0, x.len() - 1);
    if let Some(w) = wlen {
        i_min = peak.saturating_sub(w / 2).max(i_min);
        i_max = (peak + w / 2).min(i_max);
    }
    let top = x[peak];
    let mut left_min = top;
    let mut i = peak as isize;
    while i >= i_min as isize && x[i as usize] <= top {
        if x[i as usize] < left_min {
            left_min = x[i as usize];
        }
        i -= 1;
    }
    let mut right_min = top;
    let mut i = peak;
    while i <= i_max && x[i] <= top {
        if x[i] < right_min {
            right_min = x[i];
        }
        i += 1;
    }
    top - if left_min > right_min {
        left_min
    } else {
        right_min
    }
}

/// [`find_peaks_into`] returning a `Vec` (cold path, tools and tests).
///
/// # Errors
/// As [`find_peaks_into`].
pub fn find_peaks<T: Sample>(x: &[T], p: &PeakParams<T>) -> Result<Vec<usize>, PeakError> {
    let mut scratch = PeakScratch::new(x.len());
    let mut out = vec![0u32; x.len() / 2 + 1];
    let n = find_peaks_into(x, p, &mut scratch, &mut out)?;
    Ok(out[..n].iter().map(|&v| v as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks(x: &[f64], p: PeakParams<f64>) -> Vec<usize> {
        find_peaks(x, &p).unwrap()
    }

    #[test]
    fn plateaus_report_their_middle_rounding_down() {
        // TC0: plateau of 2 → left of the two; of 3 → middle.
        assert_eq!(peaks(&[0., 1., 1., 0.], PeakParams::default()), vec![1]);
        assert_eq!(
            peaks(&[0., 2., 2., 2., 0., 1., 0.], PeakParams::default()),
            vec![2, 5]
        );
        // TC1: edges are never peaks; a plateau running into the edge is not one.
        assert_eq!(
            peaks(&[3., 1., 2., 2.], PeakParams::default()),
            Vec::<usize>::new()
        );
        assert_eq!(peaks(&[], PeakParams::default()), Vec::<usize>::new());
    }

    #[test]
    fn distance_keeps_the_highest_then_the_right_on_ties() {
        let x = [0., 5., 0., 4., 0., 5., 0.];
        let p = PeakParams {
            distance: Some(3.0),
            ..Default::default()
        };
        assert_eq!(peaks(&x, p), vec![1, 5]);
        let p = PeakParams {
            distance: Some(5.0),
            ..Default::default()
        };
        assert_eq!(peaks(&x, p), vec![5]);
        assert_eq!(
            find_peaks(
                &x,
                &PeakParams {
                    distance: Some(0.5),
                    ..Default::default()
                }
            ),
            Err(PeakError::Distance)
        );
    }

    #[test]
    fn prominence_uses_scipy_bases() {
        let x = [0., 3., 1., 2., 1., 4., 0.];
        assert_eq!(prominence(&x, 1, None), 2.0);
        assert_eq!(prominence(&x, 3, None), 1.0);
        assert_eq!(prominence(&x, 5, None), 4.0);
        assert_eq!(prominence(&x, 5, Some(3)), 3.0);
    }

    #[test]
    fn a_positive_threshold_in_one_pass_keeps_what_the_steps_keep() {
        // Lots with runs of equal values (plateaus) and heights; the one-pass search
        // (a positive threshold) against the peaks of the step-by-step search filtered
        // by the same threshold and height afterwards.
        let mut rng = fastrand::Rng::with_seed(11);
        let (mut found, mut plateaus) = (0, 0);
        for _ in 0..2_000 {
            let len = rng.usize(0..40);
            let mut x: Vec<i64> = Vec::with_capacity(len);
            while x.len() < len {
                let v = rng.i64(-5..6);
                for _ in 0..rng.usize(1..4).min(len - x.len()) {
                    x.push(v);
                }
            }
            plateaus += x.windows(2).filter(|w| w[0] == w[1]).count();
            let (m, h) = (rng.i64(1..4), rng.i64(-6..6));
            let height = rng.bool().then(|| Interval::at_least(h));
            let fused = PeakParams {
                height,
                threshold: Some(Interval::at_least(m)),
                ..Default::default()
            };
            let steps = find_peaks(&x, &PeakParams::default()).unwrap();
            let want: Vec<usize> = steps
                .into_iter()
                .filter(|&pk| {
                    let lo = (x[pk] - x[pk - 1]).min(x[pk] - x[pk + 1]);
                    lo >= m && height.is_none_or(|h| h.contains(x[pk]))
                })
                .collect();
            found += want.len();
            assert_eq!(find_peaks(&x, &fused).unwrap(), want, "{x:?} m={m}");
        }
        assert!(
            found > 1_000 && plateaus > 1_000,
            "{found} peaks, {plateaus}"
        );
    }

    #[test]
    fn integer_distance_keeps_what_float_distance_keeps() {
        // Integer heights take the distance step's integer sort; floats, checked
        // against SciPy, the comparing one. Few distinct heights: many ties, where the
        // right peak goes first.
        let mut rng = fastrand::Rng::with_seed(5);
        let mut removed = 0;
        for _ in 0..3_000 {
            let x: Vec<i64> = (0..rng.usize(0..60)).map(|_| rng.i64(-4..5)).collect();
            let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let d = 1.0 + rng.f64() * 6.0;
            let by = |distance| PeakParams::<i64> {
                distance,
                ..Default::default()
            };
            let got = find_peaks(&x, &by(Some(d))).unwrap();
            let want = peaks(
                &xf,
                PeakParams {
                    distance: Some(d),
                    ..Default::default()
                },
            );
            assert_eq!(got, want, "{x:?} d={d}");
            removed += find_peaks(&x, &by(None)).unwrap().len() - got.len();
        }
        assert!(removed > 1_000, "{removed}");
    }

    #[test]
    fn integer_samples_allocate_nothing_and_agree_with_floats() {
        let xi: Vec<i64> = vec![0, 7, 7, 1, 9, 2, 2, 8, 0];
        let xf: Vec<f64> = xi.iter().map(|&v| v as f64).collect();
        let mut s = PeakScratch::new(xi.len());
        let mut out = [0u32; 5];
        let p = PeakParams {
            height: Some(Interval::at_least(3)),
            distance: Some(2.0),
            ..Default::default()
        };
        let n = find_peaks_into(&xi, &p, &mut s, &mut out).unwrap();
        let pf = PeakParams {
            height: Some(Interval::at_least(3.0)),
            distance: Some(2.0),
            ..Default::default()
        };
        assert_eq!(
            out[..n].iter().map(|&v| v as usize).collect::<Vec<_>>(),
            peaks(&xf, pf)
        );
    }
}
