//! One replica of one group: roles, terms, elections and the dispatch of messages.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use crate::config::Config;
use crate::log::RaftLog;
use crate::message::{Message, MessageBody};
use crate::progress::Progress;
use crate::types::{
    Entry, HardState, LogIndex, Membership, NodeId, Payload, ReadState, Snapshot, SnapshotMeta,
    Term,
};

/// What a replica is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes; its term has not changed yet.
    PreCandidate,
    /// Asking for votes in a new term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// How an election starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Campaign {
    /// An election timeout: ask for pre-votes first (if configured).
    PreVote,
    /// The pre-vote was won: ask for real votes.
    Election,
    /// TimeoutNow from the leader: real votes at once, overriding the voters' leases.
    Transfer,
}

/// Why a message was rejected. The message is dropped. A message with a higher term may
/// still have moved the replica to that term (as Raft requires) before its body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    /// The message is addressed to another replica.
    WrongRecipient {
        /// Whom it was for.
        to: NodeId,
    },
    /// A response from a replica this leader does not replicate to.
    UnknownPeer {
        /// The sender.
        from: NodeId,
    },
    /// A field is impossible (entries out of order, a commit beyond the sent entries...).
    Malformed {
        /// What is wrong, with the numbers.
        reason: String,
    },
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::WrongRecipient { to } => write!(f, "message addressed to replica {to}"),
            StepError::UnknownPeer { from } => write!(f, "response from unknown peer {from}"),
            StepError::Malformed { reason } => write!(f, "malformed message: {reason}"),
        }
    }
}

impl std::error::Error for StepError {}

/// Why a proposal (or a read, or a transfer) was refused. Nothing was appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// Only the leader takes proposals; `leader_hint` is the leader this replica knows of.
    NotLeader {
        /// The current leader, if known.
        leader_hint: Option<NodeId>,
    },
    /// Leadership is being handed over; retry on the new leader.
    TransferInProgress,
    /// Too many bytes are waiting to commit: back off and retry.
    Busy {
        /// Bytes proposed but not yet committed.
        uncommitted_bytes: u64,
    },
    /// A membership change is already under way.
    MembershipChangePending,
    /// The request itself is invalid.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for ProposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProposeError::NotLeader {
                leader_hint: Some(leader),
            } => write!(f, "not the leader; the leader is {leader}"),
            ProposeError::NotLeader { leader_hint: None } => {
                write!(f, "not the leader; no leader known")
            }
            ProposeError::TransferInProgress => write!(f, "leadership transfer in progress"),
            ProposeError::Busy { uncommitted_bytes } => {
                write!(f, "busy: {uncommitted_bytes} bytes await commit")
            }
            ProposeError::MembershipChangePending => {
                write!(f, "a membership change is already in progress")
            }
            ProposeError::Invalid { reason } => write!(f, "invalid request: {reason}"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// What a replica needs to restart: everything it had persisted.
#[derive(Clone, Debug, Default)]
pub struct RestoreState {
    /// The last hard state persisted.
    pub hard_state: HardState,
    /// The last snapshot persisted, if any.
    pub snapshot: Option<Snapshot>,
    /// Persisted entries after the snapshot, in order.
    pub entries: Vec<Entry>,
    /// The membership before any entry (used only without a snapshot): the bootstrap voters
    /// of a new group, or empty for a replica that joins an existing group.
    pub initial_membership: Membership,
}

/// The state of one Raft replica. Feed it `tick`, `step`, `propose`, `read_index`; drain
/// `ready`; confirm with `advance`. See [`crate::Ready`] for the loop contract.
pub struct Replica {
    pub(crate) config: Config,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) membership: Membership,
    /// Membership in force at `log.snapshot_index()`.
    pub(crate) membership_base: Membership,
    /// Activations after the snapshot: (index of the change, membership from then on).
    pub(crate) membership_history: Vec<(LogIndex, Membership)>,
    /// The leader's newest membership entry; another may not be proposed until it commits.
    pub(crate) pending_membership_index: LogIndex,
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) votes: BTreeMap<NodeId, bool>,
    /// Ticks since this replica started: its own clock.
    pub(crate) ticks: u64,
    pub(crate) election_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    pub(crate) randomized_election_timeout: u32,
    rng_state: u64,
    /// Started from persisted state of an earlier life (which may have acknowledged a lease).
    restarted: bool,
    pub(crate) transfer_target: Option<NodeId>,
    pub(crate) transfer_elapsed: u32,
    pub(crate) uncommitted_bytes: u64,
    pub(crate) reads: crate::read::ReadQueue,
    pub(crate) messages: Vec<Message>,
    pub(crate) messages_after_persist: Vec<Message>,
    /// The hard state last handed out in a Ready (reported changes are relative to it).
    pub(crate) persisted_hard_state: HardState,
    /// The term the driver confirmed durable through `advance`. While `term` is ahead of it,
    /// every message waits for the persist: a message carrying a term that a crash could
    /// forget lets a restarted replica and its peers disagree about who led that term.
    pub(crate) durable_term: Term,
    pub(crate) snapshot_to_install: Option<Snapshot>,
    pub(crate) incoming_snapshot: Option<(SnapshotMeta, BytesMut)>,
}

