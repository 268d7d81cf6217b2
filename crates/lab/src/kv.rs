//! The small replicated key-value state machine the lab checks: get / put / compare-and-set /
//! delete on u64 keys and values. Commands carry the client and request id so that the
//! checkers can tell which request an entry is.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use lincheck::kv::{KvInput, KvOutput};

/// A write as it travels in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The client that sent it.
    pub client: u64,
    /// The client's request number.
    pub request: u64,
    /// The key.
    pub key: u64,
    /// The operation (never `Get`: reads do not go through the log).
    pub input: KvInput,
}

const TAG_PUT: u8 = 1;
const TAG_CAS: u8 = 2;
const TAG_CAS_ABSENT: u8 = 3;
const TAG_DELETE: u8 = 4;

impl Command {
    /// The log encoding: client, request, key, tag, arguments (little-endian).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(41);
        out.put_u64_le(self.client);
        out.put_u64_le(self.request);
        out.put_u64_le(self.key);
        match &self.input {
            KvInput::Put(value) => {
                out.put_u8(TAG_PUT);
                out.put_u64_le(*value);
            }
            KvInput::Cas {
                expected: Some(expected),
                new,
            } => {
                out.put_u8(TAG_CAS);
                out.put_u64_le(*expected);
                out.put_u64_le(*new);
            }
            KvInput::Cas {
                expected: None,
                new,
            } => {
                out.put_u8(TAG_CAS_ABSENT);
                out.put_u64_le(*new);
            }
            KvInput::Delete | KvInput::Get => out.put_u8(TAG_DELETE),
        }
        out.freeze()
    }

    /// Decodes an entry; `None` if the bytes are not a command (corrupt or foreign).
    pub fn decode(bytes: &[u8]) -> Option<Command> {
        let word = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let (client, request, key) = (word(0)?, word(8)?, word(16)?);
        let input = match *bytes.get(24)? {
            TAG_PUT => KvInput::Put(word(25)?),
            TAG_CAS => KvInput::Cas {
                expected: Some(word(25)?),
                new: word(33)?,
            },
            TAG_CAS_ABSENT => KvInput::Cas {
                expected: None,
                new: word(25)?,
            },
            TAG_DELETE => KvInput::Delete,
            _ => return None,
        };
        Some(Command {
            client,
            request,
            key,
            input,
        })
    }
}

/// The state machine: a map, deterministic to apply and to encode, plus each client's last
/// request and its answer, so that a duplicated request is answered, not applied twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    values: BTreeMap<u64, u64>,
    sessions: BTreeMap<u64, (u64, KvOutput)>,
}

impl KvStore {
    /// Applies a write unless this client's request was applied already (the network may
    /// duplicate requests); either way returns the request's answer.
    pub fn apply_once(&mut self, command: &Command) -> KvOutput {
        if let Some((last, output)) = self.sessions.get(&command.client) {
            if command.request == *last {
                return output.clone();
            }
            if command.request < *last {
                // The client moved on long ago and waits for no answer.
                return KvOutput::Ok;
            }
        }
        let output = self.apply(command);
        self.sessions
            .insert(command.client, (command.request, output.clone()));
        output
    }

    /// Applies a write and returns its answer.
    pub fn apply(&mut self, command: &Command) -> KvOutput {
        match command.input {
            KvInput::Put(value) => {
                self.values.insert(command.key, value);
                KvOutput::Ok
            }
            KvInput::Cas { expected, new } => {
                let swapped = self.values.get(&command.key).copied() == expected;
                if swapped {
                    self.values.insert(command.key, new);
                }
                KvOutput::Swapped(swapped)
            }
            KvInput::Delete => {
                self.values.remove(&command.key);
                KvOutput::Ok
            }
            KvInput::Get => KvOutput::Value(self.get(command.key)),
        }
    }

    /// Reads one key.
    pub fn get(&self, key: u64) -> Option<u64> {
        self.values.get(&key).copied()
    }

    /// The snapshot encoding (little-endian words): the number of values, (key, value) pairs,
    /// then (client, request, answer code) triples for the sessions.
    pub fn encode(&self) -> Bytes {
        let mut out =
            BytesMut::with_capacity(8 + self.values.len() * 16 + self.sessions.len() * 24);
        out.put_u64_le(self.values.len() as u64);
        for (&key, &value) in &self.values {
            out.put_u64_le(key);
            out.put_u64_le(value);
        }
        for (&client, (request, output)) in &self.sessions {
            out.put_u64_le(client);
            out.put_u64_le(*request);
            out.put_u64_le(output_code(output));
        }
        out.freeze()
    }

    /// Loads a snapshot; `None` if the bytes are not a snapshot.
    pub fn decode(bytes: &[u8]) -> Option<KvStore> {
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
            .collect();
        let (&count, rest) = words.split_first()?;
        let pairs = usize::try_from(count).ok()?.checked_mul(2)?;
        if bytes.len() % 8 != 0 || rest.len() < pairs || (rest.len() - pairs) % 3 != 0 {
            return None;
        }
        let values = rest[..pairs]
            .chunks_exact(2)
            .map(|p| (p[0], p[1]))
            .collect();
        let sessions = rest[pairs..]
            .chunks_exact(3)
            .map(|t| output_from_code(t[2]).map(|output| (t[0], (t[1], output))))
            .collect::<Option<_>>()?;
        Some(KvStore { values, sessions })
    }

    /// A digest of the contents, to compare replicas cheaply.
    pub fn digest(&self) -> u64 {
        crate::node::fnv(&self.encode())
    }
}

fn output_code(output: &KvOutput) -> u64 {
    match output {
        KvOutput::Ok => 0,
        KvOutput::Swapped(false) => 1,
        KvOutput::Swapped(true) => 2,
        KvOutput::Value(_) => 3,
    }
}

fn output_from_code(code: u64) -> Option<KvOutput> {
    match code {
        0 => Some(KvOutput::Ok),
        1 => Some(KvOutput::Swapped(false)),
        2 => Some(KvOutput::Swapped(true)),
        3 => Some(KvOutput::Value(None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: every command survives the log encoding. Method: round-trip each variant.
    #[test]
    fn commands_round_trip() {
        let inputs = [
            KvInput::Put(7),
            KvInput::Cas {
                expected: Some(1),
                new: 2,
            },
            KvInput::Cas {
                expected: None,
                new: 3,
            },
            KvInput::Delete,
        ];
        for input in inputs {
            let command = Command {
                client: 1,
                request: 2,
                key: 3,
                input,
            };
            assert_eq!(Command::decode(&command.encode()), Some(command));
        }
        assert_eq!(Command::decode(b"short"), None);
    }

    // Goal: snapshots restore the same state. Method: encode, decode, compare digests.
    #[test]
    fn snapshot_round_trip() {
        let mut store = KvStore::default();
        store.apply_once(&Command {
            client: 1,
            request: 1,
            key: 5,
            input: KvInput::Put(9),
        });
        let copy = KvStore::decode(&store.encode()).expect("a snapshot");
        assert_eq!(copy, store);
        assert_eq!(KvStore::decode(&[1, 2, 3]), None);
    }
}
