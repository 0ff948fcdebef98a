//! The live order link to KuCoin (or the local KuCoin venue, `minerva exchange`):
//! spot high-frequency (HF) orders and futures orders, the trader's end of the venue
//! as Binance's link is (the same [`LiveLink`] face: rings, counters, report).
//!
//! * The I/O thread (`io`) sends each signed request (written on the gateway thread:
//!   [`super::orders::encode`]) on one keep-alive REST connection and follows each
//!   order by client id: KuCoin answers a placement with its ids only, so fills
//!   come as `orderChange` messages on the private WebSocket (`private`: a
//!   `bullet-private` token per session, welcome, `/spotMarket/tradeOrdersV2`, pings,
//!   reconnection; futures: `/contractMarket/tradeOrders:{symbol}` and the position's
//!   `/contract/position:{symbol}`) or, when one was missed, from a query (`dealSize`,
//!   `dealFunds`; futures `dealValue`).
//!   Fills are booked by cumulative size, so one learnt twice is forwarded once.
//!   KuCoin's messages carry no fee: the configured maker or taker rate prices it.
//! * A 5xx or a lost connection leaves an order's fate unknown: the link queries it
//!   by client id and never resends blindly. 400002 (timestamp) re-reads KuCoin's
//!   clock and signs the request again once. 429 / `429000`, or a
//!   `gw-ratelimit-remaining` of 0, stops new orders until `gw-ratelimit-reset`
//!   (refused locally; cancels wait and go).
//! * On start: KuCoin's clock, stale `mnv…` orders of an earlier session cancelled,
//!   other open orders refused, adopted or cancelled (`--on-start`), the quote's
//!   available balance read (operations are sized from it when smaller). After a
//!   private session is lost, every open order is queried.
//! * Account snapshots (start, periodic, exit) from `GET /api/v1/accounts` (futures:
//!   `account-overview` and the symbol's `position`; each `position.change` message
//!   too).
//! * Futures, at start: the symbol's position (refused, adopted or closed with a
//!   `closeOrder` as `--on-start` says), its margin mode (orders carry it: KuCoin
//!   refuses an order in the other mode), and the leverage — the strategy's cap within
//!   the contract's `maxLeverage` — which isolated orders carry and cross margin sets
//!   on the symbol ([`super::orders::FuturesTerms`], shared with the encoder).
//!
//! Neither key, secret nor passphrase is ever logged or printed.

mod io;
mod private;

use super::keys::KucoinKeys;
use super::orders::FuturesTerms;
use crate::core::SymbolSpec;
use crate::venues::link::{Command, LeverageWish, LinkError, LiveLink, RING, Shared};
use crate::venues::{AccountSink, OnStart};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// Where and as whom the link trades.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// KuCoin's REST server (`https://api.kucoin.com:443`, or the local venue's
    /// `http://127.0.0.1:port`); the private WebSocket is the one its tokens name.
    pub rest: String,
    /// The symbol traded (spot or futures).
    pub spec: SymbolSpec,
    /// The account's keys.
    pub keys: Arc<KucoinKeys>,
    /// How often KuCoin's clock is read again.
    pub time_sync: Duration,
    /// Maker and taker fee rates (10⁻⁸): KuCoin's order messages carry no fee.
    pub fees: (i64, i64),
    /// What to do with open orders found on the account at start.
    pub on_start: OnStart,
    /// Where account snapshots go (start, periodic, exit); `None`: nowhere.
    pub account: Option<AccountSink>,
    /// The leverage wanted (futures).
    pub leverage: Option<LeverageWish>,
    /// Where the leverage and margin mode settled at start are written for the
    /// trader's encoder (its [`Signer::with_terms`](crate::venues::kucoin::sign::Signer::with_terms)).
    pub terms: Arc<FuturesTerms>,
}

