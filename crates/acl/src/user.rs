//! A user: flags, password hashes and selectors (acl.c `user`, `ACLSetUser`).

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::selector::Selector;
use crate::RuleError;

/// The payload-sanitising flag of a user (RESTORE's deep checks): unset until `reset` or
/// an explicit rule, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sanitize {
    Unset,
    On,
    Skip,
}

/// One user. Invariants: `selectors[0]` is the root selector and the only root one;
/// `passwords` are 64 lowercase hex characters each, without duplicates, and empty when
/// `nopass`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub(crate) name: Bytes,
    /// `on`; a new user is `off`.
    pub(crate) enabled: bool,
    pub(crate) nopass: bool,
    pub(crate) sanitize: Sanitize,
    pub(crate) passwords: Vec<String>,
    pub(crate) selectors: Vec<Selector>,
}

/// SHA-256 of a password as 64 lowercase hex characters (acl.c `ACLHashPassword`).
pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// acl.c `ACLCheckPasswordHash`.
fn valid_hash(hash: &[u8]) -> bool {
    hash.len() == 64 && hash.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl User {
    /// A new user as `ACL SETUSER` creates it: off, no passwords, no permissions.
    pub(crate) fn new(name: &[u8]) -> User {
        User {
            name: Bytes::copy_from_slice(name),
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true)],
        }
    }

    /// Redis's default user: `on nopass ~* &* +@all`.
    pub(crate) fn default_user() -> User {
        let mut user = User::new(b"default");
        for rule in [&b"+@all"[..], b"~*", b"&*", b"on", b"nopass"] {
            user.apply(rule)
                .expect("the default user's rules are valid");
        }
        user
    }

    /// The user's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Whether the user is `on` (may authenticate).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether any password opens the user (`nopass`).
    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether the user may subscribe to or publish on `channel` (or, for PSUBSCRIBE,
    /// `is_pattern`, on that literal pattern) in any selector: for the server to drop
    /// subscriptions a rule change took away, as Redis's `ACLKillPubsubClientsIfNeeded`.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|selector| selector.channel_allowed(channel, is_pattern))
    }

    /// acl.c `ACLSetUser`: one rule (a selector's `(...)` already merged into one).
    pub(crate) fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &[u8]| op.eq_ignore_ascii_case(word);
        if op.is_empty() {
            return Ok(());
        }
        if is(b"on") {
            self.enabled = true;
        } else if is(b"off") {
            self.enabled = false;
        } else if is(b"skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is(b"sanitize-payload") {
            self.sanitize = Sanitize::On;
        } else if is(b"nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is(b"resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let index = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(index);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let selector = selector_from_rules(&op[1..op.len() - 1])?;
            self.selectors.push(selector);
        } else if is(b"clearselectors") {
            self.selectors.truncate(1);
        } else if is(b"reset") {
            for rule in [
                &b"resetpass"[..],
                b"resetkeys",
                b"resetchannels",
                b"off",
                b"sanitize-payload",
                b"clearselectors",
                b"-@all",
            ] {
                self.apply(rule).expect("reset's rules are valid");
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// acl.c `ACLDescribeUser`: the rules that rebuild this user, as ACL LIST shows them.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for name in self.flag_names() {
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
        }
        for password in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(password.as_bytes());
            out.push(b' ');
        }
        for selector in &self.selectors {
            if selector.root {
                out.extend_from_slice(&selector.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&selector.describe());
                out.push(b')');
            }
        }
        out
    }

    /// The flags in Redis's order: on, off, nopass, skip-sanitize-payload, sanitize-payload.
    pub(crate) fn flag_names(&self) -> Vec<&'static str> {
        let mut names = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            names.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => names.push("skip-sanitize-payload"),
            Sanitize::On => names.push("sanitize-payload"),
            Sanitize::Unset => {}
        }
        names
    }

    /// Whether `password` opens this user (acl.c `ACLCheckUserCredentials`), comparing
    /// hashes in constant time.
    pub(crate) fn password_matches(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        self.passwords.iter().any(|stored| {
            stored
                .bytes()
                .zip(hashed.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
        })
    }
}

/// acl.c `aclCreateSelectorFromOpSet`: the rules inside `( )`, split as `sdssplitargs`
/// splits them. Unbalanced quotes give an empty selector, as in Redis.
fn selector_from_rules(inner: &[u8]) -> Result<Selector, RuleError> {
    let mut selector = Selector::new(false);
    for rule in resp::split_args(inner).unwrap_or_default() {
        selector.apply(&rule)?;
    }
    Ok(selector)
}
