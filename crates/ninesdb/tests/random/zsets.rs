//! Sorted-set commands (Redis's `sorted-set` group) without the blocking ones (BZPOPMIN,
//! BZPOPMAX, BZMPOP).

use super::gen::{on_key, Gen, RANDOM_COUNTS, SETS, ZSETS};
use super::{Cmd, Mode};

/// A score: small numbers mostly, infinities and bad ones sometimes.
fn score(g: &mut Gen) -> String {
    if g.chance(80) {
        g.pick(&["0", "1", "2", "3", "-1", "1.5", "2.5", "10", "-0.5"])
    } else {
        g.pick(&[
            "inf",
            "-inf",
            "+inf",
            "nan",
            "abc",
            "",
            "1e400",
            "-0",
            "1e-3",
            "0x10",
            "17976931348623157e292",
        ])
    }
}

/// A score range bound: inclusive, exclusive, infinite, or bad.
fn score_bound(g: &mut Gen) -> String {
    match g.rng.below(10) {
        0..=3 => g.pick(&["0", "1", "2", "3", "-1", "1.5", "10"]),
        4..=5 => format!("({}", g.pick(&["0", "1", "2", "1.5", "-inf", "+inf"])),
        6..=8 => g.pick(&["-inf", "+inf", "inf", "-inf"]),
        _ => g.pick(&["abc", "(", "((1", "nan", "(nan", "[1", ""]),
    }
}

/// The keys of the lexicographic commands. Redis leaves a lex range unspecified when scores
/// differ, and then answers by its skiplist's random shape (two Redis processes disagree), so
/// these commands get keys of their own that no other family writes: a sorted set whose
/// scores are all 0, a string (wrong type) and a key never written.
const LEX: &str = "zlex";
const LEX_STRING: &str = "zlexs";
const LEX_MISSING: &str = "zlexnone";

fn lex_key(g: &mut Gen) -> String {
    match g.rng.below(10) {
        0 => LEX_STRING.to_owned(),
        1 => LEX_MISSING.to_owned(),
        _ => LEX.to_owned(),
    }
}

/// Fills the lex keys: members with score 0, or the string.
fn lex_write(g: &mut Gen) -> Cmd {
    if g.chance(10) {
        let mut c = on_key("SET", LEX_STRING);
        c.arg(g.value());
        return c;
    }
    let mut c = on_key(if g.chance(75) { "ZADD" } else { "ZREM" }, LEX);
    for m in g.members(3) {
        if c.args[0] == "ZADD" {
            c.arg("0");
        }
        c.arg(m);
    }
    c
}

/// A lexicographic range bound: `[x`, `(x`, `-`, `+`, or bad.
fn lex_bound(g: &mut Gen) -> String {
    match g.rng.below(10) {
        0..=3 => format!("[{}", g.member()),
        4..=5 => format!("({}", g.member()),
        6..=8 => g.pick(&["-", "+"]),
        _ => g.pick(&["a", "", "[", "(", "1", "--"]),
    }
}

fn limit(g: &mut Gen, c: &mut Cmd) {
    if g.chance(30) {
        c.arg("LIMIT")
            .arg(g.pick(&["0", "1", "2", "-1", "abc", "9223372036854775807"]));
        c.arg(g.pick(&["0", "1", "2", "-1", "-5", "abc", "9223372036854775807"]));
    }
}

