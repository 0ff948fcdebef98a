//! The simulator's own checks: fills only when the market allows them, queues, partial
//! fills, time in force, filters, the validity window, latency, fees and margin. (The
//! Binance codes of its refusals: `venues::binance::errors`.)

use super::testkit;
use super::*;
use crate::core::{ClientId, NewOrder, OcoOrder, OrderCmd, OrderKind, OrderSide};
use crate::core::{Market, Trade};

const E8: i64 = 100_000_000;

fn spec(market: Market) -> SymbolSpec {
    // Price 0.01 (100 ticks = 1.00), quantity 0.001 (1,000 lots = 1).
    SymbolSpec::from_tick_lot("BTCUSDT", market, "0.01", "0.001").unwrap()
}

fn cfg() -> SimConfig {
    SimConfig {
        latency: LatencyModel::default(),
        queue: QueueModel::RiskAverse,
        maker_fee_e8: 20_000,
        taker_fee_e8: 50_000,
        capital_e8: 1_000_000 * E8,
        leverage: 10,
        maintenance_ppm: 4_000,
        max_orders: 8,
        seed: 1,
        book: crate::book::BookConfig::default(),
    }
}

/// An exchange with a synced book, and the next depth update id.
struct Sim {
    x: SimExchange,
    next_id: u64,
    t_ms: u64,
}

