//! Inbound MMS: every media item is fetched from Twilio (with the account's
//! Basic auth, through Twilio's redirect to its CDN) into S3 — or the local
//! files directory without S3 — and the agent sees links to our copy,
//! served by the switchboard's `/files/`.

use crate::common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::aws::{unique_name, Moto};
use common::twilio_media::{mms_params, TwilioMedia};
use common::*;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_protocol::Message;

const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The three items of the test MMS: (name, content type, bytes, via CDN).
fn items() -> [(&'static str, &'static str, &'static [u8], bool); 3] {
    [
        ("ME0", "image/jpeg", JPEG, true),
        ("ME1", "image/png", PNG, false),
        ("ME2", "image/gif", GIF, true),
    ]
}

struct Sent {
    sid: String,
    from: String,
    params: Vec<(String, String)>,
}

async fn send_mms(sb: &Switchboard, twilio: &TwilioMedia, customer: usize) -> Sent {
    let sid = format!("MM{}", &new_sid()[2..]);
    let from = number(customer);
    let media: Vec<(String, String)> = items()
        .iter()
        .map(|(name, ct, bytes, cdn)| (twilio.add(&sid, name, ct, bytes, *cdn), ct.to_string()))
        .collect();
    let params = mms_params(&sid, &from, "three pictures", &media);
    let (status, body) = sb.post_signed("/twilio/sms", &params).await;
    assert_eq!(status, 200, "{body}");
    Sent { sid, from, params }
}

/// What the agent received for the MMS.
async fn received_mms(agent: &mut Agent, from: &str) -> Message {
    agent
        .until(Duration::from_secs(10), "the MMS", |a| {
            a.messages.get(from).is_some_and(|m| !m.is_empty())
        })
        .await;
    agent.messages[from][0].clone()
}

fn expected_key(from: &str, sid: &str, index: usize, ext: &str) -> String {
    format!("media/{from}/{sid}/{index}.{ext}")
}

const EXTS: [&str; 3] = ["jpg", "png", "gif"];

/// The agent sees our links, never Twilio's: `/files/` + the encoded key.
fn assert_links_to_our_copy(message: &Message, sent: &Sent) {
    assert_eq!(message.body, "three pictures");
    assert_eq!(message.media.len(), 3, "{message:?}");
    let encoded_from = sent.from.replace('+', "%2B");
    for (i, media) in message.media.iter().enumerate() {
        assert_eq!(
            media.url,
            format!("/files/media/{encoded_from}/{}/{i}.{}", sent.sid, EXTS[i])
        );
        assert_eq!(media.content_type, items()[i].1);
        assert!(!media.url.contains("twilio") && !media.url.contains("127.0.0.1"));
    }
}

/// GET through the switchboard's file server with the agent's credentials.
async fn get_file(sb: &Switchboard, url: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = sb
        .http
        .get(sb.url(url))
        .header(
            "authorization",
            format!("Basic {}", BASE64.encode("alice:alice-pw")),
        )
        .send()
        .await
        .expect("GET /files");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        content_type,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// Twilio's credentials went to Twilio's URL only, never to the CDN.
fn assert_credentials_stayed_home(twilio: &TwilioMedia) {
    let requests = twilio.requests();
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    for r in &requests {
        match r.kind {
            "media" => assert_eq!(r.authorization.as_deref(), Some(expected.as_str()), "{r:?}"),
            _ => assert_eq!(
                r.authorization, None,
                "credentials leaked to the CDN: {r:?}"
            ),
        }
    }
    let cdn = requests.iter().filter(|r| r.kind == "cdn").count();
    assert!(
        cdn >= 2,
        "the redirected items were fetched from the CDN: {requests:?}"
    );
}

#[tokio::test]
async fn mms_media_lands_in_s3_and_is_served_through_files() {
    let moto = Moto::shared();
    let bucket = unique_name("media");
    moto.create_bucket(&bucket).await;
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let prefix = "switchboard-test/";
    let mut env = moto.env();
    env.push(("S3_BUCKET".into(), bucket.clone()));
    env.push(("S3_PREFIX".into(), prefix.into()));
    let sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    let mut agent = sb.agent("alice").await;

    let sent = send_mms(&sb, &twilio, 1).await;
    let message = received_mms(&mut agent, &sent.from).await;
    assert_links_to_our_copy(&message, &sent);

    for (i, (_, content_type, bytes, _)) in items().iter().enumerate() {
        let key = format!(
            "{prefix}{}",
            expected_key(&sent.from, &sent.sid, i, EXTS[i])
        );
        let (body, stored_type) = wait_for(
            &format!("s3://{bucket}/{key}"),
            Duration::from_secs(30),
            async || moto.s3_object(&bucket, &key).await,
        )
        .await;
        assert_eq!(body, *bytes, "{key}");
        assert_eq!(stored_type.as_deref(), Some(*content_type), "{key}");

        let (status, served_type, served) = get_file(&sb, &message.media[i].url).await;
        assert_eq!(status, 200, "{}", message.media[i].url);
        assert_eq!(served, *bytes);
        assert_eq!(served_type.as_deref(), Some(*content_type));
    }
    assert_credentials_stayed_home(&twilio);

    // A Twilio retry of the same webhook stores nothing new and fetches nothing again.
    let fetched = twilio.requests().len();
    let (status, _) = sb.post_signed("/twilio/sms", &sent.params).await;
    assert_eq!(status, 200);
    // A second copy would reach the agent before the barrier text.
    sb.barrier(&mut agent, &sent.from).await;
    assert_eq!(
        agent.messages[&sent.from].len(),
        2,
        "the MMS and the barrier"
    );
    assert_eq!(twilio.requests().len(), fetched, "{:?}", twilio.requests());
    let keys = moto.s3_keys(&bucket, prefix).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
}

#[tokio::test]
async fn without_s3_media_lands_in_files_dir() {
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let files = tempfile::tempdir().expect("temp dir");
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("FILES_DIR".into(), files.path().display().to_string())],
        ..Default::default()
    })
    .await;
    let mut agent = sb.agent("alice").await;

    let sent = send_mms(&sb, &twilio, 2).await;
    let message = received_mms(&mut agent, &sent.from).await;
    assert_links_to_our_copy(&message, &sent);

    for (i, (_, content_type, bytes, _)) in items().iter().enumerate() {
        let path: PathBuf = files
            .path()
            .join(expected_key(&sent.from, &sent.sid, i, EXTS[i]));
        let on_disk = wait_for(
            &path.display().to_string(),
            Duration::from_secs(30),
            async || std::fs::read(&path).ok(),
        )
        .await;
        assert_eq!(on_disk, *bytes);
        let (status, served_type, served) = get_file(&sb, &message.media[i].url).await;
        assert_eq!(status, 200);
        assert_eq!(served, *bytes);
        assert_eq!(served_type.as_deref(), Some(*content_type));
    }
    assert_credentials_stayed_home(&twilio);
}

