//! Who the members are, across restarts and joins.
//!
//! - `SEED` in the data directory: the members the cluster was created with. The initial
//!   placement derives from it, so every node computes the same plan forever, whatever
//!   `--members` says later.
//! - `MEMBERS`: the latest member list this node knew (the meta group's registry), so a
//!   restarted node dials members that joined after the cluster was created.
//! - `CLUSTER_ID`: the cluster's id, made when the cluster is created: `--cluster-id` if
//!   given (`ninesdb up` gives a random one), else derived from the seed members and the
//!   group settings, so hand-started members of one cluster agree without talking. A joining
//!   node learns it from the JOIN answer. Peers of another cluster are refused (`peer.rs`).
//! - Joining: a new node asks any member (`NINESDB JOIN <id> <peer> <client> <labels>`); the
//!   meta group records it, and the answer carries the cluster's settings and members.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use raft::NodeId;

use crate::cluster::{members_text, parse_members_text};
use crate::config::{Member, ServerConfig};

pub const SEED_FILE: &str = "SEED";
pub const MEMBERS_FILE: &str = "MEMBERS";
pub const CLUSTER_ID_FILE: &str = "CLUSTER_ID";
/// How long a joining node keeps asking.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);

/// The members a node starts with.
pub struct Known {
    /// The creation-time members (the placement plan's input).
    pub seed: BTreeMap<NodeId, Member>,
    /// Everyone known (dialled at start).
    pub members: BTreeMap<NodeId, Member>,
}

/// Reads what the data directory knows, or joins the cluster `config.join` names, or (a new
/// cluster) takes the configured members as the seed. Sets `config.members` to the seed and,
/// when joining, the cluster's group count and replication.
pub fn prepare(config: &mut ServerConfig) -> Result<Known, String> {
    let dir = config.data_dir.clone();
    let created = dir.join(crate::driver::CLUSTER_FILE).exists();
    let me = Member {
        peer: config.peer_addr,
        client: config.client_addr,
        labels: config
            .members
            .get(&config.id)
            .map(|m| m.labels.clone())
            .unwrap_or_else(|| crate::config::labels(config.id, None, None, None, None)),
    };
    let known = if created {
        let seed = read_members(&dir.join(SEED_FILE))?.unwrap_or_else(|| config.members.clone());
        let mut members = read_members(&dir.join(MEMBERS_FILE))?.unwrap_or_else(|| seed.clone());
        members.extend(config.members.clone());
        Known { seed, members }
    } else if let Some(join) = config.join {
        // In a cluster with passwords, joining is the admin user's (`--admin-password`).
        let credentials = config.admin_password.as_deref().map(|p| ("admin", p));
        let reply = ask_to_join(join, config.id, &me, credentials)?;
        let (groups, replication, seed, members) = parse_join_reply(&reply)?;
        let cluster = parse_join_cluster_id(&reply).ok_or_else(|| {
            format!("{join} answered the join without a cluster id (an older ninesdb?)")
        })?;
        if config
            .cluster_id
            .as_ref()
            .is_some_and(|given| *given != cluster)
        {
            return Err(format!(
                "--cluster-id {:?} differs from the cluster's {cluster:?} that {join} answered for",
                config.cluster_id.as_deref().unwrap_or_default()
            ));
        }
        write_file(&dir.join(CLUSTER_ID_FILE), &cluster)?;
        config.groups = groups;
        config.replication = replication;
        write_file(&dir.join(SEED_FILE), &members_text(&seed))?;
        write_file(&dir.join(MEMBERS_FILE), &members_text(&members))?;
        // Joined: this node hosts nothing until the cluster moves replicas here.
        write_file(
            &dir.join(crate::driver::CLUSTER_FILE),
            &crate::cluster::fingerprint(config),
        )?;
        tracing::info!(
            "joined through {join}: {} members, {groups} groups",
            members.len()
        );
        Known { seed, members }
    } else {
        write_file(&dir.join(SEED_FILE), &members_text(&config.members))?;
        let cluster = config
            .cluster_id
            .clone()
            .unwrap_or_else(|| derived_cluster_id(&config.members, config));
        write_file(&dir.join(CLUSTER_ID_FILE), &cluster)?;
        Known {
            seed: config.members.clone(),
            members: config.members.clone(),
        }
    };
    config.cluster_id = Some(cluster_id(config, &known.seed)?);
    config.members = known.seed.clone();
    let mut known = known;
    known.members.insert(config.id, me);
    Ok(known)
}

