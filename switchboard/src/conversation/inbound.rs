//! A customer's message arriving in a conversation.

use super::{keyword, ConversationState};
use switchboard_protocol::Seq;

/// What storing a new inbound message does to its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundEffect {
    /// The message's seq: one past the newest, so seqs have no gaps.
    pub seq: Seq,
    /// The conversation's new opt-out state, when the message changes it
    /// (STOP while opted in, START while opted out). A keyword that asks
    /// for the state the conversation already has changes nothing.
    pub opt_change: Option<bool>,
}

impl InboundEffect {
    /// The conversation after the message (`None`: it did not exist).
    pub fn apply_to(&self, state: Option<ConversationState>) -> ConversationState {
        let before = state.unwrap_or_default();
        ConversationState {
            last_seq: self.seq,
            opted_out: self.opt_change.unwrap_or(before.opted_out),
        }
    }
}

/// The effect of a new message with `body` on `state` (`None`: the first
/// message, which creates the conversation opted in).
pub fn apply(state: Option<ConversationState>, body: &str) -> InboundEffect {
    let before = state.unwrap_or_default();
    InboundEffect {
        seq: before.last_seq + 1,
        opt_change: opt_change(before.opted_out, body),
    }
}

/// The opt-out change a message with `body` makes when the conversation is
/// `opted_out` now.
pub fn opt_change(opted_out: bool, body: &str) -> Option<bool> {
    keyword::requested_opt_out(body).filter(|&wanted| wanted != opted_out)
}

/// Whether deciding this message's effect needs the conversation's current
/// opt-out state (a store that caches only `last_seq` must re-read it).
pub fn needs_opt_out_state(body: &str) -> bool {
    keyword::requested_opt_out(body).is_some()
}
