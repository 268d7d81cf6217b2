//! Snapshot encoding: `NKSS`, format version, varint-framed entries in key order, CRC32C trailer.
//!
//! Layout: magic `NKSS` | format `2` | clock | last_delete | key count | entries | crc32c (LE u32
//! over everything before it). Entry: key | tag (type in bits 0-2, 0x80 = has expiry, 0x40 =
//! converted to the large encoding, 0x20 = a string INCRBYFLOAT wrote; both for OBJECT
//! ENCODING) |
//! [expiry] | version | written_ms | payload (string: bytes; hash: n, n*(field, value);
//! list/set: n, n*item; sorted set: n, n*(member, score as 8 little-endian bytes of the f64)
//! in (score, member) order; stream: see `streams::codec`). Types: 0 string, 1 hash, 2 list,
//! 3 set, 4 sorted set, 5 stream (bits 0-1
//! held the type before sorted sets existed, so older snapshots read the same). Format 1 (no
//! written_ms) still decodes, with written_ms 0 (unknown).
//! Integers are LEB128 varints, byte strings are a varint length then the bytes. Decoding checks
//! the checksum first, then the structure (canonical order, no empty aggregates, no trailing
//! bytes), and never allocates more than the input could describe.
//! After the keys, an optional section tagged `SECTION_TAG` (0x53, `S`) holds the script cache
//! and the function libraries (`script::snapshot`); snapshots without it still decode.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::zsets::ZSet;
use crate::{scan_hash, Data, Entry, Keyspace};

const MAGIC: &[u8; 4] = b"NKSS";
const FORMAT: u8 = 2;
/// The format before entries carried their last write time.
const FORMAT_NO_WRITE_TIME: u8 = 1;

pub(crate) trait Sink {
    fn put(&mut self, b: &[u8]);
    fn varint(&mut self, mut v: u64) {
        let mut buf = [0u8; 10];
        let mut n = 0;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                buf[n] = byte;
                n += 1;
                break;
            }
            buf[n] = byte | 0x80;
            n += 1;
        }
        self.put(&buf[..n]);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.put(b);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// FNV-1a over the canonical encoding, without materialising it.
struct Fnv(u64);
impl Sink for Fnv {
    fn put(&mut self, b: &[u8]) {
        for &c in b {
            self.0 ^= u64::from(c);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn write_body(ks: &Keyspace, out: &mut impl Sink) {
    out.put(MAGIC);
    out.put(&[FORMAT]);
    out.varint(ks.clock);
    out.varint(ks.last_delete);
    out.varint(ks.keys.len() as u64);
    for (k, e) in &ks.keys {
        out.bytes(k);
        let ty: u8 = match e.data {
            Data::Str(_) => 0,
            Data::Hash(_) => 1,
            Data::List(_) => 2,
            Data::Set(_) => 3,
            Data::ZSet(_) => 4,
            Data::Stream(_) => 5,
        };
        let expiry = if e.expire.is_some() { 0x80 } else { 0 };
        let converted = if e.converted { 0x40 } else { 0 };
        let float_text = if e.float_text { 0x20 } else { 0 };
        out.put(&[ty | expiry | converted | float_text]);
        if let Some(t) = e.expire {
            out.varint(t);
        }
        out.varint(e.version);
        out.varint(e.written_ms);
        match &e.data {
            Data::Str(s) => out.bytes(s),
            Data::Hash(h) => {
                out.varint(h.len() as u64);
                for (f, v) in h {
                    out.bytes(f);
                    out.bytes(v);
                }
            }
            Data::List(l) => {
                out.varint(l.len() as u64);
                for v in l {
                    out.bytes(v);
                }
            }
            Data::Set(s) => {
                out.varint(s.len() as u64);
                for v in s {
                    out.bytes(v);
                }
            }
            Data::ZSet(z) => {
                out.varint(z.len() as u64);
                for (m, score) in z.iter() {
                    out.bytes(m);
                    out.put(&score.to_bits().to_le_bytes());
                }
            }
            Data::Stream(st) => crate::streams::codec::encode(st, out),
        }
    }
    // Scripts and functions follow the keys, only when there are any: a keyspace without
    // them encodes (and digests) exactly as before they existed.
    if !ks.scripts.is_empty() {
        crate::script::snapshot::write(&ks.scripts, out);
    }
}

pub fn encode(ks: &Keyspace) -> Bytes {
    let mut out = Vec::new();
    write_body(ks, &mut out);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

pub fn digest(ks: &Keyspace) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    write_body(ks, &mut h);
    crate::util::mix(h.0)
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!("truncated at byte {}", self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err("varint overflow".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err("non-canonical varint".into());
                }
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// A count of items each at least `min_size` bytes: bounded by what is left.
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let n = self.varint()?;
        if n > (self.remaining() / min_size.max(1)) as u64 {
            return Err(format!("count {n} exceeds the remaining input"));
        }
        Ok(n as usize)
    }
    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        let b = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(le)))
    }
    pub(crate) fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(format!("length {n} exceeds the remaining input"));
        }
        Ok(Bytes::copy_from_slice(self.take(n as usize)?))
    }
}

