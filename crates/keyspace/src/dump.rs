//! DUMP and RESTORE: values in Redis's RDB serialization (RDB version 10, Redis 7.0), with
//! Redis's payload trailer (RDB version, then CRC-64/Jones of everything before it).
//!
//! RESTORE reads what Redis 7.0 and older DUMP and MIGRATE produce: strings (raw, integer
//! and LZF-compressed encodings), lists (plain, ziplist, quicklist of ziplists, quicklist of
//! listpacks), sets (plain, intset), hashes (plain, ziplist, listpack), sorted sets (plain
//! with text or binary scores, ziplist, listpack), streams (listpacks 1, 2 and 3: see
//! `streams::rdb`), and Redis 7.2's listpack sets. DUMP writes the plain
//! forms (length-prefixed strings, integer-encoded when short), which every Redis loads; its
//! bytes therefore differ from Redis's own DUMP of large or compact values, not its meaning.
//! Parsing is pure and bounded by the payload: a declared count or length the remaining bytes
//! cannot hold is "Bad data format", never an allocation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use resp::Value;

use crate::streams::rdb;
use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

/// RDB_VERSION of Redis 7.0: payloads of a later version are refused, as Redis does.
pub(crate) const RDB_VERSION: u16 = 10;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_HASH: u8 = 4;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_ZSET: u8 = 3;
const TYPE_ZSET_2: u8 = 5;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_ZSET_LISTPACK: u8 = 17;
/// Redis 7.2 (RDB 11): small sets of strings.
const TYPE_SET_LISTPACK: u8 = 20;

const BAD_FORMAT: &str = "ERR Bad data format";
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

// ---- CRC-64/Jones (Redis's crc64: reflected, polynomial 0xad93d23594c935a9, init 0) ----

