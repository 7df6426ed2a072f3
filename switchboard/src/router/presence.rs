//! Sessions coming and going: `hello` (welcome, resume; a new session
//! replaces only its own client's old one), disconnects and the grace period
//! that keeps a disconnected agent's conversations for a while after its
//! last session left, and the `presence` and `queue` announcements — sent
//! to every session, only when what they say changed (and `presence` once
//! to each new session).

use super::agents::{self, Session};
use super::conn::{ConnId, Outgoing, Queued};
use super::event::Effect;
use super::machine::Core;
use crate::store::{AgentSettings, RouteRecord};
use std::collections::{BTreeMap, HashMap};
use switchboard_protocol::{
    ConversationId, ErrorCode, Seq, ServerFrame, UnassignReason, QUEUE_LIST_LIMIT, QUEUE_WINDOW_MAX,
};

impl Core {
    /// A session said `hello`. It replaces the agent's session of the same
    /// client (a reconnect: the old one is told `superseded`); sessions of
    /// other clients carry on beside it.
    pub(super) fn connect(
        &mut self,
        name: &str,
        conn: ConnId,
        client: String,
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    ) {
        let queue_length = self.queue.len();
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        let replaced: Vec<ConnId> = agent
            .sessions
            .iter()
            .filter(|(_, s)| s.client == client)
            .map(|(conn, _)| *conn)
            .collect();
        for old in replaced {
            agent.sessions.remove(&old);
            self.effects.push(Effect::Close {
                conn: old,
                frame: ServerFrame::Error {
                    code: ErrorCode::Superseded,
                    message: "this agent signed in on another connection from the same client"
                        .into(),
                    client_id: None,
                    conversation: None,
                    fatal: true,
                },
            });
        }
        // Omitted settings keep what the agent last declared.
        let declared = AgentSettings {
            available: available.unwrap_or(agent.settings.available),
            capacity: capacity.unwrap_or(agent.settings.capacity),
        };
        let changed = declared != agent.settings;
        if changed {
            agent.settings = declared;
            self.effects.push(Effect::SaveAgent {
                agent: name.to_string(),
                available: declared.available,
                capacity: declared.capacity,
            });
            // The agent's other sessions show the new settings too; this
            // one learns them from its `welcome`.
            self.frame(
                name,
                ServerFrame::Availability {
                    available: declared.available,
                    capacity: declared.capacity,
                },
            );
        }
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        // Cancels a grace period running since the last session left.
        agent.generation += 1;
        let client_id = client.clone();
        agent.sessions.insert(
            conn,
            Session {
                client,
                delivered: HashMap::new(),
                needs_presence: true,
                supervising: false,
                needs_overview: false,
                queue_limit: QUEUE_LIST_LIMIT,
                watching: None,
            },
        );
        let sessions = agent.sessions.len();
        let held: Vec<ConversationId> = agent.conversations.iter().cloned().collect();
        self.frame_to(
            name,
            conn,
            ServerFrame::Welcome {
                agent: name.to_string(),
                available: declared.available,
                capacity: declared.capacity,
                queue_length,
                supervisor: self.supervisors.contains(name),
            },
        );
        // The new session has no list of the queue yet; the others have
        // the current one.
        if queue_length > 0 {
            let out = self.queue_list(QUEUE_LIST_LIMIT);
            self.send_to(name, conn, out);
        }
        for conversation in &held {
            match resume.get(conversation) {
                Some(&seen) => self.resume(name, conn, conversation, seen),
                None => self.send_assigned(name, conn, conversation),
            }
        }
        for conversation in resume.keys().filter(|c| !held.contains(c)) {
            self.frame_to(
                name,
                conn,
                ServerFrame::Unassigned {
                    conversation: conversation.clone(),
                    reason: UnassignReason::Requeued,
                },
            );
        }
        tracing::info!(
            agent = name,
            client = client_id,
            held = held.len(),
            sessions,
            "agent connected"
        );
        self.announce_presence();
        self.drain();
    }

    /// A connection ended. The agent stays online while another of its
    /// sessions is connected; the grace period starts when the last leaves.
    pub(super) fn disconnect(&mut self, name: &str, conn: ConnId) {
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        if agent.sessions.remove(&conn).is_none() {
            // Already replaced (superseded) or never connected.
            return;
        }
        let held = agent.conversations.len();
        if agent.online() {
            let sessions = agent.sessions.len();
            tracing::info!(agent = name, sessions, "one of the agent's sessions ended");
            return;
        }
        agent.generation += 1;
        tracing::info!(agent = name, held, "agent disconnected");
        if held > 0 {
            self.effects.push(Effect::StartGrace {
                agent: name.to_string(),
                generation: agent.generation,
            });
        }
    }

