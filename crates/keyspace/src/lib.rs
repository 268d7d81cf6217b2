//! The keyspace: ninesdb's replicated state machine.
//!
//! Redis data types (strings, hashes, lists, sets, sorted sets, streams) and command semantics, applied as a pure,
//! deterministic function of (state, command, context from the log). Time enters only as
//! [`Context::now_ms`] (stamped by the leader), randomness only as [`Context::seed`]; replies
//! never depend on hash-map iteration order (all collections are ordered). Expired keys read
//! as absent; they are removed by writes that touch them and by [`Keyspace::expire_due`],
//! which the leader proposes as a replicated write so replicas agree.

// `len % 2` stays: `is_multiple_of` needs Rust 1.87 and the workspace MSRV is 1.85.
#![allow(clippy::manual_is_multiple_of)]

mod bitmaps;
mod dump;
mod evict;
mod geo;
mod hashes;
mod hll;
mod keys;
mod lists;
mod longdouble;
mod notify;
pub mod rdb;
mod script;
mod sets;
mod snapshot;
mod sort;
mod streams;
mod strings;
mod table;
pub mod util;
mod zsets;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use resp::Value;

pub use evict::Eviction;
pub use lists::{timeout_arg, BlockingPop};
pub use notify::{class as notify_class, flags_text, messages, parse_flags, Event, BAD_FLAGS};
pub use script::SCRIPT_INSTRUCTIONS_MAX_DEFAULT;
pub use streams::{blocked_read_gone, resolve_last_ids, stream_ready, StreamId};
pub use table::{check, commands, key_positions, lookup};
use util::wrongtype;

/// What a command needs from the log: leader-stamped time and a seed for random choices.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    pub now_ms: u64,
    pub seed: u64,
}

/// How the server must route a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    /// The server handles these itself.
    Connection,
    Server,
    Transaction,
}

/// Command table entry (for routing, arity checks, COMMAND INFO, key positions).
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: negative = at least.
    pub arity: i32,
    pub kind: Kind,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub flags: &'static [&'static str],
}

/// A value held by a key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    Str(Bytes),
    Hash(BTreeMap<Bytes, Bytes>),
    List(VecDeque<Bytes>),
    Set(BTreeSet<Bytes>),
    /// Boxed: a sorted set's two indexes would double the size of every other value.
    ZSet(Box<zsets::ZSet>),
    /// Boxed for the same reason. Never "empty": a stream stays when its entries are gone.
    Stream(Box<streams::Stream>),
}

impl Data {
    fn is_empty_aggregate(&self) -> bool {
        match self {
            Data::Str(_) => false,
            Data::Hash(h) => h.is_empty(),
            Data::List(l) => l.is_empty(),
            Data::Set(s) => s.is_empty(),
            Data::ZSet(z) => z.is_empty(),
            Data::Stream(_) => false,
        }
    }
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Data::Str(_) => "string",
            Data::Hash(_) => "hash",
            Data::List(_) => "list",
            Data::Set(_) => "set",
            Data::ZSet(_) => "zset",
            Data::Stream(_) => "stream",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) data: Data,
    /// Absolute expiry in ms since the epoch.
    pub(crate) expire: Option<u64>,
    /// Modification version (for WATCH).
    pub(crate) version: u64,
    /// Log time (ms) of the latest write to this key, for OBJECT IDLETIME; 0 = unknown (a
    /// key restored from a snapshot of format 1). Reads are not in the log, so no replica
    /// can know a key's last access: this is the last write, the same on every replica.
    pub(crate) written_ms: u64,
    /// Redis converted this value to its large encoding, and never converts back: a string
    /// changed in place (APPEND, SETRANGE, SETBIT, BITFIELD, BITOP's result, a HyperLogLog)
    /// stays `raw` whatever its length; a set that was a `hashtable`, a hash that was a
    /// `hashtable` and a sorted set that was a `skiplist` stay so after shrinking. OBJECT
    /// ENCODING reports it. Cleared when a new value replaces the old one.
    pub(crate) converted: bool,
    /// A string INCRBYFLOAT wrote: Redis makes it `embstr` (or `raw`), never `int`, even
    /// when it reads as an integer. Cleared when a new value replaces it.
    pub(crate) float_text: bool,
    /// The estimated bytes of this key and value (see [`evict`]), derived from the data.
    pub(crate) size: u64,
    /// This replica's record of the key's use, for LRU/LFU eviction (not state).
    pub(crate) access: evict::Access,
}

