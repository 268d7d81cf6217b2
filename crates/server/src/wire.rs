//! Frames between servers: `[length u32][crc32c u32][payload]`, where the payload is a Raft
//! message, or a client command forwarded to the leader, or the leader's reply to one.
//! A frame that fails its checksum or does not decode closes the connection (it is
//! re-established); nothing in it is trusted.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use raft::{Membership, Message, MessageBody, NodeId, SnapshotMeta};
use storage::codec::{get_entries, put_entries, Reader};

/// The largest frame a server accepts (a snapshot chunk plus headers fits well within).
pub const FRAME_SIZE_MAX: usize = 64 << 20;
/// The largest frame accepted before the caller's `Hello` was: a `Hello` is under 100 bytes,
/// so an unauthenticated connection can make a node buffer 4 KiB at most.
pub const HELLO_FRAME_MAX: usize = 4 << 10;
/// The peer protocol's version, sent in every `Hello`: a peer speaking another is refused.
/// 2: `Hello` carries the version, the cluster id and the TLS client port.
/// 3: `Publish` (Pub/Sub messages): a version-2 node would close the link on one, so the
/// two are refused at the `Hello` instead.
pub const PROTOCOL_VERSION: u64 = 3;
/// The longest cluster id a `Hello` may carry.
pub const CLUSTER_ID_MAX: usize = 64;
/// Bytes of a frame's header (length and checksum).
pub const HEADER: usize = 8;

/// What travels between servers.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The first frame each way on a connection: who is speaking, in which protocol version,
    /// for which cluster, and the TLS port its Redis clients use (0: none).
    Hello {
        from: NodeId,
        version: u64,
        cluster: String,
        tls_port: u16,
    },
    /// A Raft message of one group.
    Raft { group: u64, message: Message },
    /// What the sender's led groups look like (leaders, memberships), for routing and repair.
    Report(Vec<crate::cluster::GroupReport>),
    /// How fast the sender's disk and CPU are (gray-failure detection).
    Health {
        from: u64,
        fsync_us: u64,
        lag_us: u64,
        loss_permille: u64,
        sick: bool,
    },
    /// The member registry, from the meta group's leader at (term, applied index).
    Members {
        term: u64,
        index: u64,
        members: String,
    },
    /// A plain client's command, forwarded by a follower to the leader.
    Forward {
        id: u64,
        resp3: bool,
        args: Vec<Bytes>,
    },
    /// The leader's encoded reply to a forwarded command.
    ForwardReply { id: u64, reply: Bytes },
    /// The forwarded command's client stopped waiting (a blocked client hung up): the
    /// leader withdraws it if it is still waiting there.
    ForwardCancel { id: u64 },
    /// A PUBLISH (or SPUBLISH, `shard`) made on the sender, for this node's subscribers.
    Publish {
        shard: bool,
        channel: Bytes,
        message: Bytes,
    },
}

