// Goal: the keyspace is a pure function of (commands, contexts): replicas agree bit for bit.
// Method: generate seeded random command streams, apply them to two keyspaces (one restored from a
// mid-way snapshot), and compare replies and digests; also check no command panics on odd input.

mod common;

use bytes::Bytes;
use keyspace::{Context, Keyspace};

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

const CMDS: &[&str] = &[
    "SET",
    "GET",
    "DEL",
    "INCR",
    "INCRBYFLOAT",
    "APPEND",
    "SETRANGE",
    "GETRANGE",
    "EXPIRE",
    "PEXPIRE",
    "PERSIST",
    "TTL",
    "HSET",
    "HDEL",
    "HINCRBY",
    "HGETALL",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LRANGE",
    "LREM",
    "LTRIM",
    "LSET",
    "SADD",
    "SREM",
    "SPOP",
    "SRANDMEMBER",
    "SINTER",
    "SUNIONSTORE",
    "RENAME",
    "RANDOMKEY",
    "SCAN",
    "KEYS",
    "GETEX",
    "SET",
    "SMOVE",
    "LINSERT",
    "FLUSHDB",
    "EXISTS",
    "TYPE",
    "MSET",
    "GETDEL",
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZPOPMIN",
    "ZMPOP",
    "ZRANDMEMBER",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZREMRANGEBYRANK",
    "ZSCAN",
    "BZPOPMAX",
];
const WORDS: &[&str] = &[
    "k1",
    "k2",
    "k3",
    "h",
    "l",
    "s",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "-100",
    "1.5",
    "x",
    "*",
    "k?",
    "EX",
    "PX",
    "NX",
    "XX",
    "GET",
    "KEEPTTL",
    "GT",
    "LT",
    "BEFORE",
    "COUNT",
    "MATCH",
    "",
    "9223372036854775807",
    "\u{0}",
];

fn stream(seed: u64, n: usize) -> Vec<(Vec<Bytes>, Context)> {
    let mut g = Gen(seed);
    let mut now = 1_000u64;
    (0..n)
        .map(|i| {
            now += g.next() % 50;
            let mut a = vec![Bytes::from(g.pick(CMDS))];
            for _ in 0..(g.next() % 5) {
                a.push(Bytes::from(g.pick(WORDS)));
            }
            (
                a,
                Context {
                    now_ms: now,
                    seed: i as u64,
                },
            )
        })
        .collect()
}

#[test]
fn replicas_agree() {
    for seed in 0..20 {
        let cmds = stream(seed, 2000);
        let mut a = Keyspace::default();
        let mut b = Keyspace::default();
        for (i, (args, c)) in cmds.iter().enumerate() {
            let ra = a.apply(args, *c);
            if i == 1000 {
                b = Keyspace::decode(&a.encode()).unwrap();
                continue;
            }
            if i % 97 == 0 {
                a.expire_due(c.now_ms, 5);
                b.expire_due(c.now_ms, 5);
            }
            if i > 1000 {
                let rb = b.apply(args, *c);
                assert_eq!(ra, rb, "seed {seed} command {i}");
            } else {
                b.apply(args, *c);
            }
        }
        assert_eq!(a.digest(), b.digest(), "seed {seed}");
        assert_eq!(a, b);
        assert_eq!(a.memory_used(), a.memory_recount(), "seed {seed}");
        assert_eq!(a.memory_used(), b.memory_used(), "seed {seed}");
    }
}
