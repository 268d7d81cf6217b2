//! Linearizable reads without log writes: ReadIndex (§6.4) confirmed by a heartbeat round,
//! and leader leases bounded by the configured clock drift.

use std::collections::VecDeque;

use crate::message::MessageBody;
use crate::replica::{ProposeError, Replica, Role, StepError};
use crate::types::{LogIndex, NodeId, ReadState};

/// Most reads waiting at once for a heartbeat round or the leader's first commit.
pub const PENDING_READS_MAX: usize = 65_536;
/// Round start times remembered for the lease; older rounds simply do not extend it.
const ROUND_STARTS_MAX: usize = 1024;

/// Reads waiting for confirmation, and the leader's heartbeat rounds.
#[derive(Debug, Default)]
pub(crate) struct ReadQueue {
    /// The newest heartbeat round sent.
    round: u64,
    /// A read arrived: send a round at the next opportunity (batches reads into one round).
    round_needed: bool,
    /// (round that must be confirmed, context, read index).
    waiting_round: VecDeque<(u64, u64, LogIndex)>,
    /// Contexts that wait for the leader to commit an entry of its own term.
    waiting_commit: Vec<u64>,
    /// (round, the leader's tick when it was sent).
    round_starts: VecDeque<(u64, u64)>,
    /// The lease holds while the leader's tick count is below this.
    lease_until_tick: u64,
    ready: Vec<ReadState>,
    dropped: Vec<u64>,
}

impl ReadQueue {
    fn len(&self) -> usize {
        self.waiting_round.len() + self.waiting_commit.len()
    }

    pub(crate) fn drop_all(&mut self) {
        self.dropped
            .extend(self.waiting_round.drain(..).map(|(_, context, _)| context));
        self.dropped.append(&mut self.waiting_commit);
        self.round_needed = false;
        self.lease_until_tick = 0;
    }

    pub(crate) fn reset_for_new_term(&mut self) {
        self.drop_all();
        self.round_starts.clear();
    }

    pub(crate) fn take_outputs(&mut self) -> (Vec<ReadState>, Vec<u64>) {
        (
            std::mem::take(&mut self.ready),
            std::mem::take(&mut self.dropped),
        )
    }

    pub(crate) fn has_outputs(&self) -> bool {
        !self.ready.is_empty() || !self.dropped.is_empty()
    }

    pub(crate) fn round_needed(&self) -> bool {
        self.round_needed
    }
}

impl Replica {
    /// Asks for a linearizable read point tagged `context`. A [`ReadState`] with this context
    /// comes out of `ready` once it is confirmed; the read may be served when the state machine
    /// has applied its index. If leadership is lost first, the context is reported dropped.
    pub fn read_index(&mut self, context: u64) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.reads.len() >= PENDING_READS_MAX {
            return Err(ProposeError::Busy {
                uncommitted_bytes: self.uncommitted_bytes,
            });
        }
        if !self.committed_in_current_term() {
            self.reads.waiting_commit.push(context);
            return Ok(());
        }
        self.confirm_read(context);
        Ok(())
    }

    fn committed_in_current_term(&self) -> bool {
        self.log.term(self.log.committed) == Some(self.term)
    }

    /// The commit index is from our term: serve by lease, alone, or after a heartbeat round.
    fn confirm_read(&mut self, context: u64) {
        let index = self.log.committed;
        let alone = self.membership.has_quorum(|node| node == self.id());
        if alone || self.lease_is_valid() {
            self.reads.ready.push(ReadState { context, index });
        } else {
            let round = self.reads.round + 1;
            self.reads.waiting_round.push_back((round, context, index));
            self.reads.round_needed = true;
        }
    }

    /// Whether the leader may answer reads from its own state without asking anyone.
    pub fn lease_is_valid(&self) -> bool {
        if self.role != Role::Leader || !self.config.lease_reads || self.transfer_target.is_some() {
            return false;
        }
        // The deliberate defect: trust leadership without any quorum evidence.
        self.config.bugs.skip_check_quorum || self.ticks < self.reads.lease_until_tick
    }

    pub(crate) fn release_reads_waiting_for_commit(&mut self) {
        if !self.committed_in_current_term() || self.reads.waiting_commit.is_empty() {
            return;
        }
        for context in std::mem::take(&mut self.reads.waiting_commit) {
            self.confirm_read(context);
        }
    }

    /// Sends a heartbeat round to every follower; their answers confirm waiting reads and
    /// extend the lease.
    pub(crate) fn broadcast_heartbeat(&mut self) {
        self.reads.round += 1;
        self.reads.round_needed = false;
        let round = self.reads.round;
        if self.reads.round_starts.len() >= ROUND_STARTS_MAX {
            self.reads.round_starts.pop_front();
        }
        self.reads.round_starts.push_back((round, self.ticks));
        let peers: Vec<(NodeId, LogIndex)> = self
            .progress
            .iter()
            .map(|(&node, p)| (node, p.matched))
            .collect();
        for (peer, matched) in peers {
            let commit = matched.min(self.log.committed);
            self.send(
                peer,
                self.term,
                MessageBody::Heartbeat {
                    commit,
                    read_round: round,
                },
            );
        }
        self.advance_read_rounds();
    }

    pub(crate) fn handle_heartbeat_response(
        &mut self,
        from: NodeId,
        read_round: u64,
    ) -> Result<(), StepError> {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return Err(StepError::UnknownPeer { from });
        };
        progress.recent_active = true;
        progress.read_round_acked = progress
            .read_round_acked
            .max(read_round.min(self.reads.round));
        progress.probe_sent = false;
        if progress.state == crate::progress::ProgressState::Replicate
            && progress.inflight.is_full()
        {
            progress.inflight.free_first();
        }
        if progress.matched < last_index {
            self.send_append(from, true);
        } else if self.transfer_target == Some(from) {
            // A transfer's TimeoutNow goes out when the target acknowledges the last entry; if
            // it was lost, waiting for the next write's acknowledgement could take long (commit
            // news no longer draws acknowledgements): each heartbeat answer sends it again.
            self.send(from, self.term, crate::message::MessageBody::TimeoutNow);
        }
        self.advance_read_rounds();
        Ok(())
    }

    /// Releases the reads whose round a quorum confirmed, and extends the lease from the
    /// moment that round was sent.
    fn advance_read_rounds(&mut self) {
        let id = self.id();
        let own_round = self.reads.round;
        let progress = &self.progress;
        let confirmed = self.membership.committed_index(|node| {
            if node == id {
                own_round
            } else {
                progress.get(&node).map_or(0, |p| p.read_round_acked)
            }
        });
        while let Some(&(round, context, index)) = self.reads.waiting_round.front() {
            if round > confirmed {
                break;
            }
            self.reads.waiting_round.pop_front();
            self.reads.ready.push(ReadState { context, index });
        }
        while let Some(&(round, tick)) = self.reads.round_starts.front() {
            if round > confirmed {
                break;
            }
            self.reads.round_starts.pop_front();
            if round == confirmed {
                let until = tick + self.config.lease_ticks();
                self.reads.lease_until_tick = self.reads.lease_until_tick.max(until);
            }
        }
    }
}
