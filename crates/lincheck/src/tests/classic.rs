//! Small hand-written histories whose verdicts are known.

use super::{cas, delete, done, get, pending, put, KvOperation};
use crate::kv::{KvInput, KvModel, KvOutput};
use crate::{check, check_partitioned, Budget, Operation, Verdict};

fn verdict(history: &[KvOperation]) -> Verdict {
    check(&KvModel, history, Budget::default())
}

fn assert_linearizable(history: &[KvOperation]) {
    let verdict = verdict(history);
    assert_eq!(verdict, Verdict::Linearizable, "history: {history:#?}");
}

/// Asserts a violation and returns its explanation.
fn assert_violation(history: &[KvOperation]) -> String {
    match verdict(history) {
        Verdict::NotLinearizable { explanation } => explanation,
        other => panic!("expected NotLinearizable, got {other:?} for {history:#?}"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    // Goal: the trivial case; method: check an empty slice.
    assert_linearizable(&[]);
}

#[test]
fn sequential_history_is_linearizable() {
    // Goal: a non-overlapping legal run passes; method: put, get, put, get, delete, get in turn.
    assert_linearizable(&[
        get(1, 0, 1, None),
        put(1, 2, 3, 5),
        get(2, 4, 5, Some(5)),
        put(2, 6, 7, 6),
        get(1, 8, 9, Some(6)),
        delete(1, 10, 11),
        get(2, 12, 13, None),
    ]);
}

#[test]
fn concurrent_put_and_get_may_see_either_value() {
    // Goal: a read overlapping a write may see old or new; method: both outcomes, plus later reads.
    assert_linearizable(&[put(1, 0, 10, 1), get(2, 5, 15, None)]);
    assert_linearizable(&[put(1, 0, 10, 1), get(2, 5, 15, Some(1))]);
    assert_linearizable(&[
        put(1, 0, 10, 1),
        get(2, 5, 15, None),
        get(3, 5, 20, Some(1)),
    ]);
}

#[test]
fn touching_intervals_are_concurrent() {
    // Goal: ret == call counts as overlap (calls sort before returns); method: a read called at the
    // very instant a write returned may still see the old value.
    assert_linearizable(&[put(1, 0, 10, 1), get(2, 10, 20, None)]);
}

#[test]
fn stale_read_after_completed_write_is_not_linearizable() {
    // Goal: real-time order is enforced; method: a read starting after a write returned sees the
    // old value.
    let explanation = assert_violation(&[put(1, 0, 1, 1), put(1, 2, 3, 2), get(2, 4, 5, Some(1))]);
    assert!(
        explanation.contains("Get -> Value(Some(1))"),
        "{explanation}"
    );
}

#[test]
fn read_of_never_written_value_is_not_linearizable() {
    // Goal: the model is enforced; method: a read sees 7 though only 1 was written.
    let explanation = assert_violation(&[put(1, 0, 10, 1), get(2, 0, 10, Some(7))]);
    assert!(
        explanation.contains("not allowed by the model"),
        "{explanation}"
    );
}

#[test]
fn concurrent_reads_disagreeing_on_order_are_not_linearizable() {
    // Goal: reads must agree on one order; method: a reader sees new then old after the first
    // read finished.
    assert_violation(&[
        put(1, 0, 100, 1),
        get(2, 10, 20, Some(1)),
        get(3, 30, 40, None),
    ]);
}

#[test]
fn indeterminate_put_observed_later_is_linearizable() {
    // Goal: a timed-out write may have taken effect; method: a later read sees its value.
    assert_linearizable(&[pending(1, KvInput::Put(3), 0), get(2, 50, 60, Some(3))]);
}

#[test]
fn indeterminate_put_never_observed_is_linearizable() {
    // Goal: a timed-out write may have had no effect; method: later reads see the key absent.
    assert_linearizable(&[
        pending(1, KvInput::Put(3), 0),
        get(2, 50, 60, None),
        get(2, 70, 80, None),
    ]);
}

#[test]
fn indeterminate_put_observed_then_unobserved_is_not_linearizable() {
    // Goal: once observed, an indeterminate write stays applied; method: a read sees it, then a
    // read called after that one returned sees the old value again.
    assert_violation(&[
        pending(1, KvInput::Put(3), 0),
        get(2, 50, 60, Some(3)),
        get(3, 70, 80, None),
    ]);
}

#[test]
fn indeterminate_operation_cannot_take_effect_before_its_call() {
    // Goal: indeterminate ops still respect their call time; method: a read returning before the
    // put was called sees its value.
    assert_violation(&[get(2, 0, 10, Some(3)), pending(1, KvInput::Put(3), 20)]);
}

#[test]
fn indeterminate_answer_with_known_return_time_is_bounded() {
    // Goal: output None with a known ret is applied by ret; method: a lost-answer put returned at
    // 10, a read at 20 must see it.
    let lost_answer = Operation {
        client: 1,
        input: KvInput::Put(4),
        call: 0,
        ret: Some(10),
        output: None,
    };
    assert_linearizable(&[lost_answer.clone(), get(2, 20, 30, Some(4))]);
    assert_violation(&[lost_answer, get(2, 20, 30, None)]);
}

#[test]
fn cas_cases() {
    // Goal: CAS answers must match the state; method: sequential success/failure, then invalid
    // outcomes.
    assert_linearizable(&[
        cas(1, 0, 1, None, 1, true),
        cas(2, 2, 3, None, 2, false),
        cas(1, 4, 5, Some(1), 3, true),
        get(2, 6, 7, Some(3)),
    ]);
    // Two concurrent creates cannot both succeed.
    assert_violation(&[cas(1, 0, 10, None, 1, true), cas(2, 0, 10, None, 2, true)]);
    // A failed CAS whose expectation held throughout.
    assert_violation(&[put(1, 0, 1, 5), cas(2, 2, 3, Some(5), 6, false)]);
    // Concurrent: one succeeds, the other fails because it came second.
    assert_linearizable(&[
        cas(1, 0, 10, None, 1, true),
        cas(2, 0, 10, None, 2, false),
        get(3, 11, 12, Some(1)),
    ]);
    // An indeterminate CAS that is observed.
    assert_linearizable(&[
        pending(
            1,
            KvInput::Cas {
                expected: None,
                new: 8,
            },
            0,
        ),
        get(2, 5, 6, Some(8)),
    ]);
}

#[test]
fn delete_cases() {
    // Goal: delete makes the key absent; method: legal and stale reads around a delete.
    assert_linearizable(&[put(1, 0, 1, 1), delete(2, 2, 3), get(1, 4, 5, None)]);
    assert_violation(&[put(1, 0, 1, 1), delete(2, 2, 3), get(1, 4, 5, Some(1))]);
    assert_linearizable(&[
        put(1, 0, 1, 1),
        delete(2, 2, 10),
        get(1, 4, 5, Some(1)),
        get(1, 6, 7, None),
    ]);
    assert_linearizable(&[
        put(1, 0, 1, 1),
        pending(2, KvInput::Delete, 2),
        get(1, 4, 5, Some(1)),
    ]);
    assert_violation(&[
        put(1, 0, 1, 1),
        pending(2, KvInput::Delete, 2),
        get(1, 4, 5, None),
        get(1, 6, 7, Some(1)),
    ]);
}

#[test]
fn wrong_answer_kind_is_not_linearizable() {
    // Goal: a mismatched output variant is never legal; method: a Get answered Ok.
    assert_violation(&[done(1, KvInput::Get, 0, 1, KvOutput::Ok)]);
}

#[test]
fn malformed_history_is_unknown() {
    // Goal: no panic and a clear reason on ret < call; method: one backwards operation.
    match verdict(&[put(1, 0, 1, 1), get(2, 10, 5, Some(1))]) {
        Verdict::Unknown { reason } => assert!(reason.starts_with("malformed history"), "{reason}"),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[test]
fn explanation_is_bounded_and_names_the_culprit() {
    // Goal: explanations stay short on long histories; method: 200 sequential puts and reads,
    // then a stale read, and count lines.
    let mut history = Vec::new();
    for index in 0..200 {
        history.push(put(1, index * 4, index * 4 + 1, index));
        history.push(get(2, index * 4 + 2, index * 4 + 3, Some(index)));
    }
    history.push(get(3, 1_000, 1_001, Some(3)));
    let explanation = assert_violation(&history);
    assert!(explanation.lines().count() <= 22, "{explanation}");
    assert!(
        explanation.contains("longest linearizable prefix found has 400"),
        "{explanation}"
    );
    assert!(
        explanation.contains("#400 client 3: Get -> Value(Some(3)) [1000..1001]"),
        "{explanation}"
    );
}

#[test]
fn budget_exhaustion_is_unknown() {
    // Goal: a search that explodes stops with Unknown; method: 20 concurrent indeterminate puts and
    // a read of a value never written force a search over subsets, with a budget of 1,000 steps.
    let mut history: Vec<KvOperation> = (0..20)
        .map(|value| pending(value, KvInput::Put(value), value))
        .collect();
    history.push(get(99, 100, 110, Some(1_000)));
    history.push(get(98, 0, 120, Some(5)));
    match check(&KvModel, &history, Budget { steps_max: 1_000 }) {
        Verdict::Unknown { reason } => assert!(reason.contains("1000 model steps"), "{reason}"),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[test]
fn zero_budget_still_accepts_empty_history() {
    // Goal: budget only limits real work; method: empty and one-op histories with steps_max 0.
    assert_eq!(
        check(&KvModel, &[], Budget { steps_max: 0 }),
        Verdict::Linearizable
    );
    let verdict = check(&KvModel, &[put(1, 0, 1, 1)], Budget { steps_max: 0 });
    assert!(matches!(verdict, Verdict::Unknown { .. }), "{verdict:?}");
}

#[test]
fn same_input_gives_same_verdict_and_explanation() {
    // Goal: determinism; method: check a violating history with many concurrent ops twice.
    let mut history: Vec<KvOperation> = (0..8)
        .map(|value| pending(value, KvInput::Put(value), 0))
        .collect();
    history.push(get(20, 10, 20, Some(3)));
    history.push(get(21, 30, 40, Some(4)));
    history.push(get(22, 50, 60, Some(3)));
    let first = verdict(&history);
    assert!(
        matches!(first, Verdict::NotLinearizable { .. }),
        "{first:?}"
    );
    assert_eq!(first, verdict(&history));
}

#[test]
fn partitions_are_checked_separately_and_sorted() {
    // Goal: per-key verdicts in key order; method: keys encoded in the client id, one bad key.
    let history = vec![
        put(30, 0, 1, 1),
        put(10, 0, 1, 1),
        get(11, 2, 3, Some(1)),
        get(31, 2, 3, None),
        put(20, 0, 1, 2),
    ];
    let verdicts = check_partitioned(
        &KvModel,
        &history,
        |operation| operation.client / 10,
        Budget::default(),
    );
    let keys: Vec<u64> = verdicts.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, vec![1, 2, 3]);
    assert!(verdicts[0].1.is_linearizable());
    assert!(verdicts[1].1.is_linearizable());
    assert!(matches!(verdicts[2].1, Verdict::NotLinearizable { .. }));
}
