//! WAL recovery under libFuzzer, with the seeded test's properties
//! (crates/storage/tests/fuzz_checks). Input: a mode byte, then:
//! - mode 0 (the decoders behind the checksum): records `[kind][group][len][payload...]`
//!   that the harness frames with correct lengths and checksums into a segment, and a
//!   snapshot file of raw fuzzer bytes; recovery must not panic.
//! - mode 1 (the properties): a seed byte picks a random workload, written by the `Wal`;
//!   then every 4 bytes are an edit of its files at rest (xor a byte, cut, append, a lying
//!   record length); recovery returns no unwritten state, a prefix for every group not
//!   reported damaged, and the same verdict when run twice.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use storage::codec::{self, RECORD_HEADER_LEN};
use storage::{Disk, SimDisk, Wal};

#[path = "../../crates/storage/tests/common/mod.rs"]
mod common;
#[path = "../../crates/storage/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => framed_records(rest),
        Some((_, rest)) => edited_workload(rest),
        None => {}
    }
});

fn framed_records(data: &[u8]) {
    let mut segment = codec::segment_header(1).to_vec();
    let mut rest = data;
    while let [kind, group, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        let group = u64::from(*group);
        segment.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        segment.push(*kind % 6);
        segment.extend_from_slice(&group.to_le_bytes());
        segment.extend_from_slice(&codec::record_crc(*kind % 6, group, payload).to_le_bytes());
        segment.extend_from_slice(payload);
        rest = after;
    }
    let mut disk = SimDisk::new(1, u64::MAX);
    disk.write("wal/0000000000000001.log", &segment)
        .expect("write");
    disk.write("snap/0000000000000001-0000000000000005.snap", data)
        .expect("write");
    let _ = Wal::open(disk, fuzz_checks::options());
}

/// The 256 workloads a seed byte picks, written once: writing is most of a run's cost.
fn workloads() -> &'static [(SimDisk, fuzz_checks::History)] {
    static WORKLOADS: OnceLock<Vec<(SimDisk, fuzz_checks::History)>> = OnceLock::new();
    WORKLOADS.get_or_init(|| {
        (0..=255u64)
            .map(|seed| {
                let ops = fuzz_checks::random_workload(&mut fuzz_checks::Rng(seed));
                fuzz_checks::write(seed, &ops)
            })
            .collect()
    })
}

fn edited_workload(data: &[u8]) {
    let Some((&seed, edits)) = data.split_first() else {
        return;
    };
    let (disk, history) = &workloads()[usize::from(seed)];
    let mut disk = disk.clone();
    let mut paths: Vec<String> = Vec::new();
    for dir in ["wal", "snap"] {
        for name in disk.list(dir).expect("list") {
            paths.push(format!("{dir}/{name}"));
        }
    }
    if paths.is_empty() {
        return;
    }
    let newest_wal = paths.iter().rfind(|p| p.starts_with("wal/")).cloned();
    for edit in edits.chunks_exact(4) {
        let path = &paths[usize::from(edit[0] >> 2) % paths.len()];
        let Ok(mut bytes) = disk.read(path) else {
            continue;
        };
        let at = usize::from(u16::from_le_bytes([edit[1], edit[2]]));
        match edit[0] & 3 {
            0 if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= edit[3].max(1);
            }
            1 => {
                let sealed = Some(path) != newest_wal.as_ref() && path.starts_with("wal/");
                let at = at % (bytes.len() + 1);
                // A sealed segment cut on a record boundary is a known blind spot of
                // recovery (see fuzz_checks::corrupt): cut inside a record instead.
                let boundary = fuzz_checks::is_record_boundary(&bytes, at);
                bytes.truncate(if sealed && boundary { at + 1 } else { at });
            }
            2 => bytes.push(edit[3]),
            _ => {
                let offsets = fuzz_checks::record_offsets(&bytes);
                if let Some(&pos) = offsets.get(at % offsets.len().max(1)) {
                    let lie = u32::from(edit[3]) << 24 | at as u32;
                    bytes[pos..pos + 4].copy_from_slice(&lie.to_le_bytes());
                    debug_assert!(pos + RECORD_HEADER_LEN <= bytes.len());
                }
            }
        }
        disk.write(path, &bytes).expect("write");
        disk.sync(path).expect("sync");
    }
    let (wal, recovered) = Wal::open(disk, fuzz_checks::options()).expect("open");
    fuzz_checks::check_recovery(history, &recovered, "fuzzer edits");
    let (_, again) = Wal::open(wal.into_disk(), fuzz_checks::options()).expect("reopen");
    assert_eq!(again.groups, recovered.groups);
    assert_eq!(again.damaged, recovered.damaged);
}