#[tokio::test]
async fn media_twilio_refuses_is_given_up_and_everything_else_still_works() {
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let sb = Switchboard::start(Options::default()).await;
    let mut agent = sb.agent("alice").await;
    // An item Twilio does not have: 404 on every try.
    let sid = format!("MM{}", &new_sid()[2..]);
    let missing = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/MEgone",
        twilio.base
    );
    let from = number(3);
    let params = mms_params(&sid, &from, "", &[(missing, "image/png".into())]);
    let (status, body) = sb.post_signed("/twilio/sms", &params).await;
    assert_eq!(status, 200, "{body}");
    let message = received_mms(&mut agent, &from).await;
    assert_eq!(message.media.len(), 1);
    // A few tries (with backoff), then the job is dropped and logged.
    wait_for(
        "the failed fetch to be given up",
        Duration::from_secs(30),
        async || sb.log().contains("job failed for good").then_some(()),
    )
    .await;
    let tries = twilio
        .requests()
        .iter()
        .filter(|r| r.name == "MEgone")
        .count();
    assert_eq!(tries, 3, "{:?}", twilio.requests());
    // Plain texts keep flowing.
    let (status, _) = sb.text(&number(4), "still here").await;
    assert_eq!(status, 200);
    agent
        .until(Duration::from_secs(10), "the next text", |a| {
            a.bodies(&number(4)) == ["still here"]
        })
        .await;
}

#[tokio::test]
async fn a_slow_download_does_not_hold_up_other_media() {
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let files = tempfile::tempdir().expect("temp dir");
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("FILES_DIR".into(), files.path().display().to_string())],
        ..Default::default()
    })
    .await;
    // An item whose download does not finish until the test says so.
    let slow_sid = format!("MM{}", &new_sid()[2..]);
    let slow_url = twilio.add(&slow_sid, "MEslow", "image/png", PNG, false);
    twilio.hold("MEslow");
    let params = mms_params(&slow_sid, &number(5), "", &[(slow_url, "image/png".into())]);
    assert_eq!(sb.post_signed("/twilio/sms", &params).await.0, 200);
    wait_for(
        "the slow download to start",
        Duration::from_secs(30),
        async || (twilio.held("MEslow") > 0).then_some(()),
    )
    .await;
    let sent = send_mms(&sb, &twilio, 6).await;

    // Every other item lands while the slow one is still held.
    let slow_path = files
        .path()
        .join(expected_key(&number(5), &slow_sid, 0, "png"));
    for (i, (_, _, bytes, _)) in items().iter().enumerate() {
        let path = files
            .path()
            .join(expected_key(&sent.from, &sent.sid, i, EXTS[i]));
        let on_disk = wait_for(
            &path.display().to_string(),
            Duration::from_secs(60),
            async || std::fs::read(&path).ok(),
        )
        .await;
        assert_eq!(on_disk, *bytes);
    }
    assert!(
        !slow_path.exists(),
        "the held item landed before it was released"
    );
    twilio.release("MEslow");
    let slow = wait_for("the slow item", Duration::from_secs(120), async || {
        std::fs::read(&slow_path).ok()
    })
    .await;
    assert_eq!(slow, PNG);
}
