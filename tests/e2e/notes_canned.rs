//! Private notes, the transfer note, timeline events and canned replies,
//! over real agent sockets: what the next holder of a conversation sees,
//! what the customer's phone (the phone simulator standing in for Twilio)
//! never gets, and how the team's canned replies are shared and checked.
//! Part of the core suite (also run on DynamoDB).

use crate::common;

use common::*;
use std::time::Duration;
use switchboard_protocol::{CannedReply, ClientFrame, ErrorCode, ServerFrame};

const WAIT: Duration = Duration::from_secs(30);

async fn system() -> (Switchboard, PhoneSim) {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    (sb, sim)
}

/// Bodies the phone simulator was asked to send to `to`, in order.
async fn texts_to(sim: &PhoneSim, to: &str) -> Vec<String> {
    sim.sent()
        .await
        .into_iter()
        .filter(|m| m["to"] == to)
        .filter_map(|m| m["body"].as_str().map(str::to_string))
        .collect()
}

fn acked(agent: &Agent, client_id: &str) -> bool {
    agent
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::Ack { client_id: c, .. } if c == client_id))
}

fn refused(agent: &Agent, client_id: &str) -> Option<ErrorCode> {
    agent.frames.iter().find_map(|f| match f {
        ServerFrame::Error {
            code,
            client_id: Some(c),
            ..
        } if c == client_id => Some(*code),
        _ => None,
    })
}

#[tokio::test]
async fn a_note_reaches_the_next_holder_with_the_transfer_and_never_the_customer() {
    let (sb, sim) = system().await;
    let customer = number(70);
    let mut alice = sb.agent_with("alice", 1).await;
    sb.text(&customer, "I want a refund").await;
    alice
        .until(WAIT, "assignment", |a| a.assigned.contains(&customer))
        .await;

    alice
        .send(&ClientFrame::Note {
            conversation: customer.clone(),
            client_id: "n1".into(),
            body: "VIP since 2019; order #123".into(),
        })
        .await;
    alice
        .until(WAIT, "the note's ack", |a| acked(a, "n1"))
        .await;
    alice
        .send(&ClientFrame::Reply {
            conversation: customer.clone(),
            client_id: "r1".into(),
            body: "Looking into it".into(),
            media: Vec::new(),
        })
        .await;
    // The reply, written after the note, reaches the phone alone.
    wait_for("the reply at the phone", WAIT, || async {
        let texts = texts_to(&sim, &customer).await;
        (!texts.is_empty()).then_some(())
    })
    .await;
    assert_eq!(texts_to(&sim, &customer).await, ["Looking into it"]);

    // Bob takes it over with a transfer note.
    let mut bob = sb.agent_with("bob", 1).await;
    alice
        .send(&ClientFrame::Transfer {
            conversation: customer.clone(),
            to: Some("bob".into()),
            note: Some("She wants the refund to her card".into()),
        })
        .await;
    let expected = [
        "I want a refund",
        "note by alice: VIP since 2019; order #123",
        "Looking into it",
        "[transferred from alice to bob] She wants the refund to her card",
    ];
    bob.until(WAIT, "the whole timeline at the new holder", |b| {
        b.timeline(&customer).len() >= expected.len()
    })
    .await;
    assert_eq!(bob.timeline(&customer), expected);
    // Notes and events are no texts: the routing helpers' view is unchanged.
    assert_eq!(
        bob.bodies(&customer),
        ["I want a refund", "Looking into it"]
    );

    // After STOP a note is still stored; a reply is refused.
    sb.text(&customer, "STOP").await;
    bob.until(WAIT, "the opt-out", |b| b.bodies(&customer).len() == 3)
        .await;
    bob.send(&ClientFrame::Note {
        conversation: customer.clone(),
        client_id: "n2".into(),
        body: "Opted out; call her instead".into(),
    })
    .await;
    bob.until(WAIT, "the note's ack", |b| acked(b, "n2")).await;
    bob.send(&ClientFrame::Reply {
        conversation: customer.clone(),
        client_id: "r2".into(),
        body: "Sorry!".into(),
        media: Vec::new(),
    })
    .await;
    bob.until(WAIT, "the refusal", |b| refused(b, "r2").is_some())
        .await;
    assert_eq!(refused(&bob, "r2"), Some(ErrorCode::OptedOut));
    // A note of someone else's conversation is refused like a reply.
    alice
        .send(&ClientFrame::Note {
            conversation: customer.clone(),
            client_id: "n3".into(),
            body: "not mine any more".into(),
        })
        .await;
    alice
        .until(WAIT, "the refusal", |a| refused(a, "n3").is_some())
        .await;
    assert_eq!(refused(&alice, "n3"), Some(ErrorCode::NotAssigned));

    // Resolving is recorded too; the customer comes back (START) and the
    // next holder is assigned the whole timeline with who did what.
    bob.send(&ClientFrame::Resolve {
        conversation: customer.clone(),
    })
    .await;
    bob.until(WAIT, "unassigned", |b| !b.assigned.contains(&customer))
        .await;
    // Only carol is left to take the customer's next text.
    alice.close().await;
    bob.close().await;
    let mut carol = sb.agent_with("carol", 1).await;
    sb.text(&customer, "START").await;
    carol
        .until(WAIT, "the resolve in the timeline", |c| {
            c.timeline(&customer)
                .contains(&"[resolved by bob]".to_string())
                && c.bodies(&customer).contains(&"START".to_string())
        })
        .await;
    assert!(carol
        .timeline(&customer)
        .contains(&"note by bob: Opted out; call her instead".to_string()));
    // Barrier: a later text reached carol, so everything before it was
    // sent; the phone got the one reply and nothing else from us.
    sb.barrier(&mut carol, &customer).await;
    assert_eq!(texts_to(&sim, &customer).await, ["Looking into it"]);
}

