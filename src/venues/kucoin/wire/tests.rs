//! Frames written after KuCoin's documented examples (protocol notes §3, §4).

use super::*;
use crate::core::{EventBody, Market, SymbolSpec};
use crate::venues::wire::SkipReason;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    t.insert(SymbolSpec::from_tick_lot("BTC-USDT", Market::Spot, "0.1", "0.00000001").unwrap());
    // XBTUSDTM's contract is 0.001 BTC (its `multiplier`): the grid's lot.
    t.insert(SymbolSpec::from_tick_lot("XBTUSDTM", Market::UsdM, "0.1", "0.001").unwrap());
    t
}

/// Decodes with each reader; both must agree; returns the events.
fn decode(frame: &str) -> Result<(Decoded, Vec<MarketEvent>), DecodeError> {
    let mut out = Vec::new();
    let mut results = Vec::new();
    for path in [DecodePath::Auto, DecodePath::Sonic] {
        let mut d = Decoder::new(table(), 64);
        d.set_path(path);
        let mut evs = Vec::new();
        let r = d.decode(frame.as_bytes(), 7, &mut |e| evs.push(*e));
        results.push(r);
        out.push(evs);
    }
    assert_eq!(results[0], results[1], "readers disagree on {frame}");
    assert_eq!(out[0], out[1], "readers disagree on {frame}");
    results[0].map(|r| (r, out.swap_remove(0)))
}

const SPOT_L2: &str = r#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"sequenceStart":1545896669105,"sequenceEnd":1545896669107,"symbol":"BTC-USDT","time":1545896669200,"changes":{"asks":[["6000.1","1.5","1545896669105"],["0","0","1545896669106"]],"bids":[["5999.9","0","1545896669107"]]}}}"#;

#[test]
fn spot_update_bids_first_price_zero_left_out() {
    let (r, evs) = decode(SPOT_L2).unwrap();
    assert_eq!(r, Decoded::Events(1));
    let EventBody::Depth(c) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (c.first_id, c.last_id, c.prev_last_id()),
        (1545896669105, 1545896669107, None)
    );
    assert_eq!(evs[0].event_ms, 1545896669200);
    assert_eq!(evs[0].recv_ns, 7);
    assert!(c.is_first() && c.is_last());
    assert_eq!(c.bids().len(), 1);
    assert_eq!((c.bids()[0].price.0, c.bids()[0].qty.0), (59999, 0));
    assert_eq!(
        c.asks().len(),
        1,
        "the [\"0\",\"0\",seq] entry carries no level"
    );
    assert_eq!(
        (c.asks()[0].price.0, c.asks()[0].qty.0),
        (60001, 150_000_000)
    );
}

#[test]
fn keys_in_any_order() {
    // As cryptofeed's recorder re-serialises them: data first, subject before topic.
    let shuffled = r#"{"data":{"changes":{"bids":[["5999.9","0","1545896669107"]],"asks":[["6000.1","1.5","1545896669105"],["0","0","1545896669106"]]},"sequenceEnd":1545896669107,"symbol":"BTC-USDT","time":1545896669200,"sequenceStart":1545896669105},"subject":"trade.l2update","topic":"/market/level2:BTC-USDT","type":"message"}"#;
    assert_eq!(decode(shuffled).unwrap(), decode(SPOT_L2).unwrap());
}

#[test]
fn an_update_of_only_sequence_bumps_has_no_levels_and_keeps_its_ids() {
    let f = r#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"sequenceStart":9,"sequenceEnd":9,"symbol":"BTC-USDT","changes":{"asks":[["0","0","9"]],"bids":[]}}}"#;
    let (_, evs) = decode(f).unwrap();
    let EventBody::Depth(c) = evs[0].body else {
        panic!()
    };
    assert_eq!((c.first_id, c.last_id, c.n_levels), (9, 9, 0));
}

