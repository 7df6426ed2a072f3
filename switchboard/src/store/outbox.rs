//! The outbox port: replies accepted but not yet handed to Twilio for good.
//!
//! A reply enters the outbox in the same durable write that stores it
//! ([`super::MessageLog::append_reply`]) and leaves it with the status update
//! that says it was sent or finally failed (`StatusUpdate::outbox_done`).
//! Each store also yields every newly accepted reply on a channel from its
//! `open`, once it is durable, so the outbox worker need not poll; this
//! listing is what it reads at start, to resend what an earlier run left.

use super::Result;
use async_trait::async_trait;
use switchboard_protocol::{ConversationId, Seq};

/// The outbox listing; see the module docs.
#[async_trait]
pub trait PendingReplies: Send + Sync + 'static {
    /// Replies accepted but not yet sent or finally failed, oldest first.
    async fn pending_replies(&self) -> Result<Vec<(ConversationId, Seq)>>;
}
