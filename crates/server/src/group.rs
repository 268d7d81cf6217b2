//! One Raft group hosted on this node: its replica, its slice of the keyspace, and the
//! clients waiting on it. The node thread ([`crate::driver`]) owns many of these and carries
//! out their Readies together (one log, one fsync per round).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keyspace::Context;
use raft::{LogIndex, NodeId, Payload, ProposeError, Replica, Role, Term};
use resp::Value;

use crate::cluster::{node_of, GroupId, ReplicaId};
use crate::command::Operation;
use crate::driver::{wall_clock_ms, Outcome, Waiter, NOT_APPLIED, UNKNOWN_OUTCOME};
use crate::pipeline::Gate;
use crate::state::StateMachine;

/// The first argument of the read that `NINESDB BACKUP <group>` becomes: it is served, as
/// any linearizable read, once the leader has confirmed its leadership and applied
/// everything committed before the request arrived.
pub const BACKUP_READ: &[u8] = b"\0ninesdb-backup";

/// A write whose fate is still unknown after this long is answered as such.
const UNKNOWN_AFTER: Duration = Duration::from_secs(10);
/// How often the leader sweeps expired keys.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);

/// A blocking command (BLPOP and kin, XREAD/XREADGROUP BLOCK) from one client, waiting at
/// this leader.
pub struct Blocked {
    /// Arrival order: the earliest is served first.
    arrival: u64,
    args: Vec<Bytes>,
    /// When to give up and answer nil; `None` waits for ever (timeout 0).
    deadline: Option<Instant>,
}

/// A write waiting for the end of the round to be proposed.
struct Proposal {
    operation: Operation,
    waiter: Waiter,
    blocking: Option<Blocked>,
    /// A pipelined command's gate: closed if this one is refused as not leader.
    gate: Option<Arc<Gate>>,
}

/// A read waiting for its ReadIndex confirmation.
struct PendingRead {
    args: Vec<Bytes>,
    waiter: Waiter,
    gate: Option<Arc<Gate>>,
}

impl PendingRead {
    /// Sends it to the leader (closing its gate: what its connection sent after it must
    /// follow it there, not overtake it here).
    fn not_leader(self, leader: Option<NodeId>) {
        Gate::close_some(self.gate.as_deref());
        let _ = self.waiter.send(Outcome::NotLeader(leader));
    }
}

/// A write proposed and not yet applied: whom to answer, and whether it is a blocked
/// client's attempt (which blocks again instead of answering nil).
struct PendingWrite {
    term: Term,
    since: Instant,
    waiter: Waiter,
    blocking: Option<Blocked>,
}

/// A replica being rebuilt: `new` was added as a learner to replace `leaving`.
#[derive(Clone, Debug)]
pub struct Repair {
    pub new: ReplicaId,
    pub leaving: Option<ReplicaId>,
    pub since: Instant,
}

/// What one hosted group looks like, for INFO, CLUSTER and `ctl status`.
#[derive(Clone, Debug, Default)]
pub struct GroupStatus {
    pub group: GroupId,
    pub replica: ReplicaId,
    pub role: Option<Role>,
    pub term: Term,
    pub leader: Option<NodeId>,
    pub commit_index: LogIndex,
    pub applied_index: LogIndex,
    pub last_index: LogIndex,
    pub voters: Vec<ReplicaId>,
    pub learners: Vec<ReplicaId>,
    pub keys: usize,
    /// A digest of the replica's keyspace (data, TTLs, versions, scripts), to compare
    /// replicas; 0 unless asked for.
    pub digest: u64,
    /// Writes proposed here waiting to commit.
    pub pending_writes: usize,
    /// This leader is replacing a lost replica.
    pub repairing: bool,
    /// Times this replica saw the leader change (to a known leader).
    pub leader_changes: u64,
}

