//! Parses 1M pipelined `SET key:NNNNNNN value` multibulk commands with resp's Parser and with
//! the redis-protocol crate's RESP2 decoder (`decode_bytes_mut`), both producing the argument
//! vector (`Vec<Bytes>`), from one buffer and from 16 KiB reads. Prints commands/s, best of 5.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::{decode::decode_bytes_mut, types::BytesFrame};

const N: usize = 1_000_000;
const READ: usize = 16 * 1024;

fn input() -> Vec<u8> {
    let mut out = BytesMut::new();
    for i in 0..N {
        let key = format!("key:{i:07}");
        resp::encode_command(&[b"SET".as_slice(), key.as_bytes(), b"value"], &mut out);
    }
    out.to_vec()
}

/// Feeds `wire` in `chunk`-byte reads and parses every command out with `next`.
fn run(
    wire: &[u8],
    chunk: usize,
    mut next: impl FnMut(&mut BytesMut) -> Option<Vec<Bytes>>,
) -> (usize, f64) {
    let start = Instant::now();
    let mut buf = BytesMut::with_capacity(chunk.min(wire.len()) * 2);
    let mut n = 0;
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(args) = next(&mut buf) {
            std::hint::black_box(&args);
            n += 1;
        }
    }
    (n, start.elapsed().as_secs_f64())
}

fn ours(wire: &[u8], chunk: usize) -> (usize, f64) {
    let mut p = resp::Parser::new(resp::Limits::default());
    run(wire, chunk, |buf| p.parse(buf).expect("valid input"))
}

fn theirs(wire: &[u8], chunk: usize) -> (usize, f64) {
    run(wire, chunk, |buf| {
        match decode_bytes_mut(buf).expect("valid input") {
            None => None,
            Some((BytesFrame::Array(frames), _, _)) => Some(
                frames
                    .into_iter()
                    .map(|f| match f {
                        BytesFrame::BulkString(b) => b,
                        _ => Bytes::new(),
                    })
                    .collect(),
            ),
            Some(_) => Some(Vec::new()),
        }
    })
}

fn best(f: impl Fn() -> (usize, f64)) -> f64 {
    (0..5)
        .map(|_| {
            let (n, secs) = f();
            assert_eq!(n, N);
            n as f64 / secs
        })
        .fold(0.0, f64::max)
}

fn main() {
    let wire = input();
    println!("{} commands, {} bytes", N, wire.len());
    for (name, chunk) in [("one buffer", wire.len()), ("16 KiB reads", READ)] {
        let a = best(|| ours(&wire, chunk));
        let b = best(|| theirs(&wire, chunk));
        println!(
            "{name:>13}: resp {:>6.2} M cmd/s   redis-protocol {:>6.2} M cmd/s   ratio {:.2}x",
            a / 1e6,
            b / 1e6,
            a / b
        );
    }
}
