//! Routing as agents experience it: sticky assignment, capacity,
//! least-loaded choice, the waiting queue, grace-period requeue, resolve and
//! transfer, and reconnect-with-resume.

use crate::common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use switchboard_protocol::{
    ClientFrame, Direction, ErrorCode, ServerFrame, UnassignReason, QUEUE_LIST_LIMIT,
};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn further_messages_from_a_number_stick_to_its_agent() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    let mut bob = sb.agent("bob").await;
    sb.text(&number(1), "first").await;
    // Whoever got it keeps it, however loads change afterwards.
    let (mut owner, mut other) = {
        let deadline = std::time::Instant::now() + WAIT;
        while !alice.assigned.contains(&number(1)) && !bob.assigned.contains(&number(1)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the first text was never assigned"
            );
            alice.next_frame(Duration::from_millis(50)).await;
            bob.next_frame(Duration::from_millis(50)).await;
        }
        if alice.assigned.contains(&number(1)) {
            (alice, bob)
        } else {
            (bob, alice)
        }
    };
    // The other agent, now the less loaded, gets a customer of its own (for
    // the barrier below).
    sb.text(&number(2), "second customer").await;
    other
        .until(WAIT, "the second customer", |a| {
            a.assigned.contains(&number(2))
        })
        .await;
    for i in 0..5 {
        sb.text(&number(1), &format!("more {i}")).await;
    }
    owner
        .until(WAIT, "all six", |a| a.bodies(&number(1)).len() == 6)
        .await;
    sb.barrier(&mut other, &number(2)).await;
    assert!(
        !other.messages.contains_key(&number(1)),
        "the other agent saw nothing"
    );
    let seqs: Vec<u64> = owner.messages[&number(1)].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
}

#[tokio::test]
async fn new_conversations_go_to_the_least_loaded_agent_with_ties_round_robin() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent_with("alice", 10).await;
    let mut bob = sb.agent_with("bob", 10).await;
    for i in 0..6 {
        sb.text(&number(10 + i), "hi").await;
        // One at a time, so each choice sees the previous one.
        let total = i + 1;
        let deadline = std::time::Instant::now() + WAIT;
        while alice.assigned.len() + bob.assigned.len() < total {
            assert!(
                std::time::Instant::now() < deadline,
                "assignment {total} never came"
            );
            alice.next_frame(Duration::from_millis(50)).await;
            bob.next_frame(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        alice.assigned.len(),
        3,
        "alice {:?} bob {:?}",
        alice.assigned,
        bob.assigned
    );
    assert_eq!(bob.assigned.len(), 3);

    // A third agent with nothing is now the least loaded: it gets the next two.
    let mut carol = sb.agent_with("carol", 10).await;
    sb.text(&number(20), "hi").await;
    sb.text(&number(21), "hi").await;
    carol
        .until(WAIT, "two conversations", |a| a.assigned.len() == 2)
        .await;
}

#[tokio::test]
async fn capacity_is_respected_and_the_queue_drains_in_order_when_room_frees() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent_with("alice", 2).await;
    for i in 0..5 {
        sb.text(&number(30 + i), &format!("customer {i}")).await;
    }
    alice
        .until(WAIT, "two conversations", |a| a.assigned.len() == 2)
        .await;
    alice
        .until(WAIT, "queue length 3", |a| {
            a.frames
                .iter()
                .any(|f| matches!(f, ServerFrame::Queue { length: 3, .. }))
        })
        .await;
    sb.barrier(&mut alice, &number(30)).await;
    assert_eq!(alice.assigned.len(), 2, "never above capacity");
    assert!(alice.assigned.contains(&number(30)) && alice.assigned.contains(&number(31)));

    // Resolving one frees a slot: the oldest waiting customer comes next.
    alice
        .send(&ClientFrame::Resolve {
            conversation: number(30),
        })
        .await;
    alice
        .until(WAIT, "customer 2", |a| a.assigned.contains(&number(32)))
        .await;
    assert!(!alice.assigned.contains(&number(30)));

    // Raising capacity drains more, in FIFO order.
    alice
        .send(&ClientFrame::Availability {
            available: true,
            capacity: 4,
        })
        .await;
    alice
        .until(WAIT, "customers 3 and 4", |a| {
            a.assigned.contains(&number(33)) && a.assigned.contains(&number(34))
        })
        .await;
    // The queued customers' history arrived whole.
    assert_eq!(alice.bodies(&number(34)), vec!["customer 4"]);
}

