//! Seeded fuzzing of the request parser: random bytes, mutated valid commands and RESP3 reply
//! frames, liar lengths and deep nesting, fed in random chunks as a server reads them. No
//! panic; the outcome does not depend on the split; what parses re-encodes to itself; and no
//! parse call allocates more than a bounded read-ahead beyond what has arrived.
//!
//! `NINESDB_FUZZ_INPUTS=N` runs N inputs per test instead of the default (long runs);
//! `NINESDB_FUZZ_SEED=S` starts the generators elsewhere. A failure prints its input's seed.

mod fuzz_checks;

use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use fuzz_checks::{
    base_seed, check_reencode, check_split_invariance, feed, generate, input_count, random_command,
    random_cuts, write_command, Outcome, Rng,
};
use resp::{Limits, Parser, ProtocolError, READ_AHEAD_MAX};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The allocator's counters are process-wide: tests that measure run alone.
static MEASURING: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Per input, a seed of its own: the failing one is printed and reproduces alone.
fn seeds(test: u64, default_count: u64) -> impl Iterator<Item = u64> {
    let base = base_seed(0x5EED_0000_0000_0000) ^ test.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let count = input_count(default_count);
    println!("{count} inputs from base seed {base:#x}");
    (0..count).map(move |i| base.wrapping_add(i))
}

/// Runs `check` on one seed; a panic names the seed before it unwinds.
fn with_seed(seed: u64, check: impl FnOnce(&mut Rng)) {
    struct Reporter(u64);
    impl Drop for Reporter {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("failing input seed: {:#x}", self.0);
            }
        }
    }
    let reporter = Reporter(seed);
    check(&mut Rng(seed));
    std::mem::forget(reporter);
}

// Goal: no input panics the parser, its outcome does not depend on how the bytes arrive, and
// whatever it parsed re-encodes to the same commands. Method: 50k generated inputs (random
// bytes, mutated multibulk/inline/RESP3-array commands, RESP3 reply trees, nesting), parsed
// whole, in random chunks and byte by byte, then re-encoded and parsed again.
#[test]
fn outcome_is_independent_of_the_split() {
    let _alone = alone();
    let (mut errors, mut commands) = (0u64, 0u64);
    for seed in seeds(1, 50_000) {
        with_seed(seed, |rng| {
            let input = generate(rng);
            let cuts = random_cuts(rng, input.len());
            let outcome = check_split_invariance(&input, &cuts);
            let recuts = random_cuts(rng, input.len());
            check_reencode(&outcome.commands, &recuts);
            errors += u64::from(outcome.error.is_some());
            commands += outcome.commands.len() as u64;
        });
    }
    // The generator must reach both sides, or the property checks little.
    println!("{commands} commands parsed, {errors} inputs ended in a protocol error");
    assert!(errors > 0 && commands > 0);
}

// Goal: valid commands round-trip through the encoders and the parser. Method: pipelines of
// random binary commands, each written as multibulk, as a RESP2/RESP3 array of bulks or as an
// escaped inline line, fed in random chunks: the parser returns exactly them.
#[test]
fn valid_commands_round_trip() {
    let _alone = alone();
    for seed in seeds(2, 10_000) {
        with_seed(seed, |rng| {
            let mut wire = Vec::new();
            let mut sent = Vec::new();
            for _ in 0..1 + rng.below(8) {
                let command = random_command(rng);
                write_command(rng, &command, &mut wire);
                sent.push(command);
            }
            let cuts = random_cuts(rng, wire.len());
            let got = feed(&wire, Limits::default(), &cuts, &mut |p, b| p.parse(b));
            let expected = Outcome {
                commands: sent,
                error: None,
                in_command: false,
                leftover: 0,
            };
            assert_eq!(got, expected);
        });
    }
}

/// What one parse call may allocate: the argument vector's bounded preallocation, a copy of
/// what has arrived (inline arguments, the command's pieces), and one read-ahead reservation
/// that at most doubles the buffer. Never anything proportional to a declared length.
fn allocation_bound(capacity_before: usize, len_before: usize) -> usize {
    2 * capacity_before + READ_AHEAD_MAX + 16 * len_before + 64 * 1024
}

/// A parse call that asserts the bound on what it allocates and on the buffer it leaves.
fn measured_call(
    max_seen: &mut usize,
) -> impl FnMut(&mut Parser, &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> + '_ {
    move |parser: &mut Parser, buffer: &mut BytesMut| {
        let (capacity, len) = (buffer.capacity(), buffer.len());
        let region = Region::new(GLOBAL);
        let result = parser.parse(buffer);
        let allocated = region.change().bytes_allocated;
        let bound = allocation_bound(capacity, len);
        assert!(
            allocated <= bound,
            "a parse call allocated {allocated} bytes: buffer {len}/{capacity}, bound {bound}"
        );
        // What stays reserved after the call: what arrived plus one read-ahead, doubled at
        // worst by the buffer's growth policy.
        let kept = buffer.capacity();
        assert!(
            kept <= 2 * (len + READ_AHEAD_MAX) + 4096,
            "buffer capacity {kept} after a call on {len} bytes"
        );
        *max_seen = (*max_seen).max(allocated);
        result
    }
}

// Goal: memory stays bounded whatever the input claims. Method: 50k generated inputs, half
// with tiny limits and half with Redis's, parsed in random chunks through a counting
// allocator; every call's allocation stays under `allocation_bound`.
#[test]
fn every_parse_call_allocates_a_bounded_amount() {
    let _alone = alone();
    let small = Limits {
        bulk_len_max: 64,
        multibulk_len_max: 16,
        query_buffer_max: 4096,
        inline_len_max: 32,
    };
    let mut max_seen = 0;
    for (i, seed) in seeds(3, 50_000).enumerate() {
        with_seed(seed, |rng| {
            let input = generate(rng);
            let cuts = random_cuts(rng, input.len());
            let limits = if i % 2 == 0 { small } else { Limits::default() };
            feed(&input, limits, &cuts, &mut measured_call(&mut max_seen));
        });
    }
    println!("largest allocation by one parse call: {max_seen} bytes");
}

// Goal: a header that declares a huge length costs a bounded read-ahead, not the declared
// size, while the bytes trickle in; a count beyond the limits costs nothing. Method: each
// liar header followed by 300 chunks of 1 KiB, every call measured; the total allocated over
// the whole stream stays far below the declared sizes.
#[test]
fn declared_lengths_are_not_allocated_ahead() {
    let _alone = alone();
    let liars: &[&[u8]] = &[
        b"*1\r\n$536870912\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$9999999999\r\n",
        b"*2\r\n$1\r\na\r\n$536870912\r\n",
        b"*1048576\r\n",
        b"*2147483648\r\n",
        b"*1048576\r\n$536870912\r\n",
    ];
    let mut max_seen = 0;
    for liar in liars {
        let mut input = liar.to_vec();
        input.extend(std::iter::repeat_n(b'x', 300 * 1024));
        let cuts: Vec<usize> = (0..300).map(|i| liar.len() + i * 1024).collect();
        let region = Region::new(GLOBAL);
        let outcome = feed(
            &input,
            Limits::default(),
            &cuts,
            &mut measured_call(&mut max_seen),
        );
        let total = region.change().bytes_allocated;
        assert!(outcome.commands.is_empty());
        // The stream itself is 300 KiB; a read-ahead is 1 MiB; the claims are 512 MiB+.
        assert!(
            total < 4 * READ_AHEAD_MAX + 4 * input.len(),
            "{:?}: {total} bytes allocated",
            String::from_utf8_lossy(liar)
        );
    }
}
