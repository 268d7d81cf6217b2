//! One Redis client connection: parse commands (pipelined), run connection-level commands
//! here, send keyspace commands to the node thread, and reply in the client's protocol.
//! A command that reaches a follower is forwarded to the leader over the peer link for plain
//! clients, or answered `-MOVED` for cluster-aware ones (those that asked for the slot map).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use keyspace::Kind;
use resp::{Protocol, Value};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::cluster::{self, GroupId, SharedView};
use crate::command::Operation;
use crate::driver::{Input, Outcome, Status};
use crate::limits::{OutputVerdict, OutputWatch};
use crate::peer::Forwards;
use crate::pipeline::{Next, Pipeline, Routed};
use crate::wire::Frame;

/// The first argument of a forwarded transaction (never a Redis command name).
const FORWARDED_EXEC: &[u8] = b"\0ninesdb-exec";
/// The first argument of a forwarded command for a named group (never a Redis command name).
pub const FORWARDED_GROUP: &[u8] = b"\0ninesdb-group";
/// How long a command may wait for the node thread before the client hears `-TRYAGAIN`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);
/// Reply bytes buffered per connection before they are written, whatever is still queued
/// in the pipeline: with a client that stops reading, what this node holds for it is bounded
/// by this, the query buffer and one reply.
const OUTPUT_FLUSH_BYTES: usize = 64 << 10;
/// Bytes a blocked client may send ahead before this node stops reading them (Redis also
/// leaves a blocked client's further commands unread until it is served).
const BLOCKED_INPUT_MAX: usize = 1 << 20;

/// How `CLIENT UNBLOCK` ends a blocked client's wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout ran out.
    Timeout,
    /// With `-UNBLOCKED`.
    Error,
}

/// What every connection shares.
pub struct Shared {
    pub config: crate::config::ServerConfig,
    /// The members the cluster was created with.
    pub seed: std::collections::BTreeMap<raft::NodeId, crate::config::Member>,
    /// The placement the cluster was created with (`plan[g]`, preferred leader first).
    pub plan: Vec<Vec<raft::NodeId>>,
    pub node: SyncSender<Input>,
    pub peers: Arc<crate::peer::Peers>,
    pub forwards: Arc<Forwards>,
    pub view: SharedView,
    pub next_client_id: AtomicU64,
    pub clients: AtomicUsize,
    pub started: Instant,
    /// Clients of this node blocked now (BLPOP and kin), by client id: CLIENT UNBLOCK
    /// reaches them here, INFO counts them.
    pub blocked: std::sync::Mutex<std::collections::HashMap<u64, oneshot::Sender<Unblock>>>,
    /// `SHUTDOWN` asks the server to stop, as SIGTERM does.
    pub stop: tokio::sync::Notify,
    /// This node's copy of the cluster's users.
    pub users: crate::users::Users,
    /// ACL LOG: this node's refusals (not replicated, as in Redis Cluster).
    pub acl_log: std::sync::Mutex<acl::AclLog>,
    /// This node's Pub/Sub subscribers (shared with the peer links, which deliver what
    /// other members publish).
    pub pubsub: Arc<crate::pubsub::Registry>,
    /// Calls, time and errors per command, and the slow log.
    pub stats: crate::stats::Stats,
    /// LATENCY's events.
    pub latency: crate::latency::Monitor,
    /// Open connections (CLIENT LIST, CLIENT KILL).
    pub connections: Arc<crate::clients::Registry>,
}

/// Per-connection state.
struct Connection {
    id: u64,
    protocol: Protocol,
    name: Option<Bytes>,
    /// Commands queued since MULTI; `None` outside a transaction.
    multi: Option<Vec<Vec<Bytes>>>,
    /// A command queued in MULTI was refused: EXEC must abort.
    multi_failed: bool,
    watched: Vec<(Bytes, u64)>,
    /// The client asked for the slot map: it follows `-MOVED` itself.
    cluster_aware: bool,
    /// `READONLY`: reads may be served by a follower within the staleness bound.
    readonly: bool,
    /// Who the client is (AUTH / HELLO AUTH).
    identity: crate::users::Identity,
    /// Its channels and patterns.
    pubsub: crate::pubsub::Session,
    /// Where its Pub/Sub messages arrive, once it has subscribed.
    inbox: Option<crate::pubsub::Inbox>,
}

/// Serves one client until it closes, sends QUIT, breaks the protocol or is killed (CLIENT
/// KILL). `peer` and `local` are its addresses, for CLIENT LIST.
pub async fn serve<S>(
    stream: S,
    shared: Arc<Shared>,
    peer: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed) + 1;
    let (_registration, kill) = shared.connections.register(id, peer, local);
    let connection = Connection {
        id,
        protocol: Protocol::Resp2,
        name: None,
        multi: None,
        multi_failed: false,
        watched: Vec::new(),
        cluster_aware: false,
        readonly: false,
        identity: crate::users::Identity::new(shared.users.get().as_deref()),
        pubsub: crate::pubsub::Session::new(id, Arc::clone(&shared.pubsub)),
        inbox: None,
    };
    let parser = resp::Parser::new(resp::Limits {
        query_buffer_max: shared.config.query_buffer_limit,
        ..resp::Limits::default()
    });
    let output = Output {
        bytes: BytesMut::with_capacity(16 << 10),
        watch: OutputWatch::new(shared.config.output_limit_normal),
    };
    let mut client = Client {
        stream,
        connection,
        parser,
        input: BytesMut::with_capacity(16 << 10),
        output,
        pipeline: Pipeline::default(),
        shared,
    };
    tokio::select! {
        () = client.run() => {}
        () = kill.notified() => {}
    }
}

/// What the parse loop left to do.
enum Parsed {
    /// Wait for replies in flight or for more input.
    More,
    /// QUIT: write what is left, then close.
    Quit,
    Close,
}

/// One connection's state and its socket.
struct Client<S> {
    stream: S,
    connection: Connection,
    parser: resp::Parser,
    input: BytesMut,
    output: Output,
    /// Keyed commands sent to the node thread and not answered yet (see `crate::pipeline`).
    pipeline: Pipeline,
    shared: Arc<Shared>,
}

