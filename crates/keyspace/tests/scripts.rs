// Goal: scripts are deterministic, bounded and atomic when aborted, and their cache and
// libraries survive snapshots. Method: run scripts on keyspaces directly and compare replies,
// digests and snapshots.

mod common;

use common::{args, run, show};
use keyspace::{Context, Keyspace};

fn ctx(seed: u64) -> Context {
    Context {
        now_ms: 1_700_000_000_123,
        seed,
    }
}

fn eval(ks: &mut Keyspace, line: &str) -> String {
    show(&run(ks, line, ctx(42)))
}

const LIBRARY: &str = "FUNCTION LOAD \"#!lua name=counter\\nredis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\"";

// A runaway script is aborted by the instruction budget, its writes (even a FLUSHALL) are
// rolled back, and the keyspace is exactly as before, digest included.
#[test]
fn runaway_script_is_aborted_and_rolled_back() {
    let mut ks = Keyspace::new();
    ks.set_script_instructions_max(2_000_000);
    eval(&mut ks, "SET keep value");
    eval(&mut ks, "RPUSH list a b c");
    let body = "\"redis.call('set','keep','changed'); redis.call('del','list'); redis.call('set','new','x'); redis.call('flushall'); redis.call('set','after','y'); while true do end\"";
    // Loaded first: EVAL caches its body (replicated state), and the cache is not undone.
    eval(&mut ks, &format!("SCRIPT LOAD {body}"));
    let before = ks.digest();
    let snapshot = ks.encode();
    let reply = eval(&mut ks, &format!("EVAL {body} 0"));
    assert!(
        reply.contains("ran past the budget of 2000000 Lua instructions"),
        "{reply}"
    );
    assert_eq!(ks.digest(), before, "an aborted script left a trace");
    assert_eq!(ks.encode(), snapshot);
    assert_eq!(eval(&mut ks, "GET keep"), "\"value\"");
    assert_eq!(eval(&mut ks, "LRANGE list 0 -1"), "[\"a\", \"b\", \"c\"]");
    assert_eq!(eval(&mut ks, "EXISTS new after"), ":0");
    // The state is usable afterwards, and the next script runs normally.
    assert_eq!(
        eval(&mut ks, "EVAL \"return redis.call('incr','n')\" 0"),
        ":1"
    );
}

// pcall cannot swallow the abort: once past the budget every instruction fails.
#[test]
fn pcall_cannot_catch_the_budget() {
    let mut ks = Keyspace::new();
    ks.set_script_instructions_max(1_000_000);
    let reply = eval(
        &mut ks,
        "EVAL \"redis.call('set','k','v'); while true do pcall(function() while true do end end) end\" 0",
    );
    assert!(reply.contains("ran past the budget"), "{reply}");
    assert_eq!(eval(&mut ks, "EXISTS k"), ":0");
    let reply = eval(
        &mut ks,
        "EVAL \"local ok = true; while ok do ok = pcall(function() local x = 0; for i = 1, 1e12 do x = x + i end end) end; redis.call('set','k','v'); return 'escaped'\" 0",
    );
    assert!(reply.contains("ran past the budget"), "{reply}");
    assert_eq!(eval(&mut ks, "EXISTS k"), ":0");
}

// The same script and context give the same replies and state on a keyspace whose Lua state
// is warm, one rebuilt from a snapshot, and a clone: math.random comes from the seed, TIME
// from the entry's time.
#[test]
fn scripts_are_deterministic_across_replicas() {
    let script = "EVAL \"local t = {}; for i = 1, 5 do t[i] = math.random(1000) end; t[6] = redis.call('time')[1]; redis.call('set', KEYS[1], table.concat(t, ',')); return redis.call('get', KEYS[1])\" 1 r";
    let mut warm = Keyspace::new();
    eval(&mut warm, "EVAL \"return math.random()\" 0");
    let mut rebuilt = Keyspace::decode(&warm.encode()).expect("decodes");
    let mut cloned = warm.clone();
    let a = show(&run(&mut warm, script, ctx(7)));
    let b = show(&run(&mut rebuilt, script, ctx(7)));
    let c = show(&run(&mut cloned, script, ctx(7)));
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(a.ends_with(",1700000000\""), "{a}");
    assert_eq!(warm.digest(), rebuilt.digest());
    assert_eq!(warm.digest(), cloned.digest());
    // Addresses would differ between replicas: tostring numbers them instead.
    let shown = "EVAL \"local t = {}; return tostring(t) .. ' ' .. tostring(tostring) .. ' ' .. tostring(t)\" 0";
    let a_shown = show(&run(&mut warm, shown, ctx(9)));
    assert_eq!(a_shown, show(&run(&mut rebuilt, shown, ctx(9))));
    assert_eq!(
        a_shown,
        "\"table: 0x00000001 function: 0x00000002 table: 0x00000001\""
    );
    // Another entry (another seed) draws other numbers.
    let d = show(&run(&mut cloned, script, ctx(8)));
    assert_ne!(a, d);
}

