//! Replies from agents to customers: the durable outbox, Twilio's answers
//! (retries, refusals), delivery-status callbacks and opt-out rules, with the
//! phone simulator standing in for Twilio.

use crate::common;

use common::*;
use std::time::Duration;
use switchboard_protocol::{ClientFrame, DeliveryStatus, ErrorCode, ServerFrame};

/// Generous: with DynamoDB on an emulator on a busy machine, each reply is
/// several round trips to a Python process.
const WAIT: Duration = Duration::from_secs(60);

async fn system(delivery_delay_ms: u64) -> (Switchboard, PhoneSim) {
    // Customers' texts are posted by the tests themselves, so the sim's own
    // webhook URL is never used here.
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", delivery_delay_ms).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    (sb, sim)
}

fn status_of(agent: &Agent, seq: u64) -> Option<DeliveryStatus> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Status { seq: s, status, .. } if *s == seq => Some(*status),
        _ => None,
    })
}

async fn reply(agent: &mut Agent, conversation: &str, client_id: &str, body: &str) {
    agent
        .send(&ClientFrame::Reply {
            conversation: conversation.into(),
            client_id: client_id.into(),
            body: body.into(),
            media: Vec::new(),
        })
        .await;
}

async fn assigned_conversation(sb: &Switchboard, agent: &mut Agent, customer: &str) {
    sb.text(customer, "hi, I need help").await;
    agent
        .until(WAIT, "the conversation", |a| a.assigned.contains(customer))
        .await;
}

#[tokio::test]
async fn a_reply_is_sent_through_twilio_and_its_status_reaches_delivered() {
    let (sb, sim) = system(100).await;
    let mut alice = sb.agent("alice").await;
    let customer = number(1);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(&mut alice, &customer, "r1", "Hello! How can we help? 🙂").await;
    alice
        .until_frame(
            WAIT,
            "ack",
            |f| matches!(f, ServerFrame::Ack { client_id, seq: 2, .. } if client_id == "r1"),
        )
        .await;
    alice
        .until(WAIT, "delivered", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Delivered)
        })
        .await;
    // The agent saw its own reply as message 2 of the conversation.
    let outbound = &alice.messages[&customer][1];
    assert_eq!(outbound.body, "Hello! How can we help? 🙂");
    assert_eq!(outbound.agent.as_deref(), Some("alice"));
    // Twilio was sent exactly this, once.
    let sent = sim.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], customer.as_str());
    assert_eq!(sent[0]["from"], TWILIO_NUMBER);
    assert_eq!(sent[0]["body"], "Hello! How can we help? 🙂");
    assert_eq!(
        sent[0]["status_callback"],
        sb.url("/twilio/status").as_str()
    );

    // Replaying the same client_id stores and sends nothing new.
    reply(&mut alice, &customer, "r1", "Hello! How can we help? 🙂").await;
    alice
        .until(WAIT, "second ack", |a| {
            a.frames
                .iter()
                .filter(|f| matches!(f, ServerFrame::Ack { .. }))
                .count()
                == 2
        })
        .await;
    // Barrier: a new reply goes out after anything queued before it.
    reply(&mut alice, &customer, "r2", "Anything else?").await;
    let sent_now = wait_for("the second reply at Twilio", WAIT, async || {
        let sent = sim.sent().await;
        sent.iter()
            .any(|m| m["body"] == "Anything else?")
            .then_some(sent)
    })
    .await;
    let bodies: Vec<&str> = sent_now.iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, ["Hello! How can we help? 🙂", "Anything else?"]);

    // A late `sent` callback never moves `delivered` backwards.
    let sid = sent[0]["sid"].as_str().unwrap().to_string();
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "sent"),
        ("To", customer.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (status, _) = sb.post_signed("/twilio/status", &params).await;
    assert!(status < 300);
    // Barrier: a later callback (the second reply read) reaches the agent
    // after whatever the late one caused.
    let second_sid = sent_now[1]["sid"].as_str().unwrap().to_string();
    let read: Vec<(String, String)> = [
        ("MessageSid", second_sid.as_str()),
        ("MessageStatus", "read"),
        ("To", customer.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(sb.post_signed("/twilio/status", &read).await.0 < 300);
    alice
        .until(WAIT, "the second reply read", |a| {
            status_of(a, 3) == Some(DeliveryStatus::Read)
        })
        .await;
    assert_eq!(status_of(&alice, 2), Some(DeliveryStatus::Delivered));
    // And an unsigned callback is refused.
    assert_eq!(sb.post_form("/twilio/status", &params, None).await.0, 403);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_until_twilio_accepts() {
    let (sb, sim) = system(50).await;
    sim.faults(serde_json::json!([{"status": 429, "retry_after_secs": 1}, {"status": 503}]))
        .await;
    let mut alice = sb.agent("alice").await;
    let customer = number(2);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(&mut alice, &customer, "r1", "persistence pays").await;
    alice
        .until(Duration::from_secs(20), "delivered", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Delivered)
        })
        .await;
    let sent = sim.sent().await;
    assert_eq!(sent.len(), 1, "accepted once after two refusals: {sent:?}");
    assert_eq!(sim.pending_faults().await, 0, "both refusals were used");
}

#[tokio::test]
async fn a_refusal_marks_the_reply_failed_with_twilios_code_and_21610_opts_the_customer_out() {
    let (sb, sim) = system(50).await;
    sim.faults(serde_json::json!([
        {"status": 400, "code": 21211, "message": "The 'To' number is not a valid phone number."},
        {"status": 400, "code": 21610, "message": "Attempt to send to unsubscribed recipient"}
    ]))
    .await;
    let mut alice = sb.agent("alice").await;
    let customer = number(3);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(&mut alice, &customer, "r1", "first").await;
    alice
        .until(WAIT, "failed", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Failed)
        })
        .await;
    let error = alice.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Status { seq: 2, error, .. } => error.clone(),
        _ => None,
    });
    let error = error.expect("a failure carries its reason");
    assert_eq!(error.code, Some(21211));
    assert!(
        error.message.contains("not a valid phone number"),
        "{error:?}"
    );

    reply(&mut alice, &customer, "r2", "second").await;
    alice
        .until_frame(WAIT, "opt-out", |f| {
            matches!(
                f,
                ServerFrame::OptOut {
                    opted_out: true,
                    ..
                }
            )
        })
        .await;
    alice
        .until(WAIT, "failed", |a| {
            status_of(a, 3) == Some(DeliveryStatus::Failed)
        })
        .await;

    // From now on replies are refused before reaching Twilio.
    reply(&mut alice, &customer, "r3", "third").await;
    alice
        .until_frame(WAIT, "opted-out error", |f| matches!(f, ServerFrame::Error { code: ErrorCode::OptedOut, client_id: Some(c), .. } if c == "r3"))
        .await;
    assert!(sim.sent().await.is_empty(), "Twilio accepted nothing");
    assert_eq!(sim.pending_faults().await, 0, "both refusals were used");
}

