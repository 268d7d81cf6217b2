//! Pipelined, slot-routed connections for the bulk `ctl` commands (import-rdb, export-rdb,
//! backup): commands queue per node, and a node's queue is sent and its replies read once it
//! holds `WINDOW` commands or `WINDOW_BYTES` bytes, so memory and commands in flight stay
//! bounded. Connections stay plain (they never ask for the slot map): a command that reaches
//! a node that no longer leads its slot is forwarded by that node, never refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bench::cluster::{key_slot, SlotMap};
use bench::resp::{parse_value, push_command, Value};

/// Commands in flight on one connection at most. A server runs one connection's commands
/// one after the other (a write's reply waits for its commit), so the window saves round
/// trips and parallelism comes from more connections (`ctl import-rdb --connections`).
pub const WINDOW: usize = 64;
/// Bytes queued for one connection before it is sent regardless of `WINDOW`.
pub const WINDOW_BYTES: usize = 4 << 20;
/// Largest reply accepted: a group's whole keyspace (`NINESDB BACKUP`), which the
/// snapshot cap of a group (4 GiB, `raft::SNAPSHOT_SIZE_MAX`) bounds, and its framing.
const REPLY_BYTES_MAX: usize = (4 << 30) + (64 << 20);

/// User and password for AUTH, when the cluster has passwords.
pub type Credentials<'a> = Option<(&'a str, &'a str)>;

/// One connection and the commands queued on it.
pub struct Pipe {
    stream: TcpStream,
    address: String,
    out: Vec<u8>,
    queued: usize,
    read: Vec<u8>,
}

impl Pipe {
    pub fn connect(address: &str, credentials: Credentials<'_>) -> anyhow::Result<Pipe> {
        let socket: SocketAddr = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow!("{address} does not resolve"))?;
        let stream = TcpStream::connect_timeout(&socket, Duration::from_secs(3))
            .with_context(|| format!("cannot connect to {address}; is a server running there?"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        let mut pipe = Pipe {
            stream,
            address: address.to_owned(),
            out: Vec::with_capacity(64 << 10),
            queued: 0,
            read: Vec::with_capacity(64 << 10),
        };
        if let Some((user, password)) = credentials {
            pipe.queue(&[b"AUTH", user.as_bytes(), password.as_bytes()]);
            if let Value::Error(e) = pipe.flush()?.remove(0) {
                bail!("AUTH as {user} at {address}: {e}");
            }
        }
        Ok(pipe)
    }

    /// Queues a command; true when the queue should be flushed.
    pub fn queue(&mut self, args: &[&[u8]]) -> bool {
        push_command(&mut self.out, args);
        self.queued += 1;
        self.queued >= WINDOW || self.out.len() >= WINDOW_BYTES
    }

    /// Sends what is queued and reads one reply per command, in order.
    pub fn flush(&mut self) -> anyhow::Result<Vec<Value>> {
        self.send()?;
        self.receive()
    }

    /// Sends what is queued (its replies are read by `receive`).
    fn send(&mut self) -> anyhow::Result<()> {
        self.stream
            .write_all(&self.out)
            .with_context(|| format!("write to {}", self.address))?;
        self.out.clear();
        Ok(())
    }

    /// One reply per command sent, in order.
    fn receive(&mut self) -> anyhow::Result<Vec<Value>> {
        let mut replies = Vec::with_capacity(self.queued);
        let mut chunk = vec![0u8; 64 << 10];
        let mut at = 0;
        while replies.len() < self.queued {
            match parse_value(&self.read[at..]).map_err(|e| anyhow!("{}: {e}", self.address))? {
                Some((value, used)) => {
                    replies.push(value);
                    at += used;
                }
                None => {
                    self.read.drain(..at);
                    at = 0;
                    if self.read.len() > REPLY_BYTES_MAX {
                        bail!(
                            "{}: a reply larger than {REPLY_BYTES_MAX} bytes",
                            self.address
                        );
                    }
                    let n = self
                        .stream
                        .read(&mut chunk)
                        .with_context(|| format!("read from {}", self.address))?;
                    if n == 0 {
                        bail!("{} closed the connection", self.address);
                    }
                    self.read.extend_from_slice(&chunk[..n]);
                }
            }
        }
        self.read.drain(..at);
        self.queued = 0;
        Ok(replies)
    }

    /// One command, its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> anyhow::Result<Value> {
        self.queue(args);
        Ok(self.flush()?.remove(0))
    }
}

/// A pipe per node, each key's commands sent to the leader of its slot.
pub struct Router {
    map: Option<SlotMap>,
    pipes: Vec<Pipe>,
}

impl Router {
    /// Learns the slot map from `seed` (CLUSTER SLOTS on a connection of its own) and opens
    /// a connection to every node that leads slots; a server without cluster support gets
    /// everything through `seed`.
    pub fn connect(seed: &str, credentials: Credentials<'_>) -> anyhow::Result<Router> {
        let mut first = Pipe::connect(seed, credentials)?;
        let map = match first.call(&[b"CLUSTER", b"SLOTS"])? {
            value @ Value::Array(_) => SlotMap::from_cluster_slots(&value, seed).ok(),
            _ => None,
        };
        let Some(map) = map else {
            return Ok(Router {
                map: None,
                pipes: vec![first],
            });
        };
        let pipes = map
            .nodes
            .iter()
            .map(|address| Pipe::connect(address, credentials))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Router {
            map: Some(map),
            pipes,
        })
    }

    /// The connection that serves `key`.
    pub fn node_of(&self, key: &[u8]) -> usize {
        self.map
            .as_ref()
            .map_or(0, |m| usize::from(m.owner[usize::from(key_slot(key))]))
    }

    pub fn pipe(&mut self, node: usize) -> &mut Pipe {
        &mut self.pipes[node]
    }

    pub fn nodes(&self) -> usize {
        self.pipes.len()
    }

    /// Sends every node's queue, then reads their replies: the nodes work in parallel.
    pub fn flush_all(&mut self) -> anyhow::Result<Vec<Vec<Value>>> {
        for pipe in &mut self.pipes {
            pipe.send()?;
        }
        self.pipes.iter_mut().map(Pipe::receive).collect()
    }
}
