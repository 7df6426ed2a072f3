//! What agents ask for: availability, reply, note, resolve, transfer. Only the
//! holder of a conversation may act on it — from any of its sessions: the
//! conversations, capacity and settings are the agent's. An answer meant
//! for the asker (`ack`, a refusal) goes to the session that asked; what
//! changes the agent's state (`unassigned`, new settings) to every session.

use super::conn::ConnId;
use super::event::Effect;
use super::machine::Core;
use crate::store::{AgentSettings, EntryKind, Reply};
use switchboard_protocol::{
    ConversationId, ErrorCode, Media, ServerFrame, TimelineEvent, UnassignReason,
};

impl Core {
    /// `availability` from session `conn`. The agent's other sessions are
    /// told (the one that declared it knows).
    pub(super) fn availability(
        &mut self,
        agent: &str,
        conn: ConnId,
        available: bool,
        capacity: u32,
    ) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let declared = AgentSettings {
            available,
            capacity,
        };
        if a.settings != declared {
            a.settings = declared;
            self.effects.push(Effect::SaveAgent {
                agent: agent.to_string(),
                available,
                capacity,
            });
            let others: Vec<ConnId> = a.sessions.keys().filter(|c| **c != conn).copied().collect();
            for other in others {
                self.frame_to(
                    agent,
                    other,
                    ServerFrame::Availability {
                        available,
                        capacity,
                    },
                );
            }
        }
        self.drain();
    }

    /// `reply` (or `note`, when `note`) from session `conn`: stored in the
    /// agent's name and acked to that session; every session of the agent
    /// then sees it in the conversation (from the change feed, like any
    /// message). A note is never sent.
    pub(super) fn reply(
        &mut self,
        agent: &str,
        conn: ConnId,
        conversation: ConversationId,
        client_id: String,
        (body, media): (String, Vec<Media>),
        note: bool,
    ) {
        let connected = self
            .agents
            .get(agent)
            .is_some_and(|a| a.sessions.contains_key(&conn));
        if !connected {
            return;
        }
        if self.holder(&conversation) != Some(agent) {
            self.frame_to(
                agent,
                conn,
                ServerFrame::Error {
                    code: ErrorCode::NotAssigned,
                    message: format!("conversation {conversation} is not assigned to you"),
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                },
            );
            return;
        }
        self.effects.push(Effect::StoreReply {
            conn,
            reply: Reply {
                conversation,
                agent: agent.to_string(),
                client_id,
                body,
                media,
                at_ms: self.now_ms,
                kind: if note {
                    EntryKind::Note
                } else {
                    EntryKind::Sms
                },
            },
        });
    }

    pub(super) fn resolve(&mut self, agent: &str, conn: ConnId, conversation: &str) {
        if !self.check_assigned(agent, conn, conversation) {
            return;
        }
        self.release(agent, conversation, UnassignReason::Resolved);
        let upto_seq = self.head(conversation);
        self.record_event(
            conversation,
            agent,
            TimelineEvent::Resolved {
                by: agent.to_string(),
            },
            None,
        );
        self.effects.push(Effect::Resolved {
            conversation: conversation.to_string(),
            agent: agent.to_string(),
            upto_seq,
            at_ms: self.now_ms,
        });
        self.resolved.insert(conversation.to_string(), upto_seq);
        self.unsaved_resolves.remove(conversation);
        self.live.remove(conversation);
        self.end_watches(conversation);
        tracing::info!(agent, conversation, "conversation resolved");
        self.drain();
    }

    pub(super) fn transfer(
        &mut self,
        agent: &str,
        conn: ConnId,
        conversation: &str,
        to: Option<String>,
        note: Option<String>,
    ) {
        if !self.check_assigned(agent, conn, conversation) {
            return;
        }
        let event = TimelineEvent::Transferred {
            from: agent.to_string(),
            to: to.clone(),
        };
        match to {
            Some(target) => {
                if let Some(message) = self.refuse_transfer(agent, conversation, &target) {
                    self.frame_to(
                        agent,
                        conn,
                        ServerFrame::Error {
                            code: ErrorCode::TransferRejected,
                            message,
                            client_id: None,
                            conversation: Some(conversation.to_string()),
                            fatal: false,
                        },
                    );
                    return;
                }
                self.release(agent, conversation, UnassignReason::Transferred);
                self.record_event(conversation, agent, event, note);
                self.assign(conversation, &target);
                tracing::info!(
                    from = agent,
                    to = target,
                    conversation,
                    "conversation transferred"
                );
            }
            None => {
                self.release(agent, conversation, UnassignReason::Transferred);
                self.record_event(conversation, agent, event, note);
                self.enqueue(conversation.to_string(), Some(agent.to_string()), true);
                tracing::info!(
                    from = agent,
                    conversation,
                    "conversation returned to the queue"
                );
            }
        }
        self.drain();
    }

    /// Why `agent` may not hand `conversation` to `target`, if it may not.
    fn refuse_transfer(&self, agent: &str, conversation: &str, target: &str) -> Option<String> {
        match self.agents.get(target) {
            _ if target == agent => Some(format!("{conversation} is already yours")),
            None => Some(format!("there is no agent named {target}")),
            Some(t) if !t.online() => Some(format!("{target} is offline")),
            Some(t) if !t.settings.available => Some(format!("{target} is not available")),
            Some(t) if t.load() >= t.settings.capacity as usize => Some(format!(
                "{target} is at capacity ({}/{})",
                t.load(),
                t.settings.capacity
            )),
            Some(_) => None,
        }
    }

    /// True when `agent` holds `conversation`; otherwise tells the asking
    /// session so.
    fn check_assigned(&mut self, agent: &str, conn: ConnId, conversation: &str) -> bool {
        let assigned = self.holder(conversation) == Some(agent);
        if !assigned {
            self.frame_to(
                agent,
                conn,
                ServerFrame::Error {
                    code: ErrorCode::NotAssigned,
                    message: format!("conversation {conversation} is not assigned to you"),
                    client_id: None,
                    conversation: Some(conversation.to_string()),
                    fatal: false,
                },
            );
        }
        assigned
    }

    /// Takes a conversation away from its agent and tells every session of
    /// the agent why (the route itself is the caller's to change).
    pub(super) fn release(&mut self, agent: &str, conversation: &str, reason: UnassignReason) {
        self.drop_holding(agent, conversation);
        self.frame(
            agent,
            ServerFrame::Unassigned {
                conversation: conversation.to_string(),
                reason,
            },
        );
    }
}