#[tokio::test]
async fn unavailable_agents_get_nothing_until_they_are_available() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = Agent::connect(&sb, "alice", BTreeMap::new(), Some(false), Some(3)).await;
    sb.text(&number(40), "anyone?").await;
    // The queue announcement comes after any assignment the same text
    // would have caused.
    alice
        .until_frame(WAIT, "queue length 1", |f| {
            matches!(f, ServerFrame::Queue { length: 1, .. })
        })
        .await;
    assert!(alice.assigned.is_empty());
    alice
        .send(&ClientFrame::Availability {
            available: true,
            capacity: 3,
        })
        .await;
    alice
        .until(WAIT, "the waiting customer", |a| {
            a.assigned.contains(&number(40))
        })
        .await;
}

#[tokio::test]
async fn a_resolved_conversation_reopens_as_new_on_the_next_message() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    sb.text(&number(50), "problem").await;
    alice
        .until(WAIT, "assignment", |a| a.assigned.contains(&number(50)))
        .await;
    alice
        .send(&ClientFrame::Resolve {
            conversation: number(50),
        })
        .await;
    alice
        .until_frame(WAIT, "unassigned", |f| {
            matches!(
                f,
                ServerFrame::Unassigned {
                    reason: UnassignReason::Resolved,
                    ..
                }
            )
        })
        .await;
    // Resolving what is not yours is an error frame, not a crash.
    alice
        .send(&ClientFrame::Resolve {
            conversation: number(50),
        })
        .await;
    alice
        .until_frame(WAIT, "not-assigned error", |f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::NotAssigned,
                    ..
                }
            )
        })
        .await;
    sb.text(&number(50), "another problem").await;
    alice
        .until(WAIT, "reassignment", |a| a.assigned.contains(&number(50)))
        .await;
    let last = alice.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Assigned { history, .. } => Some(
            history
                .iter()
                .map(common::timeline_line)
                .collect::<Vec<_>>(),
        ),
        _ => None,
    });
    let first_body = alice.bodies(&number(50))[0].clone();
    assert_eq!(
        last,
        Some(vec![
            first_body,
            "[resolved by alice]".to_string(),
            "another problem".to_string()
        ]),
        "full history on (re)assignment, with who resolved it"
    );
}

#[tokio::test]
async fn transfer_to_a_named_agent_or_back_to_the_queue() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent_with("alice", 5).await;
    sb.text(&number(60), "help").await;
    alice
        .until(WAIT, "assignment", |a| a.assigned.contains(&number(60)))
        .await;

    // Offline target: refused with a reason.
    alice
        .send(&ClientFrame::Transfer {
            note: None,
            conversation: number(60),
            to: Some("bob".into()),
        })
        .await;
    alice
        .until_frame(WAIT, "refusal", |f| matches!(f, ServerFrame::Error { code: ErrorCode::TransferRejected, message, .. } if message.contains("offline")))
        .await;

    let mut bob = sb.agent_with("bob", 5).await;
    alice
        .send(&ClientFrame::Transfer {
            note: None,
            conversation: number(60),
            to: Some("bob".into()),
        })
        .await;
    bob.until(WAIT, "transferred conversation", |b| {
        b.assigned.contains(&number(60))
    })
    .await;
    assert_eq!(
        bob.bodies(&number(60)),
        vec!["help"],
        "history travels with it"
    );
    alice
        .until(WAIT, "unassigned", |a| !a.assigned.contains(&number(60)))
        .await;

    // Sticky to the new owner.
    sb.text(&number(60), "still there?").await;
    bob.until(WAIT, "next message", |b| b.bodies(&number(60)).len() == 2)
        .await;

    // Back to the queue: someone other than bob takes it when possible.
    bob.send(&ClientFrame::Transfer {
        note: Some("asked twice already".into()),
        conversation: number(60),
        to: None,
    })
    .await;
    alice
        .until(WAIT, "requeued conversation", |a| {
            a.assigned.contains(&number(60))
        })
        .await;
    assert_eq!(
        alice.bodies(&number(60)).len(),
        1 + 2,
        "earlier copy plus full history"
    );
    // The timeline says who handed it on, to whom, with the note.
    alice
        .until(WAIT, "both transfers in the timeline", |a| {
            a.timeline(&number(60))
                .iter()
                .filter(|l| l.starts_with('['))
                .count()
                == 2
        })
        .await;
    let events: Vec<String> = alice
        .timeline(&number(60))
        .into_iter()
        .filter(|l| l.starts_with('['))
        .collect();
    assert_eq!(
        events,
        [
            "[transferred from alice to bob]",
            "[returned to the queue by bob] asked twice already"
        ]
    );
}

