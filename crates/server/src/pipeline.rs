//! A connection's pipelined commands in flight: every keyed command a client has sent goes
//! to the node thread at once (up to [`PIPELINE_COMMANDS_MAX`]), and the replies go back in
//! the order the commands came, so 16 pipelined writes share one commit round instead of
//! taking 16.
//!
//! What any client can see stays as if the commands ran one after another:
//! - the commands in flight are all for one group: a command for another group waits for
//!   them to be answered. Groups commit independently, so two in flight at once could take
//!   effect in either order, and another client could see the later one's effect without the
//!   earlier one's (a single Redis never shows that);
//! - they reach the node thread, and so the group's log, in the connection's order (one
//!   channel, one reader);
//! - a read never runs beside a write from the same connection, in either order: a read
//!   waits for the connection's writes in flight to be answered (so it sees them), a write
//!   waits for the reads (so they do not see it). Reads in flight together are served in
//!   the order they came, each at a commit index at least the one before's;
//! - a command the node thread sends back (it does not lead the group: the command must be
//!   forwarded or redirected) closes the connection's [`Gate`], and every command after it is
//!   sent back too, so they all go the slow way in order and none overtakes it;
//! - everything else (transactions, WATCH, blocking commands, scripts, Pub/Sub, connection
//!   commands, commands without keys) waits for the commands in flight and runs alone, as
//!   before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::Target;
use crate::cluster::GroupId;
use crate::driver::{Input, Outcome};

/// Commands of one connection in flight at once. Each holds at most one reply here until
/// the ones before it are written, so this also bounds what a client that stops reading
/// makes the node hold (with the query buffer and the output flush threshold).
pub const PIPELINE_COMMANDS_MAX: usize = 1024;

/// Shared by a connection's commands in flight: closed by the node thread when it sends one
/// back (not the leader). A closed gate sends back every later command of the connection, so
/// that the connection can send them again, in order, after the one refused.
#[derive(Debug, Default)]
pub struct Gate(AtomicBool);

impl Gate {
    pub fn close(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Closes `gate`, if there is one.
    pub fn close_some(gate: Option<&Gate>) {
        if let Some(gate) = gate {
            gate.close();
        }
    }
}

/// A keyed command for one group.
#[derive(Clone, Debug)]
pub struct Routed {
    pub target: Target,
    pub args: Vec<Bytes>,
    pub read: bool,
    /// When the command was parsed (its time, in the command statistics, counts from here).
    pub started: std::time::Instant,
}

/// One command in flight, in the connection's order.
enum Slot {
    /// Answered without the node thread (a refusal): kept in line with the others.
    Done(Bytes),
    Waiting {
        routed: Routed,
        receiver: oneshot::Receiver<Outcome>,
        deadline: Instant,
    },
}

/// The head of the pipeline, once it is in.
pub enum Next {
    /// Its reply (not encoded yet for node outcomes: the caller knows the protocol).
    Encoded(Bytes),
    Outcome(Outcome, Routed),
    /// No outcome within the command timeout.
    TimedOut,
}

/// The commands in flight of one connection.
pub struct Pipeline {
    slots: VecDeque<Slot>,
    /// The group of the commands in flight, and how many reads and writes.
    in_flight: Option<(GroupId, usize, usize)>,
    gate: Arc<Gate>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            slots: VecDeque::new(),
            in_flight: None,
            gate: Arc::new(Gate::default()),
        }
    }
}

