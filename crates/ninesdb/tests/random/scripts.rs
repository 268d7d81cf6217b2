//! Scripts (Redis's `scripting` group): EVAL of commands through `redis.call`/`redis.pcall`
//! on keys of every type (so conversions of every reply shape and error), value conversions,
//! `cjson`/`cmsgpack`/`bit` on random values, a write followed by an error (kept, as in
//! Redis), read-only scripts, SCRIPT LOAD + EVALSHA, and functions.

use super::gen::{Gen, HASHES, LISTS, SETS, STRINGS, ZSETS};
use super::{Cmd, Mode};

/// Commands a script sends, with how their reply must be compared.
fn inner_command(g: &mut Gen) -> (Vec<String>, Mode) {
    let exact = Mode::Exact;
    let (name, args, mode): (&str, Vec<String>, Mode) = match g.rng.below(20) {
        0 => ("GET", vec![], exact),
        1 => ("SET", vec![g.value()], exact),
        2 => ("INCRBY", vec![g.int()], exact),
        3 => ("APPEND", vec![g.value()], exact),
        4 => ("LPUSH", vec![g.value()], exact),
        5 => ("LRANGE", vec!["0".into(), "-1".into()], exact),
        6 => ("SADD", vec![g.member()], exact),
        7 => ("SMEMBERS", vec![], Mode::Sorted),
        8 => ("HSET", vec![g.member(), g.value()], exact),
        9 => ("HGETALL", vec![], Mode::Pairs),
        10 => ("ZADD", vec![g.float(), g.member()], exact),
        11 => (
            "ZRANGE",
            vec!["0".into(), "-1".into(), "WITHSCORES".into()],
            exact,
        ),
        12 => ("ZSCORE", vec![g.member()], exact),
        13 => ("TYPE", vec![], exact),
        14 => ("DEL", vec![], exact),
        15 => ("INCRBYFLOAT", vec![g.float()], exact),
        16 => ("STRLEN", vec![], exact),
        17 => ("LPOP", vec![], exact),
        18 => ("HINCRBY", vec![g.member(), g.int()], exact),
        _ => ("EXISTS", vec![], exact),
    };
    let mut all = vec![name.to_owned()];
    all.extend(args);
    (all, mode)
}

fn any_key(g: &mut Gen) -> String {
    let pool = *g.rng.pick(&[STRINGS, LISTS, SETS, HASHES, ZSETS]);
    g.key(pool)
}

const LIBRARY: &str = "#!lua name=rlib\nredis.register_function('rget', function(keys) return redis.call('get', keys[1]) end)\nredis.register_function{function_name='rset', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end}\nredis.register_function{function_name='rro', callback=function(keys) return redis.call('exists', keys[1]) end, flags={'no-writes'}}";
const CACHED: &str = "return {KEYS[1], redis.call('type', KEYS[1])['ok'], #ARGV}";

pub fn scripts(g: &mut Gen) -> Cmd {
    let k = any_key(g);
    match g.rng.below(12) {
        0..=3 => {
            let call = if g.chance(50) { "call" } else { "pcall" };
            let (command, mode) = inner_command(g);
            let mut c = Cmd::new(if g.chance(85) { "EVAL" } else { "EVAL_RO" });
            c.arg(format!(
                "return redis.{call}(ARGV[1], KEYS[1], unpack(ARGV, 2))"
            ))
            .arg("1")
            .key(&k);
            for a in command {
                c.arg(a);
            }
            c.mode(mode);
            c
        }
        4 => {
            let mut c = Cmd::new("EVAL");
            c.arg("return {ARGV[1], tonumber(ARGV[2]), ARGV[1] == ARGV[3], {ARGV[3], {tonumber(ARGV[2])}}, tonumber(ARGV[2]) ~= nil}")
                .arg("0")
                .arg(g.value())
                .arg(if g.chance(50) { g.int() } else { g.float() })
                .arg(g.value());
            c
        }
        5 => {
            let mut c = Cmd::new("EVAL");
            c.arg("local t = redis.pcall('lrange', KEYS[1], 0, -1); if t['err'] then return t['err'] end; return cjson.encode({t, #t, ARGV[1]})")
                .arg("1")
                .key(&k)
                .arg(g.value());
            c
        }
        6 => {
            let mut c = Cmd::new("EVAL");
            c.arg("redis.call('set', KEYS[1], ARGV[1]); return redis.call('incrby', KEYS[1], ARGV[2])")
                .arg("1")
                .key(&k)
                .arg(g.value())
                .arg(g.int());
            c
        }
        7 => {
            let mut c = Cmd::new("EVAL");
            c.arg("local n = tonumber(ARGV[1]) or 0; return {bit.band(n, 65535), bit.bxor(n, 255), bit.tohex(n), cmsgpack.pack(ARGV[1], n), cjson.decode(cjson.encode({ARGV[1]}))[1]}")
                .arg("0")
                .arg(g.int());
            c
        }
        8 => {
            let mut c = Cmd::new("SCRIPT");
            c.arg("LOAD").arg(CACHED);
            c
        }
        9 => {
            // The SHA1 of CACHED: NOSCRIPT on both sides until a SCRIPT LOAD came.
            let mut c = Cmd::new("EVALSHA");
            c.arg("1cc9c3084fb4e9450b2e84a0448b2f43268aa417")
                .arg("1")
                .key(&k)
                .arg(g.value());
            c
        }
        10 => {
            let mut c = Cmd::new("FUNCTION");
            c.arg("LOAD");
            if g.chance(70) {
                c.arg("REPLACE");
            }
            c.arg(LIBRARY);
            c
        }
        _ => {
            let function = g.pick(&["rget", "rset", "rro"]);
            let mut c = Cmd::new(if g.chance(70) { "FCALL" } else { "FCALL_RO" });
            c.arg(function).arg("1").key(&k).arg(g.value());
            c
        }
    }
}
