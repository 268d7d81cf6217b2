-- The sandbox every script and function runs in, built once per Lua state (chunk "=prelude").
-- Rust passes `native` (its primitives); this returns the engine's private handles.
-- Mirrors Redis 7.0 (script_lua.c, eval.c, function_lua.c): the same globals allow list, the
-- same redis.* API and error tables, globals that cannot be created or modified.
local native = ...
local G = _G
local type, error, rawget, rawset, setmetatable, select, tostring, unpack, pairs, next =
    type, error, rawget, rawset, setmetatable, select, tostring, unpack, pairs, next
local raw_pcall, raw_xpcall, raw_resume = pcall, xpcall, coroutine.resume
local aborted = native.aborted

-- Redis's allow list: every other global (print, dofile, loadfile, setfenv, getfenv, newproxy,
-- module, require, os, io, debug ...) is removed.
local allowed = {}
for _, name in ipairs({ 'string', 'cjson', 'bit', 'cmsgpack', 'math', 'table', 'struct', 'redis',
    'xpcall', 'tostring', 'setmetatable', 'next', 'assert', 'tonumber', 'rawequal',
    'collectgarbage', 'getmetatable', 'rawset', 'pcall', 'coroutine', 'type', '_G', 'select',
    'unpack', 'gcinfo', 'pairs', 'rawget', 'loadstring', 'ipairs', '_VERSION', 'load', 'error' }) do
    allowed[name] = true
