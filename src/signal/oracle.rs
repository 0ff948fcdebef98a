//! The oracle: pressure, walls and voids on binned book and traded volume, and the
//! front-running entry with take profit and stop loss (product.md's steps 3-8; steps
//! 1-2 belong to the risk manager, which knows the open operations).
//!
//! Axis: absolute price bins of `bin_ticks` ticks (`floor(price / bin_ticks)`), the same
//! bins as the traded-volume profile. Each side is read from its touch outward: bid bin
//! `k` is `k` bins below the best bid's bin, ask bin `k` above the best ask's, over the
//! `limit_orderbook` nearest levels and at most `bins` bins. Every choice the seed
//! leaves open is written down in `docs/strategy.md`.
//!
//! # Hot path: [`Oracle::evaluate`] works in buffers sized in [`Oracle::new`]; no allocation.

use super::peaks::{Interval, PeakParams, PeakScratch, find_peaks_into};
use super::profile::TradeProfile;
use crate::book::{Book, BookView};
use crate::core::{SymbolSpec, Ticks};
use crate::strategy::{MAX_BINS, Strategy};

/// Direction of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy first, sell higher.
    Long,
    /// Sell first, buy back lower.
    Short,
}

/// A proposed operation, before the risk manager sizes and vets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    /// Direction.
    pub side: Side,
    /// Limit entry, one order tick in front of the support wall.
    pub entry: Ticks,
    /// Take profit, one order tick in front of the next wall in the move's direction.
    pub take_profit: Ticks,
    /// Stop loss, behind the support wall by `stop_loss_price_buffer`.
    pub stop_loss: Ticks,
    /// Price of the largest level in the wall the entry leans on.
    pub support_wall: Ticks,
    /// Price of the largest level in the wall the move heads for.
    pub target_wall: Ticks,
    /// Lowest price of the clean void's bin (in the move's direction).
    pub void_price: Ticks,
    /// Bins from the touch to the target wall (the clean stretch).
    pub void_width_bins: u32,
    /// Ask share of the `limit_orderbook` nearest levels, ppm.
    pub pressure_ppm: u32,
}

/// Why an evaluation proposed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSignal {
    /// The book is not in sync.
    BookNotLive,
    /// A side of the book is empty.
    EmptySide,
    /// Pressure between `long_pressure` and `short_pressure`.
    NoPressure,
    /// No wall to lean on, on the side the entry needs.
    NoSupportWall,
    /// No wall in the move's direction for the take profit.
    NoTargetWall,
    /// No void between the touch and the target wall.
    NoVoid,
    /// A traded-volume wall stands between the touch and the target.
    TradedWallInTheWay,
    /// Price is further from the support wall than the void is wide.
    OutOfEntryRange,
    /// Entry, take profit and stop loss are not in the right order on the grid.
    BadPrices,
}

/// Per-side work arrays (the book's bins come from the view).
struct SideBins {
    traded: Box<[i64]>,
    neg_total: Box<[i64]>,
    walls: Box<[u32]>,
    n_walls: usize,
    voids: Box<[u32]>,
    n_voids: usize,
    traded_peaks: Box<[u32]>,
    n_traded_peaks: usize,
}

impl SideBins {
    fn new() -> Self {
        let z = || vec![0i64; MAX_BINS].into_boxed_slice();
        let p = || vec![0u32; MAX_BINS / 2 + 1].into_boxed_slice();
        Self {
            traded: z(),
            neg_total: z(),
            walls: p(),
            n_walls: 0,
            voids: p(),
            n_voids: 0,
            traded_peaks: p(),
            n_traded_peaks: 0,
        }
    }
}

