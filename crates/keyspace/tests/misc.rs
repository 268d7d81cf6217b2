// Goal: what case files cannot pin down for COPY/OBJECT/SORT/LCS/list moves/blocking pops/
// SINTERCARD/HRANDFIELD: random choices (HRANDFIELD), time (OBJECT IDLETIME), the API the
// server uses for blocking commands, the LCS size bound, snapshots of write times, and that no
// input panics or splits replicas. Method: direct calls with chosen contexts, and seeded random
// command streams replayed on a keyspace restored from a mid-way snapshot.

mod common;

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use common::{args, ctx, run, show};
use keyspace::{BlockingPop, Context, Keyspace};
use resp::Value;

fn at(now_ms: u64, seed: u64) -> Context {
    Context { now_ms, seed }
}

/// The arguments of a flat RESP2 array of bulk strings (what `Value::Raw` holds for RESP2).
fn flat(resp2: &Bytes) -> Vec<Bytes> {
    let mut p = resp::Parser::new(resp::Limits::default());
    let mut buf = BytesMut::from(&resp2[..]);
    p.parse(&mut buf).expect("valid RESP").expect("one array")
}

#[test]
fn hrandfield_picks_from_the_hash_by_seed() {
    let mut ks = Keyspace::new();
    run(
        &mut ks,
        "HSET h f0 v0 f1 v1 f2 v2 f3 v3 f4 v4 f5 v5 f6 v6 f7 v7 f8 v8 f9 v9",
        ctx(1000),
    );
    let fields: BTreeSet<String> = (0..10).map(|i| format!("\"f{i}\"")).collect();
    let mut singles = BTreeSet::new();
    for seed in 0..64 {
        let c = at(1000, seed);
        let one = show(&ks.read(&args("HRANDFIELD h"), c));
        assert!(fields.contains(&one), "{one}");
        singles.insert(one);
        // Distinct fields for a positive count.
        let Value::Array(five) = ks.read(&args("HRANDFIELD h 5"), c) else {
            panic!("an array")
        };
        let five: BTreeSet<String> = five.iter().map(show).collect();
        assert_eq!(five.len(), 5);
        assert!(five.is_subset(&fields));
        // Repeats allowed for a negative count, exactly |count| of them.
        let Value::Array(many) = ks.read(&args("HRANDFIELD h -30"), c) else {
            panic!("an array")
        };
        assert_eq!(many.len(), 30);
        assert!(many.iter().all(|f| fields.contains(&show(f))));
        // Same context, same answer.
        assert_eq!(
            ks.read(&args("HRANDFIELD h -30"), c),
            ks.read(&args("HRANDFIELD h -30"), c)
        );
        // WITHVALUES: flat pairs in RESP2, [field, value] arrays in RESP3.
        let Value::Raw { resp2, resp3 } = ks.read(&args("HRANDFIELD h 3 WITHVALUES"), c) else {
            panic!("a reply encoded for both protocols")
        };
        let pairs = flat(&resp2);
        assert_eq!(pairs.len(), 6);
        for p in pairs.chunks(2) {
            assert_eq!(p[0][1..], p[1][1..], "field and value belong together");
        }
        assert!(resp3.starts_with(b"*3\r\n*2\r\n$2\r\nf"), "{resp3:?}");
        let Value::Raw { resp2, .. } = ks.read(&args("HRANDFIELD h -4 WITHVALUES"), c) else {
            panic!("raw")
        };
        assert_eq!(flat(&resp2).len(), 8);
    }
    assert!(singles.len() >= 8, "seeds reach most fields: {singles:?}");
    // Counts at least the size give the whole hash, in field order.
    assert_eq!(
        show(&ks.read(&args("HRANDFIELD h 99"), ctx(1000))),
        show(&ks.read(&args("HKEYS h"), ctx(1000)))
    );
    // A negative count beyond the bound is refused rather than allocated.
    assert_eq!(
        show(&ks.read(&args("HRANDFIELD h -2000000"), ctx(1000))),
        "-ERR value is out of range"
    );
    let Value::Array(most) = ks.read(&args("HRANDFIELD h -1048576"), ctx(1000)) else {
        panic!("an array")
    };
    assert_eq!(most.len(), 1 << 20);
}

