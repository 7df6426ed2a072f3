//! The in-memory conversation log: every store operation as a plain,
//! synchronous function over maps, deciding through the conversation rules
//! ([`crate::conversation`]). No I/O — the in-memory store wraps it in a
//! lock, and the property tests drive it directly.

use crate::conversation::status::{self as status_rule, StatusReport};
use crate::conversation::{self, inbound, reply, Dedupe};
use crate::store::{
    Appended, Change, ChangeId, ConversationRecord, InboundMessage, Reply, ReplyOutcome, Result,
    StatusOutcome, StatusTarget, StatusUpdate, StoreError,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchboard_protocol::{ConversationId, Direction, Message, Seq};

/// A message's position: `(conversation, seq)`.
pub type Position = (ConversationId, Seq);

/// Everything an in-memory store holds (routing state aside).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryLog {
    /// Conversation metadata, by customer number.
    conversations: HashMap<ConversationId, ConversationRecord>,
    /// Every message, in `(conversation, seq)` order.
    messages: BTreeMap<Position, Message>,
    /// Twilio SIDs — an inbound `MessageSid` or an outbound message's SID,
    /// one namespace as in Twilio — to the message's position.
    sids: HashMap<String, Position>,
    /// A reply's `(agent, client_id)` to its position.
    replies: HashMap<(String, String), Position>,
    /// Statuses that arrived before their SID was recorded.
    early: HashMap<String, StatusReport>,
    /// Replies not yet sent or finally failed.
    outbox: BTreeSet<Position>,
    /// The change feed not yet pruned, in id order.
    changes: BTreeMap<ChangeId, Change>,
    /// Id of the newest change (0: none yet).
    last_change: ChangeId,
}

impl MemoryLog {
    /// Stores a customer's message; see [`crate::store::MessageLog::append_inbound`].
    pub fn append_inbound(&mut self, m: &InboundMessage) -> Appended {
        let existing = self.sids.get(&m.message_sid).map(|(_, seq)| *seq);
        let current = self.conversations.get(&m.from).cloned();
        let state = current.as_ref().map(ConversationRecord::state);
        let effect = match conversation::dedupe(existing, || inbound::apply(state, &m.body)) {
            Dedupe::Duplicate(seq) => {
                return Appended {
                    seq,
                    duplicate: true,
                }
            }
            Dedupe::New(effect) => effect,
        };
        let mut record = current.unwrap_or_else(|| ConversationRecord {
            to: m.to.clone(),
            country: m.country.clone(),
            ..Default::default()
        });
        record.set_state(effect.apply_to(state));
        self.conversations.insert(m.from.clone(), record);
        let position = (m.from.clone(), effect.seq);
        self.messages
            .insert(position.clone(), m.to_message(effect.seq));
        self.sids.insert(m.message_sid.clone(), position);
        self.push(Change::Message {
            c: m.from.clone(),
            s: effect.seq,
            d: Some(Direction::Inbound),
        });
        if effect.opt_change.is_some() {
            self.push(Change::OptOut { c: m.from.clone() });
        }
        Appended {
            seq: effect.seq,
            duplicate: false,
        }
    }

    /// Stores an agent's reply and queues it; see
    /// [`crate::store::MessageLog::append_reply`].
    pub fn append_reply(&mut self, r: &Reply) -> ReplyOutcome {
        let key = (r.agent.clone(), r.client_id.clone());
        let existing = self.replies.get(&key).map(|(_, seq)| *seq);
        let state = self
            .conversations
            .get(&r.conversation)
            .map(ConversationRecord::state);
        let seq = match conversation::dedupe(existing, || reply::apply(state, r.sends())) {
            Dedupe::Duplicate(seq) => {
                return ReplyOutcome::Accepted {
                    seq,
                    duplicate: true,
                }
            }
            Dedupe::New(Err(refusal)) => return refusal.into(),
            Dedupe::New(Ok(seq)) => seq,
        };
        if let Some(record) = self.conversations.get_mut(&r.conversation) {
            record.last_seq = seq;
        }
        let position = (r.conversation.clone(), seq);
        let message = r.to_message(seq);
        let direction = message.direction;
        self.messages.insert(position.clone(), message);
        self.replies.insert(key, position.clone());
        if r.sends() {
            self.outbox.insert(position);
        }
        self.push(Change::Message {
            c: r.conversation.clone(),
            s: seq,
            d: Some(direction),
        });
        ReplyOutcome::Accepted {
            seq,
            duplicate: false,
        }
    }

