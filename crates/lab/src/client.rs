//! Simulated clients: closed loop, one operation at a time, with a deadline. A write whose
//! deadline passes stays in the history as indeterminate (it may or may not have happened).

use std::collections::BTreeMap;

use lincheck::kv::{KvInput, KvOutput};
use lincheck::Operation;

use crate::net::{Outcome, Packet, Reply, Request};
use crate::params::MS;
use crate::sim::{Event, Phase, Sim};

/// One client's state.
#[derive(Debug)]
pub struct SimClient {
    /// Per group, the node it sends to (its guess of the group's leader).
    targets: Vec<usize>,
    current: Option<CurrentOp>,
    next_request: u64,
    /// The last value this client saw per key (to make compare-and-set succeed sometimes).
    last_seen: BTreeMap<u64, Option<u64>>,
    /// For a final reader: how many of its keys it has read (reader `i` of `R` reads keys
    /// `i`, `i + R`, ...); `None` once it has read them all.
    next_final_key: Option<u64>,
}

#[derive(Debug)]
struct CurrentOp {
    history_index: usize,
    request: u64,
    key: u64,
    input: KvInput,
}

impl SimClient {
    pub fn new(targets: Vec<usize>) -> SimClient {
        SimClient {
            targets,
            current: None,
            next_request: 1,
            last_seen: BTreeMap::new(),
            next_final_key: Some(0),
        }
    }
}

impl Sim {
    fn is_final_reader(&self, client: usize) -> bool {
        client >= self.params.clients
    }

    /// The group a key belongs to (the clients' slot map).
    fn group_of(&self, key: u64) -> usize {
        (key % self.options.groups as u64) as usize
    }