/// Appends a frame to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    let mut payload = Vec::with_capacity(64);
    match frame {
        Frame::Hello {
            from,
            version,
            cluster,
            tls_port,
        } => {
            payload.push(0);
            put_u64(&mut payload, *from);
            put_u64(&mut payload, *version);
            put_bytes(&mut payload, cluster.as_bytes());
            put_u64(&mut payload, u64::from(*tls_port));
        }
        Frame::Raft { group, message } => {
            payload.push(1);
            put_u64(&mut payload, *group);
            put_message(&mut payload, message);
        }
        Frame::Health {
            from,
            fsync_us,
            lag_us,
            loss_permille,
            sick,
        } => {
            payload.push(6);
            // Sub-tag 1 adds the report loss; 0 (without it) is still accepted.
            put_words(
                &mut payload,
                1,
                &[*from, *fsync_us, *lag_us, u64::from(*sick), *loss_permille],
            );
        }
        Frame::Members {
            term,
            index,
            members,
        } => {
            payload.push(5);
            put_u64(&mut payload, *term);
            put_u64(&mut payload, *index);
            put_bytes(&mut payload, members.as_bytes());
        }
        Frame::Report(reports) => {
            payload.push(4);
            put_u64(&mut payload, reports.len() as u64);
            for report in reports {
                put_words(
                    &mut payload,
                    0,
                    &[report.group, report.term, report.leader, report.commit],
                );
                put_ids(&mut payload, &report.voters.iter().copied().collect());
                put_ids(&mut payload, &report.learners.iter().copied().collect());
            }
        }
        Frame::Forward { id, resp3, args } => {
            payload.push(2);
            put_u64(&mut payload, *id);
            payload.push(u8::from(*resp3));
            put_u64(&mut payload, args.len() as u64);
            for arg in args {
                put_bytes(&mut payload, arg);
            }
        }
        Frame::ForwardReply { id, reply } => {
            payload.push(3);
            put_u64(&mut payload, *id);
            put_bytes(&mut payload, reply);
        }
        Frame::ForwardCancel { id } => {
            payload.push(7);
            put_u64(&mut payload, *id);
        }
        Frame::Publish {
            shard,
            channel,
            message,
        } => {
            payload.push(8);
            payload.push(u8::from(*shard));
            put_bytes(&mut payload, channel);
            put_bytes(&mut payload, message);
        }
    }
    out.put_u32_le(payload.len() as u32);
    out.put_u32_le(crc32c::crc32c(&payload));
    out.extend_from_slice(&payload);
}

/// Takes the next complete frame from the front of `buffer`; `Ok(None)` if incomplete.
pub fn decode(buffer: &mut BytesMut) -> Result<Option<Frame>, String> {
    decode_within(buffer, FRAME_SIZE_MAX)
}

/// The payload length the frame at the front of `buffer` claims, once its header is there.
pub fn claimed_length(buffer: &[u8]) -> Option<usize> {
    let header: [u8; 4] = buffer.get(..4)?.try_into().ok()?;
    (buffer.len() >= HEADER).then(|| u32::from_le_bytes(header) as usize)
}

/// Like [`decode`], refusing a frame whose payload claims more than `limit` bytes as soon
/// as its header arrives (before anything more is buffered for it).
pub fn decode_within(buffer: &mut BytesMut, limit: usize) -> Result<Option<Frame>, String> {
    let Some(length) = claimed_length(buffer) else {
        return Ok(None);
    };
    let limit = limit.min(FRAME_SIZE_MAX);
    if length > limit {
        return Err(format!(
            "frame of {length} bytes exceeds the {limit}-byte limit"
        ));
    }
    if buffer.len() < HEADER + length {
        return Ok(None);
    }
    let checksum = u32::from_le_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]);
    buffer.advance(HEADER);
    let payload = buffer.split_to(length).freeze();
    if crc32c::crc32c(&payload) != checksum {
        return Err("frame checksum mismatch".to_owned());
    }
    decode_payload(&payload).map(Some)
}

