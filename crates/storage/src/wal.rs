//! The node-wide write-ahead log: group commit (every queued record of every group goes out in
//! one append and one fsync), segment rotation, snapshot files, and dropping what snapshots
//! cover so disk use stays bounded.
//!
//! Segments are dropped oldest first only. Dropping a middle segment could lose a record that
//! truncated an older segment's entries (Raft overwrite) or a tombstone, and stale entries
//! would come back on recovery; with prefix-only dropping, replay always sees a suffix of the
//! history, which rebuilds the same log above every snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use raft::{Entry, HardState, LogIndex};

use crate::codec::{self, RECORD_SIZE_MAX, TYPE_ENTRIES, TYPE_HARD_STATE, TYPE_REMOVE};
use crate::recover;
use crate::{Disk, DiskError, GroupId, Record, Recovered};

/// Snapshot files kept per group: the newest and one before it.
const SNAPSHOTS_KEPT: usize = 2;

/// Tuning of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is sealed once a flush would take it past this size (a single flush larger
    /// than this still goes into one segment).
    pub segment_bytes_max: u64,
    /// The largest record payload the writer frames: a group's entries are split into records
    /// of at most this. Recovery refuses records above `RECORD_SIZE_MAX`, so a larger value is
    /// lowered to it; tests set it small to split without writing 64 MiB.
    pub record_bytes_max: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_bytes_max: 64 << 20,
            record_bytes_max: RECORD_SIZE_MAX,
        }
    }
}

/// Why a log operation failed.
#[derive(Debug)]
pub enum WalError {
    /// The disk refused. On `Full` nothing was lost and the operation may be retried.
    Disk(DiskError),
    /// An earlier write or sync failed for a reason other than space: what is durable is
    /// unknown (a failed fsync may have dropped dirty pages), so the log refuses further work
    /// until it is reopened and recovered.
    Failed(String),
    /// The snapshot given to `save_snapshot` does not match its own size and checksum.
    BadSnapshot(String),
    /// A snapshot's data is above `raft::SNAPSHOT_SIZE_MAX` (what a follower accepts): it was
    /// refused before anything was written, and the group's log and older snapshots stay.
    SnapshotTooLarge {
        /// The group.
        group: GroupId,
        /// The snapshot's index.
        index: LogIndex,
        /// Its data size.
        bytes: u64,
        /// The cap.
        max: u64,
    },
    /// One entry needs a record larger than the cap (`WalOptions::record_bytes_max`, at most
    /// `RECORD_SIZE_MAX`): recovery could never read it back. Nothing of the `queue` call
    /// that carried it was queued; the log is whole. Proposers bound commands by
    /// `ENTRY_SIZE_MAX` so that this does not happen.
    RecordTooLarge {
        /// The group.
        group: GroupId,
        /// The entry's index.
        index: LogIndex,
        /// The record payload the entry needs alone (entry count included).
        bytes: u64,
        /// The cap.
        max: u64,
    },
    /// Entries given to `queue` are not consecutive: recovery would call the record damage.
    /// Nothing of that call was queued.
    EntriesNotConsecutive {
        /// The group.
        group: GroupId,
        /// The entry before the gap.
        previous: LogIndex,
        /// The entry after it.
        index: LogIndex,
    },
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Disk(error) => write!(f, "wal disk error: {error}"),
            WalError::Failed(why) => write!(f, "wal failed earlier and must be reopened: {why}"),
            WalError::BadSnapshot(why) => write!(f, "bad snapshot: {why}"),
            WalError::SnapshotTooLarge {
                group,
                index,
                bytes,
                max,
            } => {
                write!(f, "snapshot of group {group} at index {index} is {bytes} bytes, above the cap of {max}")
            }
            WalError::RecordTooLarge {
                group,
                index,
                bytes,
                max,
            } => {
                write!(f, "entry {index} of group {group} needs a wal record of {bytes} bytes, above the cap of {max}")
            }
            WalError::EntriesNotConsecutive {
                group,
                previous,
                index,
            } => {
                write!(
                    f,
                    "entries of group {group} not consecutive: {index} after {previous}"
                )
            }
        }
    }
}

impl std::error::Error for WalError {}

impl From<DiskError> for WalError {
    fn from(error: DiskError) -> WalError {
        WalError::Disk(error)
    }
}

