//! Decoding: price parsing and whole depthUpdate frames, Minerva's fast path and its
//! sonic-rs path against a naive serde_json `Value` baseline.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use minerva::core::{Market, PriceGrid, SymbolSpec};
use minerva::venues::binance::{DEFAULT_MAX_LEVELS, DecodePath, Decoder, SymbolTable};
use std::hint::black_box;

const SPOT_DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161261311,"s":"BTCUSDT","U":50093242275,"u":50093242277,"b":[["57950.00000000","0.01763000"],["61837.62000000","0.61700000"],["61837.60000000","0.00000000"],["61830.01000000","1.25869000"]],"a":[["61854.33000000","0.05030000"],["61856.27000000","0.00000000"],["61860.00000000","2.44816000"],["61900.10000000","0.10000000"]]}}"#;
const USDM_DEPTH: &str = r#"{"e":"depthUpdate","E":1717200000002,"T":1717200000000,"s":"BTCUSDT","U":4999999999997,"u":5000000000014,"pu":4999999999996,"b":[["59961.00","0.000"],["59998.00","0.050"],["59998.40","0.866"],["59998.70","0.000"],["59999.60","0.253"],["59999.70","0.293"],["59999.80","0.085"],["59999.90","0.566"]],"a":[["60000.10","0.836"],["60000.20","0.000"],["60000.30","0.114"],["60000.40","0.000"],["60001.00","0.000"],["60001.80","0.818"],["60002.60","0.115"],["60079.30","1.337"]]}"#;
const AGG_TRADE: &str = r#"{"e":"aggTrade","E":1717200000007,"a":2000000001,"s":"BTCUSDT","p":"60000.10","q":"0.031","f":4000000001,"l":4000000001,"T":1717200000005,"m":false}"#;

fn decoder(market: Market, tick: &str, lot: &str, path: DecodePath) -> Decoder {
    let mut t = SymbolTable::new();
    t.insert(SymbolSpec::from_tick_lot("BTCUSDT", market, tick, lot).unwrap());
    let mut d = Decoder::new(t, DEFAULT_MAX_LEVELS);
    d.set_path(path);
    d
}

fn price_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("price_parse");
    let grid = PriceGrid::from_tick_size("0.01").unwrap();
    g.bench_function("minerva_ticks", |b| {
        b.iter(|| grid.parse(black_box(b"61837.63000000")))
    });
    g.bench_function("naive_f64_round", |b| {
        b.iter(|| {
            let v: f64 = black_box("61837.63000000").parse().unwrap();
            (v / 0.01).round() as i64
        })
    });
    g.finish();
}

fn depth_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("depth_decode");
    for (name, frame, market, tick, lot) in [
        (
            "spot_8_levels",
            SPOT_DEPTH,
            Market::Spot,
            "0.01",
            "0.00000001",
        ),
        ("usdm_16_levels", USDM_DEPTH, Market::UsdM, "0.1", "0.001"),
        ("usdm_agg_trade", AGG_TRADE, Market::UsdM, "0.1", "0.001"),
    ] {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        for (pname, path) in [("fast", DecodePath::Auto), ("sonic", DecodePath::Sonic)] {
            let mut d = decoder(market, tick, lot, path);
            g.bench_with_input(BenchmarkId::new(pname, name), frame.as_bytes(), |b, f| {
                b.iter(|| {
                    let mut n = 0u64;
                    d.decode(black_box(f), 0, &mut |ev| n += ev.event_ms)
                        .unwrap();
                    n
                })
            });
        }
        g.bench_with_input(
            BenchmarkId::new("naive_serde_json_value", name),
            frame.as_bytes(),
            |b, f| b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(f)).unwrap()),
        );
    }
    g.finish();
}

/// KuCoin frames as the venue sends them (keys in its documented order): a spot
/// level-2 update with 8 changes, a ticker, a futures level-2 change.
const KUCOIN_L2: &str = r#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"changes":{"asks":[["61854.3","0.0503","1545896669105"],["61856.2","0","1545896669106"],["61860","2.44816","1545896669107"],["61900.1","0.1","1545896669108"]],"bids":[["61837.6","0.617","1545896669109"],["61837.5","0","1545896669110"],["61830","1.25869","1545896669111"],["0","0","1545896669112"]]},"sequenceEnd":1545896669112,"sequenceStart":1545896669105,"symbol":"BTC-USDT","time":1731897467182}}"#;
const KUCOIN_TICKER: &str = r#"{"type":"message","topic":"/market/ticker:BTC-USDT","subject":"trade.ticker","data":{"bestAsk":"61854.3","bestAskSize":"0.0503","bestBid":"61837.6","bestBidSize":"0.617","price":"61840","sequence":"1545896669113","size":"0.001","time":1731897467183}}"#;
const KUCOIN_FUTURES_L2: &str = r#"{"type":"message","topic":"/contractMarket/level2:XBTUSDTM","subject":"level2","sn":1709400450243,"data":{"sequence":1709400450243,"change":"90631.2,sell,2","timestamp":1731897467182}}"#;

/// An `obu` delta of 8 levels (the unified account's book, protocol notes §5), as many
/// as `KUCOIN_L2` changes.
const KUCOIN_OBU: &str = r#"{"T":"obu.SPOT","dp":"increment@10ms","t":"delta","P":1781672136338555550,"d":{"C":1545896669112,"M":1781672136333000000,"O":1545896669105,"a":[["6000.1","1.5"],["6000.2","0.25"],["6000.3","0"],["6000.4","3.1"]],"b":[["5999.9","0"],["5999.8","2.75"],["5999.7","0.001"],["5999.6","12"]],"s":"BTC-USDT"}}"#;

fn kucoin_decode(c: &mut Criterion) {
    use minerva::venues::kucoin::Decoder as KucoinDecoder;
    let mut g = c.benchmark_group("kucoin_decode");
    for (name, frame, symbol, market, tick, lot) in [
        (
            "spot_l2_8_changes",
            KUCOIN_L2,
            "BTC-USDT",
            Market::Spot,
            "0.1",
            "0.00000001",
        ),
        (
            "spot_obu_8_levels",
            KUCOIN_OBU,
            "BTC-USDT",
            Market::Spot,
            "0.1",
            "0.00000001",
        ),
        (
            "spot_ticker",
            KUCOIN_TICKER,
            "BTC-USDT",
            Market::Spot,
            "0.1",
            "0.00000001",
        ),
        (
            "futures_l2",
            KUCOIN_FUTURES_L2,
            "XBTUSDTM",
            Market::UsdM,
            "0.1",
            "1",
        ),
    ] {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        for (pname, path) in [("fast", DecodePath::Auto), ("serde", DecodePath::Sonic)] {
            let mut t = SymbolTable::new();
            t.insert(SymbolSpec::from_tick_lot(symbol, market, tick, lot).unwrap());
            let mut d = KucoinDecoder::new(t, DEFAULT_MAX_LEVELS);
            d.set_path(path);
            g.bench_with_input(BenchmarkId::new(pname, name), frame.as_bytes(), |b, f| {
                b.iter(|| {
                    let mut n = 0u64;
                    d.decode(black_box(f), 0, &mut |ev| n += ev.event_ms)
                        .unwrap();
                    n
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, price_parse, depth_decode, kucoin_decode);
criterion_main!(benches);