impl Replica {
    /// Starts (or restarts) a replica from what it had persisted.
    pub fn new(config: Config, restore: RestoreState) -> Result<Replica, String> {
        config.validate()?;
        let membership_base = restore
            .snapshot
            .as_ref()
            .map_or(restore.initial_membership, |s| s.meta.membership.clone());
        let log = RaftLog::restore(restore.snapshot, restore.entries, restore.hard_state.commit)?;
        let mut replica = Replica {
            rng_state: config.random_seed ^ 0x9E37_79B9_7F4A_7C15,
            restarted: restore.hard_state.term > 0,
            config,
            term: restore.hard_state.term,
            vote: restore.hard_state.vote,
            role: Role::Follower,
            leader: None,
            membership: membership_base.clone(),
            membership_base,
            membership_history: Vec::new(),
            pending_membership_index: 0,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            ticks: 0,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: 0,
            transfer_target: None,
            transfer_elapsed: 0,
            uncommitted_bytes: 0,
            reads: crate::read::ReadQueue::default(),
            messages: Vec::new(),
            messages_after_persist: Vec::new(),
            persisted_hard_state: restore.hard_state,
            durable_term: restore.hard_state.term,
            snapshot_to_install: None,
            incoming_snapshot: None,
            log,
        };
        // Membership changes take effect when committed: replay those already committed.
        let committed = replica.log.committed;
        replica.activate_membership_changes(replica.log.snapshot_index(), committed);
        replica.reset_election_timer();
        Ok(replica)
    }