const fn crc64_table() -> [u64; 256] {
    // The polynomial bit-reversed, for the reflected (LSB-first) algorithm.
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC64_TABLE: [u64; 256] = crc64_table();

pub(crate) fn crc64(data: &[u8]) -> u64 {
    crc64_update(0, data)
}

/// The CRC of what came before (`crc`) followed by `data`.
pub(crate) fn crc64_update(crc: u64, data: &[u8]) -> u64 {
    data.iter().fold(crc, |crc, &b| {
        CRC64_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

// ---- writing ----

pub(crate) fn save_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string as Redis writes it without compression: an integer encoding when the text is a
/// canonical integer of at most 32 bits (at most 11 bytes), else length and bytes.
pub(crate) fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if let Ok(v) = i8::try_from(v) {
                out.push(0xc0);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The DUMP payload of a value: its RDB form, the RDB version, the CRC-64.
fn serialize(data: &Data) -> Vec<u8> {
    let mut out = Vec::new();
    save_value(data, &mut out);
    seal(&mut out);
    out
}

/// Appends a DUMP payload's trailer: the RDB version, then the CRC-64 of all before it.
pub(crate) fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Whether a DUMP payload's trailer is sound: a version this RDB reader knows and a
/// matching CRC-64.
pub(crate) fn sealed(payload: &[u8]) -> bool {
    if payload.len() < 10 {
        return false;
    }
    let (body, footer) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    let crc = footer.try_into().ok().map(u64::from_le_bytes);
    version <= RDB_VERSION && crc == Some(crc64(body))
}

/// A value's RDB form: its type byte, then the value (what RDB files hold after the key).
pub(crate) fn save_value(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::Stream(s) => {
            out.push(crate::streams::rdb::TYPE_STREAM_LISTPACKS_2);
            crate::streams::rdb::save(s, out);
        }
        Data::Str(s) => {
            out.push(TYPE_STRING);
            save_string(out, s);
        }
        Data::List(l) => {
            out.push(TYPE_LIST);
            save_len(out, l.len() as u64);
            for v in l {
                save_string(out, v);
            }
        }
        Data::Set(s) => {
            out.push(TYPE_SET);
            save_len(out, s.len() as u64);
            for m in s {
                save_string(out, m);
            }
        }
        Data::Hash(h) => {
            out.push(TYPE_HASH);
            save_len(out, h.len() as u64);
            for (f, v) in h {
                save_string(out, f);
                save_string(out, v);
            }
        }
        Data::ZSet(z) => {
            // Member, then the score as 8 little-endian bytes; highest first, as Redis writes
            // a skiplist (so loading inserts at the head).
            out.push(TYPE_ZSET_2);
            save_len(out, z.len() as u64);
            for (m, score) in z.iter_rev_from(z.len()) {
                save_string(out, m);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
        }
    }
}

/// DUMP key
pub fn dump(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get(&a[1], c.now_ms) {
        Some(e) => Value::Bulk(Bytes::from(serialize(&e.data))),
        None => Value::Null,
    }
}

// ---- reading ----

/// Any malformed payload: Redis answers "Bad data format" whatever the detail.
pub(crate) struct Bad;

pub(crate) type Load<T> = Result<T, Bad>;

pub(crate) struct Rdb<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Rdb<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Load<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(Bad);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn byte(&mut self) -> Load<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// A length, or with `Err(kind)` inside `Ok` the special string encoding it announces.
    pub(crate) fn len_or_encoding(&mut self) -> Load<Result<u64, u8>> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Ok(u64::from(b & 0x3f)),
            1 => Ok((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?)),
            2 if b == 0x80 => Ok(u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().map_err(|_| Bad)?,
            ))),
            2 if b == 0x81 => Ok(u64::from_be_bytes(
                self.take(8)?.try_into().map_err(|_| Bad)?,
            )),
            2 => return Err(Bad),
            _ => Err(b & 0x3f),
        })
    }
    pub(crate) fn len(&mut self) -> Load<u64> {
        self.len_or_encoding()?.map_err(|_| Bad)
    }
    /// A count of items each taking at least one byte: bounded by what is left.
    pub(crate) fn count(&mut self) -> Load<usize> {
        let n = self.len()?;
        if n > self.remaining() as u64 {
            return Err(Bad);
        }
        Ok(n as usize)
    }
    /// A score of the old ZSET type (`rdbLoadDoubleValue`): a length byte, 253 NaN, 254
    /// +inf, 255 -inf, else that many bytes of text.
    fn text_double(&mut self) -> Load<f64> {
        Ok(match self.byte()? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => crate::zsets::strtod_prefix(self.take(usize::from(n))?),
        })
    }
    pub(crate) fn string(&mut self) -> Load<Bytes> {
        match self.len_or_encoding()? {
            Ok(n) => {
                let n = usize::try_from(n).map_err(|_| Bad)?;
                Ok(Bytes::copy_from_slice(self.take(n)?))
            }
            Err(0) => Ok(int_text(i64::from(self.byte()? as i8))),
            Err(1) => Ok(int_text(i64::from(i16::from_le_bytes(
                self.take(2)?.try_into().map_err(|_| Bad)?,
            )))),
            Err(2) => Ok(int_text(i64::from(i32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| Bad)?,
            )))),
            Err(3) => {
                let clen = usize::try_from(self.len()?).map_err(|_| Bad)?;
                let len = usize::try_from(self.len()?).map_err(|_| Bad)?;
                lzf_decompress(self.take(clen)?, len).map(Bytes::from)
            }
            Err(_) => Err(Bad),
        }
    }
}

fn int_text(v: i64) -> Bytes {
    Bytes::from(v.to_string())
}

