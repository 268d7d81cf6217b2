//! The peer frame decoder under libFuzzer, with the seeded test's properties
//! (crates/server/tests/fuzz_checks). Input: a mode byte, a count byte, that many chunk
//! lengths, then the bytes. Mode even: the bytes are the stream as is (the checksum stops
//! most of it). Mode odd: the bytes are a payload the harness seals with a correct length and
//! checksum, so the fuzzer explores the payload decoder behind it.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/server/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| {
    let [mode, count, rest @ ..] = data else {
        return;
    };
    let (cut_bytes, bytes) = rest.split_at(usize::from(*count).min(rest.len()));
    let mut stream = Vec::new();
    if mode % 2 == 1 {
        fuzz_checks::seal(bytes, &mut stream);
    } else {
        stream.extend_from_slice(bytes);
    }
    let cuts = fuzz_checks::cuts_from(cut_bytes, stream.len());
    fuzz_checks::check_stream(&stream, &cuts);
});
