//! Property test of several sessions per agent. Over random interleavings of
//! sessions connecting (new clients, and reconnects of a client resuming from
//! what its old connection was shown), sessions leaving, customers writing,
//! replies, resolves, takes from the queue, availability changes, grace
//! periods running out, and a supervisor's sessions watching and unwatching
//! conversations (alice is a supervisor, bob is not):
//! every live session of an agent is shown each seq of each conversation the
//! agent holds once, in order, with no gap — whichever session it came
//! through and whenever it joined —, each seq of the conversation it watches
//! likewise (up to the head, until the watch ends), and nothing is sent on a
//! connection that was replaced or closed.

use super::{c, Harness};
use crate::router::conn::{ConnId, Outgoing};
use crate::router::event::{Effect, Event};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use switchboard_protocol::{Direction, ServerFrame};

const AGENTS: [&str; 2] = ["alice", "bob"];

#[derive(Debug, Clone)]
enum Step {
    /// `agent` connects as client `client` (a reconnect if that client has
    /// a live connection).
    Connect {
        agent: usize,
        client: u8,
    },
    /// One of the live connections ends.
    Disconnect {
        pick: usize,
    },
    /// A customer writes.
    Inbound {
        conv: u32,
    },
    /// A live connection replies in `conv`.
    Reply {
        pick: usize,
        conv: u32,
    },
    Resolve {
        pick: usize,
        conv: u32,
    },
    /// A live connection takes `conv` from the queue (refused unless it
    /// waits there).
    Take {
        pick: usize,
        conv: u32,
    },
    Availability {
        pick: usize,
        available: bool,
        capacity: u32,
    },
    /// The grace timer of the agent's latest disconnect fires.
    GraceOver {
        agent: usize,
    },
    /// A live connection watches `conv` (`None`: unwatches).
    Watch {
        pick: usize,
        conv: Option<u32>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..2usize, 0..3u8).prop_map(|(agent, client)| Step::Connect { agent, client }),
        2 => any::<usize>().prop_map(|pick| Step::Disconnect { pick }),
        5 => (0..4u32).prop_map(|conv| Step::Inbound { conv }),
        2 => (any::<usize>(), 0..4u32).prop_map(|(pick, conv)| Step::Reply { pick, conv }),
        1 => (any::<usize>(), 0..4u32).prop_map(|(pick, conv)| Step::Resolve { pick, conv }),
        1 => (any::<usize>(), 0..4u32).prop_map(|(pick, conv)| Step::Take { pick, conv }),
        1 => (any::<usize>(), any::<bool>(), 1..4u32).prop_map(|(pick, available, capacity)| {
            Step::Availability { pick, available, capacity }
        }),
        1 => (0..2usize).prop_map(|agent| Step::GraceOver { agent }),
        2 => (any::<usize>(), proptest::option::of(0..4u32)).prop_map(|(pick, conv)| Step::Watch { pick, conv }),
    ]
}

/// What the clients and the store have seen, kept by the test.
#[derive(Default)]
struct World {
    /// Newest seq stored per conversation.
    stored: HashMap<String, u64>,
    /// Live connections: conn → (agent, client).
    live: BTreeMap<ConnId, (usize, u8)>,
    /// Connections replaced or closed: nothing may be sent on them.
    dead: HashSet<ConnId>,
    /// Per connection, per conversation it holds: the last seq it was shown.
    shown: HashMap<ConnId, BTreeMap<String, u64>>,
    /// Per connection, the conversation it watches and the last seq shown.
    watched: HashMap<ConnId, (String, u64)>,
    next_conn: ConnId,
    replies: u64,
}

impl World {
    fn pick(&self, pick: usize) -> Option<(ConnId, usize)> {
        let n = self.live.len();
        (n > 0).then(|| {
            let (conn, (agent, _)) = self.live.iter().nth(pick % n).expect("in range");
            (*conn, *agent)
        })
    }

