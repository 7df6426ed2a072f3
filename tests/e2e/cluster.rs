//! Several switchboards on one DynamoDB table set (in the emulator), as real
//! processes with a short router lease: exactly one routes, agents reach
//! only it (the others answer 503 + `Retry-After`), webhooks go to any, and
//! leadership moves on `kill -9`, SIGSTOP past the lease, SIGTERM and a
//! DynamoDB outage — with agents resuming with no gap and no duplicate.
//!
//! Each member gets its own `INSTANCE_ID` (`member-<i>`), so the lease
//! item can be checked against what `/healthz` says.

use crate::common;

use common::aws::{unique_name, Moto};
use common::twilio_media::{mms_params, TwilioMedia};
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use switchboard_protocol::client::ConnectError;
use switchboard_protocol::{ClientFrame, DeliveryStatus, ErrorCode, ServerFrame};

/// Generous bound of every wait (only a broken run reaches it).
const WAIT: Duration = Duration::from_secs(60);
/// The lease timeout of most tests, in seconds.
const SHORT_LEASE: &str = "2";
/// `METRICS_TOKEN` of every member.
const METRICS: &str = "cluster-test-metrics-token";

/// `n` switchboards on one fresh table set.
async fn members(n: usize, lease_secs: &str, grace_secs: f64) -> Vec<Switchboard> {
    members_on(&Moto::shared(), n, lease_secs, grace_secs).await
}

/// `n` switchboards on one fresh table set in `moto`.
async fn members_on(moto: &Moto, n: usize, lease_secs: &str, grace_secs: f64) -> Vec<Switchboard> {
    let twilio = Options::default().twilio_api_base;
    members_texting(moto, n, lease_secs, grace_secs, &twilio, &[]).await
}

/// `n` switchboards on one fresh table set in `moto`, sending replies to the
/// Twilio API at `twilio_api_base`, with `more_env` set too.
async fn members_texting(
    moto: &Moto,
    n: usize,
    lease_secs: &str,
    grace_secs: f64,
    twilio_api_base: &str,
    more_env: &[(String, String)],
) -> Vec<Switchboard> {
    let mut env = dynamodb_env(moto);
    env.extend(more_env.iter().cloned());
    let mut started = Vec::new();
    for i in 0..n {
        let mut extra = env.clone();
        extra.push(("LEASE_SECS".into(), lease_secs.into()));
        extra.push(("INSTANCE_ID".into(), format!("member-{i}")));
        extra.push(("METRICS_TOKEN".into(), METRICS.into()));
        started.push(
            Switchboard::start(Options {
                extra_env: extra,
                grace_secs,
                await_leadership: false,
                twilio_api_base: twilio_api_base.to_string(),
            })
            .await,
        );
    }
    started
}

