//! RESTOREs a stream of records (`keyspace::rdb::Record`: key, DUMP payload, expiry) into a
//! running cluster: what `ctl import-rdb` and `ctl restore` share. Records go through a
//! bounded queue to `connections` connection sets working in parallel (a server runs one
//! connection's commands one after another); each set routes a record to its slot's leader
//! (`pipeline::Router`). RESTORE with REPLACE is idempotent, so a record refused during a
//! leader change is sent again. The counts by type and by reason make the summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use bench::resp::Value;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use keyspace::rdb::{type_name, Record};

use crate::pipeline::{Credentials, Pipe, Router};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{wide_bar}} {{percent}}% {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// What an import did, by type and by reason.
#[derive(Default)]
pub(crate) struct Summary {
    pub(crate) loaded: BTreeMap<&'static str, u64>,
    pub(crate) skipped: BTreeMap<String, u64>,
    pub(crate) failed: BTreeMap<String, u64>,
}

impl Summary {
    pub(crate) fn merge(&mut self, other: Summary) {
        for (k, n) in other.loaded {
            *self.loaded.entry(k).or_default() += n;
        }
        for (k, n) in other.skipped {
            *self.skipped.entry(k).or_default() += n;
        }
        for (k, n) in other.failed {
            *self.failed.entry(k).or_default() += n;
        }
    }

    pub(crate) fn print(&self, verb: &str, file: &Path, seconds: f64) {
        let total: u64 = self
            .loaded
            .iter()
            .filter(|(kind, _)| **kind != "function library")
            .map(|(_, n)| n)
            .sum();
        println!(
            "{verb} {total} keys ({}) in {seconds:.2} s: {:.0} keys/s",
            file.display(),
            total as f64 / seconds.max(1e-9)
        );
        let by_type: Vec<String> = self
            .loaded
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        println!(
            "  by type: {}",
            if by_type.is_empty() {
                "none".into()
            } else {
                by_type.join(", ")
            }
        );
        for (reason, n) in &self.skipped {
            println!("  skipped {n}: {reason}");
        }
        for (reason, n) in &self.failed {
            println!("  FAILED {n}: {reason}");
        }
    }
}

/// Errors after which a RESTORE is sent again (it is idempotent with REPLACE): a leader
/// change or a hand-over in progress.
const RETRYABLE: [&str; 6] = [
    "TRYAGAIN",
    "UNKNOWN",
    "CLUSTERDOWN",
    "MOVED",
    "ASK",
    "LOADING",
];
/// Rounds of retries, a pause growing by `RETRY_PAUSE` before each.
const RETRY_ROUNDS: u32 = 20;
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Records read ahead of the connections.
const READ_AHEAD: usize = 4096;

/// One connection per leader, and the records in flight on each, to count their replies.
struct Importer {
    router: Router,
    in_flight: Vec<Vec<Record>>,
    retry: Vec<(Record, String)>,
    summary: Summary,
}

impl Importer {
    fn new(router: Router) -> Importer {
        let nodes = router.nodes();
        Importer {
            router,
            in_flight: vec![Vec::new(); nodes],
            retry: Vec::new(),
            summary: Summary::default(),
        }
    }

    fn send(&mut self, record: Record) -> anyhow::Result<()> {
        let node = self.router.node_of(&record.key);
        let ttl = record.expire_ms.unwrap_or(0).to_string();
        let idle = record.idle_seconds.map(|s| s.to_string());
        let mut args: Vec<&[u8]> = vec![
            b"RESTORE",
            &record.key,
            ttl.as_bytes(),
            &record.payload,
            b"ABSTTL",
            b"REPLACE",
        ];
        if let Some(idle) = &idle {
            args.extend([b"IDLETIME".as_slice(), idle.as_bytes()]);
        }
        let full = self.router.pipe(node).queue(&args);
        self.in_flight[node].push(record);
        if full {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let replies = self.router.flush_all()?;
        for (node, replies) in replies.into_iter().enumerate() {
            for (record, reply) in self.in_flight[node].drain(..).zip(replies) {
                match reply {
                    Value::Error(e) if RETRYABLE.iter().any(|r| e.starts_with(r)) => {
                        self.retry.push((record, e));
                    }
                    Value::Error(e) => *self.summary.failed.entry(e).or_default() += 1,
                    _ => {
                        *self
                            .summary
                            .loaded
                            .entry(type_name(record.kind))
                            .or_default() += 1
                    }
                }
            }
        }
        Ok(())
    }

    /// Flushes, then sends refused records again until they land or the rounds run out.
    fn finish(mut self) -> anyhow::Result<Summary> {
        self.flush()?;
        for round in 1..=RETRY_ROUNDS {
            if self.retry.is_empty() {
                break;
            }
            std::thread::sleep(RETRY_PAUSE * round);
            for (record, _) in std::mem::take(&mut self.retry) {
                self.send(record)?;
            }
            self.flush()?;
        }
        for (_, error) in self.retry {
            *self.summary.failed.entry(error).or_default() += 1;
        }
        Ok(self.summary)
    }
}

/// One import connection set: RESTOREs the records it receives.
fn import_worker(
    seed: &str,
    credentials: Credentials<'_>,
    records: &Mutex<Receiver<Record>>,
) -> anyhow::Result<Summary> {
    let mut importer = Importer::new(Router::connect(seed, credentials)?);
    while let Some(record) = next_job(records)? {
        importer.send(record)?;
    }
    importer.finish()
}

/// The next job of a queue several workers share; `None` once the queue is closed and empty.
pub(crate) fn next_job<T>(queue: &Mutex<Receiver<T>>) -> anyhow::Result<Option<T>> {
    let queue = queue.lock().map_err(|_| anyhow!("a worker panicked"))?;
    Ok(queue.recv().ok())
}

/// Whether a record is left out, and why.
fn skip_reason(record: &Record, now: u64) -> Option<String> {
    if record.db != 0 {
        return Some(format!(
            "in database {} (ninesdb, as Redis Cluster, has database 0 only)",
            record.db
        ));
    }
    if record.expire_ms.is_some_and(|t| t <= now) {
        return Some("already expired".into());
    }
    None
}

/// RESTOREs `records` through `connections` connection sets working in parallel, after
/// leaving out what `skip_reason` names. Returns the counts and the source's error, if it
/// stopped on one (the records before it are loaded).
pub(crate) fn load_records<E: std::fmt::Display>(
    seed: &str,
    credentials: Credentials<'_>,
    connections: usize,
    records: impl Iterator<Item = Result<Record, E>>,
    progress: &ProgressBar,
) -> anyhow::Result<(Summary, Option<String>)> {
    let now = now_ms();
    let (sender, receiver) = sync_channel::<Record>(READ_AHEAD);
    let receiver = Mutex::new(receiver);
    let mut summary = Summary::default();
    let mut source_error = None;
    let results: Vec<anyhow::Result<Summary>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections.max(1))
            .map(|_| scope.spawn(|| import_worker(seed, credentials, &receiver)))
            .collect();
        for (count, record) in records.enumerate() {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    source_error = Some(e.to_string());
                    break;
                }
            };
            if count & 1023 == 0 {
                progress.inc(1024);
                progress.set_message(format!("{count} keys"));
            }
            if let Some(reason) = skip_reason(&record, now) {
                *summary.skipped.entry(reason).or_default() += 1;
            } else if sender.send(record).is_err() {
                break; // every worker failed: their errors say why
            }
        }
        drop(sender);
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("an import worker panicked")))
            })
            .collect()
    });
    for result in results {
        summary.merge(result?);
    }
    Ok((summary, source_error))
}

/// The file's function libraries, with FUNCTION RESTORE ... REPLACE (every group gets them).
pub(crate) fn import_functions(
    seed: &str,
    credentials: Credentials<'_>,
    functions: &[Bytes],
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if functions.is_empty() {
        return Ok(());
    }
    let payload = keyspace::rdb::functions_payload(functions);
    let mut pipe = Pipe::connect(seed, credentials)?;
    let count = functions.len() as u64;
    match pipe.call(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"])? {
        Value::Error(e) => {
            *summary
                .failed
                .entry(format!("function libraries: {e}"))
                .or_default() += count
        }
        _ => *summary.loaded.entry("function library").or_default() += count,
    }
    Ok(())
}
