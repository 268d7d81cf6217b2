//! The cluster's shape: which group owns each slot, how replica identities are made, the
//! placement plan every node computes alike when the cluster is created, and this node's
//! view of the others (what group leaders reported, when each node was last heard, which
//! nodes are draining).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::NodeId;
use resp::Value;

use crate::config::{Member, ServerConfig};

pub type GroupId = u64;
/// A replica's Raft id: `generation << 16 | node`. Generation 0 is the replica the cluster
/// was created with; repair makes new ones with fresh generations, so an identity that
/// once voted is never reused for an empty replica.
pub type ReplicaId = u64;

/// Redis Cluster's slot count.
pub const SLOTS: u64 = 16384;
/// Node ids fit in the low 16 bits of a replica id.
pub const NODE_ID_MAX: u64 = 0xFFFF;
/// Most groups a cluster may have (SCAN cursors carry the group in 10 bits).
pub const GROUPS_MAX: u64 = 1024;
/// How often leaders report their groups to every node.
pub const REPORT_EVERY: Duration = Duration::from_millis(500);

/// The group owning `slot`: contiguous, nearly equal ranges.
pub fn group_of_slot(slot: u16, groups: u64) -> GroupId {
    u64::from(slot) * groups / SLOTS + 1
}

/// The first and last slot of `group`.
pub fn slot_range(group: GroupId, groups: u64) -> (u16, u16) {
    let first = ((group - 1) * SLOTS).div_ceil(groups);
    let end = (group * SLOTS).div_ceil(groups);
    (first as u16, (end - 1) as u16)
}

pub fn replica_id(node: NodeId, generation: u64) -> ReplicaId {
    ((generation & 0xFFFF) << 16) | node
}

pub fn node_of(replica: ReplicaId) -> NodeId {
    replica & NODE_ID_MAX
}

pub fn generation_of(replica: ReplicaId) -> u64 {
    (replica >> 16) & 0xFFFF
}

/// The write-ahead log keeps each replica under `group << 32 | replica`: one log for all.
pub fn wal_key(group: GroupId, replica: ReplicaId) -> u64 {
    (group << 32) | replica
}

pub fn from_wal_key(key: u64) -> (GroupId, ReplicaId) {
    (key >> 32, key & 0xFFFF_FFFF)
}

/// The slot of a command's first key, or `CROSSSLOT` if its keys belong to different groups
/// (one group applies a command atomically; Redis Cluster asks for one slot, which implies
/// it, and a single-group cluster takes any keys, as a single Redis does). `None` for a
/// command without keys.
pub fn command_slot(args: &[Bytes], groups: u64) -> Result<Option<u16>, Value> {
    keyspace::key_positions(args)
        .into_iter()
        .try_fold(None, |slot, index| {
            merge_slot(slot, crate::local::key_slot(&args[index]), groups)
        })
}

/// The slot of several commands (a transaction), or `CROSSSLOT`.
pub fn commands_slot<'a>(
    commands: impl IntoIterator<Item = &'a Vec<Bytes>>,
    groups: u64,
) -> Result<Option<u16>, Value> {
    let mut slot = None;
    for command in commands {
        if let Some(s) = command_slot(command, groups)? {
            slot = merge_slot(slot, s, groups)?;
        }
    }
    Ok(slot)
}

/// The slot of some keys, or `CROSSSLOT`.
pub fn keys_slot(keys: &[Bytes], groups: u64) -> Result<Option<u16>, Value> {
    keys.iter().try_fold(None, |slot, key| {
        merge_slot(slot, crate::local::key_slot(key), groups)
    })
}

fn merge_slot(slot: Option<u16>, next: u16, groups: u64) -> Result<Option<u16>, Value> {
    match slot {
        Some(s) if group_of_slot(s, groups) != group_of_slot(next, groups) => Err(Value::Error(
            "CROSSSLOT Keys in request don't hash to the same slot".to_owned(),
        )),
        Some(s) => Ok(Some(s)),
        None => Ok(Some(next)),
    }
}

/// What a group's leader says of its group (sent to every node every `REPORT_EVERY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupReport {
    pub group: GroupId,
    pub term: u64,
    pub leader: NodeId,
    pub voters: Vec<ReplicaId>,
    pub learners: Vec<ReplicaId>,
    pub commit: u64,
}

impl GroupReport {
    pub fn replicas(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }
}

