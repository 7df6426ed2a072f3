//! How many routing decisions one router makes per second: [`Core::step`]
//! alone (no store, no sockets), fed a realistic mix of events by a loop
//! that answers claims at once, as the driver does when the store is quick.
//!
//! A measurement, not a check (`#[ignore]`d): `scripts/bench-cluster.sh`
//! runs it in release with `--ignored --nocapture` and reads the printed
//! line. In a cluster every decision is made by the one leader, so this is
//! the ceiling of the whole deployment's routing rate, however many
//! switchboards take webhooks.

use crate::router::event::{ClaimOutcome, Effect, Event};
use crate::router::machine::Core;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_protocol::Direction;

/// Conversations each agent takes at once.
const CAPACITY: u32 = 5;
/// Mixed operations per run (each one or two events, plus claim answers).
const OPERATIONS: usize = 300_000;

/// A small deterministic generator (xorshift64): the same mix every run,
/// and no dependency for it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What one run measured.
struct Rate {
    /// `Core::step` calls, claim answers included.
    decisions: u64,
    elapsed: Duration,
}

/// One step, and the answer to each claim it asked for (won), counted in
/// `decisions`.
fn step(core: &mut Core, event: Event, now: u64, decisions: &mut u64) {
    let mut pending = vec![event];
    while let Some(event) = pending.pop() {
        *decisions += 1;
        for effect in core.step(event, now) {
            if let Effect::Claim(claim) = effect {
                pending.push(Event::Claimed {
                    conversation: claim.conversation,
                    agent: claim.agent,
                    previous: claim.previous,
                    outcome: ClaimOutcome::Won,
                });
            }
        }
    }
}

/// The router with `agents` agents connected, fed [`OPERATIONS`] operations:
/// of each ten, one new conversation (an inbound text from a new number,
/// then its claim's answer), six texts to open conversations, two replies
/// (the agent's `reply`, then the stored reply coming back from the change
/// feed) and one resolve. New and resolved balance, so about
/// `agents × CAPACITY × 0.8` conversations stay open, nearly all assigned.
fn run(agents: usize) -> Rate {
    let names: Vec<String> = (0..agents).map(|i| format!("agent-{i:03}")).collect();
    let (mut core, _) = Core::recover(&names, &HashMap::new(), Vec::new(), 0);
    let mut now = 1_000;
    for (i, name) in names.iter().enumerate() {
        core.step(
            Event::Connected {
                agent: name.clone(),
                conn: i as u64 + 1,
                client: String::new(),
                resume: Default::default(),
                available: Some(true),
                capacity: Some(CAPACITY),
            },
            now,
        );
    }
    let conn_of: HashMap<String, u64> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u64 + 1))
        .collect();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Open conversations and their newest seq.
    let mut open: Vec<String> = Vec::new();
    let mut heads: HashMap<String, u64> = HashMap::new();
    let mut next_number = 0u64;
    let mut decisions = 0u64;
    let steady = agents * CAPACITY as usize * 4 / 5;

    let started = Instant::now();
    for op in 0..OPERATIONS {
        now += 1;
        // Fill up to the steady state first; then the mix.
        let kind = if open.len() < steady { 0 } else { op % 10 };
        let pick = if open.is_empty() {
            None
        } else {
            Some(open[rng.below(open.len())].clone())
        };
        let holder = pick
            .as_ref()
            .and_then(|c| core.holder(c).map(str::to_string));
        match (kind, pick, holder) {
            (7 | 8, Some(conversation), Some(agent)) => {
                let conn = conn_of[&agent];
                step(
                    &mut core,
                    Event::Reply {
                        note: false,
                        agent,
                        conn,
                        conversation: conversation.clone(),
                        client_id: format!("r{op}"),
                        body: "Thanks, looking into it".into(),
                        media: Vec::new(),
                    },
                    now,
                    &mut decisions,
                );
                let seq = heads.entry(conversation.clone()).or_default();
                *seq += 1;
                let event = Event::Message {
                    conversation,
                    seq: *seq,
                    direction: Direction::Outbound,
                };
                step(&mut core, event, now, &mut decisions);
            }
            (9, Some(conversation), Some(agent)) => {
                let conn = conn_of[&agent];
                open.retain(|c| *c != conversation);
                heads.remove(&conversation);
                let event = Event::Resolve {
                    agent,
                    conn,
                    conversation,
                };
                step(&mut core, event, now, &mut decisions);
            }
            (1..=9, Some(conversation), _) => {
                let seq = heads.entry(conversation.clone()).or_default();
                *seq += 1;
                let event = Event::Message {
                    conversation,
                    seq: *seq,
                    direction: Direction::Inbound,
                };
                step(&mut core, event, now, &mut decisions);
            }
            _ => {
                next_number += 1;
                let conversation = format!("+1555{next_number:07}");
                open.push(conversation.clone());
                heads.insert(conversation.clone(), 1);
                let event = Event::Message {
                    conversation,
                    seq: 1,
                    direction: Direction::Inbound,
                };
                step(&mut core, event, now, &mut decisions);
            }
        }
    }
    let elapsed = started.elapsed();
    // The mix did route: the state is sound and conversations are held.
    core.check_invariants();
    let held = open.iter().filter(|c| core.holder(c).is_some()).count();
    assert!(held > 0, "no conversation was assigned");
    Rate { decisions, elapsed }
}

#[test]
#[ignore = "a measurement: scripts/bench-cluster.sh runs it in release"]
fn router_decisions_per_second() {
    for agents in [10, 100] {
        let Rate { decisions, elapsed } = run(agents);
        let secs = elapsed.as_secs_f64();
        println!(
            "router decisions: agents={agents} decisions={decisions} per_sec={:.0} us_per_decision={:.2}",
            decisions as f64 / secs,
            secs * 1e6 / decisions as f64
        );
    }
}
