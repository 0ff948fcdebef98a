//! Following each order to its end, the same for every venue: the ledger of the
//! orders a link sent (each fill booked once, each end reported once, the position on
//! the way), and what a link does when an order's fate is unknown (a lost answer, a
//! 5xx, a private session down): it asks, waits while the request may still reach the
//! engine, and only then calls the order refused. Each venue's I/O thread says how to
//! ask and resend ([`Follow`]); the policy is written here once.

use super::{Shared, push};
use crate::core::{ClientId, Execution, Lots, OrderRequest, Reject, Report, Ticks, Valuer};
use crate::net::http::RestError;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// An order as a link follows it: what was asked, what filled (cumulative, so a
/// fill learnt twice — an event and a query — is booked once), and whether its end
/// was reported.
#[derive(Debug, Clone)]
pub(crate) struct Followed {
    pub(crate) buy: bool,
    pub(crate) qty: Lots,
    /// Lots filled and their quote value, as forwarded to the gateway.
    pub(crate) cum: Lots,
    pub(crate) quote_e8: i64,
    pub(crate) acked: bool,
    pub(crate) done: bool,
    pub(crate) done_at: Option<Instant>,
    /// Its fate is unknown (a lost answer, a dropped private session): ask.
    pub(crate) unknown: bool,
    /// When a cancel of it was answered (its end is then due).
    pub(crate) cancel_at: Option<Instant>,
    /// Its end was a refusal the gateway was told of: a fill after it is an anomaly.
    pub(crate) refused: bool,
    /// Until when (the venue's clock, ms) its request, whose answer was lost, may
    /// still reach the engine: a query that finds nothing before then is not its end.
    pub(crate) reach_ms: i64,
    /// A cancel that found nothing while the order might still arrive: sent again
    /// when it shows up.
    pub(crate) withdraw: Option<OrderRequest>,
}

/// How long past a request's window (the venue's clock, ms) a link waits before it
/// takes an order no query finds for one that never reached the engine: room for the
/// error of its estimate of that clock.
pub(crate) const REACH_MARGIN_MS: i64 = 1_000;

/// What a query found of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// It rests on the book.
    Open,
    /// It ended (filled, cancelled, expired).
    Done,
    /// The venue does not know it.
    Missing,
}

/// Counts and logs a fill of an order whose refusal was already reported.
fn note_fill_after_refusal(shared: &Shared, c: &ClientId, qty: Lots) {
    super::LinkStats::bump(&shared.counters.fills_after_refusal);
    tracing::error!(order = %c, lots = qty.0, "a fill of an order already reported refused: no operation holds it; check the position");
}

/// The orders a link follows and the reports it hands the gateway: each fill once,
/// each order's end once, the position and the exchange counters kept on the way;
/// and whether the venue's private session (where fills are heard) is up.
pub(crate) struct Ledger {
    pub(crate) orders: HashMap<ClientId, Followed>,
    out: rtrb::Producer<Execution>,
    shared: Arc<Shared>,
    valuer: Valuer,
    /// Private sessions opened so far.
    sessions: u64,
    /// The private session is up (fills and ends are heard).
    up: bool,
}

impl Ledger {
    pub(crate) fn new(
        out: rtrb::Producer<Execution>,
        shared: Arc<Shared>,
        spec: &crate::core::SymbolSpec,
    ) -> Self {
        Self {
            orders: HashMap::with_capacity(256),
            out,
            shared,
            valuer: Valuer::new(spec),
            sessions: 0,
            up: false,
        }
    }

    /// Starts following an order just sent. Sent while the private session is down
    /// (after it was up once), its fate is polled.
    pub(crate) fn track(&mut self, c: ClientId, buy: bool, qty: Lots) {
        self.orders.insert(
            c,
            Followed {
                buy,
                qty,
                cum: Lots(0),
                quote_e8: 0,
                acked: false,
                done: false,
                done_at: None,
                unknown: self.sessions > 0 && !self.up,
                cancel_at: None,
                refused: false,
                reach_ms: 0,
                withdraw: None,
            },
        );
    }

    /// The private session opened. True when it is a reopening: events may have
    /// been missed meanwhile, so every open order is asked about.
    pub(crate) fn session_opened(&mut self) -> bool {
        self.up = true;
        self.sessions += 1;
        let again = self.sessions > 1;
        if again {
            self.mark_open_unknown();
        }
        again
    }

