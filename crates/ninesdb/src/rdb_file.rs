//! An RDB file read in pieces, so that importing a file of any size takes little memory: a
//! first pass checks its header and checksum (`keyspace::rdb::FileCheck`), a second hands
//! out its records from a window that holds the record being read and grows only for a
//! record longer than itself, up to `WINDOW_BYTES_MAX`.

use std::io::Read;

use keyspace::rdb::{FileCheck, RdbReader, Record};

/// Bytes read from the file at a time.
const CHUNK_BYTES: usize = 1 << 20;
/// The longest record read: a Redis string's limit (512 MiB) and room for its framing.
/// Longer, or damaged data that never completes, is an error.
const WINDOW_BYTES_MAX: usize = (512 << 20) + (1 << 20);

/// The file's RDB version, after reading it all: its header and checksum are sound.
pub fn check(mut source: impl Read) -> Result<u16, String> {
    let mut check = FileCheck::new();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    loop {
        let n = source.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return check.finish().map_err(|e| e.to_string());
        }
        check.update(&chunk[..n]);
    }
}

/// The records of a checked file, in order.
pub struct FileRecords<R: Read> {
    source: R,
    source_done: bool,
    window: Vec<u8>,
    /// Where the next record starts in `window`.
    start: usize,
    /// The file offset of `window[0]`.
    offset: usize,
    version: u16,
    db: u64,
    done: bool,
    /// AUX fields and function libraries met so far.
    pub aux: Vec<(bytes::Bytes, bytes::Bytes)>,
    pub functions: Vec<bytes::Bytes>,
}

impl<R: Read> FileRecords<R> {
    /// `source` at the start of a file that `check` found sound, of RDB `version`.
    pub fn new(mut source: R, version: u16) -> std::io::Result<FileRecords<R>> {
        let mut header = [0u8; 9];
        source.read_exact(&mut header)?;
        Ok(FileRecords {
            source,
            source_done: false,
            window: Vec::with_capacity(CHUNK_BYTES),
            start: 0,
            offset: header.len(),
            version,
            db: 0,
            done: false,
            aux: Vec::new(),
            functions: Vec::new(),
        })
    }

    /// Drops what was read, then reads up to a chunk more.
    fn fill(&mut self) -> Result<(), String> {
        self.window.drain(..self.start);
        self.offset += self.start;
        self.start = 0;
        if self.window.len() >= WINDOW_BYTES_MAX {
            return Err(format!(
                "at byte {}: a record longer than {WINDOW_BYTES_MAX} bytes, or damaged data",
                self.offset
            ));
        }
        let read = (&mut self.source)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut self.window)
            .map_err(|e| e.to_string())?;
        self.source_done = read == 0;
        Ok(())
    }
}

impl<R: Read> Iterator for FileRecords<R> {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let mut reader = RdbReader::resume(&self.window[self.start..], self.version, self.db);
            let next = reader.next_record();
            let (used, db) = (reader.position(), reader.db());
            let (mut aux, mut functions) = (reader.aux, reader.functions);
            match next {
                Ok(record) => {
                    self.start += used;
                    self.db = db;
                    self.aux.append(&mut aux);
                    self.functions.append(&mut functions);
                    self.done = record.is_none();
                    return record.map(Ok);
                }
                Err(e) if e.incomplete && !self.source_done => {
                    if let Err(e) = self.fill() {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Err(e) => {
                    self.done = true;
                    let at = self.offset + self.start + e.offset;
                    return Some(Err(format!("at byte {at}: {}", e.reason)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::rdb::RdbWriter;

    /// A reader that hands out at most `step` bytes a call.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn file() -> Vec<u8> {
        let mut writer = RdbWriter::new();
        let mut file = writer.header(&[("redis-bits", "64")]);
        for i in 0..300u32 {
            // A string payload: type 0, the value, then the DUMP trailer.
            let value = "v".repeat((i as usize * 37) % 3000);
            let mut payload = vec![0u8];
            payload.push(0x80);
            payload.extend_from_slice(&(value.len() as u32).to_be_bytes());
            payload.extend_from_slice(value.as_bytes());
            payload.extend_from_slice(&10u16.to_le_bytes());
            let crc = keyspace::rdb::crc64(&payload);
            payload.extend_from_slice(&crc.to_le_bytes());
            let expire = (i % 3 == 0).then_some(4_000_000_000_000);
            let key = format!("key{i}");
            file.extend(
                writer
                    .record(key.as_bytes(), &payload, expire)
                    .expect("a payload"),
            );
        }
        file.extend(
            writer
                .function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
        );
        file.extend(writer.finish());
        file
    }

    // Goal: records come out the same however the file arrives. Method: the whole-file reader
    // against the windowed one fed 1, 7, 4096 and all bytes a read; a damaged copy is refused
    // by the first pass.
    #[test]
    fn pieces_read_like_the_whole_file() {
        let file = file();
        let whole: Vec<Record> = RdbReader::new(&file)
            .expect("sound")
            .collect::<Result<_, _>>()
            .expect("records");
        assert_eq!(whole.len(), 300);
        for step in [1, 7, 4096, file.len()] {
            assert_eq!(check(Trickle { bytes: &file, step }), Ok(10));
            let mut records = FileRecords::new(Trickle { bytes: &file, step }, 10).expect("header");
            let got: Vec<Record> = records.by_ref().collect::<Result<_, _>>().expect("records");
            assert_eq!(got, whole, "{step} bytes a read");
            assert_eq!(records.functions.len(), 1);
            assert_eq!(records.offset + records.start, file.len() - 8);
        }
        let mut damaged = file.clone();
        damaged[500] ^= 1;
        assert!(check(&damaged[..]).is_err_and(|e| e.contains("checksum mismatch")));
        assert!(check(&file[..file.len() - 1]).is_err());
    }
}
