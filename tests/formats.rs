//! Parsers against real documents read in place from `../shared/data`: cryptofeed's
//! exchangeInfo captures and nautilus_trader's single-message fixtures (LGPL-3.0, read
//! at run time, not copied into the repository).

mod common;

use minerva::core::{EventBody, Lots, Market, SymbolSpec, SymbolStatus, Ticks};
use minerva::venues::binance::{
    DEFAULT_MAX_LEVELS, DecodePath, Decoded, Decoder, SkipReason, SymbolTable, parse_exchange_info,
};

fn exchange_info(file: &str) -> Option<Vec<SymbolSpec>> {
    let d = common::shared_data()?;
    let text = std::fs::read_to_string(d.join("cryptofeed-sample").join(file)).unwrap();
    let first = text.lines().next().unwrap();
    let json = first.split_once(": ").unwrap().1;
    let info = parse_exchange_info(json.as_bytes(), None).unwrap();
    Some(info.specs)
}

fn find<'a>(v: &'a [SymbolSpec], name: &str) -> &'a SymbolSpec {
    v.iter().find(|s| s.name.as_str() == name).unwrap()
}

#[test]
fn spot_exchange_info_filters() {
    let Some(specs) = exchange_info("BINANCE.0") else {
        return;
    };
    assert!(
        specs.len() >= 1_690,
        "{} of 1695 symbols usable",
        specs.len()
    );
    let btc = find(&specs, "BTCUSDT");
    assert_eq!(btc.market, Market::Spot);
    assert_eq!(btc.status, SymbolStatus::Trading);
    assert_eq!(btc.price.parse(b"61837.63000000"), Ok(Ticks(6_183_763)));
    assert_eq!(btc.qty.decimals(), 8);
    assert_eq!(btc.qty.step(), Lots(1_000));
    assert_eq!(btc.min_qty, Lots(1_000));
    assert_eq!(btc.max_qty, Some(Lots(900_000_000_000)));
    assert_eq!(
        (btc.min_price, btc.max_price),
        (Some(Ticks(1)), Some(Ticks(100_000_000)))
    );
    // 10 USDT at 2 + 8 places.
    assert_eq!(btc.min_notional, Some(10 * 10i128.pow(10)));
}

#[test]
fn usdm_and_coinm_exchange_info_filters() {
    let Some(usdm) = exchange_info("BINANCE_FUTURES.0") else {
        return;
    };
    let btc = find(&usdm, "BTCUSDT");
    assert_eq!(btc.market, Market::UsdM);
    assert_eq!((btc.price_precision, btc.qty_precision), (2, 3));
    assert_eq!(btc.min_price, Some(Ticks(55_672)));
    assert_eq!(btc.qty.step(), Lots(1));
    assert_eq!(btc.min_notional, Some(5 * 10i128.pow(5)));
    let Some(coinm) = exchange_info("BINANCE_DELIVERY.0") else {
        return;
    };
    let perp = find(&coinm, "BTCUSD_PERP");
    assert_eq!(perp.market, Market::CoinM);
    assert_eq!(perp.price.parse(b"33000.1"), Ok(Ticks(330_001)));
    assert_eq!(perp.qty.decimals(), 0);
    assert_eq!(perp.min_notional, None);
}

#[test]
fn nautilus_market_data_fixtures_decode() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let dir = d.join("nautilus-binance-fixtures/crate_test_data/futures/market_data_json");
    let spec =
        SymbolSpec::from_tick_lot("BTCUSDT", Market::UsdM, "0.00000001", "0.00000001").unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let json = std::fs::read(&path).unwrap();
        let mut results = Vec::new();
        for p in [DecodePath::Auto, DecodePath::Sonic] {
            let mut t = SymbolTable::new();
            t.insert(spec.clone());
            let mut bnb = spec.clone();
            bnb.name = "BNBUSDT".try_into().unwrap();
            t.insert(bnb);

            let mut dec = Decoder::new(t, DEFAULT_MAX_LEVELS);
            dec.set_path(p);
            let mut evs = Vec::new();
            let r = dec.decode(&json, 0, &mut |ev| evs.push(*ev));
            results.push((r, evs));
        }
        assert_eq!(results[0], results[1], "{name}: paths disagree");
        let (r, evs) = &results[0];
        let kind = evs.first().map(|e| match e.body {
            EventBody::Depth(_) => "depth",
            EventBody::Trade(_) => "trade",
            EventBody::AggTrade(_) => "agg",
            EventBody::BookTicker(_) => "bt",
            EventBody::Kline(_) => "kline",
            EventBody::MarkPrice(_) => "mark",
        });
        let want = match name.as_str() {
            "agg_trade_stream.json" => Some("agg"),
            "book_ticker_stream.json" => Some("bt"),
            "depth_update_stream.json" => Some("depth"),
            "kline_stream_closed.json" | "kline_stream_open.json" => Some("kline"),
            "mark_price_stream.json" => Some("mark"),
            "trade_stream.json" => Some("trade"),
            _ => None,
        };
        match want {
            Some(k) => assert_eq!((r, kind), (&Ok(Decoded::Events(1)), Some(k)), "{name}"),
            None => assert_eq!(r, &Ok(Decoded::Skipped(SkipReason::UnknownType)), "{name}"),
        }
        match evs.first().map(|e| e.body) {
            Some(EventBody::Kline(k)) => assert_eq!(k.closed, name.contains("closed"), "{name}"),
            Some(EventBody::MarkPrice(m)) => {
                assert_eq!(m.mark.to_string(), "11794.15");
                assert_eq!(m.funding_rate.to_string(), "0.00038167");
            }
            _ => {}
        }
        seen += 1;
    }
    assert!(seen >= 9, "{seen} fixtures");
}

/// KuCoin's symbol list as the kucoin-sample capture holds it (`/api/v1/symbols`,
/// 634 spot symbols): every symbol's grids read, the six recorded symbols among them
/// with the ticks their level-2 prices are written in.
#[test]
fn kucoin_symbol_list() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let text = std::fs::read_to_string(d.join("kucoin-sample/KUCOIN.0")).unwrap();
    let json = text.lines().next().unwrap().split_once(": ").unwrap().1;
    let s = minerva::venues::kucoin::symbols::parse_symbols(json.as_bytes()).unwrap();
    assert_eq!(s.specs.len() + s.rejected.len(), 634, "{:?}", s.rejected);
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    for (name, tick) in [
        ("BCHSV-USDT", "0.001"),
        ("ANKR-BTC", "0.0000000001"),
        ("FET-BTC", "0.00000001"),
        ("DAPPT-BTC", "0.0000000001"),
        ("CAPP-BTC", "0.0000000001"),
        ("EQZ-BTC", "0.00000001"),
    ] {
        let spec = find(&s.specs, name);
        assert_eq!(spec.price.format(spec.price.step()), tick, "{name}");
        assert_eq!(spec.market, Market::Spot);
    }
    let halted = s
        .specs
        .iter()
        .filter(|x| x.status == SymbolStatus::Halted)
        .count();
    assert_eq!(halted, 1, "one symbol has enableTrading false");
}
