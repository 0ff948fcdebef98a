//! The simulated exchange: a Binance-like matching engine for one symbol, taking the
//! trader's typed [`OrderRequest`]s (the backtest and paper trading, through
//! [`link::SimLink`]) and the local exchange's (parsed from a venue's requests).
//!
//! It keeps its own copy of the book from the market data (the exchange's side of the
//! feed, in exchange time), or, in a backtest, reads the book stage's book, which is
//! lent to it on the same thread at the same moments (`pipeline::compact`); it matches
//! our orders against that book:
//!
//! * requests arrive after the order latency ([`latency`]) and are checked as Binance
//!   checks them: the validity window (`recvWindow`), the symbol's filters (tick, lot,
//!   min/max, notional), margin; refusals are [`Reject`] reasons, which each venue
//!   names with its own codes (`venues::binance::errors`);
//! * limit orders (`GTC`, `IOC`, `FOK`, post-only `GTX`/`LIMIT_MAKER`) that cross take
//!   the book level by level as taker (partial fills, one report per level); the rest
//!   rests at the back of its level's queue, which trades and cancellations advance by
//!   the [`queue`] model; a resting order fills as maker from the aggressor volume that
//!   reaches it (partially), or whole when a trade prints through its price or the
//!   opposite touch moves through it;
//! * market orders sweep the book; stops trigger on a trade at or through their price
//!   and sweep the book, never at a better price than the trade that triggered them;
//! * `reduceOnly` orders are refused with nothing to reduce, capped at the position,
//!   and expire when it closes; the legs of an OCO list cancel each other on a fill;
//! * the [`account`] books fees per fill, futures margin, funding and liquidation;
//! * execution reports come back after the response latency.
//!
//! Our orders do not change the replayed book: what they take is taken again by the
//! next order (the recorded market did not see them). `docs/backtest.md` lists the
//! models' limits.
//!
//! # Hot path: every buffer is sized at start-up; no allocation.

pub mod account;
pub mod latency;
pub mod link;
mod order;
pub mod queue;

use self::account::Account;
use self::latency::LatencyModel;
use self::order::{Kind, Order, Tif, checked};
use self::queue::QueueModel;
use crate::book::{Book, BookConfig};
use crate::core::{
    ClientId, DepthSnapshot, EventBody, ExchangeStats, Execution, Level, Lots, MarketEvent,
    OcoOrder, OrderCmd, OrderRequest, Reject, Report, SymbolSpec, Ticks, Valuer, fee_e8,
};
use crate::strategy::Strategy;
use arrayvec::ArrayVec;

/// How the simulated exchange behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Order and response latency (the feed delay is the trader's).
    pub latency: LatencyModel,
    /// Queue position model.
    pub queue: QueueModel,
    /// Maker fee rate, 10⁻⁸.
    pub maker_fee_e8: i64,
    /// Taker fee rate, 10⁻⁸.
    pub taker_fee_e8: i64,
    /// Account capital, 10⁻⁸ quote.
    pub capital_e8: i64,
    /// Futures leverage (1 on spot).
    pub leverage: u32,
    /// Futures maintenance margin rate, ppm.
    pub maintenance_ppm: u32,
    /// Open orders at most (and requests in flight).
    pub max_orders: usize,
    /// Seed of the latency draws.
    pub seed: u64,
    /// Buffers of the exchange's own book.
    pub book: BookConfig,
}

impl SimConfig {
    /// The strategy's capital, fees and leverage; no latency; risk-averse queues;
    /// Binance's first-bracket maintenance rate for BTCUSDT (0.4 %).
    pub fn for_strategy(strategy: &Strategy) -> Self {
        Self {
            latency: LatencyModel::default(),
            queue: QueueModel::default(),
            maker_fee_e8: strategy.maker_fee_e8,
            taker_fee_e8: strategy.taker_fee_e8,
            capital_e8: strategy.capital.0,
            leverage: strategy.max_leverage,
            maintenance_ppm: 4_000,
            // Entry, or two exits and a flattening order, per operation.
            max_orders: 3 * strategy.max_concurrent_trades.max(1) as usize,
            seed: 0,
            book: BookConfig::unchecked(),
        }
    }
}

