//! Redis 7 functions: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP / RESTORE / STATS / KILL,
//! and loading a library's code into the Lua state (functions.c, function_lua.c).

use std::collections::BTreeMap;

use bytes::Bytes;
use resp::Value;

use super::engine::{self, lock, Engine, Registered};
use super::{err, help, LIBRARIES_MAX};
use crate::{Context, Keyspace};

/// Script and function flags Redis knows, in its order (scripts_flags_def).
pub(crate) const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A loaded library: its code (replicated), and what loading it registered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Library {
    pub(crate) code: Bytes,
    pub(crate) functions: BTreeMap<String, FunctionInfo>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FunctionInfo {
    pub(crate) description: Option<Bytes>,
    pub(crate) flags: Vec<String>,
}

/// Letters, digits and underscores, at least one (functionsVerifyName).
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The library name from the code's first line, `#!lua name=<name>`, and the code after it
/// (from its newline on, so line numbers stay right).
fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".to_owned());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("Invalid library metadata".to_owned());
    };
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let Some(first) = parts.first() else {
        return Err("Invalid library metadata".to_owned());
    };
    let engine_name = &first[2..];
    let mut name: Option<String> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".to_owned(),
                );
            }
            name = Some(part[5..].to_owned());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".to_owned());
    };
    if !valid_name(name.as_bytes()) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    if !engine_name.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine_name}' not found"));
    }
    Ok((name, end))
}

/// Runs a library's body with the load API; returns its name and what it registered.
fn load_library(
    engine: &Engine,
    code: &[u8],
    instructions_max: u64,
) -> Result<(String, Vec<Registered>), String> {
    let (name, skip) = metadata(code)?;
    let function = engine::compile(
        &engine.lua,
        &code[skip..],
        "@user_function",
        &engine.lib_env,
    )
    .map_err(|e| format!("Error compiling function: {e}"))?;
    *lock(&engine.shared.registering) = Some(Vec::new());
    engine.start(0, instructions_max);
    let _ = engine.loading.call::<()>(true);
    let ran = engine.run.call::<(bool, mlua::Value)>((
        function,
        mlua::Value::Nil,
        mlua::Value::Nil,
        true,
    ));
    let _ = engine.loading.call::<()>(false);
    engine::finish(engine);
    let registered = lock(&engine.shared.registering).take().unwrap_or_default();
    if engine.aborted() {
        return Err("FUNCTION LOAD timeout".to_owned());
    }
    match ran {
        Ok((true, _)) => {}
        Ok((false, error)) => {
            let message = match &error {
                mlua::Value::Table(t) => match t.raw_get::<mlua::Value>("err") {
                    Ok(mlua::Value::String(s)) => {
                        String::from_utf8_lossy(&s.as_bytes()).into_owned()
                    }
                    _ => "(null)".to_owned(),
                },
                _ => "(null)".to_owned(),
            };
            return Err(format!("Error registering functions: {message}"));
        }
        Err(e) => return Err(format!("Error registering functions: {e}")),
    }
    if registered.is_empty() {
        return Err("No functions registered".to_owned());
    }
    Ok((name, registered))
}

