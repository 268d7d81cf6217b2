//! The scenario's clients: open-loop arrivals (a request is sent when it is due, whether or not
//! earlier ones were answered), each carried by a session (a connection with one request in
//! flight, as Redis clients have). A session follows `NotLeader` hints (Redis's `-MOVED`),
//! tries another node when an attempt times out or fails, and gives up at the deadline: the
//! request then counts as unavailable.
//!
//! Every request ends in exactly one record (answered in time, answered late, or given up),
//! from which `measure` computes availability and latency.

use lincheck::kv::{KvInput, KvOutput};
use lincheck::Operation;

use crate::net::{Outcome, Packet, Reply, Request};
use crate::params::MS;
use crate::sim::{Event, Sim};

/// Sessions open at once, at most: beyond, an arrival fails at once (the client is saturated).
pub const SESSIONS_MAX: usize = 50_000;

/// How often outstanding requests are checked against their timeouts.
pub const SWEEP_EVERY: u64 = 20 * MS;

/// One arrival event issues every request of its stream due in this window (each sent at its
/// own time): an event per 5 ms per stream instead of one per request. The only thing decided
/// early is which node a request goes to first, from a leader map at most 5 ms old.
pub const ARRIVAL_BATCH: u64 = 5 * MS;

/// One request's fate.
#[derive(Clone, Copy, Debug)]
pub struct RequestRecord {
    /// When the client issued it.
    pub issued: u64,
    /// When a correct answer arrived (`None`: never, within the client's patience).
    pub answered: Option<u64>,
    pub group: u32,
    pub write: bool,
    /// The client's datacenter.
    pub dc: u16,
    /// The client died with its datacenter before the answer: not counted.
    pub orphaned: bool,
}

#[derive(Debug)]
struct InFlight {
    record: usize,
    history: usize,
    request: u64,
    key: u64,
    group: usize,
    input: KvInput,
    deadline: u64,
    attempt_deadline: u64,
    /// Where the current attempt went.
    node: usize,
    /// Attempts that failed so far (the retry backoff doubles with each).
    failures: u32,
    /// The stream that issued it.
    stream: usize,
}

#[derive(Debug)]
struct Session {
    dc: usize,
    next_request: u64,
    op: Option<InFlight>,
}

/// One stream of arrivals: the clients of a datacenter, or extra traffic aimed at one node.
#[derive(Clone, Debug)]
pub struct Stream {
    pub dc: usize,
    /// Mean microseconds between arrivals.
    pub gap_mean: f64,
    /// Every request of this stream goes to this node first (a load balancer's bug).
    pub pinned: Option<usize>,
    pub active: bool,
    /// When its next request is due.
    pub next_at: u64,
    /// Closed loop: each arrival event issues one request, and each request that ends
    /// schedules the next.
    pub closed: bool,
}

/// All clients.
#[derive(Debug, Default)]
pub struct Load {
    pub streams: Vec<Stream>,
    sessions: Vec<Session>,
    /// Idle sessions per datacenter.
    idle: Vec<Vec<usize>>,
    /// Sessions with a request in flight, and each session's place in that list.
    busy: Vec<usize>,
    busy_at: Vec<usize>,
    /// Per datacenter, per group: the node the clients there believe leads it.
    slot_map: Vec<Vec<usize>>,
    /// Datacenters whose clients died (a fire takes the clients with the servers).
    dead_dcs: Vec<bool>,
    pub records: Vec<RequestRecord>,
    /// Requests refused at once because the client had no session left.
    pub client_saturated: u64,
    /// The session ids start here in `Request::client` (below are the final readers).
    first_client_id: usize,
    pub keys: u64,
    pub reads: f64,
    pub deadline: u64,
    pub attempt_timeout: u64,
    pub stopped: bool,
    /// When the first requests are sent.
    pub start_at: u64,
}

impl Load {
    pub fn new(datacenters: usize, first_client_id: usize, initial_leaders: Vec<usize>) -> Load {
        Load {
            idle: vec![Vec::new(); datacenters],
            slot_map: vec![initial_leaders; datacenters],
            dead_dcs: vec![false; datacenters],
            first_client_id,
            ..Load::default()
        }
    }

    pub fn owns(&self, client: usize) -> bool {
        client >= self.first_client_id
    }

    /// The datacenter of the session behind client id `client`.
    pub fn dc_of(&self, client: usize) -> usize {
        self.sessions[client - self.first_client_id].dc
    }

