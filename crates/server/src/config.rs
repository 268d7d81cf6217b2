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
    /// Raft groups the 16384 slots are split over (contiguous ranges); 0 picks one per member,
    /// so every node leads some. Fixed when the cluster is created.
    #[serde(default)]
    pub groups: u64,
    /// Replicas per group: 1, 3 or 5 (0 picks 3, or fewer if there are fewer members).
    #[serde(default)]
    pub replication: usize,
    /// A node unheard of for this long is down: its replicas are rebuilt elsewhere.
    #[serde(default = "default_down_after_ms")]
    pub down_after_ms: u64,
    /// Followers serve `READONLY` connections only while they heard from their leader within
    /// this many milliseconds (they refuse rather than answer staler).
    #[serde(default = "default_max_stale_ms")]
    pub max_stale_ms: u64,
    /// A member to ask for admission when this data directory is new: the node joins a
    /// running cluster (and hosts nothing until replicas are moved to it) instead of creating
    /// one. `members` then needs to list only this node.
    #[serde(default)]
    pub join: Option<SocketAddr>,
    /// Hand leaderships away while this node is far slower than its peers (gray failures).
    #[serde(default = "default_gray_failure")]
    pub gray_failure: bool,
    /// Largest write a client may send, in bytes (its arguments with their framing), checked
    /// before it is proposed: a larger one is answered with an error and never reaches the
    /// log. At most [`REQUEST_BYTES_MAX`].
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u64,
    /// Redis's `timeout`: close a client connection idle this many seconds (0: never).
    #[serde(default)]
    pub idle_timeout_s: u64,
    /// Redis's `maxmemory`, in bytes (0: no limit): the estimated size of the data of every
    /// group this node hosts. Past it, writes that add data get `-OOM` (policy `noeviction`)
    /// or the leaders here evict keys (the other policies), replicated as deletes.
    #[serde(default)]
    pub maxmemory: u64,
    /// Redis's `maxmemory-policy`.
    #[serde(default)]
    pub maxmemory_policy: crate::limits::EvictionPolicy,
    /// Redis's `maxmemory-samples`: keys sampled per eviction.
    #[serde(default = "default_maxmemory_samples")]
    pub maxmemory_samples: usize,
    /// Redis's `client-output-buffer-limit normal ...` (Redis's default: no limit; this node
    /// then stops reading a client that does not read its replies, instead of buffering).
    #[serde(default)]
    pub output_limit_normal: crate::limits::OutputLimit,
    /// Redis's `client-output-buffer-limit pubsub ...` (default 32mb 8mb 60).
    #[serde(default = "default_output_limit_pubsub")]
    pub output_limit_pubsub: crate::limits::OutputLimit,
    /// Redis's `client-query-buffer-limit`: unparsed bytes a client may send ahead, in bytes.
    #[serde(default = "default_query_buffer_limit")]
    pub query_buffer_limit: u64,
    /// Redis's `requirepass`: the default user's password, set once by the meta group's
    /// leader if the default user has none. ninesdb also takes the cluster's administration
    /// from the default user then (see `users`): that needs the `admin` user.
    #[serde(default)]
    pub requirepass: Option<String>,
    /// Creates the `admin` user (all commands, keys and channels) with this password, once.
    #[serde(default)]
    pub admin_password: Option<String>,
    /// Serve plain-text Redis clients on `client_addr` (Redis's `port 0` turns it off, for
    /// a TLS-only node).
    #[serde(default = "default_true")]
    pub plain_clients: bool,
    /// Redis's `tls-port`: TLS Redis clients, on `client_addr`'s host (0: none).
    #[serde(default)]
    pub tls_port: u16,
    /// Redis's `tls-cert-file`: this node's certificate chain (PEM), for both ports.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// Redis's `tls-key-file`: its private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Redis's `tls-ca-cert-file`: the CA whose certificates clients (when authenticated) and
    /// every member present.
    #[serde(default)]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Redis's `tls-auth-clients`: must TLS clients present a certificate of the CA?
    #[serde(default)]
    pub tls_auth_clients: TlsAuthClients,
    /// Redis's `tls-cluster`: mutual TLS between members. `None` (the default) means yes when
    /// a certificate is configured (unlike Redis, whose default is no: a node with
    /// certificates should not talk to its peers in the clear unless told to).
    #[serde(default)]
    pub tls_cluster: Option<bool>,
    /// The cluster's id: made when the cluster is created (this value, or one derived from
    /// the seed members), kept in the data directory, learned by joining nodes; a peer with
    /// another is refused. Set at start from the data directory.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The instruction budget of one Lua script or function: past it the script is aborted,
    /// the same way on every replica, and its writes rolled back. Every node of a cluster
    /// must use the same value (replicas would otherwise disagree on which script aborts).
    #[serde(default = "default_script_instructions_max")]
    pub script_instructions_max: u64,
    /// Redis's `notify-keyspace-events` at start (keyspace::notify_class bits; 0: off).
    /// CONFIG SET changes it on the node asked, as in Redis Cluster.
    #[serde(default)]
    pub notify_keyspace_events: u32,
    /// The admin HTTP port: /health, /ready, /metrics, /status.json and the dashboard.
    #[serde(default)]
    pub admin_addr: Option<SocketAddr>,
}

