//! History as agents use it: resolved conversations stay findable through
//! the switchboard's `/v1/history/…` (search, the Resolved view, a
//! customer's past conversations, their messages), with agents' own
//! credentials, and a resolved conversation can be reopened by an agent.
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
