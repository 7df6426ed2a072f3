//! Routing decisions, tested on the state machine alone: no store, no
//! sockets, no clock — each test runs in microseconds.

use super::conn::{ConnId, Outgoing};
use super::event::{ClaimOutcome, Effect, Event};
use super::machine::{Core, Recovered};
use crate::store::{AgentSettings, Claim, EntryKind, RouteRecord};
use std::collections::{BTreeMap, HashMap, VecDeque};
use switchboard_protocol::{Direction, ErrorCode, ServerFrame, TimelineEvent, UnassignReason};

mod decisions_rate;
mod reopen;
mod sessions_property;
mod take;
mod watch;

/// The state machine plus a stand-in for the driver that performs effects
/// the way it does, with every claim won unless told otherwise.
struct Harness {
    core: Core,
    now: u64,
    /// Conversations whose next claim another instance wins.
    taken_elsewhere: Vec<String>,
    /// When set, route writes go to a model of a store that records holders
    /// (conversation → owner) and refuses writes the way DynamoDB's does.
    owners: Option<HashMap<String, String>>,
    /// This many next claims fail after the store applied them (a timeout).
    failing_claims: u32,
    /// This many next resolves are not recorded.
    failing_resolves: u32,
    /// When set, claims are kept here unanswered (still being written, as
    /// the driver writes them in the background) until [`Harness::answer_claims`].
    held_claims: Option<Vec<Claim>>,
}

fn conn_of(agent: &str) -> ConnId {
    agent.bytes().map(u64::from).sum()
}

fn c(n: u32) -> String {
    format!("+1555000{n:04}")
}

impl Harness {
    fn new(agents: &[&str]) -> Harness {
        Self::recovered(agents, &HashMap::new(), Vec::new())
    }

    fn recovered(
        agents: &[&str],
        settings: &HashMap<String, AgentSettings>,
        routes: Vec<Recovered>,
    ) -> Harness {
        let names: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
        let (core, _) = Core::recover(&names, settings, routes, 1_000);
        Harness {
            core,
            now: 1_000,
            taken_elsewhere: Vec::new(),
            owners: None,
            failing_claims: 0,
            failing_resolves: 0,
            held_claims: None,
        }
    }

    /// What the modelled store answers to (and does with) a claim.
    fn store_claim(&mut self, claim: &Claim) -> ClaimOutcome {
        if self.taken_elsewhere.contains(&claim.conversation) {
            return ClaimOutcome::HeldElsewhere;
        }
        let Some(owners) = self.owners.as_mut() else {
            return ClaimOutcome::Won;
        };
        let owner = owners.get(&claim.conversation);
        if owner.is_some_and(|o| *o != claim.agent && Some(o) != claim.previous.as_ref()) {
            return ClaimOutcome::HeldElsewhere;
        }
        owners.insert(claim.conversation.clone(), claim.agent.clone());
        if self.failing_claims > 0 {
            self.failing_claims -= 1;
            return ClaimOutcome::Failed;
        }
        ClaimOutcome::Won
    }

    /// What the modelled store answers to a route write: the event the
    /// driver feeds back, if any.
    fn store_route(&mut self, conversation: &str, route: &RouteRecord) -> Option<Event> {
        let owners = self.owners.as_mut()?;
        let owner = owners.get(conversation);
        let allowed = match route {
            RouteRecord::Queued { released_by, .. } => {
                owner.is_none() || owner == released_by.as_ref()
            }
            RouteRecord::Assigned { .. } | RouteRecord::Resolved { .. } => true,
        };
        if !allowed {
            return Some(Event::HeldElsewhere {
                conversation: conversation.to_string(),
            });
        }
        owners.remove(conversation);
        None
    }

    /// Steps one event and everything its outcomes cause, like the driver.
    fn run(&mut self, event: Event) -> Vec<Effect> {
        self.now += 1;
        let mut work: VecDeque<Effect> = self.core.step(event, self.now).into();
        let mut done = Vec::new();
        while let Some(effect) = work.pop_front() {
            let outcome = match &effect {
                Effect::Claim(claim) if self.held_claims.is_some() => {
                    if let Some(held) = self.held_claims.as_mut() {
                        held.push(claim.clone());
                    }
                    None
                }
                Effect::Claim(claim) => Some(Event::Claimed {
                    conversation: claim.conversation.clone(),
                    agent: claim.agent.clone(),
                    previous: claim.previous.clone(),
                    outcome: self.store_claim(claim),
                }),
                Effect::SaveRoute {
                    conversation,
                    route,
                } => self.store_route(conversation, route),
                Effect::Resolved {
                    conversation,
                    agent,
                    ..
                } if self.failing_resolves > 0 => {
                    self.failing_resolves -= 1;
                    Some(Event::ResolveUnsaved {
                        conversation: conversation.clone(),
                        agent: agent.clone(),
                    })
                }
                Effect::Resolved { conversation, .. } => {
                    if let Some(owners) = self.owners.as_mut() {
                        owners.remove(conversation);
                    }
                    None
                }
                _ => None,
            };
            if let Some(event) = outcome {
                for e in self.core.step(event, self.now).into_iter().rev() {
                    work.push_front(e);
                }
            }
            done.push(effect);
        }
        self.core.check_invariants();
        done
    }

    /// Answers the held claims (won), in order, with everything they cause.
    fn answer_claims(&mut self) -> Vec<Effect> {
        let held = self.held_claims.replace(Vec::new()).unwrap_or_default();
        let mut effects = Vec::new();
        for claim in held {
            effects.extend(self.run(Event::Claimed {
                conversation: claim.conversation,
                agent: claim.agent,
                previous: claim.previous,
                outcome: ClaimOutcome::Won,
            }));
        }
        effects
    }

    fn connect(&mut self, agent: &str, capacity: u32) -> Vec<Effect> {
        self.connect_resuming(agent, capacity, BTreeMap::new())
    }

    fn connect_resuming(
        &mut self,
        agent: &str,
        capacity: u32,
        resume: BTreeMap<String, u64>,
    ) -> Vec<Effect> {
        self.run(Event::Connected {
            agent: agent.into(),
            conn: conn_of(agent),
            client: String::new(),
            resume,
            available: Some(true),
            capacity: Some(capacity),
        })
    }

    fn inbound(&mut self, conversation: &str, seq: u64) -> Vec<Effect> {
        self.run(Event::Message {
            conversation: conversation.into(),
            seq,
            direction: Direction::Inbound,
        })
    }

    fn resolve(&mut self, agent: &str, conversation: &str) -> Vec<Effect> {
        self.run(Event::Resolve {
            agent: agent.into(),
            conn: conn_of(agent),
            conversation: conversation.into(),
        })
    }

    fn transfer(&mut self, agent: &str, conversation: &str, to: Option<&str>) -> Vec<Effect> {
        self.run(Event::Transfer {
            note: None,
            agent: agent.into(),
            conn: conn_of(agent),
            conversation: conversation.into(),
            to: to.map(str::to_string),
        })
    }
}