/// What a user chooses about the simulated exchange (`--latency`, `--queue`, `--fees`,
/// `--seed`…); the rest comes from the strategy.
/// Serialisable: `evolve --queue` hands it to workers on other machines.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SimOptions {
    /// Feed, order and response latency.
    pub latency: LatencyModel,
    /// Queue position model.
    pub queue: QueueModel,
    /// Maker and taker fee rates (10⁻⁸) charged instead of the strategy's.
    pub fees: Option<(i64, i64)>,
    /// Maintenance margin rate, ppm, instead of 0.4 %.
    pub maintenance_ppm: Option<u32>,
    /// Seed of every random draw.
    pub seed: u64,
}

impl SimOptions {
    /// The exchange's configuration for `strategy`.
    pub fn config(&self, strategy: &Strategy) -> SimConfig {
        let mut c = SimConfig::for_strategy(strategy);
        c.latency = self.latency;
        c.queue = self.queue;
        if let Some((maker, taker)) = self.fees {
            c.maker_fee_e8 = maker;
            c.taker_fee_e8 = taker;
        }
        if let Some(m) = self.maintenance_ppm {
            c.maintenance_ppm = m;
        }
        c.seed = self.seed;
        c
    }
}

/// The simulated exchange's counters (the same as a live link's).
pub type SimStats = ExchangeStats;

#[derive(Debug, Clone, Copy)]
struct InFlight {
    arrive_us: u64,
    req: OrderRequest,
}

/// The simulated exchange for one symbol: its book and its matching engine.
pub struct SimExchange {
    /// The exchange's copy of the book, fed by [`Self::on_event`]; made at its first
    /// use. A backtest's exchange reads the book stage's instead (the `*_in` methods)
    /// and never makes one.
    book: Option<Book>,
    /// Its buffers' sizes.
    book_cfg: BookConfig,
    engine: Engine,
}

/// Everything of the exchange but its book: each method reads the book it is handed,
/// the exchange's own or one lent by the book stage.
struct Engine {
    spec: SymbolSpec,
    valuer: Valuer,
    queue: QueueModel,
    latency: LatencyModel,
    rng: fastrand::Rng,
    maker_e8: i64,
    taker_e8: i64,
    in_flight: Vec<InFlight>,
    orders: Vec<(Order, u32)>,
    reports: Vec<Execution>,
    last_deliver_us: u64,
    now_us: u64,
    epoch: u32,
    last_trade: Option<Ticks>,
    mark: Option<Ticks>,
    funding: Option<(u64, i64)>,
    /// The last funding time settled, ms.
    funded_ms: u64,
    trade_stream: bool,
    account: Account,
    /// Counters.
    stats: SimStats,
}

/// Levels a taker order may sweep at once.
const SWEEP_LEVELS: usize = 64;

impl SimExchange {
    /// An exchange for `spec`.
    pub fn new(spec: &SymbolSpec, cfg: &SimConfig) -> Self {
        Self {
            book: None,
            book_cfg: cfg.book,
            engine: Engine::new(spec, cfg),
        }
    }

    /// The exchange's own book, made at its first use. Cold the first time.
    #[inline]
    fn own(&mut self) -> (&mut Book, &mut Engine) {
        let Self {
            book,
            book_cfg,
            engine,
        } = self;
        let book = book.get_or_insert_with(|| Book::new(&engine.spec, book_cfg));
        (book, engine)
    }

    /// Makes the exchange's own book now and maps its pages ([`Book::prefault`]), for
    /// a run where no book is lent to it. Cold.
    pub fn prefault(&mut self) {
        self.own().0.prefault();
    }

    /// The account (wallet, position, fees, funding).
    pub fn account(&self) -> &Account {
        &self.engine.account
    }

    /// The account's position, lots (negative: short).
    pub fn position(&self) -> Lots {
        self.engine.account.position()
    }

