//! Fuzz target: sequences of frames, replies, ICMP errors, config changes and time steps fed
//! to one `Director`, with its invariants checked after every step (`director_ops.rs`).
#![no_main]

#[path = "director_ops.rs"]
mod director_ops;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    director_ops::run(data);
});
