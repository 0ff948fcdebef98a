//! The account as Binance shows it, for the audit journal: read over REST at start,
//! every minute and at exit on a thread of its own (never on the order path), and
//! taken from the user data stream's account events as they come. Figures are kept
//! as the exchange wrote them. Cold path.

use super::Shared;
use crate::core::{Market, SymbolSpec};
use crate::net::http::Client;
use crate::venues::binance::endpoints::Rest;
use crate::venues::binance::keys::{API_KEY_HEADER, ApiKeys};
use crate::venues::binance::sign::{DEFAULT_RECV_WINDOW_MS, Signer};
use crate::venues::binance::user::{AccountUpdate, OutboundAccountPosition};
use crate::venues::{AccountSink, AccountSnapshot};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A spot balance as `account` answers it (only what a snapshot keeps).
#[derive(Deserialize)]
struct Balance {
    asset: String,
    #[serde(default)]
    free: String,
    #[serde(default)]
    locked: String,
}

#[derive(Deserialize)]
struct SpotAccount {
    #[serde(default)]
    balances: Vec<Balance>,
}

/// A futures `balance` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FuturesBalance {
    asset: String,
    #[serde(default)]
    balance: String,
    #[serde(default)]
    available_balance: String,
}

/// A futures `positionRisk` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Position {
    symbol: String,
    #[serde(default)]
    position_amt: String,
    #[serde(default)]
    entry_price: String,
    #[serde(default)]
    un_realized_profit: String,
    #[serde(default)]
    isolated_margin: String,
    #[serde(default)]
    leverage: String,
}

/// Who a snapshot is about: the symbol traded and the asset its money is in.
#[derive(Clone)]
pub(super) struct Subject {
    pub(super) symbol: String,
    pub(super) market: Market,
    /// The margin asset (spot: the quote asset).
    pub(super) asset: String,
    /// Spot: the base asset (the position is its balance).
    pub(super) base: String,
}

impl Subject {
    pub(super) fn of(spec: &SymbolSpec) -> Self {
        let (base, quote) =
            crate::venues::binance::exchange_info::assets_of(&spec.name, spec.market);
        let asset = if spec.market == Market::CoinM {
            base.clone()
        } else {
            quote
        };
        Self {
            symbol: spec.name.to_string(),
            market: spec.market,
            asset,
            base,
        }
    }

    /// The snapshot an account event of the user data stream shows (`None` when it
    /// says nothing of this symbol's asset or position).
    pub(super) fn futures_event_snapshot(&self, a: &AccountUpdate) -> Option<AccountSnapshot> {
        let bal = a.change.balances.iter().find(|b| b.asset == self.asset);
        let pos = a.change.positions.iter().find(|p| p.symbol == self.symbol);
        if bal.is_none() && pos.is_none() {
            return None;
        }
        Some(AccountSnapshot {
            why: "stream",
            symbol: self.symbol.clone(),
            exchange_ms: a.transaction_ms,
            asset: self.asset.clone(),
            wallet: bal.map(|b| b.wallet.clone()),
            available: bal.map(|b| b.cross_wallet.clone()),
            position: pos.map(|p| p.amount.clone()),
            entry_price: pos.map(|p| p.entry_price.clone()),
            unrealised: pos.map(|p| p.unrealised.clone()),
            margin: pos.map(|p| p.isolated_wallet.clone()),
            leverage: None,
            detail: a.change.reason.clone(),
        })
    }

    /// As [`Subject::futures_event_snapshot`], for spot's `outboundAccountPosition`.
    pub(super) fn spot_event_snapshot(
        &self,
        o: &OutboundAccountPosition,
    ) -> Option<AccountSnapshot> {
        let quote = o.balances.iter().find(|b| b.asset == self.asset);
        let base = o.balances.iter().find(|b| b.asset == self.base);
        if quote.is_none() && base.is_none() {
            return None;
        }
        Some(AccountSnapshot {
            why: "stream",
            symbol: self.symbol.clone(),
            exchange_ms: o.event_ms,
            asset: self.asset.clone(),
            wallet: quote.map(|b| sum(&b.free, &b.locked)),
            available: quote.map(|b| b.free.clone()),
            position: base.map(|b| sum(&b.free, &b.locked)),
            entry_price: None,
            unrealised: None,
            margin: quote.map(|b| b.locked.clone()),
            leverage: None,
            detail: String::new(),
        })
    }
}

/// `a + b` of two decimal texts (8 places, as Binance writes balances); `a` when
/// either does not read.
fn sum(a: &str, b: &str) -> String {
    let read = |t: &str| crate::core::Dec8::parse(t.as_bytes()).ok();
    match (read(a), read(b)) {
        (Some(x), Some(y)) => crate::core::Dec8(x.0.saturating_add(y.0)).to_string(),
        _ => a.to_string(),
    }
}

