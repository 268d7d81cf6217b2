//! Redis 7 ACLs for ninesdb, pure and deterministic: users and their rules, permission
//! checks, the ACL command family, ACL LOG, and the command metadata table they all read.
//!
//! - [`Acl`] is the user database. It is replicated (through the meta group): change it
//!   only with [`Acl::apply`] on committed `ACL SETUSER` / `ACL DELUSER` commands, which
//!   validates every rule before changing anything. [`Acl::read`] answers the other ACL
//!   subcommands; [`Acl::check`] decides whether a user may run a command;
//!   [`Acl::auth`] is `AUTH`.
//! - [`AclLog`] is per node (not replicated), and [`genpass`] takes its randomness as input.
//! - [`commands`] is the table of every command and subcommand (Redis 7.0.15's, generated
//!   from its JSON files, plus `NINESDB ...`), with `COMMAND INFO/DOCS/COUNT/LIST` replies.
//!
//! Nothing here reads a clock, an RNG or a file; time and random bytes come in as
//! arguments. Nothing panics on input.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use resp::Value;

mod codec;
pub mod commands;
pub mod limits;
mod log;
mod selector;
mod user;

pub use codec::DecodeError;
pub use keyspace::util::{glob_match, glob_match_nocase};
pub use log::{AclLog, LogContext, LogEvent};
pub use user::{hash_password, User};

use commands::{category, CommandMeta};
use selector::Refusal;

/// Why a rule of `ACL SETUSER` was refused (acl.c `ACLSetUserStringError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownCommand,
    Syntax,
    PatternAfterAllKeys,
    PatternAfterAllChannels,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
    /// A ninesdb limit (see [`limits`]).
    Limit(&'static str),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::PatternAfterAllKeys => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::PatternAfterAllChannels => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
            RuleError::Limit(what) => what,
        })
    }
}

/// What a denial was about (ACL LOG's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeniedReason {
    Command,
    Key,
    Channel,
    Auth,
}

impl DeniedReason {
    /// ACL LOG's name for it.
    pub fn name(self) -> &'static str {
        match self {
            DeniedReason::Command => "command",
            DeniedReason::Key => "key",
            DeniedReason::Channel => "channel",
            DeniedReason::Auth => "auth",
        }
    }
}

/// A refused command: what was refused, ready for the reply and for ACL LOG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub reason: DeniedReason,
    /// The command's full name ("set", "config|get").
    pub command: &'static str,
    /// The argument refused (key or channel), and its index in the argument vector.
    pub argument: Option<(usize, Bytes)>,
}

impl Denied {
    /// The error Redis replies with (server.c `processCommand`).
    pub fn error(&self) -> Value {
        Value::Error(match self.reason {
            DeniedReason::Key => "NOPERM this user has no permissions to access one of the keys \
                                  used as arguments"
                .to_owned(),
            DeniedReason::Channel => "NOPERM this user has no permissions to access one of the \
                                      channels used as arguments"
                .to_owned(),
            _ => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                self.command
            ),
        })
    }

    /// ACL LOG's `object`: the command's name, or the key or channel.
    pub fn object(&self) -> Bytes {
        match &self.argument {
            Some((_, argument)) => argument.clone(),
            None => Bytes::from_static(self.command.as_bytes()),
        }
    }

    /// ACL DRYRUN's answer (a bulk string in Redis, not an error).
    fn dryrun_text(&self) -> Vec<u8> {
        let mut text = Vec::new();
        match (&self.reason, &self.argument) {
            (DeniedReason::Key, Some((_, key))) => {
                text.extend_from_slice(b"This user has no permissions to access the '");
                text.extend_from_slice(key);
                text.extend_from_slice(b"' key");
            }
            (DeniedReason::Channel, Some((_, channel))) => {
                text.extend_from_slice(b"This user has no permissions to access the '");
                text.extend_from_slice(channel);
                text.extend_from_slice(b"' channel");
            }
            _ => text.extend_from_slice(
                format!(
                    "This user has no permissions to run the '{}' command",
                    self.command
                )
                .as_bytes(),
            ),
        }
        text
    }
}

