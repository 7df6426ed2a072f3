//! Agent-sent pictures (MMS): an agent uploads a picture to a conversation
//! they hold, replies with it, and Twilio — the phone simulator, which
//! fetches each `MediaUrl` as Twilio does — is sent a signed link that
//! serves exactly the uploaded bytes to anyone holding it, and nothing once
//! forged or expired. Bad pictures are refused with a code.

use crate::common;

use common::*;
use std::time::{Duration, Instant};
use switchboard::outbound_media::MediaSigner;
use switchboard_protocol::{ClientFrame, DeliveryStatus, ErrorCode, Media, ServerFrame};

const WAIT: Duration = Duration::from_secs(60);

/// An 8×8 red PNG.
pub const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00\x4b\x6d\x29\xdc\x00\x00\x00\x11\x49\x44\x41\x54\x78\x9c\x63\x38\x21\x67\x83\x15\x31\x0c\x2d\x09\x00\x77\x6c\x48\x81\xca\x38\x30\xd1\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

async fn system() -> (Switchboard, PhoneSim) {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    (sb, sim)
}

async fn holding(sb: &Switchboard, name: &str, customer: &str) -> Agent {
    let mut agent = sb.agent(name).await;
    sb.text(customer, "can you send me a photo of the label?")
        .await;
    agent
        .until(WAIT, "the conversation", |a| a.assigned.contains(customer))
        .await;
    agent
}

/// `POST /v1/media/{conversation}` as `agent`: the status and the JSON.
async fn upload(
    sb: &Switchboard,
    agent: &str,
    conversation: &str,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let answer = sb
        .http
        .post(sb.url(&format!("/v1/media/{conversation}")))
        .basic_auth(agent, Some(format!("{agent}-pw")))
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = answer.status().as_u16();
    (
        status,
        answer.json().await.unwrap_or(serde_json::Value::Null),
    )
}

fn media(url: &str) -> Media {
    Media {
        url: url.into(),
        content_type: String::new(),
    }
}

async fn reply_with(
    agent: &mut Agent,
    conversation: &str,
    client_id: &str,
    body: &str,
    media: Vec<Media>,
) {
    agent
        .send(&ClientFrame::Reply {
            conversation: conversation.into(),
            client_id: client_id.into(),
            body: body.into(),
            media,
        })
        .await;
}

