//! The node thread: owns the Raft replica, the write-ahead log and the keyspace, and drives
//! them by the `raft::Ready` contract, the same way the lab's simulated node does. Inputs
//! arrive on one bounded channel; each round drains what is waiting (so many clients' writes
//! share one fsync), then carries out the Ready.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use keyspace::Context;
use raft::{LogIndex, NodeId, Payload, ProposeError, Ready, Replica, Role, Term};
use resp::Value;
use storage::{FsDisk, Record, Wal};
use tokio::sync::oneshot;

use crate::command::Operation;
use crate::state::StateMachine;
use crate::wire::Frame;

/// The only group at this stage.
pub const GROUP: u64 = 1;
/// Most inputs taken in one round (bounds the batch and the latency of a round).
pub const ROUND_INPUTS_MAX: usize = 4_096;
/// A write whose fate is still unknown after this long is answered as such.
const UNKNOWN_AFTER: Duration = Duration::from_secs(10);
/// How often the leader sweeps expired keys.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);

/// How a command ended at this node.
#[derive(Debug)]
pub enum Outcome {
    /// Executed: the reply.
    Reply(Value),
    /// Not the leader (the leader's id, if known): the caller forwards or redirects.
    NotLeader(Option<NodeId>),
}

/// Where an outcome goes.
pub type Waiter = oneshot::Sender<Outcome>;

/// What this node's state looks like, for INFO and the CLI.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub id: NodeId,
    pub role: Option<Role>,
    pub term: Term,
    pub leader: Option<NodeId>,
    pub commit_index: LogIndex,
    pub applied_index: LogIndex,
    pub last_index: LogIndex,
    pub members: Vec<NodeId>,
    pub keys: usize,
}

/// Inputs of the node thread.
pub enum Input {
    Tick,
    Peer(raft::Message),
    Command { args: Vec<Bytes>, read: bool, reply: Waiter },
    Exec { commands: Vec<Vec<Bytes>>, watched: Vec<(Bytes, u64)>, reply: Waiter },
    /// Opens an exactly-once session.
    OpenSession { reply: Waiter },
    /// A numbered write of a session.
    SessionCommand { session: u64, seq: u64, args: Vec<Bytes>, reply: Waiter },
    Versions { keys: Vec<Bytes>, reply: oneshot::Sender<Vec<(Bytes, u64)>> },
    Status { reply: oneshot::Sender<Status> },
    Shutdown,
}

/// The node thread's state.
pub struct Driver {
    replica: Replica,
    wal: Wal<FsDisk>,
    state: StateMachine,
    applied: LogIndex,
    snapshot_entries: u64,
    peers: BTreeMap<NodeId, tokio::sync::mpsc::Sender<Frame>>,
    pending_writes: BTreeMap<LogIndex, (Term, Instant, Waiter)>,
    pending_reads: BTreeMap<u64, (Vec<Bytes>, Waiter)>,
    confirmed_reads: VecDeque<(LogIndex, u64)>,
    next_read: u64,
    last_expire: Instant,
    /// This round's writes, proposed together at its end: one batch, one append per peer.
    proposals: Vec<(Operation, Waiter)>,
    log: Box<dyn Fn(String) + Send>,
}

impl Driver {
    /// Recovers the log and builds the replica (refuses a damaged log: the operator must
    /// rejoin the node as a new replica).
    pub fn open(
        config: raft::Config,
        members: raft::Membership,
        wal: Wal<FsDisk>,
        recovered: storage::Recovered,
        snapshot_entries: u64,
        peers: BTreeMap<NodeId, tokio::sync::mpsc::Sender<Frame>>,
        log: Box<dyn Fn(String) + Send>,
    ) -> Result<Driver, String> {
        for finding in &recovered.findings {
            log(format!("recovery: {finding}"));
        }
        if recovered.damaged.contains(&GROUP) {
            return Err("the write-ahead log is damaged (see the findings above): this replica must not vote on it; \
                        move the data directory away and rejoin the node as a new replica"
                .to_owned());
        }
        let group = recovered.groups.get(&GROUP).cloned().unwrap_or_default();
        let state = match &group.snapshot {
            Some(snapshot) => StateMachine::decode(&snapshot.data).map_err(|e| format!("snapshot does not decode: {e}"))?,
            None => StateMachine::default(),
        };
        let applied = group.snapshot.as_ref().map_or(0, |s| s.meta.index);
        let restore = raft::RestoreState { hard_state: group.hard_state, snapshot: group.snapshot, entries: group.entries, initial_membership: members };
        let replica = Replica::new(config, restore)?;
        Ok(Driver {
            replica,
            wal,
            state,
            applied,
            snapshot_entries,
            peers,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            confirmed_reads: VecDeque::new(),
            next_read: 1,
            last_expire: Instant::now(),
            proposals: Vec::new(),
            log,
        })
    }

