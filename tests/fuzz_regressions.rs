//! Replays every input saved in `fuzz/regressions/<target>/` through the same code the
//! fuzz target runs, so `cargo test` catches a reintroduced crash without cargo-fuzz or
//! nightly. The target bodies live in `fuzz/src/lib.rs` and are compiled in here
//! unchanged; see `fuzz/README.md` for how inputs get into those folders.
//!
//! A missing or empty folder passes. Files whose names start with `.` (`.gitkeep`) are
//! skipped. Every file is tried, and the failure lists each input that panicked.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let mut failed = Vec::new();
    let files = inputs(target);
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} regression input(s) panicked (messages above):\n  {}",
        failed.len(),
        files.len(),
        failed.join("\n  ")
    );
}

#[test]
fn decode() {
    replay("decode", harness::decode);
}

#[test]
fn decode_differential() {
    replay("decode_differential", harness::decode_differential);
}

#[test]
fn decimal() {
    replay("decimal", harness::decimal);
}

#[test]
fn snapshot() {
    replay("snapshot", harness::snapshot);
}

#[test]
fn exchange_info() {
    replay("exchange_info", harness::exchange_info);
}

#[test]
fn replay_line() {
    replay("replay_line", harness::replay_line);
}

#[test]
fn paper_request() {
    replay("paper_request", harness::paper_request);
}

#[test]
fn ws_frames() {
    replay("ws_frames", harness::ws_frames);
}

#[test]
fn user_events() {
    replay("user_events", harness::user_events);
}

#[test]
fn recorded_lines() {
    replay("recorded_lines", harness::recorded_lines);
}

#[test]
fn evolve_inputs() {
    replay("evolve_inputs", harness::evolve_inputs);
}

#[test]
fn venue_request() {
    replay("venue_request", harness::venue_request);
}

#[test]
fn ws_control() {
    replay("ws_control", harness::ws_control);
}

#[test]
fn strategy_toml() {
    replay("strategy_toml", harness::strategy_toml);
}

#[test]
fn rest_answer() {
    replay("rest_answer", harness::rest_answer);
}

#[test]
fn order_answer() {
    replay("order_answer", harness::order_answer);
}

#[test]
fn user_event() {
    replay("user_event", harness::user_event);
}

#[test]
fn peaks_input() {
    replay("peaks_input", harness::peaks_input);
}

#[test]
fn kucoin_differential() {
    replay("kucoin_differential", harness::kucoin_differential);
}

#[test]
fn kucoin_rest() {
    replay("kucoin_rest", harness::kucoin_rest);
}

#[test]
fn tape_file() {
    replay("tape_file", harness::tape_file);
}

#[test]
fn tardis_csv() {
    replay("tardis_csv", harness::tardis_csv);
}

#[test]
fn archive_files() {
    replay("archive_files", harness::archive_files);
}
