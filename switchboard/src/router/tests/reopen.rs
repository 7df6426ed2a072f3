//! `reopen` (`router/reopen.rs`): only a resolved conversation, to the agent
//! who asked, claimed like any assignment.

use super::{assigned, c, conn_of, frames_to, pair, timeline, Harness};
use crate::router::event::{Effect, Event};
use switchboard_protocol::{ErrorCode, ServerFrame, TimelineEvent};

fn reopen(h: &mut Harness, agent: &str, conversation: &str) -> Vec<Effect> {
    h.run(Event::Reopen {
        agent: agent.into(),
        conn: conn_of(agent),
        conversation: conversation.into(),
    })
}

fn rejected(effects: &[Effect], agent: &str) -> bool {
    frames_to(effects, agent).iter().any(|f| {
        matches!(
            f,
            ServerFrame::Error {
                code: ErrorCode::ReopenRejected,
                fatal: false,
                ..
            }
        )
    })
}

#[test]
fn a_resolved_conversation_is_reopened_to_the_agent_who_asks_even_when_full() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    let holder = if h.core.holder(&c(1)) == Some("alice") {
        "alice"
    } else {
        "bob"
    };
    h.resolve(holder, &c(1));
    // The other agent is busy with a new customer (at capacity 1).
    let other = if holder == "alice" { "bob" } else { "alice" };
    h.inbound(&c(2), 1);
    assert_eq!(h.core.holder(&c(2)), Some(other));

    let effects = reopen(&mut h, other, &c(1));
    let claims: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Claim(claim) => Some((claim.agent.as_str(), claim.conversation.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(claims, vec![(other, c(1).as_str())]);
    assert_eq!(assigned(&effects), vec![pair(other, &c(1))]);
    assert_eq!(h.core.holder(&c(1)), Some(other));
    // The timeline says who reopened it.
    assert_eq!(
        timeline(&effects),
        vec![(
            c(1),
            other.to_string(),
            TimelineEvent::Reopened { by: other.into() },
            String::new()
        )]
    );
    // The customer's next message goes to whoever holds it now.
    h.inbound(&c(1), 3);
    assert_eq!(h.core.holder(&c(1)), Some(other));
    // A second click changes nothing.
    assert!(reopen(&mut h, other, &c(1)).is_empty());
}

#[test]
fn only_resolved_conversations_are_reopened() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1);
    let holder = h.core.holder(&c(1)).map(str::to_string);
    let holder = holder.expect("assigned");
    let other = if holder == "alice" { "bob" } else { "alice" };
    // Held by someone else: refused, nothing changes.
    let effects = reopen(&mut h, other, &c(1));
    assert!(rejected(&effects, other));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Claim(_))));
    assert_eq!(h.core.holder(&c(1)), Some(holder.as_str()));
    // Never seen: refused.
    let effects = reopen(&mut h, other, &c(9));
    assert!(rejected(&effects, other));
    // Waiting in the queue (everyone full): refused, still queued.
    h.inbound(&c(2), 1);
    h.inbound(&c(3), 1);
    assert_eq!(h.core.holder(&c(3)), None);
    let effects = reopen(&mut h, other, &c(3));
    assert!(rejected(&effects, other));
    assert!(h.core.queue.contains(&c(3)));
}