impl Entry {
    fn expired(&self, now: u64) -> bool {
        matches!(self.expire, Some(t) if t <= now)
    }
}

/// The state machine of one Raft group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Keyspace {
    pub(crate) keys: BTreeMap<Bytes, Entry>,
    /// (expiry, key) for every key with a TTL.
    pub(crate) expires: BTreeSet<(u64, Bytes)>,
    /// (scan hash, key): the SCAN cursor order, stable under inserts and deletes.
    pub(crate) scan_index: BTreeSet<(u64, Bytes)>,
    /// Monotonic change counter: source of versions.
    pub(crate) clock: u64,
    /// Clock value of the latest deletion: the version of every absent key.
    pub(crate) last_delete: u64,
    /// The log time of the command being applied (stamps `Entry::written_ms`).
    pub(crate) log_now: LogTime,
    /// The sum of every entry's `size`.
    pub(crate) used_bytes: u64,
    /// The script cache and function libraries (replicated), and the Lua state (not).
    pub(crate) scripts: script::Scripts,
    /// The keyspace events raised since the host last took them (working data).
    pub(crate) notifier: notify::Notifier,
}

/// The time of the command being applied: working data, not state (equal whatever its value,
/// not in snapshots or digests), so that `put`/`modified`/`set_expire` can stamp entries
/// without every caller passing the time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogTime(pub(crate) u64);

impl PartialEq for LogTime {
    fn eq(&self, _: &LogTime) -> bool {
        true
    }
}

/// Every SCAN cursor this keyspace returns is below `1 << SCAN_CURSOR_BITS`, so a server
/// that walks many keyspaces can pack which one into the cursor's other bits.
pub const SCAN_CURSOR_BITS: u32 = 54;

/// The SCAN position of a key: in 1..=2^53 (see [`SCAN_CURSOR_BITS`]) so that cursor 0 means
/// "start"/"done".
pub(crate) fn scan_hash(key: &[u8]) -> u64 {
    (util::hash64(key) >> (64 - SCAN_CURSOR_BITS + 1)) + 1
}

/// Read handlers see the keyspace immutably; write handlers may change it.
pub(crate) type ReadFn = fn(&Keyspace, &[Bytes], &Context) -> Value;
pub(crate) type WriteFn = fn(&mut Keyspace, &[Bytes], &Context) -> Value;
pub(crate) enum Handler {
    R(ReadFn),
    W(WriteFn),
    /// Handled by the server (connection, server, transaction commands).
    External,
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// Applies a write command (Kind::Write) - also valid for reads. Deterministic.
    pub fn apply(&mut self, args: &[Bytes], ctx: Context) -> Value {
        let idx = match table::check_idx(args) {
            Ok(i) => i,
            Err(e) => return e,
        };
        self.log_now = LogTime(ctx.now_ms);
        match &table::HANDLERS[idx] {
            Handler::R(f) => f(self, args, &ctx),
            Handler::W(f) => f(self, args, &ctx),
            Handler::External => external(args),
        }
    }

    /// Executes a read command (Kind::Read) without changing anything (expired keys read as absent).
    pub fn read(&self, args: &[Bytes], ctx: Context) -> Value {
        let idx = match table::check_idx(args) {
            Ok(i) => i,
            Err(e) => return e,
        };
        match &table::HANDLERS[idx] {
            Handler::R(f) => f(self, args, &ctx),
            Handler::W(_) => Value::Error(format!(
                "ERR '{}' is a write command and cannot be served by a read",
                table::COMMANDS[idx].name
            )),
            Handler::External => external(args),
        }
    }

