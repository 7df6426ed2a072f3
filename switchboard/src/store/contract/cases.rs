//! The cases every store must pass. Each gets a fresh, empty store.

use crate::store::{
    Appended, CannedList, Change, ChangeId, EntryKind, InboundMessage, Reply, ReplyOutcome,
    SendIntent, StatusOutcome, StatusTarget, StatusUpdate, Store,
};
use std::time::Duration;
use switchboard_protocol::{
    CannedReply, DeliveryError, DeliveryStatus, Direction, Media, TimelineEvent,
};

/// How long a change may take to show in the feed (DynamoDB's comes
/// through the stream reader). Only a bound on waiting, never a pass mark.
const FEED_WAIT: Duration = Duration::from_secs(60);

const ALICE: &str = "+15550100001";
const BOB: &str = "+15550100002";

fn inbound(from: &str, sid: &str, body: &str, at_ms: u64) -> InboundMessage {
    InboundMessage {
        message_sid: sid.into(),
        from: from.into(),
        to: "+15550199999".into(),
        body: body.into(),
        country: Some("US".into()),
        media: Vec::new(),
        at_ms,
    }
}

fn reply(to: &str, client_id: &str, at_ms: u64) -> Reply {
    Reply {
        kind: Default::default(),
        conversation: to.into(),
        agent: "ada".into(),
        client_id: client_id.into(),
        body: format!("reply {client_id}"),
        media: Vec::new(),
        at_ms,
    }
}

fn status(target: StatusTarget, status: DeliveryStatus, sid: Option<&str>) -> StatusUpdate {
    StatusUpdate {
        target,
        status,
        error: None,
        twilio_sid: sid.map(str::to_string),
        outbox_done: false,
    }
}

async fn accepted(store: &dyn Store, r: Reply) -> u64 {
    match store.append_reply(r).await.expect("append reply") {
        ReplyOutcome::Accepted {
            seq,
            duplicate: false,
        } => seq,
        other => panic!("reply not accepted: {other:?}"),
    }
}

/// Waits until the feed after `after` holds at least `count` changes, and
/// returns them.
async fn feed(store: &dyn Store, after: ChangeId, count: usize) -> Vec<(ChangeId, Change)> {
    let wait = async {
        loop {
            let changes = store.changes_after(after, 10_000).await.expect("changes");
            if changes.len() >= count {
                return changes;
            }
            let last = changes.last().map_or(after, |(id, _)| *id);
            store
                .wait_for_changes(last)
                .await
                .expect("wait for changes");
        }
    };
    match tokio::time::timeout(FEED_WAIT, wait).await {
        Ok(changes) => changes,
        Err(_) => {
            let got = store.changes_after(after, 10_000).await.expect("changes");
            panic!("the feed did not reach {count} changes; it has {got:?}")
        }
    }
}

async fn opted_out(store: &dyn Store, conversation: &str) -> bool {
    let record = store.conversation(conversation).await.expect("read");
    record.expect("the conversation exists").opted_out
}

async fn current(store: &dyn Store, seq: u64) -> (Option<DeliveryStatus>, Option<DeliveryError>) {
    let m = store.message(ALICE, seq).await.expect("read");
    let m = m.expect("the message is stored");
    (m.status, m.error)
}

/// Waits until the feed has shown the first `count` changes of a fresh store.
async fn caught_up(store: &dyn Store, count: usize) {
    feed(store, 0, count).await;
}

pub async fn inbound_messages_get_gap_free_seqs_per_conversation(store: &dyn Store) {
    for (i, from) in [ALICE, BOB, ALICE, ALICE, BOB].into_iter().enumerate() {
        store
            .append_inbound(inbound(from, &format!("SMa{i}"), "hi", 10 + i as u64))
            .await
            .expect("append");
    }
    // Reads reflect what the feed has shown (DynamoDB reads a local view).
    caught_up(store, 5).await;
    let alice: Vec<u64> = store
        .history(ALICE, 0, 100)
        .await
        .expect("history")
        .iter()
        .map(|m| m.seq)
        .collect();
    let bob: Vec<u64> = store
        .history(BOB, 0, 100)
        .await
        .expect("history")
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(alice, [1, 2, 3]);
    assert_eq!(bob, [1, 2]);
    let record = store
        .conversation(ALICE)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.last_seq, 3);
    assert_eq!(record.to, "+15550199999");
    assert_eq!(record.country.as_deref(), Some("US"));
    assert!(!record.opted_out);
    let first = store
        .message(ALICE, 1)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(first.direction, Direction::Inbound);
    assert_eq!(first.body, "hi");
    assert_eq!(first.at_ms, 10);
}

