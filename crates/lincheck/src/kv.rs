//! A register per key with get / put / compare-and-set / delete: the lab's key-value model.

/// A request to one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the value.
    Get,
    /// Overwrite the value.
    Put(u64),
    /// Set `new` if the current value equals `expected` (`None`: the key is absent).
    Cas {
        /// The value the key must hold for the swap to happen.
        expected: Option<u64>,
        /// The value to store.
        new: u64,
    },
    /// Remove the key.
    Delete,
}

/// An answer from one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The answer to `Get`: the value, or `None` when absent.
    Value(Option<u64>),
    /// The answer to `Put` and `Delete`.
    Ok,
    /// The answer to `Cas`: whether the swap happened.
    Swapped(bool),
}

/// The sequential model of one key (a partition of the key-value store).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl crate::Model for KvModel {
    /// The register's value; `None` when the key is absent.
    type State = Option<u64>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(
        &self,
        state: &Option<u64>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Option<u64>> {
        let current = *state;
        match (input, output) {
            (KvInput::Get, None) => Some(current),
            (KvInput::Get, Some(KvOutput::Value(seen))) => (*seen == current).then_some(current),
            (KvInput::Put(value), None | Some(KvOutput::Ok)) => Some(Some(*value)),
            (KvInput::Delete, None | Some(KvOutput::Ok)) => Some(None),
            (KvInput::Cas { expected, new }, None) => {
                // Indeterminate: whatever it answered, the swap happened exactly when it should.
                Some(if current == *expected {
                    Some(*new)
                } else {
                    current
                })
            }
            (KvInput::Cas { expected, new }, Some(KvOutput::Swapped(true))) => {
                (current == *expected).then_some(Some(*new))
            }
            (KvInput::Cas { expected, .. }, Some(KvOutput::Swapped(false))) => {
                (current != *expected).then_some(current)
            }
            // An answer of the wrong kind (e.g. `Get` answered `Ok`) is never legal.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    // Goal: pin the register semantics of each request/answer pair; method: direct model steps.
    use super::*;
    use crate::Model;

    fn step(state: Option<u64>, input: KvInput, output: Option<KvOutput>) -> Option<Option<u64>> {
        KvModel.step(&state, &input, output.as_ref())
    }

    #[test]
    fn get_must_return_current_value() {
        // Goal: a read is legal only with the current value; method: matching and mismatching reads.
        assert_eq!(
            step(Some(3), KvInput::Get, Some(KvOutput::Value(Some(3)))),
            Some(Some(3))
        );
        assert_eq!(
            step(Some(3), KvInput::Get, Some(KvOutput::Value(None))),
            None
        );
        assert_eq!(
            step(None, KvInput::Get, Some(KvOutput::Value(None))),
            Some(None)
        );
        assert_eq!(step(Some(3), KvInput::Get, None), Some(Some(3)));
    }

    #[test]
    fn put_and_delete_overwrite() {
        // Goal: writes replace the state whatever it was; method: steps from present/absent states.
        assert_eq!(
            step(None, KvInput::Put(4), Some(KvOutput::Ok)),
            Some(Some(4))
        );
        assert_eq!(step(Some(1), KvInput::Put(4), None), Some(Some(4)));
        assert_eq!(
            step(Some(1), KvInput::Delete, Some(KvOutput::Ok)),
            Some(None)
        );
        assert_eq!(step(None, KvInput::Delete, None), Some(None));
    }

    #[test]
    fn cas_swaps_only_on_match() {
        // Goal: CAS outcome must agree with the state; method: every answer against match/mismatch.
        let cas = KvInput::Cas {
            expected: Some(1),
            new: 2,
        };
        assert_eq!(
            step(Some(1), cas.clone(), Some(KvOutput::Swapped(true))),
            Some(Some(2))
        );
        assert_eq!(
            step(Some(1), cas.clone(), Some(KvOutput::Swapped(false))),
            None
        );
        assert_eq!(
            step(Some(5), cas.clone(), Some(KvOutput::Swapped(false))),
            Some(Some(5))
        );
        assert_eq!(
            step(Some(5), cas.clone(), Some(KvOutput::Swapped(true))),
            None
        );
        assert_eq!(step(Some(1), cas.clone(), None), Some(Some(2)));
        assert_eq!(step(None, cas, None), Some(None));
        let create = KvInput::Cas {
            expected: None,
            new: 9,
        };
        assert_eq!(
            step(None, create, Some(KvOutput::Swapped(true))),
            Some(Some(9))
        );
    }

    #[test]
    fn wrong_answer_kind_is_illegal() {
        // Goal: a mismatched output variant is never a legal step; method: one per request kind.
        assert_eq!(step(None, KvInput::Get, Some(KvOutput::Ok)), None);
        assert_eq!(
            step(None, KvInput::Put(1), Some(KvOutput::Value(None))),
            None
        );
        assert_eq!(
            step(None, KvInput::Delete, Some(KvOutput::Swapped(true))),
            None
        );
        let cas = KvInput::Cas {
            expected: None,
            new: 1,
        };
        assert_eq!(step(None, cas, Some(KvOutput::Ok)), None);
    }
}
