//! KuCoin's live feed allocates nothing per frame once warm: `minerva run`'s pipeline
//! (compact) reading the local KuCoin venue's WebSocket session through the KuCoin
//! source (token, welcome, subscriptions, signed snapshot), trading on the simulated
//! exchange, under an allocator that counts allocations on the pipeline's thread after
//! 2,000 frames; then the same over the unified account's `obu` session (a snapshot on
//! the stream, 10 ms deltas: fewer frames, counted after 200). (The venue's own
//! threads are not counted: they stand for KuCoin.) One test in this file: the count is
//! process-wide.

mod common;

use common::Marking;
use minerva::core::Market;
use minerva::local_exchange::kucoin::{Config, LocalKucoin};
use minerva::pipeline::{RunConfig, run};
use minerva::venues::kucoin::keys::KucoinKeys;
use minerva::venues::kucoin::stream::{FeedConfig, KucoinSource};
use std::sync::Arc;

#[global_allocator]
static A: common::Counting = common::Counting;

#[test]
fn no_allocation_per_frame_on_the_kucoin_live_feed() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let dir = data.join("kucoin-sample");
    // (obu, warm-up, frames and evaluations the run must reach)
    for (obu, warm, frames, evaluations) in [(false, 2_000, 2_300, 2_000), (true, 200, 600, 500)] {
        // A venue each: it serves its recording once.
        let venue = LocalKucoin::start(Config {
            files: ["KUCOIN.ws.1.0", "KUCOIN.http.0.0", "KUCOIN.0"]
                .iter()
                .map(|f| dir.join(f))
                .collect(),
            replay: Default::default(),
            speed: Some(10.0),
            addr: "127.0.0.1:0".parse().unwrap(),
            faults: Default::default(),
            keys: Arc::new(KucoinKeys::paper()),
            limits: Default::default(),
            trading: Default::default(),
        })
        .unwrap();
        let mut cfg = FeedConfig::new(
            &format!("http://{}", venue.local_addr()),
            Market::Spot,
            "BCHSV-USDT",
        );
        cfg.keys = Some(Arc::new(KucoinKeys::paper()));
        cfg.max_reconnects = Some(0);
        if obu {
            cfg.uta = Some(format!("ws://{}/", venue.local_addr()));
        }
        let spec = cfg.fetch_spec().unwrap();
        let source = KucoinSource::new(cfg, Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let run_cfg = RunConfig {
            snapshot_request: Some(source.snapshot_request()),
            ..RunConfig::default()
        };
        let r = run(
            Marking::after(source, warm),
            &spec,
            &common::loose_strategy(),
            common::test_signer(),
            &run_cfg,
        )
        .unwrap();
        let allocs = common::marked_allocations();
        eprintln!(
            "obu {obu}: {} frames, {} evaluations, {allocs} allocations after the warm-up",
            r.frames, r.evaluations
        );
        assert!(r.frames > frames, "obu {obu}: {} frames", r.frames);
        assert!(r.evaluations > evaluations, "obu {obu}");
        assert_eq!((r.book.gaps, r.book.resyncs), (0, 0), "obu {obu}");
        assert_eq!(allocs, 0, "obu {obu}");
        venue.stop();
    }
}
