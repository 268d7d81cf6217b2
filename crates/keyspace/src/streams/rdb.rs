//! A stream in Redis's RDB form (DUMP, RESTORE, RDB files): `RDB_TYPE_STREAM_LISTPACKS_2`
//! (19) as Redis 7.0 writes it; 15 (Redis 5 and 6) and 21 (Redis 7.2, consumers with an
//! active time) are read too.
//!
//! The layout: the nodes (each its master id as 16 big-endian bytes, then its listpack),
//! the length, the last id, the first id, the greatest deleted id, entries added (not in
//! 15), then the groups: name, last delivered id, the read counter (not in 15; -1 when
//! unknown), the PEL (raw id, delivery time as 8 little-endian bytes, delivery count), and
//! the consumers (name, seen time, [active time in 21], their PEL as raw ids).
//!
//! A node's listpack holds its master entry (live count, deleted count, the master fields,
//! a 0) then each entry: flags (1 deleted, 2 same fields as the master), the id as deltas
//! from the master id, the fields unless they are the master's, the values, and the entry's
//! element count. ninesdb keeps no deleted entry's content, so DUMP writes live entries
//! only, plus one deleted entry at a node's last id when that entry is gone: the node keeps
//! its last id and live count, and its byte size shrinks to what it holds.
//!
//! Reading checks what ninesdb's commands rely on (the same as the snapshot codec's
//! checks): nodes and entries in order, counts that agree, every pending entry owned by a
//! consumer of its group. Anything else is "Bad data format", never a panic.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::group::Group;
use super::id::StreamId;
use super::listpack::{self, Element};
use super::stream::{Node, Stream};
use crate::dump::{listpack as read_listpack, save_len, save_string, Bad, Load, Rdb};
use crate::util::parse_i64;

/// RDB types of a stream.
pub(crate) const TYPE_STREAM_LISTPACKS: u8 = 15;
pub(crate) const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub(crate) const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Entry flags in a node.
const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn save_id(out: &mut Vec<u8>, id: StreamId) {
    save_len(out, id.ms);
    save_len(out, id.seq);
}

/// The value part (after the type byte) of a stream's RDB form, type 19.
pub(crate) fn save(s: &Stream, out: &mut Vec<u8>) {
    save_len(out, s.nodes.len() as u64);
    for (master, node) in &s.nodes {
        save_string(out, &raw_id(*master));
        save_string(out, &node_listpack(s, *master, node));
    }
    save_len(out, s.len() as u64);
    save_id(out, s.last_id);
    save_id(out, s.first_id);
    save_id(out, s.max_deleted);
    save_len(out, s.entries_added);
    save_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        save_string(out, name);
        save_id(out, g.last_id);
        save_len(out, g.entries_read.unwrap_or(u64::MAX));
        save_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            save_len(out, nack.delivery_count);
        }
        save_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            save_string(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            save_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
}

/// One node's listpack: its live entries, and a deleted placeholder at its last id when
/// that entry is gone (so the node still ends where it did).
fn node_listpack(s: &Stream, master: StreamId, node: &Node) -> Vec<u8> {
    let next = s.nodes.range(master..).nth(1).map(|(m, _)| *m);
    let live: Vec<(&StreamId, &Vec<Bytes>)> = match next {
        Some(next) => s.entries.range(master..next).collect(),
        None => s.entries.range(master..).collect(),
    };
    let placeholder = live.last().is_none_or(|(id, _)| **id != node.last);
    let empty = Bytes::new();
    let mut e: Vec<Element<'_>> = Vec::new();
    e.push(Element::Int(live.len() as i64));
    e.push(Element::Int(i64::from(placeholder)));
    e.push(Element::Int(node.master_fields.len() as i64));
    e.extend(node.master_fields.iter().map(|f| Element::Str(f)));
    e.push(Element::Int(0));
    let deltas = |id: StreamId| {
        [
            Element::Int(id.ms.wrapping_sub(master.ms) as i64),
            Element::Int(id.seq.wrapping_sub(master.seq) as i64),
        ]
    };
    for (id, pairs) in &live {
        let fields = pairs.len() / 2;
        let same = fields == node.master_fields.len()
            && pairs
                .iter()
                .step_by(2)
                .zip(&node.master_fields)
                .all(|(a, b)| a == b);
        if same {
            e.push(Element::Int(FLAG_SAME_FIELDS));
            e.extend(deltas(**id));
            e.extend(pairs.iter().skip(1).step_by(2).map(|v| Element::Str(v)));
            e.push(Element::Int(fields as i64 + 3));
        } else {
            e.push(Element::Int(0));
            e.extend(deltas(**id));
            e.push(Element::Int(fields as i64));
            e.extend(pairs.iter().map(|b| Element::Str(b)));
            e.push(Element::Int(2 * fields as i64 + 4));
        }
    }
    if placeholder {
        // The master's fields with empty values, flagged deleted: never read as an entry.
        e.push(Element::Int(FLAG_DELETED | FLAG_SAME_FIELDS));
        e.extend(deltas(node.last));
        e.extend(node.master_fields.iter().map(|_| Element::Str(&empty)));
        e.push(Element::Int(node.master_fields.len() as i64 + 3));
    }
    listpack::encode(&e)
}