    /// A random node hosting `group` and not lost: what a client's refreshed slot map offers
    /// when it has no better guess of the leader.
    fn random_host(&mut self, group: usize) -> usize {
        let hosts: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].lost && self.nodes[i].groups.contains_key(&group))
            .collect();
        match self.rng.pick(&hosts) {
            Some(&host) => host,
            None => self.rng.range(0, self.nodes.len() as u64) as usize,
        }
    }

    /// Points the client's current request's group at `node`.
    fn retarget(&mut self, client: usize, node: usize) {
        let Some(group) = self.clients[client]
            .current
            .as_ref()
            .map(|op| self.group_of(op.key))
        else {
            return;
        };
        self.clients[client].targets[group] = node;
    }

    /// Points the client's current request's group at a random host.
    fn retarget_randomly(&mut self, client: usize) {
        let Some(group) = self.clients[client]
            .current
            .as_ref()
            .map(|op| self.group_of(op.key))
        else {
            return;
        };
        let node = self.random_host(group);
        self.clients[client].targets[group] = node;
    }

    pub(crate) fn on_client_wake(&mut self, client: usize) {
        if self.clients[client].current.is_some() {
            return;
        }
        let (key, input) = if self.is_final_reader(client) {
            let Some(offset) = self.clients[client].next_final_key else {
                return;
            };
            let mut offset = offset;
            let dead = if self.world.is_some() {
                self.dead_groups()
            } else {
                Default::default()
            };
            let key_at = |offset: u64| {
                offset * self.params.final_readers as u64 + (client - self.params.clients) as u64
            };
            while key_at(offset) < self.params.keys && dead.contains(&self.group_of(key_at(offset)))
            {
                offset += 1;
            }
            self.clients[client].next_final_key = Some(offset);
            let key =
                offset * self.params.final_readers as u64 + (client - self.params.clients) as u64;
            if key >= self.params.keys {
                self.clients[client].next_final_key = None;
                self.on_final_reads_done();
                return;
            }
            (key, KvInput::Get)
        } else {
            if self.phase != Phase::Faults && self.phase != Phase::Healing {
                return;
            }
            self.next_input(client)
        };
        let request = self.clients[client].next_request;
        self.clients[client].next_request += 1;
        let operation = Operation {
            client: client as u64,
            input: input.clone(),
            call: self.now,
            ret: None,
            output: None,
        };
        self.history.push((Some(key), operation));
        let history_index = self.history.len() - 1;
        self.clients[client].current = Some(CurrentOp {
            history_index,
            request,
            key,
            input,
        });
        self.send_request(client);
        let timeout = self.params.client_timeout;
        self.schedule(timeout, Event::ClientTimeout { client, request });
    }

    fn next_input(&mut self, client: usize) -> (u64, KvInput) {
        let key = self.rng.range(0, self.params.keys);
        let unique = ((client as u64 + 1) << 32) | self.clients[client].next_request;
        let roll = self.rng.unit();
        let input = if roll < 0.4 {
            KvInput::Get
        } else if roll < 0.75 {
            KvInput::Put(unique)
        } else if roll < 0.9 {
            let expected = self.clients[client].last_seen.get(&key).copied().flatten();
            KvInput::Cas {
                expected,
                new: unique,
            }
        } else {
            KvInput::Delete
        };
        (key, input)
    }

    fn send_request(&mut self, client: usize) {
        let Some(request) = self.current_request(client) else {
            return;
        };
        let mut node = self.clients[client].targets[request.group];
        if request.input == KvInput::Get
            && self.options.bug == Some(crate::options::Bug::StaleReads)
        {
            // The defect serves reads anywhere: spread them to show it.
            node = self.random_host(request.group);
        }
        if let Some(delay) = self.link_delay() {
            self.schedule(
                delay,
                Event::ToNode {
                    node,
                    packet: Box::new(Packet::Request(request)),
                },
            );
        }
    }

    pub(crate) fn on_reply(&mut self, client: usize, reply: Reply) {
        let Some(op) = &self.clients[client].current else {
            return;
        };
        if op.request != reply.request {
            return;
        }
        match reply.outcome {
            Outcome::Done(output) => self.complete_op(client, output),
            Outcome::NotLeader(Some(id)) if crate::node::slot_of(id) < self.nodes.len() => {
                self.retarget(client, crate::node::slot_of(id));
                self.retry_soon(client, MS);
            }
            Outcome::NotLeader(_) => {
                self.retarget_randomly(client);
                self.retry_soon(client, MS);
            }
            Outcome::Failed => {
                self.retarget_randomly(client);
                self.retry_soon(client, 10 * MS);
            }
        }
    }

    /// The request certainly did not happen: send it again (same request id) after a pause.
    fn retry_soon(&mut self, client: usize, backoff: u64) {
        let delay = self.rng.range(backoff, 3 * backoff + 1);
        self.send_request_later(client, delay);
    }

    fn send_request_later(&mut self, client: usize, delay: u64) {
        let Some(request) = self.current_request(client) else {
            return;
        };
        let node = self.clients[client].targets[request.group];
        if let Some(link) = self.link_delay() {
            self.schedule(
                delay + link,
                Event::ToNode {
                    node,
                    packet: Box::new(Packet::Request(request)),
                },
            );
        }
    }

    /// The request the client is waiting on, as it goes on the wire.
    fn current_request(&self, client: usize) -> Option<Request> {
        let op = self.clients[client].current.as_ref()?;
        Some(Request {
            client,
            request: op.request,
            group: self.group_of(op.key),
            key: op.key,
            input: op.input.clone(),
        })
    }

    fn complete_op(&mut self, client: usize, output: KvOutput) {
        let Some(op) = self.clients[client].current.take() else {
            return;
        };
        if let KvOutput::Value(value) = output {
            self.clients[client].last_seen.insert(op.key, value);
        }
        let (_, operation) = &mut self.history[op.history_index];
        operation.ret = Some(self.now);
        operation.output = Some(output);
        if self.is_final_reader(client) {
            self.clients[client].next_final_key =
                self.clients[client].next_final_key.map(|offset| offset + 1);
        }
        let think = self.rng.range(0, 5 * MS);
        self.schedule(think, Event::ClientWake { client });
    }

    pub(crate) fn on_client_timeout(&mut self, client: usize, request: u64) {
        let Some(op) = &self.clients[client].current else {
            return;
        };
        if op.request != request {
            return;
        }
        self.retarget_randomly(client);
        let op = self.clients[client].current.take().expect("checked");
        if op.input == KvInput::Get {
            // A read that never answered changed nothing: it is left out of the history.
            self.history[op.history_index].0 = None;
        }
        self.schedule(1, Event::ClientWake { client });
    }
}
