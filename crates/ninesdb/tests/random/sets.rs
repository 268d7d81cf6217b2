//! Set commands (Redis's `set` group); SINTERCARD is a family of its own.

use super::gen::{on_key, Gen, RANDOM_COUNTS, SETS};
use super::{Cmd, Mode};

pub fn sets(g: &mut Gen) -> Cmd {
    let k = g.key(SETS);
    match g.rng.below(22) {
        0..=3 => {
            let mut c = on_key("SADD", &k);
            for m in g.members(4) {
                c.arg(m);
            }
            c
        }
        4 | 5 => {
            let mut c = on_key("SREM", &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        6 | 7 => {
            let mut c = on_key("SMEMBERS", &k);
            c.mode(Mode::Sorted);
            c
        }
        8 => {
            let mut c = on_key("SISMEMBER", &k);
            c.arg(g.member());
            c
        }
        9 => {
            let mut c = on_key("SMISMEMBER", &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        10 => on_key("SCARD", &k),
        11 => {
            // Which members leave is random: the key is deleted on both sides afterwards.
            let mut c = on_key("SPOP", &k);
            if g.chance(50) {
                c.arg(g.count());
            }
            c.mode(Mode::Shape).resync();
            c
        }
        12 => {
            let mut c = on_key("SRANDMEMBER", &k);
            if g.chance(70) {
                // Negative counts repeat members: only small ones (Redis would build the reply).
                c.arg(g.pick(RANDOM_COUNTS));
            }
            c.mode(Mode::Shape);
            c
        }
        13..=15 => {
            let mut c = Cmd::new(&g.pick(&["SINTER", "SUNION", "SDIFF"]));
            for key in g.keys(SETS, 3) {
                c.key(&key);
            }
            c.mode(Mode::Sorted);
            c
        }
        16 | 17 => {
            let mut c = Cmd::new(&g.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]));
            c.key(&g.key(SETS));
            for key in g.keys(SETS, 3) {
                c.key(&key);
            }
            c
        }
        18 | 19 => {
            let mut c = Cmd::new("SMOVE");
            c.key(&k).key(&g.key(SETS)).arg(g.member());
            c
        }
        _ => {
            let mut c = on_key("SSCAN", &k);
            c.arg(g.cursor(true));
            g.scan_tail(&mut c, true, false, false);
            c.mode(Mode::Scan);
            c
        }
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
pub fn sintercard(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("SINTERCARD");
    let keys = g.keys(SETS, 3);
    let numkeys = match g.rng.below(10) {
        0 => g.pick(&["0", "-1", "abc", "9223372036854775807"]),
        1 => (keys.len() + 1).to_string(),
        _ => keys.len().to_string(),
    };
    c.arg(numkeys);
    for key in &keys {
        c.key(key);
    }
    if g.chance(50) {
        c.arg("LIMIT")
            .arg(g.pick(&["0", "1", "2", "-1", "abc", "9223372036854775807"]));
    }
    if g.chance(5) {
        c.arg(g.pick(&["LIMIT", "FOO"]));
    }
    c
}