impl<S> Client<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    async fn run(&mut self) {
        loop {
            match self.run_parsed().await {
                Parsed::More => {}
                Parsed::Quit => {
                    let _ = self.output.flush(&mut self.stream).await;
                    return;
                }
                Parsed::Close => return,
            }
            if !self.pipeline.is_empty() {
                if !self.await_pipeline().await {
                    return;
                }
                continue;
            }
            if self.connection.inbox.is_some() {
                // A subscriber: messages are written as the socket takes them, under the
                // pubsub output limit, while its commands are read (no idle timeout, as Redis).
                if !wait_subscribed(
                    &mut self.stream,
                    &mut self.connection,
                    &mut self.input,
                    &mut self.output.bytes,
                    &mut self.output.watch,
                )
                .await
                {
                    return;
                }
                continue;
            }
            if !self.output.flush(&mut self.stream).await || !self.read_idle().await {
                return;
            }
        }
    }

    /// Reads more input, within Redis's `timeout` for idle clients (0: never); `false` if
    /// the client hung up or was idle too long.
    async fn read_idle(&mut self) -> bool {
        let read = self.stream.read_buf(&mut self.input);
        let read = match self.shared.config.idle_timeout_s {
            0 => read.await,
            seconds => match tokio::time::timeout(Duration::from_secs(seconds), read).await {
                Ok(read) => read,
                Err(_) => return false,
            },
        };
        matches!(read, Ok(n) if n > 0)
    }

    /// Runs or sends on every complete command in the input, while the pipeline has room.
    async fn run_parsed(&mut self) -> Parsed {
        while !self.pipeline.is_full() {
            let args = match self.parser.parse(&mut self.input) {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(error) => {
                    // The commands before the bad bytes are answered first, as Redis does.
                    if self.finish_pipeline().await {
                        let value = Value::Error(error.to_string());
                        resp::encode(&value, self.connection.protocol, &mut self.output.bytes);
                        let _ = self.output.flush(&mut self.stream).await;
                    }
                    return Parsed::Close;
                }
            };
            let done = match pipelinable(&mut self.connection, args, &self.shared) {
                Ok(Prepared::Reply(reply)) => {
                    self.pipeline.push_done(reply);
                    true
                }
                Ok(Prepared::Routed(routed)) => self.send(routed).await,
                Err(args) => {
                    if !self.finish_pipeline().await {
                        return Parsed::Close;
                    }
                    match self.run_alone(args).await {
                        Parsed::More => true,
                        other => return other,
                    }
                }
            };
            if !done {
                return Parsed::Close;
            }
        }
        Parsed::More
    }

    /// Sends a keyed command to the node thread behind the ones in flight, once those of
    /// the other kind for its group are answered. `false` if the connection must close.
    async fn send(&mut self, routed: Routed) -> bool {
        while self.pipeline.conflicts(&routed) {
            match self.pipeline.next().await {
                Some(next) => {
                    if !self.deliver(next).await {
                        return false;
                    }
                }
                None => break,
            }
        }
        let mut routed = routed;
        loop {
            match self
                .pipeline
                .submit(routed, &self.shared.node, COMMAND_TIMEOUT)
            {
                Ok(()) => return true,
                // The node's queue is full: this connection waits for its own commands
                // first, and hears BUSY only with none in flight (as before pipelining).
                Err(back) => match self.pipeline.next().await {
                    Some(next) => {
                        if !self.deliver(next).await {
                            return false;
                        }
                        routed = back;
                    }
                    None => {
                        self.pipeline
                            .push_done(encode(&busy(), self.connection.protocol));
                        return true;
                    }
                },
            }
        }
    }

    /// Runs a command that does not pipeline, with nothing in flight (as before pipelining).
    async fn run_alone(&mut self, args: Vec<Bytes>) -> Parsed {
        let quit = is_quit(&args);
        let reply = if self.connection.multi.is_none() && crate::blocking::is_blocking(&args) {
            // Earlier pipelined replies go out before this one waits.
            if !self.output.flush(&mut self.stream).await {
                return Parsed::Close;
            }
            match wait_blocked(
                &mut self.connection,
                args,
                &self.shared,
                &mut self.stream,
                &mut self.input,
            )
            .await
            {
                Some(reply) => reply,
                None => return Parsed::Close,
            }
        } else {
            handle(&mut self.connection, args, &self.shared).await
        };
        if quit {
            self.output.bytes.extend_from_slice(&reply);
            return Parsed::Quit;
        }
        if self.push(&reply).await {
            Parsed::More
        } else {
            Parsed::Close
        }
    }

    /// Writes the replies already in, then waits for the next one or for more input (while
    /// the pipeline has room). `false` if the connection must close.
    async fn await_pipeline(&mut self) -> bool {
        while let Some(next) = self.pipeline.try_next() {
            if !self.deliver(next).await {
                return false;
            }
        }
        if self.pipeline.is_empty() {
            return true;
        }
        if !self.output.flush(&mut self.stream).await {
            return false;
        }
        let room = !self.pipeline.is_full();
        let read = tokio::select! {
            next = self.pipeline.next() => match next {
                Some(next) => return self.deliver(next).await,
                None => return true,
            },
            read = self.stream.read_buf(&mut self.input), if room => read,
        };
        match read {
            Ok(n) if n > 0 => true,
            // The client closed its side: it still gets what it asked for.
            _ => {
                if self.finish_pipeline().await {
                    let _ = self.output.flush(&mut self.stream).await;
                }
                false
            }
        }
    }

    /// Waits for every command in flight and delivers its reply. `false` if the connection
    /// must close.
    async fn finish_pipeline(&mut self) -> bool {
        while let Some(next) = self.pipeline.next().await {
            if !self.deliver(next).await {
                return false;
            }
        }
        true
    }

    /// Puts the head's reply in the output; one this node does not lead goes the slow way
    /// (forwarded, or `-MOVED`) now, before anything after it.
    async fn deliver(&mut self, next: Next) -> bool {
        let protocol = self.connection.protocol;
        let reply = match next {
            Next::Encoded(reply) => reply,
            Next::Outcome(Outcome::Reply(value), routed) => {
                let error = match &value {
                    Value::Error(text) => Some(text.as_str()),
                    _ => None,
                };
                count_command(
                    &self.shared,
                    &self.connection,
                    &routed.args,
                    routed.started.elapsed(),
                    error,
                );
                resp::encode(&value, protocol, &mut self.output.bytes);
                return self.after_reply().await;
            }
            Next::Outcome(first, routed) => {
                // It waits for another node now: what is ready goes out first.
                if !self.output.flush(&mut self.stream).await {
                    return false;
                }
                let cluster_aware = self.connection.cluster_aware;
                let (args, started) = (routed.args.clone(), routed.started);
                let reply = route_command(
                    protocol,
                    cluster_aware,
                    &self.shared,
                    routed,
                    false,
                    Some(first),
                )
                .await;
                let error = error_text(&reply);
                count_command(
                    &self.shared,
                    &self.connection,
                    &args,
                    started.elapsed(),
                    error.as_deref(),
                );
                reply
            }
            Next::TimedOut => encode(
                &Value::Error(crate::driver::UNKNOWN_OUTCOME.to_owned()),
                protocol,
            ),
        };
        self.push(&reply).await
    }

    /// Appends a reply to the output and applies the output rules.
    async fn push(&mut self, reply: &[u8]) -> bool {
        self.output.bytes.extend_from_slice(reply);
        self.after_reply().await
    }

    async fn after_reply(&mut self) -> bool {
        self.output
            .after_reply(&mut self.stream, &self.connection, &self.shared)
            .await
    }
}