fn library_of(code: Bytes, registered: &[Registered]) -> Library {
    Library {
        code,
        functions: registered
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    FunctionInfo {
                        description: r.description.clone(),
                        flags: r.flags.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// Rebuilds the functions of every library in a new Lua state. Loading is deterministic, so
/// a library that loaded once loads again.
pub(crate) fn load_all(
    engine: &mut Engine,
    libraries: &BTreeMap<String, Library>,
    instructions_max: u64,
) {
    for library in libraries.values() {
        if let Ok((_, registered)) = load_library(engine, &library.code, instructions_max) {
            for r in registered {
                engine.functions.insert(r.name, r.callback);
            }
        }
    }
}

/// Adds libraries to `current` (REPLACE: a library of the same name is replaced), checking
/// that no function name is taken by another library. All or nothing.
fn join(
    current: &BTreeMap<String, Library>,
    new: Vec<(String, Library)>,
    replace: bool,
) -> Result<BTreeMap<String, Library>, String> {
    let mut merged = current.clone();
    for (name, library) in new {
        if merged.contains_key(&name) {
            if !replace {
                return Err(format!("Library {name} already exists"));
            }
            merged.remove(&name);
        }
        for function in library.functions.keys() {
            if merged.values().any(|l| l.functions.contains_key(function)) {
                return Err(format!("Function {function} already exists"));
            }
        }
        merged.insert(name, library);
    }
    if merged.len() > LIBRARIES_MAX {
        return Err(format!("too many libraries (at most {LIBRARIES_MAX})"));
    }
    Ok(merged)
}

/// FUNCTION subcommands.
// Most of its length is FUNCTION HELP's text.
#[allow(clippy::too_many_lines)]
pub(crate) fn function(ks: &mut Keyspace, args: &[Bytes], _ctx: &Context) -> Value {
    let sub = args[1].to_ascii_lowercase();
    let (name, arity): (&str, i64) = match sub.as_slice() {
        b"load" => ("load", -3),
        b"list" => ("list", -2),
        b"delete" => ("delete", 3),
        b"flush" => ("flush", -2),
        b"dump" => ("dump", 2),
        b"restore" => ("restore", -3),
        b"stats" => ("stats", 2),
        b"kill" => ("kill", 2),
        b"help" => ("help", 2),
        _ => {
            return Value::Error(format!(
                "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
                String::from_utf8_lossy(&args[1])
            ))
        }
    };
    let n = args.len() as i64;
    if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
        return Value::Error(format!(
            "ERR wrong number of arguments for 'function|{name}' command"
        ));
    }
    match name {
        "load" => function_load(ks, args),
        "list" => function_list(ks, args),
        "delete" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if ks.scripts.libraries.remove(&name).is_none() {
                return err("ERR Library not found");
            }
            ks.scripts.reset_engine();
            Value::Simple("OK".to_owned())
        }
        "flush" => {
            let mode = args.get(2).map(|m| m.to_ascii_lowercase());
            if args.len() > 3 {
                return syntax_error(args);
            }
            if !matches!(mode.as_deref(), None | Some(b"sync") | Some(b"async")) {
                return err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            ks.scripts.libraries.clear();
            ks.scripts.reset_engine();
            Value::Simple("OK".to_owned())
        }
        "dump" => Value::Bulk(crate::dump::functions_payload(
            ks.scripts.libraries.values().map(|l| l.code.as_ref()),
        )),
        "restore" => function_restore(ks, args),
        "stats" => Value::Map(vec![
            (Value::Bulk(Bytes::from_static(b"running_script")), Value::Null),
            (
                Value::Bulk(Bytes::from_static(b"engines")),
                Value::Map(vec![(
                    Value::Bulk(Bytes::from_static(b"LUA")),
                    Value::Map(vec![
                        (
                            Value::Bulk(Bytes::from_static(b"libraries_count")),
                            Value::Integer(ks.scripts.libraries.len() as i64),
                        ),
                        (
                            Value::Bulk(Bytes::from_static(b"functions_count")),
                            Value::Integer(
                                ks.scripts
                                    .libraries
                                    .values()
                                    .map(|l| l.functions.len() as i64)
                                    .sum(),
                            ),
                        ),
                    ]),
                )]),
            ),
        ]),
        "kill" => err("NOTBUSY No scripts in execution right now."),
        _ => help(&[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

fn syntax_error(args: &[Bytes]) -> Value {
    Value::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

fn function_load(ks: &mut Keyspace, args: &[Bytes]) -> Value {
    let mut replace = false;
    let mut position = 2;
    while position < args.len() - 1 {
        if args[position].eq_ignore_ascii_case(b"replace") {
            replace = true;
            position += 1;
            continue;
        }
        return Value::Error(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&args[position])
        ));
    }
    let code = args[position].clone();
    // Checked before running anything, as Redis does.
    match metadata(&code) {
        Ok((name, _)) if !replace && ks.scripts.libraries.contains_key(&name) => {
            return Value::Error(format!("ERR Library '{name}' already exists"))
        }
        Ok(_) => {}
        Err(e) => return Value::Error(format!("ERR {e}")),
    }
    let mut engine = match ks.take_engine() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let loaded = load_library(&engine, &code, ks.scripts.instructions_max.0);
    let reply = match loaded {
        Err(e) => Value::Error(format!("ERR {e}")),
        Ok((name, registered)) => {
            let library = library_of(code, &registered);
            match join(
                &ks.scripts.libraries,
                vec![(name.clone(), library)],
                replace,
            ) {
                Err(e) => Value::Error(format!("ERR {e}")),
                Ok(merged) => {
                    ks.scripts.libraries = merged;
                    // A replaced library's old functions must go: rebuild from scratch.
                    engine.functions.retain(|f, _| {
                        ks.scripts
                            .libraries
                            .values()
                            .any(|l| l.functions.contains_key(f))
                    });
                    for r in registered {
                        engine.functions.insert(r.name, r.callback);
                    }
                    Value::Bulk(Bytes::from(name))
                }
            }
        }
    };
    ks.put_engine(engine);
    reply
}

fn function_list(ks: &Keyspace, args: &[Bytes]) -> Value {
    let mut with_code = false;
    let mut pattern: Option<Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && args[i].eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && args[i].eq_ignore_ascii_case(b"libraryname") {
            if i >= args.len() - 1 {
                return err("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(args[i].clone());
        } else {
            return Value::Error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&args[i])
            ));
        }
        i += 1;
    }
    let bulk = |s: &str| Value::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let mut out = Vec::new();
    for (name, library) in &ks.scripts.libraries {
        if let Some(p) = &pattern {
            if !crate::util::glob_match(p, name.as_bytes()) {
                continue;
            }
        }
        let functions = library
            .functions
            .iter()
            .map(|(fname, info)| {
                let flags = FLAGS
                    .iter()
                    .filter(|f| info.flags.iter().any(|g| g == *f))
                    .map(|f| Value::Simple((*f).to_owned()))
                    .collect();
                Value::Map(vec![
                    (bulk("name"), bulk(fname)),
                    (
                        bulk("description"),
                        info.description.clone().map_or(Value::Null, Value::Bulk),
                    ),
                    (bulk("flags"), Value::Set(flags)),
                ])
            })
            .collect();
        let mut entry = vec![
            (bulk("library_name"), bulk(name)),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), Value::Array(functions)),
        ];
        if with_code {
            entry.push((bulk("library_code"), Value::Bulk(library.code.clone())));
        }
        out.push(Value::Map(entry));
    }
    Value::Array(out)
}

fn function_restore(ks: &mut Keyspace, args: &[Bytes]) -> Value {
    if args.len() > 4 {
        return syntax_error(args);
    }
    let policy = args.get(3).map(|p| p.to_ascii_lowercase());
    let (flush, replace) =
        match policy.as_deref() {
            None | Some(b"append") => (false, false),
            Some(b"replace") => (false, true),
            Some(b"flush") => (true, false),
            Some(_) => return err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let codes = match crate::dump::functions_from_payload(&args[2]) {
        Ok(c) => c,
        Err(e) => return Value::Error(format!("ERR {e}")),
    };
    // Loaded in a scratch state first: a payload that fails changes nothing.
    let scratch = match Engine::new() {
        Ok(e) => e,
        Err(e) => return Value::Error(format!("ERR Error creating the Lua state: {e}")),
    };
    let mut restored: BTreeMap<String, Library> = BTreeMap::new();
    for code in codes {
        match load_library(&scratch, &code, ks.scripts.instructions_max.0) {
            Ok((name, registered)) => {
                let library = library_of(code, &registered);
                match join(&restored, vec![(name, library)], false) {
                    Ok(merged) => restored = merged,
                    Err(e) => return Value::Error(format!("ERR {e}")),
                }
            }
            Err(e) => return Value::Error(format!("ERR {e}")),
        }
    }
    let merged = if flush {
        Ok(restored)
    } else {
        join(
            &ks.scripts.libraries,
            restored.into_iter().collect(),
            replace,
        )
    };
    match merged {
        Ok(libraries) => {
            ks.scripts.libraries = libraries;
            ks.scripts.reset_engine();
            Value::Simple("OK".to_owned())
        }
        Err(e) => Value::Error(format!("ERR {e}")),
    }
}
