//! Drawing the pieces of a command: keys from a small key space, members, values and numbers,
//! valid most of the time and deliberately bad some of the time.
//!
//! Everything drawn is a function of the seed alone (never of a reply), so a seed and a command
//! count name one sequence: a mismatch at command N reproduces with the same seed and N + 1.

use super::{Cmd, Mode};

/// splitmix64: small, seedable, good enough to pick test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }
}

// The key space: a few keys per type, named by the type they usually hold. Commands mostly use
// their own type's keys and sometimes any key (a wrong type on purpose, or a missing key).
pub const STRINGS: &[&str] = &["s1", "s2", "s3"];
pub const LISTS: &[&str] = &["l1", "l2", "l3"];
pub const SETS: &[&str] = &["t1", "t2", "t3"];
pub const HASHES: &[&str] = &["h1", "h2", "h3"];
pub const ZSETS: &[&str] = &["z1", "z2", "z3"];
pub const BITMAPS: &[&str] = &["b1", "b2"];
pub const HLLS: &[&str] = &["p1", "p2"];
pub const GEOS: &[&str] = &["g1", "g2"];
pub const STREAMS: &[&str] = &["x1", "x2"];
/// A key that no command aims at on purpose (it appears by chance, as a random key).
pub const MISSING: &str = "nokey";
/// Counts for SRANDMEMBER, HRANDFIELD and ZRANDMEMBER: small ones (a negative count repeats
/// elements, and Redis would build the whole reply), the i64 edges and a non-number.
pub const RANDOM_COUNTS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "20",
    "-1",
    "-3",
    "-20",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
];

pub fn all_keys() -> Vec<&'static str> {
    [
        STRINGS,
        LISTS,
        SETS,
        HASHES,
        ZSETS,
        BITMAPS,
        HLLS,
        GEOS,
        STREAMS,
        &[MISSING],
    ]
    .concat()
}

/// Members of sets, lists, sorted sets and hashes (fields): few, so commands collide often;
/// numbers among them so that SORT and intset encodings have something to do. No quotes (a
/// repro line must split back into the same arguments).
pub const MEMBERS: &[&str] = &[
    "a", "b", "c", "d", "1", "2", "3", "10", "-5", "x y", "", "e\u{e9}", "n\0l", "\r\n",
];

/// String values and hash values: texts, numbers and numbers in disguise.
pub const VALUES: &[&str] = &[
    "",
    "b\0in\r\n",
    "a",
    "abc",
    "hello world",
    "0",
    "1",
    "-1",
    "10",
    "42",
    "3.5",
    "-2.25",
    "1e3",
    "007",
    "-0",
    " 1",
    "0x10",
    "9223372036854775807",
    "-9223372036854775808",
    "inf",
    "nan",
    "xyz\u{e9}",
];

/// Integers: small ones mostly.
const SMALL: &[&str] = &["0", "1", "2", "3", "-1", "-2", "5", "10", "-10", "100"];
/// Integers at the edges of i64 and of 32 bits.
pub const EDGE_INTS: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "-9223372036854775807",
    "2147483647",
    "-2147483648",
    "4294967296",
    "4294967295",
];
/// Things that are not integers (some are for strtol, not for Redis's string2ll).
pub const BAD_INTS: &[&str] = &[
    "abc",
    "",
    "1.5",
    "nan",
    "inf",
    "-inf",
    "1e400",
    " 1",
    "1 ",
    "0x10",
    "9223372036854775808",
    "-9223372036854775809",
    "1e3",
    "+1",
    "-0",
    "007",
    "18446744073709551616",
];
/// Floats, good and bad.
pub const FLOATS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.5",
    "-2.5",
    "3",
    "10",
    "0.1",
    ".5",
    "5.",
    "1e2",
    "-1e-2",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e400",
    "-1e400",
    "abc",
    "",
    "-0",
    "0x10",
    " 1",
    "1.5x",
    "17976931348623157e292",
];