    /// Plays what the router asked to send, as the clients would see it.
    fn observe(&mut self, effects: &[Effect]) -> Result<(), TestCaseError> {
        for effect in effects {
            match effect {
                Effect::Send { conn, out, .. } => {
                    prop_assert!(
                        !self.dead.contains(conn),
                        "sent on dead {}: {:?}",
                        conn,
                        out
                    );
                    let shown = self.shown.entry(*conn).or_default();
                    match out {
                        Outgoing::Assigned {
                            conversation,
                            after,
                            upto,
                            ..
                        } => {
                            prop_assert_eq!(*after, 0);
                            shown.insert(conversation.clone(), *upto);
                            // Held now: shown as the agent's, not watched.
                            if self
                                .watched
                                .get(conn)
                                .is_some_and(|(c, _)| c == conversation)
                            {
                                self.watched.remove(conn);
                            }
                        }
                        Outgoing::Watching {
                            conversation, upto, ..
                        } => {
                            prop_assert!(!shown.contains_key(conversation), "watching its own");
                            self.watched.insert(*conn, (conversation.clone(), *upto));
                        }
                        Outgoing::Range {
                            conversation,
                            after,
                            upto,
                        } if !shown.contains_key(conversation) => {
                            let last = self
                                .watched
                                .get(conn)
                                .filter(|(c, _)| c == conversation)
                                .map(|(_, s)| *s);
                            prop_assert_eq!(
                                last,
                                Some(*after),
                                "conn {} watching {}: a gap, a repeat or no watch",
                                conn,
                                conversation
                            );
                            prop_assert!(upto > after);
                            self.watched.insert(*conn, (conversation.clone(), *upto));
                        }
                        Outgoing::Frame(ServerFrame::WatchEnded { conversation }) => {
                            let ended = self.watched.remove(conn);
                            prop_assert_eq!(ended.map(|(c, _)| c), Some(conversation.clone()));
                        }
                        Outgoing::Range {
                            conversation,
                            after,
                            upto,
                        } => {
                            let last = shown.get(conversation).copied();
                            prop_assert_eq!(
                                last,
                                Some(*after),
                                "conn {} {}: a gap or a repeat",
                                conn,
                                conversation
                            );
                            prop_assert!(upto > after);
                            shown.insert(conversation.clone(), *upto);
                        }
                        Outgoing::Resume { conversation, seen } => {
                            shown.insert(conversation.clone(), *seen);
                        }
                        Outgoing::Frame(ServerFrame::Unassigned { conversation, .. }) => {
                            shown.remove(conversation);
                        }
                        _ => {}
                    }
                }
                Effect::Close { conn, .. } => {
                    self.live.remove(conn);
                    self.dead.insert(*conn);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every live session is shown exactly what its agent holds, up to the head.
    fn check(&self, h: &Harness) -> Result<(), TestCaseError> {
        let mut sessions = BTreeSet::new();
        for name in AGENTS {
            let agent = &h.core.agents[name];
            for conn in agent.sessions.keys() {
                sessions.insert(*conn);
                let shown = self.shown.get(conn).cloned().unwrap_or_default();
                let held: BTreeMap<String, u64> = agent
                    .conversations
                    .iter()
                    .map(|c| (c.clone(), h.core.head(c)))
                    .collect();
                prop_assert_eq!(shown, held, "{}'s session {}", name, conn);
                // The watched conversation: shown up to its head.
                let watching = agent.sessions[conn]
                    .watching
                    .as_ref()
                    .map(|w| (w.conversation.clone(), h.core.head(&w.conversation)));
                prop_assert_eq!(
                    self.watched.get(conn).cloned(),
                    watching,
                    "{}'s session {} watch",
                    name,
                    conn
                );
            }
        }
        let live: BTreeSet<ConnId> = self.live.keys().copied().collect();
        prop_assert_eq!(sessions, live);
        Ok(())
    }
}

fn play(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut h = Harness::new(&AGENTS);
    h.core.set_supervisors(["alice".to_string()]);
    let mut w = World::default();
    for step in steps {
        let effects = match step {
            Step::Connect { agent, client } => {
                w.next_conn += 1;
                let conn = w.next_conn;
                // A client that reconnects resumes from what it was shown.
                let resume = w
                    .live
                    .iter()
                    .find(|(_, who)| **who == (agent, client))
                    .and_then(|(old, _)| w.shown.get(old).cloned())
                    .unwrap_or_default();
                w.live.insert(conn, (agent, client));
                h.run(Event::Connected {
                    agent: AGENTS[agent].into(),
                    conn,
                    client: format!("client-{client}"),
                    resume,
                    available: None,
                    capacity: None,
                })
            }
            Step::Disconnect { pick } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                w.live.remove(&conn);
                w.dead.insert(conn);
                h.run(Event::Disconnected {
                    agent: AGENTS[agent].into(),
                    conn,
                })
            }
            Step::Inbound { conv } => {
                let seq = w.stored.entry(c(conv)).or_default();
                *seq += 1;
                let seq = *seq;
                h.run(Event::Message {
                    conversation: c(conv),
                    seq,
                    direction: Direction::Inbound,
                })
            }
            Step::Reply { pick, conv } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                w.replies += 1;
                let mut effects = h.run(Event::Reply {
                    note: false,
                    agent: AGENTS[agent].into(),
                    conn,
                    conversation: c(conv),
                    client_id: format!("r{}", w.replies),
                    body: "reply".into(),
                    media: Vec::new(),
                });
                // The store takes it; the feed brings it back.
                let stored = effects
                    .iter()
                    .any(|e| matches!(e, Effect::StoreReply { conn: to, .. } if *to == conn));
                if stored {
                    let seq = w.stored.entry(c(conv)).or_default();
                    *seq += 1;
                    let seq = *seq;
                    effects.extend(h.run(Event::Message {
                        conversation: c(conv),
                        seq,
                        direction: Direction::Outbound,
                    }));
                }
                effects
            }
            Step::Resolve { pick, conv } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                h.run(Event::Resolve {
                    agent: AGENTS[agent].into(),
                    conn,
                    conversation: c(conv),
                })
            }
            Step::Take { pick, conv } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                h.run(Event::Take {
                    agent: AGENTS[agent].into(),
                    conn,
                    conversation: c(conv),
                })
            }
            Step::Availability {
                pick,
                available,
                capacity,
            } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                h.run(Event::Availability {
                    agent: AGENTS[agent].into(),
                    conn,
                    available,
                    capacity,
                })
            }
            Step::Watch { pick, conv } => {
                let Some((conn, agent)) = w.pick(pick) else {
                    continue;
                };
                let effects = h.run(Event::Watch {
                    agent: AGENTS[agent].into(),
                    conn,
                    conversation: conv.map(c),
                });
                // A refusal leaves a watch as it was; an unwatch or a new
                // watch ends the old one.
                let refused = effects.iter().any(|e| {
                    matches!(
                        e,
                        Effect::Send {
                            out: Outgoing::Frame(ServerFrame::Error { .. }),
                            ..
                        }
                    )
                });
                if !refused {
                    w.watched.remove(&conn);
                }
                effects
            }
            Step::GraceOver { agent } => {
                let generation = h.core.agents[AGENTS[agent]].generation;
                h.run(Event::GraceExpired {
                    agent: AGENTS[agent].into(),
                    generation,
                })
            }
        };
        w.observe(&effects)?;
        w.check(&h)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_session_is_shown_everything_its_agent_holds_once_in_order(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        play(steps)?;
    }
}
