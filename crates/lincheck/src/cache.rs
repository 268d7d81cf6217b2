//! Memoisation of explored search configurations (Lowe), and the bitsets they are made of.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Approximate per-entry cost beyond the encoded bitsets (box header, table slot), in words.
const CACHE_ENTRY_OVERHEAD_WORDS: usize = 4;

/// The set of operations linearized so far.
struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    fn new(bits: usize) -> Self {
        Bitset {
            words: vec![0; bits.div_ceil(64)],
        }
    }

    fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    fn clear(&mut self, bit: usize) {
        self.words[bit / 64] &= !(1 << (bit % 64));
    }

    /// Writes a compact, injective encoding into `out`: runs of all-zero or all-one words become
    /// `[word, run length]`, other words are copied, and the trailing zero run is dropped (the
    /// length is fixed per search). The linearized set is mostly a solid prefix of ones followed
    /// by zeros, so a 2,000-operation set usually shrinks from 32 words to a handful - which is
    /// what keeps the cache small. Appends to `out`.
    fn encode_into(&self, out: &mut Vec<u64>) {
        let mut index = 0;
        while index < self.words.len() {
            let word = self.words[index];
            if word != 0 && word != u64::MAX {
                out.push(word);
                index += 1;
                continue;
            }
            let run = self.words[index..]
                .iter()
                .take_while(|&&other| other == word)
                .count();
            if word == 0 && index + run == self.words.len() {
                break;
            }
            out.push(word);
            out.push(run as u64);
            index += run;
        }
    }

    fn is_subset_of(&self, words: &[u64]) -> bool {
        self.words
            .iter()
            .zip(words)
            .all(|(&mine, &theirs)| mine & !theirs == 0)
    }

    fn count(&self) -> u32 {
        self.words.iter().map(|word| word.count_ones()).sum()
    }
}

/// A fast deterministic hasher (FxHash-style mixing with a final avalanche): the cache hashes a
/// bitset on every step, and SipHash's DoS resistance buys nothing here.
#[derive(Default)]
struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 60));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's fmix64: spreads the high-bit-only differences the multiply leaves behind.
        let mut hash = self.hash;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^ (hash >> 33)
    }
}

type FastBuild = BuildHasherDefault<FastHasher>;

/// The operations linearized so far, split into mandatory ones (they returned, or their answer
/// is known) and optional ones (indeterminate: no return, no answer), each numbered densely.
pub(crate) struct Linearized {
    mandatory: Bitset,
    optional: Bitset,
    /// Per operation: whether it is optional, and its index within its class.
    slots: Vec<(bool, usize)>,
    mandatory_done: usize,
    mandatory_total: usize,
    optional_done: usize,
}

impl Linearized {
    pub(crate) fn new(optional: &[bool]) -> Self {
        let mut counts = [0usize; 2];
        let slots: Vec<(bool, usize)> = optional
            .iter()
            .map(|&is_optional| {
                let count = &mut counts[usize::from(is_optional)];
                *count += 1;
                (is_optional, *count - 1)
            })
            .collect();
        Linearized {
            mandatory: Bitset::new(counts[0]),
            optional: Bitset::new(counts[1]),
            slots,
            mandatory_done: 0,
            mandatory_total: counts[0],
            optional_done: 0,
        }
    }

    pub(crate) fn set(&mut self, operation: usize) {
        match self.slots[operation] {
            (true, index) => {
                self.optional.set(index);
                self.optional_done += 1;
            }
            (false, index) => {
                self.mandatory.set(index);
                self.mandatory_done += 1;
            }
        }
    }

    pub(crate) fn clear(&mut self, operation: usize) {
        match self.slots[operation] {
            (true, index) => {
                self.optional.clear(index);
                self.optional_done -= 1;
            }
            (false, index) => {
                self.mandatory.clear(index);
                self.mandatory_done -= 1;
            }
        }
    }

    pub(crate) fn all_mandatory_done(&self) -> bool {
        self.mandatory_done == self.mandatory_total
    }

    /// Encodes (mandatory, optional) into `out`, injectively: the mandatory part's length is
    /// appended so the two parts cannot be confused. Returns that length.
    fn encode_into(&self, out: &mut Vec<u64>) -> usize {
        out.clear();
        self.mandatory.encode_into(out);
        let mandatory_length = out.len();
        self.optional.encode_into(out);
        out.push(mandatory_length as u64);
        mandatory_length
    }
}