/// Replies not written yet, and the output limit of the connection's class.
struct Output {
    bytes: BytesMut,
    watch: OutputWatch,
}

impl Output {
    /// Writes everything; `false` if the connection broke.
    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> bool {
        if self.bytes.is_empty() {
            return true;
        }
        if stream.write_all(&self.bytes).await.is_err() {
            return false;
        }
        self.bytes.clear();
        true
    }

    /// After a reply went into the output. `false` if the connection must close.
    async fn after_reply<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        connection: &Connection,
        shared: &Shared,
    ) -> bool {
        // Redis's client classes: a client with a subscription is `pubsub`.
        let class = output_class(connection, shared);
        if self.watch.limit() != class {
            self.watch = OutputWatch::new(class);
        }
        if self.watch.limit().is_set() {
            // Redis's model: replies wait here while the socket is full, up to the client's
            // output limit, past which it is disconnected.
            if write_ready(stream, &mut self.bytes).is_err() {
                return false;
            }
            if let OutputVerdict::Close(why) = self.watch.check(self.bytes.len(), Instant::now()) {
                log_output_limit_close(connection.id, &why);
                return false;
            }
            true
        } else if self.bytes.len() >= OUTPUT_FLUSH_BYTES {
            // No limit set: a deep pipeline's replies go out as they accumulate, and a
            // client that does not read stalls its own connection here (TCP backpressure)
            // instead of growing this buffer without bound.
            self.flush(stream).await
        } else {
            true
        }
    }
}

/// Redis's line for a client closed at its output limit (a warning there too).
fn log_output_limit_close(client: u64, why: &str) {
    tracing::warn!("client id={client} closed for overcoming of output buffer limits: {why}");
}

/// The output limit of the connection's class now.
fn output_class(connection: &Connection, shared: &Shared) -> crate::limits::OutputLimit {
    if connection.pubsub.subscribed() {
        shared.config.output_limit_pubsub
    } else {
        shared.config.output_limit_normal
    }
}

/// Waits, for a connection that has subscribed, until it sends more (`true`) or must close
/// (`false`: it hung up, or its pending messages passed the output limit); meanwhile
/// moves published messages to `output` and writes them as the socket takes them.
async fn wait_subscribed<S>(
    stream: &mut S,
    connection: &mut Connection,
    input: &mut BytesMut,
    output: &mut BytesMut,
    output_watch: &mut OutputWatch,
) -> bool
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin + Send,
{
    let protocol = connection.protocol;
    let Some(inbox) = connection.inbox.as_mut() else {
        return true;
    };
    let close = |why: String| {
        log_output_limit_close(connection.id, &why);
        false
    };
    loop {
        if write_ready(stream, output).is_err() {
            return false;
        }
        if let OutputVerdict::Close(why) = output_watch.check(output.len(), Instant::now()) {
            return close(why);
        }
        let (mut reader, mut writer) = tokio::io::split(&mut *stream);
        let received = tokio::select! {
            read = reader.read_buf(input) => match read {
                Ok(0) | Err(_) => return false,
                Ok(_) => None,
            },
            written = writer.write(output), if !output.is_empty() => match written {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    bytes::Buf::advance(output, n);
                    continue;
                }
            },
            // Without an output limit (`pubsub 0 0 0`) the output still stops growing here:
            // the mailbox then fills to its own cap, so a subscriber holds at most both.
            received = inbox.recv(), if output.len() < crate::pubsub::MAILBOX_BYTES_MAX => Some(received),
        };
        // Messages published before the client's next command are answered before it,
        // as Redis writes them to the output buffer at once; a burst is taken in one go.
        let mut next = received.or_else(|| {
            (output.len() < crate::pubsub::MAILBOX_BYTES_MAX)
                .then(|| inbox.try_recv())
                .flatten()
        });
        let mut taken = 0;
        while let Some(received) = next {
            match received {
                crate::pubsub::Received::Message(delivery) => {
                    resp::encode(&delivery.value(), protocol, output)
                }
                crate::pubsub::Received::Overflowed => {
                    return close(format!(
                        "more than {} bytes of messages waited for it",
                        output_watch.limit().hard.max(1)
                    ))
                }
            }
            taken += 1;
            next = if taken < 1024 && output.len() < crate::pubsub::MAILBOX_BYTES_MAX {
                inbox.try_recv()
            } else {
                None
            };
        }
        if !input.is_empty() {
            return true;
        }
    }
}

/// Writes what the connection takes now without waiting (the rest stays in `output`): one
/// poll of the write with a waker that does nothing, since nothing here waits for it.
fn write_ready<S: AsyncWrite + Unpin>(
    stream: &mut S,
    output: &mut BytesMut,
) -> std::io::Result<()> {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    while !output.is_empty() {
        match std::pin::Pin::new(&mut *stream).poll_write(&mut context, output) {
            std::task::Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            std::task::Poll::Ready(Ok(n)) => bytes::Buf::advance(output, n),
            std::task::Poll::Ready(Err(e)) => return Err(e),
            std::task::Poll::Pending => break,
        }
    }
    Ok(())
}

/// Runs a blocking command while watching the socket and CLIENT UNBLOCK: a client that
/// hangs up or is unblocked stops waiting, and dropping its wait withdraws it at the leader
/// (its reply channel closes, or the forward is cancelled), so no element is popped for a
/// client that is gone. `None` if the client hung up.
async fn wait_blocked<S: tokio::io::AsyncRead + AsyncWrite + Unpin>(
    connection: &mut Connection,
    args: Vec<Bytes>,
    shared: &Shared,
    stream: &mut S,
    input: &mut BytesMut,
) -> Option<Bytes> {
    let (id, protocol) = (connection.id, connection.protocol);
    let (unblock, mut unblocked) = oneshot::channel();
    lock_blocked(shared).insert(id, unblock);
    let timed_out = crate::blocking::timed_out(&args);
    // A subscriber (RESP3) keeps getting its messages while it waits, as in Redis.
    let mut inbox = connection.inbox.take();
    let mut pushes = BytesMut::new();
    let (mut reader, mut writer) = tokio::io::split(&mut *stream);
    // The command's future borrows the connection: it ends with this block.
    let reply = {
        let work = handle(connection, args, shared);
        tokio::pin!(work);
        loop {
            tokio::select! {
                reply = &mut work => break Some(reply),
                how = &mut unblocked => {
                    let value = match how {
                        Ok(Unblock::Error) => Value::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".to_owned()),
                        _ => timed_out,
                    };
                    break Some(encode(&value, protocol));
                }
                read = reader.read_buf(input), if input.len() < BLOCKED_INPUT_MAX => match read {
                    Ok(0) | Err(_) => break None,
                    Ok(_) => {}
                },
                received = recv_some(&mut inbox), if pushes.len() < crate::pubsub::MAILBOX_BYTES_MAX => match received {
                    crate::pubsub::Received::Message(delivery) => resp::encode(&delivery.value(), protocol, &mut pushes),
                    crate::pubsub::Received::Overflowed => break None,
                },
                written = writer.write(&pushes), if !pushes.is_empty() => match written {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => bytes::Buf::advance(&mut pushes, n),
                },
            }
        }
    };
    lock_blocked(shared).remove(&id);
    connection.inbox = inbox;
    // Messages not written yet go out before the reply.
    reply.map(|reply| {
        if pushes.is_empty() {
            reply
        } else {
            pushes.extend_from_slice(&reply);
            pushes.freeze()
        }
    })
}

