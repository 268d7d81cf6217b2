//! What this node's clients asked and how it went: calls, time and errors per command
//! (Redis's INFO commandstats and errorstats, and the `/metrics` latency histograms), and the
//! slow log (SLOWLOG). Counted where a command's reply is ready, so a command's time is
//! what its client waited: routing, forwarding, the log round and the apply.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use resp::Value;

/// Distinct command names counted; past it, others are counted as "other" (names come from
/// clients, and a client must not grow this map without bound).
const COMMAND_NAMES_MAX: usize = 512;
/// Distinct error prefixes counted (Redis caps its error stats at 128 too).
const ERROR_KINDS_MAX: usize = 128;
/// Redis's defaults for `slowlog-log-slower-than` (µs) and `slowlog-max-len`.
pub const SLOWLOG_SLOWER_THAN_DEFAULT: i64 = 10_000;
pub const SLOWLOG_MAX_LEN_DEFAULT: u64 = 128;
/// Redis's limits on what a slow log entry keeps of a command (slowlog.c).
const SLOWLOG_ARGS_MAX: usize = 32;
const SLOWLOG_ARG_BYTES_MAX: usize = 128;
/// The slow log's length is capped whatever is configured (each entry holds up to ~4 KiB).
pub const SLOWLOG_MAX_LEN_CAP: u64 = 100_000;

/// One command's figures: its calls and their time are `latency`'s count and sum.
#[derive(Clone, Debug, Default)]
pub struct CommandStat {
    pub latency: crate::metrics::Histogram,
    /// Refused before running (unknown arguments, NOAUTH, NOPERM, OOM...): Redis's
    /// `rejected_calls`. ninesdb cannot always tell refusal from failure by the reply,
    /// so an error reply counts as failed unless it is one of Redis's rejections.
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// A slow log entry (slowlog.c's `slowlogEntry`).
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_time: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

#[derive(Default)]
struct Inner {
    commands: BTreeMap<String, CommandStat>,
    errors: BTreeMap<String, u64>,
    slowlog: VecDeque<SlowEntry>,
    next_slow_id: u64,
}

/// This node's command statistics and slow log.
pub struct Stats {
    inner: Mutex<Inner>,
    /// `slowlog-log-slower-than` in µs (negative: off, 0: every command).
    slower_than: std::sync::atomic::AtomicI64,
    slowlog_max_len: AtomicU64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            inner: Mutex::default(),
            slower_than: std::sync::atomic::AtomicI64::new(SLOWLOG_SLOWER_THAN_DEFAULT),
            slowlog_max_len: AtomicU64::new(SLOWLOG_MAX_LEN_DEFAULT),
        }
    }
}

/// Whom a command came from, for the slow log.
pub struct Caller<'a> {
    pub peer: &'a str,
    pub name: &'a str,
}

/// An error reply's kind: its first word (`ERR`, `WRONGTYPE`, `MOVED`...), as Redis's
/// errorstats counts it.
fn error_kind(text: &str) -> &str {
    text.split(' ').next().unwrap_or("ERR")
}

/// Redis counts these as rejected (the command never ran), the others as failed.
fn is_rejection(kind: &str) -> bool {
    matches!(
        kind,
        "NOAUTH"
            | "NOPERM"
            | "OOM"
            | "LOADING"
            | "BUSY"
            | "CROSSSLOT"
            | "MOVED"
            | "ASK"
            | "TRYAGAIN"
            | "CLUSTERDOWN"
            | "MISCONF"
            | "NOSCRIPT"
            | "EXECABORT"
    )
}