/// (agent, conversation) of every `assigned` sent.
fn assigned(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                agent,
                out: Outgoing::Assigned { conversation, .. },
                ..
            } => Some((agent.clone(), conversation.clone())),
            _ => None,
        })
        .collect()
}

/// What `agent` was sent.
fn sent_to(effects: &[Effect], to: &str) -> Vec<Outgoing> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { agent, out, .. } if agent == to => Some(out.clone()),
            _ => None,
        })
        .collect()
}

fn frames_to(effects: &[Effect], to: &str) -> Vec<ServerFrame> {
    sent_to(effects, to)
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Frame(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// The lengths of the `queue` frames among `sent`.
fn queue_lengths(sent: &[Outgoing]) -> Vec<usize> {
    sent.iter()
        .filter_map(|o| match o {
            Outgoing::Queue { length, .. } => Some(*length),
            _ => None,
        })
        .collect()
}

fn pair(agent: &str, conversation: &str) -> (String, String) {
    (agent.to_string(), conversation.to_string())
}

fn error_code(frames: &[ServerFrame]) -> Option<(ErrorCode, String)> {
    frames.iter().find_map(|f| match f {
        ServerFrame::Error { code, message, .. } => Some((*code, message.clone())),
        _ => None,
    })
}

#[test]
fn further_messages_stick_to_the_agent_as_exact_ranges() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 5);
    h.connect("bob", 5);
    assert_eq!(assigned(&h.inbound(&c(1), 1)), vec![pair("alice", &c(1))]);
    let effects = h.inbound(&c(1), 2);
    assert!(assigned(&effects).is_empty());
    assert_eq!(
        sent_to(&effects, "alice"),
        vec![Outgoing::Range {
            conversation: c(1),
            after: 1,
            upto: 2
        }]
    );
    assert!(sent_to(&effects, "bob").is_empty());
}

#[test]
fn least_loaded_first_and_ties_round_robin() {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    for a in ["alice", "bob", "carol"] {
        h.connect(a, 5);
    }
    let mut got = Vec::new();
    for n in 1..=4 {
        got.extend(assigned(&h.inbound(&c(n), 1)));
    }
    assert_eq!(
        got,
        vec![
            pair("alice", &c(1)),
            pair("bob", &c(2)),
            pair("carol", &c(3)),
            pair("alice", &c(4))
        ]
    );
    // Bob resolves: least loaded again, he gets the next one.
    h.resolve("bob", &c(2));
    assert_eq!(assigned(&h.inbound(&c(5), 1)), vec![pair("bob", &c(5))]);
}

#[test]
fn capacity_is_never_exceeded_and_the_queue_is_fifo() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    let effects = h.inbound(&c(2), 1);
    assert!(assigned(&effects).is_empty());
    assert!(queue_lengths(&sent_to(&effects, "alice")).contains(&1));
    h.inbound(&c(3), 1);
    let effects = h.resolve("alice", &c(1));
    assert_eq!(assigned(&effects), vec![pair("alice", &c(2))]);
    assert!(queue_lengths(&sent_to(&effects, "alice")).contains(&1));
    assert_eq!(
        assigned(&h.resolve("alice", &c(2))),
        vec![pair("alice", &c(3))]
    );
}

#[test]
fn waiting_since_is_when_the_customer_entered_the_queue() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    h.now = 50_000;
    h.inbound(&c(2), 1); // queued at 50_001
    h.now = 90_000;
    let effects = h.resolve("alice", &c(1));
    let waiting = effects.iter().find_map(|e| match e {
        Effect::Send {
            out: Outgoing::Assigned {
                waiting_since_ms, ..
            },
            ..
        } => *waiting_since_ms,
        _ => None,
    });
    assert_eq!(waiting, Some(50_001));
}

#[test]
fn a_conversation_handed_back_goes_first_and_not_to_who_released_it() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 2);
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(2), 1); // bob, who now got one most recently
    h.resolve("bob", &c(2));
    // Both are free with load 0; round-robin alone would pick alice.
    let effects = h.transfer("alice", &c(1), None);
    assert!(
        frames_to(&effects, "alice").contains(&ServerFrame::Unassigned {
            conversation: c(1),
            reason: UnassignReason::Transferred
        })
    );
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
}

#[test]
fn nobody_else_free_then_the_releaser_takes_it_back() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    let effects = h.transfer("alice", &c(1), None);
    assert_eq!(assigned(&effects), vec![pair("alice", &c(1))]);
}

#[test]
fn grace_then_requeue_to_the_front() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(2), 1); // bob
    h.inbound(&c(3), 1); // queued
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: conn_of("alice"),
    });
    let generation = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartGrace { agent, generation } if agent == "alice" => Some(*generation),
            _ => None,
        })
        .expect("a grace timer");
    assert!(frames_to(&effects, "bob")
        .iter()
        .any(|f| matches!(f, ServerFrame::Presence { agents } if !agents[0].online)));
    h.run(Event::GraceExpired {
        agent: "alice".into(),
        generation,
    });
    // c1 is now ahead of c3.
    let effects = h.resolve("bob", &c(2));
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
}

#[test]
fn reconnecting_within_grace_keeps_conversations_and_resumes_the_gap() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 2);
    h.inbound(&c(1), 1);
    h.inbound(&c(2), 1);
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: conn_of("alice"),
    });
    let Some(Effect::StartGrace { generation, .. }) = effects
        .iter()
        .find(|e| matches!(e, Effect::StartGrace { .. }))
        .cloned()
    else {
        panic!("no grace timer");
    };
    h.inbound(&c(1), 2);
    h.inbound(&c(1), 3);
    h.connect("bob", 5);
    let resume = BTreeMap::from([(c(1), 1), (c(9), 4)]);
    let effects = h.connect_resuming("alice", 2, resume);
    let sent = sent_to(&effects, "alice");
    // c1: statuses and opt-out up to what it saw, then exactly 2..=3;
    // c2 (not listed): the whole conversation; c9: not hers any more.
    assert!(sent.contains(&Outgoing::Resume {
        conversation: c(1),
        seen: 1
    }));
    assert!(sent.contains(&Outgoing::Range {
        conversation: c(1),
        after: 1,
        upto: 3
    }));
    assert_eq!(assigned(&effects), vec![pair("alice", &c(2))]);
    assert!(sent.contains(&Outgoing::Frame(ServerFrame::Unassigned {
        conversation: c(9),
        reason: UnassignReason::Requeued
    })));
    // The old timer fires: nothing moves.
    let effects = h.run(Event::GraceExpired {
        agent: "alice".into(),
        generation,
    });
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(assigned(&h.inbound(&c(3), 1)), vec![pair("bob", &c(3))]);
}

#[test]
fn resume_past_the_head_sends_nothing_more() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    let effects = h.connect_resuming("alice", 1, BTreeMap::from([(c(1), 7)]));
    let sent = sent_to(&effects, "alice");
    assert!(sent.contains(&Outgoing::Resume {
        conversation: c(1),
        seen: 2
    }));
    assert!(!sent.iter().any(|o| matches!(o, Outgoing::Range { .. })));
    // The replaced session was told why.
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Close {
            frame: ServerFrame::Error {
                code: ErrorCode::Superseded,
                ..
            },
            ..
        }
    )));
}