    /// The private session was lost: fills may happen unheard, so the open orders
    /// are polled until it is back.
    pub(crate) fn session_lost(&mut self) {
        self.up = false;
        self.mark_open_unknown();
    }

    /// Whether the private session is up.
    pub(crate) fn session_up(&self) -> bool {
        self.up
    }

    fn mark_open_unknown(&mut self) {
        for o in self.orders.values_mut().filter(|t| !t.done) {
            o.unknown = true;
        }
    }

    /// The open orders whose fate is unknown.
    pub(crate) fn unknown_open(&self) -> Vec<ClientId> {
        let unknown = self.orders.iter().filter(|(_, t)| t.unknown && !t.done);
        unknown.map(|(c, _)| *c).collect()
    }

    /// The orders not known to have ended.
    pub(crate) fn open(&self) -> Vec<ClientId> {
        let open = self.orders.iter().filter(|(_, t)| !t.done);
        open.map(|(c, _)| *c).collect()
    }

    /// Whether `c` is followed and not known to have ended.
    pub(crate) fn is_open(&self, c: &ClientId) -> bool {
        self.orders.get(c).is_some_and(|t| !t.done)
    }

    /// Until when `c`'s request may still reach the engine (0: no such wait).
    pub(crate) fn reach_of(&self, c: &ClientId) -> i64 {
        self.orders.get(c).map_or(0, |t| t.reach_ms)
    }

    /// Marks `c`'s fate unknown (asked again at the next poll); `reach_ms` > 0: its
    /// request may reach the engine until then.
    pub(crate) fn mark_unknown(&mut self, c: &ClientId, reach_ms: Option<i64>) {
        if let Some(t) = self.orders.get_mut(c) {
            t.unknown = true;
            if let Some(r) = reach_ms {
                t.reach_ms = r;
            }
        }
    }

    /// Hands a report to the gateway (waiting, never dropping, while its ring is full).
    pub(crate) fn push(&mut self, client_id: ClientId, report: Report, time_ms: i64) {
        push(&self.shared, &mut self.out, client_id, report, time_ms);
    }

    /// The order rests: said once.
    pub(crate) fn accepted(&mut self, c: &ClientId, time_ms: i64) {
        if let Some(t) = self.orders.get_mut(c) {
            if !t.acked && !t.done {
                t.acked = true;
                self.push(*c, Report::Accepted, time_ms);
            }
        }
    }

    /// The order's end, reported once.
    pub(crate) fn terminal(&mut self, c: &ClientId, r: Report, time_ms: i64) {
        let Some(t) = self.orders.get_mut(c) else {
            return;
        };
        if t.done {
            return;
        }
        t.done = true;
        t.done_at = Some(Instant::now());
        t.refused = matches!(r, Report::Rejected(_));
        self.push(*c, r, time_ms);
    }

    /// Marks `c` ended without a report (an OCO leg whose list was refused: the
    /// list's refusal is the report).
    pub(crate) fn end_quietly(&mut self, c: &ClientId) {
        if let Some(t) = self.orders.get_mut(c) {
            t.done = true;
            t.done_at = Some(Instant::now());
        }
    }

    /// Books what an order shows filled (`cum` lots worth `quote_e8` in all) beyond
    /// what was booked: one fill at the average price of the difference. `fee_rate_e8`
    /// prices its fee. Returns the lots booked (0: nothing new).
    pub(crate) fn fill_to(
        &mut self,
        c: &ClientId,
        cum: Lots,
        quote_e8: i64,
        (maker, fee_rate_e8): (bool, i64),
        time_ms: i64,
    ) -> i64 {
        let Some(t) = self.orders.get(c) else {
            return 0;
        };
        if cum.0 <= t.cum.0 {
            return 0;
        }
        let qty = Lots(cum.0 - t.cum.0);
        let quote = quote_e8.saturating_sub(t.quote_e8).max(0);
        let price = self.price_of(quote, qty);
        let fee = crate::core::fee_e8(quote, fee_rate_e8);
        self.fill(c, price, qty, fee, maker, time_ms);
        qty.0
    }

