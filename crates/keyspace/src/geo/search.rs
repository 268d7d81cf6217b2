//! GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH and GEOSEARCHSTORE: one
//! function, as Redis's `georadiusGeneric`, with its argument order and error order.
//!
//! Results come in Redis's order: without ASC/DESC, cell by cell (the centre cell, then
//! N, S, E, W, NE, NW, SE, SW) and by score within a cell; with a sort, through the same
//! sort algorithm Redis's build uses, so equal distances tie the same way.

use bytes::Bytes;
use resp::Value;

use super::hash::{self, Kind, Shape};
use super::sort::{by_distance, glibc_qsort, pqsort};
use super::{coord_reply, distance_text, lon_lat_arg, unit_arg, with_c_str};
use crate::util::*;
use crate::zsets::{parse_score, ScoreRange, ZSet};
use crate::{notify_class, Context, Data, Keyspace};

/// Which command, as Redis's flags.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Form {
    /// GEORADIUS key lon lat radius unit ...
    Coords,
    /// GEORADIUSBYMEMBER key member radius unit ...
    Member,
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dest src ...
    SearchStore,
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
#[derive(Clone)]
struct Point {
    member: Bytes,
    score: f64,
    xy: [f64; 2],
    dist: f64,
}

/// What a search found and what the client asked to get back.
pub(super) struct Found {
    points: Vec<Point>,
    conversion: f64,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    /// `STORE key` / `STOREDIST key` (GEORADIUS) or GEOSEARCHSTORE's destination.
    store: Option<Bytes>,
    storedist: bool,
}

