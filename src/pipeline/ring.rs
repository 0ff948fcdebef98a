//! SPSC rings of fixed-size `Copy` messages (rtrb), sized at start-up. A full ring makes
//! the producer wait with its wait strategy and counts the stall: market data is never
//! dropped. Counters live on each side, owned by its thread (no sharing on the hot path).

use super::wait::{Wait, Waiter};

/// Producer and consumer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Messages pushed (producer) or popped (consumer).
    pub messages: u64,
    /// Pushes that found the ring full and had to wait.
    pub stalls: u64,
}

/// The producer end.
pub struct Outbox<T> {
    /// Every slot holds a valid `T` (made by [`ring_filled`]).
    filled: bool,
    tx: rtrb::Producer<T>,
    waiter: Waiter,
    /// Counters of this end.
    pub stats: RingStats,
}

/// The consumer end.
pub struct Inbox<T> {
    rx: rtrb::Consumer<T>,
    /// Counters of this end.
    pub stats: RingStats,
}

/// A ring of `capacity` messages; the producer waits with `wait` when it is full.
pub fn ring<T: Copy>(capacity: usize, wait: Wait) -> (Outbox<T>, Inbox<T>) {
    let (tx, rx) = rtrb::RingBuffer::new(capacity.max(1));
    (
        Outbox {
            tx,
            waiter: Waiter::new(wait),
            stats: RingStats::default(),
            filled: false,
        },
        Inbox {
            rx,
            stats: RingStats::default(),
        },
    )
}

/// A ring whose every slot is first written with `init` (cold), so the producer can
/// build large messages in place with [`Outbox::push_in_place`].
pub fn ring_filled<T: Copy>(capacity: usize, wait: Wait, init: T) -> (Outbox<T>, Inbox<T>) {
    let (mut tx, mut rx) = ring(capacity, wait);
    let cap = tx.tx.buffer().capacity();
    // Twice round, whatever rtrb's internal start position.
    for _ in 0..2 {
        for _ in 0..cap {
            let _ = tx.tx.push(init);
        }
        while rx.rx.pop().is_ok() {}
    }
    tx.filled = true;
    (tx, rx)
}

/// The consumer went away while the producer waited on a full ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the consumer of a full ring is gone")]
pub struct Abandoned;

impl<T: Copy> Outbox<T> {
    /// Pushes `msg`, waiting while the ring is full (counted once as a stall).
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`Abandoned`] if the consumer is gone (its thread ended): never a hang.
    #[inline]
    pub fn push(&mut self, msg: T) -> Result<(), Abandoned> {
        self.write_slot(|slot| {
            slot.write(msg);
        })
    }

    /// Builds the next message in place in its slot (no copy at all), waiting like
    /// [`Outbox::push`] when the ring is full. Only for rings made filled (`ring_filled`),
    /// whose slots all hold a valid `T` (the closure sees the last message written there).
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// [`Abandoned`] when the ring is full and its consumer is gone.
    #[inline]
    pub fn push_in_place(&mut self, fill: impl FnOnce(&mut T)) -> Result<(), Abandoned> {
        assert!(
            self.filled,
            "push_in_place needs a ring made by ring_filled"
        );
        // SAFETY: `ring_filled` wrote a valid `T` into every slot, and a consumer only
        // reads slots (`T: Copy` has no drop), so the slot still holds one.
        self.write_slot(|slot| fill(unsafe { slot.assume_init_mut() }))
    }

    /// Waits for a free slot (counting one stall per wait), lets `write` initialise it,
    /// and publishes it. `write` must leave the slot initialised.
    #[inline(always)]
    fn write_slot(
        &mut self,
        write: impl FnOnce(&mut std::mem::MaybeUninit<T>),
    ) -> Result<(), Abandoned> {
        let mut stalled = false;
        loop {
            if let Ok(mut chunk) = self.tx.write_chunk_uninit(1) {
                write(&mut chunk.as_mut_slices().0[0]);
                // SAFETY: both callers initialise the chunk's single slot.
                unsafe { chunk.commit_all() };
                self.stats.messages += 1;
                self.waiter.reset();
                return Ok(());
            }
            if !stalled {
                stalled = true;
                self.stats.stalls += 1;
            }
            if self.tx.is_abandoned() {
                return Err(Abandoned);
            }
            self.waiter.idle();
        }
    }

    /// True when the consumer end was dropped.
    pub fn is_abandoned(&self) -> bool {
        self.tx.is_abandoned()
    }
}

impl<T: Copy> Inbox<T> {
    /// The next message, if one is waiting.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let m = self.rx.pop().ok()?;
        self.stats.messages += 1;
        Some(m)
    }

    /// Hands every waiting message to `f` in place (no copy out of the ring); returns
    /// how many.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn drain(&mut self, mut f: impl FnMut(&T)) -> usize {
        let n = self.rx.slots();
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.rx.read_chunk(n) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        a.iter().chain(b).for_each(&mut f);
        chunk.commit_all();
        self.stats.messages += n as u64;
        n
    }

    /// Hands the next message to `f` in place, if one is waiting.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn with_next<R>(&mut self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let chunk = self.rx.read_chunk(1).ok()?;
        let r = f(&chunk.as_slices().0[0]);
        chunk.commit_all();
        self.stats.messages += 1;
        Some(r)
    }

    /// True when the producer end was dropped and nothing is left to read.
    pub fn is_finished(&self) -> bool {
        self.rx.is_abandoned() && self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_waits_and_counts_never_drops() {
        let (mut tx, mut rx) = ring::<u64>(4, Wait::SpinYield);
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while !rx.is_finished() {
                match rx.pop() {
                    Some(v) => got.push(v),
                    None => std::thread::sleep(std::time::Duration::from_micros(200)),
                }
            }
            got
        });
        for v in 0..1_000u64 {
            tx.push(v).unwrap();
        }
        let stalls = tx.stats.stalls;
        drop(tx);
        let got = consumer.join().unwrap();
        assert_eq!(
            got,
            (0..1_000).collect::<Vec<_>>(),
            "every message, in order"
        );
        assert!(stalls > 0, "a slow consumer makes the producer stall");
    }

    #[test]
    fn abandoned_consumer_is_an_error_not_a_hang() {
        let (mut tx, rx) = ring::<u8>(1, Wait::Park);
        tx.push(1).unwrap();
        drop(rx);
        assert_eq!(tx.push(2), Err(Abandoned));
    }
}
