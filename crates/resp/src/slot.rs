//! Redis Cluster's key slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, mod 16384.
//! The server routes by them and the load generator follows them: one definition for both.

/// Hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16-CCITT as Redis Cluster uses it (XMODEM: polynomial 0x1021, initial value 0).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of a key: only the part between the first `{` and the next `}` is hashed, if that
/// part is not empty (so `{user1}.a` and `{user1}.b` share a slot).
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(length) if length > 0 => &key[open + 1..open + 1 + length],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    // Goal: slots match Redis Cluster's. Method: known values from the Redis Cluster spec.
    #[test]
    fn key_slots_match_redis_cluster() {
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"{}x"), key_slot(b"{}x"));
    }
}
