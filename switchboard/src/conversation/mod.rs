//! The conversation domain: the rules every store applies to a customer's
//! conversation, as plain functions over data — no I/O, no storage types.
//!
//! * [`keyword`] — Twilio's opt-out / opt-in / help keywords;
//! * [`inbound`] — what a customer's message does to a conversation
//!   (dedupe, next seq, opt-out change);
//! * [`reply`] — when an agent's reply is refused, else its seq;
//! * [`status`] — delivery statuses only move forward; a status that
//!   arrived before its Twilio SID was known is merged when it is;
//! * [`notice`] — the automatic texts to a waiting customer (place in the
//!   queue, after hours), decided for the router;
//! * [`figures`] — what a resolved conversation says about the team (first
//!   response, time to resolve, who handled it, negative texts) and those
//!   figures per time bucket, for the supervisor's plots.
//!
//! The sled store's writer, the DynamoDB store and the in-memory store
//! ([`crate::store::memory`], whose log the property tests drive) all decide
//! through these functions, so a rule lives in exactly one place.

pub mod figures;
pub mod inbound;
pub mod keyword;
pub mod notice;
pub mod reply;
pub mod status;

use switchboard_protocol::Seq;

/// What the rules need to know about an existing conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationState {
    /// Seq of the newest message (0: none yet).
    pub last_seq: Seq,
    /// The customer sent STOP (or a send failed with Twilio's 21610) and
    /// has not sent START since.
    pub opted_out: bool,
}

/// The outcome of a write that is idempotent on a dedupe id (an inbound
/// `MessageSid`, a reply's `(agent, client_id)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe<T> {
    /// Already stored at this seq: report it, write nothing.
    Duplicate(Seq),
    /// Not stored yet: do this.
    New(T),
}

/// Dedupe decision given what the store's index holds for the write's id.
pub fn dedupe<T>(existing: Option<Seq>, new: impl FnOnce() -> T) -> Dedupe<T> {
    match existing {
        Some(seq) => Dedupe::Duplicate(seq),
        None => Dedupe::New(new()),
    }
}

#[cfg(test)]
mod tests;