fn decode_payload(payload: &[u8]) -> Result<Frame, String> {
    let mut reader = Reader::new(payload);
    let frame = match reader.u8()? {
        0 => {
            let (from, version) = (reader.u64()?, reader.u64()?);
            let cluster = get_bytes(&mut reader)?;
            if cluster.len() > CLUSTER_ID_MAX {
                return Err(format!("a cluster id of {} bytes", cluster.len()));
            }
            let cluster = String::from_utf8(cluster.to_vec())
                .map_err(|_| "cluster id is not UTF-8".to_owned())?;
            let tls_port =
                u16::try_from(reader.u64()?).map_err(|_| "bad TLS port in hello".to_owned())?;
            Frame::Hello {
                from,
                version,
                cluster,
                tls_port,
            }
        }
        1 => Frame::Raft {
            group: reader.u64()?,
            message: get_message(&mut reader)?,
        },
        6 => {
            let version = reader.u8()?;
            if version > 1 {
                return Err("bad health tag".to_owned());
            }
            let (from, fsync_us, lag_us, sick) = (
                reader.u64()?,
                reader.u64()?,
                reader.u64()?,
                reader.u64()? != 0,
            );
            let loss_permille = if version == 1 {
                reader.u64()?.min(1000)
            } else {
                0
            };
            Frame::Health {
                from,
                fsync_us,
                lag_us,
                loss_permille,
                sick,
            }
        }
        5 => {
            let (term, index) = (reader.u64()?, reader.u64()?);
            let members = String::from_utf8(get_bytes(&mut reader)?.to_vec())
                .map_err(|_| "member list is not UTF-8".to_owned())?;
            Frame::Members {
                term,
                index,
                members,
            }
        }
        4 => {
            let count = reader.u64()?;
            if count > crate::cluster::GROUPS_MAX {
                return Err(format!("{count} groups in a report"));
            }
            let mut reports = Vec::new();
            for _ in 0..count {
                if reader.u8()? != 0 {
                    return Err("bad report tag".to_owned());
                }
                let (group, term, leader, commit) =
                    (reader.u64()?, reader.u64()?, reader.u64()?, reader.u64()?);
                let voters = get_ids(&mut reader)?.into_iter().collect();
                let learners = get_ids(&mut reader)?.into_iter().collect();
                reports.push(crate::cluster::GroupReport {
                    group,
                    term,
                    leader,
                    voters,
                    learners,
                    commit,
                });
            }
            Frame::Report(reports)
        }
        2 => {
            let id = reader.u64()?;
            let resp3 = reader.u8()? == 1;
            let count = reader.u64()?;
            if count > reader.remaining() as u64 {
                return Err("argument count beyond frame".to_owned());
            }
            let args = (0..count)
                .map(|_| get_bytes(&mut reader))
                .collect::<Result<_, _>>()?;
            Frame::Forward { id, resp3, args }
        }
        3 => Frame::ForwardReply {
            id: reader.u64()?,
            reply: get_bytes(&mut reader)?,
        },
        7 => Frame::ForwardCancel { id: reader.u64()? },
        8 => Frame::Publish {
            shard: match reader.u8()? {
                0 => false,
                1 => true,
                other => return Err(format!("bad publish kind {other}")),
            },
            channel: get_bytes(&mut reader)?,
            message: get_bytes(&mut reader)?,
        },
        other => return Err(format!("unknown frame type {other}")),
    };
    if reader.remaining() != 0 {
        return Err(format!("{} stray bytes after frame", reader.remaining()));
    }
    Ok(frame)
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn get_bytes(reader: &mut Reader<'_>) -> Result<Bytes, String> {
    let length = reader.u64()?;
    let length = usize::try_from(length).map_err(|_| "length overflow".to_owned())?;
    Ok(Bytes::copy_from_slice(reader.take(length)?))
}

fn put_ids(out: &mut Vec<u8>, ids: &std::collections::BTreeSet<NodeId>) {
    put_u64(out, ids.len() as u64);
    for &id in ids {
        put_u64(out, id);
    }
}

fn get_ids(reader: &mut Reader<'_>) -> Result<std::collections::BTreeSet<NodeId>, String> {
    let count = reader.u64()?;
    if count > raft::REPLICAS_MAX as u64 {
        return Err(format!("{count} replicas in a membership"));
    }
    (0..count).map(|_| reader.u64()).collect()
}

fn put_message(out: &mut Vec<u8>, message: &Message) {
    put_u64(out, message.from);
    put_u64(out, message.to);
    put_u64(out, message.term);
    match &message.body {
        MessageBody::PreVote {
            last_index,
            last_term,
        } => put_words(out, 0, &[*last_index, *last_term]),
        MessageBody::PreVoteResponse { reject } => put_words(out, 1, &[u64::from(*reject)]),
        MessageBody::Vote {
            last_index,
            last_term,
            transfer,
        } => put_words(out, 2, &[*last_index, *last_term, u64::from(*transfer)]),
        MessageBody::VoteResponse { reject } => put_words(out, 3, &[u64::from(*reject)]),
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            put_words(out, 4, &[*prev_index, *prev_term, *commit]);
            // Empty appends (probes, commit news) carry an empty blob.
            let mut blob = Vec::new();
            if !entries.is_empty() {
                put_entries(&mut blob, entries);
            }
            put_bytes(out, &blob);
        }
        MessageBody::AppendResponse {
            index,
            reject,
            hint_index,
            hint_term,
        } => {
            put_words(
                out,
                5,
                &[*index, u64::from(*reject), *hint_index, *hint_term],
            );
        }
        MessageBody::Heartbeat { commit, read_round } => put_words(out, 6, &[*commit, *read_round]),
        MessageBody::HeartbeatResponse { read_round } => put_words(out, 7, &[*read_round]),
        MessageBody::SnapshotChunk { meta, offset, data } => {
            put_words(
                out,
                8,
                &[
                    meta.index,
                    meta.term,
                    meta.size,
                    u64::from(meta.checksum),
                    *offset,
                ],
            );
            put_ids(out, &meta.membership.voters);
            put_ids(out, &meta.membership.voters_outgoing);
            put_ids(out, &meta.membership.learners);
            put_bytes(out, data);
        }
        MessageBody::SnapshotAck { index, received } => put_words(out, 9, &[*index, *received]),
        MessageBody::TimeoutNow => put_words(out, 10, &[]),
    }
}

