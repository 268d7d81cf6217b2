//! Stream commands (Redis's `stream` group). Ids are explicit (a `*` id would be each
//! server's clock), idle times are 0 or far beyond any test's length, and replies that
//! carry times (XPENDING's extended form, XINFO CONSUMERS, XINFO STREAM FULL) are compared
//! by shape only: everything else must be equal, including the node layout that approximate
//! trimming and XINFO STREAM show.

use super::gen::{Gen, STREAMS};
use super::{Cmd, Mode};

const GROUPS: &[&str] = &["g1", "g2"];
const CONSUMERS: &[&str] = &["c1", "c2", "c3"];
const FIELDS: &[&str] = &["f", "g", "1", "", "x y"];

fn stream_key(g: &mut Gen) -> String {
    g.key(STREAMS)
}

/// An entry id: `ms-seq` over a small range (so they collide and go out of order), `ms`,
/// `ms-*`, an edge, or not an id.
fn id(g: &mut Gen) -> String {
    match g.rng.below(100) {
        0..=59 => format!("{}-{}", g.range(0, 40), g.range(0, 3)),
        60..=69 => g.range(0, 40).to_string(),
        70..=74 => format!("{}-*", g.range(0, 40)),
        75..=79 => g.pick(&["-", "+", "$", ">", "0", "0-0"]),
        80..=84 => g.pick(&[
            "18446744073709551615-18446744073709551615",
            "18446744073709551615",
        ]),
        85..=89 => format!("({}-{}", g.range(0, 40), g.range(0, 3)),
        _ => g.pick(&["abc", "1-x", "-1", "", "1--1"]),
    }
}

/// XADD's id: mostly increasing explicit ids, so streams grow.
fn add_id(g: &mut Gen) -> String {
    match g.rng.below(100) {
        0..=69 => format!("{}-{}", g.range(0, 300), g.range(0, 3)),
        70..=84 => format!("{}-*", g.range(0, 300)),
        _ => id(g),
    }
}

fn trim_options(g: &mut Gen, c: &mut Cmd) {
    let strategy = g.pick(&["MAXLEN", "MINID", "maxlen"]);
    c.arg(strategy.clone());
    if g.chance(50) {
        c.arg(g.pick(&["~", "=", "~", "~"]));
    }
    if strategy.eq_ignore_ascii_case("maxlen") {
        c.arg(g.pick(&["0", "1", "3", "10", "50", "-1", "abc"]));
    } else {
        c.arg(id(g));
    }
    if g.chance(20) {
        c.arg("LIMIT").arg(g.pick(&["0", "1", "5", "100", "-1"]));
    }
}

fn xadd(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XADD");
    c.key(&stream_key(g));
    if g.chance(10) {
        c.arg("NOMKSTREAM");
    }
    if g.chance(15) {
        trim_options(g, &mut c);
    }
    c.arg(add_id(g));
    for _ in 0..1 + g.rng.below(3) {
        c.arg(g.pick(FIELDS)).arg(g.value());
    }
    c
}

fn range(g: &mut Gen, name: &str) -> Cmd {
    let mut c = Cmd::new(name);
    c.key(&stream_key(g)).arg(id(g)).arg(id(g));
    if g.chance(30) {
        c.arg("COUNT").arg(g.count());
    }
    c
}

fn read(g: &mut Gen, group: bool) -> Cmd {
    let mut c = Cmd::new(if group { "XREADGROUP" } else { "XREAD" });
    if group {
        c.arg("GROUP").arg(g.pick(GROUPS)).arg(g.pick(CONSUMERS));
        if g.chance(15) {
            c.arg("NOACK");
        }
    }
    if g.chance(40) {
        c.arg("COUNT").arg(g.count());
    }
    c.arg("STREAMS");
    let keys: Vec<String> = (0..1 + g.rng.below(2)).map(|_| stream_key(g)).collect();
    for key in &keys {
        c.key(key);
    }
    for _ in &keys {
        let want = match (group, g.rng.below(10)) {
            (true, 0..=6) => ">".to_owned(),
            (false, 0..=2) => "$".to_owned(),
            _ => id(g),
        };
        c.arg(want);
    }
    c
}

