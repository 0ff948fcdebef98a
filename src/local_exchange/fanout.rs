//! Published messages to their subscribers: market-stream sessions by stream name
//! (each wants a message bare or wrapped with its stream's name, as the venue's two
//! kinds of session do), and user-data sessions. Each session has its own bounded
//! outbox, drained by its own thread.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard};

/// A market-stream session.
pub struct Subscriber {
    /// The stream names it asked for.
    pub streams: Vec<String>,
    /// It takes messages wrapped with their stream's name (Binance's combined
    /// streams), else bare.
    pub wrapped: bool,
    /// Its outbox.
    pub tx: SyncSender<Arc<str>>,
}

/// Every session of a local exchange.
#[derive(Default)]
pub struct Fanout {
    subs: Mutex<Vec<Subscriber>>,
    users: Mutex<Vec<SyncSender<Arc<str>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves consistent data here (a list of outboxes).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fanout {
    /// Adds a market-stream session.
    pub fn subscribe(&self, s: Subscriber) {
        lock(&self.subs).push(s);
    }

    /// Adds a user-data session.
    pub fn add_user(&self, tx: SyncSender<Arc<str>>) {
        lock(&self.users).push(tx);
    }

    /// The market-stream sessions, for faults that act on them (drop every session,
    /// send a broken message).
    pub fn sessions(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        lock(&self.subs)
    }

    /// A message of stream `name` to its subscribers, `wrapped` or `bare` as each
    /// asked; a session gone is forgotten. Blocking: at full speed the replay goes as
    /// fast as its slowest reader.
    pub fn publish(&self, name: &str, wrapped: Arc<str>, bare: Arc<str>) {
        publish_to(&mut lock(&self.subs), name, wrapped, bare);
    }

    /// User data events to every user session; a session whose outbox is full is
    /// closed (as Binance drops a client too slow to read), and reconciles.
    pub fn publish_user(&self, events: Vec<String>) {
        if events.is_empty() {
            return;
        }
        let mut users = lock(&self.users);
        for e in events {
            let msg: Arc<str> = Arc::from(e);
            users.retain(|tx| tx.try_send(msg.clone()).is_ok());
        }
    }

    /// Closes every session (their outboxes dropped: each ends with a close frame).
    pub fn close_all(&self) {
        lock(&self.subs).clear();
        lock(&self.users).clear();
    }

    /// Closes the market-stream sessions.
    pub fn close_streams(&self) {
        lock(&self.subs).clear();
    }
}

/// [`Fanout::publish`] on sessions already locked.
pub fn publish_to(subs: &mut Vec<Subscriber>, name: &str, wrapped: Arc<str>, bare: Arc<str>) {
    subs.retain(|s| {
        if !s.streams.iter().any(|n| n == name) {
            return true;
        }
        let msg = if s.wrapped { &wrapped } else { &bare };
        s.tx.send(msg.clone()).is_ok()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn each_session_gets_its_streams_in_its_form() {
        let f = Fanout::default();
        let (a, ra) = sync_channel(4);
        let (b, rb) = sync_channel(4);
        f.subscribe(Subscriber {
            streams: vec!["x".into()],
            wrapped: true,
            tx: a,
        });
        f.subscribe(Subscriber {
            streams: vec!["x".into(), "y".into()],
            wrapped: false,
            tx: b,
        });
        f.publish("x", Arc::from("W"), Arc::from("B"));
        f.publish("y", Arc::from("W2"), Arc::from("B2"));
        assert_eq!(&*ra.try_recv().unwrap(), "W");
        assert!(ra.try_recv().is_err());
        assert_eq!(&*rb.try_recv().unwrap(), "B");
        assert_eq!(&*rb.try_recv().unwrap(), "B2");
        drop(ra);
        f.publish("x", Arc::from("W3"), Arc::from("B3"));
        assert_eq!(f.sessions().len(), 1, "a session gone is forgotten");
    }
}