/// liblzf's decompression, checked: every reference inside the output, exactly `len` bytes.
/// A back reference expands 3 bytes to at most 264, so `len` beyond that ratio is refused
/// before allocating.
fn lzf_decompress(input: &[u8], len: usize) -> Load<Vec<u8>> {
    if len > MAX_STRING || len > input.len().saturating_mul(88).saturating_add(64) {
        return Err(Bad);
    }
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(Bad)?;
            if out.len() + run > len {
                return Err(Bad);
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += usize::from(*input.get(i).ok_or(Bad)?);
                i += 1;
            }
            let low = usize::from(*input.get(i).ok_or(Bad)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let n = n + 2;
            if back > out.len() || out.len() + n > len {
                return Err(Bad);
            }
            let start = out.len() - back;
            for k in 0..n {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != len {
        return Err(Bad);
    }
    Ok(out)
}

/// Little-endian unsigned integer of `n` bytes at `from`.
fn le_at(body: &[u8], from: usize, n: usize) -> Load<u64> {
    let bytes = body.get(from..from.checked_add(n).ok_or(Bad)?).ok_or(Bad)?;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

/// Bytes `from..from + n` as a value.
fn bytes_at(body: &[u8], from: usize, n: usize) -> Load<Bytes> {
    let end = from.checked_add(n).ok_or(Bad)?;
    Ok(Bytes::copy_from_slice(body.get(from..end).ok_or(Bad)?))
}

/// One listpack entry at `p`: its length (encoding and data, without the back-length) and
/// its value.
fn lp_entry(body: &[u8], p: usize) -> Load<(usize, Bytes)> {
    let b = body[p];
    Ok(if b & 0x80 == 0 {
        (1, int_text(i64::from(b)))
    } else if b & 0xc0 == 0x80 {
        let n = usize::from(b & 0x3f);
        (1 + n, bytes_at(body, p + 1, n)?)
    } else if b & 0xe0 == 0xc0 {
        // 13-bit two's complement
        let v = (i64::from(b & 0x1f) << 8) | le_at(body, p + 1, 1)? as i64;
        (2, int_text(if v >= 1 << 12 { v - (1 << 13) } else { v }))
    } else if b & 0xf0 == 0xe0 {
        let n = (usize::from(b & 0x0f) << 8) | le_at(body, p + 1, 1)? as usize;
        (2 + n, bytes_at(body, p + 2, n)?)
    } else {
        match b {
            0xf0 => {
                let n = usize::try_from(le_at(body, p + 1, 4)?).map_err(|_| Bad)?;
                (5 + n, bytes_at(body, p + 5, n)?)
            }
            0xf1 => (3, int_text(i64::from(le_at(body, p + 1, 2)? as u16 as i16))),
            0xf2 => (4, int_text(((le_at(body, p + 1, 3)? << 40) as i64) >> 40)),
            0xf3 => (5, int_text(i64::from(le_at(body, p + 1, 4)? as u32 as i32))),
            0xf4 => (9, int_text(le_at(body, p + 1, 8)? as i64)),
            _ => return Err(Bad),
        }
    })
}

/// The entries of a listpack (Redis 7's compact encoding): total bytes, count, entries each
/// followed by its length backwards, 0xff.
pub(crate) fn listpack(blob: &[u8]) -> Load<Vec<Bytes>> {
    if blob.len() < 7 {
        return Err(Bad);
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let declared = u16::from_le_bytes([blob[4], blob[5]]);
    if total != blob.len() || blob[total - 1] != 0xff {
        return Err(Bad);
    }
    let body = &blob[6..total - 1];
    let mut out = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let (entry, value) = lp_entry(body, p)?;
        let backlen = match entry {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2_097_150 => 3,
            2_097_151..=268_435_454 => 4,
            _ => 5,
        };
        p = p.saturating_add(entry).saturating_add(backlen);
        if p > body.len() {
            return Err(Bad);
        }
        out.push(value);
    }
    if declared != u16::MAX && usize::from(declared) != out.len() {
        return Err(Bad);
    }
    Ok(out)
}

/// The entries of a ziplist (the compact encoding before Redis 7): total bytes, tail
/// offset, count, entries each after the previous one's length, 0xff.
fn ziplist(blob: &[u8]) -> Load<Vec<Bytes>> {
    if blob.len() < 11 {
        return Err(Bad);
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let declared = u16::from_le_bytes([blob[8], blob[9]]);
    if total != blob.len() || blob[total - 1] != 0xff {
        return Err(Bad);
    }
    let body = &blob[10..total - 1];
    let mut out = Vec::new();
    let mut p = 0;
    while p < body.len() {
        // The previous entry's length: 1 byte, or 0xfe and 4 bytes.
        p += match body[p] {
            0xfe => 5,
            0xff => return Err(Bad),
            _ => 1,
        };
        let b = *body.get(p).ok_or(Bad)?;
        let (size, value) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                (1 + n, bytes_at(body, p + 1, n)?)
            }
            1 => {
                let n = (usize::from(b & 0x3f) << 8) | le_at(body, p + 1, 1)? as usize;
                (2 + n, bytes_at(body, p + 2, n)?)
            }
            2 if b == 0x80 => {
                let n = (le_at(body, p + 1, 4)? as u32).swap_bytes() as usize; // big-endian
                (5 + n, bytes_at(body, p + 5, n)?)
            }
            _ => match b {
                0xc0 => (3, int_text(i64::from(le_at(body, p + 1, 2)? as u16 as i16))),
                0xd0 => (5, int_text(i64::from(le_at(body, p + 1, 4)? as u32 as i32))),
                0xe0 => (9, int_text(le_at(body, p + 1, 8)? as i64)),
                0xf0 => (4, int_text(((le_at(body, p + 1, 3)? << 40) as i64) >> 40)),
                0xfe => (2, int_text(i64::from(le_at(body, p + 1, 1)? as u8 as i8))),
                0xf1..=0xfd => (1, int_text(i64::from(b & 0x0f) - 1)),
                _ => return Err(Bad),
            },
        };
        p = p.saturating_add(size);
        if p > body.len() {
            return Err(Bad);
        }
        out.push(value);
    }
    if declared != u16::MAX && usize::from(declared) != out.len() {
        return Err(Bad);
    }
    Ok(out)
}

/// The members of an intset: encoding (2, 4 or 8 bytes), count, little-endian integers.
fn intset(blob: &[u8]) -> Load<Vec<Bytes>> {
    if blob.len() < 8 {
        return Err(Bad);
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let n = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width * n {
        return Err(Bad);
    }
    Ok(blob[8..]
        .chunks(width)
        .map(|c| {
            let v = c.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x));
            let shift = 64 - 8 * width as u32;
            int_text(((v << shift) as i64) >> shift)
        })
        .collect())
}

fn list_of(items: Vec<Bytes>) -> Load<Data> {
    if items.is_empty() {
        return Err(Bad); // Redis refuses empty keys
    }
    Ok(Data::List(VecDeque::from(items)))
}

fn set_of(items: Vec<Bytes>) -> Load<Data> {
    let n = items.len();
    let set: BTreeSet<Bytes> = items.into_iter().collect();
    if set.is_empty() || set.len() != n {
        return Err(Bad); // empty, or duplicate members
    }
    Ok(Data::Set(set))
}

fn hash_of(items: Vec<Bytes>) -> Load<Data> {
    if items.is_empty() || items.len() % 2 != 0 {
        return Err(Bad);
    }
    let pairs = items.len() / 2;
    let mut h = BTreeMap::new();
    let mut it = items.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        h.insert(f, v);
    }
    if h.len() != pairs {
        return Err(Bad); // duplicate fields
    }
    Ok(Data::Hash(h))
}

