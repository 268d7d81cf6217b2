//! Randomized checks: arbitrary bytes never panic the parser; valid commands round-trip.

use bytes::{Bytes, BytesMut};
use resp::{encode, encode_command, Limits, Parser, Protocol, Value};

/// xorshift64*: deterministic, seeded.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Feeds `input` in random chunks; returns the commands and whether it ended in an error.
fn feed(rng: &mut Rng, limits: Limits, input: &[u8]) -> (Vec<Vec<Bytes>>, bool) {
    let mut p = Parser::new(limits);
    let mut buf = BytesMut::new();
    let mut cmds = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let n = (1 + rng.below(16) as usize).min(input.len() - at);
        buf.extend_from_slice(&input[at..at + n]);
        at += n;
        loop {
            match p.parse(&mut buf) {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => break,
                Err(_) => return (cmds, true),
            }
        }
        assert!(buf.capacity() <= resp::READ_AHEAD_MAX + 4096 + input.len());
    }
    (cmds, false)
}

// Goal: no input panics the parser; method: 20k seeded random byte strings biased toward protocol bytes, fed in random chunks, with small limits.
#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let alphabet: &[u8] = b"*$\r\n-+0123456789 \"'\\xaZ\0";
    let limits = Limits {
        bulk_len_max: 64,
        multibulk_len_max: 16,
        query_buffer_max: 4096,
        inline_len_max: 32,
    };
    for i in 0..20_000 {
        let len = rng.below(80) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let lim = if i % 2 == 0 {
            limits
        } else {
            Limits::default()
        };
        let _ = feed(&mut rng, lim, &input);
    }
}

fn random_arg(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => rng.below(5000) as usize,
        _ => rng.below(12) as usize,
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

// Goal: valid commands survive encode-then-parse; method: random binary commands as multibulk, and printable ones as quoted inline lines, pipelined and chunked.
#[test]
fn random_commands_round_trip() {
    let mut rng = Rng(0xC0FF_EE00_0000_0042);
    for _ in 0..500 {
        let mut cmds: Vec<Vec<Bytes>> = Vec::new();
        let mut wire = BytesMut::new();
        for _ in 0..1 + rng.below(8) {
            let argc = 1 + rng.below(6) as usize;
            let args: Vec<Bytes> = (0..argc)
                .map(|_| Bytes::from(random_arg(&mut rng)))
                .collect();
            if rng.below(3) == 0 {
                // Inline form: every argument quoted with \xHH escapes.
                let mut line = Vec::new();
                for a in &args {
                    line.extend_from_slice(b" \"");
                    for &b in a.iter() {
                        line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                    }
                    line.push(b'"');
                }
                if line.len() > 64 * 1024 {
                    continue;
                }
                line.extend_from_slice(if rng.below(2) == 0 { b"\r\n" } else { b"\n" });
                wire.extend_from_slice(&line);
            } else if rng.below(2) == 0 {
                encode_command(&args, &mut wire);
            } else {
                // The same bytes through the reply encoder.
                let v = Value::Array(args.iter().cloned().map(Value::Bulk).collect());
                encode(&v, Protocol::Resp3, &mut wire);
            }
            cmds.push(args);
        }
        let (got, failed) = feed(&mut rng, Limits::default(), &wire);
        assert!(!failed);
        assert_eq!(got, cmds);
    }
}