#[tokio::test]
async fn stop_and_start_keywords_control_what_may_be_sent() {
    let (sb, sim) = system(50).await;
    let mut alice = sb.agent("alice").await;
    let customer = number(4);
    assigned_conversation(&sb, &mut alice, &customer).await;
    sb.text(&customer, "STOP").await;
    alice
        .until_frame(WAIT, "opt-out", |f| {
            matches!(
                f,
                ServerFrame::OptOut {
                    opted_out: true,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        alice.bodies(&customer).last().map(String::as_str),
        Some("STOP"),
        "the agent sees the keyword"
    );
    reply(&mut alice, &customer, "r1", "are you sure?").await;
    alice
        .until_frame(WAIT, "opted-out error", |f| matches!(f, ServerFrame::Error { code: ErrorCode::OptedOut, message, .. } if message.contains("STOP")))
        .await;
    sb.text(&customer, "start").await;
    alice
        .until_frame(WAIT, "opt-in", |f| {
            matches!(
                f,
                ServerFrame::OptOut {
                    opted_out: false,
                    ..
                }
            )
        })
        .await;
    reply(&mut alice, &customer, "r2", "welcome back").await;
    alice
        .until_frame(WAIT, "delivered", |f| {
            matches!(
                f,
                ServerFrame::Status {
                    status: DeliveryStatus::Delivered,
                    ..
                }
            )
        })
        .await;
    let sent = sim.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["body"], "welcome back");
}

#[tokio::test]
async fn a_reply_accepted_before_a_crash_is_sent_after_restart() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    // First life: Twilio unreachable, so the reply waits in the outbox.
    let mut sb = Switchboard::start(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let customer = number(5);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(&mut alice, &customer, "r1", "you will get this").await;
    alice
        .until(WAIT, "ack", |a| {
            a.frames
                .iter()
                .any(|f| matches!(f, ServerFrame::Ack { .. }))
        })
        .await;
    sb.kill9();
    drop(alice);
    // Second life: Twilio is back.
    for (k, v) in sb.env.iter_mut() {
        if k == "TWILIO_API_BASE" {
            *v = sim.base.clone();
        }
    }
    sb.spawn().await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let sent = sim.sent().await;
        if sent.len() == 1 {
            assert_eq!(sent[0]["body"], "you will get this");
            break;
        }
        assert!(sent.len() < 2, "sent twice: {sent:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the reply was never sent after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The resumed agent sees it delivered.
    let mut alice = Agent::connect(&sb, "alice", [(customer.clone(), 2)].into(), None, None).await;
    alice
        .until(WAIT, "delivered", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Delivered)
        })
        .await;
}

/// Twilio's own OpenAPI description, served by Prism, validates every request
/// the switchboard sends: the start-up webhook registration and the replies.
#[tokio::test]
async fn requests_to_twilio_pass_its_openapi_validation() {
    let prism = std::env::var("PRISM_URL")
        .expect("PRISM_URL is not set: run scripts/test.sh, which starts Prism with Twilio's OpenAPI description");
    let sb = Switchboard::start(Options {
        twilio_api_base: prism,
        extra_env: vec![(
            "TWILIO_PHONE_NUMBER_SID".into(),
            "PN0123456789abcdef0123456789abcdef".into(),
        )],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent("alice").await;
    let customer = number(6);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(
        &mut alice,
        &customer,
        "p1",
        "Validated by Twilio's spec ✓ + & = ?",
    )
    .await;
    // Prism answers the spec's example (status "queued") only when the
    // request is valid; anything else would come back as a 4xx and fail it.
    alice
        .until(WAIT, "accepted by Prism", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Sending)
        })
        .await;
    // Polls the log for the registration: a generous bound, not a deadline.
    let registered = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        sb.log()
            .contains("Twilio number now sends its messages here")
    });
    assert!(registered, "webhook registration failed:\n{}", sb.log());
}