pub struct Group {
    pub id: GroupId,
    pub replica: Replica,
    pub state: StateMachine,
    pub applied: LogIndex,
    pending_writes: BTreeMap<LogIndex, PendingWrite>,
    pending_reads: BTreeMap<u64, PendingRead>,
    confirmed_reads: VecDeque<(LogIndex, u64)>,
    next_read: u64,
    last_expire: Instant,
    /// This round's writes, proposed together at its end: one batch, one append per peer.
    proposals: Vec<Proposal>,
    /// Clients blocked on this group's keys, in arrival order (leader only).
    blocked: VecDeque<(Blocked, Waiter)>,
    next_arrival: u64,
    /// When a leader last spoke to this replica (bounds the staleness of follower reads, and
    /// tells an orphaned replica).
    pub last_leader_contact: Instant,
    pub repair: Option<Repair>,
    /// When this leader last handed leadership to the group's preferred leader.
    pub last_transfer: Option<Instant>,
    /// The `DEL` this leader proposed for `maxmemory`, until it applies.
    pub(crate) eviction: Option<crate::evict::Pending>,
    /// The applied index at which a snapshot was found over the cap (see `snapshot_due`).
    snapshot_refused_at: Option<LogIndex>,
    /// The hash slots a script applied here may touch (see `with_script_slots`).
    pub script_slots: Option<(u16, u16)>,
    /// The instruction budget of a script applied here.
    pub script_instructions_max: u64,
    /// The leader this replica last knew, and how often a new one was seen.
    last_leader: Option<NodeId>,
    leader_changes: u64,
}

impl Group {
    pub fn new(id: GroupId, replica: Replica, state: StateMachine, applied: LogIndex) -> Group {
        Group {
            id,
            replica,
            state,
            applied,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            confirmed_reads: VecDeque::new(),
            next_read: 1,
            last_expire: Instant::now(),
            proposals: Vec::new(),
            blocked: VecDeque::new(),
            next_arrival: 0,
            last_leader_contact: Instant::now(),
            repair: None,
            last_transfer: None,
            eviction: None,
            snapshot_refused_at: None,
            script_slots: None,
            script_instructions_max: keyspace::SCRIPT_INSTRUCTIONS_MAX_DEFAULT,
            last_leader: None,
            leader_changes: 0,
        }
    }

    /// The script settings of the server's configuration: the instruction budget, and, with
    /// several groups, the slots this group serves (a script it runs may touch keys of those
    /// slots only).
    pub fn with_script_settings(mut self, config: &crate::config::ServerConfig) -> Group {
        let groups = config.group_count();
        if self.id != crate::cluster::META && groups > 1 {
            self.script_slots = Some(crate::cluster::slot_range(self.id, groups));
        }
        self.script_instructions_max = config.script_instructions_max;
        self
    }

    pub fn is_leader(&self) -> bool {
        self.replica.role() == Role::Leader
    }

    /// The leader's node, if known.
    pub fn leader_node(&self) -> Option<NodeId> {
        self.replica.leader().map(node_of)
    }

    pub fn step(&mut self, message: raft::Message) {
        if matches!(
            message.body,
            raft::MessageBody::Append { .. }
                | raft::MessageBody::Heartbeat { .. }
                | raft::MessageBody::SnapshotChunk { .. }
        ) {
            self.last_leader_contact = Instant::now();
        }
        let _ = self.replica.step(message);
    }

    pub fn on_tick(&mut self) {
        let was_leader = self.is_leader();
        self.replica.tick();
        if was_leader
            && self.last_expire.elapsed() >= EXPIRE_EVERY
            && self
                .state
                .keyspace
                .next_expiry()
                .is_some_and(|due| due <= wall_clock_ms())
        {
            self.last_expire = Instant::now();
            let _ = self.replica.propose(vec![Operation::Expire {
                now_ms: wall_clock_ms(),
            }
            .encode()]);
        }
        // Writes whose fate nobody can tell any more: say so, never pretend.
        let now = Instant::now();
        let stale: Vec<LogIndex> = self
            .pending_writes
            .iter()
            .filter(|(_, pending)| now.duration_since(pending.since) > UNKNOWN_AFTER)
            .map(|(&i, _)| i)
            .collect();
        for index in stale {
            if let Some(pending) = self.pending_writes.remove(&index) {
                let _ = pending
                    .waiter
                    .send(Outcome::Reply(Value::Error(UNKNOWN_OUTCOME.to_owned())));
            }
        }
        self.expire_blocked(now);
    }

