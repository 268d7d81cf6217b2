//! Links between servers. Each server dials every other member and sends its Raft messages
//! and forwarded commands on that connection; it accepts the others' connections and reads
//! their frames. Replies to forwarded commands travel back on the connection they came on.
//! Queues are bounded: when one is full the frame is dropped (Raft retransmits).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use raft::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::cluster::SharedView;
use crate::driver::{Input, Outcome};
use crate::wire::{self, Frame};

/// Frames queued per peer at most.
pub const PEER_QUEUE_MAX: usize = 8_192;

/// Forwarded commands waiting for the leader's reply.
#[derive(Default)]
pub struct Forwards {
    next_id: AtomicU64,
    /// id -> (the leader it went to, where its reply goes).
    waiting: Mutex<HashMap<u64, (NodeId, oneshot::Sender<Bytes>)>>,
    /// Peers whose link is connected now: forwarding to another is refused at once.
    links_up: Mutex<std::collections::BTreeSet<NodeId>>,
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
            .contains(&peer)
    }

    fn set_up(&self, peer: NodeId, up: bool) {
        let mut links = self.links_up.lock().unwrap_or_else(|p| p.into_inner());
        if up {
            links.insert(peer);
        } else {
            links.remove(&peer);
        }
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

/// The outgoing links: one queue and one dialer per other member. Members that join later
/// get theirs when this node learns of them ([`Peers::connect`]).
pub struct Peers {
    me: NodeId,
    queues: Mutex<std::collections::BTreeMap<NodeId, (std::net::SocketAddr, mpsc::Sender<Frame>)>>,
    forwards: Arc<Forwards>,
    runtime: tokio::runtime::Handle,
}

impl Peers {
    /// Must be called inside the tokio runtime (dialers run on it).
    pub fn new(me: NodeId, forwards: &Arc<Forwards>) -> Arc<Peers> {
        Arc::new(Peers {
            me,
            queues: Mutex::new(std::collections::BTreeMap::new()),
            forwards: Arc::clone(forwards),
            runtime: tokio::runtime::Handle::current(),
        })
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
            self.runtime.spawn(dial(
                self.me,
                id,
                member.peer,
                receiver,
                Arc::clone(&self.forwards),
            ));
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

    pub fn has(&self, node: NodeId) -> bool {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&node)
    }
}

/// Keeps one connection to a peer up, writing queued frames in batches.
async fn dial(
    me: NodeId,
    peer: NodeId,
    address: std::net::SocketAddr,
    mut queue: mpsc::Receiver<Frame>,
    forwards: Arc<Forwards>,
) {
    loop {
        if queue.is_closed() {
            return; // replaced by a dialer to the member's new address
        }
        let Ok(stream) = TcpStream::connect(address).await else {
            forwards.set_up(peer, false);
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Frames queued while the peer is unreachable are stale by now: drop them, and
            // answer any forward among them (sent in the moment the link went down).
            while queue.try_recv().is_ok() {}
            forwards.fail_all_to(peer);
            continue;
        };
        forwards.set_up(peer, true);
        let _ = stream.set_nodelay(true);
        let (reader, mut writer) = stream.into_split();
        let reader_task = tokio::spawn(read_replies(reader, peer, Arc::clone(&forwards)));
        let mut out = BytesMut::new();
        wire::encode(&Frame::Hello { from: me }, &mut out);
        loop {
            if writer.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
            let Some(frame) = queue.recv().await else {
                return;
            };
            wire::encode(&frame, &mut out);
            while out.len() < (1 << 20) {
                match queue.try_recv() {
                    Ok(frame) => wire::encode(&frame, &mut out),
                    Err(_) => break,
                }
            }
        }
        reader_task.abort();
        forwards.set_up(peer, false);
        forwards.fail_all_to(peer);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the leader's replies to commands forwarded on this connection.
async fn read_replies(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    peer: NodeId,
    forwards: Arc<Forwards>,
) {
    let mut buffer = BytesMut::with_capacity(64 << 10);
    loop {
        loop {
            match wire::decode(&mut buffer) {
                Ok(Some(Frame::ForwardReply { id, reply })) => forwards.complete(id, reply),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return forwards.fail_all_to(peer),
            }
        }
        match reader.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => {
                forwards.set_up(peer, false);
                return forwards.fail_all_to(peer);
            }
            Ok(_) => {}
        }
    }
}

/// Accepts the other servers' connections.
pub async fn accept(
    listener: TcpListener,
    node: SyncSender<Input>,
    view: SharedView,
    log: Arc<dyn Fn(String) + Send + Sync>,
) {
    let mut backoff = crate::AcceptBackoff::new();
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            backoff.failed().await;
            continue;
        };
        backoff.succeeded();
        let _ = stream.set_nodelay(true);
        let node = node.clone();
        let view = Arc::clone(&view);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            if let Err(error) = serve_peer(stream, node, view).await {
                log(format!("peer connection from {remote} closed: {error}"));
            }
        });
    }
}

async fn serve_peer(
    stream: TcpStream,
    node: SyncSender<Input>,
    view: SharedView,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let (replies, mut reply_queue) = mpsc::channel::<Frame>(PEER_QUEUE_MAX);
    let writer_task = tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(frame) = reply_queue.recv().await {
            out.clear();
            wire::encode(&frame, &mut out);
            if writer.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    let mut buffer = BytesMut::with_capacity(64 << 10);
    let mut caller = None;
    let forwarded = Forwarded::default();
    let result = loop {
        match wire::decode(&mut buffer) {
            Ok(Some(frame)) => {
                if let Frame::Hello { from } = frame {
                    caller = Some(from);
                }
                if let Some(from) = caller {
                    crate::cluster::lock(&view).heard(from);
                }
                handle_frame(frame, &node, &replies, &view, &forwarded);
            }
            Ok(None) => match reader.read_buf(&mut buffer).await {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(error) => break Err(error.to_string()),
            },
            Err(error) => break Err(error),
        }
    };
    writer_task.abort();
    // The caller is gone: its blocked clients are too.
    for (_, task) in forwarded.lock().drain() {
        task.abort();
    }
    result
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

fn handle_frame(
    frame: Frame,
    node: &SyncSender<Input>,
    replies: &mpsc::Sender<Frame>,
    view: &SharedView,
    forwarded: &Forwarded,
) {
    match frame {
        Frame::Raft { group, message } => {
            let _ = node.try_send(Input::Peer { group, message });
        }
        Frame::Report(reports) => {
            let mut view = crate::cluster::lock(view);
            for report in reports {
                view.accept(report);
            }
        }
        Frame::Health {
            from,
            fsync_us,
            lag_us,
            loss_permille,
            sick,
        } => {
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
        Frame::Members {
            term,
            index,
            members,
        } => {
            crate::cluster::lock(view)
                .update_members((term, index), crate::cluster::parse_members_text(&members));
        }
        Frame::Forward { id, resp3, args } => {
            let node = node.clone();
            let replies = replies.clone();
            let groups = crate::cluster::lock(view).groups;
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
                    Outcome::NotLeader(_) => resp::Value::Error(format!(
                        "{}; retry",
                        &crate::client::NOT_LEADER_THERE[1..]
                    )),
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
        Frame::ForwardCancel { id } => {
            if let Some(task) = forwarded.lock().remove(&id) {
                task.abort();
            }
        }
        Frame::Hello { .. } | Frame::ForwardReply { .. } => {}
    }
}
