//! Attribute names and the conversion between DynamoDB items and the
//! store's types. The layout itself is described in the module docs of
//! [`super`].

use super::super::{Result, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use switchboard_protocol::{
    DeliveryError, DeliveryStatus, Direction, Media, Message, Seq, TimelineEvent,
};

pub(super) type Item = HashMap<String, AttributeValue>;

/// Attribute names. Expressions always refer to them through `#` name
/// placeholders, since several (`status`, `to`, `error`) are DynamoDB
/// reserved words.
pub(super) mod attr {
    pub const CONVERSATION: &str = "conversation";
    pub const SEQ: &str = "seq";
    pub const DIRECTION: &str = "direction";
    /// A timeline event's details (JSON of `TimelineEvent`).
    pub const EVENT: &str = "event";
    pub const BODY: &str = "body";
    pub const AT_MS: &str = "at_ms";
    pub const MEDIA: &str = "media";
    pub const AGENT: &str = "agent";
    pub const CLIENT_ID: &str = "client_id";
    pub const STATUS: &str = "status";
    pub const STATUS_RANK: &str = "status_rank";
    pub const ERROR: &str = "error";
    pub const TWILIO_SID: &str = "twilio_sid";
    pub const DEDUPE: &str = "dedupe";
    pub const ATTEMPT: &str = "attempt";
    pub const OPT_CHANGE: &str = "opt_change";
    pub const TO: &str = "to";
    pub const COUNTRY: &str = "country";
    pub const OUTBOX: &str = "outbox";
    pub const LAST_SEQ: &str = "last_seq";
    pub const OPTED_OUT: &str = "opted_out";
    pub const ID: &str = "id";
    pub const ROUTE: &str = "route";
    pub const OWNER: &str = "owner";
    pub const FROM: &str = "from";
}

/// Value of the sparse `outbox` attribute while a reply is unsettled.
pub(super) const OUTBOX_PENDING: &str = "pending";

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub(super) fn get_bool(item: &Item, name: &str) -> Option<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Some(*v),
        _ => None,
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn required_s<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    get_s(item, name).ok_or_else(|| corrupt(format!("item without `{name}`")))
}

fn required_n(item: &Item, name: &str) -> Result<u64> {
    get_n(item, name).ok_or_else(|| corrupt(format!("item without a numeric `{name}`")))
}

/// A unit enum as the string serde gives it (`"inbound"`, `"delivered"`).
pub(super) fn enum_str<T: Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value).map_err(corrupt)? {
        serde_json::Value::String(text) => Ok(text),
        other => Err(corrupt(format!("{other} is not a unit enum"))),
    }
}

fn parse_enum<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(corrupt)
}

/// Lookup ids: one namespace for Twilio SIDs (inbound MessageSids and the
/// SIDs Twilio gives our replies), one for replies by client id, one for
/// statuses that arrived before their SID was known.
pub(super) fn sid_id(sid: &str) -> String {
    format!("sid:{sid}")
}

pub(super) fn reply_id(agent: &str, client_id: &str) -> String {
    // Agent names never contain `/` (see config), so this cannot collide.
    format!("reply:{agent}/{client_id}")
}

pub(super) fn early_id(sid: &str) -> String {
    format!("early:{sid}")
}

/// The send intent of the reply at `conversation`/`seq` (conversation ids
/// are E.164 numbers, so the `/` cannot collide).
pub(super) fn intent_id(conversation: &str, seq: u64) -> String {
    format!("intent:{conversation}/{seq}")
}

/// What the store needs to know about a message item beyond the message:
/// enough for anyone to finish its bookkeeping (lookup entry, conversation
/// record) if its writer stopped half-way.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub conversation: String,
    pub seq: Seq,
    /// Lookup id that makes it unique (`sid:…` or `reply:…`).
    pub dedupe: String,
    /// Random token of the write that claimed the seq.
    pub attempt: String,
    /// The opt-out state this message switched the conversation to.
    pub opt_change: Option<bool>,
    pub to: Option<String>,
    pub country: Option<String>,
}

