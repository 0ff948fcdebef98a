#![no_main]
//! See `minerva_fuzz::strategy_toml` (fuzz/src/lib.rs) for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minerva_fuzz::strategy_toml(data));
