// Goal: every type-specific command answers WRONGTYPE on a key of another type and changes nothing.
// Method: for each (key type, command) pair where the types differ, run the command and compare the reply and digest.

mod common;

use common::{ctx, run};
use keyspace::Keyspace;
use resp::Value;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// (type of key the command expects, command with `k` as the key)
const COMMANDS: &[(&str, &str)] = &[
    ("string", "GET k"),
    ("string", "SET k v GET"),
    ("string", "GETSET k v"),
    ("string", "GETDEL k"),
    ("string", "GETEX k"),
    ("string", "APPEND k v"),
    ("string", "STRLEN k"),
    ("string", "INCR k"),
    ("string", "DECR k"),
    ("string", "INCRBY k 1"),
    ("string", "DECRBY k 1"),
    ("string", "INCRBYFLOAT k 1"),
    ("string", "GETRANGE k 0 1"),
    ("string", "SETRANGE k 0 v"),
    ("hash", "HSET k f v"),
    ("hash", "HMSET k f v"),
    ("hash", "HSETNX k f v"),
    ("hash", "HGET k f"),
    ("hash", "HMGET k f"),
    ("hash", "HDEL k f"),
    ("hash", "HEXISTS k f"),
    ("hash", "HGETALL k"),
    ("hash", "HKEYS k"),
    ("hash", "HVALS k"),
    ("hash", "HLEN k"),
    ("hash", "HSTRLEN k f"),
    ("hash", "HINCRBY k f 1"),
    ("hash", "HINCRBYFLOAT k f 1"),
    ("hash", "HSCAN k 0"),
    ("list", "LPUSH k v"),
    ("list", "RPUSH k v"),
    ("list", "LPUSHX k v"),
    ("list", "RPUSHX k v"),
    ("list", "LPOP k"),
    ("list", "RPOP k 2"),
    ("list", "LLEN k"),
    ("list", "LRANGE k 0 -1"),
    ("list", "LINDEX k 0"),
    ("list", "LSET k 0 v"),
    ("list", "LREM k 0 v"),
    ("list", "LTRIM k 0 1"),
    ("list", "LINSERT k BEFORE a b"),
    ("set", "SADD k m"),
    ("set", "SREM k m"),
    ("set", "SMEMBERS k"),
    ("set", "SISMEMBER k m"),
    ("set", "SMISMEMBER k m"),
    ("set", "SCARD k"),
    ("set", "SPOP k"),
    ("set", "SPOP k 2"),
    ("set", "SRANDMEMBER k"),
    ("set", "SRANDMEMBER k -2"),
    ("set", "SINTER k"),
    ("set", "SUNION k"),
    ("set", "SDIFF k"),
    ("set", "SINTERSTORE d k"),
    ("set", "SMOVE k d m"),
    ("set", "SSCAN k 0"),
    ("zset", "ZADD k 1 m"),
    ("zset", "ZINCRBY k 1 m"),
    ("zset", "ZREM k m"),
    ("zset", "ZSCORE k m"),
    ("zset", "ZMSCORE k m"),
    ("zset", "ZCARD k"),
    ("zset", "ZCOUNT k 0 1"),
    ("zset", "ZLEXCOUNT k - +"),
    ("zset", "ZRANK k m"),
    ("zset", "ZREVRANK k m"),
    ("zset", "ZRANGE k 0 -1"),
    ("zset", "ZRANGESTORE d k 0 -1"),
    ("zset", "ZREVRANGE k 0 -1"),
    ("zset", "ZRANGEBYSCORE k 0 1"),
    ("zset", "ZREVRANGEBYSCORE k 1 0"),
    ("zset", "ZRANGEBYLEX k - +"),
    ("zset", "ZREVRANGEBYLEX k + -"),
    ("zset", "ZREMRANGEBYRANK k 0 1"),
    ("zset", "ZREMRANGEBYSCORE k 0 1"),
    ("zset", "ZREMRANGEBYLEX k - +"),
    ("zset", "ZPOPMIN k"),
    ("zset", "ZPOPMAX k 2"),
    ("zset", "ZMPOP 1 k MIN"),
    ("zset", "BZPOPMIN k 0"),
    ("zset", "BZMPOP 0 1 k MAX"),
    ("zset", "ZRANDMEMBER k"),
    ("zset", "ZRANDMEMBER k -2 WITHSCORES"),
    ("zset", "ZSCAN k 0"),
];

