//! Data-driven interaction tests in the style of etcd raft's `testdata/*.txt`.
//!
//! Each file in `crates/raft/testdata/` is a script of blocks
//!
//! ```text
//! # comments (kept verbatim)
//! command arg key=value list=(1,2,3)
//! ----
//! expected output
//! ```
//!
//! separated by blank lines. The runner executes every command against an [`InteractionEnv`]
//! and compares its output with the expected text; all mismatches of a file are reported
//! together. With `UPDATE_EXPECT=1` the files are rewritten with the actual output instead
//! (review the diff by hand before committing it).
//!
//! The environment holds replicas 1..N, each with an in-memory "durable" store (hard state,
//! snapshot, entries) and a toy state machine (the list of applied commands), a network queue
//! of messages per destination, and a set of cut links. Everything is synchronous and
//! deterministic: the same script always prints the same output.
//!
//! # Commands
//!
//! - `add-nodes N [voters=(..)] [learners=(..)] [lease-reads] [seed=S] [chunk=B]
//!   [append-max=K] [inflight=K] [election=T] [heartbeat=T] [pre-vote=false]
//!   [check-quorum=false]`: creates N new replicas with the next free ids. `voters` and
//!   `learners` give their initial membership (default: voters = the new ids); use `voters=()`
//!   for replicas that will join an existing group. `seed` is added to the id to seed the
//!   election jitter; `chunk` is `snapshot_chunk_bytes`, `append-max` is `append_entries_max`,
//!   `inflight` is `inflight_appends_max`.
//! - `tick ID [N]`, `tick-all [N]`: advance logical clocks.
//! - `campaign ID`: tick only ID until it starts a (pre-)election (at most 1000 ticks); it
//!   may already be a PreCandidate, whose unanswered round is then retried.
//! - `process-ready ID...`: carry out every pending Ready of these replicas (persist, queue
//!   messages, apply) and print what was persisted, applied and read.
//! - `deliver-msgs ID... [count=K]`: step the messages queued for these replicas into them
//!   (at most K per destination), printing each; messages over a cut link are dropped.
//! - `drop-msgs ID...`: discard the messages queued for these replicas.
//! - `stabilize`: repeat {process-ready all; deliver all} until nothing moves. Prints one line
//!   per message delivered (`1->2 Append term=1 prev=(0,0) entries=[1/1:empty] commit=0`,
//!   entries are `term/index:payload`), per committed entry applied (`2 applied 1/2:cmd(x)`),
//!   per snapshot installed, per read state (`1 read ctx=7 index=3`) and per dropped read.
//! - `propose ID data...`: propose one batch of commands.
//! - `read-index ID CTX`, `transfer-leader ID TARGET`,
//!   `change-membership ID voters=(..) [learners=(..)]`.
//! - `compact ID INDEX`: compact the log, the snapshot data being the applied commands up to
//!   INDEX joined by commas.
//! - `partition A B ...`: cut every link between this group and the other replicas;
//!   `cut A B`: cut one link (both ways); `heal`: restore all links.
//! - `crash ID`: power loss: rebuild the replica with `Replica::new` from its durable state
//!   (its state machine restarts from the durable snapshot and re-applies committed entries).
//! - `status [ID...]`, `log ID`, `durable ID`: inspect.
//!
//! Whenever a replica's role or term changes, a line `ID: Role term=T` is printed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use raft::{
    Config, Entry, HardState, LogIndex, Membership, MembershipChange, Message, MessageBody, NodeId,
    Payload, Replica, RestoreState, Role, Snapshot, Term,
};

#[derive(Default)]
struct Durable {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

struct Node {
    replica: Replica,
    config: Config,
    initial_membership: Membership,
    durable: Durable,
    /// State machine: the snapshot it started from (index, data) and the commands applied since.
    base: (LogIndex, String),
    commands: Vec<(LogIndex, String)>,
    applied: LogIndex,
    /// Last (role, term) printed.
    shown: (Role, Term),
}

impl Node {
    fn restart(&mut self) {
        let restore = RestoreState {
            hard_state: self.durable.hard_state,
            snapshot: self.durable.snapshot.clone(),
            entries: self.durable.entries.clone(),
            initial_membership: self.initial_membership.clone(),
        };
        self.replica =
            Replica::new(self.config.clone(), restore).expect("restart from durable state");
        self.reset_state_machine();
    }