/// The next delivery of `inbox`; never, without one.
async fn recv_some(inbox: &mut Option<crate::pubsub::Inbox>) -> crate::pubsub::Received {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

pub fn lock_blocked(
    shared: &Shared,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, oneshot::Sender<Unblock>>> {
    shared
        .blocked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long to wait for a command's outcome: a blocking command waits its own timeout
/// first (for ever if 0).
fn reply_limit(args: &[Bytes]) -> Option<Duration> {
    if !crate::blocking::is_blocking(args) {
        return Some(COMMAND_TIMEOUT);
    }
    match crate::blocking::timeout(args) {
        Some(Some(timeout)) => Some(timeout + COMMAND_TIMEOUT),
        Some(None) => None,
        None => Some(COMMAND_TIMEOUT),
    }
}

/// Waits for `receiver` up to `limit` (`None`: no limit); `None` if it timed out or closed.
async fn wait_for<T>(limit: Option<Duration>, receiver: oneshot::Receiver<T>) -> Option<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, receiver).await.ok()?.ok(),
        None => receiver.await.ok(),
    }
}

fn is_quit(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"quit"))
}

fn encode(value: &Value, protocol: Protocol) -> Bytes {
    let mut out = BytesMut::new();
    resp::encode(value, protocol, &mut out);
    out.freeze()
}

/// A script or function call without keys runs once, on the group of slot 0 (Redis Cluster
/// runs it on the node asked): fanned out like other keyless commands, it would run once per
/// group.
fn keyless_script_slot(name: &str) -> Option<u16> {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
    .then_some(0)
}

/// A command sent without waiting for the ones before it: its route, or a refusal.
enum Prepared {
    Reply(Bytes),
    Routed(Routed),
}

/// Commands with keys that still run alone: they change the connection, wait, or run code
/// whose reach a pipeline could not follow.
fn runs_alone(name: &str) -> bool {
    matches!(
        name,
        "multi" | "exec" | "discard" | "watch" | "unwatch" | "reset" | "quit" | "ninesdb"
    ) || matches!(
        name,
        "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "fcall"
            | "fcall_ro"
            | "function"
            | "script"
    ) || crate::pubsub::is_command(name)
}

/// A keyed keyspace command of a plain connection state (no MULTI, no subscription, not a
/// READONLY read) may go to the node thread behind the ones in flight (see
/// `crate::pipeline`): its route, or its ACL refusal. `Err` gives back every other command:
/// it runs alone, through [`handle`], as before.
fn pipelinable(
    connection: &mut Connection,
    args: Vec<Bytes>,
    shared: &Shared,
) -> Result<Prepared, Vec<Bytes>> {
    if connection.multi.is_some() || connection.pubsub.subscribed() || connection.inbox.is_some() {
        return Err(args);
    }
    let Ok(spec) = keyspace::check(&args) else {
        return Err(args);
    };
    if runs_alone(spec.name) || crate::blocking::is_blocking(&args) {
        return Err(args);
    }
    let read = spec.kind == Kind::Read;
    if read && connection.readonly {
        return Err(args);
    }
    let Ok(Some(slot)) = cluster::command_slot(&args, shared.config.group_count()) else {
        return Err(args);
    };
    if let Err(refusal) = admit(connection, &args, shared) {
        return Ok(Prepared::Reply(encode(&refusal, connection.protocol)));
    }
    Ok(Prepared::Routed(Routed {
        target: Target::slot(slot, shared),
        args,
        read,
        started: Instant::now(),
    }))
}

/// Runs one command and counts it (INFO commandstats, `/metrics`, SLOWLOG); returns the
/// encoded reply. A blocking command is counted with no time: its wait is not work, and
/// Redis keeps it out of the slow log too.
async fn handle(connection: &mut Connection, args: Vec<Bytes>, shared: &Shared) -> Bytes {
    let started = Instant::now();
    let blocking = crate::blocking::is_blocking(&args);
    let counted = args.clone();
    let reply = run_command(connection, args, shared).await;
    let took = if blocking {
        std::time::Duration::ZERO
    } else {
        started.elapsed()
    };
    count_command(
        shared,
        connection,
        &counted,
        took,
        error_text(&reply).as_deref(),
    );
    reply
}

/// Counts a command that took `took` (INFO commandstats, `/metrics`, SLOWLOG, LATENCY).
fn count_command(
    shared: &Shared,
    connection: &Connection,
    args: &[Bytes],
    took: Duration,
    error: Option<&str>,
) {
    let name = connection
        .name
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    shared.connections.touch(
        connection.id,
        &crate::clients::Activity {
            name: connection.name.as_ref(),
            user: &connection.identity.user,
            resp: if connection.protocol == Protocol::Resp3 {
                3
            } else {
                2
            },
            command: args.first().map_or(&b""[..], |a| &a[..]),
            subscriber: connection.pubsub.subscribed(),
        },
    );
    let flags = acl::commands::lookup_args(args).map_or(0, |m| m.flags);
    shared.stats.record(
        args,
        took,
        error,
        &crate::stats::Caller {
            peer: "",
            name: &name,
        },
        flags & acl::commands::flag::SKIP_SLOWLOG == 0,
    );
    shared.latency.observe_command(
        flags & acl::commands::flag::FAST != 0,
        took.as_millis() as u64,
        crate::driver::wall_clock_ms() / 1000,
    );
}

/// An encoded reply's error text, if it is an error (`-ERR ...` or RESP3's `!<len>`).
fn error_text(reply: &[u8]) -> Option<String> {
    match reply.first() {
        Some(b'-') => {
            let end = reply
                .iter()
                .position(|&b| b == b'\r')
                .unwrap_or(reply.len());
            Some(String::from_utf8_lossy(&reply[1..end]).into_owned())
        }
        Some(b'!') => {
            let start = reply
                .iter()
                .position(|&b| b == b'\n')
                .map_or(reply.len(), |i| i + 1);
            let end = reply.len().saturating_sub(2).max(start);
            Some(String::from_utf8_lossy(&reply[start..end]).into_owned())
        }
        _ => None,
    }
}

