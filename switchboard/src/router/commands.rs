//! What agents ask for: availability, reply, resolve, transfer. Only the
//! holder of a conversation may act on it.

use super::event::Effect;
use super::machine::Core;
use crate::store::{AgentSettings, Reply};
use switchboard_protocol::{ConversationId, ErrorCode, ServerFrame, UnassignReason};

impl Core {
    pub(super) fn availability(&mut self, agent: &str, available: bool, capacity: u32) {
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
        }
        self.drain();
    }

    pub(super) fn reply(
        &mut self,
        agent: &str,
        conversation: ConversationId,
        client_id: String,
        body: String,
    ) {
        let Some(conn) = self
            .agents
            .get(agent)
            .and_then(|a| a.session.as_ref())
            .map(|s| s.conn)
        else {
            return;
        };
        if self.holder(&conversation) != Some(agent) {
            self.frame(
                agent,
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
                at_ms: self.now_ms,
            },
        });
    }

    pub(super) fn resolve(&mut self, agent: &str, conversation: &str) {
        if !self.check_assigned(agent, conversation) {
            return;
        }
        self.release(agent, conversation, UnassignReason::Resolved);
        let upto_seq = self.head(conversation);
        self.effects.push(Effect::Resolved {
            conversation: conversation.to_string(),
            agent: agent.to_string(),
            upto_seq,
            at_ms: self.now_ms,
        });
        self.resolved.insert(conversation.to_string(), upto_seq);
        self.unsaved_resolves.remove(conversation);
        self.live.remove(conversation);
        tracing::info!(agent, conversation, "conversation resolved");
        self.drain();
    }

    pub(super) fn transfer(&mut self, agent: &str, conversation: &str, to: Option<String>) {
        if !self.check_assigned(agent, conversation) {
            return;
        }
        match to {
            Some(target) => {
                if let Some(message) = self.refuse_transfer(agent, conversation, &target) {
                    self.frame(
                        agent,
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
            Some(t) if t.session.is_none() => Some(format!("{target} is offline")),
            Some(t) if !t.settings.available => Some(format!("{target} is not available")),
            Some(t) if t.load() >= t.settings.capacity as usize => Some(format!(
                "{target} is at capacity ({}/{})",
                t.load(),
                t.settings.capacity
            )),
            Some(_) => None,
        }
    }

    /// True when `agent` holds `conversation`; otherwise tells it so.
    fn check_assigned(&mut self, agent: &str, conversation: &str) -> bool {
        let assigned = self.holder(conversation) == Some(agent);
        if !assigned {
            self.frame(
                agent,
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

    /// Takes a conversation away from its agent and tells the agent why
    /// (the route itself is the caller's to change).
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
