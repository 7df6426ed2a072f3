//! Appending messages: claiming the next seq with a conditional put, and
//! the bookkeeping that follows it.
//!
//! A message item is put with `attribute_not_exists(seq)` at
//! `last_seq + 1`; whoever's put succeeds owns that seq, so two writers can
//! never take the same one. A put that fails means the seq is taken: the
//! writer reads that item — if it carries the same dedupe id (MessageSid or
//! reply client id) the message is already stored; otherwise the writer
//! *completes* it (see below) and tries the next seq. Seqs are therefore
//! claimed strictly in order with no gaps.
//!
//! Completing seq `s` writes its lookup entry, then advances the
//! conversation's `last_seq` from `s - 1` to `s` (with the opt-out change a
//! STOP/START message carries). That order gives the invariant dedupe rests
//! on: every message at or below `last_seq` can be found in `lookups`, and
//! every message above it is found by walking up from `last_seq`. A writer
//! reads `last_seq` first, then the lookup entry, then walks: whichever
//! point a concurrent duplicate reached, one of the three sees it. Anyone
//! may complete anyone's message, so a writer that dies half-way leaves
//! nothing that the next write or a retry does not finish; completion
//! failures are therefore logged, not returned — the message itself is
//! durable once its put succeeded.
//!
//! Only single-item conditional writes are used, no transactions: a
//! conditional put is atomic on DynamoDB, costs half a transaction, and
//! behaves the same on emulators — moto 5.2 runs `TransactWriteItems`
//! without isolation and undoes a cancelled one by restoring whole-table
//! snapshots, which loses concurrent writers' items.

