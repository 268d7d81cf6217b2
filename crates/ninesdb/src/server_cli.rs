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
    /// Every member: `id=peer_host:port/client_host:port,...` (this server included).
    #[arg(long, required_unless_present = "config")]
    members: Option<String>,
    /// Data directory (write-ahead log and snapshots).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Milliseconds per Raft tick (the election timeout is 10-20 ticks).
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Always answer `-MOVED` on followers instead of forwarding plain clients to the leader.
    #[arg(long)]
    always_redirect: bool,
}

pub fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            ServerConfig::from_toml(&text).map_err(anyhow::Error::msg)?
        }
        None => config_from_flags(&args).map_err(anyhow::Error::msg)?,
    };
    server::run(config).map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

fn config_from_flags(args: &ServerArgs) -> Result<ServerConfig, String> {
    let id = args.id.ok_or("--id is required")?;
    let members = ServerConfig::parse_members(args.members.as_deref().ok_or("--members is required")?)?;
    let mut config = ServerConfig::new(id, members, args.data.clone()).map_err(|e| format!("--members: {e}"))?;
    config.tick_ms = args.tick_ms;
    config.always_redirect = args.always_redirect;
    config.validate()?;
    Ok(config)
}

/// `ninesdb up`: a local cluster of separate server processes.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// How many servers (replicas).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
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
}

pub fn run_up(args: UpArgs) -> anyhow::Result<ExitCode> {
    if args.nodes == 0 || args.nodes > 9 {
        anyhow::bail!("--nodes must be between 1 and 9, got {}", args.nodes);
    }
    let members: Vec<(u64, Member)> = (1..=args.nodes)
        .map(|id| {
            let port = args.port + (id - 1) as u16;
            (id, Member { peer: SocketAddr::from(([127, 0, 0, 1], port + 100)), client: SocketAddr::from(([127, 0, 0, 1], port)) })
        })
        .collect();
    let members_flag = members.iter().map(|(id, m)| format!("{id}={}/{}", m.peer, m.client)).collect::<Vec<_>>().join(",");
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = Vec::new();
    for (id, _) in &members {
        let data = args.data.join(format!("node{id}"));
        let child = Command::new(&exe)
            .args(["server", "--id", &id.to_string(), "--members", &members_flag, "--tick-ms", &args.tick_ms.to_string()])
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
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some(found) = members.iter().find(|(_, m)| role(m.client).as_deref() == Some("master")) {
            break found;
        }
        if Instant::now() > deadline {
            anyhow::bail!("no leader elected within 30 s; see the servers' messages above");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("ninesdb is up: {} replicas, leader is node {} on {}", members.len(), leader.0, leader.1.client);
    for (id, member) in members {
        println!("  node {id}: redis-cli -p {}   (data in {})", member.client.port(), args.data.join(format!("node{id}")).display());
    }
    println!("Connect with: redis-cli -p {}   (any node works: followers forward to the leader)", args.port);
    if args.seconds.is_none() {
        println!("Press Ctrl-C to stop every server.");
    }
    wait_for_stop(args.seconds)?;
    Ok(ExitCode::SUCCESS)
}

/// The `role:` line of a server's INFO, if it answers.
fn role(address: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n").ok()?;
    let mut buffer = vec![0; 8192];
    let mut text = String::new();
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buffer[..read]));
        if text.contains("raft_members") {
            break;
        }
    }
    text.lines().find_map(|line| line.strip_prefix("role:")).map(|r| r.trim().to_owned())
}

/// Waits for Ctrl-C, SIGTERM, or the given number of seconds, whichever comes first: the
/// caller then stops every server it started (none is left behind).
fn wait_for_stop(seconds: Option<u64>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let timeout = async {
            match seconds {
                Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                None => std::future::pending().await,
            }
        };
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
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
