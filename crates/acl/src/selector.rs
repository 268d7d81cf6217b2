//! A selector: one set of command, key and channel permissions (acl.c `aclSelector`).
//! Every user has a root selector; `(...)` rules add more, and a command is allowed when
//! any one selector allows all of it.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::commands::{self, category, key_flag, CommandMeta, COMMAND_ID_COUNT};
use crate::glob_match;
use crate::RuleError;

const WORDS: usize = COMMAND_ID_COUNT.div_ceil(64);

/// A bitmap with one bit per command id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct CommandBits([u64; WORDS]);

impl CommandBits {
    fn all() -> CommandBits {
        let mut bits = CommandBits([0; WORDS]);
        for id in 0..COMMAND_ID_COUNT {
            bits.set(id, true);
        }
        bits
    }

    pub(crate) fn get(&self, id: usize) -> bool {
        self.0[id / 64] & (1 << (id % 64)) != 0
    }

    fn set(&mut self, id: usize, value: bool) {
        if value {
            self.0[id / 64] |= 1 << (id % 64);
        } else {
            self.0[id / 64] &= !(1 << (id % 64));
        }
    }

    fn count_and(&self, other: &CommandBits, invert_self: bool) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(mine, theirs)| {
                let mine = if invert_self { !mine } else { *mine };
                (mine & theirs).count_ones()
            })
            .sum()
    }

    pub(crate) fn words(&self) -> &[u64; WORDS] {
        &self.0
    }

    pub(crate) fn from_words(words: [u64; WORDS]) -> CommandBits {
        let mut bits = CommandBits(words);
        // Ids past the table do not exist: keep them clear so equality means something.
        for id in COMMAND_ID_COUNT..WORDS * 64 {
            bits.set(id, false);
        }
        bits
    }
}

/// The commands of each category, by category index, as bitmaps.
fn category_bits() -> &'static [CommandBits] {
    static BITS: OnceLock<Vec<CommandBits>> = OnceLock::new();
    BITS.get_or_init(|| {
        (0..category::NAMES.len())
            .map(|index| {
                let mut bits = CommandBits::default();
                for meta in commands::all().filter(|meta| meta.categories & (1 << index) != 0) {
                    bits.set(usize::from(meta.id), true);
                }
                bits
            })
            .collect()
    })
}

/// Read permission of a key pattern (`%R~`).
pub(crate) const PERMISSION_READ: u8 = 1;
/// Write permission of a key pattern (`%W~`).
pub(crate) const PERMISSION_WRITE: u8 = 2;
const PERMISSION_ALL: u8 = PERMISSION_READ | PERMISSION_WRITE;

/// A key pattern with the access it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPattern {
    pub(crate) pattern: Bytes,
    /// [`PERMISSION_READ`] | [`PERMISSION_WRITE`], never 0.
    pub(crate) permissions: u8,
}

impl KeyPattern {
    /// `~pattern`, `%R~pattern` or `%W~pattern`.
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.permissions {
            PERMISSION_READ => b"%R~".as_slice(),
            PERMISSION_WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// Why a selector refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Refusal {
    /// Redis's ACL_DENIED_CMD (1).
    Command,
    /// ACL_DENIED_KEY (2), with the key's argument index.
    Key(usize),
    /// ACL_DENIED_CHANNEL (4), with the channel's argument index.
    Channel(usize),
}

/// One selector. Invariants: patterns and channels hold no duplicates; `all_keys` implies
/// no patterns and `all_channels` no channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) root: bool,
    pub(crate) all_keys: bool,
    pub(crate) all_channels: bool,
    /// Every command, present and future (Redis's SELECTOR_FLAG_ALLCOMMANDS): cleared as
    /// soon as any command is taken away.
    pub(crate) all_commands: bool,
    /// Redis's reserved bitmap bit: set by `+@all`, cleared only by `-@all`. It decides
    /// whether the description starts with `+@all` or `-@all`.
    pub(crate) future_commands: bool,
    pub(crate) allowed: CommandBits,
    /// Per command id, the first arguments allowed although the command is not
    /// (`+select|0`), lowercase-insensitive, in the order given.
    pub(crate) first_args: Vec<(u16, Vec<Bytes>)>,
    pub(crate) patterns: Vec<KeyPattern>,
    pub(crate) channels: Vec<Bytes>,
}

