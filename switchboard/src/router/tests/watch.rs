//! A supervisor reading someone else's conversation (`watch`), and a
//! session's wider queue window (`queue_window`).

use super::*;
use switchboard_protocol::{QUEUE_LIST_LIMIT, QUEUE_WINDOW_MAX};

impl Harness {
    fn watch(&mut self, agent: &str, conversation: Option<&str>) -> Vec<Effect> {
        self.run(Event::Watch {
            agent: agent.into(),
            conn: conn_of(agent),
            conversation: conversation.map(str::to_string),
        })
    }

    fn queue_window(&mut self, agent: &str, limit: usize) -> Vec<Effect> {
        self.run(Event::QueueWindow {
            agent: agent.into(),
            conn: conn_of(agent),
            limit,
        })
    }

    fn reply_stored(&mut self, conversation: &str, seq: u64) -> Vec<Effect> {
        self.run(Event::Message {
            conversation: conversation.into(),
            seq,
            direction: Direction::Outbound,
        })
    }
}

/// What `agent` was sent of `conversation` as message ranges `(after, upto]`.
fn ranges(effects: &[Effect], agent: &str, conversation: &str) -> Vec<(u64, u64)> {
    sent_to(effects, agent)
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Range {
                conversation: c,
                after,
                upto,
            } if c == conversation => Some((after, upto)),
            _ => None,
        })
        .collect()
}

/// Alice holds c1 (two messages); carol is a supervisor, away; bob is not.
fn alice_holds_one() -> Harness {
    let mut h = Harness::new(&["alice", "bob", "carol"]);
    h.core.set_supervisors(["carol".to_string()]);
    h.connect("alice", 1);
    for agent in ["bob", "carol"] {
        h.run(Event::Connected {
            agent: agent.into(),
            conn: conn_of(agent),
            client: String::new(),
            resume: BTreeMap::new(),
            available: Some(false),
            capacity: Some(1),
        });
    }
    h.inbound(&c(1), 1);
    h.inbound(&c(1), 2);
    assert_eq!(h.core.holder(&c(1)), Some("alice"));
    h
}

#[test]
fn a_supervisor_reads_a_held_conversation_live_and_changes_nothing() {
    let mut h = alice_holds_one();
    let effects = h.watch("carol", Some(&c(1)));
    assert_eq!(
        sent_to(&effects, "carol"),
        [Outgoing::Watching {
            conversation: c(1),
            holder: Some("alice".into()),
            upto: 2
        }]
    );
    assert!(
        sent_to(&effects, "alice").is_empty(),
        "the holder is told nothing"
    );
    assert_eq!(h.core.holder(&c(1)), Some("alice"), "still alice's");

    // Every later message reaches the watcher once, in order, as the holder's do.
    let effects = h.inbound(&c(1), 3);
    assert_eq!(ranges(&effects, "carol", &c(1)), [(2, 3)]);
    assert_eq!(ranges(&effects, "alice", &c(1)), [(2, 3)]);
    let effects = h.reply_stored(&c(1), 4);
    assert_eq!(ranges(&effects, "carol", &c(1)), [(3, 4)]);
    // Statuses of what the watcher was sent, and opt-out changes, too.
    let effects = h.run(Event::Status {
        conversation: c(1),
        seq: 4,
    });
    assert!(sent_to(&effects, "carol").contains(&Outgoing::Status {
        conversation: c(1),
        seq: 4
    }));
    let effects = h.run(Event::Status {
        conversation: c(1),
        seq: 9,
    });
    assert!(
        sent_to(&effects, "carol").is_empty(),
        "nothing past what it was sent"
    );
    let effects = h.run(Event::OptOut { conversation: c(1) });
    assert!(sent_to(&effects, "carol").contains(&Outgoing::OptOut { conversation: c(1) }));

    // A transfer keeps the watch (the transferred event is a message).
    h.connect("bob", 1);
    h.transfer("alice", &c(1), Some("bob"));
    assert_eq!(h.core.holder(&c(1)), Some("bob"));
    let effects = h.inbound(&c(1), 5);
    assert_eq!(ranges(&effects, "carol", &c(1)), [(4, 5)]);

    // Resolved: the watch ends, once.
    let effects = h.resolve("bob", &c(1));
    let ended: Vec<ServerFrame> = frames_to(&effects, "carol")
        .into_iter()
        .filter(|f| matches!(f, ServerFrame::WatchEnded { .. }))
        .collect();
    assert_eq!(ended, [ServerFrame::WatchEnded { conversation: c(1) }]);
    // A new conversation of that customer is not watched.
    let effects = h.inbound(&c(1), 6);
    assert!(ranges(&effects, "carol", &c(1)).is_empty());
}

