//! What each session is sent of its conversations: every seq once, in
//! order, with no gap — inside `assigned.history` or as `message` frames.

use super::conn::Outgoing;
use super::event::Effect;
use super::machine::Core;
use crate::store::RouteRecord;
use switchboard_protocol::{Seq, ServerFrame};

impl Core {
    /// Queues work for an agent's session, if it is online.
    pub(super) fn send(&mut self, agent: &str, out: Outgoing) {
        if let Some(session) = self.agents.get(agent).and_then(|a| a.session.as_ref()) {
            self.effects.push(Effect::Send {
                agent: agent.to_string(),
                conn: session.conn,
                out,
            });
        }
    }

    /// Sends a frame to an agent's session, if it is online.
    pub(super) fn frame(&mut self, agent: &str, frame: ServerFrame) {
        self.send(agent, Outgoing::Frame(frame));
    }

    /// Sends an agent whatever of the conversation its session has not
    /// seen, up to the head: `assigned` if it never saw it, else `message`
    /// frames.
    pub(super) fn deliver(&mut self, agent: &str, conversation: &str) {
        if self.claiming.contains(conversation) {
            return;
        }
        let head = self.head(conversation);
        let Some(session) = self.agents.get_mut(agent).and_then(|a| a.session.as_mut()) else {
            return;
        };
        match session.delivered.get(conversation).copied() {
            None => self.send_assigned(agent, conversation, 0),
            Some(after) if head > after => {
                session.delivered.insert(conversation.to_string(), head);
                let (conn, conversation) = (session.conn, conversation.to_string());
                self.effects.push(Effect::Send {
                    agent: agent.to_string(),
                    conn,
                    out: Outgoing::Range {
                        conversation,
                        after,
                        upto: head,
                    },
                });
            }
            Some(_) => {}
        }
    }

    /// Sends `assigned` with the history after `after`, up to the head.
    pub(super) fn send_assigned(&mut self, agent: &str, conversation: &str, after: Seq) {
        if self.claiming.contains(conversation) {
            return;
        }
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
        let Some(session) = self.agents.get_mut(agent).and_then(|a| a.session.as_mut()) else {
            return;
        };
        session.delivered.insert(conversation.to_string(), head);
        let conn = session.conn;
        self.effects.push(Effect::Send {
            agent: agent.to_string(),
            conn,
            out: Outgoing::Assigned {
                conversation: conversation.to_string(),
                after,
                upto: head,
                waiting_since_ms,
            },
        });
    }

    /// What a reconnecting agent missed of a conversation it still holds:
    /// the current status and opt-out state (idempotent to apply), then the
    /// messages after `seen`.
    pub(super) fn resume(&mut self, agent: &str, conversation: &str, seen: Seq) {
        if self.claiming.contains(conversation) {
            return;
        }
        let seen = seen.min(self.head(conversation));
        let Some(session) = self.agents.get_mut(agent).and_then(|a| a.session.as_mut()) else {
            return;
        };
        session.delivered.insert(conversation.to_string(), seen);
        self.send(
            agent,
            Outgoing::Resume {
                conversation: conversation.to_string(),
                seen,
            },
        );
        self.deliver(agent, conversation);
    }
}
