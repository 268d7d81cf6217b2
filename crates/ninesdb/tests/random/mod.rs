//! The random differential tester's parts (used by `differential_random.rs`), one job each:
//! `gen` draws keys, members and numbers; one module per command family writes commands
//! (`FAMILIES` lists them); `compare` says whether two replies agree under a command's
//! comparison mode; `run` sends commands to both servers and records what happened; `shrink`
//! cuts a mismatch's history down to the few commands that reproduce it.

#![allow(dead_code)]

pub mod bitmaps;
pub mod compare;
pub mod events;
pub mod gen;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod run;
pub mod scripts;
pub mod sets;
pub mod shrink;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod zsets;

use gen::Gen;

/// How two replies to one command are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Equal, errors included.
    Exact,
    /// An array whose order Redis leaves unspecified (SMEMBERS, KEYS, HKEYS...).
    Sorted,
    /// A flat array of pairs in unspecified order (HGETALL): sorted as pairs.
    Pairs,
    /// A flat array of groups of n in unspecified order (SORT set GET # GET h*->a): sorted as groups.
    Chunks(usize),
    /// `[cursor, items]`: the cursor exact, the items sorted.
    Scan,
    /// `[cursor, field, value, ...]` (HSCAN, ZSCAN): the cursor exact, the items sorted as pairs.
    ScanPairs,
    /// Random content (SRANDMEMBER, RANDOMKEY...): the kinds and array lengths must agree.
    Shape,
    /// Unspecified elements (SORT set ... LIMIT): an array's length only (errors exact).
    Length,
    /// A time in s or ms (TTL, PEXPIRETIME...): non-negative integers may differ by this much.
    Near(i64),
}

/// One generated command, with what the tester needs to know about it.
#[derive(Clone, Debug)]
pub struct Cmd {
    pub args: Vec<String>,
    pub mode: Mode,
    /// The keys it reads or writes (every key for KEYS, SCAN, FLUSHALL...): what shrinking follows.
    pub keys: Vec<String>,
    /// Keys whose content is random after it (SPOP's key; a list SORT stored with ties in
    /// Redis's hash order): deleted on both sides afterwards so they agree again.
    pub resync: Vec<String>,
    /// Dropping or adding a trailing argument would change how its reply must be compared.
    pub fragile: bool,
    /// It may leave a key whose expiry is already past (SET k v EXAT 1): Redis still counts
    /// such a key in DBSIZE until it notices, so the tester asks EXISTS on its keys right after.
    pub settle: bool,
    /// SORT_RO on a sorted set: Redis converts its encoding to skiplist, though the command
    /// is a read, and ninesdb's reads change nothing (the README says so); the tester then
    /// sends `SORT key BY nosort LIMIT 0 0` (a write, converting on both sides) so OBJECT
    /// ENCODING agrees again.
    pub align_encoding: bool,
    /// The family that wrote it (or `check`, `resync` for the tester's own commands).
    pub family: &'static str,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd {
            args: vec![name.to_owned()],
            mode: Mode::Exact,
            keys: Vec::new(),
            resync: Vec::new(),
            fragile: false,
            settle: false,
            align_encoding: false,
            family: "",
        }
    }

    pub fn arg(&mut self, arg: impl Into<String>) -> &mut Cmd {
        self.args.push(arg.into());
        self
    }

    /// Appends a key argument (and remembers it as one of the command's keys).
    pub fn key(&mut self, key: &str) -> &mut Cmd {
        if !self.keys.iter().any(|k| k == key) {
            self.keys.push(key.to_owned());
        }
        self.arg(key)
    }

    /// Records a key the command touches without naming it (SORT BY s*, KEYS *).
    pub fn touches(&mut self, keys: &[&str]) -> &mut Cmd {
        for key in keys {
            if !self.keys.iter().any(|k| k == key) {
                self.keys.push((*key).to_owned());
            }
        }
        self
    }

    pub fn mode(&mut self, mode: Mode) -> &mut Cmd {
        self.mode = mode;
        self
    }

    /// Its effect on its keys is random (SPOP).
    pub fn resync(&mut self) -> &mut Cmd {
        self.resync = self.keys.clone();
        self
    }

    pub fn fragile(&mut self) -> &mut Cmd {
        self.fragile = true;
        self
    }

    /// The command as a line of redis-cli (and of tests/differential/*.txt).
    pub fn line(&self) -> String {
        self.args
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn name(&self) -> String {
        self.args[0].to_ascii_uppercase()
    }

    pub fn bytes(&self) -> Vec<&[u8]> {
        self.args.iter().map(String::as_bytes).collect()
    }
}

/// An argument as the case files write it: bare if it can be, else quoted with `\"`, `\\`,
/// `\r`, `\n` and `\xNN` escapes (keyspace's tests/cases read those back).
fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    for byte in arg.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b' '..=b'~' => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

/// A command family: its name (as `NINESDB_DIFF_FAMILIES` spells it) and its generator.
pub struct Family {
    pub name: &'static str,
    /// How often it is drawn, relative to the other enabled families (about its command count).
    pub weight: u32,
    pub generate: fn(&mut Gen) -> Cmd,
}

/// Every family, in the order of Redis's command groups.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "strings",
        weight: 10,
        generate: strings::strings,
    },
    Family {
        name: "lcs",
        weight: 2,
        generate: strings::lcs,
    },
    Family {
        name: "keys",
        weight: 10,
        generate: keys::keys,
    },
    Family {
        name: "expireopts",
        weight: 3,
        generate: keys::expire_options,
    },
    Family {
        name: "copy",
        weight: 2,
        generate: keys::copy,
    },
    Family {
        name: "touch",
        weight: 1,
        generate: keys::touch,
    },
    Family {
        name: "object",
        weight: 2,
        generate: keys::object,
    },
    Family {
        name: "lists",
        weight: 10,
        generate: lists::lists,
    },
    Family {
        name: "lpos",
        weight: 2,
        generate: lists::lpos,
    },
    Family {
        name: "lmove",
        weight: 2,
        generate: lists::lmove,
    },
    Family {
        name: "lmpop",
        weight: 2,
        generate: lists::lmpop,
    },
    Family {
        name: "sets",
        weight: 10,
        generate: sets::sets,
    },
    Family {
        name: "sintercard",
        weight: 2,
        generate: sets::sintercard,
    },
    Family {
        name: "hashes",
        weight: 10,
        generate: hashes::hashes,
    },
    Family {
        name: "hrandfield",
        weight: 2,
        generate: hashes::hrandfield,
    },
    Family {
        name: "zsets",
        weight: 14,
        generate: zsets::zsets,
    },
    Family {
        name: "bitmaps",
        weight: 6,
        generate: bitmaps::bitmaps,
    },
    Family {
        name: "hll",
        weight: 4,
        generate: hll::hll,
    },
    Family {
        name: "geo",
        weight: 6,
        generate: geo::geo,
    },
    Family {
        name: "sort",
        weight: 4,
        generate: sort::sort,
    },
    Family {
        name: "streams",
        weight: 8,
        generate: streams::streams,
    },
    Family {
        name: "pubsub",
        weight: 3,
        generate: pubsub::pubsub,
    },
    Family {
        name: "scripts",
        weight: 4,
        generate: scripts::scripts,
    },
];
