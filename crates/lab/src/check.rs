//! The checkers: Raft's safety properties observed as the run goes, and after it, replica
//! convergence, log matching and per-key linearizability of the clients' history.

use std::collections::BTreeMap;

use lincheck::kv::{KvInput, KvModel, KvOutput};
use lincheck::{Budget, Operation, Verdict};
use raft::{LogIndex, Membership, NodeId, Replica, Term};

use crate::node::SimNode;

/// What the checkers remember of one group across the run.
#[derive(Debug, Default)]
struct GroupObserver {
    /// Who led each term (election safety: at most one).
    leaders: BTreeMap<Term, NodeId>,
    /// What was applied at each index, by anyone (state-machine safety: the same everywhere).
    applied: BTreeMap<LogIndex, (Term, u64)>,
    /// Per node slot, the last term it was seen leading (to check leader completeness once
    /// per term).
    checked_leadership: Vec<Term>,
}

/// Keeps what the checkers must remember across the run. Raft's properties hold per group:
/// each group has its own terms, log and state machine.
#[derive(Debug)]
pub struct Observer {
    groups: Vec<GroupObserver>,
    pub violations: Vec<String>,
    /// Keys whose linearizability the search could not decide within its budget.
    pub undecided: Vec<String>,
}

/// Violations kept per run; the first ones tell the story.
const VIOLATIONS_MAX: usize = 20;

impl Observer {
    pub fn new(nodes: usize, groups: usize) -> Observer {
        let group = || GroupObserver {
            checked_leadership: vec![0; nodes],
            ..GroupObserver::default()
        };
        Observer {
            groups: (0..groups).map(|_| group()).collect(),
            violations: Vec::new(),
            undecided: Vec::new(),
        }
    }

    pub fn violation(&mut self, text: String) {
        if self.violations.len() < VIOLATIONS_MAX {
            self.violations.push(text);
        }
    }

    /// Terms with a leader, summed over the groups.
    pub fn leaders_elected(&self) -> usize {
        self.groups.iter().map(|g| g.leaders.len()).sum()
    }

    /// A replica of `group` leads: check election safety and, once per term, leader
    /// completeness. Returns whether this is the first time it is seen leading this term.
    pub fn on_leader(&mut self, group: usize, replica: &Replica) -> bool {
        let (id, term) = (replica.id(), replica.term());
        let observed = &mut self.groups[group];
        let slot = &mut observed.checked_leadership[crate::node::slot_of(id)];
        if *slot == term {
            return false;
        }
        *slot = term;
        let other = observed
            .leaders
            .insert(term, id)
            .filter(|&other| other != id);
        // Leader completeness (§5.4): the new leader holds every entry anyone applied.
        let first = replica.first_index();
        let missing = observed
            .applied
            .range(first..)
            .find(|(&index, &(entry_term, _))| replica.entry_term(index) != Some(entry_term))
            .map(|(&i, &(t, _))| (i, t));
        if let Some(other) = other {
            self.violation(format!(
                "election safety: group {group}: n{other} and n{id} both lead term {term}"
            ));
        }
        if let Some((index, entry_term)) = missing {
            self.violation(format!(
                "leader completeness: group {group}: n{id} leads term {term} without committed entry {index} (term {entry_term}); it has term {:?}",
                replica.entry_term(index)
            ));
        }
        true
    }

    /// A replica of `group` applied an entry: every replica must apply the same one there.
    pub fn on_apply(
        &mut self,
        group: usize,
        node: NodeId,
        index: LogIndex,
        term: Term,
        digest: u64,
    ) {
        let applied = &mut self.groups[group].applied;
        match applied.get(&index) {
            Some(&(seen_term, seen_digest)) if (seen_term, seen_digest) != (term, digest) => {
                self.violation(format!(
                    "state machine safety: group {group}: n{node} applied (term {term}, digest {digest:x}) at index {index}, another node applied (term {seen_term}, digest {seen_digest:x})"
                ));
            }
            Some(_) => {}
            None => {
                applied.insert(index, (term, digest));
            }
        }
    }

    /// After healing, every live member of each group must have applied the same state.
    pub fn check_convergence(
        &mut self,
        nodes: &[SimNode],
        groups: usize,
        dead: &std::collections::BTreeSet<usize>,
    ) {
        for group in (0..groups).filter(|g| !dead.contains(g)) {
            self.check_group_convergence(nodes, group);
        }
    }

