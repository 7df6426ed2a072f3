//! The routing state machine: [`Core::step`] turns one [`Event`] into the
//! [`Effect`]s the driver must perform, with no I/O and no clock of its own
//! (the time comes with the event), so every decision is unit-testable.
//!
//! The behaviour is split by concern: [`super::feed`] (new messages,
//! statuses, opt-outs), [`super::commands`] (reply, resolve, transfer,
//! availability), [`super::queue`] (FIFO queue, picking and claiming),
//! [`super::delivery`] (what each session is sent), [`super::presence`]
//! (sessions, grace periods, `presence` and `queue` announcements),
//! [`super::take`] (an agent taking a queued conversation),
//! [`super::overview`] (the supervisors' live view).
//!
//! Invariants (checked by [`Core::check_invariants`] in the tests):
//! * `live` holds exactly the queued and assigned conversations;
//! * a conversation is in `queue` (once) iff its live route is `Queued`;
//! * a conversation is in an agent's `conversations` iff its live route is
//!   `Assigned` to that agent;
//! * a session has delivery state only for conversations its agent holds, and
//!   never past a conversation's head;
//! * an agent has at most one session per client;
//! * a conversation is in `claiming` only while assigned, and none of its
//!   holder's sessions has delivery state for it (nobody is told before the claim
//!   is durable).
//!
//! Route writes that fail are not silently forgotten: a conversation whose
//! claim or resolve may still be recorded under an agent keeps that agent's
//! name (`released_by`, a claim's `previous`), so the store accepts the next
//! write; a failed claim is retried after a backoff ([`Effect::RetryDrain`]).

use super::agents::Agent;
use super::conn::Outgoing;
use super::event::{Effect, Event};
use crate::conversation::notice::NoticeSettings;
use crate::store::{AgentSettings, RouteRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use switchboard_protocol::{AgentPresence, ConversationId, Seq, ServerFrame};

/// A conversation that is queued or assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Newest seq the router has seen: what agents may be shown (the feed
    /// only carries durable messages).
    pub head: Seq,
    /// `Queued` or `Assigned`, never `Resolved`.
    pub route: RouteRecord,
}

/// Everything the router knows; see the module docs.
#[derive(Debug)]
pub struct Core {
    /// Every configured agent, by name (sorted: deterministic ties).
    pub(super) agents: BTreeMap<String, Agent>,
    /// Queued and assigned conversations.
    pub(super) live: HashMap<ConversationId, Live>,
    /// Queued conversations, the longest waiting first.
    pub(super) queue: VecDeque<ConversationId>,
    /// Assigned conversations whose claim the store has not confirmed yet
    /// (the driver writes claims in the background): their holder is told
    /// once it has ([`Event::Claimed`]).
    pub(super) claiming: HashSet<ConversationId>,
    /// Resolved conversations and the seq they were resolved at.
    pub(super) resolved: HashMap<ConversationId, Seq>,
    /// Resolved conversations whose resolve was not recorded, with the
    /// agent the store may still name as holder: reopening one is written
    /// in that agent's name, or the store would refuse it.
    pub(super) unsaved_resolves: HashMap<ConversationId, String>,
    /// Queued conversations whose last claim (a transfer) failed without an
    /// answer: the store names either the claimant (the queued route's
    /// `released_by`) or the agent here, who held it before. Only a claim by
    /// one of the two naming the other is sure to be accepted, so the next
    /// one goes back to this agent if it can take it.
    pub(super) hand_back: HashMap<ConversationId, String>,
    /// Assignments made so far (orders agents for round-robin ties).
    pub(super) assignments: u64,
    /// The queue agents were last told (`queue`: length and listed entries).
    pub(super) announced_queue: Outgoing,
    /// Agents who may ask for the `overview` (`SUPERVISORS`).
    pub(super) supervisors: BTreeSet<String>,
    /// The overview supervising sessions were last told (`None`: nobody
    /// asked yet, or nobody supervises any more).
    pub(super) announced_overview: Option<ServerFrame>,
    /// The presence list agents were last told.
    pub(super) announced_presence: Vec<AgentPresence>,
    /// Which automatic texts to waiting customers are on (`notices.rs`).
    pub(super) notices: NoticeSettings,
    /// Queued conversations that got their place by text and no update
    /// yet, with the waiting period (`since_ms`) it was for.
    pub(super) noticed: HashMap<ConversationId, u64>,
    /// Time of the event being handled.
    pub(super) now_ms: u64,
    /// Effects of the event being handled, in order.
    pub(super) effects: Vec<Effect>,
}

