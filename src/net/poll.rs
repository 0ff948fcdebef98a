//! Waiting for a feed's sessions to speak: their sockets made non-blocking and
//! registered with one `mio` poll (epoll on Linux), so one thread reads every session
//! it holds (the session in use and, while Binance's 24-hour rotation joins them, the
//! one replacing it) without a read timeout per socket, and wakes when any has bytes.
//!
//! Sessions are read until they say "nothing more" (`WouldBlock`) before the poll is
//! waited on: the poll reports new bytes only (edge-triggered), and
//! [`crate::net::ws::Wire`] keeps a frame that is not all there in its buffer. Cold
//! path apart from [`Readiness::wait`], which a quiet feed calls between messages.
//!
//! Only reading is polled: the few bytes a feed writes (pongs, pings, a close) wait
//! for room in the send buffer themselves (`ws::write_patiently`). A TLS session whose
//! earlier write is still pending answers reads with `WouldBlock` until it goes out,
//! so a peer that stops reading delays that session by up to one wait (100 ms) at a
//! time; it never stalls it.

use super::tls::Conn;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// One poll for the sessions of one feed.
pub struct Readiness {
    poll: Poll,
    events: Events,
}

impl Readiness {
    /// An empty poll. Cold.
    ///
    /// # Errors
    /// The system's, when it has no room for another epoll instance.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(8),
        })
    }

    /// Makes `conn`'s socket non-blocking and watches it for bytes to read. Its opening
    /// handshakes must be done (they read blocking). Cold.
    ///
    /// # Errors
    /// The system's.
    pub fn watch(&self, conn: &Conn) -> io::Result<()> {
        let tcp = conn.tcp();
        tcp.set_nonblocking(true)?;
        let fd = tcp.as_raw_fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(fd as usize), Interest::READABLE)
    }

    /// Waits up to `timeout` for a watched session to have bytes: true when one may
    /// have (read them all, to `WouldBlock`, before waiting again), false when the time
    /// passed in silence. A signal ends the wait early, as bytes would.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => !self.events.is_empty(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) => {
                // Not expected of epoll with a valid timeout; never spin on it.
                tracing::warn!(error = %e, "waiting on the market sessions failed");
                std::thread::sleep(timeout);
                false
            }
        }
    }
}

/// What a feed's source waits with: the poll (made with its first session) and since
/// when its sessions have said no whole message.
#[derive(Default)]
pub struct Quiet {
    ready: Option<Readiness>,
    since: Option<Instant>,
    /// Poll without sleeping (`--wait feed=spin`, an isolated core): a frame is read
    /// the moment it lands, with no wake-up of a sleeping thread in between.
    spin: bool,
}

impl Quiet {
    /// Watches `conn` ([`Readiness::watch`]), making the poll first if needed. Cold.
    ///
    /// # Errors
    /// The system's.
    pub fn watch(&mut self, conn: &Conn) -> io::Result<()> {
        if self.ready.is_none() {
            self.ready = Some(Readiness::new()?);
        }
        self.ready.as_ref().expect("made above").watch(conn)
    }

    /// A whole message came, or the session was replaced: silence is timed again from
    /// the next wait.
    #[inline]
    pub fn heard(&mut self) {
        self.since = None;
    }

    /// Busy-polls the sessions instead of sleeping on them ([`Self::wait`]). Cold.
    pub fn set_spin(&mut self, on: bool) {
        self.spin = on;
    }

    /// Everything the sessions had is read: waits up to `step` for more, and returns
    /// how long they have been silent (a frame that is not all there counts as
    /// silence, so a server trickling one is found stale).
    pub fn wait(&mut self, step: Duration) -> Duration {
        let since = *self.since.get_or_insert_with(Instant::now);
        match self.ready.as_mut() {
            Some(ready) if self.spin => {
                let until = Instant::now() + step;
                while !ready.wait(Duration::ZERO) && Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            Some(ready) => {
                ready.wait(step);
            }
            // No session was ever watched: never spin.
            None => std::thread::sleep(step),
        }
        since.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    /// Two sessions on one poll: silence times out, bytes on either wake it, and a
    /// drained socket says `WouldBlock` instead of blocking.
    #[test]
    fn wakes_on_either_session_and_times_out_in_silence() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let a = Conn::Plain(TcpStream::connect(addr).unwrap());
        let (mut peer_a, _) = server.accept().unwrap();
        let b = Conn::Plain(TcpStream::connect(addr).unwrap());
        let (mut peer_b, _) = server.accept().unwrap();
        let mut ready = Readiness::new().unwrap();
        ready.watch(&a).unwrap();
        ready.watch(&b).unwrap();

        let t = Instant::now();
        assert!(!ready.wait(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(45));

        for (peer, conn) in [(&mut peer_b, &b), (&mut peer_a, &a)] {
            peer.write_all(b"abc").unwrap();
            assert!(ready.wait(Duration::from_secs(5)));
            let mut got = [0u8; 8];
            let mut tcp = conn.tcp();
            assert_eq!(tcp.read(&mut got).unwrap(), 3);
            let e = tcp.read(&mut got).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        }
        // A session closed is no longer watched (the system drops it from the poll).
        drop(a);
        drop(peer_a);
        assert!(!ready.wait(Duration::from_millis(50)));
    }

    /// Silence adds up over waits until a message is heard, then starts again.
    #[test]
    fn silence_is_timed_from_the_first_wait_until_a_message() {
        let step = Duration::from_millis(20);
        let mut quiet = Quiet::default();
        let first = quiet.wait(step);
        let second = quiet.wait(step);
        assert!(first >= step && second >= 2 * step, "{first:?} {second:?}");
        quiet.heard();
        let again = quiet.wait(step);
        assert!(
            again >= step && again < second,
            "{again:?} after {second:?}"
        );
    }
}
