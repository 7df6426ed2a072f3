//! History as agents use it: resolved conversations stay findable through
//! the switchboard's `/v1/history/…` (search, the Resolved view, a
//! customer's past conversations, their messages), with agents' own
//! credentials, and a resolved conversation can be reopened by an agent;
//! a supervisor reads the team's figures (`/v1/history/stats`).
//! Part of the core suite: the test command runs it on sled and DynamoDB.

use crate::common;

use common::*;
use serde_json::Value;
use std::time::Duration;
use switchboard_protocol::{ClientFrame, ErrorCode, ServerFrame, UnassignReason};

/// Bounds on waiting for events; never a pass mark.
const WAIT: Duration = Duration::from_secs(60);

/// `GET path` as `agent` (password `<agent>-pw`): status and JSON body.
async fn get_as(sb: &Switchboard, agent: &str, path: &str) -> (u16, Value) {
    let res = sb
        .http
        .get(sb.url(path))
        .basic_auth(agent, Some(format!("{agent}-pw")))
        .send()
        .await
        .expect("history request");
    let status = res.status().as_u16();
    let body = res.text().await.expect("history body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_resolved_conversation_is_found_by_words_and_number_and_reopened() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let customer = number(700);
    let mut alice = sb.agent("alice").await;
    sb.text(&customer, "My parcel never arrived").await;
    alice
        .until(WAIT, "the customer", |a| a.assigned.contains(&customer))
        .await;
    alice
        .send(&ClientFrame::Resolve {
            conversation: customer.clone(),
        })
        .await;
    alice
        .until_frame(WAIT, "resolved", |f| {
            matches!(
                f,
                ServerFrame::Unassigned {
                    reason: UnassignReason::Resolved,
                    ..
                }
            )
        })
        .await;

    // alice's Resolved view lists it, with who resolved it, once the
    // router's resolve is durable.
    let resolved = wait_for("the resolve in alice's Resolved view", WAIT, async || {
        let (status, body) = get_as(&sb, "alice", "/v1/history/resolved?mine=true").await;
        assert_eq!(status, 200, "{body}");
        items(&body)
            .into_iter()
            .find(|p| p["conversation"] == customer.as_str())
    })
    .await;
    assert_eq!(resolved["resolved_by"], "alice");
    assert_eq!(resolved["messages"], 1);
    // bob's own view does not have it; the team's does.
    let (_, bobs) = get_as(&sb, "bob", "/v1/history/resolved?mine=true").await;
    assert!(items(&bobs).is_empty(), "{bobs}");
    let (_, team) = get_as(&sb, "bob", "/v1/history/resolved").await;
    assert_eq!(items(&team).len(), 1, "{team}");

    // Any agent finds it by a word (any case) or by the number.
    let (status, found) = get_as(&sb, "bob", "/v1/history/search?q=PARCEL").await;
    assert_eq!(status, 200, "{found}");
    let hits = items(&found);
    assert_eq!(hits.len(), 1, "{found}");
    assert_eq!(hits[0]["body"], "My parcel never arrived");
    let digits = &customer[customer.len() - 7..];
    let (_, by_number) = get_as(&sb, "bob", &format!("/v1/history/search?q={digits}")).await;
    assert!(
        items(&by_number)
            .iter()
            .any(|m| m["conversation"] == customer.as_str()),
        "{by_number}"
    );
    let encoded = customer.replace('+', "%2B");
    let (_, past) = get_as(&sb, "bob", &format!("/v1/history/customer/{encoded}")).await;
    assert_eq!(items(&past).len(), 1, "{past}");
    let (_, messages) = get_as(
        &sb,
        "bob",
        &format!("/v1/history/messages/{encoded}?after=0&upto=1"),
    )
    .await;
    assert_eq!(items(&messages)[0]["body"], "My parcel never arrived");

    // Strangers get nothing; nonsense is refused, not searched.
    let res = sb
        .http
        .get(sb.url("/v1/history/search?q=parcel"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    let (status, _) = get_as(&sb, "bob", "/v1/history/search?q=%3F").await;
    assert_eq!(status, 400);

    // bob reopens it: it is his, with its history.
    let mut bob = sb.agent("bob").await;
    bob.send(&ClientFrame::Reopen {
        conversation: customer.clone(),
    })
    .await;
    bob.until(WAIT, "the reopened conversation", |b| {
        b.assigned.contains(&customer)
    })
    .await;
    assert_eq!(bob.bodies(&customer), vec!["My parcel never arrived"]);
    // It is not resolved any more: alice cannot reopen it.
    alice
        .send(&ClientFrame::Reopen {
            conversation: customer.clone(),
        })
        .await;
    alice
        .until_frame(WAIT, "the refusal", |f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::ReopenRejected,
                    ..
                }
            )
        })
        .await;
    // The customer's next text reaches bob.
    sb.text(&customer, "Still nothing").await;
    bob.until(WAIT, "the customer's next text", |b| {
        b.bodies(&customer).contains(&"Still nothing".to_string())
    })
    .await;
    assert!(!alice.assigned.contains(&customer));
}

/// Replies and waits until the agent sees its reply in `conversation`.
async fn reply_and_see(agent: &mut Agent, conversation: &str, id: &str, body: &str) {
    agent
        .send(&ClientFrame::Reply {
            conversation: conversation.to_string(),
            client_id: id.into(),
            body: body.into(),
            media: Vec::new(),
        })
        .await;
    agent
        .until(WAIT, "the agent's own reply", |a| {
            a.bodies(conversation).contains(&body.to_string())
        })
        .await;
}

