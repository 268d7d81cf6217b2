//! Byte formats: WAL records, segment headers and snapshot files. Encoding is ours (no serde)
//! so that the format is fixed, versioned by its magic, and decoding is bounded: it never
//! panics and never allocates more than the input could hold.

use std::collections::BTreeSet;

use bytes::Bytes;
use raft::{
    Entry, HardState, Membership, MembershipChange, NodeId, Payload, Snapshot, SnapshotMeta,
};

use crate::GroupId;

/// A record payload above this is corruption, not a record: it bounds what one length field
/// can make recovery read or allocate.
pub const RECORD_SIZE_MAX: u64 = 64 << 20;
/// Bytes before a record's payload: length, type, group, crc.
pub const RECORD_HEADER_LEN: usize = 4 + 1 + 8 + 4;
/// Bytes an `Entries` payload spends before its first entry: the entry count (u32).
pub const ENTRIES_HEADER_LEN: u64 = 4;
/// Bytes every entry spends besides its payload's content: term, index and payload tag.
pub const ENTRY_HEADER_LEN: u64 = 8 + 8 + 1;
/// Bytes a command payload spends before its data: the data's length (u32).
pub const COMMAND_HEADER_LEN: u64 = 4;
/// The largest command one entry may carry: alone in an `Entries` record, it fills the record
/// to `RECORD_SIZE_MAX` exactly. The writer refuses a larger one (it could never be read
/// back), so whoever proposes entries bounds requests by this.
pub const ENTRY_SIZE_MAX: u64 =
    RECORD_SIZE_MAX - ENTRIES_HEADER_LEN - ENTRY_HEADER_LEN - COMMAND_HEADER_LEN;

// A record's payload length and a command's length are u32 fields on disk.
const _: () = assert!(RECORD_SIZE_MAX <= u32::MAX as u64);
const _: () = assert!(ENTRY_SIZE_MAX <= u32::MAX as u64);
// The largest entry, framed as a record of its own, is a record recovery accepts.
const _: () = assert!(
    ENTRIES_HEADER_LEN + ENTRY_HEADER_LEN + COMMAND_HEADER_LEN + ENTRY_SIZE_MAX <= RECORD_SIZE_MAX
);
/// Magic at the start of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"NDBWAL01";
/// Segment header: magic, sequence, crc of both.
pub const SEGMENT_HEADER_LEN: usize = 8 + 8 + 4;
/// Magic at the start of every snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"NDBSNAP1";

/// Record type: a group's entries.
pub const TYPE_ENTRIES: u8 = 1;
/// Record type: a group's hard state.
pub const TYPE_HARD_STATE: u8 = 2;
/// Record type: the group was removed; forget everything before this record.
pub const TYPE_REMOVE: u8 = 3;
/// Record type: a snapshot from the leader is being installed (payload: its index, u64 LE).
/// Recovery clears the group's older entries here if, and only if, that snapshot file exists.
pub const TYPE_INSTALL: u8 = 4;

/// A decoding failure: what was wrong, for findings.
pub type DecodeError = String;

/// A cursor over untrusted bytes: every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(format!(
                "needs {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends one framed record whose payload `payload` writes; returns the record's length.
