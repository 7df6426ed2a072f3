//! Property tests: the conversation rules, applied by [`MemoryLog`] to
//! arbitrary interleavings of inbound messages, replies, status updates and
//! opt-outs, keep seqs gap-free, statuses forward-only and dedupe
//! idempotent.

use super::MemoryLog;
use crate::store::{Appended, InboundMessage, Reply, ReplyOutcome, StatusTarget, StatusUpdate};
use proptest::prelude::*;
use std::collections::HashMap;
use switchboard_protocol::{DeliveryStatus, Direction};

/// Customers (index 3 never writes, so replies to it are refused).
const NUMBERS: [&str; 4] = ["+15550001", "+15550002", "+15550003", "+15550009"];
const BODIES: [&str; 5] = ["hi", "STOP", "start", "HELP", "stop."];
const STATUSES: [DeliveryStatus; 7] = [
    DeliveryStatus::Queued,
    DeliveryStatus::Sending,
    DeliveryStatus::Sent,
    DeliveryStatus::Delivered,
    DeliveryStatus::Undelivered,
    DeliveryStatus::Failed,
    DeliveryStatus::Read,
];

/// One thing that can happen to the log.
#[derive(Debug, Clone)]
enum Event {
    /// A customer's message; a repeated `sid` is a Twilio retry.
    Inbound { from: usize, sid: u8, body: usize },
    /// An agent's reply; a repeated `(agent, client)` is a resend.
    Reply { to: usize, agent: u8, client: u8 },
    /// The outbox's update for the `nth` outbound message: its Twilio SID.
    Sent {
        nth: usize,
        status: usize,
        done: bool,
    },
    /// A Twilio callback for outbound SID `sid` (maybe not recorded yet).
    Callback { sid: u8, status: usize },
    /// A send failed with 21610, or the number opted back in.
    OptOut { number: usize, opted_out: bool },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..3usize, 0..12u8, 0..BODIES.len()).prop_map(|(from, sid, body)| Event::Inbound {
            from,
            sid,
            body
        }),
        (0..4usize, 0..2u8, 0..6u8).prop_map(|(to, agent, client)| Event::Reply {
            to,
            agent,
            client
        }),
        (0..8usize, 0..STATUSES.len(), any::<bool>()).prop_map(|(nth, status, done)| Event::Sent {
            nth,
            status,
            done
        }),
        (0..8u8, 0..STATUSES.len()).prop_map(|(sid, status)| Event::Callback { sid, status }),
        (0..3usize, any::<bool>())
            .prop_map(|(number, opted_out)| Event::OptOut { number, opted_out }),
    ]
}

fn inbound(from: usize, sid: u8, body: usize) -> InboundMessage {
    InboundMessage {
        message_sid: format!("SM-in-{sid}"),
        from: NUMBERS[from].into(),
        to: "+15559999".into(),
        body: BODIES[body].into(),
        country: None,
        media: Vec::new(),
        at_ms: 1,
    }
}

fn reply(to: usize, agent: u8, client: u8) -> Reply {
    Reply {
        conversation: NUMBERS[to].into(),
        agent: format!("agent{agent}"),
        client_id: format!("c{client}"),
        body: "on it".into(),
        at_ms: 2,
    }
}

/// Applies `event`, checking on the way that a repeated inbound message or
/// reply changes nothing and reports the first copy's seq.
fn apply(log: &mut MemoryLog, event: &Event) -> Result<(), TestCaseError> {
    match *event {
        Event::Inbound { from, sid, body } => {
            let m = inbound(from, sid, body);
            let first = log.append_inbound(&m);
            let before = log.clone();
            let again = log.append_inbound(&m);
            prop_assert_eq!(
                again,
                Appended {
                    seq: first.seq,
                    duplicate: true
                }
            );
            prop_assert!(*log == before, "a retried MessageSid changed the log");
        }
        Event::Reply { to, agent, client } => {
            let r = reply(to, agent, client);
            let first = log.append_reply(&r);
            let before = log.clone();
            let again = log.append_reply(&r);
            match first {
                ReplyOutcome::Accepted { seq, .. } => prop_assert_eq!(
                    again,
                    ReplyOutcome::Accepted {
                        seq,
                        duplicate: true
                    }
                ),
                refused => prop_assert_eq!(again, refused),
            }
            prop_assert!(*log == before, "a resent reply changed the log");
        }
        Event::Sent { nth, status, done } => {
            let outbound = outbound(log);
            if let Some((conversation, seq)) = outbound.get(nth % outbound.len().max(1)) {
                let update = StatusUpdate {
                    target: StatusTarget::Position(conversation.clone(), *seq),
                    status: STATUSES[status],
                    error: None,
                    twilio_sid: Some(format!("SM-out-{}", nth % 8)),
                    outbox_done: done,
                };
                // A SID reused for another message just re-points it.
                log.update_status(&update)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        Event::Callback { sid, status } => {
            let update = StatusUpdate {
                target: StatusTarget::TwilioSid(format!("SM-out-{sid}")),
                status: STATUSES[status],
                error: None,
                twilio_sid: None,
                outbox_done: false,
            };
            log.update_status(&update)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        Event::OptOut { number, opted_out } => log.set_opted_out(NUMBERS[number], opted_out),
    }
    Ok(())
}

/// Every outbound message's position, in order.
fn outbound(log: &MemoryLog) -> Vec<(String, u64)> {
    NUMBERS
        .iter()
        .flat_map(|n| log.history(n, 0, u64::MAX))
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| (m.conversation, m.seq))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seqs_are_gap_free_statuses_only_move_forward_and_dedupe_is_idempotent(
        events in proptest::collection::vec(event(), 1..80)
    ) {
        let mut log = MemoryLog::default();
        let mut ranks: HashMap<(String, u64), u8> = HashMap::new();
        for event in &events {
            apply(&mut log, event)?;
            for number in NUMBERS {
                let messages = log.history(number, 0, u64::MAX);
                let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
                let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
                prop_assert_eq!(&seqs, &expected, "seqs of {} have a gap", number);
                let last_seq = log.conversation(number).map_or(0, |c| c.last_seq);
                prop_assert_eq!(last_seq, seqs.len() as u64);
                for m in messages {
                    let rank = m.status.map_or(0, |s| s.rank());
                    let before = ranks.insert((m.conversation.clone(), m.seq), rank);
                    prop_assert!(
                        before.unwrap_or(0) <= rank,
                        "status of {} #{} moved backwards", m.conversation, m.seq
                    );
                }
            }
        }
    }

    #[test]
    fn the_change_feed_has_one_entry_per_message_in_order(
        events in proptest::collection::vec(event(), 1..60)
    ) {
        let mut log = MemoryLog::default();
        for event in &events {
            apply(&mut log, event)?;
        }
        let changes = log.changes_after(0, usize::MAX);
        let ids: Vec<u64> = changes.iter().map(|(id, _)| *id).collect();
        let expected: Vec<u64> = (1..=ids.len() as u64).collect();
        prop_assert_eq!(ids, expected);
        let messages: usize = NUMBERS.iter().map(|n| log.history(n, 0, u64::MAX).len()).sum();
        let message_changes = changes
            .iter()
            .filter(|(_, c)| matches!(c, crate::store::Change::Message { .. }))
            .count();
        prop_assert_eq!(messages, message_changes);
    }
}