    /// A blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
    /// BZMPOP) without the blocking: pops now if a key has an element (a replicated write,
    /// like `apply`), and answers in the blocking command's reply shape; otherwise says which
    /// keys to wait on and for how long. Arity and option errors come back as
    /// `BlockingPop::Reply`.
    pub fn try_blocking_pop(&mut self, args: &[Bytes], ctx: Context) -> BlockingPop {
        let idx = match table::check_idx(args) {
            Ok(i) => i,
            Err(e) => return BlockingPop::Reply(e),
        };
        if !table::COMMANDS[idx].flags.contains(&"blocking") {
            return BlockingPop::Reply(Value::Error(format!(
                "ERR '{}' is not a blocking list command",
                table::COMMANDS[idx].name
            )));
        }
        self.log_now = LogTime(ctx.now_ms);
        match table::COMMANDS[idx].name {
            "bzpopmin" | "bzpopmax" | "bzmpop" => zsets::try_blocking(self, args, &ctx),
            _ => lists::try_blocking(self, args, &ctx),
        }
    }

    /// MULTI/EXEC as one log entry: applies every queued command in order and returns the
    /// array of replies. If any watched key's version changed (including by expiring at
    /// `ctx.now_ms`), returns `Value::NullArray` and applies nothing.
    pub fn exec(
        &mut self,
        commands: &[Vec<Bytes>],
        watched: &[(Bytes, u64)],
        ctx: Context,
    ) -> Value {
        for (key, seen) in watched {
            let now_version = match self.keys.get(key.as_ref()) {
                // A key that expired since is a change even before a replicated delete removes it.
                Some(e) if e.expired(ctx.now_ms) => e.version.wrapping_add(1) | (1 << 63),
                Some(e) => e.version,
                None => self.last_delete,
            };
            if now_version != *seen {
                return Value::NullArray;
            }
        }
        Value::Array(commands.iter().map(|c| self.apply(c, ctx)).collect())
    }

    /// A key's modification version (for WATCH): bumps on every change, including expiry and
    /// deletion. An absent key's version is that of the latest deletion of any key (so a
    /// watched absent key may see a spurious change, never a missed one).
    pub fn version(&self, key: &[u8]) -> u64 {
        match self.keys.get(key) {
            Some(e) => e.version,
            None => self.last_delete,
        }
    }

    /// Removes keys whose TTL passed at `now_ms`; returns how many (at most `limit`).
    pub fn expire_due(&mut self, now_ms: u64, limit: usize) -> usize {
        let due: Vec<Bytes> = self
            .expires
            .range(..(now_ms.saturating_add(1), Bytes::new()))
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect();
        for k in &due {
            self.remove(k);
            self.notify(notify_class::EXPIRED, "expired", k);
        }
        due.len()
    }

    /// The earliest time a key's TTL runs out, if any key has one (the leader sweeps only
    /// when something is due, so an idle keyspace costs nothing).
    pub fn next_expiry(&self) -> Option<u64> {
        self.expires.first().map(|(t, _)| *t)
    }

    /// Number of live keys at `now_ms`.
    pub fn dbsize(&self, now_ms: u64) -> usize {
        let expired = self
            .expires
            .range(..(now_ms.saturating_add(1), Bytes::new()))
            .count();
        self.keys.len() - expired.min(self.keys.len())
    }

    /// Snapshot encoding: versioned and CRC32C-checksummed.
    pub fn encode(&self) -> Bytes {
        snapshot::encode(self)
    }

    /// Decodes a snapshot; never panics, rejects corrupt input.
    pub fn decode(bytes: &[u8]) -> Result<Keyspace, String> {
        snapshot::decode(bytes)
    }

    /// A digest of the whole state (data, TTLs, versions) to compare replicas.
    pub fn digest(&self) -> u64 {
        snapshot::digest(self)
    }

    // ---- internal helpers ----

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The live entry of `key` at `now`.
    pub(crate) fn get(&self, key: &[u8], now: u64) -> Option<&Entry> {
        let entry = self.keys.get(key).filter(|e| !e.expired(now))?;
        entry.access.touch(key, now);
        Some(entry)
    }

    /// Removes `key` if its TTL passed (a write's lazy expiry).
    pub(crate) fn expire_if_due(&mut self, key: &[u8], now: u64) {
        if self.keys.get(key).is_some_and(|e| e.expired(now)) {
            self.remove(key);
            self.notify(notify_class::EXPIRED, "expired", key);
        }
    }