#[test]
fn only_supervisors_watch_and_only_open_conversations_not_their_own() {
    let mut h = alice_holds_one();
    let (code, _) = error_code(&frames_to(&h.watch("bob", Some(&c(1))), "bob")).expect("refused");
    assert_eq!(code, ErrorCode::NotSupervisor);
    let effects = h.inbound(&c(1), 3);
    assert!(
        ranges(&effects, "bob", &c(1)).is_empty(),
        "bob was refused: nothing"
    );

    let (code, message) =
        error_code(&frames_to(&h.watch("carol", Some(&c(7))), "carol")).expect("refused");
    assert_eq!(code, ErrorCode::NotOpen);
    assert!(message.contains("history"), "{message}");

    // A waiting conversation can be watched; taking it makes it hers, and
    // the watch ends there (the `assigned` shows it).
    h.inbound(&c(2), 1);
    assert_eq!(h.core.queue, [c(2)]);
    let effects = h.watch("carol", Some(&c(2)));
    assert!(sent_to(&effects, "carol").contains(&Outgoing::Watching {
        conversation: c(2),
        holder: None,
        upto: 1
    }));
    h.run(Event::Take {
        agent: "carol".into(),
        conn: conn_of("carol"),
        conversation: c(2),
    });
    assert_eq!(h.core.holder(&c(2)), Some("carol"));
    let effects = h.inbound(&c(2), 2);
    assert_eq!(
        ranges(&effects, "carol", &c(2)),
        [(1, 2)],
        "once, as the holder"
    );
    let (code, _) =
        error_code(&frames_to(&h.watch("carol", Some(&c(2))), "carol")).expect("refused");
    assert_eq!(code, ErrorCode::NotOpen, "her own conversation is no watch");

    // Another watch replaces the first; unwatch ends it.
    h.watch("carol", Some(&c(1)));
    let effects = h.inbound(&c(1), 4);
    assert_eq!(ranges(&effects, "carol", &c(1)), [(3, 4)]);
    h.watch("carol", None);
    let effects = h.inbound(&c(1), 5);
    assert!(ranges(&effects, "carol", &c(1)).is_empty());
}

#[test]
fn a_wider_queue_window_lists_more_to_that_session_only() {
    let mut h = Harness::new(&["alice", "bob"]);
    for agent in ["alice", "bob"] {
        h.run(Event::Connected {
            agent: agent.into(),
            conn: conn_of(agent),
            client: String::new(),
            resume: BTreeMap::new(),
            available: Some(false),
            capacity: Some(1),
        });
    }
    let waiting = QUEUE_LIST_LIMIT + 10;
    for n in 1..=waiting {
        h.inbound(&c(n as u32), 1);
    }
    let listed = |effects: &[Effect], agent: &str| -> Option<(usize, Vec<String>)> {
        sent_to(effects, agent)
            .into_iter()
            .rev()
            .find_map(|o| match o {
                Outgoing::Queue { length, entries } => Some((
                    length,
                    entries.into_iter().map(|e| e.conversation).collect(),
                )),
                _ => None,
            })
    };
    let effects = h.queue_window("alice", 100);
    let (length, ids) = listed(&effects, "alice").expect("alice is sent the wider list at once");
    assert_eq!((length, ids.len()), (waiting, waiting));
    assert_eq!(
        ids.last(),
        Some(&c(waiting as u32)),
        "in queue order, the newest last"
    );
    assert!(
        listed(&effects, "bob").is_none(),
        "bob's list did not change"
    );

    // The next change: each session gets its own window's worth.
    let effects = h.inbound(&c(999), 1);
    let (length, ids) = listed(&effects, "alice").expect("alice");
    assert_eq!((length, ids.len()), (waiting + 1, waiting + 1));
    let (length, ids) = listed(&effects, "bob").expect("bob");
    assert_eq!((length, ids.len()), (waiting + 1, QUEUE_LIST_LIMIT));
    // A change beyond bob's window only: alice is told, bob is told the length.
    let effects = h.run(Event::Take {
        agent: "bob".into(),
        conn: conn_of("bob"),
        conversation: c(waiting as u32),
    });
    let (_, ids) = listed(&effects, "alice").expect("alice");
    assert!(!ids.contains(&c(waiting as u32)));
    // The window is clamped to its bounds.
    h.queue_window("bob", usize::MAX);
    assert_eq!(
        h.core.agents["bob"].sessions[&conn_of("bob")].queue_limit,
        QUEUE_WINDOW_MAX
    );
    h.queue_window("bob", 0);
    assert_eq!(
        h.core.agents["bob"].sessions[&conn_of("bob")].queue_limit,
        QUEUE_LIST_LIMIT
    );
}