#[tokio::test]
async fn a_refused_transfer_leaves_the_conversation_with_the_sender() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = sb.agent_with("alice", 5).await;
    sb.text(&number(90), "help").await;
    alice
        .until(WAIT, "assignment", |a| a.assigned.contains(&number(90)))
        .await;
    // Bob takes the next customer (least loaded) and is then full.
    let mut bob = sb.agent_with("bob", 1).await;
    sb.text(&number(91), "me too").await;
    bob.until(WAIT, "his customer", |b| b.assigned.contains(&number(91)))
        .await;

    for (to, reason) in [
        ("zed", "no agent named zed"),
        ("carol", "carol is offline"),
        ("bob", "bob is at capacity"),
    ] {
        alice
            .send(&ClientFrame::Transfer {
                note: None,
                conversation: number(90),
                to: Some(to.into()),
            })
            .await;
        alice
            .until_frame(WAIT, reason, |f| {
                matches!(f, ServerFrame::Error { code: ErrorCode::TransferRejected, message, conversation: Some(c), .. }
                    if message.contains(reason) && *c == number(90))
            })
            .await;
    }
    // Barriers: the customer's next text reaches alice, and bob's customer's
    // reaches bob; anything the refusals sent either would have come first.
    sb.barrier(&mut alice, &number(90)).await;
    sb.barrier(&mut bob, &number(91)).await;
    assert!(alice.assigned.contains(&number(90)));
    assert!(
        !alice
            .frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Unassigned { .. })),
        "alice was told the conversation left her"
    );
    assert_eq!(
        bob.assigned.iter().cloned().collect::<Vec<_>>(),
        vec![number(91)]
    );
}

/// Alice, holding two conversations, disconnects; bob stays. Returns once
/// bob has seen alice go offline and then been given a new customer: the
/// barrier after which anything the disconnect itself handed to bob has
/// arrived.
async fn alice_leaves_bob_stays(sb: &Switchboard) -> Agent {
    let mut alice = sb.agent_with("alice", 5).await;
    sb.text(&number(70), "one").await;
    sb.text(&number(71), "two").await;
    alice
        .until(WAIT, "two conversations", |a| a.assigned.len() == 2)
        .await;
    let mut bob = Agent::connect(sb, "bob", BTreeMap::new(), Some(true), Some(5)).await;
    alice.close().await;
    // Once bob has seen alice go offline, a new customer (his, he is the
    // only one online) is routed after the disconnect.
    bob.until(WAIT, "alice offline", |b| {
        b.frames.iter().rev().find_map(|f| match f {
            ServerFrame::Presence { agents } => {
                agents.iter().find(|p| p.name == "alice").map(|p| !p.online)
            }
            _ => None,
        }) == Some(true)
    })
    .await;
    sb.text(&number(72), "three").await;
    bob.until(WAIT, "the new customer", |b| {
        b.assigned.contains(&number(72))
    })
    .await;
    bob
}

#[tokio::test]
async fn a_disconnected_agents_conversations_are_held_during_the_grace_period() {
    // A grace period far longer than the test: the hold is always checked.
    let sb = Switchboard::start_in_process(Options {
        grace_secs: 600.0,
        ..Options::default()
    })
    .await;
    let bob = alice_leaves_bob_stays(&sb).await;
    // Bob is less loaded, but only new conversations go to him.
    assert_eq!(
        bob.assigned.iter().cloned().collect::<Vec<_>>(),
        vec![number(72)],
        "alice's conversations are held for her"
    );
}

#[tokio::test]
async fn a_disconnected_agents_conversations_are_requeued_after_the_grace_period() {
    let sb = Switchboard::start_in_process(Options {
        grace_secs: 1.0,
        ..Options::default()
    })
    .await;
    let mut bob = alice_leaves_bob_stays(&sb).await;
    let held = [number(70), number(71)];
    bob.until(Duration::from_secs(30), "requeued conversations", |b| {
        held.iter().all(|c| b.assigned.contains(c))
    })
    .await;
}

