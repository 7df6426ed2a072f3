//! The DynamoDB store against the AWS emulator: `switchboard migrate` as a
//! deploy runs it, two instances racing on one conversation, a restart
//! resuming the change feed from its checkpoint (and, with an empty
//! `DATA_DIR`, from the checkpoints stored in DynamoDB), and webhooks taken while
//! DynamoDB is down (the inbound spool). (The whole core suite also
//! runs on DynamoDB with `SWITCHBOARD_TEST_STORE=dynamodb`.)

use crate::common;

use common::aws::Moto;
use common::*;
use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use switchboard_protocol::{ClientFrame, ServerFrame, UnassignReason};

const WAIT: Duration = Duration::from_secs(15);

fn prefix_of(env: &[(String, String)]) -> String {
    env_value(env, "DYNAMODB_TABLE_PREFIX")
        .expect("a table prefix")
        .to_string()
}

/// Runs the binary with exactly `env` and waits (bounded) for it to exit.
fn run(args: &[&str], env: &[(String, String)]) -> Output {
    let child = Command::new(binary("switchboard"))
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchboard");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchboard {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What DynamoDB says about each of the store's tables, for comparing.
async fn describe_tables(moto: &Moto, prefix: &str) -> Vec<String> {
    let client = moto.dynamodb().await;
    let mut described = Vec::new();
    for def in switchboard::migrate::tables().expect("table definitions") {
        let name = format!("{prefix}{}", def.table_name);
        let table = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe {name}: {e:?}"))
            .table
            .expect("a table description");
        described.push(format!(
            "{name} keys={:?} stream={:?} arn={:?} indexes={:?} created={:?}",
            table.key_schema(),
            table.stream_specification(),
            table.latest_stream_arn(),
            table
                .global_secondary_indexes()
                .iter()
                .map(|i| (i.index_name().map(str::to_string), i.key_schema().to_vec()))
                .collect::<Vec<_>>(),
            table.creation_date_time(),
        ));
    }
    described
}

/// `(seq, body)` of every stored message of `conversation`, read from the
/// messages table itself.
async fn stored_messages(moto: &Moto, prefix: &str, conversation: &str) -> Vec<(u64, String)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = moto.dynamodb().await;
    let mut stored = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(format!("{prefix}messages"))
            .key_condition_expression("conversation = :c")
            .expression_attribute_values(":c", AttributeValue::S(conversation.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("query messages");
        for item in out.items() {
            let seq = match item.get("seq") {
                Some(AttributeValue::N(n)) => n.parse().expect("numeric seq"),
                other => panic!("seq is {other:?}"),
            };
            let body = match item.get("body") {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => String::new(),
            };
            stored.push((seq, body));
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return stored,
        }
    }
}

#[tokio::test]
async fn migrate_creates_the_tables_once_and_serve_refuses_to_start_without_them() {
    let moto = Moto::shared();
    let env = dynamodb_env(&moto);
    let prefix = prefix_of(&env);

    // A deploy that forgot the release phase fails at start-up, and says why.
    let data = tempfile::tempdir().unwrap();
    let mut serve_env = env.clone();
    serve_env.extend(
        [
            ("PORT", free_port().to_string()),
            ("BIND_ADDR", "127.0.0.1".to_string()),
            ("DATA_DIR", data.path().display().to_string()),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
            ("TWILIO_FROM", TWILIO_NUMBER.to_string()),
            ("AGENTS", "alice:pw".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let out = run(&["serve"], &serve_env);
    assert!(!out.status.success(), "serve started on missing tables");
    let said = text_of(&out);
    assert!(
        said.contains("switchboard migrate") && said.contains("does not exist"),
        "{said}"
    );

    // First run creates everything.
    let out = run(&["migrate"], &env);
    assert!(out.status.success(), "{}", text_of(&out));
    let said = text_of(&out);
    for table in ["messages", "conversations", "lookups", "routes", "meta"] {
        assert!(
            said.contains(&format!("created table {prefix}{table}")),
            "{said}"
        );
    }
    let created = describe_tables(&moto, &prefix).await;
    for streamed in ["messages", "conversations"] {
        let line = created
            .iter()
            .find(|l| l.starts_with(&format!("{prefix}{streamed} ")))
            .unwrap();
        assert!(line.contains("NewAndOldImages"), "{line}");
        assert!(!line.contains("arn=None"), "{line}");
    }
    let out = run(&["migrate", "--check"], &env);
    assert!(out.status.success(), "{}", text_of(&out));

    // Second run (the next deploy) changes nothing: same tables, same streams.
    let out = run(&["migrate"], &env);
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(text_of(&out).contains("nothing to do"), "{}", text_of(&out));
    assert_eq!(describe_tables(&moto, &prefix).await, created);

    // And now serve starts.
    let mut sb = Switchboard::start(Options {
        extra_env: env.clone(),
        ..Options::default()
    })
    .await;
    assert_eq!(sb.text(&number(1), "hello").await.0, 200);
    sb.terminate();

    // A table that exists with another key schema is a clear error, and
    // nothing else is created.
    let other = format!("{}-", common::aws::unique_name("sbx"));
    moto.dynamodb()
        .await
        .create_table()
        .table_name(format!("{other}routes"))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a conflicting table");
    let mut other_env = moto.env();
    other_env.push(("STORE".into(), "dynamodb".into()));
    other_env.push(("DYNAMODB_TABLE_PREFIX".into(), other.clone()));
    let out = run(&["migrate"], &other_env);
    assert!(!out.status.success());
    let said = text_of(&out);
    assert!(
        said.contains(&format!("{other}routes")) && said.contains("key schema"),
        "{said}"
    );
    let client = moto.dynamodb().await;
    for table in ["meta", "messages", "conversations", "lookups"] {
        let found = client
            .describe_table()
            .table_name(format!("{other}{table}"))
            .send()
            .await;
        assert!(found.is_err(), "{other}{table} was created anyway");
    }
}

#[tokio::test]
async fn two_instances_racing_on_one_conversation_store_each_message_once_in_order() {
    let moto = Moto::shared();
    let env = dynamodb_env(&moto);
    let prefix = prefix_of(&env);
    let options = || Options {
        extra_env: env.clone(),
        ..Options::default()
    };
    let a = Switchboard::start(options()).await;
    // The second one follows: it does not get the router lease.
    let b = Switchboard::start(Options {
        await_leadership: false,
        ..options()
    })
    .await;
    // Both take webhooks; the agent is on whichever holds the router lease.
    let (mut alice, _) =
        Agent::connect_to_leader(&[&a, &b], "alice", BTreeMap::new(), Some(true), Some(10)).await;
    let customer = number(7);

    // Every message reaches both instances at the same moment, as a Twilio
    // retry does when the first delivery timed out behind a load balancer.
    const N: usize = 40;
    let messages: Vec<(String, String)> =
        (0..N).map(|i| (new_sid(), format!("race {i}"))).collect();
    let posts = messages.iter().flat_map(|(sid, body)| {
        let params = inbound_params(sid, &customer, body);
        [(&a, params.clone()), (&b, params)]
    });
    let statuses = futures_util::future::join_all(
        posts.map(|(sb, params)| async move { sb.post_signed("/twilio/sms", &params).await.0 }),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // DynamoDB holds seqs 1..N, each message exactly once.
    let stored = stored_messages(&moto, &prefix, &customer).await;
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>(), "{stored:?}");
    let mut bodies: Vec<&str> = stored.iter().map(|(_, b)| b.as_str()).collect();
    bodies.sort_unstable();
    let mut expected: Vec<&str> = messages.iter().map(|(_, b)| b.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(bodies, expected, "each message stored once");

    // The agent, on one instance, sees exactly that history.
    alice
        .until(WAIT, "every message", |a| a.bodies(&customer).len() >= N)
        .await;
    // Anything extra would arrive before the barrier text.
    a.barrier(&mut alice, &customer).await;
    let seen: Vec<(u64, String)> = alice.messages[&customer]
        .iter()
        .filter(|m| !is_barrier(&m.body))
        .map(|m| (m.seq, m.body.clone()))
        .collect();
    assert_eq!(seen, stored);
}

#[tokio::test]
async fn a_restart_resumes_the_stream_from_its_checkpoint() {
    let moto = Moto::shared();
    let env = dynamodb_env(&moto);
    let mut a = Switchboard::start(Options {
        extra_env: env.clone(),
        ..Options::default()
    })
    .await;
    let mut alice = a.agent("alice").await;
    let (resolved, open, later) = (number(1), number(2), number(3));

    // A conversation that was resolved: replaying its stream records would
    // reopen it, so its staying closed shows nothing is read twice.
    assert_eq!(a.text(&resolved, "a question").await.0, 200);
    alice
        .until(WAIT, "the first conversation", |a| {
            a.assigned.contains(&resolved)
        })
        .await;
    alice
        .send(&ClientFrame::Resolve {
            conversation: resolved.clone(),
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
    assert_eq!(a.text(&open, "still open").await.0, 200);
    alice
        .until(WAIT, "the second conversation", |a| {
            a.bodies(&open).len() == 1
        })
        .await;
    a.kill9();
    drop(alice);

    // While it is down, another instance takes a message.
    let mut b = Switchboard::start(Options {
        extra_env: env.clone(),
        grace_secs: 600.0,
        ..Options::default()
    })
    .await;
    assert_eq!(b.text(&later, "sent while you were away").await.0, 200);
    // It stops (releasing the router lease if it took it), so the restarted
    // instance routes.
    assert!(b.terminate(), "b did not stop cleanly:\n{}", b.log());

    a.spawn().await;
    let resume: BTreeMap<String, u64> = [(open.clone(), 1)].into();
    let mut alice = Agent::connect(&a, "alice", resume, Some(true), Some(10)).await;
    // Nothing skipped: what arrived meanwhile is routed here.
    alice
        .until(WAIT, "the message sent meanwhile", |a| {
            a.bodies(&later) == vec!["sent while you were away".to_string()]
        })
        .await;
    // Anything replayed would arrive before the barrier text.
    a.barrier(&mut alice, &later).await;
    // Nothing applied twice: the resolved conversation stays closed, and
    // the open one gets no second copy.
    assert!(
        !alice.assigned.contains(&resolved),
        "a replayed record reopened {resolved}: {:?}",
        alice.frames
    );
    assert!(!alice.messages.contains_key(&open), "{:?}", alice.messages);
    assert_eq!(alice.assigned, [later.clone()].into_iter().collect());
}

/// The stream checkpoints stored in DynamoDB's `meta` table (item ids).
async fn stored_checkpoints(moto: &Moto, prefix: &str) -> Vec<String> {
    let client = moto.dynamodb().await;
    let out = client
        .scan()
        .table_name(format!("{prefix}meta"))
        .consistent_read(true)
        .send()
        .await
        .expect("scan meta");
    out.items()
        .iter()
        .filter_map(|item| item.get("id")?.as_s().ok().cloned())
        .filter(|id| id.starts_with("checkpoint#"))
        .collect()
}

#[tokio::test]
async fn a_restart_with_an_empty_data_dir_resumes_from_the_checkpoints_in_dynamodb() {
    let moto = Moto::shared();
    let env = dynamodb_env(&moto);
    let prefix = prefix_of(&env);
    let mut a = Switchboard::start(Options {
        extra_env: env.clone(),
        grace_secs: 600.0,
        ..Options::default()
    })
    .await;
    let mut alice = a.agent("alice").await;
    let customer = number(4);
    for body in ["one", "two"] {
        assert_eq!(a.text(&customer, body).await.0, 200);
    }
    alice
        .until(WAIT, "the first two messages", |a| {
            a.bodies(&customer).len() == 2
        })
        .await;
    // The router processed them: both streams' checkpoints are stored.
    wait_for("both streams' checkpoints in DynamoDB", WAIT, async || {
        let stored = stored_checkpoints(&moto, &prefix).await;
        let both = stored.iter().any(|id| id.contains("messages"))
            && stored.iter().any(|id| id.contains("conversations"));
        both.then_some(())
    })
    .await;
    // Acknowledged, then the dyno dies at once: routed or not, it must
    // reach alice after the restart.
    assert_eq!(a.text(&customer, "three").await.0, 200);
    a.kill9();
    let before: Vec<(u64, String)> = alice.messages[&customer]
        .iter()
        .map(|m| (m.seq, m.body.clone()))
        .collect();
    let resume: BTreeMap<String, u64> =
        [(customer.clone(), before.last().map_or(0, |(seq, _)| *seq))].into();
    drop(alice);

    // The PaaS gives the new dyno an empty disk.
    std::fs::remove_dir_all(&a.data_dir).expect("wipe DATA_DIR");
    let logged_before = a.log().len();
    a.spawn().await;
    let mut alice = Agent::connect(&a, "alice", resume, Some(true), Some(10)).await;
    assert_eq!(a.text(&customer, "four").await.0, 200);
    alice
        .until(WAIT, "the messages after the restart", |a| {
            a.bodies(&customer).contains(&"four".to_string())
        })
        .await;
    // Anything replayed twice would arrive before the barrier text.
    a.barrier(&mut alice, &customer).await;
    let mut seen = before;
    seen.extend(
        alice.messages[&customer]
            .iter()
            .filter(|m| !is_barrier(&m.body))
            .map(|m| (m.seq, m.body.clone())),
    );
    let want: Vec<(u64, String)> = (1..)
        .zip(["one", "two", "three", "four"].map(String::from))
        .collect();
    assert_eq!(seen, want, "each message once, in order, none lost");

    // It started from the stored checkpoints, not the streams' start.
    let log = a.log();
    let restarted = &log[logged_before..];
    assert!(
        restarted.contains("resuming from the checkpoints stored in DynamoDB"),
        "{restarted}"
    );
    assert!(
        !restarted.contains("read from its oldest record"),
        "a shard was read from the stream's start: {restarted}"
    );
}

/// Waits until DynamoDB holds `bodies` for each customer, then checks it
/// holds exactly them, in that order, as seqs 1, 2, 3…
async fn assert_stored_in_order(
    moto: &Moto,
    prefix: &str,
    expected: &BTreeMap<String, Vec<String>>,
) {
    for (customer, bodies) in expected {
        let stored = wait_for(
            "the spooled messages in DynamoDB",
            Duration::from_secs(90),
            async || {
                let stored = stored_messages(moto, prefix, customer).await;
                (stored.len() >= bodies.len()).then_some(stored)
            },
        )
        .await;
        let want: Vec<(u64, String)> = (1..).zip(bodies.iter().cloned()).collect();
        assert_eq!(stored, want, "{customer}");
    }
}

/// Posts `count` texts round-robin from `customers`, each answered 200,
/// and records them in `expected`; every `retry_every`th is posted twice,
/// as Twilio retries. Prints how long the answers took.
async fn text_all(
    sb: &Switchboard,
    customers: &[String],
    label: &str,
    count: usize,
    retry_every: usize,
    expected: &mut BTreeMap<String, Vec<String>>,
) {
    let mut took = Vec::new();
    for i in 0..count {
        let sent = Instant::now();
        let customer = &customers[i % customers.len()];
        let body = format!("{label} {i}");
        let params = inbound_params(&new_sid(), customer, &body);
        let (status, answer) = sb.post_signed("/twilio/sms", &params).await;
        assert_eq!(status, 200, "{answer}; log:\n{}", sb.log());
        took.push(sent.elapsed());
        if i % retry_every == 0 {
            assert_eq!(sb.post_signed("/twilio/sms", &params).await.0, 200);
        }
        expected.entry(customer.clone()).or_default().push(body);
    }
    took.sort();
    println!(
        "{label}: {count} webhooks answered 200; median {:?}, slowest {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

#[tokio::test]
async fn with_dynamodb_down_webhooks_are_spooled_and_stored_once_in_order_when_it_is_back() {
    if common::aws::skip_on_localstack(
        "pauses or kills its emulator: one private moto per test, not LocalStack",
    ) {
        return;
    }
    // A private emulator: this test pauses it.
    let moto = Moto::spawn().await;
    let env = dynamodb_env(&moto);
    let prefix = prefix_of(&env);
    let mut sb = Switchboard::start(Options {
        extra_env: env,
        grace_secs: 600.0,
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent_with("alice", 10).await;
    let customers: Vec<String> = (40..43).map(number).collect();
    let mut expected = BTreeMap::new();
    text_all(&sb, &customers, "before", 3, 100, &mut expected).await;
    alice
        .until(WAIT, "the first messages", |a| {
            customers.iter().all(|c| a.bodies(c).len() == 1)
        })
        .await;

    // DynamoDB goes away; customers keep texting, and Twilio retries some.
    moto.pause();
    text_all(&sb, &customers, "while down", 30, 10, &mut expected).await;
    // The spool is on disk: it survives kill -9 while DynamoDB is still away.
    sb.kill9();
    drop(alice);
    moto.resume();
    sb.spawn().await;
    // Everything reaches the store once, in the order it was sent.
    let restarted = Instant::now();
    assert_stored_in_order(&moto, &prefix, &expected).await;
    println!(
        "spool drained into DynamoDB within {:?} of the restart",
        restarted.elapsed()
    );

    // A second outage, this time without a restart: texts sent while it
    // lasts and right after it ends (queued behind the spooled ones) keep
    // their order, and so do texts once the spool has drained.
    moto.pause();
    text_all(&sb, &customers, "second outage", 6, 4, &mut expected).await;
    moto.resume();
    text_all(&sb, &customers, "right after", 6, 4, &mut expected).await;
    assert_stored_in_order(&moto, &prefix, &expected).await;
    text_all(&sb, &customers, "later", 3, 2, &mut expected).await;
    assert_stored_in_order(&moto, &prefix, &expected).await;

    // The agent, who resumes where she was, gets exactly the rest.
    let resume = customers.iter().map(|c| (c.clone(), 1)).collect();
    let mut alice = Agent::connect(&sb, "alice", resume, Some(true), Some(10)).await;
    alice
        .until(WAIT, "every spooled message", |a| {
            expected
                .iter()
                .all(|(c, bodies)| a.bodies(c).len() >= bodies.len() - 1)
        })
        .await;
    // Anything sent twice would arrive before the barrier text.
    sb.barrier(&mut alice, &customers[0]).await;
    for (customer, bodies) in &expected {
        let got: Vec<String> = alice
            .bodies(customer)
            .into_iter()
            .filter(|b| !is_barrier(b))
            .collect();
        assert_eq!(got, bodies[1..], "{customer}");
    }
    let log = sb.log();
    assert!(
        log.contains("spooling"),
        "the webhooks did not go through the spool:\n{log}"
    );
}