/// Runs one command; returns the encoded reply.
async fn run_command(connection: &mut Connection, args: Vec<Bytes>, shared: &Shared) -> Bytes {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let pubsub = crate::pubsub::is_command(&name);
    if pubsub {
        if let Err(error) = crate::pubsub::check_arity(&args) {
            return encode(&error, connection.protocol);
        }
    }
    if shared.users.get().is_none() {
        // A node just started: its first commands wait for the users rather than fail.
        shared
            .users
            .wait_first_read(crate::users::FIRST_READ_PATIENCE)
            .await;
    }
    if let Err(refusal) = admit(connection, &args, shared) {
        if connection.multi.is_some() {
            connection.multi_failed = true;
        }
        return encode(&refusal, connection.protocol);
    }
    if connection.pubsub.subscribed() && connection.protocol == Protocol::Resp2 {
        if let Some(refusal) = crate::pubsub::subscriber_mode_refusal(&name, &args) {
            return encode(&refusal, connection.protocol);
        }
        if name == "ping" && args.len() <= 2 {
            // pubsub.c: a RESP2 subscriber's PING is answered in the message format.
            let payload = args.get(1).cloned().unwrap_or_default();
            return encode(
                &Value::Array(vec![
                    Value::Bulk(Bytes::from_static(b"pong")),
                    Value::Bulk(payload),
                ]),
                Protocol::Resp2,
            );
        }
    }
    if name == "reset" {
        return reset(connection, shared);
    }
    if pubsub {
        return pubsub_command(connection, &name, &args, shared);
    }
    if let Some(value) = crate::local::run(
        &name,
        &args,
        connection_view(connection),
        shared,
        &mut LocalEffects::new(connection),
    )
    .await
    {
        return encode(&value, connection.protocol);
    }
    match name.as_str() {
        "multi" | "exec" | "discard" | "watch" | "unwatch" => {
            return transaction(connection, &name, args, shared).await
        }
        "ninesdb" if connection.multi.is_none() => {
            return crate::admin::ninesdb(
                connection.protocol,
                connection.cluster_aware,
                args,
                shared,
            )
            .await
        }
        _ => {}
    }
    let spec = match keyspace::check(&args) {
        Ok(spec) => spec,
        Err(error) => {
            if connection.multi.is_some() {
                connection.multi_failed = true;
            }
            return encode(&error, connection.protocol);
        }
    };
    let slot = match cluster::command_slot(&args, shared.config.group_count()) {
        Ok(slot) => slot,
        Err(error) => {
            if connection.multi.is_some() {
                connection.multi_failed = true;
            }
            return encode(&error, connection.protocol);
        }
    };
    if let Some(queued) = connection.multi.as_mut() {
        queued.push(args);
        return encode(&Value::Simple("QUEUED".to_owned()), connection.protocol);
    }
    // A blocking read (XREAD BLOCK) waits at the leader like the other blocking commands.
    let read = spec.kind == Kind::Read && !crate::blocking::is_blocking(&args);
    let slot = slot.or_else(|| keyless_script_slot(spec.name));
    let Some(slot) = slot else {
        return crate::fanout::keyless(
            connection.protocol,
            connection.cluster_aware,
            args,
            read,
            shared,
        )
        .await;
    };
    let routed = Routed {
        target: Target::slot(slot, shared),
        args,
        read,
        started: Instant::now(),
    };
    let stale_ok = read && connection.readonly;
    let (protocol, cluster_aware) = (connection.protocol, connection.cluster_aware);
    route_command(protocol, cluster_aware, shared, routed, stale_ok, None).await
}

/// [`route`] for a keyed command.
async fn route_command(
    protocol: Protocol,
    cluster_aware: bool,
    shared: &Shared,
    routed: Routed,
    stale_ok: bool,
    first: Option<Outcome>,
) -> Bytes {
    let Routed {
        target, args, read, ..
    } = routed;
    let command = args.clone();
    route(
        protocol,
        cluster_aware,
        shared,
        target,
        args,
        move |reply| Input::Command {
            group: target.group,
            args: command.clone(),
            read,
            stale_ok,
            reply,
        },
        read,
        first,
    )
    .await
}

/// SUBSCRIBE and kin change this connection; PUBLISH delivers here and on every member.
fn pubsub_command(
    connection: &mut Connection,
    name: &str,
    args: &[Bytes],
    shared: &Shared,
) -> Bytes {
    use crate::pubsub::Space;
    let protocol = connection.protocol;
    if let Some(queued) = connection.multi.as_mut() {
        if name == "publish" || name == "spublish" {
            // Run by EXEC after the keyspace's part (see `transaction`).
            if let Some(refusal) = publish_refusal(args, shared) {
                connection.multi_failed = true;
                return encode(&refusal, protocol);
            }
            queued.push(args.to_vec());
            return encode(&Value::Simple("QUEUED".to_owned()), protocol);
        }
        // Queued commands run in the keyspace, where subscriptions have no place.
        connection.multi_failed = true;
        return encode(
            &Value::Error(format!(
                "ERR '{name}' inside MULTI is not supported by ninesdb"
            )),
            protocol,
        );
    }
    let names = &args[1..];
    let space = match name {
        "subscribe" | "unsubscribe" => Space::Channel,
        "psubscribe" | "punsubscribe" => Space::Pattern,
        _ => Space::Shard,
    };
    match name {
        "subscribe" | "psubscribe" | "ssubscribe" => {
            if space == Space::Shard {
                // As Redis Cluster: a client's shard channels live in one slot (here, in
                // one group's slots), so that they move together.
                if let Err(error) = cluster::keys_slot(names, shared.config.group_count()) {
                    return encode(&error, protocol);
                }
            }
            let hard =
                usize::try_from(shared.config.output_limit_pubsub.hard).unwrap_or(usize::MAX);
            let cap = match hard {
                0 => crate::pubsub::MAILBOX_BYTES_MAX,
                hard => hard.min(crate::pubsub::MAILBOX_BYTES_MAX),
            };
            let (replies, inbox) = connection.pubsub.subscribe(space, names, cap);
            if inbox.is_some() {
                connection.inbox = inbox;
            }
            crate::pubsub::encode_all(&replies, protocol)
        }
        "unsubscribe" | "punsubscribe" | "sunsubscribe" => {
            let replies = connection.pubsub.unsubscribe(space, names);
            if !connection.pubsub.subscribed() {
                // Out of Pub/Sub: the connection is a plain one again (idle timeout too).
                connection.pubsub.detach();
                connection.inbox = None;
            }
            crate::pubsub::encode_all(&replies, protocol)
        }
        "publish" | "spublish" => match publish_refusal(args, shared) {
            Some(refusal) => encode(&refusal, protocol),
            None => encode(&Value::Integer(publish(args, shared)), protocol),
        },
        _ => encode(
            &crate::pubsub::pubsub_command(args, &shared.pubsub),
            protocol,
        ),
    }
}

