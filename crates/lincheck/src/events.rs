//! The time-ordered, doubly linked list of call and return events that the search walks.

use crate::Operation;

/// "No node": the end of the list, or a return event's missing match.
pub(crate) const NIL: usize = usize::MAX;
/// The sentinel node before the first event.
const HEAD: usize = 0;

/// One event of the doubly linked list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    prev: usize,
    pub(crate) next: usize,
    /// Index of the operation in the history (`NIL` for the head).
    pub(crate) operation: usize,
    /// For a call event, the node of its return event; `NIL` for a return event.
    matching: usize,
}

impl Node {
    pub(crate) fn is_call(&self) -> bool {
        self.matching != NIL
    }
}

/// Call and return events sorted by time, linked so that an operation can be removed and put
/// back in O(1).
pub(crate) struct EventList {
    pub(crate) nodes: Vec<Node>,
}

impl EventList {
    pub(crate) fn build<I, O>(history: &[Operation<I, O>]) -> Self {
        // Sort key: (class, time, is a return, operation). Class 0 holds every call and every
        // finite return; returns that never happened follow all of them (class 1 for operations
        // whose answer is known and which must be linearized, class 2 for optional ones, so that
        // reaching an optional return means every mandatory operation is done). Calls sort before
        // returns at equal times so touching operations are concurrent; the operation index makes
        // every key distinct, hence the order (and the whole search) deterministic.
        let mut events: Vec<(u8, u64, bool, usize)> = Vec::with_capacity(history.len() * 2);
        for (index, operation) in history.iter().enumerate() {
            events.push((0, operation.call, false, index));
            let class = match (operation.ret, &operation.output) {
                (Some(_), _) => 0,
                (None, Some(_)) => 1,
                (None, None) => 2,
            };
            events.push((class, operation.ret.unwrap_or(0), true, index));
        }
        events.sort_unstable();
        let head = Node {
            prev: NIL,
            next: NIL,
            operation: NIL,
            matching: NIL,
        };
        let mut nodes = Vec::with_capacity(events.len() + 1);
        nodes.push(head);
        let mut call_node = vec![NIL; history.len()];
        let mut return_node = vec![NIL; history.len()];
        for (position, &(_, _, is_return, operation)) in events.iter().enumerate() {
            let index = position + 1;
            nodes.push(Node {
                prev: index - 1,
                next: NIL,
                operation,
                matching: NIL,
            });
            nodes[index - 1].next = index;
            let slot = if is_return {
                &mut return_node
            } else {
                &mut call_node
            };
            slot[operation] = index;
        }
        for (call, ret) in call_node.into_iter().zip(return_node) {
            nodes[call].matching = ret;
        }
        EventList { nodes }
    }

    pub(crate) fn first(&self) -> usize {
        self.nodes[HEAD].next
    }

    /// Unlinks a call event and its return event.
    pub(crate) fn lift(&mut self, call: usize) {
        let entry = self.nodes[call];
        self.nodes[entry.prev].next = entry.next;
        self.nodes[entry.next].prev = entry.prev;
        let matching = self.nodes[entry.matching];
        self.nodes[matching.prev].next = matching.next;
        if matching.next != NIL {
            self.nodes[matching.next].prev = matching.prev;
        }
    }

    /// Relinks what [`EventList::lift`] unlinked; valid because lifts are undone in LIFO order,
    /// so the neighbours the removed nodes still point at are back in place.
    pub(crate) fn unlift(&mut self, call: usize) {
        let entry = self.nodes[call];
        let return_index = entry.matching;
        let matching = self.nodes[return_index];
        self.nodes[matching.prev].next = return_index;
        if matching.next != NIL {
            self.nodes[matching.next].prev = return_index;
        }
        self.nodes[entry.prev].next = call;
        self.nodes[entry.next].prev = call;
    }
}
