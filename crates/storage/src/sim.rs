//! The lab's simulated disk: deterministic (its own seeded PRNG, ordered maps only) and
//! faithful to what real disks do wrong: unsynced data is lost on power loss, the last append
//! may survive torn, namespace changes need a directory sync, bits rot at rest, space runs out.

use std::collections::BTreeMap;

use crate::{Disk, DiskError};

/// SplitMix64: tiny, seedable, good enough to pick offsets and lengths.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next();
        }
        self.next() % (max + 1)
    }
}

/// One file's content: what the OS shows now, and what is durable.
#[derive(Clone, Debug)]
struct Content {
    current: Vec<u8>,
    durable: Durable,
}

/// What of a file survives power loss.
#[derive(Clone, Debug)]
enum Durable {
    /// Every change since the last sync was an append: the durable content is this long a
    /// prefix of the current one (no second copy), and a crash may keep a prefix of the
    /// unsynced tail (a torn append) instead of losing all of it.
    Prefix(usize),
    /// The file was rewritten or truncated since the last sync: the durable content.
    Copy(Vec<u8>),
}

impl Content {
    fn new() -> Content {
        Content {
            current: Vec::new(),
            durable: Durable::Prefix(0),
        }
    }

    fn durable_len(&self) -> usize {
        match &self.durable {
            Durable::Prefix(len) => *len,
            Durable::Copy(bytes) => bytes.len(),
        }
    }

    /// A change other than an append is coming: keep the durable content apart first.
    fn set_apart_durable(&mut self) {
        if let Durable::Prefix(len) = self.durable {
            self.durable = Durable::Copy(self.current[..len].to_vec());
        }
    }
}

/// The simulated disk. Files are inodes (`Content` by id) named by two namespaces: the current
/// one and the durable one, which `sync_dir` brings up to date per directory.
#[derive(Clone, Debug)]
pub struct SimDisk {
    rng: SplitMix64,
    capacity: u64,
    contents: BTreeMap<u64, Content>,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
    next_id: u64,
    operations: u64,
    crash_after: Option<u64>,
}

impl SimDisk {
    /// An empty disk of `capacity_bytes`; `seed` drives torn lengths and bit flips.
    pub fn new(seed: u64, capacity_bytes: u64) -> SimDisk {
        SimDisk {
            rng: SplitMix64(seed),
            capacity: capacity_bytes,
            contents: BTreeMap::new(),
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            next_id: 1,
            operations: 0,
            crash_after: None,
        }
    }

    /// Power loss: unsynced file content is lost, except that the last unsynced append of a
    /// file may survive as a torn prefix (random length, chosen from the seed); namespace
    /// changes (create/rename/remove) since the last `sync_dir` of their directory are undone.
    /// Also disarms [`SimDisk::crash_after`].
    pub fn crash(&mut self) {
        self.crash_after = None;
        self.names = self.durable_names.clone();
        let live: Vec<u64> = self.names.values().copied().collect();
        self.contents.retain(|id, _| live.contains(id));
        for content in self.contents.values_mut() {
            match std::mem::replace(&mut content.durable, Durable::Prefix(0)) {
                Durable::Prefix(len) if content.current.len() > len => {
                    let keep = self.rng.up_to((content.current.len() - len) as u64) as usize;
                    content.current.truncate(len + keep);
                }
                Durable::Prefix(len) => content.current.truncate(len),
                Durable::Copy(bytes) => content.current = bytes,
            }
            content.durable = Durable::Prefix(content.current.len());
        }
    }

    /// Flips one random bit in the synced content of a random file whose path starts with
    /// `prefix` (e.g. `"wal/"`); skips the newest (last by name) WAL segment if `sealed_only`.
    /// Returns (path, byte offset), or `None` if no file qualifies.
    pub fn flip_bit_at_rest(&mut self, prefix: &str, sealed_only: bool) -> Option<(String, u64)> {
        let newest_wal = self
            .names
            .keys()
            .rfind(|path| path.starts_with("wal/"))
            .cloned();
        let candidates: Vec<(String, u64)> = self
            .names
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .filter(|(path, _)| !(sealed_only && Some(*path) == newest_wal.as_ref()))
            .filter(|(_, id)| self.contents.get(id).is_some_and(|c| c.durable_len() > 0))
            .map(|(path, &id)| (path.clone(), id))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (path, id) = candidates[self.rng.up_to(candidates.len() as u64 - 1) as usize].clone();
        let content = self.contents.get_mut(&id)?;
        let offset = self.rng.up_to(content.durable_len() as u64 - 1) as usize;
        let mask = 1u8 << self.rng.up_to(7);
        if let Durable::Copy(bytes) = &mut content.durable {
            bytes[offset] ^= mask;
        }
        if let Some(byte) = content.current.get_mut(offset) {
            *byte ^= mask;
        }
        Some((path, offset as u64))
    }