#[tokio::test]
async fn reconnecting_within_grace_resumes_with_exactly_the_gap() {
    let sb = Switchboard::start_in_process(Options {
        grace_secs: 30.0,
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent_with("alice", 5).await;
    for i in 0..3 {
        sb.text(&number(80), &format!("before {i}")).await;
    }
    alice
        .until(WAIT, "three", |a| a.bodies(&number(80)).len() == 3)
        .await;

    // Kill the socket abruptly mid-stream; messages keep arriving meanwhile.
    let sender = async {
        for i in 0..20 {
            sb.text(&number(80), &format!("during {i}")).await;
        }
    };
    let reader = async {
        // Read a few, then drop the connection without a close frame.
        alice
            .until(WAIT, "some of the stream", |a| {
                a.bodies(&number(80)).len() >= 6
            })
            .await;
        alice
    };
    let ((), alice) = tokio::join!(sender, reader);
    let seen_before = alice.bodies(&number(80)).len();
    let mut alice = alice.reconnect(&sb).await;
    alice
        .until(WAIT, "all 23", |a| a.bodies(&number(80)).len() >= 23)
        .await;
    // Anything sent twice would come before the barrier text (message 24).
    sb.barrier(&mut alice, &number(80)).await;
    let seqs: Vec<u64> = alice.messages[&number(80)].iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=24).collect::<Vec<_>>(),
        "no gap, no duplicate (had {seen_before} before)"
    );
    // Resumed, not re-assigned: no second full history.
    let assigned_frames = alice
        .frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Assigned { .. }))
        .count();
    assert_eq!(assigned_frames, 0, "the resumed session got deltas only");
}

#[tokio::test]
async fn one_agent_from_two_clients_gets_everything_on_both_and_only_its_own_client_replaces_it() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let customer = number(61);
    let mut one = Agent::connect_as_client(&sb, "carol", "ui-1").await;
    let mut two = Agent::connect_as_client(&sb, "carol", "ui-2").await;
    sb.text(&customer, "hi").await;
    for a in [&mut one, &mut two] {
        a.until(WAIT, "the conversation", |a| a.assigned.contains(&customer))
            .await;
    }
    // A reply from one client: acked there, and a message on both.
    two.send(&ClientFrame::Reply {
        conversation: customer.clone(),
        client_id: "r-two".into(),
        body: "hello from two".into(),
        media: Vec::new(),
    })
    .await;
    two.until_frame(
        WAIT,
        "the ack",
        |f| matches!(f, ServerFrame::Ack { client_id, seq: 2, .. } if client_id == "r-two"),
    )
    .await;
    for a in [&mut one, &mut two] {
        a.until(WAIT, "the reply", |a| a.bodies(&customer).len() == 2)
            .await;
    }
    // Client ui-1 connects again (its old socket not closed): the old one is
    // superseded, ui-2's is not; the new one gets the conversation.
    let mut one_again = Agent::connect_as_client(&sb, "carol", "ui-1").await;
    one.until_frame(WAIT, "superseded", |f| {
        matches!(
            f,
            ServerFrame::Error {
                code: ErrorCode::Superseded,
                fatal: true,
                ..
            }
        )
    })
    .await;
    one_again
        .until(WAIT, "the conversation", |a| a.bodies(&customer).len() == 2)
        .await;
    sb.barrier(&mut two, &customer).await;
    one_again
        .until(WAIT, "the barrier", |a| a.bodies(&customer).len() == 3)
        .await;
    assert!(two.errors().is_empty(), "{:?}", two.errors());
    assert!(!one
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::Ack { .. })));
    for a in [&two, &one_again] {
        let seqs: Vec<u64> = a.messages[&customer].iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3], "{}", a.name);
    }

    // A `hello.client` that is empty (or over 128 characters) is refused,
    // and the socket waits for a valid hello.
    let mut socket = open_socket(&sb, "carol").await.expect("agent connects");
    for client in ["".to_string(), "x".repeat(129)] {
        let hello = ClientFrame::Hello {
            resume: BTreeMap::new(),
            available: None,
            capacity: None,
            client: Some(client),
        };
        switchboard_protocol::client::send(&mut socket, &hello)
            .await
            .expect("hello");
        let answer = next_server_frame(&mut socket).await;
        assert!(
            matches!(
                &answer,
                ServerFrame::Error {
                    code: ErrorCode::BadFrame,
                    fatal: false,
                    message,
                    ..
                } if message.contains("hello.client")
            ),
            "{answer:?}"
        );
    }
    let hello = ClientFrame::Hello {
        resume: BTreeMap::new(),
        available: None,
        capacity: None,
        client: Some("ui-3".into()),
    };
    switchboard_protocol::client::send(&mut socket, &hello)
        .await
        .expect("hello");
    let answer = next_server_frame(&mut socket).await;
    assert!(matches!(answer, ServerFrame::Welcome { .. }), "{answer:?}");
}