    /// Orders resting on the book.
    pub fn open_orders(&self) -> usize {
        self.engine.orders.len()
    }

    /// The account, to change its leverage (the local exchange's leverage endpoint).
    pub fn account_mut(&mut self) -> &mut Account {
        &mut self.engine.account
    }

    /// The mark price, else the last trade, else the mid of the touch.
    pub fn mark(&self) -> Option<Ticks> {
        self.engine.mark(self.book.as_ref())
    }

    /// Lets every request sent so far arrive now, whatever the order latency (the
    /// venue: requests come over real sockets, their latency is the network's).
    pub fn settle(&mut self) {
        self.settle_in(None);
    }

    /// [`Self::settle`] on a `lent` book, when given.
    pub fn settle_in(&mut self, lent: Option<&Book>) {
        match lent {
            Some(book) => self.engine.settle(book),
            None => {
                let (book, engine) = self.own();
                engine.settle(book);
            }
        }
    }

    /// Exchange time of the last event seen, µs.
    pub fn now_us(&self) -> u64 {
        self.engine.now_us
    }

    /// The exchange's own book (none before its first event, or when it reads a lent
    /// one).
    pub fn book(&self) -> Option<&Book> {
        self.book.as_ref()
    }

    /// The exchange's counters.
    pub fn stats(&self) -> SimStats {
        self.engine.stats
    }

    /// Sends a request at `sent_us` (the sender's clock, exchange time base); it arrives
    /// after the order latency. `wire` is what it looks like on the venue's wire (for
    /// [`ExchangeStats::requests_digest`]; empty when there is none).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn send(&mut self, req: &OrderRequest, wire: &[u8], sent_us: u64) {
        self.engine.send(req, wire, sent_us);
    }

    /// A market event as the exchange publishes it: the requests due by its time
    /// arrive (against the book before it), then the exchange's book takes it.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_event(&mut self, ev: &MarketEvent) {
        self.on_event_in(ev, None);
    }

    /// [`Self::on_event`] on a `lent` book, when given, which has taken `ev` already;
    /// [`Self::arrive_before`] let the requests due by its time arrive before it did.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn on_event_in(&mut self, ev: &MarketEvent, lent: Option<&Book>) {
        let t_us = self.engine.time_of(ev);
        match lent {
            Some(book) => {
                self.engine.advance(book, t_us);
                self.engine.after_event(book, ev);
            }
            None => {
                let (book, engine) = self.own();
                engine.advance(book, t_us);
                match &ev.body {
                    EventBody::Depth(c) => book.on_depth(c),
                    EventBody::BookTicker(_) => book.on_event(ev),
                    _ => {}
                }
                engine.after_event(book, ev);
            }
        }
    }

    /// The requests due by `ev`'s time arrive against `book`, which has not taken `ev`
    /// yet: the same moment [`Self::on_event`] lets them arrive on the exchange's own
    /// book. The book's owner calls it, then applies `ev`, then hands it to
    /// [`Self::on_event_in`].
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn arrive_before(&mut self, ev: &MarketEvent, book: &Book) {
        let t_us = self.engine.time_of(ev);
        self.engine.advance(book, t_us);
    }

    /// A REST depth snapshot (the book's resync).
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot) {
        let (book, engine) = self.own();
        book.apply_snapshot(snap);
        engine.after_depth(book);
    }

    /// A snapshot a `lent` book has taken already (see [`Self::on_event_in`]).
    pub fn on_snapshot_in(&mut self, snap: &DepthSnapshot, lent: Option<&Book>) {
        match lent {
            Some(book) => self.engine.after_depth(book),
            None => self.on_snapshot(snap),
        }
    }

    /// Hands every report due by `now_us` (the trader's clock) to `f`, oldest first.
    #[inline]
    pub fn drain_due(&mut self, now_us: u64, f: impl FnMut(&Execution)) {
        self.engine.drain_due(now_us, f);
    }

    /// Lets every request sent so far arrive, then cancels every resting order
    /// (shutdown); the reports are all due at once. Returns how many were cancelled.
    pub fn cancel_all(&mut self) -> usize {
        self.cancel_all_in(None)
    }

    /// [`Self::cancel_all`] on a `lent` book, when given.
    pub fn cancel_all_in(&mut self, lent: Option<&Book>) -> usize {
        match lent {
            Some(book) => self.engine.cancel_all(book),
            None => {
                let (book, engine) = self.own();
                engine.cancel_all(book)
            }
        }
    }
}

