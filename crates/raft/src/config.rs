//! Settings of one replica, and the deliberate defects the lab uses to prove its checkers bite.

use crate::types::NodeId;

/// How one replica behaves. Times are in ticks: the driver decides how long a tick is.
#[derive(Clone, Debug)]
pub struct Config {
    /// This replica's id; never 0.
    pub id: NodeId,
    /// A follower starts an election after hearing nothing for a random time in
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)`.
    pub election_timeout_ticks: u32,
    /// The leader sends heartbeats this often; must be below `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Seed of the election-jitter generator: the core has no randomness of its own.
    pub random_seed: u64,
    /// Ask for votes without changing terms first (§9.6).
    pub pre_vote: bool,
    /// A leader that hears from no majority for an election timeout steps down.
    pub check_quorum: bool,
    /// Serve `read_index` from the leader lease when valid instead of a heartbeat round.
    /// Needs `check_quorum`.
    pub lease_reads: bool,
    /// The most the tick rates of two replicas may differ, in percent. The lease is shortened
    /// by this much so that it expires before any follower can vote for a new leader.
    pub clock_drift_bound_percent: u32,
    /// Most bytes of entry payload in one `Append`.
    pub append_bytes_max: u64,
    /// Most entries in one `Append`.
    pub append_entries_max: usize,
    /// Most `Append`s in flight to one follower (pipelining depth).
    pub inflight_appends_max: usize,
    /// Most payload bytes in flight to one follower.
    pub inflight_bytes_max: u64,
    /// A leader refuses proposals while this many payload bytes are not yet committed.
    pub uncommitted_bytes_max: u64,
    /// Size of one snapshot chunk.
    pub snapshot_chunk_bytes: u64,
    /// When the commit index moves, send every follower an append at once to tell it (etcd's
    /// behaviour). Off, followers learn it from the next append or heartbeat (raft-rs's
    /// `skip_bcast_commit`, which TiKV uses): a write then costs two messages, two answers and
    /// two follower syncs fewer, and a follower applies up to a heartbeat interval later.
    /// Safety does not depend on it: a follower's commit index is news, not a decision.
    pub broadcast_commit: bool,
    /// Deliberate defects; all off except in the lab's checker tests.
    pub bugs: Bugs,
}

impl Config {
    /// Sensible defaults for replica `id`.
    pub fn new(id: NodeId) -> Config {
        Config {
            id,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 2,
            random_seed: id,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            clock_drift_bound_percent: 10,
            append_bytes_max: 1 << 20,
            append_entries_max: 4096,
            inflight_appends_max: 64,
            inflight_bytes_max: 16 << 20,
            uncommitted_bytes_max: 64 << 20,
            snapshot_chunk_bytes: 1 << 20,
            broadcast_commit: false,
            bugs: Bugs::default(),
        }
    }

    /// Checks the settings relate sensibly.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("replica id 0 is reserved".to_owned());
        }
        if self.heartbeat_interval_ticks == 0 || self.election_timeout_ticks == 0 {
            return Err("tick intervals must be at least 1".to_owned());
        }
        if self.heartbeat_interval_ticks >= self.election_timeout_ticks {
            return Err(format!(
                "heartbeat interval ({}) must be below the election timeout ({})",
                self.heartbeat_interval_ticks, self.election_timeout_ticks
            ));
        }
        if self.lease_reads && !self.check_quorum {
            return Err("lease reads need check_quorum".to_owned());
        }
        if self.clock_drift_bound_percent >= 100 {
            return Err("clock drift bound must be below 100%".to_owned());
        }
        if self.inflight_appends_max == 0 || self.append_entries_max == 0 {
            return Err("in-flight and batch limits must be at least 1".to_owned());
        }
        if self.snapshot_chunk_bytes == 0 {
            return Err("snapshot chunk size must be at least 1".to_owned());
        }
        Ok(())
    }

    /// How long, in ticks, a heartbeat round acknowledged by a quorum keeps the lease.
    pub(crate) fn lease_ticks(&self) -> u64 {
        let timeout = u64::from(self.election_timeout_ticks);
        (timeout * u64::from(100 - self.clock_drift_bound_percent) / 100).saturating_sub(1)
    }
}

/// Defects that a correct Raft must not have. The lab switches one on to show that its
/// checkers catch it; nothing else may set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Commit an entry of an earlier term by counting its replicas (the Figure 8 trap, §5.4.2).
    pub commit_old_term_by_counting: bool,
    /// Report hard state without the vote, so a restart forgets whom it voted for.
    pub forget_vote: bool,
    /// Acknowledge entries (followers' responses, the leader's own count) before they are
    /// persisted.
    pub ack_before_persist: bool,
    /// Never check for a quorum: a cut-off leader stays leader and keeps its lease forever.
    pub skip_check_quorum: bool,
}