pub async fn a_retried_message_sid_is_stored_once(store: &dyn Store) {
    let m = inbound(ALICE, "SMdup", "hello", 1);
    let first = store.append_inbound(m.clone()).await.expect("append");
    assert_eq!(
        first,
        Appended {
            seq: 1,
            duplicate: false
        }
    );
    store
        .append_inbound(inbound(ALICE, "SMother", "again", 2))
        .await
        .expect("append");
    let again = store.append_inbound(m).await.expect("append");
    assert_eq!(
        again,
        Appended {
            seq: 1,
            duplicate: true
        }
    );
    caught_up(store, 2).await;
    assert_eq!(
        store.history(ALICE, 0, 100).await.expect("history").len(),
        2
    );
}

pub async fn replies_are_refused_for_unknown_or_opted_out_customers(store: &dyn Store) {
    assert_eq!(
        store
            .append_reply(reply(BOB, "c0", 1))
            .await
            .expect("reply"),
        ReplyOutcome::UnknownConversation
    );
    store
        .append_inbound(inbound(ALICE, "SMr1", "hi", 1))
        .await
        .expect("append");
    assert_eq!(accepted(store, reply(ALICE, "c1", 2)).await, 2);
    // Reads reflect what the feed has shown (DynamoDB reads a local view).
    caught_up(store, 2).await;
    let stored = store
        .message(ALICE, 2)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.direction, Direction::Outbound);
    assert_eq!(stored.status, Some(DeliveryStatus::Queued));
    assert_eq!(stored.agent.as_deref(), Some("ada"));
    assert_eq!(stored.client_id.as_deref(), Some("c1"));
    // Resending the same client id reports the stored reply.
    assert_eq!(
        store
            .append_reply(reply(ALICE, "c1", 3))
            .await
            .expect("reply"),
        ReplyOutcome::Accepted {
            seq: 2,
            duplicate: true
        }
    );
    store
        .append_inbound(inbound(ALICE, "SMr2", "STOP", 4))
        .await
        .expect("append");
    assert_eq!(
        store
            .append_reply(reply(ALICE, "c2", 5))
            .await
            .expect("reply"),
        ReplyOutcome::OptedOut
    );
    caught_up(store, 4).await;
    assert_eq!(
        store.history(ALICE, 0, 100).await.expect("history").len(),
        3
    );
    assert!(store.message(BOB, 1).await.expect("read").is_none());
}

pub async fn stop_and_start_keywords_change_opt_out_and_help_does_not(store: &dyn Store) {
    store
        .append_inbound(inbound(ALICE, "SMo1", "hello", 1))
        .await
        .expect("append");
    store
        .append_inbound(inbound(ALICE, "SMo2", " Stop. ", 2))
        .await
        .expect("append");
    assert!(opted_out(store, ALICE).await);
    store
        .append_inbound(inbound(ALICE, "SMo3", "HELP", 3))
        .await
        .expect("append");
    assert!(opted_out(store, ALICE).await, "HELP does not opt back in");
    store
        .append_inbound(inbound(ALICE, "SMo4", "start", 4))
        .await
        .expect("append");
    assert!(!opted_out(store, ALICE).await);
    accepted(store, reply(ALICE, "after-start", 5)).await;
    // Twilio's 21610 on a send marks the number opted out directly.
    store.set_opted_out(ALICE, true).await.expect("opt out");
    assert!(opted_out(store, ALICE).await);
    assert_eq!(
        store
            .append_reply(reply(ALICE, "late", 6))
            .await
            .expect("reply"),
        ReplyOutcome::OptedOut
    );
    // An unknown number is left alone.
    store.set_opted_out(BOB, true).await.expect("opt out");
    assert!(store.conversation(BOB).await.expect("read").is_none());
}

