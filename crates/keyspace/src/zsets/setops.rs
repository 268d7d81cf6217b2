//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD (`zunionInterDiffGenericCommand`).
//! Plain sets are accepted as inputs, every member scoring 1.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use resp::Value;

use super::parse::parse_score;
use super::range::store;
use super::{members_reply, ZSet};
use crate::util::*;
use crate::{Context, Data, Keyspace};

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// `zunionInterAggregate`: inf + -inf gives 0, not NaN.
    fn apply(self, target: f64, val: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = target + val;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => {
                if val < target {
                    val
                } else {
                    target
                }
            }
            Aggregate::Max => {
                if val > target {
                    val
                } else {
                    target
                }
            }
        }
    }
}

/// One input: a sorted set, a plain set (scores 1) or a missing key (empty).
enum Source<'a> {
    Missing,
    Set(&'a BTreeSet<Bytes>),
    ZSet(&'a ZSet),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Set(s) => s.len(),
            Source::ZSet(z) => z.len(),
        }
    }
    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Set(s) => s.contains(member).then_some(1.0),
            Source::ZSet(z) => z.score(member),
        }
    }
    fn each(&self, mut f: impl FnMut(&Bytes, f64)) {
        match self {
            Source::Missing => {}
            Source::Set(s) => s.iter().for_each(|m| f(m, 1.0)),
            Source::ZSet(z) => z.iter().for_each(|(m, s)| f(m, s)),
        }
    }
}

/// What a command asked for once its arguments are read.
struct Request<'a> {
    sources: Vec<(Source<'a>, f64)>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Reads `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES] [LIMIT n]` from
/// `a[at]` on, in Redis's order: numkeys, the keys' types, then the options.
fn parse<'a>(
    ks: &'a Keyspace,
    a: &[Bytes],
    c: &Context,
    at: usize,
    op: Op,
    store: bool,
    card_only: bool,
) -> Result<Request<'a>, Value> {
    let setnum = int_arg(&a[at])?;
    if setnum < 1 {
        return Err(Value::Error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&a[0]).to_ascii_lowercase()
        )));
    }
    if setnum as u64 > (a.len() - at - 1) as u64 {
        return Err(err(SYNTAX));
    }
    let setnum = setnum as usize;
    let mut sources = Vec::with_capacity(setnum);
    for key in &a[at + 1..at + 1 + setnum] {
        let source = match ks.get(key, c.now_ms).map(|e| &e.data) {
            None => Source::Missing,
            Some(Data::ZSet(z)) => Source::ZSet(z),
            Some(Data::Set(s)) => Source::Set(s),
            Some(_) => return Err(wrongtype()),
        };
        sources.push((source, 1.0));
    }
    let mut req = Request {
        sources,
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = at + 1 + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        let opt = a[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"weights" if op != Op::Diff && !card_only && remaining > setnum => {
                for (k, w) in a[j + 1..j + 1 + setnum].iter().enumerate() {
                    req.sources[k].1 =
                        parse_score(w).ok_or_else(|| err("ERR weight value is not a float"))?;
                }
                j += 1 + setnum;
            }
            b"aggregate" if op != Op::Diff && !card_only && remaining >= 2 => {
                req.aggregate = match a[j + 1].to_ascii_lowercase().as_slice() {
                    b"sum" => Aggregate::Sum,
                    b"min" => Aggregate::Min,
                    b"max" => Aggregate::Max,
                    _ => return Err(err(SYNTAX)),
                };
                j += 2;
            }
            b"withscores" if !store && !card_only => {
                req.withscores = true;
                j += 1;
            }
            b"limit" if card_only && remaining >= 2 => {
                req.limit = match parse_i64(&a[j + 1]) {
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(err("ERR LIMIT can't be negative")),
                };
                j += 2;
            }
            _ => return Err(err(SYNTAX)),
        }
    }
    Ok(req)
}

