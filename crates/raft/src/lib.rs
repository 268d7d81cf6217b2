//! Sans-IO Raft for one group.
//!
//! The core never reads a clock, draws randomness of its own, spawns threads or touches the
//! network or disk. Time enters as [`Replica::tick`], peers' messages as [`Replica::step`],
//! client work as [`Replica::propose`] and [`Replica::read_index`]; everything it wants done
//! comes out of [`Replica::ready`] as a [`Ready`], whose doc states the loop contract. The
//! same code therefore runs under the lab's simulator and under the real server, and a seed
//! reproduces a run bit for bit.
//!
//! Implemented: pre-vote, check-quorum, replication with fast backtracking, batching and
//! pipelining under flow control, commit only of current-term entries by counting, ReadIndex
//! and drift-bounded leases, leadership transfer, learners, joint consensus, chunked snapshots.
//! See `crates/raft/README.md` for the message table and where we depart from the paper.
#![deny(missing_docs)]

mod config;
mod log;
mod message;
mod progress;
mod read;
mod ready;
mod replica;
mod replicate;
mod types;
mod validate;

pub use config::{Bugs, Config};
pub use message::{Message, MessageBody};
pub use read::PENDING_READS_MAX;
pub use ready::{Persisted, Ready};
pub use replica::{ProposeError, Replica, RestoreState, Role, StepError};
pub use replicate::SNAPSHOT_SIZE_MAX;
pub use types::{
    Entry, HardState, LogIndex, Membership, MembershipChange, NodeId, Payload, ReadState, Snapshot,
    SnapshotMeta, Term,
};
pub use validate::{POSITION_MAX, REPLICAS_MAX};
