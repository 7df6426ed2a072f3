//! AWS going away never blocks a webhook or a message, and loses or
//! duplicates nothing: work that needs AWS waits in the durable job queue
//! (across an emulator paused for 30 s under load, and across `kill -9`)
//! and lands exactly once when AWS is back.

use crate::common;

use common::aws::{unique_name, Moto, SentMail};
use common::twilio_media::{mms_params, TwilioMedia};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_protocol::{ClientFrame, ServerFrame, UnassignReason};

/// Distinct bytes for media item `i`, so a mix-up would show.
fn media_bytes(i: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(format!("item {i} ").repeat(50).into_bytes());
    bytes
}

/// One webhook of the load: who, what, and (for MMS) the media's S3 key and bytes.
struct Planned {
    from: String,
    body: String,
    params: Vec<(String, String)>,
    media: Vec<(String, Vec<u8>)>,
}

fn plan_load(twilio: &TwilioMedia, count: usize, customers: usize) -> Vec<Planned> {
    (0..count)
        .map(|i| {
            let from = number(i % customers);
            let body = format!("message {i}");
            if i % 4 == 0 {
                let sid = format!("MM{}", &new_sid()[2..]);
                let name = format!("ME{i}");
                let bytes = media_bytes(i);
                let url = twilio.add(&sid, &name, "image/png", &bytes, i % 8 == 0);
                let params = mms_params(&sid, &from, &body, &[(url, "image/png".into())]);
                let key = format!("media/{from}/{sid}/0.png");
                Planned {
                    from,
                    body,
                    params,
                    media: vec![(key, bytes)],
                }
            } else {
                Planned {
                    params: inbound_params(&new_sid(), &from, &body),
                    from,
                    body,
                    media: Vec::new(),
                }
            }
        })
        .collect()
}

