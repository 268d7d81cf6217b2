//! Links between servers. Each server dials every other member and sends its Raft messages
//! and forwarded commands on that connection; it accepts the others' connections and reads
//! their frames. Replies to forwarded commands travel back on the connection they came on.
//! Queues are bounded: when one is full the frame is dropped (Raft retransmits).
//!
//! Who is calling: with `tls-cluster` both sides first prove membership with a certificate of
//! the cluster's CA. Then each side sends a `Hello` (node id, protocol version, cluster id);
//! the acceptor refuses (and logs) a caller of another cluster or version or an id that is
//! not a member, and answers with its own `Hello`, which the dialer checks the same way
//! before it sends anything else. Until a `Hello` is accepted a connection may send frames of
//! 4 KiB at most, within 10 s. See [`Limits`] for the bounds on connections and buffers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use raft::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::cluster::SharedView;
use crate::driver::{Input, Outcome};
use crate::tls::BoxStream;
use crate::wire::{self, Frame};

/// Frames queued per peer at most.
pub const PEER_QUEUE_MAX: usize = 8_192;
/// Inbound peer connections at once. Each member dials each other once (twice for a moment
/// when it redials), so 256 covers clusters far larger than any one node's fan-out needs.
pub const PEER_CONNECTIONS_MAX: usize = 256;
/// Inbound connections whose caller has not been accepted yet (TLS handshake and `Hello`).
/// Kept apart from the total so strangers cannot take every slot from members for long:
/// each waits at most [`HELLO_WAIT`].
pub const UNAUTHENTICATED_MAX: usize = 32;
/// How long a caller has to finish the TLS handshake and send its `Hello`.
pub const HELLO_WAIT: Duration = Duration::from_secs(10);
/// Frames up to this size (header included) are read without asking the shared budget: the
/// connection's own buffer holds them. Raft heartbeats, votes, reports and most appends
/// are far smaller.
pub const FREE_FRAME_BYTES: usize = 64 << 10;
/// Bytes all peer connections together may buffer for frames larger than
/// [`FREE_FRAME_BYTES`] that are still arriving: two frames of the largest size. A connection
/// reserves a frame's whole length when its header arrives, and waits (stops reading: TCP
/// pushes back on the sender) while the budget is short. Without it 20 connections each
/// sending half of a claimed 64 MiB frame took a node from 32 MB to 1 GB; with it, partial
/// frames hold at most 128 MiB, and per-connection buffers 256 x ~128 KiB = 32 MiB.
pub const PARTIAL_FRAMES_BUDGET: usize = 2 * (wire::FRAME_SIZE_MAX + wire::HEADER);
/// How long a dialer waits after a peer refused it (or was refused) before trying again.
const REFUSED_PAUSE: Duration = Duration::from_secs(1);

/// Who this node is on the peer protocol.
#[derive(Clone, Debug)]
pub struct Identity {
    pub me: NodeId,
    pub cluster: String,
    /// Its TLS client port (0: none), told to the others so TLS clients are sent there.
    pub tls_port: u16,
}

impl Identity {
    fn hello(&self) -> Frame {
        Frame::Hello {
            from: self.me,
            version: wire::PROTOCOL_VERSION,
            cluster: self.cluster.clone(),
            tls_port: self.tls_port,
        }
    }

    /// Why a `Hello` is refused, if it is: another version or cluster.
    fn check(&self, version: u64, cluster: &str) -> Result<(), String> {
        if version != wire::PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {version} (this node speaks {})",
                wire::PROTOCOL_VERSION
            ));
        }
        if cluster != self.cluster {
            return Err(format!(
                "cluster id {cluster:?} (this cluster is {:?})",
                self.cluster
            ));
        }
        Ok(())
    }
}

/// The bounds shared by every peer connection of this node.
pub struct Limits {
    connections: Arc<Semaphore>,
    unauthenticated: Arc<Semaphore>,
    partial_frames: Arc<Semaphore>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: Arc::new(Semaphore::new(PEER_CONNECTIONS_MAX)),
            unauthenticated: Arc::new(Semaphore::new(UNAUTHENTICATED_MAX)),
            partial_frames: Arc::new(Semaphore::new(PARTIAL_FRAMES_BUDGET)),
        }
    }
}