/// A failed AUTH.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthError {
    /// The error to reply with.
    pub reply: Value,
    /// For a wrong password or unknown or disabled user: the user name tried, to be logged
    /// in ACL LOG with reason `auth` (Redis logs these, not syntax errors).
    pub log_username: Option<Bytes>,
}

/// How the server runs one ACL command (see [`classify`]).
#[derive(Clone, Debug, PartialEq)]
pub enum AclCommand {
    /// SETUSER / DELUSER: changes the replicated database; propose it, then [`Acl::apply`].
    Apply,
    /// [`Acl::read`] on this node.
    Read,
    /// [`AclLog::command`] on this node's log.
    Log,
    /// [`genpass`] with fresh random bytes.
    Genpass,
    /// Answer this error (unknown subcommand, wrong arity).
    Error(Value),
}

/// Sorts an `ACL ...` argument vector by how it must run, with Redis's errors for an unknown
/// subcommand or a wrong argument count.
pub fn classify(args: &[Bytes]) -> AclCommand {
    let Some(sub) = args.get(1) else {
        return AclCommand::Error(arity_error("acl"));
    };
    let Some(meta) = commands::lookup_sub(b"acl", sub) else {
        return AclCommand::Error(Value::Error(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            c_text(sub, 128),
            c_text(&args[0], usize::MAX).to_ascii_uppercase()
        )));
    };
    if !meta.arity_ok(args.len()) {
        return AclCommand::Error(arity_error(meta.name));
    }
    let name = meta.declared_name();
    if matches!(name, "cat" | "genpass" | "log") && args.len() > 3 {
        // aclCommand's own check (addReplySubcommandSyntaxError).
        return AclCommand::Error(Value::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            c_text(&args[1], 128),
            c_text(&args[0], usize::MAX).to_ascii_uppercase()
        )));
    }
    match name {
        "setuser" | "deluser" => AclCommand::Apply,
        "log" => AclCommand::Log,
        "genpass" => AclCommand::Genpass,
        _ => AclCommand::Read,
    }
}