fn put_words(out: &mut Vec<u8>, tag: u8, words: &[u64]) {
    out.push(tag);
    for &word in words {
        put_u64(out, word);
    }
}

fn get_message(reader: &mut Reader<'_>) -> Result<Message, String> {
    let (from, to, term) = (reader.u64()?, reader.u64()?, reader.u64()?);
    let flag = |word: u64| word != 0;
    let body = match reader.u8()? {
        0 => MessageBody::PreVote {
            last_index: reader.u64()?,
            last_term: reader.u64()?,
        },
        1 => MessageBody::PreVoteResponse {
            reject: flag(reader.u64()?),
        },
        2 => MessageBody::Vote {
            last_index: reader.u64()?,
            last_term: reader.u64()?,
            transfer: flag(reader.u64()?),
        },
        3 => MessageBody::VoteResponse {
            reject: flag(reader.u64()?),
        },
        4 => {
            let (prev_index, prev_term, commit) = (reader.u64()?, reader.u64()?, reader.u64()?);
            let blob = get_bytes(reader)?;
            let entries = if blob.is_empty() {
                Vec::new()
            } else {
                get_entries(&blob)?
            };
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            }
        }
        5 => MessageBody::AppendResponse {
            index: reader.u64()?,
            reject: flag(reader.u64()?),
            hint_index: reader.u64()?,
            hint_term: reader.u64()?,
        },
        6 => MessageBody::Heartbeat {
            commit: reader.u64()?,
            read_round: reader.u64()?,
        },
        7 => MessageBody::HeartbeatResponse {
            read_round: reader.u64()?,
        },
        8 => get_snapshot_chunk(reader)?,
        9 => MessageBody::SnapshotAck {
            index: reader.u64()?,
            received: reader.u64()?,
        },
        10 => MessageBody::TimeoutNow,
        other => return Err(format!("unknown raft message type {other}")),
    };
    Ok(Message {
        from,
        to,
        term,
        body,
    })
}

