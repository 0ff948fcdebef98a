use super::*;

pub(crate) const SAMPLE: &str = include_str!("../../strategy_0.toml");

#[test]
fn reads_the_shipped_strategy() {
    let s = Strategy::parse(SAMPLE, &[]).unwrap();
    assert_eq!(s.market, "BTCUSDT");
    assert_eq!(s.capital, Dec8(10_000 * 100_000_000));
    assert_eq!(
        (s.short_pressure_ppm, s.long_pressure_ppm),
        (750_000, 250_000)
    );
    assert_eq!(s.per_trade_ppm, 30_000);
    assert_eq!(s.stop_loss_buffer_ppm, 2_000);
    assert_eq!((s.maker_fee_e8, s.taker_fee_e8), (20_000, 50_000));
    assert_eq!(s.relative_threshold_milli, 10_000);
}

#[test]
fn overrides_win_and_are_checked() {
    let s = Strategy::parse(SAMPLE, &[("short_pressure", "0.8".into())]).unwrap();
    assert_eq!(s.short_pressure_ppm, 800_000);
    let e = Strategy::parse(SAMPLE, &[("short_pressure", "1.5".into())]).unwrap_err();
    assert!(
        matches!(
            e,
            StrategyError::Invalid {
                key: "short_pressure",
                ..
            }
        ),
        "{e}"
    );
    let e = Strategy::parse(SAMPLE, &[("shortpressure", "0.8".into())]).unwrap_err();
    assert_eq!(e, StrategyError::Unknown("shortpressure".into()));
}

#[test]
fn errors_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        // (line to remove, line to add, expected message part)
        ("capital = 10000", "", "missing key `capital`"),
        ("", "colour = \"blue\"", "unknown key `colour`"),
        (
            "max_concurrent_trades = 5",
            "max_concurrent_trades = 0",
            "`max_concurrent_trades` = 0",
        ),
        (
            "long_pressure = 0.25",
            "long_pressure = \"a lot\"",
            "`long_pressure` = a lot: not a number",
        ),
        ("market = \"BTCUSDT\"", "market = \"BTC USDT\"", "`market`"),
    ];
    for (remove, add, want) in cases {
        let mut text = SAMPLE.to_string();
        if !remove.is_empty() {
            assert!(text.contains(remove), "{remove}");
            text = text.replace(remove, "");
        }
        text = text.replace("[strategy]\n", &format!("[strategy]\n{add}\n"));
        let e = Strategy::parse(&text, &[]).unwrap_err().to_string();
        assert!(e.contains(want), "{e} does not mention {want}");
    }
    assert!(
        Strategy::parse("version = 2\n[strategy]\n", &[])
            .unwrap_err()
            .to_string()
            .contains("version")
    );
    assert!(matches!(
        Strategy::parse("not = [toml", &[]),
        Err(StrategyError::Toml(_))
    ));
    // fuzz/regressions/strategy_toml/toml-edit-dotted-key-after-bad-line.toml: toml_edit
    // 0.23 panicked ("all items have spans") on a dotted key after a line it could not
    // read; 0.25 answers an error.
    for text in ["==\n.=", "==\n.a=1"] {
        assert!(
            matches!(Strategy::parse(text, &[]), Err(StrategyError::Toml(_))),
            "{text:?}"
        );
    }
}

#[test]
fn results_are_written_without_touching_the_rest() {
    let dir = tempfile::Builder::new()
        .prefix("minerva-strategy-")
        .tempdir()
        .unwrap();
    let p = dir.path().join("s.toml");
    std::fs::write(&p, SAMPLE).unwrap();
    write_results(&p, &[("fitness", 12.5), ("net_pnl", 30.25)]).unwrap();
    write_results(&p, &[("fitness", 13.0)]).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with(SAMPLE.trim_end()),
        "the original text is kept byte for byte"
    );
    assert!(
        text.contains("fitness = 13.0") && text.contains("net_pnl = 30.25"),
        "{text}"
    );
    assert_eq!(
        Strategy::parse(&text, &[]).unwrap(),
        Strategy::parse(SAMPLE, &[]).unwrap()
    );
}