/// The next protocol frame on a raw agent socket (panics after `WAIT`).
async fn next_server_frame(socket: &mut switchboard_protocol::client::Socket) -> ServerFrame {
    use futures_util::StreamExt;
    use switchboard_protocol::client::Incoming;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("readable");
        if let Incoming::Frame(frame) = switchboard_protocol::client::read(&next) {
            return frame;
        }
    }
}

/// Bound for the take tests' waits (generous: they run on DynamoDB too).
const TAKE_WAIT: Duration = Duration::from_secs(30);

/// The latest `queue` frame's (length, [(conversation, preview)]).
fn latest_queue(agent: &Agent) -> Option<(usize, Vec<(String, String)>)> {
    agent.frames.iter().rev().find_map(|f| match f {
        ServerFrame::Queue { length, entries } => Some((
            *length,
            entries
                .iter()
                .map(|e| (e.conversation.clone(), e.preview.clone()))
                .collect(),
        )),
        _ => None,
    })
}

#[tokio::test]
async fn an_agent_takes_a_waiting_customer_and_every_queue_view_loses_it() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    // Both away: nobody gets anything automatically.
    let mut alice = Agent::connect(&sb, "alice", BTreeMap::new(), Some(false), Some(1)).await;
    let mut bob = Agent::connect(&sb, "bob", BTreeMap::new(), Some(false), Some(1)).await;
    sb.text(&number(60), "first in line").await;
    sb.text(&number(61), "Where is my order??").await;
    sb.text(&number(61), "still nothing").await;
    let both = |a: &Agent| {
        latest_queue(a).is_some_and(|(length, entries)| {
            length == 2
                && entries
                    == [
                        (number(60), "first in line".to_string()),
                        (number(61), "Where is my order??".to_string()),
                    ]
        })
    };
    bob.until(
        TAKE_WAIT,
        "both customers listed with their first message",
        |a| {
            both(a)
                && matches!(a.frames.iter().rev().find_map(|f| match f {
            ServerFrame::Queue { entries, .. } => entries.get(1).cloned(),
            _ => None,
        }), Some(e) if e.recent == ["Where is my order??", "still nothing"])
        },
    )
    .await;
    alice.until(TAKE_WAIT, "both customers listed", both).await;
    // Alice takes the second in line, while away: it is hers.
    alice
        .send(&ClientFrame::Take {
            conversation: number(61),
        })
        .await;
    alice
        .until(TAKE_WAIT, "the taken conversation", |a| {
            a.assigned.contains(&number(61))
        })
        .await;
    assert_eq!(
        alice.bodies(&number(61)),
        ["Where is my order??", "still nothing"]
    );
    bob.until(TAKE_WAIT, "a queue without it", |a| {
        latest_queue(a) == Some((1, vec![(number(60), "first in line".to_string())]))
    })
    .await;
    // Too late for bob: refused, and it stays alice's.
    bob.send(&ClientFrame::Take {
        conversation: number(61),
    })
    .await;
    bob.until(TAKE_WAIT, "the refusal", |a| {
        a.frames.iter().any(|f| {
            matches!(f, ServerFrame::Error { code: ErrorCode::NotQueued, conversation: Some(c), .. } if *c == number(61))
        })
    })
    .await;
    // The barrier: bob takes the other one, and was never given alice's.
    bob.send(&ClientFrame::Take {
        conversation: number(60),
    })
    .await;
    bob.until(TAKE_WAIT, "the other customer", |a| {
        a.assigned.contains(&number(60))
    })
    .await;
    assert!(!bob.assigned.contains(&number(61)));
    sb.text(&number(61), "hello?").await;
    alice
        .until(TAKE_WAIT, "the customer's next text", |a| {
            a.bodies(&number(61)).len() == 3
        })
        .await;
}

