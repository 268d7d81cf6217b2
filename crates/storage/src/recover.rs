//! Recovery: reads the snapshot files and every WAL segment, verifies every checksum, repairs
//! a torn tail, and rebuilds each group's state. Damage is reported, never skipped silently.

use std::collections::{BTreeMap, BTreeSet};

use raft::{Entry, HardState, LogIndex, Snapshot};

use crate::codec::{self, RECORD_HEADER_LEN, RECORD_SIZE_MAX, SEGMENT_HEADER_LEN};
use crate::wal::{SegmentInfo, WalError};
use crate::{Disk, GroupId, Recovered, RecoveredGroup};

/// What open needs besides the recovered state: the layout it found.
pub(crate) struct Scan {
    pub recovered: Recovered,
    pub segments: BTreeMap<u64, SegmentInfo>,
    /// Every snapshot file kept, per live group: index -> file bytes.
    pub snapshot_files: BTreeMap<GroupId, BTreeMap<LogIndex, u64>>,
    pub next_sequence: u64,
}

#[derive(Default)]
struct GroupReplay {
    hard_state: HardState,
    entries: Vec<Entry>,
    /// A tombstone was the group's last record.
    removed: bool,
    /// Entries were missing (segment, finding). Damage unless a later tombstone makes it
    /// moot: a removed group's snapshots are deleted, so its leftover records look gapped.
    gap: Option<(u64, String)>,
}

/// One frame read at an offset of a segment.
enum Frame<'a> {
    Intact {
        kind: u8,
        group: GroupId,
        payload: &'a [u8],
        end: usize,
    },
    /// The header is cut short, the length is implausible, or it runs past the end: nothing
    /// after this offset can be framed.
    Unframed(String),
    /// Framed, but the checksum fails: the header (even the group) cannot be trusted.
    BadChecksum { end: usize },
}

fn frame_at(buf: &[u8], pos: usize) -> Frame<'_> {
    let Some(header) = buf.get(pos..pos + RECORD_HEADER_LEN) else {
        return Frame::Unframed(format!("record header cut short at offset {pos}"));
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    if len > RECORD_SIZE_MAX {
        return Frame::Unframed(format!("implausible record length {len} at offset {pos}"));
    }
    let start = pos + RECORD_HEADER_LEN;
    let end = start + len as usize;
    let Some(payload) = buf.get(start..end) else {
        return Frame::Unframed(format!("record at offset {pos} runs past the end"));
    };
    let kind = header[4];
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&header[5..13]);
    let group = u64::from_le_bytes(raw);
    let crc = u32::from_le_bytes([header[13], header[14], header[15], header[16]]);
    if codec::record_crc(kind, group, payload) != crc {
        return Frame::BadChecksum { end };
    }
    Frame::Intact {
        kind,
        group,
        payload,
        end,
    }
}

/// Replays records into group states, collecting findings and damage.
struct Replay {
    groups: BTreeMap<GroupId, GroupReplay>,
    snapshots: BTreeMap<GroupId, Snapshot>,
    /// Every intact snapshot file per group: an install marker counts only if its file exists.
    snapshot_indexes: BTreeMap<GroupId, BTreeSet<LogIndex>>,
    damaged: BTreeSet<GroupId>,
    findings: Vec<String>,
}

impl Replay {
    fn damage(&mut self, group: GroupId, info: &mut SegmentInfo, finding: String) {
        self.findings.push(finding);
        self.findings.push(format!("group {group} damaged"));
        self.damaged.insert(group);
        info.damaged.insert(group);
    }

