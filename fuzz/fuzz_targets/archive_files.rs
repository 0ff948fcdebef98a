#![no_main]
//! See `minerva_fuzz::archive_files` (fuzz/src/lib.rs) for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minerva_fuzz::archive_files(data));
