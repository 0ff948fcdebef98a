//! Memory the hot path will write, mapped before it runs. A zeroed allocation is only
//! promised by the kernel: each 4 KB page is mapped on its first write, a fault of
//! microseconds on the thread that writes it. A book's window is 2 MB a side, touched a
//! page at a time as the price explores it, so without this a live session pays those
//! faults at random moments, inside the latency it is measured by.

/// The smallest page size of the platforms we run on; a larger one is touched more
/// often than needed, which costs nothing after the first touch.
const PAGE: usize = 4096;

/// Writes one element of every page of `s` back with its own value, so the kernel maps
/// the pages now. `black_box` keeps the compiler from dropping the writes. Cold.
pub fn prefault<T: Copy>(s: &mut [T]) {
    for x in s.iter_mut().step_by(per_page::<T>()) {
        *x = std::hint::black_box(*x);
    }
}

/// Elements of `T` in a page (at least one).
fn per_page<T>() -> usize {
    (PAGE / std::mem::size_of::<T>().max(1)).max(1)
}

/// [`prefault`] for the capacity of `v` beyond its length, which the hot path fills
/// later (written with `fill`; the length does not change). Cold.
pub fn prefault_spare<T: Copy>(v: &mut Vec<T>, fill: T) {
    for slot in v.spare_capacity_mut().iter_mut().step_by(per_page::<T>()) {
        std::hint::black_box(slot.write(fill));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefaulting_keeps_every_value() {
        let mut s: Vec<i64> = (0..10_000).collect();
        prefault(&mut s);
        assert!(s.iter().enumerate().all(|(i, &v)| v == i as i64));
        let mut v: Vec<u32> = Vec::with_capacity(5_000);
        v.extend([7, 8, 9]);
        prefault_spare(&mut v, 0);
        assert_eq!(v, [7, 8, 9]);
        assert!(v.capacity() >= 5_000);
    }
}