    pub fn kill_dc(&mut self, dc: usize) {
        self.dead_dcs[dc] = true;
        for stream in &mut self.streams {
            if stream.dc == dc {
                stream.active = false;
            }
        }
    }

    pub fn is_dead(&self, dc: usize) -> bool {
        self.dead_dcs[dc]
    }

    fn session_for(&mut self, dc: usize) -> Option<usize> {
        if let Some(session) = self.idle[dc].pop() {
            return Some(session);
        }
        if self.sessions.len() >= SESSIONS_MAX {
            return None;
        }
        self.sessions.push(Session {
            dc,
            next_request: 1,
            op: None,
        });
        self.busy_at.push(usize::MAX);
        Some(self.sessions.len() - 1)
    }

    fn mark_busy(&mut self, session: usize) {
        self.busy_at[session] = self.busy.len();
        self.busy.push(session);
    }

    fn mark_idle(&mut self, session: usize) {
        let at = std::mem::replace(&mut self.busy_at[session], usize::MAX);
        if at == usize::MAX {
            return;
        }
        self.busy.swap_remove(at);
        if let Some(&moved) = self.busy.get(at) {
            self.busy_at[moved] = at;
        }
    }
}

impl Sim {
    fn load(&mut self) -> &mut Load {
        &mut self.world.as_mut().expect("scenario mode").load
    }

    /// Issues the requests of `stream` due before the next batch, and schedules that batch.
    pub(crate) fn on_arrival(&mut self, stream: usize) {
        let now = self.now;
        let Some(world) = self.world.as_mut() else {
            return;
        };
        let load = &mut world.load;
        let Stream {
            dc,
            gap_mean,
            pinned,
            active,
            next_at,
            closed,
        } = load.streams[stream].clone();
        if !active || load.stopped {
            return;
        }
        if closed {
            self.issue(stream, dc, pinned, now);
            return;
        }
        let mut at = next_at.max(now);
        while at < now + ARRIVAL_BATCH {
            self.issue(stream, dc, pinned, at);
            at += self.rng.exponential(gap_mean) as u64 + 1;
        }
        self.load().streams[stream].next_at = at;
        self.schedule(at - now, Event::Arrival { stream });
    }

    /// One request from a client in `dc`, sent at `at` (now or within the arrival batch).
    fn issue(&mut self, stream: usize, dc: usize, pinned: Option<usize>, at: u64) {
        let (keys, reads) = (self.load().keys, self.load().reads);
        let key = self.rng.range(0, keys);
        let group = (key % self.options.groups as u64) as usize;
        let write = !self.rng.chance(reads);
        let now = at;
        let load = self.load();
        load.records.push(RequestRecord {
            issued: now,
            answered: None,
            group: group as u32,
            write,
            dc: dc as u16,
            orphaned: false,
        });
        let record = load.records.len() - 1;
        let Some(session) = load.session_for(dc) else {
            load.client_saturated += 1;
            return;
        };
        let input = if write {
            self.write_input(session)
        } else {
            KvInput::Get
        };
        let client = self.load().first_client_id + session;
        let operation = Operation {
            client: client as u64,
            input: input.clone(),
            call: now,
            ret: None,
            output: None,
        };
        self.history.push((Some(key), operation));
        let history = self.history.len() - 1;
        let load = self.load();
        let node = pinned.unwrap_or(load.slot_map[dc][group]);
        let s = &mut load.sessions[session];
        let request = s.next_request;
        s.next_request += 1;
        let (deadline, attempt) = (now + load.deadline, now + load.attempt_timeout);
        s.op = Some(InFlight {
            record,
            history,
            request,
            key,
            group,
            input,
            deadline,
            attempt_deadline: attempt,
            node,
            failures: 0,
            stream,
        });
        load.mark_busy(session);
        self.send_attempt(session, at - self.now);
    }

    fn write_input(&mut self, session: usize) -> KvInput {
        let unique = ((session as u64 + 1) << 32) | self.load().sessions[session].next_request;
        let roll = self.rng.unit();
        if roll < 0.8 {
            KvInput::Put(unique)
        } else if roll < 0.9 {
            KvInput::Cas {
                expected: None,
                new: unique,
            }
        } else {
            KvInput::Delete
        }
    }

    /// Sends the session's request, `after` microseconds from now, to the node its attempt
    /// targets.
    fn send_attempt(&mut self, session: usize, after: u64) {
        let load = self.load();
        let first = load.first_client_id;
        let dc = load.sessions[session].dc;
        let Some(op) = &load.sessions[session].op else {
            return;
        };
        let request = Request {
            client: first + session,
            request: op.request,
            group: op.group,
            key: op.key,
            input: op.input.clone(),
        };
        let node = op.node;
        let world = self.world.as_mut().expect("scenario mode");
        if let Some(delay) = world.net.client_to_node(dc, node, &mut self.rng) {
            self.schedule(
                after + delay,
                Event::ToNode {
                    node,
                    packet: Box::new(Packet::Request(request)),
                },
            );
        }
    }