/// The id in the data directory, written now (derived) for a directory made before ids
/// existed; a `--cluster-id` that differs from it is an error (the wrong directory?).
fn cluster_id(config: &ServerConfig, seed: &BTreeMap<NodeId, Member>) -> Result<String, String> {
    let path = config.data_dir.join(CLUSTER_ID_FILE);
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(_) => {
            let derived = config
                .cluster_id
                .clone()
                .unwrap_or_else(|| derived_cluster_id(seed, config));
            write_file(&path, &derived)?;
            derived
        }
    };
    if stored.is_empty() || stored.len() > crate::wire::CLUSTER_ID_MAX {
        return Err(format!("{} is damaged: restore it", path.display()));
    }
    if let Some(given) = config.cluster_id.as_ref().filter(|given| **given != stored) {
        return Err(format!(
            "--cluster-id {given:?} differs from {stored:?} in {}: is this the right data directory?",
            path.display()
        ));
    }
    Ok(stored)
}

/// An id every hand-started member of one cluster derives alike: FNV-1a of the seed members
/// and the settings fixed at creation.
pub fn derived_cluster_id(seed: &BTreeMap<NodeId, Member>, config: &ServerConfig) -> String {
    let text = format!(
        "{}{}",
        members_text(seed),
        crate::cluster::fingerprint(config)
    );
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn read_members(path: &Path) -> Result<Option<BTreeMap<NodeId, Member>>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let members = parse_members_text(&text);
            if members.is_empty() {
                return Err(format!(
                    "{} lists no members: restore it or move the data directory away",
                    path.display()
                ));
            }
            Ok(Some(members))
        }
        Err(_) => Ok(None),
    }
}