/// The oracle for one symbol.
pub struct Oracle {
    bin_ticks: i64,
    bins: usize,
    limit_levels: u32,
    rt_milli: i64,
    pdd_milli: i64,
    /// The seed's `height` and `prominence` for voids, in lots.
    void_height: i64,
    void_prominence: i64,
    short_ppm: u32,
    long_ppm: u32,
    sl_buffer_ppm: i64,
    order_tick: i64,
    last_pressure: u32,
    bid: SideBins,
    ask: SideBins,
    scratch: PeakScratch,
    /// View buffer for [`Oracle::evaluate`] (the pipeline hands views in instead).
    view: Box<BookView<MAX_BINS>>,
    /// The searches run compiled for AVX2 (the CPU has it, and nobody asked otherwise).
    avx2: bool,
}

impl Oracle {
    /// An oracle for `strategy` on `spec`'s grids (its order tick, and its lot for the
    /// void conditions, which the file gives in quantity units).
    pub fn new(s: &Strategy, spec: &SymbolSpec) -> Self {
        let order_tick = spec.price.step();
        let lots = |e8: i64| {
            // At least `e8`: quantities are whole lots, so round up.
            let scaled = e8 as i128 * 10i128.pow(u32::from(spec.qty.decimals()));
            scaled.div_euclid(100_000_000) + i128::from(scaled.rem_euclid(100_000_000) != 0)
        };
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        Self {
            bin_ticks: s.bin_ticks.max(1) as i64,
            bins: (s.bins as usize).min(MAX_BINS),
            limit_levels: s.limit_orderbook,
            rt_milli: s.relative_threshold_milli.max(1) as i64,
            pdd_milli: s.peak_distance_divisor_milli.max(1) as i64,
            void_height: clamp(lots(s.void_height_e8)),
            void_prominence: clamp(lots(s.void_prominence_e8)),
            short_ppm: s.short_pressure_ppm,
            long_ppm: s.long_pressure_ppm,
            sl_buffer_ppm: s.stop_loss_buffer_ppm as i64,
            order_tick: order_tick.0.max(1),
            last_pressure: 500_000,
            bid: SideBins::new(),
            ask: SideBins::new(),
            scratch: PeakScratch::new(MAX_BINS),
            view: Box::new(BookView::EMPTY),
            avx2: avx2_detected(),
        }
    }

    /// Runs the searches compiled for AVX2 when the CPU has it (the default), or for
    /// baseline x86-64 always (`false`): a test compares the two. Cold.
    pub fn use_avx2(&mut self, on: bool) {
        self.avx2 = on && avx2_detected();
    }

    /// Bin width (ticks), bins per side and levels per side this oracle reads: the
    /// arguments of [`Book::fill_view`] for the views it is given.
    pub fn view_shape(&self) -> (i64, usize, u32) {
        (self.bin_ticks, self.bins, self.limit_levels)
    }

    /// Ask share of the nearest `limit_orderbook` levels from the last evaluation that
    /// got that far, ppm.
    pub fn last_pressure_ppm(&self) -> u32 {
        self.last_pressure
    }

    /// Reads `book` (walking its levels) and the traded-volume profile. Cold-path
    /// convenience for tools; the pipeline builds views in the book stage and calls
    /// [`Oracle::evaluate_view`].
    pub fn evaluate(&mut self, book: &Book, traded: &TradeProfile) -> Result<Intent, NoSignal> {
        let mut view = std::mem::replace(&mut self.view, Box::new(BookView::EMPTY));
        book.fill_view_walked(self.bin_ticks, self.bins, self.limit_levels, &mut view);
        let r = self.evaluate_view(&view, traded);
        self.view = view;
        r
    }

