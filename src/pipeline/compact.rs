//! The four stages wired on one thread and stepped by the caller: a frame in, every
//! stage drained. The backtest and the pipeline benchmark drive the stages this way;
//! `minerva run --compact` runs the same stages through its lane loop.

use super::messages::{FeedMsg, OrderMsg, SignalMsg, Stamped, View};
use super::ring::{Abandoned, Inbox, Outbox, ring_filled};
use super::stages::{BookStage, FeedStage, GatewayStage, ShapeError, SignalStage};
use super::wait::Wait;
use crate::book::BookConfig;
use crate::core::SymbolSpec;
use crate::feed::Source;
use crate::sim::SimOptions;
use crate::strategy::Strategy;
use crate::venues::OrderSigner;

/// Slots of the view ring (one view is in flight at a time on one thread).
const VIEW_SLOTS: usize = 16;

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
    a: (Outbox<Stamped<FeedMsg>>, Inbox<Stamped<FeedMsg>>),
    b: (Outbox<Stamped<SignalMsg>>, Inbox<Stamped<SignalMsg>>),
    v: (Outbox<View>, Inbox<View>),
    c: (Outbox<Stamped<OrderMsg>>, Inbox<Stamped<OrderMsg>>),
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
        // One frame's messages fit: the stages drain after every frame.
        let cap = 1024;
        Ok(Self {
            feed: FeedStage::new(source, spec),
            book: BookStage::new(spec, strategy, &BookConfig::default())?,
            signal: SignalStage::new(spec, strategy),
            gateway: GatewayStage::new(spec, strategy, signer, sim),
            a: ring_filled(
                cap,
                Wait::Spin,
                Stamped {
                    msg: FeedMsg::SnapshotEnd,
                    pushed_ns: 0,
                },
            ),
            b: ring_filled(cap, Wait::Spin, Stamped::<SignalMsg>::EMPTY),
            v: ring_filled(VIEW_SLOTS, Wait::Spin, View::EMPTY),
            c: ring_filled(cap, Wait::Spin, Stamped::<OrderMsg>::EMPTY),
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
        let more = self.feed.step(&mut self.a.0)?;
        self.drain()?;
        Ok(more)
    }

    /// One message already decoded (a tape's), written by `fill` straight into the
    /// book's inbox, through book, signal and gateway.
    ///
    /// # Hot path: no allocation.
    ///
    /// # Errors
    /// As [`Compact::step`].
    #[inline]
    pub fn feed_msg(&mut self, fill: impl FnOnce(&mut FeedMsg)) -> Result<(), Abandoned> {
        let t = self.feed.lat.now();
        self.a.0.push_in_place(|s| {
            fill(&mut s.msg);
            s.pushed_ns = t;
        })?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), Abandoned> {
        let mut failed = None;
        let (book, b, v) = (&mut self.book, &mut self.b.0, &mut self.v.0);
        self.a.1.drain(|m| {
            if let Err(e) = book.on_msg(m, b, v) {
                failed = Some(e);
            }
        });
        let (signal, c, v) = (&mut self.signal, &mut self.c.0, &mut self.v.1);
        self.b.1.drain(|m| {
            if let Err(e) = signal.on_msg(m, c, v) {
                failed = Some(e);
            }
        });
        let gateway = &mut self.gateway;
        self.c.1.drain(|m| gateway.on_msg(m));
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
