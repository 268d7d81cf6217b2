// Goal: what the case files cannot show against a live Redis: the size limit, lazy expiry,
// WATCH versions (no-op writes are not changes, PFCOUNT's cache store is one) and in-place
// edits of big bitmaps. Method: drive a keyspace directly with chosen times.

mod common;

use common::{args, ctx, show};
use keyspace::Keyspace;

fn run(ks: &mut Keyspace, line: &str, now: u64) -> String {
    show(&ks.apply(&args(line), ctx(now)))
}

#[test]
fn growth_past_the_string_limit_is_refused() {
    let mut ks = Keyspace::new();
    // The last field reaches 8 bytes past 512 MiB: Redis would allocate it, ninesdb refuses.
    assert_eq!(
        run(&mut ks, "BITFIELD k SET i64 4294967295 1", 0),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(run(&mut ks, "EXISTS k", 0), ":0");
    assert_eq!(
        run(&mut ks, "SETBIT k 4294967296 1", 0),
        "-ERR bit offset is not an integer or out of range"
    );
    // Reads far away allocate nothing.
    assert_eq!(run(&mut ks, "GETBIT k 4294967295", 0), ":0");
    assert_eq!(run(&mut ks, "BITFIELD_RO k GET i64 4294967295", 0), "[:0]");
    assert_eq!(run(&mut ks, "EXISTS k", 0), ":0");
}

#[test]
fn expired_keys_read_as_missing_and_are_replaced() {
    let mut ks = Keyspace::new();
    run(&mut ks, "SET b \"\\xff\" PX 100", 1000);
    run(&mut ks, "PFADD h a b c", 1000);
    run(&mut ks, "PEXPIRE h 100", 1000);
    assert_eq!(run(&mut ks, "BITCOUNT b", 1099), ":8");
    assert_eq!(run(&mut ks, "PFCOUNT h", 1099), ":3");
    assert_eq!(run(&mut ks, "BITCOUNT b", 1100), ":0");
    assert_eq!(run(&mut ks, "BITPOS b 0", 1100), ":0");
    assert_eq!(run(&mut ks, "PFCOUNT h", 1100), ":0");
    assert_eq!(run(&mut ks, "BITOP OR d b h", 1100), ":0");
    assert_eq!(run(&mut ks, "SETBIT b 1 1", 1100), ":0");
    assert_eq!(run(&mut ks, "GET b", 1100), "\"@\"");
    assert_eq!(run(&mut ks, "PTTL b", 1100), ":-1");
    assert_eq!(run(&mut ks, "PFADD h x", 1100), ":1");
    assert_eq!(run(&mut ks, "PFCOUNT h", 1100), ":1");
    assert_eq!(run(&mut ks, "PTTL h", 1100), ":-1");
}

#[test]
fn only_real_changes_bump_the_watch_version() {
    let mut ks = Keyspace::new();
    run(&mut ks, "SETBIT k 3 1", 0);
    let v = ks.version(b"k");
    run(&mut ks, "SETBIT k 3 1", 0);
    run(
        &mut ks,
        "BITFIELD k SET u4 0 1 OVERFLOW FAIL INCRBY u4 0 100",
        0,
    );
    assert_eq!(ks.version(b"k"), v, "rewriting the same bits is no change");
    run(&mut ks, "SETBIT k 3 0", 0);
    assert_ne!(ks.version(b"k"), v);
    let v = ks.version(b"k");
    run(&mut ks, "BITFIELD k SET u8 8 0", 0);
    assert_ne!(ks.version(b"k"), v, "growing the string is a change");

    run(&mut ks, "PFADD h a b c", 0);
    let v = ks.version(b"h");
    assert_eq!(run(&mut ks, "PFADD h a", 0), ":0");
    assert_eq!(ks.version(b"h"), v);
    assert_eq!(run(&mut ks, "PFCOUNT h", 0), ":3");
    assert_ne!(
        ks.version(b"h"),
        v,
        "storing the cardinality changes the value"
    );
    let v = ks.version(b"h");
    assert_eq!(run(&mut ks, "PFCOUNT h", 0), ":3");
    assert_eq!(run(&mut ks, "PFCOUNT h h", 0), ":3");
    assert_eq!(ks.version(b"h"), v, "a cached cardinality is only read");
}

#[test]
fn big_bitmaps_are_edited_in_place() {
    // 16 MB, then 20000 single-bit writes: copying the value per write would move 320 GB.
    let mut ks = Keyspace::new();
    run(&mut ks, "SETBIT big 134217727 1", 0);
    for i in 0..20_000u64 {
        let offset = (i * 6_700_417) % 134_217_728;
        ks.apply(&args(&format!("SETBIT big {offset} 1")), ctx(0));
    }
    assert_eq!(run(&mut ks, "STRLEN big", 0), ":16777216");
    assert_eq!(run(&mut ks, "BITCOUNT big", 0), ":20001");
}
