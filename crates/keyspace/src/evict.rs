//! Memory accounting and eviction choices for `maxmemory`.
//!
//! The keyspace keeps an estimate of the bytes its data takes ([`Keyspace::memory_used`]):
//! per key, its name, a fixed overhead, and its value (a string's length; an aggregate's
//! element count times the average size of a few sampled elements, as Redis's
//! `MEMORY USAGE` samples). The estimate is derived from the data alone, so every replica
//! computes the same number.
//!
//! The leader decides what to evict ([`Keyspace::eviction_candidates`]) and replicates the
//! decision as an ordinary `DEL`, so replicas never choose for themselves. LRU and LFU use
//! per-key access bookkeeping ([`Access`]) that this replica alone keeps: reads are served by
//! the leader and are not in the log, so no other replica could know them. It is not
//! replicated, not in snapshots and not in the digest.

use std::cell::Cell;

use bytes::Bytes;

use crate::{Data, Entry, Keyspace};

/// Redis's `maxmemory-policy` as a rule for picking victims (`noeviction` has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Least recently used; `volatile`: only among keys with a TTL.
    Lru {
        volatile: bool,
    },
    /// Least frequently used (Redis's logarithmic counter with decay).
    Lfu {
        volatile: bool,
    },
    Random {
        volatile: bool,
    },
    /// The keys whose TTL runs out first.
    Ttl,
}

/// Bytes counted per key beyond its name and value (the map entry, the indexes).
const KEY_OVERHEAD: u64 = 64;
/// Bytes counted per element of an aggregate beyond its own bytes.
const ELEMENT_OVERHEAD: u64 = 16;
/// Elements sampled to estimate an aggregate's average element size (Redis's default for
/// `MEMORY USAGE`).
const SIZE_SAMPLES: usize = 5;
/// Redis's LFU constants: the counter a new key starts with, the log factor, and the
/// period after which an unused key's counter drops by one (`lfu-decay-time` 1 minute).
const LFU_INIT: u8 = 5;
const LFU_LOG_FACTOR: f64 = 10.0;
const LFU_DECAY_MS: u64 = 60_000;
/// Samples drawn for one choice at most (bounds its cost on a huge keyspace).
const POOL_DRAWS_MAX: usize = 1 << 14;
/// Keys looked at past a sampled position to find one with a TTL (volatile policies).
const VOLATILE_PROBE: usize = 64;

/// The estimated bytes of one key and its value.
pub(crate) fn entry_size(key: &[u8], data: &Data) -> u64 {
    fn aggregate(count: usize, sample: impl Iterator<Item = u64>) -> u64 {
        let (sum, n) = sample
            .take(SIZE_SAMPLES)
            .fold((0u64, 0u64), |(s, n), size| (s + size, n + 1));
        let average = sum.checked_div(n).unwrap_or(0);
        (count as u64).saturating_mul(average + ELEMENT_OVERHEAD)
    }
    let value = match data {
        Data::Str(s) => s.len() as u64,
        Data::Hash(h) => aggregate(h.len(), h.iter().map(|(f, v)| (f.len() + v.len()) as u64)),
        Data::List(l) => aggregate(l.len(), l.iter().map(|e| e.len() as u64)),
        Data::Set(s) => aggregate(s.len(), s.iter().map(|m| m.len() as u64)),
        Data::ZSet(z) => aggregate(z.len(), z.iter().map(|(m, _)| m.len() as u64 + 8)),
        Data::Stream(s) => s.size_estimate(),
    };
    KEY_OVERHEAD + key.len() as u64 + value
}

/// What this replica saw of a key's use (see the module comment). Always equal to any other:
/// it is bookkeeping, not state.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    last_ms: Cell<u64>,
    lfu: Cell<u8>,
    lfu_decayed_ms: Cell<u64>,
}

impl PartialEq for Access {
    fn eq(&self, _: &Access) -> bool {
        true
    }
}

impl Access {
    pub(crate) fn new(now_ms: u64) -> Access {
        Access {
            last_ms: Cell::new(now_ms),
            lfu: Cell::new(LFU_INIT),
            lfu_decayed_ms: Cell::new(now_ms),
        }
    }

    /// Records a use of `key` at `now_ms`.
    pub(crate) fn touch(&self, key: &[u8], now_ms: u64) {
        self.last_ms.set(self.last_ms.get().max(now_ms));
        let counter = self.lfu_now(now_ms);
        self.lfu_decayed_ms
            .set(now_ms.max(self.lfu_decayed_ms.get()));
        // Redis's LFULogIncr: the higher the counter, the less likely one use raises it.
        // The coin is a hash of the key and the time: no random source in the keyspace.
        if counter < u8::MAX {
            let base = f64::from(counter.saturating_sub(LFU_INIT));
            let p = 1.0 / (base * LFU_LOG_FACTOR + 1.0);
            let coin = (crate::util::hash64(&[key, &now_ms.to_le_bytes()].concat()) >> 11) as f64
                / (1u64 << 53) as f64;
            self.lfu.set(if coin < p { counter + 1 } else { counter });
        } else {
            self.lfu.set(counter);
        }
    }