#[tokio::test]
async fn only_a_supervisor_is_given_the_overview() {
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("SUPERVISORS".into(), "carol".into())],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent_with("alice", 1).await;
    let mut carol = Agent::connect(&sb, "carol", BTreeMap::new(), Some(false), Some(1)).await;
    assert!(carol.frames.iter().any(|f| matches!(
        f,
        ServerFrame::Welcome {
            supervisor: true,
            ..
        }
    )));
    assert!(alice.frames.iter().any(|f| matches!(
        f,
        ServerFrame::Welcome {
            supervisor: false,
            ..
        }
    )));
    alice.send(&ClientFrame::Supervise).await;
    alice
        .until(TAKE_WAIT, "the refusal", |a| {
            a.frames.iter().any(|f| {
                matches!(
                    f,
                    ServerFrame::Error {
                        code: ErrorCode::NotSupervisor,
                        ..
                    }
                )
            })
        })
        .await;
    carol.send(&ClientFrame::Supervise).await;
    sb.text(&number(70), "hi").await;
    sb.text(&number(71), "anyone?").await;
    carol
        .until(TAKE_WAIT, "alice holding one, one waiting", |a| {
            a.frames
                .iter()
                .rev()
                .find_map(|f| match f {
                    ServerFrame::Overview {
                        conversations,
                        agents,
                    } => Some((conversations.clone(), agents.clone())),
                    _ => None,
                })
                .is_some_and(|(conversations, agents)| {
                    let holders: Vec<(String, Option<String>)> = conversations
                        .into_iter()
                        .map(|o| (o.conversation, o.agent))
                        .collect();
                    holders == [(number(70), Some("alice".to_string())), (number(71), None)]
                        && agents.iter().any(|l| {
                            l.name == "alice" && l.online && l.load == 1 && l.capacity == 1
                        })
                })
        })
        .await;
    // Alice, refused, never got one.
    sb.barrier(&mut alice, &number(70)).await;
    assert!(!alice
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::Overview { .. })));
}

