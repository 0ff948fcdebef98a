//! Buffers of dropped books kept for the next book of the same size: a process that
//! runs backtest after backtest (`evolve`, `bench backtest`, a worker) would otherwise
//! have the allocator zero megabytes of reused heap memory for each new book. Each
//! owner leaves what it gives back fit for reuse (a ladder zeroes the slots it used; a
//! bin index needs nothing, its bins are reset before they are kept). Cold.

use std::sync::Mutex;

/// At most `max` spare buffers of one kind.
pub(crate) struct Spares<T> {
    pool: Mutex<Vec<T>>,
    max: usize,
}

impl<T> Spares<T> {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            pool: Mutex::new(Vec::new()),
            max,
        }
    }

    /// A kept buffer that `fits`, if there is one.
    pub(crate) fn take(&self, fits: impl Fn(&T) -> bool) -> Option<T> {
        let mut pool = self.pool.lock().ok()?;
        let k = pool.iter().position(fits)?;
        Some(pool.swap_remove(k))
    }

    /// Keeps `spare` for a later book, unless `max` are kept already (then it is freed).
    pub(crate) fn give(&self, spare: T) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < self.max
        {
            pool.push(spare);
        }
    }
}
