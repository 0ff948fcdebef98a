//! `minerva observe`: a live run's journal against the backtest of the market data
//! recorded during it — operation by operation, then the totals (docs/observe.md).

use super::args::WindowArgs;
use anyhow::{Context, Result, bail};
use minerva::observe::{Observation, OpView};
use minerva::store::{Target, open_recorded};
use std::path::PathBuf;

/// `minerva observe`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The journal `minerva run` wrote (`--journal`: a SQLite file or `postgres://…`).
    #[arg(long, default_value = "minerva-journal.db")]
    journal: PathBuf,
    /// The run to observe (`minerva db info JOURNAL` lists them; default the last).
    #[arg(long)]
    run: Option<i64>,
    /// The market data recorded during the run (default: the recording database the
    /// journal names, from `minerva run --record`); its sessions that overlap the run.
    #[arg(long)]
    data: Option<String>,
    /// A run of several symbols (`minerva run --symbols`): the symbol compared (its
    /// operations, decisions and orders, against its own backtest).
    #[arg(long)]
    symbol: Option<String>,
    #[command(flatten)]
    window: WindowArgs,
    /// Print the comparison as one JSON object.
    #[arg(long)]
    json: bool,
    /// While the run is still going: print a line per operation as it closes (the
    /// live side, from the journal), then, once the run has ended (or on Ctrl-C), the
    /// comparison.
    #[arg(long)]
    follow: bool,
}

/// The recording's sessions that overlap the run's time (its own, and any recorded
/// beside it at the same time).
fn run_files(target: &str, from_ns: i64, to_ns: i64) -> Result<Vec<PathBuf>> {
    let t = Target::parse(target);
    let sessions = open_recorded(&t)
        .with_context(|| format!("the run's recording {}", t.display()))?
        .sessions()?;
    let wanted: Vec<i64> = sessions
        .iter()
        .filter(|s| s.first_ns <= to_ns && s.last_ns >= from_ns)
        .map(|s| s.id)
        .collect();
    if wanted.is_empty() {
        bail!(
            "{}: no session overlaps the run ({} sessions; was it recorded with this run's --record?)",
            t.display(),
            sessions.len()
        );
    }
    let db = PathBuf::from(target);
    let all = minerva::store::expand(std::slice::from_ref(&db))?;
    Ok(all
        .into_iter()
        .filter(|p| minerva::store::session_path(p).is_some_and(|(_, id)| wanted.contains(&id)))
        .collect())
}

fn time(us: i64) -> String {
    minerva::core::utc((us.max(0) / 1000) as u64)
}

/// Markouts as `+1.23/-0.40/n/a` (bps after 1 s / 10 s / 60 s).
fn markout_text(m: &[Option<f64>; 3]) -> String {
    let one = |v: &Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:+.2}"));
    format!("{}/{}/{}", one(&m[0]), one(&m[1]), one(&m[2]))
}

fn op_line(label: &str, o: &OpView) -> String {
    let markout = if o.markout_bps.iter().any(Option::is_some) {
        format!("  markout 1s/10s/60s {} bps", markout_text(&o.markout_bps))
    } else {
        String::new()
    };
    format!(
        "  {label:<5} #{:<14} {:<5} entry {} @ {:.8}  exit {} @ {:.8} ({})  qty {}  PnL {:+.8}  fees {:.8}{markout}",
        o.id,
        o.side,
        time(o.entry_us),
        o.entry_price,
        time(o.exit_us),
        o.exit_price,
        o.exit,
        o.qty,
        o.pnl,
        o.fees
    )
}