    /// This replica's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }
    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The leader this replica follows, if known (itself when leading).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The membership in force here.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    /// Whether a membership change is under way (proposed but not committed, or joint).
    pub fn membership_change_pending(&self) -> bool {
        self.membership.is_joint() || self.pending_membership_index > self.log.committed
    }
    /// On the leader: the highest index known replicated on `replica` (`None` elsewhere, or
    /// for a replica the leader does not track). Repair uses it to tell a new replica caught up.
    pub fn matched(&self, replica: NodeId) -> Option<LogIndex> {
        if replica == self.id() {
            return Some(self.log.last_index());
        }
        self.progress.get(&replica).map(|p| p.matched)
    }
    /// The highest index known committed.
    pub fn commit_index(&self) -> LogIndex {
        self.log.committed
    }
    /// Index of the last entry in the log.
    pub fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
    /// Term of the entry at `index`, if this replica still has it.
    pub fn entry_term(&self, index: LogIndex) -> Option<Term> {
        self.log.term(index)
    }
    /// The entry at `index`, if this replica still has it (not compacted, not beyond the end).
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        self.log.entry(index)
    }
    /// First index still in the log (entries before it are in the snapshot).
    pub fn first_index(&self) -> LogIndex {
        self.log.first_index()
    }
    /// The replica's own tick count.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Advances the replica's clock by one tick: elections, heartbeats, check-quorum.
    pub fn tick(&mut self) {
        self.ticks += 1;
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.is_promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            self.campaign(Campaign::PreVote);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.config.election_timeout_ticks {
            self.election_elapsed = 0;
            if self.config.check_quorum
                && !self.config.bugs.skip_check_quorum
                && !self.quorum_recently_active()
            {
                self.become_follower(self.term, None);
                return;
            }
            if self.transfer_target.take().is_some() {
                self.transfer_elapsed = 0;
            }
            if !self.membership.voters.contains(&self.id()) {
                self.hand_off_leadership();
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_interval_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
        self.tick_snapshot_senders();
    }

    /// Whether a majority was heard from since the last check; resets the marks.
    fn quorum_recently_active(&mut self) -> bool {
        let id = self.id();
        let progress = &self.progress;
        let active = self
            .membership
            .has_quorum(|node| node == id || progress.get(&node).is_some_and(|p| p.recent_active));
        for progress in self.progress.values_mut() {
            progress.recent_active = false;
        }
        active
    }

    /// Whether this replica may campaign: a voter of the configuration in force.
    pub(crate) fn is_promotable(&self) -> bool {
        self.membership.is_voter(self.id())
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        let timeout = self.config.election_timeout_ticks;
        self.randomized_election_timeout =
            timeout + (self.next_random() % u64::from(timeout)) as u32;
    }

    /// SplitMix64 on the seed from `Config`: deterministic election jitter.
    fn next_random(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn send(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.messages.push(Message {
            from: self.id(),
            to,
            term,
            body,
        });
    }

    pub(crate) fn send_after_persist(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.messages_after_persist.push(Message {
            from: self.id(),
            to,
            term,
            body,
        });
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role == Role::Leader
            || self.role == Role::Candidate
            || self.role == Role::PreCandidate
        {
            self.reads.drop_all();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.transfer_target = None;
        self.progress.clear();
        self.votes.clear();
        self.reset_election_timer();
    }

    /// Starts an election: a pre-vote round first (if configured) unless `kind` says the
    /// pre-vote was won already or a leadership transfer says go. Only a transfer's votes
    /// override the voters' leader lease.
    pub(crate) fn campaign(&mut self, kind: Campaign) {
        let transfer = kind == Campaign::Transfer;
        // A new randomized timeout for every round: two candidates that timed out together
        // would otherwise time out together again, and split their votes forever.
        self.reset_election_timer();
        let (body_term, pre) = if self.config.pre_vote && kind == Campaign::PreVote {
            self.role = Role::PreCandidate;
            self.leader = None;
            (self.term + 1, true)
        } else {
            self.term += 1;
            self.vote = Some(self.id());
            self.role = Role::Candidate;
            self.leader = None;
            (self.term, false)
        };
        self.reads.drop_all();
        self.progress.clear();
        self.votes.clear();
        self.votes.insert(self.id(), true);
        if self.tally_votes() {
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let id = self.id();
        let voters: Vec<NodeId> = self
            .membership
            .voters
            .union(&self.membership.voters_outgoing)
            .copied()
            .collect();
        for voter in voters.into_iter().filter(|&v| v != id) {
            if pre {
                self.send(
                    voter,
                    body_term,
                    MessageBody::PreVote {
                        last_index,
                        last_term,
                    },
                );
            } else {
                // Our term and self-vote must be on disk before anyone can count on them.
                self.send_after_persist(
                    voter,
                    body_term,
                    MessageBody::Vote {
                        last_index,
                        last_term,
                        transfer,
                    },
                );
            }
        }
    }

    /// Counts votes; wins or gives up when decided. Returns whether it ended the round.
    fn tally_votes(&mut self) -> bool {
        let votes = &self.votes;
        let won = self
            .membership
            .has_quorum(|node| votes.get(&node) == Some(&true));
        let lost = !self
            .membership
            .has_quorum(|node| votes.get(&node) != Some(&false));
        if won {
            if self.role == Role::PreCandidate {
                self.campaign(Campaign::Election);
            } else {
                self.become_leader();
            }
            true
        } else if lost {
            self.become_follower(self.term, None);
            true
        } else {
            false
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id());
        self.transfer_target = None;
        self.uncommitted_bytes = 0;
        self.reads.reset_for_new_term();
        self.reset_election_timer();
        self.sync_progress();
        // Nothing new may be proposed as a membership change until our no-op commits.
        let noop = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            payload: Payload::Empty,
        };
        self.pending_membership_index = noop.index;
        self.append_local(noop);
        if self.membership.is_joint() {
            self.append_leave_joint();
        }
        self.broadcast_append();
    }

    /// Makes the progress map match the membership in force (leader only).
    pub(crate) fn sync_progress(&mut self) {
        let replicas = self.membership.replicas();
        self.progress.retain(|node, _| replicas.contains(node));
        let next = self.log.last_index() + 1;
        for node in replicas {
            if node != self.id() && !self.progress.contains_key(&node) {
                let progress = Progress::new(
                    next,
                    self.config.inflight_appends_max,
                    self.config.inflight_bytes_max,
                );
                self.progress.insert(node, progress);
            }
        }
    }

    /// Takes a message from a peer.
    pub fn step(&mut self, message: Message) -> Result<(), StepError> {
        if message.to != self.id() {
            return Err(StepError::WrongRecipient { to: message.to });
        }
        if message.from == 0 || message.from == self.id() {
            return Err(StepError::Malformed {
                reason: format!("bad sender {}", message.from),
            });
        }
        crate::validate::check_message(&message)?;
        if !self.step_term(&message) {
            return Ok(());
        }
        self.dispatch(message)
    }

    /// Applies the term rules of §5.1 (with pre-vote and leases). Returns whether the message
    /// should be processed further.
    fn step_term(&mut self, message: &Message) -> bool {
        use MessageBody::*;
        if message.term > self.term {
            if let PreVote { .. } | Vote { .. } = message.body {
                let transfer = matches!(message.body, Vote { transfer: true, .. });
                // A replica that just (re)started may have acknowledged a lease before it went
                // down: it also waits one election timeout before voting.
                let just_started =
                    self.restarted && self.ticks < u64::from(self.config.election_timeout_ticks);
                let in_lease = self.config.check_quorum
                    && (self.leader.is_some() || just_started)
                    && self.election_elapsed < self.config.election_timeout_ticks;
                if in_lease && !transfer {
                    // A leader we heard from recently is alive: ignore the disruption (§4.2.3).
                    return false;
                }
            }
            match message.body {
                PreVote { .. } | PreVoteResponse { reject: false } => {}
                Append { .. } | Heartbeat { .. } | SnapshotChunk { .. } => {
                    self.become_follower(message.term, Some(message.from))
                }
                _ => self.become_follower(message.term, None),
            }
            return true;
        }
        if message.term < self.term {
            match message.body {
                Append { .. } | Heartbeat { .. }
                    if self.config.check_quorum || self.config.pre_vote =>
                {
                    // A stale leader cut off by a partition learns our term and steps down.
                    let body = AppendResponse {
                        index: 0,
                        reject: true,
                        hint_index: 0,
                        hint_term: 0,
                    };
                    self.send(message.from, self.term, body);
                }
                PreVote { .. } => {
                    self.send(message.from, self.term, PreVoteResponse { reject: true })
                }
                _ => {}
            }
            return false;
        }
        true
    }

    fn dispatch(&mut self, message: Message) -> Result<(), StepError> {
        use MessageBody::*;
        let from = message.from;
        let term = message.term;
        match message.body {
            PreVote {
                last_index,
                last_term,
            } => self.handle_vote_request(from, term, last_index, last_term, true),
            Vote {
                last_index,
                last_term,
                ..
            } => self.handle_vote_request(from, term, last_index, last_term, false),
            PreVoteResponse { reject }
                if self.role == Role::PreCandidate && term == self.term + 1 =>
            {
                self.votes.insert(from, !reject);
                self.tally_votes();
            }
            VoteResponse { reject } if self.role == Role::Candidate && term == self.term => {
                self.votes.insert(from, !reject);
                self.tally_votes();
            }
            PreVoteResponse { .. } | VoteResponse { .. } => {}
            Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.follow(from);
                self.handle_append(from, prev_index, prev_term, entries, commit)?;
            }
            Heartbeat { commit, read_round } => {
                self.follow(from);
                self.handle_heartbeat(from, commit, read_round);
            }
            SnapshotChunk { meta, offset, data } => {
                self.follow(from);
                self.handle_snapshot_chunk(from, meta, offset, data)?;
            }
            AppendResponse {
                index,
                reject,
                hint_index,
                hint_term,
            } if self.role == Role::Leader => {
                self.handle_append_response(from, index, reject, hint_index, hint_term)?;
            }
            HeartbeatResponse { read_round } if self.role == Role::Leader => {
                self.handle_heartbeat_response(from, read_round)?
            }
            SnapshotAck { index, received } if self.role == Role::Leader => {
                self.handle_snapshot_ack(from, index, received)?
            }
            AppendResponse { .. } | HeartbeatResponse { .. } | SnapshotAck { .. } => {}
            TimeoutNow => {
                if self.is_promotable() && self.role != Role::Leader {
                    self.campaign(Campaign::Transfer);
                }
            }
        }
        Ok(())
    }

    /// A message from the leader of our term: follow it.
    fn follow(&mut self, leader: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(leader));
        }
        self.leader = Some(leader);
        self.election_elapsed = 0;
    }

    fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        last_index: LogIndex,
        last_term: Term,
        pre: bool,
    ) {
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre && term > self.term);
        let grant = can_vote && self.log.is_up_to_date(last_index, last_term);
        if pre {
            let reply_term = if grant { term } else { self.term };
            self.send(
                from,
                reply_term,
                MessageBody::PreVoteResponse { reject: !grant },
            );
            return;
        }
        if grant {
            self.election_elapsed = 0;
            self.vote = Some(from);
        }
        // A vote counts only once it is on disk: a restart must not vote twice in a term.
        self.send_after_persist(
            from,
            self.term,
            MessageBody::VoteResponse { reject: !grant },
        );
    }

    /// Appends an entry at the leader and counts its bytes.
    pub(crate) fn append_local(&mut self, entry: Entry) {
        self.uncommitted_bytes += entry.payload_size();
        self.log.append(entry);
        if self.config.bugs.ack_before_persist {
            self.maybe_commit();
        }
    }

    /// Proposes commands as consecutive entries (one batch, one append per follower).
    /// Returns the index of the first.
    pub fn propose(&mut self, commands: Vec<Bytes>) -> Result<LogIndex, ProposeError> {
        self.check_can_propose()?;
        let bytes: u64 = commands.iter().map(|c| c.len() as u64).sum();
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + bytes > self.config.uncommitted_bytes_max
        {
            return Err(ProposeError::Busy {
                uncommitted_bytes: self.uncommitted_bytes,
            });
        }
        let first = self.log.last_index() + 1;
        for command in commands {
            let entry = Entry {
                term: self.term,
                index: self.log.last_index() + 1,
                payload: Payload::Command(command),
            };
            self.append_local(entry);
        }
        self.broadcast_append();
        Ok(first)
    }

    fn check_can_propose(&self) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.transfer_target.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        Ok(())
    }

    /// Replaces the voters and learners by joint consensus: the leader appends `EnterJoint`,
    /// and once it commits, `LeaveJoint`. Returns the index of the `EnterJoint` entry.
    pub fn propose_membership_change(
        &mut self,
        voters: Vec<NodeId>,
        learners: Vec<NodeId>,
    ) -> Result<LogIndex, ProposeError> {
        self.check_can_propose()?;
        if self.membership.is_joint() || self.pending_membership_index > self.log.committed {
            return Err(ProposeError::MembershipChangePending);
        }
        let change = crate::validate::membership_change(&self.membership, voters, learners)
            .map_err(|reason| ProposeError::Invalid { reason })?;
        let entry = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            payload: Payload::Membership(change),
        };
        let index = entry.index;
        self.pending_membership_index = index;
        self.append_local(entry);
        self.broadcast_append();
        Ok(index)
    }

    pub(crate) fn append_leave_joint(&mut self) {
        let entry = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            payload: Payload::Membership(crate::types::MembershipChange::LeaveJoint),
        };
        self.pending_membership_index = entry.index;
        self.append_local(entry);
    }

    /// Hands leadership to `target` (§3.10): catch it up, then tell it to campaign at once.
    /// Proposals are refused until the transfer ends or times out (one election timeout).
    pub fn transfer_leader(&mut self, target: NodeId) -> Result<(), ProposeError> {
        self.check_can_propose()?;
        if target == self.id() {
            return Ok(());
        }
        if !self.membership.voters.contains(&target) {
            return Err(ProposeError::Invalid {
                reason: format!("replica {target} is not a voter"),
            });
        }
        self.start_transfer(target);
        Ok(())
    }

    /// Catches `target` up, then tells it to campaign at once (the transfer times out after an
    /// election timeout).
    fn start_transfer(&mut self, target: NodeId) {
        self.transfer_target = Some(target);
        self.election_elapsed = 0;
        let caught_up = self
            .progress
            .get(&target)
            .is_some_and(|p| p.matched == self.log.last_index());
        if caught_up {
            self.send(target, self.term, MessageBody::TimeoutNow);
        } else {
            self.send_append(target, true);
        }
    }

    /// This leader was removed from the voters. Stepping down at once can wedge the group: the
    /// remaining voters may lack its last entries and so never win its vote. Instead it keeps
    /// replicating, refuses proposals, and hands leadership to the most caught-up voter
    /// (the step etcd leaves as a TODO).
    pub(crate) fn hand_off_leadership(&mut self) {
        let progress = &self.progress;
        let target = self
            .membership
            .voters
            .iter()
            .copied()
            .max_by_key(|node| progress.get(node).map_or(0, |p| p.matched));
        let Some(target) = target else {
            self.become_follower(self.term, None);
            return;
        };
        self.start_transfer(target);
    }

    /// Applies membership changes committed in `(from, to]`.
    pub(crate) fn activate_membership_changes(&mut self, from: LogIndex, to: LogIndex) {
        for index in from + 1..=to {
            let Some(Entry {
                payload: Payload::Membership(change),
                ..
            }) = self.log.entry(index)
            else {
                continue;
            };
            let change = change.clone();
            self.membership.apply(&change);
            self.membership_history
                .push((index, self.membership.clone()));
            if self.role != Role::Leader {
                continue;
            }
            self.sync_progress();
            match change {
                crate::types::MembershipChange::EnterJoint { .. } => self.append_leave_joint(),
                crate::types::MembershipChange::LeaveJoint
                    if !self.membership.voters.contains(&self.id()) =>
                {
                    self.hand_off_leadership();
                    return;
                }
                crate::types::MembershipChange::LeaveJoint => {}
            }
        }
    }

    /// The membership in force at `index` (which must not precede the snapshot).
    pub(crate) fn membership_at(&self, index: LogIndex) -> Membership {
        self.membership_history
            .iter()
            .rev()
            .find(|(at, _)| *at <= index)
            .map_or_else(|| self.membership_base.clone(), |(_, m)| m.clone())
    }

    /// The application saved its state as of `index` (already applied and persisted): the log
    /// before it may go. The snapshot is kept to send to followers that fall behind.
    pub fn compact(&mut self, index: LogIndex, data: Bytes) -> Result<(), String> {
        if index > self.log.applied_handed {
            return Err(format!(
                "cannot compact to {index}: only {} handed out for applying",
                self.log.applied_handed
            ));
        }
        if index <= self.log.snapshot_index() {
            return Ok(());
        }
        let term = self
            .log
            .term(index)
            .ok_or_else(|| format!("no entry at {index}"))?;
        let membership = self.membership_at(index);
        self.log
            .compact(Snapshot::new(index, term, membership.clone(), data));
        self.membership_history.retain(|(at, _)| *at > index);
        self.membership_base = membership;
        Ok(())
    }

    /// The newest snapshot this replica holds (taken by itself or received).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.log.snapshot.as_ref()
    }

    /// Checks the structural invariants; the lab calls it after every step.
    ///
    /// # Panics
    /// When an invariant is broken: that is a bug in this crate.
    pub fn check_invariants(&self) {
        assert!(
            self.log.committed <= self.log.last_index(),
            "commit beyond log: commit={} last={}",
            self.log.committed,
            self.log.last_index()
        );
        assert!(
            self.log.applied_handed <= self.log.committed,
            "applied beyond commit: applied={} commit={}",
            self.log.applied_handed,
            self.log.committed
        );
        assert!(
            self.log.snapshot_index() <= self.log.committed,
            "snapshot beyond commit"
        );
        if self.role == Role::Leader {
            assert_eq!(self.leader, Some(self.id()), "leader does not know itself");
        }
        if self.role == Role::Candidate {
            assert_eq!(
                self.vote,
                Some(self.id()),
                "candidate did not vote for itself"
            );
        }
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// A snapshot to be reported for install; also resets the log and membership to it.
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.membership = snapshot.meta.membership.clone();
        self.membership_base = snapshot.meta.membership.clone();
        self.membership_history.clear();
        self.log.install(snapshot.clone());
        self.snapshot_to_install = Some(snapshot);
    }

    /// Reads the queued read states (used by [`crate::Ready`]).
    pub(crate) fn take_read_states(&mut self) -> (Vec<ReadState>, Vec<u64>) {
        self.reads.take_outputs()
    }
}
