use super::*;
use crate::core::{EventBody, Lots, Market, Ticks};

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    t.insert(SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00000001").unwrap());
    t.insert(SymbolSpec::from_tick_lot("ETHUSDT", Market::UsdM, "0.01", "0.001").unwrap());
    t
}

fn decode_all(path: DecodePath, frame: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut d = Decoder::new(table(), 128);
    d.set_path(path);
    let mut out = Vec::new();
    let r = d.decode(frame.as_bytes(), 7, &mut |e| out.push(*e));
    (r, out)
}

/// Both readers must agree wherever the fast one answers.
fn decode(frame: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let sonic = decode_all(DecodePath::Sonic, frame);
    let fast = decode_all(DecodePath::FastOnly, frame);
    if fast.0 != Err(DecodeError::Json { offset: 0 }) {
        assert_eq!(fast, sonic, "paths disagree on {frame}");
    }
    decode_all(DecodePath::Auto, frame)
}

#[test]
fn spot_depth_in_envelope() {
    let (r, ev) = decode(
        r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161261311,"s":"BTCUSDT","U":50093242275,"u":50093242277,"b":[["57950.00000000","0.01763000"]],"a":[["61854.33000000","0.05030000"],["61856.27000000","0.00000000"]]}}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::Depth(c) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (c.first_id, c.last_id, c.prev_last_id()),
        (50093242275, 50093242277, None)
    );
    assert_eq!(
        c.bids(),
        &[Level {
            price: Ticks(5_795_000),
            qty: Lots(1_763_000)
        }]
    );
    assert_eq!(c.asks().len(), 2);
    assert_eq!(
        c.asks()[1],
        Level {
            price: Ticks(6_185_627),
            qty: Lots(0)
        }
    );
    assert!(c.is_first() && c.is_last());
    assert_eq!(ev[0].event_ms, 1723161261311);
    assert_eq!(ev[0].recv_ns, 7);
}

#[test]
fn usdm_depth_bare_with_pu() {
    let (r, ev) = decode(
        r#"{"e":"depthUpdate","E":1721347201585,"T":1721347201533,"s":"ETHUSDT","U":4984034747463,"u":4984034747463,"pu":4984033952967,"b":[],"a":[["3520.40","0.000"]]}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::Depth(c) = ev[0].body else {
        panic!()
    };
    assert_eq!(c.prev_last_id(), Some(4984033952967));
    assert_eq!(c.transact_ms, 1721347201533);
    assert_eq!(c.bids().len(), 0);
}

#[test]
fn big_diff_is_split_with_same_ids() {
    let mut bids = String::new();
    for i in 0..70 {
        if i > 0 {
            bids.push(',');
        }
        bids.push_str(&format!("[\"{}.00\",\"1.000\"]", 1000 + i));
    }
    let f = format!(
        r#"{{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":10,"u":12,"pu":9,"b":[{bids}],"a":[["2000.00","0.5"]]}}"#
    );
    let (r, ev) = decode(&f);
    assert_eq!(r, Ok(Decoded::Events(3)));
    let chunks: Vec<DepthChunk> = ev
        .iter()
        .map(|e| match e.body {
            EventBody::Depth(c) => c,
            _ => panic!(),
        })
        .collect();
    assert!(chunks.iter().all(|c| c.first_id == 10 && c.last_id == 12));
    assert_eq!(
        chunks.iter().map(|c| c.n_levels as usize).sum::<usize>(),
        71
    );
    assert_eq!(chunks.iter().map(|c| c.bids().len()).sum::<usize>(), 70);
    assert!(chunks[0].is_first() && !chunks[0].is_last());
    assert!(!chunks[1].is_first() && !chunks[1].is_last());
    assert!(!chunks[2].is_first() && chunks[2].is_last());
    assert_eq!(
        chunks[2].asks(),
        &[Level {
            price: Ticks(200_000),
            qty: Lots(500)
        }]
    );
}

#[test]
fn too_many_levels_is_an_error_not_truncation() {
    let mut d = Decoder::new(table(), 2);
    let f = r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"pu":0,"b":[["1.00","1"],["2.00","1"],["3.00","1"]],"a":[]}"#;
    let mut n = 0;
    assert!(d.decode(f.as_bytes(), 0, &mut |_| n += 1).is_err());
    assert_eq!(n, 0);
    assert_eq!(d.stats().errors, 1);
}

use crate::core::DepthChunk;

#[test]
fn spot_and_futures_book_ticker() {
    let (r, ev) = decode(
        r#"{"stream":"btcusdt@bookTicker","data":{"u":50093421613,"s":"BTCUSDT","b":"61685.99000000","B":"1.25869000","a":"61686.00000000","A":"2.44816000"}}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::BookTicker(t) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (t.update_id, t.bid_price, t.ask_price),
        (50093421613, Ticks(6_168_599), Ticks(6_168_600))
    );
    let (r, ev) = decode(
        r#"{"e":"bookTicker","u":5123107839020,"s":"ETHUSDT","b":"2600.20","B":"2.507","a":"2600.30","A":"2.510","T":1723161256313,"E":1723161256314}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::BookTicker(t) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (t.bid_qty, t.transact_ms, ev[0].event_ms),
        (Lots(2507), 1723161256313, 1723161256314)
    );
}