pub struct Gen {
    pub rng: Rng,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
        }
    }

    pub fn chance(&mut self, percent: u32) -> bool {
        self.rng.chance(percent)
    }

    pub fn pick(&mut self, items: &[&str]) -> String {
        (*self.rng.pick(items)).to_owned()
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.range(lo, hi)
    }

    /// A key: from `pool` 85 times in 100, else any key of the space.
    pub fn key(&mut self, pool: &[&str]) -> String {
        if self.chance(85) {
            self.pick(pool)
        } else {
            self.pick(&all_keys())
        }
    }

    /// 1 to `max` keys.
    pub fn keys(&mut self, pool: &[&str], max: usize) -> Vec<String> {
        (0..1 + self.rng.below(max))
            .map(|_| self.key(pool))
            .collect()
    }

    pub fn member(&mut self) -> String {
        self.pick(MEMBERS)
    }

    pub fn members(&mut self, max: usize) -> Vec<String> {
        (0..1 + self.rng.below(max))
            .map(|_| self.member())
            .collect()
    }

    pub fn value(&mut self) -> String {
        self.pick(VALUES)
    }

    /// An integer argument: small 80 times in 100, an i64 edge or a non-integer otherwise.
    pub fn int(&mut self) -> String {
        match self.rng.below(100) {
            0..=79 => self.pick(SMALL),
            80..=89 => self.pick(EDGE_INTS),
            _ => self.pick(BAD_INTS),
        }
    }

    /// A count that is safe to honour (no reply or allocation larger than the data): small,
    /// 0, negative, huge positive, or not a number.
    pub fn count(&mut self) -> String {
        match self.rng.below(100) {
            0..=74 => self.range(0, 5).to_string(),
            75..=81 => "-1".to_owned(),
            82..=86 => self.pick(&["9223372036854775807", "4294967296", "2147483648", "100"]),
            87..=91 => self.pick(&["-9223372036854775808", "-100", "-3"]),
            _ => self.pick(BAD_INTS),
        }
    }

    /// An index into a list or a string: around the ends, or far out, or not a number.
    pub fn index(&mut self) -> String {
        match self.rng.below(100) {
            0..=84 => self.range(-6, 6).to_string(),
            85..=92 => self.pick(EDGE_INTS),
            _ => self.pick(BAD_INTS),
        }
    }

    pub fn float(&mut self) -> String {
        if self.chance(70) {
            self.pick(&["0", "1", "-1", "1.5", "-2.5", "3", "10", "0.1"])
        } else {
            self.pick(FLOATS)
        }
    }

    /// A relative time to live in seconds that cannot run out during a run (>= 1000 s), or a
    /// bad one (which deletes the key or is refused, the same way on both sides).
    pub fn ttl_secs(&mut self) -> String {
        if self.chance(80) {
            self.pick(&["1000", "5000", "86400", "1000000"])
        } else {
            self.pick(&[
                "0",
                "-1",
                "-100",
                "abc",
                "",
                "1.5",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775",
            ])
        }
    }

    pub fn ttl_ms(&mut self) -> String {
        if self.chance(80) {
            self.pick(&["1000000", "5000000", "86400000", "1000000000"])
        } else {
            self.pick(&[
                "0",
                "-1",
                "abc",
                "1.5",
                "9223372036854775807",
                "-9223372036854775808",
            ])
        }
    }

    /// An absolute Unix time in seconds: far future, long past, or bad.
    pub fn unix_secs(&mut self) -> String {
        if self.chance(80) {
            self.pick(&["4102444800", "4102444801", "4102448400", "1", "1000000000"])
        } else {
            self.pick(&[
                "0",
                "-1",
                "abc",
                "9223372036854775807",
                "9223372036854775",
                "-9223372036854775808",
            ])
        }
    }

    pub fn unix_ms(&mut self) -> String {
        if self.chance(80) {
            self.pick(&[
                "4102444800000",
                "4102444800500",
                "4102448400000",
                "1",
                "1000000000000",
            ])
        } else {
            self.pick(&[
                "0",
                "-1",
                "abc",
                "9223372036854775807",
                "-9223372036854775808",
            ])
        }
    }

    /// A SCAN-family tail after the cursor: MATCH, COUNT, TYPE, sometimes a bad option.
    /// `whole`: the command always gets a COUNT large enough to finish in one call, as the
    /// cursors of Redis and ninesdb are different numbers. Redis 7.0 keeps a set of non-integers
    /// in a hash table like the key space, a hash with a long value too, and SORT turns a sorted
    /// set into a skiplist with a dict: all four scans are `whole` now.
    /// `keyspace`: SCAN's TYPE option. `hash`: HSCAN.
    pub fn scan_tail(&mut self, c: &mut Cmd, whole: bool, keyspace: bool, hash: bool) {
        if self.chance(40) {
            let pattern = self.pick(&[
                "*", "a*", "*1", "?", "[ab]*", "s*", "[^x]*", "h?", "*\\*", "x y",
            ]);
            c.arg("MATCH").arg(pattern);
        }
        if whole || self.chance(50) {
            c.arg("COUNT")
                .arg(self.pick(&["1000", "100000", "9223372036854775807"]));
        }
        if keyspace && self.chance(30) {
            c.arg("TYPE")
                .arg(self.pick(&["string", "list", "set", "zset", "hash", "STRING", "foo"]));
        }
        if self.chance(8) {
            match self.rng.below(6) {
                0 => c.arg("COUNT").arg("0"),
                1 => c.arg("COUNT").arg("abc"),
                2 => c.arg("COUNT").arg("-1"),
                3 => c.arg("MATCH"),
                // HSCAN's NOVALUES (Redis 7.4) is a ninesdb extension: an error elsewhere only.
                4 if !hash => c.arg("NOVALUES"),
                _ => c.arg("FOO").arg("1"),
            };
        }
    }

    /// A SCAN-family cursor: 0 (one call sees everything), or one Redis's strtoul reads
    /// differently from a plain integer parse. `whole` (see `scan_tail`): a non-zero cursor is a
    /// position in each server's own order, so only cursors that are invalid or 0.
    pub fn cursor(&mut self, whole: bool) -> String {
        if self.chance(90) {
            "0".to_owned()
        } else if whole {
            self.pick(&[
                "abc",
                "",
                "18446744073709551616",
                "1.5",
                " 0",
                "+",
                "-",
                "00",
                "+0",
                "-0",
            ])
        } else {
            self.pick(&[
                "abc",
                "-1",
                "",
                "18446744073709551616",
                "1.5",
                " 0",
                "+1",
                "-",
                "5",
            ])
        }
    }

    /// Sometimes breaks a finished command's arity: drops its last argument or adds one.
    pub fn mutate(&mut self, c: &mut Cmd) {
        if c.fragile {
            return;
        }
        match self.rng.below(100) {
            0..=2 if c.args.len() > 1 => {
                c.args.pop();
            }
            3..=4 => {
                let extra = self.pick(&["x", "1", "0", "-1", "NX", "COUNT", "WITHSCORES", "LIMIT"]);
                c.arg(extra);
            }
            // Command names are case-insensitive (the errors quote them as written).
            5..=7 => c.args[0].make_ascii_lowercase(),
            8 => {
                c.args[0] = self.pick(&["FOO", "getx", "", "SET\r\n"]);
                c.keys.clear();
            }
            _ => {}
        }
    }
}

/// `name key` with mode `Exact`: the commonest shape.
pub fn on_key(name: &str, key: &str) -> Cmd {
    let mut c = Cmd::new(name);
    c.key(key);
    c
}

/// A TTL-like reading: seconds agree within 2, milliseconds within 2000.
pub fn near(ms: bool) -> Mode {
    Mode::Near(if ms { 2000 } else { 2 })
}
