//! Commands a server answers without the log: connection settings, introspection, the slot
//! map. Their replies follow Redis 7's texts.

use bytes::Bytes;
use resp::{Protocol, Value};

use crate::client::{ConnectionView, LocalEffects, Shared};

/// The Redis version ninesdb reports (the command set and replies follow it).
pub const REDIS_VERSION: &str = "7.0.0";

/// Runs `name` if it is a local command; `None` otherwise.
pub async fn run(
    name: &str,
    args: &[Bytes],
    connection: ConnectionView,
    shared: &Shared,
    effects: &mut LocalEffects<'_>,
) -> Option<Value> {
    let arity_error = || {
        Value::Error(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    let value = match name {
        "ping" => match args.len() {
            1 => Value::Simple("PONG".to_owned()),
            2 => Value::Bulk(args[1].clone()),
            _ => arity_error(),
        },
        "echo" if args.len() == 2 => Value::Bulk(args[1].clone()),
        "echo" => arity_error(),
        "quit" => Value::Simple("OK".to_owned()),
        "select" if args.len() != 2 => arity_error(),
        "select" => match std::str::from_utf8(&args[1])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(0) => Value::Simple("OK".to_owned()),
            Some(_) => Value::Error("ERR DB index is out of range".to_owned()),
            None => Value::Error("ERR value is not an integer or out of range".to_owned()),
        },
        "auth" => crate::users::auth(args, &connection, shared, effects),
        "acl" => crate::users::acl_command(args, &connection, shared).await,
        "hello" => hello(args, &connection, shared, effects),
        "client" => client(args, &connection, shared, effects),
        "command" => command(args),
        "time" => {
            let micros = crate::driver::wall_clock_ms() * 1000;
            Value::Array(vec![
                Value::Bulk(Bytes::from((micros / 1_000_000).to_string())),
                Value::Bulk(Bytes::from((micros % 1_000_000).to_string())),
            ])
        }
        "info" => {
            let mut text = info(shared).await;
            // As Redis: the command and error stats only when asked for by name, or by
            // "all"/"everything".
            if args[1..].iter().any(|w| {
                ["all", "everything", "commandstats", "errorstats"]
                    .iter()
                    .any(|name| w.eq_ignore_ascii_case(name.as_bytes()))
            }) {
                text.push_str("\r\n");
                text.push_str(&shared.stats.info_sections());
            }
            Value::Verbatim(
                "txt".to_owned(),
                Bytes::from(info_sections(&text, &args[1..])),
            )
        }
        "config" => config(args, shared).await,
        "slowlog" => shared.stats.slowlog_command(args),
        // MEMORY USAGE has a key: it goes to the key's group like any read.
        "memory"
            if !args
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"usage")) =>
        {
            memory(args, shared).await
        }
        "latency" => shared
            .latency
            .command(args, |names| shared.stats.latency_histograms(names)),
        "cluster" => cluster(args, shared, effects).await,
        "readonly" | "readwrite" => {
            effects.set_readonly(name == "readonly");
            Value::Simple("OK".to_owned())
        }
        "asking" => Value::Simple("OK".to_owned()),
        "shutdown" => shutdown(args, shared),
        // Every acknowledged write is already on disk on a majority of its group's replicas:
        // there is nothing to save. SAVE and BGSAVE say so in Redis's words, and LASTSAVE is
        // now, so a tool that waits for LASTSAVE to move after BGSAVE sees it move. A copy
        // to keep elsewhere is `ninesdb ctl backup`.
        "save" if args.len() == 1 => Value::Simple("OK".to_owned()),
        "bgsave" if args.len() == 1 => Value::Simple("Background saving started".to_owned()),
        "bgsave" if args.len() == 2 && args[1].eq_ignore_ascii_case(b"schedule") => {
            Value::Simple("Background saving scheduled".to_owned())
        }
        "bgsave" => Value::Error("ERR syntax error".to_owned()),
        "lastsave" => Value::Integer((crate::driver::wall_clock_ms() / 1000) as i64),
        _ => return None,
    };
    Some(value)
}

