//! The output of a replica, and the contract of the loop that drives it.

use crate::message::Message;
use crate::replica::{Replica, Role};
use crate::types::{Entry, HardState, LogIndex, ReadState, Snapshot, Term};

/// Everything a replica asks its driver to do, in the order the driver must do it:
///
/// 1. Send `messages` now (they need nothing persisted: the leader's appends, heartbeats,
///    pre-votes).
/// 2. Persist, in this order: `snapshot` (and install it in the state machine), then
///    `hard_state`, then `entries` (truncating the log at `entries[0].index` first). If
///    `must_sync`, fsync before going on. Readies must be persisted in the order they came.
/// 3. Send `messages_after_persist` (votes and append acknowledgements promise durability).
/// 4. Apply `committed_entries` in order; serve each `read_states` context once the state
///    machine has applied its index; fail the `dropped_reads` contexts (leadership was lost).
/// 5. Call [`Replica::advance`] with `persisted`.
///
/// The driver may keep stepping the replica and take the next Ready while one is being
/// persisted, as long as it completes them in order.
#[derive(Debug, Default)]
#[must_use = "a Ready must be carried out and acknowledged with advance"]
pub struct Ready {
    /// Send now.
    pub messages: Vec<Message>,
    /// A snapshot received from the leader: persist it and load it into the state machine.
    pub snapshot: Option<Snapshot>,
    /// Term, vote and commit index to persist, if changed.
    pub hard_state: Option<HardState>,
    /// Entries to append to the durable log.
    pub entries: Vec<Entry>,
    /// Whether the writes above need an fsync before step 3 (false when only the commit
    /// index changed, which may be recovered from peers).
    pub must_sync: bool,
    /// Send after persisting.
    pub messages_after_persist: Vec<Message>,
    /// Apply these, in order, after persisting.
    pub committed_entries: Vec<Entry>,
    /// Reads confirmed at these indexes.
    pub read_states: Vec<ReadState>,
    /// Reads that can no longer be confirmed here; the caller should retry elsewhere.
    pub dropped_reads: Vec<u64>,
    /// What to pass to `advance` afterwards.
    pub persisted: Persisted,
}

/// What a Ready handed over, for [`Replica::advance`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Persisted {
    last_entry: Option<(LogIndex, Term)>,
    hard_state: Option<HardState>,
}

impl Ready {
    /// Whether there is nothing at all to do.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.snapshot.is_none()
            && self.hard_state.is_none()
            && self.entries.is_empty()
            && self.messages_after_persist.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
    }
}

impl Replica {
    /// Whether `ready` would return something.
    pub fn has_ready(&self) -> bool {
        !self.messages.is_empty()
            || !self.messages_after_persist.is_empty()
            || self.snapshot_to_install.is_some()
            || self.log.unstable_from <= self.log.last_index()
            || self.log.applied_handed < self.log.committed
            || self.reported_hard_state() != self.persisted_hard_state
            || self.reads.round_needed()
            || self.reads.has_outputs()
    }

    /// Collects what the driver must do now; `None` if nothing.
    pub fn ready(&mut self) -> Option<Ready> {
        if self.reads.round_needed() && self.role == Role::Leader {
            self.broadcast_heartbeat();
        }
        let hard_state = self.reported_hard_state();
        let hard_state_changed = hard_state != self.persisted_hard_state;
        let snapshot = self.snapshot_to_install.take();
        let entries = self.log.take_unstable();
        let persisted_through = entries
            .last()
            .map_or(self.log.stable, |e| e.index)
            .max(self.log.stable);
        let committed_entries = self.log.take_committed(persisted_through);
        let (read_states, dropped_reads) = self.take_read_states();
        let vote_or_term_changed = hard_state.term != self.persisted_hard_state.term
            || hard_state.vote != self.persisted_hard_state.vote;
        let mut messages = std::mem::take(&mut self.messages);
        let mut messages_after_persist = std::mem::take(&mut self.messages_after_persist);
        if self.term > self.durable_term {
            messages.append(&mut messages_after_persist);
            messages_after_persist = messages;
            messages = Vec::new();
        }
        let ready = Ready {
            messages,
            must_sync: vote_or_term_changed || !entries.is_empty() || snapshot.is_some(),
            persisted: Persisted {
                last_entry: entries.last().map(|e| (e.index, e.term)),
                hard_state: hard_state_changed.then_some(hard_state),
            },
            snapshot,
            hard_state: hard_state_changed.then_some(hard_state),
            entries,
            messages_after_persist,
            committed_entries,
            read_states,
            dropped_reads,
        };
        if hard_state_changed {
            // Later Readies report changes relative to this one.
            self.persisted_hard_state = hard_state;
        }
        (!ready.is_empty()).then_some(ready)
    }

    /// The driver carried out a Ready: its entries and hard state are durable.
    pub fn advance(&mut self, persisted: Persisted) {
        if let Some((index, term)) = persisted.last_entry {
            self.log.stable_to(index, term);
        }
        if let Some(hard_state) = persisted.hard_state {
            self.durable_term = self.durable_term.max(hard_state.term);
        }
        if self.role == Role::Leader && self.maybe_commit() {
            self.announce_commit();
        }
    }

    fn reported_hard_state(&self) -> HardState {
        let mut hard_state = self.hard_state();
        if self.config.bugs.forget_vote {
            hard_state.vote = None;
        }
        hard_state
    }
}
