//! Linearizability checking of concurrent histories (Wing & Gong's search with Lowe's memoisation,
//! P-compositional: a history is split by a partition key and each part is checked on its own).
//!
//! # Algorithm
//!
//! A history is linearizable if its operations can be put in one total order that (a) respects
//! real time - an operation that returned before another was called comes first - and (b) is a
//! legal run of the sequential [`Model`] with the outputs the clients actually saw.
//!
//! [`check`] searches for such an order depth-first, as Wing & Gong do (J. M. Wing and C. Gong,
//! "Testing and verifying concurrent objects", JPDC 1993), in the iterative form used by
//! Porcupine (A. Athalye, `github.com/anishathalye/porcupine`, `checkSingle`):
//!
//! - every operation contributes a call event and a return event; the events are sorted by time
//!   into a doubly linked list. At equal times calls come before returns, so two operations that
//!   merely touch (one returns when the other is called) count as concurrent.
//! - scanning the list from its head, each call event met before the first return event belongs
//!   to an operation that may be linearized next (nothing pending returned before it was called).
//!   The search tries them in list order: if the model accepts the operation's output, the
//!   operation is *lifted* (its two events are unlinked) and pushed on an explicit stack together
//!   with the state before it, and the scan restarts from the head.
//! - reaching a return event means its operation should have been linearized already: the search
//!   backtracks, popping the last lifted operation, *unlifting* it (relinking its events, which is
//!   O(1) because removals are undone in reverse order) and trying the next candidate after it.
//! - the list becoming empty means every operation was linearized; an empty stack at a return
//!   event means no order exists.
//!
//! The search is exponential in the worst case. Lowe's memoisation (G. Lowe, "Testing for
//! linearizability", CCPE 2017) makes it practical: a configuration is the *set* of operations
//! linearized so far (a bitset) together with the model state it reached, and the rest of the
//! search depends only on that pair, so a configuration already seen is never explored twice.
//!
//! Linearizability is compositional (Herlihy & Wing 1990) and, for objects such as a key-value
//! store, P-compositional (A. Horn and D. Kroening, "Faster linearizability checking via
//! P-compositionality", FORTE 2015): a history is linearizable if and only if each per-key
//! sub-history is. [`check_partitioned`] exploits that, turning one huge search into many small
//! ones.
//!
//! # Indeterminate operations
//!
//! An operation that never returned (a timeout, a crashed client) may or may not have taken
//! effect, at any moment after its call. As in Porcupine it is given a return time of +infinity
//! (its return event comes after every other event), and the model is stepped with output
//! `None`, which accepts any answer. Real time then never forces it before anything, so the
//! search may place it anywhere after its call, including at the very end; and an operation
//! linearized after every other one is observationally the same as one that never took effect,
//! because nothing ever reads its result. So the search simply stops once every *mandatory*
//! operation is linearized: the optional ones left over are the ones that never took effect.
//! (This is also what makes the check right for a model that would reject an input in some
//! state even with an unknown answer.)
//!
//! Optional operations also enable a pruning beyond Lowe's exact cache: a configuration with
//! fewer of them linearized (same mandatory set, same state) can do everything one with more
//! can, so once it has failed, the larger one is skipped. An operation with a return time but
//! no answer, or an answer but no return time, must still be linearized.
//!
//! # Budget
//!
//! Each attempted model step counts against [`Budget::steps_max`]; a pathological history yields
//! [`Verdict::Unknown`] instead of hanging. The search is deterministic: the same history always
//! produces the same verdict and the same explanation.

pub mod kv;

mod cache;
mod events;
mod explain;
mod search;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

/// A sequential specification of an object.
pub trait Model {
    /// The object's state; hashed to memoise explored configurations.
    type State: Clone + Eq + std::hash::Hash;
    /// What a client asked for.
    type Input: Clone + std::fmt::Debug;
    /// What the object answered.
    type Output: Clone + std::fmt::Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` if a sequential object in `state` could have answered `output`;
    /// `None` if it could not. `output == None` (indeterminate) accepts any answer.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One operation of a history. Times are in any monotonic unit shared by all operations.
#[derive(Clone, Debug)]
pub struct Operation<I, O> {
    /// Who issued it (for explanations only).
    pub client: u64,
    /// The request.
    pub input: I,
    /// When it was invoked.
    pub call: u64,
    /// When it returned; `None` if it never did (indeterminate).
    pub ret: Option<u64>,
    /// What it returned; `None` if indeterminate.
    pub output: Option<O>,
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some total order of the operations respects real time and the model.
    Linearizable,
    /// No such order exists; the explanation names the operations involved.
    NotLinearizable {
        /// Human-readable account of the longest linearizable prefix found and what broke it.
        explanation: String,
    },
    /// The search ran out of its budget before deciding.
    Unknown {
        /// Why it stopped.
        reason: String,
    },
}

/// Bounds the search so that a pathological history reports `Unknown` instead of hanging.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Maximum number of search steps (model steps attempted) for one partition.
    pub steps_max: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            steps_max: 2_000_000,
        }
    }
}

impl Verdict {
    /// Whether the check proved the history linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Checks one history (one partition) against `model`.
///
/// - An empty history is linearizable.
/// - An operation returning before its call (`ret < call`) makes the history malformed: the
///   verdict is [`Verdict::Unknown`] with a reason starting with `"malformed history"`.
/// - `ret == None` places the return at +infinity; `output == None` lets the model accept any
///   answer. An operation with both `None` is optional: it may also never take effect. An
///   operation with only one of them `None` must be linearized (its answer is known, or it
///   returned so it had taken effect by then).
/// - Operations are named `#index` (their position in `history`) in explanations.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> Verdict {
    if let Some(reason) = malformation(history) {
        return Verdict::Unknown { reason };
    }
    if history.is_empty() {
        return Verdict::Linearizable;
    }
    search::run(model, history, budget)
}

/// Describes the first operation that returns before it is called, if any.
fn malformation<I: std::fmt::Debug, O>(history: &[Operation<I, O>]) -> Option<String> {
    history.iter().enumerate().find_map(|(index, operation)| match operation.ret {
        Some(ret) if ret < operation.call => Some(format!(
            "malformed history: operation #{index} (client {}, {:?}) returns at {ret}, before its call at {}",
            operation.client, operation.input, operation.call
        )),
        _ => None,
    })
}

/// Splits `history` by `partition_key` and checks each part; returns one verdict per key, sorted
/// by key.
///
/// Operation numbers (`#index`) in an explanation are positions within that key's part, which
/// keeps the order of `history`.
pub fn check_partitioned<M: Model, K: Ord + Clone>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition_key: impl Fn(&Operation<M::Input, M::Output>) -> K,
    budget: Budget,
) -> Vec<(K, Verdict)> {
    let mut parts = BTreeMap::<K, Vec<_>>::new();
    for operation in history {
        parts
            .entry(partition_key(operation))
            .or_default()
            .push(operation.clone());
    }
    parts
        .into_iter()
        .map(|(key, part)| {
            let verdict = check(model, &part, budget);
            (key, verdict)
        })
        .collect()
}