fn hello(
    args: &[Bytes],
    connection: &ConnectionView,
    shared: &Shared,
    effects: &mut LocalEffects<'_>,
) -> Value {
    let mut protocol = connection.protocol;
    if let Some(version) = args.get(1) {
        match version.as_ref() {
            b"2" => protocol = Protocol::Resp2,
            b"3" => protocol = Protocol::Resp3,
            _ if std::str::from_utf8(version)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .is_none() =>
            {
                return Value::Error(
                    "ERR Protocol version is not an integer or out of range".to_owned(),
                );
            }
            _ => return Value::Error("NOPROTO unsupported protocol version".to_owned()),
        }
    }
    let mut index = 2;
    while index < args.len() {
        let option = String::from_utf8_lossy(&args[index]).to_ascii_lowercase();
        match option.as_str() {
            "setname" if index + 1 < args.len() => {
                effects.set_name(Some(args[index + 1].clone()));
                index += 2;
            }
            "auth" if index + 2 < args.len() => {
                if let Err(error) =
                    crate::users::hello_auth(&args[index + 1], &args[index + 2], shared, effects)
                {
                    return error;
                }
                index += 3;
            }
            _ => return Value::Error(format!("ERR Syntax error in HELLO option '{option}'")),
        }
    }
    effects.set_protocol(protocol);
    let text = |s: &str| Value::Bulk(Bytes::from(s.to_owned()));
    Value::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(REDIS_VERSION)),
        (
            text("proto"),
            Value::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (text("id"), Value::Integer(connection.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Value::Array(Vec::new())),
    ])
}