#[test]
fn resolve_closes_and_the_next_message_opens_a_new_conversation() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    let effects = h.resolve("alice", &c(1));
    assert!(
        frames_to(&effects, "alice").contains(&ServerFrame::Unassigned {
            conversation: c(1),
            reason: UnassignReason::Resolved
        })
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Resolved { upto_seq: 2, agent, .. } if agent == "alice"
    )));
    // A replayed feed does not reopen it; a reply sent before does not either.
    assert!(h.inbound(&c(1), 2).is_empty());
    assert!(h
        .run(Event::Message {
            conversation: c(1),
            seq: 3,
            direction: Direction::Outbound
        })
        .is_empty());
    assert_eq!(assigned(&h.inbound(&c(1), 4)), vec![pair("alice", &c(1))]);
    // Only the holder may resolve.
    let effects = h.resolve("bob", &c(1));
    assert!(effects.is_empty());
}

#[test]
fn transfer_to_a_named_agent_and_every_refusal() {
    let mut h = Harness::new(&["alice", "bob", "carol", "dave"]);
    h.connect("alice", 5);
    h.connect("bob", 1);
    h.connect("carol", 1);
    h.run(Event::Availability {
        agent: "carol".into(),
        conn: conn_of("carol"),
        available: false,
        capacity: 1,
    });
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(2), 1); // bob (now full)
    h.inbound(&c(3), 1); // alice
    for (to, expect) in [
        ("alice", format!("{} is already yours", c(1))),
        ("zed", "there is no agent named zed".to_string()),
        ("dave", "dave is offline".to_string()),
        ("carol", "carol is not available".to_string()),
        ("bob", "bob is at capacity (1/1)".to_string()),
    ] {
        let effects = h.transfer("alice", &c(1), Some(to));
        assert_eq!(
            error_code(&frames_to(&effects, "alice")),
            Some((ErrorCode::TransferRejected, expect))
        );
        assert!(assigned(&effects).is_empty());
    }
    let effects = h.transfer("bob", &c(1), Some("carol"));
    assert_eq!(
        error_code(&frames_to(&effects, "bob")).map(|e| e.0),
        Some(ErrorCode::NotAssigned)
    );
    h.run(Event::Availability {
        agent: "carol".into(),
        conn: conn_of("carol"),
        available: true,
        capacity: 1,
    });
    let effects = h.transfer("alice", &c(1), Some("carol"));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Claim(claim) if claim.previous.as_deref() == Some("alice"))));
    assert_eq!(assigned(&effects), vec![pair("carol", &c(1))]);
    assert!(
        frames_to(&effects, "alice").contains(&ServerFrame::Unassigned {
            conversation: c(1),
            reason: UnassignReason::Transferred
        })
    );
}

#[test]
fn statuses_and_opt_outs_go_only_to_the_holder() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1);
    h.run(Event::Message {
        conversation: c(1),
        seq: 2,
        direction: Direction::Outbound,
    });
    let effects = h.run(Event::Status {
        conversation: c(1),
        seq: 2,
    });
    assert_eq!(
        sent_to(&effects, "alice"),
        vec![Outgoing::Status {
            conversation: c(1),
            seq: 2
        }]
    );
    assert!(sent_to(&effects, "bob").is_empty());
    // Not yet delivered: the message frame will carry its status.
    let effects = h.run(Event::Status {
        conversation: c(1),
        seq: 3,
    });
    assert!(effects.is_empty());
    let effects = h.run(Event::OptOut { conversation: c(1) });
    assert_eq!(
        sent_to(&effects, "alice"),
        vec![Outgoing::OptOut { conversation: c(1) }]
    );
    // Nobody holds c2: nobody hears of it.
    assert!(h.run(Event::OptOut { conversation: c(2) }).is_empty());
}

#[test]
fn replies_only_from_the_holder() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1);
    let reply = |agent: &str| Event::Reply {
        note: false,
        agent: agent.into(),
        conn: conn_of(agent),
        conversation: c(1),
        client_id: "r1".into(),
        body: "hi".into(),
        media: Vec::new(),
    };
    let effects = h.run(reply("alice"));
    assert!(matches!(&effects[..], [Effect::StoreReply { reply, .. }] if reply.agent == "alice"));
    let effects = h.run(reply("bob"));
    assert_eq!(
        error_code(&frames_to(&effects, "bob")).map(|e| e.0),
        Some(ErrorCode::NotAssigned)
    );
}

#[test]
fn presence_only_when_it_changed_and_settings_are_saved() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    let effects = h.connect("bob", 1);
    // Bob gets the list once after welcome; alice sees bob come online.
    assert_eq!(
        frames_to(&effects, "bob")
            .iter()
            .filter(|f| matches!(f, ServerFrame::Presence { .. }))
            .count(),
        1
    );
    assert_eq!(frames_to(&effects, "alice").len(), 1);
    let same = Event::Availability {
        agent: "alice".into(),
        conn: conn_of("alice"),
        available: true,
        capacity: 1,
    };
    assert!(h.run(same).is_empty());
    let away = Event::Availability {
        agent: "alice".into(),
        conn: conn_of("alice"),
        available: false,
        capacity: 1,
    };
    let effects = h.run(away);
    assert!(effects.contains(&Effect::SaveAgent {
        agent: "alice".into(),
        available: false,
        capacity: 1
    }));
    assert_eq!(frames_to(&effects, "bob").len(), 1);
    assert_eq!(frames_to(&effects, "alice").len(), 1);
}

#[test]
fn declared_availability_survives_a_restart() {
    let settings = HashMap::from([(
        "alice".to_string(),
        AgentSettings {
            available: false,
            capacity: 3,
        },
    )]);
    let mut h = Harness::recovered(&["alice"], &settings, Vec::new());
    // Reconnecting without saying keeps Away.
    let effects = h.run(Event::Connected {
        agent: "alice".into(),
        conn: 1,
        client: String::new(),
        resume: BTreeMap::new(),
        available: None,
        capacity: None,
    });
    assert!(
        frames_to(&effects, "alice").contains(&ServerFrame::Welcome {
            agent: "alice".into(),
            available: false,
            capacity: 3,
            queue_length: 0,
            supervisor: false,
        })
    );
    assert!(assigned(&h.inbound(&c(1), 1)).is_empty());
}

