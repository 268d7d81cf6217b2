//! ACL LOG: a per-node list of recent denials and failed logins (acl.c `ACLLog`). Not
//! replicated: each node logs what its own clients did, as each Redis does.

use std::collections::VecDeque;

use bytes::Bytes;
use resp::Value;

use crate::commands::keys::parse_i64;
use crate::limits::{LOG_CLIENT_INFO_SIZE_MAX, LOG_ENTRIES_MAX};
use crate::DeniedReason;

/// Entries closer in time than this are merged (Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA).
const GROUPING_DELTA_MS: u64 = 60_000;
/// How many recent entries a new one is compared with.
const GROUPING_SCAN: usize = 10;

/// Where the denied command ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogContext {
    Toplevel,
    Multi,
    Lua,
    Module,
}

impl LogContext {
    fn name(self) -> &'static str {
        match self {
            LogContext::Toplevel => "toplevel",
            LogContext::Multi => "multi",
            LogContext::Lua => "lua",
            LogContext::Module => "module",
        }
    }
}

/// One event to log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEvent {
    pub reason: DeniedReason,
    pub context: LogContext,
    /// The command's full name, the key, the channel, or for a failed login the command
    /// the client typed ("AUTH", "HELLO").
    pub object: Bytes,
    /// The client's user, or for a failed login the name it tried.
    pub username: Bytes,
    /// `CLIENT LIST`'s line for the client.
    pub client_info: Bytes,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    event: LogEvent,
    count: u64,
    updated_ms: u64,
}

/// The log, newest first, at most `max_len` entries.
#[derive(Clone, Debug)]
pub struct AclLog {
    entries: VecDeque<Entry>,
    max_len: usize,
}

impl Default for AclLog {
    fn default() -> AclLog {
        AclLog::new(LOG_ENTRIES_MAX)
    }
}

impl AclLog {
    /// An empty log keeping at most `max_len` entries (capped at [`LOG_ENTRIES_MAX`]).
    pub fn new(max_len: usize) -> AclLog {
        let max_len = max_len.min(LOG_ENTRIES_MAX);
        AclLog {
            entries: VecDeque::with_capacity(max_len),
            max_len,
        }
    }

    /// How many entries the log holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// acl.c `addACLLogEntry`: bumps a recent similar entry, or adds one at the head.
    pub fn record(&mut self, mut event: LogEvent, now_ms: u64) {
        event.client_info.truncate(LOG_CLIENT_INFO_SIZE_MAX);
        let similar = self.entries.iter().take(GROUPING_SCAN).position(|entry| {
            entry.event.reason == event.reason
                && entry.event.context == event.context
                && entry.updated_ms.abs_diff(now_ms) <= GROUPING_DELTA_MS
                && entry.event.object == event.object
                && entry.event.username == event.username
        });
        if let Some(index) = similar {
            let mut entry = self.entries.remove(index).expect("index is in range");
            entry.event.client_info = event.client_info;
            entry.updated_ms = now_ms;
            entry.count += 1;
            self.entries.push_front(entry);
            return;
        }
        if self.max_len == 0 {
            return;
        }
        if self.entries.len() == self.max_len {
            self.entries.pop_back();
        }
        self.entries.push_front(Entry {
            event,
            count: 1,
            updated_ms: now_ms,
        });
    }

    /// `ACL LOG [count | RESET]`: `args` is the whole command (`ACL`, `LOG`, ...).
    pub fn command(&mut self, args: &[Bytes], now_ms: u64) -> Value {
        let mut count: i64 = 10;
        if let Some(argument) = args.get(2) {
            if argument.eq_ignore_ascii_case(b"reset") {
                self.entries.clear();
                return Value::Simple("OK".to_owned());
            }
            match parse_i64(argument) {
                Some(n) => count = n.max(0),
                None => {
                    return Value::Error("ERR value is not an integer or out of range".to_owned())
                }
            }
        }
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        Value::Array(
            self.entries
                .iter()
                .take(count)
                .map(|entry| entry.reply(now_ms))
                .collect(),
        )
    }
}

impl Entry {
    fn reply(&self, now_ms: u64) -> Value {
        let bulk = |text: &str| Value::Bulk(Bytes::copy_from_slice(text.as_bytes()));
        // Redis's age is (now - ctime) / 1000 as a double; a clock that went back gives a
        // negative age there, and 0 here.
        #[allow(clippy::cast_precision_loss)]
        let age = now_ms.saturating_sub(self.updated_ms) as f64 / 1000.0;
        Value::Map(vec![
            (
                bulk("count"),
                Value::Integer(i64::try_from(self.count).unwrap_or(i64::MAX)),
            ),
            (bulk("reason"), bulk(self.event.reason.name())),
            (bulk("context"), bulk(self.event.context.name())),
            (bulk("object"), Value::Bulk(self.event.object.clone())),
            (bulk("username"), Value::Bulk(self.event.username.clone())),
            (bulk("age-seconds"), Value::Double(age)),
            (
                bulk("client-info"),
                Value::Bulk(self.event.client_info.clone()),
            ),
        ])
    }
}