fn lock(stats: &Stats) -> std::sync::MutexGuard<'_, Inner> {
    stats.inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stats {
    /// Counts one command: `name` lower-case, its time, and its reply's error text if any.
    /// `slowlog`: whether the command may enter the slow log (Redis keeps the ones flagged
    /// `skip_slowlog`, such as AUTH, out).
    pub fn record(
        &self,
        args: &[Bytes],
        took: Duration,
        error: Option<&str>,
        caller: &Caller<'_>,
        slowlog: bool,
    ) {
        let name = args
            .first()
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
            .unwrap_or_default();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut inner = lock(self);
        let known = inner.commands.contains_key(&name);
        let key = if known || inner.commands.len() < COMMAND_NAMES_MAX {
            name
        } else {
            "other".to_owned()
        };
        let stat = inner.commands.entry(key).or_default();
        stat.latency.observe(micros);
        if let Some(text) = error {
            let kind = error_kind(text).to_owned();
            if is_rejection(&kind) {
                stat.rejected_calls += 1;
            } else {
                stat.failed_calls += 1;
            }
            let counted = inner.errors.contains_key(&kind);
            if counted || inner.errors.len() < ERROR_KINDS_MAX {
                *inner.errors.entry(kind).or_default() += 1;
            }
        }
        let slower_than = self.slower_than.load(Ordering::Relaxed);
        if slowlog && slower_than >= 0 && micros >= slower_than.unsigned_abs() {
            let max_len = self.slowlog_max_len.load(Ordering::Relaxed);
            let id = inner.next_slow_id;
            inner.next_slow_id += 1;
            inner.slowlog.push_front(SlowEntry {
                id,
                unix_time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                micros,
                args: slow_args(args),
                peer: caller.peer.to_owned(),
                name: caller.name.to_owned(),
            });
            inner.slowlog.truncate(max_len as usize);
        }
    }

    /// Every command's figures, by name.
    pub fn commands(&self) -> BTreeMap<String, CommandStat> {
        lock(self).commands.clone()
    }

    /// Error replies by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(self).errors.clone()
    }

    /// CONFIG RESETSTAT: the counters start again (the slow log stays, as in Redis).
    pub fn reset(&self) {
        let mut inner = lock(self);
        inner.commands.clear();
        inner.errors.clear();
    }

    pub fn slower_than(&self) -> i64 {
        self.slower_than.load(Ordering::Relaxed)
    }

    pub fn set_slower_than(&self, micros: i64) {
        self.slower_than.store(micros, Ordering::Relaxed);
    }

    pub fn slowlog_max_len(&self) -> u64 {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    pub fn set_slowlog_max_len(&self, len: u64) {
        let len = len.min(SLOWLOG_MAX_LEN_CAP);
        self.slowlog_max_len.store(len, Ordering::Relaxed);
        lock(self).slowlog.truncate(len as usize);
    }

    /// LATENCY HISTOGRAM [command ...]: per command, its calls and the cumulative count of
    /// calls at or under each bucket's bound in µs (ninesdb's buckets, not Redis's powers of
    /// two); every counted command when none is named.
    pub fn latency_histograms(&self, names: &[Bytes]) -> Value {
        let wanted: Vec<String> = names
            .iter()
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect();
        let inner = lock(self);
        let pairs = inner
            .commands
            .iter()
            .filter(|(name, _)| wanted.is_empty() || wanted.contains(name))
            .map(|(name, s)| {
                let mut cumulative = 0;
                let buckets = crate::metrics::BUCKETS_US
                    .iter()
                    .zip(&s.latency.buckets)
                    .filter_map(|(bound, n)| {
                        cumulative += n;
                        (*n > 0).then(|| {
                            (
                                Value::Integer(*bound as i64),
                                Value::Integer(cumulative as i64),
                            )
                        })
                    })
                    .collect();
                (
                    Value::Bulk(Bytes::from(name.clone())),
                    Value::Map(vec![
                        (
                            Value::Bulk(Bytes::from_static(b"calls")),
                            Value::Integer(s.latency.count as i64),
                        ),
                        (
                            Value::Bulk(Bytes::from_static(b"histogram_usec")),
                            Value::Map(buckets),
                        ),
                    ]),
                )
            })
            .collect();
        Value::Map(pairs)
    }

    /// INFO's `commandstats` and `errorstats` sections, in Redis's format.
    pub fn info_sections(&self) -> String {
        let inner = lock(self);
        let mut text = String::from("# Commandstats\r\n");
        for (name, s) in &inner.commands {
            let (calls, usec) = (s.latency.count, s.latency.sum_us);
            let per_call = if calls == 0 {
                0.0
            } else {
                usec as f64 / calls as f64
            };
            text.push_str(&format!(
                "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                s.rejected_calls, s.failed_calls
            ));
        }
        text.push_str("\r\n# Errorstats\r\n");
        for (kind, count) in &inner.errors {
            text.push_str(&format!("errorstat_{kind}:count={count}\r\n"));
        }
        text
    }

    /// SLOWLOG GET/LEN/RESET/HELP (slowlog.c `slowlogCommand`).
    pub fn slowlog_command(&self, args: &[Bytes]) -> Value {
        let sub = args
            .get(1)
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
            .unwrap_or_default();
        match (sub.as_str(), args.len()) {
            ("reset", 2) => {
                lock(self).slowlog.clear();
                Value::Simple("OK".to_owned())
            }
            ("len", 2) => Value::Integer(lock(self).slowlog.len() as i64),
            ("get", 2 | 3) => {
                let count = match args.get(2) {
                    None => 10,
                    Some(n) => match std::str::from_utf8(n)
                        .ok()
                        .and_then(|n| n.parse::<i64>().ok())
                    {
                        Some(n) if n >= -1 => n,
                        _ => {
                            return Value::Error(
                                "ERR count should be greater than or equal to -1".to_owned(),
                            )
                        }
                    },
                };
                let inner = lock(self);
                let take = if count == -1 {
                    inner.slowlog.len()
                } else {
                    count as usize
                };
                Value::Array(inner.slowlog.iter().take(take).map(entry_value).collect())
            }
            ("help", 2) => crate::local::help_reply(&[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ]),
            _ => crate::local::subcommand_error("SLOWLOG", args),
        }
    }
}

