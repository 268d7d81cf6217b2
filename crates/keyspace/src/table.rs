//! The command table: names, arities, routing kinds, key positions, flags and handlers.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use resp::Value;

use crate::{hashes as h, keys as k, lists as l, sets as s, strings as st};
use crate::{CommandSpec, Handler, Kind};

macro_rules! table {
    ($( $name:literal $arity:literal $kind:ident ($fk:literal $lk:literal $step:literal) [$($fl:literal),*] $h:expr; )*) => {
        pub(crate) static COMMANDS: &[CommandSpec] = &[ $( CommandSpec {
            name: $name, arity: $arity, kind: Kind::$kind, first_key: $fk, last_key: $lk, step: $step, flags: &[$($fl),*],
        } ),* ];
        pub(crate) static HANDLERS: &[Handler] = &[ $( $h ),* ];
    };
}

use Handler::{External as X, R, W};

table! {
    // strings
    "get" 2 Read (1 1 1) ["readonly", "fast"] R(st::get);
    "set" -3 Write (1 1 1) ["write", "denyoom"] W(st::set);
    "setnx" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::setnx);
    "setex" 4 Write (1 1 1) ["write", "denyoom"] W(st::setex);
    "psetex" 4 Write (1 1 1) ["write", "denyoom"] W(st::psetex);
    "mget" -2 Read (1 -1 1) ["readonly", "fast"] R(st::mget);
    "mset" -3 Write (1 -1 2) ["write", "denyoom"] W(st::mset);
    "msetnx" -3 Write (1 -1 2) ["write", "denyoom"] W(st::msetnx);
    "getset" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::getset);
    "getdel" 2 Write (1 1 1) ["write", "fast"] W(st::getdel);
    "getex" -2 Write (1 1 1) ["write", "fast"] W(st::getex);
    "append" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::append);
    "strlen" 2 Read (1 1 1) ["readonly", "fast"] R(st::strlen);
    "incr" 2 Write (1 1 1) ["write", "denyoom", "fast"] W(st::incr);
    "decr" 2 Write (1 1 1) ["write", "denyoom", "fast"] W(st::decr);
    "incrby" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::incrby);
    "decrby" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::decrby);
    "incrbyfloat" 3 Write (1 1 1) ["write", "denyoom", "fast"] W(st::incrbyfloat);
    "getrange" 4 Read (1 1 1) ["readonly"] R(st::getrange);
    "substr" 4 Read (1 1 1) ["readonly"] R(st::getrange);
    "setrange" 4 Write (1 1 1) ["write", "denyoom"] W(st::setrange);
    // keys
    "del" -2 Write (1 -1 1) ["write"] W(k::del);
    "unlink" -2 Write (1 -1 1) ["write", "fast"] W(k::del);
    "exists" -2 Read (1 -1 1) ["readonly", "fast"] R(k::exists);
    "type" 2 Read (1 1 1) ["readonly", "fast"] R(k::type_);
    "expire" -3 Write (1 1 1) ["write", "fast"] W(k::expire);
    "pexpire" -3 Write (1 1 1) ["write", "fast"] W(k::pexpire);
    "expireat" -3 Write (1 1 1) ["write", "fast"] W(k::expireat);
    "pexpireat" -3 Write (1 1 1) ["write", "fast"] W(k::pexpireat);
    "ttl" 2 Read (1 1 1) ["readonly", "fast"] R(k::ttl);
    "pttl" 2 Read (1 1 1) ["readonly", "fast"] R(k::pttl);
    "expiretime" 2 Read (1 1 1) ["readonly", "fast"] R(k::expiretime);
    "pexpiretime" 2 Read (1 1 1) ["readonly", "fast"] R(k::pexpiretime);
    "persist" 2 Write (1 1 1) ["write", "fast"] W(k::persist);
    "rename" 3 Write (1 2 1) ["write"] W(k::rename);
    "renamenx" 3 Write (1 2 1) ["write", "fast"] W(k::renamenx);
    "keys" 2 Read (0 0 0) ["readonly"] R(k::keys);
    "scan" -2 Read (0 0 0) ["readonly"] R(k::scan);
    "dbsize" 1 Read (0 0 0) ["readonly", "fast"] R(k::dbsize);
    "randomkey" 1 Read (0 0 0) ["readonly"] R(k::randomkey);
    "flushdb" -1 Write (0 0 0) ["write"] W(k::flush);
    "flushall" -1 Write (0 0 0) ["write"] W(k::flush);
    // hashes
    "hset" -4 Write (1 1 1) ["write", "denyoom", "fast"] W(h::hset);
    "hmset" -4 Write (1 1 1) ["write", "denyoom", "fast"] W(h::hmset);
    "hsetnx" 4 Write (1 1 1) ["write", "denyoom", "fast"] W(h::hsetnx);
    "hget" 3 Read (1 1 1) ["readonly", "fast"] R(h::hget);
    "hmget" -3 Read (1 1 1) ["readonly", "fast"] R(h::hmget);
    "hdel" -3 Write (1 1 1) ["write", "fast"] W(h::hdel);
    "hexists" 3 Read (1 1 1) ["readonly", "fast"] R(h::hexists);
    "hgetall" 2 Read (1 1 1) ["readonly"] R(h::hgetall);
    "hkeys" 2 Read (1 1 1) ["readonly"] R(h::hkeys);
    "hvals" 2 Read (1 1 1) ["readonly"] R(h::hvals);
    "hlen" 2 Read (1 1 1) ["readonly", "fast"] R(h::hlen);
    "hstrlen" 3 Read (1 1 1) ["readonly", "fast"] R(h::hstrlen);
    "hincrby" 4 Write (1 1 1) ["write", "denyoom", "fast"] W(h::hincrby);
    "hincrbyfloat" 4 Write (1 1 1) ["write", "denyoom", "fast"] W(h::hincrbyfloat);
    "hscan" -3 Read (1 1 1) ["readonly"] R(h::hscan);
    // lists
    "lpush" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(l::lpush);
    "rpush" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(l::rpush);
    "lpushx" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(l::lpushx);
    "rpushx" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(l::rpushx);
    "lpop" -2 Write (1 1 1) ["write", "fast"] W(l::lpop);
    "rpop" -2 Write (1 1 1) ["write", "fast"] W(l::rpop);
    "llen" 2 Read (1 1 1) ["readonly", "fast"] R(l::llen);
    "lrange" 4 Read (1 1 1) ["readonly"] R(l::lrange);
    "lindex" 3 Read (1 1 1) ["readonly"] R(l::lindex);
    "lset" 4 Write (1 1 1) ["write", "denyoom"] W(l::lset);
    "lrem" 4 Write (1 1 1) ["write"] W(l::lrem);
    "ltrim" 4 Write (1 1 1) ["write"] W(l::ltrim);
    "linsert" 5 Write (1 1 1) ["write", "denyoom"] W(l::linsert);
    // sets
    "sadd" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(s::sadd);
    "srem" -3 Write (1 1 1) ["write", "fast"] W(s::srem);
    "smembers" 2 Read (1 1 1) ["readonly"] R(s::smembers);
    "sismember" 3 Read (1 1 1) ["readonly", "fast"] R(s::sismember);
    "smismember" -3 Read (1 1 1) ["readonly", "fast"] R(s::smismember);
    "scard" 2 Read (1 1 1) ["readonly", "fast"] R(s::scard);
    "spop" -2 Write (1 1 1) ["write", "fast"] W(s::spop);
    "srandmember" -2 Read (1 1 1) ["readonly"] R(s::srandmember);
    "sinter" -2 Read (1 -1 1) ["readonly"] R(s::sinter);
    "sunion" -2 Read (1 -1 1) ["readonly"] R(s::sunion);
    "sdiff" -2 Read (1 -1 1) ["readonly"] R(s::sdiff);
    "sinterstore" -3 Write (1 -1 1) ["write", "denyoom"] W(s::sinterstore);
    "sunionstore" -3 Write (1 -1 1) ["write", "denyoom"] W(s::sunionstore);
    "sdiffstore" -3 Write (1 -1 1) ["write", "denyoom"] W(s::sdiffstore);
    "smove" 4 Write (1 2 1) ["write", "fast"] W(s::smove);
    "sscan" -3 Read (1 1 1) ["readonly"] R(s::sscan);
    // sorted sets (zsets.rs)
    "zadd" -4 Write (1 1 1) ["write", "denyoom", "fast"] W(crate::zsets::zadd);
    "zincrby" 4 Write (1 1 1) ["write", "denyoom", "fast"] W(crate::zsets::zincrby);
    "zrem" -3 Write (1 1 1) ["write", "fast"] W(crate::zsets::zrem);
    "zscore" 3 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zscore);
    "zmscore" -3 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zmscore);
    "zcard" 2 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zcard);
    "zcount" 4 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zcount);
    "zlexcount" 4 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zlexcount);
    "zrank" 3 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zrank);
    "zrevrank" 3 Read (1 1 1) ["readonly", "fast"] R(crate::zsets::zrevrank);
    "zrange" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrange);
    "zrangestore" -5 Write (1 2 1) ["write", "denyoom"] W(crate::zsets::zrangestore);
    "zrevrange" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrevrange);
    "zrangebyscore" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrangebyscore);
    "zrevrangebyscore" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrevrangebyscore);
    "zrangebylex" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrangebylex);
    "zrevrangebylex" -4 Read (1 1 1) ["readonly"] R(crate::zsets::zrevrangebylex);
    "zremrangebyrank" 4 Write (1 1 1) ["write"] W(crate::zsets::zremrangebyrank);
    "zremrangebyscore" 4 Write (1 1 1) ["write"] W(crate::zsets::zremrangebyscore);
    "zremrangebylex" 4 Write (1 1 1) ["write"] W(crate::zsets::zremrangebylex);
    "zpopmin" -2 Write (1 1 1) ["write", "fast"] W(crate::zsets::zpopmin);
    "zpopmax" -2 Write (1 1 1) ["write", "fast"] W(crate::zsets::zpopmax);
    "zmpop" -4 Write (0 0 0) ["write", "movablekeys"] W(crate::zsets::zmpop);
    "bzpopmin" -3 Write (1 -2 1) ["write", "noscript", "blocking", "fast"] W(crate::zsets::bzpopmin);
    "bzpopmax" -3 Write (1 -2 1) ["write", "noscript", "blocking", "fast"] W(crate::zsets::bzpopmax);
    "bzmpop" -5 Write (0 0 0) ["write", "blocking", "movablekeys"] W(crate::zsets::bzmpop);
    "zrandmember" -2 Read (1 1 1) ["readonly"] R(crate::zsets::zrandmember);
    "zunion" -3 Read (0 0 0) ["readonly", "movablekeys"] R(crate::zsets::zunion);
    "zinter" -3 Read (0 0 0) ["readonly", "movablekeys"] R(crate::zsets::zinter);
    "zdiff" -3 Read (0 0 0) ["readonly", "movablekeys"] R(crate::zsets::zdiff);
    "zunionstore" -4 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::zsets::zunionstore);
    "zinterstore" -4 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::zsets::zinterstore);
    "zdiffstore" -4 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::zsets::zdiffstore);
    "zintercard" -3 Read (0 0 0) ["readonly", "movablekeys"] R(crate::zsets::zintercard);
    "zscan" -3 Read (1 1 1) ["readonly"] R(crate::zsets::zscan);

    // geo (geo.rs)
    "geoadd" -5 Write (1 1 1) ["write", "denyoom"] W(crate::geo::geoadd);
    "geodist" -4 Read (1 1 1) ["readonly"] R(crate::geo::geodist);
    "geohash" -2 Read (1 1 1) ["readonly"] R(crate::geo::geohash);
    "geopos" -2 Read (1 1 1) ["readonly"] R(crate::geo::geopos);
    "georadius" -6 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::geo::georadius);
    "georadius_ro" -6 Read (1 1 1) ["readonly"] R(crate::geo::georadius_ro);
    "georadiusbymember" -5 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::geo::georadiusbymember);
    "georadiusbymember_ro" -5 Read (1 1 1) ["readonly"] R(crate::geo::georadiusbymember_ro);
    "geosearch" -7 Read (1 1 1) ["readonly"] R(crate::geo::geosearch);
    "geosearchstore" -8 Write (1 2 1) ["write", "denyoom"] W(crate::geo::geosearchstore);

    // bitmaps (bitmaps.rs)
    "setbit" 4 Write (1 1 1) ["write", "denyoom"] W(crate::bitmaps::setbit);
    "getbit" 3 Read (1 1 1) ["readonly", "fast"] R(crate::bitmaps::getbit);
    "bitcount" -2 Read (1 1 1) ["readonly"] R(crate::bitmaps::bitcount);
    "bitpos" -3 Read (1 1 1) ["readonly"] R(crate::bitmaps::bitpos);
    "bitop" -4 Write (2 -1 1) ["write", "denyoom"] W(crate::bitmaps::bitop);
    "bitfield" -2 Write (1 1 1) ["write", "denyoom"] W(crate::bitmaps::bitfield);
    "bitfield_ro" -2 Read (1 1 1) ["readonly", "fast"] R(crate::bitmaps::bitfield_ro);

    // hyperloglog (hll.rs)
    "pfadd" -2 Write (1 1 1) ["write", "denyoom", "fast"] W(crate::hll::pfadd);
    // Redis flags PFCOUNT "readonly", yet a stale cached cardinality is stored back into the
    // value (and propagated): it is routed as a write so every replica holds the same bytes.
    "pfcount" -2 Write (1 -1 1) ["readonly"] W(crate::hll::pfcount);
    "pfmerge" -2 Write (1 -1 1) ["write", "denyoom"] W(crate::hll::pfmerge);

    // sort (sort.rs)
    "sort" -2 Write (1 1 1) ["write", "denyoom", "movablekeys"] W(crate::sort::sort);
    "sort_ro" -2 Read (1 1 1) ["readonly", "movablekeys"] R(crate::sort::sort_ro);

    // other generic, string, list, set and hash commands of Redis 7.0
    "copy" -3 Write (1 2 1) ["write", "denyoom"] W(crate::keys::copy);
    "move" 3 Write (1 1 1) ["write", "fast"] W(crate::keys::move_);
    "touch" -2 Read (1 -1 1) ["readonly", "fast"] R(crate::keys::touch);
    "object" -2 Read (0 0 0) [] R(crate::keys::object);
    "memory" -2 Read (0 0 0) [] R(crate::keys::memory);
    "dump" 2 Read (1 1 1) ["readonly"] R(crate::dump::dump);
    "restore" -4 Write (1 1 1) ["write", "denyoom"] W(crate::dump::restore);
    "migrate" -6 Write (3 3 1) ["write", "movablekeys"] W(crate::keys::migrate);
    "lcs" -3 Read (1 2 1) ["readonly"] R(crate::strings::lcs);
    "lmove" 5 Write (1 2 1) ["write", "denyoom"] W(crate::lists::lmove);
    "rpoplpush" 3 Write (1 2 1) ["write", "denyoom"] W(crate::lists::rpoplpush);
    "lmpop" -4 Write (0 0 0) ["write", "movablekeys"] W(crate::lists::lmpop);
    "lpos" -3 Read (1 1 1) ["readonly"] R(crate::lists::lpos);
    "blpop" -3 Write (1 -2 1) ["write", "noscript", "blocking"] W(crate::lists::blpop);
    "brpop" -3 Write (1 -2 1) ["write", "noscript", "blocking"] W(crate::lists::brpop);
    "blmove" 6 Write (1 2 1) ["write", "denyoom", "noscript", "blocking"] W(crate::lists::blmove);
    "brpoplpush" 4 Write (1 2 1) ["write", "denyoom", "noscript", "blocking"] W(crate::lists::brpoplpush);
    "blmpop" -5 Write (0 0 0) ["write", "blocking", "movablekeys"] W(crate::lists::blmpop);
    "sintercard" -3 Read (0 0 0) ["readonly", "movablekeys"] R(crate::sets::sintercard);
    "hrandfield" -2 Read (1 1 1) ["readonly"] R(crate::hashes::hrandfield);

    // streams (streams/)
    "xadd" -5 Write (1 1 1) ["write", "denyoom", "fast"] W(crate::streams::xadd);
    "xrange" -4 Read (1 1 1) ["readonly"] R(crate::streams::xrange);
    "xrevrange" -4 Read (1 1 1) ["readonly"] R(crate::streams::xrevrange);
    "xlen" 2 Read (1 1 1) ["readonly", "fast"] R(crate::streams::xlen);
    "xdel" -3 Write (1 1 1) ["write", "fast"] W(crate::streams::xdel);
    "xtrim" -4 Write (1 1 1) ["write"] W(crate::streams::xtrim);
    "xsetid" -3 Write (1 1 1) ["write", "denyoom", "fast"] W(crate::streams::xsetid);
    "xread" -4 Read (0 0 0) ["readonly", "blocking", "movablekeys"] R(crate::streams::xread);
    "xreadgroup" -7 Write (0 0 0) ["write", "blocking", "movablekeys"] W(crate::streams::xreadgroup);
    "xgroup" -2 Write (0 0 0) [] W(crate::streams::xgroup);
    "xack" -4 Write (1 1 1) ["write", "fast"] W(crate::streams::xack);
    "xpending" -3 Read (1 1 1) ["readonly"] R(crate::streams::xpending);
    "xclaim" -6 Write (1 1 1) ["write", "fast"] W(crate::streams::xclaim);
    "xautoclaim" -6 Write (1 1 1) ["write", "fast"] W(crate::streams::xautoclaim);
    "xinfo" -2 Read (0 0 0) [] R(crate::streams::xinfo);

    // scripting (script/): run inside the log entry, on every replica
    "eval" -3 Write (0 0 0) ["noscript", "stale", "movablekeys"] W(crate::script::eval);
    "evalsha" -3 Write (0 0 0) ["noscript", "stale", "movablekeys"] W(crate::script::evalsha);
    "eval_ro" -3 Write (0 0 0) ["readonly", "noscript", "stale", "movablekeys"] W(crate::script::eval_ro);
    "evalsha_ro" -3 Write (0 0 0) ["readonly", "noscript", "stale", "movablekeys"] W(crate::script::evalsha_ro);
    "fcall" -3 Write (0 0 0) ["noscript", "stale", "movablekeys"] W(crate::script::fcall);
    "fcall_ro" -3 Write (0 0 0) ["readonly", "noscript", "stale", "movablekeys"] W(crate::script::fcall_ro);
    "script" -2 Write (0 0 0) ["noscript"] W(crate::script::script);
    "function" -2 Write (0 0 0) ["noscript"] W(crate::script::function);

    // connection (the server handles these; PING/ECHO also answer inside EXEC)
    "ping" -1 Connection (0 0 0) ["fast"] X;
    "echo" 2 Connection (0 0 0) ["fast"] X;
    "select" 2 Connection (0 0 0) ["loading", "stale", "fast"] X;
    "hello" -1 Connection (0 0 0) ["noscript", "loading", "stale", "fast"] X;
    "auth" -2 Connection (0 0 0) ["noscript", "loading", "stale", "fast"] X;
    "client" -2 Connection (0 0 0) [] X;
    "quit" -1 Connection (0 0 0) ["fast"] X;
    "reset" 1 Connection (0 0 0) ["fast"] X;
    "readonly" 1 Connection (0 0 0) ["fast"] X;
    "readwrite" 1 Connection (0 0 0) ["fast"] X;
    "asking" 1 Connection (0 0 0) ["fast"] X;
    // server
    "command" -1 Server (0 0 0) ["loading", "stale"] X;
    "info" -1 Server (0 0 0) ["loading", "stale"] X;
    "config" -2 Server (0 0 0) [] X;
    "time" 1 Server (0 0 0) ["fast"] X;
    "cluster" -2 Server (0 0 0) [] X;
    "debug" -2 Server (0 0 0) [] X;
    "lastsave" 1 Server (0 0 0) ["fast"] X;
    "shutdown" -1 Server (0 0 0) ["admin", "noscript", "loading", "stale", "no_multi"] X;
    "save" 1 Server (0 0 0) [] X;
    "bgsave" -1 Server (0 0 0) [] X;
    "wait" 3 Server (0 0 0) [] X;
    "acl" -2 Server (0 0 0) [] X;
    // transactions
    "multi" 1 Transaction (0 0 0) ["fast"] X;
    "exec" 1 Transaction (0 0 0) [] X;
    "discard" 1 Transaction (0 0 0) ["fast"] X;
    "watch" -2 Transaction (1 -1 1) ["fast"] X;
    "unwatch" 1 Transaction (0 0 0) ["fast"] X;
}

