//! The ZRANGE family: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE and the
//! older ZREVRANGE, Z[REV]RANGEBYSCORE and Z[REV]RANGEBYLEX, all one function as in Redis.

use bytes::Bytes;
use resp::Value;

use super::parse::{lex_range, score_range};
use super::{members_reply, ZSet, NOT_FLOAT_RANGE, NOT_LEX_RANGE};
use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

#[derive(Clone, Copy, PartialEq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Forward,
    Reverse,
}

/// Selects members as `zrangeGenericCommand` does. `src` is the index of the source key;
/// `store` is ZRANGESTORE (no WITHSCORES option, scores always kept). Returns the members
/// with scores and whether the client asked for the scores.
fn select(
    ks: &Keyspace,
    a: &[Bytes],
    c: &Context,
    src: usize,
    store: bool,
    mut by: By,
    mut dir: Dir,
) -> Result<(Vec<(Bytes, f64)>, bool), Value> {
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = a[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"withscores" if !store => withscores = true,
            b"limit" if left >= 2 => {
                offset = int_arg(&a[j + 1])?;
                limit = int_arg(&a[j + 2])?;
                j += 2;
            }
            b"rev" if dir == Dir::Auto => dir = Dir::Reverse,
            b"bylex" if by == By::Auto => by = By::Lex,
            b"byscore" if by == By::Auto => by = By::Score,
            _ => return Err(err(SYNTAX)),
        }
        j += 1;
    }
    let rev = dir == Dir::Reverse;
    if by == By::Auto {
        by = By::Rank;
    }
    // Redis checks `limit != -1`, so "LIMIT 0 -1" passes with a rank range.
    if limit != -1 && by == By::Rank {
        return Err(err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // A reversed score or lex range is given as max, min.
    let (lo, hi) = if rev && by != By::Rank {
        (&a[src + 2], &a[src + 1])
    } else {
        (&a[src + 1], &a[src + 2])
    };
    enum Spec {
        Rank(i64, i64),
        Score(super::ScoreRange),
        Lex(super::LexRange),
    }
    let spec = match by {
        By::Score => Spec::Score(score_range(lo, hi).ok_or_else(|| err(NOT_FLOAT_RANGE))?),
        By::Lex => Spec::Lex(lex_range(lo, hi).ok_or_else(|| err(NOT_LEX_RANGE))?),
        _ => Spec::Rank(int_arg(lo)?, int_arg(hi)?),
    };
    let Some(z) = ks.get_zset(&a[src], c.now_ms)? else {
        return Ok((Vec::new(), withscores));
    };
    let ranks = match &spec {
        Spec::Rank(start, stop) => {
            let r = z.index_range(*start, *stop);
            // Reversed indexes count from the highest score.
            let r = if rev {
                z.len() - r.end..z.len() - r.start
            } else {
                r
            };
            return Ok((collect(z, r, rev, 0, -1), withscores));
        }
        Spec::Score(r) => z.score_ranks(r),
        Spec::Lex(r) => z.lex_ranks(r),
    };
    Ok((collect(z, ranks, rev, offset, limit), withscores))
}

/// The members at `ranks` after skipping `offset` of them and taking at most `limit`
/// (negative: all). Like Redis, a negative offset skips everything.
fn collect(
    z: &ZSet,
    ranks: std::ops::Range<usize>,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(Bytes, f64)> {
    let n = ranks.len();
    if offset < 0 || offset as u64 >= n as u64 || limit == 0 {
        return Vec::new();
    }
    let offset = offset as usize;
    let take = if limit < 0 {
        n - offset
    } else {
        (limit as u64).min((n - offset) as u64) as usize
    };
    let ranks = if rev {
        ranks.start..ranks.end - offset
    } else {
        ranks.start + offset..ranks.end
    };
    z.range(ranks, rev)
        .take(take)
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

fn reply(r: Result<(Vec<(Bytes, f64)>, bool), Value>) -> Value {
    match r {
        Ok((items, withscores)) => members_reply(&items, withscores),
        Err(e) => e,
    }
}

pub fn zrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Auto, Dir::Auto))
}
pub fn zrevrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Rank, Dir::Reverse))
}
pub fn zrangebyscore(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Score, Dir::Forward))
}
pub fn zrevrangebyscore(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Score, Dir::Reverse))
}
pub fn zrangebylex(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Lex, Dir::Forward))
}
pub fn zrevrangebylex(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    reply(select(ks, a, c, 1, false, By::Lex, Dir::Reverse))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: an empty result
/// deletes `dst`; otherwise `dst` is replaced (whatever its type, without TTL).
pub fn zrangestore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match select(ks, a, c, 2, true, By::Auto, Dir::Auto) {
        Ok((items, _)) => store(ks, &a[1], items, c, "zrangestore"),
        Err(e) => e,
    }
}

/// Replaces `dst` with a sorted set of `items` (deletes it when empty); replies the size.
/// `event` is the command's keyspace event.
pub(crate) fn store(
    ks: &mut Keyspace,
    dst: &Bytes,
    items: Vec<(Bytes, f64)>,
    c: &Context,
    event: &'static str,
) -> Value {
    ks.expire_if_due(dst, c.now_ms);
    if items.is_empty() {
        if ks.remove(dst).is_some() {
            ks.notify(notify_class::GENERIC, "del", dst);
        }
        return Value::Integer(0);
    }
    let z = ZSet::from_items(items);
    let n = z.len();
    ks.put(dst, Data::ZSet(Box::new(z)), None);
    ks.notify(notify_class::ZSET, event, dst);
    Value::Integer(n as i64)
}
