//! Property tests: the conversation rules, applied by [`MemoryLog`] to
//! arbitrary interleavings of inbound messages, replies, status updates and
//! opt-outs, keep seqs gap-free, statuses forward-only and dedupe
//! idempotent: a retry is answered with the first copy however late it
//! comes, and replaying a whole history changes nothing.

use super::MemoryLog;
use crate::store::{Appended, InboundMessage, Reply, ReplyOutcome, StatusTarget, StatusUpdate};
use proptest::prelude::*;
use std::collections::HashMap;

/// What a retry must answer: the first copy's position, per MessageSid and
/// per `(agent, client_id)`.
#[derive(Default)]
struct FirstCopies {
    inbound: HashMap<u8, Appended>,
    replies: HashMap<(u8, u8), ReplyOutcome>,
}

impl FirstCopies {
    /// Applies `event` and checks that a retry of anything stored earlier —
    /// however many other events came in between — is answered with the
    /// first copy's seq and leaves the log exactly as it was.
    fn apply(&mut self, log: &mut MemoryLog, event: &Event) -> Result<(), TestCaseError> {
        let before = log.clone();
        apply(log, event)?;
        match *event {
            Event::Inbound { from, sid, body } => {
                let answer = log.append_inbound(&inbound(from, sid, body));
                match self.inbound.get(&sid) {
                    Some(first) => {
                        prop_assert_eq!(answer.seq, first.seq, "SM-in-{} moved", sid);
                        prop_assert!(answer.duplicate);
                        prop_assert!(
                            *log == before,
                            "a late retry of SM-in-{} changed the log",
                            sid
                        );
                    }
                    None => {
                        self.inbound.insert(sid, answer);
                    }
                }
            }
            Event::Reply { to, agent, client } => {
                let answer = log.append_reply(&reply(to, agent, client));
                match self.replies.get(&(agent, client)) {
                    Some(ReplyOutcome::Accepted { seq, .. }) => {
                        prop_assert_eq!(
                            answer,
                            ReplyOutcome::Accepted {
                                seq: *seq,
                                duplicate: true
                            }
                        );
                        prop_assert!(*log == before, "a late resend changed the log");
                    }
                    // A refused reply was not stored: a later copy may be accepted.
                    _ => {
                        if matches!(answer, ReplyOutcome::Accepted { .. }) {
                            self.replies.insert((agent, client), answer);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
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
        kind: Default::default(),
        conversation: NUMBERS[to].into(),
        agent: format!("agent{agent}"),
        client_id: format!("c{client}"),
        body: "on it".into(),
        media: Vec::new(),
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

    #[test]
    fn a_retry_arriving_any_time_later_is_answered_with_the_first_copy(
        events in proptest::collection::vec(event(), 1..80)
    ) {
        let mut log = MemoryLog::default();
        let mut first = FirstCopies::default();
        for event in &events {
            first.apply(&mut log, event)?;
        }
    }

    #[test]
    fn replaying_every_message_and_reply_afterwards_changes_nothing(
        events in proptest::collection::vec(event(), 1..60),
        order in any::<proptest::sample::Index>(),
    ) {
        let mut log = MemoryLog::default();
        // Replies stored by the first pass (a refused one is not stored, and
        // may rightly be accepted later, e.g. after the customer opts back in).
        let mut stored = std::collections::HashSet::new();
        for event in &events {
            apply(&mut log, event)?;
            if let Event::Reply { to, agent, client } = *event {
                if let ReplyOutcome::Accepted { .. } = log.append_reply(&reply(to, agent, client)) {
                    stored.insert((agent, client));
                }
            }
        }
        let after = log.clone();
        // Twilio's retries and agents' resends, in another order (rotated).
        let retries: Vec<&Event> = events
            .iter()
            .filter(|e| match e {
                Event::Inbound { .. } => true,
                Event::Reply { agent, client, .. } => stored.contains(&(*agent, *client)),
                _ => false,
            })
            .collect();
        let start = if retries.is_empty() { 0 } else { order.index(retries.len()) };
        for event in retries[start..].iter().chain(&retries[..start]) {
            match **event {
                Event::Inbound { from, sid, body } => {
                    prop_assert!(log.append_inbound(&inbound(from, sid, body)).duplicate);
                }
                Event::Reply { to, agent, client } => {
                    let answer = log.append_reply(&reply(to, agent, client));
                    prop_assert!(
                        matches!(answer, ReplyOutcome::Accepted { duplicate: true, .. }),
                        "a resent reply got {:?}", answer
                    );
                }
                _ => {}
            }
        }
        prop_assert!(log == after, "replaying the same messages and replies changed the log");
    }
}
