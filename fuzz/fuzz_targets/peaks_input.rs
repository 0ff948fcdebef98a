#![no_main]
//! See `minerva_fuzz::peaks_input` (fuzz/src/lib.rs) for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minerva_fuzz::peaks_input(data));
