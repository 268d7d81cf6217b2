//! `maxmemory` at the node: writes that add data are refused with `-OOM` while the node is
//! over its limit (policy `noeviction`, or nothing left to evict), and the leaders here evict
//! keys of their groups until it is under again. A leader decides what to evict and proposes
//! it as a `DEL`, so every replica applies the same deletions: no replica evicts on its own.

use bytes::Bytes;
use resp::Value;
use tokio::sync::oneshot;

use crate::cluster::META;
use crate::command::Operation;
use crate::driver::{wall_clock_ms, Driver, Outcome};

/// Redis's error text, exactly.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// Keys one group evicts in one round at most (a round per tick), so one `DEL` entry stays
/// small and a wrong estimate cannot empty a group in one step.
const EVICT_KEYS_PER_ROUND: usize = 512;

/// One group's eviction in flight: its `DEL` reply arrives here.
pub(crate) type Pending = oneshot::Receiver<Outcome>;

impl Driver {
    /// The estimated data size of every data group this node hosts (the meta group's member
    /// records and users are the cluster's own: never counted, never evicted).
    pub(crate) fn memory_used(&self) -> u64 {
        self.groups
            .values()
            .filter(|g| g.id != META)
            .map(|g| g.state.keyspace.memory_used())
            .sum()
    }

    fn over_maxmemory(&self) -> bool {
        self.config.maxmemory > 0 && self.memory_used() > self.config.maxmemory
    }

    /// Whether a write of these commands to `group` must be refused with `-OOM`: the node is
    /// over `maxmemory`, a command may add data (Redis's `denyoom` flag), and the policy is
    /// `noeviction` or leaves nothing in this group to evict.
    pub(crate) fn refuses_for_memory<'a>(
        &self,
        group: crate::cluster::GroupId,
        mut commands: impl Iterator<Item = &'a [Bytes]>,
    ) -> bool {
        if group == META
            || !commands.any(|args| {
                keyspace::lookup(&args[0]).is_some_and(|spec| spec.flags.contains(&"denyoom"))
            })
            || !self.over_maxmemory()
        {
            return false;
        }
        let Some(rule) = self.config.maxmemory_policy.eviction() else {
            return true;
        };
        self.groups.get(&group).is_none_or(|g| {
            g.state
                .keyspace
                .eviction_candidates(rule, wall_clock_ms(), 0, 1, 1)
                .is_empty()
        })
    }

    /// Once per tick: while the node is over `maxmemory`, each group led here evicts (one
    /// `DEL` in flight per group, so the next choice sees the last one applied).
    pub(crate) fn evict(&mut self) {
        let Some(rule) = self.config.maxmemory_policy.eviction() else {
            return;
        };
        for group in self.groups.values_mut() {
            if let Some(pending) = &mut group.eviction {
                match pending.try_recv() {
                    Ok(Outcome::Reply(Value::Integer(n))) => {
                        self.evicted_keys += n.max(0) as u64;
                        group.eviction = None;
                    }
                    Err(oneshot::error::TryRecvError::Empty) => {}
                    Ok(_) | Err(_) => group.eviction = None,
                }
            }
        }
        if self.config.maxmemory == 0 {
            return;
        }
        let mut excess = self.memory_used().saturating_sub(self.config.maxmemory);
        let now = wall_clock_ms();
        let samples = self.config.maxmemory_samples;
        self.evict_rounds += 1;
        let seed = self.evict_rounds.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for group in self.groups.values_mut() {
            if excess == 0 || group.id == META || !group.is_leader() || group.eviction.is_some() {
                continue;
            }
            let keyspace = &group.state.keyspace;
            let mut victims = Vec::new();
            for key in keyspace.eviction_candidates(rule, now, seed, samples, EVICT_KEYS_PER_ROUND)
            {
                if excess == 0 {
                    break;
                }
                excess = excess.saturating_sub(keyspace.key_memory(&key).unwrap_or(0));
                victims.push(key);
            }
            if victims.is_empty() {
                continue;
            }
            let mut args = vec![Bytes::from_static(b"DEL")];
            args.extend(victims);
            let (reply, pending) = oneshot::channel();
            group.propose(Operation::Command { now_ms: now, args }, reply);
            group.eviction = Some(pending);
        }
    }
}
