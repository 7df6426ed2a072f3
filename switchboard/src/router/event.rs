//! The router's inputs ([`Event`]) and outputs ([`Effect`]).
//!
//! The state machine ([`super::machine::Core`]) turns one event into a list of
//! effects without doing any I/O; the driver ([`super::driver`]) performs
//! them in order and feeds back what came of the ones whose outcome matters
//! (a claim, a conditional route write, a connection that broke).

use super::conn::{ConnId, Outgoing};
use crate::store::{Claim, Reply, RouteRecord};
use std::collections::BTreeMap;
use switchboard_protocol::{ConversationId, Direction, Media, Seq, ServerFrame};

/// Something the router must react to.
#[derive(Debug, Clone)]
pub enum Event {
    /// An agent's connection said `hello`.
    Connected {
        agent: String,
        conn: ConnId,
        /// The client program (`hello.client`; empty: the default client).
        client: String,
        /// Conversation → last seq the client saw.
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    },
    /// A connection ended (socket closed, or its buffer overflowed).
    Disconnected { agent: String, conn: ConnId },
    /// `availability` frame, from session `conn`.
    Availability {
        agent: String,
        conn: ConnId,
        available: bool,
        capacity: u32,
    },
    /// `reply` or `note` frame (already validated by the connection), from
    /// session `conn`.
    Reply {
        agent: String,
        conn: ConnId,
        conversation: ConversationId,
        client_id: String,
        body: String,
        /// Pictures to send with it (checked by the connection).
        media: Vec<Media>,
        /// A private note: stored in the timeline, never sent.
        note: bool,
    },
    /// `resolve` frame, from session `conn`.
    Resolve {
        agent: String,
        conn: ConnId,
        conversation: ConversationId,
    },
    /// `reopen` frame, from session `conn`.
    Reopen {
        agent: String,
        conn: ConnId,
        conversation: ConversationId,
    },
    /// `transfer` frame, from session `conn`.
    Transfer {
        agent: String,
        conn: ConnId,
        conversation: ConversationId,
        to: Option<String>,
        /// The transfer note, recorded with the `transferred` event.
        note: Option<String>,
    },
    /// `take` frame, from session `conn`: the agent chose a queued
    /// conversation.
    Take {
        agent: String,
        conn: ConnId,
        conversation: ConversationId,
    },
    /// `supervise` frame, from session `conn`.
    Supervise { agent: String, conn: ConnId },
    /// `queue_window` frame, from session `conn`.
    QueueWindow {
        agent: String,
        conn: ConnId,
        limit: usize,
    },
    /// `watch` (`Some`) or `unwatch` (`None`) frame, from session `conn`.
    Watch {
        agent: String,
        conn: ConnId,
        conversation: Option<ConversationId>,
    },
    /// The grace timer started at disconnect number `generation` fired.
    GraceExpired { agent: String, generation: u64 },
    /// A message was stored (from the change feed).
    Message {
        conversation: ConversationId,
        seq: Seq,
        direction: Direction,
    },
    /// An outbound message's status changed (from the change feed).
    Status {
        conversation: ConversationId,
        seq: Seq,
    },
    /// The customer's opt-out state changed (from the change feed).
    OptOut { conversation: ConversationId },
    /// What came of an [`Effect::Claim`].
    Claimed {
        conversation: ConversationId,
        agent: String,
        /// The claim's `previous`: whom the store may still name as holder.
        previous: Option<String>,
        outcome: ClaimOutcome,
    },
    /// An [`Effect::SaveRoute`] was refused: another instance holds the
    /// conversation.
    HeldElsewhere { conversation: ConversationId },
    /// The [`Effect::Resolved`] write kept failing: the store may still
    /// name `agent` as the conversation's holder.
    ResolveUnsaved {
        conversation: ConversationId,
        agent: String,
    },
    /// The wait asked for by [`Effect::RetryDrain`] is over.
    RetryDrain,
    /// Time to check whether a waiting customer is due their update text.
    NoticeTick,
}

/// What came of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Won,
    /// Another claimant holds it: leave the conversation alone.
    HeldElsewhere,
    /// The store failed (it may or may not have applied the claim); the
    /// conversation goes back to the queue's front and is retried later.
    Failed,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Queue work for an agent's connection.
    Send {
        agent: String,
        conn: ConnId,
        out: Outgoing,
    },
    /// Send `frame` on a connection and close it (superseded).
    Close { conn: ConnId, frame: ServerFrame },
    /// Store an agent's reply and answer with `ack` or `error` on `conn`.
    StoreReply { conn: ConnId, reply: Reply },
    /// Write a routing record (queued or resolved); the result may be
    /// [`Event::HeldElsewhere`].
    SaveRoute {
        conversation: ConversationId,
        route: RouteRecord,
    },
    /// Claim a conversation for an agent; the result is [`Event::Claimed`].
    Claim(Claim),
    /// Queue the transcript of `(0, upto_seq]` (or of everything stored,
    /// if more), then record the conversation as resolved.
    Resolved {
        conversation: ConversationId,
        agent: String,
        upto_seq: Seq,
        at_ms: u64,
    },
    /// Persist what an agent declared, so it survives a restart.
    SaveAgent {
        agent: String,
        available: bool,
        capacity: u32,
    },
    /// Fire [`Event::GraceExpired`] after the grace period.
    StartGrace { agent: String, generation: u64 },
    /// Fire [`Event::RetryDrain`] after a backoff wait (a claim failed;
    /// retrying at once would busy-loop through an outage).
    RetryDrain,
    /// Store an automatic text to a waiting customer (`notices.rs`) as a
    /// reply in [`crate::conversation::notice::AUTHOR`]'s name; nobody is
    /// answered, the outcome is logged.
    Notice { reply: Reply },
    /// Record a timeline event (transferred, resolved) in the conversation,
    /// in the name of the agent who did it; nobody is answered, the outcome
    /// is logged.
    Timeline { entry: Reply },
}
