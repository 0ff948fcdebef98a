//! The user data stream reader: listen key, session, keep-alive, reconnection. Its
//! messages go to the I/O thread as they come; it only looks for the listen key's
//! expiry itself, to open a new session.

use super::io::UserMsg;
use super::{LinkConfig, LinkStats, Shared};
use crate::net::http::Client;
use crate::net::tls::Conn;
use crate::net::ws::{Wire, WireError};
use crate::venues::binance::endpoints::{Rest, user_stream};
use crate::venues::binance::keys::API_KEY_HEADER;
use crate::venues::binance::user;
use crate::venues::link::wall_us;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// The answer to `POST listenKey`.
#[derive(serde::Deserialize)]
struct ListenKey {
    #[serde(rename = "listenKey")]
    listen_key: String,
}

/// Binance keeps a listen key 60 min after its last keep-alive.
const KEEPALIVE: Duration = Duration::from_secs(30 * 60);

pub(super) struct UserStream {
    cfg: LinkConfig,
    /// The 429/418 pause every link to this server shares: a listen key asked for
    /// during a ban would lengthen it.
    paused_until: Arc<AtomicU64>,
    shared: Arc<Shared>,
    tx: Sender<UserMsg>,
    wake: std::thread::Thread,
}

impl UserStream {
    pub(super) fn new(
        cfg: LinkConfig,
        shared: Arc<Shared>,
        tx: Sender<UserMsg>,
        wake: std::thread::Thread,
    ) -> Self {
        Self {
            paused_until: super::io::paused_until_of(&cfg.rest),
            cfg,
            shared,
            tx,
            wake,
        }
    }

    fn listen_path(&self) -> &'static str {
        Rest::ListenKey.on(self.cfg.spec.market)
    }

    fn listen_key(&self, rest: &mut Client) -> Option<String> {
        if super::io::paused_left(&self.paused_until).is_some() {
            return None;
        }
        let r = rest
            .request(
                "POST",
                self.listen_path(),
                b"",
                &[(API_KEY_HEADER, self.cfg.keys.api_key())],
            )
            .ok()?;
        if matches!(r.status, 429 | 418) {
            LinkStats::bump(&self.shared.counters.rate_limited);
            let wait = Duration::from_secs(r.retry_after.unwrap_or(1).max(1));
            super::io::pause(&self.paused_until, wait);
        }
        if r.status != 200 {
            return None;
        }
        sonic_rs::from_slice::<ListenKey>(&r.body)
            .ok()
            .map(|k| k.listen_key)
    }

    fn connect(&self, key: &str, seed: u64) -> Result<Wire, WireError> {
        let (host, tls) = crate::net::http::endpoint(&self.cfg.ws);
        let stream = Conn::connect(host, tls, Duration::from_secs(5))?;
        let wire = Wire::handshake(stream, host, &user_stream(key), seed)?;
        wire.stream()
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(wire)
    }

    pub(super) fn run(self) {
        let mut rest = Client::new(&self.cfg.rest, Duration::from_secs(5));
        let mut rng = fastrand::Rng::with_seed(wall_us() as u64);
        let mut backoff = 250u64;
        while !self.shared.stop.load(Ordering::Acquire) {
            let session = self
                .listen_key(&mut rest)
                .and_then(|k| self.connect(&k, rng.u64(..)).ok().map(|w| (k, w)));
            let Some((key, mut wire)) = session else {
                // The backoff, or the rate limit's end when that is later.
                let wait = Duration::from_millis(backoff - backoff / 4 + rng.u64(0..=backoff / 2))
                    .max(super::io::paused_left(&self.paused_until).unwrap_or_default());
                let until = Instant::now() + wait;
                while Instant::now() < until && !self.shared.stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                backoff = (backoff * 2).min(30_000);
                continue;
            };
            backoff = 250;
            LinkStats::bump(&self.shared.counters.user_connects);
            let _ = self.tx.send(UserMsg::Connected);
            self.shared.user_live.store(true, Ordering::Release);
            self.wake.unpark();
            let mut keepalive = Instant::now() + KEEPALIVE;
            loop {
                if self.shared.stop.load(Ordering::Acquire) {
                    wire.close();
                    return;
                }
                if Instant::now() >= keepalive {
                    let _ = rest.request(
                        "PUT",
                        &format!("{}?listenKey={key}", self.listen_path()),
                        b"",
                        &[(API_KEY_HEADER, self.cfg.keys.api_key())],
                    );
                    keepalive = Instant::now() + KEEPALIVE;
                }
                match wire.read_message() {
                    Ok(m) => {
                        let expired = user::is_listen_key_expired(m);
                        let _ = self.tx.send(UserMsg::Event(m.to_vec()));
                        self.wake.unpark();
                        if expired {
                            break;
                        }
                    }
                    Err(e) if e.is_quiet() => {}
                    Err(_) => break,
                }
            }
            // Until a new session is up, fills are learnt only by polling: the
            // trader holds new entries, the I/O thread asks about open orders.
            self.shared.user_live.store(false, Ordering::Release);
            let _ = self.tx.send(UserMsg::Disconnected);
            self.wake.unpark();
            LinkStats::bump(&self.shared.counters.user_drops);
            tracing::warn!(
                symbol = %self.cfg.spec.name,
                "user data stream lost: new entries wait, open orders are polled until it is back"
            );
        }
    }
}