    fn reset_state_machine(&mut self) {
        match &self.durable.snapshot {
            Some(s) => {
                self.base = (s.meta.index, String::from_utf8_lossy(&s.data).into_owned());
                self.applied = s.meta.index;
            }
            None => {
                self.base = (0, String::new());
                self.applied = 0;
            }
        }
        self.commands.clear();
    }

    /// The state machine's data as of `index` (commands joined by commas).
    fn data_at(&self, index: LogIndex) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if !self.base.1.is_empty() {
            parts.push(&self.base.1);
        }
        parts.extend(
            self.commands
                .iter()
                .filter(|(i, _)| *i <= index)
                .map(|(_, c)| c.as_str()),
        );
        parts.join(",")
    }
}

/// The test environment: replicas, their durable state, the network.
#[derive(Default)]
struct InteractionEnv {
    nodes: BTreeMap<NodeId, Node>,
    net: BTreeMap<NodeId, VecDeque<Message>>,
    cut: BTreeSet<(NodeId, NodeId)>,
    out: String,
}

fn fmt_set(set: &BTreeSet<NodeId>) -> String {
    let items: Vec<String> = set.iter().map(ToString::to_string).collect();
    format!("({})", items.join(","))
}

fn fmt_entry(e: &Entry) -> String {
    let payload = match &e.payload {
        Payload::Empty => "empty".to_owned(),
        Payload::Command(data) => format!("cmd({})", String::from_utf8_lossy(data)),
        Payload::Membership(MembershipChange::EnterJoint {
            voters,
            learners,
            outgoing,
        }) => {
            format!(
                "enter-joint(v={} l={} from={})",
                fmt_set(voters),
                fmt_set(learners),
                fmt_set(outgoing)
            )
        }
        Payload::Membership(MembershipChange::LeaveJoint) => "leave-joint".to_owned(),
    };
    format!("{}/{}:{}", e.term, e.index, payload)
}

fn fmt_entries(entries: &[Entry]) -> String {
    let items: Vec<String> = entries.iter().map(fmt_entry).collect();
    format!("[{}]", items.join(" "))
}

fn fmt_membership(m: &Membership) -> String {
    let mut s = format!("voters={}", fmt_set(&m.voters));
    if m.is_joint() {
        let _ = write!(s, " outgoing={}", fmt_set(&m.voters_outgoing));
    }
    if !m.learners.is_empty() {
        let _ = write!(s, " learners={}", fmt_set(&m.learners));
    }
    s
}

fn fmt_hs(hs: &HardState) -> String {
    let vote = hs.vote.map_or("-".to_owned(), |v| v.to_string());
    format!("term={} vote={} commit={}", hs.term, vote, hs.commit)
}

fn fmt_msg(m: &Message) -> String {
    let head = format!("{}->{} {} term={}", m.from, m.to, m.body.kind(), m.term);
    let rest = match &m.body {
        MessageBody::PreVote {
            last_index,
            last_term,
        } => format!(" last=({last_index},{last_term})"),
        MessageBody::Vote {
            last_index,
            last_term,
            transfer,
        } => {
            format!(
                " last=({last_index},{last_term}){}",
                if *transfer { " transfer" } else { "" }
            )
        }
        MessageBody::PreVoteResponse { reject } | MessageBody::VoteResponse { reject } => {
            if *reject {
                " reject".to_owned()
            } else {
                String::new()
            }
        }
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            format!(
                " prev=({prev_index},{prev_term}) entries={} commit={commit}",
                fmt_entries(entries)
            )
        }
        MessageBody::AppendResponse {
            index,
            reject,
            hint_index,
            hint_term,
        } => {
            if *reject {
                format!(" reject index={index} hint=({hint_index},{hint_term})")
            } else {
                format!(" index={index}")
            }
        }
        MessageBody::Heartbeat { commit, read_round } => {
            format!(" commit={commit} round={read_round}")
        }
        MessageBody::HeartbeatResponse { read_round } => format!(" round={read_round}"),
        MessageBody::SnapshotChunk { meta, offset, data } => format!(
            " snap=({},{}) size={} offset={offset} data={:?}",
            meta.index,
            meta.term,
            meta.size,
            String::from_utf8_lossy(data)
        ),
        MessageBody::SnapshotAck { index, received } => {
            format!(" index={index} received={received}")
        }
        MessageBody::TimeoutNow => String::new(),
    };
    head + &rest
}