    /// The LFU counter after the decay due by `now_ms` (one step per elapsed period).
    fn lfu_now(&self, now_ms: u64) -> u8 {
        let periods = now_ms.saturating_sub(self.lfu_decayed_ms.get()) / LFU_DECAY_MS;
        let counter = u64::from(self.lfu.get()).saturating_sub(periods);
        counter as u8
    }
}

/// A small deterministic generator (splitmix64) for sampling positions.
struct Positions(u64);

impl Iterator for Positions {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Some(z ^ (z >> 31))
    }
}

impl Keyspace {
    /// The estimated bytes of all keys and values (see the module comment).
    pub fn memory_used(&self) -> u64 {
        self.used_bytes
    }

    /// The estimate recomputed from scratch: equals [`Keyspace::memory_used`] unless the
    /// bookkeeping missed a change (tests check that it never does).
    pub fn memory_recount(&self) -> u64 {
        self.keys.iter().map(|(k, e)| entry_size(k, &e.data)).sum()
    }

    /// The estimated bytes of one key and its value (`MEMORY USAGE`), if it exists.
    pub fn key_memory(&self, key: &[u8]) -> Option<u64> {
        self.keys.get(key).map(|e| e.size)
    }

    /// Re-estimates `key` after a change and moves the total by the difference.
    pub(crate) fn resize(&mut self, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(key) {
            let size = entry_size(key, &e.data);
            self.used_bytes = self.used_bytes - e.size + size;
            e.size = size;
        }
    }

