//! `minerva backtest` on the shipped session: the same stages as `minerva run` (same
//! orders, byte for byte), deterministic, and honest about its window and models.

mod common;

use minerva::backtest::tape::Tape;
use minerva::backtest::{self, BacktestConfig, Input};
use minerva::feed::ReplaySource;
use minerva::pipeline::{RunConfig, run};
use minerva::sim::SimOptions;
use minerva::sim::latency::LatencyModel;
use minerva::sim::queue::QueueModel;

/// A backtest that must run.
fn go(
    input: Input<'_>,
    spec: &minerva::core::SymbolSpec,
    strategy: &minerva::strategy::Strategy,
    cfg: &BacktestConfig,
) -> backtest::BacktestReport {
    backtest::run(
        input,
        spec,
        strategy,
        common::test_signer(),
        cfg,
        &mut |_, _| {},
    )
    .unwrap()
}

fn sim(latency: &str, queue: QueueModel) -> SimOptions {
    SimOptions {
        latency: LatencyModel::parse(latency).unwrap(),
        queue,
        ..SimOptions::default()
    }
}

#[test]
fn the_backtest_sends_the_same_orders_as_minerva_run() {
    let (frames, spec) = common::spot_session();
    let strategy = common::loose_strategy();
    for (latency, queue) in [
        ("order=5ms,response=5ms", QueueModel::RiskAverse),
        (
            "order=uniform:1ms..20ms,response=lognormal:3ms:0.5,feed=2ms",
            QueueModel::Power(2),
        ),
    ] {
        let sim = sim(latency, queue);
        let cfg = BacktestConfig {
            sim,
            ..BacktestConfig::default()
        };
        let b = go(Input::Frames(&frames), &spec, &strategy, &cfg);
        assert!(b.trader.entries > 10, "{:?}", b.trader);
        assert!(b.exchange.fills > 10, "{:?}", b.exchange);
        // Decoded once onto a tape: the same orders again, without the JSON.
        let tape = Tape::record(&frames, &spec);
        assert!(tape.dropped > 50_000, "book tickers are left out");
        let t = go(Input::Tape(&tape), &spec, &strategy, &cfg);
        assert_eq!(t.exchange.requests_digest, b.exchange.requests_digest);
        assert_eq!(t.trades_csv(&spec), b.trades_csv(&spec));
        assert_eq!(t.equity_csv(), b.equity_csv());
        for threads in [1, 2] {
            let r = run(
                ReplaySource::new(frames.clone(), None),
                &spec,
                &strategy,
                common::test_signer(),
                &RunConfig {
                    threads,
                    sim,
                    ..RunConfig::default()
                },
            )
            .unwrap();
            // Every request the backtest sent, run sent too, in the same order, with the
            // same bytes (prices, sizes, client ids, timestamps)…
            assert_eq!(
                r.exchange.requests_digest, b.exchange.requests_digest,
                "{latency} {threads} threads"
            );
            assert_eq!(r.exchange.requests, b.exchange.requests);
            // …and the exchange answered both the same way.
            assert_eq!(r.exchange.fills, b.exchange.fills);
            assert_eq!(r.trader.take_profits, b.trader.take_profits);
            assert_eq!(r.risk.accepted, b.risk.accepted);
        }
    }
}

#[test]
fn same_inputs_same_bytes_and_models_change_results() {
    let (frames, spec) = common::spot_session();
    let strategy = common::loose_strategy();
    let with = |sim: SimOptions| {
        let cfg = BacktestConfig {
            sim,
            ..BacktestConfig::default()
        };
        go(Input::Frames(&frames), &spec, &strategy, &cfg)
    };
    let noisy = sim(
        "order=lognormal:5ms:1,response=lognormal:5ms:1",
        QueueModel::Log,
    );
    let (a, b) = (with(noisy), with(noisy));
    assert_eq!(a.to_text(), b.to_text());
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.trades_csv(&spec), b.trades_csv(&spec));
    assert_eq!(a.equity_csv(), b.equity_csv());
    // Another seed draws other latencies: other requests.
    let c = with(SimOptions { seed: 7, ..noisy });
    assert_ne!(a.exchange.requests_digest, c.exchange.requests_digest);
    // The fill count depends on the queue model; fills only through the price never
    // fill more than fills from the queue.
    let through = with(sim("5ms", QueueModel::Through));
    let queue = with(sim("5ms", QueueModel::RiskAverse));
    assert!(through.exchange.maker_fills <= queue.exchange.maker_fills);
    // Figures agree with the trade list.
    let m = &queue.metrics;
    assert_eq!(m.trades, queue.trades.len());
    let net: f64 = queue.trades.iter().map(|t| t.pnl_e8 as f64 / 1e8).sum();
    assert!((m.net_pnl - net).abs() < 1e-9);
    assert_eq!(
        m.trades as u64, queue.risk.closed,
        "every closed operation is in the trade list"
    );
    assert_eq!(m.exits.iter().sum::<usize>(), m.trades);
}

