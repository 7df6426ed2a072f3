//! `reopen`: an agent takes a resolved conversation back (from the console's
//! Resolved view or a customer's past conversations).
//!
//! The rule: only a resolved conversation is reopened, and it goes to the
//! agent who asked — whatever their capacity or availability, since they
//! asked for it by name. It is claimed in the store like any assignment
//! (`queue.rs`: on DynamoDB a fenced, conditional claim), and the agent's
//! sessions are sent it (`assigned`, with its history) once the claim is
//! durable. A conversation the agent already holds is left alone (a
//! repeated click); anything else — queued, held by someone else, never
//! seen — is refused with `reopen_rejected`, and nothing changes.

use super::conn::ConnId;
use super::machine::{Core, Live};
use crate::store::RouteRecord;
use switchboard_protocol::{ErrorCode, ServerFrame};

impl Core {
    pub(super) fn reopen(&mut self, agent: &str, conn: ConnId, conversation: &str) {
        let connected = self
            .agents
            .get(agent)
            .is_some_and(|a| a.sessions.contains_key(&conn));
        if !connected || self.holder(conversation) == Some(agent) {
            return;
        }
        let Some(upto_seq) = self.resolved.remove(conversation) else {
            let why = if self.live.contains_key(conversation) {
                "is open (waiting or held by another agent)"
            } else {
                "is not a resolved conversation"
            };
            self.frame_to(
                agent,
                conn,
                ServerFrame::Error {
                    code: ErrorCode::ReopenRejected,
                    message: format!("conversation {conversation} {why}"),
                    client_id: None,
                    conversation: Some(conversation.to_string()),
                    fatal: false,
                },
            );
            return;
        };
        // Claimed in the name of whoever the store may still name (a
        // resolve that was not recorded), or the store would refuse it.
        let released_by = self.unsaved_resolves.remove(conversation);
        self.live.insert(
            conversation.to_string(),
            Live {
                head: upto_seq,
                route: RouteRecord::Queued {
                    since_ms: self.now_ms,
                    released_by,
                },
            },
        );
        tracing::info!(agent, conversation, "conversation reopened");
        self.assign(conversation, agent);
        // The timeline says who reopened it, after what came before.
        self.record_reopened(conversation, agent);
    }
}
