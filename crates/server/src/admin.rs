//! `NINESDB ...` commands: exactly-once sessions (`SESSION`, `REQ`), and operations
//! (`STATUS` for `ninesdb ctl status`, `DRAIN`/`UNDRAIN` for maintenance).

use std::time::Duration;

use bytes::Bytes;
use resp::{Protocol, Value};
use serde_json::json;

use crate::client::{route, session_input, Shared};
use crate::cluster::{self, node_of};

pub async fn ninesdb(
    protocol: Protocol,
    cluster_aware: bool,
    args: Vec<Bytes>,
    shared: &Shared,
) -> Bytes {
    let encode = |value: Value| {
        let mut out = bytes::BytesMut::new();
        resp::encode(&value, protocol, &mut out);
        out.freeze()
    };
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_str() {
        "status" if args.len() == 2 => encode(Value::Bulk(Bytes::from(
            status_json(shared, true).await.to_string(),
        ))),
        "drain" | "undrain" if args.len() == 3 => {
            let Some(node) = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| cluster::lock(&shared.view).members.contains_key(n))
            else {
                return encode(Value::Error(format!(
                    "ERR no member with id '{}'",
                    String::from_utf8_lossy(&args[2])
                )));
            };
            let mut view = cluster::lock(&shared.view);
            if sub == "drain" {
                view.draining.insert(node);
            } else {
                view.draining.remove(&node);
            }
            encode(Value::Simple("OK".to_owned()))
        }
        "join" if args.len() == 6 => join(protocol, &args, shared).await,
        "debug" if args.len() == 4 && args[2].eq_ignore_ascii_case(b"slow-disk") => {
            match std::str::from_utf8(&args[3])
                .ok()
                .and_then(|ms| ms.parse::<u64>().ok())
            {
                // A drill: make this node's fsyncs slow, to watch gray-failure handling act.
                Some(ms) if ms <= 10_000 => {
                    crate::health::INJECTED_FSYNC_DELAY_MS
                        .store(ms, std::sync::atomic::Ordering::Relaxed);
                    encode(Value::Simple("OK".to_owned()))
                }
                _ => encode(Value::Error(
                    "ERR usage: NINESDB DEBUG SLOW-DISK <milliseconds 0-10000> (0 turns it off)"
                        .to_owned(),
                )),
            }
        }
        "debug" if args.len() == 3 && args[2].eq_ignore_ascii_case(b"fail-disk") => {
            // A drill: the next log flush fails, and the node stops as on a broken disk.
            crate::health::INJECTED_DISK_FAILURE.store(true, std::sync::atomic::Ordering::Relaxed);
            encode(Value::Simple("OK".to_owned()))
        }
        "join" => encode(Value::Error(
            "ERR usage: NINESDB JOIN <id> <peer host:port> <client host:port> <dc:pod:rack:host>"
                .to_owned(),
        )),
        _ => match session_input(&args, shared.config.group_count()) {
            Ok((target, make)) => {
                route(
                    protocol,
                    cluster_aware,
                    shared,
                    target,
                    args,
                    move |reply| make(reply),
                    false,
                    None,
                )
                .await
            }
            Err(error) => encode(error),
        },
    }
}

/// Admits a new member: records it in the meta group, then answers with the cluster's
/// settings and members (the new node's starting point). Asking again is harmless.
async fn join(protocol: Protocol, args: &[Bytes], shared: &Shared) -> Bytes {
    let encode = |value: Value| {
        let mut out = bytes::BytesMut::new();
        resp::encode(&value, protocol, &mut out);
        out.freeze()
    };
    let text = |i: usize| String::from_utf8_lossy(&args[i]).into_owned();
    let Some(id) = text(2)
        .parse::<u64>()
        .ok()
        .filter(|&id| (1..=cluster::NODE_ID_MAX).contains(&id))
    else {
        return encode(Value::Error(format!(
            "ERR node id must be 1 to {}",
            cluster::NODE_ID_MAX
        )));
    };
    let record = format!("{} {} {}", text(3), text(4), text(5));
    let Some(member) = cluster::parse_member_record(id, &record) else {
        return encode(Value::Error(format!(
            "ERR '{record}' is not <peer host:port> <client host:port> <dc:pod:rack:host>"
        )));
    };
    if let Some(existing) = cluster::lock(&shared.view)
        .members
        .get(&id)
        .filter(|m| **m != member)
    {
        return encode(Value::Error(format!(
            "ERR node id {id} is already a member ({}); choose another id",
            cluster::member_record(existing)
        )));
    }
    let set: Vec<Bytes> = [
        b"SET".as_slice(),
        format!("{}{id}", cluster::MEMBER_PREFIX).as_bytes(),
        cluster::member_record(&member).as_bytes(),
    ]
    .into_iter()
    .map(Bytes::copy_from_slice)
    .collect();
    let forwarded: Vec<Bytes> = [
        Bytes::from_static(crate::client::FORWARDED_GROUP),
        Bytes::from_static(b"0"),
    ]
    .into_iter()
    .chain(set.iter().cloned())
    .collect();
    let target = crate::client::Target {
        group: cluster::META,
        slot: 0,
    };
    let reply = route(
        resp::Protocol::Resp2,
        false,
        shared,
        target,
        forwarded,
        move |reply| crate::driver::Input::Command {
            group: cluster::META,
            args: set.clone(),
            read: false,
            stale_ok: false,
            reply,
        },
        false,
        None,
    )
    .await;
    if reply.as_ref() != b"+OK\r\n" {
        return encode(Value::Error(format!(
            "TRYAGAIN the member registry did not record the join ({}); retry",
            String::from_utf8_lossy(&reply).trim()
        )));
    }
    let members = {
        let mut view = cluster::lock(&shared.view);
        view.members.insert(id, member);
        view.members.clone()
    };
    let text = crate::membership::join_reply(
        shared.config.group_count(),
        shared.config.replication_factor(),
        shared.config.cluster_id.as_deref().unwrap_or_default(),
        &shared.seed,
        &members,
    );
    encode(Value::Bulk(Bytes::from(text)))
}

