//! Automatic texts to a waiting customer (`QUEUE_SMS`, `BUSINESS_HOURS`):
//! what the customer's phone receives, and what the agent who takes the
//! conversation later sees in it. The phone simulator stands in for Twilio.

use crate::common;

use common::*;
use std::time::Duration;
use switchboard_protocol::{ClientFrame, ErrorCode, Message, ServerFrame};

const WAIT: Duration = Duration::from_secs(30);

async fn system(extra_env: Vec<(&str, &str)>) -> (Switchboard, PhoneSim) {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        extra_env: extra_env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
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

/// Waits until the phone got `n` texts to `to`; returns them.
async fn wait_texts(sim: &PhoneSim, to: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} text(s) to {to}"), WAIT, || async {
        let texts = texts_to(sim, to).await;
        (texts.len() >= n).then_some(texts)
    })
    .await
}

/// The automatic texts an agent was shown in a conversation.
fn automatic_of(agent: &Agent, conversation: &str) -> Vec<Message> {
    agent
        .messages
        .get(conversation)
        .map(|ms| ms.iter().filter(|m| m.is_automatic()).cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_customer_nobody_can_take_is_told_their_place_and_the_agent_sees_it() {
    let (sb, sim) = system(vec![("QUEUE_SMS", "true"), ("QUEUE_SMS_UPDATE_SECS", "0")]).await;
    let (first, second) = (number(1), number(2));
    // No agent online: both wait.
    assert_eq!(sb.text(&first, "my order is late").await.0, 200);
    assert_eq!(sb.text(&second, "hello?").await.0, 200);
    let to_first = wait_texts(&sim, &first, 1).await;
    let to_second = wait_texts(&sim, &second, 1).await;
    assert!(to_first[0].contains("number 1 in line"), "{to_first:?}");
    assert!(to_second[0].contains("number 2 in line"), "{to_second:?}");

    // The agent who takes it sees the automatic text in the conversation
    // (in the history it is assigned with, or right after it: with DynamoDB
    // the router may learn of the text from the stream a moment later).
    let mut alice = sb.agent_with("alice", 1).await;
    alice
        .until(WAIT, "the automatic text at the agent", |a| {
            !automatic_of(a, &first).is_empty()
        })
        .await;
    let automatic = automatic_of(&alice, &first);
    assert_eq!(automatic.len(), 1, "{:?}", alice.messages.get(&first));
    assert!(automatic[0].body.contains("number 1 in line"));
    assert_eq!(automatic[0].seq, 2, "after the customer's text");
    assert_eq!(alice.bodies(&first)[0], "my order is late");

    // A customer whose first text is STOP is never texted. The proof: an
    // agent's reply to that conversation goes through the same serial lane
    // after the automatic text would have, so once it is refused, that text
    // was stored or refused too.
    let stopped = number(3);
    assert_eq!(sb.text(&stopped, "STOP").await.0, 200);
    let mut bob = sb.agent_with("bob", 5).await;
    bob.until(WAIT, "the opted-out customer", |a| {
        a.assigned.contains(&stopped)
    })
    .await;
    bob.send(&ClientFrame::Reply {
        conversation: stopped.clone(),
        client_id: "after-stop".into(),
        body: "hello".into(),
        media: Vec::new(),
    })
    .await;
    bob.until_frame(WAIT, "the refusal", |f| {
        matches!(f, ServerFrame::Error { code: ErrorCode::OptedOut, client_id: Some(c), .. } if c == "after-stop")
    })
    .await;
    // And a later text of the customer's is the barrier for the stream (on
    // DynamoDB): a stored automatic text would have the seq before it.
    sb.barrier(&mut bob, &stopped).await;
    assert!(
        automatic_of(&bob, &stopped).is_empty(),
        "nothing but the customer's texts: {:?}",
        bob.messages.get(&stopped)
    );
    assert!(texts_to(&sim, &stopped).await.is_empty());
}

#[tokio::test]
async fn a_long_wait_brings_one_update() {
    let (sb, sim) = system(vec![("QUEUE_SMS", "true"), ("QUEUE_SMS_UPDATE_SECS", "1")]).await;
    let customer = number(11);
    assert_eq!(sb.text(&customer, "anyone there?").await.0, 200);
    let texts = wait_texts(&sim, &customer, 2).await;
    assert!(texts[0].contains("number 1 in line"), "{texts:?}");
    assert!(
        texts[1].contains("have not forgotten you") && texts[1].contains("number 1"),
        "{texts:?}"
    );
}

#[tokio::test]
async fn after_hours_the_customer_hears_when_the_team_is_back() {
    // Open one hour a week, three days from today (UTC): closed now.
    // 1970-01-01 was a Thursday (Monday = 0: 3).
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 86_400;
    let today = (days + 3) % 7;
    let day = (today + 3) % 7;
    let name = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][day as usize];
    let full = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ][day as usize];
    let hours = format!("{name} 09:00-10:00");
    let (sb, sim) = system(vec![
        ("QUEUE_SMS", "true"),
        ("BUSINESS_HOURS", hours.as_str()),
        ("BUSINESS_TZ", "UTC"),
    ])
    .await;
    let customer = number(21);
    assert_eq!(sb.text(&customer, "are you open?").await.0, 200);
    let texts = wait_texts(&sim, &customer, 1).await;
    assert!(
        texts[0].contains(&format!("back {full} 09:00 (UTC)")),
        "{texts:?}"
    );
    // Only the after-hours text: the agent sees it, and after a later text
    // of the customer's (the barrier) still only it.
    let mut alice = sb.agent_with("alice", 1).await;
    alice
        .until(WAIT, "the automatic text at the agent", |a| {
            !automatic_of(a, &customer).is_empty()
        })
        .await;
    sb.barrier(&mut alice, &customer).await;
    let automatic: Vec<String> = automatic_of(&alice, &customer)
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(automatic, texts, "one automatic text, the after-hours one");
}
