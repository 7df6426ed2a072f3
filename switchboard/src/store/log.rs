//! The message-log port: each conversation's messages, its metadata, and
//! the writes that change them (conditional appends, status updates,
//! opt-out).
//!
//! One semantics for every backend ([`MessageLog`]):
//!
//! * a method that writes returns only once the write is durable;
//! * each conversation's messages get seq 1, 2, 3… without gaps, in the
//!   order the store accepted them, however many writers race;
//! * an inbound `MessageSid` or a reply's `(agent, client_id)` is stored at
//!   most once — a repeat reports the existing message;
//! * every accepted write that changes a message or a conversation's
//!   opt-out state is announced in the change feed ([`super::ChangeFeed`]);
//! * `message` and `history` reflect at least every change the caller has
//!   seen in the change feed; a write whose change is not in the feed yet
//!   may not show (DynamoDB serves these reads from its local view of the
//!   stream). `conversation` reflects every completed write.
//!
//! The conversation rules themselves (keywords, seqs, refusal, status
//! order) are [`crate::conversation`]'s; a store decides through them.

use super::Result;
use crate::conversation::reply::Refusal;
use crate::conversation::ConversationState;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{
    ConversationId, DeliveryError, DeliveryStatus, Direction, Media, Message, Seq, TimelineEvent,
};

/// A customer's message as the webhook validated it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundMessage {
    pub message_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub country: Option<String>,
    pub media: Vec<Media>,
    pub at_ms: u64,
}

impl InboundMessage {
    /// The message as stored at `seq` of the customer's conversation.
    pub fn to_message(&self, seq: Seq) -> Message {
        Message {
            conversation: self.from.clone(),
            seq,
            direction: Direction::Inbound,
            body: self.body.clone(),
            at_ms: self.at_ms,
            media: self.media.clone(),
            agent: None,
            client_id: None,
            status: None,
            error: None,
            sid: Some(self.message_sid.clone()),
            event: None,
        }
    }
}

/// Result of storing an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: Seq,
    /// True when this `MessageSid` was already stored (a Twilio retry).
    pub duplicate: bool,
}

/// What became of a customer's message the webhook handed over
/// ([`MessageLog::accept_inbound`]). Either way it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// In the store.
    Stored(Appended),
    /// On local disk, going to the store as soon as it answers (a remote
    /// store wrapped in the inbound spool, `jobs::inbound_spool::Spooled`).
    Spooled,
}

/// What an entry written in an agent's (or the switchboard's) name is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EntryKind {
    /// A text to the customer: stored with status `queued` and put in the
    /// outbox; refused after STOP.
    #[default]
    Sms,
    /// A private note: stored only, never sent, allowed after STOP.
    Note,
    /// A timeline event (transferred, resolved, reopened): stored only.
    Event(TimelineEvent),
}

/// An agent's reply — or a note or timeline event in an agent's name —
/// before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub conversation: ConversationId,
    pub agent: String,
    /// Makes the write idempotent: `(agent, client_id)` is stored once.
    pub client_id: String,
    pub body: String,
    /// A text's pictures (MMS), as links to the uploads (`/files/…`).
    pub media: Vec<Media>,
    pub at_ms: u64,
    /// A text to send, a note or an event.
    pub kind: EntryKind,
}

impl Reply {
    /// True when this is a text to the customer (outbox, STOP refusal).
    pub fn sends(&self) -> bool {
        self.kind == EntryKind::Sms
    }

    /// The entry as stored at `seq`; a text waits to be sent.
    pub fn to_message(&self, seq: Seq) -> Message {
        let (direction, status, event) = match &self.kind {
            EntryKind::Sms => (Direction::Outbound, Some(DeliveryStatus::Queued), None),
            EntryKind::Note => (Direction::Note, None, None),
            EntryKind::Event(event) => (Direction::Event, None, Some(Box::new(event.clone()))),
        };
        Message {
            conversation: self.conversation.clone(),
            seq,
            direction,
            body: self.body.clone(),
            at_ms: self.at_ms,
            media: self.media.clone(),
            agent: Some(self.agent.clone()),
            client_id: Some(self.client_id.clone()),
            status,
            error: None,
            sid: None,
            event,
        }
    }
}

