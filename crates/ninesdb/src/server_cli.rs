//! `ninesdb server` and `ninesdb up`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;
use server::config::{Member, ServerConfig};

/// `ninesdb server`: one replica.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A TOML file with every setting (flags are then not needed); see ServerConfig's fields.
    #[arg(long)]
    config: Option<PathBuf>,
    /// This server's replica id.
    #[arg(long, required_unless_present = "config")]
    id: Option<u64>,
    /// Every member: `id=peer_host:port/client_host:port[@dc:pod:rack:host],...` (this server
    /// included). Labels place replicas across failure domains; unlabelled members are each
    /// their own rack.
    #[arg(long, required_unless_present_any = ["config", "join"])]
    members: Option<String>,
    /// Join a running cluster through this member (its client address) instead of creating
    /// one: the node is recorded by the cluster's meta group, then replicas move onto it.
    /// Needs --peer-addr and --client-addr (and --labels to place it well).
    #[arg(long, conflicts_with = "members", requires_all = ["peer_addr", "client_addr"])]
    join: Option<SocketAddr>,
    /// With --join: where other servers reach this one.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
    /// With --join: where Redis clients reach this one.
    #[arg(long)]
    client_addr: Option<SocketAddr>,
    /// With --join: this node's failure domains, `dc:pod:rack:host`.
    #[arg(long)]
    labels: Option<String>,
    /// Data directory (write-ahead log and snapshots).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Milliseconds per Raft tick (the election timeout is 10-20 ticks).
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Always answer `-MOVED` on followers instead of forwarding plain clients to the leader.
    #[arg(long)]
    always_redirect: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    log: LogArgs,
    /// Do not hand leaderships away when this node is far slower than its peers (gray-failure
    /// handling is on by default).
    #[arg(long)]
    no_gray_failure: bool,
    /// Largest write a client may send, in bytes (at most 32 MiB): a larger one is refused
    /// with an error before it is replicated.
    #[arg(long, default_value_t = 16 << 20)]
    max_request_bytes: u64,
    /// Lua instructions one script or function may run before it is aborted (and its writes
    /// rolled back); every node must use the same value.
    #[arg(long, default_value_t = 50_000_000)]
    script_instructions_max: u64,
    /// Most client connections at once (Redis's maxclients); more are refused with an error.
    #[arg(long, default_value_t = 10_000)]
    maxclients: usize,
    /// Close a client connection idle this many seconds (Redis's timeout; 0: never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Redis's maxmemory: the estimated data size of the groups this server hosts (100mb,
    /// 2gb; 0: no limit). Past it, writes get -OOM or keys are evicted (--maxmemory-policy).
    #[arg(long, default_value = "0", value_parser = server::limits::parse_memory)]
    maxmemory: u64,
    /// What to do past --maxmemory: noeviction (refuse writes that add data), allkeys-lru,
    /// allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl.
    #[arg(long, default_value = "noeviction", value_parser = server::limits::EvictionPolicy::parse)]
    maxmemory_policy: server::limits::EvictionPolicy,
    /// Redis's notify-keyspace-events: which keyspace notifications this node publishes to
    /// its subscribers ('' off, 'KEA' all; classes K E g $ l s h z x e t m n, as Redis).
    /// CONFIG SET notify-keyspace-events changes it at run time on the node asked.
    #[arg(long, default_value = "", value_parser = server::pubsub::parse_keyspace_events)]
    notify_keyspace_events: u32,
    /// Serve /health, /ready, /metrics (Prometheus), /status.json and the dashboard (/) over
    /// HTTP on this address (off the client port; none by default; `up` gives each server
    /// its client port + 300).
    #[arg(long)]
    admin_addr: Option<SocketAddr>,
    /// Keys sampled per eviction (Redis's maxmemory-samples).
    #[arg(long, default_value_t = 5)]
    maxmemory_samples: usize,
    /// Redis's client-output-buffer-limit: '<class> <hard> <soft> <soft-seconds>' with class
    /// normal or pubsub, e.g. 'normal 64mb 16mb 60'. A client whose unread replies pass hard
    /// (or stay over soft that long) is disconnected. Repeatable.
    #[arg(long, value_parser = server::limits::parse_output_limits)]
    client_output_buffer_limit:
        Vec<Vec<(server::limits::ClientClass, server::limits::OutputLimit)>>,
    /// Redis's requirepass: the default user's password (set once, cluster-wide). The
    /// default user then also loses the cluster's administration (NINESDB JOIN/DRAIN/DEBUG,
    /// ACL SETUSER/DELUSER, SHUTDOWN): give --admin-password for that.
    #[arg(long, env = "NINESDB_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// Creates the user `admin` (every command, key and channel) with this password, once.
    #[arg(long, env = "NINESDB_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Redis's client-query-buffer-limit: bytes a client may send ahead unparsed (1gb).
    #[arg(long, default_value = "1gb", value_parser = server::limits::parse_memory)]
    client_query_buffer_limit: u64,
    #[command(flatten)]
    tls: TlsArgs,
    /// The cluster's id, when creating it (default: derived from --members and the group
    /// settings); peers with another id are refused. Kept in the data directory.
    #[arg(long)]
    cluster_id: Option<String>,
}

