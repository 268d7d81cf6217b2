//! One client of the load over RESP: a connection per node, the commands in flight on each, and
//! what each reply means (a latency to record, a redirect to follow, an error to count).
//!
//! Two modes, fixed when the run starts:
//! - *single endpoint* (plain Redis, or a target whose `CLUSTER SLOTS` names one node): one
//!   connection; a `-MOVED` sends it to the named address once the replies in flight are in,
//!   a broken one moves to the next `--target` address. Redirected requests count as errors.
//! - *cluster* (`CLUSTER SLOTS` names several nodes): each request goes to the owner of its
//!   key's slot; `-MOVED` updates the slot, retries the request there and refreshes the map;
//!   `-ASK` retries it once at the named node after `ASKING`. Latency includes the retry.

use crate::cluster::{self, key_slot, Redirect, SlotMap};
use crate::conn::{self, error_kind, Conn};
use crate::keys::{KeyGen, KEY_LEN};
use crate::load::Plan;
use crate::resp::{self, Reply};
use crate::stats::Stats;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// The shortest time between two slot-map refreshes of one client (a migration sends a burst
/// of `MOVED`s; one refresh per burst is enough, the redirects themselves fix single slots).
const REFRESH_INTERVAL_MIN: Duration = Duration::from_millis(100);
/// How long a refresh may wait for `CLUSTER SLOTS`.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed connect, so a dead node is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// One request of the workload, kept until its reply so that a redirect can resend it.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    key: [u8; KEY_LEN],
    write: bool,
    /// The session sequence number of a write (0 without a session): a resend reuses it, so
    /// the server applies the write once.
    seq: u64,
    /// When it was sent (closed loop) or scheduled (open loop): latency is measured from here.
    pub due: Instant,
    /// Already sent again after a redirect: a second redirect is an error.
    redirected: bool,
}

/// What a node owes us, in order.
enum Pending {
    /// The `+OK` to an `ASKING` before a redirected request.
    Asking,
    Op(Op),
}

impl Pending {
    fn op(self) -> Option<Op> {
        match self {
            Pending::Op(op) => Some(op),
            Pending::Asking => None,
        }
    }
}

struct Node {
    address: String,
    conn: Option<Conn>,
    /// Commands encoded but not written yet.
    out: Vec<u8>,
    pending: VecDeque<Pending>,
}

impl Node {
    fn new(address: &str, conn: Option<Conn>) -> Node {
        Node {
            address: address.to_owned(),
            conn,
            out: Vec::with_capacity(4096),
            pending: VecDeque::new(),
        }
    }
}

pub struct Client {
    nodes: Vec<Node>,
    /// Cluster mode: slot -> index into `nodes`. `None`: single endpoint, everything to `nodes[0]`.
    owner: Option<Vec<u16>>,
    keys: KeyGen,
    session: Option<u64>,
    seq: u64,
    /// Ops in `pending` over all nodes.
    in_flight: usize,
    /// Single endpoint: the index of the current address in `plan.targets`.
    target_index: usize,
    /// Single endpoint: where a `-MOVED` said to go once the replies in flight are in.
    moved: Option<String>,
    /// Single endpoint: the connection broke; replace it before sending more.
    broken: bool,
    /// Cluster: a redirect or a failure said the slot map is stale.
    refresh: bool,
    last_refresh: Option<Instant>,
    /// Where `poll_readable` starts, rotated so that a busy node cannot starve the others.
    poll_start: usize,
}