fn transcript_mail(mail: &[SentMail], to: &str) -> Vec<SentMail> {
    mail.iter()
        .filter(|m| m.destinations.iter().any(|d| d == to))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_paused_for_30s_under_load_delays_but_loses_and_duplicates_nothing() {
    if common::aws::skip_on_localstack(
        "pauses or kills its emulator: one private moto per test, not LocalStack",
    ) {
        return;
    }
    let moto = Moto::spawn().await;
    let bucket = unique_name("outage");
    moto.create_bucket(&bucket).await;
    let sender = format!("{}@example.com", unique_name("switchboard"));
    let transcript_to = format!("{}@example.com", unique_name("log"));
    moto.verify_sender(&sender).await;
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let mut env = moto.env();
    env.extend([
        ("S3_BUCKET".to_string(), bucket.clone()),
        ("MAIL_FROM".into(), sender.clone()),
        ("TRANSCRIPT_TO".into(), transcript_to.clone()),
    ]);
    let sb = Arc::new(
        Switchboard::start(Options {
            extra_env: env,
            ..Default::default()
        })
        .await,
    );
    let mut agent = sb.agent_with("alice", 1000).await;

    // Conversations the agent resolves while AWS is away.
    let resolved: Vec<String> = (100..106).map(number).collect();
    for from in &resolved {
        assert_eq!(sb.text(from, "please close this").await.0, 200);
    }
    agent
        .until(
            Duration::from_secs(10),
            "the conversations to resolve",
            |a| resolved.iter().all(|c| a.assigned.contains(c)),
        )
        .await;

    // ~40 s of load: 400 webhooks from 30 customers, every 4th an MMS.
    let load = plan_load(&twilio, 400, 30);
    let start = Instant::now();
    // Webhooks posted and not answered yet.
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender_task = {
        let sb = sb.clone();
        let in_flight = in_flight.clone();
        let load: Vec<Vec<(String, String)>> = load.iter().map(|p| p.params.clone()).collect();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for params in load {
                tick.tick().await;
                let sb = sb.clone();
                let in_flight = in_flight.clone();
                in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                answers.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let (status, _) = sb.post_signed("/twilio/sms", &params).await;
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    (status, sent.elapsed())
                }));
            }
            let mut results = Vec::new();
            for answer in answers {
                results.push(answer.await.expect("webhook task"));
            }
            results
        })
    };

    // Pause AWS at 5 s, resolve during the outage at 10 s, resume from 35 s
    // on at a moment when every webhook posted so far has been answered,
    // reading the agent's frames all along. That every webhook is answered
    // while AWS is still down proves none waits for it (no latency bound).
    let answered_while_down_by = Duration::from_secs(35 + 120);
    let (mut paused, mut resolved_sent, mut resumed) = (false, false, false);
    while !sender_task.is_finished() || !resumed {
        let t = start.elapsed();
        if !paused && t >= Duration::from_secs(5) {
            moto.pause();
            paused = true;
        }
        if paused && !resolved_sent && t >= Duration::from_secs(10) {
            for from in &resolved {
                agent
                    .send(&ClientFrame::Resolve {
                        conversation: from.clone(),
                    })
                    .await;
            }
            resolved_sent = true;
        }
        if paused && !resumed && t >= Duration::from_secs(35) {
            if in_flight.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                moto.resume();
                resumed = true;
            } else {
                assert!(
                    t < answered_while_down_by,
                    "webhooks still unanswered while AWS is down: they wait for it"
                );
            }
        }
        agent.next_frame(Duration::from_millis(100)).await;
    }
    let answers = sender_task.await.expect("load task");
    let slowest = answers.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    println!(
        "{} webhooks in {:?}; latency p50 {:?}, p99 {:?}, max {:?}",
        answers.len(),
        start.elapsed(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        slowest
    );
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "non-200 answers"
    );

    // The agent got every message, once, in order; the resolves went through.
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &load {
        expected
            .entry(p.from.clone())
            .or_default()
            .push(p.body.clone());
    }
    agent
        .until(Duration::from_secs(30), "every message", |a| {
            expected
                .iter()
                .all(|(c, bodies)| a.bodies(c).len() >= bodies.len())
        })
        .await;
    for (customer, bodies) in &expected {
        assert_eq!(&agent.bodies(customer), bodies, "{customer}");
    }
    for from in &resolved {
        assert!(agent.frames.iter().any(|f| matches!(f,
            ServerFrame::Unassigned { conversation, reason: UnassignReason::Resolved } if conversation == from)));
    }

    // After AWS is back, every media object and transcript lands, once.
    let expected_media: BTreeMap<String, Vec<u8>> =
        load.iter().flat_map(|p| p.media.iter().cloned()).collect();
    let resumed_at = Instant::now();
    let media_keys = wait_for(
        "every media object in S3",
        Duration::from_secs(180),
        async || {
            let keys = moto.s3_keys(&bucket, "media/").await;
            (keys.len() >= expected_media.len()).then_some(keys)
        },
    )
    .await;
    let transcript_keys = wait_for(
        "every transcript in S3",
        Duration::from_secs(180),
        async || {
            let keys = moto.s3_keys(&bucket, "transcripts/").await;
            (keys.len() >= 2 * resolved.len()).then_some(keys)
        },
    )
    .await;
    let mail = wait_for(
        "every transcript mail",
        Duration::from_secs(180),
        async || {
            let mail = transcript_mail(&moto.sent_mail().await, &transcript_to);
            (mail.len() >= resolved.len()).then_some(mail)
        },
    )
    .await;
    println!(
        "after resume: {} media objects, {} transcript files, {} mails within {:?}",
        media_keys.len(),
        transcript_keys.len(),
        mail.len(),
        resumed_at.elapsed()
    );
    let got: BTreeSet<&String> = media_keys.iter().collect();
    let want: BTreeSet<&String> = expected_media.keys().collect();
    assert_eq!(got, want);
    for (key, bytes) in &expected_media {
        let (stored, content_type) = moto.s3_object(&bucket, key).await.expect("object");
        assert_eq!(&stored, bytes, "{key}");
        assert_eq!(content_type.as_deref(), Some("image/png"));
    }
    let transcript_conversations: BTreeSet<String> = transcript_keys
        .iter()
        .filter_map(|k| k.split('/').nth(1).map(str::to_string))
        .collect();
    assert_eq!(transcript_conversations, resolved.iter().cloned().collect());
    assert_eq!(
        transcript_keys.len(),
        2 * resolved.len(),
        "{transcript_keys:?}"
    );

    // Duplicates, without a drain window: once the switchboard has stopped
    // nothing more can reach the emulator, so the count below is final; and
    // a mail job still queued would send a second mail at the next start.
    let mut sb =
        Arc::try_unwrap(sb).unwrap_or_else(|_| panic!("the load tasks still hold the switchboard"));
    let jobs_left = sb.stop_and_list_jobs_left().await;
    assert!(
        !jobs_left.iter().any(|(_, kind)| *kind == "transcript_mail"),
        "a transcript mail is still queued though every mail arrived: {jobs_left:?}"
    );
    let mail = transcript_mail(&moto.sent_mail().await, &transcript_to);
    assert_eq!(mail.len(), resolved.len(), "transcript mails: {mail:#?}");
    for from in &resolved {
        let count = mail
            .iter()
            .filter(|m| m.raw.contains(&format!("conversation with {from}")))
            .count();
        assert_eq!(count, 1, "transcript mails for {from}");
    }
    assert_eq!(
        moto.s3_keys(&bucket, "media/").await.len(),
        expected_media.len()
    );
    println!(
        "job attempts that failed and were retried: {}",
        sb.log().matches("job failed; will retry").count()
    );
}