impl Engine {
    fn new(spec: &SymbolSpec, cfg: &SimConfig) -> Self {
        let n = cfg.max_orders.max(2);
        Self {
            spec: spec.clone(),
            valuer: Valuer::new(spec),
            queue: cfg.queue,
            latency: cfg.latency,
            rng: fastrand::Rng::with_seed(cfg.seed ^ 0x006d_696e_6572_7661),
            maker_e8: cfg.maker_fee_e8,
            taker_e8: cfg.taker_fee_e8,
            in_flight: Vec::with_capacity(n),
            orders: Vec::with_capacity(n),
            reports: Vec::with_capacity(16 * n + SWEEP_LEVELS),
            last_deliver_us: 0,
            now_us: 0,
            epoch: 0,
            last_trade: None,
            mark: None,
            funding: None,
            funded_ms: 0,
            trade_stream: false,
            account: Account::new(spec, cfg.capital_e8, cfg.leverage, cfg.maintenance_ppm),
            stats: SimStats::default(),
        }
    }

    fn mark(&self, book: Option<&Book>) -> Option<Ticks> {
        self.mark.or(self.last_trade).or_else(|| {
            let (b, a) = (book?.best_bid()?, book?.best_ask()?);
            Some(Ticks((b.price.0 + a.price.0) / 2))
        })
    }

    fn settle(&mut self, book: &Book) {
        let t = self
            .in_flight
            .last()
            .map_or(self.now_us, |f| f.arrive_us)
            .max(self.now_us);
        self.advance(book, t);
    }

    /// An event's exchange time, µs (the last one's when it carries none).
    #[inline]
    fn time_of(&self, ev: &MarketEvent) -> u64 {
        if ev.event_ms > 0 {
            ev.event_ms * 1000
        } else {
            self.now_us
        }
    }

    fn send(&mut self, req: &OrderRequest, wire: &[u8], sent_us: u64) {
        self.stats.requests += 1;
        let kind = match req.cmd {
            OrderCmd::New(_) => 0,
            OrderCmd::Oco(_) => 1,
            OrderCmd::Cancel(_) => 2,
        };
        self.stats.digest(kind, wire);
        let arrive_us = sent_us + self.latency.order.sample(&mut self.rng);
        if self.in_flight.len() == self.in_flight.capacity() {
            return self.report(req.cmd.client_id(), Report::Rejected(Reject::TooManyOrders));
        }
        // Kept in arrival order; equal times keep sending order.
        let at = self.in_flight.partition_point(|f| f.arrive_us <= arrive_us);
        self.in_flight.insert(
            at,
            InFlight {
                arrive_us,
                req: *req,
            },
        );
    }

    /// What an event the book has taken changes for the orders: fills as maker, stops,
    /// funding, liquidation.
    ///
    /// # Hot path: no allocation.
    fn after_event(&mut self, book: &Book, ev: &MarketEvent) {
        match &ev.body {
            EventBody::Depth(c) if c.is_last() => self.after_depth(book),
            EventBody::Trade(t) => {
                self.trade_stream = true;
                self.on_trade(book, t.price, t.qty, !t.buyer_is_maker);
            }
            // Aggregated trades only when the raw trade stream is not recorded.
            EventBody::AggTrade(t) if !self.trade_stream => {
                self.on_trade(book, t.price, t.qty, !t.buyer_is_maker)
            }
            EventBody::MarkPrice(m) => {
                let mark = self.valuer.ticks_of(m.mark.0, self.spec.price.decimals());
                self.mark = Some(mark);
                let now_ms = self.now_us / 1000;
                if let Some((due_ms, rate_e8)) = self.funding {
                    // Once per funding time, even while later events still name it.
                    if now_ms >= due_ms && due_ms > self.funded_ms {
                        self.funded_ms = due_ms;
                        let got = self.account.fund(mark, rate_e8);
                        if got != 0 {
                            self.report(ClientId::new(), Report::Funding { amount_e8: got });
                        }
                    }
                }
                if m.next_funding_ms > 0 {
                    self.funding = Some((m.next_funding_ms, m.funding_rate.0));
                }
                self.check_liquidation();
            }
            _ => {}
        }
    }

