//! What each session is sent of its agent's conversations: every seq once,
//! in order, with no gap — inside `assigned.history` or as `message` frames.
//!
//! An agent may have several sessions (one per client); each keeps its own
//! cursor per conversation, so each is shown everything exactly once,
//! whichever session joined when.

use super::conn::{ConnId, Outgoing};
use super::event::Effect;
use super::machine::Core;
use crate::store::RouteRecord;
use switchboard_protocol::{Seq, ServerFrame};

impl Core {
    /// The connections of an agent's sessions (none when offline).
    pub(super) fn conns_of(&self, agent: &str) -> Vec<ConnId> {
        self.agents
            .get(agent)
            .map(|a| a.sessions.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Queues work for one session of an agent, if it is still connected.
    pub(super) fn send_to(&mut self, agent: &str, conn: ConnId, out: Outgoing) {
        let live = self
            .agents
            .get(agent)
            .is_some_and(|a| a.sessions.contains_key(&conn));
        if live {
            self.effects.push(Effect::Send {
                agent: agent.to_string(),
                conn,
                out,
            });
        }
    }

    /// Queues the same work for every session of an agent.
    pub(super) fn send(&mut self, agent: &str, out: Outgoing) {
        for conn in self.conns_of(agent) {
            self.send_to(agent, conn, out.clone());
        }
    }

    /// Sends a frame to every session of an agent.
    pub(super) fn frame(&mut self, agent: &str, frame: ServerFrame) {
        self.send(agent, Outgoing::Frame(frame));
    }

    /// Sends a frame to one session of an agent (an answer to what it sent).
    pub(super) fn frame_to(&mut self, agent: &str, conn: ConnId, frame: ServerFrame) {
        self.send_to(agent, conn, Outgoing::Frame(frame));
    }

    /// Sends each session of an agent whatever of the conversation it has
    /// not seen, up to the head.
    pub(super) fn deliver(&mut self, agent: &str, conversation: &str) {
        for conn in self.conns_of(agent) {
            self.deliver_to(agent, conn, conversation);
        }
    }

    /// Sends one session whatever of the conversation it has not seen, up to
    /// the head: `assigned` if it never saw it, else `message` frames.
    pub(super) fn deliver_to(&mut self, agent: &str, conn: ConnId, conversation: &str) {
        if self.claiming.contains(conversation) {
            return;
        }
        let head = self.head(conversation);
        let Some(session) = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
        else {
            return;
        };
        match session.delivered.get(conversation).copied() {
            None => self.send_assigned(agent, conn, conversation),
            Some(after) if head > after => {
                session.delivered.insert(conversation.to_string(), head);
                self.effects.push(Effect::Send {
                    agent: agent.to_string(),
                    conn,
                    out: Outgoing::Range {
                        conversation: conversation.to_string(),
                        after,
                        upto: head,
                    },
                });
            }
            Some(_) => {}
        }
    }

    /// Sends one session `assigned` with the whole history, up to the head.
    pub(super) fn send_assigned(&mut self, agent: &str, conn: ConnId, conversation: &str) {
        if self.claiming.contains(conversation) {
            return;
        }
        self.stop_watching_held(agent, conversation);
        let head = self.head(conversation);
        let waiting_since_ms = match self.live.get(conversation).map(|l| &l.route) {
            Some(RouteRecord::Assigned {
                since_ms,
                waiting_since_ms,
                ..
            }) => Some(if *waiting_since_ms == 0 {
                *since_ms
            } else {
                *waiting_since_ms
            }),
            _ => None,
        };
        let Some(session) = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
        else {
            return;
        };
        session.delivered.insert(conversation.to_string(), head);
        self.effects.push(Effect::Send {
            agent: agent.to_string(),
            conn,
            out: Outgoing::Assigned {
                conversation: conversation.to_string(),
                after: 0,
                upto: head,
                waiting_since_ms,
            },
        });
    }

    /// What a reconnecting session missed of a conversation its agent still
    /// holds: the current status and opt-out state (idempotent to apply),
    /// then the messages after `seen`.
    pub(super) fn resume(&mut self, agent: &str, conn: ConnId, conversation: &str, seen: Seq) {
        if self.claiming.contains(conversation) {
            return;
        }
        let seen = seen.min(self.head(conversation));
        let Some(session) = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
        else {
            return;
        };
        session.delivered.insert(conversation.to_string(), seen);
        self.send_to(
            agent,
            conn,
            Outgoing::Resume {
                conversation: conversation.to_string(),
                seen,
            },
        );
        self.deliver_to(agent, conn, conversation);
    }
}