    /// A fill, forwarded: the position moves, the order is done when nothing is left.
    /// Returns the lots left (`None`: not an order of this link).
    pub(crate) fn fill(
        &mut self,
        c: &ClientId,
        price: Ticks,
        qty: Lots,
        fee_e8: i64,
        maker: bool,
        time_ms: i64,
    ) -> Option<Lots> {
        let value = self.valuer.quote_e8(price, qty);
        let t = self.orders.get_mut(c)?;
        if t.refused {
            note_fill_after_refusal(&self.shared, c, qty);
        }
        t.cum = Lots(t.cum.0.saturating_add(qty.0));
        t.quote_e8 = t.quote_e8.saturating_add(value);
        let leaves = Lots(t.qty.0.saturating_sub(t.cum.0).max(0));
        if leaves.0 == 0 {
            t.done = true;
            t.done_at = Some(Instant::now());
        }
        let signed = if t.buy { qty.0 } else { qty.0.saturating_neg() };
        self.shared.position.fetch_add(signed, Ordering::Relaxed);
        self.push(
            *c,
            Report::Filled {
                price,
                qty,
                maker,
                fee_e8,
                leaves,
            },
            time_ms,
        );
        Some(leaves)
    }

    /// The tick price of `quote_e8` for `qty` (an average, rounded to the grid).
    pub(crate) fn price_of(&self, quote_e8: i64, qty: Lots) -> Ticks {
        let one = self.valuer.quote_e8(Ticks(1), qty).max(1);
        Ticks(((quote_e8 as i128 + one as i128 / 2) / one as i128) as i64)
    }

    /// Finished orders are forgotten a minute after their end.
    pub(crate) fn forget_done(&mut self) {
        let now = Instant::now();
        self.orders.retain(|_, t| {
            t.done_at
                .is_none_or(|d| now.duration_since(d) < Duration::from_secs(60))
        });
    }
}

/// A link's I/O thread as the unknown-fate policy needs it: its ledger, the venue's
/// clock, a query and a resend. The policy itself is the provided methods, the same
/// for every venue.
pub(crate) trait Follow {
    /// The orders followed.
    fn ledger(&mut self) -> &mut Ledger;

    /// The state the link's threads share (the venue's clock offset among it).
    fn shared(&self) -> &Shared;

    /// The venue's clock as this link estimates it, ms.
    fn server_ms(&self) -> i64 {
        let offset = self.shared().offset_ms.load(Ordering::Relaxed);
        super::wall_ms().saturating_add(offset)
    }

    /// Reads the venue's clock again ([`Shared::clock_read`]); a failure keeps the
    /// estimate.
    fn sync_time(&mut self) -> Result<(), RestError>;

    /// Asks the venue about `c` and books what the answer shows; `None` when it
    /// could not be asked.
    fn query(&mut self, c: &ClientId) -> Option<Found>;

    /// Sends `req` (for `id`) again, signed with the venue's clock now.
    fn resend(&mut self, req: &OrderRequest, id: ClientId);

    /// Whether a request the venue takes until `reach_ms` (its clock) may still
    /// arrive. The venue's clock is read again before a wait is decided on it, at
    /// most once per `synced` (a poll round asks the clock once, not per order).
    fn reach_open(&mut self, reach_ms: i64, synced: &mut bool) -> bool {
        if reach_ms <= 0 || self.server_ms() >= reach_ms {
            return false;
        }
        if !*synced {
            let _ = self.sync_time();
            *synced = true;
        }
        self.server_ms() < reach_ms
    }

    /// [`Follow::reach_open`] with a fresh reading of the clock.
    fn within_reach(&mut self, reach_ms: i64) -> bool {
        self.reach_open(reach_ms, &mut false)
    }

    /// A cancel whose order no query finds. If the order's own request may still
    /// reach the engine, the cancel waits for it to show up and is sent again then;
    /// telling the trader the order is unknown would end the order in its eyes.
    fn cancel_found_nothing(&mut self, req: OrderRequest, id: ClientId) {
        let reach = self
            .ledger()
            .orders
            .get(&id)
            .filter(|t| t.unknown && !t.done)
            .map_or(0, |t| t.reach_ms);
        if self.within_reach(reach) {
            if let Some(t) = self.ledger().orders.get_mut(&id) {
                t.withdraw = Some(req);
            }
            return;
        }
        let at = self.server_ms();
        self.ledger()
            .push(id, Report::Rejected(Reject::UnknownOrder), at);
    }

