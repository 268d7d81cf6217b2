//! Checks of what peers and callers send, so that bad input is an error, never a panic.

use std::collections::BTreeSet;

use crate::message::{Message, MessageBody};
use crate::replica::StepError;
use crate::types::{Membership, MembershipChange, NodeId};

/// Most voters (and learners) in one group.
pub const REPLICAS_MAX: usize = 64;

/// Highest term or index a peer may send: far beyond any real log, and far enough from
/// `u64::MAX` that `+ 1` never overflows.
pub const POSITION_MAX: u64 = u64::MAX / 4;

/// Rejects messages whose fields cannot come from a correct peer.
pub(crate) fn check_message(message: &Message) -> Result<(), StepError> {
    let malformed = |reason: String| Err(StepError::Malformed { reason });
    let positions = message_positions(&message.body);
    if let Some(too_big) = positions
        .iter()
        .chain([&message.term])
        .find(|&&p| p > POSITION_MAX)
    {
        return malformed(format!(
            "term or index {too_big} above the limit {POSITION_MAX}"
        ));
    }
    if let MessageBody::Append {
        prev_index,
        prev_term,
        entries,
        ..
    } = &message.body
    {
        let mut expected_index = prev_index.saturating_add(1);
        let mut floor_term = *prev_term;
        for entry in entries {
            if entry.index != expected_index {
                return malformed(format!(
                    "entry index {} where {} was expected",
                    entry.index, expected_index
                ));
            }
            if entry.term < floor_term || entry.term > message.term {
                return malformed(format!(
                    "entry {} has term {} outside [{}, {}]",
                    entry.index, entry.term, floor_term, message.term
                ));
            }
            if let crate::types::Payload::Membership(MembershipChange::EnterJoint {
                voters,
                learners,
                outgoing,
            }) = &entry.payload
            {
                if voters.len() > REPLICAS_MAX
                    || learners.len() > REPLICAS_MAX
                    || outgoing.len() > REPLICAS_MAX
                {
                    return malformed(format!(
                        "membership of {} voters and {} learners",
                        voters.len(),
                        learners.len()
                    ));
                }
            }
            expected_index = expected_index.saturating_add(1);
            floor_term = entry.term;
        }
    }
    if let MessageBody::SnapshotChunk { meta, .. } = &message.body {
        if meta.term > message.term || meta.index == 0 {
            return malformed(format!(
                "snapshot at index {} term {} from term {}",
                meta.index, meta.term, message.term
            ));
        }
    }
    Ok(())
}

/// The terms and indexes a message carries.
fn message_positions(body: &MessageBody) -> Vec<u64> {
    match body {
        MessageBody::PreVote {
            last_index,
            last_term,
        }
        | MessageBody::Vote {
            last_index,
            last_term,
            ..
        } => vec![*last_index, *last_term],
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            let last = entries.last().map_or(0, |e| e.index);
            vec![*prev_index, *prev_term, *commit, last]
        }
        MessageBody::AppendResponse {
            index,
            hint_index,
            hint_term,
            ..
        } => vec![*index, *hint_index, *hint_term],
        MessageBody::Heartbeat { commit, .. } => vec![*commit],
        MessageBody::SnapshotChunk { meta, .. } => vec![meta.index, meta.term],
        MessageBody::SnapshotAck { index, .. } => vec![*index],
        _ => Vec::new(),
    }
}

/// Validates a requested membership and turns it into the joint-consensus entry.
pub(crate) fn membership_change(
    current: &Membership,
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
) -> Result<MembershipChange, String> {
    let voters: BTreeSet<NodeId> = voters.into_iter().collect();
    let learners: BTreeSet<NodeId> = learners.into_iter().collect();
    if voters.is_empty() {
        return Err("a group needs at least one voter".to_owned());
    }
    if voters.contains(&0) || learners.contains(&0) {
        return Err("replica id 0 is reserved".to_owned());
    }
    if voters.len() > REPLICAS_MAX || learners.len() > REPLICAS_MAX {
        return Err(format!(
            "at most {REPLICAS_MAX} voters and {REPLICAS_MAX} learners"
        ));
    }
    if let Some(both) = voters.intersection(&learners).next() {
        return Err(format!("replica {both} cannot be both voter and learner"));
    }
    if let Some(demoted) = current.voters.intersection(&learners).next() {
        return Err(format!(
            "replica {demoted} is a voter: remove it first, then add it as a learner"
        ));
    }
    Ok(MembershipChange::EnterJoint {
        voters,
        learners,
        outgoing: current.voters.clone(),
    })
}