pub async fn statuses_only_move_forward(store: &dyn Store) {
    store
        .append_inbound(inbound(ALICE, "SMs1", "hi", 1))
        .await
        .expect("append");
    let seq = accepted(store, reply(ALICE, "s1", 2)).await;
    let at = || StatusTarget::Position(ALICE.into(), seq);
    let by_sid = || StatusTarget::TwilioSid("SMout1".into());
    let outcome = store
        .update_status(status(at(), DeliveryStatus::Sending, Some("SMout1")))
        .await
        .expect("status");
    assert_eq!(outcome, StatusOutcome::Applied);
    let outcome = store
        .update_status(status(by_sid(), DeliveryStatus::Delivered, None))
        .await
        .expect("status");
    assert_eq!(outcome, StatusOutcome::Applied);
    for stale in [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ] {
        let outcome = store
            .update_status(status(by_sid(), stale, None))
            .await
            .expect("status");
        assert_eq!(outcome, StatusOutcome::Stale, "{stale:?} after delivered");
    }
    // Reads reflect what the feed has shown (DynamoDB reads a local view).
    caught_up(store, 4).await;
    assert_eq!(current(store, seq).await.0, Some(DeliveryStatus::Delivered));
    let mut read = status(by_sid(), DeliveryStatus::Read, None);
    read.error = None;
    assert_eq!(
        store.update_status(read).await.expect("status"),
        StatusOutcome::Applied
    );
    caught_up(store, 5).await;
    assert_eq!(
        current(store, seq).await,
        (Some(DeliveryStatus::Read), None)
    );
}

pub async fn an_early_status_is_applied_when_its_sid_is_recorded(store: &dyn Store) {
    store
        .append_inbound(inbound(ALICE, "SMe1", "hi", 1))
        .await
        .expect("append");
    let seq = accepted(store, reply(ALICE, "e1", 2)).await;
    let early = StatusUpdate {
        target: StatusTarget::TwilioSid("SMearly".into()),
        status: DeliveryStatus::Undelivered,
        error: Some(DeliveryError {
            code: Some(30003),
            message: "unreachable".into(),
        }),
        twilio_sid: None,
        outbox_done: false,
    };
    assert_eq!(
        store.update_status(early).await.expect("status"),
        StatusOutcome::Deferred
    );
    // An older early status does not replace it.
    let older = status(
        StatusTarget::TwilioSid("SMearly".into()),
        DeliveryStatus::Sent,
        None,
    );
    assert_eq!(
        store.update_status(older).await.expect("status"),
        StatusOutcome::Deferred
    );
    let mut sent = status(
        StatusTarget::Position(ALICE.into(), seq),
        DeliveryStatus::Sending,
        Some("SMearly"),
    );
    sent.outbox_done = true;
    assert_eq!(
        store.update_status(sent).await.expect("status"),
        StatusOutcome::Applied
    );
    // Reads reflect what the feed has shown (DynamoDB reads a local view).
    caught_up(store, 3).await;
    let m = store
        .message(ALICE, seq)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(m.status, Some(DeliveryStatus::Undelivered));
    assert_eq!(m.error.and_then(|e| e.code), Some(30003));
    assert!(store.pending_replies().await.expect("outbox").is_empty());
}

pub async fn a_status_for_a_missing_message_is_an_error(store: &dyn Store) {
    let update = status(
        StatusTarget::Position(ALICE.into(), 7),
        DeliveryStatus::Sent,
        None,
    );
    assert!(store.update_status(update).await.is_err());
}

pub async fn history_returns_exactly_the_range_asked_for(store: &dyn Store) {
    for i in 1..=6 {
        store
            .append_inbound(inbound(ALICE, &format!("SMh{i}"), &format!("m{i}"), i))
            .await
            .expect("append");
    }
    caught_up(store, 6).await;
    let seqs = |h: Vec<switchboard_protocol::Message>| h.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.history(ALICE, 2, 4).await.expect("h")), [3, 4]);
    assert_eq!(
        seqs(store.history(ALICE, 0, 6).await.expect("h")),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(seqs(store.history(ALICE, 5, 100).await.expect("h")), [6]);
    assert!(store.history(ALICE, 4, 4).await.expect("h").is_empty());
    assert!(store.history(ALICE, 4, 2).await.expect("h").is_empty());
    assert!(store.history(BOB, 0, 10).await.expect("h").is_empty());
    let bodies: Vec<String> = store
        .history(ALICE, 0, 2)
        .await
        .expect("h")
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["m1", "m2"]);
}