#[test]
fn object_idletime_counts_from_the_last_write() {
    let mut ks = Keyspace::new();
    let idle = |ks: &mut Keyspace, key: &str, now: u64| {
        show(&run(ks, &format!("OBJECT IDLETIME {key}"), ctx(now)))
    };
    run(&mut ks, "SET k v", ctx(1_000_000));
    run(&mut ks, "RPUSH l a", ctx(1_000_000));
    assert_eq!(idle(&mut ks, "k", 1_000_000), ":0");
    assert_eq!(idle(&mut ks, "k", 1_005_999), ":5");
    // Reads leave no trace.
    run(&mut ks, "GET k", ctx(1_007_000));
    assert_eq!(idle(&mut ks, "k", 1_008_000), ":8");
    // Writes of every kind do.
    run(&mut ks, "APPEND k w", ctx(1_010_000));
    assert_eq!(idle(&mut ks, "k", 1_012_000), ":2");
    run(&mut ks, "EXPIRE k 1000", ctx(1_020_000));
    assert_eq!(idle(&mut ks, "k", 1_021_000), ":1");
    run(&mut ks, "LPUSH l b", ctx(1_030_000));
    assert_eq!(idle(&mut ks, "l", 1_033_000), ":3");
    run(&mut ks, "COPY l l2", ctx(1_040_000));
    assert_eq!(idle(&mut ks, "l2", 1_041_000), ":1");
    assert_eq!(idle(&mut ks, "missing", 1_041_000), "(nil)");
    // A clock behind the write (never in the log, but no panic) reads as 0.
    assert_eq!(idle(&mut ks, "l2", 1), ":0");
    // The write time is state: snapshots carry it and the digest sees it.
    let back = Keyspace::decode(&ks.encode()).expect("decodes");
    assert_eq!(back, ks);
    assert_eq!(
        show(&back.read(&args("OBJECT IDLETIME l"), ctx(1_033_000))),
        ":3"
    );
    let mut other = Keyspace::new();
    run(&mut other, "SET k v", ctx(1_000_000));
    let mut later = Keyspace::new();
    run(&mut later, "SET k v", ctx(2_000_000));
    assert_ne!(other.digest(), later.digest());
}

