//! Hash commands (Redis's `hash` group); HRANDFIELD is a family of its own.

use super::gen::{on_key, Gen, HASHES, RANDOM_COUNTS};
use super::{Cmd, Mode};

pub fn hashes(g: &mut Gen) -> Cmd {
    let k = g.key(HASHES);
    match g.rng.below(22) {
        0..=3 => {
            let mut c = on_key(if g.chance(80) { "HSET" } else { "HMSET" }, &k);
            for _ in 0..1 + g.rng.below(3) {
                c.arg(g.member()).arg(g.value());
            }
            c
        }
        4 => {
            let mut c = on_key("HSETNX", &k);
            c.arg(g.member()).arg(g.value());
            c
        }
        5 | 6 => {
            let mut c = on_key("HGET", &k);
            c.arg(g.member());
            c
        }
        7 => {
            let mut c = on_key("HMGET", &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        8 | 9 => {
            let mut c = on_key("HDEL", &k);
            for m in g.members(2) {
                c.arg(m);
            }
            c
        }
        10 => {
            let mut c = on_key("HEXISTS", &k);
            c.arg(g.member());
            c
        }
        11 => {
            let mut c = on_key("HGETALL", &k);
            c.mode(Mode::Pairs);
            c
        }
        12 => {
            let mut c = on_key(&g.pick(&["HKEYS", "HVALS"]), &k);
            c.mode(Mode::Sorted);
            c
        }
        13 => on_key("HLEN", &k),
        14 => {
            let mut c = on_key("HSTRLEN", &k);
            c.arg(g.member());
            c
        }
        15..=17 => {
            let mut c = on_key("HINCRBY", &k);
            c.arg(g.member()).arg(g.int());
            c
        }
        18 | 19 => {
            let mut c = on_key("HINCRBYFLOAT", &k);
            c.arg(g.member()).arg(g.float());
            c
        }
        _ => {
            let mut c = on_key("HSCAN", &k);
            // A hash with a value over 64 bytes is a hash table in Redis: scanned like a set.
            c.arg(g.cursor(true));
            g.scan_tail(&mut c, true, false, true);
            c.mode(Mode::ScanPairs);
            c
        }
    }
}

/// HRANDFIELD key [count [WITHVALUES]]: random, so compared by shape.
pub fn hrandfield(g: &mut Gen) -> Cmd {
    let mut c = on_key("HRANDFIELD", &g.key(HASHES));
    if g.chance(75) {
        // Negative counts repeat fields: only small ones (Redis would build the whole reply).
        c.arg(g.pick(RANDOM_COUNTS));
        if g.chance(50) {
            c.arg(g.pick(&["WITHVALUES", "withvalues", "WITHSCORES"]));
        }
    }
    c.mode(Mode::Shape);
    c
}