/// Sorted-set algebra takes sets and sorted sets: WRONGTYPE only for the other types.
const ZSET_OR_SET: &[&str] = &[
    "ZUNION 1 k",
    "ZINTER 1 k",
    "ZDIFF 1 k",
    "ZUNIONSTORE d 1 k",
    "ZINTERSTORE d 1 k",
    "ZDIFFSTORE d 1 k",
    "ZINTERCARD 1 k",
];

const MAKERS: &[(&str, &str)] = &[
    ("string", "SET k v"),
    ("hash", "HSET k f 1"),
    ("list", "RPUSH k a b"),
    ("set", "SADD k m n"),
    ("zset", "ZADD k 1 m 2 n"),
];

#[test]
fn wrongtype_matrix() {
    let mut checked = 0;
    for (ty, make) in MAKERS {
        for (want_ty, cmd) in COMMANDS {
            if ty == want_ty {
                continue;
            }
            let mut ks = Keyspace::default();
            run(&mut ks, make, ctx(1));
            let before = ks.clone();
            let got = run(&mut ks, cmd, ctx(1));
            assert_eq!(got, Value::Error(WRONGTYPE.into()), "{cmd} on a {ty}");
            assert_eq!(
                ks.digest(),
                before.digest(),
                "{cmd} on a {ty} changed the state"
            );
            checked += 1;
        }
    }
    assert!(checked > 150);
    for (ty, make) in MAKERS {
        for cmd in ZSET_OR_SET {
            let mut ks = Keyspace::default();
            run(&mut ks, make, ctx(1));
            let got = run(&mut ks, cmd, ctx(1));
            let wrong = got == Value::Error(WRONGTYPE.into());
            assert_eq!(wrong, *ty != "set" && *ty != "zset", "{cmd} on a {ty}");
        }
    }
}

#[test]
fn every_table_command_has_a_sane_spec() {
    for c in keyspace::commands() {
        assert_eq!(c.name, c.name.to_lowercase());
        assert!(c.arity != 0, "{}", c.name);
        assert!(std::ptr::eq(
            keyspace::lookup(c.name.to_uppercase().as_bytes()).unwrap(),
            c
        ));
    }
    assert!(keyspace::lookup(b"nosuchcommand").is_none());
    assert!(keyspace::lookup(&[b'a'; 100]).is_none());
}

// Goal: routing sees every key of a command, including those after a numkeys argument or
// behind STORE. Method: ask key_positions for each shape.
#[test]
fn key_positions_cover_every_shape() {
    let args = |line: &str| -> Vec<bytes::Bytes> {
        line.split(' ')
            .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    };
    assert_eq!(keyspace::key_positions(&args("GET a")), vec![1]);
    assert_eq!(keyspace::key_positions(&args("MSET a 1 b 2")), vec![1, 3]);
    assert_eq!(keyspace::key_positions(&args("DEL a b c")), vec![1, 2, 3]);
    assert_eq!(keyspace::key_positions(&args("PING")), Vec::<usize>::new());
    assert_eq!(
        keyspace::key_positions(&args("NOSUCH a")),
        Vec::<usize>::new()
    );
    assert_eq!(keyspace::key_positions(&args("BZPOPMIN a b 0")), vec![1, 2]);
    assert_eq!(
        keyspace::key_positions(&args("BZMPOP 0 2 a b MIN")),
        vec![3, 4]
    );
    assert_eq!(keyspace::key_positions(&args("ZMPOP 1 a MAX")), vec![2]);
    assert_eq!(
        keyspace::key_positions(&args("ZRANGESTORE d s 0 1")),
        vec![1, 2]
    );
    assert_eq!(
        keyspace::key_positions(&args("ZUNIONSTORE d 2 a b WEIGHTS 1 2")),
        vec![1, 3, 4]
    );
    assert_eq!(
        keyspace::key_positions(&args("ZINTERCARD 2 a b LIMIT 1")),
        vec![2, 3]
    );
    // Stream reads: the first half of what follows STREAMS (a key named like an option
    // counts as a key once STREAMS is passed; BLOCK's and COUNT's values are skipped).
    assert_eq!(
        keyspace::key_positions(&args("XREAD COUNT 2 BLOCK 0 STREAMS a streams 0 $")),
        vec![6, 7]
    );
    assert_eq!(
        keyspace::key_positions(&args("XREADGROUP GROUP streams c STREAMS a >")),
        vec![5]
    );
    assert_eq!(
        keyspace::key_positions(&args("XGROUP CREATE s g $")),
        vec![2]
    );
    assert_eq!(
        keyspace::key_positions(&args("XINFO STREAM s FULL")),
        vec![2]
    );
    assert_eq!(
        keyspace::key_positions(&args("XINFO HELP")),
        Vec::<usize>::new()
    );
}
