//! The browser WebSocket's frames, as `docs/agent-ui.md` defines them.
//!
//! Server → browser frames ([`BrowserFrame`]) mirror the switchboard's agent protocol
//! with every message enriched ([`EnrichedMessage`]) and a few frames of the agent UI's
//! own (`state`, `upstream`, `relabel`). Browser → server frames ([`BrowserCommand`])
//! are the protocol's client frames without `v`; [`parse_command`] validates them
//! before anything is forwarded upstream, so a broken page cannot make the upstream
//! session misbehave.

use serde::{Deserialize, Serialize};
use switchboard_protocol::{
    AgentLoad, AgentPresence, CannedReply, ClientFrame, ConversationId, ConversationInfo,
    DeliveryError, DeliveryStatus, ErrorCode, Media, Message, Seq, UnassignReason, MAX_NOTE_CHARS,
};

/// Most pictures one reply may carry (Twilio's limit; the switchboard
/// checks it too, with the size).
pub const MAX_REPLY_MEDIA: usize = 10;

use crate::sentiment::{Label, WordScore};

/// Longest `client_id` the switchboard accepts (`docs/protocol.md`).
const MAX_CLIENT_ID_CHARS: usize = 128;
/// Conversation ids are E.164 numbers; anything much longer is garbage.
const MAX_CONVERSATION_CHARS: usize = 32;
/// The switchboard's longest canned reply (`canned::rules::MAX_BODY_CHARS`).
const MAX_CANNED_BODY_CHARS: usize = 1600;
/// Sanity bound on capacity, so a typo cannot ask for a million conversations.
pub const MAX_CAPACITY: u32 = 100;

/// Whether the agent UI currently has a live session with the switchboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamStatus {
    Connected,
    Reconnecting,
}

/// A humanized time and the exact local time behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeLabel {
    /// "a few seconds ago", "5 minutes ago", … (kept current with `relabel`).
    pub label: String,
    /// The server's local time, "2026-11-21 14:03:07", for the hover title.
    pub exact: String,
}

/// What the sentiment analysis says about an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentView {
    pub score: f32,
    pub label: Label,
    /// The words that drove the score, with their contributions.
    pub words: Vec<WordScore>,
}

/// A switchboard message plus what the agent UI adds before a browser sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrichedMessage {
    #[serde(flatten)]
    pub message: Message,
    /// Inbound messages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<SentimentView>,
    pub time: TimeLabel,
}

/// How long the customer's unanswered messages have been waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// `at_ms` of the first inbound message after the agent's last reply.
    pub since_ms: u64,
    /// Humanized, like a message's time label.
    pub label: String,
}

/// One conversation as the browser shows it (`state.conversations[]`, `assigned`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub info: ConversationInfo,
    /// Inbound messages after the agent's last reply.
    pub unread: u32,
    /// `null` when the agent wrote last.
    pub waiting: Option<Waiting>,
    /// Oldest first.
    pub messages: Vec<EnrichedMessage>,
}

/// One conversation waiting for an agent, as the Queue view lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntryView {
    pub conversation: ConversationId,
    /// Since the customer's first unanswered message.
    pub waiting: Waiting,
    /// That first unanswered message.
    pub preview: String,
    /// The customer has no unanswered message: an agent answered last (a
    /// conversation returned to the queue), so `preview` is empty and
    /// there is no mood to read.
    pub answered: bool,
    /// The worst mood among the customer's newest unanswered messages.
    pub mood: Label,
    pub opted_out: bool,
}

/// One open conversation, as a supervisor's All view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenConversationView {
    pub conversation: ConversationId,
    /// Who holds it; `null` while it waits in the queue.
    pub agent: Option<String>,
    /// Queued: since when it waits; assigned: since when its holder has it.
    pub since: Waiting,
}

/// The supervisor's live panel and All view (`overview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverviewView {
    /// Every open conversation, the longest waiting first, then the others
    /// by how long their holder has had them.
    pub conversations: Vec<OpenConversationView>,
    /// Every agent: online, available, load and capacity.
    pub agents: Vec<AgentLoad>,
    /// Conversations waiting for an agent.
    pub queue_length: usize,
    /// Since when the longest-waiting customer waits; `null` when nobody does.
    pub longest_wait: Option<Waiting>,
}