#[test]
fn recovery_keeps_holders_for_grace_and_queues_the_rest_in_order() {
    let routes = vec![
        Recovered {
            conversation: c(1),
            route: RouteRecord::Assigned {
                agent: "alice".into(),
                since_ms: 5,
                waiting_since_ms: 4,
            },
            head: 3,
        },
        Recovered {
            conversation: c(2),
            route: RouteRecord::Queued {
                since_ms: 20,
                released_by: None,
            },
            head: 1,
        },
        Recovered {
            conversation: c(3),
            route: RouteRecord::Queued {
                since_ms: 10,
                released_by: None,
            },
            head: 1,
        },
        Recovered {
            conversation: c(4),
            route: RouteRecord::Assigned {
                agent: "removed".into(),
                since_ms: 5,
                waiting_since_ms: 0,
            },
            head: 1,
        },
    ];
    let names = vec!["alice".to_string(), "bob".to_string()];
    let (core, effects) = Core::recover(&names, &HashMap::new(), routes, 1_000);
    core.check_invariants();
    assert!(effects.contains(&Effect::StartGrace {
        agent: "alice".into(),
        generation: 0
    }));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::SaveRoute { conversation, route: RouteRecord::Queued { released_by: Some(r), .. } }
            if *conversation == c(4) && r == "removed"
    )));
    let mut h = Harness {
        core,
        now: 1_000,
        taken_elsewhere: Vec::new(),
        owners: None,
        failing_claims: 0,
        failing_resolves: 0,
        held_claims: None,
    };
    let effects = h.connect("bob", 3);
    assert_eq!(
        assigned(&effects),
        vec![pair("bob", &c(3)), pair("bob", &c(2)), pair("bob", &c(4))]
    );
}

#[test]
fn a_claim_won_elsewhere_is_left_alone() {
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 2);
    h.taken_elsewhere.push(c(1));
    let effects = h.inbound(&c(1), 1);
    assert!(assigned(&effects).is_empty());
    assert!(assigned(&h.inbound(&c(1), 2)).is_empty());
    // A refused queue write is dropped the same way.
    h.inbound(&c(2), 1);
    h.run(Event::HeldElsewhere { conversation: c(2) });
    assert!(!h.core.live.contains_key(&c(2)));
}

#[test]
fn a_failed_claim_is_retried_later_in_the_name_of_whom_the_store_may_name() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.owners = Some(HashMap::new());
    h.connect("alice", 1);
    h.connect("bob", 1);
    // The claim for alice times out, though the store applied it.
    h.failing_claims = 1;
    let effects = h.inbound(&c(1), 1);
    assert!(assigned(&effects).is_empty());
    assert!(effects.contains(&Effect::RetryDrain), "no retry asked for");
    assert_eq!(
        h.core.live[&c(1)].route,
        RouteRecord::Queued {
            since_ms: h.now,
            released_by: Some("alice".into())
        },
        "the requeue must name the possible owner"
    );
    // Nothing else happens until the retry; then bob's claim displaces
    // alice, whom the store still names.
    let effects = h.run(Event::RetryDrain);
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
    let claim = effects.iter().find_map(|e| match e {
        Effect::Claim(claim) => Some(claim.clone()),
        _ => None,
    });
    assert_eq!(claim.and_then(|c| c.previous), Some("alice".into()));
    assert_eq!(
        h.owners.as_ref().map(|o| o[&c(1)].clone()),
        Some("bob".into())
    );
}

#[test]
fn a_failed_claim_for_the_only_agent_is_retried_once_the_store_answers() {
    let mut h = Harness::new(&["alice"]);
    h.owners = Some(HashMap::new());
    h.connect("alice", 1);
    h.failing_claims = 2;
    let effects = h.inbound(&c(1), 1);
    assert!(effects.contains(&Effect::RetryDrain));
    let effects = h.run(Event::RetryDrain);
    assert!(assigned(&effects).is_empty());
    assert!(
        effects.contains(&Effect::RetryDrain),
        "retried again after a wait"
    );
    let effects = h.run(Event::RetryDrain);
    assert_eq!(assigned(&effects), vec![pair("alice", &c(1))]);
    assert!(!effects.contains(&Effect::RetryDrain));
}

#[test]
fn after_an_unrecorded_resolve_the_next_text_is_still_routed() {
    let mut h = Harness::new(&["alice"]);
    h.owners = Some(HashMap::new());
    h.connect("alice", 1);
    assert_eq!(assigned(&h.inbound(&c(1), 1)), vec![pair("alice", &c(1))]);
    // The resolve is never recorded: the store still names alice.
    h.failing_resolves = 1;
    h.resolve("alice", &c(1));
    assert!(h.core.live.is_empty());
    // The customer texts again: the queued write names alice, so the store
    // takes it, and the new conversation is routed.
    let effects = h.inbound(&c(1), 2);
    assert!(effects.contains(&Effect::SaveRoute {
        conversation: c(1),
        route: RouteRecord::Queued {
            since_ms: h.now,
            released_by: Some("alice".into())
        }
    }));
    assert_eq!(assigned(&effects), vec![pair("alice", &c(1))]);
    // And it keeps working for the next round.
    h.resolve("alice", &c(1));
    assert_eq!(assigned(&h.inbound(&c(1), 3)), vec![pair("alice", &c(1))]);
}

/// Everything a refused transfer must leave as it was: the sender keeps
/// the conversation (no `unassigned`, no claim, no route write), is told
/// why, and the customer's next message still goes to the sender.
#[test]
fn a_refused_transfer_leaves_the_conversation_with_the_sender() {
    let mut h = Harness::new(&["alice", "bob", "carol", "dave"]);
    h.connect("alice", 5);
    h.connect("bob", 1);
    h.connect("carol", 1);
    h.run(Event::Availability {
        agent: "carol".into(),
        conn: conn_of("carol"),
        available: false,
        capacity: 1,
    });
    h.inbound(&c(1), 1); // alice (least recently assigned of the free ones)
    h.inbound(&c(2), 1); // bob, now full
    assert_eq!(h.core.holder(&c(1)), Some("alice"));
    let mut seq = 1;
    for to in ["zed", "dave", "carol", "bob", "alice"] {
        let effects = h.transfer("alice", &c(1), Some(to));
        let frames = frames_to(&effects, "alice");
        assert_eq!(
            error_code(&frames).map(|e| e.0),
            Some(ErrorCode::TransferRejected),
            "transfer to {to}: {effects:?}"
        );
        assert!(
            !frames
                .iter()
                .any(|f| matches!(f, ServerFrame::Unassigned { .. })),
            "transfer to {to} unassigned the sender: {effects:?}"
        );
        assert!(
            !effects.iter().any(|e| matches!(
                e,
                Effect::Claim(_) | Effect::SaveRoute { .. } | Effect::Resolved { .. }
            )),
            "transfer to {to} wrote a route: {effects:?}"
        );
        for other in ["bob", "carol", "dave"] {
            assert!(
                sent_to(&effects, other).is_empty(),
                "transfer to {to} told {other}: {effects:?}"
            );
        }
        assert_eq!(h.core.holder(&c(1)), Some("alice"), "after {to}");
        // The customer writes again: it goes to alice, as the next message
        // of what she has seen.
        seq += 1;
        let effects = h.inbound(&c(1), seq);
        assert_eq!(
            sent_to(&effects, "alice"),
            vec![Outgoing::Range {
                conversation: c(1),
                after: seq - 1,
                upto: seq
            }],
            "after the transfer to {to}"
        );
    }
    // She can still act on it: reply, and resolve.
    let effects = h.run(Event::Reply {
        note: false,
        agent: "alice".into(),
        conn: conn_of("alice"),
        conversation: c(1),
        client_id: "r1".into(),
        body: "still here".into(),
        media: Vec::new(),
    });
    assert!(matches!(&effects[..], [Effect::StoreReply { .. }]));
    let effects = h.resolve("alice", &c(1));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Resolved { agent, .. } if agent == "alice")));
}