    /// Hands every report due by `now_us` (the trader's clock) to `f`, oldest first.
    fn drain_due(&mut self, now_us: u64, mut f: impl FnMut(&Execution)) {
        let n = self.reports.partition_point(|e| e.deliver_us <= now_us);
        for e in &self.reports[..n] {
            f(e);
        }
        self.reports.drain(..n);
    }

    /// Lets every request sent so far arrive, then cancels every resting order
    /// (shutdown); the reports are all due at once. Returns how many were cancelled.
    fn cancel_all(&mut self, book: &Book) -> usize {
        self.settle(book);
        let n = self.orders.len();
        while let Some((o, _)) = self.orders.pop() {
            self.report(o.id, Report::Canceled);
        }
        n
    }

    /// Requests whose arrival time has come are processed, oldest first.
    fn advance(&mut self, book: &Book, t_us: u64) {
        self.now_us = self.now_us.max(t_us);
        while self
            .in_flight
            .first()
            .is_some_and(|f| f.arrive_us <= self.now_us)
        {
            let f = self.in_flight.remove(0);
            let saved = self.now_us;
            self.now_us = f.arrive_us;
            self.arrive(book, &f.req);
            self.now_us = saved;
        }
    }

    fn report(&mut self, client_id: ClientId, report: Report) {
        self.stats.count(&report);
        let deliver_us =
            (self.now_us + self.latency.response.sample(&mut self.rng)).max(self.last_deliver_us);
        self.last_deliver_us = deliver_us;
        let e = Execution {
            client_id,
            report,
            time_us: self.now_us,
            deliver_us,
        };
        if self.reports.len() < self.reports.capacity() {
            self.reports.push(e);
        } else {
            self.stats.reports_lost += 1;
        }
    }

    /// A request reaches the matching engine.
    fn arrive(&mut self, book: &Book, req: &OrderRequest) {
        let id = req.cmd.client_id();
        // Binance's recvWindow: refused when it arrives too late, or from the future.
        let now_ms = self.now_us / 1_000;
        if req.timestamp_ms > now_ms + 1_000
            || now_ms.saturating_sub(req.timestamp_ms) > req.recv_window_ms as u64
        {
            return self.report(id, Report::Rejected(Reject::OutsideRecvWindow));
        }
        match &req.cmd {
            OrderCmd::Cancel(id) => match self.orders.iter().position(|(o, _)| o.id == *id) {
                Some(k) => {
                    self.orders.remove(k);
                    self.report(*id, Report::Canceled);
                }
                None => self.report(*id, Report::Rejected(Reject::UnknownOrder)),
            },
            OrderCmd::New(o) => match checked(&self.spec, &self.valuer, o) {
                Ok(o) => self.place(book, o),
                Err(r) => self.report(id, Report::Rejected(r)),
            },
            OrderCmd::Oco(o) => self.oco(book, o),
        }
    }