/// This node's view of the cluster, as JSON: members with their labels and state, every
/// group's leader and replicas (from the leaders' reports), the groups hosted here, and
/// what the placement policy says each group's spread cannot survive.
/// The cluster as this node sees it; `digests` also hashes every hosted keyspace (O(data):
/// `NINESDB STATUS` does, the dashboard's polling does not).
pub async fn status_json(shared: &Shared, digests: bool) -> serde_json::Value {
    let status = if digests {
        crate::client::status_with_digests(shared).await
    } else {
        crate::client::status(shared).await
    }
    .unwrap_or_default();
    let config = &shared.config;
    let view = cluster::lock(&shared.view);
    let topology = cluster::topology(config, &view);
    let down_after = Duration::from_millis(config.down_after_ms);
    let nodes: Vec<serde_json::Value> = view
        .members
        .iter()
        .map(|(&id, member)| {
            let state = topology.node(id).map_or("unknown", |n| match n.state {
                placement::NodeState::Up => "up",
                placement::NodeState::Down => "down",
                placement::NodeState::Draining => "draining",
            });
            let heard = if id == config.id { Some(0) } else { view.last_heard.get(&id).map(|t| t.elapsed().as_millis() as u64) };
            let health = view.health.get(&id).map(|(h, _)| *h).unwrap_or_default();
            json!({
                "id": id, "client": member.client.to_string(), "dc": member.labels.dc, "pod": member.labels.pod,
                "rack": member.labels.rack, "host": member.labels.host, "state": state, "heard_ms_ago": heard,
                "down": id != config.id && view.is_down(id, down_after),
                "fsync_ms": health.fsync_us as f64 / 1000.0, "tick_lag_ms": health.lag_us as f64 / 1000.0, "report_loss_permille": health.loss_permille, "sick": view.is_sick(id),
            })
        })
        .collect();
    // Group 0 is the meta group (the member registry): no slots.
    let groups: Vec<serde_json::Value> = (0..=config.group_count())
        .map(|group| {
            let slots = (group != cluster::META).then(|| cluster::slot_range(group, config.group_count()));
            match view.reports.get(&group) {
                Some((report, at)) => {
                    let voters: Vec<u64> = report.voters.iter().map(|&r| node_of(r)).collect();
                    let spread = placement::spread(&topology, &voters);
                    json!({
                        "group": group, "slots": slots, "leader": report.leader, "term": report.term,
                        "voters": voters, "learners": report.learners.iter().map(|&r| node_of(r)).collect::<Vec<_>>(),
                        "commit": report.commit, "report_age_ms": at.elapsed().as_millis() as u64,
                        "majority_survives_loss_of": spread.majority_survives_loss_of.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
                        "shortfall": spread.shortfall,
                    })
                }
                None => json!({ "group": group, "slots": slots, "leader": null }),
            }
        })
        .collect();
    let hosted: Vec<serde_json::Value> = status
        .groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group, "replica": g.replica, "role": format!("{:?}", g.role.unwrap_or(raft::Role::Follower)).to_lowercase(),
                "term": g.term, "commit": g.commit_index, "applied": g.applied_index, "keys": g.keys,
                "digest": format!("{:016x}", g.digest), "pending_writes": g.pending_writes,
                "repairing": g.repairing, "leader_changes": g.leader_changes,
            })
        })
        .collect();
    let repairs: Vec<serde_json::Value> = status
        .counters
        .recent_repairs
        .iter()
        .map(|r| {
            json!({
                "group": r.group, "new_node": r.new_node, "leaving_node": r.leaving_node,
                "took_ms": r.took_ms, "at_unix_ms": r.at_unix_ms,
            })
        })
        .collect();
    json!({
        "node": config.id, "replication": config.replication_factor(), "group_count": config.group_count(),
        "down_after_ms": config.down_after_ms, "nodes": nodes, "groups": groups, "hosted": hosted,
        "repairs": repairs,
    })
}