impl Sim {
    fn new(market: Market, cfg: &SimConfig, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> Self {
        let mut x = SimExchange::new(&spec(market), cfg);
        x.on_snapshot(&testkit::snapshot(bids, asks));
        let mut s = Sim {
            x,
            next_id: 101,
            t_ms: 1_000,
        };
        // The first diff after the snapshot makes the book live.
        s.depth(&[], &[]);
        s
    }

    fn at(&mut self, t_ms: u64) -> &mut Self {
        self.t_ms = t_ms;
        self
    }

    fn depth(&mut self, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
        self.x
            .on_event(&testkit::depth(self.next_id, self.t_ms, bids, asks));
        self.next_id += 1;
    }

    /// A trade; `seller` true when the aggressor sold (hit the bids).
    fn trade(&mut self, price: i64, qty: i64, seller: bool) {
        self.x
            .on_event(&testkit::trade(self.t_ms, price, qty, seller));
    }

    fn send(&mut self, req: &OrderRequest) {
        self.x.send(req, &[], self.t_ms * 1000);
    }

    fn reports(&mut self) -> Vec<(String, Report)> {
        let mut v = Vec::new();
        self.x
            .drain_due(u64::MAX, |e| v.push((e.client_id.to_string(), e.report)));
        v
    }
}

use super::testkit::event;

fn cid(id: &str) -> ClientId {
    ClientId::from(id).unwrap()
}

/// A request sent at 1 s, valid 5 s.
fn request(cmd: OrderCmd) -> OrderRequest {
    OrderRequest {
        cmd,
        timestamp_ms: 1_000,
        recv_window_ms: 5_000,
    }
}

fn order(
    id: &str,
    side: OrderSide,
    kind: OrderKind,
    price: i64,
    lots: i64,
    reduce: bool,
) -> OrderRequest {
    request(OrderCmd::New(NewOrder {
        id: cid(id),
        side,
        kind,
        price: Ticks(price),
        qty: Lots(lots),
        reduce_only: reduce,
    }))
}

fn filled(price: i64, qty: i64, maker: bool, leaves: i64, fee_rate: i64) -> Report {
    // Value of qty lots at price ticks: price/100 × qty/1000 quote.
    let value = price as i128 * qty as i128 * E8 as i128 / 100_000;
    Report::Filled {
        price: Ticks(price),
        qty: Lots(qty),
        maker,
        fee_e8: (value * fee_rate as i128 / E8 as i128) as i64,
        leaves: Lots(leaves),
    }
}

#[test]
fn requests_arriving_after_their_window_are_rejected() {
    let mut s = Sim::new(Market::UsdM, &cfg(), &[(100, 5)], &[(101, 5)]);
    // Signed at 1 s, arriving at 11 s: outside the 5 s recvWindow.
    s.at(11_000);
    s.send(&order(
        "b",
        OrderSide::Buy,
        OrderKind::PostOnly,
        99,
        1_000,
        false,
    ));
    s.trade(100, 1, true);
    assert_eq!(
        s.reports(),
        [("b".into(), Report::Rejected(Reject::OutsideRecvWindow))]
    );
    // Stamped more than 1 s ahead of the exchange's clock: refused too.
    s.at(1_000);
    let mut req = order("c", OrderSide::Buy, OrderKind::PostOnly, 99, 1_000, false);
    req.timestamp_ms = 2_500;
    s.send(&req);
    s.trade(100, 1, true);
    assert_eq!(
        s.reports()[0].1,
        Report::Rejected(Reject::OutsideRecvWindow)
    );
}

#[test]
fn filters_are_enforced_with_binance_codes() {
    let mut sp = spec(Market::Spot);
    sp.min_notional = Some(500_000); // 5 USDT at 10^-(2+3)
    sp.min_qty = Lots(2);
    sp.min_price = Some(Ticks(45));
    let mut x = SimExchange::new(&sp, &cfg());
    let t = event(
        1_000,
        EventBody::Trade(Trade {
            trade_id: 1,
            price: Ticks(10_000),
            qty: Lots(1),
            trade_ms: 1_000,
            buyer_is_maker: true,
        }),
    );
    let cases = [
        // 0.50 × 9.999 = 4.9995 < 5: NOTIONAL.
        (
            order("n", OrderSide::Buy, OrderKind::LimitGtc, 50, 9_999, false),
            Reject::MinNotional,
            -1013,
        ),
        // 1 lot < the minimum quantity of 2: LOT_SIZE.
        (
            order(
                "q",
                OrderSide::Buy,
                OrderKind::LimitGtc,
                1_000_000,
                1,
                false,
            ),
            Reject::LotSize,
            -1013,
        ),
        // 0.40 under the minimum price of 0.45: PRICE_FILTER.
        (
            order("t", OrderSide::Buy, OrderKind::LimitFok, 40, 100_000, false),
            Reject::PriceFilter,
            -1013,
        ),
    ];
    for (req, _, _) in &cases {
        x.send(req, &[], 1_000_000);
    }
    x.on_event(&t);
    let mut got = Vec::new();
    x.drain_due(u64::MAX, |e| got.push(e.report));
    for ((_, want, code), r) in cases.iter().zip(&got) {
        assert_eq!(*r, Report::Rejected(*want));
        let binance = crate::venues::binance::errors::code(*want, Market::Spot);
        assert_eq!(binance.number(), *code);
    }
    // An unknown cancel.
    x.send(&request(OrderCmd::Cancel(cid("zz"))), &[], 1_000_000);
    x.on_event(&t);
    let mut got = Vec::new();
    x.drain_due(u64::MAX, |e| got.push(e.report));
    assert_eq!(got, [Report::Rejected(Reject::UnknownOrder)]);
}

#[test]
fn a_buy_below_the_touch_never_fills_without_a_trade_at_or_through_it() {
    for model in [
        QueueModel::Through,
        QueueModel::RiskAverse,
        QueueModel::Power(2),
        QueueModel::Log,
    ] {
        let mut rng = fastrand::Rng::with_seed(11);
        let c = SimConfig {
            queue: model,
            ..cfg()
        };
        let mut s = Sim::new(
            Market::Spot,
            &c,
            &[(1_000, 4_000), (999, 3_000), (998, 9_000)],
            &[(1_001, 5_000)],
        );
        s.send(&order(
            "b",
            OrderSide::Buy,
            OrderKind::PostOnly,
            999,
            1_000,
            false,
        ));
        for k in 0..5_000u64 {
            s.at(1_000 + k);
            match rng.u8(0..3) {
                // The bids at and around our price come and go, down to nothing.
                0 => s.depth(&[(rng.i64(998..=1_000), rng.i64(0..10_000))], &[]),
                // Buyers lift the ask; sellers hit bids above our price.
                1 => s.trade(1_001, rng.i64(1..5_000), false),
                _ => s.trade(1_000, rng.i64(1..5_000), true),
            }
        }
        let r = s.reports();
        assert_eq!(r, [("b".into(), Report::Accepted)], "{model}");
        // One lot sold at our price: fills only what reaches us through the queue; a
        // trade through our price fills the rest.
        s.trade(998, 1, true);
        assert_eq!(
            s.reports(),
            [("b".into(), filled(999, 1_000, true, 0, 20_000))],
            "{model}"
        );
    }
}

#[test]
fn queue_position_fills_later_than_a_touch_fill_and_partially() {
    // We join a bid of 3 lots-thousand; sellers hit it 1,000 lots at a time.
    let mut s = Sim::new(Market::Spot, &cfg(), &[(1_000, 3_000)], &[(1_001, 5_000)]);
    s.send(&order(
        "q",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_000,
        2_000,
        false,
    ));
    s.at(1_001);
    s.trade(1_000, 1_000, true); // a naive touch fill would fill here
    s.trade(1_000, 1_000, true);
    assert_eq!(s.reports(), [("q".into(), Report::Accepted)]);
    s.at(1_002);
    s.trade(1_000, 1_500, true); // 1,000 clears the queue, 500 reach us
    assert_eq!(
        s.reports(),
        [("q".into(), filled(1_000, 500, true, 1_500, 20_000))]
    );
    s.at(1_003);
    s.trade(1_000, 1_000, true);
    assert_eq!(
        s.reports(),
        [("q".into(), filled(1_000, 1_000, true, 500, 20_000))]
    );
    // Cancellations ahead of us: with risk-averse queues they never help.
    let mut s = Sim::new(Market::Spot, &cfg(), &[(1_000, 3_000)], &[(1_001, 5_000)]);
    s.send(&order(
        "r",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_000,
        1_000,
        false,
    ));
    s.at(1_001);
    s.depth(&[(1_000, 3_500)], &[]); // 500 join behind us
    s.depth(&[(1_000, 1_500)], &[]); // 2,000 cancelled: ahead ≤ 1,500 now
    s.trade(1_000, 1_400, true);
    assert_eq!(s.reports(), [("r".into(), Report::Accepted)]);
    s.trade(1_000, 600, true); // 100 clears the queue, 500 reach us
    assert_eq!(
        s.reports(),
        [("r".into(), filled(1_000, 500, true, 500, 20_000))]
    );
    // power:1 splits the 2,000 cancelled evenly: 3,000 of 3,500 were ahead (6/7).
    let mut s = Sim::new(
        Market::Spot,
        &SimConfig {
            queue: QueueModel::Power(1),
            ..cfg()
        },
        &[(1_000, 3_000)],
        &[(1_001, 5_000)],
    );
    s.send(&order(
        "p",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_000,
        1_000,
        false,
    ));
    s.at(1_001);
    s.depth(&[(1_000, 3_500)], &[]);
    s.depth(&[(1_000, 1_500)], &[]); // ahead 3,000 - 2,000 × 6/7 = 1,286
    s.trade(1_000, 1_286, true);
    assert_eq!(s.reports(), [("p".into(), Report::Accepted)]);
    s.trade(1_000, 1, true);
    assert_eq!(
        s.reports(),
        [("p".into(), filled(1_000, 1, true, 999, 20_000))]
    );
    // `through`: only a trade through the price fills, however much trades at it.
    let mut s = Sim::new(
        Market::Spot,
        &SimConfig {
            queue: QueueModel::Through,
            ..cfg()
        },
        &[(1_000, 3_000)],
        &[(1_001, 5_000)],
    );
    s.send(&order(
        "t",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_000,
        1_000,
        false,
    ));
    s.trade(1_000, 1_000_000, true);
    assert_eq!(s.reports(), [("t".into(), Report::Accepted)]);
}

#[test]
fn taker_orders_sweep_levels_and_time_in_force_is_kept() {
    let asks = [(1_001, 1_000), (1_002, 2_000), (1_004, 5_000)];
    let mut s = Sim::new(Market::Spot, &cfg(), &[(1_000, 3_000)], &asks);
    // IOC to 10.02 for 4,000: 1,000 at 10.01, 2,000 at 10.02, the rest expires.
    s.send(&order(
        "i",
        OrderSide::Buy,
        OrderKind::LimitIoc,
        1_002,
        4_000,
        false,
    ));
    // FOK for 4,000 to 10.02 cannot fill whole: expired (spot), nothing traded.
    s.send(&order(
        "f",
        OrderSide::Buy,
        OrderKind::LimitFok,
        1_002,
        4_000,
        false,
    ));
    // GTC through the touch: takes 1,000 at 10.01, rests 500 at 10.01.
    s.send(&order(
        "g",
        OrderSide::Buy,
        OrderKind::LimitGtc,
        1_001,
        1_500,
        false,
    ));
    // Post-only through the touch: refused.
    s.send(&order(
        "p",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_001,
        1_000,
        false,
    ));
    // Market sell 4,000 into one bid of 3,000: the rest expires.
    s.send(&order(
        "m",
        OrderSide::Sell,
        OrderKind::Market,
        0,
        4_000,
        false,
    ));
    s.trade(1_001, 1, false);
    let t = 50_000;
    assert_eq!(
        s.reports(),
        [
            ("i".into(), filled(1_001, 1_000, false, 3_000, t)),
            ("i".into(), filled(1_002, 2_000, false, 1_000, t)),
            ("i".into(), Report::Expired),
            ("f".into(), Report::Expired),
            ("g".into(), filled(1_001, 1_000, false, 500, t)),
            ("g".into(), Report::Accepted),
            ("p".into(), Report::Rejected(Reject::WouldTakeLiquidity)),
            ("m".into(), filled(1_000, 3_000, false, 1_000, t)),
            ("m".into(), Report::Expired),
        ]
    );
    // Futures FOK: refused with -5021.
    let mut s = Sim::new(Market::UsdM, &cfg(), &[(1_000, 3_000)], &asks);
    s.send(&order(
        "f",
        OrderSide::Buy,
        OrderKind::LimitFok,
        1_002,
        4_000,
        false,
    ));
    s.trade(1_001, 1, false);
    assert_eq!(
        s.reports(),
        [("f".into(), Report::Rejected(Reject::FokUnfilled))]
    );
}

#[test]
fn latency_delays_arrival_and_reports() {
    let c = SimConfig {
        latency: LatencyModel::parse("order=2ms,response=3ms").unwrap(),
        ..cfg()
    };
    let mut s = Sim::new(Market::Spot, &c, &[(1_000, 3_000)], &[(1_001, 5_000)]);
    s.send(&order(
        "l",
        OrderSide::Buy,
        OrderKind::PostOnly,
        1_000,
        1_000,
        false,
    ));
    s.at(1_001);
    // Sellers take the whole bid while our order is on its way: it arrives after them
    // and joins an empty level.
    s.trade(1_000, 3_000, true);
    s.depth(&[(1_000, 0)], &[]);
    s.at(1_002);
    s.depth(&[], &[]);
    let mut got = Vec::new();
    s.x.drain_due(u64::MAX, |e| got.push((e.report, e.time_us, e.deliver_us)));
    assert_eq!(got, [(Report::Accepted, 1_002_000, 1_005_000)]);
    // The next seller at our price reaches us at once.
    s.at(1_003);
    s.trade(1_000, 400, true);
    let mut due = Vec::new();
    s.x.drain_due(1_005_999, |e| due.push(e.report));
    assert!(
        due.is_empty(),
        "the fill is reported 3 ms after it happened"
    );
    s.x.drain_due(1_006_000, |e| due.push(e.report));
    assert_eq!(due, [filled(1_000, 400, true, 600, 20_000)]);
}

#[test]
fn futures_fees_margin_reduce_only_and_liquidation_by_hand() {
    // 10 × leverage, capital 1,000: buy 1 at 100.00 needs 10.00 of margin.
    let c = SimConfig {
        capital_e8: 1_000 * E8,
        ..cfg()
    };
    let mut s = Sim::new(Market::UsdM, &c, &[(10_000, 5_000)], &[(10_001, 100_000)]);
    // 1,000 units at 100.01 need 10,001 of margin at 10×, more than the 1,000 held.
    s.send(&order(
        "big",
        OrderSide::Buy,
        OrderKind::Market,
        0,
        1_000_000,
        false,
    ));
    // Reduce-only with no position: refused (-2022).
    s.send(&order(
        "ro",
        OrderSide::Sell,
        OrderKind::LimitGtc,
        10_100,
        1_000,
        true,
    ));
    s.send(&order(
        "e",
        OrderSide::Buy,
        OrderKind::Market,
        0,
        50_000,
        false,
    ));
    s.trade(10_001, 1, false);
    let r = s.reports();
    assert_eq!(
        r[0],
        ("big".into(), Report::Rejected(Reject::InsufficientMargin))
    );
    assert_eq!(r[1], ("ro".into(), Report::Rejected(Reject::ReduceOnly)));
    // 50 units at 100.01 = 5,000.50 notional; taker fee 0.05 % = 2.50025.
    assert_eq!(r[2], ("e".into(), filled(10_001, 50_000, false, 0, 50_000)));
    let a = s.x.account();
    assert_eq!(a.position(), Lots(50_000));
    assert_eq!(a.margin_e8(), 50_005 * E8 / 100);
    assert_eq!(a.fees_e8, 250_025_000);
    // Maintenance 0.4 %: liquidated when 500.05 + 50 (m − 100.01) ≤ 0.2 m, i.e.
    // m ≤ 4,500.45 / 49.8 = 90.3705: a trade at 90.38 leaves it, one at 90.37 does not.
    s.trade(9_038, 1, true);
    assert_eq!(s.x.account().position(), Lots(50_000));
    s.trade(9_037, 1, true);
    let r = s.reports();
    assert_eq!(
        r,
        [(
            "autoclose".into(),
            Report::Liquidated {
                price: Ticks(9_037),
                qty: Lots(50_000),
                loss_e8: 50_005 * E8 / 100
            }
        )]
    );
    let a = s.x.account();
    assert_eq!(a.position(), Lots(0));
    assert_eq!(a.wallet_e8, 1_000 * E8 - 250_025_000 - 50_005 * E8 / 100);
}

#[test]
fn reduce_only_exits_and_oco_legs() {
    // Futures: two reduce-only exits; the take profit fills, the stop expires.
    let mut s = Sim::new(Market::UsdM, &cfg(), &[(10_000, 5_000)], &[(10_001, 5_000)]);
    s.send(&order(
        "e",
        OrderSide::Buy,
        OrderKind::PostOnly,
        10_000,
        1_000,
        false,
    ));
    s.trade(9_999, 1, true); // through: fills
    s.send(&order(
        "t",
        OrderSide::Sell,
        OrderKind::LimitGtc,
        10_100,
        1_000,
        true,
    ));
    s.send(&order(
        "s",
        OrderSide::Sell,
        OrderKind::StopMarket,
        9_900,
        1_000,
        true,
    ));
    s.trade(10_000, 1, false);
    s.trade(10_101, 1, false);
    let r = s.reports();
    assert_eq!(r.last().unwrap(), &("s".into(), Report::Expired), "{r:?}");
    assert_eq!(s.x.position(), Lots(0));
    assert_eq!(s.x.open_orders(), 0);
    // Spot: one OCO list; the stop triggers and sweeps the bids, never above the
    // trade that triggered it; the limit leg expires.
    let mut s = Sim::new(Market::Spot, &cfg(), &[(10_000, 5_000)], &[(10_001, 5_000)]);
    s.send(&order(
        "e",
        OrderSide::Buy,
        OrderKind::Market,
        0,
        1_000,
        false,
    ));
    s.trade(10_001, 1, false);
    let oco = OcoOrder {
        list_id: cid("l"),
        take_profit_id: cid("t"),
        stop_id: cid("s"),
        side: OrderSide::Sell,
        qty: Lots(1_000),
        take_profit: Ticks(11_000),
        stop: Ticks(9_000),
    };
    s.x.send(&request(OrderCmd::Oco(oco)), &[], 1_000_000);
    s.trade(10_000, 1, true);
    s.reports();
    s.trade(8_999, 1, true);
    let r = s.reports();
    assert_eq!(
        r,
        [
            ("s".into(), filled(8_999, 1_000, false, 0, 50_000)),
            ("t".into(), Report::Expired)
        ],
        "{r:?}"
    );
    assert_eq!(s.x.position(), Lots(0));
    // A stop that would trigger at once is refused.
    let oco = OcoOrder {
        list_id: cid("l2"),
        take_profit_id: cid("t2"),
        stop_id: cid("s2"),
        ..oco
    };
    s.x.send(&request(OrderCmd::Oco(oco)), &[], 1_000_000);
    s.trade(8_999, 1, true);
    assert_eq!(
        s.reports(),
        [("l2".into(), Report::Rejected(Reject::WouldTrigger))]
    );
}

#[test]
fn funding_is_paid_at_the_funding_time() {
    use crate::core::{Dec8, MarkPrice};
    let mut s = Sim::new(
        Market::UsdM,
        &cfg(),
        &[(10_000, 5_000)],
        &[(10_001, 100_000)],
    );
    s.send(&order(
        "e",
        OrderSide::Buy,
        OrderKind::Market,
        0,
        10_000,
        false,
    ));
    s.trade(10_001, 1, false);
    s.reports();
    let mark = |t_ms: u64, next: u64| {
        event(
            t_ms,
            EventBody::MarkPrice(MarkPrice {
                mark: Dec8(100 * E8),
                index: Dec8(100 * E8),
                settle: Dec8(100 * E8),
                funding_rate: Dec8(10_000), // 0.01 %
                next_funding_ms: next,
            }),
        )
    };
    s.x.on_event(&mark(2_000, 8_000));
    s.x.on_event(&mark(7_000, 8_000));
    assert!(s.reports().is_empty());
    // At 8 s the long pays 0.01 % of 10 × 100 = 0.1.
    s.x.on_event(&mark(8_000, 16_000));
    assert_eq!(
        s.reports(),
        [(
            String::new(),
            Report::Funding {
                amount_e8: -E8 / 10
            }
        )]
    );
    assert_eq!(s.x.account().funding_e8, -E8 / 10);
    // Binance may still name the passed funding time for a moment: paid once.
    s.x.on_event(&mark(8_500, 8_000));
    s.x.on_event(&mark(9_000, 16_000));
    assert!(s.reports().is_empty());
    assert_eq!(s.x.account().funding_e8, -E8 / 10);
}
