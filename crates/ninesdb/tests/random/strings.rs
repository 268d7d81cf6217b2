//! String commands (Redis's `string` group), LCS apart.

use super::gen::{on_key, Gen, STRINGS};
use super::Cmd;

/// SET's expiry options: one valid, sometimes two or a bad one (a syntax error on both sides).
fn expiry_option(g: &mut Gen, c: &mut Cmd, with_persist: bool) {
    c.settle = true;
    match g.rng.below(if with_persist { 6 } else { 5 }) {
        0 => c.arg("EX").arg(g.ttl_secs()),
        1 => c.arg("PX").arg(g.ttl_ms()),
        2 => c.arg("EXAT").arg(g.unix_secs()),
        3 => c.arg("PXAT").arg(g.unix_ms()),
        4 => c.arg(if with_persist { "EX" } else { "KEEPTTL" }),
        _ => c.arg("PERSIST"),
    };
}

pub fn strings(g: &mut Gen) -> Cmd {
    let k = g.key(STRINGS);
    match g.rng.below(25) {
        0 | 1 => on_key("GET", &k),
        2..=4 => {
            let mut c = on_key("SET", &k);
            c.arg(g.value());
            for _ in 0..g.rng.below(3) {
                match g.rng.below(6) {
                    0 => c.arg("NX"),
                    1 => c.arg("XX"),
                    2 => c.arg("GET"),
                    3 => c.arg(g.pick(&["KEEPTTL", "keepttl", "FOO", "PXAT"])),
                    _ => {
                        expiry_option(g, &mut c, false);
                        &mut c
                    }
                };
            }
            c
        }
        5 => {
            let mut c = on_key("SETNX", &k);
            c.arg(g.value());
            c
        }
        6 => {
            let (name, ttl) = if g.chance(50) {
                ("SETEX", g.ttl_secs())
            } else {
                ("PSETEX", g.ttl_ms())
            };
            let mut c = on_key(name, &k);
            c.arg(ttl).arg(g.value());
            c
        }
        7 => {
            let mut c = Cmd::new("MGET");
            for key in g.keys(STRINGS, 4) {
                c.key(&key);
            }
            c
        }
        8 | 9 => {
            let mut c = Cmd::new(if g.chance(70) { "MSET" } else { "MSETNX" });
            for key in g.keys(STRINGS, 3) {
                c.key(&key).arg(g.value());
            }
            c
        }
        10 => {
            let mut c = on_key("GETSET", &k);
            c.arg(g.value());
            c
        }
        11 => on_key("GETDEL", &k),
        12 => {
            let mut c = on_key("GETEX", &k);
            if g.chance(60) {
                expiry_option(g, &mut c, true);
            }
            if g.chance(10) {
                c.arg(g.pick(&["PERSIST", "EX", "FOO"]));
            }
            c
        }
        13 | 14 => {
            let mut c = on_key("APPEND", &k);
            c.arg(g.value());
            c
        }
        15 => on_key("STRLEN", &k),
        16 => on_key(&g.pick(&["INCR", "DECR"]), &k),
        17 | 18 => {
            let mut c = on_key(&g.pick(&["INCRBY", "DECRBY"]), &k);
            c.arg(g.int());
            c
        }
        19 | 20 => {
            let mut c = on_key("INCRBYFLOAT", &k);
            c.arg(g.float());
            c
        }
        21 | 22 => {
            let mut c = on_key(&g.pick(&["GETRANGE", "SUBSTR"]), &k);
            c.arg(g.index()).arg(g.index());
            c
        }
        _ => {
            let mut c = on_key("SETRANGE", &k);
            // Only small offsets with a value: a valid offset near 512 MB would make Redis
            // allocate it. The far ones go with an empty value (no write) or are invalid.
            match g.rng.below(10) {
                0 => c
                    .arg(g.pick(&["536870911", "536870912", "9223372036854775807"]))
                    .arg(""),
                1 => c
                    .arg(g.pick(&["-1", "536870912", "abc", "4294967296"]))
                    .arg("x"),
                _ => c.arg(g.range(0, 12).to_string()).arg(g.value()),
            };
            c
        }
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN].
pub fn lcs(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("LCS");
    c.key(&g.key(STRINGS)).key(&g.key(STRINGS));
    if g.chance(10) {
        // Two strings chosen so that they share something, set by the same command list.
        let mut c = Cmd::new("MSET");
        for key in ["s1", "s2"] {
            c.key(key)
                .arg(g.pick(&["ohmytext", "mynewtext", "abcabc", "bcaxbc", "", "a"]));
        }
        return c;
    }
    for _ in 0..g.rng.below(4) {
        match g.rng.below(6) {
            0 => c.arg("LEN"),
            1 | 2 => c.arg("IDX"),
            3 => c.arg("MINMATCHLEN").arg(g.pick(&[
                "0",
                "1",
                "2",
                "4",
                "-1",
                "abc",
                "9223372036854775807",
            ])),
            4 => c.arg("WITHMATCHLEN"),
            _ => c.arg(g.pick(&["FOO", "MINMATCHLEN", "len"])),
        };
    }
    c
}