#[test]
fn values_read_back_in_file_units() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/strategy_0.toml")).unwrap();
    let s = Strategy::parse(&text, &[]).unwrap();
    // Every numeric key, written back as its value, gives the same strategy.
    let pairs: Vec<(&str, String)> = Strategy::keys()
        .filter(|k| *k != "market")
        .map(|k| (k, s.value(k).unwrap().to_string()))
        .collect();
    assert_eq!(Strategy::parse(&text, &pairs).unwrap(), s);
    assert_eq!(s.value("stop_loss_price_buffer"), Some(0.2));
    assert_eq!(s.value("short_pressure"), Some(0.75));
    assert_eq!(s.value("market"), None);
}

#[test]
fn with_values_keeps_comments_and_sets_numbers() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/strategy_0.toml")).unwrap();
    let out = with_values(
        &text,
        &[
            ("short_pressure", "0.61".into()),
            ("bins", "120".into()),
            ("similar_entry_ticks", "3".into()),
        ],
    )
    .unwrap();
    assert!(out.contains("short_pressure = 0.61           # ask share >= this: SHORT side"));
    assert!(out.contains("bins = 120"));
    assert!(out.contains("similar_entry_ticks = 3"));
    let s = Strategy::parse(&out, &[]).unwrap();
    assert_eq!(
        (s.short_pressure_ppm, s.bins, s.similar_entry_ticks),
        (610_000, 120, 3)
    );
    // Results of the old values do not survive new values.
    let old = format!("{text}\n[results]\nfitness = 1.5\n");
    assert!(
        !with_values(&old, &[("bins", "120".into())])
            .unwrap()
            .contains("fitness")
    );
    assert_eq!(
        with_values(&text, &[("nope", "1".into())]),
        Err(StrategyError::Unknown("nope".into()))
    );
}

#[test]
fn with_values_writes_what_reads_back() {
    // fuzz/regressions/strategy_toml/capital-beyond-f64.toml: the capital was written as a
    // TOML float, 92233720368.54776, which no longer reads (past i64 in 10⁻⁸ units);
    // a symbol that reads as a float came back as another symbol.
    let values = [
        ("capital", "92233720368.54775807".to_string()),
        ("market", "1E5".to_string()),
        ("bins", "0120".to_string()),
        ("short_pressure", "0.61".to_string()),
    ];
    let out = with_values(SAMPLE, &values).unwrap();
    assert!(out.contains("short_pressure = 0.61 "), "{out}");
    let s = Strategy::parse(&out, &[]).unwrap();
    assert_eq!(s.capital, Dec8(i64::MAX));
    assert_eq!((s.market.as_str(), s.bins), ("1E5", 120));
    assert_eq!(s, Strategy::parse(SAMPLE, &values).unwrap());
}

#[test]
fn live_results_go_in_their_own_table_and_keep_the_file() {
    let dir = tempfile::Builder::new()
        .prefix("minerva-live-results-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("s.toml");
    let original =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/strategy_0.toml")).unwrap();
    std::fs::write(&path, &original).unwrap();
    write_results(&path, &[("fitness", 1.5)]).unwrap();
    write_live_results(
        &path,
        &[("fitness", -0.25), ("trades", 3.0)],
        &[("updated", "now".into())],
    )
    .unwrap();
    write_live_results(
        &path,
        &[("fitness", -0.5), ("trades", 4.0)],
        &[("updated", "later".into())],
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: DocumentMut = text.parse().unwrap();
    assert_eq!(
        doc["results"]["fitness"].as_float(),
        Some(1.5),
        "the backtest's stays"
    );
    assert_eq!(doc["results"]["live"]["fitness"].as_float(), Some(-0.5));
    assert_eq!(doc["results"]["live"]["trades"].as_float(), Some(4.0));
    assert_eq!(doc["results"]["live"]["updated"].as_str(), Some("later"));
    // Comments kept, and the file still reads as the same strategy.
    assert!(text.contains("# account capital"));
    assert_eq!(
        Strategy::parse(&text, &[]).unwrap(),
        Strategy::parse(&original, &[]).unwrap()
    );
}