    /// One round of asking about every open order whose fate is unknown: an order
    /// found ends being unknown (unless the private session is down, when it stays
    /// polled); one no query finds is refused once its request can no longer reach
    /// the engine; a cancel that waited for its order is sent when the order shows
    /// up. Finished orders are forgotten after a minute.
    fn poll_unknown(&mut self) {
        let mut synced = false;
        for c in self.ledger().unknown_open() {
            let Some(found) = self.query(&c) else {
                continue;
            };
            let reach = self.ledger().reach_of(&c);
            if found == Found::Missing && self.reach_open(reach, &mut synced) {
                // Its request may still arrive: asked again next time.
                continue;
            }
            let ledger = self.ledger();
            let up = ledger.session_up();
            let withdraw = ledger.orders.get_mut(&c).and_then(|t| {
                t.unknown = !up;
                t.reach_ms = 0;
                t.withdraw.take()
            });
            match (found, withdraw) {
                (Found::Missing, _) => {
                    let at = self.server_ms();
                    self.ledger()
                        .terminal(&c, Report::Rejected(Reject::StatusUnknown), at);
                }
                // It arrived after its cancel found nothing: cancel it now.
                (Found::Open, Some(w)) => self.resend(&w, c),
                _ => {}
            }
        }
        self.ledger().forget_done();
    }

    /// At shutdown, before the cancels: waits (up to `budget`) for the last window
    /// in which a request of unknown fate may still reach the engine, so the cancels
    /// and queries after it see the order if it came.
    fn wait_out_reach(&mut self, budget: Duration) {
        let reach = self
            .ledger()
            .orders
            .values()
            .filter(|t| t.unknown && !t.done)
            .map(|t| t.reach_ms)
            .max()
            .unwrap_or(0);
        if self.within_reach(reach) {
            let left = Duration::from_millis((reach - self.server_ms()).max(0) as u64);
            std::thread::sleep(left.min(budget));
        }
    }

    /// At shutdown, after the cancels: asks each of `open` still not ended how it
    /// ended. One no query finds whose window closed never reached the engine: said
    /// now, while the trader still reads.
    fn ask_each(&mut self, open: Vec<ClientId>) {
        let mut synced = false;
        for c in open {
            if !self.ledger().is_open(&c) {
                continue;
            }
            let found = self.query(&c);
            let reach = self.ledger().reach_of(&c);
            if found == Some(Found::Missing) && reach > 0 && !self.reach_open(reach, &mut synced) {
                let at = self.server_ms();
                self.ledger()
                    .terminal(&c, Report::Rejected(Reject::StatusUnknown), at);
            }
        }
    }

