#![no_main]
//! See `minerva_fuzz::kucoin_order_changes` (fuzz/src/lib.rs) for what this target
//! checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minerva_fuzz::kucoin_order_changes(data));
