//! Which arguments of a command are keys (with their access flags) and which are Pub/Sub
//! channels: Redis's db.c `getKeysFromCommandWithSpecs` and `getChannelsFromCommand`.

use super::{key_flag, BeginSearch, CommandMeta, FindKeys, GetKeys};

/// One key argument: its index in the argument vector and its [`key_flag`] bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUse {
    pub index: usize,
    pub flags: u32,
}

/// One channel argument of a Pub/Sub command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelUse {
    pub index: usize,
    /// PUBLISH / SPUBLISH.
    pub publish: bool,
    /// SUBSCRIBE / SSUBSCRIBE / PSUBSCRIBE (the ones ACL checks, with PUBLISH).
    pub subscribe: bool,
    /// PSUBSCRIBE / PUNSUBSCRIBE: the argument is a pattern, matched literally.
    pub pattern: bool,
}

/// The keys of `args` (command name at index 0) for `meta`, as Redis finds them for ACL
/// checks: key specs when they are complete and their flags fixed, else the command's own
/// key finder. An argument vector whose keys cannot be found (bad numkeys...) has none:
/// the command itself will answer with the syntax error.
pub fn keys(meta: &CommandMeta, args: &[impl AsRef<[u8]>]) -> Vec<KeyUse> {
    let has_keyspec = meta
        .key_specs
        .iter()
        .any(|spec| spec.flags & key_flag::NOT_KEY == 0);
    let variable = meta
        .key_specs
        .iter()
        .any(|spec| spec.flags & key_flag::VARIABLE_FLAGS != 0);
    let from_specs = if has_keyspec && !variable {
        keys_from_specs(meta, args)
    } else {
        None
    };
    let mut found = from_specs.unwrap_or_else(|| keys_from_callback(meta.get_keys, args));
    // Redis checks arity first; this finder may be asked about any vector: never point
    // past it.
    found.retain(|key| key.index < args.len());
    found
}

/// db.c `getKeysUsingKeySpecs` without flags: `None` where Redis returns -1.
fn keys_from_specs(meta: &CommandMeta, args: &[impl AsRef<[u8]>]) -> Option<Vec<KeyUse>> {
    let argc = i64::try_from(args.len()).ok()?;
    let mut found = Vec::new();
    for spec in meta.key_specs {
        if spec.flags & key_flag::NOT_KEY != 0 {
            continue;
        }
        let first = match spec.begin_search {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => match find_keyword(args, keyword, i64::from(start_from)) {
                Some(index) => index + 1,
                None => continue,
            },
            BeginSearch::Unknown => return None,
        };
        let (first, last, step) = match spec.find_keys {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last = if last_key >= 0 {
                    first + i64::from(last_key)
                } else if limit == 0 {
                    argc + i64::from(last_key)
                } else {
                    first + ((argc - first) / i64::from(limit) + i64::from(last_key))
                };
                (first, last, i64::from(step))
            }
            FindKeys::Keynum {
                keynum_index,
                first_key,
                step,
            } => {
                let at = first + i64::from(keynum_index);
                if i64::from(keynum_index) >= argc || at >= argc {
                    return None;
                }
                let count = parse_i64(args[usize::try_from(at).ok()?].as_ref())?;
                if count < 0 {
                    return None;
                }
                let first = first + i64::from(first_key);
                (first, first + count - 1, i64::from(step))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut index = first;
        while index <= last && step > 0 {
            found.push(KeyUse {
                index: usize::try_from(index).ok()?,
                flags: spec.flags,
            });
            index += step;
        }
        if spec.flags & key_flag::INCOMPLETE != 0 {
            return None;
        }
    }
    Some(found)
}

fn find_keyword(args: &[impl AsRef<[u8]>], keyword: &str, start_from: i64) -> Option<i64> {
    let argc = i64::try_from(args.len()).ok()?;
    let start = if start_from > 0 {
        start_from
    } else {
        argc + start_from
    };
    let end = if start_from > 0 { argc - 1 } else { 1 };
    let mut index = start;
    while index != end {
        if index >= argc || index < 1 {
            break;
        }
        if args[usize::try_from(index).ok()?]
            .as_ref()
            .eq_ignore_ascii_case(keyword.as_bytes())
        {
            return Some(index);
        }
        index += if start <= end { 1 } else { -1 };
    }
    None
}

fn keys_from_callback(get_keys: GetKeys, args: &[impl AsRef<[u8]>]) -> Vec<KeyUse> {
    let arg = |index: usize| args.get(index).map_or(&[][..], |a| a.as_ref());
    let key = |index: usize, flags: u32| KeyUse { index, flags };
    match get_keys {
        GetKeys::None => Vec::new(),
        GetKeys::Set => {
            let get = (3..args.len()).any(|i| arg(i).eq_ignore_ascii_case(b"get"));
            let flags = if get {
                key_flag::RW | key_flag::ACCESS | key_flag::UPDATE
            } else {
                key_flag::OW | key_flag::UPDATE
            };
            vec![key(1, flags)]
        }
        GetKeys::Bitfield => vec![key(1, bitfield_flags(args))],
        GetKeys::SortReadOnly => vec![key(1, key_flag::RO | key_flag::ACCESS)],
        GetKeys::Sort => sort_keys(args),
        GetKeys::Migrate => migrate_keys(args),
        GetKeys::Generic {
            store,
            count,
            first,
            step,
        } => generic_keys(args, store, count, first, step),
    }
}

fn bitfield_flags(args: &[impl AsRef<[u8]>]) -> u32 {
    let mut readonly = true;
    let mut i = 2;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        let arg = args[i].as_ref();
        if arg.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            i += 2;
        } else if (arg.eq_ignore_ascii_case(b"set") || arg.eq_ignore_ascii_case(b"incrby"))
            && remaining >= 3
        {
            readonly = false;
            break;
        } else if arg.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            i += 1;
        } else {
            readonly = false;
            break;
        }
        i += 1;
    }
    if readonly {
        key_flag::RO | key_flag::ACCESS
    } else {
        key_flag::RW | key_flag::ACCESS | key_flag::UPDATE
    }
}

