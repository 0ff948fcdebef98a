//! A book prefaulted at setup takes no page fault when the market first writes its
//! window: the faults happen at setup, not on the book's thread while it trades. In a
//! process of its own (this file holds one test), so the books' memory is fresh from
//! the kernel and the book without prefaulting shows what is saved.
#![cfg(target_os = "linux")] // per-thread fault counts: `RUSAGE_THREAD`

use minerva::book::{Book, BookConfig};
use minerva::core::{DepthSnapshot, Level, Lots, Market, SymbolSpec, Ticks};

/// Minor page faults of the calling thread so far.
fn thread_faults() -> i64 {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage for the call to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    assert_eq!(rc, 0);
    u.ru_minflt
}

/// A snapshot with a level on every 4 KB page of the window's quantities on both
/// sides (512 ticks of `i64` a page) around `mid`.
fn spread(mid: i64, window: i64) -> DepthSnapshot {
    let level = |p: i64| Level {
        price: Ticks(p),
        qty: Lots(3),
    };
    let pages = window / 2 / 512 - 2;
    DepthSnapshot {
        last_update_id: 1,
        event_ms: None,
        bids: (0..pages).map(|k| level(mid - 1 - k * 512)).collect(),
        asks: (0..pages).map(|k| level(mid + 1 + k * 512)).collect(),
    }
}

#[test]
fn a_prefaulted_book_takes_no_page_fault_when_its_window_is_first_written() {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    // A window no other book of this process has had: its memory is fresh.
    let window = 1 << 20;
    let cfg = BookConfig {
        window_ticks: window,
        ..BookConfig::default()
    };
    let snap = spread(1 << 22, window as i64);
    let pages = snap.bids.len() + snap.asks.len();

    let mut cold = Book::new(&spec, &cfg);
    let before = thread_faults();
    cold.apply_snapshot(&snap);
    let cold_faults = thread_faults() - before;

    let mut warm = Book::new(&spec, &cfg);
    warm.index_bins(10);
    warm.prefault();
    let before = thread_faults();
    warm.apply_snapshot(&snap);
    let warm_faults = thread_faults() - before;

    assert_eq!(cold.best_bid(), warm.best_bid());
    assert_eq!(cold.best_ask(), warm.best_ask());
    // Without prefaulting, about one fault per page written.
    assert!(
        cold_faults as usize > pages / 2,
        "{cold_faults} faults writing {pages} pages of a fresh book"
    );
    assert!(
        warm_faults < 8,
        "{warm_faults} faults writing {pages} pages of a prefaulted book"
    );
}
