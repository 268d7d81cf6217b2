//! `ninesdb ctl backup --to DIR` and `ninesdb ctl restore --from DIR`.
//!
//! Backup asks each group's leader for `NINESDB BACKUP <group>`: a linearizable read that
//! returns the group's keyspace encoding at its applied index, with its CRC-64. Each goes
//! to `group-<id>.snapshot` (checked against the CRC, written under a temporary name,
//! fsynced, renamed), then `manifest.json` names every file with its group, slot range,
//! applied index, size and CRC, and the cluster's settings. A backup without its manifest
//! is incomplete. Each group's copy is consistent at its own index; the groups are copied
//! one after another, so the backup is not one cut across groups (ARCHITECTURE.md).
//!
//! Restore checks every file against the manifest first (a damaged file is refused, named
//! with its group, before anything is written), then RESTOREs every key of every group
//! into a running cluster, whatever its node or group count, through the write path
//! (`rdb_cli::load_records`), and the function libraries with FUNCTION RESTORE.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use bench::resp::Value;
use bytes::Bytes;
use keyspace::rdb::{crc64, Record};
use keyspace::Keyspace;
use serde_json::json;

use crate::loader::{bar, import_functions, load_records, now_ms, Summary};
use crate::pipeline::{Credentials, Pipe};

const MANIFEST: &str = "manifest.json";
/// The manifest's format version.
const FORMAT: u64 = 1;

fn file_name(group: u64) -> String {
    format!("group-{group}.snapshot")
}

