//! Resume points: for each conversation assigned to this agent, the last seq
//! the client has seen. `hello` sends them after a reconnect, and the
//! switchboard sends only what came after (see docs/protocol.md, "Resume").

use crate::{ConversationId, Seq, ServerFrame};
use std::collections::BTreeMap;

/// Resume points, kept up to date from the frames the client receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumePoints {
    /// Last seq seen per assigned conversation (0: assigned, nothing seen).
    last_seen: BTreeMap<ConversationId, Seq>,
}

impl ResumePoints {
    /// Takes in one frame from the switchboard.
    pub fn observe(&mut self, frame: &ServerFrame) {
        match frame {
            ServerFrame::Assigned {
                conversation,
                history,
                ..
            } => {
                let last = history.iter().map(|m| m.seq).max().unwrap_or(0);
                let seen = self.last_seen.entry(conversation.id.clone()).or_default();
                *seen = (*seen).max(last);
            }
            ServerFrame::Message { message } => {
                if let Some(seen) = self.last_seen.get_mut(&message.conversation) {
                    *seen = (*seen).max(message.seq);
                }
            }
            ServerFrame::Unassigned { conversation, .. } => {
                self.last_seen.remove(conversation);
            }
            _ => {}
        }
    }

    /// The `resume` map of the next `hello`.
    pub fn to_hello(&self) -> BTreeMap<ConversationId, Seq> {
        self.last_seen.clone()
    }

    /// Conversations currently assigned to this agent.
    pub fn assigned(&self) -> impl Iterator<Item = &ConversationId> {
        self.last_seen.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConversationInfo, Direction, Message, UnassignReason};

    fn message(conversation: &str, seq: Seq) -> Message {
        Message {
            conversation: conversation.into(),
            seq,
            direction: Direction::Inbound,
            body: format!("m{seq}"),
            at_ms: 0,
            media: Vec::new(),
            agent: None,
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    fn assigned(conversation: &str, seqs: &[Seq]) -> ServerFrame {
        ServerFrame::Assigned {
            conversation: ConversationInfo {
                id: conversation.into(),
                to: "+15550009999".into(),
                country: None,
                opted_out: false,
                waiting_since_ms: None,
            },
            history: seqs.iter().map(|s| message(conversation, *s)).collect(),
            after: 0,
        }
    }

    #[test]
    fn tracks_the_last_seq_of_assigned_conversations_only() {
        let mut points = ResumePoints::default();
        points.observe(&assigned("+1", &[1, 2]));
        points.observe(&ServerFrame::Message {
            message: message("+1", 3),
        });
        // Not assigned to this agent: not a resume point.
        points.observe(&ServerFrame::Message {
            message: message("+2", 9),
        });
        points.observe(&assigned("+3", &[]));
        assert_eq!(
            points.to_hello(),
            BTreeMap::from([("+1".to_string(), 3), ("+3".to_string(), 0)])
        );
        // A resumed assignment with nothing new does not move it back.
        points.observe(&assigned("+1", &[]));
        points.observe(&ServerFrame::Unassigned {
            conversation: "+3".into(),
            reason: UnassignReason::Resolved,
        });
        assert_eq!(points.to_hello(), BTreeMap::from([("+1".to_string(), 3)]));
    }
}
