//! Wire types of the agent protocol (version [`PROTOCOL_VERSION`]).
//!
//! The switchboard and every agent client (the agent UI server, the test
//! clients, the benchmark) speak these JSON frames over one WebSocket per
//! agent. Every frame is an object with a `type` and the protocol version `v`.
//! `docs/protocol.md` describes the conversation between the two sides; this
//! file is the single definition of the shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod canned;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "violation")]
pub mod violation;

/// Version carried in every frame as `v`. Bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Path of the agent WebSocket endpoint on the switchboard.
pub const AGENT_WS_PATH: &str = "/v1/agent";

/// The `agent` of an outbound message the switchboard wrote itself (an
/// automatic text to a waiting customer: their place in the queue, when the
/// team is back). It is no agent's answer: the customer still waits.
pub const AUTOMATIC_AUTHOR: &str = "switchboard";

impl Message {
    /// An automatic text, not an agent's reply.
    pub fn is_automatic(&self) -> bool {
        self.direction == Direction::Outbound && self.agent.as_deref() == Some(AUTOMATIC_AUTHOR)
    }
}

/// Longest private note (or transfer note) the switchboard stores, in
/// characters. Notes are never sent, so the SMS limit does not apply.
pub const MAX_NOTE_CHARS: usize = 4000;

/// A conversation is identified by the customer's E.164 phone number.
pub type ConversationId = String;

/// Position of a message inside its conversation: 1, 2, 3, … without gaps.
pub type Seq = u64;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer, received through the Twilio webhook.
    Inbound,
    /// From an agent, sent to the customer through Twilio.
    Outbound,
    /// A private note by an agent (`agent`): stored in the conversation for
    /// whoever holds it later, never sent to the customer, not a reply.
    Note,
    /// Something that happened to the conversation (`event` says what; an
    /// optional note in `body`), recorded in its timeline. Never sent.
    Event,
}

impl Direction {
    /// True for what only agents see: notes and timeline events. Such an
    /// entry is no message between customer and team — it neither answers
    /// the customer nor makes them wait.
    pub fn is_internal(self) -> bool {
        matches!(self, Direction::Note | Direction::Event)
    }
}

/// What happened to a conversation (the `event` of a [`Direction::Event`]
/// entry). The entry's `agent` is who did it and `at_ms` when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// Handed from agent `from` to agent `to`, or back to the queue (`to`
    /// absent). The entry's body is the transfer note, if one was given.
    Transferred {
        from: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        to: Option<String>,
    },
    /// Closed by agent `by`.
    Resolved { by: String },
    /// Opened again by agent `by` after it was resolved.
    Reopened { by: String },
}

impl TimelineEvent {
    /// One line for people: "transferred from alice to bob", "resolved by
    /// alice", "reopened by bob".
    pub fn describe(&self) -> String {
        match self {
            TimelineEvent::Transferred { from, to: Some(to) } => {
                format!("transferred from {from} to {to}")
            }
            TimelineEvent::Transferred { from, to: None } => {
                format!("returned to the queue by {from}")
            }
            TimelineEvent::Resolved { by } => format!("resolved by {by}"),
            TimelineEvent::Reopened { by } => format!("reopened by {by}"),
        }
    }
}

/// Delivery state of an outbound message, in the order it may advance.
///
/// A status never moves backwards: a late `sent` callback after `delivered`
/// is ignored. `Failed` and `Undelivered` are final and carry Twilio's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted by the switchboard, waiting in the durable outbox.
    Queued,
    /// Accepted by Twilio (Twilio's `queued`/`accepted`/`sending`).
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The carrier could not deliver it.
    Undelivered,
    /// Twilio (or the switchboard) refused it.
    Failed,
    /// Delivered to the handset.
    Delivered,
    /// Read receipt (WhatsApp and RCS only).
    Read,
}

impl DeliveryStatus {
    /// Rank used to refuse backward moves. Terminal outcomes share a rank so
    /// that one terminal status never replaces another.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sending => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Undelivered | DeliveryStatus::Failed | DeliveryStatus::Delivered => 3,
            DeliveryStatus::Read => 4,
        }
    }

    /// Maps a Twilio `MessageStatus` value; `None` for values that say
    /// nothing about an outbound message (e.g. `receiving`).
    pub fn from_twilio(status: &str) -> Option<Self> {
        Some(match status {
            "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Sending,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "undelivered" => DeliveryStatus::Undelivered,
            "failed" | "canceled" => DeliveryStatus::Failed,
            "read" => DeliveryStatus::Read,
            _ => return None,
        })
    }
}

