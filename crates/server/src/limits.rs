//! Client-side limits with Redis's names and units: `client-output-buffer-limit`,
//! `client-query-buffer-limit`, `maxmemory` and its policies. Parsing lives here so the flags,
//! the TOML file and `CONFIG GET` agree on one spelling.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Parses a Redis memory amount: `100`, `1k` (1000), `1kb` (1024), `5mb`, `2gb`, any case.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "'{text}' is not a memory amount (say 100, 64kb, 5mb or 2gb)"
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a memory amount (say 100, 64kb, 5mb or 2gb)"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Redis's `client-output-buffer-limit` for one class of clients: a client whose pending
/// replies pass `hard` bytes is closed at once; one that stays above `soft` bytes for
/// `soft_seconds` is closed too. Zero turns a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl OutputLimit {
    /// Redis's default for pub/sub clients: 32mb 8mb 60.
    pub const PUBSUB_DEFAULT: OutputLimit = OutputLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_seconds: 60,
    };

    /// Whether any limit is set (Redis's default for normal clients sets none).
    pub fn is_set(&self) -> bool {
        self.hard > 0 || self.soft > 0
    }

    /// Redis's `CONFIG GET` spelling of the three numbers.
    pub fn redis_text(&self) -> String {
        format!("{} {} {}", self.hard, self.soft, self.soft_seconds)
    }
}

/// The classes of `client-output-buffer-limit` ninesdb has (Redis's `replica` class has no
/// meaning here: replicas are Raft peers with their own bounded queues).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal,
    Pubsub,
}

/// Parses one `client-output-buffer-limit` value: `<class> <hard> <soft> <soft seconds>`,
/// possibly several classes in one string as Redis's config file allows.
pub fn parse_output_limits(text: &str) -> Result<Vec<(ClientClass, OutputLimit)>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err(format!(
            "client-output-buffer-limit wants '<class> <hard> <soft> <soft-seconds>', e.g. 'normal 64mb 16mb 60', got '{text}'"
        ));
    }
    words
        .chunks(4)
        .map(|chunk| {
            let class = match chunk[0].to_ascii_lowercase().as_str() {
                "normal" => ClientClass::Normal,
                "pubsub" => ClientClass::Pubsub,
                other => {
                    return Err(format!(
                        "client-output-buffer-limit: unknown class '{other}' (normal or pubsub)"
                    ))
                }
            };
            let soft_seconds = chunk[3]
                .parse()
                .map_err(|_| format!("'{}' is not a number of seconds", chunk[3]))?;
            Ok((
                class,
                OutputLimit {
                    hard: parse_memory(chunk[1])?,
                    soft: parse_memory(chunk[2])?,
                    soft_seconds,
                },
            ))
        })
        .collect()
}

/// Tracks one connection's pending output against its limit.
#[derive(Debug)]
pub struct OutputWatch {
    limit: OutputLimit,
    /// Since when the pending output has been above the soft limit.
    above_soft_since: Option<Instant>,
}

/// Why a client was closed for its output.
#[derive(Debug, PartialEq, Eq)]
pub enum OutputVerdict {
    Keep,
    /// Closed: pending bytes and the limit passed.
    Close(String),
}

impl OutputWatch {
    pub fn new(limit: OutputLimit) -> OutputWatch {
        OutputWatch {
            limit,
            above_soft_since: None,
        }
    }

    pub fn limit(&self) -> OutputLimit {
        self.limit
    }

    /// Checks `pending` reply bytes (held by this node, not yet taken by the socket) at `now`.
    pub fn check(&mut self, pending: usize, now: Instant) -> OutputVerdict {
        let pending = pending as u64;
        if self.limit.hard > 0 && pending > self.limit.hard {
            return OutputVerdict::Close(format!(
                "{pending} bytes of replies pending passed the hard limit of {} bytes",
                self.limit.hard
            ));
        }
        if self.limit.soft == 0 || pending <= self.limit.soft {
            self.above_soft_since = None;
            return OutputVerdict::Keep;
        }
        let since = *self.above_soft_since.get_or_insert(now);
        if now.duration_since(since) >= Duration::from_secs(self.limit.soft_seconds) {
            return OutputVerdict::Close(format!(
                "{pending} bytes of replies pending stayed above the soft limit of {} bytes for {} s",
                self.limit.soft, self.limit.soft_seconds
            ));
        }
        OutputVerdict::Keep
    }
}