#[test]
fn long_updates_split_into_chunks() {
    let update = |n: usize| {
        let changes: Vec<String> = (0..n)
            .map(|k| format!(r#"["{}.5","1","{}"]"#, 6000 + k, 100 + k))
            .collect();
        format!(
            r#"{{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{{"sequenceStart":100,"sequenceEnd":169,"symbol":"BTC-USDT","changes":{{"asks":[{}],"bids":[]}}}}}}"#,
            changes.join(",")
        )
    };
    // The decoders here hold 64 changes: more is refused whole, never cut.
    assert_eq!(decode(&update(65)), Err(DecodeError::TooManyLevels));
    let (r, evs) = decode(&update(64)).unwrap();
    assert_eq!(r, Decoded::Events(2));
    let n: usize = evs
        .iter()
        .map(|e| match e.body {
            EventBody::Depth(c) => c.asks().len(),
            _ => 0,
        })
        .sum();
    assert_eq!(n, 64);
}

#[test]
fn ticker_is_a_book_ticker_at_its_sequence() {
    let f = r#"{"type":"message","topic":"/market/ticker:BTC-USDT","subject":"trade.ticker","data":{"sequence":"1545896668986","price":"0.08","size":"0.011","bestAsk":"6000.2","bestAskSize":"0.5","bestBid":"6000.1","bestBidSize":"2","time":1545896669100}}"#;
    let (_, evs) = decode(f).unwrap();
    let EventBody::BookTicker(t) = evs[0].body else {
        panic!()
    };
    assert_eq!(t.update_id, 1545896668986);
    assert_eq!((t.bid_price.0, t.ask_price.0), (60001, 60002));
    assert_eq!((t.bid_qty.0, t.ask_qty.0), (200_000_000, 50_000_000));
    assert_eq!(evs[0].event_ms, 1545896669100);
}

#[test]
fn spot_and_futures_matches() {
    let spot = r#"{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{"sequence":"1545896669145","type":"match","symbol":"BTC-USDT","side":"sell","price":"6000.1","size":"0.25","tradeId":"5c24c5da03aa673885cd67aa","takerOrderId":"5c24c5d903aa6772d55b371e","makerOrderId":"5c2187d003aa677bd09d5c93","time":"1545913818099033203"}}"#;
    let (_, evs) = decode(spot).unwrap();
    let EventBody::Trade(t) = evs[0].body else {
        panic!()
    };
    assert_eq!(t.trade_id, 1545896669145);
    assert_eq!((t.price.0, t.qty.0), (60001, 25_000_000));
    assert_eq!(t.trade_ms, 1545913818099);
    assert!(t.buyer_is_maker, "a taker sell hits a resting buy");
    let fut = r#"{"type":"message","topic":"/contractMarket/execution:XBTUSDTM","subject":"match","sn":1697,"data":{"symbol":"XBTUSDTM","sequence":1697,"side":"buy","size":12,"price":"67123.5","takerOrderId":"a","makerOrderId":"b","tradeId":"c","ts":1731898619520000000}}"#;
    let (_, evs) = decode(fut).unwrap();
    let EventBody::Trade(t) = evs[0].body else {
        panic!()
    };
    assert_eq!((t.trade_id, t.price.0, t.qty.0), (1697, 671235, 12));
    assert_eq!(
        table().specs()[1].qty.format(t.qty),
        "0.012",
        "12 contracts"
    );
    assert!(!t.buyer_is_maker);
    assert_eq!(t.trade_ms, 1731898619520);
}

#[test]
fn futures_level2_one_change_per_sequence() {
    let f = r#"{"type":"message","topic":"/contractMarket/level2:XBTUSDTM","subject":"level2","sn":1709400450243,"data":{"sequence":1709400450243,"change":"90631.2,sell,2","timestamp":1731897467182}}"#;
    let (_, evs) = decode(f).unwrap();
    let EventBody::Depth(c) = evs[0].body else {
        panic!()
    };
    assert_eq!((c.first_id, c.last_id), (1709400450243, 1709400450243));
    assert_eq!(c.bids().len(), 0);
    assert_eq!((c.asks()[0].price.0, c.asks()[0].qty.0), (906312, 2));
    assert_eq!(
        table().specs()[1].qty.format(c.asks()[0].qty),
        "0.002",
        "2 contracts"
    );
    assert_eq!(evs[0].event_ms, 1731897467182);
    let bid = f.replace("sell", "buy");
    let (_, evs) = decode(&bid).unwrap();
    let EventBody::Depth(c) = evs[0].body else {
        panic!()
    };
    assert_eq!(c.bids().len(), 1);
    for bad in [
        "90631.2,sell",
        "90631.2,hold,2",
        "90631.2,sell,2,3",
        "x,sell,2",
    ] {
        let f = f.replace("90631.2,sell,2", bad);
        assert!(decode(&f).is_err(), "{bad}");
    }
}

#[test]
fn control_frames_and_other_topics_are_skipped() {
    for f in [
        r#"{"id":"hQvf8jkno","type":"welcome"}"#,
        r#"{"id":"1545910590801","type":"ack"}"#,
        r#"{"id":"1545910590801","type":"pong","timestamp":1764000000000000}"#,
        r#"{"id":"1","type":"error","code":404,"data":"topic /market/level2:NOPE-USDT is not found"}"#,
        r#"{"type":"message","topic":"/spotMarket/level2Depth5:BTC-USDT","subject":"level2","data":{"asks":[["9989","8"]],"bids":[["9983","6"]],"timestamp":1586948108193}}"#,
    ] {
        assert_eq!(
            decode(f).unwrap().0,
            Decoded::Skipped(SkipReason::UnknownType),
            "{f}"
        );
    }
    let other = SPOT_L2.replace("BTC-USDT", "ETH-USDT");
    assert_eq!(
        decode(&other).unwrap().0,
        Decoded::Skipped(SkipReason::UnknownSymbol)
    );
}

#[test]
fn malformed_frames_are_errors_never_panics() {
    let cases: &[(&str, &str)] = &[
        ("sequenceEnd\":1545896669107,", ""),
        ("\"6000.1\"", "\"6000.15\""),
        ("\"6000.1\"", "6000.1"),
        ("\"1545896669105\"", "\"12a\""),
        ("\"changes\"", "\"changez\""),
        ("1545896669107", "-3"),
        ("1545896669107", "1.5"),
    ];
    for (from, to) in cases {
        let f = SPOT_L2.replacen(from, to, 1);
        assert!(decode(&f).is_err(), "{f}");
    }
    for cut in 1..SPOT_L2.len() {
        let _ = decode(&SPOT_L2[..cut]);
    }
    // Not an object: serde alone would read an array positionally.
    assert!(decode(r#"["message","/market/level2:BTC-USDT","trade.l2update"]"#).is_err());
}

#[test]
fn escapes_go_to_the_reference_reader() {
    // `\u0042` is `B`: the fast path gives up, the reference reads an escaped string
    // as something Minerva never reads, and the frame is refused.
    let f = SPOT_L2.replace("\"symbol\":\"BTC-USDT\"", "\"symbol\":\"\\u0042TC-USDT\"");
    let mut d = Decoder::new(table(), 64);
    assert!(d.decode(f.as_bytes(), 0, &mut |_| {}).is_err());
    assert_eq!(d.stats().full_path, 1);
    // An escape in a field nobody reads is fine.
    let f = SPOT_L2.replace(
        "\"type\":\"message\"",
        "\"id\":\"a\\\"b\",\"type\":\"message\"",
    );
    assert_eq!(decode(&f).unwrap().0, Decoded::Events(1));
}

#[test]
fn a_recorded_rest_snapshot_is_reported_for_the_cold_reader() {
    let spot = r#"{"code":"200000","data":{"time":1619378326628,"sequence":"1613277183892","bids":[["242.649","5"]],"asks":[["242.951","4.5"]]}}"#;
    assert_eq!(decode(spot).unwrap().0, Decoded::Snapshot { symbol: None });
    let fut = r#"{"code":"200000","data":{"sequence":1709400450243,"symbol":"XBTUSDTM","bids":[[90631.1,12]],"asks":[[90631.2,2]],"ts":1731897467182000000}}"#;
    assert_eq!(
        decode(fut).unwrap().0,
        Decoded::Snapshot {
            symbol: Some(crate::core::SymbolId(1))
        }
    );
    let refused = r#"{"code":"400003","msg":"KC-API-KEY not exists"}"#;
    assert_eq!(
        decode(refused).unwrap().0,
        Decoded::Skipped(SkipReason::UnknownType)
    );
}

#[test]
fn candles_are_klines() {
    let f = r#"{"type":"message","topic":"/market/candles:BTC-USDT_1min","subject":"trade.candles.update","data":{"symbol":"BTC-USDT","candles":["1589968800","9786.9","9740.8","9806.1","9732","27.45649579","268280.09830877"],"time":1589970010253893337}}"#;
    let (_, evs) = decode(f).unwrap();
    let EventBody::Kline(k) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (k.open_ms, k.close_ms),
        (1_589_968_800_000, 1_589_968_859_999)
    );
    assert_eq!(
        (k.open.0, k.close.0, k.high.0, k.low.0),
        (97869, 97408, 98061, 97320)
    );
    assert_eq!(k.volume.0, 2_745_649_579);
    assert_eq!(k.quote_volume.to_string(), "268280.09830877");
    // KuCoin's turnover has up to 14 places (the capture's `0.00038556424505`).
    let long = f.replace("268280.09830877", "0.00038556424505");
    let EventBody::Kline(k) = decode(&long).unwrap().1[0].body else {
        panic!()
    };
    assert_eq!(k.quote_volume.to_string(), "0.00038556");
    assert_eq!(k.interval, crate::core::KlineInterval::M1);
    assert!(!k.closed);
    assert_eq!(evs[0].event_ms, 1_589_970_010_253);
    // Without `symbol`, the topic names it before the interval.
    let bare = f.replace(r#""symbol":"BTC-USDT","#, "");
    assert_eq!(decode(&bare).unwrap().1, evs);
    // A start near the end of time: the close saturates, never overflows.
    let late = f.replace("1589968800", "18446744073709551");
    let EventBody::Kline(k) = decode(&late).unwrap().1[0].body else {
        panic!()
    };
    assert_eq!(k.close_ms, u64::MAX);
    for bad in [
        f.replace("_1min", "_7min"),
        f.replace(r#""9732","#, ""),
        f.replace("1589968800", "15899x8800"),
    ] {
        assert!(decode(&bad).is_err(), "{bad}");
    }
}

// Unified-account pushes (protocol notes §5), after KuCoin's documented examples.
const OBU_SPOT_DELTA: &str = r#"{"T":"obu.SPOT","dp":"increment@10ms","t":"delta","P":1781672136338555550,"d":{"C":33629695393,"M":1781672136333000000,"O":33629695388,"a":[],"b":[["65928.9","0"],["65946.6","0"],["65947","0.06185847"]],"s":"BTC-USDT"}}"#;
const OBU_FUTURES_DELTA: &str = r#"{"T":"obu.FUTURES","dp":"increment@10ms","t":"delta","P":1781666796660937177,"d":{"a":[["65740.1","3"]],"b":[["65739.9","0"],["65739","14"]],"C":1743938538056,"s":"XBTUSDTM","M":1781666796658000000,"O":1743938538050}}"#;

#[test]
fn obu_deltas_are_depth_updates_over_their_sequence_range() {
    let (r, evs) = decode(OBU_SPOT_DELTA).unwrap();
    assert_eq!(r, Decoded::Events(1));
    let EventBody::Depth(c) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!((c.first_id, c.last_id), (33629695388, 33629695393));
    assert_eq!(evs[0].event_ms, 1781672136333, "M is ns");
    assert_eq!(c.bids().len(), 3);
    assert!(c.asks().is_empty());
    assert_eq!((c.bids()[2].price.0, c.bids()[2].qty.0), (659470, 6185847));
    assert_eq!(c.bids()[0].qty.0, 0, "size 0 deletes (or left the top 500)");

    // Futures sizes are contracts of 0.001 BTC; the envelope's keys in another order.
    let (_, evs) = decode(OBU_FUTURES_DELTA).unwrap();
    let EventBody::Depth(c) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!((c.first_id, c.last_id), (1743938538050, 1743938538056));
    assert_eq!((c.bids().len(), c.asks().len()), (2, 1));
    assert_eq!((c.bids()[1].price.0, c.bids()[1].qty.0), (657390, 14));
    let reordered = r#"{"t":"delta","d":{"O":5,"b":[["65739","14","3"]],"M":7000000,"s":"XBTUSDTM","a":[],"C":6},"T":"obu.FUTURES","P":9,"dp":"increment@10ms"}"#;
    let (_, evs) = decode(reordered).unwrap();
    let EventBody::Depth(c) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (c.first_id, c.last_id, c.bids()[0].qty.0),
        (5, 6, 14),
        "an RPI level's third size is left out"
    );
}

#[test]
fn an_obu_snapshot_goes_to_the_cold_reader() {
    let snap = r#"{"T":"obu.SPOT","dp":"increment@10ms","t":"snapshot","P":1768217874990007701,"d":{"C":25984468414,"M":1768217874986000000,"O":25984468414,"a":[["90701.2","0.5771583"]],"b":[["90701.1","0.13918404"]],"s":"BTC-USDT"}}"#;
    assert_eq!(
        decode(snap).unwrap().0,
        Decoded::Snapshot {
            symbol: Some(crate::core::SymbolId(0))
        }
    );
    let spec = table().spec(crate::core::SymbolId(0)).clone();
    let s = crate::venues::kucoin::snapshot::parse_snapshot(snap.as_bytes(), &spec).unwrap();
    assert_eq!(s.last_update_id, 25984468414);
    assert_eq!(s.event_ms, Some(1768217874986));
    assert_eq!((s.bids[0].price.0, s.bids[0].qty.0), (907011, 13918404));
    assert_eq!(s.asks[0].price.0, 907012);
    // A delta is no snapshot.
    assert!(
        crate::venues::kucoin::snapshot::parse_snapshot(OBU_SPOT_DELTA.as_bytes(), &spec).is_err()
    );
}

#[test]
fn unified_trades_are_trades() {
    let spot = r#"{"T":"trade.SPOT","P":1768802538491160904,"d":{"E":20631804219899904,"M":1768802538480000000,"S":"sell","p":"92525.6","q":"0.00008036","s":"BTC-USDT","ti":"20631804219899904"}}"#;
    let (_, evs) = decode(spot).unwrap();
    let EventBody::Trade(t) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (t.trade_id, t.price.0, t.qty.0, t.trade_ms, t.buyer_is_maker),
        (20631804219899904, 925256, 8036, 1768802538480, true)
    );
    let fut = r#"{"T":"trade.FUTURES","P":8,"d":{"S":"BUY","s":"XBTUSDTM","ti":777,"rpi":true,"E":3,"p":"90551.8","q":"12","M":2000000}}"#;
    let (_, evs) = decode(fut).unwrap();
    let EventBody::Trade(t) = evs[0].body else {
        panic!("{evs:?}")
    };
    assert_eq!((t.trade_id, t.qty.0, t.buyer_is_maker), (777, 12, false));
}

#[test]
fn other_pushes_are_skipped_and_bad_ones_refused() {
    // A ticker's `a` and `b` are best prices, not levels: skipped, not an error.
    let ticker = r#"{"T":"ticker.SPOT","P":1,"d":{"A":"0.9","B":"0.02","E":2,"M":3,"S":"BUY","a":"90968.2","b":"90968.1","l":"90968.2","q":"0.001","s":"BTC-USDT"}}"#;
    assert_eq!(
        decode(ticker).unwrap().0,
        Decoded::Skipped(SkipReason::UnknownType)
    );
    let other_symbol = OBU_SPOT_DELTA.replace("BTC-USDT", "ETH-USDT");
    assert_eq!(
        decode(&other_symbol).unwrap().0,
        Decoded::Skipped(SkipReason::UnknownSymbol)
    );
    for bad in [
        // The symbol is a futures contract but the push says SPOT.
        OBU_FUTURES_DELTA.replace("obu.FUTURES", "obu.SPOT"),
        OBU_SPOT_DELTA.replace("\"O\":33629695388", "\"O\":33629695394"),
        OBU_SPOT_DELTA.replace("\"t\":\"delta\"", "\"t\":\"both\""),
        OBU_SPOT_DELTA.replace("\"a\":[],", ""),
        OBU_SPOT_DELTA.replace("\"a\":[]", "\"a\":[[\"1\"]]"),
        OBU_SPOT_DELTA.replace("\"0.06185847\"", "\"0.061858471\""),
        OBU_FUTURES_DELTA.replace("\"14\"", "\"1.5\""),
        r#"{"T":"obu.SPOT","d":[1]}"#.to_string(),
        r#"{"T":7,"d":{}}"#.to_string(),
    ] {
        assert!(decode(&bad).is_err(), "{bad}");
    }
}
