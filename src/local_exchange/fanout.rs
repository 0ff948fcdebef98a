//! Published messages to their sessions, by stream name: market streams and user
//! data streams alike (a user stream's name is its listen key). Each session asked
//! for its messages bare or wrapped with their stream's name (Binance's raw and
//! combined sessions) and may change its streams while open (`SUBSCRIBE`).
//!
//! Each session has its own bounded outbox, drained by its own task. Publishing never
//! blocks on a session: a session whose outbox is full is disconnected, as Binance
//! drops a client too slow to read, so one slow reader costs the others nothing. At
//! `--speed max` the replay instead waits for room, up to [`Fanout::grace`], so it
//! goes as fast as the slowest reader that keeps reading.

use axum::extract::ws::Utf8Bytes;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::sync::mpsc::{Sender, error::TrySendError};

/// Messages a session's outbox holds before the session counts as too slow.
pub const OUTBOX: usize = 4096;

/// A session as the fan-out knows it.
struct Session {
    id: u64,
    streams: Vec<String>,
    wrapped: bool,
    tx: Sender<Utf8Bytes>,
    /// Told when the session is disconnected (its task ends, whatever it holds).
    kick: Arc<Notify>,
}

/// A session's end of the fan-out: what its task waits on.
pub struct Outbox {
    /// Its id, to change its streams.
    pub id: u64,
    /// Messages to send.
    pub rx: tokio::sync::mpsc::Receiver<Utf8Bytes>,
    /// Notified when it is disconnected for being slow (or the exchange stops).
    pub kick: Arc<Notify>,
}

/// Every session of a local exchange.
pub struct Fanout {
    sessions: Mutex<Vec<Session>>,
    next_id: Mutex<u64>,
    /// `None`: a full outbox disconnects its session at once; `Some(d)`: the
    /// publisher waits up to `d` for room first (`--speed max`).
    grace: Option<Duration>,
    /// Sessions disconnected for being slow.
    kicked: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves consistent data here (a list of outboxes).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Fanout {
    /// A fan-out that disconnects slow sessions at once (`grace: None`) or after
    /// waiting `grace` for room.
    pub fn new(grace: Option<Duration>) -> Self {
        Self {
            sessions: Mutex::new(Vec::new()),
            next_id: Mutex::new(1),
            grace,
            kicked: Default::default(),
        }
    }

    /// The wait for room before a slow session is disconnected (`None`: none).
    pub fn grace(&self) -> Option<Duration> {
        self.grace
    }

    /// Adds a session on `streams`; its task drains the returned outbox.
    pub fn subscribe(&self, streams: Vec<String>, wrapped: bool) -> Outbox {
        let (tx, rx) = tokio::sync::mpsc::channel(OUTBOX);
        let kick = Arc::new(Notify::new());
        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            *n
        };
        lock(&self.sessions).push(Session {
            id,
            streams,
            wrapped,
            tx,
            kick: kick.clone(),
        });
        Outbox { id, rx, kick }
    }

    /// Changes session `id`'s streams or form; `None` if it is gone.
    pub fn update<R>(
        &self,
        id: u64,
        f: impl FnOnce(&mut Vec<String>, &mut bool) -> R,
    ) -> Option<R> {
        let mut all = lock(&self.sessions);
        let s = all.iter_mut().find(|s| s.id == id)?;
        Some(f(&mut s.streams, &mut s.wrapped))
    }

