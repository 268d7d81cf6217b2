//! The runtime: the only crate that knows tokio, sockets, real disks and clocks. It drives
//! the same Raft core the lab drives, with a real write-ahead log, over TCP.
//!
//! - The node thread ([`driver`]) owns the replica, the log and the keyspace.
//! - Tokio tasks accept clients ([`client`]) and peers ([`peer`]) and pass inputs to the
//!   node thread over one bounded channel.

pub mod admin;
pub mod blocking;
pub mod client;
pub mod clients;
pub mod cluster;
pub mod command;
pub mod config;
pub mod driver;
mod evict;
pub mod fanout;
pub mod group;
pub mod health;
pub mod http;
pub mod latency;
pub mod limits;
pub mod local;
pub mod logging;
mod maintain;
pub mod membership;
pub mod metrics;
pub mod peer;
pub mod pipeline;
pub mod pubsub;
mod registry;
pub mod slotmap;
pub mod state;
pub mod stats;
pub mod tls;
pub mod users;
pub mod wire;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::ServerConfig;
use tokio::net::TcpListener;

/// Inputs waiting for the node thread at most (beyond it clients hear `-BUSY`).
pub const NODE_QUEUE_MAX: usize = 65_536;

/// Runs a server until SIGINT or SIGTERM: then it stops accepting, lets the node thread
/// finish its round (flushing the log), and returns.
pub fn run(config: ServerConfig) -> Result<(), String> {
    config.validate()?;
    // Every line this server logs names it: its runtime's threads (workers and blocking
    // ones), the caller's thread that drives `block_on`, and the node thread are marked.
    let id = config.id;
    logging::enter_node(id);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || logging::enter_node(id))
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(config))
}

async fn serve(mut config: ServerConfig) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", config.data_dir.display()))?;
    // One process per data dir, from before anything in it is read or written until serve
    // returns (after the node thread has flushed the log and stopped).
    let _dir_lock = storage::DirLock::acquire(&config.data_dir)?;
    let known = {
        let mut prepared = config.clone();
        let known = tokio::task::spawn_blocking(move || {
            membership::prepare(&mut prepared).map(|known| (known, prepared))
        })
        .await
        .map_err(|e| e.to_string())??;
        config = known.1;
        known.0
    };
    let disk = storage::FsDisk::open(&config.data_dir)
        .map_err(|e| format!("cannot open data dir {}: {e:?}", config.data_dir.display()))?;
    let (wal, recovered) = storage::Wal::open(disk, storage::WalOptions::default())
        .map_err(|e| format!("recovery failed: {e}"))?;
    let tls = tls::Tls::load(&config)?;
    let listeners = Listeners::bind(&config, &tls).await?;
    let forwards = Arc::new(peer::Forwards::default());
    let identity = peer::Identity {
        me: config.id,
        cluster: config.cluster_id.clone().unwrap_or_default(),
        tls_port: config.tls_port,
    };
    let links = peer::Links::new(identity, &forwards, tls);
    links
        .pubsub
        .set_keyspace_events(config.notify_keyspace_events);
    let peers = peer::Peers::new(&links);
    peers.connect(&known.members);
    let (node, inputs) = std::sync::mpsc::sync_channel(NODE_QUEUE_MAX);
    let view: cluster::SharedView = Arc::new(std::sync::Mutex::new(cluster::View {
        groups: config.group_count(),
        members: known.members,
        tls_ports: [(config.id, config.tls_port)].into_iter().collect(),
        ..Default::default()
    }));
    let plan = cluster::initial_plan(&config)?;
    let driver = driver::Driver::open(
        config.clone(),
        raft_config(&config),
        wal,
        recovered,
        Arc::clone(&peers),
        Arc::clone(&view),
    )?;
    let tick = Duration::from_millis(config.tick_ms);
    let id = config.id;
    let node_thread = std::thread::Builder::new()
        .name("ninesdb-node".to_owned())
        .spawn(move || {
            logging::enter_node(id);
            driver.run(inputs, tick)
        })
        .map_err(|e| e.to_string())?;
    // The node thread ends early only on a storage error: the process must then end too
    // (fail-stop), so that supervisors see it and clients go elsewhere.
    let mut node_done = tokio::task::spawn_blocking(move || node_thread.join());
    tokio::spawn(peer::accept(
        listeners.peer,
        node.clone(),
        Arc::clone(&view),
        Arc::clone(&links),
    ));
    tracing::info!("{}", serving_line(&config));
    let shared = Arc::new(client::Shared {
        config,
        seed: known.seed,
        plan,
        node: node.clone(),
        peers,
        forwards,
        view,
        next_client_id: AtomicU64::new(0),
        clients: AtomicUsize::new(0),
        started: Instant::now(),
        blocked: std::sync::Mutex::default(),
        stop: tokio::sync::Notify::new(),
        users: users::Users::default(),
        acl_log: std::sync::Mutex::new(acl::AclLog::new(ACL_LOG_MAX)),
        pubsub: Arc::clone(&links.pubsub),
        stats: stats::Stats::default(),
        latency: latency::Monitor::default(),
        connections: Arc::default(),
    });
    tokio::spawn(users::keep_fresh(Arc::clone(&shared)));
    if let Some(admin) = listeners.admin {
        tokio::spawn(http::serve(admin, Arc::clone(&shared)));
    }
    tokio::select! {
        () = accept_clients(listeners.plain, listeners.tls, Arc::clone(&shared)) => {}
        () = shutdown_signal() => tracing::info!("shutting down: no new connections; handing leaderships away, then flushing the log"),
        () = shared.stop.notified() => tracing::info!("SHUTDOWN: no new connections; handing leaderships away, then flushing the log"),
        stopped = &mut node_done => {
            return match stopped {
                Ok(Ok(Ok(()))) => Err("the node thread stopped unexpectedly".to_owned()),
                Ok(Ok(Err(reason))) => Err(format!("{reason}; the node stopped (fail-stop): check the disk, then restart to recover from the log")),
                _ => Err("the node thread panicked".to_owned()),
            };
        }
    }
    let _ = node.try_send(driver::Input::Shutdown);
    drop(node);
    drop(shared);
    match node_done.await {
        Ok(Ok(Err(reason))) => Err(reason),
        _ => Ok(()),
    }
}