    fn apply(
        &mut self,
        path: &str,
        offset: usize,
        frame: (u8, GroupId, &[u8]),
        info: &mut SegmentInfo,
    ) {
        let (kind, group, payload) = frame;
        info.groups.insert(group);
        match kind {
            codec::TYPE_ENTRIES => match codec::get_entries(payload) {
                Ok(entries) => {
                    let last = entries.last().map_or(0, |e| e.index);
                    let max = info.entries.entry(group).or_insert(0);
                    *max = (*max).max(last);
                    if let Err(why) = self.apply_entries(group, entries) {
                        let state = self.groups.entry(group).or_default();
                        state.gap.get_or_insert((
                            info.sequence,
                            format!("{why} in {path} at offset {offset}"),
                        ));
                    }
                }
                Err(why) => self.damage(
                    group,
                    info,
                    format!("undecodable entries in {path} at offset {offset}: {why}"),
                ),
            },
            codec::TYPE_HARD_STATE => match codec::get_hard_state(payload) {
                Ok(hard_state) => {
                    let state = self.groups.entry(group).or_default();
                    state.hard_state = hard_state;
                    state.removed = false;
                }
                Err(why) => self.damage(
                    group,
                    info,
                    format!("undecodable hard state in {path} at offset {offset}: {why}"),
                ),
            },
            codec::TYPE_INSTALL => {
                let index = payload.try_into().map(u64::from_le_bytes);
                match index {
                    Ok(index)
                        if self
                            .snapshot_indexes
                            .get(&group)
                            .is_some_and(|s| s.contains(&index)) =>
                    {
                        self.groups.entry(group).or_default().entries.clear();
                    }
                    Ok(_) => {}
                    Err(_) => self.damage(
                        group,
                        info,
                        format!("undecodable install marker in {path} at offset {offset}"),
                    ),
                }
            }
            codec::TYPE_REMOVE => {
                info.tombstones = true;
                let state = self.groups.entry(group).or_default();
                *state = GroupReplay {
                    removed: true,
                    ..GroupReplay::default()
                };
            }
            other => self.damage(
                group,
                info,
                format!("unknown record type {other} in {path} at offset {offset}"),
            ),
        }
    }

    /// Raft log semantics: entries replace the log from their first index on. A start past
    /// both the log's end and the snapshot means entries are missing: that is damage.
    fn apply_entries(&mut self, group: GroupId, entries: Vec<Entry>) -> Result<(), String> {
        let snapshot_index = self.snapshots.get(&group).map_or(0, |s| s.meta.index);
        let state = self.groups.entry(group).or_default();
        state.removed = false;
        let first = entries.first().map_or(0, |e| e.index);
        let log_first = state.entries.first().map_or(1, |e| e.index);
        let log_last = state.entries.last().map_or(0, |e| e.index);
        if !state.entries.is_empty() && first >= log_first && first <= log_last.saturating_add(1) {
            state.entries.truncate((first - log_first) as usize);
            state.entries.extend(entries);
        } else if first <= snapshot_index.saturating_add(1) || first < log_first {
            state.entries = entries;
        } else {
            return Err(format!("group {group}: entries start at {first} after a log ending at {log_last} (snapshot {snapshot_index})"));
        }
        Ok(())
    }
}

/// Reads every snapshot file; keeps the newest intact one per group. A newest snapshot that
/// fails its checksum damages its group (an older one may not be covered by the log).
fn load_snapshots<D: Disk>(
    disk: &mut D,
    replay: &mut Replay,
) -> Result<BTreeMap<GroupId, BTreeMap<LogIndex, u64>>, WalError> {
    let mut files: BTreeMap<GroupId, BTreeMap<LogIndex, u64>> = BTreeMap::new();
    for name in disk.list("snap")? {
        let path = format!("snap/{name}");
        if name.ends_with(".tmp") {
            // A snapshot whose save never completed: it was never acknowledged.
            disk.remove(&path)?;
            continue;
        }
        match codec::parse_snapshot_name(&name) {
            Some((group, index)) => {
                let size = disk.read(&path).map(|b| b.len() as u64).unwrap_or(0);
                files.entry(group).or_default().insert(index, size);
            }
            None => replay.findings.push(format!("ignored unknown file {path}")),
        }
    }
    for (&group, indexes) in &files {
        // Every file is verified (a rotten older one is worth a finding); the newest intact
        // one is used; a rotten newest one damages the group.
        for (position, &index) in indexes.keys().rev().enumerate() {
            let path = format!("snap/{}", codec::snapshot_name(group, index));
            let loaded = disk
                .read(&path)
                .map_err(|e| e.to_string())
                .and_then(|buf| codec::decode_snapshot(&buf));
            match loaded {
                Ok((g, snapshot)) if g == group && snapshot.meta.index == index => {
                    replay.snapshots.entry(group).or_insert(snapshot);
                    continue;
                }
                Ok(_) => replay.findings.push(format!(
                    "checksum mismatch in {path}: header names another group or index"
                )),
                Err(why) => replay
                    .findings
                    .push(format!("checksum mismatch in {path}: {why}")),
            }
            if position == 0 {
                replay.findings.push(format!("group {group} damaged"));
                replay.damaged.insert(group);
            }
        }
    }
    Ok(files)
}