pub async fn a_replys_pictures_are_stored_with_it_and_an_empty_body_is_kept(store: &dyn Store) {
    store
        .append_inbound(inbound(ALICE, "SMp1", "a photo please", 1))
        .await
        .expect("append");
    let pictures = vec![
        Media {
            url: "/files/media/%2B15550100001/outbound/0123456789abcdef0123456789abcdef.png".into(),
            content_type: "image/png".into(),
        },
        Media {
            url: "/files/media/%2B15550100001/outbound/fedcba9876543210fedcba9876543210.gif".into(),
            content_type: "image/gif".into(),
        },
    ];
    let seq = accepted(
        store,
        Reply {
            body: String::new(),
            media: pictures.clone(),
            ..reply(ALICE, "pic", 2)
        },
    )
    .await;
    caught_up(store, 2).await;
    let stored = store
        .message(ALICE, seq)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.media, pictures, "in order, as given");
    assert_eq!(stored.body, "");
    assert_eq!(stored.direction, Direction::Outbound);
    let listed = store.history(ALICE, 0, 10).await.expect("history");
    assert_eq!(listed[1].media, pictures);
    assert!(listed[0].media.is_empty());
    assert_eq!(
        positions(store).await,
        [(ALICE.to_string(), seq)],
        "in the outbox"
    );
}

pub async fn the_outbox_lists_unsent_replies_oldest_first_until_settled(store: &dyn Store) {
    for (i, from) in [ALICE, BOB].into_iter().enumerate() {
        store
            .append_inbound(inbound(from, &format!("SMq{i}"), "hi", 1))
            .await
            .expect("append");
    }
    let bob = accepted(store, reply(BOB, "q1", 100)).await;
    let alice = accepted(store, reply(ALICE, "q2", 200)).await;
    let alice2 = accepted(store, reply(ALICE, "q3", 300)).await;
    assert_eq!(
        positions(store).await,
        [
            (BOB.to_string(), bob),
            (ALICE.to_string(), alice),
            (ALICE.to_string(), alice2)
        ]
    );
    // A status without `outbox_done` keeps it queued; with it, it is settled
    // even when the status itself is stale.
    store
        .update_status(status(
            StatusTarget::Position(BOB.into(), bob),
            DeliveryStatus::Sending,
            None,
        ))
        .await
        .expect("status");
    let mut done = status(
        StatusTarget::Position(ALICE.into(), alice),
        DeliveryStatus::Sending,
        Some("SMq-out"),
    );
    done.outbox_done = true;
    store.update_status(done.clone()).await.expect("status");
    assert_eq!(
        positions(store).await,
        [(BOB.to_string(), bob), (ALICE.to_string(), alice2)]
    );
    let mut stale = status(
        StatusTarget::Position(BOB.into(), bob),
        DeliveryStatus::Queued,
        None,
    );
    stale.outbox_done = true;
    assert_eq!(
        store.update_status(stale).await.expect("status"),
        StatusOutcome::Stale
    );
    assert_eq!(positions(store).await, [(ALICE.to_string(), alice2)]);
}

/// The outbox's positions, oldest first.
async fn positions(store: &dyn Store) -> Vec<(String, u64)> {
    store
        .pending_replies()
        .await
        .expect("outbox")
        .into_iter()
        .map(|p| (p.conversation, p.seq))
        .collect()
}

pub async fn a_send_intent_is_listed_with_its_reply_and_the_first_one_kept(store: &dyn Store) {
    store
        .append_inbound(inbound(ALICE, "SMi1", "hi", 1))
        .await
        .expect("append");
    let first = accepted(store, reply(ALICE, "i1", 100)).await;
    let second = accepted(store, reply(ALICE, "i2", 200)).await;
    let intent = |at_ms| SendIntent {
        from: "+15550000000".into(),
        at_ms,
    };
    let intents = |pending: Vec<crate::store::PendingReply>| {
        pending
            .into_iter()
            .map(|p| (p.seq, p.intent))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        intents(store.pending_replies().await.expect("outbox")),
        [(first, None), (second, None)]
    );
    store
        .record_intent(ALICE, first, &intent(1_000))
        .await
        .expect("intent");
    // A later attempt does not move the window's start.
    store
        .record_intent(ALICE, first, &intent(9_000))
        .await
        .expect("intent");
    assert_eq!(
        intents(store.pending_replies().await.expect("outbox")),
        [(first, Some(intent(1_000))), (second, None)]
    );
    // Settled with Twilio's SID: gone from the outbox, and the SID is known.
    assert_eq!(store.sid_owner("SMi-out").await.expect("sid"), None);
    let mut done = status(
        StatusTarget::Position(ALICE.into(), first),
        DeliveryStatus::Sending,
        Some("SMi-out"),
    );
    done.outbox_done = true;
    store.update_status(done).await.expect("status");
    assert_eq!(
        store.sid_owner("SMi-out").await.expect("sid"),
        Some((ALICE.to_string(), first))
    );
    assert_eq!(store.sid_owner("SMi-other").await.expect("sid"), None);
    assert_eq!(
        intents(store.pending_replies().await.expect("outbox")),
        [(second, None)]
    );
}

