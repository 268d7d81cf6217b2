//! The request parser under libFuzzer, with the seeded test's properties
//! (crates/resp/tests/fuzz_checks): the input's first byte says how many of the following
//! bytes are chunk lengths (the arrival pattern); the rest is what a client sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use resp::Limits;

#[path = "../../crates/resp/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let (cut_bytes, input) = rest.split_at(usize::from(count).min(rest.len()));
    if input.len() >= fuzz_checks::GENERATED_LEN_MAX {
        return; // beyond the inline limit the outcome may depend on the split, as in Redis
    }
    let cuts = fuzz_checks::cuts_from(cut_bytes, input.len());
    let outcome = fuzz_checks::check_split_invariance(input, &cuts);
    fuzz_checks::check_reencode(&outcome.commands, &cuts);
    // Tiny limits: every limit error path, no panic.
    let small = Limits {
        bulk_len_max: 64,
        multibulk_len_max: 16,
        query_buffer_max: 4096,
        inline_len_max: 32,
    };
    fuzz_checks::feed(input, small, &cuts, &mut fuzz_checks::parse_call());
});
