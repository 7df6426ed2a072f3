//! Nothing acknowledged is lost: `kill -9` right after a burst of 200s, and
//! a heavy concurrent load across many numbers.

use crate::common;

use common::*;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn every_acknowledged_message_survives_kill_9_and_is_routed_after_restart() {
    let mut sb = Switchboard::start(Options::default()).await;
    let mut alice = sb.agent_with("alice", 1000).await;
    // A conversation assigned before the crash stays sticky after it.
    sb.text(&number(1), "before the crash").await;
    alice
        .until(Duration::from_secs(5), "first", |a| a.received_count() == 1)
        .await;

    // Burst of concurrent webhooks; remember which were answered 200.
    let mut acked: Vec<(String, String)> = Vec::new();
    let burst = volume(300);
    let sends = (0..burst).map(|i| {
        let from = number(i % 30);
        let body = format!("burst {i}");
        let sb = &sb;
        async move {
            let (status, _) = sb.text(&from, &body).await;
            (status, from, body)
        }
    });
    for (status, from, body) in futures_util::future::join_all(sends).await {
        if status == 200 {
            acked.push((from, body));
        }
    }
    assert_eq!(acked.len(), burst);
    sb.kill9();
    drop(alice);

    sb.spawn().await;
    let mut alice = sb.agent_with("alice", 1000).await;
    let mut bob = sb.agent_with("bob", 1000).await;
    let expected = acked.len() + 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while alice.received_count() + bob.received_count() < expected {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {expected} routed after restart",
            alice.received_count() + bob.received_count()
        );
        alice.next_frame(Duration::from_millis(50)).await;
        bob.next_frame(Duration::from_millis(50)).await;
    }
    // A message delivered twice would arrive before each agent's barrier.
    sb.barrier(&mut alice, &number(1)).await;
    if let Some(customer) = bob.assigned.first().cloned() {
        sb.barrier(&mut bob, &customer).await;
    }
    let mut bodies: HashMap<String, Vec<String>> = HashMap::new();
    for agent in [&alice, &bob] {
        for (c, msgs) in &agent.messages {
            let seqs: Vec<u64> = msgs.iter().map(|m| m.seq).collect();
            assert_eq!(
                seqs,
                (1..=msgs.len() as u64).collect::<Vec<_>>(),
                "{c}: gap-free, in order, once"
            );
            bodies
                .entry(c.clone())
                .or_default()
                .extend(msgs.iter().map(|m| m.body.clone()));
        }
    }
    for (from, body) in &acked {
        assert!(
            bodies.get(from).is_some_and(|b| b.contains(body)),
            "lost: {from} {body}"
        );
    }
    assert!(
        alice.assigned.contains(&number(1)),
        "sticky across the restart: {:?}",
        alice.assigned
    );
}

#[tokio::test]
async fn five_thousand_concurrent_webhooks_across_200_numbers_are_stored_and_delivered_once_in_order(
) {
    let sb = Switchboard::start(Options::default()).await;
    let mut agents = Vec::new();
    for name in AGENTS {
        agents.push(sb.agent_with(name, 1000).await);
    }
    let total = volume(5000);
    const CLIENTS: usize = 64;
    let numbers = volume(200);
    // Message i goes to number i % numbers; each number belongs to one
    // client, which posts its messages in increasing i, so per-number send
    // order is well defined.
    let clients = (0..CLIENTS).map(|c| {
        let sb = &sb;
        async move {
            let mut failures = 0;
            for i in (0..total).filter(|i| (i % numbers) % CLIENTS == c) {
                let from = number(i % numbers);
                let (status, _) = sb.text(&from, &format!("{i}")).await;
                if status != 200 {
                    failures += 1;
                }
            }
            failures
        }
    });
    let failures: usize = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .sum();
    assert_eq!(failures, 0);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let received: usize = agents.iter().map(Agent::received_count).sum();
        if received >= total {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {received} of {total} delivered"
        );
        for agent in agents.iter_mut() {
            agent.next_frame(Duration::from_millis(20)).await;
        }
    }
    // A message delivered twice would arrive before each agent's barrier.
    for agent in agents.iter_mut() {
        if let Some(customer) = agent.assigned.first().cloned() {
            sb.barrier(agent, &customer).await;
        }
    }
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for agent in &agents {
        for (conversation, messages) in &agent.messages {
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!(
                seqs,
                (1..=messages.len() as u64).collect::<Vec<_>>(),
                "{conversation}"
            );
            let entry = seen.entry(conversation.clone()).or_default();
            assert!(entry.is_empty(), "{conversation} went to two agents");
            entry.extend(
                messages
                    .iter()
                    .filter(|m| !is_barrier(&m.body))
                    .map(|m| m.body.parse::<usize>().expect("numeric body")),
            );
        }
    }
    let delivered: usize = seen.values().map(Vec::len).sum();
    assert_eq!(delivered, total, "each message exactly once");
    assert_eq!(seen.len(), numbers);
    for (conversation, bodies) in &seen {
        // Messages of one number were sent in increasing index order by
        // one client; the store must keep that order.
        assert!(
            bodies.windows(2).all(|w| w[0] < w[1]),
            "{conversation} reordered: {bodies:?}"
        );
    }
    // Sanity: with spare capacity everywhere, everyone got a share.
    let shares: Vec<(String, usize)> = agents
        .iter()
        .map(|a| (a.name.clone(), a.assigned.len()))
        .collect();
    assert!(shares.iter().all(|(_, n)| *n > 0), "{shares:?}");
}

#[tokio::test]
async fn an_agent_who_set_away_stays_away_after_a_restart() {
    let mut sb = Switchboard::start(Options::default()).await;
    let alice = Agent::connect(&sb, "alice", Default::default(), Some(false), Some(2)).await;
    // The welcome comes after the declaration is stored.
    sb.kill9();
    drop(alice);
    sb.spawn().await;
    // Reconnecting without restating availability keeps what was declared.
    let mut alice = Agent::connect(&sb, "alice", Default::default(), None, None).await;
    assert!(
        matches!(
            alice.frames.first(),
            Some(switchboard_protocol::ServerFrame::Welcome {
                available: false,
                capacity: 2,
                ..
            })
        ),
        "welcome after restart: {:?}",
        alice.frames.first()
    );
    sb.text(&number(7), "anyone there?").await;
    // Bob arriving later gets the customer; had alice been available, she,
    // online first and first by name, would have had it the moment it came.
    let mut bob = sb.agent("bob").await;
    bob.until(Duration::from_secs(20), "the customer", |b| {
        b.assigned.contains(&number(7))
    })
    .await;
    // Barrier: the router announces carol to alice after it gave the
    // customer to bob, and sends alice her frames in order, so whatever it
    // had for her has arrived by the time she sees carol online.
    let _carol = sb.agent("carol").await;
    alice
        .until_frame(Duration::from_secs(20), "carol online", |f| {
            matches!(f, switchboard_protocol::ServerFrame::Presence { agents }
                if agents.iter().any(|p| p.name == "carol" && p.online))
        })
        .await;
    assert!(alice.assigned.is_empty(), "alice, away, got a customer");
}
