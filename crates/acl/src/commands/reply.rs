//! `COMMAND`, `COMMAND INFO`, `COMMAND DOCS`, `COMMAND COUNT` and `COMMAND LIST` replies in
//! Redis 7.0.15's format (server.c `addReplyCommandInfo`, `addReplyCommandDocs`...).
//!
//! Every function takes `visible`: the server's say on which commands exist (ninesdb does
//! not run every Redis command). A hidden command is answered as Redis answers an unknown
//! one. Redis lists commands in its hash table's order, which is random per process; these
//! list them sorted by name.

use bytes::Bytes;
use resp::Value;

use super::{
    arg_flag, category, doc_flag, flag, key_flag, Arg, BeginSearch, CommandMeta, FindKeys, KeySpec,
};
use super::{lookup_full, COMMANDS};
use crate::glob_match_nocase;

/// The server's filter: which commands it runs.
pub type CommandFilter<'a> = &'a dyn Fn(&CommandMeta) -> bool;

fn bulk(text: &str) -> Value {
    Value::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn status(text: &str) -> Value {
    Value::Simple(text.to_owned())
}

fn shown<T: Copy + std::ops::BitAnd<Output = T> + PartialEq + Default>(
    bits: T,
    names: &[(T, &str)],
) -> Value {
    Value::Set(
        names
            .iter()
            .filter(|(bit, _)| bits & *bit != T::default())
            .map(|(_, name)| status(name))
            .collect(),
    )
}

fn visible_lookup(name: &[u8], visible: CommandFilter) -> Option<&'static CommandMeta> {
    lookup_full(name).filter(|meta| visible(meta))
}

/// `COMMAND COUNT`: the top-level commands.
pub fn command_count(visible: CommandFilter) -> Value {
    let count = COMMANDS.iter().filter(|meta| visible(meta)).count();
    Value::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

/// `COMMAND INFO [name ...]` (`names` empty: every command, as plain `COMMAND`).
pub fn command_info(names: &[Bytes], visible: CommandFilter) -> Value {
    if names.is_empty() {
        return Value::Array(
            COMMANDS
                .iter()
                .filter(|meta| visible(meta))
                .map(|meta| info(meta, visible))
                .collect(),
        );
    }
    Value::Array(
        names
            .iter()
            .map(|name| {
                visible_lookup(name, visible).map_or(Value::Null, |meta| info(meta, visible))
            })
            .collect(),
    )
}

fn info(meta: &CommandMeta, visible: CommandFilter) -> Value {
    let categories = Value::Set(
        category::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| meta.categories & (1 << bit) != 0)
            .map(|(_, name)| Value::Simple(format!("@{name}")))
            .collect(),
    );
    let subcommands = if meta.subcommands.is_empty() {
        Value::Set(Vec::new())
    } else {
        Value::Array(
            meta.subcommands
                .iter()
                .filter(|sub| visible(sub))
                .map(|sub| info(sub, visible))
                .collect(),
        )
    };
    Value::Array(vec![
        bulk(meta.name),
        Value::Integer(i64::from(meta.arity)),
        shown(meta.flags, flag::SHOWN),
        Value::Integer(i64::from(meta.first_key)),
        Value::Integer(i64::from(meta.last_key)),
        Value::Integer(i64::from(meta.key_step)),
        categories,
        Value::Set(meta.tips.iter().map(|tip| bulk(tip)).collect()),
        Value::Set(meta.key_specs.iter().map(key_spec).collect()),
        subcommands,
    ])
}

fn key_spec(spec: &KeySpec) -> Value {
    let pair = |name: &str, value: Value| (bulk(name), value);
    let mut map = Vec::with_capacity(4);
    if let Some(notes) = spec.notes {
        map.push(pair("notes", bulk(notes)));
    }
    map.push(pair("flags", shown(spec.flags, key_flag::SHOWN)));
    let int = |n: i32| Value::Integer(i64::from(n));
    let begin = match spec.begin_search {
        BeginSearch::Index(pos) => ("index", vec![pair("index", int(pos))]),
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => (
            "keyword",
            vec![
                pair("keyword", bulk(keyword)),
                pair("startfrom", int(start_from)),
            ],
        ),
        BeginSearch::Unknown => ("unknown", Vec::new()),
    };
    map.push(pair(
        "begin_search",
        Value::Map(vec![
            pair("type", bulk(begin.0)),
            pair("spec", Value::Map(begin.1)),
        ]),
    ));
    let find = match spec.find_keys {
        FindKeys::Range {
            last_key,
            step,
            limit,
        } => (
            "range",
            vec![
                pair("lastkey", int(last_key)),
                pair("keystep", int(step)),
                pair("limit", int(limit)),
            ],
        ),
        FindKeys::Keynum {
            keynum_index,
            first_key,
            step,
        } => (
            "keynum",
            vec![
                pair("keynumidx", int(keynum_index)),
                pair("firstkey", int(first_key)),
                pair("keystep", int(step)),
            ],
        ),
        FindKeys::Unknown => ("unknown", Vec::new()),
    };
    map.push(pair(
        "find_keys",
        Value::Map(vec![
            pair("type", bulk(find.0)),
            pair("spec", Value::Map(find.1)),
        ]),
    ));
    Value::Map(map)
}

