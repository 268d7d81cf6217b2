//! Each scenario node runs its events one at a time on one CPU: an event costs CPU time
//! (`world::cost`, times the node's throttle factor), and what arrives while the CPU is busy
//! or the process is paused waits in a queue. Raft traffic, timers and disk completions go
//! ahead of client requests; a client request arriving when the oldest waiting one has
//! waited longer than `SHED_AFTER` is refused at once (admission control).

use crate::net::{Outcome, Packet, Reply};
use crate::params::MS;
use crate::scenario::world::{Queued, CLIENT_QUEUE_MAX, SHED_AFTER};
use crate::sim::{event_kind, Event, Sim};

/// Most CPU time queued events may take in one batch (see `on_node_resume`).
const BATCH_MAX: u64 = MS / 5;

impl Sim {
    /// An event for node `index` (up, current incarnation): run it now or queue it.
    pub(crate) fn enqueue_on_cpu(&mut self, index: usize, event: Event) {
        let now = self.now;
        let paused_until = self.nodes[index].paused_until;
        let world = self.world.as_mut().expect("scenario mode");
        let cpu = &mut world.cpu[index];
        let free_at = cpu.busy_until.max(paused_until);
        if free_at <= now && cpu.queued() == 0 {
            self.run_on_cpu(index, event, now);
            return;
        }
        let client_request = match &event {
            Event::ToNode { packet, .. } => match packet.as_ref() {
                Packet::Request(request) => Some((request.client, request.request)),
                _ => None,
            },
            _ => None,
        };
        match client_request {
            Some((client, request)) => {
                let running = paused_until <= now;
                let stale_head = cpu
                    .clients
                    .front()
                    .is_some_and(|head| now - head.arrived > SHED_AFTER);
                if running && (stale_head || cpu.clients.len() >= CLIENT_QUEUE_MAX) {
                    cpu.shed += 1;
                    let reply = Reply {
                        request,
                        outcome: Outcome::Failed,
                    };
                    if let Some(delay) = self.reply_delay(index, client) {
                        self.schedule(delay, Event::ToClient { client, reply });
                    }
                    return;
                }
                cpu.clients.push_back(Queued {
                    arrived: now,
                    event,
                });
            }
            None => cpu.internal.push_back(Queued {
                arrived: now,
                event,
            }),
        }
        if !cpu.resume_pending {
            cpu.resume_pending = true;
            self.schedule(
                free_at.saturating_sub(now),
                Event::NodeResume { node: index },
            );
        }
    }

    /// The node's CPU is free: run the next queued event.
    pub(crate) fn on_node_resume(&mut self, index: usize) {
        let now = self.now;
        let paused_until = self.nodes[index].paused_until;
        let world = self.world.as_mut().expect("scenario mode");
        let cpu = &mut world.cpu[index];
        cpu.resume_pending = false;
        if !self.nodes[index].is_up() {
            cpu.reset();
            return;
        }
        let free_at = cpu.busy_until.max(paused_until);
        if free_at > now {
            cpu.resume_pending = true;
            self.schedule(free_at - now, Event::NodeResume { node: index });
            return;
        }
        // Run queued events back to back; their effects leave at this instant as long as the
        // work done in this batch stays under `BATCH_MAX` (a simplification that saves an
        // event per queued event).
        let start = now;
        loop {
            let world = self.world.as_mut().expect("scenario mode");
            let cpu = &mut world.cpu[index];
            if cpu.busy_until.saturating_sub(start) >= BATCH_MAX || !self.nodes[index].is_up() {
                break;
            }
            let Some(next) = cpu.internal.pop_front().or_else(|| cpu.clients.pop_front()) else {
                break;
            };
            self.run_on_cpu(index, next.event, next.arrived);
        }
        let world = self.world.as_mut().expect("scenario mode");
        let cpu = &mut world.cpu[index];
        if cpu.queued() > 0 && !cpu.resume_pending {
            cpu.resume_pending = true;
            let wait = cpu.busy_until.saturating_sub(now);
            self.schedule(wait, Event::NodeResume { node: index });
        }
    }

    /// Runs `event`, charging its CPU time after what the CPU already does; ticks and client
    /// requests record how long they waited (the event-queue delay the health rule compares).
    fn run_on_cpu(&mut self, index: usize, event: Event, arrived: u64) {
        let now = self.now;
        let groups = self.nodes[index].groups.len();
        let incarnation = self.nodes[index].incarnation;
        let world = self.world.as_mut().expect("scenario mode");
        let cost = world.cpu[index].cost(&event, groups);
        let start = world.cpu[index].busy_until.max(now);
        world.cpu[index].busy_until = start + cost;
        let waited = start - arrived;
        let (packet, kind, event_incarnation) = match event {
            Event::Tick { incarnation, .. } => {
                world.health[index].record_tick_lag(waited);
                (None, event_kind::TICK, incarnation)
            }
            Event::ToNode { packet, .. } if matches!(packet.as_ref(), Packet::Request(_)) => {
                world.health[index].record_tick_lag(waited);
                (Some(packet), event_kind::PACKET, incarnation)
            }
            Event::DiskDone { incarnation, .. } => (None, event_kind::DISK, incarnation),
            Event::Flush { incarnation, .. } => (None, event_kind::FLUSH, incarnation),
            Event::ToNode { packet, .. } => (Some(packet), event_kind::PACKET, incarnation),
            _ => return,
        };
        if event_incarnation != incarnation || !self.nodes[index].is_up() {
            return;
        }
        self.run_node_event(index, packet, kind);
    }

    /// The delay of a reply from node `index` to `client`, or `None` if it is lost.
    pub(crate) fn reply_delay(&mut self, index: usize, client: usize) -> Option<u64> {
        match self.world.as_mut() {
            Some(world) if world.load.owns(client) => {
                let dc = world.load.dc_of(client);
                world.net.client_to_node(dc, index, &mut self.rng)
            }
            _ => self.link_delay(),
        }
    }
}