#[test]
fn the_window_trades_only_inside_it() {
    let (frames, spec) = common::spot_session();
    let strategy = common::loose_strategy();
    let mid = frames[frames.len() / 2].1;
    let cfg = BacktestConfig {
        sim: sim("5ms", QueueModel::RiskAverse),
        from_ns: Some(mid),
        ..BacktestConfig::default()
    };
    let r = go(Input::Frames(&frames), &spec, &strategy, &cfg);
    assert_eq!(r.frames as usize, frames.len(), "the warm-up is replayed");
    assert!(r.window_frames < r.frames);
    // The recording's clock runs 1.3 s behind the exchange's.
    let from_ms = mid / 1_000_000;
    assert!(
        r.trades
            .iter()
            .all(|t| t.entry_us / 1000 + 2_000 >= from_ms)
    );
    let empty = BacktestConfig {
        from_ns: Some(u64::MAX - 1),
        ..cfg
    };
    assert!(
        backtest::run(
            Input::Frames(&frames),
            &spec,
            &strategy,
            common::test_signer(),
            &empty,
            &mut |_, _| {}
        )
        .is_err()
    );
}

#[test]
fn futures_backtest_uses_leverage() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let u = d.join("hftbacktest-examples/usdm");
    let files = [u.join("btcusdt_20240718.gz"), u.join("btcusdt_20240719.gz")];
    let frames = minerva::store::files::recorded_frames(&files).unwrap();
    let spec = minerva::core::SymbolSpec::from_tick_lot(
        "BTCUSDT",
        minerva::core::Market::UsdM,
        "0.1",
        "0.001",
    )
    .unwrap();
    let strategy = common::loose_strategy();
    let r = go(
        Input::Frames(&frames),
        &spec,
        &strategy,
        &BacktestConfig::default(),
    );
    assert!(r.trades.len() > 3, "{}", r.to_text());
    for t in &r.trades {
        // Margin = notional / 20 (the strategy's leverage cap): 3 % of the capital, less
        // what rounding down to the 0.001 BTC lot costs (at most 64 / 20).
        let notional = t.entry_value_e8 as f64;
        let margin = t.margin_e8 as f64;
        assert!(
            (notional / margin - 20.0).abs() < 0.05,
            "{notional} / {margin}"
        );
        assert!((296.0..=300.0).contains(&(margin / 1e8)), "{margin}");
    }
}

/// A cryptofeed capture keeps its REST snapshots in a log of their own, named by URL:
/// the backtest's frames include the traded symbol's, so its book syncs (before, the
/// pipeline never synced on these captures: 0 evaluations where `minerva signal` made
/// 227). COIN-M's BTCUSD_211231 and USD-M's AKROUSDT.
#[test]
fn cryptofeed_captures_sync_the_pipelines_book() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let c = d.join("cryptofeed-sample");
    for (venue, symbol) in [
        ("BINANCE_DELIVERY", "BTCUSD_211231"),
        ("BINANCE_FUTURES", "AKROUSDT"),
    ] {
        let files = [
            c.join(format!("{venue}.0")),
            c.join(format!("{venue}.http.0.0")),
            c.join(format!("{venue}.ws.1.0")),
        ];
        let opts = minerva::replay::ReplayOptions {
            symbol: Some(symbol.into()),
            ..Default::default()
        };
        let spec = minerva::replay::symbol_table(&files, &opts)
            .unwrap()
            .specs()[0]
            .clone();
        let frames = minerva::store::files::recorded_frames_of(&files, symbol).unwrap();
        let strategy = minerva::strategy::Strategy::parse(
            include_str!("../strategy_0.toml"),
            &[("market", symbol.into()), ("capital", "2".into())],
        )
        .unwrap();
        let r = go(
            Input::Frames(&frames),
            &spec,
            &strategy,
            &BacktestConfig::default(),
        );
        assert!(r.evaluations > 100, "{symbol}: {}", r.to_text());
    }
}