/// A routing record as loaded at start, with its conversation's newest seq.
pub struct Recovered {
    pub conversation: ConversationId,
    pub route: RouteRecord,
    pub head: Seq,
}

impl Core {
    /// Rebuilds the state after a start. Agents are all offline now, so
    /// those holding conversations start their grace period (the returned
    /// effects); a conversation held by an agent no longer configured is
    /// queued.
    pub fn recover(
        agent_names: &[String],
        settings: &HashMap<String, AgentSettings>,
        routes: Vec<Recovered>,
        now_ms: u64,
    ) -> (Core, Vec<Effect>) {
        let mut core = Core {
            agents: agent_names
                .iter()
                .map(|name| {
                    let declared = settings.get(name).copied().unwrap_or_default();
                    (name.clone(), Agent::new(declared))
                })
                .collect(),
            live: HashMap::new(),
            queue: VecDeque::new(),
            claiming: HashSet::new(),
            resolved: HashMap::new(),
            unsaved_resolves: HashMap::new(),
            hand_back: HashMap::new(),
            assignments: 0,
            announced_queue: Outgoing::Queue {
                length: 0,
                entries: Vec::new(),
            },
            supervisors: BTreeSet::new(),
            announced_overview: None,
            announced_presence: Vec::new(),
            notices: NoticeSettings::default(),
            noticed: HashMap::new(),
            now_ms,
            effects: Vec::new(),
        };
        let mut queued = Vec::new();
        for Recovered {
            conversation,
            route,
            head,
        } in routes
        {
            let route = match route {
                RouteRecord::Resolved { upto_seq, .. } => {
                    core.resolved.insert(conversation, upto_seq);
                    continue;
                }
                RouteRecord::Queued { since_ms, .. } => {
                    queued.push((since_ms, conversation.clone()));
                    route
                }
                RouteRecord::Assigned { ref agent, .. } => match core.agents.get_mut(agent) {
                    Some(a) => {
                        a.conversations.insert(conversation.clone());
                        route
                    }
                    // The agent was removed from the configuration: hand
                    // it back in its name, which also releases it in a
                    // store that records holders.
                    None => {
                        let route = RouteRecord::Queued {
                            since_ms: now_ms,
                            released_by: Some(agent.clone()),
                        };
                        core.effects.push(Effect::SaveRoute {
                            conversation: conversation.clone(),
                            route: route.clone(),
                        });
                        queued.push((now_ms, conversation.clone()));
                        route
                    }
                },
            };
            core.live.insert(conversation, Live { head, route });
        }
        queued.sort();
        core.queue = queued.into_iter().map(|(_, c)| c).collect();
        core.announced_queue = core.queue_list(switchboard_protocol::QUEUE_LIST_LIMIT);
        core.announced_presence = super::agents::presence(&core.agents);
        let holding: Vec<(String, u64)> = core
            .agents
            .iter()
            .filter(|(_, a)| !a.conversations.is_empty())
            .map(|(name, a)| (name.clone(), a.generation))
            .collect();
        for (agent, generation) in holding {
            core.effects.push(Effect::StartGrace { agent, generation });
        }
        let effects = std::mem::take(&mut core.effects);
        (core, effects)
    }

    /// Handles one event at time `now_ms`; returns what to do, in order.
    pub fn step(&mut self, event: Event, now_ms: u64) -> Vec<Effect> {
        self.now_ms = now_ms;
        let overview_may_change = super::overview::may_change(self, &event);
        match event {
            Event::Connected {
                agent,
                conn,
                client,
                resume,
                available,
                capacity,
            } => self.connect(&agent, conn, client, resume, available, capacity),
            Event::Disconnected { agent, conn } => self.disconnect(&agent, conn),
            Event::Availability {
                agent,
                conn,
                available,
                capacity,
            } => self.availability(&agent, conn, available, capacity),
            Event::Reply {
                agent,
                conn,
                conversation,
                client_id,
                body,
                media,
                note,
            } => self.reply(&agent, conn, conversation, client_id, (body, media), note),
            Event::Resolve {
                agent,
                conn,
                conversation,
            } => self.resolve(&agent, conn, &conversation),
            Event::Transfer {
                agent,
                conn,
                conversation,
                to,
                note,
            } => self.transfer(&agent, conn, &conversation, to, note),
            Event::Take {
                agent,
                conn,
                conversation,
            } => self.take(&agent, conn, &conversation),
            Event::Supervise { agent, conn } => self.supervise(&agent, conn),
            Event::QueueWindow { agent, conn, limit } => self.set_queue_window(&agent, conn, limit),
            Event::Watch {
                agent,
                conn,
                conversation,
            } => self.watch(&agent, conn, conversation),
            Event::Reopen {
                agent,
                conn,
                conversation,
            } => self.reopen(&agent, conn, &conversation),
            Event::GraceExpired { agent, generation } => self.grace_expired(&agent, generation),
            Event::Message {
                conversation,
                seq,
                direction,
            } => self.on_message(conversation, seq, direction),
            Event::Status { conversation, seq } => self.on_status(&conversation, seq),
            Event::OptOut { conversation } => self.on_opt_out(&conversation),
            Event::Claimed {
                conversation,
                agent,
                previous,
                outcome,
            } => self.claimed(&conversation, &agent, previous, outcome),
            Event::ResolveUnsaved {
                conversation,
                agent,
            } => {
                self.unsaved_resolves.insert(conversation, agent);
            }
            Event::RetryDrain => self.drain(),
            Event::NoticeTick => self.notice_tick(),
            Event::HeldElsewhere { conversation } => {
                tracing::info!(conversation, "conversation held elsewhere; leaving it");
                self.forget(&conversation);
            }
        }
        self.announce_presence();
        self.announce_queue();
        if overview_may_change {
            self.announce_overview();
        }
        std::mem::take(&mut self.effects)
    }