/// Waits until exactly one of `members` says it leads and every other says
/// it follows; returns the leader's index in `members`.
pub(crate) async fn one_leader(members: &[&Switchboard]) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut roles = Vec::new();
        for sb in members {
            roles.push(sb.role().await);
        }
        let leaders: Vec<usize> = (0..roles.len())
            .filter(|&i| roles[i].as_deref() == Some("leader"))
            .collect();
        let followers = roles
            .iter()
            .filter(|r| r.as_deref() == Some("follower"))
            .count();
        if leaders.len() == 1 && followers == members.len() - 1 {
            return leaders[0];
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = members.iter().map(|sb| sb.log()).collect();
            panic!(
                "no single leader: roles {roles:?}; logs:\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lease item's holder, read from DynamoDB (the shared emulator).
async fn lease_holder(sb: &Switchboard) -> Option<String> {
    let prefix = env_value(&sb.env, "DYNAMODB_TABLE_PREFIX").expect("a table prefix");
    let item = Moto::shared()
        .dynamodb()
        .await
        .get_item()
        .table_name(format!("{prefix}meta"))
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("lease#router".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read the lease item")
        .item?;
    item.get("holder")?.as_s().ok().cloned()
}

/// The value of an unlabelled metric on `/metrics`, if it is there.
async fn metric(sb: &Switchboard, name: &str) -> Option<f64> {
    let text = sb
        .http
        .get(sb.url("/metrics"))
        .bearer_auth(METRICS)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

/// The agent-socket handshake, by hand, to see the raw answer.
async fn handshake(sb: &Switchboard) -> reqwest::Response {
    sb.http
        .get(sb.url(switchboard_protocol::AGENT_WS_PATH))
        .basic_auth("alice", Some("alice-pw"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("handshake request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_leader_takes_agents_and_a_webhook_to_any_instance_reaches_the_agent() {
    let sbs = members(3, SHORT_LEASE, 30.0).await;
    let all: Vec<&Switchboard> = sbs.iter().collect();
    let leader = one_leader(&all).await;
    assert_eq!(
        lease_holder(&sbs[0]).await,
        Some(format!("member-{leader}")),
        "the lease item names the instance that says it leads"
    );

    // A follower refuses the agent socket before the upgrade: 503 with
    // Retry-After, which the protocol's client takes for "retry later",
    // not for a wrong password.
    for (i, sb) in sbs.iter().enumerate().filter(|(i, _)| *i != leader) {
        let answer = handshake(sb).await;
        assert_eq!(answer.status().as_u16(), 503, "member {i}");
        assert!(
            answer.headers().contains_key("retry-after"),
            "member {i}: {:?}",
            answer.headers()
        );
        match open_socket(sb, "alice").await {
            Err(e @ ConnectError::Refused(503)) => assert!(e.is_transient()),
            other => panic!("member {i}: expected a 503 refusal, got {:?}", other.err()),
        }
    }
    // On the leader the same handshake upgrades.
    assert_eq!(handshake(&sbs[leader]).await.status().as_u16(), 101);

    // Only the leader reads the streams. A reader sets the stream-lag gauge
    // as soon as it has read every shard to its end (its first idle round,
    // a fraction of a second); once the leader's has, the followers, up for
    // seconds by then, have not.
    wait_for("the leader's stream reader", WAIT, async || {
        metric(&sbs[leader], "switchboard_dynamodb_stream_lag_seconds").await
    })
    .await;
    assert_eq!(metric(&sbs[leader], "switchboard_leader").await, Some(1.0));
    for (i, sb) in sbs.iter().enumerate().filter(|(i, _)| *i != leader) {
        assert_eq!(
            metric(sb, "switchboard_leader").await,
            Some(0.0),
            "member {i}"
        );
        assert_eq!(
            metric(sb, "switchboard_dynamodb_stream_lag_seconds").await,
            None,
            "member {i} reads the streams"
        );
    }

    let (mut alice, at) =
        Agent::connect_to_leader(&all, "alice", BTreeMap::new(), Some(true), Some(10)).await;
    assert_eq!(at, leader);
    // A webhook posted to each instance reaches her.
    for (i, sb) in sbs.iter().enumerate() {
        assert_eq!(sb.text(&number(100 + i), &format!("via {i}")).await.0, 200);
    }
    alice
        .until(WAIT, "a message through every instance", |a| {
            (0..3).all(|i| a.bodies(&number(100 + i)) == vec![format!("via {i}")])
        })
        .await;
    assert_eq!(one_leader(&all).await, leader, "leadership stayed put");
}

/// How many leader kills [`kill_9_the_leader_under_load_another_takes_over_and_the_agent_misses_nothing`]
/// makes: `FAILOVER_KILLS` (the cluster benchmark asks for 10), default 1.
fn failover_kills() -> usize {
    std::env::var("FAILOVER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Min, median and max of `times` (not empty).
fn distribution(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    let n = times.len();
    let median = if n.is_multiple_of(2) {
        (times[n / 2 - 1] + times[n / 2]) / 2
    } else {
        times[n / 2]
    };
    (times[0], median, times[n - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_the_leader_under_load_another_takes_over_and_the_agent_misses_nothing() {
    let mut sbs = members(3, SHORT_LEASE, 120.0).await;
    let (mut alice, _) = {
        let all: Vec<&Switchboard> = sbs.iter().collect();
        one_leader(&all).await;
        Agent::connect_to_leader(&all, "alice", BTreeMap::new(), Some(true), Some(10)).await
    };
    let customer = number(200);
    let kills = failover_kills();
    let mut acked = Vec::new();
    let mut routed_again = Vec::new();
    let mut reconnected = Vec::new();
    // Each round kills the leader; the next one restarts it first (as a
    // follower now), so every kill is of one of three members.
    for round in 0..kills {
        let leader = {
            let all: Vec<&Switchboard> = sbs.iter().collect();
            one_leader(&all).await
        };
        let followers: Vec<u16> = (0..3)
            .filter(|&i| i != leader)
            .map(|i| sbs[i].port)
            .collect();

        // Steady load: one text every 100 ms, to the followers in turn
        // (both outlive the kill); each must be acknowledged.
        const TEXTS: usize = 80;
        let load = {
            let customer = customer.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..TEXTS {
                    let sb = Switchboard::reached_at(followers[i % followers.len()]);
                    let body = format!("load {round}.{i}");
                    let (status, answer) = sb.text(&customer, &body).await;
                    assert_eq!(status, 200, "text {round}.{i}: {answer}");
                    acked.push(body);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                acked
            })
        };
        let before_round = alice.bodies(&customer).len();
        alice = {
            let all: Vec<&Switchboard> = sbs.iter().collect();
            alice
                .until_following_leader(&all, WAIT, "the first texts", |a| {
                    a.bodies(&customer).len() >= before_round + 10
                })
                .await
        };

        sbs[leader].kill9();
        let killed = Instant::now();
        let survivors: Vec<&Switchboard> =
            (0..3).filter(|&i| i != leader).map(|i| &sbs[i]).collect();
        let seen_before = alice.bodies(&customer).len();
        let (reconnected_alice, _) = alice.reconnect_to_leader(&survivors).await;
        reconnected.push(killed.elapsed());
        // On a busy machine leadership may move once more among the
        // survivors (a missed renewal): the agent follows, as behind nginx.
        alice = reconnected_alice
            .until_following_leader(&survivors, WAIT, "texts routed by the new leader", |a| {
                a.bodies(&customer).len() > seen_before
            })
            .await;
        routed_again.push(killed.elapsed());
        println!(
            "failover: agent reconnected {:?} and routed again {:?} after kill -9 of the leader (LEASE_SECS={SHORT_LEASE})",
            reconnected[round],
            routed_again[round]
        );
        one_leader(&survivors).await;
        acked.extend(load.await.expect("the load task"));
        if round + 1 < kills {
            sbs[leader].spawn().await;
        }
    }
    if kills > 1 {
        let (min, median, max) = distribution(routed_again);
        let (rmin, rmedian, rmax) = distribution(reconnected);
        println!(
            "failover distribution: kills={kills} lease_secs={SHORT_LEASE} \
             routed_again_min={min:.2?} routed_again_median={median:.2?} routed_again_max={max:.2?} \
             reconnected_min={rmin:.2?} reconnected_median={rmedian:.2?} reconnected_max={rmax:.2?}"
        );
    }

    let all: Vec<&Switchboard> = sbs.iter().filter(|sb| sb.pid().is_some()).collect();
    let new_leader = one_leader(&all).await;
    // Anything sent twice or late would arrive before the barrier text.
    let alice = all[new_leader]
        .barrier_following_leader(alice, &all, &customer)
        .await;
    let got: Vec<String> = alice
        .bodies(&customer)
        .into_iter()
        .filter(|b| !is_barrier(b))
        .collect();
    assert_eq!(got, acked, "every acknowledged text exactly once, in order");
    let seqs: Vec<u64> = alice.messages[&customer].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_stopped_past_its_lease_steps_down_on_waking_and_no_conversation_has_two_agents() {
    // A short grace: the new leader requeues the stopped leader's agent's
    // conversation to an agent it serves.
    let sbs = members(3, SHORT_LEASE, 1.0).await;
    let all: Vec<&Switchboard> = sbs.iter().collect();
    let leader = one_leader(&all).await;
    let (mut alice, _) =
        Agent::connect_to_leader(&all, "alice", BTreeMap::new(), Some(true), Some(10)).await;
    let customer = number(300);
    let follower = (leader + 1) % 3;
    assert_eq!(sbs[follower].text(&customer, "hello").await.0, 200);
    alice
        .until(WAIT, "the conversation", |a| a.assigned.contains(&customer))
        .await;

    sbs[leader].signal("STOP");
    let others: Vec<&Switchboard> = (0..3).filter(|&i| i != leader).map(|i| &sbs[i]).collect();
    let (mut bob, at) =
        Agent::connect_to_leader(&others, "bob", BTreeMap::new(), Some(true), Some(10)).await;
    let new_leader = (0..3).filter(|&i| i != leader).nth(at).expect("an index");
    bob.until(WAIT, "alice's conversation, requeued to him", |b| {
        b.assigned.contains(&customer)
    })
    .await;

    // The old leader wakes long past its lease: it steps down, and its
    // agent is told why before the socket closes.
    sbs[leader].signal("CONT");
    alice
        .until_frame(WAIT, "not_leader", |f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::NotLeader,
                    fatal: true,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        one_leader(&all).await,
        new_leader,
        "exactly one leader after"
    );

    // Alice comes back through the leader: the conversation is bob's now.
    let (mut alice, at) = alice.reconnect_to_leader(&all).await;
    assert_eq!(at, new_leader);
    alice
        .until(WAIT, "told the conversation moved", |a| {
            !a.assigned.contains(&customer)
        })
        .await;
    // A new text (through the old leader, now a follower) reaches bob only.
    assert_eq!(sbs[leader].text(&customer, "after").await.0, 200);
    bob.until(WAIT, "the new text", |b| {
        b.bodies(&customer).contains(&"after".to_string())
    })
    .await;
    // Barrier for alice: a new customer, posted after, is assigned to her
    // (least loaded) only after the router handled "after".
    let other = number(301);
    assert_eq!(sbs[follower].text(&other, "next").await.0, 200);
    alice
        .until(WAIT, "the next customer", |a| a.assigned.contains(&other))
        .await;
    assert!(
        !alice.bodies(&customer).contains(&"after".to_string()),
        "alice got a text of a conversation that is bob's"
    );
    assert!(
        alice.assigned.is_disjoint(&bob.assigned),
        "a conversation held by two agents: alice {:?}, bob {:?}",
        alice.assigned,
        bob.assigned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_releases_the_lease_and_another_instance_takes_over_without_waiting_for_it() {
    // A lease far longer than the wait below: the other instance can only
    // lead in time if the lease was released.
    let mut sbs = members(2, "120", 120.0).await;
    let leader = {
        let all: Vec<&Switchboard> = sbs.iter().collect();
        one_leader(&all).await
    };
    let other = 1 - leader;
    let (mut alice, _) = Agent::connect_to_leader(
        &[&sbs[0], &sbs[1]],
        "alice",
        BTreeMap::new(),
        Some(true),
        Some(10),
    )
    .await;
    let customer = number(400);
    assert_eq!(sbs[other].text(&customer, "before").await.0, 200);
    alice
        .until(WAIT, "the first text", |a| {
            a.bodies(&customer) == vec!["before".to_string()]
        })
        .await;

    let stopping = Instant::now();
    sbs[leader].signal("TERM");
    wait_for("the other instance to lead", WAIT, async || {
        (sbs[other].role().await.as_deref() == Some("leader")).then_some(())
    })
    .await;
    println!(
        "took over {:?} after SIGTERM of the leader (LEASE_SECS=120)",
        stopping.elapsed()
    );
    assert!(
        sbs[leader].terminate(),
        "the old leader did not exit cleanly:\n{}",
        sbs[leader].log()
    );
    assert!(
        sbs[leader].log().contains("router lease released"),
        "{}",
        sbs[leader].log()
    );
    let (mut alice, _) = alice.reconnect_to_leader(&[&sbs[other]]).await;
    assert_eq!(sbs[other].text(&customer, "after").await.0, 200);
    alice
        .until(WAIT, "the text after the takeover", |a| {
            a.bodies(&customer) == vec!["before".to_string(), "after".to_string()]
        })
        .await;
}

/// DynamoDB unreachable for longer than the lease: the leader steps down
/// (it cannot renew), nobody can take over, webhooks are spooled on each
/// instance; when DynamoDB is back exactly one instance leads and every
/// acknowledged text reaches the agent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_paused_past_the_lease_ends_with_one_leader_and_every_webhook_stored_once() {
    if common::aws::skip_on_localstack("pauses its emulator: one private moto per test") {
        return;
    }
    // A private emulator: this test pauses it.
    let moto = Moto::spawn().await;
    let sbs = members_on(&moto, 2, SHORT_LEASE, 120.0).await;
    let all: Vec<&Switchboard> = sbs.iter().collect();
    one_leader(&all).await;
    let (mut alice, _) =
        Agent::connect_to_leader(&all, "alice", BTreeMap::new(), Some(true), Some(10)).await;
    let customer = number(700);
    assert_eq!(sbs[0].text(&customer, "before").await.0, 200);
    alice
        .until(WAIT, "the first text", |a| a.bodies(&customer).len() == 1)
        .await;

    // DynamoDB goes away for longer than the lease. Texts keep coming, to
    // both instances, and each is acknowledged (spooled on its instance).
    moto.pause();
    let mut sent = vec!["before".to_string()];
    for i in 0..6 {
        let body = format!("while paused {i}");
        let (status, answer) = sbs[i % 2].text(&customer, &body).await;
        assert_eq!(status, 200, "{answer}");
        sent.push(body);
    }
    // Nobody can renew or take the lease meanwhile: the leader steps down.
    wait_for("no leader while DynamoDB is away", WAIT, async || {
        let mut roles = Vec::new();
        for sb in &sbs {
            roles.push(sb.role().await);
        }
        roles
            .iter()
            .all(|r| r.as_deref() == Some("follower"))
            .then_some(())
    })
    .await;
    moto.resume();
    one_leader(&all).await;

    // The agent comes back to the leader and gets every text once. The two
    // instances' spools drain side by side, so only each one's order holds.
    // On a busy machine the emulator's backlog after the pause may cost the
    // new leader a renewal, and leadership move again: the agent follows it,
    // as it would behind the proxy.
    let (alice, _) = alice.reconnect_to_leader(&all).await;
    let alice = alice
        .until_following_leader(&all, WAIT, "every text", |a| {
            a.bodies(&customer).len() >= sent.len()
        })
        .await;
    let alice = sbs[0]
        .barrier_following_leader(alice, &all, &customer)
        .await;
    let mut got: Vec<String> = alice
        .bodies(&customer)
        .into_iter()
        .filter(|b| !is_barrier(b))
        .collect();
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "every acknowledged text exactly once");
    one_leader(&all).await;
    for (i, sb) in sbs.iter().enumerate() {
        assert!(
            sb.log().contains("spooling"),
            "member {i}'s webhooks did not go through its spool:\n{}",
            sb.log()
        );
    }
}

/// What the agent last saw of the delivery of reply `seq`.
fn status_of(agent: &Agent, seq: u64) -> Option<DeliveryStatus> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Status { seq: s, status, .. } if *s == seq => Some(*status),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_in_flight_when_its_leader_stalls_past_the_lease_reaches_twilio_once() {
    // Twilio is slow with the reply: the POST reaches the stand-in, which
    // creates the message only after the leader stalled and another took
    // over. Checking Twilio's list at takeover would find nothing and send
    // the reply a second time.
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 50).await;
    let sbs = members_texting(&Moto::shared(), 2, SHORT_LEASE, 30.0, &sim.base, &[]).await;
    let all: Vec<&Switchboard> = sbs.iter().collect();
    let leader = one_leader(&all).await;
    let other = 1 - leader;
    let (mut alice, at) =
        Agent::connect_to_leader(&all, "alice", BTreeMap::new(), Some(true), Some(10)).await;
    assert_eq!(at, leader);
    let customer = number(700);
    assert_eq!(
        sbs[other].text(&customer, "where is my order?").await.0,
        200
    );
    alice
        .until(WAIT, "the conversation", |a| a.assigned.contains(&customer))
        .await;

    let body = "it ships today";
    sim.faults(serde_json::json!([{ "status": 201, "accept_after_ms": 8000 }]))
        .await;
    alice
        .send(&ClientFrame::Reply {
            conversation: customer.clone(),
            client_id: "r1".into(),
            body: body.into(),
            media: Vec::new(),
        })
        .await;
    // The POST is at the stand-in (it took the fault) and held there.
    let deadline = Instant::now() + WAIT;
    while sim.pending_faults().await > 0 {
        assert!(Instant::now() < deadline, "the reply was never POSTed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sbs[leader].signal("STOP");
    // (Not through the stopped member: its handshake would hang.)
    let (mut alice, _) = alice.reconnect_to_leader(&[&sbs[other]]).await;

    // The held POST lands: the customer has the reply.
    let deadline = Instant::now() + WAIT;
    while sent_to(&sim, &customer).await.is_empty() {
        assert!(Instant::now() < deadline, "the held POST never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The old leader wakes long past its lease and steps down.
    sbs[leader].signal("CONT");
    assert_eq!(one_leader(&all).await, other, "exactly one leader after");
    // Until the new leader settled the reply (alice sees its status), or
    // sent it a second time (the assertion below says so).
    let settled = |a: &Agent| {
        matches!(
            status_of(a, 2),
            Some(DeliveryStatus::Sending | DeliveryStatus::Sent | DeliveryStatus::Delivered)
        )
    };
    let deadline = Instant::now() + WAIT;
    while sent_to(&sim, &customer).await.len() < 2
        && !alice.try_until(Duration::from_millis(200), settled).await
    {
        assert!(
            Instant::now() < deadline,
            "the reply's status never settled; new leader's log:\n{}",
            sbs[other].log()
        );
    }
    // Barrier: a later text through the old leader reaches alice on the new
    // one, so both have gone past the reply.
    assert_eq!(sbs[leader].text(&customer, "thanks").await.0, 200);
    alice
        .until(WAIT, "the later text", |a| {
            a.bodies(&customer).contains(&"thanks".to_string())
        })
        .await;
    assert_eq!(
        sent_to(&sim, &customer).await,
        [body],
        "the customer got the reply exactly once; new leader's log:\n{}",
        sbs[other].log()
    );
    let log = sbs[other].log();
    assert!(
        log.contains("the reply was already at Twilio"),
        "the new leader found the old leader's POST in Twilio's list; log:\n{log}"
    );
}

/// The bodies the stand-in was asked to send to `customer`.
async fn sent_to(sim: &PhoneSim, customer: &str) -> Vec<String> {
    sim.sent()
        .await
        .into_iter()
        .filter(|m| m["to"] == customer)
        .map(|m| m["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_running_on_a_dyno_that_dies_is_finished_by_another_without_waiting_out_the_attempt_limit(
) {
    // A media download that hangs: the job's attempt is running on the
    // instance that took the webhook when that instance is killed.
    let moto = Moto::shared();
    let bucket = unique_name("media");
    moto.create_bucket(&bucket).await;
    let twilio = TwilioMedia::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let env = [("S3_BUCKET".to_string(), bucket.clone())];
    let mut sbs = members_texting(&moto, 2, SHORT_LEASE, 30.0, &twilio.base, &env).await;
    let sid = format!("MM{}", &new_sid()[2..]);
    let url = twilio.add(&sid, "MEslow", "image/png", b"not really a png", false);
    twilio.hold("MEslow");
    let from = number(800);
    let params = mms_params(&sid, &from, "a picture", &[(url, "image/png".into())]);
    assert_eq!(sbs[0].post_signed("/twilio/sms", &params).await.0, 200);
    wait_for(
        "the download to start on the first instance",
        WAIT,
        async || (twilio.held("MEslow") > 0).then_some(()),
    )
    .await;

    sbs[0].kill9();
    let killed = Instant::now();
    twilio.release("MEslow");
    let key = format!("media/{from}/{sid}/0.png");
    // Generous: the claim is free 40 s after the dead instance's last
    // renewal, and the other instance looks for published jobs every 10 s.
    // (Before heartbeats, the claim held the job for 360 s.)
    let (body, _) = wait_for(
        &format!("s3://{bucket}/{key}, from the other instance"),
        Duration::from_secs(180),
        async || moto.s3_object(&bucket, &key).await,
    )
    .await;
    eprintln!(
        "a running job of a killed instance was finished by another {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(body, b"not really a png");
    let log = sbs[1].log();
    assert!(
        log.contains("queued a job another instance published"),
        "the other instance adopted the job; its log:\n{log}"
    );
}
