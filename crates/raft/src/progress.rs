//! What the leader knows of each follower, and the flow control of appends to it.

use std::collections::VecDeque;

use crate::types::{LogIndex, Term};

/// How the leader is currently talking to one follower (etcd's progress states).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProgressState {
    /// Looking for the point where the logs agree: one `Append` at a time.
    Probe,
    /// Logs agree: stream appends, up to the in-flight limits.
    Replicate,
    /// The follower needs entries the leader compacted: send the snapshot, chunk by chunk.
    Snapshot {
        index: LogIndex,
        term: Term,
        /// Bytes the follower confirmed.
        acked: u64,
        /// Ticks since the last chunk went out without an acknowledgement.
        ticks_waiting: u32,
    },
}

/// The leader's view of one peer.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known replicated on the peer.
    pub(crate) matched: LogIndex,
    /// Next index to send.
    pub(crate) next: LogIndex,
    pub(crate) state: ProgressState,
    /// In `Probe`, an append is out and unanswered: wait for the answer or a heartbeat reply.
    pub(crate) probe_sent: bool,
    pub(crate) inflight: Inflight,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// The highest read round the peer has confirmed.
    pub(crate) read_round_acked: u64,
}

impl Progress {
    pub(crate) fn new(
        next: LogIndex,
        inflight_appends_max: usize,
        inflight_bytes_max: u64,
    ) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: Inflight::new(inflight_appends_max, inflight_bytes_max),
            recent_active: false,
            read_round_acked: 0,
        }
    }

    /// Whether the leader must hold back appends to this peer.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflight.is_full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    pub(crate) fn become_probe(&mut self) {
        if let ProgressState::Snapshot { index, .. } = self.state {
            self.next = (self.matched + 1).max(index + 1);
        } else {
            self.next = self.matched + 1;
        }
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflight.clear();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflight.clear();
    }

    pub(crate) fn become_snapshot(&mut self, index: LogIndex, term: Term) {
        self.state = ProgressState::Snapshot {
            index,
            term,
            acked: 0,
            ticks_waiting: 0,
        };
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// A successful append answer: returns whether `matched` moved.
    pub(crate) fn maybe_update(&mut self, index: LogIndex) -> bool {
        let updated = index > self.matched;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// A rejection of the append at `rejected`; `match_hint` is where the logs may agree.
    /// Returns false when the rejection is stale (etcd's `MaybeDecrTo`).
    pub(crate) fn maybe_decrease_to(&mut self, rejected: LogIndex, match_hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next.checked_sub(1) != Some(rejected) {
            return false;
        }
        if rejected <= self.matched {
            // The follower rejects an index it had acknowledged: it lost data (a wiped or
            // damaged disk). Believe what it has now, or the probe would repeat forever.
            self.matched = match_hint.min(rejected.saturating_sub(1));
        }
        self.next = rejected.min(match_hint + 1).max(self.matched + 1);
        self.probe_sent = false;
        true
    }

    /// Records an append that went out, ending at `last`.
    pub(crate) fn sent_entries(&mut self, last: LogIndex, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                self.next = last + 1;
                self.inflight.add(last, bytes);
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot { .. } => {}
        }
    }
}

/// Appends sent but not acknowledged, bounded by count and bytes: the pipelining window.
#[derive(Clone, Debug)]
pub(crate) struct Inflight {
    window: VecDeque<(LogIndex, u64)>,
    count_max: usize,
    bytes: u64,
    bytes_max: u64,
}

impl Inflight {
    fn new(count_max: usize, bytes_max: u64) -> Inflight {
        Inflight {
            window: VecDeque::with_capacity(count_max),
            count_max,
            bytes: 0,
            bytes_max,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.window.len() >= self.count_max || self.bytes >= self.bytes_max
    }

    fn add(&mut self, last: LogIndex, bytes: u64) {
        assert!(
            self.window.len() < self.count_max,
            "inflight window overflow: len={} max={}",
            self.window.len(),
            self.count_max
        );
        self.window.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every append ending at or before `index`.
    pub(crate) fn free_to(&mut self, index: LogIndex) {
        while let Some(&(last, bytes)) = self.window.front() {
            if last > index {
                break;
            }
            self.window.pop_front();
            self.bytes -= bytes;
        }
    }

    /// Frees the oldest append: a heartbeat answer proves the follower is alive and reading.
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.window.pop_front() {
            self.bytes -= bytes;
        }
    }

    fn clear(&mut self) {
        self.window.clear();
        self.bytes = 0;
    }
}