/// A media attachment (MMS) as Twilio referenced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}

/// Why an outbound message failed, as Twilio (or the switchboard) said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryError {
    /// Twilio's numeric error code (e.g. 21610), when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<u32>,
    pub message: String,
}

/// One message of a conversation, as agents see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub direction: Direction,
    pub body: String,
    /// Milliseconds since the Unix epoch when the switchboard stored it.
    pub at_ms: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub media: Vec<Media>,
    /// Outbound only: the agent who wrote it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent: Option<String>,
    /// Outbound only: the id the agent's client chose for the reply.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_id: Option<String>,
    /// Outbound only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<DeliveryStatus>,
    /// Outbound only, when failed or undelivered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<DeliveryError>,
    /// Inbound only: Twilio's `MessageSid`, so one message can be followed
    /// in both services' logs from its webhook to the agent's screen.
    /// Absent in messages stored before it existed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// [`Direction::Event`] only: what happened. Absent otherwise (and in
    /// everything stored before timeline events existed). Boxed: rare, and
    /// it would otherwise grow every message and frame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<Box<TimelineEvent>>,
}

/// A canned reply: a text the whole team shares, inserted into the reply
/// box with `/keyword` or the picker. `{customer}` and `{agent}` in the body
/// are filled in by the agent's program when it is inserted ([`canned`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedReply {
    /// 1–32 characters of `a-z`, `0-9`, `-`, `_` (stored lower-case); unique.
    pub keyword: String,
    /// The text, up to 1,600 characters.
    pub body: String,
    /// The agent who last saved it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated_by: Option<String>,
    /// When it was last saved (ms since the epoch).
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// What an agent learns about a conversation when it is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub id: ConversationId,
    /// The Twilio number the customer wrote to.
    pub to: String,
    /// Country Twilio reported for the customer's number, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub country: Option<String>,
    /// True after the customer texted STOP (and until START).
    pub opted_out: bool,
    /// Milliseconds since the epoch when the customer started waiting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub waiting_since_ms: Option<u64>,
}

/// One agent as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPresence {
    pub name: String,
    pub online: bool,
    pub available: bool,
}

/// At most this many queue entries are listed in a `queue` frame (the
/// longest waiting); `length` always counts them all.
pub const QUEUE_LIST_LIMIT: usize = 50;

/// The most waiting conversations one connection may ask to have listed
/// (`queue_window`): the Queue view's "Show more" stops there.
pub const QUEUE_WINDOW_MAX: usize = 1000;

/// At most this many of a waiting customer's messages are listed in
/// [`QueueEntry::recent`].
pub const QUEUE_RECENT_MESSAGES: usize = 5;

/// One conversation waiting for an agent, as a `queue` frame lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub conversation: ConversationId,
    /// When the customer's first unanswered message was stored (epoch ms).
    pub waiting_since_ms: u64,
    /// That first unanswered message (empty for a picture without text).
    pub preview: String,
    /// The customer's newest unanswered messages, oldest first (at most
    /// [`QUEUE_RECENT_MESSAGES`]): what the agent UI reads the mood from.
    #[serde(default)]
    pub recent: Vec<String>,
    /// The customer texted STOP: nothing may be sent to them.
    #[serde(default)]
    pub opted_out: bool,
}

/// One open conversation, as an `overview` frame lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenConversation {
    pub conversation: ConversationId,
    /// Who holds it; absent while it waits in the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Queued: since when it waits. Assigned: since when its holder has it.
    pub since_ms: u64,
}

/// One agent's state and load, as an `overview` frame lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLoad {
    pub name: String,
    pub online: bool,
    pub available: bool,
    /// Conversations held now.
    pub load: usize,
    pub capacity: u32,
}

/// Why a conversation left an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnassignReason {
    Resolved,
    Transferred,
    /// Taken back after the agent stayed disconnected past the grace period.
    Requeued,
}