fn arity_error(name: &str) -> Value {
    Value::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `%.Ns` of a byte string in an error: stops at NUL, newlines become spaces (Redis
/// refuses protocol-breaking errors).
fn c_text(bytes: &[u8], max: usize) -> String {
    let end = bytes
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(bytes.len())
        .min(max);
    String::from_utf8_lossy(&bytes[..end]).replace(['\r', '\n'], " ")
}

/// `ACL GENPASS [bits]`: `random` must hold [`limits::GENPASS_RANDOM_BYTES`] fresh random
/// bytes (fewer make a shorter password). `args` is the whole command.
pub fn genpass(args: &[Bytes], random: &[u8]) -> Value {
    let mut bits: i64 = 256;
    if let Some(argument) = args.get(2) {
        match commands::keys::parse_i64(argument) {
            Some(n) => bits = n,
            None => return Value::Error("ERR value is not an integer or out of range".to_owned()),
        }
    }
    if bits <= 0 || bits > 4096 {
        return Value::Error(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a \
             positive number up to 4096"
                .to_owned(),
        );
    }
    let chars = usize::try_from((bits + 3) / 4).unwrap_or(0);
    // util.c getRandomHexChars: each random byte picks one hex digit.
    let hex: Vec<u8> = random
        .iter()
        .take(chars)
        .map(|byte| b"0123456789abcdef"[usize::from(byte & 0x0f)])
        .collect();
    Value::Bulk(Bytes::from(hex))
}

/// The argument vector that sets `requirepass` (Redis's `ACLUpdateDefaultUserPassword`),
/// to propose through the meta group like any SETUSER.
pub fn requirepass_command(password: Option<&[u8]>) -> Vec<Bytes> {
    let mut args = vec![
        Bytes::from_static(b"ACL"),
        Bytes::from_static(b"SETUSER"),
        Bytes::from_static(b"default"),
        Bytes::from_static(b"resetpass"),
    ];
    match password {
        Some(password) => {
            let mut rule = b">".to_vec();
            rule.extend_from_slice(password);
            args.push(Bytes::from(rule));
        }
        None => args.push(Bytes::from_static(b"nopass")),
    }
    args
}

/// The user database. Starts with Redis's default user (`on nopass ~* &* +@all`).
/// Invariants: holds a user named "default"; users are sorted by name (as Redis's rax);
/// `encoded_size` is the sum of the users' encoded sizes, at most
/// [`limits::DATABASE_SIZE_MAX`], so every database `encode` makes, `decode` reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    users: BTreeMap<Bytes, User>,
    encoded_size: usize,
}

impl Default for Acl {
    fn default() -> Acl {
        Acl::new()
    }
}

impl Acl {
    /// A database holding only the default user.
    pub fn new() -> Acl {
        let mut users = BTreeMap::new();
        users.insert(Bytes::from_static(b"default"), User::default_user());
        Acl::from_users(users)
    }

    fn from_users(users: BTreeMap<Bytes, User>) -> Acl {
        let encoded_size = users.values().map(codec::user_size).sum();
        Acl {
            users,
            encoded_size,
        }
    }

    /// The user named `name`.
    pub fn user(&self, name: &[u8]) -> Option<&User> {
        self.users.get(name)
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Whether a new connection must authenticate before running commands other than
    /// AUTH/HELLO (server.c `authRequired`): the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        self.users
            .get(&b"default"[..])
            .is_none_or(|user| !user.nopass || !user.enabled)
    }

    /// The `NOAUTH` error for a command refused before authentication.
    pub fn noauth_error() -> Value {
        Value::Error("NOAUTH Authentication required.".to_owned())
    }

    /// Checks a user name and password (acl.c `ACLCheckUserCredentials`).
    pub fn authenticate(&self, user: &[u8], password: &[u8]) -> Result<(), Value> {
        match self.users.get(user) {
            Some(found) if found.enabled && found.password_matches(password) => Ok(()),
            _ => Err(Value::Error(
                "WRONGPASS invalid username-password pair or user is disabled.".to_owned(),
            )),
        }
    }

    /// `AUTH password` / `AUTH user password` (acl.c `authCommand`): the user now
    /// authenticated, or the error. `args` is the whole command.
    pub fn auth(&self, args: &[Bytes]) -> Result<Bytes, AuthError> {
        let refuse = |reply: Value| AuthError {
            reply,
            log_username: None,
        };
        let (user, password) = match args {
            [_, password] => {
                if !self.auth_required_for_default() {
                    return Err(refuse(Value::Error(
                        "ERR AUTH <password> called without any password configured for the \
                         default user. Are you sure your configuration is correct?"
                            .to_owned(),
                    )));
                }
                (Bytes::from_static(b"default"), password)
            }
            [_, user, password] => (user.clone(), password),
            [] | [_] => return Err(refuse(arity_error("auth"))),
            _ => return Err(refuse(Value::Error("ERR syntax error".to_owned()))),
        };
        match self.authenticate(&user, password) {
            Ok(()) => Ok(user),
            Err(reply) => Err(AuthError {
                reply,
                log_username: Some(user),
            }),
        }
    }

    fn auth_required_for_default(&self) -> bool {
        self.users
            .get(&b"default"[..])
            .is_some_and(|user| !user.nopass)
    }

    /// Whether `user` may run `args` (acl.c `ACLCheckAllUserCommandPerm`). Unknown commands
    /// and wrong arities pass: the command table answers those first, as in Redis. A user
    /// that no longer exists is refused every command (Redis disconnects its clients).
    /// `NINESDB REQ s n command...` checks the carried command too.
    pub fn check(&self, user: &[u8], args: &[Bytes]) -> Result<(), Denied> {
        let mut args = args;
        loop {
            let Some(meta) = commands::lookup_args(args) else {
                return Ok(());
            };
            if !meta.arity_ok(args.len()) {
                return Ok(());
            }
            let Some(found) = self.users.get(user) else {
                return Err(Denied {
                    reason: DeniedReason::Command,
                    command: meta.name,
                    argument: None,
                });
            };
            check_user(found, meta, args)?;
            // A loop, not recursion: REQ inside REQ must not grow the stack.
            if meta.name != "ninesdb|req" {
                return Ok(());
            }
            args = &args[4..];
        }
    }

    /// Whether the argument vector changes the database (`ACL SETUSER` / `ACL DELUSER`):
    /// those go through the meta group's log.
    pub fn is_mutation(args: &[Bytes]) -> bool {
        args.len() >= 2
            && args[0].eq_ignore_ascii_case(b"acl")
            && (args[1].eq_ignore_ascii_case(b"setuser")
                || args[1].eq_ignore_ascii_case(b"deluser"))
    }

    /// Applies a committed `ACL SETUSER` or `ACL DELUSER` (the whole argument vector).
    /// Deterministic; a refused command changes nothing. Other commands get Redis's error
    /// for an unknown subcommand or wrong arity.
    pub fn apply(&mut self, args: &[Bytes]) -> Value {
        match classify(args) {
            AclCommand::Error(error) => error,
            AclCommand::Apply if args[1].eq_ignore_ascii_case(b"setuser") => {
                self.setuser(&args[2], &args[3..])
            }
            AclCommand::Apply => self.deluser(&args[2..]),
            _ => Value::Error("ERR not an ACL SETUSER or DELUSER command".to_owned()),
        }
    }

    /// acl.c `ACLStringSetUser`: stage every rule on a copy, then swap it in.
    fn setuser(&mut self, name: &[u8], rules: &[Bytes]) -> Value {
        if selector::has_spaces(name) {
            return Value::Error(
                "ERR Usernames can't contain spaces or null characters".to_owned(),
            );
        }
        if name.len() > limits::USER_NAME_SIZE_MAX {
            return Value::Error("ERR ACL user name too long".to_owned());
        }
        if !self.users.contains_key(name) && self.users.len() >= limits::USERS_MAX {
            return Value::Error("ERR ACL has too many users".to_owned());
        }
        let merged = match merge_selector_arguments(rules) {
            Ok(merged) => merged,
            Err(start) => {
                return Value::Error(format!(
                    "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                    c_text(&rules[start], usize::MAX)
                ))
            }
        };
        let mut staged = match self.users.get(name) {
            Some(user) => user.clone(),
            None => User::new(name),
        };
        for rule in &merged {
            if let Err(error) = staged.apply(rule).and_then(|()| check_limits(&staged)) {
                return Value::Error(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {}",
                    c_text(rule, usize::MAX),
                    error
                ));
            }
        }
        let old_size = self.users.get(name).map_or(0, codec::user_size);
        let new_size = codec::user_size(&staged);
        let total = self.encoded_size - old_size + new_size;
        if total > limits::DATABASE_SIZE_MAX {
            return Value::Error("ERR ACL users would exceed the database size limit".to_owned());
        }
        self.encoded_size = total;
        self.users.insert(Bytes::copy_from_slice(name), staged);
        Value::Simple("OK".to_owned())
    }

    fn deluser(&mut self, names: &[Bytes]) -> Value {
        if names.iter().any(|name| name.as_ref() == b"default") {
            return Value::Error("ERR The 'default' user cannot be removed".to_owned());
        }
        let mut deleted: i64 = 0;
        for name in names {
            if let Some(user) = self.users.remove(name.as_ref()) {
                self.encoded_size -= codec::user_size(&user);
                deleted += 1;
            }
        }
        Value::Integer(deleted)
    }

    /// The read-only ACL subcommands: GETUSER, USERS, LIST, WHOAMI, CAT, DRYRUN, LOAD, SAVE,
    /// HELP. `current_user` is the connection's user (WHOAMI). `args` is the whole command.
    pub fn read(&self, args: &[Bytes], current_user: &[u8]) -> Value {
        if let AclCommand::Error(error) = classify(args) {
            return error;
        }
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let bulk = |bytes: &[u8]| Value::Bulk(Bytes::copy_from_slice(bytes));
        match sub.as_str() {
            "getuser" => self.users.get(&args[2]).map_or(Value::Null, getuser),
            "users" => Value::Array(self.users.keys().map(|name| bulk(name)).collect()),
            "list" => Value::Array(
                self.users
                    .values()
                    .map(|user| {
                        let mut line = b"user ".to_vec();
                        line.extend_from_slice(&user.name);
                        line.push(b' ');
                        line.extend_from_slice(&user.describe());
                        Value::Bulk(Bytes::from(line))
                    })
                    .collect(),
            ),
            "whoami" => bulk(current_user),
            "cat" => cat(args.get(2)),
            "dryrun" => self.dryrun(&args[2], &args[3..]),
            "load" | "save" => Value::Error(
                "ERR This Redis instance is not configured to use an ACL file. You may want to \
                 specify users via the ACL SETUSER command and then issue a CONFIG REWRITE \
                 (assuming you have a Redis configuration file set) in order to store users in \
                 the Redis configuration."
                    .to_owned(),
            ),
            "help" => help(),
            _ => Value::Error(format!("ERR ACL {sub} changes users: use Acl::apply")),
        }
    }

    fn dryrun(&self, name: &[u8], command: &[Bytes]) -> Value {
        let Some(user) = self.users.get(name) else {
            return Value::Error(format!("ERR User '{}' not found", c_text(name, usize::MAX)));
        };
        let Some(meta) = commands::lookup_args(command) else {
            return Value::Error(format!(
                "ERR Command '{}' not found",
                c_text(&command[0], usize::MAX)
            ));
        };
        if !meta.arity_ok(command.len()) {
            return arity_error(meta.name);
        }
        match check_user(user, meta, command) {
            Ok(()) => Value::Simple("OK".to_owned()),
            Err(denied) => Value::Bulk(Bytes::from(denied.dryrun_text())),
        }
    }
}