/// Reads frames from one connection within a size limit, reserving big frames' bytes from
/// the shared budget before buffering them.
struct FrameReader<R> {
    reader: R,
    buffer: BytesMut,
    limit: usize,
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(reader: R, limit: usize, budget: &Arc<Semaphore>) -> FrameReader<R> {
        FrameReader {
            reader,
            buffer: BytesMut::with_capacity(FREE_FRAME_BYTES),
            limit,
            budget: Arc::clone(budget),
            held: None,
        }
    }

    /// The next frame; `Ok(None)` when the peer closed the connection.
    async fn next(&mut self) -> Result<Option<Frame>, String> {
        loop {
            if let Some(frame) = wire::decode_within(&mut self.buffer, self.limit)? {
                self.held = None;
                return Ok(Some(frame));
            }
            if let Some(length) = wire::claimed_length(&self.buffer) {
                let whole = wire::HEADER + length;
                if whole > FREE_FRAME_BYTES && self.held.is_none() {
                    let bytes = u32::try_from(whole).map_err(|_| "frame too large".to_owned())?;
                    let permit = Arc::clone(&self.budget)
                        .acquire_many_owned(bytes)
                        .await
                        .map_err(|_| "the frame budget is closed".to_owned())?;
                    self.held = Some(permit);
                }
                // One allocation of the frame's size: reading never grows it further.
                if self.buffer.capacity() < whole {
                    self.buffer.reserve(whole - self.buffer.len());
                }
            }
            match self.reader.read_buf(&mut self.buffer).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                // A TLS peer that stopped without close_notify (killed, or restarting).
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}

/// At most a few log lines a minute about refused peers: a stranger knocking every
/// millisecond must not fill the disk.
#[derive(Default)]
struct Throttle(Mutex<Option<(Instant, u32)>>);

impl Throttle {
    const PER_MINUTE: u32 = 20;

    fn allow(&self) -> bool {
        let mut window = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &mut *window {
            Some((start, count)) if now.duration_since(*start) < Duration::from_secs(60) => {
                *count += 1;
                *count <= Self::PER_MINUTE
            }
            _ => {
                *window = Some((now, 1));
                true
            }
        }
    }
}

/// Forwarded commands waiting for the leader's reply.
#[derive(Default)]
pub struct Forwards {
    next_id: AtomicU64,
    /// id -> (the leader it went to, where its reply goes).
    waiting: Mutex<HashMap<u64, (NodeId, oneshot::Sender<Bytes>)>>,
    /// Peers whose link is connected now, with the generation of the connection that is:
    /// a replaced connection's tasks cannot mark the new one down.
    links_up: Mutex<HashMap<NodeId, u64>>,
    next_generation: AtomicU64,
}

impl Forwards {
    /// Registers a forward to `leader`; returns its id and where the reply arrives.
    pub fn register(&self, leader: NodeId) -> (u64, oneshot::Receiver<Bytes>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (leader, sender));
        (id, receiver)
    }

    /// Whether the link to `peer` is connected.
    pub fn is_up(&self, peer: NodeId) -> bool {
        self.links_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&peer)
    }

    /// A new connection to `peer` is up; returns its generation.
    fn link_up(&self, peer: NodeId) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.links_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, generation);
        generation
    }

    /// The connection `generation` to `peer` ended: the link is down if that connection was
    /// the current one (returns whether it was), and its forwards get their answer.
    fn link_down(&self, peer: NodeId, generation: u64) -> bool {
        let current = {
            let mut links = self.links_up.lock().unwrap_or_else(|p| p.into_inner());
            let current = links.get(&peer) == Some(&generation);
            if current {
                links.remove(&peer);
            }
            current
        };
        if current {
            self.fail_all_to(peer);
        }
        current
    }

    /// The link to `leader` broke: its forwards will get no reply. They may have been
    /// executed, so their clients hear that the outcome is unknown, at once.
    fn fail_all_to(&self, leader: NodeId) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let failed: Vec<u64> = waiting
            .iter()
            .filter(|(_, (to, _))| *to == leader)
            .map(|(&id, _)| id)
            .collect();
        for id in failed {
            if let Some((_, sender)) = waiting.remove(&id) {
                let _ = sender.send(Bytes::from(format!(
                    "-{}\r\n",
                    crate::driver::UNKNOWN_OUTCOME
                )));
            }
        }
    }

    /// Drops a forward that timed out.
    pub fn forget(&self, id: u64) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn complete(&self, id: u64, reply: Bytes) {
        if let Some((_, sender)) = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
        {
            let _ = sender.send(reply);
        }
    }
}

