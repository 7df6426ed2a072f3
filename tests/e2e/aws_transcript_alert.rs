//! Resolving a conversation writes its transcript (JSON and text) to S3 and
//! mails it (text + HTML) through SES — or, without AWS, to the files
//! directory and the `.eml` outbox. A customer waiting with no agent
//! available triggers one alert per threshold window, and none while an
//! agent can take them.

use crate::common;

use common::aws::{unique_name, Moto, SentMail};
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use switchboard_protocol::{ClientFrame, ServerFrame, UnassignReason};

const ODD_BODY: &str = "Hello <b>there</b> & thanks";

/// A short conversation (two texts, one reply), then the agent resolves it.
/// Returns the customer's number.
async fn converse_and_resolve(sb: &Switchboard, agent: &mut Agent, customer: usize) -> String {
    let from = number(customer);
    assert_eq!(sb.text(&from, ODD_BODY).await.0, 200);
    assert_eq!(sb.text(&from, "my order is late").await.0, 200);
    agent
        .until(Duration::from_secs(10), "both texts", |a| {
            a.bodies(&from).len() == 2
        })
        .await;
    agent
        .send(&ClientFrame::Reply {
            conversation: from.clone(),
            client_id: "r1".into(),
            body: "Sorry, on its way".into(),
            media: Vec::new(),
        })
        .await;
    agent
        .until_frame(
            Duration::from_secs(10),
            "the reply's ack",
            |f| matches!(f, ServerFrame::Ack { client_id, .. } if client_id == "r1"),
        )
        .await;
    agent
        .send(&ClientFrame::Resolve {
            conversation: from.clone(),
        })
        .await;
    agent
        .until_frame(Duration::from_secs(10), "the resolve", |f| {
            matches!(f, ServerFrame::Unassigned { conversation, reason: UnassignReason::Resolved } if *conversation == from)
        })
        .await;
    from
}

/// The transcript's JSON and text, whoever stored them.
fn check_transcript(json: &[u8], text: &str, from: &str) {
    let json: serde_json::Value = serde_json::from_slice(json).expect("transcript JSON");
    assert_eq!(json["conversation"], from);
    assert_eq!(json["resolved_by"], "alice");
    let bodies: Vec<&str> = json["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(bodies, [ODD_BODY, "my order is late", "Sorry, on its way"]);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(" UTC  ")).collect();
    assert_eq!(lines.len(), 3, "one line per message: {text}");
    assert!(text.contains(&format!("customer: {ODD_BODY}")), "{text}");
    assert!(text.contains("alice: Sorry, on its way"), "{text}");
}

/// Unfolds header lines so a long Subject reads as one line.
fn unfold(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ")
}

fn check_transcript_mail(raw: &str, from: &str) {
    let unfolded = unfold(raw);
    assert!(
        unfolded.contains(&format!(
            "Subject: Transcript: conversation with {from}, resolved by alice"
        )),
        "{raw}"
    );
    let parts = mime_parts(raw);
    let part = |wanted: &str| {
        parts
            .iter()
            .find(|(content_type, _)| content_type.starts_with(wanted))
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("no {wanted} part in {raw}"))
    };
    let (text, html) = (part("text/plain"), part("text/html"));
    assert!(text.contains(&format!("customer: {ODD_BODY}")), "{text}");
    assert!(text.contains("alice: Sorry, on its way"), "{text}");
    assert!(
        html.contains("Hello &lt;b&gt;there&lt;/b&gt; &amp; thanks"),
        "{html}"
    );
    assert!(!html.contains("<b>there"), "unescaped body in HTML: {html}");
}

/// The leaf parts of a MIME message: (content type, decoded body).
fn mime_parts(raw: &str) -> Vec<(String, String)> {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let content_type = header("Content-Type");
    if let Some(at) = content_type.find("boundary=") {
        let boundary = content_type[at + 9..]
            .trim_matches(|c| c == '"' || c == ';')
            .split(['"', ';'])
            .next()
            .unwrap_or_default()
            .to_string();
        return body
            .split(&format!("--{boundary}"))
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .flat_map(|p| mime_parts(p.trim_start_matches('\n')))
            .collect();
    }
    let decoded = match header("Content-Transfer-Encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 part");
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => body.to_string(),
    };
    vec![(content_type, decoded)]
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Some(b) = joined
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mail_to<'a>(mail: &'a [SentMail], to: &str) -> Vec<&'a SentMail> {
    mail.iter()
        .filter(|m| m.destinations.iter().any(|d| d == to) || m.raw.contains(&format!("To: {to}")))
        .collect()
}

