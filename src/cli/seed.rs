//! The seed's command line, as its notes write it, run as today's `minerva run`:
//!
//! ```text
//! python3 minerva.py --plot_data 0 --capital 10000 --limit_orderbook 500 --relative_THRESHOLD 10 \
//!     --short_pressure 0.75 --long_pressure 0.25 --max_concurrent_trades 5 --peak_distance_divisor 10 \
//!     --stop_loss_price_buffer 0.2 --precentage_per_trade 0.18 --market BTCUSDT
//! python3 minerva.py -plt False -cap 5000 -lo 500 -rt 10 -sp 0.75 -lp 0.25 -maxt 5 -pkd 10 -pf 1 --market BTCUSDT
//! ```
//!
//! `minerva` followed by those flags is `minerva run --source binance --strategy
//! strategy_0.toml` with the flags mapped to the strategy's keys (`--plot_data 1` is
//! `--view`): the seed's live oracle on Binance's market data, paper trading unless
//! asked otherwise. Today's flags may follow (`--source`, `--endpoint`, `--live`, …);
//! given, they replace the defaults. A note on stderr says what runs.

use std::ffi::OsString;

/// A seed flag: its long and short spellings and today's flag (`None`: `--plot_data`).
const FLAGS: &[(&[&str], Option<&str>)] = &[
    (&["--plot_data", "-plt"], None),
    (&["--capital", "-cap"], Some("--capital")),
    (&["--limit_orderbook", "-lo"], Some("--limit-orderbook")),
    (
        &["--relative_THRESHOLD", "-rt"],
        Some("--relative-threshold"),
    ),
    (&["--short_pressure", "-sp"], Some("--short-pressure")),
    (&["--long_pressure", "-lp"], Some("--long-pressure")),
    (
        &["--max_concurrent_trades", "-maxt"],
        Some("--max-concurrent-trades"),
    ),
    (
        &["--peak_distance_divisor", "-pkd"],
        Some("--peak-distance-divisor"),
    ),
    (
        &["--stop_loss_price_buffer"],
        Some("--stop-loss-price-buffer"),
    ),
    // The seed spells it `precentage`; `-pf` is its short form (the share of capital
    // per trade: the only seed parameter the short example would otherwise lack).
    (
        &["--precentage_per_trade", "--percentage_per_trade", "-pf"],
        Some("--percentage-per-trade"),
    ),
];

fn seed_flag(arg: &str) -> Option<Option<&'static str>> {
    let name = arg.split_once('=').map_or(arg, |(n, _)| n);
    FLAGS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|&(_, today)| today)
}

/// Why the seed's line cannot be mapped.
#[derive(Debug, PartialEq, Eq)]
pub struct SeedError(pub String);

/// `argv` mapped to today's `minerva run` when it is the seed's command line (its
/// first argument a seed flag); `None` for anything else, which clap reads as usual.
///
/// # Errors
/// A seed flag without a value, or `--plot_data` not 0/1/true/false.
pub fn translate(argv: &[OsString]) -> Option<Result<Vec<OsString>, SeedError>> {
    let first = argv.get(1)?.to_str()?;
    seed_flag(first)?;
    Some(map(argv))
}

fn map(argv: &[OsString]) -> Result<Vec<OsString>, SeedError> {
    let mut mapped: Vec<OsString> = Vec::new();
    let mut rest = argv[1..].iter();
    let mut view = false;
    while let Some(a) = rest.next() {
        let Some(s) = a.to_str() else {
            mapped.push(a.clone());
            continue;
        };
        let Some(today) = seed_flag(s) else {
            // Today's flags (and `--market`) pass through as written.
            mapped.push(a.clone());
            continue;
        };
        let value = match s.split_once('=') {
            Some((_, v)) => v.to_string(),
            None => rest
                .next()
                .and_then(|v| v.to_str())
                .map(str::to_string)
                .ok_or_else(|| SeedError(format!("{s}: expected a value")))?,
        };
        match today {
            Some(flag) => {
                mapped.push(flag.into());
                mapped.push(value.into());
            }
            None => {
                view = match value.to_ascii_lowercase().as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(SeedError(format!(
                            "{s} {value}: expected 0, 1, True or False"
                        )));
                    }
                }
            }
        }
    }
    let given = |flag: &str| {
        mapped.iter().any(|a| {
            a.to_str()
                .is_some_and(|s| s == flag || s.starts_with(&format!("{flag}=")))
        })
    };
    let mut out: Vec<OsString> = vec![argv[0].clone(), "run".into()];
    if !given("--source") {
        out.extend(["--source".into(), "binance".into()]);
    }
    if !given("--strategy") {
        out.extend(["--strategy".into(), "strategy_0.toml".into()]);
    }
    if view && !given("--view") {
        out.push("--view".into());
    }
    out.extend(mapped);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    fn text(v: &[OsString]) -> String {
        v.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_seeds_long_line_maps_to_run() {
        let got = translate(&args(
            "minerva --plot_data 0 --capital 10000 --limit_orderbook 500 --relative_THRESHOLD 10 --short_pressure 0.75 --long_pressure 0.25 --max_concurrent_trades 5 --peak_distance_divisor 10 --stop_loss_price_buffer 0.2 --precentage_per_trade 0.18 --market BTCUSDT",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            text(&got),
            "minerva run --source binance --strategy strategy_0.toml --capital 10000 --limit-orderbook 500 --relative-threshold 10 --short-pressure 0.75 --long-pressure 0.25 --max-concurrent-trades 5 --peak-distance-divisor 10 --stop-loss-price-buffer 0.2 --percentage-per-trade 0.18 --market BTCUSDT"
        );
    }

    #[test]
    fn the_seeds_short_line_maps_to_run() {
        let got = translate(&args(
            "minerva -plt True -cap 5000 -lo 500 -rt 10 -sp 0.75 -lp 0.25 -maxt 5 -pkd 10 -pf 1 --market BTCUSDT --endpoint local",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            text(&got),
            "minerva run --source binance --strategy strategy_0.toml --view --capital 5000 --limit-orderbook 500 --relative-threshold 10 --short-pressure 0.75 --long-pressure 0.25 --max-concurrent-trades 5 --peak-distance-divisor 10 --percentage-per-trade 1 --market BTCUSDT --endpoint local"
        );
    }

    #[test]
    fn todays_flags_replace_the_defaults_and_other_lines_pass() {
        let got = translate(&args(
            "minerva -cap=7000 --source replay:a.gz --strategy s.toml",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            text(&got),
            "minerva run --capital 7000 --source replay:a.gz --strategy s.toml"
        );
        assert!(translate(&args("minerva run --capital 1")).is_none());
        assert!(translate(&args("minerva --help")).is_none());
        assert!(translate(&args("minerva")).is_none());
        assert_eq!(
            translate(&args("minerva -cap")).unwrap(),
            Err(SeedError("-cap: expected a value".into()))
        );
        assert!(translate(&args("minerva -plt maybe")).unwrap().is_err());
    }
}