impl Slot {
    pub fn from_item(item: &Item) -> Result<Slot> {
        Ok(Slot {
            conversation: required_s(item, attr::CONVERSATION)?.to_string(),
            seq: required_n(item, attr::SEQ)?,
            dedupe: required_s(item, attr::DEDUPE)?.to_string(),
            attempt: get_s(item, attr::ATTEMPT).unwrap_or_default().to_string(),
            opt_change: get_bool(item, attr::OPT_CHANGE),
            to: get_s(item, attr::TO).map(str::to_string),
            country: get_s(item, attr::COUNTRY).map(str::to_string),
        })
    }
}

/// The item of a new message. `outbox` marks a reply as unsettled.
pub(super) fn message_item(message: &Message, slot: &Slot, outbox: bool) -> Result<Item> {
    let mut item = Item::new();
    item.insert(attr::CONVERSATION.into(), s(&message.conversation));
    item.insert(attr::SEQ.into(), n(message.seq));
    item.insert(attr::DIRECTION.into(), s(enum_str(&message.direction)?));
    // Empty strings are omitted rather than stored: older DynamoDB
    // versions and some emulators refuse them.
    if !message.body.is_empty() {
        item.insert(attr::BODY.into(), s(&message.body));
    }
    item.insert(attr::AT_MS.into(), n(message.at_ms));
    if !message.media.is_empty() {
        item.insert(
            attr::MEDIA.into(),
            s(serde_json::to_string(&message.media).map_err(corrupt)?),
        );
    }
    if let Some(agent) = &message.agent {
        item.insert(attr::AGENT.into(), s(agent));
    }
    if let Some(client_id) = &message.client_id {
        item.insert(attr::CLIENT_ID.into(), s(client_id));
    }
    if let Some(status) = message.status {
        item.insert(attr::STATUS.into(), s(enum_str(&status)?));
        item.insert(attr::STATUS_RANK.into(), n(status.rank().into()));
    }
    if let Some(error) = &message.error {
        item.insert(
            attr::ERROR.into(),
            s(serde_json::to_string(error).map_err(corrupt)?),
        );
    }
    if let Some(event) = &message.event {
        item.insert(
            attr::EVENT.into(),
            s(serde_json::to_string(event).map_err(corrupt)?),
        );
    }
    item.insert(attr::DEDUPE.into(), s(&slot.dedupe));
    item.insert(attr::ATTEMPT.into(), s(&slot.attempt));
    if let Some(opted_out) = slot.opt_change {
        item.insert(attr::OPT_CHANGE.into(), AttributeValue::Bool(opted_out));
    }
    if let Some(to) = &slot.to {
        item.insert(attr::TO.into(), s(to));
    }
    if let Some(country) = &slot.country {
        item.insert(attr::COUNTRY.into(), s(country));
    }
    if outbox {
        item.insert(attr::OUTBOX.into(), s(OUTBOX_PENDING));
    }
    Ok(item)
}

/// The message an item holds, as agents see it.
pub(super) fn message_from_item(item: &Item) -> Result<Message> {
    let media: Vec<Media> = match get_s(item, attr::MEDIA) {
        Some(json) => serde_json::from_str(json).map_err(corrupt)?,
        None => Vec::new(),
    };
    let status: Option<DeliveryStatus> = get_s(item, attr::STATUS).map(parse_enum).transpose()?;
    let error: Option<DeliveryError> = match get_s(item, attr::ERROR) {
        Some(json) => Some(serde_json::from_str(json).map_err(corrupt)?),
        None => None,
    };
    let direction: Direction = parse_enum(required_s(item, attr::DIRECTION)?)?;
    // An inbound message's dedupe id is its MessageSid (`sid_id`).
    let sid = match direction {
        Direction::Inbound => get_s(item, attr::DEDUPE)
            .and_then(|id| id.strip_prefix("sid:"))
            .map(str::to_string),
        Direction::Outbound | Direction::Note | Direction::Event => None,
    };
    let event: Option<Box<TimelineEvent>> = match get_s(item, attr::EVENT) {
        Some(json) => Some(serde_json::from_str(json).map_err(corrupt)?),
        None => None,
    };
    Ok(Message {
        conversation: required_s(item, attr::CONVERSATION)?.to_string(),
        seq: required_n(item, attr::SEQ)?,
        direction,
        body: get_s(item, attr::BODY).unwrap_or_default().to_string(),
        at_ms: get_n(item, attr::AT_MS).unwrap_or(0),
        media,
        agent: get_s(item, attr::AGENT).map(str::to_string),
        client_id: get_s(item, attr::CLIENT_ID).map(str::to_string),
        status,
        error,
        sid,
        event,
    })
}