/// Frames an agent sends to the switchboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame of a connection. `resume` maps each conversation the
    /// client already holds to the last seq it saw; the switchboard then sends
    /// only what is missing. Omit it (or leave it empty) on a fresh start.
    Hello {
        #[serde(default)]
        resume: BTreeMap<ConversationId, Seq>,
        /// Availability to start with. Omitted: what this agent last declared
        /// (kept across reconnects), or available with capacity 1 at first.
        #[serde(default)]
        available: Option<bool>,
        #[serde(default)]
        capacity: Option<u32>,
        /// Which client program this connection belongs to (1–128 chars: the
        /// agent-UI instance's id, or a terminal agent's own random id). One
        /// agent may have a connection per client at once; a new connection
        /// from the same client replaces that client's old one (a reconnect).
        /// Omitted: the one shared default client, so a second connection
        /// without it replaces the first, as before clients had ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Declare availability and how many conversations at once.
    Availability { available: bool, capacity: u32 },
    /// Reply to the customer. `client_id` makes the reply idempotent: the
    /// same id twice stores and sends it once.
    Reply {
        conversation: ConversationId,
        client_id: String,
        /// May be empty when `media` is not.
        body: String,
        /// Pictures to send with it (MMS): each the `url` the switchboard's
        /// `POST /v1/media/{conversation}` answered for an upload to this
        /// conversation (`/files/media/…/outbound/…`); `content_type` is
        /// taken from the stored file, whatever is sent here. At most 10,
        /// 5 MB together; refused with `invalid_media`. Omitted: none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<Media>,
    },
    /// A private note in the conversation's timeline: stored like a reply
    /// (idempotent on `client_id`, answered with `ack`) but never sent to
    /// the customer and allowed after STOP. Only the holder may add one.
    Note {
        conversation: ConversationId,
        client_id: String,
        body: String,
    },
    /// Close the conversation; the next customer message opens a new one.
    Resolve { conversation: ConversationId },
    /// Take a resolved conversation back: it is assigned to this agent (an
    /// `assigned` frame follows, with its whole history), whatever their
    /// capacity. Refused (`reopen_rejected`) unless it is resolved; a
    /// conversation this agent already holds is left as it is.
    Reopen { conversation: ConversationId },
    /// Hand the conversation to a named agent, or back to the queue (`to`
    /// omitted or null). `note` (optional, same limits as a note) lands in
    /// the timeline with the `transferred` event, for the next holder.
    Transfer {
        conversation: ConversationId,
        #[serde(default)]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Take a conversation waiting in the queue: it becomes this agent's
    /// (an `assigned` frame follows once the claim is stored). Refused with
    /// `not_queued` when it is no longer waiting (another agent took it, it
    /// was resolved, it never was queued). An explicit choice: taking works
    /// while away or at capacity (the agent then gets nothing automatically
    /// until their load is below capacity again).
    Take { conversation: ConversationId },
    /// Ask for `overview` frames (every open conversation and every agent's
    /// load): one now and one whenever it changes, for as long as this
    /// connection lives. Supervisors only (`welcome.supervisor`); anyone
    /// else gets `not_supervisor`.
    Supervise,
    /// List up to `limit` waiting conversations (the longest waiting) in
    /// this connection's `queue` frames instead of [`QUEUE_LIST_LIMIT`]:
    /// the Queue view's "Show more". Clamped to
    /// `QUEUE_LIST_LIMIT..=QUEUE_WINDOW_MAX`; answered at once with a
    /// `queue` frame (when anyone waits); lasts as long as the connection.
    QueueWindow { limit: usize },
    /// Read an open conversation someone else holds (or that waits in the
    /// queue), live and read-only: a `watching` frame with its whole
    /// history now, then its new messages (`message`), statuses and
    /// opt-out changes, until `unwatch`, another `watch`, or the
    /// conversation is resolved (`watch_ended`). One conversation per
    /// connection. Supervisors only (`not_supervisor`); a conversation that
    /// is not open is refused with `not_open` (read it in the history). A
    /// conversation this agent holds or takes is theirs: no watch.
    Watch { conversation: ConversationId },
    /// Stop watching (nothing is answered).
    Unwatch,
    /// Creates or edits a canned reply. `replaces` names the keyword being
    /// edited when it changes (a rename); omitted, a reply with `keyword`
    /// is replaced or created. Every connected agent is sent the new list
    /// (`canned`); a refusal is an `invalid_canned` error.
    CannedSave {
        keyword: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// Deletes the canned reply `keyword`.
    CannedDelete { keyword: String },
    /// Application-level liveness check; answered with `pong`.
    Ping {
        #[serde(default)]
        nonce: Option<u64>,
    },
}

/// Frames the switchboard sends to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`: the session is live.
    Welcome {
        agent: String,
        available: bool,
        capacity: u32,
        queue_length: usize,
        /// This agent may `supervise` (the switchboard's `SUPERVISORS`).
        /// Omitted when false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        supervisor: bool,
    },
    /// Who else is signed in (transfer targets). Sent after `welcome` and
    /// whenever an agent connects, disconnects or changes availability.
    Presence { agents: Vec<AgentPresence> },
    /// A conversation is now this agent's. `history` holds every message
    /// after `after` (0 = the whole history), in seq order.
    Assigned {
        conversation: ConversationInfo,
        after: Seq,
        history: Vec<Message>,
    },
    /// One new message in a conversation assigned to this agent. Sent once
    /// per (conversation, seq), in seq order, with no gaps.
    Message { message: Message },
    /// An outbound message's delivery status changed.
    Status {
        conversation: ConversationId,
        seq: Seq,
        status: DeliveryStatus,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<DeliveryError>,
    },
    /// The customer opted out (STOP) or back in (START).
    OptOut {
        conversation: ConversationId,
        opted_out: bool,
    },
    /// A conversation left this agent.
    Unassigned {
        conversation: ConversationId,
        reason: UnassignReason,
    },
    /// The reply with this `client_id` is durably stored as `seq` and on its
    /// way to Twilio.
    Ack {
        client_id: String,
        conversation: ConversationId,
        seq: Seq,
    },
    /// The conversations waiting for an agent. Sent after `welcome` when
    /// the queue is not empty, and whenever its length or one of the listed
    /// entries changed.
    Queue {
        /// How many conversations wait.
        length: usize,
        /// The [`QUEUE_LIST_LIMIT`] that waited longest, in queue order
        /// (the order they will be handed out). Absent from frames of
        /// switchboards before this field existed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        entries: Vec<QueueEntry>,
    },
    /// Answer to `supervise`, and again whenever what it says changed.
    Overview {
        /// Every open (queued or assigned) conversation, sorted by number.
        conversations: Vec<OpenConversation>,
        /// Every configured agent, sorted by name.
        agents: Vec<AgentLoad>,
    },
    /// Answer to `watch`: the conversation as it is, with every message
    /// (notes and timeline events included), in seq order. Its later
    /// messages come as `message` frames, like a held conversation's.
    Watching {
        conversation: ConversationInfo,
        /// Who holds it; absent while it waits in the queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<String>,
        history: Vec<Message>,
    },
    /// The watched conversation is no longer open (it was resolved): the
    /// watch is over; the history has it.
    WatchEnded { conversation: ConversationId },
    /// What this agent declared changed on another of its connections (an
    /// `availability` frame, or a `hello` with other settings): every
    /// connection of the agent shows the same. The connection that declared
    /// it is not sent this (it knows; the `welcome` confirms a `hello`'s).
    Availability { available: bool, capacity: u32 },
    /// The team's canned replies, by keyword: sent after `welcome` (when
    /// there are any) and to every connected agent whenever they change.
    Canned { replies: Vec<CannedReply> },
    /// Answer to `ping`.
    Pong {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        nonce: Option<u64>,
    },
    /// Something the client sent could not be done. The connection lives on
    /// unless `fatal` is true (the switchboard then closes it).
    Error {
        code: ErrorCode,
        message: String,
        /// The reply's `client_id` when a reply failed.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        conversation: Option<ConversationId>,
        #[serde(default)]
        fatal: bool,
    },
}

/// Machine-readable reason of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, unknown `type`, missing field, wrong version.
    BadFrame,
    /// The conversation is not assigned to this agent.
    NotAssigned,
    /// The customer texted STOP; nothing may be sent to them.
    OptedOut,
    /// Empty or oversized reply body.
    InvalidReply,
    /// A reply's pictures cannot be sent: not uploaded to this
    /// conversation, more than 10, or more than 5 MB together (the
    /// message says which).
    InvalidMedia,
    /// Transfer target unknown, offline or full.
    TransferRejected,
    /// The agent's connection fell behind and is being closed; reconnect and resume.
    SlowConsumer,
    /// Another connection signed in as the same agent.
    Superseded,
    /// The switchboard is shutting down; reconnect and resume.
    ShuttingDown,
    /// The switchboard could not store the request; retry it.
    Unavailable,
    /// This switchboard stopped routing (another instance leads now);
    /// reconnect — through the proxy — and resume.
    NotLeader,
    /// `take`: the conversation is not waiting in the queue (any more).
    NotQueued,
    /// `supervise` from an agent who is not a supervisor.
    NotSupervisor,
    /// A canned reply could not be saved or deleted (bad keyword, taken,
    /// empty or too long, unknown placeholder, no such reply).
    InvalidCanned,
    /// `reopen` of a conversation that is not resolved (waiting in the
    /// queue, held by someone, or unknown).
    ReopenRejected,
    /// `watch` of a conversation that is not open (resolved or unknown), or
    /// that this agent holds.
    NotOpen,
}

