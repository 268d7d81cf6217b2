//! A stream's snapshot payload (type tag 5 in [`crate::snapshot`]): the counters, the node
//! model, the entries, and the consumer groups with their PELs. Consumers' own PELs are not
//! stored: they are the group PEL's entries by consumer. Decoding checks what the commands
//! rely on (order, every entry inside a node whose counts match, every pending entry's
//! consumer present), so a decoded stream never makes a command panic.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::group::{Group, Nack};
use super::id::StreamId;
use super::stream::{Node, Stream};
use crate::snapshot::{Reader, Sink};

fn put_id(out: &mut impl Sink, id: StreamId) {
    out.varint(id.ms);
    out.varint(id.seq);
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, String> {
    Ok(StreamId::new(r.varint()?, r.varint()?))
}

pub(crate) fn encode(s: &Stream, out: &mut impl Sink) {
    put_id(out, s.last_id);
    put_id(out, s.first_id);
    put_id(out, s.max_deleted);
    out.varint(s.entries_added);
    out.varint(s.nodes.len() as u64);
    for (master, node) in &s.nodes {
        put_id(out, *master);
        out.varint(node.master_fields.len() as u64);
        for f in &node.master_fields {
            out.bytes(f);
        }
        out.varint(node.live);
        out.varint(node.deleted);
        out.varint(node.bytes);
        put_id(out, node.last);
    }
    out.varint(s.entries.len() as u64);
    for (id, pairs) in &s.entries {
        put_id(out, *id);
        out.varint(pairs.len() as u64);
        for b in pairs {
            out.bytes(b);
        }
    }
    out.varint(s.groups.len() as u64);
    for (name, g) in &s.groups {
        out.bytes(name);
        put_id(out, g.last_id);
        out.varint(g.entries_read.map_or(0, |n| n.saturating_add(1)));
        out.varint(g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            out.bytes(cname);
            out.varint(c.seen_time);
        }
        out.varint(g.pel.len() as u64);
        for (id, nack) in &g.pel {
            put_id(out, *id);
            out.varint(nack.delivery_time);
            out.varint(nack.delivery_count);
            out.bytes(&nack.consumer);
        }
    }
}

fn decode_nodes(r: &mut Reader<'_>) -> Result<BTreeMap<StreamId, Node>, String> {
    let mut nodes = BTreeMap::new();
    for _ in 0..r.count(6)? {
        let master = read_id(r)?;
        let mut master_fields = Vec::new();
        for _ in 0..r.count(1)? {
            master_fields.push(r.bytes()?);
        }
        let node = Node {
            master_fields,
            live: r.varint()?,
            deleted: r.varint()?,
            bytes: r.varint()?,
            last: read_id(r)?,
        };
        // A node may keep no live entry: trimming inside it flags entries, never frees it.
        if node.last < master {
            return Err("stream node ends before it starts".into());
        }
        if nodes
            .last_key_value()
            .is_some_and(|(m, n): (&StreamId, &Node)| *m >= master || n.last >= master)
        {
            return Err("stream nodes out of order".into());
        }
        nodes.insert(master, node);
    }
    Ok(nodes)
}

fn decode_entries(r: &mut Reader<'_>, s: &mut Stream) -> Result<(), String> {
    let mut per_node: BTreeMap<StreamId, u64> = BTreeMap::new();
    for _ in 0..r.count(3)? {
        let id = read_id(r)?;
        let n = r.count(1)?;
        if n == 0 || n % 2 != 0 {
            return Err("stream entry without field-value pairs".into());
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push(r.bytes()?);
        }
        if s.entries
            .last_key_value()
            .is_some_and(|(last, _)| *last >= id)
            || id > s.last_id
        {
            return Err("stream entries out of order".into());
        }
        let Some((master, node)) = s.nodes.range(..=id).next_back() else {
            return Err("stream entry outside every node".into());
        };
        if id > node.last {
            return Err("stream entry outside every node".into());
        }
        *per_node.entry(*master).or_default() += 1;
        s.entries.insert(id, pairs);
    }
    if s.nodes
        .iter()
        .any(|(m, node)| per_node.get(m).copied().unwrap_or(0) != node.live)
    {
        return Err("stream node counts disagree with its entries".into());
    }
    Ok(())
}

fn decode_group(r: &mut Reader<'_>) -> Result<Group, String> {
    let last_id = read_id(r)?;
    let entries_read = r.varint()?.checked_sub(1);
    let mut g = Group::new(last_id, entries_read);
    for _ in 0..r.count(2)? {
        let name = r.bytes()?;
        let seen = r.varint()?;
        if g.consumers
            .last_key_value()
            .is_some_and(|(l, _)| *l >= name)
        {
            return Err("stream consumers out of order".into());
        }
        g.create_consumer(&name, seen);
    }
    for _ in 0..r.count(5)? {
        let id = read_id(r)?;
        let delivery_time = r.varint()?;
        let delivery_count = r.varint()?;
        let consumer: Bytes = r.bytes()?;
        if g.pel.last_key_value().is_some_and(|(l, _)| *l >= id) {
            return Err("stream pending entries out of order".into());
        }
        if !g.consumers.contains_key(&consumer) {
            return Err("stream pending entry of an unknown consumer".into());
        }
        g.assign(id, &consumer, delivery_time, delivery_count);
        debug_assert!(g
            .pel
            .get(&id)
            .is_some_and(|n: &Nack| n.consumer == consumer));
    }
    Ok(g)
}

pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Stream, String> {
    let mut s = Stream {
        last_id: read_id(r)?,
        first_id: read_id(r)?,
        max_deleted: read_id(r)?,
        entries_added: r.varint()?,
        ..Stream::default()
    };
    s.nodes = decode_nodes(r)?;
    decode_entries(r, &mut s)?;
    for _ in 0..r.count(4)? {
        let name = r.bytes()?;
        if s.groups.last_key_value().is_some_and(|(l, _)| *l >= name) {
            return Err("stream groups out of order".into());
        }
        let g = decode_group(r)?;
        s.groups.insert(name, g);
    }
    Ok(s)
}