fn text(o: &Observation, data: &str) -> String {
    let mut s = format!(
        "observe run {} {} · market data {data} ({} frames) · fitness {}\n",
        o.run, o.symbol, o.frames, o.objective
    );
    s.push_str(&format!(
        "operations: {} paired, {} live only, {} theoretical only\n",
        o.pairs.len(),
        o.real_only.len(),
        o.theoretical_only.len()
    ));
    for p in &o.pairs {
        s.push_str(&op_line("real", &p.real));
        s.push('\n');
        s.push_str(&op_line("theo", &p.theoretical));
        s.push('\n');
        s.push_str(&format!(
            "        entry slippage {:+.2} bps; PnL real − theoretical {:+.8}: fees {:+.8}, prices, size and funding {:+.8}\n",
            p.entry_slippage_bps, p.pnl_difference, p.fee_difference, p.price_difference
        ));
    }
    for x in &o.real_only {
        s.push_str(&op_line("real", &x.op));
        s.push_str(&format!("\n        live only: {}\n", x.why));
    }
    for x in &o.theoretical_only {
        s.push_str(&op_line("theo", &x.op));
        s.push_str(&format!("\n        theoretical only: {}\n", x.why));
    }
    let (r, t) = (&o.real, &o.theoretical);
    let pct = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1} %", v * 100.0));
    let ratio = |f: u64, n: u64| {
        if n == 0 {
            "n/a".into()
        } else {
            format!("{:.1} %", f as f64 / n as f64 * 100.0)
        }
    };
    s.push_str(&format!(
        "{:>28} {:>16} {:>16}\n",
        "", "real", "theoretical"
    ));
    let row = |name: &str, a: String, b: String| format!("{name:>28} {a:>16} {b:>16}\n");
    s.push_str(&row(
        "operations",
        r.operations.to_string(),
        t.operations.to_string(),
    ));
    s.push_str(&row(
        "net PnL",
        format!("{:.8}", r.net_pnl),
        format!("{:.8}", t.net_pnl),
    ));
    s.push_str(&row(
        "fees",
        format!("{:.8}", r.fees),
        format!("{:.8}", t.fees),
    ));
    s.push_str(&row("win rate", pct(r.win_rate), pct(t.win_rate)));
    s.push_str(&row(
        "entries sent / filled",
        format!("{} / {}", r.entries_sent, r.entries_filled),
        format!("{} / {}", t.entries_sent, t.entries_filled),
    ));
    s.push_str(&row(
        "fill ratio",
        ratio(r.entries_filled, r.entries_sent),
        ratio(t.entries_filled, t.entries_sent),
    ));
    s.push_str(&row(
        "fitness",
        format!("{:.4}", r.fitness),
        format!("{:.4}", t.fitness),
    ));
    s.push_str(&row(
        "markout 1/10/60 s, mean bps",
        markout_text(&r.markout_bps),
        markout_text(&t.markout_bps),
    ));
    s.push_str(&format!(
        "implementation shortfall {:+.8} (theoretical − real net PnL)\n",
        o.implementation_shortfall
    ));
    let spread = |x: &minerva::observe::Spread| {
        if x.count == 0 {
            return "n/a".to_string();
        }
        let ms = |v: i64| format!("{:.1}", v as f64 / 1000.0);
        format!(
            "{}/{}/{}/{} ({})",
            ms(x.p50_us),
            ms(x.p90_us),
            ms(x.p99_us),
            ms(x.max_us),
            x.count
        )
    };
    let (lr, lt) = (&o.latency.real, &o.latency.theoretical);
    let wide = |name: &str, a: String, b: String| format!("{name:>28} {a:>28} {b:>28}\n");
    s.push_str(&wide(
        "latency, ms p50/p90/p99/max",
        format!("real ({} clock)", lr.clock),
        format!("theoretical ({} clock)", lt.clock),
    ));
    s.push_str(&wide(
        "decision → entry ack",
        spread(&lr.decision_to_ack),
        spread(&lt.decision_to_ack),
    ));
    s.push_str(&wide(
        "decision → first fill",
        spread(&lr.decision_to_fill),
        spread(&lt.decision_to_fill),
    ));
    s
}

