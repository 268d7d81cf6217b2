//! What travels on the simulated network besides Raft messages: client requests and replies.

use lincheck::kv::{KvInput, KvOutput};

/// A client's request to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub client: usize,
    pub request: u64,
    /// The group the key belongs to (the client's slot map: `key % groups`).
    pub group: usize,
    pub key: u64,
    pub input: KvInput,
}

/// A node's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub request: u64,
    pub outcome: Outcome,
}

/// How a request ended at the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (or read) with this answer.
    Done(KvOutput),
    /// Not the leader; try the hinted one.
    NotLeader(Option<raft::NodeId>),
    /// Certainly not applied: retry elsewhere.
    Failed,
}

/// Anything in flight.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A Raft message of a group: every group shares the link between two nodes.
    Raft(usize, raft::Message),
    Request(Request),
    Reply(usize, Reply),
    /// A node's health, sent to its peers (scenarios' gray-failure handling).
    Health(usize, placement::health::Health),
}
