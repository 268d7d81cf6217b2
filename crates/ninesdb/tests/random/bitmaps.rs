//! Bitmap commands (Redis's `bitmap` group). Valid offsets stay small: a valid offset near
//! 2^32 bits would make Redis allocate 512 MB; the far ones are the invalid ones.

use super::gen::{on_key, Gen, BITMAPS, STRINGS};
use super::Cmd;

fn bit_offset(g: &mut Gen) -> String {
    if g.chance(88) {
        g.range(0, 80).to_string()
    } else {
        g.pick(&["-1", "4294967296", "abc", "1.5", "", "9223372036854775807"])
    }
}

/// A key of the bitmap pool, or now and then a string's (they are bitmaps too).
fn bit_key(g: &mut Gen) -> String {
    if g.chance(20) {
        g.key(STRINGS)
    } else {
        g.key(BITMAPS)
    }
}

/// A BITFIELD type: i1..i64, u1..u63, or a bad one.
fn field_type(g: &mut Gen) -> String {
    if g.chance(90) {
        let signed = g.chance(50);
        let bits = *g.rng.pick(&[1, 2, 3, 4, 5, 8, 15, 16, 31, 32, 33, 63, 64]);
        if !signed && bits == 64 {
            return "u63".to_owned();
        }
        format!("{}{bits}", if signed { "i" } else { "u" })
    } else {
        g.pick(&["u64", "i65", "i0", "x8", "", "u", "I8"])
    }
}

/// A BITFIELD offset: bits, `#n` (in units of the type's width), or bad.
fn field_offset(g: &mut Gen) -> String {
    match g.rng.below(10) {
        0..=5 => g.range(0, 40).to_string(),
        6..=7 => format!("#{}", g.range(0, 5)),
        _ => g.pick(&["-1", "#-1", "abc", "4294967296", "#4294967296", ""]),
    }
}

fn field_value(g: &mut Gen) -> String {
    g.pick(&[
        "0",
        "1",
        "-1",
        "5",
        "100",
        "127",
        "128",
        "-128",
        "255",
        "256",
        "65535",
        "9223372036854775807",
        "-9223372036854775808",
        "abc",
        "1.5",
    ])
}

fn range_unit(g: &mut Gen, c: &mut Cmd) {
    if g.chance(40) {
        c.arg(g.pick(&["BYTE", "BIT", "bit", "BITS"]));
    }
}

pub fn bitmaps(g: &mut Gen) -> Cmd {
    let k = bit_key(g);
    match g.rng.below(14) {
        0..=3 => {
            let mut c = on_key("SETBIT", &k);
            c.arg(bit_offset(g)).arg(if g.chance(92) {
                g.pick(&["0", "1", "1"])
            } else {
                g.pick(&["2", "-1", "abc"])
            });
            c
        }
        4 | 5 => {
            let mut c = on_key("GETBIT", &k);
            c.arg(bit_offset(g));
            c
        }
        6 | 7 => {
            let mut c = on_key("BITCOUNT", &k);
            if g.chance(60) {
                c.arg(g.index()).arg(g.index());
                range_unit(g, &mut c);
            } else if g.chance(10) {
                c.arg(g.index());
            }
            c
        }
        8 | 9 => {
            let mut c = on_key("BITPOS", &k);
            c.arg(if g.chance(92) {
                g.pick(&["0", "1"])
            } else {
                g.pick(&["2", "-1", "abc"])
            });
            if g.chance(60) {
                c.arg(g.index());
                if g.chance(60) {
                    c.arg(g.index());
                    range_unit(g, &mut c);
                }
            }
            c
        }
        10 => {
            let mut c = Cmd::new("BITOP");
            c.arg(g.pick(&["AND", "OR", "XOR", "NOT", "and", "NOT", "NAND"]));
            c.key(&bit_key(g));
            for _ in 0..1 + g.rng.below(3) {
                c.key(&bit_key(g));
            }
            c
        }
        _ => {
            let read_only = g.chance(25);
            let mut c = on_key(if read_only { "BITFIELD_RO" } else { "BITFIELD" }, &k);
            for _ in 0..g.rng.below(4) {
                match g.rng.below(if read_only { 5 } else { 11 }) {
                    0..=3 => c.arg("GET").arg(field_type(g)).arg(field_offset(g)),
                    4 => c.arg(g.pick(&["FOO", "GET", "SET"])),
                    5..=6 => c
                        .arg("SET")
                        .arg(field_type(g))
                        .arg(field_offset(g))
                        .arg(field_value(g)),
                    7..=8 => c
                        .arg("INCRBY")
                        .arg(field_type(g))
                        .arg(field_offset(g))
                        .arg(field_value(g)),
                    _ => c
                        .arg("OVERFLOW")
                        .arg(g.pick(&["WRAP", "SAT", "FAIL", "fail", "MAX"])),
                };
            }
            c
        }
    }
}
