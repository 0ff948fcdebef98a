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

/// A JSON object with keys in the order given (numbers are written as given).
fn object(fields: &[(&str, J)]) -> String {
    let mut o = String::from("{");
    for (k, (name, v)) in fields.iter().enumerate() {
        if k > 0 {
            o.push(',');
        }
        o.push_str(&sonic_rs::to_string(name).unwrap_or_default());
        o.push(':');
        match v {
            J::S(s) => o.push_str(&sonic_rs::to_string(s).unwrap_or_default()),
            J::N(n) => o.push_str(n),
        }
    }
    o.push('}');
    o
}

/// A JSON value: a string, or a number already written.
enum J {
    S(String),
    N(String),
}

fn n(v: impl std::fmt::Display) -> J {
    J::N(v.to_string())
}

/// One JSON object per record, one per line.
pub fn json_lines(run: &SignalRun, spec: &SymbolSpec) -> String {
    let px = |t: Ticks| J::S(spec.price.format(t));
    let m = |e8: i64| J::S(money(e8));
    let s = |v: &str| J::S(v.to_string());
    let mut o = String::new();
    for r in &run.records {
        let line = match r {
            SignalRecord::Operation { time_ms, op } => {
                let i = &op.intent;
                object(&[
                    ("type", s("operation")),
                    ("id", n(op.id)),
                    ("time", J::S(utc(*time_ms))),
                    ("time_ms", n(time_ms)),
                    ("side", s(side(i.side))),
                    ("entry", px(i.entry)),
                    ("take_profit", px(i.take_profit)),
                    ("stop_loss", px(i.stop_loss)),
                    ("size", J::S(spec.qty.format(op.qty))),
                    ("size_lots", n(op.qty.0)),
                    ("notional", m(op.notional_e8)),
                    ("margin", m(op.margin_e8)),
                    ("leverage", n(op.leverage)),
                    ("pnl_at_take_profit", m(op.pnl_at_tp_e8)),
                    ("pnl_at_stop_loss", m(op.pnl_at_sl_e8)),
                    ("support_wall", px(i.support_wall)),
                    ("target_wall", px(i.target_wall)),
                    ("void", px(i.void_price)),
                    ("void_width_bins", n(i.void_width_bins)),
                    ("pressure", n(i.pressure_ppm as f64 / 1e6)),
                ])
            }
            SignalRecord::Refused {
                time_ms,
                intent,
                reason,
            } => object(&[
                ("type", s("refused")),
                ("time", J::S(utc(*time_ms))),
                ("time_ms", n(time_ms)),
                ("side", s(side(intent.side))),
                ("entry", px(intent.entry)),
                ("take_profit", px(intent.take_profit)),
                ("stop_loss", px(intent.stop_loss)),
                ("reason", J::S(reason.to_string())),
            ]),
            SignalRecord::Filled { time_ms, id } => object(&[
                ("type", s("filled")),
                ("id", n(id)),
                ("time", J::S(utc(*time_ms))),
                ("time_ms", n(time_ms)),
            ]),
            SignalRecord::Closed {
                time_ms,
                id,
                exit,
                take_profit,
                pnl_e8,
            } => object(&[
                ("type", s("closed")),
                ("id", n(id)),
                ("time", J::S(utc(*time_ms))),
                ("time_ms", n(time_ms)),
                ("exit", px(*exit)),
                (
                    "at",
                    s(if *take_profit {
                        "take_profit"
                    } else {
                        "stop_loss"
                    }),
                ),
                ("pnl", m(*pnl_e8)),
            ]),
            SignalRecord::Withdrawn { time_ms, id } => object(&[
                ("type", s("withdrawn")),
                ("id", n(id)),
                ("time", J::S(utc(*time_ms))),
                ("time_ms", n(time_ms)),
            ]),
        };
        o.push_str(&line);
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
