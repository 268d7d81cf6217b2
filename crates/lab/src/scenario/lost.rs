//! Acknowledged writes lost: per key, whether the final state (read back after healing)
//! reflects the last write the clients were told succeeded.

use std::collections::{BTreeMap, BTreeSet};

use lincheck::kv::{KvInput, KvOutput};
use lincheck::Operation;

type History = [(Option<u64>, Operation<KvInput, KvOutput>)];

/// Keys whose last acknowledged write is gone:
/// - in a surviving group, the final read shows a value older than an acknowledged write
///   that began after the value's own write had finished (that write must have replaced it).
///   A final value a write of unknown outcome may explain (a timed-out write of that value,
///   or for an absent key a timed-out delete) is given the benefit of the doubt: the
///   linearizability checker judges those keys;
/// - in a dead group (every replica destroyed), the key's last acknowledged write left a value,
///   which nothing can read any more.
///
/// `final_reader` tells the final readers' client ids; `group_of` maps keys to groups.
pub fn lost_writes(
    history: &History,
    final_reader: impl Fn(u64) -> bool,
    group_of: impl Fn(u64) -> usize,
    dead: &BTreeSet<usize>,
) -> u64 {
    let mut by_key: BTreeMap<u64, Vec<&Operation<KvInput, KvOutput>>> = BTreeMap::new();
    for (key, op) in history {
        if let Some(key) = key {
            by_key.entry(*key).or_default().push(op);
        }
    }
    let mut lost = 0;
    for (key, ops) in by_key {
        let acknowledged: Vec<&&Operation<KvInput, KvOutput>> = ops
            .iter()
            .filter(|op| op.input != KvInput::Get && op.output.is_some() && took_effect(op))
            .collect();
        let Some(last) = acknowledged.iter().max_by_key(|op| op.ret) else {
            continue;
        };
        if dead.contains(&group_of(key)) {
            if last.input != KvInput::Delete {
                lost += 1;
            }
            continue;
        }
        let Some(final_value) = ops
            .iter()
            .filter(|op| final_reader(op.client))
            .find_map(|op| match &op.output {
                Some(KvOutput::Value(value)) => Some(*value),
                _ => None,
            })
        else {
            continue;
        };
        // When the write that produced the final value finished (0: no value, or a delete;
        // never, if a write of unknown outcome may have produced it).
        let produced_at = match final_value {
            Some(value) => ops
                .iter()
                .find(|op| written_value(op) == Some(value))
                .map(|op| op.ret.unwrap_or(u64::MAX)),
            None if ops
                .iter()
                .any(|op| op.input == KvInput::Delete && op.output.is_none()) =>
            {
                Some(u64::MAX)
            }
            None => Some(
                acknowledged
                    .iter()
                    .filter(|op| op.input == KvInput::Delete)
                    .filter_map(|op| op.ret)
                    .max()
                    .unwrap_or(0),
            ),
        };
        let Some(produced_at) = produced_at else {
            // A value no client wrote: the linearizability checker reports it.
            continue;
        };
        if acknowledged
            .iter()
            .any(|op| op.call > produced_at && written_value(op) != final_value)
        {
            lost += 1;
        }
    }
    lost
}

fn took_effect(op: &Operation<KvInput, KvOutput>) -> bool {
    !matches!(
        (&op.input, &op.output),
        (KvInput::Cas { .. }, Some(KvOutput::Swapped(false)))
    )
}

fn written_value(op: &Operation<KvInput, KvOutput>) -> Option<u64> {
    match op.input {
        KvInput::Put(value) | KvInput::Cas { new: value, .. } => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        client: u64,
        input: KvInput,
        call: u64,
        ret: u64,
        output: KvOutput,
    ) -> (Option<u64>, Operation<KvInput, KvOutput>) {
        (
            Some(7),
            Operation {
                client,
                input,
                call,
                ret: Some(ret),
                output: Some(output),
            },
        )
    }

    // Goal: the count catches a write that vanished and spares one that was overwritten.
    // Method: two acknowledged puts in sequence; the final read shows the first (lost) or the
    // second (fine); in a dead group the last put counts as lost.
    #[test]
    fn a_vanished_write_counts_and_an_overwritten_one_does_not() {
        let writes = [
            op(5, KvInput::Put(1), 0, 10, KvOutput::Ok),
            op(5, KvInput::Put(2), 20, 30, KvOutput::Ok),
        ];
        let read = |value| op(0, KvInput::Get, 100, 110, KvOutput::Value(Some(value)));
        let none = BTreeSet::new();
        let with = |value| [writes[0].clone(), writes[1].clone(), read(value)];
        assert_eq!(lost_writes(&with(2), |c| c == 0, |_| 0, &none), 0);
        assert_eq!(lost_writes(&with(1), |c| c == 0, |_| 0, &none), 1);
        let dead = BTreeSet::from([0]);
        assert_eq!(lost_writes(&writes, |c| c == 0, |_| 0, &dead), 1);
        // An absent key after a delete that timed out: not counted (it may have applied).
        let timed_out_delete = (
            Some(7),
            Operation {
                client: 6,
                input: KvInput::Delete,
                call: 40,
                ret: None,
                output: None,
            },
        );
        let absent = op(0, KvInput::Get, 100, 110, KvOutput::Value(None));
        assert_eq!(
            lost_writes(
                &[writes[0].clone(), writes[1].clone(), absent.clone()],
                |c| c == 0,
                |_| 0,
                &none
            ),
            1
        );
        assert_eq!(
            lost_writes(
                &[
                    writes[0].clone(),
                    writes[1].clone(),
                    timed_out_delete,
                    absent
                ],
                |c| c == 0,
                |_| 0,
                &none
            ),
            0
        );
    }
}