    pub fn propose(&mut self, operation: Operation, reply: Waiter) {
        self.propose_gated(operation, reply, None);
    }

    /// A write of a pipeline (see [`Gate`]): refused as not leader, it closes `gate`.
    pub fn propose_gated(&mut self, operation: Operation, reply: Waiter, gate: Option<Arc<Gate>>) {
        self.proposals.push(Proposal {
            operation,
            waiter: reply,
            blocking: None,
            gate,
        });
    }

    /// A blocking command: tried at once as a write; if it finds nothing to pop, its client
    /// waits here until a write gives its keys elements, its timeout runs out, or this
    /// replica stops leading (the client is then sent to the new leader and waits there,
    /// its timeout starting again).
    pub fn propose_blocking(&mut self, args: Vec<Bytes>, reply: Waiter) {
        let Some(timeout) = crate::blocking::timeout(&args) else {
            // A bad timeout: the keyspace answers Redis's error.
            return self.propose(
                Operation::Command {
                    now_ms: wall_clock_ms(),
                    args,
                },
                reply,
            );
        };
        let blocked = Blocked {
            arrival: self.next_arrival,
            deadline: timeout.map(|t| Instant::now() + t),
            args: args.clone(),
        };
        self.next_arrival += 1;
        self.proposals.push(Proposal {
            operation: Operation::Command {
                now_ms: wall_clock_ms(),
                args,
            },
            waiter: reply,
            blocking: Some(blocked),
            gate: None,
        });
    }

    /// Blocked clients waiting here now.
    pub fn blocked_count(&self) -> usize {
        self.blocked.len()
    }

    /// Blocked clients whose time ran out hear nil; those who left are forgotten.
    fn expire_blocked(&mut self, now: Instant) {
        self.blocked.retain(|(_, waiter)| !waiter.is_closed());
        while let Some(index) = self
            .blocked
            .iter()
            .position(|(b, _)| b.deadline.is_some_and(|d| d <= now))
        {
            if let Some((blocked, waiter)) = self.blocked.remove(index) {
                let _ = waiter.send(Outcome::Reply(crate::blocking::timed_out(&blocked.args)));
            }
        }
    }

    /// Blocks a client whose attempt found nothing, keeping its place in the arrival order.
    fn block(&mut self, blocked: Blocked, waiter: Waiter) {
        let at = self
            .blocked
            .iter()
            .position(|(b, _)| b.arrival > blocked.arrival)
            .unwrap_or(self.blocked.len());
        self.blocked.insert(at, (blocked, waiter));
    }

    /// After applying: blocked clients whose keys now hold elements try again, earliest
    /// first, as many per key as it has elements (each attempt is a replicated pop).
    fn wake_blocked(&mut self) {
        if self.blocked.is_empty() || !self.is_leader() {
            return;
        }
        let now_ms = wall_clock_ms();
        let mut left: BTreeMap<Bytes, i64> = BTreeMap::new();
        let mut still = VecDeque::with_capacity(self.blocked.len());
        for (blocked, waiter) in std::mem::take(&mut self.blocked) {
            if waiter.is_closed() {
                continue;
            }
            let keyspace = &self.state.keyspace;
            if let Some(error) = crate::blocking::gone(keyspace, &blocked.args, now_ms) {
                let _ = waiter.send(Outcome::Reply(error));
                continue;
            }
            let ready = crate::blocking::source_keys(&blocked.args)
                .into_iter()
                .any(|key| {
                    let count = left.entry(key.clone()).or_insert_with(|| {
                        crate::blocking::available(keyspace, &blocked.args, &key, now_ms)
                    });
                    *count -= 1;
                    *count >= 0
                });
            if ready {
                let operation = Operation::Command {
                    now_ms,
                    args: blocked.args.clone(),
                };
                self.proposals.push(Proposal {
                    operation,
                    waiter,
                    blocking: Some(blocked),
                    gate: None,
                });
            } else {
                still.push_back((blocked, waiter));
            }
        }
        self.blocked = still;
        self.propose_round();
    }