/// A message over `max-request-bytes` is refused, as a write is: every member's peer
/// queue gets a copy.
fn publish_refusal(args: &[Bytes], shared: &Shared) -> Option<Value> {
    let size = (args[1].len() + args[2].len()) as u64;
    (size > shared.config.max_request_bytes).then(|| {
        Value::Error(format!(
            "ERR this message is {size} bytes, over max-request-bytes ({}): it would be sent to every member; split it, or raise --max-request-bytes (at most {})",
            shared.config.max_request_bytes,
            crate::config::REQUEST_BYTES_MAX
        ))
    })
}

/// PUBLISH / SPUBLISH `args`: delivered here, then sent to every other member. Redis
/// Cluster broadcasts every message (a sharded one too, here) and counts the receivers of
/// the node it was published on only.
fn publish(args: &[Bytes], shared: &Shared) -> i64 {
    let (channel, message) = (&args[1], &args[2]);
    let shard = args[0].eq_ignore_ascii_case(b"spublish");
    let receivers = shared.pubsub.publish(channel, message, shard);
    shared.peers.broadcast_spare(&Frame::Publish {
        shard,
        channel: channel.clone(),
        message: message.clone(),
    });
    i64::try_from(receivers).unwrap_or(i64::MAX)
}

/// RESET (networking.c `resetCommand`): the connection as new, without closing it.
fn reset(connection: &mut Connection, shared: &Shared) -> Bytes {
    connection.multi = None;
    connection.multi_failed = false;
    connection.watched.clear();
    connection.name = None;
    connection.protocol = Protocol::Resp2;
    connection.readonly = false;
    connection.pubsub.detach();
    connection.inbox = None;
    connection.identity = crate::users::Identity::new(shared.users.get().as_deref());
    encode(&Value::Simple("RESET".to_owned()), Protocol::Resp2)
}

/// Where a command goes: the group owning its slot.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub group: GroupId,
    pub slot: u16,
}

impl Target {
    pub fn slot(slot: u16, shared: &Shared) -> Target {
        Target {
            group: cluster::group_of_slot(slot, shared.config.group_count()),
            slot,
        }
    }

    /// A group's first slot stands for it (commands without keys); the meta group, which
    /// holds no slots, is shown as slot 0.
    pub fn group(group: GroupId, shared: &Shared) -> Target {
        let slot = if group == cluster::META {
            0
        } else {
            cluster::slot_range(group, shared.config.group_count()).0
        };
        Target { group, slot }
    }
}

/// Authentication and permissions before anything runs (after Redis's unknown-command and
/// arity errors, which the command's own path answers): a refusal is logged in ACL LOG.
fn admit(connection: &mut Connection, args: &[Bytes], shared: &Shared) -> Result<(), Value> {
    let users = shared.users.get();
    match crate::users::gate(users.as_deref(), &mut connection.identity, args) {
        Ok(()) => Ok(()),
        Err((reply, event)) => {
            if let Some((reason, object)) = event {
                let context = if connection.multi.is_some() {
                    acl::LogContext::Multi
                } else {
                    acl::LogContext::Toplevel
                };
                crate::users::log_refusal(
                    shared,
                    connection.id,
                    &connection.identity,
                    reason,
                    context,
                    object,
                );
            }
            Err(reply)
        }
    }
}

/// A read-only view of the connection for local commands.
pub struct ConnectionView {
    pub id: u64,
    pub protocol: Protocol,
    pub name: Option<Bytes>,
    pub identity: crate::users::Identity,
    pub in_multi: bool,
}

fn connection_view(connection: &Connection) -> ConnectionView {
    ConnectionView {
        id: connection.id,
        protocol: connection.protocol,
        name: connection.name.clone(),
        identity: connection.identity.clone(),
        in_multi: connection.multi.is_some(),
    }
}

/// Changes local commands make to the connection.
pub struct LocalEffects<'a> {
    connection: &'a mut Connection,
}

impl<'a> LocalEffects<'a> {
    fn new(connection: &'a mut Connection) -> Self {
        LocalEffects { connection }
    }
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.connection.protocol = protocol;
    }
    pub fn set_name(&mut self, name: Option<Bytes>) {
        self.connection.name = name;
    }
    pub fn set_cluster_aware(&mut self) {
        self.connection.cluster_aware = true;
    }
    pub fn set_readonly(&mut self, readonly: bool) {
        self.connection.readonly = readonly;
    }
    /// AUTH or HELLO AUTH succeeded as `user`.
    pub fn set_user(&mut self, user: Bytes) {
        self.connection.identity = crate::users::Identity {
            user,
            authenticated: true,
        };
    }
}

async fn transaction(
    connection: &mut Connection,
    name: &str,
    args: Vec<Bytes>,
    shared: &Shared,
) -> Bytes {
    let protocol = connection.protocol;
    let reply = |value: Value| encode(&value, protocol);
    match name {
        "multi" if connection.multi.is_some() => {
            reply(Value::Error("ERR MULTI calls can not be nested".to_owned()))
        }
        "multi" => {
            connection.multi = Some(Vec::new());
            connection.multi_failed = false;
            reply(Value::Simple("OK".to_owned()))
        }
        "discard" if connection.multi.is_none() => {
            reply(Value::Error("ERR DISCARD without MULTI".to_owned()))
        }
        "discard" => {
            connection.multi = None;
            connection.watched.clear();
            reply(Value::Simple("OK".to_owned()))
        }
        "exec" => {
            let Some(commands) = connection.multi.take() else {
                return reply(Value::Error("ERR EXEC without MULTI".to_owned()));
            };
            let watched = std::mem::take(&mut connection.watched);
            if std::mem::take(&mut connection.multi_failed) {
                return reply(Value::Error(
                    "EXECABORT Transaction discarded because of previous errors.".to_owned(),
                ));
            }
            // PUBLISH in a transaction runs here, once the keyspace's part has committed
            // (not at all if it did not), its count spliced in at its place.
            let (publishes, commands) = crate::pubsub::split_publishes(commands);
            if publishes.is_empty() {
                return exec(
                    protocol,
                    connection.cluster_aware,
                    commands,
                    watched,
                    shared,
                )
                .await;
            }
            let kept = commands.len();
            let response = if commands.is_empty() && watched.is_empty() {
                encode(&Value::Array(Vec::new()), protocol)
            } else {
                exec(
                    protocol,
                    connection.cluster_aware,
                    commands,
                    watched,
                    shared,
                )
                .await
            };
            let counts: Vec<(usize, i64)> = if crate::pubsub::exec_succeeded(&response, kept) {
                publishes
                    .iter()
                    .map(|(at, args)| (*at, publish(args, shared)))
                    .collect()
            } else {
                return response;
            };
            crate::pubsub::splice_exec(&response, &counts, protocol).unwrap_or(response)
        }
        "watch" if connection.multi.is_some() => reply(Value::Error(
            "ERR WATCH inside MULTI is not allowed".to_owned(),
        )),
        "watch" if args.len() < 2 => reply(Value::Error(
            "ERR wrong number of arguments for 'watch' command".to_owned(),
        )),
        "watch" => watch(connection, &args, shared).await,
        _ => {
            connection.watched.clear();
            reply(Value::Simple("OK".to_owned()))
        }
    }
}

