//! Timeline events: what happened to a conversation (transferred, resolved,
//! reopened), recorded in the conversation itself — after the replies and
//! notes sent before it — so whoever holds it later sees who did what and
//! when. The router decides them; the store keeps them like a note (never
//! sent, no outbox entry, no waiting reset).

use super::event::Effect;
use super::machine::Core;
use crate::store::{EntryKind, Reply};
use switchboard_protocol::TimelineEvent;

impl Core {
    /// Records `event` in `conversation` in `agent`'s name, with `note` (a
    /// transfer note) as its body.
    pub(super) fn record_event(
        &mut self,
        conversation: &str,
        agent: &str,
        event: TimelineEvent,
        note: Option<String>,
    ) {
        let kind = match &event {
            TimelineEvent::Transferred { .. } => "transferred",
            TimelineEvent::Resolved { .. } => "resolved",
            TimelineEvent::Reopened { .. } => "reopened",
        };
        // Unique per agent (the store's dedupe key): the same agent cannot
        // act twice on one conversation at one head in one millisecond.
        let client_id = format!(
            "event:{kind}:{conversation}:{}:{}",
            self.head(conversation),
            self.now_ms
        );
        self.effects.push(Effect::Timeline {
            entry: Reply {
                conversation: conversation.to_string(),
                agent: agent.to_string(),
                client_id,
                body: note.unwrap_or_default(),
                media: Vec::new(),
                at_ms: self.now_ms,
                kind: EntryKind::Event(event),
            },
        });
    }

    /// The hook for reopening a resolved conversation: records `reopened`
    /// by `agent` (`reopen.rs`).
    pub(super) fn record_reopened(&mut self, conversation: &str, agent: &str) {
        self.record_event(
            conversation,
            agent,
            TimelineEvent::Reopened {
                by: agent.to_string(),
            },
            None,
        );
    }
}