/// Redis's TLS settings, by Redis's names.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Redis's `port 0`: no plain-text client port (needs --tls-port). Only 0 is accepted:
    /// the plain port itself comes from --members or --client-addr.
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=0))]
    port: Option<u16>,
    /// Serve TLS clients on this port too (same host as the client address).
    #[arg(long, default_value_t = 0)]
    tls_port: u16,
    /// This node's certificate (PEM), for the TLS client port and the peer port.
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    tls_key_file: Option<PathBuf>,
    /// The CA (PEM) whose certificates clients and members must present.
    #[arg(long)]
    tls_ca_cert_file: Option<PathBuf>,
    /// yes (a client certificate of the CA is required, Redis's default), no, or optional.
    #[arg(long, default_value = "yes")]
    tls_auth_clients: server::config::TlsAuthClients,
    /// Mutual TLS between members: yes or no (default: yes when a certificate is given).
    #[arg(long, value_parser = parse_yes_no)]
    tls_cluster: Option<bool>,
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, got '{text}'")),
    }
}

impl TlsArgs {
    fn apply(&self, config: &mut ServerConfig) {
        config.plain_clients = self.port.is_none();
        config.tls_port = self.tls_port;
        config.tls_cert_file.clone_from(&self.tls_cert_file);
        config.tls_key_file.clone_from(&self.tls_key_file);
        config.tls_ca_cert_file.clone_from(&self.tls_ca_cert_file);
        config.tls_auth_clients = self.tls_auth_clients;
        config.tls_cluster = self.tls_cluster;
    }
}

/// What a server logs and how (`server`'s flags; `up` passes them to its servers).
#[derive(Debug, Args)]
pub struct LogArgs {
    /// What to log: error, warn, info, debug or trace, or directives per crate such as
    /// `server=debug,raft=info`. Without it, `RUST_LOG`; without that, info.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// `text` (`ninesdb[<node>] <message>`) or `json` (one object per line, with `level`,
    /// `node`, `group` and `term` fields).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: server::logging::LogFormat,
}

impl LogArgs {
    /// As `ninesdb server` flags.
    fn flags(&self) -> Vec<String> {
        let mut flags = vec![
            "--log-format".to_owned(),
            self.log_format.as_str().to_owned(),
        ];
        if let Some(level) = &self.log_level {
            flags.extend(["--log-level".to_owned(), level.clone()]);
        }
        flags
    }

    /// Installs this process's logger (once, before the server starts).
    fn install(&self) -> anyhow::Result<()> {
        server::logging::install(self.log_level.as_deref(), self.log_format)
            .map_err(anyhow::Error::msg)
    }
}

/// Settings of the cluster as a whole (the same on every server).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Raft groups the 16384 slots are split over (0: one per server, so every server leads
    /// some). Fixed when the cluster is created.
    #[arg(long, default_value_t = 0)]
    groups: u64,
    /// Replicas per group: 1, 3 or 5 (0: 3, or every server if fewer).
    #[arg(long, default_value_t = 0)]
    replication: usize,
    /// A server unheard of for this long (ms) is down: its replicas are rebuilt elsewhere.
    #[arg(long, default_value_t = 30_000)]
    down_after_ms: u64,
}