/// Checks every selector; the first that allows all of it wins. Otherwise the refusal
/// reported is Redis's pick: the "highest" reason (channel > key > command), and among
/// equals the latest argument.
fn check_user(user: &User, meta: &'static CommandMeta, args: &[Bytes]) -> Result<(), Denied> {
    let mut worst: Option<Refusal> = None;
    for selector in &user.selectors {
        match selector.check(meta, args) {
            Ok(()) => return Ok(()),
            Err(refusal) => {
                if worst.is_none_or(|w| rank(refusal) > rank(w)) {
                    worst = Some(refusal);
                }
            }
        }
    }
    let (reason, argument) = match worst.unwrap_or(Refusal::Command) {
        Refusal::Command => (DeniedReason::Command, None),
        Refusal::Key(index) => (DeniedReason::Key, Some((index, args[index].clone()))),
        Refusal::Channel(index) => (DeniedReason::Channel, Some((index, args[index].clone()))),
    };
    Err(Denied {
        reason,
        command: meta.name,
        argument,
    })
}

/// Redis's (ACL_DENIED_* value, argument index) order.
fn rank(refusal: Refusal) -> (u8, usize) {
    match refusal {
        Refusal::Command => (1, 0),
        Refusal::Key(index) => (2, index),
        Refusal::Channel(index) => (4, index),
    }
}