fn int(b: &Bytes) -> Load<i64> {
    parse_i64(b).ok_or(Bad)
}

fn count_of(b: &Bytes) -> Load<u64> {
    u64::try_from(int(b)?).map_err(|_| Bad)
}

fn read_raw_id(r: &mut Rdb<'_>) -> Load<StreamId> {
    let b = r.take(16)?;
    let ms = u64::from_be_bytes(b[..8].try_into().map_err(|_| Bad)?);
    let seq = u64::from_be_bytes(b[8..].try_into().map_err(|_| Bad)?);
    Ok(StreamId::new(ms, seq))
}

fn read_id(r: &mut Rdb<'_>) -> Load<StreamId> {
    Ok(StreamId::new(r.len()?, r.len()?))
}

fn read_ms_time(r: &mut Rdb<'_>) -> Load<u64> {
    Ok(u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| Bad)?))
}

/// The next element of a node's listpack.
fn next<'a>(it: &mut std::slice::Iter<'a, Bytes>) -> Load<&'a Bytes> {
    it.next().ok_or(Bad)
}

/// One entry's field-value pairs after its id, and its element count checked.
fn entry_pairs(
    it: &mut std::slice::Iter<'_, Bytes>,
    flags: i64,
    master_fields: &[Bytes],
    limit: usize,
) -> Load<Vec<Bytes>> {
    let mut pairs = Vec::new();
    let elements = if flags & FLAG_SAME_FIELDS != 0 {
        for f in master_fields {
            pairs.push(f.clone());
            pairs.push(next(it)?.clone());
        }
        master_fields.len() as u64 + 3
    } else {
        let n = count_of(next(it)?)?;
        if n > limit as u64 {
            return Err(Bad);
        }
        for _ in 0..2 * n {
            pairs.push(next(it)?.clone());
        }
        2 * n + 4
    };
    if count_of(next(it)?)? != elements {
        return Err(Bad);
    }
    Ok(pairs)
}

/// One node: its model and its live entries, which go into `entries` (ids checked above
/// every entry already there).
fn load_node(
    master: StreamId,
    blob: &[u8],
    entries: &mut BTreeMap<StreamId, Vec<Bytes>>,
) -> Load<Node> {
    let items = read_listpack(blob)?;
    let it = &mut items.iter();
    let live = count_of(next(it)?)?;
    let deleted = count_of(next(it)?)?;
    let field_count = count_of(next(it)?)?;
    if field_count > items.len() as u64 {
        return Err(Bad);
    }
    let mut master_fields = Vec::with_capacity(field_count as usize);
    for _ in 0..field_count {
        master_fields.push(next(it)?.clone());
    }
    if int(next(it)?)? != 0 {
        return Err(Bad);
    }
    let (mut seen_live, mut seen_deleted) = (0u64, 0u64);
    let mut last: Option<StreamId> = None;
    while let Ok(flags) = next(it) {
        let flags = int(flags)?;
        let id = StreamId::new(
            master.ms.wrapping_add(int(next(it)?)? as u64),
            master.seq.wrapping_add(int(next(it)?)? as u64),
        );
        if id < master || last.is_some_and(|l| l >= id) {
            return Err(Bad);
        }
        let pairs = entry_pairs(it, flags, &master_fields, items.len())?;
        last = Some(id);
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
            continue;
        }
        if pairs.is_empty() || entries.last_key_value().is_some_and(|(l, _)| *l >= id) {
            return Err(Bad);
        }
        seen_live += 1;
        entries.insert(id, pairs);
    }
    let Some(last) = last else {
        return Err(Bad); // a node without entries: Redis frees those
    };
    if seen_live != live || seen_deleted != deleted {
        return Err(Bad);
    }
    Ok(Node {
        master_fields,
        live,
        deleted,
        bytes: blob.len() as u64,
        last,
    })
}