#[tokio::test]
async fn during_a_token_rotation_rest_calls_still_use_the_primary_token() {
    // The stand-in for Twilio accepts only the primary token (AUTH_TOKEN) on
    // its REST API; a reply sent with the secondary would be refused (401).
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        extra_env: vec![(
            "TWILIO_SECONDARY_AUTH_TOKEN".into(),
            "the-promoted-token".into(),
        )],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent("alice").await;
    let customer = number(1);
    assigned_conversation(&sb, &mut alice, &customer).await;
    reply(&mut alice, &customer, "r1", "sent with the primary").await;
    alice
        .until(WAIT, "delivered", |a| {
            status_of(a, 2) == Some(DeliveryStatus::Delivered)
        })
        .await;
    let sent = sim.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"], "sent with the primary");
}

// Several worker threads, so replies stored from separate tasks could
// really overtake each other (the lanes' own unit test shows it
// deterministically).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_sent_back_to_back_are_stored_in_the_order_sent() {
    let (sb, _sim) = system(0).await;
    let mut alice = sb.agent("alice").await;
    let customer = number(1);
    assigned_conversation(&sb, &mut alice, &customer).await;
    // Many replies without waiting for acks: each is stored by the router
    // off its loop, so without ordering per conversation a later one could
    // take an earlier seq.
    const REPLIES: u64 = 40;
    for i in 0..REPLIES {
        reply(
            &mut alice,
            &customer,
            &format!("r{i}"),
            &format!("reply {i:02}"),
        )
        .await;
    }
    alice
        .until(WAIT, "every ack", |a| {
            a.frames
                .iter()
                .filter(|f| matches!(f, ServerFrame::Ack { .. }))
                .count() as u64
                == REPLIES
        })
        .await;
    // Acks carry the seq each reply was stored at: reply i is message i + 2.
    let acked: Vec<(String, u64)> = alice
        .frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Ack { client_id, seq, .. } => Some((client_id.clone(), *seq)),
            _ => None,
        })
        .collect();
    for (client_id, seq) in &acked {
        let i: u64 = client_id[1..].parse().expect("client id r<i>");
        assert_eq!(*seq, i + 2, "{client_id} stored out of order: {acked:?}");
    }
    // And the agent is shown them in that order.
    alice
        .until(WAIT, "every reply shown", |a| {
            a.bodies(&customer).len() as u64 == REPLIES + 1
        })
        .await;
    let expected: Vec<String> = std::iter::once("hi, I need help".to_string())
        .chain((0..REPLIES).map(|i| format!("reply {i:02}")))
        .collect();
    assert_eq!(alice.bodies(&customer), expected);
}
