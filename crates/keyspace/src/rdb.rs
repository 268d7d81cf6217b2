//! Whole Redis RDB files (`dump.rdb`), read and written: what `ninesdb ctl import-rdb` and
//! `export-rdb` move between Redis and ninesdb.
//!
//! A file is `REDIS` and four version digits, then opcodes: AUX fields, SELECTDB, RESIZEDB,
//! a key's EXPIRETIME (seconds) or EXPIRETIME_MS, its IDLE or FREQ, then the key (a type
//! byte, the key, the value), FUNCTION2 (a library's code), and EOF followed by the CRC-64
//! of everything before it (0 when the writer had checksums off). Values are DUMP's RDB
//! forms (`dump.rs` reads and checks them); a key here is therefore handed on as a DUMP
//! payload, which RESTORE takes on any node.
//!
//! The reader works on the file's bytes, is pure and bounded by them (a length the rest of
//! the file cannot hold is an error, never an allocation), and never panics on bad input.
//! It reads versions 1 to 11 (Redis 7.2), the writer writes version 10 (Redis 7.0 loads it,
//! and so does every later Redis).

use std::fmt;

use bytes::Bytes;

use crate::dump::{crc64_update, load_value, save_string, seal, sealed, Rdb, RDB_VERSION};

const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

/// Module values (RDB_TYPE_MODULE, RDB_TYPE_MODULE_2).
const TYPE_MODULES: [u8; 2] = [6, 7];

/// The newest RDB version read (Redis 7.2).
pub const READ_VERSION_MAX: u16 = 11;

/// Why a file cannot be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdbError {
    /// Byte offset in the file (in the window, for a reader made by `RdbReader::resume`).
    pub offset: usize,
    pub reason: String,
    /// The bytes ran out (or did not parse) where more of the file may complete them: a
    /// reader over a window of the file tries again with a larger one.
    pub incomplete: bool,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for RdbError {}

/// One key of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The database (SELECTDB) it was in.
    pub db: u64,
    pub key: Bytes,
    /// Its RDB type byte (see [`type_name`]).
    pub kind: u8,
    /// The value as a DUMP payload (RDB form, version, CRC), ready for RESTORE.
    pub payload: Bytes,
    /// Absolute expiry in Unix milliseconds.
    pub expire_ms: Option<u64>,
    /// LRU idle seconds, when the file kept them.
    pub idle_seconds: Option<u64>,
    /// LFU counter, when the file kept it.
    pub freq: Option<u8>,
}

/// Redis's CRC-64 (Jones), as RDB files and DUMP payloads use it: also the checksum of
/// ninesdb's backup files.
pub fn crc64(bytes: &[u8]) -> u64 {
    crate::dump::crc64(bytes)
}

/// FUNCTION RESTORE's payload for these libraries' code.
pub fn functions_payload(codes: &[Bytes]) -> Bytes {
    crate::dump::functions_payload(codes.iter().map(|c| c.as_ref()))
}

/// The libraries' code in a FUNCTION DUMP payload, or Redis's error text.
pub fn functions_from_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    crate::dump::functions_from_payload(payload)
}

/// The Redis type of an RDB type byte.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        0 => "string",
        1 | 10 | 14 | 18 => "list",
        2 | 11 | 20 => "set",
        3 | 5 | 12 | 17 => "zset",
        4 | 9 | 13 | 16 => "hash",
        15 | 19 | 21 => "stream",
        6 | 7 => "module",
        _ => "unknown",
    }
}

/// Reads a whole RDB file's keys in order (an iterator of records); AUX fields and
/// function libraries are kept aside for the caller.
pub struct RdbReader<'a> {
    r: Rdb<'a>,
    version: u16,
    db: u64,
    done: bool,
    /// AUX fields (name, value) seen so far.
    pub aux: Vec<(Bytes, Bytes)>,
    /// Function libraries' code seen so far (FUNCTION2).
    pub functions: Vec<Bytes>,
}

