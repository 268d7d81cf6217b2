//! Messages between replicas of one group. See the table in `crates/raft/README.md`.

use bytes::Bytes;

use crate::types::{Entry, LogIndex, NodeId, SnapshotMeta, Term};

/// A message from one replica to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The sender's term (for `PreVote`: the term it would campaign in).
    pub term: Term,
    /// What it says.
    pub body: MessageBody,
}

/// The kinds of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// Would you vote for me in `term`? Changes no state on either side (§9.6 of the
    /// dissertation): a partitioned node cannot disrupt the group by inflating terms.
    PreVote {
        /// Index of the candidate's last entry.
        last_index: LogIndex,
        /// Term of the candidate's last entry.
        last_term: Term,
    },
    /// Answer to `PreVote`.
    PreVoteResponse {
        /// Whether the vote was refused.
        reject: bool,
    },
    /// RequestVote (§5.2).
    Vote {
        /// Index of the candidate's last entry.
        last_index: LogIndex,
        /// Term of the candidate's last entry.
        last_term: Term,
        /// Set by a leadership transfer: voters ignore their leader lease.
        transfer: bool,
    },
    /// Answer to `Vote`.
    VoteResponse {
        /// Whether the vote was refused.
        reject: bool,
    },
    /// AppendEntries (§5.3).
    Append {
        /// Index of the entry before `entries`.
        prev_index: LogIndex,
        /// Its term.
        prev_term: Term,
        /// New entries, consecutive from `prev_index + 1`.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: LogIndex,
    },
    /// Answer to `Append`.
    AppendResponse {
        /// Success: the follower's log matches the leader's up to `index`.
        /// Failure: `index` is the `prev_index` that did not match.
        index: LogIndex,
        /// Whether the consistency check failed.
        reject: bool,
        /// On reject, the follower's best guess at the last index the logs can share...
        hint_index: LogIndex,
        /// ...and the term of its entry there: lets the leader skip a whole term per round trip.
        hint_term: Term,
    },
    /// Leader liveness, commit propagation, and ReadIndex confirmation rounds.
    Heartbeat {
        /// `min(leader's commit, follower's match)`: never beyond what the follower holds.
        commit: LogIndex,
        /// The leader's read round this heartbeat confirms.
        read_round: u64,
    },
    /// Answer to `Heartbeat`.
    HeartbeatResponse {
        /// Echo of the heartbeat's round.
        read_round: u64,
    },
    /// One piece of a snapshot, sent in order, one piece in flight per follower.
    SnapshotChunk {
        /// What the whole snapshot covers, repeated in every chunk.
        meta: SnapshotMeta,
        /// Where this piece starts in the data.
        offset: u64,
        /// The piece.
        data: Bytes,
    },
    /// Answer to `SnapshotChunk`: the follower holds the first `received` bytes of the
    /// snapshot at `index` (0 after a restart or a mismatch: start over).
    SnapshotAck {
        /// Which snapshot.
        index: LogIndex,
        /// How many bytes it holds in order.
        received: u64,
    },
    /// Leadership transfer: start an election now, ignoring timers and leases (§3.10).
    TimeoutNow,
}

impl MessageBody {
    /// Short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResp",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResponse { .. } => "VoteResp",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse { .. } => "AppendResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResp",
            MessageBody::SnapshotChunk { .. } => "SnapChunk",
            MessageBody::SnapshotAck { .. } => "SnapAck",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }

    /// Bytes this message carries beyond its fixed header (for flow control and bandwidth).
    pub fn payload_size(&self) -> u64 {
        match self {
            MessageBody::Append { entries, .. } => {
                entries.iter().map(|e| e.payload_size() + 24).sum()
            }
            MessageBody::SnapshotChunk { data, .. } => data.len() as u64,
            _ => 0,
        }
    }
}