/// What every peer connection of this node shares.
pub struct Links {
    pub identity: Identity,
    pub forwards: Arc<Forwards>,
    pub limits: Limits,
    /// Mutual TLS between members, if `tls-cluster`.
    pub tls: crate::tls::Tls,
    /// This node's Pub/Sub subscribers, for messages published on other members.
    pub pubsub: Arc<crate::pubsub::Registry>,
    refusals: Throttle,
    /// The accepted inbound connection of each member: a newer one from the same member
    /// closes the older (a member redials after a restart or a broken link).
    inbound: Mutex<HashMap<NodeId, (u64, Arc<tokio::sync::Notify>)>>,
    next_inbound: AtomicU64,
}

impl Links {
    pub fn new(identity: Identity, forwards: &Arc<Forwards>, tls: crate::tls::Tls) -> Arc<Links> {
        Arc::new(Links {
            identity,
            forwards: Arc::clone(forwards),
            limits: Limits::default(),
            tls,
            pubsub: Arc::default(),
            refusals: Throttle::default(),
            inbound: Mutex::new(HashMap::new()),
            next_inbound: AtomicU64::new(0),
        })
    }

    /// A refused or failed peer link: a warning, throttled.
    fn refused(&self, line: String) {
        if self.refusals.allow() {
            tracing::warn!("{line}");
        }
    }
}

/// The outgoing links: one queue and one dialer per other member. Members that join later
/// get theirs when this node learns of them ([`Peers::connect`]).
pub struct Peers {
    me: NodeId,
    queues: Mutex<std::collections::BTreeMap<NodeId, (std::net::SocketAddr, mpsc::Sender<Frame>)>>,
    links: Arc<Links>,
    runtime: tokio::runtime::Handle,
}