end
local doomed = {}
for name in pairs(G) do
    if not allowed[name] then doomed[#doomed + 1] = name end
end
for _, name in ipairs(doomed) do G[name] = nil end

G.cjson, G.cmsgpack, G.bit, G.struct = native.cjson, native.cmsgpack, native.bit, native.struct
-- Redis's math.random and math.randomseed (Rust, seeded for every script from the log entry).
G.math.random, G.math.randomseed = native.random, native.randomseed

-- tostring of a table, function or coroutine shows its address, which differs between
-- replicas: a script that stored it would make them diverge. Addresses become numbers in the
-- order the script first shows them (reset for every script).
local raw_tostring = tostring
local shown, shown_count = {}, 0
G.tostring = function(...)
    local text = raw_tostring(...)
    local kind, address = text:match('^(%a+): (0?x?%x+)$')
    local v = ...
    if kind and type(v) == kind then
        local id = shown[v]
        if id == nil then
            shown_count = shown_count + 1
            id = shown_count
            shown[v] = id
        end
        return ('%s: 0x%08x'):format(kind, id)
    end
    return text
end
local function forget_shown()
    shown, shown_count = setmetatable({}, { __mode = 'k' }), 0
end

-- Tables a script must not change (Redis makes them read-only in its patched Lua): each is
-- replaced by an empty proxy whose writes fail; rawset refuses them too.
local protected = setmetatable({}, { __mode = 'k' })
local function readonly_error() error('Attempt to modify a readonly table', 2) end
local function protect(real)
    local proxy = {}
    setmetatable(proxy, { __index = real, __newindex = readonly_error, __metatable = false })
    protected[proxy] = true
    return proxy
end
G.rawset = function(t, k, v)
    if protected[t] then error('Attempt to modify a readonly table', 2) end
    return rawset(t, k, v)
end

local function pack(...) return { n = select('#', ...), ... } end

-- Redis 7's pcall: an error table raised by redis.call comes back as its message.
G.pcall = function(f, ...)
    local r = pack(raw_pcall(f, ...))
    if not r[1] then
        -- A script past its budget must not catch the abort: raise it again.
        if aborted() then error(r[2], 0) end
        if type(r[2]) == 'table' and type(rawget(r[2], 'err')) == 'string' then
            r[2] = rawget(r[2], 'err')
        else
            r[2] = native.plain_error(r[2])
        end
    end
    return unpack(r, 1, r.n)
end

G.xpcall = function(f, handler)
    local r = pack(raw_xpcall(f, handler))
    if not r[1] and aborted() then error(r[2], 0) end
    return unpack(r, 1, r.n)
end
G.coroutine.resume = function(...)
    local r = pack(raw_resume(...))
    if not r[1] and aborted() then error(r[2], 0) end
    return unpack(r, 1, r.n)
end

-- luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets "ERR".
local function error_table(text)
    local code, msg
    if text:sub(1, 1) == '-' then
        local space = text:find(' ', 1, true)
        if space then
            code, msg = text:sub(2, space - 1), text:sub(space + 1)
        else
            code, msg = 'ERR', text:sub(2)
        end
    else
        code, msg = 'ERR', text
    end
    msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
    return { err = code .. ' ' .. msg }
end

-- The functions that raise errors are Rust (C functions to Lua, as in Redis), so that a
-- `return redis.call(...)` is not a tail call and the error names the script's line.
local redis = {
    call = native.call,
    pcall = native.pcall,
    sha1hex = native.sha1hex,
    setresp = native.setresp,
    set_repl = native.set_repl,
    acl_check_cmd = native.acl_check_cmd,
    log = native.log,
}
redis.error_reply = function(...)
    local e = ...
    if select('#', ...) ~= 1 or type(e) ~= 'string' then
        return error_table('wrong number or type of arguments')
    end
    if e:sub(1, 1) ~= '-' then e = '-' .. e end
    return error_table(e)
end
redis.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return error_table('wrong number or type of arguments')
    end
    return { ok = s }
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.replicate_commands = function() return true end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION_NUM, redis.REDIS_VERSION = 0x0007000f, '7.0.15'
redis.breakpoint = function() return false end
redis.debug = function() end

local function missing_global(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end

local known_flags = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
    ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
local function read_flags(t)
    local out, j = {}, 1
    while true do
        local f = t[j]
        if f == nil then return out end
        if type(f) ~= 'string' and type(f) ~= 'number' then return nil end
        f = tostring(f):lower()
        if not known_flags[f] then return nil end
        out[#out + 1] = f
        j = j + 1
    end
end

local function named_args(t)
    if type(t) ~= 'table' then
        error(error_table('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).'))
    end
    local name, desc, callback, flags
    for k, v in pairs(t) do
        if type(k) ~= 'string' and type(k) ~= 'number' then
            error(error_table('named argument key given to redis.register_function is not a string'))
        end
        local key = tostring(k):lower()
        if key == 'function_name' then
            if type(v) ~= 'string' and type(v) ~= 'number' then
                error(error_table('function_name argument given to redis.register_function must be a string'))
            end
            name = tostring(v)
        elseif key == 'description' then
            if type(v) ~= 'string' and type(v) ~= 'number' then
                error(error_table('description argument given to redis.register_function must be a string'))
            end
            desc = tostring(v)
        elseif key == 'callback' then
            if type(v) ~= 'function' then
                error(error_table('callback argument given to redis.register_function must be a function'))
            end
            callback = v
        elseif key == 'flags' then
            if type(v) ~= 'table' then
                error(error_table('flags argument to redis.register_function must be a table representing function flags'))
            end
            flags = read_flags(v)
            if flags == nil then error(error_table('unknown flag given')) end
        else
            error(error_table('unknown argument given to redis.register_function'))
        end
    end
    if name == nil then error(error_table('redis.register_function must get a function name argument')) end
    if callback == nil then error(error_table('redis.register_function must get a callback argument')) end
    return name, callback, desc, flags or {}
end

local function register_function(...)
    if not native.loading() then
        error(error_table('redis.register_function can only be called on FUNCTION LOAD command'))
    end
    local n = select('#', ...)
    if n < 1 or n > 2 then error(error_table('wrong number of arguments to redis.register_function')) end
    local name, callback, desc, flags
    if n == 1 then
        name, callback, desc, flags = named_args((...))
    else
        name, callback = ...
        if type(name) ~= 'string' and type(name) ~= 'number' then
            error(error_table('first argument to redis.register_function must be a string'))
        end
        if type(callback) ~= 'function' then
            error(error_table('second argument to redis.register_function must be a function'))
        end
        name, flags = tostring(name), {}
    end
    local problem = native.register(name, callback, desc, flags)
    if problem then error(error_table(problem)) end
end

-- The library-load API of FUNCTION LOAD: only these names exist while a library's body runs.
local load_api = {}
local load_redis = {
    register_function = register_function,
    log = native.log,
    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
    REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM, REDIS_VERSION = redis.REDIS_VERSION,
}
setmetatable(load_redis, { __index = missing_global })
load_api.redis = protect(load_redis)
setmetatable(load_api, { __index = missing_global })

G.redis = protect(redis)
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct' }) do
    G[name] = protect(G[name])
end
-- Strings index the real string table through their metatable; keep that one unchanged too.
getmetatable('').__metatable = false
setmetatable(G, { __index = missing_global, __newindex = readonly_error, __metatable = false })

-- A script's environment: reads fall through to the protected globals, writes fail. KEYS and
-- ARGV are raw-set into it before each EVAL.
local script_env = {}
setmetatable(script_env, { __index = G, __newindex = readonly_error, __metatable = false })
G._G = script_env

-- A library's environment: the load API while its body runs, the globals when called.
local lib_meta = { __index = G, __newindex = readonly_error, __metatable = false }
local lib_env = setmetatable({}, lib_meta)
local function loading(on) lib_meta.__index = on and load_api or G end

-- Runs f with Redis's error handler: eval gets no arguments, a function gets (keys, args).
local handler = native.error_handler
local function run(f, keys, args, is_eval)
    forget_shown()
    if is_eval then
        rawset(script_env, 'KEYS', keys)
        rawset(script_env, 'ARGV', args)
        return raw_xpcall(f, handler)
    end
    return raw_xpcall(function() return f(keys, args) end, handler)
end

return {
    script_env = script_env,
    lib_env = lib_env,
    loading = loading,
    run = run,
}