/// The (member, score) pairs of a ziplist or listpack sorted set: entries alternate, scores
/// are numbers in text or integer form (read with `strtod`, as Redis's `zzlGetScore`).
fn score_pairs(items: Vec<Bytes>) -> Load<Vec<(Bytes, f64)>> {
    if items.len() % 2 != 0 {
        return Err(Bad);
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        out.push((m, crate::zsets::strtod_prefix(&s)));
    }
    Ok(out)
}

/// A sorted set: not empty, no NaN score, no member twice (Redis's load checks).
fn zset_of(items: Vec<(Bytes, f64)>) -> Load<Data> {
    if items.is_empty() || items.iter().any(|(_, s)| s.is_nan()) {
        return Err(Bad);
    }
    let n = items.len();
    let z = crate::zsets::ZSet::from_items(items);
    if z.len() != n {
        return Err(Bad);
    }
    Ok(Data::ZSet(Box::new(z)))
}

fn load_object(r: &mut Rdb) -> Load<Data> {
    let kind = r.byte()?;
    load_value(r, kind)
}

/// A value of RDB type `kind` (its type byte already read).
pub(crate) fn load_value(r: &mut Rdb, kind: u8) -> Load<Data> {
    match kind {
        TYPE_STRING => Ok(Data::Str(r.string()?)),
        TYPE_LIST | TYPE_SET => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            if kind == TYPE_LIST {
                list_of(items)
            } else {
                set_of(items)
            }
        }
        TYPE_HASH => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(n.saturating_mul(2).min(r.remaining()));
            for _ in 0..n {
                items.push(r.string()?);
                items.push(r.string()?);
            }
            hash_of(items)
        }
        TYPE_LIST_ZIPLIST => list_of(ziplist(&r.string()?)?),
        TYPE_SET_INTSET => set_of(intset(&r.string()?)?),
        TYPE_HASH_ZIPLIST => hash_of(ziplist(&r.string()?)?),
        TYPE_HASH_LISTPACK => hash_of(listpack(&r.string()?)?),
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                if kind == TYPE_LIST_QUICKLIST {
                    items.extend(ziplist(&r.string()?)?);
                    continue;
                }
                // Container: 1 = one plain element, 2 = a listpack of elements.
                match r.len()? {
                    1 => items.push(r.string()?),
                    2 => items.extend(listpack(&r.string()?)?),
                    _ => return Err(Bad),
                }
            }
            list_of(items)
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let score = if kind == TYPE_ZSET_2 {
                    f64::from_bits(u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| Bad)?))
                } else {
                    r.text_double()?
                };
                items.push((m, score));
            }
            zset_of(items)
        }
        TYPE_ZSET_ZIPLIST => zset_of(score_pairs(ziplist(&r.string()?)?)?),
        TYPE_ZSET_LISTPACK => zset_of(score_pairs(listpack(&r.string()?)?)?),
        TYPE_SET_LISTPACK => set_of(listpack(&r.string()?)?),
        rdb::TYPE_STREAM_LISTPACKS
        | rdb::TYPE_STREAM_LISTPACKS_2
        | rdb::TYPE_STREAM_LISTPACKS_3 => Ok(Data::Stream(Box::new(rdb::load(r, kind)?))),
        // Zipmaps (Redis 2.4 hashes) and modules: not supported.
        _ => Err(Bad),
    }
}