/// What one flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Records written (queued ones; not the hard states that open a new segment).
    pub records: u64,
    /// Bytes appended.
    pub bytes: u64,
    /// fsyncs issued (file and directory).
    pub syncs: u64,
}

/// What the log knows about one segment, to decide when it can be dropped.
#[derive(Clone, Debug, Default)]
pub(crate) struct SegmentInfo {
    /// Its sequence number.
    pub sequence: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// Per group, the highest entry index written in this segment.
    pub entries: BTreeMap<GroupId, LogIndex>,
    /// Every group with a record here.
    pub groups: BTreeSet<GroupId>,
    /// Holds a tombstone: it must outlive every older segment.
    pub tombstones: bool,
    /// Groups found damaged here: the evidence stays until they are removed.
    pub damaged: BTreeSet<GroupId>,
    /// Whether a flush has gone into it (a segment is only sealed after one).
    pub has_batch: bool,
}

/// What the log knows about a live group.
#[derive(Clone, Debug, Default)]
struct GroupInfo {
    hard_state: HardState,
    /// Snapshot files: index -> file bytes.
    snapshots: BTreeMap<LogIndex, u64>,
}

impl GroupInfo {
    fn covered(&self) -> LogIndex {
        self.snapshots.keys().next_back().copied().unwrap_or(0)
    }
}

/// A queued record's effect on the bookkeeping, applied once it is durable.
#[derive(Clone, Debug)]
enum Change {
    Entries {
        group: GroupId,
        last: LogIndex,
    },
    HardState {
        group: GroupId,
        hard_state: HardState,
    },
    Remove {
        group: GroupId,
    },
    Install {
        group: GroupId,
    },
}

/// The write-ahead log on a [`Disk`].
pub struct Wal<D: Disk> {
    disk: D,
    options: WalOptions,
    segments: BTreeMap<u64, SegmentInfo>,
    current: Option<u64>,
    /// The current segment's path, kept: a flush must not format it each time.
    current_path: String,
    next_sequence: u64,
    groups: BTreeMap<GroupId, GroupInfo>,
    /// Encoded records waiting for the next flush.
    pending: Vec<u8>,
    changes: Vec<Change>,
    failed: Option<String>,
}

fn segment_path(sequence: u64) -> String {
    format!("wal/{}", codec::segment_name(sequence))
}

fn snapshot_path(group: GroupId, index: LogIndex) -> String {
    format!("snap/{}", codec::snapshot_name(group, index))
}

/// What `save_snapshot` refuses before writing anything. The file format has room for any
/// size (a u64 in the header); the cap is Raft's: a follower buffers a snapshot whole and
/// refuses one above `raft::SNAPSHOT_SIZE_MAX`, so a larger one could never be sent.
fn check_snapshot(group: GroupId, snapshot: &raft::Snapshot) -> Result<(), WalError> {
    let (index, bytes, max) = (
        snapshot.meta.index,
        snapshot.meta.size,
        raft::SNAPSHOT_SIZE_MAX,
    );
    if bytes > max || snapshot.data.len() as u64 > max {
        return Err(WalError::SnapshotTooLarge {
            group,
            index,
            bytes: bytes.max(snapshot.data.len() as u64),
            max,
        });
    }
    if !snapshot.is_intact() {
        return Err(WalError::BadSnapshot(format!(
            "group {group} index {index}: data does not match its size and checksum"
        )));
    }
    Ok(())
}

impl<D: Disk> Wal<D> {
    /// Opens (recovering) the log on `disk`: scans all segments in order, verifies every
    /// record's CRC32C, truncates a torn tail of the last segment (durably), and reports
    /// corruption anywhere else by marking the affected groups damaged. Rebuilds each group's
    /// newest hard state, its log (Raft semantics: entries replace the log from their first
    /// index on) and its newest intact snapshot (older entries dropped).
    pub fn open(mut disk: D, mut options: WalOptions) -> Result<(Wal<D>, Recovered), WalError> {
        options.record_bytes_max = options.record_bytes_max.min(RECORD_SIZE_MAX);
        let scan = recover::recover(&mut disk)?;
        let mut groups: BTreeMap<GroupId, GroupInfo> = BTreeMap::new();
        for (&group, state) in &scan.recovered.groups {
            let snapshots = scan.snapshot_files.get(&group).cloned().unwrap_or_default();
            groups.insert(
                group,
                GroupInfo {
                    hard_state: state.hard_state,
                    snapshots,
                },
            );
        }
        let wal = Wal {
            disk,
            options,
            segments: scan.segments,
            current: None,
            current_path: String::new(),
            next_sequence: scan.next_sequence,
            groups,
            pending: Vec::new(),
            changes: Vec::new(),
            failed: None,
        };
        Ok((wal, scan.recovered))
    }