fn default_script_instructions_max() -> u64 {
    keyspace::SCRIPT_INSTRUCTIONS_MAX_DEFAULT
}

/// Redis's `tls-auth-clients`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsAuthClients {
    /// A client must present a certificate signed by the CA (Redis's default).
    #[default]
    Yes,
    /// No certificate is asked for.
    No,
    /// A certificate is asked for and checked if presented, but not required.
    Optional,
}

impl std::str::FromStr for TlsAuthClients {
    type Err = String;
    fn from_str(text: &str) -> Result<TlsAuthClients, String> {
        match text.to_ascii_lowercase().as_str() {
            "yes" => Ok(TlsAuthClients::Yes),
            "no" => Ok(TlsAuthClients::No),
            "optional" => Ok(TlsAuthClients::Optional),
            _ => Err(format!(
                "tls-auth-clients must be yes, no or optional, got '{text}'"
            )),
        }
    }
}

/// The ceiling of `max-request-bytes`: half of what one log record can hold, so a write plus
/// its entry's framing always fits one record and one peer frame, with room to spare.
pub const REQUEST_BYTES_MAX: u64 = 32 << 20;
const _: () = assert!(
    REQUEST_BYTES_MAX * 2 <= storage::ENTRY_SIZE_MAX + 25,
    "a request fits a log entry twice over"
);
const _: () = assert!(
    REQUEST_BYTES_MAX as usize * 2 <= crate::wire::FRAME_SIZE_MAX,
    "a request fits a peer frame twice over"
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberEntry {
    id: NodeId,
    peer: SocketAddr,
    client: SocketAddr,
    dc: Option<String>,
    pod: Option<String>,
    rack: Option<String>,
    host: Option<String>,
}

fn members_from_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<NodeId, Member>, D::Error> {
    let list: Vec<MemberEntry> = Vec::deserialize(deserializer)?;
    let mut members = BTreeMap::new();
    for entry in list {
        let labels = labels(entry.id, entry.dc, entry.pod, entry.rack, entry.host);
        if members
            .insert(
                entry.id,
                Member {
                    peer: entry.peer,
                    client: entry.client,
                    labels,
                },
            )
            .is_some()
        {
            return Err(serde::de::Error::custom(format!(
                "member id {} appears twice",
                entry.id
            )));
        }
    }
    Ok(members)
}

/// One member's addresses and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its peer address.
    pub peer: SocketAddr,
    /// Its client address.
    pub client: SocketAddr,
    pub labels: Labels,
}

/// A member's failure domains (`dc:pod:rack:host`).
pub use placement::Labels;

/// Labels with defaults for the parts not given: unlabelled members are each their own rack
/// and host in one datacenter and pod, so replicas still spread over distinct machines.
pub fn labels(
    id: NodeId,
    dc: Option<String>,
    pod: Option<String>,
    rack: Option<String>,
    host: Option<String>,
) -> Labels {
    Labels {
        dc: dc.unwrap_or_else(|| "dc1".to_owned()),
        pod: pod.unwrap_or_else(|| "pod1".to_owned()),
        rack: rack.unwrap_or_else(|| format!("rack{id}")),
        host: host.unwrap_or_else(|| format!("host{id}")),
    }
}