    /// A node's answer reached a session.
    pub(crate) fn on_session_reply(&mut self, client: usize, reply: Reply) {
        let now = self.now;
        let nodes = self.nodes.len();
        let jump = self.rng.range(0, nodes as u64 - 1) as usize;
        let jitter = self.rng.unit();
        let load = self.load();
        let session = client - load.first_client_id;
        let dc = load.sessions[session].dc;
        let timeout = load.attempt_timeout;
        let Some(op) = &mut load.sessions[session].op else {
            return;
        };
        if op.request != reply.request {
            return;
        }
        match reply.outcome {
            Outcome::Done(output) => self.finish_request(session, Some(output)),
            Outcome::NotLeader(hint) => {
                let node = match hint.map(crate::node::slot_of) {
                    Some(node) if node < nodes && node != op.node => node,
                    _ => (op.node + 1 + jump) % nodes,
                };
                op.node = node;
                op.attempt_deadline = now + timeout;
                let group = op.group;
                load.slot_map[dc][group] = node;
                self.send_attempt(session, 0);
            }
            Outcome::Failed => {
                // Certainly not applied: the sweep tries again at another host, after a backoff
                // that doubles with each failure (10 ms, 20 ms, ... up to 320 ms, jittered), as
                // Redis clients do: retrying at once would only feed an overloaded node.
                let backoff = (10 * MS) << op.failures.min(5);
                op.failures += 1;
                op.attempt_deadline = now + backoff / 2 + (backoff as f64 * jitter / 2.0) as u64;
            }
        }
    }

    /// The request ends: answered (`output`) or given up.
    fn finish_request(&mut self, session: usize, output: Option<KvOutput>) {
        let now = self.now;
        let load = self.load();
        let Some(op) = load.sessions[session].op.take() else {
            return;
        };
        let dc = load.sessions[session].dc;
        load.mark_idle(session);
        if !load.is_dead(dc) {
            load.idle[dc].push(session);
        }
        if output.is_some() {
            load.records[op.record].answered = Some(now);
        }
        let next = &load.streams[op.stream];
        if next.closed && next.active && !load.stopped {
            self.schedule(1, Event::Arrival { stream: op.stream });
        }
        let (_, operation) = &mut self.history[op.history];
        match output {
            Some(output) => {
                operation.ret = Some(now);
                operation.output = Some(output);
            }
            // A read given up changed nothing: left out of the history. A write given up may
            // still happen: it stays, open-ended (indeterminate).
            None if op.input == KvInput::Get => self.history[op.history].0 = None,
            None => {}
        }
    }

    /// Checks every request in flight: past its deadline it is given up; past its attempt's
    /// timeout it is sent to another node that hosts the group.
    pub(crate) fn on_sweep(&mut self) {
        self.schedule(SWEEP_EVERY, Event::Sweep);
        let now = self.now;
        let busy = self.load().busy.clone();
        for session in busy {
            let load = self.load();
            let Some(op) = &load.sessions[session].op else {
                continue;
            };
            let dc = load.sessions[session].dc;
            if load.is_dead(dc) {
                let record = op.record;
                load.records[record].orphaned = true;
                self.finish_request(session, None);
            } else if now >= op.deadline {
                self.finish_request(session, None);
            } else if now >= op.attempt_deadline {
                let group = op.group;
                let tried = op.node;
                let node = self.random_live_host(group, tried);
                let load = self.load();
                let timeout = load.attempt_timeout;
                if let Some(op) = &mut load.sessions[session].op {
                    op.node = node;
                    op.attempt_deadline = now + timeout;
                }
                self.send_attempt(session, 0);
            }
        }
        self.sample_leaders();
    }

    /// A node hosting `group`, not lost and other than `tried` (the one that just timed out),
    /// at random: the client's refreshed slot map.
    fn random_live_host(&mut self, group: usize, tried: usize) -> usize {
        let hosts: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                i != tried && !self.nodes[i].lost && self.nodes[i].groups.contains_key(&group)
            })
            .collect();
        match self.rng.pick(&hosts) {
            Some(&host) => host,
            None => self.rng.range(0, self.nodes.len() as u64) as usize,
        }
    }
}