/// The value of a DUMP payload, after checking its trailer (RDB version, then CRC-64).
fn deserialize(payload: &[u8]) -> Result<Data, Value> {
    if !sealed(payload) {
        return Err(err(BAD_PAYLOAD));
    }
    // Redis reads the value from the whole payload: a value that runs into the trailer takes
    // its bytes, and whatever the value leaves unread is ignored.
    let mut r = Rdb {
        buf: payload,
        pos: 0,
    };
    load_object(&mut r).map_err(|Bad| err(BAD_FORMAT))
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let opt = a[j].to_ascii_uppercase();
        let more = j + 1 < a.len();
        match opt.as_slice() {
            b"REPLACE" => replace = true,
            b"ABSTTL" => absttl = true,
            b"IDLETIME" if more && freq.is_none() => {
                match int_arg(&a[j + 1]) {
                    Ok(n) if n < 0 => return err("ERR Invalid IDLETIME value, must be >= 0"),
                    Ok(n) => idle = Some(n),
                    Err(e) => return e,
                }
                j += 1;
            }
            b"FREQ" if more && idle.is_none() => {
                match int_arg(&a[j + 1]) {
                    Ok(n) if !(0..=255).contains(&n) => {
                        return err("ERR Invalid FREQ value, must be >= 0 and <= 255")
                    }
                    // Accepted and not kept: ninesdb has no LFU counters (OBJECT FREQ).
                    Ok(n) => freq = Some(n),
                    Err(e) => return e,
                }
                j += 1;
            }
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    let key = &a[1];
    let now = c.now_ms;
    if !replace && ks.get(key, now).is_some() {
        return err("BUSYKEY Target key name already exists.");
    }
    let ttl = match int_arg(&a[2]) {
        Ok(t) if t < 0 => return err("ERR Invalid TTL value, must be >= 0"),
        Ok(t) => t as u64,
        Err(e) => return e,
    };
    let data = match deserialize(&a[3]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    ks.expire_if_due(key, now);
    let replaced = replace && ks.remove(key).is_some();
    let expire = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(t.saturating_add(now)),
    };
    if expire.is_some_and(|t| t <= now) {
        // Already expired: nothing stored (an old value is gone with REPLACE).
        if replaced {
            ks.notify(notify_class::GENERIC, "del", key);
        }
        return ok();
    }
    ks.put(key, data, expire);
    ks.notify(notify_class::GENERIC, "restore", key);
    if let Some(idle) = idle {
        // OBJECT IDLETIME counts from the last write: make it read `idle` seconds now.
        let written = now
            .saturating_sub((idle as u64).saturating_mul(1000))
            .max(1);
        if let Some(e) = ks.keys.get_mut(key.as_ref()) {
            e.written_ms = written;
        }
    }
    ok()
}

// ---- FUNCTION DUMP / RESTORE ----

/// RDB_OPCODE_FUNCTION2: a library's code as one string.
const OPCODE_FUNCTION2: u8 = 245;
/// RDB_OPCODE_FUNCTION (Redis 7.0 release candidates): name, engine, description, code.
const OPCODE_FUNCTION: u8 = 246;

/// FUNCTION DUMP's payload: each library's code (uncompressed), the RDB version, the CRC.
pub(crate) fn functions_payload<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        save_string(&mut out, code);
    }
    seal(&mut out);
    Bytes::from(out)
}