    /// Reads a view of the book (built with [`Oracle::view_shape`]) and the
    /// traded-volume profile, and proposes an operation or says why not.
    ///
    /// # Hot path: no allocation. Pressure is decided first, from the two volumes, so
    /// the peak searches run only when a side is pressed.
    pub fn evaluate_view<const N: usize>(
        &mut self,
        view: &BookView<N>,
        traded: &TradeProfile,
    ) -> Result<Intent, NoSignal> {
        if !view.live {
            return Err(NoSignal::BookNotLive);
        }
        let (Some(best_bid), Some(best_ask)) = (view.best_bid, view.best_ask) else {
            return Err(NoSignal::EmptySide);
        };
        let pressure = crate::book::ask_share_ppm(view.bid.volume, view.ask.volume);
        self.last_pressure = pressure;
        let side = if pressure >= self.short_ppm {
            Side::Short
        } else if pressure <= self.long_ppm {
            Side::Long
        } else {
            return Err(NoSignal::NoPressure);
        };
        // A gated view has its bins and tops whenever the book is pressed by the same
        // thresholds (the book stage takes them from the same strategy); without them
        // the wall search finds nothing and nothing is traded.
        debug_assert!(view.full, "a pressed view without its bins and tops");
        self.search(view, traded, side, (best_bid, best_ask), pressure)
    }

    /// Runs a pressed evaluation's searches on `view` (a full one) as if it leaned to
    /// `side`, and forgets the result: keeps the searches' code and tables in cache
    /// between market events that leave the book unpressed, or that come far apart.
    /// Changes nothing a caller reads: the last pressure stays, and the walls it
    /// finds are overwritten by the next evaluation before [`Oracle::reading`] reads
    /// them.
    pub fn warm<const N: usize>(&mut self, view: &BookView<N>, traded: &TradeProfile, side: Side) {
        if let (true, Some(bid), Some(ask)) = (view.live && view.full, view.best_bid, view.best_ask)
        {
            let r = self.search(view, traded, side, (bid, ask), self.last_pressure);
            std::hint::black_box(r.ok());
        }
    }