impl ClusterArgs {
    /// As `ninesdb server` flags.
    fn flags(&self) -> Vec<String> {
        [
            ("--groups", self.groups.to_string()),
            ("--replication", self.replication.to_string()),
            ("--down-after-ms", self.down_after_ms.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }
}

pub fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    args.log.install()?;
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            ServerConfig::from_toml(&text).map_err(anyhow::Error::msg)?
        }
        None => config_from_flags(&args).map_err(anyhow::Error::msg)?,
    };
    // The reason a server stops goes to its log, in the log's format (a JSON log stays JSON).
    match server::run(config) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(reason) => {
            tracing::error!("{reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn config_from_flags(args: &ServerArgs) -> Result<ServerConfig, String> {
    let id = args.id.ok_or("--id is required")?;
    let members = match (&args.members, args.join, args.peer_addr, args.client_addr) {
        (Some(members), _, _, _) => ServerConfig::parse_members(members)?,
        (None, Some(_), Some(peer), Some(client)) => {
            let labels = match &args.labels {
                Some(text) => server::config::parse_labels(id, text)?,
                None => server::config::labels(id, None, None, None, None),
            };
            [(
                id,
                Member {
                    peer,
                    client,
                    labels,
                },
            )]
            .into_iter()
            .collect()
        }
        _ => {
            return Err(
                "give --members (a new cluster) or --join with --peer-addr and --client-addr"
                    .to_owned(),
            )
        }
    };
    let mut config =
        ServerConfig::new(id, members, args.data.clone()).map_err(|e| format!("--members: {e}"))?;
    config.join = args.join;
    config.tick_ms = args.tick_ms;
    config.always_redirect = args.always_redirect;
    config.groups = args.cluster.groups;
    config.replication = args.cluster.replication;
    config.down_after_ms = args.cluster.down_after_ms;
    config.gray_failure = !args.no_gray_failure;
    config.max_request_bytes = args.max_request_bytes;
    config.script_instructions_max = args.script_instructions_max;
    config.max_clients = args.maxclients;
    config.idle_timeout_s = args.timeout;
    config.maxmemory = args.maxmemory;
    config.maxmemory_policy = args.maxmemory_policy;
    config.maxmemory_samples = args.maxmemory_samples;
    config.notify_keyspace_events = args.notify_keyspace_events;
    config.admin_addr = args.admin_addr;
    for (class, limit) in args.client_output_buffer_limit.iter().flatten() {
        match class {
            server::limits::ClientClass::Normal => config.output_limit_normal = *limit,
            server::limits::ClientClass::Pubsub => config.output_limit_pubsub = *limit,
        }
    }
    config.query_buffer_limit = args.client_query_buffer_limit;
    config.requirepass = args.requirepass.clone();
    config.admin_password = args.admin_password.clone();
    args.tls.apply(&mut config);
    config.cluster_id.clone_from(&args.cluster_id);
    config.validate()?;
    Ok(config)
}

/// `ninesdb up`: a local cluster of separate server processes, labelled as if spread over
/// datacenters and racks (so placement spreads replicas as it would on real machines).
#[derive(Debug, Args)]
pub struct UpArgs {
    /// How many servers.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Racks per datacenter the servers are spread over (round robin).
    #[arg(long, default_value_t = 0)]
    racks: u64,
    /// Datacenters the servers are spread over (round robin).
    #[arg(long, default_value_t = 1)]
    dcs: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    log: LogArgs,
    /// Where their data directories go (one per server).
    #[arg(long, default_value = "ninesdb-data")]
    data: PathBuf,
    /// Client port of the first server; the others follow (7001, 7002, ...). Peer ports are +100.
    #[arg(long, default_value_t = 7001)]
    port: u16,
    /// Milliseconds per Raft tick.
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Stop after this many seconds instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long)]
    seconds: Option<u64>,
    /// TLS: a throwaway CA and certificates in the data directory (`tls/`), a TLS client
    /// port per server (client port + 200) and mutual TLS between the servers.
    #[arg(long)]
    tls: bool,
    /// A new cluster only: load this backup (`ninesdb ctl backup --to DIR`) into it once every
    /// slot has a leader, before reporting it up. The backup may come from a cluster of
    /// another node or group count.
    #[arg(long, value_name = "DIR")]
    restore_from: Option<PathBuf>,
}

/// `--restore-from` loads a backup into a new cluster only: never over a cluster's data.
fn refuse_restore_into_used(args: &UpArgs, existing: bool) -> anyhow::Result<()> {
    if args.restore_from.is_some() && existing {
        anyhow::bail!(
            "--restore-from loads a backup into a new cluster only, and {} already holds one: \
             give another --data, or use `ninesdb ctl restore --from DIR` on purpose",
            args.data.display()
        );
    }
    Ok(())
}

