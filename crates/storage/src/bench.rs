//! Throughput of the real WAL for the CLI's `bench`: many writers, each waiting for its own
//! record to be durable, served by one group-commit driver; and the disk's raw rates to
//! compare against (one fdatasync per record; big sequential writes).
//!
//! Timing lives here, never in tests.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::{Entry, Payload};

use crate::{FsDisk, GroupId, Record, Wal, WalError, WalOptions};

/// Records waiting for the driver at most: writers block beyond it (back-pressure).
const SUBMIT_QUEUE_MAX: usize = 65_536;

/// One measurement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchRow {
    /// Concurrent writers.
    pub writers: usize,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records made durable.
    pub records: u64,
    /// Wall time measured.
    pub seconds: f64,
    /// fsyncs issued.
    pub syncs: u64,
    /// Group-commit factor.
    pub records_per_sync: f64,
    /// Durable records per second.
    pub records_per_sec: f64,
    /// Payload megabytes (10^6) per second.
    pub mb_per_sec: f64,
}

impl BenchRow {
    fn new(
        writers: usize,
        record_bytes: usize,
        records: u64,
        syncs: u64,
        seconds: f64,
    ) -> BenchRow {
        let seconds = seconds.max(1e-9);
        BenchRow {
            writers,
            record_bytes,
            records,
            seconds,
            syncs,
            records_per_sync: records as f64 / syncs.max(1) as f64,
            records_per_sec: records as f64 / seconds,
            mb_per_sec: records as f64 * record_bytes as f64 / seconds / 1e6,
        }
    }
}

/// State shared by writers and the driver.
#[derive(Default)]
struct Shared {
    /// Submitted, not yet taken by the driver: (writer, payload).
    submitted: VecDeque<(usize, Bytes)>,
    /// Tickets: submissions numbered from 1; everything up to `durable` is on disk.
    next_ticket: u64,
    durable: u64,
    stop: bool,
    error: Option<String>,
}

struct Channel {
    state: Mutex<Shared>,
    /// Wakes the driver (work arrived) and writers (durable advanced or room freed).
    driver: Condvar,
    writers: Condvar,
}

fn lock(channel: &Channel) -> MutexGuard<'_, Shared> {
    // A poisoned lock means a thread panicked; the numbers are garbage then but the state is
    // still consistent enough to shut down.
    channel
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `writers` threads each submit one record and wait until it is durable, for `seconds`; a
/// driver thread owns a `Wal<FsDisk>` in `dir` and group-commits whatever is submitted.
pub fn wal_throughput(
    dir: &Path,
    writers: usize,
    record_bytes: usize,
    seconds: f64,
) -> Result<BenchRow, WalError> {
    let (wal, _) = Wal::open(FsDisk::open(dir)?, WalOptions::default())?;
    let channel = Arc::new(Channel {
        state: Mutex::new(Shared::default()),
        driver: Condvar::new(),
        writers: Condvar::new(),
    });
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let driver = {
        let channel = Arc::clone(&channel);
        thread::spawn(move || drive(wal, &channel))
    };
    let handles: Vec<_> = (0..writers.max(1))
        .map(|writer| {
            let channel = Arc::clone(&channel);
            thread::spawn(move || write_loop(&channel, writer, record_bytes, deadline))
        })
        .collect();
    let records: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let elapsed = started.elapsed().as_secs_f64();
    lock(&channel).stop = true;
    channel.driver.notify_all();
    let syncs = driver.join().unwrap_or(Ok(0))?;
    if let Some(error) = lock(&channel).error.take() {
        return Err(WalError::Failed(error));
    }
    Ok(BenchRow::new(
        writers,
        record_bytes,
        records,
        syncs,
        elapsed,
    ))
}