/// The full picture a browser starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub agent: String,
    pub available: bool,
    pub capacity: u32,
    pub queue_length: usize,
    pub upstream: UpstreamStatus,
    pub upstream_detail: String,
    pub agents: Vec<AgentPresence>,
    /// The team's canned replies, by keyword.
    pub canned: Vec<CannedReply>,
    pub conversations: Vec<ConversationView>,
    /// The Queue view's list (the longest waiting, in queue order).
    pub queue: Vec<QueueEntryView>,
    /// This agent may see the All view and the live panel (`SUPERVISORS`).
    pub supervisor: bool,
    /// The supervisor's overview; `null` for others (and until it arrives).
    pub overview: Option<OverviewView>,
    /// The conversation a supervisor reads without holding it (`watch`), or
    /// `null`.
    pub watching: Option<WatchedView>,
}

/// A conversation a supervisor reads without holding it (`watching`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchedView {
    /// As a held one is shown (`unread` is always 0: reading it is not
    /// answering it).
    pub conversation: ConversationView,
    /// Who holds it when the watch began; `null` while it waits. The
    /// overview says who holds it now.
    pub holder: Option<String>,
}

/// A humanized message time that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relabel {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub label: String,
}

/// A conversation's waiting label that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingRelabel {
    pub conversation: ConversationId,
    pub label: String,
}

/// Machine-readable reason of an `error` frame to the browser: the switchboard's
/// codes plus the agent UI's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserErrorCode {
    BadFrame,
    NotAssigned,
    OptedOut,
    InvalidReply,
    /// A reply's pictures cannot be sent (not uploaded here, too many, too
    /// large together).
    InvalidMedia,
    TransferRejected,
    /// `take`: the conversation no longer waits in the queue.
    NotQueued,
    /// `supervise` (the All view) from an agent who is not a supervisor.
    NotSupervisor,
    /// `reopen` of a conversation that is not resolved.
    ReopenRejected,
    /// `watch` of a conversation that is not open (or is the agent's own).
    NotOpen,
    /// The switchboard is unreachable (or could not store it): retry.
    Unavailable,
    /// A canned reply could not be saved or deleted (the message says why).
    InvalidCanned,
    /// Another client signed in as this agent; this console is signed out.
    Superseded,
    /// The switchboard no longer accepts this agent's password; sign in again.
    SignedOut,
}

impl From<ErrorCode> for BrowserErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadFrame => Self::BadFrame,
            ErrorCode::NotAssigned => Self::NotAssigned,
            ErrorCode::OptedOut => Self::OptedOut,
            ErrorCode::InvalidReply => Self::InvalidReply,
            ErrorCode::InvalidMedia => Self::InvalidMedia,
            ErrorCode::TransferRejected => Self::TransferRejected,
            ErrorCode::InvalidCanned => Self::InvalidCanned,
            ErrorCode::ReopenRejected => Self::ReopenRejected,
            ErrorCode::Superseded => Self::Superseded,
            ErrorCode::NotQueued => Self::NotQueued,
            ErrorCode::NotSupervisor => Self::NotSupervisor,
            ErrorCode::NotOpen => Self::NotOpen,
            // Fatal connection-level codes become a reconnect; if one is ever shown,
            // "try again" is what it means to the agent.
            ErrorCode::SlowConsumer
            | ErrorCode::ShuttingDown
            | ErrorCode::Unavailable
            | ErrorCode::NotLeader => Self::Unavailable,
        }
    }
}