    /// Proposes the round's writes as one batch: consecutive entries, one append per peer.
    pub fn propose_round(&mut self) {
        if self.proposals.is_empty() {
            return;
        }
        let proposals = std::mem::take(&mut self.proposals);
        match self.replica.propose(
            proposals
                .iter()
                .map(|proposal| proposal.operation.encode())
                .collect(),
        ) {
            Ok(first) => {
                let (term, since) = (self.replica.term(), Instant::now());
                for (index, proposal) in (first..).zip(proposals) {
                    self.pending_writes.insert(
                        index,
                        PendingWrite {
                            term,
                            since,
                            waiter: proposal.waiter,
                            blocking: proposal.blocking,
                        },
                    );
                }
            }
            Err(error) => {
                let outcome = refusal(error);
                for proposal in proposals {
                    if matches!(outcome, Outcome::NotLeader(_)) {
                        Gate::close_some(proposal.gate.as_deref());
                    }
                    let _ = proposal.waiter.send(outcome.clone());
                }
            }
        }
    }

    /// A linearizable read: served once the leader confirms its leadership (ReadIndex or lease).
    pub fn read(&mut self, args: Vec<Bytes>, reply: Waiter) {
        self.read_gated(args, reply, None);
    }

    /// A read of a pipeline (see [`Gate`]): sent on to the leader, it closes `gate`.
    pub fn read_gated(&mut self, args: Vec<Bytes>, reply: Waiter, gate: Option<Arc<Gate>>) {
        let context = self.next_read;
        self.next_read += 1;
        let read = PendingRead {
            args,
            waiter: reply,
            gate,
        };
        match self.replica.read_index(context) {
            Ok(()) => {
                self.pending_reads.insert(context, read);
            }
            Err(error) => match refusal(error) {
                Outcome::NotLeader(leader) => read.not_leader(leader),
                outcome => {
                    let _ = read.waiter.send(outcome);
                }
            },
        }
    }

    /// A `READONLY` connection's read on a follower: served from local state if the leader
    /// spoke within `max_stale`, refused otherwise (never staler than promised).
    pub fn stale_read(&mut self, args: Vec<Bytes>, reply: Waiter, max_stale: Duration) {
        if self.is_leader() {
            return self.read(args, reply);
        }
        let silence = self.last_leader_contact.elapsed();
        let outcome = if self.replica.leader().is_some() && silence <= max_stale {
            Outcome::Reply(self.state.keyspace.read(
                &args,
                Context {
                    now_ms: wall_clock_ms(),
                    seed: self.applied,
                },
            ))
        } else {
            Outcome::Reply(Value::Error(format!(
                "TRYAGAIN this replica last heard from its leader {} ms ago, beyond the {} ms staleness bound; retry, or read from the leader (READWRITE)",
                silence.as_millis(),
                max_stale.as_millis()
            )))
        };
        let _ = reply.send(outcome);
    }

    /// After the Ready's records are durable: apply what committed, serve confirmed reads.
    pub fn after_persist(&mut self, ready: &raft::Ready) {
        let leader = self.leader_node();
        if let Some(node) = leader.filter(|_| leader != self.last_leader) {
            self.leader_changes += 1;
            let term = self.replica.term();
            tracing::info!(
                group = self.id,
                term,
                leader = node,
                "group {}: node {node} leads (term {term})",
                self.id
            );
        }
        self.last_leader = leader.or(self.last_leader);
        for entry in &ready.committed_entries {
            self.apply(entry);
        }
        self.confirmed_reads
            .extend(ready.read_states.iter().map(|r| (r.index, r.context)));
        for context in &ready.dropped_reads {
            if let Some(read) = self.pending_reads.remove(context) {
                read.not_leader(self.leader_node());
            }
        }
        self.serve_reads();
        self.wake_blocked();
    }

