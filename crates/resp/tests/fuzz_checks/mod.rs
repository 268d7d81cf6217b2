// The request parser's fuzz properties and input generators, shared by the seeded test
// (tests/fuzz_parser.rs) and the cargo-fuzz target (fuzz/fuzz_targets/resp_parser.rs), which
// includes this file by path. No allocator here: each caller bounds memory its own way.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use resp::{encode, encode_command, Limits, Parser, Protocol, ProtocolError, Value};

#[path = "../../../../fuzz/seeded.rs"]
mod seeded;
// The cargo-fuzz targets take only `Rng` of these.
#[allow(unused_imports)]
pub use seeded::{base_seed, input_count, Rng};

impl Rng {
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Random bytes, 0..max of them.
    pub fn bytes_below(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max) as usize;
        self.bytes(len)
    }
}

/// Everything a parser made of an input: its commands, the error it stopped at, whether it
/// holds part of a command, and how many bytes of the input it did not consume.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub commands: Vec<Vec<Bytes>>,
    pub error: Option<ProtocolError>,
    pub in_command: bool,
    pub leftover: usize,
}

/// One parse call; the seeded test wraps it to count what the call allocates.
pub type ParseCall<'a> =
    &'a mut dyn FnMut(&mut Parser, &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError>;

/// Feeds `input` to a fresh parser as a server does: append what arrived (the chunks end at
/// `cuts`, ascending), then take commands out until the parser needs more bytes.
pub fn feed(input: &[u8], limits: Limits, cuts: &[usize], call: ParseCall<'_>) -> Outcome {
    let mut parser = Parser::new(limits);
    let mut buffer = BytesMut::new();
    let mut commands = Vec::new();
    let mut from = 0;
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .chain(std::iter::once(input.len()));
    for end in ends {
        if end <= from {
            continue;
        }
        buffer.extend_from_slice(&input[from..end]);
        from = end;
        loop {
            match call(&mut parser, &mut buffer) {
                Ok(Some(command)) => {
                    assert!(!command.is_empty(), "the parser returned an empty command");
                    commands.push(command);
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        commands,
                        error: Some(error),
                        in_command: parser.in_command(),
                        // Bytes not yet fed count too: an error ends the connection there.
                        leftover: buffer.len() + (input.len() - from),
                    };
                }
            }
        }
    }
    Outcome {
        commands,
        error: None,
        in_command: parser.in_command(),
        leftover: buffer.len(),
    }
}

/// A plain parse call.
pub fn parse_call(
) -> impl FnMut(&mut Parser, &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    |parser: &mut Parser, buffer: &mut BytesMut| parser.parse(buffer)
}

/// Random chunk boundaries: the arrival pattern of a TCP stream.
pub fn random_cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = match rng.below(3) {
        // Small reads everywhere.
        0 => {
            let mut at = 0;
            let mut cuts = Vec::new();
            while at < len {
                at += 1 + rng.below(8) as usize;
                cuts.push(at);
            }
            cuts
        }
        // A few cuts anywhere.
        _ => (0..rng.below(6))
            .map(|_| rng.below(len as u64 + 1) as usize)
            .collect(),
    };
    cuts.sort_unstable();
    cuts
}

/// Chunk boundaries taken from fuzzer bytes: each byte is the next chunk's length (0 = 1).
pub fn cuts_from(bytes: &[u8], len: usize) -> Vec<usize> {
    let mut at = 0;
    let mut cuts = Vec::new();
    for &b in bytes {
        at += usize::from(b).max(1);
        if at >= len {
            break;
        }
        cuts.push(at);
    }
    cuts
}

/// The property: with limits the input cannot reach (the only split-dependent errors are the
/// limits on bytes waiting in the buffer), the parser's outcome is the same however the input
/// arrives: all at once, in the given chunks, and byte by byte (for short inputs).
pub fn check_split_invariance(input: &[u8], cuts: &[usize]) -> Outcome {
    let limits = Limits::default();
    assert!(
        (input.len() as u64) < limits.inline_len_max,
        "the property needs inputs below the inline limit"
    );
    let whole = feed(input, limits, &[], &mut parse_call());
    let chunked = feed(input, limits, cuts, &mut parse_call());
    assert_eq!(
        whole, chunked,
        "outcome depends on the split: input {input:?} cuts {cuts:?}"
    );
    if input.len() <= 512 {
        let every: Vec<usize> = (1..input.len()).collect();
        let bytewise = feed(input, limits, &every, &mut parse_call());
        assert_eq!(whole, bytewise, "byte-by-byte differs: input {input:?}");
    }
    whole
}

/// The property: whatever commands the parser took out of any input, the encoder writes them
/// back as bytes that parse to the same commands, with nothing left over.
pub fn check_reencode(commands: &[Vec<Bytes>], cuts: &[usize]) {
    let mut wire = BytesMut::new();
    for command in commands {
        encode_command(command, &mut wire);
    }
    let again = feed(&wire, Limits::default(), cuts, &mut parse_call());
    assert_eq!(again.error, None, "re-encoded commands fail: {commands:?}");
    assert_eq!(again.commands, commands, "re-encoded commands differ");
    assert_eq!(again.leftover, 0);
    assert!(!again.in_command);
}

/// Protocol fragments the mutator splices in: the liars (declared lengths far beyond what
/// follows, or beyond every limit), the edge values, and the separators.
pub const TOKENS: &[&[u8]] = &[
    b"$9999999999\r\n",
    b"$536870912\r\n",
    b"$536870913\r\n",
    b"$2147483648\r\n",
    b"$-1\r\n",
    b"$0\r\n\r\n",
    b"$00\r\n",
    b"$+1\r\n",
    b"*2147483648\r\n",
    b"*1048576\r\n",
    b"*1048577\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"*9223372036854775807\r\n",
    b"*-9223372036854775808\r\n",
    b"$18446744073709551616\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"\"",
    b"'",
    b"\\x4",
    b"\\x41",
    b"\0",
    b" ",
    b"%1\r\n",
    b"~2\r\n",
    b"_\r\n",
    b",inf\r\n",
];