/// Frames the agent UI sends to the browser.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BrowserFrame {
    State(Snapshot),
    Upstream {
        status: UpstreamStatus,
        detail: String,
    },
    Assigned {
        conversation: ConversationView,
    },
    Message {
        message: EnrichedMessage,
        /// The conversation's unread count and waiting label after this message.
        unread: u32,
        waiting: Option<Waiting>,
    },
    Status {
        conversation: ConversationId,
        seq: Seq,
        status: DeliveryStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<DeliveryError>,
    },
    /// The conversation's unread count changed because the agent read it (in
    /// any tab); new messages carry theirs in `message`.
    Unread {
        conversation: ConversationId,
        unread: u32,
    },
    OptOut {
        conversation: ConversationId,
        opted_out: bool,
        /// The conversation's waiting after the change: `None` while opted out
        /// (no reply can reach the customer), running again after START.
        waiting: Option<Waiting>,
    },
    Unassigned {
        conversation: ConversationId,
        reason: UnassignReason,
    },
    Queue {
        length: usize,
        entries: Vec<QueueEntryView>,
    },
    Overview(OverviewView),
    /// A supervisor's `watch` began (or began again after a reconnect): the
    /// conversation with every message. Its new messages, statuses and
    /// opt-out changes come as `message`, `status` and `opt_out` frames.
    Watching(WatchedView),
    /// The watched conversation was resolved: the watch is over.
    WatchEnded {
        conversation: ConversationId,
    },
    Presence {
        agents: Vec<AgentPresence>,
    },
    Availability {
        available: bool,
        capacity: u32,
    },
    Ack {
        client_id: String,
        conversation: ConversationId,
        seq: Seq,
    },
    Error {
        code: BrowserErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation: Option<ConversationId>,
    },
    Relabel {
        labels: Vec<Relabel>,
        waiting: Vec<WaitingRelabel>,
    },
    /// The team's canned replies changed (the whole list).
    Canned {
        replies: Vec<CannedReply>,
    },
}

impl BrowserFrame {
    /// The frame as JSON text. Serialising these plain data types cannot fail; the
    /// fallback only keeps the signature honest.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not serialise a browser frame");
            r#"{"type":"error","code":"unavailable","message":"internal error"}"#.to_string()
        })
    }

    /// An `error` frame without a reply or conversation attached.
    pub fn error(code: BrowserErrorCode, message: impl Into<String>) -> Self {
        BrowserFrame::Error {
            code,
            message: message.into(),
            client_id: None,
            conversation: None,
        }
    }
}

/// Frames the browser may send; anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BrowserCommand {
    Availability {
        available: bool,
        capacity: u32,
    },
    Reply {
        conversation: ConversationId,
        client_id: String,
        /// May be empty when `media` is not.
        body: String,
        /// Pictures uploaded through `POST /media/{conversation}`, by the
        /// `url` it answered (the switchboard checks them).
        #[serde(default)]
        media: Vec<Media>,
    },
    /// A private note in the conversation's timeline (never sent).
    Note {
        conversation: ConversationId,
        client_id: String,
        body: String,
    },
    Resolve {
        conversation: ConversationId,
    },
    /// Take a resolved conversation back (the Resolved view, past
    /// conversations).
    Reopen {
        conversation: ConversationId,
    },
    Transfer {
        conversation: ConversationId,
        #[serde(default)]
        to: Option<String>,
        /// For the next holder; lands in the timeline with the transfer.
        #[serde(default)]
        note: Option<String>,
    },
    /// Create or edit a canned reply (`replaces`: the keyword being renamed).
    CannedSave {
        keyword: String,
        body: String,
        #[serde(default)]
        replaces: Option<String>,
    },
    /// Delete a canned reply.
    CannedDelete {
        keyword: String,
    },
    /// Take a conversation from the queue (the Queue view's Take).
    Take {
        conversation: ConversationId,
    },
    /// Open the All view: supervisors get the overview, others a refusal.
    Supervise {},
    /// List more of the queue (the Queue view's "Show more").
    QueueWindow {
        limit: usize,
    },
    /// Read a conversation someone else holds (a supervisor, from All).
    Watch {
        conversation: ConversationId,
    },
    /// Stop reading it.
    Unwatch {},
    /// The agent has seen `conversation` up to `seq` in some tab.
    Read {
        conversation: ConversationId,
        seq: Seq,
    },
}

/// What a valid browser frame asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A frame for the switchboard.
    Upstream(ClientFrame),
    /// The agent has read `conversation` up to `seq`: the agent UI server's own
    /// business (unread counts), never sent upstream.
    Read {
        conversation: ConversationId,
        seq: Seq,
    },
}

/// Why a browser frame was refused: the `error` frame to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: BrowserErrorCode,
    pub message: String,
    pub client_id: Option<String>,
    pub conversation: Option<ConversationId>,
}