/// Redis's `maxmemory-policy`: what a leader evicts when its node is over `maxmemory`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvictionPolicy {
    /// Refuse writes that add data (`-OOM`), evict nothing.
    #[default]
    Noeviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::Noeviction,
        EvictionPolicy::AllkeysLru,
        EvictionPolicy::AllkeysLfu,
        EvictionPolicy::AllkeysRandom,
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::Noeviction => "noeviction",
            EvictionPolicy::AllkeysLru => "allkeys-lru",
            EvictionPolicy::AllkeysLfu => "allkeys-lfu",
            EvictionPolicy::AllkeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn parse(text: &str) -> Result<EvictionPolicy, String> {
        let lower = text.to_ascii_lowercase();
        EvictionPolicy::ALL
            .into_iter()
            .find(|p| p.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = EvictionPolicy::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "maxmemory-policy '{text}' is not one of {}",
                    names.join(", ")
                )
            })
    }

    /// The keyspace's sampling rule for this policy (`None`: evict nothing).
    pub fn eviction(self) -> Option<keyspace::Eviction> {
        use keyspace::Eviction as E;
        Some(match self {
            EvictionPolicy::Noeviction => return None,
            EvictionPolicy::AllkeysLru => E::Lru { volatile: false },
            EvictionPolicy::AllkeysLfu => E::Lfu { volatile: false },
            EvictionPolicy::AllkeysRandom => E::Random { volatile: false },
            EvictionPolicy::VolatileLru => E::Lru { volatile: true },
            EvictionPolicy::VolatileLfu => E::Lfu { volatile: true },
            EvictionPolicy::VolatileRandom => E::Random { volatile: true },
            EvictionPolicy::VolatileTtl => E::Ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("100"), Ok(100));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1KB"), Ok(1024));
        assert_eq!(parse_memory("5mb"), Ok(5 << 20));
        assert_eq!(parse_memory("2g"), Ok(2_000_000_000));
        assert!(parse_memory("5 tb").is_err());
        assert!(parse_memory("mb").is_err());
        assert!(parse_memory("99999999999999999999gb").is_err());
    }

    #[test]
    fn output_limits_parse_per_class() {
        let parsed = parse_output_limits("normal 4mb 2mb 10 pubsub 32mb 8mb 60").unwrap();
        assert_eq!(
            parsed,
            vec![
                (
                    ClientClass::Normal,
                    OutputLimit {
                        hard: 4 << 20,
                        soft: 2 << 20,
                        soft_seconds: 10
                    }
                ),
                (ClientClass::Pubsub, OutputLimit::PUBSUB_DEFAULT),
            ]
        );
        assert!(parse_output_limits("replica 1 1 1").is_err());
        assert!(parse_output_limits("normal 1 1").is_err());
    }

    #[test]
    fn hard_closes_at_once_soft_after_its_seconds() {
        let limit = OutputLimit {
            hard: 1000,
            soft: 100,
            soft_seconds: 5,
        };
        let start = Instant::now();
        let mut watch = OutputWatch::new(limit);
        assert_eq!(watch.check(1000, start), OutputVerdict::Keep);
        assert!(matches!(watch.check(1001, start), OutputVerdict::Close(_)));
        let mut watch = OutputWatch::new(limit);
        assert_eq!(watch.check(200, start), OutputVerdict::Keep);
        assert_eq!(
            watch.check(200, start + Duration::from_secs(4)),
            OutputVerdict::Keep
        );
        // Dropping below soft restarts the clock.
        assert_eq!(
            watch.check(50, start + Duration::from_secs(4)),
            OutputVerdict::Keep
        );
        assert_eq!(
            watch.check(200, start + Duration::from_secs(6)),
            OutputVerdict::Keep
        );
        assert!(matches!(
            watch.check(200, start + Duration::from_secs(11)),
            OutputVerdict::Close(_)
        ));
    }

    #[test]
    fn policies_round_trip_by_name() {
        for policy in EvictionPolicy::ALL {
            assert_eq!(EvictionPolicy::parse(policy.name()), Ok(policy));
        }
        assert_eq!(
            EvictionPolicy::parse("ALLKEYS-LRU"),
            Ok(EvictionPolicy::AllkeysLru)
        );
        assert!(EvictionPolicy::parse("lru").is_err());
    }
}
