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
use crate::book::{Book, SyncState};
use crate::core::{Lots, Ticks};
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

/// Per-side work arrays.
struct SideBins {
    book: Box<[i64]>,
    traded: Box<[i64]>,
    neg_total: Box<[i64]>,
    /// Absolute bin of bin 0 (the touch).
    origin: i64,
    /// Bins covered by the `limit_orderbook` levels.
    n: usize,
    /// Resting volume of those levels.
    volume: i64,
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
            book: z(),
            traded: z(),
            neg_total: z(),
            origin: 0,
            n: 0,
            volume: 0,
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
    short_ppm: u32,
    long_ppm: u32,
    sl_buffer_ppm: i64,
    order_tick: i64,
    bid: SideBins,
    ask: SideBins,
    scratch: PeakScratch,
}

impl Oracle {
    /// An oracle for `strategy` on a symbol whose order tick is `order_tick` book ticks.
    pub fn new(s: &Strategy, order_tick: Ticks) -> Self {
        Self {
            bin_ticks: s.bin_ticks as i64,
            bins: (s.bins as usize).min(MAX_BINS),
            limit_levels: s.limit_orderbook,
            rt_milli: s.relative_threshold_milli.max(1) as i64,
            pdd_milli: s.peak_distance_divisor_milli.max(1) as i64,
            short_ppm: s.short_pressure_ppm,
            long_ppm: s.long_pressure_ppm,
            sl_buffer_ppm: s.stop_loss_buffer_ppm as i64,
            order_tick: order_tick.0.max(1),
            bid: SideBins::new(),
            ask: SideBins::new(),
            scratch: PeakScratch::new(MAX_BINS),
        }
    }

    /// Ask share of the nearest `limit_orderbook` levels from the last evaluation, ppm.
    pub fn last_pressure_ppm(&self) -> u32 {
        pressure_ppm(self.bid.volume, self.ask.volume)
    }

    /// Reads the book and the traded-volume profile and proposes an operation or says
    /// why not.
    ///
    /// # Hot path: no allocation.
    pub fn evaluate(&mut self, book: &Book, traded: &TradeProfile) -> Result<Intent, NoSignal> {
        if book.state() != SyncState::Live {
            return Err(NoSignal::BookNotLive);
        }
        let (Some(best_bid), Some(best_ask)) = (book.best_bid(), book.best_ask()) else {
            return Err(NoSignal::EmptySide);
        };
        self.fill_side(book, traded, true, best_bid.price);
        self.fill_side(book, traded, false, best_ask.price);
        let pressure = pressure_ppm(self.bid.volume, self.ask.volume);
        let side = if pressure >= self.short_ppm {
            Side::Short
        } else if pressure <= self.long_ppm {
            Side::Long
        } else {
            return Err(NoSignal::NoPressure);
        };
        let (support, target) = match side {
            Side::Long => (&self.bid, &self.ask),
            Side::Short => (&self.ask, &self.bid),
        };
        let support_bin = *support.walls[..support.n_walls]
            .first()
            .ok_or(NoSignal::NoSupportWall)?;
        let target_bin = *target.walls[..target.n_walls]
            .first()
            .ok_or(NoSignal::NoTargetWall)?;
        let void_bin = *target.voids[..target.n_voids]
            .iter()
            .find(|&&v| v < target_bin)
            .ok_or(NoSignal::NoVoid)?;
        let wall_vol = target.book[target_bin as usize];
        if target.traded_peaks[..target.n_traded_peaks]
            .iter()
            .any(|&t| t < target_bin && target.traded[t as usize] >= wall_vol)
        {
            return Err(NoSignal::TradedWallInTheWay);
        }
        let long = side == Side::Long;
        let support_wall = self.largest_level(book, long, support, support_bin);
        let target_wall = self.largest_level(book, !long, target, target_bin);
        let void_price = Ticks(self.bin_price(target, void_bin));
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

    /// Lowest price of bin `k` of a side.
    fn bin_price(&self, s: &SideBins, k: u32) -> i64 {
        let abs = if std::ptr::eq(s, &self.bid) {
            s.origin - k as i64
        } else {
            s.origin + k as i64
        };
        abs * self.bin_ticks
    }

    /// The price of the largest resting level in bin `k` of a side.
    fn largest_level(&self, book: &Book, bid: bool, s: &SideBins, k: u32) -> Ticks {
        let lo = self.bin_price(s, k);
        let mut best = (Ticks(lo), Lots(-1));
        for p in lo..lo + self.bin_ticks {
            let q = book.qty_at(bid, Ticks(p));
            // Ties: the level nearest the touch, which the front-running order must beat.
            let nearer = if bid { q >= best.1 } else { q > best.1 };
            if nearer {
                best = (Ticks(p), q);
            }
        }
        best.0
    }

    /// Bins one side: book volume over the `limit_orderbook` nearest levels, traded
    /// volume, and the walls, voids and traded peaks found in them.
    fn fill_side(&mut self, book: &Book, traded: &TradeProfile, bid: bool, touch: Ticks) {
        let bt = self.bin_ticks;
        let bins = self.bins;
        let limit = self.limit_levels;
        let s = if bid { &mut self.bid } else { &mut self.ask };
        s.origin = touch.0.div_euclid(bt);
        s.book[..bins].fill(0);
        let (mut levels, mut n, mut volume) = (0u32, 0usize, 0i64);
        let origin = s.origin;
        let out = &mut s.book;
        let mut visit = |l: crate::core::Level| {
            let abs = l.price.0.div_euclid(bt);
            let k = if bid { origin - abs } else { abs - origin } as usize;
            if k >= bins {
                return false;
            }
            out[k] = out[k].saturating_add(l.qty.0);
            volume = volume.saturating_add(l.qty.0);
            n = k + 1;
            levels += 1;
            levels < limit
        };
        if bid {
            book.for_each_bid(&mut visit)
        } else {
            book.for_each_ask(&mut visit)
        }
        s.n = n;
        s.volume = volume;
        for k in 0..n {
            let abs = if bid {
                origin - k as i64
            } else {
                origin + k as i64
            };
            s.traded[k] = traded.total_in_bin(abs);
            s.neg_total[k] = -s.book[k].saturating_add(s.traded[k]);
        }
        let params = |y: &[i64]| {
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
                    (range as i128 * 1_000 / self.rt_milli as i128) as i64,
                )),
                distance: Some(((y.len() as i64 * 1_000 / self.pdd_milli).max(1)) as f64),
                prominence: None,
                wlen: None,
            }
        };
        let scratch = &mut self.scratch;
        // Buffers are MAX_BINS long and the peak buffers MAX_BINS/2+1: never too small.
        let p = params(&s.book[..n]);
        s.n_walls = find_peaks_into(&s.book[..n], &p, scratch, &mut s.walls).unwrap_or(0);
        let p = params(&s.neg_total[..n]);
        s.n_voids = find_peaks_into(&s.neg_total[..n], &p, scratch, &mut s.voids).unwrap_or(0);
        let p = params(&s.traded[..n]);
        s.n_traded_peaks =
            find_peaks_into(&s.traded[..n], &p, scratch, &mut s.traded_peaks).unwrap_or(0);
    }
}

/// `ask / (bid + ask)` in ppm (500,000 when both are empty).
fn pressure_ppm(bid: i64, ask: i64) -> u32 {
    let total = bid as i128 + ask as i128;
    if total <= 0 {
        return 500_000;
    }
    (ask as i128 * 1_000_000 / total) as u32
}