fn client(
    args: &[Bytes],
    connection: &ConnectionView,
    shared: &Shared,
    effects: &mut LocalEffects<'_>,
) -> Value {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match (sub.as_str(), args.len()) {
        ("setname", 3) => {
            if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
                return Value::Error(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                        .to_owned(),
                );
            }
            effects.set_name((!args[2].is_empty()).then(|| args[2].clone()));
            Value::Simple("OK".to_owned())
        }
        ("getname", 2) => connection.name.clone().map_or(Value::Null, Value::Bulk),
        ("id", 2) => Value::Integer(connection.id as i64),
        ("info", 2) => shared.connections.info(connection.id),
        ("list", _) => shared.connections.list(&args[2..]),
        ("kill", 3..) => shared.connections.kill(&args[2..], connection.id),
        // ninesdb never evicts clients (it has no maxmemory-clients): every client is
        // already "no-evict".
        ("no-evict", 3) => match args[2].to_ascii_lowercase().as_slice() {
            b"on" | b"off" => Value::Simple("OK".to_owned()),
            _ => Value::Error("ERR syntax error".to_owned()),
        },
        ("unblock", 3 | 4) => unblock(args, shared),
        ("", _) => Value::Error("ERR wrong number of arguments for 'client' command".to_owned()),
        ("setname" | "getname" | "id" | "info" | "kill" | "no-evict" | "unblock", _) => {
            Value::Error(format!(
                "ERR wrong number of arguments for 'client|{sub}' command"
            ))
        }
        _ => Value::Error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]`: stops this node as SIGTERM does (leaderships are
/// handed away first, the log is flushed). Every acknowledged write is already on disk, so
/// SAVE and NOSAVE mean the same here. `ABORT` has nothing to abort.
fn shutdown(args: &[Bytes], shared: &Shared) -> Value {
    for option in &args[1..] {
        match option.to_ascii_lowercase().as_slice() {
            b"nosave" | b"save" | b"now" | b"force" => {}
            b"abort" => return Value::Error("ERR No shutdown in progress.".to_owned()),
            _ => return Value::Error("ERR syntax error".to_owned()),
        }
    }
    shared.stop.notify_one();
    Value::Simple("OK".to_owned())
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: ends a blocked client's wait on this node; 1 if it
/// was blocked. A pop already proposed for it still completes and is answered to it.
fn unblock(args: &[Bytes], shared: &Shared) -> Value {
    let Some(id) = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|id| id.parse::<i64>().ok())
    else {
        return Value::Error("ERR value is not an integer or out of range".to_owned());
    };
    let how = match args.get(3).map(|m| m.to_ascii_lowercase()) {
        None => crate::client::Unblock::Timeout,
        Some(mode) if mode == b"timeout" => crate::client::Unblock::Timeout,
        Some(mode) if mode == b"error" => crate::client::Unblock::Error,
        Some(_) => {
            return Value::Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".to_owned())
        }
    };
    let waiting = u64::try_from(id)
        .ok()
        .and_then(|id| crate::client::lock_blocked(shared).remove(&id));
    Value::Integer(i64::from(
        waiting.is_some_and(|client| client.send(how).is_ok()),
    ))
}

/// COMMAND, from the one command table (`acl::commands`: Redis 7.0's, plus NINESDB),
/// showing the commands this server runs (those in the keyspace's handler table).
fn command(args: &[Bytes]) -> Value {
    let runs = |meta: &acl::commands::CommandMeta| {
        let top = meta.name.split('|').next().unwrap_or(meta.name);
        top == "ninesdb" || keyspace::lookup(top.as_bytes()).is_some()
    };
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let rest = args.get(2..).unwrap_or_default();
    match sub.as_str() {
        "" => acl::commands::command_info(&[], &runs),
        "info" => acl::commands::command_info(rest, &runs),
        "docs" => acl::commands::command_docs(rest, &runs),
        "count" if rest.is_empty() => acl::commands::command_count(&runs),
        "list" => acl::commands::command_list(rest, &runs),
        "getkeys" if !rest.is_empty() => command_getkeys(rest),
        "count" | "getkeys" => Value::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try COMMAND HELP."
        )),
        _ => Value::Error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// COMMAND GETKEYS: the keys routing would use, with Redis's errors.
fn command_getkeys(command: &[Bytes]) -> Value {
    if keyspace::check(command).is_err() {
        return Value::Error(if keyspace::lookup(&command[0]).is_some() {
            "ERR Invalid number of arguments specified for command".to_owned()
        } else {
            "ERR Invalid command specified".to_owned()
        });
    }
    let keys = keyspace::key_positions(command);
    if keys.is_empty() {
        return Value::Error("ERR The command has no key arguments".to_owned());
    }
    Value::Array(
        keys.into_iter()
            .map(|i| Value::Bulk(command[i].clone()))
            .collect(),
    )
}

async fn config(args: &[Bytes], shared: &Shared) -> Value {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    if sub == "set" && args.len() >= 4 && args.len() % 2 == 0 {
        return config_set(&args[2..], shared).await;
    }
    if sub == "resetstat" && args.len() == 2 {
        shared.stats.reset();
        return Value::Simple("OK".to_owned());
    }
    if sub != "get" || args.len() < 3 {
        return Value::Error("ERR unknown subcommand or wrong number of arguments for 'config'. Only CONFIG GET, CONFIG SET and CONFIG RESETSTAT are supported.".to_owned());
    }
    let c = &shared.config;
    let memory = crate::client::status(shared)
        .await
        .unwrap_or_default()
        .memory;
    let settings = [
        ("port", c.client_addr.port().to_string()),
        ("bind", c.client_addr.ip().to_string()),
        ("databases", "1".to_owned()),
        ("maxclients", c.max_clients.to_string()),
        ("appendonly", "yes".to_owned()),
        ("appendfsync", "always".to_owned()),
        ("dir", c.data_dir.display().to_string()),
        ("cluster-enabled", "yes".to_owned()),
        ("maxmemory", memory.maxmemory.to_string()),
        ("maxmemory-policy", memory.policy.name().to_owned()),
        ("maxmemory-samples", memory.samples.to_string()),
        (
            "client-output-buffer-limit",
            format!(
                "normal {} slave 0 0 0 pubsub {}",
                c.output_limit_normal.redis_text(),
                c.output_limit_pubsub.redis_text()
            ),
        ),
        (
            "client-query-buffer-limit",
            c.query_buffer_limit.to_string(),
        ),
        ("timeout", c.idle_timeout_s.to_string()),
        (
            "notify-keyspace-events",
            keyspace::flags_text(shared.pubsub.keyspace_events()),
        ),
        (
            "slowlog-log-slower-than",
            shared.stats.slower_than().to_string(),
        ),
        (
            "slowlog-max-len",
            shared.stats.slowlog_max_len().to_string(),
        ),
        (
            "latency-monitor-threshold",
            shared.latency.threshold_ms().to_string(),
        ),
    ];
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in &settings {
            if keyspace_glob(pattern, name.as_bytes()) {
                pairs.push((
                    Value::Bulk(Bytes::from(*name)),
                    Value::Bulk(Bytes::from(value.clone())),
                ));
            }
        }
    }
    Value::Map(pairs)
}

/// CONFIG SET name value [name value ...]: all or nothing, as Redis 7. This node's
/// settings only (Redis Cluster's CONFIG SET is per node too).
async fn config_set(pairs: &[Bytes], shared: &Shared) -> Value {
    let Some(status) = crate::client::status(shared).await else {
        return Value::Error("ERR the node is busy; retry CONFIG SET".to_owned());
    };
    let mut memory = status.memory;
    let mut keyspace_events = None;
    let mut slower_than = None;
    let mut slowlog_len = None;
    let mut latency_threshold = None;
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]);
        let failed = |why: &str| {
            Value::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        match name.as_str() {
            "maxmemory" => match crate::limits::parse_memory(&value) {
                Ok(bytes) => memory.maxmemory = bytes,
                Err(why) => return failed(&why),
            },
            "maxmemory-policy" => match crate::limits::EvictionPolicy::parse(&value) {
                Ok(policy) => memory.policy = policy,
                Err(why) => return failed(&why),
            },
            "maxmemory-samples" => match value.parse::<usize>() {
                Ok(samples) if (1..=64).contains(&samples) => memory.samples = samples,
                _ => return failed("argument must be between 1 and 64 inclusive"),
            },
            "slowlog-log-slower-than" => match value.parse::<i64>() {
                Ok(micros) => slower_than = Some(micros),
                Err(_) => return failed("argument couldn't be parsed into an integer"),
            },
            "latency-monitor-threshold" => match value.parse::<u64>() {
                Ok(ms) => latency_threshold = Some(ms),
                Err(_) => return failed("argument couldn't be parsed into an integer"),
            },
            "slowlog-max-len" => match value.parse::<u64>() {
                Ok(len) if i64::try_from(len).is_ok() => slowlog_len = Some(len),
                _ => return failed("argument couldn't be parsed into an integer"),
            },
            "notify-keyspace-events" => match crate::pubsub::parse_keyspace_events(&value) {
                Ok(flags) => keyspace_events = Some(flags),
                Err(why) => return failed(&why),
            },
            "port" | "bind" | "databases" | "maxclients" | "appendonly" | "appendfsync"
            | "dir" | "cluster-enabled" | "client-output-buffer-limit"
            | "client-query-buffer-limit" | "timeout" => {
                return Value::Error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - ninesdb sets it at start only: restart the node with --{name}"
                ))
            }
            _ => {
                return Value::Error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
        }
    }
    if memory != status.memory
        && shared
            .node
            .try_send(crate::driver::Input::Configure(memory))
            .is_err()
    {
        return Value::Error("ERR the node is busy; retry CONFIG SET".to_owned());
    }
    if let Some(flags) = keyspace_events {
        shared.pubsub.set_keyspace_events(flags);
    }
    if let Some(micros) = slower_than {
        shared.stats.set_slower_than(micros);
    }
    if let Some(len) = slowlog_len {
        shared.stats.set_slowlog_max_len(len);
    }
    if let Some(ms) = latency_threshold {
        shared.latency.set_threshold_ms(ms);
    }
    Value::Simple("OK".to_owned())
}

/// A HELP subcommand's reply: its lines as simple strings.
pub(crate) fn help_reply(lines: &[&str]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| Value::Simple((*l).to_owned()))
            .collect(),
    )
}

/// Redis's error for a subcommand unknown or given the wrong number of arguments.
pub(crate) fn subcommand_error(command: &str, args: &[Bytes]) -> Value {
    Value::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {command} HELP.",
        String::from_utf8_lossy(args.get(1).map_or(&b""[..], |s| &s[..]))
    ))
}

/// MEMORY STATS / DOCTOR / MALLOC-STATS / PURGE / HELP: this node's figures (ninesdb's
/// estimate of its hosted data, as `maxmemory` counts it; no allocator statistics).
async fn memory(args: &[Bytes], shared: &Shared) -> Value {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let status = crate::client::status(shared).await.unwrap_or_default();
    let keys: usize = status.groups.iter().map(|g| g.keys).sum();
    let text = |s: &str| Value::Bulk(Bytes::from(s.to_owned()));
    match (sub.as_str(), args.len()) {
        ("stats", 2) => Value::Map(vec![
            (text("dataset.bytes"), Value::Integer(status.memory_used as i64)),
            (text("keys.count"), Value::Integer(keys as i64)),
            (
                text("keys.bytes-per-key"),
                Value::Integer((status.memory_used / keys.max(1) as u64) as i64),
            ),
            (text("maxmemory"), Value::Integer(status.memory.maxmemory as i64)),
            (text("groups.hosted"), Value::Integer(status.groups.len() as i64)),
        ]),
        ("doctor", 2) => Value::Verbatim(
            "txt".to_owned(),
            Bytes::from(match status.memory.maxmemory {
                0 => format!(
                    "This node hosts about {} bytes of data in {keys} keys, with no maxmemory: set one (CONFIG SET maxmemory, or ninesdb ctl config-set) so a runaway writer gets OOM errors instead of filling the machine.\n",
                    status.memory_used
                ),
                limit => format!(
                    "This node hosts about {} of its maxmemory of {limit} bytes ({} keys).\n",
                    status.memory_used, keys
                ),
            }),
        ),
        ("malloc-stats", 2) => text("Stats not supported for the current allocator"),
        ("purge", 2) => Value::Simple("OK".to_owned()),
        ("help", 2) => help_reply(&[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
        ]),
        _ => subcommand_error("MEMORY", args),
    }
}

/// `*`-only glob for CONFIG GET patterns (all Redis clients use names or `*`).
fn keyspace_glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.iter().position(|&b| b == b'*') {
        None => pattern.eq_ignore_ascii_case(name),
        Some(star) => {
            let (prefix, suffix) = (&pattern[..star], &pattern[star + 1..]);
            name.len() >= prefix.len() + suffix.len()
                && name[..prefix.len()].eq_ignore_ascii_case(prefix)
                && keyspace_glob(suffix, &name[name.len() - suffix.len().min(name.len())..])
        }
    }
}

/// Keeps the sections INFO asked for (all by default, as `INFO`, `INFO all`, `INFO everything`).
fn info_sections(text: &str, wanted: &[Bytes]) -> String {
    let wanted: Vec<String> = wanted
        .iter()
        .map(|w| String::from_utf8_lossy(w).to_ascii_lowercase())
        .collect();
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default")
    {
        return text.to_owned();
    }
    text.split("\r\n\r\n")
        .filter(|section| {
            section
                .strip_prefix("# ")
                .and_then(|s| s.lines().next())
                .is_some_and(|name| wanted.contains(&name.to_ascii_lowercase()))
        })
        .map(|section| format!("{section}\r\n\r\n"))
        .collect::<String>()
        .trim_end_matches("\r\n\r\n")
        .to_owned()
        + "\r\n"
}

/// INFO's memory and stats sections: what `maxmemory` limits, what eviction did, pub/sub.
fn memory_sections(shared: &Shared, status: &crate::driver::Status) -> String {
    let (channels, patterns, shard_channels) = shared.pubsub.counts();
    format!(
        "# Memory\r\nused_memory:{}\r\nused_memory_dataset:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\n\r\n\
         # Stats\r\nevicted_keys:{}\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\npubsubshard_channels:{shard_channels}\r\n\r\n",
        status.memory_used,
        status.memory_used,
        status.memory.maxmemory,
        status.memory.policy.name(),
        status.evicted_keys
    )
}

async fn info(shared: &Shared) -> String {
    let status = crate::client::status(shared).await.unwrap_or_default();
    let leading: Vec<u64> = status.leading().map(|g| g.group).collect();
    let mut text = String::new();
    text.push_str("# Server\r\n");
    text.push_str(&format!("redis_version:{REDIS_VERSION}\r\nninesdb_version:{}\r\nredis_mode:cluster\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n", env!("CARGO_PKG_VERSION"), std::process::id(), shared.config.client_addr.port(), shared.started.elapsed().as_secs()));
    let blocked = crate::client::lock_blocked(shared).len();
    text.push_str(&format!(
        "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{blocked}\r\n\r\n",
        shared.clients.load(std::sync::atomic::Ordering::Relaxed)
    ));
    text.push_str(&memory_sections(shared, &status));
    text.push_str("# Replication\r\n");
    // Redis's one role per node maps onto groups: "master" if this node leads any.
    text.push_str(&format!(
        "role:{}\r\n",
        if leading.is_empty() {
            "slave"
        } else {
            "master"
        }
    ));
    let first = status.groups.first();
    if leading.is_empty() {
        if let Some(address) = first
            .and_then(|g| g.leader)
            .and_then(|l| crate::cluster::lock(&shared.view).address(l))
        {
            text.push_str(&format!(
                "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:up\r\n",
                address.ip(),
                address.port()
            ));
        } else {
            text.push_str("master_link_status:down\r\n");
        }
    }
    text.push_str(&format!(
        "connected_slaves:{}\r\n",
        status
            .leading()
            .map(|g| g.voters.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
    ));
    text.push_str(&format!("raft_node_id:{}\r\nraft_groups:{}\r\nraft_groups_hosted:{}\r\nraft_groups_leading:{}\r\nraft_leading:{leading:?}\r\n", status.id, shared.config.group_count(), status.groups.len(), leading.len()));
    for group in &status.groups {
        text.push_str(&format!(
            "raft_group{}:role={:?},term={},leader={},commit={},applied={},last={},voters={}\r\n",
            group.group,
            group.role.unwrap_or(raft::Role::Follower),
            group.term,
            group.leader.unwrap_or(0),
            group.commit_index,
            group.applied_index,
            group.last_index,
            // Redis clients split INFO values on ',' and '=': no commas inside one field.
            group
                .voters
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    text.push_str("\r\n# Cluster\r\ncluster_enabled:1\r\n\r\n");
    let keys: usize = status.groups.iter().map(|g| g.keys).sum();
    text.push_str(&format!(
        "# Keyspace\r\n{}",
        if keys > 0 {
            format!("db0:keys={keys},expires=0,avg_ttl=0\r\n")
        } else {
            String::new()
        }
    ));
    text
}

async fn cluster(args: &[Bytes], shared: &Shared, effects: &mut LocalEffects<'_>) -> Value {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let slot_arg = |index: usize| {
        std::str::from_utf8(args.get(index)?)
            .ok()?
            .parse::<u16>()
            .ok()
            .filter(|&s| u64::from(s) < crate::cluster::SLOTS)
    };
    match sub.as_str() {
        "keyslot" if args.len() == 3 => Value::Integer(i64::from(key_slot(&args[2]))),
        "myid" => Value::Bulk(Bytes::from(node_name(shared.config.id))),
        "slots" => {
            effects.set_cluster_aware();
            crate::slotmap::slots(shared).await
        }
        "shards" => {
            effects.set_cluster_aware();
            crate::slotmap::shards(shared).await
        }
        "nodes" => {
            effects.set_cluster_aware();
            Value::Verbatim(
                "txt".to_owned(),
                Bytes::from(crate::slotmap::nodes(shared).await),
            )
        }
        "info" => Value::Verbatim(
            "txt".to_owned(),
            Bytes::from(crate::slotmap::info(shared).await),
        ),
        "countkeysinslot" if args.len() == 3 => match slot_arg(2) {
            Some(slot) => match crate::fanout::keys_in_slot(slot, usize::MAX, shared).await {
                Ok(keys) => Value::Integer(keys.len() as i64),
                Err(error) => error,
            },
            None => Value::Error("ERR Invalid slot".to_owned()),
        },
        "getkeysinslot" if args.len() == 4 => {
            let count = std::str::from_utf8(&args[3])
                .ok()
                .and_then(|c| c.parse::<usize>().ok());
            match (slot_arg(2), count) {
                (Some(slot), Some(count)) => {
                    match crate::fanout::keys_in_slot(slot, count, shared).await {
                        Ok(keys) => Value::Array(keys.into_iter().map(Value::Bulk).collect()),
                        Err(error) => error,
                    }
                }
                (None, _) => Value::Error("ERR Invalid slot".to_owned()),
                (_, None) => Value::Error("ERR Invalid number of keys".to_owned()),
            }
        }
        _ => Value::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLUSTER HELP."
        )),
    }
}

/// A 40-character node name as Redis Cluster uses, derived from the node id.
pub fn node_name(id: raft::NodeId) -> String {
    format!("{id:040x}")
}

pub use resp::key_slot;