    /// The grace period of disconnect number `generation` is over: if the
    /// agent has not come back since, its conversations go back to the
    /// front of the queue (in order of their numbers: the agent's set of
    /// conversations keeps no other order).
    pub(super) fn grace_expired(&mut self, name: &str, generation: u64) {
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        if agent.online() || agent.generation != generation {
            return;
        }
        let held: Vec<ConversationId> = std::mem::take(&mut agent.conversations)
            .into_iter()
            .collect();
        tracing::info!(
            agent = name,
            requeued = held.len(),
            "grace period over; requeueing"
        );
        for conversation in held.into_iter().rev() {
            self.enqueue(conversation, Some(name.to_string()), true);
        }
        self.drain();
    }

    /// Sends `presence` to every session when the list changed, and to
    /// sessions that have never had it.
    pub(super) fn announce_presence(&mut self) {
        let list = agents::presence(&self.agents);
        let changed = list != self.announced_presence;
        let mut to = Vec::new();
        for (name, agent) in self.agents.iter_mut() {
            for (conn, session) in agent.sessions.iter_mut() {
                if changed || session.needs_presence {
                    session.needs_presence = false;
                    to.push((name.clone(), *conn));
                }
            }
        }
        for (name, conn) in to {
            self.frame_to(
                &name,
                conn,
                ServerFrame::Presence {
                    agents: list.clone(),
                },
            );
        }
        self.announced_presence = list;
    }

    /// The `queue` work item for the current queue: its length and the
    /// `limit` longest waiting.
    pub(super) fn queue_list(&self, limit: usize) -> Outgoing {
        let entries = self
            .queue
            .iter()
            .take(limit)
            .filter_map(|c| {
                let live = self.live.get(c)?;
                let since_ms = match live.route {
                    RouteRecord::Queued { since_ms, .. } => since_ms,
                    _ => return None,
                };
                Some(Queued {
                    conversation: c.clone(),
                    head: live.head,
                    since_ms,
                })
            })
            .collect();
        Outgoing::Queue {
            length: self.queue.len(),
            entries,
        }
    }

    /// Whether the queue is still what agents were last told: checked
    /// in place, since it runs after every event (no allocation; nothing
    /// at all to compare while nobody waits).
    fn queue_as_announced(&self) -> bool {
        let Outgoing::Queue { length, entries } = &self.announced_queue else {
            return false;
        };
        // The widest window is looked up only while someone waits.
        let window = if self.queue.is_empty() {
            QUEUE_LIST_LIMIT
        } else {
            self.queue_window()
        };
        let listed = self.queue.iter().take(window);
        *length == self.queue.len()
            && entries.len() == listed.len()
            && listed.zip(entries).all(|(c, told)| {
                *c == told.conversation
                    && self.live.get(c).is_some_and(|l| {
                        l.head == told.head
                            && matches!(l.route, RouteRecord::Queued { since_ms, .. } if since_ms == told.since_ms)
                    })
            })
    }

    /// The widest window any session asked for (`queue_window`): what
    /// [`Core::announced_queue`] lists.
    fn queue_window(&self) -> usize {
        self.agents
            .values()
            .flat_map(|a| a.sessions.values())
            .map(|s| s.queue_limit)
            .fold(QUEUE_LIST_LIMIT, usize::max)
    }

    /// Sends `queue` to every session when the queue's length or one of
    /// its listed entries (which, and how far each has got) changed; each
    /// session gets as many entries as its window.
    pub(super) fn announce_queue(&mut self) {
        if self.queue_as_announced() {
            return;
        }
        let out = self.queue_list(self.queue_window());
        self.announced_queue = out.clone();
        let Outgoing::Queue { length, entries } = out else {
            return;
        };
        let sessions: Vec<(String, ConnId, usize)> = self
            .agents
            .iter()
            .flat_map(|(name, a)| {
                a.sessions
                    .iter()
                    .map(move |(conn, s)| (name.clone(), *conn, s.queue_limit))
            })
            .collect();
        for (name, conn, limit) in sessions {
            let listed = entries.iter().take(limit).cloned().collect();
            self.send_to(
                &name,
                conn,
                Outgoing::Queue {
                    length,
                    entries: listed,
                },
            );
        }
    }

    /// `queue_window` from session `conn`: from now on its `queue` frames
    /// list up to `limit` (clamped) waiting conversations; it gets one now.
    pub(super) fn set_queue_window(&mut self, agent: &str, conn: ConnId, limit: usize) {
        let limit = limit.clamp(QUEUE_LIST_LIMIT, QUEUE_WINDOW_MAX);
        let Some(session) = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
        else {
            return;
        };
        session.queue_limit = limit;
        // Every other session's list is a prefix of the wider one, unchanged
        // by this event: only this session needs a frame.
        self.announced_queue = self.queue_list(self.queue_window());
        if self.queue.is_empty() {
            return;
        }
        let out = self.queue_list(limit);
        self.send_to(agent, conn, out);
    }
}