    /// Queues a record for the next flush (group commit). The caller bounds the batch: it
    /// flushes after each round of its event loop.
    ///
    /// Entries go out as several records when one would pass `record_bytes_max`. An entry
    /// too large for any record (`RecordTooLarge`) or a gap (`EntriesNotConsecutive`) is
    /// refused before anything of the call is queued. A hard state is never refused.
    pub fn queue(&mut self, record: Record) -> Result<(), WalError> {
        match record {
            Record::Entries { group, entries } => self.queue_entries(group, &entries)?,
            Record::HardState { group, hard_state } => {
                codec::put_record(&mut self.pending, TYPE_HARD_STATE, group, |out| {
                    codec::put_hard_state(out, &hard_state)
                });
                self.changes.push(Change::HardState { group, hard_state });
            }
        }
        Ok(())
    }

    /// Frames a group's entries as consecutive records, in order, each filled up to the cap.
    /// Recovery replays them like one record: each replaces the log from its first index,
    /// which is the previous record's last plus one. A crash between them keeps a prefix of
    /// the entries, as a torn tail does: nothing was acknowledged yet.
    fn queue_entries(&mut self, group: GroupId, entries: &[Entry]) -> Result<(), WalError> {
        let max = self.options.record_bytes_max;
        let mut previous: Option<LogIndex> = None;
        for entry in entries {
            let bytes = codec::ENTRIES_HEADER_LEN + codec::entry_encoded_len(entry);
            if bytes > max {
                return Err(WalError::RecordTooLarge {
                    group,
                    index: entry.index,
                    bytes,
                    max,
                });
            }
            if let Some(previous) = previous.filter(|&p| p.checked_add(1) != Some(entry.index)) {
                return Err(WalError::EntriesNotConsecutive {
                    group,
                    previous,
                    index: entry.index,
                });
            }
            previous = Some(entry.index);
        }
        let mut rest = entries;
        while !rest.is_empty() {
            let (mut bytes, mut count) = (codec::ENTRIES_HEADER_LEN, 0);
            for entry in rest {
                bytes += codec::entry_encoded_len(entry);
                if bytes > max {
                    break;
                }
                count += 1;
            }
            // Checked above: every entry fits a record alone, so each record takes one or more.
            assert!(count > 0, "no entry fits a record: group={group} max={max}");
            let (record, after) = rest.split_at(count);
            codec::put_record(&mut self.pending, TYPE_ENTRIES, group, |out| {
                codec::put_entries(out, record)
            });
            let last = record.last().map_or(0, |e| e.index);
            self.changes.push(Change::Entries { group, last });
            rest = after;
        }
        Ok(())
    }

    /// Records a disk error: anything but `Full` (which guarantees nothing was written) leaves
    /// the durable state unknown, so the log stops.
    fn fail(&mut self, error: DiskError) -> WalError {
        if !matches!(error, DiskError::Full { .. }) {
            self.failed = Some(error.to_string());
        }
        WalError::Disk(error)
    }