///
/// # Panics
/// If the payload is above `RECORD_SIZE_MAX`: recovery would call such a record damage, so
/// the callers bound what they frame (the WAL splits entries, refuses an entry too large).
pub fn put_record(
    out: &mut Vec<u8>,
    kind: u8,
    group: GroupId,
    payload: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    out.push(kind);
    put_u64(out, group);
    out.extend_from_slice(&[0u8; 4]);
    let payload_start = out.len();
    payload(out);
    let len = (out.len() - payload_start) as u64;
    assert!(
        len <= RECORD_SIZE_MAX,
        "record payload above the cap: len={len} max={RECORD_SIZE_MAX} group={group} kind={kind}"
    );
    let len = len as u32;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&out[start + 4..start + 13]),
        &out[payload_start..],
    );
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 13..start + 17].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// The CRC a record header should carry.
pub fn record_crc(kind: u8, group: GroupId, payload: &[u8]) -> u32 {
    let mut head = [0u8; 9];
    head[0] = kind;
    head[1..].copy_from_slice(&group.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// A segment's header.
pub fn segment_header(sequence: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    out[..8].copy_from_slice(SEGMENT_MAGIC);
    out[8..16].copy_from_slice(&sequence.to_le_bytes());
    let crc = crc32c::crc32c(&out[..16]);
    out[16..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The sequence in a segment header, if the header is intact.
pub fn parse_segment_header(buf: &[u8]) -> Option<u64> {
    let header = buf.get(..SEGMENT_HEADER_LEN)?;
    let crc = u32::from_le_bytes([header[16], header[17], header[18], header[19]]);
    if &header[..8] != SEGMENT_MAGIC || crc32c::crc32c(&header[..16]) != crc {
        return None;
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&header[8..16]);
    Some(u64::from_le_bytes(raw))
}

/// Encodes entries: count, then each entry's term, index and payload.
pub fn put_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    put_u32(out, entries.len() as u32);
    for entry in entries {
        put_u64(out, entry.term);
        put_u64(out, entry.index);
        match &entry.payload {
            Payload::Empty => out.push(0),
            Payload::Command(data) => {
                out.push(1);
                put_u32(out, data.len() as u32);
                out.extend_from_slice(data);
            }
            Payload::Membership(MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            }) => {
                out.push(4);
                put_ids(out, voters);
                put_ids(out, learners);
                put_ids(out, outgoing);
            }
            Payload::Membership(MembershipChange::LeaveJoint) => out.push(3),
        }
    }
}

/// Bytes [`put_entries`] writes for `entry` (without the count before the first entry).
pub fn entry_encoded_len(entry: &Entry) -> u64 {
    let ids_len = |ids: &BTreeSet<NodeId>| 4 + 8 * ids.len() as u64;
    ENTRY_HEADER_LEN
        + match &entry.payload {
            Payload::Empty | Payload::Membership(MembershipChange::LeaveJoint) => 0,
            Payload::Command(data) => COMMAND_HEADER_LEN + data.len() as u64,
            Payload::Membership(MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            }) => ids_len(voters) + ids_len(learners) + ids_len(outgoing),
        }
}

/// Decodes what [`put_entries`] wrote; entries must be consecutive and non-empty.
pub fn get_entries(payload: &[u8]) -> Result<Vec<Entry>, DecodeError> {
    let mut reader = Reader::new(payload);
    let count = reader.u32()? as usize;
    // Each entry takes at least its header: a count beyond that is a lie, not an allocation.
    if count == 0 || count > reader.remaining() / ENTRY_HEADER_LEN as usize {
        return Err(format!("implausible entry count {count}"));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let term = reader.u64()?;
        let index = reader.u64()?;
        let payload = get_payload(&mut reader)?;
        if let Some(previous) = entries.last().map(|e: &Entry| e.index) {
            if previous.checked_add(1) != Some(index) {
                return Err(format!("entries not consecutive: {index} after {previous}"));
            }
        }
        entries.push(Entry {
            term,
            index,
            payload,
        });
    }
    finish(&reader)?;
    Ok(entries)
}

fn get_payload(reader: &mut Reader<'_>) -> Result<Payload, DecodeError> {
    match reader.u8()? {
        0 => Ok(Payload::Empty),
        1 => {
            let len = reader.u32()? as usize;
            Ok(Payload::Command(Bytes::copy_from_slice(reader.take(len)?)))
        }
        // Tag 2 was the first EnterJoint encoding, without the outgoing voters: refused (an
        // old log would replay wrongly), as an unknown tag.
        4 => {
            let voters = get_ids(reader)?;
            let learners = get_ids(reader)?;
            let outgoing = get_ids(reader)?;
            Ok(Payload::Membership(MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            }))
        }
        3 => Ok(Payload::Membership(MembershipChange::LeaveJoint)),
        tag => Err(format!("unknown payload tag {tag}")),
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &BTreeSet<NodeId>) {
    put_u32(out, ids.len() as u32);
    for &id in ids {
        put_u64(out, id);
    }
}

fn get_ids(reader: &mut Reader<'_>) -> Result<BTreeSet<NodeId>, DecodeError> {
    let count = reader.u32()? as usize;
    if count > reader.remaining() / 8 {
        return Err(format!("implausible id count {count}"));
    }
    (0..count).map(|_| reader.u64()).collect()
}

fn finish(reader: &Reader<'_>) -> Result<(), DecodeError> {
    match reader.remaining() {
        0 => Ok(()),
        extra => Err(format!("{extra} trailing bytes")),
    }
}

/// Encodes a hard state: term, vote (0 for none: node id 0 is never valid), commit.
pub fn put_hard_state(out: &mut Vec<u8>, hard_state: &HardState) {
    put_u64(out, hard_state.term);
    put_u64(out, hard_state.vote.unwrap_or(0));
    put_u64(out, hard_state.commit);
}

/// Decodes what [`put_hard_state`] wrote.
pub fn get_hard_state(payload: &[u8]) -> Result<HardState, DecodeError> {
    let mut reader = Reader::new(payload);
    let term = reader.u64()?;
    let vote = Some(reader.u64()?).filter(|&vote| vote != 0);
    let commit = reader.u64()?;
    finish(&reader)?;
    Ok(HardState { term, vote, commit })
}

/// A snapshot file: header (with its own crc) then the data.
pub fn encode_snapshot(group: GroupId, snapshot: &Snapshot) -> Vec<u8> {
    let meta = &snapshot.meta;
    let mut out = Vec::with_capacity(snapshot.data.len() + 128);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    put_u64(&mut out, group);
    put_u64(&mut out, meta.index);
    put_u64(&mut out, meta.term);
    put_ids(&mut out, &meta.membership.voters);
    put_ids(&mut out, &meta.membership.voters_outgoing);
    put_ids(&mut out, &meta.membership.learners);
    put_u64(&mut out, snapshot.data.len() as u64);
    put_u32(&mut out, crc32c::crc32c(&snapshot.data));
    let crc = crc32c::crc32c(&out);
    put_u32(&mut out, crc);
    out.extend_from_slice(&snapshot.data);
    out
}

/// Decodes and verifies a snapshot file: the header crc, the data size and the data crc.
pub fn decode_snapshot(buf: &[u8]) -> Result<(GroupId, Snapshot), DecodeError> {
    let mut reader = Reader::new(buf);
    if reader.take(8)? != SNAPSHOT_MAGIC {
        return Err("bad snapshot magic".into());
    }
    let group = reader.u64()?;
    let index = reader.u64()?;
    let term = reader.u64()?;
    let voters = get_ids(&mut reader)?;
    let voters_outgoing = get_ids(&mut reader)?;
    let learners = get_ids(&mut reader)?;
    let size = reader.u64()?;
    let checksum = reader.u32()?;
    let header_len = buf.len() - reader.remaining();
    if crc32c::crc32c(&buf[..header_len]) != reader.u32()? {
        return Err("snapshot header checksum mismatch".into());
    }
    if size != reader.remaining() as u64 {
        return Err(format!(
            "snapshot data is {} bytes, header says {size}",
            reader.remaining()
        ));
    }
    let data = Bytes::copy_from_slice(reader.take(reader.remaining())?);
    if crc32c::crc32c(&data) != checksum {
        return Err("snapshot data checksum mismatch".into());
    }
    let membership = Membership {
        voters,
        voters_outgoing,
        learners,
    };
    let meta = SnapshotMeta {
        index,
        term,
        membership,
        size,
        checksum,
    };
    Ok((group, Snapshot { meta, data }))
}

/// A snapshot file's name.
pub fn snapshot_name(group: GroupId, index: u64) -> String {
    format!("{group:016}-{index:016}.snap")
}

/// Group and index from a snapshot file's name.
pub fn parse_snapshot_name(name: &str) -> Option<(GroupId, u64)> {
    let stem = name.strip_suffix(".snap")?;
    let (group, index) = stem.split_once('-')?;
    if !all_digits(group) || !all_digits(index) {
        return None;
    }
    Some((group.parse().ok()?, index.parse().ok()?))
}

/// A segment file's name.
pub fn segment_name(sequence: u64) -> String {
    format!("{sequence:016}.log")
}

/// The sequence from a segment file's name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if !all_digits(stem) {
        return None;
    }
    stem.parse().ok()
}

/// Names are zero-padded decimal; `parse` alone would also take a sign.
fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
