// Goal: snapshots round-trip exactly and corruption is always detected without panicking.
// Method: encode a keyspace holding every type and TTLs, decode and compare state and digest; flip
// every single bit, truncate at every length, and feed garbage, expecting errors.

mod common;

use common::{ctx, run, show};
use keyspace::Keyspace;

fn sample() -> Keyspace {
    let mut ks = Keyspace::default();
    for line in [
        "SET s hello EX 100",
        "SET n 42",
        "HSET h a 1 b 2",
        "RPUSH l x y z",
        "SADD set m n o",
        "SET \"bin\\x00\\xff\" \"\\x00\\x01\"",
        "DEL n",
        "INCR c",
    ] {
        run(&mut ks, line, ctx(1000));
    }
    ks
}

#[test]
fn round_trip_preserves_state_and_digest() {
    let ks = sample();
    let enc = ks.encode();
    let back = Keyspace::decode(&enc).expect("decodes");
    assert_eq!(back, ks);
    assert_eq!(back.digest(), ks.digest());
    assert_eq!(back.encode(), enc);
    assert_eq!(back.version(b"h"), ks.version(b"h"));
    assert_eq!(back.version(b"missing"), ks.version(b"missing"));
    let mut back = back;
    assert_eq!(show(&run(&mut back, "TTL s", ctx(1000))), ":100");
    assert_eq!(back.expire_due(200_000, 10), 1);
    let empty = Keyspace::default();
    assert_eq!(Keyspace::decode(&empty.encode()).unwrap(), empty);
}

#[test]
fn digest_sees_every_difference() {
    let a = sample();
    let mut b = sample();
    assert_eq!(a.digest(), b.digest());
    run(&mut b, "PERSIST s", ctx(1000));
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn decode_rejects_every_single_bit_flip_and_truncation() {
    let enc = sample().encode().to_vec();
    for i in 0..enc.len() * 8 {
        let mut bad = enc.clone();
        bad[i / 8] ^= 1 << (i % 8);
        assert!(Keyspace::decode(&bad).is_err(), "bit {i} flip accepted");
    }
    for n in 0..enc.len() {
        assert!(
            Keyspace::decode(&enc[..n]).is_err(),
            "truncation to {n} accepted"
        );
    }
}

#[test]
fn decode_survives_garbage_with_a_valid_checksum() {
    // Bodies that pass the CRC but are structurally wrong must be errors, never panics.
    let mut seed = 1u64;
    for len in 0..300usize {
        let mut body: Vec<u8> = b"NKSS\x01".to_vec();
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            body.push((seed >> 56) as u8);
        }
        let crc = crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        let _ = Keyspace::decode(&body);
    }
    // A huge declared count must not allocate.
    let mut body: Vec<u8> = b"NKSS\x01\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f".to_vec();
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    assert!(Keyspace::decode(&body).is_err());
}