    fn check_failed(&self) -> Result<(), WalError> {
        match &self.failed {
            Some(why) => Err(WalError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Writes everything queued in one append and one fsync. Rotates first if the batch would
    /// take the current segment past its size; a new segment starts with every live group's
    /// hard state so that older segments never hold the only copy. On `Full` the records stay
    /// queued.
    pub fn flush(&mut self) -> Result<FlushStats, WalError> {
        self.check_failed()?;
        if self.changes.is_empty() {
            return Ok(FlushStats::default());
        }
        let max = self.options.segment_bytes_max;
        let rotate = match self.current.and_then(|s| self.segments.get(&s)) {
            None => true,
            Some(info) => info.has_batch && info.bytes + self.pending.len() as u64 > max,
        };
        let mut stats = FlushStats {
            records: self.changes.len() as u64,
            ..FlushStats::default()
        };
        if rotate {
            stats.bytes = self.write_new_segment()?;
            stats.syncs = 2;
        } else {
            let path = &self.current_path;
            if let Err(error) = self.disk.append(path, &self.pending) {
                return Err(self.fail(error));
            }
            if let Err(error) = self.disk.sync(path) {
                return Err(self.fail(error));
            }
            stats.bytes = self.pending.len() as u64;
            stats.syncs = 1;
        }
        self.apply_changes(stats.bytes);
        if rotate {
            self.drop_segments()?;
        }
        Ok(stats)
    }

    /// Creates the next segment holding its header, the live groups' hard states and the
    /// queued batch, in one append; syncs it and its directory. Returns the bytes written.
    fn write_new_segment(&mut self) -> Result<u64, WalError> {
        let sequence = self.next_sequence;
        let mut buf = codec::segment_header(sequence).to_vec();
        let mut info = SegmentInfo {
            sequence,
            ..SegmentInfo::default()
        };
        for (&group, state) in &self.groups {
            if state.hard_state != HardState::default() {
                codec::put_record(&mut buf, TYPE_HARD_STATE, group, |out| {
                    codec::put_hard_state(out, &state.hard_state)
                });
                info.groups.insert(group);
            }
        }
        buf.extend_from_slice(&self.pending);
        let path = segment_path(sequence);
        if let Err(error) = self.disk.append(&path, &buf) {
            return Err(self.fail(error));
        }
        // The new file's name must be durable too, or the whole segment vanishes on a crash.
        let synced = self
            .disk
            .sync(&path)
            .and_then(|()| self.disk.sync_dir("wal"));
        if let Err(error) = synced {
            return Err(self.fail(error));
        }
        self.next_sequence = sequence + 1;
        self.segments.insert(sequence, info);
        self.current = Some(sequence);
        self.current_path = path;
        Ok(buf.len() as u64)
    }

    /// The batch is durable: account for it in the current segment and the groups.
    fn apply_changes(&mut self, bytes: u64) {
        let current = self.current.unwrap_or(0);
        let mut removed = Vec::new();
        let info = self.segments.entry(current).or_default();
        info.bytes += bytes;
        info.has_batch = true;
        for change in self.changes.drain(..) {
            match change {
                Change::Entries { group, last } => {
                    let max = info.entries.entry(group).or_insert(0);
                    *max = (*max).max(last);
                    info.groups.insert(group);
                    self.groups.entry(group).or_default();
                }
                Change::HardState { group, hard_state } => {
                    info.groups.insert(group);
                    self.groups.entry(group).or_default().hard_state = hard_state;
                }
                Change::Install { group } => {
                    info.groups.insert(group);
                    self.groups.entry(group).or_default();
                }
                Change::Remove { group } => {
                    info.tombstones = true;
                    info.entries.remove(&group);
                    self.groups.remove(&group);
                    removed.push(group);
                }
            }
        }
        self.pending.clear();
        for group in removed {
            // Entries queued after the tombstone in this batch revive the group.
            let revived = self.groups.contains_key(&group);
            for info in self.segments.values_mut() {
                if !revived {
                    info.entries.remove(&group);
                }
                info.damaged.remove(&group);
            }
        }
    }

    /// Stores a group's snapshot atomically (temp file, sync, rename, sync_dir), keeps the
    /// newest two, records that entries up to its index are covered, and drops the oldest
    /// segments whose every entry is covered.
    pub fn save_snapshot(
        &mut self,
        group: GroupId,
        snapshot: &raft::Snapshot,
    ) -> Result<(), WalError> {
        self.check_failed()?;
        check_snapshot(group, snapshot)?;
        let index = snapshot.meta.index;
        let bytes = codec::encode_snapshot(group, snapshot);
        let path = snapshot_path(group, index);
        let temp = format!("{path}.tmp");
        if let Err(error) = self.disk.write(&temp, &bytes) {
            // Best effort: a partial temp file is garbage (recovery deletes it too).
            let _ = self.disk.remove(&temp);
            return Err(self.fail(error));
        }
        let durable = self
            .disk
            .sync(&temp)
            .and_then(|()| self.disk.rename(&temp, &path))
            .and_then(|()| self.disk.sync_dir("snap"));
        if let Err(error) = durable {
            return Err(self.fail(error));
        }
        let info = self.groups.entry(group).or_default();
        info.snapshots.insert(index, bytes.len() as u64);
        let mut retired = Vec::new();
        while info.snapshots.len() > SNAPSHOTS_KEPT {
            retired.extend(info.snapshots.pop_first().map(|(old, _)| old));
        }
        for old in &retired {
            if let Err(error) = self.disk.remove(&snapshot_path(group, *old)) {
                return Err(self.fail(error));
            }
        }
        if !retired.is_empty() {
            if let Err(error) = self.disk.sync_dir("snap") {
                return Err(self.fail(error));
            }
        }
        self.drop_segments()
    }

    /// Installs a snapshot received from the leader: it replaces the group's whole log, as
    /// Raft's install does. A durable marker goes first, then the snapshot file, whose rename
    /// is the commit point: recovery clears the group's older entries at the marker only if
    /// that snapshot file exists. A crash in between leaves the old state whole; a finished
    /// install never brings back entries of the replaced log.
    pub fn install_snapshot(
        &mut self,
        group: GroupId,
        snapshot: &raft::Snapshot,
    ) -> Result<(), WalError> {
        self.check_failed()?;
        // A snapshot `save_snapshot` would refuse must not leave a marker behind first.
        check_snapshot(group, snapshot)?;
        let index = snapshot.meta.index;
        codec::put_record(&mut self.pending, codec::TYPE_INSTALL, group, |out| {
            out.extend_from_slice(&index.to_le_bytes())
        });
        self.changes.push(Change::Install { group });
        self.flush()?;
        self.save_snapshot(group, snapshot)
    }

    /// Forgets a group entirely: a tombstone is made durable (recovery then ignores the
    /// group's older records), its snapshot files are deleted, and its records no longer keep
    /// segments alive.
    pub fn remove_group(&mut self, group: GroupId) -> Result<(), WalError> {
        self.check_failed()?;
        codec::put_record(&mut self.pending, TYPE_REMOVE, group, |_| {});
        self.changes.push(Change::Remove { group });
        self.flush()?;
        let prefix = format!("{group:016}-");
        let mut removed_any = false;
        for name in self.disk.list("snap")? {
            if name.starts_with(&prefix)
                && codec::parse_snapshot_name(&name).is_some_and(|(g, _)| g == group)
            {
                if let Err(error) = self.disk.remove(&format!("snap/{name}")) {
                    return Err(self.fail(error));
                }
                removed_any = true;
            }
        }
        if removed_any {
            if let Err(error) = self.disk.sync_dir("snap") {
                return Err(self.fail(error));
            }
        }
        self.drop_segments()
    }

    /// Whether the oldest segment can go: not the current one, no evidence of damage to a
    /// live group, and every entry in it covered by its group's snapshot (or its group gone).
    fn oldest_droppable(&self) -> Option<u64> {
        let (&sequence, info) = self.segments.first_key_value()?;
        if Some(sequence) == self.current {
            return None;
        }
        if info
            .damaged
            .iter()
            .any(|group| self.groups.contains_key(group))
        {
            return None;
        }
        let covered = info
            .entries
            .iter()
            .all(|(group, &last)| self.groups.get(group).is_none_or(|g| g.covered() >= last));
        covered.then_some(sequence)
    }

    /// Drops covered segments, oldest first (see the module doc for why only a prefix).
    fn drop_segments(&mut self) -> Result<(), WalError> {
        let mut unsynced = false;
        while let Some(sequence) = self.oldest_droppable() {
            let tombstones = self
                .segments
                .get(&sequence)
                .is_some_and(|info| info.tombstones);
            // A tombstone must not vanish before the older records it cancels.
            if tombstones && unsynced {
                if let Err(error) = self.disk.sync_dir("wal") {
                    return Err(self.fail(error));
                }
            }
            if let Err(error) = self.disk.remove(&segment_path(sequence)) {
                return Err(self.fail(error));
            }
            self.segments.remove(&sequence);
            unsynced = true;
        }
        if unsynced {
            if let Err(error) = self.disk.sync_dir("wal") {
                return Err(self.fail(error));
            }
        }
        Ok(())
    }

    /// The disk.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The disk, mutably (the lab injects faults through it).
    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    /// Gives the disk back (to crash it and reopen).
    pub fn into_disk(self) -> D {
        self.disk
    }

    /// Total bytes of WAL segments and snapshot files.
    pub fn bytes_on_disk(&self) -> u64 {
        let segments: u64 = self.segments.values().map(|info| info.bytes).sum();
        let snapshots: u64 = self
            .groups
            .values()
            .flat_map(|g| g.snapshots.values())
            .sum();
        segments + snapshots
    }
}