fn get_snapshot_chunk(reader: &mut Reader<'_>) -> Result<MessageBody, String> {
    let (index, term, size, checksum, offset) = (
        reader.u64()?,
        reader.u64()?,
        reader.u64()?,
        reader.u64()?,
        reader.u64()?,
    );
    let checksum = u32::try_from(checksum).map_err(|_| "bad checksum field".to_owned())?;
    let membership = Membership {
        voters: get_ids(reader)?,
        voters_outgoing: get_ids(reader)?,
        learners: get_ids(reader)?,
    };
    let data = get_bytes(reader)?;
    Ok(MessageBody::SnapshotChunk {
        meta: SnapshotMeta {
            index,
            term,
            membership,
            size,
            checksum,
        },
        offset,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::{Entry, Payload};

    fn round_trip(frame: Frame) {
        let mut buffer = BytesMut::new();
        encode(&frame, &mut buffer);
        assert_eq!(decode(&mut buffer), Ok(Some(frame)));
        assert!(buffer.is_empty());
    }

    // Goal: every frame kind survives the wire. Method: encode, decode, compare.
    #[test]
    fn frames_round_trip() {
        round_trip(Frame::Hello {
            from: 3,
            version: PROTOCOL_VERSION,
            cluster: "c0ffee".to_owned(),
            tls_port: 7443,
        });
        let entries = vec![Entry {
            term: 2,
            index: 5,
            payload: Payload::Command(Bytes::from_static(b"x")),
        }];
        let append = MessageBody::Append {
            prev_index: 4,
            prev_term: 2,
            entries,
            commit: 3,
        };
        round_trip(Frame::Raft {
            group: 3,
            message: Message {
                from: 1,
                to: 2,
                term: 2,
                body: append,
            },
        });
        round_trip(Frame::Health {
            from: 2,
            fsync_us: 1500,
            lag_us: 80,
            loss_permille: 450,
            sick: true,
        });
        round_trip(Frame::Members {
            term: 3,
            index: 9,
            members: "1 127.0.0.1:7101 127.0.0.1:7001 dc1:p:r:h\n".to_owned(),
        });
        round_trip(Frame::Report(vec![crate::cluster::GroupReport {
            group: 4,
            term: 7,
            leader: 2,
            voters: vec![1, 2, 65539],
            learners: vec![131076],
            commit: 99,
        }]));
        let meta = SnapshotMeta {
            index: 9,
            term: 2,
            membership: Membership::with_voters([1, 2, 3]),
            size: 4,
            checksum: 7,
        };
        let chunk = MessageBody::SnapshotChunk {
            meta,
            offset: 0,
            data: Bytes::from_static(b"abcd"),
        };
        round_trip(Frame::Raft {
            group: 1,
            message: Message {
                from: 1,
                to: 2,
                term: 2,
                body: chunk,
            },
        });
        round_trip(Frame::Raft {
            group: 1,
            message: Message {
                from: 1,
                to: 2,
                term: 2,
                body: MessageBody::TimeoutNow,
            },
        });
        round_trip(Frame::Forward {
            id: 7,
            resp3: true,
            args: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k")],
        });
        round_trip(Frame::ForwardReply {
            id: 7,
            reply: Bytes::from_static(b"+OK\r\n"),
        });
        round_trip(Frame::ForwardCancel { id: 7 });
        round_trip(Frame::Publish {
            shard: true,
            channel: Bytes::from_static(b"news"),
            message: Bytes::from_static(b"\0binary\r\n"),
        });
    }

    // Goal: before a Hello is accepted a connection cannot make this node buffer a big frame:
    // the claimed length is refused from the header alone. Method: a header claiming 64 MiB
    // and nothing else, decoded within the hello limit, then within the general one.
    #[test]
    fn oversized_claims_are_refused_from_the_header() {
        let mut header = BytesMut::new();
        header.put_u32_le(FRAME_SIZE_MAX as u32);
        header.put_u32_le(0);
        let error = decode_within(&mut header.clone(), HELLO_FRAME_MAX).expect_err("too big");
        assert!(error.contains("4096-byte limit"), "{error}");
        assert_eq!(decode(&mut header), Ok(None), "a member may send it");
        let mut over = BytesMut::new();
        over.put_u32_le(FRAME_SIZE_MAX as u32 + 1);
        over.put_u32_le(0);
        assert!(decode(&mut over).is_err());
        assert_eq!(claimed_length(&over[..7]), None);
    }

    // Goal: a flipped bit on the wire is refused, never decoded. Method: flip every bit of a
    // frame's payload in turn.
    #[test]
    fn corrupted_frames_are_refused() {
        let mut clean = BytesMut::new();
        encode(
            &Frame::Raft {
                group: 1,
                message: Message {
                    from: 1,
                    to: 2,
                    term: 5,
                    body: MessageBody::Heartbeat {
                        commit: 3,
                        read_round: 9,
                    },
                },
            },
            &mut clean,
        );
        for bit in (HEADER * 8)..(clean.len() * 8) {
            let mut bad = clean.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&mut bad).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
    }
}
