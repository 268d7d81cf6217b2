//! Server settings: command-line flags, optionally a TOML file (`--config`), with clear errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use raft::NodeId;
use serde::Deserialize;

/// How one server runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// This server's replica id (1, 2, 3, ...).
    pub id: NodeId,
    /// Where Redis clients connect.
    pub client_addr: SocketAddr,
    /// Where the other servers connect.
    pub peer_addr: SocketAddr,
    /// Every member of the group, this one included: id -> (peer address, client address).
    /// In TOML: `[[members]]` tables with `id`, `peer` and `client`.
    #[serde(deserialize_with = "members_from_list")]
    pub members: BTreeMap<NodeId, Member>,
    /// The data directory (write-ahead log and snapshots).
    pub data_dir: PathBuf,
    /// Milliseconds per Raft tick.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// Election timeout in ticks (randomised up to twice this).
    #[serde(default = "default_election_ticks")]
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    #[serde(default = "default_heartbeat_ticks")]
    pub heartbeat_ticks: u32,
    /// How long a command waits for a leader before `-TRYAGAIN`, in milliseconds.
    #[serde(default = "default_leader_wait_ms")]
    pub leader_wait_ms: u64,
    /// Snapshot and compact the log after this many applied entries.
    #[serde(default = "default_snapshot_entries")]
    pub snapshot_entries: u64,
    /// Most client connections at once (more are refused with an error).
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Answer non-leader commands with `-MOVED` always (true), or forward them to the leader
    /// unless the connection asked for the slot map (false: what Redis clients expect).
    #[serde(default)]
    pub always_redirect: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberEntry {
    id: NodeId,
    peer: SocketAddr,
    client: SocketAddr,
}

fn members_from_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<NodeId, Member>, D::Error> {
    let list: Vec<MemberEntry> = Vec::deserialize(deserializer)?;
    let mut members = BTreeMap::new();
    for entry in list {
        if members.insert(entry.id, Member { peer: entry.peer, client: entry.client }).is_some() {
            return Err(serde::de::Error::custom(format!("member id {} appears twice", entry.id)));
        }
    }
    Ok(members)
}

/// One member's addresses.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// Its peer address.
    pub peer: SocketAddr,
    /// Its client address.
    pub client: SocketAddr,
}

fn default_tick_ms() -> u64 {
    100
}
fn default_election_ticks() -> u32 {
    10
}
fn default_heartbeat_ticks() -> u32 {
    1
}
fn default_leader_wait_ms() -> u64 {
    2_000
}
fn default_snapshot_entries() -> u64 {
    100_000
}
fn default_max_clients() -> usize {
    10_000
}

impl ServerConfig {
    /// A configuration with every default, for replica `id` of `members`.
    pub fn new(id: NodeId, members: BTreeMap<NodeId, Member>, data_dir: PathBuf) -> Result<ServerConfig, String> {
        let me = members.get(&id).ok_or_else(|| format!("the members have no entry for id {id}"))?.clone();
        let config = ServerConfig {
            id,
            client_addr: me.client,
            peer_addr: me.peer,
            members,
            data_dir,
            tick_ms: default_tick_ms(),
            election_ticks: default_election_ticks(),
            heartbeat_ticks: default_heartbeat_ticks(),
            leader_wait_ms: default_leader_wait_ms(),
            snapshot_entries: default_snapshot_entries(),
            max_clients: default_max_clients(),
            always_redirect: false,
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file.
    pub fn from_toml(text: &str) -> Result<ServerConfig, String> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| format!("config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values relate sensibly; the error says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("id must be 1 or more".to_owned());
        }
        if !self.members.contains_key(&self.id) {
            return Err(format!("members must include this server's id {}", self.id));
        }
        if self.tick_ms == 0 || self.tick_ms > 10_000 {
            return Err(format!("tick-ms must be between 1 and 10000, got {}", self.tick_ms));
        }
        if self.heartbeat_ticks == 0 || self.heartbeat_ticks >= self.election_ticks {
            return Err(format!("heartbeat-ticks ({}) must be at least 1 and below election-ticks ({})", self.heartbeat_ticks, self.election_ticks));
        }
        if self.members.len() > raft::REPLICAS_MAX {
            return Err(format!("at most {} members", raft::REPLICAS_MAX));
        }
        Ok(())
    }

    /// Parses `--members 1=127.0.0.1:7101/127.0.0.1:7001,2=...` (id=peer/client).
    pub fn parse_members(text: &str) -> Result<BTreeMap<NodeId, Member>, String> {
        let mut members = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, addresses) = item.split_once('=').ok_or_else(|| format!("member '{item}' is not id=peer/client"))?;
            let id: NodeId = id.parse().map_err(|_| format!("member id '{id}' is not a number"))?;
            let (peer, client) = addresses.split_once('/').ok_or_else(|| format!("member '{item}' is not id=peer/client"))?;
            let peer = peer.parse().map_err(|_| format!("member {id}: bad peer address '{peer}'"))?;
            let client = client.parse().map_err(|_| format!("member {id}: bad client address '{client}'"))?;
            members.insert(id, Member { peer, client });
        }
        if members.is_empty() {
            return Err("--members is empty".to_owned());
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::ServerConfig;

    const GOOD: &str = r#"
id = 2
client_addr = "127.0.0.1:7002"
peer_addr = "127.0.0.1:7102"
data_dir = "d2"
[[members]]
id = 1
peer = "127.0.0.1:7101"
client = "127.0.0.1:7001"
[[members]]
id = 2
peer = "127.0.0.1:7102"
client = "127.0.0.1:7002"
"#;

    // Goal: a TOML file configures a server, and bad values say what to fix. Method: parse a
    // good file, then variants with one mistake each, checking the error names the setting.
    #[test]
    fn toml_files_configure_and_bad_values_are_named() {
        let config = ServerConfig::from_toml(GOOD).expect("valid");
        assert_eq!((config.id, config.members.len(), config.tick_ms), (2, 2, 100));
        let cases = [
            (GOOD.replacen("id = 2\n", "id = 3\n", 1), "members must include this server's id 3"),
            (GOOD.replace("data_dir = \"d2\"\n", "data_dir = \"d2\"\ntick_ms = 0\n"), "tick-ms must be between 1 and 10000, got 0"),
            (GOOD.replace("client_addr = \"127.0.0.1:7002\"", "client_addr = \"nowhere\""), "client_addr"),
            (format!("speed = 3\n{GOOD}"), "unknown field `speed`"),
        ];
        for (text, expected) in cases {
            let error = ServerConfig::from_toml(&text).expect_err(expected);
            assert!(error.contains(expected), "{error:?} should mention {expected:?}");
        }
        let members = ServerConfig::parse_members("1=127.0.0.1:1/127.0.0.1:2,x=1").expect_err("bad id");
        assert!(members.contains("member id 'x' is not a number"), "{members}");
    }
}
