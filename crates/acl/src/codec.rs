//! `Acl::encode` / `Acl::decode`: the user database as bytes, for the meta group's
//! snapshots. Commands are stored by name, not by id, so a table with more commands
//! (a newer binary) still reads an older snapshot.
//!
//! Layout (all integers little-endian): magic "NACL", version u8 = 1, body, then the
//! FNV-1a 64 of everything before it. Body: u32 user count, then per user: bytes name,
//! u8 flags (1 enabled, 2 nopass), u8 sanitize (0 unset, 1 sanitize, 2 skip), u32 count +
//! 64-byte hex hashes, u32 selector count, then per selector: u8 flags (1 root, 2 all keys,
//! 4 all channels, 8 all commands, 16 future commands), u32 count + names of the allowed
//! commands, u32 count + (name, u32 count + bytes) first-args, u32 count + (u8 permissions,
//! bytes) key patterns, u32 count + bytes channels. "bytes" is a u32 length and the bytes.

use std::fmt;

use bytes::Bytes;

use crate::commands;
use crate::limits;
use crate::selector::{CommandBits, KeyPattern, Selector, PERMISSION_READ, PERMISSION_WRITE};
use crate::user::{Sanitize, User};
use crate::Acl;

const MAGIC: &[u8; 4] = b"NACL";
const VERSION: u8 = 1;

/// Why bytes are not an encoded [`Acl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acl decode: {}", self.0)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn u32(&mut self, value: usize) {
        let value = u32::try_from(value).expect("counts are bounded by limits");
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, value: &[u8]) {
        self.u32(value.len());
        self.0.extend_from_slice(value);
    }
}

impl Acl {
    /// The database as bytes (deterministic: equal databases encode equally).
    pub fn encode(&self) -> Bytes {
        let mut w = Writer(MAGIC.to_vec());
        w.u8(VERSION);
        w.u32(self.users.len());
        for user in self.users.values() {
            encode_user(&mut w, user);
        }
        let checksum = fnv1a(&w.0);
        w.0.extend_from_slice(&checksum.to_le_bytes());
        Bytes::from(w.0)
    }

    /// Reads [`Acl::encode`]'s bytes; refuses anything else (bad checksum, version, counts
    /// past the limits, broken invariants) without panicking.
    pub fn decode(bytes: &[u8]) -> Result<Acl, DecodeError> {
        if bytes.len() > limits::ENCODED_SIZE_MAX {
            return Err(DecodeError("too large".to_owned()));
        }
        if bytes.len() < MAGIC.len() + 1 + 8 {
            return Err(DecodeError("too short".to_owned()));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - 8);
        let checksum = u64::from_le_bytes(checksum.try_into().expect("8 bytes"));
        if fnv1a(body) != checksum {
            return Err(DecodeError("checksum mismatch".to_owned()));
        }
        if &body[..4] != MAGIC {
            return Err(DecodeError("bad magic".to_owned()));
        }
        if body[4] != VERSION {
            return Err(DecodeError(format!("unknown version {}", body[4])));
        }
        let mut r = Reader { bytes: body, at: 5 };
        let acl = read_acl(&mut r)?;
        if r.at != body.len() {
            return Err(DecodeError("trailing bytes".to_owned()));
        }
        Ok(acl)
    }
}

/// The bytes one user takes in [`Acl::encode`]'s output.
pub(crate) fn user_size(user: &User) -> usize {
    let mut w = Writer(Vec::new());
    encode_user(&mut w, user);
    w.0.len()
}

fn encode_user(w: &mut Writer, user: &User) {
    w.bytes(&user.name);
    w.u8(u8::from(user.enabled) | u8::from(user.nopass) << 1);
    w.u8(match user.sanitize {
        Sanitize::Unset => 0,
        Sanitize::On => 1,
        Sanitize::Skip => 2,
    });
    w.u32(user.passwords.len());
    for password in &user.passwords {
        w.0.extend_from_slice(password.as_bytes());
    }
    w.u32(user.selectors.len());
    for selector in &user.selectors {
        encode_selector(w, selector);
    }
}