/// `extractDistanceOrReply`: a radius and a unit; returns (radius, meters per unit).
fn radius_arg(a: &[Bytes]) -> Result<(f64, f64), Value> {
    let r = parse_score(&a[0]).ok_or_else(|| err("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(err("ERR radius cannot be negative"));
    }
    Ok((r, unit_arg(&a[1])?))
}

/// `extractBoxOrReply`: width, height and a unit.
fn box_arg(a: &[Bytes]) -> Result<(f64, f64, f64), Value> {
    let w = parse_score(&a[0]).ok_or_else(|| err("ERR need numeric width"))?;
    let h = parse_score(&a[1]).ok_or_else(|| err("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(err("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit_arg(&a[2])?))
}

/// The position of a member, or Redis's error when there is none.
fn member_xy(z: &ZSet, member: &[u8]) -> Result<[f64; 2], Value> {
    z.score(member)
        .map(hash::decode_score)
        .ok_or_else(|| err("ERR could not decode requested zset member"))
}

/// The search's arguments as read by `georadiusGeneric`.
struct Args {
    shape: Shape,
    sort: Sort,
    any: bool,
    count: u64,
    found: Found,
}

/// Reads the arguments in Redis's order; `z` is the source set, if it exists. Returns the
/// parsed search, or the first error Redis would reply.
#[allow(clippy::too_many_lines)]
fn parse(a: &[Bytes], z: Option<&ZSet>, form: Form, nostore: bool) -> Result<Args, Value> {
    let mut shape = Shape {
        kind: Kind::Circle { radius: 0.0 },
        xy: [0.0, 0.0],
        conversion: 0.0,
    };
    let mut store = None;
    let base = match form {
        Form::Coords => {
            shape.xy = lon_lat_arg(&a[2], &a[3])?;
            let (radius, conversion) = radius_arg(&a[4..6])?;
            shape.kind = Kind::Circle { radius };
            shape.conversion = conversion;
            6
        }
        Form::Member => {
            // Without a source key the arguments are still read, for the reply's kind.
            if let Some(z) = z {
                shape.xy = member_xy(z, &a[2])?;
                let (radius, conversion) = radius_arg(&a[3..5])?;
                shape.kind = Kind::Circle { radius };
                shape.conversion = conversion;
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            store = Some(a[1].clone());
            3
        }
    };
    let search = matches!(form, Form::Search | Form::SearchStore);
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let remaining = a.len() - base;
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        let arg = with_c_str(&a[at]);
        let left = remaining - i - 1;
        match arg.as_slice() {
            b"withdist" => withdist = true,
            b"withhash" => withhash = true,
            b"withcoord" => withcoord = true,
            b"any" => any = true,
            b"asc" => sort = Sort::Asc,
            b"desc" => sort = Sort::Desc,
            b"count" if left >= 1 => {
                count = int_arg(&a[at + 1])?;
                if count <= 0 {
                    return Err(err("ERR COUNT must be > 0"));
                }
                i += 1;
            }
            b"store" | b"storedist" if left >= 1 && !nostore && !search => {
                store = Some(a[at + 1].clone());
                storedist = arg == b"storedist";
                i += 1;
            }
            b"storedist" if form == Form::SearchStore => storedist = true,
            b"frommember" if left >= 1 && search && !fromloc => {
                if let Some(z) = z {
                    shape.xy = member_xy(z, &a[at + 1])?;
                }
                frommember = true;
                i += 1;
            }
            b"fromlonlat" if left >= 2 && search && !frommember => {
                shape.xy = lon_lat_arg(&a[at + 1], &a[at + 2])?;
                fromloc = true;
                i += 2;
            }
            b"byradius" if left >= 2 && search && !bybox => {
                let (radius, conversion) = radius_arg(&a[at + 1..at + 3])?;
                shape.kind = Kind::Circle { radius };
                shape.conversion = conversion;
                byradius = true;
                i += 2;
            }
            b"bybox" if left >= 3 && search && !byradius => {
                let (width, height, conversion) = box_arg(&a[at + 1..at + 4])?;
                shape.kind = Kind::Rect { width, height };
                shape.conversion = conversion;
                bybox = true;
                i += 3;
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Value::Error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // The command's name as the client typed it.
    let name = String::from_utf8_lossy(&a[0]);
    if search && !(frommember || fromloc) {
        return Err(Value::Error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(byradius || bybox) {
        return Err(Value::Error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(err("ERR the ANY argument requires COUNT argument"));
    }
    Ok(Args {
        shape,
        sort,
        any,
        count: count as u64,
        found: Found {
            points: Vec::new(),
            conversion: shape.conversion,
            withdist,
            withhash,
            withcoord,
            store,
            storedist,
        },
    })
}

/// `membersOfAllNeighbors`: the points of each search cell that are inside the shape, in
/// cell order; stops once `limit` points were found (ANY), 0 meaning no limit.
fn collect(z: &ZSet, shape: &Shape, limit: u64) -> Vec<Point> {
    let cells = hash::search_cells(shape);
    let mut out: Vec<Point> = Vec::new();
    let full = |out: &Vec<Point>| limit > 0 && out.len() as u64 >= limit;
    let mut last_processed = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.bits == 0 && cell.step == 0 {
            continue;
        }
        // With a huge radius neighbours can be the same cell: skip a repeat of the last
        // one scanned (Redis's test, including its blind spot when that was cell 0).
        if last_processed != 0 && cell == cells[last_processed] {
            continue;
        }
        if full(&out) {
            break;
        }
        let (min, max) = hash::cell_scores(cell);
        let range = ScoreRange {
            min,
            min_ex: false,
            max,
            max_ex: true,
        };
        for (member, score) in z.range(z.score_ranks(&range), false) {
            let xy = hash::decode_score(score);
            if let Some(dist) = hash::within(shape, xy) {
                out.push(Point {
                    member: member.clone(),
                    score,
                    xy,
                    dist,
                });
            }
            if full(&out) {
                break;
            }
        }
        last_processed = i;
    }
    out
}

/// Runs the search: the points to reply or store, sorted and cut as Redis does.
pub(super) fn run(
    ks: &Keyspace,
    a: &[Bytes],
    c: &Context,
    form: Form,
    nostore: bool,
) -> Result<Found, Value> {
    let src = if form == Form::SearchStore { 2 } else { 1 };
    let z = ks.get_zset(&a[src], c.now_ms)?;
    let Args {
        shape,
        mut sort,
        any,
        count,
        mut found,
    } = parse(a, z, form, nostore)?;
    let Some(z) = z else {
        return Ok(found);
    };
    // COUNT without an order means the nearest ones (but ANY means any ones).
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let mut points = collect(z, &shape, if any { count } else { 0 });
    let returned = if count == 0 || (points.len() as u64) < count {
        points.len()
    } else {
        count as usize
    };
    if sort != Sort::None {
        let asc = |x: &Point, y: &Point| by_distance(x.dist, y.dist);
        let desc = |x: &Point, y: &Point| -by_distance(x.dist, y.dist);
        let cmp: &dyn Fn(&Point, &Point) -> i32 = if sort == Sort::Asc { &asc } else { &desc };
        if returned == points.len() {
            glibc_qsort(&mut points, cmp);
        } else {
            pqsort(&mut points, cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= found.conversion;
    }
    found.points = points;
    Ok(found)
}

/// The reply to a search without a destination.
pub(super) fn reply(found: Found) -> Value {
    let options = found.withdist || found.withhash || found.withcoord;
    Value::Array(
        found
            .points
            .into_iter()
            .map(|p| {
                if !options {
                    return Value::Bulk(p.member);
                }
                let mut item = vec![Value::Bulk(p.member)];
                if found.withdist {
                    item.push(bulk_str(&distance_text(p.dist)));
                }
                if found.withhash {
                    item.push(Value::Integer(p.score as i64));
                }
                if found.withcoord {
                    item.push(coord_reply(p.xy));
                }
                Value::Array(item)
            })
            .collect(),
    )
}

/// Replaces the destination with the results (scores, or distances with STOREDIST);
/// an empty result deletes it. Replies the number stored.
pub(super) fn store(
    ks: &mut Keyspace,
    dst: &Bytes,
    found: Found,
    c: &Context,
    event: &'static str,
) -> Value {
    ks.expire_if_due(dst, c.now_ms);
    if found.points.is_empty() {
        if ks.remove(dst).is_some() {
            ks.notify(notify_class::GENERIC, "del", dst);
        }
        return Value::Integer(0);
    }
    let mut z = ZSet::new();
    for p in found.points {
        z.insert(p.member, if found.storedist { p.dist } else { p.score });
    }
    let n = z.len();
    ks.put(dst, Data::ZSet(Box::new(z)), None);
    ks.notify(notify_class::ZSET, event, dst);
    Value::Integer(n as i64)
}

/// A search that may store (GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCHSTORE).
pub(super) fn write(ks: &mut Keyspace, a: &[Bytes], c: &Context, form: Form) -> Value {
    match run(ks, a, c, form, false) {
        Ok(mut found) => match found.store.take() {
            Some(dst) => {
                let event = if form == Form::SearchStore {
                    "geosearchstore"
                } else {
                    "georadiusstore"
                };
                store(ks, &dst, found, c, event)
            }
            None => reply(found),
        },
        Err(e) => e,
    }
}

/// A search that only replies (the _RO forms and GEOSEARCH).
pub(super) fn read(ks: &Keyspace, a: &[Bytes], c: &Context, form: Form) -> Value {
    match run(ks, a, c, form, true) {
        Ok(found) => reply(found),
        Err(e) => e,
    }
}