/// The flags of `up`'s server `id` besides the common ones: the new cluster's id, TLS.
fn up_server_flags(
    id: u64,
    member: &Member,
    cluster_id: Option<&str>,
    args: &UpArgs,
) -> Vec<std::ffi::OsString> {
    let mut flags: Vec<std::ffi::OsString> = vec![
        "--admin-addr".into(),
        up_admin_addr(member.client).to_string().into(),
    ];
    if let Some(cluster_id) = cluster_id {
        flags.extend(["--cluster-id".into(), cluster_id.into()]);
    }
    if args.tls {
        let dir = up_tls_dir(args);
        let (cert, key) = crate::certs_cli::node_files(&dir, id);
        flags.extend([
            "--tls-port".into(),
            up_tls_port(member.client.port()).to_string().into(),
            "--tls-cert-file".into(),
            cert.into(),
            "--tls-key-file".into(),
            key.into(),
            "--tls-ca-cert-file".into(),
            dir.join("ca.crt").into(),
        ]);
    }
    flags
}

/// The admin HTTP address of `up`'s server with this client address.
fn up_admin_addr(client: SocketAddr) -> SocketAddr {
    SocketAddr::new(client.ip(), client.port().saturating_add(300))
}

/// Where `up --tls` puts its certificates.
fn up_tls_dir(args: &UpArgs) -> PathBuf {
    args.data.join("tls")
}

/// The TLS client port of `up`'s server with this client port.
fn up_tls_port(client_port: u16) -> u16 {
    client_port.saturating_add(200)
}

/// Server `index` (0-based) of `up`'s cluster: datacenters round robin, then racks.
fn up_labels(index: u64, args: &UpArgs) -> String {
    let dcs = args.dcs.max(1);
    let racks = if args.racks == 0 {
        args.nodes.div_ceil(dcs)
    } else {
        args.racks
    };
    let (dc, rack) = (index % dcs + 1, (index / dcs) % racks + 1);
    format!("dc{dc}:dc{dc}-pod1:dc{dc}-rack{rack}:host{}", index + 1)
}

pub fn run_up(args: UpArgs) -> anyhow::Result<ExitCode> {
    if args.nodes == 0 || args.nodes > 99 {
        anyhow::bail!("--nodes must be between 1 and 99, got {}", args.nodes);
    }
    if args.dcs == 0 || args.dcs > args.nodes {
        anyhow::bail!(
            "--dcs must be between 1 and --nodes ({}), got {}",
            args.nodes,
            args.dcs
        );
    }
    let members: Vec<(u64, Member)> = (1..=args.nodes)
        .map(|id| {
            let port = args.port + (id - 1) as u16;
            let labels = server::config::parse_labels(id, &up_labels(id - 1, &args))
                .expect("well-formed labels");
            (
                id,
                Member {
                    peer: SocketAddr::from(([127, 0, 0, 1], port + 100)),
                    client: SocketAddr::from(([127, 0, 0, 1], port)),
                    labels,
                },
            )
        })
        .collect();
    let members_flag = members
        .iter()
        .map(|(id, m)| format!("{id}={}/{}@{}", m.peer, m.client, m.labels))
        .collect::<Vec<_>>()
        .join(",");
    let exe = std::env::current_exe()?;
    // A new cluster gets a fresh id, so servers of an earlier `up` on these ports (another
    // data directory) are refused as peers rather than mixed in.
    let cluster_id = (!args.data.join("node1").exists()).then(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("up-{:x}", nanos ^ u128::from(std::process::id()))
    });
    refuse_restore_into_used(&args, cluster_id.is_none())?;
    if args.tls {
        crate::certs_cli::make(&up_tls_dir(&args), args.nodes, "ninesdb up throwaway CA")?;
    }
    let mut children: Vec<Child> = Vec::new();
    for (id, member) in &members {
        let data = args.data.join(format!("node{id}"));
        let extra = up_server_flags(*id, member, cluster_id.as_deref(), &args);
        let child = Command::new(&exe)
            .args([
                "server",
                "--id",
                &id.to_string(),
                "--members",
                &members_flag,
                "--tick-ms",
                &args.tick_ms.to_string(),
            ])
            .args(args.cluster.flags())
            .args(args.log.flags())
            .args(extra)
            .arg("--data")
            .arg(&data)
            .spawn()?;
        children.push(child);
    }
    let result = wait_and_report(&members, &args);
    stop(&mut children);
    result
}