/// Parses `dc:pod:rack:host` (the form `--members` takes after `@`, and `--labels`).
pub fn parse_labels(id: NodeId, text: &str) -> Result<Labels, String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.contains(char::is_whitespace))
    {
        return Err(format!(
            "member {id}: labels '{text}' are not dc:pod:rack:host"
        ));
    }
    Ok(Labels::new(parts[0], parts[1], parts[2], parts[3]))
}

fn default_tick_ms() -> u64 {
    100
}
fn default_election_ticks() -> u32 {
    10
}
/// Every second tick (200 ms at the default 100 ms tick): five heartbeats per election
/// timeout, as TiKV; reads do not wait for them (a read starts its own round), and halving
/// them halves what idle groups cost.
fn default_heartbeat_ticks() -> u32 {
    2
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
fn default_gray_failure() -> bool {
    true
}
fn default_down_after_ms() -> u64 {
    30_000
}
fn default_max_stale_ms() -> u64 {
    1_000
}
fn default_max_request_bytes() -> u64 {
    16 << 20
}
fn default_maxmemory_samples() -> usize {
    5
}
fn default_output_limit_pubsub() -> crate::limits::OutputLimit {
    crate::limits::OutputLimit::PUBSUB_DEFAULT
}
fn default_query_buffer_limit() -> u64 {
    1 << 30
}
fn default_true() -> bool {
    true
}

impl ServerConfig {
    /// A configuration with every default, for replica `id` of `members`.
    pub fn new(
        id: NodeId,
        members: BTreeMap<NodeId, Member>,
        data_dir: PathBuf,
    ) -> Result<ServerConfig, String> {
        let me = members
            .get(&id)
            .ok_or_else(|| format!("the members have no entry for id {id}"))?
            .clone();
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
            groups: 0,
            replication: 0,
            down_after_ms: default_down_after_ms(),
            max_stale_ms: default_max_stale_ms(),
            join: None,
            gray_failure: true,
            max_request_bytes: default_max_request_bytes(),
            idle_timeout_s: 0,
            maxmemory: 0,
            maxmemory_policy: crate::limits::EvictionPolicy::default(),
            maxmemory_samples: default_maxmemory_samples(),
            output_limit_normal: crate::limits::OutputLimit::default(),
            output_limit_pubsub: default_output_limit_pubsub(),
            query_buffer_limit: default_query_buffer_limit(),
            requirepass: None,
            admin_password: None,
            plain_clients: true,
            tls_port: 0,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_cert_file: None,
            tls_auth_clients: TlsAuthClients::Yes,
            tls_cluster: None,
            cluster_id: None,
            script_instructions_max: default_script_instructions_max(),
            notify_keyspace_events: 0,
            admin_addr: None,
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
            return Err(format!(
                "tick-ms must be between 1 and 10000, got {}",
                self.tick_ms
            ));
        }
        if self.heartbeat_ticks == 0 || self.heartbeat_ticks >= self.election_ticks {
            return Err(format!(
                "heartbeat-ticks ({}) must be at least 1 and below election-ticks ({})",
                self.heartbeat_ticks, self.election_ticks
            ));
        }
        if self
            .members
            .keys()
            .any(|&id| id > crate::cluster::NODE_ID_MAX)
        {
            return Err(format!(
                "member ids must be at most {}",
                crate::cluster::NODE_ID_MAX
            ));
        }
        if self.groups > crate::cluster::GROUPS_MAX {
            return Err(format!(
                "groups must be at most {}, got {}",
                crate::cluster::GROUPS_MAX,
                self.groups
            ));
        }
        if !matches!(self.replication, 0 | 1 | 3 | 5) {
            return Err(format!(
                "replication must be 1, 3 or 5, got {}",
                self.replication
            ));
        }
        if self.replication > self.members.len() {
            return Err(format!(
                "replication {} needs at least that many members, there are {}",
                self.replication,
                self.members.len()
            ));
        }
        if self.max_clients == 0 {
            return Err("maxclients must be at least 1".to_owned());
        }
        if self.max_request_bytes < 1024 || self.max_request_bytes > REQUEST_BYTES_MAX {
            return Err(format!(
                "max-request-bytes must be between 1024 and {REQUEST_BYTES_MAX} (what one log record carries with room to spare), got {}",
                self.max_request_bytes
            ));
        }
        self.validate_limits()?;
        self.validate_tls()?;
        if self.down_after_ms < 1_000 {
            return Err(format!("down-after-ms must be at least 1000 (a node is not down after one missed heartbeat), got {}", self.down_after_ms));
        }
        Ok(())
    }

    /// The TLS settings relate: a TLS port or peer TLS needs a certificate and key, a CA when
    /// certificates are checked, and some client port must stay open.
    fn validate_tls(&self) -> Result<(), String> {
        let certificate = self.tls_cert_file.is_some() && self.tls_key_file.is_some();
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls-cert-file and tls-key-file go together".to_owned());
        }
        if (self.tls_port != 0 || self.tls_cluster == Some(true)) && !certificate {
            return Err("tls-port and tls-cluster need tls-cert-file and tls-key-file".to_owned());
        }
        let checks_clients = self.tls_port != 0 && self.tls_auth_clients != TlsAuthClients::No;
        if (checks_clients || self.peer_tls()) && self.tls_ca_cert_file.is_none() {
            return Err(
                "tls-ca-cert-file is needed to check certificates (tls-auth-clients, tls-cluster)"
                    .to_owned(),
            );
        }
        if !self.plain_clients && self.tls_port == 0 {
            return Err("port 0 (no plain-text clients) needs a tls-port".to_owned());
        }
        if self.tls_port != 0 && self.tls_port == self.client_addr.port() && self.plain_clients {
            return Err(format!(
                "tls-port {} is the plain client port too",
                self.tls_port
            ));
        }
        if let Some(id) = &self.cluster_id {
            let fine = !id.is_empty()
                && id.len() <= crate::wire::CLUSTER_ID_MAX
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !fine {
                return Err(format!(
                    "cluster-id must be 1 to {} letters, digits or dashes, got '{id}'",
                    crate::wire::CLUSTER_ID_MAX
                ));
            }
        }
        Ok(())
    }

    /// Whether members talk mutual TLS (`tls-cluster`, yes by default with a certificate).
    pub fn peer_tls(&self) -> bool {
        self.tls_cluster
            .unwrap_or(self.tls_cert_file.is_some() && self.tls_key_file.is_some())
    }

    /// Where TLS clients connect, if they can.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        (self.tls_port != 0).then(|| SocketAddr::new(self.client_addr.ip(), self.tls_port))
    }

    /// The client limits' part of [`ServerConfig::validate`].
    fn validate_limits(&self) -> Result<(), String> {
        if self.maxmemory_samples == 0 || self.maxmemory_samples > 64 {
            return Err(format!(
                "maxmemory-samples must be between 1 and 64, got {}",
                self.maxmemory_samples
            ));
        }
        // The query buffer holds at least one whole request, or the request-size check
        // could never answer its clear error.
        if self.query_buffer_limit < self.max_request_bytes + (1 << 16) {
            return Err(format!(
                "client-query-buffer-limit ({}) must be at least max-request-bytes ({}) plus 64 KiB",
                self.query_buffer_limit, self.max_request_bytes
            ));
        }
        Ok(())
    }

    /// Groups in effect (resolves 0 = one per member).
    pub fn group_count(&self) -> u64 {
        if self.groups == 0 {
            self.members.len().max(1) as u64
        } else {
            self.groups
        }
    }

    /// Replicas per group in effect (resolves 0 = 3, or all members if fewer).
    pub fn replication_factor(&self) -> usize {
        if self.replication == 0 {
            self.members.len().min(3)
        } else {
            self.replication
        }
    }

    /// Parses `--members 1=127.0.0.1:7101/127.0.0.1:7001,2=...` (id=peer/client), each
    /// optionally followed by `@dc:pod:rack:host` labels.
    pub fn parse_members(text: &str) -> Result<BTreeMap<NodeId, Member>, String> {
        let mut members = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, addresses) = item
                .split_once('=')
                .ok_or_else(|| format!("member '{item}' is not id=peer/client"))?;
            let id: NodeId = id
                .parse()
                .map_err(|_| format!("member id '{id}' is not a number"))?;
            let (addresses, labels) = match addresses.split_once('@') {
                Some((addresses, text)) => (addresses, parse_labels(id, text)?),
                None => (addresses, labels(id, None, None, None, None)),
            };
            let (peer, client) = addresses
                .split_once('/')
                .ok_or_else(|| format!("member '{item}' is not id=peer/client"))?;
            let peer = peer
                .parse()
                .map_err(|_| format!("member {id}: bad peer address '{peer}'"))?;
            let client = client
                .parse()
                .map_err(|_| format!("member {id}: bad client address '{client}'"))?;
            members.insert(
                id,
                Member {
                    peer,
                    client,
                    labels,
                },
            );
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

    // TLS keys by Redis's names, peer TLS on by default with a certificate, and TLS settings
    // that do not go together named.
    fn assert_tls_settings() {
        let tls = GOOD.replace(
            "data_dir = \"d2\"\n",
            "data_dir = \"d2\"\ntls_port = 7202\ntls_cert_file = \"n.crt\"\ntls_key_file = \"n.key\"\ntls_ca_cert_file = \"ca.crt\"\ntls_auth_clients = \"optional\"\n",
        );
        let config = ServerConfig::from_toml(&tls).expect("valid TLS settings");
        assert_eq!(
            (
                config.tls_auth_clients,
                config.peer_tls(),
                config.tls_addr()
            ),
            (
                super::TlsAuthClients::Optional,
                true,
                Some("127.0.0.1:7202".parse().expect("address"))
            )
        );
        let cases = [
            (
                tls.replace("tls_cert_file = \"n.crt\"\n", ""),
                "tls-cert-file and tls-key-file go together",
            ),
            (
                tls.replace("tls_ca_cert_file = \"ca.crt\"\n", ""),
                "tls-ca-cert-file is needed",
            ),
            (
                tls.replace("tls_port = 7202", "tls_port = 7002"),
                "tls-port 7002 is the plain client port too",
            ),
            (
                GOOD.replace(
                    "data_dir = \"d2\"\n",
                    "data_dir = \"d2\"\ntls_port = 7202\n",
                ),
                "tls-port and tls-cluster need tls-cert-file",
            ),
            (
                GOOD.replace(
                    "data_dir = \"d2\"\n",
                    "data_dir = \"d2\"\nplain_clients = false\n",
                ),
                "needs a tls-port",
            ),
            (
                GOOD.replace(
                    "data_dir = \"d2\"\n",
                    "data_dir = \"d2\"\ncluster_id = \"a b\"\n",
                ),
                "cluster-id must be",
            ),
        ];
        for (text, expected) in cases {
            let error = ServerConfig::from_toml(&text).expect_err(expected);
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let plain = ServerConfig::from_toml(GOOD).expect("valid");
        assert!(!plain.peer_tls() && plain.tls_addr().is_none());
    }

    // Goal: a TOML file configures a server, and bad values say what to fix. Method: parse a
    // good file, then variants with one mistake each, checking the error names the setting.
    #[test]
    fn toml_files_configure_and_bad_values_are_named() {
        let config = ServerConfig::from_toml(GOOD).expect("valid");
        assert_eq!(
            (config.id, config.members.len(), config.tick_ms),
            (2, 2, 100)
        );
        let cases = [
            (
                GOOD.replacen("id = 2\n", "id = 3\n", 1),
                "members must include this server's id 3",
            ),
            (
                GOOD.replace("data_dir = \"d2\"\n", "data_dir = \"d2\"\ntick_ms = 0\n"),
                "tick-ms must be between 1 and 10000, got 0",
            ),
            (
                GOOD.replace(
                    "client_addr = \"127.0.0.1:7002\"",
                    "client_addr = \"nowhere\"",
                ),
                "client_addr",
            ),
            (format!("speed = 3\n{GOOD}"), "unknown field `speed`"),
        ];
        for (text, expected) in cases {
            let error = ServerConfig::from_toml(&text).expect_err(expected);
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let members =
            ServerConfig::parse_members("1=127.0.0.1:1/127.0.0.1:2,x=1").expect_err("bad id");
        assert_tls_settings();
        assert!(
            members.contains("member id 'x' is not a number"),
            "{members}"
        );
    }
}
