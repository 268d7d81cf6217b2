//! HyperLogLog over strings, in Redis's own encoding: PFADD, PFCOUNT, PFMERGE.
//!
//! The value is the byte string Redis builds (hyperloglog.c), so GET, DUMP-free copies between
//! servers and every PFCOUNT agree with Redis 7.0 exactly: a 16-byte header ("HYLL", encoding,
//! 3 unused bytes, the cached cardinality little-endian with bit 7 of byte 15 meaning "stale"),
//! then 16384 registers of 6 bits, either dense (12288 bytes, LSB first) or sparse (run-length
//! opcodes ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx). A sparse value is promoted to
//! dense once it would pass `SPARSE_MAX_BYTES` or hold a register above 32. The estimator is
//! Ertl's (arXiv:1702.01284), as in Redis 7.0, with the same floating-point steps.
//! PFDEBUG and PFSELFTEST (admin/testing commands) are not provided.

use bytes::Bytes;
use resp::Value;

use crate::bitmaps::edit_str;
use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

const P: u32 = 14;
/// Hash bits left after the register index.
const Q: usize = 64 - P as usize;
const REGISTERS: usize = 1 << P;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const REGISTER_MAX: u8 = 63;
/// Redis's hll-sparse-max-bytes default: a larger sparse value becomes dense.
const SPARSE_MAX_BYTES: usize = 3000;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const SEED: u64 = 0xadc8_3b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// A sparse value whose opcodes do not add up to 16384 registers.
struct Corrupt;

// ---- hashing ----

/// Austin Appleby's MurmurHash64A, as Redis has it (little-endian words).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let words = key.chunks_exact(8);
    let tail = words.remainder();
    for w in words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Redis's hllPatLen: the register an element lands in, and the length of its "000..1" run.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- the value ----

/// A new, empty HLL: sparse, one XZERO (runs up to 16384) covering every register, cached
/// cardinality 0.
fn new_hll() -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    let run = REGISTERS - 1;
    v.push(0x40 | (run >> 8) as u8);
    v.push((run & 0xff) as u8);
    v
}

/// Redis's isHLLObjectOrReply checks (after the type check).
fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

fn cache_valid(s: &[u8]) -> bool {
    s[15] & 0x80 == 0
}

fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

// ---- dense registers: 6 bits each, least significant bits first ----

