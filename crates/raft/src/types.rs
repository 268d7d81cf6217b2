//! The nouns of the paper: terms, indexes, entries, hard state, membership, snapshots.

use std::collections::BTreeSet;

use bytes::Bytes;

/// A replica's identity inside a group. `0` is never a valid id.
pub type NodeId = u64;
/// A Raft term (§5.1).
pub type Term = u64;
/// A position in the log; the first entry has index 1.
pub type LogIndex = u64;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position.
    pub index: LogIndex,
    /// What it carries.
    pub payload: Payload,
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A new leader's no-op, which lets it commit entries of earlier terms (§5.4.2).
    Empty,
    /// An application command, opaque to Raft.
    Command(Bytes),
    /// A membership change (joint consensus, §6 of the Raft dissertation).
    Membership(MembershipChange),
}

impl Entry {
    /// Bytes this entry counts against size limits (payload only; headers are bounded).
    pub fn payload_size(&self) -> u64 {
        match &self.payload {
            Payload::Empty => 0,
            Payload::Command(data) => data.len() as u64,
            Payload::Membership(change) => change.encoded_size(),
        }
    }
}

/// A membership change as it travels in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Enter the joint configuration (`outgoing`, `voters`), with `learners` as non-voters.
    EnterJoint {
        /// The voters of the new configuration.
        voters: BTreeSet<NodeId>,
        /// The non-voting replicas of the new configuration.
        learners: BTreeSet<NodeId>,
        /// The voters of the configuration being left. Carried in the entry, not taken from
        /// the applying replica's state: a replica that joined later replays the log without
        /// knowing the group's bootstrap voters, and would otherwise think the joint phase
        /// has no old half (and count only the new voters).
        outgoing: BTreeSet<NodeId>,
    },
    /// Leave the joint configuration: only the new voters remain. Proposed by the leader itself
    /// as soon as `EnterJoint` commits.
    LeaveJoint,
}

impl MembershipChange {
    fn encoded_size(&self) -> u64 {
        match self {
            MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            } => 8 * (voters.len() + learners.len() + outgoing.len()) as u64,
            MembershipChange::LeaveJoint => 0,
        }
    }
}

/// The group's members as one replica sees them.
///
/// - `voters` and `voters_outgoing` are both counted in joint consensus; `voters_outgoing` is
///   empty outside a joint configuration.
/// - `learners` never intersects either voter set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The voters (the incoming ones while joint).
    pub voters: BTreeSet<NodeId>,
    /// The previous voters while a joint configuration is in force; else empty.
    pub voters_outgoing: BTreeSet<NodeId>,
    /// Replicas that receive the log but neither vote nor count toward commit.
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    /// A simple (non-joint) configuration of `voters`.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Membership {
        Membership {
            voters: voters.into_iter().collect(),
            ..Membership::default()
        }
    }

    /// Whether a joint configuration is in force.
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// Whether `node` votes in either half of the configuration.
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.contains(&node) || self.voters_outgoing.contains(&node)
    }

    /// Every replica the leader replicates to: voters of both halves and learners.
    pub fn replicas(&self) -> BTreeSet<NodeId> {
        let mut all: BTreeSet<NodeId> = self.voters.union(&self.voters_outgoing).copied().collect();
        all.extend(self.learners.iter().copied());
        all
    }

    /// Whether `granted` holds a majority of every voter set in force (both halves while joint).
    pub fn has_quorum(&self, granted: impl Fn(NodeId) -> bool) -> bool {
        majority_of(&self.voters, &granted) && majority_of(&self.voters_outgoing, &granted)
    }

    /// The highest index that a majority of every voter set has reached, given each voter's
    /// `matched` index (§5.3, generalised to joint consensus).
    pub fn committed_index(&self, matched: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        let incoming = majority_index(&self.voters, &matched);
        let outgoing = majority_index(&self.voters_outgoing, &matched);
        incoming.min(outgoing)
    }

    /// Applies a committed change.
    pub(crate) fn apply(&mut self, change: &MembershipChange) {
        match change {
            MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            } => {
                self.voters_outgoing = outgoing.clone();
                self.voters = voters.clone();
                self.learners = learners.clone();
            }
            MembershipChange::LeaveJoint => self.voters_outgoing.clear(),
        }
    }
}

/// An empty set is a majority of itself: it lets a non-joint configuration ignore the
/// outgoing half.
fn majority_of(voters: &BTreeSet<NodeId>, granted: &impl Fn(NodeId) -> bool) -> bool {
    if voters.is_empty() {
        return true;
    }
    let yes = voters.iter().filter(|&&voter| granted(voter)).count();
    yes > voters.len() / 2
}

fn majority_index(voters: &BTreeSet<NodeId>, matched: &impl Fn(NodeId) -> LogIndex) -> LogIndex {
    if voters.is_empty() {
        return LogIndex::MAX;
    }
    // Called on every acknowledgement: groups have a handful of voters, so sort on the stack.
    const ON_STACK: usize = 16;
    let mut stack = [0; ON_STACK];
    let mut heap = Vec::new();
    let indexes: &mut [LogIndex] = if voters.len() <= ON_STACK {
        &mut stack[..voters.len()]
    } else {
        heap.resize(voters.len(), 0);
        &mut heap
    };
    for (slot, &voter) in indexes.iter_mut().zip(voters) {
        *slot = matched(voter);
    }
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes[voters.len() / 2]
}

/// What must survive a crash besides the log (§5.1, Figure 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this replica has seen.
    pub term: Term,
    /// Whom it voted for in `term`.
    pub vote: Option<NodeId>,
    /// The highest index known committed (persisting it is an optimisation, not a duty).
    pub commit: LogIndex,
}

/// Describes a snapshot: the state machine after applying every entry up to `index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last entry the snapshot covers.
    pub index: LogIndex,
    /// That entry's term.
    pub term: Term,
    /// The membership in force at `index`.
    pub membership: Membership,
    /// Length of the data in bytes.
    pub size: u64,
    /// CRC32C of the data, checked after reassembly.
    pub checksum: u32,
}

/// A snapshot with its data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// What the data covers.
    pub meta: SnapshotMeta,
    /// The application's encoding of its state.
    pub data: Bytes,
}

impl Snapshot {
    /// Builds a snapshot and stamps its size and checksum.
    pub fn new(index: LogIndex, term: Term, membership: Membership, data: Bytes) -> Snapshot {
        let meta = SnapshotMeta {
            index,
            term,
            membership,
            size: data.len() as u64,
            checksum: crc32c::crc32c(&data),
        };
        Snapshot { meta, data }
    }

    /// Whether the data matches its size and checksum.
    pub fn is_intact(&self) -> bool {
        self.data.len() as u64 == self.meta.size && crc32c::crc32c(&self.data) == self.meta.checksum
    }
}

/// A linearizable read point: once the state machine has applied `index`, a read tagged
/// `context` may be served from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The caller's tag from `read_index`.
    pub context: u64,
    /// The commit index the read must wait for.
    pub index: LogIndex,
}