    fn check_group_convergence(&mut self, nodes: &[SimNode], group: usize) {
        let Some(membership) = newest_membership(nodes, group) else {
            self.violation(format!("convergence: group {group} has no replica up"));
            return;
        };
        let members = membership.replicas();
        let states: Vec<(NodeId, LogIndex, u64)> = nodes
            .iter()
            .filter(|n| !n.lost)
            .filter_map(|n| n.groups.get(&group))
            .filter(|hosted| members.contains(&hosted.id))
            .map(|hosted| (hosted.id, hosted.applied, hosted.store.digest()))
            .collect();
        let max_applied = states.iter().map(|s| s.1).max().unwrap_or(0);
        for &(id, applied, digest) in &states {
            if applied < max_applied {
                self.violation(format!("convergence: group {group}: n{id} applied only {applied} of {max_applied} after healing"));
            } else if digest
                != states
                    .iter()
                    .find(|s| s.1 == max_applied)
                    .map_or(digest, |s| s.2)
            {
                self.violation(format!("convergence: group {group}: n{id} has a different state at applied index {applied}"));
            }
        }
    }

    /// Log matching: two logs of a group with an entry of the same index and term hold the
    /// same entry.
    pub fn check_log_matching(&mut self, nodes: &[SimNode], groups: usize) {
        for group in 0..groups {
            let mut seen: BTreeMap<(LogIndex, Term), (NodeId, u64)> = BTreeMap::new();
            for replica in nodes.iter().filter_map(|node| node.replica(group)) {
                for entry in
                    (replica.first_index()..=replica.last_index()).filter_map(|i| replica.entry(i))
                {
                    let digest = crate::hosted::payload_digest(&entry.payload);
                    match seen.get(&(entry.index, entry.term)) {
                        Some(&(other, other_digest)) if other_digest != digest => {
                            self.violation(format!("log matching: group {group}: n{} and n{other} differ at index {} term {}", replica.id(), entry.index, entry.term));
                        }
                        Some(_) => {}
                        None => {
                            seen.insert((entry.index, entry.term), (replica.id(), digest));
                        }
                    }
                }
            }
        }
    }
}

/// The membership of the replica of `group` furthest ahead (highest term, then commit).
pub fn newest_membership(nodes: &[SimNode], group: usize) -> Option<Membership> {
    nodes
        .iter()
        .filter_map(|n| n.replica(group))
        .max_by_key(|r| (r.term(), r.commit_index()))
        .map(|r| r.membership().clone())
}

/// Whether every node not lost is up and every group's live members applied the same state.
pub fn converged(
    nodes: &[SimNode],
    groups: usize,
    dead: &std::collections::BTreeSet<usize>,
) -> bool {
    let mut observer = Observer::new(nodes.len(), groups);
    observer.check_convergence(nodes, groups, dead);
    observer.violations.is_empty() && nodes.iter().all(|n| n.lost || n.is_up())
}

/// Per-key linearizability of the history (reads that timed out are left out).
pub fn check_linearizability(
    history: &[(Option<u64>, Operation<KvInput, KvOutput>)],
    observer: &mut Observer,
) {
    let mut by_key: BTreeMap<u64, Vec<Operation<KvInput, KvOutput>>> = BTreeMap::new();
    for (key, op) in history {
        if let Some(key) = key {
            by_key.entry(*key).or_default().push(op.clone());
        }
    }
    // Keys are independent: check them on every core, then report in key order (the verdicts
    // do not depend on how the keys were shared out).
    let keys: Vec<(u64, Vec<Operation<KvInput, KvOutput>>)> = by_key.into_iter().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(keys.len())
        .max(1);
    let share = keys.len().div_ceil(threads).max(1);
    let verdicts: Vec<Verdict> = std::thread::scope(|scope| {
        let workers: Vec<_> = keys
            .chunks(share)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(_, ops)| lincheck::check(&KvModel, ops, Budget::default()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a linearizability worker panicked"))
            .collect()
    });
    for ((key, ops), verdict) in keys.iter().zip(verdicts) {
        match verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable { explanation } => {
                observer.violation(format!(
                    "linearizability: key {key} ({} operations):\n{explanation}",
                    ops.len()
                ));
            }
            // Unknown is not a violation, but it is not silence either: it is reported.
            Verdict::Unknown { reason } => observer.undecided.push(format!("key {key}: {reason}")),
        }
    }
}
