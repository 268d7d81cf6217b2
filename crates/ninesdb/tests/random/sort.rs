//! SORT and SORT_RO over lists, sets and sorted sets, with BY/GET patterns that point at the
//! string keys (`s*`) and hash fields (`h*->a`) of the key space (members 1, 2, 3 name them).

use super::gen::{Gen, HASHES, LISTS, SETS, STRINGS, ZSETS};
use super::{Cmd, Mode};

pub fn sort(g: &mut Gen) -> Cmd {
    let pool = *g.rng.pick(&[LISTS, LISTS, SETS, ZSETS]);
    let key = g.key(pool);
    let read_only = g.chance(25);
    let mut c = Cmd::new(if read_only { "SORT_RO" } else { "SORT" });
    c.key(&key);
    c.align_encoding = read_only;
    let mut nosort = false;
    let mut by_weights = false;
    let mut limited = false;
    let mut store = None;
    let mut gets = 0;
    if g.chance(35) {
        let pattern = g.pick(&[
            "nosort",
            "s*",
            "h*->a",
            "h*->1",
            "missing_*",
            "s*->a",
            "nosort",
        ]);
        nosort = pattern == "nosort";
        by_weights = !nosort;
        c.arg("BY").arg(pattern);
        c.touches(STRINGS).touches(HASHES);
    }
    if g.chance(30) {
        c.arg("LIMIT")
            .arg(g.pick(&["0", "1", "2", "-1", "abc", "9223372036854775807"]));
        c.arg(g.pick(&["0", "1", "3", "-1", "abc", "9223372036854775807"]));
        limited = true;
    }
    for _ in 0..g.rng.below(3) {
        c.arg("GET")
            .arg(g.pick(&["#", "s*", "h*->a", "h*->b", "nokey*"]));
        c.touches(STRINGS).touches(HASHES);
        gets += 1;
    }
    if g.chance(30) {
        c.arg(g.pick(&["ASC", "DESC", "desc"]));
    }
    let alpha = g.chance(50);
    if alpha {
        c.arg("ALPHA");
    }
    if !read_only && g.chance(25) || g.chance(3) {
        let destination = g.key(LISTS);
        c.arg("STORE").key(&destination);
        store = Some(destination);
    }
    if g.chance(4) {
        c.arg(g.pick(&["FOO", "LIMIT", "BY", "GET"]));
    }
    // Where Redis's order is its hash tables' (which differs between two Redis processes):
    // a set BY nosort (unless stored: then Redis sorts it), and ALPHA BY weights, whose ties
    // keep the input order, a set's or a sorted set's hash order (SORT turns a sorted set into
    // a skiplist and reads its dict). With LIMIT, even which elements come out is unspecified.
    // (The key's type is not known here: a key named for lists may hold a set by now.)
    let unordered = (nosort && store.is_none()) || (alpha && by_weights);
    if unordered {
        c.mode(if limited {
            Mode::Length
        } else {
            Mode::Chunks(gets.max(1))
        });
        if let Some(destination) = store {
            c.resync = vec![destination];
        }
    }
    c.fragile();
    c
}