    /// Up to `count` keys to evict under `rule` at `now_ms`, best victims first. Each is the
    /// best of `samples` sampled keys (Redis's approximated LRU/LFU); `seed` picks the
    /// samples. Keys already expired are the first victims of every rule.
    pub fn eviction_candidates(
        &self,
        rule: Eviction,
        now_ms: u64,
        seed: u64,
        samples: usize,
        count: usize,
    ) -> Vec<Bytes> {
        if let Eviction::Ttl = rule {
            // Exact, not sampled: the expiry index is ordered.
            return self
                .expires
                .iter()
                .map(|(_, k)| k.clone())
                .take(count)
                .collect();
        }
        let volatile = matches!(
            rule,
            Eviction::Lru { volatile: true }
                | Eviction::Lfu { volatile: true }
                | Eviction::Random { volatile: true }
        );
        if self.keys.is_empty() || (volatile && self.expires.is_empty()) {
            return Vec::new();
        }
        // Redis's eviction pool, in one pass: sample `samples` keys per victim wanted, then
        // take the best of all of them, best first. (Best of each group of `samples` alone
        // would let a group that happens to hold only hot keys give one up.)
        let draws = count.saturating_mul(samples.max(1)).min(POOL_DRAWS_MAX);
        let mut pool: std::collections::BTreeMap<&Bytes, u64> = std::collections::BTreeMap::new();
        let mut positions = Positions(seed);
        for draw in 0..draws as u64 {
            let Some((key, entry)) = self.sample(positions.next().unwrap_or(0), volatile) else {
                continue;
            };
            let score = match rule {
                Eviction::Lru { .. } => entry.access.last_ms.get(),
                Eviction::Lfu { .. } => u64::from(entry.access.lfu_now(now_ms)),
                Eviction::Random { .. } | Eviction::Ttl => draw,
            };
            pool.entry(key).or_insert(score);
        }
        let mut ranked: Vec<(u64, &Bytes)> = pool.into_iter().map(|(k, s)| (s, k)).collect();
        ranked.sort();
        ranked
            .into_iter()
            .take(count)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The key at or after a random scan position (wrapping), with a TTL if `volatile`.
    fn sample(&self, position: u64, volatile: bool) -> Option<(&Bytes, &Entry)> {
        let start = (position >> (64 - crate::SCAN_CURSOR_BITS + 1), Bytes::new());
        let probe = if volatile { VOLATILE_PROBE } else { 1 };
        let found = self
            .scan_index
            .range(start.clone()..)
            .chain(self.scan_index.range(..start))
            .take(probe)
            .filter_map(|(_, k)| self.keys.get_key_value(k))
            .find(|(_, e)| !volatile || e.expire.is_some());
        if found.is_some() || !volatile || self.expires.is_empty() {
            return found;
        }
        // Few keys have a TTL: take one of the first in the expiry index instead (a bounded
        // walk, so a sample never costs more than a few dozen steps).
        let reach = self.expires.len().min(VOLATILE_PROBE) as u64;
        let (_, key) = self.expires.iter().nth((position % reach) as usize)?;
        self.keys.get_key_value(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    fn ks_with(commands: &[&[&str]]) -> Keyspace {
        let mut ks = Keyspace::new();
        for (i, c) in commands.iter().enumerate() {
            let args: Vec<Bytes> = c.iter().map(|s| Bytes::from(s.to_string())).collect();
            ks.apply(
                &args,
                Context {
                    now_ms: 1_000 + i as u64,
                    seed: i as u64,
                },
            );
        }
        ks
    }

    #[test]
    fn the_estimate_follows_writes_and_deletes() {
        let mut ks = ks_with(&[&["SET", "a", "xxxxxxxxxx"]]);
        assert_eq!(ks.memory_used(), KEY_OVERHEAD + 1 + 10);
        ks.apply(
            &[
                Bytes::from("APPEND"),
                Bytes::from("a"),
                Bytes::from("yyyyy"),
            ],
            Context {
                now_ms: 2_000,
                seed: 0,
            },
        );
        assert_eq!(ks.memory_used(), KEY_OVERHEAD + 1 + 15);
        ks.apply(
            &[Bytes::from("RPUSH"), Bytes::from("l"), Bytes::from("abcd")],
            Context {
                now_ms: 2_000,
                seed: 0,
            },
        );
        assert_eq!(ks.memory_used(), ks.memory_recount());
        ks.apply(
            &[Bytes::from("DEL"), Bytes::from("a"), Bytes::from("l")],
            Context {
                now_ms: 2_000,
                seed: 0,
            },
        );
        assert_eq!(ks.memory_used(), 0);
    }

    #[test]
    fn an_aggregate_is_its_count_times_its_sampled_average() {
        let ks = ks_with(&[
            &["HSET", "h", "f1", "abc", "field2", "v"],
            &["RPUSH", "l", "a", "bbb"],
            &["SADD", "s", "xy"],
            &["ZADD", "z", "1", "m", "2", "mmm"],
        ]);
        let per_key = |key: &str| KEY_OVERHEAD + key.len() as u64;
        // (2+3 + 6+1) / 2 = 6 bytes per field and value, plus the element overhead.
        assert_eq!(
            ks.key_memory(b"h"),
            Some(per_key("h") + 2 * (6 + ELEMENT_OVERHEAD))
        );
        assert_eq!(
            ks.key_memory(b"l"),
            Some(per_key("l") + 2 * (2 + ELEMENT_OVERHEAD))
        );
        assert_eq!(
            ks.key_memory(b"s"),
            Some(per_key("s") + (2 + ELEMENT_OVERHEAD))
        );
        // A member and its 8-byte score: (1+8 + 3+8) / 2 = 10.
        assert_eq!(
            ks.key_memory(b"z"),
            Some(per_key("z") + 2 * (10 + ELEMENT_OVERHEAD))
        );
        assert_eq!(ks.key_memory(b"missing"), None);
    }

    #[test]
    fn lfu_follows_redis_logarithmic_table() {
        let access = Access::new(0);
        assert_eq!(access.lfu_now(0), LFU_INIT);
        access.touch(b"k", 0);
        assert_eq!(
            access.lfu_now(0),
            LFU_INIT + 1,
            "the first use always counts"
        );
        // Redis's documented counters for lfu-log-factor 10: 100 hits about 10, 1,000 about
        // 18. The coin is a hash of key and time here: the median of 21 keys must match.
        let median_after = |hits: u64| {
            let mut counters: Vec<u8> = (0..21u8)
                .map(|k| {
                    let access = Access::new(0);
                    for now in 0..hits {
                        access.touch(&[k], now);
                    }
                    access.lfu_now(hits)
                })
                .collect();
            counters.sort_unstable();
            counters[10]
        };
        let hundred = median_after(100);
        assert!((9..=11).contains(&hundred), "100 uses: {hundred}");
        let thousand = median_after(1_000);
        assert!((17..=21).contains(&thousand), "1,000 uses: {thousand}");
    }

    #[test]
    fn lru_picks_the_key_used_longest_ago() {
        let ks = ks_with(&[&["SET", "old", "1"], &["SET", "new", "1"]]);
        // Read "old" later than "new" was written: "new" is now the least recently used.
        ks.read(
            &[Bytes::from("GET"), Bytes::from("old")],
            Context {
                now_ms: 5_000,
                seed: 0,
            },
        );
        let victims = ks.eviction_candidates(Eviction::Lru { volatile: false }, 6_000, 7, 10, 1);
        assert_eq!(victims, vec![Bytes::from("new")]);
    }

    #[test]
    fn volatile_rules_never_pick_a_key_without_ttl() {
        let ks = ks_with(&[
            &["SET", "keep1", "1"],
            &["SET", "keep2", "1"],
            &["SET", "ttl", "1", "PX", "100000"],
        ]);
        for rule in [
            Eviction::Lru { volatile: true },
            Eviction::Lfu { volatile: true },
            Eviction::Random { volatile: true },
            Eviction::Ttl,
        ] {
            for seed in 0..20 {
                let victims = ks.eviction_candidates(rule, 2_000, seed, 5, 3);
                assert_eq!(victims, vec![Bytes::from("ttl")], "{rule:?} seed {seed}");
            }
        }
        let none = ks_with(&[&["SET", "a", "1"]]);
        assert!(none
            .eviction_candidates(Eviction::Ttl, 2_000, 1, 5, 3)
            .is_empty());
    }

    #[test]
    fn a_rare_ttl_key_is_found_through_the_expiry_index() {
        // 300 keys without a TTL around one with: probing past sampled positions rarely
        // meets it, so the expiry index must supply it, and no other key may be chosen.
        let mut commands: Vec<Vec<String>> = (0..300)
            .map(|i| vec!["SET".into(), format!("plain{i}"), "1".into()])
            .collect();
        commands.push(vec![
            "SET".into(),
            "ttl".into(),
            "1".into(),
            "PX".into(),
            "100000".into(),
        ]);
        let commands: Vec<Vec<&str>> = commands
            .iter()
            .map(|c| c.iter().map(String::as_str).collect())
            .collect();
        let refs: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
        let ks = ks_with(&refs);
        for rule in [
            Eviction::Lru { volatile: true },
            Eviction::Lfu { volatile: true },
            Eviction::Random { volatile: true },
        ] {
            for seed in 0..10 {
                let victims = ks.eviction_candidates(rule, 2_000, seed, 5, 2);
                assert_eq!(victims, vec![Bytes::from("ttl")], "{rule:?} seed {seed}");
            }
        }
    }

    #[test]
    fn allkeys_rules_find_distinct_keys() {
        let ks = ks_with(&[&["SET", "a", "1"], &["SET", "b", "1"], &["SET", "c", "1"]]);
        let mut victims =
            ks.eviction_candidates(Eviction::Random { volatile: false }, 2_000, 3, 5, 3);
        victims.sort();
        assert_eq!(
            victims,
            vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")]
        );
    }

    #[test]
    fn lfu_counts_uses_logarithmically_and_decays() {
        let access = Access::new(0);
        for i in 0..1_000 {
            access.touch(b"k", i);
        }
        let hot = access.lfu_now(1_000);
        assert!(hot > LFU_INIT + 5 && hot < 60, "counter {hot}");
        // Ten idle minutes take ten off.
        assert_eq!(access.lfu_now(1_000 + 10 * LFU_DECAY_MS), hot - 10);
    }
}

#[cfg(test)]
mod lru_pattern {
    use super::*;
    use crate::Context;

    #[test]
    fn hot_keys_survive_a_stream_of_cold_writes() {
        let mut ks = Keyspace::new();
        let ctx = |now_ms| Context { now_ms, seed: 0 };
        let b = |s: &str| Bytes::from(s.to_owned());
        let value = Bytes::from(vec![b'x'; 20 << 10]);
        let mut now = 1_000;
        for h in 0..10 {
            ks.apply(&[b("SET"), b(&format!("hot{h}")), b("1")], ctx(now));
        }
        let max = 2 << 20;
        for i in 0..300 {
            now += 1;
            ks.apply(&[b("SET"), b(&format!("cold{i}")), value.clone()], ctx(now));
            for h in 0..10 {
                ks.read(&[b("GET"), b(&format!("hot{h}"))], ctx(now));
            }
            if i % 20 == 19 {
                let mut excess = ks.memory_used().saturating_sub(max);
                let victims =
                    ks.eviction_candidates(Eviction::Lru { volatile: false }, now, i, 5, 512);
                let mut del = vec![b("DEL")];
                for key in victims {
                    if excess == 0 {
                        break;
                    }
                    excess = excess.saturating_sub(ks.key_memory(&key).unwrap());
                    assert!(!key.starts_with(b"hot"), "evicted {key:?} at {i}");
                    del.push(key);
                }
                ks.apply(&del, ctx(now));
            }
        }
    }
}
