use super::*;

/// Binance's published spot example key pair (docs/binance-protocol.md §9).
const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const TS: i64 = 1_499_827_319_559;

fn desk(orders_per_10s: Option<u32>) -> Desk {
    let spec = SymbolSpec::from_tick_lot("BTCUSDT", Market::Spot, "0.01", "0.00001").unwrap();
    let keys = ApiKeys::new(KEY.into(), SECRET.to_vec());
    let mut d = Desk::new(
        Market::Spot,
        std::slice::from_ref(&spec),
        &keys,
        &TradingConfig {
            orders_per_10s,
            ..TradingConfig::default()
        },
        b"",
    );
    let snap = crate::venues::binance::snapshot::parse_snapshot(
        br#"{"lastUpdateId":10,"bids":[["100.00","5"]],"asks":[["100.02","5"]]}"#,
        &spec,
    )
    .unwrap();
    d.on_snapshot(0, &snap);
    d
}

fn post(key: Option<&str>, query: &str, body: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/api/v3/order".into(),
        query: query.into(),
        body: body.into(),
        headers: key
            .map(|k| vec![(API_KEY_HEADER.to_string(), k.to_string())])
            .unwrap_or_default(),
        ..Request::default()
    }
}

fn code(a: &Answer) -> (u16, i64) {
    (a.0, ErrorBody::read(&a.2).map_or(0, |e| e.code))
}

#[test]
fn signed_requests_are_checked_as_binance_checks_them() {
    let mut d = desk(None);
    // The published request and signature: accepted as signed, then refused for
    // its symbol (this venue lists BTCUSDT only).
    let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let published = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    let body = format!("{payload}&signature={published}");
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &body), Rest::Order, TS)),
        (400, -1121)
    );
    // Upper-case hex is the same signature.
    let upper = format!("{payload}&signature={}", published.to_ascii_uppercase());
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &upper), Rest::Order, TS)),
        (400, -1121)
    );
    // Query string and body signed as their concatenation.
    let (q, b) = payload.split_at(payload.find("quantity").unwrap());
    let q = q.trim_end_matches('&');
    let sig =
        Signer::new(&ApiKeys::new(KEY.into(), SECRET.to_vec())).sign(format!("{q}{b}").as_bytes());
    let mixed = format!("{b}&signature={}", std::str::from_utf8(&sig).unwrap());
    assert_eq!(
        code(&d.handle(&post(Some(KEY), q, &mixed), Rest::Order, TS)),
        (400, -1121)
    );
    // Tampered, missing signature, wrong key, no key, stale, early.
    let tampered = body.replace("price=0.1", "price=0.2");
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &tampered), Rest::Order, TS)),
        (400, -1022)
    );
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", payload), Rest::Order, TS)),
        (400, -1102)
    );
    assert_eq!(
        code(&d.handle(&post(Some("other"), "", &body), Rest::Order, TS)),
        (401, -2015)
    );
    assert_eq!(
        code(&d.handle(&post(None, "", &body), Rest::Order, TS)),
        (401, -2014)
    );
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &body), Rest::Order, TS + 5_001)),
        (400, -1021)
    );
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &body), Rest::Order, TS - 1_001)),
        (400, -1021)
    );
    assert_eq!(
        code(&d.handle(&post(Some(KEY), "", &body), Rest::Order, TS + 5_000)),
        (400, -1121)
    );
}

fn order(d: &mut Desk, cid: &str, price: &str) -> Answer {
    let signer = Signer::new(&ApiKeys::new(KEY.into(), SECRET.to_vec()));
    let p = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price={price}&newClientOrderId={cid}&timestamp={TS}"
    );
    let sig = signer.sign(p.as_bytes());
    let body = format!("{p}&signature={}", std::str::from_utf8(&sig).unwrap());
    d.handle(&post(Some(KEY), "", &body), Rest::Order, TS)
}

#[test]
fn orders_rest_fill_and_answer_with_binance_shapes_and_limits() {
    let mut d = desk(None);
    let a = order(&mut d, "a1", "99.00");
    assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));
    let text = String::from_utf8_lossy(&a.2).into_owned();
    assert!(
        text.contains("\"status\":\"NEW\"") && text.contains("\"clientOrderId\":\"a1\""),
        "{text}"
    );
    assert!(
        a.1.iter()
            .any(|(k, v)| *k == ORDER_COUNT_HEADER && v == "1")
    );
    // The same id while it is open: a duplicate.
    assert_eq!(code(&order(&mut d, "a1", "99.00")), (400, -2010));
    // Crossing: fills at the ask, as taker, with a NEW then a TRADE event.
    let b = order(&mut d, "b1", "100.02");
    let text = String::from_utf8_lossy(&b.2).into_owned();
    assert!(
        text.contains("\"status\":\"FILLED\"") && text.contains("\"fills\":[{\"price\":\"100.02\""),
        "{text}"
    );
    let events = d.take_events();
    assert!(
        events.iter().any(|e| e.contains("\"c\":\"b1\"")
            && e.contains("\"x\":\"TRADE\"")
            && e.contains("\"m\":false")),
        "{events:?}"
    );
    // Off the tick grid: Binance's filter refusal.
    assert_eq!(code(&order(&mut d, "c1", "99.001")), (400, -1013));
    assert_eq!(d.accounts()[0].position, Lots(10_000));
    // Over the order count: 429 -1015 with Retry-After (the window is wall-clock
    // 10 s; within a handful of orders the limit of 2 is crossed).
    let mut d = desk(Some(2));
    let refused = (0..6)
        .map(|i| order(&mut d, &format!("o{i}"), "99.00"))
        .find(|a| a.0 == 429);
    let r = refused.expect("a 429 within 6 orders at 2 per 10 s");
    assert_eq!(code(&r), (429, -1015));
    assert!(r.1.iter().any(|(k, _)| *k == "Retry-After"));
}

#[test]
fn amounts_and_assets() {
    assert_eq!(fixed(150_000_000, 8), "1.50000000");
    assert_eq!(fixed(0, 3), "0.000");
    assert_eq!(fixed(12, 0), "12");
    assert_eq!(split_assets("BTCUSDT", b""), ("BTC".into(), "USDT".into()));
    assert_eq!(
        split_assets(
            "XYZ",
            br#"{"symbols":[{"symbol":"XYZ","baseAsset":"X","quoteAsset":"YZ"}]}"#
        ),
        ("X".into(), "YZ".into())
    );
}

#[test]
fn answers_and_events_stay_json_whatever_the_client_id() {
    let mut d = desk(None);
    // Not a legal id: refused (Binance: -1100), never echoed into broken JSON.
    let a = order(&mut d, "a%22b", "99.00");
    assert_eq!(a.0, 400, "{}", String::from_utf8_lossy(&a.2));
    assert!(ErrorBody::read(&a.2).is_some());
    let a = order(&mut d, "ok-1", "99.00");
    assert!(sonic_rs::from_slice::<crate::venues::binance::orders::SpotOrder>(&a.2).is_ok());
    for e in d.take_events() {
        assert!(
            crate::venues::binance::user::read(e.as_bytes()).is_ok(),
            "{e}"
        );
    }
}