    /// Customers queued while nobody can take them, with when each started
    /// waiting (for waiting alerts); empty while some agent has room.
    pub fn waiting(&self) -> Vec<(ConversationId, u64)> {
        if super::agents::pick(&self.agents, None).is_some() {
            return Vec::new();
        }
        self.queue
            .iter()
            .filter_map(|c| match self.live.get(c).map(|l| &l.route) {
                Some(RouteRecord::Queued { since_ms, .. }) => Some((c.clone(), *since_ms)),
                _ => None,
            })
            .collect()
    }

    /// Newest seq seen of a live conversation.
    pub(super) fn head(&self, conversation: &str) -> Seq {
        self.live.get(conversation).map_or(0, |l| l.head)
    }

    /// Who holds a conversation, if it is assigned.
    pub(super) fn holder(&self, conversation: &str) -> Option<&str> {
        match self.live.get(conversation).map(|l| &l.route) {
            Some(RouteRecord::Assigned { agent, .. }) => Some(agent),
            _ => None,
        }
    }

    /// Panics when an invariant from the module docs does not hold.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let queued: BTreeSet<&ConversationId> = self
            .live
            .iter()
            .filter(|(_, l)| matches!(l.route, RouteRecord::Queued { .. }))
            .map(|(c, _)| c)
            .collect();
        let in_queue: BTreeSet<&ConversationId> = self.queue.iter().collect();
        assert_eq!(in_queue.len(), self.queue.len(), "duplicates in the queue");
        assert_eq!(queued, in_queue, "queue and queued routes differ");
        for (c, l) in &self.live {
            match &l.route {
                RouteRecord::Assigned { agent, .. } => assert!(
                    self.agents[agent].conversations.contains(c),
                    "{c} assigned to {agent} but not in its set"
                ),
                RouteRecord::Queued { .. } => {}
                RouteRecord::Resolved { .. } => panic!("{c} live but resolved"),
            }
        }
        for c in &self.claiming {
            let holder = self.holder(c);
            assert!(holder.is_some(), "{c} is being claimed but not assigned");
            let told = holder.is_some_and(|h| {
                self.agents[h]
                    .sessions
                    .values()
                    .any(|s| s.delivered.contains_key(c))
            });
            assert!(!told, "{c} was shown before its claim was confirmed");
        }
        for (name, a) in &self.agents {
            for c in &a.conversations {
                assert_eq!(self.holder(c), Some(name.as_str()), "{c} in {name}'s set");
            }
            let clients: BTreeSet<&String> = a.sessions.values().map(|s| &s.client).collect();
            assert_eq!(
                clients.len(),
                a.sessions.len(),
                "{name} has two sessions of one client"
            );
            for (conn, s) in &a.sessions {
                if let Some(w) = &s.watching {
                    let c = &w.conversation;
                    assert!(self.supervisors.contains(name), "{name} watches {c}");
                    assert!(self.live.contains_key(c), "{name} watches {c}, not open");
                    assert!(!a.conversations.contains(c), "{name} watches {c}, theirs");
                    assert!(
                        w.delivered <= self.head(c),
                        "{name} was sent {c} past its head"
                    );
                }
                for (c, &seq) in &s.delivered {
                    assert!(
                        a.conversations.contains(c),
                        "{name}'s session {conn} has delivery state for {c}"
                    );
                    assert!(
                        seq <= self.head(c),
                        "{name}'s session {conn} was sent {c} past its head"
                    );
                }
            }
        }
    }
}