    /// The operator deleted the data directory: everything is gone, durably.
    pub fn wipe(&mut self) {
        self.contents.clear();
        self.names.clear();
        self.durable_names.clear();
    }

    /// Changes the capacity; files already there stay even if they exceed it.
    pub fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity = capacity_bytes;
    }

    /// Bytes of the files that exist now.
    pub fn used_bytes(&self) -> u64 {
        self.names
            .values()
            .filter_map(|id| self.contents.get(id))
            .map(|c| c.current.len() as u64)
            .sum()
    }

    /// Count of mutating operations so far (append, write, truncate, sync, rename, remove,
    /// sync_dir), including ones that failed.
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Arms a crash: once `operations()` reaches `count`, every later mutating operation fails
    /// with `Io` (the machine is dead) until [`SimDisk::crash`] is called.
    pub fn crash_after(&mut self, count: u64) {
        self.crash_after = Some(count);
    }

    /// Counts a mutating operation and refuses it if the armed crash has happened.
    fn begin(&mut self) -> Result<(), DiskError> {
        if self
            .crash_after
            .is_some_and(|limit| self.operations >= limit)
        {
            return Err(DiskError::Io("simulated power loss".into()));
        }
        self.operations += 1;
        Ok(())
    }

    fn check_space(&self, needed: u64, freed: u64) -> Result<(), DiskError> {
        let available = self
            .capacity
            .saturating_sub(self.used_bytes().saturating_sub(freed));
        if needed > available {
            return Err(DiskError::Full { needed, available });
        }
        Ok(())
    }

    fn content_mut(&mut self, path: &str) -> Result<&mut Content, DiskError> {
        let id = *self
            .names
            .get(path)
            .ok_or_else(|| DiskError::NotFound(path.to_string()))?;
        self.contents
            .get_mut(&id)
            .ok_or_else(|| DiskError::NotFound(path.to_string()))
    }

    fn create(&mut self, path: &str) {
        if !self.names.contains_key(path) {
            let id = self.next_id;
            self.next_id += 1;
            self.contents.insert(id, Content::new());
            self.names.insert(path.to_string(), id);
        }
    }
}

fn dir_of(path: &str) -> &str {
    path.split_once('/').map_or("", |(dir, _)| dir)
}

impl Disk for SimDisk {
    fn list(&self, dir: &str) -> Result<Vec<String>, DiskError> {
        let prefix = format!("{dir}/");
        Ok(self
            .names
            .keys()
            .filter_map(|path| path.strip_prefix(&prefix))
            .map(str::to_string)
            .collect())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, DiskError> {
        let id = self
            .names
            .get(path)
            .ok_or_else(|| DiskError::NotFound(path.to_string()))?;
        Ok(self
            .contents
            .get(id)
            .map(|c| c.current.clone())
            .unwrap_or_default())
    }

    fn append(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        self.begin()?;
        self.check_space(data.len() as u64, 0)?;
        self.create(path);
        self.content_mut(path)?.current.extend_from_slice(data);
        Ok(())
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), DiskError> {
        self.begin()?;
        let old = self
            .names
            .get(path)
            .and_then(|id| self.contents.get(id))
            .map_or(0, |c| c.current.len());
        self.check_space(data.len() as u64, old as u64)?;
        self.create(path);
        let content = self.content_mut(path)?;
        content.set_apart_durable();
        content.current = data.to_vec();
        Ok(())
    }

    fn truncate(&mut self, path: &str, len: u64) -> Result<(), DiskError> {
        self.begin()?;
        let content = self.content_mut(path)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < content.current.len() {
            content.set_apart_durable();
            content.current.truncate(len);
        }
        Ok(())
    }

    fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        self.begin()?;
        let content = self.content_mut(path)?;
        content.durable = Durable::Prefix(content.current.len());
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        self.begin()?;
        let id = self
            .names
            .remove(from)
            .ok_or_else(|| DiskError::NotFound(from.to_string()))?;
        self.names.insert(to.to_string(), id);
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Result<(), DiskError> {
        self.begin()?;
        self.names
            .remove(path)
            .ok_or_else(|| DiskError::NotFound(path.to_string()))?;
        Ok(())
    }

    fn sync_dir(&mut self, dir: &str) -> Result<(), DiskError> {
        self.begin()?;
        self.durable_names.retain(|path, _| dir_of(path) != dir);
        let now = self.names.iter().filter(|(path, _)| dir_of(path) == dir);
        let now: Vec<(String, u64)> = now.map(|(path, &id)| (path.clone(), id)).collect();
        self.durable_names.extend(now);
        // Inodes no name reaches any more can never come back: free them.
        let mut reachable: Vec<u64> = self
            .names
            .values()
            .chain(self.durable_names.values())
            .copied()
            .collect();
        reachable.sort_unstable();
        self.contents
            .retain(|id, _| reachable.binary_search(id).is_ok());
        Ok(())
    }
}
