//! The depth-first search over the event list (Porcupine's `checkSingle`, iterative).

use crate::cache::{Cache, Linearized};
use crate::events::{EventList, Node, NIL};
use crate::explain::{self, Frontier};
use crate::{Budget, Model, Operation, Verdict};

/// Memory guard for the memoisation cache, in 64-bit words (256 MiB). The step budget alone
/// would let a long history fill gigabytes, since every entry holds a bitset of the history.
const CACHE_WORDS_MAX: usize = 1 << 25;

/// The search's mutable state.
struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a [Operation<M::Input, M::Output>],
    list: EventList,
    linearized: Linearized,
    state: M::State,
    /// Lifted call nodes in linearization order, each with the model state before it.
    stack: Vec<(usize, M::State)>,
    cache: Cache<M::State>,
    /// Whether finished configurations must be recorded (only if some operation is optional).
    has_optional: bool,
    steps: u64,
    /// The deepest dead end met so far, for the explanation.
    frontier: Option<Frontier<M::State>>,
}

/// Runs the search on a validated history.
pub(crate) fn run<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> Verdict {
    let mut search = Search::new(model, history);
    let mut entry = search.list.first();
    // Optional operations may stay out of the linearization, so the search is done as soon as
    // every mandatory one is in (their returns all precede the optional ones' in the list).
    while !search.linearized.all_mandatory_done() {
        let Some(node) = search.list.nodes.get(entry).copied() else {
            return Verdict::Unknown {
                reason: "internal error: event list corrupted".into(),
            };
        };
        if !node.is_call() {
            // This operation should have been linearized already: undo the last choice.
            search.record_frontier(entry);
            match search.backtrack() {
                Some(next) => entry = next,
                None => return search.failure(),
            }
            continue;
        }
        if search.steps >= budget.steps_max {
            return search.out_of_budget(budget);
        }
        search.steps += 1;
        entry = if search.try_linearize(entry, node) {
            search.list.first()
        } else {
            node.next
        };
        if search.cache.words > CACHE_WORDS_MAX {
            return search.out_of_memory();
        }
    }
    Verdict::Linearizable
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, history: &'a [Operation<M::Input, M::Output>]) -> Self {
        let optional: Vec<bool> = history
            .iter()
            .map(|operation| operation.ret.is_none() && operation.output.is_none())
            .collect();
        Search {
            model,
            history,
            list: EventList::build(history),
            linearized: Linearized::new(&optional),
            state: model.init(),
            stack: Vec::new(),
            cache: Cache::new(),
            has_optional: optional.contains(&true),
            steps: 0,
            frontier: None,
        }
    }

    /// Linearizes the operation of call node `entry` next if the model allows it and the
    /// resulting configuration is worth exploring; returns whether it did.
    fn try_linearize(&mut self, entry: usize, node: Node) -> bool {
        let operation = &self.history[node.operation];
        let Some(next_state) =
            self.model
                .step(&self.state, &operation.input, operation.output.as_ref())
        else {
            return false;
        };
        self.linearized.set(node.operation);
        if !self.cache.enter(&self.linearized, &next_state) {
            self.linearized.clear(node.operation);
            return false;
        }
        let previous = std::mem::replace(&mut self.state, next_state);
        self.stack.push((entry, previous));
        self.list.lift(entry);
        true
    }

    /// Undoes the last linearized operation, whose configuration is now fully explored; returns
    /// where its scan resumes, or `None` when nothing is left to undo (not linearizable).
    fn backtrack(&mut self) -> Option<usize> {
        let (call, previous) = self.stack.pop()?;
        if self.has_optional {
            self.cache.finish(&self.linearized, &self.state);
        }
        self.linearized.clear(self.list.nodes[call].operation);
        self.state = previous;
        self.list.unlift(call);
        Some(self.list.nodes[call].next)
    }

    /// Remembers the current dead end (at return node `blocked`) if its prefix is the longest yet.
    fn record_frontier(&mut self, blocked: usize) {
        if self
            .frontier
            .as_ref()
            .is_some_and(|frontier| frontier.prefix.len() >= self.stack.len())
        {
            return;
        }
        let prefix = self
            .stack
            .iter()
            .map(|&(call, _)| self.list.nodes[call].operation)
            .collect();
        let mut candidates = Vec::new();
        let mut cursor = self.list.first();
        while cursor != blocked && cursor != NIL {
            let node = self.list.nodes[cursor];
            if node.is_call() {
                candidates.push(node.operation);
            }
            cursor = node.next;
        }
        self.frontier = Some(Frontier {
            prefix,
            blocked: self.list.nodes[blocked].operation,
            candidates,
            state: self.state.clone(),
        });
    }

    fn failure(&self) -> Verdict {
        let explanation =
            explain::not_linearizable(self.model, self.history, self.frontier.as_ref());
        Verdict::NotLinearizable { explanation }
    }

    fn deepest_prefix(&self) -> usize {
        let recorded = self
            .frontier
            .as_ref()
            .map_or(0, |frontier| frontier.prefix.len());
        recorded.max(self.stack.len())
    }

    fn out_of_budget(&self, budget: Budget) -> Verdict {
        let reason = format!(
            "search budget exhausted: {} model steps (steps_max {}) on {} operations without a decision; \
             deepest linearizable prefix reached: {} operations",
            self.steps,
            budget.steps_max,
            self.history.len(),
            self.deepest_prefix()
        );
        Verdict::Unknown { reason }
    }

    fn out_of_memory(&self) -> Verdict {
        let reason = format!(
            "memoisation cache exceeded {} MiB after {} model steps on {} operations without a decision; \
             deepest linearizable prefix reached: {} operations",
            CACHE_WORDS_MAX * 8 / (1 << 20),
            self.steps,
            self.history.len(),
            self.deepest_prefix()
        );
        Verdict::Unknown { reason }
    }
}
