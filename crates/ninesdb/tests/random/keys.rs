//! Generic key commands (Redis's `generic` group): DEL, EXISTS, TYPE, the expiry commands,
//! RENAME, KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHALL; and apart, as families of their own, EXPIRE's
//! NX/XX/GT/LT options, COPY, TOUCH and OBJECT.

use super::gen::{all_keys, near, on_key, Gen, STRINGS};
use super::{Cmd, Mode};

/// Generic commands aim at any key.
fn any_key(g: &mut Gen) -> String {
    g.pick(&all_keys())
}

/// A command that reads or writes the whole key space.
fn global(name: &str) -> Cmd {
    let mut c = Cmd::new(name);
    c.touches(&all_keys());
    c
}

pub fn keys(g: &mut Gen) -> Cmd {
    let k = any_key(g);
    match g.rng.below(24) {
        0 | 1 => {
            let mut c = Cmd::new(if g.chance(70) { "DEL" } else { "UNLINK" });
            for _ in 0..1 + g.rng.below(3) {
                c.key(&any_key(g));
            }
            c
        }
        2 | 3 => {
            let mut c = Cmd::new("EXISTS");
            for _ in 0..1 + g.rng.below(3) {
                c.key(&any_key(g));
            }
            c
        }
        4 | 5 => on_key("TYPE", &k),
        6 => {
            let mut c = on_key("EXPIRE", &k);
            c.arg(g.ttl_secs());
            c
        }
        7 => {
            let mut c = on_key("PEXPIRE", &k);
            c.arg(g.ttl_ms());
            c
        }
        8 => {
            let mut c = on_key("EXPIREAT", &k);
            c.arg(g.unix_secs());
            c
        }
        9 => {
            let mut c = on_key("PEXPIREAT", &k);
            c.arg(g.unix_ms());
            c
        }
        10 | 11 => {
            let name = g.pick(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
            let mut c = on_key(&name, &k);
            c.mode(near(name.starts_with('P')));
            c
        }
        12 => on_key("PERSIST", &k),
        13 | 14 => {
            let mut c = Cmd::new(if g.chance(60) { "RENAME" } else { "RENAMENX" });
            c.key(&k).key(&any_key(g));
            c
        }
        15 | 16 => {
            let mut c = global("KEYS");
            c.arg(g.pick(&[
                "*", "*1", "?2", "[st]*", "[^s]?", "h*", "nokey", "x", "[a-z]1", "\\s1", "*[", "",
            ]));
            c.mode(Mode::Sorted);
            c
        }
        17 | 18 => {
            let mut c = global("SCAN");
            c.arg(g.cursor(true));
            g.scan_tail(&mut c, true, true, false);
            c.mode(Mode::Scan);
            c
        }
        19 => global("DBSIZE"),
        20 => {
            let mut c = global("RANDOMKEY");
            c.mode(Mode::Shape);
            c
        }
        21 => {
            // Rare, or the key space would stay nearly empty.
            let mut c = global(if g.chance(50) { "FLUSHALL" } else { "FLUSHDB" });
            if g.chance(30) {
                c.arg(g.pick(&["ASYNC", "SYNC", "sync", "FOO"]));
            }
            if g.chance(80) {
                // Most of the time, a harmless global command in its place.
                let mut c = global("EXISTS");
                for key in ["s1", "l1", "t1", "h1", "z1"] {
                    c.arg(key);
                }
                return c;
            }
            c
        }
        _ => {
            // Keys built on purpose with a TTL, so TTL/PERSIST/RENAME have expiring keys to see.
            let mut c = on_key("SET", &k);
            c.arg(g.value()).arg("EX").arg(g.pick(&["1000", "86400"]));
            c
        }
    }
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX, XX, GT, LT (and bad combinations). Relative
/// times with GT/LT compare two "now + t", which may fall in the same millisecond on one side
/// only: their reply is compared by kind; the absolute forms are exact.
pub fn expire_options(g: &mut Gen) -> Cmd {
    let k = any_key(g);
    let (name, time, relative) = match g.rng.below(4) {
        0 => ("EXPIRE", g.ttl_secs(), true),
        1 => ("PEXPIRE", g.ttl_ms(), true),
        2 => ("EXPIREAT", g.unix_secs(), false),
        _ => ("PEXPIREAT", g.unix_ms(), false),
    };
    let mut c = on_key(name, &k);
    c.arg(time);
    for _ in 0..1 + g.rng.below(2) {
        let option = if g.chance(90) {
            g.pick(&["NX", "XX", "GT", "LT", "gt", "nx"])
        } else {
            g.pick(&["FOO", "", "EX"])
        };
        if relative && ["GT", "LT"].contains(&option.to_ascii_uppercase().as_str()) {
            c.mode(Mode::Shape);
        }
        c.arg(option);
    }
    c
}

/// COPY source destination [DB n] [REPLACE]; then reading the copy.
pub fn copy(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("COPY");
    c.key(&any_key(g)).key(&any_key(g));
    for _ in 0..g.rng.below(3) {
        match g.rng.below(5) {
            0 | 1 => c.arg(g.pick(&["REPLACE", "replace"])),
            // Other databases are left out: ninesdb has one (the reply would differ on purpose).
            2 => c
                .arg("DB")
                .arg(g.pick(&["0", "abc", "-1", "9223372036854775808"])),
            // A bare DB: a trailing argument drawn later must not turn it into `DB 1`.
            3 => c.arg("DB").fragile(),
            _ => c.arg("FOO"),
        };
    }
    c
}

pub fn touch(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("TOUCH");
    for _ in 0..1 + g.rng.below(4) {
        c.key(&any_key(g));
    }
    c
}

/// OBJECT ENCODING (its answer depends on sizes and contents: listpack, intset, int, embstr...)
/// and bad subcommands. IDLETIME, FREQ and REFCOUNT depend on the server's life, not the data.
pub fn object(g: &mut Gen) -> Cmd {
    match g.rng.below(10) {
        0..=7 => {
            let mut c = Cmd::new("OBJECT");
            c.arg(g.pick(&["ENCODING", "encoding"])).key(&any_key(g));
            c
        }
        8 => {
            // Strings of every encoding: small ints, short and long texts.
            let mut c = Cmd::new("SET");
            c.key(&g.key(STRINGS)).arg(g.pick(&[
                "12",
                "-3",
                "9223372036854775807",
                "abc",
                "0123",
                &"x".repeat(50),
                "1.5",
            ]));
            c
        }
        _ => {
            let mut c = Cmd::new("OBJECT");
            c.arg(g.pick(&["FOO", "ENCODING"]));
            if g.chance(50) {
                c.key(&any_key(g)).arg("extra");
            }
            c
        }
    }
}