/// How the scan of one segment ended.
enum Ending {
    Clean,
    /// Torn tail at `offset` (last segment only). `untrusted`: corruption whose group is
    /// unknown came before the tail, so the tail's repair does not clear the suspicion.
    Torn {
        offset: usize,
        untrusted: bool,
    },
    /// Corruption whose group is unknown: every group here or later is suspect.
    Untrusted,
}

fn scan_segment(
    replay: &mut Replay,
    path: &str,
    sequence: u64,
    buf: &[u8],
    last: bool,
    info: &mut SegmentInfo,
) -> Ending {
    if buf.len() < SEGMENT_HEADER_LEN {
        if last {
            return Ending::Torn {
                offset: 0,
                untrusted: false,
            };
        }
        replay
            .findings
            .push(format!("segment header cut short in {path} at offset 0"));
        return Ending::Untrusted;
    }
    let mut ending = Ending::Clean;
    if codec::parse_segment_header(buf) != Some(sequence) {
        replay.findings.push(format!(
            "checksum mismatch in {path} at offset 0: bad segment header"
        ));
        ending = Ending::Untrusted;
    }
    let mut pos = SEGMENT_HEADER_LEN;
    // A torn tail ends the scan, but not a suspicion raised before it.
    let torn = |ending: &Ending, offset| Ending::Torn {
        offset,
        untrusted: matches!(ending, Ending::Untrusted),
    };
    while pos < buf.len() {
        match frame_at(buf, pos) {
            Frame::Intact {
                kind,
                group,
                payload,
                end,
            } => {
                replay.apply(path, pos, (kind, group, payload), info);
                pos = end;
            }
            Frame::Unframed(_) if last => return torn(&ending, pos),
            Frame::Unframed(why) => {
                replay
                    .findings
                    .push(format!("corruption in {path} at offset {pos}: {why}"));
                return Ending::Untrusted;
            }
            Frame::BadChecksum { end } => {
                if last && !matches!(frame_at(buf, end), Frame::Intact { .. }) {
                    return torn(&ending, pos);
                }
                replay
                    .findings
                    .push(format!("checksum mismatch in {path} at offset {pos}"));
                ending = Ending::Untrusted;
                pos = end;
            }
        }
    }
    ending
}

/// Cuts a torn tail durably. A segment whose header never made it gets a whole header, not
/// removal: removed, it would make the segment before it the last one on the next recovery,
/// where damage that this recovery reported in that sealed segment would pass for a torn tail
/// and be cut away silently.
fn repair_tail<D: Disk>(
    disk: &mut D,
    path: &str,
    sequence: u64,
    len: usize,
    offset: usize,
    findings: &mut Vec<String>,
) -> Result<(), WalError> {
    let cut = len - offset;
    findings.push(format!(
        "torn tail in {path} at offset {offset}: truncated {cut} bytes"
    ));
    if offset == 0 {
        disk.write(path, &codec::segment_header(sequence))?;
        disk.sync(path)?;
        disk.sync_dir("wal")?;
    } else {
        disk.truncate(path, offset as u64)?;
        disk.sync(path)?;
    }
    Ok(())
}

/// Scans every segment in sequence order.
fn scan_segments<D: Disk>(
    disk: &mut D,
    replay: &mut Replay,
) -> Result<(BTreeMap<u64, SegmentInfo>, u64), WalError> {
    let mut sequences = BTreeMap::new();
    for name in disk.list("wal")? {
        match codec::parse_segment_name(&name) {
            Some(sequence) => drop(sequences.insert(sequence, name)),
            None => replay
                .findings
                .push(format!("ignored unknown file wal/{name}")),
        }
    }
    let next_sequence = sequences
        .keys()
        .next_back()
        .map_or(1, |s| s.saturating_add(1));
    let last_sequence = sequences.keys().next_back().copied();
    let mut segments = BTreeMap::new();
    // Every segment that lost a record of an unknown group: each has its own suspects.
    let mut untrusted: Vec<u64> = Vec::new();
    for (sequence, name) in sequences {
        let path = format!("wal/{name}");
        let buf = disk.read(&path)?;
        let mut info = SegmentInfo {
            bytes: buf.len() as u64,
            sequence,
            ..SegmentInfo::default()
        };
        match scan_segment(
            replay,
            &path,
            sequence,
            &buf,
            Some(sequence) == last_sequence,
            &mut info,
        ) {
            Ending::Clean => {}
            Ending::Torn {
                offset,
                untrusted: lost_before_tail,
            } => {
                repair_tail(
                    disk,
                    &path,
                    sequence,
                    buf.len(),
                    offset,
                    &mut replay.findings,
                )?;
                if lost_before_tail {
                    untrusted.push(sequence);
                }
                info.bytes = offset.max(SEGMENT_HEADER_LEN) as u64;
            }
            Ending::Untrusted => {
                untrusted.push(sequence);
            }
        }
        segments.insert(sequence, info);
    }
    for from in untrusted {
        damage_from(replay, &mut segments, from);
    }
    Ok((segments, next_sequence))
}

