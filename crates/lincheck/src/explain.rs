//! Turns the deepest dead end of a failed search into a short human-readable account.

use std::fmt::Write;

use crate::{Model, Operation};

/// How many prefix operations are listed (the latest ones: they lead up to the violation).
const PREFIX_LINES_MAX: usize = 10;
/// How many candidate operations are listed.
const CANDIDATE_LINES_MAX: usize = 7;

/// The deepest point the search reached before it had to backtrack.
pub(crate) struct Frontier<S> {
    /// Operations linearized so far, in order.
    pub(crate) prefix: Vec<usize>,
    /// The operation whose return event stopped the scan: it had to be linearized before
    /// anything called after its return.
    pub(crate) blocked: usize,
    /// The operations that could have come next (called before `blocked` returned).
    pub(crate) candidates: Vec<usize>,
    /// The model state after `prefix`.
    pub(crate) state: S,
}

/// The explanation of a `NotLinearizable` verdict, at most about twenty lines.
pub(crate) fn not_linearizable<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    frontier: Option<&Frontier<M::State>>,
) -> String {
    let Some(frontier) = frontier else {
        return format!(
            "no linearization of the {} operations exists",
            history.len()
        );
    };
    let mut text = String::new();
    // Writing to a String cannot fail; the results are ignored rather than unwrapped.
    let _ = writeln!(
        text,
        "no linearization of the {} operations exists; the longest linearizable prefix found has {}:",
        history.len(),
        frontier.prefix.len()
    );
    write_prefix(&mut text, history, &frontier.prefix);
    let _ = writeln!(
        text,
        "then {} had to be linearized before anything called after it returned, \
         but none of the pending operations can come next:",
        describe(history, frontier.blocked)
    );
    write_candidates(&mut text, model, history, frontier);
    text.truncate(text.trim_end().len());
    text
}

fn write_prefix<I: std::fmt::Debug, O: std::fmt::Debug>(
    text: &mut String,
    history: &[Operation<I, O>],
    prefix: &[usize],
) {
    if prefix.is_empty() {
        let _ = writeln!(
            text,
            "  (empty: not even the first operation can be linearized)"
        );
    }
    let omitted = prefix.len().saturating_sub(PREFIX_LINES_MAX);
    if omitted > 0 {
        let _ = writeln!(text, "  ... {omitted} earlier operations omitted");
    }
    for (position, &operation) in prefix.iter().enumerate().skip(omitted) {
        let _ = writeln!(text, "  {}. {}", position + 1, describe(history, operation));
    }
}

fn write_candidates<M: Model>(
    text: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    frontier: &Frontier<M::State>,
) {
    for &operation in frontier.candidates.iter().take(CANDIDATE_LINES_MAX) {
        let entry = &history[operation];
        // Distinguishes an answer the model rejects outright from one that is fine here but
        // leads nowhere: the first points at the bad read, the second at an ordering problem.
        let why = if model
            .step(&frontier.state, &entry.input, entry.output.as_ref())
            .is_some()
        {
            "allowed here, but no continuation linearizes the rest"
        } else {
            "not allowed by the model after this prefix"
        };
        let _ = writeln!(text, "  - {}: {why}", describe(history, operation));
    }
    let more = frontier
        .candidates
        .len()
        .saturating_sub(CANDIDATE_LINES_MAX);
    if more > 0 {
        let _ = writeln!(text, "  ... and {more} more pending operations");
    }
}

/// One operation on one line: `#3 client 2: Put(7) -> Ok [10..25]`.
pub(crate) fn describe<I: std::fmt::Debug, O: std::fmt::Debug>(
    history: &[Operation<I, O>],
    index: usize,
) -> String {
    let Some(operation) = history.get(index) else {
        return format!("#{index} (unknown operation)");
    };
    let output = match &operation.output {
        Some(output) => format!("{output:?}"),
        None => "? (indeterminate)".to_string(),
    };
    let ret = match operation.ret {
        Some(ret) => ret.to_string(),
        None => "never returned".to_string(),
    };
    format!(
        "#{index} client {}: {:?} -> {output} [{}..{ret}]",
        operation.client, operation.input, operation.call
    )
}