    /// A spot OCO list: both legs valid and placeable, or the whole list refused.
    fn oco(&mut self, book: &Book, l: &OcoOrder) {
        // Checked and placed in the order of their legs on the wire.
        let [above, below] = l.legs();
        let above = checked(&self.spec, &self.valuer, &above);
        let below = checked(&self.spec, &self.valuer, &below);
        match (above, below) {
            (Ok(a), Ok(b)) => {
                if let Err(r) = self
                    .refusal(book, &a)
                    .and_then(|()| self.refusal(book, &b))
                    .and_then(|()| {
                        if self.orders.capacity() - self.orders.len() >= 2 {
                            Ok(())
                        } else {
                            Err(Reject::TooManyOrders)
                        }
                    })
                {
                    return self.report(l.list_id, Report::Rejected(r));
                }
                let (mut a, mut b) = (a, b);
                a.sibling = Some(b.id);
                b.sibling = Some(a.id);
                self.place(book, a);
                self.place(book, b);
            }
            (Err(r), _) | (_, Err(r)) => self.report(l.list_id, Report::Rejected(r)),
        }
    }

    /// Why an order cannot be placed now, if it cannot.
    fn refusal(&self, book: &Book, o: &Order) -> Result<(), Reject> {
        let pos = self.account.position().0;
        if o.reduce_only && (pos == 0 || (pos > 0) == o.buy) {
            return Err(Reject::ReduceOnly);
        }
        let (bid, ask) = (book.best_bid(), book.best_ask());
        match o.kind {
            Kind::Limit if o.tif == Tif::Gtx && self.crosses(book, o.buy, o.price) => {
                return Err(Reject::WouldTakeLiquidity);
            }
            Kind::Stop => {
                let last = self
                    .last_trade
                    .or(if o.buy { ask } else { bid }.map(|l| l.price));
                if last.is_some_and(|p| if o.buy { p >= o.price } else { p <= o.price }) {
                    return Err(Reject::WouldTrigger);
                }
            }
            _ => {}
        }
        if !o.reduce_only {
            let at = match o.kind {
                Kind::Market => if o.buy { ask } else { bid }.map_or(Ticks(0), |l| l.price),
                _ => o.price,
            };
            let need = self
                .account
                .margin_for(at, self.account.opening(o.buy, o.qty));
            if need > 0
                && need
                    > self
                        .account
                        .available_e8()
                        .saturating_sub(self.reserved_e8())
            {
                return Err(Reject::InsufficientMargin);
            }
        }
        if self.orders.len() == self.orders.capacity() {
            return Err(Reject::TooManyOrders);
        }
        Ok(())
    }

    /// Margin held for resting orders that would grow the position.
    fn reserved_e8(&self) -> i64 {
        self.orders
            .iter()
            .filter(|(o, _)| o.kind == Kind::Limit && !o.reduce_only)
            .map(|(o, _)| {
                let open = self.account.opening(o.buy, Lots(o.leaves()));
                self.account.margin_for(o.price, open)
            })
            .fold(0i64, i64::saturating_add)
    }

    fn crosses(&self, book: &Book, buy: bool, price: Ticks) -> bool {
        if buy {
            book.best_ask().is_some_and(|a| a.price <= price)
        } else {
            book.best_bid().is_some_and(|b| b.price >= price)
        }
    }

    /// Puts an arrived order on the book, fills it, or refuses it.
    fn place(&mut self, book: &Book, mut o: Order) {
        if let Err(r) = self.refusal(book, &o) {
            return self.report(o.id, Report::Rejected(r));
        }
        match o.kind {
            Kind::Stop => {
                self.orders.push((o, self.epoch));
                self.report(o.id, Report::Accepted);
            }
            Kind::Market => {
                self.orders.push((o, self.epoch));
                let k = self.orders.len() - 1;
                self.take(book, k, None, None);
            }
            Kind::Limit => {
                let crosses = self.crosses(book, o.buy, o.price);
                if o.tif == Tif::Fok && self.available(book, o.buy, o.price) < o.qty.0 {
                    return if self.spec.market.is_futures() {
                        self.report(o.id, Report::Rejected(Reject::FokUnfilled))
                    } else {
                        self.report(o.id, Report::Expired)
                    };
                }
                let level = book.qty_at(o.buy, o.price).0;
                o.level = level;
                o.ahead = self.queue.on_arrival(level);
                self.orders.push((o, self.epoch));
                let k = self.orders.len() - 1;
                if crosses {
                    let id = o.id;
                    self.take(book, k, Some(o.price), None);
                    // What is left of a GTC rests at the front of its (emptied) level.
                    if let Some(j) = self.orders.iter().position(|(x, _)| x.id == id) {
                        if o.tif == Tif::Gtc {
                            self.orders[j].0.level = 0;
                            self.orders[j].0.ahead = self.queue.on_arrival(0);
                            self.report(id, Report::Accepted);
                        } else {
                            self.orders.remove(j);
                            self.report(id, Report::Expired);
                        }
                    }
                } else if o.tif == Tif::Ioc || o.tif == Tif::Fok {
                    self.orders.pop();
                    self.report(o.id, Report::Expired);
                } else {
                    self.report(o.id, Report::Accepted);
                }
            }
        }
    }