fn check_limits(user: &User) -> Result<(), RuleError> {
    if user.passwords.len() > limits::PASSWORDS_PER_USER_MAX {
        return Err(RuleError::Limit("too many passwords (ninesdb limit)"));
    }
    if user.selectors.len() > limits::SELECTORS_PER_USER_MAX {
        return Err(RuleError::Limit("too many selectors (ninesdb limit)"));
    }
    for selector in &user.selectors {
        let first_args: usize = selector.first_args.iter().map(|(_, args)| args.len()).sum();
        if selector.patterns.len() > limits::PATTERNS_PER_SELECTOR_MAX
            || selector.channels.len() > limits::PATTERNS_PER_SELECTOR_MAX
            || first_args > limits::PATTERNS_PER_SELECTOR_MAX
        {
            return Err(RuleError::Limit("too many patterns (ninesdb limit)"));
        }
        let too_long = selector
            .patterns
            .iter()
            .map(|p| &p.pattern)
            .chain(selector.channels.iter())
            .chain(selector.first_args.iter().flat_map(|(_, args)| args.iter()))
            .any(|pattern| pattern.len() > limits::PATTERN_SIZE_MAX);
        if too_long {
            return Err(RuleError::Limit("pattern too long (ninesdb limit)"));
        }
    }
    Ok(())
}

