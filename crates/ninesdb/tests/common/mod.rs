//! Helpers for tests that run real `ninesdb server` processes on loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reply, as far as these tests need one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
    /// `*-1`: the null array (LPOP key 2 on a missing key), not the empty one.
    NilArray,
}

/// A minimal RESP2 client.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(address: SocketAddr) -> Option<Client> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_millis(300)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .ok()?;
        Some(Client {
            reader: BufReader::new(stream),
        })
    }

    pub fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&out)?;
        self.read_reply()
    }

    /// Sends every command at once (from a second thread, so that neither side waits for
    /// the other to read) and reads one reply per command, in order.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[Vec<A>]) -> std::io::Result<Vec<Reply>> {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                let arg = arg.as_ref();
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
        }
        let mut writer = self.reader.get_ref().try_clone()?;
        let sender = std::thread::spawn(move || writer.write_all(&out));
        let replies = (0..commands.len())
            .map(|_| self.read_reply())
            .collect::<std::io::Result<Vec<_>>>();
        sender
            .join()
            .map_err(|_| std::io::Error::other("the sending thread panicked"))??;
        replies
    }

    /// The next reply or pushed message (a subscriber's), without sending anything.
    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let line = line.trim_end_matches("\r\n").to_owned();
        let (kind, rest) = line.split_at(1.min(line.len()));
        let number = || {
            rest.parse::<i64>()
                .map_err(|e| std::io::Error::other(format!("bad reply line {line:?}: {e}")))
        };
        Ok(match kind {
            "+" => Reply::Simple(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(number()?),
            "$" if number()? < 0 => Reply::Bulk(None),
            "$" => {
                let mut data = vec![0; number()? as usize + 2];
                std::io::Read::read_exact(&mut self.reader, &mut data)?;
                data.truncate(data.len() - 2);
                Reply::Bulk(Some(data))
            }
            "*" if number()? < 0 => Reply::NilArray,
            "*" => Reply::Array(
                (0..number()?.max(0))
                    .map(|_| self.read_reply())
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(std::io::Error::other(format!("unknown reply {line:?}"))),
        })
    }
}

/// A cluster of server processes, stopped (SIGKILL by PID) when dropped.
pub struct Cluster {
    pub clients: Vec<SocketAddr>,
    pub processes: Vec<Option<Child>>,
    members: String,
    /// Flags every server gets besides its id, members and data directory.
    extra: Vec<String>,
    /// Flags of one server only (by id - 1): certificates, TLS ports.
    pub node_flags: Vec<Vec<String>>,
    pub data: PathBuf,
    /// The first client port (node `id` listens on `base + id - 1`, peers on `+ 100`).
    base: u16,
}

impl Cluster {
    /// Starts `nodes` servers on ports from `base` (clients) and `base + 100` (peers). Tests
    /// run in parallel, so each owns a 200-port block; the blocks in use:
    /// 17001 random differential (redis on 17199), 17201 failover, 17401 sessions, 17601 shutdown, 17651 hand-off, 17801 differential (redis on 17999),
    /// 18001 bad input, 18201 cluster protocol, 18401 cluster clients, 18601 rack loss,
    /// 18801 repair, 19201 join, 19401 read-only, 19601/19651 gray failure, 20001 keyless, 20201 blocking,
    /// 20401 leaderboard, 21001/21051/21201/21401/21601/21801 limits, 24501/24701 memory (19001-19099 belong to the bench crate's tests),
    /// 22001/22301 TLS (TLS client ports at +200: 22201, 22501), 22601/22801 peer identity, 25001 auth, 23001/23051 streams,
    /// 25201/25251/25401/25451 pub/sub (redis on 25599), 26401/26451 pipelines (redis on 26599), 26801 keyspace events (redis on 26999),
    /// 27401 admin HTTP (admin ports 27451-27453),
    /// 28001/28051 logs (`--log-format json`, `--log-level warn`),
    /// 26001/26201 RDB import/export (redis on
    /// 26199/26399, the export's loader on 26198/26398), 26051 backup (restored into 26251), 26071 backup for `up --restore-from` (at 26271).
    /// `NINESDB_TEST_PORT_BLOCK` moves every test's ports into one 400-port block (see [`port`]).
    /// One Raft group (the whole keyspace), as a single Redis behaves.
    pub fn start(nodes: u64, base: u16, name: &str) -> Cluster {
        Cluster::start_with(nodes, base, name, &["--groups", "1"], |_| None)
    }

