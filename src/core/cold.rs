//! Cold threads: threads beside the pipeline that may allocate (the live view's
//! publisher, the status socket's writers) say so, so the zero-allocation tests can
//! count every other thread without knowing them by id.

use std::cell::Cell;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, so an
    // allocator may ask.
    static COLD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as cold (it allocates by design, off the hot path).
pub fn mark_cold_thread() {
    COLD.with(|c| c.set(true));
}

/// Whether the calling thread was marked cold. Never allocates.
pub fn is_cold_thread() -> bool {
    COLD.try_with(Cell::get).unwrap_or(false)
}
