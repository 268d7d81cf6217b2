//! RDB files: reading one redis-server 7.0.15 saved, writing one and reading it back, and
//! refusing damaged files without panicking.

mod common;

use bytes::Bytes;
use common::{ctx, run, show};
use keyspace::rdb::{type_name, RdbReader, RdbWriter, Record};
use keyspace::Keyspace;
use resp::Value;

/// Saved by redis-server 7.0.15 (SAVE) after: SET str hello, SET int 12345, SET big (300 a's,
/// LZF-compressed), SET ttl v PX 86400000000, RPUSH lst a b 1 2, SADD iset 1 2 3 (intset),
/// SADD sset a b c, HSET h f v g 1, ZADD z 1.5 a 2 b (listpacks), then with the listpack and
/// intset limits at 1: ZADD zbig 1 a 2 b 3 c (skiplist), HSET hbig a 1 b 2 (hash table),
/// SADD sbig 1 2 3 (hash table); XADD st 1-1 a 1, a group g where c1 read it, and a
/// function library `lib`.
const FROM_REDIS: &[u8] = include_bytes!("data/redis-7.0.15.rdb");

fn records(file: &[u8]) -> Vec<Record> {
    RdbReader::new(file)
        .expect("a readable header and checksum")
        .collect::<Result<Vec<_>, _>>()
        .expect("readable records")
}

fn restore_all(records: &[Record]) -> Keyspace {
    let mut ks = Keyspace::default();
    for r in records {
        let ttl = r.expire_ms.unwrap_or(0).to_string();
        let mut args = vec![
            Bytes::from_static(b"RESTORE"),
            r.key.clone(),
            Bytes::from(ttl),
            r.payload.clone(),
        ];
        if r.expire_ms.is_some() {
            args.push(Bytes::from_static(b"ABSTTL"));
        }
        assert_eq!(show(&ks.apply(&args, ctx(1_000))), "+OK", "{:?}", r.key);
    }
    ks
}

// Goal: every key, type and expiry of a Redis-written file arrives. Method: read the fixture,
// check the keys and their types, RESTORE every payload and read each value back.
#[test]
fn reads_a_file_redis_saved() {
    let mut reader = RdbReader::new(FROM_REDIS).expect("header and checksum");
    assert_eq!(reader.version(), 10);
    let all: Vec<Record> = reader.by_ref().map(|r| r.expect("a record")).collect();
    assert!(reader
        .aux
        .iter()
        .any(|(k, v)| k == "redis-ver" && v == "7.0.15"));
    assert_eq!(reader.functions.len(), 1);
    let mut keys: Vec<String> = all
        .iter()
        .map(|r| format!("{}:{}", String::from_utf8_lossy(&r.key), type_name(r.kind)))
        .collect();
    keys.sort();
    assert_eq!(
        keys.join(" "),
        "big:string h:hash hbig:hash int:string iset:set lst:list sbig:set sset:set st:stream str:string ttl:string z:zset zbig:zset"
    );
    let ttl = all
        .iter()
        .find(|r| r.key == "ttl")
        .and_then(|r| r.expire_ms);
    assert!(ttl.is_some_and(|t| t > 1_700_000_000_000), "{ttl:?}");
    let mut ks = restore_all(&all);
    let now = ctx(1_000);
    for (read, want) in [
        ("GET str", r#""hello""#),
        ("GET int", r#""12345""#),
        ("STRLEN big", ":300"),
        ("LRANGE lst 0 -1", r#"["a", "b", "1", "2"]"#),
        ("SMEMBERS iset", r#"~["1", "2", "3"]"#),
        ("HGETALL h", r#"{"f": "v", "g": "1"}"#),
        (
            "ZRANGE zbig 0 -1 WITHSCORES",
            r#"["a", "1", "b", "2", "c", "3"]"#,
        ),
        ("ZSCORE z a", r#""1.5""#),
        ("SCARD sbig", ":3"),
        ("XRANGE st - +", r#"[["1-1", ["a", "1"]]]"#),
        ("XPENDING st g", r#"[:1, "1-1", "1-1", [["c1", "1"]]]"#),
    ] {
        assert_eq!(show(&run(&mut ks, read, now)), want, "{read}");
    }
}

// Goal: a written file reads back to the same keys, payloads and expiries. Method: DUMP
// every key of the fixture's keyspace, write them with expiries, read the file again.
#[test]
fn writes_a_file_that_reads_back() {
    let ks = restore_all(&records(FROM_REDIS));
    let mut writer = RdbWriter::new();
    let mut file = writer.header(&[("redis-bits", "64")]);
    let mut want = Vec::new();
    for (i, key) in ["str", "lst", "iset", "hbig", "zbig", "st", "big"]
        .iter()
        .enumerate()
    {
        let Value::Bulk(payload) = ks.read(&common::args(&format!("DUMP {key}")), ctx(1_000))
        else {
            panic!("DUMP {key}")
        };
        let expire = (i % 2 == 0).then_some(2_000_000_000_000 + i as u64);
        file.extend(
            writer
                .record(key.as_bytes(), &payload, expire)
                .expect("a sound payload"),
        );
        want.push((key.to_string(), payload, expire));
    }
    file.extend(writer.finish());
    let got: Vec<(String, Bytes, Option<u64>)> = records(&file)
        .into_iter()
        .map(|r| {
            (
                String::from_utf8_lossy(&r.key).into_owned(),
                r.payload,
                r.expire_ms,
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(writer_refuses_bad_payloads());
}

fn writer_refuses_bad_payloads() -> bool {
    let mut writer = RdbWriter::new();
    writer
        .record(b"k", b"\x00\x01a\x0a\x00nonsense", None)
        .is_err()
        && writer.record(b"k", b"", None).is_err()
}

// Goal: damaged files are refused with a reason, never a panic. Method: every single-byte
// change of the fixture (the checksum catches it, or, with the checksum zeroed, the reader
// reads what it can); truncations at every length; a few named cases.
#[test]
fn refuses_damaged_files_without_panicking() {
    let mut flipped = FROM_REDIS.to_vec();
    flipped[40] ^= 0x20;
    let e = RdbReader::new(&flipped).err().expect("a checksum error");
    assert!(e.reason.contains("checksum mismatch"), "{e}");
    let e = RdbReader::new(&FROM_REDIS[..FROM_REDIS.len() - 3]).err();
    assert!(e.is_some_and(|e| e.reason.contains("truncated")));
    assert!(RdbReader::new(b"REDIS0012\xff\0\0\0\0\0\0\0\0").is_err());
    assert!(RdbReader::new(b"NOTREDIS0").is_err());
    let mut unchecked = FROM_REDIS.to_vec();
    let n = unchecked.len();
    unchecked[n - 8..].fill(0);
    assert_eq!(records(&unchecked).len(), 13);
    for i in 9..n - 9 {
        for v in [0u8, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc3, 0xf7, 0xfe, 0xff] {
            let mut b = unchecked.clone();
            b[i] = v;
            if let Ok(reader) = RdbReader::new(&b) {
                let _ = reader.count();
            }
        }
    }
    for len in 0..unchecked.len() {
        if let Ok(reader) = RdbReader::new(&unchecked[..len]) {
            let _ = reader.count();
        }
    }
    let module_aux = b"REDIS0010\xf7\x00\xff\0\0\0\0\0\0\0\0";
    let e = RdbReader::new(module_aux)
        .expect("header")
        .next()
        .and_then(Result::err)
        .expect("refused");
    assert!(e.reason.contains("MODULE_AUX"), "{e}");
}
