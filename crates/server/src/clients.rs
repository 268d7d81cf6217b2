//! This node's client connections, as CLIENT LIST, CLIENT INFO and CLIENT KILL see them
//! (networking.c's `clientCommand`): one entry per connection while it is open, with its
//! addresses, name, user, age, idle time and last command, and a way to close it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use resp::Value;
use tokio::sync::Notify;

/// One open connection.
pub struct Entry {
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub name: Option<Bytes>,
    pub user: Bytes,
    pub resp: u8,
    pub created: Instant,
    pub last_active: Instant,
    pub last_command: String,
    /// Pub/Sub subscriber: Redis's `pubsub` client type.
    pub subscriber: bool,
    /// Notified to close the connection (CLIENT KILL).
    pub kill: Arc<Notify>,
}

/// Every open connection of this node, by client id.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<BTreeMap<u64, Entry>>,
}

/// What a connection tells the registry after each command.
pub struct Activity<'a> {
    pub name: Option<&'a Bytes>,
    pub user: &'a Bytes,
    pub resp: u8,
    pub command: &'a [u8],
    pub subscriber: bool,
}

/// Removes the entry when the connection's task ends, however it ends.
pub struct Registration {
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection; the returned guard removes it, and the notify closes it.
    pub fn register(
        self: &Arc<Registry>,
        id: u64,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> (Registration, Arc<Notify>) {
        let kill = Arc::new(Notify::new());
        let now = Instant::now();
        self.lock().insert(
            id,
            Entry {
                peer,
                local,
                name: None,
                user: Bytes::from_static(b"default"),
                resp: 2,
                created: now,
                last_active: now,
                last_command: "NULL".to_owned(),
                subscriber: false,
                kill: Arc::clone(&kill),
            },
        );
        (
            Registration {
                id,
                registry: Arc::clone(self),
            },
            kill,
        )
    }

    /// Records a command of connection `id`.
    pub fn touch(&self, id: u64, activity: &Activity<'_>) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.name = activity.name.cloned();
            entry.user = activity.user.clone();
            entry.resp = activity.resp;
            entry.subscriber = activity.subscriber;
            entry.last_active = Instant::now();
            entry.last_command = String::from_utf8_lossy(activity.command).to_ascii_lowercase();
        }
    }

    /// CLIENT LIST's line of one connection (Redis's fields; memory ones read 0: ninesdb does
    /// not account per-connection buffers this way).
    fn line(id: u64, e: &Entry) -> String {
        let addr = e.peer.map_or_else(|| "?".to_owned(), |a| a.to_string());
        let laddr = e.local.map_or_else(|| "?".to_owned(), |a| a.to_string());
        format!(
            "id={id} addr={addr} laddr={laddr} fd=-1 name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={}\n",
            e.name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default(),
            e.created.elapsed().as_secs(),
            e.last_active.elapsed().as_secs(),
            if e.subscriber { "P" } else { "N" },
            e.last_command,
            String::from_utf8_lossy(&e.user),
            e.resp,
        )
    }

    /// CLIENT INFO: this connection's line.
    pub fn info(&self, id: u64) -> Value {
        let text = self
            .lock()
            .get(&id)
            .map(|e| Registry::line(id, e))
            .unwrap_or_default();
        Value::Verbatim("txt".to_owned(), Bytes::from(text))
    }

    /// CLIENT LIST [TYPE normal|pubsub|master|replica] [ID id ...].
    pub fn list(&self, args: &[Bytes]) -> Value {
        let mut kind: Option<String> = None;
        let mut ids: Option<Vec<u64>> = None;
        let mut j = 0;
        while j < args.len() {
            let option = String::from_utf8_lossy(&args[j]).to_ascii_lowercase();
            match option.as_str() {
                "type" if j + 1 < args.len() => {
                    let wanted = String::from_utf8_lossy(&args[j + 1]).to_ascii_lowercase();
                    if !matches!(
                        wanted.as_str(),
                        "normal" | "pubsub" | "master" | "replica" | "slave"
                    ) {
                        return Value::Error(format!("ERR Unknown client type '{wanted}'"));
                    }
                    kind = Some(wanted);
                    j += 2;
                }
                "id" if j + 1 < args.len() => {
                    let mut list = Vec::new();
                    for raw in &args[j + 1..] {
                        match std::str::from_utf8(raw)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                        {
                            Some(id) if id > 0 => list.push(id),
                            _ => return Value::Error("ERR Invalid client ID".to_owned()),
                        }
                    }
                    ids = Some(list);
                    j = args.len();
                }
                _ => return Value::Error("ERR syntax error".to_owned()),
            }
        }
        let text: String = self
            .lock()
            .iter()
            .filter(|(id, e)| {
                ids.as_ref().is_none_or(|ids| ids.contains(id))
                    && kind.as_deref().is_none_or(|k| match k {
                        "pubsub" => e.subscriber,
                        "normal" => !e.subscriber,
                        _ => false,
                    })
            })
            .map(|(id, e)| Registry::line(*id, e))
            .collect();
        Value::Verbatim("txt".to_owned(), Bytes::from(text))
    }

