//! Durable storage for a node: one write-ahead log shared by every Raft group on the node
//! (group commit: many groups' records, one write, one fsync), snapshot files written
//! atomically, and recovery that verifies every checksum. All of it runs on a [`Disk`]: the
//! real file system ([`FsDisk`]) or the lab's simulated disk ([`SimDisk`]).
//!
//! Layout on disk (all little-endian, every byte under a CRC32C):
//! - `wal/{sequence:016}.log`: a segment header (magic `NDBWAL01`, sequence, crc) then records
//!   `[payload length u32][type u8][group u64][crc32c of type+group+payload][payload]`;
//! - `snap/{group:016}-{index:016}.snap`: a snapshot header (magic, group, index, term,
//!   membership, data size, data crc, header crc) then the data.
//!
//! Modules: [`codec`] (byte formats), [`fs`] (real disk), [`sim`] (simulated disk), [`wal`]
//! (group commit, snapshots, recovery), [`bench`] (throughput measurements for the CLI).
#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

pub mod bench;
pub mod codec;
pub mod fs;
mod recover;
pub mod sim;
pub mod wal;

pub use codec::{ENTRY_SIZE_MAX, RECORD_SIZE_MAX};
pub use fs::{DirLock, FsDisk};
pub use sim::SimDisk;
pub use wal::{FlushStats, Wal, WalError, WalOptions};

/// The id of a Raft group on this node.
pub type GroupId = u64;

/// Why a disk operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// No such file.
    NotFound(String),
    /// Not enough space left for the write; nothing was written.
    Full {
        /// Bytes the write needed.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// Any other I/O error, with the OS's words.
    Io(String),
}

/// A flat namespace of files under one data directory. Paths are relative, like
/// `"wal/0000000000000001.log"`; the first component is the directory.
///
/// Durability model (what `SimDisk` enforces and `FsDisk` gets from the OS):
/// - file contents written by `append`/`write`/`truncate` survive a crash only after `sync`;
/// - creating, renaming and removing files survives a crash only after `sync_dir` of the
///   directory.
pub trait Disk {
    /// Names (not paths) of the files in `dir`, sorted. An absent directory is empty.
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError>;
    /// The whole content of a file.
    fn read(&self, path: &str) -> Result<Vec<u8>, DiskError>;
    /// Appends to a file, creating it if missing.
    fn append(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError>;
    /// Creates or replaces a file's content.
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError>;
    /// Cuts a file to `len` bytes.
    fn truncate(&mut self, path: &str, len: u64) -> Result<(), DiskError>;
    /// Makes the file's content durable (fsync / fdatasync).
    fn sync(&mut self, path: &str) -> Result<(), DiskError>;
    /// Renames a file (atomically replacing `to`).
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError>;
    /// Removes a file.
    fn remove(&mut self, path: &str) -> Result<(), DiskError>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&mut self, dir: &str) -> Result<(), DiskError>;
}

/// One record in the write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Entries of a group, consecutive; they replace the group's log from the first one's index.
    /// The log may frame them as several records (each within `RECORD_SIZE_MAX`), in order.
    Entries {
        /// The group.
        group: GroupId,
        /// The entries.
        entries: Vec<raft::Entry>,
    },
    /// A group's term, vote and commit index.
    HardState {
        /// The group.
        group: GroupId,
        /// The state.
        hard_state: raft::HardState,
    },
}

/// What recovery found for one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredGroup {
    /// The newest hard state.
    pub hard_state: raft::HardState,
    /// The newest intact snapshot, if any.
    pub snapshot: Option<raft::Snapshot>,
    /// Entries after the snapshot, consecutive.
    pub entries: Vec<raft::Entry>,
}

/// The outcome of opening a log.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Every group with records or a snapshot, and its state.
    pub groups: BTreeMap<GroupId, RecoveredGroup>,
    /// Groups whose durable state is not trustworthy (a checksum failed somewhere other than
    /// a torn tail): they must not vote and must be rebuilt from a healthy replica.
    pub damaged: BTreeSet<GroupId>,
    /// One line per thing recovery found or did (torn tail truncated at ..., checksum
    /// mismatch in segment ... at offset ..., group ... damaged).
    pub findings: Vec<String>,
}

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskError::NotFound(path) => write!(f, "file not found: {path}"),
            DiskError::Full { needed, available } => {
                write!(f, "disk full: needed {needed} bytes, {available} available")
            }
            DiskError::Io(message) => write!(f, "i/o error: {message}"),
        }
    }
}

impl std::error::Error for DiskError {}