impl From<Refusal> for BrowserFrame {
    fn from(r: Refusal) -> Self {
        BrowserFrame::Error {
            code: r.code,
            message: r.message,
            client_id: r.client_id,
            conversation: r.conversation,
        }
    }
}

/// Parses and validates one browser frame: a client frame to send upstream, or a
/// `read` for the agent UI server itself.
pub fn parse_command(text: &str) -> Result<Parsed, Refusal> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Refusal {
        code: BrowserErrorCode::BadFrame,
        message: format!("not JSON: {e}"),
        client_id: None,
        conversation: None,
    })?;
    // Echo the reply's ids in the error even when the frame is broken, so the page can
    // mark the right message as failed.
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(MAX_CLIENT_ID_CHARS).collect::<String>())
    };
    let refuse = |code, message: String| Refusal {
        code,
        message,
        client_id: field("client_id"),
        conversation: field("conversation"),
    };
    let command: BrowserCommand = serde_json::from_value(value.clone())
        .map_err(|e| refuse(BrowserErrorCode::BadFrame, format!("unexpected frame: {e}")))?;
    let check_conversation = |c: &str| {
        if c.is_empty() || c.chars().count() > MAX_CONVERSATION_CHARS {
            Err(refuse(
                BrowserErrorCode::BadFrame,
                format!("`{c}` is not a conversation id"),
            ))
        } else {
            Ok(())
        }
    };
    Ok(Parsed::Upstream(match command {
        BrowserCommand::Read { conversation, seq } => {
            check_conversation(&conversation)?;
            return Ok(Parsed::Read { conversation, seq });
        }
        BrowserCommand::Availability {
            available,
            capacity,
        } => {
            if capacity > MAX_CAPACITY {
                return Err(refuse(
                    BrowserErrorCode::BadFrame,
                    format!("capacity must be at most {MAX_CAPACITY}"),
                ));
            }
            ClientFrame::Availability {
                available,
                capacity,
            }
        }
        BrowserCommand::Reply {
            conversation,
            client_id,
            body,
            media,
        } => {
            check_conversation(&conversation)?;
            let id_len = client_id.chars().count();
            if id_len == 0 || id_len > MAX_CLIENT_ID_CHARS {
                return Err(refuse(
                    BrowserErrorCode::BadFrame,
                    format!("client_id must be 1–{MAX_CLIENT_ID_CHARS} characters"),
                ));
            }
            if body.trim().is_empty() && media.is_empty() {
                return Err(refuse(
                    BrowserErrorCode::InvalidReply,
                    "an empty reply is not sent".into(),
                ));
            }
            // The switchboard checks the pictures; here only their number and
            // links' length, so a broken page cannot send megabytes upstream.
            if media.len() > MAX_REPLY_MEDIA || media.iter().any(|m| m.url.len() > 1024) {
                return Err(refuse(
                    BrowserErrorCode::InvalidMedia,
                    format!("at most {MAX_REPLY_MEDIA} pictures can be sent in one message"),
                ));
            }
            ClientFrame::Reply {
                conversation,
                client_id,
                body,
                media,
            }
        }
        // The switchboard checks the rules (`canned::rules`); here only the size,
        // so a broken page cannot send megabytes upstream.
        BrowserCommand::CannedSave {
            keyword,
            body,
            replaces,
        } => {
            if keyword.len() > 64
                || body.chars().count() > 2 * MAX_CANNED_BODY_CHARS
                || replaces.as_ref().is_some_and(|r| r.len() > 64)
            {
                return Err(refuse(
                    BrowserErrorCode::InvalidCanned,
                    "that canned reply is far too long".into(),
                ));
            }
            ClientFrame::CannedSave {
                keyword,
                body,
                replaces,
            }
        }
        BrowserCommand::CannedDelete { keyword } => {
            if keyword.len() > 64 {
                return Err(refuse(
                    BrowserErrorCode::InvalidCanned,
                    "that is not a keyword".into(),
                ));
            }
            ClientFrame::CannedDelete { keyword }
        }
        BrowserCommand::Resolve { conversation } => {
            check_conversation(&conversation)?;
            ClientFrame::Resolve { conversation }
        }
        BrowserCommand::Take { conversation } => {
            check_conversation(&conversation)?;
            ClientFrame::Take { conversation }
        }
        BrowserCommand::Supervise {} => ClientFrame::Supervise,
        // The switchboard clamps it to its bounds.
        BrowserCommand::QueueWindow { limit } => ClientFrame::QueueWindow { limit },
        BrowserCommand::Watch { conversation } => {
            check_conversation(&conversation)?;
            ClientFrame::Watch { conversation }
        }
        BrowserCommand::Unwatch {} => ClientFrame::Unwatch,
        BrowserCommand::Note {
            conversation,
            client_id,
            body,
        } => {
            check_conversation(&conversation)?;
            let id_len = client_id.chars().count();
            if id_len == 0 || id_len > MAX_CLIENT_ID_CHARS {
                return Err(refuse(
                    BrowserErrorCode::BadFrame,
                    format!("client_id must be 1–{MAX_CLIENT_ID_CHARS} characters"),
                ));
            }
            if let Some(problem) = note_problem(&body) {
                return Err(refuse(BrowserErrorCode::InvalidReply, problem));
            }
            ClientFrame::Note {
                conversation,
                client_id,
                body,
            }
        }
        BrowserCommand::Reopen { conversation } => {
            check_conversation(&conversation)?;
            ClientFrame::Reopen { conversation }
        }
        BrowserCommand::Transfer {
            conversation,
            to,
            note,
        } => {
            check_conversation(&conversation)?;
            // The page's "queue" choice may arrive as an empty name.
            let to = to.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            let note = note.filter(|n| !n.trim().is_empty());
            if let Some(problem) = note.as_deref().and_then(note_problem) {
                return Err(refuse(
                    BrowserErrorCode::TransferRejected,
                    format!("transfer note: {problem}"),
                ));
            }
            ClientFrame::Transfer {
                conversation,
                to,
                note,
            }
        }
    }))
}

