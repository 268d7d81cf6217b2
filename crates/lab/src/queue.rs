//! The simulator's event queue: events in time order, first scheduled first among equal times.
//!
//! The heap holds only 16-byte keys (time, then sequence and slot packed in one word) and the
//! events wait in a slab: a heap operation moves and compares plain integers instead of whole
//! events, which made the queue the simulator's largest single cost.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bits of a key that name the slab slot: at most 16 million events pending at once (a
/// simulation has thousands); the other 40 count events scheduled (a trillion).
const SLOT_BITS: u32 = 24;
const SLOTS_MAX: usize = 1 << SLOT_BITS;

/// A time-ordered queue of `E`.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// `time << 64 | sequence << SLOT_BITS | slot`: ordered by time, then by scheduling order.
    heap: BinaryHeap<Reverse<u128>>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `time`.
    pub fn push(&mut self, time: u64, event: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                assert!(
                    self.slab.len() < SLOTS_MAX,
                    "more than {SLOTS_MAX} events pending"
                );
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.seq += 1;
        let order = (self.seq << SLOT_BITS) | u64::from(slot);
        self.heap
            .push(Reverse((u128::from(time) << 64) | u128::from(order)));
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let Reverse(key) = self.heap.pop()?;
        let (time, slot) = (
            (key >> 64) as u64,
            (key as u64 & (SLOTS_MAX as u64 - 1)) as u32,
        );
        let event = self.slab[slot as usize]
            .take()
            .expect("a scheduled slot holds its event");
        self.free.push(slot);
        Some((time, event))
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::EventQueue;

    // Goal: time order, and first-in first-out among equal times, with slots reused.
    // Method: push out of order with ties, pop some, push more, drain.
    #[test]
    fn time_order_then_fifo() {
        let mut queue = EventQueue::default();
        for (time, name) in [(5, "a"), (1, "b"), (5, "c"), (3, "d")] {
            queue.push(time, name);
        }
        assert_eq!(queue.pop(), Some((1, "b")));
        queue.push(5, "e");
        queue.push(2, "f");
        let rest: Vec<(u64, &str)> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest, vec![(2, "f"), (3, "d"), (5, "a"), (5, "c"), (5, "e")]);
        assert!(queue.is_empty());
    }
}