/// `COMMAND DOCS [name ...]` (`names` empty: every command). Unknown names are left out.
pub fn command_docs(names: &[Bytes], visible: CommandFilter) -> Value {
    let entries: Vec<(Value, Value)> = if names.is_empty() {
        COMMANDS
            .iter()
            .filter(|meta| visible(meta))
            .map(|meta| (bulk(meta.name), docs(meta, visible)))
            .collect()
    } else {
        names
            .iter()
            .filter_map(|name| visible_lookup(name, visible))
            .map(|meta| (bulk(meta.name), docs(meta, visible)))
            .collect()
    };
    Value::Map(entries)
}

fn docs(meta: &CommandMeta, visible: CommandFilter) -> Value {
    let mut map = Vec::with_capacity(10);
    let mut text = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            map.push((bulk(name), bulk(value)));
        }
    };
    text("summary", meta.summary);
    text("since", meta.since);
    text("group", Some(meta.group));
    text("complexity", meta.complexity);
    if meta.doc_flags != 0 {
        map.push((bulk("doc_flags"), shown(meta.doc_flags, doc_flag::SHOWN)));
    }
    let mut text = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            map.push((bulk(name), bulk(value)));
        }
    };
    text("deprecated_since", meta.deprecated_since);
    text("replaced_by", meta.replaced_by);
    if !meta.history.is_empty() {
        let history = meta
            .history
            .iter()
            .map(|(since, change)| Value::Array(vec![bulk(since), bulk(change)]))
            .collect();
        map.push((bulk("history"), Value::Set(history)));
    }
    if !meta.arguments.is_empty() {
        map.push((bulk("arguments"), arguments(meta.arguments)));
    }
    if !meta.subcommands.is_empty() {
        let subs = meta
            .subcommands
            .iter()
            .filter(|sub| visible(sub))
            .map(|sub| (bulk(sub.name), docs(sub, visible)))
            .collect();
        map.push((bulk("subcommands"), Value::Map(subs)));
    }
    Value::Map(map)
}

fn arguments(args: &[Arg]) -> Value {
    Value::Array(args.iter().map(argument).collect())
}

fn argument(arg: &Arg) -> Value {
    let mut map = vec![
        (bulk("name"), bulk(arg.name)),
        (bulk("type"), bulk(arg.kind)),
    ];
    if arg.key_spec_index != -1 {
        map.push((
            bulk("key_spec_index"),
            Value::Integer(i64::from(arg.key_spec_index)),
        ));
    }
    for (name, value) in [
        ("token", arg.token),
        ("summary", arg.summary),
        ("since", arg.since),
        ("deprecated_since", arg.deprecated_since),
    ] {
        if let Some(value) = value {
            map.push((bulk(name), bulk(value)));
        }
    }
    if arg.flags != 0 {
        map.push((bulk("flags"), shown(arg.flags, arg_flag::SHOWN)));
    }
    if arg.kind == "oneof" || arg.kind == "block" {
        map.push((bulk("arguments"), arguments(arg.arguments)));
    }
    Value::Map(map)
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`; `options` are
/// the arguments after `LIST`. Subcommands are listed after their container.
pub fn command_list(options: &[Bytes], visible: CommandFilter) -> Value {
    let syntax = || Value::Error("ERR syntax error".to_owned());
    let filter: Box<dyn Fn(&CommandMeta) -> bool> = match options {
        [] => Box::new(|_| true),
        [filterby, kind, argument] if filterby.eq_ignore_ascii_case(b"filterby") => {
            if kind.eq_ignore_ascii_case(b"module") {
                // ninesdb has no modules.
                Box::new(|_| false)
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                let bit = category::by_name(argument).unwrap_or(0);
                Box::new(move |meta| meta.categories & bit != 0)
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                let pattern = argument.clone();
                Box::new(move |meta| glob_match_nocase(&pattern, meta.name.as_bytes()))
            } else {
                return syntax();
            }
        }
        _ => return syntax(),
    };
    let mut names = Vec::new();
    for meta in COMMANDS.iter().filter(|meta| visible(meta)) {
        if filter(meta) {
            names.push(bulk(meta.name));
        }
        for sub in meta.subcommands.iter().filter(|sub| visible(sub)) {
            if filter(sub) {
                names.push(bulk(sub.name));
            }
        }
    }
    Value::Array(names)
}
