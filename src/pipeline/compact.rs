//! The four stages wired on one thread and stepped by the caller: a frame in, each of
//! its messages through book, signal and gateway before the next. The backtest and the
//! pipeline's criterion benchmark drive the stages this way; `minerva run --compact`
//! runs the same stages through its lane loop.
//!
//! On one thread the simulated exchange needs no book of its own: the book stage
//! lends it its book. Before the book stage applies a depth event, the exchange's
//! requests due by the event's time arrive against the book as it was; after, the
//! exchange reads the book as it is, and depth chunks reach it without their levels
//! ([`Relay::Lent`]). The exchange sees the same book at the same moments as with its
//! own copy, without applying every depth event twice.

use super::messages::{FeedMsg, OrderMsg, Relay, SignalMsg, Stamped, View};
use super::ring::{Abandoned, Inbox, Outbox, ring_filled};
use super::stages::{BookStage, FeedStage, GatewayStage, ShapeError, SignalStage};
use super::wait::Wait;
use crate::book::BookConfig;
use crate::core::{EventBody, SymbolSpec};
use crate::feed::Source;
use crate::gateway::trader::Shutdown;
use crate::sim::SimOptions;
use crate::strategy::Strategy;
use crate::venues::OrderSigner;

/// Slots of the rings between book, signal and gateway, and of the view ring. Each
/// message goes all the way through before the next: the book stage sends one message
/// on (and a view), the signal stage two (the market relayed, an intent). Few slots
/// stay in cache; a thousand 600-byte slots written in turn would not.
const WIRE_SLOTS: usize = 4;

/// Feed → book → signal → gateway on the calling thread.
pub struct Compact<S: Source> {
    /// The feed stage.
    pub feed: FeedStage<S>,
    /// The book stage.
    pub book: BookStage,
    /// The signal stage.
    pub signal: SignalStage,
    /// The gateway stage (risk, orders, the simulated exchange).
    pub gateway: GatewayStage,
    /// The feed's messages of one frame (a snapshot's may be hundreds).
    feed_ring: (Outbox<Stamped<FeedMsg>>, Inbox<Stamped<FeedMsg>>),
    /// A tape's message, written in place.
    slot: Stamped<FeedMsg>,
    wires: Wires,
}

/// The rings between book, signal and gateway.
struct Wires {
    b: (Outbox<Stamped<SignalMsg>>, Inbox<Stamped<SignalMsg>>),
    v: (Outbox<View>, Inbox<View>),
    c: (Outbox<Stamped<OrderMsg>>, Inbox<Stamped<OrderMsg>>),
}

impl Wires {
    /// Message `m` through book, signal and gateway.
    ///
    /// # Hot path: no allocation (a snapshot, cold, allocates).
    #[inline]
    fn pass(
        &mut self,
        m: &Stamped<FeedMsg>,
        book: &mut BookStage,
        signal: &mut SignalStage,
        gateway: &mut GatewayStage,
    ) -> Result<(), Abandoned> {
        let Self { b, v, c } = self;
        pass_lent(
            m,
            (book, &mut b.0, &mut v.0),
            (signal, &mut b.1, &mut c.0, &mut v.1),
            (gateway, &mut c.1),
        )
    }
}

/// Message `m` through book, signal and gateway on one thread, the simulated exchange
/// reading the book stage's book ([`Relay::Lent`]): its requests due by a depth event's
/// time arrive before the book takes the event, and it reads the book after. The ring
/// ends are the book's outboxes (messages, views), the signal's inboxes and outbox,
/// the gateway's inbox; each message leaves them empty. [`Compact`] and the compact
/// lane of `minerva run` both go through here.
///
/// # Hot path: no allocation (a snapshot, cold, allocates).
#[inline]
#[allow(clippy::type_complexity)]
pub(super) fn pass_lent(
    m: &Stamped<FeedMsg>,
    (book, b_tx, v_tx): (
        &mut BookStage,
        &mut Outbox<Stamped<SignalMsg>>,
        &mut Outbox<View>,
    ),
    (signal, b_rx, c_tx, v_rx): (
        &mut SignalStage,
        &mut Inbox<Stamped<SignalMsg>>,
        &mut Outbox<Stamped<OrderMsg>>,
        &mut Inbox<View>,
    ),
    (gateway, c_rx): (&mut GatewayStage, &mut Inbox<Stamped<OrderMsg>>),
) -> Result<(), Abandoned> {
    // The exchange's requests due by a depth event's time arrive before the book
    // takes it (other events leave the book as it is).
    if let FeedMsg::Event(ev) = &m.msg
        && let EventBody::Depth(_) = ev.body
        && let Some(lent) = book.book_of(ev.symbol.0 as usize)
    {
        gateway.arrive_before(ev, lent);
    }
    let mut failed = book.on_msg(m, b_tx, v_tx);
    b_rx.drain(|m| failed = failed.and(signal.on_msg(m, c_tx, v_rx)));
    let book = &*book;
    c_rx.drain(|m| gateway.on_msg_in(m, |k| book.book_of(k)));
    failed
}