    /// Like `start`, with extra server flags and `dc:pod:rack:host` labels per node id.
    pub fn start_with(
        nodes: u64,
        base: u16,
        name: &str,
        extra: &[&str],
        labels: impl Fn(u64) -> Option<String>,
    ) -> Cluster {
        Cluster::start_each(nodes, base, name, extra, labels, |_| Vec::new())
    }

    /// Like `start_with`, with flags of each node's own (by id).
    pub fn start_each(
        nodes: u64,
        base: u16,
        name: &str,
        extra: &[&str],
        labels: impl Fn(u64) -> Option<String>,
        node_flags: impl Fn(u64) -> Vec<String>,
    ) -> Cluster {
        let data = std::env::temp_dir().join(format!("ninesdb-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("test data directory");
        let clients: Vec<SocketAddr> = (0..nodes)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], port(base + i as u16))))
            .collect();
        let members = (1..=nodes)
            .map(|id| {
                let label = labels(id).map(|l| format!("@{l}")).unwrap_or_default();
                format!(
                    "{id}=127.0.0.1:{}/127.0.0.1:{}{label}",
                    port(base + 100 + id as u16 - 1),
                    port(base + id as u16 - 1)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let extra = extra.iter().map(|s| (*s).to_owned()).collect();
        let mut cluster = Cluster {
            clients,
            processes: Vec::new(),
            members,
            extra,
            node_flags: (1..=nodes).map(node_flags).collect(),
            data,
            base,
        };
        for id in 1..=nodes {
            let child = cluster.spawn(id);
            cluster.processes.push(Some(child));
        }
        cluster
    }

    fn spawn(&self, id: u64) -> Child {
        self.start_server(id, &["--members", &self.members])
    }

    /// Starts node `id` (the next one) joining the running cluster through node 1.
    pub fn join(&mut self, id: u64, labels: &str) {
        assert_eq!(id as usize, self.clients.len() + 1, "nodes join in order");
        let (client, peer) = (
            port(self.base + id as u16 - 1),
            port(self.base + 100 + id as u16 - 1),
        );
        let join = self.clients[0].to_string();
        let (peer_addr, client_addr) = (format!("127.0.0.1:{peer}"), format!("127.0.0.1:{client}"));
        let child = self.start_server(
            id,
            &[
                "--join",
                &join,
                "--peer-addr",
                &peer_addr,
                "--client-addr",
                &client_addr,
                "--labels",
                labels,
            ],
        );
        self.clients
            .push(SocketAddr::from(([127, 0, 0, 1], client)));
        self.processes.push(Some(child));
    }

    /// `ninesdb server --id <id> <how> <extra flags> --data <its directory>`.
    fn start_server(&self, id: u64, how: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_ninesdb"))
            .args(["server", "--id", &id.to_string()])
            .args(how)
            .args(&self.extra)
            .args(self.node_flags.get(id as usize - 1).into_iter().flatten())
            .arg("--data")
            .arg(self.data.join(format!("node{id}")))
            .stdout(Stdio::null())
            .stderr(self.log_file(id))
            .spawn()
            .expect("the ninesdb binary starts")
    }

    /// Where node `id`'s messages go (kept when a test fails).
    fn log_file(&self, id: u64) -> Stdio {
        let path = self.data.join(format!("node{id}.log"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// Starts a second process for node `id` on the same data directory and ports, without
    /// tracking it (for tests of what the second one does).
    pub fn second_process(&self, id: u64) -> Child {
        self.spawn(id)
    }

    /// What node `id` has logged so far.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.data.join(format!("node{id}.log"))).unwrap_or_default()
    }

    /// Node `id`'s process id.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.processes[(id - 1) as usize].as_ref().map(Child::id)
    }

    /// Kills node `id` (1-based) with SIGKILL: no chance to flush anything.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.processes[(id - 1) as usize].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM to node `id` and waits up to `patience` for it to exit; returns whether it
    /// exited successfully in time.
    pub fn terminate(&mut self, id: u64, patience: Duration) -> bool {
        let Some(mut child) = self.processes[(id - 1) as usize].take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    pub fn restart(&mut self, id: u64) {
        let child = self.spawn(id);
        self.processes[(id - 1) as usize] = Some(child);
    }

    /// The node that reports `role:master`, waiting up to `timeout`.
    pub fn leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            for (index, address) in self.clients.iter().enumerate() {
                if self.processes[index].is_none() {
                    continue;
                }
                let info = Client::connect(*address)
                    .and_then(|mut c| c.call(&[b"INFO", b"replication"]).ok());
                if let Some(Reply::Bulk(Some(text))) = info {
                    if String::from_utf8_lossy(&text).contains("role:master") {
                        return Some(index as u64 + 1);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.processes.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("servers' data and logs kept in {}", self.data.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

/// Waits until CLUSTER INFO on `address` says every slot has a leader.
pub fn wait_for_leaders(address: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let info = Client::connect(address).and_then(|mut c| c.call(&[b"CLUSTER", b"INFO"]).ok());
        if let Some(Reply::Bulk(Some(text))) = info {
            if String::from_utf8_lossy(&text).contains("cluster_state:ok") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not every group elected a leader within {timeout:?}");
}

/// A server's view of the cluster (`NINESDB STATUS`, the source of `ninesdb ctl status`).
pub fn status(address: SocketAddr) -> Option<serde_json::Value> {
    match Client::connect(address)?
        .call(&[b"NINESDB", b"STATUS"])
        .ok()?
    {
        Reply::Bulk(Some(text)) => serde_json::from_slice(&text).ok(),
        _ => None,
    }
}

/// A redis-server process (the reference of the differential tests), killed when dropped.
pub struct RedisServer {
    child: std::process::Child,
    /// Its working directory when the helper made it (removed after it stops).
    own_dir: Option<PathBuf>,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A test's first port: `default`, or `NINESDB_TEST_PORT_BASE` when set (to run a test in
/// another port block, e.g. beside other checkouts on one machine). Tests place their
/// redis-server at base + 198 (and base + 197).
pub fn port_base(default: u16) -> u16 {
    std::env::var("NINESDB_TEST_PORT_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The port a test's `wanted` port is: itself, or with `NINESDB_TEST_PORT_BLOCK=<first>` set,
/// `first + (wanted - 1) % 400`. Every test's ports then fall in one 400-port block, so a
/// checkout can run these tests beside others' on one machine; as the tests' blocks then
/// overlap, run them one at a time (`-- --test-threads 1`). A test's own ports stay apart:
/// each test spans less than 400 ports. `Cluster` maps its ports itself; a test maps the
/// others it picks (redis-server's, a peer port it dials) with this, or they stay put.
pub fn port(wanted: u16) -> u16 {
    match std::env::var("NINESDB_TEST_PORT_BLOCK")
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
    {
        Some(first) => first + (wanted - 1) % 400,
        None => wanted,
    }
}

/// Starts a throwaway redis-server on `port` (no persistence) and waits until it answers.
pub fn start_redis(port: u16) -> RedisServer {
    start_redis_with(port, &[])
}

/// Like `start_redis`, with extra flags (e.g. `--enable-debug-command local`).
pub fn start_redis_with(port: u16, extra: &[&str]) -> RedisServer {
    let dir = std::env::temp_dir().join(format!("ninesdb-redis-{port}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut server = start_redis_in(port, &dir, extra);
    server.own_dir = Some(dir);
    server
}

/// Like `start_redis_with`, its working directory (where it loads and saves `dbfilename`)
/// `dir`.
pub fn start_redis_in(port: u16, dir: &std::path::Path, extra: &[&str]) -> RedisServer {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs Debian's redis-server)");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Client::connect(address).is_none() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    RedisServer {
        child,
        own_dir: None,
    }
}
