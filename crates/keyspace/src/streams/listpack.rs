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

/// One element to write into a listpack.
pub(crate) enum Element<'a> {
    Int(i64),
    /// Stored as an integer when it is one, as `lpAppend` does.
    Str(&'a [u8]),
}

/// A listpack as Redis's listpack.c lays it out: total bytes and element count (65535 when
/// larger), each element's encoding then its back-length, and the end byte. Stream nodes
/// travel in this form in DUMP payloads and RDB files.
pub(crate) fn encode(elements: &[Element<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    for element in elements {
        let start = out.len();
        match element {
            Element::Int(v) => put_int(&mut out, *v),
            Element::Str(s) => match (s.len() < 21).then(|| crate::util::parse_i64(s)).flatten() {
                Some(v) => put_int(&mut out, v),
                None => put_str(&mut out, s),
            },
        }
        let len = (out.len() - start) as u64;
        put_backlen(&mut out, len);
    }
    out.push(0xff);
    let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&total.to_le_bytes());
    let count = u16::try_from(elements.len()).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&count.to_le_bytes());
    out
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    match v {
        0..=127 => out.push(v as u8),
        -4096..=4095 => {
            let u = (v as u16) & 0x1fff;
            out.push(0xc0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        -32768..=32767 => {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        -8_388_608..=8_388_607 => {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        -2_147_483_648..=2_147_483_647 => {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xe0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

/// The element's length written so that it reads right to left: 7 bits a byte, the high
/// bit set on every byte but the leftmost (listpack.c's `lpEncodeBacklen`).
fn put_backlen(out: &mut Vec<u8>, len: u64) {
    let bytes = backlen_size(len) as usize;
    for i in (0..bytes).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == bytes - 1 { group } else { group | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the encoder and the size model agree, and the dump reader reads back what the
    // encoder wrote. Method: integers at every encoding's edges and strings of every length
    // class, one listpack each.
    #[test]
    fn encoded_sizes_match_the_model_and_read_back() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            2_147_483_647,
            -2_147_483_648,
            2_147_483_648,
            i64::MIN,
            i64::MAX,
        ];
        for v in ints {
            let lp = encode(&[Element::Int(v)]);
            assert_eq!(lp.len() as u64, HEADER_BYTES + int_size(v), "{v}");
            let back = crate::dump::listpack(&lp).ok().expect("readable");
            assert_eq!(back, vec![Bytes::from(v.to_string())]);
        }
        for len in [0usize, 1, 63, 64, 127, 128, 4095, 4096, 20000] {
            let s = Bytes::from("x".repeat(len));
            let lp = encode(&[Element::Str(&s), Element::Str(b"12")]);
            let want = HEADER_BYTES + string_size(&s) + int_size(12);
            assert_eq!(lp.len() as u64, want, "{len}");
            let back = crate::dump::listpack(&lp).ok().expect("readable");
            assert_eq!(back, vec![s, Bytes::from_static(b"12")]);
        }
    }
}
