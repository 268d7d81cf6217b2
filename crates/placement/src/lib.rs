//! Where the replicas of Raft groups go, across failure domains: datacenter > pod > rack >
//! host > node.
//!
//! Everything here is a pure function of its arguments: no I/O, no clock, no randomness, no
//! hash maps with random seeds. The server calls it for the initial placement of groups
//! ([`initial`]), to repair a dead node's replicas ([`replacement`]), to drain or fill nodes
//! ([`rebalance`], [`balance_leaders`]) and to explain `ctl status` ([`spread`],
//! [`shortfalls`]); the lab calls the same code, so a seed reproduces a placement bit for bit.
//!
//! The policy in one paragraph: a group's replicas avoid sharing a failure domain, at the
//! highest level first, because a majority must survive the loss of a whole domain. Among
//! equally spread choices the least loaded node wins, and a hash of (group, node) breaks the
//! remaining ties so groups do not all pick the same nodes. When the topology cannot give a
//! guarantee (one datacenter, too few racks, uneven racks) placement still succeeds and says
//! which guarantee is missing and what would fix it, as a [`Shortfall`].
#![deny(missing_docs)]

pub mod health;
mod leaders;
mod limits;
mod policy;
mod rebalance;
mod spread;
mod topology;

#[cfg(test)]
mod tests;

pub use leaders::{balance_leaders, LeaderTransfer};
pub use limits::{GROUPS_MAX, REPLICATION_MAX};
pub use policy::{initial, replacement, PlacementError, Plan};
pub use rebalance::{plan_rebalance, rebalance, Move, Rebalance};
pub use spread::{shortfalls, spread, Shortfall, Spread};
pub use topology::{Labels, Level, NodeInfo, NodeState, Topology};

/// A node's identity, as in `raft`. Also the last level of the failure-domain tree.
pub type NodeId = u64;
/// A Raft group's identity. [`initial`] numbers groups from 1.
pub type GroupId = u64;

/// A well-mixed 64-bit hash of (group, node): the last tie-break between equally good nodes.
///
/// Hand-rolled (SplitMix64's finaliser) rather than `std::hash`, whose output may change
/// between Rust releases; a placement must not move because the compiler was upgraded.
pub(crate) fn tie_break(group: GroupId, node: NodeId) -> u64 {
    fn mix(mut value: u64) -> u64 {
        value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        value ^ (value >> 31)
    }
    mix(group ^ mix(node))
}