    /// The walls, void and prices of an operation on `side` (the part of an
    /// evaluation after its pressure is known). Not inlined, so that a warm-up runs
    /// the very code an evaluation runs.
    ///
    /// On a CPU with AVX2 (chosen at run time: the default build targets baseline
    /// x86-64) the same code runs compiled for it: its folds over 100 bins of `i64`
    /// (the peak parameters' minimum and maximum, the totals) vectorise there and not
    /// on SSE2, which has no 64-bit compare. Integer code: the results are the same.
    #[inline(never)]
    fn search<const N: usize>(
        &mut self,
        view: &BookView<N>,
        traded: &TradeProfile,
        side: Side,
        touch: (crate::core::Level, crate::core::Level),
        pressure: u32,
    ) -> Result<Intent, NoSignal> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the CPU has AVX2 (`avx2_detected` said so when this was set).
            return unsafe { self.search_avx2(view, traded, side, touch, pressure) };
        }
        self.search_in(view, traded, side, touch, pressure)
    }

    /// [`Self::search`] compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn search_avx2<const N: usize>(
        &mut self,
        view: &BookView<N>,
        traded: &TradeProfile,
        side: Side,
        touch: (crate::core::Level, crate::core::Level),
        pressure: u32,
    ) -> Result<Intent, NoSignal> {
        self.search_in(view, traded, side, touch, pressure)
    }

    /// [`Self::search`]'s body, inlined into each of its builds.
    #[inline(always)]
    fn search_in<const N: usize>(
        &mut self,
        view: &BookView<N>,
        traded: &TradeProfile,
        side: Side,
        (best_bid, best_ask): (crate::core::Level, crate::core::Level),
        pressure: u32,
    ) -> Result<Intent, NoSignal> {
        let long = side == Side::Long;
        let (support_v, target_v) = if long {
            (&view.bid, &view.ask)
        } else {
            (&view.ask, &view.bid)
        };
        // The support side needs only its walls; the target side its walls, voids and
        // traded peaks.
        let (support, target) = if long {
            (&mut self.bid, &mut self.ask)
        } else {
            (&mut self.ask, &mut self.bid)
        };
        let scratch = &mut self.scratch;
        let (rt, pdd) = (self.rt_milli, self.pdd_milli);
        let sn = support_v.n as usize;
        support.n_walls = find_peaks_into(
            &support_v.qty[..sn],
            &params(&support_v.qty[..sn], rt, pdd),
            scratch,
            &mut support.walls,
        )
        .unwrap_or(0);
        let support_bin = *support.walls[..support.n_walls]
            .first()
            .ok_or(NoSignal::NoSupportWall)?;
        let tn = target_v.n as usize;
        let book = &target_v.qty[..tn];
        target.n_walls =
            find_peaks_into(book, &params(book, rt, pdd), scratch, &mut target.walls).unwrap_or(0);
        let target_bin = *target.walls[..target.n_walls]
            .first()
            .ok_or(NoSignal::NoTargetWall)?;
        traded.totals_into(target_v.origin, long, &mut target.traded[..tn]);
        // −(resting + traded) per bin: plain sums when no value is negative or near
        // overflow (every real book), so the loop vectorises; else saturating.
        let (row, neg) = (&target.traded[..tn], &mut target.neg_total[..tn]);
        let bits = book
            .iter()
            .zip(row)
            .fold(0u64, |a, (&d, &t)| a | d as u64 | t as u64);
        if bits < 1 << 61 {
            for ((n, &d), &t) in neg.iter_mut().zip(book).zip(row) {
                *n = -(d + t);
            }
        } else {
            for ((n, &d), &t) in neg.iter_mut().zip(book).zip(row) {
                *n = -d.saturating_add(t);
            }
        }
        let y = &target.neg_total[..tn];
        let void_params = PeakParams {
            height: Some(Interval::at_least(self.void_height)),
            distance: None,
            prominence: (self.void_prominence > 0)
                .then(|| Interval::at_least(self.void_prominence)),
            ..params(y, rt, pdd)
        };
        target.n_voids = find_peaks_into(y, &void_params, scratch, &mut target.voids).unwrap_or(0);
        let void_bin = *target.voids[..target.n_voids]
            .iter()
            .find(|&&v| v < target_bin)
            .ok_or(NoSignal::NoVoid)?;
        let y = &target.traded[..tn];
        target.n_traded_peaks =
            find_peaks_into(y, &params(y, rt, pdd), scratch, &mut target.traded_peaks).unwrap_or(0);
        let wall_vol = book[target_bin as usize];
        if target.traded_peaks[..target.n_traded_peaks]
            .iter()
            .any(|&t| t < target_bin && target.traded[t as usize] >= wall_vol)
        {
            return Err(NoSignal::TradedWallInTheWay);
        }
        let support_wall = Ticks(support_v.top[support_bin as usize]);
        let target_wall = Ticks(target_v.top[target_bin as usize]);
        let void_abs = if long {
            target_v.origin + void_bin as i64
        } else {
            target_v.origin - void_bin as i64
        };
        let void_price = Ticks(void_abs * self.bin_ticks);
        let step = self.order_tick;
        let width_ticks = target_bin as i64 * self.bin_ticks;
        let (entry, take_profit, stop_loss, in_range);
        if long {
            entry = (support_wall.0.div_euclid(step) + 1) * step;
            take_profit = (target_wall.0 - 1).div_euclid(step) * step;
            let buffer = (entry as i128 * self.sl_buffer_ppm as i128 / 1_000_000) as i64;
            stop_loss = (support_wall.0 - buffer - 1).div_euclid(step) * step;
            in_range = best_bid.price.0 <= entry + width_ticks;
        } else {
            entry = (support_wall.0 - 1).div_euclid(step) * step;
            take_profit = (target_wall.0.div_euclid(step) + 1) * step;
            let buffer = (entry as i128 * self.sl_buffer_ppm as i128 / 1_000_000) as i64;
            stop_loss = (support_wall.0 + buffer).div_euclid(step) * step + step;
            in_range = best_ask.price.0 >= entry - width_ticks;
        }
        if !in_range {
            return Err(NoSignal::OutOfEntryRange);
        }
        let ordered = if long {
            stop_loss < entry && entry < take_profit && entry < best_ask.price.0
        } else {
            take_profit < entry && entry < stop_loss && entry > best_bid.price.0
        };
        if !ordered || stop_loss <= 0 || take_profit <= 0 {
            return Err(NoSignal::BadPrices);
        }
        Ok(Intent {
            side,
            entry: Ticks(entry),
            take_profit: Ticks(take_profit),
            stop_loss: Ticks(stop_loss),
            support_wall,
            target_wall,
            void_price,
            void_width_bins: target_bin,
            pressure_ppm: pressure,
        })
    }
}