/// A parsed command line: name, positional args, key=value options, bare flags.
struct Cmd {
    name: String,
    args: Vec<String>,
    opts: BTreeMap<String, String>,
}

impl Cmd {
    fn parse(line: &str) -> Cmd {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().to_owned();
        let mut args = Vec::new();
        let mut opts = BTreeMap::new();
        for word in words {
            match word.split_once('=') {
                Some((k, v)) => {
                    opts.insert(k.to_owned(), v.to_owned());
                }
                None => args.push(word.to_owned()),
            }
        }
        Cmd { name, args, opts }
    }

    fn id(&self, i: usize) -> NodeId {
        self.args
            .get(i)
            .unwrap_or_else(|| panic!("{}: missing argument {i}", self.name))
            .parse()
            .expect("numeric id")
    }

    fn ids(&self) -> Vec<NodeId> {
        self.args
            .iter()
            .map(|a| a.parse().expect("numeric id"))
            .collect()
    }

    fn num_opt(&self, key: &str) -> Option<u64> {
        self.opts.get(key).map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}={v}: not a number"))
        })
    }

    fn list_opt(&self, key: &str) -> Option<Vec<NodeId>> {
        let v = self.opts.get(key)?;
        let inner = v.trim_start_matches('(').trim_end_matches(')');
        Some(
            inner
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().expect("numeric id"))
                .collect(),
        )
    }

    fn flag(&self, key: &str) -> bool {
        self.args.iter().any(|a| a == key)
    }

    fn bool_opt(&self, key: &str, default: bool) -> bool {
        self.opts.get(key).map_or(default, |v| v == "true")
    }
}

impl InteractionEnv {
    fn line(&mut self, s: impl AsRef<str>) {
        self.out.push_str(s.as_ref());
        self.out.push('\n');
    }

    fn node(&mut self, id: NodeId) -> &mut Node {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no replica {id}"))
    }

    /// Prints a role or term change of `id` since last shown.
    fn note(&mut self, id: NodeId) {
        let node = self.node(id);
        let now = (node.replica.role(), node.replica.term());
        if now != node.shown {
            node.shown = now;
            self.line(format!("{id}: {:?} term={}", now.0, now.1));
        }
    }

