// The peer frame decoder's fuzz properties and frame generators, shared by the seeded test
// (tests/fuzz_wire.rs) and the cargo-fuzz target (fuzz/fuzz_targets/peer_frame.rs), which
// includes this file by path. No allocator here: each caller bounds memory its own way.
#![allow(dead_code)]

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use raft::{
    Entry, Membership, MembershipChange, Message, MessageBody, Payload, SnapshotMeta, REPLICAS_MAX,
};
use server::cluster::GroupReport;
use server::wire::{decode, encode, Frame};

/// Bytes before a frame's payload: length (u32 LE), then crc32c of the payload (u32 LE).
pub const HEADER: usize = 8;

#[path = "../../../../fuzz/seeded.rs"]
mod seeded;
// The cargo-fuzz targets take only `Rng` of these.
#[allow(unused_imports)]
pub use seeded::{base_seed, input_count, Rng};

impl Rng {
    /// Random bytes, 0..max of them.
    pub fn bytes_below(&mut self, max: u64) -> Bytes {
        let len = self.below(max);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A number that is small, or any u64 (edge values included).
    pub fn word(&mut self) -> u64 {
        match self.below(4) {
            0 => self.next(),
            1 => [0, 1, u64::MAX, u64::MAX / 4, u64::from(u32::MAX)][self.below(5) as usize],
            _ => self.below(100),
        }
    }
}

fn ids(rng: &mut Rng, max: u64) -> BTreeSet<u64> {
    (0..rng.below(max + 1)).map(|_| rng.word()).collect()
}

fn membership(rng: &mut Rng) -> Membership {
    Membership {
        voters: ids(rng, 5),
        voters_outgoing: ids(rng, 3),
        learners: ids(rng, 2),
    }
}

/// Consecutive entries of every payload kind.
pub fn entries(rng: &mut Rng) -> Vec<Entry> {
    let first = rng.word().min(u64::MAX - 64);
    let term = rng.word();
    (0..rng.below(6))
        .map(|i| Entry {
            term,
            index: first + i,
            payload: match rng.below(4) {
                0 => Payload::Empty,
                1 => Payload::Membership(MembershipChange::LeaveJoint),
                2 => Payload::Membership(MembershipChange::EnterJoint {
                    voters: ids(rng, 5),
                    learners: ids(rng, 2),
                    outgoing: ids(rng, 5),
                }),
                _ => Payload::Command(rng.bytes_below(40)),
            },
        })
        .collect()
}

fn message_body(rng: &mut Rng) -> MessageBody {
    let flag = |rng: &mut Rng| rng.chance(2);
    match rng.below(11) {
        0 => MessageBody::PreVote {
            last_index: rng.word(),
            last_term: rng.word(),
        },
        1 => MessageBody::PreVoteResponse { reject: flag(rng) },
        2 => MessageBody::Vote {
            last_index: rng.word(),
            last_term: rng.word(),
            transfer: flag(rng),
        },
        3 => MessageBody::VoteResponse { reject: flag(rng) },
        4 => MessageBody::Append {
            prev_index: rng.word(),
            prev_term: rng.word(),
            entries: entries(rng),
            commit: rng.word(),
        },
        5 => MessageBody::AppendResponse {
            index: rng.word(),
            reject: flag(rng),
            hint_index: rng.word(),
            hint_term: rng.word(),
        },
        6 => MessageBody::Heartbeat {
            commit: rng.word(),
            read_round: rng.word(),
        },
        7 => MessageBody::HeartbeatResponse {
            read_round: rng.word(),
        },
        8 => MessageBody::SnapshotChunk {
            meta: SnapshotMeta {
                index: rng.word(),
                term: rng.word(),
                membership: membership(rng),
                size: rng.word(),
                checksum: rng.next() as u32,
            },
            offset: rng.word(),
            data: rng.bytes_below(200),
        },
        9 => MessageBody::SnapshotAck {
            index: rng.word(),
            received: rng.word(),
        },
        _ => MessageBody::TimeoutNow,
    }
}

fn report(rng: &mut Rng) -> GroupReport {
    // The wire carries sets: sorted and unique, as the sender builds them.
    let sorted = |rng: &mut Rng, max| ids(rng, max).into_iter().collect();
    GroupReport {
        group: rng.word(),
        term: rng.word(),
        leader: rng.word(),
        voters: sorted(rng, 5),
        learners: sorted(rng, 2),
        commit: rng.word(),
    }
}

/// A random frame of any kind, each field as a real sender could fill it.
pub fn random_frame(rng: &mut Rng) -> Frame {
    match rng.below(9) {
        0 => Frame::Hello {
            from: rng.word(),
            version: rng.word(),
            cluster: format!("{:016x}", rng.word()),
            tls_port: rng.word() as u16,
        },
        1 | 2 => Frame::Raft {
            group: rng.word(),
            message: Message {
                from: rng.word(),
                to: rng.word(),
                term: rng.word(),
                body: message_body(rng),
            },
        },
        3 => Frame::Report((0..rng.below(4)).map(|_| report(rng)).collect()),
        4 => Frame::Health {
            from: rng.word(),
            fsync_us: rng.word(),
            lag_us: rng.word(),
            loss_permille: rng.below(1001),
            sick: rng.chance(2),
        },
        5 => Frame::Members {
            term: rng.word(),
            index: rng.word(),
            members: String::from_utf8_lossy(&rng.bytes_below(60)).into_owned(),
        },
        6 => Frame::Forward {
            id: rng.word(),
            resp3: rng.chance(2),
            args: (0..rng.below(5)).map(|_| rng.bytes_below(20)).collect(),
        },
        7 => Frame::ForwardReply {
            id: rng.word(),
            reply: rng.bytes_below(50),
        },
        _ => Frame::ForwardCancel { id: rng.word() },
    }
}

/// What decoding a byte stream gave: each frame, then the error it stopped at (if any), and
/// the bytes left undecoded.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub error: Option<String>,
    pub leftover: usize,
}

