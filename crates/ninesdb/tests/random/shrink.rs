//! Cutting a mismatch's history down: keep only the earlier writes that reach its keys (through
//! keys they read too), check that this still reproduces it from an empty key space, then drop
//! chunks of commands while it still does (a small delta debugging).

use super::compare::normalise;
use super::run::{Servers, Step};
use super::Cmd;

/// Commands that never change the data: an earlier one cannot be a cause.
const READS: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "LCS",
    "EXISTS",
    "TYPE",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "KEYS",
    "SCAN",
    "DBSIZE",
    "RANDOMKEY",
    "TOUCH",
    "OBJECT",
    "LLEN",
    "LRANGE",
    "LINDEX",
    "LPOS",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SRANDMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERCARD",
    "SSCAN",
    "HGET",
    "HMGET",
    "HEXISTS",
    "HGETALL",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HSTRLEN",
    "HSCAN",
    "HRANDFIELD",
    "ZCARD",
    "ZCOUNT",
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZREVRANGE",
    "ZLEXCOUNT",
    "ZRANDMEMBER",
    "ZUNION",
    "ZINTER",
    "ZDIFF",
    "ZINTERCARD",
    "ZSCAN",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITFIELD_RO",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEOSEARCH",
    "GEORADIUS_RO",
    "GEORADIUSBYMEMBER_RO",
    "SORT_RO",
];

/// The earlier commands that may matter to `steps[at]`: writes to its keys, and to the keys
/// of those writes (SUNIONSTORE d a b makes a and b matter), in order, ending with it.
pub fn history(steps: &[Step], at: usize) -> Vec<Cmd> {
    let mut keys: Vec<String> = steps[at].cmd.keys.clone();
    let mut kept = vec![steps[at].cmd.clone()];
    for step in steps[..at].iter().rev() {
        let cmd = &step.cmd;
        if READS.contains(&cmd.name().as_str()) || !cmd.keys.iter().any(|k| keys.contains(k)) {
            continue;
        }
        for key in &cmd.keys {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        kept.push(cmd.clone());
    }
    kept.reverse();
    kept
}

/// Whether `cmds`, run from an empty key space, end with the same two (normalised) replies.
fn reproduces(servers: &mut Servers, cmds: &[Cmd], want: &(String, String)) -> bool {
    servers.flush();
    let mut last = None;
    for cmd in cmds {
        last = Some(servers.call(cmd));
    }
    let Some((redis, ninesdb)) = last else {
        return false;
    };
    let mode = cmds[cmds.len() - 1].mode;
    (
        format!("{:?}", normalise(&redis, mode)),
        format!("{:?}", normalise(&ninesdb, mode)),
    ) == *want
}

/// The shortest sequence found (within `budget` replays) that ends in the same mismatch as
/// `steps[at]`, or None if its history alone does not reproduce it.
pub fn shrink(
    servers: &mut Servers,
    steps: &[Step],
    at: usize,
    mut budget: usize,
) -> Option<Vec<Cmd>> {
    let mode = steps[at].cmd.mode;
    let want = (
        format!("{:?}", normalise(&steps[at].redis, mode)),
        format!("{:?}", normalise(&steps[at].ninesdb, mode)),
    );
    let mut cmds = history(steps, at);
    if !reproduces(servers, &cmds, &want) {
        return None;
    }
    let mut chunk = cmds.len().div_ceil(2);
    while chunk >= 1 && budget > 0 {
        let mut removed = false;
        let mut start = 0;
        // The last command is the mismatch itself: it stays.
        while start + 1 < cmds.len() && budget > 0 {
            let end = (start + chunk).min(cmds.len() - 1);
            let candidate: Vec<Cmd> = cmds[..start].iter().chain(&cmds[end..]).cloned().collect();
            budget -= 1;
            if reproduces(servers, &candidate, &want) {
                cmds = candidate;
                removed = true;
            } else {
                start = end;
            }
        }
        if chunk == 1 && !removed {
            break;
        }
        chunk = if chunk == 1 { 1 } else { chunk / 2 };
    }
    Some(cmds)
}