fn wait_and_report(members: &[(u64, Member)], args: &UpArgs) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = members[0].1.client;
    loop {
        if let Some(info) = ask(
            first,
            b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n",
            "ninesdb_groups",
        ) {
            if info.contains("cluster_state:ok") {
                let groups = info
                    .lines()
                    .find_map(|l| l.strip_prefix("ninesdb_groups:"))
                    .unwrap_or("?")
                    .trim()
                    .to_owned();
                if let Some(dir) = &args.restore_from {
                    if !crate::backup_cli::restore(&first.to_string(), None, dir, 64)? {
                        anyhow::bail!(
                            "some keys of {} were not restored (see above)",
                            dir.display()
                        );
                    }
                }
                println!(
                    "ninesdb is up: {} servers, {groups} groups, every slot has a leader",
                    members.len()
                );
                break;
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "not every group elected a leader within 60 s; see the servers' messages above"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, member) in members {
        println!(
            "  node {id} [{}]: redis-cli -p {}   (data in {})",
            member.labels,
            member.client.port(),
            args.data.join(format!("node{id}")).display()
        );
    }
    println!("Connect with: redis-cli -c -p {}   (any node works; plain clients are forwarded to each key's leader)", args.port);
    if args.tls {
        let dir = up_tls_dir(args);
        println!(
            "With TLS:     redis-cli -c --tls --cacert {} --cert {} --key {} -p {}   (TLS ports {}..{}; the servers talk mutual TLS)",
            dir.join("ca.crt").display(),
            dir.join("client.crt").display(),
            dir.join("client.key").display(),
            up_tls_port(args.port),
            up_tls_port(args.port),
            up_tls_port(args.port) + members.len() as u16 - 1
        );
    }
    println!(
        "Topology and health: ninesdb ctl status --port {}, or the dashboard at http://{}/ (metrics at /metrics on each server's admin port: client port + 300)",
        args.port,
        up_admin_addr(first)
    );
    if args.seconds.is_none() {
        println!("Press Ctrl-C to stop every server.");
    }
    wait_for_stop(args.seconds)?;
    Ok(ExitCode::SUCCESS)
}

/// Sends one command to a server and reads its reply until `until` appears, if it answers.
pub fn ask(address: SocketAddr, command: &[u8], until: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(command).ok()?;
    let mut buffer = vec![0; 65536];
    let mut text = String::new();
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buffer[..read]));
        if text.contains(until) {
            break;
        }
    }
    Some(text)
}

/// Waits for Ctrl-C, SIGTERM, or the given number of seconds, whichever comes first: the
/// caller then stops every server it started (none is left behind).
fn wait_for_stop(seconds: Option<u64>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let timeout = async {
            match seconds {
                Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                None => std::future::pending().await,
            }
        };
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            () = timeout => {}
        }
        Ok::<(), std::io::Error>(())
    })?;
    Ok(())
}

/// Stops every server this command started: SIGTERM by PID (graceful: they flush), then wait.
fn stop(children: &mut [Child]) {
    for child in children.iter() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for child in children.iter_mut() {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::LogArgs;
    use clap::Parser;
    use server::logging::LogFormat;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        log: LogArgs,
    }

    // Goal: `up` hands its servers the log flags it was given. Method: parse flags, turn them
    // back into server flags, parse those: the same level and format; a bad format is refused.
    #[test]
    fn up_passes_the_log_flags_through() {
        let given =
            Flags::try_parse_from(["up", "--log-level", "server=debug", "--log-format", "json"])
                .unwrap();
        let again =
            Flags::try_parse_from(std::iter::once("server".to_owned()).chain(given.log.flags()))
                .unwrap();
        assert_eq!(again.log.log_level.as_deref(), Some("server=debug"));
        assert_eq!(again.log.log_format, LogFormat::Json);
        let default = Flags::try_parse_from(["server"]).unwrap();
        assert_eq!(default.log.log_format, LogFormat::Text);
        assert_eq!(default.log.log_level, None);
        assert!(Flags::try_parse_from(["server", "--log-format", "xml"]).is_err());
    }
}
