//! The inbound webhook as Twilio and attackers see it: signatures, retries,
//! bad input, and the original's ping and path.

use crate::common;

use common::*;
use std::time::Duration;
use switchboard_protocol::ServerFrame;

#[tokio::test]
async fn signed_message_reaches_an_agent_and_answers_empty_twiml() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let (status, body) = sb.text(&number(1), "hello there").await;
    assert_eq!(status, 200);
    assert!(body.contains("<Response/>"), "{body}");
    alice
        .until(Duration::from_secs(5), "the message", |a| {
            a.received_count() == 1
        })
        .await;
    assert_eq!(alice.bodies(&number(1)), vec!["hello there"]);
    let resp = sb.http.get(sb.url("/")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "Switchboard is active");
}

#[tokio::test]
async fn forged_missing_and_wrong_url_signatures_are_refused_and_nothing_is_stored() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let params = inbound_params(&new_sid(), &number(2), "forged");

    let (status, _) = sb.post_form("/twilio/sms", &params, None).await;
    assert_eq!(status, 403, "missing signature");

    let forged =
        switchboard::twilio::signature::compute("not-the-token", &sb.url("/twilio/sms"), &params);
    let (status, _) = sb.post_form("/twilio/sms", &params, Some(&forged)).await;
    assert_eq!(status, 403, "signed with the wrong token");

    let wrong_url = switchboard::twilio::signature::compute(
        AUTH_TOKEN,
        "https://elsewhere.example/twilio/sms",
        &params,
    );
    let (status, body) = sb.post_form("/twilio/sms", &params, Some(&wrong_url)).await;
    assert_eq!(status, 403, "signed for another URL");
    assert!(
        body.contains("PUBLIC_URL"),
        "the refusal explains itself: {body}"
    );

    let mut tampered = params.clone();
    let good = switchboard::twilio::signature::compute(AUTH_TOKEN, &sb.url("/twilio/sms"), &params);
    tampered[5].1 = "tampered body".into();
    let (status, _) = sb.post_form("/twilio/sms", &tampered, Some(&good)).await;
    assert_eq!(status, 403, "body changed after signing");

    // A valid one afterwards is the only thing the agent ever sees.
    assert_eq!(sb.text(&number(3), "genuine").await.0, 200);
    alice
        .until(Duration::from_secs(5), "the genuine message", |a| {
            a.received_count() == 1
        })
        .await;
    sb.barrier(&mut alice, &number(3)).await;
    assert_eq!(
        alice.received_count(),
        2,
        "the genuine text and the barrier"
    );
    assert!(!alice.messages.contains_key(&number(2)));
}

