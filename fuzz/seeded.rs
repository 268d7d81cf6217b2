// What every fuzz harness shares (the seeded tests in crates/{resp,server,storage}/tests and
// the cargo-fuzz targets here, which include their crate's fuzz_checks by path, and it this
// file): the input count and seed from the environment, and a SplitMix64 generator. Each
// harness adds its own generators to `Rng` in its fuzz_checks module.

/// How many inputs a seeded test runs: `default`, or `NINESDB_FUZZ_INPUTS` for long runs.
pub fn input_count(default: u64) -> u64 {
    std::env::var("NINESDB_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The seed the generators start from: fixed, or `NINESDB_FUZZ_SEED` to explore other inputs.
pub fn base_seed(default: u64) -> u64 {
    std::env::var("NINESDB_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: one u64 of state, so a failing input is reproduced by its seed alone.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}