/// A transfer to a named agent whose claim the store does not confirm:
/// the sender has let go (it was told `unassigned`), and the store now
/// names either the sender or the target. The conversation is not lost:
/// after the backoff it goes back to the sender, in a claim that names the
/// target, which the store accepts either way — not to carol, the least
/// loaded, whose claim the store would refuse (the conversation would then
/// be dropped by this router, and every later text from the customer too).
#[test]
fn a_transfer_whose_claim_fails_goes_back_to_the_sender() {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    h.owners = Some(HashMap::new());
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.connect("carol", 1);
    h.inbound(&c(1), 1); // alice
    h.failing_claims = 1;
    let effects = h.transfer("alice", &c(1), Some("bob"));
    assert!(effects.contains(&Effect::RetryDrain), "{effects:?}");
    assert!(assigned(&effects).is_empty());
    assert_eq!(h.core.holder(&c(1)), None);
    assert_eq!(h.core.queue, VecDeque::from([c(1)]));
    let effects = h.run(Event::RetryDrain);
    assert_eq!(
        assigned(&effects),
        vec![pair("alice", &c(1))],
        "{effects:?}"
    );
    let claim = effects.iter().find_map(|e| match e {
        Effect::Claim(claim) => Some(claim.clone()),
        _ => None,
    });
    assert_eq!(claim.and_then(|c| c.previous), Some("bob".into()));
    assert!(sent_to(&effects, "alice").contains(&Outgoing::Assigned {
        conversation: c(1),
        after: 0,
        upto: 1,
        waiting_since_ms: Some(1_004),
    }));
    assert!(h.core.queue.is_empty());
    // The customer's next text reaches her.
    let effects = h.inbound(&c(1), 2);
    assert_eq!(
        sent_to(&effects, "alice"),
        vec![Outgoing::Range {
            conversation: c(1),
            after: 1,
            upto: 2
        }]
    );
}

/// As above, but the sender has gone away by the time of the retry: the
/// target of the transfer takes it, in a claim that names the sender.
#[test]
fn a_failed_transfer_claim_goes_to_its_target_when_the_sender_is_away() {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    h.owners = Some(HashMap::new());
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1); // alice
    h.failing_claims = 1;
    h.transfer("alice", &c(1), Some("bob"));
    // Alice steps away before the retry; that drains the queue at once.
    let effects = h.run(Event::Availability {
        agent: "alice".into(),
        conn: conn_of("alice"),
        available: false,
        capacity: 1,
    });
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))], "{effects:?}");
    let claim = effects.iter().find_map(|e| match e {
        Effect::Claim(claim) => Some(claim.clone()),
        _ => None,
    });
    assert_eq!(claim.and_then(|c| c.previous), Some("alice".into()));
    assert!(h.core.hand_back.is_empty());
}

/// Alice hands a conversation to bob, so both have seen its history.
/// Carol then signs in: she is the least loaded, but the conversation
/// sticks with bob (nothing of it reaches carol or alice); she takes what
/// is queued. When bob hands it on to her, she gets the whole history in
/// `assigned`, not just what bob had not seen; and alice, resuming with
/// her old seq, is told it is no longer hers.
#[test]
fn a_third_agent_arriving_after_a_transfer_gets_only_what_is_hers() {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(1), 2);
    let effects = h.transfer("alice", &c(1), Some("bob"));
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
    assert!(sent_to(&effects, "bob").contains(&Outgoing::Assigned {
        conversation: c(1),
        after: 0,
        upto: 2,
        waiting_since_ms: Some(1_003),
    }));
    h.inbound(&c(2), 1); // alice has room again
    h.inbound(&c(3), 1); // both full: queued

    let effects = h.connect("carol", 5);
    assert_eq!(assigned(&effects), vec![pair("carol", &c(3))]);
    assert!(!sent_to(&effects, "carol").iter().any(|o| matches!(
        o,
        Outgoing::Assigned { conversation, .. } | Outgoing::Range { conversation, .. }
            if *conversation == c(1)
    )));
    // The customer writes again: bob only.
    let effects = h.inbound(&c(1), 3);
    assert_eq!(
        sent_to(&effects, "bob"),
        vec![Outgoing::Range {
            conversation: c(1),
            after: 2,
            upto: 3
        }]
    );
    assert!(sent_to(&effects, "alice").is_empty());
    assert!(sent_to(&effects, "carol").is_empty());

    // Bob hands it to carol: the whole history, and the original wait.
    let effects = h.transfer("bob", &c(1), Some("carol"));
    assert_eq!(assigned(&effects), vec![pair("carol", &c(1))]);
    assert!(sent_to(&effects, "carol").contains(&Outgoing::Assigned {
        conversation: c(1),
        after: 0,
        upto: 3,
        waiting_since_ms: Some(1_003),
    }));
    assert!(
        frames_to(&effects, "bob").contains(&ServerFrame::Unassigned {
            conversation: c(1),
            reason: UnassignReason::Transferred
        })
    );
    assert!(sent_to(&effects, "alice").is_empty());

    // Alice reconnects listing c1 (she saw seq 2): not hers any more.
    let effects = h.connect_resuming("alice", 1, BTreeMap::from([(c(1), 2), (c(2), 1)]));
    let sent = sent_to(&effects, "alice");
    assert!(sent.contains(&Outgoing::Frame(ServerFrame::Unassigned {
        conversation: c(1),
        reason: UnassignReason::Requeued
    })));
    assert!(sent.contains(&Outgoing::Resume {
        conversation: c(2),
        seen: 1
    }));
    assert!(assigned(&effects).is_empty());
    assert_eq!(h.core.holder(&c(1)), Some("carol"));
}

#[test]
fn nobody_is_shown_an_assignment_before_its_claim_is_durable() {
    let mut h = Harness::new(&["alice"]);
    h.held_claims = Some(Vec::new());
    h.connect("alice", 5);
    let effects = h.inbound(&c(1), 1);
    assert!(effects.iter().any(|e| matches!(e, Effect::Claim(_))));
    assert!(assigned(&effects).is_empty());
    // The customer writes again, and the agent reconnects, while the claim
    // is still being written: still nothing shown.
    assert!(sent_to(&h.inbound(&c(1), 2), "alice").is_empty());
    assert!(assigned(&h.connect("alice", 5)).is_empty());
    // Once it is durable: one `assigned` with both messages.
    let effects = h.answer_claims();
    let shown: Vec<(u64, u64)> = sent_to(&effects, "alice")
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Assigned { after, upto, .. } => Some((after, upto)),
            _ => None,
        })
        .collect();
    assert_eq!(shown, vec![(0, 2)]);
    assert!(h.core.claiming.is_empty());
}