/// The newest canned list `agent` was sent, if any.
fn canned(agent: &Agent) -> Option<Vec<String>> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Canned { replies } => Some(
            replies
                .iter()
                .map(|r: &CannedReply| r.keyword.clone())
                .collect(),
        ),
        _ => None,
    })
}

fn canned_error(agent: &Agent) -> Option<String> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Error {
            code: ErrorCode::InvalidCanned,
            message,
            ..
        } => Some(message.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn canned_replies_are_shared_by_the_team_checked_and_sent_to_new_sessions() {
    let (sb, _sim) = system().await;
    let mut alice = sb.agent("alice").await;
    let mut bob = sb.agent("bob").await;
    alice
        .send(&ClientFrame::CannedSave {
            keyword: "Hello".into(),
            body: "Hi {customer}, this is {agent}.".into(),
            replaces: None,
        })
        .await;
    let hello = Some(vec!["hello".to_string()]);
    for agent in [&mut alice, &mut bob] {
        agent
            .until(WAIT, "the new list", |a| canned(a) == hello)
            .await;
    }
    let body = bob.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Canned { replies } => replies.first().cloned(),
        _ => None,
    });
    let body = body.expect("a canned reply");
    assert_eq!(body.body, "Hi {customer}, this is {agent}.");
    assert_eq!(body.updated_by.as_deref(), Some("alice"));

    // Refusals say why, to the editor only.
    bob.send(&ClientFrame::CannedSave {
        keyword: "two words".into(),
        body: "x".into(),
        replaces: None,
    })
    .await;
    bob.until(WAIT, "the refusal", |b| canned_error(b).is_some())
        .await;
    assert!(canned_error(&bob).is_some_and(|m| m.contains("keyword")));
    bob.send(&ClientFrame::CannedSave {
        keyword: "dear".into(),
        body: "Dear {name}".into(),
        replaces: None,
    })
    .await;
    bob.until(WAIT, "the placeholder refusal", |b| {
        canned_error(b).is_some_and(|m| m.contains("{name}"))
    })
    .await;

    // A rename by bob reaches alice; a new session starts with the list.
    bob.send(&ClientFrame::CannedSave {
        keyword: "hi".into(),
        body: "Hi {customer}!".into(),
        replaces: Some("hello".into()),
    })
    .await;
    let hi = Some(vec!["hi".to_string()]);
    alice.until(WAIT, "the rename", |a| canned(a) == hi).await;
    assert!(canned_error(&alice).is_none());
    let mut carol = sb.agent("carol").await;
    carol
        .until(WAIT, "the list after welcome", |c| canned(c) == hi)
        .await;
    let welcome_at = carol
        .frames
        .iter()
        .position(|f| matches!(f, ServerFrame::Welcome { .. }));
    let canned_at = carol
        .frames
        .iter()
        .position(|f| matches!(f, ServerFrame::Canned { .. }));
    assert!(welcome_at < canned_at, "{:?}", carol.frames);

    carol
        .send(&ClientFrame::CannedDelete {
            keyword: "hi".into(),
        })
        .await;
    for agent in [&mut alice, &mut bob, &mut carol] {
        agent
            .until(WAIT, "the empty list", |a| canned(a) == Some(vec![]))
            .await;
    }
}
