//! `take` (an agent choosing a queued conversation), the queue's listing
//! and the supervisors' overview.

use super::*;
use crate::router::conn::Queued;

impl Harness {
    fn take(&mut self, agent: &str, conversation: &str) -> Vec<Effect> {
        self.run(Event::Take {
            agent: agent.into(),
            conn: conn_of(agent),
            conversation: conversation.into(),
        })
    }

    /// `agent` signs in away (gets nothing automatically).
    fn connect_away(&mut self, agent: &str) -> Vec<Effect> {
        self.run(Event::Connected {
            agent: agent.into(),
            conn: conn_of(agent),
            client: String::new(),
            resume: BTreeMap::new(),
            available: Some(false),
            capacity: Some(1),
        })
    }

    fn supervise(&mut self, agent: &str) -> Vec<Effect> {
        self.run(Event::Supervise {
            agent: agent.into(),
            conn: conn_of(agent),
        })
    }
}

/// The listed entries of the last `queue` frame among `sent`.
fn listed(sent: &[Outgoing]) -> Option<Vec<Queued>> {
    sent.iter().rev().find_map(|o| match o {
        Outgoing::Queue { entries, .. } => Some(entries.clone()),
        _ => None,
    })
}

fn refusal(effects: &[Effect], agent: &str) -> Option<(ErrorCode, String)> {
    error_code(&frames_to(effects, agent))
}

/// Alice (capacity 1) holds c1; c2 and c3 wait; bob is signed in but away.
fn two_waiting() -> Harness {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    h.connect("alice", 1);
    h.connect_away("bob");
    h.inbound(&c(1), 1);
    h.inbound(&c(2), 1);
    h.inbound(&c(3), 1);
    assert_eq!(h.core.queue, [c(2), c(3)]);
    h
}

#[test]
fn a_queued_conversation_is_taken_and_every_queue_view_loses_it() {
    let mut h = two_waiting();
    // Bob is away, and c3 is not the next in line: taking is his choice.
    let effects = h.take("bob", &c(3));
    assert_eq!(assigned(&effects), vec![pair("bob", &c(3))]);
    assert!(refusal(&effects, "bob").is_none());
    assert_eq!(h.core.holder(&c(3)), Some("bob"));
    // Claimed in the store like every assignment (the fenced write).
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Claim(claim) if claim.conversation == c(3) && claim.agent == "bob" && claim.previous.is_none())));
    // Everyone's Queue view now lists c2 alone.
    for agent in ["alice", "bob"] {
        let sent = sent_to(&effects, agent);
        assert_eq!(queue_lengths(&sent), [1], "{agent}");
        let entries = listed(&sent).unwrap_or_default();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].conversation, c(2));
    }
    // The taken customer's waiting time is kept (when they started waiting).
    assert!(matches!(
        h.core.live[&c(3)].route,
        RouteRecord::Assigned { waiting_since_ms, .. } if waiting_since_ms > 0
    ));
}

#[test]
fn taking_may_exceed_capacity_and_then_nothing_comes_automatically() {
    let mut h = two_waiting();
    // Alice is at capacity 1 and takes c2 anyway.
    let effects = h.take("alice", &c(2));
    assert_eq!(assigned(&effects), vec![pair("alice", &c(2))]);
    assert_eq!(h.core.agents["alice"].load(), 2);
    // Resolving one leaves her at capacity: c3 stays queued.
    let effects = h.resolve("alice", &c(1));
    assert!(assigned(&effects).is_empty());
    assert_eq!(h.core.queue, [c(3)]);
    // Below capacity again, she gets the queue's next.
    let effects = h.resolve("alice", &c(2));
    assert_eq!(assigned(&effects), vec![pair("alice", &c(3))]);
}

#[test]
fn a_conversation_already_taken_is_refused_as_not_queued() {
    let mut h = two_waiting();
    h.take("bob", &c(2));
    let effects = h.take("carol", &c(2));
    // Carol is not signed in: nothing happens, nobody is told.
    assert!(effects.is_empty() || refusal(&effects, "carol").is_none());
    h.connect_away("carol");
    let effects = h.take("carol", &c(2));
    assert!(assigned(&effects).is_empty());
    let (code, message) = refusal(&effects, "carol").expect("refused");
    assert_eq!(code, ErrorCode::NotQueued);
    assert!(message.contains("taken by another agent"), "{message}");
    assert_eq!(h.core.holder(&c(2)), Some("bob"));
    // Taking one's own: refused too, and it stays.
    let (code, message) = refusal(&h.take("bob", &c(2)), "bob").expect("refused");
    assert_eq!(code, ErrorCode::NotQueued);
    assert!(message.contains("already yours"), "{message}");
    assert_eq!(h.core.holder(&c(2)), Some("bob"));
}

