// Shared by the storage tests: a scripted workload and a model of what it acknowledged.
#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::Bytes;
use raft::{Entry, HardState, Membership, MembershipChange, Payload, Snapshot};
use storage::{Disk, GroupId, Record, Recovered, RecoveredGroup, Wal, WalError};

/// One step of a workload.
#[derive(Clone, Debug)]
pub enum Op {
    /// Queue these records, then flush once.
    Flush(Vec<Record>),
    Snapshot(GroupId, Snapshot),
    Remove(GroupId),
}

pub fn entries(group: GroupId, first: u64, count: u64, term: u64, size: usize) -> Record {
    let entries = (first..first + count)
        .map(|index| {
            let payload = match index % 7 {
                0 => Payload::Empty,
                3 => Payload::Membership(MembershipChange::EnterJoint {
                    voters: [1, 2, 4].into(),
                    learners: [5].into(),
                    outgoing: [1, 2, 3].into(),
                }),
                5 => Payload::Membership(MembershipChange::LeaveJoint),
                _ => Payload::Command(Bytes::from(vec![
                    (index as u8)
                        ^ (term as u8)
                        ^ (group as u8);
                    size
                ])),
            };
            Entry {
                term,
                index,
                payload,
            }
        })
        .collect();
    Record::Entries { group, entries }
}

pub fn hard(group: GroupId, term: u64, vote: Option<u64>, commit: u64) -> Record {
    Record::HardState {
        group,
        hard_state: HardState { term, vote, commit },
    }
}

pub fn snapshot(index: u64, term: u64, tag: u8) -> Snapshot {
    let membership = Membership {
        voters: [1, 2, 3].into(),
        voters_outgoing: [1, 2].into(),
        learners: [9].into(),
    };
    Snapshot::new(
        index,
        term,
        membership,
        Bytes::from(vec![tag; 50 + index as usize]),
    )
}

/// Several groups; overwrites; snapshots with retention; rotation (with a tiny segment size);
/// a removed group.
pub fn script() -> Vec<Op> {
    let mut ops = vec![
        Op::Flush(vec![
            hard(1, 1, Some(1), 0),
            entries(1, 1, 3, 1, 20),
            hard(2, 1, Some(2), 0),
            entries(2, 1, 2, 1, 30),
        ]),
        Op::Flush(vec![
            entries(1, 4, 3, 1, 20),
            entries(3, 1, 4, 1, 10),
            hard(3, 1, None, 2),
        ]),
        Op::Flush(vec![hard(1, 1, Some(1), 5), entries(2, 3, 3, 1, 30)]),
        Op::Snapshot(1, snapshot(5, 1, 0xA1)),
        Op::Flush(vec![entries(1, 6, 3, 2, 25), hard(1, 2, Some(3), 5)]),
        Op::Flush(vec![entries(2, 4, 3, 2, 40), entries(3, 5, 6, 1, 10)]),
        Op::Snapshot(2, snapshot(5, 2, 0xB2)),
        Op::Snapshot(3, snapshot(8, 1, 0xC3)),
    ];
    for round in 0..8u64 {
        let term = if round > 3 { 3 } else { 2 };
        ops.push(Op::Flush(vec![
            entries(1, 9 + 3 * round, 3, term, 15),
            entries(2, 7 + 2 * round, 2, 2, 35),
            hard(2, 2, Some(2), 6 + 2 * round),
        ]));
        if round == 3 {
            ops.push(Op::Snapshot(1, snapshot(12, 2, 0xA2)));
            ops.push(Op::Flush(vec![
                entries(3, 11, 2, 1, 5),
                entries(1, 20, 2, 3, 10),
            ]));
        }
        if round == 5 {
            ops.push(Op::Remove(3));
            ops.push(Op::Snapshot(1, snapshot(20, 3, 0xA3)));
        }
    }
    ops.push(Op::Snapshot(2, snapshot(20, 2, 0xB3)));
    ops.push(Op::Flush(vec![
        entries(1, 28, 4, 4, 12),
        hard(1, 4, None, 30),
        entries(4, 1, 2, 1, 8),
    ]));
    ops
}