/// The library codes of a FUNCTION DUMP payload, or Redis's error text.
pub(crate) fn functions_from_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    if !sealed(payload) {
        return Err("DUMP payload version or checksum are wrong".to_owned());
    }
    let mut r = Rdb {
        buf: payload,
        pos: 0,
    };
    let mut codes = Vec::new();
    while payload.len() - r.pos > 10 {
        let opcode = r
            .byte()
            .map_err(|Bad| "can not read data type".to_owned())?;
        let failed = |Bad| "failed loading the given functions payload".to_owned();
        match opcode {
            OPCODE_FUNCTION2 => codes.push(r.string().map_err(failed)?),
            OPCODE_FUNCTION => {
                // name, engine, optional description, code: only the code matters.
                r.string().map_err(failed)?;
                r.string().map_err(failed)?;
                if r.len().map_err(failed)? != 0 {
                    r.string().map_err(failed)?;
                }
                codes.push(r.string().map_err(failed)?);
            }
            _ => return Err("given type is not a function".to_owned()),
        }
    }
    Ok(codes)
}

impl Keyspace {
    /// Every key alive at `now_ms`, in key order, as (key, DUMP payload, absolute expiry in
    /// ms): how a backup's keyspace goes into a new cluster (RESTORE of each).
    pub fn dump_all(&self, now_ms: u64) -> impl Iterator<Item = (Bytes, Bytes, Option<u64>)> + '_ {
        self.keys
            .iter()
            .filter(move |(_, e)| !e.expired(now_ms))
            .map(|(k, e)| (k.clone(), Bytes::from(serialize(&e.data)), e.expire))
    }
}
