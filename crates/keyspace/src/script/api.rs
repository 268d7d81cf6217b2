//! The `redis.*` functions that can raise errors, and `math.random`, in Rust: to Lua they are
//! C functions, as in Redis, so a `return redis.call(...)` keeps the script's frame (a Lua
//! wrapper would be tail-called away) and an error names the script's line.
//!
//! An error raised here is an external error ([`Raised`]) that the error handler and the
//! sandbox's `pcall` turn into what Redis's C code would have raised.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table};

use super::engine::Shared;

/// The registry slot of the current script's `redis.call` dispatcher (nil between scripts).
pub(crate) const DISPATCH: &str = "ninesdb.dispatch";

/// An error raised by a native function.
#[derive(Debug)]
pub(crate) enum Raised {
    /// An error table `{err = text}` (luaPushError then lua_error): the text has its code.
    Reply(String),
    /// A string error (luaL_error): the text as Lua would raise it, position first.
    Message(String),
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raised::Reply(text) | Raised::Message(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Raised {}

/// The [`Raised`] inside an error that crossed Lua, if it is one.
pub(crate) fn raised(error: &mlua::Error) -> Option<&Raised> {
    match error {
        mlua::Error::CallbackError { cause, .. } => raised(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Raised>(),
        _ => None,
    }
}

fn reply<T>(text: impl Into<String>) -> mlua::Result<T> {
    Err(mlua::Error::external(Raised::Reply(text.into())))
}

/// luaL_error: the message after the caller's position (`user_script:1: `), if it is Lua.
pub(crate) fn lua_error<T>(lua: &Lua, text: &str) -> mlua::Result<T> {
    let position = lua
        .inspect_stack(1, |debug| {
            let line = debug.current_line();
            let source = debug.source().short_src.map(|s| s.into_owned());
            match (source, line) {
                (Some(source), Some(line)) if line > 0 => format!("{source}:{line}: "),
                _ => String::new(),
            }
        })
        .unwrap_or_default();
    Err(mlua::Error::external(Raised::Message(format!(
        "{position}{text}"
    ))))
}

fn dispatcher(lua: &Lua, what: &str) -> mlua::Result<Function> {
    match lua.named_registry_value::<Option<Function>>(DISPATCH)? {
        Some(f) => Ok(f),
        None => reply(format!(
            "ERR {what} can only be called inside a script invocation"
        )),
    }
}

fn err_text(value: &mlua::Value) -> String {
    if let mlua::Value::Table(t) = value {
        if let Ok(mlua::Value::String(s)) = t.raw_get::<mlua::Value>("err") {
            return String::from_utf8_lossy(&s.as_bytes()).into_owned();
        }
    }
    "ERR unknown error".to_owned()
}

/// A Lua number argument as luaL_checkint reads it (strings that are numbers too).
fn check_int(
    lua: &Lua,
    value: Option<&mlua::Value>,
    position: usize,
    name: &str,
) -> mlua::Result<i64> {
    let number = match value {
        Some(mlua::Value::Integer(i)) => Some(*i as f64),
        Some(mlua::Value::Number(n)) => Some(*n),
        Some(mlua::Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok()),
        _ => None,
    };
    match number {
        Some(n) => Ok(n.trunc() as i32 as i64),
        None => {
            let got = match value {
                None | Some(mlua::Value::Nil) => "no value".to_owned(),
                Some(v) => v.type_name().to_owned(),
            };
            lua_error(
                lua,
                &format!("bad argument #{position} to '{name}' (number expected, got {got})"),
            )
        }
    }
}

// One registration after another: a list, clearer whole than split.
#[allow(clippy::too_many_lines)]
pub(crate) fn install(lua: &Lua, native: &Table, shared: &Arc<Shared>) -> mlua::Result<()> {
    native.set(
        "call",
        lua.create_function(|lua, args: MultiValue| {
            let (ok, value): (bool, mlua::Value) =
                dispatcher(lua, "redis.call/pcall")?.call(args)?;
            if ok {
                Ok(value)
            } else {
                reply(err_text(&value))
            }
        })?,
    )?;
    native.set(
        "pcall",
        lua.create_function(|lua, args: MultiValue| {
            let (_, value): (bool, mlua::Value) =
                dispatcher(lua, "redis.call/pcall")?.call(args)?;
            Ok(value)
        })?,
    )?;
    native.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return reply("ERR wrong number of arguments");
            }
            let bytes = match lua.coerce_string(args[0].clone())? {
                Some(s) => s.as_bytes().to_vec(),
                None => Vec::new(),
            };
            Ok(super::sha1_hex(&bytes))
        })?,
    )?;
    let s = shared.clone();
    native.set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| {
            dispatcher(lua, "redis.setresp")?;
            if args.len() != 1 {
                return reply("ERR redis.setresp() requires one argument.");
            }
            let version = lua.coerce_number(args[0].clone())?.unwrap_or(0.0);
            if version != 2.0 && version != 3.0 {
                return reply("ERR RESP version must be 2 or 3.");
            }
            s.resp.store(version as u8, Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    native.set(
        "set_repl",
        lua.create_function(|lua, args: MultiValue| {
            dispatcher(lua, "redis.set_repl")?;
            if args.len() != 1 {
                return reply("ERR redis.set_repl() requires two arguments.");
            }
            let flags = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i64;
            if flags & !3 != 0 {
                return reply(
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            // Every replica runs the script itself: there is nothing to propagate.
            Ok(())
        })?,
    )?;
    native.set(
        "acl_check_cmd",
        lua.create_function(|lua, args: MultiValue| {
            dispatcher(lua, "redis.acl_check_cmd")?;
            let Some(argv) = super::engine::command_args(&args) else {
                return reply("ERR Lua redis lib command arguments must be strings or integers");
            };
            let Some(name) = argv.first() else {
                return reply("ERR Please specify at least one argument for this redis lib call");
            };
            if crate::table::lookup(name).is_none() {
                return reply("ERR Invalid command passed to redis.acl_check_cmd()");
            }
            // No ACLs: the default user may run every command.
            Ok(true)
        })?,
    )?;
    native.set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return reply("ERR redis.log() requires two arguments or more.");
            }
            let Some(level) = lua.coerce_number(args[0].clone())? else {
                return reply("ERR First argument must be a number (log level).");
            };
            if !(0.0..=3.0).contains(&(level.trunc())) {
                return reply("ERR Invalid debug level.");
            }
            // Logged nowhere: every replica runs the script, and no client could read it.
            Ok(())
        })?,
    )?;
    let s = shared.clone();
    native.set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            let r = s.next_random();
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = check_int(lua, args.front(), 1, "random")?;
                    if u < 1 {
                        return lua_error(lua, "bad argument #1 to 'random' (interval is empty)");
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                2 => {
                    let l = check_int(lua, args.front(), 1, "random")?;
                    let u = check_int(lua, args.get(1), 2, "random")?;
                    if l > u {
                        return lua_error(lua, "bad argument #2 to 'random' (interval is empty)");
                    }
                    Ok((r * (u - l + 1) as f64).floor() + l as f64)
                }
                _ => lua_error(lua, "wrong number of arguments"),
            }
        })?,
    )?;
    let s = shared.clone();
    native.set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let seed = check_int(lua, args.front(), 1, "randomseed")?;
            s.seed(seed);
            Ok(())
        })?,
    )?;
    native.set(
        "plain_error",
        lua.create_function(|lua, value: mlua::Value| {
            Ok(match &value {
                mlua::Value::Error(e) => match raised(e) {
                    Some(r) => mlua::Value::String(lua.create_string(r.to_string())?),
                    None => value.clone(),
                },
                _ => value.clone(),
            })
        })?,
    )?;
    Ok(())
}
