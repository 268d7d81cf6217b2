//! The Lua state of one keyspace: Redis's sandbox (`prelude.lua`), the compiled scripts and
//! functions, the instruction budget and the per-script random generator.
//!
//! The state is working data, not replicated state: it is built lazily from the script cache
//! and the function libraries (which are), and a replica that rebuilds it (after a restart or
//! a snapshot) behaves the same, because a script cannot keep anything in it between calls
//! (globals and library tables are read-only, as in Redis).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, VmState};

use super::api;

/// The hook runs every this many Lua instructions; the budget is counted in these steps.
pub(crate) const HOOK_INSTRUCTIONS: u32 = 10_000;
/// Memory a script may allocate in the Lua state beyond what the state held when it started.
pub(crate) const SCRIPT_MEMORY_MAX: usize = 256 << 20;

const PRELUDE: &str = include_str!("prelude.lua");

/// A function that `redis.register_function` recorded while a library loaded.
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) description: Option<Bytes>,
    pub(crate) flags: Vec<String>,
    pub(crate) callback: Function,
}

/// What the native functions and the hook share with the engine while a script runs.
#[derive(Default)]
pub(crate) struct Shared {
    /// RESP version of `redis.call` replies (`redis.setresp`).
    pub(crate) resp: AtomicU8,
    /// rand48 state (Redis's `redisLrand48`), seeded per script.
    pub(crate) rand48: AtomicU64,
    /// Instructions run by the current script, in hook steps.
    pub(crate) instructions: AtomicU64,
    pub(crate) instructions_max: AtomicU64,
    /// The script ran past its budget: every further instruction fails.
    pub(crate) aborted: AtomicBool,
    /// Set while a library's body runs (FUNCTION LOAD).
    pub(crate) registering: Mutex<Option<Vec<Registered>>>,
}

impl Shared {
    pub(crate) fn seed(&self, seed: i64) {
        // SEED(X0, LOW(seed), HIGH(seed)): x = high16 << 32 | low16 << 16 | 0x330E.
        let seed = seed as u32 as u64;
        self.rand48.store((seed << 16) | 0x330E, Ordering::Relaxed);
    }

    pub(crate) fn next_random(&self) -> f64 {
        let x = self.rand48.load(Ordering::Relaxed);
        let next = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        self.rand48.store(next, Ordering::Relaxed);
        let value = (next >> 17) as i64;
        let max = i64::from(i32::MAX);
        (value % max) as f64 / max as f64
    }
}

/// One keyspace's Lua state.
pub(crate) struct Engine {
    pub(crate) lua: Lua,
    pub(crate) shared: Arc<Shared>,
    pub(crate) run: Function,
    pub(crate) loading: Function,
    pub(crate) script_env: Table,
    pub(crate) lib_env: Table,
    /// EVAL bodies compiled, by SHA1.
    pub(crate) scripts: HashMap<String, Function>,
    /// FCALL functions, by name.
    pub(crate) functions: HashMap<String, Function>,
}

impl Engine {
    pub(crate) fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let shared = Arc::new(Shared::default());
        shared.resp.store(2, Ordering::Relaxed);
        let native = native_table(&lua, &shared)?;
        let handles: Table = lua.load(PRELUDE).set_name("=prelude").call(native)?;
        let engine = Engine {
            run: handles.get("run")?,
            loading: handles.get("loading")?,
            script_env: handles.get("script_env")?,
            lib_env: handles.get("lib_env")?,
            lua,
            shared,
            scripts: HashMap::new(),
            functions: HashMap::new(),
        };
        engine.install_hook()?;
        Ok(engine)
    }

    /// Counts instructions; past the budget every further instruction raises an error, so
    /// that a `pcall` in the script cannot swallow the abort (Redis does the same for SCRIPT
    /// KILL). Deterministic: it counts instructions, never time.
    fn install_hook(&self) -> mlua::Result<()> {
        let shared = self.shared.clone();
        self.lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
            move |_lua, _debug| {
                if shared.aborted.load(Ordering::Relaxed) {
                    return Err(mlua::Error::runtime("script aborted"));
                }
                let used = shared.instructions.fetch_add(1, Ordering::Relaxed) + 1;
                let max = shared.instructions_max.load(Ordering::Relaxed);
                if used.saturating_mul(u64::from(HOOK_INSTRUCTIONS)) > max {
                    shared.aborted.store(true, Ordering::Relaxed);
                    return Err(mlua::Error::runtime("script aborted"));
                }
                Ok(VmState::Continue)
            },
        )
    }

    /// Prepares the budget, the generator and the RESP version for one script.
    pub(crate) fn start(&self, seed: u64, instructions_max: u64) {
        self.shared.instructions.store(0, Ordering::Relaxed);
        self.shared
            .instructions_max
            .store(instructions_max, Ordering::Relaxed);
        self.shared.aborted.store(false, Ordering::Relaxed);
        self.shared.resp.store(2, Ordering::Relaxed);
        // Redis seeds with a 32-bit value: fold the entry's seed into one.
        self.shared.seed(((seed >> 32) ^ seed) as u32 as i32 as i64);
        let used = self.lua.used_memory();
        let _ = self
            .lua
            .set_memory_limit(used.saturating_add(SCRIPT_MEMORY_MAX));
    }

    pub(crate) fn aborted(&self) -> bool {
        self.shared.aborted.load(Ordering::Relaxed)
    }

    pub(crate) fn resp(&self) -> u8 {
        self.shared.resp.load(Ordering::Relaxed)
    }
}

