//! The replica's in-memory log: entries after the last snapshot, and how far they are
//! persisted, committed and handed out for applying.

use std::collections::VecDeque;

use crate::types::{Entry, LogIndex, Snapshot, Term};

/// The log of one replica.
///
/// - `entries[i].index == snapshot_index + 1 + i`.
/// - `applied_handed <= committed <= last_index()`.
/// - `stable <= last_index()`; entries after `stable` may be lost in a crash.
/// - `unstable_from - 1 <= last_index()`; entries from `unstable_from` on have not yet been
///   handed to the driver to persist.
#[derive(Debug)]
pub(crate) struct RaftLog {
    snapshot_index: LogIndex,
    snapshot_term: Term,
    entries: VecDeque<Entry>,
    pub(crate) committed: LogIndex,
    pub(crate) applied_handed: LogIndex,
    pub(crate) stable: LogIndex,
    pub(crate) unstable_from: LogIndex,
    /// The newest snapshot, kept to send to lagging followers.
    pub(crate) snapshot: Option<Snapshot>,
}

impl RaftLog {
    /// A log restored from durable state: everything given is already persisted.
    pub(crate) fn restore(
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) -> Result<RaftLog, String> {
        let (snapshot_index, snapshot_term) = snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.meta.index, s.meta.term));
        let mut log = RaftLog {
            snapshot_index,
            snapshot_term,
            entries: VecDeque::with_capacity(entries.len()),
            committed: snapshot_index,
            applied_handed: snapshot_index,
            stable: snapshot_index,
            unstable_from: snapshot_index + 1,
            snapshot,
        };
        for entry in entries {
            if entry.index <= snapshot_index {
                continue;
            }
            if entry.index != log.last_index() + 1 {
                return Err(format!(
                    "log gap: expected index {}, found {}",
                    log.last_index() + 1,
                    entry.index
                ));
            }
            if entry.term < log.last_term() {
                return Err(format!(
                    "log term regressed at index {}: {} < {}",
                    entry.index,
                    entry.term,
                    log.last_term()
                ));
            }
            log.entries.push_back(entry);
        }
        log.stable = log.last_index();
        log.unstable_from = log.last_index() + 1;
        log.committed = commit.clamp(snapshot_index, log.last_index());
        Ok(log)
    }

    pub(crate) fn first_index(&self) -> LogIndex {
        self.snapshot_index + 1
    }

    pub(crate) fn snapshot_index(&self) -> LogIndex {
        self.snapshot_index
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.snapshot_index + self.entries.len() as u64
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.back().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`, or `None` if it is compacted away or beyond the end.
    pub(crate) fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        let offset = usize::try_from(index - self.snapshot_index - 1).ok()?;
        self.entries.get(offset)
    }

    pub(crate) fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// §5.4.1: is a log ending at (`last_index`, `last_term`) at least as up to date as ours?
    pub(crate) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Appends at the leader.
    pub(crate) fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "append out of order");
        self.entries.push_back(entry);
    }

    /// Follower side of AppendEntries once the consistency check passed: skips entries it
    /// already has, truncates at the first conflict, appends the rest. Returns the last index
    /// of the leader's batch.
    pub(crate) fn merge(&mut self, entries: Vec<Entry>) -> LogIndex {
        let mut last = 0;
        for entry in entries {
            last = entry.index;
            if entry.index <= self.snapshot_index {
                continue;
            }
            match self.term(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    assert!(
                        entry.index > self.committed,
                        "truncating committed entry {}: committed={}",
                        entry.index,
                        self.committed
                    );
                    self.truncate_from(entry.index);
                }
                None => {}
            }
            self.entries.push_back(entry);
        }
        last
    }

    fn truncate_from(&mut self, index: LogIndex) {
        let keep = usize::try_from(index - self.snapshot_index - 1).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.stable = self.stable.min(index - 1);
        self.unstable_from = self.unstable_from.min(index);
    }

    /// The largest index at or below `index` whose term is at most `term` (etcd's
    /// `findConflictByTerm`): where two logs can possibly agree.
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut index = index.min(self.last_index());
        loop {
            match self.term(index) {
                Some(found) if found > term => index -= 1,
                Some(found) => return (index, found),
                None => return (index, 0),
            }
        }
    }

    /// Entries `[from, ..]` within the byte and count limits (always at least one if any).
    pub(crate) fn slice(&self, from: LogIndex, bytes_max: u64, count_max: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut index = from;
        while let Some(entry) = self.entry(index) {
            bytes += entry.payload_size();
            if !out.is_empty() && (bytes > bytes_max || out.len() >= count_max) {
                break;
            }
            out.push(entry.clone());
            index += 1;
        }
        out
    }

    pub(crate) fn commit_to(&mut self, index: LogIndex) -> bool {
        if index > self.committed {
            assert!(
                index <= self.last_index(),
                "commit beyond log: commit={} last={}",
                index,
                self.last_index()
            );
            self.committed = index;
            return true;
        }
        false
    }

    /// Entries not yet handed out for persisting; marks them handed.
    pub(crate) fn take_unstable(&mut self) -> Vec<Entry> {
        let entries: Vec<Entry> = (self.unstable_from..=self.last_index())
            .filter_map(|i| self.entry(i).cloned())
            .collect();
        self.unstable_from = self.last_index() + 1;
        entries
    }

    /// Committed entries that are persisted (or being persisted with them) and not yet handed
    /// out for applying; marks them handed.
    pub(crate) fn take_committed(&mut self, persisted_through: LogIndex) -> Vec<Entry> {
        let upto = self.committed.min(persisted_through);
        let entries: Vec<Entry> = (self.applied_handed + 1..=upto)
            .filter_map(|i| self.entry(i).cloned())
            .collect();
        self.applied_handed = self.applied_handed.max(upto);
        entries
    }

    /// The driver persisted everything through (`index`, `term`). Ignored if the log was
    /// truncated there in the meantime.
    pub(crate) fn stable_to(&mut self, index: LogIndex, term: Term) {
        if self.matches(index, term) && index > self.stable {
            self.stable = index;
        }
    }

    /// Replaces the whole log by a received snapshot.
    pub(crate) fn install(&mut self, snapshot: Snapshot) {
        self.snapshot_index = snapshot.meta.index;
        self.snapshot_term = snapshot.meta.term;
        self.entries.clear();
        self.committed = snapshot.meta.index;
        self.applied_handed = snapshot.meta.index;
        self.stable = snapshot.meta.index;
        self.unstable_from = snapshot.meta.index + 1;
        self.snapshot = Some(snapshot);
    }

    /// Drops entries through the snapshot's index, which the application took itself.
    pub(crate) fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        assert!(
            index <= self.applied_handed,
            "compacting unapplied entries: index={} applied={}",
            index,
            self.applied_handed
        );
        if index <= self.snapshot_index {
            return;
        }
        let drop = usize::try_from(index - self.snapshot_index).unwrap_or(usize::MAX);
        self.snapshot_term = snapshot.meta.term;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot_index = index;
        self.snapshot = Some(snapshot);
    }
}