/// What the stand-in was sent to `customer`, once `done` holds for it.
async fn sent_until(
    sim: &PhoneSim,
    customer: &str,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let sent: Vec<_> = sim
            .sent()
            .await
            .into_iter()
            .filter(|m| m["to"] == customer)
            .collect();
        if done(&sent) {
            return sent;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; sent {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(sb: &Switchboard, url: &str) -> (u16, Vec<u8>) {
    let answer = sb.http.get(url).send().await.expect("GET");
    let status = answer.status().as_u16();
    (status, answer.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn an_agents_picture_reaches_twilio_as_a_signed_link_to_the_uploaded_bytes() {
    let (sb, sim) = system().await;
    let customer = number(701);
    let mut alice = holding(&sb, "alice", &customer).await;

    let (status, uploaded) = upload(&sb, "alice", &customer, PNG.to_vec()).await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["content_type"], "image/png");
    assert_eq!(uploaded["bytes"], PNG.len());
    let files_url = uploaded["url"].as_str().expect("url").to_string();
    assert!(files_url.starts_with("/files/media/%2B"), "{files_url}");

    // A picture with no text at all.
    reply_with(&mut alice, &customer, "pic-1", "", vec![media(&files_url)]).await;
    alice
        .until_frame(
            WAIT,
            "ack",
            |f| matches!(f, ServerFrame::Ack { client_id, seq: 2, .. } if client_id == "pic-1"),
        )
        .await;

    // Twilio was sent one MediaUrl on our public URL, and fetched it.
    let sent = sent_until(
        &sim,
        &customer,
        "the stand-in fetched the picture",
        |sent| sent.len() == 1 && sent[0]["media_fetch"][0]["status"] == 200,
    )
    .await;
    assert_eq!(sent[0]["body"], "");
    let media_url = sent[0]["media"][0]["url"]
        .as_str()
        .expect("MediaUrl")
        .to_string();
    let public = format!("http://127.0.0.1:{}/media/", sb.port);
    assert!(media_url.starts_with(&public), "{media_url}");
    assert!(
        media_url.contains("expires=") && media_url.contains("&sig="),
        "{media_url}"
    );
    assert_eq!(sent[0]["media_fetch"][0]["bytes"], PNG.len());
    assert_eq!(sent[0]["media_fetch"][0]["content_type"], "image/png");

    // The link serves the uploaded bytes without any credentials.
    assert_eq!(get(&sb, &media_url).await, (200, PNG.to_vec()));
    // The phone's copy is the same picture.
    let local = sent[0]["media_fetch"][0]["local_url"]
        .as_str()
        .expect("local copy");
    assert_eq!(
        get(&sb, &format!("{}{local}", sim.base)).await,
        (200, PNG.to_vec())
    );

    // The agent's timeline shows the reply with its picture, readable by
    // the holder through /files and by nobody else.
    alice
        .until(WAIT, "the reply in the timeline", |a| {
            a.messages.get(&customer).is_some_and(|m| m.len() >= 2)
        })
        .await;
    let shown = &alice.messages[&customer][1];
    assert_eq!(shown.media.len(), 1);
    assert_eq!(shown.media[0].url, files_url);
    assert_eq!(shown.media[0].content_type, "image/png");
    let as_agent = |name: &str| {
        sb.http
            .get(sb.url(&files_url))
            .basic_auth(name, Some(format!("{name}-pw")))
            .send()
    };
    let mine = as_agent("alice").await.expect("GET");
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.bytes().await.expect("bytes").to_vec(), PNG);
    assert_eq!(as_agent("bob").await.expect("GET").status(), 403);
}

#[tokio::test]
async fn forged_expired_and_other_links_are_refused() {
    let (sb, _sim) = system().await;
    let customer = number(702);
    let _alice = holding(&sb, "alice", &customer).await;
    let (status, uploaded) = upload(&sb, "alice", &customer, PNG.to_vec()).await;
    assert_eq!(status, 201, "{uploaded}");
    let files_url = uploaded["url"].as_str().expect("url");
    let key = percent_encoding::percent_decode_str(files_url.trim_start_matches("/files/"))
        .decode_utf8()
        .expect("utf-8")
        .to_string();
    // The tests' switchboard has no MEDIA_URL_SECRET: the key is derived
    // from the auth token, which the test knows.
    let signer = MediaSigner::from_auth_token(AUTH_TOKEN);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let good = sb.url(&signer.path(&key, now + 600));
    assert_eq!(
        get(&sb, &good).await,
        (200, PNG.to_vec()),
        "the control: a good link works"
    );

    let expired = sb.url(&signer.path(&key, now - 1));
    assert_eq!(get(&sb, &expired).await.0, 403, "expired");
    let forged =
        sb.url(&MediaSigner::new(b"not the switchboard's secret at all").path(&key, now + 600));
    assert_eq!(get(&sb, &forged).await.0, 403, "signed with another secret");
    let extended = good.replace(
        &format!("expires={}", now + 600),
        &format!("expires={}", now + 99_999),
    );
    assert_eq!(get(&sb, &extended).await.0, 403, "expiry moved");
    let unsigned = good.split('?').next().expect("path").to_string();
    assert_eq!(get(&sb, &unsigned).await.0, 403, "no signature");
    // Validly signed, but not an uploaded picture: never served here.
    for other in [
        format!("media/{customer}/MM0123/0.jpg"),
        format!("transcripts/{customer}/1.json"),
    ] {
        let url = sb.url(&signer.path(&other, now + 600));
        assert_eq!(get(&sb, &url).await.0, 404, "{other}");
    }
}

#[tokio::test]
async fn bad_pictures_are_refused_with_a_code_and_nothing_is_sent() {
    let (sb, sim) = system().await;
    let customer = number(703);
    let other_customer = number(704);
    let mut alice = holding(&sb, "alice", &customer).await;

    // Uploads: not the holder, not a picture, too large, empty.
    let (status, answer) = upload(&sb, "bob", &customer, PNG.to_vec()).await;
    assert_eq!((status, answer["code"].as_str()), (403, Some("not_holder")));
    let (status, answer) = upload(&sb, "alice", &customer, b"<svg onload=alert(1)>".to_vec()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (415, Some("unsupported_type"))
    );
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let (status, answer) = upload(&sb, "alice", &customer, big).await;
    assert_eq!((status, answer["code"].as_str()), (413, Some("too_large")));
    let (status, answer) = upload(&sb, "alice", &customer, Vec::new()).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("empty")));

    // Replies: too many, too large together, not uploaded, another
    // conversation's picture.
    let (_, one) = upload(&sb, "alice", &customer, PNG.to_vec()).await;
    let one = one["url"].as_str().expect("url").to_string();
    let mut three_mb = PNG.to_vec();
    three_mb.resize(3 * 1024 * 1024, 0);
    let (_, a) = upload(&sb, "alice", &customer, three_mb.clone()).await;
    let (_, b) = upload(&sb, "alice", &customer, three_mb).await;
    let (a, b) = (
        a["url"].as_str().expect("url"),
        b["url"].as_str().expect("url"),
    );
    let missing = one.replace(".png", ".gif");
    let elsewhere = one.replace(
        &customer.replace('+', "%2B"),
        &other_customer.replace('+', "%2B"),
    );
    let cases: Vec<(&str, Vec<Media>, &str)> = vec![
        ("eleven", vec![media(&one); 11], "at most 10"),
        ("six-mb", vec![media(a), media(b)], "5 MB"),
        ("missing", vec![media(&missing)], "not a picture uploaded"),
        (
            "elsewhere",
            vec![media(&elsewhere)],
            "not a picture uploaded",
        ),
    ];
    for (client_id, items, says) in &cases {
        reply_with(&mut alice, &customer, client_id, "look", items.clone()).await;
        alice
            .until_frame(WAIT, "the refusal", |f| {
                matches!(f, ServerFrame::Error { code: ErrorCode::InvalidMedia, client_id: Some(c), message, .. }
                    if c == client_id && message.contains(says))
            })
            .await;
    }
    // A barrier: a good reply after them reaches Twilio, alone.
    reply_with(
        &mut alice,
        &customer,
        "good",
        "here it is",
        vec![media(&one)],
    )
    .await;
    let sent = sent_until(&sim, &customer, "the good reply", |sent| !sent.is_empty()).await;
    assert_eq!(sent.len(), 1, "only the good reply was sent: {sent:?}");
    assert_eq!(sent[0]["body"], "here it is");
    assert_eq!(sent[0]["media"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_picture_reply_twilio_accepted_before_kill_9_is_not_sent_again() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let mut sb = Switchboard::start(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    let customer = number(705);
    let mut alice = holding(&sb, "alice", &customer).await;
    let (status, uploaded) = upload(&sb, "alice", &customer, PNG.to_vec()).await;
    assert_eq!(status, 201, "{uploaded}");
    // Twilio accepts the reply, and its answer never comes back.
    sim.faults(serde_json::json!([{ "status": 201, "hold_response": true }]))
        .await;
    let files_url = uploaded["url"].as_str().expect("url");
    reply_with(&mut alice, &customer, "pic", "", vec![media(files_url)]).await;
    let first = sent_until(&sim, &customer, "the first POST", |sent| sent.len() == 1).await;
    assert_eq!(sim.pending_faults().await, 0, "the held answer was used");
    sb.kill9();
    drop(alice);

    sb.spawn().await;
    let mut alice =
        Agent::connect(&sb, "alice", [(customer.to_string(), 2)].into(), None, None).await;
    // Settled: the status that takes it out of the outbox, so no send can follow.
    alice
        .until(WAIT, "the reply's status settles", |a| {
            a.frames.iter().any(|f| {
                matches!(
                    f,
                    ServerFrame::Status {
                        seq: 2,
                        status: DeliveryStatus::Sent | DeliveryStatus::Delivered,
                        ..
                    }
                )
            })
        })
        .await;
    let sent = sim
        .sent()
        .await
        .into_iter()
        .filter(|m| m["to"] == customer.as_str())
        .collect::<Vec<_>>();
    assert_eq!(sent.len(), 1, "the picture went out exactly once: {sent:?}");
    assert_eq!(sent[0]["media"], first[0]["media"]);
    assert!(
        sb.log().contains("the reply was already at Twilio"),
        "{}",
        sb.log()
    );
}