    /// Advances an outbound message's status; see
    /// [`crate::store::MessageLog::update_status`].
    pub fn update_status(&mut self, u: &StatusUpdate) -> Result<StatusOutcome> {
        let mut report = StatusReport {
            status: u.status,
            error: u.error.clone(),
        };
        let position = match &u.target {
            StatusTarget::Position(conversation, seq) => (conversation.clone(), *seq),
            StatusTarget::TwilioSid(sid) => match self.sids.get(sid) {
                Some(position) => position.clone(),
                None => {
                    let kept = self.early.get(sid).map(|e| e.status);
                    if status_rule::replaces_early(kept, report.status) {
                        self.early.insert(sid.clone(), report);
                    }
                    return Ok(StatusOutcome::Deferred);
                }
            },
        };
        if !self.messages.contains_key(&position) {
            return Err(StoreError::Corrupt(format!(
                "status for a message that does not exist ({} #{})",
                position.0, position.1
            )));
        }
        if let Some(sid) = &u.twilio_sid {
            self.sids.insert(sid.clone(), position.clone());
            report = status_rule::merge_early(report, self.early.remove(sid));
        }
        if u.outbox_done {
            self.outbox.remove(&position);
        }
        let Some(message) = self.messages.get_mut(&position) else {
            return Err(StoreError::Corrupt("message vanished".into()));
        };
        if !status_rule::advances(message.status, report.status) {
            return Ok(StatusOutcome::Stale);
        }
        message.status = Some(report.status);
        message.error = report.error;
        self.push(Change::Status {
            c: position.0,
            s: position.1,
        });
        Ok(StatusOutcome::Applied)
    }

    /// Sets a number's opt-out state; a change shows in the feed.
    pub fn set_opted_out(&mut self, conversation: &str, opted_out: bool) {
        let Some(record) = self.conversations.get_mut(conversation) else {
            return;
        };
        if record.opted_out != opted_out {
            record.opted_out = opted_out;
            self.push(Change::OptOut {
                c: conversation.to_string(),
            });
        }
    }

    pub fn message(&self, conversation: &str, seq: Seq) -> Option<Message> {
        self.messages.get(&(conversation.to_string(), seq)).cloned()
    }

    /// Messages with seq in `(after, upto]`, oldest first.
    pub fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Vec<Message> {
        if upto <= after {
            return Vec::new();
        }
        let range = (conversation.to_string(), after + 1)..=(conversation.to_string(), upto);
        self.messages.range(range).map(|(_, m)| m.clone()).collect()
    }

    pub fn conversation(&self, conversation: &str) -> Option<ConversationRecord> {
        self.conversations.get(conversation).cloned()
    }

    /// Every conversation's id.
    /// Every message, in `(conversation, seq)` order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    pub fn conversation_ids(&self) -> impl Iterator<Item = &ConversationId> {
        self.conversations.keys()
    }

    /// Queued replies, oldest (by `at_ms`) first.
    pub fn outbox(&self) -> Vec<Position> {
        let mut pending: Vec<(u64, Position)> = self
            .outbox
            .iter()
            .map(|p| (self.messages.get(p).map_or(0, |m| m.at_ms), p.clone()))
            .collect();
        pending.sort();
        pending.into_iter().map(|(_, p)| p).collect()
    }

    /// The message a Twilio SID is recorded for.
    pub fn sid_owner(&self, sid: &str) -> Option<Position> {
        self.sids.get(sid).cloned()
    }

    /// Up to `limit` changes after `after`, in id order.
    pub fn changes_after(&self, after: ChangeId, limit: usize) -> Vec<(ChangeId, Change)> {
        self.changes
            .range(after + 1..)
            .take(limit)
            .map(|(id, c)| (*id, c.clone()))
            .collect()
    }

    /// Id of the newest change (0: none yet).
    pub fn last_change(&self) -> ChangeId {
        self.last_change
    }

    /// Forgets changes at or before `upto` (the consumer is past them).
    pub fn prune_changes(&mut self, upto: ChangeId) {
        self.changes = self.changes.split_off(&(upto + 1));
    }

    fn push(&mut self, change: Change) {
        self.last_change += 1;
        self.changes.insert(self.last_change, change);
    }
}

#[cfg(test)]
#[path = "properties.rs"]
mod properties;