/// A random client command (1..6 arguments, binary, sometimes long).
pub fn random_command(rng: &mut Rng) -> Vec<Bytes> {
    let argc = 1 + rng.below(6) as usize;
    (0..argc)
        .map(|_| {
            let len = match rng.below(10) {
                0 => 0,
                1 => rng.below(3000) as usize,
                _ => rng.below(12) as usize,
            };
            Bytes::from(rng.bytes(len))
        })
        .collect()
}

/// Writes `command` as a client may: multibulk, the reply encoder's RESP2/RESP3 array of
/// bulks, or an inline line quoting every byte as `\xHH`.
pub fn write_command(rng: &mut Rng, command: &[Bytes], out: &mut Vec<u8>) {
    let mut wire = BytesMut::new();
    match rng.below(4) {
        0 => encode_command(command, &mut wire),
        1 | 2 => {
            let value = Value::Array(command.iter().cloned().map(Value::Bulk).collect());
            let protocol = if rng.chance(2) {
                Protocol::Resp2
            } else {
                Protocol::Resp3
            };
            encode(&value, protocol, &mut wire);
        }
        _ => {
            for arg in command {
                wire.extend_from_slice(b" \"");
                for &b in arg.iter() {
                    wire.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
                wire.extend_from_slice(b"\"");
            }
            wire.extend_from_slice(if rng.chance(2) { b"\r\n" } else { b"\n" });
        }
    }
    out.extend_from_slice(&wire);
}

/// A random reply tree (RESP3 types, nested up to `depth`).
pub fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.chance(2);
    let kind = if leaf { rng.below(9) } else { 9 + rng.below(3) };
    let short = |rng: &mut Rng| Bytes::from(rng.bytes_below(10));
    let text = |rng: &mut Rng| String::from_utf8_lossy(&rng.bytes_below(8)).into();
    match kind {
        0 => Value::Simple(text(rng)),
        1 => Value::Error(text(rng)),
        2 => Value::Integer(rng.next() as i64),
        3 => Value::Bulk(short(rng)),
        4 => Value::Null,
        5 => Value::NullArray,
        6 => Value::Double(f64::from_bits(rng.next())),
        7 => Value::Boolean(rng.chance(2)),
        8 => Value::Verbatim("txt".to_owned(), short(rng)),
        9 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        10 => Value::Map(
            (0..rng.below(3))
                .map(|_| (random_value(rng, depth - 1), random_value(rng, depth - 1)))
                .collect(),
        ),
        _ => Value::Set(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
    }
}

/// Damages `input` in place: bit flips, cuts, spliced tokens, repeats, deletions, random runs.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        let at = rng.below(len as u64 + 1) as usize;
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len as u64) as usize;
                input[i] ^= 1 << rng.below(8);
            }
            1 => input.truncate(at),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                input.splice(at..at, token.iter().copied());
            }
            3 if at < len => {
                let end = (at + 1 + rng.below(32) as usize).min(len);
                let copy = input[at..end].to_vec();
                input.splice(at..at, copy);
            }
            4 if at < len => {
                let end = (at + 1 + rng.below(16) as usize).min(len);
                input.drain(at..end);
            }
            5 => {
                let mut run = rng.bytes_below(8);
                run.push(rng.next() as u8);
                input.splice(at..at, run);
            }
            _ => {
                // A digit changed inside a length: off by a little, or by orders of magnitude.
                if let Some(i) = (at..len).find(|&i| input[i].is_ascii_digit()) {
                    input[i] = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
}

/// Bytes biased toward the protocol's own alphabet.
pub fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"*$\r\n-+:0123456789 \"'\\xaZ\0%~_,#=";
    (0..len)
        .map(|_| {
            if rng.chance(4) {
                rng.next() as u8
            } else {
                ALPHABET[rng.below(ALPHABET.len() as u64) as usize]
            }
        })
        .collect()
}

/// `*1\r\n` repeated `depth` times, then a bulk: nesting the request parser must refuse
/// without recursion.
pub fn nested(depth: usize) -> Vec<u8> {
    let mut out = b"*1\r\n".repeat(depth);
    out.extend_from_slice(b"$1\r\na\r\n");
    out
}

/// The longest generated input: below the inline limit, where the split property holds.
pub const GENERATED_LEN_MAX: usize = 60_000;

/// One generated input of the seeded test.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = generate_unbounded(rng);
    out.truncate(GENERATED_LEN_MAX);
    out
}

fn generate_unbounded(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => {
            let len = rng.below(200) as usize;
            random_bytes(rng, len)
        }
        1 => {
            let mut out = Vec::new();
            let value = random_value(rng, 5);
            let protocol = if rng.chance(2) {
                Protocol::Resp2
            } else {
                Protocol::Resp3
            };
            let mut wire = BytesMut::new();
            encode(&value, protocol, &mut wire);
            out.extend_from_slice(&wire);
            if rng.chance(2) {
                mutate(rng, &mut out);
            }
            out
        }
        2 => {
            let mut out = nested(1 + rng.below(64) as usize);
            if rng.chance(2) {
                mutate(rng, &mut out);
            }
            out
        }
        _ => {
            let mut out = Vec::new();
            for _ in 0..1 + rng.below(5) {
                let command = random_command(rng);
                write_command(rng, &command, &mut out);
            }
            mutate(rng, &mut out);
            out
        }
    }
}
