//! A supervisor reading a conversation they do not hold (`watch`): the
//! whole conversation now (`watching`), then whatever happens in it —
//! messages, notes, timeline events, statuses, opt-out changes — live, until
//! `unwatch`, another `watch`, or the conversation is resolved
//! (`watch_ended`).
//!
//! Watching is reading only: it changes no route, no load and nothing any
//! agent is shown. A supervisor who wants to act on a waiting conversation
//! takes it (`take`, as anyone); one held by another agent stays theirs —
//! its holder transfers it (the supervisor sees the holder and can ask).
//! Each session watches at most one conversation and keeps its own
//! delivery cursor for it ([`Watching::delivered`]), so every seq reaches
//! it once, in order, like a held conversation's. A conversation the
//! supervisor holds (or comes to hold: a `take`) is shown as theirs, so the
//! watch ends there.

use super::agents::Watching;
use super::conn::{ConnId, Outgoing};
use super::event::Effect;
use super::machine::Core;
use switchboard_protocol::{ConversationId, ErrorCode, ServerFrame};

impl Core {
    /// `watch` (`Some`) or `unwatch` (`None`) from session `conn`.
    pub(super) fn watch(
        &mut self,
        agent: &str,
        conn: ConnId,
        conversation: Option<ConversationId>,
    ) {
        let refuse =
            |code, message: String, conversation: Option<ConversationId>| ServerFrame::Error {
                code,
                message,
                client_id: None,
                conversation,
                fatal: false,
            };
        if !self.supervisors.contains(agent) {
            let frame = refuse(
                ErrorCode::NotSupervisor,
                format!("{agent} is not a supervisor"),
                conversation,
            );
            self.frame_to(agent, conn, frame);
            return;
        }
        let Some(conversation) = conversation else {
            if let Some(session) = self.session_mut(agent, conn) {
                session.watching = None;
            }
            return;
        };
        let problem = if !self.live.contains_key(&conversation) {
            Some(format!(
                "{conversation} is not open; read it in the history"
            ))
        } else if self.holder(&conversation) == Some(agent) {
            Some(format!("{conversation} is yours"))
        } else {
            None
        };
        if let Some(message) = problem {
            let frame = refuse(ErrorCode::NotOpen, message, Some(conversation));
            self.frame_to(agent, conn, frame);
            return;
        }
        let head = self.head(&conversation);
        let holder = self.holder(&conversation).map(str::to_string);
        let Some(session) = self.session_mut(agent, conn) else {
            return;
        };
        session.watching = Some(Watching {
            conversation: conversation.clone(),
            delivered: head,
        });
        self.effects.push(Effect::Send {
            agent: agent.to_string(),
            conn,
            out: Outgoing::Watching {
                conversation,
                holder,
                upto: head,
            },
        });
    }

    /// Sends each session watching `conversation` the messages after what
    /// it was sent, up to the head.
    pub(super) fn deliver_watchers(&mut self, conversation: &str) {
        let head = self.head(conversation);
        let mut sends = Vec::new();
        for (name, agent) in &mut self.agents {
            for (conn, session) in &mut agent.sessions {
                let Some(w) = session.watching.as_mut() else {
                    continue;
                };
                if w.conversation == conversation && head > w.delivered {
                    sends.push((name.clone(), *conn, w.delivered));
                    w.delivered = head;
                }
            }
        }
        for (agent, conn, after) in sends {
            self.effects.push(Effect::Send {
                agent,
                conn,
                out: Outgoing::Range {
                    conversation: conversation.to_string(),
                    after,
                    upto: head,
                },
            });
        }
    }

    /// Sends `out` to each session watching `conversation` that was sent
    /// message `upto` (a status) or anything at all (`upto` = 0).
    pub(super) fn tell_watchers(&mut self, conversation: &str, upto: u64, out: &Outgoing) {
        for (agent, conn) in self.watchers(conversation, upto) {
            self.send_to(&agent, conn, out.clone());
        }
    }

    /// The conversation is no longer open: every watch of it ends, with
    /// `watch_ended`.
    pub(super) fn end_watches(&mut self, conversation: &str) {
        for (agent, conn) in self.watchers(conversation, 0) {
            if let Some(session) = self.session_mut(&agent, conn) {
                session.watching = None;
            }
            self.frame_to(
                &agent,
                conn,
                ServerFrame::WatchEnded {
                    conversation: conversation.to_string(),
                },
            );
        }
    }

    /// `agent` now holds `conversation`: their sessions stop watching it
    /// (the `assigned` frame shows it as theirs).
    pub(super) fn stop_watching_held(&mut self, agent: &str, conversation: &str) {
        if let Some(a) = self.agents.get_mut(agent) {
            for session in a.sessions.values_mut() {
                if session
                    .watching
                    .as_ref()
                    .is_some_and(|w| w.conversation == conversation)
                {
                    session.watching = None;
                }
            }
        }
    }

    /// Sessions watching `conversation` that were sent at least seq `upto`.
    fn watchers(&self, conversation: &str, upto: u64) -> Vec<(String, ConnId)> {
        self.agents
            .iter()
            .flat_map(|(name, a)| {
                a.sessions.iter().filter_map(move |(conn, s)| {
                    s.watching
                        .as_ref()
                        .filter(|w| w.conversation == conversation && w.delivered >= upto)
                        .map(|_| (name.clone(), *conn))
                })
            })
            .collect()
    }

    fn session_mut(&mut self, agent: &str, conn: ConnId) -> Option<&mut super::agents::Session> {
        self.agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
    }
}