pub async fn the_change_feed_reports_each_change_once_in_order(store: &dyn Store) {
    let start = store.load_cursor().await.expect("cursor");
    store
        .append_inbound(inbound(ALICE, "SMc1", "hi", 1))
        .await
        .expect("append");
    store
        .append_inbound(inbound(BOB, "SMc2", "hi", 2))
        .await
        .expect("append");
    let seq = accepted(store, reply(ALICE, "c1", 3)).await;
    store
        .update_status(status(
            StatusTarget::Position(ALICE.into(), seq),
            DeliveryStatus::Sent,
            None,
        ))
        .await
        .expect("status");
    store
        .append_inbound(inbound(ALICE, "SMc3", "STOP", 4))
        .await
        .expect("append");
    // A retry adds nothing to the feed.
    store
        .append_inbound(inbound(ALICE, "SMc1", "hi", 1))
        .await
        .expect("append");
    let changes = feed(store, start, 6).await;
    let ids: Vec<ChangeId> = changes.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    let mut kinds: Vec<Change> = changes.iter().map(|(_, c)| c.clone()).collect();
    let alice_messages: Vec<&Change> = kinds
        .iter()
        .filter(|c| matches!(c, Change::Message { c, .. } if c == ALICE))
        .collect();
    assert_eq!(
        alice_messages,
        [
            &Change::Message {
                c: ALICE.into(),
                s: 1,
                d: Some(Direction::Inbound),
            },
            &Change::Message {
                c: ALICE.into(),
                s: 2,
                d: Some(Direction::Outbound),
            },
            &Change::Message {
                c: ALICE.into(),
                s: 3,
                d: Some(Direction::Inbound),
            },
        ],
        "one change per message, in seq order"
    );
    kinds.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        kinds,
        [
            Change::Message {
                c: ALICE.into(),
                s: 1,
                d: Some(Direction::Inbound),
            },
            Change::Message {
                c: ALICE.into(),
                s: 2,
                d: Some(Direction::Outbound),
            },
            Change::Message {
                c: ALICE.into(),
                s: 3,
                d: Some(Direction::Inbound),
            },
            Change::Message {
                c: BOB.into(),
                s: 1,
                d: Some(Direction::Inbound),
            },
            Change::OptOut { c: ALICE.into() },
            Change::Status {
                c: ALICE.into(),
                s: 2
            },
        ]
    );
    // Reading from the middle gives the rest; the cursor is what was saved.
    let (middle, _) = changes[2];
    let rest = store.changes_after(middle, 100).await.expect("changes");
    assert_eq!(rest, changes[3..].to_vec());
    assert_eq!(
        store.changes_after(middle, 1).await.expect("changes"),
        changes[3..4].to_vec()
    );
    let (last, _) = changes[5];
    store.save_cursor(last).await.expect("save cursor");
    assert_eq!(store.load_cursor().await.expect("cursor"), last);
    assert!(store
        .changes_after(last, 100)
        .await
        .expect("changes")
        .is_empty());
}

pub async fn wait_for_changes_resolves_when_a_change_arrives(store: &dyn Store) {
    let start = store.load_cursor().await.expect("cursor");
    let waiting = store.wait_for_changes(start);
    let write = async {
        store
            .append_inbound(inbound(ALICE, "SMw1", "hi", 1))
            .await
            .expect("append");
    };
    let (waited, ()) = tokio::join!(tokio::time::timeout(FEED_WAIT, waiting), write);
    waited.expect("woken within the bound").expect("wait");
    assert!(!store
        .changes_after(start, 10)
        .await
        .expect("changes")
        .is_empty());
}

