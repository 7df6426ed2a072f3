//! An agent's reply to a conversation.

use super::ConversationState;
use switchboard_protocol::Seq;

/// Why a reply is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No customer ever wrote from this number: there is nobody to answer.
    UnknownConversation,
    /// The customer opted out; Twilio would block the message (21610).
    OptedOut,
}

/// The reply's seq, or why it is refused, given the conversation's newest
/// state (`None`: no such conversation). A store must decide on the state
/// that really is newest — a refusal is final for the caller. `sends` is
/// false for a private note or timeline event: nothing reaches the
/// customer, so STOP does not refuse it.
pub fn apply(state: Option<ConversationState>, sends: bool) -> Result<Seq, Refusal> {
    let state = state.ok_or(Refusal::UnknownConversation)?;
    if sends && state.opted_out {
        return Err(Refusal::OptedOut);
    }
    Ok(state.last_seq + 1)
}

/// The refusal alone, for a store that claims the seq its own way.
pub fn refusal(state: Option<ConversationState>, sends: bool) -> Option<Refusal> {
    apply(state, sends).err()
}