/// Redis's `acllog-max-len` default.
const ACL_LOG_MAX: usize = 128;
/// What the node serves where, said once at start.
fn serving_line(config: &ServerConfig) -> String {
    format!(
        "serving Redis clients on {}{}, peers on {}{} ({} groups, {} replicas each, cluster {})",
        if config.plain_clients {
            config.client_addr.to_string()
        } else {
            "(plain port off)".to_owned()
        },
        config
            .tls_addr()
            .map(|a| format!(" and TLS clients on {a}"))
            .unwrap_or_default(),
        config.peer_addr,
        if config.peer_tls() {
            " (mutual TLS)"
        } else {
            ""
        },
        config.group_count(),
        config.replication_factor(),
        config.cluster_id.as_deref().unwrap_or_default(),
    )
}

/// The node's listening sockets: plain clients (unless `port 0`), TLS clients, peers.
struct Listeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    peer: TcpListener,
    /// The admin HTTP port (`--admin-addr`).
    admin: Option<TcpListener>,
}

impl Listeners {
    async fn bind(config: &ServerConfig, tls: &tls::Tls) -> Result<Listeners, String> {
        let bind = |address: std::net::SocketAddr, what: &'static str| async move {
            TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen for {what} on {address}: {e}"))
        };
        let plain = if config.plain_clients {
            Some(bind(config.client_addr, "clients").await?)
        } else {
            None
        };
        let tls = match (config.tls_addr(), &tls.clients) {
            (Some(address), Some(acceptor)) => {
                Some((bind(address, "TLS clients").await?, acceptor.clone()))
            }
            _ => None,
        };
        let admin = match config.admin_addr {
            Some(address) => Some(bind(address, "the admin HTTP port").await?),
            None => None,
        };
        Ok(Listeners {
            plain,
            tls,
            peer: bind(config.peer_addr, "peers").await?,
            admin,
        })
    }
}

fn raft_config(config: &ServerConfig) -> raft::Config {
    let mut raft = raft::Config::new(config.id);
    raft.election_timeout_ticks = config.election_ticks;
    raft.heartbeat_interval_ticks = config.heartbeat_ticks;
    raft.random_seed = config.id ^ driver::wall_clock_ms();
    raft
}

/// Accept errors (out of file descriptors, above all) come back at once: without a pause
/// the accept loop would spin a core. The pause doubles up to a second and resets on success.
pub(crate) struct AcceptBackoff(Duration);

impl AcceptBackoff {
    pub(crate) fn new() -> AcceptBackoff {
        AcceptBackoff(Duration::ZERO)
    }

    pub(crate) fn succeeded(&mut self) {
        self.0 = Duration::ZERO;
    }

    pub(crate) async fn failed(&mut self) {
        self.0 = (self.0 * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
        tokio::time::sleep(self.0).await;
    }
}

/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

/// Accepts clients on the plain port and the TLS port (either may be off) until the process
/// stops.
async fn accept_clients(
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    shared: Arc<client::Shared>,
) {
    let plain = async {
        if let Some(listener) = plain {
            accept_clients_on(listener, None, &shared).await;
        }
    };
    let tls = async {
        if let Some((listener, acceptor)) = tls {
            accept_clients_on(listener, Some(acceptor), &shared).await;
        }
    };
    tokio::join!(plain, tls);
}

async fn accept_clients_on(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: &Arc<client::Shared>,
) {
    let mut backoff = AcceptBackoff::new();
    loop {
        let Ok((mut stream, remote)) = listener.accept().await else {
            backoff.failed().await;
            continue;
        };
        backoff.succeeded();
        if shared.clients.load(Ordering::Relaxed) >= shared.config.max_clients {
            use tokio::io::AsyncWriteExt;
            // A TLS client could not read the plain-text error: it is just closed.
            if tls.is_none() {
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            }
            continue;
        }
        let _ = stream.set_nodelay(true);
        shared.clients.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let local = stream.local_addr().ok();
                    client::serve(stream, Arc::clone(&shared), Some(remote), local).await
                }
                Some(acceptor) => {
                    let local = stream.local_addr().ok();
                    match tokio::time::timeout(TLS_HANDSHAKE_WAIT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            tls::CLIENT_IS_TLS
                                .scope(
                                    true,
                                    client::serve(
                                        tls::FlushBeforeRead(stream),
                                        Arc::clone(&shared),
                                        Some(remote),
                                        local,
                                    ),
                                )
                                .await;
                        }
                        Ok(Err(error)) => {
                            tracing::warn!("TLS client {remote} refused: handshake failed: {error}")
                        }
                        Err(_) => tracing::warn!(
                            "TLS client {remote} refused: no handshake within {} s",
                            TLS_HANDSHAKE_WAIT.as_secs()
                        ),
                    }
                }
            }
            shared.clients.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