#[tokio::test]
async fn resolve_writes_the_transcript_to_s3_and_mails_it() {
    // A private emulator: moto's sent-mail dump fails once other tests have
    // DynamoDB items in a shared one.
    let moto = Moto::spawn().await;
    let bucket = unique_name("transcripts");
    moto.create_bucket(&bucket).await;
    let sender = format!("{}@example.com", unique_name("switchboard"));
    let transcript_to = format!("{}@example.com", unique_name("log"));
    moto.verify_sender(&sender).await;
    let mut env = moto.env();
    env.extend([
        ("S3_BUCKET".to_string(), bucket.clone()),
        ("MAIL_FROM".into(), sender.clone()),
        ("TRANSCRIPT_TO".into(), transcript_to.clone()),
    ]);
    let mut sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    let mut agent = sb.agent("alice").await;
    let from = converse_and_resolve(&sb, &mut agent, 10).await;

    let prefix = format!("transcripts/{from}/");
    let keys = wait_for(
        "both transcript files in S3",
        Duration::from_secs(30),
        async || {
            let keys = moto.s3_keys(&bucket, &prefix).await;
            (keys.len() >= 2).then_some(keys)
        },
    )
    .await;
    let json_key = keys.iter().find(|k| k.ends_with(".json")).expect("a .json");
    let text_key = keys.iter().find(|k| k.ends_with(".txt")).expect("a .txt");
    assert_eq!(
        json_key.trim_end_matches(".json"),
        text_key.trim_end_matches(".txt")
    );
    let (json, json_type) = moto
        .s3_object(&bucket, json_key)
        .await
        .expect("JSON object");
    let (text, text_type) = moto
        .s3_object(&bucket, text_key)
        .await
        .expect("text object");
    assert_eq!(json_type.as_deref(), Some("application/json"));
    assert!(text_type.is_some_and(|t| t.starts_with("text/plain")));
    check_transcript(&json, &String::from_utf8(text).expect("UTF-8"), &from);
    if !moto.mail_supported().await {
        return;
    }

    let mail = wait_for("the transcript mail", Duration::from_secs(30), async || {
        let all = moto.sent_mail().await;
        let mine: Vec<SentMail> = mail_to(&all, &transcript_to).into_iter().cloned().collect();
        (!mine.is_empty()).then_some(mine)
    })
    .await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].source, sender);
    check_transcript_mail(&mail[0].raw, &from);
    // One resolve, one mail: once the switchboard has stopped with no mail
    // job left, no second one can come (no drain window needed).
    let jobs_left = sb.stop_and_list_jobs_left().await;
    assert!(jobs_left.is_empty(), "jobs left: {jobs_left:?}");
    assert_eq!(mail_to(&moto.sent_mail().await, &transcript_to).len(), 1);
    assert_eq!(moto.s3_keys(&bucket, &prefix).await.len(), 2);
}

#[tokio::test]
async fn without_aws_the_transcript_goes_to_files_dir_and_the_eml_outbox() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (files, outbox) = (tmp.path().join("files"), tmp.path().join("outbox"));
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![
            ("FILES_DIR".into(), files.display().to_string()),
            ("MAIL_OUTBOX_DIR".into(), outbox.display().to_string()),
            ("TRANSCRIPT_TO".into(), "log@example.com".into()),
        ],
        ..Default::default()
    })
    .await;
    let mut agent = sb.agent("alice").await;
    let from = converse_and_resolve(&sb, &mut agent, 11).await;

    let dir = files.join("transcripts").join(&from);
    let names = wait_for(
        "both transcript files on disk",
        Duration::from_secs(30),
        async || {
            let names = visible_files(&dir);
            (names.len() >= 2).then_some(names)
        },
    )
    .await;
    assert_eq!(names.len(), 2, "{names:?}");
    let read = |ext: &str| {
        let name = names.iter().find(|n| n.ends_with(ext)).expect("file");
        std::fs::read(dir.join(name)).expect("read")
    };
    check_transcript(
        &read(".json"),
        &String::from_utf8(read(".txt")).expect("UTF-8"),
        &from,
    );

    let eml = wait_for("the .eml", Duration::from_secs(30), async || {
        let names = visible_files(&outbox);
        (!names.is_empty()).then_some(names)
    })
    .await;
    assert_eq!(eml.len(), 1, "{eml:?}");
    assert!(eml[0].ends_with(".eml"));
    let raw = std::fs::read_to_string(outbox.join(&eml[0])).expect("read .eml");
    assert!(raw.contains("To: log@example.com"), "{raw}");
    check_transcript_mail(&raw, &from);
}