/// The primitives the prelude builds the sandbox from.
fn native_table(lua: &Lua, shared: &Arc<Shared>) -> mlua::Result<Table> {
    let native = lua.create_table()?;
    native.set("cjson", super::libs::cjson::open(lua)?)?;
    native.set("cmsgpack", super::libs::cmsgpack::open(lua)?)?;
    native.set("bit", super::libs::bit::open(lua)?)?;
    native.set("struct", super::libs::structs::open(lua)?)?;
    api::install(lua, &native, shared)?;
    let s = shared.clone();
    native.set(
        "aborted",
        lua.create_function(move |_, ()| Ok(s.aborted.load(Ordering::Relaxed)))?,
    )?;
    let s = shared.clone();
    native.set(
        "loading",
        lua.create_function(move |_, ()| Ok(lock(&s.registering).is_some()))?,
    )?;
    let s = shared.clone();
    native.set(
        "register",
        lua.create_function(
            move |_,
                  (name, callback, description, flags): (
                String,
                Function,
                Option<mlua::LuaString>,
                Vec<String>,
            )| { Ok(register(&s, name, callback, description, flags)) },
        )?,
    )?;
    native.set("error_handler", lua.create_function(error_handler)?)?;
    Ok(native)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `redis.register_function`'s checks (functionLibCreateFunction): an error text, or nil.
fn register(
    shared: &Shared,
    name: String,
    callback: Function,
    description: Option<mlua::LuaString>,
    flags: Vec<String>,
) -> Option<String> {
    let mut guard = lock(&shared.registering);
    let Some(list) = guard.as_mut() else {
        return Some(
            "redis.register_function can only be called on FUNCTION LOAD command".to_owned(),
        );
    };
    if !super::functions::valid_name(name.as_bytes()) {
        return Some("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    if list.iter().any(|r| r.name == name) {
        return Some("Function already exists in the library".to_owned());
    }
    if list.len() >= super::FUNCTIONS_PER_LIBRARY_MAX {
        return Some("Too many functions in one library".to_owned());
    }
    list.push(Registered {
        name,
        description: description.map(|d| Bytes::copy_from_slice(&d.as_bytes())),
        flags,
        callback,
    });
    None
}

/// Redis's `__redis__err__handler`: turns any error into a table `{err=..., source=...,
/// line=...}` naming the script's frame that raised it (C frames and the prelude's own
/// wrappers, like `redis.call`, are skipped as Redis skips its C `redis.call`).
fn error_handler(lua: &Lua, error: mlua::Value) -> mlua::Result<Table> {
    let table = match error {
        mlua::Value::Table(t) => t,
        mlua::Value::Error(e) => {
            let t = lua.create_table()?;
            let text = match api::raised(&e) {
                Some(api::Raised::Reply(text)) => text.clone(),
                Some(api::Raised::Message(text)) => format!("ERR {text}"),
                None => format!("ERR {e}"),
            };
            t.raw_set("err", text)?;
            t
        }
        other => {
            let tostring: Function = lua.globals().raw_get("tostring")?;
            let text: mlua::LuaString = match tostring.call::<Option<mlua::LuaString>>(other)? {
                Some(t) => t,
                None => lua.create_string("nil")?,
            };
            let t = lua.create_table()?;
            let mut message = b"ERR ".to_vec();
            message.extend_from_slice(&text.as_bytes());
            t.raw_set("err", lua.create_string(&message)?)?;
            t
        }
    };
    for level in 1..=6 {
        let frame = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            (
                source.what,
                source.source.map(|s| s.into_owned()),
                debug.current_line(),
            )
        });
        let Some((what, source, line)) = frame else {
            break;
        };
        if what == "C" || source.as_deref() == Some("=prelude") {
            continue;
        }
        if let Some(source) = source {
            table.raw_set("source", source)?;
        }
        table.raw_set("line", line.map_or(-1, |l| l as i64))?;
        break;
    }
    Ok(table)
}

/// Compiles a chunk in `env` under Redis's chunk name.
pub(crate) fn compile(lua: &Lua, code: &[u8], name: &str, env: &Table) -> Result<Function, String> {
    lua.load(code)
        .set_name(name)
        .set_environment(env.clone())
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

/// The arguments of a `redis.call` as Redis reads them: strings as they are, numbers as
/// `%.17g`; `None` for anything else.
pub(crate) fn command_args(args: &MultiValue) -> Option<Vec<Bytes>> {
    let mut out = Vec::with_capacity(args.len());
    for value in args.iter() {
        match value {
            mlua::Value::String(s) => out.push(Bytes::copy_from_slice(&s.as_bytes())),
            mlua::Value::Integer(i) => out.push(Bytes::from(
                super::convert::format_g(*i as f64, 17).into_bytes(),
            )),
            mlua::Value::Number(n) => {
                out.push(Bytes::from(super::convert::format_g(*n, 17).into_bytes()))
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Marks the end of a run: no dispatcher, no memory limit.
pub(crate) fn finish(engine: &Engine) {
    let _ = engine
        .lua
        .set_named_registry_value(api::DISPATCH, mlua::Value::Nil);
    let _ = engine.lua.set_memory_limit(0);
}

pub(crate) type DispatchResult = (bool, mlua::Value);

/// Runs `function` under the error handler; returns (ok, value).
pub(crate) fn call(
    engine: &Engine,
    function: &Function,
    keys: Table,
    args: Table,
    is_eval: bool,
) -> mlua::Result<DispatchResult> {
    engine
        .run
        .call::<(bool, mlua::Value)>((function.clone(), keys, args, is_eval))
}