#[test]
fn a_claim_answered_after_the_agent_lost_the_conversation_shows_nothing() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.held_claims = Some(Vec::new());
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    // Alice goes away for good before her claim is written; Bob takes over.
    h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: conn_of("alice"),
    });
    let generation = h.core.agents["alice"].generation;
    h.run(Event::GraceExpired {
        agent: "alice".into(),
        generation,
    });
    h.connect("bob", 1);
    let effects = h.answer_claims();
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
    assert!(sent_to(&effects, "alice").is_empty());
    assert!(h.core.claiming.is_empty());
}

// ---- Several sessions of one agent (one per client: each agent-UI instance) ----

/// Connection ids of alice's sessions through two agent-UI instances, and a
/// reconnect of the first.
const UI_A: ConnId = 101;
const UI_B: ConnId = 102;
const UI_A_AGAIN: ConnId = 103;

impl Harness {
    /// `agent` says hello on connection `conn` as client `client`.
    fn connect_client(
        &mut self,
        agent: &str,
        conn: ConnId,
        client: &str,
        resume: BTreeMap<String, u64>,
    ) -> Vec<Effect> {
        self.run(Event::Connected {
            agent: agent.into(),
            conn,
            client: client.into(),
            resume,
            available: None,
            capacity: None,
        })
    }
}

/// What connection `conn` was sent.
fn sent_on(effects: &[Effect], on: ConnId) -> Vec<Outgoing> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, out, .. } if *conn == on => Some(out.clone()),
            _ => None,
        })
        .collect()
}

fn frames_on(effects: &[Effect], on: ConnId) -> Vec<ServerFrame> {
    sent_on(effects, on)
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Frame(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// The connections told to close as superseded.
fn superseded(effects: &[Effect]) -> Vec<ConnId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Close {
                conn,
                frame:
                    ServerFrame::Error {
                        code: ErrorCode::Superseded,
                        ..
                    },
            } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn is_welcome(f: &ServerFrame) -> bool {
    matches!(f, ServerFrame::Welcome { .. })
}

/// Alice with capacity 2, signed in through two agent-UI instances.
fn alice_on_two_instances(others: &[&str]) -> Harness {
    let mut agents = vec!["alice"];
    agents.extend_from_slice(others);
    let mut h = Harness::new(&agents);
    h.connect_client("alice", UI_A, "ui-a", BTreeMap::new());
    h.run(Event::Availability {
        agent: "alice".into(),
        conn: UI_A,
        available: true,
        capacity: 2,
    });
    h.connect_client("alice", UI_B, "ui-b", BTreeMap::new());
    h
}

#[test]
fn sessions_of_two_clients_coexist_and_each_is_sent_everything_once() {
    let mut h = Harness::new(&["alice"]);
    let effects = h.connect_client("alice", UI_A, "ui-a", BTreeMap::new());
    assert!(frames_on(&effects, UI_A).iter().any(is_welcome));
    h.run(Event::Availability {
        agent: "alice".into(),
        conn: UI_A,
        available: true,
        capacity: 2,
    });
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    // The second instance's session: nobody is superseded, and it is sent
    // what the agent holds (the whole history), on its own connection only.
    let effects = h.connect_client("alice", UI_B, "ui-b", BTreeMap::new());
    assert!(superseded(&effects).is_empty(), "{effects:?}");
    assert!(frames_on(&effects, UI_B).iter().any(is_welcome));
    assert!(sent_on(&effects, UI_A).is_empty(), "{effects:?}");
    assert!(
        sent_on(&effects, UI_B).iter().any(|o| matches!(
            o,
            Outgoing::Assigned { conversation, after: 0, upto: 2, .. } if *conversation == c(1)
        )),
        "{effects:?}"
    );
    // A new message goes to both, each from its own cursor.
    let effects = h.inbound(&c(1), 3);
    for conn in [UI_A, UI_B] {
        assert_eq!(
            sent_on(&effects, conn),
            vec![Outgoing::Range {
                conversation: c(1),
                after: 2,
                upto: 3
            }]
        );
    }
    // A new conversation too: `assigned` on both.
    let effects = h.inbound(&c(2), 1);
    assert_eq!(
        assigned(&effects),
        vec![pair("alice", &c(2)), pair("alice", &c(2))]
    );
    for conn in [UI_A, UI_B] {
        assert!(sent_on(&effects, conn).iter().any(
            |o| matches!(o, Outgoing::Assigned { conversation, .. } if *conversation == c(2))
        ));
    }
    assert_eq!(h.core.stats(h.now).online, 1);
}

#[test]
fn a_new_connection_of_the_same_client_replaces_only_that_clients_session() {
    let mut h = alice_on_two_instances(&[]);
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    // Instance A reconnects (its old socket not yet noticed as dead).
    let effects = h.connect_client("alice", UI_A_AGAIN, "ui-a", BTreeMap::from([(c(1), 1)]));
    assert_eq!(superseded(&effects), vec![UI_A]);
    assert!(sent_on(&effects, UI_A).is_empty());
    assert!(sent_on(&effects, UI_B).is_empty(), "{effects:?}");
    assert!(sent_on(&effects, UI_A_AGAIN).contains(&Outgoing::Range {
        conversation: c(1),
        after: 1,
        upto: 2
    }));
    // The replaced socket's end changes nothing: no grace, nobody offline.
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: UI_A,
    });
    assert!(effects.is_empty(), "{effects:?}");
    let effects = h.inbound(&c(1), 3);
    assert_eq!(sent_on(&effects, UI_A).len(), 0);
    assert_eq!(sent_on(&effects, UI_B).len(), 1);
    assert_eq!(sent_on(&effects, UI_A_AGAIN).len(), 1);
    // A client without an id is the one default client: beside the others,
    // and replaced by the next connection without an id.
    let effects = h.connect_client("alice", 7, "", BTreeMap::new());
    assert!(superseded(&effects).is_empty());
    let effects = h.connect_client("alice", 8, "", BTreeMap::new());
    assert_eq!(superseded(&effects), vec![7]);
    assert_eq!(h.core.agents["alice"].sessions.len(), 3);
}

#[test]
fn grace_starts_only_when_the_last_session_leaves() {
    let mut h = alice_on_two_instances(&["bob"]);
    h.connect("bob", 1);
    h.inbound(&c(1), 1); // alice (least recently assigned, by name)
    assert_eq!(h.core.holder(&c(1)), Some("alice"));
    // One instance goes away: alice is still online, nobody is told.
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: UI_A,
    });
    assert!(effects.is_empty(), "{effects:?}");
    // She still holds hers, shown on the session she has left, and can
    // take more.
    let effects = h.inbound(&c(1), 2);
    assert_eq!(sent_on(&effects, UI_A), vec![]);
    assert_eq!(sent_on(&effects, UI_B).len(), 1);
    assert!(h.core.agents["alice"].can_take_more());
    // The last one goes: now the grace period starts, and bob sees her leave.
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: UI_B,
    });
    let generation = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartGrace { agent, generation } if agent == "alice" => Some(*generation),
            _ => None,
        })
        .expect("a grace timer once the last session left");
    assert!(frames_to(&effects, "bob")
        .iter()
        .any(|f| matches!(f, ServerFrame::Presence { agents } if !agents[0].online)));
    // A session coming back within the grace period keeps everything.
    h.connect_client("alice", UI_A_AGAIN, "ui-a", BTreeMap::from([(c(1), 1)]));
    let effects = h.run(Event::GraceExpired {
        agent: "alice".into(),
        generation,
    });
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(h.core.holder(&c(1)), Some("alice"));
    // Gone again, for good this time: requeued to bob's side of the queue.
    let effects = h.run(Event::Disconnected {
        agent: "alice".into(),
        conn: UI_A_AGAIN,
    });
    let Some(Effect::StartGrace { generation, .. }) = effects
        .iter()
        .find(|e| matches!(e, Effect::StartGrace { .. }))
        .cloned()
    else {
        panic!("no grace timer: {effects:?}");
    };
    h.run(Event::GraceExpired {
        agent: "alice".into(),
        generation,
    });
    assert!(h.core.agents["alice"].conversations.is_empty());
}