/// This node's view of the cluster, shared by the node thread and the client tasks.
#[derive(Debug)]
pub struct View {
    /// The newest report of each group (highest term), and when it came.
    pub reports: BTreeMap<GroupId, (GroupReport, Instant)>,
    pub last_heard: BTreeMap<NodeId, Instant>,
    /// Nodes an operator asked to drain (kept in memory: a restart forgets it).
    pub draining: BTreeSet<NodeId>,
    pub started: Instant,
    /// The cluster's group count (fixed at creation).
    pub groups: u64,
    /// Every member: the seed list of the configuration, then what the meta group records.
    pub members: BTreeMap<NodeId, Member>,
    /// (term, applied index) of the meta group state `members` comes from.
    pub members_version: (u64, u64),
    /// What each node last said of its own speed, and when.
    pub health: BTreeMap<NodeId, (crate::health::Health, Instant)>,
    /// When each peer's recent health reports arrived (the last `HEARD_WINDOW`).
    pub health_heard: BTreeMap<NodeId, VecDeque<Instant>>,
    /// Each member's TLS client port (0: none), as its `Hello` said (this node's own too).
    pub tls_ports: BTreeMap<NodeId, u16>,
}

/// The window over which missed health reports are counted.
pub const HEARD_WINDOW: Duration = Duration::from_secs(3);

pub type SharedView = Arc<Mutex<View>>;

impl Default for View {
    fn default() -> View {
        View {
            reports: BTreeMap::new(),
            last_heard: BTreeMap::new(),
            draining: BTreeSet::new(),
            started: Instant::now(),
            groups: 1,
            members: BTreeMap::new(),
            members_version: (0, 0),
            health: BTreeMap::new(),
            health_heard: BTreeMap::new(),
            tls_ports: BTreeMap::new(),
        }
    }
}

impl View {
    /// Keeps `report` unless a report of a newer term is known.
    pub fn accept(&mut self, report: GroupReport) {
        let newer = self
            .reports
            .get(&report.group)
            .is_none_or(|(known, _)| report.term >= known.term);
        if newer {
            self.reports.insert(report.group, (report, Instant::now()));
        }
    }

    /// Takes a member list from the meta group if it is newer; returns whether it changed.
    pub fn update_members(
        &mut self,
        version: (u64, u64),
        members: BTreeMap<NodeId, Member>,
    ) -> bool {
        if version <= self.members_version || members.is_empty() {
            return false;
        }
        self.members_version = version;
        // Members are only ever added: a registry read midway through recording the seed
        // members must not make the others vanish.
        let mut changed = false;
        for (id, member) in members {
            changed |= self.members.insert(id, member.clone()).as_ref() != Some(&member);
        }
        changed
    }

    /// A peer's health report arrived.
    pub fn heard_health(&mut self, from: NodeId, health: crate::health::Health) {
        let now = Instant::now();
        self.health.insert(from, (health, now));
        let times = self.health_heard.entry(from).or_default();
        times.push_back(now);
        while times
            .front()
            .is_some_and(|&at| now.duration_since(at) > HEARD_WINDOW)
            || times.len() > 64
        {
            times.pop_front();
        }
    }

    /// The share (per mille) of the health reports peers should have sent this node over the
    /// last window (one per `REPORT_EVERY`) that did not arrive: high on a wonky link or rack.
    /// Only peers heard from at least once count; fewer than two: 0.
    pub fn report_loss_permille(&self, me: NodeId) -> u64 {
        let expected_each = (HEARD_WINDOW.as_millis() / REPORT_EVERY.as_millis()) as u64;
        let now = Instant::now();
        let received: Vec<u64> = self
            .health_heard
            .iter()
            .filter(|(&id, _)| id != me)
            .map(|(_, times)| {
                times
                    .iter()
                    .filter(|&&at| now.duration_since(at) <= HEARD_WINDOW)
                    .count() as u64
            })
            .collect();
        if self.started.elapsed() < HEARD_WINDOW * 2 {
            return 0;
        }
        placement::health::report_loss_permille(&received, expected_each).unwrap_or(0)
    }

    /// Whether `node` said it is sick (gray failure) recently.
    pub fn is_sick(&self, node: NodeId) -> bool {
        self.health
            .get(&node)
            .is_some_and(|(health, at)| health.sick && at.elapsed() < crate::health::FRESH_FOR)
    }

    /// Fresh health reports of nodes other than `me`.
    pub fn peer_health(&self, me: NodeId) -> Vec<crate::health::Health> {
        self.health
            .iter()
            .filter(|(&id, (_, at))| id != me && at.elapsed() < crate::health::FRESH_FOR)
            .map(|(_, (h, _))| *h)
            .collect()
    }