#[tokio::test]
async fn twilio_retries_of_one_message_sid_are_stored_once() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let params = inbound_params(&new_sid(), &number(4), "only once");
    for _ in 0..5 {
        assert_eq!(sb.post_signed("/twilio/sms", &params).await.0, 200);
    }
    // The legacy path is the same endpoint.
    assert_eq!(sb.post_signed("/smswebhook", &params).await.0, 200);
    assert_eq!(sb.text(&number(4), "second").await.0, 200);
    alice
        .until(Duration::from_secs(5), "two messages", |a| {
            a.received_count() == 2
        })
        .await;
    sb.barrier(&mut alice, &number(4)).await;
    let seqs: Vec<u64> = alice.messages[&number(4)].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(alice.bodies(&number(4))[..2], ["only once", "second"]);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_the_server_keeps_serving() {
    // A small limit, so an oversized request still arrives in one read: a
    // server that refuses a large body mid-upload may reset the connection
    // before the client has sent it all, which would make this test racy.
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("MAX_WEBHOOK_BYTES".into(), "1024".into())],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent("alice").await;

    // Oversized body.
    let huge = "x".repeat(1500);
    let (status, body) = sb.text(&number(5), &huge).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("1024"), "the refusal names the limit: {body}");

    // Missing From.
    let mut params = inbound_params(&new_sid(), &number(5), "no from");
    params.retain(|(k, _)| k != "From");
    let (status, body) = sb.post_signed("/twilio/sms", &params).await;
    assert_eq!(status, 400);
    assert!(body.contains("From"), "{body}");

    // Missing MessageSid.
    let mut params = inbound_params(&new_sid(), &number(5), "no sid");
    params.retain(|(k, _)| k != "MessageSid");
    let (status, body) = sb.post_signed("/twilio/sms", &params).await;
    assert_eq!(status, 400);
    assert!(body.contains("MessageSid"), "{body}");

    // Not E.164.
    let (status, body) = sb.text("555-1234", "local format").await;
    assert_eq!(status, 400);
    assert!(body.contains("E.164"), "{body}");

    // Invalid UTF-8 once decoded (signed, so only the encoding is wrong).
    let raw = format!(
        "MessageSid={}&From=%2B15551000005&To=%2B15550009999&Body=%FF%FE",
        new_sid()
    );
    let resp = sb
        .http
        .post(sb.url("/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "irrelevant")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("UTF-8"));

    // Wrong content type.
    let resp = sb
        .http
        .post(sb.url("/twilio/sms"))
        .json(&serde_json::json!({"Body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);

    // Still alive, and nothing of the above was stored.
    assert_eq!(sb.text(&number(6), "still here").await.0, 200);
    alice
        .until(Duration::from_secs(5), "the valid message", |a| {
            a.received_count() == 1
        })
        .await;
    sb.barrier(&mut alice, &number(6)).await;
    assert_eq!(alice.received_count(), 2, "the valid text and the barrier");
}

#[tokio::test]
async fn bad_percent_encoding_in_a_signed_body_is_refused_and_not_stored() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let from = number(7);
    for bad in ["%zz", "%", "%4", "100%"] {
        // Signed over the parameters a lenient decoder would read (the bad
        // escape kept as it is), so only strict decoding can refuse it.
        let mut params = inbound_params(&new_sid(), &from, bad);
        let signature =
            switchboard::twilio::signature::compute(AUTH_TOKEN, &sb.url("/twilio/sms"), &params);
        params.retain(|(k, _)| k != "Body");
        let raw = format!("{}&Body={bad}", form_body(&params));
        let resp = sb
            .http
            .post(sb.url("/twilio/sms"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "Body={bad}");
        let reason = resp.text().await.unwrap();
        assert!(reason.contains("percent-encoding"), "Body={bad}: {reason}");
    }
    // Barrier: a good message from the same customer is the conversation's
    // first; a stored bad one would have reached alice before it.
    assert_eq!(sb.text(&from, "after").await.0, 200);
    alice
        .until(Duration::from_secs(10), "the valid message", |a| {
            a.bodies(&from).contains(&"after".to_string())
        })
        .await;
    assert_eq!(alice.bodies(&from), vec!["after"]);
}

#[tokio::test]
async fn agents_need_credentials_and_bad_frames_get_error_frames() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    // No credentials: refused before any data.
    let err = tokio_tungstenite::connect_async(sb.ws_url())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let mut alice = sb.agent("alice").await;
    alice.send_raw("this is not json").await;
    alice.send_raw(r#"{"type":"launch_missiles"}"#).await;
    alice.send_raw(r#"{"v":99,"type":"ping"}"#).await;
    alice
        .send_raw(r#"{"type":"reply","conversation":"+15551234567"}"#)
        .await;
    alice.send_raw(r#"{"type":"ping","nonce":7}"#).await;
    alice
        .until(Duration::from_secs(5), "pong after the errors", |a| {
            a.frames
                .iter()
                .any(|f| matches!(f, ServerFrame::Pong { nonce: Some(7) }))
        })
        .await;
    assert_eq!(
        alice.errors().len(),
        4,
        "one error frame per bad frame: {:?}",
        alice.frames
    );
    // The connection is still usable.
    assert_eq!(sb.text(&number(7), "after errors").await.0, 200);
    alice
        .until(Duration::from_secs(5), "a message", |a| {
            a.received_count() == 1
        })
        .await;
}

#[tokio::test]
async fn during_a_token_rotation_webhooks_signed_with_either_token_are_accepted() {
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![(
            "TWILIO_SECONDARY_AUTH_TOKEN".into(),
            "the-promoted-token".into(),
        )],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent("alice").await;
    let url = sb.url("/twilio/sms");
    let sign = |token: &str, params: &[(String, String)]| {
        switchboard::twilio::signature::compute(token, &url, params)
    };

    let by_primary = inbound_params(&new_sid(), &number(1), "signed with the primary");
    let (status, _) = sb
        .post_form(
            "/twilio/sms",
            &by_primary,
            Some(&sign(AUTH_TOKEN, &by_primary)),
        )
        .await;
    assert_eq!(status, 200);
    let by_secondary = inbound_params(&new_sid(), &number(1), "signed with the secondary");
    let (status, _) = sb
        .post_form(
            "/twilio/sms",
            &by_secondary,
            Some(&sign("the-promoted-token", &by_secondary)),
        )
        .await;
    assert_eq!(status, 200);
    let forged = inbound_params(&new_sid(), &number(1), "signed with neither");
    let (status, _) = sb
        .post_form(
            "/twilio/sms",
            &forged,
            Some(&sign("a-third-token", &forged)),
        )
        .await;
    assert_eq!(status, 403);

    // The barrier: the forged one, refused before it, was never stored.
    sb.barrier(&mut alice, &number(1)).await;
    let bodies: Vec<String> = alice
        .bodies(&number(1))
        .into_iter()
        .filter(|b| !is_barrier(b))
        .collect();
    assert_eq!(
        bodies,
        vec!["signed with the primary", "signed with the secondary"]
    );
}
