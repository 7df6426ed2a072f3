//! The outbox port: replies accepted but not yet handed to Twilio for good,
//! and what the outbox worker records before it hands one over.
//!
//! A reply enters the outbox in the same durable write that stores it
//! ([`super::MessageLog::append_reply`]) and leaves it with the status update
//! that says it was sent or finally failed (`StatusUpdate::outbox_done`).
//! Each store also yields every newly accepted reply on a channel from its
//! `open`, once it is durable, so the outbox worker need not poll; this
//! listing is what it reads at start, to resend what an earlier run left.
//!
//! Twilio has no idempotency key, so before its first POST of a reply the
//! worker durably records a [`SendIntent`]. A reply listed with an intent
//! may have reached Twilio before a crash; the worker then looks for it in
//! Twilio's Messages list before sending (`outbox/reconcile.rs`), and
//! [`PendingReplies::sid_owner`] tells it which listed messages are
//! already some other reply's (or this one's).

use super::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{ConversationId, Seq};

/// What the outbox recorded, durably, just before it first asked Twilio
/// to send a reply: enough to recognise the message in Twilio's list.
/// (The customer's number is the conversation, the body is the message's.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendIntent {
    /// Our Twilio number the reply is sent from.
    pub from: String,
    /// When the first POST was about to start, ms since the epoch: Twilio
    /// cannot have created the message before it.
    pub at_ms: u64,
}

/// A reply still in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReply {
    pub conversation: ConversationId,
    pub seq: Seq,
    /// Set once the outbox was about to POST it: it may have reached Twilio.
    pub intent: Option<SendIntent>,
}

/// The outbox listing and its send intents; see the module docs.
#[async_trait]
pub trait PendingReplies: Send + Sync + 'static {
    /// Replies accepted but not yet sent or finally failed, oldest first,
    /// each with its send intent if one was recorded.
    async fn pending_replies(&self) -> Result<Vec<PendingReply>>;

    /// Records, durably, that the reply is about to be POSTed to Twilio.
    /// The first intent of a reply is kept (its time opens the window in
    /// which Twilio may have created it); a reply no longer in the outbox
    /// is left alone.
    async fn record_intent(&self, conversation: &str, seq: Seq, intent: &SendIntent) -> Result<()>;

    /// The message a Twilio SID is recorded for, if any. (With DynamoDB
    /// the SID's lookup is written before the reply's own record, so a crash
    /// in between leaves a pending reply whose SID is already known.)
    async fn sid_owner(&self, sid: &str) -> Result<Option<(ConversationId, Seq)>>;
}