/// What the oracle read to propose its last operation, for pictures (`minerva
/// report`'s decision panel; the seed's "plot orderbook, threshold, peaks"). Bins are
/// counted from the touch outwards; absolute bin `origin ± k` (asks +, bids −) is
/// `bin × bin_ticks` ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The side proposed.
    pub side: Side,
    /// Bin width, ticks.
    pub bin_ticks: i64,
    /// The support side (bids for a long): touch bin, resting lots per bin, walls
    /// found (bins), and the threshold a wall stands above both neighbours by.
    pub support: (i64, Vec<i64>, Vec<u32>, i64),
    /// The target side: the same, and its traded lots per bin, the voids found in
    /// −(resting + traded) and their threshold.
    pub target: (i64, Vec<i64>, Vec<u32>, i64),
    /// Traded lots per target bin (the volume window's).
    pub traded: Vec<i64>,
    /// Voids (target bins) and the threshold they stand below both neighbours by.
    pub voids: (Vec<u32>, i64),
}

impl Oracle {
    /// What the evaluation of `view` that just proposed an operation on `side` read.
    /// Cold: copies for pictures; call it right after [`Oracle::evaluate_view`]
    /// returned an intent, with the same view.
    pub fn reading<const N: usize>(&self, view: &BookView<N>, side: Side) -> Reading {
        let long = side == Side::Long;
        let (support_v, target_v) = if long {
            (&view.bid, &view.ask)
        } else {
            (&view.ask, &view.bid)
        };
        let (support, target) = if long {
            (&self.bid, &self.ask)
        } else {
            (&self.ask, &self.bid)
        };
        let threshold = |y: &[i64]| {
            params(y, self.rt_milli, self.pdd_milli)
                .threshold
                .and_then(|t| t.min)
                .unwrap_or(0)
        };
        let (sn, tn) = (support_v.n as usize, target_v.n as usize);
        Reading {
            side,
            bin_ticks: self.bin_ticks,
            support: (
                support_v.origin,
                support_v.qty[..sn].to_vec(),
                support.walls[..support.n_walls].to_vec(),
                threshold(&support_v.qty[..sn]),
            ),
            target: (
                target_v.origin,
                target_v.qty[..tn].to_vec(),
                target.walls[..target.n_walls].to_vec(),
                threshold(&target_v.qty[..tn]),
            ),
            traded: target.traded[..tn].to_vec(),
            voids: (
                target.voids[..target.n_voids].to_vec(),
                threshold(&target.neg_total[..tn]),
            ),
        }
    }
}

/// One side of the book as the oracle would read it now, whichever way it leans (for
/// the live view: walls and voids on both sides, not only the pressed one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideSurvey {
    /// Absolute bin of the touch (bin 0); bin `k` is `origin ± k` (asks +, bids −).
    pub origin: i64,
    /// Resting lots per bin from the touch outward.
    pub qty: Vec<i64>,
    /// Traded lots per bin in the volume window.
    pub traded: Vec<i64>,
    /// Walls: bins standing `wall_threshold` above both neighbours.
    pub walls: Vec<u32>,
    /// The threshold a wall stands above both neighbours by, lots.
    pub wall_threshold: i64,
    /// Voids: bins of −(resting + traded) standing `void_threshold` below both neighbours.
    pub voids: Vec<u32>,
    /// The threshold a void stands below both neighbours by, lots.
    pub void_threshold: i64,
}