impl Selector {
    /// An empty selector: no commands, keys or channels (`acl-pubsub-default` is
    /// `resetchannels` in Redis 7).
    pub(crate) fn new(root: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels: false,
            all_commands: false,
            future_commands: false,
            allowed: CommandBits::default(),
            first_args: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// acl.c `ACLSetSelector`: one rule.
    pub(crate) fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &[u8]| op.eq_ignore_ascii_case(word);
        if is(b"allkeys") || is(b"~*") {
            self.all_keys = true;
            self.patterns.clear();
        } else if is(b"resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is(b"allchannels") || is(b"&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is(b"resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is(b"allcommands") || is(b"+@all") {
            self.allowed = CommandBits::all();
            self.all_commands = true;
            self.future_commands = true;
            self.first_args.clear();
        } else if is(b"nocommands") || is(b"-@all") {
            self.allowed = CommandBits::default();
            self.all_commands = false;
            self.future_commands = false;
            self.first_args.clear();
        } else {
            match op.first() {
                Some(b'~' | b'%') => self.add_key_pattern(op)?,
                Some(b'&') => self.add_channel(&op[1..])?,
                Some(b'+') if op.get(1) != Some(&b'@') => self.allow_command(&op[1..])?,
                Some(b'-') if op.get(1) != Some(&b'@') => {
                    let meta = commands::lookup_full(&op[1..]).ok_or(RuleError::UnknownCommand)?;
                    self.change_permission(meta, false);
                }
                Some(b'+' | b'-') => {
                    let bit = category::by_name(&op[2..]).ok_or(RuleError::UnknownCommand)?;
                    self.set_category(bit, op[0] == b'+');
                }
                _ => return Err(RuleError::Syntax),
            }
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::PatternAfterAllKeys);
        }
        let mut offset = 1;
        let mut permissions = 0;
        if op[0] == b'%' {
            let mut ok = true;
            while offset < op.len() {
                let c = op[offset].to_ascii_uppercase();
                if c == b'R' && permissions & PERMISSION_READ == 0 {
                    permissions |= PERMISSION_READ;
                } else if c == b'W' && permissions & PERMISSION_WRITE == 0 {
                    permissions |= PERMISSION_WRITE;
                } else if op[offset] == b'~' {
                    offset += 1;
                    break;
                } else {
                    ok = false;
                    break;
                }
                offset += 1;
            }
            if permissions == 0 || !ok {
                return Err(RuleError::Syntax);
            }
        } else {
            permissions = PERMISSION_ALL;
        }
        let pattern = &op[offset..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
            Some(existing) => existing.permissions |= permissions,
            None => self.patterns.push(KeyPattern {
                pattern: Bytes::copy_from_slice(pattern),
                permissions,
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    fn add_channel(&mut self, pattern: &[u8]) -> Result<(), RuleError> {
        if self.all_channels {
            return Err(RuleError::PatternAfterAllChannels);
        }
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        if !self.channels.iter().any(|c| c == pattern) {
            self.channels.push(Bytes::copy_from_slice(pattern));
        }
        self.all_channels = false;
        Ok(())
    }

    /// `+name`, `+container|sub` or `+command|first-arg`.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let meta = commands::lookup_full(name).ok_or(RuleError::UnknownCommand)?;
            self.change_permission(meta, true);
            return Ok(());
        };
        let (head, sub) = (&name[..bar], &name[bar + 1..]);
        let meta = commands::lookup_full(head).ok_or(RuleError::UnknownCommand)?;
        if meta.is_subcommand() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if meta.subcommands.is_empty() {
            self.add_first_arg(meta.id, sub);
        } else {
            let meta = commands::lookup_full(name).ok_or(RuleError::UnknownCommand)?;
            self.change_permission(meta, true);
        }
        Ok(())
    }

    fn add_first_arg(&mut self, id: u16, arg: &[u8]) {
        let index = match self.first_args.iter().position(|(i, _)| *i == id) {
            Some(index) => index,
            None => {
                self.first_args.push((id, Vec::new()));
                self.first_args.len() - 1
            }
        };
        let list = &mut self.first_args[index].1;
        if !list.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
            list.push(Bytes::copy_from_slice(arg));
        }
    }

    fn set_bit(&mut self, id: u16, value: bool) {
        self.allowed.set(usize::from(id), value);
        if !value {
            self.all_commands = false;
        }
    }

    /// acl.c `ACLChangeSelectorPerm`: a command and all its subcommands.
    pub(crate) fn change_permission(&mut self, meta: &CommandMeta, allow: bool) {
        self.set_bit(meta.id, allow);
        self.first_args.retain(|(id, _)| *id != meta.id);
        for sub in meta.subcommands {
            self.set_bit(sub.id, allow);
        }
    }

    /// acl.c `ACLSetSelectorCommandBitsForCategory`.
    fn set_category(&mut self, bit: u64, allow: bool) {
        for meta in commands::COMMANDS {
            if meta.categories & bit != 0 {
                self.change_permission(meta, allow);
            }
            for sub in meta.subcommands {
                if sub.categories & bit != 0 {
                    self.change_permission(sub, allow);
                }
            }
        }
    }

    /// acl.c `ACLSelectorCheckCmd`.
    pub(crate) fn check(&self, meta: &CommandMeta, args: &[Bytes]) -> Result<(), Refusal> {
        if !self.all_commands
            && meta.flags & commands::flag::NO_AUTH == 0
            && !self.allowed.get(usize::from(meta.id))
        {
            let allowed_args = self.first_args.iter().find(|(id, _)| *id == meta.id);
            let index = if meta.is_subcommand() { 2 } else { 1 };
            let matched = match (allowed_args, args.get(index)) {
                (Some((_, list)), Some(arg)) if args.len() >= 2 => {
                    list.iter().any(|a| a.eq_ignore_ascii_case(arg))
                }
                _ => false,
            };
            if !matched {
                return Err(Refusal::Command);
            }
        }
        if !self.all_keys && meta.has_keys() {
            for key in commands::keys(meta, args) {
                if !self.key_allowed(&args[key.index], key.flags) {
                    return Err(Refusal::Key(key.index));
                }
            }
        }
        if !self.all_channels {
            for channel in commands::channels(meta, args) {
                if !(channel.publish || channel.subscribe) {
                    continue;
                }
                if !self.channel_allowed(&args[channel.index], channel.pattern) {
                    return Err(Refusal::Channel(channel.index));
                }
            }
        }
        Ok(())
    }

    /// acl.c `ACLSelectorCheckKey`.
    pub(crate) fn key_allowed(&self, key: &[u8], key_flags: u32) -> bool {
        if self.all_keys {
            return true;
        }
        let needed = needed_permissions(key_flags);
        self.patterns
            .iter()
            .any(|p| p.permissions & needed == needed && glob_match(&p.pattern, key))
    }

    /// acl.c `ACLCheckChannelAgainstList`: a pattern (PSUBSCRIBE) must equal an ACL
    /// pattern literally; a channel is matched against the ACL patterns.
    pub(crate) fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|allowed| {
                if is_pattern {
                    allowed == channel
                } else {
                    glob_match(allowed, channel)
                }
            })
    }

    /// acl.c `ACLDescribeSelector`: keys, channels, then command rules.
    pub(crate) fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for pattern in &self.patterns {
                pattern.describe(&mut out);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for channel in &self.channels {
                out.push(b'&');
                out.extend_from_slice(channel);
                out.push(b' ');
            }
        }
        out.extend_from_slice(&self.describe_commands());
        out
    }

    /// The key patterns as ACL GETUSER's "keys" field shows them.
    pub(crate) fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (index, pattern) in self.patterns.iter().enumerate() {
            if index > 0 {
                out.push(b' ');
            }
            pattern.describe(&mut out);
        }
        out
    }

    /// The channel patterns as ACL GETUSER's "channels" field shows them.
    pub(crate) fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (index, channel) in self.channels.iter().enumerate() {
            if index > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(channel);
        }
        out
    }

    /// acl.c `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, then the categories
    /// that fit best (greedily), then single commands to make the bitmap exact.
    pub(crate) fn describe_commands(&self) -> Vec<u8> {
        let additive = !self.future_commands;
        let mut rules = if additive {
            b"-@all ".to_vec()
        } else {
            b"+@all ".to_vec()
        };
        let mut fake = Selector::new(false);
        fake.apply(if additive { b"-@all" } else { b"+@all" })
            .expect("a fixed rule");
        let mut temp = self.allowed;
        let categories = category_bits();
        let mut applied = vec![false; categories.len()];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (u32::MAX, 0);
            for (index, bits) in categories.iter().enumerate() {
                if applied[index] {
                    continue;
                }
                let on = temp.count_and(bits, false);
                let off = temp.count_and(bits, true);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(index);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(best) = best else { break };
            let name = category::NAMES[best];
            let bit = 1u64 << best;
            fake.set_category(bit, additive);
            let mut temp_selector = Selector::new(false);
            temp_selector.allowed = temp;
            temp_selector.set_category(bit, !additive);
            temp = temp_selector.allowed;
            rules.extend_from_slice(if additive { b"+@" } else { b"-@" });
            rules.extend_from_slice(name.as_bytes());
            rules.push(b' ');
            applied[best] = true;
        }
        self.describe_single_commands(&mut fake, &mut rules);
        rules.pop();
        assert_eq!(
            fake.allowed,
            self.allowed,
            "described command rules do not rebuild the bitmap: {}",
            String::from_utf8_lossy(&rules)
        );
        rules
    }

    /// acl.c `ACLDescribeSelectorCommandRulesSingleCommands`, in table order.
    fn describe_single_commands(&self, fake: &mut Selector, rules: &mut Vec<u8>) {
        for meta in commands::COMMANDS {
            self.describe_single(meta, fake, rules);
            for sub in meta.subcommands {
                self.describe_single(sub, fake, rules);
            }
            // First args come after the command's subcommands, as in Redis.
            let mine = self.allowed.get(usize::from(meta.id));
            if let (false, Some((_, args))) =
                (mine, self.first_args.iter().find(|(id, _)| *id == meta.id))
            {
                for arg in args {
                    rules.push(b'+');
                    rules.extend_from_slice(meta.name.as_bytes());
                    rules.push(b'|');
                    rules.extend_from_slice(arg);
                    rules.push(b' ');
                }
            }
        }
    }

    fn describe_single(&self, meta: &CommandMeta, fake: &mut Selector, rules: &mut Vec<u8>) {
        let mine = self.allowed.get(usize::from(meta.id));
        if mine != fake.allowed.get(usize::from(meta.id)) {
            rules.push(if mine { b'+' } else { b'-' });
            rules.extend_from_slice(meta.name.as_bytes());
            rules.push(b' ');
            fake.change_permission(meta, mine);
        }
    }
}

/// The permissions a key access needs (ACCESS: read; INSERT, DELETE, UPDATE: write).
fn needed_permissions(key_flags: u32) -> u8 {
    let mut needed = 0;
    if key_flags & key_flag::ACCESS != 0 {
        needed |= PERMISSION_READ;
    }
    if key_flags & (key_flag::INSERT | key_flag::DELETE | key_flag::UPDATE) != 0 {
        needed |= PERMISSION_WRITE;
    }
    needed
}

/// acl.c `ACLStringHasSpaces`: C's isspace, or NUL.
pub(crate) fn has_spaces(text: &[u8]) -> bool {
    text.iter()
        .any(|&c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0))
}