    /// Runs until `Shutdown` or the channel closes; ticks every `tick`.
    pub fn run(mut self, inputs: Receiver<Input>, tick: Duration) {
        let mut next_tick = Instant::now() + tick;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let first = match inputs.recv_timeout(timeout) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch: Vec<Input> = first.into_iter().collect();
            batch.extend(inputs.try_iter().take(ROUND_INPUTS_MAX));
            if Instant::now() >= next_tick {
                batch.push(Input::Tick);
                next_tick += tick;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + tick;
                }
            }
            if batch.iter().any(|i| matches!(i, Input::Shutdown)) {
                break;
            }
            for input in batch {
                self.handle(input);
            }
            self.propose_round();
            if let Err(error) = self.process_ready() {
                (self.log)(format!("storage error: {error}; stopping (restart to recover from the log)"));
                break;
            }
        }
        let _ = self.wal.flush();
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Tick => self.on_tick(),
            Input::Peer(message) => {
                let _ = self.replica.step(message);
            }
            Input::Command { args, read: true, reply } => self.read(args, reply),
            Input::Command { args, read: false, reply } => {
                let operation = Operation::Command { now_ms: wall_clock_ms(), args };
                self.propose(operation, reply);
            }
            Input::Exec { commands, watched, reply } => {
                let operation = Operation::Exec { now_ms: wall_clock_ms(), commands, watched };
                self.propose(operation, reply);
            }
            Input::OpenSession { reply } => self.propose(Operation::OpenSession, reply),
            Input::SessionCommand { session, seq, args, reply } => {
                let operation = Operation::SessionCommand { now_ms: wall_clock_ms(), session, seq, args };
                self.propose(operation, reply);
            }
            Input::Versions { keys, reply } => {
                let versions = keys.into_iter().map(|k| (k.clone(), self.state.keyspace.version(&k))).collect();
                let _ = reply.send(versions);
            }
            Input::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Input::Shutdown => {}
        }
    }

    fn on_tick(&mut self) {
        let was_leader = self.replica.role() == Role::Leader;
        self.replica.tick();
        if was_leader && self.last_expire.elapsed() >= EXPIRE_EVERY {
            self.last_expire = Instant::now();
            let _ = self.replica.propose(vec![Operation::Expire { now_ms: wall_clock_ms() }.encode()]);
        }
        // Writes whose fate nobody can tell any more: say so, never pretend.
        let now = Instant::now();
        let stale: Vec<LogIndex> = self.pending_writes.iter().filter(|(_, (_, since, _))| now.duration_since(*since) > UNKNOWN_AFTER).map(|(&i, _)| i).collect();
        for index in stale {
            if let Some((_, _, waiter)) = self.pending_writes.remove(&index) {
                let _ = waiter.send(Outcome::Reply(Value::Error(UNKNOWN_OUTCOME.to_owned())));
            }
        }
    }

    fn propose(&mut self, operation: Operation, reply: Waiter) {
        self.proposals.push((operation, reply));
    }

    /// Proposes the round's writes as one batch: consecutive entries, one append per peer.
    fn propose_round(&mut self) {
        if self.proposals.is_empty() {
            return;
        }
        let (operations, waiters): (Vec<Operation>, Vec<Waiter>) = std::mem::take(&mut self.proposals).into_iter().unzip();
        match self.replica.propose(operations.iter().map(Operation::encode).collect()) {
            Ok(first) => {
                let (term, now) = (self.replica.term(), Instant::now());
                for (index, waiter) in (first..).zip(waiters) {
                    self.pending_writes.insert(index, (term, now, waiter));
                }
            }
            Err(error) => {
                for waiter in waiters {
                    let _ = waiter.send(refusal(error.clone()));
                }
            }
        }
    }

    fn read(&mut self, args: Vec<Bytes>, reply: Waiter) {
        let context = self.next_read;
        self.next_read += 1;
        match self.replica.read_index(context) {
            Ok(()) => {
                self.pending_reads.insert(context, (args, reply));
            }
            Err(error) => {
                let _ = reply.send(refusal(error));
            }
        }
    }

    /// Carries out every Ready: send, persist (one flush), send after persist, apply, serve
    /// reads, advance. Returns an error only for storage failures.
    fn process_ready(&mut self) -> Result<(), String> {
        while let Some(ready) = self.replica.ready() {
            self.send(&ready.messages);
            self.persist(&ready)?;
            self.send(&ready.messages_after_persist);
            for entry in &ready.committed_entries {
                self.apply(entry);
            }
            self.confirmed_reads.extend(ready.read_states.iter().map(|r| (r.index, r.context)));
            for context in &ready.dropped_reads {
                if let Some((_, waiter)) = self.pending_reads.remove(context) {
                    let _ = waiter.send(Outcome::NotLeader(self.replica.leader()));
                }
            }
            self.serve_reads();
            self.replica.advance(ready.persisted);
            self.maybe_snapshot()?;
        }
        if self.replica.role() != Role::Leader {
            // Reads waiting for a confirmation that will not come here: send them on.
            let leader = self.replica.leader();
            for (_, (_, waiter)) in std::mem::take(&mut self.pending_reads) {
                let _ = waiter.send(Outcome::NotLeader(leader));
            }
            self.confirmed_reads.clear();
        }
        Ok(())
    }

    fn send(&self, messages: &[raft::Message]) {
        for message in messages {
            if let Some(peer) = self.peers.get(&message.to) {
                // A full queue drops the message: Raft retries, and memory stays bounded.
                let _ = peer.try_send(Frame::Raft(message.clone()));
            }
        }
    }

    fn persist(&mut self, ready: &Ready) -> Result<(), String> {
        if let Some(snapshot) = &ready.snapshot {
            self.wal.flush().map_err(|e| e.to_string())?;
            self.wal.install_snapshot(GROUP, snapshot).map_err(|e| e.to_string())?;
            self.state = StateMachine::decode(&snapshot.data).map_err(|e| format!("leader's snapshot does not decode: {e}"))?;
            self.applied = snapshot.meta.index;
        }
        if let Some(hard_state) = ready.hard_state {
            self.wal.queue(Record::HardState { group: GROUP, hard_state });
        }
        if !ready.entries.is_empty() {
            self.wal.queue(Record::Entries { group: GROUP, entries: ready.entries.clone() });
        }
        self.wal.flush().map(|_| ()).map_err(|e| e.to_string())
    }

    fn apply(&mut self, entry: &raft::Entry) {
        if entry.index <= self.applied {
            return;
        }
        self.applied = entry.index;
        let value = match &entry.payload {
            Payload::Command(bytes) => Some(self.apply_operation(bytes, entry.index)),
            Payload::Empty | Payload::Membership(_) => None,
        };
        let Some((term, _, waiter)) = self.pending_writes.remove(&entry.index) else { return };
        let outcome = match value {
            Some(value) if term == entry.term => value,
            // Another entry took our proposal's place: it can never commit now.
            _ => Value::Error(NOT_APPLIED.to_owned()),
        };
        let _ = waiter.send(Outcome::Reply(outcome));
    }

    fn apply_operation(&mut self, bytes: &[u8], index: LogIndex) -> Value {
        match Operation::decode(bytes) {
            Ok(operation) => self.state.apply(operation, index),
            Err(error) => Value::Error(format!("ERR corrupt log entry at {index}: {error}")),
        }
    }

    fn serve_reads(&mut self) {
        let now_ms = wall_clock_ms();
        while let Some(&(index, context)) = self.confirmed_reads.front() {
            if index > self.applied {
                break;
            }
            self.confirmed_reads.pop_front();
            if let Some((args, waiter)) = self.pending_reads.remove(&context) {
                let value = self.state.keyspace.read(&args, Context { now_ms, seed: self.applied });
                let _ = waiter.send(Outcome::Reply(value));
            }
        }
    }

    fn maybe_snapshot(&mut self) -> Result<(), String> {
        if self.applied < self.replica.first_index() + self.snapshot_entries {
            return Ok(());
        }
        self.replica.compact(self.applied, self.state.encode())?;
        if let Some(snapshot) = self.replica.snapshot() {
            self.wal.save_snapshot(GROUP, snapshot).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn status(&self) -> Status {
        Status {
            id: self.replica.id(),
            role: Some(self.replica.role()),
            term: self.replica.term(),
            leader: self.replica.leader(),
            commit_index: self.replica.commit_index(),
            applied_index: self.applied,
            last_index: self.replica.last_index(),
            members: self.replica.membership().replicas().into_iter().collect(),
            keys: self.state.keyspace.dbsize(wall_clock_ms()),
        }
    }
}

/// The answer to a write that may or may not have been applied.
pub const UNKNOWN_OUTCOME: &str = "UNKNOWN outcome unknown: leadership changed after the write was proposed; it may or may not have been applied";
/// The answer to a write that certainly was not applied.
pub const NOT_APPLIED: &str = "TRYAGAIN write not applied: leadership changed before it committed; it is safe to retry";

fn refusal(error: ProposeError) -> Outcome {
    match error {
        ProposeError::NotLeader { leader_hint } => Outcome::NotLeader(leader_hint),
        ProposeError::TransferInProgress => Outcome::Reply(Value::Error("TRYAGAIN leadership transfer in progress".to_owned())),
        ProposeError::Busy { .. } => Outcome::Reply(Value::Error("BUSY too many writes waiting to commit; retry later".to_owned())),
        other => Outcome::Reply(Value::Error(format!("ERR {other}"))),
    }
}

/// Milliseconds since the Unix epoch: read here only, and stamped into log entries by the
/// leader, so every replica applies the same time.
pub fn wall_clock_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
