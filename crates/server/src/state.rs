//! The replicated state machine of a server: the keyspace, plus the session table that makes
//! retried writes exactly-once. A client opens a session (`NINESDB SESSION`), numbers its
//! writes (`NINESDB REQ <session> <seq> <command...>`), and a retry of the same number is
//! answered from the table instead of being applied twice.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use keyspace::{Context, Keyspace};
use raft::LogIndex;
use resp::{Protocol, Value};
use storage::codec::Reader;

use crate::command::Operation;

/// Sessions remembered at most; the least recently used is forgotten first.
pub const SESSIONS_MAX: usize = 100_000;
/// Session ids carry their home group above this bit.
const SESSION_GROUP_SHIFT: u32 = 40;
const SNAPSHOT_MAGIC: &[u8; 8] = b"NDBSM001";

/// One client session's memory: its last request and the answer to it.
#[derive(Clone, Debug, PartialEq)]
struct Session {
    last_seq: u64,
    reply: Value,
    last_used: LogIndex,
}

/// Keyspace and sessions, applied in log order on every replica.
#[derive(Clone, Debug, Default)]
pub struct StateMachine {
    pub keyspace: Keyspace,
    sessions: BTreeMap<u64, Session>,
}

impl StateMachine {
    /// Applies the operation carried by the entry at `index` of group `group`.
    pub fn apply(&mut self, operation: Operation, index: LogIndex, group: u64) -> Value {
        match operation {
            // The cluster's users live in the meta group (see `users`).
            Operation::Command { now_ms, args }
                if group == crate::cluster::META && crate::users::is_acl_change(&args) =>
            {
                crate::users::apply_acl_command(&mut self.keyspace, &args, now_ms)
            }
            Operation::Command { now_ms, args } => self.keyspace.apply(
                &args,
                Context {
                    now_ms,
                    seed: index,
                },
            ),
            Operation::Exec {
                now_ms,
                commands,
                watched,
            } => self.keyspace.exec(
                &commands,
                &watched,
                Context {
                    now_ms,
                    seed: index,
                },
            ),
            Operation::Expire { now_ms } => {
                self.keyspace.expire_due(now_ms, 10_000);
                Value::Simple("OK".to_owned())
            }
            Operation::OpenSession => self.open_session(index, group),
            Operation::SessionCommand {
                now_ms,
                session,
                seq,
                args,
            } => self.session_command(index, group, now_ms, session, seq, &args),
        }
    }

    /// The session id is the opening group and the index of the entry that opened it
    /// (`group << SESSION_GROUP_SHIFT | index`): unique, and the same on every replica.
    fn open_session(&mut self, index: LogIndex, group: u64) -> Value {
        let id = (group << SESSION_GROUP_SHIFT) | (index & ((1 << SESSION_GROUP_SHIFT) - 1));
        self.remember(
            id,
            Session {
                last_seq: 0,
                reply: Value::Null,
                last_used: index,
            },
        );
        Value::Integer(id as i64)
    }

    fn remember(&mut self, id: u64, session: Session) {
        if self.sessions.len() >= SESSIONS_MAX && !self.sessions.contains_key(&id) {
            if let Some(&oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id)
            {
                self.sessions.remove(&oldest);
            }
        }
        self.sessions.insert(id, session);
    }

    /// A session opened in another group is met here for the first time on its first write
    /// to one of this group's keys, and remembered from then on.
    fn session_command(
        &mut self,
        index: LogIndex,
        group: u64,
        now_ms: u64,
        id: u64,
        seq: u64,
        args: &[Bytes],
    ) -> Value {
        let home = id >> SESSION_GROUP_SHIFT;
        if home != group && !self.sessions.contains_key(&id) {
            self.remember(
                id,
                Session {
                    last_seq: 0,
                    reply: Value::Null,
                    last_used: index,
                },
            );
        }
        let Some(session) = self.sessions.get(&id) else {
            return Value::Error(format!("ERR no session {id} (never opened, or forgotten after {SESSIONS_MAX} newer ones): the outcome of an earlier try is unknown; open a new session"));
        };
        if seq == session.last_seq {
            // A retry: answer as the first time, change nothing.
            return session.reply.clone();
        }
        if seq < session.last_seq {
            return Value::Error(format!("ERR request {seq} of session {id} is older than its latest ({}); it was answered already", session.last_seq));
        }
        let reply = self.keyspace.apply(
            args,
            Context {
                now_ms,
                seed: index,
            },
        );
        self.remember(
            id,
            Session {
                last_seq: seq,
                reply: reply.clone(),
                last_used: index,
            },
        );
        reply
    }