/// One decode call; the seeded test wraps it to count what the call allocates.
pub type DecodeCall<'a> = &'a mut dyn FnMut(&mut BytesMut) -> Result<Option<Frame>, String>;

/// Decodes `input` as a peer connection does: append what arrived (chunks end at `cuts`,
/// ascending), take frames out until one is incomplete; stop at the first error.
pub fn feed(input: &[u8], cuts: &[usize], call: DecodeCall<'_>) -> Outcome {
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
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
            let before = buffer.len();
            match call(&mut buffer) {
                Ok(Some(frame)) => {
                    assert!(buffer.len() < before, "a frame decoded from no bytes");
                    frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buffer.len(), before, "an incomplete frame consumed bytes");
                    break;
                }
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                        // An error closes the connection: what was not yet fed counts too.
                        leftover: buffer.len() + (input.len() - from),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        leftover: buffer.len(),
    }
}

/// A plain decode call.
pub fn decode_call() -> impl FnMut(&mut BytesMut) -> Result<Option<Frame>, String> {
    |buffer: &mut BytesMut| decode(buffer)
}

/// Random chunk boundaries: the arrival pattern of a TCP stream.
pub fn random_cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = if rng.chance(3) {
        let mut at = 0;
        let mut cuts = Vec::new();
        while at < len {
            at += 1 + rng.below(12) as usize;
            cuts.push(at);
        }
        cuts
    } else {
        (0..rng.below(6))
            .map(|_| rng.below(len as u64 + 1) as usize)
            .collect()
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

/// The properties of any byte stream: decoding it whole and in chunks gives the same frames
/// and the same error; each decoded frame is canonical (encoding it gives bytes that decode to
/// it again); and a frame that decodes respects the limits a real peer is held to.
pub fn check_stream(input: &[u8], cuts: &[usize]) -> Outcome {
    let whole = feed(input, &[], &mut decode_call());
    let chunked = feed(input, cuts, &mut decode_call());
    assert_eq!(
        whole, chunked,
        "outcome depends on the split: input {input:?} cuts {cuts:?}"
    );
    for frame in &whole.frames {
        check_frame_limits(frame);
        let mut again = BytesMut::new();
        encode(frame, &mut again);
        assert_eq!(decode(&mut again), Ok(Some(frame.clone())), "not canonical");
        assert!(again.is_empty());
    }
    whole
}

/// What decode promises about a frame it accepts.
fn check_frame_limits(frame: &Frame) {
    let replicas = |n: usize| assert!(n <= REPLICAS_MAX, "{n} replicas decoded");
    match frame {
        Frame::Raft { message, .. } => match &message.body {
            MessageBody::SnapshotChunk { meta, .. } => {
                replicas(meta.membership.voters.len());
                replicas(meta.membership.voters_outgoing.len());
                replicas(meta.membership.learners.len());
            }
            MessageBody::Append { entries, .. } => {
                for pair in entries.windows(2) {
                    assert_eq!(pair[0].index.checked_add(1), Some(pair[1].index));
                }
            }
            _ => {}
        },
        Frame::Report(reports) => {
            assert!(reports.len() as u64 <= server::cluster::GROUPS_MAX);
            for report in reports {
                replicas(report.voters.len());
                replicas(report.learners.len());
            }
        }
        Frame::Health { loss_permille, .. } => assert!(*loss_permille <= 1000),
        _ => {}
    }
}

/// Writes a frame with a correct header around `payload`: what a peer that encodes wrongly
/// (or lies) sends, past the checksum.
pub fn seal(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Lying u64 fields spliced in: counts and lengths far beyond the frame, and edge values.
pub const LIARS: &[u64] = &[
    u64::MAX,
    u64::MAX / 2,
    1 << 40,
    1 << 32,
    u32::MAX as u64,
    64 << 20,
    1 << 20,
    1025,
    65,
    64,
    0,
];

/// Damages a payload: bit flips, cuts, a lying u64 written over 8 bytes, inserted or deleted
/// runs, and a changed tag byte.
pub fn mutate(rng: &mut Rng, payload: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let len = payload.len();
        let at = rng.below(len as u64 + 1) as usize;
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len as u64) as usize;
                payload[i] ^= 1 << rng.below(8);
            }
            1 => payload.truncate(at),
            2 => {
                let liar = LIARS[rng.below(LIARS.len() as u64) as usize].to_le_bytes();
                let end = (at + 8).min(len);
                payload.splice(at..end, liar);
            }
            3 => {
                let run: Vec<u8> = rng.bytes_below(24).to_vec();
                payload.splice(at..at, run);
            }
            4 if at < len => {
                let end = (at + 1 + rng.below(16) as usize).min(len);
                payload.drain(at..end);
            }
            _ if len > 0 => payload[0] = rng.below(12) as u8,
            _ => {}
        }
    }
}

/// The payload of an encoded frame (without its header).
pub fn payload_of(frame: &Frame) -> Vec<u8> {
    let mut wire = BytesMut::new();
    encode(frame, &mut wire);
    wire[HEADER..].to_vec()
}

/// One generated stream: valid frames, re-sealed mutated ones (past the checksum, into the
/// decoder proper), raw damage (caught by the checksum or the length), and random bytes.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 | 1 => {
                let mut wire = BytesMut::new();
                encode(&random_frame(rng), &mut wire);
                out.extend_from_slice(&wire);
            }
            2..=5 => {
                let mut payload = payload_of(&random_frame(rng));
                mutate(rng, &mut payload);
                seal(&payload, &mut out);
            }
            6 => {
                let mut wire = BytesMut::new();
                encode(&random_frame(rng), &mut wire);
                let mut wire = wire.to_vec();
                mutate(rng, &mut wire);
                out.extend_from_slice(&wire);
            }
            _ => out.extend_from_slice(&rng.bytes_below(40)),
        }
    }
    out
}
