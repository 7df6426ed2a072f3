//! No reply is sent twice, even across a `kill -9`: the outbox records its
//! intent to send before each reply's first POST, and a reply whose POST
//! may have reached Twilio is looked for in Twilio's Messages list before
//! it is sent again. The phone simulator stands in for Twilio, with a fault
//! that accepts a message and then never answers.
//!
//! "Exactly once" is read from the stand-in after the agent saw the
//! reply's final status: that status is recorded in the same write that
//! takes the reply out of the outbox, so no send of it can follow.

use crate::common;

use common::*;
use std::time::{Duration, Instant};
use switchboard_protocol::{ClientFrame, DeliveryStatus, ServerFrame};

/// Generous: with several switchboards (DynamoDB) a reply left with an
/// intent is checked only once an earlier POST must have landed (20 s).
const WAIT: Duration = Duration::from_secs(60);

fn status_of(agent: &Agent, seq: u64) -> Option<DeliveryStatus> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Status { seq: s, status, .. } if *s == seq => Some(*status),
        _ => None,
    })
}

/// An agent with a fresh conversation and one reply in it (seq 2), acknowledged.
async fn one_reply(sb: &Switchboard, customer: &str, body: &str) -> Agent {
    let mut alice = sb.agent("alice").await;
    sb.text(customer, "hi, I need help").await;
    alice
        .until(WAIT, "the conversation", |a| a.assigned.contains(customer))
        .await;
    alice
        .send(&ClientFrame::Reply {
            conversation: customer.into(),
            client_id: "r1".into(),
            body: body.into(),
            media: Vec::new(),
        })
        .await;
    alice
        .until_frame(
            WAIT,
            "ack",
            |f| matches!(f, ServerFrame::Ack { client_id, seq: 2, .. } if client_id == "r1"),
        )
        .await;
    alice
}

/// What the stand-in was asked to send to `customer`, as bodies.
async fn sent_to(sim: &PhoneSim, customer: &str) -> Vec<String> {
    sim.sent()
        .await
        .into_iter()
        .filter(|m| m["to"] == customer)
        .map(|m| m["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn wait_until_sent(sim: &PhoneSim, customer: &str, body: &str) {
    let deadline = Instant::now() + WAIT;
    while !sent_to(sim, customer).await.iter().any(|b| b == body) {
        assert!(Instant::now() < deadline, "the stand-in never got {body:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After a restart: the agent resumes and waits for the reply's final status.
async fn final_status_after_restart(sb: &Switchboard, customer: &str) -> DeliveryStatus {
    let mut alice =
        Agent::connect(sb, "alice", [(customer.to_string(), 2)].into(), None, None).await;
    alice
        .until(WAIT, "the reply's status settles", |a| {
            matches!(
                status_of(a, 2),
                Some(DeliveryStatus::Sent | DeliveryStatus::Delivered)
            )
        })
        .await;
    status_of(&alice, 2).unwrap_or(DeliveryStatus::Queued)
}

#[tokio::test]
async fn a_reply_twilio_accepted_just_before_kill_9_is_not_sent_again() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let mut sb = Switchboard::start(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    // Twilio accepts the reply, and its answer never comes back.
    sim.faults(serde_json::json!([{ "status": 201, "hold_response": true }]))
        .await;
    let customer = number(901);
    let alice = one_reply(&sb, &customer, "your order ships today").await;
    wait_until_sent(&sim, &customer, "your order ships today").await;
    assert_eq!(sim.pending_faults().await, 0, "the held answer was used");
    // Killed while waiting for Twilio's answer: the SID was never recorded.
    sb.kill9();
    drop(alice);

    sb.spawn().await;
    let status = final_status_after_restart(&sb, &customer).await;
    assert!(
        matches!(status, DeliveryStatus::Sent | DeliveryStatus::Delivered),
        "{status:?}"
    );
    assert_eq!(
        sent_to(&sim, &customer).await,
        ["your order ships today"],
        "the customer got the reply exactly once"
    );
    let log = sb.log();
    assert!(
        log.contains("the reply was already at Twilio"),
        "the restart found it in Twilio's list; log:\n{log}"
    );
}

#[tokio::test]
async fn a_reply_whose_post_never_reached_twilio_is_sent_once_after_kill_9() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    // First life: nothing listens at Twilio's address, so the intent is
    // recorded and every POST fails before reaching anyone.
    let mut sb = Switchboard::start(Options::default()).await;
    let customer = number(902);
    let alice = one_reply(&sb, &customer, "we are on it").await;
    let deadline = Instant::now() + WAIT;
    while !sb.log().contains("Twilio send failed; retrying") {
        assert!(
            Instant::now() < deadline,
            "no send was tried; log:\n{}",
            sb.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sb.kill9();
    drop(alice);

    // Second life: Twilio is back; the reply is looked for, not found, sent.
    for (k, v) in sb.env.iter_mut() {
        if k == "TWILIO_API_BASE" {
            *v = sim.base.clone();
        }
    }
    sb.spawn().await;
    let status = final_status_after_restart(&sb, &customer).await;
    assert!(
        matches!(status, DeliveryStatus::Sent | DeliveryStatus::Delivered),
        "{status:?}"
    );
    assert_eq!(sent_to(&sim, &customer).await, ["we are on it"]);
    let log = sb.log();
    assert!(
        log.contains("the reply is not at Twilio; sending it"),
        "the restart checked Twilio's list first; log:\n{log}"
    );
}

/// Without a crash: Twilio's answer is lost (the client times out), and the
/// retry looks first instead of POSTing again.
#[tokio::test]
async fn a_reply_whose_answer_was_lost_is_found_not_resent() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let sb = Switchboard::start(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    sim.faults(serde_json::json!([{ "status": 201, "hold_response": true }]))
        .await;
    let customer = number(903);
    let mut alice = one_reply(&sb, &customer, "refund issued").await;
    wait_until_sent(&sim, &customer, "refund issued").await;
    assert_eq!(sim.pending_faults().await, 0, "the held answer was used");
    // The client's timeout ends the wait; the status then comes from the list.
    alice
        .until(Duration::from_secs(60), "the reply's status settles", |a| {
            matches!(
                status_of(a, 2),
                Some(DeliveryStatus::Sent | DeliveryStatus::Delivered)
            )
        })
        .await;
    assert_eq!(sent_to(&sim, &customer).await, ["refund issued"]);
    let log = sb.log();
    assert!(
        log.contains("the reply was already at Twilio"),
        "the retry found it in Twilio's list; log:\n{log}"
    );
}
