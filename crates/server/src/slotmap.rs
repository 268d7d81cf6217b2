//! The slot map in Redis Cluster's forms (CLUSTER SLOTS, SHARDS, NODES, INFO), built from
//! this node's view: each group is a shard whose master is its Raft leader and whose
//! replicas are its other voters. A group whose leader is not known yet is shown with the
//! nodes it was placed on (clients that follow it get `-MOVED` or `-TRYAGAIN` as it settles).

use std::net::SocketAddr;

use bytes::Bytes;
use raft::NodeId;
use resp::Value;

use crate::client::Shared;
use crate::cluster::{self, node_of, slot_range, GroupId};
use crate::local::node_name;

/// One shard: its slots, leader (if known) and replicas' nodes, leader first.
struct Shard {
    first: u16,
    last: u16,
    leader: Option<NodeId>,
    nodes: Vec<NodeId>,
}

/// The shards, from the freshest knowledge: a hosted replica's own (it hears its leader at
/// once), else the leaders' reports, else the plan.
async fn shards_of(shared: &Shared) -> Vec<Shard> {
    let status = crate::client::status(shared).await.unwrap_or_default();
    let view = cluster::lock(&shared.view);
    let groups = shared.config.group_count();
    (1..=groups)
        .map(|group: GroupId| {
            let (first, last) = slot_range(group, groups);
            let local = status
                .groups
                .iter()
                .find(|g| g.group == group && g.leader.is_some());
            let reported = view.reports.get(&group).map(|(r, _)| r);
            let (leader, mut nodes) = match (local, reported) {
                (Some(local), reported) if reported.is_none_or(|r| local.term >= r.term) => (
                    local.leader,
                    local.voters.iter().map(|&r| node_of(r)).collect::<Vec<_>>(),
                ),
                (_, Some(report)) => (
                    Some(report.leader),
                    report.voters.iter().map(|&r| node_of(r)).collect(),
                ),
                _ => (
                    None,
                    shared.plan.get(group as usize).cloned().unwrap_or_default(),
                ),
            };
            if let Some(leader) = leader {
                nodes.retain(|&n| n != leader);
                nodes.insert(0, leader);
            }
            Shard {
                first,
                last,
                leader,
                nodes,
            }
        })
        .collect()
}

fn address(shared: &Shared, node: NodeId) -> Option<SocketAddr> {
    cluster::lock(&shared.view).address(node)
}

/// A member's plain client address and TLS port (0: none).
fn plain_and_tls(shared: &Shared, node: NodeId) -> Option<(SocketAddr, u16)> {
    let view = cluster::lock(&shared.view);
    let member = view.members.get(&node)?;
    Some((
        member.client,
        view.tls_ports.get(&node).copied().unwrap_or(0),
    ))
}

/// CLUSTER SLOTS: `[first, last, [ip, port, id]]` per shard: its leader.
pub async fn slots(shared: &Shared) -> Value {
    let endpoint = |node: NodeId, address: SocketAddr| {
        Value::Array(vec![
            Value::Bulk(Bytes::from(address.ip().to_string())),
            Value::Integer(i64::from(address.port())),
            Value::Bulk(Bytes::from(node_name(node))),
        ])
    };
    let ranges = shards_of(shared)
        .await
        .into_iter()
        .map(|shard| {
            let mut range = vec![
                Value::Integer(i64::from(shard.first)),
                Value::Integer(i64::from(shard.last)),
            ];
            // The leader only: Redis Cluster clients give each node one role, and every
            // ninesdb node leads some groups and follows others; listed as a replica it would be
            // left out of commands sent to all masters (redis-py's dbsize()). CLUSTER SHARDS
            // shows the followers.
            range.extend(
                shard
                    .nodes
                    .first()
                    .and_then(|&n| address(shared, n).map(|a| endpoint(n, a))),
            );
            Value::Array(range)
        })
        .collect();
    Value::Array(ranges)
}

/// CLUSTER SHARDS (Redis 7): a map per shard with its slots and nodes.
pub async fn shards(shared: &Shared) -> Value {
    let text = |s: &str| Value::Bulk(Bytes::from(s.to_owned()));
    let list = shards_of(shared)
        .await
        .into_iter()
        .map(|shard| {
            let nodes = shard
                .nodes
                .iter()
                .filter_map(|&n| plain_and_tls(shared, n).map(|a| (n, a)))
                .map(|(node, (address, tls_port))| {
                    let role = if Some(node) == shard.leader {
                        "master"
                    } else {
                        "replica"
                    };
                    // As Redis 7: the plain port and, in a TLS cluster, the TLS port.
                    let mut ports = vec![(text("port"), Value::Integer(i64::from(address.port())))];
                    if tls_port != 0 {
                        ports.push((text("tls-port"), Value::Integer(i64::from(tls_port))));
                    }
                    let mut fields = vec![(text("id"), text(&node_name(node)))];
                    fields.extend(ports);
                    fields.extend([
                        (text("ip"), text(&address.ip().to_string())),
                        (text("endpoint"), text(&address.ip().to_string())),
                        (text("role"), text(role)),
                        (text("replication-offset"), Value::Integer(0)),
                        (text("health"), text("online")),
                    ]);
                    Value::Map(fields)
                })
                .collect();
            Value::Map(vec![
                (
                    text("slots"),
                    Value::Array(vec![
                        Value::Integer(i64::from(shard.first)),
                        Value::Integer(i64::from(shard.last)),
                    ]),
                ),
                (text("nodes"), Value::Array(nodes)),
            ])
        })
        .collect();
    Value::Array(list)
}

/// CLUSTER NODES: every member as a master, with the slots of the groups it leads.
pub async fn nodes(shared: &Shared) -> String {
    let shards = shards_of(shared).await;
    let mut text = String::new();
    let members: Vec<(NodeId, SocketAddr, u16)> = {
        let view = cluster::lock(&shared.view);
        view.members
            .iter()
            .filter_map(|(&id, m)| Some((id, view.address(id)?, m.peer.port())))
            .collect()
    };
    for &(id, client, peer_port) in &members {
        let ranges: Vec<String> = shards
            .iter()
            .filter(|s| s.leader == Some(id))
            .map(|s| {
                if s.first == s.last {
                    s.first.to_string()
                } else {
                    format!("{}-{}", s.first, s.last)
                }
            })
            .collect();
        let flags = if id == shared.config.id {
            "myself,master"
        } else {
            "master"
        };
        text.push_str(&format!(
            "{} {client}@{peer_port} {flags} - 0 0 {id} connected {}\n",
            node_name(id),
            ranges.join(" ")
        ));
    }
    text
}

/// CLUSTER INFO.
pub async fn info(shared: &Shared) -> String {
    let shards = shards_of(shared).await;
    let ok: u64 = shards
        .iter()
        .filter(|s| s.leader.is_some())
        .map(|s| u64::from(s.last - s.first) + 1)
        .sum();
    let leaders: std::collections::BTreeSet<NodeId> =
        shards.iter().filter_map(|s| s.leader).collect();
    let state = if ok == cluster::SLOTS { "ok" } else { "fail" };
    format!(
        "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\nninesdb_groups:{}\r\n",
        cluster::SLOTS,
        cluster::SLOTS - ok,
        cluster::lock(&shared.view).members.len(),
        leaders.len(),
        shards.len()
    )
}