fn write_loop(channel: &Channel, writer: usize, record_bytes: usize, deadline: Instant) -> u64 {
    let payload = Bytes::from(vec![writer as u8; record_bytes]);
    let mut done = 0;
    while Instant::now() < deadline {
        let mut state = lock(channel);
        while state.submitted.len() >= SUBMIT_QUEUE_MAX && state.error.is_none() {
            state = channel
                .writers
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        state.submitted.push_back((writer, payload.clone()));
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        channel.driver.notify_one();
        while state.durable < ticket && state.error.is_none() {
            state = channel
                .writers
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        if state.error.is_some() {
            break;
        }
        done += 1;
    }
    done
}

/// How long a flush may wait for more records to join its batch (unless fsyncs are slower).
const COMMIT_DELAY_MAX: Duration = Duration::from_millis(1);

/// The group-commit loop: take everything submitted, queue it, one flush, wake the writers.
/// Each writer is its own group, so its entries are consecutive. Returns the syncs issued.
///
/// Adaptive commit delay (PostgreSQL's `commit_delay`, MySQL's
/// `binlog_group_commit_sync_delay`): the writers woken by a flush need a moment to submit
/// again, so before the next flush the driver waits until about as many records as the last
/// batch are in, at most `COMMIT_DELAY_MAX` (or the last fsync's time if longer). A lone
/// writer never waits: its last batch was one record.
fn drive(mut wal: Wal<FsDisk>, channel: &Channel) -> Result<u64, WalError> {
    let mut next_index: Vec<u64> = Vec::new();
    let mut syncs = 0;
    let (mut last_batch, mut last_flush) = (1_usize, Duration::ZERO);
    loop {
        let (batch, last_ticket) = {
            let mut state = lock(channel);
            while state.submitted.is_empty() && !state.stop {
                state = channel
                    .driver
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
            // Waiting pays while the batch is still filling: bounded by the larger of the last
            // fsync's time and the cap (a fast fsync must not end the wait before the woken
            // writers, many threads on few cores, are back).
            let wait_until = Instant::now() + last_flush.max(COMMIT_DELAY_MAX);
            while state.submitted.len() < last_batch && !state.stop {
                let now = Instant::now();
                if now >= wait_until {
                    break;
                }
                state = channel
                    .driver
                    .wait_timeout(state, wait_until - now)
                    .map_or_else(|p| p.into_inner().0, |(s, _)| s);
            }
            if state.submitted.is_empty() {
                return Ok(syncs);
            }
            let batch: Vec<(usize, Bytes)> = state.submitted.drain(..).collect();
            (batch, state.next_ticket)
        };
        last_batch = batch.len();
        let flush_started = Instant::now();
        let mut queued = Ok(());
        for (writer, payload) in batch {
            if next_index.len() <= writer {
                next_index.resize(writer + 1, 1);
            }
            let index = next_index[writer];
            next_index[writer] += 1;
            let entries = vec![Entry {
                term: 1,
                index,
                payload: Payload::Command(payload),
            }];
            // A record size above ENTRY_SIZE_MAX is refused: reported to the writers below.
            queued = queued.and_then(|()| {
                wal.queue(Record::Entries {
                    group: writer as GroupId,
                    entries,
                })
            });
        }
        let result = queued.and_then(|()| wal.flush());
        last_flush = flush_started.elapsed();
        let mut state = lock(channel);
        match result {
            Ok(stats) => {
                syncs += stats.syncs;
                state.durable = last_ticket;
            }
            Err(error) => state.error = Some(error.to_string()),
        }
        channel.writers.notify_all();
        if state.error.is_some() {
            return Ok(syncs);
        }
    }
}

/// One writer appending `record_bytes` and calling fdatasync after each, for `seconds`.
pub fn raw_fsync(dir: &Path, record_bytes: usize, seconds: f64) -> Result<BenchRow, WalError> {
    let io = |e: std::io::Error| WalError::Disk(crate::DiskError::Io(e.to_string()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("raw-fsync.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(io)?;
    let record = vec![0x5Au8; record_bytes];
    let started = Instant::now();
    let mut records = 0;
    while started.elapsed().as_secs_f64() < seconds {
        file.write_all(&record).map_err(io)?;
        file.sync_data().map_err(io)?;
        records += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(BenchRow::new(1, record_bytes, records, records, elapsed))
}

/// The disk's sequential rate: 1 MiB writes, one fdatasync per 64 MiB, for `seconds`.
pub fn raw_sequential(dir: &Path, seconds: f64) -> Result<BenchRow, WalError> {
    const CHUNK: usize = 1 << 20;
    const SYNC_EVERY: u64 = 64;
    let io = |e: std::io::Error| WalError::Disk(crate::DiskError::Io(e.to_string()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("raw-sequential.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(io)?;
    let chunk = vec![0xA5u8; CHUNK];
    let started = Instant::now();
    let (mut records, mut syncs) = (0u64, 0u64);
    while started.elapsed().as_secs_f64() < seconds {
        file.write_all(&chunk).map_err(io)?;
        records += 1;
        if records % SYNC_EVERY == 0 {
            file.sync_data().map_err(io)?;
            syncs += 1;
        }
    }
    file.sync_data().map_err(io)?;
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(BenchRow::new(1, CHUNK, records, syncs + 1, elapsed))
}