#[test]
fn trades_old_and_new() {
    // 2023 spot trade with buyer/seller order ids `b`/`a`.
    let (r, ev) = decode(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1680652800000,"s":"BTCUSDT","t":3071245454,"p":"28165.47000000","q":"0.00056000","b":20720542158,"a":20720542592,"T":1680652799999,"m":true,"M":true}}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::Trade(t) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (t.trade_id, t.price, t.qty, t.buyer_is_maker),
        (3071245454, Ticks(2_816_547), Lots(56_000), true)
    );
    let (r, _) = decode(
        r#"{"e":"trade","E":1,"T":1,"s":"ETHUSDT","t":5,"p":"2600.30","q":"0.006","X":"MARKET","m":false}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
}

#[test]
fn agg_trade_kline_mark_price() {
    let (r, ev) = decode(
        r#"{"e":"aggTrade","E":1626992744262,"a":87353230,"s":"ETHUSDT","p":"7.6100","q":"297","f":126902924,"l":126902927,"T":1626992744108,"m":false}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::AggTrade(t) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (t.agg_id, t.first_trade_id, t.last_trade_id, t.qty),
        (87353230, 126902924, 126902927, Lots(297_000))
    );
    let (r, ev) = decode(
        r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1633998523963,"s":"BTCUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"BTCUSDT","i":"1m","f":19862761,"L":19862790,"o":"35270.00000000","c":"35280.00000000","h":"35280.00000000","l":"35220.00000000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::Kline(k) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (k.open, k.trades, k.closed, k.interval),
        (Ticks(3_527_000), 30, false, KlineInterval::M1)
    );
    assert_eq!(k.quote_volume, Dec8(911_604_600_000));
    let (r, ev) = decode(
        r#"{"e":"markPriceUpdate","E":1562305380000,"s":"ETHUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"-0.00038167","T":1562306400000}"#,
    );
    assert_eq!(r, Ok(Decoded::Events(1)));
    let EventBody::MarkPrice(m) = ev[0].body else {
        panic!()
    };
    assert_eq!(
        (m.mark, m.funding_rate),
        (Dec8(1_179_415_000_000), Dec8(-38_167))
    );
}

use crate::core::{Dec8, KlineInterval};

#[test]
fn skips_and_snapshots() {
    assert_eq!(
        decode(r#"{"e":"24hrTicker","E":1,"s":"BTCUSDT"}"#).0,
        Ok(Decoded::Skipped(SkipReason::UnknownType))
    );
    // Keys we read elsewhere with other types (`l` is a trade id in aggTrade, the low
    // price here; `o` an object in forceOrder) must not make a skipped type an error.
    assert_eq!(
        decode(r#"{"e":"24hrTicker","E":1,"s":"BTCUSDT","p":"-131.4","l":"16456.51","b":"1.0","f":1.5,"o":{"s":"X"}}"#).0,
        Ok(Decoded::Skipped(SkipReason::UnknownType))
    );
    assert_eq!(
        decode(r#"{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","q":"0.014"}}"#).0,
        Ok(Decoded::Skipped(SkipReason::UnknownType))
    );

    assert_eq!(
        decode(r#"{"result":null,"id":1}"#).0,
        Ok(Decoded::Skipped(SkipReason::UnknownType))
    );
    assert_eq!(
        decode(r#"{"e":"trade","E":1,"T":1,"s":"XRPUSDT","t":5,"p":"1.0","q":"1","m":false}"#).0,
        Ok(Decoded::Skipped(SkipReason::UnknownSymbol))
    );
    assert_eq!(
        decode(r#"{"lastUpdateId":5,"bids":[["1.00","2.000"]],"asks":[]}"#).0,
        Ok(Decoded::Snapshot { symbol: None })
    );
}

#[test]
fn malformed_is_an_error_never_a_panic() {
    let cases = [
        "",
        "{",
        "[]",
        "null",
        r#"{"e":"trade"} x"#,
        r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[["1.00"]],"a":[]}"#,
        r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[["1.001","1"]],"a":[]}"#,
        r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":"1","u":2,"b":[],"a":[]}"#,
        r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","u":2,"b":[],"a":[]}"#,
        r#"{"e":"trade","e":"trade","E":1,"T":1,"s":"ETHUSDT","t":5,"p":"1.00","q":"1","m":false}"#,
        r#"{"e":"trade","E":1,"T":1,"s":"ETHUSDT","t":5,"p":"-1.00","q":"1","m":false}"#,
        r#"{"stream":"x","data":{"e":"trade"},"e":"trade"}"#,
        r#"{"e":"bookTicker","u":1,"s":"ETHUSDT","b":[],"B":"1","a":"1.00","A":"1"}"#,
    ];
    for c in cases {
        let (r, ev) = decode(c);
        assert!(r.is_err(), "{c} -> {r:?}");
        assert!(ev.is_empty());
    }
}

#[test]
fn fast_path_handles_recorded_shapes() {
    let mut d = Decoder::new(table(), 64);
    d.set_path(DecodePath::FastOnly);
    let f = r#"{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":1,"u":2,"pu":0,"b":[["1.00","1.000"]],"a":[]}}"#;
    assert_eq!(
        d.decode(f.as_bytes(), 0, &mut |_| {}),
        Ok(Decoded::Events(1))
    );
    // Escapes are valid JSON but go to the full reader.
    let f = r#"{"e":"trade","E":1,"T":1,"s":"ETH\u0055SDT","t":5,"p":"1.00","q":"1","m":false}"#;
    assert!(d.decode(f.as_bytes(), 0, &mut |_| {}).is_err());
}