/// Writes `bytes` to `path` durably: a temporary name, fsync, rename.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let mut file =
        std::fs::File::create(&partial).with_context(|| format!("create {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// The client address of the leader of `group` in a `NINESDB STATUS` reply.
fn leader_address(status: &serde_json::Value, group: &serde_json::Value) -> Option<String> {
    let leader = group["leader"].as_u64()?;
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["id"].as_u64() == Some(leader))?["client"]
        .as_str()
        .map(str::to_owned)
}

/// One group's copy: (applied index, CRC, keyspace bytes), the CRC checked.
fn fetch_group(
    address: &str,
    credentials: Credentials<'_>,
    group: u64,
) -> anyhow::Result<(u64, u64, Vec<u8>)> {
    let mut pipe = Pipe::connect(address, credentials)?;
    let reply = pipe.call(&[b"NINESDB", b"BACKUP", group.to_string().as_bytes()])?;
    let Value::Array(items) = reply else {
        bail!("NINESDB BACKUP {group} at {address}: {reply:?}");
    };
    let [Value::Integer(index), Value::Bulk(crc), Value::Bulk(bytes)] = items.as_slice() else {
        bail!("NINESDB BACKUP {group} at {address}: an unexpected reply");
    };
    let crc = u64::from_str_radix(&String::from_utf8_lossy(crc), 16)?;
    if crc64(bytes) != crc {
        bail!("group {group}'s copy from {address} arrived damaged (checksum mismatch)");
    }
    Ok((u64::try_from(*index)?, crc, bytes.clone()))
}

pub fn backup(
    seed: &str,
    credentials: Credentials<'_>,
    status: &serde_json::Value,
    to: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    if to.join(MANIFEST).exists() {
        bail!(
            "{} already holds a backup (its {MANIFEST}): choose an empty directory",
            to.display()
        );
    }
    let started = Instant::now();
    let groups: Vec<&serde_json::Value> = status["groups"]
        .as_array()
        .ok_or_else(|| anyhow!("NINESDB STATUS without groups"))?
        .iter()
        .filter(|g| !g["slots"].is_null()) // the meta group holds the member list only
        .collect();
    let mut entries = Vec::new();
    for group in groups {
        let id = group["group"]
            .as_u64()
            .ok_or_else(|| anyhow!("a group without an id"))?;
        let address = leader_address(status, group).unwrap_or_else(|| seed.to_owned());
        let (index, crc, bytes) = fetch_group(&address, credentials, id)?;
        write_file(&to.join(file_name(id)), &bytes)?;
        println!(
            "group {id} (slots {}-{}): index {index}, {} bytes, crc64 {crc:016x}",
            group["slots"][0],
            group["slots"][1],
            bytes.len()
        );
        entries.push(json!({
            "group": id,
            "slots": group["slots"],
            "applied_index": index,
            "file": file_name(id),
            "bytes": bytes.len(),
            "crc64": format!("{crc:016x}"),
        }));
    }
    let manifest = json!({
        "format": FORMAT,
        "ninesdb_version": env!("CARGO_PKG_VERSION"),
        "created_unix_ms": now_ms(),
        "consistency": "per group: each group's keyspace as of its own applied index, copied one group after another; not one cut across groups",
        "settings": {
            "group_count": status["group_count"],
            "replication": status["replication"],
        },
        "groups": entries,
    });
    write_file(
        &to.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    println!(
        "backup of {} groups in {} in {:.2} s",
        entries.len(),
        to.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One group of a backup, as the manifest describes it.
struct Part {
    group: u64,
    slots: String,
    path: PathBuf,
    bytes: u64,
    crc: u64,
}

fn parts(from: &Path) -> anyhow::Result<Vec<Part>> {
    let path = from.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read {} (is {} a backup?)", path.display(), from.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    if manifest["format"].as_u64() != Some(FORMAT) {
        bail!(
            "{}: backup format {} is not one this ninesdb reads ({FORMAT})",
            path.display(),
            manifest["format"]
        );
    }
    let bad = || anyhow!("{} is damaged: a group entry lacks a field", path.display());
    manifest["groups"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|g| {
            let file = g["file"].as_str().ok_or_else(bad)?;
            if file.contains('/') || file.contains("..") {
                bail!("{}: file name {file:?} outside the backup", path.display());
            }
            Ok(Part {
                group: g["group"].as_u64().ok_or_else(bad)?,
                slots: format!("{}-{}", g["slots"][0], g["slots"][1]),
                path: from.join(file),
                bytes: g["bytes"].as_u64().ok_or_else(bad)?,
                crc: u64::from_str_radix(g["crc64"].as_str().ok_or_else(bad)?, 16)?,
            })
        })
        .collect()
}

/// A group's file, checked against the manifest; the error names the file and the group.
fn read_part(part: &Part) -> anyhow::Result<Vec<u8>> {
    let refuse = |what: String| {
        anyhow!(
            "backup file {} of group {} (slots {}) is corrupted: {what}; nothing was restored from this backup",
            part.path.display(),
            part.group,
            part.slots
        )
    };
    let bytes = std::fs::read(&part.path).map_err(|e| refuse(format!("cannot read it ({e})")))?;
    if bytes.len() as u64 != part.bytes {
        return Err(refuse(format!(
            "{} bytes where the manifest says {}",
            bytes.len(),
            part.bytes
        )));
    }
    let crc = crc64(&bytes);
    if crc != part.crc {
        return Err(refuse(format!(
            "checksum {crc:016x} where the manifest says {:016x}",
            part.crc
        )));
    }
    Ok(bytes)
}

pub fn restore(
    seed: &str,
    credentials: Credentials<'_>,
    from: &Path,
    connections: usize,
) -> anyhow::Result<bool> {
    let parts = parts(from)?;
    // Every file first: a damaged backup is refused before anything is written.
    for part in &parts {
        read_part(part)?;
    }
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut functions: Vec<Bytes> = Vec::new();
    for part in &parts {
        let keyspace = Keyspace::decode(&read_part(part)?).map_err(|e| {
            anyhow!(
                "backup file {} of group {}: {e}",
                part.path.display(),
                part.group
            )
        })?;
        let records = keyspace
            .dump_all(now_ms())
            .map(|(key, payload, expire_ms)| {
                Ok::<_, String>(Record {
                    db: 0,
                    key,
                    kind: payload[0],
                    payload,
                    expire_ms,
                    idle_seconds: None,
                    freq: None,
                })
            });
        let progress = bar(part.bytes / 64, &format!("group {}", part.group));
        let (loaded, _) = load_records(seed, credentials, connections, records, &progress)?;
        progress.finish_and_clear();
        summary.merge(loaded);
        if functions.is_empty() {
            functions = group_functions(&keyspace)?;
        }
    }
    import_functions(seed, credentials, &functions, &mut summary)?;
    summary.print("restored", from, started.elapsed().as_secs_f64());
    Ok(summary.failed.is_empty())
}

/// A group's function libraries (every group holds them all).
fn group_functions(keyspace: &Keyspace) -> anyhow::Result<Vec<Bytes>> {
    let args = [Bytes::from_static(b"FUNCTION"), Bytes::from_static(b"DUMP")];
    match keyspace.read(
        &args,
        keyspace::Context {
            now_ms: now_ms(),
            seed: 0,
        },
    ) {
        resp::Value::Bulk(payload) => keyspace::rdb::functions_from_payload(&payload)
            .map_err(|e| anyhow!("FUNCTION DUMP of a backup: {e}")),
        _ => Ok(Vec::new()),
    }
}