    fn run(&mut self, line: &str) -> String {
        self.out.clear();
        let cmd = Cmd::parse(line);
        match cmd.name.as_str() {
            "add-nodes" => self.add_nodes(&cmd),
            "tick" => {
                let id = cmd.id(0);
                let n = cmd
                    .args
                    .get(1)
                    .map_or(1, |s| s.parse().expect("tick count"));
                for _ in 0..n {
                    self.node(id).replica.tick();
                    self.note(id);
                }
            }
            "tick-all" => {
                let n = cmd
                    .args
                    .first()
                    .map_or(1, |s| s.parse().expect("tick count"));
                let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                for _ in 0..n {
                    for &id in &ids {
                        self.node(id).replica.tick();
                        self.note(id);
                    }
                }
            }
            "campaign" => {
                let id = cmd.id(0);
                assert_ne!(
                    self.node(id).replica.role(),
                    Role::Leader,
                    "campaign: {id} is the leader"
                );
                let mut ticks = 0;
                while ticks < 1000 {
                    self.node(id).replica.tick();
                    ticks += 1;
                    self.note(id);
                    let r = &self.node(id).replica;
                    if r.role() != Role::Follower && r.has_ready() {
                        break;
                    }
                }
                self.line(format!("{id} campaigned after {ticks} ticks"));
            }
            "process-ready" => {
                for id in cmd.ids() {
                    let _ = self.process_ready(id, true);
                }
            }
            "deliver-msgs" => {
                let count = cmd.num_opt("count").map_or(usize::MAX, |c| c as usize);
                for id in cmd.ids() {
                    self.deliver(id, count);
                }
            }
            "drop-msgs" => {
                for id in cmd.ids() {
                    let n = self.net.remove(&id).map_or(0, |q| q.len());
                    self.line(format!("dropped {n} messages to {id}"));
                }
            }
            "stabilize" => self.stabilize(),
            "propose" => {
                let id = cmd.id(0);
                let data: Vec<Bytes> = cmd.args[1..]
                    .iter()
                    .map(|s| Bytes::from(s.clone()))
                    .collect();
                let result = self.node(id).replica.propose(data);
                match result {
                    Ok(index) => self.line(format!("ok index={index}")),
                    Err(e) => self.line(format!("error: {e}")),
                }
            }
            "read-index" => {
                let id = cmd.id(0);
                let ctx: u64 = cmd.args[1].parse().expect("read context");
                match self.node(id).replica.read_index(ctx) {
                    Ok(()) => {
                        let lease = self.node(id).replica.lease_is_valid();
                        self.line(format!("ok lease={lease}"));
                    }
                    Err(e) => self.line(format!("error: {e}")),
                }
            }
            "transfer-leader" => {
                let (id, target) = (cmd.id(0), cmd.id(1));
                match self.node(id).replica.transfer_leader(target) {
                    Ok(()) => self.line("ok"),
                    Err(e) => self.line(format!("error: {e}")),
                }
                self.note(id);
            }
            "change-membership" => {
                let id = cmd.id(0);
                let voters = cmd.list_opt("voters").unwrap_or_default();
                let learners = cmd.list_opt("learners").unwrap_or_default();
                match self
                    .node(id)
                    .replica
                    .propose_membership_change(voters, learners)
                {
                    Ok(index) => self.line(format!("ok index={index}")),
                    Err(e) => self.line(format!("error: {e}")),
                }
            }
            "compact" => {
                let (id, index) = (cmd.id(0), cmd.id(1));
                let node = self.node(id);
                let data = node.data_at(index);
                match node.replica.compact(index, Bytes::from(data.clone())) {
                    Ok(()) => {
                        node.durable.snapshot = node.replica.snapshot().cloned();
                        node.durable.entries.retain(|e| e.index > index);
                        let first = node.replica.first_index();
                        self.line(format!("ok first={first} data={data:?}"));
                    }
                    Err(e) => self.line(format!("error: {e}")),
                }
            }
            "partition" => {
                let group: BTreeSet<NodeId> = cmd.ids().into_iter().collect();
                let all: Vec<NodeId> = self.nodes.keys().copied().collect();
                for &a in &group {
                    for &b in all.iter().filter(|b| !group.contains(b)) {
                        self.cut.insert((a, b));
                        self.cut.insert((b, a));
                    }
                }
                self.line("ok");
            }
            "cut" => {
                let (a, b) = (cmd.id(0), cmd.id(1));
                self.cut.insert((a, b));
                self.cut.insert((b, a));
                self.line("ok");
            }
            "heal" => {
                self.cut.clear();
                self.line("ok");
            }
            "crash" => {
                let id = cmd.id(0);
                self.node(id).restart();
                self.note(id);
                self.status(id);
            }
            "status" => {
                let ids = if cmd.args.is_empty() {
                    self.nodes.keys().copied().collect()
                } else {
                    cmd.ids()
                };
                for id in ids {
                    self.status(id);
                }
            }
            "log" => {
                let id = cmd.id(0);
                let r = &self.node(id).replica;
                let entries: Vec<Entry> = (r.first_index()..=r.last_index())
                    .filter_map(|i| r.entry(i).cloned())
                    .collect();
                let first = r.first_index();
                self.line(format!("{id} log first={first} {}", fmt_entries(&entries)));
            }
            "durable" => {
                let id = cmd.id(0);
                let d = &self.node(id).durable;
                let snap = d.snapshot.as_ref().map_or("none".to_owned(), |s| {
                    format!("({},{})", s.meta.index, s.meta.term)
                });
                let text = format!(
                    "{id} durable {} snapshot={snap} entries={}",
                    fmt_hs(&d.hard_state),
                    fmt_entries(&d.entries)
                );
                self.line(text);
            }
            other => panic!("unknown command {other:?}"),
        }
        for node in self.nodes.values() {
            node.replica.check_invariants();
        }
        if self.out.is_empty() {
            "ok".to_owned()
        } else {
            self.out.trim_end().to_owned()
        }
    }