#[tokio::test]
async fn a_supervisor_reads_a_conversation_another_agent_holds_live() {
    let sb = Switchboard::start_in_process(Options {
        extra_env: vec![("SUPERVISORS".into(), "carol".into())],
        ..Options::default()
    })
    .await;
    let mut alice = sb.agent_with("alice", 1).await;
    let mut carol = Agent::connect(&sb, "carol", BTreeMap::new(), Some(false), Some(1)).await;
    let mut bob = Agent::connect(&sb, "bob", BTreeMap::new(), Some(false), Some(1)).await;
    let customer = number(80);
    sb.text(&customer, "my parcel is lost").await;
    alice
        .until(TAKE_WAIT, "the customer", |a| {
            a.assigned.contains(&customer)
        })
        .await;
    alice
        .send(&ClientFrame::Reply {
            conversation: customer.clone(),
            client_id: "r1".into(),
            body: "Let me look.".into(),
            media: Vec::new(),
        })
        .await;
    alice
        .send(&ClientFrame::Note {
            conversation: customer.clone(),
            client_id: "n1".into(),
            body: "courier says Tuesday".into(),
        })
        .await;
    alice
        .until(TAKE_WAIT, "reply and note stored", |a| {
            a.timeline(&customer).len() == 3
        })
        .await;

    // Not a supervisor: refused, and shown nothing.
    bob.send(&ClientFrame::Watch {
        conversation: customer.clone(),
    })
    .await;
    bob.until(TAKE_WAIT, "the refusal", |a| {
        a.frames.iter().any(|f| {
            matches!(f, ServerFrame::Error { code: ErrorCode::NotSupervisor, conversation: Some(c), .. } if *c == customer)
        })
    })
    .await;

    // The supervisor reads all of it: texts, the reply and the private note.
    carol
        .send(&ClientFrame::Watch {
            conversation: customer.clone(),
        })
        .await;
    carol
        .until(TAKE_WAIT, "the conversation so far", |a| {
            a.frames.iter().any(|f| {
                matches!(f, ServerFrame::Watching { conversation, holder: Some(h), .. }
                    if conversation.id == customer && h == "alice")
            })
        })
        .await;
    assert_eq!(
        carol.timeline(&customer),
        [
            "my parcel is lost",
            "Let me look.",
            "note by alice: courier says Tuesday"
        ]
    );
    assert_eq!(
        carol.messages[&customer][2].direction,
        Direction::Note,
        "the note is shown as a note"
    );
    // Live: the customer's next text reaches both, and it is still alice's.
    sb.text(&customer, "any news?").await;
    carol
        .until(TAKE_WAIT, "the next text, live", |a| {
            a.bodies(&customer).last().map(String::as_str) == Some("any news?")
        })
        .await;
    alice
        .send(&ClientFrame::Reply {
            conversation: customer.clone(),
            client_id: "r2".into(),
            body: "Tuesday, sorry!".into(),
            media: Vec::new(),
        })
        .await;
    carol
        .until(TAKE_WAIT, "alice's reply, live", |a| {
            a.bodies(&customer).last().map(String::as_str) == Some("Tuesday, sorry!")
        })
        .await;
    let seqs: Vec<u64> = carol.messages[&customer].iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=5).collect::<Vec<_>>(),
        "each message once, in order"
    );
    assert!(
        !carol.assigned.contains(&customer),
        "reading is not holding"
    );

    // Resolved: the watch ends.
    alice
        .send(&ClientFrame::Resolve {
            conversation: customer.clone(),
        })
        .await;
    carol
        .until(TAKE_WAIT, "the end of the watch", |a| {
            a.frames.iter().any(|f| {
                matches!(f, ServerFrame::WatchEnded { conversation } if *conversation == customer)
            })
        })
        .await;
    // A conversation that is not open is refused.
    carol
        .send(&ClientFrame::Watch {
            conversation: customer.clone(),
        })
        .await;
    carol
        .until(TAKE_WAIT, "not open", |a| {
            a.frames.iter().any(|f| {
                matches!(f, ServerFrame::Error { code: ErrorCode::NotOpen, conversation: Some(c), .. } if *c == customer)
            })
        })
        .await;
    // Bob, refused, never got a `watching` (barrier: his own customer's
    // text; alice steps away so the customer waits for bob to take them).
    alice
        .send(&ClientFrame::Availability {
            available: false,
            capacity: 1,
        })
        .await;
    alice
        .until(TAKE_WAIT, "away confirmed", |a| {
            a.frames.iter().any(|f| matches!(f, ServerFrame::Presence { agents } if agents.iter().any(|p| p.name == "alice" && !p.available)))
        })
        .await;
    let mine = number(81);
    sb.text(&mine, "hello").await;
    bob.until(TAKE_WAIT, "his customer waiting", |a| {
        latest_queue(a).is_some_and(|(_, entries)| entries.iter().any(|(c, _)| *c == mine))
    })
    .await;
    bob.send(&ClientFrame::Take {
        conversation: mine.clone(),
    })
    .await;
    bob.until(TAKE_WAIT, "his own customer", |a| {
        a.assigned.contains(&mine)
    })
    .await;
    sb.barrier(&mut bob, &mine).await;
    assert!(!bob
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::Watching { .. })));
    assert!(bob.bodies(&customer).is_empty());
}

#[tokio::test]
async fn more_than_fifty_waiting_are_all_listed_and_taken_with_a_wider_window() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut alice = Agent::connect(&sb, "alice", BTreeMap::new(), Some(false), Some(1)).await;
    let waiting = QUEUE_LIST_LIMIT + 10;
    for i in 0..waiting {
        sb.text(&number(100 + i), &format!("customer {i}")).await;
    }
    let listed = |a: &Agent| latest_queue(a).map(|(length, entries)| (length, entries.len()));
    alice
        .until(TAKE_WAIT, "the first 50 of 60 listed", |a| {
            listed(a) == Some((waiting, QUEUE_LIST_LIMIT))
        })
        .await;
    alice.send(&ClientFrame::QueueWindow { limit: 100 }).await;
    alice
        .until(TAKE_WAIT, "all 60 listed", |a| {
            listed(a) == Some((waiting, waiting))
        })
        .await;
    let (_, entries) = latest_queue(&alice).expect("a queue frame");
    let last = number(100 + waiting - 1);
    assert_eq!(entries.last().map(|e| e.0.clone()), Some(last.clone()));
    assert_eq!(
        entries.last().map(|e| e.1.clone()),
        Some(format!("customer {}", waiting - 1))
    );
    // The one waiting shortest, beyond the first 50, can be taken.
    alice
        .send(&ClientFrame::Take {
            conversation: last.clone(),
        })
        .await;
    alice
        .until(TAKE_WAIT, "the last customer taken", |a| {
            a.assigned.contains(&last) && listed(a) == Some((waiting - 1, waiting - 1))
        })
        .await;
}