/// `weight * score`, where 0 * inf counts as 0 rather than NaN.
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The members of the intersection with their aggregated scores, or only how many
/// (`card_only`, stopping at `limit` when it is not 0).
fn inter(req: &Request<'_>, card_only: bool) -> (Vec<(Bytes, f64)>, usize) {
    // Smallest input first, as Redis orders them (stable, so equal sizes keep their order
    // and the aggregation order is the same as Redis's).
    let mut order: Vec<&(Source<'_>, f64)> = req.sources.iter().collect();
    order.sort_by_key(|(s, _)| s.len());
    let (first, w0) = order[0];
    let mut out = Vec::new();
    let mut count = 0usize;
    let mut done = false;
    first.each(|m, s| {
        if done {
            return;
        }
        let mut score = weighted(*w0, s);
        for (src, w) in &order[1..] {
            match src.score(m) {
                Some(v) => score = req.aggregate.apply(score, v * w),
                None => return,
            }
        }
        count += 1;
        if card_only {
            done = req.limit > 0 && count >= req.limit;
        } else {
            out.push((m.clone(), score));
        }
    });
    (out, count)
}

fn union(req: &Request<'_>) -> Vec<(Bytes, f64)> {
    let mut order: Vec<&(Source<'_>, f64)> = req.sources.iter().collect();
    order.sort_by_key(|(s, _)| s.len());
    // A hash map only accumulates: the result is sorted by (score, member) before anyone
    // sees it, so its iteration order never reaches a reply or the state.
    let largest = order.last().map_or(0, |(s, _)| s.len());
    let mut acc: HashMap<Bytes, f64> = HashMap::with_capacity(largest);
    for (src, w) in order {
        src.each(|m, s| {
            let score = weighted(*w, s);
            match acc.get_mut(m.as_ref()) {
                Some(t) => *t = req.aggregate.apply(*t, score),
                None => {
                    acc.insert(m.clone(), score);
                }
            }
        });
    }
    acc.into_iter().collect()
}

fn diff(req: &Request<'_>) -> Vec<(Bytes, f64)> {
    let (first, rest) = (&req.sources[0].0, &req.sources[1..]);
    let mut out = Vec::new();
    first.each(|m, s| {
        if rest.iter().all(|(src, _)| src.score(m).is_none()) {
            out.push((m.clone(), s));
        }
    });
    out
}

/// The result in Redis's order: by score (where -0 equals 0), then member.
fn compute(req: &Request<'_>, op: Op) -> Vec<(Bytes, f64)> {
    let mut items = match op {
        Op::Union => union(req),
        Op::Inter => inter(req, false).0,
        Op::Diff => diff(req),
    };
    items.sort_by(|(ma, a), (mb, b)| {
        a.partial_cmp(b)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| ma.cmp(mb))
    });
    items
}

fn command(ks: &Keyspace, a: &[Bytes], c: &Context, op: Op) -> Value {
    match parse(ks, a, c, 1, op, false, false) {
        Ok(req) => members_reply(&compute(&req, op), req.withscores),
        Err(e) => e,
    }
}

fn store_command(ks: &mut Keyspace, a: &[Bytes], c: &Context, op: Op) -> Value {
    let items = match parse(ks, a, c, 2, op, true, false) {
        Ok(req) => compute(&req, op),
        Err(e) => return e,
    };
    let event = match op {
        Op::Union => "zunionstore",
        Op::Inter => "zinterstore",
        Op::Diff => "zdiffstore",
    };
    store(ks, &a[1], items, c, event)
}

pub fn zunion(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    command(ks, a, c, Op::Union)
}
pub fn zinter(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    command(ks, a, c, Op::Inter)
}
pub fn zdiff(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    command(ks, a, c, Op::Diff)
}
pub fn zunionstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    store_command(ks, a, c, Op::Union)
}
pub fn zinterstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    store_command(ks, a, c, Op::Inter)
}
pub fn zdiffstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    store_command(ks, a, c, Op::Diff)
}

pub fn zintercard(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match parse(ks, a, c, 1, Op::Inter, false, true) {
        Ok(req) => Value::Integer(inter(&req, true).1 as i64),
        Err(e) => e,
    }
}
