//! `ninesdb ctl`: look at a running cluster and act on it.
//! - `status`: the topology tree (datacenter > pod > rack > node) with each node's health,
//!   replicas and leaderships, then every group that lacks a leader, a majority of up
//!   voters, or the failure-domain spread its topology allows.
//! - `drain NODE` / `undrain NODE`: move every replica and leadership off a node for
//!   maintenance (told to every node; each group's leader does the moves), or stop doing so.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Any server of the cluster (its client address).
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: String,
    /// Its client port.
    #[arg(long, default_value_t = 7001, global = true)]
    port: u16,
    /// The user to log in as, when the cluster has passwords (the admin user can drain).
    #[arg(long, env = "NINESDB_USER", default_value = "admin", global = true)]
    user: String,
    /// Its password (none: no AUTH).
    #[arg(long, env = "NINESDB_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Print the topology tree with each node's health, replicas and leaderships, and every
    /// group that lacks a leader, a majority or its failure-domain spread.
    Status {
        /// Print the server's raw JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Move every replica and leadership off NODE (for maintenance); the moves take a while:
    /// watch them with `ctl status`.
    Drain { node: u64 },
    /// Stop draining NODE.
    Undrain { node: u64 },
    /// CONFIG SET NAME VALUE on every server of the cluster (a server's CONFIG SET changes
    /// that server only, as in Redis Cluster): maxmemory, maxmemory-policy,
    /// maxmemory-samples, slowlog-log-slower-than, slowlog-max-len, latency-monitor-threshold,
    /// notify-keyspace-events.
    ConfigSet { name: String, value: String },
    /// Load a Redis RDB file (versions 1-11, e.g. redis-server's dump.rdb) into the cluster:
    /// every key RESTOREd at its slot's leader, through the replicated write path.
    ImportRdb {
        file: PathBuf,
        /// Connections to each leader, working in parallel (a connection's commands run one
        /// after the other).
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// Write every key of the cluster (and its function libraries) into an RDB file
    /// (version 10) that redis-server 7.0 and later load.
    ExportRdb {
        file: PathBuf,
        /// Connections to each leader, working in parallel.
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// Copy every group's keyspace, each at a committed index (a linearizable read at its
    /// leader), into DIR with a manifest of slot ranges, indexes, checksums and settings.
    /// The cluster keeps serving. Each group is consistent on its own; the backup is not one
    /// cut across groups.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Load a backup (`ctl backup`) into this cluster, which may have another node or group
    /// count: every file is checked against the manifest first, then every key RESTOREd.
    Restore {
        #[arg(long)]
        from: PathBuf,
        /// Connections to each leader, working in parallel.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
}

pub fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let address = (args.host.as_str(), args.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("{} does not resolve", args.host))?;
    let credentials = args
        .password
        .as_deref()
        .map(|password| (args.user.as_str(), password));
    let seed = address.to_string();
    match &args.command {
        CtlCommand::ImportRdb { file, connections } => {
            return exit(crate::rdb_cli::import(
                &seed,
                credentials,
                file,
                *connections,
            )?)
        }
        CtlCommand::ExportRdb { file, connections } => {
            return exit(crate::rdb_cli::export(
                &seed,
                credentials,
                file,
                *connections,
            )?)
        }
        CtlCommand::Restore { from, connections } => {
            return exit(crate::backup_cli::restore(
                &seed,
                credentials,
                from,
                *connections,
            )?)
        }
        _ => {}
    }
    let status = fetch_status(address, credentials).with_context(|| format!("no answer from {address}; is a server running there? (`ninesdb up` starts one on 7001)"))?;
    match args.command {
        CtlCommand::Status { json: true } => println!("{}", serde_json::to_string_pretty(&status)?),
        CtlCommand::Status { json: false } => {
            let healthy = print_status(&status);
            return Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        CtlCommand::Drain { node } => tell_everyone(&status, credentials, "DRAIN", node)?,
        CtlCommand::Undrain { node } => tell_everyone(&status, credentials, "UNDRAIN", node)?,
        CtlCommand::ConfigSet { name, value } => {
            return exit(config_everywhere(&status, credentials, &name, &value)?)
        }
        CtlCommand::Backup { to } => crate::backup_cli::backup(&seed, credentials, &status, &to)?,
        CtlCommand::ImportRdb { .. }
        | CtlCommand::ExportRdb { .. }
        | CtlCommand::Restore { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

type Credentials<'a> = Option<(&'a str, &'a str)>;

fn exit(success: bool) -> anyhow::Result<ExitCode> {
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn call(
    address: SocketAddr,
    credentials: Credentials<'_>,
    args: &[&str],
) -> anyhow::Result<Result<String, String>> {
    Ok(server::membership::call_as(address, credentials, args)?)
}

fn fetch_status(address: SocketAddr, credentials: Credentials<'_>) -> anyhow::Result<Value> {
    let text = call(address, credentials, &["NINESDB", "STATUS"])?.map_err(|e| {
        if e.starts_with("NOAUTH") || e.starts_with("WRONGPASS") || e.starts_with("NOPERM") {
            anyhow!("{e} (give --password, or NINESDB_PASSWORD, and --user if not admin)")
        } else {
            anyhow!("{e}")
        }
    })?;
    Ok(serde_json::from_str(&text)?)
}

fn tell_everyone(
    status: &Value,
    credentials: Credentials<'_>,
    verb: &str,
    node: u64,
) -> anyhow::Result<()> {
    let nodes = status["nodes"]
        .as_array()
        .ok_or_else(|| anyhow!("status without nodes"))?;
    if !nodes.iter().any(|n| n["id"].as_u64() == Some(node)) {
        bail!(
            "no node {node} in this cluster (nodes: {})",
            nodes
                .iter()
                .filter_map(|n| n["id"].as_u64())
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (mut told, mut missed) = (0, Vec::new());
    for entry in nodes {
        let Some(address) = entry["client"]
            .as_str()
            .and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            continue;
        };
        match call(address, credentials, &["NINESDB", verb, &node.to_string()]) {
            Ok(Ok(_)) => told += 1,
            _ => missed.push(entry["id"].as_u64().unwrap_or(0).to_string()),
        }
    }
    println!(
        "{} node {node}: told {told} of {} servers",
        verb.to_lowercase(),
        nodes.len()
    );
    if !missed.is_empty() {
        println!(
            "not reached: {} (they learn nothing until told again; a restart forgets it too)",
            missed.join(", ")
        );
    }
    if verb == "DRAIN" {
        println!("replicas and leaderships move off node {node} over the next seconds; watch with `ninesdb ctl status`");
    }
    Ok(())
}

/// CONFIG SET on every member, with what each answered; whether all took it.
fn config_everywhere(
    status: &Value,
    credentials: Credentials<'_>,
    name: &str,
    value: &str,
) -> anyhow::Result<bool> {
    let nodes = status["nodes"]
        .as_array()
        .ok_or_else(|| anyhow!("status without nodes"))?;
    let mut all = true;
    for entry in nodes {
        let id = entry["id"].as_u64().unwrap_or(0);
        let answer = match entry["client"]
            .as_str()
            .and_then(|a| a.parse::<SocketAddr>().ok())
        {
            None => Err("no client address known".to_owned()),
            Some(address) => match call(address, credentials, &["CONFIG", "SET", name, value]) {
                Ok(reply) => reply,
                Err(e) => Err(format!("not reached: {e}")),
            },
        };
        match answer {
            Ok(_) => println!("node {id}: {name} = {value}"),
            Err(why) => {
                all = false;
                println!("node {id}: {why}");
            }
        }
    }
    if !all {
        println!("not every server took it: run the command again once they answer (a restart also forgets it: set the flag too)");
    }
    Ok(all)
}

/// Prints the tree and the groups needing attention; returns whether all is well.
fn print_status(status: &Value) -> bool {
    let empty = Vec::new();
    let nodes = status["nodes"].as_array().unwrap_or(&empty);
    let groups = status["groups"].as_array().unwrap_or(&empty);
    let state_of: BTreeMap<u64, &str> = nodes
        .iter()
        .filter_map(|n| Some((n["id"].as_u64()?, n["state"].as_str().unwrap_or("?"))))
        .collect();
    let (mut replicas, mut leads) = (BTreeMap::<u64, usize>::new(), BTreeMap::<u64, usize>::new());
    for group in groups {
        for node in ids(&group["voters"])
            .into_iter()
            .chain(ids(&group["learners"]))
        {
            *replicas.entry(node).or_default() += 1;
        }
        if let Some(leader) = group["leader"].as_u64() {
            *leads.entry(leader).or_default() += 1;
        }
    }
    println!(
        "ninesdb cluster: {} nodes, {} groups x {} replicas, plus the meta group (as node {} sees it)",
        nodes.len(),
        status["group_count"],
        status["replication"],
        status["node"]
    );
    let mut tree: BTreeMap<(&str, &str, &str), Vec<&Value>> = BTreeMap::new();
    for node in nodes {
        let key = (
            node["dc"].as_str().unwrap_or("?"),
            node["pod"].as_str().unwrap_or("?"),
            node["rack"].as_str().unwrap_or("?"),
        );
        tree.entry(key).or_default().push(node);
    }
    let (mut last_dc, mut last_pod) = ("", "");
    for ((dc, pod, rack), members) in &tree {
        if *dc != last_dc {
            println!("{dc}");
            (last_dc, last_pod) = (dc, "");
        }
        if *pod != last_pod {
            println!("  {pod}");
            last_pod = pod;
        }
        println!("    {rack}");
        for node in members {
            let id = node["id"].as_u64().unwrap_or(0);
            let state = if node["sick"].as_bool() == Some(true) {
                "slow"
            } else {
                node["state"].as_str().unwrap_or("?")
            };
            println!(
                "      node {id:<3} {:<10} {:<21} {:<9} replicas {:<4} leads {:<4} fsync {:.1} ms",
                node["host"].as_str().unwrap_or("?"),
                node["client"].as_str().unwrap_or("?"),
                state,
                replicas.get(&id).unwrap_or(&0),
                leads.get(&id).unwrap_or(&0),
                node["fsync_ms"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let mut problems = Vec::new();
    for group in groups {
        let id = group["group"].as_u64().unwrap_or(0);
        let slots = if group["slots"].is_null() {
            "the meta group: member registry".to_owned()
        } else {
            format!("slots {}-{}", group["slots"][0], group["slots"][1])
        };
        let Some(leader) = group["leader"].as_u64() else {
            problems.push(format!("group {id} ({slots}): no leader known"));
            continue;
        };
        let voters = ids(&group["voters"]);
        let down: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|v| state_of.get(v) != Some(&"up") && state_of.get(v) != Some(&"draining"))
            .collect();
        if voters.len() - down.len() <= voters.len() / 2 {
            problems.push(format!("group {id} ({slots}): only {} of {} voters up (down: {down:?}): NO MAJORITY, writes stall", voters.len() - down.len(), voters.len()));
        } else if !down.is_empty() {
            problems.push(format!("group {id} ({slots}): voters on down nodes {down:?}; repair replaces them after down-after"));
        }
        if state_of.get(&leader) == Some(&"down") {
            problems.push(format!(
                "group {id}: its last known leader, node {leader}, is down"
            ));
        }
        if !ids(&group["learners"]).is_empty() {
            problems.push(format!(
                "group {id} ({slots}): repair in progress (learners {:?} catching up)",
                ids(&group["learners"])
            ));
        }
        if let Some(shortfall) = group["shortfall"]
            .as_str()
            .filter(|_| lacks_avoidable_spread(group, &tree))
        {
            problems.push(format!("group {id} ({slots}): spread: {shortfall}"));
        }
    }
    if problems.is_empty() {
        println!("all {} groups have a leader, a majority of voters up, and the spread the topology allows", groups.len());
        true
    } else {
        println!("needs attention:");
        for problem in &problems {
            println!("  {problem}");
        }
        false
    }
}

/// Whether a group's majority would fail with one rack (or pod, or datacenter) while the
/// cluster has enough of them to avoid it.
fn lacks_avoidable_spread(group: &Value, tree: &BTreeMap<(&str, &str, &str), Vec<&Value>>) -> bool {
    let survives: Vec<&str> = group["majority_survives_loss_of"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let replicas = ids(&group["voters"]).len();
    let count = |level: fn(&(&str, &str, &str)) -> String| {
        tree.keys()
            .map(level)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let levels: [(&str, usize); 3] = [
        ("datacenter", count(|k| k.0.to_owned())),
        ("pod", count(|k| format!("{}/{}", k.0, k.1))),
        ("rack", count(|k| format!("{}/{}/{}", k.0, k.1, k.2))),
    ];
    levels
        .iter()
        .any(|(level, domains)| *domains >= replicas && !survives.contains(level))
}

fn ids(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}