/// Connects: KuCoin's clock, stale and foreign orders, the balance, the private
/// session; then the link's threads run until it is dropped. Cold.
///
/// # Errors
/// [`LinkError`] when KuCoin cannot be reached, refuses the keys or the leverage,
/// finds a position or orders `on_start` refuses, or the private session cannot be
/// opened.
pub fn start(cfg: LinkConfig) -> Result<LiveLink, LinkError> {
    if crate::core::Valuer::new(&cfg.spec).is_inverse() {
        return Err(LinkError::Unsupported(
            "KuCoin inverse (coin-margined) contracts are not traded yet: linear contracts and spot (docs/kucoin.md)",
        ));
    }
    let shared = Shared::new(false);
    let (to_io, cmd_rx) = rtrb::RingBuffer::<Command>::new(RING);
    let (exec_tx, from_io) = rtrb::RingBuffer::new(RING);
    let (private_tx, private_rx) = channel();
    let mut io = io::Io::new(&cfg, shared.clone(), exec_tx, private_rx);
    let startup = io.start()?;
    if let Some(a) = startup.available_e8 {
        shared.available_e8.store(a, Ordering::Relaxed);
    }
    // An adopted position is the link's from the start (as on Binance).
    shared.position.store(startup.position.0, Ordering::Relaxed);
    let io_handle = std::thread::Builder::new()
        .name("minerva-kc-orders".into())
        .spawn(move || io.run(cmd_rx))
        .map_err(|e| LinkError::Thread(e.to_string()))?;
    let io_thread = io_handle.thread().clone();
    let session = private::Private::new(&cfg, shared.clone(), private_tx, io_thread.clone());
    let private_handle = std::thread::Builder::new()
        .name("minerva-kc-private".into())
        .spawn(move || session.run())
        .map_err(|e| LinkError::Thread(e.to_string()))?;
    let link = LiveLink {
        to_io,
        from_io,
        io: io_thread,
        handles: vec![io_handle, private_handle],
        account: None,
        shared,
        local: arrayvec::ArrayVec::new(),
        startup,
    };
    // Trading starts only once fills can be heard.
    let until = Instant::now() + Duration::from_secs(10);
    while !link.shared.user_live.load(Ordering::Acquire) {
        if Instant::now() > until {
            return Err(LinkError::UserStream(
                "no KuCoin private session within 10 s (bullet-private or WebSocket refused)"
                    .into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(link)
}

/// Runs private messages through the link's order states with no venue behind it
/// (the REST address is unreachable: a query finds nothing; no thread runs): `orders`
/// are (client id, buy, size) as if sent. Returns the reports the gateway would get,
/// and how many messages did not read. The link's own code, offline (tests,
/// fuzzing). Cold.
pub fn replay_private_messages(
    spec: &SymbolSpec,
    orders: &[(&str, bool, crate::core::Lots)],
    messages: &[&[u8]],
) -> (Vec<crate::core::Execution>, u64) {
    let shared = Shared::new(true);
    let (tx, mut rx) = rtrb::RingBuffer::new(RING);
    let (_private_tx, private_rx) = channel();
    let cfg = LinkConfig {
        rest: "127.0.0.1:1".into(),
        spec: spec.clone(),
        keys: Arc::new(KucoinKeys::paper()),
        time_sync: Duration::from_secs(3600),
        fees: (100_000, 100_000),
        on_start: OnStart::default(),
        account: None,
        leverage: None,
        terms: Default::default(),
    };
    let mut io = io::Io::new(&cfg, shared.clone(), tx, private_rx);
    for &(c, buy, qty) in orders {
        io.track(crate::core::ClientId::from(c).unwrap_or_default(), buy, qty);
    }
    let mut out = Vec::new();
    for m in messages {
        io.on_message(m);
        while let Ok(x) = rx.pop() {
            out.push(x);
        }
    }
    (out, shared.counters.malformed.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Lots, Market, Report, Ticks};

    fn change(typ: &str, filled: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"type":"message","topic":"/spotMarket/tradeOrdersV2","subject":"orderChange","channelType":"private","data":{{"symbol":"BTC-USDT","orderType":"limit","side":"buy","orderId":"6","type":"{typ}","status":"match","orderTime":1,"size":"0.3","filledSize":"{filled}","price":"100","clientOid":"mnv1e","remainSize":"0","ts":1729176273859000000{extra}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn order_changes_are_booked_once_by_cumulative_size() {
        let spec = SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.001").unwrap();
        let m = |p: &str, q: &str, liq: &str| {
            format!(r#","matchPrice":"{p}","matchSize":"{q}","liquidity":"{liq}""#)
        };
        let open = change("open", "0", "");
        let first = change("match", "0.1", &m("100", "0.1", "maker"));
        let again = first.clone();
        let second = change("match", "0.3", &m("100.5", "0.2", "taker"));
        let filled = change("filled", "0.3", "");
        let foreign = String::from_utf8(first.clone())
            .unwrap()
            .replace("mnv1e", "someone-else")
            .into_bytes();
        let (out, malformed) = replay_private_messages(
            &spec,
            &[("mnv1e", true, Lots(300))],
            &[
                &open,
                &first,
                &again,
                &second,
                &filled,
                &foreign,
                b"{not json",
            ],
        );
        assert_eq!(malformed, 1);
        let reports: Vec<Report> = out.iter().map(|e| e.report).collect();
        assert_eq!(reports[0], Report::Accepted);
        assert_eq!(reports.len(), 3, "{reports:?}");
        assert_eq!(
            reports[1],
            Report::Filled {
                price: Ticks(1_000),
                qty: Lots(100),
                maker: true,
                // 0.1 % of 10 USDT.
                fee_e8: 1_000_000,
                leaves: Lots(200),
            }
        );
        assert!(matches!(
            reports[2],
            Report::Filled {
                price: Ticks(1_005),
                qty: Lots(200),
                maker: false,
                leaves: Lots(0),
                ..
            }
        ));
        assert_eq!(out[1].time_us, 1_729_176_273_859_000);
    }

    /// Inverse contracts are refused before anything is asked of KuCoin.
    #[test]
    fn inverse_contracts_are_refused_at_start() {
        let spec = SymbolSpec::from_tick_lot("XBTUSDM", Market::CoinM, "0.1", "1").unwrap();
        let cfg = LinkConfig {
            rest: "127.0.0.1:1".into(),
            spec,
            keys: Arc::new(KucoinKeys::paper()),
            time_sync: Duration::from_secs(1),
            fees: (0, 0),
            on_start: OnStart::default(),
            account: None,
            leverage: None,
            terms: Default::default(),
        };
        assert!(matches!(start(cfg), Err(LinkError::Unsupported(_))));
    }

    #[test]
    fn a_cancel_ends_the_order_once() {
        let spec = SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.001").unwrap();
        let c = change("canceled", "0", "");
        let (out, _) = replay_private_messages(&spec, &[("mnv1e", true, Lots(300))], &[&c, &c]);
        let reports: Vec<Report> = out.iter().map(|e| e.report).collect();
        assert_eq!(reports, vec![Report::Canceled]);
    }
}
