//! The member registry, kept by the meta group (group 0) as keys `member:<id>` in its own
//! keyspace, so joining is a replicated write like any other. Replicas of the meta group
//! read the registry from their state; its leader also sends it to every node with its
//! reports; every node persists the newest list (`MEMBERS`) and dials new members.

use std::collections::BTreeMap;

use bytes::Bytes;
use keyspace::Context;
use raft::NodeId;
use resp::Value;

use crate::cluster::{self, member_record, parse_member_record, MEMBER_PREFIX, META};
use crate::command::Operation;
use crate::config::Member;
use crate::driver::{wall_clock_ms, Driver};
use crate::group::Group;

impl Driver {
    /// On the meta group's leader: records the seed members the registry lacks (once a term).
    pub(crate) fn seed_registry(&mut self) {
        let seed = self.config.members.clone();
        let Some(meta) = self.groups.get_mut(&META) else {
            return;
        };
        if !meta.is_leader()
            || self.registry_seeded_term == meta.replica.term()
            || meta.applied < meta.replica.commit_index()
        {
            return;
        }
        self.registry_seeded_term = meta.replica.term();
        let recorded = registry(meta);
        for (id, member) in seed {
            if !recorded.contains_key(&id) {
                let args = vec![
                    Bytes::from_static(b"SET"),
                    Bytes::from(format!("{MEMBER_PREFIX}{id}")),
                    Bytes::from(member_record(&member)),
                    Bytes::from_static(b"NX"),
                ];
                let (reply, _) = tokio::sync::oneshot::channel();
                meta.propose(
                    Operation::Command {
                        now_ms: wall_clock_ms(),
                        args,
                    },
                    reply,
                );
            }
        }
    }

    /// On the meta group's leader: applies `--requirepass` and `--admin-password` (each once,
    /// see [`crate::users::bootstrap_commands`]), after the log is applied this term.
    pub(crate) fn seed_users(&mut self) {
        if self.config.requirepass.is_none() && self.config.admin_password.is_none() {
            return;
        }
        let Some(meta) = self.groups.get_mut(&META) else {
            return;
        };
        if !meta.is_leader() || meta.applied < meta.replica.commit_index() {
            return;
        }
        let Ok(users) = crate::users::read_users(&meta.state.keyspace, wall_clock_ms()) else {
            return;
        };
        for args in crate::users::bootstrap_commands(
            &users,
            self.config.requirepass.as_deref(),
            self.config.admin_password.as_deref(),
        ) {
            let (reply, _) = tokio::sync::oneshot::channel();
            meta.propose(
                Operation::Command {
                    now_ms: wall_clock_ms(),
                    args,
                },
                reply,
            );
        }
    }

    /// A replica of the meta group here: take its registry into the view when it advanced.
    pub(crate) fn refresh_members_from_meta(&mut self) {
        let Some(meta) = self.groups.get(&META) else {
            return;
        };
        let version = (meta.replica.term(), meta.applied);
        if version == self.registry_read_at {
            return;
        }
        self.registry_read_at = version;
        let members = registry(meta);
        cluster::lock(&self.view).update_members(version, members);
    }

    /// The meta group's leader tells every node the members.
    pub(crate) fn broadcast_members(&self) {
        let Some(meta) = self.groups.get(&META).filter(|m| m.is_leader()) else {
            return;
        };
        let members = cluster::lock(&self.view).members.clone();
        let frame = crate::wire::Frame::Members {
            term: meta.replica.term(),
            index: meta.applied,
            members: cluster::members_text(&members),
        };
        self.peers.broadcast(&frame);
    }

    /// After the view's member list changed: persist it and dial new members.
    pub(crate) fn adopt_members(&mut self) {
        let (version, members) = {
            let view = cluster::lock(&self.view);
            (view.members_version, view.members.clone())
        };
        if version == self.members_adopted {
            return;
        }
        self.members_adopted = version;
        self.peers.connect(&members);
        let path = self.config.data_dir.join(crate::membership::MEMBERS_FILE);
        if let Err(error) = crate::membership::write_file(&path, &cluster::members_text(&members)) {
            tracing::error!("cannot save the member list: {error}");
        }
    }
}

/// The members recorded in the meta group's state.
fn registry(meta: &Group) -> BTreeMap<NodeId, Member> {
    let context = Context {
        now_ms: wall_clock_ms(),
        seed: 0,
    };
    let keys = meta.state.keyspace.read(
        &[
            Bytes::from_static(b"KEYS"),
            Bytes::from(format!("{MEMBER_PREFIX}*")),
        ],
        context,
    );
    let Value::Array(keys) = keys else {
        return BTreeMap::new();
    };
    keys.into_iter()
        .filter_map(|key| {
            let Value::Bulk(key) = key else { return None };
            let id: NodeId = std::str::from_utf8(&key)
                .ok()?
                .strip_prefix(MEMBER_PREFIX)?
                .parse()
                .ok()?;
            let Value::Bulk(record) = meta
                .state
                .keyspace
                .read(&[Bytes::from_static(b"GET"), key], context)
            else {
                return None;
            };
            Some((
                id,
                parse_member_record(id, std::str::from_utf8(&record).ok()?)?,
            ))
        })
        .collect()
}