    /// How many open orders' fate stays unknown as the thread stops, recorded and
    /// said ([`super::note_unknown_at_exit`]).
    fn note_unknown_at_exit(&mut self, shared: &Shared) {
        let n = self.ledger().unknown_open().len();
        super::note_unknown_at_exit(shared, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Market, OrderCmd, SymbolSpec};

    /// A venue whose queries answer from a script and whose clock only moves when
    /// told: the policy's decisions and the clock reads it costs are what is checked.
    struct Scripted {
        ledger: Ledger,
        shared: Arc<Shared>,
        reports: rtrb::Consumer<Execution>,
        clock_ms: i64,
        syncs: u32,
        found: HashMap<ClientId, Found>,
        resent: Vec<ClientId>,
    }

    impl Follow for Scripted {
        fn ledger(&mut self) -> &mut Ledger {
            &mut self.ledger
        }
        fn shared(&self) -> &Shared {
            &self.shared
        }
        fn server_ms(&self) -> i64 {
            self.clock_ms
        }
        fn sync_time(&mut self) -> Result<(), RestError> {
            self.syncs += 1;
            Ok(())
        }
        fn query(&mut self, c: &ClientId) -> Option<Found> {
            self.found.get(c).copied()
        }
        fn resend(&mut self, _req: &OrderRequest, id: ClientId) {
            self.resent.push(id);
        }
    }

    fn scripted() -> Scripted {
        let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
        let (tx, rx) = rtrb::RingBuffer::new(64);
        let shared = Shared::new(true);
        Scripted {
            ledger: Ledger::new(tx, shared.clone(), &spec),
            shared,
            reports: rx,
            clock_ms: 10_000,
            syncs: 0,
            found: HashMap::new(),
            resent: Vec::new(),
        }
    }

    fn id(s: &str) -> ClientId {
        ClientId::from(s).unwrap()
    }

    fn reports(v: &mut Scripted) -> Vec<(ClientId, Report)> {
        std::iter::from_fn(|| v.reports.pop().ok())
            .map(|e| (e.client_id, e.report))
            .collect()
    }

    #[test]
    fn an_order_no_query_finds_is_refused_only_once_its_window_closed() {
        let mut v = scripted();
        v.ledger.session_opened();
        let (a, b, c) = (id("a"), id("b"), id("c"));
        for o in [a, b, c] {
            v.ledger.track(o, true, Lots(5));
            v.found.insert(o, Found::Missing);
        }
        // a and b may still reach the engine; c's window has closed.
        v.ledger.mark_unknown(&a, Some(12_000));
        v.ledger.mark_unknown(&b, Some(11_000));
        v.ledger.mark_unknown(&c, Some(9_000));
        v.poll_unknown();
        // One clock read for the round, however many orders wait on it.
        assert_eq!(v.syncs, 1);
        let r = reports(&mut v);
        assert_eq!(r, vec![(c, Report::Rejected(Reject::StatusUnknown))]);
        assert_eq!(v.ledger.unknown_open().len(), 2);
        // b's window closes: refused; a still waits.
        v.clock_ms = 11_500;
        v.poll_unknown();
        assert_eq!(v.syncs, 2);
        assert_eq!(
            reports(&mut v),
            vec![(b, Report::Rejected(Reject::StatusUnknown))]
        );
        // a shows up open: no longer unknown, not refused.
        v.found.insert(a, Found::Open);
        v.poll_unknown();
        assert!(reports(&mut v).is_empty());
        assert!(v.ledger.unknown_open().is_empty() && v.ledger.is_open(&a));
    }

    #[test]
    fn a_cancel_that_found_nothing_waits_for_its_order_and_goes_when_it_shows_up() {
        let mut v = scripted();
        let a = id("a");
        v.ledger.track(a, false, Lots(5));
        v.ledger.mark_unknown(&a, Some(12_000));
        let cancel = OrderRequest {
            cmd: OrderCmd::Cancel(a),
            timestamp_ms: 10_000,
            recv_window_ms: 5_000,
        };
        v.cancel_found_nothing(cancel, a);
        assert!(reports(&mut v).is_empty(), "the trader is not told yet");
        v.found.insert(a, Found::Open);
        v.poll_unknown();
        assert_eq!(v.resent, vec![a], "the cancel goes once the order is there");
        v.poll_unknown();
        assert_eq!(v.resent, vec![a], "and only once");
        // With no order that might still arrive, the cancel is refused at once.
        let b = id("b");
        v.ledger.track(b, false, Lots(5));
        v.cancel_found_nothing(cancel, b);
        assert_eq!(
            reports(&mut v),
            vec![(b, Report::Rejected(Reject::UnknownOrder))]
        );
    }

    #[test]
    fn orders_are_polled_while_the_private_session_is_down() {
        let mut v = scripted();
        let (a, b) = (id("a"), id("b"));
        v.ledger.track(a, true, Lots(5));
        assert!(
            !v.ledger.session_opened(),
            "the first session is no reopening"
        );
        assert!(v.ledger.unknown_open().is_empty());
        v.ledger.session_lost();
        assert_eq!(v.ledger.unknown_open(), vec![a]);
        // Sent while it is down: polled too.
        v.ledger.track(b, true, Lots(5));
        assert_eq!(v.ledger.unknown_open().len(), 2);
        v.found.insert(a, Found::Open);
        v.found.insert(b, Found::Open);
        v.poll_unknown();
        assert_eq!(v.ledger.unknown_open().len(), 2, "found, but still unheard");
        assert!(v.ledger.session_opened(), "a reopening");
        v.poll_unknown();
        assert!(v.ledger.unknown_open().is_empty());
        // Fills booked once by cumulative quantity; the end reported once.
        let at = v.server_ms();
        assert_eq!(v.ledger.fill_to(&a, Lots(2), 200_000_000, (true, 0), at), 2);
        assert_eq!(v.ledger.fill_to(&a, Lots(2), 200_000_000, (true, 0), at), 0);
        v.ledger.terminal(&a, Report::Canceled, at);
        v.ledger.terminal(&a, Report::Canceled, at);
        let r: Vec<Report> = reports(&mut v).into_iter().map(|x| x.1).collect();
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(matches!(
            r[0],
            Report::Filled {
                qty: Lots(2),
                leaves: Lots(3),
                ..
            }
        ));
        assert_eq!(r[1], Report::Canceled);
    }
}