/// Regular files in `dir` that are not hidden (sidecars, temporaries).
fn visible_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.contains(".tmp"))
        .collect();
    names.sort();
    names
}

/// The `retry_in` a job-failure log line reports (tracing's `Debug` of a
/// `Duration`: `750ms`, `2.5s`…), its colours stripped.
fn retry_in(line: &str) -> Option<Duration> {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An ANSI colour sequence: ESC [ … m.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let value = plain.split("retry_in=").nth(1)?.split_whitespace().next()?;
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(number_end);
    let number: f64 = number.parse().ok()?;
    let secs = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// The waits (in seconds) the alerts about `customer` reported, in order sent.
fn alert_waits(mail: &[SentMail], alert_to: &str, customer: &str) -> Vec<u64> {
    mail_to(mail, alert_to)
        .iter()
        .filter_map(|m| {
            let raw = unfold(&m.raw);
            let subject = raw.lines().find(|l| l.starts_with("Subject: "))?;
            let rest =
                subject.strip_prefix(&format!("Subject: Customer {customer} has waited "))?;
            let n = rest.split_whitespace().next()?;
            assert!(
                rest.ends_with("no agent available"),
                "unexpected alert subject: {subject}"
            );
            n.parse().ok()
        })
        .collect()
}

async fn alerting_switchboard(moto: &Moto, alert_to: &str) -> Switchboard {
    let sender = format!("{}@example.com", unique_name("switchboard"));
    moto.verify_sender(&sender).await;
    let mut env = moto.env();
    env.extend([
        ("MAIL_FROM".to_string(), sender),
        ("ALERT_TO".into(), alert_to.to_string()),
        ("ALERT_WAIT_SECS".into(), "1".into()),
    ]);
    Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await
}

/// A private emulator that can count SES mail, for a test that needs its
/// own (it kills switchboards or runs several); `None` where that cannot run
/// (LocalStack on the host, or an emulator without SES), after saying why.
async fn own_moto_with_mail(why: &str) -> Option<Moto> {
    if common::aws::skip_on_localstack(why) {
        return None;
    }
    let moto = Moto::spawn().await;
    moto.mail_supported().await.then_some(moto)
}

/// Settings of a switchboard on DynamoDB in `moto` that mails an alert to
/// `alert_to` every `window_secs` a customer waits (from a verified sender).
async fn dynamo_alerting_env(
    moto: &Moto,
    alert_to: &str,
    window_secs: u64,
) -> Vec<(String, String)> {
    let sender = format!("{}@example.com", unique_name("switchboard"));
    moto.verify_sender(&sender).await;
    let mut env = dynamodb_env(moto);
    env.extend([
        ("MAIL_FROM".to_string(), sender),
        ("ALERT_TO".into(), alert_to.to_string()),
        ("ALERT_WAIT_SECS".into(), window_secs.to_string()),
    ]);
    env
}

#[tokio::test]
async fn a_waiting_customer_gets_one_alert_per_window_until_an_agent_takes_them() {
    let moto = Moto::spawn().await;
    if !moto.mail_supported().await {
        return;
    }
    let alert_to = format!("{}@example.com", unique_name("ops"));
    let sb = alerting_switchboard(&moto, &alert_to).await;
    let customer = number(20);
    // No agent online: the customer waits in the queue.
    assert_eq!(sb.text(&customer, "anyone there?").await.0, 200);
    let waits = wait_for(
        "the third window's alert",
        Duration::from_secs(20),
        async || {
            let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
            waits.contains(&3).then_some(waits)
        },
    )
    .await;
    println!("alerts after the third window: {waits:?}");

    // An agent signs in and takes the conversation: the alerts stop.
    let mut agent = sb.agent_with("alice", 1).await;
    agent
        .until(Duration::from_secs(10), "the waiting conversation", |a| {
            a.assigned.contains(&customer)
        })
        .await;
    let at_assignment = alert_waits(&moto.sent_mail().await, &alert_to, &customer).len();
    // Barrier: the next customer waits (the agent is full) and is alerted
    // about window after window; by its second alert, the taken customer
    // has been assigned through more than two windows.
    let next = number(23);
    assert_eq!(sb.text(&next, "and me?").await.0, 200);
    wait_for(
        "the next customer's second alert",
        Duration::from_secs(60),
        async || {
            let waits = alert_waits(&moto.sent_mail().await, &alert_to, &next);
            waits.contains(&2).then_some(())
        },
    )
    .await;
    let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
    println!("alerts in the end: {waits:?}");

    // One alert per window — 1 s, 2 s, 3 s… — never two for the same one,
    // however many checks ran in between.
    let distinct: BTreeSet<u64> = waits.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        waits.len(),
        "an alert was sent twice: {waits:?}"
    );
    let expected: BTreeSet<u64> = (1..=*distinct.last().unwrap_or(&0)).collect();
    assert_eq!(distinct, expected, "windows skipped: {waits:?}");
    // Nothing new after the agent took it (one may have been on its way).
    assert!(
        waits.len() <= at_assignment + 1,
        "alerts continued after assignment: {waits:?}"
    );
}

#[tokio::test]
async fn no_alert_while_an_agent_can_take_the_customer() {
    let moto = Moto::spawn().await;
    if !moto.mail_supported().await {
        return;
    }
    let alert_to = format!("{}@example.com", unique_name("ops"));
    let sb = alerting_switchboard(&moto, &alert_to).await;
    // Room for one: the customer is taken, the next one has to wait.
    let mut agent = sb.agent_with("alice", 1).await;
    let customer = number(21);
    assert_eq!(sb.text(&customer, "hi").await.0, 200);
    agent
        .until(Duration::from_secs(10), "the conversation", |a| {
            a.assigned.contains(&customer)
        })
        .await;
    // Barrier: a customer who waits with nobody free is alerted about, window
    // after window. By the second window's alert, the customer taken earlier
    // has been assigned through more than two windows.
    let waiting = number(22);
    assert_eq!(sb.text(&waiting, "me too").await.0, 200);
    wait_for(
        "the waiting customer's second alert",
        Duration::from_secs(60),
        async || {
            let waits = alert_waits(&moto.sent_mail().await, &alert_to, &waiting);
            waits.contains(&2).then_some(())
        },
    )
    .await;
    assert!(
        alert_waits(&moto.sent_mail().await, &alert_to, &customer).is_empty(),
        "an alert about a customer an agent had taken"
    );
}

/// With `STORE=dynamodb`, a dyno replaced by one with an empty disk while a
/// customer waits: the new router queues the alert of the window the old
/// one already sent (same key: the wait's start is in DynamoDB's routes),
/// and the job's claim in DynamoDB keeps it from being sent twice.
#[tokio::test]
async fn after_a_dyno_is_replaced_each_alert_window_is_still_sent_once() {
    let Some(moto) = own_moto_with_mail("kills its switchboard and counts SES mail").await else {
        return;
    };
    let alert_to = format!("{}@example.com", unique_name("ops"));
    // Long enough that the replacement starts within the first window.
    const WINDOW_SECS: u64 = 8;
    let env = dynamo_alerting_env(&moto, &alert_to, WINDOW_SECS).await;
    let mut sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    let customer = number(24);
    assert_eq!(sb.text(&customer, "anyone there?").await.0, 200);
    let window = Duration::from_secs(WINDOW_SECS);
    wait_for("the first window's alert", window * 3, async || {
        let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
        waits.contains(&WINDOW_SECS).then_some(())
    })
    .await;
    sb.kill9();
    std::fs::remove_dir_all(&sb.data_dir).expect("wipe DATA_DIR");
    sb.spawn().await;
    // Barrier: the second window's alert comes after the new router's
    // checks of the first window.
    wait_for("the second window's alert", window * 4, async || {
        let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
        waits.contains(&(2 * WINDOW_SECS)).then_some(())
    })
    .await;
    let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
    let first = waits.iter().filter(|w| **w == WINDOW_SECS).count();
    assert_eq!(
        first, 1,
        "the first window alerted {first} times: {waits:?}"
    );
    // The new dyno did queue the first window again, and its claim stopped
    // it (done, or still claimed by the dead dyno when the mail had just gone).
    let log = sb.log();
    assert!(
        log.contains("job already done by another instance")
            || log.contains("job claimed by another instance"),
        "the new dyno did not meet the first window's alert: {log}"
    );
}

/// With `STORE=dynamodb`, a job queued on a dyno that dies is not lost with
/// its disk: it is published in DynamoDB, and the replacement (empty
/// `DATA_DIR`) runs it.
#[tokio::test]
async fn a_job_left_on_a_dyno_that_died_is_run_by_its_replacement() {
    let Some(moto) = own_moto_with_mail("kills its switchboard and counts SES mail").await else {
        return;
    };
    // The sender is not verified yet: SES refuses the transcript mail, and
    // the job waits on the first dyno's disk for its next attempt.
    let sender = format!("{}@example.com", unique_name("switchboard"));
    let transcript_to = format!("{}@example.com", unique_name("log"));
    let mut env = dynamodb_env(&moto);
    env.extend([
        ("MAIL_FROM".to_string(), sender.clone()),
        ("TRANSCRIPT_TO".into(), transcript_to.clone()),
    ]);
    let mut sb = Switchboard::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    let mut agent = sb.agent("alice").await;
    let from = converse_and_resolve(&sb, &mut agent, 2).await;
    // Killed between two attempts, not during one: a running attempt's
    // claim would hold the job for the attempt limit. The claim is released
    // before a failure is logged, so after a failure whose next attempt is
    // seconds away the job is free; polled tightly, the kill lands long
    // before that attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let log = sb.log();
        let far_enough = log
            .lines()
            .rfind(|l| l.contains("job failed; will retry") && l.contains("transcript-mail/"))
            .and_then(retry_in)
            .is_some_and(|wait| wait >= Duration::from_secs(2));
        if far_enough {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt with a later retry: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sb.kill9();
    drop(agent);
    std::fs::remove_dir_all(&sb.data_dir).expect("wipe DATA_DIR");
    moto.verify_sender(&sender).await;
    let logged_before = sb.log().len();
    sb.spawn().await;

    let mail = wait_for(
        "the transcript mail, from the new dyno",
        Duration::from_secs(60),
        async || {
            let all = moto.sent_mail().await;
            let mine: Vec<SentMail> = mail_to(&all, &transcript_to).into_iter().cloned().collect();
            (!mine.is_empty()).then_some(mine)
        },
    )
    .await;
    assert_eq!(mail.len(), 1);
    check_transcript_mail(&mail[0].raw, &from);
    let log = sb.log();
    assert!(
        log[logged_before..].contains("queued a job another instance published"),
        "{log}"
    );
}

/// Three switchboards on one table set, a customer waiting with nobody
/// available: only the holder of the router lease checks waits, so each
/// alert window is mailed once in all, not once per instance.
#[tokio::test]
async fn three_instances_alert_each_window_once() {
    let Some(moto) = own_moto_with_mail("runs three switchboards and counts SES mail").await else {
        return;
    };
    let alert_to = format!("{}@example.com", unique_name("ops"));
    let mut env = dynamo_alerting_env(&moto, &alert_to, 1).await;
    env.push(("LEASE_SECS".into(), "2".into()));
    let mut members = Vec::new();
    for i in 0..3 {
        let mut extra = env.clone();
        extra.push(("INSTANCE_ID".into(), format!("alerting-{i}")));
        members.push(
            Switchboard::start(Options {
                extra_env: extra,
                await_leadership: false,
                ..Default::default()
            })
            .await,
        );
    }
    let all: Vec<&Switchboard> = members.iter().collect();
    crate::cluster::one_leader(&all).await;
    let customer = number(25);
    // Posted to each instance in turn: any of them takes webhooks.
    for (i, sb) in members.iter().enumerate() {
        assert_eq!(sb.text(&customer, &format!("hello? ({i})")).await.0, 200);
    }
    let waits = wait_for(
        "the fourth window's alert",
        Duration::from_secs(60),
        async || {
            let waits = alert_waits(&moto.sent_mail().await, &alert_to, &customer);
            waits.contains(&4).then_some(waits)
        },
    )
    .await;
    let distinct: BTreeSet<u64> = waits.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        waits.len(),
        "a window was alerted more than once: {waits:?}"
    );
}
