//! Bitmaps over strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD.
//!
//! A bitmap is an ordinary string value (GET/SET/APPEND see the same bytes). Bit 0 is the most
//! significant bit of byte 0, as in Redis. Missing keys and bytes past the end read as zeros;
//! writes grow the string with zero bytes, never past `MAX_STRING`.

use bytes::Bytes;
use resp::Value;

use crate::util::*;
use crate::{notify_class, Context, Data, Entry, Keyspace};

/// Redis refuses bit offsets whose byte is at or past its default proto-max-bulk-len (512 MB):
/// offsets must be below 2^32. A lower `MAX_STRING` then refuses the growth with `TOO_BIG`.
const BIT_OFFSET_END: i64 = 1 << 32;

const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

// ---- shared with hll.rs: in-place edits of a string value ----

/// Runs `f` on the string value of `key` in place and returns its result, or `None` when the
/// key holds no string. The bytes are taken out of the entry without a copy when nothing else
/// shares them (a 100 MB bitmap is not copied per SETBIT). The caller has checked type and
/// expiry, and calls [`Keyspace::modified`] if `f` changed anything.
pub(crate) fn edit_str<R>(
    ks: &mut Keyspace,
    key: &[u8],
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Option<R> {
    let Some(Entry {
        data: Data::Str(b), ..
    }) = ks.keys.get_mut(key)
    else {
        return None;
    };
    let mut v = Vec::from(std::mem::take(b));
    let r = f(&mut v);
    *b = Bytes::from(v);
    ks.mark_converted(key);
    Some(r)
}

/// Redis's lookupStringForBitCommand: the string at `key` made at least `len` bytes long with
/// zero bytes (created when missing, TTL kept). Returns whether it was created or grown.
fn grow_for_write(ks: &mut Keyspace, key: &Bytes, len: usize, now: u64) -> Result<bool, Value> {
    ks.expire_if_due(key, now);
    let cur = ks.get_str(key, now)?.map(Bytes::len);
    if cur.is_none_or(|l| l < len) && len > MAX_STRING {
        return Err(err(TOO_BIG));
    }
    match cur {
        None => {
            ks.put(key, Data::Str(Bytes::from(vec![0u8; len])), None);
            Ok(true)
        }
        Some(l) if l < len => {
            edit_str(ks, key, |v| v.resize(len, 0));
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

// ---- argument parsing ----

/// Redis's getBitOffsetFromArgument: a bit offset below 2^32; with `hash_bits`, `#N` means
/// N fields of that width (multiplied with C's wrap-around, as Redis does).
fn bit_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, Value> {
    let (digits, bits) = match hash_bits {
        Some(bits) if arg.len() > 1 && arg[0] == b'#' => (&arg[1..], Some(bits)),
        _ => (arg, None),
    };
    let mut offset = parse_i64(digits).ok_or_else(|| err(BIT_OFFSET))?;
    if let Some(bits) = bits {
        offset = offset.wrapping_mul(i64::from(bits));
    }
    if !(0..BIT_OFFSET_END).contains(&offset) {
        return Err(err(BIT_OFFSET));
    }
    Ok(offset as u64)
}

/// A BITFIELD type: `i1`..`i64` or `u1`..`u63` (C string rules: the width stops at a NUL).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Value> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err(BITFIELD_TYPE)),
    };
    let width = &arg[1..];
    let width = &width[..width.iter().position(|&c| c == 0).unwrap_or(width.len())];
    match parse_i64(width) {
        Some(b) if b >= 1 && (b <= 63 || (signed && b == 64)) => Ok((signed, b as u32)),
        _ => Err(err(BITFIELD_TYPE)),
    }
}

/// BITCOUNT/BITPOS's range rules: negative indexes count from the end, then both are clamped
/// to the string; in BIT mode they count bits. Returns the inclusive bit range, if not empty.
fn bit_range(start: i64, end: i64, len: usize, bit_mode: bool) -> Option<(u64, u64)> {
    let total = if bit_mode {
        (len as i64) << 3
    } else {
        len as i64
    };
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if bit_mode {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// `BYTE` or `BIT` (case-insensitive): whether indexes count bits.
fn unit_arg(arg: &[u8]) -> Result<bool, Value> {
    match arg.to_ascii_lowercase().as_slice() {
        b"bit" => Ok(true),
        b"byte" => Ok(false),
        _ => Err(err(SYNTAX)),
    }
}

// ---- bit access ----

fn get_bit(s: &[u8], pos: u64) -> u8 {
    s.get((pos >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (pos & 7))) & 1)
}

/// Mask of the bits of byte `i` inside the bit range [first, last] (MSB = lowest position).
fn byte_mask(i: u64, first: u64, last: u64) -> u8 {
    let mut mask: u32 = 0xff;
    if i == first >> 3 {
        mask &= 0xff >> (first & 7);
    }
    if i == last >> 3 {
        mask &= !((1u32 << (7 - (last & 7))) - 1);
    }
    mask as u8
}

/// Set bits in the bit range [first, last] of `s` (the range lies inside `s`).
fn count_bits(s: &[u8], first: u64, last: u64) -> i64 {
    let (lo, hi) = (first >> 3, last >> 3);
    let inner: u64 = s[lo as usize..=hi as usize]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    let outside = (s[lo as usize] & !byte_mask(lo, first, last)).count_ones()
        + if hi == lo {
            0
        } else {
            (s[hi as usize] & !byte_mask(hi, first, last)).count_ones()
        };
    (inner - u64::from(outside)) as i64
}

/// Position of the first bit equal to `bit` in the bit range [first, last] of `s`.
fn find_bit(s: &[u8], bit: u8, first: u64, last: u64) -> Option<u64> {
    (first >> 3..=last >> 3).find_map(|i| {
        let b = s[i as usize];
        let wanted = if bit == 1 { b } else { !b } & byte_mask(i, first, last);
        (wanted != 0).then(|| i * 8 + u64::from(wanted.leading_zeros()))
    })
}

/// The `bits`-wide unsigned field at bit `offset`, most significant bit first (zeros past the end).
fn get_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, i| (v << 1) | u64::from(get_bit(s, offset + i)))
}

/// Writes the low `bits` bits of `value` at bit `offset` (the string is long enough).
fn set_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let on = (value >> (u64::from(bits) - 1 - i)) & 1;
        let byte = &mut s[(pos >> 3) as usize];
        let shift = 7 - (pos & 7);
        *byte = (*byte & !(1 << shift)) | ((on as u8) << shift);
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

// ---- SETBIT, GETBIT, BITCOUNT, BITPOS ----

pub fn setbit(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let offset = match bit_offset(&a[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match parse_i64(&a[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return err(BIT_VALUE),
    };
    let grown = match grow_for_write(ks, &a[1], (offset >> 3) as usize + 1, c.now_ms) {
        Ok(g) => g,
        Err(e) => return e,
    };
    let old = edit_str(ks, &a[1], |v| {
        let old = get_bit(v, offset);
        set_field(v, offset, 1, u64::from(on));
        old
    })
    .unwrap_or(0);
    // Like Redis, an unchanged bit is not a modification (WATCH does not fire).
    if grown || old != on {
        ks.changed(&a[1], notify_class::STRING, "setbit");
    }
    Value::Integer(i64::from(old))
}

pub fn getbit(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let offset = match bit_offset(&a[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match ks.get_str(&a[1], c.now_ms) {
        Ok(s) => Value::Integer(i64::from(s.map_or(0, |s| get_bit(s, offset)))),
        Err(e) => e,
    }
}

pub fn bitcount(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    // Redis looks the key up first: a missing key counts 0 whatever the other arguments.
    let s = match ks.get_str(&a[1], c.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let range = match a.len() {
        2 => bit_range(0, -1, s.len(), false),
        4 | 5 => {
            let (start, end) = match (int_arg(&a[2]), int_arg(&a[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            // Checked before the unit, as Redis does.
            if start < 0 && end < 0 && start > end {
                return Value::Integer(0);
            }
            let bit_mode = match a.get(4).map(|u| unit_arg(u)) {
                None => false,
                Some(Ok(b)) => b,
                Some(Err(e)) => return e,
            };
            bit_range(start, end, s.len(), bit_mode)
        }
        _ => return err(SYNTAX),
    };
    Value::Integer(range.map_or(0, |(first, last)| count_bits(s, first, last)))
}

pub fn bitpos(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let bit = match parse_i64(&a[2]) {
        Some(b @ (0 | 1)) => b as u8,
        Some(_) => return err("ERR The bit argument must be 1 or 0."),
        None => return err(NOT_INT),
    };
    // A missing key is an infinite run of zeros.
    let s = match ks.get_str(&a[1], c.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Integer(if bit == 1 { -1 } else { 0 }),
        Err(e) => return e,
    };
    if a.len() > 6 {
        return err(SYNTAX);
    }
    let mut end_given = false;
    let range = if a.len() == 3 {
        bit_range(0, -1, s.len(), false)
    } else {
        let start = match int_arg(&a[3]) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let bit_mode = match a.get(5).map(|u| unit_arg(u)) {
            None => false,
            Some(Ok(b)) => b,
            Some(Err(e)) => return e,
        };
        let end = match a.get(4).map(|e| int_arg(e)) {
            None => -1,
            Some(Ok(v)) => {
                end_given = true;
                v
            }
            Some(Err(e)) => return e,
        };
        bit_range(start, end, s.len(), bit_mode)
    };
    let Some((first, last)) = range else {
        return Value::Integer(-1);
    };
    Value::Integer(match find_bit(s, bit, first, last) {
        Some(pos) => pos as i64,
        // Looking for a clear bit with no explicit end: the string continues with zeros.
        None if bit == 0 && !end_given => (last + 1) as i64,
        None => -1,
    })
}

// ---- BITOP ----

pub fn bitop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match a[1].to_ascii_lowercase().as_slice() {
        b"and" => Op::And,
        b"or" => Op::Or,
        b"xor" => Op::Xor,
        b"not" => Op::Not,
        _ => return err(SYNTAX),
    };
    if op == Op::Not && a.len() != 4 {
        return err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources: Vec<&[u8]> = Vec::with_capacity(a.len() - 3);
    for k in &a[3..] {
        match ks.get_str(k, c.now_ms) {
            Ok(s) => sources.push(s.map_or(&[][..], |s| s.as_ref())),
            Err(e) => return e,
        }
    }
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let first = byte(sources[0], i);
            let rest = sources[1..].iter().map(|s| byte(s, i));
            match op {
                Op::And => rest.fold(first, |x, y| x & y),
                Op::Or => rest.fold(first, |x, y| x | y),
                Op::Xor => rest.fold(first, |x, y| x ^ y),
                Op::Not => !first,
            }
        })
        .collect();
    let dest = &a[2];
    ks.expire_if_due(dest, c.now_ms);
    if result.is_empty() {
        // An empty result deletes the destination, whatever it held.
        if ks.remove(dest).is_some() {
            ks.notify(notify_class::GENERIC, "del", dest);
        }
    } else {
        // Like SET: replaces any type and drops the TTL.
        ks.put(dest, Data::Str(Bytes::from(result)), None);
        ks.mark_converted(dest);
        ks.notify(notify_class::STRING, "set", dest);
    }
    Value::Integer(len as i64)
}

// ---- BITFIELD ----

#[derive(Clone, Copy, PartialEq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum FieldKind {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: FieldKind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// Parses BITFIELD's subcommands in order, reporting the first error as Redis does.
fn parse_field_ops(a: &[Bytes]) -> Result<Vec<FieldOp>, Value> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let remaining = a.len() - j - 1;
        let kind = match a[j].to_ascii_lowercase().as_slice() {
            b"get" if remaining >= 2 => FieldKind::Get,
            b"set" if remaining >= 3 => FieldKind::Set,
            b"incrby" if remaining >= 3 => FieldKind::IncrBy,
            b"overflow" if remaining >= 1 => {
                overflow = match a[j + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(err("ERR Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            _ => return Err(err(SYNTAX)),
        };
        let (signed, bits) = field_type(&a[j + 1])?;
        let offset = bit_offset(&a[j + 2], Some(bits))?;
        let value = if kind == FieldKind::Get {
            0
        } else {
            int_arg(&a[j + 3])?
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == FieldKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Redis's checkSignedBitfieldOverflow, wrap-arounds included: `Some(result)` on overflow
/// (the wrapped or saturated value; unused under FAIL).
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let over = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let under = value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr);
    match ow {
        _ if !over && !under => None,
        Overflow::Wrap => Some(wrapped()),
        Overflow::Sat | Overflow::Fail => Some(if over { max } else { min }),
    }
}

/// Redis's checkUnsignedBitfieldOverflow (bits <= 63).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max: u64 = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let over = value > max || (incr > 0 && incr > max_incr);
    let under = !over && incr < 0 && incr < min_incr;
    match ow {
        _ if !over && !under => None,
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & !(u64::MAX << bits)),
        Overflow::Sat | Overflow::Fail => Some(if over { max } else { 0 }),
    }
}

/// Applies one SET/INCRBY to `s` (long enough). Returns the reply and, if it was carried out
/// (not refused by OVERFLOW FAIL), whether bits changed.
fn apply_field(s: &mut [u8], op: &FieldOp) -> (Value, Option<bool>) {
    let raw = get_field(s, op.offset, op.bits);
    let (reply, new, ok) = if op.signed {
        let old = sign_extend(raw, op.bits);
        let (new, ov, reply) = if op.kind == FieldKind::IncrBy {
            let ov = signed_overflow(old, op.value, op.bits, op.overflow);
            let new = ov.unwrap_or_else(|| old.wrapping_add(op.value));
            (new, ov, new)
        } else {
            let ov = signed_overflow(op.value, 0, op.bits, op.overflow);
            (ov.unwrap_or(op.value), ov, old)
        };
        (
            reply,
            new as u64,
            ov.is_none() || op.overflow != Overflow::Fail,
        )
    } else {
        let (new, ov, reply) = if op.kind == FieldKind::IncrBy {
            let ov = unsigned_overflow(raw, op.value, op.bits, op.overflow);
            let new = ov.unwrap_or_else(|| raw.wrapping_add(op.value as u64));
            (new, ov, new)
        } else {
            let v = op.value as u64;
            let ov = unsigned_overflow(v, 0, op.bits, op.overflow);
            (ov.unwrap_or(v), ov, raw)
        };
        (
            reply as i64,
            new,
            ov.is_none() || op.overflow != Overflow::Fail,
        )
    };
    if !ok {
        return (Value::Null, None);
    }
    set_field(s, op.offset, op.bits, new);
    let changed = get_field(s, op.offset, op.bits) != raw;
    (Value::Integer(reply), Some(changed))
}

fn read_field(s: &[u8], op: &FieldOp) -> Value {
    let raw = get_field(s, op.offset, op.bits);
    Value::Integer(if op.signed {
        sign_extend(raw, op.bits)
    } else {
        raw as i64
    })
}

/// BITFIELD with GETs only: a read.
fn bitfield_read(ks: &Keyspace, key: &[u8], ops: &[FieldOp], now: u64) -> Value {
    let s = match ks.get_str(key, now) {
        Ok(s) => s.map_or(&[][..], |s| s.as_ref()),
        Err(e) => return e,
    };
    Value::Array(ops.iter().map(|op| read_field(s, op)).collect())
}

pub fn bitfield(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let ops = match parse_field_ops(a) {
        Ok(ops) => ops,
        Err(e) => return e,
    };
    let writes = ops.iter().filter(|op| op.kind != FieldKind::Get);
    let Some(highest) = writes.map(|op| op.offset + u64::from(op.bits) - 1).max() else {
        return bitfield_read(ks, &a[1], &ops, c.now_ms);
    };
    // Redis makes room for every write first, so even a write that FAILs creates the key.
    let grown = match grow_for_write(ks, &a[1], (highest >> 3) as usize + 1, c.now_ms) {
        Ok(g) => g,
        Err(e) => return e,
    };
    let (replies, changed) = edit_str(ks, &a[1], |s| {
        let mut changed = false;
        let replies = ops
            .iter()
            .map(|op| {
                if op.kind == FieldKind::Get {
                    return read_field(s, op);
                }
                // Redis counts a write carried out on a grown string, or one that changed
                // bits (bitops.c `bitfieldGeneric`).
                let (reply, ch) = apply_field(s, op);
                changed |= ch.is_some_and(|ch| ch || grown);
                reply
            })
            .collect();
        (replies, changed)
    })
    .unwrap_or_default();
    if changed {
        ks.changed(&a[1], notify_class::STRING, "setbit");
    } else if grown {
        ks.modified(&a[1]);
    }
    Value::Array(replies)
}

pub fn bitfield_ro(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match parse_field_ops(a) {
        Ok(ops) if ops.iter().all(|op| op.kind == FieldKind::Get) => {
            bitfield_read(ks, &a[1], &ops, c.now_ms)
        }
        Ok(_) => err("ERR BITFIELD_RO only supports the GET subcommand"),
        Err(e) => e,
    }
}