/// Runs a transaction's commands at their group's leader.
async fn exec(
    protocol: Protocol,
    cluster_aware: bool,
    commands: Vec<Vec<Bytes>>,
    watched: Vec<(Bytes, u64)>,
    shared: &Shared,
) -> Bytes {
    let reply = |value: Value| encode(&value, protocol);
    let watched_keys: Vec<Bytes> = watched.iter().map(|(k, _)| k.clone()).collect();
    let slot = match cluster::commands_slot(
        commands
            .iter()
            .chain(std::iter::once(&watched_keys_command(&watched_keys))),
        shared.config.group_count(),
    ) {
        Ok(slot) => slot.unwrap_or(0),
        Err(error) => return reply(error),
    };
    let target = Target::slot(slot, shared);
    let forwarded = vec![
        Bytes::from_static(FORWARDED_EXEC),
        Operation::Exec {
            now_ms: 0,
            commands: commands.clone(),
            watched: watched.clone(),
        }
        .encode(),
    ];
    route(
        protocol,
        cluster_aware,
        shared,
        target,
        forwarded,
        move |reply| Input::Exec {
            group: target.group,
            commands: commands.clone(),
            watched: watched.clone(),
            reply,
        },
        false,
        None,
    )
    .await
}

/// WATCH: the keys' versions now, at their group's leader.
async fn watch(connection: &mut Connection, args: &[Bytes], shared: &Shared) -> Bytes {
    let protocol = connection.protocol;
    let reply = |value: Value| encode(&value, protocol);
    let slot = match cluster::keys_slot(&args[1..], shared.config.group_count()) {
        Ok(slot) => slot.unwrap_or(0),
        Err(error) => return reply(error),
    };
    let group = Target::slot(slot, shared).group;
    let (sender, receiver) = oneshot::channel();
    if shared
        .node
        .try_send(Input::Versions {
            group,
            keys: args[1..].to_vec(),
            reply: sender,
        })
        .is_err()
    {
        return reply(busy());
    }
    match receiver.await {
        Ok(versions) => {
            connection.watched.extend(versions);
            reply(Value::Simple("OK".to_owned()))
        }
        Err(_) => reply(busy()),
    }
}

fn busy() -> Value {
    Value::Error("BUSY the server is overloaded; retry later".to_owned())
}

/// Sends a command to this node for `target`'s group; if another node leads the group,
/// forwards it (plain clients) or answers `-MOVED` (cluster-aware clients). Waits up to the
/// configured time for a leader. `first`: the outcome of a first try here, if there was one
/// (a pipelined command this node sent back).
#[allow(clippy::too_many_arguments)]
pub async fn route(
    protocol: Protocol,
    cluster_aware: bool,
    shared: &Shared,
    target: Target,
    forward_args: Vec<Bytes>,
    make: impl Fn(crate::driver::Waiter) -> Input,
    read: bool,
    mut first: Option<Outcome>,
) -> Bytes {
    let deadline = Instant::now() + Duration::from_millis(shared.config.leader_wait_ms);
    let limit = reply_limit(&forward_args);
    loop {
        let given = first.is_some();
        let outcome = match first.take() {
            Some(outcome) => outcome,
            None => {
                let (sender, receiver) = oneshot::channel();
                if shared.node.try_send(make(sender)).is_err() {
                    return encode(&busy(), protocol);
                }
                let Some(outcome) = wait_for(limit, receiver).await else {
                    return encode(
                        &Value::Error(crate::driver::UNKNOWN_OUTCOME.to_owned()),
                        protocol,
                    );
                };
                outcome
            }
        };
        match outcome {
            Outcome::Reply(value) => return encode(&value, protocol),
            Outcome::NotLeader(hint) => {
                let leader = hint
                    .or_else(|| cluster::lock(&shared.view).leader(target.group))
                    .filter(|&n| n != shared.config.id);
                if let Some(leader) = leader {
                    if cluster_aware || shared.config.always_redirect {
                        return encode(&moved(shared, leader, target.slot), protocol);
                    }
                    if let Some(reply) = forward(shared, leader, &forward_args, protocol).await {
                        if !reply.starts_with(NOT_LEADER_THERE.as_bytes()) {
                            return reply;
                        }
                    }
                } else if given {
                    // A pipelined command sent back by its connection's closed gate while this
                    // node leads the group: it runs here now, in its turn.
                    continue;
                }
            }
        }
        if Instant::now() >= deadline {
            // As Redis Cluster answers for a slot whose master is gone: after waiting out an
            // ordinary election, the group is taken to lack a majority for now.
            let what = if read { "read" } else { "write" };
            return encode(
                &Value::Error(format!(
                    "CLUSTERDOWN The cluster is down: the group of slot {} has had no leader for {} ms (a majority of its replicas is unreachable, or an election is under way); the {what} was not executed, retry",
                    target.slot, shared.config.leader_wait_ms
                )),
                protocol,
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The start of a forwarded command's reply from a node that does not lead its group (any
/// more): the forwarding node asks again where the leader is.
pub const NOT_LEADER_THERE: &str = "-TRYAGAIN the leader changed while the command was forwarded";

fn moved(shared: &Shared, leader: raft::NodeId, slot: u16) -> Value {
    let address = cluster::lock(&shared.view)
        .address(leader)
        .map_or_else(String::new, |a| a.to_string());
    Value::Error(format!("MOVED {slot} {address}"))
}

/// Forwards to the leader and returns its encoded reply, or `None` if the link failed.
async fn forward(
    shared: &Shared,
    leader: raft::NodeId,
    args: &[Bytes],
    protocol: Protocol,
) -> Option<Bytes> {
    if !shared.peers.has(leader) || !shared.forwards.is_up(leader) {
        // The leader is unreachable from here: wait for the group to elect another.
        return None;
    }
    let (id, receiver) = shared.forwards.register(leader);
    let frame = Frame::Forward {
        id,
        resp3: protocol == Protocol::Resp3,
        args: args.to_vec(),
    };
    if !shared.peers.send(leader, frame) {
        shared.forwards.forget(id);
        return None;
    }
    // If this wait is dropped (a blocked client hung up or was unblocked), the leader hears
    // so and withdraws the command if it is still waiting there.
    let mut cancel = CancelForward {
        shared,
        leader,
        id,
        armed: true,
    };
    let reply = wait_for(reply_limit(args), receiver).await;
    cancel.armed = false;
    match reply {
        Some(reply) => Some(reply),
        None => {
            shared.forwards.forget(id);
            // The leader may have run it: the outcome is unknown, and the client must know.
            Some(encode(
                &Value::Error(crate::driver::UNKNOWN_OUTCOME.to_owned()),
                protocol,
            ))
        }
    }
}

/// Tells the leader to drop a forwarded command whose client stopped waiting.
struct CancelForward<'a> {
    shared: &'a Shared,
    leader: raft::NodeId,
    id: u64,
    armed: bool,
}

impl Drop for CancelForward<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.forwards.forget(self.id);
            self.shared
                .peers
                .send(self.leader, Frame::ForwardCancel { id: self.id });
        }
    }
}

