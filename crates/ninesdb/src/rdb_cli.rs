//! `ninesdb ctl import-rdb FILE` and `ctl export-rdb FILE`: move a keyspace from Redis to
//! ninesdb and back through RDB files.
//!
//! Import reads the file in pieces (`rdb_file`, checksum first) and sends each key as
//! `RESTORE key <expiry> <payload> ABSTTL REPLACE [IDLETIME s]` to the leader of its slot,
//! pipelined and in parallel (`loader`): every key goes through the normal replicated write
//! path. Keys already expired and keys of databases other than 0 are skipped and counted; function
//! libraries go in with `FUNCTION RESTORE ... REPLACE` (every group gets them). Export walks
//! the cluster with SCAN (a plain client's SCAN covers every group), fetches `DUMP` and
//! `PTTL` of each key from its leader and writes an RDB version 10 file, which redis-server
//! 7.0 loads; the file appears under its name only once complete.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use bench::resp::Value;
use bytes::Bytes;
use keyspace::rdb::{type_name, RdbWriter};

use crate::loader::{bar, import_functions, load_records, next_job, now_ms, Summary};
use crate::pipeline::{Credentials, Pipe, Router};
use crate::rdb_file;
pub fn import(
    seed: &str,
    credentials: Credentials<'_>,
    file: &Path,
    connections: usize,
) -> anyhow::Result<bool> {
    let open = || std::fs::File::open(file).with_context(|| format!("open {}", file.display()));
    // The whole file is checked first: a damaged one is refused before any key loads.
    let version = rdb_file::check(std::io::BufReader::new(open()?))
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut reader = rdb_file::FileRecords::new(open()?, version)?;
    let size = std::fs::metadata(file)?.len();
    let started = Instant::now();
    // Progress in keys: the file's size over 64 bytes a key, a guess the bar corrects.
    let progress = bar(size / 64, "import");
    let (mut summary, read_error) =
        load_records(seed, credentials, connections, reader.by_ref(), &progress)?;
    progress.finish_and_clear();
    if let Some(e) = read_error {
        summary.print(
            "imported before the error",
            file,
            started.elapsed().as_secs_f64(),
        );
        bail!("{}: {e} (the keys before it are loaded)", file.display());
    }
    import_functions(seed, credentials, &reader.functions, &mut summary)?;
    summary.print(
        &format!("imported (RDB version {version})"),
        file,
        started.elapsed().as_secs_f64(),
    );
    Ok(summary.failed.is_empty())
}

/// Keys SCAN asks for per call.
const SCAN_COUNT: &[u8] = b"1000";

/// The file being written: the open file, the writer's checksum state, the counts.
struct Output {
    out: std::io::BufWriter<std::fs::File>,
    writer: RdbWriter,
    summary: Summary,
}

impl Output {
    fn create(partial: &Path) -> anyhow::Result<Output> {
        let file = std::fs::File::create(partial)
            .with_context(|| format!("create {}", partial.display()))?;
        let mut output = Output {
            out: std::io::BufWriter::new(file),
            writer: RdbWriter::new(),
            summary: Summary::default(),
        };
        let header = output.writer.header(&[
            ("redis-bits", "64"),
            ("ninesdb-ver", env!("CARGO_PKG_VERSION")),
        ]);
        output.out.write_all(&header)?;
        Ok(output)
    }

    fn write(&mut self, dumped: Vec<Dumped>) -> anyhow::Result<()> {
        for (key, payload, expire) in dumped {
            let Some(payload) = payload else {
                let reason = "deleted or expired during the export".to_owned();
                *self.summary.skipped.entry(reason).or_default() += 1;
                continue;
            };
            let record = self
                .writer
                .record(&key, &payload, expire)
                .map_err(|e| anyhow!("DUMP of {key:?}: {e}"))?;
            self.out.write_all(&record)?;
            *self
                .summary
                .loaded
                .entry(type_name(payload[0]))
                .or_default() += 1;
        }
        Ok(())
    }

    /// The function libraries, EOF and checksum, fsync; the counts.
    fn finish(mut self, functions: &mut Pipe, partial: &Path) -> anyhow::Result<Summary> {
        write_functions(
            functions,
            &mut self.writer,
            &mut self.out,
            &mut self.summary,
        )?;
        self.out.write_all(&self.writer.finish())?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| anyhow!("write {}: {e}", partial.display()))?;
        file.sync_all()?;
        Ok(self.summary)
    }
}

/// One export connection set: DUMP and PTTL of the key batches it receives.
fn export_worker(
    seed: &str,
    credentials: Credentials<'_>,
    batches: &Mutex<Receiver<Vec<Vec<u8>>>>,
    dumped: SyncSender<Vec<Dumped>>,
) -> anyhow::Result<()> {
    let mut router = Router::connect(seed, credentials)?;
    while let Some(keys) = next_job(batches)? {
        if dumped.send(dump_keys(&mut router, &keys)?).is_err() {
            return Ok(()); // the file writer stopped: its error says why
        }
    }
    Ok(())
}