/// A snapshot of format 1 (before entries carried their write time), byte by byte.
fn format1_snapshot() -> Vec<u8> {
    // magic, format 1, clock 1, last_delete 0, one key "k": string tag 0, version 1, "v".
    let mut body = b"NKSS\x01\x01\x00\x01".to_vec();
    body.extend_from_slice(b"\x01k\x00\x01\x01v");
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn snapshots_of_format_1_still_decode() {
    let mut ks = Keyspace::decode(&format1_snapshot()).expect("format 1 decodes");
    assert_eq!(show(&run(&mut ks, "GET k", ctx(5_000_000))), "\"v\"");
    // Unknown write time: idle 0 rather than "since 1970".
    assert_eq!(
        show(&run(&mut ks, "OBJECT IDLETIME k", ctx(5_000_000))),
        ":0"
    );
    // Re-encoded in the current format, it round-trips.
    let again = Keyspace::decode(&ks.encode()).expect("decodes");
    assert_eq!(again, ks);
    assert_ne!(ks.encode().as_ref(), format1_snapshot().as_slice());
}

#[test]
fn blocking_pops_tell_the_server_what_to_wait_for() {
    let mut ks = Keyspace::new();
    let c = ctx(1000);
    let try_pop = |ks: &mut Keyspace, line: &str| ks.try_blocking_pop(&args(line), c);
    let block = |keys: &[&str], timeout_ms: u64| BlockingPop::Block {
        keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
        timeout_ms,
    };
    assert_eq!(try_pop(&mut ks, "BLPOP a b 1.5"), block(&["a", "b"], 1500));
    assert_eq!(try_pop(&mut ks, "BRPOP a 0"), block(&["a"], 0));
    assert_eq!(try_pop(&mut ks, "BLPOP a 0.0001"), block(&["a"], 1));
    assert_eq!(
        try_pop(&mut ks, "BLPOP a 9223372036854775"),
        block(&["a"], 9_223_372_036_854_775_000)
    );
    assert_eq!(
        try_pop(&mut ks, "BLMOVE src dst LEFT RIGHT 0.25"),
        block(&["src"], 250)
    );
    assert_eq!(
        try_pop(&mut ks, "BRPOPLPUSH src dst 2"),
        block(&["src"], 2000)
    );
    assert_eq!(
        try_pop(&mut ks, "BLMPOP 3 2 a b LEFT COUNT 5"),
        block(&["a", "b"], 3000)
    );
    // Nothing was created by looking.
    assert_eq!(ks.dbsize(1000), 0);
    let reply = |ks: &mut Keyspace, line: &str| match try_pop(ks, line) {
        BlockingPop::Reply(v) => show(&v),
        b => panic!("{line}: expected a reply, got {b:?}"),
    };
    run(&mut ks, "RPUSH b x y z", c);
    assert_eq!(reply(&mut ks, "BLPOP a b 0"), "[\"b\", \"x\"]");
    assert_eq!(reply(&mut ks, "BRPOP a b 0"), "[\"b\", \"z\"]");
    assert_eq!(reply(&mut ks, "BLMOVE b dst RIGHT LEFT 0"), "\"y\"");
    assert_eq!(reply(&mut ks, "BRPOPLPUSH dst b 0"), "\"y\"");
    assert_eq!(
        reply(&mut ks, "BLMPOP 0 2 a b LEFT COUNT 9"),
        "[\"b\", [\"y\"]]"
    );
    assert_eq!(ks.dbsize(1000), 0);
    // Errors are replies: timeout, wrong type, syntax, arity, not a blocking command.
    run(&mut ks, "SET s v", c);
    assert_eq!(reply(&mut ks, "BLPOP a -1"), "-ERR timeout is negative");
    assert_eq!(
        reply(&mut ks, "BLPOP a x"),
        "-ERR timeout is not a float or out of range"
    );
    assert_eq!(
        reply(&mut ks, "BLPOP s 0"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // An empty source blocks without looking at the destination, as in Redis.
    assert_eq!(
        try_pop(&mut ks, "BLMOVE a s LEFT RIGHT 0"),
        block(&["a"], 0)
    );
    assert_eq!(reply(&mut ks, "BLMOVE a s UP RIGHT 0"), "-ERR syntax error");
    assert_eq!(
        reply(&mut ks, "BLPOP a"),
        "-ERR wrong number of arguments for 'blpop' command"
    );
    assert_eq!(
        reply(&mut ks, "LPOP a"),
        "-ERR 'lpop' is not a blocking list command"
    );
    // The table's handler is the expired-timeout form.
    assert_eq!(show(&run(&mut ks, "BLPOP a 0", c)), "(nil-array)");
    assert_eq!(show(&run(&mut ks, "BLMOVE a b LEFT LEFT 0", c)), "(nil)");
    // The exported timeout parser agrees.
    assert_eq!(keyspace::timeout_arg(b"2.5"), Ok(2500));
    assert_eq!(keyspace::timeout_arg(b"-0.0001"), Ok(0));
    assert!(keyspace::timeout_arg(b"1e5000").is_err());
}

#[test]
fn lcs_refuses_tables_beyond_its_bound() {
    let mut ks = Keyspace::new();
    let c = ctx(1000);
    let set = |ks: &mut Keyspace, key: &str, len: usize, byte: u8| {
        ks.apply(
            &[
                Bytes::from_static(b"SET"),
                Bytes::from(key.to_string()),
                Bytes::from(vec![byte; len]),
            ],
            c,
        );
    };
    set(&mut ks, "a", 4095, b'x');
    set(&mut ks, "b", 4095, b'x');
    assert_eq!(show(&run(&mut ks, "LCS a b LEN", c)), ":4095");
    let Value::Map(m) = run(&mut ks, "LCS a b IDX WITHMATCHLEN", c) else {
        panic!("a map")
    };
    assert_eq!(show(&m[0].1), "[[[:0, :4094], [:0, :4094], :4095]]");
    set(&mut ks, "b", 4096, b'x');
    let refused = show(&run(&mut ks, "LCS a b", c));
    assert!(
        refused.starts_with("-ERR LCS of a 4095-byte and a 4096-byte string"),
        "{refused}"
    );
    assert!(show(&run(&mut ks, "LCS a b LEN", c)).starts_with("-ERR LCS of"));
    // Beyond Redis's own bound, Redis's error.
    set(&mut ks, "a", 12000, b'x');
    set(&mut ks, "b", 12000, b'y');
    assert_eq!(
        show(&run(&mut ks, "LCS a b LEN", c)),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    // A long string against a short one is bounded by the product, not the longer length.
    set(&mut ks, "a", 1 << 20, b'x');
    set(&mut ks, "b", 15, b'x');
    assert!(show(&run(&mut ks, "LCS a b", c)).starts_with("-ERR LCS of"));
    set(&mut ks, "b", 14, b'x');
    assert_eq!(show(&run(&mut ks, "LCS a b LEN", c)), ":14");
}

#[test]
fn sort_bounds_and_orders() {
    let mut ks = Keyspace::new();
    let c = ctx(1000);
    // A LIMIT far beyond the list allocates nothing and returns what exists.
    run(&mut ks, "RPUSH l 5 4 3 2 1", c);
    assert_eq!(
        show(&run(&mut ks, "SORT l LIMIT 3 9223372036854775807", c)),
        "[\"4\", \"5\"]"
    );
    // GET patterns multiply the output: elements x patterns.
    assert_eq!(
        show(&run(&mut ks, "SORT l LIMIT 0 2 GET # GET # GET x_*", c)),
        "[\"1\", \"1\", (nil), \"2\", \"2\", (nil)]"
    );
    // A set sorted BY nosort into STORE is sorted ALPHA, the same on every replica.
    run(&mut ks, "SADD s b c a", c);
    assert_eq!(show(&run(&mut ks, "SORT s BY nosort STORE d", c)), ":3");
    assert_eq!(
        show(&run(&mut ks, "LRANGE d 0 -1", c)),
        "[\"a\", \"b\", \"c\"]"
    );
    // SORT_RO is a read; SORT a write.
    assert_eq!(
        keyspace::lookup(b"sort_ro").map(|s| s.kind),
        Some(keyspace::Kind::Read)
    );
    assert_eq!(
        keyspace::lookup(b"sort").map(|s| s.kind),
        Some(keyspace::Kind::Write)
    );
    assert_eq!(
        keyspace::key_positions(&args("SORT l BY w_* STORE dst")),
        vec![1, 5]
    );
    assert_eq!(keyspace::key_positions(&args("OBJECT ENCODING k")), vec![2]);
    assert!(keyspace::key_positions(&args("OBJECT HELP")).is_empty());
    assert_eq!(keyspace::key_positions(&args("BLPOP a b 0")), vec![1, 2]);
    assert_eq!(
        keyspace::key_positions(&args("BLMOVE a b LEFT RIGHT 0")),
        vec![1, 2]
    );
    assert_eq!(
        keyspace::key_positions(&args("BLMPOP 0 2 a b LEFT")),
        vec![3, 4]
    );
    assert_eq!(keyspace::key_positions(&args("COPY a b")), vec![1, 2]);
}

/// SplitMix64 for the random streams.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Command templates: K key, V value, N number, E list end, T timeout, P pattern; other words
/// are literal. One word in eight is then swapped for any word, to reach the error paths.
const TEMPLATES: &[&str] = &[
    "RPUSH L V V V",
    "LPUSH L V V",
    "RPUSH L V V V V V",
    "SADD S V V V",
    "SADD S V V V V",
    "HSET H V V V V",
    "SET Z V",
    "SET w_V N",
    "HSET h_V f N",
    "EXPIRE K N",
    "DEL K",
    "APPEND Z V",
    "SETRANGE Z N V",
    "LINSERT L BEFORE V V",
    "LPUSHX L V",
    "GETEX Z EX N",
    "GETEX Z PERSIST",
    "COPY K K",
    "COPY K K REPLACE",
    "COPY K K DB N",
    "MOVE K N",
    "TOUCH K K",
    "OBJECT ENCODING K",
    "OBJECT IDLETIME K",
    "OBJECT REFCOUNT K",
    "OBJECT FREQ K",
    "OBJECT HELP",
    "SORT L",
    "SORT S DESC ALPHA",
    "SORT L BY P GET P GET #",
    "SORT S LIMIT N N",
    "SORT L BY P STORE K",
    "SORT S ALPHA LIMIT N N GET P STORE K",
    "SORT_RO L BY P GET P",
    "SORT_RO S ALPHA DESC",
    "LCS Z Z",
    "LCS Z Z LEN",
    "LCS Z Z IDX MINMATCHLEN N WITHMATCHLEN",
    "LMOVE L L E E",
    "RPOPLPUSH L L",
    "LMPOP N L L E",
    "LMPOP 2 L L E COUNT N",
    "LPOS L V",
    "LPOS L V RANK N COUNT N MAXLEN N",
    "LPOS L V COUNT N",
    "BLPOP L L T",
    "BRPOP L T",
    "BLMOVE L L E E T",
    "BRPOPLPUSH L L T",
    "BLMPOP T 2 L L E COUNT N",
    "BLMPOP T N L E",
    "SINTERCARD 2 S S",
    "SINTERCARD N S S LIMIT N",
    "HRANDFIELD H",
    "HRANDFIELD H N",
    "HRANDFIELD H N WITHVALUES",
];
const KEYS: &[&str] = &["l", "l2", "s", "s2", "h", "k", "d"];
const LISTS: &[&str] = &["l", "l2", "l3", "d"];
const SETS: &[&str] = &["s", "s2", "s3"];
const HASHES: &[&str] = &["h", "h2"];
const STRINGS: &[&str] = &["k", "k2", "w_a", "w_1"];
const VALUES: &[&str] = &[
    "a", "b", "c", "1", "2", "3", "10", "-1", "1.5", "x", "", "ab",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "-2",
    "3",
    "5",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
];
const ENDS: &[&str] = &["LEFT", "RIGHT", "left", "UP"];
const TIMEOUTS: &[&str] = &["0", "0.5", "-1", "abc", "1e400", "inf"];
const PATTERNS: &[&str] = &["w_*", "h_*->f", "#", "nosort", "*", "w_*->", "x"];
const ANY: &[&str] = &[
    "", "\u{0}", "COUNT", "LIMIT", "STORE", "-0", "nan", "1e-400", "k",
];

fn stream(seed: u64, n: usize) -> Vec<(Vec<Bytes>, Context)> {
    let mut g = Gen(seed);
    let mut now = 1_000_000u64;
    (0..n)
        .map(|i| {
            now += g.next() % 700;
            let template = g.pick(TEMPLATES);
            let a = template
                .split(' ')
                .map(|w| {
                    let w = if g.next() & 7 == 0 && w != template.split(' ').next().unwrap_or("") {
                        g.pick(ANY)
                    } else {
                        w
                    };
                    let w = match w {
                        "K" => g.pick(KEYS),
                        "L" => g.pick(LISTS),
                        "S" => g.pick(SETS),
                        "H" => g.pick(HASHES),
                        "Z" => g.pick(STRINGS),
                        "V" => g.pick(VALUES),
                        "N" => g.pick(NUMBERS),
                        "E" => g.pick(ENDS),
                        "T" => g.pick(TIMEOUTS),
                        "P" => g.pick(PATTERNS),
                        w => w,
                    };
                    Bytes::from(w.to_string())
                })
                .collect();
            (a, at(now, i as u64))
        })
        .collect()
}

#[test]
fn random_streams_never_panic_and_replicas_agree() {
    for seed in 0..60 {
        let cmds = stream(seed, 1500);
        let mut a = Keyspace::new();
        let mut b = Keyspace::new();
        for (i, (args, c)) in cmds.iter().enumerate() {
            // Reads must not change anything, and agree with apply.
            if keyspace::check(args).is_ok_and(|s| s.kind == keyspace::Kind::Read) {
                let before = a.digest();
                let r = a.read(args, *c);
                assert_eq!(before, a.digest(), "{args:?} changed the state");
                assert_eq!(r, a.clone().apply(args, *c), "{args:?}");
            }
            let blocking =
                i % 5 == 0 && keyspace::check(args).is_ok_and(|s| s.flags.contains(&"blocking"));
            let ra = if blocking {
                format!("{:?}", a.try_blocking_pop(args, *c))
            } else {
                format!("{:?}", a.apply(args, *c))
            };
            if i == 750 {
                b = Keyspace::decode(&a.encode()).expect("snapshot decodes");
                continue;
            }
            let rb = if blocking {
                format!("{:?}", b.try_blocking_pop(args, *c))
            } else {
                format!("{:?}", b.apply(args, *c))
            };
            if i > 750 {
                assert_eq!(ra, rb, "seed {seed} command {i} {args:?}");
            }
        }
        assert_eq!(a.digest(), b.digest(), "seed {seed}");
        assert_eq!(a, b);
    }
}

/// Redis's CRC-64 (Jones, reflected), to build payloads with valid trailers.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` with an RDB version 10 trailer and its CRC.
fn payload(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn restore(ks: &mut Keyspace, key: &str, p: &[u8]) -> Value {
    ks.apply(
        &[
            Bytes::from_static(b"RESTORE"),
            Bytes::from(key.to_string()),
            Bytes::from_static(b"0"),
            Bytes::copy_from_slice(p),
        ],
        ctx(1000),
    )
}

#[test]
fn dump_writes_payloads_redis_restores() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    // Each of these payloads is RESTOREd by Redis 7.0.15 in tests/cases/dump.txt.
    let mut ks = Keyspace::new();
    for (setup, key, want) in [
        (
            "RPUSH l a b 1 -200 70000 -5000000000 \"\"",
            "l",
            "010701610162c001c138ffc2701101000b2d35303030303030303030000a00a369de5b3d30320b",
        ),
        (
            "SADD s b a 1 -3",
            "s",
            "0204c0fdc001016101620a0078398fc1e4a9f00f",
        ),
        (
            "HSET h f v n 5 e \"\"",
            "h",
            "040301650001660176016ec0050a001b57c7047e3c7da5",
        ),
        ("RPUSH one x", "one", "010101780a0068ce3b57bf1ed106"),
    ] {
        run(&mut ks, setup, ctx(1000));
        let Value::Bulk(got) = run(&mut ks, &format!("DUMP {key}"), ctx(1000)) else {
            panic!("a payload")
        };
        assert_eq!(got.as_ref(), hex(want).as_slice(), "{key}");
    }
}

#[test]
fn dump_and_restore_round_trip_every_value() {
    let mut ks = Keyspace::new();
    let mut g = Gen(5);
    for i in 0..300 {
        let n = 1 + g.next() % 40;
        let word = |g: &mut Gen| -> String {
            match g.next() % 6 {
                0 => (g.next() as i64 >> (g.next() % 64)).to_string(),
                1 => "x".repeat((g.next() % 300) as usize),
                2 => String::new(),
                3 => format!("0{}", g.next() % 100),
                _ => format!("w{}", g.next() % 1000),
            }
        };
        let mut line = match i % 4 {
            0 => format!("RPUSH k{i}"),
            1 => format!("SADD k{i}"),
            2 => format!("HSET k{i}"),
            _ => format!("SET k{i} \"{}\"", word(&mut g)),
        };
        if i % 4 != 3 {
            for _ in 0..n {
                line.push_str(&format!(" \"{}\"", word(&mut g)));
                if i % 4 == 2 {
                    line.push_str(&format!(" \"{}\"", word(&mut g)));
                }
            }
        }
        run(&mut ks, &line, ctx(1000));
        let Value::Bulk(p) = run(&mut ks, &format!("DUMP k{i}"), ctx(1000)) else {
            panic!("a payload for {line}")
        };
        assert_eq!(show(&restore(&mut ks, &format!("r{i}"), &p)), "+OK");
        let dump_again = run(&mut ks, &format!("DUMP r{i}"), ctx(1000));
        assert_eq!(dump_again, Value::Bulk(p), "{line}");
    }
}

#[test]
fn restore_refuses_malformed_payloads_without_panicking() {
    let mut ks = Keyspace::new();
    let bad = |ks: &mut Keyspace, body: &[u8]| show(&restore(ks, "k", &payload(body)));
    // Duplicate hash fields: Redis (without deep sanitizing) stores a corrupt hash; ninesdb
    // refuses, as Redis does for duplicate set members.
    assert_eq!(
        bad(&mut ks, b"\x04\x02\x01f\x01v\x01f\x01w"),
        "-ERR Bad data format"
    );
    assert_eq!(bad(&mut ks, b"\x02\x02\x01a\x01a"), "-ERR Bad data format");
    // A declared count or length beyond the payload allocates nothing.
    assert_eq!(
        bad(&mut ks, b"\x01\x81\xff\xff\xff\xff\xff\xff\xff\xff"),
        "-ERR Bad data format"
    );
    assert_eq!(
        bad(&mut ks, b"\x00\x80\xff\xff\xff\xff"),
        "-ERR Bad data format"
    );
    // LZF claiming 4 GB out of 3 bytes.
    assert_eq!(
        bad(&mut ks, b"\x00\xc3\x03\x80\xff\xff\xff\xff\x00ab"),
        "-ERR Bad data format"
    );
    // A back reference before the start of the output.
    assert_eq!(
        bad(&mut ks, b"\x00\xc3\x02\x05\x20\x10"),
        "-ERR Bad data format"
    );
    // A sorted set payload (type 5) restores; its checks are in tests/cases/zsets.txt.
    assert_eq!(
        bad(&mut ks, b"\x05\x01\x01a\x00\x00\x00\x00\x00\x00\xf0\x3f"),
        "+OK"
    );
    assert_eq!(show(&run(&mut ks, "ZSCORE k a", ctx(1000))), "\"1\"");
    run(&mut ks, "DEL k", ctx(1000));
    // Every single-byte change of real Redis payloads (re-sealed with a valid CRC): an answer,
    // never a panic; and a random body of every length.
    let samples = [
        "0102c31b405b135b00000005008161028162020101df3802e04678e03c000148ff",
        "0b0e0200000003000000fdff01000200",
        "1012120000000400816602817602816e020501ff",
        "04010166c3094046017676e039000176760a",
        "0a11110000000d000000020000016103fe0cff",
        STREAM_FROM_REDIS,
        "1300000505000005050100",
    ];
    for s in samples {
        let body = hex(s);
        for i in 0..body.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc3, 0xfe, 0xff] {
                let mut b = body.clone();
                b[i] = v;
                let _ = restore(&mut ks, "fuzz", &payload(&b));
                ks.apply(&args("DEL fuzz"), ctx(1000));
            }
        }
    }
    let mut g = Gen(9);
    for len in 0..400 {
        let body: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
        let _ = restore(&mut ks, "fuzz", &payload(&body));
        ks.apply(&args("DEL fuzz"), ctx(1000));
    }
}

/// Redis 7.0.15's DUMP (without its trailer) of a stream: `XADD s 1-1 a 1 b 2`, `1-2 a 3 b 4`,
/// `2-0 c x`, `3-0 a 5 b 6`, `XDEL s 1-2`, group `g` from 0 where alice read two entries
/// and bob one, group `g2` from `$` with consumer carol (an LZF-compressed listpack).
const STREAM_FROM_REDIS: &str = "13011000000000000000010000000000000001c34045404b124b0000001f0003010101020181610281620200200900002001401102050103600902030104200b40130bdfff0201018163028178020620280002401002050106201d00ff03030001010102040201670300040300000000000000010000000000000001ed586c52a20100000100000000000000020000000000000000ed586c52a20100000100000000000000030000000000000000f3586c52a2010000010205616c696365ed586c52a201000002000000000000000100000000000000010000000000000002000000000000000003626f62f3586c52a20100000100000000000000030000000000000000026732030081ffffffffffffffff0001056361726f6c0c596c52a201000000";

// Goal: streams travel through DUMP/RESTORE both ways with their groups. Method: RESTORE
// Redis's payload, read entries, PEL and XINFO back; DUMP ninesdb's copy, RESTORE it into a
// fresh keyspace and compare XINFO STREAM FULL, XRANGE and XPENDING between the two; also
// a stream after XDEL of its last entry and one emptied by XDEL.
#[test]
fn streams_dump_and_restore() {
    let mut ks = Keyspace::default();
    let now = ctx(1_800_000_000_000);
    assert_eq!(
        show(&restore(&mut ks, "s", &payload(&hex(STREAM_FROM_REDIS)))),
        "+OK"
    );
    assert_eq!(
        show(&run(&mut ks, "XRANGE s - +", now)),
        r#"[["1-1", ["a", "1", "b", "2"]], ["2-0", ["c", "x"]], ["3-0", ["a", "5", "b", "6"]]]"#
    );
    let pending = show(&run(&mut ks, "XPENDING s g - + 10", now));
    assert!(pending.contains(r#"["1-1", "alice""#), "{pending}");
    assert!(pending.contains(r#"["3-0", "bob""#), "{pending}");
    run(&mut ks, "XADD s 4-0 a 7 b 8", now);
    run(&mut ks, "XADD s 5-0 z 1", now);
    run(&mut ks, "XDEL s 5-0", now);
    run(&mut ks, "XADD e 5-5 f v", now);
    run(&mut ks, "XDEL e 5-5", now);
    for key in ["s", "e"] {
        let Value::Bulk(ours) = run(&mut ks, &format!("DUMP {key}"), now) else {
            panic!("DUMP of a stream")
        };
        let mut copy = Keyspace::default();
        assert_eq!(show(&restore(&mut copy, key, &ours)), "+OK");
        for read in [
            format!("XINFO STREAM {key} FULL"),
            format!("XRANGE {key} - +"),
            format!("XPENDING {key} g - + 10"),
            format!("XINFO GROUPS {key}"),
        ] {
            assert_eq!(
                show(&run(&mut copy, &read, now)),
                show(&run(&mut ks, &read, now)),
                "{read}"
            );
        }
        // The copy goes on as the original does.
        assert_eq!(
            show(&run(&mut copy, &format!("XADD {key} * x 1"), now)),
            show(&run(&mut ks, &format!("XADD {key} * x 1"), now))
        );
    }
}

/// One random stream command on `x` (ids from a small range, so XADD, XDEL, XTRIM, the groups
/// and their PELs collide often).
fn stream_command(g: &mut Gen) -> String {
    let id = |g: &mut Gen| format!("{}-{}", g.next() % 400, g.next() % 3);
    let group = format!("g{}", g.next() % 3);
    let consumer = format!("c{}", g.next() % 4);
    let value = "v".repeat((g.next() % 90) as usize);
    match g.next() % 12 {
        0..=3 => format!("XADD x * a {} b \"{value}\"", g.next() % 1000),
        4 => format!("XADD x {} other 1", id(g)),
        5 => format!("XDEL x {} {}", id(g), id(g)),
        6 => format!("XTRIM x MAXLEN {} {}", g.pick(&["~", "="]), g.next() % 300),
        7 => format!(
            "XGROUP CREATE x {group} {} MKSTREAM",
            g.pick(&["0", "$", "5-0"])
        ),
        8 => format!(
            "XREADGROUP GROUP {group} {consumer} COUNT {} STREAMS x >",
            1 + g.next() % 20
        ),
        9 => format!("XACK x {group} {} {}", id(g), id(g)),
        10 => format!("XCLAIM x {group} {consumer} 0 {} {}", id(g), id(g)),
        _ => format!("XGROUP DELCONSUMER x {group} {consumer}"),
    }
}

// Goal: any stream ninesdb can reach survives DUMP and RESTORE whole. Method: random XADD,
// XDEL, XTRIM, groups, reads, acks and claims on one stream; every 50 commands DUMP it,
// RESTORE the payload elsewhere and compare XINFO STREAM FULL, XINFO GROUPS and XRANGE, and
// the next XADD's id.
#[test]
fn random_streams_dump_and_restore_whole() {
    let mut restored = 0;
    for seed in 0..20 {
        let mut g = Gen(1000 + seed);
        let mut ks = Keyspace::new();
        for i in 0..600u64 {
            let now = ctx(1_000_000 + i * 7);
            run(&mut ks, &stream_command(&mut g), now);
            if i % 50 != 49 {
                continue;
            }
            let Value::Bulk(payload) = run(&mut ks, "DUMP x", now) else {
                continue; // not made yet
            };
            let mut copy = Keyspace::new();
            assert_eq!(
                show(&restore(&mut copy, "x", &payload)),
                "+OK",
                "seed {seed} step {i}"
            );
            restored += 1;
            for read in ["XINFO STREAM x FULL", "XINFO GROUPS x", "XRANGE x - +"] {
                let (want, got) = (run(&mut ks, read, now), run(&mut copy, read, now));
                assert_eq!(show(&got), show(&want), "seed {seed} step {i}: {read}");
            }
            let mut a = ks.clone();
            assert_eq!(
                show(&run(&mut copy, "XADD x * n 1", now)),
                show(&run(&mut a, "XADD x * n 1", now))
            );
        }
    }
    assert!(restored > 200, "{restored} streams restored");
}

// Goal: sorted sets travel through DUMP/RESTORE both ways. Method: RESTORE the payload Redis
// 7.0.15 gave for `ZADD z 1.5 a 2 b -inf c` (a listpack), read it back; DUMP ninesdb's copy
// (type 5) and RESTORE that into a fresh keyspace.
#[test]
fn sorted_sets_dump_and_restore() {
    let from_redis: &[u8] = b"\x11\x1d\x1d\x00\x00\x00\x06\x00\x81c\x02\x84-inf\x05\x81a\x02\x831.5\x04\x81b\x02\x02\x01\xff\n\x00\x17\xdc\xe9\x1a\xb8Cl\x89";
    let mut ks = Keyspace::default();
    let restore = |ks: &mut Keyspace, key: &str, payload: &[u8]| {
        let a = vec![
            Bytes::from_static(b"RESTORE"),
            Bytes::copy_from_slice(key.as_bytes()),
            Bytes::from_static(b"0"),
            Bytes::copy_from_slice(payload),
        ];
        ks.apply(&a, ctx(1))
    };
    assert_eq!(show(&restore(&mut ks, "z", from_redis)), "+OK");
    assert_eq!(
        show(&run(&mut ks, "ZRANGE z 0 -1 WITHSCORES", ctx(1))),
        show(&run(&mut ks, "ZRANGE z 0 -1 WITHSCORES", ctx(1)))
    );
    assert_eq!(show(&run(&mut ks, "ZSCORE z c", ctx(1))), "\"-inf\"");
    assert_eq!(show(&run(&mut ks, "ZSCORE z a", ctx(1))), "\"1.5\"");
    let Value::Bulk(ours) = ks.read(&args("DUMP z"), ctx(1)) else {
        panic!("DUMP of a zset")
    };
    let mut copy = Keyspace::default();
    assert_eq!(show(&restore(&mut copy, "z", &ours)), "+OK");
    assert_eq!(
        show(&run(&mut copy, "ZRANGE z 0 -1 WITHSCORES", ctx(1))),
        show(&run(&mut ks, "ZRANGE z 0 -1 WITHSCORES", ctx(1)))
    );
    assert_eq!(
        show(&run(&mut copy, "OBJECT ENCODING z", ctx(1))),
        "\"listpack\""
    );
}