impl<S: Source> Compact<S> {
    /// The stages for `spec` under `strategy`, reading `source`, trading on a simulated
    /// exchange set up by `sim` with requests signed by `signer`.
    ///
    /// # Errors
    /// [`ShapeError`] when the strategy reads more bins than a view carries.
    pub fn new(
        source: S,
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        sim: &SimOptions,
    ) -> Result<Self, ShapeError> {
        let mut c = Self::untimed(source, spec, strategy, signer, sim)?;
        c.set_timed(true);
        Ok(c)
    }

    /// [`Self::new`] with every stage untimed (a backtest): no clock reads, and no
    /// latency histograms allocated.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn untimed(
        source: S,
        spec: &SymbolSpec,
        strategy: &Strategy,
        signer: impl Into<OrderSigner>,
        sim: &SimOptions,
    ) -> Result<Self, ShapeError> {
        // One frame's messages fit (a snapshot's parts): the stages take them after
        // every frame.
        let cap = 1024;
        let gateway = GatewayStage::new(spec, strategy, signer, sim);
        let relay = match gateway.relay() {
            Relay::Market => Relay::Lent,
            r => r,
        };
        let mut signal = SignalStage::new(spec, strategy);
        signal.set_relay(relay);
        let mut book = BookStage::new(spec, strategy, &BookConfig::default())?;
        book.set_relay(relay);
        let empty = Stamped {
            msg: FeedMsg::SnapshotEnd,
            pushed_ns: 0,
        };
        Ok(Self {
            feed: FeedStage::new(source, spec),
            book,
            signal,
            gateway,
            feed_ring: ring_filled(cap, Wait::Spin, empty),
            slot: empty,
            wires: Wires {
                b: ring_filled(WIRE_SLOTS, Wait::Spin, Stamped::<SignalMsg>::EMPTY),
                v: ring_filled(WIRE_SLOTS, Wait::Spin, View::EMPTY),
                c: ring_filled(WIRE_SLOTS, Wait::Spin, Stamped::<OrderMsg>::EMPTY),
            },
        })
    }

    /// Times every stage and queue (as [`Self::new`] does), or not at all. Cold.
    pub fn set_timed(&mut self, on: bool) {
        for l in [
            &mut self.feed.lat,
            &mut self.book.lat,
            &mut self.signal.lat,
            &mut self.gateway.lat,
        ] {
            l.set_timed(on);
        }
    }

    /// One frame through every stage; false at the end of the source.
    ///
    /// # Hot path: no allocation (a snapshot frame, cold, allocates).
    ///
    /// # Errors
    /// [`Abandoned`] never happens on one thread; it is passed on for completeness.
    #[inline]
    pub fn step(&mut self) -> Result<bool, Abandoned> {
        let more = self.feed.step(&mut self.feed_ring.0)?;
        let mut failed = Ok(());
        let Self {
            feed_ring,
            book,
            signal,
            gateway,
            wires,
            ..
        } = self;
        while let Some(r) = feed_ring
            .1
            .with_next(|m| wires.pass(m, book, signal, gateway))
        {
            failed = failed.and(r);
        }
        failed.map(|()| more)
    }

    /// One message already decoded (a tape's), written by `fill` in place and passed
    /// through book, signal and gateway (one message at a time: no ring).
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// As [`Compact::step`].
    #[inline]
    pub fn feed_msg(&mut self, fill: impl FnOnce(&mut FeedMsg)) -> Result<(), Abandoned> {
        self.slot.pushed_ns = self.feed.lat.now();
        fill(&mut self.slot.msg);
        let Self {
            slot,
            book,
            signal,
            gateway,
            wires,
            ..
        } = self;
        wires.pass(slot, book, signal, gateway)
    }

    /// Cancels every resting order and reports what stays open (the gateway's
    /// shutdown, its exchange reading the book stage's book). Cold.
    pub fn shutdown(&mut self) -> Shutdown {
        let book = &self.book;
        self.gateway.shutdown_in(|k| book.book_of(k))
    }
}