/// A WATCH's keys as a pseudo-command, so the transaction's slot check covers them too.
fn watched_keys_command(keys: &[Bytes]) -> Vec<Bytes> {
    std::iter::once(Bytes::from_static(b"EXISTS"))
        .chain(keys.iter().cloned())
        .collect()
}

/// `NINESDB SESSION` opens an exactly-once session; `NINESDB REQ <session> <seq> <command...>`
/// runs a write once however often it is retried. Returns how to build the node input.
pub fn session_input(
    args: &[Bytes],
    groups: u64,
) -> Result<(Target, Box<dyn Fn(crate::driver::Waiter) -> Input + Send>), Value> {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let number = |index: usize| {
        std::str::from_utf8(&args[index])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
    };
    match sub.as_str() {
        "session" if args.len() == 2 => Ok((Target { group: 1, slot: 0 }, Box::new(|reply| Input::OpenSession { group: 1, reply }))),
        "req" if args.len() >= 5 => {
            let (Some(session), Some(seq)) = (number(2), number(3)) else {
                return Err(Value::Error("ERR session and sequence numbers must be non-negative integers".to_owned()));
            };
            if seq == 0 {
                return Err(Value::Error("ERR sequence numbers start at 1".to_owned()));
            }
            let command = args[4..].to_vec();
            keyspace::check(&command)?;
            let slot = cluster::command_slot(&command, groups)?.unwrap_or(0);
            let group = cluster::group_of_slot(slot, groups);
            Ok((Target { group, slot }, Box::new(move |reply| Input::SessionCommand { group, session, seq, args: command.clone(), reply })))
        }
        "backup" if args.len() == 3 => {
            let Some(group) = number(2).filter(|g| (1..=groups).contains(g)) else {
                return Err(Value::Error(format!("ERR no group '{}' (groups are 1 to {groups})", String::from_utf8_lossy(&args[2]))));
            };
            let (slot, _) = cluster::slot_range(group, groups);
            let args = vec![Bytes::from_static(crate::group::BACKUP_READ)];
            Ok((Target { group, slot }, Box::new(move |reply| Input::Command { group, args: args.clone(), read: true, stale_ok: false, reply })))
        }
        _ => Err(Value::Error("ERR usage: NINESDB SESSION | NINESDB REQ <session> <seq> <command> [arg ...] | NINESDB STATUS | NINESDB DRAIN <node> | NINESDB UNDRAIN <node> | NINESDB BACKUP <group>".to_owned())),
    }
}

/// Runs a command forwarded by a follower on this node (the leader).
/// Forwarded commands carry their group in front: `\0ninesdb-group <id>` then the command.
pub async fn execute_here(node: &SyncSender<Input>, args: Vec<Bytes>, groups: u64) -> Outcome {
    let (sender, receiver) = oneshot::channel();
    let limit = reply_limit(&args);
    let is_session = args
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"ninesdb"));
    let input = if is_session {
        match session_input(&args, groups) {
            Ok((_, make)) => make(sender),
            Err(error) => return Outcome::Reply(error),
        }
    } else if args.first().is_some_and(|a| a.as_ref() == FORWARDED_EXEC) {
        match args.get(1).map(|bytes| Operation::decode(bytes)) {
            Some(Ok(Operation::Exec {
                commands, watched, ..
            })) => {
                let watched_keys: Vec<Bytes> = watched.iter().map(|(k, _)| k.clone()).collect();
                let slot = match cluster::commands_slot(
                    commands
                        .iter()
                        .chain(std::iter::once(&watched_keys_command(&watched_keys))),
                    groups,
                ) {
                    Ok(slot) => slot.unwrap_or(0),
                    Err(error) => return Outcome::Reply(error),
                };
                Input::Exec {
                    group: cluster::group_of_slot(slot, groups),
                    commands,
                    watched,
                    reply: sender,
                }
            }
            _ => {
                return Outcome::Reply(Value::Error(
                    "ERR malformed forwarded transaction".to_owned(),
                ))
            }
        }
    } else if args.first().is_some_and(|a| a.as_ref() == FORWARDED_GROUP) {
        // A command without keys, for one group (a fan-out's part).
        let group = args
            .get(1)
            .and_then(|g| std::str::from_utf8(g).ok())
            .and_then(|g| g.parse::<u64>().ok());
        let command = args.get(2..).unwrap_or_default();
        if group == Some(cluster::META) && crate::users::is_acl_change(command) {
            // An ACL change made through another node, for the meta group's leader.
            Input::Command {
                group: cluster::META,
                args: command.to_vec(),
                read: false,
                stale_ok: false,
                reply: sender,
            }
        } else {
            let (Some(group), Some(spec)) = (group, keyspace::check(command).ok()) else {
                return Outcome::Reply(Value::Error("ERR malformed forwarded command".to_owned()));
            };
            Input::Command {
                group,
                args: command.to_vec(),
                read: spec.kind == Kind::Read,
                stale_ok: false,
                reply: sender,
            }
        }
    } else {
        let spec = match keyspace::check(&args) {
            Ok(spec) => spec,
            Err(error) => return Outcome::Reply(error),
        };
        let slot = match cluster::command_slot(&args, groups) {
            Ok(slot) => slot.unwrap_or(0),
            Err(error) => return Outcome::Reply(error),
        };
        let read = spec.kind == Kind::Read && !crate::blocking::is_blocking(&args);
        Input::Command {
            group: cluster::group_of_slot(slot, groups),
            args,
            read,
            stale_ok: false,
            reply: sender,
        }
    };
    if node.try_send(input).is_err() {
        return Outcome::Reply(busy());
    }
    wait_for(limit, receiver)
        .await
        .unwrap_or_else(|| Outcome::Reply(Value::Error(crate::driver::UNKNOWN_OUTCOME.to_owned())))
}

/// Asks the node thread for its status.
pub async fn status(shared: &Shared) -> Option<Status> {
    status_of(shared, false).await
}

/// The node's status with a digest of every hosted keyspace.
pub async fn status_with_digests(shared: &Shared) -> Option<Status> {
    status_of(shared, true).await
}

async fn status_of(shared: &Shared, digests: bool) -> Option<Status> {
    let (sender, receiver) = oneshot::channel();
    shared
        .node
        .try_send(Input::Status {
            digests,
            reply: sender,
        })
        .ok()?;
    receiver.await.ok()
}