    /// Lots on the opposite side up to `limit` (the sweep's reach).
    fn available(&self, book: &Book, buy: bool, limit: Ticks) -> i64 {
        let mut n = 0i64;
        let mut levels = 0;
        let mut f = |l: Level| {
            let ok = if buy {
                l.price <= limit
            } else {
                l.price >= limit
            };
            if ok {
                n = n.saturating_add(l.qty.0);
                levels += 1;
            }
            ok && levels < SWEEP_LEVELS
        };
        if buy {
            book.for_each_ask(&mut f);
        } else {
            book.for_each_bid(&mut f);
        }
        n
    }

    /// Order `k` takes liquidity level by level, up to `limit` (none: a market order),
    /// never at a better price than `worst` (a stop's triggering trade). A market
    /// order's unfilled rest expires; a limit order's rest is left to the caller.
    fn take(&mut self, book: &Book, k: usize, limit: Option<Ticks>, worst: Option<Ticks>) {
        let (id, buy, market) = {
            let o = &self.orders[k].0;
            (o.id, o.buy, o.kind != Kind::Limit)
        };
        let mut levels = ArrayVec::<Level, SWEEP_LEVELS>::new();
        let mut collect = |l: Level| {
            let ok = limit.is_none_or(|p| if buy { l.price <= p } else { l.price >= p });
            if ok {
                levels.push(l);
            }
            ok && !levels.is_full()
        };
        if buy {
            book.for_each_ask(&mut collect);
        } else {
            book.for_each_bid(&mut collect);
        }
        for l in levels {
            let Some(j) = self.orders.iter().position(|(x, _)| x.id == id) else {
                return;
            };
            let price = match worst {
                Some(w) if buy => l.price.max(w),
                Some(w) => l.price.min(w),
                None => l.price,
            };
            let q = l.qty.0.min(self.orders[j].0.leaves());
            self.fill(j, price, q, false);
        }
        if market {
            if let Some(j) = self.orders.iter().position(|(x, _)| x.id == id) {
                self.orders.remove(j);
                self.report(id, Report::Expired);
            }
        }
    }

    /// A trade at `price` (`taker_buy`: the aggressor bought).
    fn on_trade(&mut self, book: &Book, price: Ticks, qty: Lots, taker_buy: bool) {
        self.last_trade = Some(price);
        self.epoch = self.epoch.wrapping_add(1);
        let mut left = qty.0;
        let mut k = 0;
        while k < self.orders.len() {
            let (o, seen) = &mut self.orders[k];
            if *seen == self.epoch {
                k += 1;
                continue;
            }
            *seen = self.epoch;
            match o.kind {
                Kind::Limit => {
                    let through = if o.buy {
                        price < o.price
                    } else {
                        price > o.price
                    };
                    let (p, leaves) = (o.price, o.leaves());
                    let q = if through {
                        leaves
                    } else if price == o.price && taker_buy != o.buy {
                        // Aggressors hitting our side at our price consume the queue.
                        let (ahead, reach) = self.queue.on_trade(o.ahead, left);
                        o.ahead = ahead;
                        o.level = (o.level - left).max(0);
                        reach.min(leaves)
                    } else {
                        0
                    };
                    if q > 0 {
                        left -= q.min(left);
                        self.fill(k, p, q, true);
                        k = 0;
                        continue;
                    }
                }
                Kind::Stop => {
                    let hit = if o.buy {
                        price >= o.price
                    } else {
                        price <= o.price
                    };
                    if hit {
                        self.orders[k].0.kind = Kind::Market;
                        self.take(book, k, None, Some(price));
                        k = 0;
                        continue;
                    }
                }
                Kind::Market => {}
            }
            k += 1;
        }
        if self.mark.is_none() {
            self.check_liquidation_at(price);
        }
    }

