//! Reacting to the change feed: new messages (routing a customer's new
//! conversation, showing the rest to whoever holds it), delivery statuses
//! and opt-out changes.

use super::conn::{ConnId, Outgoing};
use super::machine::{Core, Live};
use crate::store::RouteRecord;
use switchboard_protocol::{ConversationId, Direction, Seq};

impl Core {
    pub(super) fn on_message(
        &mut self,
        conversation: ConversationId,
        seq: Seq,
        direction: Direction,
    ) {
        if let Some(live) = self.live.get_mut(&conversation) {
            live.head = live.head.max(seq);
            if let Some(agent) = self.holder(&conversation).map(str::to_string) {
                self.deliver(&agent, &conversation);
            }
            self.deliver_watchers(&conversation);
            return;
        }
        if self
            .resolved
            .get(&conversation)
            .is_some_and(|&upto| seq <= upto)
        {
            // Seen before it was resolved (a replayed feed).
            return;
        }
        // Only a customer opens a conversation; a reply to a resolved one
        // (sent just before the resolve) stays resolved.
        if direction != Direction::Inbound {
            return;
        }
        let since_ms = self.now_ms;
        // Written in the resolver's name if the store may still name it.
        let released_by = self.unsaved_resolves.remove(&conversation);
        self.live.insert(
            conversation.clone(),
            Live {
                head: seq,
                route: RouteRecord::Queued {
                    since_ms,
                    released_by: released_by.clone(),
                },
            },
        );
        self.enqueue(conversation.clone(), released_by, false);
        self.drain();
        self.notice_if_queued(&conversation, since_ms);
    }

    /// A status is shown only to the holder's sessions and those watching
    /// the conversation, and to each only for a message it was already sent
    /// (later ones carry their status).
    pub(super) fn on_status(&mut self, conversation: &str, seq: Seq) {
        let out = Outgoing::Status {
            conversation: conversation.to_string(),
            seq,
        };
        self.tell_watchers(conversation, seq, &out);
        let Some(agent) = self.holder(conversation).map(str::to_string) else {
            return;
        };
        let told: Vec<ConnId> = self
            .agents
            .get(&agent)
            .map(|a| {
                a.sessions
                    .iter()
                    .filter(|(_, s)| s.delivered.get(conversation).is_some_and(|&d| d >= seq))
                    .map(|(conn, _)| *conn)
                    .collect()
            })
            .unwrap_or_default();
        for conn in told {
            self.send_to(&agent, conn, out.clone());
        }
    }

    /// An opt-out change is shown only to the holder (every session) and
    /// those watching the conversation.
    pub(super) fn on_opt_out(&mut self, conversation: &str) {
        let out = Outgoing::OptOut {
            conversation: conversation.to_string(),
        };
        self.tell_watchers(conversation, 0, &out);
        if let Some(agent) = self.holder(conversation).map(str::to_string) {
            self.send(
                &agent,
                Outgoing::OptOut {
                    conversation: conversation.to_string(),
                },
            );
        }
    }
}