    /// Reads waiting for a confirmation that will not come here: send them on.
    pub fn release_reads_unless_leader(&mut self) {
        if self.is_leader() {
            return;
        }
        let leader = self.leader_node();
        for (_, read) in std::mem::take(&mut self.pending_reads) {
            read.not_leader(leader);
        }
        self.confirmed_reads.clear();
        // Blocked clients go to the new leader and wait there: nothing was popped for them.
        for (_, waiter) in std::mem::take(&mut self.blocked) {
            let _ = waiter.send(Outcome::NotLeader(leader));
        }
    }

    fn apply(&mut self, entry: &raft::Entry) {
        if entry.index <= self.applied {
            return;
        }
        self.applied = entry.index;
        let value = match &entry.payload {
            Payload::Command(bytes) => Some(match Operation::decode(bytes) {
                Ok(operation) => {
                    // A setting, not state: a snapshot installed since does not carry it.
                    if let Some((first, last)) = self.script_slots {
                        self.state.keyspace.set_script_slots(first, last);
                    }
                    self.state
                        .keyspace
                        .set_script_instructions_max(self.script_instructions_max);
                    self.state.apply(operation, entry.index, self.id)
                }
                Err(error) => {
                    Value::Error(format!("ERR corrupt log entry at {}: {error}", entry.index))
                }
            }),
            Payload::Empty | Payload::Membership(_) => None,
        };
        let Some(pending) = self.pending_writes.remove(&entry.index) else {
            return;
        };
        let outcome = match value {
            Some(value) if pending.term == entry.term => value,
            // Another entry took our proposal's place: it can never commit now.
            _ => Value::Error(NOT_APPLIED.to_owned()),
        };
        match pending.blocking {
            Some(mut blocked)
                if crate::blocking::nothing_popped(&outcome) && !pending.waiter.is_closed() =>
            {
                // Resolved against the state right after this attempt (XREAD's `$`).
                blocked.args =
                    crate::blocking::wait_args(&self.state.keyspace, blocked.args, wall_clock_ms());
                self.block(blocked, pending.waiter)
            }
            _ => {
                let _ = pending.waiter.send(Outcome::Reply(outcome));
            }
        }
    }

    fn serve_reads(&mut self) {
        let now_ms = wall_clock_ms();
        while let Some(&(index, context)) = self.confirmed_reads.front() {
            if index > self.applied {
                break;
            }
            self.confirmed_reads.pop_front();
            if let Some(PendingRead { args, waiter, .. }) = self.pending_reads.remove(&context) {
                if args.first().is_some_and(|a| a.as_ref() == BACKUP_READ) {
                    let _ = waiter.send(Outcome::Reply(self.backup()));
                    continue;
                }
                let value = self.state.keyspace.read(
                    &args,
                    Context {
                        now_ms,
                        seed: self.applied,
                    },
                );
                let _ = waiter.send(Outcome::Reply(value));
            }
        }
    }

    /// The group's keyspace as of its applied index: `[applied index, CRC-64 in hex, the
    /// keyspace's snapshot encoding]` (sessions stay out: a restored cluster starts fresh).
    fn backup(&self) -> Value {
        let bytes = self.state.keyspace.encode();
        let crc = keyspace::rdb::crc64(&bytes);
        Value::Array(vec![
            Value::Integer(i64::try_from(self.applied).unwrap_or(i64::MAX)),
            Value::Bulk(Bytes::from(format!("{crc:016x}"))),
            Value::Bulk(bytes),
        ])
    }