    /// Forgets session `id` (its task ended).
    pub fn remove(&self, id: u64) {
        lock(&self.sessions).retain(|s| s.id != id);
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// No session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions disconnected so far for not reading.
    pub fn kicked(&self) -> u64 {
        self.kicked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A message of stream `name` to its sessions, `wrapped` or `bare` as each asked.
    /// Never holds the session list while waiting.
    pub fn publish(&self, name: &str, wrapped: &Utf8Bytes, bare: &Utf8Bytes) {
        let targets: Vec<(u64, Sender<Utf8Bytes>, Arc<Notify>, Utf8Bytes)> = lock(&self.sessions)
            .iter()
            .filter(|s| s.streams.iter().any(|n| n == name))
            .map(|s| {
                let m = if s.wrapped { wrapped } else { bare };
                (s.id, s.tx.clone(), s.kick.clone(), m.clone())
            })
            .collect();
        for (id, tx, kick, msg) in targets {
            if !self.offer(&tx, msg) {
                self.disconnect(id, &kick);
            }
        }
    }

    /// A message to every session (a fault's broken message); slow ones are dropped.
    pub fn broadcast(&self, msg: &Utf8Bytes) {
        let targets: Vec<(u64, Sender<Utf8Bytes>, Arc<Notify>)> = lock(&self.sessions)
            .iter()
            .map(|s| (s.id, s.tx.clone(), s.kick.clone()))
            .collect();
        for (id, tx, kick) in targets {
            if !self.offer(&tx, msg.clone()) {
                self.disconnect(id, &kick);
            }
        }
    }

    /// Puts `msg` in an outbox: false when the session is gone or too slow.
    fn offer(&self, tx: &Sender<Utf8Bytes>, msg: Utf8Bytes) -> bool {
        let mut msg = match tx.try_send(msg) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(m)) => m,
        };
        let Some(grace) = self.grace else {
            return false;
        };
        let until = Instant::now() + grace;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_micros(200));
            msg = match tx.try_send(msg) {
                Ok(()) => return true,
                Err(TrySendError::Closed(_)) => return false,
                Err(TrySendError::Full(m)) => m,
            };
        }
        false
    }

    fn disconnect(&self, id: u64, kick: &Notify) {
        let before = self.len();
        self.remove(id);
        if self.len() < before {
            self.kicked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        kick.notify_one();
    }

    /// Ends the sessions of stream `name` that have no other stream, and takes it from
    /// the others (a listen key closed or expired).
    pub fn end_stream(&self, name: &str) {
        let mut all = lock(&self.sessions);
        all.retain_mut(|s| {
            let had = s.streams.iter().any(|n| n == name);
            s.streams.retain(|n| n != name);
            // Dropping its outbox's sender ends it once it has sent what it holds.
            !(had && s.streams.is_empty())
        });
    }

    /// Ends every session whose streams satisfy `which` (their outboxes closed: each
    /// ends with a close frame once it has sent what it holds).
    pub fn close_where(&self, which: impl Fn(&[String]) -> bool) {
        lock(&self.sessions).retain(|s| !which(&s.streams));
    }

    /// Ends every session.
    pub fn close_all(&self) {
        self.close_where(|_| true);
    }
}

/// A message to a client not written within this ends its session (a client that
/// stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes one message to a session's socket: false when the client does not take it
/// within [`WRITE_TIMEOUT`] or the session is kicked.
pub async fn send(
    socket: &mut axum::extract::ws::WebSocket,
    kick: &Notify,
    msg: axum::extract::ws::Message,
) -> bool {
    tokio::select! {
        biased;
        () = kick.notified() => false,
        r = tokio::time::timeout(WRITE_TIMEOUT, socket.send(msg)) => matches!(r, Ok(Ok(()))),
    }
}

/// Ends a market session with its close (waiting at most a second for a client that
/// does not read): [`crate::net::ws::SERVED`] when the recording has been served (so a
/// client stops instead of reconnecting to a venue that may be gone), else a plain
/// close. Both venues' sessions end with it.
pub async fn close(socket: &mut axum::extract::ws::WebSocket, served: bool) {
    use axum::extract::ws::{CloseFrame, Message};
    let frame = served.then(|| CloseFrame {
        code: crate::net::ws::SERVED,
        reason: "the data has been served".into(),
    });
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    #[test]
    fn each_session_gets_its_streams_in_its_form() {
        let f = Fanout::default();
        let mut a = f.subscribe(vec!["x".into()], true);
        let mut b = f.subscribe(vec!["x".into(), "y".into()], false);
        f.publish("x", &m("W"), &m("B"));
        f.publish("y", &m("W2"), &m("B2"));
        assert_eq!(a.rx.try_recv().unwrap().as_str(), "W");
        assert!(a.rx.try_recv().is_err());
        assert_eq!(b.rx.try_recv().unwrap().as_str(), "B");
        assert_eq!(b.rx.try_recv().unwrap().as_str(), "B2");
        drop(a);
        f.publish("x", &m("W3"), &m("B3"));
        assert_eq!(f.len(), 1, "a session gone is forgotten");
        f.update(b.id, |s, w| {
            s.push("z".into());
            *w = true;
        });
        f.publish("z", &m("Z"), &m("z"));
        assert_eq!(b.rx.try_recv().unwrap().as_str(), "B3");
        assert_eq!(b.rx.try_recv().unwrap().as_str(), "Z");
    }

    #[test]
    fn a_full_outbox_disconnects_only_its_session() {
        let f = Fanout::default();
        let slow = f.subscribe(vec!["x".into()], false);
        let mut fast = f.subscribe(vec!["x".into()], false);
        for _ in 0..OUTBOX {
            f.publish("x", &m("w"), &m("b"));
            assert!(fast.rx.try_recv().is_ok());
        }
        assert_eq!(f.len(), 2);
        f.publish("x", &m("w"), &m("b"));
        assert_eq!(f.len(), 1, "the slow session is gone");
        assert_eq!(f.kicked(), 1);
        assert!(
            fast.rx.try_recv().is_ok(),
            "the other still gets its message"
        );
        drop(slow);
    }

    #[test]
    fn an_ended_stream_closes_its_only_sessions() {
        let f = Fanout::default();
        let _only = f.subscribe(vec!["key".into()], false);
        let mut both = f.subscribe(vec!["key".into(), "x".into()], true);
        f.end_stream("key");
        assert_eq!(f.len(), 1);
        f.publish("key", &m("w"), &m("b"));
        assert!(both.rx.try_recv().is_err());
    }
}