    /// After a depth update: the touch may have moved through resting orders, and
    /// their levels may have shrunk (cancellations) or grown (behind them).
    fn after_depth(&mut self, book: &Book) {
        self.epoch = self.epoch.wrapping_add(1);
        let mut k = 0;
        while k < self.orders.len() {
            let (o, seen) = self.orders[k];
            if seen == self.epoch || o.kind != Kind::Limit {
                k += 1;
                continue;
            }
            self.orders[k].1 = self.epoch;
            if self.crosses(book, o.buy, o.price) {
                self.fill(k, o.price, o.leaves(), true);
                k = 0;
                continue;
            }
            let level = book.qty_at(o.buy, o.price).0;
            let x = &mut self.orders[k].0;
            if level < x.level {
                x.ahead = self.queue.on_cancel(x.ahead, x.level, level);
            }
            x.level = level;
            k += 1;
        }
    }

    fn check_liquidation(&mut self) {
        if let Some(m) = self.mark.or(self.last_trade) {
            self.check_liquidation_at(m);
        }
    }

    fn check_liquidation_at(&mut self, mark: Ticks) {
        if let Some(l) = self.account.check_liquidation(mark) {
            let mut id = ClientId::new();
            let _ = id.try_push_str("autoclose");
            self.report(
                id,
                Report::Liquidated {
                    price: l.price,
                    qty: l.qty,
                    loss_e8: l.loss_e8,
                },
            );
            self.expire_reduce_only();
        }
    }

    fn expire_reduce_only(&mut self) {
        while let Some(j) = self.orders.iter().position(|(x, _)| x.reduce_only) {
            let (x, _) = self.orders.remove(j);
            self.report(x.id, Report::Expired);
        }
    }

    /// Order `k` fills `qty` (capped for reduce-only orders) at `price`.
    fn fill(&mut self, k: usize, price: Ticks, qty: i64, maker: bool) {
        let o = self.orders[k].0;
        let pos = self.account.position().0;
        let qty = if o.reduce_only {
            let reducible = if pos != 0 && (pos > 0) != o.buy {
                pos.abs()
            } else {
                0
            };
            qty.min(reducible)
        } else {
            qty
        };
        if qty <= 0 {
            if o.reduce_only {
                self.orders.remove(k);
                self.report(o.id, Report::Expired);
            }
            return;
        }
        let fee = fee_e8(
            self.valuer.value_e8(price, Lots(qty)),
            if maker { self.maker_e8 } else { self.taker_e8 },
        );
        self.account.fill(o.buy, price, Lots(qty), fee);
        let x = &mut self.orders[k].0;
        x.filled.0 += qty;
        let leaves = x.leaves();
        if leaves == 0 {
            self.orders.remove(k);
        }
        self.report(
            o.id,
            Report::Filled {
                price,
                qty: Lots(qty),
                maker,
                fee_e8: fee,
                leaves: Lots(leaves),
            },
        );
        if let Some(s) = o.sibling {
            if let Some(j) = self.orders.iter().position(|(x, _)| x.id == s) {
                self.orders.remove(j);
                self.report(s, Report::Expired);
            }
            if let Some(j) = self.orders.iter().position(|(x, _)| x.id == o.id) {
                self.orders[j].0.sibling = None;
            }
        }
        if self.account.position().0 == 0 {
            self.expire_reduce_only();
        }
    }
}
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