/// Result of storing a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Stored as `seq` and queued in the outbox (or already stored, when
    /// `duplicate`).
    Accepted { seq: Seq, duplicate: bool },
    /// The customer opted out; nothing was stored.
    OptedOut,
    /// No such conversation.
    UnknownConversation,
}

impl From<Refusal> for ReplyOutcome {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::OptedOut => ReplyOutcome::OptedOut,
            Refusal::UnknownConversation => ReplyOutcome::UnknownConversation,
        }
    }
}

/// Which outbound message a status update is about.
#[derive(Debug, Clone)]
pub enum StatusTarget {
    /// By Twilio's SID (status callbacks).
    TwilioSid(String),
    /// By position (the outbox worker, which knows it).
    Position(ConversationId, Seq),
}

/// A delivery status change for an outbound message.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub target: StatusTarget,
    pub status: DeliveryStatus,
    pub error: Option<DeliveryError>,
    /// Twilio's SID, once Twilio accepted the message.
    pub twilio_sid: Option<String>,
    /// Take the message out of the outbox (it was sent or finally failed).
    pub outbox_done: bool,
}

/// What a status update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    Applied,
    /// The message already had this or a later status.
    Stale,
    /// No message has this Twilio SID yet; kept until one does.
    Deferred,
}

/// Conversation metadata kept by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// The Twilio number the customer wrote to.
    pub to: String,
    pub country: Option<String>,
    pub opted_out: bool,
    /// Seq of the newest message (0: none yet).
    pub last_seq: Seq,
}

impl ConversationRecord {
    /// What the conversation rules ([`crate::conversation`]) look at.
    pub fn state(&self) -> ConversationState {
        ConversationState {
            last_seq: self.last_seq,
            opted_out: self.opted_out,
        }
    }

    /// Takes in a state the conversation rules computed.
    pub fn set_state(&mut self, state: ConversationState) {
        self.last_seq = state.last_seq;
        self.opted_out = state.opted_out;
    }
}

/// The message log; see the module docs for the contract.
#[async_trait]
pub trait MessageLog: Send + Sync + 'static {
    /// Appends a customer's message (idempotent on `MessageSid`). Opt-out
    /// keywords (STOP, START…) update the conversation in the same write.
    async fn append_inbound(&self, message: InboundMessage) -> Result<Appended>;

    /// Takes a customer's message from the webhook: `Ok` once it is durable,
    /// stored or set aside until the store can take it. A plain store just
    /// appends; the inbound spool's decorator around a remote store
    /// (`jobs::inbound_spool::Spooled`) spools when the store cannot answer.
    async fn accept_inbound(&self, message: InboundMessage) -> Result<Accepted> {
        Ok(Accepted::Stored(self.append_inbound(message).await?))
    }

    /// Appends an agent's reply with status `queued` and puts it in the
    /// outbox (idempotent on `(agent, client_id)`). A note or timeline
    /// event ([`EntryKind`]) is appended the same way but gets no status,
    /// no outbox entry, and is not refused after STOP.
    async fn append_reply(&self, reply: Reply) -> Result<ReplyOutcome>;

    /// Advances an outbound message's status; never moves it backwards.
    async fn update_status(&self, update: StatusUpdate) -> Result<StatusOutcome>;

    /// Marks a number opted out (Twilio error 21610 on send).
    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> Result<()>;

    async fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>>;

    /// Messages with seq in `(after, upto]`, oldest first.
    async fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>>;

    async fn conversation(&self, conversation: &str) -> Result<Option<ConversationRecord>>;
}
