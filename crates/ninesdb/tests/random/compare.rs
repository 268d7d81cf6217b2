//! Whether two replies to the same command agree, under the command's comparison mode, and how
//! a reply is shown in a report.

use super::Mode;
use crate::common::Reply;

/// The reply with what the mode leaves unspecified taken out (order, random content).
pub fn normalise(reply: &Reply, mode: Mode) -> Reply {
    match (mode, reply) {
        (Mode::Sorted, Reply::Array(items)) => Reply::Array(sorted(items.clone())),
        (Mode::Pairs, Reply::Array(items)) => Reply::Array(sorted_chunks(items, 2)),
        (Mode::Chunks(n), Reply::Array(items)) => Reply::Array(sorted_chunks(items, n.max(1))),
        (Mode::Scan | Mode::ScanPairs, Reply::Array(items)) if items.len() == 2 => {
            let list = match &items[1] {
                Reply::Array(list) if mode == Mode::Scan => Reply::Array(sorted(list.clone())),
                Reply::Array(list) => Reply::Array(sorted_chunks(list, 2)),
                other => other.clone(),
            };
            Reply::Array(vec![items[0].clone(), list])
        }
        (Mode::Shape, reply) => shape(reply),
        (Mode::Length, Reply::Array(items)) => Reply::Integer(items.len() as i64),
        (_, reply) => reply.clone(),
    }
}

fn sorted(mut items: Vec<Reply>) -> Vec<Reply> {
    items.sort_by_key(|item| format!("{item:?}"));
    items
}

/// `[f1, v1, f2, v2]` sorted by group of `n` (pairs for n = 2; a short last group sorts too).
fn sorted_chunks(items: &[Reply], n: usize) -> Vec<Reply> {
    let mut pairs: Vec<&[Reply]> = items.chunks(n).collect();
    pairs.sort_by_key(|pair| format!("{pair:?}"));
    pairs.into_iter().flatten().cloned().collect()
}

/// Kinds and array lengths only: bulks become nil, integers 0; errors and simple strings stay.
fn shape(reply: &Reply) -> Reply {
    match reply {
        Reply::Bulk(Some(_)) => Reply::Bulk(Some(Vec::new())),
        Reply::Integer(_) => Reply::Integer(0),
        Reply::Array(items) => Reply::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// Whether ninesdb's reply (`actual`) agrees with Redis's (`expected`).
pub fn agree(expected: &Reply, actual: &Reply, mode: Mode) -> bool {
    match (mode, expected, actual) {
        (Mode::Near(tolerance), Reply::Integer(e), Reply::Integer(a)) if *e >= 0 && *a >= 0 => {
            e.abs_diff(*a) <= tolerance.unsigned_abs()
        }
        _ => normalise(expected, mode) == normalise(actual, mode),
    }
}

/// A reply as redis-cli would sketch it, on one line: `+OK`, `-ERR ...`, `:1`, `"x"`, `(nil)`,
/// `[...]`.
pub fn show(reply: &Reply) -> String {
    match reply {
        Reply::Simple(s) => format!("+{s}"),
        Reply::Error(e) => format!("-{e}"),
        Reply::Integer(n) => format!(":{n}"),
        Reply::Bulk(None) => "(nil)".to_owned(),
        Reply::NilArray => "(nil-array)".to_owned(),
        Reply::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
    }
}