    /// The snapshot: magic, the keyspace's own encoding, then the sessions with their answers
    /// in both protocols.
    pub fn encode(&self) -> Bytes {
        let keyspace = self.keyspace.encode();
        let mut out = BytesMut::with_capacity(keyspace.len() + 64 + self.sessions.len() * 48);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.put_u64_le(keyspace.len() as u64);
        out.extend_from_slice(&keyspace);
        out.put_u64_le(self.sessions.len() as u64);
        for (&id, session) in &self.sessions {
            out.put_u64_le(id);
            out.put_u64_le(session.last_seq);
            out.put_u64_le(session.last_used);
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                let mut reply = BytesMut::new();
                resp::encode(&session.reply, protocol, &mut reply);
                out.put_u64_le(reply.len() as u64);
                out.extend_from_slice(&reply);
            }
        }
        out.freeze()
    }

    /// Loads a snapshot; an error (never a panic) for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Result<StateMachine, String> {
        let mut reader = Reader::new(bytes);
        if reader.take(8)? != SNAPSHOT_MAGIC {
            return Err("not a ninesdb state snapshot".to_owned());
        }
        let length = usize::try_from(reader.u64()?).map_err(|_| "length overflow".to_owned())?;
        let keyspace = Keyspace::decode(reader.take(length)?)?;
        let count = reader.u64()?;
        if count > SESSIONS_MAX as u64 {
            return Err(format!("{count} sessions in a snapshot"));
        }
        let mut sessions = BTreeMap::new();
        for _ in 0..count {
            let (id, last_seq, last_used) = (reader.u64()?, reader.u64()?, reader.u64()?);
            let take = |reader: &mut Reader<'_>| -> Result<Bytes, String> {
                let length =
                    usize::try_from(reader.u64()?).map_err(|_| "length overflow".to_owned())?;
                Ok(Bytes::copy_from_slice(reader.take(length)?))
            };
            let (resp2, resp3) = (take(&mut reader)?, take(&mut reader)?);
            sessions.insert(
                id,
                Session {
                    last_seq,
                    reply: Value::Raw { resp2, resp3 },
                    last_used,
                },
            );
        }
        if reader.remaining() != 0 {
            return Err("stray bytes after the sessions".to_owned());
        }
        Ok(StateMachine { keyspace, sessions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn incr(state: &mut StateMachine, index: LogIndex, session: u64, seq: u64) -> Value {
        state.apply(
            Operation::SessionCommand {
                now_ms: 1,
                session,
                seq,
                args: args(&["INCR", "n"]),
            },
            index,
            1,
        )
    }

    // Goal: a retried request is answered, not applied again, also after a snapshot.
    // Method: INCR under seq 1 twice (the second must answer 1 and leave n at 1), seq 2, then
    // snapshot and restore, and retry seq 2.
    #[test]
    fn retries_are_exactly_once_across_snapshots() {
        let mut state = StateMachine::default();
        let Value::Integer(session) = state.apply(Operation::OpenSession, 5, 1) else {
            panic!("no session id")
        };
        assert_eq!(incr(&mut state, 6, session as u64, 1), Value::Integer(1));
        assert_eq!(incr(&mut state, 7, session as u64, 1), Value::Integer(1));
        assert_eq!(incr(&mut state, 8, session as u64, 2), Value::Integer(2));
        let mut restored = StateMachine::decode(&state.encode()).expect("decodes");
        let mut out = BytesMut::new();
        resp::encode(
            &incr(&mut restored, 9, session as u64, 2),
            Protocol::Resp2,
            &mut out,
        );
        assert_eq!(&out[..], b":2\r\n");
        assert_eq!(
            incr(&mut restored, 10, session as u64, 3),
            Value::Integer(3)
        );
        assert!(
            matches!(incr(&mut restored, 11, (1 << 40) | 999, 1), Value::Error(_)),
            "a session never opened in its home group"
        );
        assert!(matches!(
            incr(&mut restored, 12, session as u64, 1),
            Value::Error(_)
        ));
        assert!(StateMachine::decode(&restored.encode()[..10]).is_err());
    }

    // Goal: a session opened in one group works in another, exactly once there too.
    // Method: open in group 1, write twice under one number in group 2.
    #[test]
    fn sessions_span_groups() {
        let mut home = StateMachine::default();
        let Value::Integer(session) = home.apply(Operation::OpenSession, 5, 1) else {
            panic!("no session id")
        };
        let mut other = StateMachine::default();
        let write = |state: &mut StateMachine, index, seq| {
            state.apply(
                Operation::SessionCommand {
                    now_ms: 1,
                    session: session as u64,
                    seq,
                    args: args(&["INCR", "n"]),
                },
                index,
                2,
            )
        };
        assert_eq!(write(&mut other, 3, 1), Value::Integer(1));
        assert_eq!(write(&mut other, 4, 1), Value::Integer(1));
        assert_eq!(write(&mut other, 5, 2), Value::Integer(2));
    }
}
