//! The private WebSocket session: a signed `bullet-private` token, the session on the
//! server it names, the order and account changes subscribed (spot
//! `/spotMarket/tradeOrdersV2` and `/account/balance`; futures
//! `/contractMarket/tradeOrders:{symbol}`, the position's `/contract/position:{symbol}`,
//! the stop orders' `/contractMarket/advancedOrders` and `/contractAccount/wallet`), pings at the server's
//! interval, a new session (new token) with backoff when one is lost. Messages go to
//! the I/O thread as they come.

use super::LinkConfig;
use crate::net::backoff::Backoff;
use crate::net::http::Client;
use crate::net::ws::WireError;
use crate::venues::kucoin::endpoints::Rest;
use crate::venues::kucoin::keys::KucoinKeys;
use crate::venues::kucoin::session::{self, Control};
use crate::venues::kucoin::sign::{self, Signer};
use crate::venues::link::{LinkStats, Shared, wall_ms, wall_us};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// The private topic of spot order changes.
pub(super) const ORDERS_TOPIC: &str = "/spotMarket/tradeOrdersV2";

/// The private topics a link on `spec` follows.
pub(super) fn topics(spec: &crate::core::SymbolSpec) -> Vec<String> {
    if spec.market.is_futures() {
        vec![
            format!("/contractMarket/tradeOrders:{}", spec.name),
            format!("/contract/position:{}", spec.name),
            "/contractMarket/advancedOrders".to_string(),
            "/contractAccount/wallet".to_string(),
        ]
    } else {
        vec![ORDERS_TOPIC.to_string(), "/account/balance".to_string()]
    }
}

/// From the private session to the I/O thread.
pub(super) enum PrivateMsg {
    /// A session opened (after the first: reconcile).
    Connected,
    /// The session was lost: until the next one, fills are not heard.
    Disconnected,
    /// A message.
    Message(Vec<u8>),
}

pub(super) struct Private {
    rest: String,
    keys: Arc<KucoinKeys>,
    signer: Signer,
    shared: Arc<Shared>,
    tx: Sender<PrivateMsg>,
    wake: std::thread::Thread,
    topics: Vec<String>,
}

impl Private {
    pub(super) fn new(
        cfg: &LinkConfig,
        shared: Arc<Shared>,
        tx: Sender<PrivateMsg>,
        wake: std::thread::Thread,
    ) -> Self {
        Self {
            rest: cfg.rest.clone(),
            keys: cfg.keys.clone(),
            signer: Signer::new(&cfg.keys),
            shared,
            tx,
            wake,
            topics: topics(&cfg.spec),
        }
    }

    /// A token for a private session (signed with KuCoin's clock as the link knows
    /// it).
    fn bullet(&self, rest: &mut Client) -> Result<session::Bullet, String> {
        let ts = wall_ms()
            .saturating_add(self.shared.offset_ms.load(Ordering::Relaxed))
            .max(0) as u64;
        let path = Rest::BulletPrivate.path();
        let headers = sign::headers(&self.signer, &self.keys, ts, "POST", path, b"");
        let mut refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        refs.push(("Content-Type", "application/json"));
        let a = rest
            .request("POST", path, b"", &refs)
            .map_err(|e| e.to_string())?;
        session::parse_bullet(&a.body).map_err(|e| e.to_string())
    }

    pub(super) fn run(self) {
        let mut rest = Client::new(&self.rest, session::OPEN_TIMEOUT);
        let mut rng = fastrand::Rng::with_seed(wall_us() as u64);
        let mut backoff = Backoff::new(rng.u64(..));
        let mut next_id = 0u64;
        while !self.shared.stop.load(Ordering::Acquire) {
            let opened = self.bullet(&mut rest).and_then(|b| {
                session::open(
                    &b,
                    self.topics.iter().map(|t| (t.as_str(), true)),
                    &mut rng,
                    &mut next_id,
                )
                .map(|o| (b, o))
                .map_err(|e| e.to_string())
            });
            let (bullet, opened) = match opened {
                Ok(o) => o,
                Err(why) => {
                    tracing::warn!(error = %why, backoff_ms = backoff.ms(), "KuCoin private session could not be opened");
                    if !backoff.wait(&self.shared.stop) {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            let mut wire = opened.wire;
            if wire
                .stream()
                .tcp()
                .set_read_timeout(Some(Duration::from_millis(100)))
                .is_err()
            {
                continue;
            }
            LinkStats::bump(&self.shared.counters.user_connects);
            let _ = self.tx.send(PrivateMsg::Connected);
            for m in opened.held {
                let _ = self.tx.send(PrivateMsg::Message(m));
            }
            self.shared.user_live.store(true, Ordering::Release);
            self.wake.unpark();
            let mut next_ping = Instant::now() + bullet.ping_interval;
            let mut ping_out: Option<Instant> = None;
            let why = loop {
                if self.shared.stop.load(Ordering::Acquire) {
                    wire.close();
                    return;
                }
                let now = Instant::now();
                if ping_out.is_some_and(|at| now.duration_since(at) > bullet.ping_timeout) {
                    break "no pong within the ping timeout".to_string();
                }
                if now >= next_ping {
                    next_id += 1;
                    next_ping = now + bullet.ping_interval;
                    ping_out.get_or_insert(now);
                    if let Err(e) = wire.send_text(session::ping(next_id).as_bytes()) {
                        break e.to_string();
                    }
                }
                match wire.read_message() {
                    Ok(m) => match session::control(m) {
                        Control::Pong(_) => ping_out = None,
                        Control::Welcome(_) | Control::Ack(_) => {}
                        Control::Error { code, text, .. } => {
                            break format!("KuCoin session error {code}: {text}");
                        }
                        Control::Other => {
                            let _ = self.tx.send(PrivateMsg::Message(m.to_vec()));
                            self.wake.unpark();
                        }
                    },
                    Err(e) if e.is_quiet() => {}
                    Err(WireError::Closed) => break "closed by the server".to_string(),
                    Err(e) => break e.to_string(),
                }
            };
            wire.close();
            // Until a new session is up, fills are learnt only by polling: the
            // trader holds new entries, the I/O thread asks about open orders.
            self.shared.user_live.store(false, Ordering::Release);
            let _ = self.tx.send(PrivateMsg::Disconnected);
            self.wake.unpark();
            LinkStats::bump(&self.shared.counters.user_drops);
            tracing::warn!(reason = %why, "KuCoin private session lost: new entries wait, open orders are polled until a new one is up");
        }
    }
}