fn load_nodes(r: &mut Rdb<'_>, s: &mut Stream) -> Load<()> {
    let nodes = r.count()?;
    for _ in 0..nodes {
        let key = r.string()?;
        let key: [u8; 16] = key.as_ref().try_into().map_err(|_| Bad)?;
        let master = StreamId::new(
            u64::from_be_bytes(key[..8].try_into().map_err(|_| Bad)?),
            u64::from_be_bytes(key[8..].try_into().map_err(|_| Bad)?),
        );
        if s.nodes
            .last_key_value()
            .is_some_and(|(m, n)| *m >= master || n.last >= master)
        {
            return Err(Bad);
        }
        let blob = r.string()?;
        let node = load_node(master, &blob, &mut s.entries)?;
        s.nodes.insert(master, node);
    }
    Ok(())
}

fn load_group(r: &mut Rdb<'_>, s: &Stream, kind: u8) -> Load<Group> {
    let last_id = read_id(r)?;
    let entries_read = if kind == TYPE_STREAM_LISTPACKS {
        s.estimate_entries_read(last_id)
    } else {
        Some(r.len()?).filter(|n| *n != u64::MAX)
    };
    let mut g = Group::new(last_id, entries_read);
    // The PEL first, owners unknown until the consumers name their entries.
    let mut pending: BTreeMap<StreamId, (u64, u64)> = BTreeMap::new();
    for _ in 0..r.count()? {
        let id = read_raw_id(r)?;
        let time = read_ms_time(r)?;
        let count = r.len()?;
        if pending.insert(id, (time, count)).is_some() {
            return Err(Bad);
        }
    }
    let mut owned = 0usize;
    for _ in 0..r.count()? {
        let name = r.string()?;
        let seen = read_ms_time(r)?;
        if kind == TYPE_STREAM_LISTPACKS_3 {
            read_ms_time(r)?; // active time: ninesdb keeps the seen time only
        }
        if !g.create_consumer(&name, seen) {
            return Err(Bad);
        }
        for _ in 0..r.count()? {
            let id = read_raw_id(r)?;
            let Some(&(time, count)) = pending.get(&id) else {
                return Err(Bad);
            };
            if g.pel.contains_key(&id) {
                return Err(Bad); // owned twice
            }
            g.assign(id, &name, time, count);
            owned += 1;
        }
    }
    if owned != pending.len() {
        return Err(Bad); // a pending entry without a consumer
    }
    Ok(g)
}

/// A stream from its RDB form (the type byte already read as `kind`).
pub(crate) fn load(r: &mut Rdb<'_>, kind: u8) -> Load<Stream> {
    let mut s = Stream::default();
    load_nodes(r, &mut s)?;
    if r.len()? != s.entries.len() as u64 {
        return Err(Bad);
    }
    s.last_id = read_id(r)?;
    if s.nodes
        .last_key_value()
        .is_some_and(|(_, n)| n.last > s.last_id)
    {
        return Err(Bad);
    }
    if kind == TYPE_STREAM_LISTPACKS {
        s.first_id = s
            .entries
            .first_key_value()
            .map_or(StreamId::MIN, |(id, _)| *id);
        s.entries_added = s.entries.len() as u64;
    } else {
        s.first_id = read_id(r)?;
        s.max_deleted = read_id(r)?;
        s.entries_added = r.len()?;
    }
    for _ in 0..r.count()? {
        let name = r.string()?;
        let g = load_group(r, &s, kind)?;
        if s.groups.insert(name, g).is_some() {
            return Err(Bad);
        }
    }
    Ok(s)
}