#[test]
fn a_claim_still_being_written_is_already_taken() {
    let mut h = two_waiting();
    h.held_claims = Some(Vec::new());
    h.take("bob", &c(2));
    // Bob's claim is in flight; carol's take must not displace it.
    h.connect_away("carol");
    let effects = h.take("carol", &c(2));
    assert_eq!(
        refusal(&effects, "carol").map(|r| r.0),
        Some(ErrorCode::NotQueued)
    );
    let effects = h.answer_claims();
    assert_eq!(assigned(&effects), vec![pair("bob", &c(2))]);
}

#[test]
fn a_conversation_never_queued_or_resolved_is_not_queued() {
    let mut h = two_waiting();
    let (code, _) = refusal(&h.take("bob", &c(9)), "bob").expect("refused");
    assert_eq!(code, ErrorCode::NotQueued);
    h.resolve("alice", &c(1));
    // c1 was resolved (and alice got c2 from the queue).
    let (code, message) = refusal(&h.take("bob", &c(1)), "bob").expect("refused");
    assert_eq!(code, ErrorCode::NotQueued);
    assert!(message.contains("not waiting"), "{message}");
}

#[test]
fn an_opted_out_customer_waiting_can_be_taken() {
    // The router does not hold opt-outs: a customer who texted STOP while
    // waiting may be taken (to be read and resolved); the `assigned` frame
    // and the queue listing carry the opt-out, read from the store.
    let mut h = two_waiting();
    h.run(Event::OptOut { conversation: c(3) });
    assert!(h.core.queue.contains(&c(3)));
    let effects = h.take("bob", &c(3));
    assert_eq!(assigned(&effects), vec![pair("bob", &c(3))]);
}

#[test]
fn the_queue_is_listed_to_a_new_session_and_again_only_when_it_changed() {
    let mut h = two_waiting();
    // A new session is told the list after its welcome.
    let effects = h.connect_away("carol");
    let entries = listed(&sent_to(&effects, "carol")).expect("listed");
    let heads: Vec<(String, u64)> = entries
        .iter()
        .map(|e| (e.conversation.clone(), e.head))
        .collect();
    assert_eq!(heads, [(c(2), 1), (c(3), 1)]);
    // Nothing changed in the queue: no new list.
    let effects = h.inbound(&c(1), 2);
    assert!(listed(&sent_to(&effects, "bob")).is_none());
    // A waiting customer writes again: their entry changed (mood, preview).
    let effects = h.inbound(&c(3), 2);
    let entries = listed(&sent_to(&effects, "bob")).expect("listed again");
    assert_eq!(entries[1].head, 2);
}

#[test]
fn only_supervisors_get_the_overview_and_only_when_it_changed() {
    let mut h = two_waiting();
    h.core.set_supervisors(["carol".to_string()]);
    let (code, _) = refusal(&h.supervise("bob"), "bob").expect("refused");
    assert_eq!(code, ErrorCode::NotSupervisor);
    h.connect_away("carol");
    let effects = h.supervise("carol");
    let overview = frames_to(&effects, "carol")
        .into_iter()
        .find(|f| matches!(f, ServerFrame::Overview { .. }))
        .expect("an overview");
    let ServerFrame::Overview {
        conversations,
        agents,
    } = overview
    else {
        unreachable!()
    };
    let holders: Vec<(String, Option<String>)> = conversations
        .iter()
        .map(|o| (o.conversation.clone(), o.agent.clone()))
        .collect();
    assert_eq!(
        holders,
        [
            (c(1), Some("alice".to_string())),
            (c(2), None),
            (c(3), None)
        ]
    );
    let alice = agents.iter().find(|a| a.name == "alice").expect("alice");
    assert!(alice.online && alice.available);
    assert_eq!((alice.load, alice.capacity), (1, 1));
    // Bob was refused: he is sent no overview, ever.
    let effects = h.take("bob", &c(2));
    assert!(!frames_to(&effects, "bob")
        .iter()
        .any(|f| matches!(f, ServerFrame::Overview { .. })));
    // Carol is sent the change; nothing when nothing changed.
    assert!(frames_to(&effects, "carol")
        .iter()
        .any(|f| matches!(f, ServerFrame::Overview { .. })));
    let effects = h.inbound(&c(1), 2);
    assert!(!frames_to(&effects, "carol")
        .iter()
        .any(|f| matches!(f, ServerFrame::Overview { .. })));
    // A new customer opens a conversation: the overview lists it.
    let effects = h.inbound(&c(4), 1);
    let listed = frames_to(&effects, "carol").into_iter().any(|f| {
        matches!(f, ServerFrame::Overview { conversations, .. }
            if conversations.iter().any(|o| o.conversation == c(4) && o.agent.is_none()))
    });
    assert!(listed, "the new conversation is in the overview");
    // A supervisor's other session that has not asked gets nothing.
    let effects = h.run(Event::Connected {
        agent: "carol".into(),
        conn: 999,
        client: "other".into(),
        resume: BTreeMap::new(),
        available: None,
        capacity: None,
    });
    assert!(!frames_on(&effects, 999)
        .iter()
        .any(|f| matches!(f, ServerFrame::Overview { .. })));
}
