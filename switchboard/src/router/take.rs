//! An agent taking a conversation from the queue (`take`), the Queue view's
//! action: the conversation becomes theirs if it is still waiting.
//!
//! Taking is an explicit choice, so it is not bound by what automatic
//! assignment respects: an agent may take while away or at capacity (their
//! load may then exceed their capacity; they get nothing automatically until
//! it is below again). What it may not do is take a conversation that no
//! longer waits — another agent took it first, it was resolved — which is
//! refused with `not_queued`. The claim is the same fenced store write as
//! every assignment's ([`Core::assign`]); the agent is told once it is won.

use super::conn::ConnId;
use super::machine::Core;
use crate::store::RouteRecord;
use switchboard_protocol::{ErrorCode, ServerFrame};

impl Core {
    /// `take` from session `conn`.
    pub(super) fn take(&mut self, agent: &str, conn: ConnId, conversation: &str) {
        let connected = self
            .agents
            .get(agent)
            .is_some_and(|a| a.sessions.contains_key(&conn));
        if !connected {
            return;
        }
        if let Some(message) = self.refuse_take(agent, conversation) {
            self.frame_to(
                agent,
                conn,
                ServerFrame::Error {
                    code: ErrorCode::NotQueued,
                    message,
                    client_id: None,
                    conversation: Some(conversation.to_string()),
                    fatal: false,
                },
            );
            return;
        }
        // After a failed transfer claim the store names one of two agents
        // (`hand_back`); `refuse_take` let only those two through. The
        // claimant's claim must name the holder, as in `drain`.
        if let Some(holder) = self.hand_back.remove(conversation) {
            if holder != agent {
                if let Some(RouteRecord::Queued { released_by, .. }) =
                    self.live.get_mut(conversation).map(|l| &mut l.route)
                {
                    *released_by = Some(holder);
                }
            }
        }
        self.assign(conversation, agent);
        tracing::info!(agent, conversation, "conversation taken from the queue");
    }

    /// Why `agent` may not take `conversation` now, if it may not.
    fn refuse_take(&self, agent: &str, conversation: &str) -> Option<String> {
        match self.live.get(conversation).map(|l| &l.route) {
            Some(RouteRecord::Queued { released_by, .. }) => {
                let holder = self.hand_back.get(conversation)?;
                let named = holder == agent || released_by.as_deref() == Some(agent);
                (!named).then(|| {
                    format!("{conversation} is being handed back to {holder}; try again shortly")
                })
            }
            Some(RouteRecord::Assigned { agent: holder, .. }) if holder == agent => {
                Some(format!("{conversation} is already yours"))
            }
            Some(RouteRecord::Assigned { .. }) => {
                Some(format!("{conversation} was taken by another agent"))
            }
            _ => Some(format!("{conversation} is not waiting in the queue")),
        }
    }
}