/// acl.c `ACLMergeSelectorArguments`: joins `(` ... `)` spread over several arguments
/// with spaces. `Err(index)` of the argument that opened an unclosed selector.
fn merge_selector_arguments(rules: &[Bytes]) -> Result<Vec<Bytes>, usize> {
    let mut merged = Vec::with_capacity(rules.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (index, rule) in rules.iter().enumerate() {
        if rule.first() == Some(&b'(') && rule.last() != Some(&b')') {
            open = Some((index, rule.to_vec()));
            continue;
        }
        if let Some((_, selector)) = &mut open {
            selector.push(b' ');
            selector.extend_from_slice(rule);
            if rule.last() == Some(&b')') {
                let (_, selector) = open.take().expect("open selector");
                merged.push(Bytes::from(selector));
            }
            continue;
        }
        merged.push(rule.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(merged),
    }
}

/// ACL GETUSER's reply for one user.
fn getuser(user: &User) -> Value {
    let bulk = |bytes: &[u8]| Value::Bulk(Bytes::copy_from_slice(bytes));
    let flags = Value::Set(
        user.flag_names()
            .iter()
            .map(|f| bulk(f.as_bytes()))
            .collect(),
    );
    let passwords = Value::Array(user.passwords.iter().map(|p| bulk(p.as_bytes())).collect());
    let selector_fields = |selector: &selector::Selector| {
        vec![
            (bulk(b"commands"), bulk(&selector.describe_commands())),
            (bulk(b"keys"), bulk(&selector.describe_keys())),
            (bulk(b"channels"), bulk(&selector.describe_channels())),
        ]
    };
    let mut map = vec![(bulk(b"flags"), flags), (bulk(b"passwords"), passwords)];
    map.extend(selector_fields(&user.selectors[0]));
    let others = user.selectors[1..]
        .iter()
        .map(|selector| Value::Map(selector_fields(selector)))
        .collect();
    map.push((bulk(b"selectors"), Value::Array(others)));
    Value::Map(map)
}

/// `ACL CAT [category]`.
fn cat(name: Option<&Bytes>) -> Value {
    let bulk = |text: &str| Value::Bulk(Bytes::copy_from_slice(text.as_bytes()));
    let Some(name) = name else {
        return Value::Array(category::NAMES.iter().map(|n| bulk(n)).collect());
    };
    let Some(bit) = category::by_name(name) else {
        return Value::Error(format!("ERR Unknown category '{}'", c_text(name, 128)));
    };
    Value::Array(
        commands::all()
            .filter(|meta| meta.categories & bit != 0)
            .map(|meta| bulk(meta.name))
            .collect(),
    )
}

fn help() -> Value {
    const LINES: &[&str] = &[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ];
    Value::Array(
        LINES
            .iter()
            .map(|line| Value::Simple((*line).to_owned()))
            .collect(),
    )
}