/// `--follow`: a line per operation as the run closes it, until the run ends (its
/// journal says so) or Ctrl-C.
fn follow(a: &Args) -> Result<()> {
    minerva::shutdown::install_handlers();
    let mut printed = 0;
    let mut spec = None;
    let mut announced = false;
    loop {
        let j = minerva::store::journal::load_run(&a.journal, a.run)?;
        let symbol = symbol_of(&j.run, a.symbol.as_deref())?;
        let j = if j.run.symbols.contains(',') {
            minerva::store::journal::load_run_of(&a.journal, Some(j.run.id), Some(&symbol))?
        } else {
            j
        };
        if !announced {
            announced = true;
            println!(
                "following journal run {} ({} {}) — a line per closed operation; the comparison once the run ends",
                j.run.id, j.run.venue, j.run.symbols
            );
        }
        if spec.is_none() && !j.exchange_info.is_empty() {
            spec = minerva::venues::binance::exchange_info::parse_exchange_info(
                j.exchange_info.as_bytes(),
                None,
            )
            .ok()
            .and_then(|i| i.specs.into_iter().find(|s| s.name.as_str() == symbol));
        }
        let Some(spec) = &spec else {
            bail!(
                "journal run {} holds no exchangeInfo: its operations cannot be read",
                j.run.id
            );
        };
        for op in j.operations.iter().skip(printed) {
            println!(
                "{}",
                op_line("live", &minerva::observe::journaled_view(op, spec))
            );
        }
        printed = printed.max(j.operations.len());
        if j.run.ended_ns > 0 || minerva::shutdown::requested() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The symbol of `run` compared: the one it traded, or `wanted` among the several
/// it traded (which must then be named).
fn symbol_of(run: &minerva::store::journal::RunRow, wanted: Option<&str>) -> Result<String> {
    let traded: Vec<&str> = run.symbols.split(',').filter(|s| !s.is_empty()).collect();
    match wanted {
        Some(w) => {
            let w = w.to_ascii_uppercase();
            if !traded.contains(&w.as_str()) {
                bail!("journal run {} traded {}, not {w}", run.id, run.symbols);
            }
            Ok(w)
        }
        None if traded.len() > 1 => bail!(
            "journal run {} traded several symbols ({}): name the one to compare with --symbol",
            run.id,
            run.symbols
        ),
        None => Ok(traded.first().map_or_else(String::new, |s| s.to_string())),
    }
}

/// A clear refusal for a journal file that is not there (SQLite would say it cannot
/// open it).
fn journal_exists(journal: &std::path::Path) -> Result<()> {
    let file = matches!(
        minerva::store::Target::of_path(journal),
        minerva::store::Target::Sqlite(_)
    );
    if file && !journal.exists() {
        bail!(
            "{}: no journal (minerva run --journal FILE writes one; live runs write minerva-journal.db)",
            journal.display()
        );
    }
    Ok(())
}

/// A journal run and what its theoretical twin needs: the strategy it traded, the
/// grids it traded on, and the market data recorded during it.
pub struct JournalRun {
    /// The run's journal.
    pub j: minerva::store::journal::RunJournal,
    /// Its strategy (the file with the run's overrides).
    pub strategy: minerva::strategy::Strategy,
    /// The symbol's grids.
    pub spec: minerva::core::SymbolSpec,
    /// The recorded frames of the sessions that overlap the run.
    pub frames: super::backtest::RecordedFrames,
    /// Where they were read from.
    pub data: String,
}

/// Loads run `run` (the last when `None`) of `journal` with the recording it names
/// (or `data`).
pub fn journal_run(
    journal: &std::path::Path,
    run: Option<i64>,
    data: Option<String>,
    symbol: Option<&str>,
) -> Result<JournalRun> {
    journal_exists(journal)?;
    let j = minerva::store::journal::load_run(journal, run)?;
    // A run of several symbols is compared one symbol at a time.
    let symbol = symbol_of(&j.run, symbol)?;
    let several = j.run.symbols.contains(',');
    let j = if several {
        minerva::store::journal::load_run_of(journal, Some(j.run.id), Some(&symbol))?
    } else {
        j
    };
    let data = match data.or_else(|| j.run.recording.clone()) {
        Some(d) => d,
        None => bail!(
            "journal run {} was made without --record: observe needs the market data recorded during the run (minerva run --record market.db), or --data",
            j.run.id
        ),
    };
    if j.strategy_text.is_empty() {
        bail!("journal run {} holds no strategy", j.run.id);
    }
    let mut strategy = minerva::strategy::Strategy::parse(&j.strategy_text, &[])
        .with_context(|| format!("the strategy of journal run {}", j.run.id))?;
    if several {
        strategy.market = symbol;
    }
    let to_ns = if j.run.ended_ns > 0 {
        j.run.ended_ns
    } else {
        i64::MAX
    };
    let files = run_files(&data, j.run.started_ns - 60_000_000_000, to_ns)?;
    // The grids the run traded on (the recording may carry none of its own).
    let info = (!j.exchange_info.is_empty())
        .then(|| -> Result<PathBuf> {
            let p = std::env::temp_dir().join(format!(
                "minerva-observe-{}-{}.json",
                std::process::id(),
                j.run.id
            ));
            // A write cut short (a full disk) leaves no part of the file behind.
            if let Err(e) = std::fs::write(&p, &j.exchange_info) {
                let _ = std::fs::remove_file(&p);
                return Err(e.into());
            }
            Ok(p)
        })
        .transpose()?;
    let opts = minerva::replay::ReplayOptions {
        symbol: Some(strategy.market.clone()),
        exchange_info: info.clone(),
        ..Default::default()
    };
    // The sessions of the symbol compared (a run of several records one each).
    let picked = minerva::replay::files_of_symbol(&files, &opts, &strategy.market)
        .and_then(|f| Ok((minerva::replay::symbol_table(&f, &opts)?, f)));
    if let Some(p) = &info {
        let _ = std::fs::remove_file(p);
    }
    let (table, files) = picked?;
    let spec = table.specs()[0].clone();
    let frames = minerva::store::files::recorded_frames_of(&files, &spec.name)?;
    Ok(JournalRun {
        j,
        strategy,
        spec,
        frames,
        data,
    })
}

/// Runs `minerva observe`.
pub fn run(a: Args) -> Result<()> {
    journal_exists(&a.journal)?;
    if a.follow {
        follow(&a)?;
    }
    let JournalRun {
        j,
        strategy,
        spec,
        frames,
        data,
    } = journal_run(&a.journal, a.run, a.data.clone(), a.symbol.as_deref())?;
    // The same signer as minerva backtest's: observe's theoretical side is its run.
    let signer = super::backtest::backtest_signer();
    let cfg = a.window.config();
    let (o, _) = minerva::observe::observe(&j, &frames, &spec, &strategy, signer, &cfg)?;
    if a.json {
        println!("{}", sonic_rs::to_string(&o)?);
    } else {
        print!("{}", text(&o, &data));
    }
    Ok(())
}