/// A frame on the wire: the version plus the frame's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<F> {
    pub v: u32,
    #[serde(flatten)]
    pub frame: F,
}

impl<F> Envelope<F> {
    pub fn new(frame: F) -> Self {
        Envelope {
            v: PROTOCOL_VERSION,
            frame,
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum DecodeError {
    /// Not valid JSON or not a known frame shape.
    Malformed(String),
    /// A frame of another protocol version.
    Version(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed(e) => write!(f, "malformed frame: {e}"),
            DecodeError::Version(v) => write!(
                f,
                "protocol version {v} is not supported (this switchboard speaks {PROTOCOL_VERSION})"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Serialises a frame with its version.
pub fn encode<F: Serialize>(frame: &F) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a, F> {
        v: u32,
        #[serde(flatten)]
        frame: &'a F,
    }
    // Serialising these plain data types cannot fail.
    serde_json::to_string(&Borrowed {
        v: PROTOCOL_VERSION,
        frame,
    })
    .unwrap_or_else(|e| {
        format!(r#"{{"v":{PROTOCOL_VERSION},"type":"error","code":"bad_frame","message":"{e}"}}"#)
    })
}

/// Parses a frame and checks its version. A frame without `v` is read as the
/// current version, so hand-written test frames stay short.
pub fn decode<F: for<'de> Deserialize<'de>>(text: &str) -> Result<F, DecodeError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        v: Option<u32>,
    }
    let version: VersionOnly =
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if let Some(v) = version.v {
        if v != PROTOCOL_VERSION {
            return Err(DecodeError::Version(v));
        }
    }
    serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_names_its_client_or_is_the_default_one() {
        let f: ClientFrame = decode(r#"{"v":1,"type":"hello"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Hello { client: None, .. }));
        let hello = ClientFrame::Hello {
            resume: BTreeMap::new(),
            available: None,
            capacity: None,
            client: Some("agent-ui-1".into()),
        };
        let text = encode(&hello);
        assert!(text.contains(r#""client":"agent-ui-1""#), "{text}");
        assert_eq!(decode::<ClientFrame>(&text).unwrap(), hello);
        // Without a client, the field is left out.
        let plain = ClientFrame::Hello {
            resume: BTreeMap::new(),
            available: None,
            capacity: None,
            client: None,
        };
        assert!(!encode(&plain).contains("client"));
        let told = encode(&ServerFrame::Availability {
            available: false,
            capacity: 2,
        });
        assert!(told.contains(r#""type":"availability""#), "{told}");
    }

    #[test]
    fn frames_carry_type_and_version() {
        let queue = ServerFrame::Queue {
            length: 3,
            entries: Vec::new(),
        };
        let text = encode(&queue);
        assert_eq!(text, r#"{"v":1,"type":"queue","length":3}"#);
        let back: ServerFrame = decode(&text).unwrap();
        assert_eq!(back, queue);
    }

    #[test]
    fn queue_entries_and_supervisor_are_optional_on_the_wire() {
        // A frame from a switchboard before entries existed still reads.
        let old: ServerFrame = decode(r#"{"type":"queue","length":2}"#).unwrap();
        assert!(matches!(old, ServerFrame::Queue { length: 2, entries } if entries.is_empty()));
        let welcome: ServerFrame = decode(
            r#"{"type":"welcome","agent":"a","available":true,"capacity":1,"queue_length":0}"#,
        )
        .unwrap();
        assert!(matches!(
            welcome,
            ServerFrame::Welcome {
                supervisor: false,
                ..
            }
        ));
        let entry = QueueEntry {
            conversation: "+15550001".into(),
            waiting_since_ms: 5,
            preview: "hi".into(),
            recent: vec!["hi".into()],
            opted_out: false,
        };
        let text = encode(&ServerFrame::Queue {
            length: 1,
            entries: vec![entry.clone()],
        });
        assert!(text.contains(r#""preview":"hi""#), "{text}");
        let f: ClientFrame = decode(r#"{"type":"take","conversation":"+15550001"}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Take {
                conversation: "+15550001".into()
            }
        );
        let f: ClientFrame = decode(r#"{"type":"supervise"}"#).unwrap();
        assert_eq!(f, ClientFrame::Supervise);
        let f: ClientFrame = decode(r#"{"type":"queue_window","limit":100}"#).unwrap();
        assert_eq!(f, ClientFrame::QueueWindow { limit: 100 });
        let f: ClientFrame = decode(r#"{"type":"watch","conversation":"+1555"}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Watch {
                conversation: "+1555".into()
            }
        );
        let f: ClientFrame = decode(r#"{"type":"unwatch"}"#).unwrap();
        assert_eq!(f, ClientFrame::Unwatch);
        let refused = encode(&ServerFrame::Error {
            code: ErrorCode::NotQueued,
            message: String::new(),
            client_id: None,
            conversation: None,
            fatal: false,
        });
        assert!(refused.contains(r#""code":"not_queued""#), "{refused}");
    }

    #[test]
    fn client_frames_decode_without_optional_fields() {
        let f: ClientFrame = decode(r#"{"type":"hello"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Hello { resume, .. } if resume.is_empty()));
        let f: ClientFrame =
            decode(r#"{"v":1,"type":"transfer","conversation":"+15550001"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Transfer { to: None, .. }));
    }

    #[test]
    fn notes_events_and_canned_frames_have_their_documented_shapes() {
        // A message from before timeline events decodes without `event`.
        let old = r#"{"conversation":"+1","seq":1,"direction":"outbound","body":"hi","at_ms":5}"#;
        let m: Message = serde_json::from_str(old).unwrap();
        assert_eq!(m.event, None);
        assert!(!m.direction.is_internal());
        // An event serialises its kind and names.
        let event = Message {
            direction: Direction::Event,
            event: Some(Box::new(TimelineEvent::Transferred {
                from: "alice".into(),
                to: None,
            })),
            ..m
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(
            text.contains(r#""direction":"event""#)
                && text.contains(r#""event":{"kind":"transferred","from":"alice"}"#),
            "{text}"
        );
        assert!(Direction::Note.is_internal() && Direction::Event.is_internal());
        assert_eq!(
            TimelineEvent::Resolved { by: "bob".into() }.describe(),
            "resolved by bob"
        );
        let f: ClientFrame =
            decode(r#"{"type":"transfer","conversation":"+1","to":"bob","note":"refund"}"#)
                .unwrap();
        assert!(matches!(f, ClientFrame::Transfer { note: Some(n), .. } if n == "refund"));
        let f: ClientFrame =
            decode(r#"{"type":"note","conversation":"+1","client_id":"n1","body":"vip"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Note { .. }));
        let f: ClientFrame =
            decode(r#"{"type":"canned_save","keyword":"hi","body":"Hi!"}"#).unwrap();
        assert!(matches!(f, ClientFrame::CannedSave { replaces: None, .. }));
        let canned = encode(&ServerFrame::Canned { replies: vec![] });
        assert_eq!(canned, r#"{"v":1,"type":"canned","replies":[]}"#);
    }

    #[test]
    fn wrong_version_and_garbage_are_rejected() {
        assert!(matches!(
            decode::<ClientFrame>(r#"{"v":2,"type":"ping"}"#),
            Err(DecodeError::Version(2))
        ));
        assert!(matches!(
            decode::<ClientFrame>("not json"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode::<ClientFrame>(r#"{"type":"launch_missiles"}"#),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn status_never_ranks_backwards() {
        assert!(DeliveryStatus::Delivered.rank() > DeliveryStatus::Sent.rank());
        assert_eq!(
            DeliveryStatus::Failed.rank(),
            DeliveryStatus::Delivered.rank()
        );
        assert_eq!(
            DeliveryStatus::from_twilio("queued"),
            Some(DeliveryStatus::Sending)
        );
        assert_eq!(DeliveryStatus::from_twilio("receiving"), None);
    }
}
