//! Fuzz target: `lvs_fuzz::check_vrrp` over arbitrary bytes (see the crate doc).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lvs_fuzz::check_vrrp(data));