    fn add_nodes(&mut self, cmd: &Cmd) {
        let n = cmd.id(0);
        let first = self.nodes.keys().max().map_or(1, |m| m + 1);
        let ids: Vec<NodeId> = (first..first + n).collect();
        let voters = cmd.list_opt("voters").unwrap_or_else(|| ids.clone());
        let learners = cmd.list_opt("learners").unwrap_or_default();
        let membership = Membership {
            voters: voters.into_iter().collect(),
            voters_outgoing: BTreeSet::new(),
            learners: learners.into_iter().collect(),
        };
        for &id in &ids {
            let mut config = Config::new(id);
            config.random_seed = id + cmd.num_opt("seed").unwrap_or(0);
            config.lease_reads = cmd.flag("lease-reads");
            config.pre_vote = cmd.bool_opt("pre-vote", true);
            config.check_quorum = cmd.bool_opt("check-quorum", true);
            // The scripts were written for etcd's eager commit news; `replication` shows both.
            config.broadcast_commit = cmd.bool_opt("broadcast-commit", true);
            if let Some(v) = cmd.num_opt("chunk") {
                config.snapshot_chunk_bytes = v;
            }
            if let Some(v) = cmd.num_opt("append-max") {
                config.append_entries_max = v as usize;
            }
            if let Some(v) = cmd.num_opt("inflight") {
                config.inflight_appends_max = v as usize;
            }
            if let Some(v) = cmd.num_opt("election") {
                config.election_timeout_ticks = v as u32;
            }
            if let Some(v) = cmd.num_opt("heartbeat") {
                config.heartbeat_interval_ticks = v as u32;
            }
            let restore = RestoreState {
                initial_membership: membership.clone(),
                ..RestoreState::default()
            };
            let replica = Replica::new(config.clone(), restore).expect("valid config");
            let shown = (replica.role(), replica.term());
            let node = Node {
                replica,
                config,
                initial_membership: membership.clone(),
                durable: Durable::default(),
                base: (0, String::new()),
                commands: Vec::new(),
                applied: 0,
                shown,
            };
            self.nodes.insert(id, node);
        }
        self.line(format!(
            "added {} {}",
            fmt_set(&ids.iter().copied().collect()),
            fmt_membership(&membership)
        ));
    }

    fn status(&mut self, id: NodeId) {
        let node = self.node(id);
        let r = &node.replica;
        let leader = r.leader().map_or("-".to_owned(), |l| l.to_string());
        let text = format!(
            "{id}: {:?} term={} ticks={} commit={} applied={} first={} last={} leader={leader} {}",
            r.role(),
            r.term(),
            r.ticks(),
            r.commit_index(),
            node.applied,
            r.first_index(),
            r.last_index(),
            fmt_membership(r.membership())
        );
        self.line(text);
    }

    /// Carries out every pending Ready of `id`, in the order the contract asks.
    /// Returns whether there was anything to do.
    fn process_ready(&mut self, id: NodeId, verbose: bool) -> bool {
        let mut any = false;
        while let Some(ready) = self.node(id).replica.ready() {
            any = true;
            // 1. Messages that need nothing persisted go to the network.
            for m in ready.messages {
                self.net.entry(m.to).or_default().push_back(m);
            }
            // 2. Persist snapshot, hard state, entries.
            let node = self.node(id);
            let mut lines = Vec::new();
            if let Some(snapshot) = &ready.snapshot {
                node.durable.snapshot = Some(snapshot.clone());
                node.durable.entries.clear();
                node.reset_state_machine();
                lines.push(format!(
                    "{id} installed snapshot ({},{}) {} data={:?}",
                    snapshot.meta.index,
                    snapshot.meta.term,
                    fmt_membership(&snapshot.meta.membership),
                    String::from_utf8_lossy(&snapshot.data)
                ));
            }
            if let Some(hs) = ready.hard_state {
                node.durable.hard_state = hs;
                if verbose {
                    lines.push(format!("{id} persist hard state {}", fmt_hs(&hs)));
                }
            }
            if let Some(first) = ready.entries.first() {
                let first = first.index;
                node.durable.entries.retain(|e| e.index < first);
                node.durable.entries.extend(ready.entries.iter().cloned());
                if verbose {
                    lines.push(format!(
                        "{id} persist entries {}",
                        fmt_entries(&ready.entries)
                    ));
                }
            }
            // 3. Messages that promise durability.
            for m in ready.messages_after_persist {
                self.net.entry(m.to).or_default().push_back(m);
            }
            // 4. Apply, serve reads.
            let node = self.node(id);
            for e in &ready.committed_entries {
                assert_eq!(
                    e.index,
                    node.applied + 1,
                    "replica {id} applies out of order"
                );
                node.applied = e.index;
                if let Payload::Command(data) = &e.payload {
                    node.commands
                        .push((e.index, String::from_utf8_lossy(data).into_owned()));
                }
                lines.push(format!("{id} applied {}", fmt_entry(e)));
            }
            for rs in &ready.read_states {
                lines.push(format!("{id} read ctx={} index={}", rs.context, rs.index));
            }
            for ctx in &ready.dropped_reads {
                lines.push(format!("{id} read ctx={ctx} dropped"));
            }
            // 5. Acknowledge.
            node.replica.advance(ready.persisted);
            for l in lines {
                self.line(l);
            }
            self.note(id);
        }
        any
    }