impl<'a> RdbReader<'a> {
    /// Checks the header and the checksum at the end (over the whole file, before reading a
    /// key: a torn or corrupted file is refused before anything is loaded).
    pub fn new(file: &'a [u8]) -> Result<RdbReader<'a>, RdbError> {
        let mut check = FileCheck::new();
        check.update(file);
        let version = check.finish()?;
        let mut reader = RdbReader::resume(file, version, 0);
        reader.r.pos = 9; // offsets count from the file's start
        Ok(reader)
    }

    /// A reader over a window of a file whose header (and checksum, see [`FileCheck`]) the
    /// caller checked: `window` starts at an opcode, in database `db`. Records that the
    /// window holds whole come out; one cut by its end is an error with `incomplete` set.
    pub fn resume(window: &'a [u8], version: u16, db: u64) -> RdbReader<'a> {
        RdbReader {
            r: Rdb {
                buf: window,
                pos: 0,
            },
            version,
            db,
            done: false,
            aux: Vec::new(),
            functions: Vec::new(),
        }
    }

    /// The database the next record is in (SELECTDB).
    pub fn db(&self) -> u64 {
        self.db
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// How far the reader is (for a progress bar).
    pub fn position(&self) -> usize {
        self.r.pos
    }

    fn error(&self, reason: impl Into<String>) -> RdbError {
        RdbError {
            offset: self.r.pos,
            reason: reason.into(),
            incomplete: false,
        }
    }

    fn cut_short(&self) -> RdbError {
        RdbError {
            incomplete: true,
            ..self.error("the file ends in the middle of an opcode")
        }
    }

    /// The next record (`None` at EOF), after the opcodes before it that carry no key. AUX
    /// fields and functions met on the way are kept only when it succeeds, so that a window
    /// cut short can be read again from the same place.
    pub fn next_record(&mut self) -> Result<Option<Record>, RdbError> {
        let (aux, functions) = (self.aux.len(), self.functions.len());
        let next = self.next_group();
        if next.is_err() {
            self.aux.truncate(aux);
            self.functions.truncate(functions);
        }
        next
    }

    fn next_group(&mut self) -> Result<Option<Record>, RdbError> {
        let (mut expire_ms, mut idle_seconds, mut freq) = (None, None, None);
        let truncated = |me: &Self| me.cut_short();
        loop {
            let opcode = self.r.byte().map_err(|_| truncated(self))?;
            match opcode {
                OPCODE_EOF => return Ok(None),
                OPCODE_AUX => {
                    let name = self.r.string().map_err(|_| truncated(self))?;
                    let value = self.r.string().map_err(|_| truncated(self))?;
                    self.aux.push((name, value));
                }
                OPCODE_SELECTDB => self.db = self.r.len().map_err(|_| truncated(self))?,
                OPCODE_RESIZEDB => {
                    self.r.len().map_err(|_| truncated(self))?;
                    self.r.len().map_err(|_| truncated(self))?;
                }
                OPCODE_EXPIRETIME_MS => {
                    let b = self.r.take(8).map_err(|_| truncated(self))?;
                    let ms = i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    expire_ms = Some(ms.max(0) as u64);
                }
                OPCODE_EXPIRETIME => {
                    let b = self.r.take(4).map_err(|_| truncated(self))?;
                    let s = i32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
                    expire_ms = Some((i64::from(s).max(0) as u64) * 1000);
                }
                OPCODE_IDLE => idle_seconds = Some(self.r.len().map_err(|_| truncated(self))?),
                OPCODE_FREQ => freq = Some(self.r.byte().map_err(|_| truncated(self))?),
                OPCODE_FUNCTION2 => {
                    let code = self.r.string().map_err(|_| truncated(self))?;
                    self.functions.push(code);
                }
                OPCODE_FUNCTION => {
                    return Err(self.error("a function in Redis 7.0 release candidates' format (FUNCTION): load the file into Redis 7.0 and save it again"));
                }
                OPCODE_MODULE_AUX => {
                    return Err(self.error("module data (MODULE_AUX): the file was written with a Redis module loaded; ninesdb has no modules"));
                }
                kind => return self.record(kind, expire_ms, idle_seconds, freq).map(Some),
            }
        }
    }

    fn record(
        &mut self,
        kind: u8,
        expire_ms: Option<u64>,
        idle_seconds: Option<u64>,
        freq: Option<u8>,
    ) -> Result<Record, RdbError> {
        let key = self.r.string().map_err(|_| RdbError {
            incomplete: true,
            ..self.error("unreadable key name")
        })?;
        if TYPE_MODULES.contains(&kind) {
            return Err(self.error(format!(
                "key {:?} holds a module value: ninesdb has no modules",
                String::from_utf8_lossy(&key)
            )));
        }
        let start = self.r.pos;
        let mut payload = Vec::new();
        if load_value(&mut self.r, kind).is_err() {
            return Err(RdbError {
                offset: start,
                incomplete: true,
                reason: format!(
                    "the value of key {:?} (RDB type {kind}, {}) is malformed or of a type ninesdb does not read",
                    String::from_utf8_lossy(&key),
                    type_name(kind)
                ),
            });
        }
        payload.push(kind);
        payload.extend_from_slice(&self.r.buf[start..self.r.pos]);
        seal(&mut payload);
        Ok(Record {
            db: self.db,
            key,
            kind,
            payload: Bytes::from(payload),
            expire_ms,
            idle_seconds,
            freq,
        })
    }
}

/// Checks a file as its bytes go by, in any pieces: the header, then (version 5 and later)
/// the EOF opcode and the CRC-64 of everything before the last 8 bytes. Memory: the header
/// and the last 8 bytes.
#[derive(Default)]
pub struct FileCheck {
    header: Vec<u8>,
    crc: u64,
    /// The last (at most) 8 bytes seen, not yet in `crc`.
    tail: Vec<u8>,
    last_body: Option<u8>,
    len: usize,
}

impl FileCheck {
    pub fn new() -> FileCheck {
        FileCheck::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let need = 9usize.saturating_sub(self.header.len()).min(bytes.len());
        self.header.extend_from_slice(&bytes[..need]);
        self.len += bytes.len();
        if bytes.len() >= 8 {
            let (body, tail) = bytes.split_at(bytes.len() - 8);
            let held = std::mem::take(&mut self.tail);
            self.body(&held);
            self.body(body);
            self.tail = tail.to_vec();
        } else {
            self.tail.extend_from_slice(bytes);
            let excess = self.tail.len().saturating_sub(8);
            let moved: Vec<u8> = self.tail.drain(..excess).collect();
            self.body(&moved);
        }
    }

    fn body(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.last_body = Some(last);
        }
        self.crc = crc64_update(self.crc, bytes);
    }

    /// The file's RDB version, once all of it went through `update`.
    pub fn finish(self) -> Result<u16, RdbError> {
        let at = |offset, reason: String| RdbError {
            offset,
            reason,
            incomplete: false,
        };
        let h = &self.header;
        if h.len() < 9 || &h[..5] != b"REDIS" {
            return Err(at(0, "not an RDB file (no REDIS header)".into()));
        }
        let version = std::str::from_utf8(&h[5..9])
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| at(5, "unreadable RDB version".into()))?;
        if !(1..=READ_VERSION_MAX).contains(&version) {
            return Err(at(
                5,
                format!("RDB version {version} is not supported (1 to {READ_VERSION_MAX} are)"),
            ));
        }
        if version < 5 {
            return Ok(version);
        }
        // EOF, then 8 bytes of CRC-64; a CRC of 0 means the writer did not compute one.
        let body = self.len.saturating_sub(8);
        if self.len < 9 + 8 || self.last_body != Some(OPCODE_EOF) {
            return Err(at(
                body,
                "no EOF marker before the checksum: the file is truncated".into(),
            ));
        }
        let stored = u64::from_le_bytes(self.tail[..].try_into().unwrap_or([0; 8]));
        if stored != 0 && stored != self.crc {
            return Err(at(
                body,
                format!(
                    "checksum mismatch: the file says {stored:016x}, its bytes give {:016x}",
                    self.crc
                ),
            ));
        }
        Ok(version)
    }
}

impl Iterator for RdbReader<'_> {
    type Item = Result<Record, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Writes an RDB file of version 10, piece by piece: each call returns the bytes to append
/// (the caller does the I/O), and the writer keeps the running checksum.
pub struct RdbWriter {
    crc: u64,
}

impl Default for RdbWriter {
    fn default() -> Self {
        RdbWriter::new()
    }
}

impl RdbWriter {
    pub fn new() -> RdbWriter {
        RdbWriter { crc: 0 }
    }