impl Peers {
    /// Must be called inside the tokio runtime (dialers run on it).
    pub fn new(links: &Arc<Links>) -> Arc<Peers> {
        Arc::new(Peers {
            me: links.identity.me,
            queues: Mutex::new(std::collections::BTreeMap::new()),
            links: Arc::clone(links),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// This node's Pub/Sub subscriptions (the node thread publishes keyspace events).
    pub fn pubsub(&self) -> &crate::pubsub::Registry {
        &self.links.pubsub
    }

    /// Starts a dialer for every member not dialled yet (or whose peer address changed).
    pub fn connect(&self, members: &std::collections::BTreeMap<NodeId, crate::config::Member>) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for (&id, member) in members {
            if id == self.me
                || queues
                    .get(&id)
                    .is_some_and(|(address, _)| *address == member.peer)
            {
                continue;
            }
            let (sender, receiver) = mpsc::channel(PEER_QUEUE_MAX);
            self.runtime
                .spawn(dial(id, member.peer, receiver, Arc::clone(&self.links)));
            // Replacing a queue drops its sender: the old dialer sees the channel close and ends.
            queues.insert(id, (member.peer, sender));
        }
    }

    /// Queues a frame for `node`; false if there is no link or its queue is full (the frame
    /// is dropped: Raft retransmits, and memory stays bounded).
    pub fn send(&self, node: NodeId, frame: Frame) -> bool {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .get(&node)
            .is_some_and(|(_, queue)| queue.try_send(frame).is_ok())
    }

    /// Sends `frame` to every peer.
    pub fn broadcast(&self, frame: &Frame) {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for (_, queue) in queues.values() {
            let _ = queue.try_send(frame.clone());
        }
    }

    /// Sends `frame` to every peer whose queue is less than half full: traffic that may
    /// be lost (Pub/Sub messages) never takes the room Raft and forwarded commands need.
    pub fn broadcast_spare(&self, frame: &Frame) {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for (_, queue) in queues.values() {
            if queue.capacity() > PEER_QUEUE_MAX / 2 {
                let _ = queue.try_send(frame.clone());
            }
        }
    }

    pub fn has(&self, node: NodeId) -> bool {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&node)
    }
}

/// Aborts a task when dropped: a dialer's reply reader ends with its dialer, whichever way
/// the dialer ends (a replaced dialer's reader once outlived it and marked the new link down).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to `address` (with TLS if configured) and exchanges `Hello`s with `peer`.
async fn open_link(
    peer: NodeId,
    address: std::net::SocketAddr,
    links: &Links,
) -> Result<
    (
        FrameReader<tokio::io::ReadHalf<BoxStream>>,
        tokio::io::WriteHalf<BoxStream>,
    ),
    String,
> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let exchange = async {
        let stream: BoxStream = match &links.tls.peer_connector {
            Some(connector) => Box::new(
                connector
                    .connect(crate::tls::peer_name(address), stream)
                    .await
                    .map_err(|e| {
                        format!("refused: TLS handshake with node {peer} at {address} failed: {e}")
                    })?,
            ),
            None => Box::new(stream),
        };
        let (reader, mut writer) = tokio::io::split(stream);
        let mut out = BytesMut::new();
        wire::encode(&links.identity.hello(), &mut out);
        writer
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))?;
        // TLS keeps records that the socket did not take yet until flushed.
        writer.flush().await.map_err(|e| format!("write: {e}"))?;
        let mut reader =
            FrameReader::new(reader, wire::HELLO_FRAME_MAX, &links.limits.partial_frames);
        match reader.next().await {
            Ok(Some(Frame::Hello {
                from,
                version,
                cluster,
                ..
            })) => {
                links.identity.check(version, &cluster).map_err(|reason| {
                    format!("refused: node {peer} at {address} answered with {reason}")
                })?;
                if from != peer {
                    return Err(format!(
                        "refused: {address} says it is node {from}, not node {peer}"
                    ));
                }
            }
            Ok(Some(_)) => return Err(format!("refused: {address} did not say hello")),
            Ok(None) => {
                return Err(format!(
                    "refused: node {peer} at {address} closed the connection (it refused this node's hello?)"
                ))
            }
            Err(error) => return Err(format!("refused: {address}: {error}")),
        }
        reader.limit = wire::FRAME_SIZE_MAX;
        Ok((reader, writer))
    };
    tokio::time::timeout(HELLO_WAIT, exchange)
        .await
        .map_err(|_| format!("refused: node {peer} at {address} did not say hello in time"))?
}