/// db.c `sortGetKeys`: the sort key, and the last STORE's key.
fn sort_keys(args: &[impl AsRef<[u8]>]) -> Vec<KeyUse> {
    let mut found = vec![KeyUse {
        index: 1,
        flags: key_flag::RO | key_flag::ACCESS,
    }];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let arg = args[i].as_ref();
        if arg.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"get") || arg.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(index) = store {
        found.push(KeyUse {
            index,
            flags: key_flag::OW | key_flag::UPDATE,
        });
    }
    found
}

/// db.c `migrateGetKeys`: the key, or the KEYS list when the key is empty.
fn migrate_keys(args: &[impl AsRef<[u8]>]) -> Vec<KeyUse> {
    let (mut first, mut count) = (3, 1);
    if args.len() < 4 {
        return Vec::new();
    }
    if args.len() > 6 {
        let mut i = 6;
        while i < args.len() {
            let arg = args[i].as_ref();
            if arg.eq_ignore_ascii_case(b"keys") {
                if args[3].as_ref().is_empty() {
                    first = i + 1;
                    count = args.len() - first;
                } else {
                    count = 0;
                }
                break;
            }
            if arg.eq_ignore_ascii_case(b"auth") {
                i += 1;
            } else if arg.eq_ignore_ascii_case(b"auth2") {
                i += 2;
            }
            i += 1;
        }
    }
    (first..first + count)
        .map(|index| KeyUse {
            index,
            flags: key_flag::RW | key_flag::ACCESS | key_flag::DELETE,
        })
        .collect()
}

/// db.c `genericGetKeys`: the count parsed with C's `atoi`.
fn generic_keys(
    args: &[impl AsRef<[u8]>],
    store: i32,
    count: i32,
    first: i32,
    step: i32,
) -> Vec<KeyUse> {
    let at = |i: i32| usize::try_from(i).ok().and_then(|i| args.get(i));
    let Some(count_arg) = at(count) else {
        return Vec::new();
    };
    let number = atoi(count_arg.as_ref());
    let argc = i64::try_from(args.len()).unwrap_or(0);
    if number < 1 || number > (argc - i64::from(first)) / i64::from(step.max(1)) {
        return Vec::new();
    }
    let mut found: Vec<KeyUse> = (0..number)
        .filter_map(|i| usize::try_from(i64::from(first) + i * i64::from(step)).ok())
        .map(|index| KeyUse { index, flags: 0 })
        .collect();
    if store != 0 {
        found.push(KeyUse {
            index: usize::try_from(store).unwrap_or(0),
            flags: 0,
        });
    }
    found
}

/// C's `atoi`: leading blanks, a sign, digits; anything else ends it; 0 when none.
fn atoi(bytes: &[u8]) -> i64 {
    let mut rest = bytes;
    while let Some((&c, tail)) = rest.split_first() {
        if !c.is_ascii_whitespace() {
            break;
        }
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut value: i64 = 0;
    for &c in rest.iter().take_while(|c| c.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if negative {
        -value
    } else {
        value
    }
}

/// Redis's `string2ll`: strict decimal, no blanks, no "+", no leading zeros.
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let digits = match bytes.split_first() {
        Some((b'-', rest)) => rest,
        _ => bytes,
    };
    if digits.first().is_none_or(|&c| !(b'1'..=b'9').contains(&c))
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    text.parse().ok()
}

/// The channel arguments of a Pub/Sub command (db.c `commands_with_channels`).
pub fn channels(meta: &CommandMeta, args: &[impl AsRef<[u8]>]) -> Vec<ChannelUse> {
    let (publish, subscribe, pattern, all) = match meta.name {
        "subscribe" | "ssubscribe" => (false, true, false, true),
        "unsubscribe" | "sunsubscribe" => (false, false, false, true),
        "psubscribe" => (false, true, true, true),
        "punsubscribe" => (false, false, true, true),
        "publish" | "spublish" => (true, false, false, false),
        _ => return Vec::new(),
    };
    let stop = if all { args.len() } else { args.len().min(2) };
    (1..stop)
        .map(|index| ChannelUse {
            index,
            publish,
            subscribe,
            pattern,
        })
        .collect()
}
