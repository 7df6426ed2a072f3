//! Wire types of the agent protocol (version [`PROTOCOL_VERSION`]).
//!
//! The switchboard and every agent client (the agent UI server, the test
//! clients, the benchmark) speak these JSON frames over one WebSocket per
//! agent. Every frame is an object with a `type` and the protocol version `v`.
//! `docs/protocol.md` describes the conversation between the two sides; this
//! file is the single definition of the shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// omitted or null).
    Transfer {
        conversation: ConversationId,
        #[serde(default)]
        to: Option<String>,
    },
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
    /// Current number of conversations waiting for an agent.
    Queue { length: usize },
    /// What this agent declared changed on another of its connections (an
    /// `availability` frame, or a `hello` with other settings): every
    /// connection of the agent shows the same. The connection that declared
    /// it is not sent this (it knows; the `welcome` confirms a `hello`'s).
    Availability { available: bool, capacity: u32 },
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
    /// `reopen` of a conversation that is not resolved (waiting in the
    /// queue, held by someone, or unknown).
    ReopenRejected,
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
        let text = encode(&ServerFrame::Queue { length: 3 });
        assert_eq!(text, r#"{"v":1,"type":"queue","length":3}"#);
        let back: ServerFrame = decode(&text).unwrap();
        assert_eq!(back, ServerFrame::Queue { length: 3 });
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
