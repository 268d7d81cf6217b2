//! Lua scripting as Redis 7.0 has it: EVAL / EVALSHA / EVAL_RO / EVALSHA_RO, SCRIPT, and
//! functions (FUNCTION ..., FCALL, FCALL_RO), run inside the state machine.
//!
//! A script is one log entry: every replica runs it against the same state with the same
//! [`Context`], so it has the same effects everywhere. `math.random` is seeded from
//! `Context::seed`, `TIME` inside a script is `Context::now_ms`, and nothing reads a clock.
//! A script is bounded by an instruction budget ([`Scripts::instructions_max`]); past it the
//! script is aborted on every replica at the same instruction, and its writes are rolled
//! back (an undo log of the keys it wrote), so an aborted script leaves no trace. A script
//! that fails with an error keeps the writes it made before, as in Redis.
//!
//! The script cache and the function libraries are replicated state (in snapshots and the
//! digest); the Lua state that runs them is working data, built lazily per keyspace.

mod api;
mod convert;
mod engine;
mod functions;
mod libs;
pub(crate) mod snapshot;
mod undo;

use std::collections::BTreeMap;

use bytes::Bytes;
use mlua::{MultiValue, Table};
use resp::Value;

use crate::{Context, Keyspace};
use engine::Engine;
pub(crate) use functions::{function, Library};

/// The default instruction budget of one script: about 0.4 s of Lua, under the default
/// election timeout (1 s), because the node thread that applies it waits for it.
pub const SCRIPT_INSTRUCTIONS_MAX_DEFAULT: u64 = 50_000_000;
/// Scripts the cache holds at most (SCRIPT LOAD or EVAL past it is refused).
pub(crate) const SCRIPTS_MAX: usize = 100_000;
/// Function libraries held at most, and functions in one library.
pub(crate) const LIBRARIES_MAX: usize = 10_000;
pub(crate) const FUNCTIONS_PER_LIBRARY_MAX: usize = 1_000;

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// The scripting state of a keyspace.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scripts {
    /// SCRIPT LOAD and EVAL bodies, by lowercase SHA1 hex.
    pub(crate) cache: BTreeMap<String, Bytes>,
    /// FUNCTION LOAD libraries, by name.
    pub(crate) libraries: BTreeMap<String, Library>,
    /// The budget of one script, in Lua instructions: a setting, the same on every replica.
    pub(crate) instructions_max: InstructionsMax,
    /// The hash slots this keyspace serves (first, last), when it is one group of several:
    /// `redis.call` on a key outside them fails, as in Redis Cluster. A setting.
    pub(crate) slots: Option<(u16, u16)>,
    engine: EngineCell,
}

impl PartialEq for Scripts {
    fn eq(&self, other: &Scripts) -> bool {
        self.cache == other.cache && self.libraries == other.libraries
    }
}

impl Scripts {
    pub(crate) fn is_empty(&self) -> bool {
        self.cache.is_empty() && self.libraries.is_empty()
    }

    /// Forgets the Lua state (it is rebuilt from the cache and the libraries when needed).
    pub(crate) fn reset_engine(&mut self) {
        self.engine.0 = None;
    }
}

/// The instruction budget setting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InstructionsMax(pub(crate) u64);

impl Default for InstructionsMax {
    fn default() -> InstructionsMax {
        InstructionsMax(SCRIPT_INSTRUCTIONS_MAX_DEFAULT)
    }
}

/// The lazily built Lua state: not cloned (a clone builds its own), not compared.
#[derive(Default)]
struct EngineCell(Option<Box<Engine>>);

impl Clone for EngineCell {
    fn clone(&self) -> EngineCell {
        EngineCell(None)
    }
}

impl std::fmt::Debug for EngineCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "EngineCell(built)"
        } else {
            "EngineCell(empty)"
        })
    }
}

pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

fn err(text: &str) -> Value {
    Value::Error(text.to_owned())
}

impl Keyspace {
    /// Sets the instruction budget of every script (a setting every replica must share).
    pub fn set_script_instructions_max(&mut self, instructions: u64) {
        self.scripts.instructions_max = InstructionsMax(instructions.max(1));
    }

    /// Limits the keys scripts may touch to hash slots `first..=last` (the slots of this
    /// keyspace's group); a key elsewhere would be written into the wrong group.
    pub fn set_script_slots(&mut self, first: u16, last: u16) {
        self.scripts.slots = Some((first, last));
    }

    /// Takes the Lua state out (building it if needed) so a script can borrow the keyspace.
    fn take_engine(&mut self) -> Result<Box<Engine>, Value> {
        if let Some(engine) = self.scripts.engine.0.take() {
            return Ok(engine);
        }
        let mut engine = Box::new(
            Engine::new()
                .map_err(|e| Value::Error(format!("ERR Error creating the Lua state: {e}")))?,
        );
        functions::load_all(
            &mut engine,
            &self.scripts.libraries,
            self.scripts.instructions_max.0,
        );
        Ok(engine)
    }