pub async fn a_working_store_reports_ready_and_a_closed_one_refuses_writes(store: &dyn Store) {
    store.ready().await.expect("ready");
    store.close().await.expect("close");
    assert!(store
        .append_inbound(inbound(ALICE, "SMclosed", "hi", 1))
        .await
        .is_err());
}

/// A private note or timeline event in `ALICE`'s conversation by "ada".
fn entry(client_id: &str, kind: EntryKind, at_ms: u64) -> Reply {
    Reply {
        body: format!("note {client_id}"),
        kind,
        ..reply(ALICE, client_id, at_ms)
    }
}

pub async fn notes_and_events_are_stored_in_order_never_sent_and_allowed_after_stop(
    store: &dyn Store,
) {
    // Nothing to note on before the customer wrote.
    assert_eq!(
        store
            .append_reply(entry("n0", EntryKind::Note, 1))
            .await
            .expect("append"),
        ReplyOutcome::UnknownConversation
    );
    store
        .append_inbound(inbound(ALICE, "SMn1", "refund please", 1))
        .await
        .expect("append");
    assert_eq!(accepted(store, entry("n1", EntryKind::Note, 2)).await, 2);
    // The same note again (a resend) is stored once.
    assert_eq!(
        store
            .append_reply(entry("n1", EntryKind::Note, 2))
            .await
            .expect("append"),
        ReplyOutcome::Accepted {
            seq: 2,
            duplicate: true
        }
    );
    let transferred = TimelineEvent::Transferred {
        from: "ada".into(),
        to: Some("bo".into()),
    };
    let event = EntryKind::Event(transferred.clone());
    assert_eq!(accepted(store, entry("e1", event, 3)).await, 3);
    store
        .append_inbound(inbound(ALICE, "SMn2", "STOP", 4))
        .await
        .expect("append");
    assert!(opted_out(store, ALICE).await);
    // After STOP a text is refused, a note is not.
    assert_eq!(
        store
            .append_reply(reply(ALICE, "r1", 5))
            .await
            .expect("append"),
        ReplyOutcome::OptedOut
    );
    assert_eq!(accepted(store, entry("n2", EntryKind::Note, 6)).await, 5);
    assert!(positions(store).await.is_empty(), "nothing goes to Twilio");

    // The feed says what each entry is, so the router needs no read.
    let wait = async {
        loop {
            let changes = store.changes_after(0, 10_000).await.expect("changes");
            let directions: Vec<(u64, Option<Direction>)> = changes
                .iter()
                .filter_map(|(_, c)| match c {
                    Change::Message { c, s, d } if c == ALICE => Some((*s, *d)),
                    _ => None,
                })
                .collect();
            if directions.len() >= 5 {
                return directions;
            }
            let last = changes.last().map_or(0, |(id, _)| *id);
            store.wait_for_changes(last).await.expect("wait");
        }
    };
    let directions = tokio::time::timeout(FEED_WAIT, wait)
        .await
        .expect("the feed shows all five entries");
    assert_eq!(
        directions,
        [
            (1, Some(Direction::Inbound)),
            (2, Some(Direction::Note)),
            (3, Some(Direction::Event)),
            (4, Some(Direction::Inbound)),
            (5, Some(Direction::Note)),
        ]
    );
    let history = store.history(ALICE, 0, 5).await.expect("history");
    let seen: Vec<_> = history
        .iter()
        .map(|m| (m.seq, m.direction, m.status, m.event.as_deref().cloned()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Direction::Inbound, None, None),
            (2, Direction::Note, None, None),
            (3, Direction::Event, None, Some(transferred)),
            (4, Direction::Inbound, None, None),
            (5, Direction::Note, None, None),
        ]
    );
    assert_eq!(history[1].agent.as_deref(), Some("ada"));
    assert_eq!(history[1].body, "note n1");
}

pub async fn canned_replies_are_one_list_replaced_only_from_the_version_read(store: &dyn Store) {
    let reply = |keyword: &str| CannedReply {
        keyword: keyword.into(),
        body: format!("Hi {{customer}}, {keyword}"),
        updated_by: Some("ada".into()),
        updated_at_ms: 7,
    };
    assert_eq!(store.canned().await.expect("read"), CannedList::default());
    assert!(store
        .replace_canned(0, &[reply("hello")])
        .await
        .expect("replace"));
    // A second writer that also read version 0 loses, and writes nothing.
    assert!(!store
        .replace_canned(0, &[reply("other")])
        .await
        .expect("replace"));
    let stored = store.canned().await.expect("read");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.replies, [reply("hello")]);
    assert!(store
        .replace_canned(1, &[reply("hello"), reply("refund")])
        .await
        .expect("replace"));
    assert!(!store.replace_canned(1, &[]).await.expect("replace"));
    let stored = store.canned().await.expect("read");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.replies, [reply("hello"), reply("refund")]);
    // Emptying the list is a replace like any other.
    assert!(store.replace_canned(2, &[]).await.expect("replace"));
    assert_eq!(store.canned().await.expect("read").replies, []);
}