/// Reads of the exit snapshot before giving up.
const EXIT_ATTEMPTS: u32 = 5;

/// Reads the account over REST on its own connection.
pub(super) struct AccountReader {
    rest: Client,
    signer: Signer,
    keys: Arc<ApiKeys>,
    subject: Subject,
    shared: Arc<Shared>,
    sink: AccountSink,
}

impl AccountReader {
    pub(super) fn new(
        rest: &str,
        keys: Arc<ApiKeys>,
        spec: &SymbolSpec,
        shared: Arc<Shared>,
        sink: AccountSink,
    ) -> Self {
        Self {
            rest: Client::new(rest, Duration::from_secs(5)),
            signer: Signer::new(&keys),
            keys,
            subject: Subject::of(spec),
            shared,
            sink,
        }
    }

    /// A signed GET; `None` (logged) when it fails.
    fn get(&mut self, e: Rest, params: &str) -> Option<Vec<u8>> {
        let server_ms =
            super::wall_ms().saturating_add(self.shared.offset_ms.load(Ordering::Relaxed));
        let signed = self
            .signer
            .sign_query(params, DEFAULT_RECV_WINDOW_MS, server_ms);
        let path = format!("{}?{signed}", e.on(self.subject.market));
        let key = self.keys.api_key().to_string();
        match self
            .rest
            .request("GET", &path, b"", &[(API_KEY_HEADER, key.as_str())])
        {
            Ok(r) if r.status == 200 => Some(r.body),
            Ok(r) => {
                tracing::warn!(status = r.status, body = %String::from_utf8_lossy(&r.body), "account snapshot: request refused");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "account snapshot: request failed");
                None
            }
        }
    }

    /// The account now, `why` it was read (`start`, `periodic`, `exit`).
    pub(super) fn read(&mut self, why: &'static str) -> Option<AccountSnapshot> {
        let s = self.subject.clone();
        let now_ms = super::wall_ms().saturating_add(self.shared.offset_ms.load(Ordering::Relaxed));
        let mut snap = AccountSnapshot {
            why,
            symbol: s.symbol.clone(),
            exchange_ms: now_ms,
            asset: s.asset.clone(),
            ..AccountSnapshot::default()
        };
        if s.market.is_futures() {
            let body = self.get(Rest::Balance, "")?;
            let balances: Vec<FuturesBalance> = sonic_rs::from_slice(&body).ok()?;
            if let Some(b) = balances.into_iter().find(|b| b.asset == s.asset) {
                snap.wallet = Some(b.balance);
                snap.available = Some(b.available_balance);
            }
            let body = self.get(Rest::PositionRisk, &format!("symbol={}", s.symbol))?;
            let positions: Vec<Position> = sonic_rs::from_slice(&body).ok()?;
            if let Some(p) = positions.into_iter().find(|p| p.symbol == s.symbol) {
                snap.position = Some(p.position_amt);
                snap.entry_price = Some(p.entry_price);
                snap.unrealised = Some(p.un_realized_profit);
                snap.margin = Some(p.isolated_margin);
                snap.leverage = p.leverage.parse().ok();
            }
        } else {
            let body = self.get(Rest::Account, "")?;
            let account: SpotAccount = sonic_rs::from_slice(&body).ok()?;
            for b in account.balances {
                if b.asset == s.asset {
                    snap.wallet = Some(sum(&b.free, &b.locked));
                    snap.available = Some(b.free);
                    snap.margin = Some(b.locked);
                } else if b.asset == s.base {
                    snap.position = Some(sum(&b.free, &b.locked));
                }
            }
        }
        Some(snap)
    }

    /// Reads and hands over a snapshot.
    pub(super) fn take(&mut self, why: &'static str) {
        if let Some(s) = self.read(why) {
            (self.sink.f)(s);
        }
    }

    /// Every `every` until the link's I/O threads have stopped, then once more at
    /// exit (after the last stream event's snapshot).
    pub(super) fn run(mut self, every: Duration) {
        let mut next = Instant::now() + every;
        while !self.shared.io_stopped.load(Ordering::Acquire) {
            if Instant::now() >= next {
                self.take("periodic");
                next = Instant::now() + every;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The last word on the account: a refused or failed read (a fault, a
        // clock step the link is still resyncing) is tried again, a few times.
        for _ in 0..EXIT_ATTEMPTS {
            if let Some(s) = self.read("exit") {
                (self.sink.f)(s);
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        tracing::warn!("account snapshot: no exit snapshot after {EXIT_ATTEMPTS} attempts");
    }
}
