use super::*;
use crate::core::Report;
use crate::core::{Market, Ticks};

#[test]
fn events_are_booked_once_by_cumulative_quantity() {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let ev = |x: &str, st: &str, l: &str, z: &str, extra: &str| {
        format!(
            r#"{{"e":"executionReport","E":1,"s":"BTCUSDT","c":"mnv1e","S":"BUY","o":"LIMIT","q":"0.30000","p":"100.00","x":"{x}","X":"{st}","l":"{l}","z":"{z}","L":"100.00","n":"0.01","N":"USDT","T":5,"m":true,"Z":"{extra}"}}"#
        )
    };
    let a = ev("NEW", "NEW", "0", "0", "0");
    let b = ev("TRADE", "PARTIALLY_FILLED", "0.10000", "0.10000", "10");
    let dup = b.clone();
    // The second fill's event was lost; the third says 0.3 in all.
    let c = ev("TRADE", "FILLED", "0.10000", "0.30000", "30");
    let cancel = r#"{"e":"executionReport","E":1,"s":"BTCUSDT","c":"cancel_1","S":"BUY","C":"mnv1e","x":"CANCELED","X":"CANCELED","l":"0","z":"0.30000","L":"0","T":6,"m":false,"Z":"30"}"#;
    let foreign = ev("TRADE", "FILLED", "0.1", "0.1", "10").replace("mnv1e", "other");
    // A fill whose cumulative quantity does not read: malformed, not a zero.
    let broken = ev("TRADE", "FILLED", "0.10000", "abc", "10");
    let (got, malformed) = replay_user_events(
        &spec,
        &[("mnv1e", true, Lots(30_000))],
        &[
            a.as_bytes(),
            b.as_bytes(),
            dup.as_bytes(),
            broken.as_bytes(),
            c.as_bytes(),
            cancel.as_bytes(),
            foreign.as_bytes(),
            b"not json",
        ],
    );
    assert_eq!(malformed, 2, "the broken fill and the garbage");
    let reports: Vec<Report> = got.iter().map(|e| e.report).collect();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert_eq!(reports[0], Report::Accepted);
    assert!(matches!(
        reports[1],
        Report::Filled {
            qty: Lots(10_000),
            fee_e8: 1_000_000,
            maker: true,
            leaves: Lots(20_000),
            ..
        }
    ));
    // The missed fill and the last come as one, at the average price, with the
    // maker fee estimated (0 here): the whole order, once.
    assert!(
        matches!(
            reports[2],
            Report::Filled {
                qty: Lots(20_000),
                price: Ticks(10_000),
                leaves: Lots(0),
                ..
            }
        ),
        "{reports:?}"
    );
    // The order is done: its cancel event adds nothing.
}

#[test]
fn answers_book_the_fills_they_show_and_the_end() {
    use crate::core::{NewOrder, OrderKind, OrderSide};
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let id = ClientId::from("mnv1e").unwrap();
    let new = OrderCmd::New(NewOrder {
        id,
        side: OrderSide::Buy,
        kind: OrderKind::LimitGtc,
        price: Ticks(10_000),
        qty: Lots(30_000),
        reduce_only: false,
    });
    let placed = br#"{"symbol":"BTCUSDT","clientOrderId":"mnv1e","status":"PARTIALLY_FILLED","executedQty":"0.10000","cummulativeQuoteQty":"10.00000000"}"#;
    let cancelled = br#"{"symbol":"BTCUSDT","clientOrderId":"cancel_1","origClientOrderId":"mnv1e","status":"CANCELED","executedQty":"0.10000","cummulativeQuoteQty":"10.00000000"}"#;
    let (got, malformed) = replay_answers(
        &spec,
        &[
            (new, &placed[..]),
            (OrderCmd::Cancel(id), &cancelled[..]),
            (OrderCmd::Cancel(id), b"not json"),
        ],
    );
    assert_eq!(malformed, 1, "the garbage");
    let reports: Vec<Report> = got.iter().map(|e| e.report).collect();
    assert!(
        matches!(
            reports.as_slice(),
            [
                Report::Filled {
                    price: Ticks(10_000),
                    qty: Lots(10_000),
                    leaves: Lots(20_000),
                    ..
                },
                Report::Canceled
            ]
        ),
        "{reports:?}"
    );
}

#[test]
fn another_symbols_events_are_not_this_links() {
    // One account, two symbols traded (two processes, or a run of several symbols):
    // the user data stream carries both, and their client ids may be alike.
    let spot = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let fill = |s: &str| {
        format!(
            r#"{{"e":"executionReport","E":1,"s":"{s}","c":"mnv1e","S":"BUY","o":"LIMIT","q":"0.30000","p":"100.00","x":"TRADE","X":"FILLED","l":"0.30000","z":"0.30000","L":"100.00","n":"0","N":"USDT","T":5,"m":true,"Z":"30"}}"#
        )
    };
    let (got, malformed) = replay_user_events(
        &spot,
        &[("mnv1e", true, Lots(30_000))],
        &[fill("ETHUSDT").as_bytes(), fill("BTCUSDT").as_bytes()],
    );
    assert_eq!(malformed, 0);
    let fills: Vec<Lots> = got
        .iter()
        .filter_map(|e| match e.report {
            Report::Filled { qty, .. } => Some(qty),
            _ => None,
        })
        .collect();
    assert_eq!(fills, vec![Lots(30_000)], "only BTCUSDT's fill: {got:?}");

    // USDⓈ-M: another symbol's liquidation leaves this symbol's position alone.
    let perp = SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.10", "0.001").unwrap();
    let liquidation = |s: &str| {
        format!(
            r#"{{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{{"s":"{s}","c":"autoclose-1","S":"SELL","x":"CALCULATED","X":"FILLED","l":"0.010","z":"0.010","L":"100.0","T":1,"m":false,"rp":"-5"}}}}"#
        )
    };
    let (got, malformed) = replay_user_events(&perp, &[], &[liquidation("ETHUSDT").as_bytes()]);
    assert_eq!((got.len(), malformed), (0, 0), "{got:?}");
    let (got, _) = replay_user_events(&perp, &[], &[liquidation("BTCUSDT").as_bytes()]);
    assert!(
        matches!(got.as_slice(), [e] if matches!(e.report, Report::Liquidated { .. })),
        "{got:?}"
    );
}