fn encode_selector(w: &mut Writer, selector: &Selector) {
    w.u8(u8::from(selector.root)
        | u8::from(selector.all_keys) << 1
        | u8::from(selector.all_channels) << 2
        | u8::from(selector.all_commands) << 3
        | u8::from(selector.future_commands) << 4);
    let allowed: Vec<&str> = commands::all()
        .filter(|meta| selector.allowed.get(usize::from(meta.id)))
        .map(|meta| meta.name)
        .collect();
    w.u32(allowed.len());
    for name in allowed {
        w.bytes(name.as_bytes());
    }
    w.u32(selector.first_args.len());
    for (id, args) in &selector.first_args {
        let name = commands::by_id(*id).map_or("", |meta| meta.name);
        w.bytes(name.as_bytes());
        w.u32(args.len());
        for arg in args {
            w.bytes(arg);
        }
    }
    w.u32(selector.patterns.len());
    for pattern in &selector.patterns {
        w.u8(pattern.permissions);
        w.bytes(&pattern.pattern);
    }
    w.u32(selector.channels.len());
    for channel in &selector.channels {
        w.bytes(channel);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| DecodeError("truncated".to_owned()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    /// A count, refused above `max`.
    fn count(&mut self, max: usize) -> Result<usize, DecodeError> {
        let raw = self.take(4)?;
        let value = u32::from_le_bytes(raw.try_into().expect("4 bytes"));
        let value = usize::try_from(value).map_err(|_| DecodeError("count overflow".to_owned()))?;
        if value > max {
            return Err(DecodeError(format!("count {value} above {max}")));
        }
        Ok(value)
    }
    fn bytes(&mut self, max: usize) -> Result<Bytes, DecodeError> {
        let len = self.count(max)?;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }
}

fn read_acl(r: &mut Reader) -> Result<Acl, DecodeError> {
    let count = r.count(limits::USERS_MAX)?;
    let mut users = std::collections::BTreeMap::new();
    for _ in 0..count {
        let user = read_user(r)?;
        if users.insert(user.name.clone(), user).is_some() {
            return Err(DecodeError("duplicate user".to_owned()));
        }
    }
    if !users.contains_key(&b"default"[..]) {
        return Err(DecodeError("no default user".to_owned()));
    }
    Ok(Acl::from_users(users))
}

fn read_user(r: &mut Reader) -> Result<User, DecodeError> {
    let name = r.bytes(limits::USER_NAME_SIZE_MAX)?;
    if crate::selector::has_spaces(&name) {
        return Err(DecodeError("bad user name".to_owned()));
    }
    let flags = r.u8()?;
    if flags > 3 {
        return Err(DecodeError("bad user flags".to_owned()));
    }
    let sanitize = match r.u8()? {
        0 => Sanitize::Unset,
        1 => Sanitize::On,
        2 => Sanitize::Skip,
        other => return Err(DecodeError(format!("bad sanitize {other}"))),
    };
    let mut user = User::new(&name);
    user.enabled = flags & 1 != 0;
    user.nopass = flags & 2 != 0;
    user.sanitize = sanitize;
    let passwords = r.count(limits::PASSWORDS_PER_USER_MAX)?;
    for _ in 0..passwords {
        let hash = r.take(64)?;
        if !hash.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DecodeError("bad password hash".to_owned()));
        }
        let hash = String::from_utf8_lossy(hash).into_owned();
        if user.passwords.contains(&hash) {
            return Err(DecodeError("duplicate password".to_owned()));
        }
        user.passwords.push(hash);
    }
    if user.nopass && !user.passwords.is_empty() {
        return Err(DecodeError("nopass user with passwords".to_owned()));
    }
    let selectors = r.count(limits::SELECTORS_PER_USER_MAX)?;
    user.selectors.clear();
    for index in 0..selectors {
        let selector = read_selector(r)?;
        if selector.root != (index == 0) {
            return Err(DecodeError("root selector misplaced".to_owned()));
        }
        user.selectors.push(selector);
    }
    if user.selectors.is_empty() {
        return Err(DecodeError("no root selector".to_owned()));
    }
    Ok(user)
}

fn read_selector(r: &mut Reader) -> Result<Selector, DecodeError> {
    let flags = r.u8()?;
    if flags > 31 {
        return Err(DecodeError("bad selector flags".to_owned()));
    }
    let mut selector = Selector::new(flags & 1 != 0);
    selector.all_keys = flags & 2 != 0;
    selector.all_channels = flags & 4 != 0;
    selector.all_commands = flags & 8 != 0;
    selector.future_commands = flags & 16 != 0;
    let mut words = *CommandBits::default().words();
    let allowed = r.count(commands::COMMAND_ID_COUNT.max(4096))?;
    for _ in 0..allowed {
        let name = r.bytes(256)?;
        // A command this binary does not know cannot run here: skip it.
        if let Some(meta) = commands::lookup_full(&name) {
            let id = usize::from(meta.id);
            words[id / 64] |= 1 << (id % 64);
        }
    }
    selector.allowed = CommandBits::from_words(words);
    let first_args = r.count(limits::PATTERNS_PER_SELECTOR_MAX)?;
    for _ in 0..first_args {
        let name = r.bytes(256)?;
        let count = r.count(limits::PATTERNS_PER_SELECTOR_MAX)?;
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            args.push(r.bytes(limits::PATTERN_SIZE_MAX)?);
        }
        if let Some(meta) = commands::lookup_full(&name) {
            selector.first_args.push((meta.id, args));
        }
    }
    let patterns = r.count(limits::PATTERNS_PER_SELECTOR_MAX)?;
    for _ in 0..patterns {
        let permissions = r.u8()?;
        if permissions == 0 || permissions & !(PERMISSION_READ | PERMISSION_WRITE) != 0 {
            return Err(DecodeError("bad key permissions".to_owned()));
        }
        let pattern = r.bytes(limits::PATTERN_SIZE_MAX)?;
        selector.patterns.push(KeyPattern {
            pattern,
            permissions,
        });
    }
    let channels = r.count(limits::PATTERNS_PER_SELECTOR_MAX)?;
    for _ in 0..channels {
        selector.channels.push(r.bytes(limits::PATTERN_SIZE_MAX)?);
    }
    if (selector.all_keys && !selector.patterns.is_empty())
        || (selector.all_channels && !selector.channels.is_empty())
    {
        return Err(DecodeError(
            "patterns beside all keys or channels".to_owned(),
        ));
    }
    Ok(selector)
}
