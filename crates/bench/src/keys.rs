//! Key choice: uniform or zipfian over `--keys` keys, with a tiny per-connection PRNG
//! (no shared state on the hot path, reproducible per connection).

use std::sync::Arc;

/// Fixed-width keys (`key:000000001234`, like redis-benchmark's `-r`) so every command of a
/// run has the same size.
pub const KEY_LEN: usize = 16;

pub struct KeyGen {
    state: u64,
    keys: u64,
    /// Cumulative distribution for zipfian skew; `None` means uniform.
    cdf: Option<Arc<Vec<f64>>>,
}

/// Builds the shared zipfian CDF once (O(keys)); `None` for skew 0 (uniform).
pub fn zipf_cdf(keys: u64, skew: f64) -> Option<Arc<Vec<f64>>> {
    if skew <= 0.0 {
        return None;
    }
    let mut cdf = Vec::with_capacity(keys as usize);
    let mut total = 0.0;
    for rank in 1..=keys {
        total += 1.0 / (rank as f64).powf(skew);
        cdf.push(total);
    }
    cdf.iter_mut().for_each(|c| *c /= total);
    Some(Arc::new(cdf))
}

impl KeyGen {
    pub fn new(seed: u64, keys: u64, cdf: Option<Arc<Vec<f64>>>) -> Self {
        // splitmix64 of the seed: distinct connections get unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        KeyGen {
            state: (z ^ (z >> 31)) | 1,
            keys: keys.max(1),
            cdf,
        }
    }

    /// xorshift64*: plenty for spreading load, a few ns per call.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_index(&mut self) -> u64 {
        let r = self.next_u64();
        match &self.cdf {
            None => r % self.keys,
            Some(cdf) => {
                let u = (r >> 11) as f64 / (1u64 << 53) as f64;
                cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u64
            }
        }
    }

    /// The next request of `workload`: whether it writes, and its key (mixed: a fair coin).
    pub fn next_request(&mut self, workload: crate::Workload) -> (bool, [u8; KEY_LEN]) {
        let write = match workload {
            crate::Workload::Write => true,
            crate::Workload::Read => false,
            crate::Workload::Mixed => self.next_u64() & 1 == 0,
        };
        let mut key = [0u8; KEY_LEN];
        self.next_key(&mut key);
        (write, key)
    }

    /// Writes the next key into `out`.
    pub fn next_key(&mut self, out: &mut [u8; KEY_LEN]) {
        let mut n = self.next_index();
        out[..4].copy_from_slice(b"key:");
        for slot in out[4..].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_width_and_in_range() {
        let mut gen = KeyGen::new(1, 100, None);
        let mut key = [0u8; KEY_LEN];
        for _ in 0..1000 {
            gen.next_key(&mut key);
            let n: u64 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
            assert!(n < 100);
        }
    }

    #[test]
    fn zipf_prefers_low_ranks() {
        let mut gen = KeyGen::new(7, 1000, zipf_cdf(1000, 1.0));
        let hot = (0..10_000).filter(|_| gen.next_index() < 10).count();
        assert!(hot > 2_000, "top 1% of keys got only {hot} of 10000 picks");
    }
}
