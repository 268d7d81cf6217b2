//! The command metadata table: one entry per Redis 7.0.15 command and subcommand, plus
//! ninesdb's own (`NINESDB ...`), generated from Redis's JSON command files by
//! `gen/gen_commands.py`. ACL checks, key extraction and `COMMAND INFO/DOCS` read it.

#[rustfmt::skip]
mod generated;
pub(crate) mod keys;
mod reply;

pub use generated::{COMMANDS, COMMAND_ID_COUNT};
pub use keys::{channels, keys, ChannelUse, KeyUse};
pub use reply::{command_count, command_docs, command_info, command_list, CommandFilter};

/// Command flags (Redis's `CMD_*`), as bits of [`CommandMeta::flags`].
pub mod flag {
    pub const WRITE: u64 = 1 << 0;
    pub const READONLY: u64 = 1 << 1;
    pub const DENYOOM: u64 = 1 << 2;
    pub const MODULE: u64 = 1 << 3;
    pub const ADMIN: u64 = 1 << 4;
    pub const PUBSUB: u64 = 1 << 5;
    pub const NOSCRIPT: u64 = 1 << 6;
    pub const BLOCKING: u64 = 1 << 8;
    pub const LOADING: u64 = 1 << 9;
    pub const STALE: u64 = 1 << 10;
    pub const SKIP_MONITOR: u64 = 1 << 11;
    pub const SKIP_SLOWLOG: u64 = 1 << 12;
    pub const ASKING: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const NO_AUTH: u64 = 1 << 15;
    pub const MAY_REPLICATE: u64 = 1 << 16;
    pub const SENTINEL: u64 = 1 << 17;
    pub const ONLY_SENTINEL: u64 = 1 << 18;
    pub const NO_MANDATORY_KEYS: u64 = 1 << 19;
    pub const PROTECTED: u64 = 1 << 20;
    pub const NO_ASYNC_LOADING: u64 = 1 << 23;
    pub const NO_MULTI: u64 = 1 << 24;
    pub const MOVABLE_KEYS: u64 = 1 << 25;
    pub const ALLOW_BUSY: u64 = 1 << 26;
    pub const TOUCHES_ARBITRARY_KEYS: u64 = 1 << 28;

