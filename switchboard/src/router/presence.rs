//! Sessions coming and going: `hello` (welcome, resume), disconnects and the
//! grace period that keeps a disconnected agent's conversations for a
//! while, and the `presence` and `queue` announcements — sent only when
//! what they say changed (and `presence` once to each new session).

use super::agents::{self, Session};
use super::conn::{ConnId, Outgoing};
use super::event::Effect;
use super::machine::Core;
use crate::store::AgentSettings;
use std::collections::{BTreeMap, HashMap};
use switchboard_protocol::{ConversationId, ErrorCode, Seq, ServerFrame, UnassignReason};

impl Core {
    pub(super) fn connect(
        &mut self,
        name: &str,
        conn: ConnId,
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    ) {
        let queue_length = self.queue.len();
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        if let Some(old) = agent.session.take() {
            self.effects.push(Effect::Close {
                conn: old.conn,
                frame: ServerFrame::Error {
                    code: ErrorCode::Superseded,
                    message: "this agent signed in on another connection".into(),
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
        if declared != agent.settings {
            agent.settings = declared;
            self.effects.push(Effect::SaveAgent {
                agent: name.to_string(),
                available: declared.available,
                capacity: declared.capacity,
            });
        }
        agent.generation += 1;
        agent.session = Some(Session {
            conn,
            delivered: HashMap::new(),
            needs_presence: true,
        });
        let held: Vec<ConversationId> = agent.conversations.iter().cloned().collect();
        self.frame(
            name,
            ServerFrame::Welcome {
                agent: name.to_string(),
                available: declared.available,
                capacity: declared.capacity,
                queue_length,
            },
        );
        for conversation in &held {
            match resume.get(conversation) {
                Some(&seen) => self.resume(name, conversation, seen),
                None => self.send_assigned(name, conversation, 0),
            }
        }
        for conversation in resume.keys().filter(|c| !held.contains(c)) {
            self.frame(
                name,
                ServerFrame::Unassigned {
                    conversation: conversation.clone(),
                    reason: UnassignReason::Requeued,
                },
            );
        }
        tracing::info!(agent = name, held = held.len(), "agent connected");
        self.announce_presence();
        self.drain();
    }

    /// A connection ended; only the agent's current one counts.
    pub(super) fn disconnect(&mut self, name: &str, conn: ConnId) {
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        if agent.session.as_ref().map(|s| s.conn) != Some(conn) {
            return;
        }
        agent.session = None;
        agent.generation += 1;
        let held = agent.conversations.len();
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
        if agent.session.is_some() || agent.generation != generation {
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
            if let Some(session) = agent.session.as_mut() {
                if changed || session.needs_presence {
                    session.needs_presence = false;
                    to.push(name.clone());
                }
            }
        }
        for name in to {
            self.send(
                &name,
                Outgoing::Frame(ServerFrame::Presence {
                    agents: list.clone(),
                }),
            );
        }
        self.announced_presence = list;
    }

    /// Sends `queue` to every session when the queue's length changed.
    pub(super) fn announce_queue(&mut self) {
        let length = self.queue.len();
        if length == self.announced_queue {
            return;
        }
        self.announced_queue = length;
        let online: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.session.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for name in online {
            self.frame(&name, ServerFrame::Queue { length });
        }
    }
}
