//! The scripting section of a keyspace snapshot: after the keys, tag `S`, then the script
//! cache (count, then SHA1 and body of each, in SHA1 order) and the function libraries (count,
//! then name, code, and each function's name, description and flags, in name order).
//! Decoding checks the order and recomputes each SHA1, so a damaged section is refused.

use std::collections::BTreeMap;

use super::functions::{FunctionInfo, Library};
use super::Scripts;
use crate::snapshot::{Reader, Sink};

/// The byte that opens the section (never a key's first varint after the last key: the
/// key count says where the keys end).
pub(crate) const SECTION_TAG: u8 = b'S';

pub(crate) fn write(scripts: &Scripts, out: &mut impl Sink) {
    out.put(&[SECTION_TAG]);
    out.varint(scripts.cache.len() as u64);
    for (sha, body) in &scripts.cache {
        out.bytes(sha.as_bytes());
        out.bytes(body);
    }
    out.varint(scripts.libraries.len() as u64);
    for (name, library) in &scripts.libraries {
        out.bytes(name.as_bytes());
        out.bytes(&library.code);
        out.varint(library.functions.len() as u64);
        for (function, info) in &library.functions {
            out.bytes(function.as_bytes());
            match &info.description {
                Some(d) => {
                    out.put(&[1]);
                    out.bytes(d);
                }
                None => out.put(&[0]),
            }
            out.varint(info.flags.len() as u64);
            for flag in &info.flags {
                out.bytes(flag.as_bytes());
            }
        }
    }
}

fn text(r: &mut Reader<'_>) -> Result<String, String> {
    String::from_utf8(r.bytes()?.to_vec()).map_err(|_| "script name is not UTF-8".to_owned())
}

pub(crate) fn read(r: &mut Reader<'_>, scripts: &mut Scripts) -> Result<(), String> {
    let n = r.count(2)?;
    let mut cache = BTreeMap::new();
    for _ in 0..n {
        let sha = text(r)?;
        let body = r.bytes()?;
        if super::sha1_hex(&body) != sha {
            return Err("script body does not match its SHA1".into());
        }
        if cache
            .last_key_value()
            .is_some_and(|(last, _): (&String, _)| *last >= sha)
        {
            return Err("scripts out of order".into());
        }
        cache.insert(sha, body);
    }
    let n = r.count(3)?;
    let mut libraries = BTreeMap::new();
    for _ in 0..n {
        let name = text(r)?;
        if libraries
            .last_key_value()
            .is_some_and(|(last, _): (&String, _)| *last >= name)
        {
            return Err("libraries out of order".into());
        }
        let code = r.bytes()?;
        let m = r.count(3)?;
        let mut functions = BTreeMap::new();
        for _ in 0..m {
            let function = text(r)?;
            let description = match r.byte()? {
                0 => None,
                1 => Some(r.bytes()?),
                _ => return Err("bad function description tag".into()),
            };
            let k = r.count(1)?;
            let mut flags = Vec::with_capacity(k);
            for _ in 0..k {
                flags.push(text(r)?);
            }
            functions.insert(function, FunctionInfo { description, flags });
        }
        libraries.insert(name, Library { code, functions });
    }
    scripts.cache = cache;
    scripts.libraries = libraries;
    Ok(())
}