/// Why a note cannot be stored (the switchboard's rule, checked here first so
/// the page hears it at once).
fn note_problem(body: &str) -> Option<String> {
    if body.trim().is_empty() {
        Some("an empty note is not stored".into())
    } else if body.chars().count() > MAX_NOTE_CHARS {
        Some(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_commands_become_client_frames() {
        assert_eq!(
            parse_command(r#"{"type":"availability","available":true,"capacity":3}"#),
            Ok(Parsed::Upstream(ClientFrame::Availability {
                available: true,
                capacity: 3
            }))
        );
        assert_eq!(
            parse_command(r#"{"type":"reopen","conversation":"+15550001"}"#),
            Ok(Parsed::Upstream(ClientFrame::Reopen {
                conversation: "+15550001".into(),
            }))
        );
        assert_eq!(
            parse_command(r#"{"type":"transfer","conversation":"+15550001","to":""}"#),
            Ok(Parsed::Upstream(ClientFrame::Transfer {
                conversation: "+15550001".into(),
                to: None,
                note: None,
            }))
        );
        assert_eq!(
            parse_command(r#"{"type":"take","conversation":"+15550001"}"#),
            Ok(Parsed::Upstream(ClientFrame::Take {
                conversation: "+15550001".into()
            }))
        );
        assert_eq!(
            parse_command(r#"{"type":"supervise"}"#),
            Ok(Parsed::Upstream(ClientFrame::Supervise))
        );
        assert_eq!(
            parse_command(r#"{"type":"queue_window","limit":100}"#),
            Ok(Parsed::Upstream(ClientFrame::QueueWindow { limit: 100 }))
        );
        assert_eq!(
            parse_command(r#"{"type":"watch","conversation":"+15550001"}"#),
            Ok(Parsed::Upstream(ClientFrame::Watch {
                conversation: "+15550001".into()
            }))
        );
        assert_eq!(
            parse_command(r#"{"type":"unwatch"}"#),
            Ok(Parsed::Upstream(ClientFrame::Unwatch))
        );
        assert!(parse_command(r#"{"type":"watch","conversation":""}"#).is_err());
        assert_eq!(
            parse_command(
                r#"{"type":"transfer","conversation":"+1","to":"bob","note":"wants a refund"}"#
            ),
            Ok(Parsed::Upstream(ClientFrame::Transfer {
                conversation: "+1".into(),
                to: Some("bob".into()),
                note: Some("wants a refund".into()),
            }))
        );
        assert!(matches!(
            parse_command(r#"{"type":"note","conversation":"+1","client_id":"n1","body":"vip"}"#),
            Ok(Parsed::Upstream(ClientFrame::Note { .. }))
        ));
        assert!(matches!(
            parse_command(r#"{"type":"reply","conversation":"+1","client_id":"c1","body":"hi"}"#),
            Ok(Parsed::Upstream(ClientFrame::Reply { .. }))
        ));
        assert_eq!(
            parse_command(r#"{"type":"read","conversation":"+1","seq":4}"#),
            Ok(Parsed::Read {
                conversation: "+1".into(),
                seq: 4
            })
        );
    }

    #[test]
    fn a_reply_may_carry_pictures_and_then_no_text_but_not_more_than_ten() {
        let picture = r#"{"url":"/files/media/%2B1/outbound/a.png","content_type":"image/png"}"#;
        assert_eq!(
            parse_command(&format!(
                r#"{{"type":"reply","conversation":"+1","client_id":"p1","body":"","media":[{picture}]}}"#
            )),
            Ok(Parsed::Upstream(ClientFrame::Reply {
                conversation: "+1".into(),
                client_id: "p1".into(),
                body: String::new(),
                media: vec![Media {
                    url: "/files/media/%2B1/outbound/a.png".into(),
                    content_type: "image/png".into(),
                }],
            }))
        );
        let eleven = [picture; 11].join(",");
        let r = parse_command(&format!(
            r#"{{"type":"reply","conversation":"+1","client_id":"p2","body":"x","media":[{eleven}]}}"#
        ))
        .unwrap_err();
        assert_eq!(r.code, BrowserErrorCode::InvalidMedia);
        assert_eq!(r.client_id.as_deref(), Some("p2"));
    }

    #[test]
    fn bad_frames_are_refused_with_their_ids() {
        let r =
            parse_command(r#"{"type":"reply","conversation":"+1","client_id":"c1","body":"  "}"#)
                .unwrap_err();
        assert_eq!(r.code, BrowserErrorCode::InvalidReply);
        assert_eq!(r.client_id.as_deref(), Some("c1"));
        assert_eq!(r.conversation.as_deref(), Some("+1"));

        let r = parse_command(r#"{"type":"note","conversation":"+1","client_id":"n1","body":""}"#)
            .unwrap_err();
        assert_eq!(r.code, BrowserErrorCode::InvalidReply);
        assert_eq!(r.client_id.as_deref(), Some("n1"));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        let r = parse_command(&format!(
            r#"{{"type":"transfer","conversation":"+1","to":"bob","note":"{long}"}}"#
        ))
        .unwrap_err();
        assert_eq!(r.code, BrowserErrorCode::TransferRejected);

        let r =
            parse_command(r#"{"type":"reply","conversation":"+1","client_id":"c2"}"#).unwrap_err();
        assert_eq!(r.code, BrowserErrorCode::BadFrame);
        assert_eq!(r.client_id.as_deref(), Some("c2"));

        for text in [
            "nope",
            r#"{"type":"hello"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"availability","available":true,"capacity":1000}"#,
            r#"{"type":"resolve","conversation":""}"#,
            r#"{"type":"resolve","conversation":"+1","extra":1}"#,
            r#"{"type":"read","conversation":"+1"}"#,
            r#"{"type":"read","conversation":"","seq":1}"#,
            r#"{"type":"take","conversation":""}"#,
            r#"{"type":"supervise","agent":"alice"}"#,
        ] {
            assert_eq!(
                parse_command(text).unwrap_err().code,
                BrowserErrorCode::BadFrame,
                "{text}"
            );
        }
    }

    #[test]
    fn frames_serialise_with_their_type() {
        let text = BrowserFrame::Upstream {
            status: UpstreamStatus::Reconnecting,
            detail: "x".into(),
        }
        .to_json();
        assert_eq!(
            text,
            r#"{"type":"upstream","status":"reconnecting","detail":"x"}"#
        );
        let text = BrowserFrame::error(BrowserErrorCode::BadFrame, "m").to_json();
        assert_eq!(text, r#"{"type":"error","code":"bad_frame","message":"m"}"#);
    }
}