/// Writes a small file durably (temporary file, fsync, rename, fsync the directory).
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn ask_to_join(
    join: SocketAddr,
    id: NodeId,
    me: &Member,
    credentials: Option<(&str, &str)>,
) -> Result<String, String> {
    let started = Instant::now();
    let record = crate::cluster::member_record(me);
    let mut words: Vec<String> = vec!["NINESDB".into(), "JOIN".into(), id.to_string()];
    words.extend(record.split(' ').map(str::to_owned));
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    loop {
        match call_as(join, credentials, &args) {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(error)) if !error.starts_with("TRYAGAIN") => {
                return Err(format!("{join} refused the join: {error}"))
            }
            Ok(Err(error)) => tracing::warn!("join: {error}; retrying"),
            Err(error) => tracing::warn!("join: {join} does not answer ({error}); retrying"),
        }
        if started.elapsed() > JOIN_PATIENCE {
            return Err(format!(
                "could not join through {join} within {} s",
                JOIN_PATIENCE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The answer to JOIN: `groups <g> replication <r> cluster <id>`, `seed`, its lines,
/// `members`, its lines.
pub fn join_reply(
    groups: u64,
    replication: usize,
    cluster: &str,
    seed: &BTreeMap<NodeId, Member>,
    members: &BTreeMap<NodeId, Member>,
) -> String {
    format!(
        "groups {groups} replication {replication} cluster {cluster}\nseed\n{}members\n{}",
        members_text(seed),
        members_text(members)
    )
}

/// The cluster id in a JOIN answer's first line.
fn parse_join_cluster_id(text: &str) -> Option<String> {
    let header = text.lines().next()?;
    let words: Vec<&str> = header.split(' ').collect();
    match words[..] {
        [_, _, _, _, "cluster", id] if !id.is_empty() => Some(id.to_owned()),
        _ => None,
    }
}

type JoinReply = (
    u64,
    usize,
    BTreeMap<NodeId, Member>,
    BTreeMap<NodeId, Member>,
);

fn parse_join_reply(text: &str) -> Result<JoinReply, String> {
    let bad = || format!("the join answer is not understood: {text:?}");
    let (header, rest) = text.split_once('\n').ok_or_else(bad)?;
    let words: Vec<&str> = header.split(' ').collect();
    let [_, groups, _, replication, ..] = words[..] else {
        return Err(bad());
    };
    let rest = rest.strip_prefix("seed\n").ok_or_else(bad)?;
    let (seed, members) = rest.split_once("members\n").ok_or_else(bad)?;
    Ok((
        groups.parse().map_err(|_| bad())?,
        replication.parse().map_err(|_| bad())?,
        parse_members_text(seed),
        parse_members_text(members),
    ))
}

/// Sends one command to a server and returns its reply (simple, integer or bulk as text;
/// an error reply as `Err`). For `ninesdb ctl` and joining; not for the data path.
pub fn call(address: SocketAddr, args: &[&str]) -> std::io::Result<Result<String, String>> {
    call_as(address, None, args)
}

/// `call`, first authenticating as `(user, password)`; a refused AUTH is the answer.
pub fn call_as(
    address: SocketAddr,
    credentials: Option<(&str, &str)>,
    args: &[&str],
) -> std::io::Result<Result<String, String>> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let encode = |args: &[&str]| {
        let mut out = format!("*{}\r\n", args.len());
        for arg in args {
            out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        out
    };
    let mut out = String::new();
    if let Some((user, password)) = credentials {
        out.push_str(&encode(&["AUTH", user, password]));
    }
    out.push_str(&encode(args));
    stream.write_all(out.as_bytes())?;
    let mut reader = BufReader::new(stream);
    if credentials.is_some() {
        if let Err(refused) = read_reply(&mut reader)? {
            return Ok(Err(refused));
        }
    }
    read_reply(&mut reader)
}

/// One simple, error, integer or bulk reply.
fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<Result<String, String>> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    let invalid = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {line:?}"))
    };
    match line.as_bytes().first() {
        Some(b'+' | b':') => Ok(Ok(line[1..].to_owned())),
        Some(b'-') => Ok(Err(line[1..].to_owned())),
        Some(b'$') => {
            let length: usize = line[1..].parse().map_err(|_| invalid("bad bulk length"))?;
            let mut data = vec![0; length + 2];
            reader.read_exact(&mut data)?;
            data.truncate(length);
            Ok(Ok(String::from_utf8_lossy(&data).into_owned()))
        }
        _ => Err(invalid("unexpected reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the join answer carries settings, seed and members intact. Method: round trip.
    #[test]
    fn join_replies_round_trip() {
        let members = ServerConfig::parse_members(
            "1=127.0.0.1:7101/127.0.0.1:7001@dc1:p:r1:h1,2=127.0.0.1:7102/127.0.0.1:7002",
        )
        .expect("members");
        let mut all = members.clone();
        all.extend(
            ServerConfig::parse_members("9=127.0.0.1:7109/127.0.0.1:7009@dc2:p:r9:h9")
                .expect("member"),
        );
        let text = join_reply(6, 3, "c0ffee-1", &members, &all);
        assert_eq!(parse_join_reply(&text), Ok((6, 3, members, all)));
        assert_eq!(parse_join_cluster_id(&text).as_deref(), Some("c0ffee-1"));
        assert_eq!(
            parse_join_cluster_id("groups 6 replication 3\nseed\n"),
            None
        );
        assert!(parse_join_reply("groups x").is_err());
    }
}
