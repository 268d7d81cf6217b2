//! Limits on what placement accepts, so a bad configuration is an error and not an
//! allocation of unbounded size.

/// The largest replication factor: 5 replicas survive two failures, and more only slows
/// every write down for a guarantee no deployment here needs.
pub const REPLICATION_MAX: usize = 5;

/// The most groups [`crate::initial`] places at once. A node hosts at most a few thousand
/// groups, so a million across a cluster is far beyond any real plan, yet small enough that
/// the plan fits in memory.
pub const GROUPS_MAX: u64 = 1 << 20;

const _: () = assert!(
    REPLICATION_MAX % 2 == 1,
    "an even replication factor adds a replica without adding a tolerated failure"
);
