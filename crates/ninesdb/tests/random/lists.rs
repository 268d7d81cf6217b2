//! List commands (Redis's `list` group) without the blocking ones (BLPOP, BRPOP, BLMOVE,
//! BLMPOP, BRPOPLPUSH: with no timeout they may hang, with one they add nothing the non-blocking
//! forms don't test). LPOS, LMOVE/RPOPLPUSH and LMPOP are families of their own.

use super::gen::{on_key, Gen, LISTS};
use super::Cmd;

pub fn lists(g: &mut Gen) -> Cmd {
    let k = g.key(LISTS);
    match g.rng.below(20) {
        0..=3 => {
            let name = g.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]);
            let mut c = on_key(&name, &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        4 | 5 => {
            let mut c = on_key(&g.pick(&["LPOP", "RPOP"]), &k);
            if g.chance(40) {
                c.arg(g.count());
            }
            c
        }
        6 => on_key("LLEN", &k),
        7..=9 => {
            let mut c = on_key("LRANGE", &k);
            if g.chance(30) {
                c.arg("0").arg("-1");
            } else {
                c.arg(g.index()).arg(g.index());
            }
            c
        }
        10 | 11 => {
            let mut c = on_key("LINDEX", &k);
            c.arg(g.index());
            c
        }
        12 | 13 => {
            let mut c = on_key("LSET", &k);
            c.arg(g.index()).arg(g.member());
            c
        }
        14 | 15 => {
            let mut c = on_key("LREM", &k);
            c.arg(g.pick(&[
                "0",
                "1",
                "2",
                "-1",
                "-2",
                "9223372036854775807",
                "-9223372036854775808",
                "abc",
            ]));
            c.arg(g.member());
            c
        }
        16 | 17 => {
            let mut c = on_key("LTRIM", &k);
            c.arg(g.index()).arg(g.index());
            c
        }
        _ => {
            let mut c = on_key("LINSERT", &k);
            c.arg(g.pick(&["BEFORE", "AFTER", "before", "after", "MIDDLE"]));
            c.arg(g.member()).arg(g.member());
            c
        }
    }
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len].
pub fn lpos(g: &mut Gen) -> Cmd {
    let k = g.key(LISTS);
    if g.chance(15) {
        // Lists with repeats, so RANK and COUNT have something to count.
        let mut c = on_key("RPUSH", &k);
        for m in ["a", "b", "a", "c", "a", "b"] {
            c.arg(m);
        }
        return c;
    }
    let mut c = on_key("LPOS", &k);
    c.arg(g.member());
    for _ in 0..g.rng.below(4) {
        match g.rng.below(7) {
            0 | 1 => c.arg("RANK").arg(g.pick(&[
                "1",
                "2",
                "-1",
                "-2",
                "0",
                "abc",
                "9223372036854775807",
                "-9223372036854775808",
            ])),
            2 | 3 => {
                c.arg("COUNT")
                    .arg(g.pick(&["0", "1", "2", "-1", "abc", "9223372036854775807"]))
            }
            4 | 5 => {
                c.arg("MAXLEN")
                    .arg(g.pick(&["0", "1", "3", "-1", "abc", "9223372036854775807"]))
            }
            _ => c.arg(g.pick(&["FOO", "RANK", "count"])),
        };
    }
    c
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH source destination.
pub fn lmove(g: &mut Gen) -> Cmd {
    if g.chance(25) {
        let mut c = Cmd::new("RPOPLPUSH");
        c.key(&g.key(LISTS)).key(&g.key(LISTS));
        return c;
    }
    let mut c = Cmd::new("LMOVE");
    c.key(&g.key(LISTS)).key(&g.key(LISTS));
    let side = ["LEFT", "RIGHT", "left", "right", "LEFT", "RIGHT", "UP"];
    c.arg(g.pick(&side)).arg(g.pick(&side));
    c
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count].
pub fn lmpop(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("LMPOP");
    let keys = g.keys(LISTS, 3);
    let numkeys = match g.rng.below(10) {
        0 => g.pick(&["0", "-1", "abc", "9223372036854775807", "4"]),
        1 => (keys.len() + 1).to_string(),
        _ => keys.len().to_string(),
    };
    c.arg(numkeys);
    for key in &keys {
        c.key(key);
    }
    c.arg(g.pick(&["LEFT", "RIGHT", "left", "RIGHT", "MIDDLE"]));
    if g.chance(50) {
        c.arg("COUNT")
            .arg(g.pick(&["1", "2", "3", "0", "-1", "abc", "9223372036854775807"]));
    }
    if g.chance(5) {
        c.arg(g.pick(&["COUNT", "FOO"]));
    }
    c
}