/// Both sides of a view read with the oracle's own peak rules, and its pressure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// Ask share of the counted volume, ppm.
    pub pressure_ppm: u32,
    /// The side the pressure asks for, if any.
    pub leaning: Option<Side>,
    /// Bin width, ticks.
    pub bin_ticks: i64,
    /// Bids, from the touch down.
    pub bid: SideSurvey,
    /// Asks, from the touch up.
    pub ask: SideSurvey,
}

impl Oracle {
    /// Reads both sides of `view` with the evaluation's peak rules (walls on resting
    /// volume, voids on −(resting + traded)); `traded_in_bin` gives the traded lots of
    /// an absolute bin. Cold: allocates, for the live view's publisher thread.
    pub fn survey<const N: usize>(
        &self,
        view: &BookView<N>,
        traded_in_bin: impl Fn(i64) -> i64,
    ) -> Survey {
        let pressure_ppm = crate::book::ask_share_ppm(view.bid.volume, view.ask.volume);
        let leaning = if pressure_ppm >= self.short_ppm {
            Some(Side::Short)
        } else if pressure_ppm <= self.long_ppm {
            Some(Side::Long)
        } else {
            None
        };
        let (rt, pdd) = (self.rt_milli, self.pdd_milli);
        let side = |v: &crate::book::SideView<N>, up: bool| {
            let n = (v.n as usize).min(N);
            let qty = v.qty[..n].to_vec();
            let traded: Vec<i64> = (0..n as i64)
                .map(|k| traded_in_bin(if up { v.origin + k } else { v.origin - k }))
                .collect();
            let wall_params = params(&qty, rt, pdd);
            let walls = super::peaks::find_peaks(&qty, &wall_params).unwrap_or_default();
            let neg: Vec<i64> = qty
                .iter()
                .zip(&traded)
                .map(|(q, t)| -q.saturating_add(*t))
                .collect();
            let void_params = PeakParams {
                height: Some(Interval::at_least(self.void_height)),
                distance: None,
                prominence: (self.void_prominence > 0)
                    .then(|| Interval::at_least(self.void_prominence)),
                ..params(&neg, rt, pdd)
            };
            let voids = super::peaks::find_peaks(&neg, &void_params).unwrap_or_default();
            let threshold = |p: &PeakParams<i64>| p.threshold.and_then(|t| t.min).unwrap_or(0);
            SideSurvey {
                origin: v.origin,
                wall_threshold: threshold(&wall_params),
                void_threshold: threshold(&void_params),
                qty,
                traded,
                walls: walls.into_iter().map(|w| w as u32).collect(),
                voids: voids.into_iter().map(|w| w as u32).collect(),
            }
        };
        Survey {
            pressure_ppm,
            leaning,
            bin_ticks: self.bin_ticks,
            bid: side(&view.bid, false),
            ask: side(&view.ask, true),
        }
    }
}

/// Whether this CPU runs AVX2 code (false off x86-64).
fn avx2_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Peak-search parameters for one series: walls stand `range / relative_threshold`
/// above both neighbours, at least `len / peak_distance_divisor` bins apart. Voids
/// replace the distance with the seed's height and prominence (its call
/// `find_peaks(-y, height=0, threshold=…, prominence=5)`, `distance` commented out).
#[inline(always)]
fn params(y: &[i64], rt_milli: i64, pdd_milli: i64) -> PeakParams<i64> {
    let (lo, hi) = y
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let range = if y.is_empty() {
        0
    } else {
        hi.saturating_sub(lo)
    };
    PeakParams {
        height: None,
        threshold: Some(Interval::at_least(
            (range as i128 * 1_000 / rt_milli as i128) as i64,
        )),
        distance: Some(((y.len() as i64 * 1_000 / pdd_milli).max(1)) as f64),
        prominence: None,
        wlen: None,
    }
}