    /// Steps up to `count` queued messages into `to`.
    fn deliver(&mut self, to: NodeId, count: usize) {
        let mut queue = self.net.remove(&to).unwrap_or_default();
        let n = count.min(queue.len());
        let batch: Vec<Message> = queue.drain(..n).collect();
        if !queue.is_empty() {
            self.net.insert(to, queue);
        }
        for m in batch {
            if self.cut.contains(&(m.from, m.to)) {
                self.line(format!("{} (dropped: cut)", fmt_msg(&m)));
                continue;
            }
            if !self.nodes.contains_key(&to) {
                self.line(format!("{} (dropped: no such replica)", fmt_msg(&m)));
                continue;
            }
            self.line(fmt_msg(&m));
            if let Err(e) = self.node(to).replica.step(m) {
                self.line(format!("  {to} rejected: {e}"));
            }
            self.note(to);
        }
    }

    fn stabilize(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for &id in &ids {
                // Not gated on `has_ready()`: it misses pending read states (see README.md).
                moved |= self.process_ready(id, false);
            }
            let dests: Vec<NodeId> = self
                .net
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(&d, _)| d)
                .collect();
            for to in dests {
                self.deliver(to, usize::MAX);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("stabilize did not converge in 10000 rounds");
    }
}

/// Runs one script; returns the list of mismatches (or rewrites the file under UPDATE_EXPECT).
fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let mut env = InteractionEnv::default();
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            rewritten.push_str(line);
            rewritten.push('\n');
            i += 1;
            continue;
        }
        let command_line = i + 1;
        assert_eq!(
            lines.get(i + 1).copied(),
            Some("----"),
            "{}:{}: command without ----",
            path.display(),
            i + 1
        );
        let mut expected = Vec::new();
        let mut j = i + 2;
        while j < lines.len() && !lines[j].trim().is_empty() {
            expected.push(lines[j]);
            j += 1;
        }
        let expected = expected.join("\n");
        // Shown only if the test fails (e.g. a harness panic): where it happened.
        eprintln!("{}:{command_line}: {line}", path.display());
        let actual = env.run(line);
        if actual != expected {
            failures.push(format!(
                "{}:{command_line}: {line}\n--- expected\n{expected}\n--- actual\n{actual}\n",
                path.display()
            ));
        }
        let _ = write!(rewritten, "{line}\n----\n{actual}\n");
        i = j;
    }
    if update {
        if rewritten != text {
            std::fs::write(path, rewritten).expect("rewrite script");
        }
        return;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches (rerun with UPDATE_EXPECT=1 to rewrite):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(format!("{name}.txt"))
}

// Each generated test's goal is stated in the leading comment of its script; the method is to
// replay the script and compare every command's output with the recorded one.
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_file(&testdata(stringify!($name)));
            }
        )*
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
    };
}

scripts!(
    election,
    prevote_partition,
    check_quorum,
    replication,
    commit_news,
    backtracking,
    figure8,
    read_index,
    lease_read,
    transfer,
    learners,
    joint_consensus,
    snapshot,
    crash_restart,
);

// Goal: no script is silently skipped. Method: every testdata/*.txt must be listed in `scripts!`.
#[test]
fn every_script_is_registered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for entry in std::fs::read_dir(dir).expect("testdata dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "txt") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_owned();
            assert!(
                SCRIPTS.contains(&stem.as_str()),
                "testdata/{stem}.txt is not registered in scripts!"
            );
        }
    }
}

// Goal: let a developer run an ad-hoc script. Method: if RAFT_SCRIPT names a file, run it
// like the registered ones (with UPDATE_EXPECT=1 it is filled in); otherwise do nothing.
#[test]
fn script_from_env() {
    if let Some(path) = std::env::var_os("RAFT_SCRIPT") {
        run_file(Path::new(&path));
    }
}