    /// Compacts the log into a snapshot when `every` entries were applied beyond the last;
    /// returns it for the caller to save.
    ///
    /// A state whose encoding passes `max_bytes` (what a follower accepts, Raft's snapshot
    /// cap) is not snapshotted: the group keeps its log uncompacted and serves on, and the
    /// next try waits another `every` entries. A stopped node would help nobody; the log
    /// message tells the operator to bound the data (`maxmemory`).
    pub fn snapshot_due(
        &mut self,
        every: u64,
        max_bytes: u64,
    ) -> Result<Option<&raft::Snapshot>, String> {
        let since = self
            .snapshot_refused_at
            .unwrap_or(self.replica.first_index());
        if self.applied < since + every {
            return Ok(None);
        }
        let state = self.state.encode();
        if state.len() as u64 > max_bytes {
            self.snapshot_refused_at = Some(self.applied);
            tracing::warn!(
                group = self.id,
                "group {}: its state is {} bytes, over the {max_bytes}-byte snapshot cap: the log is kept uncompacted and the group serves on, \
                 but a lost replica cannot be rebuilt from a snapshot; bound the data with --maxmemory",
                self.id,
                state.len()
            );
            return Ok(None);
        }
        self.snapshot_refused_at = None;
        self.replica.compact(self.applied, state)?;
        Ok(self.replica.snapshot())
    }

    pub fn status(&self, digest: bool) -> GroupStatus {
        let membership = self.replica.membership();
        GroupStatus {
            group: self.id,
            replica: self.replica.id(),
            role: Some(self.replica.role()),
            term: self.replica.term(),
            leader: self.leader_node(),
            commit_index: self.replica.commit_index(),
            applied_index: self.applied,
            last_index: self.replica.last_index(),
            voters: membership.voters.iter().copied().collect(),
            learners: membership.learners.iter().copied().collect(),
            keys: self.state.keyspace.dbsize(wall_clock_ms()),
            digest: if digest {
                self.state.keyspace.digest()
            } else {
                0
            },
            pending_writes: self.pending_writes.len() + self.proposals.len(),
            repairing: self.repair.is_some(),
            leader_changes: self.leader_changes,
        }
    }
}

pub fn refusal(error: ProposeError) -> Outcome {
    match error {
        ProposeError::NotLeader { leader_hint } => Outcome::NotLeader(leader_hint.map(node_of)),
        ProposeError::TransferInProgress => Outcome::Reply(Value::Error(
            "TRYAGAIN leadership transfer in progress".to_owned(),
        )),
        ProposeError::Busy { .. } => Outcome::Reply(Value::Error(
            "BUSY too many writes waiting to commit; retry later".to_owned(),
        )),
        other => Outcome::Reply(Value::Error(format!("ERR {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a state over the snapshot cap never stops the node (the security review's "a group
    // whose snapshot passes 4 GiB stops its node"). Method: a small cap and a state above it:
    // no snapshot, no error, one log line, and no new try before `every` more entries.
    #[test]
    fn a_state_over_the_snapshot_cap_keeps_its_log_and_serves_on() {
        let restore = raft::RestoreState {
            initial_membership: raft::Membership::with_voters([1]),
            ..Default::default()
        };
        let replica = Replica::new(raft::Config::new(1), restore).unwrap();
        let mut group = Group::new(1, replica, StateMachine::default(), 0);
        group.state.keyspace.apply(
            &[
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"big"),
                Bytes::from(vec![b'x'; 10_000]),
            ],
            Context { now_ms: 1, seed: 0 },
        );
        group.applied = 100;
        let mut due = |applied| {
            group.applied = applied;
            crate::logging::capture(|| group.snapshot_due(10, 1_000).unwrap().is_none())
        };
        let (none, lines) = due(100);
        assert!(none);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("WARN group 1: its state is"), "{lines:?}");
        assert!(lines[0].contains("over the 1000-byte snapshot cap"));
        // Not retried (the state is not even encoded again) before 10 more entries.
        let (none, lines) = due(105);
        assert!(none);
        assert!(lines.is_empty());
        let (none, lines) = due(110);
        assert!(none);
        assert_eq!(lines.len(), 1);
    }
}