/// SCANs the cluster, handing each batch of keys to the workers.
fn scan_all(pipe: &mut Pipe, keys: SyncSender<Vec<Vec<u8>>>) -> anyhow::Result<()> {
    let mut cursor = b"0".to_vec();
    loop {
        let reply = pipe.call(&[b"SCAN", &cursor, b"COUNT", SCAN_COUNT])?;
        let (next, batch) = scan_reply(reply)?;
        if keys.send(batch).is_err() {
            return Ok(()); // every worker stopped: their errors say why
        }
        if next == b"0" {
            return Ok(());
        }
        cursor = next;
    }
}

pub fn export(
    seed: &str,
    credentials: Credentials<'_>,
    file: &Path,
    connections: usize,
) -> anyhow::Result<bool> {
    let mut scan = Pipe::connect(seed, credentials)?;
    let partial = partial_path(file);
    let mut output = Output::create(&partial)?;
    let started = Instant::now();
    let progress = bar(1, "export");
    let (key_sender, key_receiver) = sync_channel(connections.max(1) * 2);
    let key_receiver = Mutex::new(key_receiver);
    let (dump_sender, dump_receiver) = sync_channel(connections.max(1) * 2);
    let scanned = std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..connections.max(1))
            .map(|_| {
                let dumped = dump_sender.clone();
                let batches = &key_receiver;
                scope.spawn(move || export_worker(seed, credentials, batches, dumped))
            })
            .collect();
        drop(dump_sender);
        let writing = scope.spawn(|| -> anyhow::Result<()> {
            for batch in dump_receiver {
                output.write(batch)?;
                progress.set_message(format!(
                    "{} keys",
                    output.summary.loaded.values().sum::<u64>()
                ));
                progress.tick();
            }
            Ok(())
        });
        let scanned = scan_all(&mut scan, key_sender);
        for worker in workers {
            worker
                .join()
                .unwrap_or_else(|_| Err(anyhow!("an export worker panicked")))?;
        }
        writing
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the file writer panicked")))?;
        scanned
    });
    scanned?;
    let summary = output.finish(&mut scan, &partial)?;
    std::fs::rename(&partial, file).with_context(|| format!("rename to {}", file.display()))?;
    progress.finish_and_clear();
    summary.print("exported", file, started.elapsed().as_secs_f64());
    Ok(summary.failed.is_empty())
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}

/// FUNCTION DUMP's libraries, as FUNCTION2 records.
fn write_functions(
    pipe: &mut Pipe,
    writer: &mut RdbWriter,
    out: &mut impl Write,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let Value::Bulk(payload) = pipe.call(&[b"FUNCTION", b"DUMP"])? else {
        return Ok(());
    };
    let codes = keyspace::rdb::functions_from_payload(&payload)
        .map_err(|e| anyhow!("FUNCTION DUMP: {e}"))?;
    for code in &codes {
        out.write_all(&writer.function(code))?;
    }
    if !codes.is_empty() {
        *summary.loaded.entry("function library").or_default() += codes.len() as u64;
    }
    Ok(())
}

/// SCAN's reply: the next cursor and the keys.
fn scan_reply(reply: Value) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let Value::Array(mut items) = reply else {
        bail!("SCAN: unexpected reply {reply:?}");
    };
    let (Some(Value::Array(keys)), Some(Value::Bulk(cursor))) = (items.pop(), items.pop()) else {
        bail!("SCAN: unexpected reply shape");
    };
    let keys = keys
        .into_iter()
        .filter_map(|k| match k {
            Value::Bulk(k) => Some(k),
            _ => None,
        })
        .collect();
    Ok((cursor, keys))
}

/// (key, DUMP payload or `None` when gone, absolute expiry) of each key, asked of its leader.
type Dumped = (Bytes, Option<Vec<u8>>, Option<u64>);

fn dump_keys(router: &mut Router, keys: &[Vec<u8>]) -> anyhow::Result<Vec<Dumped>> {
    let mut per_node: BTreeMap<usize, Vec<&Vec<u8>>> = BTreeMap::new();
    for key in keys {
        per_node.entry(router.node_of(key)).or_default().push(key);
    }
    let mut out = Vec::with_capacity(keys.len());
    for (node, keys) in per_node {
        for batch in keys.chunks(crate::pipeline::WINDOW / 2) {
            let pipe = router.pipe(node);
            for key in batch {
                pipe.queue(&[b"DUMP", key]);
                pipe.queue(&[b"PTTL", key]);
            }
            let now = now_ms();
            let replies = pipe.flush()?;
            for (key, pair) in batch.iter().zip(replies.chunks(2)) {
                let payload = match &pair[0] {
                    Value::Bulk(p) => Some(p.clone()),
                    Value::Nil => None,
                    other => bail!("DUMP {:?}: {other:?}", String::from_utf8_lossy(key)),
                };
                let expire = match pair[1] {
                    Value::Integer(ms) if ms >= 0 => Some(now + ms as u64),
                    _ => None,
                };
                out.push((Bytes::copy_from_slice(key), payload, expire));
            }
        }
    }
    Ok(out)
}