/// What a slow log entry keeps of a command: at most 32 arguments (the last one saying how
/// many more there were) of at most 128 bytes each (saying how many more bytes).
fn slow_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(SLOWLOG_ARGS_MAX);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in args.iter().take(kept).enumerate() {
        if i == SLOWLOG_ARGS_MAX - 1 && args.len() > SLOWLOG_ARGS_MAX {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - SLOWLOG_ARGS_MAX + 1
            )));
        } else if arg.len() > SLOWLOG_ARG_BYTES_MAX {
            let mut text = arg[..SLOWLOG_ARG_BYTES_MAX].to_vec();
            text.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - SLOWLOG_ARG_BYTES_MAX).as_bytes(),
            );
            out.push(Bytes::from(text));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

fn entry_value(e: &SlowEntry) -> Value {
    Value::Array(vec![
        Value::Integer(e.id as i64),
        Value::Integer(e.unix_time as i64),
        Value::Integer(e.micros as i64),
        Value::Array(e.args.iter().cloned().map(Value::Bulk).collect()),
        Value::Bulk(Bytes::from(e.peer.clone())),
        Value::Bulk(Bytes::from(e.name.clone())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|w| Bytes::from(w.to_owned())).collect()
    }

    const CALLER: Caller<'static> = Caller {
        peer: "127.0.0.1:5000",
        name: "",
    };

    #[test]
    fn calls_errors_and_latency_buckets_are_counted() {
        let stats = Stats::default();
        stats.record(
            &args("GET k"),
            Duration::from_micros(40),
            None,
            &CALLER,
            true,
        );
        stats.record(
            &args("get k"),
            Duration::from_micros(3_000),
            None,
            &CALLER,
            true,
        );
        stats.record(
            &args("GET k"),
            Duration::from_micros(60),
            Some("WRONGTYPE Operation against a key holding the wrong kind of value"),
            &CALLER,
            true,
        );
        stats.record(
            &args("SET k v"),
            Duration::from_secs(20),
            Some("NOAUTH x"),
            &CALLER,
            true,
        );
        let commands = stats.commands();
        let get = &commands["get"];
        assert_eq!(
            (get.latency.count, get.latency.sum_us, get.failed_calls),
            (3, 3_100, 1)
        );
        assert_eq!(get.latency.buckets[0], 1, "40 µs is in the first bucket");
        assert_eq!(get.latency.buckets[1], 1, "60 µs in the second");
        assert_eq!(get.latency.buckets[6], 1, "3 ms in the 5 ms bucket");
        let set = &commands["set"];
        assert_eq!((set.rejected_calls, set.failed_calls), (1, 0));
        assert_eq!(
            set.latency.buckets[crate::metrics::BUCKETS_US.len()],
            1,
            "20 s: +Inf"
        );
        assert_eq!(stats.errors()["WRONGTYPE"], 1);
        let info = stats.info_sections();
        assert!(info.contains(
            "cmdstat_get:calls=3,usec=3100,usec_per_call=1033.33,rejected_calls=0,failed_calls=1\r\n"
        ));
        assert!(info.contains("errorstat_NOAUTH:count=1\r\n"));
        stats.reset();
        assert!(stats.commands().is_empty());
    }

    #[test]
    fn the_slow_log_keeps_the_newest_slow_commands_trimmed_as_redis() {
        let stats = Stats::default();
        stats.set_slower_than(1_000);
        stats.set_slowlog_max_len(2);
        stats.record(
            &args("GET fast"),
            Duration::from_micros(999),
            None,
            &CALLER,
            true,
        );
        for key in ["a", "b", "c"] {
            stats.record(
                &args(&format!("GET {key}")),
                Duration::from_millis(2),
                None,
                &CALLER,
                true,
            );
        }
        let long: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        stats.set_slowlog_max_len(3);
        stats.record(&long, Duration::from_millis(5), None, &CALLER, true);
        assert_eq!(
            stats.slowlog_command(&args("SLOWLOG LEN")),
            Value::Integer(3)
        );
        let Value::Array(entries) = stats.slowlog_command(&args("SLOWLOG GET -1")) else {
            panic!("an array");
        };
        let Value::Array(newest) = &entries[0] else {
            panic!("an entry");
        };
        assert_eq!(newest[0], Value::Integer(3));
        let Value::Array(kept) = &newest[3] else {
            panic!("arguments");
        };
        assert_eq!(kept.len(), 32);
        assert_eq!(
            kept[31],
            Value::Bulk(Bytes::from_static(b"... (9 more arguments)"))
        );
        let Value::Array(oldest) = &entries[2] else {
            panic!("an entry");
        };
        assert_eq!(oldest[0], Value::Integer(1), "entry 0 (GET a) fell off");
        assert_eq!(
            stats.slowlog_command(&args("SLOWLOG RESET")),
            Value::Simple("OK".to_owned())
        );
        assert_eq!(
            stats.slowlog_command(&args("SLOWLOG LEN")),
            Value::Integer(0)
        );
        stats.set_slower_than(-1);
        stats.record(&args("GET x"), Duration::from_secs(1), None, &CALLER, true);
        assert_eq!(
            stats.slowlog_command(&args("SLOWLOG LEN")),
            Value::Integer(0)
        );
    }
}