#[test]
fn a_reply_from_one_session_is_acked_there_and_shown_on_every_session() {
    let mut h = alice_on_two_instances(&[]);
    h.inbound(&c(1), 1);
    let effects = h.run(Event::Reply {
        note: false,
        agent: "alice".into(),
        conn: UI_B,
        conversation: c(1),
        client_id: "r1".into(),
        body: "hello from B".into(),
        media: Vec::new(),
    });
    // Stored in alice's name; the `ack` goes to the session that sent it.
    assert!(
        matches!(&effects[..], [Effect::StoreReply { conn: UI_B, reply }] if reply.agent == "alice"),
        "{effects:?}"
    );
    // The stored reply comes back through the feed: both sessions get it.
    let effects = h.run(Event::Message {
        conversation: c(1),
        seq: 2,
        direction: Direction::Outbound,
    });
    for conn in [UI_A, UI_B] {
        assert_eq!(
            sent_on(&effects, conn),
            vec![Outgoing::Range {
                conversation: c(1),
                after: 1,
                upto: 2
            }]
        );
    }
    // And so do its statuses.
    let effects = h.run(Event::Status {
        conversation: c(1),
        seq: 2,
    });
    assert_eq!(sent_on(&effects, UI_A).len(), 1);
    assert_eq!(sent_on(&effects, UI_B).len(), 1);
    // A refusal is an answer: only the asking session hears it.
    let effects = h.run(Event::Reply {
        note: false,
        agent: "alice".into(),
        conn: UI_A,
        conversation: c(9),
        client_id: "r2".into(),
        body: "wrong one".into(),
        media: Vec::new(),
    });
    assert_eq!(
        error_code(&frames_on(&effects, UI_A)).map(|e| e.0),
        Some(ErrorCode::NotAssigned)
    );
    assert!(sent_on(&effects, UI_B).is_empty());
}

#[test]
fn resolve_or_transfer_from_either_session_is_seen_on_both() {
    let mut h = alice_on_two_instances(&["bob"]);
    h.connect("bob", 2);
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(2), 1); // bob
    h.inbound(&c(3), 1); // alice
    let effects = h.run(Event::Resolve {
        agent: "alice".into(),
        conn: UI_A,
        conversation: c(1),
    });
    let resolved = Outgoing::Frame(ServerFrame::Unassigned {
        conversation: c(1),
        reason: UnassignReason::Resolved,
    });
    for conn in [UI_A, UI_B] {
        assert!(sent_on(&effects, conn).contains(&resolved), "{effects:?}");
    }
    let effects = h.run(Event::Transfer {
        note: None,
        agent: "alice".into(),
        conn: UI_B,
        conversation: c(3),
        to: Some("bob".into()),
    });
    let transferred = Outgoing::Frame(ServerFrame::Unassigned {
        conversation: c(3),
        reason: UnassignReason::Transferred,
    });
    for conn in [UI_A, UI_B] {
        assert!(
            sent_on(&effects, conn).contains(&transferred),
            "{effects:?}"
        );
    }
    assert_eq!(assigned(&effects), vec![pair("bob", &c(3))]);
    // A refused transfer is told to the session that asked only.
    let effects = h.run(Event::Transfer {
        note: None,
        agent: "bob".into(),
        conn: conn_of("bob"),
        conversation: c(2),
        to: Some("nobody".into()),
    });
    assert_eq!(
        error_code(&frames_to(&effects, "bob")).map(|e| e.0),
        Some(ErrorCode::TransferRejected)
    );
    assert!(frames_to(&effects, "alice").is_empty());
}

#[test]
fn capacity_and_availability_are_the_agents_not_each_sessions() {
    let mut h = alice_on_two_instances(&[]);
    // Capacity 2 for alice, however many sessions she has.
    h.inbound(&c(1), 1);
    h.inbound(&c(2), 1);
    let effects = h.inbound(&c(3), 1);
    assert!(assigned(&effects).is_empty());
    assert_eq!(h.core.queue.len(), 1);
    for conn in [UI_A, UI_B] {
        assert!(queue_lengths(&sent_on(&effects, conn)).contains(&1));
    }
    // Away from session B: saved once, and session A is told (B knows).
    let effects = h.run(Event::Availability {
        agent: "alice".into(),
        conn: UI_B,
        available: false,
        capacity: 3,
    });
    assert!(effects.contains(&Effect::SaveAgent {
        agent: "alice".into(),
        available: false,
        capacity: 3
    }));
    let told = ServerFrame::Availability {
        available: false,
        capacity: 3,
    };
    assert!(frames_on(&effects, UI_A).contains(&told), "{effects:?}");
    assert!(!frames_on(&effects, UI_B).contains(&told));
    // Back from session A with room for three: the queue drains, to both.
    let effects = h.run(Event::Availability {
        agent: "alice".into(),
        conn: UI_A,
        available: true,
        capacity: 3,
    });
    assert_eq!(
        assigned(&effects),
        vec![pair("alice", &c(3)), pair("alice", &c(3))]
    );
    assert!(
        frames_on(&effects, UI_B).contains(&ServerFrame::Availability {
            available: true,
            capacity: 3
        })
    );
    // A hello that declares other settings is news for the other sessions too.
    let effects = h.run(Event::Connected {
        agent: "alice".into(),
        conn: 9,
        client: "terminal".into(),
        resume: BTreeMap::new(),
        available: Some(true),
        capacity: Some(4),
    });
    for conn in [UI_A, UI_B] {
        assert!(
            frames_on(&effects, conn).contains(&ServerFrame::Availability {
                available: true,
                capacity: 4
            })
        );
    }
    assert!(!frames_on(&effects, 9)
        .iter()
        .any(|f| matches!(f, ServerFrame::Availability { .. })));
}

/// The automatic texts stored by `effects`, as (conversation, body).
fn notices(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notice { reply } => {
                assert_eq!(reply.agent, crate::conversation::notice::AUTHOR);
                Some((reply.conversation.clone(), reply.body.clone()))
            }
            _ => None,
        })
        .collect()
}

fn queue_texts(update_after_ms: u64) -> crate::conversation::notice::NoticeSettings {
    use crate::conversation::notice::{NoticeSettings, QueueNotice};
    NoticeSettings {
        queue: Some(QueueNotice {
            text: "number {position}".into(),
            update_after: Some(std::time::Duration::from_millis(update_after_ms)),
            update_text: "still number {position}".into(),
        }),
        after_hours: None,
    }
}