/// A record whose group is unknown was lost in segment `from`. Suspects: every group with
/// records up to and including the next segment. That next segment opens with the hard state
/// of every group live when `from` was sealed; groups first seen after it were created after
/// the loss (recovery always starts a new segment), so they cannot have lost a record there.
fn damage_from(replay: &mut Replay, segments: &mut BTreeMap<u64, SegmentInfo>, from: u64) {
    let until = segments
        .range(from + 1..)
        .next()
        .map_or(from, |(&next, _)| next);
    let suspects: BTreeSet<GroupId> = segments
        .range(..=until)
        .flat_map(|(_, info)| info.groups.iter().copied())
        .collect();
    for &group in &suspects {
        if replay.damaged.insert(group) {
            replay.findings.push(format!("group {group} damaged"));
        }
    }
    if let Some(info) = segments.get_mut(&from) {
        info.damaged.extend(suspects);
    }
}

/// Gaps of groups that were not removed afterwards are damage.
fn damage_gaps(replay: &mut Replay, segments: &mut BTreeMap<u64, SegmentInfo>) {
    let gaps: Vec<(GroupId, u64, String)> = replay
        .groups
        .iter_mut()
        .filter(|(_, state)| !state.removed)
        .filter_map(|(&group, state)| {
            state
                .gap
                .take()
                .map(|(sequence, why)| (group, sequence, why))
        })
        .collect();
    for (group, sequence, why) in gaps {
        replay.findings.push(why);
        replay.findings.push(format!("group {group} damaged"));
        replay.damaged.insert(group);
        if let Some(info) = segments.get_mut(&sequence) {
            info.damaged.insert(group);
        }
    }
}

/// Opens the layout on `disk`: snapshots, then segments, then each group's final state.
pub(crate) fn recover<D: Disk>(disk: &mut D) -> Result<Scan, WalError> {
    let mut replay = Replay {
        groups: BTreeMap::new(),
        snapshots: BTreeMap::new(),
        snapshot_indexes: BTreeMap::new(),
        damaged: BTreeSet::new(),
        findings: Vec::new(),
    };
    let mut snapshot_files = load_snapshots(disk, &mut replay)?;
    replay.snapshot_indexes = snapshot_files
        .iter()
        .map(|(&group, files)| (group, files.keys().copied().collect()))
        .collect();
    let (mut segments, next_sequence) = scan_segments(disk, &mut replay)?;
    damage_gaps(&mut replay, &mut segments);
    let mut recovered = Recovered::default();
    let removed: Vec<GroupId> = replay
        .groups
        .iter()
        .filter(|(_, g)| g.removed)
        .map(|(&g, _)| g)
        .collect();
    for group in removed {
        // The tombstone is durable: whatever the group left behind is garbage now.
        replay.groups.remove(&group);
        replay.snapshots.remove(&group);
        replay.damaged.remove(&group);
        for index in snapshot_files
            .remove(&group)
            .unwrap_or_default()
            .into_keys()
        {
            disk.remove(&format!("snap/{}", codec::snapshot_name(group, index)))?;
            recovered.findings.push(format!(
                "deleted snapshot of removed group {group} at index {index}"
            ));
        }
    }
    let mut all: BTreeSet<GroupId> = replay.groups.keys().copied().collect();
    all.extend(snapshot_files.keys().copied());
    all.extend(replay.damaged.iter().copied());
    for group in all {
        let state = replay.groups.remove(&group).unwrap_or_default();
        let snapshot = replay.snapshots.remove(&group);
        let covered = snapshot.as_ref().map_or(0, |s| s.meta.index);
        let entries = state
            .entries
            .into_iter()
            .filter(|e| e.index > covered)
            .collect();
        recovered.groups.insert(
            group,
            RecoveredGroup {
                hard_state: state.hard_state,
                snapshot,
                entries,
            },
        );
    }
    recovered.damaged = replay.damaged;
    replay.findings.append(&mut recovered.findings);
    recovered.findings = replay.findings;
    Ok(Scan {
        recovered,
        segments,
        snapshot_files,
        next_sequence,
    })
}