/// A resolve as the router writes it.
async fn resolve(store: &dyn Store, conversation: &str, upto_seq: u64, at_ms: u64, by: &str) {
    let route = crate::store::RouteRecord::Resolved {
        at_ms,
        upto_seq,
        by: Some(by.into()),
    };
    let written = store
        .save_route(conversation, &route)
        .await
        .expect("resolve");
    assert_eq!(written, crate::store::RouteWrite::Written);
}

pub async fn resolved_conversations_are_listed_per_customer_and_newest_first(store: &dyn Store) {
    use crate::store::history::{past, resolved_page, Cursor};
    for i in 1..=4 {
        let m = inbound(ALICE, &format!("SMr{i}"), &format!("alice {i}"), i * 10);
        store.append_inbound(m).await.expect("append");
    }
    let m = inbound(BOB, "SMrb1", "bob 1", 15);
    store.append_inbound(m).await.expect("append");
    caught_up(store, 5).await;
    resolve(store, ALICE, 2, 100, "ada").await;
    resolve(store, ALICE, 4, 200, "bob").await;
    resolve(store, BOB, 1, 150, "ada").await;
    // The same resolve recorded again (a retried write): one entry.
    resolve(store, BOB, 1, 160, "ada").await;
    let m = inbound(ALICE, "SMr5", "alice 5", 300);
    store.append_inbound(m).await.expect("append");
    caught_up(store, 6).await;

    let alice = past(store, store, ALICE).await.expect("past");
    let summary: Vec<_> = alice
        .iter()
        .map(|p| {
            (
                p.first_seq,
                p.last_seq,
                p.first_at_ms,
                p.last_at_ms,
                p.messages,
                p.resolved_at_ms,
                p.resolved_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (5, 5, 300, 300, 1, None, None),
            (3, 4, 30, 40, 2, Some(200), Some("bob")),
            (1, 2, 10, 20, 2, Some(100), Some("ada")),
        ]
    );
    assert!(past(store, store, "+15550100999")
        .await
        .expect("past")
        .is_empty());

    let first = resolved_page(store, store, None, None, 2)
        .await
        .expect("page");
    let got: Vec<_> = first
        .items
        .iter()
        .map(|p| (p.conversation.as_str(), p.last_seq, p.resolved_at_ms))
        .collect();
    assert_eq!(got, vec![(ALICE, 4, Some(200)), (BOB, 1, Some(160))]);
    let next = first.next.expect("a second page");
    let cursor = Cursor::parse(&next).expect("a cursor");
    let second = resolved_page(store, store, None, Some(&cursor), 2)
        .await
        .expect("page");
    let got: Vec<_> = second
        .items
        .iter()
        .map(|p| (p.conversation.as_str(), p.first_seq, p.last_seq))
        .collect();
    assert_eq!(got, vec![(ALICE, 1, 2)]);
    assert_eq!(second.next, None);

    let adas = resolved_page(store, store, Some("ada"), None, 10)
        .await
        .expect("page");
    let got: Vec<_> = adas
        .items
        .iter()
        .map(|p| (p.conversation.as_str(), p.last_seq))
        .collect();
    assert_eq!(got, vec![(BOB, 1), (ALICE, 2)]);
}

pub async fn search_finds_words_and_numbers_newest_first_in_pages(store: &dyn Store) {
    use crate::store::history::{search_page, Cursor};
    use crate::store::search::Query;
    let texts = [
        (ALICE, "I want a REFUND now", 10),
        (BOB, "refund please, order 4411", 20),
        (ALICE, "where is my order", 30),
        (BOB, "refunds are slow", 40),
        (ALICE, "Refund! Refund!", 50),
    ];
    for (i, (from, body, at)) in texts.iter().enumerate() {
        let m = inbound(from, &format!("SMs{i}"), body, *at);
        store.append_inbound(m).await.expect("append");
    }
    let mut r = reply(BOB, "s-r1", 60);
    r.body = "Your refund is on its way".into();
    accepted(store, r).await;
    caught_up(store, 6).await;

    // Words beginning with the term, any case, every page newest first, no
    // repeats ("refunds" begins with "refund").
    let query = Query::parse("refund").expect("a query");
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    for _ in 0..10 {
        let page = search_page(store, &query, after.as_ref(), 2)
            .await
            .expect("search");
        seen.extend(page.items.iter().map(|m| (m.conversation.clone(), m.at_ms)));
        match page.next {
            Some(next) => after = Some(Cursor::parse(&next).expect("a cursor")),
            None => break,
        }
    }
    let expected: Vec<(String, u64)> = vec![
        (BOB.into(), 60),
        (ALICE.into(), 50),
        (BOB.into(), 40),
        (BOB.into(), 20),
        (ALICE.into(), 10),
    ];
    assert_eq!(seen, expected);

    // Every word must be there.
    let both = Query::parse("refund ORDER").expect("a query");
    let page = search_page(store, &both, None, 10).await.expect("search");
    let bodies: Vec<_> = page.items.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["refund please, order 4411"]);

    // A number: each matching customer once, with their newest message.
    let number = Query::parse("+1 555 0100").expect("a query");
    let page = search_page(store, &number, None, 10).await.expect("search");
    let got: Vec<_> = page
        .items
        .iter()
        .map(|m| (m.conversation.as_str(), m.seq))
        .collect();
    assert_eq!(got, vec![(BOB, 3), (ALICE, 3)]);
    let one = Query::parse("0100001").expect("a query");
    let page = search_page(store, &one, None, 10).await.expect("search");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].conversation, ALICE);

    let nothing = Query::parse("parcel").expect("a query");
    let page = search_page(store, &nothing, None, 10)
        .await
        .expect("search");
    assert!(page.items.is_empty());
    assert_eq!(page.next, None);
}

