//! What a log entry carries for the keyspace: a command, a transaction, or an expiry sweep,
//! each stamped with the leader's clock (the only way time enters the state machine).

use bytes::{BufMut, Bytes, BytesMut};
use storage::codec::Reader;

/// A replicated operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// One write command.
    Command { now_ms: u64, args: Vec<Bytes> },
    /// MULTI ... EXEC, applied as one entry; `watched` are (key, version) the client saw.
    Exec {
        now_ms: u64,
        commands: Vec<Vec<Bytes>>,
        watched: Vec<(Bytes, u64)>,
    },
    /// The leader's sweep of keys whose time to live ran out.
    Expire { now_ms: u64 },
    /// A client opens an exactly-once session; its id is this entry's index.
    OpenSession,
    /// A write numbered within a session: applied once, however often it is retried.
    SessionCommand {
        now_ms: u64,
        session: u64,
        seq: u64,
        args: Vec<Bytes>,
    },
}

impl Operation {
    /// The log encoding.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Operation::Command { now_ms, args } => {
                out.put_u8(1);
                out.put_u64_le(*now_ms);
                put_args(&mut out, args);
            }
            Operation::Exec {
                now_ms,
                commands,
                watched,
            } => {
                out.put_u8(2);
                out.put_u64_le(*now_ms);
                out.put_u64_le(commands.len() as u64);
                for args in commands {
                    put_args(&mut out, args);
                }
                out.put_u64_le(watched.len() as u64);
                for (key, version) in watched {
                    put_bytes(&mut out, key);
                    out.put_u64_le(*version);
                }
            }
            Operation::Expire { now_ms } => {
                out.put_u8(3);
                out.put_u64_le(*now_ms);
            }
            Operation::OpenSession => out.put_u8(4),
            Operation::SessionCommand {
                now_ms,
                session,
                seq,
                args,
            } => {
                out.put_u8(5);
                out.put_u64_le(*now_ms);
                out.put_u64_le(*session);
                out.put_u64_le(*seq);
                put_args(&mut out, args);
            }
        }
        out.freeze()
    }

    /// Decodes an entry; an error for bytes no leader wrote.
    pub fn decode(bytes: &[u8]) -> Result<Operation, String> {
        let mut reader = Reader::new(bytes);
        let operation = match reader.u8()? {
            1 => Operation::Command {
                now_ms: reader.u64()?,
                args: get_args(&mut reader)?,
            },
            2 => {
                let now_ms = reader.u64()?;
                let count = bounded(reader.u64()?, &reader)?;
                let commands = (0..count)
                    .map(|_| get_args(&mut reader))
                    .collect::<Result<_, _>>()?;
                let count = bounded(reader.u64()?, &reader)?;
                let watched = (0..count)
                    .map(|_| Ok((get_bytes(&mut reader)?, reader.u64()?)))
                    .collect::<Result<_, String>>()?;
                Operation::Exec {
                    now_ms,
                    commands,
                    watched,
                }
            }
            3 => Operation::Expire {
                now_ms: reader.u64()?,
            },
            4 => Operation::OpenSession,
            5 => Operation::SessionCommand {
                now_ms: reader.u64()?,
                session: reader.u64()?,
                seq: reader.u64()?,
                args: get_args(&mut reader)?,
            },
            other => return Err(format!("unknown operation {other}")),
        };
        Ok(operation)
    }
}

fn bounded(count: u64, reader: &Reader<'_>) -> Result<u64, String> {
    if count > reader.remaining() as u64 {
        return Err(format!("count {count} beyond the entry"));
    }
    Ok(count)
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u64_le(bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_args(out: &mut BytesMut, args: &[Bytes]) {
    out.put_u64_le(args.len() as u64);
    for arg in args {
        put_bytes(out, arg);
    }
}

fn get_bytes(reader: &mut Reader<'_>) -> Result<Bytes, String> {
    let length = usize::try_from(reader.u64()?).map_err(|_| "length overflow".to_owned())?;
    Ok(Bytes::copy_from_slice(reader.take(length)?))
}

fn get_args(reader: &mut Reader<'_>) -> Result<Vec<Bytes>, String> {
    let count = bounded(reader.u64()?, reader)?;
    (0..count).map(|_| get_bytes(reader)).collect()
}