/// One group as the model sees it: the full log, not yet cut by the snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelGroup {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub log: Vec<Entry>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub groups: BTreeMap<GroupId, ModelGroup>,
}

impl Model {
    pub fn apply_record(&mut self, record: &Record) {
        match record {
            Record::HardState { group, hard_state } => {
                self.groups.entry(*group).or_default().hard_state = *hard_state
            }
            Record::Entries { group, entries } => {
                let log = &mut self.groups.entry(*group).or_default().log;
                let first = entries[0].index;
                let start = log.first().map_or(first, |e| e.index);
                if first < start {
                    log.clear();
                } else {
                    log.truncate((first - start) as usize);
                }
                log.extend(entries.iter().cloned());
            }
        }
    }

    pub fn apply_snapshot(&mut self, group: GroupId, snapshot: &Snapshot) {
        self.groups.entry(group).or_default().snapshot = Some(snapshot.clone());
    }

    /// What recovery should return.
    pub fn view(&self) -> BTreeMap<GroupId, RecoveredGroup> {
        self.groups
            .iter()
            .map(|(&group, g)| {
                let covered = g.snapshot.as_ref().map_or(0, |s| s.meta.index);
                let entries = g
                    .log
                    .iter()
                    .filter(|e| e.index > covered)
                    .cloned()
                    .collect();
                (
                    group,
                    RecoveredGroup {
                        hard_state: g.hard_state,
                        snapshot: g.snapshot.clone(),
                        entries,
                    },
                )
            })
            .collect()
    }
}

/// Runs `ops` until one fails. Returns the acknowledged model and, if an op failed, the
/// states it may have left durable (every prefix of its effects).
pub fn run<D: Disk>(wal: &mut Wal<D>, ops: &[Op]) -> (Model, Option<Vec<Model>>) {
    run_with(wal, ops, false)
}

/// [`run`], where a record's entries may also survive a crash in part (any prefix of them):
/// what a log that splits one `Entries` record into several may leave.
pub fn run_with<D: Disk>(
    wal: &mut Wal<D>,
    ops: &[Op],
    entry_prefixes: bool,
) -> (Model, Option<Vec<Model>>) {
    let mut model = Model::default();
    for op in ops {
        let mut candidates = vec![model.clone()];
        let result: Result<(), WalError> = match op {
            Op::Flush(records) => {
                let mut next = model.clone();
                for record in records {
                    wal.queue(record.clone()).expect("queue");
                    if let (true, Record::Entries { group, entries }) = (entry_prefixes, record) {
                        for end in 1..entries.len() {
                            let mut part = next.clone();
                            part.apply_record(&Record::Entries {
                                group: *group,
                                entries: entries[..end].to_vec(),
                            });
                            candidates.push(part);
                        }
                    }
                    next.apply_record(record);
                    candidates.push(next.clone());
                }
                wal.flush().map(|_| ())
            }
            Op::Snapshot(group, snapshot) => {
                let mut next = model.clone();
                next.apply_snapshot(*group, snapshot);
                candidates.push(next);
                wal.save_snapshot(*group, snapshot)
            }
            Op::Remove(group) => {
                let mut next = model.clone();
                next.groups.remove(group);
                candidates.push(next);
                wal.remove_group(*group)
            }
        };
        match result {
            Ok(()) => model = candidates.pop().unwrap_or_default(),
            Err(_) => return (model, Some(candidates)),
        }
    }
    (model, None)
}

/// Whether recovery returned exactly one of the candidate states.
pub fn matches_one(recovered: &Recovered, candidates: &[Model]) -> bool {
    candidates
        .iter()
        .any(|model| model.view() == recovered.groups)
}