    /// Deletes a key; bumps the absent-key version.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.keys.remove_entry(key)?;
        self.used_bytes -= e.size;
        if let Some(t) = e.expire {
            self.expires.remove(&(t, k.clone()));
        }
        self.scan_index.remove(&(scan_hash(&k), k));
        self.last_delete = self.tick();
        Some(e)
    }

    /// Creates or replaces a key's value and TTL.
    pub(crate) fn put(&mut self, key: &Bytes, data: Data, expire: Option<u64>) {
        let version = self.tick();
        if let Some(old) = self.keys.get_mut(key.as_ref()) {
            let old_expire = old.expire;
            old.data = data;
            old.expire = expire;
            old.version = version;
            old.written_ms = self.log_now.0;
            old.converted = false;
            old.float_text = false;
            old.access.touch(key, self.log_now.0);
            if old_expire != expire {
                if let Some(t) = old_expire {
                    self.expires.remove(&(t, key.clone()));
                }
                if let Some(t) = expire {
                    self.expires.insert((t, key.clone()));
                }
            }
            self.resize(key);
            return;
        }
        let size = evict::entry_size(key, &data);
        self.used_bytes += size;
        self.keys.insert(
            key.clone(),
            Entry {
                data,
                expire,
                version,
                written_ms: self.log_now.0,
                converted: false,
                float_text: false,
                size,
                access: evict::Access::new(self.log_now.0),
            },
        );
        if let Some(t) = expire {
            self.expires.insert((t, key.clone()));
        }
        self.scan_index.insert((scan_hash(key), key.clone()));
        self.notify(notify_class::NEW, "new", key);
    }

    /// Marks a value as converted to Redis's large encoding (see [`Entry::converted`]).
    pub(crate) fn mark_converted(&mut self, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(key) {
            e.converted = true;
        }
    }

    /// Marks a string as written from a float (INCRBYFLOAT): Redis never int-encodes it.
    pub(crate) fn mark_float_text(&mut self, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(key) {
            e.float_text = matches!(e.data, Data::Str(_));
        }
    }

    /// Sets or clears the TTL of an existing key.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire: Option<u64>) {
        let version = self.tick();
        let Some((k, e)) = self.keys.get_key_value(key) else {
            return;
        };
        let (k, old) = (k.clone(), e.expire);
        if let Some(t) = old {
            self.expires.remove(&(t, k.clone()));
        }
        if let Some(t) = expire {
            self.expires.insert((t, k.clone()));
        }
        if let Some(e) = self.keys.get_mut(key) {
            e.expire = expire;
            e.version = version;
            e.written_ms = self.log_now.0;
        }
    }

    /// Records a change made through `data_mut`: bumps the version, deletes an emptied aggregate.
    pub(crate) fn modified(&mut self, key: &[u8]) {
        let empty = match self.keys.get(key) {
            Some(e) => e.data.is_empty_aggregate(),
            None => return,
        };
        if empty {
            self.remove(key);
        } else {
            let v = self.tick();
            if let Some(e) = self.keys.get_mut(key) {
                e.version = v;
                e.written_ms = self.log_now.0;
                // Checked while the aggregate is small only: past the thresholds the first
                // comparison settles it.
                e.converted = e.converted
                    || (!matches!(e.data, Data::Str(_)) && keys::large_encoding(&e.data));
                e.access.touch(key, self.log_now.0);
            }
            self.resize(key);
        }
    }

    /// [`Keyspace::modified`] with the events Redis raises for it: the command's own, then
    /// "del" if the change emptied the aggregate (and so deleted the key).
    pub(crate) fn changed(&mut self, key: &[u8], class: u32, name: &'static str) {
        let existed = self.keys.contains_key(key);
        self.notify(class, name, key);
        self.modified(key);
        if existed && !self.keys.contains_key(key) {
            self.notify(notify_class::GENERIC, "del", key);
        }
    }

    /// Type-checked read access.
    pub(crate) fn get_str(&self, key: &[u8], now: u64) -> Result<Option<&Bytes>, Value> {
        match self.get(key, now).map(|e| &e.data) {
            None => Ok(None),
            Some(Data::Str(s)) => Ok(Some(s)),
            Some(_) => Err(wrongtype()),
        }
    }
    pub(crate) fn get_hash(
        &self,
        key: &[u8],
        now: u64,
    ) -> Result<Option<&BTreeMap<Bytes, Bytes>>, Value> {
        match self.get(key, now).map(|e| &e.data) {
            None => Ok(None),
            Some(Data::Hash(h)) => Ok(Some(h)),
            Some(_) => Err(wrongtype()),
        }
    }
    pub(crate) fn get_list(&self, key: &[u8], now: u64) -> Result<Option<&VecDeque<Bytes>>, Value> {
        match self.get(key, now).map(|e| &e.data) {
            None => Ok(None),
            Some(Data::List(l)) => Ok(Some(l)),
            Some(_) => Err(wrongtype()),
        }
    }
    pub(crate) fn get_set(&self, key: &[u8], now: u64) -> Result<Option<&BTreeSet<Bytes>>, Value> {
        match self.get(key, now).map(|e| &e.data) {
            None => Ok(None),
            Some(Data::Set(s)) => Ok(Some(s)),
            Some(_) => Err(wrongtype()),
        }
    }
    pub(crate) fn get_zset(&self, key: &[u8], now: u64) -> Result<Option<&zsets::ZSet>, Value> {
        match self.get(key, now).map(|e| &e.data) {
            None => Ok(None),
            Some(Data::ZSet(z)) => Ok(Some(z)),
            Some(_) => Err(wrongtype()),
        }
    }

    /// Mutable access to an aggregate for a write, creating it empty when `create` (the caller
    /// must call [`Keyspace::modified`] afterwards, which also deletes it if left empty).
    pub(crate) fn data_mut(
        &mut self,
        key: &Bytes,
        now: u64,
        create: Option<fn() -> Data>,
    ) -> Option<&mut Data> {
        self.expire_if_due(key, now);
        if !self.keys.contains_key(key.as_ref()) {
            let make = create?;
            self.put(key, make(), None);
        }
        self.keys.get_mut(key.as_ref()).map(|e| &mut e.data)
    }
}