pub async fn search_finds_word_beginnings_and_number_fragments(store: &dyn Store) {
    use crate::store::history::{search_page, Cursor};
    use crate::store::search::Query;
    const CAROL: &str = "+15557770123";
    let texts = [
        (ALICE, "Refunded yesterday", 10),
        (BOB, "I asked for a REFUND", 20),
        (ALICE, "call me on 07700900123 please", 30),
        (BOB, "prefund is not a word", 40),
        (CAROL, "hello", 50),
    ];
    for (i, (from, body, at)) in texts.iter().enumerate() {
        let m = inbound(from, &format!("SMp{i}"), body, *at);
        store.append_inbound(m).await.expect("append");
    }
    caught_up(store, texts.len()).await;
    let found = async |text: &str| -> Vec<(String, u64)> {
        let query = Query::parse(text).expect("a query");
        let page = search_page(store, &query, None, 10).await.expect("search");
        assert_eq!(page.next, None, "{text}");
        page.items
            .iter()
            .map(|m| (m.conversation.clone(), m.at_ms))
            .collect()
    };

    // A word's beginning finds every word it begins, never a word's middle;
    // a page at a time, newest first.
    let refu = Query::parse("refu").expect("a query");
    let first = search_page(store, &refu, None, 1).await.expect("search");
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].at_ms, 20);
    let after = Cursor::parse(&first.next.expect("a second page")).expect("a cursor");
    let second = search_page(store, &refu, Some(&after), 1)
        .await
        .expect("search");
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].at_ms, 10);
    assert_eq!(second.next, None);
    assert_eq!(
        found("REFUND").await,
        [(BOB.to_string(), 20), (ALICE.to_string(), 10)]
    );
    assert!(found("refunds").await.is_empty());
    assert_eq!(found("ref yest").await, [(ALICE.to_string(), 10)]);

    // Digits: anywhere in a number written in a message, and anywhere in a
    // customer's number (their newest message), newest first.
    assert_eq!(found("0900123").await, [(ALICE.to_string(), 30)]);
    assert_eq!(
        found("0123").await,
        [(CAROL.to_string(), 50), (ALICE.to_string(), 30)]
    );
    assert_eq!(found("5777").await, [(CAROL.to_string(), 50)]);
    assert_eq!(found("+1 555 777").await, [(CAROL.to_string(), 50)]);
}