    /// The flags `COMMAND INFO` shows, in Redis's order (server.c addReplyFlagsForCommand);
    /// the others are hidden on purpose, as in Redis.
    pub const SHOWN: &[(u64, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (MODULE, "module"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, as bits of [`CommandMeta::categories`]; bit i is [`category::NAMES`]`[i]`.
pub mod category {
    pub const KEYSPACE: u64 = 1 << 0;
    pub const READ: u64 = 1 << 1;
    pub const WRITE: u64 = 1 << 2;
    pub const SET: u64 = 1 << 3;
    pub const SORTEDSET: u64 = 1 << 4;
    pub const LIST: u64 = 1 << 5;
    pub const HASH: u64 = 1 << 6;
    pub const STRING: u64 = 1 << 7;
    pub const BITMAP: u64 = 1 << 8;
    pub const HYPERLOGLOG: u64 = 1 << 9;
    pub const GEO: u64 = 1 << 10;
    pub const STREAM: u64 = 1 << 11;
    pub const PUBSUB: u64 = 1 << 12;
    pub const ADMIN: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const SLOW: u64 = 1 << 15;
    pub const BLOCKING: u64 = 1 << 16;
    pub const DANGEROUS: u64 = 1 << 17;
    pub const CONNECTION: u64 = 1 << 18;
    pub const TRANSACTION: u64 = 1 << 19;
    pub const SCRIPTING: u64 = 1 << 20;

    /// Redis's `ACLCommandCategories`, in its order (ACL CAT lists them so).
    pub const NAMES: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];

    /// The bit of a category name (case-insensitive), as `ACLGetCommandCategoryFlagByName`.
    pub fn by_name(name: &[u8]) -> Option<u64> {
        NAMES
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|i| 1 << i)
    }
}

/// Key-spec flags (Redis's `CMD_KEY_*`), as bits of [`KeySpec::flags`].
pub mod key_flag {
    pub const RO: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const OW: u32 = 1 << 2;
    pub const RM: u32 = 1 << 3;
    pub const ACCESS: u32 = 1 << 4;
    pub const UPDATE: u32 = 1 << 5;
    pub const INSERT: u32 = 1 << 6;
    pub const DELETE: u32 = 1 << 7;
    pub const NOT_KEY: u32 = 1 << 8;
    pub const INCOMPLETE: u32 = 1 << 9;
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    /// In Redis's order (server.c addReplyFlagsForKeyArgs).
    pub const SHOWN: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Documentation flags of a command (`CMD_DOC_*`).
pub mod doc_flag {
    pub const DEPRECATED: u8 = 1 << 0;
    pub const SYSCMD: u8 = 1 << 1;
    pub const SHOWN: &[(u8, &str)] = &[(DEPRECATED, "deprecated"), (SYSCMD, "syscmd")];
}

/// Argument flags (`CMD_ARG_*`) of [`Arg::flags`].
pub mod arg_flag {
    pub const OPTIONAL: u8 = 1 << 0;
    pub const MULTIPLE: u8 = 1 << 1;
    pub const MULTIPLE_TOKEN: u8 = 1 << 2;
    pub const SHOWN: &[(u8, &str)] = &[
        (OPTIONAL, "optional"),
        (MULTIPLE, "multiple"),
        (MULTIPLE_TOKEN, "multiple_token"),
    ];
}

/// Where a key spec starts looking for keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `start_from` (negative: from the end, backwards).
    Keyword {
        keyword: &'static str,
        start_from: i32,
    },
    /// Not describable (SORT's BY/GET keys).
    Unknown,
}

/// How a key spec finds its keys once it knows where they begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// `last_key` relative to the start (negative: from the end), every `step`;
    /// `limit` divides the remaining arguments (XREAD's STREAMS: half are keys).
    Range {
        last_key: i32,
        step: i32,
        limit: i32,
    },
    /// The key count is at `keynum_index` (relative to the start), the first key at
    /// `first_key` (relative), every `step`.
    Keynum {
        keynum_index: i32,
        first_key: i32,
        step: i32,
    },
    /// Not describable.
    Unknown,
}

/// One key spec (Redis 7's `keySpec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    /// [`key_flag`] bits.
    pub flags: u32,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// Redis's `getkeys_proc` for commands whose key specs are incomplete or whose flags vary
/// with the arguments (db.c); `Generic` is `genericGetKeys(store, count, first, step)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetKeys {
    None,
    Set,
    Bitfield,
    Sort,
    SortReadOnly,
    Migrate,
    Generic {
        store: i32,
        count: i32,
        first: i32,
        step: i32,
    },
}

/// One documented argument (COMMAND DOCS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Lowercase, as Redis shows it.
    pub name: &'static str,
    /// "string", "integer", "double", "key", "pattern", "unix-time", "pure-token", "oneof",
    /// "block".
    pub kind: &'static str,
    /// -1: not a key.
    pub key_spec_index: i32,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// [`arg_flag`] bits.
    pub flags: u8,
    /// The alternatives of a "oneof", the parts of a "block".
    pub arguments: &'static [Arg],
}