    /// CLIENT KILL addr:port (the old form: OK or an error) or CLIENT KILL with filters (ID,
    /// ADDR, LADDR, USER, SKIPME yes|no, TYPE): how many were closed. `me` is the caller.
    pub fn kill(&self, args: &[Bytes], me: u64) -> Value {
        if args.len() == 1 {
            let addr = String::from_utf8_lossy(&args[0]).into_owned();
            let killed = self.kill_matching(|_, e| e.peer.is_some_and(|p| p.to_string() == addr));
            return if killed == 0 {
                Value::Error("ERR No such client".to_owned())
            } else {
                Value::Simple("OK".to_owned())
            };
        }
        if args.is_empty() || !args.chunks_exact(2).remainder().is_empty() {
            return Value::Error("ERR syntax error".to_owned());
        }
        let mut filters: Vec<(String, String)> = Vec::new();
        let mut skip_me = true;
        for pair in args.chunks(2) {
            let key = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            match key.as_str() {
                "skipme" => match value.to_ascii_lowercase().as_str() {
                    "yes" => skip_me = true,
                    "no" => skip_me = false,
                    _ => return Value::Error("ERR syntax error".to_owned()),
                },
                "id" => {
                    if value.parse::<u64>().map_or(true, |id| id == 0) {
                        return Value::Error("ERR client-id should be greater than 0".to_owned());
                    }
                    filters.push((key, value));
                }
                "addr" | "laddr" | "user" | "type" => filters.push((key, value)),
                _ => return Value::Error("ERR syntax error".to_owned()),
            }
        }
        let killed = self.kill_matching(|id, e| {
            (!skip_me || id != me)
                && filters.iter().all(|(key, value)| match key.as_str() {
                    "id" => value.parse::<u64>().ok() == Some(id),
                    "addr" => e.peer.is_some_and(|p| p.to_string() == *value),
                    "laddr" => e.local.is_some_and(|l| l.to_string() == *value),
                    "user" => e.user.as_ref() == value.as_bytes(),
                    "type" => match value.to_ascii_lowercase().as_str() {
                        "pubsub" => e.subscriber,
                        "normal" => !e.subscriber,
                        _ => false,
                    },
                    _ => false,
                })
        });
        Value::Integer(killed as i64)
    }

    fn kill_matching(&self, matches: impl Fn(u64, &Entry) -> bool) -> usize {
        let inner = self.lock();
        let mut killed = 0;
        for (&id, entry) in inner.iter() {
            if matches(id, entry) {
                entry.kill.notify_one();
                killed += 1;
            }
        }
        killed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|w| Bytes::from(w.to_owned())).collect()
    }

    #[test]
    fn list_filters_and_kill_forms_behave_as_redis() {
        let registry = Arc::new(Registry::default());
        let a: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        let (_one, kill_one) = registry.register(1, Some(a), None);
        let (_two, _kill_two) = registry.register(2, Some(b), None);
        let name = Bytes::from_static(b"worker");
        registry.touch(
            2,
            &Activity {
                name: Some(&name),
                user: &Bytes::from_static(b"default"),
                resp: 3,
                command: b"GET",
                subscriber: true,
            },
        );
        let Value::Verbatim(_, all) = registry.list(&[]) else {
            panic!()
        };
        let all = String::from_utf8_lossy(&all).into_owned();
        assert_eq!(all.lines().count(), 2);
        assert!(
            all.contains("id=2 addr=127.0.0.1:5002")
                && all.contains("name=worker")
                && all.contains("cmd=get")
        );
        let Value::Verbatim(_, pubsub) = registry.list(&args("TYPE pubsub")) else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&pubsub).starts_with("id=2 "));
        assert_eq!(
            registry.list(&args("TYPE bogus")),
            Value::Error("ERR Unknown client type 'bogus'".to_owned())
        );
        assert_eq!(
            registry.kill(&args("127.0.0.1:9"), 2),
            Value::Error("ERR No such client".to_owned())
        );
        assert_eq!(registry.kill(&args("ID 1"), 2), Value::Integer(1));
        // The kill is delivered even if the connection was not waiting yet.
        let notified = kill_one.notified();
        tokio::pin!(notified);
        assert!(futures_ready(notified.as_mut()));
        assert_eq!(
            registry.kill(&args("ADDR 127.0.0.1:5002"), 2),
            Value::Integer(0),
            "SKIPME yes"
        );
        assert_eq!(
            registry.kill(&args("ADDR 127.0.0.1:5002 SKIPME no"), 2),
            Value::Integer(1)
        );
        drop(_one);
        assert_eq!(
            registry.kill(&args("ID 1"), 2),
            Value::Integer(0),
            "gone with its connection"
        );
    }

    /// Whether a future is ready at its first poll.
    fn futures_ready<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        future.poll(&mut context).is_ready()
    }
}