fn numkeys_and_keys(g: &mut Gen, c: &mut Cmd) {
    // Sets count as sorted sets with score 1 in ZUNION and friends.
    let keys: Vec<String> = (0..1 + g.rng.below(3))
        .map(|_| {
            if g.chance(15) {
                g.key(SETS)
            } else {
                g.key(ZSETS)
            }
        })
        .collect();
    let numkeys = match g.rng.below(12) {
        0 => g.pick(&["0", "-1", "abc", "9223372036854775807"]),
        1 => (keys.len() + 1).to_string(),
        _ => keys.len().to_string(),
    };
    c.arg(numkeys);
    for key in &keys {
        c.key(key);
    }
    if g.chance(25) {
        c.arg("WEIGHTS");
        for _ in 0..keys.len() + usize::from(g.chance(10)) {
            c.arg(g.pick(&["1", "2", "0", "-1", "0.5", "inf", "nan", "abc"]));
        }
    }
    if g.chance(25) {
        c.arg("AGGREGATE")
            .arg(g.pick(&["SUM", "MIN", "MAX", "min", "AVG"]));
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(g: &mut Gen, k: &str) -> Cmd {
    let mut c = on_key("ZADD", k);
    for flag in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
        if g.chance(12) {
            c.arg(flag);
        }
    }
    for _ in 0..1 + g.rng.below(3) {
        c.arg(score(g)).arg(g.member());
    }
    if g.chance(4) {
        c.arg(score(g));
    }
    c
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES], and
/// ZRANGESTORE dst src (the same without WITHSCORES).
fn zrange(g: &mut Gen, k: &str, store: bool) -> Cmd {
    let mut c = if store {
        let mut c = Cmd::new("ZRANGESTORE");
        c.key(&g.key(ZSETS)).key(k);
        c
    } else {
        on_key("ZRANGE", k)
    };
    let by = g.rng.below(3);
    if by == 2 {
        // BYLEX: on the lex keys only (see `LEX`).
        let source = lex_key(g);
        let at = c.args.len() - 1;
        c.keys.retain(|key| key != k);
        c.args[at].clone_from(&source);
        c.keys.push(source);
    }
    let (min, max) = match by {
        0 => (g.index(), g.index()),
        1 => (score_bound(g), score_bound(g)),
        _ => (lex_bound(g), lex_bound(g)),
    };
    c.arg(min).arg(max);
    match by {
        1 => c.arg("BYSCORE"),
        2 => c.arg("BYLEX"),
        _ => &mut c,
    };
    if g.chance(30) {
        c.arg("REV");
    }
    limit(g, &mut c);
    if !store && g.chance(40) || g.chance(3) {
        c.arg("WITHSCORES");
    }
    if g.chance(4) {
        c.arg(g.pick(&["BYSCORE", "BYLEX", "FOO"]));
    }
    c
}

pub fn zsets(g: &mut Gen) -> Cmd {
    let k = g.key(ZSETS);
    match g.rng.below(40) {
        0..=5 => zadd(g, &k),
        6 => on_key("ZCARD", &k),
        7 => {
            let mut c = on_key("ZCOUNT", &k);
            c.arg(score_bound(g)).arg(score_bound(g));
            c
        }
        8 | 9 => {
            let mut c = on_key("ZINCRBY", &k);
            c.arg(score(g)).arg(g.member());
            c
        }
        10 => {
            let mut c = on_key("ZSCORE", &k);
            c.arg(g.member());
            c
        }
        11 => {
            let mut c = on_key("ZMSCORE", &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        12 | 13 => {
            let mut c = on_key(&g.pick(&["ZRANK", "ZREVRANK"]), &k);
            c.arg(g.member());
            if g.chance(10) {
                c.arg("WITHSCORE");
            }
            c
        }
        14 | 15 => {
            let mut c = on_key("ZREM", &k);
            for m in g.members(3) {
                c.arg(m);
            }
            c
        }
        16 => {
            let mut c = on_key("ZREMRANGEBYRANK", &k);
            c.arg(g.index()).arg(g.index());
            c
        }
        17 => {
            let mut c = on_key("ZREMRANGEBYSCORE", &k);
            c.arg(score_bound(g)).arg(score_bound(g));
            c
        }
        18 if g.chance(30) => lex_write(g),
        18 => {
            let mut c = on_key(&g.pick(&["ZREMRANGEBYLEX", "ZLEXCOUNT"]), &lex_key(g));
            c.arg(lex_bound(g)).arg(lex_bound(g));
            c
        }
        19..=21 => zrange(g, &k, false),
        22 => zrange(g, &k, true),
        23 => {
            let mut c = on_key(&g.pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), &k);
            c.arg(score_bound(g)).arg(score_bound(g));
            if g.chance(40) {
                c.arg("WITHSCORES");
            }
            limit(g, &mut c);
            c
        }
        24 if g.chance(30) => lex_write(g),
        24 => {
            let mut c = on_key(&g.pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), &lex_key(g));
            c.arg(lex_bound(g)).arg(lex_bound(g));
            limit(g, &mut c);
            c
        }
        25 => {
            let mut c = on_key("ZREVRANGE", &k);
            c.arg(g.index()).arg(g.index());
            if g.chance(40) {
                c.arg("WITHSCORES");
            }
            c
        }
        26 | 27 => {
            let mut c = on_key(&g.pick(&["ZPOPMIN", "ZPOPMAX"]), &k);
            if g.chance(50) {
                c.arg(g.count());
            }
            c
        }
        28 => {
            let mut c = Cmd::new("ZMPOP");
            let keys = g.keys(ZSETS, 3);
            c.arg(if g.chance(90) {
                keys.len().to_string()
            } else {
                g.pick(&["0", "-1", "abc", "5"])
            });
            for key in &keys {
                c.key(key);
            }
            c.arg(g.pick(&["MIN", "MAX", "min", "max", "MID"]));
            if g.chance(50) {
                c.arg("COUNT").arg(g.pick(&[
                    "1",
                    "2",
                    "3",
                    "0",
                    "-1",
                    "abc",
                    "9223372036854775807",
                ]));
            }
            c
        }
        29 => {
            let mut c = on_key("ZRANDMEMBER", &k);
            if g.chance(75) {
                // Negative counts repeat members: only small ones (Redis would build the reply).
                c.arg(g.pick(RANDOM_COUNTS));
                if g.chance(50) {
                    c.arg(g.pick(&["WITHSCORES", "withscores", "WITHVALUES"]));
                }
            }
            c.mode(Mode::Shape);
            c
        }
        30 | 31 => {
            let mut c = Cmd::new(&g.pick(&["ZUNION", "ZINTER", "ZDIFF"]));
            numkeys_and_keys(g, &mut c);
            if g.chance(50) {
                c.arg("WITHSCORES");
            }
            c
        }
        32 | 33 => {
            let mut c = Cmd::new(&g.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]));
            c.key(&g.key(ZSETS));
            numkeys_and_keys(g, &mut c);
            c
        }
        34 => {
            let mut c = Cmd::new("ZINTERCARD");
            numkeys_and_keys(g, &mut c);
            if g.chance(50) {
                c.arg("LIMIT").arg(g.pick(&["0", "1", "2", "-1", "abc"]));
            }
            c
        }
        35 => {
            let mut c = on_key("ZSCAN", &k);
            // SORT turns a small sorted set into a skiplist with a dict: scanned like a set.
            c.arg(g.cursor(true));
            g.scan_tail(&mut c, true, false, false);
            c.mode(Mode::ScanPairs);
            c
        }
        _ => zadd(g, &k),
    }
}