    fn out(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        self.crc = crc64_update(self.crc, &bytes);
        bytes
    }

    /// The header, AUX fields (`aux`: name, value), and SELECTDB 0.
    pub fn header(&mut self, aux: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("REDIS{RDB_VERSION:04}").into_bytes();
        for (name, value) in aux {
            out.push(OPCODE_AUX);
            save_string(&mut out, name.as_bytes());
            save_string(&mut out, value.as_bytes());
        }
        out.push(OPCODE_SELECTDB);
        out.push(0);
        self.out(out)
    }

    /// One key from its DUMP payload (checked: a version this writer's file may hold and a
    /// sound CRC), with its absolute expiry in Unix milliseconds.
    pub fn record(
        &mut self,
        key: &[u8],
        payload: &[u8],
        expire_ms: Option<u64>,
    ) -> Result<Vec<u8>, String> {
        if !sealed(payload) {
            return Err("DUMP payload version or checksum are wrong".into());
        }
        let value = &payload[..payload.len() - 10];
        if value.is_empty() {
            return Err("an empty DUMP payload".into());
        }
        let mut out = Vec::with_capacity(payload.len() + key.len() + 16);
        if let Some(ms) = expire_ms {
            out.push(OPCODE_EXPIRETIME_MS);
            out.extend_from_slice(&ms.to_le_bytes());
        }
        out.push(value[0]);
        save_string(&mut out, key);
        out.extend_from_slice(&value[1..]);
        Ok(self.out(out))
    }

    /// One function library's code (FUNCTION2).
    pub fn function(&mut self, code: &[u8]) -> Vec<u8> {
        let mut out = vec![OPCODE_FUNCTION2];
        save_string(&mut out, code);
        self.out(out)
    }

    /// EOF and the checksum; the file is complete after these bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.out(vec![OPCODE_EOF]);
        out.extend_from_slice(&self.crc.to_le_bytes());
        out
    }
}