/// A stream record's image in the DynamoDB client's own attribute type, so
/// one set of conversions serves both.
pub(super) fn from_stream_item(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Item {
    image
        .iter()
        .map(|(k, v)| (k.clone(), from_stream_value(v)))
        .collect()
}

fn from_stream_value(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> AttributeValue {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    match value {
        S::S(v) => AttributeValue::S(v.clone()),
        S::N(v) => AttributeValue::N(v.clone()),
        S::B(v) => AttributeValue::B(v.clone()),
        S::Bool(v) => AttributeValue::Bool(*v),
        S::Null(v) => AttributeValue::Null(*v),
        S::Ss(v) => AttributeValue::Ss(v.clone()),
        S::Ns(v) => AttributeValue::Ns(v.clone()),
        S::Bs(v) => AttributeValue::Bs(v.clone()),
        S::L(v) => AttributeValue::L(v.iter().map(from_stream_value).collect()),
        S::M(v) => AttributeValue::M(
            v.iter()
                .map(|(k, v)| (k.clone(), from_stream_value(v)))
                .collect(),
        ),
        _ => AttributeValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        Slot {
            conversation: "+15550001".into(),
            seq: 7,
            dedupe: reply_id("alice", "c1"),
            attempt: "a1".into(),
            opt_change: None,
            to: None,
            country: None,
        }
    }

    #[test]
    fn messages_round_trip_through_items() {
        let message = Message {
            conversation: "+15550001".into(),
            seq: 7,
            direction: Direction::Outbound,
            body: String::new(),
            at_ms: 1234,
            media: vec![Media {
                url: "files/a.jpg".into(),
                content_type: "image/jpeg".into(),
            }],
            agent: Some("alice".into()),
            client_id: Some("c1".into()),
            status: Some(DeliveryStatus::Failed),
            error: Some(DeliveryError {
                code: Some(21610),
                message: "unsubscribed".into(),
            }),
            sid: None,
            event: None,
        };
        let item = message_item(&message, &slot(), true).unwrap();
        assert!(
            !item.contains_key(attr::BODY),
            "empty strings are not stored"
        );
        assert_eq!(get_s(&item, attr::OUTBOX), Some(OUTBOX_PENDING));
        assert_eq!(get_n(&item, attr::STATUS_RANK), Some(3));
        assert_eq!(message_from_item(&item).unwrap(), message);
        let back = Slot::from_item(&item).unwrap();
        assert_eq!(back.dedupe, "reply:alice/c1");
        assert_eq!(back.seq, 7);
    }

    #[test]
    fn a_timeline_event_round_trips_with_its_details_and_no_outbox_mark() {
        let event = Message {
            conversation: "+15550001".into(),
            seq: 8,
            direction: Direction::Event,
            body: "wants a refund".into(),
            at_ms: 1235,
            media: Vec::new(),
            agent: Some("alice".into()),
            client_id: Some("event:transferred:1235".into()),
            status: None,
            error: None,
            sid: None,
            event: Some(Box::new(TimelineEvent::Transferred {
                from: "alice".into(),
                to: Some("bob".into()),
            })),
        };
        let item = message_item(&event, &slot(), false).unwrap();
        assert!(!item.contains_key(attr::OUTBOX));
        assert_eq!(message_from_item(&item).unwrap(), event);
    }

    #[test]
    fn an_inbound_message_gets_its_message_sid_back_from_its_dedupe_id() {
        let inbound = crate::store::InboundMessage {
            message_sid: "SM0123456789abcdef0123456789abcdef".into(),
            from: "+15550001".into(),
            to: "+15559999".into(),
            body: "hello".into(),
            country: None,
            media: Vec::new(),
            at_ms: 1234,
        };
        let message = inbound.to_message(7);
        let slot = Slot {
            dedupe: sid_id(&inbound.message_sid),
            ..slot()
        };
        let item = message_item(&message, &slot, false).unwrap();
        assert_eq!(message_from_item(&item).unwrap(), message);
        assert_eq!(message.sid.as_deref(), Some(inbound.message_sid.as_str()));
    }
}