    fn put_engine(&mut self, engine: Box<Engine>) {
        self.scripts.engine.0 = Some(engine);
    }
}

/// What the script may do, and how errors name it.
struct Run<'a> {
    /// The SHA1 for EVAL, the function's name for FCALL.
    name: String,
    read_only: bool,
    is_eval: bool,
    keys: &'a [Bytes],
    args: &'a [Bytes],
}

/// numkeys as EVAL reads it, with Redis's errors.
fn numkeys(args: &[Bytes], bad: &str) -> Result<usize, Value> {
    let Some(n) = crate::util::parse_i64(&args[2]) else {
        return Err(err(bad));
    };
    if n > args.len() as i64 - 3 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(err("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// A script's flags from its shebang line (evalExtractShebangFlags): `None` without one
/// (compatibility mode), else the flags, and how many bytes the line takes.
fn shebang_flags(body: &[u8]) -> Result<Option<(Vec<String>, usize)>, Value> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err(err("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err(err("ERR Invalid engine in script shebang"));
    };
    if *engine != "#!lua" {
        return Err(Value::Error(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = Vec::new();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(Value::Error(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            if !functions::FLAGS.contains(&flag) {
                return Err(Value::Error(format!(
                    "ERR Unexpected flag in script shebang: {flag}"
                )));
            }
            flags.push(flag.to_owned());
        }
    }
    Ok(Some((flags, end)))
}

/// Whether a script with these flags may run, and read-only or not (scriptPrepareForRun).
fn read_only_mode(flags: Option<&[String]>, ro_command: bool) -> Result<bool, Value> {
    let Some(flags) = flags else {
        return Ok(ro_command);
    };
    let no_writes = flags.iter().any(|f| f == "no-writes");
    if !no_writes && ro_command {
        return Err(err(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(no_writes || ro_command)
}

pub(crate) fn eval(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    eval_generic(ks, args, ctx, false, false)
}
pub(crate) fn eval_ro(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    eval_generic(ks, args, ctx, false, true)
}
pub(crate) fn evalsha(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    eval_generic(ks, args, ctx, true, false)
}
pub(crate) fn evalsha_ro(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    eval_generic(ks, args, ctx, true, true)
}

fn eval_generic(
    ks: &mut Keyspace,
    args: &[Bytes],
    ctx: &Context,
    by_sha: bool,
    ro_command: bool,
) -> Value {
    if by_sha && args[1].len() != 40 {
        return err(NOSCRIPT);
    }
    let count = match numkeys(args, "ERR value is not an integer or out of range") {
        Ok(n) => n,
        Err(e) => return e,
    };
    let sha = if by_sha {
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        sha1_hex(&args[1])
    };
    let body = match ks.scripts.cache.get(&sha) {
        Some(body) => body.clone(),
        None if by_sha => return err(NOSCRIPT),
        None => args[1].clone(),
    };
    let flags = match shebang_flags(&body) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mut engine = match ks.take_engine() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let reply = (|| {
        let function = compile_script(ks, &mut engine, &sha, &body, flags.as_ref())?;
        let read_only = read_only_mode(flags.as_ref().map(|(f, _)| f.as_slice()), ro_command)?;
        let run = Run {
            name: sha.clone(),
            read_only,
            is_eval: true,
            keys: &args[3..3 + count],
            args: &args[3 + count..],
        };
        Ok(run_script(ks, &engine, &function, &run, ctx))
    })()
    .unwrap_or_else(|e: Value| e);
    ks.put_engine(engine);
    reply
}

/// The compiled function of a script, compiling (and caching) it if needed.
fn compile_script(
    ks: &mut Keyspace,
    engine: &mut Engine,
    sha: &str,
    body: &Bytes,
    flags: Option<&(Vec<String>, usize)>,
) -> Result<mlua::Function, Value> {
    if let Some(f) = engine.scripts.get(sha) {
        if ks.scripts.cache.contains_key(sha) {
            return Ok(f.clone());
        }
    }
    if !ks.scripts.cache.contains_key(sha) && ks.scripts.cache.len() >= SCRIPTS_MAX {
        return Err(Value::Error(format!(
            "ERR the script cache is full ({SCRIPTS_MAX} scripts): SCRIPT FLUSH first"
        )));
    }
    // A shebang line is skipped but its newline kept, so line numbers stay right.
    let skip = flags.map_or(0, |(_, len)| *len);
    let function = engine::compile(
        &engine.lua,
        &body[skip..],
        "@user_script",
        &engine.script_env,
    )
    .map_err(|e| Value::Error(format!("ERR Error compiling script (new function): {e}")))?;
    engine.scripts.insert(sha.to_owned(), function.clone());
    ks.scripts.cache.insert(sha.to_owned(), body.clone());
    Ok(function)
}

/// Runs a compiled script or function against the keyspace: the heart of EVAL and FCALL.
fn run_script(
    ks: &mut Keyspace,
    engine: &Engine,
    function: &mlua::Function,
    run: &Run<'_>,
    ctx: &Context,
) -> Value {
    engine.start(ctx.seed, ks.scripts.instructions_max.0);
    let mut undo = undo::Undo::new(ks);
    let shared = engine.shared.clone();
    let outcome = engine.lua.scope(|scope| {
        let dispatch = scope.create_function_mut(|lua, args: MultiValue| {
            let resp = shared.resp.load(std::sync::atomic::Ordering::Relaxed);
            dispatch(ks, &mut undo, lua, &args, run.read_only, ctx, resp)
        })?;
        engine
            .lua
            .set_named_registry_value(api::DISPATCH, dispatch)?;
        let keys = string_array(&engine.lua, run.keys)?;
        let args = string_array(&engine.lua, run.args)?;
        let result = engine::call(engine, function, keys, args, run.is_eval);
        engine
            .lua
            .set_named_registry_value(api::DISPATCH, mlua::Value::Nil)?;
        result
    });
    engine::finish(engine);
    let resp = engine.resp();
    if engine.aborted() {
        undo.roll_back(ks);
        return Value::Error(format!(
            "ERR Script {} ran past the budget of {} Lua instructions and was aborted; its writes were rolled back",
            run.name, ks.scripts.instructions_max.0
        ));
    }
    match outcome {
        Ok((true, value)) => convert::lua_to_reply(&value, resp, 0),
        Ok((false, error)) => error_reply(&error, &run.name),
        Err(e) => Value::Error(format!("ERR Error running script {}, {e}", run.name)),
    }
}

fn string_array(lua: &mlua::Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// A failed script's reply (luaCallFunction): the error table's message, and where.
fn error_reply(error: &mlua::Value, name: &str) -> Value {
    let mlua::Value::Table(t) = error else {
        let text = match error {
            mlua::Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "execution failure".to_owned(),
        };
        let text: String = text.chars().take(100).collect();
        return one_line(format!("ERR Error running script {name}, {text}"));
    };
    let field = |key: &str| -> Option<String> {
        match t.raw_get::<mlua::Value>(key).ok()? {
            mlua::Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            mlua::Value::Integer(i) => Some(i.to_string()),
            mlua::Value::Number(n) => Some(convert::format_g(n, 14)),
            _ => None,
        }
    };
    let message = field("err").unwrap_or_else(|| "ERR unknown error".to_owned());
    match (field("source"), field("line")) {
        (Some(source), Some(line)) => {
            one_line(format!("{message} script: {name}, on {source}:{line}."))
        }
        _ => one_line(message),
    }
}

fn one_line(text: String) -> Value {
    let text = text.trim_end_matches(['\r', '\n']);
    Value::Error(text.replace(['\r', '\n'], " "))
}

/// `redis.call` / `redis.pcall`: one command, with Redis's checks, against the keyspace.
/// Returns (ok, reply as a Lua value); a failure's value is an error table.
fn dispatch(
    ks: &mut Keyspace,
    undo: &mut undo::Undo,
    lua: &mlua::Lua,
    args: &MultiValue,
    read_only: bool,
    ctx: &Context,
    resp: u8,
) -> mlua::Result<(bool, mlua::Value)> {
    let failure = |message: &str| Ok((false, convert::err_message(lua, message)?));
    if args.is_empty() {
        return failure("Please specify at least one argument for this redis lib call");
    }
    let Some(argv) = engine::command_args(args) else {
        return failure("Lua redis lib command arguments must be strings or integers");
    };
    let spec = match crate::table::check(&argv) {
        Ok(spec) => spec,
        Err(_) if crate::table::lookup(&argv[0]).is_none() => {
            return failure("Unknown Redis command called from script")
        }
        Err(_) => return failure("Wrong number of args calling Redis command from script"),
    };
    if spec.flags.contains(&"noscript") {
        return failure("This Redis command is not allowed from script");
    }
    if let Some((first, last)) = ks.scripts.slots {
        let local = |at: &usize| (first..=last).contains(&resp::slot::key_slot(&argv[*at]));
        if !crate::key_positions(&argv).iter().all(local) {
            return failure("Script attempted to access a non local key in a cluster node");
        }
    }
    let reply = match spec.kind {
        crate::Kind::Read | crate::Kind::Write => {
            if read_only && spec.flags.contains(&"write") {
                return failure("Write commands are not allowed from read-only scripts.");
            }
            if spec.kind == crate::Kind::Write {
                undo.before_write(ks, &argv);
            }
            ks.apply(&argv, *ctx)
        }
        _ => match spec.name {
            "ping" | "echo" => ks.apply(&argv, *ctx),
            "time" => Value::Array(vec![
                Value::Bulk(Bytes::from((ctx.now_ms / 1000).to_string())),
                Value::Bulk(Bytes::from(((ctx.now_ms % 1000) * 1000).to_string())),
            ]),
            _ => return failure("This Redis command is not allowed from script"),
        },
    };
    let ok = !matches!(reply, Value::Error(_));
    Ok((ok, convert::reply_to_lua(lua, &reply, resp)?))
}

/// SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.
// Much of its length is SCRIPT HELP's text.
#[allow(clippy::too_many_lines)]
pub(crate) fn script(ks: &mut Keyspace, args: &[Bytes], _ctx: &Context) -> Value {
    let sub = args[1].to_ascii_lowercase();
    let arity_ok = |want: i64| {
        let n = args.len() as i64;
        if want > 0 {
            n == want
        } else {
            n >= -want
        }
    };
    let (name, arity) = match sub.as_slice() {
        b"load" => ("load", 3),
        b"exists" => ("exists", -3),
        b"flush" => ("flush", -2),
        b"kill" => ("kill", 2),
        b"help" => ("help", 2),
        b"debug" => ("debug", 3),
        _ => {
            return Value::Error(format!(
                "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
                String::from_utf8_lossy(&args[1])
            ))
        }
    };
    if !arity_ok(arity) {
        return Value::Error(format!(
            "ERR wrong number of arguments for 'script|{name}' command"
        ));
    }
    match name {
        "load" => script_load(ks, &args[2]),
        "exists" => Value::Array(
            args[2..]
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Value::Integer(i64::from(ks.scripts.cache.contains_key(&sha)))
                })
                .collect(),
        ),
        "flush" => {
            let mode = args.get(2).map(|m| m.to_ascii_lowercase());
            if args.len() > 3 || !matches!(mode.as_deref(), None | Some(b"sync") | Some(b"async")) {
                return err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            ks.scripts.cache.clear();
            if let Some(engine) = ks.scripts.engine.0.as_mut() {
                engine.scripts.clear();
            }
            Value::Simple("OK".to_owned())
        }
        // A script never outlives its instruction budget, and runs inside one log entry: no
        // script is ever running when another command is served.
        "kill" => err("NOTBUSY No scripts in execution right now."),
        "debug" => err("ERR SCRIPT DEBUG is not supported: scripts run inside the replicated log"),
        _ => help(&[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

pub(crate) fn help(lines: &[&str]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| Value::Simple((*l).to_owned()))
            .collect(),
    )
}

fn script_load(ks: &mut Keyspace, body: &Bytes) -> Value {
    let sha = sha1_hex(body);
    if ks.scripts.cache.contains_key(&sha) {
        return Value::Bulk(Bytes::from(sha));
    }
    let flags = match shebang_flags(body) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mut engine = match ks.take_engine() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let reply = match compile_script(ks, &mut engine, &sha, body, flags.as_ref()) {
        Ok(_) => Value::Bulk(Bytes::from(sha)),
        Err(e) => e,
    };
    ks.put_engine(engine);
    reply
}

/// FCALL / FCALL_RO.
pub(crate) fn fcall(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    fcall_generic(ks, args, ctx, false)
}
pub(crate) fn fcall_ro(ks: &mut Keyspace, args: &[Bytes], ctx: &Context) -> Value {
    fcall_generic(ks, args, ctx, true)
}

fn fcall_generic(ks: &mut Keyspace, args: &[Bytes], ctx: &Context, ro_command: bool) -> Value {
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let Some(flags) = ks
        .scripts
        .libraries
        .values()
        .find_map(|lib| lib.functions.get(&name))
        .map(|f| f.flags.clone())
    else {
        return err("ERR Function not found");
    };
    let count = match numkeys(args, "ERR Bad number of keys provided") {
        Ok(n) => n,
        Err(e) => return e,
    };
    let read_only = match read_only_mode(Some(&flags), ro_command) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let engine = match ks.take_engine() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let reply = match engine.functions.get(&name).cloned() {
        Some(function) => {
            let run = Run {
                name: name.clone(),
                read_only,
                is_eval: false,
                keys: &args[3..3 + count],
                args: &args[3 + count..],
            };
            run_script(ks, &engine, &function, &run, ctx)
        }
        None => err("ERR Function not found"),
    };
    ks.put_engine(engine);
    reply
}
