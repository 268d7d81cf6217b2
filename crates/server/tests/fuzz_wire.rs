//! Seeded fuzzing of the peer frame decoder (`server::wire::decode`): real frames of every
//! kind (Hello, Raft messages with entries and snapshot chunks, reports, forwards...), the
//! same frames mutated and re-sealed with a correct checksum (so the damage reaches the
//! payload decoder), raw damage and random bytes, fed in random chunks. No panic; the outcome
//! does not depend on the split; every decoded frame is canonical; valid frames round-trip;
//! and no decode call allocates more than a small multiple of the bytes it was given.
//!
//! `NINESDB_FUZZ_INPUTS=N` runs N inputs per test instead of the default (long runs);
//! `NINESDB_FUZZ_SEED=S` starts the generators elsewhere. A failure prints its input's seed.

mod fuzz_checks;

use std::sync::{Mutex, MutexGuard};

use bytes::BytesMut;
use fuzz_checks::{
    base_seed, check_stream, feed, generate, input_count, random_cuts, random_frame, seal, Outcome,
    Rng, LIARS,
};
use server::wire::{decode, encode, Frame};
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

// Goal: every frame a server can send survives the wire, however the stream is cut.
// Method: 50k pipelines of 1-5 random frames of every kind, encoded, decoded in random chunks.
#[test]
fn valid_frames_round_trip() {
    let _alone = alone();
    for seed in seeds(1, 50_000) {
        with_seed(seed, |rng| {
            let frames: Vec<Frame> = (0..1 + rng.below(5)).map(|_| random_frame(rng)).collect();
            let mut wire = BytesMut::new();
            for frame in &frames {
                encode(frame, &mut wire);
            }
            let cuts = random_cuts(rng, wire.len());
            let outcome = check_stream(&wire, &cuts);
            let expected = Outcome {
                frames,
                error: None,
                leftover: 0,
            };
            assert_eq!(outcome, expected);
        });
    }
}

// Goal: no byte stream panics the decoder; its outcome does not depend on the split; what it
// accepts is canonical and within the limits. Method: 200k generated streams (mutated and
// re-sealed frames, raw damage, random bytes), decoded whole and in random chunks.
#[test]
fn damaged_streams_never_panic_and_decode_the_same_however_split() {
    let _alone = alone();
    let (mut errors, mut frames) = (0u64, 0u64);
    for seed in seeds(2, 200_000) {
        with_seed(seed, |rng| {
            let input = generate(rng);
            let cuts = random_cuts(rng, input.len());
            let outcome = check_stream(&input, &cuts);
            errors += u64::from(outcome.error.is_some());
            frames += outcome.frames.len() as u64;
        });
    }
    println!("{frames} frames decoded, {errors} streams ended in an error");
    assert!(errors > 0 && frames > 0);
}

/// What one decode call may allocate: the payload's pieces as owned values. Entries and id
/// sets cost more in memory than on the wire (a 17-byte entry header becomes an `Entry`, an
/// 8-byte id a B-tree node), but by a constant factor of the bytes present, never by a
/// declared count or length.
fn allocation_bound(len_before: usize) -> usize {
    32 * len_before + 4096
}

// Goal: memory stays bounded whatever a frame claims. Method: 200k generated streams decoded
// in random chunks through a counting allocator: every call allocates under `allocation_bound`
// of the buffer it was given.
#[test]
fn every_decode_call_allocates_a_bounded_amount() {
    let _alone = alone();
    let mut worst: f64 = 0.0;
    for seed in seeds(3, 200_000) {
        with_seed(seed, |rng| {
            let input = generate(rng);
            let cuts = random_cuts(rng, input.len());
            let mut call = |buffer: &mut BytesMut| {
                let len = buffer.len();
                let region = Region::new(GLOBAL);
                let result = decode(buffer);
                let allocated = region.change().bytes_allocated;
                assert!(
                    allocated <= allocation_bound(len),
                    "a decode call allocated {allocated} bytes from {len}"
                );
                worst = worst.max(allocated as f64 / (len as f64 + 1.0));
                result
            };
            feed(&input, &cuts, &mut call);
        });
    }
    println!("worst allocation per byte given: {worst:.2}");
}

// Goal: a count or length field that lies costs nothing. Method: each lying u64 (up to
// u64::MAX) written over every offset of 300 real frames' payloads,
// re-sealed; each decode call allocates under `allocation_bound`.
#[test]
fn lying_fields_are_not_allocated() {
    let _alone = alone();
    let mut rng = Rng(base_seed(0x11E5));
    let mut checked = 0u64;
    for _ in 0..input_count(300) {
        let frame = random_frame(&mut rng);
        let mut clean = BytesMut::new();
        encode(&frame, &mut clean);
        let payload = clean[8..].to_vec();
        for at in 0..payload.len() {
            for liar in LIARS {
                let mut lying = payload.clone();
                let end = (at + 8).min(lying.len());
                lying.splice(at..end, liar.to_le_bytes());
                let mut wire = Vec::new();
                seal(&lying, &mut wire);
                let mut buffer = BytesMut::from(&wire[..]);
                let region = Region::new(GLOBAL);
                let _ = decode(&mut buffer);
                let allocated = region.change().bytes_allocated;
                assert!(
                    allocated <= allocation_bound(wire.len()),
                    "{frame:?} with {liar} at {at}: {allocated} bytes allocated"
                );
                checked += 1;
            }
        }
    }
    println!("{checked} lying frames decoded");
}

// Goal: a header that declares a frame beyond the limit is refused before its bytes arrive,
// and one within it waits without reserving anything. Method: headers alone.
#[test]
fn declared_frame_lengths_are_not_allocated_ahead() {
    let _alone = alone();
    for (length, refused) in [(u32::MAX, true), ((64 << 20) + 1, true), (64 << 20, false)] {
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(&length.to_le_bytes());
        buffer.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3]);
        let region = Region::new(GLOBAL);
        let result = decode(&mut buffer);
        assert!(region.change().bytes_allocated < 4096);
        assert_eq!(result.is_err(), refused, "length {length}: {result:?}");
        assert_eq!(buffer.len(), 11);
    }
}