/// Everything known about one command or subcommand.
#[derive(Debug)]
pub struct CommandMeta {
    /// Lowercase full name: "get", "config|get".
    pub name: &'static str,
    /// Dense index into permission bitmaps, below [`COMMAND_ID_COUNT`].
    pub id: u16,
    /// Redis convention: negative means "at least"; a subcommand counts its container.
    pub arity: i32,
    /// [`flag`] bits, with MOVABLE_KEYS derived as Redis derives it.
    pub flags: u64,
    /// [`category`] bits, the implicit ones (from flags) included.
    pub categories: u64,
    /// The legacy key range COMMAND INFO shows (0 0 0: none).
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub key_specs: &'static [KeySpec],
    pub get_keys: GetKeys,
    /// "string", "sorted-set", "server"...
    pub group: &'static str,
    pub since: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub complexity: Option<&'static str>,
    /// [`doc_flag`] bits.
    pub doc_flags: u8,
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// (version, change).
    pub history: &'static [(&'static str, &'static str)],
    pub tips: &'static [&'static str],
    pub arguments: &'static [Arg],
    /// Sorted by name; empty unless a container (ACL, CONFIG, CLIENT, NINESDB...).
    pub subcommands: &'static [CommandMeta],
}

impl CommandMeta {
    /// The part after `|` of a subcommand's name ("get" of "config|get"), or the name.
    pub fn declared_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// Whether this is a subcommand.
    pub fn is_subcommand(&self) -> bool {
        self.name.contains('|')
    }

    /// Whether `args` (command name included) has an acceptable count, as Redis checks.
    pub fn arity_ok(&self, count: usize) -> bool {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            count == arity
        } else {
            count >= -arity
        }
    }

    /// Whether the command may name keys (db.c doesCommandHaveKeys).
    pub fn has_keys(&self) -> bool {
        self.get_keys != GetKeys::None
            || self
                .key_specs
                .iter()
                .any(|spec| spec.flags & key_flag::NOT_KEY == 0)
    }
}

/// The top-level command named `name` (case-insensitive), as Redis's `lookupCommandBySds`
/// for a name without `|`.
pub fn lookup(name: &[u8]) -> Option<&'static CommandMeta> {
    find(COMMANDS, name)
}

/// The subcommand `sub` of container `container` (case-insensitive).
pub fn lookup_sub(container: &[u8], sub: &[u8]) -> Option<&'static CommandMeta> {
    find(lookup(container)?.subcommands, sub)
}

/// A command named as ACL rules and COMMAND INFO name it: "get" or "config|get" (one `|`
/// at most; a `|` after a command without subcommands finds nothing), as server.c
/// `lookupCommandBySdsLogic`.
pub fn lookup_full(name: &[u8]) -> Option<&'static CommandMeta> {
    let mut parts = name.split(|&c| c == b'|');
    let first = parts.next()?;
    match (parts.next(), parts.next()) {
        (None, _) => lookup(first),
        (Some(sub), None) => {
            let parent = lookup(first)?;
            if parent.subcommands.is_empty() {
                return None;
            }
            find(parent.subcommands, sub)
        }
        _ => None,
    }
}

/// The command an argument vector runs: the subcommand when the command is a container
/// and `args[1]` names one of its subcommands, as server.c `lookupCommand`. `None` for an
/// unknown command, or a container with an unknown subcommand.
pub fn lookup_args(args: &[impl AsRef<[u8]>]) -> Option<&'static CommandMeta> {
    let base = lookup(args.first()?.as_ref())?;
    // A container alone (`CONFIG`) is the container itself, whose arity then fails.
    if base.subcommands.is_empty() || args.len() == 1 {
        return Some(base);
    }
    find(base.subcommands, args.get(1)?.as_ref())
}

fn find(table: &'static [CommandMeta], name: &[u8]) -> Option<&'static CommandMeta> {
    if name.len() > 64 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    table
        .binary_search_by(|meta| meta.declared_name().as_bytes().cmp(&lower))
        .ok()
        .map(|index| &table[index])
}

/// Every command and subcommand, parents before their subcommands, in table order.
pub fn all() -> impl Iterator<Item = &'static CommandMeta> {
    COMMANDS
        .iter()
        .flat_map(|meta| std::iter::once(meta).chain(meta.subcommands.iter()))
}

/// The command with this id.
pub fn by_id(id: u16) -> Option<&'static CommandMeta> {
    all().find(|meta| meta.id == id)
}