/// Keeps one connection to a peer up, writing queued frames in batches.
async fn dial(
    peer: NodeId,
    address: std::net::SocketAddr,
    mut queue: mpsc::Receiver<Frame>,
    links: Arc<Links>,
) {
    let forwards = Arc::clone(&links.forwards);
    loop {
        if queue.is_closed() {
            return; // replaced by a dialer to the member's new address
        }
        let (reader, mut writer) = match open_link(peer, address, &links).await {
            Ok(link) => link,
            Err(error) => {
                let refused = error.starts_with("refused");
                if refused {
                    links.refused(format!("peer link to node {peer}: {error}"));
                } else {
                    tracing::debug!(
                        peer,
                        "peer link to node {peer} at {address}: {error}; redialling"
                    );
                }
                tokio::time::sleep(if refused {
                    REFUSED_PAUSE
                } else {
                    Duration::from_millis(100)
                })
                .await;
                // Frames queued while the peer is unreachable are stale by now: drop them, and
                // answer any forward among them (sent in the moment the link went down).
                while queue.try_recv().is_ok() {}
                forwards.fail_all_to(peer);
                continue;
            }
        };
        let generation = forwards.link_up(peer);
        let _reader_task = AbortOnDrop(tokio::spawn(read_replies(
            reader,
            peer,
            generation,
            Arc::clone(&forwards),
        )));
        let mut out = BytesMut::new();
        loop {
            let Some(frame) = queue.recv().await else {
                forwards.link_down(peer, generation);
                return;
            };
            wire::encode(&frame, &mut out);
            while out.len() < (1 << 20) {
                match queue.try_recv() {
                    Ok(frame) => wire::encode(&frame, &mut out),
                    Err(_) => break,
                }
            }
            // A flush sends what TLS still holds (a no-op on plain TCP).
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        forwards.link_down(peer, generation);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the leader's replies to commands forwarded on this connection.
async fn read_replies(
    mut reader: FrameReader<tokio::io::ReadHalf<BoxStream>>,
    peer: NodeId,
    generation: u64,
    forwards: Arc<Forwards>,
) {
    loop {
        match reader.next().await {
            Ok(Some(Frame::ForwardReply { id, reply })) => forwards.complete(id, reply),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                forwards.link_down(peer, generation);
                return;
            }
        }
    }
}

/// Accepts the other servers' connections.
pub async fn accept(
    listener: TcpListener,
    node: SyncSender<Input>,
    view: SharedView,
    links: Arc<Links>,
) {
    let mut backoff = crate::AcceptBackoff::new();
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            backoff.failed().await;
            continue;
        };
        backoff.succeeded();
        let Ok(slot) = Arc::clone(&links.limits.connections).try_acquire_owned() else {
            links.refused(format!(
                "peer connection from {remote} refused: {PEER_CONNECTIONS_MAX} peer connections already"
            ));
            continue;
        };
        let Ok(stranger) = Arc::clone(&links.limits.unauthenticated).try_acquire_owned() else {
            links.refused(format!(
                "peer connection from {remote} refused: {UNAUTHENTICATED_MAX} callers already waiting to say hello"
            ));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let node = node.clone();
        let view = Arc::clone(&view);
        let links = Arc::clone(&links);
        tokio::spawn(async move {
            let _slot = slot;
            let caller = match tokio::time::timeout(HELLO_WAIT, greet(stream, &view, &links)).await
            {
                Ok(Ok(caller)) => caller,
                Ok(Err(reason)) => {
                    return links
                        .refused(format!("peer connection from {remote} refused: {reason}"))
                }
                Err(_) => {
                    return links.refused(format!(
                        "peer connection from {remote} refused: no hello within {} s",
                        HELLO_WAIT.as_secs()
                    ))
                }
            };
            drop(stranger);
            tracing::debug!(
                peer = caller.from,
                "peer connection from {remote}: node {} said hello",
                caller.from
            );
            if let Err(error) = serve_peer(caller, node, view, &links).await {
                tracing::warn!("peer connection from {remote} closed: {error}");
            }
        });
    }
}

/// A caller whose `Hello` was accepted, with its connection.
struct Caller {
    from: NodeId,
    reader: FrameReader<tokio::io::ReadHalf<BoxStream>>,
    writer: tokio::io::WriteHalf<BoxStream>,
}

/// The TLS handshake (with `tls-cluster`) and the caller's `Hello`: accepted only from a
/// member of this cluster speaking this protocol version.
async fn greet(stream: TcpStream, view: &SharedView, links: &Links) -> Result<Caller, String> {
    let stream: BoxStream = match &links.tls.peer_acceptor {
        Some(acceptor) => Box::new(
            acceptor
                .accept(stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?,
        ),
        None => Box::new(stream),
    };
    let (reader, writer) = tokio::io::split(stream);
    let mut reader = FrameReader::new(reader, wire::HELLO_FRAME_MAX, &links.limits.partial_frames);
    let (from, tls_port) = match reader.next().await? {
        Some(Frame::Hello {
            from,
            version,
            cluster,
            tls_port,
        }) => {
            links.identity.check(version, &cluster)?;
            (from, tls_port)
        }
        Some(_) => return Err("the first frame is not a hello".to_owned()),
        None => return Err("closed before saying hello".to_owned()),
    };
    {
        let mut view = crate::cluster::lock(view);
        if from == links.identity.me || !view.members.contains_key(&from) {
            return Err(format!("node id {from} is not a member of this cluster"));
        }
        view.tls_ports.insert(from, tls_port);
    }
    reader.limit = wire::FRAME_SIZE_MAX;
    Ok(Caller {
        from,
        reader,
        writer,
    })
}

async fn serve_peer(
    caller: Caller,
    node: SyncSender<Input>,
    view: SharedView,
    links: &Links,
) -> Result<(), String> {
    let Caller {
        from,
        mut reader,
        mut writer,
    } = caller;
    // This connection is now the member's one: an older one from it closes.
    let replaced = Arc::new(tokio::sync::Notify::new());
    let generation = links.next_inbound.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some((_, older)) = links
        .inbound
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(from, (generation, Arc::clone(&replaced)))
    {
        older.notify_one();
    }
    let (replies, mut reply_queue) = mpsc::channel::<Frame>(PEER_QUEUE_MAX);
    let _ = replies.try_send(links.identity.hello());
    let writer_task = tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(frame) = reply_queue.recv().await {
            out.clear();
            wire::encode(&frame, &mut out);
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let forwarded = Forwarded::default();
    let result = loop {
        let next = tokio::select! {
            next = reader.next() => next,
            () = replaced.notified() => break Ok(()),
        };
        match next {
            Ok(Some(frame)) => {
                crate::cluster::lock(&view).heard(from);
                handle_frame(from, frame, &node, &replies, &view, &forwarded, links);
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    writer_task.abort();
    {
        let mut inbound = links.inbound.lock().unwrap_or_else(|p| p.into_inner());
        if inbound.get(&from).is_some_and(|(g, _)| *g == generation) {
            inbound.remove(&from);
        }
    }
    // The caller is gone: its blocked clients are too.
    for (_, task) in forwarded.lock().drain() {
        task.abort();
    }
    result
}

/// Runs a command a member forwarded here; its reply goes back on the same connection.
fn run_forward(
    id: u64,
    resp3: bool,
    args: Vec<Bytes>,
    groups: u64,
    node: &SyncSender<Input>,
    replies: &mpsc::Sender<Frame>,
    forwarded: &Forwarded,
) {
    let node = node.clone();
    let replies = replies.clone();
    let running = forwarded.clone();
    let task = tokio::spawn(async move {
        let protocol = if resp3 {
            resp::Protocol::Resp3
        } else {
            resp::Protocol::Resp2
        };
        let value = crate::client::execute_here(&node, args, groups).await;
        let mut out = BytesMut::new();
        let value = match value {
            Outcome::Reply(value) => value,
            Outcome::NotLeader(_) => {
                resp::Value::Error(format!("{}; retry", &crate::client::NOT_LEADER_THERE[1..]))
            }
        };
        resp::encode(&value, protocol, &mut out);
        let _ = replies.try_send(Frame::ForwardReply {
            id,
            reply: out.freeze(),
        });
        running.lock().remove(&id);
    });
    if !task.is_finished() {
        forwarded.lock().insert(id, task.abort_handle());
    }
}

/// A member list counts only from the meta group's leader of the term this node knows (its
/// report of the meta group came first, on the same link).
fn take_members(
    from: NodeId,
    term: u64,
    index: u64,
    members: &str,
    view: &SharedView,
    links: &Links,
) {
    let mut view = crate::cluster::lock(view);
    let from_leader = view
        .reports
        .get(&crate::cluster::META)
        .is_some_and(|(report, _)| report.leader == from && report.term == term);
    if from_leader {
        view.update_members((term, index), crate::cluster::parse_members_text(members));
    } else {
        drop(view);
        links.refused(format!(
            "member list from node {from} (term {term}) ignored: it is not the meta group's leader of that term"
        ));
    }
}

/// Forwarded commands of one peer connection still running here, by the caller's id: a
/// `ForwardCancel` (or the connection's end) aborts one, which drops its reply channel, and
/// a blocked command whose channel is closed is withdrawn before anything is popped for it.
#[derive(Clone, Default)]
struct Forwarded(Arc<std::sync::Mutex<HashMap<u64, tokio::task::AbortHandle>>>);

impl Forwarded {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, tokio::task::AbortHandle>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Acts on a frame from member `from` (its `Hello` was accepted). What a frame says of its
/// sender must be the caller itself: a member cannot speak for another.
fn handle_frame(
    from: NodeId,
    frame: Frame,
    node: &SyncSender<Input>,
    replies: &mpsc::Sender<Frame>,
    view: &SharedView,
    forwarded: &Forwarded,
    links: &Links,
) {
    match frame {
        Frame::Raft { group, message } => {
            if crate::cluster::node_of(message.from) == from {
                let _ = node.try_send(Input::Peer { group, message });
            }
        }
        Frame::Report(reports) => {
            let mut view = crate::cluster::lock(view);
            for report in reports.into_iter().filter(|r| r.leader == from) {
                view.accept(report);
            }
        }
        Frame::Health {
            from: sender,
            fsync_us,
            lag_us,
            loss_permille,
            sick,
        } if sender == from => {
            crate::cluster::lock(view).heard_health(
                from,
                crate::health::Health {
                    fsync_us,
                    lag_us,
                    loss_permille,
                    sick,
                },
            );
        }
        Frame::Health { .. } => {}
        Frame::Members {
            term,
            index,
            members,
        } => take_members(from, term, index, &members, view, links),
        Frame::Forward { id, resp3, args } => {
            let groups = crate::cluster::lock(view).groups;
            run_forward(id, resp3, args, groups, node, replies, forwarded);
        }
        Frame::ForwardCancel { id } => {
            if let Some(task) = forwarded.lock().remove(&id) {
                task.abort();
            }
        }
        Frame::Publish {
            shard,
            channel,
            message,
        } => {
            // Pub/Sub is at-most-once and counts receivers per node: nothing goes back.
            links.pubsub.publish(&channel, &message, shard);
        }
        Frame::Hello { .. } | Frame::ForwardReply { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a replaced connection cannot mark its successor down (the stale link flag of
    // issue 13: node 1 answered CLUSTERDOWN for node 3's keys until restarted). Method: two
    // connections to node 3 in turn; the first one's end is reported after the second is up.
    #[test]
    fn a_replaced_connection_cannot_mark_the_new_one_down() {
        let forwards = Forwards::default();
        let old = forwards.link_up(3);
        let new = forwards.link_up(3);
        let (_, reply) = forwards.register(3);
        assert!(
            !forwards.link_down(3, old),
            "the old connection is not current"
        );
        assert!(forwards.is_up(3), "the new connection stays up");
        assert!(
            forwards.waiting.lock().expect("lock").len() == 1,
            "its forward still waits"
        );
        assert!(forwards.link_down(3, new));
        assert!(!forwards.is_up(3));
        let mut reply = reply;
        let failed = reply
            .try_recv()
            .expect("answered when the current link went down");
        assert!(failed.starts_with(b"-"), "{failed:?}");
    }

    // Goal: big frames wait for the shared budget instead of growing memory; small ones do
    // not need it. Method: a budget smaller than one big frame's claim: the small frame is
    // read, the big one's reader is still waiting after its bytes arrived.
    #[tokio::test]
    async fn big_frames_wait_for_the_budget() {
        let budget = Arc::new(Semaphore::new(FREE_FRAME_BYTES * 2));
        let mut bytes = BytesMut::new();
        wire::encode(&Frame::ForwardCancel { id: 1 }, &mut bytes);
        wire::encode(
            &Frame::ForwardReply {
                id: 2,
                reply: Bytes::from(vec![7; FREE_FRAME_BYTES * 3]),
            },
            &mut bytes,
        );
        let (mut near, far) = tokio::io::duplex(1 << 20);
        near.write_all(&bytes).await.expect("write");
        let mut reader = FrameReader::new(far, wire::FRAME_SIZE_MAX, &budget);
        assert_eq!(
            reader.next().await,
            Ok(Some(Frame::ForwardCancel { id: 1 }))
        );
        let waiting = tokio::time::timeout(Duration::from_millis(200), reader.next()).await;
        assert!(waiting.is_err(), "the big frame waits for budget");
        budget.add_permits(FREE_FRAME_BYTES * 2);
        let frame = reader.next().await.expect("decodes").expect("a frame");
        assert!(matches!(frame, Frame::ForwardReply { id: 2, .. }));
        assert_eq!(budget.available_permits(), FREE_FRAME_BYTES * 4, "returned");
    }
}
