//! Redis's latency monitor (latency.c), the part that applies to ninesdb: with
//! `latency-monitor-threshold` set (ms; 0, the default, is off), a command that took at
//! least that long is logged as a "command" event, or "fast-command" for the commands Redis
//! flags fast. Each event keeps one sample per second (the highest) for its last 160
//! seconds with samples, and its all-time maximum.
//!
//! LATENCY LATEST, HISTORY, RESET, DOCTOR (a short plain report) and HISTOGRAM (the per-
//! command histograms of `stats`, in ninesdb's buckets) are answered; GRAPH is refused with
//! a pointer to HISTORY and the dashboard.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use resp::Value;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const SAMPLES_MAX: usize = 160;

/// LATENCY HELP's lines.
const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

#[derive(Clone, Copy, Debug)]
struct Sample {
    unix_s: u64,
    ms: u64,
}

#[derive(Default)]
struct Series {
    samples: VecDeque<Sample>,
    max_ms: u64,
}

/// This node's latency events.
#[derive(Default)]
pub struct Monitor {
    /// `latency-monitor-threshold` in ms (0: off).
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl Monitor {
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Series>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a command that took `ms` at `unix_s`, if the monitor is on and it was slow.
    pub fn observe_command(&self, fast: bool, ms: u64, unix_s: u64) {
        let threshold = self.threshold_ms();
        if threshold == 0 || ms < threshold {
            return;
        }
        let event = if fast { "fast-command" } else { "command" };
        let mut events = self.lock();
        let series = events.entry(event).or_default();
        series.max_ms = series.max_ms.max(ms);
        match series.samples.back_mut() {
            Some(last) if last.unix_s == unix_s => last.ms = last.ms.max(ms),
            _ => {
                if series.samples.len() == SAMPLES_MAX {
                    series.samples.pop_front();
                }
                series.samples.push_back(Sample { unix_s, ms });
            }
        }
    }

    /// LATENCY <subcommand>; `histograms` answers HISTOGRAM.
    pub fn command(&self, args: &[Bytes], histograms: impl FnOnce(&[Bytes]) -> Value) -> Value {
        let sub = args
            .get(1)
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
            .unwrap_or_default();
        match (sub.as_str(), args.len()) {
            ("latest", 2) => Value::Array(
                self.lock()
                    .iter()
                    .filter_map(|(event, s)| {
                        let last = s.samples.back()?;
                        Some(Value::Array(vec![
                            Value::Bulk(Bytes::from_static(event.as_bytes())),
                            Value::Integer(last.unix_s as i64),
                            Value::Integer(last.ms as i64),
                            Value::Integer(s.max_ms as i64),
                        ]))
                    })
                    .collect(),
            ),
            ("history", 3) => self.history(&String::from_utf8_lossy(&args[2])),
            ("reset", _) => {
                let mut events = self.lock();
                let reset = if args.len() == 2 {
                    let n = events.len();
                    events.clear();
                    n
                } else {
                    args[2..]
                        .iter()
                        .filter(|name| {
                            let name = String::from_utf8_lossy(name);
                            events.remove(name.as_ref()).is_some()
                        })
                        .count()
                };
                Value::Integer(reset as i64)
            }
            ("doctor", 2) => Value::Verbatim("txt".to_owned(), Bytes::from(self.doctor())),
            ("histogram", _) => histograms(&args[2..]),
            ("graph", 3) => Value::Error(
                "ERR ninesdb does not draw LATENCY GRAPH: use LATENCY HISTORY, or the dashboard on the admin port".to_owned(),
            ),
            ("help", 2) => crate::local::help_reply(HELP),
            _ => crate::local::subcommand_error("LATENCY", args),
        }
    }

    /// LATENCY HISTORY event: `[time, ms]` per sample, oldest first.
    fn history(&self, event: &str) -> Value {
        let events = self.lock();
        let samples = events.get(event).map(|s| &s.samples);
        Value::Array(
            samples
                .into_iter()
                .flatten()
                .map(|s| {
                    Value::Array(vec![
                        Value::Integer(s.unix_s as i64),
                        Value::Integer(s.ms as i64),
                    ])
                })
                .collect(),
        )
    }

    fn doctor(&self) -> String {
        let threshold = self.threshold_ms();
        if threshold == 0 {
            return "The latency monitor is off: enable it with CONFIG SET latency-monitor-threshold <milliseconds>.\n".to_owned();
        }
        let events = self.lock();
        if events.is_empty() {
            return format!(
                "No latency event at or above {threshold} ms was logged on this node.\n"
            );
        }
        let mut report = String::new();
        for (event, s) in events.iter() {
            let average =
                s.samples.iter().map(|x| x.ms).sum::<u64>() / s.samples.len().max(1) as u64;
            report.push_str(&format!(
                "{event}: {} latency spikes (average {average} ms, worst {} ms). ",
                s.samples.len(),
                s.max_ms
            ));
            report.push_str(match *event {
                "fast-command" => "Fast commands were slow: the node was busy (a large script, a snapshot, an overloaded disk or CPU); see SLOWLOG and /metrics.\n",
                _ => "Check SLOWLOG for the commands and their arguments; writes wait for a majority's fsync (see ninesdb_fsync_duration_seconds on /metrics).\n",
            });
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|w| Bytes::from(w.to_owned())).collect()
    }

    fn no_histograms(_: &[Bytes]) -> Value {
        Value::Array(Vec::new())
    }

    #[test]
    fn slow_commands_are_logged_once_per_second_at_their_worst() {
        let monitor = Monitor::default();
        monitor.observe_command(false, 500, 100);
        assert_eq!(
            monitor.command(&args("LATENCY LATEST"), no_histograms),
            Value::Array(vec![]),
            "off by default"
        );
        monitor.set_threshold_ms(10);
        monitor.observe_command(false, 9, 100);
        monitor.observe_command(false, 20, 100);
        monitor.observe_command(false, 50, 100);
        monitor.observe_command(false, 30, 101);
        monitor.observe_command(true, 12, 101);
        let latest = monitor.command(&args("LATENCY LATEST"), no_histograms);
        let row = |event: &'static str, t, ms, max| {
            Value::Array(vec![
                Value::Bulk(Bytes::from_static(event.as_bytes())),
                Value::Integer(t),
                Value::Integer(ms),
                Value::Integer(max),
            ])
        };
        assert_eq!(
            latest,
            Value::Array(vec![
                row("command", 101, 30, 50),
                row("fast-command", 101, 12, 12)
            ])
        );
        let pair = |t, ms| Value::Array(vec![Value::Integer(t), Value::Integer(ms)]);
        assert_eq!(
            monitor.command(&args("LATENCY HISTORY command"), no_histograms),
            Value::Array(vec![pair(100, 50), pair(101, 30)])
        );
        for second in 0..200 {
            monitor.observe_command(false, 15, 1_000 + second);
        }
        let Value::Array(history) =
            monitor.command(&args("LATENCY HISTORY command"), no_histograms)
        else {
            panic!("an array");
        };
        assert_eq!(history.len(), SAMPLES_MAX);
        assert_eq!(
            monitor.command(&args("LATENCY RESET command nope"), no_histograms),
            Value::Integer(1)
        );
        assert_eq!(
            monitor.command(&args("LATENCY RESET"), no_histograms),
            Value::Integer(1)
        );
        assert_eq!(
            monitor.command(&args("LATENCY LATEST"), no_histograms),
            Value::Array(vec![])
        );
    }
}