impl Pipeline {
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= PIPELINE_COMMANDS_MAX
    }

    /// Whether `routed` must wait: the connection has commands of another group in flight,
    /// or of the other kind (read or write).
    pub fn conflicts(&self, routed: &Routed) -> bool {
        match self.in_flight {
            None => false,
            Some((group, _, _)) if group != routed.target.group => true,
            Some((_, reads, writes)) => {
                if routed.read {
                    writes > 0
                } else {
                    reads > 0
                }
            }
        }
    }

    /// Queues a reply known at once, behind the commands in flight.
    pub fn push_done(&mut self, reply: Bytes) {
        assert!(
            self.slots.len() < PIPELINE_COMMANDS_MAX,
            "pipeline over its limit: len={}",
            self.slots.len()
        );
        self.slots.push_back(Slot::Done(reply));
    }

    /// Sends `routed` to the node thread; `Err` with it back if the node's queue is full.
    /// The caller checked [`Pipeline::is_full`] and [`Pipeline::conflicts`].
    pub fn submit(
        &mut self,
        routed: Routed,
        node: &SyncSender<Input>,
        timeout: std::time::Duration,
    ) -> Result<(), Routed> {
        assert!(
            self.slots.len() < PIPELINE_COMMANDS_MAX,
            "pipeline over its limit: len={}",
            self.slots.len()
        );
        let (sender, receiver) = oneshot::channel();
        let input = Input::Pipelined {
            group: routed.target.group,
            args: routed.args.clone(),
            read: routed.read,
            gate: Arc::clone(&self.gate),
            reply: sender,
        };
        if node.try_send(input).is_err() {
            return Err(routed);
        }
        let (group, reads, writes) = self.in_flight.get_or_insert((routed.target.group, 0, 0));
        assert_eq!(*group, routed.target.group, "two groups in flight");
        if routed.read {
            *reads += 1;
        } else {
            *writes += 1;
        }
        self.slots.push_back(Slot::Waiting {
            routed,
            receiver,
            deadline: Instant::now() + timeout,
        });
        Ok(())
    }

    /// The head's outcome if it is in, without waiting.
    pub fn try_next(&mut self) -> Option<Next> {
        let outcome = match self.slots.front_mut()? {
            Slot::Done(_) => None,
            Slot::Waiting { receiver, .. } => match receiver.try_recv() {
                Ok(outcome) => Some(outcome),
                Err(oneshot::error::TryRecvError::Empty) => return None,
                Err(oneshot::error::TryRecvError::Closed) => None,
            },
        };
        Some(self.pop(outcome))
    }

    /// Waits for the head's outcome (`None`: nothing in flight). Cancel-safe: dropped before
    /// it is ready, it leaves the pipeline as it was.
    pub async fn next(&mut self) -> Option<Next> {
        let outcome = match self.slots.front_mut()? {
            Slot::Done(_) => None,
            Slot::Waiting {
                receiver, deadline, ..
            } => tokio::time::timeout_at(*deadline, receiver)
                .await
                .ok()
                .and_then(Result::ok),
        };
        Some(self.pop(outcome))
    }

    /// Removes the head, with its outcome (`None`: it timed out); a fresh gate once nothing
    /// is in flight.
    fn pop(&mut self, outcome: Option<Outcome>) -> Next {
        let slot = self.slots.pop_front();
        if self.slots.is_empty() {
            self.gate = Arc::new(Gate::default());
        }
        let (routed, outcome) = match slot {
            Some(Slot::Done(reply)) => return Next::Encoded(reply),
            Some(Slot::Waiting { routed, .. }) => (routed, outcome),
            None => unreachable!("pop of an empty pipeline"),
        };
        if let Some((_, reads, writes)) = self.in_flight.as_mut() {
            if routed.read {
                *reads -= 1;
            } else {
                *writes -= 1;
            }
            if (*reads, *writes) == (0, 0) {
                self.in_flight = None;
            }
        }
        match outcome {
            Some(outcome) => Next::Outcome(outcome, routed),
            None => Next::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::Value;

    fn routed(group: GroupId, read: bool, name: &'static [u8]) -> Routed {
        Routed {
            target: Target { group, slot: 0 },
            args: vec![Bytes::from_static(name)],
            read,
            started: std::time::Instant::now(),
        }
    }

    fn reply(next: Option<Next>) -> Value {
        match next {
            Some(Next::Outcome(Outcome::Reply(value), _)) => value,
            _ => panic!("not a reply"),
        }
    }

    // Goal: the ordering rules of the module comment. Method: a fake node thread (the
    // channel's receiving end): reads of one group go together, a write of that group or
    // anything of another group waits, replies come out in submission order whatever order
    // the node answers in, and a drained pipeline starts a fresh gate.
    #[test]
    fn commands_in_flight_share_one_group_and_one_kind_and_answer_in_order() {
        let (node, inputs) = std::sync::mpsc::sync_channel(8);
        let timeout = std::time::Duration::from_secs(5);
        let mut pipeline = Pipeline::default();
        pipeline
            .submit(routed(1, true, b"r1"), &node, timeout)
            .unwrap();
        assert!(!pipeline.conflicts(&routed(1, true, b"r2")));
        pipeline
            .submit(routed(1, true, b"r2"), &node, timeout)
            .unwrap();
        assert!(
            pipeline.conflicts(&routed(1, false, b"w")),
            "a write waits for reads"
        );
        assert!(
            pipeline.conflicts(&routed(2, true, b"r")),
            "another group waits"
        );
        let mut waiters = Vec::new();
        let mut gates = Vec::new();
        while let Ok(Input::Pipelined {
            args, reply, gate, ..
        }) = inputs.try_recv()
        {
            waiters.push((args[0].clone(), reply));
            gates.push(gate);
        }
        assert_eq!(waiters.len(), 2);
        assert!(Arc::ptr_eq(&gates[0], &gates[1]), "one gate per burst");
        // The node answers the second first: the first still comes out first.
        let (second, first) = (waiters.pop().unwrap(), waiters.pop().unwrap());
        second
            .1
            .send(Outcome::Reply(Value::Bulk(second.0)))
            .unwrap();
        assert!(pipeline.try_next().is_none(), "the head is not in yet");
        first.1.send(Outcome::Reply(Value::Bulk(first.0))).unwrap();
        assert_eq!(
            reply(pipeline.try_next()),
            Value::Bulk(Bytes::from_static(b"r1"))
        );
        assert!(pipeline.conflicts(&routed(1, false, b"w")));
        assert_eq!(
            reply(pipeline.try_next()),
            Value::Bulk(Bytes::from_static(b"r2"))
        );
        assert!(pipeline.is_empty());
        assert!(!pipeline.conflicts(&routed(2, false, b"w")));
        pipeline
            .submit(routed(2, false, b"w"), &node, timeout)
            .unwrap();
        let Ok(Input::Pipelined { gate, .. }) = inputs.try_recv() else {
            panic!("the write went to the node");
        };
        assert!(
            !Arc::ptr_eq(&gate, &gates[0]),
            "a fresh gate after the drain"
        );
    }

    // Goal: a refusal known at once keeps its place, and a closed outcome channel is an
    // unknown outcome, not a hang. Method: a command, a refusal, a command whose node side is
    // dropped.
    #[test]
    fn refusals_keep_their_place_and_lost_commands_time_out() {
        let (node, inputs) = std::sync::mpsc::sync_channel(8);
        let timeout = std::time::Duration::from_secs(5);
        let mut pipeline = Pipeline::default();
        pipeline
            .submit(routed(1, false, b"w1"), &node, timeout)
            .unwrap();
        pipeline.push_done(Bytes::from_static(b"-NOPERM\r\n"));
        pipeline
            .submit(routed(1, false, b"w2"), &node, timeout)
            .unwrap();
        let Ok(Input::Pipelined { reply: w1, .. }) = inputs.try_recv() else {
            panic!("w1 went to the node");
        };
        drop(inputs);
        w1.send(Outcome::Reply(Value::Integer(1))).unwrap();
        assert_eq!(reply(pipeline.try_next()), Value::Integer(1));
        assert!(matches!(pipeline.try_next(), Some(Next::Encoded(_))));
        assert!(matches!(pipeline.try_next(), Some(Next::TimedOut)));
        assert!(pipeline.is_empty());
    }
}