fn xgroup(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XGROUP");
    let sub = g.pick(&[
        "CREATE",
        "CREATE",
        "SETID",
        "DESTROY",
        "CREATECONSUMER",
        "DELCONSUMER",
    ]);
    c.arg(sub.clone());
    c.key(&stream_key(g)).arg(g.pick(GROUPS));
    match sub.as_str() {
        "CREATE" | "SETID" => {
            c.arg(if g.chance(30) { "$".to_owned() } else { id(g) });
            if sub == "CREATE" && g.chance(40) {
                c.arg("MKSTREAM");
            }
            if g.chance(15) {
                c.arg("ENTRIESREAD")
                    .arg(g.pick(&["0", "3", "-1", "-2", "abc"]));
            }
        }
        "CREATECONSUMER" | "DELCONSUMER" => {
            c.arg(g.pick(CONSUMERS));
        }
        _ => {}
    }
    c
}

fn claim(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XCLAIM");
    c.key(&stream_key(g))
        .arg(g.pick(GROUPS))
        .arg(g.pick(CONSUMERS));
    c.arg(g.pick(&["0", "0", "1000000000", "abc"]));
    for _ in 0..1 + g.rng.below(3) {
        c.arg(id(g));
    }
    for _ in 0..g.rng.below(3) {
        match g.rng.below(7) {
            0 => c.arg("FORCE"),
            1 => c.arg("JUSTID"),
            2 => c.arg("IDLE").arg(g.pick(&["0", "5000000000"])),
            3 => c.arg("TIME").arg(g.pick(&["1", "99999999999999"])),
            4 => c.arg("RETRYCOUNT").arg(g.pick(&["0", "5", "abc"])),
            5 => c.arg("LASTID").arg(id(g)),
            _ => c.arg("BOGUS"),
        };
    }
    c
}

fn autoclaim(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XAUTOCLAIM");
    c.key(&stream_key(g))
        .arg(g.pick(GROUPS))
        .arg(g.pick(CONSUMERS));
    c.arg(g.pick(&["0", "0", "1000000000", "abc"])).arg(id(g));
    if g.chance(40) {
        c.arg("COUNT")
            .arg(g.pick(&["1", "2", "10", "0", "-1", "abc"]));
    }
    if g.chance(30) {
        c.arg("JUSTID");
    }
    c
}

fn pending(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XPENDING");
    c.key(&stream_key(g)).arg(g.pick(GROUPS));
    if g.chance(50) {
        // The extended form reports idle times: its shape must agree.
        c.mode(Mode::Shape);
        if g.chance(20) {
            c.arg("IDLE").arg(g.pick(&["0", "1000000000"]));
        }
        c.arg(id(g)).arg(id(g)).arg(g.count());
        if g.chance(40) {
            c.arg(g.pick(CONSUMERS));
        }
    }
    c
}

fn info(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("XINFO");
    match g.rng.below(5) {
        0 | 1 => {
            c.arg("STREAM").key(&stream_key(g));
        }
        2 => {
            c.arg("STREAM")
                .key(&stream_key(g))
                .arg("FULL")
                .mode(Mode::Shape);
        }
        3 => {
            c.arg("GROUPS").key(&stream_key(g));
        }
        _ => {
            c.arg("CONSUMERS")
                .key(&stream_key(g))
                .arg(g.pick(GROUPS))
                .mode(Mode::Shape);
        }
    }
    c
}

pub fn streams(g: &mut Gen) -> Cmd {
    match g.rng.below(24) {
        0..=6 => xadd(g),
        7 => range(g, "XRANGE"),
        8 => range(g, "XREVRANGE"),
        9 => {
            let mut c = Cmd::new("XLEN");
            c.key(&stream_key(g));
            c
        }
        10 => {
            let mut c = Cmd::new("XDEL");
            c.key(&stream_key(g));
            for _ in 0..1 + g.rng.below(3) {
                c.arg(id(g));
            }
            c
        }
        11 => {
            let mut c = Cmd::new("XTRIM");
            c.key(&stream_key(g));
            trim_options(g, &mut c);
            c
        }
        12 => read(g, false),
        13..=15 => read(g, true),
        16 => xgroup(g),
        17 => {
            let mut c = Cmd::new("XACK");
            c.key(&stream_key(g)).arg(g.pick(GROUPS));
            for _ in 0..1 + g.rng.below(3) {
                c.arg(id(g));
            }
            c
        }
        18 => pending(g),
        19 => claim(g),
        20 => autoclaim(g),
        21 => info(g),
        _ => {
            let mut c = Cmd::new("XSETID");
            c.key(&stream_key(g)).arg(id(g));
            if g.chance(20) {
                c.arg("ENTRIESADDED").arg(g.pick(&["0", "5", "100", "-1"]));
            }
            if g.chance(20) {
                c.arg("MAXDELETEDID").arg(id(g));
            }
            c
        }
    }
}