#[tokio::test]
async fn jobs_pending_at_kill_9_complete_after_restart() {
    if common::aws::skip_on_localstack(
        "pauses or kills its emulator: one private moto per test, not LocalStack",
    ) {
        return;
    }
    let moto = Moto::spawn().await;
    let bucket = unique_name("restart");
    moto.create_bucket(&bucket).await;
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let mut env = moto.env();
    env.push(("S3_BUCKET".into(), bucket.clone()));
    let mut sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;

    // AWS is away: 10 MMS with 2 items each, more than the worker runs at once.
    moto.pause();
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for m in 0..10 {
        let sid = format!("MM{}", &new_sid()[2..]);
        let from = number(200 + m);
        let media: Vec<(String, String)> = (0..2)
            .map(|i| {
                let bytes = media_bytes(m * 10 + i);
                expected.insert(format!("media/{from}/{sid}/{i}.png"), bytes.clone());
                let url = twilio.add(&sid, &format!("ME{m}x{i}"), "image/png", &bytes, false);
                (url, "image/png".to_string())
            })
            .collect();
        let (status, body) = sb
            .post_signed("/twilio/sms", &mms_params(&sid, &from, "", &media))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Kill it while jobs are running: the first media downloads have been
    // made and their uploads wait for the paused S3.
    wait_for(
        "the worker to start on the queued jobs",
        Duration::from_secs(30),
        async || (!twilio.requests().is_empty()).then_some(()),
    )
    .await;
    sb.kill9();
    moto.resume();
    sb.spawn().await;

    let keys = wait_for(
        "every media object after the restart",
        Duration::from_secs(120),
        async || {
            let keys = moto.s3_keys(&bucket, "media/").await;
            (keys.len() >= expected.len()).then_some(keys)
        },
    )
    .await;
    let got: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(got, expected.keys().collect::<BTreeSet<_>>());
    for (key, bytes) in &expected {
        let (stored, _) = moto.s3_object(&bucket, key).await.expect("object");
        assert_eq!(&stored, bytes, "{key}");
    }
    let log = sb.log();
    let resumed = log
        .lines()
        .find(|l| l.contains("resuming queued jobs"))
        .unwrap_or_else(|| panic!("the restart did not resume queued jobs: {log}"));
    println!("{resumed}");
}

#[tokio::test]
async fn an_aws_error_is_logged_with_its_code_and_retried_until_it_clears() {
    let moto = Moto::shared();
    // The bucket does not exist yet: every upload fails with NoSuchBucket.
    let bucket = unique_name("late");
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let mut env = moto.env();
    env.push(("S3_BUCKET".into(), bucket.clone()));
    let sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    let sid = format!("MM{}", &new_sid()[2..]);
    let from = number(300);
    let url = twilio.add(&sid, "ME0", "image/png", &media_bytes(0), false);
    let (status, _) = sb
        .post_signed(
            "/twilio/sms",
            &mms_params(&sid, &from, "", &[(url, "image/png".into())]),
        )
        .await;
    assert_eq!(status, 200);

    let line = wait_for("a logged S3 failure", Duration::from_secs(30), async || {
        sb.log()
            .lines()
            .find(|l| l.contains("job failed; will retry"))
            .map(str::to_string)
    })
    .await;
    println!("{line}");
    for part in ["\"s3\"", "PutObject", "NoSuchBucket", "fetch_media"] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }

    moto.create_bucket(&bucket).await;
    let key = format!("media/{from}/{sid}/0.png");
    let (stored, _) = wait_for(
        "the object once the bucket exists",
        Duration::from_secs(90),
        async || moto.s3_object(&bucket, &key).await,
    )
    .await;
    assert_eq!(stored, media_bytes(0));
}