#[allow(clippy::too_many_lines)]
pub fn decode(input: &[u8]) -> Result<Keyspace, String> {
    if input.len() < MAGIC.len() + 1 + 4 {
        return Err("snapshot too short".into());
    }
    let (body, trailer) = input.split_at(input.len() - 4);
    let want = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32c::crc32c(body) != want {
        return Err("snapshot checksum mismatch".into());
    }
    let mut r = Reader { buf: body, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err("not a keyspace snapshot (bad magic)".into());
    }
    let format = r.byte()?;
    if format != FORMAT && format != FORMAT_NO_WRITE_TIME {
        return Err(format!("unsupported snapshot format {format}"));
    }
    let mut ks = Keyspace {
        clock: r.varint()?,
        last_delete: r.varint()?,
        ..Keyspace::default()
    };
    if ks.last_delete > ks.clock {
        return Err("last deletion is after the clock".into());
    }
    let n = r.count(4)?;
    let mut prev: Option<Bytes> = None;
    for _ in 0..n {
        let key = r.bytes()?;
        if prev.as_ref().is_some_and(|p| *p >= key) {
            return Err("keys out of order".into());
        }
        let tag = r.byte()?;
        if tag & 0x18 != 0 || (tag & 0x20 != 0 && tag & 0x07 != 0) {
            return Err(format!("bad entry tag {tag:#x}"));
        }
        let expire = if tag & 0x80 != 0 {
            Some(r.varint()?)
        } else {
            None
        };
        let version = r.varint()?;
        if version > ks.clock {
            return Err("key version is after the clock".into());
        }
        let written_ms = if format == FORMAT { r.varint()? } else { 0 };
        let data = match tag & 0x07 {
            0 => Data::Str(r.bytes()?),
            1 => {
                let m = r.count(2)?;
                let mut h = BTreeMap::new();
                let mut last: Option<Bytes> = None;
                for _ in 0..m {
                    let f = r.bytes()?;
                    let v = r.bytes()?;
                    if last.as_ref().is_some_and(|l| *l >= f) {
                        return Err("hash fields out of order".into());
                    }
                    last = Some(f.clone());
                    h.insert(f, v);
                }
                Data::Hash(h)
            }
            2 => {
                let m = r.count(1)?;
                let mut l = VecDeque::with_capacity(m);
                for _ in 0..m {
                    l.push_back(r.bytes()?);
                }
                Data::List(l)
            }
            4 => decode_zset(&mut r)?,
            5 => Data::Stream(Box::new(crate::streams::codec::decode(&mut r)?)),
            3 => {
                let m = r.count(1)?;
                let mut s = BTreeSet::new();
                let mut last: Option<Bytes> = None;
                for _ in 0..m {
                    let v = r.bytes()?;
                    if last.as_ref().is_some_and(|l| *l >= v) {
                        return Err("set members out of order".into());
                    }
                    last = Some(v.clone());
                    s.insert(v);
                }
                Data::Set(s)
            }
            t => return Err(format!("unknown value type {t}")),
        };
        if data.is_empty_aggregate() {
            return Err("empty aggregate".into());
        }
        if let Some(t) = expire {
            ks.expires.insert((t, key.clone()));
        }
        ks.scan_index.insert((scan_hash(&key), key.clone()));
        let size = crate::evict::entry_size(&key, &data);
        ks.used_bytes += size;
        ks.keys.insert(
            key.clone(),
            Entry {
                data,
                expire,
                version,
                written_ms,
                converted: tag & 0x40 != 0,
                float_text: tag & 0x20 != 0,
                size,
                access: crate::evict::Access::new(written_ms),
            },
        );
        prev = Some(key);
    }
    if r.remaining() != 0 && r.buf[r.pos] == crate::script::snapshot::SECTION_TAG {
        r.byte()?;
        crate::script::snapshot::read(&mut r, &mut ks.scripts)?;
    }
    if r.remaining() != 0 {
        return Err("trailing bytes after the last key".into());
    }
    Ok(ks)
}

/// A sorted set's payload: strictly increasing (score, member), no NaN, no -0.0, no
/// duplicate member (which a strictly increasing order alone would not rule out).
fn decode_zset(r: &mut Reader<'_>) -> Result<Data, String> {
    let n = r.count(9)?;
    let mut items: Vec<(Bytes, f64)> = Vec::with_capacity(n);
    for _ in 0..n {
        let m = r.bytes()?;
        let score = r.f64()?;
        if score.is_nan() {
            return Err("sorted set score is NaN".into());
        }
        if let Some((lm, ls)) = items.last() {
            if ls
                .partial_cmp(&score)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| lm.cmp(&m))
                != std::cmp::Ordering::Less
            {
                return Err("sorted set members out of order".into());
            }
        }
        items.push((m, score));
    }
    let z = ZSet::from_items_signed(items);
    if z.len() != n {
        return Err("sorted set member repeated".into());
    }
    Ok(Data::ZSet(Box::new(z)))
}