#[test]
fn a_customer_left_in_the_queue_is_told_their_place_once() {
    let mut h = Harness::new(&["alice"]);
    h.core.set_notices(queue_texts(60_000));
    h.connect("alice", 1);
    // alice takes the first: no text.
    assert!(notices(&h.inbound(&c(1), 1)).is_empty());
    assert_eq!(
        notices(&h.inbound(&c(2), 1)),
        vec![(c(2), "number 1".into())]
    );
    assert_eq!(
        notices(&h.inbound(&c(3), 1)),
        vec![(c(3), "number 2".into())]
    );
    // A further message of a queued customer is no new conversation.
    assert!(notices(&h.inbound(&c(3), 2)).is_empty());
    // Nobody online at all: still told.
    let mut nobody = Harness::new(&["alice"]);
    nobody.core.set_notices(queue_texts(60_000));
    assert_eq!(
        notices(&nobody.inbound(&c(1), 1)),
        vec![(c(1), "number 1".into())]
    );
}

#[test]
fn the_update_comes_once_after_the_threshold_and_not_after_assignment() {
    let mut h = Harness::new(&["alice"]);
    h.core.set_notices(queue_texts(60_000));
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    h.inbound(&c(2), 1); // queued, told "number 1"
    h.inbound(&c(3), 1); // queued, told "number 2"
    assert!(notices(&h.run(Event::NoticeTick)).is_empty(), "too early");
    // c(2) is taken before its update is due; c(3) moves up.
    h.resolve("alice", &c(1));
    h.now += 60_000;
    assert_eq!(
        notices(&h.run(Event::NoticeTick)),
        vec![(c(3), "still number 1".into())]
    );
    h.now += 600_000;
    assert!(
        notices(&h.run(Event::NoticeTick)).is_empty(),
        "only one update"
    );
}

#[test]
fn after_hours_the_customer_hears_when_the_team_is_back() {
    use crate::conversation::notice::{AfterHours, BusinessHours, NoticeSettings};
    let mut h = Harness::new(&["alice"]);
    // Open one minute a week, on Sundays: the harness's clock (1970-01-01,
    // a Thursday) is after hours.
    h.core.set_notices(NoticeSettings {
        queue: queue_texts(60_000).queue,
        after_hours: Some(AfterHours {
            hours: BusinessHours::parse("Sun 09:00-09:01", "UTC").expect("valid"),
            text: "closed, back {back}".into(),
        }),
    });
    assert_eq!(
        notices(&h.inbound(&c(1), 1)),
        vec![(c(1), "closed, back Sunday 09:00 (UTC)".into())]
    );
    // Not a queue text, so no queue update either.
    h.now += 10_000_000;
    assert!(notices(&h.run(Event::NoticeTick)).is_empty());
    // An agent working after hours takes the next one: nothing is sent.
    h.connect("alice", 2);
    assert!(notices(&h.inbound(&c(2), 1)).is_empty());
}

/// The timeline entries (events) the effects record: (conversation, agent,
/// event, note).
fn timeline(effects: &[Effect]) -> Vec<(String, String, TimelineEvent, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Timeline { entry } => match &entry.kind {
                EntryKind::Event(event) => Some((
                    entry.conversation.clone(),
                    entry.agent.clone(),
                    event.clone(),
                    entry.body.clone(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_note_is_stored_for_the_holder_only_and_never_as_a_text() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 1);
    h.connect("bob", 1);
    h.inbound(&c(1), 1); // alice
    let note = |agent: &str| Event::Reply {
        agent: agent.into(),
        conn: conn_of(agent),
        conversation: c(1),
        client_id: "n1".into(),
        body: "VIP customer".into(),
        media: Vec::new(),
        note: true,
    };
    let effects = h.run(note("alice"));
    let stored: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::StoreReply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stored.len(), 1, "{effects:?}");
    assert_eq!(stored[0].kind, EntryKind::Note);
    assert!(!stored[0].sends(), "a note goes to no outbox");
    // Not the holder: refused like a reply.
    let effects = h.run(note("bob"));
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::StoreReply { .. })));
    assert_eq!(
        error_code(&frames_to(&effects, "bob")).map(|e| e.0),
        Some(ErrorCode::NotAssigned)
    );
}

#[test]
fn transfer_and_resolve_are_recorded_in_the_timeline_with_who() {
    let mut h = Harness::new(&["alice", "bob"]);
    h.connect("alice", 2);
    h.connect("bob", 2);
    h.inbound(&c(1), 1); // alice
    h.inbound(&c(2), 1); // bob
    let effects = h.run(Event::Transfer {
        agent: "alice".into(),
        conn: conn_of("alice"),
        conversation: c(1),
        to: Some("bob".into()),
        note: Some("wants a refund".into()),
    });
    assert_eq!(
        timeline(&effects),
        vec![(
            c(1),
            "alice".to_string(),
            TimelineEvent::Transferred {
                from: "alice".into(),
                to: Some("bob".into())
            },
            "wants a refund".to_string()
        )]
    );
    assert_eq!(assigned(&effects), vec![pair("bob", &c(1))]);
    // Back to the queue, without a note.
    let effects = h.transfer("bob", &c(1), None);
    assert_eq!(
        timeline(&effects),
        vec![(
            c(1),
            "bob".to_string(),
            TimelineEvent::Transferred {
                from: "bob".into(),
                to: None
            },
            String::new()
        )]
    );
    let effects = h.resolve("bob", &c(2));
    assert_eq!(
        timeline(&effects),
        vec![(
            c(2),
            "bob".to_string(),
            TimelineEvent::Resolved { by: "bob".into() },
            String::new()
        )]
    );
    // The event itself, arriving from the feed, does not reopen the
    // resolved conversation; only the customer does.
    let effects = h.run(Event::Message {
        conversation: c(2),
        seq: 2,
        direction: Direction::Event,
    });
    assert!(assigned(&effects).is_empty(), "{effects:?}");
    assert!(h.core.waiting().is_empty());
    let effects = h.inbound(&c(2), 3);
    assert_eq!(assigned(&effects).len(), 1, "{effects:?}");
    // A refused transfer records nothing.
    let effects = h.transfer("alice", &c(2), Some("nobody"));
    assert!(timeline(&effects).is_empty());
}

#[test]
fn reopening_is_one_call_that_records_who_reopened_it() {
    // The hook the history work calls when an agent reopens a resolved
    // conversation: one `reopened` entry in that agent's name.
    let mut h = Harness::new(&["alice"]);
    h.connect("alice", 1);
    h.inbound(&c(1), 1);
    h.resolve("alice", &c(1));
    h.core.record_reopened(&c(1), "alice");
    let effects = std::mem::take(&mut h.core.effects);
    assert_eq!(
        timeline(&effects),
        vec![(
            c(1),
            "alice".to_string(),
            TimelineEvent::Reopened { by: "alice".into() },
            String::new()
        )]
    );
}