// The script cache and the function libraries are replicated state: in the digest and the
// snapshot, and usable after a decode.
#[test]
fn scripts_and_functions_survive_snapshots() {
    let mut ks = Keyspace::new();
    let empty_digest = ks.digest();
    let sha = eval(&mut ks, "SCRIPT LOAD \"return 'loaded'\"");
    assert_ne!(
        ks.digest(),
        empty_digest,
        "the script cache is not in the digest"
    );
    assert_eq!(eval(&mut ks, LIBRARY), "\"counter\"");
    let mut restored = Keyspace::decode(&ks.encode()).expect("decodes");
    assert_eq!(restored, ks);
    assert_eq!(restored.digest(), ks.digest());
    let sha = sha.trim_matches('"');
    assert_eq!(
        show(&restored.apply(&args(&format!("EVALSHA {sha} 0")), ctx(1))),
        "\"loaded\""
    );
    assert_eq!(eval(&mut restored, "FCALL bump 1 c 5"), ":5");
    assert_eq!(eval(&mut restored, "FCALL bump 1 c 5"), ":10");
    // Flushing both empties the section: the snapshot is as if scripts never existed.
    eval(&mut restored, "SCRIPT FLUSH");
    eval(&mut restored, "FUNCTION FLUSH");
    eval(&mut restored, "DEL c");
    // magic, format, clock, last_delete, no keys, checksum: no section after the keys.
    let bytes = restored.encode();
    assert_eq!(bytes.len(), 4 + 1 + 1 + 1 + 1 + 4, "{bytes:?}");
}

// A damaged scripts section is refused (the body must match its SHA1).
#[test]
fn damaged_script_section_is_refused() {
    let mut ks = Keyspace::new();
    eval(&mut ks, "SCRIPT LOAD \"return 'abcdef'\"");
    let mut bytes = ks.encode().to_vec();
    let at = bytes
        .windows(6)
        .position(|w| w == b"abcdef")
        .expect("the body is in the snapshot");
    bytes[at] = b'X';
    let body_len = bytes.len() - 4;
    let crc = crc32c_of(&bytes[..body_len]);
    bytes[body_len..].copy_from_slice(&crc.to_le_bytes());
    let error = Keyspace::decode(&bytes).expect_err("a body that does not match its SHA1");
    assert!(error.contains("SHA1"), "{error}");
}

fn crc32c_of(data: &[u8]) -> u32 {
    // CRC-32C (Castagnoli), bitwise: the snapshot's checksum.
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// With slots set (one group of several), a script may not touch a key of another group.
#[test]
fn scripts_stay_inside_their_slots() {
    let mut ks = Keyspace::new();
    // "{a}" hashes to slot 15495, "{b}" to 3300.
    ks.set_script_slots(10_000, 16_383);
    assert_eq!(
        eval(
            &mut ks,
            "EVAL \"return redis.call('set', KEYS[1], 'v')\" 1 {a}k"
        ),
        "+OK"
    );
    let reply = eval(&mut ks, "EVAL \"return redis.call('set', '{b}k', 'v')\" 0");
    assert!(
        reply.starts_with("-ERR Script attempted to access a non local key in a cluster node"),
        "{reply}"
    );
    assert_eq!(eval(&mut ks, "EXISTS {b}k"), ":0");
}

// Scripts inside MULTI/EXEC (one entry): each runs in order; an aborted one is undone alone.
#[test]
fn scripts_inside_exec() {
    let mut ks = Keyspace::new();
    ks.set_script_instructions_max(1_000_000);
    let commands = vec![
        args("EVAL \"return redis.call('incr', KEYS[1])\" 1 n"),
        args("EVAL \"redis.call('incr', KEYS[1]); while true do end\" 1 n"),
        args("EVAL \"return redis.call('incr', KEYS[1])\" 1 n"),
    ];
    let reply = show(&ks.exec(&commands, &[], ctx(3)));
    assert!(reply.starts_with("[:1, -ERR Script "), "{reply}");
    assert!(reply.ends_with(", :2]"), "{reply}");
    assert_eq!(eval(&mut ks, "GET n"), "\"2\"");
}
