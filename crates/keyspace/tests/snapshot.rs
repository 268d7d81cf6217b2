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
        "ZADD zs 1 a 2.5 b -inf c inf d 0 e 1 aa",
        "ZADD zttl 3 x",
        "EXPIRE zttl 100",
        "SET \"bin\\x00\\xff\" \"\\x00\\x01\"",
        "DEL n",
        "INCR c",
        "XADD st 1-1 f v a b",
        "XADD st 2-0 f w",
        "XADD st 3-0 f x",
        "XDEL st 2-0",
        "XGROUP CREATE st g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS st >",
        "XGROUP CREATECONSUMER st g bob",
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
    assert_eq!(
        show(&run(&mut back, "ZRANGE zs 0 -1 WITHSCORES", ctx(1000))),
        r#"["c", "-inf", "e", "0", "a", "1", "aa", "1", "b", "2.5", "d", "inf"]"#
    );
    assert_eq!(show(&run(&mut back, "TYPE zttl", ctx(1000))), "+zset");
    assert_eq!(
        show(&run(&mut back, "XPENDING st g - + 10", ctx(1500))),
        r#"[["1-1", "alice", :500, :1]]"#
    );
    assert_eq!(
        show(&run(&mut back, "XADD st * f y", ctx(1500))),
        r#""1500-0""#
    );
    assert_eq!(back.expire_due(200_000, 10), 2);
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
    // A stream's group state is part of the digest, not only its entries.
    let mut c = sample();
    run(&mut c, "XACK st g 1-1", ctx(1000));
    assert_ne!(a.digest(), c.digest());
    let mut d = sample();
    run(&mut d, "XGROUP SETID st g 3-0", ctx(1000));
    assert_ne!(a.digest(), d.digest());
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

/// A one-key snapshot body: a sorted set `z` (tag 4) with the given (member, score bits).
fn zset_snapshot(items: &[(&[u8], u64)]) -> Vec<u8> {
    let mut body: Vec<u8> = b"NKSS\x01\x02\x00\x01".to_vec(); // clock 2, last delete 0, 1 key
    body.extend_from_slice(b"\x01z\x04\x01"); // key "z", tag 4 (sorted set), version 1
    body.push(items.len() as u8);
    for (m, bits) in items {
        body.push(m.len() as u8);
        body.extend_from_slice(m);
        body.extend_from_slice(&bits.to_le_bytes());
    }
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

// Goal: a sorted set in a snapshot is checked like the other types: the canonical order,
// no NaN or -0 score, no repeated member; and the widened type tag refuses unknown types.
#[test]
fn decode_checks_sorted_sets() {
    let one = 1f64.to_bits();
    let two = 2f64.to_bits();
    let mut ks = Keyspace::decode(&zset_snapshot(&[(b"a", one), (b"b", one), (b"a2", two)]))
        .expect("a well-formed sorted set decodes");
    assert_eq!(show(&run(&mut ks, "ZRANK z a2", ctx(1))), ":2");
    for (bad, why) in [
        (
            zset_snapshot(&[(b"b", one), (b"a", one)]),
            "members out of order",
        ),
        (
            zset_snapshot(&[(b"a", two), (b"b", one)]),
            "scores out of order",
        ),
        (
            zset_snapshot(&[(b"a", one), (b"a", one)]),
            "repeated member",
        ),
        (
            zset_snapshot(&[(b"a", one), (b"a", two)]),
            "member with two scores",
        ),
        (zset_snapshot(&[(b"a", f64::NAN.to_bits())]), "NaN score"),
        (zset_snapshot(&[]), "empty sorted set"),
    ] {
        assert!(Keyspace::decode(&bad).is_err(), "{why} accepted");
    }
    // A -0 score is kept (a skiplist set in Redis keeps it) and survives a round trip.
    let kept =
        Keyspace::decode(&zset_snapshot(&[(b"a", (-0.0f64).to_bits())])).expect("-0 decodes");
    let again = Keyspace::decode(&kept.encode()).expect("round trip");
    assert_eq!(again.digest(), kept.digest());
    let score = again.read(
        &[
            bytes::Bytes::from_static(b"ZSCORE"),
            bytes::Bytes::from_static(b"z"),
            bytes::Bytes::from_static(b"a"),
        ],
        keyspace::Context { now_ms: 1, seed: 1 },
    );
    assert!(
        format!("{score:?}").contains("-0"),
        "ZSCORE after a round trip: {score:?}"
    );
    // Tags 5..7 are no type; bits 3 and 4 are never set; 0x20 (INCRBYFLOAT text) is for strings only.
    for tag in [5u8, 6, 7, 0x08, 0x10, 0x24] {
        let mut body = zset_snapshot(&[(b"a", one)]);
        body.truncate(body.len() - 4);
        body[10] = tag;
        let crc = crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert!(Keyspace::decode(&body).is_err(), "tag {tag:#x} accepted");
    }
}