    /// Where a client reaches `node`: its TLS port for a client of this node's TLS port
    /// (as Redis 7 announces with tls-cluster), else its plain client address.
    pub fn address(&self, node: NodeId) -> Option<std::net::SocketAddr> {
        let member = self.members.get(&node)?;
        let tls_port = self.tls_ports.get(&node).copied().unwrap_or(0);
        if tls_port != 0 && crate::tls::client_is_tls() {
            return Some(std::net::SocketAddr::new(member.client.ip(), tls_port));
        }
        Some(member.client)
    }

    pub fn leader(&self, group: GroupId) -> Option<NodeId> {
        self.reports.get(&group).map(|(report, _)| report.leader)
    }

    pub fn heard(&mut self, node: NodeId) {
        self.last_heard.insert(node, Instant::now());
    }

    /// Whether `node` has been silent for `down_after` (counting from this node's start when
    /// it was never heard).
    pub fn is_down(&self, node: NodeId, down_after: Duration) -> bool {
        let since = self.last_heard.get(&node).copied().unwrap_or(self.started);
        since.elapsed() > down_after
    }

    /// Replicas per node, as the reports tell.
    pub fn load(&self) -> BTreeMap<NodeId, usize> {
        let mut load = BTreeMap::new();
        for (report, _) in self.reports.values() {
            for replica in report.replicas() {
                *load.entry(node_of(replica)).or_insert(0) += 1;
            }
        }
        load
    }
}

pub fn lock(view: &SharedView) -> std::sync::MutexGuard<'_, View> {
    view.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The failure domains of the members, with each node's state as this node sees it.
pub fn topology(config: &ServerConfig, view: &View) -> placement::Topology {
    let down_after = Duration::from_millis(config.down_after_ms);
    placement::Topology::new(view.members.iter().map(|(&id, member)| {
        let state = if id != config.id && view.is_down(id, down_after) {
            placement::NodeState::Down
        } else if view.draining.contains(&id) {
            placement::NodeState::Draining
        } else {
            placement::NodeState::Up
        };
        placement::NodeInfo {
            id,
            labels: member.labels.clone(),
            state,
        }
    }))
}

/// The seed members, all up: what the initial plan is computed on.
fn seed_topology(config: &ServerConfig) -> placement::Topology {
    placement::Topology::new(
        config
            .members
            .iter()
            .map(|(&id, member)| placement::NodeInfo::up(id, member.labels.clone())),
    )
}

/// Where each group's replicas go when the cluster is created: the same on every node, as
/// it depends on the seed members only. `plan[g]` lists group g's nodes, preferred leader
/// first; `plan[0]` is the meta group (5 replicas when there are 5 members, else as data).
pub fn initial_plan(config: &ServerConfig) -> Result<Vec<Vec<NodeId>>, String> {
    let topology = seed_topology(config);
    let data = placement::initial(
        &topology,
        config.group_count(),
        config.replication_factor(),
        None,
    )
    .map_err(|e| e.to_string())?;
    let meta_replication = if config.members.len() >= 5 && config.replication_factor() >= 3 {
        5
    } else {
        config.replication_factor()
    };
    let meta =
        placement::initial(&topology, 1, meta_replication, None).map_err(|e| e.to_string())?;
    Ok(meta
        .replicas
        .into_iter()
        .take(1)
        .chain(data.replicas)
        .collect())
}

/// What the placement policy says the seed topology cannot guarantee.
pub fn plan_shortfalls(config: &ServerConfig) -> Vec<String> {
    let topology = seed_topology(config);
    placement::initial(
        &topology,
        config.group_count(),
        config.replication_factor(),
        None,
    )
    .map(|plan| plan.shortfalls.into_iter().map(|s| s.reason).collect())
    .unwrap_or_default()
}

/// What must not change while the cluster lives: written to the data directory when it is
/// created (or joined) and compared at every start.
pub fn fingerprint(config: &ServerConfig) -> String {
    format!(
        "groups = {}\nreplication = {}\n",
        config.group_count(),
        config.replication_factor()
    )
}

/// The meta group: records the members; not in the slot map.
pub const META: GroupId = 0;
/// Its keys: `member:<id>` = `<peer> <client> <dc:pod:rack:host>`.
pub const MEMBER_PREFIX: &str = "member:";