use super::error::{self, condition_failed};
use super::items::{self, attr, n, s, Item, Slot};
use super::DynamoStore;
use crate::conversation::{inbound, reply, ConversationState};
use crate::store::{InboundMessage, Reply, Result, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use switchboard_protocol::{Message, Seq};

/// Seqs tried before giving up on a write (each try means another writer
/// took the seq first).
const MAX_TRIES: usize = 200;

/// What is being appended.
pub(super) enum Draft {
    Inbound(InboundMessage),
    Reply(Reply),
}

impl Draft {
    fn conversation(&self) -> &str {
        match self {
            Draft::Inbound(m) => &m.from,
            Draft::Reply(r) => &r.conversation,
        }
    }

    fn dedupe(&self) -> String {
        match self {
            Draft::Inbound(m) => items::sid_id(&m.message_sid),
            Draft::Reply(r) => items::reply_id(&r.agent, &r.client_id),
        }
    }

    fn message(&self, seq: Seq) -> Message {
        match self {
            Draft::Inbound(m) => m.to_message(seq),
            Draft::Reply(r) => r.to_message(seq),
        }
    }

    /// Whether the current opt-out state matters: replies are refused when
    /// opted out, and STOP/START only change something when it differs.
    fn needs_fresh_state(&self) -> bool {
        match self {
            Draft::Inbound(m) => inbound::needs_opt_out_state(&m.body),
            Draft::Reply(r) => r.sends(),
        }
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Appended {
    New(Seq),
    Duplicate(Seq),
    /// Refused by the reply rules on the conversation's newest state.
    Refused(reply::Refusal),
}

/// A conversation as its item says, before the walk above `last_seq`.
#[derive(Debug, Clone, Default)]
pub(super) struct Head {
    pub exists: bool,
    pub last_seq: Seq,
    pub opted_out: bool,
    pub to: Option<String>,
    pub country: Option<String>,
}

impl Head {
    /// What the conversation rules look at (`None`: no such conversation).
    pub fn state(&self) -> Option<ConversationState> {
        self.exists.then_some(ConversationState {
            last_seq: self.last_seq,
            opted_out: self.opted_out,
        })
    }

    /// Takes in the effect of message `slot` (the next one above it).
    pub fn advance(&mut self, slot: &Slot) {
        self.last_seq = slot.seq;
        if !self.exists {
            self.to = slot.to.clone();
            self.country = slot.country.clone();
        }
        self.exists = true;
        if let Some(opted_out) = slot.opt_change {
            self.opted_out = opted_out;
        }
    }
}

impl DynamoStore {
    pub(super) async fn append(&self, draft: Draft) -> Result<Appended> {
        let conversation = draft.conversation().to_string();
        // One writer per conversation inside this process: its own appends
        // never race each other for a seq.
        let _turn = self.lock(&conversation).await;
        let result = self.append_locked(&conversation, &draft).await;
        if result.is_err() {
            self.forget(&conversation);
        }
        result
    }

    async fn append_locked(&self, conversation: &str, draft: &Draft) -> Result<Appended> {
        let dedupe = draft.dedupe();
        let attempt = format!("{:032x}", rand::random::<u128>());
        // This process's own last seq saves a read as long as no other
        // instance writes to the conversation; a collision says one does,
        // and then what DynamoDB says counts.
        let cached = self
            .cached(conversation)
            .filter(|_| !draft.needs_fresh_state());
        if let Some(last_seq) = cached {
            let head = Head {
                exists: true,
                last_seq,
                ..Head::default()
            };
            let tried = self
                .try_append(conversation, draft, &dedupe, &attempt, head, 1)
                .await?;
            if let Some(outcome) = tried {
                return Ok(outcome);
            }
        }
        let head = self.read_head(conversation).await?;
        match self
            .try_append(conversation, draft, &dedupe, &attempt, head, MAX_TRIES)
            .await?
        {
            Some(outcome) => Ok(outcome),
            None => Err(StoreError::Storage(format!(
                "{conversation}: more than {MAX_TRIES} other writers came first; try again"
            ))),
        }
    }

    /// Checks for an earlier copy, then claims the first free seq above
    /// `head`, trying at most `tries` seqs (None when all were taken).
    /// `head.last_seq` must have been read before this runs: see the module
    /// docs for why the order makes dedupe race-free.
    async fn try_append(
        &self,
        conversation: &str,
        draft: &Draft,
        dedupe: &str,
        attempt: &str,
        mut head: Head,
        tries: usize,
    ) -> Result<Option<Appended>> {
        if let Some((_, seq)) = self.lookup(dedupe).await? {
            return Ok(Some(Appended::Duplicate(seq)));
        }
        for _ in 0..tries {
            let seq = head.last_seq + 1;
            let refusal = match draft {
                Draft::Reply(r) => reply::refusal(head.state(), r.sends()),
                Draft::Inbound(_) => None,
            };
            if let Some(refusal) = refusal {
                // Refuse only on what is really the newest state.
                match self.slot(conversation, seq).await? {
                    Some(other) => {
                        if let Some(found) = self.taken(&other, dedupe, attempt).await {
                            return Ok(Some(found));
                        }
                        head.advance(&other);
                        continue;
                    }
                    None => return Ok(Some(Appended::Refused(refusal))),
                }
            }
            let slot = self.new_slot(draft, seq, dedupe, attempt, &head);
            // Notes and timeline events are never sent: no outbox entry.
            let outbox = matches!(draft, Draft::Reply(r) if r.sends());
            if self.put_slot(&draft.message(seq), &slot, outbox).await? {
                self.complete(&slot).await;
                return Ok(Some(Appended::New(seq)));
            }
            let Some(other) = self.slot(conversation, seq).await? else {
                return Err(StoreError::Storage(format!(
                    "seq {seq} of {conversation} is taken but cannot be read"
                )));
            };
            tracing::debug!(conversation, seq, "seq taken by another writer");
            if let Some(found) = self.taken(&other, dedupe, attempt).await {
                return Ok(Some(found));
            }
            head.advance(&other);
        }
        Ok(None)
    }

    /// Looks at a message that holds the seq we wanted. Ours (a retried put
    /// that had succeeded) or the same message stored earlier ends the
    /// append; anyone else's is completed so we can move past it.
    async fn taken(&self, other: &Slot, dedupe: &str, attempt: &str) -> Option<Appended> {
        self.complete(other).await;
        if other.dedupe != dedupe {
            return None;
        }
        Some(if other.attempt == attempt {
            Appended::New(other.seq)
        } else {
            Appended::Duplicate(other.seq)
        })
    }

    fn new_slot(&self, draft: &Draft, seq: Seq, dedupe: &str, attempt: &str, head: &Head) -> Slot {
        let (opt_change, to, country) = match draft {
            Draft::Inbound(m) => (
                inbound::opt_change(head.opted_out, &m.body),
                Some(m.to.clone()),
                m.country.clone(),
            ),
            Draft::Reply(_) => (None, None, None),
        };
        Slot {
            conversation: draft.conversation().to_string(),
            seq,
            dedupe: dedupe.to_string(),
            attempt: attempt.to_string(),
            opt_change,
            to,
            country,
        }
    }

    /// Puts a message item if its seq is free; false when it is taken.
    async fn put_slot(&self, message: &Message, slot: &Slot, outbox: bool) -> Result<bool> {
        let item = items::message_item(message, slot, outbox)?;
        let table = &self.tables.messages;
        match self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", attr::SEQ)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(error::dynamo("PutItem", table, &e)),
        }
    }

    /// The message item at `seq`, as far as appending cares.
    pub(super) async fn slot(&self, conversation: &str, seq: Seq) -> Result<Option<Slot>> {
        match self.message_item(conversation, seq).await? {
            Some(item) => Slot::from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn message_item(&self, conversation: &str, seq: Seq) -> Result<Option<Item>> {
        let table = &self.tables.messages;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .key(attr::SEQ, n(seq))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        Ok(out.item)
    }

    /// The conversation item, without the messages above its `last_seq`.
    pub(super) async fn read_head(&self, conversation: &str) -> Result<Head> {
        let table = &self.tables.conversations;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        Ok(match out.item {
            Some(item) => Head {
                exists: true,
                last_seq: items::get_n(&item, attr::LAST_SEQ).unwrap_or(0),
                opted_out: items::get_bool(&item, attr::OPTED_OUT).unwrap_or(false),
                to: items::get_s(&item, attr::TO).map(str::to_string),
                country: items::get_s(&item, attr::COUNTRY).map(str::to_string),
            },
            None => Head::default(),
        })
    }

    /// The conversation as it really stands: its item plus whatever
    /// messages above `last_seq` are not completed yet.
    pub(super) async fn current_head(&self, conversation: &str) -> Result<Head> {
        let mut head = self.read_head(conversation).await?;
        while let Some(slot) = self.slot(conversation, head.last_seq + 1).await? {
            head.advance(&slot);
        }
        Ok(head)
    }

    /// `(conversation, seq)` a lookup id points at.
    pub(super) async fn lookup(&self, id: &str) -> Result<Option<(String, Seq)>> {
        let table = &self.tables.lookups;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::ID, s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        Ok(out.item.and_then(|item| {
            let conversation = items::get_s(&item, attr::CONVERSATION)?.to_string();
            let seq = items::get_n(&item, attr::SEQ)?;
            Some((conversation, seq))
        }))
    }

    pub(super) async fn put_lookup(&self, id: &str, conversation: &str, seq: Seq) -> Result<()> {
        let table = &self.tables.lookups;
        self.client
            .put_item()
            .table_name(table)
            .item(attr::ID, s(id))
            .item(attr::CONVERSATION, s(conversation))
            .item(attr::SEQ, n(seq))
            .send()
            .await
            .map_err(|e| error::dynamo("PutItem", table, &e))?;
        Ok(())
    }

    /// Finishes a message's bookkeeping (idempotent; see module docs). A
    /// failure is only logged: whoever comes next finishes it.
    async fn complete(&self, slot: &Slot) {
        match self.try_complete(slot).await {
            Ok(()) => self.remember(&slot.conversation, slot.seq),
            Err(e) => {
                self.forget(&slot.conversation);
                tracing::warn!(conversation = slot.conversation, seq = slot.seq, error = %e,
                    "message stored; its index entry will be completed by the next write");
            }
        }
    }

    async fn try_complete(&self, slot: &Slot) -> Result<()> {
        self.put_lookup(&slot.dedupe, &slot.conversation, slot.seq)
            .await?;
        let table = &self.tables.conversations;
        let mut update = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(&slot.conversation))
            .expression_attribute_names("#last", attr::LAST_SEQ)
            .expression_attribute_values(":seq", n(slot.seq));
        let mut sets = vec!["#last = :seq".to_string()];
        if slot.seq == 1 {
            // The first message creates the conversation.
            update = update
                .condition_expression("attribute_not_exists(#last)")
                .expression_attribute_names("#opted", attr::OPTED_OUT)
                .expression_attribute_values(
                    ":opted",
                    AttributeValue::Bool(slot.opt_change.unwrap_or(false)),
                );
            sets.push("#opted = :opted".into());
            if let Some(to) = &slot.to {
                update = update
                    .expression_attribute_names("#to", attr::TO)
                    .expression_attribute_values(":to", s(to));
                sets.push("#to = :to".into());
            }
            if let Some(country) = &slot.country {
                update = update
                    .expression_attribute_names("#country", attr::COUNTRY)
                    .expression_attribute_values(":country", s(country));
                sets.push("#country = :country".into());
            }
        } else {
            update = update
                .condition_expression("#last = :prev")
                .expression_attribute_values(":prev", n(slot.seq - 1));
            if let Some(opted_out) = slot.opt_change {
                update = update
                    .expression_attribute_names("#opted", attr::OPTED_OUT)
                    .expression_attribute_values(":opted", AttributeValue::Bool(opted_out));
                sets.push("#opted = :opted".into());
            }
        }
        match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Either someone completed it (or a later one) already, or an
            // earlier message is still incomplete (its writer failed half-way).
            // Only the first is done; the second must not be cached as the
            // head, or that earlier message's dedupe entry would be skipped.
            Err(e) if condition_failed(&e) => {
                let head = self.read_head(&slot.conversation).await?;
                if head.last_seq >= slot.seq {
                    Ok(())
                } else {
                    Err(StoreError::Storage(format!(
                        "conversation {} is at seq {} below {}: an earlier message is incomplete",
                        slot.conversation, head.last_seq, slot.seq
                    )))
                }
            }
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }
}