impl Client {
    /// Connects to the first target, or to every node of the plan's slot map.
    pub async fn open(plan: &Plan, keys: KeyGen) -> Result<Client, String> {
        let mut client = Client {
            nodes: Vec::new(),
            owner: None,
            keys,
            session: None,
            seq: 0,
            in_flight: 0,
            target_index: 0,
            moved: None,
            broken: false,
            refresh: false,
            last_refresh: None,
            poll_start: 0,
        };
        match &plan.slots {
            None => {
                let (conn, session) = open_conn(plan, &plan.targets[0], None).await?;
                client.session = session;
                client.nodes.push(Node::new(&plan.targets[0], Some(conn)));
            }
            Some(map) => {
                client.adopt(map);
                for index in 0..client.nodes.len() {
                    client.connect_node(plan, index).await?;
                }
            }
        }
        Ok(client)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether new requests may go out now (single endpoint: not while a redirect or a broken
    /// connection waits to be dealt with).
    pub fn can_send(&self) -> bool {
        self.moved.is_none() && !self.broken
    }

    /// The next request of the workload, due at `due`; queue it with `enqueue`.
    pub fn next_op(&mut self, plan: &Plan, due: Instant) -> Op {
        let (write, key) = self.keys.next_request(plan.workload);
        let seq = match (write, self.session) {
            (true, Some(_)) => {
                self.seq += 1;
                self.seq
            }
            _ => 0,
        };
        Op {
            key,
            write,
            seq,
            due,
            redirected: false,
        }
    }

    /// Queues `op` for the node that serves its key (sent by the next `flush`).
    pub fn enqueue(&mut self, plan: &Plan, op: Op) {
        let node = match &self.owner {
            Some(owner) => owner[usize::from(key_slot(&op.key))] as usize,
            None => 0,
        };
        self.push(plan, node, op);
    }

    fn push(&mut self, plan: &Plan, node: usize, op: Op) {
        let node = &mut self.nodes[node];
        encode(plan, self.session, &op, &mut node.out);
        node.pending.push_back(Pending::Op(op));
        self.in_flight += 1;
    }

    /// Writes every node's queued commands; a node that cannot take them loses what it owed.
    pub async fn flush(&mut self, plan: &Plan, stats: &mut Stats) {
        for index in 0..self.nodes.len() {
            if self.nodes[index].out.is_empty() {
                continue;
            }
            if self.nodes[index].conn.is_none() && self.connect_node(plan, index).await.is_err() {
                self.fail_node(plan, index, "connect", stats);
                sleep(RECONNECT_PAUSE).await;
                continue;
            }
            let node = &mut self.nodes[index];
            let conn = node.conn.as_mut().expect("connected above");
            let written = conn.send(&node.out).await;
            node.out.clear();
            if written.is_err() {
                self.fail_node(plan, index, "io", stats);
            }
        }
    }

    /// Handles every reply already read, on every node (no I/O; retries are queued, not sent).
    pub fn take_replies(&mut self, plan: &Plan, stats: &mut Stats) {
        for index in 0..self.nodes.len() {
            while let Some(conn) = self.nodes[index].conn.as_mut() {
                match conn.try_reply() {
                    Ok(Some(reply)) => self.on_reply(plan, index, reply, stats),
                    Ok(None) => break,
                    Err(_) => {
                        self.fail_node(plan, index, "io", stats);
                        break;
                    }
                }
            }
        }
    }

    fn on_reply(&mut self, plan: &Plan, index: usize, reply: Reply, stats: &mut Stats) {
        let Some(pending) = self.nodes[index].pending.pop_front() else {
            // A reply to nothing: the stream is out of step, so nothing on it can be trusted.
            return self.fail_node(plan, index, "io", stats);
        };
        // A failed ASKING shows up again as the redirected request's own error.
        let Pending::Op(op) = pending else { return };
        self.in_flight -= 1;
        plan.progress.fetch_add(1, Ordering::Relaxed);
        let measured = plan.measured(op.due);
        match reply {
            Reply::Error(error) => self.on_error(plan, op, &error, measured, stats),
            _ if measured => stats.record_at(op.due.elapsed().as_micros() as u64, Instant::now()),
            _ => {}
        }
    }

    fn on_error(&mut self, plan: &Plan, op: Op, error: &str, measured: bool, stats: &mut Stats) {
        match (self.owner.is_some(), cluster::redirect(error)) {
            (true, Some(redirect)) if !op.redirected => {
                return self.follow(plan, op, redirect, stats)
            }
            (false, Some(Redirect::Moved { address, .. })) if self.moved.is_none() => {
                self.moved = Some(address.to_owned());
            }
            _ => {}
        }
        if measured {
            stats.error(&error_kind(error), 1);
        }
    }

    /// Cluster mode: resend `op` where the redirect says.
    fn follow(&mut self, plan: &Plan, mut op: Op, redirect: Redirect<'_>, stats: &mut Stats) {
        op.redirected = true;
        match redirect {
            Redirect::Moved { slot, address } => {
                let node = self.node_index(address);
                if let Some(owner) = &mut self.owner {
                    owner[usize::from(slot)] = node as u16;
                }
                self.refresh = true;
                stats.redirect("MOVED");
                self.push(plan, node, op);
            }
            Redirect::Ask { address, .. } => {
                let node = self.node_index(address);
                stats.redirect("ASK");
                resp::push_command(&mut self.nodes[node].out, &[b"ASKING"]);
                self.nodes[node].pending.push_back(Pending::Asking);
                self.push(plan, node, op);
            }
        }
    }

    /// Waits until a node that owes replies is readable, then reads what it has.
    /// Cancel-safe: nothing is read before the wait ends.
    pub async fn read_some(&mut self, plan: &Plan, stats: &mut Stats) {
        let index = std::future::poll_fn(|cx| self.poll_readable(cx)).await;
        self.poll_start = index + 1;
        let conn = self.nodes[index]
            .conn
            .as_mut()
            .expect("only connected nodes are polled");
        if conn.try_fill().is_err() {
            self.fail_node(plan, index, "io", stats);
        }
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<usize> {
        let count = self.nodes.len();
        for index in (0..count).map(|i| (self.poll_start + i) % count) {
            let node = &self.nodes[index];
            let Some(conn) = node.conn.as_ref().filter(|_| !node.pending.is_empty()) else {
                continue;
            };
            // A socket error is ready too; the read that follows reports it.
            if conn.stream.poll_read_ready(cx).is_ready() {
                return Poll::Ready(index);
            }
        }
        Poll::Pending
    }

    /// The node lost its connection: what it owed is lost (counted as `kind`).
    fn fail_node(&mut self, plan: &Plan, index: usize, kind: &str, stats: &mut Stats) {
        let node = &mut self.nodes[index];
        let lost: Vec<Op> = node.pending.drain(..).filter_map(Pending::op).collect();
        node.out.clear();
        node.conn = None;
        self.in_flight -= lost.len();
        stats.error(
            kind,
            lost.iter().filter(|op| plan.measured(op.due)).count() as u64,
        );
        match self.owner {
            Some(_) => self.refresh = true,
            None => self.broken = true,
        }
    }

    /// Gives up on everything in flight; returns when each was due.
    pub fn abandon(&mut self) -> Vec<Instant> {
        let mut dues = Vec::with_capacity(self.in_flight);
        for node in &mut self.nodes {
            dues.extend(
                node.pending
                    .drain(..)
                    .filter_map(Pending::op)
                    .map(|op| op.due),
            );
            node.out.clear();
        }
        self.in_flight = 0;
        dues
    }

    /// Between batches (closed loop) or turns (open loop): follow a `-MOVED` once nothing is in
    /// flight, replace a broken connection, refresh a stale slot map. `false` if the run ended
    /// before a connection came back.
    pub async fn recover(&mut self, plan: &Plan, stats: &mut Stats) -> bool {
        if self.owner.is_some() {
            if self.refresh
                && self
                    .last_refresh
                    .is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL_MIN)
            {
                self.refresh_slots().await;
            }
            return true;
        }
        if self.broken || (self.moved.is_some() && self.in_flight == 0) {
            let moved = self.moved.take();
            return self.reconnect(plan, moved, stats).await;
        }
        true
    }

    /// Cluster mode: asks the known nodes, in turn, for the current slot map.
    async fn refresh_slots(&mut self) {
        self.last_refresh = Some(Instant::now());
        let addresses: Vec<String> = self.nodes.iter().map(|n| n.address.clone()).collect();
        for address in addresses {
            if let Ok(Some(map)) = cluster::fetch(&address, REFRESH_TIMEOUT).await {
                self.adopt(&map);
                self.refresh = false;
                return;
            }
        }
    }

    /// Routes by `map`, keeping the connections to nodes already known.
    fn adopt(&mut self, map: &SlotMap) {
        let translate: Vec<u16> = map
            .nodes
            .iter()
            .map(|address| self.node_index(address) as u16)
            .collect();
        self.owner = Some(
            map.owner
                .iter()
                .map(|&o| translate[usize::from(o)])
                .collect(),
        );
    }

    /// The index of the node at `address`, added (not connected yet) if new.
    fn node_index(&mut self, address: &str) -> usize {
        match self.nodes.iter().position(|n| n.address == address) {
            Some(index) => index,
            None => {
                assert!(
                    self.nodes.len() < usize::from(u16::MAX),
                    "too many cluster nodes: {}",
                    self.nodes.len()
                );
                self.nodes.push(Node::new(address, None));
                self.nodes.len() - 1
            }
        }
    }

    /// Cluster mode: connects `nodes[index]`, opening the client's session on the first one.
    async fn connect_node(&mut self, plan: &Plan, index: usize) -> Result<(), String> {
        let (conn, session) = open_conn(plan, &self.nodes[index].address, self.session).await?;
        self.session = session;
        self.nodes[index].conn = Some(conn);
        Ok(())
    }

    /// Single endpoint: replaces the connection, with `address` after a MOVED, else with the
    /// next target. Retries until the run ends; `false` if it never came back.
    async fn reconnect(&mut self, plan: &Plan, address: Option<String>, stats: &mut Stats) -> bool {
        let mut address = address;
        while Instant::now() < plan.end {
            let to = address.take().unwrap_or_else(|| {
                self.target_index = (self.target_index + 1) % plan.targets.len();
                plan.targets[self.target_index].clone()
            });
            match open_conn(plan, &to, self.session).await {
                Ok((conn, session)) => {
                    self.session = session;
                    self.nodes[0] = Node::new(&to, Some(conn));
                    self.broken = false;
                    return true;
                }
                Err(_) => {
                    stats.error("connect", 1);
                    sleep(RECONNECT_PAUSE).await;
                }
            }
        }
        false
    }
}

/// Appends `op` as a command: GET, SET, or SET inside `NINESDB REQ <session> <seq>`.
fn encode(plan: &Plan, session: Option<u64>, op: &Op, buf: &mut Vec<u8>) {
    match (op.write, session) {
        (false, _) => resp::push_command(buf, &[b"GET", &op.key]),
        (true, None) => resp::push_command(buf, &[b"SET", &op.key, &plan.value]),
        (true, Some(session)) => {
            let (mut sid, mut seq) = (Vec::with_capacity(20), Vec::with_capacity(20));
            resp::push_uint(&mut sid, session);
            resp::push_uint(&mut seq, op.seq);
            resp::push_command(
                buf,
                &[b"NINESDB", b"REQ", &sid, &seq, b"SET", &op.key, &plan.value],
            );
        }
    }
}

/// Connects, and opens a session if the plan wants one and `session` has none yet.
async fn open_conn(
    plan: &Plan,
    address: &str,
    session: Option<u64>,
) -> Result<(Conn, Option<u64>), String> {
    let mut conn = conn::connect(address).await?;
    let session = match (plan.session, session) {
        // Sessions live in the replicated state: a reconnect keeps using the same one.
        (true, None) => Some(conn.open_session(plan.drain_deadline).await?),
        (_, kept) => kept,
    };
    Ok((conn, session))
}