/// The register `i` of a dense value (`s` is the whole string). Like Redis, the last register
/// reads one byte past the registers, where Redis's string terminator (a zero) sits.
fn dense_get(s: &[u8], i: usize) -> u8 {
    let byte = HDR + i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(s[byte]);
    let b1 = u32::from(s.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

fn dense_put(s: &mut [u8], i: usize, value: u8) {
    let byte = HDR + i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(value);
    let max = u32::from(REGISTER_MAX);
    s[byte] = ((u32::from(s[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(b) = s.get_mut(byte + 1) {
        *b = ((u32::from(*b) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// hllDenseSet: raises register `i` to `count`; whether it changed.
fn dense_set(s: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(s, i) {
        dense_put(s, i, count);
        true
    } else {
        false
    }
}

// ---- sparse opcodes ----

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}
fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}
fn zero_len(op: u8) -> usize {
    usize::from(op & 0x3f) + 1
}
fn xzero_len(op: u8, next: u8) -> usize {
    ((usize::from(op & 0x3f) << 8) | usize::from(next)) + 1
}
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
fn val_len(op: u8) -> usize {
    usize::from(op & 0x3) + 1
}
fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}
/// A ZERO or XZERO opcode for a run of `len` zero registers.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        seq.push(0x40 | ((len - 1) >> 8) as u8);
        seq.push(((len - 1) & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Walks the sparse opcodes: `f(first register, run length, value)` for each run. Like Redis,
/// a truncated XZERO reads the string's terminating zero and a VAL run past the registers
/// stops the walk. Returns the number of registers covered.
fn sparse_runs(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> usize {
    let (mut p, mut idx) = (HDR, 0usize);
    while p < s.len() {
        let op = s[p];
        if is_zero(op) {
            idx += zero_len(op);
            p += 1;
        } else if is_xzero(op) {
            idx += xzero_len(op, s.get(p + 1).copied().unwrap_or(0));
            p += 2;
        } else {
            let len = val_len(op);
            if idx + len > REGISTERS {
                break;
            }
            f(idx, len, val_value(op));
            idx += len;
            p += 1;
        }
    }
    idx
}

/// hllSparseToDense (a dense value is returned as is).
fn to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    if s[4] == DENSE {
        return Ok(s.to_vec());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let covered = sparse_runs(s, |first, len, value| {
        for i in first..first + len {
            dense_put(&mut dense, i, value);
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    Ok(dense)
}

/// The opcodes replacing run `op` (registers first..=last) once register `index` is `count`:
/// [before] VAL(count) [after], at most XZERO-VAL-XZERO (5 bytes).
fn split_run(op: u8, first: usize, last: usize, index: usize, count: u8) -> Vec<u8> {
    let mut seq = Vec::with_capacity(5);
    if is_val(op) {
        let cur = val_value(op);
        if index != first {
            seq.push(val_op(cur, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(cur, last - index));
        }
    } else {
        if index != first {
            push_zeros(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            push_zeros(&mut seq, last - index);
        }
    }
    seq
}

/// Merges adjacent VALs of equal value whose runs fit one opcode, scanning up to 5 opcodes
/// from `p` as Redis does; returns the new end (`s` has spare room past `end`).
fn merge_vals(s: &mut [u8], mut p: usize, mut end: usize) -> usize {
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let op = s[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(s[p + 1]) && val_value(op) == val_value(s[p + 1]) {
            let len = val_len(op) + val_len(s[p + 1]);
            if len <= VAL_MAX_LEN {
                s[p + 1] = val_op(val_value(op), len);
                s.copy_within(p + 1..end + 1, p);
                end -= 1;
                s[end] = 0;
                continue;
            }
        }
        p += 1;
    }
    end
}

/// hllSparseSet: raises register `index` to `count` in a sparse value, splitting the opcode
/// that covers it and merging equal neighbours, byte for byte as Redis does; promotes to
/// dense when the value would grow past `SPARSE_MAX_BYTES` or `count` needs more than a VAL.
/// Whether the value changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Redis edits the string in place with spare room after it (and a zero terminator that
    // its loops may read): the same here, with `end` as the string's length.
    let mut end = s.len();
    s.resize(end + 8, 0);
    let (mut p, mut first, mut span) = (HDR, 0usize, 0usize);
    let mut prev = None;
    while p < end {
        let op = s[p];
        let oplen = if is_xzero(op) { 2 } else { 1 };
        span = if is_zero(op) {
            zero_len(op)
        } else if is_val(op) {
            val_len(op)
        } else {
            xzero_len(op, s[p + 1])
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        s.truncate(end);
        return Err(Corrupt);
    }
    let op = s[p];
    let oldlen = if is_xzero(op) { 2 } else { 1 };
    let next = Some(p + oldlen).filter(|&n| n < end);
    let runlen = span;
    let simple = if is_val(op) {
        if val_value(op) >= count {
            s.truncate(end);
            return Ok(false);
        }
        runlen == 1
    } else {
        is_zero(op) && runlen == 1
    };
    if simple {
        s[p] = val_op(count, 1);
    } else {
        let seq = split_run(op, first, first + span - 1, index, count);
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && end + delta as usize > SPARSE_MAX_BYTES {
            s.truncate(end);
            return promote(s, index, count);
        }
        if delta != 0 {
            if let Some(n) = next {
                s.copy_within(n..end, (n as isize + delta) as usize);
            }
        }
        end = (end as isize + delta) as usize;
        s[end] = 0;
        s[p..p + seq.len()].copy_from_slice(&seq);
    }
    end = merge_vals(s, prev.unwrap_or(HDR), end);
    s.truncate(end);
    invalidate_cache(s);
    Ok(true)
}

/// Converts to dense, then sets the register (which always changes it).
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    *s = to_dense(s)?;
    dense_set(s, index, count);
    Ok(true)
}

/// hllAdd: whether a register changed.
fn add(s: &mut Vec<u8>, element: &[u8]) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    match s[4] {
        DENSE => Ok(dense_set(s, index, count)),
        SPARSE => sparse_set(s, index, count),
        _ => Err(Corrupt),
    }
}

/// hllMerge: `max[i] = max(max[i], register i)`.
fn merge(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(s, i));
        }
        return Ok(());
    }
    let covered = sparse_runs(s, |first, len, value| {
        for m in &mut max[first..first + len] {
            *m = (*m).max(value);
        }
    });
    if covered == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

// ---- the estimator ----

/// How many registers hold each value 0..=63.
type Histogram = [i64; 64];

fn histogram(s: &[u8]) -> Result<Histogram, Corrupt> {
    let mut h = [0i64; 64];
    if s[4] == DENSE {
        for i in 0..REGISTERS {
            h[usize::from(dense_get(s, i))] += 1;
        }
        return Ok(h);
    }
    // hllSparseRegHisto: unlike the merge walk, no early stop on a long VAL run.
    let (mut p, mut idx) = (HDR, 0usize);
    while p < s.len() {
        let op = s[p];
        let (len, value, oplen) = if is_zero(op) {
            (zero_len(op), 0, 1)
        } else if is_xzero(op) {
            (xzero_len(op, s.get(p + 1).copied().unwrap_or(0)), 0, 2)
        } else {
            (val_len(op), usize::from(val_value(op)), 1)
        };
        idx += len;
        h[value] += len as i64;
        p += oplen;
    }
    if idx == REGISTERS {
        Ok(h)
    } else {
        Err(Corrupt)
    }
}

fn raw_histogram(registers: &[u8; REGISTERS]) -> Histogram {
    let mut h = [0i64; 64];
    for &r in registers {
        h[usize::from(r & 63)] += 1;
    }
    h
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // C's pow(1 - x, 2), which compilers emit as a multiplication.
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// hllCount's estimate, in the same order of floating-point operations.
fn estimate(h: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = ALPHA_INF * m * m / z;
    // llroundl: out-of-range results (every register at 51) give x86's "integer indefinite".
    if e.is_finite() && e < (1u64 << 63) as f64 {
        e.round() as u64
    } else {
        1 << 63
    }
}

// ---- commands ----

/// The HLL at `key` for reading, `None` when missing.
fn get_hll<'a>(ks: &'a Keyspace, key: &[u8], now: u64) -> Result<Option<&'a Bytes>, Value> {
    match ks.get_str(key, now)? {
        Some(s) if !is_hll(s) => Err(err(NOT_HLL)),
        s => Ok(s),
    }
}

pub fn pfadd(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let key = &a[1];
    ks.expire_if_due(key, c.now_ms);
    let created = match get_hll(ks, key, c.now_ms) {
        Ok(s) => s.is_none(),
        Err(e) => return e,
    };
    if created {
        ks.put(key, Data::Str(Bytes::from(new_hll())), None);
    }
    let (updated, corrupt) = edit_str(ks, key, |s| {
        let mut updated = created;
        for m in &a[2..] {
            match add(s, m) {
                Ok(changed) => updated |= changed,
                // Redis stops here, keeping the changes made so far.
                Err(Corrupt) => return (updated, true),
            }
        }
        if updated {
            invalidate_cache(s);
        }
        (updated, false)
    })
    .unwrap_or((false, true));
    if updated {
        ks.changed(key, notify_class::STRING, "pfadd");
    }
    if corrupt {
        err(CORRUPT)
    } else {
        Value::Integer(i64::from(updated))
    }
}

/// PFCOUNT: the union's estimate for several keys; for one key, the cached cardinality,
/// recomputed and stored when stale. That store is a change of the value, as in Redis,
/// so PFCOUNT goes through the log (it is flagged "readonly" all the same, like Redis).
pub fn pfcount(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() > 2 {
        let mut max = [0u8; REGISTERS];
        for k in &a[1..] {
            match get_hll(ks, k, c.now_ms) {
                Ok(None) => {}
                Ok(Some(s)) => {
                    if merge(&mut max, s).is_err() {
                        return err(CORRUPT);
                    }
                }
                Err(e) => return e,
            }
        }
        return Value::Integer(estimate(&raw_histogram(&max)) as i64);
    }
    let key = &a[1];
    match get_hll(ks, key, c.now_ms) {
        Ok(None) => return Value::Integer(0),
        Ok(Some(s)) if cache_valid(s) => {
            let card = u64::from_le_bytes([s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]]);
            return Value::Integer(card as i64);
        }
        Ok(Some(_)) => {}
        Err(e) => return e,
    }
    let card = edit_str(ks, key, |s| {
        let card = estimate(&histogram(s).ok()?);
        s[8..16].copy_from_slice(&card.to_le_bytes());
        Some(card)
    })
    .flatten();
    match card {
        Some(card) => {
            ks.modified(key);
            Value::Integer(card as i64)
        }
        None => err(CORRUPT),
    }
}

/// PFMERGE dest [source...]: dest (itself a source) becomes the union; created when missing.
pub fn pfmerge(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut max = [0u8; REGISTERS];
    let mut dense = false;
    for k in &a[1..] {
        match get_hll(ks, k, c.now_ms) {
            Ok(None) => {}
            Ok(Some(s)) => {
                dense |= s[4] == DENSE;
                if merge(&mut max, s).is_err() {
                    return err(CORRUPT);
                }
            }
            Err(e) => return e,
        }
    }
    let dest = &a[1];
    ks.expire_if_due(dest, c.now_ms);
    if ks.get(dest, c.now_ms).is_none() {
        ks.put(dest, Data::Str(Bytes::from(new_hll())), None);
    }
    let done = edit_str(ks, dest, |s| {
        if dense {
            *s = to_dense(s).ok()?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m == 0 {
                continue;
            }
            if s[4] == DENSE {
                dense_set(s, i, m);
            } else {
                // The destination was checked as a source: it is not corrupt.
                let _ = sparse_set(s, i, m);
            }
        }
        invalidate_cache(s);
        Some(())
    })
    .flatten();
    // Redis raises PFADD's event for a merge (a mass add).
    ks.changed(dest, notify_class::STRING, "pfadd");
    match done {
        Some(()) => ok(),
        None => err(CORRUPT),
    }
}
