//! Text and JSON-lines output of `minerva signal` (cold path).

use super::signal_run::{NO_SIGNAL_NAMES, SignalRecord, SignalRun};
use crate::core::{Dec8, SymbolSpec, Ticks, utc};
use crate::signal::oracle::Side;
use std::fmt::Write;

fn side(s: Side) -> &'static str {
    match s {
        Side::Long => "LONG",
        Side::Short => "SHORT",
    }
}

fn money(e8: i64) -> String {
    Dec8(e8).to_string()
}

/// One line of `minerva signal --json`, tagged by `type`.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Operation {
        id: u64,
        time: String,
        time_ms: u64,
        side: &'static str,
        entry: String,
        take_profit: String,
        stop_loss: String,
        size: String,
        size_lots: i64,
        notional: String,
        margin: String,
        leverage: u32,
        pnl_at_take_profit: String,
        pnl_at_stop_loss: String,
        support_wall: String,
        target_wall: String,
        void: String,
        void_width_bins: u32,
        pressure: f64,
    },
    Refused {
        time: String,
        time_ms: u64,
        side: &'static str,
        entry: String,
        take_profit: String,
        stop_loss: String,
        reason: String,
    },
    Filled {
        id: u64,
        time: String,
        time_ms: u64,
    },
    Closed {
        id: u64,
        time: String,
        time_ms: u64,
        exit: String,
        at: &'static str,
        pnl: String,
    },
    Withdrawn {
        id: u64,
        time: String,
        time_ms: u64,
    },
}

/// One JSON object per record, one per line.
pub fn json_lines(run: &SignalRun, spec: &SymbolSpec) -> String {
    let px = |t: Ticks| spec.price.format(t);
    let mut o = String::new();
    for r in &run.records {
        let line = match r {
            SignalRecord::Operation { time_ms, op } => {
                let i = &op.intent;
                Line::Operation {
                    id: op.id,
                    time: utc(*time_ms),
                    time_ms: *time_ms,
                    side: side(i.side),
                    entry: px(i.entry),
                    take_profit: px(i.take_profit),
                    stop_loss: px(i.stop_loss),
                    size: spec.qty.format(op.qty),
                    size_lots: op.qty.0,
                    notional: money(op.notional_e8),
                    margin: money(op.margin_e8),
                    leverage: op.leverage,
                    pnl_at_take_profit: money(op.pnl_at_tp_e8),
                    pnl_at_stop_loss: money(op.pnl_at_sl_e8),
                    support_wall: px(i.support_wall),
                    target_wall: px(i.target_wall),
                    void: px(i.void_price),
                    void_width_bins: i.void_width_bins,
                    pressure: i.pressure_ppm as f64 / 1e6,
                }
            }
            SignalRecord::Refused {
                time_ms,
                intent,
                reason,
            } => Line::Refused {
                time: utc(*time_ms),
                time_ms: *time_ms,
                side: side(intent.side),
                entry: px(intent.entry),
                take_profit: px(intent.take_profit),
                stop_loss: px(intent.stop_loss),
                reason: reason.to_string(),
            },
            SignalRecord::Filled { time_ms, id } => Line::Filled {
                id: *id,
                time: utc(*time_ms),
                time_ms: *time_ms,
            },
            SignalRecord::Closed {
                time_ms,
                id,
                exit,
                take_profit,
                pnl_e8,
            } => Line::Closed {
                id: *id,
                time: utc(*time_ms),
                time_ms: *time_ms,
                exit: px(*exit),
                at: if *take_profit {
                    "take_profit"
                } else {
                    "stop_loss"
                },
                pnl: money(*pnl_e8),
            },
            SignalRecord::Withdrawn { time_ms, id } => Line::Withdrawn {
                id: *id,
                time: utc(*time_ms),
                time_ms: *time_ms,
            },
        };
        o.push_str(&sonic_rs::to_string(&line).unwrap_or_default());
        o.push('\n');
    }
    o
}

/// A readable listing and summary.
pub fn text(run: &SignalRun, spec: &SymbolSpec) -> String {
    let px = |t: Ticks| spec.price.format(t);
    let mut o = String::new();
    for r in &run.records {
        let _ = match r {
            SignalRecord::Operation { time_ms, op } => {
                let i = &op.intent;
                writeln!(
                    o,
                    "{} #{} {:<5} entry {} tp {} sl {} size {} ({} lots) margin {} x{} | pnl at tp {} at sl {} | support wall {} target wall {} void {} ({} bins) pressure {:.3}",
                    utc(*time_ms),
                    op.id,
                    side(i.side),
                    px(i.entry),
                    px(i.take_profit),
                    px(i.stop_loss),
                    spec.qty.format(op.qty),
                    op.qty.0,
                    money(op.margin_e8),
                    op.leverage,
                    money(op.pnl_at_tp_e8),
                    money(op.pnl_at_sl_e8),
                    px(i.support_wall),
                    px(i.target_wall),
                    px(i.void_price),
                    i.void_width_bins,
                    i.pressure_ppm as f64 / 1e6
                )
            }
            SignalRecord::Refused {
                time_ms,
                intent,
                reason,
            } => writeln!(
                o,
                "{} refused {:<5} entry {} tp {} sl {}: {reason}",
                utc(*time_ms),
                side(intent.side),
                px(intent.entry),
                px(intent.take_profit),
                px(intent.stop_loss)
            ),
            SignalRecord::Filled { time_ms, id } => {
                writeln!(o, "{} #{id} entry filled", utc(*time_ms))
            }
            SignalRecord::Closed {
                time_ms,
                id,
                exit,
                take_profit,
                pnl_e8,
            } => writeln!(
                o,
                "{} #{id} closed at {} {} pnl {}",
                utc(*time_ms),
                if *take_profit {
                    "take profit"
                } else {
                    "stop loss"
                },
                px(*exit),
                money(*pnl_e8)
            ),
            SignalRecord::Withdrawn { time_ms, id } => writeln!(
                o,
                "{} #{id} entry withdrawn (not filled in time)",
                utc(*time_ms)
            ),
        };
    }
    let c = run.counts;
    let st = run.risk_stats();
    let _ = writeln!(
        o,
        "\n{} evaluations, {} proposals: {} accepted, {} refused ({} repeats not listed); {} closed, realised {} net of {} fees",
        c.evaluations,
        c.proposals,
        st.accepted,
        st.refused,
        c.repeated_refusals,
        st.closed,
        money(st.realised_e8),
        money(st.fees_e8)
    );
    let reasons: Vec<String> = NO_SIGNAL_NAMES
        .iter()
        .zip(c.no_signal)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let _ = writeln!(
        o,
        "no signal: {}",
        if reasons.is_empty() {
            "-".to_string()
        } else {
            reasons.join(", ")
        }
    );
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(1_723_161_261_311), "2024-08-08T23:54:21.311Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