/// Per (model state, encoded mandatory set): optional sets of configurations fully explored
/// without success. Kept few and small, since small sets subsume the most.
type Finished<S> = HashMap<S, HashMap<Box<[u64]>, Vec<Bitset>, FastBuild>, FastBuild>;

/// Finished configurations remembered per (state, mandatory set) for subsumption.
const FINISHED_PER_KEY_MAX: usize = 8;

/// Lowe's memoisation, plus subsumption for optional operations.
///
/// `seen` holds every configuration (linearized sets, model state) ever entered; entering one
/// twice is pointless. `finished` enables a stronger pruning when the history has optional
/// (indeterminate) operations: those may be left out of a linearization altogether, so a
/// configuration with *fewer* optional operations linearized, the same mandatory ones and the
/// same state can do everything this one can. If such a configuration was fully explored and
/// failed, this one fails too. (Only finished configurations count: one still on the search
/// stack has not failed yet.) This keeps sibling branches that differ only by optional
/// operations whose effect was overwritten from being explored twice.
pub(crate) struct Cache<S> {
    seen: HashMap<S, HashSet<Box<[u64]>, FastBuild>, FastBuild>,
    finished: Finished<S>,
    scratch: Vec<u64>,
    /// Approximate memory held, in 64-bit words.
    pub(crate) words: usize,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub(crate) fn new() -> Self {
        Cache {
            seen: HashMap::default(),
            finished: HashMap::default(),
            scratch: Vec::new(),
            words: 0,
        }
    }

    /// Records the configuration; `false` if it was seen before or is subsumed by a failed one.
    pub(crate) fn enter(&mut self, linearized: &Linearized, state: &S) -> bool {
        let mandatory_length = linearized.encode_into(&mut self.scratch);
        let seen = self.seen.get_mut(state);
        if seen
            .as_ref()
            .is_some_and(|seen| seen.contains(self.scratch.as_slice()))
        {
            return false;
        }
        if linearized.optional_done > 0
            && subsumed(
                &self.finished,
                &self.scratch[..mandatory_length],
                linearized,
                state,
            )
        {
            return false;
        }
        let key: Box<[u64]> = self.scratch.as_slice().into();
        match seen {
            Some(seen) => {
                seen.insert(key);
            }
            None => {
                let mut seen = HashSet::default();
                seen.insert(key);
                self.seen.insert(state.clone(), seen);
            }
        }
        self.words += self.scratch.len() + CACHE_ENTRY_OVERHEAD_WORDS;
        true
    }

    /// Notes that the configuration was fully explored without success. Only useful when the
    /// history has optional operations.
    pub(crate) fn finish(&mut self, linearized: &Linearized, state: &S) {
        let mandatory_length = linearized.encode_into(&mut self.scratch);
        let mandatory = &self.scratch[..mandatory_length];
        let by_mandatory = match self.finished.get_mut(state) {
            Some(by_mandatory) => by_mandatory,
            None => self.finished.entry(state.clone()).or_default(),
        };
        let failed = match by_mandatory.get_mut(mandatory) {
            Some(failed) => failed,
            None => by_mandatory.entry(mandatory.into()).or_default(),
        };
        let optional = &linearized.optional;
        if failed
            .iter()
            .any(|known| known.is_subset_of(&optional.words))
        {
            return;
        }
        let size = optional.count();
        if failed.len() < FINISHED_PER_KEY_MAX {
            failed.push(Bitset {
                words: optional.words.clone(),
            });
            self.words += mandatory_length + optional.words.len() + CACHE_ENTRY_OVERHEAD_WORDS;
        } else if let Some(largest) = failed.iter_mut().max_by_key(|known| known.count()) {
            // Smaller sets subsume more configurations: keep the smallest ones.
            if largest.count() > size {
                largest.words.clone_from(&optional.words);
            }
        }
    }
}

/// Whether a finished (failed) configuration with the same state and mandatory set, and a subset
/// of the optional operations, exists.
fn subsumed<S: Eq + Hash>(
    finished: &Finished<S>,
    mandatory: &[u64],
    linearized: &Linearized,
    state: &S,
) -> bool {
    let Some(failed) = finished
        .get(state)
        .and_then(|by_mandatory| by_mandatory.get(mandatory))
    else {
        return false;
    };
    failed
        .iter()
        .any(|optional| optional.is_subset_of(&linearized.optional.words))
}