pub fn member_record(member: &Member) -> String {
    format!("{} {} {}", member.peer, member.client, member.labels)
}

pub fn parse_member_record(id: NodeId, text: &str) -> Option<Member> {
    let mut words = text.split(' ');
    let (peer, client, labels) = (
        words.next()?.parse().ok()?,
        words.next()?.parse().ok()?,
        words.next()?,
    );
    Some(Member {
        peer,
        client,
        labels: crate::config::parse_labels(id, labels).ok()?,
    })
}

/// The member list as lines `<id> <peer> <client> <labels>` (the MEMBERS file, JOIN's reply).
pub fn members_text(members: &BTreeMap<NodeId, Member>) -> String {
    members
        .iter()
        .map(|(id, m)| format!("{id} {}\n", member_record(m)))
        .collect()
}

pub fn parse_members_text(text: &str) -> BTreeMap<NodeId, Member> {
    text.lines()
        .filter_map(|line| {
            let (id, record) = line.split_once(' ')?;
            let id = id.parse().ok()?;
            Some((id, parse_member_record(id, record)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a node counts the health reports its peers failed to get through (a wonky link
    // shows as missed or late reports), and says nothing on thin evidence. Method: peers 2 and
    // 3 reported every 500 ms for 3 s, peer 4 once; then a view with one peer only.
    #[test]
    fn missed_health_reports_are_counted_per_mille() {
        let mut view = View {
            started: Instant::now() - Duration::from_secs(60),
            ..View::default()
        };
        let now = Instant::now();
        let times = |count: u64| {
            (0..count)
                .map(|i| now - Duration::from_millis(250 + 500 * i))
                .collect::<VecDeque<_>>()
        };
        view.health_heard.insert(1, times(6));
        view.health_heard.insert(2, times(6));
        view.health_heard.insert(3, times(6));
        view.health_heard.insert(4, times(1));
        // Node 1 is "me": peers 2, 3 and 4 should have sent 18 reports; 13 arrived.
        assert_eq!(view.report_loss_permille(1), 1000 - 1000 * 13 / 18);
        let mut lonely = View {
            started: Instant::now() - Duration::from_secs(60),
            ..View::default()
        };
        lonely.health_heard.insert(2, times(1));
        assert_eq!(
            lonely.report_loss_permille(1),
            0,
            "one peer is not enough to judge"
        );
    }

    // Goal: every slot has exactly one group and ranges are contiguous. Method: walk all
    // slots for several group counts, comparing with slot_range.
    #[test]
    fn slot_ranges_cover_every_slot_once() {
        for groups in [1, 3, 6, 7, 32, 64, 1024] {
            let mut next = 0u64;
            for group in 1..=groups {
                let (first, last) = slot_range(group, groups);
                assert_eq!(u64::from(first), next, "groups {groups} group {group}");
                for slot in [first, last] {
                    assert_eq!(group_of_slot(slot, groups), group);
                }
                next = u64::from(last) + 1;
            }
            assert_eq!(next, SLOTS);
        }
    }

    // Goal: a command's keys must share a group, hash tags included. Method: Redis's own
    // examples ("a" and "b" are in different groups of 64), and the same with one group.
    #[test]
    fn multi_key_commands_need_one_slot() {
        let args = |words: &[&str]| {
            words
                .iter()
                .map(|w| Bytes::from(w.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            command_slot(&args(&["GET", "foo"]), 64),
            Ok(Some(crate::local::key_slot(b"foo")))
        );
        assert_eq!(
            command_slot(&args(&["MSET", "{u}a", "1", "{u}b", "2"]), 64),
            Ok(Some(crate::local::key_slot(b"u")))
        );
        assert!(command_slot(&args(&["MSET", "a", "1", "b", "2"]), 64).is_err());
        assert_eq!(
            command_slot(&args(&["MSET", "a", "1", "b", "2"]), 1),
            Ok(Some(crate::local::key_slot(b"a"))),
            "one group takes any keys"
        );
        assert_eq!(command_slot(&args(&["DBSIZE"]), 64), Ok(None));
    }

    // Goal: identities round-trip through replica ids and log keys.
    #[test]
    fn identities_round_trip() {
        let replica = replica_id(9, 513);
        assert_eq!((node_of(replica), generation_of(replica)), (9, 513));
        assert_eq!(from_wal_key(wal_key(64, replica)), (64, replica));
        assert_eq!(replica_id(3, 0), 3);
    }
}