/// Resolves and waits for the agent to be told.
async fn resolve(agent: &mut Agent, conversation: &str) {
    agent
        .send(&ClientFrame::Resolve {
            conversation: conversation.to_string(),
        })
        .await;
    agent
        .until(WAIT, "the resolve", |a| !a.assigned.contains(conversation))
        .await;
}

/// The sum of one figure over every bucket of a stats report.
fn total(report: &Value, figure: &str) -> u64 {
    report["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b[figure].as_u64().unwrap_or(0))
        .sum()
}

/// The buckets with resolves in them (the test's conversations are
/// resolved within a minute: one bucket, or two across an hour's end).
fn busy_buckets(report: &Value) -> Vec<Value> {
    report["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter(|b| b["resolved"].as_u64().unwrap_or(0) > 0)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_supervisor_reads_the_teams_figures_of_resolved_conversations() {
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("SUPERVISORS".into(), "carol".into())],
        ..Options::default()
    })
    .await;
    let (angry, quiet) = (number(710), number(711));
    let mut alice = sb.agent("alice").await;

    // An answered conversation: a negative text, alice's reply, a happy one.
    sb.text(&angry, "This is terrible, my parcel never arrived")
        .await;
    alice
        .until(WAIT, "the customer", |a| a.assigned.contains(&angry))
        .await;
    reply_and_see(&mut alice, &angry, "f1", "Sorry! Sending a new one today").await;
    sb.text(&angry, "Thanks so much, great help").await;
    alice
        .until(WAIT, "the thanks", |a| a.bodies(&angry).len() == 3)
        .await;
    resolve(&mut alice, &angry).await;
    // One resolved without an answer: no first response.
    sb.text(&quiet, "hello").await;
    alice
        .until(WAIT, "the second customer", |a| a.assigned.contains(&quiet))
        .await;
    resolve(&mut alice, &quiet).await;
    // bob reopens the first one, writes, and resolves it again: a
    // conversation of his own, starting at the reopening.
    let mut bob = sb.agent("bob").await;
    bob.send(&ClientFrame::Reopen {
        conversation: angry.clone(),
    })
    .await;
    bob.until(WAIT, "the reopened conversation", |b| {
        b.assigned.contains(&angry)
    })
    .await;
    reply_and_see(&mut bob, &angry, "f2", "Did it arrive?").await;
    resolve(&mut bob, &angry).await;

    // carol, a supervisor, sees the three once the resolves are stored.
    let report = wait_for("three resolves in the figures", WAIT, async || {
        let (status, report) = get_as(&sb, "carol", "/v1/history/stats?span=hours").await;
        assert_eq!(status, 200, "{report}");
        (total(&report, "resolved") == 3).then_some(report)
    })
    .await;
    assert_eq!(report["span"], "hours");
    assert_eq!(report["buckets"].as_array().map(Vec::len), Some(24));
    assert_eq!(report["agents"], serde_json::json!(["alice", "bob"]));
    assert_eq!(report["truncated"], false);
    // Texts of customers: three with words, one of them negative.
    assert_eq!(total(&report, "customer_texts"), 3);
    assert_eq!(total(&report, "negative_texts"), 1);

    // The one first response is the stored reply's time minus the text's.
    let encoded = angry.replace('+', "%2B");
    let (_, stored) = get_as(
        &sb,
        "carol",
        &format!("/v1/history/messages/{encoded}?after=0"),
    )
    .await;
    let at = |i: usize| items(&stored)[i]["at_ms"].as_u64().expect("at_ms");
    let expected = at(1) - at(0);
    let busy = busy_buckets(&report);
    let responses: Vec<&Value> = busy
        .iter()
        .map(|b| &b["first_response"])
        .filter(|s| !s.is_null())
        .collect();
    assert_eq!(responses.len(), 1, "{report}");
    assert_eq!(responses[0]["count"], 1);
    assert_eq!(responses[0]["median_ms"].as_u64(), Some(expected));
    assert_eq!(responses[0]["p90_ms"].as_u64(), Some(expected));
    let resolves: u64 = busy
        .iter()
        .map(|b| b["resolve"]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(resolves, 3);
    let handled = |agent: &str| -> u64 {
        busy.iter()
            .map(|b| b["per_agent"][agent].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!((handled("alice"), handled("bob")), (2, 1));

    // By day, with an offset: the same conversations, in today's bucket.
    let (status, days) = get_as(&sb, "carol", "/v1/history/stats?span=days&offset=-300").await;
    assert_eq!(status, 200, "{days}");
    assert_eq!(days["buckets"].as_array().map(Vec::len), Some(14));
    assert_eq!(total(&days, "resolved"), 3);
    assert_eq!(total(&days, "negative_texts"), 1);

    // Only supervisors: alice is refused, strangers challenged, nonsense refused.
    let (status, _) = get_as(&sb, "alice", "/v1/history/stats").await;
    assert_eq!(status, 403);
    let res = sb
        .http
        .get(sb.url("/v1/history/stats"))
        .basic_auth("carol", Some("wrong"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    let (status, _) = get_as(&sb, "carol", "/v1/history/stats?span=weeks").await;
    assert_eq!(status, 400);
    let (status, _) = get_as(&sb, "carol", "/v1/history/stats?offset=9999").await;
    assert_eq!(status, 400);
}
