//! The checkers: Raft's safety properties observed as the run goes, and after it, replica
//! convergence, log matching and per-key linearizability of the clients' history.

use std::collections::BTreeMap;

use lincheck::kv::{KvInput, KvModel, KvOutput};
use lincheck::{Budget, Operation, Verdict};
use raft::{LogIndex, NodeId, Replica, Term};

use crate::node::{fnv, SimNode};

/// Keeps what the checkers must remember across the run.
#[derive(Debug)]
pub struct Observer {
    /// Who led each term (election safety: at most one).
    leaders: BTreeMap<Term, NodeId>,
    /// What was applied at each index, by anyone (state-machine safety: the same everywhere).
    applied: BTreeMap<LogIndex, (Term, u64)>,
    /// Per node, the last term it was seen leading (to check leader completeness once per term).
    checked_leadership: Vec<Term>,
    pub violations: Vec<String>,
    /// Keys whose linearizability the search could not decide within its budget.
    pub undecided: Vec<String>,
}

/// Violations kept per run; the first ones tell the story.
const VIOLATIONS_MAX: usize = 20;

impl Observer {
    pub fn new(nodes: usize) -> Observer {
        Observer { leaders: BTreeMap::new(), applied: BTreeMap::new(), checked_leadership: vec![0; nodes], violations: Vec::new(), undecided: Vec::new() }
    }

    pub fn violation(&mut self, text: String) {
        if self.violations.len() < VIOLATIONS_MAX {
            self.violations.push(text);
        }
    }

    pub fn leaders_elected(&self) -> usize {
        self.leaders.len()
    }

    /// A node leads: check election safety and, once per term, leader completeness. Returns
    /// whether this is the first time it is seen leading this term.
    pub fn on_leader(&mut self, replica: &Replica) -> bool {
        let (id, term) = (replica.id(), replica.term());
        let slot = &mut self.checked_leadership[crate::node::slot_of(id)];
        if *slot == term {
            return false;
        }
        *slot = term;
        if let Some(&other) = self.leaders.get(&term) {
            if other != id {
                self.violation(format!("election safety: n{other} and n{id} both lead term {term}"));
            }
        }
        self.leaders.insert(term, id);
        // Leader completeness (§5.4): the new leader holds every entry anyone applied.
        let first = replica.first_index();
        let missing = self.applied.range(first..).find(|(&index, &(entry_term, _))| replica.entry_term(index) != Some(entry_term));
        if let Some((&index, &(entry_term, _))) = missing {
            self.violation(format!(
                "leader completeness: n{id} leads term {term} without committed entry {index} (term {entry_term}); it has term {:?}",
                replica.entry_term(index)
            ));
        }
        true
    }

    /// A node applied an entry: everyone must apply the same one at that index.
    pub fn on_apply(&mut self, node: NodeId, index: LogIndex, term: Term, digest: u64) {
        match self.applied.get(&index) {
            Some(&(seen_term, seen_digest)) if (seen_term, seen_digest) != (term, digest) => {
                self.violation(format!(
                    "state machine safety: n{node} applied (term {term}, digest {digest:x}) at index {index}, another node applied (term {seen_term}, digest {seen_digest:x})"
                ));
            }
            Some(_) => {}
            None => {
                self.applied.insert(index, (term, digest));
            }
        }
    }

    /// After healing, every member of the group must have applied the same state.
    pub fn check_convergence(&mut self, nodes: &[SimNode]) {
        let Some(membership) = nodes.iter().filter_map(|n| n.replica.as_ref()).max_by_key(|r| (r.term(), r.commit_index())).map(|r| r.membership().clone()) else {
            self.violation("convergence: no node is up".to_owned());
            return;
        };
        let members: Vec<&SimNode> = nodes.iter().filter(|n| membership.replicas().contains(&n.id)).collect();
        let states: Vec<(NodeId, LogIndex, u64)> = members.iter().map(|n| (n.id, n.applied, n.store.digest())).collect();
        let max_applied = states.iter().map(|s| s.1).max().unwrap_or(0);
        for &(id, applied, digest) in &states {
            if applied < max_applied {
                self.violation(format!("convergence: n{id} applied only {applied} of {max_applied} after healing"));
            } else if digest != states.iter().find(|s| s.1 == max_applied).map_or(digest, |s| s.2) {
                self.violation(format!("convergence: n{id} has a different state at applied index {applied}"));
            }
        }
    }

    /// Log matching: two logs with an entry of the same index and term hold the same entry.
    pub fn check_log_matching(&mut self, nodes: &[SimNode]) {
        let mut seen: BTreeMap<(LogIndex, Term), (NodeId, u64)> = BTreeMap::new();
        for node in nodes {
            let Some(replica) = node.replica.as_ref() else { continue };
            for entry in (replica.first_index()..=replica.last_index()).filter_map(|i| replica.entry(i)) {
                let digest = fnv(format!("{:?}", entry.payload).as_bytes());
                match seen.get(&(entry.index, entry.term)) {
                    Some(&(other, other_digest)) if other_digest != digest => {
                        self.violation(format!("log matching: n{} and n{other} differ at index {} term {}", node.id, entry.index, entry.term));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert((entry.index, entry.term), (node.id, digest));
                    }
                }
            }
        }
    }
}

/// Whether every member of the newest membership is up and applied the same state.
pub fn converged(nodes: &[SimNode]) -> bool {
    let mut observer = Observer::new(nodes.len());
    observer.check_convergence(nodes);
    observer.violations.is_empty() && nodes.iter().all(SimNode::is_up)
}

/// Per-key linearizability of the history (reads that timed out are left out).
pub fn check_linearizability(history: &[(Option<u64>, Operation<KvInput, KvOutput>)], observer: &mut Observer) {
    let mut by_key: BTreeMap<u64, Vec<Operation<KvInput, KvOutput>>> = BTreeMap::new();
    for (key, op) in history {
        if let Some(key) = key {
            by_key.entry(*key).or_default().push(op.clone());
        }
    }
    for (key, ops) in by_key {
        match lincheck::check(&KvModel, &ops, Budget::default()) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable { explanation } => {
                observer.violation(format!("linearizability: key {key} ({} operations):\n{explanation}", ops.len()));
            }
            // Unknown is not a violation, but it is not silence either: it is reported.
            Verdict::Unknown { reason } => observer.undecided.push(format!("key {key}: {reason}")),
        }
    }
}
