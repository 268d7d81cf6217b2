//! Listpack sizes, as Redis's listpack.c encodes elements: what decides when a stream
//! starts a new node (see [`super::stream`]).

use bytes::Bytes;

use super::id::StreamId;

/// Total-bytes (4) and count (2) header, and the end byte.
pub(crate) const HEADER_BYTES: u64 = 7;

/// Bytes of the back-length that follows an element whose encoding takes `len` bytes.
fn backlen_size(len: u64) -> u64 {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// An integer element (encoding and back-length).
pub(crate) fn int_size(v: i64) -> u64 {
    let encoded = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    encoded + backlen_size(encoded)
}

/// A string element: stored as an integer when it is one (listpack's `lpStringToInt64`,
/// the same canonical form as `string2ll`).
pub(crate) fn string_size(s: &Bytes) -> u64 {
    if s.len() < 21 {
        if let Some(v) = crate::util::parse_i64(s) {
            return int_size(v);
        }
    }
    let len = s.len() as u64;
    let encoded = match len {
        0..=63 => 1 + len,
        64..=4095 => 2 + len,
        _ => 5 + len,
    };
    encoded + backlen_size(encoded)
}

/// One entry appended to a node whose master entry is `master`: flags, the id as deltas
/// from the master, the field count and fields unless they are the master's, the values,
/// and the element count that lets Redis walk back.
pub(crate) fn entry_size(
    master: StreamId,
    id: StreamId,
    pairs: &[Bytes],
    same_fields: bool,
) -> u64 {
    let fields = pairs.len() as u64 / 2;
    let mut bytes = int_size(0); // flags: 0 or 2 (same fields), one byte either way
    bytes += int_size(id.ms.wrapping_sub(master.ms) as i64);
    bytes += int_size(id.seq.wrapping_sub(master.seq) as i64);
    let mut count = fields + 3;
    if !same_fields {
        bytes += int_size(fields as i64);
        count += fields + 1;
    }
    for (i, s) in pairs.iter().enumerate() {
        if same_fields && i % 2 == 0 {
            continue;
        }
        bytes += string_size(s);
    }
    bytes + int_size(count as i64)
}