fn index() -> &'static HashMap<&'static [u8], usize> {
    static INDEX: OnceLock<HashMap<&'static [u8], usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    })
}

fn lookup_idx(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(&*lower).copied()
}

/// Finds a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup_idx(name).map(|i| &COMMANDS[i])
}

/// The whole command table.
pub fn commands() -> &'static [CommandSpec] {
    COMMANDS
}

/// C's `%.Ns` of a byte string: stops at NUL, at most `max` bytes.
fn c_str(b: &[u8], max: usize) -> &[u8] {
    let b = &b[..b.len().min(max)];
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Redis's "unknown command" error text (processCommand), newlines mapped to spaces.
fn unknown(args: &[Bytes]) -> Value {
    let mut msg: Vec<u8> = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_str(args.first().map_or(&[][..], |a| a), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut list: Vec<u8> = Vec::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let precision = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(c_str(a, precision));
        list.extend_from_slice(b"' ");
    }
    msg.extend_from_slice(&list);
    for c in msg.iter_mut() {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    Value::Error(String::from_utf8_lossy(&msg).into_owned())
}

pub(crate) fn check_idx(args: &[Bytes]) -> Result<usize, Value> {
    let Some(name) = args.first() else {
        return Err(unknown(args));
    };
    let Some(i) = lookup_idx(name) else {
        return Err(unknown(args));
    };
    let spec = &COMMANDS[i];
    let n = args.len() as i64;
    let a = i64::from(spec.arity);
    if (a > 0 && n != a) || (a < 0 && n < -a) {
        return Err(crate::util::arity_err(spec.name));
    }
    Ok(i)
}

/// Checks name and arity the way Redis does, returning Redis's exact error.
pub fn check(args: &[Bytes]) -> Result<&'static CommandSpec, Value> {
    check_idx(args).map(|i| &COMMANDS[i])
}

/// Where a command's keys are, as argument positions (Redis's key specs, for routing and
/// CROSSSLOT checks). Most commands say it with (first, last, step); those whose keys follow
/// a `numkeys` argument, or hide behind an option (`STORE key`), are spelled out here. An
/// argument that is not a valid count gives no keys: the command itself then answers the error.
pub fn key_positions(args: &[Bytes]) -> Vec<usize> {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        return Vec::new();
    };
    let numkeys_at = |at: usize| -> Vec<usize> {
        let count = args
            .get(at)
            .and_then(|n| crate::util::parse_i64(n))
            .filter(|&n| n > 0)
            .map_or(0, |n| n as usize);
        (at + 1..(at + 1).saturating_add(count).min(args.len())).collect()
    };
    match spec.name {
        // numkeys first: ZUNION numkeys key..., LMPOP numkeys key..., SINTERCARD numkeys key...
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            numkeys_at(1)
        }
        // a container command whose key is its third argument: OBJECT ENCODING key
        "object" | "xgroup" | "xinfo" if args.len() >= 3 => vec![2],
        "memory" if args.len() >= 3 && args[1].eq_ignore_ascii_case(b"usage") => vec![2],
        "memory" => Vec::new(),
        "object" | "xgroup" | "xinfo" => Vec::new(),
        // the keys are the first half of what follows STREAMS
        "xread" | "xreadgroup" => stream_keys(args),
        // script or function, then numkeys: EVAL script numkeys key... arg...
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => numkeys_at(2),
        // timeout first: BLMPOP timeout numkeys key...
        "blmpop" | "bzmpop" => numkeys_at(2),
        // destination, then numkeys: ZUNIONSTORE dest numkeys key...
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            let mut keys = vec![1];
            keys.extend(numkeys_at(2));
            keys.retain(|&i| i < args.len());
            keys
        }
        // a key, and maybe `STORE dest` / `STOREDIST dest` among the options
        "sort" | "georadius" | "georadiusbymember" => {
            let mut keys = vec![1];
            let mut i = 2;
            while i + 1 < args.len() {
                let option = args[i].to_ascii_lowercase();
                if option == b"store" || option == b"storedist" {
                    keys.push(i + 1);
                }
                i += 1;
            }
            keys
        }
        _ if spec.first_key <= 0 => Vec::new(),
        _ => {
            let last = if spec.last_key < 0 {
                args.len() as i64 + i64::from(spec.last_key)
            } else {
                i64::from(spec.last_key)
            };
            let step = spec.step.max(1) as usize;
            (spec.first_key as usize..args.len())
                .step_by(step)
                .take_while(|&i| i as i64 <= last)
                .collect()
        }
    }
}

/// XREAD/XREADGROUP keys: after the first STREAMS that is an option (not the value of
/// BLOCK, COUNT or GROUP), the first half of the remaining arguments.
fn stream_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        let option = args[i].to_ascii_lowercase();
        match option.as_slice() {
            b"streams" => {
                let rest = args.len() - i - 1;
                return (i + 1..i + 1 + rest / 2).collect();
            }
            b"block" | b"count" => i += 2,
            b"group" => i += 3,
            _ => i += 1,
        }
    }
    Vec::new()
}