macro_rules! typed_mut {
    ($name:ident, $variant:ident, $ty:ty, $make:expr) => {
        impl Keyspace {
            pub(crate) fn $name(
                &mut self,
                key: &Bytes,
                now: u64,
                create: bool,
            ) -> Result<Option<&mut $ty>, Value> {
                // Check the type before creating anything.
                if let Some(e) = self.get(key, now) {
                    if !matches!(e.data, Data::$variant(_)) {
                        return Err(wrongtype());
                    }
                }
                let make: Option<fn() -> Data> = if create { Some($make) } else { None };
                match self.data_mut(key, now, make) {
                    None => Ok(None),
                    Some(Data::$variant(x)) => Ok(Some(x)),
                    Some(_) => Err(wrongtype()),
                }
            }
        }
    };
}
typed_mut!(hash_mut, Hash, BTreeMap<Bytes, Bytes>, || Data::Hash(BTreeMap::new()));
typed_mut!(list_mut, List, VecDeque<Bytes>, || Data::List(
    VecDeque::new()
));
typed_mut!(set_mut, Set, BTreeSet<Bytes>, || Data::Set(BTreeSet::new()));
typed_mut!(zset_mut, ZSet, Box<zsets::ZSet>, || Data::ZSet(
    Box::default()
));
typed_mut!(stream_mut, Stream, Box<streams::Stream>, || Data::Stream(
    Box::default()
));

/// Connection commands that are pure (useful inside EXEC); everything else belongs to the server.
fn external(args: &[Bytes]) -> Value {
    let name = args[0].to_ascii_lowercase();
    match (name.as_slice(), args.len()) {
        (b"ping", 1) => Value::Simple("PONG".to_string()),
        (b"ping", 2) | (b"echo", 2) => Value::Bulk(args[1].clone()),
        _ => Value::Error(format!(
            "ERR '{}' command is handled by the server, not the keyspace",
            String::from_utf8_lossy(&name)
        )),
    }
}
