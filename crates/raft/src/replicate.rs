//! Log replication (§5.3): appends with the consistency check, fast backtracking, flow
//! control, commit by counting current-term replicas, and snapshots for lagging followers.

use bytes::{Bytes, BytesMut};

use crate::message::MessageBody;
use crate::progress::ProgressState;
use crate::replica::{Replica, Role, StepError};
use crate::types::{Entry, LogIndex, NodeId, Snapshot, SnapshotMeta, Term};

/// The most a follower buffers of one incoming snapshot before it is complete.
pub const SNAPSHOT_SIZE_MAX: u64 = 1 << 32;

impl Replica {
    /// Sends `to` the entries it lacks if the flow-control window allows; an empty append
    /// when `send_if_empty` (to probe or to carry the commit index). Returns whether it sent.
    pub(crate) fn send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(progress) = self.progress.get(&to) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let prev_index = progress.next - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            self.start_snapshot(to);
            return false;
        };
        let entries = match progress.state {
            ProgressState::Replicate | ProgressState::Probe => self.log.slice(
                progress.next,
                self.config.append_bytes_max,
                self.config.append_entries_max,
            ),
            ProgressState::Snapshot { .. } => return false,
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let last = entries.last().map_or(prev_index, |e| e.index);
        let bytes: u64 = entries.iter().map(Entry::payload_size).sum();
        let progress = self.progress.get_mut(&to).expect("checked above");
        if !entries.is_empty() || progress.state == ProgressState::Probe {
            progress.sent_entries(last, bytes);
        }
        let body = MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit: self.log.committed,
        };
        self.send(to, self.term, body);
        true
    }

    /// Sends every follower what it lacks, or an empty append to carry the commit index.
    pub(crate) fn broadcast_append(&mut self) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for peer in peers {
            self.send_append(peer, true);
        }
    }

    /// The commit index moved: tell every follower now if so configured (else the next
    /// append or heartbeat carries it).
    pub(crate) fn announce_commit(&mut self) {
        if self.config.broadcast_commit {
            self.broadcast_append();
        }
    }

    /// Leader: counts replicas of each index and commits the highest one held by a majority,
    /// but only if it is of the current term (§5.4.2, Figure 8).
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let id = self.id();
        let own = if self.config.bugs.ack_before_persist {
            self.log.last_index()
        } else {
            self.log.stable
        };
        let progress = &self.progress;
        let candidate = self.membership.committed_index(|node| {
            if node == id {
                own
            } else {
                progress.get(&node).map_or(0, |p| p.matched)
            }
        });
        let candidate = candidate.min(self.log.last_index());
        if candidate <= self.log.committed {
            return false;
        }
        let current_term = self.log.term(candidate) == Some(self.term);
        if !current_term && !self.config.bugs.commit_old_term_by_counting {
            return false;
        }
        self.commit_to(candidate);
        true
    }

    /// Moves the commit index and performs what committing entails here.
    pub(crate) fn commit_to(&mut self, index: LogIndex) {
        let old = self.log.committed;
        let index = index.min(self.log.last_index());
        if !self.log.commit_to(index) {
            return;
        }
        if self.role == Role::Leader {
            let committed_bytes: u64 = (old + 1..=index)
                .filter_map(|i| self.log.entry(i))
                .map(Entry::payload_size)
                .sum();
            self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed_bytes);
        }
        self.activate_membership_changes(old, index);
        if self.role == Role::Leader {
            self.release_reads_waiting_for_commit();
        }
    }

    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) -> Result<(), StepError> {
        if prev_index < self.log.committed {
            let body = MessageBody::AppendResponse {
                index: self.log.committed,
                reject: false,
                hint_index: 0,
                hint_term: 0,
            };
            self.send_acknowledgement(from, body);
            return Ok(());
        }
        if !self.log.matches(prev_index, prev_term) {
            let hint_index = prev_index.min(self.log.last_index());
            let (hint_index, hint_term) = self.log.find_conflict_by_term(hint_index, prev_term);
            let body = MessageBody::AppendResponse {
                index: prev_index,
                reject: true,
                hint_index,
                hint_term,
            };
            self.send_acknowledgement(from, body);
            return Ok(());
        }
        if let Some(conflict) = entries
            .iter()
            .find(|e| self.log.term(e.index).is_some_and(|t| t != e.term))
        {
            if conflict.index <= self.log.committed {
                return Err(StepError::Malformed {
                    reason: format!(
                        "append overwrites committed entry {}: committed={}",
                        conflict.index, self.log.committed
                    ),
                });
            }
        }
        let last_new = prev_index + entries.len() as u64;
        self.log.merge(entries);
        self.commit_to(commit.min(last_new));
        let body = MessageBody::AppendResponse {
            index: last_new,
            reject: false,
            hint_index: 0,
            hint_term: 0,
        };
        self.send_acknowledgement(from, body);
        Ok(())
    }

    /// Append acknowledgements promise the entries are on disk: they wait for the persist.
    fn send_acknowledgement(&mut self, to: NodeId, body: MessageBody) {
        if self.config.bugs.ack_before_persist {
            self.send(to, self.term, body);
        } else {
            self.send_after_persist(to, self.term, body);
        }
    }

    pub(crate) fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, read_round: u64) {
        self.commit_to(commit.min(self.log.last_index()));
        self.send(
            from,
            self.term,
            MessageBody::HeartbeatResponse { read_round },
        );
    }

    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        index: LogIndex,
        reject: bool,
        hint_index: LogIndex,
        hint_term: Term,
    ) -> Result<(), StepError> {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return Err(StepError::UnknownPeer { from });
        };
        progress.recent_active = true;
        if reject {
            let next_probe = if hint_term > 0 {
                self.log.find_conflict_by_term(hint_index, hint_term).0
            } else {
                hint_index
            };
            let progress = self.progress.get_mut(&from).expect("present");
            if progress.maybe_decrease_to(index, next_probe) {
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                }
                self.send_append(from, true);
            }
            return Ok(());
        }
        if index > last_index {
            return Err(StepError::Malformed {
                reason: format!("ack of index {index} beyond leader's last {last_index}"),
            });
        }
        let was_paused = progress.is_paused();
        if !progress.maybe_update(index) {
            return Ok(());
        }
        match progress.state {
            ProgressState::Probe => progress.become_replicate(),
            ProgressState::Snapshot { .. } => progress.become_probe(),
            ProgressState::Replicate => progress.inflight.free_to(index),
        }
        if self.maybe_commit() && self.config.broadcast_commit {
            self.broadcast_append();
        } else if was_paused {
            // The follower may have missed commit news while paused: send even if empty.
            self.send_append(from, true);
        }
        while self.send_append(from, false) {}
        let matched = self.progress.get(&from).map_or(0, |p| p.matched);
        if self.transfer_target == Some(from) && matched == self.log.last_index() {
            self.send(from, self.term, MessageBody::TimeoutNow);
        }
        Ok(())
    }

    /// Switches `to` to snapshot mode and sends the first chunk.
    fn start_snapshot(&mut self, to: NodeId) {
        let Some(snapshot) = &self.log.snapshot else {
            return;
        };
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if let Some(progress) = self.progress.get_mut(&to) {
            progress.become_snapshot(index, term);
        }
        self.send_snapshot_chunk(to);
    }

    /// Sends the next chunk of the snapshot to `to`, from what it acknowledged.
    fn send_snapshot_chunk(&mut self, to: NodeId) {
        let Some(progress) = self.progress.get_mut(&to) else {
            return;
        };
        let ProgressState::Snapshot {
            index,
            acked,
            ticks_waiting,
            ..
        } = &mut progress.state
        else {
            return;
        };
        let Some(snapshot) = &self.log.snapshot else {
            return;
        };
        if snapshot.meta.index != *index {
            // We compacted further since: start over with the newer snapshot.
            let (index, term) = (snapshot.meta.index, snapshot.meta.term);
            progress.become_snapshot(index, term);
            return self.send_snapshot_chunk(to);
        }
        *ticks_waiting = 0;
        let start = (*acked).min(snapshot.meta.size);
        let end = (start + self.config.snapshot_chunk_bytes).min(snapshot.meta.size);
        let data: Bytes = snapshot.data.slice(start as usize..end as usize);
        let body = MessageBody::SnapshotChunk {
            meta: snapshot.meta.clone(),
            offset: start,
            data,
        };
        self.send(to, self.term, body);
    }

    pub(crate) fn handle_snapshot_ack(
        &mut self,
        from: NodeId,
        index: LogIndex,
        received: u64,
    ) -> Result<(), StepError> {
        let Some(progress) = self.progress.get_mut(&from) else {
            return Err(StepError::UnknownPeer { from });
        };
        progress.recent_active = true;
        if let ProgressState::Snapshot {
            index: sending,
            acked,
            ..
        } = &mut progress.state
        {
            if *sending == index {
                *acked = received;
                self.send_snapshot_chunk(from);
            }
        }
        Ok(())
    }

    /// Resends the current chunk to followers that have not acknowledged for a while
    /// (the chunk or its acknowledgement may have been lost).
    pub(crate) fn tick_snapshot_senders(&mut self) {
        let patience = self.config.election_timeout_ticks / 2 + 1;
        let mut resend = Vec::new();
        for (&node, progress) in &mut self.progress {
            if let ProgressState::Snapshot { ticks_waiting, .. } = &mut progress.state {
                *ticks_waiting += 1;
                if *ticks_waiting >= patience {
                    resend.push(node);
                }
            }
        }
        for node in resend {
            self.send_snapshot_chunk(node);
        }
    }

    pub(crate) fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Bytes,
    ) -> Result<(), StepError> {
        if meta.index <= self.log.committed {
            self.incoming_snapshot = None;
            let body = MessageBody::AppendResponse {
                index: self.log.committed,
                reject: false,
                hint_index: 0,
                hint_term: 0,
            };
            self.send_acknowledgement(from, body);
            return Ok(());
        }
        if meta.size > SNAPSHOT_SIZE_MAX
            || offset
                .checked_add(data.len() as u64)
                .is_none_or(|end| end > meta.size)
        {
            self.incoming_snapshot = None;
            return Err(StepError::Malformed {
                reason: format!(
                    "snapshot chunk at {offset} (+{}) beyond size {}",
                    data.len(),
                    meta.size
                ),
            });
        }
        if offset == 0 {
            self.incoming_snapshot = Some((meta.clone(), BytesMut::new()));
        }
        let received = match &mut self.incoming_snapshot {
            Some((have, buffer)) if *have == meta && buffer.len() as u64 == offset => {
                buffer.extend_from_slice(&data);
                buffer.len() as u64
            }
            Some((have, buffer)) if *have == meta => buffer.len() as u64,
            _ => 0,
        };
        if received < meta.size {
            self.send(
                from,
                self.term,
                MessageBody::SnapshotAck {
                    index: meta.index,
                    received,
                },
            );
            return Ok(());
        }
        let Some((meta, buffer)) = self.incoming_snapshot.take() else {
            return Ok(());
        };
        let snapshot = Snapshot {
            meta,
            data: buffer.freeze(),
        };
        if !snapshot.is_intact() {
            self.send(
                from,
                self.term,
                MessageBody::SnapshotAck {
                    index: snapshot.meta.index,
                    received: 0,
                },
            );
            return Err(StepError::Malformed {
                reason: format!("snapshot at {} fails its checksum", snapshot.meta.index),
            });
        }
        let index = snapshot.meta.index;
        self.install_snapshot(snapshot);
        let body = MessageBody::AppendResponse {
            index,
            reject: false,
            hint_index: 0,
            hint_term: 0,
        };
        self.send_acknowledgement(from, body);
        Ok(())
    }
}
